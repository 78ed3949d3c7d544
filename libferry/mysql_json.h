/*
 * mysql_json.h - MySQL's binary JSON (5.7+/8.0 JSON columns) to JSON text.
 *
 * MySQL stores a JSON column, and writes it into row events, in its own
 * binary form: a type byte, then objects and arrays with offset tables,
 * inlined small scalars, length-prefixed strings and "opaque" values that
 * carry a MySQL column type (DECIMAL, DATE, TIME, DATETIME, BLOB, ...).
 * This module renders it as the text MySQL itself prints for the column:
 * '{"a": 1, "b": [true, null]}' with ", " and ": " separators, keys in
 * stored order, DECIMAL as a number, temporal values as quoted strings with
 * six fraction digits, other opaque values as "base64:typeNN:<base64>".
 * MariaDB stores JSON as text (LONGTEXT) and does not need this.
 */
#ifndef FERRY_MYSQL_JSON_H
#define FERRY_MYSQL_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/*
 * Appends the text of the binary JSON document buf[0..len) to out. An empty
 * document is JSON null. Returns 0, or FERRY_ERR_INVALID for a malformed
 * document (offsets out of range, unknown type, nesting deeper than 150) with
 * the reason in errstr, or FERRY_ERR_NOMEM. Never reads outside buf.
 */
int ferry_mysql_json_to_text(const uint8_t *buf, size_t len, ferry_strbuf_t *out, char *errstr,
                             size_t errstr_size);

#endif
