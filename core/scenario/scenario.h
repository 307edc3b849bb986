/*
 * scenario: the JSON file that says what to load, how hard and for how long.
 *
 * scenario_load() parses and validates the whole file before anything starts.
 * A syntax error names file:line:column; a semantic error names the JSON path
 * (e.g. "$.steps[2].weight") and its line, says what was found and what was
 * expected. The resulting struct is plain data owned by the scenario; step
 * request bodies are pre-compiled templates ready for the hot path.
 *
 * Format (see README "Scenario reference"):
 * {
 *   "name": "demo",
 *   "target": { "transport": "stdio", "command": ["node", "server.js"],
 *               "env": {"K": "V"}, "cwd": "dir", "processes": "shared" | "per_vu" }
 *          or { "transport": "http", "url": "http://127.0.0.1:8931/mcp",
 *               "command": [...], "ready_timeout": "15s", "headers": {"K": "V"} },
 *   "mcp":    { "protocol_version": "2025-11-25", "session": "per_vu" | "per_iteration",
 *               "client_name": "loadscope" },
 *   "load":   { "model": "closed", "concurrency": 8, "duration": "10s", "warmup": "2s" }
 *          or { "model": "open", "rate": 200, "max_in_flight": 256,
 *               "stages": [{"duration": "5s", "target": 500}, ...], "warmup": "1s" },
 *   "http":   { "keepalive": true, "timeout": "10s", "client": "native" | "curl" },
 *   "steps":  [ { "name": "echo", "weight": 3, "method": "tools/call", "tool": "echo",
 *                 "arguments": {"message": "hi ${seq}"} },
 *               { "name": "list", "method": "tools/list" },
 *               { "name": "doc", "method": "resources/read", "uri": "demo://${rand:1:9}" },
 *               { "name": "greet", "method": "prompts/get", "prompt": "p", "arguments": {} },
 *               { "name": "ping", "method": "ping" } ],
 *   "thresholds": [ "p99 < 50ms", "error_rate < 1%", {"step": "echo", "check": "p50 < 5ms"} ]
 * }
 *
 * Rules the loader enforces (scenario*.c have the details; scenario.c says which part is where):
 *   - Unknown and duplicate keys are errors (with a "did you mean" for near
 *     misses); so are keys that belong to the other transport, model or
 *     method ("url" with stdio, "rate" with closed, "uri" with tools/call).
 *   - "transport" is required; stdio needs "command", http needs "url".
 *     "command" is always an array; "env"/"cwd" need "command".
 *   - "load" is required. closed: concurrency (default 1) and duration.
 *     open: "rate" > 0 or "stages" (rate then defaults to 0); max_in_flight
 *     defaults to concurrency if given, else 1000, and concurrency to
 *     max_in_flight; duration defaults to the sum of the stage durations and
 *     may exceed it (the last target then holds).
 *   - Durations are strings for scenario_parse_duration() or JSON numbers of
 *     seconds.
 *   - Unnamed steps are named after their method; when another unnamed step
 *     has the same method, or a step is explicitly named so, "#INDEX" (the
 *     position in "steps") is appended: "tools/list#0", "tools/list#3".
 *     Names must end up unique.
 *   - params_text is compact JSON taken from the file text (numbers exactly
 *     as written): tools/call {"name":T,"arguments":{...}} ("arguments"
 *     defaults to {}), resources/read {"uri":U}, prompts/get {"name":P} plus
 *     "arguments" when given (an object of strings), tools/list {} or
 *     {"cursor":C}; ping has none. Any string in it may hold placeholders;
 *     inside tools/call arguments a string value that is exactly one
 *     placeholder ("${rand:1:100}") is written without quotes, so it renders
 *     as a JSON number.
 *   - A threshold's text is the check as written; {"step", "check"} scopes
 *     it to a step.
 *   - AWS steps ("dynamodb.GetItem" ... "s3.GetObject", see README "AWS
 *     targets") carry st->aws: DynamoDB a "request" object (its placeholders
 *     stay strings: DynamoDB numbers are strings), S3 "bucket", "key" and,
 *     for PutObject, "size" (bytes, {"uniform": [LO, HI]},
 *     {"lognormal": {"median", "sigma", "max"}} or {"choices": [{"size",
 *     "weight"}]}). "transport": "aws" takes no other target key and AWS
 *     steps only; MCP steps need an MCP target. The top-level "aws" object
 *     has "region", "profile", "endpoints" {"dynamodb", "s3"} and "setup"
 *     (one action per entry: create_table (+ wait_active), put_items,
 *     create_bucket, put_objects). s->aws exists whenever "aws" is given or
 *     a PutObject step needs max_object_bytes.
 */
#ifndef LS_SCENARIO_H
#define LS_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"
#include "scenario/template.h"

enum scn_transport { SCN_STDIO = 1, SCN_HTTP = 2, SCN_AWS = 3 /* AWS steps only, no MCP target */ };
enum scn_procs { SCN_PROCS_SHARED = 0, SCN_PROCS_PER_VU = 1 };
enum scn_session { SCN_SESSION_PER_VU = 0, SCN_SESSION_PER_ITERATION = 1 };
enum scn_model { SCN_CLOSED = 1, SCN_OPEN = 2 };
enum scn_http_client { SCN_CLIENT_AUTO = 0, SCN_CLIENT_NATIVE = 1, SCN_CLIENT_CURL = 2 };

enum scn_method {
    SCN_TOOLS_CALL = 1,
    SCN_TOOLS_LIST,
    SCN_RESOURCES_READ,
    SCN_PROMPTS_GET,
    SCN_PING,
    /* AWS steps (see README "AWS targets"): st->aws holds their request */
    SCN_DDB_GET_ITEM = 100,
    SCN_DDB_PUT_ITEM,
    SCN_DDB_UPDATE_ITEM,
    SCN_DDB_DELETE_ITEM,
    SCN_DDB_QUERY,
    SCN_DDB_BATCH_GET_ITEM,
    SCN_DDB_BATCH_WRITE_ITEM,
    SCN_S3_PUT_OBJECT,
    SCN_S3_GET_OBJECT,
};

/* AWS services; same order as enum aws_service in awsconf.h. */
enum scn_aws_service { SCN_AWS_DYNAMODB = 0, SCN_AWS_S3 = 1, SCN_AWS__SERVICES };

/* An object size distribution (bytes). */
enum scn_size_kind { SCN_SIZE_FIXED = 1, SCN_SIZE_UNIFORM, SCN_SIZE_LOGNORMAL, SCN_SIZE_CHOICES };

struct scn_size_choice {
    uint64_t bytes;
    uint32_t weight;
};

struct scn_size {
    enum scn_size_kind kind;
    uint64_t lo, hi;            /* fixed: lo == hi; uniform: [lo, hi]; lognormal: clamp [0, hi] */
    double median, sigma;       /* lognormal */
    struct scn_size_choice *choices; /* weighted choices */
    size_t choice_count;
    uint32_t weight_total;
};

/* What an AWS step sends. */
struct scn_aws_step {
    const struct aws_op *row;   /* the operation's table row (aws_ops.h) */
    enum scn_aws_service service;
    const char *op;             /* "GetItem", "PutObject", ... (static string) */
    struct tmpl *request;       /* DynamoDB: the JSON body */
    char *bucket;               /* S3 */
    struct tmpl *key;           /* S3: object key template */
    struct scn_size size;       /* S3 PutObject */
};

enum scn_setup_kind {
    SCN_SETUP_CREATE_TABLE = 1, /* CreateTable (body), optionally wait until ACTIVE */
    SCN_SETUP_PUT_ITEMS,        /* BatchWriteItem `count` items rendered from `item` */
    SCN_SETUP_CREATE_BUCKET,    /* S3 CreateBucket */
    SCN_SETUP_PUT_OBJECTS,      /* S3 PutObject `count` objects, keys from `key` */
};

/* One action of the AWS setup phase; ${seq} runs 0..count-1 in put_items/put_objects. */
struct scn_aws_setup {
    enum scn_setup_kind kind;
    char *body;                 /* create_table: the CreateTable JSON */
    char *table;                /* create_table: its TableName; put_items: the table */
    bool wait_active;           /* create_table: poll DescribeTable until ACTIVE */
    bool ignore_exists;         /* create_*: an existing table/bucket is fine (default true) */
    uint32_t count;             /* put_items / put_objects */
    struct tmpl *item;          /* put_items: one item's JSON */
    char *bucket;               /* create_bucket / put_objects */
    struct tmpl *key;           /* put_objects */
    struct scn_size size;       /* put_objects */
};

/* The top-level "aws" object. */
struct scn_aws {
    char *region;               /* NULL: from the environment / profile */
    char *profile;
    char *endpoint[SCN_AWS__SERVICES]; /* NULL: from the environment, else the real endpoint */
    struct scn_aws_setup *setup;
    size_t setup_count;
    uint64_t max_object_bytes;  /* largest object any step or setup can put */
};

struct scn_downstream; /* scenario/scenario_downstream.h */

struct scn_kv {
    char *key;
    char *value;
};

struct scn_stage {
    uint64_t duration_ns;
    double target_rate;         /* requests per second reached at the end of the stage */
};

struct mcp_method; /* mcp_methods.h */
struct aws_op;     /* aws_ops.h */

struct scn_step {
    char *name;
    uint32_t weight;            /* >= 1; default 1 */
    enum scn_method method;
    const char *method_name;    /* "tools/call", ... (static string) */
    const struct mcp_method *mcp; /* MCP steps: the method's table row; NULL for AWS steps */
    char *params_text;          /* params JSON before substitution, for storage/display */
    struct tmpl *params;        /* compiled params JSON; NULL when the method takes none */
    struct scn_aws_step *aws;   /* AWS steps only; NULL for MCP steps */
};

enum scn_metric {
    SCN_M_PERCENTILE = 1,       /* corrected latency at `percentile` */
    SCN_M_MEAN,
    SCN_M_MAX,
    SCN_M_ERROR_RATE,           /* fraction 0..1 */
    SCN_M_RATE,                 /* completed requests per second */
};

enum scn_cmp { SCN_LT = 1, SCN_LE, SCN_GT, SCN_GE };

struct scn_threshold {
    char *text;                 /* as written, for the report: "p99 < 50ms" */
    int step;                   /* step index, or -1 for all steps together */
    enum scn_metric metric;
    double percentile;          /* for SCN_M_PERCENTILE, e.g. 99.9 */
    enum scn_cmp cmp;
    double limit;               /* latency in ns, rates as fractions or req/s */
};

struct scenario {
    char *path;                 /* file it came from */
    char *text;                 /* the whole file, stored with the session */
    char *name;

    enum scn_transport transport;
    char **command;             /* NULL-terminated argv; NULL when none (http without launch) */
    struct scn_kv *env;         /* extra environment for the launched target */
    size_t env_count;
    char *cwd;                  /* NULL: inherit */
    enum scn_procs processes;   /* stdio only */
    char *url;                  /* http only */
    struct scn_kv *headers;     /* extra HTTP headers */
    size_t header_count;
    uint64_t ready_timeout_ns;  /* http with command: wait this long for the port */
    uint8_t trace_allocations;  /* launched target: 0 off, 1 count, 2 full, 3 sampled (enum alloc_mode) */
    bool trace_children;        /* with trace_allocations: the target's children too */
    char *worker_threads;       /* with trace_allocations: the async runtime's worker thread names,
                                   comma-separated (NULL: the tracer's default, tokio's) */
    struct scn_downstream *downstream; /* target.downstream(_faults); NULL when absent */

    char *protocol_version;     /* requested MCP revision, default "2025-11-25" */
    enum scn_session session;
    char *client_name;

    enum scn_model model;
    uint32_t concurrency;       /* closed: virtual users; open: default max in flight */
    double rate;                /* open: starting arrival rate (req/s) */
    struct scn_stage *stages;   /* open: ramps after the start; may be empty */
    size_t stage_count;
    uint32_t max_in_flight;     /* open loop cap on concurrent requests */
    uint64_t duration_ns;       /* measured part (after warm-up); sum of stages if given */
    uint64_t warmup_ns;         /* measured but stored apart */

    bool keepalive;
    uint64_t timeout_ns;        /* per request */
    enum scn_http_client http_client; /* http.client; AUTO: native for http://, curl for https:// */

    struct scn_step *steps;
    size_t step_count;
    uint32_t weight_total;

    struct scn_threshold *thresholds;
    size_t threshold_count;

    struct scn_aws *aws;        /* the "aws" object; NULL when absent */
    bool has_aws_steps;         /* some step is an AWS step */
    bool has_mcp_steps;         /* some step is an MCP step */
};

/*
 * Reads and validates the scenario at path. On failure returns LS_ERR_IO or
 * LS_ERR_INVALID (LS_ERR_NOMEM when out of memory) and writes a message into
 * err, for example
 *   "demo.json:7:15: $.load.concurrency: expected a positive integer, found -3"
 *   "demo.json:3:9: invalid JSON: trailing comma before ']'"
 * LINE:COL (1-based, columns in characters) is where the offending value,
 * key or character is; for a missing key it is the enclosing object.
 * On success *out owns the scenario; free with scenario_free().
 */
LS_MUST_CHECK ls_err scenario_load(const char *path, struct scenario **out, char *err, size_t errcap);

/* Same as scenario_load with the text in memory; `name` is used in messages. */
LS_MUST_CHECK ls_err scenario_parse(const char *name, const char *text, size_t len,
                                    struct scenario **out, char *err, size_t errcap);

void scenario_free(struct scenario *s);

/*
 * Open-loop arrival rate (req/s) at t_ns after the measured start (warm-up
 * runs at the start rate): linear from `rate` to each stage's target in turn
 * (k6 ramping-arrival-rate), then the last target. 0 for the closed model.
 */
double scenario_rate_at(const struct scenario *s, uint64_t t_ns);

/*
 * Parses durations "250ms", "10s", "1m30s", "2h", "1.5s", "500us", "0"
 * into nanoseconds. Returns false on anything else.
 */
bool scenario_parse_duration(const char *text, uint64_t *ns);

/* Returns the step index whose name equals name, or -1. */
int scenario_step_index(const struct scenario *s, const char *name);

#endif
