/*
 * capture_int.h - what the capture's source files share (capture.c, the
 * loop; capture_tables.c, per-table schemas; capture_offsets.c, the
 * checkpoint record). Not for other modules.
 */
#ifndef FERRY_CAPTURE_INT_H
#define FERRY_CAPTURE_INT_H

#include "capture.h"

#include "avro_codec.h"
#include "avro_schema.h"
#include "binlog.h"
#include "binlog_stream.h"
#include "db.h"
#include "kafka.h"
#include "mysql_ddl.h"
#include "mysql_schema.h"
#include "row_filter.h"
#include "wire.h"

#include <pthread.h>
#include <stdatomic.h>

#define CAP_TABLE_BUCKETS 256

/* One source table as capture knows it. */
/*
 * MariaDB's UUID, INET4 and INET6 columns travel in the binlog as their
 * binary storage, while information_schema (and so the full load and the
 * destination) knows them as UUID and as text: these widen codes turn the
 * bytes into the type the table's definition gives.
 */
#define CAP_FIX_UUID 0x81 /* 16 bytes -> FERRY_TYPE_UUID */
#define CAP_FIX_INET 0x82 /* 4 or 16 bytes -> the address as text */

typedef struct cap_table {
    struct cap_table *hnext; /* hash chain */
    struct cap_table *next;  /* every table, in the order first seen */
    char *db, *name;
    bool selected; /* by tables.include / exclude; unselected tables stay as negative entries */
    bool valid;    /* schema below matches the last TABLE_MAP */

    /* the TABLE_MAP the schema was built from (types and metadata per column) */
    size_t ncols;
    uint8_t *types;
    uint16_t *metas;

    /* binlog column index of each kept column, and signed->unsigned fix-ups */
    size_t *keep;
    uint8_t *widen; /* per kept column: storage bytes to reinterpret as unsigned (1-8),
                       CAP_FIX_UUID / CAP_FIX_INET (below), 0 = none */
    size_t n_keep;

    ferry_table_t *table;       /* kept columns only */
    ferry_row_filter_t *filter; /* where.<db>.<table>, bound to table; NULL: every row */
    bool filter_parsed;
    ferry_avro_schemas_t schemas;
    ferry_avro_codec_t *env, *key; /* key NULL for a table without a key */
    /*
     * A unique key besides the row key: the table's changes all go to
     * partition 0, in source order (see ferry_capture_table_prepare).
     */
    bool one_partition;
    uint8_t vhdr[FERRY_WIRE_SOE_HDR_LEN], khdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t vhdr_len, khdr_len;
    char topic[512];
    bool topic_ready; /* created (or found) on the broker by this process */

    uint64_t txn_seq; /* source transaction data_order belongs to */
    int64_t data_order;
    uint64_t pend[3];  /* inserts, updates, deletes in the open group */
    uint64_t total[3]; /* committed; guarded by the capture's status mutex */
} cap_table_t;

struct ferry_capture {
    /* configuration (strings owned) */
    const ferry_conf_t *project;
    ferry_registry_t *registry;
    char *prefix, *link, *kafka_txn_id, *version, *source_url;
    char *start_file, *start_gtid;
    uint64_t start_pos;
    int max_events, max_ms, idle_ms, timeout_ms;
    const char **kprops; /* producer properties: ferry's defaults, then the project's */
    uint32_t replica_id;

    /* the source */
    ferry_db_t *meta; /* information_schema reads */
    ferry_mysql_flavor_t flavor;
    const char *connector; /* "mariadb" or "mysql" */
    int checksum_alg;
    int64_t source_server_id;
    ferry_rename_map_t *empty_map; /* DDL classification only */

    /* Kafka */
    ferry_kafka_producer_t *producer;
    bool kafka_open; /* a Kafka transaction is open */
    uint8_t ddl_hdr[FERRY_WIRE_SOE_HDR_LEN], off_hdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t ddl_hdr_len, off_hdr_len;
    char ddl_topic[512], off_topic[512];

    int fail_kind; /* why the last step failed (capture.c) */

    /* the binlog */
    ferry_binlog_stream_t *stream;
    ferry_binlog_decoder_t *dec;
    ferry_arena_t *arena;
    ferry_binlog_gtid_set_t *gtids;
    char file[256]; /* the stream's file */
    uint64_t pos;   /* the stream's position after the last event read */

    /* committed checkpoint */
    ferry_capture_position_t ckpt;
    atomic_bool snapshot_done;

    /* the source transaction being read */
    bool in_txn, txn_begun;
    uint64_t txn_seq;
    char txn_id[300];
    char txn_gtid[160];
    int64_t txn_order;
    /*
     * Rows before the current rows event inside a MySQL 8 compressed
     * transaction, whose inner events all carry the payload's position: a
     * change's (position, row) stays unique and increasing there (the
     * consumer drops a change not past the last one it took).
     */
    uint32_t row_base;
    int64_t last_ts_ms; /* source time of the last event */

    /* the open group */
    uint64_t group_events, group_txns;
    int64_t group_start_ms, last_commit_ms;
    bool group_ddl;
    /*
     * The group's change records not yet given to librdkafka, one after the
     * other in hold.buf (capture.c, "held records"); hold.released once the
     * group produced them, after which it produces its records at once.
     */
    struct {
        ferry_avro_buf_t buf;
        size_t max; /* bytes; reached, the group produces them */
        bool released;
    } hold;

    /* tables */
    cap_table_t *buckets[CAP_TABLE_BUCKETS];
    cap_table_t *tables, **tables_tail;

    ferry_avro_buf_t kbuf, vbuf;

    /* status */
    pthread_mutex_t mu;
    ferry_capture_status_t st;
    /*
     * Source time of the oldest change read but not yet committed to Kafka
     * (0: none). It survives an aborted group, whose changes are read again:
     * the lag reported counts from it, so a stalled or failing commit never
     * looks caught up.
     */
    int64_t pending_ts_ms;
    uint64_t events_read, rate_events;
    uint32_t status_skipped; /* events read since /status last saw the position */
    int64_t rate_t0;
};

/* ---- capture_tables.c ---------------------------------------------------- */

/*
 * The capture's entry for db.name, created on first use (selection decided
 * then). A selected table's row filter is parsed then too: its error is
 * returned (on every call) when it does not parse.
 */
int ferry_capture_table_get(ferry_capture_t *c, const char *db, const char *name, cap_table_t **out,
                            char *errstr, size_t errstr_size);

/*
 * Makes t's schema match the table map bt: rebuilt when never built, made
 * invalid by DDL, or when bt's columns differ from those it was built from.
 */
int ferry_capture_table_prepare(ferry_capture_t *c, cap_table_t *t, const ferry_binlog_table_t *bt,
                                char *errstr, size_t errstr_size);

/* Marks db.name's schema stale (after DDL naming it). */
void ferry_capture_table_invalidate(ferry_capture_t *c, const char *db, const char *name);

/*
 * Projects a binlog row onto t's kept columns (values point where src's do,
 * or into arena when converted, see CAP_FIX_*). NULL when out of memory or
 * when a value does not have its storage size.
 */
ferry_row_t *ferry_capture_table_project(const cap_table_t *t, const ferry_row_t *src,
                                         ferry_arena_t *arena);

/*
 * t's row filter on row (a row of t->table): 1 when it matches, 0 when not,
 * or a negative ferry_err_t (FERRY_ERR_RETRIABLE when the source, asked
 * about a comparison C cannot settle, could not be reached).
 */
int ferry_capture_table_match(ferry_capture_t *c, cap_table_t *t, const ferry_row_t *row,
                              char *errstr, size_t errstr_size);

/* Frees every table entry. */
void ferry_capture_tables_free(ferry_capture_t *c);

/* Makes db.table's change topic with topics.partitions (capture_tables.c). */
void ferry_capture_change_topic_make(ferry_capture_t *c, const char *db, const char *table);
/* Reads a tabledef on the metadata session, reconnecting it once if it was lost. */
int ferry_capture_read_tabledef(ferry_capture_t *c, const char *db, const char *name,
                                ferry_tabledef_t **out, char *errstr, size_t errstr_size);

/* ---- capture_offsets.c --------------------------------------------------- */

/* Appends the Avro body (schemas/source_position.avsc) of p to out. */
int ferry_capture_position_encode(const ferry_capture_position_t *p, const char *connector,
                                  int64_t server_id, ferry_avro_buf_t *out, char *errstr,
                                  size_t errstr_size);

/* Decodes a body written with writer_schema into *out. */
int ferry_capture_position_decode(const char *writer_schema, const uint8_t *body, size_t len,
                                  ferry_capture_position_t *out, char *errstr, size_t errstr_size);

#endif
