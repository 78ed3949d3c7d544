/*
 * capture.c - the capture loop (capture.h): binlog events in, Kafka
 * transactions of change events, DDL events and one checkpoint out.
 *
 * The loop keeps three positions apart, as pg_recvlogical does: where the
 * stream is (c->file/c->pos, possibly inside a source transaction), the end
 * of the last whole source transaction read (the same when !c->in_txn), and
 * the committed checkpoint (c->ckpt), which only moves when a Kafka
 * transaction holding everything before it has committed. Any failure
 * rewinds to the committed checkpoint: the stream is reopened there and the
 * decoder starts afresh, so nothing after a checkpoint is ever assumed to
 * be in Kafka.
 */
#include "capture_int.h"

#include "clock.h"
#include "ddl_event.h"
#include "err.h"
#include "ferry_avsc.h"
#include "link_map.h"
#include "log.h"
#include "topics.h"

#include <inttypes.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Why the last step failed, so the loop knows how to recover. */
enum { FAIL_NONE = 0, FAIL_KAFKA, FAIL_SOURCE };

/* sql_mode bits that change how a statement is read (same in MySQL and MariaDB). */
#define SQL_MODE_ANSI_QUOTES          0x4ULL
#define SQL_MODE_NO_BACKSLASH_ESCAPES 0x200000ULL

/* a group's change records held before librdkafka gets them ("held records") */
#define HOLD_MAX_BYTES ((size_t)4 << 20)

/* Records why a step failed and passes its error code on. */
static int fail_as(ferry_capture_t *c, int kind, int rc)
{
    c->fail_kind = kind;
    return rc;
}

/* ---- status ---------------------------------------------------------------- */

static void set_state(ferry_capture_t *c, ferry_capture_state_t s)
{
    pthread_mutex_lock(&c->mu);
    c->st.state = s;
    pthread_mutex_unlock(&c->mu);
}

static void status_read_position(ferry_capture_t *c)
{
    int64_t now = ferry_mono_ms();
    pthread_mutex_lock(&c->mu);
    snprintf(c->st.read_file, sizeof(c->st.read_file), "%s", c->file);
    c->st.read_pos = c->pos;
    c->st.last_source_ts_ms = c->last_ts_ms;
    if (now - c->rate_t0 >= 1000) {
        c->st.events_per_s =
            (double)(c->events_read - c->rate_events) * 1000.0 / (double)(now - c->rate_t0);
        c->rate_t0 = now;
        c->rate_events = c->events_read;
    }
    pthread_mutex_unlock(&c->mu);
}

void ferry_capture_status(ferry_capture_t *c, ferry_capture_status_t *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    int64_t pending = c->pending_ts_ms ? ferry_wall_ms() - c->pending_ts_ms : 0;
    pthread_mutex_unlock(&c->mu);
    if (pending > out->lag_ms)
        out->lag_ms = pending;
}

/* A change joined the open group: it is pending until the group commits. */
static void note_pending(ferry_capture_t *c)
{
    pthread_mutex_lock(&c->mu);
    if (!c->pending_ts_ms)
        c->pending_ts_ms = c->last_ts_ms ? c->last_ts_ms : ferry_wall_ms();
    pthread_mutex_unlock(&c->mu);
}

size_t ferry_capture_table_counts(ferry_capture_t *c, ferry_capture_table_count_t *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    for (cap_table_t *t = c->tables; t; t = t->next) {
        if (!t->selected)
            continue;
        if (n < max) {
            snprintf(out[n].db, sizeof(out[n].db), "%s", t->db);
            snprintf(out[n].table, sizeof(out[n].table), "%s", t->name);
            out[n].inserts = t->total[0];
            out[n].updates = t->total[1];
            out[n].deletes = t->total[2];
        }
        n++;
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

void ferry_capture_set_snapshot_done(ferry_capture_t *c)
{
    atomic_store(&c->snapshot_done, true);
}

/* ---- set-up ---------------------------------------------------------------- */

static char *dup_opt(const char *s)
{
    return strdup(s ? s : "");
}

/* Server version, flavour, server id and binlog checksum, from the metadata session. */
static int source_facts(ferry_capture_t *c, char *errstr, size_t errstr_size)
{
    int rc =
        ferry_db_connect(c->source_url, "source", c->timeout_ms, &c->meta, errstr, errstr_size);
    if (rc != 0)
        return rc;
    MYSQL *my = ferry_db_mysql(c->meta);
    if (!my)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not capture: the source is not MySQL-family");
    if (mysql_query(my, "SELECT VERSION(), @@server_id, @@global.binlog_checksum") != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                             "could not read the source's binlog settings: %s", mysql_error(my));
    MYSQL_RES *res = mysql_store_result(my);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    if (!row) {
        mysql_free_result(res);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                             "could not read the source's binlog settings: no row");
    }
    c->flavor = ferry_mysql_flavor_from_version(row[0] ? row[0] : "");
    c->connector = c->flavor == FERRY_MYSQL_FLAVOR_MARIADB ? "mariadb" : "mysql";
    c->source_server_id = row[1] ? strtoll(row[1], NULL, 10) : 0;
    c->checksum_alg = row[2] && strcasecmp(row[2], "CRC32") == 0 ? 1 : 0;
    mysql_free_result(res);
    return 0;
}

/* Parses the row filter of every selected table that exists now: a bad one stops capture here. */
static int check_row_filters(ferry_capture_t *c, char *errstr, size_t errstr_size)
{
    MYSQL *my = ferry_db_mysql(c->meta);
    if (mysql_query(my, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                        "WHERE TABLE_TYPE = 'BASE TABLE'") != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                             "could not list the source's tables: %s", mysql_error(my));
    MYSQL_RES *res = mysql_store_result(my);
    MYSQL_ROW row;
    int rc = 0;
    while (rc == 0 && res && (row = mysql_fetch_row(res))) {
        if (!row[0] || !row[1])
            continue;
        cap_table_t *t;
        rc = ferry_capture_table_get(c, row[0], row[1], &t, errstr, errstr_size);
    }
    mysql_free_result(res);
    return rc;
}

static int producer_open(ferry_capture_t *c, char *errstr, size_t errstr_size)
{
    int rc =
        ferry_kafka_producer_new(&c->producer, c->kprops, c->kafka_txn_id, errstr, errstr_size);
    if (rc == 0)
        rc =
            ferry_kafka_producer_init_transactions(c->producer, c->timeout_ms, errstr, errstr_size);
    if (rc != 0) {
        ferry_kafka_producer_destroy(c->producer, 0);
        c->producer = NULL;
    }
    c->kafka_open = false;
    return rc;
}

static int build_props(ferry_capture_t *c)
{
    const char *const *user = ferry_conf_kafka_props(c->project);
    size_t n = 0;
    while (user && user[n])
        n++;
    c->kprops = calloc(n + 5, sizeof(*c->kprops));
    if (!c->kprops)
        return FERRY_ERR_NOMEM;
    /* every producer of the link picks a key's partition alike (Java's murmur2) */
    c->kprops[0] = "partitioner";
    c->kprops[1] = "murmur2_random";
    /*
     * Every group ends with a transaction commit, whose flush sends what is
     * still queued at once, so lingering adds no lag; it sets how many
     * batches a group becomes. Under a steady load of about 12,000 changes/s
     * over 64 partitions, 25 ms made up to four small batches per partition
     * per group, and ferry-devkafka spent 0.17-0.28 of a core on them (its
     * mock walks a partition's batches one by one on every fetch); 100 ms, a
     * group's age, makes about one: 0.06-0.09 of a core for the same load,
     * and backlogs were applied no slower (docs/PERFORMANCE.md, session 14).
     */
    c->kprops[2] = "linger.ms";
    c->kprops[3] = "100";
    for (size_t i = 0; i < n; i++)
        c->kprops[4 + i] = user[i];
    return 0;
}

ferry_capture_t *ferry_capture_new(const ferry_capture_conf_t *conf, char *errstr,
                                   size_t errstr_size)
{
    if (!conf || !conf->project || !conf->prefix || !conf->registry) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                      "could not set up capture: project, prefix and registry are required");
        return NULL;
    }
    ferry_capture_t *c = calloc(1, sizeof(*c));
    if (!c) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->tables_tail = &c->tables;
    c->project = conf->project;
    c->registry = conf->registry;
    c->prefix = strdup(conf->prefix);
    const char *dot = strrchr(conf->prefix, '.');
    c->link = strdup(dot ? dot + 1 : conf->prefix);
    c->version = conf->version ? strdup(conf->version) : NULL;
    c->source_url = dup_opt(ferry_conf_get(conf->project, "source.url"));
    c->start_file = dup_opt(conf->start_file);
    c->start_gtid = dup_opt(conf->start_gtid);
    c->start_pos = conf->start_pos;
    c->max_events = conf->max_events > 0 ? conf->max_events : 20000;
    c->max_ms = conf->max_ms > 0 ? conf->max_ms : 100;
    c->hold.max = conf->hold_bytes > 0 ? conf->hold_bytes : HOLD_MAX_BYTES;
    c->idle_ms = conf->idle_checkpoint_ms > 0 ? conf->idle_checkpoint_ms : 2000;
    c->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 30000;
    c->replica_id = ferry_conf_replica_server_id(conf->project);
    if (conf->transactional_id) {
        c->kafka_txn_id = strdup(conf->transactional_id);
    } else if ((c->kafka_txn_id = malloc(strlen(conf->prefix) + 16)) != NULL) {
        sprintf(c->kafka_txn_id, "%s.capture", conf->prefix);
    }
    snprintf(c->ddl_topic, sizeof(c->ddl_topic), "%s.ddl", conf->prefix);
    snprintf(c->off_topic, sizeof(c->off_topic), "%s.offsets", conf->prefix);
    c->arena = ferry_arena_new(0);
    c->gtids = ferry_binlog_gtid_set_new();
    c->empty_map = ferry_rename_map_new();
    int rc = 0;
    if (!c->prefix || !c->link || (conf->version && !c->version) || !c->source_url ||
        !c->start_file || !c->start_gtid || !c->kafka_txn_id || !c->arena || !c->gtids ||
        !c->empty_map || build_props(c) != 0)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (rc == 0)
        rc = source_facts(c, errstr, errstr_size);
    if (rc == 0)
        rc = check_row_filters(c, errstr, errstr_size);
    if (rc == 0)
        rc = ferry_registry_header_for(c->registry, c->ddl_topic, 0, ferry_ddl_event_schema(),
                                       c->ddl_hdr, &c->ddl_hdr_len, errstr, errstr_size);
    if (rc == 0)
        rc = ferry_registry_header_for(c->registry, c->off_topic, 0, FERRY_AVSC_SOURCE_POSITION,
                                       c->off_hdr, &c->off_hdr_len, errstr, errstr_size);
    if (rc == 0)
        rc = producer_open(c, errstr, errstr_size);
    if (rc != 0) {
        ferry_capture_destroy(c);
        return NULL;
    }
    return c;
}

void ferry_capture_destroy(ferry_capture_t *c)
{
    if (!c)
        return;
    ferry_binlog_stream_close(c->stream);
    if (c->producer && c->kafka_open)
        ferry_kafka_producer_abort(c->producer, c->timeout_ms, NULL, 0);
    ferry_kafka_producer_destroy(c->producer, 0);
    ferry_capture_tables_free(c);
    ferry_db_close(c->meta);
    ferry_binlog_decoder_destroy(c->dec);
    ferry_arena_destroy(c->arena);
    ferry_binlog_gtid_set_destroy(c->gtids);
    ferry_rename_map_destroy(c->empty_map);
    ferry_avro_buf_free(&c->kbuf);
    ferry_avro_buf_free(&c->vbuf);
    ferry_avro_buf_free(&c->hold.buf);
    free(c->kprops);
    free(c->prefix);
    free(c->link);
    free(c->kafka_txn_id);
    free(c->version);
    free(c->source_url);
    free(c->start_file);
    free(c->start_gtid);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- Kafka ------------------------------------------------------------------- */

static int kafka_begin(ferry_capture_t *c, char *errstr, size_t errstr_size)
{
    if (c->kafka_open)
        return 0;
    int rc = ferry_kafka_producer_begin(c->producer, errstr, errstr_size);
    if (rc != 0)
        return fail_as(c, FAIL_KAFKA, rc);
    c->kafka_open = true;
    return 0;
}

/* Frames body_fn's output behind hdr in c->vbuf. */
static void frame(ferry_avro_buf_t *b, const uint8_t *hdr, size_t hdr_len)
{
    b->len = 0;
    if (ferry_avro_buf_reserve(b, hdr_len) == 0) {
        memcpy(b->data, hdr, hdr_len);
        b->len = hdr_len;
    }
}

static int produce(ferry_capture_t *c, const char *topic, int32_t partition, const void *key,
                   size_t key_len, char *errstr, size_t errstr_size)
{
    ferry_kafka_record_t rec = {.topic = topic,
                                .partition = partition,
                                .key = key,
                                .key_len = key_len,
                                .value = c->vbuf.data,
                                .value_len = c->vbuf.len};
    int rc = ferry_kafka_produce(c->producer, &rec, errstr, errstr_size);
    return rc ? fail_as(c, FAIL_KAFKA, rc) : 0;
}

/* ---- held records ------------------------------------------------------------ */

/*
 * A group's change records are held here and given to librdkafka together,
 * just before the group's flush. librdkafka adds a partition to the Kafka
 * transaction when the first record for it is produced, one
 * AddPartitionsToTxn request at a time, and after each answer its main
 * thread waits out a 1 ms timer by spinning (it sleeps in whole
 * milliseconds). Records produced as the source's transactions came in
 * brought the partitions a few at a time: at 1,000 transactions/s, 21 rounds
 * per group and 0.17 of a core spinning (docs/PERFORMANCE.md, session 15).
 * Produced together they take one or two rounds. Holding adds no lag: the
 * records would wait for the commit's flush in librdkafka's queue anyway
 * (linger.ms, build_props). A group whose held records reach hold_bytes
 * (ferry_capture_conf_t; 4 MiB by default) produces them then and the rest
 * of its records at once, so a backlog keeps records going to the broker
 * while it is read.
 */
#define HOLD_NO_KEY UINT32_MAX

/* What precedes a held record's topic (NUL included), key and value in hold.buf. */
typedef struct {
    int32_t partition;
    uint32_t topic_len, key_len, value_len;
} held_t;

/* Forgets the held records: the group committed, or is read again from the checkpoint. */
static void hold_reset(ferry_capture_t *c)
{
    c->hold.buf.len = 0;
    c->hold.released = false;
}

/* Produces the held records in the order they were held; the group's next ones go at once. */
static int hold_release(ferry_capture_t *c, char *errstr, size_t errstr_size)
{
    c->hold.released = true;
    if (c->hold.buf.len == 0)
        return 0;
    const uint8_t *d = c->hold.buf.data, *end = d + c->hold.buf.len;
    int rc = 0;
    while (d < end && rc == 0) {
        held_t h;
        memcpy(&h, d, sizeof(h));
        d += sizeof(h);
        ferry_kafka_record_t rec = {.topic = (const char *)d, .partition = h.partition};
        d += h.topic_len;
        if (h.key_len != HOLD_NO_KEY) {
            rec.key = d;
            rec.key_len = h.key_len;
            d += h.key_len;
        }
        rec.value = d;
        rec.value_len = h.value_len;
        d += h.value_len;
        rc = ferry_kafka_produce(c->producer, &rec, errstr, errstr_size);
    }
    c->hold.buf.len = 0;
    return rc ? fail_as(c, FAIL_KAFKA, rc) : 0;
}

/* produce() for a change record (its value in c->vbuf): held while the group is young. */
static int hold_add(ferry_capture_t *c, const char *topic, int32_t partition, const void *key,
                    size_t key_len, char *errstr, size_t errstr_size)
{
    size_t topic_len = strlen(topic) + 1;
    size_t need = sizeof(held_t) + topic_len + (key ? key_len : 0) + c->vbuf.len;
    if (c->hold.released || c->hold.buf.len + need > c->hold.max) {
        if (!c->hold.released && c->hold.buf.len > 0) {
            pthread_mutex_lock(&c->mu);
            c->st.early_releases++;
            pthread_mutex_unlock(&c->mu);
        }
        int rc = hold_release(c, errstr, errstr_size);
        return rc ? rc : produce(c, topic, partition, key, key_len, errstr, errstr_size);
    }
    if (ferry_avro_buf_reserve(&c->hold.buf, need) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    held_t h = {.partition = partition,
                .topic_len = (uint32_t)topic_len,
                .key_len = key ? (uint32_t)key_len : HOLD_NO_KEY,
                .value_len = (uint32_t)c->vbuf.len};
    uint8_t *d = c->hold.buf.data + c->hold.buf.len;
    memcpy(d, &h, sizeof(h));
    d += sizeof(h);
    memcpy(d, topic, topic_len);
    d += topic_len;
    if (key) {
        memcpy(d, key, key_len);
        d += key_len;
    }
    memcpy(d, c->vbuf.data, c->vbuf.len);
    c->hold.buf.len += need;
    return 0;
}

/*
 * Produces the held records and waits until every record of the group is at
 * the broker.
 */
static int group_flush(ferry_capture_t *c, char *errstr, size_t errstr_size)
{
    int rc = hold_release(c, errstr, errstr_size);
    if (rc == 0 && c->group_events > 0 &&
        (rc = ferry_kafka_producer_flush(c->producer, c->timeout_ms, errstr, errstr_size)) != 0)
        rc = fail_as(c, FAIL_KAFKA, rc);
    return rc;
}

/*
 * Commits the open group with a checkpoint at the stream's position, which
 * is the end of the last whole source transaction (callers make sure
 * !c->in_txn). idle: the source had nothing new; ts_ms is then "now".
 */
static int commit_group(ferry_capture_t *c, bool idle, char *errstr, size_t errstr_size)
{
    ferry_capture_position_t p;
    memset(&p, 0, sizeof(p));
    snprintf(p.file, sizeof(p.file), "%s", c->file);
    p.pos = c->pos;
    char *g = ferry_binlog_gtid_set_format(c->gtids);
    if (!g)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    snprintf(p.gtid_set, sizeof(p.gtid_set), "%s", g);
    free(g);
    p.ts_ms = idle || !c->last_ts_ms ? ferry_wall_ms() : c->last_ts_ms;
    p.snapshot_done = atomic_load(&c->snapshot_done);

    frame(&c->vbuf, c->off_hdr, c->off_hdr_len);
    int rc = ferry_capture_position_encode(&p, c->connector, c->source_server_id, &c->vbuf, errstr,
                                           errstr_size);
    if (rc != 0)
        return rc;
    if ((rc = kafka_begin(c, errstr, errstr_size)) != 0)
        return rc;
    /*
     * Every record of the group is at the broker before the checkpoint
     * leaves: a reader that sees uncommitted records (ferry-devkafka) may
     * read a checkpoint whose transaction never committed, and a producer
     * restarted from it must then find every change before it in the change
     * topics. Without the flush the commit sends all partitions at once, in
     * any order, and a kill in between lost the changes behind the
     * checkpoint.
     */
    int64_t t_flush = ferry_mono_ms();
    if ((rc = group_flush(c, errstr, errstr_size)) != 0)
        return rc;
    int64_t t_commit = ferry_mono_ms();
    if ((rc = produce(c, c->off_topic, FERRY_KAFKA_PARTITION_ANY, c->link, strlen(c->link), errstr,
                      errstr_size)) != 0)
        return rc;
    rc = ferry_kafka_producer_commit(c->producer, c->timeout_ms, errstr, errstr_size);
    if (rc != 0) {
        /* RETRIABLE: already aborted; FATAL: the producer must be replaced */
        c->kafka_open = rc == FERRY_ERR_FATAL;
        return fail_as(c, FAIL_KAFKA, rc);
    }
    c->kafka_open = false;
    c->ckpt = p;
    int64_t t_done = ferry_mono_ms();
    ferry_log_debug("capture group committed",
                    "events=%" PRIu64 " transactions=%" PRIu64 " age_ms=%lld flush_ms=%lld "
                    "commit_ms=%lld",
                    c->group_events, c->group_txns,
                    (long long)(c->group_start_ms ? t_flush - c->group_start_ms : 0),
                    (long long)(t_commit - t_flush), (long long)(t_done - t_commit));
    pthread_mutex_lock(&c->mu);
    snprintf(c->st.file, sizeof(c->st.file), "%s", p.file);
    c->st.pos = p.pos;
    c->st.events += c->group_events;
    c->st.transactions += c->group_txns;
    c->st.kafka_commits++;
    c->pending_ts_ms = 0;
    if (idle)
        c->st.lag_ms = 0;
    for (cap_table_t *t = c->tables; t; t = t->next)
        for (int k = 0; k < 3; k++) {
            t->total[k] += t->pend[k];
            t->pend[k] = 0;
        }
    pthread_mutex_unlock(&c->mu);
    c->group_events = c->group_txns = 0;
    c->group_ddl = false;
    c->group_start_ms = 0;
    hold_reset(c);
    c->last_commit_ms = ferry_mono_ms();
    return 0;
}

/* ---- source transactions ------------------------------------------------------ */

static void begin_txn(ferry_capture_t *c, const char *gtid, uint64_t start_pos)
{
    c->in_txn = true;
    c->txn_begun = false;
    c->txn_seq++;
    c->txn_order = 0;
    snprintf(c->txn_gtid, sizeof(c->txn_gtid), "%s", gtid ? gtid : "");
    if (gtid && *gtid)
        snprintf(c->txn_id, sizeof(c->txn_id), "%s", gtid);
    else
        snprintf(c->txn_id, sizeof(c->txn_id), "%s:%" PRIu64, c->file, start_pos);
}

/* A source transaction ended: the group may commit now. */
static int end_txn(ferry_capture_t *c, char *errstr, size_t errstr_size)
{
    c->in_txn = c->txn_begun = false;
    c->group_txns++;
    int64_t now = ferry_mono_ms();
    if (!c->group_start_ms)
        c->group_start_ms = now;
    bool due = c->group_ddl || c->group_events >= (uint64_t)c->max_events ||
               (c->group_events > 0 && now - c->group_start_ms >= c->max_ms) ||
               (c->group_events == 0 && now - c->last_commit_ms >= c->idle_ms);
    return due ? commit_group(c, false, errstr, errstr_size) : 0;
}

/* A heartbeat: the source had nothing more to send for a while. */
static int on_idle(ferry_capture_t *c, char *errstr, size_t errstr_size)
{
    if (c->in_txn)
        return 0;
    pthread_mutex_lock(&c->mu);
    c->st.lag_ms = 0;
    pthread_mutex_unlock(&c->mu);
    if (c->group_events > 0)
        return commit_group(c, false, errstr, errstr_size);
    if (ferry_mono_ms() - c->last_commit_ms >= c->idle_ms)
        return commit_group(c, true, errstr, errstr_size);
    return 0;
}

/* ---- DDL --------------------------------------------------------------------------- */

static bool db_selected(const ferry_conf_t *project, const char *db)
{
    /* a database counts when its (hypothetical) unnamed table would be selected */
    return ferry_link_table_selected(project, db, "");
}

static bool ddl_selected(void *arg, const char *db, const char *table)
{
    ferry_capture_t *c = arg;
    return table ? ferry_link_table_selected(c->project, db, table) : db_selected(c->project, db);
}

/* The definition of db.table now, with the column filter applied, as JSON; NULL if unknown. */
static char *definition_json(ferry_capture_t *c, const char *db, const char *table)
{
    ferry_tabledef_t *def = NULL;
    ferry_rename_map_t *filters = NULL;
    ferry_table_name_t tn = {(char *)db, (char *)table};
    char err[256];
    char *json = NULL;
    if (ferry_capture_read_tabledef(c, db, table, &def, err, sizeof(err)) == 0 &&
        ferry_link_map_new(c->project, &tn, 1, &filters, err, sizeof(err)) == 0 &&
        ferry_link_filter_columns(def, filters, err, sizeof(err)) == 0)
        json = ferry_tabledef_to_json(def);
    ferry_rename_map_destroy(filters);
    ferry_tabledef_destroy(def);
    return json;
}

static int emit_ddl(ferry_capture_t *c, const ferry_binlog_event_t *ev, uint64_t end_pos,
                    const ferry_ddl_rewrite_t *rw, const char *sql, char *errstr,
                    size_t errstr_size)
{
    const ferry_ddl_name_t *first = NULL;
    const char **tables = ferry_arena_calloc(c->arena, rw->n_names + 1, sizeof(*tables));
    if (!tables)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    size_t n_tables = 0;
    for (size_t i = 0; i < rw->n_names; i++) {
        const ferry_ddl_name_t *nm = &rw->names[i];
        if (!first && ddl_selected(c, nm->db, nm->table))
            first = nm;
        if (nm->table) {
            char *s = ferry_arena_alloc(c->arena, strlen(nm->db) + strlen(nm->table) + 2);
            if (!s)
                return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
            sprintf(s, "%s.%s", nm->db, nm->table);
            tables[n_tables++] = s;
        }
    }
    if (!first)
        return 0; /* names no selected table */

    ferry_ddl_event_t d;
    memset(&d, 0, sizeof(d));
    d.connector = c->connector;
    d.db = first->db;
    d.table = first->table;
    d.kind = ferry_ddl_kind_name(rw->kind);
    d.statement = sql;
    d.ts_ms = (int64_t)ev->timestamp * 1000;
    d.has_server_id = true;
    d.server_id = ev->server_id;
    d.gtid = c->txn_gtid[0] ? c->txn_gtid : NULL;
    d.file = c->file;
    d.has_pos = true;
    d.pos = (int64_t)end_pos;
    d.default_db = ev->u.query.db && *ev->u.query.db ? ev->u.query.db : NULL;
    uint64_t mode = ev->u.query.sql_mode_set ? ev->u.query.sql_mode : 0;
    bool aq = mode & SQL_MODE_ANSI_QUOTES, nbe = mode & SQL_MODE_NO_BACKSLASH_ESCAPES;
    d.sql_mode = aq && nbe ? "ANSI_QUOTES,NO_BACKSLASH_ESCAPES"
                 : aq      ? "ANSI_QUOTES"
                 : nbe     ? "NO_BACKSLASH_ESCAPES"
                           : NULL;
    d.tables = tables;
    d.n_tables = n_tables;
    if (rw->kind == FERRY_DDL_RENAME_TABLE && rw->n_names >= 2 && rw->names[1].table)
        d.renamed_to = tables[1];
    else if (rw->kind == FERRY_DDL_ALTER_TABLE && rw->rename_to && rw->rename_to < n_tables)
        d.renamed_to = tables[rw->rename_to];
    bool names_table = rw->kind == FERRY_DDL_CREATE_TABLE || rw->kind == FERRY_DDL_RENAME_TABLE ||
                       (rw->kind == FERRY_DDL_ALTER_TABLE && rw->rename_to);
    for (size_t i = 0; names_table && i < rw->n_names; i++)
        if (rw->names[i].table && ddl_selected(c, rw->names[i].db, rw->names[i].table))
            ferry_capture_change_topic_make(c, rw->names[i].db, rw->names[i].table);
    char *json = NULL;
    if ((rw->kind == FERRY_DDL_CREATE_TABLE || rw->kind == FERRY_DDL_ALTER_TABLE) && first->table)
        json = definition_json(c, first->db, first->table);
    d.table_definition = json;

    frame(&c->vbuf, c->ddl_hdr, c->ddl_hdr_len);
    int rc = ferry_ddl_event_encode(&d, &c->vbuf, errstr, errstr_size);
    free(json);
    if (rc != 0)
        return rc;
    char key[600];
    if (first->table)
        snprintf(key, sizeof(key), "%s.%s", first->db, first->table);
    else
        snprintf(key, sizeof(key), "%s", first->db);
    if ((rc = kafka_begin(c, errstr, errstr_size)) != 0)
        return rc;
    /*
     * The changes before the statement reach their partitions before the
     * statement reaches the ddl topic: a reader that sees uncommitted records
     * (ferry-devkafka) may act on the statement at once, and must then find
     * every change before it in the change partitions' ends (consumer/ddl.c).
     */
    if ((rc = group_flush(c, errstr, errstr_size)) != 0)
        return rc;
    if ((rc = produce(c, c->ddl_topic, 0, key, strlen(key), errstr, errstr_size)) != 0)
        return rc;
    c->group_events++;
    note_pending(c);
    c->group_ddl = true;
    c->events_read++;
    ferry_log_info("captured DDL", "kind=%s db=%s table=%s pos=%s:%" PRIu64, d.kind, d.db,
                   d.table ? d.table : "", c->file, end_pos);
    return 0;
}

/* A statement other than BEGIN / COMMIT: DDL on selected tables becomes a ddl event. */
static int on_statement(ferry_capture_t *c, const ferry_binlog_event_t *ev, uint64_t end_pos,
                        char *errstr, size_t errstr_size)
{
    uint64_t mode = ev->u.query.sql_mode_set ? ev->u.query.sql_mode : 0;
    unsigned flags = ((mode & SQL_MODE_ANSI_QUOTES) ? FERRY_DDL_ANSI_QUOTES : 0) |
                     ((mode & SQL_MODE_NO_BACKSLASH_ESCAPES) ? FERRY_DDL_NO_BACKSLASH_ESCAPES : 0);
    const char *sql = ferry_arena_strndup(c->arena, ev->u.query.sql, ev->u.query.sql_len);
    if (!sql)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    ferry_ddl_rewrite_t rw;
    memset(&rw, 0, sizeof(rw));
    char why[512] = "";
    int rc = ferry_mysql_ddl_rewrite(ev->u.query.db, sql, ev->u.query.sql_len, flags, c->empty_map,
                                     ddl_selected, c, &rw, why, sizeof(why));
    if (rc == FERRY_ERR_NOMEM) {
        ferry_ddl_rewrite_free(&rw);
        return ferry_err_set(errstr, errstr_size, rc, "out of memory");
    }
    if (rw.kind == FERRY_DDL_OTHER) {
        ferry_ddl_rewrite_free(&rw);
        return 0;
    }
    /* whatever happens to the event, the named tables' schemas are stale now */
    for (size_t i = 0; i < rw.n_names; i++) {
        if (rw.names[i].table) {
            ferry_capture_table_invalidate(c, rw.names[i].db, rw.names[i].table);
            continue;
        }
        for (cap_table_t *t = c->tables; t; t = t->next)
            if (strcmp(t->db, rw.names[i].db) == 0)
                t->valid = false;
    }
    rc = emit_ddl(c, ev, end_pos, &rw, sql, errstr, errstr_size);
    ferry_ddl_rewrite_free(&rw);
    return rc;
}

/* Matches a whole keyword at the start of sql (case-insensitive). */
static bool starts_with_word(const char *sql, size_t len, const char *word)
{
    size_t n = strlen(word);
    if (len < n || strncasecmp(sql, word, n) != 0)
        return false;
    return len == n || sql[n] == ' ' || sql[n] == '\t' || sql[n] == '\n' || sql[n] == '\r' ||
           sql[n] == ';' || sql[n] == '/';
}

static int on_query(ferry_capture_t *c, const ferry_binlog_event_t *ev, uint64_t end_pos,
                    char *errstr, size_t errstr_size)
{
    const char *sql = ev->u.query.sql;
    size_t len = ev->u.query.sql_len;
    while (len && (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r')) {
        sql++;
        len--;
    }
    uint64_t start = end_pos >= ev->event_size ? end_pos - ev->event_size : 0;
    if (starts_with_word(sql, len, "BEGIN")) {
        if (!c->in_txn)
            begin_txn(c, NULL, start);
        c->txn_begun = true;
        return 0;
    }
    if (starts_with_word(sql, len, "COMMIT") || starts_with_word(sql, len, "ROLLBACK"))
        return c->in_txn ? end_txn(c, errstr, errstr_size) : 0;
    if (starts_with_word(sql, len, "XA") || starts_with_word(sql, len, "SAVEPOINT"))
        return 0;
    if (!c->in_txn)
        begin_txn(c, NULL, start);
    int rc = on_statement(c, ev, end_pos, errstr, errstr_size);
    if (rc == 0 && !c->txn_begun) /* a statement outside BEGIN..COMMIT is its own transaction */
        rc = end_txn(c, errstr, errstr_size);
    return rc;
}

/* ---- rows ---------------------------------------------------------------------------- */

/* True when the key of ch's after image differs from its before image's. */
static bool key_changed(ferry_capture_t *c, cap_table_t *t, const ferry_change_t *ch)
{
    ferry_avro_buf_t before = {0};
    char err[64];
    c->kbuf.len = 0;
    bool changed = ferry_avro_codec_encode_key(t->key, ch->before, &before, err, sizeof(err)) ||
                   ferry_avro_codec_encode_key(t->key, ch->after, &c->kbuf, err, sizeof(err)) ||
                   before.len != c->kbuf.len || memcmp(before.data, c->kbuf.data, before.len);
    ferry_avro_buf_free(&before);
    return changed;
}

/* Encodes ch with its key and produces it to the table's change topic. */
static int emit(ferry_capture_t *c, cap_table_t *t, const ferry_change_t *ch, uint64_t end_pos,
                size_t r, char *errstr, size_t errstr_size)
{
    const void *key = NULL;
    size_t key_len = 0;
    int rc = 0;
    if (t->key) {
        frame(&c->kbuf, t->khdr, t->khdr_len);
        rc = ferry_avro_codec_encode_key(t->key, ch->after ? ch->after : ch->before, &c->kbuf,
                                         errstr, errstr_size);
        key = c->kbuf.data;
        key_len = c->kbuf.len;
    }
    if (rc == 0) {
        frame(&c->vbuf, t->vhdr, t->vhdr_len);
        rc = ferry_avro_codec_encode_change(t->env, ch, &c->vbuf, errstr, errstr_size);
    }
    if (rc != 0) {
        char why[300];
        snprintf(why, sizeof(why), "%s", errstr ? errstr : "");
        return ferry_err_set(errstr, errstr_size, rc,
                             "could not encode the change of `%s`.`%s` at %s:%" PRIu64
                             " row %zu: %s",
                             t->db, t->name, c->file, end_pos, r, why);
    }
    /* keyless tables and tables with another unique key keep their order in one partition */
    return hold_add(c, t->topic, t->key && !t->one_partition ? FERRY_KAFKA_PARTITION_ANY : 0, key,
                    key_len, errstr, errstr_size);
}

/*
 * Applies t's row filter (where.<db>.<table>) to ch: an insert or delete
 * goes when its row matches; an update goes as an update when both images
 * match, as a delete of the old row when only the before image does (the
 * row left the filter), as a create of the new row when only the after
 * image does (the row entered it). Returns 1 to send ch as it is now, 0 to
 * drop it, or a negative ferry_err_t.
 */
static int filter_change(ferry_capture_t *c, cap_table_t *t, ferry_change_t *ch, char *errstr,
                         size_t errstr_size)
{
    if (!t->filter)
        return 1;
    int before = 0, after = 0;
    if (ch->before &&
        (before = ferry_capture_table_match(c, t, ch->before, errstr, errstr_size)) < 0)
        return before;
    if (ch->after && (after = ferry_capture_table_match(c, t, ch->after, errstr, errstr_size)) < 0)
        return after;
    if (ch->op == 'u' && before != after) {
        ch->op = before ? 'd' : 'c';
        if (before)
            ch->after = NULL;
        else
            ch->before = NULL;
        return 1;
    }
    return ch->op == 'd' ? before : after;
}

static int on_rows(ferry_capture_t *c, const ferry_binlog_event_t *ev, uint64_t end_pos,
                   char *errstr, size_t errstr_size)
{
    const ferry_binlog_table_t *bt = ev->u.rows.table;
    cap_table_t *t;
    int rc = ferry_capture_table_get(c, bt->db, bt->name, &t, errstr, errstr_size);
    if (rc != 0 || !t->selected)
        return rc;
    if ((rc = ferry_capture_table_prepare(c, t, bt, errstr, errstr_size)) != 0)
        return rc == FERRY_ERR_RETRIABLE ? fail_as(c, FAIL_SOURCE, rc) : rc;
    for (size_t k = 0; k < t->n_keep; k++) {
        size_t i = t->keep[k];
        if ((ev->u.rows.before && !ferry_binlog_bit(ev->u.rows.before_cols, i)) ||
            (ev->u.rows.after && !ferry_binlog_bit(ev->u.rows.after_cols, i)))
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                                 "could not capture the row event of `%s`.`%s` ending at "
                                 "%s:%" PRIu64 ": column `%s` is missing from its row image; "
                                 "set binlog_row_image=FULL on the source",
                                 t->db, t->name, c->file, end_pos,
                                 ferry_table_column(t->table, k)->name);
    }
    if (!c->in_txn)
        begin_txn(c, NULL, end_pos >= ev->event_size ? end_pos - ev->event_size : 0);
    if ((rc = kafka_begin(c, errstr, errstr_size)) != 0)
        return rc;
    char op = ev->u.rows.op == FERRY_BINLOG_OP_INSERT   ? 'c'
              : ev->u.rows.op == FERRY_BINLOG_OP_UPDATE ? 'u'
                                                        : 'd';
    if (t->txn_seq != c->txn_seq) {
        t->txn_seq = c->txn_seq;
        t->data_order = 0;
    }
    int64_t now = ferry_wall_ms();
    for (size_t r = 0; r < ev->u.rows.n_rows; r++) {
        ferry_change_t ch;
        memset(&ch, 0, sizeof(ch));
        ch.op = op;
        ch.before = ev->u.rows.before
                        ? ferry_capture_table_project(t, &ev->u.rows.before[r], c->arena)
                        : NULL;
        ch.after = ev->u.rows.after ? ferry_capture_table_project(t, &ev->u.rows.after[r], c->arena)
                                    : NULL;
        if ((ev->u.rows.before && !ch.before) || (ev->u.rows.after && !ch.after))
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        if ((rc = filter_change(c, t, &ch, errstr, errstr_size)) <= 0) {
            if (rc == 0)
                continue; /* not in the filter, before or after */
            return rc == FERRY_ERR_RETRIABLE ? fail_as(c, FAIL_SOURCE, rc) : rc;
        }
        int slot = ch.op == 'c' ? 0 : ch.op == 'u' ? 1 : 2;
        ch.source.version = c->version;
        ch.source.connector = c->connector;
        ch.source.name = c->prefix;
        ch.source.ts_ms = (int64_t)ev->timestamp * 1000;
        ch.source.db = t->db;
        ch.source.table = t->name;
        ch.source.gtid = c->txn_gtid[0] ? c->txn_gtid : NULL;
        ch.source.file = c->file;
        ch.source.server_id = ev->server_id;
        ch.source.pos = (int64_t)end_pos;
        ch.source.row = (int32_t)(c->row_base + r);
        ch.source.present = FERRY_SOURCE_SERVER_ID | FERRY_SOURCE_POS | FERRY_SOURCE_ROW;
        ch.has_ts_ms = true;
        ch.ts_ms = now;
        ch.has_txn = true;
        ch.txn.id = c->txn_id;
        ch.txn.total_order = ++c->txn_order;
        ch.txn.data_collection_order = ++t->data_order;

        /*
         * An update that changes the key becomes a delete of the old key and
         * a create of the new one: each key's events then stay in that key's
         * partition, in order, and no older change of the old key can be
         * applied after the move (which would bring the old row back).
         */
        if (ch.op == 'u' && t->key && key_changed(c, t, &ch)) {
            ferry_change_t del = ch, ins = ch;
            del.op = 'd';
            del.after = NULL;
            ins.op = 'c';
            ins.before = NULL;
            ins.txn.total_order = ++c->txn_order;
            ins.txn.data_collection_order = ++t->data_order;
            rc = emit(c, t, &del, end_pos, r, errstr, errstr_size);
            if (rc == 0)
                rc = emit(c, t, &ins, end_pos, r, errstr, errstr_size);
        } else {
            rc = emit(c, t, &ch, end_pos, r, errstr, errstr_size);
        }
        if (rc != 0)
            return rc;
        t->pend[slot]++;
        c->group_events++;
        note_pending(c);
        c->events_read++;
    }
    return 0;
}

/* ---- events ------------------------------------------------------------------------- */

static int on_event(ferry_capture_t *c, const ferry_binlog_event_t *ev, uint64_t end_pos,
                    char *errstr, size_t errstr_size)
{
    if (ev->timestamp && ev->kind != FERRY_BINLOG_EV_HEARTBEAT && end_pos) {
        c->last_ts_ms = (int64_t)ev->timestamp * 1000;
        int64_t lag = ferry_wall_ms() - c->last_ts_ms;
        pthread_mutex_lock(&c->mu);
        c->st.lag_ms = lag > 0 ? lag : 0;
        pthread_mutex_unlock(&c->mu);
    }
    uint64_t start = end_pos >= ev->event_size ? end_pos - ev->event_size : 0;
    char why[256];
    int rc = 0;
    switch (ev->kind) {
    case FERRY_BINLOG_EV_MARIA_GTID:
        begin_txn(c, ev->u.maria_gtid.text, start);
        /*
         * Not standalone: a BEGIN .. COMMIT group follows without a BEGIN
         * event (CREATE TABLE ... SELECT logs its CREATE, then its rows).
         */
        c->txn_begun = !(ev->u.maria_gtid.flags & FERRY_BINLOG_MARIA_FL_STANDALONE);
        if (ferry_binlog_gtid_set_add_maria(c->gtids, &ev->u.maria_gtid.gtid) != 0)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        break;
    case FERRY_BINLOG_EV_GTID:
        begin_txn(c, ev->u.gtid.anonymous ? NULL : ev->u.gtid.text, start);
        if (!ev->u.gtid.anonymous &&
            ferry_binlog_gtid_set_add_mysql(c->gtids, ev->u.gtid.sid, ev->u.gtid.tag,
                                            ev->u.gtid.gno) != 0)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        break;
    case FERRY_BINLOG_EV_MARIA_GTID_LIST:
        if (ferry_binlog_gtid_set_parse(c->gtids, ev->u.gtid_list.text, why, sizeof(why)) != 0)
            ferry_log_warn("ignoring a GTID list", "pos=%s:%" PRIu64 " error=\"%s\"", c->file,
                           end_pos, why);
        break;
    case FERRY_BINLOG_EV_PREVIOUS_GTIDS:
        if (ferry_binlog_gtid_set_parse(c->gtids, ev->u.previous_gtids.text, why, sizeof(why)) != 0)
            ferry_log_warn("ignoring previous GTIDs", "pos=%s:%" PRIu64 " error=\"%s\"", c->file,
                           end_pos, why);
        break;
    case FERRY_BINLOG_EV_QUERY:
        rc = on_query(c, ev, end_pos, errstr, errstr_size);
        break;
    case FERRY_BINLOG_EV_XID:
        rc = c->in_txn ? end_txn(c, errstr, errstr_size) : 0;
        break;
    case FERRY_BINLOG_EV_TABLE_MAP: {
        const ferry_binlog_table_t *bt = ev->u.table_map.table;
        cap_table_t *t;
        rc = ferry_capture_table_get(c, bt->db, bt->name, &t, errstr, errstr_size);
        if (rc == 0 && t->selected)
            rc = ferry_capture_table_prepare(c, t, bt, errstr, errstr_size);
        if (rc == FERRY_ERR_RETRIABLE)
            rc = fail_as(c, FAIL_SOURCE, rc);
        break;
    }
    case FERRY_BINLOG_EV_ROWS:
        rc = on_rows(c, ev, end_pos, errstr, errstr_size);
        break;
    case FERRY_BINLOG_EV_HEARTBEAT:
        rc = on_idle(c, errstr, errstr_size);
        break;
    default:
        break;
    }
    return rc;
}

static int on_bytes(ferry_capture_t *c, const uint8_t *buf, size_t len, char *errstr,
                    size_t errstr_size)
{
    ferry_arena_reset(c->arena);
    ferry_binlog_stream_position(c->stream, c->file, sizeof(c->file), &c->pos);
    ferry_binlog_event_t ev;
    int rc = ferry_binlog_decode(c->dec, buf, len, c->arena, &ev, errstr, errstr_size);
    if (rc != 0)
        return rc;
    if (ev.kind == FERRY_BINLOG_EV_TRANSACTION_PAYLOAD) {
        /* MySQL 8 compressed transaction: its inner events share the outer position */
        size_t off = 0;
        ferry_binlog_event_t inner;
        c->row_base = 0;
        while ((rc = ferry_binlog_payload_next(c->dec, &ev, &off, c->arena, &inner, errstr,
                                               errstr_size)) == 1) {
            if ((rc = on_event(c, &inner, ev.log_pos, errstr, errstr_size)) != 0)
                break;
            if (inner.kind == FERRY_BINLOG_EV_ROWS)
                c->row_base += (uint32_t)inner.u.rows.n_rows;
        }
        c->row_base = 0;
    } else {
        rc = on_event(c, &ev, ev.log_pos, errstr, errstr_size);
    }
    /*
     * /status sees the read position every 32 events and at every
     * heartbeat: per event, its lock, clock and copy of the file name were
     * a tenth of capture's time under load.
     */
    if (++c->status_skipped >= 32 || ev.kind == FERRY_BINLOG_EV_HEARTBEAT ||
        ev.kind == FERRY_BINLOG_EV_ROTATE) {
        c->status_skipped = 0;
        status_read_position(c);
    }
    return rc;
}

/* ---- the loop -------------------------------------------------------------------------- */

static int open_stream(ferry_capture_t *c, char *errstr, size_t errstr_size)
{
    int hb = c->max_ms < 100 ? 100 : c->max_ms > 1000 ? 1000 : c->max_ms;
    ferry_binlog_stream_conf_t sc = {.url = c->source_url,
                                     .server_id = c->replica_id,
                                     .file = c->ckpt.file,
                                     .pos = c->ckpt.pos,
                                     .gtid = c->ckpt.file[0] ? NULL : c->ckpt.gtid_set,
                                     .heartbeat_ms = hb,
                                     .timeout_ms = c->timeout_ms};
    int rc = ferry_binlog_stream_open(&sc, &c->stream, errstr, errstr_size);
    if (rc != 0)
        return rc == FERRY_ERR_IO ? fail_as(c, FAIL_SOURCE, FERRY_ERR_RETRIABLE) : rc;
    c->dec = ferry_binlog_decoder_new();
    if (!c->dec)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    ferry_binlog_decoder_set_checksum(c->dec, c->checksum_alg);
    snprintf(c->file, sizeof(c->file), "%s", c->ckpt.file);
    c->pos = c->ckpt.pos;
    pthread_mutex_lock(&c->mu);
    c->st.state = FERRY_CAPTURE_STREAMING;
    c->st.stream_thread_id = ferry_binlog_stream_thread_id(c->stream);
    pthread_mutex_unlock(&c->mu);
    ferry_log_info("binlog stream open", "file=%s pos=%" PRIu64 " gtid=%s server_id=%u",
                   c->ckpt.file, c->ckpt.pos, c->ckpt.gtid_set, c->replica_id);
    return 0;
}

/* Forgets everything after the committed checkpoint; the next open starts there. */
static void rewind_to_checkpoint(ferry_capture_t *c)
{
    ferry_binlog_stream_close(c->stream);
    c->stream = NULL;
    ferry_binlog_decoder_destroy(c->dec);
    c->dec = NULL;
    ferry_arena_reset(c->arena);
    ferry_binlog_gtid_set_destroy(c->gtids);
    c->gtids = ferry_binlog_gtid_set_new();
    if (c->gtids && c->ckpt.gtid_set[0])
        ferry_binlog_gtid_set_parse(c->gtids, c->ckpt.gtid_set, NULL, 0);
    c->in_txn = c->txn_begun = false;
    c->txn_gtid[0] = '\0';
    c->group_events = c->group_txns = 0;
    c->group_ddl = false;
    c->group_start_ms = 0;
    hold_reset(c);
    pthread_mutex_lock(&c->mu);
    c->st.stream_thread_id = 0;
    for (cap_table_t *t = c->tables; t; t = t->next)
        memset(t->pend, 0, sizeof(t->pend));
    pthread_mutex_unlock(&c->mu);
}

/* Aborts the open Kafka transaction; replaces the producer when that is not enough. */
static void kafka_reset(ferry_capture_t *c, bool broken)
{
    char why[512];
    if (c->producer && c->kafka_open && !broken &&
        ferry_kafka_producer_abort(c->producer, c->timeout_ms, why, sizeof(why)) != 0) {
        ferry_log_warn("could not abort the Kafka transaction", "error=\"%s\"", why);
        broken = true;
    }
    c->kafka_open = false;
    hold_reset(c); /* the aborted transaction's records, not yet produced */
    if (broken && c->producer) {
        ferry_kafka_producer_destroy(c->producer, 0);
        c->producer = NULL; /* reopened by the loop */
    }
    pthread_mutex_lock(&c->mu);
    c->st.kafka_aborts++;
    pthread_mutex_unlock(&c->mu);
}

/* Sleeps ms in short steps; false when stop was asked meanwhile. */
static bool nap(volatile const int *stop, int ms)
{
    for (int slept = 0; slept < ms && !*stop; slept += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return !*stop;
}

static int start_position(ferry_capture_t *c, char *errstr, size_t errstr_size)
{
    ferry_capture_position_t p;
    /* the project's own properties: c->kprops adds producer-only ones a consumer warns about */
    int rc =
        ferry_capture_checkpoint_read(ferry_conf_kafka_props(c->project), c->registry, c->prefix,
                                      c->link, c->timeout_ms, &p, errstr, errstr_size);
    if (rc == 0) {
        c->ckpt = p;
        if (p.snapshot_done)
            atomic_store(&c->snapshot_done, true);
        ferry_log_info("resuming from the checkpoint", "topic=%s file=%s pos=%" PRIu64 " gtid=%s",
                       c->off_topic, p.file, p.pos, p.gtid_set);
    } else if (rc == FERRY_ERR_NOT_FOUND) {
        memset(&c->ckpt, 0, sizeof(c->ckpt));
        snprintf(c->ckpt.file, sizeof(c->ckpt.file), "%s", c->start_file);
        c->ckpt.pos = c->start_pos ? c->start_pos : 4;
        snprintf(c->ckpt.gtid_set, sizeof(c->ckpt.gtid_set), "%s", c->start_gtid);
        if (!c->ckpt.file[0] && !c->ckpt.gtid_set[0])
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "could not start capture: \"%s\" holds no checkpoint and no "
                                 "start position was given",
                                 c->off_topic);
        ferry_log_info("starting at the given position", "file=%s pos=%" PRIu64 " gtid=%s",
                       c->ckpt.file, c->ckpt.pos, c->ckpt.gtid_set);
    } else {
        return rc;
    }
    pthread_mutex_lock(&c->mu);
    snprintf(c->st.file, sizeof(c->st.file), "%s", c->ckpt.file);
    c->st.pos = c->ckpt.pos;
    pthread_mutex_unlock(&c->mu);
    rewind_to_checkpoint(c);
    return c->gtids ? 0 : ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
}

/* Recovers from a transient failure; returns 0 to go on, or the error to stop with. */
static int recover(ferry_capture_t *c, int rc, volatile const int *stop, int *backoff,
                   const char *why)
{
    int kind = c->fail_kind;
    c->fail_kind = FAIL_NONE;
    if (kind == FAIL_SOURCE) {
        char err[512];
        /* whole transactions read before the loss need not be read again */
        int crc = 0;
        if (!c->in_txn && c->group_events > 0 && c->producer &&
            (crc = commit_group(c, false, err, sizeof(err))) != 0) {
            ferry_log_warn("could not commit before reconnecting", "error=\"%s\"", err);
            kafka_reset(c, c->fail_kind == FAIL_KAFKA && crc == FERRY_ERR_FATAL);
            c->fail_kind = FAIL_NONE;
        } else if (c->kafka_open) {
            kafka_reset(c, false);
        }
        ferry_log_warn("lost the source; reconnecting",
                       "resume=%s:%" PRIu64 " retry_ms=%d "
                       "error=\"%s\"",
                       c->ckpt.file, c->ckpt.pos, *backoff, why);
        pthread_mutex_lock(&c->mu);
        c->st.state = FERRY_CAPTURE_RECONNECTING;
        c->st.reconnects++;
        pthread_mutex_unlock(&c->mu);
    } else if (kind == FAIL_KAFKA) {
        ferry_log_warn("Kafka transaction failed; replaying from the checkpoint",
                       "resume=%s:%" PRIu64 " retry_ms=%d error=\"%s\"", c->ckpt.file, c->ckpt.pos,
                       *backoff, why);
        kafka_reset(c, rc == FERRY_ERR_FATAL);
    } else {
        return rc;
    }
    rewind_to_checkpoint(c);
    nap(stop, *backoff);
    *backoff = *backoff * 2 > 5000 ? 5000 : *backoff * 2;
    return 0;
}

/*
 * start_position, retried while Kafka cannot be read (a broker down for a
 * moment must not stop the producer). 1 when asked to stop meanwhile.
 */
static int start_position_retried(ferry_capture_t *c, volatile const int *stop, char *errstr,
                                  size_t errstr_size)
{
    int backoff = 200, rc;
    while ((rc = start_position(c, errstr, errstr_size)) == FERRY_ERR_TIMEOUT ||
           rc == FERRY_ERR_RETRIABLE) {
        ferry_log_warn("could not read the checkpoint, retrying", "retry_ms=%d error=\"%s\"",
                       backoff, errstr);
        if (!nap(stop, backoff))
            return 1;
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return rc;
}

int ferry_capture_run(ferry_capture_t *c, volatile const int *stop_flag, char *errstr,
                      size_t errstr_size)
{
    int rc = start_position_retried(c, stop_flag, errstr, errstr_size);
    if (rc == 1) {
        set_state(c, FERRY_CAPTURE_STOPPED);
        return 0;
    }
    int backoff = 200;
    c->last_commit_ms = ferry_mono_ms();
    c->rate_t0 = ferry_mono_ms();
    while (rc == 0) {
        c->fail_kind = FAIL_NONE;
        if (!c->stream && *stop_flag)
            break;
        if (!c->producer) {
            rc = producer_open(c, errstr, errstr_size);
            if (rc != 0) {
                c->fail_kind = FAIL_KAFKA;
                rc = recover(c, FERRY_ERR_RETRIABLE, stop_flag, &backoff, errstr);
                continue;
            }
        }
        if (!c->stream && (rc = open_stream(c, errstr, errstr_size)) != 0) {
            rc = recover(c, rc, stop_flag, &backoff, errstr);
            continue;
        }
        const uint8_t *buf;
        size_t len;
        rc = ferry_binlog_stream_next(c->stream, &buf, &len, errstr, errstr_size);
        if (rc == FERRY_ERR_RETRIABLE)
            c->fail_kind = FAIL_SOURCE;
        if (rc == 1)
            rc = on_bytes(c, buf, len, errstr, errstr_size);
        if (rc == 0 && *stop_flag && !c->in_txn) {
            if (c->group_events > 0 || c->group_txns > 0 || c->pos != c->ckpt.pos ||
                strcmp(c->file, c->ckpt.file) != 0)
                rc = commit_group(c, false, errstr, errstr_size);
            if (rc == 0)
                break;
        }
        if (rc < 0) {
            rc = recover(c, rc, stop_flag, &backoff, errstr);
        } else if (rc == 0 && c->group_events == 0 && !c->in_txn) {
            backoff = 200;
        }
    }
    if (c->kafka_open)
        kafka_reset(c, false);
    ferry_binlog_stream_close(c->stream);
    c->stream = NULL;
    ferry_binlog_decoder_destroy(c->dec);
    c->dec = NULL;
    set_state(c, rc == 0 ? FERRY_CAPTURE_STOPPED : FERRY_CAPTURE_FAILED);
    if (rc == 0)
        ferry_log_info("capture stopped", "checkpoint=%s:%" PRIu64, c->ckpt.file, c->ckpt.pos);
    return rc;
}
