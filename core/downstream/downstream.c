/*
 * downstream: the handle (see downstream.h): resolving where each service's
 * calls go on to, the environment for the target, the origin, the tallies,
 * and stopping in order (proxies first, so every call they finish reaches
 * the recorder, then the recorder, which closes the last seconds).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "downstream/ds_int.h"
#include "util/clock.h"

/* ------------------------------------------------------------ ds_buf */

bool ds_buf_reserve(struct ds_buf *b, size_t more, size_t max)
{
    if (b->start > 0 && b->start == b->len) {
        b->start = b->len = 0;
    }
    if (b->len + more <= b->cap)
        return true;
    if (b->start > 0) { /* move the live part down before growing */
        memmove(b->p, b->p + b->start, b->len - b->start);
        b->len -= b->start;
        b->start = 0;
        if (b->len + more <= b->cap)
            return true;
    }
    size_t need = b->len + more;
    if (max > 0 && need > max)
        return false;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

bool ds_buf_add(struct ds_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return true;
    if (!ds_buf_reserve(b, n, 0))
        return false;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return true;
}

void ds_buf_consume(struct ds_buf *b, size_t n)
{
    b->start += n;
    if (b->start >= b->len)
        b->start = b->len = 0;
}

void ds_buf_clear(struct ds_buf *b)
{
    b->start = b->len = 0;
}

void ds_buf_free(struct ds_buf *b)
{
    free(b->p);
    *b = (struct ds_buf){0};
}

/* ------------------------------------------------------------ events */

void ds_event(struct downstream *d, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (d->sink.event == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->sink.event(d->sink.ctx, "downstream", msg);
}

/* ------------------------------------------------------------ upstreams */

/* Splits an http(s) base URL with curl_url(); err says what is wrong. */
static ls_err parse_upstream(const char *url, struct ds_upstream *up, char *err, size_t errcap)
{
    ls_err rc = LS_ERR_INVALID;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *user = NULL;
    if (u == NULL)
        return LS_ERR_NOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(err, errcap, "\"%s\" is not a URL", url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
        snprintf(err, errcap, "\"%s\": an upstream URL takes no user and no query", url);
        goto out;
    }
    up->tls = strcasecmp(scheme, "https") == 0;
    if (!up->tls && strcasecmp(scheme, "http") != 0) {
        snprintf(err, errcap, "\"%s\": expected http:// or https://", url);
        goto out;
    }
    bool has_port = curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK;
    (void)curl_url_get(u, CURLUPART_PATH, &path, 0);
    const char *p = path && strcmp(path, "/") != 0 ? path : "";
    size_t pl = strlen(p);
    while (pl > 0 && p[pl - 1] == '/')
        pl--;
    const char *bare = host[0] == '[' ? host + 1 : host; /* connect() wants no brackets */
    size_t bl = strlen(bare) - (host[0] == '[' ? 1 : 0);
    if (bl >= sizeof up->host || pl >= sizeof up->path_prefix) {
        snprintf(err, errcap, "\"%s\": host or path too long", url);
        goto out;
    }
    memcpy(up->host, bare, bl);
    up->host[bl] = '\0';
    snprintf(up->port, sizeof up->port, "%s", has_port ? port : up->tls ? "443" : "80");
    if (has_port)
        snprintf(up->authority, sizeof up->authority, "%s:%s", host, port);
    else
        snprintf(up->authority, sizeof up->authority, "%s", host);
    memcpy(up->path_prefix, p, pl);
    up->path_prefix[pl] = '\0';
    int n = snprintf(up->url, sizeof up->url, "%s://%s%s", up->tls ? "https" : "http",
                     up->authority, up->path_prefix);
    if (n < 0 || (size_t)n >= sizeof up->url) {
        snprintf(err, errcap, "\"%s\": URL too long", url);
        goto out;
    }
    rc = LS_OK;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}

/* The configuration chain, read once when some service needs it. */
static ls_err need_conf(struct downstream *d, const struct downstream_opts *o, char *err,
                        size_t errcap)
{
    if (d->have_conf)
        return LS_OK;
    char why[400];
    ls_err rc = awsconf_load(o->aws_profile, o->aws_region, NULL, &d->conf, why, sizeof why);
    if (rc != LS_OK) {
        snprintf(err, errcap, "downstream: AWS configuration: %s", why);
        return rc;
    }
    d->have_conf = true;
    return LS_OK;
}

/* ------------------------------------------------------------ the handle */

ls_err downstream_open(const struct downstream_opts *o, const struct ds_sink *sink,
                       struct downstream **out, char *err, size_t errcap)
{
    ls_err rc = LS_OK;
    struct downstream *d = NULL;
    *out = NULL;
    if (err && errcap)
        err[0] = '\0';
    if (o == NULL || o->cfg == NULL) {
        snprintf(err, errcap, "downstream: no \"downstream\" in the scenario");
        return LS_ERR_INVALID;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return LS_ERR_NOMEM;
    d->cfg = o->cfg;
    d->nsteps = o->nsteps;
    if (sink)
        d->sink = *sink;
    atomic_init(&d->origin_ns, ls_now_ns());
    atomic_init(&d->origin_set, false);
    atomic_init(&d->seq, 0);
    const char *ca = getenv("AWS_CA_BUNDLE");
    if (ca != NULL && ca[0] != '\0' && (d->ca_bundle = strdup(ca)) == NULL) {
        rc = LS_ERR_NOMEM;
        goto fail;
    }
    if ((rc = ds_attr_init(&d->attr, o->nsteps)) != LS_OK || (rc = ds_model_open(&d->model)) != LS_OK)
        goto fail;

    for (int s = 0; s < AWS__SERVICES; s++) {
        const char *url = o->cfg->url[s];
        if (url == NULL)
            continue;
        if (strcmp(url, "aws") == 0) {
            if ((rc = need_conf(d, o, err, errcap)) != LS_OK)
                goto fail;
            url = d->conf.endpoint[s];
        }
        char why[300];
        if ((rc = parse_upstream(url, &d->up[s], why, sizeof why)) != LS_OK) {
            snprintf(err, errcap, "downstream %s: %s", awsconf_service_name((enum aws_service)s),
                     why);
            goto fail;
        }
        if (d->up[s].tls && (rc = need_conf(d, o, err, errcap)) != LS_OK)
            goto fail;
    }
    if ((rc = ds_recorder_open(d, &d->rec)) != LS_OK) {
        snprintf(err, errcap, "downstream: cannot start the recorder thread");
        goto fail;
    }
    size_t named = 0;
    for (int s = 0; s < AWS__SERVICES; s++) {
        if (o->cfg->url[s] == NULL)
            continue;
        if ((rc = ds_proxy_open(d, (enum aws_service)s, &d->up[s], &d->proxy[s], err, errcap)) !=
            LS_OK)
            goto fail;
        char *k = NULL, *v = NULL;
        if (asprintf(&k, "AWS_ENDPOINT_URL_%s", s == AWS_DYNAMODB ? "DYNAMODB" : "S3") < 0)
            k = NULL;
        if (asprintf(&v, "http://127.0.0.1:%u", ds_proxy_port(d->proxy[s])) < 0)
            v = NULL;
        d->env[d->env_count++] = (struct scn_kv){k, v};
        if (k == NULL || v == NULL) {
            rc = LS_ERR_NOMEM;
            goto fail;
        }
        named++;
    }
    if (named == 1) {
        char *k = strdup("AWS_ENDPOINT_URL"), *v = strdup(d->env[0].value);
        d->env[d->env_count++] = (struct scn_kv){k, v};
        if (k == NULL || v == NULL) {
            rc = LS_ERR_NOMEM;
            goto fail;
        }
    }
    *out = d;
    return LS_OK;
fail:
    if (rc == LS_ERR_NOMEM && err && errcap && err[0] == '\0')
        snprintf(err, errcap, "downstream: out of memory");
    downstream_close(d);
    return rc;
}

void downstream_env(const struct downstream *d, const struct scn_kv **kv, size_t *n)
{
    *kv = d->env;
    *n = d->env_count;
}

uint16_t downstream_port(const struct downstream *d, enum aws_service s)
{
    return (unsigned)s < AWS__SERVICES && d->proxy[s] ? ds_proxy_port(d->proxy[s]) : 0;
}

const char *downstream_upstream(const struct downstream *d, enum aws_service s)
{
    return (unsigned)s < AWS__SERVICES && d->proxy[s] ? d->up[s].url : NULL;
}

void downstream_set_origin(struct downstream *d, uint64_t mono_ns)
{
    atomic_store(&d->origin_ns, mono_ns);
    atomic_store(&d->origin_set, true);
}

void downstream_mcp_begin(struct downstream *d, int step)
{
    ds_attr_begin(&d->attr, step);
}

void downstream_mcp_end(struct downstream *d, int step)
{
    ds_attr_end(&d->attr, step);
}

void downstream_tally(const struct downstream *d, enum aws_service s, struct ds_tally *out)
{
    memset(out, 0, sizeof(*out));
    if ((unsigned)s < AWS__SERVICES && d->proxy[s])
        ds_proxy_tally(d->proxy[s], out);
}

void downstream_finish(struct downstream *d, uint64_t wait_ns)
{
    if (d == NULL || d->finished)
        return;
    d->finished = true;
    uint64_t deadline = ls_now_ns() + wait_ns;
    for (int s = 0; s < AWS__SERVICES; s++)
        if (d->proxy[s])
            ds_proxy_stop(d->proxy[s], deadline);
    ds_recorder_finish(d->rec);
}

void downstream_close(struct downstream *d)
{
    if (d == NULL)
        return;
    downstream_finish(d, 0);
    for (int s = 0; s < AWS__SERVICES; s++)
        ds_proxy_close(d->proxy[s]);
    ds_recorder_close(d->rec);
    ds_model_close(d->model);
    ds_attr_free(&d->attr);
    awsconf_free(&d->conf);
    free(d->ca_bundle);
    for (size_t i = 0; i < d->env_count; i++) {
        free(d->env[i].key);
        free(d->env[i].value);
    }
    free(d);
}

struct ds_model *downstream_model(struct downstream *d)
{
    return d->model;
}

size_t downstream_snapshot(struct downstream *d, struct ds_op_view *out, size_t cap)
{
    return ds_model_ops(d->model, out, cap);
}

size_t downstream_step_view(struct downstream *d, struct ds_step_view *out, size_t cap)
{
    return ds_model_steps(d->model, out, cap);
}
