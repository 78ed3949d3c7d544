/*
 * chunk.h - splitting a table into key ranges (chunk tasks) for the full load.
 *
 * The planner walks a table's key index in key order, one step of
 * chunk_rows rows at a time, with
 *
 *   SELECT k1, k2 FROM t WHERE (k1, k2) > (<last bound>)
 *   ORDER BY k1, k2 LIMIT 1 OFFSET <chunk_rows - 1>
 *
 * so each step reads chunk_rows index entries and keeps nothing but the
 * last bound: a table of any size is planned in constant memory, and the
 * planner can stop after any chunk and go on later (ferry_chunk_planner_resume).
 * The row returned is the chunk's inclusive upper bound; the next chunk
 * starts after it (exclusive lower bound). When no row comes back the rest
 * of the table is the last chunk (upper bound NULL), whose size a bounded
 * COUNT over at most chunk_rows rows gives exactly.
 *
 * The key is the table's primary key, else a UNIQUE key of NOT NULL whole
 * columns (the columns with pk_pos in the row model; mysql_schema.h picks
 * them). Composite keys compare as rows. MariaDB does not turn a row
 * constructor comparison into an index range, so (a, b) > (x, y) is written
 * out as  a >= x AND (a > x OR (a = x AND b > y)) , whose first term is a
 * range on the key's first column.
 *
 * Bounds are the values the server returned, rendered back as literals
 * that compare as the column does:
 *  - integers, DECIMAL: the number as is;
 *  - YEAR, DATE, DATETIME, TIMESTAMP, TIME, MariaDB UUID: a quoted string,
 *    which the server converts to the column's type (TIMESTAMP bounds are
 *    UTC text and the session runs in '+00:00');
 *  - text columns: _utf8mb4 X'<hex>' - no escaping, so neither sql_mode
 *    (NO_BACKSLASH_ESCAPES, ANSI_QUOTES) nor any byte can change its
 *    meaning. A literal is coercible, so the comparison uses the column's
 *    own collation, the same one ORDER BY and the key's uniqueness use.
 *    Implications: with a case- or accent-insensitive collation 'a' and
 *    'A' are one key value (the table cannot hold both) and sort together;
 *    with PAD SPACE collations trailing spaces do not count; a chunk is a
 *    range in collation order, not in byte order, and a consumer must not
 *    assume byte order between or inside chunks;
 *  - binary columns: X'<hex>', compared byte by byte.
 * Keys the server cannot compare exactly against a literal are not split:
 * FLOAT/DOUBLE (text is not always exact), ENUM and SET (ORDER BY uses the
 * member index, a literal compares by text), BIT, and anything else
 * without a rule above. Such a table, and a table without any key, is read
 * in one chunk (no bounds, no ORDER BY): one SELECT of the whole table in
 * one Kafka transaction. There is no safe physical order to split by on
 * MySQL (InnoDB's hidden row id is not readable, and LIMIT/OFFSET without
 * a unique order may skip or repeat rows while the table changes).
 *
 * Rows inserted into an already planned range after planning, or changed
 * after their chunk was read, are the change stream's job (safe mode from
 * P0, see DESIGN.md); a chunk is one SELECT, so it is one consistent read.
 *
 * A chunk task is encoded in Avro by the schema schemas/chunk_task.avsc
 * (ferry_chunk_task_schema() returns the same text) and framed with the
 * single-object header (C3 01 + its fingerprint), so any Avro tool can read
 * the tasks topic. Tasks are keyed by their task id.
 */
#ifndef FERRY_CHUNK_H
#define FERRY_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "avro_codec.h"
#include "row.h"
#include "strbuf.h"

typedef struct st_mysql MYSQL;

/* One key column's bound value: the cell's bytes as the text protocol sends them. */
typedef struct {
    const char *data;
    size_t len;
} ferry_chunk_value_t;

/*
 * One chunk task. Everything it points at lives in its arena and is freed
 * by ferry_chunk_task_destroy.
 */
typedef struct {
    const char *db, *table;
    int64_t chunk_id;     /* 0-based, dense per table and generation */
    int64_t chunks_total; /* -1 until known (set on the last chunk) */
    int32_t generation;   /* plan generation; a table copied again gets a new one */
    size_t n_keys;        /* 0: the table has no key and is one chunk */
    const char **key_columns;
    const ferry_chunk_value_t *lower; /* n_keys values, or NULL = from the start */
    bool lower_inclusive;             /* the planner writes exclusive lower bounds */
    const ferry_chunk_value_t *upper; /* n_keys values, or NULL = to the end */
    bool upper_inclusive;             /* the planner writes inclusive upper bounds */
    int64_t estimated_rows;           /* -1 unknown */
    int32_t attempt;
    int64_t planned_ts_ms;
    ferry_arena_t *arena;
} ferry_chunk_task_t;

/* An empty task with its own arena; NULL when out of memory. */
ferry_chunk_task_t *ferry_chunk_task_new(void);

/* Frees the task and all it points at. NULL is a no-op. */
void ferry_chunk_task_destroy(ferry_chunk_task_t *task);

/*
 * The task id, "<db>.<table>#<chunk_id>@<generation>", with '\', '.', '#'
 * and '@' inside db and table escaped by a '\' so that ids are unique
 * ("shop.orders#17@0"). Keys the tasks topic and the done topic; consumers
 * treat it as an opaque string.
 */
void ferry_chunk_task_id(const ferry_chunk_task_t *task, ferry_strbuf_t *out);

/* The ChunkTask schema, byte for byte schemas/chunk_task.avsc. Static storage. */
const char *ferry_chunk_task_schema(void);

/*
 * Appends the single-object framed Avro encoding of task to out. Returns 0,
 * FERRY_ERR_NOMEM, or FERRY_ERR_INVALID for a task that the schema cannot
 * hold (bounds with a key count other than n_keys is caught here).
 */
int ferry_chunk_task_encode(const ferry_chunk_task_t *task, ferry_avro_buf_t *out, char *errstr,
                            size_t errstr_size);

/*
 * Decodes what ferry_chunk_task_encode wrote (the bytes are untrusted: every
 * length is checked). Returns 0 and *out (free with ferry_chunk_task_destroy),
 * or FERRY_ERR_INVALID / FERRY_ERR_TRUNCATED / FERRY_ERR_UNSUPPORTED (another
 * schema's fingerprint) / FERRY_ERR_NOMEM with the reason in errstr.
 */
int ferry_chunk_task_decode(const void *buf, size_t len, ferry_chunk_task_t **out, char *errstr,
                            size_t errstr_size);

/* ---- SQL ------------------------------------------------------------- */

/*
 * Fills idx with the column indexes of t's key in key order (pk_pos 1, 2,
 * ...); returns how many (0 when t has no key). idx must hold
 * ferry_table_ncolumns(t) entries.
 */
size_t ferry_chunk_key_columns(const ferry_table_t *t, size_t *idx);

/* True when t has a key and every key column can bound a range (see above). */
bool ferry_chunk_table_splittable(const ferry_table_t *t);

/*
 * Appends the literal for a bound value v of column col. Returns 0, or
 * FERRY_ERR_INVALID (with a reason) when v is not a value of that type
 * (e.g. a number with letters), or FERRY_ERR_UNSUPPORTED for a type that
 * cannot bound a range.
 */
int ferry_chunk_sql_literal(ferry_strbuf_t *sb, const ferry_column_t *col,
                            const ferry_chunk_value_t *v, char *errstr, size_t errstr_size);

/*
 * Appends the condition "key > v" (gt, or "key < v" otherwise; with
 * inclusive, >= / <=) for t's key, written out column by column as
 * described above. v holds one value per key column.
 */
int ferry_chunk_sql_compare(ferry_strbuf_t *sb, const ferry_table_t *t,
                            const ferry_chunk_value_t *v, bool gt, bool inclusive, char *errstr,
                            size_t errstr_size);

/*
 * The boundary query: the key of the row offset rows after `after`
 * (exclusive; NULL = from the start of the table) in key order.
 */
int ferry_chunk_sql_boundary(ferry_strbuf_t *sb, const ferry_table_t *t,
                             const ferry_chunk_value_t *after, uint64_t offset, char *errstr,
                             size_t errstr_size);

/*
 * Counts the rows after `after` (NULL = all), but at most limit:
 * SELECT COUNT(*) FROM (SELECT 1 FROM t WHERE ... LIMIT limit) AS c.
 */
int ferry_chunk_sql_count(ferry_strbuf_t *sb, const ferry_table_t *t,
                          const ferry_chunk_value_t *after, uint64_t limit, char *errstr,
                          size_t errstr_size);

/*
 * The SELECT that reads task's rows of t: ferry_mysql_rows_select_list,
 * the range condition from the task's bounds, ORDER BY the key when there
 * are bounds. Checks that the task's key columns are t's (FERRY_ERR_INVALID
 * naming table and chunk otherwise: the table changed since planning).
 */
int ferry_chunk_sql_select(ferry_strbuf_t *sb, const ferry_table_t *t,
                           const ferry_chunk_task_t *task, char *errstr, size_t errstr_size);

/*
 * The same with a row filter: where (NULL = none) is a condition
 * (ferry_row_filter_sql) added as "AND (<where>)". Planning ignores row
 * filters: chunks are key ranges, and a filter only thins them.
 */
int ferry_chunk_sql_select_where(ferry_strbuf_t *sb, const ferry_table_t *t,
                                 const ferry_chunk_task_t *task, const char *where, char *errstr,
                                 size_t errstr_size);

/* ---- planner --------------------------------------------------------- */

typedef struct ferry_chunk_planner ferry_chunk_planner_t;

/*
 * A planner for table t (not copied: t must outlive the planner) reading
 * through conn, making chunks of chunk_rows rows (>= 1) for plan generation
 * generation. No query runs here. Returns 0 and *out, or FERRY_ERR_INVALID /
 * FERRY_ERR_NOMEM.
 */
int ferry_chunk_planner_new(MYSQL *conn, const ferry_table_t *t, uint64_t chunk_rows,
                            int32_t generation, ferry_chunk_planner_t **out, char *errstr,
                            size_t errstr_size);

/* Frees the planner. NULL is a no-op. */
void ferry_chunk_planner_destroy(ferry_chunk_planner_t *p);

/* Rows per chunk (>= 1; 0 is taken as 1) of the chunks planned from now on. */
void ferry_chunk_planner_set_chunk_rows(ferry_chunk_planner_t *p, uint64_t chunk_rows);

/*
 * Continues a plan after last, a task this planner's table had already been
 * given (read back from the tasks topic): the next chunk gets
 * last->chunk_id + 1 and starts after last's upper bound; if last was the
 * final chunk the planner is done.
 */
int ferry_chunk_planner_resume(ferry_chunk_planner_t *p, const ferry_chunk_task_t *last,
                               char *errstr, size_t errstr_size);

/*
 * Plans the next chunk: one boundary query (plus a bounded count for the
 * last chunk). Returns 0 with *task (free with ferry_chunk_task_destroy),
 * or 0 with *task NULL when the table is fully planned; FERRY_ERR_IO naming
 * the table with the server's reason, FERRY_ERR_NOMEM.
 */
int ferry_chunk_planner_next(ferry_chunk_planner_t *p, ferry_chunk_task_t **task, char *errstr,
                             size_t errstr_size);

/*
 * Plans the rest of the table (after the last chunk planned, to its end) as
 * its last chunk without asking the server: for a table that is no longer
 * under its name (renamed or dropped during its full load), whose last
 * chunk the worker reads wherever the table went. 0 with *task NULL when
 * the table was fully planned already.
 */
int ferry_chunk_planner_rest(ferry_chunk_planner_t *p, ferry_chunk_task_t **task, char *errstr,
                             size_t errstr_size);

/* True once the last chunk has been returned. */
bool ferry_chunk_planner_done(const ferry_chunk_planner_t *p);

/*
 * The server's estimate of the table's row count (information_schema
 * TABLE_ROWS), read once; -1 when unknown. For progress reports.
 */
int64_t ferry_chunk_planner_estimate(ferry_chunk_planner_t *p);

#endif
