/*
 * http.c - the services' HTTP server on libmicrohttpd (see http.h).
 *
 * We open the listening socket ourselves and hand it to libmicrohttpd: that
 * way a port in use or a bad address becomes one precise errstr line instead
 * of a message on stderr, IPv4 and IPv6 need no separate paths, and the port
 * picked for port 0 is read back with getsockname().
 *
 * Built-in endpoints are ordinary routes registered at start, so every
 * request goes through one dispatch path: collect the body, find the route
 * (404 / 405), call the handler, send what it returned.
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <microhttpd.h>

#include "err.h"
#include "log.h"

#define TEXT_PLAIN       "text/plain; charset=utf-8"
#define PROMETHEUS_TEXT  "text/plain; version=0.0.4; charset=utf-8"
#define APPLICATION_JSON "application/json"

typedef struct route {
    struct route *next;
    char *method;
    char *path;
    ferry_http_handler_fn handler;
    void *opaque;
} route_t;

struct ferry_http {
    struct MHD_Daemon *daemon;
    int port;
    ferry_metrics_t *metrics;
    ferry_http_ready_fn ready;
    ferry_http_status_fn status;
    void *opaque;
    pthread_mutex_t routes_lock; /* guards the route list; handlers run unlocked */
    route_t *routes, *routes_tail;
};

/* Per-request state, kept in libmicrohttpd's con_cls between calls. */
typedef struct {
    char *body;
    size_t len;
    size_t cap;
    bool too_large;
} request_ctx_t;

/* ---- built-in endpoints ---------------------------------------------- */

static int healthz_handler(void *opaque, const ferry_http_request_t *req,
                           ferry_http_response_t *resp)
{
    (void)opaque;
    (void)req;
    resp->body = strdup("ok");
    return 200;
}

static int readyz_handler(void *opaque, const ferry_http_request_t *req,
                          ferry_http_response_t *resp)
{
    (void)req;
    ferry_http_t *h = opaque;
    char reason[512] = "";
    int ready = h->ready ? h->ready(h->opaque, reason, sizeof(reason)) : 1;
    if (ready == 1) {
        resp->body = strdup("ready");
        return 200;
    }
    reason[sizeof(reason) - 1] = '\0';
    resp->body = strdup(reason[0] ? reason : "not ready");
    return 503;
}

static int metrics_handler(void *opaque, const ferry_http_request_t *req,
                           ferry_http_response_t *resp)
{
    (void)req;
    ferry_http_t *h = opaque;
    resp->body = ferry_metrics_render(h->metrics);
    if (!resp->body) {
        resp->body = strdup("could not render metrics: out of memory");
        return 500;
    }
    resp->content_type = PROMETHEUS_TEXT;
    return 200;
}

static int status_handler(void *opaque, const ferry_http_request_t *req,
                          ferry_http_response_t *resp)
{
    (void)req;
    ferry_http_t *h = opaque;
    resp->body = h->status ? h->status(h->opaque) : strdup("{}");
    if (!resp->body) {
        resp->body = strdup("could not build status");
        return 500;
    }
    resp->content_type = APPLICATION_JSON;
    return 200;
}

/* ---- routes ---------------------------------------------------------- */

static bool valid_method(const char *m)
{
    if (!m || !*m)
        return false;
    for (; *m; m++) {
        if (*m < 'A' || *m > 'Z')
            return false;
    }
    return true;
}

int ferry_http_route(ferry_http_t *h, const char *method, const char *path,
                     ferry_http_handler_fn handler, void *opaque)
{
    if (!h || !handler || !valid_method(method) || !path || path[0] != '/' || strchr(path, '?'))
        return FERRY_ERR_INVALID;
    route_t *r = calloc(1, sizeof(*r));
    if (!r)
        return FERRY_ERR_NOMEM;
    r->method = strdup(method);
    r->path = strdup(path);
    r->handler = handler;
    r->opaque = opaque;
    if (!r->method || !r->path) {
        free(r->method);
        free(r->path);
        free(r);
        return FERRY_ERR_NOMEM;
    }
    int rc = 0;
    pthread_mutex_lock(&h->routes_lock);
    for (const route_t *o = h->routes; o; o = o->next) {
        if (strcmp(o->method, method) == 0 && strcmp(o->path, path) == 0) {
            rc = FERRY_ERR_INVALID;
            break;
        }
    }
    if (rc == 0) {
        if (h->routes_tail)
            h->routes_tail->next = r;
        else
            h->routes = r;
        h->routes_tail = r;
    }
    pthread_mutex_unlock(&h->routes_lock);
    if (rc != 0) {
        free(r->method);
        free(r->path);
        free(r);
    }
    return rc;
}

/*
 * Finds the route for method and path. Returns 1 and the handler when there
 * is one, 0 when the path is unknown, -1 when the path exists for other
 * methods (listed, comma-separated, in allow). HEAD is served by GET routes.
 */
static int find_route(ferry_http_t *h, const char *method, const char *path,
                      ferry_http_handler_fn *handler, void **opaque, char *allow, size_t allow_size)
{
    int found = 0;
    size_t used = 0;
    allow[0] = '\0';
    pthread_mutex_lock(&h->routes_lock);
    for (const route_t *r = h->routes; r && found != 1; r = r->next) {
        if (strcmp(r->path, path) != 0)
            continue;
        if (strcmp(r->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
            *handler = r->handler;
            *opaque = r->opaque;
            found = 1;
            break;
        }
        found = -1;
        int n = snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "", r->method);
        if (n > 0 && (size_t)n < allow_size - used)
            used += (size_t)n;
    }
    pthread_mutex_unlock(&h->routes_lock);
    return found;
}

static void free_routes(ferry_http_t *h)
{
    route_t *r = h->routes;
    while (r) {
        route_t *next = r->next;
        free(r->method);
        free(r->path);
        free(r);
        r = next;
    }
    h->routes = h->routes_tail = NULL;
}

/* ---- request handling ------------------------------------------------ */

/* Queues a response; body is taken over (freed by libmicrohttpd) when owned. */
static enum MHD_Result send_response(struct MHD_Connection *conn, int status, char *body,
                                     bool owned, const char *content_type, const char *allow)
{
    struct MHD_Response *resp;
    if (body)
        resp = MHD_create_response_from_buffer(
            strlen(body), body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (owned)
            free(body);
        return MHD_NO; /* libmicrohttpd closes the connection */
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            content_type ? content_type : TEXT_PLAIN);
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_static(struct MHD_Connection *conn, int status, const char *text,
                                   const char *allow)
{
    return send_response(conn, status, (char *)text, false, TEXT_PLAIN, allow);
}

typedef struct {
    ferry_http_arg_t *args;
    size_t n;
    size_t cap;
    bool failed;
} arg_list_t;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    arg_list_t *l = cls;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        ferry_http_arg_t *na = realloc(l->args, cap * sizeof(*na));
        if (!na) {
            l->failed = true;
            return MHD_NO;
        }
        l->args = na;
        l->cap = cap;
    }
    l->args[l->n++] = (ferry_http_arg_t){.name = key, .value = value};
    return MHD_YES;
}

static enum MHD_Result dispatch(ferry_http_t *h, struct MHD_Connection *conn, const char *url,
                                const char *method, request_ctx_t *ctx)
{
    ferry_http_handler_fn handler = NULL;
    void *opaque = NULL;
    char allow[128];
    int found = find_route(h, method, url, &handler, &opaque, allow, sizeof(allow));
    if (found == 0)
        return send_static(conn, 404, "not found", NULL);
    if (found < 0)
        return send_static(conn, 405, "method not allowed", allow);
    if (ctx->too_large)
        return send_static(conn, 413, "request body too large", NULL);

    arg_list_t args = {0};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
    if (args.failed) {
        free(args.args);
        return send_static(conn, 500, "out of memory", NULL);
    }
    ferry_http_request_t req = {
        .method = method,
        .path = url,
        .body = ctx->body ? ctx->body : "",
        .body_len = ctx->len,
        .args = args.args,
        .n_args = args.n,
    };
    ferry_http_response_t resp = {0};
    int status = handler(opaque, &req, &resp);
    free(args.args);
    if (status < 100 || status > 599) {
        free(resp.body);
        return send_static(conn, 500, "handler returned an invalid status", NULL);
    }
    return send_response(conn, status, resp.body, true, resp.content_type, NULL);
}

/* Appends a piece of the request body; past the limit the rest is dropped. */
static void append_body(request_ctx_t *ctx, const char *data, size_t size)
{
    if (ctx->too_large)
        return;
    if (size > FERRY_HTTP_MAX_BODY - ctx->len) {
        ctx->too_large = true;
        return;
    }
    if (ctx->len + size + 1 > ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap : 1024;
        while (cap < ctx->len + size + 1)
            cap *= 2;
        char *nb = realloc(ctx->body, cap);
        if (!nb) {
            ctx->too_large = true; /* answered as 413; the next request may fare better */
            return;
        }
        ctx->body = nb;
        ctx->cap = cap;
    }
    memcpy(ctx->body + ctx->len, data, size);
    ctx->len += size;
    ctx->body[ctx->len] = '\0';
}

/*
 * libmicrohttpd calls this once when the headers are in, then once per piece
 * of body, then once more with no data: that last call answers.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    ferry_http_t *h = cls;
    request_ctx_t *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
            return MHD_NO;
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_data_size) {
        append_body(ctx, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(h, conn, url, method, ctx);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request_ctx_t *ctx = *con_cls;
    if (ctx) {
        free(ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's own messages (client errors, resource limits) go to our log. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512], quoted[600];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    ferry_log_warn("http server", "detail=%s", ferry_log_quote(msg, quoted, sizeof(quoted)));
}

/* ---- listening socket ------------------------------------------------ */

/* "127.0.0.1:8080" or "[::1]:8080", for messages. */
static void format_endpoint(char *buf, size_t size, const char *addr, int port)
{
    if (strchr(addr, ':'))
        snprintf(buf, size, "[%s]:%d", addr, port);
    else
        snprintf(buf, size, "%s:%d", addr, port);
}

/*
 * Binds and listens on addr:port, trying each address the name resolves to
 * until one works. Returns the socket, or -1 with errstr set.
 */
static int open_listener(const char *addr, int port, int *family, int *bound_port, char *errstr,
                         size_t errstr_size)
{
    char where[300];
    format_endpoint(where, sizeof(where), addr, port);
    if (port < 0 || port > 65535) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                      "could not listen on \"%s\": port out of range", where);
        return -1;
    }
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
    };
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(addr, service, &hints, &res);
    if (gai != 0) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID, "could not listen on \"%s\": %s",
                      where, gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        return -1;
    }
    int fd = -1, saved_errno = EADDRNOTAVAIL;
    for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        /* a restarted service may rebind while old connections sit in
         * TIME_WAIT; a live listener on the port still makes bind fail */
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0 ||
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
            saved_errno = errno;
            close(fd);
            fd = -1;
            continue;
        }
        *family = ai->ai_family;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "could not listen on \"%s\": %s", where,
                      strerror(saved_errno));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "could not listen on \"%s\": %s", where,
                      strerror(errno));
        close(fd);
        return -1;
    }
    if (ss.ss_family == AF_INET6)
        *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* ---- start and stop -------------------------------------------------- */

ferry_http_t *ferry_http_start(const char *bind_addr, int port, ferry_metrics_t *metrics,
                               ferry_http_ready_fn ready, ferry_http_status_fn status, void *opaque,
                               char *errstr, size_t errstr_size)
{
    if (!bind_addr)
        bind_addr = "127.0.0.1";
    ferry_http_t *h = calloc(1, sizeof(*h));
    if (!h) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                      "could not start http server: out of memory");
        return NULL;
    }
    h->metrics = metrics;
    h->ready = ready;
    h->status = status;
    h->opaque = opaque;
    if (pthread_mutex_init(&h->routes_lock, NULL) != 0) {
        free(h);
        ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                      "could not start http server: mutex initialisation failed");
        return NULL;
    }
    if (ferry_http_route(h, "GET", "/healthz", healthz_handler, h) < 0 ||
        ferry_http_route(h, "GET", "/readyz", readyz_handler, h) < 0 ||
        ferry_http_route(h, "GET", "/metrics", metrics_handler, h) < 0 ||
        ferry_http_route(h, "GET", "/status", status_handler, h) < 0) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                      "could not start http server: out of memory");
        goto fail;
    }

    int family = AF_INET;
    int fd = open_listener(bind_addr, port, &family, &h->port, errstr, errstr_size);
    if (fd < 0)
        goto fail;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* Remember which socket fd is: on a failed start libmicrohttpd closes it
     * or not depending on where it failed, and the number may already name
     * another file by the time we look. */
    struct stat listen_st;
    fstat(fd, &listen_st);
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                                 on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
    if (!h->daemon) {
        struct stat now;
        if (fstat(fd, &now) == 0 && now.st_dev == listen_st.st_dev &&
            now.st_ino == listen_st.st_ino)
            close(fd);
        char where[300];
        format_endpoint(where, sizeof(where), bind_addr, h->port);
        ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                      "could not start http server on \"%s\": libmicrohttpd refused to start",
                      where);
        goto fail;
    }
    /* from here libmicrohttpd owns fd and closes it in MHD_stop_daemon() */
    return h;

fail:
    free_routes(h);
    pthread_mutex_destroy(&h->routes_lock);
    free(h);
    return NULL;
}

int ferry_http_port(const ferry_http_t *h)
{
    return h ? h->port : -1;
}

void ferry_http_stop(ferry_http_t *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free_routes(h);
    pthread_mutex_destroy(&h->routes_lock);
    free(h);
}
