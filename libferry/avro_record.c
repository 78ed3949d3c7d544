/*
 * avro_record.c - small Avro records through avro-c (see avro_record.h).
 */
#include "avro_record.h"

#include "err.h"

#include <string.h>

int ferry_avro_record_read(ferry_avro_record_t *rec, const char *writer_schema_json,
                           const uint8_t *body, size_t len, size_t max_len, char *errstr,
                           size_t errstr_size)
{
    memset(rec, 0, sizeof(*rec));
    if (len > max_len)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "%zu bytes is more than a record of this kind may have", len);
    if (avro_schema_from_json_length(writer_schema_json, strlen(writer_schema_json),
                                     &rec->schema) != 0 ||
        !(rec->iface = avro_generic_class_from_schema(rec->schema)) ||
        avro_generic_value_new(rec->iface, &rec->value) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID, "bad writer schema: %s",
                             avro_strerror());
    rec->has_value = true;
    avro_reader_t r = avro_reader_memory((const char *)body, (int64_t)len);
    int rc = r && avro_value_read(r, &rec->value) == 0 ? 0 : FERRY_ERR_INVALID;
    if (rc != 0)
        ferry_err_set(errstr, errstr_size, rc, "%s", avro_strerror());
    if (r)
        avro_reader_free(r);
    return rc;
}

void ferry_avro_record_free(ferry_avro_record_t *rec)
{
    if (rec->has_value)
        avro_value_decref(&rec->value);
    if (rec->iface)
        avro_value_iface_decref(rec->iface);
    if (rec->schema)
        avro_schema_decref(rec->schema);
    memset(rec, 0, sizeof(*rec));
}

bool ferry_avro_record_field(avro_value_t *rec, const char *name, avro_value_t *out)
{
    avro_value_t f;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        return false;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        if (avro_value_get_current_branch(&f, out) != 0)
            return false;
    } else {
        *out = f;
    }
    return avro_value_get_type(out) != AVRO_NULL;
}

const char *ferry_avro_record_string(avro_value_t *rec, const char *name, size_t *len)
{
    avro_value_t v;
    const char *s;
    size_t n;
    if (!ferry_avro_record_field(rec, name, &v) || avro_value_get_string(&v, &s, &n) != 0)
        return NULL;
    *len = n ? n - 1 : 0;
    return s;
}

bool ferry_avro_record_long(avro_value_t *rec, const char *name, int64_t *out)
{
    avro_value_t v;
    return ferry_avro_record_field(rec, name, &v) && avro_value_get_long(&v, out) == 0;
}
