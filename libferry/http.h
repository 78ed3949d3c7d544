/*
 * http.h - the small HTTP server every ferry service runs.
 *
 * It answers the operational endpoints that DESIGN.md promises for each
 * service, and the control routes ferryctl uses:
 *
 *   GET /healthz  200 "ok" while the process runs
 *   GET /readyz   200 "ready", or 503 with the reason the ready callback gave
 *   GET /metrics  the registry in Prometheus text format 0.0.4
 *   GET /status   the JSON the status callback builds (application/json)
 *   anything registered with ferry_http_route()
 *
 * An unknown path is 404, a known path with another method 405 (with an
 * Allow header); HEAD is answered wherever GET is. Request bodies are limited
 * to FERRY_HTTP_MAX_BODY bytes (413 above).
 *
 * The server runs on libmicrohttpd with a thread per connection, so a slow
 * callback delays only its own request. Callbacks and handlers therefore run
 * on server threads, several at a time: they must be thread-safe, and by
 * ferry's rule they only read atomics or take a snapshot the service's loop
 * publishes; they never block on the loop.
 */
#ifndef FERRY_HTTP_H
#define FERRY_HTTP_H

#include <stddef.h>

#include "metrics.h"

/* Largest request body a route accepts. */
#define FERRY_HTTP_MAX_BODY (1024 * 1024)

/*
 * Readiness: returns 1 when ready, 0 when not, and then writes a one-line
 * reason (NUL-terminated, at most reason_size bytes) into reason.
 */
typedef int (*ferry_http_ready_fn)(void *opaque, char *reason, size_t reason_size);

/* Status: returns malloc'd JSON text, which the server frees; NULL gives a 500. */
typedef char *(*ferry_http_status_fn)(void *opaque);

typedef struct ferry_http ferry_http_t;

/* One query-string argument, already percent-decoded. */
typedef struct ferry_http_arg {
    const char *name;
    const char *value; /* NULL for "?flag" without "=" */
} ferry_http_arg_t;

/* What a route handler is given. Everything in it is valid only during the call. */
typedef struct ferry_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* without the query string, e.g. "/pause" */
    const char *body;   /* NUL-terminated (may hold more NULs); "" without a body */
    size_t body_len;
    const ferry_http_arg_t *args; /* in the order they appeared */
    size_t n_args;
} ferry_http_request_t;

/*
 * What a route handler fills in. The server hands it over zeroed.
 *   body:         malloc'd NUL-terminated text that the server frees (also
 *                 when the handler returns an invalid status); NULL sends an
 *                 empty body.
 *   content_type: not freed; must stay valid until the handler returns (a
 *                 string literal in practice); NULL means
 *                 "text/plain; charset=utf-8".
 */
typedef struct ferry_http_response {
    char *body;
    const char *content_type;
} ferry_http_response_t;

/*
 * A route handler: returns the HTTP status code (100..599; anything else is
 * sent as 500) and fills resp.
 */
typedef int (*ferry_http_handler_fn)(void *opaque, const ferry_http_request_t *req,
                                     ferry_http_response_t *resp);

/*
 * Starts the server, listening on bind_addr:port. bind_addr is an IPv4 or
 * IPv6 literal ("127.0.0.1", "::1", "0.0.0.0" or "::" for all) or a host
 * name; NULL means "127.0.0.1". port 0 picks a free port (see
 * ferry_http_port()).
 *
 * metrics (may be NULL: empty /metrics), ready (NULL: always ready), status
 * (NULL: "{}") and opaque are borrowed and must outlive the server. Returns
 * the server, or NULL with a one-line message in errstr, such as
 *   could not listen on "127.0.0.1:8080": Address already in use
 * Stop it with ferry_http_stop().
 */
ferry_http_t *ferry_http_start(const char *bind_addr, int port, ferry_metrics_t *metrics,
                               ferry_http_ready_fn ready, ferry_http_status_fn status, void *opaque,
                               char *errstr, size_t errstr_size);

/* The port actually bound, also when port 0 was asked for. */
int ferry_http_port(const ferry_http_t *h);

/*
 * Adds a route: requests for exactly this method (e.g. "POST") and path
 * (e.g. "/pause", no query string) go to handler, with opaque (borrowed,
 * must outlive the server). May be called before or while requests are
 * served. Returns 0, FERRY_ERR_INVALID for a bad argument or a method and path
 * that already have a route (the built-in ones included), or
 * FERRY_ERR_NOMEM.
 */
int ferry_http_route(ferry_http_t *h, const char *method, const char *path,
                     ferry_http_handler_fn handler, void *opaque);

/*
 * Stops accepting, waits for requests in progress to finish, and frees the
 * server. After it returns no callback or handler runs. NULL is a no-op.
 */
void ferry_http_stop(ferry_http_t *h);

#endif
