/*
 * ds_fault: faults injected towards the target, drawn from a seeded
 * generator, and the replies the real services send for them.
 *
 * Each service's proxy has its own xorshift64* generator seeded from the
 * scenario's seed and the service, and draws in the order calls arrive (one
 * thread per proxy), so a run with the same seed and the same calls meets
 * the same faults. Per eligible call: one uniform number picks throttle,
 * server error, reset or none (the rates are consecutive slices of [0, 1));
 * when a latency is configured a second one decides whether the forwarded
 * call is delayed, and the delay is drawn from the distribution.
 *
 * The replies are the services' own: DynamoDB throttles with HTTP 400
 * ProvisionedThroughputExceededException (JSON), S3 with 503 SlowDown (XML);
 * server errors are 500 InternalServerError / InternalError. The SDKs
 * classify those codes as throttling and transient faults and retry them.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "downstream/ds_int.h"

const char *ds_fault_name(enum ds_fault f)
{
    static const char *const names[DS_FAULT__COUNT] = {NULL, "throttle", "server_error", "reset",
                                                       "delay"};
    return (unsigned)f < DS_FAULT__COUNT ? names[f] : NULL;
}

/* splitmix64: spreads a small seed over the whole state. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void ds_fault_init(struct ds_faulter *f, const struct scn_ds_faults *cfg, uint64_t seed,
                   enum aws_service svc)
{
    f->cfg = cfg != NULL && cfg->any ? cfg : NULL;
    f->rng = mix64(seed ^ ((uint64_t)(svc + 1) << 56));
    if (f->rng == 0)
        f->rng = 0x2545f4914f6cdd1dull;
}

double ds_fault_uniform(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0; /* 2^53 */
}

static uint64_t draw_latency(uint64_t *rng, const struct scn_ds_latency *l)
{
    switch (l->kind) {
    case SCN_DSL_FIXED:
        return l->lo_ns;
    case SCN_DSL_UNIFORM:
        return l->lo_ns + (uint64_t)(ds_fault_uniform(rng) * (double)(l->hi_ns - l->lo_ns + 1));
    case SCN_DSL_LOGNORMAL: {
        /* Box-Muller: one standard normal from two uniforms (the first kept off 0). */
        double u1 = 1.0 - ds_fault_uniform(rng);
        double u2 = ds_fault_uniform(rng);
        double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
        double v = (double)l->median_ns * exp(l->sigma * z);
        return v >= (double)l->hi_ns ? l->hi_ns : (uint64_t)v;
    }
    default:
        return 0;
    }
}

enum ds_fault ds_fault_draw(struct ds_faulter *f, const char *op, uint64_t *delay_ns)
{
    const struct scn_ds_faults *c = f->cfg;
    *delay_ns = 0;
    if (c == NULL)
        return DS_FAULT_NONE;
    if (c->operations != NULL) {
        bool listed = false;
        for (char **o = c->operations; *o != NULL && !listed; o++)
            listed = strcmp(*o, op) == 0;
        if (!listed)
            return DS_FAULT_NONE;
    }
    double u = ds_fault_uniform(&f->rng);
    if (u < c->throttle)
        return DS_FAULT_THROTTLE;
    if (u < c->throttle + c->server_error)
        return DS_FAULT_SERVER_ERROR;
    if (u < c->throttle + c->server_error + c->reset)
        return DS_FAULT_RESET;
    if (c->latency.kind == SCN_DSL_NONE || c->latency_share <= 0)
        return DS_FAULT_NONE;
    if (ds_fault_uniform(&f->rng) >= c->latency_share)
        return DS_FAULT_NONE;
    *delay_ns = draw_latency(&f->rng, &c->latency);
    return DS_FAULT_DELAY;
}

/* The service's error for a fault: status, code, message. */
struct fault_row {
    enum aws_service svc;
    enum ds_fault fault;
    uint16_t status;
    const char *reason;
    const char *code;
    const char *message;
};

static const struct fault_row fault_rows[] = {
    {AWS_DYNAMODB, DS_FAULT_THROTTLE, 400, "Bad Request", "ProvisionedThroughputExceededException",
     "The level of configured provisioned throughput for the table was exceeded. Consider "
     "increasing your provisioning level with the UpdateTable API."},
    {AWS_DYNAMODB, DS_FAULT_SERVER_ERROR, 500, "Internal Server Error", "InternalServerError",
     "Internal server error"},
    {AWS_S3, DS_FAULT_THROTTLE, 503, "Slow Down", "SlowDown", "Please reduce your request rate."},
    {AWS_S3, DS_FAULT_SERVER_ERROR, 500, "Internal Server Error", "InternalError",
     "We encountered an internal error. Please try again."},
};

bool ds_fault_reply(enum aws_service svc, enum ds_fault fault, bool head_request, bool close,
                    struct ds_buf *b, uint16_t *status, const char **code)
{
    const struct fault_row *row = NULL;
    for (size_t i = 0; i < sizeof(fault_rows) / sizeof(fault_rows[0]) && row == NULL; i++)
        if (fault_rows[i].svc == svc && fault_rows[i].fault == fault)
            row = &fault_rows[i];
    if (row == NULL)
        return false;
    char body[512];
    int bn;
    if (svc == AWS_DYNAMODB)
        bn = snprintf(body, sizeof body,
                      "{\"__type\":\"com.amazonaws.dynamodb.v20120810#%s\",\"message\":\"%s\"}",
                      row->code, row->message);
    else
        bn = snprintf(body, sizeof body,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                      "<Message>%s</Message><RequestId>LOADSCOPEFAULT</RequestId>"
                      "<HostId>loadscope</HostId></Error>",
                      row->code, row->message);
    if (bn < 0 || (size_t)bn >= sizeof body)
        return false;
    if (head_request)
        bn = 0;
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                      "x-amzn-RequestId: LOADSCOPEFAULT\r\n%s\r\n",
                      row->status, row->reason,
                      svc == AWS_DYNAMODB ? "application/x-amz-json-1.0" : "application/xml", bn,
                      close ? "Connection: close\r\n" : "");
    if (hn < 0 || (size_t)hn >= sizeof head)
        return false;
    *status = row->status;
    *code = row->code;
    return ds_buf_add(b, head, (size_t)hn) && ds_buf_add(b, body, (size_t)bn);
}
