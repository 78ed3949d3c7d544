/*
 * verify_rows.c - a key range read in full from both sides and compared
 * row by row in C.
 *
 * Each side returns, per row, the canonical text of every compared column
 * (the same expressions the checksum hashes) followed by the raw select
 * list of mysql_rows.h, which the repair statements are written from. Rows
 * are matched on the bytes of their key columns' canonical text, after
 * sorting both sides in C: the servers' ORDER BY follows collations (case-
 * and accent-insensitive ones put 'a' and 'A' together), byte order does not
 * depend on anything. A table without a key is matched on all its columns,
 * so a changed row shows as one missing and one extra row.
 *
 * Values are equal when their canonical texts are equal byte for byte (no
 * collation is involved), except FLOAT/DOUBLE, which are equal when
 * |a - b| <= tolerance * max(|a|, |b|).
 */
#include "verify_int.h"

#include "err.h"
#include "json.h"
#include "mysql_rows.h"
#include "mysql_sink.h"

#include <math.h>
#include <mysql.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    MYSQL_ROW cells;
    unsigned long *lens; /* 2 * n_cols */
    char *key;           /* length-prefixed canonical key cells */
    size_t key_len;
} entry_t;

typedef struct {
    MYSQL_RES *res;
    entry_t *rows;
    size_t n;
    unsigned long *lens; /* all rows' lengths */
} side_t;

static void side_free(side_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->rows[i].key);
    free(s->rows);
    free(s->lens);
    mysql_free_result(s->res);
}

static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

/* Builds the key of row e: the key columns, or all columns without a key. */
static int build_key(const vtable_t *t, entry_t *e)
{
    size_t n = t->n_key ? t->n_key : t->n_cols;
    size_t len = 0;
    for (size_t k = 0; k < n; k++) {
        size_t c = t->n_key ? t->key[k] : k;
        len += 5 + (e->cells[c] ? e->lens[c] : 0);
    }
    e->key = malloc(len ? len : 1);
    if (!e->key)
        return FERRY_ERR_NOMEM;
    char *p = e->key;
    for (size_t k = 0; k < n; k++) {
        size_t c = t->n_key ? t->key[k] : k;
        uint32_t l = e->cells[c] ? (uint32_t)e->lens[c] : 0;
        *p++ = e->cells[c] ? 1 : 0;
        /* big-endian length: shorter values sort first on equal prefixes */
        for (int b = 3; b >= 0; b--)
            *p++ = (char)((l >> (8 * b)) & 0xff);
        if (l)
            memcpy(p, e->cells[c], l);
        p += l;
    }
    e->key_len = len;
    return 0;
}

/* Reads a stored result into s, sorted by key. */
static int side_load(const vtable_t *t, side_t *s)
{
    size_t n = (size_t)mysql_num_rows(s->res);
    size_t w = 2 * t->n_cols;
    s->rows = calloc(n ? n : 1, sizeof(*s->rows));
    s->lens = calloc(n * w + 1, sizeof(*s->lens));
    if (!s->rows || !s->lens)
        return FERRY_ERR_NOMEM;
    MYSQL_ROW r;
    while ((r = mysql_fetch_row(s->res))) {
        entry_t *e = &s->rows[s->n];
        e->cells = r;
        e->lens = s->lens + s->n * w;
        memcpy(e->lens, mysql_fetch_lengths(s->res), w * sizeof(*e->lens));
        s->n++;
        if (build_key(t, e))
            return FERRY_ERR_NOMEM;
    }
    qsort(s->rows, s->n, sizeof(*s->rows), entry_cmp);
    return 0;
}

static bool floats_equal(const char *a, const char *b, double tol)
{
    double x = strtod(a, NULL), y = strtod(b, NULL);
    if (x == y || (isnan(x) && isnan(y)))
        return true;
    double m = fmax(fabs(x), fabs(y));
    return fabs(x - y) <= tol * m;
}

static bool value_equal(const vcol_t *c, const entry_t *a, const entry_t *b, size_t i, double tol)
{
    const char *x = a->cells[i], *y = b->cells[i];
    if (!x || !y)
        return !x && !y;
    if (c->is_float)
        return floats_equal(x, y, tol);
    return a->lens[i] == b->lens[i] && memcmp(x, y, a->lens[i]) == 0;
}

/* Writes a canonical cell as a JSON value: numbers bare, bytes as "0x..", text as strings. */
static void json_cell(ferry_json_t *j, const vcol_t *c, const char *cell, unsigned long len)
{
    if (!cell) {
        ferry_json_null(j);
        return;
    }
    switch (c->src->col.type) {
    case FERRY_TYPE_INT:
    case FERRY_TYPE_UINT:
    case FERRY_TYPE_YEAR:
    case FERRY_TYPE_BIT: {
        char buf[32];
        if (len < sizeof(buf)) {
            memcpy(buf, cell, len);
            buf[len] = '\0';
            ferry_json_raw(j, buf);
            return;
        }
        break;
    }
    case FERRY_TYPE_BYTES:
    case FERRY_TYPE_GEOMETRY: {
        ferry_strbuf_t sb = FERRY_STRBUF_INIT;
        ferry_strbuf_puts(&sb, "0x");
        for (unsigned long i = 0; i < len; i++)
            ferry_strbuf_printf(&sb, "%02x", (unsigned char)cell[i]);
        ferry_json_string(j, sb.buf ? sb.buf : "0x");
        ferry_strbuf_free(&sb);
        return;
    }
    default:
        break;
    }
    ferry_json_string_len(j, cell, len);
}

/* Appends a cell for the one-line summary (text shortened to 60 bytes). */
static void text_cell(ferry_strbuf_t *sb, const char *cell, unsigned long len)
{
    if (!cell) {
        ferry_strbuf_puts(sb, "NULL");
        return;
    }
    ferry_strbuf_puts(sb, "'");
    ferry_strbuf_put(sb, cell, len > 60 ? 60 : len);
    ferry_strbuf_puts(sb, len > 60 ? "...'" : "'");
}

/* The key of e as JSON members and as text. */
static void render_key(const vtable_t *t, const entry_t *e, ferry_json_t *j, ferry_strbuf_t *text)
{
    ferry_json_key(j, "key");
    ferry_json_object_begin(j);
    size_t n = t->n_key ? t->n_key : t->n_cols;
    for (size_t k = 0; k < n; k++) {
        size_t c = t->n_key ? t->key[k] : k;
        ferry_json_key(j, t->cols[c].src->col.name);
        json_cell(j, &t->cols[c], e->cells[c], e->lens[c]);
        ferry_strbuf_printf(text, "%s%s=", k ? " " : "", t->cols[c].src->col.name);
        text_cell(text, e->cells[c], e->lens[c]);
    }
    ferry_json_object_end(j);
}

/* Appends "WHERE k1 = v1 AND ..." with the destination row's own key values. */
static int repair_where(ferry_strbuf_t *sb, const vtable_t *t, const ferry_row_t *dst_row,
                        char *errstr, size_t errstr_size)
{
    size_t n = t->n_key ? t->n_key : t->n_cols;
    for (size_t k = 0; k < n; k++) {
        size_t c = t->n_key ? t->key[k] : k;
        ferry_strbuf_puts(sb, k ? " AND " : " WHERE ");
        ferry_mysql_rows_quote_ident(sb, t->cols[c].dst->col.name);
        if (dst_row->values[c].is_null) {
            ferry_strbuf_puts(sb, " IS NULL");
            continue;
        }
        ferry_strbuf_puts(sb, " = ");
        int rc = ferry_mysql_sink_literal(ferry_table_column(t->dst_t, c), &dst_row->values[c], sb,
                                          errstr, errstr_size);
        if (rc)
            return rc;
    }
    if (!t->n_key)
        ferry_strbuf_puts(sb, " LIMIT 1");
    return 0;
}

/* REPLACE INTO dst (writable columns) VALUES (source values). */
static int repair_replace(ferry_strbuf_t *sb, const vtable_t *t, const ferry_row_t *src_row,
                          char *errstr, size_t errstr_size)
{
    ferry_strbuf_puts(sb, t->n_key ? "REPLACE INTO " : "INSERT INTO ");
    ferry_verify_sql_table(sb, t, true);
    ferry_strbuf_puts(sb, " (");
    bool first = true;
    for (size_t c = 0; c < t->n_cols; c++) {
        if (!t->cols[c].writable)
            continue;
        ferry_strbuf_puts(sb, first ? "" : ", ");
        ferry_mysql_rows_quote_ident(sb, t->cols[c].dst->col.name);
        first = false;
    }
    ferry_strbuf_puts(sb, ") VALUES (");
    first = true;
    for (size_t c = 0; c < t->n_cols; c++) {
        if (!t->cols[c].writable)
            continue;
        ferry_strbuf_puts(sb, first ? "" : ", ");
        int rc = ferry_mysql_sink_literal(ferry_table_column(t->src_t, c), &src_row->values[c], sb,
                                          errstr, errstr_size);
        if (rc)
            return rc;
        first = false;
    }
    ferry_strbuf_puts(sb, ")");
    return 0;
}

/* Converts the raw half of a row into a ferry row of the side's model. */
static int raw_row(const vtable_t *t, bool dst, const entry_t *e, ferry_arena_t *arena,
                   ferry_row_t **out, char *errstr, size_t errstr_size)
{
    return ferry_mysql_rows_convert(dst ? t->dst_t : t->src_t, e->cells + t->n_cols,
                                    e->lens + t->n_cols, arena, out, errstr, errstr_size);
}

/*
 * "values" of a row only one side has: every column's value on that side
 * (a missing row's source values are what a repair by hand inserts).
 */
static void json_side_values(ferry_json_t *j, const vtable_t *t, const entry_t *e, const char *side)
{
    ferry_json_key(j, "values");
    ferry_json_object_begin(j);
    for (size_t c = 0; c < t->n_cols; c++) {
        ferry_json_key(j, t->cols[c].src->col.name);
        ferry_json_object_begin(j);
        ferry_json_key(j, side);
        json_cell(j, &t->cols[c], e->cells[c], e->lens[c]);
        ferry_json_object_end(j);
    }
    ferry_json_object_end(j);
}

/* Records one difference: a is the source row (NULL: extra), b the destination's (NULL: missing).
 */
static int record(const vtable_t *t, const entry_t *a, const entry_t *b, double tol, vdiffs_t *out,
                  char *errstr, size_t errstr_size)
{
    vdiff_t d = {.t = t, .kind = !b ? VDIFF_MISSING : !a ? VDIFF_EXTRA : VDIFF_CHANGED};
    static const char *kinds[] = {"missing", "extra", "changed"};
    const entry_t *k = a ? a : b;
    ferry_json_t *j = ferry_json_new();
    ferry_strbuf_t text = FERRY_STRBUF_INIT, fix = FERRY_STRBUF_INIT;
    ferry_arena_t *arena = ferry_arena_new(0);
    ferry_row_t *src_row = NULL, *dst_row = NULL;
    int rc = arena ? 0 : FERRY_ERR_NOMEM;
    if (!rc && a)
        rc = raw_row(t, false, a, arena, &src_row, errstr, errstr_size);
    if (!rc && b)
        rc = raw_row(t, true, b, arena, &dst_row, errstr, errstr_size);

    ferry_json_object_begin(j);
    ferry_json_key(j, "table");
    ferry_json_string(j, t->label);
    ferry_strbuf_printf(&text, "%s %s: ", kinds[d.kind], t->label);
    render_key(t, k, j, &text);
    ferry_json_key(j, "kind");
    ferry_json_string(j, kinds[d.kind]);
    ferry_json_key(j, "columns");
    ferry_json_array_begin(j);
    if (d.kind == VDIFF_CHANGED) {
        for (size_t c = 0; c < t->n_cols; c++)
            if (!value_equal(&t->cols[c], a, b, c, tol))
                ferry_json_string(j, t->cols[c].src->col.name);
    }
    ferry_json_array_end(j);
    if (d.kind == VDIFF_CHANGED) {
        ferry_json_key(j, "values");
        ferry_json_object_begin(j);
        ferry_strbuf_puts(&fix, "UPDATE ");
        ferry_verify_sql_table(&fix, t, true);
        bool first = true;
        for (size_t c = 0; c < t->n_cols; c++) {
            if (value_equal(&t->cols[c], a, b, c, tol))
                continue;
            const char *name = t->cols[c].src->col.name;
            ferry_json_key(j, name);
            ferry_json_object_begin(j);
            ferry_json_key(j, "source");
            json_cell(j, &t->cols[c], a->cells[c], a->lens[c]);
            ferry_json_key(j, "destination");
            json_cell(j, &t->cols[c], b->cells[c], b->lens[c]);
            ferry_json_object_end(j);
            ferry_strbuf_printf(&text, "; %s: ", name);
            text_cell(&text, a->cells[c], a->lens[c]);
            ferry_strbuf_puts(&text, " -> ");
            text_cell(&text, b->cells[c], b->lens[c]);
            if (rc || !t->cols[c].writable)
                continue;
            ferry_strbuf_puts(&fix, first ? " SET " : ", ");
            ferry_mysql_rows_quote_ident(&fix, t->cols[c].dst->col.name);
            ferry_strbuf_puts(&fix, " = ");
            rc = ferry_mysql_sink_literal(ferry_table_column(t->src_t, c), &src_row->values[c],
                                          &fix, errstr, errstr_size);
            first = false;
        }
        ferry_json_object_end(j);
        if (!rc)
            rc = repair_where(&fix, t, dst_row, errstr, errstr_size);
    } else if (d.kind == VDIFF_EXTRA) {
        json_side_values(j, t, b, "destination");
        ferry_strbuf_puts(&fix, "DELETE FROM ");
        ferry_verify_sql_table(&fix, t, true);
        if (!rc)
            rc = repair_where(&fix, t, dst_row, errstr, errstr_size);
    } else {
        json_side_values(j, t, a, "source");
        if (!rc)
            rc = repair_replace(&fix, t, src_row, errstr, errstr_size);
    }
    ferry_json_object_end(j);
    ferry_arena_destroy(arena);

    if (!rc && (text.oom || fix.oom || !(d.json = ferry_json_steal(j))))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    ferry_json_destroy(j);
    d.text = text.buf;
    d.repair = fix.buf;
    d.sort_key = malloc(k->key_len ? k->key_len : 1);
    if (!rc && !d.sort_key)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (!rc) {
        memcpy(d.sort_key, k->key, k->key_len);
        d.sort_len = k->key_len;
        rc = ferry_verify_diffs_add(out, &d);
    }
    if (rc) {
        free(d.json);
        free(d.text);
        free(d.repair);
        free(d.sort_key);
    }
    return rc;
}

static bool rows_equal(const vtable_t *t, const entry_t *a, const entry_t *b, double tol)
{
    for (size_t c = 0; c < t->n_cols; c++)
        if (!value_equal(&t->cols[c], a, b, c, tol))
            return false;
    return true;
}

/* The row query of one side: canonical texts, then the raw select list. */
static int row_query(ferry_strbuf_t *sb, const vtable_t *t, bool dst, const ferry_chunk_value_t *lo,
                     const ferry_chunk_value_t *hi, const char *cond, char *errstr,
                     size_t errstr_size)
{
    ferry_strbuf_puts(sb, "SELECT ");
    for (size_t c = 0; c < t->n_cols; c++)
        ferry_strbuf_printf(sb, "%s, ", dst ? t->cols[c].dst_expr : t->cols[c].src_expr);
    ferry_mysql_rows_select_list(sb, dst ? t->dst_t : t->src_t);
    ferry_strbuf_puts(sb, " FROM ");
    ferry_verify_sql_table(sb, t, dst);
    if (cond) {
        ferry_strbuf_printf(sb, " WHERE (%s)", cond);
        if (t->where)
            ferry_strbuf_printf(sb, " AND (%s)", t->where);
        return 0;
    }
    return ferry_verify_sql_where(sb, t, lo, hi, errstr, errstr_size);
}

int ferry_verify_rows_compare(const vtable_t *t, MYSQL *src, MYSQL *dst,
                              const ferry_chunk_value_t *lo, const ferry_chunk_value_t *hi,
                              const char *cond, double tol, vdiffs_t *out, char *errstr,
                              size_t errstr_size)
{
    ferry_strbuf_t qs = FERRY_STRBUF_INIT, qd = FERRY_STRBUF_INIT;
    side_t s = {0}, d = {0};
    int rc = row_query(&qs, t, false, lo, hi, cond, errstr, errstr_size);
    if (!rc)
        rc = row_query(&qd, t, true, lo, hi, cond, errstr, errstr_size);
    if (!rc && (qs.oom || qd.oom))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = ferry_verify_query_both(src, dst, qs.buf, qd.buf, &s.res, &d.res, "read the rows",
                                     t->label, errstr, errstr_size);
    ferry_strbuf_free(&qs);
    ferry_strbuf_free(&qd);
    if (!rc && (side_load(t, &s) || side_load(t, &d)))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    int found = 0;
    size_t i = 0, k = 0;
    while (!rc && (i < s.n || k < d.n)) {
        int c = i == s.n ? 1 : k == d.n ? -1 : entry_cmp(&s.rows[i], &d.rows[k]);
        if (c < 0) {
            rc = record(t, &s.rows[i++], NULL, tol, out, errstr, errstr_size);
            found++;
        } else if (c > 0) {
            rc = record(t, NULL, &d.rows[k++], tol, out, errstr, errstr_size);
            found++;
        } else {
            if (!rows_equal(t, &s.rows[i], &d.rows[k], tol)) {
                rc = record(t, &s.rows[i], &d.rows[k], tol, out, errstr, errstr_size);
                found++;
            }
            i++;
            k++;
        }
    }
    side_free(&s);
    side_free(&d);
    return rc ? rc : found;
}

int ferry_verify_diffs_add(vdiffs_t *out, vdiff_t *d)
{
    pthread_mutex_lock(&out->lock);
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        vdiff_t *p = realloc(out->items, cap * sizeof(*p));
        if (!p) {
            pthread_mutex_unlock(&out->lock);
            return FERRY_ERR_NOMEM;
        }
        out->items = p;
        out->cap = cap;
    }
    out->items[out->n++] = *d;
    pthread_mutex_unlock(&out->lock);
    return 0;
}

void ferry_verify_diff_free(vdiff_t *d)
{
    free(d->json);
    free(d->text);
    free(d->repair);
    free(d->sort_key);
    memset(d, 0, sizeof(*d));
}

void ferry_verify_diffs_free(vdiffs_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        ferry_verify_diff_free(&d->items[i]);
    free(d->items);
    d->items = NULL;
    d->n = d->cap = 0;
}

static int diff_cmp(const void *a, const void *b)
{
    const vdiff_t *x = a, *y = b;
    int c = strcmp(x->t->label, y->t->label);
    if (c)
        return c;
    size_t n = x->sort_len < y->sort_len ? x->sort_len : y->sort_len;
    c = memcmp(x->sort_key, y->sort_key, n);
    if (c)
        return c;
    if (x->sort_len != y->sort_len)
        return x->sort_len < y->sort_len ? -1 : 1;
    return (int)x->kind - (int)y->kind;
}

void ferry_verify_diffs_sort(vdiffs_t *d)
{
    if (d->n > 1)
        qsort(d->items, d->n, sizeof(*d->items), diff_cmp);
}
