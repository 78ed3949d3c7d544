/*
 * fullload.c - the full load's planner driver and worker (fullload.h), and
 * the reader of the done topic both of them follow.
 *
 * The topic readers here use librdkafka directly, as registry.c does for
 * the schemas topic: "read up to the end as of now" needs watermarks and
 * partition-EOF events, which kafka.h's group consumer does not expose.
 */
#include "fullload.h"
#include "clock.h"
#include "fullload_shape.h"
#include "link_map.h"
#include "topics.h"

#include "avro_codec.h"
#include "avro_schema.h"
#include "chunk.h"
#include "db.h"
#include "err.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "mysql_ddl.h"
#include "mysql_rows.h"
#include "mysql_schema.h"
#include "strbuf.h"
#include "wire.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <mysql.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 30000
#define POLL_MS            100

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- names ---------------------------------------------------------------- */

int ferry_fullload_tasks_topic(const char *project, char *buf, size_t size)
{
    return snprintf(buf, size, "ferry.%s.tasks", project);
}

int ferry_fullload_done_topic(const char *project, char *buf, size_t size)
{
    return snprintf(buf, size, "ferry.%s.tasks.done", project);
}

int ferry_fullload_snapshot_topic(const char *prefix, const char *db, const char *table, char *buf,
                                  size_t size)
{
    return ferry_topic_snapshot(prefix, db, table, buf, size) == 0 ? (int)strlen(buf) : -1;
}

int ferry_fullload_snapshot_topic_make(ferry_kafka_producer_t *p, const char *topic, int partitions,
                                       int replication_factor, int timeout_ms, char *errstr,
                                       size_t errstr_size)
{
    const char *del[] = {"cleanup.policy", "delete", NULL};
    return ferry_kafka_producer_topic_create(p, topic, partitions,
                                             replication_factor > 0 ? replication_factor : -1, del,
                                             timeout_ms, errstr, errstr_size);
}

/* ---- done-markers -------------------------------------------------------- */

void ferry_fullload_done_clear(ferry_fullload_done_t *d)
{
    if (!d)
        return;
    free(d->task_id);
    free(d->db);
    free(d->table);
    free(d->attempt);
    free(d->topic);
    free(d->worker);
    free(d->snapshot_file);
    memset(d, 0, sizeof(*d));
}

/* The marker's JSON (malloc'd), or NULL when out of memory. */
static char *done_json(const ferry_fullload_done_t *d)
{
    ferry_json_t *j = ferry_json_new();
    if (!j)
        return NULL;
    ferry_json_object_begin(j);
    ferry_json_key(j, "task");
    ferry_json_string(j, d->task_id);
    ferry_json_key(j, "db");
    ferry_json_string(j, d->db);
    ferry_json_key(j, "table");
    ferry_json_string(j, d->table);
    ferry_json_key(j, "chunk");
    ferry_json_int(j, d->chunk_id);
    ferry_json_key(j, "generation");
    ferry_json_int(j, d->generation);
    ferry_json_key(j, "attempt");
    ferry_json_string(j, d->attempt);
    ferry_json_key(j, "rows");
    ferry_json_int(j, d->rows);
    ferry_json_key(j, "topic");
    ferry_json_string(j, d->topic);
    ferry_json_key(j, "partition");
    ferry_json_int(j, d->partition);
    ferry_json_key(j, "chunks_total");
    if (d->chunks_total < 0)
        ferry_json_null(j);
    else
        ferry_json_int(j, d->chunks_total);
    ferry_json_key(j, "worker");
    ferry_json_string(j, d->worker);
    ferry_json_key(j, "ts_ms");
    ferry_json_int(j, d->ts_ms);
    if (d->snapshot_file) {
        ferry_json_key(j, "snapshot_file");
        ferry_json_string(j, d->snapshot_file);
        ferry_json_key(j, "snapshot_pos");
        ferry_json_int(j, d->snapshot_pos);
    }
    ferry_json_object_end(j);
    char *text = ferry_json_error(j) ? NULL : ferry_json_steal(j);
    ferry_json_destroy(j);
    return text;
}

static char *json_strdup(json_t *o, const char *key, bool *ok)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s) {
        *ok = false;
        return NULL;
    }
    char *c = strdup(s);
    if (!c)
        *ok = false;
    return c;
}

static int64_t json_int(json_t *o, const char *key, bool *ok)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) {
        *ok = false;
        return 0;
    }
    return (int64_t)json_integer_value(v);
}

int ferry_fullload_done_parse(const void *value, size_t len, ferry_fullload_done_t *out,
                              char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *o = value ? json_loadb(value, len, 0, &jerr) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not parse done-marker: not a JSON object");
    }
    bool ok = true;
    out->task_id = json_strdup(o, "task", &ok);
    out->db = json_strdup(o, "db", &ok);
    out->table = json_strdup(o, "table", &ok);
    out->attempt = json_strdup(o, "attempt", &ok);
    out->topic = json_strdup(o, "topic", &ok);
    out->worker = json_strdup(o, "worker", &ok);
    out->chunk_id = json_int(o, "chunk", &ok);
    out->generation = (int32_t)json_int(o, "generation", &ok);
    out->rows = json_int(o, "rows", &ok);
    out->partition = (int32_t)json_int(o, "partition", &ok);
    out->ts_ms = json_int(o, "ts_ms", &ok);
    json_t *total = json_object_get(o, "chunks_total");
    out->chunks_total = json_is_integer(total) ? (int64_t)json_integer_value(total) : -1;
    const char *sf = json_string_value(json_object_get(o, "snapshot_file"));
    json_t *sp = json_object_get(o, "snapshot_pos");
    out->snapshot_pos = -1;
    if (sf && json_is_integer(sp)) {
        out->snapshot_file = strdup(sf);
        out->snapshot_pos = (int64_t)json_integer_value(sp);
        if (!out->snapshot_file)
            ok = false;
    }
    json_decref(o);
    if (!ok || out->rows < 0 || out->chunk_id < 0) {
        ferry_fullload_done_clear(out);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not parse done-marker: a field is missing or has the wrong "
                             "type");
    }
    return 0;
}

/* ---- reading a topic to its end ------------------------------------------ */

typedef void (*reader_fn)(void *opaque, const rd_kafka_message_t *m);

typedef struct {
    rd_kafka_t *rk;
    char *topic;
    int32_t nparts;
    int64_t *next; /* next offset to read per partition; -1 before the first */
    int timeout_ms;
} topic_reader_t;

static int set_conf(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                    size_t errstr_size)
{
    char why[256];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not set kafka property \"%s\": %s", name, why);
    return 0;
}

static bool reader_owned_prop(const char *name)
{
    static const char *const ours[] = {"group.id",
                                       "group.instance.id",
                                       "transactional.id",
                                       "enable.partition.eof",
                                       "isolation.level",
                                       "enable.auto.commit",
                                       NULL};
    for (size_t i = 0; ours[i]; i++)
        if (strcmp(name, ours[i]) == 0)
            return true;
    return false;
}

static void reader_close(topic_reader_t *r)
{
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    free(r->topic);
    free(r->next);
    memset(r, 0, sizeof(*r));
}

/* Opens a group-less reader of every partition of topic, from its beginning. */
static int reader_open(topic_reader_t *r, const char *const *props, const char *topic,
                       int timeout_ms, char *errstr, size_t errstr_size)
{
    memset(r, 0, sizeof(*r));
    r->timeout_ms = timeout_ms;
    int parts = 0, rc;
    if ((rc = ferry_kafka_topic_partitions(props, topic, timeout_ms, &parts, errstr,
                                           errstr_size)) != 0)
        return rc;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[300];
    snprintf(group, sizeof(group), "%s.reader", topic);
    rc = set_conf(conf, "group.id", group, errstr, errstr_size);
    if (!rc)
        rc = set_conf(conf, "enable.partition.eof", "true", errstr, errstr_size);
    if (!rc)
        rc = set_conf(conf, "isolation.level", "read_committed", errstr, errstr_size);
    if (!rc)
        rc = set_conf(conf, "enable.auto.commit", "false", errstr, errstr_size);
    if (!rc)
        rc = set_conf(conf, "fetch.wait.max.ms", "20", errstr, errstr_size);
    for (size_t i = 0; !rc && props && props[i] && props[i + 1]; i += 2)
        if (!reader_owned_prop(props[i]))
            rc = set_conf(conf, props[i], props[i + 1], errstr, errstr_size);
    char why[256];
    if (!rc && !(r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why)))) {
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                           "could not create a reader of \"%s\": %s", topic, why);
    }
    if (rc) {
        if (!r->rk) /* rd_kafka_new owns conf only when it succeeds */
            rd_kafka_conf_destroy(conf);
        reader_close(r);
        return rc;
    }
    r->topic = strdup(topic);
    r->nparts = parts;
    r->next = malloc((size_t)parts * sizeof(*r->next));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    if (!r->topic || !r->next || !l) {
        if (l)
            rd_kafka_topic_partition_list_destroy(l);
        reader_close(r);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    for (int32_t p = 0; p < parts; p++) {
        r->next[p] = -1;
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(r->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        rc = ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                           "could not read topic \"%s\": %s", topic, rd_kafka_err2str(err));
        reader_close(r);
    }
    return rc;
}

/* Reads every record up to the partitions' ends as of this call, calling fn for each. */
static int reader_catch_up(topic_reader_t *r, int timeout_ms, reader_fn fn, void *opaque,
                           char *errstr, size_t errstr_size)
{
    int64_t deadline = ferry_wall_ms() + timeout_ms;
    int64_t *high = calloc((size_t)r->nparts, sizeof(*high));
    if (!high)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    int rc = 0, pending = 0;
    for (int32_t p = 0; p < r->nparts && !rc; p++) {
        int64_t lo, hi;
        int left = (int)(deadline - ferry_wall_ms());
        rd_kafka_resp_err_t err =
            ferry_kafka_watermarks(r->rk, r->topic, p, left > 0 ? left : 1, &lo, &hi);
        if (err) {
            rc = ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                               "could not read topic \"%s\" partition %" PRId32
                               ": watermark query failed: %s",
                               r->topic, p, rd_kafka_err2str(err));
            break;
        }
        high[p] = hi;
        if (r->next[p] < 0)
            r->next[p] = lo;
        if (r->next[p] < hi)
            pending++;
    }
    while (!rc && pending > 0) {
        int left = (int)(deadline - ferry_wall_ms());
        if (left <= 0) {
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_TIMEOUT,
                               "could not read topic \"%s\" up to its end within %d ms", r->topic,
                               timeout_ms);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, left < POLL_MS ? left : POLL_MS);
        if (!m)
            continue;
        int32_t p = m->partition;
        bool ours = p >= 0 && p < r->nparts;
        if (ours && !m->err) {
            r->next[p] = m->offset + 1;
            fn(opaque, m);
        } else if (ours && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* the end offset: steps over transaction markers and compaction gaps */
            if (m->offset > r->next[p])
                r->next[p] = m->offset;
        } else if (m->err && ferry_kafka_err_class(m->err) == FERRY_ERR_FATAL) {
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                               "could not read topic \"%s\": %s", r->topic,
                               rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
        pending = 0;
        for (int32_t q = 0; q < r->nparts; q++)
            pending += r->next[q] < high[q];
    }
    free(high);
    return rc;
}

/* ---- the done log -------------------------------------------------------- */

struct ferry_fullload_donelog {
    topic_reader_t reader;
    ferry_fullload_done_t *marks; /* first markers in reading order */
    size_t n, cap;
    size_t *slots; /* open addressing over marks, index + 1; 0 = empty */
    size_t nslots;
    size_t invalid;
    int timeout_ms;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static size_t *donelog_slot(const ferry_fullload_donelog_t *d, const char *task_id)
{
    size_t i = (size_t)hash_str(task_id) & (d->nslots - 1);
    for (;; i = (i + 1) & (d->nslots - 1)) {
        size_t s = d->slots[i];
        if (s == 0 || strcmp(d->marks[s - 1].task_id, task_id) == 0)
            return &d->slots[i];
    }
}

static bool donelog_grow(ferry_fullload_donelog_t *d)
{
    if (d->n + 1 > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        ferry_fullload_done_t *m = realloc(d->marks, cap * sizeof(*m));
        if (!m)
            return false;
        d->marks = m;
        d->cap = cap;
    }
    if ((d->n + 1) * 2 > d->nslots) {
        size_t nslots = d->nslots ? d->nslots * 2 : 128;
        size_t *slots = calloc(nslots, sizeof(*slots));
        if (!slots)
            return false;
        free(d->slots);
        d->slots = slots;
        d->nslots = nslots;
        for (size_t i = 0; i < d->n; i++)
            *donelog_slot(d, d->marks[i].task_id) = i + 1;
    }
    return true;
}

/* Takes ownership of *m when it is the first marker of its task; else clears it. */
static void donelog_add(ferry_fullload_donelog_t *d, ferry_fullload_done_t *m)
{
    if (d->nslots && *donelog_slot(d, m->task_id) != 0) {
        ferry_fullload_done_clear(m);
        return;
    }
    if (!donelog_grow(d)) {
        ferry_fullload_done_clear(m); /* forgotten: the task may be redone, never doubled */
        return;
    }
    d->marks[d->n] = *m;
    memset(m, 0, sizeof(*m));
    *donelog_slot(d, d->marks[d->n].task_id) = d->n + 1;
    d->n++;
}

static void donelog_ingest(void *opaque, const rd_kafka_message_t *msg)
{
    ferry_fullload_donelog_t *d = opaque;
    ferry_fullload_done_t m;
    if (ferry_fullload_done_parse(msg->payload, msg->len, &m, NULL, 0) != 0) {
        d->invalid++;
        return;
    }
    donelog_add(d, &m);
}

int ferry_fullload_donelog_new(const char *project, const char *const *kafka_props,
                               ferry_fullload_donelog_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    ferry_fullload_donelog_t *d = calloc(1, sizeof(*d));
    if (!d)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    char topic[300];
    ferry_fullload_done_topic(project, topic, sizeof(topic));
    int rc = reader_open(&d->reader, kafka_props, topic, DEFAULT_TIMEOUT_MS, errstr, errstr_size);
    if (rc) {
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void ferry_fullload_donelog_destroy(ferry_fullload_donelog_t *d)
{
    if (!d)
        return;
    reader_close(&d->reader);
    for (size_t i = 0; i < d->n; i++)
        ferry_fullload_done_clear(&d->marks[i]);
    free(d->marks);
    free(d->slots);
    free(d);
}

int ferry_fullload_donelog_catch_up(ferry_fullload_donelog_t *d, int timeout_ms, char *errstr,
                                    size_t errstr_size)
{
    return reader_catch_up(&d->reader, timeout_ms, donelog_ingest, d, errstr, errstr_size);
}

const ferry_fullload_done_t *ferry_fullload_donelog_get(const ferry_fullload_donelog_t *d,
                                                        const char *task_id)
{
    if (!d->nslots)
        return NULL;
    size_t s = *donelog_slot(d, task_id);
    return s ? &d->marks[s - 1] : NULL;
}

void ferry_fullload_donelog_each(const ferry_fullload_donelog_t *d,
                                 void (*fn)(void *opaque, const ferry_fullload_done_t *m),
                                 void *opaque)
{
    for (size_t i = 0; i < d->n; i++)
        fn(opaque, &d->marks[i]);
}

size_t ferry_fullload_donelog_count(const ferry_fullload_donelog_t *d)
{
    return d->n;
}

size_t ferry_fullload_donelog_invalid(const ferry_fullload_donelog_t *d)
{
    return d->invalid;
}

/* ---- planner driver ------------------------------------------------------ */

typedef struct {
    const ferry_table_t *t;
    ferry_chunk_planner_t *cp;
    int64_t planned, total, planned_rows;
    ferry_fullload_progress_t prog;
    /* pacing: the table's snapshot topic, its partitions once it exists */
    char snap_topic[300];
    int snap_parts;
    int64_t unapplied; /* rows, as measured, plus a chunk per task written since */
    bool settled;      /* finished, and nothing of it left unapplied */
    /* sized from its rows' average size before its first task of this run */
    bool sized;
    uint64_t chunk_rows;   /* rows per chunk */
    int64_t max_unapplied; /* its pacing limit in rows */
} plan_table_t;

/* How often the planner asks Kafka how far the consumer is, at most. */
#define PACE_REFRESH_MS 250

struct ferry_fullload_planner {
    ferry_fullload_planner_conf_t conf;
    ferry_db_t *db;
    ferry_kafka_producer_t *producer;
    ferry_fullload_donelog_t *done;
    plan_table_t *tables;
    size_t n;
    char tasks_topic[300];
    ferry_avro_buf_t buf;
    /* pacing by the consumer (conf.max_unapplied_rows) */
    ferry_kafka_consumer_t *group; /* reads the consumer group's offsets; never joins it */
    bool measured;                 /* the tables' unapplied rows are known */
    int64_t measure_at_ms, warned_ms, told_ms;
    bool waiting; /* a table waited for the consumer at the last step that asked */
};

/* The done topic: one partition, compacted (planner and workers both make sure of it). */
static int create_done_topic(const char *const *props, const char *project, int rf, int timeout_ms,
                             char *errstr, size_t errstr_size)
{
    char done_topic[300];
    ferry_fullload_done_topic(project, done_topic, sizeof(done_topic));
    const char *compact[] = {"cleanup.policy", "compact", NULL};
    return ferry_kafka_topic_create(props, done_topic, 1, rf ? rf : -1, compact, 1, timeout_ms,
                                    errstr, errstr_size);
}

static int create_topics(const ferry_fullload_planner_conf_t *c, const char *tasks_topic,
                         char *errstr, size_t errstr_size)
{
    const char *del[] = {"cleanup.policy", "delete", NULL};
    int rc = ferry_kafka_topic_create(c->kafka_props, tasks_topic,
                                      c->tasks_partitions ? c->tasks_partitions : 8,
                                      c->replication_factor ? c->replication_factor : -1, del, 1,
                                      c->timeout_ms, errstr, errstr_size);
    if (!rc)
        rc = create_done_topic(c->kafka_props, c->project, c->replication_factor, c->timeout_ms,
                               errstr, errstr_size);
    return rc;
}

/* Resuming: the highest chunk of this generation already written, per table. */
typedef struct {
    ferry_fullload_planner_t *p;
    ferry_chunk_task_t **last;
    int64_t *rows;
} resume_state_t;

static void resume_ingest(void *opaque, const rd_kafka_message_t *m)
{
    resume_state_t *st = opaque;
    ferry_chunk_task_t *task;
    if (ferry_chunk_task_decode(m->payload, m->len, &task, NULL, 0) != 0)
        return;
    for (size_t i = 0; i < st->p->n; i++) {
        const ferry_table_t *t = st->p->tables[i].t;
        if (task->generation != st->p->conf.generation ||
            strcmp(task->db, ferry_table_db(t)) != 0 ||
            strcmp(task->table, ferry_table_name(t)) != 0)
            continue;
        if (task->estimated_rows > 0)
            st->rows[i] += task->estimated_rows;
        if (!st->last[i] || st->last[i]->chunk_id < task->chunk_id) {
            ferry_chunk_task_destroy(st->last[i]);
            st->last[i] = task;
            return;
        }
        break;
    }
    ferry_chunk_task_destroy(task);
}

static int planner_resume(ferry_fullload_planner_t *p, char *errstr, size_t errstr_size)
{
    topic_reader_t r;
    int rc = reader_open(&r, p->conf.kafka_props, p->tasks_topic, p->conf.timeout_ms, errstr,
                         errstr_size);
    if (rc)
        return rc;
    resume_state_t st = {p, calloc(p->n ? p->n : 1, sizeof(*st.last)),
                         calloc(p->n ? p->n : 1, sizeof(*st.rows))};
    if (!st.last || !st.rows)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = reader_catch_up(&r, p->conf.timeout_ms, resume_ingest, &st, errstr, errstr_size);
    for (size_t i = 0; i < p->n && st.last; i++) {
        if (!rc && st.last[i]) {
            plan_table_t *pt = &p->tables[i];
            rc = ferry_chunk_planner_resume(pt->cp, st.last[i], errstr, errstr_size);
            pt->planned = st.last[i]->chunk_id + 1;
            pt->total = st.last[i]->chunks_total;
            pt->planned_rows = st.rows[i];
            ferry_log_info("resuming chunk plan", "db=%s table=%s chunks_planned=%lld",
                           ferry_table_db(pt->t), ferry_table_name(pt->t), (long long)pt->planned);
        }
        ferry_chunk_task_destroy(st.last[i]);
    }
    free(st.last);
    free(st.rows);
    reader_close(&r);
    return rc;
}

void ferry_fullload_planner_destroy(ferry_fullload_planner_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        ferry_chunk_planner_destroy(p->tables[i].cp);
    free(p->tables);
    ferry_fullload_donelog_destroy(p->done);
    if (!p->conf.producer)
        ferry_kafka_producer_destroy(p->producer, 5000);
    ferry_kafka_consumer_destroy(p->group);
    ferry_db_close(p->db);
    ferry_avro_buf_free(&p->buf);
    free(p);
}

int ferry_fullload_planner_new(const ferry_fullload_planner_conf_t *conf,
                               const ferry_table_t *const *tables, size_t n,
                               ferry_fullload_planner_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (!conf->project || !conf->kafka_props || !conf->source_url)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not start the chunk planner: project, kafka properties and "
                             "source URL are required");
    ferry_fullload_planner_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->tables = calloc(n ? n : 1, sizeof(*p->tables)))) {
        free(p);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    p->conf = *conf;
    if (!p->conf.chunk_rows)
        p->conf.chunk_rows = 10000;
    if (!p->conf.max_outstanding)
        p->conf.max_outstanding = 16;
    if (!p->conf.timeout_ms)
        p->conf.timeout_ms = DEFAULT_TIMEOUT_MS;
    p->n = n;
    if (!p->conf.prefix || !p->conf.consumer_group)
        p->conf.max_unapplied_rows = 0;
    ferry_fullload_tasks_topic(conf->project, p->tasks_topic, sizeof(p->tasks_topic));
    int rc = ferry_db_connect(conf->source_url, "source", p->conf.timeout_ms, &p->db, errstr,
                              errstr_size);
    if (!rc)
        rc = ferry_mysql_rows_session(ferry_db_mysql(p->db), errstr, errstr_size);
    for (size_t i = 0; !rc && i < n; i++) {
        p->tables[i].t = tables[i];
        p->tables[i].total = -1;
        p->tables[i].chunk_rows = p->conf.chunk_rows;
        p->tables[i].max_unapplied = p->conf.max_unapplied_rows;
        if (p->conf.max_unapplied_rows > 0 &&
            ferry_topic_snapshot(p->conf.prefix, ferry_table_db(tables[i]),
                                 ferry_table_name(tables[i]), p->tables[i].snap_topic,
                                 sizeof(p->tables[i].snap_topic)) != 0)
            p->tables[i].settled = true; /* no topic can have that name: nothing to wait for */
        rc = ferry_chunk_planner_new(ferry_db_mysql(p->db), tables[i], p->conf.chunk_rows,
                                     conf->generation, &p->tables[i].cp, errstr, errstr_size);
    }
    if (!rc)
        rc = create_topics(&p->conf, p->tasks_topic, errstr, errstr_size);
    if (!rc && conf->producer)
        p->producer = conf->producer;
    else if (!rc)
        rc = ferry_kafka_producer_new(&p->producer, conf->kafka_props, NULL, errstr, errstr_size);
    if (!rc)
        ferry_kafka_producer_learn_topic(p->producer, p->tasks_topic, p->conf.timeout_ms);
    if (!rc)
        rc = ferry_fullload_donelog_new(conf->project, conf->kafka_props, &p->done, errstr,
                                        errstr_size);
    if (!rc)
        rc = ferry_fullload_donelog_catch_up(p->done, p->conf.timeout_ms, errstr, errstr_size);
    if (!rc)
        rc = planner_resume(p, errstr, errstr_size);
    if (rc) {
        ferry_fullload_planner_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

static void tally_marker(void *opaque, const ferry_fullload_done_t *m)
{
    ferry_fullload_planner_t *p = opaque;
    if (m->generation != p->conf.generation)
        return;
    for (size_t i = 0; i < p->n; i++) {
        plan_table_t *pt = &p->tables[i];
        if (strcmp(m->db, ferry_table_db(pt->t)) == 0 &&
            strcmp(m->table, ferry_table_name(pt->t)) == 0) {
            pt->prog.chunks_done++;
            pt->prog.rows_copied += m->rows;
            return;
        }
    }
}

/* Recounts progress from the done log; returns the number of open tasks. */
static int64_t planner_tally(ferry_fullload_planner_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        plan_table_t *pt = &p->tables[i];
        memset(&pt->prog, 0, sizeof(pt->prog));
        pt->prog.db = ferry_table_db(pt->t);
        pt->prog.table = ferry_table_name(pt->t);
    }
    ferry_fullload_donelog_each(p->done, tally_marker, p);
    int64_t open = 0;
    for (size_t i = 0; i < p->n; i++) {
        plan_table_t *pt = &p->tables[i];
        pt->prog.chunks_planned = pt->planned;
        pt->prog.chunks_total = pt->total;
        if (pt->total >= 0) {
            pt->prog.rows_estimate = pt->planned_rows;
        } else {
            int64_t est = ferry_chunk_planner_estimate(pt->cp);
            pt->prog.rows_estimate = est > pt->planned_rows ? est : pt->planned_rows;
        }
        pt->prog.finished = pt->total >= 0 && pt->prog.chunks_done >= pt->total;
        if (pt->planned > pt->prog.chunks_done)
            open += pt->planned - pt->prog.chunks_done;
    }
    return open;
}

/* True when the source has no table of t's name (any more). */
static bool table_gone(ferry_fullload_planner_t *p, const ferry_table_t *t)
{
    char *sig = NULL;
    unsigned server_errno;
    int rc = ferry_fullload_shape_signature(ferry_db_mysql(p->db), ferry_table_db(t),
                                            ferry_table_name(t), &sig, &server_errno, NULL, 0);
    free(sig);
    return rc == 0 && !sig;
}

/*
 * True when a key column of t is no longer at the source under its name
 * (CHANGE or RENAME COLUMN, DROP) while the table still is: boundaries can
 * no longer be read by that name, and the worker reads the rest under the
 * column's new name (fullload_shape.h).
 */
static bool key_gone(ferry_fullload_planner_t *p, const ferry_table_t *t)
{
    MYSQL *conn = ferry_db_mysql(p->db);
    size_t n = ferry_table_ncolumns(t);
    size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
    size_t nk = idx ? ferry_chunk_key_columns(t, idx) : 0;
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&q, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ");
    ferry_mysql_quote_string(&q, ferry_table_db(t));
    ferry_strbuf_puts(&q, " AND TABLE_NAME = ");
    ferry_mysql_quote_string(&q, ferry_table_name(t));
    ferry_strbuf_puts(&q, " AND COLUMN_NAME IN (");
    for (size_t k = 0; k < nk; k++) {
        if (k)
            ferry_strbuf_puts(&q, ", ");
        ferry_mysql_quote_string(&q, ferry_table_column(t, idx[k])->name);
    }
    ferry_strbuf_puts(&q, ")");
    free(idx);
    bool gone = false;
    MYSQL_RES *res = NULL;
    if (nk && !q.oom && mysql_real_query(conn, q.buf, (unsigned long)q.len) == 0 &&
        (res = mysql_store_result(conn))) {
        MYSQL_ROW row = mysql_fetch_row(res);
        gone = row && row[0] && strtoull(row[0], NULL, 10) < nk;
    }
    mysql_free_result(res);
    ferry_strbuf_free(&q);
    return gone;
}

/* Rows whose size is averaged to size a table's chunks (few: LOBs are read whole). */
#define SIZE_SAMPLE_ROWS 50

/*
 * The average size of a row of pt, in bytes of column values as the
 * server sends them, over its first SIZE_SAMPLE_ROWS rows: 0 when the table
 * is empty or the server cannot say (the table was renamed meanwhile, ...).
 */
static int64_t average_row_bytes(ferry_fullload_planner_t *p, const plan_table_t *pt)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&q, "SELECT AVG(b) FROM (SELECT 0");
    for (size_t c = 0; c < ferry_table_ncolumns(pt->t); c++) {
        ferry_strbuf_puts(&q, "+IFNULL(OCTET_LENGTH(");
        ferry_mysql_rows_quote_ident(&q, ferry_table_column(pt->t, c)->name);
        ferry_strbuf_puts(&q, "),0)");
    }
    ferry_strbuf_puts(&q, " AS b FROM ");
    ferry_mysql_rows_quote_table(&q, pt->t);
    ferry_strbuf_printf(&q, " LIMIT %d) s", SIZE_SAMPLE_ROWS);
    MYSQL *my = ferry_db_mysql(p->db);
    int64_t avg = 0;
    if (!q.oom && mysql_real_query(my, q.buf, q.len) == 0) {
        MYSQL_RES *r = mysql_store_result(my);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        if (row && row[0])
            avg = (int64_t)(strtod(row[0], NULL) + 0.5);
        mysql_free_result(r);
    } else if (!q.oom) {
        ferry_log_debug("could not measure a table's rows; its chunks are sized by rows only",
                        "db=%s table=%s error=\"%s\"", ferry_table_db(pt->t),
                        ferry_table_name(pt->t), mysql_error(my));
    }
    ferry_strbuf_free(&q);
    return avg > 0 ? avg : 0;
}

/*
 * Sizes pt's chunks and its pacing limit by its rows (once, before its first
 * task of this run): at most chunk_bytes'
 * worth of rows per chunk and max_unapplied_bytes' worth unapplied, so that
 * a table of wide rows is copied in chunks that a Kafka partition (5 MB on
 * ferry-devkafka), a worker's transaction and the consumer's memory hold
 * whole, and that no more of it waits in Kafka than a broker keeps.
 */
static void size_table(ferry_fullload_planner_t *p, plan_table_t *pt)
{
    pt->sized = true;
    if (!p->conf.chunk_bytes && !(p->conf.max_unapplied_bytes > 0 && pt->max_unapplied > 0))
        return;
    int64_t avg = average_row_bytes(p, pt);
    if (avg <= 0)
        return;
    if (p->conf.chunk_bytes && p->conf.chunk_bytes / (uint64_t)avg < pt->chunk_rows) {
        pt->chunk_rows =
            p->conf.chunk_bytes / (uint64_t)avg ? p->conf.chunk_bytes / (uint64_t)avg : 1;
        ferry_chunk_planner_set_chunk_rows(pt->cp, pt->chunk_rows);
    }
    if (p->conf.max_unapplied_bytes > 0 && pt->max_unapplied > 0 &&
        p->conf.max_unapplied_bytes / avg < pt->max_unapplied)
        pt->max_unapplied =
            p->conf.max_unapplied_bytes / avg ? p->conf.max_unapplied_bytes / avg : 1;
    if (pt->chunk_rows < p->conf.chunk_rows)
        ferry_log_info("wide rows: smaller chunks",
                       "db=%s table=%s average_row_bytes=%lld "
                       "chunk_rows=%llu max_unapplied_rows=%lld",
                       ferry_table_db(pt->t), ferry_table_name(pt->t), (long long)avg,
                       (unsigned long long)pt->chunk_rows, (long long)pt->max_unapplied);
    else
        ferry_log_debug("chunks sized",
                        "db=%s table=%s average_row_bytes=%lld max_unapplied_rows=%lld",
                        ferry_table_db(pt->t), ferry_table_name(pt->t), (long long)avg,
                        (long long)pt->max_unapplied);
}

/* Plans and writes one task of table i. */
static int planner_write_one(ferry_fullload_planner_t *p, size_t i, char *errstr,
                             size_t errstr_size)
{
    plan_table_t *pt = &p->tables[i];
    ferry_chunk_task_t *task;
    int rc = ferry_chunk_planner_next(pt->cp, &task, errstr, errstr_size);
    if (rc == FERRY_ERR_IO && (table_gone(p, pt->t) || key_gone(p, pt->t))) {
        /* renamed or dropped, or its key column renamed: the worker follows (fullload_shape.h) */
        ferry_log_info("table or key column gone from the source during its planning; the rest "
                       "of it is its last chunk",
                       "db=%s table=%s reason=\"%s\"", ferry_table_db(pt->t),
                       ferry_table_name(pt->t), errstr ? errstr : "");
        rc = ferry_chunk_planner_rest(pt->cp, &task, errstr, errstr_size);
    }
    if (rc || !task)
        return rc;
    ferry_strbuf_t id = FERRY_STRBUF_INIT;
    ferry_chunk_task_id(task, &id);
    p->buf.len = 0;
    rc = ferry_chunk_task_encode(task, &p->buf, errstr, errstr_size);
    if (!rc && id.oom)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (!rc) {
        ferry_kafka_record_t rec = {.topic = p->tasks_topic,
                                    .partition = FERRY_KAFKA_PARTITION_ANY,
                                    .key = id.buf,
                                    .key_len = id.len,
                                    .value = p->buf.data,
                                    .value_len = p->buf.len};
        rc = ferry_kafka_produce(p->producer, &rec, errstr, errstr_size);
    }
    if (!rc) {
        pt->planned = task->chunk_id + 1;
        if (task->estimated_rows > 0)
            pt->planned_rows += task->estimated_rows;
        /* counted as unapplied until the next measurement sees them */
        pt->unapplied += (int64_t)pt->chunk_rows;
        if (task->chunks_total >= 0)
            pt->total = task->chunks_total;
    }
    ferry_strbuf_free(&id);
    ferry_chunk_task_destroy(task);
    return rc;
}

/* The rows the consumer has not applied, over the tables still paced. */
static int64_t planner_unapplied_sum(const ferry_fullload_planner_t *p)
{
    int64_t sum = 0;
    for (size_t i = 0; i < p->n; i++)
        sum += p->tables[i].settled ? 0 : p->tables[i].unapplied;
    return sum;
}

/* The snapshot topics' partitions still to ask about, as (topic, partition) pairs. */
static int pace_partitions(ferry_fullload_planner_t *p, ferry_kafka_tp_t **out, size_t **table_of,
                           size_t *count, char *errstr, size_t errstr_size)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        plan_table_t *pt = &p->tables[i];
        if (pt->settled || pt->planned == 0)
            continue;
        if (pt->snap_parts == 0) {
            int rc = ferry_kafka_topic_partitions(p->conf.kafka_props, pt->snap_topic,
                                                  p->conf.timeout_ms, &pt->snap_parts, errstr,
                                                  errstr_size);
            if (rc == FERRY_ERR_NOT_FOUND) {
                pt->snap_parts = 0; /* no chunk of it reached Kafka yet */
                continue;
            }
            if (rc)
                return rc;
        }
        n += (size_t)pt->snap_parts;
    }
    *count = n;
    *out = calloc(n ? n : 1, sizeof(**out));
    *table_of = calloc(n ? n : 1, sizeof(**table_of));
    if (!*out || !*table_of)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++) {
        plan_table_t *pt = &p->tables[i];
        if (pt->settled || pt->planned == 0)
            continue;
        for (int q = 0; q < pt->snap_parts; q++) {
            (*out)[k] = (ferry_kafka_tp_t){pt->snap_topic, q, 0};
            (*table_of)[k++] = i;
        }
    }
    return 0;
}

/*
 * Rows the consumer has not applied, per table (pt->unapplied): in its
 * snapshot topic, each partition's end less the offset the consumer's
 * group committed there (from 0 where it committed nothing), plus a
 * chunk's worth for each task handed out and not done. Transaction
 * markers, the rows of attempts that lost, and chunks both done and not yet
 * seen done count too: an upper bound. A table finished and applied up to
 * the markers (one per partition at most) is not asked about again.
 */
static int pace_measure(ferry_fullload_planner_t *p, char *errstr, size_t errstr_size)
{
    int rc = 0;
    if (!p->group)
        rc = ferry_kafka_consumer_new(&p->group, p->conf.consumer_group, p->conf.kafka_props, NULL,
                                      errstr, errstr_size);
    ferry_kafka_tp_t *tps = NULL;
    size_t *table_of = NULL, n = 0;
    if (!rc)
        rc = pace_partitions(p, &tps, &table_of, &n, errstr, errstr_size);
    int64_t *position = NULL, *high = NULL;
    int64_t *left = calloc(p->n ? p->n : 1, sizeof(*left));
    if (!rc && !left)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (!rc && n > 0) {
        position = calloc(n, sizeof(*position));
        high = calloc(n, sizeof(*high));
        if (!position || !high)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        if (!rc)
            rc = ferry_kafka_consumer_ends(p->group, tps, n, p->conf.timeout_ms, position, high,
                                           errstr, errstr_size);
        if (!rc)
            rc = ferry_kafka_consumer_committed(p->group, tps, n, p->conf.timeout_ms, errstr,
                                                errstr_size);
    }
    for (size_t k = 0; !rc && k < n; k++) {
        int64_t from = tps[k].offset >= 0 ? tps[k].offset : 0;
        if (high[k] > from)
            left[table_of[k]] += high[k] - from;
    }
    for (size_t i = 0; !rc && i < p->n; i++) {
        plan_table_t *pt = &p->tables[i];
        if (pt->settled)
            continue;
        if (pt->prog.finished && pt->snap_parts > 0 && left[i] <= pt->snap_parts)
            pt->settled = true;
        /* tasks handed out and not done yet will be there soon */
        if (pt->planned > pt->prog.chunks_done)
            left[i] += (pt->planned - pt->prog.chunks_done) * (int64_t)pt->chunk_rows;
        pt->unapplied = pt->settled ? 0 : left[i];
    }
    free(tps);
    free(table_of);
    free(position);
    free(high);
    free(left);
    return rc;
}

/*
 * True when table i has max_unapplied_rows rows the consumer has not
 * applied: it waits, and the other tables take their turns. Each table is
 * held by its own rows only, so a table the consumer does not read (one it
 * could not create) holds back no other. Measured at most every
 * PACE_REFRESH_MS; in between, the tasks written since count as unapplied.
 * When Kafka cannot say, the copy goes on as it would without the limit and
 * asks again a few seconds later (with a warning now and then): rows the
 * broker drops before the consumer read them stop the link with an error,
 * never silently.
 */
static bool pace_hold(ferry_fullload_planner_t *p, size_t i)
{
    if (p->conf.max_unapplied_rows <= 0)
        return false;
    int64_t now = ferry_wall_ms();
    if (now >= p->measure_at_ms) {
        char err[512];
        int rc = pace_measure(p, err, sizeof(err));
        p->measured = rc == 0;
        p->measure_at_ms = now + (rc ? 5000 : PACE_REFRESH_MS);
        if (rc && now - p->warned_ms >= 10000) {
            ferry_log_warn("could not learn how far the consumer applied the snapshot; copying "
                           "on without waiting for it",
                           "group=%s error=\"%s\"", p->conf.consumer_group, err);
            p->warned_ms = now;
        }
    }
    return p->measured && p->tables[i].unapplied >= p->tables[i].max_unapplied;
}

int ferry_fullload_planner_step(ferry_fullload_planner_t *p, int wait_ms, char *errstr,
                                size_t errstr_size)
{
    int rc = ferry_fullload_donelog_catch_up(p->done, p->conf.timeout_ms, errstr, errstr_size);
    if (rc)
        return rc;
    int64_t open = planner_tally(p);
    bool wrote = false, more = true, held = false, asked = false;
    /*
     * The tables take turns, a task each: their chunks are then copied and
     * loaded side by side, so the destination's loaders write to different
     * tables (several loaders inserting into one table's indexes wait on
     * each other's latches) and no table waits for all before it.
     */
    while (more && open < p->conf.max_outstanding) {
        more = false;
        for (size_t i = 0; i < p->n && open < p->conf.max_outstanding; i++) {
            if (ferry_chunk_planner_done(p->tables[i].cp))
                continue;
            asked = true;
            if (!p->tables[i].sized) /* its byte limits count from its first task on */
                size_table(p, &p->tables[i]);
            if (pace_hold(p, i)) {
                held = true;
                continue;
            }
            /*
             * One task at the broker before the next leaves: a restarted
             * planner resumes after a table's highest chunk id, so a later
             * task must never be there without an earlier one (tasks go
             * to several partitions, and a partition waiting for a retry
             * would let a later task pass). About one round trip per
             * 10,000 rows.
             */
            if ((rc = planner_write_one(p, i, errstr, errstr_size)) != 0 ||
                (rc = ferry_kafka_producer_flush(p->producer, p->conf.timeout_ms, errstr,
                                                 errstr_size)) != 0)
                return rc;
            open++;
            wrote = more = true;
        }
    }
    if (wrote)
        planner_tally(p);
    /* a step that asked no table (all handed out, or too many open) keeps the state */
    if (asked && held != p->waiting) {
        /* near the limit a table waits and goes on many times a second */
        int64_t now = ferry_wall_ms(), unapplied = planner_unapplied_sum(p);
        if (held && now - p->told_ms >= 30000) {
            ferry_log_info("full load waiting for the consumer", "unapplied_rows=%lld limit=%lld",
                           (long long)unapplied, (long long)p->conf.max_unapplied_rows);
            p->told_ms = now;
        } else {
            ferry_log_debug(held ? "full load waiting for the consumer" : "full load goes on",
                            "unapplied_rows=%lld", (long long)unapplied);
        }
        p->waiting = held;
    }
    bool finished = true;
    for (size_t i = 0; i < p->n; i++)
        finished = finished && p->tables[i].prog.finished;
    if (finished)
        return 1;
    if (!wrote && wait_ms > 0)
        sleep_ms(wait_ms < 200 ? wait_ms : 200);
    return 0;
}

int64_t ferry_fullload_planner_unapplied(const ferry_fullload_planner_t *p, bool *waiting)
{
    *waiting = p->waiting;
    return p->conf.max_unapplied_rows > 0 && p->measured ? planner_unapplied_sum(p) : -1;
}

size_t ferry_fullload_planner_progress(const ferry_fullload_planner_t *p,
                                       ferry_fullload_progress_t *out, size_t cap)
{
    for (size_t i = 0; i < p->n && i < cap; i++)
        out[i] = p->tables[i].prog;
    return p->n;
}

/* ---- worker ------------------------------------------------------------------ */

/*
 * What a worker keeps per table: the shape it reads and publishes in
 * (fullload_shape.h; t is the shape's sel, the columns as the source names
 * them now), codecs, schema headers, topic.
 */
typedef struct {
    char *db, *table; /* the announced names: topic, task ids and events use them */
    ferry_fullload_shape_t shape;
    const ferry_table_t *t;
    bool stale;                         /* the source's definition changed: make the shape again */
    ferry_avro_codec_t *codec, *kcodec; /* kcodec NULL for keyless tables */
    uint8_t vhdr[FERRY_WIRE_SOE_HDR_LEN], khdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t vhdr_len, khdr_len;
    char topic[600];
    int nparts;
    uint32_t hash;
    char *where; /* the row filter's SQL (row_filter.h), NULL for none */
} work_table_t;

struct ferry_fullload_worker {
    ferry_fullload_worker_conf_t conf;
    char **props; /* copy of conf.kafka_props */
    ferry_db_t *db;
    ferry_mysql_flavor_t flavor;
    ferry_kafka_producer_t *producer;
    ferry_fullload_tasks_t *tasks; /* conf.tasks, or own_tasks */
    ferry_fullload_tasks_t *own_tasks;
    ferry_fullload_donelog_t *done;
    char txn_id[400], done_topic[300];
    work_table_t *tables;
    size_t n_tables;
    ferry_arena_t *arenas[2]; /* the pending row and the one being read */
    ferry_avro_buf_t key, val;
    bool reconnect; /* the source connection failed; connect again before the next attempt */
    uint64_t attempt_seq;
    int64_t started_ms;
    ferry_fullload_stats_t stats;
};

static void work_table_free(work_table_t *e)
{
    free(e->db);
    free(e->table);
    ferry_fullload_shape_clear(&e->shape);
    ferry_avro_codec_destroy(e->codec);
    ferry_avro_codec_destroy(e->kcodec);
    free(e->where);
}

static int worker_connect(ferry_fullload_worker_t *w, char *errstr, size_t errstr_size)
{
    ferry_db_close(w->db);
    w->db = NULL;
    int rc = ferry_db_connect(w->conf.source_url, "source", w->conf.timeout_ms, &w->db, errstr,
                              errstr_size);
    if (!rc)
        rc = ferry_mysql_rows_session(ferry_db_mysql(w->db), errstr, errstr_size);
    if (!rc)
        w->flavor = ferry_mysql_flavor_from_version(ferry_db_server_version(w->db));
    return rc;
}

static int worker_producer(ferry_fullload_worker_t *w, char *errstr, size_t errstr_size)
{
    ferry_kafka_producer_destroy(w->producer, 0);
    w->producer = NULL;
    int rc = ferry_kafka_producer_new(&w->producer, (const char *const *)w->props, w->txn_id,
                                      errstr, errstr_size);
    if (!rc)
        rc = ferry_kafka_producer_init_transactions(w->producer, w->conf.timeout_ms, errstr,
                                                    errstr_size);
    return rc;
}

/* The table's row filter, checked as capture checks it, as SQL for the chunk SELECTs. */
static int work_table_filter(ferry_fullload_worker_t *w, const char *db, const char *table,
                             work_table_t *e, char *errstr, size_t errstr_size)
{
    ferry_row_filter_t *f = NULL;
    int rc = ferry_link_row_filter(w->conf.row_filters, db, table, e->shape.cur, e->shape.cur_def,
                                   &f, errstr, errstr_size);
    if (!rc && f && !(e->where = strdup(ferry_row_filter_sql(f))))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    ferry_row_filter_destroy(f);
    return rc;
}

/* Reads the table's definition and prepares everything its rows need. */
static int work_table_load(ferry_fullload_worker_t *w, const char *db, const char *table,
                           work_table_t *e, char *errstr, size_t errstr_size)
{
    memset(e, 0, sizeof(*e));
    ferry_avro_schemas_t s = {0};
    ferry_fullload_shape_src_t src = {.kafka_props = w->conf.kafka_props,
                                      .prefix = w->conf.prefix,
                                      .registry = w->conf.registry,
                                      .filters = w->conf.filters,
                                      .timeout_ms = w->conf.timeout_ms};
    int rc = ferry_fullload_shape_load(ferry_db_mysql(w->db), w->flavor, &src, db, table, &e->shape,
                                       errstr, errstr_size);
    e->t = e->shape.sel;
    /* the project's filter of the table, bound to its columns as the source has them now */
    if (!rc && !e->shape.dropped)
        rc = work_table_filter(w, db, table, e, errstr, errstr_size);
    e->db = strdup(db);
    e->table = strdup(table);
    if (!rc && (!e->db || !e->table))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = ferry_avro_schema_generate(e->shape.pub, w->conf.prefix, &s, errstr, errstr_size);
    if (!rc)
        rc = ferry_avro_codec_new(s.envelope_json, strlen(s.envelope_json), &e->codec, errstr,
                                  errstr_size);
    if (!rc && s.key_json)
        rc = ferry_avro_codec_new(s.key_json, strlen(s.key_json), &e->kcodec, errstr, errstr_size);
    if (!rc &&
        ferry_fullload_snapshot_topic(w->conf.prefix, db, table, e->topic, sizeof(e->topic)) < 0)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                           "could not name the snapshot topic of `%s`.`%s`: the name is longer "
                           "than Kafka's 249 characters",
                           db, table);
    if (!rc)
        rc = ferry_fullload_snapshot_topic_make(w->producer, e->topic, w->conf.snapshot_partitions,
                                                w->conf.replication_factor, w->conf.timeout_ms,
                                                errstr, errstr_size);
    /* through the producer, which then sends the first chunk's rows at once */
    if (!rc)
        rc = ferry_kafka_producer_topic_partitions(w->producer, e->topic, w->conf.timeout_ms,
                                                   &e->nparts, errstr, errstr_size);
    if (!rc)
        rc = ferry_registry_header_for(w->conf.registry, e->topic, 0, s.envelope_json, e->vhdr,
                                       &e->vhdr_len, errstr, errstr_size);
    if (!rc && s.key_json)
        rc = ferry_registry_header_for(w->conf.registry, e->topic, 1, s.key_json, e->khdr,
                                       &e->khdr_len, errstr, errstr_size);
    ferry_avro_schema_release(&s);
    if (!rc && e->nparts <= 0)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL, "topic \"%s\" has no partitions",
                           e->topic);
    if (rc) {
        work_table_free(e);
        memset(e, 0, sizeof(*e));
        return rc;
    }
    e->hash = (uint32_t)hash_str(e->topic);
    return 0;
}

static int work_table_get(ferry_fullload_worker_t *w, const char *db, const char *table,
                          work_table_t **out, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < w->n_tables; i++)
        if (strcmp(w->tables[i].db, db) == 0 && strcmp(w->tables[i].table, table) == 0) {
            *out = &w->tables[i];
            return 0;
        }
    work_table_t e;
    int rc = work_table_load(w, db, table, &e, errstr, errstr_size);
    if (rc)
        return rc;
    work_table_t *grown = realloc(w->tables, (w->n_tables + 1) * sizeof(*grown));
    if (!grown) {
        work_table_free(&e);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    w->tables = grown;
    w->tables[w->n_tables] = e;
    *out = &w->tables[w->n_tables++];
    return 0;
}

static char **copy_props(const char *const *props)
{
    size_t n = 0;
    while (props && props[n])
        n++;
    char **c = calloc(n + 1, sizeof(*c));
    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(c[i] = strdup(props[i]))) {
            for (size_t j = 0; j < i; j++)
                free(c[j]);
            free(c);
            return NULL;
        }
    return c;
}

static char *dup_or(const char *s, const char *dflt)
{
    return strdup(s ? s : dflt);
}

void ferry_fullload_worker_destroy(ferry_fullload_worker_t *w)
{
    if (!w)
        return;
    ferry_fullload_tasks_destroy(w->own_tasks);
    ferry_kafka_producer_destroy(w->producer, 0);
    ferry_fullload_donelog_destroy(w->done);
    ferry_db_close(w->db);
    for (size_t i = 0; i < w->n_tables; i++)
        work_table_free(&w->tables[i]);
    free(w->tables);
    for (size_t i = 0; w->props && w->props[i]; i++)
        free(w->props[i]);
    free(w->props);
    free((char *)w->conf.project);
    free((char *)w->conf.prefix);
    free((char *)w->conf.worker_id);
    free((char *)w->conf.source_url);
    free((char *)w->conf.connector);
    free((char *)w->conf.version);
    ferry_avro_buf_free(&w->key);
    ferry_avro_buf_free(&w->val);
    ferry_arena_destroy(w->arenas[0]);
    ferry_arena_destroy(w->arenas[1]);
    free(w);
}

int ferry_fullload_worker_new(const ferry_fullload_worker_conf_t *conf,
                              ferry_fullload_worker_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (!conf->project || !conf->prefix || !conf->worker_id || !conf->kafka_props ||
        !conf->source_url || !conf->registry)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not start a full-load worker: project, prefix, worker id, "
                             "kafka properties, source URL and registry are required");
    ferry_fullload_worker_t *w = calloc(1, sizeof(*w));
    if (!w)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    w->conf = *conf;
    w->conf.project = strdup(conf->project);
    w->conf.prefix = strdup(conf->prefix);
    w->conf.worker_id = strdup(conf->worker_id);
    w->conf.source_url = strdup(conf->source_url);
    w->conf.connector = dup_or(conf->connector, "mysql");
    w->conf.version = dup_or(conf->version, "ferry");
    w->props = copy_props(conf->kafka_props);
    w->conf.kafka_props = (const char *const *)w->props;
    w->arenas[0] = ferry_arena_new(0);
    w->arenas[1] = ferry_arena_new(0);
    if (!w->conf.project || !w->conf.prefix || !w->conf.worker_id || !w->conf.source_url ||
        !w->conf.connector || !w->conf.version || !w->props || !w->arenas[0] || !w->arenas[1]) {
        ferry_fullload_worker_destroy(w);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    if (!w->conf.snapshot_partitions)
        w->conf.snapshot_partitions = 8;
    if (!w->conf.max_attempts)
        w->conf.max_attempts = 5;
    if (!w->conf.timeout_ms)
        w->conf.timeout_ms = DEFAULT_TIMEOUT_MS;
    w->started_ms = ferry_wall_ms();
    snprintf(w->txn_id, sizeof(w->txn_id), "ferry.%s.fullload.%s", conf->project, conf->worker_id);
    ferry_fullload_done_topic(conf->project, w->done_topic, sizeof(w->done_topic));
    /*
     * Join the group first when the worker has no shared task source: the
     * broker holds a new group's first join about 3 s for more members,
     * which the rest of the set-up (the source connection, the
     * transactional producer's id) then overlaps.
     */
    int rc = 0;
    w->tasks = conf->tasks;
    if (!w->tasks && !(rc = ferry_fullload_tasks_new(conf->project, w->conf.kafka_props,
                                                     &w->own_tasks, errstr, errstr_size)))
        w->tasks = w->own_tasks;
    if (!rc)
        rc = worker_connect(w, errstr, errstr_size);
    if (!rc)
        rc = worker_producer(w, errstr, errstr_size);
    if (!rc)
        rc = create_done_topic(w->conf.kafka_props, conf->project, w->conf.replication_factor,
                               w->conf.timeout_ms, errstr, errstr_size);
    /* through the producer, or its first done-marker waits about a second for the metadata */
    int done_parts;
    if (!rc)
        rc = ferry_kafka_producer_topic_partitions(w->producer, w->done_topic, w->conf.timeout_ms,
                                                   &done_parts, errstr, errstr_size);
    if (!rc)
        rc = ferry_fullload_donelog_new(conf->project, w->conf.kafka_props, &w->done, errstr,
                                        errstr_size);
    if (rc) {
        ferry_fullload_worker_destroy(w);
        return rc;
    }
    *out = w;
    return 0;
}

void ferry_fullload_worker_stats(const ferry_fullload_worker_t *w, ferry_fullload_stats_t *out)
{
    *out = w->stats;
}

/* ---- one attempt at a chunk ---------------------------------------------- */

typedef struct {
    ferry_fullload_worker_t *w;
    const ferry_chunk_task_t *task;
    work_table_t *e;
    const char *task_id;
    char attempt[200];
    int32_t partition;
    int64_t read_ms;
    int64_t rows, bytes;
    char snap_file[256]; /* binlog position of the chunk's consistent read; "" unknown */
    int64_t snap_pos;
    int64_t left_out; /* rows a changed column's value kept out (fullload_shape.h) */
} attempt_t;

static int mysql_error_class(MYSQL *conn);

/*
 * Opens a consistent snapshot for the chunk's SELECT and reads the binlog
 * position it corresponds to exactly (MariaDB's binlog_snapshot_file /
 * _position): every change at or before it is in the chunk, every change
 * after it is not. Servers without those variables leave it unknown.
 */
static int snapshot_begin(attempt_t *a, MYSQL *conn, char *errstr, size_t errstr_size)
{
    a->snap_file[0] = '\0';
    a->snap_pos = -1;
    if (mysql_query(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY") != 0) {
        int rc = mysql_error_class(conn);
        return ferry_err_set(errstr, errstr_size, rc, "could not read chunk \"%s\": %s", a->task_id,
                             mysql_error(conn));
    }
    if (mysql_query(conn, "SHOW STATUS LIKE 'binlog_snapshot_%'") == 0) {
        MYSQL_RES *r = mysql_store_result(conn);
        MYSQL_ROW row;
        while (r && (row = mysql_fetch_row(r)) != NULL) {
            if (row[0] && row[1] && strcmp(row[0], "Binlog_snapshot_file") == 0)
                snprintf(a->snap_file, sizeof(a->snap_file), "%s", row[1]);
            else if (row[0] && row[1] && strcmp(row[0], "Binlog_snapshot_position") == 0)
                a->snap_pos = strtoll(row[1], NULL, 10);
        }
        mysql_free_result(r);
    }
    if (!a->snap_file[0])
        a->snap_pos = -1;
    return 0;
}

/* MySQL errors worth another attempt: lost connections, lock waits, deadlocks. */
static int mysql_error_class(MYSQL *conn)
{
    unsigned e = mysql_errno(conn);
    if ((e >= 2000 && e < 3000) || e == 1205 || e == 1213 || e == 1317 || e == 1040 || e == 1053 ||
        e == 1927)
        return FERRY_ERR_RETRIABLE;
    return FERRY_ERR_IO;
}

static bool value_has_bytes(ferry_type_t t)
{
    switch (t) {
    case FERRY_TYPE_DECIMAL:
    case FERRY_TYPE_STRING:
    case FERRY_TYPE_BYTES:
    case FERRY_TYPE_ENUM:
    case FERRY_TYPE_SET:
    case FERRY_TYPE_JSON:
    case FERRY_TYPE_GEOMETRY:
    case FERRY_TYPE_ARRAY:
        return true;
    default:
        return false;
    }
}

/* Moves a row's strings out of the client library's buffer into the row's arena. */
static bool own_row(ferry_arena_t *a, const ferry_table_t *t, ferry_row_t *row)
{
    for (size_t i = 0; i < row->n; i++) {
        ferry_value_t *v = &row->values[i];
        if (v->is_null || !value_has_bytes(ferry_table_column(t, i)->type))
            continue;
        char *copy = ferry_arena_strndup(a, v->v.s.ptr ? v->v.s.ptr : "", v->v.s.len);
        if (!copy)
            return false;
        v->v.s.ptr = copy;
    }
    return true;
}

/* ferry_kafka_produce, waiting while the local queue is full. */
static int produce_waiting(ferry_fullload_worker_t *w, const ferry_kafka_record_t *rec,
                           char *errstr, size_t errstr_size)
{
    int64_t deadline = ferry_wall_ms() + w->conf.timeout_ms;
    for (;;) {
        int rc = ferry_kafka_produce(w->producer, rec, errstr, errstr_size);
        if (rc != FERRY_ERR_RETRIABLE || ferry_wall_ms() >= deadline)
            return rc;
        ferry_kafka_producer_poll(w->producer, POLL_MS);
    }
}

/* Encodes row (ordinal a->rows) and produces it with the chunk headers. */
static int produce_row(attempt_t *a, const ferry_row_t *row, bool last, char *errstr,
                       size_t errstr_size)
{
    ferry_fullload_worker_t *w = a->w;
    work_table_t *e = a->e;
    ferry_change_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.op = 'r';
    ev.after = row;
    ev.source.version = w->conf.version;
    ev.source.connector = w->conf.connector;
    ev.source.name = w->conf.prefix;
    ev.source.ts_ms = a->read_ms;
    ev.source.snapshot = last ? "last" : "true";
    ev.source.db = e->db;
    ev.source.table = e->table;
    ev.has_ts_ms = true;
    ev.ts_ms = ferry_wall_ms();
    w->key.len = w->val.len = 0;
    if (ferry_avro_buf_reserve(&w->val, e->vhdr_len) != 0 ||
        (e->kcodec && ferry_avro_buf_reserve(&w->key, e->khdr_len) != 0))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    memcpy(w->val.data, e->vhdr, e->vhdr_len);
    w->val.len = e->vhdr_len;
    char why[512];
    int rc = ferry_avro_codec_encode_change(e->codec, &ev, &w->val, why, sizeof(why));
    if (!rc && e->kcodec) {
        memcpy(w->key.data, e->khdr, e->khdr_len);
        w->key.len = e->khdr_len;
        rc = ferry_avro_codec_encode_key(e->kcodec, row, &w->key, why, sizeof(why));
    }
    if (rc)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not encode row %lld of chunk \"%s\": %s", (long long)a->rows,
                             a->task_id, why);
    char ordinal[24], count[24];
    snprintf(ordinal, sizeof(ordinal), "%lld", (long long)a->rows);
    snprintf(count, sizeof(count), "%lld", (long long)a->rows + 1);
    ferry_kafka_header_t hdrs[4] = {
        {FERRY_FULLLOAD_HDR_CHUNK, a->task_id, strlen(a->task_id)},
        {FERRY_FULLLOAD_HDR_ATTEMPT, a->attempt, strlen(a->attempt)},
        {FERRY_FULLLOAD_HDR_ROW, ordinal, strlen(ordinal)},
        {FERRY_FULLLOAD_HDR_LAST, count, strlen(count)},
    };
    ferry_kafka_record_t rec = {.topic = e->topic,
                                .partition = a->partition,
                                .key = e->kcodec ? w->key.data : NULL,
                                .key_len = e->kcodec ? w->key.len : 0,
                                .value = w->val.data,
                                .value_len = w->val.len,
                                .headers = hdrs,
                                .header_cnt = last ? 4 : 3};
    if ((rc = produce_waiting(w, &rec, errstr, errstr_size)) != 0)
        return rc;
    a->rows++;
    a->bytes += (int64_t)(w->key.len + w->val.len);
    return 0;
}

/* Server errors that say the table is not what the shape was made from. */
static bool shape_error(unsigned e)
{
    return e == 1054 /* unknown column */ || e == 1146 /* no such table */ ||
           e == 1412 /* table definition changed since the snapshot began */;
}

/* A failed chunk SELECT: the class of its error; a changed table is made again. */
static int read_error(attempt_t *a, MYSQL *conn, char *errstr, size_t errstr_size)
{
    int rc = mysql_error_class(conn);
    if (shape_error(mysql_errno(conn))) {
        a->e->stale = true;
        rc = FERRY_ERR_RETRIABLE;
    } else {
        a->w->reconnect = rc == FERRY_ERR_RETRIABLE;
    }
    return ferry_err_set(errstr, errstr_size, rc, "could not read chunk \"%s\": %s", a->task_id,
                         mysql_error(conn));
}

/*
 * Inside the chunk's consistent snapshot: the source table still has the
 * columns its shape was made from. A statement that commits later cannot
 * change what the snapshot reads (or fails the SELECT: read_error).
 */
static int check_shape(attempt_t *a, MYSQL *conn, char *errstr, size_t errstr_size)
{
    const ferry_fullload_shape_t *s = &a->e->shape;
    char *sig = NULL;
    unsigned server_errno;
    int rc = ferry_fullload_shape_signature(conn, s->src_db, s->src_table, &sig, &server_errno,
                                            errstr, errstr_size);
    if (rc == FERRY_ERR_IO) {
        rc = server_errno >= 2000 && server_errno < 3000 ? FERRY_ERR_RETRIABLE : FERRY_ERR_IO;
        a->w->reconnect = rc == FERRY_ERR_RETRIABLE;
    }
    if (!rc && (!sig || strcmp(sig, s->sig) != 0)) {
        a->e->stale = true;
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_RETRIABLE,
                           "could not read chunk \"%s\": the definition of `%s`.`%s` changed; "
                           "reading it again",
                           a->task_id, s->src_db, s->src_table);
    }
    free(sig);
    return rc;
}

/* The source's name now of the announced column name (itself when unknown or gone). */
static const char *current_name(const ferry_fullload_shape_t *shape, const char *name)
{
    for (size_t c = 0; shape->pub && c < ferry_table_ncolumns(shape->pub); c++) {
        if (strcmp(ferry_table_column(shape->pub, c)->name, name) != 0)
            continue;
        size_t at = shape->sel_of ? shape->sel_of[c] : FERRY_FULLLOAD_SHAPE_GONE;
        return at == FERRY_FULLLOAD_SHAPE_GONE ? name : ferry_table_column(shape->sel, at)->name;
    }
    return name;
}

/*
 * Streams the chunk's SELECT into the open transaction. A row is produced
 * when the next one has arrived, so that the last one can carry the
 * marker; the pending row is copied out of the client buffer first.
 */
static int stream_rows(attempt_t *a, char *errstr, size_t errstr_size)
{
    ferry_fullload_worker_t *w = a->w;
    if (a->e->shape.dropped)
        return 0; /* dropped at the source: the consumer drops it too, after this chunk */
    MYSQL *conn = ferry_db_mysql(w->db);
    ferry_strbuf_t sql = FERRY_STRBUF_INIT;
    /* a key column renamed at the source since the chunk was planned: read it by its name now */
    ferry_chunk_task_t task = *a->task;
    const char **names = calloc(task.n_keys + 1, sizeof(*names));
    if (!names)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < task.n_keys; k++)
        names[k] = current_name(&a->e->shape, task.key_columns[k]);
    task.key_columns = names;
    int rc = ferry_chunk_sql_select_where(&sql, a->e->t, &task, a->e->where, errstr, errstr_size);
    free(names);
    if (!rc && sql.oom)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (rc) {
        ferry_strbuf_free(&sql);
        return rc;
    }
    MYSQL_RES *res = NULL;
    a->read_ms = ferry_wall_ms();
    if ((rc = snapshot_begin(a, conn, errstr, errstr_size)) != 0) {
        ferry_strbuf_free(&sql);
        w->reconnect = rc == FERRY_ERR_RETRIABLE;
        return rc;
    }
    if ((rc = check_shape(a, conn, errstr, errstr_size)) != 0) {
        ferry_strbuf_free(&sql);
        mysql_query(conn, "ROLLBACK");
        return rc;
    }
    if (a->e->shape.reshaped && !a->e->kcodec && a->snap_file[0]) {
        /*
         * The consumer would skip a key-less table's changes up to the read
         * position, and with them the values the announced shape cannot
         * carry: it replays them from P0 instead (safe mode).
         */
        ferry_log_warn("key-less table changed since its announcement; its changes are replayed "
                       "in safe mode",
                       "chunk=%s", a->task_id);
        a->snap_file[0] = '\0';
        a->snap_pos = -1;
    }
    if (mysql_real_query(conn, sql.buf, sql.len) != 0 || !(res = mysql_use_result(conn))) {
        rc = read_error(a, conn, errstr, errstr_size);
        ferry_strbuf_free(&sql);
        mysql_query(conn, "ROLLBACK");
        return rc;
    }
    ferry_strbuf_free(&sql);
    const ferry_row_t *pending = NULL;
    int cur = 0;
    MYSQL_ROW cells;
    while (!rc && (cells = mysql_fetch_row(res)) != NULL) {
        ferry_arena_reset(w->arenas[cur]);
        ferry_row_t *row;
        const ferry_row_t *pub = NULL;
        rc = ferry_mysql_rows_convert(a->e->t, cells, mysql_fetch_lengths(res), w->arenas[cur],
                                      &row, errstr, errstr_size);
        if (rc == FERRY_ERR_INVALID && a->e->shape.reshaped) {
            rc = 0; /* a value of a changed column that is not of the announced type */
            a->left_out++;
            continue;
        }
        if (!rc && !own_row(w->arenas[cur], a->e->t, row))
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        if (!rc && ferry_fullload_shape_row(&a->e->shape, row, w->arenas[cur], &pub) != 0)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        if (!rc && !pub) {
            a->left_out++;
            continue;
        }
        if (!rc && pending)
            rc = produce_row(a, pending, false, errstr, errstr_size);
        pending = pub;
        cur = 1 - cur;
    }
    if (!rc && mysql_errno(conn))
        rc = read_error(a, conn, errstr, errstr_size);
    if (!rc && pending)
        rc = produce_row(a, pending, true, errstr, errstr_size);
    mysql_free_result(res); /* reads what is left of an abandoned result */
    if (mysql_query(conn, "COMMIT") != 0 && !rc) {
        rc = mysql_error_class(conn);
        ferry_err_set(errstr, errstr_size, rc, "could not end the read of chunk \"%s\": %s",
                      a->task_id, mysql_error(conn));
        w->reconnect = rc == FERRY_ERR_RETRIABLE;
    }
    if (!rc && a->left_out)
        ferry_log_info("rows whose changed column does not fit the announced type left to the "
                       "change replay",
                       "chunk=%s rows=%lld", a->task_id, (long long)a->left_out);
    return rc;
}

static int produce_marker(attempt_t *a, char *errstr, size_t errstr_size)
{
    ferry_fullload_worker_t *w = a->w;
    ferry_fullload_done_t d = {
        .task_id = (char *)a->task_id,
        .db = a->e->db,
        .table = a->e->table,
        .attempt = a->attempt,
        .topic = a->e->topic,
        .worker = (char *)w->conf.worker_id,
        .chunk_id = a->task->chunk_id,
        .generation = a->task->generation,
        .rows = a->rows,
        .partition = a->partition,
        .chunks_total = a->task->chunks_total,
        .ts_ms = ferry_wall_ms(),
        .snapshot_file = a->snap_file[0] ? a->snap_file : NULL,
        .snapshot_pos = a->snap_pos,
    };
    char *json = done_json(&d);
    if (!json)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    ferry_kafka_record_t rec = {.topic = w->done_topic,
                                .partition = FERRY_KAFKA_PARTITION_ANY,
                                .key = a->task_id,
                                .key_len = strlen(a->task_id),
                                .value = json,
                                .value_len = strlen(json)};
    int rc = produce_waiting(w, &rec, errstr, errstr_size);
    free(json);
    return rc;
}

/*
 * One attempt: rows, then (only once every row is acknowledged) the
 * done-marker, then commit - all one transaction. On failure the
 * transaction is aborted and the producer replaced if it cannot go on.
 */
static int run_attempt(attempt_t *a, char *errstr, size_t errstr_size)
{
    ferry_fullload_worker_t *w = a->w;
    int rc = ferry_kafka_producer_begin(w->producer, errstr, errstr_size);
    bool open = rc == 0;
    if (!rc)
        rc = stream_rows(a, errstr, errstr_size);
    if (!rc)
        rc = ferry_kafka_producer_flush(w->producer, w->conf.timeout_ms, errstr, errstr_size);
    if (!rc)
        rc = produce_marker(a, errstr, errstr_size);
    if (!rc) {
        rc = ferry_kafka_producer_commit(w->producer, w->conf.timeout_ms, errstr, errstr_size);
        open = false; /* a failed commit has aborted, or left the producer unusable */
    }
    bool replace = rc == FERRY_ERR_FATAL;
    char why[256];
    if (rc && open &&
        ferry_kafka_producer_abort(w->producer, w->conf.timeout_ms, why, sizeof(why)) != 0)
        replace = true;
    if (replace) {
        /* a new producer with the same transactional id fences the old one */
        if (worker_producer(w, why, sizeof(why)) != 0) {
            ferry_log_warn("could not replace the transactional producer",
                           "transactional_id=%s error=\"%s\"", w->txn_id, why);
            return FERRY_ERR_FATAL;
        }
        if (rc == FERRY_ERR_FATAL)
            rc = FERRY_ERR_RETRIABLE;
    }
    return rc;
}

/* ---- taking tasks ------------------------------------------------------------ */

/* ABORTED: the attempt's Kafka transaction failed and run_attempt aborted it */
static bool retriable(int rc)
{
    return rc == FERRY_ERR_RETRIABLE || rc == FERRY_ERR_TIMEOUT || rc == FERRY_ERR_ABORTED;
}

/* True when the done topic already has task_id (read up to its end first). */
static bool already_done(ferry_fullload_worker_t *w, const char *task_id)
{
    char why[512];
    if (ferry_fullload_donelog_catch_up(w->done, w->conf.timeout_ms, why, sizeof(why)) != 0)
        ferry_log_warn("could not read the done topic to its end", "topic=%s error=\"%s\"",
                       w->done_topic, why);
    return ferry_fullload_donelog_get(w->done, task_id) != NULL;
}

/* Forgets the table's shape, so that the next attempt makes it again from the source. */
static void work_table_forget(ferry_fullload_worker_t *w, const char *db, const char *table)
{
    for (size_t i = 0; i < w->n_tables; i++)
        if (strcmp(w->tables[i].db, db) == 0 && strcmp(w->tables[i].table, table) == 0) {
            work_table_free(&w->tables[i]);
            memmove(&w->tables[i], &w->tables[i + 1], (w->n_tables - i - 1) * sizeof(*w->tables));
            w->n_tables--;
            return;
        }
}

/* Attempts a table's changing definition may take beyond max_attempts (about a minute). */
#define MAX_RESHAPES 300

/* Copies one task in attempts until one commits, it is found done, or it fails for good. */
static int run_task(ferry_fullload_worker_t *w, const ferry_chunk_task_t *task, const char *task_id,
                    ferry_fullload_result_t *res, char *errstr, size_t errstr_size)
{
    int rc = FERRY_ERR_RETRIABLE, reshapes = 0;
    for (int n = 1; n <= w->conf.max_attempts && retriable(rc); n++) {
        if (n > 1) {
            w->stats.attempts_failed++;
            ferry_log_warn("chunk attempt failed; retrying", "chunk=%s attempt=%d error=\"%s\"",
                           task_id, n - 1, errstr);
            sleep_ms(200 * (n - 1));
            if (already_done(w, task_id)) {
                res->skipped = true;
                return 0;
            }
        }
        if (w->reconnect) {
            if ((rc = worker_connect(w, errstr, errstr_size)) != 0)
                continue;
            w->reconnect = false;
        }
        work_table_t *e = NULL;
        if ((rc = work_table_get(w, task->db, task->table, &e, errstr, errstr_size)) != 0) {
            if (rc == FERRY_ERR_IO) {
                w->reconnect = true;
                rc = FERRY_ERR_RETRIABLE;
            } else if (rc == FERRY_ERR_RETRIABLE && reshapes++ < MAX_RESHAPES) {
                n--; /* a renamed table whose RENAME capture has not published yet */
                sleep_ms(200);
            }
            continue;
        }
        attempt_t a = {.w = w, .task = task, .e = e, .task_id = task_id};
        snprintf(a.attempt, sizeof(a.attempt), "%s:%ld:%lld:%llu", w->conf.worker_id,
                 (long)getpid(), (long long)w->started_ms, (unsigned long long)++w->attempt_seq);
        a.partition = (int32_t)((e->hash + (uint64_t)task->chunk_id) % (uint64_t)e->nparts);
        res->attempts = n;
        rc = run_attempt(&a, errstr, errstr_size);
        if (!rc) {
            res->rows = a.rows;
            res->bytes = a.bytes;
        } else if (e->stale) {
            ferry_log_info("table definition changed during its full load; reading it again",
                           "chunk=%s reason=\"%s\"", task_id, errstr);
            work_table_forget(w, task->db, task->table);
            if (rc == FERRY_ERR_RETRIABLE && reshapes++ < MAX_RESHAPES)
                n--; /* not a failure of the chunk */
        }
    }
    return rc;
}

int ferry_fullload_worker_poll(ferry_fullload_worker_t *w, int timeout_ms,
                               ferry_fullload_result_t *res, char *errstr, size_t errstr_size)
{
    memset(res, 0, sizeof(*res));
    ferry_kafka_msg_t *m = NULL;
    int rc = ferry_fullload_tasks_take(w->tasks, timeout_ms, &m, errstr, errstr_size);
    if (rc == FERRY_ERR_RETRIABLE)
        return 0; /* the client recovers by itself */
    if (rc || !m)
        return rc;
    res->ran = true;
    ferry_chunk_task_t *task;
    char why[512];
    if (ferry_chunk_task_decode(m->value, m->value_len, &task, why, sizeof(why)) != 0) {
        ferry_log_warn("skipping a message that is not a chunk task",
                       "topic=%s partition=%d offset=%lld error=\"%s\"", m->topic,
                       (int)m->partition, (long long)m->offset, why);
        res->skipped = true;
        ferry_fullload_tasks_finish(w->tasks, m, true);
        ferry_kafka_msg_destroy(m);
        return 0;
    }
    ferry_strbuf_t id = FERRY_STRBUF_INIT;
    ferry_chunk_task_id(task, &id);
    snprintf(res->task_id, sizeof(res->task_id), "%s", id.buf ? id.buf : "");
    if (id.oom) {
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    } else if (already_done(w, id.buf)) {
        res->skipped = true;
    } else {
        rc = run_task(w, task, id.buf, res, errstr, errstr_size);
        if (rc) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "%s", errstr ? errstr : "");
            rc = ferry_err_set(errstr, errstr_size, rc,
                               "could not copy chunk \"%s\" of table \"%s.%s\": %s", id.buf,
                               task->db, task->table, msg);
        }
    }
    if (!rc) {
        if (res->skipped)
            w->stats.tasks_skipped++;
        else
            w->stats.tasks_done++;
        w->stats.rows += (uint64_t)res->rows;
        w->stats.bytes += (uint64_t)res->bytes;
    }
    ferry_fullload_tasks_finish(w->tasks, m, rc == 0);
    ferry_strbuf_free(&id);
    ferry_chunk_task_destroy(task);
    ferry_kafka_msg_destroy(m);
    return rc;
}
