/*
 * test_binlog_fixtures.c - ferry's binlog decoder on real binlog files.
 *
 * Walks every file under $FERRY_FIXTURES/mysql-binlog (MySQL 5.0-9.6 and
 * MariaDB 10.0-11.8 servers, see ../shared/fixtures/SOURCES.md), checks the
 * event-type counts against SOURCES.md's inventory table exactly, decodes
 * every event (and the events inside TRANSACTION_PAYLOADs), and compares
 * the decoded rows, GTIDs and column descriptions with what SOURCES.md says
 * each file holds. Rows are compared as canonical text lines:
 *   "<db>.<table> <op> <image> v1|v2|..."
 * with NULL, integers, DECIMAL/temporal text as the server prints it, text
 * as UTF-8, bytes as 0x<hex>, GEOMETRY as <srid>:0x<hex>.
 * FERRY_TEST_VERBOSE=1 prints every line (to see what a file decodes to).
 */
#define _GNU_SOURCE /* vasprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arena.h"
#include "binlog.h"
#include "binlog_file.h"
#include "err.h"
#include "row.h"
#include "strbuf.h"

/* SOURCES.md section 1: file, events in a full header walk, counts by type. */
static const struct {
    const char *file;
    int events;
    const char *types;
} inventory[] = {
    {"alibaba-canal/mysql-bin.000001", 380,
     "FORMAT_DESCRIPTION: 1, QUERY: 111, TABLE_MAP: 89, WRITE_ROWS_V1: 10, XID: 89, "
     "UPDATE_ROWS_V1: 78, DELETE_ROWS_V1: 1, ROTATE: 1"},
    {"alibaba-canal/mysql-bin.000002", 5,
     "FORMAT_DESCRIPTION: 1, QUERY: 1, TABLE_MAP: 1, UPDATE_ROWS_V1: 1, XID: 1"},
    {"alibaba-canal/tsdb-mysql-bin.000002", 38,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 16, QUERY: 16, TABLE_MAP: 1, "
     "WRITE_ROWS_V2: 1, XID: 1, STOP: 1"},
    {"alibaba-canal/tsdb-mysql-bin.000003", 131,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 33, QUERY: 33, TABLE_MAP: 21, "
     "WRITE_ROWS_V2: 21, XID: 21"},
    {"apecloud-mysql-binlog-connector-rust/mysql-bin.000057", 8,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 3, QUERY: 1, TRANSACTION_PAYLOAD: 2"},
    {"apecloud-mysql-binlog-connector-rust/mysql-bin.000080", 37,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 10, QUERY: 10, TABLE_MAP: 5, DELETE_ROWS_V2: "
     "2, XID: 5, WRITE_ROWS_V2: 3"},
    {"go-mysql/tcb-eval002c-bin.003320", 6,
     "FORMAT_DESCRIPTION: 1, QUERY: 1, TABLE_MAP: 1, WRITE_ROWS_V2: 1, XID: 1, ROTATE: 1"},
    {"mariadb-operator-mariadb-poc/domain_id_0__mariadb-repl-bin.000007", 383,
     "FORMAT_DESCRIPTION: 1, MARIA_GTID_LIST: 1, MARIA_BINLOG_CHECKPOINT: 2, MARIA_GTID: 63, "
     "QUERY: 252, XID: 63, ROTATE: 1"},
    {"mariadb-operator-mariadb-poc/domain_id_0__mariadb-repl-bin.000009", 10,
     "FORMAT_DESCRIPTION: 1, MARIA_GTID_LIST: 1, MARIA_BINLOG_CHECKPOINT: 1, MARIA_GTID: 3, QUERY: "
     "3, STOP: 1"},
    {"mariadb-operator-mariadb-poc/domain_id_0__mariadb-repl-bin.000010", 24,
     "FORMAT_DESCRIPTION: 1, MARIA_GTID_LIST: 1, MARIA_BINLOG_CHECKPOINT: 1, MARIA_GTID: 10, "
     "QUERY: 10, STOP: 1"},
    {"mariadb-operator-mariadb-poc/domain_id_1__mariadb-repl-bin.000002", 28,
     "FORMAT_DESCRIPTION: 1, MARIA_GTID_LIST: 1, MARIA_BINLOG_CHECKPOINT: 1, MARIA_GTID: 12, "
     "QUERY: 12, ROTATE: 1"},
    {"mysql-server-std_data-GPL-2.0/binlog_truncated_prev_gtid_event.000001", 1,
     "FORMAT_DESCRIPTION: 1"},
    {"mysql-server-std_data-GPL-2.0/bug32407.001", 7,
     "FORMAT_DESCRIPTION: 1, QUERY: 3, TABLE_MAP: 1, WRITE_ROWS_V2: 1, ROTATE: 1"},
    {"mysql-server-std_data-GPL-2.0/corrupt-relay-bin.000624", 874,
     "FORMAT_DESCRIPTION: 2, ROTATE: 2, QUERY: 454, INTVAR: 233, XID: 183"},
    {"mysql-server-std_data-GPL-2.0/rpl_unfiltered_hidden_gcol.000001", 15,
     "FORMAT_DESCRIPTION: 2, PREVIOUS_GTIDS: 1, ROTATE: 2, ANONYMOUS_GTID: 3, QUERY: 3, TABLE_MAP: "
     "1, WRITE_ROWS_V2: 1, XID: 1, STOP: 1"},
    {"mysql-server-std_data-GPL-2.0/update-full-row.binlog", 10,
     "FORMAT_DESCRIPTION: 1, QUERY: 2, TABLE_MAP: 2, WRITE_ROWS_V1: 2, UPDATE_ROWS_V1: 1, "
     "DELETE_ROWS_V1: 1, ROTATE: 1"},
    {"mysql-server-std_data-GPL-2.0/update-partial-row.binlog", 10,
     "FORMAT_DESCRIPTION: 1, QUERY: 2, TABLE_MAP: 2, WRITE_ROWS_V1: 2, UPDATE_ROWS_V1: 1, "
     "DELETE_ROWS_V1: 1, ROTATE: 1"},
    {"mysql-server-std_data-GPL-2.0/ver_trunk_row_v2.001", 40,
     "FORMAT_DESCRIPTION: 1, QUERY: 24, TABLE_MAP: 3, WRITE_ROWS_V2: 1, UPDATE_ROWS_V2: 1, "
     "DELETE_ROWS_V2: 1, XID: 2, USER_VAR: 1, RAND: 1, INTVAR: 1, BEGIN_LOAD_QUERY: 1, "
     "APPEND_BLOCK: 1, EXECUTE_LOAD_QUERY: 1, ROTATE: 1"},
    {"mysql-server-std_data-GPL-2.0/write-full-row.binlog", 9,
     "FORMAT_DESCRIPTION: 1, QUERY: 2, TABLE_MAP: 2, WRITE_ROWS_V1: 2, DELETE_ROWS_V1: 1, ROTATE: "
     "1"},
    {"mysql-server-std_data-GPL-2.0/write-partial-row.binlog", 10,
     "FORMAT_DESCRIPTION: 1, QUERY: 2, TABLE_MAP: 2, WRITE_ROWS_V1: 3, DELETE_ROWS_V1: 1, ROTATE: "
     "1"},
    {"osheroff-mysql-binlog-connector-java/mysql-bin.aurora-padding", 5,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 1, T100: 1, QUERY: 1"},
    {"osheroff-mysql-binlog-connector-java/mysql-bin.checksum-crc32", 303,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 60, QUERY: 60, TABLE_MAP: 60, "
     "WRITE_ROWS_V2: 34, XID: 60, UPDATE_ROWS_V2: 20, DELETE_ROWS_V2: 6, ROTATE: 1"},
    {"osheroff-mysql-binlog-connector-java/mysql-bin.checksum-none", 191,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 40, QUERY: 40, TABLE_MAP: 36, "
     "WRITE_ROWS_V2: 34, XID: 36, UPDATE_ROWS_V2: 2, STOP: 1"},
    {"osheroff-mysql-binlog-connector-java/mysql-bin.compressed", 5,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 1, TRANSACTION_PAYLOAD: 1, ROTATE: "
     "1"},
    {"osheroff-mysql-binlog-connector-java/mysql-bin.sakila.gz", 1462,
     "FORMAT_DESCRIPTION: 1, QUERY: 54, TABLE_MAP: 18, WRITE_ROWS_V1: 1374, XID: 15"},
    {"pingcap-tiflow/mysql-bin.000001", 59,
     "FORMAT_DESCRIPTION: 1, MARIA_GTID_LIST: 1, MARIA_BINLOG_CHECKPOINT: 1, MARIA_GTID: 20, "
     "TABLE_MAP: 8, DELETE_ROWS_V1: 1, QUERY: 13, WRITE_ROWS_V1: 7, XID: 7"},
    {"rust-us-mysql-cdc-rs/5.7__02_query__log.bin", 7,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 2, QUERY: 2, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__03_stop__log.bin", 3,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, STOP: 1"},
    {"rust-us-mysql-cdc-rs/5.7__04_rotate__log.bin", 3,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__05_intvar__log.bin", 12,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 3, QUERY: 4, INTVAR: 1, XID: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__13_rand__log.bin", 12,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 3, QUERY: 4, RAND: 1, XID: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__14_user_var__log.bin", 15,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 3, QUERY: 4, INTVAR: 1, USER_VAR: 3, XID: 1, "
     "ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__15_format_desc__log.bin", 3,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__16_xid__log.bin", 12,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 3, QUERY: 3, TABLE_MAP: 1, WRITE_ROWS_V2: 1, "
     "XID: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__17_18_load__log.bin", 8,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 1, QUERY: 1, BEGIN_LOAD_QUERY: 1, "
     "EXECUTE_LOAD_QUERY: 1, XID: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__19_table_map__log.bin", 12,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 3, QUERY: 3, TABLE_MAP: 1, WRITE_ROWS_V2: 1, "
     "XID: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__29_row_query__log.bin", 13,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 3, QUERY: 3, ROWS_QUERY: 1, TABLE_MAP: 1, "
     "WRITE_ROWS_V2: 1, XID: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__30_write_rows_v2__log.bin", 13,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 3, QUERY: 3, ROWS_QUERY: 1, TABLE_MAP: 1, "
     "WRITE_ROWS_V2: 1, XID: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__31_update_rows_v2__log.bin", 8,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 1, QUERY: 1, TABLE_MAP: 1, UPDATE_ROWS_V2: "
     "1, XID: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__32_delete_rows_v2__log.bin", 19,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 4, QUERY: 4, ROWS_QUERY: 2, TABLE_MAP: 2, "
     "WRITE_ROWS_V2: 1, XID: 2, DELETE_ROWS_V2: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__33_35_gtid_prev_gtid__log.bin", 13,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 3, QUERY: 3, ROWS_QUERY: 1, TABLE_MAP: 1, "
     "WRITE_ROWS_V2: 1, XID: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/5.7__34_anonymous_gtid__log.bin", 13,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 3, QUERY: 3, ROWS_QUERY: 1, "
     "TABLE_MAP: 1, WRITE_ROWS_V2: 1, XID: 1, ROTATE: 1"},
    {"rust-us-mysql-cdc-rs/8.0__02_query__binlog.000001", 4,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 1, QUERY: 1"},
    {"rust-us-mysql-cdc-rs/8.0__02_query_bigger__binlog.000733", 42,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 11, QUERY: 11, TABLE_MAP: 6, "
     "WRITE_ROWS_V2: 3, XID: 6, UPDATE_ROWS_V2: 1, DELETE_ROWS_V2: 2"},
    {"rust-us-mysql-cdc-rs/8.0__19_30_Table_map_event_Write_rows_log_event__binlog.000018", 11,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 3, QUERY: 3, TABLE_MAP: 1, "
     "WRITE_ROWS_V2: 1, XID: 1"},
    {"rust-us-mysql-cdc-rs/8.0__31_update_rows_v2__binlog.000001", 16,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 4, QUERY: 4, TABLE_MAP: 2, "
     "WRITE_ROWS_V2: 1, XID: 2, UPDATE_ROWS_V2: 1"},
    {"rust-us-mysql-cdc-rs/8.0__32_delete_rows_v2__binlog.000001", 21,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 5, QUERY: 5, TABLE_MAP: 3, "
     "WRITE_ROWS_V2: 1, XID: 3, UPDATE_ROWS_V2: 1, DELETE_ROWS_V2: 1"},
    {"rust_mysql_common/binlog-invisible-columns.000001", 22,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 5, QUERY: 5, TABLE_MAP: 3, WRITE_ROWS_V2: 2, "
     "XID: 3, UPDATE_ROWS_V2: 1, STOP: 1"},
    {"rust_mysql_common/binlog_transaction_previous_GTID_no_tag.000001", 3,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ROTATE: 1"},
    {"rust_mysql_common/binlog_transaction_with_GTID_TAG.000001", 8,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID_TAGGED: 1, QUERY: 1, TABLE_MAP: 1, "
     "WRITE_ROWS_V2: 1, XID: 1, ROTATE: 1"},
    {"rust_mysql_common/json-opaque.binlog", 25,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 3, QUERY: 3, TABLE_MAP: 8, "
     "WRITE_ROWS_V2: 8, XID: 1"},
    {"rust_mysql_common/json.binlog.000001", 36,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 8, QUERY: 8, TABLE_MAP: 6, "
     "WRITE_ROWS_V2: 4, XID: 6, UPDATE_ROWS_V2: 1, PARTIAL_UPDATE_ROWS: 1"},
    {"rust_mysql_common/mariadb-bin.000001", 13,
     "FORMAT_DESCRIPTION: 1, MARIA_GTID_LIST: 1, MARIA_BINLOG_CHECKPOINT: 1, MARIA_GTID: 2, "
     "MARIA_ANNOTATE_ROWS: 2, TABLE_MAP: 2, WRITE_ROWS_V1: 2, XID: 2"},
    {"rust_mysql_common/minimal_row_metadata.000001", 8,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 1, QUERY: 1, TABLE_MAP: 1, "
     "WRITE_ROWS_V2: 1, XID: 1, ROTATE: 1"},
    {"rust_mysql_common/mysql-enum-string-set.000001", 21,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 5, QUERY: 5, TABLE_MAP: 3, WRITE_ROWS_V2: 1, "
     "XID: 3, UPDATE_ROWS_V2: 1, DELETE_ROWS_V2: 1"},
    {"rust_mysql_common/mysql_type_bit.000001", 11,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 3, QUERY: 3, TABLE_MAP: 1, WRITE_ROWS_V2: 1, "
     "XID: 1"},
    {"rust_mysql_common/time_issue.000001", 8,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 1, QUERY: 1, TABLE_MAP: 1, "
     "WRITE_ROWS_V2: 1, XID: 1, ROTATE: 1"},
    {"rust_mysql_common/transaction_compression.000001", 5,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 1, TRANSACTION_PAYLOAD: 1, ROTATE: "
     "1"},
    {"rust_mysql_common/vector.binlog", 38,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 10, QUERY: 10, TABLE_MAP: 6, "
     "WRITE_ROWS_V2: 5, XID: 3, DELETE_ROWS_V2: 1, STOP: 1"},
    {"zendesk-maxwell/binlog.000004", 59,
     "FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 21, QUERY: 21, TABLE_MAP: 5, WRITE_ROWS_V2: "
     "3, XID: 5, UPDATE_ROWS_V2: 2"},
};

#define N_INVENTORY (sizeof(inventory) / sizeof(inventory[0]))

/* ---- walking a file ------------------------------------------------------------ */

typedef struct {
    char **lines;
    size_t n, cap;
    char names[64][40]; /* top-level event type name -> count */
    int counts[64];
    int n_names;
    int events;
    int decode_errors;
    char first_error[512];
    int read_rc;
    char read_error[512];
    ferry_binlog_decoder_t *d;
    ferry_arena_t *arena;
} walk_t;

static bool verbose; /* set by dump_all under FERRY_TEST_VERBOSE */

static void add_line(walk_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_line(walk_t *w, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    assert_true(vasprintf(&s, fmt, ap) >= 0);
    va_end(ap);
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->lines = realloc(w->lines, w->cap * sizeof(*w->lines));
        assert_non_null(w->lines);
    }
    w->lines[w->n++] = s;
    if (verbose)
        printf("  %s\n", s);
}

static void count_type(walk_t *w, const char *name)
{
    for (int i = 0; i < w->n_names; i++) {
        if (strcmp(w->names[i], name) == 0) {
            w->counts[i]++;
            return;
        }
    }
    assert_true(w->n_names < 64);
    snprintf(w->names[w->n_names], sizeof(w->names[0]), "%s", name);
    w->counts[w->n_names++] = 1;
}

static void put_value(ferry_strbuf_t *b, const ferry_column_t *col, const ferry_value_t *v)
{
    char buf[64];
    if (v->is_null) {
        ferry_strbuf_puts(b, "NULL");
        return;
    }
    switch (col->type) {
    case FERRY_TYPE_INT:
    case FERRY_TYPE_YEAR:
        ferry_strbuf_printf(b, "%lld", (long long)v->v.i);
        break;
    case FERRY_TYPE_UINT:
    case FERRY_TYPE_BIT:
        ferry_strbuf_printf(b, "%llu", (unsigned long long)v->v.u);
        break;
    case FERRY_TYPE_FLOAT:
        ferry_strbuf_printf(b, "%.7g", v->v.f);
        break;
    case FERRY_TYPE_DOUBLE:
        ferry_strbuf_printf(b, "%.15g", v->v.d);
        break;
    case FERRY_TYPE_DATE:
        ferry_value_format_civil(&v->v.dt, true, 0, buf, sizeof(buf));
        ferry_strbuf_puts(b, buf);
        break;
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        ferry_value_format_civil(&v->v.dt, false, col->fsp, buf, sizeof(buf));
        ferry_strbuf_puts(b, buf);
        break;
    case FERRY_TYPE_TIME:
        ferry_value_format_time(v->v.i, col->fsp, buf, sizeof(buf));
        ferry_strbuf_puts(b, buf);
        break;
    case FERRY_TYPE_BYTES:
    case FERRY_TYPE_GEOMETRY:
        if (col->type == FERRY_TYPE_GEOMETRY)
            ferry_strbuf_printf(b, "%u:", v->aux);
        ferry_strbuf_puts(b, "0x");
        for (size_t i = 0; i < v->v.s.len; i++)
            ferry_strbuf_printf(b, "%02x", (unsigned char)v->v.s.ptr[i]);
        break;
    default:
        ferry_strbuf_put(b, v->v.s.ptr, v->v.s.len);
        break;
    }
}

static void add_rows(walk_t *w, const ferry_binlog_event_t *ev)
{
    static const char *const ops[] = {"?", "insert", "update", "delete"};
    const ferry_binlog_table_t *t = ev->u.rows.table;
    if (!t)
        return;
    assert_true(ev->u.rows.n_rows >= 1);
    for (size_t i = 0; i < ev->u.rows.n_rows; i++) {
        for (int img = 0; img < 2; img++) {
            const ferry_row_t *row = img ? ev->u.rows.after : ev->u.rows.before;
            if (!row)
                continue;
            row += i;
            assert_int_equal(row->n, t->ncols);
            ferry_strbuf_t b = FERRY_STRBUF_INIT;
            for (size_t c = 0; c < row->n; c++) {
                if (c)
                    ferry_strbuf_put(&b, "|", 1);
                put_value(&b, ferry_table_column(t->table, c), &row->values[c]);
            }
            add_line(w, "%s.%s %s %s %s", t->db, t->name, ops[ev->u.rows.op],
                     img ? "after" : "before", b.buf);
            ferry_strbuf_free(&b);
        }
    }
}

static void add_columns(walk_t *w, const ferry_binlog_table_t *t)
{
    for (size_t i = 0; i < t->ncols; i++) {
        const ferry_column_t *c = ferry_table_column(t->table, i);
        add_line(w, "column %s.%s %s %s %s %s%s%s%s pk=%u", t->db, t->name, c->name,
                 ferry_type_name(c->type), c->source_type, c->charset ? c->charset : "-",
                 c->flags & FERRY_COL_UNSIGNED ? " unsigned" : "",
                 c->flags & FERRY_COL_NULLABLE ? " null" : "",
                 t->cols[i].flags & FERRY_BINLOG_COL_INVISIBLE ? " invisible" : "", c->pk_pos);
    }
}

static void record(walk_t *w, const ferry_binlog_event_t *ev, bool inner);

static void walk_payload(walk_t *w, const ferry_binlog_event_t *ev)
{
    size_t off = 0;
    char err[512];
    ferry_binlog_event_t in;
    int rc;
    while ((rc = ferry_binlog_payload_next(w->d, ev, &off, w->arena, &in, err, sizeof(err))) == 1)
        record(w, &in, true);
    if (rc < 0) {
        if (!w->decode_errors++)
            snprintf(w->first_error, sizeof(w->first_error), "%s", err);
    }
}

static void record(walk_t *w, const ferry_binlog_event_t *ev, bool inner)
{
    char tb[8];
    if (inner)
        add_line(w, "inner %s", ferry_binlog_event_type_name(ev->type, tb));
    switch (ev->kind) {
    case FERRY_BINLOG_EV_FORMAT_DESCRIPTION:
        add_line(w, "fde %s checksum=%u", ev->u.fde.server_version, ev->u.fde.checksum_alg);
        break;
    case FERRY_BINLOG_EV_QUERY:
        add_line(w, "query %s %.*s", ev->u.query.db,
                 (int)(ev->u.query.sql_len > 120 ? 120 : ev->u.query.sql_len), ev->u.query.sql);
        break;
    case FERRY_BINLOG_EV_ROTATE:
        add_line(w, "rotate %s %llu", ev->u.rotate.file, (unsigned long long)ev->u.rotate.pos);
        break;
    case FERRY_BINLOG_EV_GTID:
        add_line(w, "gtid %s", ev->u.gtid.text);
        break;
    case FERRY_BINLOG_EV_MARIA_GTID:
        add_line(w, "mgtid %s flags=0x%02x server=%u", ev->u.maria_gtid.text,
                 ev->u.maria_gtid.flags, ev->server_id);
        break;
    case FERRY_BINLOG_EV_PREVIOUS_GTIDS:
        add_line(w, "previous %s", ev->u.previous_gtids.text);
        break;
    case FERRY_BINLOG_EV_MARIA_GTID_LIST:
        add_line(w, "gtidlist %s", ev->u.gtid_list.text);
        break;
    case FERRY_BINLOG_EV_TABLE_MAP: {
        const ferry_binlog_table_t *t = ev->u.table_map.table;
        char key[300];
        snprintf(key, sizeof(key), "table %s.%s cols=%zu names_missing=%d", t->db, t->name,
                 t->ncols, t->names_missing);
        bool seen = false;
        for (size_t i = 0; i < w->n && !seen; i++)
            seen = strcmp(w->lines[i], key) == 0;
        if (!seen) {
            add_line(w, "%s", key);
            add_columns(w, t);
        }
        break;
    }
    case FERRY_BINLOG_EV_ROWS:
        add_rows(w, ev);
        break;
    case FERRY_BINLOG_EV_ROWS_QUERY:
        add_line(w, "rows_query %.*s", (int)ev->u.rows_query.len, ev->u.rows_query.text);
        break;
    case FERRY_BINLOG_EV_TRANSACTION_PAYLOAD:
        walk_payload(w, ev);
        break;
    case FERRY_BINLOG_EV_XID:
        add_line(w, "xid %llu", (unsigned long long)ev->u.xid.xid);
        break;
    default:
        break;
    }
}

static void decode_one(walk_t *w, const uint8_t *buf, size_t len)
{
    ferry_binlog_event_t ev;
    char err[512], tb[8];
    int rc = ferry_binlog_decode(w->d, buf, len, w->arena, &ev, err, sizeof(err));
    if (rc) {
        add_line(w, "error %s", err);
        if (!w->decode_errors++)
            snprintf(w->first_error, sizeof(w->first_error), "%s", err);
        if (len >= FERRY_BINLOG_HEADER_LEN)
            count_type(w, ferry_binlog_event_type_name(buf[4], tb));
        return;
    }
    count_type(w, ferry_binlog_event_type_name(ev.type, tb));
    add_line(w, "event %s pos=%u", ferry_binlog_event_type_name(ev.type, tb), ev.log_pos);
    record(w, &ev, false);
}

static void walk_init(walk_t *w)
{
    memset(w, 0, sizeof(*w));
    w->d = ferry_binlog_decoder_new();
    w->arena = ferry_arena_new(0);
    assert_non_null(w->d);
    assert_non_null(w->arena);
}

static void walk_free(walk_t *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->lines[i]);
    free(w->lines);
    ferry_binlog_decoder_destroy(w->d);
    ferry_arena_destroy(w->arena);
}

static const char *fixtures_dir(void)
{
    static char dir[1024];
    const char *f = getenv("FERRY_FIXTURES");
    if (!f || !*f)
        return NULL;
    snprintf(dir, sizeof(dir), "%s/mysql-binlog", f);
    return dir;
}

static void walk_file(walk_t *w, const char *rel)
{
    char path[2048], err[512];
    const char *dir = fixtures_dir();
    assert_non_null(dir);
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", rel);
    walk_init(w);
    if (verbose)
        printf("%s\n", rel);
    ferry_binlog_file_t *f;
    int rc = ferry_binlog_file_open(path, &f, err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    const uint8_t *buf;
    size_t len;
    uint64_t off;
    while ((rc = ferry_binlog_file_next(f, &buf, &len, &off, err, sizeof(err))) == 1) {
        w->events++;
        decode_one(w, buf, len);
        ferry_arena_reset(w->arena);
    }
    w->read_rc = rc;
    if (rc < 0)
        snprintf(w->read_error, sizeof(w->read_error), "%s", err);
    ferry_binlog_file_close(f);
}

static bool has_line(const walk_t *w, const char *line)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->lines[i], line) == 0)
            return true;
    return false;
}

static size_t count_prefix(const walk_t *w, const char *prefix)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n; i++)
        k += strncmp(w->lines[i], prefix, strlen(prefix)) == 0;
    return k;
}

/* Asserts each line appears, in this order (other lines may come between). */
static void expect_seq(const walk_t *w, const char *const *lines, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n && k < n; i++)
        if (strcmp(w->lines[i], lines[k]) == 0)
            k++;
    if (k < n) {
        for (size_t j = 0; j < n; j++)
            if (!has_line(w, lines[j]))
                fail_msg("missing line: %s", lines[j]);
        fail_msg("lines out of order near: %s", lines[k]);
    }
}

#define EXPECT(w, ...)                                                                             \
    do {                                                                                           \
        static const char *const exp_[] = {__VA_ARGS__};                                           \
        expect_seq((w), exp_, sizeof(exp_) / sizeof(exp_[0]));                                     \
    } while (0)

#define NEED_FIXTURES()                                                                            \
    do {                                                                                           \
        if (!fixtures_dir())                                                                       \
            skip();                                                                                \
    } while (0)

/* ---- the inventory: every file, exact counts ---------------------------------- */

/* Files whose decoding is expected to fail, and where (a substring of the error). */
static const struct {
    const char *file;
    int decode_errors;
    const char *error;
} expected_errors[] = {
    /* the last QUERY event (offset 91204) is corrupt */
    {"mysql-server-std_data-GPL-2.0/corrupt-relay-bin.000624", 1, "could not decode QUERY event"},
    /* MariaDB 10.0 wrote TIMESTAMP(n) as type 7 without metadata in its own hi-res layout */
    {"pingcap-tiflow/mysql-bin.000001", -1, "WRITE_ROWS_V1 event"},
};

static void check_counts(const walk_t *w, const char *file, const char *types)
{
    int matched = 0;
    const char *p = types;
    while (*p) {
        char name[40];
        int n, used;
        if (sscanf(p, " %39[A-Z0-9_]: %d%n", name, &n, &used) != 2)
            fail_msg("%s: bad inventory text at '%s'", file, p);
        p += used;
        if (*p == ',')
            p++;
        int got = 0;
        for (int i = 0; i < w->n_names; i++)
            if (strcmp(w->names[i], name) == 0)
                got = w->counts[i];
        if (got != n)
            fail_msg("%s: %d %s events, SOURCES.md says %d", file, got, name, n);
        matched++;
    }
    if (matched != w->n_names)
        fail_msg("%s: %d event types seen, SOURCES.md lists %d", file, w->n_names, matched);
}

static void inventory_counts(void **state)
{
    (void)state;
    NEED_FIXTURES();
    for (size_t i = 0; i < N_INVENTORY; i++) {
        walk_t w;
        walk_file(&w, inventory[i].file);
        if (w.events != inventory[i].events)
            fail_msg("%s: %d events, SOURCES.md says %d", inventory[i].file, w.events,
                     inventory[i].events);
        check_counts(&w, inventory[i].file, inventory[i].types);
        int want_errors = 0;
        const char *want_error = NULL;
        for (size_t k = 0; k < sizeof(expected_errors) / sizeof(expected_errors[0]); k++) {
            if (strcmp(expected_errors[k].file, inventory[i].file) == 0) {
                want_errors = expected_errors[k].decode_errors;
                want_error = expected_errors[k].error;
            }
        }
        if (want_errors < 0 ? w.decode_errors == 0 : w.decode_errors != want_errors)
            fail_msg("%s: %d decode errors (first: %s)", inventory[i].file, w.decode_errors,
                     w.first_error);
        if (want_error && !strstr(w.first_error, want_error))
            fail_msg("%s: unexpected error: %s", inventory[i].file, w.first_error);
        bool truncated = strstr(inventory[i].file, "binlog_truncated_prev_gtid") != NULL;
        if (truncated)
            assert_int_equal(w.read_rc, FERRY_ERR_TRUNCATED);
        else if (w.read_rc != 0)
            fail_msg("%s: %s", inventory[i].file, w.read_error);
        walk_free(&w);
    }
}

/* Every binlog file in the fixture folder is in the inventory (and so is checked). */
static void inventory_is_complete(void **state)
{
    (void)state;
    NEED_FIXTURES();
    const char *dir = fixtures_dir();
    DIR *top = dir ? opendir(dir) : NULL;
    assert_non_null(top);
    struct dirent *de;
    size_t files = 0;
    while ((de = readdir(top))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[2048];
        snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
        DIR *d = opendir(sub);
        if (!d)
            continue;
        struct dirent *fe;
        while ((fe = readdir(d))) {
            if (fe->d_name[0] == '.' || strstr(fe->d_name, ".txt"))
                continue;
            char rel[1024];
            snprintf(rel, sizeof(rel), "%s/%s", de->d_name, fe->d_name);
            bool found = false;
            for (size_t i = 0; i < N_INVENTORY && !found; i++)
                found = strcmp(inventory[i].file, rel) == 0;
            if (!found)
                fail_msg("%s is not in the inventory", rel);
            files++;
        }
        closedir(d);
    }
    closedir(top);
    assert_int_equal(files, N_INVENTORY);
}

/* ---- what SOURCES.md states about single files -------------------------------------- */

static void rust_mysql_common_files(void **state)
{
    (void)state;
    NEED_FIXTURES();
    walk_t w;
    /* opaque and temporal scalars inside JSON, in order (MySQL's own spacing; DECIMAL is a
     * number in MySQL's text, SOURCES.md shows upstream's string rendering of it) */
    walk_file(&w, "rust_mysql_common/json-opaque.binlog");
    EXPECT(&w, "column foo.test a json json - null pk=0",
           "foo.test insert after {\"a\": \"base64:type15:VQ==\"}",
           "foo.test insert after {\"b\": \"2012-03-18\"}",
           "foo.test insert after {\"c\": \"2012-03-18 11:30:45.000000\"}",
           "foo.test insert after {\"c\": \"87:31:46.654321\"}",
           "foo.test insert after {\"d\": 123.456}", "foo.test insert after {\"e\": 9.00}",
           "foo.test insert after {\"e\": [0, 1, true, false]}",
           "foo.test insert after {\"e\": null}");
    walk_free(&w);

    walk_file(&w, "rust_mysql_common/mysql-enum-string-set.000001");
    EXPECT(&w, "column mysql.t f1 string char(128) utf8mb4 null pk=0",
           "column mysql.t f2 string varchar(300) utf8mb4 null pk=0",
           "column mysql.t f3 enum enum utf8mb4 null pk=0",
           "column mysql.t f4 set set utf8mb4 null pk=0",
           "column mysql.t f5 string text utf8mb4 null pk=0");
    {
        /* f2 is 298 characters (its length prefix is 0x012a; SOURCES.md says 300): three runs
         * of the digit cycle, 129 + 129 + 40 long */
        char d100[101], d300[300], line[1024];
        size_t o = 0;
        for (int run = 0; run < 3; run++)
            for (int i = 0; i < (run < 2 ? 129 : 40); i++)
                d300[o++] = (char)('0' + i % 10);
        d300[o] = '\0';
        for (int i = 0; i < 100; i++)
            d100[i] = (char)('0' + i % 10);
        d100[100] = '\0';
        snprintf(line, sizeof(line), "mysql.t insert after %s|%s|var1|one,three|0123456789", d100,
                 d300);
        assert_true(has_line(&w, line));
        snprintf(line, sizeof(line), "mysql.t update before %s|%s|var1|one,three|0123456789", d100,
                 d300);
        assert_true(has_line(&w, line));
        snprintf(line, sizeof(line), "mysql.t update after field1|field_2|variant2|two,four|%s",
                 d300);
        assert_true(has_line(&w, line));
        snprintf(line, sizeof(line), "mysql.t delete before field1|field_2|variant2|two,four|%s",
                 d300);
        assert_true(has_line(&w, line));
    }
    walk_free(&w);

    walk_file(&w, "rust_mysql_common/mysql_type_bit.000001");
    EXPECT(&w, "column mysql.foo a bit bit(3) - null pk=0", "mysql.foo insert after 4|foo|32");
    walk_free(&w);

    walk_file(&w, "rust_mysql_common/binlog-invisible-columns.000001");
    EXPECT(&w, "column mysql.t1 f1 uint int unsigned - unsigned null invisible pk=0",
           "column mysql.t1 f3 int int - null pk=0",
           "column mysql.t1 f6 uint bigint unsigned - unsigned null invisible pk=0",
           "mysql.t1 insert after 1|2|-3|4|0x05|6000000000",
           "mysql.t1 insert after NULL|NULL|-33|44|0x55|NULL",
           "mysql.t1 update before NULL|NULL|-33|44|0x55|NULL",
           "mysql.t1 update after 111|222|-333|444|0x55|NULL");
    assert_int_equal(count_prefix(&w, "gtid 97c7af02-"), 5);
    walk_free(&w);

    /* MINIMAL metadata: no names; partial image (columns 1, 3, 5). SOURCES.md counts
     * columns from 0 there: its "@2" (utf8mb4_0900_ai_ci) is our @3, its "@4" our @5. */
    walk_file(&w, "rust_mysql_common/minimal_row_metadata.000001");
    EXPECT(&w, "table noria.t1 cols=5 names_missing=1", "column noria.t1 @2 bytes blob - null pk=0",
           "column noria.t1 @3 string char(2) utf8mb4 null pk=0",
           "column noria.t1 @5 uint int unsigned - unsigned null pk=0",
           "noria.t1 insert after 1|NULL|a|NULL|3230202323");
    walk_free(&w);

    walk_file(&w, "rust_mysql_common/time_issue.000001");
    EXPECT(&w, "noria.t insert after -507:48:27");
    walk_free(&w);

    walk_file(&w, "rust_mysql_common/transaction_compression.000001");
    EXPECT(&w, "inner QUERY", "inner TABLE_MAP", "inner WRITE_ROWS_V2", "inner XID");
    assert_int_equal(count_prefix(&w, "inner "), 4);
    walk_free(&w);

    walk_file(&w, "rust_mysql_common/vector.binlog");
    EXPECT(&w, "column dtb.foo vector_column bytes vector(3) - pk=0",
           "dtb.foo insert after 1|0xcdcc8c3fcdcc0c4033335340",
           "dtb.foo insert after 2|0x0000803f000080bf00000000",
           "column dtb.bar vector_column bytes vector(2) - pk=0",
           "column dtb.bar vector_column2 bytes vector(4) - pk=0");
    walk_free(&w);

    walk_file(&w, "rust_mysql_common/binlog_transaction_with_GTID_TAG.000001");
    EXPECT(
        &w,
        "previous 55778904-0299-11f1-b1b8-4ef0c4956feb:1-13,55778904-0299-11f1-b1b8-4ef0c4956feb:"
        "mytag:1-2",
        "gtid 55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:3",
        "test.orders insert after 3|100|250.00");
    walk_free(&w);

    walk_file(&w, "rust_mysql_common/binlog_transaction_previous_GTID_no_tag.000001");
    EXPECT(&w, "previous b9b88c66-0755-11f1-9899-4a9da94c4d71:1-2");
    walk_free(&w);

    /* MariaDB 10.5, FULL metadata, v1 rows */
    walk_file(&w, "rust_mysql_common/mariadb-bin.000001");
    EXPECT(&w, "mgtid 0-1-1 flags=0x0c server=1", "table toddy_test.outbox cols=5 names_missing=0",
           "column toddy_test.outbox id int int - pk=1",
           "column toddy_test.outbox topic string varchar(255) utf8mb4 pk=0",
           "column toddy_test.outbox event_type enum enum utf8mb4 null pk=0",
           "column toddy_test.outbox event bytes blob - pk=0",
           "column toddy_test.outbox created timestamp timestamp - pk=0",
           "toddy_test.outbox insert after 62|foo|JSON|0x7b22666f6f223a317d|2022-04-20 22:18:04",
           "mgtid 0-1-2 flags=0x0c server=1",
           "toddy_test.outbox insert after 63|foo|JSON|0x7b22666f6f223a317d|2022-04-20 22:19:55");
    walk_free(&w);

    walk_file(&w, "rust_mysql_common/json.binlog.000001");
    EXPECT(
        &w,
        "mysql.t insert after 1|{\"age\": 24, \"data\": \"xxxxxxxxxx\", \"name\": \"Joe\"}|Joe|24",
        "mysql.t insert after 2|{\"age\": 32, \"data\": \"yyyyyyyyyy\", \"name\": \"Sue\"}|Sue|32");
    walk_free(&w);
}

static void mysql_test_suite_files(void **state)
{
    (void)state;
    NEED_FIXTURES();
    walk_t w;
    walk_file(&w, "mysql-server-std_data-GPL-2.0/write-full-row.binlog");
    EXPECT(&w, "mysql.ndb_apply_status insert after 2|25769803786||0|0",
           "test.ba insert after 4|4|40", "test.ba delete before 2|NULL|NULL");
    walk_free(&w);
    /* partial bitmap: column 2 absent from the overwrite */
    walk_file(&w, "mysql-server-std_data-GPL-2.0/write-partial-row.binlog");
    EXPECT(&w, "test.ba insert after 4|4|4", "test.ba insert after 4|NULL|40");
    walk_free(&w);
    walk_file(&w, "mysql-server-std_data-GPL-2.0/update-full-row.binlog");
    EXPECT(&w, "test.ba update before 4|4|4", "test.ba update after 4|4|40");
    walk_free(&w);
    walk_file(&w, "mysql-server-std_data-GPL-2.0/update-partial-row.binlog");
    EXPECT(&w, "test.ba update before 4|NULL|4", "test.ba update after 4|NULL|40");
    walk_free(&w);
    walk_file(&w, "mysql-server-std_data-GPL-2.0/ver_trunk_row_v2.001");
    EXPECT(&w, "test.t1 insert after 0|one", "test.t1 insert after 1|two",
           "test.t1 update before 0|one", "test.t1 update after 1|one",
           "test.t1 update before 1|two", "test.t1 update after 2|two",
           "test.t1 delete before 2|two");
    walk_free(&w);
    walk_file(&w, "mysql-server-std_data-GPL-2.0/bug32407.001");
    EXPECT(&w, "test.t1 insert after 1", "test.t1 insert after 1", "query test COMMIT");
    walk_free(&w);
    /* the hidden generated column (@2) is not in the row image */
    walk_file(&w, "mysql-server-std_data-GPL-2.0/rpl_unfiltered_hidden_gcol.000001");
    EXPECT(&w, "table test.t cols=3 names_missing=1", "test.t insert after 1|NULL|1");
    walk_free(&w);
}

static void other_mysql_files(void **state)
{
    (void)state;
    NEED_FIXTURES();
    walk_t w;
    walk_file(&w, "go-mysql/tcb-eval002c-bin.003320");
    EXPECT(&w,
           "test.decodedecimal insert after "
           "1|-10.55|-11|-10.550|-10.55|-10.550|-10.55|-9.99999999999999|"
           "-10.5500000000|-10.55000|-10.55000000000000000000|-10.5500000000000000000000000|4|2",
           "test.decodedecimal insert after 2|0.01|0|0.012|0.01|0.012|0.01|0.01234567890123|"
           "0.0123456789|0.01235|0.01234567890123456789|0.0123456789012345678912345|30|25",
           "test.decodedecimal insert after 10|0.00|0|0.000|0.00|0.000|0.00|-0.00000001234500|"
           "-0.0000000123|0.00000|-0.00000001234500009877|-0.0000000123450000987650000|30|20",
           "test.decodedecimal insert after 11|99.99|99999|9999.999|99999999.99|9999999.999|"
           "99999999999.99|9.99999999999999|9999999999.9999999999|1234500009876.50000|"
           "9999999999.99999999999999999999|99999.9999999999999999999999999|30|5");
    assert_int_equal(count_prefix(&w, "test.decodedecimal insert after "), 17);
    walk_free(&w);

    walk_file(&w, "alibaba-canal/mysql-bin.000002");
    EXPECT(&w, "retl.xdual update before 1|2012-07-09 07:21:23",
           "retl.xdual update after 1|2012-07-09 07:55:24");
    walk_free(&w);
    walk_file(&w, "alibaba-canal/mysql-bin.000001");
    EXPECT(&w, "erosa.testFile insert after 1|D:\\fileresolver\\testFile.jpg");
    assert_true(count_prefix(&w, "retl.xdual update") > 0);
    walk_free(&w);
    walk_file(&w, "alibaba-canal/tsdb-mysql-bin.000002");
    EXPECT(&w, "wanshao.wanshao_test insert after 34|kami|18");
    walk_free(&w);
    /* the column count changes under ALTER TABLE between row events */
    walk_file(&w, "alibaba-canal/tsdb-mysql-bin.000003");
    EXPECT(&w, "wanshao.wanshao_test insert after 35|helol|123|123",
           "wanshao.wanshao_test insert after 36|hel33ol|123|124|NULL",
           "wanshao.wanshao_test insert after 37|more2|123|123|555|666");
    walk_free(&w);

    walk_file(&w, "osheroff-mysql-binlog-connector-java/mysql-bin.compressed");
    EXPECT(&w, "inner QUERY", "inner TABLE_MAP", "table demo.movies cols=11 names_missing=1",
           "inner UPDATE_ROWS_V2", "inner XID");
    assert_int_equal(count_prefix(&w, "demo.movies update "), 2);
    walk_free(&w);
    /* the unknown event 100 is skipped by length; the QUERY after it decodes */
    walk_file(&w, "osheroff-mysql-binlog-connector-java/mysql-bin.aurora-padding");
    EXPECT(&w, "event T100 pos=1209", "query db_netpay BEGIN");
    walk_free(&w);
    walk_file(&w, "osheroff-mysql-binlog-connector-java/mysql-bin.sakila.gz");
    EXPECT(&w, "sakila.actor insert after 1|PENELOPE|GUINESS|2006-02-15 03:34:33");
    {
        /* 16 tables receive rows; film has YEAR 2006, DECIMAL 0.99, ENUM/SET as numbers */
        size_t tables = 0;
        for (size_t i = 0; i < w.n; i++)
            tables += strncmp(w.lines[i], "table sakila.", 13) == 0;
        assert_int_equal(tables, 16);
        bool film = false;
        for (size_t i = 0; i < w.n && !film; i++)
            film = strncmp(w.lines[i], "sakila.film insert after 1|ACADEMY DINOSAUR|0x", 46) == 0 &&
                   strstr(w.lines[i], "|2006|1|NULL|6|0.99|86|20.99|2|12|2006-02-15 04:03:42");
        assert_true(film);
    }
    walk_free(&w);

    walk_file(&w, "apecloud-mysql-binlog-connector-rust/mysql-bin.000057");
    EXPECT(&w, "previous 76f3e7be-6720-11ed-9cad-0242ac110002:1-10",
           "gtid 76f3e7be-6720-11ed-9cad-0242ac110002:11",
           "gtid 76f3e7be-6720-11ed-9cad-0242ac110002:12", "inner ROWS_QUERY",
           "gtid 76f3e7be-6720-11ed-9cad-0242ac110002:13");
    assert_int_equal(count_prefix(&w, "a.test_table_3 update "), 2);
    assert_int_equal(count_prefix(&w, "a.test_table_3 insert "), 1);
    walk_free(&w);
    walk_file(&w, "apecloud-mysql-binlog-connector-rust/mysql-bin.000080");
    EXPECT(&w, "a.b delete before 12", "a.b delete before 12", "a.emoji insert after 2|");
    walk_free(&w);

    walk_file(&w, "zendesk-maxwell/binlog.000004");
    EXPECT(&w, "previous 83759871-1141-11ed-b12d-0242ac130003:1-5",
           "gtid 83759871-1141-11ed-b12d-0242ac130003:6",
           "gtid 83759871-1141-11ed-b12d-0242ac130003:26");
    walk_free(&w);

    walk_file(&w, "rust-us-mysql-cdc-rs/5.7__31_update_rows_v2__log.bin");
    EXPECT(&w, "default.boxercrab update before 1|abc|abc|0x616263|0x616263|0x616263|1|2|3.0000",
           "default.boxercrab update after 1|xd|xd|0x7864|0x7864|0x7864|4|4|4.0000");
    walk_free(&w);
    walk_file(&w, "rust-us-mysql-cdc-rs/5.7__32_delete_rows_v2__log.bin");
    EXPECT(&w, "rows_query INSERT INTO `boxercrab` (`title`) VALUES ('abcde')",
           "default.boxercrab insert after 1|abcde", "default.boxercrab delete before 1|abcde");
    walk_free(&w);
    walk_file(&w, "rust-us-mysql-cdc-rs/5.7__16_xid__log.bin");
    EXPECT(&w, "default.boxercrab insert after 1|hahhhhhhhhh");
    walk_free(&w);
    walk_file(&w, "rust-us-mysql-cdc-rs/8.0__32_delete_rows_v2__binlog.000001");
    EXPECT(&w, "test.int_table insert after 1|11|111|1111|11111|1",
           "test.int_table update after 1|22|222|1111|11111|1",
           "test.int_table delete before 1|22|222|1111|11111|1");
    walk_free(&w);
}

static void mariadb_files(void **state)
{
    (void)state;
    NEED_FIXTURES();
    walk_t w;
    walk_file(&w, "mariadb-operator-mariadb-poc/domain_id_0__mariadb-repl-bin.000007");
    EXPECT(&w, "fde 11.8.5-MariaDB-ubu2404-log checksum=1", "gtidlist 0-10-262733",
           "mgtid 0-10-262734 flags=0x0c server=10", "mgtid 0-10-262796 flags=0x0c server=10",
           "event ROTATE pos=53814", "rotate mariadb-repl-bin.000008 4");
    assert_int_equal(count_prefix(&w, "mgtid 0-10-"), 63);
    walk_free(&w);
    walk_file(&w, "mariadb-operator-mariadb-poc/domain_id_0__mariadb-repl-bin.000010");
    /* DDL GTIDs: standalone | allow-parallel | ddl */
    EXPECT(&w, "gtidlist 0-10-292196", "mgtid 0-10-292197 flags=0x29 server=10",
           "query  ALTER USER 'repl'@'%' IDENTIFIED BY 'zk<9ZL)lpRoe452n' WITH "
           "MAX_USER_CONNECTIONS 0");
    walk_free(&w);
    walk_file(&w, "mariadb-operator-mariadb-poc/domain_id_1__mariadb-repl-bin.000002");
    EXPECT(&w, "gtidlist ", "mgtid 1-10-1 flags=0x29 server=10",
           "mgtid 1-10-12 flags=0x29 server=10");
    walk_free(&w);
    /* MariaDB 10.0: GTIDs 0-1-1..20; old-style hi-res TIMESTAMP(n) rows cannot be decoded */
    walk_file(&w, "pingcap-tiflow/mysql-bin.000001");
    EXPECT(&w, "mgtid 0-1-1 flags=0x00 server=1",
           "mysql.user delete before "
           "localhost|root||2|2|2|2|2|2|2|2|2|2|2|2|2|2|2|2|2|2|2|2|2|2|2|2|2|2|"
           "2|2|2|1|0x|0x|0x|0|0|0|0||0x|1|1",
           "mgtid 0-1-20 flags=0x00 server=1");
    for (size_t i = 0; i < w.n; i++)
        if (strncmp(w.lines[i], "error ", 6) == 0 && !strstr(w.lines[i], "of table steven.t"))
            fail_msg("unexpected: %s", w.lines[i]);
    walk_free(&w);
}

static void dump_all(void **state)
{
    (void)state;
    NEED_FIXTURES();
    const char *only = getenv("FERRY_TEST_DUMP");
    verbose = getenv("FERRY_TEST_VERBOSE") != NULL;
    for (size_t i = 0; only && i < N_INVENTORY; i++) {
        if (!strstr(inventory[i].file, only))
            continue;
        walk_t w;
        walk_file(&w, inventory[i].file);
        walk_free(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inventory_counts),
        cmocka_unit_test(inventory_is_complete),
        cmocka_unit_test(rust_mysql_common_files),
        cmocka_unit_test(mysql_test_suite_files),
        cmocka_unit_test(other_mysql_files),
        cmocka_unit_test(mariadb_files),
        cmocka_unit_test(dump_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
