/*
 * binlog_types.c - decode a binlog file with ferry's decoder and print it.
 *
 *   binlog_types rows FILE DB.TABLE   one line per row image of that table:
 *                                     "<op> <image> v1|v2|..." with every
 *                                     value in a canonical text (test_binlog_types.sh
 *                                     builds the same text with SQL and compares)
 *   binlog_types columns FILE DB.TABLE  the last TABLE_MAP of the table: one
 *                                     line per column (name type source charset flags)
 *   binlog_types dump FILE            every event, one line each (for people)
 *   binlog_types collation ID...      charset name of each collation id
 *
 * Canonical value text: NULL; integers in decimal; FLOAT/DOUBLE as the
 * shortest text that reads back ("e" without "+" and leading zeros, as
 * MariaDB prints); DECIMAL text; DATE/DATETIME/TIMESTAMP/TIME as the server
 * prints them with the column's fsp; YEAR as 4 digits; BIT as a number;
 * text, ENUM, SET, JSON and bytes as upper-case hex of their UTF-8 / bytes;
 * GEOMETRY as "<srid>:<hex of WKB>". Rows of events inside a MySQL
 * TRANSACTION_PAYLOAD are printed as well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "binlog.h"
#include "binlog_file.h"
#include "err.h"
#include "row.h"

static void put_hex(FILE *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%02X", (unsigned char)p[i]);
}

static void put_real(FILE *out, double d, int max_prec)
{
    char buf[48], res[48];
    for (int prec = 1; prec <= max_prec; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (max_prec == 9 ? (float)strtod(buf, NULL) == (float)d : strtod(buf, NULL) == d)
            break;
    }
    size_t o = 0;
    for (const char *p = buf; *p; p++) {
        if (*p == '+')
            continue;
        if (*p == '-' && p > buf && p[-1] == 'e') {
            res[o++] = '-';
            while (p[1] == '0' && p[2])
                p++;
            continue;
        }
        if (*p == 'e') {
            res[o++] = 'e';
            if (p[1] == '+')
                p++;
            if (p[1] != '-')
                while (p[1] == '0' && p[2])
                    p++;
            continue;
        }
        res[o++] = *p;
    }
    res[o] = '\0';
    fputs(res, out);
}

static void put_value(FILE *out, const ferry_column_t *col, const ferry_value_t *v, bool hex)
{
    char buf[64];
    if (v->is_null) {
        fputs("NULL", out);
        return;
    }
    switch (col->type) {
    case FERRY_TYPE_INT:
        fprintf(out, "%lld", (long long)v->v.i);
        break;
    case FERRY_TYPE_UINT:
    case FERRY_TYPE_BIT:
        fprintf(out, "%llu", (unsigned long long)v->v.u);
        break;
    case FERRY_TYPE_FLOAT:
        put_real(out, v->v.f, 9);
        break;
    case FERRY_TYPE_DOUBLE:
        put_real(out, v->v.d, 17);
        break;
    case FERRY_TYPE_YEAR:
        fprintf(out, "%04lld", (long long)v->v.i);
        break;
    case FERRY_TYPE_DATE:
        ferry_value_format_civil(&v->v.dt, true, 0, buf, sizeof(buf));
        fputs(buf, out);
        break;
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        ferry_value_format_civil(&v->v.dt, false, col->fsp, buf, sizeof(buf));
        fputs(buf, out);
        break;
    case FERRY_TYPE_TIME:
        ferry_value_format_time(v->v.i, col->fsp, buf, sizeof(buf));
        fputs(buf, out);
        break;
    case FERRY_TYPE_DECIMAL:
        fwrite(v->v.s.ptr, 1, v->v.s.len, out);
        break;
    case FERRY_TYPE_GEOMETRY:
        fprintf(out, "%u:", v->aux);
        put_hex(out, v->v.s.ptr, v->v.s.len);
        break;
    default:
        if (hex)
            put_hex(out, v->v.s.ptr, v->v.s.len);
        else
            fprintf(out, "'%.*s'", (int)v->v.s.len, v->v.s.ptr);
        break;
    }
}

static void put_row(FILE *out, const ferry_binlog_table_t *t, const ferry_row_t *row, bool hex)
{
    for (size_t i = 0; i < row->n; i++) {
        if (i)
            fputc('|', out);
        put_value(out, ferry_table_column(t->table, i), &row->values[i], hex);
    }
}

typedef struct {
    const char *mode;
    const char *table; /* "db.t" or NULL */
    ferry_binlog_decoder_t *d;
    ferry_arena_t *arena;
    size_t rows_printed;
} run_t;

static bool table_matches(const run_t *r, const ferry_binlog_table_t *t)
{
    char name[512];
    if (!r->table)
        return true;
    snprintf(name, sizeof(name), "%s.%s", t->db, t->name);
    return strcmp(name, r->table) == 0;
}

static void print_rows(run_t *r, const ferry_binlog_event_t *ev)
{
    static const char *const ops[] = {"?", "insert", "update", "delete"};
    const ferry_binlog_table_t *t = ev->u.rows.table;
    if (!t || !table_matches(r, t))
        return;
    bool hex = strcmp(r->mode, "rows") == 0;
    for (size_t i = 0; i < ev->u.rows.n_rows; i++) {
        if (ev->u.rows.before) {
            printf("%s before ", ops[ev->u.rows.op]);
            put_row(stdout, t, &ev->u.rows.before[i], hex);
            putchar('\n');
        }
        if (ev->u.rows.after) {
            printf("%s after ", ops[ev->u.rows.op]);
            put_row(stdout, t, &ev->u.rows.after[i], hex);
            putchar('\n');
        }
        r->rows_printed++;
    }
}

static void print_columns(const ferry_binlog_table_t *t)
{
    for (size_t i = 0; i < t->ncols; i++) {
        const ferry_column_t *c = ferry_table_column(t->table, i);
        printf("%s %s %s %s flags=0x%x binlog_flags=0x%x pk=%u members=%u\n", c->name,
               ferry_type_name(c->type), c->source_type ? c->source_type : "-",
               c->charset ? c->charset : "-", c->flags, t->cols[i].flags, c->pk_pos, c->n_members);
    }
}

static void dump_event(const ferry_binlog_event_t *ev, uint64_t off)
{
    char tb[8];
    printf("%llu %s size=%u", (unsigned long long)off, ferry_binlog_event_type_name(ev->type, tb),
           ev->event_size);
    switch (ev->kind) {
    case FERRY_BINLOG_EV_FORMAT_DESCRIPTION:
        printf(" server=%s checksum=%u", ev->u.fde.server_version, ev->u.fde.checksum_alg);
        break;
    case FERRY_BINLOG_EV_ROTATE:
        printf(" file=%s pos=%llu", ev->u.rotate.file, (unsigned long long)ev->u.rotate.pos);
        break;
    case FERRY_BINLOG_EV_QUERY:
        printf(" db=%s sql=%.*s", ev->u.query.db,
               (int)(ev->u.query.sql_len > 200 ? 200 : ev->u.query.sql_len), ev->u.query.sql);
        break;
    case FERRY_BINLOG_EV_GTID:
        printf(" gtid=%s", ev->u.gtid.text);
        break;
    case FERRY_BINLOG_EV_MARIA_GTID:
        printf(" gtid=%s flags=0x%x", ev->u.maria_gtid.text, ev->u.maria_gtid.flags);
        break;
    case FERRY_BINLOG_EV_PREVIOUS_GTIDS:
        printf(" set=%s", ev->u.previous_gtids.text);
        break;
    case FERRY_BINLOG_EV_MARIA_GTID_LIST:
        printf(" list=%s", ev->u.gtid_list.text);
        break;
    case FERRY_BINLOG_EV_TABLE_MAP:
        printf(" id=%llu %s.%s cols=%zu%s", (unsigned long long)ev->u.table_map.table->table_id,
               ev->u.table_map.table->db, ev->u.table_map.table->name, ev->u.table_map.table->ncols,
               ev->u.table_map.table->names_missing ? " names-missing" : "");
        break;
    case FERRY_BINLOG_EV_ROWS:
        printf(" rows=%zu", ev->u.rows.n_rows);
        break;
    case FERRY_BINLOG_EV_XID:
        printf(" xid=%llu", (unsigned long long)ev->u.xid.xid);
        break;
    default:
        break;
    }
    putchar('\n');
}

static int handle(run_t *r, const ferry_binlog_event_t *ev, uint64_t off, int depth);

static int handle_payload(run_t *r, const ferry_binlog_event_t *ev, int depth)
{
    size_t off = 0;
    char err[512];
    ferry_binlog_event_t inner;
    int rc;
    while ((rc = ferry_binlog_payload_next(r->d, ev, &off, r->arena, &inner, err, sizeof(err))) ==
           1)
        if (handle(r, &inner, off, depth + 1))
            return 1;
    if (rc < 0) {
        fprintf(stderr, "binlog_types: %s\n", err);
        return 1;
    }
    return 0;
}

static int handle(run_t *r, const ferry_binlog_event_t *ev, uint64_t off, int depth)
{
    if (strcmp(r->mode, "dump") == 0) {
        printf("%*s", depth * 2, "");
        dump_event(ev, off);
    }
    if (ev->kind == FERRY_BINLOG_EV_ROWS && strcmp(r->mode, "columns") != 0)
        print_rows(r, ev);
    if (ev->kind == FERRY_BINLOG_EV_TABLE_MAP && strcmp(r->mode, "columns") == 0 &&
        table_matches(r, ev->u.table_map.table)) {
        printf("table %s.%s names_missing=%d pk_known=%d\n", ev->u.table_map.table->db,
               ev->u.table_map.table->name, ev->u.table_map.table->names_missing,
               ev->u.table_map.table->pk_known);
        print_columns(ev->u.table_map.table);
    }
    if (ev->kind == FERRY_BINLOG_EV_TRANSACTION_PAYLOAD)
        return handle_payload(r, ev, depth);
    return 0;
}

static int run_file(run_t *r, const char *path)
{
    ferry_binlog_file_t *f;
    char err[512];
    if (ferry_binlog_file_open(path, &f, err, sizeof(err))) {
        fprintf(stderr, "binlog_types: %s\n", err);
        return 1;
    }
    const uint8_t *buf;
    size_t len;
    uint64_t off;
    int rc, status = 0;
    while ((rc = ferry_binlog_file_next(f, &buf, &len, &off, err, sizeof(err))) == 1) {
        ferry_binlog_event_t ev;
        ferry_arena_reset(r->arena);
        if (ferry_binlog_decode(r->d, buf, len, r->arena, &ev, err, sizeof(err))) {
            fprintf(stderr, "binlog_types: %s\n", err);
            status = 1;
            break;
        }
        if (handle(r, &ev, off, 0)) {
            status = 1;
            break;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "binlog_types: %s\n", err);
        status = 1;
    }
    ferry_binlog_file_close(f);
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "collation") == 0) {
        for (int i = 2; i < argc; i++) {
            const char *cs = ferry_binlog_collation_charset((unsigned)atoi(argv[i]));
            printf("%s %s\n", argv[i], cs ? cs : "?");
        }
        return 0;
    }
    if (argc < 3 || (strcmp(argv[1], "dump") != 0 && argc < 4)) {
        fprintf(stderr, "usage: binlog_types rows|columns FILE DB.TABLE | dump FILE | "
                        "collation ID...\n");
        return 2;
    }
    run_t r = {argv[1], argc >= 4 ? argv[3] : NULL, ferry_binlog_decoder_new(), ferry_arena_new(0),
               0};
    if (!r.d || !r.arena) {
        fprintf(stderr, "binlog_types: out of memory\n");
        return 1;
    }
    int status = run_file(&r, argv[2]);
    ferry_arena_destroy(r.arena);
    ferry_binlog_decoder_destroy(r.d);
    return status;
}
