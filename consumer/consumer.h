/*
 * consumer.h - what the files of ferry-consumer share (not a library header).
 *
 * The consumer of a MySQL-family forward link keeps one state per source
 * table (tables.c: schema -> full -> catch-up -> incremental), reads the ddl
 * topic with a handle of its own (ddl.c), reads the snapshot and change
 * topics of the tables it owns (owner.c: several consumers share a link's
 * tables; snapshot.c, changes.c), applies changes in batches through the
 * MySQL sink (batch.c; on apply.threads connections, apply.c) and snapshot
 * chunks whole on loader threads (snapload.c), and publishes /status and
 * /metrics (status.c). Everything else runs on the service's loop thread;
 * the HTTP thread only reads what tables.c publishes under c->lock.
 */
#ifndef FERRY_CONSUMER_H
#define FERRY_CONSUMER_H

#include "arena.h"
#include "avro_codec.h"
#include "binlog_pos.h"
#include "clock.h"
#include "db.h"
#include "fullload.h"
#include "kafka.h"
#include "metrics.h"
#include "mysql_ddl.h"
#include "mysql_schema.h"
#include "mysql_sink.h"
#include "rate.h"
#include "registry.h"
#include "service.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CONSUMER_TOPIC_MAX 300
#define BATCH_MAX_EVENTS   2000
#define BATCH_MAX_MS       50
/* How often the Kafka group learns the offsets the destination stored (for lag tools). */
#define GROUP_COMMIT_MS 1000
/* Pseudo topic under which a chunk applied is recorded in ferry_offsets. */
#define CHUNK_MARK_PREFIX "chunk:"
/* Pseudo topic of a DDL statement applied ("ddl-done:<offset on the ddl topic>"). */
#define DDL_DONE_PREFIX "ddl-done:"
/*
 * Pseudo topic whose offset is the DDL floor: statements before it were
 * applied by a consumer that kept no per-statement marks (older ferry).
 */
#define DDL_FLOOR_TOPIC "ddl-floor"
/*
 * Pseudo topic of a table's ownership epoch ("owner:<table lock name>"):
 * raised by each consumer that takes the table, held as a fence by every
 * batch that writes it (owner.c).
 */
#define OWNER_PREFIX "owner:"
#define STAGE_MAX    5000

/* A set of offsets on the ddl topic (few: one per statement). */
typedef struct {
    int64_t *v;
    size_t n, cap;
} cons_offsets_t;

typedef enum {
    PHASE_SCHEMA = 0,
    PHASE_FULL,
    PHASE_CATCHUP,
    PHASE_INCREMENTAL,
} phase_t;

/* One writer schema of a table fitted to its destination table (shape.c). */
typedef struct {
    const ferry_avro_codec_t *codec;
    int sink_id;
    size_t *proj; /* writer column of each registered column; NULL: all, in order */
    size_t n_proj;
} shape_t;

typedef struct ctable {
    /* source names now (RENAME TABLE moves them), and at SNAPSHOT_TABLE */
    char *src_db, *src_name, *dst_db, *dst_name;
    char *orig_db, *orig_name;
    /* source name once every queued DDL has run: resolves later DDLs (ddl.c) */
    char *q_db, *q_name;
    char src_full[300], dst_full[300]; /* "db.table" for status and metrics */
    char change_topic[CONSUMER_TOPIC_MAX], snapshot_topic[CONSUMER_TOPIC_MAX];
    ferry_tabledef_t *def;      /* at SNAPSHOT_TABLE */
    ferry_tabledef_t *dest_def; /* the destination table now; NULL: read on next need */
    shape_t *shapes;            /* writer schemas registered with the sink */
    size_t nshapes;
    bool failed; /* could not be created (or dropped): its partitions stay held */
    /*
     * Born from a CREATE TABLE statement read at offset created_at of the ddl
     * topic (not from SNAPSHOT_TABLE): no snapshot, it starts empty at the
     * statement's position and stays in "schema" until the statement ran.
     */
    bool created;
    int64_t created_at;
    /* DROP TABLE ran: its names and change topic are free for a later table */
    bool dropped;
    /* SNAPSHOT_TABLE's position: statements not past it are in its definition */
    bool has_p0;
    ferry_binlog_pos_t p0;
    /* owner.c: this consumer applies the table (guarded by lock for /status) */
    bool owned, want, taking;
    /* owner.c: the epoch raised when this consumer took the table, and its pseudo topic */
    int64_t owner_epoch;
    char owner_topic[96];
    /*
     * After RENAME TABLE the table's changes come on the new name's topic,
     * which may hold an older table's: changes at or before floor are skipped.
     */
    bool has_floor;
    ferry_binlog_pos_t floor;
    phase_t phase;
    /* tables.c: the plain indexes built after the full load, on a thread of their own */
    struct index_job *index_job;
    bool indexed; /* built (or none missing): the table may enter catch-up */
    bool has_h;   /* SNAPSHOT_DONE arrived */
    ferry_binlog_pos_t h;
    /*
     * A table without any key cannot be replayed idempotently (identical rows
     * are indistinguishable), so it uses the exact position of its one
     * chunk's consistent read instead of H: changes at or before it are
     * already in the snapshot and skipped, later ones go in strictly.
     */
    bool keyless;
    bool has_exact;
    ferry_binlog_pos_t exact;
    int64_t chunks_total; /* -1 until SNAPSHOT_DONE */
    int64_t chunks_applied;
    int change_partitions;   /* 0 until known */
    int snapshot_partitions; /* 0 until known */
    /* published for /status (guarded by consumer_t.lock) */
    uint64_t rows_applied, events_applied, bytes_applied, dlq;
    ferry_rate_t rate; /* of rows, events and bytes applied (tables.c samples it) */
    int64_t rate_ms;   /* last sample (loop thread) */
    double lag_s;
    bool has_lag;
    /*
     * Whether every change partition was read to the end the broker
     * reported when last asked (tables.c, at most once per second while the
     * table's partitions are quiet), and since when it has not been.
     */
    bool at_end;
    int64_t ends_checked_ms;
    int64_t behind_since_ms;
    char *last_error;
    ferry_counter_t *m_rows, *m_events, *m_dlq, *m_bytes;
    ferry_gauge_t *m_lag, *m_phase;
} ctable_t;

/* A topic partition the consumer reads. */
typedef struct {
    char *topic;
    int32_t partition;
    int64_t next;      /* next offset to process; -1 unknown */
    int64_t committed; /* next offset stored in the destination; -1 none */
    bool group_dirty;  /* committed moved since the last commit to the Kafka group */
    bool assigned;
    int64_t hold;                /* >= 0: messages from here on are dropped until released */
    char *hold_chunk;            /* snapshot hold: the undecided chunk */
    bool hold_ddl;               /* change hold: the change at hold comes after a pending DDL */
    ferry_binlog_pos_t hold_pos; /* ... and this is its position */
    bool hold_mem;               /* snapshot hold: too many rows buffered (snapshot.c) */
    int64_t released_ms;         /* a memory hold was released and no message came since */
    /*
     * The greatest source position of a change taken from this partition:
     * a change not past it is a copy (an aborted or replayed capture group,
     * libferry/capture.h) and is skipped. Stored with the offset in the
     * same destination transaction, and restored with it on start.
     */
    bool has_last;
    ferry_binlog_pos_t last_pos;
    int32_t last_row;
    int last_rank; /* 1 for the create half of a key change, else 0 */
} part_t;

/*
 * A snapshot row kept in memory: its key and value are copied into the
 * attempt's own buffer (a Kafka message would pin its whole fetch response),
 * with the writer codec resolved on the loop thread.
 */
typedef struct {
    int64_t offset;
    size_t key_at, key_len, value_at, value_len; /* in sbuf_t.data */
    size_t body_at, body_len;                    /* the Avro body, in sbuf_t.data */
    ferry_avro_codec_t *codec; /* NULL: the value does not decode (a dead letter) */
} srow_t;

/*
 * The rows of one chunk attempt read so far (snapshot.c). Kept until the
 * done-marker decides the chunk: the winning attempt, once complete, is
 * loaded as one transaction by a loader thread (snapload.c), the others are
 * dropped. Owned by the loop thread except while queued (then only the
 * loader reads rows and writes the result fields).
 */
typedef struct sbuf {
    struct sbuf *next;
    ctable_t *t;
    size_t part;       /* index in consumer_t.parts (stable: parts are never removed) */
    int32_t partition; /* that part's partition, for the loader thread */
    char chunk[512], attempt[256];
    srow_t *rows;
    size_t n, cap;
    uint8_t *data; /* keys and values */
    size_t len, data_cap;
    size_t bytes; /* accounted in consumer_t.sbuf_bytes */
    int64_t first_offset;
    bool queued; /* handed to the loaders */
    /* set by the loader when done (under the pool's lock) */
    bool done;
    int rc; /* 0, or why the load failed */
    char errstr[512];
    /* rows not loaded: rejected by the destination or not decodable (malloc'd);
       failed[i].event is the row's index in rows */
    ferry_mysql_sink_failure_t *failed;
    size_t n_failed;
} sbuf_t;

typedef struct snapload snapload_t;
typedef struct applypool applypool_t;

/*
 * One apply worker's share of a flush (apply.c): runs and offsets built by
 * batch.c, the result filled by the worker.
 */
typedef struct {
    bool run; /* this worker has something to commit */
    ferry_mysql_sink_batch_t batch;
    size_t n_events;
    int tries; /* attempts on a rolled-back transaction; 0: 3 */
    int rc;
    ferry_mysql_sink_result_t res;
    char err[1024];
    int64_t done_ms; /* wall clock when the worker finished it */
} apply_job_t;

/* One event waiting in the batch. */
typedef struct {
    ferry_kafka_msg_t *msg;
    ctable_t *t;
    bool safe;
    int sink_id; /* the writer schema's registration (shape.c) */
    size_t part; /* index in consumer_t.parts */
    ferry_change_t ev;
} entry_t;

typedef struct {
    entry_t *e;
    size_t n, cap;
    char **chunks; /* chunk ids whose last row is in the batch */
    size_t n_chunks, chunks_cap;
    ferry_mysql_sink_offset_t *marks; /* other pseudo topics to store (strings in arena) */
    size_t n_marks, marks_cap;
    ferry_arena_t *arena;
    int64_t first_ms; /* when the batch got its first content; 0 = empty */
} batch_t;

typedef struct flush flush_t; /* batch.c: a batch with its plans, maybe in flight */

typedef struct {
    uint64_t id;
    ferry_avro_codec_t *codec;
} codec_slot_t;

/*
 * A DDL statement read from the ddl topic and not applied yet: it waits
 * until every change partition of the tables it names has nothing left
 * before its position (ddl.c).
 */
typedef struct {
    int64_t offset; /* on the ddl topic */
    bool has_pos;
    ferry_binlog_pos_t pos;
    char *statement, *default_db, *sql_mode;
    ctable_t **tables; /* the known tables it names */
    size_t n_tables;
    ctable_t *creates;  /* CREATE TABLE of a table new to the link (also tables[0]) */
    int64_t checked_ms; /* last readiness check that asked the brokers */
} ddl_pending_t;

/* Rows applied per destination table, as the destination's progress rows say at start. */
typedef struct {
    char *db, *table;
    uint64_t rows, events;
} progress_t;

typedef struct consumer {
    /*
     * Kept when the consumer starts over after losing the destination
     * (main.c): everything after `svc` is zeroed then, as in a new process.
     */
    pthread_mutex_t lock;     /* tables array and their published fields */
    pthread_mutex_t dlq_lock; /* dead letters come from the loop, apply and loader threads */
    uint64_t restarts;        /* starts over after losing the destination (guarded by lock) */
    char down[1024];          /* while starting over: why the destination is out of reach */
    ferry_counter_t *m_restarts;
    int64_t started_ms; /* when the loop last started (main.c) */
    int quick_restarts; /* starts over in a row, each within a minute of its start */
    /* published totals and DDL failures (guarded by lock), kept across starts over */
    uint64_t ddl_applied, ddl_failed, dlq_total;
    char *ddl_errors[8];
    size_t n_ddl_errors;

    ferry_service_t *svc;
    const ferry_conf_t *conf;
    const char *const *kprops;
    char project[128], prefix[256], link[300], group[300], ddl_topic[300], dlq_topic[300];
    bool keep_rows, stop_on_error;
    ferry_db_t *db;
    MYSQL *my;
    ferry_mysql_flavor_t flavor;
    ferry_mysql_sink_t *sink;
    ferry_registry_t *reg;
    ferry_rename_map_t *rename;
    ferry_kafka_consumer_t *data, *ddl;
    ferry_kafka_producer_t *dlq;
    /* every topic and its partitions as the cluster listed them at topics_ms (tables.c) */
    ferry_kafka_topic_list_t topics;
    int64_t topics_ms;
    bool topics_ok;
    ferry_fullload_donelog_t *donelog;
    int64_t donelog_ms; /* last catch-up */

    ctable_t **tables; /* the array and the tables' published fields: under lock */
    size_t ntables, tables_cap;
    part_t *parts;
    size_t nparts, parts_cap;
    size_t *part_index; /* open-addressing hash of parts: index + 1, 0 empty */
    size_t part_index_cap;
    char **applied_chunks; /* sorted */
    size_t n_applied, applied_cap;
    codec_slot_t *codecs;
    size_t ncodecs, codecs_cap;
    batch_t batch;
    sbuf_t *sbufs; /* snapshot attempts in memory (snapshot.c) */
    size_t sbuf_bytes;
    snapload_t *loader;
    applypool_t *apply; /* NULL: apply.threads = 1, the loop applies on sink */
    flush_t *flight;    /* the batch the apply workers have (batch.c) */

    int64_t ddl_stored; /* next ddl offset stored in the destination; -1 none */
    int64_t ddl_floor;  /* statements before it were applied (older ferry); -1 unknown */
    bool ddl_floor_dirty;
    cons_offsets_t ddl_done;  /* offsets of applied statements */
    cons_offsets_t ddl_begun; /* statements a consumer started running, not marked done */
    ddl_pending_t *pend;      /* statements waiting, in ddl-topic (= binlog) order */
    size_t npend, pend_cap;
    bool has_ddl_last; /* position of the last statement taken: copies are skipped */
    ferry_binlog_pos_t ddl_last;
    ferry_kafka_msg_t **staged; /* polled, not dispatched yet (changes.c) */
    size_t nstaged;
    size_t fetched_peak; /* most messages queued in librdkafka since the fetchers were woken */
    size_t polled_msgs, polled_bytes; /* messages and their bytes polled since then */
    int member, members;              /* owner.c: this consumer's slot, consumers of the link */
    int64_t owner_ms;
    unsigned int exec_errno; /* the server's error number of cons_exec's last failure */
    bool assign_again;       /* a topic of an owned table did not exist yet */
    bool reloading;          /* parts_reload: only the tables being taken */
    bool subscription_dirty;
    int64_t ddl_last_ms, last_data_ms, last_assign_ms, last_release_ms;
    int64_t group_commit_ms; /* last commit of offsets to the Kafka group */
    int fatal;               /* set: stop the loop (cons_fail), then exit 1 or start over */
    char fatal_text[2048];   /* why */
    progress_t *progress;
    size_t nprogress;

    ferry_counter_t *m_dlq_total, *m_ddl_failed;
} consumer_t;

/* ---- main.c ---- */
void cons_progress_restore(consumer_t *c, ctable_t *t);

/* ---- util.c ---- */
void cons_fail(consumer_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cons_exec(consumer_t *c, const char *sql, char *errstr, size_t errstr_size);
const char *cons_msg_header(const ferry_kafka_msg_t *m, const char *name, char *buf, size_t size);
ferry_avro_codec_t *cons_codec_for(consumer_t *c, const void *buf, size_t len, const uint8_t **body,
                                   size_t *body_len, char *errstr, size_t errstr_size);

/* ---- tables.c ---- */
const char *tables_phase_name(phase_t p);
ctable_t *tables_find(consumer_t *c, const char *db, const char *name);
ctable_t *tables_find_orig(consumer_t *c, const char *db, const char *name);
ctable_t *tables_find_queued(consumer_t *c, const char *db, const char *name);
int tables_rename(consumer_t *c, ctable_t *t, const char *db, const char *name,
                  const ferry_binlog_pos_t *at);
int tables_change_partitions(consumer_t *c, ctable_t *t, bool fresh);
int tables_snapshot_partitions(consumer_t *c, ctable_t *t);
ctable_t *tables_by_topic(consumer_t *c, const char *topic, bool *is_snapshot);
int tables_add(consumer_t *c, ferry_tabledef_t *def, bool fresh, char *errstr, size_t errstr_size);
ctable_t *tables_born(consumer_t *c, const char *db, const char *name, ferry_tabledef_t *def,
                      int64_t offset, const ferry_binlog_pos_t *at);
int tables_create_born(consumer_t *c, ctable_t *t, const char *sql, const char *why_no_sql,
                       char *errstr, size_t errstr_size);
void tables_drop(consumer_t *c, ctable_t *t);
void tables_set_error(consumer_t *c, ctable_t *t, const char *text);
void tables_set_phase(consumer_t *c, ctable_t *t, phase_t p);
void tables_advance(consumer_t *c);
void tables_destroy(consumer_t *c);

/* ---- shape.c ---- */
int shape_prepare(consumer_t *c, ctable_t *t, const ferry_kafka_msg_t *m, ferry_change_t *ev,
                  char *errstr, size_t errstr_size);
void shape_forget(ctable_t *t);
int shape_new(consumer_t *c, ferry_mysql_sink_t *sink, const ctable_t *t,
              const ferry_avro_codec_t *codec, shape_t *out, char *errstr, size_t errstr_size);
const ferry_row_t *shape_project(ferry_arena_t *a, const shape_t *s, const ferry_row_t *row);

/* ---- owner.c ---- */
int owner_join(consumer_t *c, char *errstr, size_t errstr_size);
void owner_step(consumer_t *c);
/* t's ownership epoch as a batch fence (ferry_mysql_sink_batch_t.fences). */
void owner_fence(const ctable_t *t, ferry_mysql_sink_offset_t *fence);

/* ---- parts.c ---- */
part_t *parts_get(consumer_t *c, const char *topic, int32_t partition);
void parts_hold(consumer_t *c, part_t *p, int64_t offset, const char *chunk);
void parts_hold_mem(consumer_t *c, part_t *p, int64_t offset);
void parts_hold_ddl(consumer_t *c, part_t *p, int64_t offset, const ferry_binlog_pos_t *pos);
void parts_release(consumer_t *c);
int parts_reload(consumer_t *c, char *errstr, size_t errstr_size);
void parts_restart(consumer_t *c, part_t *p);
void parts_unassign(consumer_t *c, part_t *p);
bool parts_read_past(const part_t *p, int64_t position, int64_t high);
bool parts_read_to_end(consumer_t *c, part_t *p);
bool parts_topic_read_to_end(consumer_t *c, const char *topic);
bool parts_chunk_applied(const consumer_t *c, const char *chunk);
int parts_chunk_mark(consumer_t *c, const char *chunk);
int parts_load(consumer_t *c, char *errstr, size_t errstr_size);
void parts_destroy(consumer_t *c);

/* ---- ddl.c ---- */
int ddl_open(consumer_t *c, char *errstr, size_t errstr_size);
void ddl_drain(consumer_t *c);
bool ddl_read_ahead(consumer_t *c);
bool ddl_read_to_end(consumer_t *c);
const ddl_pending_t *ddl_first_pending(const consumer_t *c, const ctable_t *t);
bool ddl_blocks(const consumer_t *c, const ctable_t *t, const ferry_binlog_pos_t *pos);
void ddl_apply_ready(consumer_t *c);
bool ddl_done(const consumer_t *c, int64_t offset);
int ddl_mark_done(consumer_t *c, int64_t offset);
/*
 * A "ddl-done:<offset>" row of ferry_offsets: next_offset -1 says a
 * consumer began running the statement, 0 that it ran (ddl.c).
 */
int ddl_note_mark(consumer_t *c, const ferry_mysql_sink_offset_t *o);
void ddl_destroy(consumer_t *c);
int ddl_follow_others(consumer_t *c);

/* ---- snapshot.c ---- */
void snapshot_message(consumer_t *c, ctable_t *t, part_t *p, ferry_kafka_msg_t *m);
void snapshot_recount(consumer_t *c, ctable_t *t);
void snapshot_refresh(consumer_t *c, int timeout_ms);
void snapshot_reap(consumer_t *c);
ferry_kafka_msg_t snapshot_row_msg(const sbuf_t *b, size_t i);
int snapshot_open_slots(const consumer_t *c);
int64_t snapshot_part_floor(const consumer_t *c, size_t part);
void snapshot_drop_part(consumer_t *c, size_t part);
void snapshot_settle_part(consumer_t *c, size_t part);
void snapshot_settle_table(consumer_t *c, const ctable_t *t);
void snapshot_drop_all(consumer_t *c);

/* ---- snapload.c ---- */
int snapload_start(consumer_t *c, int threads, char *errstr, size_t errstr_size);
void snapload_queue(snapload_t *l, sbuf_t *b);
bool snapload_done(snapload_t *l, const sbuf_t *b);
int snapload_threads(const snapload_t *l);
void snapload_stop(snapload_t *l);

/* ---- apply.c ---- */
int apply_start(consumer_t *c, int threads, char *errstr, size_t errstr_size);
size_t apply_workers(const applypool_t *a);
void apply_begin(applypool_t *a, apply_job_t *jobs);
void apply_wait(applypool_t *a);
bool apply_idle(applypool_t *a);
void apply_one(applypool_t *a, size_t i, apply_job_t *job);
void apply_stop(applypool_t *a);

/* ---- changes.c ---- */
void changes_message(consumer_t *c, ctable_t *t, part_t *p, ferry_kafka_msg_t *m);
void changes_poll(consumer_t *c, int timeout_ms);
void changes_dispatch(consumer_t *c);
void changes_refill(consumer_t *c);
void changes_unstage(consumer_t *c);

/* ---- batch.c ---- */
int batch_add(consumer_t *c, ctable_t *t, part_t *p, ferry_kafka_msg_t *m, bool safe,
              const ferry_change_t *ev);
void batch_skip(consumer_t *c, part_t *p, ferry_kafka_msg_t *m);
void batch_consumed(consumer_t *c, part_t *p, int64_t offset);
int64_t batch_storable(const consumer_t *c, size_t part);
/* Has the batch flushed within BATCH_MAX_MS even if nothing more arrives (offsets to store). */
void batch_touch(consumer_t *c);
int batch_add_chunk(consumer_t *c, const char *chunk);
int batch_add_mark(consumer_t *c, const char *topic, int64_t value);
int batch_flush(consumer_t *c);
int batch_flush_async(consumer_t *c);
void batch_reap(consumer_t *c);
void batch_group_commit(consumer_t *c, bool force);
bool batch_due(const consumer_t *c);
void batch_drop(consumer_t *c);
void batch_free(consumer_t *c);
void batch_dead_letter(consumer_t *c, ctable_t *t, const ferry_kafka_msg_t *m, unsigned err_no,
                       const char *sqlstate, const char *message);
/* Where a failed event came from: its table, and its message as it came. */
typedef void (*batch_dead_locate_fn)(void *arg, const ferry_mysql_sink_failure_t *f,
                                     const ctable_t **t, ferry_kafka_msg_t *m);
/*
 * Sends each of n failed events (located through locate) to the dead-letter
 * topic with its reason and waits until the broker has them all: 0, or a
 * ferry_err_t with err naming the topic. Any thread.
 */
int batch_dead_letters_send(consumer_t *c, const ferry_mysql_sink_failure_t *failed, size_t n,
                            batch_dead_locate_fn locate, void *arg, char *err, size_t err_size);
void batch_dead_letter_count(consumer_t *c, ctable_t *t, const char *message);

/* ---- status.c ---- */
void status_write(ferry_service_t *svc, ferry_json_t *j);
void status_table_metrics(consumer_t *c, ctable_t *t);
void status_note_ddl_error(consumer_t *c, ctable_t *t, const char *statement, const char *reason);

#endif
