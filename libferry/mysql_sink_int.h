/*
 * mysql_sink_int.h - what the mysql_sink_*.c files share; not for other
 * modules (they use mysql_sink.h).
 *
 * The sink turns a batch into a flat array of items, one per event, each
 * with the kind of SQL it becomes. The apply loop (mysql_sink.c) sends
 * items in packets: one round trip of several statements, each statement
 * covering a run of consecutive items of one kind (mysql_sink_plan.c), or one
 * LOAD DATA of snapshot rows (mysql_sink_load.c). Values are rendered by
 * mysql_sink_value.c.
 */
#ifndef FERRY_MYSQL_SINK_INT_H
#define FERRY_MYSQL_SINK_INT_H

#include "arena.h"
#include "mysql_sink.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A destination column, as the sink needs it. */
typedef struct {
    char *name;   /* destination name, for messages */
    char *quoted; /* `name` with backticks doubled */
    ferry_type_t type;
} sink_col_t;

/* A registered destination table. */
typedef struct {
    char *db, *name;
    char *display; /* "db.table", for messages */
    char *quoted;  /* `db`.`table` */
    size_t ncols;
    sink_col_t *cols;
    size_t *key; /* column indexes of the key; nkey 0 = match the full image */
    size_t nkey;
} sink_table_t;

/* What an item becomes. */
typedef enum {
    SINK_INSERT,        /* multi-row INSERT (strict c; r without LOAD DATA) */
    SINK_UPSERT,        /* INSERT ... ON DUPLICATE KEY UPDATE (safe c/u/r) */
    SINK_LOAD,          /* LOAD DATA (r) */
    SINK_DELETE_KEY,    /* DELETE ... WHERE key (IN list when grouped) */
    SINK_UPDATE_KEY,    /* UPDATE ... WHERE key (strict u) */
    SINK_REKEY_SAFE,    /* safe u whose key changed: delete old key, upsert after */
    SINK_DELETE_ROW,    /* key-less: DELETE ... WHERE full image LIMIT 1 */
    SINK_UPDATE_ROW,    /* key-less: UPDATE ... WHERE full image LIMIT 1 */
    SINK_INSERT_ABSENT, /* key-less safe c: INSERT ... SELECT ... WHERE NOT EXISTS */
} sink_kind_t;

typedef struct {
    const sink_table_t *t;
    const ferry_change_t *ev;
    size_t run, event;
    sink_kind_t kind;
    bool safe;     /* the run's mode: no affected-rows checks */
    bool excluded; /* failed; not applied */
    bool single;   /* isolating a failure: one statement for this item */
    /* folded (mysql_sink_fold.c): ev is the net change of run_events[chain[0]],
       ..., run_events[chain[n_chain - 1]] (one key's; event is the last) */
    const ferry_change_t *run_events;
    const size_t *chain;
    size_t n_chain;
    uint64_t changed; /* folded runs' updates: bit c % 64 for each column c changed */
} sink_item_t;

/* One statement of a packet: which items it covers, what it must affect. */
typedef struct {
    size_t first, last; /* item indexes, inclusive (excluded ones inside are skipped) */
    size_t n_items;     /* non-excluded items covered */
    int64_t expect;     /* affected rows it must report; -1 = no check */
} sink_stmt_t;

struct ferry_mysql_sink {
    MYSQL *my;
    char *link, *worker;
    char *meta_db;     /* ferry_meta */
    char *meta_quoted; /* `ferry_meta` */
    bool stop_on_data_error;
    bool load_data;
    size_t max_bytes;
    void (*before_commit)(void *arg);
    void *before_commit_arg;

    sink_table_t *tables;
    size_t ntables, tables_cap;

    ferry_arena_t *arena; /* per batch: items, statements */
    ferry_mysql_sink_failure_t *failed;
    size_t nfailed, failed_cap;

    /* CONNECTION_ID() of the session (not the handshake's id, which a proxy may own) */
    unsigned long session_id;
    /* the session id whose COMMIT went unanswered; 0: none */
    unsigned long unsure_session;

    /* the LOAD DATA stream being fed to the client library */
    bool infile_armed;
    const char *infile_data;
    size_t infile_len, infile_pos;
};

/* The name the LOAD DATA statements ask for; the handler refuses others. */
#define SINK_INFILE_NAME "ferry-stream"

/* ---- server errors and round trips (mysql_sink.c) ------------------------ */

/*
 * Reads the batch's fences with a shared lock (mysql_sink.h), starting the
 * transaction first when begin is set. 0, FERRY_ERR_FENCED (rolled back),
 * or another error (rolled back).
 */
int ferry_mysql_sink_fence(ferry_mysql_sink_t *s, const ferry_mysql_sink_batch_t *batch, bool begin,
                           char *errstr, size_t errstr_size);

/* A server error, captured before anything else runs on the connection. */
typedef struct {
    unsigned int no;
    char state[6];
    char msg[400];
} sink_sqlerr_t;

typedef enum { SINK_ERR_DATA, SINK_ERR_RETRY, SINK_ERR_FATAL } sink_errclass_t;

void ferry_mysql_sink_capture(MYSQL *my, sink_sqlerr_t *e);

/*
 * Lost connections, timeouts and deadlocks are worth a retry of the whole
 * batch; SQLSTATE classes 22 (data exception) and 23 (integrity constraint)
 * and a list of HY000 errors are about one event's data; anything else
 * (missing table, syntax, privileges) is fatal for the batch.
 */
sink_errclass_t ferry_mysql_sink_classify(const sink_sqlerr_t *e);

/*
 * Runs ';'-separated statements in one round trip. affected[i] gets the
 * affected rows of statement i (up to max). Returns -1 when all ran, else
 * the index of the statement that failed, with *e filled; later statements
 * did not run.
 */
long ferry_mysql_sink_run_multi(ferry_mysql_sink_t *s, const char *sql, size_t len,
                                int64_t *affected, size_t max, sink_sqlerr_t *e);

/* ---- values (mysql_sink_value.c) ----------------------------------------- */

/* Why MySQL cannot hold v in a column of type t, or NULL when it can. */
const char *ferry_mysql_sink_refusal(ferry_type_t t, const ferry_value_t *v);

/* Appends the SQL literal of a value that passed ferry_mysql_sink_refusal. */
void ferry_mysql_sink_put_literal(ferry_strbuf_t *b, ferry_type_t t, const ferry_value_t *v);

/*
 * Appends the LOAD DATA field(s) of a value (tab-separated stream, '\\'
 * escapes, \N for NULL). GEOMETRY writes two fields: WKB hex and SRID.
 */
void ferry_mysql_sink_put_field(ferry_strbuf_t *b, ferry_type_t t, const ferry_value_t *v);

/* Appends `name` with backticks doubled. */
void ferry_mysql_sink_put_ident(ferry_strbuf_t *b, const char *name);

/* Appends a quoted, backslash-escaped string literal of n bytes. */
void ferry_mysql_sink_put_string(ferry_strbuf_t *b, const char *p, size_t n);

/* ---- statements (mysql_sink_plan.c) -------------------------------------- */

/* True when an update event changes the key of t's row. */
bool ferry_mysql_sink_key_changed(const sink_table_t *t, const ferry_change_t *ev);

/*
 * True when an update must set column c: it changes it, or has no before
 * image, or c is a DATETIME or TIMESTAMP (the destination may declare it ON
 * UPDATE CURRENT_TIMESTAMP: left out of the SET, it would take the time of
 * the apply instead of the source's value).
 */
bool ferry_mysql_sink_col_changed(const sink_table_t *t, const ferry_change_t *ev, size_t c);

/* True when items a and b (of one keyed table) match the same key. */
bool ferry_mysql_sink_same_key(const sink_item_t *a, const sink_item_t *b);

/* Most updates one statement covers (its CASE lists grow with the square). */
#define SINK_UPDATE_GROUP_MAX 64

/* True when items a and b may share one statement. */
bool ferry_mysql_sink_groupable(const sink_item_t *a, const sink_item_t *b);

/* True when the kind can cover several items in one statement. */
bool ferry_mysql_sink_kind_groups(const sink_item_t *it);

/*
 * Appends the statement(s) for items[first..last] (all of one groupable kind,
 * or a single item) to b, ';'-separated, and fills st (one or two entries;
 * returns how many).
 */
size_t ferry_mysql_sink_build(ferry_strbuf_t *b, const sink_item_t *items, size_t first,
                              size_t last, sink_stmt_t st[2]);

/* ---- folding (mysql_sink_fold.c) ----------------------------------------- */

/*
 * Folds the items[0..n) of one compact run (in event order) into one item
 * per key and orders them by kind; returns how many are left in items.
 * Chains that fold to nothing go to dropped[*n_dropped++] (counted as
 * applied, never sent). Returns n and leaves everything as it was when the
 * run cannot be folded (see the file comment).
 */
size_t ferry_mysql_sink_fold(ferry_arena_t *arena, sink_item_t *items, size_t n,
                             sink_item_t *dropped, size_t *n_dropped);

/* ---- LOAD DATA (mysql_sink_load.c) --------------------------------------- */

/* Installs the in-memory local-infile handler on the sink's connection. */
void ferry_mysql_sink_load_install(ferry_mysql_sink_t *s);

/* Appends the stream line of one row (after image of a snapshot event). */
void ferry_mysql_sink_load_line(ferry_strbuf_t *data, const sink_table_t *t,
                                const ferry_row_t *row);

/*
 * Sends a LOAD DATA of the stream into t (REPLACE when safe). Returns 0 with
 * *affected and *warnings, or the server's errno (see mysql_errno) when the
 * statement failed.
 */
unsigned int ferry_mysql_sink_load_send(ferry_mysql_sink_t *s, const sink_table_t *t, bool safe,
                                        const ferry_strbuf_t *data, uint64_t *affected,
                                        unsigned int *warnings);

#endif
