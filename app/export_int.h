/*
 * export_int: the two tables behind export.h, shared by the export files only.
 *
 * A what (samples, intervals, ...) is one row: its name, its columns and a
 * row producer that streams rows out of storage, handing each cell to
 * ex_cell() in column order. A format (csv, json, jsonl) is one row: its
 * name and a writer (open, cell, end_row, finish). Neither knows the other:
 * a new format is a row in export_formats[] plus its own file
 * (export_csv.c, export_json.c), a new what a row in export_whats[] plus its
 * producer (export_load.c, export_alloc.c).
 */
#ifndef LS_EXPORT_INT_H
#define LS_EXPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "export.h"
#include "store_alloc_read.h"
#include "store_read.h"

/* ---- cells ---- */

enum export_kind {
    EXV_NULL,  /* no value: an empty CSV cell, JSON null */
    EXV_TEXT,  /* UTF-8 text (NULL: as EXV_NULL) */
    EXV_LINES, /* text of '\n'-separated lines: one CSV cell, a JSON array of strings */
    EXV_I64,
    EXV_U64,
    EXV_FIXED, /* i / 10^decimals, written with exactly that many decimals */
    EXV_F64,   /* shortest decimal that reads back; NaN and infinities as EXV_NULL */
    EXV_BOOL,  /* CSV 0/1, JSON false/true */
};

struct export_val {
    enum export_kind kind;
    unsigned decimals; /* EXV_FIXED */
    union {
        const char *s;
        int64_t i;
        uint64_t u;
        double d;
        bool b;
    } v;
};

/* ---- formats ---- */

/* What a writer is told when it opens: the document's what, session and columns. */
struct export_doc {
    const char *what;
    const struct store_session *session;
    const char *const *cols; /* column names, in the order cells come */
    size_t ncols;
};

struct export_writer; /* a format's own state */

struct export_format {
    const char *name;
    const char *doc; /* a few words for messages */
    /* Starts writing to f (borrowed): CSV's header, JSON's document head. */
    ls_err (*open)(FILE *f, const struct export_doc *d, struct export_writer **out);
    /* One cell of the current row; col is its column's name. Errors stick until end_row. */
    void (*cell)(struct export_writer *w, const char *col, const struct export_val *v);
    /* Ends the row; returns the first write error met so far. */
    ls_err (*end_row)(struct export_writer *w);
    /* Ends the document and flushes f; returns the first write error. */
    ls_err (*finish)(struct export_writer *w);
    /* errno of the first failed write (0: none known). */
    int (*write_errno)(const struct export_writer *w);
    void (*free)(struct export_writer *w);
};

extern const struct export_format export_format_csv;
extern const struct export_format export_format_json;
extern const struct export_format export_format_jsonl;

/* ---- the export in progress ---- */

struct export_step_name {
    int idx;
    char *name;
};

struct export_ctx {
    struct store *st;
    int64_t session;
    const struct export_what *what;
    const struct export_format *fmt; /* NULL for a what that writes its own text */
    struct export_writer *w;
    FILE *out;                       /* for whats that write their own text (folded) */
    const volatile sig_atomic_t *stop;
    const char **cols;               /* owned array; names static or in col_text */
    char *col_text;                  /* owned: names built at run time (errors_<class>) */
    size_t ncols, col;               /* columns; the next cell's column */
    struct export_step_name *steps;  /* owned; sorted by idx */
    size_t nsteps, capsteps;
    struct store_session session_row;
    struct store_alloc_info ai;
    uint64_t rows;                   /* rows (or lines) ended */
    uint64_t rank;                   /* hotpaths: the row's rank */
    ls_err err;                      /* first failure met inside a row callback */
    int errnum;                      /* errno of a failed write by a what writing its own text */
    char *msg;                       /* the caller's message buffer */
    size_t msgcap;
};

/* The step's name; "ALL" for -1; NULL (a null cell) for an index with no step row. */
const char *ex_step_name(const struct export_ctx *x, int idx);

/* Cells, in column order. */
void ex_cell(struct export_ctx *x, const struct export_val *v);
void ex_null(struct export_ctx *x);
void ex_text(struct export_ctx *x, const char *s);
void ex_lines(struct export_ctx *x, const char *s);
void ex_i64(struct export_ctx *x, int64_t v);
void ex_u64(struct export_ctx *x, uint64_t v);
void ex_fixed(struct export_ctx *x, int64_t v, unsigned decimals);
void ex_f64(struct export_ctx *x, double v);
void ex_bool(struct export_ctx *x, bool v);
/* num / den as a double; null when den is 0. */
void ex_ratio(struct export_ctx *x, uint64_t num, uint64_t den);
/*
 * Ends the row. Returns non-zero (stop the reader) on a write error, a
 * stop request or a row whose cells did not match the columns; x->err says
 * which.
 */
int ex_end_row(struct export_ctx *x);
/* For row producers that write their own lines: counts one and checks for a stop. */
int ex_line_done(struct export_ctx *x);

/* ---- whats ---- */

struct export_what {
    const char *name;
    const char *doc;
    bool traced;  /* needs a session traced with stacks (hotpaths, folded) */
    bool tabular; /* rows of columns, in any format; false: writes its own text to x->out */
    const char *const *cols; /* static columns (NULL: columns() builds them) */
    size_t ncols;
    /* Builds x->cols/x->ncols when cols is NULL. */
    ls_err (*columns)(struct export_ctx *x);
    /* Streams the rows; a store error is returned, a row callback's failure kept in x->err. */
    ls_err (*rows)(struct export_ctx *x);
    /* After a complete export: a note for the user (res->note), or nothing. */
    void (*note)(const struct export_ctx *x, char *buf, size_t cap);
    /* A format of its own besides the table's ("markdown": findings' hand-off report), or NULL. */
    const char *text_format;
    /* Writes the what in text_format to x->out (x->fmt is NULL then). */
    ls_err (*text)(struct export_ctx *x);
};

/* The rows, each defined beside its producer. */
extern const struct export_what export_what_samples;
extern const struct export_what export_what_intervals;
extern const struct export_what export_what_summary;
extern const struct export_what export_what_hotpaths;
extern const struct export_what export_what_folded;
extern const struct export_what export_what_findings;
extern const struct export_what export_what_downstream;
extern const struct export_what export_what_downstream_seconds;

#endif
