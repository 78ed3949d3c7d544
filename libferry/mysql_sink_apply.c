/*
 * mysql_sink_apply.c - one batch, one transaction (see mysql_sink.h).
 *
 * The batch becomes a flat array of items (one per event, with the kind of
 * SQL it becomes; a compact run's items are folded to one per key first,
 * mysql_sink_fold.c). Events that cannot be written at all (a value MySQL
 * cannot hold, a row of the wrong shape) fail before anything is sent. The
 * loop then sends the items in packets (the first one starting the
 * transaction): "SAVEPOINT ferry_sp" followed by
 * statements, each covering a run of consecutive items of one kind, up to
 * max_bytes of SQL; snapshot rows go as one LOAD DATA per packet instead.
 *
 * When a statement fails because of the data, or affects fewer rows than
 * strict mode requires (an update or delete that found no row), the loop
 * rolls back to the savepoint and sends the packet again: a failing
 * statement of several items becomes one statement per item, and a failing
 * statement of one item sets that item aside as failed. A batch with k bad
 * events costs about 2k extra round trips, instead of a bisection's
 * k log n re-applies, and the failures name exactly the events at fault.
 * Errors not about the data end the transaction and the batch.
 *
 * Offsets and progress rows go in the same transaction, right before COMMIT.
 */
#include "err.h"
#include "log.h"
#include "mysql_sink_int.h"

#include <errmsg.h>
#include <inttypes.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rough size of a row's SQL text, to cut statements near max_bytes. */
static size_t row_estimate(const sink_table_t *t, const ferry_row_t *r)
{
    size_t n = 8;
    for (size_t c = 0; c < t->ncols; c++) {
        ferry_type_t ty = t->cols[c].type;
        bool var = ty == FERRY_TYPE_STRING || ty == FERRY_TYPE_BYTES || ty == FERRY_TYPE_DECIMAL ||
                   ty == FERRY_TYPE_JSON || ty == FERRY_TYPE_ENUM || ty == FERRY_TYPE_SET ||
                   ty == FERRY_TYPE_GEOMETRY || ty == FERRY_TYPE_ARRAY;
        n += 30 + (var && !r->values[c].is_null ? 2 * r->values[c].v.s.len : 0);
    }
    return n;
}

/* ---- failures ------------------------------------------------------------ */

static const char *op_name(char op)
{
    switch (op) {
    case 'c':
        return "insert";
    case 'u':
        return "update";
    case 'd':
        return "delete";
    case 'r':
        return "snapshot row";
    default:
        return "event";
    }
}

static int add_failure(ferry_mysql_sink_t *s, sink_item_t *it, unsigned int no, const char *state,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int push_failure(ferry_mysql_sink_t *s, const sink_item_t *it, size_t event, char op,
                        unsigned int no, const char *state, const char *reason)
{
    if (s->nfailed == s->failed_cap) {
        size_t cap = s->failed_cap ? s->failed_cap * 2 : 16;
        ferry_mysql_sink_failure_t *nf = realloc(s->failed, cap * sizeof(*nf));
        if (!nf)
            return FERRY_ERR_NOMEM;
        s->failed = nf;
        s->failed_cap = cap;
    }
    ferry_mysql_sink_failure_t *f = &s->failed[s->nfailed++];
    f->run = it->run;
    f->event = event;
    f->err_no = no;
    snprintf(f->sqlstate, sizeof(f->sqlstate), "%s", state);
    snprintf(f->message, sizeof(f->message), "could not apply %s to \"%s\": %s%s", op_name(op),
             it->t->display, reason,
             it->n_chain ? " (with the other changes of its key in the batch, applied as one)"
                         : "");
    return 0;
}

/* Sets the item aside as failed; a folded item fails every event it stands for. */
static int add_failure(ferry_mysql_sink_t *s, sink_item_t *it, unsigned int no, const char *state,
                       const char *fmt, ...)
{
    char reason[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    int rc = 0;
    if (!it->n_chain)
        rc = push_failure(s, it, it->event, it->ev->op, no, state, reason);
    for (size_t k = 0; k < it->n_chain && rc == 0; k++)
        rc = push_failure(s, it, it->chain[k], it->run_events[it->chain[k]].op, no, state, reason);
    it->excluded = true;
    return rc;
}

static int cmp_failure(const void *a, const void *b)
{
    const ferry_mysql_sink_failure_t *x = a, *y = b;
    if (x->run != y->run)
        return x->run < y->run ? -1 : 1;
    return x->event < y->event ? -1 : x->event > y->event;
}

/* ---- items --------------------------------------------------------------- */

static bool row_fits(const sink_table_t *t, const ferry_row_t *r)
{
    return r && r->n == t->ncols;
}

/* Why the event cannot be written at all, or NULL. */
static const char *shape_problem(const sink_table_t *t, const ferry_change_t *ev)
{
    switch (ev->op) {
    case 'c':
    case 'r':
        return row_fits(t, ev->after) ? NULL : "the after image is missing or has wrong columns";
    case 'u':
        if (!row_fits(t, ev->after))
            return "the after image is missing or has wrong columns";
        if (ev->before && !row_fits(t, ev->before))
            return "the before image has wrong columns";
        return t->nkey || ev->before ? NULL : "a table without key needs the before image";
    case 'd':
        return row_fits(t, ev->before) ? NULL : "the before image is missing or has wrong columns";
    default:
        return "unknown operation";
    }
}

/* Why MySQL cannot hold one of the event's values (with the column), or NULL. */
static const char *value_problem(const sink_table_t *t, const ferry_change_t *ev, size_t *col)
{
    const ferry_row_t *rows[2] = {ev->after, ev->before};
    for (size_t r = 0; r < 2; r++) {
        if (!rows[r])
            continue;
        for (size_t c = 0; c < t->ncols; c++) {
            const char *why = ferry_mysql_sink_refusal(t->cols[c].type, &rows[r]->values[c]);
            if (why) {
                *col = c;
                return why;
            }
        }
    }
    return NULL;
}

static sink_kind_t kind_of(const ferry_mysql_sink_t *s, const sink_table_t *t,
                           const ferry_change_t *ev, bool safe)
{
    bool keyed = t->nkey > 0;
    switch (ev->op) {
    case 'c':
        return safe ? (keyed ? SINK_UPSERT : SINK_INSERT_ABSENT) : SINK_INSERT;
    case 'r':
        if (s->load_data)
            return SINK_LOAD;
        return safe && keyed ? SINK_UPSERT : SINK_INSERT;
    case 'u':
        if (!keyed)
            return SINK_UPDATE_ROW;
        if (!safe)
            return SINK_UPDATE_KEY;
        return ferry_mysql_sink_key_changed(t, ev) ? SINK_REKEY_SAFE : SINK_UPSERT;
    default:
        return keyed ? SINK_DELETE_KEY : SINK_DELETE_ROW;
    }
}

/*
 * The batch as items; events that cannot be written are failed already.
 * Compact runs without such events are folded (mysql_sink_fold.c): items
 * [0, *nout) are sent, [*nout, *nall) were folded to nothing.
 */
static int make_items(ferry_mysql_sink_t *s, const ferry_mysql_sink_batch_t *batch,
                      sink_item_t **out, size_t *nout, size_t *nall, char *errstr,
                      size_t errstr_size)
{
    size_t n = 0;
    for (size_t r = 0; r < batch->n_runs; r++) {
        const ferry_mysql_sink_run_t *run = &batch->runs[r];
        if (run->table < 0 || (size_t)run->table >= s->ntables || (run->n_events && !run->events))
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "could not apply batch: run %zu names no registered table", r);
        n += run->n_events;
    }
    sink_item_t *items = ferry_arena_calloc(s->arena, n ? n : 1, sizeof(*items));
    sink_item_t *dropped = ferry_arena_calloc(s->arena, n ? n : 1, sizeof(*items));
    if (!items || !dropped)
        return FERRY_ERR_NOMEM;
    size_t i = 0, n_dropped = 0;
    for (size_t r = 0; r < batch->n_runs; r++) {
        const ferry_mysql_sink_run_t *run = &batch->runs[r];
        const sink_table_t *t = &s->tables[run->table];
        size_t first = i, failed = s->nfailed;
        for (size_t e = 0; e < run->n_events; e++, i++) {
            sink_item_t *it = &items[i];
            *it = (sink_item_t){
                .t = t, .ev = &run->events[e], .run = r, .event = e, .safe = run->safe};
            size_t col = 0;
            const char *why = shape_problem(t, it->ev);
            int rc = 0;
            if (why)
                rc = add_failure(s, it, 0, "22000", "%s", why);
            else if ((why = value_problem(t, it->ev, &col)))
                rc = add_failure(s, it, 0, "22000", "column \"%s\": %s", t->cols[col].name, why);
            else
                it->kind = kind_of(s, t, it->ev, run->safe);
            if (rc != 0)
                return rc;
        }
        if (run->compact && s->nfailed == failed)
            i = first +
                ferry_mysql_sink_fold(s->arena, &items[first], i - first, dropped, &n_dropped);
    }
    memcpy(&items[i], dropped, n_dropped * sizeof(*items));
    *out = items;
    *nout = i;
    *nall = i + n_dropped;
    return 0;
}

/* ---- packets -------------------------------------------------------------- */

typedef struct {
    ferry_mysql_sink_t *s;
    sink_item_t *items;
    size_t n;           /* items sent */
    size_t n_all;       /* and after them, chains folded to nothing (counted only) */
    bool begin;         /* the transaction is not started yet: the next round trip starts it */
    sink_stmt_t *stmts; /* room for 2 per item, for one packet */
    ferry_mysql_sink_result_t *res;
    char *errstr;
    size_t errstr_size;
} apply_ctx_t;

/* Next item at or after i that is not excluded; n when none. */
static size_t next_live(const apply_ctx_t *a, size_t i)
{
    while (i < a->n && a->items[i].excluded)
        i++;
    return i;
}

/* True when live item k matches the key of a live item in [first, k). */
static bool repeats_key(const apply_ctx_t *a, size_t first, size_t k)
{
    for (size_t i = first; i < k; i = next_live(a, i + 1))
        if (ferry_mysql_sink_same_key(&a->items[i], &a->items[k]))
            return true;
    return false;
}

/*
 * The last item of the group that starts at first, within size budget.
 * Updates share a statement only while their keys differ (each row is
 * counted once).
 */
static size_t group_end(const apply_ctx_t *a, size_t first, size_t budget)
{
    size_t last = first;
    size_t used =
        row_estimate(a->items[first].t, a->items[first].ev->after ? a->items[first].ev->after
                                                                  : a->items[first].ev->before);
    bool updates = a->items[first].kind == SINK_UPDATE_KEY;
    size_t n = 1;
    for (size_t k = next_live(a, first + 1); k < a->n; k = next_live(a, k + 1)) {
        if (!ferry_mysql_sink_groupable(&a->items[first], &a->items[k]))
            break;
        if (updates && (++n > SINK_UPDATE_GROUP_MAX || repeats_key(a, first, k)))
            break;
        const ferry_row_t *r =
            a->items[k].ev->after ? a->items[k].ev->after : a->items[k].ev->before;
        used += row_estimate(a->items[k].t, r);
        if (used > budget)
            break;
        last = k;
    }
    return last;
}

static int sql_failed(apply_ctx_t *a, const sink_sqlerr_t *e, const char *what,
                      const sink_table_t *t)
{
    int code =
        ferry_mysql_sink_classify(e) == SINK_ERR_RETRY ? FERRY_ERR_RETRIABLE : FERRY_ERR_FATAL;
    /* the transaction is over either way; a failed ROLLBACK has nothing to add */
    (void)mysql_query(a->s->my, "ROLLBACK");
    if (!t)
        return ferry_err_set(a->errstr, a->errstr_size, code,
                             "could not %s destination: %s (error %u, SQLSTATE %s)", what, e->msg,
                             e->no, e->state);
    return ferry_err_set(a->errstr, a->errstr_size, code,
                         "could not %s \"%s\": %s (error %u, SQLSTATE %s)", what, t->display,
                         e->msg, e->no, e->state);
}

/*
 * A statement of the packet failed (e) or affected the wrong number of rows
 * (e == NULL): narrow it down. Returns 0 to go on, or a negative code.
 */
static int isolate(apply_ctx_t *a, const sink_stmt_t *st, const sink_sqlerr_t *e)
{
    sink_sqlerr_t rb;
    if (mysql_query(a->s->my, "ROLLBACK TO SAVEPOINT ferry_sp") != 0) {
        ferry_mysql_sink_capture(a->s->my, &rb);
        return sql_failed(a, &rb, "roll back to savepoint on", a->items[st->first].t);
    }
    a->res->retries++;
    if (st->n_items > 1) {
        for (size_t i = st->first; i <= st->last; i++)
            a->items[i].single = true;
        return 0;
    }
    size_t i = next_live(a, st->first);
    sink_item_t *it = &a->items[i];
    int rc;
    if (e)
        rc = add_failure(a->s, it, e->no, e->state, "%s", e->msg);
    else
        rc = add_failure(a->s, it, 0, "02000", "no row matches the %s",
                         it->t->nkey ? "key" : "before image");
    if (rc != 0)
        return rc;
    if (!a->s->stop_on_data_error)
        return 0;
    (void)mysql_query(a->s->my, "ROLLBACK");
    return ferry_err_set(a->errstr, a->errstr_size, FERRY_ERR_INVALID, "%s",
                         a->s->failed[a->s->nfailed - 1].message);
}

/* Builds the packet that starts at *pos; *end is the first item it leaves out. */
static size_t build_packet(apply_ctx_t *a, size_t pos, ferry_strbuf_t *q, size_t *end)
{
    size_t nst = 0, i = next_live(a, pos);
    ferry_strbuf_puts(q,
                      a->begin ? "START TRANSACTION;\nSAVEPOINT ferry_sp" : "SAVEPOINT ferry_sp");
    while (i < a->n && q->len < a->s->max_bytes && a->items[i].kind != SINK_LOAD) {
        size_t last = ferry_mysql_sink_kind_groups(&a->items[i])
                          ? group_end(a, i, a->s->max_bytes - q->len)
                          : i;
        ferry_strbuf_puts(q, ";\n");
        nst += ferry_mysql_sink_build(q, a->items, i, last, &a->stmts[nst]);
        i = next_live(a, last + 1);
    }
    *end = i;
    return nst;
}

static int send_packet(apply_ctx_t *a, size_t *pos)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    size_t end, nst = build_packet(a, *pos, &q, &end);
    if (q.oom) {
        ferry_strbuf_free(&q);
        return FERRY_ERR_NOMEM;
    }
    /* the head: START TRANSACTION (first packet), SAVEPOINT */
    size_t head = a->begin ? 2 : 1;
    int64_t *aff = ferry_arena_alloc(a->s->arena, (nst + head) * sizeof(int64_t));
    if (!aff) {
        ferry_strbuf_free(&q);
        return FERRY_ERR_NOMEM;
    }
    sink_sqlerr_t e;
    long at = ferry_mysql_sink_run_multi(a->s, q.buf, q.len, aff, nst + head, &e);
    a->res->bytes += q.len;
    ferry_strbuf_free(&q);
    a->begin = false;
    if (at >= 0 && (size_t)at < head)
        return sql_failed(a, &e,
                          (size_t)at + 1 < head ? "start transaction on" : "set savepoint on",
                          a->items[*pos].t);
    if (at > 0) {
        const sink_stmt_t *st = &a->stmts[(size_t)at - head];
        if (ferry_mysql_sink_classify(&e) == SINK_ERR_DATA)
            return isolate(a, st, &e);
        return sql_failed(a, &e, "apply changes to", a->items[st->first].t);
    }
    for (size_t k = 0; k < nst; k++)
        if (a->stmts[k].expect >= 0 && aff[k + head] != a->stmts[k].expect)
            return isolate(a, &a->stmts[k], NULL);
    a->res->statements += nst;
    *pos = end;
    return 0;
}

/* ---- LOAD DATA -------------------------------------------------------------- */

/* The kind snapshot rows take when they cannot go through LOAD DATA. */
static void unload(apply_ctx_t *a, size_t first, size_t last)
{
    for (size_t i = first; i <= last; i++)
        if (a->items[i].kind == SINK_LOAD)
            a->items[i].kind = a->items[i].safe && a->items[i].t->nkey ? SINK_UPSERT : SINK_INSERT;
}

static bool load_refused(unsigned int no)
{
    /* server or client said no to LOCAL: 1148 (MySQL), 3948 (MySQL 8),
       4166 (MariaDB), 2068 (client), 2000 (our handler or the library) */
    return no == 1148 || no == 3948 || no == 4166 || no == 2068 || no == 2000;
}

/* Logs why rows [first..last] go in by INSERT instead, and rolls back. */
static int load_fallback(apply_ctx_t *a, size_t first, size_t last, const sink_sqlerr_t *e,
                         unsigned int warnings)
{
    const sink_table_t *t = a->items[first].t;
    char q[600];
    if (e && load_refused(e->no)) {
        a->s->load_data = false;
        ferry_log_warn("LOAD DATA LOCAL INFILE refused; snapshot rows go in as multi-row INSERT",
                       "table=%s reason=%s", t->display, ferry_log_quote(e->msg, q, sizeof(q)));
    } else if (e) {
        ferry_log_warn("LOAD DATA failed; loading these rows with INSERT instead",
                       "table=%s reason=%s", t->display, ferry_log_quote(e->msg, q, sizeof(q)));
    } else {
        char w[400] = "";
        if (mysql_query(a->s->my, "SHOW WARNINGS LIMIT 1") == 0) {
            MYSQL_RES *r = mysql_store_result(a->s->my);
            MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
            if (row && row[2])
                snprintf(w, sizeof(w), "%s", row[2]);
            mysql_free_result(r);
        }
        ferry_log_info("LOAD DATA left warnings; loading these rows with INSERT to find the rows "
                       "at fault",
                       "table=%s warnings=%u first=%s", t->display, warnings,
                       ferry_log_quote(w, q, sizeof(q)));
    }
    unload(a, first, last);
    a->res->retries++;
    sink_sqlerr_t rb;
    if (mysql_query(a->s->my, "ROLLBACK TO SAVEPOINT ferry_sp") != 0) {
        ferry_mysql_sink_capture(a->s->my, &rb);
        return sql_failed(a, &rb, "roll back to savepoint on", t);
    }
    return 0;
}

/* Starts the transaction now if no round trip has yet (a LOAD DATA goes alone). */
static int begin_now(apply_ctx_t *a)
{
    if (!a->begin)
        return 0;
    a->begin = false;
    if (mysql_query(a->s->my, "START TRANSACTION") == 0)
        return 0;
    sink_sqlerr_t e;
    ferry_mysql_sink_capture(a->s->my, &e);
    return sql_failed(a, &e, "start transaction on", NULL);
}

static int send_load(apply_ctx_t *a, size_t *pos)
{
    size_t first = next_live(a, *pos), last = first, n = 0;
    const sink_table_t *t = a->items[first].t;
    ferry_strbuf_t data = FERRY_STRBUF_INIT;
    for (size_t k = first; k < a->n; k = next_live(a, k + 1)) {
        if (k != first && (!ferry_mysql_sink_groupable(&a->items[first], &a->items[k]) ||
                           data.len >= a->s->max_bytes))
            break;
        ferry_mysql_sink_load_line(&data, t, a->items[k].ev->after);
        last = k;
        n++;
    }
    sink_sqlerr_t e;
    int rc = 0;
    if (data.oom)
        rc = FERRY_ERR_NOMEM;
    else if ((rc = begin_now(a)) == 0 && mysql_query(a->s->my, "SAVEPOINT ferry_sp") != 0) {
        ferry_mysql_sink_capture(a->s->my, &e);
        rc = sql_failed(a, &e, "set savepoint on", t);
    }
    uint64_t affected = 0;
    unsigned int warnings = 0;
    unsigned int no =
        rc ? 0
           : ferry_mysql_sink_load_send(a->s, t, a->items[first].safe, &data, &affected, &warnings);
    a->res->bytes += data.len;
    ferry_strbuf_free(&data);
    if (rc != 0)
        return rc;
    if (no != 0) {
        ferry_mysql_sink_capture(a->s->my, &e);
        e.no = no;
        if (ferry_mysql_sink_classify(&e) == SINK_ERR_RETRY)
            return sql_failed(a, &e, "load rows into", t);
        return load_fallback(a, first, last, &e, 0);
    }
    if (warnings > 0 || (!a->items[first].safe && affected != n))
        return load_fallback(a, first, last, NULL, warnings);
    a->res->statements++;
    a->res->loaded_via_load_data += n;
    *pos = next_live(a, last + 1);
    return 0;
}

/* ---- offsets, progress, commit -------------------------------------------- */

static const char *phase_of(const sink_item_t *it)
{
    if (it->ev->op == 'r')
        return FERRY_MYSQL_SINK_PHASE_SNAPSHOT;
    return it->safe ? FERRY_MYSQL_SINK_PHASE_SAFE : FERRY_MYSQL_SINK_PHASE_STRICT;
}

static void put_offsets(apply_ctx_t *a, const ferry_mysql_sink_batch_t *batch, ferry_strbuf_t *q)
{
    ferry_mysql_sink_t *s = a->s;
    ferry_strbuf_printf(q,
                        "INSERT INTO %s.`ferry_offsets` (`link`, `topic`, `partition`, "
                        "`next_offset`, `updated_at`, `src_file`, `src_pos`, `src_row`, "
                        "`src_rank`) VALUES ",
                        s->meta_quoted);
    for (size_t i = 0; i < batch->n_offsets; i++) {
        const ferry_mysql_sink_offset_t *o = &batch->offsets[i];
        ferry_strbuf_puts(q, i ? ", (" : "(");
        ferry_mysql_sink_put_string(q, s->link, strlen(s->link));
        ferry_strbuf_puts(q, ", ");
        ferry_mysql_sink_put_string(q, o->topic, strlen(o->topic));
        ferry_strbuf_printf(q, ", %" PRId32 ", %" PRId64 ", UTC_TIMESTAMP(6), ", o->partition,
                            o->next_offset);
        if (o->last.file) {
            ferry_mysql_sink_put_string(q, o->last.file, strlen(o->last.file));
            ferry_strbuf_printf(q, ", %" PRIu64 ", %" PRId32 ", %" PRId32 ")", o->last.pos,
                                o->last.row, o->last.rank);
        } else {
            ferry_strbuf_puts(q, "NULL, NULL, NULL, NULL)");
        }
    }
    /* a row without a position keeps the stored one; src_file goes last (it is tested) */
    ferry_strbuf_puts(q,
                      " ON DUPLICATE KEY UPDATE `next_offset` = VALUES(`next_offset`), "
                      "`updated_at` = VALUES(`updated_at`), "
                      "`src_pos` = IF(VALUES(`src_file`) IS NULL, `src_pos`, VALUES(`src_pos`)), "
                      "`src_row` = IF(VALUES(`src_file`) IS NULL, `src_row`, VALUES(`src_row`)), "
                      "`src_rank` = IF(VALUES(`src_file`) IS NULL, `src_rank`, "
                      "VALUES(`src_rank`)), "
                      "`src_file` = IFNULL(VALUES(`src_file`), `src_file`);\n");
}

/* Counts applied items per table and phase; appends the progress upsert. */
static void put_progress(apply_ctx_t *a, ferry_strbuf_t *q)
{
    ferry_mysql_sink_t *s = a->s;
    static const char *const phases[3] = {FERRY_MYSQL_SINK_PHASE_SNAPSHOT,
                                          FERRY_MYSQL_SINK_PHASE_SAFE,
                                          FERRY_MYSQL_SINK_PHASE_STRICT};
    uint64_t *counts = ferry_arena_calloc(s->arena, s->ntables * 3, sizeof(uint64_t));
    if (!counts) {
        q->oom = true;
        return;
    }
    for (size_t i = 0; i < a->n_all; i++) {
        const sink_item_t *it = &a->items[i];
        if (it->excluded)
            continue;
        const char *ph = phase_of(it);
        size_t p = ph == phases[0] ? 0 : ph == phases[1] ? 1 : 2;
        counts[(size_t)(it->t - s->tables) * 3 + p] += it->n_chain ? it->n_chain : 1;
    }
    bool any = false;
    for (size_t k = 0; k < s->ntables * 3; k++) {
        if (!counts[k])
            continue;
        const sink_table_t *t = &s->tables[k / 3];
        if (!any)
            ferry_strbuf_printf(q,
                                "INSERT INTO %s.`ferry_progress` (`link`, `worker`, `db`, `tbl`, "
                                "`phase`, `rows_applied`, `updated_at`) VALUES ",
                                s->meta_quoted);
        ferry_strbuf_puts(q, any ? ", (" : "(");
        ferry_mysql_sink_put_string(q, s->link, strlen(s->link));
        ferry_strbuf_puts(q, ", ");
        ferry_mysql_sink_put_string(q, s->worker, strlen(s->worker));
        ferry_strbuf_puts(q, ", ");
        ferry_mysql_sink_put_string(q, t->db, strlen(t->db));
        ferry_strbuf_puts(q, ", ");
        ferry_mysql_sink_put_string(q, t->name, strlen(t->name));
        ferry_strbuf_printf(q, ", '%s', %" PRIu64 ", UTC_TIMESTAMP(6))", phases[k % 3], counts[k]);
        any = true;
    }
    if (any)
        ferry_strbuf_puts(q, " ON DUPLICATE KEY UPDATE `rows_applied` = `rows_applied` + "
                             "VALUES(`rows_applied`), `updated_at` = VALUES(`updated_at`);\n");
}

static void count_applied(const apply_ctx_t *a);

/* Errors after which the server may have run the COMMIT without our hearing of it. */
static bool answer_lost(const sink_sqlerr_t *e)
{
    return e->no == CR_SERVER_GONE_ERROR || e->no == CR_SERVER_LOST ||
           e->no == CR_SERVER_LOST_EXTENDED || e->no == ER_CONNECTION_KILLED ||
           e->no == ER_SERVER_SHUTDOWN;
}

static int commit(apply_ctx_t *a, const ferry_mysql_sink_batch_t *batch)
{
    /*
     * The fences are read (shared lock) right before the COMMIT: a bump by
     * another owner that came first refuses the batch, one that comes after
     * waits for this commit, and the lock is held for one round trip.
     */
    if (batch->n_fences) {
        int rc = ferry_mysql_sink_fence(a->s, batch, a->begin, a->errstr, a->errstr_size);
        if (rc != 0)
            return rc;
        a->begin = false;
    }
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    if (a->begin) /* nothing sent yet: offsets only */
        ferry_strbuf_puts(&q, "START TRANSACTION;\n");
    if (batch->n_offsets)
        put_offsets(a, batch, &q);
    put_progress(a, &q);
    ferry_strbuf_puts(&q, "COMMIT");
    if (q.oom) {
        ferry_strbuf_free(&q);
        (void)mysql_query(a->s->my, "ROLLBACK");
        return FERRY_ERR_NOMEM;
    }
    sink_sqlerr_t e;
    int64_t aff[3];
    long at = ferry_mysql_sink_run_multi(a->s, q.buf, q.len, aff, 3, &e);
    a->res->bytes += q.len;
    ferry_strbuf_free(&q);
    if (at >= 0 && answer_lost(&e)) {
        /* the whole text went out: the server may have run it to the COMMIT */
        a->s->unsure_session = a->s->session_id;
        a->res->commit_unknown = true;
        count_applied(a);
    }
    if (at >= 0)
        return sql_failed(a, &e, "commit batch with offsets on", NULL);
    return 0;
}

/* ---- the batch ------------------------------------------------------------ */

static void count_op(ferry_mysql_sink_result_t *res, char op)
{
    switch (op) {
    case 'c':
        res->inserted++;
        break;
    case 'u':
        res->updated++;
        break;
    case 'd':
        res->deleted++;
        break;
    default:
        res->loaded++;
        break;
    }
}

/* The events applied, by what they were at the source (a folded item counts each of its own). */
static void count_applied(const apply_ctx_t *a)
{
    for (size_t i = 0; i < a->n_all; i++) {
        const sink_item_t *it = &a->items[i];
        if (it->excluded)
            continue;
        if (!it->n_chain)
            count_op(a->res, it->ev->op);
        for (size_t k = 0; k < it->n_chain; k++)
            count_op(a->res, it->run_events[it->chain[k]].op);
    }
}

static int apply_items(apply_ctx_t *a, const ferry_mysql_sink_batch_t *batch)
{
    /* the first round trip starts the transaction (build_packet, begin_now, commit) */
    a->begin = true;
    size_t pos = next_live(a, 0);
    while (pos < a->n) {
        if (a->items[pos].kind == SINK_LOAD && !a->s->load_data)
            unload(a, pos, a->n - 1);
        int rc = a->items[pos].kind == SINK_LOAD ? send_load(a, &pos) : send_packet(a, &pos);
        if (rc != 0) {
            /* never leave a half batch open: the next START TRANSACTION would commit it */
            (void)mysql_query(a->s->my, "ROLLBACK");
            return rc;
        }
        pos = next_live(a, pos);
    }
    ferry_mysql_sink_t *s = a->s;
    if (s->nfailed && batch->on_failed) {
        if (s->nfailed > 1)
            qsort(s->failed, s->nfailed, sizeof(*s->failed), cmp_failure);
        char why[512];
        if (batch->on_failed(batch->on_failed_arg, s->failed, s->nfailed, why, sizeof(why)) != 0) {
            (void)mysql_query(s->my, "ROLLBACK");
            return ferry_err_set(a->errstr, a->errstr_size, FERRY_ERR_RETRIABLE,
                                 "batch rolled back: %s", why);
        }
    }
    if (s->before_commit)
        s->before_commit(s->before_commit_arg);
    return commit(a, batch);
}

int ferry_mysql_sink_apply(ferry_mysql_sink_t *s, const ferry_mysql_sink_batch_t *batch,
                           ferry_mysql_sink_result_t *result, char *errstr, size_t errstr_size)
{
    memset(result, 0, sizeof(*result));
    s->nfailed = 0;
    s->unsure_session = 0;
    ferry_arena_reset(s->arena);
    apply_ctx_t a = {.s = s, .res = result, .errstr = errstr, .errstr_size = errstr_size};
    int rc = make_items(s, batch, &a.items, &a.n, &a.n_all, errstr, errstr_size);
    if (rc == 0 && s->nfailed && s->stop_on_data_error)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID, "%s", s->failed[0].message);
    if (rc == 0) {
        a.stmts = ferry_arena_alloc(s->arena, (2 * a.n + 1) * sizeof(sink_stmt_t));
        rc = a.stmts ? apply_items(&a, batch) : FERRY_ERR_NOMEM;
    }
    if (s->nfailed > 1)
        qsort(s->failed, s->nfailed, sizeof(*s->failed), cmp_failure);
    result->failed = s->failed;
    result->n_failed = s->nfailed;
    if (rc == 0)
        count_applied(&a);
    return rc;
}
