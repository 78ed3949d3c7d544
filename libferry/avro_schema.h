/*
 * avro_schema.h - Avro schemas for a table's topic, shaped like Debezium's.
 *
 * From a table's columns (row.h) this module writes three schemas:
 *
 *   <prefix>.<db>.<table>.Key       the key columns (pk_pos order)
 *   <prefix>.<db>.<table>.Value     every column
 *   <prefix>.<db>.<table>.Envelope  {before, after, source, op, ts_ms,
 *                                    transaction}, the topic's value schema
 *
 * Column types map as Debezium maps them (schemas/TYPE-MAPPING.md is the
 * table). Every field also carries "ferry.*" properties (original column
 * name, ferry type, source type, ordinal, length, precision, scale, fsp,
 * charset, members, key position), so a consumer that has only the schema
 * rebuilds the exact column list and value.
 *
 * A value that the Debezium-shaped field cannot carry (a MySQL zero date
 * such as '0000-00-00' or '2024-00-00', PostgreSQL's 'infinity', numeric
 * 'NaN' in a decimal column, a date outside the Avro type's range) is
 * written as null in its field and its exact text goes into the record's
 * last field, FERRY_AVRO_RAW_FIELD, a map from Avro field name to text.
 * Debezium consumers see what Debezium would give them (null); ferry
 * consumers lose nothing. The map field exists only in records that have a
 * column of a type that can hold such values (DATE, DATETIME, TIMESTAMP,
 * DECIMAL with a precision), and those columns are always ["null", T].
 *
 * Names that are not valid Avro names are rewritten deterministically
 * (ferry_avro_schema_name) and de-duplicated within a record.
 */
#ifndef FERRY_AVRO_SCHEMA_H
#define FERRY_AVRO_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "row.h"

/* Name of the per-record map of values only their text can carry. */
#define FERRY_AVRO_RAW_FIELD "__ferry_raw"

/* The generated schemas; every string is malloc'd and NUL-terminated. */
typedef struct {
    char *key_json;                /* NULL when the table has no key column */
    char *value_json;              /* the Value record on its own */
    char *envelope_json;           /* the Envelope (embeds Value and Source) */
    uint64_t key_fingerprint;      /* CRC-64-AVRO of key_json's canonical form; 0 without key */
    uint64_t envelope_fingerprint; /* same for envelope_json */
} ferry_avro_schemas_t;

/*
 * Generates the Key, Value and Envelope schemas of table t for topic prefix
 * prefix (e.g. "ferry.shop.fwd"). On success fills *out (free it with
 * ferry_avro_schema_release) and returns 0. On failure returns a negative
 * ferry_err_t with the reason in errstr and leaves *out zeroed.
 */
int ferry_avro_schema_generate(const ferry_table_t *t, const char *prefix,
                               ferry_avro_schemas_t *out, char *errstr, size_t errstr_size);

/* Frees the strings of s and zeroes it. NULL is a no-op. */
void ferry_avro_schema_release(ferry_avro_schemas_t *s);

/*
 * The Source record's JSON, byte for byte the content of schemas/source.avsc
 * (a unit test holds the two together). Static storage.
 */
const char *ferry_avro_schema_source(void);

/*
 * Turns one name part (a column, db, table or project name) into a valid
 * Avro name ([A-Za-z_][A-Za-z0-9_]*). A valid name is kept. Otherwise each
 * invalid character (a whole UTF-8 sequence counts as one) becomes '_', a '_'
 * goes in front of a leading digit, and "_" plus 8 hex digits of the
 * CRC-64-AVRO of the original bytes is appended, so different originals give
 * different names. Returns 0, or FERRY_ERR_TRUNCATED when out_size is less
 * than strlen(in) + 12.
 */
int ferry_avro_schema_name(const char *in, char *out, size_t out_size);

#endif
