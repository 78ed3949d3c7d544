/*
 * verify_stream.c - a chunk's checksum computed in C from streamed rows.
 *
 * Each side sends the canonical text of every compared column of every row
 * in the range (the same expressions verify_table.c builds; for most
 * columns the bare column), and the verifier hashes each row to 64 bits and
 * sums the hashes (mod 2^64) and counts the rows. Sending rows costs a
 * MariaDB server less than building a string per row and running two
 * CRC functions over it (bench/verify.sh measures both), and the hash here
 * (verify_hash.h) is stronger: every row's 64 bits come from a multiplying
 * mix over all its bytes, not from two linear CRCs.
 *
 * The same stream, with each row's key kept beside its hash, locates the
 * rows of a differing chunk in one pass (ferry_verify_stream_keys): both
 * sides' (key, hash) lists are sorted and merged in C.
 *
 * A chunk of a key that is not one integer column can be led by the
 * source (ferry_verify_stream_lead): the source's query reads the first N
 * rows above the lower bound in key order, with the raw key columns after
 * the compared ones, and the last row's key becomes the chunk's upper
 * bound, which the destination's query (ferry_verify_stream_side) then
 * reads up to. No query walks the key index to find a boundary.
 *
 * Row encoding (verify_hash.h): the cells are fed in column order into one
 * state, each with its length first (NULL with a marker no length has), so
 * NULL and '' differ and no two splits of a row into cells collide.
 */
#include "verify_int.h"

#include "err.h"
#include "mysql_rows.h"
#include "verify_hash.h"

#include <errno.h>
#include <mysql.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* One row's key (length-prefixed canonical key cells) and hash. */
typedef struct {
    char *key;
    size_t len;
    uint64_t h;
} krow_t;

typedef struct {
    MYSQL_RES *res; /* through libmariadb, or */
    vwire_t wire;   /* straight from the socket (verify_wire.c) */
    bool done;
    bool skip; /* this side is not read */
    uint64_t sum, rows;
    krow_t *keys; /* NULL unless keys are collected */
    size_t n_keys, cap_keys;
    bool collect, oom;
    uint64_t limit; /* >0: the first rows above lo in key order, the raw key columns last */
    char *last;     /* with limit: the raw key cells of the last row, each NUL-terminated */
    size_t last_cap;
    unsigned long last_len[64];
} stream_t;

/* Appends row's key cells: a non-NULL flag, a 4-byte big-endian length, the bytes. */
static void collect_key(stream_t *s, const vtable_t *t, const char *const *row,
                        const unsigned long *len, uint64_t h)
{
    if (s->n_keys == s->cap_keys) {
        size_t cap = s->cap_keys ? s->cap_keys * 2 : 1024;
        krow_t *p = realloc(s->keys, cap * sizeof(*p));
        if (!p) {
            s->oom = true;
            return;
        }
        s->keys = p;
        s->cap_keys = cap;
    }
    size_t n = 0;
    for (size_t k = 0; k < t->n_key; k++)
        n += 5 + (row[t->key[k]] ? len[t->key[k]] : 0);
    char *b = malloc(n ? n : 1), *p = b;
    if (!b) {
        s->oom = true;
        return;
    }
    for (size_t k = 0; k < t->n_key; k++) {
        size_t c = t->key[k];
        uint32_t l = row[c] ? (uint32_t)len[c] : 0;
        *p++ = row[c] ? 1 : 0;
        for (int i = 3; i >= 0; i--)
            *p++ = (char)((l >> (8 * i)) & 0xff);
        if (l)
            memcpy(p, row[c], l);
        p += l;
    }
    s->keys[s->n_keys++] = (krow_t){b, n, h};
}

/* Keeps the raw key cells that follow the compared columns of row (a led stream's last row). */
static void keep_last(stream_t *s, const vtable_t *t, const char *const *row,
                      const unsigned long *len)
{
    size_t n = 0;
    for (size_t k = 0; k < t->n_key; k++)
        n += (row[t->n_cols + k] ? len[t->n_cols + k] : 0) + 1;
    if (n > s->last_cap) {
        char *p = realloc(s->last, n * 2);
        if (!p) {
            s->oom = true;
            return;
        }
        s->last = p;
        s->last_cap = n * 2;
    }
    char *p = s->last;
    for (size_t k = 0; k < t->n_key; k++) {
        size_t l = row[t->n_cols + k] ? len[t->n_cols + k] : 0;
        if (l)
            memcpy(p, row[t->n_cols + k], l);
        p[l] = '\0';
        s->last_len[k] = l;
        p += l + 1;
    }
}

/* Adds one row to a side's count and sum (and keys). */
static inline void take_row(stream_t *s, const vtable_t *t, const char *const *row,
                            const unsigned long *len)
{
    uint64_t h = FERRY_VERIFY_HASH_SEED;
    for (size_t c = 0; c < t->n_cols; c++)
        h = row[c] ? ferry_verify_hash_cell(h, row[c], len[c]) : ferry_verify_hash_null(h);
    h = ferry_verify_hash_finish(h);
    s->sum += h;
    s->rows++;
    if (s->collect && !s->oom)
        collect_key(s, t, row, len, h);
    if (s->limit && !s->oom)
        keep_last(s, t, row, len);
}

/* Reads up to batch rows of one side (through libmariadb) into its sums. */
static int pull(stream_t *s, const vtable_t *t, MYSQL *my, int batch)
{
    for (int i = 0; i < batch; i++) {
        MYSQL_ROW row = mysql_fetch_row(s->res);
        if (!row) {
            s->done = true;
            return mysql_errno(my) ? FERRY_ERR_IO : 0;
        }
        take_row(s, t, (const char *const *)row, mysql_fetch_lengths(s->res));
    }
    return 0;
}

/*
 * Reads both sides' results from their sockets: every whole row already
 * read is taken, then the sides that need more bytes are waited for
 * together. A side that fails is noted in rc and the other is read to its
 * end, so its connection stays usable.
 */
static int pull_wire(stream_t *s, const vtable_t *t, const char *const *roles, char *errstr,
                     size_t errstr_size)
{
    int rc = 0;
    while (!(s[0].done && s[1].done)) {
        struct pollfd pf[2];
        int idx[2], np = 0;
        for (int i = 0; i < 2; i++) {
            if (s[i].done)
                continue;
            const char **cells;
            const unsigned long *lens;
            int r;
            while ((r = ferry_verify_wire_row(&s[i].wire, &cells, &lens)) == 1)
                take_row(&s[i], t, cells, lens);
            if (r < 0) {
                s[i].done = true;
                if (s[i].wire.state != VWIRE_DONE || s[i].wire.server_error) {
                    if (!rc)
                        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                                           "could not checksum a chunk of \"%s\" on the %s: %s",
                                           t->label, roles[i], s[i].wire.error);
                }
                continue;
            }
            pf[np] = (struct pollfd){.fd = s[i].wire.fd, .events = POLLIN};
            idx[np++] = i;
        }
        if (!np)
            break;
        if (np == 2 && poll(pf, 2, 1000) < 0 && errno != EINTR)
            pf[0].revents = pf[1].revents = POLLIN; /* let fill report it */
        for (int k = 0; k < np; k++) {
            if (np == 2 && !pf[k].revents)
                continue;
            /* when it breaks, the next ferry_verify_wire_row says so */
            (void)ferry_verify_wire_fill(&s[idx[k]].wire);
        }
    }
    return rc;
}

static void stream_free(stream_t *s)
{
    for (size_t i = 0; i < s->n_keys; i++)
        free(s->keys[i].key);
    free(s->keys);
    mysql_free_result(s->res);
    ferry_verify_wire_free(&s->wire);
    free(s->last);
}

static void key_list(ferry_strbuf_t *sb, const vtable_t *t)
{
    for (size_t k = 0; k < t->n_key; k++) {
        ferry_strbuf_puts(sb, k ? ", " : "");
        ferry_mysql_rows_quote_ident(sb, ferry_table_column(t->src_t, t->key[k])->name);
    }
}

/* The side's query: the range's canonical columns (with limit: the raw key columns too). */
static int select_canon(ferry_strbuf_t *sb, const vtable_t *t, bool dst,
                        const ferry_chunk_value_t *lo, const ferry_chunk_value_t *hi,
                        uint64_t limit, char *errstr, size_t errstr_size)
{
    ferry_strbuf_puts(sb, "SELECT ");
    for (size_t c = 0; c < t->n_cols; c++)
        ferry_strbuf_printf(sb, "%s%s", c ? ", " : "",
                            dst ? t->cols[c].dst_expr : t->cols[c].src_expr);
    if (limit) {
        ferry_strbuf_puts(sb, ", ");
        key_list(sb, t);
    }
    ferry_strbuf_puts(sb, " FROM ");
    ferry_verify_sql_table(sb, t, dst);
    int rc = ferry_verify_sql_where(sb, t, lo, hi, errstr, errstr_size);
    if (!rc && limit) {
        ferry_strbuf_puts(sb, " ORDER BY ");
        key_list(sb, t);
        ferry_strbuf_printf(sb, " LIMIT %llu", (unsigned long long)limit);
    }
    return rc;
}

/* Streams (lo, hi] from both sides into s[0] (source) and s[1] (destination). */
static int run_streams(const vtable_t *t, MYSQL *src, MYSQL *dst, const ferry_chunk_value_t *lo,
                       const ferry_chunk_value_t *hi, stream_t *s, char *errstr, size_t errstr_size)
{
    ferry_strbuf_t q[2] = {FERRY_STRBUF_INIT, FERRY_STRBUF_INIT};
    MYSQL *conns[2] = {src, dst};
    const char *roles[2] = {"source", "destination"};
    int rc = 0;
    bool sent[2] = {false, false};
    for (int i = 0; i < 2 && !rc; i++) {
        if (s[i].skip)
            continue;
        rc = select_canon(&q[i], t, i == 1, lo, hi, s[i].limit, errstr, errstr_size);
        if (!rc && q[i].oom)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        if (!rc && mysql_send_query(conns[i], q[i].buf, (unsigned long)q[i].len) != 0)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                               "could not checksum a chunk of \"%s\" on the %s: %s", t->label,
                               roles[i], mysql_error(conns[i]));
        sent[i] = !rc;
    }
    bool wire = (s[0].skip || ferry_verify_wire_usable(src)) &&
                (s[1].skip || ferry_verify_wire_usable(dst));
    for (int i = 0; i < 2; i++) {
        ferry_strbuf_free(&q[i]);
        if (!sent[i]) {
            s[i].done = true;
            continue;
        }
        if (wire) {
            ferry_verify_wire_init(&s[i].wire, (int)mysql_get_socket(conns[i]),
                                   t->n_cols + (s[i].limit ? t->n_key : 0));
            continue;
        }
        if (mysql_read_query_result(conns[i]) != 0 || !(s[i].res = mysql_use_result(conns[i]))) {
            if (!rc)
                rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                                   "could not checksum a chunk of \"%s\" on the %s: %s", t->label,
                                   roles[i], mysql_error(conns[i]));
            s[i].done = true;
        }
    }
    if (wire) {
        int wrc = pull_wire(s, t, roles, rc ? NULL : errstr, rc ? 0 : errstr_size);
        if (!rc)
            rc = wrc;
    }
    /* both servers send at once; take a batch from each in turn */
    while (!(s[0].done && s[1].done)) {
        for (int i = 0; i < 2; i++) {
            if (s[i].done)
                continue;
            if (pull(&s[i], t, conns[i], 256) != 0 && !rc)
                rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                                   "could not checksum a chunk of \"%s\" on the %s: %s", t->label,
                                   roles[i], mysql_error(conns[i]));
        }
    }
    if (!rc && (s[0].oom || s[1].oom))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    return rc;
}

int ferry_verify_stream_checksum(const vtable_t *t, MYSQL *src, MYSQL *dst,
                                 const ferry_chunk_value_t *lo, const ferry_chunk_value_t *hi,
                                 int64_t *rows_src, int64_t *rows_dst, bool *equal, char *errstr,
                                 size_t errstr_size)
{
    stream_t s[2] = {{0}, {0}};
    int rc = run_streams(t, src, dst, lo, hi, s, errstr, errstr_size);
    *rows_src = (int64_t)s[0].rows;
    *rows_dst = (int64_t)s[1].rows;
    *equal = s[0].rows == s[1].rows && s[0].sum == s[1].sum;
    stream_free(&s[0]);
    stream_free(&s[1]);
    return rc;
}

int ferry_verify_stream_lead(const vtable_t *t, MYSQL *src, const ferry_chunk_value_t *lo,
                             uint64_t limit, ferry_arena_t *arena, ferry_chunk_value_t **hi,
                             vside_t *out, char *errstr, size_t errstr_size)
{
    stream_t s[2] = {{.limit = limit}, {.skip = true}};
    *hi = NULL;
    int rc = run_streams(t, src, NULL, lo, NULL, s, errstr, errstr_size);
    out->rows = s[0].rows;
    out->sum = s[0].sum;
    if (!rc && s[0].rows == limit && t->n_key <= 64) {
        ferry_chunk_value_t *v = ferry_arena_calloc(arena, t->n_key, sizeof(*v));
        const char *p = s[0].last;
        for (size_t k = 0; v && k < t->n_key; k++) {
            v[k].len = s[0].last_len[k];
            if (!(v[k].data = ferry_arena_strndup(arena, p, v[k].len)))
                v = NULL;
            p += s[0].last_len[k] + 1;
        }
        if (!v)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        *hi = v;
    }
    stream_free(&s[0]);
    return rc;
}

int ferry_verify_stream_side(const vtable_t *t, MYSQL *my, bool dst, const ferry_chunk_value_t *lo,
                             const ferry_chunk_value_t *hi, vside_t *out, char *errstr,
                             size_t errstr_size)
{
    stream_t s[2] = {{.skip = dst}, {.skip = !dst}};
    int rc = run_streams(t, dst ? NULL : my, dst ? my : NULL, lo, hi, s, errstr, errstr_size);
    out->rows = s[dst].rows;
    out->sum = s[dst].sum;
    stream_free(&s[dst]);
    return rc;
}

static int krow_cmp(const void *a, const void *b)
{
    const krow_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : x->len < y->len ? -1 : x->len > y->len;
}

/* Appends the condition that selects key k (decoded from its cells). */
static int key_condition(ferry_strbuf_t *sb, const vtable_t *t, const krow_t *k, bool in_list,
                         char *errstr, size_t errstr_size)
{
    const char *p = k->key;
    for (size_t i = 0; i < t->n_key; i++) {
        bool present = *p++ != 0;
        uint32_t l = 0;
        for (int b = 0; b < 4; b++)
            l = (l << 8) | (unsigned char)*p++;
        if (!present)
            return FERRY_ERR_UNSUPPORTED; /* a key column is never NULL in a usable key */
        ferry_chunk_value_t v = {p, l};
        p += l;
        const ferry_column_t *col = ferry_table_column(t->src_t, t->key[i]);
        if (!in_list) {
            ferry_strbuf_puts(sb, i ? " AND " : "(");
            ferry_mysql_rows_quote_ident(sb, col->name);
            ferry_strbuf_puts(sb, " = ");
        }
        int rc = ferry_chunk_sql_literal(sb, col, &v, errstr, errstr_size);
        if (rc)
            return rc;
    }
    if (!in_list)
        ferry_strbuf_puts(sb, ")");
    return 0;
}

/* Turns the differing keys into conditions of at most KEYS_PER_CONDITION keys each. */
#define KEYS_PER_CONDITION 200

static int conditions(const vtable_t *t, const krow_t **keys, size_t n, char ***conds,
                      size_t *n_conds, char *errstr, size_t errstr_size)
{
    size_t m = (n + KEYS_PER_CONDITION - 1) / KEYS_PER_CONDITION;
    *conds = calloc(m ? m : 1, sizeof(**conds));
    *n_conds = 0;
    if (!*conds)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    bool in_list = t->n_key == 1;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i += KEYS_PER_CONDITION) {
        ferry_strbuf_t sb = FERRY_STRBUF_INIT;
        if (in_list) {
            ferry_mysql_rows_quote_ident(&sb, ferry_table_column(t->src_t, t->key[0])->name);
            ferry_strbuf_puts(&sb, " IN (");
        }
        for (size_t j = i; !rc && j < n && j < i + KEYS_PER_CONDITION; j++) {
            ferry_strbuf_puts(&sb, j > i ? (in_list ? ", " : " OR ") : "");
            rc = key_condition(&sb, t, keys[j], in_list, errstr, errstr_size);
        }
        if (in_list)
            ferry_strbuf_puts(&sb, ")");
        if (!rc && sb.oom)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        if (rc) {
            ferry_strbuf_free(&sb);
            break;
        }
        (*conds)[(*n_conds)++] = sb.buf;
    }
    return rc;
}

int ferry_verify_stream_keys(const vtable_t *t, MYSQL *src, MYSQL *dst,
                             const ferry_chunk_value_t *lo, const ferry_chunk_value_t *hi,
                             char ***conds, size_t *n_conds, char *errstr, size_t errstr_size)
{
    *conds = NULL;
    *n_conds = 0;
    stream_t s[2] = {{.collect = true}, {.collect = true}};
    int rc = run_streams(t, src, dst, lo, hi, s, errstr, errstr_size);
    const krow_t **diff = NULL;
    size_t nd = 0;
    if (!rc) {
        qsort(s[0].keys, s[0].n_keys, sizeof(krow_t), krow_cmp);
        qsort(s[1].keys, s[1].n_keys, sizeof(krow_t), krow_cmp);
        diff = malloc((s[0].n_keys + s[1].n_keys + 1) * sizeof(*diff));
        if (!diff)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0, k = 0; !rc && (i < s[0].n_keys || k < s[1].n_keys);) {
        int c = i == s[0].n_keys   ? 1
                : k == s[1].n_keys ? -1
                                   : krow_cmp(&s[0].keys[i], &s[1].keys[k]);
        if (c < 0) {
            diff[nd++] = &s[0].keys[i++];
        } else if (c > 0) {
            diff[nd++] = &s[1].keys[k++];
        } else {
            if (s[0].keys[i].h != s[1].keys[k].h)
                diff[nd++] = &s[0].keys[i];
            i++;
            k++;
        }
    }
    if (!rc)
        rc = conditions(t, diff, nd, conds, n_conds, errstr, errstr_size);
    if (rc) {
        for (size_t i = 0; *conds && i < *n_conds; i++)
            free((*conds)[i]);
        free(*conds);
        *conds = NULL;
        *n_conds = 0;
    }
    free(diff);
    stream_free(&s[0]);
    stream_free(&s[1]);
    return rc;
}
