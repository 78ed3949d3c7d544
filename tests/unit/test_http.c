/*
 * test_http.c - the services' HTTP server (http.h), driven over loopback with
 * libcurl: built-in endpoints, custom routes with bodies and query
 * arguments, 404/405/413, IPv6, and the listen errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "http.h"
#include "json.h"
#include "metrics.h"

/* ---- a tiny curl client ------------------------------------------------ */

typedef struct {
    long status;
    char *body;
    size_t body_len;
    char content_type[128];
    char allow[128];
} reply_t;

static size_t on_body(char *data, size_t size, size_t n, void *cls)
{
    reply_t *r = cls;
    size_t len = size * n;
    char *nb = realloc(r->body, r->body_len + len + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->body_len, data, len);
    r->body = nb;
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *cls)
{
    reply_t *r = cls;
    size_t len = size * n;
    if (len > 7 && strncasecmp(data, "Allow: ", 7) == 0) {
        size_t v = len - 7;
        while (v && (data[7 + v - 1] == '\r' || data[7 + v - 1] == '\n'))
            v--;
        if (v >= sizeof(r->allow))
            v = sizeof(r->allow) - 1;
        memcpy(r->allow, data + 7, v);
        r->allow[v] = '\0';
    }
    return len;
}

/* Performs one request; body may be NULL (no request body). */
static void fetch(const char *host, int port, const char *method, const char *path,
                  const char *body, size_t body_len, reply_t *r)
{
    memset(r, 0, sizeof(*r));
    char url[256];
    snprintf(url, sizeof(url), "http://%s:%d%s", host, port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("curl %s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct)
        snprintf(r->content_type, sizeof(r->content_type), "%s", ct);
    curl_easy_cleanup(c);
    if (!r->body) {
        r->body = calloc(1, 1);
        assert_non_null(r->body);
    }
}

static void get(int port, const char *path, reply_t *r)
{
    fetch("127.0.0.1", port, "GET", path, NULL, 0, r);
}

static void reply_free(reply_t *r)
{
    free(r->body);
    r->body = NULL;
}

/* ---- the service side ------------------------------------------------- */

typedef struct {
    atomic_int ready;
    atomic_int status_calls;
    ferry_metrics_t *metrics;
    ferry_http_t *http;
} service_t;

static int service_ready(void *opaque, char *reason, size_t reason_size)
{
    service_t *s = opaque;
    if (atomic_load(&s->ready))
        return 1;
    snprintf(reason, reason_size, "capture not connected to \"db1:3306\"");
    return 0;
}

static char *service_status(void *opaque)
{
    service_t *s = opaque;
    atomic_fetch_add(&s->status_calls, 1);
    ferry_json_t *j = ferry_json_new();
    ferry_json_object_begin(j);
    ferry_json_key(j, "state");
    ferry_json_string(j, "running");
    ferry_json_key(j, "ready");
    ferry_json_bool(j, atomic_load(&s->ready) != 0);
    ferry_json_object_end(j);
    char *text = ferry_json_steal(j);
    ferry_json_destroy(j);
    return text;
}

/* POST /echo: answers 201 with the body and the query arguments as JSON. */
static int echo_handler(void *opaque, const ferry_http_request_t *req, ferry_http_response_t *resp)
{
    (void)opaque;
    ferry_json_t *j = ferry_json_new();
    ferry_json_object_begin(j);
    ferry_json_key(j, "method");
    ferry_json_string(j, req->method);
    ferry_json_key(j, "path");
    ferry_json_string(j, req->path);
    ferry_json_key(j, "body");
    ferry_json_string_len(j, req->body, req->body_len);
    ferry_json_key(j, "args");
    ferry_json_array_begin(j);
    for (size_t i = 0; i < req->n_args; i++) {
        ferry_json_array_begin(j);
        ferry_json_string(j, req->args[i].name);
        ferry_json_string(j, req->args[i].value);
        ferry_json_array_end(j);
    }
    ferry_json_array_end(j);
    ferry_json_object_end(j);
    resp->body = ferry_json_steal(j);
    ferry_json_destroy(j);
    resp->content_type = "application/json";
    return 201;
}

static int teapot_handler(void *opaque, const ferry_http_request_t *req,
                          ferry_http_response_t *resp)
{
    (void)req;
    int *calls = opaque;
    (*calls)++;
    resp->body = strdup("short and stout");
    return 418;
}

static int bad_status_handler(void *opaque, const ferry_http_request_t *req,
                              ferry_http_response_t *resp)
{
    (void)opaque;
    (void)req;
    resp->body = strdup("this body must be freed by the server");
    return 42;
}

static int setup(void **state)
{
    service_t *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->metrics = ferry_metrics_new();
    ferry_counter_add(ferry_metrics_counter(s->metrics, "ferry_test_events_total", "Events",
                                            "table", "shop.orders"),
                      7);
    char errstr[256] = "";
    s->http = ferry_http_start(NULL, 0, s->metrics, service_ready, service_status, s, errstr,
                               sizeof(errstr));
    if (!s->http)
        fail_msg("ferry_http_start: %s", errstr);
    assert_true(ferry_http_port(s->http) > 0);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    service_t *s = *state;
    ferry_http_stop(s->http);
    ferry_metrics_destroy(s->metrics);
    free(s);
    return 0;
}

/* ---- tests ------------------------------------------------------------ */

static void healthz(void **state)
{
    service_t *s = *state;
    reply_t r;
    get(ferry_http_port(s->http), "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    assert_string_equal(r.content_type, "text/plain; charset=utf-8");
    reply_free(&r);

    fetch("127.0.0.1", ferry_http_port(s->http), "HEAD", "/healthz", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    reply_free(&r);
}

static void readyz(void **state)
{
    service_t *s = *state;
    int port = ferry_http_port(s->http);
    reply_t r;
    atomic_store(&s->ready, 0);
    get(port, "/readyz", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "capture not connected to \"db1:3306\"");
    reply_free(&r);

    atomic_store(&s->ready, 1);
    get(port, "/readyz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ready");
    reply_free(&r);
}

static void metrics(void **state)
{
    service_t *s = *state;
    reply_t r;
    get(ferry_http_port(s->http), "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(r.body, "# HELP ferry_test_events_total Events\n"
                                "# TYPE ferry_test_events_total counter\n"
                                "ferry_test_events_total{table=\"shop.orders\"} 7\n");
    reply_free(&r);
}

static void status(void **state)
{
    service_t *s = *state;
    reply_t r;
    atomic_store(&s->ready, 1);
    get(ferry_http_port(s->http), "/status", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, "{\"state\":\"running\",\"ready\":true}");
    assert_true(atomic_load(&s->status_calls) >= 1);
    reply_free(&r);
}

static void custom_route(void **state)
{
    service_t *s = *state;
    int port = ferry_http_port(s->http);
    assert_int_equal(ferry_http_route(s->http, "POST", "/echo", echo_handler, NULL), 0);
    reply_t r;
    const char body[] = "{\"table\":\"shop.orders\"}";
    fetch("127.0.0.1", port, "POST", "/echo?table=shop.orders&force&note=a%20b", body, strlen(body),
          &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, "{\"method\":\"POST\",\"path\":\"/echo\","
                                "\"body\":\"{\\\"table\\\":\\\"shop.orders\\\"}\","
                                "\"args\":[[\"table\",\"shop.orders\"],[\"force\",null],"
                                "[\"note\",\"a b\"]]}");
    reply_free(&r);

    /* a body with a NUL in it arrives whole */
    fetch("127.0.0.1", port, "POST", "/echo", "a\0b", 3, &r);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body, "\"body\":\"a\\u0000b\""));
    reply_free(&r);

    /* no body at all */
    fetch("127.0.0.1", port, "POST", "/echo", NULL, 0, &r);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body, "\"body\":\"\""));
    reply_free(&r);

    /* default content type, handler's own status */
    int calls = 0;
    assert_int_equal(ferry_http_route(s->http, "PUT", "/teapot", teapot_handler, &calls), 0);
    fetch("127.0.0.1", port, "PUT", "/teapot", "x", 1, &r);
    assert_int_equal(r.status, 418);
    assert_string_equal(r.body, "short and stout");
    assert_string_equal(r.content_type, "text/plain; charset=utf-8");
    assert_int_equal(calls, 1);
    reply_free(&r);

    /* an out-of-range status becomes a 500, and its body is not leaked */
    assert_int_equal(ferry_http_route(s->http, "POST", "/bad", bad_status_handler, NULL), 0);
    fetch("127.0.0.1", port, "POST", "/bad", "", 0, &r);
    assert_int_equal(r.status, 500);
    reply_free(&r);
}

static void route_registration_errors(void **state)
{
    service_t *s = *state;
    assert_int_equal(ferry_http_route(s->http, "GET", "/healthz", echo_handler, NULL),
                     FERRY_ERR_INVALID);
    assert_int_equal(ferry_http_route(s->http, "POST", "/dup", echo_handler, NULL), 0);
    assert_int_equal(ferry_http_route(s->http, "POST", "/dup", echo_handler, NULL),
                     FERRY_ERR_INVALID);
    assert_int_equal(ferry_http_route(s->http, "post", "/x", echo_handler, NULL),
                     FERRY_ERR_INVALID);
    assert_int_equal(ferry_http_route(s->http, "POST", "x", echo_handler, NULL), FERRY_ERR_INVALID);
    assert_int_equal(ferry_http_route(s->http, "POST", "/x?y", echo_handler, NULL),
                     FERRY_ERR_INVALID);
    assert_int_equal(ferry_http_route(s->http, "POST", "/x", NULL, NULL), FERRY_ERR_INVALID);
    assert_int_equal(ferry_http_route(NULL, "POST", "/x", echo_handler, NULL), FERRY_ERR_INVALID);
}

static void not_found_and_wrong_method(void **state)
{
    service_t *s = *state;
    int port = ferry_http_port(s->http);
    reply_t r;
    get(port, "/nope", &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    get(port, "/healthz/", &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);

    fetch("127.0.0.1", port, "POST", "/metrics", "x", 1, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET");
    reply_free(&r);

    assert_int_equal(ferry_http_route(s->http, "POST", "/pause", echo_handler, NULL), 0);
    assert_int_equal(ferry_http_route(s->http, "DELETE", "/pause", echo_handler, NULL), 0);
    get(port, "/pause", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST, DELETE");
    reply_free(&r);
}

static void body_too_large(void **state)
{
    service_t *s = *state;
    if (ferry_http_route(s->http, "POST", "/big", echo_handler, NULL) != 0)
        fail_msg("could not add route");
    size_t len = FERRY_HTTP_MAX_BODY + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, 'x', len);
    reply_t r;
    fetch("127.0.0.1", ferry_http_port(s->http), "POST", "/big", big, len, &r);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    /* exactly the limit is fine */
    fetch("127.0.0.1", ferry_http_port(s->http), "POST", "/big", big, len - 1, &r);
    assert_int_equal(r.status, 201);
    reply_free(&r);
    free(big);
}

static void port_in_use(void **state)
{
    service_t *s = *state;
    int port = ferry_http_port(s->http);
    char errstr[256] = "";
    ferry_http_t *second =
        ferry_http_start("127.0.0.1", port, NULL, NULL, NULL, NULL, errstr, sizeof(errstr));
    assert_null(second);
    char want[256];
    snprintf(want, sizeof(want), "could not listen on \"127.0.0.1:%d\": Address already in use",
             port);
    assert_string_equal(errstr, want);
}

static void bad_addresses(void **state)
{
    (void)state;
    char errstr[256] = "";
    /* TEST-NET-1: a valid address this host does not have */
    assert_null(
        ferry_http_start("192.0.2.1", 8080, NULL, NULL, NULL, NULL, errstr, sizeof(errstr)));
    assert_string_equal(errstr,
                        "could not listen on \"192.0.2.1:8080\": Cannot assign requested address");
    assert_null(
        ferry_http_start("127.0.0.1", 70000, NULL, NULL, NULL, NULL, errstr, sizeof(errstr)));
    assert_string_equal(errstr, "could not listen on \"127.0.0.1:70000\": port out of range");
    /* no errstr buffer at all is allowed */
    assert_null(ferry_http_start("127.0.0.1", -1, NULL, NULL, NULL, NULL, NULL, 0));
}

static void ipv6_and_defaults(void **state)
{
    (void)state;
    char errstr[256] = "";
    ferry_http_t *h = ferry_http_start("::1", 0, NULL, NULL, NULL, NULL, errstr, sizeof(errstr));
    if (!h) {
        /* a host without IPv6 loopback; say so instead of failing */
        print_message("skipping IPv6: %s\n", errstr);
        skip();
    }
    int port = ferry_http_port(h);
    reply_t r;
    fetch("[::1]", port, "GET", "/readyz", NULL, 0, &r);
    assert_int_equal(r.status, 200); /* no ready callback: ready */
    assert_string_equal(r.body, "ready");
    reply_free(&r);
    fetch("[::1]", port, "GET", "/status", NULL, 0, &r);
    assert_int_equal(r.status, 200); /* no status callback: empty object */
    assert_string_equal(r.body, "{}");
    reply_free(&r);
    fetch("[::1]", port, "GET", "/metrics", NULL, 0, &r);
    assert_int_equal(r.status, 200); /* no registry: empty exposition */
    assert_string_equal(r.body, "");
    reply_free(&r);

    /* the same port on IPv6 is taken: the message brackets the address */
    char want[256];
    snprintf(want, sizeof(want), "could not listen on \"[::1]:%d\": Address already in use", port);
    assert_null(ferry_http_start("::1", port, NULL, NULL, NULL, NULL, errstr, sizeof(errstr)));
    assert_string_equal(errstr, want);
    ferry_http_stop(h);
    ferry_http_stop(NULL);
}

static void restart_on_same_port(void **state)
{
    (void)state;
    char errstr[256] = "";
    ferry_http_t *h =
        ferry_http_start("0.0.0.0", 0, NULL, NULL, NULL, NULL, errstr, sizeof(errstr));
    assert_non_null(h);
    int port = ferry_http_port(h);
    reply_t r;
    get(port, "/healthz", &r); /* leaves a connection in TIME_WAIT */
    assert_int_equal(r.status, 200);
    reply_free(&r);
    ferry_http_stop(h);
    /* a stopped server frees its port at once */
    h = ferry_http_start("0.0.0.0", port, NULL, NULL, NULL, NULL, errstr, sizeof(errstr));
    if (!h)
        fail_msg("restart on port %d: %s", port, errstr);
    get(port, "/healthz", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    ferry_http_stop(h);
}

static int group_setup(void **state)
{
    (void)state;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(healthz, setup, teardown),
        cmocka_unit_test_setup_teardown(readyz, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(status, setup, teardown),
        cmocka_unit_test_setup_teardown(custom_route, setup, teardown),
        cmocka_unit_test_setup_teardown(route_registration_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(not_found_and_wrong_method, setup, teardown),
        cmocka_unit_test_setup_teardown(body_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(port_in_use, setup, teardown),
        cmocka_unit_test(bad_addresses),
        cmocka_unit_test(ipv6_and_defaults),
        cmocka_unit_test(restart_on_same_port),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
