/*
 * precheck_link.c - the whole precheck of a MySQL-family link: source,
 * tables and destination (see precheck.h).
 */
#include "precheck.h"

#include "conf.h"
#include "db.h"
#include "err.h"
#include "kafka.h"
#include "link_map.h"
#include "mysql_ddl.h"
#include "mysql_schema.h"
#include "url.h"

#include <mysql.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Selected tables of the source, or NULL with a finding recorded. */
static ferry_table_name_t *selected_tables(const ferry_conf_t *conf, ferry_db_t *src, size_t *n,
                                           ferry_precheck_t *p)
{
    ferry_table_name_t *names;
    char err[512];
    if (ferry_link_list_tables(conf, ferry_db_mysql(src), &names, n, err, sizeof(err)) != 0) {
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR, "source: could not list tables: %s", err);
        return NULL;
    }
    if (*n == 0)
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR,
                           "source: no table matches tables.include \"%s\" (minus "
                           "tables.exclude)",
                           ferry_conf_get(conf, "tables.include"));
    return names;
}

/*
 * The row filter of def's table (columns already filtered): it parses, names
 * only columns that travel, compares them as ferry can, and the source
 * accepts the SQL the full load will send.
 */
static void check_row_filter(const ferry_conf_t *conf, ferry_db_t *src, const ferry_tabledef_t *def,
                             ferry_precheck_t *p)
{
    char err[768];
    ferry_table_t *t = NULL;
    ferry_row_filter_t *f = NULL;
    int rc;
    if (ferry_tabledef_to_table(def, &t, err, sizeof(err)) != 0) /* reported by the type check */
        rc = ferry_row_filter_from_conf(conf, def->db, def->name, &f, err, sizeof(err));
    else
        rc = ferry_link_row_filter(conf, def->db, def->name, t, def, &f, err, sizeof(err));
    if (rc != 0)
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR, "%s", err);
    if (rc == 0 && f && t) {
        MYSQL *my = ferry_db_mysql(src);
        ferry_strbuf_t q = FERRY_STRBUF_INIT;
        ferry_strbuf_puts(&q, "SELECT 1 FROM ");
        ferry_mysql_quote_ident(&q, def->db);
        ferry_strbuf_puts(&q, ".");
        ferry_mysql_quote_ident(&q, def->name);
        ferry_strbuf_printf(&q, " WHERE (%s) LIMIT 0", ferry_row_filter_sql(f));
        if (!q.oom && mysql_real_query(my, q.buf, q.len) != 0)
            ferry_precheck_add(p, FERRY_PRECHECK_ERROR, "row filter %s: the source refuses it: %s",
                               ferry_row_filter_key(f), mysql_error(my));
        else
            mysql_free_result(mysql_store_result(my));
        ferry_strbuf_free(&q);
    }
    ferry_row_filter_destroy(f);
    ferry_table_destroy(t);
}

static void check_tables(const ferry_conf_t *conf, ferry_db_t *src, ferry_table_name_t *names,
                         size_t n, const ferry_rename_map_t *map, bool started, ferry_precheck_t *p)
{
    ferry_mysql_flavor_t flavor = ferry_mysql_flavor_from_version(ferry_db_server_version(src));
    for (size_t i = 0; i < n; i++) {
        ferry_tabledef_t *def = NULL;
        char err[512];
        if (ferry_mysql_schema_read_table(ferry_db_mysql(src), flavor, names[i].db, names[i].table,
                                          &def, err, sizeof(err)) != 0) {
            ferry_precheck_add(p, FERRY_PRECHECK_ERROR, "source: could not read `%s`.`%s`: %s",
                               names[i].db, names[i].table, err);
            continue;
        }
        ferry_precheck_item_t *items = NULL;
        size_t n_items = 0;
        ferry_tabledef_precheck(def, &items, &n_items);
        for (size_t k = 0; k < n_items; k++)
            ferry_precheck_add(p, items[k].error ? FERRY_PRECHECK_ERROR : FERRY_PRECHECK_WARNING,
                               "%s", items[k].text);
        ferry_precheck_items_free(items, n_items);
        /* a column dropped since the link started is a warning: the link goes on without it */
        if (ferry_link_filter_columns_known(conf, def, err, sizeof(err)) != 0)
            ferry_precheck_add(p, started ? FERRY_PRECHECK_WARNING : FERRY_PRECHECK_ERROR, "%s",
                               err);
        if (ferry_link_filter_columns(def, map, err, sizeof(err)) != 0)
            ferry_precheck_add(p, FERRY_PRECHECK_ERROR, "%s", err);
        else
            check_row_filter(conf, src, def, p);
        ferry_tabledef_destroy(def);
    }
}

typedef struct {
    ferry_precheck_t *p;
    MYSQL *src;
    bool started;
} unmatched_t;

/* Whether the source has a table whose "db.table" is name. */
static bool source_has(MYSQL *my, const char *name)
{
    size_t n = strlen(name);
    char *esc = malloc(2 * n + 1);
    if (!esc)
        return false;
    mysql_real_escape_string(my, esc, name, (unsigned long)n);
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_printf(&q,
                        "SELECT 1 FROM information_schema.TABLES WHERE CONCAT(TABLE_SCHEMA, '.', "
                        "TABLE_NAME) = '%s' LIMIT 1",
                        esc);
    free(esc);
    bool has = false;
    if (!q.oom && mysql_real_query(my, q.buf, q.len) == 0) {
        MYSQL_RES *r = mysql_store_result(my);
        has = r && mysql_num_rows(r) > 0;
        mysql_free_result(r);
    }
    ferry_strbuf_free(&q);
    return has;
}

/*
 * A per-table key naming no selected table: refused before the link starts
 * when the source has no such table either (a misspelt name would leave
 * its columns or rows unfiltered); a warning for a table left out on
 * purpose, and once the link has started (a table dropped or renamed since
 * must not keep the link from restarting).
 */
static void report_unmatched(void *arg, const char *key, const char *name)
{
    unmatched_t *u = arg;
    if (u->started)
        ferry_precheck_add(u->p, FERRY_PRECHECK_WARNING,
                           "%s names no table the project selects (dropped or renamed since the "
                           "link started?)",
                           key);
    else if (source_has(u->src, name))
        ferry_precheck_add(u->p, FERRY_PRECHECK_WARNING,
                           "%s names a table the project does not select (tables.include, "
                           "tables.exclude): it does nothing",
                           key);
    else
        ferry_precheck_add(u->p, FERRY_PRECHECK_ERROR,
                           "%s names no table the project selects: check the database and table "
                           "names (tables.include, tables.exclude)",
                           key);
}

static int stop_at_first(void *arg, const ferry_kafka_msg_t *msg)
{
    (void)msg;
    *(bool *)arg = true;
    return 1;
}

/*
 * True once the link has started: its ddl topic holds an event. Rows at the
 * destination are then ferry's own.
 */
static bool link_started(const ferry_conf_t *conf)
{
    char topic[300], err[256];
    snprintf(topic, sizeof(topic), "ferry.%s.fwd.ddl", ferry_conf_get(conf, "project.name"));
    bool any = false;
    ferry_kafka_read_partition(ferry_conf_kafka_props(conf), topic, 0,
                               (int)ferry_conf_get_int(conf, "connect.timeout.ms"), stop_at_first,
                               &any, err, sizeof(err));
    return any;
}

static void check_destination(const ferry_conf_t *conf, ferry_table_name_t *names, size_t n,
                              bool started, const ferry_rename_map_t *map, ferry_precheck_t *p)
{
    ferry_db_t *dst;
    char err[768];
    int timeout = (int)ferry_conf_get_int(conf, "connect.timeout.ms");
    if (ferry_db_connect(ferry_conf_get(conf, "destination.url"), "destination", timeout, &dst, err,
                         sizeof(err)) != 0) {
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR, "%s", err);
        return;
    }
    MYSQL *my = ferry_db_mysql(dst);
    if (!my) {
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR,
                           "destination: only MySQL-family destinations are supported");
        ferry_db_close(dst);
        return;
    }
    /*
     * writable: ferry keeps its bookkeeping in ferry_meta there. The probe
     * table is named after this connection, so that the prechecks of links
     * sharing a destination do not drop each other's.
     */
    char create[128], drop[128];
    unsigned long id = mysql_thread_id(my);
    snprintf(create, sizeof(create),
             "CREATE TABLE IF NOT EXISTS ferry_meta.ferry_precheck_%lu (x INT)", id);
    snprintf(drop, sizeof(drop), "DROP TABLE ferry_meta.ferry_precheck_%lu", id);
    if (mysql_query(my, "CREATE DATABASE IF NOT EXISTS ferry_meta") != 0 ||
        mysql_query(my, create) != 0 || mysql_query(my, drop) != 0)
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR,
                           "destination: the user may not create databases and tables (%s): "
                           "GRANT CREATE, DROP, INSERT, UPDATE, DELETE, ALTER, INDEX",
                           mysql_error(my));
    bool keep = ferry_conf_get_bool(conf, "destination.keep.rows") || started;
    for (size_t i = 0; i < n && !keep; i++) {
        const char *db, *table;
        ferry_rename_map_table(map, names[i].db, names[i].table, &db, &table);
        ferry_strbuf_t q = FERRY_STRBUF_INIT;
        ferry_strbuf_puts(&q, "SELECT 1 FROM ");
        ferry_mysql_quote_ident(&q, db);
        ferry_strbuf_puts(&q, ".");
        ferry_mysql_quote_ident(&q, table);
        ferry_strbuf_puts(&q, " LIMIT 1");
        if (!q.oom && mysql_real_query(my, q.buf, q.len) == 0) {
            MYSQL_RES *r = mysql_store_result(my);
            if (r && mysql_num_rows(r) > 0)
                ferry_precheck_add(p, FERRY_PRECHECK_ERROR,
                                   "destination: table `%s`.`%s` already holds rows: empty it, "
                                   "or set destination.keep.rows=true",
                                   db, table);
            mysql_free_result(r);
        }
        ferry_strbuf_free(&q);
    }
    ferry_db_close(dst);
}

int ferry_precheck_link(const ferry_conf_t *conf, ferry_precheck_t *p)
{
    const char *src_url = ferry_conf_get(conf, "source.url");
    ferry_url_t u;
    if (ferry_url_parse(src_url, &u, NULL, 0) == 0) {
        bool mysql_family = ferry_engine_is_mysql_family(u.engine);
        const char *engine = ferry_engine_name(u.engine);
        ferry_url_free(&u);
        if (!mysql_family) {
            ferry_precheck_add(p, FERRY_PRECHECK_ERROR,
                               "source: %s sources are not supported by the link yet (only "
                               "ferry-verifier reads them); source.url must be a MySQL-family "
                               "database (mysql://, mariadb://, oceanbase://, tidb://)",
                               engine);
            return FERRY_ERR_UNSUPPORTED;
        }
    }
    int timeout = (int)ferry_conf_get_int(conf, "connect.timeout.ms");
    int rc = ferry_precheck_mysql_source(src_url, ferry_conf_replica_server_id(conf), timeout, p);
    if (rc != 0)
        return rc;
    ferry_db_t *src;
    char err[768];
    if (ferry_db_connect(src_url, "source", timeout, &src, err, sizeof(err)) != 0) {
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR, "%s", err);
        return FERRY_ERR_IO;
    }
    size_t n = 0;
    ferry_table_name_t *names = selected_tables(conf, src, &n, p);
    ferry_rename_map_t *map = NULL;
    if (names && ferry_link_map_new(conf, names, n, &map, err, sizeof(err)) != 0)
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR, "%s", err);
    if (names && map) {
        bool started = link_started(conf);
        unmatched_t um = {p, ferry_db_mysql(src), started};
        ferry_link_unmatched_table_keys(conf, names, n, report_unmatched, &um);
        check_tables(conf, src, names, n, map, started, p);
        check_destination(conf, names, n, started, map, p);
    }
    ferry_rename_map_destroy(map);
    ferry_table_names_free(names, n);
    ferry_db_close(src);
    return 0;
}
