/*
 * consumer_feed - plays the producer's part of the MySQL-family link for
 * ferry-consumer's tests, with the library pieces (no ferry-producer yet).
 *
 *   consumer_feed schema  <bootstrap> <project> <source url> <db> <table>...
 *   consumer_feed load    <bootstrap> <project> <source url> <db> <table>...
 *   consumer_feed changes <bootstrap> <project> <source url> <db> <ops file>
 *   consumer_feed dlq     <bootstrap> <project> <count>
 *   consumer_feed copy    <bootstrap> <project> <topic>
 *
 * schema: creates the link's topics, reads each table's definition from the
 * source and publishes SNAPSHOT_TABLE to <prefix>.ddl with P0 = SHOW MASTER
 * STATUS. DdlEvents are encoded by libferry/ddl_event.h (avro-c: the record
 * is small and fixed, and the input is trusted).
 * load: runs the full-load planner and one worker (fullload.h) until every
 * chunk is done, reads H = SHOW MASTER STATUS and publishes SNAPSHOT_DONE
 * with the chunk count of each table; prints "H <file>:<pos>".
 * changes: runs each operation of the ops file on the source and publishes
 * its change event, built from the rows read back before and after, with
 * source file/pos = SHOW MASTER STATUS after the statement. One operation
 * per line: "<c|u|d>|<table>|<WHERE clause naming the row>|<SQL to run>".
 * dlq: reads <count> messages of <prefix>.dlq and prints their headers,
 * one message per line.
 * copy: publishes every message of <topic> again, each to its partition:
 * what a reader of ferry-devkafka sees after a capture group that reached
 * the broker was aborted and replayed (the same events at later offsets).
 */
#include "common.h"

#include "avro_codec.h"
#include "avro_schema.h"
#include "db.h"
#include "ddl_event.h"
#include "err.h"
#include "fullload.h"
#include "kafka.h"
#include "mysql_rows.h"
#include "mysql_schema.h"
#include "registry.h"
#include "strbuf.h"
#include "topics.h"

#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PARTS 4

static const char *bootstrap, *project, *source_url, *dbname;
static char prefix[256];
static const char *const *kprops;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ferry_kafka_producer_t *open_producer(void)
{
    char err[512];
    ferry_kafka_producer_t *p;
    if (ferry_kafka_producer_new(&p, kprops, NULL, err, sizeof(err)) != 0)
        itest_die("could not create a producer", err);
    return p;
}

static void create_topic(const char *topic, int parts)
{
    char err[512];
    if (ferry_kafka_topic_create(kprops, topic, parts, -1, NULL, 1, 20000, err, sizeof(err)) != 0)
        itest_die("could not create a topic", err);
}

/* Publishes one DdlEvent for db.table. */
static void publish_ddl(ferry_registry_t *reg, ferry_kafka_producer_t *p, ferry_ddl_event_t *ev)
{
    char topic[300], err[512], key[300];
    snprintf(topic, sizeof(topic), "%s.ddl", prefix);
    uint8_t hdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t hdr_len;
    if (ferry_registry_header_for(reg, topic, 0, ferry_ddl_event_schema(), hdr, &hdr_len, err,
                                  sizeof(err)) != 0)
        itest_die("could not store the DdlEvent schema", err);
    ferry_avro_buf_t buf = {0};
    ferry_avro_buf_reserve(&buf, hdr_len);
    memcpy(buf.data, hdr, hdr_len);
    buf.len = hdr_len;
    if (ferry_ddl_event_encode(ev, &buf, err, sizeof(err)) != 0)
        itest_die("could not encode a DdlEvent", err);
    snprintf(key, sizeof(key), "%s.%s", ev->db, ev->table);
    ferry_kafka_record_t rec = {topic, 0, key, strlen(key), buf.data, buf.len, NULL, 0};
    if (ferry_kafka_produce(p, &rec, err, sizeof(err)) != 0 ||
        ferry_kafka_producer_flush(p, 20000, err, sizeof(err)) != 0)
        itest_die("could not publish a DdlEvent", err);
    ferry_avro_buf_free(&buf);
}

/* ---- schema ---------------------------------------------------------------- */

static int cmd_schema(int n, char **tables)
{
    char topic[300], file[256];
    uint64_t pos;
    snprintf(topic, sizeof(topic), "%s.ddl", prefix);
    create_topic(topic, 1);
    snprintf(topic, sizeof(topic), "%s.dlq", prefix);
    create_topic(topic, PARTS);
    ferry_db_t *db = itest_connect_source(source_url);
    ferry_registry_t *reg = itest_open_registry(project, NULL, kprops);
    ferry_kafka_producer_t *p = open_producer();
    itest_master_status(ferry_db_mysql(db), file, sizeof(file), &pos);
    for (int i = 0; i < n; i++) {
        ferry_topic_changes(prefix, dbname, tables[i], topic, sizeof(topic));
        create_topic(topic, PARTS);
        ferry_topic_snapshot(prefix, dbname, tables[i], topic, sizeof(topic));
        create_topic(topic, PARTS);
        ferry_tabledef_t *def = itest_read_def(db, dbname, tables[i]);
        char *json = ferry_tabledef_to_json(def);
        char full[300];
        snprintf(full, sizeof(full), "%s.%s", dbname, tables[i]);
        const char *names[] = {full};
        ferry_ddl_event_t ev = {.connector = "mariadb",
                                .db = dbname,
                                .table = tables[i],
                                .kind = "SNAPSHOT_TABLE",
                                .statement = "",
                                .ts_ms = now_ms(),
                                .file = file,
                                .has_pos = true,
                                .pos = pos,
                                .tables = names,
                                .n_tables = 1,
                                .table_definition = json};
        publish_ddl(reg, p, &ev);
        printf("schema %s\n", full);
        free(json);
        ferry_tabledef_destroy(def);
    }
    ferry_kafka_producer_destroy(p, 5000);
    ferry_registry_destroy(reg);
    ferry_db_close(db);
    return 0;
}

/* ---- load ------------------------------------------------------------------ */

static void run_load(ferry_table_t **tables, int n, ferry_registry_t *reg,
                     ferry_fullload_progress_t *prog)
{
    char err[1024];
    ferry_fullload_planner_conf_t pc = {.project = project,
                                        .kafka_props = kprops,
                                        .source_url = source_url,
                                        .chunk_rows = 50,
                                        .max_outstanding = 64,
                                        .tasks_partitions = 2,
                                        .timeout_ms = 20000};
    ferry_fullload_worker_conf_t wc = {.project = project,
                                       .prefix = prefix,
                                       .worker_id = "feed",
                                       .kafka_props = kprops,
                                       .source_url = source_url,
                                       .registry = reg,
                                       .connector = "mariadb",
                                       .snapshot_partitions = PARTS,
                                       .timeout_ms = 20000};
    ferry_fullload_planner_t *pl;
    ferry_fullload_worker_t *w;
    if (ferry_fullload_planner_new(&pc, (const ferry_table_t *const *)tables, (size_t)n, &pl, err,
                                   sizeof(err)) != 0 ||
        ferry_fullload_worker_new(&wc, &w, err, sizeof(err)) != 0)
        itest_die("could not start the full load", err);
    time_t deadline = time(NULL) + 60;
    int rc;
    while ((rc = ferry_fullload_planner_step(pl, 20, err, sizeof(err))) == 0) {
        ferry_fullload_result_t res;
        if (ferry_fullload_worker_poll(w, 100, &res, err, sizeof(err)) != 0)
            itest_die("worker failed", err);
        if (time(NULL) > deadline)
            itest_die("full load", "not finished within 60 s");
    }
    if (rc < 0)
        itest_die("planner failed", err);
    ferry_fullload_planner_progress(pl, prog, (size_t)n);
    ferry_fullload_worker_destroy(w);
    ferry_fullload_planner_destroy(pl);
}

static int cmd_load(int n, char **names)
{
    ferry_db_t *db = itest_connect_source(source_url);
    ferry_registry_t *reg = itest_open_registry(project, NULL, kprops);
    ferry_table_t **tables = calloc((size_t)n, sizeof(*tables));
    ferry_fullload_progress_t *prog = calloc((size_t)n, sizeof(*prog));
    char err[512], file[256];
    for (int i = 0; i < n; i++) {
        ferry_tabledef_t *def = itest_read_def(db, dbname, names[i]);
        if (ferry_tabledef_to_table(def, &tables[i], err, sizeof(err)) != 0)
            itest_die("could not map a table", err);
        ferry_tabledef_destroy(def);
    }
    run_load(tables, n, reg, prog);
    uint64_t pos;
    itest_master_status(ferry_db_mysql(db), file, sizeof(file), &pos);
    ferry_kafka_producer_t *p = open_producer();
    for (int i = 0; i < n; i++) {
        char full[300];
        snprintf(full, sizeof(full), "%s.%s", dbname, names[i]);
        const char *tn[] = {full};
        ferry_ddl_event_t ev = {.connector = "mariadb",
                                .db = dbname,
                                .table = names[i],
                                .kind = "SNAPSHOT_DONE",
                                .statement = "",
                                .ts_ms = now_ms(),
                                .file = file,
                                .has_pos = true,
                                .pos = pos,
                                .tables = tn,
                                .n_tables = 1,
                                .has_chunks = true,
                                .chunks = prog[i].chunks_total};
        publish_ddl(reg, p, &ev);
        printf("done %s chunks=%lld rows=%lld\n", full, (long long)prog[i].chunks_total,
               (long long)prog[i].rows_copied);
        ferry_table_destroy(tables[i]);
    }
    printf("H %s:%lld\n", file, (long long)pos);
    ferry_kafka_producer_destroy(p, 5000);
    free(tables);
    free(prog);
    ferry_registry_destroy(reg);
    ferry_db_close(db);
    return 0;
}

/* ---- changes --------------------------------------------------------------- */

/* What publishing changes of one table takes. */
typedef struct {
    char *name;
    char topic[300];
    ferry_table_t *t;
    ferry_avro_codec_t *env, *key;
    uint8_t vhdr[FERRY_WIRE_SOE_HDR_LEN], khdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t vhdr_len, khdr_len;
} feed_table_t;

static feed_table_t *feed_table(feed_table_t *ft, int *n, const char *name, ferry_db_t *db,
                                ferry_registry_t *reg)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(ft[i].name, name))
            return &ft[i];
    feed_table_t *f = &ft[(*n)++];
    char err[512];
    ferry_tabledef_t *def = itest_read_def(db, dbname, name);
    ferry_avro_schemas_t s;
    f->name = strdup(name);
    ferry_topic_changes(prefix, dbname, name, f->topic, sizeof(f->topic));
    if (ferry_tabledef_to_table(def, &f->t, err, sizeof(err)) != 0 ||
        ferry_avro_schema_generate(f->t, prefix, &s, err, sizeof(err)) != 0 ||
        ferry_avro_codec_new(s.envelope_json, strlen(s.envelope_json), &f->env, err, sizeof(err)) !=
            0 ||
        ferry_registry_header_for(reg, f->topic, 0, s.envelope_json, f->vhdr, &f->vhdr_len, err,
                                  sizeof(err)) != 0)
        itest_die("could not prepare the change schemas", err);
    if (s.key_json &&
        (ferry_avro_codec_new(s.key_json, strlen(s.key_json), &f->key, err, sizeof(err)) != 0 ||
         ferry_registry_header_for(reg, f->topic, 1, s.key_json, f->khdr, &f->khdr_len, err,
                                   sizeof(err)) != 0))
        itest_die("could not prepare the key schema", err);
    ferry_avro_schema_release(&s);
    ferry_tabledef_destroy(def);
    return f;
}

/* The first row matching where, or NULL; its values point into *res (free it after use). */
static ferry_row_t *read_row(MYSQL *my, const feed_table_t *f, const char *where, ferry_arena_t *a,
                             MYSQL_RES **keep)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    char err[512];
    ferry_strbuf_puts(&q, "SELECT ");
    ferry_mysql_rows_select_list(&q, f->t);
    ferry_strbuf_puts(&q, " FROM ");
    ferry_mysql_rows_quote_table(&q, f->t);
    ferry_strbuf_printf(&q, " WHERE %s LIMIT 1", where);
    if (mysql_real_query(my, q.buf, q.len) != 0)
        itest_die(q.buf, mysql_error(my));
    ferry_strbuf_free(&q);
    MYSQL_RES *res = mysql_store_result(my);
    MYSQL_ROW cells = res ? mysql_fetch_row(res) : NULL;
    ferry_row_t *row = NULL;
    if (cells && ferry_mysql_rows_convert(f->t, cells, mysql_fetch_lengths(res), a, &row, err,
                                          sizeof(err)) != 0)
        itest_die("could not read a row", err);
    *keep = res;
    return row;
}

static void publish_change(ferry_kafka_producer_t *p, const feed_table_t *f, ferry_change_t *ev)
{
    char err[512];
    ferry_avro_buf_t key = {0}, val = {0};
    ferry_avro_buf_reserve(&val, f->vhdr_len);
    memcpy(val.data, f->vhdr, f->vhdr_len);
    val.len = f->vhdr_len;
    if (ferry_avro_codec_encode_change(f->env, ev, &val, err, sizeof(err)) != 0)
        itest_die("could not encode a change", err);
    if (f->key) {
        ferry_avro_buf_reserve(&key, f->khdr_len);
        memcpy(key.data, f->khdr, f->khdr_len);
        key.len = f->khdr_len;
        if (ferry_avro_codec_encode_key(f->key, ev->after ? ev->after : ev->before, &key, err,
                                        sizeof(err)) != 0)
            itest_die("could not encode a key", err);
    }
    /* by key hash, as a producer would; a table without key keeps one partition */
    ferry_kafka_record_t rec = {f->topic, f->key ? FERRY_KAFKA_PARTITION_ANY : 0,
                                key.data, key.len,
                                val.data, val.len,
                                NULL,     0};
    if (ferry_kafka_produce(p, &rec, err, sizeof(err)) != 0)
        itest_die("could not produce a change", err);
    ferry_avro_buf_free(&key);
    ferry_avro_buf_free(&val);
}

static void one_op(MYSQL *my, ferry_kafka_producer_t *p, feed_table_t *f, char op,
                   const char *where, const char *sql, ferry_arena_t *a)
{
    MYSQL_RES *r1 = NULL, *r2 = NULL;
    ferry_row_t *before = op == 'c' ? NULL : read_row(my, f, where, a, &r1);
    if (mysql_query(my, sql) != 0)
        itest_die(sql, mysql_error(my));
    ferry_row_t *after = op == 'd' ? NULL : read_row(my, f, where, a, &r2);
    if ((op != 'c' && !before) || (op != 'd' && !after))
        itest_die("operation found no row", where);
    char file[256];
    uint64_t pos;
    itest_master_status(my, file, sizeof(file), &pos);
    ferry_change_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.op = op;
    ev.before = before;
    ev.after = after;
    ev.source = (ferry_source_t){.version = "test",
                                 .connector = "mariadb",
                                 .name = prefix,
                                 .ts_ms = now_ms(),
                                 .db = dbname,
                                 .table = f->name,
                                 .file = file,
                                 .pos = pos,
                                 .present = FERRY_SOURCE_POS};
    ev.has_ts_ms = true;
    ev.ts_ms = now_ms();
    publish_change(p, f, &ev);
    if (r1)
        mysql_free_result(r1);
    if (r2)
        mysql_free_result(r2);
}

static int cmd_changes(const char *path)
{
    FILE *in = fopen(path, "r");
    if (!in)
        itest_die("could not open the ops file", path);
    ferry_db_t *db = itest_connect_source(source_url);
    ferry_registry_t *reg = itest_open_registry(project, NULL, kprops);
    ferry_kafka_producer_t *p = open_producer();
    feed_table_t ft[32];
    memset(ft, 0, sizeof(ft));
    int nft = 0, nops = 0;
    ferry_arena_t *a = ferry_arena_new(0);
    char line[8192], err[512];
    while (fgets(line, sizeof(line), in)) {
        line[strcspn(line, "\n")] = '\0';
        char *table = strchr(line, '|'), *where = table ? strchr(table + 1, '|') : NULL,
             *sql = where ? strchr(where + 1, '|') : NULL;
        if (!sql)
            continue;
        *table++ = *where++ = *sql++ = '\0';
        feed_table_t *f = feed_table(ft, &nft, table, db, reg);
        one_op(ferry_db_mysql(db), p, f, line[0], where, sql, a);
        ferry_arena_reset(a);
        if (++nops % 200 == 0 && ferry_kafka_producer_flush(p, 20000, err, sizeof(err)) != 0)
            itest_die("could not flush", err);
    }
    if (ferry_kafka_producer_flush(p, 20000, err, sizeof(err)) != 0)
        itest_die("could not flush", err);
    printf("changes %d\n", nops);
    fclose(in);
    ferry_arena_destroy(a);
    for (int i = 0; i < nft; i++) {
        free(ft[i].name);
        ferry_table_destroy(ft[i].t);
        ferry_avro_codec_destroy(ft[i].env);
        ferry_avro_codec_destroy(ft[i].key);
    }
    ferry_kafka_producer_destroy(p, 5000);
    ferry_registry_destroy(reg);
    ferry_db_close(db);
    return 0;
}

/* ---- dlq ------------------------------------------------------------------- */

static int cmd_dlq(int want)
{
    char topic[300], err[512];
    snprintf(topic, sizeof(topic), "%s.dlq", prefix);
    int parts = 0;
    ferry_kafka_consumer_t *c = itest_reader(kprops, topic, "feed-dlq", &parts);
    if (!c)
        itest_die("could not read the dlq", "no dlq topic");
    int got = 0;
    for (int idle = 0; got < want && idle < 100;) {
        ferry_kafka_msg_t *m = NULL;
        if (ferry_kafka_consumer_poll(c, 100, &m, err, sizeof(err)) == FERRY_ERR_FATAL)
            itest_die("could not read the dlq", err);
        if (!m) {
            idle++;
            continue;
        }
        const char *name;
        const void *val;
        size_t len;
        printf("value_len=%zu", m->value_len);
        for (size_t i = 0; ferry_kafka_msg_header(m, i, &name, &val, &len) == 0; i++)
            printf(" %s=%.*s", name, (int)len, val ? (const char *)val : "");
        printf("\n");
        ferry_kafka_msg_destroy(m);
        got++;
    }
    ferry_kafka_consumer_destroy(c);
    return got >= want ? 0 : 1;
}

typedef struct {
    ferry_kafka_producer_t *p;
    int copied;
} copier_t;

static int copy_one(void *arg, const ferry_kafka_msg_t *m)
{
    copier_t *cp = arg;
    char err[512];
    ferry_kafka_record_t rec = {m->topic, m->partition, m->key, m->key_len,
                                m->value, m->value_len, NULL,   0};
    if (ferry_kafka_produce(cp->p, &rec, err, sizeof(err)) != 0)
        itest_die("could not publish a copy", err);
    cp->copied++;
    return 0;
}

static int cmd_copy(const char *topic)
{
    copier_t cp = {open_producer(), 0};
    char err[512];
    for (int32_t i = 0; i < PARTS; i++)
        if (ferry_kafka_read_partition(kprops, topic, i, 20000, copy_one, &cp, err, sizeof(err)) !=
            0)
            itest_die("could not read the topic", err);
    if (ferry_kafka_producer_flush(cp.p, 20000, err, sizeof(err)) != 0)
        itest_die("could not publish the copies", err);
    ferry_kafka_producer_destroy(cp.p, 5000);
    printf("copied %d\n", cp.copied);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fputs("usage: consumer_feed schema|load|changes <bootstrap> <project> <source url> <db> "
              "...\n       consumer_feed dlq <bootstrap> <project> <count>\n"
              "       consumer_feed copy <bootstrap> <project> <topic>\n",
              stderr);
        return 2;
    }
    bootstrap = argv[2];
    project = argv[3];
    kprops = itest_kafka_props(bootstrap);
    snprintf(prefix, sizeof(prefix), "ferry.%s.fwd", project);
    if (!strcmp(argv[1], "dlq"))
        return cmd_dlq(atoi(argv[4]));
    if (!strcmp(argv[1], "copy"))
        return cmd_copy(argv[4]);
    if (argc < 7)
        return 2;
    source_url = argv[4];
    dbname = argv[5];
    if (ferry_db_global_init() != 0)
        return 1;
    int rc = 2;
    if (!strcmp(argv[1], "schema"))
        rc = cmd_schema(argc - 6, argv + 6);
    else if (!strcmp(argv[1], "load"))
        rc = cmd_load(argc - 6, argv + 6);
    else if (!strcmp(argv[1], "changes"))
        rc = cmd_changes(argv[6]);
    ferry_db_global_cleanup();
    return rc;
}
