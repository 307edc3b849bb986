/*
 * ds_tls: forwarding to an https:// upstream (the real AWS endpoints, or a
 * TLS endpoint of one's own) through libcurl.
 *
 * A libcurl multi handle runs on the proxy's own epoll loop
 * (curl_multi_socket_action, its sockets and timer registered like the
 * proxy's), so TLS adds no thread. Certificates are checked as libcurl does
 * by default; AWS_CA_BUNDLE, when set, is the CA file (as the AWS CLI and
 * SDKs read it). Each request is re-signed (ds_sign.c) since its Host
 * changes; the reply is rebuilt as an HTTP/1.1 message for the target from
 * the status, the upstream's fields (hop-by-hop ones left out) and the body
 * with its length. Connections to the upstream are kept in the multi
 * handle's cache and reused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include <curl/curl.h>

#include "downstream/ds_proxy_int.h"
#include "util/clock.h"

struct ds_csock {
    struct ds_ev ev;         /* DS_EV_CURL */
    int fd;                  /* -1 once libcurl let go of it */
    uint32_t events;
};

struct ds_easy {
    CURL *h;
    struct ds_easy *next;    /* free list */
    struct ds_tconn *t;
    struct curl_slist *sl;
    char *body;
    size_t body_len;
    struct ds_buf head;      /* the final response's fields, one "Name: value\r\n" each */
    char reason[64];
    struct ds_buf resp;
    char errbuf[CURL_ERROR_SIZE];
    char *url;
};

bool ds_tls_free(struct ds_ev *ev)
{
    if (ev->kind != DS_EV_CURL)
        return false;
    free(ev);
    return true;
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct ds_proxy *p = userp;
    struct ds_csock *cs = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (cs) {
            ds_watch(p, cs->fd, &cs->ev, &cs->events, 0);
            cs->fd = -1;
            curl_multi_assign(p->multi, s, NULL);
            ds_bury(p, &cs->ev);
        }
        return 0;
    }
    if (cs == NULL) {
        cs = calloc(1, sizeof(*cs));
        if (cs == NULL)
            return -1;
        cs->ev.kind = DS_EV_CURL;
        cs->fd = s;
        curl_multi_assign(p->multi, s, cs);
    }
    uint32_t want = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ds_watch(p, cs->fd, &cs->ev, &cs->events, want ? want : EPOLLERR);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct ds_proxy *p = userp;
    (void)multi;
    p->curl_deadline_ns = timeout_ms < 0 ? UINT64_MAX : ls_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    return 0;
}

ls_err ds_tls_open(struct ds_proxy *p, char *err, size_t errcap)
{
    p->curl_deadline_ns = UINT64_MAX;
    p->multi = curl_multi_init();
    if (p->multi == NULL) {
        snprintf(err, errcap, "downstream %s: libcurl multi handle", awsconf_service_name(p->svc));
        return LS_ERR_CURL;
    }
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
    return LS_OK;
}

static void easy_free(struct ds_easy *e)
{
    curl_easy_cleanup(e->h);
    curl_slist_free_all(e->sl); /* its lines were wiped when they were handed back */
    free(e->body);
    ds_buf_free(&e->head);
    ds_buf_free(&e->resp);
    free(e->url);
    free(e);
}

void ds_tls_close(struct ds_proxy *p)
{
    while (p->free_easy) {
        struct ds_easy *e = p->free_easy;
        p->free_easy = e->next;
        easy_free(e);
    }
    if (p->multi)
        curl_multi_cleanup(p->multi);
    p->multi = NULL;
}

uint64_t ds_tls_deadline(const struct ds_proxy *p)
{
    return p->curl_deadline_ns;
}

/* Wipes and frees the signed header list (it holds the signature and any token). */
static void drop_headers(struct ds_easy *e)
{
    for (struct curl_slist *l = e->sl; l; l = l->next)
        explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(e->sl);
    e->sl = NULL;
}

static void easy_put(struct ds_proxy *p, struct ds_easy *e)
{
    drop_headers(e);
    free(e->body);
    e->body = NULL;
    free(e->url);
    e->url = NULL;
    ds_buf_clear(&e->head);
    ds_buf_clear(&e->resp);
    e->t = NULL;
    e->next = p->free_easy;
    p->free_easy = e;
}

static bool is_hop(const char *l, size_t n, bool head_request)
{
    static const char *const hop[] = {"connection",  "keep-alive", "transfer-encoding",
                                      "proxy-connection", "te",    "trailer",
                                      "upgrade",     "content-length"};
    const char *colon = memchr(l, ':', n);
    size_t nl = colon ? (size_t)(colon - l) : n;
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++) {
        if (strlen(hop[i]) == nl && strncasecmp(l, hop[i], nl) == 0)
            return !(head_request && i == 7); /* HEAD: the length is the object's, keep it */
    }
    return false;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userp)
{
    struct ds_easy *e = userp;
    size_t n = size * nitems;
    size_t len = n;
    while (len > 0 && (buf[len - 1] == '\r' || buf[len - 1] == '\n'))
        len--;
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) { /* a new response (an interim one ends) */
        ds_buf_clear(&e->head);
        const char *sp = memchr(buf, ' ', len);
        const char *sp2 = sp ? memchr(sp + 1, ' ', len - (size_t)(sp + 1 - buf)) : NULL;
        size_t rl = sp2 ? len - (size_t)(sp2 + 1 - buf) : 0;
        if (rl >= sizeof e->reason)
            rl = sizeof e->reason - 1;
        memcpy(e->reason, sp2 ? sp2 + 1 : "", rl);
        e->reason[rl] = '\0';
        return n;
    }
    if (len == 0 || e->t == NULL || is_hop(buf, len, e->t->is_head))
        return n;
    if (!ds_buf_add(&e->head, buf, len) || !ds_buf_add(&e->head, "\r\n", 2))
        return 0;
    return n;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *userp)
{
    struct ds_easy *e = userp;
    size_t n = size * nmemb;
    if (!ds_buf_reserve(&e->resp, n, DS_BODY_MAX))
        return 0;
    memcpy(e->resp.p + e->resp.len, buf, n);
    e->resp.len += n;
    return n;
}

/* The transfer is over: the reply goes to the target. */
static void complete(struct ds_proxy *p, struct ds_tconn *t, struct ds_easy *e, CURLcode result)
{
    if (result != CURLE_OK) {
        const char *why = e->errbuf[0] ? e->errbuf : curl_easy_strerror(result);
        if (result == CURLE_PEER_FAILED_VERIFICATION || result == CURLE_SSL_CACERT_BADFILE ||
            result == CURLE_SSL_CONNECT_ERROR)
            ds_event(p->d, "%s proxy: TLS to %s failed: %s", awsconf_service_name(p->svc),
                     p->up->url, why);
        ds_upstream_failed(p, t, result == CURLE_OPERATION_TIMEDOUT, "%s", why);
        return;
    }
    long status = 0;
    curl_easy_getinfo(e->h, CURLINFO_RESPONSE_CODE, &status);
    char line[160];
    int n = snprintf(line, sizeof line, "HTTP/1.1 %ld %s\r\n", status,
                     e->reason[0] ? e->reason : "Reply");
    bool ok = ds_buf_add(&t->out, line, (size_t)n) &&
              ds_buf_add(&t->out, e->head.p, e->head.len);
    if (!t->is_head) {
        n = snprintf(line, sizeof line, "Content-Length: %zu\r\n", e->resp.len);
        ok = ok && ds_buf_add(&t->out, line, (size_t)n);
    }
    if (t->close_after)
        ok = ok && ds_buf_add(&t->out, "Connection: close\r\n", 19);
    ok = ok && ds_buf_add(&t->out, "\r\n", 2);
    size_t head_bytes = ds_buf_avail(&t->out);
    if (!ok || !ds_reply_bytes(p, t, e->resp.p, t->is_head ? 0 : e->resp.len)) {
        ds_upstream_failed(p, t, false, "out of memory");
        return;
    }
    if (t->fd < 0)
        return; /* the target left while the reply was written */
    t->out_bytes += head_bytes; /* ds_reply_bytes counted the body */
    bool batch = ds_op_is_batch(t->done.call.op);
    if (batch || status >= 300) {
        size_t max = batch ? DS_CAPTURE_BATCH : DS_CAPTURE_ERROR;
        t->capture = true;
        (void)ds_buf_add(&t->cap, e->resp.p, e->resp.len < max ? e->resp.len : max);
    }
    ds_reply_done(p, t, (uint16_t)status);
}

static void check_done(struct ds_proxy *p)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(p->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct ds_easy *e = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&e);
        CURLcode result = m->data.result;
        curl_multi_remove_handle(p->multi, m->easy_handle);
        struct ds_tconn *t = e->t;
        drop_headers(e);
        if (t) {
            t->easy = NULL;
            e->t = NULL;
            complete(p, t, e, result);
        }
        easy_put(p, e);
    }
}

void ds_tls_socket(struct ds_proxy *p, struct ds_ev *ev, uint32_t events)
{
    struct ds_csock *cs = (struct ds_csock *)ev;
    int running = 0;
    if (cs->fd < 0)
        return;
    int flags = (events & EPOLLIN ? CURL_CSELECT_IN : 0) | (events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                (events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    curl_multi_socket_action(p->multi, cs->fd, flags, &running);
    check_done(p);
}

void ds_tls_timeout(struct ds_proxy *p)
{
    int running = 0;
    p->curl_deadline_ns = UINT64_MAX;
    curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(p);
}

static struct ds_easy *easy_get(struct ds_proxy *p)
{
    struct ds_easy *e = p->free_easy;
    if (e) {
        p->free_easy = e->next;
        e->next = NULL;
        curl_easy_reset(e->h);
        e->errbuf[0] = '\0';
        e->reason[0] = '\0';
        return e;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    if ((e->h = curl_easy_init()) == NULL) {
        free(e);
        return NULL;
    }
    return e;
}

/* Splits the request's fields into NUL-terminated names and values for the signer. */
static char *field_copy(const char *base, struct h1req_span s)
{
    char *c = malloc(s.len + 1u);
    if (c) {
        memcpy(c, base + s.off, s.len);
        c[s.len] = '\0';
    }
    return c;
}

void ds_tls_forward(struct ds_proxy *p, struct ds_tconn *t)
{
    const char *base = t->in.p + t->in.start;
    const struct h1req *r = &t->req;
    struct ds_easy *e = easy_get(p);
    char *names[H1REQ_FIELDS_MAX] = {0}, *values[H1REQ_FIELDS_MAX] = {0};
    char *method = field_copy(base, r->method), *target = field_copy(base, r->target);
    char *path = NULL;
    char why[300] = "out of memory";
    struct ds_hdrs hd = {0};
    bool ok = e != NULL && method != NULL && target != NULL;
    bool has_ctype = false;
    for (uint32_t i = 0; i < r->nfields && ok; i++) {
        names[i] = field_copy(base, r->fields[i].name);
        values[i] = field_copy(base, r->fields[i].value);
        ok = names[i] && values[i];
        has_ctype = has_ctype || (ok && strcasecmp(names[i], "content-type") == 0);
    }
    if (!ok)
        goto fail;
    e->body_len = (size_t)r->body_len;
    e->body = malloc(e->body_len + 1);
    if (e->body == NULL)
        goto fail;
    h1req_body(r, base, e->body);
    /* the signed path is the upstream's: its base path, then the request's */
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    if (asprintf(&path, "%s%s", p->up->path_prefix, target) < 0 ||
        asprintf(&e->url, "%s%s%s%s", p->up->url, target, q ? "?" : "", q ? q : "") < 0) {
        path = NULL;
        goto fail;
    }
    if (ds_resign(&p->d->conf, p->svc, p->up->authority, method, path, q,
                  (const char *const *)names, (const char *const *)values, r->nfields,
                  (const uint8_t *)e->body, e->body_len, &hd, why, sizeof why) != LS_OK)
        goto fail;
    for (size_t i = 0; i < hd.n && ok; i++) {
        struct curl_slist *l = curl_slist_append(e->sl, hd.line[i]);
        ok = l != NULL;
        if (ok)
            e->sl = l;
    }
    static const char *const off[] = {"Accept:", "Expect:"};
    for (size_t i = 0; i < 2 && ok; i++) {
        struct curl_slist *l = curl_slist_append(e->sl, off[i]);
        ok = l != NULL;
        if (ok)
            e->sl = l;
    }
    if (ok && !has_ctype) { /* libcurl would add a form type to a body without one */
        struct curl_slist *l = curl_slist_append(e->sl, "Content-Type:");
        ok = l != NULL;
        if (ok)
            e->sl = l;
    }
    ds_hdrs_free(&hd);
    if (!ok)
        goto fail;
    CURL *h = e->h;
    curl_easy_setopt(h, CURLOPT_URL, e->url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, e->sl);
    curl_easy_setopt(h, CURLOPT_PRIVATE, e);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, e->errbuf);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, e);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, e);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(DS_UPSTREAM_TIMEOUT_NS / 1000000ull));
    if (p->d->ca_bundle)
        curl_easy_setopt(h, CURLOPT_CAINFO, p->d->ca_bundle);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") == 0 && e->body_len == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, e->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)e->body_len);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    e->t = t;
    t->easy = e;
    if (curl_multi_add_handle(p->multi, h) != CURLM_OK) {
        t->easy = NULL;
        e->t = NULL;
        snprintf(why, sizeof why, "libcurl refused the transfer");
        goto fail;
    }
    goto out;
fail:
    ds_hdrs_free(&hd);
    if (e)
        easy_put(p, e);
    ds_upstream_failed(p, t, false, "%s", why);
out:
    for (uint32_t i = 0; i < r->nfields; i++) {
        free(names[i]);
        free(values[i]);
    }
    free(method);
    free(target);
    free(path);
}

void ds_tls_abandon(struct ds_proxy *p, struct ds_tconn *t)
{
    struct ds_easy *e = t->easy;
    t->easy = NULL;
    if (e == NULL)
        return;
    curl_multi_remove_handle(p->multi, e->h);
    easy_put(p, e);
}
