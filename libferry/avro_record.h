/*
 * avro_record.h - reading one small Avro record with avro-c's generic values.
 *
 * For ferry's own low-volume fixed records (schema-change events, capture
 * checkpoints): the writer's schema comes with the message, so fields the
 * writer did not have are simply absent. Row events never come here
 * (avro_codec.h). avro-c trusts the string lengths it reads (DESIGN.md), so
 * bodies are bounded and come only from ferry's own topics.
 */
#ifndef FERRY_AVRO_RECORD_H
#define FERRY_AVRO_RECORD_H

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value; /* the record, valid until ferry_avro_record_free */
    bool has_value;
} ferry_avro_record_t;

/*
 * Parses writer_schema_json and reads body (at most max_len bytes) into
 * rec->value. Returns 0, or FERRY_ERR_INVALID with avro-c's reason in
 * errstr. Call ferry_avro_record_free either way.
 */
int ferry_avro_record_read(ferry_avro_record_t *rec, const char *writer_schema_json,
                           const uint8_t *body, size_t len, size_t max_len, char *errstr,
                           size_t errstr_size);

void ferry_avro_record_free(ferry_avro_record_t *rec);

/* A field's value: plain, or the non-null branch of a union. False when absent or null. */
bool ferry_avro_record_field(avro_value_t *rec, const char *name, avro_value_t *out);

/* A string field (without avro-c's NUL in the length); NULL when absent. */
const char *ferry_avro_record_string(avro_value_t *rec, const char *name, size_t *len);

/* A long field; false when absent. */
bool ferry_avro_record_long(avro_value_t *rec, const char *name, int64_t *out);

#endif
