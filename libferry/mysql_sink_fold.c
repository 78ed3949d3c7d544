/*
 * mysql_sink_fold.c - a key's changes in one run folded into their net
 * effect (runs with ferry_mysql_sink_run_t.compact, see mysql_sink.h).
 *
 * Every change of a row image is FULL, so a key's sequence of changes in a
 * run says what the row was before the first (absent when the first is an
 * insert, present otherwise) and what it is after the last (absent after a
 * delete, the last after image otherwise). One item per key then does what
 * the whole sequence did:
 *
 *   before   after    strict mode                  safe mode
 *   absent   present  INSERT of the last image     upsert of the last image
 *   present  present  UPDATE by key to it          upsert of the last image
 *   present  absent   DELETE by key                delete if present
 *   absent   absent   nothing                      delete if present
 *
 * Strict mode still notices what the first change of the key would have
 * noticed (an insert over an existing row, an update or delete that finds
 * none), except for a key inserted and deleted in the same run, which
 * sends nothing and so cannot see a row the destination should not have.
 * Safe mode writes the final state whatever the destination holds, which is
 * what replaying the sequence there leaves too.
 *
 * With one item per key, items of different keys touch different rows of a
 * table whose only unique key is the sink's key (the caller's promise when
 * it sets compact), so they commute and are ordered by kind (deletes,
 * inserts, updates; updates by the columns they change): the longest
 * groups for the statements, each listing few columns.
 *
 * A run is left as it is when it has a change that is not an insert,
 * update or delete, an update that changes its key, a NULL in a key, or a
 * sequence that is not possible for one row (two inserts in a row, an
 * update after a delete): exact per-event apply then shows the problem.
 */
#include "mysql_sink_int.h"

#include <stdlib.h>
#include <string.h>

/* The row whose key an event touches. */
static const ferry_row_t *key_row(const ferry_change_t *ev)
{
    return ev->op == 'c' ? ev->after : ev->before ? ev->before : ev->after;
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ULL;
    return h;
}

/* A hash of the key; equal keys (ferry_value_equal) hash alike. */
static uint64_t key_hash(const sink_table_t *t, const ferry_row_t *r)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t k = 0; k < t->nkey; k++) {
        const ferry_value_t *v = &r->values[t->key[k]];
        switch (t->cols[t->key[k]].type) {
        case FERRY_TYPE_INT:
        case FERRY_TYPE_TIME:
        case FERRY_TYPE_YEAR:
            h = mix(h, &v->v.i, sizeof(v->v.i));
            break;
        case FERRY_TYPE_UINT:
        case FERRY_TYPE_BIT:
            h = mix(h, &v->v.u, sizeof(v->v.u));
            break;
        case FERRY_TYPE_STRING:
        case FERRY_TYPE_BYTES:
        case FERRY_TYPE_DECIMAL:
        case FERRY_TYPE_ENUM:
        case FERRY_TYPE_SET:
        case FERRY_TYPE_JSON:
        case FERRY_TYPE_ARRAY:
            h = mix(h, v->v.s.ptr, v->v.s.len);
            break;
        default: /* hashed alike: only more probes */
            h = mix(h, "?", 1);
            break;
        }
    }
    return h;
}

static bool foldable_event(const sink_table_t *t, const ferry_change_t *ev)
{
    if (ev->op != 'c' && ev->op != 'u' && ev->op != 'd')
        return false;
    if (ev->op == 'u' && ferry_mysql_sink_key_changed(t, ev))
        return false;
    const ferry_row_t *r = key_row(ev);
    for (size_t k = 0; k < t->nkey; k++)
        if (r->values[t->key[k]].is_null)
            return false;
    return true;
}

/* True when the chain from head (through next) is possible for one row. */
static bool chain_possible(const sink_item_t *items, const size_t *next, size_t head)
{
    bool present = items[head].ev->op != 'c';
    for (size_t i = head; i != SIZE_MAX; i = next[i]) {
        char op = items[i].ev->op;
        if ((op == 'c') == present)
            return false; /* insert over a present row, or update/delete of an absent one */
        present = op != 'd';
    }
    return true;
}

static int kind_rank(sink_kind_t k)
{
    switch (k) {
    case SINK_DELETE_KEY:
        return 0;
    case SINK_INSERT:
    case SINK_UPSERT:
        return 1;
    case SINK_UPDATE_KEY:
        return 2;
    default:
        return 3;
    }
}

/* Updates changing the same columns sort together: their statements list fewer columns. */
static int cmp_items(const void *a, const void *b)
{
    const sink_item_t *x = a, *y = b;
    int rx = kind_rank(x->kind), ry = kind_rank(y->kind);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    if (x->changed != y->changed)
        return x->changed < y->changed ? -1 : 1;
    return x->event < y->event ? -1 : x->event > y->event;
}

static uint64_t changed_columns(const sink_item_t *it)
{
    uint64_t mask = 0;
    for (size_t c = 0; it->kind == SINK_UPDATE_KEY && c < it->t->ncols; c++)
        if (ferry_mysql_sink_col_changed(it->t, it->ev, c))
            mask |= 1ULL << (c % 64);
    return mask;
}

/*
 * One item for the chain from head: what its changes do together. Returns
 * false (nothing to send) for a strict insert-then-delete.
 */
static bool fold_chain(ferry_arena_t *arena, const sink_item_t *items, const size_t *next,
                       size_t head, size_t count, sink_item_t *out)
{
    size_t *chain = ferry_arena_alloc(arena, count * sizeof(size_t));
    ferry_change_t *ev = ferry_arena_alloc(arena, sizeof(*ev));
    out->chain = NULL;
    if (!chain || !ev)
        return false;
    size_t n = 0, last = head;
    for (size_t i = head; i != SIZE_MAX; i = next[i]) {
        chain[n++] = items[i].event;
        last = i;
    }
    const ferry_change_t *first_ev = items[head].ev, *last_ev = items[last].ev;
    bool before = first_ev->op != 'c', after = last_ev->op != 'd';
    *ev = *last_ev;
    *out = items[last];
    out->ev = ev;
    out->run_events = items[head].ev - items[head].event;
    out->chain = chain;
    out->n_chain = n;
    if (!after) {
        ev->op = 'd';
        ev->after = NULL;
        out->kind = SINK_DELETE_KEY;
        return before || out->safe;
    }
    if (!before) {
        ev->op = 'c';
        ev->before = NULL;
        out->kind = out->safe ? SINK_UPSERT : SINK_INSERT;
        return true;
    }
    ev->op = 'u';
    ev->before = first_ev->before; /* the row before the chain; NULL: unknown, set every column */
    out->kind = out->safe ? SINK_UPSERT : SINK_UPDATE_KEY;
    return true;
}

size_t ferry_mysql_sink_fold(ferry_arena_t *arena, sink_item_t *items, size_t n,
                             sink_item_t *dropped, size_t *n_dropped)
{
    if (n < 2 || !items[0].t->nkey)
        return n;
    const sink_table_t *t = items[0].t;
    for (size_t i = 0; i < n; i++)
        if (items[i].excluded || !foldable_event(t, items[i].ev))
            return n;
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    size_t *slot = ferry_arena_alloc(arena, cap * sizeof(size_t)); /* chain head, or SIZE_MAX */
    size_t *next = ferry_arena_alloc(arena, n * sizeof(size_t));  /* next of the key, or SIZE_MAX */
    size_t *tail = ferry_arena_alloc(arena, n * sizeof(size_t));  /* per head */
    size_t *count = ferry_arena_calloc(arena, n, sizeof(size_t)); /* per head */
    sink_item_t *out = ferry_arena_alloc(arena, n * sizeof(sink_item_t));
    if (!slot || !next || !tail || !count || !out)
        return n;
    memset(slot, 0xff, cap * sizeof(size_t));
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        next[i] = SIZE_MAX;
        size_t k = key_hash(t, key_row(items[i].ev)) & (cap - 1);
        while (slot[k] != SIZE_MAX && !ferry_mysql_sink_same_key(&items[slot[k]], &items[i]))
            k = (k + 1) & (cap - 1);
        if (slot[k] == SIZE_MAX) {
            slot[k] = tail[i] = i;
            count[i] = 1;
            continue;
        }
        size_t head = slot[k];
        next[tail[head]] = i;
        tail[head] = i;
        count[head]++;
        any = true;
    }
    if (!any)
        return n;
    for (size_t i = 0; i < n; i++)
        if (count[i] > 1 && !chain_possible(items, next, i))
            return n;
    size_t m = 0, dropped_before = *n_dropped;
    for (size_t i = 0; i < n; i++) {
        if (!count[i])
            continue;
        if (count[i] == 1)
            out[m++] = items[i];
        else if (fold_chain(arena, items, next, i, count[i], &out[m]))
            m++;
        else if (out[m].chain) /* folded to nothing: counted as applied, never sent */
            dropped[(*n_dropped)++] = out[m];
        else {
            *n_dropped = dropped_before; /* out of memory: apply the events one by one */
            return n;
        }
    }
    for (size_t i = 0; i < m; i++)
        out[i].changed = changed_columns(&out[i]);
    qsort(out, m, sizeof(*out), cmp_items);
    memcpy(items, out, m * sizeof(*out));
    return m;
}
