/*
 * ferryctl_verify.c - `ferryctl verify FILE`: runs a verification in the
 * project's ferry-verifier service (POST /verify), draws its progress from
 * /status until it ends, and prints the report's verdict.
 */
#include "ferryctl.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *data;
    size_t len;
} body_t;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    body_t *b = userdata;
    size_t n = size * nmemb;
    char *p = realloc(b->data, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, ptr, n);
    b->len += n;
    p[b->len] = '\0';
    b->data = p;
    return n;
}

/* One request; returns the HTTP status (0 when unreachable) and the body in *out (free it). */
static long request(const char *method, const char *url, char **out)
{
    body_t b = {NULL, 0};
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    *out = b.data;
    return code;
}

static void bar(FILE *out, json_t *v)
{
    long long pct = json_integer_value(json_object_get(v, "percent"));
    int width = 30, filled = (int)(pct * width / 100);
    fputc('\r', out);
    fputc('[', out);
    for (int i = 0; i < width; i++)
        fputc(i < filled ? '#' : '.', out);
    fprintf(out, "] %3lld%%  %lld/%lld rows  tables %lld/%lld  differences %lld", pct,
            json_integer_value(json_object_get(v, "rows_checked")),
            json_integer_value(json_object_get(v, "rows_estimated")),
            json_integer_value(json_object_get(v, "tables_done")),
            json_integer_value(json_object_get(v, "tables_total")),
            json_integer_value(json_object_get(v, "differences")));
    json_t *eta = json_object_get(v, "eta_s");
    if (json_is_integer(eta))
        fprintf(out, "  ETA %llds   ", (long long)json_integer_value(eta));
    else
        fputs("            ", out);
    fflush(out);
}

/* Polls /status until the verification ends; returns its final state (malloc'd) or NULL. */
static char *follow(const char *base, bool tty)
{
    char url[700];
    snprintf(url, sizeof(url), "%s/status", base);
    for (;;) {
        char *body = NULL;
        long code = request("GET", url, &body);
        json_t *doc = code == 200 && body ? json_loads(body, 0, NULL) : NULL;
        free(body);
        json_t *v = json_object_get(doc, "verification");
        const char *state = json_string_value(json_object_get(v, "state"));
        if (!state) {
            json_decref(doc);
            fputs("\nferryctl verify: the verifier stopped answering\n", stderr);
            return NULL;
        }
        if (tty)
            bar(stderr, v);
        if (strcmp(state, "running") != 0) {
            char *s = strdup(state);
            if (tty)
                fputc('\n', stderr);
            else
                bar(stderr, v), fputc('\n', stderr);
            json_decref(doc);
            return s;
        }
        json_decref(doc);
        usleep(300 * 1000);
    }
}

/* Prints the report's differences (the first 50) and saves it to path if given. */
static void show_report(const char *base, const char *path)
{
    char url[700], *body = NULL;
    snprintf(url, sizeof(url), "%s/verify/report", base);
    if (request("GET", url, &body) != 200 || !body) {
        free(body);
        return;
    }
    if (path) {
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "%s\n", body);
            fclose(f);
        } else {
            fprintf(stderr, "ferryctl verify: could not write \"%s\"\n", path);
        }
    }
    json_t *doc = json_loads(body, 0, NULL);
    free(body);
    json_t *diffs = json_object_get(doc, "differences");
    size_t n = json_array_size(diffs);
    for (size_t i = 0; i < n && i < 50; i++) {
        json_t *d = json_array_get(diffs, i);
        char *key = json_dumps(json_object_get(d, "key"), JSON_COMPACT);
        char *cols = json_dumps(json_object_get(d, "columns"), JSON_COMPACT);
        printf("  %s %s %s %s\n", json_string_value(json_object_get(d, "kind")),
               json_string_value(json_object_get(d, "table")), key ? key : "", cols ? cols : "");
        free(key);
        free(cols);
    }
    if (n > 50)
        printf("  ... and %zu more\n", n - 50);
    printf("%zu difference%s, %zu still changing\n", n, n == 1 ? "" : "s",
           json_array_size(json_object_get(doc, "still_changing")));
    json_decref(doc);
}

int ferryctl_cmd_verify(int argc, char **argv)
{
    const char *path = NULL, *tables = NULL, *report = NULL;
    bool live = false, shared = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--tables") == 0 && i + 1 < argc)
            tables = argv[++i];
        else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
            report = argv[++i];
        else if (strcmp(argv[i], "--live") == 0)
            live = true;
        else if (strcmp(argv[i], "--shared") == 0)
            shared = true;
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "ferryctl verify: unexpected argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    ferry_conf_t *conf = ferryctl_open("verify", path);
    if (!conf)
        return 2;
    char base[600], why[700];
    if (ferryctl_service_url(conf, "verifier", base, sizeof(base), why, sizeof(why)) != 0) {
        fprintf(stderr, "ferryctl verify: ferry-verifier is %s (start it with ferryctl up)\n", why);
        ferry_conf_destroy(conf);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *esc = curl_easy_init();
    char url[1400];
    char *qt = tables && esc ? curl_easy_escape(esc, tables, 0) : NULL;
    snprintf(url, sizeof(url), "%s/verify?live=%d&shared=%d%s%s", base, live ? 1 : 0,
             shared ? 1 : 0, qt ? "&tables=" : "", qt ? qt : "");
    curl_free(qt);
    curl_easy_cleanup(esc);
    char *body = NULL;
    long code = request("POST", url, &body);
    int status = 2;
    if (code != 202) {
        fprintf(stderr, "ferryctl verify: could not start a verification at %s: %s\n", base,
                code ? (body ? body : "no answer") : "unreachable");
    } else {
        char *state = follow(base, isatty(fileno(stderr)));
        if (state) {
            show_report(base, report);
            status = strcmp(state, "equal") == 0 ? 0 : strcmp(state, "different") == 0 ? 1 : 2;
            if (status == 2)
                fprintf(stderr, "ferryctl verify: verification %s\n", state);
            free(state);
        }
    }
    free(body);
    curl_global_cleanup();
    ferry_conf_destroy(conf);
    return status;
}
