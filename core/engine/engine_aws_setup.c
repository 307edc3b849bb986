/*
 * engine_aws_setup: the AWS setup phase. Before the workers start, the
 * control thread creates the scenario's tables (waiting until ACTIVE when
 * asked), writes its items in BatchWriteItem calls of at most 25 (following
 * UnprocessedItems), creates its buckets and puts its objects. Transfers are
 * blocking on one easy handle, with the same signing and standard retries
 * as the load (the backoff is a plain sleep here). Existing tables and
 * buckets are fine. It leaves events of kind "aws_setup", never samples.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws_proto.h"
#include "aws/aws_retry.h"
#include "aws/awsconf.h"
#include "engine/engine.h"
#include "engine/engine_aws_int.h"
#include "scenario/aws_ops.h"
#include "util/dynbuf.h"

#define SETUP_ACTIVE_TIMEOUT_NS (120ull * 1000000000ull)
#define SETUP_POLL_NS (100ull * 1000000ull)

#define SETUP_REPLY_MAX_BYTES ((size_t)(64u << 20)) /* a setup reply larger than this is refused */

static size_t sync_body(char *buf, size_t size, size_t nmemb, void *userp)
{
    size_t len = size * nmemb;
    return dyn_addn(userp, buf, len) == LS_OK ? len : 0;
}

/* A DescribeTable reply says {"Table": {"TableStatus": "ACTIVE", ...}}. */
static bool table_active(const char *reply, size_t len)
{
    cJSON *root = reply ? cJSON_ParseWithLength(reply, len) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "Table");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(t, "TableStatus");
    bool active = cJSON_IsString(st) && strcmp(st->valuestring, "ACTIVE") == 0;
    cJSON_Delete(root);
    return active;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

struct setup_ctx {
    struct engine *e;
    CURL *easy;
    struct tmpl_rng rng;
    uint64_t requests, retries;
};

/*
 * One setup request with the standard retries (blocking: the control thread,
 * before the load). *status and *code describe the final attempt; reply gets
 * its body. Returns LS_ERR_IO when no reply came at all.
 */
static ls_err sync_call(struct setup_ctx *sc, const struct aws_op *op, const char *path,
                        const uint8_t *body, size_t len, long *status, char *code, size_t codecap,
                        char *msg, size_t msgcap, struct dynbuf *reply, char *err, size_t errcap)
{
    struct aws_engine *ae = ae_of(sc->e);
    enum aws_service svc = op->service == SCN_AWS_S3 ? AWS_S3 : AWS_DYNAMODB;
    const char *method = op->http_method;
    uint32_t max_attempts = ae->conf.max_attempts ? ae->conf.max_attempts : AWS_DEFAULT_MAX_ATTEMPTS;
    char url[2600];
    ls_err rc = LS_OK;
    snprintf(url, sizeof(url), "%s%s", ae->base[svc], path);
    for (uint32_t attempt = 1;; attempt++) {
        struct curl_slist *h = NULL;
        char ebuf[CURL_ERROR_SIZE] = "";
        rc = aws_build_signed_headers(ae, svc, method, path, op->target, op->content_type, body,
                                      len, &h, err, errcap);
        if (rc != LS_OK)
            return rc;
        dyn_reset(reply);
        CURL *c = sc->easy;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sync_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(sc->e->s->timeout_ns / 1000000ull));
        curl_easy_setopt(c, CURLOPT_USERAGENT, "loadscope/" LOADSCOPE_VERSION);
        if (body) {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
            if (strcmp(method, "POST") != 0)
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        } else if (strcmp(method, "GET") != 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        }
        CURLcode res = curl_easy_perform(c);
        curl_slist_free_all(h);
        sc->requests++;
        *status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        enum aws_transport_fault tf = aws_fault_of(res);
        code[0] = msg[0] = '\0';
        if (tf == AWS_TF_NONE && (*status >= 300 || *status < 200))
            aws_parse_error(svc, dyn_ptr(reply), dyn_len(reply), code, codecap, msg, msgcap);
        enum aws_retry_kind k = op->retry(tf, (unsigned)*status, code);
        if ((k == AWS_RK_THROTTLE || k == AWS_RK_TRANSIENT) && attempt < max_attempts &&
            !atomic_load(&ls_stop_requested)) {
            sc->retries++;
            sleep_ns(aws_retry_backoff_ns(attempt, &sc->rng));
            continue;
        }
        if (tf != AWS_TF_NONE) {
            snprintf(err, errcap, "%s %s%s: %s", method, ae->base[svc], path,
                     ebuf[0] ? ebuf : curl_easy_strerror(res));
            return LS_ERR_IO;
        }
        return LS_OK;
    }
}

static ls_err setup_fail(char *err, size_t errcap, const char *what, long status, const char *code,
                         const char *msg)
{
    snprintf(err, errcap, "AWS setup: %s: HTTP %ld %s%s%s", what, status, code[0] ? code : "",
             msg[0] ? ": " : "", msg);
    return LS_ERR_INVALID;
}

/* Sends a BatchWriteItem body, following UnprocessedItems to the end. */
static ls_err setup_batch_write(struct setup_ctx *sc, const char *body, size_t len,
                                uint64_t *followups, char *err, size_t errcap)
{
    struct aws_batch *b = NULL;
    struct dynbuf rep;
    dyn_init(&rep, SETUP_REPLY_MAX_BYTES);
    char code[96], msg[160], what[200];
    long status;
    ls_err rc = aws_batch_open(AWS_BATCH_WRITE, body, len, &b, err, errcap);
    if (rc != LS_OK)
        goto out;
    const char *call;
    size_t clen;
    while ((call = aws_batch_current(b, &clen)) != NULL) {
        rc = sync_call(sc, aws_op_by_name(SCN_AWS_DYNAMODB, "BatchWriteItem"), "/",
                       (const uint8_t *)call, clen, &status, code, sizeof(code), msg, sizeof(msg),
                       &rep, err, errcap);
        if (rc != LS_OK)
            goto out;
        if (status != 200) {
            snprintf(what, sizeof(what), "BatchWriteItem");
            rc = setup_fail(err, errcap, what, status, code, msg);
            goto out;
        }
        bool fu;
        uint32_t items;
        rc = aws_batch_reply(b, dyn_ptr(&rep) ? dyn_ptr(&rep) : "", dyn_len(&rep), &fu, &items);
        if (rc != LS_OK) {
            snprintf(err, errcap, "AWS setup: BatchWriteItem reply is not a JSON object");
            goto out;
        }
        if (fu)
            (*followups)++;
    }
out:
    aws_batch_free(b);
    dyn_free(&rep);
    return rc;
}

static ls_err setup_create_table(struct setup_ctx *sc, const struct scn_aws_setup *a, char *err,
                                 size_t errcap)
{
    struct engine *e = sc->e;
    struct dynbuf rep;
    dyn_init(&rep, SETUP_REPLY_MAX_BYTES);
    char code[96], msg[160];
    long status;
    uint64_t t0 = ls_now_ns();
    ls_err rc = sync_call(sc, aws_op_by_name(SCN_AWS_DYNAMODB, "CreateTable"), "/",
                          (const uint8_t *)a->body, strlen(a->body), &status, code, sizeof(code),
                          msg, sizeof(msg), &rep, err, errcap);
    if (rc != LS_OK)
        goto out;
    bool existed = status == 400 && strcmp(code, "ResourceInUseException") == 0;
    if (status != 200 && !existed) {
        rc = setup_fail(err, errcap, "CreateTable", status, code, msg);
        goto out;
    }
    unsigned polls = 0;
    if (a->wait_active) {
        char desc[512];
        int n = snprintf(desc, sizeof(desc), "{\"TableName\":\"%s\"}", a->table);
        if (n < 0 || (size_t)n >= sizeof(desc)) {
            snprintf(err, errcap, "AWS setup: table name too long");
            rc = LS_ERR_INVALID;
            goto out;
        }
        for (;;) {
            rc = sync_call(sc, aws_op_by_name(SCN_AWS_DYNAMODB, "DescribeTable"), "/",
                           (const uint8_t *)desc, (size_t)n, &status, code, sizeof(code), msg,
                           sizeof(msg), &rep, err, errcap);
            if (rc != LS_OK)
                goto out;
            polls++;
            if (status != 200) {
                rc = setup_fail(err, errcap, "DescribeTable", status, code, msg);
                goto out;
            }
            if (table_active(dyn_ptr(&rep), dyn_len(&rep)))
                break;
            if (ls_now_ns() - t0 > SETUP_ACTIVE_TIMEOUT_NS || atomic_load(&ls_stop_requested)) {
                snprintf(err, errcap, "AWS setup: table %s is not ACTIVE after %u DescribeTable calls",
                         a->table, polls);
                rc = LS_ERR_TIMEOUT;
                goto out;
            }
            sleep_ns(SETUP_POLL_NS);
        }
    }
    tp_event(e, "aws_setup", "create_table %s: %s%s%u DescribeTable call(s), %.0f ms", a->table,
              existed ? "already existed" : "created",
              a->wait_active ? ", ACTIVE after " : ", not waited for; ", polls,
              (double)(ls_now_ns() - t0) / 1e6);
out:
    dyn_free(&rep);
    return rc;
}

static ls_err setup_put_items(struct setup_ctx *sc, const struct scn_aws_setup *a, char *err,
                              size_t errcap)
{
    uint64_t t0 = ls_now_ns(), followups = 0, calls0 = sc->requests;
    size_t item_cap = tmpl_max_len(a->item) + 1;
    size_t cap = 64 + strlen(a->table) * 2 + (item_cap + 32) * AWS_BATCH_WRITE_MAX_ITEMS;
    char *body = malloc(cap);
    ls_err rc = LS_OK;
    if (!body)
        return LS_ERR_NOMEM;
    for (uint32_t i = 0; i < a->count && rc == LS_OK;) {
        size_t off = (size_t)snprintf(body, cap, "{\"RequestItems\":{\"%s\":[", a->table);
        for (uint32_t k = 0; k < AWS_BATCH_WRITE_MAX_ITEMS && i < a->count; k++, i++) {
            struct tmpl_vars vars = {.seq = i, .worker = 0, .rng = &sc->rng};
            off += (size_t)snprintf(body + off, cap - off, "%s{\"PutRequest\":{\"Item\":", k ? "," : "");
            long n = tmpl_render(a->item, &vars, body + off, cap - off);
            if (n < 0) {
                snprintf(err, errcap, "AWS setup: put_items item larger than its buffer");
                rc = LS_ERR_INTERNAL;
                goto out;
            }
            off += (size_t)n;
            off += (size_t)snprintf(body + off, cap - off, "}}");
        }
        off += (size_t)snprintf(body + off, cap - off, "]}}");
        rc = setup_batch_write(sc, body, off, &followups, err, errcap);
    }
    if (rc == LS_OK)
        tp_event(sc->e, "aws_setup", "put_items %s: %u item(s) in %llu BatchWriteItem call(s) (%llu follow-up(s)), %.0f ms",
                  a->table, a->count, (unsigned long long)(sc->requests - calls0),
                  (unsigned long long)followups, (double)(ls_now_ns() - t0) / 1e6);
out:
    free(body);
    return rc;
}

static ls_err setup_create_bucket(struct setup_ctx *sc, const struct scn_aws_setup *a, char *err,
                                  size_t errcap)
{
    struct dynbuf rep;
    dyn_init(&rep, SETUP_REPLY_MAX_BYTES);
    char code[96], msg[160], path[128];
    long status;
    uint64_t t0 = ls_now_ns();
    snprintf(path, sizeof(path), "/%s", a->bucket);
    ls_err rc = sync_call(sc, aws_op_by_name(SCN_AWS_S3, "CreateBucket"), path,
                          (const uint8_t *)"", 0, &status, code, sizeof(code), msg, sizeof(msg),
                          &rep, err, errcap);
    if (rc == LS_OK) {
        bool existed = strcmp(code, "BucketAlreadyOwnedByYou") == 0;
        if (status != 200 && !existed)
            rc = setup_fail(err, errcap, "CreateBucket", status, code, msg);
        else
            tp_event(sc->e, "aws_setup", "create_bucket %s: %s, %.0f ms", a->bucket,
                      existed ? "already existed" : "created", (double)(ls_now_ns() - t0) / 1e6);
    }
    dyn_free(&rep);
    return rc;
}

static ls_err setup_put_objects(struct setup_ctx *sc, const struct scn_aws_setup *a, char *err,
                                size_t errcap)
{
    struct aws_engine *ae = ae_of(sc->e);
    struct dynbuf rep;
    dyn_init(&rep, SETUP_REPLY_MAX_BYTES);
    char code[96], msg[160], key[1024], enc[1800], path[2048];
    long status;
    uint64_t t0 = ls_now_ns(), bytes = 0;
    ls_err rc = LS_OK;
    for (uint32_t i = 0; i < a->count && rc == LS_OK; i++) {
        struct tmpl_vars vars = {.seq = i, .worker = 0, .rng = &sc->rng};
        long n = tmpl_render(a->key, &vars, key, sizeof(key));
        if (n < 0 || aws_uri_encode(key, (size_t)n, true, enc, sizeof(enc)) < 0) {
            snprintf(err, errcap, "AWS setup: put_objects key longer than 1023 bytes");
            rc = LS_ERR_INVALID;
            break;
        }
        snprintf(path, sizeof(path), "/%s/%s", a->bucket, enc);
        uint64_t size = aws_size_draw(&a->size, &sc->rng);
        if (size > ae->object_len)
            size = ae->object_len;
        rc = sync_call(sc, aws_op_by_name(SCN_AWS_S3, "PutObject"), path, ae->object,
                       (size_t)size, &status, code, sizeof(code), msg, sizeof(msg), &rep, err,
                       errcap);
        if (rc == LS_OK && status != 200)
            rc = setup_fail(err, errcap, "PutObject", status, code, msg);
        bytes += size;
    }
    if (rc == LS_OK)
        tp_event(sc->e, "aws_setup", "put_objects %s: %u object(s), %llu bytes, %.0f ms", a->bucket,
                  a->count, (unsigned long long)bytes, (double)(ls_now_ns() - t0) / 1e6);
    dyn_free(&rep);
    return rc;
}

ls_err aws_run_setup(struct engine *e, char *err, size_t errcap)
{
    const struct scn_aws *sa = e->s->aws;
    struct setup_ctx sc = {.e = e};
    ls_err rc = LS_OK;
    if (!sa || sa->setup_count == 0)
        return LS_OK;
    sc.easy = curl_easy_init();
    if (!sc.easy)
        return LS_ERR_CURL;
    tmpl_rng_seed(&sc.rng, 0x5e7u);
    uint64_t t0 = ls_now_ns();
    for (size_t i = 0; i < sa->setup_count && rc == LS_OK; i++) {
        const struct scn_aws_setup *a = &sa->setup[i];
        switch (a->kind) {
        case SCN_SETUP_CREATE_TABLE:
            rc = setup_create_table(&sc, a, err, errcap);
            break;
        case SCN_SETUP_PUT_ITEMS:
            rc = setup_put_items(&sc, a, err, errcap);
            break;
        case SCN_SETUP_CREATE_BUCKET:
            rc = setup_create_bucket(&sc, a, err, errcap);
            break;
        case SCN_SETUP_PUT_OBJECTS:
            rc = setup_put_objects(&sc, a, err, errcap);
            break;
        }
        if (rc == LS_OK && atomic_load(&ls_stop_requested)) {
            snprintf(err, errcap, "AWS setup interrupted");
            rc = LS_ERR_INVALID;
        }
    }
    if (rc == LS_OK)
        tp_event(e, "aws_setup", "setup done: %zu action(s), %llu request(s) (%llu retried), %.0f ms",
                  sa->setup_count, (unsigned long long)sc.requests, (unsigned long long)sc.retries,
                  (double)(ls_now_ns() - t0) / 1e6);
    else
        tp_event(e, "aws_setup", "%s", err);
    curl_easy_cleanup(sc.easy);
    return rc;
}
