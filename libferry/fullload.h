/*
 * fullload.h - copying existing rows through Kafka: the planner driver that
 * writes chunk tasks and the worker that turns each into snapshot events.
 *
 * Topics (project P, link prefix ferry.P.fwd):
 *   ferry.P.tasks                 chunk tasks (chunk.h), key = task id; the
 *                                 worker group "ferry.P.fullload" shares them
 *   ferry.P.tasks.done            done-markers, key = task id, compacted,
 *                                 one partition (written by workers only)
 *   <prefix>.snapshot.<db>.<tbl>  the rows: key = the row's key (Avro Key
 *                                 schema; no key for keyless tables), value
 *                                 = Envelope with op 'r'
 *
 * ---- the chunk contract, for every consumer of snapshot topics ----------
 *
 * A worker copies a chunk in an attempt: one Kafka transaction holding the
 * chunk's rows and then its done-marker. An attempt may die at any point
 * (worker killed, broker error) and the chunk is then copied again by a new
 * attempt, possibly on another worker. Rows of failed attempts can be
 * visible: ferry-devkafka (librdkafka's mock) shows aborted and unfinished
 * transactions to read_committed readers, and a real Kafka shows them to
 * read_uncommitted ones. So a consumer MUST apply these rules and not rely
 * on Kafka hiding aborts:
 *
 *  1. Every snapshot message carries these headers (values are text):
 *       ferry.chunk    the task id (chunk.h: "<db>.<table>#<n>@<generation>")
 *       ferry.attempt  the attempt id, unique across all workers and retries
 *       ferry.row      the message's 0-based ordinal within the attempt
 *     and the attempt's final message also
 *       ferry.last     the attempt's row count (= ferry.row + 1)
 *     The envelope's source.snapshot is "last" on that message and "true"
 *     on the others (per chunk, not per table: chunks finish in any order).
 *  2. All messages of one attempt go to one partition of the snapshot topic
 *     (chosen from the table and chunk number), in ordinal order, so a
 *     reader of that partition sees 0, 1, ..., n-1 (last). Messages of other
 *     attempts and chunks may be interleaved with them.
 *  3. A chunk counts as copied only by its done-marker: a message on
 *     ferry.P.tasks.done keyed by the task id whose JSON value names the
 *     attempt and its row count (ferry_fullload_done_parse). A worker
 *     produces it after every row of the attempt was acknowledged by the
 *     brokers and inside the same transaction, so a marker that a reader
 *     sees always has all of its attempt's rows before it in the snapshot
 *     topic (with a committed transaction on a real Kafka; delivered, on the
 *     mock broker, even if the commit then failed).
 *  4. The FIRST marker a reader sees for a task id decides: apply exactly
 *     the messages whose ferry.chunk is that task id and whose ferry.attempt
 *     is the marker's attempt (ordinals 0 .. rows-1; rows = 0 means an
 *     empty chunk), and ignore every message of any other attempt of that
 *     chunk, before or after, and every later marker of that task id. (More
 *     than one marker can exist: a worker whose commit failed after the
 *     marker was delivered retries, and two workers can both finish a task
 *     during a group rebalance. Each marker's attempt is complete.)
 *  5. Messages of an attempt without a marker are never applied; a reader
 *     may buffer them until the marker comes or discard them once another
 *     attempt's marker decided the chunk. A consumer that records applied
 *     chunks (task id, attempt) in the destination's own table, in the same
 *     transaction as the rows, is exactly-once across its own restarts.
 *
 * Done-marker JSON (one line): {"task":"<id>","db":..,"table":..,
 * "chunk":n,"generation":g,"attempt":"<id>","rows":n,"topic":"<snapshot
 * topic>","partition":p,"chunks_total":n|null,"worker":"<id>","ts_ms":t}.
 *
 * ---- pacing ----------------------------------------------------------------
 *
 * ferry-devkafka keeps only about 5 MB per partition, so nothing may run far
 * ahead of the consumers: a worker takes its next task only after the
 * previous one's transaction committed (every row acknowledged), and the
 * planner keeps at most max_outstanding tasks written but not yet done,
 * reading the done topic to see progress; with max_unapplied_rows set it
 * also writes no task of a table whose snapshot topic holds that many rows
 * the consumer has not applied (its group's committed offsets, which it
 * moves about once a second), so a consumer slower than the workers, or not
 * running, holds the copy back instead of losing rows to the broker's limit.
 *
 * @locality a planner or a worker is used by one thread at a time.
 */
#ifndef FERRY_FULLLOAD_H
#define FERRY_FULLLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kafka.h"
#include "registry.h"
#include "row.h"

#define FERRY_FULLLOAD_HDR_CHUNK   "ferry.chunk"
#define FERRY_FULLLOAD_HDR_ATTEMPT "ferry.attempt"
#define FERRY_FULLLOAD_HDR_ROW     "ferry.row"
#define FERRY_FULLLOAD_HDR_LAST    "ferry.last"

/* ---- names ---------------------------------------------------------------- */

/* "ferry.<project>.tasks"; returns snprintf's result. */
int ferry_fullload_tasks_topic(const char *project, char *buf, size_t size);

/* "ferry.<project>.tasks.done". */
int ferry_fullload_done_topic(const char *project, char *buf, size_t size);

/* "<prefix>.snapshot.<db>.<table>", names made safe by topics.h; -1 when too long. */
int ferry_fullload_snapshot_topic(const char *prefix, const char *db, const char *table, char *buf,
                                  size_t size);

/*
 * Makes a snapshot topic (cleanup.policy delete, partitions partitions,
 * replication_factor replicas or the broker's default when <= 0) through
 * the admin API of an open producer; one that exists already is success.
 * The producer announcing a table and every worker meeting it call this.
 */
int ferry_fullload_snapshot_topic_make(ferry_kafka_producer_t *p, const char *topic, int partitions,
                                       int replication_factor, int timeout_ms, char *errstr,
                                       size_t errstr_size);

/* ---- done-markers -------------------------------------------------------- */

typedef struct {
    char *task_id, *db, *table, *attempt, *topic, *worker; /* malloc'd */
    int64_t chunk_id;
    int32_t generation;
    int64_t rows;
    int32_t partition;
    int64_t chunks_total; /* -1 when the chunk was not the table's last */
    int64_t ts_ms;
    /*
     * The binlog position the chunk's consistent read corresponds to
     * exactly (MariaDB); NULL / -1 when the server cannot say. A change at or
     * before it is in the chunk; a change after it is not.
     */
    char *snapshot_file; /* malloc'd */
    int64_t snapshot_pos;
} ferry_fullload_done_t;

/*
 * Parses a done-marker's JSON value into *out (free with
 * ferry_fullload_done_clear). Returns 0, FERRY_ERR_INVALID with the reason,
 * or FERRY_ERR_NOMEM. *out is zeroed on failure.
 */
int ferry_fullload_done_parse(const void *value, size_t len, ferry_fullload_done_t *out,
                              char *errstr, size_t errstr_size);

/* Frees the strings of d and zeroes it. NULL is a no-op. */
void ferry_fullload_done_clear(ferry_fullload_done_t *d);

/*
 * The done topic, read from its beginning and kept up to date: the first
 * marker of every task id (rule 4 above). Used by workers (skip done tasks),
 * the planner (progress and pacing) and checkers.
 */
typedef struct ferry_fullload_donelog ferry_fullload_donelog_t;

/*
 * Opens a reader of ferry.<project>.tasks.done with kafka_props (a
 * NULL-terminated name, value array, as kafka.h). Nothing is read yet.
 */
int ferry_fullload_donelog_new(const char *project, const char *const *kafka_props,
                               ferry_fullload_donelog_t **out, char *errstr, size_t errstr_size);

void ferry_fullload_donelog_destroy(ferry_fullload_donelog_t *d);

/*
 * Reads every marker up to the topic's end as of this call (its high
 * watermark, or last stable offset for read_committed). Returns 0,
 * FERRY_ERR_TIMEOUT after timeout_ms, FERRY_ERR_RETRIABLE/FATAL for Kafka
 * errors. A marker that does not parse is skipped with a count
 * (ferry_fullload_donelog_invalid).
 */
int ferry_fullload_donelog_catch_up(ferry_fullload_donelog_t *d, int timeout_ms, char *errstr,
                                    size_t errstr_size);

/* The first marker read for task_id, or NULL. Owned by d. */
const ferry_fullload_done_t *ferry_fullload_donelog_get(const ferry_fullload_donelog_t *d,
                                                        const char *task_id);

/* Calls fn for every first marker (in the order they were read). */
void ferry_fullload_donelog_each(const ferry_fullload_donelog_t *d,
                                 void (*fn)(void *opaque, const ferry_fullload_done_t *m),
                                 void *opaque);

/* Number of task ids with a marker; markers that did not parse. */
size_t ferry_fullload_donelog_count(const ferry_fullload_donelog_t *d);
size_t ferry_fullload_donelog_invalid(const ferry_fullload_donelog_t *d);

/* ---- planner driver ------------------------------------------------------ */

typedef struct {
    const char *project;            /* required */
    const char *const *kafka_props; /* required: at least bootstrap.servers */
    const char *source_url;         /* the source database (mysql:// ...) */
    uint64_t chunk_rows;            /* rows per chunk; 0 = 10000 */
    /*
     * Bytes per chunk: a table's chunks hold fewer than chunk_rows rows when
     * its rows are wide, about chunk_bytes of column values each, from the
     * average size of its first rows (read before its first task of the run is
     * written). 0 = chunk_rows only.
     */
    uint64_t chunk_bytes;
    int max_outstanding; /* tasks written and not done; 0 = 16 */
    /*
     * Pacing by the consumer: with max_unapplied_rows > 0 no task of a table
     * is written while that many of its rows are not applied: those of its
     * snapshot topic (under prefix) past the offsets the consumer's group
     * (consumer_group) committed, i.e. not stored at the destination yet,
     * and a chunk's worth per task handed out and not done. 0 = no limit.
     */
    const char *prefix;
    const char *consumer_group;
    int64_t max_unapplied_rows;
    /* with max_unapplied_rows > 0: no more than this many bytes' worth of
       rows either, by the same average; 0 = rows only */
    int64_t max_unapplied_bytes;
    int32_t generation;     /* plan generation; 0 for a first copy */
    int tasks_partitions;   /* when creating the tasks topic; 0 = 8 */
    int replication_factor; /* for topics it creates; 0 = broker default */
    int timeout_ms;         /* Kafka and database operations; 0 = 30000 */
    /*
     * Writes the tasks; NULL: a producer of its own. Not owned. One that
     * already has its producer id (an idempotent producer's first message
     * waits about a second for it) lets the first task leave at once.
     */
    ferry_kafka_producer_t *producer;
} ferry_fullload_planner_conf_t;

typedef struct {
    const char *db, *table; /* owned by the planner */
    int64_t chunks_planned; /* tasks written so far (this generation) */
    int64_t chunks_total;   /* -1 until the table is fully planned */
    int64_t chunks_done;    /* tasks with a done-marker */
    int64_t rows_copied;    /* sum of the done-markers' rows */
    int64_t rows_estimate;  /* planned rows once fully planned, else the server's estimate */
    bool finished;          /* fully planned and every chunk done */
} ferry_fullload_progress_t;

typedef struct ferry_fullload_planner ferry_fullload_planner_t;

/*
 * A planner driver for tables (n of them; not copied: they must outlive the
 * planner; each with pk_pos set on its key columns, as
 * ferry_tabledef_to_table does). Connects to the source, creates the tasks
 * and done topics if missing, and reads back what an earlier run of the
 * same generation already wrote (tasks topic) and finished (done topic), so
 * a restarted planner goes on where it stopped.
 */
int ferry_fullload_planner_new(const ferry_fullload_planner_conf_t *conf,
                               const ferry_table_t *const *tables, size_t n,
                               ferry_fullload_planner_t **out, char *errstr, size_t errstr_size);

void ferry_fullload_planner_destroy(ferry_fullload_planner_t *p);

/*
 * One round: reads new done-markers, then plans and writes tasks (flushed)
 * while fewer than max_outstanding are open, waiting for progress for up
 * to wait_ms when there is nothing it may write. Returns 1 when every
 * table is planned and every chunk done, 0 when there is more to do, or a
 * negative ferry_err_t naming the table. After an error the planner's
 * position may be ahead of what reached Kafka: destroy it and create a new
 * one, which resumes from the tasks topic.
 */
int ferry_fullload_planner_step(ferry_fullload_planner_t *p, int wait_ms, char *errstr,
                                size_t errstr_size);

/* Progress per table, in the order given; returns the table count. */
size_t ferry_fullload_planner_progress(const ferry_fullload_planner_t *p,
                                       ferry_fullload_progress_t *out, size_t cap);

/*
 * Snapshot rows not yet applied, over all tables, as last measured (-1
 * before the first measurement or without max_unapplied_rows), and whether
 * a table waited for the consumer at the last step that asked.
 */
int64_t ferry_fullload_planner_unapplied(const ferry_fullload_planner_t *p, bool *waiting);

/* ---- task source ---------------------------------------------------------- */

/*
 * One member of the worker group "ferry.<project>.fullload" on the tasks
 * topic, shared by every worker thread of a process. A process joins the
 * group once, so its threads cannot join one by one: a member joining a
 * group already formed makes every member stop and join again, and the
 * broker then waits out most of a session timeout (about 9 s with ferry's
 * 10 s) before handing out tasks. Several processes still share the load as
 * members of the group; a member that dies loses nothing (its partitions go
 * to another member, which copies the open tasks again). In a group that
 * has committed nothing yet, until the group first assigns it partitions
 * (a broker holds a new group's first join about 3 s), a member reads
 * tasks from every partition without the group (head start); the group
 * does not hand it those again, and a task read early from a partition
 * another member got is copied there too (by each process that read it
 * early), the first done-marker deciding which copy counts.
 *
 * @locality take and finish may be called from any thread.
 */
typedef struct ferry_fullload_tasks ferry_fullload_tasks_t;

/* Creates the consumer and subscribes it (the join itself is asynchronous). */
int ferry_fullload_tasks_new(const char *project, const char *const *kafka_props,
                             ferry_fullload_tasks_t **out, char *errstr, size_t errstr_size);

/* Leaves the group and frees everything. Every taken task must be finished. NULL is a no-op. */
void ferry_fullload_tasks_destroy(ferry_fullload_tasks_t *t);

/*
 * Waits up to timeout_ms (>= 0) for the next task message (*msg NULL when none;
 * free it with ferry_kafka_msg_destroy after ferry_fullload_tasks_finish).
 * Callers take turns: one polls, the others wait for it.
 */
int ferry_fullload_tasks_take(ferry_fullload_tasks_t *t, int timeout_ms, ferry_kafka_msg_t **msg,
                              char *errstr, size_t errstr_size);

/*
 * Ends a taken task. ok: it was copied or skipped, and its offset is
 * committed once every task taken before it from its partition is finished
 * too. !ok: it stays open, so this process commits nothing past it in its
 * partition and the partition's next owner gets it again.
 */
void ferry_fullload_tasks_finish(ferry_fullload_tasks_t *t, const ferry_kafka_msg_t *m, bool ok);

/*
 * Tasks handed out during the head start (*early), and how many of them the
 * group then handed this member (*caught: not handed out again, committed
 * once finished).
 */
void ferry_fullload_tasks_counts(ferry_fullload_tasks_t *t, size_t *early, size_t *caught);

/* ---- worker ------------------------------------------------------------------ */

typedef struct {
    const char *project;            /* required */
    const char *prefix;             /* link topic prefix, e.g. ferry.<project>.fwd; required */
    const char *worker_id;          /* unique and stable per worker slot; required (see below) */
    const char *const *kafka_props; /* required: at least bootstrap.servers */
    const char *source_url;         /* required */
    ferry_registry_t *registry;     /* where snapshot schemas are stored; required, not owned */
    const char *connector;          /* source.connector; NULL = "mysql" */
    const char *version;            /* source.version; NULL = "ferry" */
    int snapshot_partitions;        /* partitions of snapshot topics it creates; 0 = 8 */
    int replication_factor;         /* 0 = broker default */
    int max_attempts;               /* per task before giving up; 0 = 5 */
    int timeout_ms;                 /* Kafka and database operations; 0 = 30000 */
    /* column filters of the project (link_map.h); NULL for none; not owned */
    const struct ferry_rename_map *filters;
    /* project file whose row filters (where.<db>.<table>) the chunk SELECTs apply; NULL for
       none; not owned */
    const struct ferry_conf *row_filters;
    /* the process's membership of the worker group, shared with its other workers; not owned.
       NULL: the worker joins the group on its own */
    ferry_fullload_tasks_t *tasks;
} ferry_fullload_worker_conf_t;

/* What one ferry_fullload_worker_poll did. */
typedef struct {
    bool ran;     /* a task was taken from the topic */
    bool skipped; /* ... and it already had a done-marker */
    char task_id[512];
    int64_t rows;  /* rows produced by the committed attempt */
    int64_t bytes; /* key + value bytes produced */
    int attempts;  /* attempts it took (failed ones included) */
} ferry_fullload_result_t;

/* Counts since the worker started, for the service's metrics. */
typedef struct {
    uint64_t tasks_done, tasks_skipped, attempts_failed, rows, bytes;
} ferry_fullload_stats_t;

typedef struct ferry_fullload_worker ferry_fullload_worker_t;

/*
 * Creates a worker: connects to the source, opens a transactional producer
 * with transactional.id "ferry.<project>.fullload.<worker_id>" (a worker
 * that restarts with the same id fences its dead predecessor's open
 * transaction on a real Kafka, so keep ids stable per slot, e.g. host and
 * index) and takes its tasks through conf->tasks, or through a task source
 * of its own (a membership of the group "ferry.<project>.fullload") when
 * that is NULL.
 */
int ferry_fullload_worker_new(const ferry_fullload_worker_conf_t *conf,
                              ferry_fullload_worker_t **out, char *errstr, size_t errstr_size);

/* Frees everything (leaving the group when the worker joined on its own). NULL is a no-op. */
void ferry_fullload_worker_destroy(ferry_fullload_worker_t *w);

/*
 * Waits up to timeout_ms for a task and runs it to the end: skips it when
 * the done topic has it, else copies it in attempts (retriable failures are
 * aborted and retried, up to max_attempts), then finishes it in the task
 * source (ferry_fullload_tasks_finish: its offset is committed). Returns 0 (see *res), or a
 * negative ferry_err_t naming table and chunk when the task could not be copied (the offset is not
 * committed, so the group hands it out again).
 */
int ferry_fullload_worker_poll(ferry_fullload_worker_t *w, int timeout_ms,
                               ferry_fullload_result_t *res, char *errstr, size_t errstr_size);

void ferry_fullload_worker_stats(const ferry_fullload_worker_t *w, ferry_fullload_stats_t *out);

#endif
