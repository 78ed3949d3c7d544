/*
 * wire.c - message framing (see wire.h).
 */
#include "wire.h"

#include "err.h"

size_t ferry_wire_put_confluent(uint8_t out[FERRY_WIRE_CONFLUENT_HDR_LEN], uint32_t schema_id)
{
    out[0] = 0x00;
    out[1] = (uint8_t)(schema_id >> 24);
    out[2] = (uint8_t)(schema_id >> 16);
    out[3] = (uint8_t)(schema_id >> 8);
    out[4] = (uint8_t)schema_id;
    return FERRY_WIRE_CONFLUENT_HDR_LEN;
}

size_t ferry_wire_put_single_object(uint8_t out[FERRY_WIRE_SOE_HDR_LEN], uint64_t fingerprint)
{
    out[0] = 0xC3;
    out[1] = 0x01;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(fingerprint >> (8 * i));
    return FERRY_WIRE_SOE_HDR_LEN;
}

int ferry_wire_parse(const uint8_t *buf, size_t len, ferry_wire_info_t *out)
{
    if (len >= FERRY_WIRE_SOE_HDR_LEN && buf[0] == 0xC3 && buf[1] == 0x01) {
        uint64_t fp = 0;
        for (int i = 0; i < 8; i++)
            fp |= (uint64_t)buf[2 + i] << (8 * i);
        out->format = FERRY_WIRE_SINGLE_OBJECT;
        out->schema_id = 0;
        out->fingerprint = fp;
        out->body = buf + FERRY_WIRE_SOE_HDR_LEN;
        out->body_len = len - FERRY_WIRE_SOE_HDR_LEN;
        return 0;
    }
    if (len >= FERRY_WIRE_CONFLUENT_HDR_LEN && buf[0] == 0x00) {
        out->format = FERRY_WIRE_CONFLUENT;
        out->schema_id = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 |
                         (uint32_t)buf[4];
        out->fingerprint = 0;
        out->body = buf + FERRY_WIRE_CONFLUENT_HDR_LEN;
        out->body_len = len - FERRY_WIRE_CONFLUENT_HDR_LEN;
        return 0;
    }
    return FERRY_ERR_INVALID;
}
