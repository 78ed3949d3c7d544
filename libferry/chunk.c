/*
 * chunk.c - chunk tasks: their Avro form, the range SQL, and the planner
 * that walks a key index in steps (see chunk.h).
 */
#include "chunk.h"

#include "avro_canon.h"
#include "clock.h"
#include "err.h"
#include "mysql_rows.h"
#include "wire.h"

#include <errno.h>
#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* schemas/chunk_task.avsc, byte for byte (test_chunk holds the two together). */
static const char chunk_task_schema[] =
    "{\n"
    "  \"type\": \"record\",\n"
    "  \"name\": \"ChunkTask\",\n"
    "  \"namespace\": \"io.ferry\",\n"
    "  \"doc\": \"one key range of one table to copy; the value of ferry.<project>.tasks (key: the "
    "task id, see libferry/chunk.h)\",\n"
    "  \"fields\": [\n"
    "    {\"name\": \"db\", \"type\": \"string\"},\n"
    "    {\"name\": \"table\", \"type\": \"string\"},\n"
    "    {\"name\": \"chunk_id\", \"type\": \"long\", \"doc\": \"0-based, dense per table and "
    "generation\"},\n"
    "    {\"name\": \"chunks_total\", \"type\": [\"null\", \"long\"], \"default\": null, \"doc\": "
    "\"set on the table's last chunk, once the planner has split the whole table\"},\n"
    "    {\"name\": \"key_columns\", \"type\": {\"type\": \"array\", \"items\": \"string\"}, "
    "\"doc\": \"key column names in key order; empty when the table has no key\"},\n"
    "    {\"name\": \"lower\", \"type\": [\"null\", {\"type\": \"array\", \"items\": \"bytes\"}], "
    "\"default\": null, \"doc\": \"lower bound, one value per key column as the server's text "
    "protocol returns it (text, or the bytes of a binary column); null = from the start\"},\n"
    "    {\"name\": \"lower_inclusive\", \"type\": \"boolean\", \"default\": false},\n"
    "    {\"name\": \"upper\", \"type\": [\"null\", {\"type\": \"array\", \"items\": \"bytes\"}], "
    "\"default\": null, \"doc\": \"upper bound, as lower; null = to the end\"},\n"
    "    {\"name\": \"upper_inclusive\", \"type\": \"boolean\", \"default\": true},\n"
    "    {\"name\": \"estimated_rows\", \"type\": [\"null\", \"long\"], \"default\": null},\n"
    "    {\"name\": \"attempt\", \"type\": \"int\", \"default\": 0},\n"
    "    {\"name\": \"planned_ts_ms\", \"type\": \"long\"},\n"
    "    {\"name\": \"generation\", \"type\": \"int\", \"default\": 0, \"doc\": \"plan generation: "
    "a table copied again gets a new generation, so its task ids and done-markers differ from the "
    "old copy's\"}\n"
    "  ]\n"
    "}\n";

const char *ferry_chunk_task_schema(void)
{
    return chunk_task_schema;
}

/* ---- tasks ------------------------------------------------------------ */

ferry_chunk_task_t *ferry_chunk_task_new(void)
{
    ferry_chunk_task_t *task = calloc(1, sizeof(*task));
    if (!task)
        return NULL;
    task->arena = ferry_arena_new(4096);
    if (!task->arena) {
        free(task);
        return NULL;
    }
    task->db = task->table = "";
    task->chunks_total = -1;
    task->estimated_rows = -1;
    task->upper_inclusive = true;
    return task;
}

void ferry_chunk_task_destroy(ferry_chunk_task_t *task)
{
    if (!task)
        return;
    ferry_arena_destroy(task->arena);
    free(task);
}

static void put_escaped(ferry_strbuf_t *out, const char *s)
{
    for (; *s; s++) {
        if (strchr("\\.#@", *s))
            ferry_strbuf_put(out, "\\", 1);
        ferry_strbuf_put(out, s, 1);
    }
}

void ferry_chunk_task_id(const ferry_chunk_task_t *task, ferry_strbuf_t *out)
{
    put_escaped(out, task->db);
    ferry_strbuf_put(out, ".", 1);
    put_escaped(out, task->table);
    ferry_strbuf_printf(out, "#%lld@%d", (long long)task->chunk_id, (int)task->generation);
}

/* ---- Avro ------------------------------------------------------------- */

static pthread_once_t fingerprint_once = PTHREAD_ONCE_INIT;
static uint64_t fingerprint;

static void compute_fingerprint(void)
{
    char err[256];
    if (ferry_avro_schema_fingerprint(chunk_task_schema, &fingerprint, err, sizeof(err)) != 0)
        fingerprint = 0; /* cannot happen for the fixed text; the unit test checks it */
}

static uint64_t task_fingerprint(void)
{
    pthread_once(&fingerprint_once, compute_fingerprint);
    return fingerprint;
}

static void put_long(ferry_avro_buf_t *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        b->data[b->len++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    b->data[b->len++] = (uint8_t)z;
}

static void put_bytes(ferry_avro_buf_t *b, const void *p, size_t len)
{
    put_long(b, (int64_t)len);
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
}

static void put_bool(ferry_avro_buf_t *b, bool v)
{
    b->data[b->len++] = v ? 1 : 0;
}

static void put_bound(ferry_avro_buf_t *b, const ferry_chunk_value_t *v, size_t n)
{
    if (!v) {
        put_long(b, 0);
        return;
    }
    put_long(b, 1);
    if (n) {
        put_long(b, (int64_t)n);
        for (size_t i = 0; i < n; i++)
            put_bytes(b, v[i].data, v[i].len);
    }
    put_long(b, 0);
}

static void put_opt_long(ferry_avro_buf_t *b, int64_t v)
{
    if (v < 0) {
        put_long(b, 0);
    } else {
        put_long(b, 1);
        put_long(b, v);
    }
}

int ferry_chunk_task_encode(const ferry_chunk_task_t *task, ferry_avro_buf_t *out, char *errstr,
                            size_t errstr_size)
{
    if (!task->db || !task->table || task->chunk_id < 0 || (task->n_keys && !task->key_columns) ||
        ((task->lower || task->upper) && task->n_keys == 0))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not encode chunk task: bounds without key columns, or no "
                             "table name");
    /* worst case: 10 bytes per number and length, plus the payloads */
    size_t need = FERRY_WIRE_SOE_HDR_LEN + 128 + strlen(task->db) + strlen(task->table);
    for (size_t i = 0; i < task->n_keys; i++) {
        need += 20 + strlen(task->key_columns[i]);
        need += task->lower ? task->lower[i].len : 0;
        need += task->upper ? task->upper[i].len : 0;
    }
    if (ferry_avro_buf_reserve(out, need) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not encode chunk task: out of memory");
    out->len += ferry_wire_put_single_object(out->data + out->len, task_fingerprint());
    put_bytes(out, task->db, strlen(task->db));
    put_bytes(out, task->table, strlen(task->table));
    put_long(out, task->chunk_id);
    put_opt_long(out, task->chunks_total);
    if (task->n_keys) {
        put_long(out, (int64_t)task->n_keys);
        for (size_t i = 0; i < task->n_keys; i++)
            put_bytes(out, task->key_columns[i], strlen(task->key_columns[i]));
    }
    put_long(out, 0);
    put_bound(out, task->lower, task->n_keys);
    put_bool(out, task->lower_inclusive);
    put_bound(out, task->upper, task->n_keys);
    put_bool(out, task->upper_inclusive);
    put_opt_long(out, task->estimated_rows);
    put_long(out, task->attempt);
    put_long(out, task->planned_ts_ms);
    put_long(out, task->generation);
    return 0;
}

typedef struct {
    const uint8_t *p, *end;
    int err; /* first error: FERRY_ERR_TRUNCATED or FERRY_ERR_INVALID */
} reader_t;

static int64_t get_long(reader_t *r)
{
    uint64_t z = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->err = r->err ? r->err : FERRY_ERR_TRUNCATED;
            return 0;
        }
        uint8_t c = *r->p++;
        z |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    }
    r->err = r->err ? r->err : FERRY_ERR_INVALID;
    return 0;
}

static const char *get_string(reader_t *r, ferry_arena_t *a, size_t *len_out)
{
    int64_t len = get_long(r);
    if (r->err)
        return NULL;
    if (len < 0 || len > r->end - r->p) {
        r->err = len < 0 ? FERRY_ERR_INVALID : FERRY_ERR_TRUNCATED;
        return NULL;
    }
    char *s = ferry_arena_strndup(a, (const char *)r->p, (size_t)len);
    if (!s) {
        r->err = FERRY_ERR_NOMEM;
        return NULL;
    }
    r->p += len;
    if (len_out)
        *len_out = (size_t)len;
    return s;
}

static bool get_bool(reader_t *r)
{
    if (r->p >= r->end) {
        r->err = r->err ? r->err : FERRY_ERR_TRUNCATED;
        return false;
    }
    uint8_t c = *r->p++;
    if (c > 1)
        r->err = r->err ? r->err : FERRY_ERR_INVALID;
    return c == 1;
}

/* A union index of ["null", T]: false for null. */
static bool get_branch(reader_t *r)
{
    int64_t i = get_long(r);
    if (i != 0 && i != 1)
        r->err = r->err ? r->err : FERRY_ERR_INVALID;
    return i == 1;
}

static int64_t get_opt_long(reader_t *r)
{
    if (!get_branch(r))
        return -1;
    int64_t v = get_long(r);
    if (v < 0)
        r->err = r->err ? r->err : FERRY_ERR_INVALID;
    return v;
}

/*
 * Reads an Avro array of strings or bytes into *items. Blocks may have
 * negative counts followed by a byte size (the specification allows it).
 */
static size_t get_string_array(reader_t *r, ferry_arena_t *a, ferry_chunk_value_t **items)
{
    size_t n = 0, cap = 0;
    ferry_chunk_value_t *v = NULL;
    for (;;) {
        int64_t count = get_long(r);
        if (r->err || count == 0)
            break;
        if (count < 0) {
            count = -count;
            (void)get_long(r);
        }
        if (count > r->end - r->p) { /* each item takes at least one byte */
            r->err = r->err ? r->err : FERRY_ERR_TRUNCATED;
            break;
        }
        if (n + (size_t)count > cap) {
            size_t ncap = (n + (size_t)count) * 2;
            ferry_chunk_value_t *nv = ferry_arena_alloc(a, ncap * sizeof(*nv));
            if (!nv) {
                r->err = FERRY_ERR_NOMEM;
                break;
            }
            if (n)
                memcpy(nv, v, n * sizeof(*nv));
            v = nv;
            cap = ncap;
        }
        for (int64_t i = 0; i < count && !r->err; i++) {
            v[n].data = get_string(r, a, &v[n].len);
            n++;
        }
    }
    *items = v;
    return r->err ? 0 : n;
}

static const char *decode_err(int err)
{
    return err == FERRY_ERR_TRUNCATED ? "message ends early"
           : err == FERRY_ERR_NOMEM   ? "out of memory"
                                      : "bytes do not match the ChunkTask schema";
}

int ferry_chunk_task_decode(const void *buf, size_t len, ferry_chunk_task_t **out, char *errstr,
                            size_t errstr_size)
{
    *out = NULL;
    ferry_wire_info_t info;
    if (ferry_wire_parse(buf, len, &info) != 0 || info.format != FERRY_WIRE_SINGLE_OBJECT)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not decode chunk task: no single-object header");
    if (info.fingerprint != task_fingerprint())
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                             "could not decode chunk task: schema fingerprint %016llx is not "
                             "ChunkTask's",
                             (unsigned long long)info.fingerprint);
    ferry_chunk_task_t *t = ferry_chunk_task_new();
    if (!t)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not decode chunk task: out of memory");
    reader_t r = {info.body, info.body + info.body_len, 0};
    ferry_arena_t *a = t->arena;
    t->db = get_string(&r, a, NULL);
    t->table = get_string(&r, a, NULL);
    t->chunk_id = get_long(&r);
    t->chunks_total = get_opt_long(&r);
    ferry_chunk_value_t *keys = NULL, *lower = NULL, *upper = NULL;
    t->n_keys = get_string_array(&r, a, &keys);
    size_t n_lower = 0, n_upper = 0;
    bool has_lower = get_branch(&r);
    if (has_lower)
        n_lower = get_string_array(&r, a, &lower);
    t->lower_inclusive = get_bool(&r);
    bool has_upper = get_branch(&r);
    if (has_upper)
        n_upper = get_string_array(&r, a, &upper);
    t->upper_inclusive = get_bool(&r);
    t->estimated_rows = get_opt_long(&r);
    t->attempt = (int32_t)get_long(&r);
    t->planned_ts_ms = get_long(&r);
    t->generation = (int32_t)get_long(&r);
    if (!r.err && (r.p != r.end || t->chunk_id < 0 || (has_lower && n_lower != t->n_keys) ||
                   (has_upper && n_upper != t->n_keys) || ((has_lower || has_upper) && !t->n_keys)))
        r.err = FERRY_ERR_INVALID;
    if (!r.err && t->n_keys) {
        const char **names = ferry_arena_alloc(a, t->n_keys * sizeof(*names));
        if (!names)
            r.err = FERRY_ERR_NOMEM;
        for (size_t i = 0; names && i < t->n_keys; i++)
            names[i] = keys[i].data;
        t->key_columns = names;
    }
    if (r.err) {
        ferry_chunk_task_destroy(t);
        return ferry_err_set(errstr, errstr_size, r.err, "could not decode chunk task: %s",
                             decode_err(r.err));
    }
    t->lower = has_lower ? lower : NULL;
    t->upper = has_upper ? upper : NULL;
    *out = t;
    return 0;
}

/* ---- SQL -------------------------------------------------------------- */

size_t ferry_chunk_key_columns(const ferry_table_t *t, size_t *idx)
{
    size_t n = ferry_table_ncolumns(t), k = 0;
    for (uint16_t pos = 1; pos <= n; pos++) {
        size_t found = k;
        for (size_t i = 0; i < n; i++)
            if (ferry_table_column(t, i)->pk_pos == pos)
                idx[k++] = i;
        if (k == found)
            break; /* positions are dense */
    }
    return k;
}

static bool type_splittable(ferry_type_t type)
{
    switch (type) {
    case FERRY_TYPE_INT:
    case FERRY_TYPE_UINT:
    case FERRY_TYPE_DECIMAL:
    case FERRY_TYPE_YEAR:
    case FERRY_TYPE_DATE:
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
    case FERRY_TYPE_TIME:
    case FERRY_TYPE_UUID:
    case FERRY_TYPE_STRING:
    case FERRY_TYPE_BYTES:
        return true;
    default:
        return false;
    }
}

bool ferry_chunk_table_splittable(const ferry_table_t *t)
{
    size_t n = ferry_table_ncolumns(t);
    size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
    if (!idx)
        return false;
    size_t k = ferry_chunk_key_columns(t, idx);
    bool ok = k > 0;
    for (size_t i = 0; i < k && ok; i++)
        ok = type_splittable(ferry_table_column(t, idx[i])->type);
    free(idx);
    return ok;
}

static bool only_chars(const ferry_chunk_value_t *v, const char *allowed)
{
    if (v->len == 0)
        return false;
    for (size_t i = 0; i < v->len; i++)
        if (v->data[i] == '\0' || !strchr(allowed, v->data[i]))
            return false;
    return true;
}

/* [-]digits[.digits]: nothing that could read as an expression. */
static bool number_text(const ferry_chunk_value_t *v, bool fraction)
{
    size_t i = 0, digits = 0;
    bool dot = false;
    if (i < v->len && v->data[i] == '-')
        i++;
    for (; i < v->len; i++) {
        char c = v->data[i];
        if (c >= '0' && c <= '9') {
            digits++;
        } else if (c == '.' && fraction && !dot && digits) {
            dot = true;
        } else {
            return false;
        }
    }
    return digits > 0 && v->data[v->len - 1] != '.';
}

static void put_hex(ferry_strbuf_t *sb, const ferry_chunk_value_t *v)
{
    static const char digits[] = "0123456789ABCDEF";
    char pair[2];
    for (size_t i = 0; i < v->len; i++) {
        pair[0] = digits[(uint8_t)v->data[i] >> 4];
        pair[1] = digits[(uint8_t)v->data[i] & 15];
        ferry_strbuf_put(sb, pair, 2);
    }
}

int ferry_chunk_sql_literal(ferry_strbuf_t *sb, const ferry_column_t *col,
                            const ferry_chunk_value_t *v, char *errstr, size_t errstr_size)
{
    const char *allowed = NULL;
    bool quote = false;
    switch (col->type) {
    case FERRY_TYPE_INT:
    case FERRY_TYPE_UINT:
    case FERRY_TYPE_DECIMAL:
        if (!number_text(v, col->type == FERRY_TYPE_DECIMAL))
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "bound value of column \"%s\" is not a %s value", col->name,
                                 ferry_type_name(col->type));
        ferry_strbuf_put(sb, v->data, v->len);
        return 0;
    case FERRY_TYPE_YEAR:
    case FERRY_TYPE_DATE:
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
    case FERRY_TYPE_TIME:
        allowed = "-0123456789:. ";
        quote = true;
        break;
    case FERRY_TYPE_UUID:
        allowed = "-0123456789abcdefABCDEF";
        quote = true;
        break;
    case FERRY_TYPE_STRING:
        ferry_strbuf_puts(sb, "_utf8mb4 X'");
        put_hex(sb, v);
        ferry_strbuf_put(sb, "'", 1);
        return 0;
    case FERRY_TYPE_BYTES:
        ferry_strbuf_puts(sb, "X'");
        put_hex(sb, v);
        ferry_strbuf_put(sb, "'", 1);
        return 0;
    default:
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                             "column \"%s\" of type %s cannot bound a key range", col->name,
                             ferry_type_name(col->type));
    }
    if (!only_chars(v, allowed))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "bound value of column \"%s\" is not a %s value", col->name,
                             ferry_type_name(col->type));
    if (quote)
        ferry_strbuf_put(sb, "'", 1);
    ferry_strbuf_put(sb, v->data, v->len);
    if (quote)
        ferry_strbuf_put(sb, "'", 1);
    return 0;
}

/* Appends `col` OP literal. */
static int put_term(ferry_strbuf_t *sb, const ferry_column_t *col, const char *op,
                    const ferry_chunk_value_t *v, char *errstr, size_t errstr_size)
{
    ferry_mysql_rows_quote_ident(sb, col->name);
    ferry_strbuf_puts(sb, op);
    return ferry_chunk_sql_literal(sb, col, v, errstr, errstr_size);
}

/* E(i) = k_i OP v_i for the last column, else (k_i OPs v_i OR (k_i = v_i AND E(i+1))). */
static int put_lexical(ferry_strbuf_t *sb, const ferry_table_t *t, const size_t *idx, size_t n,
                       size_t i, const ferry_chunk_value_t *v, bool gt, bool inclusive,
                       char *errstr, size_t errstr_size)
{
    const ferry_column_t *col = ferry_table_column(t, idx[i]);
    const char *strict = gt ? " > " : " < ";
    if (i == n - 1)
        return put_term(sb, col, inclusive ? (gt ? " >= " : " <= ") : strict, &v[i], errstr,
                        errstr_size);
    int rc;
    ferry_strbuf_put(sb, "(", 1);
    if ((rc = put_term(sb, col, strict, &v[i], errstr, errstr_size)) != 0)
        return rc;
    ferry_strbuf_puts(sb, " OR (");
    if ((rc = put_term(sb, col, " = ", &v[i], errstr, errstr_size)) != 0)
        return rc;
    ferry_strbuf_puts(sb, " AND ");
    if ((rc = put_lexical(sb, t, idx, n, i + 1, v, gt, inclusive, errstr, errstr_size)) != 0)
        return rc;
    ferry_strbuf_puts(sb, "))");
    return 0;
}

/* The key's column indexes, malloc'd; FERRY_ERR_INVALID when t has no key. */
static int key_of(const ferry_table_t *t, size_t **idx, size_t *n, char *errstr, size_t errstr_size)
{
    size_t cols = ferry_table_ncolumns(t);
    *idx = malloc((cols ? cols : 1) * sizeof(**idx));
    if (!*idx)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    *n = ferry_chunk_key_columns(t, *idx);
    if (*n == 0) {
        free(*idx);
        *idx = NULL;
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "table \"%s.%s\" has no key to range over", ferry_table_db(t),
                             ferry_table_name(t));
    }
    return 0;
}

int ferry_chunk_sql_compare(ferry_strbuf_t *sb, const ferry_table_t *t,
                            const ferry_chunk_value_t *v, bool gt, bool inclusive, char *errstr,
                            size_t errstr_size)
{
    size_t *idx = NULL, n = 0;
    int rc = key_of(t, &idx, &n, errstr, errstr_size);
    if (rc)
        return rc;
    if (n > 1) {
        /* a plain range on the first column lets the optimizer use the index */
        ferry_strbuf_put(sb, "(", 1);
        rc = put_term(sb, ferry_table_column(t, idx[0]), gt ? " >= " : " <= ", &v[0], errstr,
                      errstr_size);
        ferry_strbuf_puts(sb, " AND ");
    }
    if (!rc)
        rc = put_lexical(sb, t, idx, n, 0, v, gt, inclusive, errstr, errstr_size);
    if (n > 1)
        ferry_strbuf_put(sb, ")", 1);
    free(idx);
    return rc;
}

static void put_key_list(ferry_strbuf_t *sb, const ferry_table_t *t, const size_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            ferry_strbuf_put(sb, ",", 1);
        ferry_mysql_rows_quote_ident(sb, ferry_table_column(t, idx[i])->name);
    }
}

int ferry_chunk_sql_boundary(ferry_strbuf_t *sb, const ferry_table_t *t,
                             const ferry_chunk_value_t *after, uint64_t offset, char *errstr,
                             size_t errstr_size)
{
    size_t *idx, n;
    int rc = key_of(t, &idx, &n, errstr, errstr_size);
    if (rc)
        return rc;
    ferry_strbuf_puts(sb, "SELECT ");
    put_key_list(sb, t, idx, n);
    ferry_strbuf_puts(sb, " FROM ");
    ferry_mysql_rows_quote_table(sb, t);
    if (after) {
        ferry_strbuf_puts(sb, " WHERE ");
        rc = ferry_chunk_sql_compare(sb, t, after, true, false, errstr, errstr_size);
    }
    ferry_strbuf_puts(sb, " ORDER BY ");
    put_key_list(sb, t, idx, n);
    ferry_strbuf_printf(sb, " LIMIT 1 OFFSET %llu", (unsigned long long)offset);
    free(idx);
    return rc;
}

int ferry_chunk_sql_count(ferry_strbuf_t *sb, const ferry_table_t *t,
                          const ferry_chunk_value_t *after, uint64_t limit, char *errstr,
                          size_t errstr_size)
{
    size_t *idx, n;
    int rc = key_of(t, &idx, &n, errstr, errstr_size);
    if (rc)
        return rc;
    ferry_strbuf_puts(sb, "SELECT COUNT(*) FROM (SELECT 1 FROM ");
    ferry_mysql_rows_quote_table(sb, t);
    if (after) {
        ferry_strbuf_puts(sb, " WHERE ");
        rc = ferry_chunk_sql_compare(sb, t, after, true, false, errstr, errstr_size);
    }
    ferry_strbuf_puts(sb, " ORDER BY ");
    put_key_list(sb, t, idx, n);
    ferry_strbuf_printf(sb, " LIMIT %llu) AS `c`", (unsigned long long)limit);
    free(idx);
    return rc;
}

int ferry_chunk_sql_select(ferry_strbuf_t *sb, const ferry_table_t *t,
                           const ferry_chunk_task_t *task, char *errstr, size_t errstr_size)
{
    return ferry_chunk_sql_select_where(sb, t, task, NULL, errstr, errstr_size);
}

int ferry_chunk_sql_select_where(ferry_strbuf_t *sb, const ferry_table_t *t,
                                 const ferry_chunk_task_t *task, const char *where, char *errstr,
                                 size_t errstr_size)
{
    size_t cols = ferry_table_ncolumns(t);
    size_t *idx = malloc((cols ? cols : 1) * sizeof(*idx));
    if (!idx)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    size_t n = ferry_chunk_key_columns(t, idx);
    int rc = 0;
    bool same = n == task->n_keys;
    for (size_t i = 0; i < n && same; i++)
        same = strcmp(ferry_table_column(t, idx[i])->name, task->key_columns[i]) == 0;
    if (!same) {
        ferry_strbuf_t id = FERRY_STRBUF_INIT;
        ferry_chunk_task_id(task, &id);
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                           "could not read chunk \"%s\" of table \"%s.%s\": the table's key "
                           "columns are not those the chunk was planned with",
                           id.buf ? id.buf : "", ferry_table_db(t), ferry_table_name(t));
        ferry_strbuf_free(&id);
        free(idx);
        return rc;
    }
    ferry_strbuf_puts(sb, "SELECT ");
    ferry_mysql_rows_select_list(sb, t);
    ferry_strbuf_puts(sb, " FROM ");
    ferry_mysql_rows_quote_table(sb, t);
    if (task->lower || task->upper) {
        ferry_strbuf_puts(sb, " WHERE ");
        if (task->lower)
            rc = ferry_chunk_sql_compare(sb, t, task->lower, true, task->lower_inclusive, errstr,
                                         errstr_size);
        if (!rc && task->lower && task->upper)
            ferry_strbuf_puts(sb, " AND ");
        if (!rc && task->upper)
            rc = ferry_chunk_sql_compare(sb, t, task->upper, false, task->upper_inclusive, errstr,
                                         errstr_size);
        if (where)
            ferry_strbuf_printf(sb, " AND (%s)", where);
        ferry_strbuf_puts(sb, " ORDER BY ");
        put_key_list(sb, t, idx, n);
    } else if (where) {
        ferry_strbuf_printf(sb, " WHERE (%s)", where);
    }
    free(idx);
    return rc;
}

/* ---- planner ---------------------------------------------------------- */

struct ferry_chunk_planner {
    MYSQL *conn;
    const ferry_table_t *t;
    uint64_t chunk_rows;
    int32_t generation;
    int64_t next_id;
    bool done, splittable;
    size_t n_keys;
    size_t *idx;
    ferry_chunk_value_t *last; /* upper bound of the previous chunk, or NULL; malloc'd */
    bool estimated;
    int64_t estimate;
};

static void free_values(ferry_chunk_value_t *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free((void *)v[i].data);
    free(v);
}

/* malloc'd copy of n values (NULL when out of memory). */
static ferry_chunk_value_t *copy_values(const ferry_chunk_value_t *v, size_t n)
{
    ferry_chunk_value_t *c = calloc(n ? n : 1, sizeof(*c));
    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char *d = malloc(v[i].len + 1);
        if (!d) {
            free_values(c, i);
            return NULL;
        }
        memcpy(d, v[i].data, v[i].len);
        d[v[i].len] = '\0';
        c[i].data = d;
        c[i].len = v[i].len;
    }
    return c;
}

/* Copy of n values into a task's arena. */
static const ferry_chunk_value_t *arena_values(ferry_arena_t *a, const ferry_chunk_value_t *v,
                                               size_t n)
{
    ferry_chunk_value_t *c = ferry_arena_alloc(a, (n ? n : 1) * sizeof(*c));
    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        c[i].data = ferry_arena_strndup(a, v[i].data, v[i].len);
        if (!c[i].data)
            return NULL;
        c[i].len = v[i].len;
    }
    return c;
}

void ferry_chunk_planner_set_chunk_rows(ferry_chunk_planner_t *p, uint64_t chunk_rows)
{
    p->chunk_rows = chunk_rows ? chunk_rows : 1;
}

int ferry_chunk_planner_new(MYSQL *conn, const ferry_table_t *t, uint64_t chunk_rows,
                            int32_t generation, ferry_chunk_planner_t **out, char *errstr,
                            size_t errstr_size)
{
    *out = NULL;
    if (!conn || !t || chunk_rows == 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not plan chunks: no connection, no table or chunk size 0");
    ferry_chunk_planner_t *p = calloc(1, sizeof(*p));
    size_t cols = ferry_table_ncolumns(t);
    if (p)
        p->idx = malloc((cols ? cols : 1) * sizeof(*p->idx));
    if (!p || !p->idx) {
        free(p);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not plan chunks: out of memory");
    }
    p->conn = conn;
    p->t = t;
    p->chunk_rows = chunk_rows;
    p->generation = generation;
    p->n_keys = ferry_chunk_key_columns(t, p->idx);
    p->splittable = ferry_chunk_table_splittable(t);
    p->estimate = -1;
    *out = p;
    return 0;
}

void ferry_chunk_planner_destroy(ferry_chunk_planner_t *p)
{
    if (!p)
        return;
    free_values(p->last, p->n_keys);
    free(p->idx);
    free(p);
}

int ferry_chunk_planner_resume(ferry_chunk_planner_t *p, const ferry_chunk_task_t *last,
                               char *errstr, size_t errstr_size)
{
    if (last->n_keys != p->n_keys || (last->upper && !p->splittable))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not resume planning table \"%s.%s\": its key changed since "
                             "chunk %lld was planned",
                             ferry_table_db(p->t), ferry_table_name(p->t),
                             (long long)last->chunk_id);
    free_values(p->last, p->n_keys);
    p->last = NULL;
    p->next_id = last->chunk_id + 1;
    p->done = last->upper == NULL;
    if (last->upper && !(p->last = copy_values(last->upper, p->n_keys)))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not resume planning: out of memory");
    return 0;
}

bool ferry_chunk_planner_done(const ferry_chunk_planner_t *p)
{
    return p->done;
}

static int query_failed(ferry_chunk_planner_t *p, const char *what, char *errstr,
                        size_t errstr_size)
{
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "could not %s of table \"%s.%s\": %s",
                         what, ferry_table_db(p->t), ferry_table_name(p->t), mysql_error(p->conn));
}

int64_t ferry_chunk_planner_estimate(ferry_chunk_planner_t *p)
{
    if (p->estimated)
        return p->estimate;
    ferry_strbuf_t sql = FERRY_STRBUF_INIT;
    ferry_column_t text = {.name = "", .type = FERRY_TYPE_STRING};
    ferry_chunk_value_t db = {ferry_table_db(p->t), strlen(ferry_table_db(p->t))};
    ferry_chunk_value_t name = {ferry_table_name(p->t), strlen(ferry_table_name(p->t))};
    ferry_strbuf_puts(&sql, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE "
                            "TABLE_SCHEMA = ");
    ferry_chunk_sql_literal(&sql, &text, &db, NULL, 0);
    ferry_strbuf_puts(&sql, " AND TABLE_NAME = ");
    ferry_chunk_sql_literal(&sql, &text, &name, NULL, 0);
    MYSQL_RES *res = NULL;
    if (!sql.oom && mysql_real_query(p->conn, sql.buf, sql.len) == 0 &&
        (res = mysql_store_result(p->conn)) != NULL) {
        MYSQL_ROW row = mysql_fetch_row(res);
        if (row && row[0])
            p->estimate = strtoll(row[0], NULL, 10);
        p->estimated = true;
    }
    mysql_free_result(res);
    ferry_strbuf_free(&sql);
    return p->estimate;
}

/* Runs a query that returns at most one row; *res is NULL on error. */
static int one_row(ferry_chunk_planner_t *p, const ferry_strbuf_t *sql, const char *what,
                   MYSQL_RES **res, MYSQL_ROW *row, char *errstr, size_t errstr_size)
{
    *res = NULL;
    *row = NULL;
    if (sql->oom)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (mysql_real_query(p->conn, sql->buf, sql->len) != 0 ||
        (*res = mysql_store_result(p->conn)) == NULL)
        return query_failed(p, what, errstr, errstr_size);
    *row = mysql_fetch_row(*res);
    return 0;
}

/* One boundary step: fills the task's bounds and size, advances p->last. */
static int plan_range(ferry_chunk_planner_t *p, ferry_chunk_task_t *task, char *errstr,
                      size_t errstr_size)
{
    ferry_strbuf_t sql = FERRY_STRBUF_INIT;
    MYSQL_RES *res;
    MYSQL_ROW row;
    int rc = ferry_chunk_sql_boundary(&sql, p->t, p->last, p->chunk_rows - 1, errstr, errstr_size);
    if (!rc)
        rc = one_row(p, &sql, "find the next chunk boundary", &res, &row, errstr, errstr_size);
    ferry_strbuf_free(&sql);
    if (rc)
        return rc;
    if (p->last && !(task->lower = arena_values(task->arena, p->last, p->n_keys))) {
        mysql_free_result(res);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    if (row) {
        unsigned long *lens = mysql_fetch_lengths(res);
        ferry_chunk_value_t *up = ferry_arena_alloc(task->arena, p->n_keys * sizeof(*up));
        for (size_t i = 0; up && i < p->n_keys; i++) {
            up[i].data = row[i] ? ferry_arena_strndup(task->arena, row[i], lens[i]) : NULL;
            up[i].len = lens[i];
            if (!up[i].data)
                up = NULL;
        }
        mysql_free_result(res);
        ferry_chunk_value_t *last = up ? copy_values(up, p->n_keys) : NULL;
        if (!last)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                                 "could not plan a chunk: out of memory or NULL key value");
        free_values(p->last, p->n_keys);
        p->last = last;
        task->upper = up;
        task->estimated_rows = (int64_t)p->chunk_rows;
        return 0;
    }
    mysql_free_result(res);
    /* the rest of the table is smaller than a chunk: count it exactly */
    rc = ferry_chunk_sql_count(&sql, p->t, p->last, p->chunk_rows, errstr, errstr_size);
    if (!rc)
        rc = one_row(p, &sql, "count the last chunk", &res, &row, errstr, errstr_size);
    ferry_strbuf_free(&sql);
    if (rc)
        return rc;
    task->estimated_rows = row && row[0] ? strtoll(row[0], NULL, 10) : -1;
    mysql_free_result(res);
    task->chunks_total = task->chunk_id + 1;
    p->done = true;
    return 0;
}

/* The next task; with rest, the rest of the table without asking the server. */
static int planner_next(ferry_chunk_planner_t *p, bool rest, ferry_chunk_task_t **out, char *errstr,
                        size_t errstr_size)
{
    *out = NULL;
    if (p->done)
        return 0;
    ferry_chunk_task_t *task = ferry_chunk_task_new();
    const char **names =
        task ? ferry_arena_alloc(task->arena, (p->n_keys + 1) * sizeof(*names)) : NULL;
    if (names) {
        task->db = ferry_arena_strdup(task->arena, ferry_table_db(p->t));
        task->table = ferry_arena_strdup(task->arena, ferry_table_name(p->t));
        for (size_t i = 0; i < p->n_keys; i++)
            if (!(names[i] =
                      ferry_arena_strdup(task->arena, ferry_table_column(p->t, p->idx[i])->name)))
                names = NULL;
    }
    if (!names || !task->db || !task->table) {
        ferry_chunk_task_destroy(task);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not plan a chunk: out of memory");
    }
    task->key_columns = names;
    task->n_keys = p->n_keys;
    task->chunk_id = p->next_id;
    task->generation = p->generation;
    task->lower_inclusive = false;
    task->upper_inclusive = true;
    task->planned_ts_ms = ferry_wall_ms();
    int rc = 0;
    if (rest) {
        if (p->last && !(task->lower = arena_values(task->arena, p->last, p->n_keys)))
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        task->estimated_rows = -1;
        task->chunks_total = task->chunk_id + 1;
        p->done = rc == 0;
    } else if (p->splittable) {
        rc = plan_range(p, task, errstr, errstr_size);
    } else {
        /* no key, or one that cannot bound a range: the whole table is one chunk */
        task->estimated_rows = ferry_chunk_planner_estimate(p);
        task->chunks_total = task->chunk_id + 1;
        p->done = true;
    }
    if (rc) {
        ferry_chunk_task_destroy(task);
        return rc;
    }
    p->next_id++;
    *out = task;
    return 0;
}

int ferry_chunk_planner_next(ferry_chunk_planner_t *p, ferry_chunk_task_t **out, char *errstr,
                             size_t errstr_size)
{
    return planner_next(p, false, out, errstr, errstr_size);
}

int ferry_chunk_planner_rest(ferry_chunk_planner_t *p, ferry_chunk_task_t **out, char *errstr,
                             size_t errstr_size)
{
    return planner_next(p, true, out, errstr, errstr_size);
}
