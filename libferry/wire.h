/*
 * wire.h - the two framings a ferry Kafka message value can have.
 *
 *  Confluent:           0x00, schema id (4 bytes big-endian), Avro body
 *  Avro single-object:  0xC3 0x01, CRC-64-AVRO fingerprint of the schema's
 *                       Parsing Canonical Form (8 bytes little-endian), Avro body
 *
 * Which one a producer writes depends on whether schema.registry.url is set;
 * a consumer recognises either from the first bytes.
 */
#ifndef FERRY_WIRE_H
#define FERRY_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define FERRY_WIRE_CONFLUENT_HDR_LEN 5
#define FERRY_WIRE_SOE_HDR_LEN       10

typedef enum {
    FERRY_WIRE_CONFLUENT = 1,
    FERRY_WIRE_SINGLE_OBJECT = 2,
} ferry_wire_format_t;

typedef struct {
    ferry_wire_format_t format;
    uint32_t schema_id;   /* FERRY_WIRE_CONFLUENT only */
    uint64_t fingerprint; /* FERRY_WIRE_SINGLE_OBJECT only */
    const uint8_t *body;  /* points into the parsed buffer */
    size_t body_len;
} ferry_wire_info_t;

/* Writes the 5-byte Confluent header; returns FERRY_WIRE_CONFLUENT_HDR_LEN. */
size_t ferry_wire_put_confluent(uint8_t out[FERRY_WIRE_CONFLUENT_HDR_LEN], uint32_t schema_id);

/* Writes the 10-byte single-object header; returns FERRY_WIRE_SOE_HDR_LEN. */
size_t ferry_wire_put_single_object(uint8_t out[FERRY_WIRE_SOE_HDR_LEN], uint64_t fingerprint);

/*
 * Recognises the framing of buf. Returns 0 and fills *out, or
 * FERRY_ERR_INVALID if buf starts with neither header (or is too short).
 */
int ferry_wire_parse(const uint8_t *buf, size_t len, ferry_wire_info_t *out);

#endif
