/*
 * ds_plain: forwarding to an http:// upstream (dynalite, s3rver, LocalStack
 * or any plain endpoint) byte for byte.
 *
 * The request goes on exactly as the target sent it (only an
 * "Expect: 100-continue" line is left out, since the proxy answered it, and
 * the path of an upstream URL such as http://host:4566/base is put before
 * the target's), so the target's own signature still holds for a server
 * that checks one (unless that path was added). The
 * reply is relayed as it arrives: the h1 response parser only finds where it
 * ends (and hands body bytes over for the recorder when the call is a batch
 * or failed). Upstream connections are kept alive in a pool and reused; a
 * reused connection that turns out closed before any reply byte (the
 * server's idle timeout raced the request) is retried once on a new one,
 * as HTTP clients do.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "downstream/ds_proxy_int.h"

struct ds_uconn {
    struct ds_ev ev;         /* DS_EV_UP */
    int fd;                  /* -1 once closed */
    struct ds_proxy *p;
    struct h1_parser *rp;
    struct ds_tconn *t;      /* the call it carries; NULL when idle */
    struct ds_buf out;       /* request bytes not yet written */
    uint32_t events;
    bool connecting;
    bool reused;             /* carried an earlier call */
    bool got_bytes;          /* some of this call's reply arrived */
    bool paused;
    struct ds_uconn *next;   /* idle list */
};

static void up_close(struct ds_proxy *p, struct ds_uconn *u);

bool ds_plain_free(struct ds_ev *ev)
{
    if (ev->kind != DS_EV_UP)
        return false;
    struct ds_uconn *u = (struct ds_uconn *)ev;
    h1_parser_close(u->rp);
    ds_buf_free(&u->out);
    free(u);
    return true;
}

ls_err ds_plain_open(struct ds_proxy *p, char *err, size_t errcap)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(p->up->host, p->up->port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errcap, "downstream %s: cannot resolve %s: %s",
                 awsconf_service_name(p->svc), p->up->host, gai_strerror(rc));
        return LS_ERR_IO;
    }
    memcpy(&p->up_addr, res->ai_addr, res->ai_addrlen);
    p->up_addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return LS_OK;
}

/* The h1 parser's body bytes: kept when the recorder will read them. */
static int on_body(void *ctx, const char *data, size_t len)
{
    struct ds_uconn *u = ctx;
    struct ds_tconn *t = u->t;
    if (t == NULL)
        return 0;
    if (!t->capture) {
        bool batch = ds_op_is_batch(t->done.call.op);
        if (!batch && h1_head(u->rp)->status < 300)
            return 0;
        t->capture = true;
        t->cap_max = batch ? DS_CAPTURE_BATCH : DS_CAPTURE_ERROR;
    }
    size_t room = t->cap.len < t->cap_max ? t->cap_max - t->cap.len : 0;
    if (room > 0)
        (void)ds_buf_add(&t->cap, data, len < room ? len : room);
    return 0;
}

static void up_watch(struct ds_proxy *p, struct ds_uconn *u)
{
    uint32_t want = 0;
    if (u->connecting || ds_buf_avail(&u->out) > 0)
        want |= EPOLLOUT;
    if (!u->paused)
        want |= EPOLLIN | EPOLLRDHUP;
    ds_watch(p, u->fd, &u->ev, &u->events, want ? want : EPOLLERR);
}

static struct ds_uconn *up_new(struct ds_proxy *p, char *why, size_t cap)
{
    struct ds_uconn *u = calloc(1, sizeof(*u));
    if (u == NULL || h1_parser_open(on_body, u, &u->rp) != LS_OK) {
        free(u);
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    u->ev.kind = DS_EV_UP;
    u->p = p;
    u->fd = socket(p->up_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd < 0) {
        snprintf(why, cap, "socket: %s", strerror(errno));
        ds_plain_free(&u->ev);
        return NULL;
    }
    int one = 1;
    setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(u->fd, (struct sockaddr *)&p->up_addr, p->up_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            snprintf(why, cap, "connect: %s", strerror(errno));
            close(u->fd);
            ds_plain_free(&u->ev);
            return NULL;
        }
        u->connecting = true;
    }
    return u;
}

/* Takes the upstream connection most recently idle. */
static struct ds_uconn *up_pop(struct ds_proxy *p)
{
    struct ds_uconn *u = p->idle;
    if (u) {
        p->idle = u->next;
        p->nidle--;
        u->next = NULL;
    }
    return u;
}

static void up_remove_idle(struct ds_proxy *p, struct ds_uconn *u)
{
    for (struct ds_uconn **pp = &p->idle; *pp; pp = &(*pp)->next) {
        if (*pp == u) {
            *pp = u->next;
            p->nidle--;
            u->next = NULL;
            return;
        }
    }
}

static void up_close(struct ds_proxy *p, struct ds_uconn *u)
{
    if (u->fd < 0)
        return;
    if (u->t == NULL)
        up_remove_idle(p, u);
    ds_watch(p, u->fd, &u->ev, &u->events, 0);
    close(u->fd);
    u->fd = -1;
    if (u->t)
        u->t->up = NULL;
    u->t = NULL;
    ds_bury(p, &u->ev);
}

/*
 * Copies the request as it came, without an Expect line the proxy answered
 * itself, and with the upstream URL's path (if it has one) before its target.
 */
static bool fill_request(struct ds_proxy *p, struct ds_uconn *u, struct ds_tconn *t)
{
    const char *base = t->in.p + t->in.start;
    size_t total = (size_t)t->req.msg_len;
    size_t at = t->req.target.off;
    size_t from = total, to = total;
    ds_buf_clear(&u->out);
    for (uint32_t i = 0; i < t->req.nfields && t->sent_continue; i++) {
        const struct h1req_field *f = &t->req.fields[i];
        if (f->name.len == 6 && strncasecmp(base + f->name.off, "expect", 6) == 0) {
            from = f->name.off;
            const char *nl = memchr(base + from, '\n', t->req.head_len - from);
            to = nl ? (size_t)(nl - base) + 1 : from;
            break;
        }
    }
    const char *prefix = base[at] == '/' ? p->up->path_prefix : "";
    return ds_buf_add(&u->out, base, at) && ds_buf_add(&u->out, prefix, strlen(prefix)) &&
           ds_buf_add(&u->out, base + at, from - at) && ds_buf_add(&u->out, base + to, total - to);
}

static void up_write(struct ds_proxy *p, struct ds_uconn *u);

static void start_on(struct ds_proxy *p, struct ds_tconn *t, struct ds_uconn *u)
{
    u->t = t;
    t->up = u;
    u->got_bytes = false;
    u->paused = false;
    h1_parser_reset(u->rp);
    if (!fill_request(p, u, t)) {
        ds_upstream_failed(p, t, false, "out of memory");
        return;
    }
    if (!u->connecting)
        up_write(p, u);
    if (u->fd >= 0)
        up_watch(p, u);
}

void ds_plain_forward(struct ds_proxy *p, struct ds_tconn *t)
{
    char why[160];
    struct ds_uconn *u = t->up_retried ? NULL : up_pop(p);
    if (u) {
        u->reused = true;
    } else if ((u = up_new(p, why, sizeof why)) == NULL) {
        ds_upstream_failed(p, t, false, "%.40s:%s: %s", p->up->host, p->up->port, why);
        return;
    }
    start_on(p, t, u);
}

void ds_plain_abandon(struct ds_proxy *p, struct ds_tconn *t)
{
    struct ds_uconn *u = t->up;
    t->up = NULL;
    if (u) {
        u->t = NULL;
        up_close(p, u); /* its reply is unfinished: the connection is of no further use */
    }
}

void ds_plain_pace(struct ds_proxy *p, struct ds_tconn *t, bool pause)
{
    struct ds_uconn *u = t->up;
    if (u == NULL || u->fd < 0)
        return;
    u->paused = pause;
    up_watch(p, u);
}

void ds_plain_close_idle(struct ds_proxy *p)
{
    while (p->idle)
        up_close(p, p->idle);
}

/* The connection failed before or during the reply: retried once when that is safe. */
static void up_failed(struct ds_proxy *p, struct ds_uconn *u, const char *why)
{
    struct ds_tconn *t = u->t;
    bool retry = t && u->reused && !u->got_bytes && !t->up_retried;
    up_close(p, u);
    if (t == NULL)
        return;
    if (retry) {
        t->up_retried = true;
        ds_plain_forward(p, t);
        return;
    }
    ds_upstream_failed(p, t, false, "%.40s:%s: %s", p->up->host, p->up->port, why);
}

static void up_write(struct ds_proxy *p, struct ds_uconn *u)
{
    while (ds_buf_avail(&u->out) > 0) {
        ssize_t n = send(u->fd, u->out.p + u->out.start, ds_buf_avail(&u->out), MSG_NOSIGNAL);
        if (n > 0) {
            ds_buf_consume(&u->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        up_failed(p, u, n < 0 ? strerror(errno) : "connection closed");
        return;
    }
}

/* The reply is complete: the connection goes back to the pool when it may. */
static void reply_complete(struct ds_proxy *p, struct ds_uconn *u, bool keep)
{
    struct ds_tconn *t = u->t;
    uint16_t status = h1_head(u->rp)->status;
    t->up = NULL;
    u->t = NULL;
    if (keep && p->nidle < DS_IDLE_UPSTREAM_MAX && !atomic_load(&p->stopping)) {
        u->reused = true;
        u->paused = false;
        u->next = p->idle;
        p->idle = u;
        p->nidle++;
        up_watch(p, u);
    } else {
        up_close(p, u);
    }
    ds_reply_done(p, t, status);
}

static void up_read(struct ds_proxy *p, struct ds_uconn *u)
{
    char *buf = p->scratch;
    for (;;) {
        ssize_t n = recv(u->fd, buf, sizeof p->scratch, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        struct ds_tconn *t = u->t;
        if (t == NULL) { /* idle: the server closed it, or sent what nobody asked for */
            up_close(p, u);
            return;
        }
        if (n <= 0) {
            if (n == 0 && u->got_bytes && h1_eof(u->rp) == LS_OK) {
                reply_complete(p, u, false); /* a reply delimited by the close */
                return;
            }
            up_failed(p, u, n < 0 ? strerror(errno)
                           : u->got_bytes ? "connection closed in the middle of the reply"
                                          : "connection closed before a reply");
            return;
        }
        u->got_bytes = true;
        size_t used = 0;
        if (h1_feed(u->rp, buf, (size_t)n, &used) != LS_OK) {
            char why[240];
            snprintf(why, sizeof why, "bad reply: %s", h1_error(u->rp));
            up_failed(p, u, why);
            return;
        }
        bool head = t->is_head && h1_head_done(u->rp); /* its reply ends with the head */
        if (!ds_reply_bytes(p, t, buf, used)) {
            up_failed(p, u, "out of memory");
            return;
        }
        if (u->fd < 0 || u->t != t)
            return; /* the target went away while the bytes were written */
        if (h1_complete(u->rp) || head) {
            reply_complete(p, u, h1_head(u->rp)->keep_alive && used == (size_t)n);
            return;
        }
        if (u->paused)
            return;
    }
}

void ds_plain_event(struct ds_proxy *p, struct ds_ev *ev, uint32_t events)
{
    struct ds_uconn *u = (struct ds_uconn *)ev;
    if (u->fd < 0)
        return;
    if (u->connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        int e = 0;
        socklen_t el = sizeof e;
        getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &e, &el);
        if (e != 0) {
            char why[160];
            snprintf(why, sizeof why, "connect: %s", strerror(e));
            up_failed(p, u, why);
            return;
        }
        u->connecting = false;
    }
    if (events & EPOLLOUT) {
        up_write(p, u);
        if (u->fd < 0)
            return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        up_read(p, u);
        if (u->fd < 0)
            return;
    }
    up_watch(p, u);
}
