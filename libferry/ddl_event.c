/*
 * ddl_event.c - DdlEvent records through avro-c's generic values.
 */
#include "ddl_event.h"

#include "avro_record.h"

#include "err.h"
#include "ferry_avsc.h"

#include <avro.h>
#include <stdio.h>
#include <string.h>

#define MAX_BODY (64u << 20) /* a table definition is small; refuse absurd input */

const char *ferry_ddl_event_schema(void)
{
    return FERRY_AVSC_DDL_EVENT;
}

/* ---- encoding --------------------------------------------------------- */

static int set_str(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        return -1;
    /* avro-c wants the length including the NUL */
    return avro_value_set_string_len(&f, s ? s : "", (s ? strlen(s) : 0) + 1);
}

/* A ["null", T] field: branch 0 when absent. */
static int set_opt_str(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f, b;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        return -1;
    if (!s)
        return avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
    return avro_value_set_branch(&f, 1, &b) || avro_value_set_string_len(&b, s, strlen(s) + 1);
}

static int set_opt_long(avro_value_t *rec, const char *name, bool has, int64_t v)
{
    avro_value_t f, b;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        return -1;
    if (!has)
        return avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
    return avro_value_set_branch(&f, 1, &b) || avro_value_set_long(&b, v);
}

static int fill(avro_schema_t schema, avro_value_t *rec, const ferry_ddl_event_t *ev,
                const char **bad)
{
    avro_value_t f, item;
    *bad = "connector";
    if (set_str(rec, "connector", ev->connector))
        return -1;
    *bad = "db";
    if (set_str(rec, "db", ev->db))
        return -1;
    *bad = "table";
    if (set_opt_str(rec, "table", ev->table))
        return -1;
    *bad = "kind";
    avro_schema_t kind_schema = avro_schema_record_field_get(schema, "kind");
    int sym =
        kind_schema ? avro_schema_enum_get_by_name(kind_schema, ev->kind ? ev->kind : "") : -1;
    if (sym < 0 || avro_value_get_by_name(rec, "kind", &f, NULL) || avro_value_set_enum(&f, sym))
        return -1;
    *bad = "statement";
    if (set_str(rec, "statement", ev->statement))
        return -1;
    *bad = "ts_ms";
    if (avro_value_get_by_name(rec, "ts_ms", &f, NULL) || avro_value_set_long(&f, ev->ts_ms))
        return -1;
    *bad = "position";
    if (set_opt_long(rec, "server_id", ev->has_server_id, ev->server_id) ||
        set_opt_str(rec, "gtid", ev->gtid) || set_opt_str(rec, "file", ev->file) ||
        set_opt_long(rec, "pos", ev->has_pos, ev->pos) || set_opt_long(rec, "lsn", false, 0) ||
        set_opt_long(rec, "txId", false, 0))
        return -1;
    *bad = "names";
    if (set_opt_str(rec, "renamed_to", ev->renamed_to) ||
        set_opt_long(rec, "value_schema_fingerprint", false, 0) ||
        set_opt_str(rec, "default_db", ev->default_db) ||
        set_opt_str(rec, "sql_mode", ev->sql_mode))
        return -1;
    *bad = "tables";
    if (avro_value_get_by_name(rec, "tables", &f, NULL))
        return -1;
    for (size_t i = 0; i < ev->n_tables; i++)
        if (avro_value_append(&f, &item, NULL) ||
            avro_value_set_string_len(&item, ev->tables[i], strlen(ev->tables[i]) + 1))
            return -1;
    *bad = "definitions";
    if (set_opt_str(rec, "table_definition", ev->table_definition) ||
        set_opt_str(rec, "view_definition", ev->view_definition) ||
        set_opt_long(rec, "chunks", ev->has_chunks, ev->chunks))
        return -1;
    return 0;
}

int ferry_ddl_event_encode(const ferry_ddl_event_t *ev, ferry_avro_buf_t *out, char *errstr,
                           size_t errstr_size)
{
    avro_schema_t schema = NULL;
    avro_value_iface_t *iface = NULL;
    avro_value_t rec;
    int have_rec = 0, rc = 0;
    const char *bad = "schema";
    if (avro_schema_from_json_length(FERRY_AVSC_DDL_EVENT, strlen(FERRY_AVSC_DDL_EVENT), &schema) !=
            0 ||
        !(iface = avro_generic_class_from_schema(schema)) ||
        avro_generic_value_new(iface, &rec) != 0) {
        rc = FERRY_ERR_FATAL;
        goto out;
    }
    have_rec = 1;
    size_t size = 0;
    if (fill(schema, &rec, ev, &bad) != 0 || avro_value_sizeof(&rec, &size) != 0 ||
        ferry_avro_buf_reserve(out, size) != 0) {
        rc = FERRY_ERR_INVALID;
        goto out;
    }
    avro_writer_t w = avro_writer_memory((char *)out->data + out->len, (int64_t)size);
    if (!w || avro_value_write(w, &rec) != 0) {
        if (w)
            avro_writer_free(w);
        bad = "body";
        rc = FERRY_ERR_FATAL;
        goto out;
    }
    avro_writer_free(w);
    out->len += size;
out:
    if (rc != 0)
        ferry_err_set(errstr, errstr_size, rc,
                      "could not encode the schema-change event of \"%s.%s\" (field %s): %s",
                      ev->db ? ev->db : "", ev->table ? ev->table : "", bad, avro_strerror());
    if (have_rec)
        avro_value_decref(&rec);
    if (iface)
        avro_value_iface_decref(iface);
    if (schema)
        avro_schema_decref(schema);
    return rc;
}

/* ---- decoding --------------------------------------------------------- */

/* A string field copied into the arena; NULL when absent. */
static const char *get_str(avro_value_t *rec, const char *name, ferry_arena_t *a)
{
    size_t n;
    const char *s = ferry_avro_record_string(rec, name, &n);
    return s ? ferry_arena_strndup(a, s, n) : NULL;
}

static int extract(avro_schema_t schema, avro_value_t *rec, ferry_arena_t *a, ferry_ddl_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->connector = get_str(rec, "connector", a);
    ev->db = get_str(rec, "db", a);
    ev->table = get_str(rec, "table", a);
    ev->statement = get_str(rec, "statement", a);
    avro_value_t f;
    int sym;
    avro_schema_t kind_schema = avro_schema_record_field_get(schema, "kind");
    if (!kind_schema || avro_value_get_by_name(rec, "kind", &f, NULL) != 0 ||
        avro_value_get_enum(&f, &sym) != 0)
        return -1;
    ev->kind = ferry_arena_strdup(a, avro_schema_enum_get(kind_schema, sym));
    ferry_avro_record_long(rec, "ts_ms", &ev->ts_ms);
    ev->has_server_id = ferry_avro_record_long(rec, "server_id", &ev->server_id);
    ev->gtid = get_str(rec, "gtid", a);
    ev->file = get_str(rec, "file", a);
    ev->has_pos = ferry_avro_record_long(rec, "pos", &ev->pos);
    ev->renamed_to = get_str(rec, "renamed_to", a);
    ev->default_db = get_str(rec, "default_db", a);
    ev->sql_mode = get_str(rec, "sql_mode", a);
    ev->table_definition = get_str(rec, "table_definition", a);
    ev->view_definition = get_str(rec, "view_definition", a);
    ev->has_chunks = ferry_avro_record_long(rec, "chunks", &ev->chunks);
    if (avro_value_get_by_name(rec, "tables", &f, NULL) == 0) {
        size_t n = 0;
        avro_value_get_size(&f, &n);
        const char **tables = n ? ferry_arena_alloc(a, n * sizeof(*tables)) : NULL;
        for (size_t i = 0; i < n && tables; i++) {
            avro_value_t item;
            if (avro_value_get_by_index(&f, i, &item, NULL) != 0)
                return -1;
            const char *t;
            size_t n_t;
            tables[i] = avro_value_get_string(&item, &t, &n_t) == 0
                            ? ferry_arena_strndup(a, t, n_t ? n_t - 1 : 0)
                            : NULL;
        }
        ev->tables = tables;
        ev->n_tables = tables ? n : 0;
    }
    return ev->db && ev->kind ? 0 : -1;
}

int ferry_ddl_event_decode(const char *writer_schema_json, const uint8_t *body, size_t len,
                           ferry_arena_t *arena, ferry_ddl_event_t *ev, char *errstr,
                           size_t errstr_size)
{
    ferry_avro_record_t rec;
    char why[300];
    int rc =
        ferry_avro_record_read(&rec, writer_schema_json, body, len, MAX_BODY, why, sizeof(why));
    if (rc == 0 && extract(rec.schema, &rec.value, arena, ev) != 0) {
        rc = FERRY_ERR_INVALID;
        snprintf(why, sizeof(why), "a field is missing or of the wrong type");
    }
    if (rc != 0)
        ferry_err_set(errstr, errstr_size, rc,
                      "could not decode a schema-change event of %zu bytes: %s", len, why);
    ferry_avro_record_free(&rec);
    return rc;
}

int ferry_ddl_event_from_message(ferry_registry_t *reg, const void *value, size_t value_len,
                                 ferry_arena_t *arena, ferry_ddl_event_t *ev, char *errstr,
                                 size_t errstr_size)
{
    ferry_wire_info_t info;
    const char *schema;
    if (!value || ferry_wire_parse(value, value_len, &info) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "the message has neither Confluent nor single-object framing");
    int rc = ferry_registry_schema_for(reg, &info, &schema, errstr, errstr_size);
    if (rc == 0)
        rc = ferry_ddl_event_decode(schema, info.body, info.body_len, arena, ev, errstr,
                                    errstr_size);
    return rc;
}
