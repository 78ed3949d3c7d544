/*
 * util.c - small helpers of ferry-consumer: the fatal-error latch,
 * running a statement on the destination, message headers, and the cache
 * of codecs compiled from writer schemas.
 */
#include "consumer.h"

#include "err.h"
#include "log.h"
#include "wire.h"

#include <mysql.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Latches the first error that stops the loop. main.c logs it once the loop
 * has ended: the link stops (the process exits 1), or, when the destination
 * was lost, the consumer starts over.
 */
void cons_fail(consumer_t *c, const char *fmt, ...)
{
    if (c->fatal)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->fatal_text, sizeof(c->fatal_text), fmt, ap);
    va_end(ap);
    c->fatal = 1;
}

int cons_exec(consumer_t *c, const char *sql, char *errstr, size_t errstr_size)
{
    int rc = 0;
    c->exec_errno = 0;
    if (mysql_real_query(c->my, sql, strlen(sql)) != 0) {
        c->exec_errno = mysql_errno(c->my);
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "%s (errno %u, sqlstate %s)",
                           mysql_error(c->my), mysql_errno(c->my), mysql_sqlstate(c->my));
    }
    /* drain every result so the connection is ready for the next statement */
    do {
        MYSQL_RES *res = mysql_store_result(c->my);
        if (res)
            mysql_free_result(res);
    } while (rc == 0 && mysql_next_result(c->my) == 0);
    return rc;
}

const char *cons_msg_header(const ferry_kafka_msg_t *m, const char *name, char *buf, size_t size)
{
    const char *hname;
    const void *val;
    size_t len;
    for (size_t i = 0; ferry_kafka_msg_header(m, i, &hname, &val, &len) == 0; i++) {
        if (strcmp(hname, name) != 0 || !val)
            continue;
        if (len >= size)
            len = size - 1;
        memcpy(buf, val, len);
        buf[len] = '\0';
        return buf;
    }
    return NULL;
}

/* The codec of the writer schema a message names, compiled once per schema. */
ferry_avro_codec_t *cons_codec_for(consumer_t *c, const void *buf, size_t len, const uint8_t **body,
                                   size_t *body_len, char *errstr, size_t errstr_size)
{
    ferry_wire_info_t info;
    if (!buf || ferry_wire_parse(buf, len, &info) != 0) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                      "the message has neither Confluent nor single-object framing");
        return NULL;
    }
    *body = info.body;
    *body_len = info.body_len;
    uint64_t id = info.format == FERRY_WIRE_CONFLUENT ? ((uint64_t)1 << 63) | info.schema_id
                                                      : info.fingerprint;
    for (size_t i = 0; i < c->ncodecs; i++)
        if (c->codecs[i].id == id)
            return c->codecs[i].codec;
    const char *json;
    ferry_avro_codec_t *codec;
    if (ferry_registry_schema_for(c->reg, &info, &json, errstr, errstr_size) != 0 ||
        ferry_avro_codec_new(json, strlen(json), &codec, errstr, errstr_size) != 0)
        return NULL;
    if (c->ncodecs == c->codecs_cap) {
        size_t cap = c->codecs_cap ? c->codecs_cap * 2 : 16;
        codec_slot_t *n = realloc(c->codecs, cap * sizeof(*n));
        if (!n) {
            ferry_avro_codec_destroy(codec);
            ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
            return NULL;
        }
        c->codecs = n;
        c->codecs_cap = cap;
    }
    c->codecs[c->ncodecs].id = id;
    c->codecs[c->ncodecs++].codec = codec;
    return codec;
}
