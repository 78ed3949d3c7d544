/*
 * ferryctl_status.c - `ferryctl status` and `ferryctl wait`: what the
 * project's services say about themselves on /status, for a person (with a
 * progress bar per table during the full load) or for a script.
 */
#include "ferryctl.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *data;
    size_t len;
} buf_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buf_t *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > 4 * 1024 * 1024)
        return 0; /* a /status page is small; refuse anything huge */
    char *p = realloc(b->data, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, ptr, n);
    b->len += n;
    p[b->len] = '\0';
    b->data = p;
    return n;
}

/* Where the service listens: fixed port from the file, else its address file. */
int ferryctl_service_url(const ferry_conf_t *conf, const char *svc, char *url, size_t n, char *why,
                         size_t why_n)
{
    /* "consumer-2": instance 2 of consumer, n - 1 above a fixed port */
    char base[32];
    snprintf(base, sizeof(base), "%.*s", (int)strcspn(svc, "-"), svc);
    int port = ferry_conf_http_port(conf, base);
    if (port > 0) {
        if (svc[strlen(base)] == '-')
            port += atoi(svc + strlen(base) + 1) - 1;
        const char *bind = ferry_conf_get(conf, "http.bind");
        if (strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0)
            bind = "127.0.0.1";
        snprintf(url, n, strchr(bind, ':') ? "http://[%s]:%d" : "http://%s:%d", bind, port);
        return 0;
    }
    char dir[400], path[512];
    ferry_conf_runtime_dir(conf, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/%s.addr", dir, svc);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, why_n, "not running (no address file %s)", path);
        return -1;
    }
    if (!fgets(url, (int)n, f)) {
        fclose(f);
        snprintf(why, why_n, "not running (empty address file %s)", path);
        return -1;
    }
    fclose(f);
    url[strcspn(url, "\r\n")] = '\0';
    return 0;
}

static int fetch_status(const char *base, buf_t *body, char *why, size_t why_n)
{
    char url[600];
    snprintf(url, sizeof(url), "%s/status", base);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(why, why_n, "out of memory");
        return -1;
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        snprintf(why, why_n, "unreachable at %s: %s", base, *cerr ? cerr : curl_easy_strerror(rc));
        return -1;
    }
    if (code != 200) {
        snprintf(why, why_n, "%s/status answered HTTP %ld", base, code);
        return -1;
    }
    return 0;
}

static void print_uptime(long s)
{
    if (s >= 86400)
        printf("%ldd%02ldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        printf("%ldh%02ldm", s / 3600, s % 3600 / 60);
    else
        printf("%ldm%02lds", s / 60, s % 60);
}

/* Asks process name for /status: its document with "url", or {"error": text}. */
static json_t *fetch_one(const ferry_conf_t *conf, const char *name, int *ready)
{
    char url[512], why[700];
    buf_t body = {NULL, 0};
    int ok = ferryctl_service_url(conf, name, url, sizeof(url), why, sizeof(why)) == 0 &&
             fetch_status(url, &body, why, sizeof(why)) == 0;
    json_t *doc = NULL;
    if (ok) {
        json_error_t jerr;
        doc = json_loadb(body.data, body.len, 0, &jerr);
        if (!doc)
            snprintf(why, sizeof(why), "%s/status is not JSON: %s", url, jerr.text);
        else
            json_object_set_new(doc, "url", json_string(url));
    }
    free(body.data);
    if (!doc) {
        *ready = 0;
        return json_pack("{s:s}", "error", why);
    }
    *ready &= json_is_true(json_object_get(doc, "ready"));
    return doc;
}

/*
 * One "consumer" document for several consumers: an error if one does not
 * answer, else every table once, as the consumer that owns it tells it
 * (each marks its own tables "owned"; another's phase is only what it last
 * knew), or as the first one knows it while none owns it.
 */
static json_t *merge_consumers(json_t *all, int n)
{
    json_t *tables = json_array(), *seen = json_object();
    for (int k = 1; k <= n; k++) {
        char name[32];
        snprintf(name, sizeof(name), "consumer-%d", k);
        json_t *doc = json_object_get(all, name);
        const char *err = json_string_value(json_object_get(doc, "error"));
        if (err) {
            json_decref(tables);
            json_decref(seen);
            return json_pack("{s:s++}", "error", name, ": ", err);
        }
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(doc, "tables"), i, t)
        {
            const char *src = json_string_value(json_object_get(t, "source"));
            if (!src)
                continue;
            json_t *at = json_object_get(seen, src);
            if (!at) {
                json_object_set_new(seen, src, json_integer((json_int_t)json_array_size(tables)));
                json_array_append(tables, t);
            } else if (json_is_true(json_object_get(t, "owned"))) {
                json_array_set(tables, (size_t)json_integer_value(at), t);
            }
        }
    }
    json_decref(seen);
    return json_pack("{s:o,s:i}", "tables", tables, "instances", n);
}

/*
 * Asks every service for /status. Returns an object {process: document or
 * {"error": text}} (the caller decrefs) and sets *all_ready. With several
 * consumers each is there as consumer-<n>, and "consumer" is their merge.
 */
static json_t *fetch_all(const ferry_conf_t *conf, int *all_ready)
{
    json_t *all = json_object();
    int consumers = (int)ferry_conf_get_int(conf, "consumer.instances");
    *all_ready = 1;
    for (int i = 0; i < FERRYCTL_N_SERVICES; i++) {
        const char *svc = ferryctl_services[i];
        int copies = strcmp(svc, "consumer") == 0 && consumers > 1 ? consumers : 1;
        for (int k = 1; k <= copies; k++) {
            char name[32];
            if (copies > 1)
                snprintf(name, sizeof(name), "%s-%d", svc, k);
            else
                snprintf(name, sizeof(name), "%s", svc);
            json_object_set_new(all, name, fetch_one(conf, name, all_ready));
        }
        if (copies > 1)
            json_object_set_new(all, svc, merge_consumers(all, copies));
    }
    return all;
}

/* The producer's row estimate of a source table, or -1. */
static long long estimate_of(json_t *all, const char *source)
{
    json_t *tables = json_object_get(json_object_get(all, "producer"), "tables");
    size_t i;
    json_t *t;
    json_array_foreach(tables, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "source"));
        if (name && strcmp(name, source) == 0)
            return json_integer_value(json_object_get(t, "rows_estimate"));
    }
    return -1;
}

static void print_bar(double frac)
{
    int width = 24, filled = (int)(frac * width + 0.5);
    if (filled > width)
        filled = width;
    putchar('[');
    for (int i = 0; i < width; i++)
        putchar(i < filled ? '#' : '.');
    printf("] %3d%%", (int)(frac * 100 + 0.5));
}

/* The consumer's rates of a table over the last seconds, when it moves. */
static void print_rates(json_t *t)
{
    double rows = json_number_value(json_object_get(t, "rows_per_s"));
    double events = json_number_value(json_object_get(t, "events_per_s"));
    double bytes = json_number_value(json_object_get(t, "bytes_per_s"));
    if (rows < 0.5 && events < 0.5)
        return;
    printf(" (");
    if (rows >= 0.5)
        printf("%.0f rows/s, ", rows);
    if (events >= 0.5)
        printf("%.0f changes/s, ", events);
    printf("%.2f MB/s)", bytes / 1e6);
}

/* One line per table of the consumer, with a bar while it is in its full load. */
static void print_tables(json_t *all)
{
    json_t *tables = json_object_get(json_object_get(all, "consumer"), "tables");
    if (!json_is_array(tables) || json_array_size(tables) == 0)
        return;
    printf("tables\n");
    size_t i;
    json_t *t;
    json_array_foreach(tables, i, t)
    {
        const char *src = json_string_value(json_object_get(t, "source"));
        const char *dst = json_string_value(json_object_get(t, "destination"));
        const char *phase = json_string_value(json_object_get(t, "phase"));
        long long rows = json_integer_value(json_object_get(t, "rows_applied"));
        printf("  %-30s -> %-30s %-11s", src ? src : "?", dst ? dst : "?", phase ? phase : "?");
        long long est = src ? estimate_of(all, src) : -1;
        if (phase && strcmp(phase, "full") == 0 && est > 0)
            print_bar((double)rows / (double)est);
        /* rows the full load brought; changes applied since (the table's size is neither) */
        printf(" %lld rows loaded, %lld changes", rows,
               json_integer_value(json_object_get(t, "events_applied")));
        print_rates(t);
        json_t *lag = json_object_get(t, "lag_s");
        if (json_is_number(lag))
            printf("  lag %.1fs", json_number_value(lag));
        const char *err = json_string_value(json_object_get(t, "last_error"));
        if (err)
            printf("\n      error: %s", err);
        putchar('\n');
    }
}

int ferryctl_cmd_status(int argc, char **argv)
{
    int as_json = 0;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "ferryctl status: unexpected argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    ferry_conf_t *conf = ferryctl_open("status", path);
    if (!conf)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int all_ok;
    json_t *all = fetch_all(conf, &all_ok);
    if (as_json) {
        char *text = json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text)
            puts(text);
        free(text);
    } else {
        printf("project %s\n", ferry_conf_get(conf, "project.name"));
        const char *name;
        json_t *doc;
        json_object_foreach(all, name, doc)
        {
            if (json_object_get(doc, "instances"))
                continue; /* the consumers' merge: each is shown on its own */
            const char *err = json_string_value(json_object_get(doc, "error"));
            if (err) {
                printf("  %-11s %s\n", name, err);
                continue;
            }
            int ready = json_is_true(json_object_get(doc, "ready"));
            printf("  %-11s %-9s up ", name, ready ? "ready" : "NOT READY");
            print_uptime((long)json_integer_value(json_object_get(doc, "uptime_s")));
            printf("  pid %lld  %s\n", (long long)json_integer_value(json_object_get(doc, "pid")),
                   json_string_value(json_object_get(doc, "url")));
            const char *reason = json_string_value(json_object_get(doc, "not_ready_reason"));
            if (reason)
                printf("              %s\n", reason);
            const char *down = json_string_value(json_object_get(doc, "reconnecting"));
            if (down)
                printf("              starting over once the destination answers: %s\n", down);
            long long over = json_integer_value(json_object_get(doc, "restarts")) +
                             json_integer_value(json_object_get(doc, "snapshot_restarts"));
            if (over > 0)
                printf("              started over %lld time%s after losing its database\n", over,
                       over == 1 ? "" : "s");
            if (json_is_true(json_object_get(doc, "snapshot_waiting_for_consumer")))
                printf(
                    "              full load waiting for the consumer: %lld snapshot rows not "
                    "applied yet\n",
                    (long long)json_integer_value(json_object_get(doc, "snapshot_unapplied_rows")));
        }
        char failed[800];
        if (ferryctl_service_failed(conf, failed, sizeof(failed)))
            printf("  %s\n", failed);
        print_tables(all);
    }
    json_decref(all);
    curl_global_cleanup();
    ferry_conf_destroy(conf);
    return all_ok ? 0 : 1;
}

/*
 * Whether the consumer's tables all reached the goal: every table past its
 * full load (full-done), or every table incremental with lag under 1 s
 * (caught-up). why gets what is still missing.
 */
static int goal_reached(json_t *all, int caught_up, char *why, size_t n)
{
    json_t *consumer = json_object_get(all, "consumer");
    const char *err = json_string_value(json_object_get(consumer, "error"));
    if (err) {
        snprintf(why, n, "the consumer does not answer: %s", err);
        return 0;
    }
    json_t *producer = json_object_get(all, "producer");
    if (json_object_get(producer, "tables") &&
        !json_is_true(json_object_get(producer, "snapshot_done"))) {
        if (json_is_true(json_object_get(producer, "snapshot_waiting_for_consumer")))
            snprintf(why, n,
                     "the producer has not finished copying every table (it waits for the "
                     "consumer: %lld snapshot rows not applied yet)",
                     (long long)json_integer_value(
                         json_object_get(producer, "snapshot_unapplied_rows")));
        else
            snprintf(why, n, "the producer has not finished copying every table");
        return 0;
    }
    if (caught_up) {
        /* the consumer can only be as current as capture is */
        json_t *cap = json_object_get(producer, "capture");
        const char *state = json_string_value(json_object_get(cap, "state"));
        if (!state || strcmp(state, "streaming") != 0) {
            snprintf(why, n, "the producer's capture is %s", state ? state : "not running");
            return 0;
        }
        if (json_integer_value(json_object_get(cap, "lag_ms")) >= 1000) {
            snprintf(why, n, "the producer's capture lags %lld ms behind the source",
                     (long long)json_integer_value(json_object_get(cap, "lag_ms")));
            return 0;
        }
    }
    json_t *tables = json_object_get(consumer, "tables");
    if (!json_is_array(tables) || json_array_size(tables) == 0) {
        snprintf(why, n, "the consumer knows no table yet");
        return 0;
    }
    size_t i, waiting = 0;
    json_t *t;
    char first[400] = "";
    json_array_foreach(tables, i, t)
    {
        const char *phase = json_string_value(json_object_get(t, "phase"));
        const char *src = json_string_value(json_object_get(t, "source"));
        json_t *lag = json_object_get(t, "lag_s");
        int ok;
        if (caught_up)
            ok = phase && strcmp(phase, "incremental") == 0 &&
                 (!json_is_number(lag) || json_number_value(lag) < 1.0);
        else
            ok = phase && (strcmp(phase, "catch-up") == 0 || strcmp(phase, "incremental") == 0);
        if (!ok && !waiting++)
            snprintf(first, sizeof(first), "%s is in %s%s", src ? src : "?", phase ? phase : "?",
                     caught_up && json_is_number(lag) ? " (or lags 1 s or more)" : "");
    }
    if (waiting)
        snprintf(why, n, "%zu of %zu tables not there yet; %s", waiting, json_array_size(tables),
                 first);
    return waiting == 0;
}

/* polls 0.5 s apart for which caught-up must hold (see ferryctl_cmd_wait) */
#define CAUGHT_UP_POLLS 6

int ferryctl_cmd_wait(int argc, char **argv)
{
    const char *path = NULL, *until = NULL;
    long timeout = 600;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--until") == 0 && i + 1 < argc)
            until = argv[++i];
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            timeout = strtol(argv[++i], &end, 10);
            if (*end || timeout <= 0) {
                fprintf(stderr, "ferryctl wait: bad --timeout \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (!path && argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "ferryctl wait: unexpected argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    if (until && strcmp(until, "full-done") && strcmp(until, "caught-up")) {
        fprintf(stderr,
                "ferryctl wait: unknown --until \"%s\" (full-done: every table copied; "
                "caught-up: every table incremental with lag under 1 s)\n",
                until);
        return 2;
    }
    if (!path || !until) {
        fputs("ferryctl wait: usage: ferryctl wait FILE --until full-done|caught-up "
              "[--timeout S]\n",
              stderr);
        return 2;
    }
    ferry_conf_t *conf = ferryctl_open("wait", path);
    if (!conf)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int caught_up = strcmp(until, "caught-up") == 0, reached = 0;
    char why[800] = "";
    time_t deadline = time(NULL) + timeout;
    /*
     * caught-up must hold for a few seconds on end: a consumer asks the
     * broker whether its quiet partitions are read to the end once a second,
     * so a verdict read just after capture committed can still be the old one.
     */
    int need = caught_up ? CAUGHT_UP_POLLS : 1, held = 0, failed = 0;
    for (;;) {
        int ready;
        json_t *all = fetch_all(conf, &ready);
        held = goal_reached(all, caught_up, why, sizeof(why)) ? held + 1 : 0;
        json_decref(all);
        reached = held >= need;
        /* a service that gave up will not get there: say so now */
        if (reached || time(NULL) >= deadline ||
            (failed = ferryctl_service_failed(conf, why, sizeof(why))))
            break;
        /* full-done is final once seen: asked more often, it ends a scripted wait sooner */
        usleep(caught_up ? 500 * 1000 : 100 * 1000);
    }
    if (reached)
        printf("%s: %s\n", path, caught_up ? "caught up" : "full load done");
    else if (failed)
        fprintf(stderr, "ferryctl wait: not %s: %s\n", until, why);
    else
        fprintf(stderr, "ferryctl wait: timed out after %ld s waiting for %s: %s\n", timeout, until,
                why);
    curl_global_cleanup();
    ferry_conf_destroy(conf);
    return reached ? 0 : 1;
}
