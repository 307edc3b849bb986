/*
 * cmd_export: `loadscope export SESSION --what WHAT [--format csv|json|jsonl]`,
 * the command line of app/export.h: parses the arguments, resolves the
 * database and "latest", installs SIGINT/SIGTERM handlers that ask the
 * export to stop, and turns the library's outcome into messages and an exit
 * code. What is written, and how, is the library's (app/export*.c).
 *
 * With -o FILE the export goes to FILE.tmp and is renamed over FILE only
 * once complete; a failed or interrupted export leaves FILE as it was.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "export.h"
#include "store.h"
#include "store_read.h"

#define EXPORT_USAGE                                                                               \
    "usage: loadscope export SESSION|latest --what "                                             \
    "samples|intervals|summary|hotpaths|folded|findings|downstream|downstream-seconds "            \
    "[--format csv|json|jsonl|markdown (findings)] [-o FILE] [--db FILE]"

/* Set by SIGINT/SIGTERM: the export stops after the row it is writing. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Parses "latest" or a positive decimal id; 0 when it is neither. */
static int parse_session(const char *s, bool *latest, int64_t *id)
{
    char *end = NULL;
    long long v;

    *latest = strcmp(s, "latest") == 0;
    if (*latest)
        return 1;
    if (s[0] < '0' || s[0] > '9')
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0)
        return 0;
    *id = v;
    return 1;
}

/* The exit code for an export's outcome. */
static int exit_code(ls_err e)
{
    switch (e) {
    case LS_OK: return LS_EXIT_OK;
    case LS_ERR_INVALID:
    case LS_ERR_NOTFOUND: return LS_EXIT_USAGE; /* a bad choice, or nothing of that kind */
    case LS_ERR_INTERRUPTED: return LS_EXIT_INTERRUPTED;
    default: return LS_EXIT_RUNTIME;
    }
}

/* Runs the export to out (NULL or "-": standard output) and reports it on stderr. */
static int export_and_report(struct store *st, const char *dbpath, int64_t id,
                             struct export_opts *o, const char *out)
{
    struct export_result res;
    char err[1024];
    bool to_file = out != NULL && strcmp(out, "-") != 0;
    ls_err e;

    o->out_name = to_file ? out : "standard output";
    if (to_file)
        e = export_session_file(st, id, o, out, &res, err, sizeof(err));
    else
        e = export_session(st, id, o, stdout, &res, err, sizeof(err));
    if (e == LS_ERR_INTERRUPTED) {
        fprintf(stderr, "loadscope export: interrupted; %s\n",
                to_file ? "nothing written" : "the output is incomplete");
    } else if (e == LS_ERR_NOTFOUND && strncmp(err, "no session ", 11) == 0) {
        fprintf(stderr, "loadscope export: no session %lld in %s (see `loadscope sessions`)\n",
                (long long)id, dbpath);
    } else if (e != LS_OK) {
        fprintf(stderr, "loadscope export: %s\n", err);
    } else {
        if (res.note[0] != '\0')
            fprintf(stderr, "loadscope export: %s\n", res.note);
        if (to_file && !res.tabular)
            fprintf(stderr, "loadscope export: %llu folded stacks written to %s\n",
                    (unsigned long long)res.rows, out);
        else if (to_file && (o->format == NULL || strcmp(o->format, "csv") == 0))
            fprintf(stderr, "loadscope export: %llu rows (and a header) written to %s\n",
                    (unsigned long long)res.rows, out);
        else if (to_file)
            fprintf(stderr, "loadscope export: %llu rows written to %s\n",
                    (unsigned long long)res.rows, out);
    }
    return exit_code(e);
}

int cli_export(int argc, char **argv)
{
    const char *db = NULL, *out = NULL, *sess = NULL;
    struct export_opts o = {.stop = &stop_requested};
    struct store *st = NULL;
    struct sigaction sa, old_int, old_term;
    char path[4096], err[1024];
    bool latest = false;
    int64_t id = 0;
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;

        if (strcmp(a, "--db") == 0 && has_val) {
            db = argv[++i];
        } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && has_val) {
            out = argv[++i];
        } else if (strcmp(a, "--what") == 0 && has_val) {
            o.what = argv[++i];
        } else if (strcmp(a, "--format") == 0 && has_val) {
            o.format = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0' && !(a[1] >= '0' && a[1] <= '9')) {
            fprintf(stderr,
                    "loadscope export: unknown option or missing value: %s\n" EXPORT_USAGE "\n", a);
            return LS_EXIT_USAGE;
        } else if (sess == NULL) {
            sess = a;
        } else {
            fprintf(stderr, "loadscope export: unexpected argument %s\n" EXPORT_USAGE "\n", a);
            return LS_EXIT_USAGE;
        }
    }
    if (sess == NULL || o.what == NULL) {
        fprintf(stderr, "loadscope export: %s\n" EXPORT_USAGE "\n",
                sess == NULL ? "which session? give an id or \"latest\"" : "--what is required");
        return LS_EXIT_USAGE;
    }
    if (export_check(&o, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "loadscope export: %s\n", err);
        return LS_EXIT_USAGE;
    }
    if (!parse_session(sess, &latest, &id)) {
        fprintf(stderr,
                "loadscope export: bad session \"%s\": expected a session id (a positive "
                "number, see `loadscope sessions`) or \"latest\"\n",
                sess);
        return LS_EXIT_USAGE;
    }
    if (cli_db_path(db, path, sizeof(path)))
        return LS_EXIT_RUNTIME;
    /* Read-only: a missing file is said to be missing, not created; nothing is changed. */
    if (store_open_readonly(path, &st, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "loadscope export: %s\n", err);
        return LS_EXIT_RUNTIME;
    }
    if (latest && store_session_latest(st, &id) != LS_OK) {
        fprintf(stderr, "loadscope export: %s: %s\n", path, store_errmsg(st));
        rc = LS_EXIT_RUNTIME;
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = export_and_report(st, path, id, &o, out);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
out:
    store_close(st);
    return rc;
}
