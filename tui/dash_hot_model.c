/*
 * dash_hot_model: the Hot paths handle and its figures (see dash_hot.h).
 *
 * Each refresh ranks the one hot-path model (core/alloc/hotpaths.h) as of the
 * second shown into h->rows (at most DASH_HOT_CAP paths) and the totals: live
 * at most twice a second, in replay whenever the second shown or the ranking
 * changes; the view functions in dash_hot.c only format them. Strings in rows
 * are the model's (valid until it is closed). Here too: the copies the stack
 * view shows. No curses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc.h"
#include "util/clock.h"
#include "dash.h"
#include "dash_hot_int.h"

/* ---- ranking ------------------------------------------------------------------- */

/*
 * The seconds the figures cover. Live: every second the tracer has closed.
 * In replay: the seconds the replay clock has shown (its closed intervals),
 * so replay at second N ranks exactly the rows the live screen ranked then.
 */
static uint32_t seconds_shown(struct dash_hot *h, const struct live_snapshot *sn)
{
    uint32_t fed = hotpaths_seconds(h->hp);
    if (h->a)
        return fed;
    uint32_t shown = sn->seconds_closed > 0 ? (uint32_t)sn->seconds_closed : 0;
    return shown < fed ? shown : fed;
}

void dash_hot_refresh(struct dash_hot *h, const struct live_snapshot *sn)
{
    uint64_t now = ls_now_ns();
    uint32_t upto = seconds_shown(h, sn);
    bool due = !h->have || h->computed_by_bytes != h->by_bytes || h->computed_upto != (int64_t)upto;
    /* Live, a second's requests may come after its rows: rank again twice a second. */
    if (h->a && now - h->refreshed_ns >= DASH_HOT_REFRESH_NS)
        due = true;
    if (due) {
        struct hotpaths_totals t;
        h->nrows = hotpaths_rank(h->hp, upto, h->by_bytes ? ALLOC_BY_BYTES : ALLOC_BY_ALLOCS, h->rows,
                                 DASH_HOT_CAP, &t);
        h->upto = upto;
        h->total_allocs = t.allocs;
        h->requests = t.requests;
        h->stacks = t.paths;
        h->live_total = t.live_bytes;
        h->seconds = (double)upto;
        h->nprocs = 0;
        for (size_t i = 0; i < t.nprocs && i < DASH_HOT_PROCS; i++) {
            const struct hotpath_proc *p = &t.procs[i];
            struct dash_hot_proc *d = &h->procs[h->nprocs++];
            d->pid = p->pid;
            d->alive = !h->a || p->second + 2 >= upto; /* /proc is read once a second */
            d->rss_bytes = p->rss_bytes;
            d->cpu_pct = p->cpu_pct;
            d->threads = p->threads;
            snprintf(d->names, sizeof(d->names), "%s", p->names);
        }
        if (h->a) {
            struct alloc_status as;
            alloc_status(h->a, &as);
            h->dropped = as.dropped;
            snprintf(h->warning, sizeof(h->warning), "%s", as.warning);
        }
        h->have = true;
        h->refreshed_ns = now;
        h->computed_upto = upto;
        h->computed_by_bytes = h->by_bytes;
    }
    if (h->sel >= h->nrows)
        h->sel = h->nrows ? h->nrows - 1 : 0;
}

/* ---- handles ------------------------------------------------------------------- */

struct dash_hot *dash_hot_new(void)
{
    struct dash_hot *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->computed_upto = -1;
    return h;
}

ls_err dash_hot_open_live(struct alloc *a, struct hotpaths *hp, struct dash_hot **out)
{
    *out = NULL;
    struct dash_hot *h = dash_hot_new();
    if (!h)
        return LS_ERR_NOMEM;
    h->a = a;
    h->hp = hp;
    *out = h;
    return LS_OK;
}

ls_err dash_hot_open_model(struct hotpaths *hp, struct dash_hot **out)
{
    *out = NULL;
    struct dash_hot *h = dash_hot_new();
    if (!h)
        return LS_ERR_NOMEM;
    h->hp = hp;
    h->own_hp = true;
    *out = h;
    return LS_OK;
}

void dash_hot_close(struct dash_hot *h)
{
    if (!h)
        return;
    if (h->own_hp)
        hotpaths_close(h->hp);
    free(h->stack_title);
    free(h->stack_text);
    free(h);
}

/* ---- the stack view's text ------------------------------------------------------- */

bool dash_hot_stack_open(struct dash_hot *h)
{
    const struct hotpath_row *x = &h->rows[h->sel];
    char *title = malloc(strlen(x->blame) + 32);
    char *text = strdup(x->stack ? x->stack : "");
    if (!title || !text) {
        free(title);
        free(text);
        return false;
    }
    sprintf(title, "#%zu %s", h->sel + 1, x->blame);
    free(h->stack_title);
    free(h->stack_text);
    h->stack_title = title;
    h->stack_text = text;
    h->stack_open = true;
    h->stack_scroll = 0;
    return true;
}

size_t dash_hot_stack_lines(const struct dash_hot *h)
{
    size_t nlines = 0;
    for (const char *p = h->stack_text; p && *p; p++)
        nlines += *p == '\n';
    nlines += h->stack_text && h->stack_text[0] ? 1 : 0;
    return nlines;
}
