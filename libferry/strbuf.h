/*
 * strbuf.h - a growable NUL-terminated string, hex digits and UTF-8 encoding.
 *
 * Small text builders appear wherever ferry writes JSON schemas, SQL or
 * canonical forms. Appends never fail loudly: an allocation failure sets
 * oom and later appends do nothing, so a caller builds the whole text and
 * checks oom once at the end.
 */
#ifndef FERRY_STRBUF_H
#define FERRY_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *buf; /* NULL until the first append; malloc'd, the owner frees */
    size_t len, cap;
    bool oom;
} ferry_strbuf_t;

#define FERRY_STRBUF_INIT                                                                          \
    {                                                                                              \
        NULL, 0, 0, false                                                                          \
    }

void ferry_strbuf_put(ferry_strbuf_t *b, const char *s, size_t n);
void ferry_strbuf_puts(ferry_strbuf_t *b, const char *s);
void ferry_strbuf_printf(ferry_strbuf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Frees the text and resets b to empty. */
void ferry_strbuf_free(ferry_strbuf_t *b);

/* Value of a hexadecimal digit, or -1 when c is not one. */
int ferry_hex_digit(int c);

/*
 * Writes code point cp (at most 0x10FFFF, not a surrogate: the caller checks)
 * as UTF-8 at out, which has room for 4 bytes. Returns the bytes written.
 */
size_t ferry_utf8_put(char *out, uint32_t cp);

#endif
