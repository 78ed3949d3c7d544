/*
 * api.c - ferry-verifier as a service: verifications on demand.
 *
 *   POST /verify[?tables=PATTERN][&live=1][&shared=1]   starts one (409 while one runs)
 *   GET  /verify/report                      the last finished one's JSON report
 *   GET  /verify/repair                      the last finished one's repair SQL
 *   POST /verify/stop                        stops the running one (it keeps its
 *                                            checkpoint and resumes next time)
 *
 * /status carries a "verification" object (state idle | running | equal |
 * different | failed | stopped, tables, live, shared, rows checked and estimated,
 * percent, ETA, differences) and /metrics the counts. A verification of no
 * table is "failed" with the reason (verify.h). A verification runs
 * on its own thread; the HTTP thread only takes the state lock, and reads
 * the engine's progress, which is made of atomics.
 */
#include "verifier.h"

#include "err.h"
#include "log.h"
#include "verify.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { V_IDLE = 0, V_RUNNING, V_EQUAL, V_DIFFERENT, V_FAILED, V_STOPPED } vstate_t;

static const char *const state_names[] = {"idle",      "running", "equal",
                                          "different", "failed",  "stopped"};

struct verifier_state {
    ferry_service_t *svc;
    pthread_mutex_t lock; /* everything below */
    vstate_t state;
    int64_t runs;
    int64_t rows_ended; /* rows compared by verifications that have ended (for the counter) */
    bool live;          /* every verification is live unless the request says live=0 */
    char tables[512];
    bool has_tables;
    ferry_verify_opts_t opts;
    ferry_verify_t *v; /* running or last finished; owned */
    pthread_t thread;
    bool joinable;
    char *report; /* last finished one's */
    char *repair; /* its repair SQL */
    char error[512];
    char checkpoint[600];
    atomic_int stop;
};

verifier_state_t *ferry_verifier_state_new(bool live)
{
    verifier_state_t *st = calloc(1, sizeof(*st));
    if (st) {
        pthread_mutex_init(&st->lock, NULL);
        st->live = live;
    }
    return st;
}

void ferry_verifier_state_destroy(verifier_state_t *st)
{
    if (!st)
        return;
    ferry_verify_destroy(st->v);
    free(st->report);
    free(st->repair);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static void *verify_main(void *arg)
{
    verifier_state_t *st = arg;
    char err[512];
    int rc = ferry_verify_run(st->v, err, sizeof(err));
    char *report = ferry_verify_report_json(st->v);
    char *repair = ferry_verify_repair_sql(st->v);
    size_t differences = ferry_verify_differences(st->v);
    ferry_verify_progress_t p;
    ferry_verify_progress(st->v, &p);
    pthread_mutex_lock(&st->lock);
    free(st->report);
    st->report = report;
    free(st->repair);
    st->repair = repair;
    st->rows_ended += p.rows_checked - p.rows_resumed;
    if (rc == FERRY_ERR_TIMEOUT) {
        st->state = V_STOPPED;
    } else if (rc) {
        st->state = V_FAILED;
        snprintf(st->error, sizeof(st->error), "%s", err);
    } else {
        st->state = differences ? V_DIFFERENT : V_EQUAL;
    }
    const char *state = state_names[st->state];
    pthread_mutex_unlock(&st->lock);
    if (rc && rc != FERRY_ERR_TIMEOUT) {
        char q[600];
        ferry_log_error("verification failed", "reason=%s", ferry_log_quote(err, q, sizeof(q)));
    } else {
        ferry_log_info("verification finished", "state=%s differences=%zu", state, differences);
    }
    return NULL;
}

static char *json_message(const char *key, const char *value)
{
    ferry_json_t *j = ferry_json_new();
    ferry_json_object_begin(j);
    ferry_json_key(j, key);
    ferry_json_string(j, value);
    ferry_json_object_end(j);
    char *text = ferry_json_steal(j);
    ferry_json_destroy(j);
    return text;
}

/* POST /verify: starts a verification unless one runs. */
static int on_verify(void *opaque, const ferry_http_request_t *req, ferry_http_response_t *resp)
{
    verifier_state_t *st = opaque;
    const ferry_conf_t *conf = ferry_service_conf(st->svc);
    resp->content_type = "application/json";
    pthread_mutex_lock(&st->lock);
    if (st->state == V_RUNNING) {
        pthread_mutex_unlock(&st->lock);
        resp->body = json_message("error", "a verification is running");
        return 409;
    }
    if (st->joinable) {
        pthread_join(st->thread, NULL);
        st->joinable = false;
    }
    ferry_verify_destroy(st->v);
    st->v = NULL;
    ferry_verify_opts_from_conf(conf, &st->opts);
    st->opts.live = st->opts.live || st->live;
    st->has_tables = false;
    for (size_t i = 0; i < req->n_args; i++) {
        const ferry_http_arg_t *a = &req->args[i];
        if (strcmp(a->name, "tables") == 0 && a->value && *a->value) {
            snprintf(st->tables, sizeof(st->tables), "%s", a->value);
            st->has_tables = true;
        } else if (strcmp(a->name, "live") == 0) {
            st->opts.live = !a->value || strcmp(a->value, "0") != 0;
        } else if (strcmp(a->name, "shared") == 0) {
            st->opts.shared = !a->value || strcmp(a->value, "0") != 0;
        }
    }
    st->opts.tables = st->has_tables ? st->tables : NULL;
    char dir[400];
    ferry_conf_runtime_dir(conf, dir, sizeof(dir));
    snprintf(st->checkpoint, sizeof(st->checkpoint), "%s/verify.checkpoint", dir);
    st->opts.checkpoint = st->checkpoint;
    atomic_store(&st->stop, 0);
    st->opts.stop = &st->stop;
    st->error[0] = '\0';
    int status = 202;
    if (ferry_verify_new(conf, &st->opts, &st->v) != 0) {
        resp->body = json_message("error", "out of memory");
        status = 500;
    } else if (pthread_create(&st->thread, NULL, verify_main, st) != 0) {
        ferry_verify_destroy(st->v);
        st->v = NULL;
        resp->body = json_message("error", "could not start a thread");
        status = 500;
    } else {
        st->joinable = true;
        st->state = V_RUNNING;
        st->runs++;
        resp->body = json_message("state", "running");
    }
    pthread_mutex_unlock(&st->lock);
    return status;
}

/* GET of the last finished verification's report or repair SQL. */
static int last_result(verifier_state_t *st, bool repair, ferry_http_response_t *resp)
{
    resp->content_type = "application/json";
    pthread_mutex_lock(&st->lock);
    const char *text = repair ? st->repair : st->report;
    int status = 200;
    if (st->state == V_RUNNING || !text) {
        resp->body = json_message("error", st->state == V_RUNNING ? "a verification is running"
                                                                  : "no verification yet");
        status = 404;
    } else {
        resp->body = strdup(text);
        if (repair)
            resp->content_type = "application/sql; charset=utf-8";
    }
    pthread_mutex_unlock(&st->lock);
    return status;
}

static int on_report(void *opaque, const ferry_http_request_t *req, ferry_http_response_t *resp)
{
    (void)req;
    return last_result(opaque, false, resp);
}

static int on_repair(void *opaque, const ferry_http_request_t *req, ferry_http_response_t *resp)
{
    (void)req;
    return last_result(opaque, true, resp);
}

static int on_stop(void *opaque, const ferry_http_request_t *req, ferry_http_response_t *resp)
{
    (void)req;
    verifier_state_t *st = opaque;
    atomic_store(&st->stop, 1);
    resp->content_type = "application/json";
    resp->body = json_message("state", "stopping");
    return 202;
}

void ferry_verifier_service_status(ferry_service_t *svc, ferry_json_t *j)
{
    verifier_state_t *st = ferry_service_opaque(svc);
    pthread_mutex_lock(&st->lock);
    ferry_json_key(j, "verification");
    ferry_json_object_begin(j);
    ferry_json_key(j, "state");
    ferry_json_string(j, state_names[st->state]);
    ferry_json_key(j, "runs");
    ferry_json_int(j, st->runs);
    if (st->v) {
        ferry_verify_progress_t p;
        ferry_verify_progress(st->v, &p);
        ferry_json_key(j, "tables");
        ferry_json_string(j, st->has_tables ? st->tables : "*");
        ferry_json_key(j, "live");
        ferry_json_bool(j, st->opts.live);
        ferry_json_key(j, "shared");
        ferry_json_bool(j, st->opts.shared);
        ferry_json_key(j, "tables_total");
        ferry_json_int(j, p.tables_total);
        ferry_json_key(j, "tables_done");
        ferry_json_int(j, p.tables_done);
        ferry_json_key(j, "rows_checked");
        ferry_json_int(j, p.rows_checked);
        /* the servers' estimate, grown to the count once the count passes it;
           the count itself once the verification has ended */
        int64_t total = st->state != V_RUNNING              ? p.rows_checked
                        : p.rows_checked > p.rows_estimated ? p.rows_checked
                                                            : p.rows_estimated;
        ferry_json_key(j, "rows_estimated");
        ferry_json_int(j, total);
        ferry_json_key(j, "chunks");
        ferry_json_int(j, p.chunks_checked);
        ferry_json_key(j, "differences");
        ferry_json_int(j, p.differences);
        ferry_json_key(j, "elapsed_ms");
        ferry_json_int(j, p.elapsed_ms);
        ferry_json_key(j, "paused");
        ferry_json_bool(j, p.paused);
        if (p.paused) {
            ferry_json_key(j, "threads_running");
            ferry_json_int(j, p.threads_running);
        }
        double frac = st->state != V_RUNNING ? 1.0
                      : total > 0            ? (double)p.rows_checked / (double)total
                                             : 0.0;
        if (frac > 0.99 && st->state == V_RUNNING)
            frac = 0.99; /* estimates are estimates: not done until done */
        ferry_json_key(j, "percent");
        ferry_json_int(j, (int64_t)(frac * 100));
        ferry_json_key(j, "eta_s");
        if (st->state == V_RUNNING && frac > 0.01)
            ferry_json_int(j, (int64_t)((double)p.elapsed_ms * (1 - frac) / frac / 1000.0));
        else
            ferry_json_null(j);
    }
    if (st->error[0]) {
        ferry_json_key(j, "error");
        ferry_json_string(j, st->error);
    }
    ferry_json_object_end(j);
    pthread_mutex_unlock(&st->lock);
}

/*
 * Copies the engine's progress into the service's metrics. The counters
 * (_total) count over every verification since the service started; the
 * gauges hold the current or last one's numbers.
 */
typedef struct {
    ferry_gauge_t *running, *chunks, *differing, *differences;
    ferry_counter_t *rows, *runs;
    int64_t rows_seen, runs_seen; /* what the counters were given so far */
} meters_t;

static void meters_init(ferry_service_t *svc, meters_t *m)
{
    ferry_metrics_t *r = ferry_service_metrics(svc);
    memset(m, 0, sizeof(*m));
    m->running =
        ferry_metrics_gauge(r, "ferry_verifier_running", "1 while a verification runs", NULL, NULL);
    m->rows = ferry_metrics_counter(r, "ferry_verifier_rows_checked_total",
                                    "Source rows compared by every verification since the start "
                                    "(rows a resumed one had compared before not counted again)",
                                    NULL, NULL);
    m->chunks =
        ferry_metrics_gauge(r, "ferry_verifier_chunks_checked",
                            "Chunks compared by the current or last verification", NULL, NULL);
    m->differing = ferry_metrics_gauge(r, "ferry_verifier_chunks_differing",
                                       "Chunks whose checksums differed", NULL, NULL);
    m->differences =
        ferry_metrics_gauge(r, "ferry_verifier_differences",
                            "Rows that differ (current or last verification)", NULL, NULL);
    m->runs =
        ferry_metrics_counter(r, "ferry_verifier_runs_total", "Verifications started", NULL, NULL);
}

static void meters_update(verifier_state_t *st, meters_t *m)
{
    pthread_mutex_lock(&st->lock);
    ferry_gauge_set(m->running, st->state == V_RUNNING);
    int64_t rows = st->rows_ended;
    if (st->v) {
        ferry_verify_progress_t p;
        ferry_verify_progress(st->v, &p);
        if (st->state == V_RUNNING)
            rows += p.rows_checked - p.rows_resumed;
        ferry_gauge_set(m->chunks, p.chunks_checked);
        ferry_gauge_set(m->differing, p.chunks_differing);
        ferry_gauge_set(m->differences, p.differences);
    }
    if (st->runs > m->runs_seen) {
        ferry_counter_add(m->runs, (uint64_t)(st->runs - m->runs_seen));
        m->runs_seen = st->runs;
    }
    if (rows > m->rows_seen) {
        ferry_counter_add(m->rows, (uint64_t)(rows - m->rows_seen));
        m->rows_seen = rows;
    }
    pthread_mutex_unlock(&st->lock);
}

int ferry_verifier_service_run(ferry_service_t *svc)
{
    verifier_state_t *st = ferry_service_opaque(svc);
    st->svc = svc;
    if (ferry_service_route(svc, "POST", "/verify", on_verify, st) != 0 ||
        ferry_service_route(svc, "GET", "/verify/report", on_report, st) != 0 ||
        ferry_service_route(svc, "GET", "/verify/repair", on_repair, st) != 0 ||
        ferry_service_route(svc, "POST", "/verify/stop", on_stop, st) != 0) {
        ferry_log_error("could not add the verification routes", NULL);
        return 1;
    }
    meters_t m;
    meters_init(svc, &m);
    while (!ferry_service_sleep(svc, 250))
        meters_update(st, &m);
    atomic_store(&st->stop, 1);
    pthread_mutex_lock(&st->lock);
    bool join = st->joinable;
    st->joinable = false;
    pthread_mutex_unlock(&st->lock);
    if (join)
        pthread_join(st->thread, NULL);
    return 0;
}
