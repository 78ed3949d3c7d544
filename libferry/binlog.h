/*
 * binlog.h - MySQL / MariaDB binary log event decoder (bytes in, events out).
 *
 * Capture reads events from the replication stream or from binlog files and
 * hands each one, header included, to ferry_binlog_decode(). The decoder is a
 * pure function of the bytes plus a little state that the binlog format makes
 * necessary: the last FORMAT_DESCRIPTION event (post-header lengths, checksum
 * algorithm, server flavour) and the table-id -> TABLE_MAP cache that row
 * events refer to. Nothing here talks to a server.
 *
 * Row images are decoded here, not by libmariadb (see DESIGN.md: its
 * mariadb_rpl_extract_rows corrupts memory and misreads several types). Every
 * column type of MySQL 8 and MariaDB 10.11 becomes a ferry_value_t of the row
 * model (row.h) without loss; TABLE_MAP's optional metadata supplies names,
 * signedness, charsets, ENUM/SET strings and the primary key where the server
 * wrote it (binlog_row_metadata=FULL). When it did not, the table says so
 * (names_missing, FERRY_BINLOG_COL_*_UNKNOWN) and the caller fills the gaps
 * from information_schema.
 *
 * Lifetimes. A decoded event points into three places:
 *  - the caller's event bytes (strings, BLOBs, WKB, SQL text): valid while
 *    the caller keeps those bytes unchanged;
 *  - the arena passed to ferry_binlog_decode (rows, converted text, decimal
 *    text, JSON text, decompressed payloads): valid until the arena is reset;
 *  - the decoder (ferry_binlog_table_t of TABLE_MAP and rows events): valid
 *    until the decoder is destroyed, or until the second cache reset (ROTATE
 *    or FORMAT_DESCRIPTION) after the table map was replaced or dropped. So a
 *    caller may keep tables across one binlog file boundary.
 *
 * @locality a decoder is used by one thread at a time.
 */
#ifndef FERRY_BINLOG_H
#define FERRY_BINLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "row.h"

/* ---- event type codes (the byte at offset 4 of the header) ------------- */

enum {
    FERRY_BINLOG_UNKNOWN_EVENT = 0,
    FERRY_BINLOG_START_V3 = 1,
    FERRY_BINLOG_QUERY = 2,
    FERRY_BINLOG_STOP = 3,
    FERRY_BINLOG_ROTATE = 4,
    FERRY_BINLOG_INTVAR = 5,
    FERRY_BINLOG_APPEND_BLOCK = 9,
    FERRY_BINLOG_RAND = 13,
    FERRY_BINLOG_USER_VAR = 14,
    FERRY_BINLOG_FORMAT_DESCRIPTION = 15,
    FERRY_BINLOG_XID = 16,
    FERRY_BINLOG_BEGIN_LOAD_QUERY = 17,
    FERRY_BINLOG_EXECUTE_LOAD_QUERY = 18,
    FERRY_BINLOG_TABLE_MAP = 19,
    FERRY_BINLOG_WRITE_ROWS_V1 = 23,
    FERRY_BINLOG_UPDATE_ROWS_V1 = 24,
    FERRY_BINLOG_DELETE_ROWS_V1 = 25,
    FERRY_BINLOG_INCIDENT = 26,
    FERRY_BINLOG_HEARTBEAT = 27,
    FERRY_BINLOG_IGNORABLE = 28,
    FERRY_BINLOG_ROWS_QUERY = 29,
    FERRY_BINLOG_WRITE_ROWS_V2 = 30,
    FERRY_BINLOG_UPDATE_ROWS_V2 = 31,
    FERRY_BINLOG_DELETE_ROWS_V2 = 32,
    FERRY_BINLOG_GTID = 33,
    FERRY_BINLOG_ANONYMOUS_GTID = 34,
    FERRY_BINLOG_PREVIOUS_GTIDS = 35,
    FERRY_BINLOG_TRANSACTION_CONTEXT = 36,
    FERRY_BINLOG_VIEW_CHANGE = 37,
    FERRY_BINLOG_XA_PREPARE = 38,
    FERRY_BINLOG_PARTIAL_UPDATE_ROWS = 39,
    FERRY_BINLOG_TRANSACTION_PAYLOAD = 40,
    FERRY_BINLOG_HEARTBEAT_V2 = 41,
    FERRY_BINLOG_GTID_TAGGED = 42,
    FERRY_BINLOG_MARIA_ANNOTATE_ROWS = 160,
    FERRY_BINLOG_MARIA_BINLOG_CHECKPOINT = 161,
    FERRY_BINLOG_MARIA_GTID = 162,
    FERRY_BINLOG_MARIA_GTID_LIST = 163,
    FERRY_BINLOG_MARIA_START_ENCRYPTION = 164,
    FERRY_BINLOG_MARIA_QUERY_COMPRESSED = 165,
    FERRY_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1 = 166,
    FERRY_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1 = 167,
    FERRY_BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1 = 168,
    FERRY_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V2 = 169,
    FERRY_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V2 = 170,
    FERRY_BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V2 = 171,
};

/* Size of the v4 common header; event_size and log_pos live in it. */
#define FERRY_BINLOG_HEADER_LEN 19

/* Header flag: the binlog file was not closed cleanly (FDE only). */
#define FERRY_BINLOG_F_IN_USE 0x1u

/*
 * Upper-case name of an event type as the fixtures' inventory spells it
 * ("QUERY", "WRITE_ROWS_V2", "MARIA_GTID"). For a code it does not know it
 * writes "T<code>" into buf (8 bytes) and returns buf.
 */
const char *ferry_binlog_event_type_name(unsigned type, char buf[8]);

/* ---- tables (TABLE_MAP) -------------------------------------------------- */

/* Per-column facts the row model has no field for (ferry_binlog_column_t.flags). */
#define FERRY_BINLOG_COL_SIGNEDNESS_UNKNOWN 0x01u /* integers read as signed */
#define FERRY_BINLOG_COL_CHARSET_UNKNOWN    0x02u /* text left as the raw bytes */
#define FERRY_BINLOG_COL_MEMBERS_UNKNOWN    0x04u /* ENUM/SET values are numbers (UINT) */
#define FERRY_BINLOG_COL_INVISIBLE          0x08u /* COLUMN_VISIBILITY says invisible */
#define FERRY_BINLOG_COL_NAME_UNKNOWN       0x10u /* name is "@<n>" */
#define FERRY_BINLOG_COL_UNSIGNED           0x20u /* SIGNEDNESS says unsigned */

typedef struct {
    uint8_t type;         /* type code written in TABLE_MAP (MYSQL_TYPE_*) */
    uint8_t real_type;    /* STRING metadata unpacked: ENUM (247), SET (248) or the type */
    uint16_t meta;        /* raw column metadata */
    uint32_t max_len;     /* CHAR/VARCHAR/BINARY: max bytes; ENUM/SET/BLOB: pack bytes */
    uint16_t collation;   /* collation id, 0 when unknown or not a text column */
    uint32_t flags;       /* FERRY_BINLOG_COL_* */
    uint32_t geometry;    /* GEOMETRY_TYPE metadata (0 = GEOMETRY, 1 = POINT, ...) */
    uint32_t vector_dims; /* MySQL 9 VECTOR dimensionality, 0 when not given */
} ferry_binlog_column_t;

typedef struct ferry_binlog_table {
    uint64_t table_id;
    const char *db;
    const char *name;
    uint16_t flags; /* TABLE_MAP flags */
    size_t ncols;
    const ferry_binlog_column_t *cols;
    /*
     * The row model's description: names ("@1", "@2", ... when the binlog has
     * none), types, FERRY_COL_UNSIGNED/NULLABLE, lengths, precision/scale,
     * fsp, charset names, ENUM/SET members and pk_pos.
     */
    const ferry_table_t *table;
    bool names_missing; /* no COLUMN_NAME metadata */
    bool pk_known;      /* SIMPLE_PRIMARY_KEY or PRIMARY_KEY_WITH_PREFIX was present */
} ferry_binlog_table_t;

/* ---- decoded events ------------------------------------------------------ */

typedef enum {
    FERRY_BINLOG_EV_OTHER = 0, /* not decoded further; type says what */
    FERRY_BINLOG_EV_FORMAT_DESCRIPTION,
    FERRY_BINLOG_EV_ROTATE,
    FERRY_BINLOG_EV_QUERY, /* also MariaDB QUERY_COMPRESSED */
    FERRY_BINLOG_EV_XID,
    FERRY_BINLOG_EV_GTID, /* MySQL GTID, ANONYMOUS_GTID, GTID_TAGGED */
    FERRY_BINLOG_EV_MARIA_GTID,
    FERRY_BINLOG_EV_PREVIOUS_GTIDS,
    FERRY_BINLOG_EV_MARIA_GTID_LIST,
    FERRY_BINLOG_EV_TABLE_MAP,
    FERRY_BINLOG_EV_ROWS,       /* v1, v2 and MariaDB compressed row events */
    FERRY_BINLOG_EV_ROWS_QUERY, /* ROWS_QUERY and MariaDB ANNOTATE_ROWS */
    FERRY_BINLOG_EV_HEARTBEAT,
    FERRY_BINLOG_EV_TRANSACTION_PAYLOAD,
    FERRY_BINLOG_EV_STOP,
} ferry_binlog_kind_t;

typedef enum {
    FERRY_BINLOG_OP_INSERT = 1,
    FERRY_BINLOG_OP_UPDATE = 2,
    FERRY_BINLOG_OP_DELETE = 3,
} ferry_binlog_op_t;

/* Rows event flag: last event of the statement. */
#define FERRY_BINLOG_ROWS_STMT_END 0x1u

/* MariaDB GTID flags (ferry_binlog_event_t.u.maria_gtid.flags). */
#define FERRY_BINLOG_MARIA_FL_STANDALONE    0x01u
#define FERRY_BINLOG_MARIA_FL_GROUP_COMMIT  0x02u
#define FERRY_BINLOG_MARIA_FL_TRANSACTIONAL 0x04u
#define FERRY_BINLOG_MARIA_FL_DDL           0x20u
#define FERRY_BINLOG_MARIA_FL_PREPARED_XA   0x40u
#define FERRY_BINLOG_MARIA_FL_COMPLETED_XA  0x80u

/* One MariaDB GTID domain-server-seq. */
typedef struct {
    uint32_t domain;
    uint32_t server;
    uint64_t seq;
} ferry_binlog_maria_gtid_t;

typedef struct {
    uint8_t type; /* event type code */
    ferry_binlog_kind_t kind;
    uint32_t timestamp;
    uint32_t server_id;
    uint32_t event_size;
    uint32_t log_pos; /* position after this event (0 in some relay-log events) */
    uint16_t flags;
    union {
        struct {
            uint16_t binlog_version;
            const char *server_version; /* arena */
            uint8_t checksum_alg;       /* 0 none, 1 CRC32, 255 unknown/pre-5.6 */
            bool mariadb;
        } fde;
        struct {
            const char *file; /* arena, NUL-terminated */
            uint64_t pos;
        } rotate;
        struct {
            uint32_t thread_id;
            uint32_t exec_time;
            uint16_t error_code;
            const char *db;  /* arena; "" when none */
            const char *sql; /* NOT NUL-terminated: event bytes or arena */
            size_t sql_len;
            const char *charset;   /* client charset name from Q_CHARSET, or NULL */
            const char *time_zone; /* arena, from Q_TIME_ZONE, or NULL */
            uint64_t sql_mode;
            bool sql_mode_set;
        } query;
        struct {
            uint64_t xid;
        } xid;
        struct {
            bool anonymous;
            uint8_t flags;
            uint8_t sid[16];
            const char *tag; /* arena, NULL when untagged */
            int64_t gno;
            int64_t last_committed;  /* -1 when absent */
            int64_t sequence_number; /* -1 when absent */
            const char *text;        /* arena: "uuid:gno" or "uuid:tag:gno" */
        } gtid;
        struct {
            ferry_binlog_maria_gtid_t gtid;
            uint8_t flags;      /* FERRY_BINLOG_MARIA_FL_* */
            uint64_t commit_id; /* when FL_GROUP_COMMIT */
            const char *text;   /* arena: "domain-server-seq" */
        } maria_gtid;
        struct {
            const char *text; /* arena: MySQL GTID set text ("" when empty) */
        } previous_gtids;
        struct {
            size_t n;
            const ferry_binlog_maria_gtid_t *gtids; /* arena */
            const char *text;                       /* arena: "0-1-5,1-10-12" */
        } gtid_list;
        struct {
            const ferry_binlog_table_t *table; /* the decoder's */
        } table_map;
        struct {
            ferry_binlog_op_t op;
            uint8_t version; /* 1 or 2 */
            bool compressed; /* MariaDB *_COMPRESSED */
            uint16_t flags;  /* FERRY_BINLOG_ROWS_* */
            const ferry_binlog_table_t *table;
            /* Columns present in before / after images (bit i = column i). */
            const uint8_t *before_cols;
            const uint8_t *after_cols;
            size_t n_rows;
            ferry_row_t *before; /* n_rows rows, NULL for inserts; arena */
            ferry_row_t *after;  /* n_rows rows, NULL for deletes; arena */
        } rows;
        struct {
            const char *text; /* NOT NUL-terminated; event bytes */
            size_t len;
        } rows_query;
        struct {
            const char *file; /* arena */
        } heartbeat;
        struct {
            uint8_t compression; /* 0 zstd, 255 none */
            const uint8_t *data; /* inner events, uncompressed: arena or event bytes */
            size_t len;
        } payload;
    } u;
} ferry_binlog_event_t;

typedef struct ferry_binlog_decoder ferry_binlog_decoder_t;

/* A decoder with no FORMAT_DESCRIPTION yet; NULL when out of memory. */
ferry_binlog_decoder_t *ferry_binlog_decoder_new(void);

/* Frees the decoder, its table maps and converters. NULL is a no-op. */
void ferry_binlog_decoder_destroy(ferry_binlog_decoder_t *d);

/*
 * Tells the decoder whether events carry a CRC32 trailer before it has seen
 * a FORMAT_DESCRIPTION event (a replication stream starts with a fake ROTATE
 * that follows the checksum setting negotiated with @master_binlog_checksum).
 * Without it such an event is checked both ways. alg: 0 none, 1 CRC32.
 */
void ferry_binlog_decoder_set_checksum(ferry_binlog_decoder_t *d, int alg);

/* The table map cached for table_id, or NULL. */
const ferry_binlog_table_t *ferry_binlog_decoder_table(const ferry_binlog_decoder_t *d,
                                                       uint64_t table_id);

/*
 * Decodes one event (common header + body [+ CRC32]) of exactly len bytes.
 * Allocates the event's variable parts from arena (see the lifetimes above).
 * Returns 0 and fills *ev; on failure a negative FERRY_ERR_* and one line in
 * errstr naming the event type, its position and what is wrong, e.g.
 * 'could not decode WRITE_ROWS_V2 event at position 1234: truncated row 3'.
 * Unknown event types are not an error: kind is FERRY_BINLOG_EV_OTHER.
 */
int ferry_binlog_decode(ferry_binlog_decoder_t *d, const uint8_t *buf, size_t len,
                        ferry_arena_t *arena, ferry_binlog_event_t *ev, char *errstr,
                        size_t errstr_size);

/*
 * Iterates the events inside a TRANSACTION_PAYLOAD event ev (decoded by this
 * decoder). *offset starts at 0. Decodes the next inner event into *inner
 * (inner events have no CRC32 trailer) and advances *offset. Returns 1 when
 * an event was decoded, 0 at the end, or a negative FERRY_ERR_* with errstr.
 */
int ferry_binlog_payload_next(ferry_binlog_decoder_t *d, const ferry_binlog_event_t *ev,
                              size_t *offset, ferry_arena_t *arena, ferry_binlog_event_t *inner,
                              char *errstr, size_t errstr_size);

/* True when bit i of a row-event column bitmap is set. */
static inline bool ferry_binlog_bit(const uint8_t *bitmap, size_t i)
{
    return (bitmap[i / 8] >> (i % 8)) & 1;
}

/* ---- charsets -------------------------------------------------------------- */

/*
 * Character set name of a MySQL/MariaDB collation id ("utf8mb4", "latin1",
 * "binary", ...), or NULL when the id is unknown.
 */
const char *ferry_binlog_collation_charset(unsigned collation_id);

/* ---- GTID sets ------------------------------------------------------------- */

/*
 * A GTID set in either flavour: MySQL (uuid[:tag]:intervals, merged) or
 * MariaDB (the last seq per domain and server). Used to turn PREVIOUS_GTIDS /
 * GTID_LIST plus the GTIDs that follow into a resumable position.
 */
typedef struct ferry_binlog_gtid_set ferry_binlog_gtid_set_t;

/* An empty set; NULL when out of memory. */
ferry_binlog_gtid_set_t *ferry_binlog_gtid_set_new(void);

/* NULL is a no-op. */
void ferry_binlog_gtid_set_destroy(ferry_binlog_gtid_set_t *s);

/*
 * Adds the text form: MySQL "uuid:1-5:7,uuid2[:tag]:3" or MariaDB
 * "0-1-100,1-2-7" (empty text adds nothing). Returns 0, FERRY_ERR_INVALID
 * with errstr, or FERRY_ERR_NOMEM.
 */
int ferry_binlog_gtid_set_parse(ferry_binlog_gtid_set_t *s, const char *text, char *errstr,
                                size_t errstr_size);

/* Adds one MySQL GTID (tag may be NULL). 0 or FERRY_ERR_NOMEM/INVALID. */
int ferry_binlog_gtid_set_add_mysql(ferry_binlog_gtid_set_t *s, const uint8_t sid[16],
                                    const char *tag, int64_t gno);

/* Records a MariaDB GTID (replaces the domain's entry). 0 or FERRY_ERR_NOMEM. */
int ferry_binlog_gtid_set_add_maria(ferry_binlog_gtid_set_t *s, const ferry_binlog_maria_gtid_t *g);

/*
 * The set's canonical text: MySQL sids sorted with merged intervals
 * ("uuid:1-5:7"), MariaDB domains sorted ("0-1-100,1-2-7"). Returns a
 * malloc'd string the caller frees, or NULL when out of memory.
 */
char *ferry_binlog_gtid_set_format(const ferry_binlog_gtid_set_t *s);

#endif
