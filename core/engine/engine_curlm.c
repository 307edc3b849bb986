/*
 * engine_curlm: a worker's libcurl multi handle on its epoll loop (see
 * engine_curlm.h): socket and timer callbacks, the hand-over of finished
 * transfers to their owners, and the options every easy handle gets.
 */
#include "engine/engine_curlm.h"

#include <stdlib.h>
#include <sys/epoll.h>

struct curlm {
    CURLM *multi;
    uint64_t deadline_ns;  /* UINT64_MAX: no curl timer */
    uint64_t tag;          /* epoll tag of its sockets */
    unsigned users;        /* transports holding it open */
};

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct worker *w = userp;
    struct curlm *cm = w->curlm;
    (void)easy;
    struct epoll_event ev = {0};
    ev.data.u64 = cm->tag | (uint64_t)(uint32_t)s;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(cm->multi, s, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    if (socketp) {
        epoll_ctl(w->epfd, EPOLL_CTL_MOD, s, &ev);
    } else {
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, s, &ev) != 0)
            epoll_ctl(w->epfd, EPOLL_CTL_MOD, s, &ev);
        curl_multi_assign(cm->multi, s, w);
    }
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct worker *w = userp;
    struct curlm *cm = w->curlm;
    (void)multi;
    if (timeout_ms < 0)
        cm->deadline_ns = UINT64_MAX;
    else
        cm->deadline_ns = eng_now(w->e) + (uint64_t)timeout_ms * 1000000ull;
    return 0;
}

ls_err curlm_open(struct worker *w)
{
    if (w->curlm) {
        w->curlm->users++;
        return LS_OK;
    }
    struct curlm *cm = calloc(1, sizeof(*cm));
    if (!cm)
        return LS_ERR_NOMEM;
    cm->deadline_ns = UINT64_MAX;
    cm->users = 1;
    cm->tag = eng_ev_tag(w, curlm_on_socket);
    cm->multi = curl_multi_init();
    if (!cm->multi || !cm->tag) {
        curl_multi_cleanup(cm->multi);
        free(cm);
        return LS_ERR_CURL;
    }
    w->curlm = cm;
    curl_multi_setopt(cm->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(cm->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(cm->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(cm->multi, CURLMOPT_TIMERDATA, w);
    /* One cached connection per VU: keep-alive must never be starved by the cache size. */
    curl_multi_setopt(cm->multi, CURLMOPT_MAXCONNECTS, (long)(w->nvu + 4));
    return LS_OK;
}

void curlm_close(struct worker *w)
{
    struct curlm *cm = w->curlm;
    if (!cm || --cm->users > 0)
        return;
    curl_multi_cleanup(cm->multi);
    free(cm);
    w->curlm = NULL;
}

void curlm_bind(struct curlm_xfer *x, CURL *easy, void (*done)(struct curlm_xfer *, CURLcode))
{
    x->easy = easy;
    x->done = done;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
}

CURLMcode curlm_add(struct worker *w, struct curlm_xfer *x)
{
    return curl_multi_add_handle(w->curlm->multi, x->easy);
}

void curlm_remove(struct worker *w, struct curlm_xfer *x)
{
    if (w->curlm)
        curl_multi_remove_handle(w->curlm->multi, x->easy);
}

/* Hands every finished transfer to its owner. */
static void read_done(struct worker *w)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->curlm->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct curlm_xfer *x = NULL;
        CURLcode result = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        /* m is invalid once the handle is removed: the owner gets what it needs first. */
        curl_multi_remove_handle(w->curlm->multi, m->easy_handle);
        x->done(x, result);
    }
}

void curlm_on_socket(struct worker *w, uint64_t fd, uint32_t events)
{
    int flags = 0, running;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
        flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (events & EPOLLERR)
        flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(w->curlm->multi, (curl_socket_t)fd, flags, &running);
    read_done(w);
}

void curlm_tick(struct worker *w, uint64_t now)
{
    struct curlm *cm = w->curlm;
    if (!cm || now < cm->deadline_ns)
        return;
    int running;
    cm->deadline_ns = UINT64_MAX;
    curl_multi_socket_action(cm->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    read_done(w);
}

uint64_t curlm_deadline(const struct worker *w)
{
    return w->curlm ? w->curlm->deadline_ns : UINT64_MAX;
}

enum ls_errclass curlm_class(CURLcode result)
{
    switch (result) {
    case CURLE_OK:
        return LS_EC_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return LS_EC_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
        return LS_EC_CONNECT;
    default:
        return LS_EC_OTHER;
    }
}

void curlm_easy_setup(CURL *c, const struct scenario *s, curl_write_callback body_fn,
                      void *body_data, char *errbuf)
{
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_fn);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body_data);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(s->timeout_ns / 1000000ull));
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "loadscope/" LOADSCOPE_VERSION);
    if (!s->keepalive) {
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    }
}
