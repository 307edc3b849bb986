/*
 * engine_curlm: a worker's libcurl multi handle, shared by the transports
 * that use libcurl (MCP's Streamable HTTP over libcurl, AWS operations).
 *
 * The multi handle is driven from the worker's epoll loop with
 * curl_multi_socket_action (no polling of idle handles): its sockets are
 * registered under their own epoll tag (curlm_on_socket is the handler the
 * transports' rows name), its timer is a deadline the rows report and tick.
 * A finished transfer is handed to whoever added it: CURLOPT_PRIVATE of
 * every easy handle points to a struct curlm_xfer embedded in the owning
 * transport's per-VU state.
 *
 * Private to the libcurl transports (engine_http.c, engine_aws*.c).
 */
#ifndef LS_ENGINE_CURLM_H
#define LS_ENGINE_CURLM_H

#include <curl/curl.h>
#include <stdint.h>

#include "engine/transport.h"

/* The owner of an easy handle: called once its transfer is over (removed from the multi). */
struct curlm_xfer {
    void (*done)(struct curlm_xfer *x, CURLcode result);
    CURL *easy;
};

/*
 * Opens the worker's multi handle, or takes one more reference on it: each
 * transport that uses it opens it once (worker_open) and closes it once
 * (worker_close); the last close frees it.
 */
LS_MUST_CHECK ls_err curlm_open(struct worker *w);
void curlm_close(struct worker *w);

/* Points x at easy (CURLOPT_PRIVATE) for the multi handle's hand-over. */
void curlm_bind(struct curlm_xfer *x, CURL *easy, void (*done)(struct curlm_xfer *, CURLcode));

/* Starts / stops x's transfer on the worker's multi handle. */
LS_MUST_CHECK CURLMcode curlm_add(struct worker *w, struct curlm_xfer *x);
void curlm_remove(struct worker *w, struct curlm_xfer *x);

/* The epoll handler of the multi handle's sockets (a transport row's on_event). */
void curlm_on_socket(struct worker *w, uint64_t fd, uint32_t events);
/* Runs libcurl's timer when it is due. */
void curlm_tick(struct worker *w, uint64_t now);
/* When libcurl's timer is due; UINT64_MAX when none. */
uint64_t curlm_deadline(const struct worker *w);

/* The error class of a failed libcurl transfer (MCP and AWS alike). */
enum ls_errclass curlm_class(CURLcode result);

/*
 * The options every libcurl handle of a VU gets (MCP and AWS alike): body
 * callback and its data, error buffer, the scenario's timeout, HTTP/1.1,
 * keep-alive or not, the User-Agent.
 */
void curlm_easy_setup(CURL *c, const struct scenario *s, curl_write_callback body_fn,
                      void *body_data, char *errbuf);

#endif
