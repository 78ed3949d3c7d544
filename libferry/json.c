/*
 * json.c - the JSON writer behind status pages and reports (see json.h).
 *
 * The writer keeps one frame per open container: what it is, whether it has
 * members yet (so the next one needs a comma) and, for objects, whether a key
 * is waiting for its value. Every token goes through begin_value(), which is
 * the one place that decides whether a value may appear here.
 */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

typedef struct {
    char kind;       /* '{' or '[' */
    bool has_items;  /* a member was written: the next one needs a comma */
    bool want_value; /* objects: a key was written, its value is due */
} json_frame_t;

struct ferry_json {
    char *buf; /* always NUL-terminated once allocated */
    size_t len;
    size_t cap;
    int err;   /* sticky: first error, or 0 */
    bool done; /* the top-level value is complete */
    int depth;
    json_frame_t stack[FERRY_JSON_MAX_DEPTH];
};

ferry_json_t *ferry_json_new(void)
{
    ferry_json_t *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->cap = 256;
    j->buf = malloc(j->cap);
    if (!j->buf) {
        free(j);
        return NULL;
    }
    j->buf[0] = '\0';
    return j;
}

void ferry_json_destroy(ferry_json_t *j)
{
    if (!j)
        return;
    free(j->buf);
    free(j);
}

static int fail(ferry_json_t *j, int err)
{
    j->err = err;
    return err;
}

/* Makes room for n more bytes plus the terminating NUL. */
static int reserve(ferry_json_t *j, size_t n)
{
    if (j->len + n + 1 <= j->cap)
        return 0;
    size_t cap = j->cap ? j->cap : 256;
    while (cap < j->len + n + 1) {
        if (cap > SIZE_MAX / 2)
            return fail(j, FERRY_ERR_NOMEM);
        cap *= 2;
    }
    char *nb = realloc(j->buf, cap);
    if (!nb)
        return fail(j, FERRY_ERR_NOMEM);
    j->buf = nb;
    j->cap = cap;
    return 0;
}

static int put(ferry_json_t *j, const char *s, size_t n)
{
    if (reserve(j, n) < 0)
        return j->err;
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
    return 0;
}

static int putc_(ferry_json_t *j, char c)
{
    return put(j, &c, 1);
}

/*
 * Checks that a value may be written now and writes the comma before it if
 * one is needed. Marks the enclosing container as having a member.
 */
static int begin_value(ferry_json_t *j)
{
    if (!j)
        return FERRY_ERR_NOMEM;
    if (j->err)
        return j->err;
    if (j->depth == 0)
        return j->done ? fail(j, FERRY_ERR_INVALID) : 0;
    json_frame_t *f = &j->stack[j->depth - 1];
    if (f->kind == '{') {
        if (!f->want_value)
            return fail(j, FERRY_ERR_INVALID);
        f->want_value = false;
        return 0;
    }
    if (f->has_items && putc_(j, ',') < 0)
        return j->err;
    f->has_items = true;
    return 0;
}

/* Called after a complete value: at the top level the document is then done. */
static int end_value(ferry_json_t *j)
{
    if (!j->err && j->depth == 0)
        j->done = true;
    return j->err;
}

/*
 * Length of the valid UTF-8 sequence starting at s (at most n bytes), or the
 * negated length of its longest valid prefix (at least 1) when the sequence
 * is broken, so that a caller can replace exactly that prefix.
 */
static long utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return -1;
    }
    size_t i = 1;
    for (; i < need && i < n; i++) {
        unsigned char b = s[i];
        unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
        if (b < min || b > max)
            return -(long)i;
    }
    return i == need ? (long)need : -(long)i;
}

static int put_escaped(ferry_json_t *j, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    if (putc_(j, '"') < 0)
        return j->err;
    size_t i = 0;
    while (i < len) {
        /* copy the longest run that needs no escaping in one go */
        size_t run = i;
        while (run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i && put(j, (const char *)s + i, run - i) < 0)
            return j->err;
        i = run;
        if (i >= len)
            break;
        unsigned char c = s[i];
        if (c >= 0x80) {
            long n = utf8_sequence(s + i, len - i);
            if (n > 0) {
                if (put(j, (const char *)s + i, (size_t)n) < 0)
                    return j->err;
                i += (size_t)n;
            } else {
                if (put(j, "\xEF\xBF\xBD", 3) < 0)
                    return j->err;
                i += (size_t)-n;
            }
            continue;
        }
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t esc_len = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xF];
            esc_len = 6;
        }
        if (put(j, esc, esc_len) < 0)
            return j->err;
        i++;
    }
    return putc_(j, '"');
}

static int container_begin(ferry_json_t *j, char kind)
{
    int rc = begin_value(j);
    if (rc < 0)
        return rc;
    if (j->depth == FERRY_JSON_MAX_DEPTH)
        return fail(j, FERRY_ERR_INVALID);
    if (putc_(j, kind) < 0)
        return j->err;
    j->stack[j->depth++] = (json_frame_t){.kind = kind};
    return 0;
}

static int container_end(ferry_json_t *j, char kind)
{
    if (!j)
        return FERRY_ERR_NOMEM;
    if (j->err)
        return j->err;
    if (j->depth == 0)
        return fail(j, FERRY_ERR_INVALID);
    json_frame_t *f = &j->stack[j->depth - 1];
    if (f->kind != kind || f->want_value)
        return fail(j, FERRY_ERR_INVALID);
    if (putc_(j, kind == '{' ? '}' : ']') < 0)
        return j->err;
    j->depth--;
    return end_value(j);
}

int ferry_json_object_begin(ferry_json_t *j)
{
    return container_begin(j, '{');
}

int ferry_json_object_end(ferry_json_t *j)
{
    return container_end(j, '{');
}

int ferry_json_array_begin(ferry_json_t *j)
{
    return container_begin(j, '[');
}

int ferry_json_array_end(ferry_json_t *j)
{
    return container_end(j, '[');
}

int ferry_json_key(ferry_json_t *j, const char *key)
{
    if (!j)
        return FERRY_ERR_NOMEM;
    if (j->err)
        return j->err;
    if (!key || j->depth == 0)
        return fail(j, FERRY_ERR_INVALID);
    json_frame_t *f = &j->stack[j->depth - 1];
    if (f->kind != '{' || f->want_value)
        return fail(j, FERRY_ERR_INVALID);
    if (f->has_items && putc_(j, ',') < 0)
        return j->err;
    f->has_items = true;
    if (put_escaped(j, key, strlen(key)) < 0 || putc_(j, ':') < 0)
        return j->err;
    f->want_value = true;
    return 0;
}

int ferry_json_string_len(ferry_json_t *j, const char *s, size_t len)
{
    if (!j)
        return FERRY_ERR_NOMEM;
    if (j->err)
        return j->err;
    if (!s && len)
        return fail(j, FERRY_ERR_INVALID);
    if (begin_value(j) < 0 || put_escaped(j, s ? s : "", len) < 0)
        return j->err;
    return end_value(j);
}

int ferry_json_string(ferry_json_t *j, const char *s)
{
    if (!s)
        return ferry_json_null(j);
    return ferry_json_string_len(j, s, strlen(s));
}

/* Writes one scalar token that needs no escaping. */
static int put_token(ferry_json_t *j, const char *text, size_t len)
{
    int rc = begin_value(j);
    if (rc < 0)
        return rc;
    if (put(j, text, len) < 0)
        return j->err;
    return end_value(j);
}

int ferry_json_int(ferry_json_t *j, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRId64, v);
    return put_token(j, num, (size_t)n);
}

int ferry_json_uint(ferry_json_t *j, uint64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRIu64, v);
    return put_token(j, num, (size_t)n);
}

int ferry_json_double(ferry_json_t *j, double v)
{
    if (!isfinite(v))
        return ferry_json_null(j);
    /* 15 significant digits are exact for most values people write; 17
     * always round-trip. Take the shorter one that reads back the same. */
    char num[32];
    int n = snprintf(num, sizeof(num), "%.15g", v);
    if (strtod(num, NULL) != v)
        n = snprintf(num, sizeof(num), "%.17g", v);
    /* a locale with a decimal comma must not leak into JSON */
    for (char *p = num; *p; p++) {
        if (*p == ',')
            *p = '.';
    }
    return put_token(j, num, (size_t)n);
}

int ferry_json_bool(ferry_json_t *j, bool v)
{
    return v ? put_token(j, "true", 4) : put_token(j, "false", 5);
}

int ferry_json_null(ferry_json_t *j)
{
    return put_token(j, "null", 4);
}

int ferry_json_raw(ferry_json_t *j, const char *json)
{
    if (!j)
        return FERRY_ERR_NOMEM;
    if (j->err)
        return j->err;
    if (!json || !*json)
        return fail(j, FERRY_ERR_INVALID);
    return put_token(j, json, strlen(json));
}

int ferry_json_error(const ferry_json_t *j)
{
    return j ? j->err : FERRY_ERR_NOMEM;
}

const char *ferry_json_text(const ferry_json_t *j)
{
    if (!j || j->err || !j->done)
        return NULL;
    return j->buf;
}

char *ferry_json_steal(ferry_json_t *j)
{
    if (!j || j->err || !j->done)
        return NULL;
    char *text = j->buf;
    j->buf = NULL;
    j->len = 0;
    j->cap = 0;
    j->done = false;
    j->depth = 0;
    return text;
}
