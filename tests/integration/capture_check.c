/*
 * capture_check - the capture module against a real MariaDB and broker.
 *
 *   capture_check <source url> <destination url> <bootstrap>
 *
 * Runs capture.h in a thread of this process from the source's current
 * position while it writes to tables of the database capture_check (types
 * of several kinds, a composite key, a table and a column with awkward
 * names, a table excluded by tables.exclude, a column dropped by
 * columns.exclude), and keeps a model of every change it made. Then:
 *
 *  1. inserts, updates (one changes the primary key), deletes, multi-row
 *     statements, multi-statement transactions and an ALTER TABLE ADD
 *     COLUMN in the middle;
 *  2. stops capture, writes more, starts a new capture with the same start
 *     position: it must resume from its checkpoint (nothing doubled);
 *  3. kills the binlog session from another session: capture reconnects;
 *  4. reads every change topic and the ddl topic back, decoding through the
 *     schema store, and checks that each change arrived exactly once, in
 *     binlog order, with the key and the before/after images written, that
 *     the excluded table and the dropped column never appear, that the
 *     ALTER sits between the right changes by position, and that the last
 *     checkpoint on the offsets topic is capture's final position;
 *  5. a start position in a binlog file the server does not have gives a
 *     clear "purged" error; a row filter ferry cannot evaluate is refused
 *     at set-up.
 *
 * Prints one "ok:" line per check.
 */
#include "common.h"

#include "avro_codec.h"
#include "capture.h"
#include "conf.h"
#include "db.h"
#include "ddl_event.h"
#include "err.h"
#include "kafka.h"
#include "registry.h"
#include "topics.h"
#include "wire.h"

#include <inttypes.h>
#include <mysql.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DB "capture_check"

static const char *src_url, *dst_url, *bootstrap;
static char project[64], prefix[128];
static ferry_db_t *db;
static ferry_conf_t *conf;
static ferry_registry_t *reg;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "capture_check: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void sql(const char *q)
{
    MYSQL *my = ferry_db_mysql(db);
    if (mysql_query(my, q) != 0)
        die("%s: %s", q, mysql_error(my));
    mysql_free_result(mysql_store_result(my));
}

static uint64_t file_seq(const char *file)
{
    const char *dot = strrchr(file, '.');
    return dot ? strtoull(dot + 1, NULL, 10) : 0;
}

/* <0, 0, >0 as (fa, pa) is before, at or after (fb, pb). */
static int pos_cmp(const char *fa, uint64_t pa, const char *fb, uint64_t pb)
{
    uint64_t sa = file_seq(fa), sb = file_seq(fb);
    if (sa != sb)
        return sa < sb ? -1 : 1;
    return pa < pb ? -1 : pa > pb;
}

/* ---- the model of what was written ------------------------------------------------ */

#define MAX_COLS 8
#define MAX_ROWS 32
#define MAX_EXP  256

typedef struct {
    const char *name;
    char kind; /* 'n' number, 's' string, 'x' bytes given as hex */
    int key;
    int dropped;
} mcol_t;

typedef struct {
    const char *name;
    mcol_t cols[MAX_COLS];
    int ncols;
    char *rows[MAX_ROWS][MAX_COLS];
    int live[MAX_ROWS];
    int nrows;
    char topic[512];
} mtab_t;

typedef struct {
    const mtab_t *t;
    char op;
    char *key, *before, *after;
} expect_t;

static expect_t expect[MAX_EXP];
static int n_expect;
static int ddl_at = -1; /* the ALTER comes after expect[ddl_at - 1] */

static mtab_t items = {.name = "items",
                       .cols = {{"id", 'n', 1, 0},
                                {"name", 's', 0, 0},
                                {"price", 'n', 0, 0},
                                {"created", 's', 0, 0},
                                {"data", 'x', 0, 0},
                                {"secret", 's', 0, 1}},
                       .ncols = 6};
static mtab_t lines = {
    .name = "order lines",
    .cols = {{"order id", 'n', 1, 0}, {"line", 'n', 1, 0}, {"qty", 'n', 0, 0}, {"note", 's', 0, 0}},
    .ncols = 4};
static mtab_t skipped = {
    .name = "skipped", .cols = {{"id", 'n', 1, 0}, {"v", 'n', 0, 0}}, .ncols = 2};

static void lit(char *out, size_t n, const mcol_t *c, const char *v)
{
    if (!v) {
        snprintf(out, n, "NULL");
        return;
    }
    if (c->kind == 'n') {
        snprintf(out, n, "%s", v);
    } else if (c->kind == 'x') {
        snprintf(out, n, "X'%s'", v);
    } else {
        size_t k = 0;
        out[k++] = '\'';
        for (const char *p = v; *p && k + 4 < n; p++) {
            if (*p == '\'' || *p == '\\')
                out[k++] = *p == '\'' ? '\'' : '\\';
            out[k++] = *p;
        }
        out[k++] = '\'';
        out[k] = '\0';
    }
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* "col=value|..." of the columns capture carries. */
static char *image(const mtab_t *t, int r)
{
    char buf[2048];
    size_t k = 0;
    for (int i = 0; i < t->ncols; i++) {
        if (t->cols[i].dropped)
            continue;
        const char *v = t->rows[r][i];
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%s=%s", k ? "|" : "", t->cols[i].name,
                              v ? v : "NULL");
    }
    return strdup(buf);
}

static char *key_of(const mtab_t *t, int r)
{
    char buf[512];
    size_t k = 0;
    for (int i = 0; i < t->ncols; i++)
        if (t->cols[i].key)
            k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%s", k ? "," : "", t->rows[r][i]);
    return strdup(buf);
}

static void add_expect(const mtab_t *t, char op, char *key, char *before, char *after)
{
    if (t == &skipped) {
        free(key);
        free(before);
        free(after);
        return;
    }
    if (n_expect == MAX_EXP)
        die("too many expected changes");
    expect[n_expect++] = (expect_t){t, op, key, before, after};
}

static void where_key(char *out, size_t n, const mtab_t *t, int r)
{
    size_t k = 0;
    for (int i = 0; i < t->ncols; i++) {
        if (!t->cols[i].key)
            continue;
        char v[256];
        lit(v, sizeof(v), &t->cols[i], t->rows[r][i]);
        k += (size_t)snprintf(out + k, n - k, "%s`%s` = %s", k ? " AND " : "", t->cols[i].name, v);
    }
}

/* INSERT of n rows (vals: n * ncols values) in one statement; returns the first row index. */
static int m_insert(mtab_t *t, int n, const char *const *vals)
{
    char q[8192], v[512];
    size_t k = (size_t)snprintf(q, sizeof(q), "INSERT INTO `" DB "`.`%s` (", t->name);
    for (int i = 0; i < t->ncols; i++)
        k += (size_t)snprintf(q + k, sizeof(q) - k, "%s`%s`", i ? ", " : "", t->cols[i].name);
    k += (size_t)snprintf(q + k, sizeof(q) - k, ") VALUES ");
    int first = t->nrows;
    for (int r = 0; r < n; r++) {
        int idx = t->nrows++;
        t->live[idx] = 1;
        k += (size_t)snprintf(q + k, sizeof(q) - k, "%s(", r ? ", " : "");
        for (int i = 0; i < t->ncols; i++) {
            t->rows[idx][i] = xstrdup(vals[r * t->ncols + i]);
            lit(v, sizeof(v), &t->cols[i], t->rows[idx][i]);
            k += (size_t)snprintf(q + k, sizeof(q) - k, "%s%s", i ? ", " : "", v);
        }
        k += (size_t)snprintf(q + k, sizeof(q) - k, ")");
        add_expect(t, 'c', key_of(t, idx), NULL, image(t, idx));
    }
    sql(q);
    return first;
}

static void m_update(mtab_t *t, int r, const char *col, const char *val)
{
    int c = -1;
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, col) == 0)
            c = i;
    if (c < 0)
        die("no column %s in the model of %s", col, t->name);
    char q[4096], w[1024], v[512];
    where_key(w, sizeof(w), t, r);
    lit(v, sizeof(v), &t->cols[c], val);
    snprintf(q, sizeof(q), "UPDATE `" DB "`.`%s` SET `%s` = %s WHERE %s", t->name, col, v, w);
    char *before = image(t, r), *old_key = key_of(t, r);
    free(t->rows[r][c]);
    t->rows[r][c] = xstrdup(val);
    char *new_key = key_of(t, r);
    if (strcmp(old_key, new_key) != 0) {
        /* capture turns a key change into a delete of the old key and a create of the new */
        add_expect(t, 'd', old_key, before, NULL);
        add_expect(t, 'c', new_key, NULL, image(t, r));
    } else {
        free(old_key);
        add_expect(t, 'u', new_key, before, image(t, r));
    }
    sql(q);
}

static void m_delete(mtab_t *t, int r)
{
    char q[2048], w[1024];
    where_key(w, sizeof(w), t, r);
    snprintf(q, sizeof(q), "DELETE FROM `" DB "`.`%s` WHERE %s", t->name, w);
    add_expect(t, 'd', key_of(t, r), image(t, r), NULL);
    t->live[r] = 0;
    sql(q);
}

static void m_add_column(mtab_t *t, const char *name, char kind)
{
    char q[512];
    snprintf(q, sizeof(q), "ALTER TABLE `" DB "`.`%s` ADD COLUMN `%s` INT NULL", t->name, name);
    t->cols[t->ncols++] = (mcol_t){name, kind, 0, 0};
    ddl_at = n_expect;
    sql(q);
}

/* ---- the capture in a thread ------------------------------------------------------- */

typedef struct {
    ferry_capture_t *c;
    pthread_t th;
    volatile int stop;
    int rc;
    char err[1024];
} runner_t;

static void *run_capture(void *arg)
{
    runner_t *r = arg;
    r->rc = ferry_capture_run(r->c, &r->stop, r->err, sizeof(r->err));
    return NULL;
}

/*
 * Change records capture holds per group (0: its default, 4 MiB): after the
 * first restart a few hundred bytes, so that a group holds some records,
 * produces them and the rest at once.
 */
static size_t hold_bytes;

static ferry_capture_conf_t capture_conf(const ferry_conf_t *pc, const char *pfx, const char *file,
                                         uint64_t pos, const char *gtid)
{
    ferry_capture_conf_t cc = {.project = pc,
                               .prefix = pfx,
                               .registry = reg,
                               .start_file = file,
                               .start_pos = pos,
                               .start_gtid = gtid,
                               .version = "test",
                               .idle_checkpoint_ms = 500,
                               .hold_bytes = hold_bytes,
                               .timeout_ms = 20000};
    return cc;
}

static void start_capture(runner_t *r, const char *file, uint64_t pos, const char *gtid)
{
    memset(r, 0, sizeof(*r));
    ferry_capture_conf_t cc = capture_conf(conf, prefix, file, pos, gtid);
    r->c = ferry_capture_new(&cc, r->err, sizeof(r->err));
    if (!r->c)
        die("ferry_capture_new: %s", r->err);
    if (pthread_create(&r->th, NULL, run_capture, r) != 0)
        die("pthread_create failed");
}

static void stop_capture(runner_t *r, ferry_capture_status_t *st)
{
    r->stop = 1;
    pthread_join(r->th, NULL);
    if (r->rc != 0)
        die("capture ended with an error: %s", r->err);
    ferry_capture_status(r->c, st);
    if (st->state != FERRY_CAPTURE_STOPPED)
        die("capture state %d after a clean stop", (int)st->state);
    ferry_capture_destroy(r->c);
    r->c = NULL;
}

/* Waits until capture's checkpoint reaches the source's end as of now. */
static void wait_caught_up(runner_t *r, const char *what)
{
    char file[256];
    uint64_t pos;
    itest_master_status(ferry_db_mysql(db), file, sizeof(file), &pos);
    ferry_capture_status_t st;
    for (int i = 0; i < 600; i++) {
        if (r->rc != 0)
            die("%s: capture failed: %s", what, r->err);
        ferry_capture_status(r->c, &st);
        if (st.file[0] && pos_cmp(st.file, st.pos, file, pos) >= 0)
            return;
        nap_ms(50);
    }
    die("%s: capture's checkpoint %s:%" PRIu64 " did not reach %s:%" PRIu64 " within 30 s", what,
        st.file, st.pos, file, pos);
}

/* ---- reading the topics back ---------------------------------------------------------- */

typedef struct {
    const mtab_t *t;
    char op;
    char file[256];
    uint64_t pos;
    int32_t row;
    int32_t partition;
    int64_t offset;
    char *key, *before, *after;
} got_t;

static got_t got[MAX_EXP * 2];
static int n_got;

static itest_codecs_t codecs;

/* The codec of a key or value's writer schema; *body is the Avro body after the framing. */
static ferry_avro_codec_t *codec_for(const void *buf, size_t len, const uint8_t **body,
                                     size_t *body_len)
{
    ferry_wire_info_t info;
    ferry_avro_codec_t *c = itest_codec_for(&codecs, reg, buf, len, &info);
    *body = info.body;
    *body_len = info.body_len;
    return c;
}

static void hex(char *out, size_t n, const char *p, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k + 3 < n; i++)
        k += (size_t)snprintf(out + k, n - k, "%02x", (unsigned char)p[i]);
    out[k] = '\0';
}

/* One value as the model writes it. */
static void value_text(const ferry_column_t *c, const ferry_value_t *v, char *out, size_t n)
{
    if (v->is_null) {
        snprintf(out, n, "NULL");
        return;
    }
    switch (c->type) {
    case FERRY_TYPE_INT:
    case FERRY_TYPE_YEAR:
        snprintf(out, n, "%" PRId64, v->v.i);
        break;
    case FERRY_TYPE_UINT:
        snprintf(out, n, "%" PRIu64, v->v.u);
        break;
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        ferry_value_format_civil(&v->v.dt, false, c->fsp, out, n);
        break;
    case FERRY_TYPE_BYTES:
        hex(out, n, v->v.s.ptr, v->v.s.len);
        break;
    case FERRY_TYPE_DECIMAL:
    case FERRY_TYPE_STRING:
    case FERRY_TYPE_JSON:
    case FERRY_TYPE_ENUM:
    case FERRY_TYPE_SET:
        snprintf(out, n, "%.*s", (int)v->v.s.len, v->v.s.ptr);
        break;
    default:
        snprintf(out, n, "?type %d", (int)c->type);
    }
}

static char *row_image(const ferry_table_t *t, const ferry_row_t *row)
{
    if (!row)
        return NULL;
    char buf[2048], v[512];
    size_t k = 0;
    for (size_t i = 0; i < row->n; i++) {
        const ferry_column_t *c = ferry_table_column(t, i);
        value_text(c, &row->values[i], v, sizeof(v));
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%s=%s", k ? "|" : "", c->name, v);
    }
    return strdup(buf);
}

static char *key_text(const ferry_table_t *t, const ferry_row_t *row)
{
    char buf[512], v[256];
    size_t k = 0;
    for (size_t i = 0; i < row->n; i++) {
        value_text(ferry_table_column(t, i), &row->values[i], v, sizeof(v));
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%s", k ? "," : "", v);
    }
    return strdup(buf);
}

static ferry_kafka_consumer_t *reader_for(const char *topic, int *parts)
{
    const char *props[] = {"bootstrap.servers", bootstrap, NULL};
    return itest_reader(props, topic, "capture-check", parts);
}

/* Reads a change topic until want messages came and then 1 s of silence (30 s at most). */
static int read_changes(const mtab_t *t, int want)
{
    int parts, n = 0, idle = 0;
    ferry_kafka_consumer_t *kc = reader_for(t->topic, &parts);
    if (!kc)
        return 0; /* never created: nothing was produced to it */
    ferry_arena_t *arena = ferry_arena_new(0);
    char err[512];
    for (int rounds = 0; rounds < 300 && (n < want || idle < 10); rounds++) {
        ferry_kafka_msg_t *m = NULL;
        if (ferry_kafka_consumer_poll(kc, 100, &m, err, sizeof(err)) == FERRY_ERR_FATAL)
            die("reading %s: %s", t->topic, err);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        const uint8_t *body;
        size_t blen;
        ferry_avro_codec_t *vc = codec_for(m->value, m->value_len, &body, &blen);
        ferry_change_t ev;
        ferry_arena_reset(arena);
        if (ferry_avro_codec_decode_change(vc, body, blen, arena, &ev, err, sizeof(err)) != 0)
            die("could not decode a change on %s: %s", t->topic, err);
        if (n_got == MAX_EXP * 2)
            die("too many changes");
        got_t *g = &got[n_got++];
        const ferry_table_t *tab = ferry_avro_codec_table(vc);
        g->t = t;
        g->op = ev.op;
        snprintf(g->file, sizeof(g->file), "%s", ev.source.file ? ev.source.file : "");
        g->pos = (uint64_t)ev.source.pos;
        g->row = ev.source.row;
        g->partition = m->partition;
        g->offset = m->offset;
        g->before = row_image(tab, ev.before);
        g->after = row_image(tab, ev.after);
        if (!m->key)
            die("a change on %s has no key", t->topic);
        ferry_avro_codec_t *kc2 = codec_for(m->key, m->key_len, &body, &blen);
        ferry_row_t *key;
        if (ferry_avro_codec_decode_row(kc2, body, blen, arena, &key, err, sizeof(err)) != 0)
            die("could not decode a key on %s: %s", t->topic, err);
        g->key = key_text(ferry_avro_codec_table(kc2), key);
        if (!ev.source.table || strcmp(ev.source.table, t->name) != 0 || !ev.source.db ||
            strcmp(ev.source.db, DB) != 0 || !ev.has_txn || !ev.txn.id || !*ev.txn.id)
            die("change on %s: source block names %s.%s or lacks the transaction", t->topic,
                ev.source.db ? ev.source.db : "?", ev.source.table ? ev.source.table : "?");
        ferry_kafka_msg_destroy(m);
        n++;
    }
    ferry_arena_destroy(arena);
    ferry_kafka_consumer_destroy(kc);
    return n;
}

static int got_cmp(const void *a, const void *b)
{
    const got_t *x = a, *y = b;
    int c = pos_cmp(x->file, x->pos, y->file, y->pos);
    if (c)
        return c;
    if (x->row != y->row)
        return (x->row > y->row) - (x->row < y->row);
    /* a key change is a delete then a create at the same position and row */
    return (x->op == 'c') - (y->op == 'c');
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Checks the changes against the model; returns the number of duplicates dropped. */
static int kafka_order(const void *a, const void *b)
{
    const got_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static int check_changes(int *dups_out)
{
    /*
     * The consumer's rule (capture.h): per partition, apply an event only
     * when its position is past the greatest one applied. Anything else is a
     * duplicate of an aborted transaction; a change out of binlog order
     * would be dropped too and then be missing below.
     */
    qsort(got, (size_t)n_got, sizeof(got[0]), kafka_order);
    int dups = 0, k = 0;
    for (int i = 0; i < n_got; i++) {
        const got_t *prev = k > 0 ? &got[k - 1] : NULL;
        if (prev && prev->t == got[i].t && prev->partition == got[i].partition &&
            got_cmp(&got[i], prev) <= 0) {
            dups++;
            free(got[i].key);
            free(got[i].before);
            free(got[i].after);
            continue;
        }
        got[k++] = got[i];
    }
    qsort(got, (size_t)k, sizeof(got[0]), got_cmp);
    for (int i = 1; i < k; i++)
        if (got_cmp(&got[i - 1], &got[i]) == 0)
            die("the change at %s:%" PRIu64 " row %d arrived in two partitions", got[i].file,
                got[i].pos, got[i].row);
    if (k != n_expect)
        die("%d distinct changes arrived, %d were made", k, n_expect);
    for (int i = 0; i < k; i++) {
        const got_t *g = &got[i];
        const expect_t *e = &expect[i];
        if (g->t != e->t || g->op != e->op || !same_str(g->before, e->before) ||
            !same_str(g->after, e->after) || !same_str(g->key, e->key))
            die("change %d (at %s:%" PRIu64 " row %d) differs:\n  got  %s %c key=%s\n"
                "       before=%s\n       after=%s\n  want %s %c key=%s\n       before=%s\n"
                "       after=%s",
                i, g->file, g->pos, g->row, g->t->name, g->op, g->key, g->before ? g->before : "-",
                g->after ? g->after : "-", e->t->name, e->op, e->key, e->before ? e->before : "-",
                e->after ? e->after : "-");
    }
    n_got = k;
    *dups_out = dups;
    return k;
}

/* The ddl topic: one ALTER of items, between the right changes. */
static void check_ddl(void)
{
    char topic[300], err[512];
    snprintf(topic, sizeof(topic), "%s.ddl", prefix);
    int parts, n = 0;
    ferry_kafka_consumer_t *kc = reader_for(topic, &parts);
    if (!kc)
        die("no topic %s", topic);
    ferry_arena_t *arena = ferry_arena_new(0);
    char file[256] = "";
    int64_t pos = -1;
    for (int rounds = 0; rounds < 300 && (n == 0 || rounds < 20); rounds++) {
        ferry_kafka_msg_t *m = NULL;
        if (ferry_kafka_consumer_poll(kc, 100, &m, err, sizeof(err)) == FERRY_ERR_FATAL)
            die("reading %s: %s", topic, err);
        if (!m)
            continue;
        ferry_ddl_event_t ev;
        if (ferry_ddl_event_from_message(reg, m->value, m->value_len, arena, &ev, err,
                                         sizeof(err)) != 0)
            die("could not decode a ddl event: %s", err);
        if (n > 0 && ev.has_pos && ev.pos == pos && ev.file && strcmp(ev.file, file) == 0) {
            ferry_kafka_msg_destroy(m); /* a duplicate by position */
            continue;
        }
        n++;
        if (strcmp(ev.kind, "ALTER_TABLE") != 0 || !ev.table || strcmp(ev.table, "items") != 0 ||
            !strstr(ev.statement, "ADD COLUMN") || !ev.file || !ev.has_pos || ev.n_tables != 1 ||
            strcmp(ev.tables[0], DB ".items") != 0 || !ev.table_definition ||
            !strstr(ev.table_definition, "extra") || strstr(ev.table_definition, "secret"))
            die("unexpected ddl event: kind %s table %s statement \"%s\"", ev.kind,
                ev.table ? ev.table : "-", ev.statement);
        snprintf(file, sizeof(file), "%s", ev.file);
        pos = ev.pos;
        ferry_kafka_msg_destroy(m);
    }
    ferry_arena_destroy(arena);
    ferry_kafka_consumer_destroy(kc);
    if (n != 1)
        die("%d ddl events on %s, expected 1", n, topic);
    const got_t *before = &got[ddl_at - 1], *after = &got[ddl_at];
    if (pos_cmp(file, (uint64_t)pos, before->file, before->pos) <= 0 ||
        pos_cmp(file, (uint64_t)pos, after->file, after->pos) >= 0)
        die("the ALTER at %s:%" PRId64 " is not between the changes at %s:%" PRIu64
            " and %s:%" PRIu64,
            file, pos, before->file, before->pos, after->file, after->pos);
    printf("ok: the ALTER TABLE arrived once on %s at %s:%" PRId64
           ", between the changes before and after it\n",
           topic, file, pos);
}

/* ---- the scenario --------------------------------------------------------------------- */

static void setup_tables(void)
{
    sql("DROP DATABASE IF EXISTS " DB);
    sql("CREATE DATABASE " DB);
    sql("CREATE TABLE " DB ".items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, "
        "price DECIMAL(10,2), created DATETIME(3), data BLOB, secret VARCHAR(20))");
    sql("CREATE TABLE " DB ".`order lines` (`order id` INT NOT NULL, line SMALLINT UNSIGNED NOT "
        "NULL, qty BIGINT, note TEXT CHARACTER SET utf8mb4, PRIMARY KEY (`order id`, line))");
    sql("CREATE TABLE " DB ".skipped (id INT PRIMARY KEY, v INT)");
    mtab_t *ts[] = {&items, &lines, &skipped};
    for (int i = 0; i < 3; i++)
        if (ferry_topic_changes(prefix, DB, ts[i]->name, ts[i]->topic, sizeof(ts[i]->topic)) != 0)
            die("topic name");
}

static void batch_one(void)
{
    const char *i0[] = {"1", "apple", "1.50", "2024-01-02 03:04:05.678", "00ff", "s1"};
    m_insert(&items, 1, i0);
    const char *i12[] = {"2",      "pear",
                         "0.99",   "2023-12-31 23:59:59.999",
                         NULL,     "s2",
                         "3",      "it's \"quoted\" \\ ok",
                         "-12.30", "2000-02-29 00:00:00.000",
                         "",       "s3"};
    m_insert(&items, 2, i12);
    sql("BEGIN");
    const char *o01[] = {"10", "1", "5",  "first \xe2\x98\x83 \xf0\x9f\x8e\x89",
                         "10", "2", "-7", NULL};
    m_insert(&lines, 2, o01);
    m_update(&items, 0, "name", "apple two");
    sql("COMMIT");
    const char *s0[] = {"1", "1"};
    m_insert(&skipped, 1, s0);
    m_update(&skipped, 0, "v", "2");
    m_update(&items, 1, "price", "1.25");
    m_update(&items, 1, "id", "20"); /* the key changes */
    m_update(&lines, 1, "qty", "8");
    m_delete(&items, 2);
    m_add_column(&items, "extra", 'n');
    const char *i3[] = {"4", "kiwi", "3.00", "2024-02-29 12:00:00.000", "", "s4", "42"};
    m_insert(&items, 1, i3);
    m_update(&items, 0, "extra", "7");
    sql("BEGIN");
    m_delete(&lines, 0);
    const char *o2[] = {"11", "1", "1", "x"};
    m_insert(&lines, 1, o2);
    m_update(&items, 3, "name", "kiwi two");
    m_delete(&skipped, 0);
    sql("COMMIT");
}

static void batch_two(void)
{
    const char *i4[] = {"5", "plum", "0.10", "1999-12-31 23:59:59.000", "deadbeef", "s5", NULL};
    m_insert(&items, 1, i4);
    m_update(&lines, 2, "note", "changed while capture was down");
    m_delete(&items, 1);
}

static void batch_three(runner_t *r)
{
    const char *i5[] = {"6", "fig", "9.99", "2025-06-01 08:00:00.001", "01", "s6", "1"};
    int idx = m_insert(&items, 1, i5);
    wait_caught_up(r, "before the kill");
    ferry_capture_status_t st;
    ferry_capture_status(r->c, &st);
    if (!st.stream_thread_id)
        die("capture reports no binlog session id");
    char q[64];
    snprintf(q, sizeof(q), "KILL %lu", st.stream_thread_id);
    sql(q);
    m_update(&items, idx, "price", "10.00");
    const char *o3[] = {"12", "65535", "9223372036854775807", "after the kill"};
    m_insert(&lines, 1, o3);
    for (int i = 0; i < 600; i++) {
        ferry_capture_status(r->c, &st);
        if (st.reconnects > 0)
            break;
        nap_ms(50);
    }
    if (st.reconnects == 0)
        die("capture did not notice the killed binlog session within 30 s");
    wait_caught_up(r, "after the kill");
    printf("ok: capture reconnected after its binlog session was killed (%" PRIu64 " reconnects)\n",
           st.reconnects);
}

static ferry_conf_t *load_conf(const char *proj, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "project.name = %s\nsource.url = %s\ndestination.url = %s\n"
             "kafka.bootstrap.servers = %s\ntables.include = " DB ".*\n"
             "tables.exclude = " DB ".skipped\ncolumns.exclude." DB ".items = secret\n%s",
             proj, src_url, dst_url, bootstrap, extra);
    ferry_conf_t *c = ferry_conf_load_string(text, "capture_check.properties");
    if (!c || ferry_conf_problem_count(c) > 0)
        die("project file: %s", c ? ferry_conf_problem(c, 0) : "out of memory");
    return c;
}

static void check_failures(void)
{
    char err[1024];
    /* a file the server does not have */
    char proj[80], pfx[128];
    snprintf(proj, sizeof(proj), "%s-purged", project);
    snprintf(pfx, sizeof(pfx), "ferry.%s.fwd", proj);
    ferry_conf_t *pc = load_conf(proj, "");
    ferry_capture_conf_t cc = capture_conf(pc, pfx, "no-such-bin.000999", 4, NULL);
    ferry_capture_t *c = ferry_capture_new(&cc, err, sizeof(err));
    if (!c)
        die("ferry_capture_new (purged case): %s", err);
    volatile int stop = 0;
    int rc = ferry_capture_run(c, &stop, err, sizeof(err));
    if (rc != FERRY_ERR_NOT_FOUND || !strstr(err, "purged") || !strstr(err, "no-such-bin.000999"))
        die("a purged start position gave %d: %s", rc, err);
    printf("ok: a purged position stops capture: %s\n", err);
    ferry_capture_destroy(c);
    ferry_conf_destroy(pc);

    /* a row filter outside the grammar ferry evaluates is refused at set-up */
    snprintf(proj, sizeof(proj), "%s-where", project);
    snprintf(pfx, sizeof(pfx), "ferry.%s.fwd", proj);
    pc = load_conf(proj, "where." DB ".items = lower(sku) = 'x'\n");
    cc = capture_conf(pc, pfx, "x.000001", 4, NULL);
    c = ferry_capture_new(&cc, err, sizeof(err));
    if (c || !strstr(err, "row filter where." DB ".items: functions are not supported"))
        die("a bad row filter was not refused: %s", c ? "capture created" : err);
    printf("ok: a bad row filter is refused: %s\n", err);
    ferry_conf_destroy(pc);
}

/* A broker error inside a Kafka transaction: capture aborts and replays from its checkpoint. */
static void batch_faults(runner_t *r, const char *control)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "curl -fsS -o /dev/null -X POST '%s/errors?api=Produce&code=TOPIC_AUTHORIZATION_FAILED"
             "&count=2'",
             control);
    if (system(cmd) != 0)
        die("could not inject broker errors: %s", cmd);
    batch_two();
    wait_caught_up(r, "after broker errors");
    ferry_capture_status_t st;
    ferry_capture_status(r->c, &st);
    if (st.kafka_aborts == 0)
        die("the injected broker errors aborted no Kafka transaction");
    printf("ok: after %" PRIu64
           " aborted Kafka transactions capture replayed from its checkpoint\n",
           st.kafka_aborts);
}

int main(int argc, char **argv)
{
    const char *control = NULL;
    if (argc == 6 && strcmp(argv[1], "faults") == 0) {
        control = argv[5];
        argv++;
        argc -= 2;
    }
    if (argc != 4) {
        fputs("usage: capture_check [faults] <source url> <destination url> <bootstrap> "
              "[<devkafka control url>]\n",
              stderr);
        return 2;
    }
    src_url = argv[1];
    dst_url = argv[2];
    bootstrap = argv[3];
    snprintf(project, sizeof(project), "capchk%d", (int)getpid());
    snprintf(prefix, sizeof(prefix), "ferry.%s.fwd", project);
    char err[1024];
    ferry_db_global_init();
    if (ferry_db_connect(src_url, "source", 5000, &db, err, sizeof(err)) != 0)
        die("%s", err);
    conf = load_conf(project, "");
    const char *props[] = {"bootstrap.servers", bootstrap, NULL};
    reg = itest_open_registry(project, NULL, props);
    char topic[300];
    const char *compact[] = {"cleanup.policy", "compact", NULL};
    snprintf(topic, sizeof(topic), "%s.offsets", prefix);
    if (ferry_kafka_topic_create(props, topic, 1, -1, compact, 1, 10000, err, sizeof(err)) != 0)
        die("%s", err);
    snprintf(topic, sizeof(topic), "%s.ddl", prefix);
    if (ferry_kafka_topic_create(props, topic, 1, -1, NULL, 1, 10000, err, sizeof(err)) != 0)
        die("%s", err);

    setup_tables();
    char p0_file[256], gtid[256] = "";
    uint64_t p0_pos;
    itest_master_status(ferry_db_mysql(db), p0_file, sizeof(p0_file), &p0_pos);
    MYSQL *my = ferry_db_mysql(db);
    if (mysql_query(my, "SELECT @@gtid_binlog_pos") == 0) {
        MYSQL_RES *r = mysql_store_result(my);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        if (row && row[0])
            snprintf(gtid, sizeof(gtid), "%s", row[0]);
        mysql_free_result(r);
    }

    /* 1. from P0, through an ALTER */
    runner_t run;
    start_capture(&run, p0_file, p0_pos, gtid);
    batch_one();
    wait_caught_up(&run, "first batch");
    ferry_capture_status_t st;
    stop_capture(&run, &st);
    if (st.kafka_aborts != 0)
        die("%" PRIu64 " Kafka transactions aborted without a fault", st.kafka_aborts);
    printf("ok: first batch captured (%d changes, checkpoint %s:%" PRIu64 ")\n", n_expect, st.file,
           st.pos);

    if (control) {
        /* 2'. broker errors during capture */
        start_capture(&run, p0_file, p0_pos, gtid);
        batch_faults(&run, control);
    } else {
        /* 2. stopped: changes wait in the binlog; a restart resumes from the checkpoint */
        batch_two();
        hold_bytes = 600;
        start_capture(&run, p0_file, p0_pos, gtid);
        wait_caught_up(&run, "after the restart");
        ferry_capture_status(run.c, &st);
        if (st.early_releases == 0)
            die("no group produced its held records early with a hold of %zu bytes", hold_bytes);
        /* 3. the binlog session killed */
        batch_three(&run);
    }
    stop_capture(&run, &st);

    /* 4. what Kafka holds */
    int want_items = 0, want_lines = 0;
    for (int i = 0; i < n_expect; i++)
        if (expect[i].t == &items)
            want_items++;
        else
            want_lines++;
    if (read_changes(&items, want_items) < want_items ||
        read_changes(&lines, want_lines) < want_lines)
        die("fewer changes arrived than were made");
    if (read_changes(&skipped, 0) != 0)
        die("changes of the excluded table reached Kafka");
    int dups;
    int n = check_changes(&dups);
    if (dups > 0 && st.kafka_aborts == 0)
        die("%d changes arrived twice although no Kafka transaction was aborted", dups);
    printf("ok: %d changes arrived once each (%d duplicates of aborted transactions dropped by "
           "position), in binlog order, with their keys and images; the excluded table and the "
           "dropped column never appeared\n",
           n, dups);
    check_ddl();

    ferry_capture_position_t last;
    if (ferry_capture_checkpoint_read(props, reg, prefix, "fwd", 20000, &last, err, sizeof(err)) !=
        0)
        die("reading the checkpoint: %s", err);
    if (strcmp(last.file, st.file) != 0 || last.pos != st.pos ||
        pos_cmp(last.file, last.pos, got[n - 1].file, got[n - 1].pos) < 0 || !last.gtid_set[0])
        die("the offsets topic ends at %s:%" PRIu64 " (gtid %s), capture stopped at %s:%" PRIu64,
            last.file, last.pos, last.gtid_set, st.file, st.pos);
    printf("ok: the last checkpoint on %s.offsets is the end position %s:%" PRIu64
           " (GTID state %s)\n",
           prefix, last.file, last.pos, last.gtid_set);

    /* 5. errors */
    if (!control)
        check_failures();

    for (int i = 0; i < n_got; i++) {
        free(got[i].key);
        free(got[i].before);
        free(got[i].after);
    }
    for (int i = 0; i < n_expect; i++) {
        free(expect[i].key);
        free(expect[i].before);
        free(expect[i].after);
    }
    mtab_t *ts[] = {&items, &lines, &skipped};
    for (int t = 0; t < 3; t++)
        for (int r = 0; r < ts[t]->nrows; r++)
            for (int c = 0; c < MAX_COLS; c++)
                free(ts[t]->rows[r][c]);
    itest_codecs_clear(&codecs);
    ferry_registry_destroy(reg);
    ferry_conf_destroy(conf);
    ferry_db_close(db);
    ferry_db_global_cleanup();
    return 0;
}
