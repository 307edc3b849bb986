/*
 * export: the driver behind export.h and the two tables it reads.
 *
 * An export looks things up before it writes anything (the what and format
 * rows, the session, its step names, for traced whats that there are stacks),
 * so a refusal leaves no output behind; then the format's writer opens, the
 * what's producer streams rows into it cell by cell, and the writer
 * finishes. Only step names (a scenario's worth) and the session row are
 * held; rows go from SQLite's cursor to the output.
 */
#include "export.h"
#include "util/safefile.h"
#include "export_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

/* What can be exported: one row each, in the order usage and messages name them. */
static const struct export_what *const export_whats[] = {
    &export_what_samples, &export_what_intervals, &export_what_summary,
    &export_what_hotpaths, &export_what_folded, &export_what_findings,
    &export_what_downstream, &export_what_downstream_seconds,
};
#define N_WHATS (sizeof(export_whats) / sizeof(export_whats[0]))

/* How: one row each; the first is the default. */
static const struct export_format *const export_formats[] = {
    &export_format_csv,
    &export_format_json,
    &export_format_jsonl,
};
#define N_FORMATS (sizeof(export_formats) / sizeof(export_formats[0]))

static void msg(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void msg(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;

    if (buf == NULL || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

const char *export_what_name(size_t i)
{
    return i < N_WHATS ? export_whats[i]->name : NULL;
}

const char *export_format_name(size_t i)
{
    return i < N_FORMATS ? export_formats[i]->name : NULL;
}

/* Appends the names of the whats with traced == traced: "a, b or c" (last: " or "). */
static void list_whats(char *buf, size_t cap, bool traced, const char *last)
{
    size_t n = 0, k = 0, len;

    for (size_t i = 0; i < N_WHATS; i++)
        n += export_whats[i]->traced == traced;
    for (size_t i = 0; i < N_WHATS; i++) {
        if (export_whats[i]->traced != traced)
            continue;
        len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s", k == 0 ? "" : k + 1 == n ? last : ", ",
                 export_whats[i]->name);
        k++;
    }
}

static void list_formats(char *buf, size_t cap)
{
    for (size_t i = 0; i < N_FORMATS; i++) {
        size_t len = strlen(buf);

        snprintf(buf + len, cap - len, "%s%s", i == 0 ? "" : i + 1 == N_FORMATS ? " or " : ", ",
                 export_formats[i]->name);
    }
}

/* Looks up opts' rows; LS_ERR_INVALID with a message listing the choices. */
static ls_err lookup(const struct export_opts *opts, const struct export_what **what,
                     const struct export_format **fmt, char *err, size_t errcap)
{
    char names[256] = "";

    *what = NULL;
    *fmt = NULL;
    if (opts == NULL || opts->what == NULL) {
        msg(err, errcap, "what to export? (--what)");
        return LS_ERR_INVALID;
    }
    for (size_t i = 0; i < N_WHATS && *what == NULL; i++)
        if (strcmp(export_whats[i]->name, opts->what) == 0)
            *what = export_whats[i];
    if (*what == NULL) {
        char traced[128] = "";

        list_whats(names, sizeof(names), false, " or ");
        list_whats(traced, sizeof(traced), true, " and ");
        msg(err, errcap, "--what %s: expected %s (a traced session also has %s)", opts->what,
            names, traced);
        return LS_ERR_INVALID;
    }
    if (!(*what)->tabular) {
        if (opts->format != NULL) {
            msg(err, errcap,
                "--what %s writes its own text (%s) and takes no --format", (*what)->name,
                (*what)->doc);
            return LS_ERR_INVALID;
        }
        return LS_OK;
    }
    if (opts->format == NULL) {
        *fmt = export_formats[0];
        return LS_OK;
    }
    if ((*what)->text_format != NULL && strcmp(opts->format, (*what)->text_format) == 0)
        return LS_OK; /* the what writes its own text (*fmt stays NULL) */
    for (size_t i = 0; i < N_WHATS; i++)
        if (export_whats[i]->text_format != NULL &&
            strcmp(opts->format, export_whats[i]->text_format) == 0) {
            msg(err, errcap, "--format %s is for --what %s only", opts->format,
                export_whats[i]->name);
            return LS_ERR_INVALID;
        }
    for (size_t i = 0; i < N_FORMATS && *fmt == NULL; i++)
        if (strcmp(export_formats[i]->name, opts->format) == 0)
            *fmt = export_formats[i];
    if (*fmt == NULL) {
        list_formats(names, sizeof(names));
        msg(err, errcap, "--format %s: expected %s", opts->format, names);
        return LS_ERR_INVALID;
    }
    return LS_OK;
}

ls_err export_check(const struct export_opts *opts, char *err, size_t errcap)
{
    const struct export_what *w;
    const struct export_format *f;

    return lookup(opts, &w, &f, err, errcap);
}

/* ---- step names ---- */

static int add_step(void *ctx, const struct store_step *s)
{
    struct export_ctx *x = ctx;

    if (x->nsteps == x->capsteps) {
        size_t cap = x->capsteps ? x->capsteps * 2 : 16;
        struct export_step_name *n = realloc(x->steps, cap * sizeof(*n));

        if (n == NULL) {
            x->err = LS_ERR_NOMEM;
            return 1;
        }
        x->steps = n;
        x->capsteps = cap;
    }
    x->steps[x->nsteps].idx = s->idx;
    x->steps[x->nsteps].name = strdup(s->name);
    if (x->steps[x->nsteps].name == NULL) {
        x->err = LS_ERR_NOMEM;
        return 1;
    }
    x->nsteps++;
    return 0;
}

const char *ex_step_name(const struct export_ctx *x, int idx)
{
    size_t lo = 0, hi = x->nsteps;

    if (idx == -1)
        return "ALL";
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (x->steps[mid].idx == idx)
            return x->steps[mid].name;
        if (x->steps[mid].idx < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- cells ---- */

void ex_cell(struct export_ctx *x, const struct export_val *v)
{
    /* a producer with more cells than columns is caught at the row's end */
    if (x->col < x->ncols)
        x->fmt->cell(x->w, x->cols[x->col], v);
    x->col++;
}

void ex_null(struct export_ctx *x)
{
    struct export_val v = {.kind = EXV_NULL};

    ex_cell(x, &v);
}

void ex_text(struct export_ctx *x, const char *s)
{
    struct export_val v = {.kind = s != NULL ? EXV_TEXT : EXV_NULL, .v.s = s};

    ex_cell(x, &v);
}

void ex_lines(struct export_ctx *x, const char *s)
{
    struct export_val v = {.kind = s != NULL ? EXV_LINES : EXV_NULL, .v.s = s};

    ex_cell(x, &v);
}

void ex_i64(struct export_ctx *x, int64_t i)
{
    struct export_val v = {.kind = EXV_I64, .v.i = i};

    ex_cell(x, &v);
}

void ex_u64(struct export_ctx *x, uint64_t u)
{
    struct export_val v = {.kind = EXV_U64, .v.u = u};

    ex_cell(x, &v);
}

void ex_fixed(struct export_ctx *x, int64_t i, unsigned decimals)
{
    struct export_val v = {.kind = EXV_FIXED, .decimals = decimals, .v.i = i};

    ex_cell(x, &v);
}

void ex_f64(struct export_ctx *x, double d)
{
    struct export_val v = {.kind = EXV_F64, .v.d = d};

    ex_cell(x, &v);
}

void ex_bool(struct export_ctx *x, bool b)
{
    struct export_val v = {.kind = EXV_BOOL, .v.b = b};

    ex_cell(x, &v);
}

void ex_ratio(struct export_ctx *x, uint64_t num, uint64_t den)
{
    if (den == 0)
        ex_null(x);
    else
        ex_f64(x, (double)num / (double)den);
}

static int stopped(struct export_ctx *x)
{
    if (x->stop != NULL && *x->stop) {
        x->err = LS_ERR_INTERRUPTED;
        return 1;
    }
    return 0;
}

int ex_end_row(struct export_ctx *x)
{
    ls_err e;

    if (x->col != x->ncols) {
        msg(x->msg, x->msgcap, "export %s: a row of %zu cells for %zu columns", x->what->name,
            x->col, x->ncols);
        x->err = LS_ERR_INTERNAL;
        return 1;
    }
    x->col = 0;
    e = x->fmt->end_row(x->w);
    if (e != LS_OK) {
        x->err = e;
        return 1;
    }
    x->rows++;
    return stopped(x);
}

int ex_line_done(struct export_ctx *x)
{
    x->rows++;
    return stopped(x);
}

/* ---- the export ---- */

static void ctx_free(struct export_ctx *x)
{
    if (x->fmt != NULL && x->w != NULL)
        x->fmt->free(x->w);
    x->w = NULL;
    for (size_t i = 0; i < x->nsteps; i++)
        free(x->steps[i].name);
    free(x->steps);
    free(x->cols);
    free(x->col_text);
    store_session_clear(&x->session_row);
}

/* An error of the store, with its message. */
static ls_err store_fail(struct export_ctx *x, ls_err e, const char *doing)
{
    if (e == LS_ERR_NOTFOUND)
        msg(x->msg, x->msgcap, "no session %lld in this database", (long long)x->session);
    else
        msg(x->msg, x->msgcap, "%s of session %lld: %s", doing, (long long)x->session,
            e == LS_ERR_NOMEM ? "out of memory" : store_errmsg(x->st));
    return e;
}

/* Everything that can refuse, before a byte is written. */
static ls_err prepare(struct export_ctx *x, struct store *st, int64_t session,
                      const struct export_opts *opts, char *err, size_t errcap)
{
    const struct export_format *fmt = NULL;
    ls_err e;

    memset(x, 0, sizeof(*x));
    x->st = st;
    x->session = session;
    x->msg = err;
    x->msgcap = errcap;
    x->stop = opts != NULL ? opts->stop : NULL;
    e = lookup(opts, &x->what, &fmt, err, errcap);
    if (e != LS_OK)
        return e;
    if (st == NULL) {
        msg(err, errcap, "no database");
        return LS_ERR_INVALID;
    }
    e = store_steps_each(st, session, add_step, x);
    if (e == LS_OK && x->err != LS_OK)
        e = x->err;
    if (e != LS_OK)
        return store_fail(x, e, "reading the steps");
    e = store_session_get(st, session, &x->session_row);
    if (e != LS_OK)
        return store_fail(x, e, "reading");
    if (x->what->traced) {
        e = store_alloc_info(st, session, &x->ai);
        if (e != LS_OK)
            return store_fail(x, e, "reading the allocation profile");
        if (x->ai.stacks == 0) {
            msg(err, errcap,
                "session %lld has no allocation stacks to export (%s); trace one with "
                "`loadscope run --trace-allocations` or `loadscope trace`",
                (long long)session,
                x->ai.processes == 0                ? "it was not traced"
                : strcmp(x->ai.mode, "count") == 0 ? "it was traced in count mode, which keeps no stacks"
                                                    : "the tracer recorded none");
            return LS_ERR_NOTFOUND;
        }
    }
    if (x->what->tabular) {
        if (x->what->cols != NULL) {
            x->cols = malloc(x->what->ncols * sizeof(*x->cols));
            if (x->cols == NULL) {
                msg(err, errcap, "out of memory");
                return LS_ERR_NOMEM;
            }
            memcpy(x->cols, x->what->cols, x->what->ncols * sizeof(*x->cols));
            x->ncols = x->what->ncols;
        } else {
            e = x->what->columns(x);
            if (e != LS_OK) {
                msg(err, errcap, "out of memory");
                return e;
            }
        }
    }
    x->fmt = fmt;
    return LS_OK;
}

/* The write error's message: out_name and errno's text. */
static ls_err write_fail(const struct export_ctx *x, const char *out_name, int en)
{
    msg(x->msg, x->msgcap, "writing %s: %s", out_name, strerror(en != 0 ? en : EIO));
    return LS_ERR_IO;
}

/* Writes a prepared export to out. */
static ls_err run(struct export_ctx *x, FILE *out, const char *out_name, struct export_result *res)
{
    struct export_doc doc = {
        .what = x->what->name,
        .session = &x->session_row,
        .cols = x->cols,
        .ncols = x->ncols,
    };
    ls_err e;

    x->out = out;
    if (x->fmt != NULL) {
        e = x->fmt->open(out, &doc, &x->w);
        if (e == LS_ERR_NOMEM) {
            msg(x->msg, x->msgcap, "out of memory");
            return e;
        }
        if (e != LS_OK)
            return write_fail(x, out_name, x->w != NULL ? x->fmt->write_errno(x->w) : errno);
    }
    e = x->fmt == NULL && x->what->text != NULL ? x->what->text(x) : x->what->rows(x);
    res->rows = x->rows;
    /* a stop first: it may also have broken a blocked write (EINTR) */
    if (x->err == LS_ERR_INTERRUPTED || (x->stop != NULL && *x->stop)) {
        msg(x->msg, x->msgcap, "interrupted");
        return LS_ERR_INTERRUPTED;
    }
    if (x->err == LS_ERR_IO)
        return write_fail(x, out_name, x->fmt != NULL ? x->fmt->write_errno(x->w) : x->errnum);
    if (x->err == LS_ERR_INTERNAL)
        return x->err; /* message set where it was found */
    if (x->err != LS_OK) {
        msg(x->msg, x->msgcap, "%s", ls_strerror(x->err));
        return x->err;
    }
    if (e != LS_OK)
        return store_fail(x, e, "reading");
    if (x->fmt != NULL) {
        e = x->fmt->finish(x->w);
        if (e != LS_OK)
            return write_fail(x, out_name, x->fmt->write_errno(x->w));
    } else if (fflush(out) != 0 || ferror(out)) {
        return write_fail(x, out_name, errno);
    }
    if (x->what->note != NULL)
        x->what->note(x, res->note, sizeof(res->note));
    return LS_OK;
}

static void result_init(struct export_result *res, const struct export_ctx *x)
{
    memset(res, 0, sizeof(*res));
    res->tabular = x->what != NULL && x->what->tabular;
}

ls_err export_session(struct store *st, int64_t session, const struct export_opts *opts,
                      FILE *out, struct export_result *res, char *err, size_t errcap)
{
    struct export_ctx x;
    struct export_result local;
    ls_err e;

    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    e = prepare(&x, st, session, opts, err, errcap);
    result_init(res, &x);
    if (e == LS_OK && out == NULL) {
        msg(err, errcap, "no output");
        e = LS_ERR_INVALID;
    }
    if (e == LS_OK)
        e = run(&x, out, opts->out_name != NULL ? opts->out_name : "the output", res);
    ctx_free(&x);
    return e;
}

ls_err export_session_file(struct store *st, int64_t session, const struct export_opts *opts,
                           const char *path, struct export_result *res, char *err, size_t errcap)
{
    struct export_ctx x;
    struct export_result local;
    ls_err e;

    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    e = prepare(&x, st, session, opts, err, errcap);
    result_init(res, &x);
    if (e != LS_OK)
        goto out;
    if (path == NULL || path[0] == '\0') {
        msg(err, errcap, "no output file");
        e = LS_ERR_INVALID;
        goto out;
    }
    /* A new temporary file beside path (never a name planted there), renamed over path once complete. */
    struct safefile sf;
    char why[512];
    if (safefile_open(path, &sf, why, sizeof(why)) != LS_OK) {
        msg(err, errcap, "cannot write %s (%s)", path, why);
        e = LS_ERR_IO;
        goto out;
    }
    e = run(&x, sf.f, path, res);
    if (e != LS_OK) {
        safefile_abort(&sf);
        goto out;
    }
    if (safefile_commit(&sf, why, sizeof(why)) != LS_OK) {
        msg(err, errcap, "cannot write %s (%s)", path, why);
        e = LS_ERR_IO;
    }
out:
    ctx_free(&x);
    return e;
}
