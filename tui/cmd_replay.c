/*
 * cmd_replay: `loadscope replay [SESSION] [--db FILE] [--speed X]`.
 *
 * Draws a stored session's screens again from its per-second intervals (not
 * its samples, so a long session opens at once): the intervals are read
 * into memory with their encoded histograms, then fed to a live model at the
 * replay clock, as the collector fed it during the run. Play/pause, speed
 * 0.5x to 16x, seeking (back means rebuilding the model from second 0, which
 * decodes each interval's histograms once) and a jump to the worst second.
 * With no session named, a picker lists the database's sessions.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curses.h>

#include "cli.h"
#include "util/clock.h"
#include "dash.h"
#include "dash_hot.h"
#include "downstream/ds_model.h"
#include "store_downstream.h"
#include "stats/live.h"
#include "report.h"
#include "hotpaths_store.h"
#include "store.h"
#include "store_read.h"

#define NS_PER_S 1000000000ull

static const double speeds[] = {0.5, 1, 2, 4, 8, 16};
#define NSPEEDS (sizeof(speeds) / sizeof(speeds[0]))

struct rp_interval {
    struct live_stored st;
    uint8_t *blob;              /* both histograms, owned: hist then u_hist */
};

struct rp_event {
    uint64_t t_ns;
    char *kind, *message;
};

struct replay {
    struct live *lv;
    struct rp_interval *iv;
    size_t niv, capiv;
    struct rp_event *ev;
    size_t nev, capev;
    uint64_t by_class_all[LS_EC__COUNT], by_class_init[LS_EC__COUNT];
    int32_t init_step;          /* the handshake's step index */
    bool oom;

    uint64_t end_ns;            /* the end of the last stored second */
    double pos_ns;              /* replay clock */
    size_t fed, ev_fed;         /* next interval / event to feed */
    size_t speed;               /* index into speeds */
    bool playing;
    uint64_t last_tick_ns;
    int64_t worst_second;       /* -1: none */
    int64_t worst_p99_us;
    bool at_worst;
    uint64_t decode_errors;
};

struct names {
    char **v;
    size_t n;
    bool oom;
};

static int add_name(void *ctx, const struct store_step *s)
{
    struct names *nm = ctx;
    char **v = realloc(nm->v, (nm->n + 1) * sizeof(*v));
    if (!v) {
        nm->oom = true;
        return 1;
    }
    nm->v = v;
    nm->v[nm->n] = strdup(s->name ? s->name : "");
    if (!nm->v[nm->n]) {
        nm->oom = true;
        return 1;
    }
    nm->n++;
    return 0;
}

static int add_interval(void *ctx, const struct store_interval *si)
{
    struct replay *r = ctx;
    if (r->niv == r->capiv) {
        size_t cap = r->capiv ? r->capiv * 2 : 256;
        struct rp_interval *n = realloc(r->iv, cap * sizeof(*n));
        if (!n)
            goto oom;
        r->iv = n;
        r->capiv = cap;
    }
    struct rp_interval *x = &r->iv[r->niv];
    memset(x, 0, sizeof(*x));
    size_t len = si->hist_len + si->u_hist_len;
    if (len) {
        x->blob = malloc(len);
        if (!x->blob)
            goto oom;
        if (si->hist_len)
            memcpy(x->blob, si->hist, si->hist_len);
        if (si->u_hist_len)
            memcpy(x->blob + si->hist_len, si->u_hist, si->u_hist_len);
    }
    x->st = (struct live_stored){
        .second = si->second, .step = si->step, .warmup = si->warmup != 0,
        .count = si->count, .errors = si->errors, .late = si->late,
        .p50_us = si->p50_us, .p99_us = si->p99_us, .max_us = si->max_us,
        .u_p50_us = si->u_p50_us, .u_p99_us = si->u_p99_us,
        .hist = si->hist_len ? x->blob : NULL, .hist_len = si->hist_len,
        .u_hist = si->u_hist_len ? x->blob + si->hist_len : NULL, .u_hist_len = si->u_hist_len,
    };
    r->niv++;
    uint64_t end = ((uint64_t)si->second + 1) * NS_PER_S;
    if (end > r->end_ns)
        r->end_ns = end;
    /* The worst second: highest corrected p99 of all steps, measured part first. */
    if (si->step == -1 && si->count) {
        bool better = r->worst_second < 0 || si->p99_us > r->worst_p99_us;
        if (better) {
            r->worst_second = si->second;
            r->worst_p99_us = si->p99_us;
        }
    }
    return 0;
oom:
    r->oom = true;
    return 1;
}

static int add_summary(void *ctx, const struct store_summary *sm)
{
    struct replay *r = ctx;
    uint64_t *dst = sm->step == -1 ? r->by_class_all : sm->step == r->init_step ? r->by_class_init : NULL;
    if (dst) {
        for (int k = 1; k < LS_EC__COUNT; k++)
            dst[k] += sm->err_by_class[k];
    }
    return 0;
}

static int add_event(void *ctx, uint64_t t_ns, const char *kind, const char *message)
{
    struct replay *r = ctx;
    if (r->nev == r->capev) {
        size_t cap = r->capev ? r->capev * 2 : 64;
        struct rp_event *n = realloc(r->ev, cap * sizeof(*n));
        if (!n) {
            r->oom = true;
            return 1;
        }
        r->ev = n;
        r->capev = cap;
    }
    r->ev[r->nev].t_ns = t_ns;
    r->ev[r->nev].kind = strdup(kind ? kind : "");
    r->ev[r->nev].message = strdup(message ? message : "");
    if (!r->ev[r->nev].kind || !r->ev[r->nev].message) {
        free(r->ev[r->nev].kind);
        free(r->ev[r->nev].message);
        r->oom = true;
        return 1;
    }
    r->nev++;
    return 0;
}

/* Feeds what the clock has passed: a second once its end is reached, events at their time. */
static void feed_to(struct replay *r)
{
    while (r->fed < r->niv &&
           (double)(((uint64_t)r->iv[r->fed].st.second + 1) * NS_PER_S) <= r->pos_ns + 0.5) {
        if (live_on_stored(r->lv, &r->iv[r->fed].st) != LS_OK)
            r->decode_errors++;
        r->fed++;
    }
    while (r->ev_fed < r->nev && (double)r->ev[r->ev_fed].t_ns <= r->pos_ns) {
        live_on_event(r->lv, r->ev[r->ev_fed].t_ns, r->ev[r->ev_fed].kind, r->ev[r->ev_fed].message);
        r->ev_fed++;
    }
    live_set_elapsed(r->lv, (uint64_t)r->pos_ns);
    if (r->pos_ns >= (double)r->end_ns) {
        r->playing = false;
        live_set_state(r->lv, LIVE_DONE);
    }
}

static void seek(struct replay *r, double to_ns)
{
    if (to_ns < 0)
        to_ns = 0;
    if (to_ns > (double)r->end_ns)
        to_ns = (double)r->end_ns;
    if (to_ns < r->pos_ns || r->pos_ns >= (double)r->end_ns) {
        /* Back (or away from the end): rebuild from the start. */
        live_reset(r->lv);
        live_add_errors(r->lv, -1, r->by_class_all);
        live_add_errors(r->lv, r->init_step, r->by_class_init);
        r->fed = r->ev_fed = 0;
    }
    r->pos_ns = to_ns;
    r->at_worst = false;
    feed_to(r);
    if (r->pos_ns < (double)r->end_ns && r->fed > 0)
        live_set_state(r->lv, LIVE_RUNNING);
}

static void rp_tick(void *ctx)
{
    struct replay *r = ctx;
    uint64_t now = ls_now_ns();
    if (r->playing) {
        r->pos_ns += (double)(now - r->last_tick_ns) * speeds[r->speed];
        if (r->pos_ns > (double)r->end_ns)
            r->pos_ns = (double)r->end_ns;
        feed_to(r);
    }
    r->last_tick_ns = now;
}

static int rp_key(void *ctx, int ch)
{
    struct replay *r = ctx;
    const int done = DASH_KEY_HANDLED | DASH_KEY_REDRAW | DASH_KEY_RESNAP;
    switch (ch) {
    case ' ':
    case 'p':
        if (!r->playing && r->pos_ns >= (double)r->end_ns)
            seek(r, 0); /* play again from the start */
        r->playing = !r->playing;
        return done;
    case '+':
    case '=':
        if (r->speed + 1 < NSPEEDS)
            r->speed++;
        return done;
    case '-':
        if (r->speed > 0)
            r->speed--;
        return done;
    case KEY_LEFT:
        seek(r, floor(r->pos_ns / NS_PER_S) * NS_PER_S - (double)NS_PER_S);
        return done;
    case KEY_RIGHT:
        seek(r, floor(r->pos_ns / NS_PER_S) * NS_PER_S + (double)NS_PER_S);
        return done;
    case '[':
        seek(r, floor(r->pos_ns / NS_PER_S) * NS_PER_S - 10.0 * NS_PER_S);
        return done;
    case ']':
        seek(r, floor(r->pos_ns / NS_PER_S) * NS_PER_S + 10.0 * NS_PER_S);
        return done;
    case KEY_HOME:
        seek(r, 0);
        return done;
    case KEY_END:
        seek(r, (double)r->end_ns);
        return done;
    case 'w':
        if (r->worst_second < 0)
            return DASH_KEY_HANDLED;
        r->playing = false;
        seek(r, (double)(((uint64_t)r->worst_second + 1) * NS_PER_S));
        r->at_worst = true;
        return done;
    default:
        return 0;
    }
}

static void rp_keys_help(void *ctx, char *buf, size_t cap)
{
    struct replay *r = ctx;
    snprintf(buf, cap, "space/p %s  -/+ speed  Left/Right 1s  [/] 10s  Home/End%s",
             r->playing ? "pause" : "play", r->worst_second >= 0 ? "  w worst" : "");
}

static void rp_status(void *ctx, char *buf, size_t cap)
{
    struct replay *r = ctx;
    char worst[80] = "";
    if (r->at_worst) {
        char p99[24];
        report_fmt_us(r->worst_p99_us, p99, sizeof(p99));
        snprintf(worst, sizeof(worst), "worst second %lld (p99 %s)  ", (long long)r->worst_second + 1, p99);
    }
    snprintf(buf, cap, "%s%.1fs/%.0fs %gx %s", worst, r->pos_ns / 1e9, (double)r->end_ns / 1e9,
             speeds[r->speed], r->playing ? "playing" : "paused");
}

/* Pulls a number out of the stored parameters JSON ("key":123). */
static uint64_t param_u64(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = json ? strstr(json, pat) : NULL;
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

static int pick_row(void *ctx, const struct store_session_row *row)
{
    struct {
        struct dash_pick_row *v;
        size_t n, cap;
    } *pk = ctx;
    if (pk->n == pk->cap) {
        size_t cap = pk->cap ? pk->cap * 2 : 32;
        struct dash_pick_row *n = realloc(pk->v, cap * sizeof(*n));
        if (!n)
            return 1;
        pk->v = n;
        pk->cap = cap;
    }
    char when[32] = "?";
    time_t t = (time_t)(row->started_unix_ns / 1000000000ll);
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    struct dash_pick_row *d = &pk->v[pk->n++];
    d->id = row->id;
    snprintf(d->text, sizeof(d->text), "%6lld  %-19s %-9.9s %10lld  %s", (long long)row->id, when,
             row->status_text[0] ? row->status_text : "running", (long long)row->samples, row->name);
    return 0;
}

static int parse_args(int argc, char **argv, const char **db, const char **sess, size_t *speed)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--db") == 0 && i + 1 < argc) {
            *db = argv[++i];
        } else if (strcmp(a, "--speed") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            char *end;
            double x = strtod(v, &end);
            size_t k = 0;
            while (k < NSPEEDS && !(speeds[k] == x))
                k++;
            if (*end || k == NSPEEDS) {
                fprintf(stderr, "loadscope replay: --speed expects 0.5, 1, 2, 4, 8 or 16, not \"%s\"\n", v);
                return LS_EXIT_USAGE;
            }
            *speed = k;
        } else if (a[0] == '-') {
            fprintf(stderr, "loadscope replay: unknown option %s (usage: loadscope replay [SESSION] "
                            "[--db FILE] [--speed X])\n", a);
            return LS_EXIT_USAGE;
        } else if (!*sess) {
            *sess = a;
        } else {
            fprintf(stderr, "loadscope replay: one session at a time (got %s and %s)\n", *sess, a);
            return LS_EXIT_USAGE;
        }
    }
    return 0;
}

int cli_replay(int argc, char **argv)
{
    const char *db = NULL, *sess = NULL;
    struct replay r;
    memset(&r, 0, sizeof(r));
    r.worst_second = -1;
    r.speed = 1;
    int rc = parse_args(argc, argv, &db, &sess, &r.speed);
    if (rc)
        return rc;
    int64_t id = 0;
    if (sess && strcmp(sess, "latest") != 0) {
        char *end;
        errno = 0;
        long long v = strtoll(sess, &end, 10);
        if (errno || *end || v <= 0) {
            fprintf(stderr, "loadscope replay: bad session \"%s\": expected a session id (see "
                            "`loadscope sessions`) or \"latest\"\n", sess);
            return LS_EXIT_USAGE;
        }
        id = v;
    }
    char why[256];
    if (!dash_term_usable(why, sizeof(why))) {
        fprintf(stderr, "loadscope replay: %s\n", why);
        return LS_EXIT_USAGE;
    }
    char path[4096], err[1024];
    if (cli_db_path(db, path, sizeof(path)))
        return LS_EXIT_RUNTIME;
    struct store *st = NULL;
    struct store_session ss;
    memset(&ss, 0, sizeof(ss));
    struct names nm = {0};
    struct {
        struct dash_pick_row *v;
        size_t n, cap;
    } pk = {0};
    bool term = false;
    struct dash_hot *hot = NULL;
    struct ds_model *ds = NULL;
    rc = LS_EXIT_RUNTIME;
    if (store_open_readonly(path, &st, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "loadscope replay: %s\n", err);
        goto out;
    }
    if (sess && id == 0 && store_session_latest(st, &id) != LS_OK) {
        fprintf(stderr, "loadscope replay: no session in %s\n", path);
        goto out;
    }
    if (!sess) {
        if (store_list_sessions(st, pick_row, &pk) != LS_OK) {
            fprintf(stderr, "loadscope replay: %s\n", store_errmsg(st));
            goto out;
        }
        if (pk.n == 0) {
            fprintf(stderr, "loadscope replay: no session in %s; run one first\n", path);
            goto out;
        }
        if (!dash_term_open(why, sizeof(why))) {
            fprintf(stderr, "loadscope replay: %s\n", why);
            goto out;
        }
        term = true;
        long k = dash_pick(pk.v, pk.n);
        if (k < 0) {
            rc = dash_term_signals() ? LS_EXIT_INTERRUPTED : LS_EXIT_OK;
            goto out;
        }
        id = pk.v[k].id;
    }
    ls_err e = store_session_get(st, id, &ss);
    if (e != LS_OK) {
        if (term)
            dash_term_close();
        term = false;
        fprintf(stderr, "loadscope replay: %s\n", e == LS_ERR_NOTFOUND ? "no such session (see `loadscope sessions`)"
                                                                       : store_errmsg(st));
        rc = e == LS_ERR_NOTFOUND ? LS_EXIT_USAGE : LS_EXIT_RUNTIME;
        goto out;
    }
    if (store_steps_each(st, id, add_name, &nm) != LS_OK || nm.oom) {
        fprintf(stderr, "loadscope replay: reading the steps: %s\n", nm.oom ? "out of memory" : store_errmsg(st));
        goto out;
    }
    /* The handshake is stored as the last step, "initialize". */
    size_t nsteps = nm.n && strcmp(nm.v[nm.n - 1], "initialize") == 0 ? nm.n - 1 : nm.n;
    r.init_step = (int32_t)nsteps;
    if (store_intervals_each(st, id, INT32_MIN, add_interval, &r) != LS_OK || r.oom ||
        store_summaries_each(st, id, add_summary, &r) != LS_OK ||
        store_events_each(st, id, add_event, &r) != LS_OK || r.oom) {
        fprintf(stderr, "loadscope replay: reading session %lld: %s\n", (long long)id,
                r.oom ? "out of memory" : store_errmsg(st));
        goto out;
    }
    /* A traced session replays its Hot paths screen: the live run's model, fed from storage. */
    struct hotpaths *hp = NULL;
    if (hotpaths_load(st, id, &hp, err, sizeof(err)) != LS_OK ||
        (hp && dash_hot_open_model(hp, &hot) != LS_OK)) {
        if (hp && !hot) {
            hotpaths_close(hp);
            snprintf(err, sizeof(err), "out of memory");
        }
        if (term)
            dash_term_close();
        term = false;
        fprintf(stderr, "loadscope replay: session %lld: %s\n", (long long)id, err);
        goto out;
    }
    /* A session with downstream calls replays its Downstream screen: the same model, from storage. */
    if (ds_model_open(&ds) != LS_OK || store_downstream_model(st, id, ds) != LS_OK) {
        if (term)
            dash_term_close();
        term = false;
        fprintf(stderr, "loadscope replay: session %lld: downstream calls: %s\n", (long long)id,
                ds ? store_errmsg(st) : "out of memory");
        goto out;
    }
    if (ds_model_seconds(ds) == 0) {
        ds_model_close(ds);
        ds = NULL;
    }
    if (r.niv == 0) {
        if (term)
            dash_term_close();
        term = false;
        fprintf(stderr, "loadscope replay: session %lld has no stored seconds to replay\n", (long long)id);
        goto out;
    }
    char load[96];
    snprintf(load, sizeof(load), "replay of a %s loop run",
             strstr(ss.params_json ? ss.params_json : "", "\"open\"") ? "open" : "closed");
    struct live_info li = {
        .scenario = ss.name, .target = ss.target, .load = load,
        .step_names = (const char *const *)nm.v, .nsteps = (uint32_t)nsteps,
        .warmup_ns = param_u64(ss.params_json, "warmup_ns"),
        .duration_ns = param_u64(ss.params_json, "duration_ns"), .session = id,
    };
    if (live_open(&li, &r.lv) != LS_OK) {
        fprintf(stderr, "loadscope replay: out of memory\n");
        goto out;
    }
    if (!term && !dash_term_open(why, sizeof(why))) {
        fprintf(stderr, "loadscope replay: %s\n", why);
        goto out;
    }
    term = true;
    live_add_errors(r.lv, -1, r.by_class_all);
    live_add_errors(r.lv, r.init_step, r.by_class_init);
    r.playing = true;
    r.last_tick_ns = ls_now_ns();
    feed_to(&r);
    struct dash_hooks h = {.ctx = &r, .replay = true, .tick = rp_tick, .key = rp_key,
                           .keys_help = rp_keys_help, .status = rp_status, .hot = hot,
                           .ds = ds};
    dash_hooks_add_export(&h, path, id);
    enum dash_quit q = dash_loop(r.lv, &h);
    rc = q == DASH_QUIT_SIGNAL ? LS_EXIT_INTERRUPTED : q == DASH_QUIT_KEY ? LS_EXIT_OK : LS_EXIT_RUNTIME;
out:
    if (term)
        dash_term_close();
    if (r.decode_errors)
        fprintf(stderr, "loadscope replay: %llu stored histogram(s) did not decode and were left out\n",
                (unsigned long long)r.decode_errors);
    dash_hot_close(hot);
    ds_model_close(ds);
    live_close(r.lv);
    for (size_t i = 0; i < r.niv; i++)
        free(r.iv[i].blob);
    free(r.iv);
    for (size_t i = 0; i < r.nev; i++) {
        free(r.ev[i].kind);
        free(r.ev[i].message);
    }
    free(r.ev);
    for (size_t i = 0; i < nm.n; i++)
        free(nm.v[i]);
    free(nm.v);
    free(pk.v);
    store_session_clear(&ss);
    store_close(st);
    return rc;
}
