/*
 * snapshot.c - schema events, chunk planning and copying, and the high
 * watermark of each table (see snapshot.h).
 */
#include "snapshot.h"

#include "avro_codec.h"
#include "binlog_pos.h"
#include "capture.h"
#include "clock.h"
#include "db.h"
#include "ddl_event.h"
#include "err.h"
#include "fullload.h"
#include "kafka.h"
#include "link_map.h"
#include "log.h"
#include "mysql_ddl.h"
#include "mysql_schema.h"
#include "rate.h"
#include "strbuf.h"
#include "topics.h"
#include "wire.h"
#include "workers.h"

#include <mysql.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct producer_snapshot {
    const ferry_conf_t *conf;
    char prefix[256];
    char ddl_topic[300];
    char consumer_group[300]; /* the planner waits for it to apply the snapshot */
    const char *connector;    /* "mariadb" or "mysql" */
    ferry_registry_t *registry;
    ferry_db_t *db;
    ferry_mysql_flavor_t flavor;
    ferry_table_name_t *names;
    size_t n;
    ferry_table_t **tables;
    bool *announced; /* SNAPSHOT_DONE published (by us or an earlier run) */
    ferry_rename_map_t *filters;
    ferry_fullload_planner_t *planner;
    producer_workers_t *workers; /* NULL when fullload.in.producer is off */
    ferry_kafka_producer_t *ddl_producer;
    uint8_t ddl_hdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t ddl_hdr_len;
    char p0_file[256], p0_gtid[1024];
    uint64_t p0_pos;

    pthread_mutex_t lock; /* guards progress and the pacing state, for /status */
    ferry_fullload_progress_t *progress;
    ferry_rate_t *rates; /* of each table's rows copied */
    int64_t unapplied;   /* snapshot rows the consumer has not applied; -1 unknown */
    bool waiting;        /* the planner waits for the consumer */
    bool all_done;
    /* the per-table /metrics series, registered by the first render */
    struct table_series {
        ferry_counter_t *copied;
        ferry_gauge_t *estimate, *chunks, *done;
    } * series;
};

/* SHOW MASTER STATUS and the GTID state of the source. */
static int master_position(ferry_db_t *db, char *file, size_t file_size, uint64_t *pos, char *gtid,
                           size_t gtid_size, char *errstr, size_t errstr_size)
{
    MYSQL *my = ferry_db_mysql(db);
    if (mysql_query(my, "SHOW MASTER STATUS") != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not read the source's binlog position: %s", mysql_error(my));
    MYSQL_RES *r = mysql_store_result(my);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    int ok = row && row[0] && row[1];
    if (ok) {
        snprintf(file, file_size, "%s", row[0]);
        *pos = strtoull(row[1], NULL, 10);
    }
    mysql_free_result(r);
    if (!ok)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not read the source's binlog position: binary logging is "
                             "off");
    gtid[0] = '\0';
    const char *q = strstr(ferry_db_server_version(db), "MariaDB")
                        ? "SELECT @@global.gtid_binlog_pos"
                        : "SELECT @@global.gtid_executed";
    if (mysql_query(my, q) == 0) {
        r = mysql_store_result(my);
        row = r ? mysql_fetch_row(r) : NULL;
        if (row && row[0])
            snprintf(gtid, gtid_size, "%s", row[0]);
        mysql_free_result(r);
    }
    return 0;
}

/* Produces ev to the ddl topic; with flush, waits until it and all before it are stored. */
static int publish(producer_snapshot_t *s, const ferry_ddl_event_t *ev, bool flush, char *errstr,
                   size_t errstr_size)
{
    ferry_avro_buf_t buf = {0};
    int rc = ferry_avro_buf_reserve(&buf, s->ddl_hdr_len) == 0 ? 0 : FERRY_ERR_NOMEM;
    if (rc == 0) {
        memcpy(buf.data, s->ddl_hdr, s->ddl_hdr_len);
        buf.len = s->ddl_hdr_len;
        rc = ferry_ddl_event_encode(ev, &buf, errstr, errstr_size);
    }
    char key[600];
    snprintf(key, sizeof(key), "%s.%s", ev->db, ev->table ? ev->table : "");
    ferry_kafka_record_t rec = {.topic = s->ddl_topic,
                                .partition = 0,
                                .key = key,
                                .key_len = strlen(key),
                                .value = buf.data,
                                .value_len = buf.len};
    if (rc == 0)
        rc = ferry_kafka_produce(s->ddl_producer, &rec, errstr, errstr_size);
    if (rc == 0 && flush)
        rc = ferry_kafka_producer_flush(s->ddl_producer, 30000, errstr, errstr_size);
    ferry_avro_buf_free(&buf);
    return rc;
}

/* ---- what an earlier run already published ----------------------------- */

typedef struct {
    producer_snapshot_t *s;
    bool *has_table; /* SNAPSHOT_TABLE seen, per table */
    bool has_p0;     /* the P0 of the first SNAPSHOT_TABLE, copied into s */
    ferry_arena_t *arena;
    char errstr[512];
} ddl_scan_t;

static int scan_one(void *arg, const ferry_kafka_msg_t *msg)
{
    ddl_scan_t *sc = arg;
    ferry_ddl_event_t ev;
    ferry_arena_reset(sc->arena);
    if (ferry_ddl_event_from_message(sc->s->registry, msg->value, msg->value_len, sc->arena, &ev,
                                     sc->errstr, sizeof(sc->errstr)) != 0)
        return FERRY_ERR_INVALID;
    /*
     * An earlier run announced tables at its P0 and may have copied chunks
     * since: capture must start there, not at this run's later position,
     * or the changes in between would be lost for those rows (capture's own
     * checkpoint, when it has one, still wins).
     */
    if (!sc->has_p0 && !strcmp(ev.kind, "SNAPSHOT_TABLE") && ev.file && ev.has_pos) {
        producer_snapshot_t *s = sc->s;
        snprintf(s->p0_file, sizeof(s->p0_file), "%s", ev.file);
        s->p0_pos = (uint64_t)ev.pos;
        snprintf(s->p0_gtid, sizeof(s->p0_gtid), "%s", ev.gtid ? ev.gtid : "");
        sc->has_p0 = true;
    }
    for (size_t i = 0; i < sc->s->n; i++) {
        if (!ev.table || strcmp(ev.db, sc->s->names[i].db) != 0 ||
            strcmp(ev.table, sc->s->names[i].table) != 0)
            continue;
        if (strcmp(ev.kind, "SNAPSHOT_TABLE") == 0)
            sc->has_table[i] = true;
        else if (strcmp(ev.kind, "SNAPSHOT_DONE") == 0)
            sc->s->announced[i] = true;
    }
    return 0;
}

/* ---- tables capture has yet to reach --------------------------------------- */

/*
 * A restarted producer must not announce a table that a CREATE or RENAME
 * capture has not read yet made: capture publishes that statement when it
 * gets there, and the consumer follows the table from it (a full load of the
 * name announced first would meet the statement as a table it already has).
 * The statements between capture's checkpoint and the binlog's end are read
 * with SHOW BINLOG EVENTS (only when a selected table has no announcement).
 */
typedef struct {
    char **names; /* "db.table" made by a statement capture has not read */
    size_t n, cap;
} made_names_t;

static int made_add(made_names_t *m, const ferry_ddl_name_t *nm)
{
    if (!nm->table)
        return 0;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        char **g = realloc(m->names, cap * sizeof(*g));
        if (!g)
            return FERRY_ERR_NOMEM;
        m->names = g;
        m->cap = cap;
    }
    size_t len = strlen(nm->db) + strlen(nm->table) + 2;
    if (!(m->names[m->n] = malloc(len)))
        return FERRY_ERR_NOMEM;
    snprintf(m->names[m->n++], len, "%s.%s", nm->db, nm->table);
    return 0;
}

/* The names a Query event's text (SHOW BINLOG EVENTS' Info) gives tables. */
static int made_by_statement(made_names_t *m, const char *info)
{
    char db[256] = "";
    const char *sql = info;
    if (strncmp(info, "use `", 5) == 0) { /* the event's default database */
        size_t k = 0;
        const char *p = info + 5;
        while (*p && k + 1 < sizeof(db)) {
            if (p[0] == '`' && p[1] == '`')
                p++;
            else if (p[0] == '`')
                break;
            db[k++] = *p++;
        }
        db[k] = '\0';
        if (strncmp(p, "`; ", 3) == 0)
            sql = p + 3;
    }
    ferry_ddl_rewrite_t rw;
    memset(&rw, 0, sizeof(rw));
    ferry_rename_map_t *empty = ferry_rename_map_new();
    int rc = empty ? 0 : FERRY_ERR_NOMEM;
    if (!rc && ferry_mysql_ddl_rewrite(db, sql, strlen(sql), 0, empty, NULL, NULL, &rw, NULL, 0) ==
                   FERRY_ERR_NOMEM)
        rc = FERRY_ERR_NOMEM;
    if (!rc && rw.kind == FERRY_DDL_CREATE_TABLE && rw.n_names > 0)
        rc = made_add(m, &rw.names[0]);
    else if (!rc && rw.kind == FERRY_DDL_RENAME_TABLE)
        for (size_t i = 1; !rc && i < rw.n_names; i += 2)
            rc = made_add(m, &rw.names[i]);
    else if (!rc && rw.kind == FERRY_DDL_ALTER_TABLE && rw.rename_to && rw.rename_to < rw.n_names)
        rc = made_add(m, &rw.names[rw.rename_to]);
    ferry_ddl_rewrite_free(&rw);
    ferry_rename_map_destroy(empty);
    return rc;
}

/* Reads the Query events of the binlog from pos (file, offset) to its end into m. */
static int made_since(MYSQL *my, const ferry_binlog_pos_t *from, made_names_t *m, char *errstr,
                      size_t errstr_size)
{
    if (mysql_query(my, "SHOW BINARY LOGS") != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not list the source's binlog files: %s", mysql_error(my));
    MYSQL_RES *files = mysql_store_result(my);
    MYSQL_ROW f;
    int rc = 0;
    while (!rc && files && (f = mysql_fetch_row(files)) != NULL) {
        ferry_binlog_pos_t at;
        if (!f[0] || ferry_binlog_pos_init(&at, f[0], (uint64_t)-1, NULL, 0) != 0 ||
            ferry_binlog_pos_cmp(&at, from) < 0)
            continue; /* ends before the checkpoint */
        ferry_strbuf_t sql = FERRY_STRBUF_INIT;
        char esc[600];
        mysql_real_escape_string(my, esc, f[0], (unsigned long)strnlen(f[0], 290));
        ferry_strbuf_printf(&sql, "SHOW BINLOG EVENTS IN '%s'", esc);
        if (strcmp(f[0], from->file) == 0)
            ferry_strbuf_printf(&sql, " FROM %llu", (unsigned long long)from->offset);
        if (sql.oom || mysql_real_query(my, sql.buf, sql.len) != 0) {
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                               "could not read binlog file \"%s\" of the source: %s", f[0],
                               sql.oom ? "out of memory" : mysql_error(my));
        }
        ferry_strbuf_free(&sql);
        MYSQL_RES *evs = rc ? NULL : mysql_use_result(my);
        MYSQL_ROW e;
        while (evs && (e = mysql_fetch_row(evs)) != NULL)
            if (!rc && e[2] && e[5] && strcmp(e[2], "Query") == 0)
                rc = made_by_statement(m, e[5]);
        mysql_free_result(evs);
        if (rc == FERRY_ERR_NOMEM)
            ferry_err_set(errstr, errstr_size, rc, "out of memory");
    }
    mysql_free_result(files);
    return rc;
}

/*
 * Takes the selected tables without an announcement that a statement
 * capture has yet to read made out of this run's list (see above).
 */
static int hold_back_uncaptured(producer_snapshot_t *s, bool *has_table, char *errstr,
                                size_t errstr_size)
{
    size_t missing = 0;
    for (size_t i = 0; i < s->n; i++)
        missing += !has_table[i];
    if (!missing)
        return 0;
    const ferry_conf_t *conf = s->conf;
    ferry_capture_position_t cp;
    char why[512];
    int rc = ferry_capture_checkpoint_read(
        ferry_conf_kafka_props(conf), s->registry, s->prefix, "fwd",
        (int)ferry_conf_get_int(conf, "connect.timeout.ms"), &cp, why, sizeof(why));
    if (rc == FERRY_ERR_NOT_FOUND) { /* capture starts at the first P0 */
        snprintf(cp.file, sizeof(cp.file), "%s", s->p0_file);
        cp.pos = s->p0_pos;
    } else if (rc != 0) {
        return ferry_err_set(errstr, errstr_size, rc, "could not read capture's checkpoint: %s",
                             why);
    }
    ferry_binlog_pos_t from;
    if (ferry_binlog_pos_init(&from, cp.file, cp.pos, why, sizeof(why)) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not read capture's checkpoint: %s", why);
    made_names_t made = {0};
    rc = made_since(ferry_db_mysql(s->db), &from, &made, errstr, errstr_size);
    size_t kept = 0;
    for (size_t i = 0; i < s->n; i++) {
        char name[600];
        snprintf(name, sizeof(name), "%s.%s", s->names[i].db, s->names[i].table);
        bool later = false;
        for (size_t k = 0; !rc && !has_table[i] && k < made.n && !later; k++)
            later = strcmp(made.names[k], name) == 0;
        if (later) {
            ferry_log_info("table left to capture: a statement it has not read yet made it",
                           "table=%s checkpoint=%s:%llu", name, cp.file,
                           (unsigned long long)cp.pos);
            free(s->names[i].db);
            free(s->names[i].table);
            continue;
        }
        s->names[kept] = s->names[i];
        has_table[kept++] = has_table[i];
    }
    s->n = kept;
    for (size_t k = 0; k < made.n; k++)
        free(made.names[k]);
    free(made.names);
    return rc;
}

/* ---- start ----------------------------------------------------------------- */

/*
 * The snapshot topic of a table about to be announced: made here, at once,
 * so that the consumer assigns every table's partitions when it reads the
 * announcements rather than when a worker first copies a chunk of each.
 * (Its change topic is made by capture at its first change: made here, the
 * consumer would fetch all its empty partitions through the whole load.)
 */
static int make_snapshot_topic(producer_snapshot_t *s, const char *db, const char *table,
                               char *errstr, size_t errstr_size)
{
    char topic[512];
    if (ferry_fullload_snapshot_topic(s->prefix, db, table, topic, sizeof(topic)) < 0)
        return 0; /* too long for Kafka: the worker says so, naming the table */
    return ferry_fullload_snapshot_topic_make(
        s->ddl_producer, topic, (int)ferry_conf_get_int(s->conf, "topics.partitions"),
        (int)ferry_conf_get_int(s->conf, "topics.replication.factor"),
        (int)ferry_conf_get_int(s->conf, "connect.timeout.ms"), errstr, errstr_size);
}

/*
 * Reads, filters and announces each selected table; fills s->tables. The
 * announcements are flushed together: one wait for the broker, not one per
 * table.
 */
static int prepare_tables(producer_snapshot_t *s, const bool *has_table, char *errstr,
                          size_t errstr_size)
{
    s->tables = calloc(s->n ? s->n : 1, sizeof(*s->tables));
    size_t *columns = calloc(s->n ? s->n : 1, sizeof(*columns)); /* 0: not announced now */
    if (!s->tables || !columns) {
        free(columns);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    int rc = 0;
    bool any = false;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        const char *db = s->names[i].db, *table = s->names[i].table;
        ferry_tabledef_t *def = NULL;
        rc = ferry_mysql_schema_read_table(ferry_db_mysql(s->db), s->flavor, db, table, &def,
                                           errstr, errstr_size);
        if (rc == 0)
            rc = ferry_link_filter_columns(def, s->filters, errstr, errstr_size);
        if (rc == 0)
            rc = ferry_tabledef_to_table(def, &s->tables[i], errstr, errstr_size);
        char why[512];
        if (rc == 0 && !has_table[i] && make_snapshot_topic(s, db, table, why, sizeof(why)) != 0)
            ferry_log_warn("could not make a snapshot topic now; the first worker to copy a "
                           "chunk of the table makes it",
                           "table=%s.%s error=\"%s\"", db, table, why);
        if (rc == 0 && !has_table[i]) {
            char *json = ferry_tabledef_to_json(def);
            const char *names[1];
            char qualified[600];
            snprintf(qualified, sizeof(qualified), "%s.%s", db, table);
            names[0] = qualified;
            ferry_ddl_event_t ev = {.connector = s->connector,
                                    .db = db,
                                    .table = table,
                                    .kind = "SNAPSHOT_TABLE",
                                    .statement = "",
                                    .ts_ms = ferry_wall_ms(),
                                    .gtid = *s->p0_gtid ? s->p0_gtid : NULL,
                                    .file = s->p0_file,
                                    .has_pos = true,
                                    .pos = (int64_t)s->p0_pos,
                                    .tables = names,
                                    .n_tables = 1,
                                    .table_definition = json};
            rc = json ? publish(s, &ev, false, errstr, errstr_size)
                      : ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
            free(json);
            columns[i] = def->n_columns;
            any = true;
        }
        ferry_tabledef_destroy(def);
    }
    if (rc == 0 && any)
        rc = ferry_kafka_producer_flush(s->ddl_producer, 30000, errstr, errstr_size);
    for (size_t i = 0; i < s->n && rc == 0; i++)
        if (columns[i])
            ferry_log_info("table announced", "table=%s.%s columns=%zu", s->names[i].db,
                           s->names[i].table, columns[i]);
    free(columns);
    return rc;
}

/* The full-load worker threads, unless ferry-worker processes copy the chunks. */
static int start_workers(producer_snapshot_t *s, char *errstr, size_t errstr_size)
{
    if (!ferry_conf_get_bool(s->conf, "fullload.in.producer"))
        return 0;
    char host[128] = "worker";
    gethostname(host, sizeof(host) - 1);
    return producer_workers_start(s->conf, s->prefix, host, s->connector, s->registry, s->filters,
                                  &s->workers, errstr, errstr_size);
}

static int start_copy(producer_snapshot_t *s, char *errstr, size_t errstr_size)
{
    const ferry_conf_t *conf = s->conf;
    int parts = (int)ferry_conf_get_int(conf, "topics.partitions");
    int rf = (int)ferry_conf_get_int(conf, "topics.replication.factor");
    ferry_fullload_planner_conf_t pc = {
        .project = ferry_conf_get(conf, "project.name"),
        .kafka_props = ferry_conf_kafka_props(conf),
        .source_url = ferry_conf_get(conf, "source.url"),
        .chunk_rows = (uint64_t)ferry_conf_get_int(conf, "fullload.chunk.rows"),
        .chunk_bytes = (uint64_t)ferry_conf_get_int(conf, "fullload.chunk.bytes"),
        .tasks_partitions = parts,
        .replication_factor = rf > 0 ? rf : 0,
        .prefix = s->prefix,
        .consumer_group = s->consumer_group,
        .max_unapplied_rows = ferry_conf_get_int(conf, "fullload.max.unapplied.rows"),
        .max_unapplied_bytes = ferry_conf_get_int(conf, "fullload.max.unapplied.bytes"),
        .producer = s->ddl_producer, /* it has its id since the announcements */
    };
    return ferry_fullload_planner_new(&pc, (const ferry_table_t *const *)s->tables, s->n,
                                      &s->planner, errstr, errstr_size);
}

int producer_snapshot_start(const ferry_conf_t *conf, const char *prefix,
                            ferry_registry_t *registry, producer_snapshot_t **out, char *errstr,
                            size_t errstr_size)
{
    *out = NULL;
    producer_snapshot_t *s = calloc(1, sizeof(*s));
    if (!s)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    s->conf = conf;
    s->registry = registry;
    snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
    snprintf(s->ddl_topic, sizeof(s->ddl_topic), "%s.ddl", prefix);
    ferry_topic_consumer_group(prefix, s->consumer_group, sizeof(s->consumer_group));
    s->unapplied = -1;
    int timeout = (int)ferry_conf_get_int(conf, "connect.timeout.ms");
    bool *has_table = NULL;
    ddl_scan_t scan = {.s = s};
    /*
     * first, and asked for the ddl topic at once: a producer's first record
     * to a topic it has not looked up waits about a second for the metadata
     */
    int rc = ferry_kafka_producer_new(&s->ddl_producer, ferry_conf_kafka_props(conf), NULL, errstr,
                                      errstr_size);
    if (rc == 0)
        ferry_kafka_producer_learn_topic(s->ddl_producer, s->ddl_topic, timeout);
    if (rc == 0)
        rc = ferry_db_connect(ferry_conf_get(conf, "source.url"), "source", timeout, &s->db, errstr,
                              errstr_size);
    if (rc == 0) {
        const char *version = ferry_db_server_version(s->db);
        s->connector = strstr(version, "MariaDB") ? "mariadb" : "mysql";
        s->flavor = ferry_mysql_flavor_from_version(version);
        rc = master_position(s->db, s->p0_file, sizeof(s->p0_file), &s->p0_pos, s->p0_gtid,
                             sizeof(s->p0_gtid), errstr, errstr_size);
    }
    if (rc == 0)
        rc = ferry_link_list_tables(conf, ferry_db_mysql(s->db), &s->names, &s->n, errstr,
                                    errstr_size);
    if (rc == 0)
        rc = ferry_link_map_new(conf, s->names, s->n, &s->filters, errstr, errstr_size);
    if (rc == 0 &&
        (!(s->announced = calloc(s->n + 1, sizeof(bool))) ||
         !(has_table = calloc(s->n + 1, sizeof(bool))) || !(scan.arena = ferry_arena_new(0))))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    /* the worker group's first join waits about 3 s: let it overlap the announcements */
    if (rc == 0)
        rc = start_workers(s, errstr, errstr_size);
    if (rc == 0)
        rc = ferry_registry_header_for(registry, s->ddl_topic, 0, ferry_ddl_event_schema(),
                                       s->ddl_hdr, &s->ddl_hdr_len, errstr, errstr_size);
    if (rc == 0) {
        scan.has_table = has_table;
        rc = ferry_kafka_read_partition(ferry_conf_kafka_props(conf), s->ddl_topic, 0, timeout,
                                        scan_one, &scan, errstr, errstr_size);
        if (rc == FERRY_ERR_INVALID)
            ferry_err_set(errstr, errstr_size, rc, "could not read \"%s\": %s", s->ddl_topic,
                          scan.errstr);
    }
    if (rc == 0 && scan.has_p0)
        rc = hold_back_uncaptured(s, has_table, errstr, errstr_size);
    if (rc == 0)
        rc = prepare_tables(s, has_table, errstr, errstr_size);
    free(has_table);
    ferry_arena_destroy(scan.arena);
    if (rc == 0 && (!(s->progress = calloc(s->n + 1, sizeof(*s->progress))) ||
                    !(s->rates = calloc(s->n + 1, sizeof(*s->rates)))))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (rc != 0) {
        producer_snapshot_destroy(s);
        return rc;
    }
    ferry_log_info("snapshot started", "tables=%zu p0=%s:%llu gtid=%s", s->n, s->p0_file,
                   (unsigned long long)s->p0_pos, *s->p0_gtid ? s->p0_gtid : "-");
    *out = s;
    return 0;
}

void producer_snapshot_p0(const producer_snapshot_t *s, char *file, size_t file_size, uint64_t *pos,
                          char *gtid, size_t gtid_size)
{
    snprintf(file, file_size, "%s", s->p0_file);
    *pos = s->p0_pos;
    snprintf(gtid, gtid_size, "%s", s->p0_gtid);
}

/* ---- copying and the high watermark -------------------------------------- */

static int announce_done(producer_snapshot_t *s, size_t i, const ferry_fullload_progress_t *p,
                         char *errstr, size_t errstr_size)
{
    char file[256], gtid[1024];
    uint64_t pos;
    /* H is read after the last chunk finished: later is safe, earlier is not */
    int rc =
        master_position(s->db, file, sizeof(file), &pos, gtid, sizeof(gtid), errstr, errstr_size);
    if (rc != 0)
        return rc;
    ferry_ddl_event_t ev = {.connector = s->connector,
                            .db = s->names[i].db,
                            .table = s->names[i].table,
                            .kind = "SNAPSHOT_DONE",
                            .statement = "",
                            .ts_ms = ferry_wall_ms(),
                            .gtid = *gtid ? gtid : NULL,
                            .file = file,
                            .has_pos = true,
                            .pos = (int64_t)pos,
                            .has_chunks = true,
                            .chunks = p->chunks_total};
    rc = publish(s, &ev, true, errstr, errstr_size);
    if (rc == 0) {
        s->announced[i] = true;
        ferry_log_info("table snapshot done", "table=%s.%s chunks=%lld rows=%lld h=%s:%llu",
                       s->names[i].db, s->names[i].table, (long long)p->chunks_total,
                       (long long)p->rows_copied, file, (unsigned long long)pos);
    }
    return rc;
}

int producer_snapshot_step(producer_snapshot_t *s, int wait_ms, char *errstr, size_t errstr_size)
{
    if (s->all_done)
        return 1;
    /*
     * The planner is made on the first step, once capture runs: it reads the
     * tasks topic and the done-markers back (about a second), which capture,
     * resuming after a restart, need not wait for.
     */
    int rc;
    if (!s->planner) {
        int64_t t0 = ferry_wall_ms();
        if ((rc = start_copy(s, errstr, errstr_size)) != 0)
            return rc;
        ferry_log_info("chunk planner ready", "tables=%zu ms=%lld", s->n,
                       (long long)(ferry_wall_ms() - t0));
    }
    int planned = ferry_fullload_planner_step(s->planner, wait_ms, errstr, errstr_size);
    if (planned < 0)
        return planned;
    rc = s->workers ? producer_workers_check(s->workers, errstr, errstr_size) : 0;
    if (rc < 0)
        return rc;

    pthread_mutex_lock(&s->lock);
    size_t n = ferry_fullload_planner_progress(s->planner, s->progress, s->n);
    s->unapplied = ferry_fullload_planner_unapplied(s->planner, &s->waiting);
    int64_t now = ferry_wall_ms();
    for (size_t i = 0; i < n; i++) {
        uint64_t rows = (uint64_t)(s->progress[i].rows_copied > 0 ? s->progress[i].rows_copied : 0);
        ferry_rate_sample(&s->rates[i], now, &rows, 1);
    }
    pthread_mutex_unlock(&s->lock);
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        if (!s->announced[i] && s->progress[i].finished &&
            (rc = announce_done(s, i, &s->progress[i], errstr, errstr_size)) != 0)
            return rc;
        all &= s->announced[i];
    }
    if (all && planned == 1) {
        pthread_mutex_lock(&s->lock);
        s->all_done = true;
        producer_workers_t *workers = s->workers;
        s->workers = NULL;
        pthread_mutex_unlock(&s->lock);
        producer_workers_stop(workers); /* their connections are no longer needed */
        ferry_log_info("snapshot of every table done", "tables=%zu", s->n);
        return 1;
    }
    return 0;
}

bool producer_snapshot_source_lost(producer_snapshot_t *s)
{
    return ferry_db_ping(s->db, NULL, 0) != 0;
}

/* Registers table i's series (once: a render then only sets values). */
static void table_series_register(producer_snapshot_t *s, size_t i, ferry_metrics_t *m)
{
    char name[600];
    snprintf(name, sizeof(name), "%s.%s", s->names[i].db, s->names[i].table);
    struct table_series *t = &s->series[i];
    t->copied = ferry_metrics_counter(m, "ferry_producer_fullload_rows_copied_total",
                                      "Rows of the table's full load copied to Kafka (done chunks)",
                                      "table", name);
    t->estimate = ferry_metrics_gauge(m, "ferry_producer_fullload_rows_estimate",
                                      "The source's estimate of the table's rows, when its full "
                                      "load was planned",
                                      "table", name);
    t->chunks = ferry_metrics_gauge(m, "ferry_producer_fullload_chunks_done",
                                    "Chunks of the table's full load copied", "table", name);
    t->done = ferry_metrics_gauge(m, "ferry_producer_fullload_done",
                                  "1 once the table's full load is copied and its high watermark "
                                  "published",
                                  "table", name);
}

void producer_snapshot_metrics(producer_snapshot_t *s, ferry_metrics_t *m)
{
    if (!s->series) {
        s->series = calloc(s->n + 1, sizeof(*s->series));
        for (size_t i = 0; s->series && i < s->n; i++)
            table_series_register(s, i, m);
    }
    if (!s->series)
        return;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n; i++) {
        const ferry_fullload_progress_t *p = &s->progress[i];
        struct table_series *t = &s->series[i];
        ferry_counter_raise(t->copied, (uint64_t)(p->rows_copied > 0 ? p->rows_copied : 0));
        ferry_gauge_set(t->estimate, p->rows_estimate);
        ferry_gauge_set(t->chunks, p->chunks_done);
        ferry_gauge_set(t->done, s->announced[i] ? 1 : 0);
    }
    pthread_mutex_unlock(&s->lock);
}

void producer_snapshot_status(producer_snapshot_t *s, ferry_json_t *j)
{
    pthread_mutex_lock(&s->lock);
    ferry_json_key(j, "snapshot_done");
    ferry_json_bool(j, s->all_done);
    ferry_json_key(j, "snapshot_unapplied_rows");
    if (s->unapplied >= 0 && !s->all_done)
        ferry_json_int(j, s->unapplied);
    else
        ferry_json_null(j);
    ferry_json_key(j, "snapshot_waiting_for_consumer");
    ferry_json_bool(j, s->waiting && !s->all_done);
    if (s->workers)
        producer_workers_status(s->workers, j);
    ferry_json_key(j, "tables");
    ferry_json_array_begin(j);
    for (size_t i = 0; i < s->n; i++) {
        const ferry_fullload_progress_t *p = &s->progress[i];
        char name[600];
        snprintf(name, sizeof(name), "%s.%s", s->names[i].db, s->names[i].table);
        ferry_json_object_begin(j);
        ferry_json_key(j, "source");
        ferry_json_string(j, name);
        ferry_json_key(j, "snapshot");
        ferry_json_string(j, s->announced[i] ? "done" : p->chunks_planned ? "copying" : "planning");
        ferry_json_key(j, "chunks_done");
        ferry_json_int(j, p->chunks_done);
        ferry_json_key(j, "chunks_total");
        if (p->chunks_total >= 0 && p->db)
            ferry_json_int(j, p->chunks_total);
        else
            ferry_json_null(j);
        ferry_json_key(j, "rows_copied");
        ferry_json_int(j, p->rows_copied);
        ferry_json_key(j, "rows_estimate");
        ferry_json_int(j, p->rows_estimate);
        ferry_json_key(j, "rows_per_s"); /* sampled by the steps, which end with the copy */
        ferry_json_double(j, s->announced[i] ? 0 : ferry_rate_per_s(&s->rates[i], 0));
        ferry_json_object_end(j);
    }
    ferry_json_array_end(j);
    pthread_mutex_unlock(&s->lock);
}

void producer_snapshot_destroy(producer_snapshot_t *s)
{
    if (!s)
        return;
    producer_workers_stop(s->workers);
    ferry_fullload_planner_destroy(s->planner);
    ferry_kafka_producer_destroy(s->ddl_producer, 5000);
    free(s->series);
    for (size_t i = 0; s->tables && i < s->n; i++)
        ferry_table_destroy(s->tables[i]);
    free(s->tables);
    ferry_table_names_free(s->names, s->n);
    ferry_rename_map_destroy(s->filters);
    free(s->announced);
    free(s->progress);
    free(s->rates);
    ferry_db_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
