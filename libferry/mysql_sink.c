/*
 * mysql_sink.c - the MySQL-family destination writer: set-up, tables, the
 * meta tables (offsets, progress) and the apply loop (see mysql_sink.h).
 *
 * The apply loop keeps one transaction per batch. It sends the batch's
 * items in packets; each packet starts with "SAVEPOINT ferry_sp", so when a
 * statement fails because of its data (or affects fewer rows than strict
 * mode requires) the loop rolls back to the savepoint and sends the packet
 * again, with the failing statement's items one statement each; once a
 * failing statement covers a single item, that item is set aside as failed
 * and the rest goes on. A batch with k bad events thus costs about 2k extra
 * round trips, not a bisection's k log n re-applies. Errors that are not
 * about the data end the transaction (ROLLBACK) and the batch.
 */
#include "mysql_sink.h"

#include "err.h"
#include "log.h"
#include "mysql_sink_int.h"

#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_BYTES ((size_t)4 << 20)
#define SESSION_SQL_MODE                                                                           \
    "STRICT_ALL_TABLES,ALLOW_INVALID_DATES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"

void ferry_mysql_sink_capture(MYSQL *my, sink_sqlerr_t *e)
{
    e->no = mysql_errno(my);
    snprintf(e->state, sizeof(e->state), "%s", mysql_sqlstate(my));
    const char *m = mysql_error(my);
    size_t o = 0;
    for (; *m && o + 1 < sizeof(e->msg); m++)
        e->msg[o++] = (*m == '\n' || *m == '\r') ? ' ' : *m;
    e->msg[o] = '\0';
}

/*
 * Lost connections, timeouts and deadlocks are worth a retry of the whole
 * batch; classes 22 (data exception) and 23 (integrity constraint) and the
 * HY000 errors listed here are about one event's data; anything else
 * (missing table, syntax, privileges) is fatal for the batch.
 */
sink_errclass_t ferry_mysql_sink_classify(const sink_sqlerr_t *e)
{
    static const unsigned int retry[] = {
        CR_SERVER_GONE_ERROR, CR_SERVER_LOST,          CR_CONNECTION_ERROR,
        CR_CONN_HOST_ERROR,   CR_SERVER_LOST_EXTENDED, ER_LOCK_WAIT_TIMEOUT,
        ER_LOCK_DEADLOCK,     ER_CON_COUNT_ERROR,      ER_SERVER_SHUTDOWN,
        ER_QUERY_INTERRUPTED, ER_CONNECTION_KILLED,    ER_OPTION_PREVENTS_STATEMENT,
    };
    static const unsigned int data[] = {
        ER_DUP_ENTRY,
        ER_DATA_TOO_LONG,
        ER_WARN_DATA_OUT_OF_RANGE,
        WARN_DATA_TRUNCATED,
        ER_TRUNCATED_WRONG_VALUE_FOR_FIELD,
        ER_TRUNCATED_WRONG_VALUE,
        ER_BAD_NULL_ERROR,
        ER_NO_DEFAULT_FOR_FIELD,
        ER_NO_REFERENCED_ROW_2,
        ER_ROW_IS_REFERENCED_2,
        ER_NO_REFERENCED_ROW,
        ER_ROW_IS_REFERENCED,
        ER_DATA_OUT_OF_RANGE,
        ER_CANT_CREATE_GEOMETRY_OBJECT,
        ER_ILLEGAL_VALUE_FOR_TYPE,
        ER_WRONG_VALUE,
        ER_CONSTRAINT_FAILED,
        ER_WARN_NULL_TO_NOTNULL,
        ER_DUP_ENTRY_WITH_KEY_NAME,
        ER_FOREIGN_DUPLICATE_KEY_WITH_CHILD_INFO,
        ER_INVALID_CHARACTER_STRING,
        ER_DIVISION_BY_ZERO,
        ER_WRONG_VALUE_FOR_TYPE,
    };
    for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
        if (e->no == retry[i])
            return SINK_ERR_RETRY;
    if (e->state[0] == '2' && (e->state[1] == '2' || e->state[1] == '3'))
        return SINK_ERR_DATA;
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++)
        if (e->no == data[i])
            return SINK_ERR_DATA;
    return SINK_ERR_FATAL;
}

/* Runs one statement and discards its result; 0 or -1 with *e filled. */
static int run(ferry_mysql_sink_t *s, const char *sql, sink_sqlerr_t *e)
{
    if (mysql_query(s->my, sql) != 0) {
        ferry_mysql_sink_capture(s->my, e);
        return -1;
    }
    mysql_free_result(mysql_store_result(s->my));
    return 0;
}

long ferry_mysql_sink_run_multi(ferry_mysql_sink_t *s, const char *sql, size_t len,
                                int64_t *affected, size_t max, sink_sqlerr_t *e)
{
    size_t k = 0;
    if (mysql_real_query(s->my, sql, (unsigned long)len) != 0) {
        ferry_mysql_sink_capture(s->my, e);
        return 0;
    }
    for (;;) {
        MYSQL_RES *res = mysql_store_result(s->my);
        if (k < max)
            affected[k] = res ? 0 : (int64_t)mysql_affected_rows(s->my);
        mysql_free_result(res);
        int nr = mysql_next_result(s->my);
        if (nr < 0)
            return -1;
        k++;
        if (nr > 0) {
            ferry_mysql_sink_capture(s->my, e);
            return (long)k;
        }
    }
}

/* ---- set-up ------------------------------------------------------------- */

static void table_free(sink_table_t *t)
{
    for (size_t c = 0; c < t->ncols; c++) {
        free(t->cols[c].name);
        free(t->cols[c].quoted);
    }
    free(t->cols);
    free(t->key);
    free(t->db);
    free(t->name);
    free(t->display);
    free(t->quoted);
}

void ferry_mysql_sink_destroy(ferry_mysql_sink_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ntables; i++)
        table_free(&s->tables[i]);
    free(s->tables);
    free(s->failed);
    free(s->link);
    free(s->worker);
    free(s->meta_quoted);
    free(s->meta_db);
    ferry_arena_destroy(s->arena);
    free(s);
}

static char *quoted(const char *name)
{
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    ferry_mysql_sink_put_ident(&b, name);
    if (b.oom) {
        ferry_strbuf_free(&b);
        return NULL;
    }
    return b.buf;
}

/*
 * The dedup position columns of ferry_offsets (added after the first
 * release: upgrade_offsets adds them to a table created without them).
 */
#define OFFSETS_POS_COLUMNS                                                                        \
    "`src_file` VARCHAR(255) NULL, `src_pos` BIGINT UNSIGNED NULL, `src_row` INT NULL, "           \
    "`src_rank` TINYINT NULL"

/*
 * CREATE TABLE IF NOT EXISTS leaves a ferry_offsets of an older ferry as it
 * was: add the position columns it lacks (nullable, so rows stay valid and
 * the ALTER is instant on InnoDB).
 */
static int upgrade_offsets(ferry_mysql_sink_t *s, char *errstr, size_t errstr_size)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&q, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ");
    const char *db = s->meta_db;
    ferry_mysql_sink_put_string(&q, db, strlen(db));
    ferry_strbuf_puts(&q, " AND TABLE_NAME = 'ferry_offsets' AND COLUMN_NAME = 'src_file'");
    sink_sqlerr_t e;
    MYSQL_RES *res = NULL;
    if (q.oom) {
        ferry_strbuf_free(&q);
        return FERRY_ERR_NOMEM;
    }
    if (mysql_real_query(s->my, q.buf, (unsigned long)q.len) != 0 ||
        !(res = mysql_store_result(s->my))) {
        ferry_strbuf_free(&q);
        ferry_mysql_sink_capture(s->my, &e);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not read the columns of %s.ferry_offsets: %s", s->meta_quoted,
                             e.msg);
    }
    ferry_strbuf_free(&q);
    MYSQL_ROW row = mysql_fetch_row(res);
    bool has = row && row[0] && strcmp(row[0], "0") != 0;
    mysql_free_result(res);
    if (has)
        return 0;
    ferry_strbuf_printf(&q, "ALTER TABLE %s.`ferry_offsets` ADD COLUMN (" OFFSETS_POS_COLUMNS ")",
                        s->meta_quoted);
    int rc = q.oom ? FERRY_ERR_NOMEM : run(s, q.buf, &e) == 0 ? 0 : FERRY_ERR_FATAL;
    ferry_strbuf_free(&q);
    if (rc == FERRY_ERR_FATAL)
        return ferry_err_set(errstr, errstr_size, rc,
                             "could not add the position columns to %s.ferry_offsets: %s",
                             s->meta_quoted, e.msg);
    if (rc == 0)
        ferry_log_info("offsets table upgraded with position columns", "table=%s.ferry_offsets",
                       s->meta_quoted);
    return rc;
}

static int create_meta(ferry_mysql_sink_t *s, char *errstr, size_t errstr_size)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_printf(&q, "CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4",
                        s->meta_quoted);
    ferry_strbuf_printf(&q,
                        ";\nCREATE TABLE IF NOT EXISTS %s.`ferry_offsets` ("
                        "`link` VARCHAR(255) NOT NULL, `topic` VARCHAR(255) NOT NULL, "
                        "`partition` INT NOT NULL, `next_offset` BIGINT NOT NULL, "
                        "`updated_at` DATETIME(6) NOT NULL, " OFFSETS_POS_COLUMNS ", "
                        "PRIMARY KEY (`link`, `topic`, `partition`)) "
                        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
                        s->meta_quoted);
    ferry_strbuf_printf(&q,
                        ";\nCREATE TABLE IF NOT EXISTS %s.`ferry_progress` ("
                        "`link` VARCHAR(255) NOT NULL, `worker` VARCHAR(255) NOT NULL, "
                        "`db` VARCHAR(64) NOT NULL, `tbl` VARCHAR(64) NOT NULL, "
                        "`phase` VARCHAR(16) NOT NULL, `rows_applied` BIGINT UNSIGNED NOT NULL, "
                        "`updated_at` DATETIME(6) NOT NULL, "
                        "PRIMARY KEY (`link`, `worker`, `db`, `tbl`, `phase`)) "
                        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
                        s->meta_quoted);
    if (q.oom) {
        ferry_strbuf_free(&q);
        return FERRY_ERR_NOMEM;
    }
    sink_sqlerr_t e;
    int64_t aff[3];
    long at = ferry_mysql_sink_run_multi(s, q.buf, q.len, aff, 3, &e);
    ferry_strbuf_free(&q);
    if (at >= 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not create the offsets table in database %s: %s",
                             s->meta_quoted, e.msg);
    return upgrade_offsets(s, errstr, errstr_size);
}

static int setup_session(ferry_mysql_sink_t *s, char *errstr, size_t errstr_size)
{
    sink_sqlerr_t e;
    if (!(s->my->client_flag & CLIENT_FOUND_ROWS))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not set up destination session: the connection was opened "
                             "without CLIENT_FOUND_ROWS");
    if (mysql_set_server_option(s->my, MYSQL_OPTION_MULTI_STATEMENTS_ON) != 0 ||
        run(s, "SET SESSION sql_mode = '" SESSION_SQL_MODE "', time_zone = '+00:00'", &e) != 0) {
        ferry_mysql_sink_capture(s->my, &e);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not set up destination session: %s", e.msg);
    }
    if (mysql_query(s->my, "SELECT @@max_allowed_packet, CONNECTION_ID()") != 0) {
        ferry_mysql_sink_capture(s->my, &e);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not read max_allowed_packet: %s", e.msg);
    }
    MYSQL_RES *res = mysql_store_result(s->my);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    size_t map = row && row[0] ? (size_t)strtoull(row[0], NULL, 10) : 0;
    s->session_id = row && row[1] ? strtoul(row[1], NULL, 10) : mysql_thread_id(s->my);
    mysql_free_result(res);
    /* leave room for the statement around the rows and for one oversized row */
    if (map > ((size_t)128 << 10) && s->max_bytes > map / 2)
        s->max_bytes = map / 2;
    return 0;
}

int ferry_mysql_sink_new(MYSQL *my, const ferry_mysql_sink_conf_t *conf, ferry_mysql_sink_t **out,
                         char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (!my || !conf || !conf->link || !*conf->link)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not create destination sink: no connection or no link id");
    ferry_mysql_sink_t *s = calloc(1, sizeof(*s));
    if (!s)
        return FERRY_ERR_NOMEM;
    s->my = my;
    s->link = strdup(conf->link);
    s->worker = strdup(conf->worker ? conf->worker : "default");
    s->meta_db = strdup(conf->meta_db ? conf->meta_db : "ferry_meta");
    s->meta_quoted = s->meta_db ? quoted(s->meta_db) : NULL;
    s->arena = ferry_arena_new(0);
    s->stop_on_data_error = conf->stop_on_data_error;
    s->max_bytes = conf->max_statement_bytes ? conf->max_statement_bytes : DEFAULT_MAX_BYTES;
    s->before_commit = conf->before_commit;
    s->before_commit_arg = conf->before_commit_arg;
    int rc = (s->link && s->worker && s->meta_quoted && s->arena) ? 0 : FERRY_ERR_NOMEM;
    if (rc == 0)
        rc = setup_session(s, errstr, errstr_size);
    if (rc == 0)
        rc = create_meta(s, errstr, errstr_size);
    if (rc != 0) {
        ferry_mysql_sink_destroy(s);
        return rc;
    }
    /* read the handshake's flag before installing the handler */
    s->load_data = !conf->disable_load_data && (my->client_flag & CLIENT_LOCAL_FILES);
    ferry_mysql_sink_load_install(s);
    if (!conf->disable_load_data && !s->load_data)
        ferry_log_info("snapshot rows go in as multi-row INSERT: the destination connection does "
                       "not allow LOAD DATA LOCAL (connect with FERRY_DB_LOCAL_INFILE)",
                       "link=%s", s->link);
    *out = s;
    return 0;
}

int ferry_mysql_sink_reconnect(ferry_mysql_sink_t *s, MYSQL *my, char *errstr, size_t errstr_size)
{
    MYSQL *old = s->my;
    s->my = my;
    int rc = setup_session(s, errstr, errstr_size);
    if (rc != 0) {
        s->my = old;
        return rc;
    }
    s->load_data = s->load_data && (my->client_flag & CLIENT_LOCAL_FILES);
    ferry_mysql_sink_load_install(s);
    return 0;
}

bool ferry_mysql_sink_load_data_enabled(const ferry_mysql_sink_t *s)
{
    return s->load_data;
}

/* ---- tables ------------------------------------------------------------- */

static int pick_key(sink_table_t *st, const ferry_mysql_sink_table_t *t)
{
    size_t n = ferry_table_ncolumns(t->columns);
    st->key = calloc(n, sizeof(size_t));
    if (!st->key)
        return FERRY_ERR_NOMEM;
    if (t->key_cols) {
        for (size_t k = 0; k < t->n_key_cols; k++) {
            if (t->key_cols[k] >= n || t->n_key_cols > n)
                return FERRY_ERR_INVALID;
            st->key[k] = t->key_cols[k];
        }
        st->nkey = t->n_key_cols;
        return 0;
    }
    /* the pk_pos columns, in key order */
    for (size_t pos = 1; pos <= n; pos++)
        for (size_t c = 0; c < n; c++)
            if (ferry_table_column(t->columns, c)->pk_pos == pos)
                st->key[st->nkey++] = c;
    return 0;
}

static int fill_table(sink_table_t *st, const ferry_mysql_sink_table_t *t)
{
    size_t n = ferry_table_ncolumns(t->columns);
    st->db = strdup(t->db);
    st->name = strdup(t->table);
    st->quoted = NULL;
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    ferry_mysql_sink_put_ident(&b, t->db);
    ferry_strbuf_puts(&b, ".");
    ferry_mysql_sink_put_ident(&b, t->table);
    st->quoted = b.oom ? NULL : b.buf;
    ferry_strbuf_t d = FERRY_STRBUF_INIT;
    ferry_strbuf_printf(&d, "%s.%s", t->db, t->table);
    st->display = d.oom ? NULL : d.buf;
    st->cols = calloc(n, sizeof(*st->cols));
    if (!st->db || !st->name || !st->quoted || !st->display || !st->cols)
        return FERRY_ERR_NOMEM;
    st->ncols = n;
    for (size_t c = 0; c < n; c++) {
        const ferry_column_t *col = ferry_table_column(t->columns, c);
        if (col->type < FERRY_TYPE_BOOL || col->type > FERRY_TYPE_MAX)
            return FERRY_ERR_INVALID;
        st->cols[c].type = col->type;
        st->cols[c].name = strdup(col->name);
        st->cols[c].quoted = quoted(col->name);
        if (!st->cols[c].name || !st->cols[c].quoted)
            return FERRY_ERR_NOMEM;
    }
    return pick_key(st, t);
}

int ferry_mysql_sink_add_table(ferry_mysql_sink_t *s, const ferry_mysql_sink_table_t *t,
                               char *errstr, size_t errstr_size)
{
    if (!t || !t->db || !t->table || !t->columns || ferry_table_ncolumns(t->columns) == 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not register destination table: no name or no columns");
    if (s->ntables == s->tables_cap) {
        size_t cap = s->tables_cap ? s->tables_cap * 2 : 8;
        sink_table_t *nt = realloc(s->tables, cap * sizeof(*nt));
        if (!nt)
            return FERRY_ERR_NOMEM;
        s->tables = nt;
        s->tables_cap = cap;
    }
    sink_table_t *st = &s->tables[s->ntables];
    memset(st, 0, sizeof(*st));
    int rc = fill_table(st, t);
    if (rc != 0) {
        table_free(st);
        return ferry_err_set(errstr, errstr_size, rc,
                             "could not register destination table \"%s.%s\": %s", t->db, t->table,
                             rc == FERRY_ERR_NOMEM ? "out of memory"
                                                   : "a key column or a column type is invalid");
    }
    return (int)s->ntables++;
}

static char *dup_or_null(const char *p, bool *oom)
{
    char *d = p ? strdup(p) : NULL;
    *oom |= p && !d;
    return d;
}

/* A deep copy of src into dst (zeroed first). */
static int copy_table(sink_table_t *dst, const sink_table_t *src)
{
    bool oom = false;
    memset(dst, 0, sizeof(*dst));
    dst->db = dup_or_null(src->db, &oom);
    dst->name = dup_or_null(src->name, &oom);
    dst->display = dup_or_null(src->display, &oom);
    dst->quoted = dup_or_null(src->quoted, &oom);
    dst->cols = calloc(src->ncols ? src->ncols : 1, sizeof(*dst->cols));
    dst->key = calloc(src->ncols ? src->ncols : 1, sizeof(*dst->key));
    if (oom || !dst->cols || !dst->key)
        return FERRY_ERR_NOMEM;
    dst->ncols = src->ncols;
    for (size_t c = 0; c < src->ncols; c++) {
        dst->cols[c].type = src->cols[c].type;
        dst->cols[c].name = dup_or_null(src->cols[c].name, &oom);
        dst->cols[c].quoted = dup_or_null(src->cols[c].quoted, &oom);
    }
    memcpy(dst->key, src->key, src->nkey * sizeof(*dst->key));
    dst->nkey = src->nkey;
    return oom ? FERRY_ERR_NOMEM : 0;
}

int ferry_mysql_sink_mirror(ferry_mysql_sink_t *dst, const ferry_mysql_sink_t *src, char *errstr,
                            size_t errstr_size)
{
    if (dst->ntables > src->ntables)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not mirror sink tables: the copy has more tables than the "
                             "original");
    while (dst->ntables < src->ntables) {
        if (dst->ntables == dst->tables_cap) {
            size_t cap = dst->tables_cap ? dst->tables_cap * 2 : 8;
            sink_table_t *nt = realloc(dst->tables, cap * sizeof(*nt));
            if (!nt)
                return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
            dst->tables = nt;
            dst->tables_cap = cap;
        }
        sink_table_t *t = &dst->tables[dst->ntables];
        if (copy_table(t, &src->tables[dst->ntables]) != 0) {
            table_free(t);
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        }
        dst->ntables++;
    }
    return 0;
}

/* ---- reading the meta tables -------------------------------------------- */

static int select_rows(ferry_mysql_sink_t *s, const ferry_strbuf_t *q, MYSQL_RES **res,
                       char *errstr, size_t errstr_size)
{
    sink_sqlerr_t e;
    if (q->oom)
        return FERRY_ERR_NOMEM;
    if (mysql_real_query(s->my, q->buf, (unsigned long)q->len) != 0 ||
        !(*res = mysql_store_result(s->my))) {
        ferry_mysql_sink_capture(s->my, &e);
        return ferry_err_set(errstr, errstr_size,
                             ferry_mysql_sink_classify(&e) == SINK_ERR_RETRY ? FERRY_ERR_RETRIABLE
                                                                             : FERRY_ERR_FATAL,
                             "could not read %s.ferry_offsets: %s", s->meta_quoted, e.msg);
    }
    return 0;
}

/* "SELECT columns FROM meta.table WHERE `link` = 'link'" into q. */
static void select_link_rows(const ferry_mysql_sink_t *s, ferry_strbuf_t *q, const char *columns,
                             const char *table)
{
    ferry_strbuf_printf(q, "SELECT %s FROM %s.`%s` WHERE `link` = ", columns, s->meta_quoted,
                        table);
    ferry_mysql_sink_put_string(q, s->link, strlen(s->link));
}

/* Polls for the lost session's end on the server, at most this long. */
#define UNSURE_WAIT_MS 30000

/*
 * Ends the session whose COMMIT went unanswered and waits until the server
 * has let it go: its transaction has then committed or rolled back for
 * good. The server may not have noticed the lost connection yet.
 */
static int end_unsure_session(ferry_mysql_sink_t *s, char *errstr, size_t errstr_size)
{
    unsigned long id = s->unsure_session;
    if (!id || id == s->session_id)
        return 0; /* never lost (the same session still answers): nothing in flight */
    char q[128];
    snprintf(q, sizeof(q), "KILL CONNECTION %lu", id);
    if (mysql_query(s->my, q) != 0 && mysql_errno(s->my) != ER_NO_SUCH_THREAD)
        ferry_log_warn("could not end the destination session whose commit was not answered",
                       "session=%lu error=\"%s\"", id, mysql_error(s->my));
    snprintf(q, sizeof(q), "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %lu",
             id);
    for (int waited = 0; waited <= UNSURE_WAIT_MS; waited += 50) {
        sink_sqlerr_t e;
        MYSQL_RES *res = NULL;
        if (mysql_query(s->my, q) != 0 || !(res = mysql_store_result(s->my))) {
            ferry_mysql_sink_capture(s->my, &e);
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_RETRIABLE,
                                 "could not look for destination session %lu: %s", id, e.msg);
        }
        MYSQL_ROW row = mysql_fetch_row(res);
        bool gone = row && row[0] && !strcmp(row[0], "0");
        mysql_free_result(res);
        if (gone)
            return 0;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_RETRIABLE,
                         "destination session %lu, whose commit was not answered, still runs", id);
}

int ferry_mysql_sink_committed(ferry_mysql_sink_t *s, const ferry_mysql_sink_batch_t *batch,
                               bool *committed, char *errstr, size_t errstr_size)
{
    *committed = false;
    int rc = end_unsure_session(s, errstr, errstr_size);
    if (rc != 0 || !batch->n_offsets)
        return rc;
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    select_link_rows(s, &q, "`topic`, `partition`, `next_offset`", "ferry_offsets");
    ferry_strbuf_puts(&q, " AND (`topic`, `partition`) IN (");
    for (size_t i = 0; i < batch->n_offsets; i++) {
        const ferry_mysql_sink_offset_t *o = &batch->offsets[i];
        ferry_strbuf_puts(&q, i ? ", (" : "(");
        ferry_mysql_sink_put_string(&q, o->topic, strlen(o->topic));
        ferry_strbuf_printf(&q, ", %" PRId32 ")", o->partition);
    }
    ferry_strbuf_puts(&q, ")");
    MYSQL_RES *res = NULL;
    rc = select_rows(s, &q, &res, errstr, errstr_size);
    ferry_strbuf_free(&q);
    size_t stored = 0;
    MYSQL_ROW row;
    while (rc == 0 && (row = mysql_fetch_row(res))) {
        for (size_t i = 0; i < batch->n_offsets; i++) {
            const ferry_mysql_sink_offset_t *o = &batch->offsets[i];
            if (!strcmp(row[0], o->topic) && strtol(row[1], NULL, 10) == o->partition &&
                strtoll(row[2], NULL, 10) >= o->next_offset)
                stored++;
        }
    }
    mysql_free_result(res);
    if (rc != 0)
        return rc;
    if (stored && stored < batch->n_offsets)
        return ferry_err_set(
            errstr, errstr_size, FERRY_ERR_FATAL,
            "%s.ferry_offsets holds %zu of the %zu offsets of a batch whose commit "
            "was not answered: another consumer is applying these partitions",
            s->meta_quoted, stored, batch->n_offsets);
    *committed = stored == batch->n_offsets;
    return 0;
}

/*
 * Runs q, a one-value SELECT after another statement (after_one) or alone,
 * and reads the value into *out (*found false for SQL NULL or no row). 0 or
 * an error naming what (RETRIABLE for lost connections and lock waits).
 * Frees q.
 */
static int last_value(ferry_mysql_sink_t *s, ferry_strbuf_t *q, bool after_one, const char *what,
                      unsigned long long *out, bool *found, char *errstr, size_t errstr_size)
{
    sink_sqlerr_t e;
    int rc = q->oom ? FERRY_ERR_NOMEM : 0;
    MYSQL_RES *res = NULL;
    if (rc == 0 &&
        (mysql_real_query(s->my, q->buf, (unsigned long)q->len) != 0 ||
         (after_one && mysql_next_result(s->my) != 0) || !(res = mysql_store_result(s->my)))) {
        ferry_mysql_sink_capture(s->my, &e);
        rc = ferry_err_set(errstr, errstr_size,
                           ferry_mysql_sink_classify(&e) == SINK_ERR_RETRY ? FERRY_ERR_RETRIABLE
                                                                           : FERRY_ERR_FATAL,
                           "could not %s in %s.ferry_offsets: %s", what, s->meta_quoted, e.msg);
    }
    ferry_strbuf_free(q);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    *found = rc == 0 && row && row[0];
    *out = *found ? strtoull(row[0], NULL, 10) : 0;
    mysql_free_result(res);
    return rc;
}

int ferry_mysql_sink_fence(ferry_mysql_sink_t *s, const ferry_mysql_sink_batch_t *batch, bool begin,
                           char *errstr, size_t errstr_size)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    if (begin)
        ferry_strbuf_puts(&q, "START TRANSACTION;\n");
    select_link_rows(s, &q, "COUNT(*)", "ferry_offsets");
    ferry_strbuf_puts(&q, " AND (");
    for (size_t i = 0; i < batch->n_fences; i++) {
        const ferry_mysql_sink_offset_t *f = &batch->fences[i];
        ferry_strbuf_puts(&q, i ? " OR (`topic` = " : "(`topic` = ");
        ferry_mysql_sink_put_string(&q, f->topic, strlen(f->topic));
        ferry_strbuf_printf(&q, " AND `partition` = %" PRId32 " AND `next_offset` = %" PRId64 ")",
                            f->partition, f->next_offset);
    }
    /* the shared lock makes a bump by the next owner wait for this batch's COMMIT */
    ferry_strbuf_puts(&q, ") LOCK IN SHARE MODE");
    unsigned long long held;
    bool found;
    int rc =
        last_value(s, &q, begin, "read the batch's fences", &held, &found, errstr, errstr_size);
    if (rc == 0 && (!found || held != batch->n_fences))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_FENCED,
                           "another consumer took over a table of this batch (its ownership "
                           "epoch in %s.ferry_offsets moved); nothing applied",
                           s->meta_quoted);
    if (rc != 0)
        (void)mysql_query(s->my, "ROLLBACK");
    return rc;
}

int ferry_mysql_sink_bump(ferry_mysql_sink_t *s, const char *topic, int64_t *value, char *errstr,
                          size_t errstr_size)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_printf(&q,
                        "INSERT INTO %s.`ferry_offsets` (`link`, `topic`, `partition`, "
                        "`next_offset`, `updated_at`) VALUES (",
                        s->meta_quoted);
    ferry_mysql_sink_put_string(&q, s->link, strlen(s->link));
    ferry_strbuf_puts(&q, ", ");
    ferry_mysql_sink_put_string(&q, topic, strlen(topic));
    ferry_strbuf_puts(&q, ", 0, 1, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE `next_offset` = "
                          "`next_offset` + 1, `updated_at` = VALUES(`updated_at`);\n");
    select_link_rows(s, &q, "`next_offset`", "ferry_offsets");
    ferry_strbuf_puts(&q, " AND `topic` = ");
    ferry_mysql_sink_put_string(&q, topic, strlen(topic));
    ferry_strbuf_puts(&q, " AND `partition` = 0");
    unsigned long long v;
    bool found;
    int rc = last_value(s, &q, true, "raise an ownership epoch", &v, &found, errstr, errstr_size);
    if (rc == 0 && !found)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                           "could not read %s back from %s.ferry_offsets", topic, s->meta_quoted);
    if (rc == 0)
        *value = (int64_t)v;
    return rc;
}

int ferry_mysql_sink_read_stored(ferry_mysql_sink_t *s, const char *topic_prefix,
                                 int (*fn)(void *arg, const ferry_mysql_sink_offset_t *o),
                                 void *arg, char *errstr, size_t errstr_size)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    select_link_rows(s, &q,
                     "`topic`, `partition`, `next_offset`, `src_file`, `src_pos`, `src_row`, "
                     "`src_rank`",
                     "ferry_offsets");
    if (topic_prefix) {
        /* the primary key's prefix range: no LIKE escaping to get wrong */
        size_t n = strlen(topic_prefix);
        ferry_strbuf_puts(&q, " AND `topic` >= ");
        ferry_mysql_sink_put_string(&q, topic_prefix, n);
        ferry_strbuf_puts(&q, " AND LEFT(`topic`, ");
        ferry_strbuf_printf(&q, "%zu) = ", n);
        ferry_mysql_sink_put_string(&q, topic_prefix, n);
    }
    ferry_strbuf_puts(&q, " ORDER BY `topic`, `partition`");
    MYSQL_RES *res = NULL;
    int rc = select_rows(s, &q, &res, errstr, errstr_size);
    ferry_strbuf_free(&q);
    MYSQL_ROW row;
    while (rc == 0 && (row = mysql_fetch_row(res))) {
        ferry_mysql_sink_offset_t o = {.topic = row[0],
                                       .partition = (int32_t)strtol(row[1], NULL, 10),
                                       .next_offset = strtoll(row[2], NULL, 10)};
        if (row[3] && row[4]) {
            o.last.file = row[3];
            o.last.pos = strtoull(row[4], NULL, 10);
            o.last.row = row[5] ? (int32_t)strtol(row[5], NULL, 10) : 0;
            o.last.rank = row[6] ? (int32_t)strtol(row[6], NULL, 10) : 0;
        }
        rc = fn(arg, &o);
    }
    mysql_free_result(res);
    return rc;
}

typedef struct {
    int (*fn)(void *arg, const char *topic, int32_t partition, int64_t next_offset);
    void *arg;
} plain_reader_t;

static int plain_one(void *arg, const ferry_mysql_sink_offset_t *o)
{
    plain_reader_t *r = arg;
    return r->fn(r->arg, o->topic, o->partition, o->next_offset);
}

int ferry_mysql_sink_read_offsets(ferry_mysql_sink_t *s,
                                  int (*fn)(void *arg, const char *topic, int32_t partition,
                                            int64_t next_offset),
                                  void *arg, char *errstr, size_t errstr_size)
{
    plain_reader_t r = {fn, arg};
    return ferry_mysql_sink_read_stored(s, NULL, plain_one, &r, errstr, errstr_size);
}

int ferry_mysql_sink_read_progress(ferry_mysql_sink_t *s,
                                   int (*fn)(void *arg, const char *db, const char *table,
                                             const char *phase, uint64_t rows),
                                   void *arg, char *errstr, size_t errstr_size)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    select_link_rows(s, &q, "`db`, `tbl`, `phase`, CAST(SUM(`rows_applied`) AS UNSIGNED)",
                     "ferry_progress");
    ferry_strbuf_puts(&q, " GROUP BY `db`, `tbl`, `phase` ORDER BY `db`, `tbl`, `phase`");
    MYSQL_RES *res = NULL;
    int rc = select_rows(s, &q, &res, errstr, errstr_size);
    ferry_strbuf_free(&q);
    MYSQL_ROW row;
    while (rc == 0 && (row = mysql_fetch_row(res)))
        rc = fn(arg, row[0], row[1], row[2], strtoull(row[3], NULL, 10));
    mysql_free_result(res);
    return rc;
}
