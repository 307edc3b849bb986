/*
 * fuzz_scenario: libFuzzer target for the scenario loader.
 *
 * Beyond not crashing: a refusal must come with a "fuzz.json:LINE:COL: ..."
 * message and never be an internal error (which would mean the raw-text
 * walker and cJSON's tree disagreed); an accepted scenario must have unique
 * step names, consistent weights, finite rates, and params templates that,
 * rendered at extreme values, stay within tmpl_max_len() and parse as a JSON
 * object (MCP params, DynamoDB requests; S3 keys render within their bound).
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "scenario/aws_ops.h"
#include "scenario/mcp_methods.h"
#include "scenario/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

/* Renders t at extreme values: within tmpl_max_len(), and a JSON object when json is set. */
static void check_render(const struct tmpl *t, struct tmpl_rng *rng, bool json)
{
    size_t max = tmpl_max_len(t);
    char *buf = malloc(max + 1);
    CHECK(buf != NULL);
    static const uint64_t vals[] = {0, 1, 9, 10, UINT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        struct tmpl_vars v = {.seq = vals[i],
                              .worker = vals[sizeof vals / sizeof vals[0] - 1 - i],
                              .rng = i % 2 ? rng : NULL};
        long n = tmpl_render(t, &v, buf, max + 1);
        CHECK(n >= 0 && (size_t)n <= max && buf[n] == '\0');
        if (json) {
            cJSON *j = cJSON_ParseWithLength(buf, (size_t)n);
            CHECK(cJSON_IsObject(j));
            cJSON_Delete(j);
        }
    }
    free(buf);
}

static void check_params(const struct scn_step *st, struct tmpl_rng *rng)
{
    if (st->aws != NULL) {
        /* AWS steps: the request (DynamoDB) or the key (S3) is the template */
        CHECK(st->mcp == NULL && st->params == NULL && st->params_text != NULL);
        CHECK(st->aws->row != NULL && st->aws->row->id == st->method);
        CHECK((st->aws->request != NULL) != (st->aws->key != NULL));
        if (st->aws->request)
            check_render(st->aws->request, rng, true);
        else
            check_render(st->aws->key, rng, false);
        return;
    }
    CHECK(st->mcp != NULL && st->mcp->id == st->method);
    if (st->mcp->params == NULL) {
        CHECK(st->params == NULL && st->params_text == NULL);
        return;
    }
    CHECK(st->params != NULL && st->params_text != NULL);
    check_render(st->params, rng, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct scenario *s = NULL;
    char err[512];
    ls_err rc = scenario_parse("fuzz.json", (const char *)data, size, &s, err, sizeof err);
    if (rc != LS_OK) {
        CHECK(s == NULL);
        CHECK(rc == LS_ERR_INVALID || rc == LS_ERR_NOMEM);
        CHECK(strncmp(err, "fuzz.json:", 10) == 0);
        return 0;
    }
    CHECK(s != NULL);

    /* what the loader accepted, cJSON accepts too */
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    CHECK(j != NULL);
    cJSON_Delete(j);

    CHECK(s->step_count >= 1 && s->step_count <= 65000);
    CHECK(s->duration_ns > 0);
    CHECK(s->transport == SCN_STDIO || s->transport == SCN_HTTP || s->transport == SCN_AWS);
    CHECK(s->transport != SCN_STDIO || (s->command != NULL && s->command[0] != NULL));
    CHECK(s->transport != SCN_HTTP || s->url != NULL);
    CHECK(s->transport != SCN_AWS || (s->has_aws_steps && !s->has_mcp_steps));
    uint64_t total = 0;
    struct tmpl_rng rng;
    tmpl_rng_seed(&rng, size);
    for (size_t i = 0; i < s->step_count; i++) {
        const struct scn_step *st = &s->steps[i];
        CHECK(st->name != NULL && st->name[0] != '\0');
        CHECK(scenario_step_index(s, st->name) == (int)i);
        CHECK(st->weight >= 1);
        total += st->weight;
        check_params(st, &rng);
    }
    CHECK(total == s->weight_total);
    for (size_t i = 0; i < s->threshold_count; i++) {
        const struct scn_threshold *t = &s->thresholds[i];
        CHECK(t->step >= -1 && t->step < (int)s->step_count);
        CHECK(isfinite(t->limit) && t->limit >= 0);
    }
    if (s->model == SCN_OPEN) {
        CHECK(s->max_in_flight >= 1);
        static const uint64_t ts[] = {0, 1, 1000000000ULL, 60000000000ULL, UINT64_MAX};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
            double r = scenario_rate_at(s, ts[i]);
            CHECK(isfinite(r) && r >= 0);
        }
    } else {
        CHECK(s->concurrency >= 1);
    }
    scenario_free(s);
    return 0;
}
