/*
 * json.h - a small JSON writer for status pages, reports and API bodies.
 *
 * A ferry_json_t is a growable text buffer plus a stack of the containers
 * that are open. Callers emit tokens in document order and the writer puts
 * the commas and colons in, escapes strings, and refuses sequences that would
 * not be JSON (a value where a key is due, an end that does not match, a
 * second top-level value). There is no reader here: ferry parses JSON with
 * jansson, and Avro schema text with the reader in avro_canon.h.
 *
 *   ferry_json_t *j = ferry_json_new();
 *   ferry_json_object_begin(j);
 *   ferry_json_key(j, "table");
 *   ferry_json_string(j, "shop.orders");
 *   ferry_json_key(j, "rows");
 *   ferry_json_uint(j, 1200);
 *   ferry_json_object_end(j);
 *   char *text = ferry_json_steal(j);   // {"table":"shop.orders","rows":1200}
 *   ferry_json_destroy(j);
 *
 * Errors are sticky: every writing function returns 0 or a negative ferry_err_t
 * (FERRY_ERR_NOMEM, or FERRY_ERR_INVALID for a misuse), and after the first
 * error every later call does nothing and returns that same error. So a caller
 * may write a whole document and check once, with ferry_json_error() or by
 * ferry_json_text()/ferry_json_steal() returning NULL. Every function also
 * accepts the NULL of a failed ferry_json_new() and treats it as
 * FERRY_ERR_NOMEM, so that one check at the end covers that case too.
 *
 * Output is compact (no whitespace) and always valid UTF-8: string bytes that
 * are not valid UTF-8 are replaced by U+FFFD.
 *
 * @locality one writer per thread; a ferry_json_t is not shared.
 */
#ifndef FERRY_JSON_H
#define FERRY_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Containers may nest this deep; one more level is FERRY_ERR_INVALID. */
#define FERRY_JSON_MAX_DEPTH 64

typedef struct ferry_json ferry_json_t;

/* Returns an empty writer, or NULL when out of memory. Free with ferry_json_destroy(). */
ferry_json_t *ferry_json_new(void);

/* Frees the writer and its text (unless stolen). NULL is a no-op. */
void ferry_json_destroy(ferry_json_t *j);

int ferry_json_object_begin(ferry_json_t *j);
int ferry_json_object_end(ferry_json_t *j);
int ferry_json_array_begin(ferry_json_t *j);
int ferry_json_array_end(ferry_json_t *j);

/*
 * Writes an object member name; the next call must write its value. key is
 * NUL-terminated and copied (escaped) into the buffer.
 */
int ferry_json_key(ferry_json_t *j, const char *key);

/* Writes a string value; s is copied. A NULL s writes null. */
int ferry_json_string(ferry_json_t *j, const char *s);

/* Writes a string value of len bytes (may contain NUL, written as \u0000). */
int ferry_json_string_len(ferry_json_t *j, const char *s, size_t len);

int ferry_json_int(ferry_json_t *j, int64_t v);
int ferry_json_uint(ferry_json_t *j, uint64_t v);

/*
 * Writes a number in the shortest form that reads back as the same double.
 * NaN and infinities have no JSON form and are written as null.
 */
int ferry_json_double(ferry_json_t *j, double v);

int ferry_json_bool(ferry_json_t *j, bool v);
int ferry_json_null(ferry_json_t *j);

/*
 * Writes text that is already one encoded JSON value (for example another
 * writer's output) as the next value. It is copied verbatim and not checked,
 * beyond refusing an empty or NULL text.
 */
int ferry_json_raw(ferry_json_t *j, const char *json);

/* 0, or the first error any call on this writer returned. */
int ferry_json_error(const ferry_json_t *j);

/*
 * Returns the document, owned by the writer and valid until its next call or
 * ferry_json_destroy(). NULL if an error occurred or the document is not
 * complete (no value yet, or containers still open).
 */
const char *ferry_json_text(const ferry_json_t *j);

/*
 * Like ferry_json_text() but hands the text over: the caller frees it with
 * free(). The writer itself stays allocated, empty and reusable for a new
 * document, and must still be freed with ferry_json_destroy(), whether or
 * not this returned NULL (error or incomplete document).
 */
char *ferry_json_steal(ferry_json_t *j);

#endif
