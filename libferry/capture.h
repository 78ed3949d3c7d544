/*
 * capture.h - incremental capture of a MySQL-family source into Kafka.
 *
 * The producer service runs one capture per forward link. It reads the
 * source's binlog over the replication protocol (binlog_stream.h), decodes
 * it (binlog.h), and turns
 *
 *   - row events of selected tables into change events on
 *     <prefix>.<db>.<table> (key: the Avro Key record of the row's key,
 *     value: the Debezium-shaped Envelope; columns filtered by
 *     columns.include|exclude.<db>.<table> never leave the process);
 *   - DDL statements naming selected tables into schema-change events on
 *     <prefix>.ddl (ddl_event.h);
 *   - source positions into checkpoints on <prefix>.offsets (key: the link,
 *     "fwd"; value: schemas/source_position.avsc, framed like every other
 *     value through the registry).
 *
 * ---- transactions and checkpoints ---------------------------------------
 *
 * Events go to Kafka in transactions of the capture's own transactional
 * producer (transactional.id "<prefix>.capture" unless the caller names
 * one). One Kafka transaction holds a group of WHOLE source transactions
 * (closed at XID, at a COMMIT query and after a DDL statement; a group ends
 * after max_events events or max_ms milliseconds, and after every DDL) plus
 * exactly one offsets record: the position right after the group's last
 * source transaction (file, pos, GTID state so far). A checkpoint never
 * names a position inside a source transaction. When the source is idle a
 * transaction holding only an offsets record is committed every
 * idle_checkpoint_ms, so the checkpoint follows the binlog's end (its ts_ms
 * is then the wall-clock time, meaning "nothing newer as of then").
 *
 * Where it starts: the last offsets record for the link, when there is one
 * (resuming after the last committed group), else the caller's start
 * position (P0). The checkpoint always wins over the caller's position.
 *
 * Failures:
 *   - Kafka error during a group (produce, flush or commit): the Kafka
 *     transaction is aborted (a fatal producer error also replaces the
 *     producer) and capture replays from the last committed checkpoint by
 *     reopening the binlog there. Nothing of a committed group is produced
 *     twice by the same run.
 *   - lost source connection: the group's whole transactions are committed
 *     when the loss falls between transactions (else the group is aborted),
 *     and capture reconnects with backoff (0.2 s doubling to 5 s) and
 *     resumes at the last checkpoint.
 *   - purged binlog (the checkpoint's file is gone): ferry_capture_run
 *     returns FERRY_ERR_NOT_FOUND with a line naming the position and the
 *     remedy (a new full load). The service exits non-zero with it.
 *
 * ---- what a consumer must do about duplicates (dedup by position) ---------
 *
 * On a real Kafka, read_committed readers never see the records of an
 * aborted group. ferry-devkafka (librdkafka's mock broker) shows them
 * anyway when they had reached the broker before the abort
 * (docs/ARCHITECTURE.md, facts about the mock), and the replay that follows
 * the abort produces them again. Every change event carries its source
 * position: source.file, source.pos (the end of its rows event) and
 * source.row (index in that event); with the op they are unique per change
 * and increase in binlog order (files by sequence number, binlog_pos.h).
 * An update that changes the key is sent as a delete of the old key and a
 * create of the new one, at the same (file, pos, row): the delete counts as
 * before the create. All changes of one key go to one partition in binlog
 * order, so a consumer that keeps, per partition, the greatest (file, pos,
 * row, op) it applied and skips any event not greater than it (ferry's
 * consumer does, and stores that position with its offsets) gets every
 * change exactly once, on the mock as on a real Kafka. DDL events are deduplicated the same way by
 * (file, pos) on <prefix>.ddl, and an offsets record older than one already
 * seen is to be ignored. The same holds across a producer restart: on the
 * mock a group aborted just before the process died may be visible, and
 * the restarted capture resumes at the last committed checkpoint before it.
 *
 * Row filters (where.<db>.<table>) are not evaluated by capture yet:
 * ferry_capture_new refuses a project that sets one for a table it would
 * capture (and a table first seen later is refused by ferry_capture_run).
 *
 * @locality one thread calls ferry_capture_run; any thread may call
 *           ferry_capture_status and ferry_capture_table_counts meanwhile.
 */
#ifndef FERRY_CAPTURE_H
#define FERRY_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "registry.h"

typedef struct ferry_capture ferry_capture_t;

typedef struct {
    const ferry_conf_t *project; /* source.url, kafka.*, tables.*, columns.*, where.* */
    const char *prefix;          /* "ferry.<project>.fwd"; its last part is the link */
    ferry_registry_t *registry;  /* schema store; borrowed, must outlive the capture */
    /* P0: used only when <prefix>.offsets holds no checkpoint for the link. */
    const char *start_file; /* binlog file; NULL or "" to start at start_gtid */
    uint64_t start_pos;
    const char *start_gtid;       /* GTID state at P0 (MariaDB list or MySQL set), may be NULL */
    const char *transactional_id; /* NULL: "<prefix>.capture" */
    const char *version;          /* ferry's version for source.version; NULL: none */
    int max_events;               /* events per Kafka transaction; 0: 20000 */
    int max_ms;                   /* age of a group before it commits; 0: 100 */
    int idle_checkpoint_ms;       /* checkpoint interval when idle; 0: 2000 */
    int timeout_ms;               /* Kafka and source round trips; 0: 30000 */
    size_t hold_bytes;            /* change records a group holds (capture.c); 0: 4 MiB */
} ferry_capture_conf_t;

/* A source position as the offsets topic holds it. */
typedef struct {
    char file[256];
    uint64_t pos;
    char gtid_set[1024]; /* "" when unknown */
    int64_t ts_ms;
    bool snapshot_done;
} ferry_capture_position_t;

/*
 * Checks the configuration (row filters, table selection), connects a
 * metadata session to the source (server version, binlog checksum; later
 * information_schema reads) and creates the Kafka producer. No binlog is
 * read and no Kafka transaction starts yet. conf is copied (registry and
 * project are borrowed). Returns NULL with the reason in errstr.
 */
ferry_capture_t *ferry_capture_new(const ferry_capture_conf_t *conf, char *errstr,
                                   size_t errstr_size);

/*
 * Captures until *stop_flag becomes non-zero, then finishes the source
 * transaction it is in (the binlog holds it whole), commits the group and
 * returns 0. Returns a negative ferry_err_t with one line in errstr for
 * what it cannot get past: FERRY_ERR_NOT_FOUND (binlog purged),
 * FERRY_ERR_UNSUPPORTED (a row filter, a partial row image),
 * FERRY_ERR_FATAL / FERRY_ERR_INVALID (decoding, schema or configuration
 * errors). Transient source and Kafka errors are retried inside.
 */
int ferry_capture_run(ferry_capture_t *c, volatile const int *stop_flag, char *errstr,
                      size_t errstr_size);

/*
 * From now on checkpoints carry snapshot_done = true (every table's full
 * load finished). A checkpoint read at start that says so keeps saying so.
 */
void ferry_capture_set_snapshot_done(ferry_capture_t *c);

/* Frees the capture (producer, sessions, caches). NULL is a no-op. */
void ferry_capture_destroy(ferry_capture_t *c);

/* ---- status (any thread) ------------------------------------------------ */

typedef enum {
    FERRY_CAPTURE_STARTING = 0,
    FERRY_CAPTURE_STREAMING,
    FERRY_CAPTURE_RECONNECTING,
    FERRY_CAPTURE_STOPPED,
    FERRY_CAPTURE_FAILED,
} ferry_capture_state_t;

typedef struct {
    ferry_capture_state_t state;
    char file[256]; /* last committed checkpoint */
    uint64_t pos;
    char read_file[256]; /* where the stream is (may be inside a transaction) */
    uint64_t read_pos;
    uint64_t events;           /* change and DDL events committed to Kafka */
    uint64_t transactions;     /* source transactions covered by checkpoints */
    uint64_t kafka_commits;    /* Kafka transactions committed */
    uint64_t kafka_aborts;     /* Kafka transactions aborted (then replayed) */
    uint64_t reconnects;       /* binlog reconnections */
    uint64_t early_releases;   /* groups that reached hold_bytes: held records produced early */
    double events_per_s;       /* over the last few seconds */
    int64_t last_source_ts_ms; /* source time of the last event read; 0 before any */
    int64_t lag_ms;            /* now - that time when it was read; 0 when idle */
    unsigned long stream_thread_id; /* the binlog session's id on the source; 0 when none */
    /* lag_ms grows, from its source time, while a change read is not yet in Kafka */
} ferry_capture_status_t;

/* A consistent copy of the capture's status. */
void ferry_capture_status(ferry_capture_t *c, ferry_capture_status_t *out);

typedef struct {
    char db[128], table[128];
    uint64_t inserts, updates, deletes; /* committed to Kafka */
} ferry_capture_table_count_t;

/*
 * Copies up to max per-table counts into out (tables captured so far, in
 * the order first seen); returns how many tables there are.
 */
size_t ferry_capture_table_counts(ferry_capture_t *c, ferry_capture_table_count_t *out, size_t max);

/* ---- checkpoints --------------------------------------------------------- */

/*
 * Reads the last checkpoint of link (e.g. "fwd") from <prefix>.offsets:
 * 0 and *out, FERRY_ERR_NOT_FOUND when the topic holds none, or another
 * negative ferry_err_t with errstr. kafka_props as kafka.h.
 */
int ferry_capture_checkpoint_read(const char *const *kafka_props, ferry_registry_t *registry,
                                  const char *prefix, const char *link, int timeout_ms,
                                  ferry_capture_position_t *out, char *errstr, size_t errstr_size);

#endif
