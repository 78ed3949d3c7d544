/*
 * binlog_tablemap.c - TABLE_MAP events and the decoder's table-id cache.
 *
 * A TABLE_MAP names a table, lists its column types with per-type metadata
 * (lengths, precision, fsp, pack widths) and nullability, and - from MySQL
 * 8.0.1 / MariaDB 10.5 - optional metadata: signedness, charsets, names,
 * ENUM/SET strings, geometry types, the primary key, visibility, vector
 * dimensions. From that this file builds a ferry_binlog_table_t with the row
 * model's ferry_table_t, which row events then refer to by table id.
 *
 * Optional metadata indexes some lists by column category rather than by
 * column: signedness counts numeric columns, charsets count character (or
 * ENUM/SET) columns, geometry types count geometry columns. Those
 * categories use the real type (ENUM/SET unpacked from STRING metadata).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binlog_int.h"
#include "err.h"

/* Optional metadata field types. */
enum {
    OM_SIGNEDNESS = 1,
    OM_DEFAULT_CHARSET = 2,
    OM_COLUMN_CHARSET = 3,
    OM_COLUMN_NAME = 4,
    OM_SET_STR_VALUE = 5,
    OM_ENUM_STR_VALUE = 6,
    OM_GEOMETRY_TYPE = 7,
    OM_SIMPLE_PRIMARY_KEY = 8,
    OM_PRIMARY_KEY_WITH_PREFIX = 9,
    OM_ENUM_AND_SET_DEFAULT_CHARSET = 10,
    OM_ENUM_AND_SET_COLUMN_CHARSET = 11,
    OM_COLUMN_VISIBILITY = 12,
    OM_VECTOR_DIMENSIONALITY = 13,
    OM_MAX = 16,
};

#define BL_MAX_COLUMNS 4096

typedef struct {
    const uint8_t *p[OM_MAX];
    size_t len[OM_MAX];
    bool has[OM_MAX];
} opt_meta_t;

/* ---- the cache ---------------------------------------------------------------- */

static size_t slot_of(uint64_t id, size_t cap)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

bl_table_t *ferry_binlog__table_get(const ferry_binlog_decoder_t *d, uint64_t id)
{
    const bl_table_map_t *m = &d->tables;
    if (!m->cap)
        return NULL;
    for (size_t i = slot_of(id, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->vals[i])
            return NULL;
        if (m->keys[i] == id)
            return m->vals[i];
    }
}

static int map_grow(bl_table_map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    uint64_t *keys = calloc(cap, sizeof(*keys));
    bl_table_t **vals = calloc(cap, sizeof(*vals));
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return FERRY_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->vals[i])
            continue;
        size_t j = slot_of(m->keys[i], cap);
        while (vals[j])
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

static void retire(ferry_binlog_decoder_t *d, bl_table_t *t)
{
    t->next_retired = d->retired;
    d->retired = t;
}

/* Inserts t for its id; an older table of that id is retired. */
static int map_put(ferry_binlog_decoder_t *d, bl_table_t *t)
{
    bl_table_map_t *m = &d->tables;
    if ((m->n + 1) * 2 > m->cap && map_grow(m))
        return FERRY_ERR_NOMEM;
    uint64_t id = t->pub.table_id;
    size_t i = slot_of(id, m->cap);
    while (m->vals[i] && m->keys[i] != id)
        i = (i + 1) & (m->cap - 1);
    if (m->vals[i])
        retire(d, m->vals[i]);
    else
        m->n++;
    m->keys[i] = id;
    m->vals[i] = t;
    return 0;
}

static void free_list(bl_table_t *t)
{
    while (t) {
        bl_table_t *next = t->next_retired;
        ferry_binlog__table_free(t);
        t = next;
    }
}

void ferry_binlog__tables_reset(ferry_binlog_decoder_t *d)
{
    bl_table_map_t *m = &d->tables;
    free_list(d->retired_prev);
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i])
            retire(d, m->vals[i]);
        m->vals[i] = NULL;
    }
    m->n = 0;
    d->retired_prev = d->retired;
    d->retired = NULL;
}

void ferry_binlog__tables_free(ferry_binlog_decoder_t *d)
{
    ferry_binlog__tables_reset(d);
    ferry_binlog__tables_reset(d);
    free(d->tables.keys);
    free(d->tables.vals);
    memset(&d->tables, 0, sizeof(d->tables));
}

void ferry_binlog__table_free(bl_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; t->members && i < t->pub.ncols; i++) {
        for (uint32_t k = 0; t->members[i] && k < t->n_members[i]; k++)
            free(t->members[i][k]);
        free(t->members[i]);
    }
    free(t->members);
    free(t->n_members);
    ferry_table_destroy(t->table);
    free(t->cols);
    free((char *)t->pub.db);
    free((char *)t->pub.name);
    free(t->body);
    free(t);
}

/* ---- column categories ------------------------------------------------------- */

static bool is_numeric(uint8_t t)
{
    switch (t) {
    case BL_T_TINY:
    case BL_T_SHORT:
    case BL_T_INT24:
    case BL_T_LONG:
    case BL_T_LONGLONG:
    case BL_T_FLOAT:
    case BL_T_DOUBLE:
    case BL_T_NEWDECIMAL:
    case BL_T_DECIMAL:
        return true;
    default:
        return false;
    }
}

static bool is_character(uint8_t real)
{
    switch (real) {
    case BL_T_STRING:
    case BL_T_VAR_STRING:
    case BL_T_VARCHAR:
    case BL_T_BLOB:
    case BL_T_TINY_BLOB:
    case BL_T_MEDIUM_BLOB:
    case BL_T_LONG_BLOB:
        return true;
    default:
        return false;
    }
}

static bool is_enum_set(uint8_t real)
{
    return real == BL_T_ENUM || real == BL_T_SET;
}

/* Reads the per-type metadata of one column. */
static void column_meta(bl_reader_t *m, ferry_binlog_column_t *col)
{
    uint8_t t = col->type;
    col->real_type = t;
    switch (t) {
    case BL_T_FLOAT:
    case BL_T_DOUBLE:
    case BL_T_BLOB:
    case BL_T_TINY_BLOB:
    case BL_T_MEDIUM_BLOB:
    case BL_T_LONG_BLOB:
    case BL_T_JSON:
    case BL_T_GEOMETRY:
    case BL_T_VECTOR:
    case BL_T_TIMESTAMP2:
    case BL_T_DATETIME2:
    case BL_T_TIME2:
        col->meta = bl_u8(m);
        col->max_len = col->meta;
        break;
    case BL_T_VARCHAR:
    case BL_T_VAR_STRING:
        col->meta = (uint16_t)bl_uint(m, 2);
        col->max_len = col->meta;
        break;
    case BL_T_BIT: {
        uint8_t bits = bl_u8(m), bytes = bl_u8(m);
        col->meta = (uint16_t)(bits | bytes << 8);
        col->max_len = (uint32_t)bytes * 8 + bits;
        break;
    }
    case BL_T_NEWDECIMAL: {
        uint8_t prec = bl_u8(m), scale = bl_u8(m);
        col->meta = (uint16_t)(prec << 8 | scale);
        break;
    }
    case BL_T_STRING:
    case BL_T_ENUM:
    case BL_T_SET: {
        uint8_t b0 = bl_u8(m), b1 = bl_u8(m);
        col->meta = (uint16_t)(b0 << 8 | b1);
        if (t == BL_T_STRING && b0 && (b0 & 0x30) != 0x30) {
            /* CHAR longer than 255 bytes keeps two length bits in the type byte */
            col->max_len = b1 | (uint32_t)(((b0 & 0x30) ^ 0x30) << 4);
            col->real_type = b0 | 0x30;
        } else {
            col->max_len = b1;
            if (t == BL_T_STRING && b0)
                col->real_type = b0;
        }
        break;
    }
    default:
        break;
    }
}

/* ---- optional metadata ----------------------------------------------------- */

static void read_opt_meta(bl_reader_t *r, opt_meta_t *om)
{
    memset(om, 0, sizeof(*om));
    while (bl_left(r) > 0) {
        uint8_t type = bl_u8(r);
        uint64_t len = bl_packed(r, NULL);
        const uint8_t *p = bl_bytes(r, len);
        if (!p)
            return;
        if (type < OM_MAX) {
            om->p[type] = p;
            om->len[type] = len;
            om->has[type] = true;
        }
    }
}

/* MSB-first bitmap bit k. */
static bool msb_bit(const uint8_t *p, size_t len, size_t k)
{
    return k / 8 < len && (p[k / 8] & (0x80 >> (k % 8)));
}

/*
 * Collations of the columns of one category (character or ENUM/SET) from a
 * DEFAULT_CHARSET / COLUMN_CHARSET pair of fields. coll[i] is set for the
 * columns where in_category(i).
 */
static void category_collations(const opt_meta_t *om, int def_type, int col_type,
                                const ferry_binlog_column_t *cols, size_t n,
                                bool (*in_category)(uint8_t), uint16_t *coll)
{
    size_t k = 0;
    if (om->has[col_type]) {
        bl_reader_t r = bl_reader(om->p[col_type], om->len[col_type]);
        for (size_t i = 0; i < n; i++)
            if (in_category(cols[i].real_type) && bl_left(&r) > 0)
                coll[i] = (uint16_t)bl_packed(&r, NULL);
        return;
    }
    if (!om->has[def_type])
        return;
    bl_reader_t r = bl_reader(om->p[def_type], om->len[def_type]);
    uint16_t def = (uint16_t)bl_packed(&r, NULL);
    for (size_t i = 0; i < n; i++)
        if (in_category(cols[i].real_type))
            coll[i] = def;
    while (bl_left(&r) > 0) {
        uint64_t idx = bl_packed(&r, NULL);
        uint16_t c = (uint16_t)bl_packed(&r, NULL);
        if (r.bad)
            break;
        k = 0;
        for (size_t i = 0; i < n; i++) {
            if (!in_category(cols[i].real_type))
                continue;
            if (k++ == idx) {
                coll[i] = c;
                break;
            }
        }
    }
}

static bool cat_character(uint8_t real)
{
    return is_character(real);
}

static bool cat_enum_set(uint8_t real)
{
    return is_enum_set(real);
}

/* ---- building the table --------------------------------------------------------- */

typedef struct {
    bl_ctx_t *c;
    bl_table_t *t;
    const opt_meta_t *om;
    const uint8_t *nulls;
    uint16_t *coll;   /* per column, 0 = unknown */
    char **names;     /* per column, arena */
    uint16_t *pk_pos; /* per column */
} build_t;

/* Copies the ENUM or SET strings of field type om_type to column member lists. */
static int load_members(build_t *b, int om_type, uint8_t real)
{
    bl_table_t *t = b->t;
    if (!b->om->has[om_type])
        return 0;
    bl_reader_t r = bl_reader(b->om->p[om_type], b->om->len[om_type]);
    for (size_t i = 0; i < t->pub.ncols && bl_left(&r) > 0; i++) {
        if (t->cols[i].real_type != real)
            continue;
        uint64_t n = bl_packed(&r, NULL);
        if (r.bad || n > 65535 || n > bl_left(&r))
            return FERRY_ERR_INVALID;
        char **m = calloc(n ? n : 1, sizeof(*m));
        if (!m)
            return FERRY_ERR_NOMEM;
        t->members[i] = m;
        const bl_charset_t *cs = ferry_binlog__charset(b->coll[i]);
        for (uint64_t k = 0; k < n; k++) {
            uint64_t len = bl_packed(&r, NULL);
            const uint8_t *p = bl_bytes(&r, len);
            if (!p)
                return FERRY_ERR_INVALID;
            const char *u = (const char *)p;
            size_t ulen = len;
            if (cs && ferry_binlog__to_utf8(b->c->d, b->c->arena, cs, p, len, &u, &ulen))
                u = (const char *)p, ulen = len;
            m[k] = strndup(u, ulen);
            if (!m[k])
                return FERRY_ERR_NOMEM;
            t->n_members[i] = (uint32_t)k + 1;
        }
    }
    return r.bad ? FERRY_ERR_INVALID : 0;
}

static void load_names(build_t *b)
{
    const opt_meta_t *om = b->om;
    if (!om->has[OM_COLUMN_NAME])
        return;
    bl_reader_t r = bl_reader(om->p[OM_COLUMN_NAME], om->len[OM_COLUMN_NAME]);
    for (size_t i = 0; i < b->t->pub.ncols; i++) {
        uint64_t len = bl_packed(&r, NULL);
        const uint8_t *p = bl_bytes(&r, len);
        if (!p)
            return;
        b->names[i] = ferry_arena_strndup(b->c->arena, (const char *)p, len);
    }
}

static void load_pk(build_t *b)
{
    const opt_meta_t *om = b->om;
    size_t n = b->t->pub.ncols;
    int type = om->has[OM_SIMPLE_PRIMARY_KEY]        ? OM_SIMPLE_PRIMARY_KEY
               : om->has[OM_PRIMARY_KEY_WITH_PREFIX] ? OM_PRIMARY_KEY_WITH_PREFIX
                                                     : 0;
    if (!type)
        return;
    b->t->pub.pk_known = true;
    bl_reader_t r = bl_reader(om->p[type], om->len[type]);
    for (uint16_t pos = 1; bl_left(&r) > 0; pos++) {
        uint64_t idx = bl_packed(&r, NULL);
        if (type == OM_PRIMARY_KEY_WITH_PREFIX)
            bl_packed(&r, NULL);
        if (r.bad)
            return;
        if (idx < n)
            b->pk_pos[idx] = pos;
    }
}

/* Per-category lists: signedness bits, geometry types, vector dimensions, visibility. */
static void load_column_flags(build_t *b)
{
    const opt_meta_t *om = b->om;
    bl_table_t *t = b->t;
    size_t numeric = 0;
    bl_reader_t geo = bl_reader(om->p[OM_GEOMETRY_TYPE], om->len[OM_GEOMETRY_TYPE]);
    bl_reader_t vec = bl_reader(om->p[OM_VECTOR_DIMENSIONALITY], om->len[OM_VECTOR_DIMENSIONALITY]);
    for (size_t i = 0; i < t->pub.ncols; i++) {
        ferry_binlog_column_t *col = &t->cols[i];
        if (is_numeric(col->real_type)) {
            if (!om->has[OM_SIGNEDNESS])
                col->flags |= FERRY_BINLOG_COL_SIGNEDNESS_UNKNOWN;
            else if (msb_bit(om->p[OM_SIGNEDNESS], om->len[OM_SIGNEDNESS], numeric))
                col->flags |= FERRY_BINLOG_COL_UNSIGNED;
            numeric++;
        }
        if (col->real_type == BL_T_GEOMETRY && bl_left(&geo) > 0)
            col->geometry = (uint32_t)bl_packed(&geo, NULL);
        if (col->real_type == BL_T_VECTOR && bl_left(&vec) > 0)
            col->vector_dims = (uint32_t)bl_packed(&vec, NULL);
        if (om->has[OM_COLUMN_VISIBILITY] &&
            !msb_bit(om->p[OM_COLUMN_VISIBILITY], om->len[OM_COLUMN_VISIBILITY], i))
            col->flags |= FERRY_BINLOG_COL_INVISIBLE;
        if ((is_character(col->real_type) || is_enum_set(col->real_type)) && !b->coll[i])
            col->flags |= FERRY_BINLOG_COL_CHARSET_UNKNOWN;
        col->collation = b->coll[i];
    }
}

static const char *blob_name(uint32_t pack, bool text)
{
    static const char *const blobs[] = {"blob", "tinyblob", "blob", "mediumblob", "longblob"};
    static const char *const texts[] = {"text", "tinytext", "text", "mediumtext", "longtext"};
    return (text ? texts : blobs)[pack <= 4 ? pack : 0];
}

static const char *geometry_name(uint32_t g)
{
    static const char *const names[] = {
        "geometry",   "point",           "linestring",   "polygon",
        "multipoint", "multilinestring", "multipolygon", "geometrycollection"};
    return g < 8 ? names[g] : "geometry";
}

static void temporal_model(ferry_column_t *fc, ferry_type_t type, const char *name, int fsp,
                           char *src, size_t src_size)
{
    fc->type = type;
    fc->fsp = (int8_t)fsp;
    if (fsp)
        snprintf(src, src_size, "%s(%d)", name, fsp);
    else
        snprintf(src, src_size, "%s", name);
}

/* Type, length and source spelling of a column in the row model. */
static void column_model(const ferry_binlog_column_t *bc, uint32_t n_members, ferry_column_t *fc,
                         char *src, size_t src_size)
{
    static const char *const int_names[] = {[BL_T_TINY] = "tinyint",
                                            [BL_T_SHORT] = "smallint",
                                            [BL_T_INT24] = "mediumint",
                                            [BL_T_LONG] = "int",
                                            [BL_T_LONGLONG] = "bigint"};
    static const uint8_t int_len[] = {
        [BL_T_TINY] = 1, [BL_T_SHORT] = 2, [BL_T_INT24] = 3, [BL_T_LONG] = 4, [BL_T_LONGLONG] = 8};
    const bl_charset_t *cs = ferry_binlog__charset(bc->collation);
    bool binary = cs && strcmp(cs->name, "binary") == 0;
    bool uns = bc->flags & FERRY_BINLOG_COL_UNSIGNED;
    int fsp = bc->meta <= 6 ? bc->meta : 0;
    switch (bc->real_type) {
    case BL_T_TINY:
    case BL_T_SHORT:
    case BL_T_INT24:
    case BL_T_LONG:
    case BL_T_LONGLONG:
        fc->type = uns ? FERRY_TYPE_UINT : FERRY_TYPE_INT;
        fc->length = int_len[bc->real_type];
        snprintf(src, src_size, "%s%s", int_names[bc->real_type], uns ? " unsigned" : "");
        break;
    case BL_T_FLOAT:
    case BL_T_DOUBLE:
        fc->type = bc->real_type == BL_T_FLOAT ? FERRY_TYPE_FLOAT : FERRY_TYPE_DOUBLE;
        snprintf(src, src_size, "%s%s", bc->real_type == BL_T_FLOAT ? "float" : "double",
                 uns ? " unsigned" : "");
        break;
    case BL_T_NEWDECIMAL:
    case BL_T_DECIMAL:
        fc->type = FERRY_TYPE_DECIMAL;
        fc->precision = bc->meta >> 8;
        fc->scale = bc->meta & 0xff;
        snprintf(src, src_size, "decimal(%u,%u)%s", bc->meta >> 8, bc->meta & 0xff,
                 uns ? " unsigned" : "");
        break;
    case BL_T_YEAR:
        fc->type = FERRY_TYPE_YEAR;
        snprintf(src, src_size, "year");
        break;
    case BL_T_DATE:
    case BL_T_NEWDATE:
        fc->type = FERRY_TYPE_DATE;
        snprintf(src, src_size, "date");
        break;
    case BL_T_TIME:
    case BL_T_TIME2:
        temporal_model(fc, FERRY_TYPE_TIME, "time", bc->real_type == BL_T_TIME2 ? fsp : 0, src,
                       src_size);
        break;
    case BL_T_DATETIME:
    case BL_T_DATETIME2:
        temporal_model(fc, FERRY_TYPE_DATETIME, "datetime",
                       bc->real_type == BL_T_DATETIME2 ? fsp : 0, src, src_size);
        break;
    case BL_T_TIMESTAMP:
    case BL_T_TIMESTAMP2:
        temporal_model(fc, FERRY_TYPE_TIMESTAMP, "timestamp",
                       bc->real_type == BL_T_TIMESTAMP2 ? fsp : 0, src, src_size);
        break;
    case BL_T_BIT:
        fc->type = FERRY_TYPE_BIT;
        fc->length = bc->max_len;
        snprintf(src, src_size, "bit(%u)", bc->max_len);
        break;
    case BL_T_ENUM:
    case BL_T_SET:
        fc->type = !n_members && (bc->flags & FERRY_BINLOG_COL_MEMBERS_UNKNOWN)
                       ? FERRY_TYPE_UINT
                       : (bc->real_type == BL_T_ENUM ? FERRY_TYPE_ENUM : FERRY_TYPE_SET);
        snprintf(src, src_size, "%s", bc->real_type == BL_T_ENUM ? "enum" : "set");
        break;
    case BL_T_STRING:
    case BL_T_VARCHAR:
    case BL_T_VAR_STRING: {
        bool var = bc->real_type != BL_T_STRING;
        fc->type = binary ? FERRY_TYPE_BYTES : FERRY_TYPE_STRING;
        fc->length = binary || !cs ? bc->max_len : bc->max_len / (cs->mbmaxlen ? cs->mbmaxlen : 1);
        snprintf(src, src_size, "%s(%u)",
                 binary ? (var ? "varbinary" : "binary") : (var ? "varchar" : "char"), fc->length);
        break;
    }
    case BL_T_BLOB:
    case BL_T_TINY_BLOB:
    case BL_T_MEDIUM_BLOB:
    case BL_T_LONG_BLOB:
        fc->type = cs && !binary ? FERRY_TYPE_STRING : FERRY_TYPE_BYTES;
        snprintf(src, src_size, "%s", blob_name(bc->max_len, cs && !binary));
        break;
    case BL_T_JSON:
        fc->type = FERRY_TYPE_JSON;
        snprintf(src, src_size, "json");
        break;
    case BL_T_GEOMETRY:
        fc->type = FERRY_TYPE_GEOMETRY;
        snprintf(src, src_size, "%s", geometry_name(bc->geometry));
        break;
    case BL_T_VECTOR:
        fc->type = FERRY_TYPE_BYTES;
        fc->length = bc->vector_dims * 4;
        snprintf(src, src_size, "vector(%u)", bc->vector_dims);
        break;
    default:
        fc->type = FERRY_TYPE_BYTES;
        snprintf(src, src_size, "type%u", bc->real_type);
        break;
    }
    if (cs && !binary && fc->type != FERRY_TYPE_UINT)
        fc->charset = cs->name;
}

static int build_columns(build_t *b)
{
    bl_table_t *t = b->t;
    char errbuf[256];
    for (size_t i = 0; i < t->pub.ncols; i++) {
        ferry_binlog_column_t *bc = &t->cols[i];
        ferry_column_t fc = {0};
        char src[64], name[24];
        if (is_enum_set(bc->real_type) && !t->members[i])
            bc->flags |= FERRY_BINLOG_COL_MEMBERS_UNKNOWN;
        column_model(bc, t->n_members[i], &fc, src, sizeof(src));
        if (b->names[i]) {
            fc.name = b->names[i];
        } else {
            snprintf(name, sizeof(name), "@%zu", i + 1);
            fc.name = name;
            bc->flags |= FERRY_BINLOG_COL_NAME_UNKNOWN;
        }
        fc.source_type = src;
        if (bc->flags & FERRY_BINLOG_COL_UNSIGNED)
            fc.flags |= FERRY_COL_UNSIGNED;
        if (ferry_binlog_bit(b->nulls, i))
            fc.flags |= FERRY_COL_NULLABLE;
        if (fc.type == FERRY_TYPE_ENUM || fc.type == FERRY_TYPE_SET) {
            fc.members = (const char *const *)t->members[i];
            fc.n_members = t->n_members[i];
        }
        fc.pk_pos = b->pk_pos[i];
        int rc = ferry_table_add_column(t->table, &fc, errbuf, sizeof(errbuf));
        if (rc)
            return ferry_binlog__fail(b->c, rc, "column %zu: %s", i + 1, errbuf);
    }
    return 0;
}

static int build_table(build_t *b)
{
    bl_table_t *t = b->t;
    size_t n = t->pub.ncols;
    b->coll = ferry_arena_calloc(b->c->arena, n + 1, sizeof(*b->coll));
    b->names = ferry_arena_calloc(b->c->arena, n + 1, sizeof(*b->names));
    b->pk_pos = ferry_arena_calloc(b->c->arena, n + 1, sizeof(*b->pk_pos));
    t->members = calloc(n + 1, sizeof(*t->members));
    t->n_members = calloc(n + 1, sizeof(*t->n_members));
    t->table = ferry_table_new(t->pub.db, t->pub.name);
    if (!b->coll || !b->names || !b->pk_pos || !t->members || !t->n_members || !t->table)
        return ferry_binlog__fail(b->c, FERRY_ERR_NOMEM, "out of memory");
    category_collations(b->om, OM_DEFAULT_CHARSET, OM_COLUMN_CHARSET, t->cols, n, cat_character,
                        b->coll);
    category_collations(b->om, OM_ENUM_AND_SET_DEFAULT_CHARSET, OM_ENUM_AND_SET_COLUMN_CHARSET,
                        t->cols, n, cat_enum_set, b->coll);
    load_column_flags(b);
    load_names(b);
    load_pk(b);
    int rc = load_members(b, OM_ENUM_STR_VALUE, BL_T_ENUM);
    if (!rc)
        rc = load_members(b, OM_SET_STR_VALUE, BL_T_SET);
    if (rc)
        return ferry_binlog__fail(b->c, rc, "%s ENUM/SET strings in table %s.%s",
                                  rc == FERRY_ERR_NOMEM ? "out of memory for" : "malformed",
                                  t->pub.db, t->pub.name);
    t->pub.names_missing = !b->om->has[OM_COLUMN_NAME];
    rc = build_columns(b);
    if (rc)
        return rc;
    t->pub.cols = t->cols;
    t->pub.table = t->table;
    return 0;
}

/* db and table names: length byte, bytes, NUL. */
static char *read_name(bl_reader_t *r)
{
    uint8_t n = bl_u8(r);
    const uint8_t *p = bl_bytes(r, (size_t)n + 1);
    return p ? strndup((const char *)p, n) : NULL;
}

static int parse(bl_ctx_t *c, const uint8_t *body, size_t len, bl_table_t *t)
{
    bl_reader_t r = bl_reader(body, len);
    size_t ph = c->d->post_header[FERRY_BINLOG_TABLE_MAP];
    size_t idlen = bl_table_id_len(c->d, FERRY_BINLOG_TABLE_MAP);
    t->pub.table_id = bl_uint(&r, idlen);
    t->pub.flags = (uint16_t)bl_uint(&r, 2);
    if (ph > idlen + 2)
        bl_bytes(&r, ph - idlen - 2);
    t->pub.db = read_name(&r);
    t->pub.name = read_name(&r);
    if (r.bad)
        return ferry_binlog__fail(c, FERRY_ERR_TRUNCATED, "event body is truncated");
    if (!t->pub.db || !t->pub.name)
        return ferry_binlog__fail(c, FERRY_ERR_NOMEM, "out of memory");
    uint64_t n = bl_packed(&r, NULL);
    if (r.bad || n > BL_MAX_COLUMNS || n > bl_left(&r))
        return ferry_binlog__fail(c, FERRY_ERR_INVALID, "bad column count %llu in table %s.%s",
                                  (unsigned long long)n, t->pub.db, t->pub.name);
    const uint8_t *types = bl_bytes(&r, n);
    uint64_t meta_len = bl_packed(&r, NULL);
    const uint8_t *meta = bl_bytes(&r, meta_len);
    build_t b = {c, t, NULL, bl_bytes(&r, (n + 7) / 8), NULL, NULL, NULL};
    if (r.bad)
        return ferry_binlog__fail(c, FERRY_ERR_TRUNCATED, "event body is truncated");
    t->pub.ncols = n;
    t->cols = calloc(n + 1, sizeof(*t->cols));
    if (!t->cols)
        return ferry_binlog__fail(c, FERRY_ERR_NOMEM, "out of memory");
    bl_reader_t m = bl_reader(meta, meta_len);
    for (size_t i = 0; i < n; i++) {
        t->cols[i].type = types[i];
        column_meta(&m, &t->cols[i]);
    }
    if (m.bad)
        return ferry_binlog__fail(c, FERRY_ERR_INVALID,
                                  "column metadata of table %s.%s is truncated", t->pub.db,
                                  t->pub.name);
    opt_meta_t om;
    read_opt_meta(&r, &om);
    b.om = &om;
    return build_table(&b);
}

int ferry_binlog__table_map(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    bl_reader_t r = bl_reader(body, len);
    uint64_t id = bl_uint(&r, bl_table_id_len(c->d, FERRY_BINLOG_TABLE_MAP));
    if (r.bad)
        return ferry_binlog__fail(c, FERRY_ERR_TRUNCATED, "event body is truncated");
    bl_table_t *old = ferry_binlog__table_get(c->d, id);
    ev->kind = FERRY_BINLOG_EV_TABLE_MAP;
    if (old && old->body_len == len && memcmp(old->body, body, len) == 0) {
        ev->u.table_map.table = &old->pub;
        return 0;
    }
    bl_table_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->body = malloc(len ? len : 1))) {
        free(t);
        return ferry_binlog__fail(c, FERRY_ERR_NOMEM, "out of memory");
    }
    memcpy(t->body, body, len);
    t->body_len = len;
    int rc = parse(c, body, len, t);
    if (!rc && map_put(c->d, t))
        rc = ferry_binlog__fail(c, FERRY_ERR_NOMEM, "out of memory");
    if (rc) {
        ferry_binlog__table_free(t);
        return rc;
    }
    ev->u.table_map.table = &t->pub;
    return 0;
}
