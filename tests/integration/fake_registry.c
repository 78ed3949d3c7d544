/*
 * fake_registry.c - a stand-in Confluent Schema Registry for the tests.
 *
 * It serves only what ferry's registry client uses:
 *
 *   POST /subjects/{subject}/versions   {"schema": "..."} -> {"id": N}; the
 *                                       same schema text always gets the
 *                                       same id, whatever the subject
 *   GET  /schemas/ids/{id}              -> {"schema": "..."}, or 404 with
 *                                       {"error_code":40403,"message":"Schema not found"}
 *   GET  /stats                         -> {"requests":N,"register":N,"fetch":N}
 *                                       request counts, for cache tests (no auth)
 *
 * Schemas are kept as the escaped text the client sent. On the way back,
 * non-ASCII characters are written as \uXXXX escapes (surrogate pairs above
 * U+FFFF) and '/' as '\/', the way some JSON writers do, so that the client's
 * unescaping is exercised.
 *
 * Usage: fake_registry [--url-file FILE] [--user U --password P] [--first-id N]
 *
 * Listens on 127.0.0.1 on a free port, prints its URL on stdout and writes it
 * to FILE (atomically, through a rename), then serves until SIGTERM or
 * SIGINT. With --user, every endpoint but /stats wants that basic auth.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#define MAX_BODY (1u << 20)

typedef struct {
    char *data;
    size_t len;
    bool too_big;
} body_t;

/* All handlers run on MHD's single internal thread: no locking needed. */
static char **schemas; /* escaped schema text, index = id - first_id */
static size_t nschemas;
static uint32_t first_id = 1;
static const char *auth_user;
static const char *auth_password;
static unsigned long n_requests, n_register, n_fetch;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *json)
{
    if (!json)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(json);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/vnd.schemaregistry.v1+json");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, "WWW-Authenticate", "Basic realm=\"fake-registry\"");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status, int code,
                                   const char *message)
{
    char *json = NULL;
    if (asprintf(&json, "{\"error_code\":%d,\"message\":\"%s\"}", code, message) < 0)
        return MHD_NO;
    return reply(conn, status, json);
}

static bool authorised(struct MHD_Connection *conn)
{
    if (!auth_user)
        return true;
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(conn, &pass);
    bool ok = user && pass && strcmp(user, auth_user) == 0 && strcmp(pass, auth_password) == 0;
    MHD_free(user);
    MHD_free(pass);
    return ok;
}

/* Finds the "schema" string of a request body; returns its escaped text. */
static char *body_schema(const body_t *b)
{
    if (!b->data)
        return NULL;
    const char *p = b->data;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    if (*p++ != '{')
        return NULL;
    p = strstr(p, "\"schema\"");
    if (!p)
        return NULL;
    p += 8;
    while (*p == ' ')
        p++;
    if (*p++ != ':')
        return NULL;
    while (*p == ' ')
        p++;
    if (*p++ != '"')
        return NULL;
    const char *start = p;
    while (*p && *p != '"') {
        if (*p == '\\' && p[1])
            p++;
        p++;
    }
    if (*p != '"' || p == start)
        return NULL;
    return strndup(start, (size_t)(p - start));
}

/* Re-escapes stored text: non-ASCII as \uXXXX, '/' as '\/'. */
static char *reescape(const char *s)
{
    size_t cap = strlen(s) * 6 + 1, o = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p == '\\' && p[1]) {
            out[o++] = (char)*p++;
            out[o++] = (char)*p++;
        } else if (*p == '/') {
            out[o++] = '\\';
            out[o++] = '/';
            p++;
        } else if (*p < 0x80) {
            out[o++] = (char)*p++;
        } else {
            unsigned cp;
            int extra;
            if ((*p & 0xE0) == 0xC0) {
                cp = *p & 0x1F;
                extra = 1;
            } else if ((*p & 0xF0) == 0xE0) {
                cp = *p & 0x0F;
                extra = 2;
            } else {
                cp = *p & 0x07;
                extra = 3;
            }
            p++;
            for (int i = 0; i < extra && (*p & 0xC0) == 0x80; i++)
                cp = cp << 6 | (*p++ & 0x3F);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                o += (size_t)sprintf(out + o, "\\u%04x\\u%04x", 0xD800 + (cp >> 10),
                                     0xDC00 + (cp & 0x3FF));
            } else {
                o += (size_t)sprintf(out + o, "\\u%04x", cp);
            }
        }
    }
    out[o] = '\0';
    return out;
}

static enum MHD_Result do_register(struct MHD_Connection *conn, const body_t *b)
{
    n_register++;
    if (b->too_big)
        return reply_error(conn, 413, 413, "Request too large");
    char *schema = body_schema(b);
    if (!schema)
        return reply_error(conn, 422, 42201, "Invalid schema");
    size_t i;
    for (i = 0; i < nschemas; i++)
        if (strcmp(schemas[i], schema) == 0)
            break;
    if (i == nschemas) {
        char **grown = realloc(schemas, (nschemas + 1) * sizeof(*schemas));
        if (!grown) {
            free(schema);
            return MHD_NO;
        }
        schemas = grown;
        schemas[nschemas++] = schema;
    } else {
        free(schema);
    }
    char *json = NULL;
    if (asprintf(&json, "{\"id\":%" PRIu32 "}", first_id + (uint32_t)i) < 0)
        return MHD_NO;
    return reply(conn, MHD_HTTP_OK, json);
}

static enum MHD_Result do_fetch(struct MHD_Connection *conn, const char *id_text)
{
    n_fetch++;
    char *end;
    errno = 0;
    unsigned long long id = strtoull(id_text, &end, 10);
    if (errno || *end || !*id_text || id < first_id || id - first_id >= nschemas)
        return reply_error(conn, MHD_HTTP_NOT_FOUND, 40403, "Schema not found");
    char *text = reescape(schemas[id - first_id]);
    char *json = NULL;
    int n = text ? asprintf(&json, "{\"schema\":\"%s\"}", text) : -1;
    free(text);
    return n < 0 ? MHD_NO : reply(conn, MHD_HTTP_OK, json);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    body_t *b = *con_cls;
    if (!b) {
        if (!(b = calloc(1, sizeof(*b))))
            return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (b->len + *upload_data_size > MAX_BODY) {
            b->too_big = true;
        } else if (!b->too_big) {
            char *grown = realloc(b->data, b->len + *upload_data_size + 1);
            if (!grown)
                return MHD_NO;
            b->data = grown;
            memcpy(b->data + b->len, upload_data, *upload_data_size);
            b->len += *upload_data_size;
            b->data[b->len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    n_requests++;
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (get && strcmp(url, "/stats") == 0) {
        char *json = NULL;
        if (asprintf(&json, "{\"requests\":%lu,\"register\":%lu,\"fetch\":%lu}", n_requests,
                     n_register, n_fetch) < 0)
            return MHD_NO;
        return reply(conn, MHD_HTTP_OK, json);
    }
    if (!authorised(conn))
        return reply_error(conn, MHD_HTTP_UNAUTHORIZED, 401, "Unauthorized");

    const char *subj = "/subjects/", *ids = "/schemas/ids/", *tail = "/versions";
    size_t ulen = strlen(url);
    if (post && strncmp(url, subj, strlen(subj)) == 0 && ulen > strlen(subj) + strlen(tail) &&
        strcmp(url + ulen - strlen(tail), tail) == 0)
        return do_register(conn, b);
    if (get && strncmp(url, ids, strlen(ids)) == 0)
        return do_fetch(conn, url + strlen(ids));
    return reply_error(conn, MHD_HTTP_NOT_FOUND, 404, "HTTP 404 Not Found");
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    body_t *b = *con_cls;
    if (b) {
        free(b->data);
        free(b);
        *con_cls = NULL;
    }
}

static int write_url_file(const char *path, const char *url)
{
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp)
        return -1;
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = -1;
    if (f) {
        bool ok = fprintf(f, "%s\n", url) > 0;
        ok = fclose(f) == 0 && ok;
        if (ok && rename(tmp, path) == 0)
            rc = 0;
    }
    if (rc != 0)
        fprintf(stderr, "fake_registry: could not write \"%s\": %s\n", path, strerror(errno));
    free(tmp);
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: fake_registry [--url-file FILE] [--user U --password P] "
                    "[--first-id N]\n");
}

int main(int argc, char **argv)
{
    const char *url_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        if (strcmp(a, "--url-file") == 0)
            url_file = argv[++i];
        else if (strcmp(a, "--user") == 0)
            auth_user = argv[++i];
        else if (strcmp(a, "--password") == 0)
            auth_password = argv[++i];
        else if (strcmp(a, "--first-id") == 0)
            first_id = (uint32_t)strtoul(argv[++i], NULL, 0);
        else {
            usage();
            return 2;
        }
    }
    if (auth_user && !auth_password)
        auth_password = "";

    /* MHD's thread inherits this mask, so the signals reach sigwait() below */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle,
                         NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                         MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fake_registry: could not start the HTTP server\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", info ? (unsigned)info->port : 0u);
    printf("%s\n", url);
    fflush(stdout);
    if (url_file && write_url_file(url_file, url) != 0) {
        MHD_stop_daemon(d);
        return 1;
    }

    int sig;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    for (size_t i = 0; i < nschemas; i++)
        free(schemas[i]);
    free(schemas);
    return 0;
}
