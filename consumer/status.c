/*
 * status.c - what ferry-consumer shows on /status and /metrics.
 *
 * /status (called on the HTTP thread; everything read here is written under
 * c->lock by the loop thread):
 *   "group", "restarts" (starts over after losing the destination),
 *   "reconnecting" (why the destination is out of reach while starting
 *   over; null otherwise), "tables": [{"source", "destination", "phase", "owned" (this
 *   consumer applies it; the phase of a table owned elsewhere is only what
 *   this one last knew), "rows_applied",
 *   "snapshot_chunks_done", "snapshot_chunks_total", "events_applied",
 *   "bytes_applied" (Kafka keys and values), "rows_per_s", "events_per_s",
 *   "bytes_per_s" (over the last 10 s), "dlq", "lag_s", "last_error"}], "totals": {...},
 * "ddl_errors": [...]. ferryctl waits on tables[].phase and lag_s: keep those names.
 */
#include "consumer.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_table(ferry_json_t *j, const ctable_t *t)
{
    ferry_json_object_begin(j);
    ferry_json_key(j, "source");
    ferry_json_string(j, t->src_full);
    ferry_json_key(j, "destination");
    ferry_json_string(j, t->dst_full);
    ferry_json_key(j, "phase");
    ferry_json_string(j, tables_phase_name(t->phase));
    ferry_json_key(j, "owned");
    ferry_json_bool(j, t->owned);
    ferry_json_key(j, "rows_applied");
    ferry_json_uint(j, t->rows_applied);
    ferry_json_key(j, "snapshot_chunks_done");
    ferry_json_int(j, t->chunks_applied);
    ferry_json_key(j, "snapshot_chunks_total");
    if (t->chunks_total >= 0)
        ferry_json_int(j, t->chunks_total);
    else
        ferry_json_null(j);
    ferry_json_key(j, "events_applied");
    ferry_json_uint(j, t->events_applied);
    ferry_json_key(j, "bytes_applied");
    ferry_json_uint(j, t->bytes_applied);
    /* over the last seconds (rate.h) */
    ferry_json_key(j, "rows_per_s");
    ferry_json_double(j, ferry_rate_per_s(&t->rate, 0));
    ferry_json_key(j, "events_per_s");
    ferry_json_double(j, ferry_rate_per_s(&t->rate, 1));
    ferry_json_key(j, "bytes_per_s");
    ferry_json_double(j, ferry_rate_per_s(&t->rate, 2));
    ferry_json_key(j, "dlq");
    ferry_json_uint(j, t->dlq);
    ferry_json_key(j, "lag_s");
    if (t->has_lag)
        ferry_json_double(j, t->lag_s);
    else
        ferry_json_null(j);
    ferry_json_key(j, "last_error");
    ferry_json_string(j, t->last_error);
    ferry_json_object_end(j);
}

static void write_totals(ferry_json_t *j, const consumer_t *c)
{
    uint64_t rows = 0, events = 0;
    size_t by_phase[4] = {0};
    size_t n = 0;
    for (size_t i = 0; i < c->ntables; i++) {
        if (c->tables[i]->dropped)
            continue;
        n++;
        rows += c->tables[i]->rows_applied;
        events += c->tables[i]->events_applied;
        by_phase[c->tables[i]->phase]++;
    }
    ferry_json_key(j, "totals");
    ferry_json_object_begin(j);
    ferry_json_key(j, "tables");
    ferry_json_uint(j, n);
    for (int p = 0; p < 4; p++) {
        ferry_json_key(j, tables_phase_name((phase_t)p));
        ferry_json_uint(j, by_phase[p]);
    }
    ferry_json_key(j, "rows_applied");
    ferry_json_uint(j, rows);
    ferry_json_key(j, "events_applied");
    ferry_json_uint(j, events);
    ferry_json_key(j, "dlq");
    ferry_json_uint(j, c->dlq_total);
    ferry_json_key(j, "ddl_applied");
    ferry_json_uint(j, c->ddl_applied);
    ferry_json_key(j, "ddl_failed");
    ferry_json_uint(j, c->ddl_failed);
    ferry_json_key(j, "member");
    ferry_json_int(j, c->member);
    ferry_json_key(j, "members");
    ferry_json_int(j, c->members);
    ferry_json_object_end(j);
}

void status_write(ferry_service_t *svc, ferry_json_t *j)
{
    consumer_t *c = ferry_service_opaque(svc);
    pthread_mutex_lock(&c->lock);
    ferry_json_key(j, "group");
    ferry_json_string(j, c->group);
    ferry_json_key(j, "restarts");
    ferry_json_uint(j, c->restarts);
    ferry_json_key(j, "reconnecting");
    if (c->down[0])
        ferry_json_string(j, c->down);
    else
        ferry_json_null(j);
    ferry_json_key(j, "tables");
    ferry_json_array_begin(j);
    for (size_t i = 0; i < c->ntables; i++)
        if (!c->tables[i]->dropped) /* gone at the source */
            write_table(j, c->tables[i]);
    ferry_json_array_end(j);
    write_totals(j, c);
    ferry_json_key(j, "ddl_errors");
    ferry_json_array_begin(j);
    for (size_t i = 0; i < c->n_ddl_errors; i++)
        ferry_json_string(j, c->ddl_errors[i]);
    ferry_json_array_end(j);
    pthread_mutex_unlock(&c->lock);
}

/* Registers the per-table series of t (label table="<source db>.<table>"). */
void status_table_metrics(consumer_t *c, ctable_t *t)
{
    ferry_metrics_t *m = ferry_service_metrics(c->svc);
    t->m_rows =
        ferry_metrics_counter(m, "ferry_consumer_rows_applied_total",
                              "Snapshot rows applied to the destination", "table", t->src_full);
    t->m_events =
        ferry_metrics_counter(m, "ferry_consumer_events_applied_total",
                              "Change events applied to the destination", "table", t->src_full);
    t->m_dlq = ferry_metrics_counter(m, "ferry_consumer_dlq_total",
                                     "Events sent to the dead-letter topic", "table", t->src_full);
    t->m_bytes = ferry_metrics_counter(m, "ferry_consumer_bytes_applied_total",
                                       "Bytes of the Kafka messages (keys and values) applied to "
                                       "the destination",
                                       "table", t->src_full);
    t->m_phase = ferry_metrics_gauge(m, "ferry_consumer_table_phase",
                                     "The table's phase: 0 schema, 1 full load, 2 catch-up, 3 "
                                     "incremental",
                                     "table", t->src_full);
    ferry_gauge_set(t->m_phase, t->phase);
    t->m_lag = ferry_metrics_gauge_double(m, "ferry_consumer_lag_seconds",
                                          "Seconds from the source change of the last applied "
                                          "event to its destination commit",
                                          "table", t->src_full);
}

/* Logs a DDL statement that could not be applied and shows it on /status. */
void status_note_ddl_error(consumer_t *c, ctable_t *t, const char *statement, const char *reason)
{
    char text[1024];
    snprintf(text, sizeof(text), "could not apply DDL \"%.300s\": %s", statement, reason);
    ferry_log_error("DDL statement not applied", "table=%s statement=\"%.300s\" error=\"%s\"",
                    t ? t->src_full : "-", statement, reason);
    ferry_counter_add(c->m_ddl_failed, 1);
    pthread_mutex_lock(&c->lock);
    c->ddl_failed++;
    size_t cap = sizeof(c->ddl_errors) / sizeof(c->ddl_errors[0]);
    if (c->n_ddl_errors == cap) {
        free(c->ddl_errors[0]);
        memmove(c->ddl_errors, c->ddl_errors + 1, (cap - 1) * sizeof(char *));
        c->n_ddl_errors--;
    }
    c->ddl_errors[c->n_ddl_errors] = strdup(text);
    if (c->ddl_errors[c->n_ddl_errors])
        c->n_ddl_errors++;
    if (t) {
        free(t->last_error);
        t->last_error = strdup(text);
    }
    pthread_mutex_unlock(&c->lock);
}
