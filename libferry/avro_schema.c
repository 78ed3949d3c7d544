/*
 * avro_schema.c - Debezium-shaped Avro schemas from a table (see avro_schema.h).
 */
#include "avro_schema.h"

#include "strbuf.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_canon.h"
#include "err.h"

/*
 * The Source record. schemas/source.avsc holds exactly this text; the
 * Envelope embeds it. The MySQL-only and PostgreSQL-only fields are optional
 * so one record serves every source engine.
 */
static const char SOURCE_AVSC[] =
    "{\n"
    "  \"type\": \"record\",\n"
    "  \"name\": \"Source\",\n"
    "  \"namespace\": \"io.ferry\",\n"
    "  \"doc\": \"where a change was captured: engine, server, position, time\",\n"
    "  \"fields\": [\n"
    "    {\"name\": \"version\", \"type\": \"string\"},\n"
    "    {\"name\": \"connector\", \"type\": \"string\"},\n"
    "    {\"name\": \"name\", \"type\": \"string\"},\n"
    "    {\"name\": \"ts_ms\", \"type\": \"long\"},\n"
    "    {\"name\": \"snapshot\", \"type\": \"string\", \"default\": \"false\"},\n"
    "    {\"name\": \"db\", \"type\": \"string\"},\n"
    "    {\"name\": \"table\", \"type\": [\"null\", \"string\"], \"default\": null},\n"
    "    {\"name\": \"server_id\", \"type\": [\"null\", \"long\"], \"default\": null},\n"
    "    {\"name\": \"gtid\", \"type\": [\"null\", \"string\"], \"default\": null},\n"
    "    {\"name\": \"file\", \"type\": [\"null\", \"string\"], \"default\": null},\n"
    "    {\"name\": \"pos\", \"type\": [\"null\", \"long\"], \"default\": null},\n"
    "    {\"name\": \"row\", \"type\": [\"null\", \"int\"], \"default\": null},\n"
    "    {\"name\": \"lsn\", \"type\": [\"null\", \"long\"], \"default\": null},\n"
    "    {\"name\": \"txId\", \"type\": [\"null\", \"long\"], \"default\": null}\n"
    "  ]\n"
    "}\n";

/* Debezium's transaction block, same name and fields. */
static const char TXN_BLOCK[] =
    "{\"type\":\"record\",\"name\":\"block\",\"namespace\":\"event\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"total_order\",\"type\":\"long\"},"
    "{\"name\":\"data_collection_order\",\"type\":\"long\"}]}";

#define GEOMETRY_NAME "io.debezium.data.geometry.Geometry"

static const char GEOMETRY_RECORD[] =
    "{\"type\":\"record\",\"name\":\"Geometry\",\"namespace\":\"io.debezium.data.geometry\","
    "\"fields\":[{\"name\":\"wkb\",\"type\":\"bytes\"},"
    "{\"name\":\"srid\",\"type\":[\"null\",\"int\"],\"default\":null}],"
    "\"connect.name\":\"" GEOMETRY_NAME "\"}";

const char *ferry_avro_schema_source(void)
{
    return SOURCE_AVSC;
}

/* A JSON string literal of arbitrary text (UTF-8 passes through). */
static void sb_json_str(ferry_strbuf_t *b, const char *s)
{
    ferry_strbuf_put(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\' || c < 0x20) {
            ferry_strbuf_put(b, run, (size_t)(p - run));
            char esc[8];
            if (c == '"' || c == '\\')
                snprintf(esc, sizeof(esc), "\\%c", c);
            else
                snprintf(esc, sizeof(esc), "\\u%04x", c);
            ferry_strbuf_puts(b, esc);
            run = p + 1;
        }
    }
    ferry_strbuf_puts(b, run);
    ferry_strbuf_put(b, "\"", 1);
}

/* ---- names ------------------------------------------------------------ */

static bool is_name_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

static bool valid_name(const char *s)
{
    if (!*s)
        return false;
    for (const char *p = s; *p; p++)
        if (!is_name_char(*p, p == s))
            return false;
    return true;
}

int ferry_avro_schema_name(const char *in, char *out, size_t out_size)
{
    size_t len = strlen(in);
    if (out_size < len + 12)
        return FERRY_ERR_TRUNCATED;
    if (valid_name(in)) {
        memcpy(out, in, len + 1);
        return 0;
    }
    size_t o = 0;
    if (in[0] >= '0' && in[0] <= '9')
        out[o++] = '_';
    for (const unsigned char *p = (const unsigned char *)in; *p;) {
        if (is_name_char((char)*p, false)) {
            out[o++] = (char)*p++;
            continue;
        }
        /* one '_' per character: skip a UTF-8 sequence's continuation bytes */
        out[o++] = '_';
        p++;
        if (p[-1] >= 0xC0)
            while ((*p & 0xC0) == 0x80)
                p++;
    }
    uint32_t h = (uint32_t)ferry_avro_crc64(in, len);
    snprintf(out + o, out_size - o, "_%08x", h);
    return 0;
}

/* Sanitises every dot-separated part of a dotted name (a namespace). */
static int dotted_name(const char *in, ferry_strbuf_t *b)
{
    const char *part = in;
    for (const char *q = in;; q++) {
        if (*q != '.' && *q != '\0')
            continue;
        size_t n = (size_t)(q - part);
        char *raw = strndup(part, n);
        char *clean = raw ? malloc(n + 12) : NULL;
        if (!raw || !clean) {
            free(raw);
            return FERRY_ERR_NOMEM;
        }
        ferry_avro_schema_name(raw, clean, n + 12);
        if (part != in)
            ferry_strbuf_put(b, ".", 1);
        ferry_strbuf_puts(b, clean);
        free(raw);
        free(clean);
        if (!*q)
            return 0;
        part = q + 1;
    }
}

/* ---- column types ----------------------------------------------------- */

/* Types whose values can fall outside what their Avro field carries. */
static bool may_need_raw(const ferry_column_t *c)
{
    switch (c->type) {
    case FERRY_TYPE_DATE:
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        return true;
    case FERRY_TYPE_DECIMAL:
        return c->precision > 0;
    default:
        return false;
    }
}

static void put_logical(ferry_strbuf_t *b, const char *base, const char *logical,
                        const char *connect)
{
    ferry_strbuf_puts(b, "{\"type\":\"");
    ferry_strbuf_puts(b, base);
    ferry_strbuf_puts(b, "\"");
    if (logical) {
        ferry_strbuf_puts(b, ",\"logicalType\":\"");
        ferry_strbuf_puts(b, logical);
        ferry_strbuf_puts(b, "\"");
    }
    if (connect) {
        ferry_strbuf_puts(b, ",\"connect.name\":\"");
        ferry_strbuf_puts(b, connect);
        ferry_strbuf_puts(b, "\"");
    }
    ferry_strbuf_puts(b, "}");
}

static void put_decimal(ferry_strbuf_t *b, unsigned precision, int scale)
{
    ferry_strbuf_printf(
        b, "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":%u,\"scale\":%d}",
        precision, scale);
}

/* The Avro type of a column, without the null branch. */
static void put_column_type(ferry_strbuf_t *b, const ferry_column_t *c, bool *geometry_defined)
{
    switch (c->type) {
    case FERRY_TYPE_BOOL:
        ferry_strbuf_puts(b, "\"boolean\"");
        break;
    case FERRY_TYPE_INT:
        ferry_strbuf_puts(b, c->length >= 1 && c->length <= 4 ? "\"int\"" : "\"long\"");
        break;
    case FERRY_TYPE_UINT:
        if (c->length >= 1 && c->length <= 3)
            ferry_strbuf_puts(b, "\"int\"");
        else if (c->length == 4)
            ferry_strbuf_puts(b, "\"long\"");
        else
            put_decimal(b, 20, 0);
        break;
    case FERRY_TYPE_FLOAT:
        ferry_strbuf_puts(b, "\"float\"");
        break;
    case FERRY_TYPE_DOUBLE:
        ferry_strbuf_puts(b, "\"double\"");
        break;
    case FERRY_TYPE_DECIMAL:
        if (c->precision > 0)
            put_decimal(b, c->precision, c->scale);
        else
            ferry_strbuf_puts(b, "\"string\"");
        break;
    case FERRY_TYPE_DATE:
        put_logical(b, "int", "date", "io.debezium.time.Date");
        break;
    case FERRY_TYPE_TIME:
        put_logical(b, "long", "time-micros", "io.debezium.time.MicroTime");
        break;
    case FERRY_TYPE_DATETIME:
        put_logical(b, "long", "timestamp-micros", "io.debezium.time.MicroTimestamp");
        break;
    case FERRY_TYPE_TIMESTAMP:
        put_logical(b, "long", "timestamp-micros", NULL);
        break;
    case FERRY_TYPE_YEAR:
        put_logical(b, "int", NULL, "io.debezium.time.Year");
        break;
    case FERRY_TYPE_STRING:
    case FERRY_TYPE_ARRAY:
        ferry_strbuf_puts(b, "\"string\"");
        break;
    case FERRY_TYPE_BYTES:
        ferry_strbuf_puts(b, "\"bytes\"");
        break;
    case FERRY_TYPE_BIT:
        if (c->length == 1)
            ferry_strbuf_puts(b, "\"boolean\"");
        else
            put_logical(b, "bytes", NULL, "io.debezium.data.Bits");
        break;
    case FERRY_TYPE_ENUM:
        put_logical(b, "string", NULL, "io.debezium.data.Enum");
        break;
    case FERRY_TYPE_SET:
        put_logical(b, "string", NULL, "io.debezium.data.EnumSet");
        break;
    case FERRY_TYPE_JSON:
        put_logical(b, "string", NULL, "io.debezium.data.Json");
        break;
    case FERRY_TYPE_GEOMETRY:
        if (*geometry_defined) {
            ferry_strbuf_puts(b, "\"" GEOMETRY_NAME "\"");
        } else {
            ferry_strbuf_puts(b, GEOMETRY_RECORD);
            *geometry_defined = true;
        }
        break;
    case FERRY_TYPE_UUID:
        put_logical(b, "string", "uuid", "io.debezium.data.Uuid");
        break;
    case FERRY_TYPE_INTERVAL:
        put_logical(b, "string", NULL, "io.debezium.time.Interval");
        break;
    }
}

static void put_field(ferry_strbuf_t *b, const ferry_column_t *c, const char *avro_name,
                      size_t ordinal, bool *geometry_defined)
{
    bool nullable = (c->flags & FERRY_COL_NULLABLE) || may_need_raw(c);
    ferry_strbuf_puts(b, "{\"name\":\"");
    ferry_strbuf_puts(b, avro_name);
    ferry_strbuf_puts(b, "\",\"type\":");
    if (nullable)
        ferry_strbuf_puts(b, "[\"null\",");
    put_column_type(b, c, geometry_defined);
    if (nullable)
        ferry_strbuf_puts(b, "],\"default\":null");
    ferry_strbuf_puts(b, ",\"ferry.column\":");
    sb_json_str(b, c->name);
    ferry_strbuf_printf(b, ",\"ferry.type\":\"%s\"", ferry_type_name(c->type));
    if (c->source_type) {
        ferry_strbuf_puts(b, ",\"ferry.source_type\":");
        sb_json_str(b, c->source_type);
    }
    ferry_strbuf_printf(b, ",\"ferry.ordinal\":%zu", ordinal);
    if (c->flags & FERRY_COL_NULLABLE)
        ferry_strbuf_puts(b, ",\"ferry.nullable\":true");
    if (c->flags & FERRY_COL_UNSIGNED)
        ferry_strbuf_puts(b, ",\"ferry.unsigned\":true");
    if (c->length)
        ferry_strbuf_printf(b, ",\"ferry.length\":%u", c->length);
    if (c->type == FERRY_TYPE_DECIMAL)
        ferry_strbuf_printf(b, ",\"ferry.precision\":%u,\"ferry.scale\":%d", c->precision,
                            c->scale);
    if (c->type == FERRY_TYPE_TIME || c->type == FERRY_TYPE_DATETIME ||
        c->type == FERRY_TYPE_TIMESTAMP)
        ferry_strbuf_printf(b, ",\"ferry.fsp\":%d", c->fsp);
    if (c->charset) {
        ferry_strbuf_puts(b, ",\"ferry.charset\":");
        sb_json_str(b, c->charset);
    }
    if (c->n_members) {
        ferry_strbuf_puts(b, ",\"ferry.members\":[");
        for (uint32_t i = 0; i < c->n_members; i++) {
            if (i)
                ferry_strbuf_put(b, ",", 1);
            sb_json_str(b, c->members[i]);
        }
        ferry_strbuf_puts(b, "]");
    }
    if (c->pk_pos)
        ferry_strbuf_printf(b, ",\"ferry.pk\":%u", c->pk_pos);
    ferry_strbuf_puts(b, "}");
}

/* ---- records ---------------------------------------------------------- */

typedef struct {
    const ferry_table_t *t;
    char **names; /* Avro field name per column */
    char *ns;     /* <prefix>.<db>.<table>, sanitised */
} gen_t;

static bool name_taken(char **names, size_t n, const char *s)
{
    if (strcmp(s, FERRY_AVRO_RAW_FIELD) == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return true;
    return false;
}

/*
 * Field names for all columns: sanitised, then made unique in column order
 * by appending _2, _3, ... to a later duplicate. Deterministic for a given
 * column list.
 */
static int assign_names(gen_t *g)
{
    size_t n = ferry_table_ncolumns(g->t);
    g->names = calloc(n ? n : 1, sizeof(char *));
    if (!g->names)
        return FERRY_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *orig = ferry_table_column(g->t, i)->name;
        size_t cap = strlen(orig) + 32;
        char *nm = malloc(cap);
        if (!nm)
            return FERRY_ERR_NOMEM;
        ferry_avro_schema_name(orig, nm, cap);
        size_t base = strlen(nm);
        for (unsigned k = 2; name_taken(g->names, i, nm); k++)
            snprintf(nm + base, cap - base, "_%u", k);
        g->names[i] = nm;
    }
    return 0;
}

static void put_record_props(ferry_strbuf_t *b, const gen_t *g, const char *rec)
{
    ferry_strbuf_puts(b, ",\"connect.name\":\"");
    ferry_strbuf_puts(b, g->ns);
    ferry_strbuf_puts(b, ".");
    ferry_strbuf_puts(b, rec);
    ferry_strbuf_puts(b, "\",\"ferry.db\":");
    sb_json_str(b, ferry_table_db(g->t));
    ferry_strbuf_puts(b, ",\"ferry.table\":");
    sb_json_str(b, ferry_table_name(g->t));
}

static void put_raw_field(ferry_strbuf_t *b)
{
    ferry_strbuf_puts(b, ",{\"name\":\"" FERRY_AVRO_RAW_FIELD
                         "\",\"type\":{\"type\":\"map\",\"values\":"
                         "\"string\"},\"default\":{},\"ferry.raw\":true}");
}

/* Writes the Value record (all columns) or the Key record (key columns). */
static void put_record(ferry_strbuf_t *b, const gen_t *g, bool key)
{
    size_t n = ferry_table_ncolumns(g->t);
    bool geometry_defined = false, raw = false, first = true;
    ferry_strbuf_puts(b, "{\"type\":\"record\",\"name\":\"");
    ferry_strbuf_puts(b, key ? "Key" : "Value");
    ferry_strbuf_puts(b, "\",\"namespace\":\"");
    ferry_strbuf_puts(b, g->ns);
    ferry_strbuf_puts(b, "\",\"fields\":[");
    if (key) {
        /* key columns in key order; pk_pos values need not be dense */
        unsigned last = 0;
        for (;;) {
            unsigned best = 0;
            size_t bi = 0;
            for (size_t i = 0; i < n; i++) {
                unsigned p = ferry_table_column(g->t, i)->pk_pos;
                if (p > last && (best == 0 || p < best)) {
                    best = p;
                    bi = i;
                }
            }
            if (!best)
                break;
            for (size_t i = bi; i < n; i++) {
                const ferry_column_t *c = ferry_table_column(g->t, i);
                if (c->pk_pos != best)
                    continue;
                if (!first)
                    ferry_strbuf_put(b, ",", 1);
                first = false;
                put_field(b, c, g->names[i], i, &geometry_defined);
                raw |= may_need_raw(c);
            }
            last = best;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            const ferry_column_t *c = ferry_table_column(g->t, i);
            if (!first)
                ferry_strbuf_put(b, ",", 1);
            first = false;
            put_field(b, c, g->names[i], i, &geometry_defined);
            raw |= may_need_raw(c);
        }
    }
    if (raw)
        put_raw_field(b);
    ferry_strbuf_puts(b, "]");
    put_record_props(b, g, key ? "Key" : "Value");
    ferry_strbuf_puts(b, "}");
}

static void put_envelope(ferry_strbuf_t *b, const gen_t *g, const char *value_json)
{
    ferry_strbuf_puts(b, "{\"type\":\"record\",\"name\":\"Envelope\",\"namespace\":\"");
    ferry_strbuf_puts(b, g->ns);
    ferry_strbuf_puts(b, "\",\"fields\":[{\"name\":\"before\",\"type\":[\"null\",");
    ferry_strbuf_puts(b, value_json);
    ferry_strbuf_puts(b, "],\"default\":null},{\"name\":\"after\",\"type\":[\"null\",\"");
    ferry_strbuf_puts(b, g->ns);
    ferry_strbuf_puts(b, ".Value\"],\"default\":null},{\"name\":\"source\",\"type\":");
    ferry_strbuf_puts(b, SOURCE_AVSC);
    ferry_strbuf_puts(b, "},{\"name\":\"op\",\"type\":\"string\"},"
                         "{\"name\":\"ts_ms\",\"type\":[\"null\",\"long\"],\"default\":null},"
                         "{\"name\":\"transaction\",\"type\":[\"null\",");
    ferry_strbuf_puts(b, TXN_BLOCK);
    ferry_strbuf_puts(b, "],\"default\":null}],\"connect.name\":\"");
    ferry_strbuf_puts(b, g->ns);
    ferry_strbuf_puts(b, ".Envelope\",\"connect.version\":1}");
}

void ferry_avro_schema_release(ferry_avro_schemas_t *s)
{
    if (!s)
        return;
    free(s->key_json);
    free(s->value_json);
    free(s->envelope_json);
    memset(s, 0, sizeof(*s));
}

static void gen_free(gen_t *g)
{
    if (g->names)
        for (size_t i = 0; i < ferry_table_ncolumns(g->t); i++)
            free(g->names[i]);
    free(g->names);
    free(g->ns);
}

static bool has_key(const ferry_table_t *t)
{
    for (size_t i = 0; i < ferry_table_ncolumns(t); i++)
        if (ferry_table_column(t, i)->pk_pos)
            return true;
    return false;
}

int ferry_avro_schema_generate(const ferry_table_t *t, const char *prefix,
                               ferry_avro_schemas_t *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    const char *what = ferry_table_name(t);
    if (ferry_table_ncolumns(t) == 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not generate schema for \"%s\": table has no columns", what);
    gen_t g = {.t = t};
    ferry_strbuf_t ns = {0}, key = {0}, val = {0}, env = {0};
    int rc = FERRY_ERR_NOMEM;
    if (dotted_name(prefix && *prefix ? prefix : "ferry", &ns))
        goto fail;
    ferry_strbuf_put(&ns, ".", 1);
    if (dotted_name(ferry_table_db(t), &ns))
        goto fail;
    ferry_strbuf_put(&ns, ".", 1);
    char *tn = malloc(strlen(what) + 12);
    if (!tn)
        goto fail;
    ferry_avro_schema_name(what, tn, strlen(what) + 12);
    ferry_strbuf_puts(&ns, tn);
    free(tn);
    if (ns.oom)
        goto fail;
    g.ns = ns.buf;
    ns.buf = NULL;
    if (assign_names(&g))
        goto fail;
    put_record(&val, &g, false);
    if (has_key(t))
        put_record(&key, &g, true);
    if (val.oom || key.oom)
        goto fail;
    put_envelope(&env, &g, val.buf);
    if (env.oom)
        goto fail;
    out->value_json = val.buf;
    out->key_json = key.buf;
    out->envelope_json = env.buf;
    val.buf = key.buf = env.buf = NULL;
    rc = ferry_avro_schema_fingerprint(out->envelope_json, &out->envelope_fingerprint, errstr,
                                       errstr_size);
    if (!rc && out->key_json)
        rc = ferry_avro_schema_fingerprint(out->key_json, &out->key_fingerprint, errstr,
                                           errstr_size);
    if (rc) {
        ferry_avro_schema_release(out);
        gen_free(&g);
        return rc;
    }
    gen_free(&g);
    return 0;
fail:
    free(ns.buf);
    free(key.buf);
    free(val.buf);
    free(env.buf);
    gen_free(&g);
    return ferry_err_set(errstr, errstr_size, rc,
                         "could not generate schema for \"%s\": out of memory", what);
}
