/*
 * row_filter_check.c - the server and ferry's C evaluator must agree on
 * every row.
 *
 *   row_filter_check URL DB TABLE FILTER...
 *
 * For each FILTER: parses and binds it to DB.TABLE (row_filter.h), then
 * reads every row with the server's own verdict on the user's text and on
 * ferry's canonical SQL,
 *   SELECT <columns>, (<text>) IS TRUE, (<canonical>) IS TRUE FROM DB.TABLE
 * and evaluates the filter in C on the same row (asking the server where
 * C cannot decide, as capture does). Prints one line per disagreement and
 * a summary per filter ("<n> rows, <m> match, <k> asked"); exits 1 on any
 * disagreement, 2 when a filter is refused or a query fails.
 */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "err.h"
#include "link_map.h"
#include "mysql_ddl.h"
#include "mysql_rows.h"
#include "mysql_schema.h"
#include "row_filter.h"
#include "strbuf.h"

typedef struct {
    MYSQL *my;
    int asked;
} asker_t;

static int ask(void *arg, const char *sql, size_t len, int *result, char *errstr,
               size_t errstr_size)
{
    asker_t *a = arg;
    a->asked++;
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    if (mysql_real_query(a->my, sql, len) != 0 || !(res = mysql_store_result(a->my)) ||
        !(row = mysql_fetch_row(res))) {
        mysql_free_result(res);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "asking \"%.*s\": %s", (int)len,
                             sql, mysql_error(a->my));
    }
    *result = row[0] ? atoi(row[0]) != 0 : -1;
    mysql_free_result(res);
    return 0;
}

/* Checks one filter on every row; returns disagreements, or -1 on an error. */
static int check(ferry_db_t *db, const ferry_tabledef_t *def, const ferry_table_t *t,
                 const char *text)
{
    char err[1024];
    ferry_row_filter_t *f = NULL;
    if (ferry_row_filter_parse("where.check", text, &f, err, sizeof(err)) != 0 ||
        ferry_link_row_filter_bind(f, t, def, err, sizeof(err)) != 0) {
        fprintf(stderr, "refused: %s\n", err);
        ferry_row_filter_destroy(f);
        return -1;
    }
    MYSQL *my = ferry_db_mysql(db);
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&q, "SELECT ");
    ferry_mysql_rows_select_list(&q, t);
    ferry_strbuf_printf(&q, ", (%s) IS TRUE, (%s) IS TRUE FROM ", text, ferry_row_filter_sql(f));
    ferry_mysql_rows_quote_table(&q, t);
    MYSQL_RES *res = NULL;
    if (mysql_real_query(my, q.buf, q.len) != 0 || !(res = mysql_store_result(my))) {
        fprintf(stderr, "query failed: %s: %s\n", q.buf, mysql_error(my));
        ferry_strbuf_free(&q);
        ferry_row_filter_destroy(f);
        return -1;
    }
    ferry_strbuf_free(&q);
    size_t n = ferry_table_ncolumns(t);
    ferry_arena_t *arena = ferry_arena_new(0);
    asker_t a = {my, 0};
    int bad = 0, rows = 0, matched = 0;
    MYSQL_ROW cells;
    while ((cells = mysql_fetch_row(res))) {
        unsigned long *lens = mysql_fetch_lengths(res);
        ferry_row_t *row;
        ferry_arena_reset(arena);
        if (ferry_mysql_rows_convert(t, cells, lens, arena, &row, err, sizeof(err)) != 0) {
            fprintf(stderr, "could not read a row: %s\n", err);
            bad = -1;
            break;
        }
        int server = atoi(cells[n]), canon = atoi(cells[n + 1]);
        int c = ferry_row_filter_match(f, row, ask, &a, err, sizeof(err));
        rows++;
        matched += server;
        if (c < 0 || c != server || canon != server) {
            printf("DISAGREE filter [%s] row %s: server %d, canonical %d, C %d%s%s\n", text,
                   cells[0] ? cells[0] : "NULL", server, canon, c, c < 0 ? ": " : "",
                   c < 0 ? err : "");
            bad++;
        }
    }
    printf("%d rows, %d match, %d asked: %s\n", rows, matched, a.asked, text);
    mysql_free_result(res);
    ferry_arena_destroy(arena);
    ferry_row_filter_destroy(f);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: row_filter_check URL DB TABLE FILTER...\n");
        return 2;
    }
    char err[1024];
    ferry_db_t *db = NULL;
    ferry_tabledef_t *def = NULL;
    ferry_table_t *t = NULL;
    if (ferry_db_connect(argv[1], "source", 10000, &db, err, sizeof(err)) != 0 ||
        ferry_mysql_rows_session(ferry_db_mysql(db), err, sizeof(err)) != 0 ||
        ferry_mysql_schema_read_table(ferry_db_mysql(db),
                                      ferry_mysql_flavor_from_version(ferry_db_server_version(db)),
                                      argv[2], argv[3], &def, err, sizeof(err)) != 0 ||
        ferry_tabledef_to_table(def, &t, err, sizeof(err)) != 0) {
        fprintf(stderr, "row_filter_check: %s\n", err);
        return 2;
    }
    int status = 0;
    for (int i = 4; i < argc; i++) {
        int bad = check(db, def, t, argv[i]);
        if (bad < 0)
            status = 2;
        else if (bad > 0 && status == 0)
            status = 1;
    }
    ferry_table_destroy(t);
    ferry_tabledef_destroy(def);
    ferry_db_close(db);
    return status;
}
