/*
 * verify_int.h - what the verify*.c files share (not a public header).
 *
 *   verify.c         orchestration: tables, workers, adaptive chunks, checkpoints
 *   verify_table.c   per table: the columns compared, the canonical text SQL
 *   verify_rows.c    a range read row by row from both sides and compared in C
 *   verify_report.c  JSON report, repair SQL, summary
 */
#ifndef FERRY_VERIFY_INT_H
#define FERRY_VERIFY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <mysql.h>

#include "chunk.h"
#include "conf.h"
#include "mysql_schema.h"
#include "row.h"
#include "strbuf.h"
#include "verify.h"

/* One compared column: the same name on both sides. */
typedef struct {
    const ferry_coldef_t *src, *dst;
    size_t src_idx, dst_idx;   /* in the side's row model (vtable_t.src_t / dst_t) */
    bool is_float;             /* FLOAT/DOUBLE on either side: compared with tolerance in C */
    bool is_text;              /* text or bytes in its canonical form: its length is hashed */
    bool writable;             /* not generated: repair statements may set it */
    char *src_expr, *dst_expr; /* canonical text as SQL on each side */
} vcol_t;

/* One selected table. */
typedef struct {
    char *src_db, *src_name, *dst_db, *dst_name;
    char *label; /* "db.table" of the source */
    ferry_tabledef_t *src_def, *dst_def;
    ferry_table_t *src_t; /* row model of the compared columns, source types, key set */
    ferry_table_t *dst_t; /* same columns in the same order, destination types */
    vcol_t *cols;
    size_t n_cols;
    size_t *key; /* indexes into cols, in key order */
    size_t n_key;
    bool splittable;
    bool led;    /* chunks end where the source's rows say (ferry_verify_stream_lead) */
    char *where; /* the row filter's canonical SQL (row_filter.h), or NULL */
    char *hash_src, *hash_dst; /* "COUNT(*), SUM(...), SUM(...)" per side */
    int64_t estimate;          /* source rows (information_schema), -1 unknown */
    /* results */
    atomic_llong rows_src, rows_dst, chunks;
    atomic_llong n_missing, n_extra, n_changed;
    atomic_int done;
} vtable_t;

typedef enum { VDIFF_MISSING = 0, VDIFF_EXTRA, VDIFF_CHANGED } vdiff_kind_t;

/* A row range in which differences were found (kept for live re-checks). */
typedef struct vrange {
    size_t table;
    ferry_chunk_value_t *lo, *hi;
    const char *cond; /* or the rows this condition selects */
    ferry_arena_t *arena;
    struct vrange *next;
} vrange_t;

/* One difference, rendered when found. */
typedef struct {
    const vtable_t *t;
    vdiff_kind_t kind;
    int64_t seq;           /* the chunk it was found in; -1 once committed to a checkpoint */
    const vrange_t *range; /* where it was found (live verifications), or NULL */
    bool changing;         /* live: its values changed between rounds */
    char *sort_key;        /* the key's canonical bytes, for a stable order */
    size_t sort_len;
    char *json;   /* {"table":..., "key":..., "kind":..., "columns":[...], "values":{...}} */
    char *text;   /* one line for people */
    char *repair; /* one statement without the final ';' */
} vdiff_t;

/* Where differences go (thread-safe). */
typedef struct {
    pthread_mutex_t lock;
    vdiff_t *items;
    size_t n, cap;
} vdiffs_t;

/* One key range of a table: (lo, hi]. */
typedef struct chunk {
    size_t table;
    int64_t seq;
    ferry_chunk_value_t *lo, *hi; /* NULL: open end */
    ferry_arena_t *arena;
    double span;   /* integer keys: the key values it covers past the last gap skipped; 0 unknown */
    uint64_t lead; /* >0: hi is not known yet; the source's first lead rows above lo decide it */
    /* results */
    int64_t rows_src, rows_dst;
    struct chunk *next; /* in the table's finished list */
} chunk_t;

/* What the checkpoint holds for a table (the committed prefix). */
typedef struct {
    int64_t next_seq;           /* planner's next chunk number */
    int64_t commit_seq;         /* chunks below this are committed */
    chunk_t *finished;          /* finished but not yet committed, any order */
    ferry_chunk_value_t *bound; /* upper bound of the committed prefix (NULL: none yet) */
    ferry_arena_t *bound_arena;
    int64_t rows_src, rows_dst, chunks;
    bool done;
    double ms_per_row; /* measured; 0 until the first chunk */
    int64_t planned;   /* rows the planner expects in the chunks it made of the table */
    double density;    /* integer keys: rows per key value, measured; 0 until the first chunk */
    /* led tables: the upper bound of the last chunk whose source half is read */
    int64_t lead_seq;             /* that chunk (-1: none yet) */
    ferry_chunk_value_t *lead_hi; /* NULL: the table ended there */
    ferry_arena_t *lead_arena;
} tstate_t;

struct ferry_verify {
    const ferry_conf_t *conf;
    const ferry_verify_opts_t *opts;
    vtable_t *tables;
    tstate_t *state;
    size_t n_tables;
    vdiffs_t diffs;
    vdiffs_t changing; /* live: keys that never settled */
    vrange_t *ranges;  /* live: where differences were found */

    pthread_mutex_t lock; /* queue, state, first error */
    pthread_cond_t changed;
    chunk_t **queue;
    size_t q_head, q_len, q_cap;
    bool planning_done;
    int err;
    char errstr[512];
    int64_t ckpt_rendered;     /* checkpoints rendered (under lock) */
    pthread_mutex_t ckpt_lock; /* the checkpoint file; held while it is written */
    int64_t ckpt_written;      /* the last rendered checkpoint on disk (under ckpt_lock) */

    atomic_llong rows_checked, chunks_checked, chunks_differing, tables_done;
    int64_t rows_estimated;
    atomic_llong rows_resumed; /* rows_checked restored from a checkpoint */
    int64_t started_ms;
    atomic_llong elapsed_ms;
    atomic_int running, finished;
    atomic_int paused;            /* wait_source_quiet is waiting */
    atomic_llong threads_running; /* what it last read */
};

/* verify_wire.c: a text-protocol result read from the socket (see there). */
typedef enum {
    VWIRE_HEADER = 0,
    VWIRE_COLUMNS,
    VWIRE_ROWS,
    VWIRE_DONE,
    VWIRE_BROKEN
} vwire_state_t;

typedef struct {
    int fd;
    vwire_state_t state;
    size_t n_cols, seen;
    unsigned char *buf; /* what was read: [start, end) not yet taken */
    size_t cap, start, end;
    unsigned char *big; /* a payload of several packets, put together */
    size_t big_len, big_cap;
    const char **cells; /* the current row */
    unsigned long *lens;
    bool server_error; /* error holds the server's message */
    char error[256];
} vwire_t;

/* True when the connection sends nothing verify_wire.c does not read (no TLS, no compression). */
bool ferry_verify_wire_usable(MYSQL *my);
/* Prepares to read, from socket fd (mysql_get_socket), the result of the query just sent, of n_cols
 * columns. */
void ferry_verify_wire_init(vwire_t *w, int fd, size_t n_cols);
void ferry_verify_wire_free(vwire_t *w);
/*
 * The next row: 1 with its cells (NULL for SQL NULL) and lengths, valid
 * until the next call; 0 when more bytes must be read first
 * (ferry_verify_wire_fill); -1 at the end: state VWIRE_DONE (error set when
 * the server sent an error) or VWIRE_BROKEN (the connection is unusable).
 */
int ferry_verify_wire_row(vwire_t *w, const char ***cells, const unsigned long **lens);
/* Reads more of the result; 0, or -1 with w broken. */
int ferry_verify_wire_fill(vwire_t *w);

/* verify_dist.c: chunks shared with verifier workers through Kafka (see there). */
typedef struct vdist vdist_t;

/* A record read from the tasks or results topic, split into its fields. */
typedef struct {
    bool present; /* false: nothing came */
    char *text;
    char *f[160];
    int n;
    char topic[300];
    int32_t partition;
    int64_t offset;
} vdist_msg_t;

/* Opens the topics (created if missing); a worker joins the group, a coordinator reads results. */
int ferry_verify_dist_open(const ferry_conf_t *conf, bool worker, vdist_t **out, char *errstr,
                           size_t errstr_size);
void ferry_verify_dist_close(vdist_t *d);
int ferry_verify_dist_send_task(vdist_t *d, const char *run, const char *task_id, const vtable_t *t,
                                int64_t seq, const ferry_chunk_value_t *lo,
                                const ferry_chunk_value_t *hi, char *errstr, size_t errstr_size);
int ferry_verify_dist_send_end(vdist_t *d, const char *run, char *errstr, size_t errstr_size);
/* A worker's answer to task: error, or the chunk's counts and whether both sums are equal. */
int ferry_verify_dist_send_result(vdist_t *d, const vdist_msg_t *task, const char *error,
                                  int64_t rows_src, int64_t rows_dst, bool equal, int64_t ms,
                                  const char *worker, char *errstr, size_t errstr_size);
/* Waits up to timeout_ms for a record (out->present says whether one came). */
int ferry_verify_dist_poll(vdist_t *d, int timeout_ms, vdist_msg_t *out, char *errstr,
                           size_t errstr_size);
void ferry_verify_dist_msg_free(vdist_msg_t *m);
/* Commits a worker's read position past m. */
int ferry_verify_dist_commit(vdist_t *d, const vdist_msg_t *m, char *errstr, size_t errstr_size);
/* Appends " x<hex>" (" -" for NULL); decodes one in place: its length, -1 for '-', -2 malformed. */
void ferry_verify_dist_put_hex(ferry_strbuf_t *sb, const char *p, size_t n);
long ferry_verify_dist_unhex(char *s);

/* Builds the compared columns, canonical expressions and hash lists of t. */
int ferry_verify_table_prepare(vtable_t *t, bool src_maria, bool dst_maria, char *errstr,
                               size_t errstr_size);
void ferry_verify_table_free(vtable_t *t);

/*
 * Appends "WHERE <range> [AND (<where>)]" for the range (lo, hi] of t's key
 * (either may be NULL: open) to sb.
 */
int ferry_verify_sql_where(ferry_strbuf_t *sb, const vtable_t *t, const ferry_chunk_value_t *lo,
                           const ferry_chunk_value_t *hi, char *errstr, size_t errstr_size);

/* Appends s as a text literal that no sql_mode can change: _utf8mb4 X'..'. */
void ferry_verify_sql_text(ferry_strbuf_t *sb, const char *s);

/* Appends `db`.`table` of a side. */
void ferry_verify_sql_table(ferry_strbuf_t *sb, const vtable_t *t, bool dst);

/*
 * Reads the range (lo, hi] from both sides in full (or, with cond, the rows
 * for which that SQL condition holds) and records every difference in out.
 * tol: float tolerance. Returns the number of differences found (>= 0) or a
 * negative ferry_err_t.
 */
int ferry_verify_rows_compare(const vtable_t *t, MYSQL *src, MYSQL *dst,
                              const ferry_chunk_value_t *lo, const ferry_chunk_value_t *hi,
                              const char *cond, double tol, vdiffs_t *out, char *errstr,
                              size_t errstr_size);

/*
 * Streams the range (lo, hi] of a table with a key from both sides, hashes
 * each row in C and finds the keys whose rows differ (or exist on one side
 * only). Returns 0 with *conds: *n SQL conditions (malloc'd array of
 * malloc'd strings) that together select exactly those keys, in batches;
 * FERRY_ERR_UNSUPPORTED when a key value cannot be written as a literal
 * (then compare the range in full), or another negative ferry_err_t.
 */
int ferry_verify_stream_keys(const vtable_t *t, MYSQL *src, MYSQL *dst,
                             const ferry_chunk_value_t *lo, const ferry_chunk_value_t *hi,
                             char ***conds, size_t *n, char *errstr, size_t errstr_size);

/*
 * The checksum of the range (lo, hi] computed in C from both sides' streamed
 * canonical rows (verify_stream.c): row counts and whether the sums agree.
 */
int ferry_verify_stream_checksum(const vtable_t *t, MYSQL *src, MYSQL *dst,
                                 const ferry_chunk_value_t *lo, const ferry_chunk_value_t *hi,
                                 int64_t *rows_src, int64_t *rows_dst, bool *equal, char *errstr,
                                 size_t errstr_size);

/* One side's part of a chunk's stream checksum. */
typedef struct {
    uint64_t rows, sum;
} vside_t;

/*
 * The source's half of a chunk whose upper bound the source's rows decide
 * (keys that are not one integer column): streams the first limit rows
 * above lo in key order (one query, no boundary walk) into out, and sets
 * *hi (allocated in arena) to the key of the last of them, or NULL when
 * fewer came: the table ends in this chunk. At most 64 key columns.
 */
int ferry_verify_stream_lead(const vtable_t *t, MYSQL *src, const ferry_chunk_value_t *lo,
                             uint64_t limit, ferry_arena_t *arena, ferry_chunk_value_t **hi,
                             vside_t *out, char *errstr, size_t errstr_size);

/* One side's (dst: the destination's) stream checksum of the range (lo, hi]. */
int ferry_verify_stream_side(const vtable_t *t, MYSQL *my, bool dst, const ferry_chunk_value_t *lo,
                             const ferry_chunk_value_t *hi, vside_t *out, char *errstr,
                             size_t errstr_size);

typedef struct ferry_verify_live ferry_verify_live_t;

/* The consumer-progress gate (verify_live.c). */
int ferry_verify_live_new(const ferry_conf_t *conf, ferry_verify_live_t **out, char *errstr,
                          size_t errstr_size);
void ferry_verify_live_destroy(ferry_verify_live_t *l);

/*
 * Waits until the consumer has applied every change of tables that the
 * source had made when it was called. Returns 0, FERRY_ERR_TIMEOUT after
 * timeout_ms (or when stop is set), or another error with errstr.
 */
int ferry_verify_live_wait(ferry_verify_live_t *l, MYSQL *src, MYSQL *dst,
                           const vtable_t *const *tables, size_t n, int timeout_ms,
                           const atomic_int *stop, char *errstr, size_t errstr_size);

/* Frees the strings of one difference. */
void ferry_verify_diff_free(vdiff_t *d);

/* Adds d to out (takes its strings). Returns 0 or FERRY_ERR_NOMEM. */
int ferry_verify_diffs_add(vdiffs_t *out, vdiff_t *d);
void ferry_verify_diffs_free(vdiffs_t *d);
/* Sorts by table label, then key. */
void ferry_verify_diffs_sort(vdiffs_t *d);

/* Sends sql on both connections, then reads both results. */
int ferry_verify_query_both(MYSQL *src, MYSQL *dst, const char *src_sql, const char *dst_sql,
                            MYSQL_RES **src_res, MYSQL_RES **dst_res, const char *what,
                            const char *table, char *errstr, size_t errstr_size);

#endif
