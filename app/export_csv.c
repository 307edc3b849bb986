/*
 * export_csv: the csv format row. RFC 4180 through core/util/csv.h: CRLF row
 * ends, quoting, '.' decimals in any locale, formula-looking text
 * neutralized. A header row of the column names comes first.
 */
#include "export_int.h"

#include <stdlib.h>

#include "util/csv.h"

struct export_writer {
    struct csv *csv;
};

static ls_err csv_w_open(FILE *f, const struct export_doc *d, struct export_writer **out)
{
    struct export_writer *w = calloc(1, sizeof(*w));
    ls_err e;

    *out = NULL;
    if (w == NULL)
        return LS_ERR_NOMEM;
    e = csv_open(f, &w->csv);
    if (e != LS_OK) {
        free(w);
        return e;
    }
    *out = w;
    return csv_header(w->csv, d->cols, d->ncols);
}

static void csv_w_cell(struct export_writer *w, const char *col, const struct export_val *v)
{
    struct csv *c = w->csv;

    (void)col;
    switch (v->kind) {
    case EXV_NULL: csv_empty(c); break;
    case EXV_TEXT:
    case EXV_LINES: csv_text(c, v->v.s); break; /* lines: one quoted cell */
    case EXV_I64: csv_i64(c, v->v.i); break;
    case EXV_U64: csv_u64(c, v->v.u); break;
    case EXV_FIXED: csv_fixed(c, v->v.i, v->decimals); break;
    case EXV_F64: csv_f64(c, v->v.d); break;
    case EXV_BOOL: csv_u64(c, v->v.b ? 1 : 0); break;
    }
}

static ls_err csv_w_end_row(struct export_writer *w)
{
    return csv_end_row(w->csv);
}

static ls_err csv_w_finish(struct export_writer *w)
{
    return csv_finish(w->csv);
}

static int csv_w_errno(const struct export_writer *w)
{
    return csv_errno(w->csv);
}

static void csv_w_free(struct export_writer *w)
{
    if (w == NULL)
        return;
    csv_free(w->csv);
    free(w);
}

const struct export_format export_format_csv = {
    .name = "csv",
    .doc = "RFC 4180 CSV with a header row",
    .open = csv_w_open,
    .cell = csv_w_cell,
    .end_row = csv_w_end_row,
    .finish = csv_w_finish,
    .write_errno = csv_w_errno,
    .free = csv_w_free,
};
