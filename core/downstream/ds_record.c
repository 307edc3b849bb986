/*
 * ds_record: the recorder thread, between the proxies and the sink.
 *
 * The proxies hand each finished call over (a mutex held for an append, no
 * wake-up: the recorder takes the queue every DS_TICK_NS) and go back to
 * their loops; everything slow happens here: error codes read
 * from reply bodies, batch bodies parsed with cJSON, the call split among the
 * steps in flight, and per-second, per-operation aggregates with HDR
 * histograms. Calls reach the sink in batches, in seq order. A second is
 * counted by when its calls finished and closes DS_CLOSE_GRACE_NS after it
 * ends (the proxies push a call as soon as its reply is out, so none is
 * still on its way by then); a call that comes later anyway joins the
 * oldest open second. The MCP requests each step ended within a second are
 * the difference of the steps' end counters read at the second's boundaries
 * (read within one tick of DS_TICK_NS).
 *
 * Seconds count from the origin; until downstream_set_origin() is called
 * none is closed (calls made while the target starts fall in second 0).
 * Memory: the open seconds' aggregates (two histograms per operation, from
 * a pool) and the queue, whatever the run's length.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws_proto.h"
#include "aws/aws_retry.h"
#include "downstream/ds_int.h"
#include "util/clock.h"

#define DS_OPEN 8                               /* seconds open at once */
#define DS_TICK_NS 50000000ull                  /* 50 ms */
#define DS_CLOSE_GRACE_NS 250000000ull          /* a second closes this long after it ends */
#define DS_OPS_MAX 256                          /* operation names kept apart */
#define DS_QUEUE_WAKE 4096                      /* calls queued before the recorder is woken early */

struct op_acc {
    uint16_t name;           /* index into the recorder's names */
    struct ds_op_second s;   /* counts; hist pointers set when emitted */
    struct hdr *lat, *up;
};

struct attr_acc {
    int32_t step;
    uint16_t name;
    double calls, time_us, new_conns;
};

struct open_second {
    bool used;
    uint32_t second;
    struct op_acc *ops;
    size_t nops, capops;
    struct attr_acc *attr;
    size_t nattr, capattr;
    uint64_t *requests;      /* per slot, set when its end boundary is read */
    bool snapped;
};

struct ds_recorder {
    struct downstream *d;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ds_done *q;
    size_t qn, qcap;
    bool stop;
    pthread_t th;
    bool started;
    uint64_t seq;

    /* recorder thread only */
    struct ds_done *work;
    size_t wcap;
    struct ds_call *calls;
    size_t ccap;
    char (*names)[DS_OP_MAX];
    uint8_t *name_svc;
    size_t nnames;
    struct open_second open[DS_OPEN];
    uint32_t next_close;     /* first second not closed yet */
    uint32_t next_snap;      /* first second whose end boundary is not read yet */
    uint64_t *ended_last;    /* the steps' end counters at the last boundary read */
    uint64_t *ended_now;
    struct hdr **pool;
    size_t npool, cappool;
    /* emission scratch */
    struct ds_op_second *e_ops;
    struct ds_attr_second *e_attr;
    struct ds_step_second *e_steps;
    size_t e_capops, e_capattr;
};

/* ------------------------------------------------------------ helpers */

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *np = realloc(*p, n * elem);
    if (np == NULL)
        return false;
    *p = np;
    *cap = n;
    return true;
}

static struct hdr *hist_get(struct ds_recorder *r)
{
    if (r->npool > 0)
        return r->pool[--r->npool];
    struct hdr *h = NULL;
    return hdr_open_latency(&h) == LS_OK ? h : NULL;
}

static void hist_put(struct ds_recorder *r, struct hdr *h)
{
    if (h == NULL)
        return;
    hdr_reset(h);
    if (grow((void **)&r->pool, &r->cappool, r->npool + 1, sizeof(*r->pool)))
        r->pool[r->npool++] = h;
    else
        hdr_close(h);
}

/* Index of (service, op) in the names table; past DS_OPS_MAX, "(other)". */
static uint16_t intern(struct ds_recorder *r, uint8_t svc, const char *op)
{
    for (size_t i = 0; i < r->nnames; i++)
        if (r->name_svc[i] == svc && strcmp(r->names[i], op) == 0)
            return (uint16_t)i;
    if (r->nnames == DS_OPS_MAX - 1)
        op = "(other)";
    for (size_t i = 0; i < r->nnames; i++)
        if (r->name_svc[i] == svc && strcmp(r->names[i], op) == 0)
            return (uint16_t)i;
    if (r->nnames >= DS_OPS_MAX)
        return 0;
    snprintf(r->names[r->nnames], DS_OP_MAX, "%s", op);
    r->name_svc[r->nnames] = svc;
    return (uint16_t)r->nnames++;
}

static uint64_t origin(struct ds_recorder *r)
{
    return atomic_load(&r->d->origin_ns);
}

static struct open_second *slot_for(struct ds_recorder *r, uint32_t second);

/* ------------------------------------------------------------ one call */

struct split_ctx {
    struct open_second *os;
    uint16_t name;
    double lat_us;
    bool new_conn;
    bool oom;
};

static void add_share(void *ctx, int32_t step, double w)
{
    struct split_ctx *s = ctx;
    struct open_second *os = s->os;
    struct attr_acc *a = NULL;
    for (size_t i = 0; i < os->nattr && a == NULL; i++)
        if (os->attr[i].step == step && os->attr[i].name == s->name)
            a = &os->attr[i];
    if (a == NULL) {
        if (!grow((void **)&os->attr, &os->capattr, os->nattr + 1, sizeof(*os->attr))) {
            s->oom = true;
            return;
        }
        a = &os->attr[os->nattr++];
        *a = (struct attr_acc){.step = step, .name = s->name};
    }
    a->calls += w;
    a->time_us += w * s->lat_us;
    a->new_conns += s->new_conn ? w : 0;
}

static void read_bodies(struct ds_recorder *r, struct ds_done *dn)
{
    struct ds_call *c = &dn->call;
    if (c->aws_code[0] == '\0' && (c->status >= 300 || c->status == 0) && dn->resp_body != NULL) {
        char msg[8];
        if (c->service == AWS_DYNAMODB)
            aws_ddb_parse_error(dn->resp_body, dn->resp_len, c->aws_code, sizeof c->aws_code, msg,
                                sizeof msg);
        else
            aws_s3_parse_error(dn->resp_body, dn->resp_len, c->aws_code, sizeof c->aws_code, msg,
                               sizeof msg);
    }
    if (ds_op_is_batch(c->op))
        ds_batch_count(c->op, dn->req_body, dn->req_len, c->status == 200 ? dn->resp_body : NULL,
                       dn->resp_len, &c->batch_asked, &c->batch_unprocessed);
    (void)r;
}

static void account(struct ds_recorder *r, const struct ds_call *c)
{
    int64_t end_ns = c->start_ns + (int64_t)c->latency_ns;
    uint32_t second = end_ns <= 0 ? 0 : (uint32_t)((uint64_t)end_ns / 1000000000ull);
    struct open_second *os = slot_for(r, second);
    if (os == NULL)
        return;
    uint16_t name = intern(r, c->service, c->op);
    struct op_acc *a = NULL;
    for (size_t i = 0; i < os->nops && a == NULL; i++)
        if (os->ops[i].name == name)
            a = &os->ops[i];
    if (a == NULL) {
        if (!grow((void **)&os->ops, &os->capops, os->nops + 1, sizeof(*os->ops)))
            return;
        a = &os->ops[os->nops++];
        *a = (struct op_acc){.name = name};
        a->s.service = c->service;
        a->lat = hist_get(r);
        a->up = hist_get(r);
    }
    struct ds_op_second *s = &a->s;
    s->calls++;
    s->errors += c->status == 0 || c->status >= 400;
    s->throttles += c->fault == DS_FAULT_THROTTLE || aws_code_is_throttling(c->aws_code);
    s->server_errors += c->status >= 500;
    s->retries += c->attempt > 1;
    s->new_conns += c->new_conn;
    s->faults += c->fault != DS_FAULT_NONE;
    s->bytes_in += c->bytes_in;
    s->bytes_out += c->bytes_out;
    s->batch_asked += c->batch_asked;
    s->batch_unprocessed += c->batch_unprocessed;
    int64_t lat_us = (int64_t)((c->latency_ns + 999) / 1000);
    if (a->lat)
        hdr_record(a->lat, lat_us);
    if (a->up && c->upstream_ns > 0)
        hdr_record(a->up, (int64_t)((c->upstream_ns + 999) / 1000));
    struct split_ctx sc = {os, name, (double)c->latency_ns / 1000.0, c->new_conn, false};
    ds_attr_split(c, add_share, &sc);
}

/* ------------------------------------------------------------ seconds */

static void reset_second(struct ds_recorder *r, struct open_second *os, uint32_t second)
{
    for (size_t i = 0; i < os->nops; i++) {
        hist_put(r, os->ops[i].lat);
        hist_put(r, os->ops[i].up);
    }
    os->nops = 0;
    os->nattr = 0;
    os->used = true;
    os->second = second;
    os->snapped = false;
    memset(os->requests, 0, sizeof(uint64_t) * r->d->attr.nslots);
}

/* Reads the steps' end counters as second `second` ends. */
static void snap(struct ds_recorder *r, struct open_second *os)
{
    uint32_t n = r->d->attr.nslots;
    ds_attr_ended(&r->d->attr, r->ended_now);
    for (uint32_t i = 0; i < n; i++) {
        os->requests[i] = r->ended_now[i] - r->ended_last[i];
        r->ended_last[i] = r->ended_now[i];
    }
    os->snapped = true;
}

static void emit(struct ds_recorder *r, struct open_second *os)
{
    struct downstream *d = r->d;
    uint32_t nslots = d->attr.nslots;
    if (!os->snapped)
        snap(r, os);
    if (!grow((void **)&r->e_ops, &r->e_capops, os->nops + 1, sizeof(*r->e_ops)) ||
        !grow((void **)&r->e_attr, &r->e_capattr, os->nattr + 1, sizeof(*r->e_attr)))
        return;
    for (size_t i = 0; i < os->nops; i++) {
        r->e_ops[i] = os->ops[i].s;
        r->e_ops[i].op = r->names[os->ops[i].name];
        r->e_ops[i].latency = os->ops[i].lat;
        r->e_ops[i].upstream = os->ops[i].up;
    }
    for (size_t i = 0; i < os->nattr; i++) {
        const struct attr_acc *a = &os->attr[i];
        r->e_attr[i] = (struct ds_attr_second){a->step, r->name_svc[a->name], r->names[a->name],
                                               a->calls, a->time_us, a->new_conns};
    }
    size_t nst = 0;
    for (uint32_t i = 0; i < nslots; i++)
        if (os->requests[i] > 0)
            r->e_steps[nst++] = (struct ds_step_second){(int32_t)i, os->requests[i]};
    struct ds_second s = {os->second, r->e_ops, os->nops, r->e_attr, os->nattr, r->e_steps, nst};
    if (d->sink.second)
        d->sink.second(d->sink.ctx, &s);
    ds_model_add_second(d->model, &s);
}

/* Closes the oldest open second (emitting it) and moves on. */
static void close_next(struct ds_recorder *r)
{
    struct open_second *os = &r->open[r->next_close % DS_OPEN];
    if (!os->used || os->second != r->next_close)
        reset_second(r, os, r->next_close);
    emit(r, os);
    reset_second(r, os, r->next_close + DS_OPEN);
    os->used = false;
    r->next_close++;
}

static struct open_second *slot_for(struct ds_recorder *r, uint32_t second)
{
    if (second < r->next_close)
        second = r->next_close; /* late: joins the oldest open second */
    while (second >= r->next_close + DS_OPEN)
        close_next(r);
    struct open_second *os = &r->open[second % DS_OPEN];
    if (!os->used || os->second != second)
        reset_second(r, os, second);
    return os;
}

/* Reads boundaries that have passed and closes seconds past their grace. */
static void tick(struct ds_recorder *r, bool final)
{
    if (!final && !atomic_load(&r->d->origin_set))
        return;
    uint64_t now = ls_now_ns(), org = origin(r);
    uint64_t since = now > org ? now - org : 0;
    uint32_t cur = (uint32_t)(since / 1000000000ull);
    while (r->next_snap < cur) { /* boundary at the end of next_snap has passed */
        struct open_second *os = slot_for(r, r->next_snap);
        if (os != NULL && !os->snapped)
            snap(r, os);
        r->next_snap++;
    }
    uint32_t closable = since > DS_CLOSE_GRACE_NS
                            ? (uint32_t)((since - DS_CLOSE_GRACE_NS) / 1000000000ull)
                            : 0;
    if (final) {
        /* everything up to the current second, or the last one holding calls */
        uint32_t last = cur;
        for (int i = 0; i < DS_OPEN; i++)
            if (r->open[i].used && r->open[i].second > last &&
                (r->open[i].nops > 0 || r->open[i].nattr > 0))
                last = r->open[i].second;
        closable = last + 1;
    }
    while (r->next_close < closable)
        close_next(r);
}

/* ------------------------------------------------------------ the thread */

static void process(struct ds_recorder *r, struct ds_done *w, size_t n)
{
    struct downstream *d = r->d;
    uint64_t org = origin(r);
    /* out of memory for the batch: the calls go to the sink in the pieces that fit */
    size_t piece = grow((void **)&r->calls, &r->ccap, n, sizeof(*r->calls)) ? n : r->ccap;
    for (size_t at = 0; at < n; at += piece ? piece : n) {
        size_t k = piece == 0 || n - at < piece ? n - at : piece;
        for (size_t i = at; i < at + k; i++) {
            w[i].call.start_ns = (int64_t)(w[i].t0_ns - org);
            read_bodies(r, &w[i]);
            free(w[i].req_body);
            free(w[i].resp_body);
            account(r, &w[i].call);
            if (piece)
                r->calls[i - at] = w[i].call;
        }
        if (d->sink.calls && piece)
            d->sink.calls(d->sink.ctx, r->calls, k);
    }
}

static void *run(void *arg)
{
    struct ds_recorder *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        /* Before the origin is known, calls wait: their times are relative to it. */
        bool hold = !r->stop && !atomic_load(&r->d->origin_set);
        if ((r->qn == 0 || hold) && !r->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)DS_TICK_NS;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        }
        if (hold && !r->stop) {
            pthread_mutex_unlock(&r->mu);
            continue;
        }
        struct ds_done *w = r->q;
        size_t n = r->qn;
        size_t cap = r->qcap;
        bool stop = r->stop;
        r->q = r->work;
        r->qcap = r->wcap;
        r->qn = 0;
        r->work = w;
        r->wcap = cap;
        pthread_mutex_unlock(&r->mu);
        process(r, w, n);
        if (stop && n == 0)
            break;
        tick(r, false);
    }
    tick(r, true);
    return NULL;
}

/* ------------------------------------------------------------ the API */

ls_err ds_recorder_open(struct downstream *d, struct ds_recorder **out)
{
    struct ds_recorder *r = calloc(1, sizeof(*r));
    *out = NULL;
    if (r == NULL)
        return LS_ERR_NOMEM;
    r->d = d;
    uint32_t n = d->attr.nslots;
    r->names = calloc(DS_OPS_MAX, sizeof(*r->names));
    r->name_svc = calloc(DS_OPS_MAX, 1);
    r->ended_last = calloc(n, sizeof(uint64_t));
    r->ended_now = calloc(n, sizeof(uint64_t));
    r->e_steps = calloc(n, sizeof(*r->e_steps));
    bool ok = r->names && r->name_svc && r->ended_last && r->ended_now && r->e_steps;
    for (int i = 0; i < DS_OPEN && ok; i++)
        ok = (r->open[i].requests = calloc(n, sizeof(uint64_t))) != NULL;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (ok && pthread_create(&r->th, NULL, run, r) == 0) {
        r->started = true;
        *out = r;
        return LS_OK;
    }
    ds_recorder_close(r);
    return ok ? LS_ERR_INTERNAL : LS_ERR_NOMEM;
}

bool ds_recorder_push(struct ds_recorder *r, struct ds_done *done)
{
    pthread_mutex_lock(&r->mu);
    bool ok = grow((void **)&r->q, &r->qcap, r->qn + 1, sizeof(*r->q));
    if (ok) {
        done->call.seq = ++r->seq;
        r->q[r->qn++] = *done;
        /*
         * The recorder wakes on its tick and takes everything queued in one
         * transaction; waking it for each call would cost a thread switch
         * and a commit per call, on the cores the target and the load share.
         */
        if (r->qn == DS_QUEUE_WAKE)
            pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    if (!ok) {
        free(done->req_body);
        free(done->resp_body);
    }
    done->req_body = done->resp_body = NULL;
    return ok;
}

void ds_recorder_finish(struct ds_recorder *r)
{
    if (r == NULL || !r->started)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->th, NULL);
    r->started = false;
}

void ds_recorder_close(struct ds_recorder *r)
{
    if (r == NULL)
        return;
    ds_recorder_finish(r);
    for (size_t i = 0; i < r->qn; i++) {
        free(r->q[i].req_body);
        free(r->q[i].resp_body);
    }
    for (int i = 0; i < DS_OPEN; i++) {
        for (size_t k = 0; k < r->open[i].nops; k++) {
            hdr_close(r->open[i].ops[k].lat);
            hdr_close(r->open[i].ops[k].up);
        }
        free(r->open[i].ops);
        free(r->open[i].attr);
        free(r->open[i].requests);
    }
    for (size_t i = 0; i < r->npool; i++)
        hdr_close(r->pool[i]);
    free(r->pool);
    free(r->q);
    free(r->work);
    free(r->calls);
    free(r->names);
    free(r->name_svc);
    free(r->ended_last);
    free(r->ended_now);
    free(r->e_ops);
    free(r->e_attr);
    free(r->e_steps);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
