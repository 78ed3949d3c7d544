/*
 * mysql_sink_plan.c - SQL statements for runs of items.
 *
 * Only consecutive items of one table and one kind share a statement, so
 * the order of items is the order of statements and of the rows inside a
 * multi-row statement: per-key order holds without reasoning about which
 * items commute (a group of updates holds each key once, apply.c; only
 * mysql_sink_fold.c reorders, once every key has one item). Grouped
 * deletes use "(key) IN (...)", which cannot match NULL, so a delete whose
 * key holds a NULL goes alone with "<=>". Updates set the columns they
 * change (ferry_mysql_sink_col_changed).
 */
#include "mysql_sink_int.h"

#include <string.h>

static bool key_has_null(const sink_table_t *t, const ferry_row_t *r)
{
    for (size_t k = 0; k < t->nkey; k++)
        if (r->values[t->key[k]].is_null)
            return true;
    return false;
}

/* The row whose key identifies what an update or delete touches. */
static const ferry_row_t *match_row(const ferry_change_t *ev)
{
    return ev->before ? ev->before : ev->after;
}

bool ferry_mysql_sink_key_changed(const sink_table_t *t, const ferry_change_t *ev)
{
    if (!ev->before)
        return false;
    for (size_t k = 0; k < t->nkey; k++) {
        size_t c = t->key[k];
        if (!ferry_value_equal(t->cols[c].type, &ev->before->values[c], &ev->after->values[c]))
            return true;
    }
    return false;
}

bool ferry_mysql_sink_same_key(const sink_item_t *a, const sink_item_t *b)
{
    const ferry_row_t *x = match_row(a->ev), *y = match_row(b->ev);
    for (size_t k = 0; k < a->t->nkey; k++) {
        size_t c = a->t->key[k];
        if (!ferry_value_equal(a->t->cols[c].type, &x->values[c], &y->values[c]))
            return false;
    }
    return true;
}

bool ferry_mysql_sink_kind_groups(const sink_item_t *it)
{
    if (it->single)
        return false;
    switch (it->kind) {
    case SINK_INSERT:
    case SINK_UPSERT:
    case SINK_LOAD:
        return true;
    case SINK_DELETE_KEY:
        return !key_has_null(it->t, match_row(it->ev));
    case SINK_UPDATE_KEY:
        /* one statement for updates of distinct keys that keep their key (group_end) */
        return !key_has_null(it->t, match_row(it->ev)) &&
               !ferry_mysql_sink_key_changed(it->t, it->ev);
    default:
        return false;
    }
}

bool ferry_mysql_sink_groupable(const sink_item_t *a, const sink_item_t *b)
{
    return a->t == b->t && a->kind == b->kind && a->safe == b->safe &&
           ferry_mysql_sink_kind_groups(a) && ferry_mysql_sink_kind_groups(b);
}

static void put_columns(ferry_strbuf_t *b, const sink_table_t *t)
{
    ferry_strbuf_puts(b, " (");
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            ferry_strbuf_puts(b, ", ");
        ferry_strbuf_puts(b, t->cols[c].quoted);
    }
    ferry_strbuf_puts(b, ")");
}

static void put_values(ferry_strbuf_t *b, const sink_table_t *t, const ferry_row_t *r)
{
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            ferry_strbuf_puts(b, ", ");
        ferry_mysql_sink_put_literal(b, t->cols[c].type, &r->values[c]);
    }
}

static bool is_text(ferry_type_t t)
{
    return t == FERRY_TYPE_STRING || t == FERRY_TYPE_ENUM || t == FERRY_TYPE_SET;
}

/*
 * "c1 <=> v1 AND c2 <=> v2": the key, or every column when the table has
 * none. Full-image matches compare text byte for byte (utf8mb4_bin), so a
 * case-insensitive collation cannot pick a different row.
 */
static void put_match(ferry_strbuf_t *b, const sink_table_t *t, const ferry_row_t *r)
{
    size_t n = t->nkey ? t->nkey : t->ncols;
    for (size_t k = 0; k < n; k++) {
        size_t c = t->nkey ? t->key[k] : k;
        if (k)
            ferry_strbuf_puts(b, " AND ");
        ferry_strbuf_puts(b, t->cols[c].quoted);
        ferry_strbuf_puts(b, " <=> ");
        ferry_mysql_sink_put_literal(b, t->cols[c].type, &r->values[c]);
        if (!t->nkey && is_text(t->cols[c].type) && !r->values[c].is_null)
            ferry_strbuf_puts(b, " COLLATE utf8mb4_bin");
    }
}

static void put_key_tuple(ferry_strbuf_t *b, const sink_table_t *t, const ferry_row_t *r)
{
    if (t->nkey > 1)
        ferry_strbuf_puts(b, "(");
    for (size_t k = 0; k < t->nkey; k++) {
        if (k)
            ferry_strbuf_puts(b, ", ");
        ferry_mysql_sink_put_literal(b, t->cols[t->key[k]].type, &r->values[t->key[k]]);
    }
    if (t->nkey > 1)
        ferry_strbuf_puts(b, ")");
}

static void build_insert(ferry_strbuf_t *b, const sink_item_t *items, size_t first, size_t last,
                         bool upsert)
{
    const sink_table_t *t = items[first].t;
    ferry_strbuf_puts(b, "INSERT INTO ");
    ferry_strbuf_puts(b, t->quoted);
    put_columns(b, t);
    ferry_strbuf_puts(b, " VALUES ");
    bool any = false;
    for (size_t i = first; i <= last; i++) {
        if (items[i].excluded)
            continue;
        ferry_strbuf_puts(b, any ? ", (" : "(");
        put_values(b, t, items[i].ev->after);
        ferry_strbuf_puts(b, ")");
        any = true;
    }
    if (!upsert)
        return;
    ferry_strbuf_puts(b, " ON DUPLICATE KEY UPDATE ");
    for (size_t c = 0; c < t->ncols; c++) {
        ferry_strbuf_printf(b, "%s%s = VALUES(%s)", c ? ", " : "", t->cols[c].quoted,
                            t->cols[c].quoted);
    }
}

/* "`k`" or "(`k1`, `k2`)": the key columns, as the left side of a comparison. */
static void put_key_names(ferry_strbuf_t *b, const sink_table_t *t)
{
    if (t->nkey > 1)
        ferry_strbuf_puts(b, "(");
    for (size_t k = 0; k < t->nkey; k++)
        ferry_strbuf_printf(b, "%s%s", k ? ", " : "", t->cols[t->key[k]].quoted);
    if (t->nkey > 1)
        ferry_strbuf_puts(b, ")");
}

/* "(<key columns>) IN ((...), ...)" over the key images of items first..last not excluded. */
static void put_key_in(ferry_strbuf_t *b, const sink_item_t *items, size_t first, size_t last)
{
    const sink_table_t *t = items[first].t;
    put_key_names(b, t);
    ferry_strbuf_puts(b, " IN (");
    bool any = false;
    for (size_t i = first; i <= last; i++) {
        if (items[i].excluded)
            continue;
        if (any)
            ferry_strbuf_puts(b, ", ");
        put_key_tuple(b, t, match_row(items[i].ev));
        any = true;
    }
    ferry_strbuf_puts(b, ")");
}

static void build_delete_in(ferry_strbuf_t *b, const sink_item_t *items, size_t first, size_t last)
{
    const sink_table_t *t = items[first].t;
    ferry_strbuf_printf(b, "DELETE FROM %s WHERE ", t->quoted);
    put_key_in(b, items, first, last);
}

static void build_delete_one(ferry_strbuf_t *b, const sink_table_t *t, const ferry_row_t *r)
{
    ferry_strbuf_printf(b, "DELETE FROM %s WHERE ", t->quoted);
    put_match(b, t, r);
    if (!t->nkey)
        ferry_strbuf_puts(b, " LIMIT 1");
}

bool ferry_mysql_sink_col_changed(const sink_table_t *t, const ferry_change_t *ev, size_t c)
{
    ferry_type_t ty = t->cols[c].type;
    return !ev->before || ty == FERRY_TYPE_TIMESTAMP || ty == FERRY_TYPE_DATETIME ||
           !ferry_value_equal(ty, &ev->before->values[c], &ev->after->values[c]);
}

/*
 * "UPDATE t SET <the columns the event changes> WHERE <match>": the row
 * already holds the others (strict mode applies to a row equal to the
 * before image). An event that changes nothing sets every column.
 */
static void build_update(ferry_strbuf_t *b, const sink_table_t *t, const ferry_change_t *ev)
{
    bool all = true;
    for (size_t c = 0; c < t->ncols && all; c++)
        all = !ferry_mysql_sink_col_changed(t, ev, c);
    ferry_strbuf_printf(b, "UPDATE %s SET ", t->quoted);
    bool any = false;
    for (size_t c = 0; c < t->ncols; c++) {
        if (!all && !ferry_mysql_sink_col_changed(t, ev, c))
            continue;
        ferry_strbuf_printf(b, "%s%s = ", any ? ", " : "", t->cols[c].quoted);
        ferry_mysql_sink_put_literal(b, t->cols[c].type, &ev->after->values[c]);
        any = true;
    }
    ferry_strbuf_puts(b, " WHERE ");
    put_match(b, t, match_row(ev));
    if (!t->nkey)
        ferry_strbuf_puts(b, " LIMIT 1");
}

static bool is_key(const sink_table_t *t, size_t c)
{
    for (size_t k = 0; k < t->nkey; k++)
        if (t->key[k] == c)
            return true;
    return false;
}

/* True when one of the not excluded items[first..last] changes column c. */
static bool any_changes(const sink_item_t *items, size_t first, size_t last, size_t c)
{
    for (size_t i = first; i <= last; i++)
        if (!items[i].excluded && ferry_mysql_sink_col_changed(items[i].t, items[i].ev, c))
            return true;
    return false;
}

/*
 * Updates of distinct keys that keep their key, as one statement:
 * "UPDATE t SET c = CASE key WHEN k1 THEN v1 WHEN k2 THEN v2 END, ...
 * WHERE key IN (k1, k2)" (a composite key: "CASE WHEN (a, b) = (x, y)
 * THEN"), over the columns that at least one of the updates changes. Every
 * row the WHERE finds has its WHEN in every CASE (no ELSE, whose column
 * type would mix with the literals'). With CLIENT_FOUND_ROWS the statement
 * counts the rows it matched, so strict mode still sees an update that
 * finds no row (the count falls short and the group is sent again one
 * statement per event).
 */
static void build_update_case(ferry_strbuf_t *b, const sink_item_t *items, size_t first,
                              size_t last)
{
    const sink_table_t *t = items[first].t;
    ferry_strbuf_printf(b, "UPDATE %s SET ", t->quoted);
    bool any = false;
    for (size_t c = 0; c < t->ncols; c++) {
        if (is_key(t, c) || !any_changes(items, first, last, c))
            continue;
        ferry_strbuf_printf(b, "%s%s = CASE", any ? ", " : "", t->cols[c].quoted);
        if (t->nkey == 1)
            ferry_strbuf_printf(b, " %s", t->cols[t->key[0]].quoted);
        for (size_t i = first; i <= last; i++) {
            if (items[i].excluded)
                continue;
            ferry_strbuf_puts(b, " WHEN ");
            if (t->nkey > 1) {
                put_key_names(b, t);
                ferry_strbuf_puts(b, " = ");
            }
            put_key_tuple(b, t, match_row(items[i].ev));
            ferry_strbuf_puts(b, " THEN ");
            ferry_mysql_sink_put_literal(b, t->cols[c].type, &items[i].ev->after->values[c]);
        }
        ferry_strbuf_puts(b, " END");
        any = true;
    }
    if (!any) /* nothing changes: the rows must still be found */
        ferry_strbuf_printf(b, "%s = %s", t->cols[t->key[0]].quoted, t->cols[t->key[0]].quoted);
    ferry_strbuf_puts(b, " WHERE ");
    put_key_in(b, items, first, last);
}

static void build_insert_absent(ferry_strbuf_t *b, const sink_table_t *t, const ferry_row_t *r)
{
    ferry_strbuf_printf(b, "INSERT INTO %s", t->quoted);
    put_columns(b, t);
    ferry_strbuf_puts(b, " SELECT ");
    put_values(b, t, r);
    ferry_strbuf_printf(b, " FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM %s WHERE ", t->quoted);
    put_match(b, t, r);
    ferry_strbuf_puts(b, ")");
}

size_t ferry_mysql_sink_build(ferry_strbuf_t *b, const sink_item_t *items, size_t first,
                              size_t last, sink_stmt_t st[2])
{
    const sink_item_t *it = &items[first];
    size_t n = 0;
    for (size_t i = first; i <= last; i++)
        n += !items[i].excluded;
    st[0] = (sink_stmt_t){.first = first, .last = last, .n_items = n, .expect = -1};
    bool check = !it->safe;
    switch (it->kind) {
    case SINK_INSERT:
    case SINK_LOAD: /* LOAD DATA that fell back */
        build_insert(b, items, first, last, it->safe);
        st[0].expect = it->safe ? -1 : (int64_t)n;
        return 1;
    case SINK_UPSERT:
        build_insert(b, items, first, last, true);
        return 1;
    case SINK_DELETE_KEY:
        if (first == last && key_has_null(it->t, match_row(it->ev)))
            build_delete_one(b, it->t, match_row(it->ev));
        else
            build_delete_in(b, items, first, last);
        st[0].expect = check ? (int64_t)n : -1;
        return 1;
    case SINK_UPDATE_KEY:
        if (n > 1) {
            build_update_case(b, items, first, last);
            st[0].expect = check ? (int64_t)n : -1;
            return 1;
        }
        for (; items[first].excluded; first++)
            ;
        build_update(b, items[first].t, items[first].ev);
        st[0].expect = check ? 1 : -1;
        return 1;
    case SINK_UPDATE_ROW:
        build_update(b, it->t, it->ev);
        st[0].expect = check ? 1 : -1;
        return 1;
    case SINK_DELETE_ROW:
        build_delete_one(b, it->t, it->ev->before);
        st[0].expect = check ? 1 : -1;
        return 1;
    case SINK_INSERT_ABSENT:
        build_insert_absent(b, it->t, it->ev->after);
        return 1;
    case SINK_REKEY_SAFE:
        build_delete_one(b, it->t, it->ev->before);
        ferry_strbuf_puts(b, ";\n");
        build_insert(b, items, first, first, true);
        st[1] = st[0];
        return 2;
    }
    return 0;
}
