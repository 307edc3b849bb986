/*
 * aws_proto: DynamoDB/S3 error replies, batch splitting and follow-ups,
 * URI encoding and object sizes (see aws_proto.h).
 */
#include "aws/aws_proto.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- errors */

static void copy_trunc(char *dst, size_t cap, const char *src, size_t n)
{
    if (cap == 0)
        return;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

bool aws_ddb_parse_error(const char *body, size_t len, char *code, size_t codecap, char *msg,
                         size_t msgcap)
{
    bool ok = false;
    copy_trunc(code, codecap, "", 0);
    copy_trunc(msg, msgcap, "", 0);
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    if (!cJSON_IsObject(root))
        goto out;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "__type");
    if (!cJSON_IsString(t) || t->valuestring[0] == '\0')
        goto out;
    const char *hash = strrchr(t->valuestring, '#');
    const char *c = hash ? hash + 1 : t->valuestring;
    copy_trunc(code, codecap, c, strlen(c));
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "message");
    if (!cJSON_IsString(m))
        m = cJSON_GetObjectItemCaseSensitive(root, "Message");
    if (cJSON_IsString(m))
        copy_trunc(msg, msgcap, m->valuestring, strlen(m->valuestring));
    ok = true;
out:
    cJSON_Delete(root);
    return ok;
}

/* Finds <tag>text</tag> in body; returns the text span or NULL. */
static const char *xml_elem(const char *body, size_t len, const char *tag, size_t *n)
{
    char open[48], close[48];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    size_t ol = strlen(open), cl = strlen(close);
    for (size_t i = 0; i + ol <= len; i++) {
        if (memcmp(body + i, open, ol) != 0)
            continue;
        const char *start = body + i + ol;
        size_t rest = len - i - ol;
        for (size_t j = 0; j + cl <= rest; j++) {
            if (memcmp(start + j, close, cl) == 0) {
                *n = j;
                return start;
            }
        }
        return NULL;
    }
    return NULL;
}

bool aws_s3_parse_error(const char *body, size_t len, char *code, size_t codecap, char *msg,
                        size_t msgcap)
{
    copy_trunc(code, codecap, "", 0);
    copy_trunc(msg, msgcap, "", 0);
    if (!body)
        return false;
    size_t n = 0;
    const char *err = xml_elem(body, len, "Error", &n);
    if (!err)
        return false;
    size_t cn = 0, mn = 0;
    const char *c = xml_elem(err, n, "Code", &cn);
    if (!c || cn == 0)
        return false;
    copy_trunc(code, codecap, c, cn);
    const char *m = xml_elem(err, n, "Message", &mn);
    if (m)
        copy_trunc(msg, msgcap, m, mn);
    return true;
}

/* --------------------------------------------------------------- batches */

struct aws_call {
    struct aws_call *next;
    char *body;
    size_t len;
};

struct aws_batch {
    enum aws_batch_kind kind;
    cJSON *top;             /* the request without RequestItems: copied into every call */
    struct aws_call *head;  /* head is the call to send now */
    struct aws_call *tail;
    size_t calls;
};

static ls_err push_call(struct aws_batch *b, cJSON *request_items, bool front)
{
    cJSON *req = cJSON_Duplicate(b->top, 1);
    if (!req)
        return LS_ERR_NOMEM;
    cJSON_AddItemToObject(req, "RequestItems", request_items);
    char *text = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!text)
        return LS_ERR_NOMEM;
    struct aws_call *c = calloc(1, sizeof(*c));
    if (!c) {
        free(text);
        return LS_ERR_NOMEM;
    }
    c->body = text;
    c->len = strlen(text);
    if (front) {
        c->next = b->head;
        b->head = c;
        if (!b->tail)
            b->tail = c;
    } else {
        if (b->tail)
            b->tail->next = c;
        else
            b->head = c;
        b->tail = c;
    }
    return LS_OK;
}

/* The array of entries a table contributes: Keys (get) or the table's array (write). */
static const cJSON *table_entries(enum aws_batch_kind kind, const cJSON *table)
{
    if (kind == AWS_BATCH_WRITE)
        return cJSON_IsArray(table) ? table : NULL;
    if (!cJSON_IsObject(table))
        return NULL;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(table, "Keys");
    return cJSON_IsArray(k) ? k : NULL;
}

/* An empty table value for one call: the table's other fields (get), or []. */
static cJSON *table_shell(enum aws_batch_kind kind, const cJSON *table)
{
    if (kind == AWS_BATCH_WRITE)
        return cJSON_CreateArray();
    cJSON *t = cJSON_CreateObject();
    if (!t)
        return NULL;
    for (const cJSON *f = table->child; f; f = f->next) {
        if (strcmp(f->string, "Keys") == 0)
            continue;
        cJSON *d = cJSON_Duplicate(f, 1);
        if (!d) {
            cJSON_Delete(t);
            return NULL;
        }
        cJSON_AddItemToObject(t, f->string, d);
    }
    cJSON *keys = cJSON_AddArrayToObject(t, "Keys");
    if (!keys) {
        cJSON_Delete(t);
        return NULL;
    }
    return t;
}

static cJSON *shell_entries(enum aws_batch_kind kind, cJSON *shell)
{
    return kind == AWS_BATCH_WRITE ? shell : cJSON_GetObjectItemCaseSensitive(shell, "Keys");
}

/* Splits request_items (borrowed) into calls of at most `limit` entries, appended (or in front). */
static ls_err split_items(struct aws_batch *b, const cJSON *request_items, bool front)
{
    size_t limit = b->kind == AWS_BATCH_GET ? AWS_BATCH_GET_MAX_KEYS : AWS_BATCH_WRITE_MAX_ITEMS;
    cJSON *cur = NULL;
    size_t in_cur = 0;
    ls_err rc = LS_OK;
    /* Follow-ups go in front, in order: collect them first, then splice. */
    struct aws_call *saved_head = NULL, *saved_tail = NULL;
    if (front) {
        saved_head = b->head;
        saved_tail = b->tail;
        b->head = b->tail = NULL;
    }
    for (const cJSON *t = request_items->child; t; t = t->next) {
        const cJSON *entries = table_entries(b->kind, t);
        if (!entries)
            continue;
        cJSON *shell = NULL;
        for (const cJSON *e = entries->child; e; e = e->next) {
            if (!cur) {
                cur = cJSON_CreateObject();
                if (!cur) {
                    rc = LS_ERR_NOMEM;
                    goto out;
                }
                in_cur = 0;
            }
            if (!shell) {
                shell = table_shell(b->kind, t);
                if (!shell) {
                    rc = LS_ERR_NOMEM;
                    goto out;
                }
                cJSON_AddItemToObject(cur, t->string, shell);
            }
            cJSON *d = cJSON_Duplicate(e, 1);
            if (!d) {
                rc = LS_ERR_NOMEM;
                goto out;
            }
            cJSON_AddItemToArray(shell_entries(b->kind, shell), d);
            if (++in_cur == limit) {
                rc = push_call(b, cur, false);
                cur = NULL;
                shell = NULL;
                if (rc != LS_OK)
                    goto out;
            }
        }
    }
    if (cur) {
        rc = push_call(b, cur, false);
        cur = NULL;
    }
out:
    cJSON_Delete(cur);
    if (front) {
        if (b->tail) {
            b->tail->next = saved_head;
            if (saved_tail)
                b->tail = saved_tail;
        } else {
            b->head = saved_head;
            b->tail = saved_tail;
        }
    }
    return rc;
}

ls_err aws_batch_open(enum aws_batch_kind kind, const char *body, size_t len,
                      struct aws_batch **out, char *err, size_t errcap)
{
    ls_err rc = LS_OK;
    *out = NULL;
    struct aws_batch *b = calloc(1, sizeof(*b));
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!b) {
        rc = LS_ERR_NOMEM;
        goto out;
    }
    b->kind = kind;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errcap, "the request is not a JSON object");
        rc = LS_ERR_INVALID;
        goto out;
    }
    cJSON *items = cJSON_DetachItemFromObjectCaseSensitive(root, "RequestItems");
    b->top = root;
    root = NULL;
    if (!cJSON_IsObject(items) || !items->child) {
        cJSON_Delete(items);
        snprintf(err, errcap, "the request has no \"RequestItems\" object with a table in it");
        rc = LS_ERR_INVALID;
        goto out;
    }
    for (const cJSON *t = items->child; t; t = t->next) {
        if (!table_entries(kind, t)) {
            snprintf(err, errcap, "RequestItems.%s: expected %s", t->string,
                     kind == AWS_BATCH_GET ? "an object with a \"Keys\" array" : "an array of write requests");
            cJSON_Delete(items);
            rc = LS_ERR_INVALID;
            goto out;
        }
    }
    rc = split_items(b, items, false);
    cJSON_Delete(items);
    if (rc == LS_OK && !b->head) {
        snprintf(err, errcap, "the request has no %s", kind == AWS_BATCH_GET ? "keys" : "write requests");
        rc = LS_ERR_INVALID;
    }
    if (rc == LS_OK)
        b->calls = 0;
    for (struct aws_call *c = b->head; c; c = c->next)
        b->calls++;
out:
    cJSON_Delete(root);
    if (rc != LS_OK) {
        if (rc == LS_ERR_NOMEM)
            snprintf(err, errcap, "out of memory splitting the batch");
        aws_batch_free(b);
        return rc;
    }
    *out = b;
    return LS_OK;
}

const char *aws_batch_current(const struct aws_batch *b, size_t *len)
{
    if (!b || !b->head)
        return NULL;
    if (len)
        *len = b->head->len;
    return b->head->body;
}

size_t aws_batch_calls(const struct aws_batch *b)
{
    return b ? b->calls : 0;
}

ls_err aws_batch_reply(struct aws_batch *b, const char *resp, size_t len, bool *followup,
                       uint32_t *items)
{
    *followup = false;
    *items = 0;
    if (!b->head)
        return LS_ERR_INVALID;
    cJSON *root = cJSON_ParseWithLength(resp, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return LS_ERR_PARSE;
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "Responses");
    for (const cJSON *t = r ? r->child : NULL; t; t = t->next)
        *items += (uint32_t)cJSON_GetArraySize(t);
    /* The call is done; what it left unprocessed goes first. */
    struct aws_call *done = b->head;
    b->head = done->next;
    if (!b->head)
        b->tail = NULL;
    free(done->body);
    free(done);
    const cJSON *un = cJSON_GetObjectItemCaseSensitive(
        root, b->kind == AWS_BATCH_GET ? "UnprocessedKeys" : "UnprocessedItems");
    ls_err rc = LS_OK;
    if (cJSON_IsObject(un) && un->child) {
        struct aws_call *before = b->head;
        rc = split_items(b, un, true);
        *followup = b->head != before;
    }
    cJSON_Delete(root);
    return rc;
}

void aws_batch_free(struct aws_batch *b)
{
    if (!b)
        return;
    while (b->head) {
        struct aws_call *n = b->head->next;
        free(b->head->body);
        free(b->head);
        b->head = n;
    }
    cJSON_Delete(b->top);
    free(b);
}

/* ------------------------------------------------------------ URIs, sizes */

long aws_uri_encode(const char *s, size_t len, bool keep_slash, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                     ch == '-' || ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/');
        if (plain) {
            if (o + 1 >= cap)
                return -1;
            out[o++] = (char)ch;
        } else {
            if (o + 3 >= cap)
                return -1;
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    if (o >= cap)
        return -1;
    out[o] = '\0';
    return (long)o;
}

/* Standard normal by Box-Muller from two uniforms in (0, 1). */
static double std_normal(struct tmpl_rng *rng)
{
    double u1 = ((double)(tmpl_rng_next(rng) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(tmpl_rng_next(rng) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t aws_size_draw(const struct scn_size *d, struct tmpl_rng *rng)
{
    switch (d->kind) {
    case SCN_SIZE_FIXED:
        return d->lo;
    case SCN_SIZE_UNIFORM:
        return (uint64_t)tmpl_rng_range(rng, (int64_t)d->lo, (int64_t)d->hi);
    case SCN_SIZE_LOGNORMAL: {
        double x = d->median * exp(d->sigma * std_normal(rng));
        if (!(x >= 0))
            x = 0;
        if (x > (double)d->hi)
            return d->hi;
        return (uint64_t)(x + 0.5);
    }
    case SCN_SIZE_CHOICES: {
        if (d->weight_total == 0 || d->choice_count == 0)
            return 0;
        uint32_t pick = (uint32_t)tmpl_rng_range(rng, 0, (int64_t)d->weight_total - 1);
        for (size_t i = 0; i < d->choice_count; i++) {
            if (pick < d->choices[i].weight)
                return d->choices[i].bytes;
            pick -= d->choices[i].weight;
        }
        return d->choices[d->choice_count - 1].bytes;
    }
    }
    return 0;
}
