/*
 * ferryctl_verify.c - `ferryctl verify FILE`: runs a verification in the
 * project's ferry-verifier service (POST /verify), draws its progress from
 * /status until it ends, and prints the report's verdict; saves the report
 * and the repair SQL (GET /verify/report, /verify/repair) when asked.
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

/*
 * The progress line. The row total is the servers' estimate: it is never
 * shown below the count (api.c grows it, and so does this for an older
 * service), and 100% only once the verification has ended.
 */
static void bar(FILE *out, json_t *v, bool ended)
{
    long long pct = json_integer_value(json_object_get(v, "percent"));
    long long done = json_integer_value(json_object_get(v, "rows_checked"));
    long long total = json_integer_value(json_object_get(v, "rows_estimated"));
    if (ended)
        total = done, pct = 100;
    else if (done > total)
        total = done;
    if (!ended && pct > 99)
        pct = 99;
    int width = 30, filled = (int)(pct * width / 100);
    fputc('\r', out);
    fputc('[', out);
    for (int i = 0; i < width; i++)
        fputc(i < filled ? '#' : '.', out);
    fprintf(out, "] %3lld%%  %lld/%lld rows  tables %lld/%lld  differences %lld", pct, done, total,
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

/*
 * Polls /status until the verification ends; returns the final
 * "verification" object of /status (json_decref it), or NULL when the
 * verifier stopped answering.
 */
static json_t *follow(const char *base, bool tty)
{
    char url[700];
    snprintf(url, sizeof(url), "%s/status", base);
    bool drawn = false;
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
        bool ended = strcmp(state, "running") != 0, failed = strcmp(state, "failed") == 0;
        /* a verification that failed ends with its reason, not with a bar */
        if ((tty || ended) && !failed) {
            bar(stderr, v, ended);
            drawn = true;
        }
        if (ended) {
            if (drawn)
                fputc('\n', stderr);
            json_incref(v);
            json_decref(doc);
            return v;
        }
        json_decref(doc);
        usleep(300 * 1000);
    }
}

/* GETs path of the service and writes the body to file; 0 or -1 (said on stderr). */
static int save(const char *base, const char *path, const char *file, bool newline)
{
    char url[700], *body = NULL;
    snprintf(url, sizeof(url), "%s%s", base, path);
    long code = request("GET", url, &body);
    if (code != 200 || !body) {
        fprintf(stderr, "ferryctl verify: could not get %s from the verifier: %s\n", path,
                code ? (body ? body : "no answer") : "unreachable");
        free(body);
        return -1;
    }
    FILE *f = fopen(file, "w");
    bool ok = f && fputs(body, f) >= 0 && (!newline || fputc('\n', f) != EOF);
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "ferryctl verify: could not write \"%s\"\n", file);
    free(body);
    return ok ? 0 : -1;
}

/* Prints the report's differences (the first 50). */
static void show_report(const char *base)
{
    char url[700], *body = NULL;
    snprintf(url, sizeof(url), "%s/verify/report", base);
    if (request("GET", url, &body) != 200 || !body) {
        free(body);
        return;
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

static void verify_usage(FILE *out)
{
    fputs("usage: ferryctl verify FILE [--tables PATTERN] [--live] [--shared] [--report OUT.json]\n"
          "                       [--repair-sql OUT.sql]\n"
          "\n"
          "Runs a verification in the project's ferry-verifier service (ferryctl up) with a\n"
          "progress bar and prints the differences.\n"
          "\n"
          "  --tables PATTERN    only source tables matching db.table PATTERN ('*' wildcard)\n"
          "  --live              the link is running: re-check differences after the consumer\n"
          "                      applied what the source had written (default: verify.live)\n"
          "  --shared            chunks checksummed by ferry-verifier --worker processes\n"
          "  --report FILE       write the JSON report to FILE\n"
          "  --repair-sql FILE   write the SQL that makes the destination equal to FILE\n"
          "\n"
          "Exit status: 0 equal, 1 differences, 2 could not verify.\n",
          out);
}

/* Starts the verification, follows it and prints its outcome; returns the exit status. */
static int run(const char *base, const char *query, const char *report, const char *repair)
{
    char url[1600]; /* base (600) + "/verify" + query (900) */
    snprintf(url, sizeof(url), "%s/verify%s", base, query);
    char *body = NULL;
    long code = request("POST", url, &body);
    int status = 2;
    if (code != 202) {
        fprintf(stderr, "ferryctl verify: could not start a verification at %s: %s\n", base,
                code ? (body ? body : "no answer") : "unreachable");
        free(body);
        return 2;
    }
    free(body);
    json_t *v = follow(base, isatty(fileno(stderr)));
    if (!v)
        return 2;
    const char *state = json_string_value(json_object_get(v, "state"));
    status = strcmp(state, "equal") == 0 ? 0 : strcmp(state, "different") == 0 ? 1 : 2;
    if (status != 2) {
        show_report(base);
        if (report && save(base, "/verify/report", report, true) != 0)
            status = 2;
        if (repair && save(base, "/verify/repair", repair, false) != 0)
            status = 2;
    } else {
        const char *why = json_string_value(json_object_get(v, "error"));
        fprintf(stderr, "ferryctl verify: %s\n",
                why                             ? why
                : strcmp(state, "stopped") == 0 ? "the verification was stopped"
                                                : "the verification failed");
    }
    json_decref(v);
    return status;
}

int ferryctl_cmd_verify(int argc, char **argv)
{
    const char *path = NULL, *tables = NULL, *report = NULL, *repair = NULL;
    bool live = false, shared = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            verify_usage(stdout);
            return 0;
        }
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--tables") == 0 && i + 1 < argc)
            tables = argv[++i];
        else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
            report = argv[++i];
        else if (strcmp(argv[i], "--repair-sql") == 0 && i + 1 < argc)
            repair = argv[++i];
        else if (strcmp(argv[i], "--live") == 0)
            live = true;
        else if (strcmp(argv[i], "--shared") == 0)
            shared = true;
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "ferryctl verify: unexpected argument \"%s\" (see --help)\n", argv[i]);
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
    char *qt = tables && esc ? curl_easy_escape(esc, tables, 0) : NULL;
    /* without --live the service's own default applies (verify.live, ferry-verifier --live) */
    char query[900];
    snprintf(query, sizeof(query), "?shared=%d%s%s%s", shared ? 1 : 0, live ? "&live=1" : "",
             qt ? "&tables=" : "", qt ? qt : "");
    curl_free(qt);
    curl_easy_cleanup(esc);
    int status = run(base, query, report, repair);
    curl_global_cleanup();
    ferry_conf_destroy(conf);
    return status;
}
