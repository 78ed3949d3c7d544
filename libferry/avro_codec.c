/*
 * avro_codec.c - compiled Avro encode/decode plans for change events (see
 * avro_codec.h).
 *
 * Compilation walks the schema tree once and turns every record into an
 * array of ops: for a column, how its row value converts to the Avro wire
 * type (conv), which union branch is null, and where in the row it goes.
 * Encoding and decoding are then one loop with one switch per field.
 *
 * The decoder treats its input as hostile: every varint is bounded to ten
 * bytes, every length is checked against what is left, every union index
 * and boolean against its range, and skipping unknown fields is depth-limited.
 */
#include "avro_codec.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_canon.h"
#include "avro_schema.h"
#include "err.h"

#define MAX_SKIP_DEPTH 64

/* ---- buffers ---------------------------------------------------------- */

int ferry_avro_buf_reserve(ferry_avro_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return FERRY_ERR_NOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    uint8_t *nd = realloc(b->data, cap);
    if (!nd)
        return FERRY_ERR_NOMEM;
    b->data = nd;
    b->cap = cap;
    return 0;
}

void ferry_avro_buf_free(ferry_avro_buf_t *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- plans ------------------------------------------------------------ */

/* How a column value converts to and from its Avro wire type. */
enum conv {
    CV_SKIP = 0,    /* unknown field: skipped when decoding, null when encoding */
    CV_RAWMAP,      /* the record's FERRY_AVRO_RAW_FIELD map */
    CV_BOOL,        /* v.b <-> boolean */
    CV_INT,         /* v.i <-> int/long */
    CV_UINT_INT,    /* v.u <-> int/long */
    CV_UINT_DEC,    /* v.u <-> bytes decimal(20,0) */
    CV_FLOAT,       /* v.f <-> float */
    CV_DOUBLE,      /* v.d <-> double */
    CV_DEC_BYTES,   /* decimal text <-> bytes decimal(p,s) */
    CV_DEC_STRING,  /* decimal text <-> string */
    CV_DATE,        /* civil <-> int days */
    CV_TIME_MICROS, /* v.i <-> long */
    CV_TIME_MILLIS, /* v.i <-> int milliseconds */
    CV_TS_MICROS,   /* civil <-> long microseconds since the epoch */
    CV_TS_MILLIS,   /* civil <-> long milliseconds since the epoch */
    CV_STRING,      /* v.s <-> string */
    CV_BYTES,       /* v.s <-> bytes */
    CV_BIT_BOOL,    /* v.u <-> boolean */
    CV_BIT_BYTES,   /* v.u <-> little-endian bytes */
    CV_UUID,        /* v.uuid <-> 36-character string */
    CV_INTERVAL,    /* v.iv <-> ISO 8601 string */
    CV_GEOMETRY,    /* v.s + aux <-> {wkb: bytes, srid: [null, int]} */
};

typedef struct {
    uint8_t conv;
    uint8_t wire;     /* ferry_avro_kind_t of the value branch */
    int8_t null_idx;  /* branch index of null, -1 when the field is no union */
    int8_t val_idx;   /* branch index of the value, -1 when the field is no union */
    int8_t sub_null;  /* GEOMETRY: srid's null branch (-1: srid is a plain int) */
    int8_t sub_val;   /* GEOMETRY: srid's int branch */
    bool raw_ok;      /* a value its type cannot carry may go to the raw map */
    int16_t scale;    /* DEC_BYTES */
    uint32_t nbytes;  /* BIT_BYTES: byte count */
    uint32_t idx;     /* value index in the record's row */
    uint32_t ordinal; /* index in the full table (Key records) */
    const char *name; /* Avro field name */
    size_t name_len;
    const ferry_avro_node_t *node; /* the field's type */
} fop_t;

typedef struct rplan {
    const ferry_avro_node_t *node;
    fop_t *ops;
    size_t n_ops;
    size_t n_cols;
    bool can_encode;
    ferry_table_t *table;
    struct rplan *next; /* codec's list, for freeing */
} rplan_t;

/* Members of ferry_source_t / ferry_txn_t a record field can map to. */
enum mkind { MK_STR, MK_I64, MK_I32 };

typedef struct {
    const char *name;
    uint8_t kind;
    size_t off;
    uint32_t bit; /* presence bit in ferry_source_t.present; 0 = always there */
} member_t;

static const member_t SOURCE_MEMBERS[] = {
    {"version", MK_STR, offsetof(ferry_source_t, version), 0},
    {"connector", MK_STR, offsetof(ferry_source_t, connector), 0},
    {"name", MK_STR, offsetof(ferry_source_t, name), 0},
    {"ts_ms", MK_I64, offsetof(ferry_source_t, ts_ms), 0},
    {"snapshot", MK_STR, offsetof(ferry_source_t, snapshot), 0},
    {"db", MK_STR, offsetof(ferry_source_t, db), 0},
    {"table", MK_STR, offsetof(ferry_source_t, table), 0},
    {"server_id", MK_I64, offsetof(ferry_source_t, server_id), FERRY_SOURCE_SERVER_ID},
    {"gtid", MK_STR, offsetof(ferry_source_t, gtid), 0},
    {"file", MK_STR, offsetof(ferry_source_t, file), 0},
    {"pos", MK_I64, offsetof(ferry_source_t, pos), FERRY_SOURCE_POS},
    {"row", MK_I32, offsetof(ferry_source_t, row), FERRY_SOURCE_ROW},
    {"lsn", MK_I64, offsetof(ferry_source_t, lsn), FERRY_SOURCE_LSN},
    {"txId", MK_I64, offsetof(ferry_source_t, tx_id), FERRY_SOURCE_TX_ID},
};

static const member_t TXN_MEMBERS[] = {
    {"id", MK_STR, offsetof(ferry_txn_t, id), 0},
    {"total_order", MK_I64, offsetof(ferry_txn_t, total_order), 0},
    {"data_collection_order", MK_I64, offsetof(ferry_txn_t, data_collection_order), 0},
};

typedef struct {
    int member; /* index into the member table, -1 = unknown field */
    uint8_t wire;
    int8_t null_idx, val_idx;
    const char *name;
    const ferry_avro_node_t *node;
} mop_t;

typedef struct {
    const member_t *members;
    mop_t *ops;
    size_t n_ops;
    bool can_encode;
} mplan_t;

enum role { E_SKIP, E_BEFORE, E_AFTER, E_SOURCE, E_OP, E_TS_MS, E_TXN };

typedef struct {
    uint8_t role;
    uint8_t wire;
    int8_t null_idx, val_idx;
    const char *name;
    const ferry_avro_node_t *node;
    rplan_t *rp; /* BEFORE, AFTER */
} eop_t;

struct ferry_avro_codec {
    ferry_arena_t *arena; /* schema tree, ops */
    bool envelope;
    rplan_t *row;   /* Value record, or the record itself */
    rplan_t *plans; /* all record plans, for freeing */
    eop_t *eops;
    size_t n_eops;
    mplan_t source, txn;
    bool can_encode;
    uint64_t fingerprint;
};

/* ---- wire primitives -------------------------------------------------- */

#define NEED(b, n)                                                                                 \
    do {                                                                                           \
        if ((b)->cap - (b)->len < (n) && ferry_avro_buf_reserve((b), (n)))                         \
            return FERRY_ERR_NOMEM;                                                                \
    } while (0)

static inline void raw_long(ferry_avro_buf_t *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
    uint8_t *p = b->data + b->len;
    while (z > 0x7F) {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    b->len = (size_t)(p - b->data);
}

static inline int put_long(ferry_avro_buf_t *b, int64_t v)
{
    NEED(b, 10);
    raw_long(b, v);
    return 0;
}

static inline int put_bytes(ferry_avro_buf_t *b, const void *p, size_t n)
{
    NEED(b, 10 + n);
    raw_long(b, (int64_t)n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static inline int put_byte(ferry_avro_buf_t *b, uint8_t v)
{
    NEED(b, 1);
    b->data[b->len++] = v;
    return 0;
}

static int put_le(ferry_avro_buf_t *b, uint64_t v, int n)
{
    NEED(b, (size_t)n);
    for (int i = 0; i < n; i++)
        b->data[b->len++] = (uint8_t)(v >> (8 * i));
    return 0;
}

typedef struct {
    const uint8_t *p, *end;
} rd_t;

static inline int get_long(rd_t *r, int64_t *out)
{
    uint64_t z = 0;
    for (int shift = 0;; shift += 7) {
        if (r->p >= r->end)
            return FERRY_ERR_TRUNCATED;
        uint8_t c = *r->p++;
        if (shift == 63 && c > 1)
            return FERRY_ERR_INVALID; /* more than 64 bits */
        z |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80))
            break;
        if (shift == 63)
            return FERRY_ERR_INVALID;
    }
    *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    return 0;
}

static inline int get_int(rd_t *r, int64_t *out)
{
    int rc = get_long(r, out);
    if (!rc && (*out < INT32_MIN || *out > INT32_MAX))
        return FERRY_ERR_INVALID;
    return rc;
}

static inline int get_bytes(rd_t *r, const uint8_t **p, size_t *n)
{
    int64_t len;
    int rc = get_long(r, &len);
    if (rc)
        return rc;
    if (len < 0)
        return FERRY_ERR_INVALID;
    if ((uint64_t)len > (uint64_t)(r->end - r->p))
        return FERRY_ERR_TRUNCATED;
    *p = r->p;
    *n = (size_t)len;
    r->p += len;
    return 0;
}

static inline int get_le(rd_t *r, int n, uint64_t *out)
{
    if (r->end - r->p < n)
        return FERRY_ERR_TRUNCATED;
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    *out = v;
    return 0;
}

/* Reads a union index and says whether it picked the null branch. */
static inline int get_branch(rd_t *r, int8_t null_idx, int8_t val_idx, bool *is_null)
{
    int64_t i;
    int rc = get_long(r, &i);
    if (rc)
        return rc;
    if (i == null_idx && null_idx >= 0)
        *is_null = true;
    else if (i == val_idx)
        *is_null = false;
    else
        return FERRY_ERR_INVALID;
    return 0;
}

/*
 * Reads the item count that opens a block of an array or map; 0 ends the
 * container. A negative count is followed by the block's size in bytes (so
 * that a reader can skip the block): the count comes back positive and
 * *size set; otherwise *size is -1.
 */
static int get_block_count(rd_t *r, int64_t *count, int64_t *size)
{
    int rc;
    *size = -1;
    if ((rc = get_long(r, count)))
        return rc;
    if (*count >= 0)
        return 0;
    if (*count == INT64_MIN)
        return FERRY_ERR_INVALID;
    *count = -*count;
    if ((rc = get_long(r, size)))
        return rc;
    return *size < 0 ? FERRY_ERR_INVALID : 0;
}

static int skip_node(rd_t *r, const ferry_avro_node_t *n, int depth)
{
    if (depth > MAX_SKIP_DEPTH)
        return FERRY_ERR_INVALID;
    int64_t v;
    const uint8_t *p;
    size_t len;
    int rc = 0;
    switch (n->kind) {
    case FERRY_AVRO_NULL:
        return 0;
    case FERRY_AVRO_BOOLEAN:
        if (r->p >= r->end)
            return FERRY_ERR_TRUNCATED;
        return *r->p++ > 1 ? FERRY_ERR_INVALID : 0;
    case FERRY_AVRO_INT:
    case FERRY_AVRO_LONG:
    case FERRY_AVRO_ENUM:
        return get_long(r, &v);
    case FERRY_AVRO_FLOAT:
    case FERRY_AVRO_DOUBLE: {
        int sz = n->kind == FERRY_AVRO_FLOAT ? 4 : 8;
        if (r->end - r->p < sz)
            return FERRY_ERR_TRUNCATED;
        r->p += sz;
        return 0;
    }
    case FERRY_AVRO_BYTES:
    case FERRY_AVRO_STRING:
        return get_bytes(r, &p, &len);
    case FERRY_AVRO_FIXED:
        if ((uint64_t)(r->end - r->p) < n->size)
            return FERRY_ERR_TRUNCATED;
        r->p += n->size;
        return 0;
    case FERRY_AVRO_RECORD:
        for (size_t i = 0; i < n->n && !rc; i++)
            rc = skip_node(r, n->sub[i], depth + 1);
        return rc;
    case FERRY_AVRO_UNION:
        if ((rc = get_long(r, &v)))
            return rc;
        if (v < 0 || (uint64_t)v >= n->n)
            return FERRY_ERR_INVALID;
        return skip_node(r, n->sub[v], depth + 1);
    case FERRY_AVRO_ARRAY:
    case FERRY_AVRO_MAP:
        for (;;) {
            int64_t count, size;
            if ((rc = get_block_count(r, &count, &size)))
                return rc;
            if (count == 0)
                return 0;
            if (size >= 0) {
                /* a block with its byte size: skip it whole */
                if ((uint64_t)size > (uint64_t)(r->end - r->p))
                    return FERRY_ERR_TRUNCATED;
                r->p += size;
                continue;
            }
            for (int64_t k = 0; k < count; k++) {
                const uint8_t *before = r->p;
                if (n->kind == FERRY_AVRO_MAP && (rc = get_bytes(r, &p, &len)))
                    return rc;
                if ((rc = skip_node(r, n->sub[0], depth + 1)))
                    return rc;
                /*
                 * Only null and records of nulls encode to nothing, and then
                 * every item does: stop instead of counting to a huge count.
                 */
                if (r->p == before)
                    break;
            }
        }
    }
    return FERRY_ERR_INVALID;
}

/* ---- compiling -------------------------------------------------------- */

typedef struct {
    ferry_avro_codec_t *c;
    char *errstr;
    size_t errstr_size;
} comp_t;

static int cfail(comp_t *cp, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int cfail(comp_t *cp, int err, const char *fmt, ...)
{
    if (cp->errstr && cp->errstr_size) {
        int n = snprintf(cp->errstr, cp->errstr_size, "could not compile avro schema: ");
        if (n > 0 && (size_t)n < cp->errstr_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(cp->errstr + n, cp->errstr_size - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return err;
}

/* Splits a field type into its null branch and value branch. */
static int unwrap_union(const ferry_avro_node_t *t, const ferry_avro_node_t **vt, int8_t *null_idx,
                        int8_t *val_idx)
{
    *null_idx = -1;
    *val_idx = -1;
    *vt = t;
    if (t->kind != FERRY_AVRO_UNION)
        return 0;
    if (t->n == 1) {
        *val_idx = 0;
        *vt = t->sub[0];
        return 0;
    }
    if (t->n != 2)
        return -1;
    int ni = t->sub[0]->kind == FERRY_AVRO_NULL ? 0 : t->sub[1]->kind == FERRY_AVRO_NULL ? 1 : -1;
    if (ni < 0)
        return -1;
    *null_idx = (int8_t)ni;
    *val_idx = (int8_t)(1 - ni);
    *vt = t->sub[1 - ni];
    return 0;
}

static const char *connect_name(const ferry_avro_node_t *n)
{
    return n->json ? ferry_avro_json_get_str(n->json, "connect.name") : NULL;
}

static bool is_logical(const ferry_avro_node_t *n, const char *logical, const char *connect)
{
    if (logical && n->logical_type && strcmp(n->logical_type, logical) == 0)
        return true;
    const char *cn = connect_name(n);
    return connect && cn && strcmp(cn, connect) == 0;
}

static int64_t json_int(const ferry_avro_json_t *obj, const char *key, int64_t dflt)
{
    const ferry_avro_json_t *m = ferry_avro_json_get(obj, key);
    return m && m->kind == FERRY_AVRO_JSON_NUMBER && m->is_int ? m->ival : dflt;
}

static bool json_bool(const ferry_avro_json_t *obj, const char *key)
{
    const ferry_avro_json_t *m = ferry_avro_json_get(obj, key);
    return m && m->kind == FERRY_AVRO_JSON_BOOL && m->boolean;
}

static bool is_geometry_record(const ferry_avro_node_t *t)
{
    return t->kind == FERRY_AVRO_RECORD && t->n == 2 && strcmp(t->names[0], "wkb") == 0 &&
           t->sub[0]->kind == FERRY_AVRO_BYTES && strcmp(t->names[1], "srid") == 0;
}

/* A column type for a field that has no "ferry.type", from its Avro type. */
static ferry_type_t infer_type(const ferry_avro_node_t *t)
{
    switch (t->kind) {
    case FERRY_AVRO_BOOLEAN:
        return FERRY_TYPE_BOOL;
    case FERRY_AVRO_INT:
        if (is_logical(t, "date", "io.debezium.time.Date"))
            return FERRY_TYPE_DATE;
        if (is_logical(t, "time-millis", "io.debezium.time.Time"))
            return FERRY_TYPE_TIME;
        if (is_logical(t, NULL, "io.debezium.time.Year"))
            return FERRY_TYPE_YEAR;
        return FERRY_TYPE_INT;
    case FERRY_AVRO_LONG:
        if (is_logical(t, "timestamp-micros", "io.debezium.time.MicroTimestamp") ||
            is_logical(t, "timestamp-millis", "io.debezium.time.Timestamp") ||
            is_logical(t, "local-timestamp-micros", NULL) ||
            is_logical(t, "local-timestamp-millis", NULL))
            return FERRY_TYPE_DATETIME;
        if (is_logical(t, "time-micros", "io.debezium.time.MicroTime"))
            return FERRY_TYPE_TIME;
        return FERRY_TYPE_INT;
    case FERRY_AVRO_FLOAT:
        return FERRY_TYPE_FLOAT;
    case FERRY_AVRO_DOUBLE:
        return FERRY_TYPE_DOUBLE;
    case FERRY_AVRO_BYTES:
        if (is_logical(t, "decimal", "org.apache.kafka.connect.data.Decimal"))
            return FERRY_TYPE_DECIMAL;
        if (is_logical(t, NULL, "io.debezium.data.Bits"))
            return FERRY_TYPE_BIT;
        return FERRY_TYPE_BYTES;
    case FERRY_AVRO_STRING:
        if (is_logical(t, "uuid", "io.debezium.data.Uuid"))
            return FERRY_TYPE_UUID;
        if (is_logical(t, NULL, "io.debezium.data.Json"))
            return FERRY_TYPE_JSON;
        if (is_logical(t, NULL, "io.debezium.data.Enum"))
            return FERRY_TYPE_ENUM;
        if (is_logical(t, NULL, "io.debezium.data.EnumSet"))
            return FERRY_TYPE_SET;
        return FERRY_TYPE_STRING;
    case FERRY_AVRO_RECORD:
        return is_geometry_record(t) ? FERRY_TYPE_GEOMETRY : 0;
    default:
        return 0;
    }
}

static bool is_millis(const ferry_avro_node_t *t)
{
    return is_logical(t, "timestamp-millis", "io.debezium.time.Timestamp") ||
           is_logical(t, "local-timestamp-millis", NULL) ||
           is_logical(t, "time-millis", "io.debezium.time.Time");
}

/* Picks the conversion of a column of type ft carried as Avro type t. */
static int pick_conv(ferry_type_t ft, const ferry_avro_node_t *t, fop_t *op)
{
    ferry_avro_kind_t k = t->kind;
    bool intlike = k == FERRY_AVRO_INT || k == FERRY_AVRO_LONG;
    bool dec = k == FERRY_AVRO_BYTES && is_logical(t, "decimal", NULL);
    switch (ft) {
    case FERRY_TYPE_BOOL:
        op->conv = k == FERRY_AVRO_BOOLEAN ? CV_BOOL : 0;
        break;
    case FERRY_TYPE_INT:
    case FERRY_TYPE_YEAR:
        op->conv = intlike ? CV_INT : 0;
        break;
    case FERRY_TYPE_UINT:
        op->conv = intlike ? CV_UINT_INT : dec ? CV_UINT_DEC : 0;
        break;
    case FERRY_TYPE_FLOAT:
        op->conv = k == FERRY_AVRO_FLOAT ? CV_FLOAT : 0;
        break;
    case FERRY_TYPE_DOUBLE:
        op->conv = k == FERRY_AVRO_DOUBLE ? CV_DOUBLE : 0;
        break;
    case FERRY_TYPE_DECIMAL:
        op->conv = dec ? CV_DEC_BYTES : k == FERRY_AVRO_STRING ? CV_DEC_STRING : 0;
        break;
    case FERRY_TYPE_DATE:
        op->conv = k == FERRY_AVRO_INT ? CV_DATE : 0;
        break;
    case FERRY_TYPE_TIME:
        op->conv = k == FERRY_AVRO_LONG                  ? CV_TIME_MICROS
                   : k == FERRY_AVRO_INT && is_millis(t) ? CV_TIME_MILLIS
                                                         : 0;
        break;
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        op->conv = k == FERRY_AVRO_LONG ? (is_millis(t) ? CV_TS_MILLIS : CV_TS_MICROS) : 0;
        break;
    case FERRY_TYPE_STRING:
    case FERRY_TYPE_ENUM:
    case FERRY_TYPE_SET:
    case FERRY_TYPE_JSON:
    case FERRY_TYPE_ARRAY:
        op->conv = k == FERRY_AVRO_STRING ? CV_STRING : k == FERRY_AVRO_BYTES ? CV_BYTES : 0;
        break;
    case FERRY_TYPE_BYTES:
        op->conv = k == FERRY_AVRO_BYTES ? CV_BYTES : k == FERRY_AVRO_STRING ? CV_STRING : 0;
        break;
    case FERRY_TYPE_BIT:
        op->conv = k == FERRY_AVRO_BOOLEAN ? CV_BIT_BOOL : k == FERRY_AVRO_BYTES ? CV_BIT_BYTES : 0;
        break;
    case FERRY_TYPE_UUID:
        op->conv = k == FERRY_AVRO_STRING ? CV_UUID : 0;
        break;
    case FERRY_TYPE_INTERVAL:
        op->conv = k == FERRY_AVRO_STRING ? CV_INTERVAL : 0;
        break;
    case FERRY_TYPE_GEOMETRY:
        op->conv = 0;
        if (is_geometry_record(t)) {
            const ferry_avro_node_t *st;
            if (unwrap_union(t->sub[1], &st, &op->sub_null, &op->sub_val) == 0 &&
                st->kind == FERRY_AVRO_INT)
                op->conv = CV_GEOMETRY;
        }
        break;
    }
    if (!op->conv)
        return -1;
    op->wire = (uint8_t)k;
    return 0;
}

static bool is_raw_map_field(const ferry_avro_node_t *rec, size_t i)
{
    const ferry_avro_node_t *t = rec->sub[i];
    return (strcmp(rec->names[i], FERRY_AVRO_RAW_FIELD) == 0 ||
            json_bool(rec->field_json[i], "ferry.raw")) &&
           t->kind == FERRY_AVRO_MAP && t->sub[0]->kind == FERRY_AVRO_STRING;
}

static int compile_column(comp_t *cp, rplan_t *rp, size_t i, fop_t *op)
{
    const ferry_avro_node_t *rec = rp->node;
    const ferry_avro_json_t *fj = rec->field_json[i];
    const ferry_avro_node_t *vt;
    if (unwrap_union(rec->sub[i], &vt, &op->null_idx, &op->val_idx))
        return cfail(cp, FERRY_ERR_UNSUPPORTED,
                     "field \"%s\" of \"%s\" is a union ferry cannot map to a column",
                     rec->names[i], rec->fullname);
    ferry_column_t col = {0};
    const char *tname = ferry_avro_json_get_str(fj, "ferry.type");
    bool ours = tname != NULL;
    col.type = ours ? ferry_type_from_name(tname) : infer_type(vt);
    if (!col.type || pick_conv(col.type, vt, op))
        return cfail(cp, FERRY_ERR_UNSUPPORTED,
                     "field \"%s\" of \"%s\" has Avro type %s that ferry cannot map to a "
                     "column%s%s",
                     rec->names[i], rec->fullname, ferry_avro_kind_name(vt->kind),
                     ours ? " of type " : "", ours ? tname : "");
    const char *orig = ferry_avro_json_get_str(fj, "ferry.column");
    col.name = orig ? orig : rec->names[i];
    col.source_type = ferry_avro_json_get_str(fj, "ferry.source_type");
    col.charset = ferry_avro_json_get_str(fj, "ferry.charset");
    bool nullable = ours ? json_bool(fj, "ferry.nullable") : op->null_idx >= 0;
    col.flags =
        (nullable ? FERRY_COL_NULLABLE : 0) |
        (json_bool(fj, "ferry.unsigned") || col.type == FERRY_TYPE_UINT ? FERRY_COL_UNSIGNED : 0);
    col.length = (uint32_t)json_int(fj, "ferry.length", 0);
    col.pk_pos = (uint16_t)json_int(fj, "ferry.pk", 0);
    if (col.type == FERRY_TYPE_DECIMAL) {
        col.precision = (uint16_t)json_int(fj, "ferry.precision",
                                           vt->json ? json_int(vt->json, "precision", 0) : 0);
        col.scale =
            (int16_t)json_int(fj, "ferry.scale", vt->json ? json_int(vt->json, "scale", 0) : 0);
        if (op->conv == CV_DEC_BYTES && vt->json)
            col.scale = (int16_t)json_int(vt->json, "scale", 0);
        if (col.scale < 0 || col.scale > FERRY_DECIMAL_MAX_DIGITS)
            return cfail(cp, FERRY_ERR_INVALID, "field \"%s\" has a bad scale", rec->names[i]);
    }
    if (col.type == FERRY_TYPE_TIME || col.type == FERRY_TYPE_DATETIME ||
        col.type == FERRY_TYPE_TIMESTAMP) {
        int64_t fsp = json_int(fj, "ferry.fsp", is_millis(vt) ? 3 : 6);
        col.fsp = (int8_t)(fsp >= 0 && fsp <= 6 ? fsp : 6);
    }
    if (col.type == FERRY_TYPE_BIT && col.length == 0)
        col.length = vt->kind == FERRY_AVRO_BOOLEAN ? 1 : 64;
    const ferry_avro_json_t *members = ferry_avro_json_get(fj, "ferry.members");
    const char **mv = NULL;
    if (members && members->kind == FERRY_AVRO_JSON_ARRAY && members->count &&
        (col.type == FERRY_TYPE_ENUM || col.type == FERRY_TYPE_SET)) {
        mv = ferry_arena_calloc(cp->c->arena, members->count, sizeof(char *));
        if (!mv)
            return cfail(cp, FERRY_ERR_NOMEM, "out of memory");
        size_t k = 0;
        for (const ferry_avro_json_t *m = members->head; m; m = m->next)
            mv[k++] = m->kind == FERRY_AVRO_JSON_STRING ? m->str : "";
        col.members = mv;
        col.n_members = (uint32_t)members->count;
    }
    op->scale = col.scale;
    op->nbytes = col.length ? (col.length + 7) / 8 : 8;
    if (op->nbytes > 8)
        op->nbytes = 8;
    op->raw_ok = op->null_idx >= 0;
    op->idx = (uint32_t)rp->n_cols;
    int64_t ord = json_int(fj, "ferry.ordinal", (int64_t)rp->n_cols);
    op->ordinal = ord >= 0 && ord <= UINT32_MAX ? (uint32_t)ord : (uint32_t)rp->n_cols;
    char err[256];
    int rc = ferry_table_add_column(rp->table, &col, err, sizeof(err));
    if (rc)
        return cfail(cp, rc, "%s", err);
    rp->n_cols++;
    return 0;
}

static int compile_record(comp_t *cp, const ferry_avro_node_t *rec, rplan_t **out)
{
    for (rplan_t *p = cp->c->plans; p; p = p->next)
        if (p->node == rec) {
            *out = p;
            return 0;
        }
    rplan_t *rp = calloc(1, sizeof(*rp));
    if (!rp)
        return cfail(cp, FERRY_ERR_NOMEM, "out of memory");
    rp->next = cp->c->plans;
    cp->c->plans = rp;
    rp->node = rec;
    rp->can_encode = true;
    const char *db = ferry_avro_json_get_str(rec->json, "ferry.db");
    const char *tn = ferry_avro_json_get_str(rec->json, "ferry.table");
    rp->table = ferry_table_new(db ? db : "", tn ? tn : rec->fullname);
    rp->ops = ferry_arena_calloc(cp->c->arena, rec->n ? rec->n : 1, sizeof(fop_t));
    if (!rp->table || !rp->ops)
        return cfail(cp, FERRY_ERR_NOMEM, "out of memory");
    rp->n_ops = rec->n;
    for (size_t i = 0; i < rec->n; i++) {
        fop_t *op = &rp->ops[i];
        op->name = rec->names[i];
        op->name_len = strlen(op->name);
        op->node = rec->sub[i];
        if (is_raw_map_field(rec, i)) {
            op->conv = CV_RAWMAP;
            continue;
        }
        int rc = compile_column(cp, rp, i, op);
        if (rc)
            return rc;
    }
    bool has_raw = false;
    for (size_t i = 0; i < rp->n_ops; i++)
        has_raw |= rp->ops[i].conv == CV_RAWMAP;
    for (size_t i = 0; i < rp->n_ops && !has_raw; i++)
        rp->ops[i].raw_ok = false;
    *out = rp;
    return 0;
}

static int compile_members(comp_t *cp, const ferry_avro_node_t *rec, const member_t *members,
                           size_t n_members, mplan_t *mp)
{
    mp->members = members;
    mp->n_ops = rec->n;
    mp->can_encode = true;
    mp->ops = ferry_arena_calloc(cp->c->arena, rec->n ? rec->n : 1, sizeof(mop_t));
    if (!mp->ops)
        return cfail(cp, FERRY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < rec->n; i++) {
        mop_t *op = &mp->ops[i];
        op->member = -1;
        op->name = rec->names[i];
        op->node = rec->sub[i];
        const ferry_avro_node_t *vt;
        bool unwrapped = unwrap_union(rec->sub[i], &vt, &op->null_idx, &op->val_idx) == 0;
        for (size_t m = 0; unwrapped && m < n_members; m++) {
            if (strcmp(members[m].name, rec->names[i]) != 0)
                continue;
            bool ok = members[m].kind == MK_STR
                          ? vt->kind == FERRY_AVRO_STRING || (vt->kind == FERRY_AVRO_BOOLEAN &&
                                                              strcmp(op->name, "snapshot") == 0)
                          : vt->kind == FERRY_AVRO_LONG || vt->kind == FERRY_AVRO_INT;
            if (ok) {
                op->member = (int)m;
                op->wire = (uint8_t)vt->kind;
            }
            break;
        }
        if (op->member < 0) {
            unwrap_union(rec->sub[i], &vt, &op->null_idx, &op->val_idx);
            if (op->null_idx < 0)
                mp->can_encode = false;
        }
    }
    return 0;
}

static bool looks_like_envelope(const ferry_avro_node_t *n)
{
    return n->kind == FERRY_AVRO_RECORD && ferry_avro_field_index(n, "op") >= 0 &&
           ferry_avro_field_index(n, "source") >= 0 &&
           (ferry_avro_field_index(n, "after") >= 0 || ferry_avro_field_index(n, "before") >= 0);
}

static int compile_envelope(comp_t *cp, const ferry_avro_node_t *env)
{
    ferry_avro_codec_t *c = cp->c;
    c->eops = ferry_arena_calloc(c->arena, env->n, sizeof(eop_t));
    if (!c->eops)
        return cfail(cp, FERRY_ERR_NOMEM, "out of memory");
    c->n_eops = env->n;
    c->can_encode = true;
    for (size_t i = 0; i < env->n; i++) {
        eop_t *op = &c->eops[i];
        const char *name = env->names[i];
        const ferry_avro_node_t *vt;
        op->name = name;
        op->node = env->sub[i];
        int bad = unwrap_union(env->sub[i], &vt, &op->null_idx, &op->val_idx);
        op->wire = (uint8_t)vt->kind;
        int rc = 0;
        if (!bad && (strcmp(name, "before") == 0 || strcmp(name, "after") == 0) &&
            vt->kind == FERRY_AVRO_RECORD) {
            op->role = name[0] == 'b' ? E_BEFORE : E_AFTER;
            rc = compile_record(cp, vt, &op->rp);
            if (!rc && (!c->row || op->role == E_AFTER))
                c->row = op->rp;
        } else if (!bad && strcmp(name, "source") == 0 && vt->kind == FERRY_AVRO_RECORD) {
            op->role = E_SOURCE;
            rc = compile_members(cp, vt, SOURCE_MEMBERS,
                                 sizeof(SOURCE_MEMBERS) / sizeof(SOURCE_MEMBERS[0]), &c->source);
            c->can_encode &= c->source.can_encode;
        } else if (!bad && strcmp(name, "op") == 0 && vt->kind == FERRY_AVRO_STRING) {
            op->role = E_OP;
        } else if (!bad && strcmp(name, "ts_ms") == 0 && vt->kind == FERRY_AVRO_LONG) {
            op->role = E_TS_MS;
        } else if (!bad && strcmp(name, "transaction") == 0 && vt->kind == FERRY_AVRO_RECORD) {
            op->role = E_TXN;
            rc = compile_members(cp, vt, TXN_MEMBERS, sizeof(TXN_MEMBERS) / sizeof(TXN_MEMBERS[0]),
                                 &c->txn);
            c->can_encode &= c->txn.can_encode;
        } else {
            op->role = E_SKIP;
            if (bad)
                unwrap_union(env->sub[i], &vt, &op->null_idx, &op->val_idx);
            if (op->null_idx < 0)
                c->can_encode = false;
        }
        if (rc)
            return rc;
    }
    if (!c->row)
        return cfail(cp, FERRY_ERR_INVALID, "envelope \"%s\" has no before/after record",
                     env->fullname);
    return 0;
}

void ferry_avro_codec_destroy(ferry_avro_codec_t *c)
{
    if (!c)
        return;
    for (rplan_t *p = c->plans; p;) {
        rplan_t *next = p->next;
        ferry_table_destroy(p->table);
        free(p);
        p = next;
    }
    ferry_arena_destroy(c->arena);
    free(c);
}

int ferry_avro_codec_new(const char *schema_json, size_t len, ferry_avro_codec_t **out,
                         char *errstr, size_t errstr_size)
{
    *out = NULL;
    ferry_avro_codec_t *c = calloc(1, sizeof(*c));
    if (!c || !(c->arena = ferry_arena_new(0))) {
        free(c);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not compile avro schema: out of memory");
    }
    comp_t cp = {.c = c, .errstr = errstr, .errstr_size = errstr_size};
    const ferry_avro_node_t *root;
    int rc = ferry_avro_parse(schema_json, len, c->arena, &root, errstr, errstr_size);
    if (rc)
        goto fail;
    char *text = ferry_arena_strndup(c->arena, schema_json, len);
    if (!text) {
        rc = cfail(&cp, FERRY_ERR_NOMEM, "out of memory");
        goto fail;
    }
    rc = ferry_avro_schema_fingerprint(text, &c->fingerprint, errstr, errstr_size);
    if (rc)
        goto fail;
    if (root->kind != FERRY_AVRO_RECORD) {
        rc = cfail(&cp, FERRY_ERR_UNSUPPORTED, "top-level type is %s, not a record",
                   ferry_avro_kind_name(root->kind));
        goto fail;
    }
    if (looks_like_envelope(root)) {
        c->envelope = true;
        rc = compile_envelope(&cp, root);
    } else {
        rc = compile_record(&cp, root, &c->row);
        if (!rc)
            c->can_encode = true;
    }
    if (rc)
        goto fail;
    for (size_t i = 0; i < c->row->n_ops; i++)
        if (c->row->ops[i].conv == CV_SKIP && c->row->ops[i].null_idx < 0)
            c->row->can_encode = false;
    *out = c;
    return 0;
fail:
    ferry_avro_codec_destroy(c);
    return rc;
}

bool ferry_avro_codec_is_envelope(const ferry_avro_codec_t *c)
{
    return c->envelope;
}

const ferry_table_t *ferry_avro_codec_table(const ferry_avro_codec_t *c)
{
    return c->row->table;
}

uint64_t ferry_avro_codec_fingerprint(const ferry_avro_codec_t *c)
{
    return c->fingerprint;
}

/* ---- encoding --------------------------------------------------------- */

/* Where an encode failed, for the error message. */
typedef struct {
    const char *field;
    const char *why;
} efail_t;

/*
 * When a value cannot be carried by its field's Avro type, returns true and
 * points *text at its exact text (in buf, or in the value itself).
 */
static bool needs_raw(const fop_t *op, const ferry_value_t *v, char *buf, size_t size,
                      const char **text, size_t *len)
{
    int64_t x;
    switch (op->conv) {
    case CV_DATE:
    case CV_TS_MICROS:
    case CV_TS_MILLIS: {
        if (v->flags & (FERRY_VALUE_POS_INFINITY | FERRY_VALUE_NEG_INFINITY)) {
            *text = v->flags & FERRY_VALUE_POS_INFINITY ? "infinity" : "-infinity";
            *len = strlen(*text);
            return true;
        }
        bool ok;
        if (op->conv == CV_DATE) {
            ok = ferry_value_civil_is_valid(&v->v.dt);
            if (ok) {
                x = ferry_value_days_from_civil(v->v.dt.year, v->v.dt.month, v->v.dt.day);
                ok = x >= INT32_MIN && x <= INT32_MAX;
            }
        } else {
            ok = ferry_value_civil_to_micros(&v->v.dt, &x) &&
                 (op->conv == CV_TS_MICROS || v->v.dt.usec % 1000 == 0);
        }
        if (ok)
            return false;
        *len = ferry_value_format_civil(&v->v.dt, op->conv == CV_DATE, 6, buf, size);
        *text = buf;
        return true;
    }
    case CV_DEC_BYTES: {
        uint8_t tmp[FERRY_DECIMAL_MAX_BYTES];
        size_t n;
        if (ferry_value_decimal_to_bytes(v->v.s.ptr, v->v.s.len, op->scale, tmp, sizeof(tmp), &n) ==
            0)
            return false;
        *text = v->v.s.ptr;
        *len = v->v.s.len;
        return true;
    }
    default:
        return false;
    }
}

static int put_uint_decimal(ferry_avro_buf_t *b, uint64_t u)
{
    uint8_t be[9];
    be[0] = 0;
    for (int i = 0; i < 8; i++)
        be[1 + i] = (uint8_t)(u >> (56 - 8 * i));
    int s = 0;
    while (s < 8 && be[s] == 0 && !(be[s + 1] & 0x80))
        s++;
    return put_bytes(b, be + s, (size_t)(9 - s));
}

static int encode_value(const fop_t *op, const ferry_value_t *v, ferry_avro_buf_t *b, efail_t *ef)
{
    int64_t x;
    char tmp[FERRY_DECIMAL_MAX_BYTES + 64];
    switch (op->conv) {
    case CV_BOOL:
        return put_byte(b, v->v.b ? 1 : 0);
    case CV_INT:
        if (op->wire == FERRY_AVRO_INT && (v->v.i < INT32_MIN || v->v.i > INT32_MAX)) {
            ef->why = "value out of range of an Avro int";
            return FERRY_ERR_INVALID;
        }
        return put_long(b, v->v.i);
    case CV_UINT_INT:
        if (v->v.u > (op->wire == FERRY_AVRO_INT ? (uint64_t)INT32_MAX : (uint64_t)INT64_MAX)) {
            ef->why = "unsigned value out of range of its Avro type";
            return FERRY_ERR_INVALID;
        }
        return put_long(b, (int64_t)v->v.u);
    case CV_UINT_DEC:
        return put_uint_decimal(b, v->v.u);
    case CV_FLOAT: {
        uint32_t bits;
        memcpy(&bits, &v->v.f, 4);
        return put_le(b, bits, 4);
    }
    case CV_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->v.d, 8);
        return put_le(b, bits, 8);
    }
    case CV_DEC_BYTES: {
        size_t n;
        int rc = ferry_value_decimal_to_bytes(v->v.s.ptr, v->v.s.len, op->scale, (uint8_t *)tmp,
                                              FERRY_DECIMAL_MAX_BYTES, &n);
        if (rc) {
            ef->why = "not a decimal that fits the field's scale";
            return rc;
        }
        return put_bytes(b, tmp, n);
    }
    case CV_DATE:
        return put_long(b, ferry_value_days_from_civil(v->v.dt.year, v->v.dt.month, v->v.dt.day));
    case CV_TS_MICROS:
    case CV_TS_MILLIS:
        if (!ferry_value_civil_to_micros(&v->v.dt, &x)) {
            ef->why = "not a valid date and time";
            return FERRY_ERR_INVALID;
        }
        return put_long(b, op->conv == CV_TS_MICROS ? x : x / 1000);
    case CV_TIME_MICROS:
        return put_long(b, v->v.i);
    case CV_TIME_MILLIS:
        return put_long(b, v->v.i / 1000);
    case CV_DEC_STRING:
    case CV_STRING:
    case CV_BYTES:
        return put_bytes(b, v->v.s.ptr, v->v.s.len);
    case CV_BIT_BOOL:
        return put_byte(b, v->v.u ? 1 : 0);
    case CV_BIT_BYTES: {
        int rc = put_long(b, op->nbytes);
        return rc ? rc : put_le(b, v->v.u, (int)op->nbytes);
    }
    case CV_UUID:
        ferry_value_format_uuid(v->v.uuid, tmp);
        return put_bytes(b, tmp, 36);
    case CV_INTERVAL: {
        size_t n = ferry_value_format_interval(&v->v.iv, tmp, sizeof(tmp));
        return put_bytes(b, tmp, n);
    }
    case CV_GEOMETRY: {
        int rc = put_bytes(b, v->v.s.ptr, v->v.s.len);
        if (!rc && op->sub_null >= 0)
            rc = put_long(b, op->sub_val);
        return rc ? rc : put_long(b, (int32_t)v->aux);
    }
    }
    ef->why = "unknown conversion";
    return FERRY_ERR_INVALID;
}

static int encode_raw_map(const rplan_t *rp, const ferry_value_t *vals, const uint32_t *map,
                          ferry_avro_buf_t *b)
{
    char buf[64];
    const char *text;
    size_t len;
    int64_t count = 0;
    for (size_t i = 0; i < rp->n_ops; i++) {
        const fop_t *op = &rp->ops[i];
        if (op->conv > CV_RAWMAP && op->raw_ok) {
            const ferry_value_t *v = &vals[map ? map[op->idx] : op->idx];
            if (!v->is_null && needs_raw(op, v, buf, sizeof(buf), &text, &len))
                count++;
        }
    }
    int rc = put_long(b, count);
    if (rc || count == 0)
        return rc;
    for (size_t i = 0; i < rp->n_ops && !rc; i++) {
        const fop_t *op = &rp->ops[i];
        if (op->conv <= CV_RAWMAP || !op->raw_ok)
            continue;
        const ferry_value_t *v = &vals[map ? map[op->idx] : op->idx];
        if (v->is_null || !needs_raw(op, v, buf, sizeof(buf), &text, &len))
            continue;
        rc = put_bytes(b, op->name, op->name_len);
        if (!rc)
            rc = put_bytes(b, text, len);
    }
    return rc ? rc : put_long(b, 0);
}

/*
 * Encodes a record. Values come from vals[op->idx], or from
 * vals[op->ordinal] when by_ordinal (a key taken from a full row).
 */
static int encode_record(const rplan_t *rp, const ferry_row_t *row, bool by_ordinal,
                         ferry_avro_buf_t *b, efail_t *ef)
{
    char buf[64];
    const char *text;
    size_t len;
    for (size_t i = 0; i < rp->n_ops; i++) {
        const fop_t *op = &rp->ops[i];
        ef->field = op->name;
        int rc;
        if (op->conv == CV_SKIP) {
            rc = put_long(b, op->null_idx);
        } else if (op->conv == CV_RAWMAP) {
            /* by_ordinal rows are wide: index them through ordinals */
            uint32_t *map = NULL;
            if (by_ordinal) {
                map = malloc(rp->n_cols * sizeof(uint32_t));
                if (!map)
                    return FERRY_ERR_NOMEM;
                for (size_t k = 0; k < rp->n_ops; k++)
                    if (rp->ops[k].conv > CV_RAWMAP)
                        map[rp->ops[k].idx] = rp->ops[k].ordinal;
            }
            rc = encode_raw_map(rp, row->values, map, b);
            free(map);
        } else {
            uint32_t at = by_ordinal ? op->ordinal : op->idx;
            if (at >= row->n) {
                ef->why = "row has fewer values than the record has fields";
                return FERRY_ERR_INVALID;
            }
            const ferry_value_t *v = &row->values[at];
            bool null = v->is_null;
            if (!null && op->conv >= CV_DEC_BYTES && op->conv <= CV_TS_MILLIS &&
                needs_raw(op, v, buf, sizeof(buf), &text, &len)) {
                if (!op->raw_ok) {
                    ef->why = "value the field's type cannot carry, and the record has no "
                              "raw map";
                    return FERRY_ERR_INVALID;
                }
                null = true; /* the value travels in the raw map */
            }
            if (null) {
                if (op->null_idx < 0) {
                    ef->why = "null in a field that is not nullable";
                    return FERRY_ERR_INVALID;
                }
                rc = put_long(b, op->null_idx);
            } else {
                rc = op->val_idx >= 0 ? put_long(b, op->val_idx) : 0;
                if (!rc)
                    rc = encode_value(op, v, b, ef);
            }
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int encode_members(const mplan_t *mp, const void *base, uint32_t present,
                          ferry_avro_buf_t *b, efail_t *ef)
{
    for (size_t i = 0; i < mp->n_ops; i++) {
        const mop_t *op = &mp->ops[i];
        ef->field = op->name;
        int rc;
        if (op->member < 0) {
            rc = put_long(b, op->null_idx);
        } else {
            const member_t *m = &mp->members[op->member];
            const char *p = (const char *)base + m->off;
            const char *s = NULL;
            int64_t x = 0;
            bool have;
            if (m->kind == MK_STR) {
                memcpy(&s, p, sizeof(s));
                if (!s && strcmp(m->name, "snapshot") == 0)
                    s = "false";
                have = s != NULL;
            } else {
                if (m->kind == MK_I64)
                    memcpy(&x, p, sizeof(int64_t));
                else {
                    int32_t x32;
                    memcpy(&x32, p, sizeof(x32));
                    x = x32;
                }
                have = m->bit == 0 || (present & m->bit);
            }
            if (!have) {
                if (op->null_idx < 0) {
                    ef->why = "not set, and the field is not nullable";
                    return FERRY_ERR_INVALID;
                }
                rc = put_long(b, op->null_idx);
            } else {
                rc = op->val_idx >= 0 ? put_long(b, op->val_idx) : 0;
                if (rc)
                    return rc;
                if (op->wire == FERRY_AVRO_BOOLEAN)
                    rc = put_byte(b, strcmp(s, "true") == 0);
                else if (m->kind == MK_STR)
                    rc = put_bytes(b, s, strlen(s));
                else if (op->wire == FERRY_AVRO_INT && (x < INT32_MIN || x > INT32_MAX)) {
                    ef->why = "value out of range of an Avro int";
                    return FERRY_ERR_INVALID;
                } else
                    rc = put_long(b, x);
            }
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int encode_fail(ferry_avro_buf_t *out, size_t start, int rc, const efail_t *ef,
                       const char *what, char *errstr, size_t errstr_size)
{
    out->len = start;
    if (rc == FERRY_ERR_NOMEM)
        return ferry_err_set(errstr, errstr_size, rc, "could not encode %s: out of memory", what);
    return ferry_err_set(errstr, errstr_size, rc, "could not encode field \"%s\" of %s: %s",
                         ef->field ? ef->field : "?", what, ef->why ? ef->why : ferry_err_str(rc));
}

int ferry_avro_codec_encode_change(const ferry_avro_codec_t *c, const ferry_change_t *ev,
                                   ferry_avro_buf_t *out, char *errstr, size_t errstr_size)
{
    size_t start = out->len;
    efail_t ef = {0};
    int rc = 0;
    if (!c->envelope || !c->can_encode) {
        ef.why = !c->envelope ? "the codec's schema is not an envelope"
                              : "the schema has fields ferry cannot fill";
        return encode_fail(out, start, FERRY_ERR_UNSUPPORTED, &ef, "change event", errstr,
                           errstr_size);
    }
    for (size_t i = 0; i < c->n_eops && !rc; i++) {
        const eop_t *op = &c->eops[i];
        ef.field = op->name;
        switch (op->role) {
        case E_BEFORE:
        case E_AFTER: {
            const ferry_row_t *row = op->role == E_BEFORE ? ev->before : ev->after;
            if (!row) {
                if (op->null_idx < 0) {
                    ef.why = "row missing";
                    rc = FERRY_ERR_INVALID;
                } else
                    rc = put_long(out, op->null_idx);
                break;
            }
            if (op->val_idx >= 0)
                rc = put_long(out, op->val_idx);
            if (!rc)
                rc = encode_record(op->rp, row, false, out, &ef);
            break;
        }
        case E_SOURCE:
            if (op->val_idx >= 0)
                rc = put_long(out, op->val_idx);
            if (!rc)
                rc = encode_members(&c->source, &ev->source, ev->source.present, out, &ef);
            break;
        case E_OP:
            if (!ev->op) {
                ef.why = "op not set";
                rc = FERRY_ERR_INVALID;
            } else
                rc = put_bytes(out, &ev->op, 1);
            break;
        case E_TS_MS:
            if (!ev->has_ts_ms && op->null_idx >= 0)
                rc = put_long(out, op->null_idx);
            else {
                if (op->val_idx >= 0)
                    rc = put_long(out, op->val_idx);
                if (!rc)
                    rc = put_long(out, ev->ts_ms);
            }
            break;
        case E_TXN:
            if (!ev->has_txn && op->null_idx >= 0)
                rc = put_long(out, op->null_idx);
            else {
                if (op->val_idx >= 0)
                    rc = put_long(out, op->val_idx);
                if (!rc)
                    rc = encode_members(&c->txn, &ev->txn, 0, out, &ef);
            }
            break;
        default:
            rc = put_long(out, op->null_idx);
            break;
        }
    }
    if (rc)
        return encode_fail(out, start, rc, &ef, "change event", errstr, errstr_size);
    return 0;
}

int ferry_avro_codec_encode_row(const ferry_avro_codec_t *c, const ferry_row_t *row,
                                ferry_avro_buf_t *out, char *errstr, size_t errstr_size)
{
    size_t start = out->len;
    efail_t ef = {0};
    int rc;
    if (!c->row->can_encode) {
        ef.why = "the record has fields ferry cannot fill";
        rc = FERRY_ERR_UNSUPPORTED;
    } else if (row->n != c->row->n_cols) {
        ef.why = "row width differs from the record's";
        rc = FERRY_ERR_INVALID;
    } else {
        rc = encode_record(c->row, row, false, out, &ef);
    }
    return rc ? encode_fail(out, start, rc, &ef, "row", errstr, errstr_size) : 0;
}

int ferry_avro_codec_encode_key(const ferry_avro_codec_t *c, const ferry_row_t *full_row,
                                ferry_avro_buf_t *out, char *errstr, size_t errstr_size)
{
    size_t start = out->len;
    efail_t ef = {0};
    int rc = c->row->can_encode ? encode_record(c->row, full_row, true, out, &ef)
                                : FERRY_ERR_UNSUPPORTED;
    return rc ? encode_fail(out, start, rc, &ef, "key", errstr, errstr_size) : 0;
}

/* ---- decoding --------------------------------------------------------- */

typedef struct raw_entry {
    const fop_t *op;
    const uint8_t *text;
    size_t len;
    struct raw_entry *next;
} raw_entry_t;

static int decode_value(const fop_t *op, rd_t *r, ferry_arena_t *arena, ferry_value_t *v)
{
    int64_t x;
    const uint8_t *p;
    size_t n;
    int rc;
    v->is_null = 0;
    switch (op->conv) {
    case CV_BOOL:
    case CV_BIT_BOOL:
        if (r->p >= r->end)
            return FERRY_ERR_TRUNCATED;
        if (*r->p > 1)
            return FERRY_ERR_INVALID;
        if (op->conv == CV_BOOL)
            v->v.b = *r->p++;
        else
            v->v.u = *r->p++;
        return 0;
    case CV_INT:
        rc = op->wire == FERRY_AVRO_INT ? get_int(r, &v->v.i) : get_long(r, &v->v.i);
        return rc;
    case CV_UINT_INT:
        if ((rc = get_long(r, &x)))
            return rc;
        if (x < 0)
            return FERRY_ERR_INVALID;
        v->v.u = (uint64_t)x;
        return 0;
    case CV_UINT_DEC: {
        if ((rc = get_bytes(r, &p, &n)))
            return rc;
        if (n == 0 || n > 9 || (p[0] & 0x80) || (n == 9 && p[0] != 0))
            return FERRY_ERR_INVALID;
        uint64_t u = 0;
        for (size_t i = 0; i < n; i++)
            u = u << 8 | p[i];
        v->v.u = u;
        return 0;
    }
    case CV_FLOAT: {
        uint64_t bits;
        if ((rc = get_le(r, 4, &bits)))
            return rc;
        uint32_t b32 = (uint32_t)bits;
        memcpy(&v->v.f, &b32, 4);
        return 0;
    }
    case CV_DOUBLE: {
        uint64_t bits;
        if ((rc = get_le(r, 8, &bits)))
            return rc;
        memcpy(&v->v.d, &bits, 8);
        return 0;
    }
    case CV_DEC_BYTES: {
        char tmp[FERRY_DECIMAL_MAX_DIGITS + 16];
        size_t tl;
        if ((rc = get_bytes(r, &p, &n)))
            return rc;
        if ((rc = ferry_value_decimal_from_bytes(p, n, op->scale, tmp, sizeof(tmp), &tl)))
            return FERRY_ERR_INVALID;
        char *s = ferry_arena_strndup(arena, tmp, tl);
        if (!s)
            return FERRY_ERR_NOMEM;
        v->v.s.ptr = s;
        v->v.s.len = tl;
        return 0;
    }
    case CV_DATE:
        if ((rc = get_int(r, &x)))
            return rc;
        memset(&v->v.dt, 0, sizeof(v->v.dt));
        ferry_value_civil_from_days(x, &v->v.dt);
        return 0;
    case CV_TIME_MICROS:
        return get_long(r, &v->v.i);
    case CV_TIME_MILLIS:
        if ((rc = get_int(r, &x)))
            return rc;
        v->v.i = x * 1000;
        return 0;
    case CV_TS_MICROS:
    case CV_TS_MILLIS:
        if ((rc = get_long(r, &x)))
            return rc;
        if (op->conv == CV_TS_MILLIS && __builtin_mul_overflow(x, 1000, &x))
            return FERRY_ERR_INVALID;
        ferry_value_civil_from_micros(x, &v->v.dt);
        return 0;
    case CV_DEC_STRING:
    case CV_STRING:
    case CV_BYTES:
        if ((rc = get_bytes(r, &p, &n)))
            return rc;
        v->v.s.ptr = (const char *)p;
        v->v.s.len = n;
        return 0;
    case CV_BIT_BYTES: {
        if ((rc = get_bytes(r, &p, &n)))
            return rc;
        if (n > 8)
            return FERRY_ERR_INVALID;
        uint64_t u = 0;
        for (size_t i = 0; i < n; i++)
            u |= (uint64_t)p[i] << (8 * i);
        v->v.u = u;
        return 0;
    }
    case CV_UUID:
        if ((rc = get_bytes(r, &p, &n)))
            return rc;
        return ferry_value_parse_uuid((const char *)p, n, v->v.uuid);
    case CV_INTERVAL:
        if ((rc = get_bytes(r, &p, &n)))
            return rc;
        return ferry_value_parse_interval((const char *)p, n, &v->v.iv);
    case CV_GEOMETRY: {
        if ((rc = get_bytes(r, &p, &n)))
            return rc;
        v->v.s.ptr = (const char *)p;
        v->v.s.len = n;
        bool null = false;
        if (op->sub_null >= 0 && (rc = get_branch(r, op->sub_null, op->sub_val, &null)))
            return rc;
        v->aux = 0;
        if (!null) {
            if ((rc = get_int(r, &x)))
                return rc;
            v->aux = (uint32_t)(int32_t)x;
        }
        return 0;
    }
    }
    return FERRY_ERR_INVALID;
}

static int decode_raw_map(const rplan_t *rp, rd_t *r, ferry_arena_t *arena, raw_entry_t **list)
{
    int rc;
    for (;;) {
        int64_t count, size;
        if ((rc = get_block_count(r, &count, &size)))
            return rc;
        if (count == 0)
            return 0;
        for (int64_t k = 0; k < count; k++) {
            const uint8_t *key, *val;
            size_t klen, vlen;
            if ((rc = get_bytes(r, &key, &klen)) || (rc = get_bytes(r, &val, &vlen)))
                return rc;
            for (size_t i = 0; i < rp->n_ops; i++) {
                const fop_t *op = &rp->ops[i];
                if (op->conv <= CV_RAWMAP || op->name_len != klen ||
                    memcmp(op->name, key, klen) != 0)
                    continue;
                raw_entry_t *e = ferry_arena_alloc(arena, sizeof(*e));
                if (!e)
                    return FERRY_ERR_NOMEM;
                e->op = op;
                e->text = val;
                e->len = vlen;
                e->next = *list;
                *list = e;
                break;
            }
        }
    }
}

/* Puts a raw-map text back into its value. */
static int apply_raw(const raw_entry_t *e, ferry_value_t *v)
{
    const char *s = (const char *)e->text;
    memset(v, 0, sizeof(*v));
    switch (e->op->conv) {
    case CV_DATE:
    case CV_TS_MICROS:
    case CV_TS_MILLIS:
        if (e->len == 8 && memcmp(s, "infinity", 8) == 0) {
            v->flags = FERRY_VALUE_POS_INFINITY;
            return 0;
        }
        if (e->len == 9 && memcmp(s, "-infinity", 9) == 0) {
            v->flags = FERRY_VALUE_NEG_INFINITY;
            return 0;
        }
        return ferry_value_parse_civil(s, e->len, &v->v.dt);
    case CV_DEC_BYTES:
        v->v.s.ptr = s;
        v->v.s.len = e->len;
        return 0;
    default:
        return FERRY_ERR_INVALID;
    }
}

static int decode_record(const rplan_t *rp, rd_t *r, ferry_arena_t *arena, ferry_row_t **out,
                         const char **field)
{
    ferry_row_t *row = ferry_arena_alloc(arena, sizeof(*row));
    ferry_value_t *vals = ferry_arena_alloc(arena, (rp->n_cols ? rp->n_cols : 1) * sizeof(*vals));
    if (!row || !vals)
        return FERRY_ERR_NOMEM;
    row->n = rp->n_cols;
    row->values = vals;
    raw_entry_t *raw = NULL;
    int rc = 0;
    for (size_t i = 0; i < rp->n_ops && !rc; i++) {
        const fop_t *op = &rp->ops[i];
        *field = op->name;
        if (op->conv == CV_SKIP) {
            rc = skip_node(r, op->node, 0);
            continue;
        }
        if (op->conv == CV_RAWMAP) {
            rc = decode_raw_map(rp, r, arena, &raw);
            continue;
        }
        ferry_value_t *v = &vals[op->idx];
        v->flags = 0;
        v->aux = 0;
        if (op->null_idx >= 0) {
            bool null;
            if ((rc = get_branch(r, op->null_idx, op->val_idx, &null)))
                break;
            if (null) {
                v->is_null = 1;
                continue;
            }
        } else if (op->val_idx >= 0) {
            bool null;
            if ((rc = get_branch(r, -1, op->val_idx, &null)))
                break;
        }
        rc = decode_value(op, r, arena, v);
    }
    for (raw_entry_t *e = raw; e && !rc; e = e->next) {
        *field = e->op->name;
        rc = apply_raw(e, &vals[e->op->idx]);
    }
    *out = row;
    return rc;
}

static int decode_members(const mplan_t *mp, rd_t *r, ferry_arena_t *arena, void *base,
                          uint32_t *present, const char **field)
{
    int rc = 0;
    for (size_t i = 0; i < mp->n_ops && !rc; i++) {
        const mop_t *op = &mp->ops[i];
        *field = op->name;
        if (op->member < 0) {
            rc = skip_node(r, op->node, 0);
            continue;
        }
        const member_t *m = &mp->members[op->member];
        bool null = false;
        if (op->null_idx >= 0 || op->val_idx >= 0)
            if ((rc = get_branch(r, op->null_idx, op->val_idx, &null)))
                break;
        char *p = (char *)base + m->off;
        if (null)
            continue; /* strings stay NULL, numbers stay absent */
        if (op->wire == FERRY_AVRO_BOOLEAN) {
            if (r->p >= r->end)
                return FERRY_ERR_TRUNCATED;
            if (*r->p > 1)
                return FERRY_ERR_INVALID;
            const char *s = *r->p++ ? "true" : "false";
            memcpy(p, &s, sizeof(s));
        } else if (m->kind == MK_STR) {
            const uint8_t *sp;
            size_t n;
            if ((rc = get_bytes(r, &sp, &n)))
                break;
            char *s = ferry_arena_strndup(arena, (const char *)sp, n);
            if (!s)
                return FERRY_ERR_NOMEM;
            memcpy(p, &s, sizeof(s));
        } else {
            int64_t x;
            if ((rc = op->wire == FERRY_AVRO_INT ? get_int(r, &x) : get_long(r, &x)))
                break;
            if (m->kind == MK_I32) {
                if (x < INT32_MIN || x > INT32_MAX)
                    return FERRY_ERR_INVALID;
                int32_t x32 = (int32_t)x;
                memcpy(p, &x32, sizeof(x32));
            } else {
                memcpy(p, &x, sizeof(x));
            }
            if (present)
                *present |= m->bit;
        }
    }
    return rc;
}

static int decode_fail(int rc, const char *field, const char *what, char *errstr,
                       size_t errstr_size)
{
    const char *why = rc == FERRY_ERR_TRUNCATED ? "input ends early"
                      : rc == FERRY_ERR_NOMEM   ? "out of memory"
                                                : "bytes do not match the schema";
    return ferry_err_set(errstr, errstr_size, rc, "could not decode %s at field \"%s\": %s", what,
                         field ? field : "?", why);
}

int ferry_avro_codec_decode_change(const ferry_avro_codec_t *c, const uint8_t *body, size_t len,
                                   ferry_arena_t *arena, ferry_change_t *ev, char *errstr,
                                   size_t errstr_size)
{
    memset(ev, 0, sizeof(*ev));
    if (!c->envelope)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                             "could not decode change event: the codec's schema is not an "
                             "envelope");
    rd_t r = {body, body + len};
    const char *field = NULL;
    int rc = 0;
    for (size_t i = 0; i < c->n_eops && !rc; i++) {
        const eop_t *op = &c->eops[i];
        field = op->name;
        if (op->role == E_SKIP) {
            rc = skip_node(&r, op->node, 0);
            continue;
        }
        bool null = false;
        if (op->null_idx >= 0 || op->val_idx >= 0)
            if ((rc = get_branch(&r, op->null_idx, op->val_idx, &null)))
                break;
        if (null)
            continue;
        switch (op->role) {
        case E_BEFORE:
        case E_AFTER: {
            ferry_row_t *row;
            rc = decode_record(op->rp, &r, arena, &row, &field);
            if (op->role == E_BEFORE)
                ev->before = row;
            else
                ev->after = row;
            break;
        }
        case E_SOURCE:
            rc = decode_members(&c->source, &r, arena, &ev->source, &ev->source.present, &field);
            break;
        case E_OP: {
            const uint8_t *p;
            size_t n;
            rc = get_bytes(&r, &p, &n);
            if (!rc && n != 1)
                rc = FERRY_ERR_INVALID;
            if (!rc)
                ev->op = (char)p[0];
            break;
        }
        case E_TS_MS:
            rc = get_long(&r, &ev->ts_ms);
            ev->has_ts_ms = rc == 0;
            break;
        case E_TXN:
            rc = decode_members(&c->txn, &r, arena, &ev->txn, NULL, &field);
            ev->has_txn = rc == 0;
            break;
        }
    }
    if (!rc && r.p != r.end) {
        field = "(end)";
        rc = FERRY_ERR_INVALID;
    }
    return rc ? decode_fail(rc, field, "change event", errstr, errstr_size) : 0;
}

int ferry_avro_codec_decode_row(const ferry_avro_codec_t *c, const uint8_t *body, size_t len,
                                ferry_arena_t *arena, ferry_row_t **out, char *errstr,
                                size_t errstr_size)
{
    rd_t r = {body, body + len};
    const char *field = NULL;
    int rc = decode_record(c->row, &r, arena, out, &field);
    if (!rc && r.p != r.end) {
        field = "(end)";
        rc = FERRY_ERR_INVALID;
    }
    return rc ? decode_fail(rc, field, "record", errstr, errstr_size) : 0;
}
