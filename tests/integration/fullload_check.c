/*
 * fullload_check - drives and checks the full load against real servers.
 *
 *   fullload_check plan   <bootstrap> <project> <source url> <db> <chunk rows> <max open>
 * <table>... fullload_check work   <bootstrap> <project> <source url> <worker id> fullload_check
 * verify <bootstrap> <project> <source url> <db> <table>...
 *
 * plan: runs the planner driver until every chunk of the tables is done,
 * printing progress; exit 0.
 *
 * work: a full-load worker; runs tasks until SIGTERM and prints one line
 * per task ("done <task id> rows=N" or "skip <task id>").
 *
 * verify: a checking consumer that follows the contract of fullload.h. It
 * reads the done topic, then every snapshot topic from the beginning, and
 * applies for each chunk exactly the messages of the attempt its first
 * done-marker names (ordinals 0..rows-1, "last" on the final one),
 * ignoring every other attempt. The applied rows, re-encoded as Avro
 * records, must equal the rows a SELECT of the source table gives, as a
 * multiset: every row exactly once. It also checks the row reader against
 * known edge values of the all_types table, independently of the pipeline.
 */
#include "common.h"

#include "avro_codec.h"
#include "avro_schema.h"
#include "chunk.h"
#include "db.h"
#include "err.h"
#include "fullload.h"
#include "kafka.h"
#include "mysql_rows.h"
#include "mysql_schema.h"
#include "registry.h"
#include "strbuf.h"
#include "wire.h"

#include <math.h>
#include <mysql.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *bootstrap, *project, *source_url;
static char prefix[256];
static volatile sig_atomic_t stop;

static const char *const *kafka_props;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

/* ---- plan ------------------------------------------------------------------ */

static int plan(int argc, char **argv)
{
    const char *dbname = argv[0];
    uint64_t chunk_rows = strtoull(argv[1], NULL, 10);
    int max_open = atoi(argv[2]);
    int n = argc - 3;
    ferry_db_t *db = itest_connect_source(source_url);
    ferry_table_t **tables = calloc((size_t)n, sizeof(*tables));
    for (int i = 0; i < n; i++)
        tables[i] = itest_read_table(db, dbname, argv[3 + i]);
    ferry_fullload_planner_conf_t pc = {.project = project,
                                        .kafka_props = kafka_props,
                                        .source_url = source_url,
                                        .chunk_rows = chunk_rows,
                                        .max_outstanding = max_open,
                                        .tasks_partitions = 4,
                                        .timeout_ms = 20000};
    ferry_fullload_planner_t *p;
    char err[1024];
    if (ferry_fullload_planner_new(&pc, (const ferry_table_t *const *)tables, (size_t)n, &p, err,
                                   sizeof(err)) != 0)
        itest_die("could not start the planner", err);
    ferry_fullload_progress_t *prog = calloc((size_t)n, sizeof(*prog));
    time_t deadline = time(NULL) + 150;
    int rc, rounds = 0;
    while ((rc = ferry_fullload_planner_step(p, 200, err, sizeof(err))) == 0 &&
           time(NULL) < deadline) {
        if (++rounds % 25 == 0) {
            ferry_fullload_planner_progress(p, prog, (size_t)n);
            for (int i = 0; i < n; i++)
                printf("progress %s: chunks %lld/%lld done of %lld planned, rows %lld/%lld\n",
                       prog[i].table, (long long)prog[i].chunks_done,
                       (long long)prog[i].chunks_total, (long long)prog[i].chunks_planned,
                       (long long)prog[i].rows_copied, (long long)prog[i].rows_estimate);
            fflush(stdout);
        }
    }
    if (rc < 0)
        itest_die("planner failed", err);
    if (rc == 0)
        itest_die("planner", "not finished within 150 s");
    ferry_fullload_planner_progress(p, prog, (size_t)n);
    for (int i = 0; i < n; i++)
        printf("finished %s: %lld chunks, %lld rows\n", prog[i].table,
               (long long)prog[i].chunks_done, (long long)prog[i].rows_copied);
    free(prog);
    ferry_fullload_planner_destroy(p);
    for (int i = 0; i < n; i++)
        ferry_table_destroy(tables[i]);
    free(tables);
    ferry_db_close(db);
    return 0;
}

/* ---- work ------------------------------------------------------------------ */

static int work(const char *worker_id)
{
    ferry_registry_t *reg = itest_open_registry(project, NULL, kafka_props);
    ferry_fullload_worker_conf_t wc = {.project = project,
                                       .prefix = prefix,
                                       .worker_id = worker_id,
                                       .kafka_props = kafka_props,
                                       .source_url = source_url,
                                       .registry = reg,
                                       .connector = "mariadb",
                                       .snapshot_partitions = 4,
                                       .timeout_ms = 20000};
    ferry_fullload_worker_t *w;
    char err[1024];
    if (ferry_fullload_worker_new(&wc, &w, err, sizeof(err)) != 0)
        itest_die("could not start the worker", err);
    printf("worker %s started\n", worker_id);
    fflush(stdout);
    while (!stop) {
        ferry_fullload_result_t res;
        if (ferry_fullload_worker_poll(w, 200, &res, err, sizeof(err)) != 0)
            itest_die("worker failed", err);
        if (res.ran) {
            printf("%s %s rows=%lld attempts=%d\n", res.skipped ? "skip" : "done", res.task_id,
                   (long long)res.rows, res.attempts);
            fflush(stdout);
        }
    }
    ferry_fullload_stats_t st;
    ferry_fullload_worker_stats(w, &st);
    printf("worker %s stopped: %llu tasks, %llu skipped, %llu rows\n", worker_id,
           (unsigned long long)st.tasks_done, (unsigned long long)st.tasks_skipped,
           (unsigned long long)st.rows);
    ferry_fullload_worker_destroy(w);
    ferry_registry_destroy(reg);
    return 0;
}

/* ---- verify ----------------------------------------------------------------- */

/* A byte string (a row's canonical Avro record encoding). */
typedef struct {
    uint8_t *p;
    size_t len;
} blob_t;

typedef struct {
    blob_t *v;
    size_t n, cap;
} blobs_t;

static void blobs_add(blobs_t *b, const uint8_t *p, size_t len)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->v = realloc(b->v, b->cap * sizeof(*b->v));
    }
    b->v[b->n].p = malloc(len ? len : 1);
    memcpy(b->v[b->n].p, p, len);
    b->v[b->n++].len = len;
}

static int blob_cmp(const void *x, const void *y)
{
    const blob_t *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->p, b->p, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void blobs_free(blobs_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].p);
    free(b->v);
}

/* What the first done-marker of a chunk decided, and what was seen of it. */
typedef struct {
    const ferry_fullload_done_t *mark;
    uint8_t *seen; /* per ordinal */
    int64_t got;
} chunk_state_t;

typedef struct {
    const char *db, *table;
    int64_t total;
    int64_t marks;
    int64_t rows;
} table_marks_t;

static void count_mark(void *opaque, const ferry_fullload_done_t *m)
{
    table_marks_t *tm = opaque;
    if (strcmp(m->db, tm->db) != 0 || strcmp(m->table, tm->table) != 0 || m->generation != 0)
        return;
    tm->marks++;
    tm->rows += m->rows;
    if (m->chunks_total >= 0)
        tm->total = m->chunks_total;
}

/* Source rows of t, each encoded with the Value record of codec. */
static void source_rows(ferry_db_t *db, const ferry_table_t *t, const ferry_avro_codec_t *codec,
                        blobs_t *out)
{
    ferry_strbuf_t sql = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&sql, "SELECT ");
    ferry_mysql_rows_select_list(&sql, t);
    ferry_strbuf_puts(&sql, " FROM ");
    ferry_mysql_rows_quote_table(&sql, t);
    MYSQL *conn = ferry_db_mysql(db);
    MYSQL_RES *res;
    if (mysql_real_query(conn, sql.buf, sql.len) != 0 || !(res = mysql_store_result(conn)))
        itest_die("could not select the source rows", mysql_error(conn));
    ferry_strbuf_free(&sql);
    ferry_arena_t *a = ferry_arena_new(0);
    ferry_avro_buf_t buf = {0};
    char err[512];
    MYSQL_ROW cells;
    while ((cells = mysql_fetch_row(res))) {
        ferry_arena_reset(a);
        ferry_row_t *row;
        buf.len = 0;
        if (ferry_mysql_rows_convert(t, cells, mysql_fetch_lengths(res), a, &row, err,
                                     sizeof(err)) != 0 ||
            ferry_avro_codec_encode_row(codec, row, &buf, err, sizeof(err)) != 0)
            itest_die("could not encode a source row", err);
        blobs_add(out, buf.data, buf.len);
    }
    mysql_free_result(res);
    ferry_avro_buf_free(&buf);
    ferry_arena_destroy(a);
}

typedef struct {
    int64_t applied, ignored;
} verify_counts_t;

/* Reads the snapshot topic of t and collects the rows the contract says to apply. */
static void topic_rows(ferry_fullload_donelog_t *done, const ferry_table_t *t,
                       const ferry_avro_codec_t *codec, blobs_t *out, verify_counts_t *vc,
                       int64_t expect_rows)
{
    char topic[600], err[1024];
    ferry_fullload_snapshot_topic(prefix, ferry_table_db(t), ferry_table_name(t), topic,
                                  sizeof(topic));
    int parts;
    ferry_kafka_consumer_t *c = itest_reader(kafka_props, topic, "fullload-check", &parts);
    if (!c)
        itest_die("could not find a snapshot topic", topic);

    /* chunk states, by task id, looked up linearly: the test's chunk counts are small */
    size_t nstates = 0, capstates = 64;
    chunk_state_t *states = calloc(capstates, sizeof(*states));
    char **ids = calloc(capstates, sizeof(*ids));
    ferry_arena_t *a = ferry_arena_new(0);
    ferry_avro_buf_t buf = {0};
    int idle = 0;
    int64_t applied = 0;
    while (idle < (applied >= expect_rows ? 10 : 300)) {
        ferry_kafka_msg_t *m = NULL;
        if (ferry_kafka_consumer_poll(c, 100, &m, err, sizeof(err)) == FERRY_ERR_FATAL)
            itest_die("snapshot consumer failed", err);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        char chunk[512], attempt[256], rowno[32], last[32];
        if (!itest_header(m, FERRY_FULLLOAD_HDR_CHUNK, chunk, sizeof(chunk)) ||
            !itest_header(m, FERRY_FULLLOAD_HDR_ATTEMPT, attempt, sizeof(attempt)) ||
            !itest_header(m, FERRY_FULLLOAD_HDR_ROW, rowno, sizeof(rowno)))
            itest_die(topic, "a snapshot message lacks the chunk headers");
        const ferry_fullload_done_t *mark = ferry_fullload_donelog_get(done, chunk);
        if (!mark || strcmp(mark->attempt, attempt) != 0) {
            vc->ignored++; /* an attempt that did not commit, or not the first that did */
            ferry_kafka_msg_destroy(m);
            continue;
        }
        size_t s = 0;
        while (s < nstates && strcmp(ids[s], chunk) != 0)
            s++;
        if (s == nstates) {
            if (nstates == capstates) {
                capstates *= 2;
                states = realloc(states, capstates * sizeof(*states));
                ids = realloc(ids, capstates * sizeof(*ids));
            }
            ids[s] = strdup(chunk);
            states[s] = (chunk_state_t){mark, calloc((size_t)mark->rows + 1, 1), 0};
            nstates++;
        }
        long long ord = atoll(rowno);
        bool is_last = itest_header(m, FERRY_FULLLOAD_HDR_LAST, last, sizeof(last)) != NULL;
        if (ord < 0 || ord >= mark->rows)
            itest_die(chunk, "ordinal outside the marker's row count");
        if (states[s].seen[ord])
            itest_die(chunk, "an ordinal of the committed attempt came twice");
        if (is_last != (ord == mark->rows - 1) || (is_last && atoll(last) != mark->rows))
            itest_die(chunk, "the last marker is not on the attempt's final row");
        if ((int)m->partition != mark->partition)
            itest_die(chunk, "a row of the attempt is not in the marker's partition");
        states[s].seen[ord] = 1;
        states[s].got++;
        ferry_wire_info_t info;
        ferry_change_t ev;
        ferry_arena_reset(a);
        buf.len = 0;
        if (ferry_wire_parse(m->value, m->value_len, &info) != 0 ||
            ferry_avro_codec_decode_change(codec, info.body, info.body_len, a, &ev, err,
                                           sizeof(err)) != 0)
            itest_die("could not decode a snapshot value", err);
        if (ev.op != 'r' || !ev.after || ev.before || !ev.source.snapshot ||
            strcmp(ev.source.snapshot, is_last ? "last" : "true") != 0)
            itest_die(chunk, "not a snapshot read event with snapshot true/last");
        if (ferry_avro_codec_encode_row(codec, ev.after, &buf, err, sizeof(err)) != 0)
            itest_die("could not re-encode a snapshot row", err);
        blobs_add(out, buf.data, buf.len);
        applied++;
        vc->applied++;
        ferry_kafka_msg_destroy(m);
    }
    for (size_t s = 0; s < nstates; s++) {
        if (states[s].got != states[s].mark->rows)
            itest_die(ids[s], "the committed attempt's rows are incomplete");
        free(states[s].seen);
        free(ids[s]);
    }
    free(states);
    free(ids);
    ferry_avro_buf_free(&buf);
    ferry_arena_destroy(a);
    ferry_kafka_consumer_destroy(c);
}

/* ---- the reader against known values --------------------------------------- */

static void expect(const ferry_table_t *t, const ferry_row_t *row, const char *col,
                   ferry_value_t want, long id)
{
    int i = ferry_table_find(t, col);
    if (i < 0)
        itest_die(col, "no such column in all_types");
    const ferry_column_t *c = ferry_table_column(t, (size_t)i);
    if (!ferry_value_equal(c->type, &row->values[i], &want)) {
        fprintf(stderr, "fullload_check: all_types id %ld column %s: value differs\n", id, col);
        exit(1);
    }
}

static ferry_value_t geo(uint32_t srid, const void *wkb, size_t len)
{
    ferry_value_t v = ferry_value_str(wkb, len);
    v.aux = srid;
    return v;
}

static ferry_value_t uuid_of(const char *text)
{
    ferry_value_t v = {0};
    ferry_value_parse_uuid(text, strlen(text), v.v.uuid);
    return v;
}

/* A string or byte literal as a value, embedded NULs included. */
#define TEXT(lit) ferry_value_str(lit, sizeof(lit) - 1)

static void check_all_types(ferry_db_t *db, const char *dbname)
{
    ferry_table_t *t = itest_read_table(db, dbname, "all_types");
    ferry_strbuf_t sql = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&sql, "SELECT ");
    ferry_mysql_rows_select_list(&sql, t);
    ferry_strbuf_puts(&sql, " FROM ");
    ferry_mysql_rows_quote_table(&sql, t);
    ferry_strbuf_puts(&sql, " ORDER BY id");
    MYSQL *conn = ferry_db_mysql(db);
    MYSQL_RES *res;
    if (mysql_real_query(conn, sql.buf, sql.len) != 0 || !(res = mysql_store_result(conn)))
        itest_die("could not select all_types", mysql_error(conn));
    ferry_strbuf_free(&sql);
    ferry_arena_t *a = ferry_arena_new(0);
    char err[512];
    static const uint8_t point12[] = {1,    1,    0, 0, 0, 0, 0, 0, 0, 0,   0,
                                      0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40};
    MYSQL_ROW cells;
    int seen = 0;
    while ((cells = mysql_fetch_row(res))) {
        ferry_row_t *r;
        if (ferry_mysql_rows_convert(t, cells, mysql_fetch_lengths(res), a, &r, err, sizeof(err)) !=
            0)
            itest_die("could not read all_types", err);
        long id = (long)r->values[0].v.i;
        if (id == 1) {
            expect(t, r, "ti", ferry_value_int(127), id);
            expect(t, r, "tiu", ferry_value_uint(255), id);
            expect(t, r, "mi", ferry_value_int(8388607), id);
            expect(t, r, "iu", ferry_value_uint(4294967295u), id);
            expect(t, r, "bi", ferry_value_int(INT64_MAX), id);
            expect(t, r, "biu", ferry_value_uint(UINT64_MAX), id);
            expect(t, r, "dec1",
                   TEXT("99999999999999999999999999999999999.999999999999999999999999"
                        "999999"),
                   id);
            expect(t, r, "dec0", TEXT("-9999999999"), id);
            expect(t, r, "f", ferry_value_float(1.2345679f), id);
            expect(t, r, "d", ferry_value_double(1.7976931348623157e308), id);
            expect(t, r, "dt", ferry_value_civil(0, 0, 0, 0, 0, 0, 0), id);
            expect(t, r, "tm", ferry_value_int(-(838LL * 3600 + 59 * 60 + 59) * 1000000), id);
            expect(t, r, "dtm", ferry_value_civil(9999, 12, 31, 23, 59, 59, 999999), id);
            expect(t, r, "ts", ferry_value_civil(2038, 1, 19, 3, 14, 7, 999999), id);
            expect(t, r, "y", ferry_value_int(0), id);
            expect(t, r, "vc", TEXT("\xf0\x9f\x98\x80 h\xc3\xa9llo"), id);
            expect(t, r, "lat", TEXT("caf\xc3\xa9"), id);
            expect(t, r, "bin", TEXT("a\0\0\0"), id);
            expect(t, r, "vb", TEXT("\0\xff"), id);
            expect(t, r, "b1", ferry_value_uint(1), id);
            expect(t, r, "b64", ferry_value_uint(UINT64_MAX), id);
            expect(t, r, "e", TEXT("c"), id);
            expect(t, r, "st", TEXT("x,z"), id);
            expect(t, r, "g", geo(4326, point12, sizeof(point12)), id);
            expect(t, r, "u", uuid_of("123e4567-e89b-12d3-a456-426614174000"), id);
        } else if (id == 2) {
            expect(t, r, "ti", ferry_value_int(-128), id);
            expect(t, r, "bi", ferry_value_int(INT64_MIN), id);
            expect(t, r, "biu", ferry_value_uint(0), id);
            expect(t, r, "dec1", TEXT("-0.000000000000000000000000000001"), id);
            expect(t, r, "f", ferry_value_float(-16777216.0f), id);
            expect(t, r, "d", ferry_value_double(4.9406564584124654e-324), id);
            expect(t, r, "dt", ferry_value_civil(2024, 2, 29, 0, 0, 0, 0), id);
            expect(t, r, "tm", ferry_value_int(-500000), id);
            expect(t, r, "dtm", ferry_value_civil(0, 0, 0, 0, 0, 0, 0), id);
            expect(t, r, "y", ferry_value_int(2155), id);
            expect(t, r, "vc", TEXT(""), id);
            expect(t, r, "bl", TEXT(""), id);
            expect(t, r, "e", TEXT(""), id);
            expect(t, r, "g", geo(0, point12, sizeof(point12)), id);
        } else if (id == 3) {
            for (size_t i = 1; i < r->n; i++)
                if (!r->values[i].is_null)
                    itest_die("all_types id 3", "a column is not NULL");
        }
        seen++;
    }
    if (seen < 3)
        itest_die("all_types", "expected at least 3 rows");
    mysql_free_result(res);
    ferry_arena_destroy(a);
    ferry_table_destroy(t);
    printf("ok: the row reader gives the known edge values of all_types\n");
}

static int verify(int argc, char **argv)
{
    const char *dbname = argv[0];
    char err[1024];
    ferry_db_t *db = itest_connect_source(source_url);
    check_all_types(db, dbname);
    ferry_fullload_donelog_t *done;
    if (ferry_fullload_donelog_new(project, kafka_props, &done, err, sizeof(err)) != 0 ||
        ferry_fullload_donelog_catch_up(done, 20000, err, sizeof(err)) != 0)
        itest_die("could not read the done topic", err);
    int64_t total_rows = 0, total_ignored = 0;
    for (int i = 1; i < argc; i++) {
        ferry_table_t *t = itest_read_table(db, dbname, argv[i]);
        table_marks_t tm = {dbname, argv[i], -1, 0, 0};
        ferry_fullload_donelog_each(done, count_mark, &tm);
        if (tm.total < 0 || tm.marks != tm.total) {
            fprintf(stderr, "fullload_check: %s: %lld done-markers, %lld chunks\n", argv[i],
                    (long long)tm.marks, (long long)tm.total);
            exit(1);
        }
        ferry_avro_schemas_t s;
        ferry_avro_codec_t *codec;
        if (ferry_avro_schema_generate(t, prefix, &s, err, sizeof(err)) != 0 ||
            ferry_avro_codec_new(s.envelope_json, strlen(s.envelope_json), &codec, err,
                                 sizeof(err)) != 0)
            itest_die("could not compile the table's codec", err);
        blobs_t want = {0}, got = {0};
        verify_counts_t vc = {0, 0};
        source_rows(db, t, codec, &want);
        topic_rows(done, t, codec, &got, &vc, tm.rows);
        if (want.n != got.n) {
            fprintf(stderr, "fullload_check: %s: %zu rows in the source, %zu applied\n", argv[i],
                    want.n, got.n);
            exit(1);
        }
        if (want.n) {
            qsort(want.v, want.n, sizeof(*want.v), blob_cmp);
            qsort(got.v, got.n, sizeof(*got.v), blob_cmp);
        }
        for (size_t r = 0; r < want.n; r++)
            if (blob_cmp(&want.v[r], &got.v[r]) != 0) {
                fprintf(stderr, "fullload_check: %s: applied rows differ from the source\n",
                        argv[i]);
                exit(1);
            }
        printf("ok: %s: %zu rows exactly once in %lld chunks (%lld messages of other attempts "
               "ignored)\n",
               argv[i], got.n, (long long)tm.total, (long long)vc.ignored);
        total_rows += (int64_t)got.n;
        total_ignored += vc.ignored;
        blobs_free(&want);
        blobs_free(&got);
        ferry_avro_codec_destroy(codec);
        ferry_avro_schema_release(&s);
        ferry_table_destroy(t);
    }
    printf("ok: %lld rows, %lld ignored messages, %zu chunks done\n", (long long)total_rows,
           (long long)total_ignored, ferry_fullload_donelog_count(done));
    ferry_fullload_donelog_destroy(done);
    ferry_db_close(db);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fputs("usage: fullload_check plan|work|verify <bootstrap> <project> <source url> ...\n",
              stderr);
        return 2;
    }
    bootstrap = argv[2];
    project = argv[3];
    source_url = argv[4];
    kafka_props = itest_kafka_props(bootstrap);
    snprintf(prefix, sizeof(prefix), "ferry.%s.fwd", project);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    ferry_db_global_init();
    int rc = 2;
    if (strcmp(argv[1], "plan") == 0 && argc >= 9)
        rc = plan(argc - 5, argv + 5);
    else if (strcmp(argv[1], "work") == 0)
        rc = work(argv[5]);
    else if (strcmp(argv[1], "verify") == 0 && argc >= 7)
        rc = verify(argc - 5, argv + 5);
    else
        fputs("fullload_check: bad arguments\n", stderr);
    ferry_db_global_cleanup();
    return rc;
}
