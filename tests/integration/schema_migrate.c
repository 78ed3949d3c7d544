/*
 * schema_migrate - the MySQL-family schema layer against real servers, for
 * test_schema_migration.sh.
 *
 *   schema_migrate [MAP...] migrate SRC_URL DST_URL PATTERN OUTDIR
 *   schema_migrate exec DST_URL FILE
 *   schema_migrate [MAP...] rewrite DST_URL DEFAULT_DB SQL
 *
 * MAP options: --rename-db a:b, --rename-table a.t:b.t2, --drop-column a.t.c,
 * --include PATTERN (tables the rewrite treats as migrated; default *.*).
 *
 * migrate: lists the tables matching PATTERN, reads each definition from
 * the source, writes prechecks to OUTDIR/precheck.txt, turns the definition
 * into its JSON event form and back (the consumer's path: the DDL is then
 * generated from the parsed copy only), creates database and table on the
 * destination, writes the held-back foreign keys and triggers to
 * OUTDIR/held_back.sql and the notes to OUTDIR/notes.txt, then creates the
 * views of the source databases. Statements in .sql files are separated by
 * lines holding only ";;".
 *
 * exec: runs the statements of FILE on the destination.
 *
 * rewrite: rewrites one binlog DDL statement and runs it on the
 * destination; prints "sql: ..." or "skip: ...". A refused statement exits 3
 * with the reason on stderr.
 */
#define _GNU_SOURCE
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "mysql_ddl.h"
#include "mysql_schema.h"

static const char *include_pattern = "*.*";

static void die(const char *what, const char *err)
{
    fprintf(stderr, "schema_migrate: %s: %s\n", what, err);
    exit(1);
}

static ferry_db_t *connect_db(const char *url, const char *role)
{
    ferry_db_t *db = NULL;
    char err[512];
    if (ferry_db_connect(url, role, 10000, &db, err, sizeof(err)))
        die("connect", err);
    return db;
}

static void run_sql(ferry_db_t *db, const char *sql)
{
    MYSQL *m = ferry_db_mysql(db);
    if (mysql_real_query(m, sql, (unsigned long)strlen(sql)) != 0) {
        fprintf(stderr, "schema_migrate: could not run statement: %s\n--\n%s\n--\n", mysql_error(m),
                sql);
        exit(1);
    }
    MYSQL_RES *res = mysql_store_result(m);
    mysql_free_result(res);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        die("strdup", "out of memory");
    return d;
}

/* "a:b" into a and b (malloc'd). */
static void split2(const char *arg, char sep, char **a, char **b)
{
    const char *p = strchr(arg, sep);
    if (!p)
        die("bad argument", arg);
    *a = strndup(arg, (size_t)(p - arg));
    *b = xstrdup(p + 1);
}

static bool selected(void *arg, const char *db, const char *table)
{
    (void)arg;
    return ferry_table_pattern_match(include_pattern, db, table ? table : "");
}

static void write_list(FILE *f, char **items, size_t n, bool sql)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, sql ? "%s\n;;\n" : "%s\n", items[i]);
}

static void migrate(ferry_rename_map_t *map, char **argv)
{
    const char *src_url = argv[0], *dst_url = argv[1], *pattern = argv[2], *outdir = argv[3];
    ferry_db_t *src = connect_db(src_url, "source"), *dst = connect_db(dst_url, "destination");
    ferry_mysql_flavor_t sflavor = ferry_mysql_flavor_from_version(ferry_db_server_version(src));
    ferry_mysql_flavor_t dflavor = ferry_mysql_flavor_from_version(ferry_db_server_version(dst));
    char err[1024], path[1024];
    const char *inc[] = {pattern};
    ferry_table_name_t *names;
    size_t n;
    if (ferry_mysql_schema_list_tables(ferry_db_mysql(src), inc, 1, NULL, 0, &names, &n, err,
                                       sizeof(err)))
        die("list tables", err);
    snprintf(path, sizeof(path), "%s/precheck.txt", outdir);
    FILE *pre = fopen(path, "w");
    snprintf(path, sizeof(path), "%s/held_back.sql", outdir);
    FILE *held = fopen(path, "w");
    snprintf(path, sizeof(path), "%s/notes.txt", outdir);
    FILE *notes = fopen(path, "w");
    if (!pre || !held || !notes)
        die("open output", outdir);
    for (size_t i = 0; i < n; i++) {
        ferry_tabledef_t *def;
        if (ferry_mysql_schema_read_table(ferry_db_mysql(src), sflavor, names[i].db, names[i].table,
                                          &def, err, sizeof(err)))
            die("read table", err);
        ferry_precheck_item_t *items = NULL;
        size_t ni = 0;
        if (ferry_tabledef_precheck(def, &items, &ni) < 0)
            die("precheck", "out of memory");
        for (size_t k = 0; k < ni; k++)
            fprintf(pre, "%s: %s\n", items[k].error ? "error" : "warning", items[k].text);
        ferry_precheck_items_free(items, ni);

        /* the event's form: the consumer sees only this */
        char *json = ferry_tabledef_to_json(def);
        if (!json)
            die("to json", "out of memory");
        snprintf(path, sizeof(path), "%s/%s.%s.json", outdir, names[i].db, names[i].table);
        FILE *jf = fopen(path, "w");
        if (jf) {
            fputs(json, jf);
            fclose(jf);
        }
        ferry_tabledef_t *copy;
        if (ferry_tabledef_from_json(json, strlen(json), &copy, err, sizeof(err)))
            die("from json", err);
        if (!ferry_tabledef_equal(def, copy))
            die("json round trip", names[i].table);
        free(json);
        ferry_tabledef_destroy(def);

        ferry_ddl_plan_t plan;
        if (ferry_mysql_ddl_plan(copy, map, dflavor, &plan, err, sizeof(err)))
            die("plan", err);
        run_sql(dst, plan.create_database);
        run_sql(dst, plan.create_table);
        printf("created %s.%s\n", names[i].db, names[i].table);
        write_list(held, plan.held_back, plan.n_held_back, true);
        write_list(notes, plan.notes, plan.n_notes, false);
        ferry_ddl_plan_free(&plan);
        ferry_tabledef_destroy(copy);
    }
    /* views of every database that had a selected table */
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(names[i].db, names[i - 1].db) == 0)
            continue;
        ferry_viewlist_t views;
        if (ferry_mysql_schema_read_views(ferry_db_mysql(src), names[i].db, &views, err,
                                          sizeof(err)))
            die("read views", err);
        for (size_t k = 0; k < views.n; k++) {
            char *sql;
            if (ferry_mysql_ddl_create_view(&views.views[k], map, &sql, err, sizeof(err)))
                die("view", err);
            run_sql(dst, sql);
            printf("created view %s.%s\n", views.views[k].db, views.views[k].name);
            free(sql);
        }
        ferry_viewlist_free(&views);
    }
    fclose(pre);
    fclose(held);
    fclose(notes);
    ferry_table_names_free(names, n);
    ferry_db_close(src);
    ferry_db_close(dst);
}

static void exec_file(char **argv)
{
    ferry_db_t *dst = connect_db(argv[0], "destination");
    FILE *f = fopen(argv[1], "r");
    if (!f)
        die("open", argv[1]);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    char *stmt = NULL;
    size_t slen = 0;
    FILE *mem = open_memstream(&stmt, &slen);
    while ((len = getline(&line, &cap, f)) > 0) {
        if (strcmp(line, ";;\n") == 0) {
            fflush(mem);
            if (slen > 0 && stmt[slen - 1] == '\n')
                stmt[slen - 1] = '\0';
            run_sql(dst, stmt);
            fclose(mem);
            free(stmt);
            stmt = NULL;
            slen = 0;
            mem = open_memstream(&stmt, &slen);
        } else {
            fputs(line, mem);
        }
    }
    fclose(mem);
    free(stmt);
    free(line);
    fclose(f);
    ferry_db_close(dst);
}

static int rewrite(ferry_rename_map_t *map, char **argv)
{
    const char *sql = argv[2];
    ferry_ddl_rewrite_t r;
    char err[1024];
    int rc = ferry_mysql_ddl_rewrite(argv[1], sql, strlen(sql), 0, map, selected, NULL, &r, err,
                                     sizeof(err));
    if (rc) {
        fprintf(stderr, "%s\n", err);
        ferry_ddl_rewrite_free(&r);
        return 3;
    }
    printf("kind: %s\n", ferry_ddl_kind_name(r.kind));
    for (size_t i = 0; i < r.n_dropped_columns; i++)
        printf("dropped column: %s\n", r.dropped_columns[i]);
    if (r.sql) {
        printf("sql: %s\n", r.sql);
        ferry_db_t *dst = connect_db(argv[0], "destination");
        run_sql(dst, r.sql);
        ferry_db_close(dst);
    } else {
        printf("skip: %s\n", r.skip_reason);
    }
    ferry_ddl_rewrite_free(&r);
    return 0;
}

int main(int argc, char **argv)
{
    ferry_db_global_init();
    ferry_rename_map_t *map = ferry_rename_map_new();
    if (!map)
        die("map", "out of memory");
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        char *a, *b, *c, *d;
        if (strcmp(argv[i], "--rename-db") == 0) {
            split2(argv[i + 1], ':', &a, &b);
            ferry_rename_map_add_db(map, a, b);
            free(a);
            free(b);
        } else if (strcmp(argv[i], "--rename-table") == 0) {
            char *from, *to;
            split2(argv[i + 1], ':', &from, &to);
            split2(from, '.', &a, &b);
            split2(to, '.', &c, &d);
            ferry_rename_map_add_table(map, a, b, c, d);
            free(from), free(to), free(a), free(b), free(c), free(d);
        } else if (strcmp(argv[i], "--drop-column") == 0) {
            char *rest;
            split2(argv[i + 1], '.', &a, &rest);
            split2(rest, '.', &b, &c);
            ferry_rename_map_filter_column(map, a, b, c, false);
            free(rest), free(a), free(b), free(c);
        } else if (strcmp(argv[i], "--include") == 0) {
            include_pattern = argv[i + 1];
        } else {
            die("unknown option", argv[i]);
        }
    }
    int rc = 0;
    if (i < argc && strcmp(argv[i], "migrate") == 0 && argc - i == 5)
        migrate(map, argv + i + 1);
    else if (i < argc && strcmp(argv[i], "exec") == 0 && argc - i == 3)
        exec_file(argv + i + 1);
    else if (i < argc && strcmp(argv[i], "rewrite") == 0 && argc - i == 4)
        rc = rewrite(map, argv + i + 1);
    else
        die("usage", "see the comment at the top of schema_migrate.c");
    ferry_rename_map_destroy(map);
    ferry_db_global_cleanup();
    return rc;
}
