/*
 * mysql_sink.h - writes change events into a MySQL-family destination.
 *
 * The consumer of a link decodes change events (avro_codec.h) and hands them
 * to a sink in batches. A sink is bound to one destination connection (a
 * MYSQL* it does not own) and to the destination tables registered with
 * ferry_mysql_sink_add_table(). One call, ferry_mysql_sink_apply(), applies a
 * batch and records the Kafka offsets it covers in ONE destination
 * transaction, which is what makes apply exactly once: after a crash at any
 * instant either the rows and their offsets are both stored or neither is,
 * and the consumer seeks to ferry_mysql_sink_read_offsets() on start.
 *
 * How events become SQL:
 *
 *  - strict mode (normal running): insert -> multi-row INSERT; update ->
 *    UPDATE ... SET <the columns it changes: those whose before and after
 *    values differ, so a before image must be the whole row (FULL row
 *    images); an update without one sets every column> WHERE key (a changed key is
 *    simply SET: the WHERE uses the before image's key; DATETIME and
 *    TIMESTAMP columns are always set, the destination may declare them ON
 *    UPDATE CURRENT_TIMESTAMP), and consecutive updates of distinct keys
 *    that keep their key -> one UPDATE ... SET c = CASE key WHEN k1 THEN v1
 *    ... END WHERE key IN (k1, ...) over the columns any of them changes;
 *    delete -> DELETE ... WHERE (key) IN (...). Runs of consecutive events
 *    of one kind share a statement; events are never reordered (but see
 *    compact runs below), so per-key order holds exactly. An update or
 *    delete that matches no row, or an insert that hits an existing key, is
 *    an error of that event: strict mode is where divergence is noticed.
 *  - compact runs (ferry_mysql_sink_run_t.compact, for tables whose only
 *    unique key is the sink's key): the changes of one key in the run are
 *    folded into their net effect (mysql_sink_fold.c), one insert, update,
 *    delete or nothing per key, and keys are ordered by kind. Strict mode
 *    then checks what the key's first change would have checked, except
 *    that a key inserted and deleted within the run sends nothing; a
 *    folded item that fails fails every event it stands for.
 *  - safe mode (the hand-over replay between P0 and the high watermark):
 *    insert and update -> INSERT ... ON DUPLICATE KEY UPDATE of the after
 *    image (a changed key first deletes the old key); delete -> delete if
 *    present. Replaying events the destination already holds is a no-op.
 *    ON DUPLICATE KEY UPDATE rather than REPLACE because REPLACE deletes
 *    and re-inserts: with foreign keys (the reverse link applies into a
 *    source that has them) that cascades to child rows and fires delete
 *    triggers, and it costs a delete plus an insert in every index.
 *  - snapshot rows (op 'r'): LOAD DATA LOCAL INFILE fed from memory (see
 *    mysql_sink_load.c for the stream format), in safe mode with REPLACE:
 *    LOAD DATA knows only REPLACE and IGNORE, the snapshot row is newer than
 *    whatever a previous attempt left, and the destination has no foreign
 *    keys or triggers before switchover. Because LOCAL turns errors into
 *    warnings, a load that leaves any warning is rolled back and done again
 *    as multi-row INSERT, which reports exactly. LOAD DATA needs the
 *    connection opened with ferry_db_connect_flags(..., FERRY_DB_LOCAL_INFILE,
 *    ...); without it (or when the server refuses), snapshot rows go in as
 *    multi-row INSERT and one log line says why.
 *  - tables without a primary key are matched on the key given at
 *    registration (a unique key); tables with neither on the whole before
 *    image, with "<=>" (NULL-safe) and LIMIT 1, so that deleting one of two
 *    identical rows leaves the other. In safe mode such tables get
 *    insert-if-absent, update-one-if-present and delete-one-if-present,
 *    which is exact unless the table really holds identical rows.
 *
 * Values are rendered losslessly (mysql_sink_value.c): integers of both
 * signs, DECIMAL text, FLOAT/DOUBLE with round-trip digits (NaN and
 * infinities are refused: MySQL cannot store them), zero and invalid dates
 * (the session's sql_mode allows them), TIME beyond 24 h and negative,
 * strings escaped, binary as X'..', BIT as an integer, GEOMETRY through
 * ST_GeomFromWKB(wkb, srid). PostgreSQL-only types go in as their text form:
 * uuid as 36 characters, interval as ISO 8601 ("P1Y2M3DT4H5M6S"), arrays as
 * PostgreSQL's array text, boolean as 1/0.
 *
 * The sink sets the session up when created: sql_mode
 * STRICT_ALL_TABLES,ALLOW_INVALID_DATES,NO_AUTO_VALUE_ON_ZERO,
 * NO_ENGINE_SUBSTITUTION, time_zone '+00:00', multi-statements on. It needs
 * CLIENT_FOUND_ROWS on the connection (ferry_db_connect sets it) so that an
 * UPDATE that changes nothing still counts its matched row. Destination
 * tables must be transactional (InnoDB).
 *
 * Errors: a value or statement the destination rejects because of the data
 * (SQLSTATE classes 22 and 23, duplicate key, data too long, out of range,
 * foreign key, ...) fails only its event: the sink rolls back to a savepoint
 * before the statement, narrows the failing statement down to its event,
 * applies everything else and returns the failures with the server's errno,
 * SQLSTATE and message, for the dead-letter topic. Lost connections, lock
 * wait timeouts and deadlocks roll the whole transaction back and return
 * FERRY_ERR_RETRIABLE. A connection lost during the COMMIT's round trip
 * leaves the outcome unknown (result->commit_unknown): the caller moves the
 * sink to a new connection (ferry_mysql_sink_reconnect) and asks
 * ferry_mysql_sink_committed before applying the batch again.
 *
 * @locality one thread per sink (a sink owns its connection's session).
 */
#ifndef FERRY_MYSQL_SINK_H
#define FERRY_MYSQL_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "avro_codec.h"
#include "row.h"
#include "strbuf.h"

typedef struct st_mysql MYSQL;
typedef struct ferry_mysql_sink ferry_mysql_sink_t;

typedef struct {
    /* Link id stored with offsets and progress, e.g. "myproject.fwd". */
    const char *link;
    /* Who applies (a consumer instance or thread, e.g. "c1"); progress rows
       are per worker so that parallel workers never wait on each other's
       progress row. NULL = "default". */
    const char *worker;
    /* Database holding ferry_offsets and ferry_progress; NULL = "ferry_meta". */
    const char *meta_db;
    /* On a data error, stop (roll back everything, return FERRY_ERR_INVALID
       with the failing event) instead of dead-lettering it. */
    bool stop_on_data_error;
    /* Never use LOAD DATA (tests, and servers where it misbehaves). */
    bool disable_load_data;
    /* Upper bound of one round trip's SQL text, and of one LOAD DATA stream
       (0 = 4 MiB; capped below the server's max_allowed_packet). A single
       row larger than this still goes, alone. */
    size_t max_statement_bytes;
    /* Fault injection for tests: called after the batch's rows were sent and
       before the offsets are written and the transaction commits. */
    void (*before_commit)(void *arg);
    void *before_commit_arg;
} ferry_mysql_sink_conf_t;

/*
 * Binds a sink to my (not owned; must outlive the sink), sets the session up
 * and creates the meta database and its tables when missing. Returns 0 and
 * *out (free with ferry_mysql_sink_destroy), or a negative ferry_err_t with
 * the reason in errstr.
 */
int ferry_mysql_sink_new(MYSQL *my, const ferry_mysql_sink_conf_t *conf, ferry_mysql_sink_t **out,
                         char *errstr, size_t errstr_size);

/* Frees the sink (not the connection). NULL is a no-op. */
void ferry_mysql_sink_destroy(ferry_mysql_sink_t *s);

/* True when snapshot rows can go through LOAD DATA LOCAL INFILE. */
bool ferry_mysql_sink_load_data_enabled(const ferry_mysql_sink_t *s);

/* A destination table. */
typedef struct {
    const char *db;
    const char *table;
    /* Columns in the order the change events carry them, with destination
       names. The sink copies what it needs. */
    const ferry_table_t *columns;
    /* Indexes into columns of the key to match on. NULL: the columns whose
       pk_pos is set, in pk_pos order. Non-NULL with n_key_cols 0, or no
       pk_pos anywhere: no key, rows are matched on the full before image. */
    const size_t *key_cols;
    size_t n_key_cols;
} ferry_mysql_sink_table_t;

/*
 * Registers a table. Returns its id (>= 0, used in runs) or a negative
 * ferry_err_t with the reason in errstr (no columns, a key column out of
 * range, a column type the sink cannot write).
 */
int ferry_mysql_sink_add_table(ferry_mysql_sink_t *s, const ferry_mysql_sink_table_t *t,
                               char *errstr, size_t errstr_size);

/*
 * Gives dst every table registered with src that dst lacks, under the same
 * ids (dst must have been registered only through this call), so that
 * several sinks on several connections can apply runs built for src. The
 * caller keeps both sinks idle meanwhile. 0 or a negative ferry_err_t.
 */
int ferry_mysql_sink_mirror(ferry_mysql_sink_t *dst, const ferry_mysql_sink_t *src, char *errstr,
                            size_t errstr_size);

/* Events of one table, applied in order, all in one mode. */
typedef struct {
    int table; /* id from ferry_mysql_sink_add_table */
    bool safe; /* safe mode (hand-over replay) instead of strict */
    const ferry_change_t *events;
    size_t n_events;
    /* The table's only unique index is the sink's key: the changes of one
       key may be folded into their net effect and keys applied in any
       order (mysql_sink_fold.c). Never set it for a table with another
       unique key: values moving between rows would then be reordered. */
    bool compact;
} ferry_mysql_sink_run_t;

/*
 * A source position stored beside an offset: the greatest change a
 * consumer took from the partition (file, pos, row, rank: 1 for the create
 * half of a key change, else 0), so that a restarted consumer still skips
 * copies of changes it applied (libferry/capture.h, dedup by position).
 */
typedef struct {
    const char *file; /* NULL: no position */
    uint64_t pos;
    int32_t row;
    int32_t rank;
} ferry_mysql_sink_source_pos_t;

/* The next offset to read of one topic partition, and its dedup position. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t next_offset;
    ferry_mysql_sink_source_pos_t last; /* file NULL: leave the stored one */
} ferry_mysql_sink_offset_t;

/* An event that could not be applied. */
typedef struct {
    size_t run;          /* index in the batch's runs */
    size_t event;        /* index in that run's events */
    unsigned int err_no; /* server error number; 0 when ferry refused the value
                            itself or no row matched */
    char sqlstate[6];    /* "23000", ...; "22000" for refused values, "02000"
                            for no matching row */
    char message[512];   /* PostgreSQL-style, naming the table and the reason */
} ferry_mysql_sink_failure_t;

/*
 * Called with the batch's failed events (in batch order) after everything
 * else was sent and before the COMMIT, so that they can be kept elsewhere
 * (the dead-letter topic) before the offsets that skip them are stored.
 * Non-zero (a ferry_err_t, errstr filled) rolls the batch back: the apply
 * then returns FERRY_ERR_RETRIABLE.
 */
typedef int (*ferry_mysql_sink_failed_fn)(void *arg, const ferry_mysql_sink_failure_t *failed,
                                          size_t n_failed, char *errstr, size_t errstr_size);

/* A batch: runs applied in order, and the offsets they take the link to. */
typedef struct {
    const ferry_mysql_sink_run_t *runs;
    size_t n_runs;
    const ferry_mysql_sink_offset_t *offsets;
    size_t n_offsets;
    ferry_mysql_sink_failed_fn on_failed; /* NULL: none */
    void *on_failed_arg;
    /* Rows of ferry_offsets that must hold exactly these next_offset values
       (ownership epochs, ferry_mysql_sink_bump): read with a shared lock
       right before the COMMIT, so a bump by another session after that
       waits for this batch; a batch that finds any of them changed is
       refused (FERRY_ERR_FENCED, nothing applied). */
    const ferry_mysql_sink_offset_t *fences;
    size_t n_fences;
} ferry_mysql_sink_batch_t;

/* What a batch did. */
typedef struct {
    uint64_t inserted; /* op 'c' applied */
    uint64_t updated;  /* op 'u' applied */
    uint64_t deleted;  /* op 'd' applied */
    uint64_t loaded;   /* op 'r' applied (either path) */
    uint64_t loaded_via_load_data;
    uint64_t statements; /* statements that were executed and kept */
    uint64_t bytes;      /* SQL text and LOAD DATA stream bytes sent, retries included */
    uint64_t retries;    /* savepoint rollbacks while isolating failures */
    /* The connection was lost during the COMMIT: the batch may have
       committed. The counts above are what it did if it did. */
    bool commit_unknown;
    /* Events that failed, in batch order; owned by the sink, valid until its
       next apply or destroy. */
    const ferry_mysql_sink_failure_t *failed;
    size_t n_failed;
} ferry_mysql_sink_result_t;

/*
 * Applies batch in one transaction together with the upsert of its offsets
 * and of the per-table progress rows. Returns
 *  - 0: committed; result->failed lists events that were not applied
 *    because of their data (for the dead-letter topic);
 *  - FERRY_ERR_INVALID with stop_on_data_error: nothing committed,
 *    result->failed holds the first failing event;
 *  - FERRY_ERR_RETRIABLE: connection lost, lock wait timeout, deadlock;
 *    nothing committed, unless result->commit_unknown is set: then the
 *    COMMIT's answer was lost and ferry_mysql_sink_committed tells;
 *  - FERRY_ERR_FENCED: a fence moved (another consumer owns a table of
 *    the batch now); nothing committed;
 *  - FERRY_ERR_FATAL / FERRY_ERR_INVALID / FERRY_ERR_NOMEM: a problem that
 *    is not about one event (missing table, bad registration, ...).
 * errstr says what failed on which table.
 */
int ferry_mysql_sink_apply(ferry_mysql_sink_t *s, const ferry_mysql_sink_batch_t *batch,
                           ferry_mysql_sink_result_t *result, char *errstr, size_t errstr_size);

/*
 * Moves s to a new connection my (opened like the first, with
 * CLIENT_FOUND_ROWS) after its own was lost: sets the session up again and
 * keeps the registered tables, the last batch's failures and what
 * ferry_mysql_sink_committed needs. The caller closes the old connection.
 * 0 or a negative ferry_err_t.
 */
int ferry_mysql_sink_reconnect(ferry_mysql_sink_t *s, MYSQL *my, char *errstr, size_t errstr_size);

/*
 * After a batch returned FERRY_ERR_RETRIABLE with result->commit_unknown
 * and s was reconnected: ends the lost session on the server (KILL, then
 * waits until it is gone, so that its COMMIT can no longer land) and reads
 * ferry_offsets. The offsets that tell are those with a next_offset above
 * 0 (partition offsets, which every batch moves forward); a batch without
 * any (a chunk's or a statement's mark) is told by its marks being there.
 * *committed is true when every offset that tells is stored at its value
 * or beyond (the batch committed: do not apply it again), false when none
 * is (apply it again). 0, FERRY_ERR_RETRIABLE (ask again later), or
 * FERRY_ERR_FATAL when only some are (another consumer writes these
 * partitions).
 */
int ferry_mysql_sink_committed(ferry_mysql_sink_t *s, const ferry_mysql_sink_batch_t *batch,
                               bool *committed, char *errstr, size_t errstr_size);

/*
 * Raises the ferry_offsets row (topic, partition 0) of the sink's link by
 * one (1 when there is none) and returns the new value in *value: an
 * ownership epoch. Waits for every batch holding that row as a fence, so
 * once it returns no batch of the previous owner can still commit. 0 or a
 * negative ferry_err_t (FERRY_ERR_RETRIABLE on a lock wait timeout).
 */
int ferry_mysql_sink_bump(ferry_mysql_sink_t *s, const char *topic, int64_t *value, char *errstr,
                          size_t errstr_size);

/*
 * Calls fn for every stored offset of the sink's link. A non-zero return
 * from fn stops and is returned. Otherwise 0 or a negative ferry_err_t.
 */
int ferry_mysql_sink_read_offsets(ferry_mysql_sink_t *s,
                                  int (*fn)(void *arg, const char *topic, int32_t partition,
                                            int64_t next_offset),
                                  void *arg, char *errstr, size_t errstr_size);

/*
 * Like ferry_mysql_sink_read_offsets, with the dedup position stored with
 * each offset (last.file NULL when none was stored), for the topics that
 * start with topic_prefix (NULL: all). Strings are valid during the call
 * only.
 */
int ferry_mysql_sink_read_stored(ferry_mysql_sink_t *s, const char *topic_prefix,
                                 int (*fn)(void *arg, const ferry_mysql_sink_offset_t *o),
                                 void *arg, char *errstr, size_t errstr_size);

/* Phases of the progress rows. */
#define FERRY_MYSQL_SINK_PHASE_SNAPSHOT "snapshot"
#define FERRY_MYSQL_SINK_PHASE_SAFE     "safe"
#define FERRY_MYSQL_SINK_PHASE_STRICT   "strict"

/*
 * Calls fn for every progress row of the link, summed over workers: rows
 * applied per destination table and phase. Same return rules as
 * ferry_mysql_sink_read_offsets.
 */
int ferry_mysql_sink_read_progress(ferry_mysql_sink_t *s,
                                   int (*fn)(void *arg, const char *db, const char *table,
                                             const char *phase, uint64_t rows),
                                   void *arg, char *errstr, size_t errstr_size);

/*
 * Appends to out the SQL literal of v for a column col (NULL, 42, 'text',
 * X'00ff', ST_GeomFromWKB(X'..', 4326), ...). Returns 0, or
 * FERRY_ERR_INVALID with the reason in errstr when MySQL cannot hold the
 * value (NaN, infinities, years outside 0..9999, decimal text that is not a
 * number). For tests and for repair statements.
 */
int ferry_mysql_sink_literal(const ferry_column_t *col, const ferry_value_t *v, ferry_strbuf_t *out,
                             char *errstr, size_t errstr_size);

#endif
