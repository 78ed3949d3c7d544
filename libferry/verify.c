/*
 * verify.c - a verification run: the selected tables, the planner that cuts
 * them into key ranges, the workers that compare the ranges, and the
 * per-chunk checkpoints.
 *
 * Threads: the caller's thread plans (one source session walking each
 * table's key index with chunk.h's boundary query); opts->threads workers
 * each hold a source and a destination session and take chunks from a
 * bounded queue. A worker sends a chunk's checksum query to both servers
 * before reading either answer, so the two sides compute at the same time.
 *
 * Chunk size: each table starts at INITIAL_ROWS rows per chunk; every
 * finished chunk updates the table's measured cost per row (a moving
 * average of the slower side's time), and the planner sizes the next chunk
 * so it should take chunk_target_ms.
 *
 * Checkpoints: a table's chunks finish out of order, so what is committed
 * is the longest run of finished chunks from the table's start: its upper
 * bound, its row counts and the differences found in it. The checkpoint
 * file is rewritten (temporary file + rename) whenever that run grows; a
 * restarted verification skips finished tables, starts planning each other
 * table after its committed bound, and keeps the differences already found.
 */
#include "verify.h"

#include "clock.h"
#include "db.h"
#include "err.h"
#include "link_map.h"
#include "log.h"
#include "mysql_rows.h"
#include "row_filter.h"
#include "verify_int.h"

#include <errno.h>
#include <math.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INITIAL_ROWS 10000
#define MIN_ROWS     1000
#define MAX_ROWS     2000000

static bool stopping(const ferry_verify_t *v)
{
    return v->opts->stop && atomic_load(v->opts->stop);
}

void ferry_verify_opts_from_conf(const ferry_conf_t *conf, ferry_verify_opts_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->threads = (int)ferry_conf_get_int(conf, "verify.threads");
    opts->chunk_target_ms = ferry_conf_get_int(conf, "verify.chunk.target.ms");
    opts->float_tolerance = strtod(ferry_conf_get(conf, "verify.float.tolerance"), NULL);
    opts->rows_per_second = ferry_conf_get_int(conf, "verify.rows.per.second");
    opts->threads_running_max = ferry_conf_get_int(conf, "verify.threads.running.max");
    opts->stream = strcmp(ferry_conf_get(conf, "verify.checksum"), "stream") == 0;
    opts->live = ferry_conf_get_bool(conf, "verify.live");
    opts->rounds = (int)ferry_conf_get_int(conf, "verify.rounds");
    opts->settle_timeout_ms = ferry_conf_get_int(conf, "verify.settle.timeout.ms");
}

int ferry_verify_new(const ferry_conf_t *conf, const ferry_verify_opts_t *opts,
                     ferry_verify_t **out)
{
    ferry_verify_t *v = calloc(1, sizeof(*v));
    if (!v)
        return FERRY_ERR_NOMEM;
    v->conf = conf;
    v->opts = opts;
    pthread_mutex_init(&v->lock, NULL);
    pthread_mutex_init(&v->ckpt_lock, NULL);
    pthread_cond_init(&v->changed, NULL);
    pthread_mutex_init(&v->diffs.lock, NULL);
    pthread_mutex_init(&v->changing.lock, NULL);
    *out = v;
    return 0;
}

static void chunk_free(chunk_t *c)
{
    if (c) {
        ferry_arena_destroy(c->arena);
        free(c);
    }
}

void ferry_verify_destroy(ferry_verify_t *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_tables; i++) {
        ferry_verify_table_free(&v->tables[i]);
        for (chunk_t *c = v->state[i].finished, *n; c; c = n) {
            n = c->next;
            chunk_free(c);
        }
        ferry_arena_destroy(v->state[i].bound_arena);
        ferry_arena_destroy(v->state[i].lead_arena);
    }
    for (size_t i = 0; i < v->q_len; i++)
        chunk_free(v->queue[(v->q_head + i) % v->q_cap]);
    free(v->queue);
    free(v->tables);
    free(v->state);
    ferry_verify_diffs_free(&v->diffs);
    ferry_verify_diffs_free(&v->changing);
    for (vrange_t *r = v->ranges, *n; r; r = n) {
        n = r->next;
        ferry_arena_destroy(r->arena);
        free(r);
    }
    pthread_mutex_destroy(&v->diffs.lock);
    pthread_mutex_destroy(&v->changing.lock);
    pthread_mutex_destroy(&v->lock);
    pthread_mutex_destroy(&v->ckpt_lock);
    pthread_cond_destroy(&v->changed);
    free(v);
}

size_t ferry_verify_differences(const ferry_verify_t *v)
{
    return v->diffs.n;
}

size_t ferry_verify_still_changing(const ferry_verify_t *v)
{
    return v->changing.n;
}

void ferry_verify_progress(const ferry_verify_t *v, ferry_verify_progress_t *out)
{
    memset(out, 0, sizeof(*out));
    out->tables_total = (int64_t)v->n_tables;
    out->tables_done = atomic_load(&v->tables_done);
    out->rows_estimated = v->rows_estimated;
    out->rows_checked = atomic_load(&v->rows_checked);
    out->rows_resumed = atomic_load(&v->rows_resumed);
    out->chunks_checked = atomic_load(&v->chunks_checked);
    out->chunks_differing = atomic_load(&v->chunks_differing);
    pthread_mutex_lock((pthread_mutex_t *)&v->diffs.lock);
    out->differences = (int64_t)v->diffs.n;
    pthread_mutex_unlock((pthread_mutex_t *)&v->diffs.lock);
    out->running = atomic_load(&v->running);
    out->finished = atomic_load(&v->finished);
    out->paused = atomic_load(&v->paused);
    out->threads_running = atomic_load(&v->threads_running);
    out->elapsed_ms = out->running ? ferry_mono_ms() - v->started_ms : atomic_load(&v->elapsed_ms);
}

/* Records the first error; later ones are dropped. */
static void fail(ferry_verify_t *v, int rc, const char *msg)
{
    pthread_mutex_lock(&v->lock);
    if (!v->err) {
        v->err = rc;
        snprintf(v->errstr, sizeof(v->errstr), "%s", msg);
    }
    pthread_cond_broadcast(&v->changed);
    pthread_mutex_unlock(&v->lock);
}

static bool failed(ferry_verify_t *v)
{
    pthread_mutex_lock(&v->lock);
    bool f = v->err != 0;
    pthread_mutex_unlock(&v->lock);
    return f;
}

/* ---- tables ------------------------------------------------------------- */

static int64_t table_estimate(MYSQL *my, const char *db, const char *table)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&q, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ");
    ferry_verify_sql_text(&q, db);
    ferry_strbuf_puts(&q, " AND TABLE_NAME = ");
    ferry_verify_sql_text(&q, table);
    int64_t n = -1;
    if (!q.oom && mysql_query(my, q.buf) == 0) {
        MYSQL_RES *res = mysql_store_result(my);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (row && row[0])
            n = strtoll(row[0], NULL, 10);
        mysql_free_result(res);
    }
    ferry_strbuf_free(&q);
    return n;
}

/* A table definition read on its own thread (the destination's, while the source's is read). */
typedef struct {
    MYSQL *my;
    ferry_mysql_flavor_t flavor;
    const char *db, *table;
    ferry_tabledef_t *def;
    int rc;
    char errstr[512];
} def_read_t;

static void *read_def_main(void *arg)
{
    def_read_t *r = arg;
    r->rc = ferry_mysql_schema_read_table(r->my, r->flavor, r->db, r->table, &r->def, r->errstr,
                                          sizeof(r->errstr));
    return NULL;
}

/* Reads and prepares every selected table. */
static int load_tables(ferry_verify_t *v, ferry_db_t *src, ferry_db_t *dst, char *errstr,
                       size_t errstr_size)
{
    ferry_table_name_t *names = NULL;
    size_t n = 0;
    ferry_rename_map_t *map = NULL;
    int rc = ferry_link_list_tables(v->conf, ferry_db_mysql(src), &names, &n, errstr, errstr_size);
    if (!rc)
        rc = ferry_link_map_new(v->conf, names, n, &map, errstr, errstr_size);
    if (!rc) {
        v->tables = calloc(n ? n : 1, sizeof(*v->tables));
        v->state = calloc(n ? n : 1, sizeof(*v->state));
        if (!v->tables || !v->state)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    ferry_mysql_flavor_t sf = ferry_mysql_flavor_from_version(ferry_db_server_version(src));
    ferry_mysql_flavor_t df = ferry_mysql_flavor_from_version(ferry_db_server_version(dst));
    for (size_t i = 0; !rc && i < n; i++) {
        if (v->opts->tables &&
            !ferry_table_pattern_match(v->opts->tables, names[i].db, names[i].table))
            continue;
        vtable_t *t = &v->tables[v->n_tables];
        const char *ddb, *dtab;
        ferry_rename_map_table(map, names[i].db, names[i].table, &ddb, &dtab);
        t->src_db = strdup(names[i].db);
        t->src_name = strdup(names[i].table);
        t->dst_db = strdup(ddb);
        t->dst_name = strdup(dtab);
        size_t ll = strlen(names[i].db) + strlen(names[i].table) + 2;
        t->label = malloc(ll);
        v->n_tables++;
        if (!t->src_db || !t->src_name || !t->dst_db || !t->dst_name || !t->label) {
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(t->label, ll, "%s.%s", names[i].db, names[i].table);
        ferry_row_filter_t *f = NULL;
        rc = ferry_row_filter_from_conf(v->conf, names[i].db, names[i].table, &f, errstr,
                                        errstr_size);
        if (!rc && f && !(t->where = strdup(ferry_row_filter_sql(f))))
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        ferry_row_filter_destroy(f);
        /* both sides' definitions are read at the same time */
        def_read_t dr = {
            .my = ferry_db_mysql(dst), .flavor = df, .db = t->dst_db, .table = t->dst_name};
        pthread_t th;
        bool threaded = !rc && pthread_create(&th, NULL, read_def_main, &dr) == 0;
        if (!rc)
            rc = ferry_mysql_schema_read_table(ferry_db_mysql(src), sf, t->src_db, t->src_name,
                                               &t->src_def, errstr, errstr_size);
        if (threaded)
            pthread_join(th, NULL);
        else if (!rc)
            read_def_main(&dr);
        t->dst_def = dr.def;
        if (!rc)
            rc = ferry_link_filter_columns(t->src_def, map, errstr, errstr_size);
        if (!rc && dr.rc) {
            rc = dr.rc;
            if (rc == FERRY_ERR_NOT_FOUND)
                ferry_err_set(errstr, errstr_size, rc,
                              "could not verify \"%s\": table `%s`.`%s` does not exist at the "
                              "destination",
                              t->label, t->dst_db, t->dst_name);
            else
                ferry_err_set(errstr, errstr_size, rc, "%s", dr.errstr);
        }
        if (!rc)
            rc = ferry_verify_table_prepare(t, sf == FERRY_MYSQL_FLAVOR_MARIADB,
                                            df == FERRY_MYSQL_FLAVOR_MARIADB, errstr, errstr_size);
        if (!rc) {
            t->estimate = table_estimate(ferry_db_mysql(src), t->src_db, t->src_name);
            if (t->estimate > 0)
                v->rows_estimated += t->estimate;
        }
    }
    ferry_rename_map_destroy(map);
    ferry_table_names_free(names, n);
    return rc;
}

/* ---- chunks and the queue ------------------------------------------------ */

/* Copies n key values into arena; NULL when out of memory. */
static ferry_chunk_value_t *copy_values(ferry_arena_t *arena, const ferry_chunk_value_t *src,
                                        size_t n)
{
    ferry_chunk_value_t *out = ferry_arena_calloc(arena, n ? n : 1, sizeof(*out));
    for (size_t i = 0; out && i < n; i++) {
        out[i].len = src[i].len;
        out[i].data = src[i].data ? ferry_arena_strndup(arena, src[i].data, src[i].len) : NULL;
        if (src[i].data && !out[i].data)
            return NULL;
    }
    return out;
}

/* Values of a result row as key values (pointing into the row). */
static void row_values(MYSQL_RES *res, MYSQL_ROW row, ferry_chunk_value_t *out, size_t n)
{
    unsigned long *lens = mysql_fetch_lengths(res);
    for (size_t i = 0; i < n; i++) {
        out[i].data = row[i];
        out[i].len = lens[i];
    }
}

/*
 * Waits (v->lock held) for a broadcast on v->changed, at most 100 ms, so a
 * caller also sees a stop that nobody signals.
 */
static void wait_changed(ferry_verify_t *v)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&v->changed, &v->lock, &ts);
}

/* Queues c, waiting while the queue is full. Returns false when the run is ending. */
static bool enqueue(ferry_verify_t *v, chunk_t *c)
{
    pthread_mutex_lock(&v->lock);
    while (v->q_len == v->q_cap && !v->err && !stopping(v))
        wait_changed(v);
    bool ok = !v->err && !stopping(v);
    if (ok) {
        v->queue[(v->q_head + v->q_len) % v->q_cap] = c;
        v->q_len++;
        pthread_cond_broadcast(&v->changed);
    }
    pthread_mutex_unlock(&v->lock);
    if (!ok)
        chunk_free(c);
    return ok;
}

/* The next chunk, or NULL when planning is over and the queue empty (or the run ends). */
static chunk_t *dequeue(ferry_verify_t *v)
{
    chunk_t *c = NULL;
    pthread_mutex_lock(&v->lock);
    for (;;) {
        if (v->err || stopping(v))
            break;
        if (v->q_len > 0) {
            c = v->queue[v->q_head];
            v->q_head = (v->q_head + 1) % v->q_cap;
            v->q_len--;
            pthread_cond_broadcast(&v->changed);
            break;
        }
        if (v->planning_done)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&v->changed, &v->lock, &ts);
    }
    pthread_mutex_unlock(&v->lock);
    return c;
}

/* ---- planning ------------------------------------------------------------ */

/*
 * Rows for table i's next chunk, from its measured cost per row. Near the
 * end of the run chunks get smaller, so that no worker is left comparing a
 * long chunk while the others have nothing to do: a chunk holds at most
 * the rows still to plan divided by the workers, but not fewer than
 * END_ROWS. here: the rows of table i above the planner's position when it
 * knows them (integer keys), else -1 (then its estimate less what was
 * planned of it).
 */
#define END_ROWS (4 * INITIAL_ROWS)

static uint64_t next_rows(ferry_verify_t *v, size_t i, double here)
{
    pthread_mutex_lock(&v->lock);
    tstate_t *st = &v->state[i];
    double ms = st->ms_per_row;
    double rows = ms > 0 ? (double)v->opts->chunk_target_ms / ms : INITIAL_ROWS;
    if (rows < MIN_ROWS)
        rows = MIN_ROWS;
    if (rows > MAX_ROWS)
        rows = MAX_ROWS;
    double left = here >= 0 ? here : (double)(v->tables[i].estimate - st->planned);
    if (left < 0)
        left = 0;
    for (size_t j = i + 1; j < v->n_tables; j++)
        if (!v->state[j].done && v->tables[j].estimate > 0)
            left += (double)v->tables[j].estimate;
    int workers = v->opts->threads > 0 ? v->opts->threads : 1;
    double floor = rows < END_ROWS ? rows : END_ROWS;
    if (rows > left / workers)
        rows = left / workers > floor ? left / workers : floor;
    st->planned += (int64_t)rows;
    pthread_mutex_unlock(&v->lock);
    return (uint64_t)rows;
}

/*
 * Rows per key value of table i (integer key), as measured on its finished
 * chunks; 1 before the first, the most a unique integer key can hold, so a
 * first chunk is never larger than planned.
 */
static double key_density(ferry_verify_t *v, size_t i)
{
    pthread_mutex_lock(&v->lock);
    double d = v->state[i].density;
    pthread_mutex_unlock(&v->lock);
    return d > 0 ? d : 1.0;
}

/* Learns table i's density from a finished chunk of rows rows over span key values. */
static void learn_density(ferry_verify_t *v, size_t i, double span, int64_t rows)
{
    if (span <= 0)
        return;
    /* an empty chunk still says the key is sparse: half a row in it */
    double sample = (rows > 0 ? (double)rows : 0.5) / span;
    if (sample > 1)
        sample = 1;
    if (sample < 1e-30)
        sample = 1e-30;
    pthread_mutex_lock(&v->lock);
    double *d = &v->state[i].density;
    /* a geometric mean: a density can be off by orders of magnitude, and must come back fast */
    *d = *d > 0 ? sqrt(*d * sample) : sample;
    pthread_mutex_unlock(&v->lock);
}

/* Waits while the source's Threads_running is above the configured maximum. */
static void wait_source_quiet(ferry_verify_t *v, MYSQL *my)
{
    if (v->opts->threads_running_max <= 0)
        return;
    for (int logged = 0; !stopping(v) && !failed(v);) {
        long running = 0;
        if (mysql_query(my, "SHOW GLOBAL STATUS LIKE 'Threads_running'") == 0) {
            MYSQL_RES *res = mysql_store_result(my);
            MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
            if (row && row[1])
                running = strtol(row[1], NULL, 10);
            mysql_free_result(res);
        }
        atomic_store(&v->threads_running, running);
        if (running <= v->opts->threads_running_max)
            break;
        if (!logged++) {
            atomic_store(&v->paused, 1);
            ferry_log_info("source busy, verification paused", "threads_running=%ld max=%lld",
                           running, (long long)v->opts->threads_running_max);
        }
        usleep(500 * 1000);
    }
    if (atomic_exchange(&v->paused, 0))
        ferry_log_info("source quiet, verification resumed", "threads_running=%lld max=%lld",
                       (long long)atomic_load(&v->threads_running),
                       (long long)v->opts->threads_running_max);
}

static chunk_t *new_chunk(size_t table, int64_t seq, const ferry_chunk_value_t *lo,
                          const ferry_chunk_value_t *hi, size_t n_key)
{
    chunk_t *c = calloc(1, sizeof(*c));
    if (!c || !(c->arena = ferry_arena_new(0))) {
        free(c);
        return NULL;
    }
    c->table = table;
    c->seq = seq;
    if ((lo && !(c->lo = copy_values(c->arena, lo, n_key))) ||
        (hi && !(c->hi = copy_values(c->arena, hi, n_key)))) {
        chunk_free(c);
        return NULL;
    }
    return c;
}

__extension__ typedef __int128 i128;

/* Parses a decimal integer (signed or not) into *out; false when it is not one. */
static bool parse_i128(const char *s, i128 *out)
{
    bool neg = *s == '-';
    s += neg;
    if (!*s)
        return false;
    i128 v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > ((i128)1 << 100))
            return false;
        v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    return true;
}

static void format_i128(i128 v, char *buf, size_t size)
{
    char tmp[48];
    size_t n = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u && n < sizeof(tmp));
    size_t o = 0;
    if (neg && o + 1 < size)
        buf[o++] = '-';
    while (n && o + 1 < size)
        buf[o++] = tmp[--n];
    buf[o] = '\0';
}

/*
 * Reads MIN and MAX of t's single key column (after: of the values above
 * it; both are index dives); *empty when there is no such value.
 */
static int key_span(MYSQL *my, const vtable_t *t, const char *after, i128 *lo, i128 *hi,
                    bool *empty, char *errstr, size_t errstr_size)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT, k = FERRY_STRBUF_INIT;
    ferry_mysql_rows_quote_ident(&k, t->cols[t->key[0]].src->col.name);
    ferry_strbuf_printf(&q, "SELECT MIN(%s), MAX(%s) FROM ", k.buf, k.buf);
    ferry_verify_sql_table(&q, t, false);
    if (after)
        ferry_strbuf_printf(&q, " WHERE %s > %s", k.buf, after);
    ferry_strbuf_free(&k);
    MYSQL_RES *res = NULL;
    int rc = 0;
    if (q.oom || mysql_query(my, q.buf) != 0 || !(res = mysql_store_result(my)))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                           "could not read the key range of \"%s\": %s", t->label, mysql_error(my));
    ferry_strbuf_free(&q);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    *empty = !row || !row[0] || !row[1];
    if (!rc && !*empty && (!parse_i128(row[0], lo) || !parse_i128(row[1], hi)))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                           "could not read the key range of \"%s\": not integers", t->label);
    mysql_free_result(res);
    return rc;
}

/*
 * Plans a table whose key is one integer column by key values instead of
 * an index walk: from MIN to MAX in steps of the rows a chunk should hold
 * divided by the key's density (rows per key value), learned from the
 * table's finished chunks. Where the key is sparse, each chunk starts at
 * the next key that exists (an index dive), so a gap in the key costs
 * nothing, and a dense run after a gap is not swallowed by one chunk sized
 * for the gap. Chunks tile the key space: each starts where the previous
 * ended, gaps included. The last chunk is open-ended, so rows above MAX are
 * not left out.
 */
static int plan_numeric(ferry_verify_t *v, MYSQL *my, size_t i, char *errstr, size_t errstr_size)
{
    vtable_t *t = &v->tables[i];
    tstate_t *st = &v->state[i];
    i128 min = 0, max = 0; /* key_span leaves them unset for an empty table */
    bool empty;
    int rc = key_span(my, t, NULL, &min, &max, &empty, errstr, errstr_size);
    if (rc)
        return rc;
    i128 cur; /* exclusive lower bound */
    bool have_lo = st->bound && st->bound[0].data;
    if (have_lo && !parse_i128(st->bound[0].data, &cur))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not resume \"%s\": the checkpoint's bound is not an integer",
                             t->label);
    if (!have_lo)
        cur = empty ? 0 : min - 1;
    /* the server's estimate says whether the key has gaps before any chunk has */
    bool sparse = !empty && t->estimate > 0 && max > min &&
                  (double)t->estimate / (double)(max - min + 1) < 0.5;
    char lo_text[48], hi_text[48];
    while (!stopping(v) && !failed(v)) {
        wait_source_quiet(v, my);
        double density = key_density(v, i);
        i128 base = cur; /* no key in (cur, base] */
        bool last = empty;
        if (!last && (density < 0.5 || (density == 1.0 && sparse))) {
            i128 next_key = 0, top = 0;
            bool none;
            format_i128(cur, lo_text, sizeof(lo_text));
            rc = key_span(my, t, lo_text, &next_key, &top, &none, errstr, errstr_size);
            if (rc)
                return rc;
            if (none)
                last = true;
            else if (next_key - 1 > base)
                base = next_key - 1;
        }
        double here = empty ? 0 : (double)(max - base) * density;
        double want = (double)next_rows(v, i, here > 0 ? here : 0) / density;
        i128 span = want > 1e30 ? ((i128)1 << 100) : (i128)want;
        if (span < 1)
            span = 1;
        i128 next = base + span;
        last = last || next >= max;
        format_i128(cur, lo_text, sizeof(lo_text));
        format_i128(next, hi_text, sizeof(hi_text));
        ferry_chunk_value_t lo = {lo_text, strlen(lo_text)}, hi = {hi_text, strlen(hi_text)};
        chunk_t *c = new_chunk(i, st->next_seq++, have_lo ? &lo : NULL, last ? NULL : &hi, 1);
        if (!c)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        c->span = last ? 0 : (double)span;
        if (!enqueue(v, c) || last)
            break;
        cur = next;
        have_lo = true;
    }
    return 0;
}

/* True when t's key is one integer column (planned by key values). */
static bool integer_key(const vtable_t *t)
{
    ferry_type_t kt = t->n_key == 1 ? t->cols[t->key[0]].src->col.type : 0;
    return kt == FERRY_TYPE_INT || kt == FERRY_TYPE_UINT;
}

/*
 * Plans a led table (verify_int.h): each chunk goes out with its lower
 * bound and a row count only; the worker that reads its source half says
 * where it ended, and the next chunk starts there. So every row is read
 * once per side and no boundary query walks the key index; the source
 * reads one chunk while the destination reads the one before.
 */
static int plan_led(ferry_verify_t *v, MYSQL *my, size_t i, char *errstr, size_t errstr_size)
{
    vtable_t *t = &v->tables[i];
    tstate_t *st = &v->state[i];
    ferry_arena_t *arena = ferry_arena_new(0);
    ferry_chunk_value_t *after = NULL;
    if (!arena || (st->bound && !(after = copy_values(arena, st->bound, t->n_key)))) {
        ferry_arena_destroy(arena);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    int rc = 0;
    while (!rc && !stopping(v) && !failed(v)) {
        wait_source_quiet(v, my);
        chunk_t *c = new_chunk(i, st->next_seq++, after, NULL, t->n_key);
        if (!c) {
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
            break;
        }
        int64_t seq = c->seq;
        c->lead = next_rows(v, i, -1);
        if (!enqueue(v, c))
            break;
        pthread_mutex_lock(&v->lock);
        while (st->lead_seq < seq && !v->err && !stopping(v))
            wait_changed(v);
        bool ready = st->lead_seq >= seq, end = !st->lead_hi;
        ferry_arena_t *next = ready && !end ? ferry_arena_new(0) : NULL;
        ferry_chunk_value_t *hi = next ? copy_values(next, st->lead_hi, t->n_key) : NULL;
        pthread_mutex_unlock(&v->lock);
        if (!ready || end) {
            ferry_arena_destroy(next);
            break;
        }
        if (!hi) {
            ferry_arena_destroy(next);
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
            break;
        }
        ferry_arena_destroy(arena);
        arena = next;
        after = hi;
    }
    ferry_arena_destroy(arena);
    return rc;
}

/* Plans table i: enqueues its chunks in key order. */
static int plan_table(ferry_verify_t *v, MYSQL *my, size_t i, char *errstr, size_t errstr_size)
{
    vtable_t *t = &v->tables[i];
    tstate_t *st = &v->state[i];
    if (!t->splittable) {
        chunk_t *c = new_chunk(i, st->next_seq++, NULL, NULL, 0);
        if (!c)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        enqueue(v, c);
        return 0;
    }
    if (t->led)
        return plan_led(v, my, i, errstr, errstr_size);
    if (integer_key(t))
        return plan_numeric(v, my, i, errstr, errstr_size);
    ferry_arena_t *arena = ferry_arena_new(0);
    if (!arena)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    ferry_chunk_value_t *after = st->bound ? copy_values(arena, st->bound, t->n_key) : NULL;
    int rc = 0;
    while (!rc && !stopping(v) && !failed(v)) {
        wait_source_quiet(v, my);
        ferry_strbuf_t q = FERRY_STRBUF_INIT;
        rc = ferry_chunk_sql_boundary(&q, t->src_t, after, next_rows(v, i, -1) - 1, errstr,
                                      errstr_size);
        if (!rc && mysql_query(my, q.buf) != 0)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                               "could not find the next chunk boundary of \"%s\": %s", t->label,
                               mysql_error(my));
        ferry_strbuf_free(&q);
        MYSQL_RES *res = rc ? NULL : mysql_store_result(my);
        if (!rc && !res)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                               "could not find the next chunk boundary of \"%s\": %s", t->label,
                               mysql_error(my));
        if (rc)
            break;
        MYSQL_ROW row = mysql_fetch_row(res);
        ferry_chunk_value_t hi[64];
        if (row)
            row_values(res, row, hi, t->n_key);
        chunk_t *c = new_chunk(i, st->next_seq++, after, row ? hi : NULL, t->n_key);
        mysql_free_result(res);
        if (!c) {
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
            break;
        }
        after = c->hi;
        bool last = !c->hi;
        /* c's arena holds after until the next chunk is made: copy it first */
        if (after && !(after = copy_values(arena, after, t->n_key))) {
            chunk_free(c);
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
            break;
        }
        if (!enqueue(v, c) || last)
            break;
    }
    ferry_arena_destroy(arena);
    return rc;
}

/* ---- comparing ----------------------------------------------------------- */

typedef struct {
    ferry_verify_t *v;
    ferry_db_t *src, *dst;
    pthread_t thread;
    bool started;
} worker_t;

/* The checksum of a range on both sides: counts and sums as the servers print them. */
typedef struct {
    int64_t rows_src, rows_dst;
    bool equal;
    int64_t ms; /* the slower side's time */
} sums_t;

static int checksum_range(const ferry_verify_t *v, const vtable_t *t, MYSQL *src, MYSQL *dst,
                          const ferry_chunk_value_t *lo, const ferry_chunk_value_t *hi, sums_t *out,
                          char *errstr, size_t errstr_size)
{
    if (v->opts->stream) {
        int64_t t0 = ferry_mono_ms();
        int rc = ferry_verify_stream_checksum(t, src, dst, lo, hi, &out->rows_src, &out->rows_dst,
                                              &out->equal, errstr, errstr_size);
        out->ms = ferry_mono_ms() - t0;
        return rc;
    }
    ferry_strbuf_t qs = FERRY_STRBUF_INIT, qd = FERRY_STRBUF_INIT;
    ferry_strbuf_printf(&qs, "SELECT %s FROM ", t->hash_src);
    ferry_verify_sql_table(&qs, t, false);
    int rc = ferry_verify_sql_where(&qs, t, lo, hi, errstr, errstr_size);
    ferry_strbuf_printf(&qd, "SELECT %s FROM ", t->hash_dst);
    ferry_verify_sql_table(&qd, t, true);
    if (!rc)
        rc = ferry_verify_sql_where(&qd, t, lo, hi, errstr, errstr_size);
    if (!rc && (qs.oom || qd.oom))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    MYSQL_RES *rs = NULL, *rd = NULL;
    int64_t t0 = ferry_mono_ms();
    if (!rc)
        rc = ferry_verify_query_both(src, dst, qs.buf, qd.buf, &rs, &rd, "checksum a chunk",
                                     t->label, errstr, errstr_size);
    out->ms = ferry_mono_ms() - t0;
    ferry_strbuf_free(&qs);
    ferry_strbuf_free(&qd);
    if (rc)
        return rc;
    MYSQL_ROW a = mysql_fetch_row(rs), b = mysql_fetch_row(rd);
    if (!a || !b || mysql_num_fields(rs) != 3 || mysql_num_fields(rd) != 3) {
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                           "could not checksum a chunk of \"%s\": no result row", t->label);
    } else {
        out->rows_src = a[0] ? strtoll(a[0], NULL, 10) : 0;
        out->rows_dst = b[0] ? strtoll(b[0], NULL, 10) : 0;
        out->equal = true;
        for (int i = 0; i < 3; i++)
            if ((a[i] == NULL) != (b[i] == NULL) || (a[i] && strcmp(a[i], b[i]) != 0))
                out->equal = false;
    }
    mysql_free_result(rs);
    mysql_free_result(rd);
    return rc;
}

/*
 * Compares (lo, hi] row by row into found; in a live verification the range
 * is kept with its differences, to be compared again in later rounds.
 */
static int compare_rows(worker_t *w, const vtable_t *t, const ferry_chunk_value_t *lo,
                        const ferry_chunk_value_t *hi, const char *cond, vdiffs_t *found,
                        char *errstr, size_t errstr_size)
{
    ferry_verify_t *v = w->v;
    size_t before = found->n;
    int n = ferry_verify_rows_compare(t, ferry_db_mysql(w->src), ferry_db_mysql(w->dst), lo, hi,
                                      cond, v->opts->float_tolerance, found, errstr, errstr_size);
    if (n <= 0 || !v->opts->live)
        return n < 0 ? n : 0;
    vrange_t *r = calloc(1, sizeof(*r));
    if (r && (r->arena = ferry_arena_new(0))) {
        r->table = (size_t)(t - v->tables);
        r->lo = lo ? copy_values(r->arena, lo, t->n_key) : NULL;
        r->hi = hi ? copy_values(r->arena, hi, t->n_key) : NULL;
        r->cond = cond ? ferry_arena_strdup(r->arena, cond) : NULL;
    }
    if (!r || !r->arena || (lo && !r->lo) || (hi && !r->hi) || (cond && !r->cond)) {
        if (r)
            ferry_arena_destroy(r->arena);
        free(r);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    for (size_t i = before; i < found->n; i++)
        found->items[i].range = r;
    pthread_mutex_lock(&v->lock);
    r->next = v->ranges;
    v->ranges = r;
    pthread_mutex_unlock(&v->lock);
    return 0;
}

/*
 * Cuts (lo, hi], which differs, into ranges of VERIFY_ROW_RANGE source rows
 * and compares each that still differs row by row.
 */
static int locate(worker_t *w, const vtable_t *t, const ferry_chunk_value_t *lo,
                  const ferry_chunk_value_t *hi, int64_t rows, vdiffs_t *found, char *errstr,
                  size_t errstr_size)
{
    MYSQL *src = ferry_db_mysql(w->src), *dst = ferry_db_mysql(w->dst);
    if (w->v->opts->stream && t->n_key > 0 && rows > VERIFY_ROW_RANGE) {
        char **conds = NULL;
        size_t n = 0;
        int rc = ferry_verify_stream_keys(t, src, dst, lo, hi, &conds, &n, errstr, errstr_size);
        for (size_t i = 0; !rc && i < n; i++)
            rc = compare_rows(w, t, NULL, NULL, conds[i], found, errstr, errstr_size);
        for (size_t i = 0; i < n; i++)
            free(conds[i]);
        free(conds);
        if (rc != FERRY_ERR_UNSUPPORTED)
            return rc;
    }
    if (!t->splittable || rows <= VERIFY_ROW_RANGE)
        return compare_rows(w, t, lo, hi, NULL, found, errstr, errstr_size);
    ferry_arena_t *arena = ferry_arena_new(0);
    if (!arena)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    const ferry_chunk_value_t *after = lo;
    int rc = 0;
    for (bool last = false; !rc && !last;) {
        ferry_strbuf_t q = FERRY_STRBUF_INIT;
        ferry_strbuf_puts(&q, "SELECT ");
        for (size_t k = 0; k < t->n_key; k++) {
            ferry_strbuf_puts(&q, k ? ", " : "");
            ferry_mysql_rows_quote_ident(&q, t->cols[t->key[k]].src->col.name);
        }
        ferry_strbuf_puts(&q, " FROM ");
        ferry_verify_sql_table(&q, t, false);
        rc = ferry_verify_sql_where(&q, t, after, hi, errstr, errstr_size);
        ferry_strbuf_puts(&q, " ORDER BY ");
        for (size_t k = 0; k < t->n_key; k++) {
            ferry_strbuf_puts(&q, k ? ", " : "");
            ferry_mysql_rows_quote_ident(&q, t->cols[t->key[k]].src->col.name);
        }
        ferry_strbuf_printf(&q, " LIMIT 1 OFFSET %d", VERIFY_ROW_RANGE - 1);
        MYSQL_RES *res = NULL;
        if (!rc && (mysql_query(src, q.buf) != 0 || !(res = mysql_store_result(src))))
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                               "could not split a chunk of \"%s\": %s", t->label, mysql_error(src));
        ferry_strbuf_free(&q);
        if (rc)
            break;
        MYSQL_ROW row = mysql_fetch_row(res);
        ferry_chunk_value_t mid[64];
        const ferry_chunk_value_t *upper = hi;
        if (row) {
            row_values(res, row, mid, t->n_key);
            if (!(upper = copy_values(arena, mid, t->n_key)))
                rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        } else {
            last = true;
        }
        mysql_free_result(res);
        sums_t s;
        if (!rc)
            rc = checksum_range(w->v, t, src, dst, after, upper, &s, errstr, errstr_size);
        if (!rc && !s.equal)
            rc = compare_rows(w, t, after, upper, NULL, found, errstr, errstr_size);
        after = upper;
    }
    ferry_arena_destroy(arena);
    return rc;
}

/* ---- checkpoints --------------------------------------------------------- */

static void put_hex(FILE *f, const char *p, size_t n)
{
    if (!p) {
        fputc('-', f);
        return;
    }
    fputc('x', f); /* so that an empty value is not an empty field */
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", (unsigned char)p[i]);
}

/* Writes the committed state of every table; called with v->lock held. */
/*
 * Renders the checkpoint (under v->lock) into *text; the file is written by
 * save_checkpoint after the lock is released, so no worker waits for the
 * disk to take its next chunk.
 */
static void render_checkpoint(ferry_verify_t *v, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    if (v->opts->live || !v->opts->checkpoint)
        return;
    FILE *f = open_memstream(text, len);
    if (!f) {
        ferry_log_warn("could not write the verification checkpoint", "file=%s error=\"%s\"",
                       v->opts->checkpoint, strerror(errno));
        return;
    }
    fprintf(f, "ferry-verify-checkpoint 1 ");
    const char *pat = v->opts->tables ? v->opts->tables : "";
    put_hex(f, pat, strlen(pat));
    fputc('\n', f);
    for (size_t i = 0; i < v->n_tables; i++) {
        const tstate_t *st = &v->state[i];
        const vtable_t *t = &v->tables[i];
        if (st->commit_seq == 0 && !st->done)
            continue;
        fprintf(f, "table ");
        put_hex(f, t->label, strlen(t->label));
        fprintf(f, " %d %lld %lld %lld %lld %zu", st->done ? 1 : 0, (long long)st->commit_seq,
                (long long)st->rows_src, (long long)st->rows_dst, (long long)st->chunks,
                st->bound ? t->n_key : 0);
        for (size_t k = 0; st->bound && k < t->n_key; k++) {
            fputc(' ', f);
            put_hex(f, st->bound[k].data, st->bound[k].len);
        }
        fputc('\n', f);
    }
    pthread_mutex_lock(&v->diffs.lock);
    for (size_t i = 0; i < v->diffs.n; i++) {
        const vdiff_t *d = &v->diffs.items[i];
        const tstate_t *st = &v->state[d->t - v->tables];
        if (d->seq >= st->commit_seq)
            continue;
        fprintf(f, "diff ");
        put_hex(f, d->t->label, strlen(d->t->label));
        fprintf(f, " %d ", (int)d->kind);
        put_hex(f, d->sort_key, d->sort_len);
        fputc(' ', f);
        put_hex(f, d->json, strlen(d->json));
        fputc(' ', f);
        put_hex(f, d->text, strlen(d->text));
        fputc(' ', f);
        put_hex(f, d->repair, d->repair ? strlen(d->repair) : 0);
        fputc('\n', f);
    }
    pthread_mutex_unlock(&v->diffs.lock);
    if (fclose(f) != 0) {
        free(*text);
        *text = NULL;
    }
}

/*
 * Writes checkpoint text number gen (temporary file, fsync, rename) unless
 * a later one is already written; takes text.
 */
static void save_checkpoint(ferry_verify_t *v, char *text, size_t len, int64_t gen)
{
    if (!text)
        return;
    const char *path = v->opts->checkpoint;
    pthread_mutex_lock(&v->ckpt_lock);
    if (gen > v->ckpt_written) {
        char tmp[1100];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        FILE *f = fopen(tmp, "w");
        if (!f || fwrite(text, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0 ||
            fclose(f) != 0 || rename(tmp, path) != 0) {
            ferry_log_warn("could not write the verification checkpoint", "file=%s error=\"%s\"",
                           path, strerror(errno));
        } else {
            v->ckpt_written = gen;
        }
    }
    pthread_mutex_unlock(&v->ckpt_lock);
    free(text);
}

#define unhex ferry_verify_dist_unhex

static vtable_t *find_table(ferry_verify_t *v, const char *label)
{
    for (size_t i = 0; i < v->n_tables; i++)
        if (strcmp(v->tables[i].label, label) == 0)
            return &v->tables[i];
    return NULL;
}

/* Restores one "table" line. */
static int restore_table(ferry_verify_t *v, char **f, int nf)
{
    if (nf < 8 || unhex(f[1]) < 0)
        return FERRY_ERR_INVALID;
    vtable_t *t = find_table(v, f[1]);
    if (!t)
        return 0;
    tstate_t *st = &v->state[t - v->tables];
    size_t nk = strtoul(f[7], NULL, 10);
    if ((nk != 0 && nk != t->n_key) || (int)(8 + nk) != nf)
        return FERRY_ERR_INVALID;
    st->done = atoi(f[2]) != 0;
    st->commit_seq = st->next_seq = strtoll(f[3], NULL, 10);
    st->rows_src = strtoll(f[4], NULL, 10);
    st->rows_dst = strtoll(f[5], NULL, 10);
    st->chunks = strtoll(f[6], NULL, 10);
    if (nk) {
        if (!(st->bound_arena = ferry_arena_new(0)) ||
            !(st->bound = ferry_arena_calloc(st->bound_arena, nk, sizeof(*st->bound))))
            return FERRY_ERR_NOMEM;
        for (size_t k = 0; k < nk; k++) {
            long len = unhex(f[8 + k]);
            if (len < -1)
                return FERRY_ERR_INVALID;
            st->bound[k].data =
                len < 0 ? NULL : ferry_arena_strndup(st->bound_arena, f[8 + k], (size_t)len);
            st->bound[k].len = len < 0 ? 0 : (size_t)len;
        }
    }
    atomic_store(&t->rows_src, st->rows_src);
    atomic_store(&t->rows_dst, st->rows_dst);
    atomic_store(&t->chunks, st->chunks);
    /* resumed first: a reader of both never sees more new rows than there are */
    atomic_fetch_add(&v->rows_resumed, st->rows_src);
    atomic_fetch_add(&v->rows_checked, st->rows_src);
    if (st->done) {
        atomic_store(&t->done, 1);
        atomic_fetch_add(&v->tables_done, 1);
    }
    return 0;
}

/* Restores one "diff" line. */
static int restore_diff(ferry_verify_t *v, char **f, int nf)
{
    if (nf != 7 || unhex(f[1]) < 0)
        return FERRY_ERR_INVALID;
    vtable_t *t = find_table(v, f[1]);
    if (!t)
        return 0;
    long ls = unhex(f[3]);
    if (ls < 0 || unhex(f[4]) < 0 || unhex(f[5]) < 0 || unhex(f[6]) < -1)
        return FERRY_ERR_INVALID;
    vdiff_t d = {.t = t, .kind = (vdiff_kind_t)atoi(f[2]), .seq = -1};
    d.sort_key = malloc((size_t)ls + 1);
    d.json = strdup(f[4]);
    d.text = strdup(f[5]);
    d.repair = strcmp(f[6], "-") == 0 ? NULL : strdup(f[6]);
    if (d.sort_key)
        memcpy(d.sort_key, f[3], (size_t)ls);
    d.sort_len = (size_t)ls;
    if (!d.sort_key || !d.json || !d.text || (!d.repair && strcmp(f[6], "-") != 0) ||
        ferry_verify_diffs_add(&v->diffs, &d) != 0) {
        free(d.sort_key);
        free(d.json);
        free(d.text);
        free(d.repair);
        return FERRY_ERR_NOMEM;
    }
    atomic_llong *count = d.kind == VDIFF_MISSING ? &t->n_missing
                          : d.kind == VDIFF_EXTRA ? &t->n_extra
                                                  : &t->n_changed;
    atomic_fetch_add(count, 1);
    return 0;
}

/*
 * Reads the checkpoint of an earlier run of the same verification, if there
 * is one. A file of another verification (other --tables) is ignored.
 */
static int read_checkpoint(ferry_verify_t *v, char *errstr, size_t errstr_size)
{
    const char *path = v->opts->live ? NULL : v->opts->checkpoint;
    FILE *fp = path ? fopen(path, "r") : NULL;
    if (!fp)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int rc = 0, lineno = 0;
    ssize_t len;
    while (!rc && (len = getline(&line, &cap, fp)) > 0) {
        lineno++;
        if (line[len - 1] == '\n')
            line[len - 1] = '\0';
        char *f[80];
        int nf = 0;
        for (char *save = NULL, *tok = strtok_r(line, " ", &save); tok && nf < 80;
             tok = strtok_r(NULL, " ", &save))
            f[nf++] = tok;
        if (nf == 0)
            continue;
        if (lineno == 1) {
            const char *pat = v->opts->tables ? v->opts->tables : "";
            if (nf != 3 || strcmp(f[0], "ferry-verify-checkpoint") != 0 || strcmp(f[1], "1") != 0 ||
                unhex(f[2]) < 0 || strcmp(f[2], pat) != 0)
                break; /* another verification's */
            continue;
        }
        if (strcmp(f[0], "table") == 0)
            rc = restore_table(v, f, nf);
        else if (strcmp(f[0], "diff") == 0)
            rc = restore_diff(v, f, nf);
        else
            rc = FERRY_ERR_INVALID;
    }
    free(line);
    fclose(fp);
    if (rc == FERRY_ERR_NOMEM)
        return ferry_err_set(errstr, errstr_size, rc, "out of memory");
    if (rc)
        return ferry_err_set(errstr, errstr_size, rc,
                             "could not resume from checkpoint \"%s\": line %d is damaged (remove "
                             "the file to start over)",
                             path, lineno);
    if (lineno > 1)
        ferry_log_info("resuming verification", "checkpoint=%s tables_done=%lld differences=%zu",
                       path, (long long)atomic_load(&v->tables_done), v->diffs.n);
    return 0;
}

/* ---- workers ------------------------------------------------------------- */

/*
 * Records a compared chunk and the differences found in it, and commits the
 * table's finished chunks that now follow its committed prefix.
 */
static int finish_chunk(ferry_verify_t *v, chunk_t *c, vdiffs_t *found)
{
    vtable_t *t = &v->tables[c->table];
    tstate_t *st = &v->state[c->table];
    int rc = 0;
    pthread_mutex_lock(&v->lock);
    for (size_t i = 0; i < found->n; i++) {
        vdiff_t *d = &found->items[i];
        d->seq = c->seq;
        atomic_llong *count = d->kind == VDIFF_MISSING ? &t->n_missing
                              : d->kind == VDIFF_EXTRA ? &t->n_extra
                                                       : &t->n_changed;
        atomic_fetch_add(count, 1);
        if (!rc && ferry_verify_diffs_add(&v->diffs, d) == 0) {
            memset(d, 0, sizeof(*d)); /* now owned by v->diffs */
        } else {
            rc = FERRY_ERR_NOMEM;
        }
    }
    c->next = st->finished;
    st->finished = c;
    bool advanced = false;
    for (bool found_next = true; found_next;) {
        found_next = false;
        for (chunk_t **pp = &st->finished; *pp; pp = &(*pp)->next) {
            chunk_t *f = *pp;
            if (f->seq != st->commit_seq)
                continue;
            *pp = f->next;
            st->rows_src += f->rows_src;
            st->rows_dst += f->rows_dst;
            st->chunks++;
            st->commit_seq++;
            if (f->hi) {
                ferry_arena_destroy(st->bound_arena);
                st->bound_arena = f->arena;
                st->bound = f->hi;
                f->arena = NULL;
            } else {
                st->done = true;
                atomic_store(&t->done, 1);
                atomic_fetch_add(&v->tables_done, 1);
            }
            chunk_free(f);
            advanced = found_next = true;
            break;
        }
    }
    char *text = NULL;
    size_t len = 0;
    int64_t gen = 0;
    if (advanced) {
        render_checkpoint(v, &text, &len);
        gen = ++v->ckpt_rendered;
    }
    pthread_mutex_unlock(&v->lock);
    save_checkpoint(v, text, len, gen);
    return rc;
}

/* Measured cost per row of table i: a moving average over its chunks. */
static void learn_speed(ferry_verify_t *v, size_t i, const sums_t *s)
{
    int64_t rows = s->rows_src > s->rows_dst ? s->rows_src : s->rows_dst;
    if (rows < 100)
        return;
    double sample = (double)(s->ms > 0 ? s->ms : 1) / (double)rows;
    pthread_mutex_lock(&v->lock);
    double *m = &v->state[i].ms_per_row;
    *m = *m > 0 ? 0.5 * *m + 0.5 * sample : sample;
    pthread_mutex_unlock(&v->lock);
}

/* Sleeps as long as the rows/s cap asks. */
static void throttle(ferry_verify_t *v)
{
    if (v->opts->rows_per_second <= 0)
        return;
    int64_t due =
        (atomic_load(&v->rows_checked) - v->rows_resumed) * 1000 / v->opts->rows_per_second;
    int64_t ahead = due - (ferry_mono_ms() - v->started_ms);
    while (ahead > 0 && !stopping(v)) {
        int64_t step = ahead < 100 ? ahead : 100;
        usleep((useconds_t)step * 1000);
        ahead -= step;
    }
}

/*
 * Records chunk c's checksums s (computed here or by a worker through
 * Kafka): locates its differing rows with w's sessions when the sums
 * differ, counts, and finishes the chunk (which then belongs to v, or is
 * freed on error).
 */
static int record_chunk(worker_t *w, chunk_t *c, const sums_t *sums, char *errstr,
                        size_t errstr_size)
{
    ferry_verify_t *v = w->v;
    const vtable_t *t = &v->tables[c->table];
    sums_t s = *sums;
    int rc = 0;
    learn_speed(v, c->table, &s);
    learn_density(v, c->table, c->span, s.rows_src > s.rows_dst ? s.rows_src : s.rows_dst);
    vdiffs_t found = {.n = 0};
    pthread_mutex_init(&found.lock, NULL);
    if (!s.equal) {
        atomic_fetch_add(&v->chunks_differing, 1);
        rc = locate(w, t, c->lo, c->hi, s.rows_src > s.rows_dst ? s.rows_src : s.rows_dst, &found,
                    errstr, errstr_size);
    }
    c->rows_src = s.rows_src;
    c->rows_dst = s.rows_dst;
    atomic_fetch_add(&((vtable_t *)t)->rows_src, s.rows_src);
    atomic_fetch_add(&((vtable_t *)t)->rows_dst, s.rows_dst);
    atomic_fetch_add(&((vtable_t *)t)->chunks, 1);
    atomic_fetch_add(&v->rows_checked, s.rows_src);
    atomic_fetch_add(&v->chunks_checked, 1);
    if (!rc && finish_chunk(v, c, &found) != 0)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    else if (rc)
        chunk_free(c);
    ferry_verify_diffs_free(&found);
    pthread_mutex_destroy(&found.lock);
    return rc;
}

/*
 * A led chunk: its source half decides its upper bound, which the planner
 * gets at once; then its destination half up to that bound.
 */
static int compare_led(ferry_verify_t *v, worker_t *w, chunk_t *c, sums_t *out, char *errstr,
                       size_t errstr_size)
{
    const vtable_t *t = &v->tables[c->table];
    tstate_t *st = &v->state[c->table];
    vside_t a = {0}, b = {0};
    ferry_chunk_value_t *hi = NULL;
    int64_t t0 = ferry_mono_ms();
    int rc = ferry_verify_stream_lead(t, ferry_db_mysql(w->src), c->lo, c->lead, c->arena, &hi, &a,
                                      errstr, errstr_size);
    int64_t t1 = ferry_mono_ms();
    if (rc)
        return rc;
    c->hi = hi;
    c->lead = 0;
    ferry_arena_t *copy = hi ? ferry_arena_new(0) : NULL;
    ferry_chunk_value_t *kept = copy ? copy_values(copy, hi, t->n_key) : NULL;
    if (hi && !kept) {
        ferry_arena_destroy(copy);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_lock(&v->lock);
    ferry_arena_destroy(st->lead_arena);
    st->lead_arena = copy;
    st->lead_hi = kept;
    st->lead_seq = c->seq;
    pthread_cond_broadcast(&v->changed);
    pthread_mutex_unlock(&v->lock);
    rc = ferry_verify_stream_side(t, ferry_db_mysql(w->dst), true, c->lo, c->hi, &b, errstr,
                                  errstr_size);
    int64_t t2 = ferry_mono_ms();
    out->rows_src = (int64_t)a.rows;
    out->rows_dst = (int64_t)b.rows;
    out->equal = a.rows == b.rows && a.sum == b.sum;
    out->ms = t1 - t0 > t2 - t1 ? t1 - t0 : t2 - t1;
    return rc;
}

static int open_side(const ferry_conf_t *conf, bool dst, ferry_db_t **out, char *errstr,
                     size_t errstr_size);

/* Times a chunk is compared again on new sessions after losing a database. */
#define CHUNK_REOPENS 5
/* How long a lost database may take to answer again, each time. */
#define REOPEN_WAIT_MS 60000

/*
 * After a chunk failed: when a side's session no longer answers (its server
 * restarted, or the network dropped the session), waits until both sides
 * answer again and gives the worker new sessions. 0 when the chunk may be
 * compared again; non-zero when its failure stands (the sessions were not
 * lost, the run is stopping, or the database stayed away).
 */
static int reopen_lost(worker_t *w, const char *why)
{
    ferry_verify_t *v = w->v;
    bool src_lost = ferry_db_ping(w->src, NULL, 0) != 0;
    bool dst_lost = ferry_db_ping(w->dst, NULL, 0) != 0;
    if (!src_lost && !dst_lost)
        return FERRY_ERR_IO;
    ferry_log_warn("lost a database during a chunk; comparing it again on new sessions once it "
                   "answers",
                   "side=%s error=\"%s\"",
                   src_lost ? (dst_lost ? "both" : "source") : "destination", why);
    int64_t deadline = ferry_mono_ms() + REOPEN_WAIT_MS;
    for (int wait_ms = 250;; wait_ms = wait_ms * 2 > 2000 ? 2000 : wait_ms * 2) {
        ferry_db_t *src = NULL, *dst = NULL;
        char err[512];
        int rc = open_side(v->conf, false, &src, err, sizeof(err));
        if (!rc)
            rc = open_side(v->conf, true, &dst, err, sizeof(err));
        if (!rc) {
            ferry_db_close(w->src);
            ferry_db_close(w->dst);
            w->src = src;
            w->dst = dst;
            return 0;
        }
        ferry_db_close(src);
        if (stopping(v) || failed(v) || ferry_mono_ms() >= deadline)
            return rc;
        usleep((useconds_t)wait_ms * 1000);
    }
}

/*
 * Compares a chunk and records it. A chunk whose database went away midway
 * is compared again on new sessions (reopen_lost): nothing of it was
 * recorded, and a led chunk whose source half was read compares [lo, hi]
 * on both sides.
 */
static int compare_chunk(worker_t *w, chunk_t *c, char *errstr, size_t errstr_size)
{
    ferry_verify_t *v = w->v;
    sums_t s;
    int rc;
    for (int n = 0;; n++) {
        rc = c->lead
                 ? compare_led(v, w, c, &s, errstr, errstr_size)
                 : checksum_range(v, &v->tables[c->table], ferry_db_mysql(w->src),
                                  ferry_db_mysql(w->dst), c->lo, c->hi, &s, errstr, errstr_size);
        if (!rc || n == CHUNK_REOPENS || reopen_lost(w, errstr) != 0)
            break;
    }
    return rc ? rc : record_chunk(w, c, &s, errstr, errstr_size);
}

/* Opens a side's session for reading (see mysql_rows.h). */
static int open_side(const ferry_conf_t *conf, bool dst, ferry_db_t **out, char *errstr,
                     size_t errstr_size)
{
    const char *role = dst ? "destination" : "source";
    int rc = ferry_db_connect(ferry_conf_get(conf, dst ? "destination.url" : "source.url"), role,
                              (int)ferry_conf_get_int(conf, "connect.timeout.ms"), out, errstr,
                              errstr_size);
    if (!rc && !ferry_db_mysql(*out))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                           "could not verify: the %s is not of the MySQL family (comparing "
                           "across engines is not implemented yet)",
                           role);
    if (!rc)
        rc = ferry_mysql_rows_session(ferry_db_mysql(*out), errstr, errstr_size);
    if (rc) {
        ferry_db_close(*out);
        *out = NULL;
    }
    return rc;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    ferry_verify_t *v = w->v;
    char err[512];
    chunk_t *c;
    while ((c = dequeue(v))) {
        int rc = compare_chunk(w, c, err, sizeof(err));
        if (rc) {
            fail(v, rc, err);
            break;
        }
        throttle(v);
    }
    return NULL;
}

/* ---- live re-checks ------------------------------------------------------ */

static bool find_diff_table(const vdiffs_t *set, const vtable_t *t)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->items[i].t == t)
            return true;
    return false;
}

static vdiff_t *find_diff(vdiffs_t *set, const vtable_t *t, const char *key, size_t len)
{
    for (size_t i = 0; i < set->n; i++) {
        vdiff_t *d = &set->items[i];
        if (d->t == t && d->sort_len == len && memcmp(d->sort_key, key, len) == 0)
            return d;
    }
    return NULL;
}

/* Compares every kept range again into now. */
static int recompare(ferry_verify_t *v, MYSQL *src, MYSQL *dst, vdiffs_t *now, char *errstr,
                     size_t errstr_size)
{
    for (vrange_t *r = v->ranges; r; r = r->next) {
        int n = ferry_verify_rows_compare(&v->tables[r->table], src, dst, r->lo, r->hi, r->cond,
                                          v->opts->float_tolerance, now, errstr, errstr_size);
        if (n < 0)
            return n;
    }
    return 0;
}

/*
 * One round: drops the differences that are gone, and marks those whose
 * values changed since the last round (taking their new values).
 */
static void settle(ferry_verify_t *v, vdiffs_t *now)
{
    size_t keep = 0;
    for (size_t i = 0; i < v->diffs.n; i++) {
        vdiff_t d = v->diffs.items[i];
        vdiff_t *n = find_diff(now, d.t, d.sort_key, d.sort_len);
        if (!n) {
            ferry_verify_diff_free(&d);
            continue;
        }
        if (n->kind != d.kind || strcmp(n->json, d.json) != 0) {
            const vrange_t *range = d.range;
            ferry_verify_diff_free(&d);
            d = *n;
            memset(n, 0, sizeof(*n));
            d.range = range;
            d.changing = true;
        }
        v->diffs.items[keep++] = d;
    }
    v->diffs.n = keep;
}

/* Moves the differences marked changing to v->changing and recounts per table. */
static int split_changing(ferry_verify_t *v)
{
    for (size_t i = 0; i < v->n_tables; i++) {
        atomic_store(&v->tables[i].n_missing, 0);
        atomic_store(&v->tables[i].n_extra, 0);
        atomic_store(&v->tables[i].n_changed, 0);
    }
    size_t keep = 0;
    for (size_t i = 0; i < v->diffs.n; i++) {
        vdiff_t d = v->diffs.items[i];
        if (d.changing) {
            if (ferry_verify_diffs_add(&v->changing, &d) != 0)
                return FERRY_ERR_NOMEM;
            continue;
        }
        vtable_t *t = (vtable_t *)d.t;
        atomic_fetch_add(d.kind == VDIFF_MISSING ? &t->n_missing
                         : d.kind == VDIFF_EXTRA ? &t->n_extra
                                                 : &t->n_changed,
                         1);
        v->diffs.items[keep++] = d;
    }
    v->diffs.n = keep;
    return 0;
}

/*
 * Live verification: every difference is looked at again, round after
 * round, each time only after the consumer has applied everything the
 * source had written when the round began (verify_live.c). A difference
 * that goes away was lag and is dropped; one that keeps its values through
 * every round is reported; one whose values kept changing, or that was
 * still there when the consumer did not catch up in time, is "still
 * changing".
 */
static int live_rounds(ferry_verify_t *v, char *errstr, size_t errstr_size)
{
    ferry_db_t *src = NULL, *dst = NULL;
    ferry_verify_live_t *l = NULL;
    const vtable_t **tabs = calloc(v->n_tables ? v->n_tables : 1, sizeof(*tabs));
    size_t nt = 0;
    int rc = tabs ? 0 : ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < v->n_tables; i++)
        if (find_diff_table(&v->diffs, &v->tables[i]))
            tabs[nt++] = &v->tables[i];
    if (!rc)
        rc = open_side(v->conf, false, &src, errstr, errstr_size);
    if (!rc)
        rc = open_side(v->conf, true, &dst, errstr, errstr_size);
    if (!rc)
        rc = ferry_verify_live_new(v->conf, &l, errstr, errstr_size);
    for (int round = 1; !rc && round <= v->opts->rounds && v->diffs.n; round++) {
        rc = ferry_verify_live_wait(l, ferry_db_mysql(src), ferry_db_mysql(dst), tabs, nt,
                                    (int)v->opts->settle_timeout_ms, v->opts->stop, errstr,
                                    errstr_size);
        if (rc == FERRY_ERR_TIMEOUT && !stopping(v)) {
            ferry_log_warn("consumer did not catch up: remaining differences are still changing",
                           "round=%d reason=\"%s\"", round, errstr);
            for (size_t i = 0; i < v->diffs.n; i++)
                v->diffs.items[i].changing = true;
            rc = 0;
            break;
        }
        vdiffs_t now = {.n = 0};
        pthread_mutex_init(&now.lock, NULL);
        if (!rc)
            rc = recompare(v, ferry_db_mysql(src), ferry_db_mysql(dst), &now, errstr, errstr_size);
        if (!rc) {
            pthread_mutex_lock(&v->diffs.lock);
            settle(v, &now);
            pthread_mutex_unlock(&v->diffs.lock);
        }
        ferry_verify_diffs_free(&now);
        pthread_mutex_destroy(&now.lock);
        ferry_log_info("live re-check", "round=%d differences=%zu", round, v->diffs.n);
    }
    pthread_mutex_lock(&v->diffs.lock);
    if (!rc && split_changing(v) != 0)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    pthread_mutex_unlock(&v->diffs.lock);
    ferry_verify_live_destroy(l);
    ferry_db_close(src);
    ferry_db_close(dst);
    free(tabs);
    return rc;
}

/* ---- chunks shared with workers through Kafka (verify_dist.c) ----------- */

#define SHARED_MAX_PENDING 32 /* tasks written and not yet answered */
/* the same with verify.rows.per.second set: the cap follows the answers closely */
#define SHARED_CAPPED_PENDING 2

typedef struct {
    ferry_verify_t *v;
    vdist_t *d;
    char run[96];
    worker_t local; /* sessions to locate the rows of differing chunks */
    pthread_t publisher, collector;
    bool publisher_started, collector_started;
    pthread_mutex_t lock;
    chunk_t **pending; /* published, not answered */
    size_t n_pending;
    bool published_all;
} shared_t;

static void task_id(const chunk_t *c, char *buf, size_t size)
{
    snprintf(buf, size, "%zu.%lld", c->table, (long long)c->seq);
}

/* Writes each planned chunk as a task, keeping at most SHARED_MAX_PENDING unanswered. */
static void *publisher_main(void *arg)
{
    shared_t *sh = arg;
    ferry_verify_t *v = sh->v;
    char err[512], id[64];
    /*
     * The cap is kept by the rows answered: with SHARED_MAX_PENDING tasks out
     * before the first answer, a capped run would check that many chunks at
     * full speed first (on a quiet machine, a whole small run).
     */
    size_t max_pending = v->opts->rows_per_second > 0 ? SHARED_CAPPED_PENDING : SHARED_MAX_PENDING;
    for (;;) {
        pthread_mutex_lock(&sh->lock);
        size_t n = sh->n_pending;
        pthread_mutex_unlock(&sh->lock);
        if (n >= max_pending && !failed(v) && !stopping(v)) {
            usleep(20 * 1000);
            continue;
        }
        throttle(v); /* verify.rows.per.second holds for all workers together */
        chunk_t *c = dequeue(v);
        if (!c)
            break;
        pthread_mutex_lock(&sh->lock);
        sh->pending[sh->n_pending++] = c;
        pthread_mutex_unlock(&sh->lock);
        task_id(c, id, sizeof(id));
        int rc = ferry_verify_dist_send_task(sh->d, sh->run, id, &v->tables[c->table], c->seq,
                                             c->lo, c->hi, err, sizeof(err));
        if (rc) {
            fail(v, rc, err);
            break;
        }
    }
    pthread_mutex_lock(&sh->lock);
    sh->published_all = true;
    pthread_mutex_unlock(&sh->lock);
    return NULL;
}

/* Takes the pending chunk of task id out of the list; NULL when not pending (an answer seen
 * before). */
static chunk_t *take_pending(shared_t *sh, const char *id)
{
    char buf[64];
    chunk_t *c = NULL;
    pthread_mutex_lock(&sh->lock);
    for (size_t i = 0; i < sh->n_pending; i++) {
        task_id(sh->pending[i], buf, sizeof(buf));
        if (strcmp(buf, id) == 0) {
            c = sh->pending[i];
            sh->pending[i] = sh->pending[--sh->n_pending];
            break;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return c;
}

/* One worker's result: the chunk's counts, and its rows located here when the sums differ. */
static int take_result(shared_t *sh, chunk_t *c, const vdist_msg_t *m, char *errstr,
                       size_t errstr_size)
{
    sums_t s = {.rows_src = strtoll(m->f[3], NULL, 10),
                .rows_dst = strtoll(m->f[4], NULL, 10),
                .equal = strcmp(m->f[5], "1") == 0,
                .ms = strtoll(m->f[6], NULL, 10)};
    return record_chunk(&sh->local, c, &s, errstr, errstr_size);
}

/* Reads the workers' results until every published task has its answer. */
static void *collector_main(void *arg)
{
    shared_t *sh = arg;
    ferry_verify_t *v = sh->v;
    char err[512];
    int64_t last = ferry_mono_ms();
    while (!failed(v) && !stopping(v)) {
        pthread_mutex_lock(&sh->lock);
        bool over = sh->published_all && sh->n_pending == 0;
        size_t waiting = sh->n_pending;
        pthread_mutex_unlock(&sh->lock);
        if (over)
            break;
        if (waiting && ferry_mono_ms() - last > 30000) {
            ferry_log_warn("waiting for verifier workers (ferry-verifier <project> --worker)",
                           "run=%s chunks_unanswered=%zu", sh->run, waiting);
            last = ferry_mono_ms();
        }
        vdist_msg_t m;
        int rc = ferry_verify_dist_poll(sh->d, 200, &m, err, sizeof(err));
        if (!rc && m.present && m.n >= 4 && strcmp(m.f[1], sh->run) == 0) {
            chunk_t *c = take_pending(sh, m.f[2]);
            if (c && strcmp(m.f[0], "error") == 0) {
                chunk_free(c);
                rc = ferry_err_set(err, sizeof(err), FERRY_ERR_IO, "a verifier worker failed: %s",
                                   ferry_verify_dist_unhex(m.f[3]) >= 0 ? m.f[3] : "?");
            } else if (c && strcmp(m.f[0], "result") == 0 && m.n >= 8) {
                last = ferry_mono_ms();
                rc = take_result(sh, c, &m, err, sizeof(err));
            } else if (c) {
                chunk_free(c);
                rc = ferry_err_set(err, sizeof(err), FERRY_ERR_INVALID,
                                   "a verification result does not parse");
            }
        }
        ferry_verify_dist_msg_free(&m);
        if (rc) {
            fail(v, rc, err);
            break;
        }
    }
    return NULL;
}

static int start_shared(ferry_verify_t *v, shared_t *sh, char *errstr, size_t errstr_size)
{
    sh->v = v;
    sh->local.v = v;
    pthread_mutex_init(&sh->lock, NULL);
    char host[64] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(sh->run, sizeof(sh->run), "%s-%ld-%lld", host[0] ? host : "verifier", (long)getpid(),
             (long long)ferry_mono_ms());
    for (char *p = sh->run; *p; p++)
        if (*p == ' ')
            *p = '_';
    sh->pending = calloc(SHARED_MAX_PENDING + (size_t)v->q_cap + 1, sizeof(*sh->pending));
    int rc = sh->pending ? 0 : ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = open_side(v->conf, false, &sh->local.src, errstr, errstr_size);
    if (!rc)
        rc = open_side(v->conf, true, &sh->local.dst, errstr, errstr_size);
    if (!rc)
        rc = ferry_verify_dist_open(v->conf, false, &sh->d, errstr, errstr_size);
    if (!rc) {
        ferry_log_info("verification shared with workers through kafka", "run=%s", sh->run);
        if (pthread_create(&sh->collector, NULL, collector_main, sh) == 0)
            sh->collector_started = true;
        if (pthread_create(&sh->publisher, NULL, publisher_main, sh) == 0)
            sh->publisher_started = true;
        if (!sh->collector_started || !sh->publisher_started)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                               "could not start a verifier thread");
    }
    return rc;
}

/* Waits for the answers, tells the workers the verification ended and frees sh. */
static void finish_shared(shared_t *sh)
{
    if (sh->publisher_started)
        pthread_join(sh->publisher, NULL);
    if (sh->collector_started)
        pthread_join(sh->collector, NULL);
    char err[512];
    if (sh->d && ferry_verify_dist_send_end(sh->d, sh->run, err, sizeof(err)) != 0)
        ferry_log_warn("could not tell the verifier workers that the verification ended",
                       "run=%s error=\"%s\"", sh->run, err);
    for (size_t i = 0; sh->pending && i < sh->n_pending; i++)
        chunk_free(sh->pending[i]);
    free(sh->pending);
    ferry_verify_dist_close(sh->d);
    ferry_db_close(sh->local.src);
    ferry_db_close(sh->local.dst);
    pthread_mutex_destroy(&sh->lock);
}

/* Decodes a task's bound (count, then the values) at f[*i]; NULL for an open end. */
static ferry_chunk_value_t *task_bound(const vdist_msg_t *m, int *i, ferry_chunk_value_t *buf,
                                       size_t n_key, bool *bad)
{
    if (*i >= m->n) {
        *bad = true;
        return NULL;
    }
    size_t n = strtoul(m->f[(*i)++], NULL, 10);
    if (n == 0)
        return NULL;
    if (n != n_key || *i + (int)n > m->n) {
        *bad = true;
        return NULL;
    }
    for (size_t k = 0; k < n; k++) {
        long len = ferry_verify_dist_unhex(m->f[(*i)++]);
        if (len < -1)
            *bad = true;
        buf[k].data = len < 0 ? NULL : m->f[*i - 1];
        buf[k].len = len < 0 ? 0 : (size_t)len;
    }
    return buf;
}

/* Checksums one task's chunk; error is set (and 0 returned) for a task this worker cannot do. */
static int work_task(ferry_verify_t *v, worker_t *w, vdist_msg_t *m, sums_t *s, char *error,
                     size_t error_size, char *errstr, size_t errstr_size)
{
    error[0] = '\0';
    if (m->n < 7 || ferry_verify_dist_unhex(m->f[3]) < 0) {
        snprintf(error, error_size, "a task that does not parse");
        return 0;
    }
    vtable_t *t = find_table(v, m->f[3]);
    if (!t) {
        snprintf(error, error_size, "table \"%s\" is not one this worker verifies", m->f[3]);
        return 0;
    }
    ferry_chunk_value_t lo_buf[64], hi_buf[64];
    bool bad = t->n_key > 64;
    int i = 5;
    const ferry_chunk_value_t *lo = bad ? NULL : task_bound(m, &i, lo_buf, t->n_key, &bad);
    const ferry_chunk_value_t *hi = bad ? NULL : task_bound(m, &i, hi_buf, t->n_key, &bad);
    if (bad) {
        snprintf(error, error_size, "a task of \"%s\" that does not parse", t->label);
        return 0;
    }
    return checksum_range(v, t, ferry_db_mysql(w->src), ferry_db_mysql(w->dst), lo, hi, s, errstr,
                          errstr_size);
}

int ferry_verify_work(const ferry_conf_t *conf, const atomic_int *stop, bool once, char *errstr,
                      size_t errstr_size)
{
    ferry_verify_opts_t opts;
    ferry_verify_opts_from_conf(conf, &opts);
    opts.stop = stop;
    opts.checkpoint = NULL;
    ferry_verify_t *v = NULL;
    if (ferry_verify_new(conf, &opts, &v) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    worker_t w = {.v = v};
    vdist_t *d = NULL;
    int rc = open_side(conf, false, &w.src, errstr, errstr_size);
    if (!rc)
        rc = open_side(conf, true, &w.dst, errstr, errstr_size);
    if (!rc)
        rc = load_tables(v, w.src, w.dst, errstr, errstr_size);
    if (!rc)
        rc = ferry_verify_dist_open(conf, true, &d, errstr, errstr_size);
    char me[96], host[64] = "", seen_run[96] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(me, sizeof(me), "%s:%ld", host[0] ? host : "worker", (long)getpid());
    for (char *p = me; *p; p++)
        if (*p == ' ')
            *p = '_';
    if (!rc)
        ferry_log_info("verifier worker ready", "worker=%s tables=%zu", me, v->n_tables);
    int64_t tasks = 0;
    while (!rc && !stopping(v)) {
        vdist_msg_t m;
        rc = ferry_verify_dist_poll(d, 200, &m, errstr, errstr_size);
        if (rc || !m.present) {
            ferry_verify_dist_msg_free(&m);
            continue;
        }
        bool end = false;
        if (m.n >= 2 && strcmp(m.f[0], "end") == 0) {
            end = once && strcmp(m.f[1], seen_run) == 0;
        } else if (m.n >= 3 && strcmp(m.f[0], "task") == 0) {
            snprintf(seen_run, sizeof(seen_run), "%s", m.f[1]);
            sums_t s = {0};
            char error[512];
            int64_t t0 = ferry_mono_ms();
            rc = work_task(v, &w, &m, &s, error, sizeof(error), errstr, errstr_size);
            if (!rc)
                rc = ferry_verify_dist_send_result(d, &m, error[0] ? error : NULL, s.rows_src,
                                                   s.rows_dst, s.equal, ferry_mono_ms() - t0, me,
                                                   errstr, errstr_size);
            tasks++;
            ferry_log_debug("chunk checksummed", "worker=%s run=%s task=%s rows=%lld equal=%d", me,
                            m.f[1], m.f[2], (long long)s.rows_src, s.equal ? 1 : 0);
        }
        /* the result is in Kafka: only now may another worker skip this task */
        if (!rc)
            rc = ferry_verify_dist_commit(d, &m, errstr, errstr_size);
        ferry_verify_dist_msg_free(&m);
        if (end) {
            ferry_log_info("verification ended", "worker=%s chunks=%lld", me, (long long)tasks);
            break;
        }
    }
    ferry_verify_dist_close(d);
    ferry_db_close(w.src);
    ferry_db_close(w.dst);
    ferry_verify_destroy(v);
    return rc;
}

/* ---- the run ------------------------------------------------------------- */

static int start_workers(ferry_verify_t *v, worker_t *ws, int n, char *errstr, size_t errstr_size)
{
    for (int i = 0; i < n; i++) {
        ws[i].v = v;
        int rc = open_side(v->conf, false, &ws[i].src, errstr, errstr_size);
        if (!rc)
            rc = open_side(v->conf, true, &ws[i].dst, errstr, errstr_size);
        if (rc)
            return rc;
    }
    for (int i = 0; i < n; i++)
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) == 0)
            ws[i].started = true;
        else
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                                 "could not start a verifier thread");
    return 0;
}

/*
 * A verification of no table would say "equal" having compared nothing, so
 * a typo in a pattern would pass: it is "could not verify" instead.
 */
static int no_tables(const ferry_verify_t *v, char *errstr, size_t errstr_size)
{
    if (v->opts->tables)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOT_FOUND,
                             "could not verify: no selected table matches the pattern \"%s\"",
                             v->opts->tables);
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOT_FOUND,
                         "could not verify: no source table matches the project's selection "
                         "(tables.include "
                         "\"%s\", tables.exclude \"%s\")",
                         ferry_conf_get(v->conf, "tables.include"),
                         ferry_conf_get(v->conf, "tables.exclude"));
}

int ferry_verify_run(ferry_verify_t *v, char *errstr, size_t errstr_size)
{
    v->started_ms = ferry_mono_ms();
    atomic_store(&v->running, 1);
    int n = v->opts->threads > 0 ? v->opts->threads : 1;
    ferry_db_t *src = NULL, *dst = NULL;
    worker_t *ws = calloc((size_t)n, sizeof(*ws));
    v->q_cap = (size_t)n * 2;
    v->queue = calloc(v->q_cap, sizeof(*v->queue));
    int rc =
        ws && v->queue ? 0 : ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = open_side(v->conf, false, &src, errstr, errstr_size);
    if (!rc)
        rc = open_side(v->conf, true, &dst, errstr, errstr_size);
    if (!rc)
        rc = load_tables(v, src, dst, errstr, errstr_size);
    if (!rc && v->n_tables == 0)
        rc = no_tables(v, errstr, errstr_size);
    for (size_t i = 0; !rc && i < v->n_tables; i++) {
        vtable_t *t = &v->tables[i];
        t->led = v->opts->stream && !v->opts->shared && t->splittable && !integer_key(t) &&
                 t->n_key <= 64;
        v->state[i].lead_seq = -1;
    }
    if (!rc)
        rc = read_checkpoint(v, errstr, errstr_size);
    ferry_db_close(dst);
    shared_t sh = {0};
    if (!rc && v->opts->shared)
        rc = start_shared(v, &sh, errstr, errstr_size);
    else if (!rc)
        rc = start_workers(v, ws, n, errstr, errstr_size);
    for (size_t i = 0; !rc && i < v->n_tables && !stopping(v) && !failed(v); i++)
        if (!v->state[i].done)
            rc = plan_table(v, ferry_db_mysql(src), i, errstr, errstr_size);
    if (rc)
        fail(v, rc, errstr);
    pthread_mutex_lock(&v->lock);
    v->planning_done = true;
    pthread_cond_broadcast(&v->changed);
    pthread_mutex_unlock(&v->lock);
    if (sh.v)
        finish_shared(&sh);
    for (int i = 0; ws && i < n; i++) {
        if (ws[i].started)
            pthread_join(ws[i].thread, NULL);
        ferry_db_close(ws[i].src);
        ferry_db_close(ws[i].dst);
    }
    free(ws);
    ferry_db_close(src);
    atomic_store(&v->elapsed_ms, ferry_mono_ms() - v->started_ms);
    atomic_store(&v->running, 0);
    if (v->err) {
        ferry_err_set(errstr, errstr_size, v->err, "%s", v->errstr);
        return v->err;
    }
    if (!stopping(v) && v->opts->live && v->diffs.n) {
        int lrc = live_rounds(v, errstr, errstr_size);
        if (lrc) {
            atomic_store(&v->elapsed_ms, ferry_mono_ms() - v->started_ms);
            return lrc;
        }
        atomic_store(&v->elapsed_ms, ferry_mono_ms() - v->started_ms);
    }
    pthread_mutex_lock(&v->diffs.lock);
    ferry_verify_diffs_sort(&v->diffs);
    pthread_mutex_unlock(&v->diffs.lock);
    ferry_verify_diffs_sort(&v->changing);
    if (stopping(v))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_TIMEOUT,
                             "verification stopped before the end (it resumes from its "
                             "checkpoint)");
    if (v->opts->checkpoint)
        unlink(v->opts->checkpoint);
    atomic_store(&v->finished, 1);
    return 0;
}
