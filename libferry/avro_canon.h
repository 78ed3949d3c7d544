/*
 * avro_canon.h - Avro Parsing Canonical Form and CRC-64-AVRO fingerprints.
 *
 * avro-c 1.11.1 has neither (avro_schema_to_json is not canonical), so ferry
 * computes them itself. The fingerprint names a schema in the single-object
 * encoding (wire.h) and keys the ferry.<project>.schemas topic.
 */
#ifndef FERRY_AVRO_CANON_H
#define FERRY_AVRO_CANON_H

#include <stddef.h>
#include <stdint.h>

/* CRC-64-AVRO (the Rabin fingerprint of the Avro specification) of buf. */
uint64_t ferry_avro_crc64(const void *buf, size_t len);

/*
 * Turns a schema's JSON text into its Parsing Canonical Form. On success
 * returns 0 and *out is a malloc'd NUL-terminated string the caller frees.
 * On failure returns a negative ferry_err_t and writes the reason to errstr.
 */
int ferry_avro_canonical_form(const char *schema_json, char **out, char *errstr,
                              size_t errstr_size);

/* Canonical form, then CRC-64-AVRO of it, in one call. */
int ferry_avro_schema_fingerprint(const char *schema_json, uint64_t *fingerprint, char *errstr,
                                  size_t errstr_size);

#endif
