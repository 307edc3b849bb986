/*
 * scenario_downstream: what the scenario says about the launched target's
 * own AWS calls (see core/downstream/downstream.h for what is done with it).
 *
 * "target": {
 *   "command": [...],
 *   "downstream": {"dynamodb": "http://127.0.0.1:4567", "s3": "aws"},
 *   "downstream_faults": {
 *     "seed": 7,
 *     "dynamodb": {"throttle": "10%", "server_error": 0.02, "reset": "1%",
 *                  "latency": {"uniform": ["5ms", "20ms"]}, "latency_share": "50%",
 *                  "operations": ["GetItem", "BatchGetItem"]},
 *     "s3": {"throttle": 0.1}
 *   }
 * }
 *
 * "downstream" needs "command" (only a launched target's environment can be
 * pointed at the proxies) and names at least one service; a URL is http://
 * or https://, and "aws" is the endpoint the AWS configuration chain gives
 * (core/aws/awsconf.h: AWS_ENDPOINT_URL_*, the profile, else the regional
 * endpoint). Rates are fractions from 0 to 1 or strings "N%"; throttle,
 * server_error and reset are drawn from one number per call, so together
 * they may not pass 100%. "latency" is a duration, {"uniform": [LO, HI]} or
 * {"lognormal": {"median", "sigma", "max"}} and applies to "latency_share"
 * (default 100%) of the calls forwarded. "operations" limits a service's
 * faults to those operations (DynamoDB X-Amz-Target names, S3 names such as
 * "GetObject"). "seed" (default 1) makes the fault sequence repeatable.
 */
#ifndef LS_SCENARIO_DOWNSTREAM_H
#define LS_SCENARIO_DOWNSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario/scenario.h"

enum scn_ds_latency_kind {
    SCN_DSL_NONE = 0,
    SCN_DSL_FIXED,     /* lo_ns */
    SCN_DSL_UNIFORM,   /* [lo_ns, hi_ns] */
    SCN_DSL_LOGNORMAL, /* median_ns, sigma, clamped to hi_ns */
};

struct scn_ds_latency {
    enum scn_ds_latency_kind kind;
    uint64_t lo_ns, hi_ns;
    uint64_t median_ns;
    double sigma;
};

/* One service's faults; rates are fractions of the eligible calls. */
struct scn_ds_faults {
    double throttle;           /* answered with the service's throttling error */
    double server_error;       /* answered with HTTP 500 */
    double reset;              /* connection reset, no reply */
    double latency_share;      /* of the calls forwarded, the share delayed by `latency` */
    struct scn_ds_latency latency;
    char **operations;         /* NULL-terminated; NULL: every operation */
    bool any;                  /* some fault is configured */
};

struct scn_downstream {
    char *url[SCN_AWS__SERVICES]; /* NULL: not proxied; "aws": the configuration chain's endpoint */
    struct scn_ds_faults faults[SCN_AWS__SERVICES];
    uint64_t seed;             /* of the fault draws (default 1) */
};

#endif
