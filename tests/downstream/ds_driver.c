/*
 * ds_driver: the downstream proxies driven without a load run, for
 * tests/integration/test_downstream.py and bench/downstream_overhead.sh.
 *
 *   ds_driver SCENARIO DB
 *
 * Loads the scenario (its target.downstream and downstream_faults; the
 * target itself is never launched), opens the session database, starts the
 * proxies with a sink that stores every call and second through
 * storage/store_downstream, and prints
 *   SESSION <id>
 *   ENV <NAME>=<VALUE>          one per entry of downstream_env()
 *   READY
 * Then reads commands on stdin, one per line, answering each with a line:
 *   origin            downstream_set_origin(now)              -> "ok"
 *   begin STEP        downstream_mcp_begin(STEP)              -> "ok"
 *   end STEP          downstream_mcp_end(STEP)                -> "ok"
 *   tally             "TALLY {json}" (both services)
 *   stop [WAIT_MS]    downstream_finish, then "TALLY {json}", "LIVE {json}" (the live
 *                     model), "REPLAY {json}" (a model fed from the database), "DONE"
 * Events go to stderr as "EVENT kind: message".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "downstream/downstream.h"
#include "downstream/ds_model.h"
#include "scenario/scenario.h"
#include "store.h"
#include "store_downstream.h"
#include "util/clock.h"

struct drv {
    struct store_downstream *w;
    unsigned long errors;
};

static void on_calls(void *ctx, const struct ds_call *c, size_t n)
{
    struct drv *d = ctx;
    if (store_downstream_calls(d->w, c, n) != LS_OK) {
        d->errors++;
        fprintf(stderr, "store: %s\n", store_downstream_errmsg(d->w));
    }
}

static void on_second(void *ctx, const struct ds_second *s)
{
    struct drv *d = ctx;
    if (store_downstream_second(d->w, s) != LS_OK) {
        d->errors++;
        fprintf(stderr, "store: %s\n", store_downstream_errmsg(d->w));
    }
}

static void on_event(void *ctx, const char *kind, const char *message)
{
    (void)ctx;
    fprintf(stderr, "EVENT %s: %s\n", kind, message);
}

static void print_tally(struct downstream *ds)
{
    printf("TALLY {");
    for (int s = 0; s < AWS__SERVICES; s++) {
        struct ds_tally t;
        downstream_tally(ds, (enum aws_service)s, &t);
        printf("%s\"%s\": {\"calls\": %llu, \"forwarded\": %llu, \"connections\": %llu, "
               "\"upstream_errors\": %llu, \"bad_requests\": %llu",
               s ? ", " : "", awsconf_service_name((enum aws_service)s),
               (unsigned long long)t.calls, (unsigned long long)t.forwarded,
               (unsigned long long)t.connections, (unsigned long long)t.upstream_errors,
               (unsigned long long)t.bad_requests);
        for (int f = 1; f < DS_FAULT__COUNT; f++)
            printf(", \"%s\": %llu", ds_fault_name((enum ds_fault)f),
                   (unsigned long long)t.faults[f]);
        printf("}");
    }
    printf("}\n");
}

/* Ops and steps of a model as one JSON object (rates left out: they depend on the clock). */
static void print_model(const char *tag, struct ds_model *m)
{
    struct ds_op_view ops[64];
    struct ds_step_view steps[256];
    size_t n = ds_model_ops(m, ops, 64);
    printf("%s {\"ops\": [", tag);
    for (size_t i = 0; i < n; i++) {
        const struct ds_op_view *v = &ops[i];
        printf("%s{\"service\": \"%s\", \"op\": \"%s\", \"calls\": %llu, \"errors\": %llu, "
               "\"throttles\": %llu, \"server_errors\": %llu, \"retries\": %llu, "
               "\"new_conns\": %llu, \"faults\": %llu, \"bytes_in\": %llu, \"bytes_out\": %llu, "
               "\"batch_asked\": %llu, \"batch_unprocessed\": %llu, \"per_request\": %.6f, "
               "\"p50_us\": %lld, \"p99_us\": %lld, \"max_us\": %lld, \"up_p50_us\": %lld}",
               i ? ", " : "", awsconf_service_name((enum aws_service)v->service), v->op,
               (unsigned long long)v->calls, (unsigned long long)v->errors,
               (unsigned long long)v->throttles, (unsigned long long)v->server_errors,
               (unsigned long long)v->retries, (unsigned long long)v->new_conns,
               (unsigned long long)v->faults, (unsigned long long)v->bytes_in,
               (unsigned long long)v->bytes_out, (unsigned long long)v->batch_asked,
               (unsigned long long)v->batch_unprocessed, v->per_request, (long long)v->p50_us,
               (long long)v->p99_us, (long long)v->max_us, (long long)v->up_p50_us);
    }
    n = ds_model_steps(m, steps, 256);
    printf("], \"steps\": [");
    for (size_t i = 0; i < n; i++) {
        const struct ds_step_view *v = &steps[i];
        printf("%s{\"step\": %d, \"op\": \"%s\", \"requests\": %llu, \"calls\": %.6f, "
               "\"calls_per_request\": %.6f, \"time_per_request_us\": %.3f, "
               "\"new_conns_per_request\": %.6f}",
               i ? ", " : "", (int)v->step, v->op, (unsigned long long)v->requests, v->calls,
               v->calls_per_request, v->time_per_request_us, v->new_conns_per_request);
    }
    printf("]}\n");
}

int main(int argc, char **argv)
{
    char err[1024];
    struct scenario *scn = NULL;
    struct store *st = NULL;
    struct downstream *ds = NULL;
    struct drv drv = {0};
    int64_t session = 0;
    int rc = 1;

    if (argc != 3) {
        fprintf(stderr, "usage: ds_driver SCENARIO DB\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (scenario_load(argv[1], &scn, err, sizeof err) != LS_OK) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    if (scn->downstream == NULL) {
        fprintf(stderr, "%s: no target.downstream\n", argv[1]);
        goto out;
    }
    struct store_session_info info = {.name = scn->name, .scenario_path = scn->path,
                                      .scenario_text = scn->text, .target = "ds_driver",
                                      .version = "test", .started_unix_ns = ls_unix_ns()};
    if (store_open(argv[2], &st, err, sizeof err) != LS_OK ||
        store_session_begin(st, &info, &session) != LS_OK ||
        store_downstream_open(st, session, &drv.w) != LS_OK) {
        fprintf(stderr, "store: %s %s\n", err, store_errmsg(st));
        goto out;
    }
    for (size_t i = 0; i < scn->step_count; i++)
        if (store_add_step(st, session, (int)i, scn->steps[i].name, scn->steps[i].method_name,
                           scn->steps[i].weight, scn->steps[i].params_text) != LS_OK)
            goto out;
    struct downstream_opts o = {.cfg = scn->downstream, .nsteps = (uint32_t)scn->step_count,
                                .aws_profile = scn->aws ? scn->aws->profile : NULL,
                                .aws_region = scn->aws ? scn->aws->region : NULL};
    struct ds_sink sink = {&drv, on_calls, on_second, on_event};
    if (downstream_open(&o, &sink, &ds, err, sizeof err) != LS_OK) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    printf("SESSION %lld\n", (long long)session);
    const struct scn_kv *kv;
    size_t nkv;
    downstream_env(ds, &kv, &nkv);
    for (size_t i = 0; i < nkv; i++)
        printf("ENV %s=%s\n", kv[i].key, kv[i].value);
    printf("READY\n");

    char line[256];
    while (fgets(line, sizeof line, stdin) != NULL) {
        int step = 0;
        unsigned long wait_ms = 2000;
        if (strncmp(line, "origin", 6) == 0) {
            downstream_set_origin(ds, ls_now_ns());
            printf("ok\n");
        } else if (sscanf(line, "begin %d", &step) == 1) {
            downstream_mcp_begin(ds, step);
            printf("ok\n");
        } else if (sscanf(line, "end %d", &step) == 1) {
            downstream_mcp_end(ds, step);
            printf("ok\n");
        } else if (strncmp(line, "tally", 5) == 0) {
            print_tally(ds);
        } else if (strncmp(line, "stop", 4) == 0) {
            (void)sscanf(line, "stop %lu", &wait_ms);
            downstream_finish(ds, wait_ms * 1000000ull);
            print_tally(ds);
            print_model("LIVE", downstream_model(ds));
            struct ds_model *replay = NULL;
            if (ds_model_open(&replay) != LS_OK ||
                store_downstream_model(st, session, replay) != LS_OK) {
                fprintf(stderr, "replay: %s\n", store_errmsg(st));
                ds_model_close(replay);
                goto out;
            }
            print_model("REPLAY", replay);
            ds_model_close(replay);
            printf("STORE_ERRORS %lu\nDONE\n", drv.errors);
            break;
        } else {
            printf("? %s", line);
        }
    }
    rc = 0;
out:
    downstream_close(ds);
    store_downstream_close(drv.w);
    store_close(st);
    scenario_free(scn);
    curl_global_cleanup();
    return rc;
}
