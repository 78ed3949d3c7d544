/*
 * binlog_int.h - private to binlog*.c: a bounds-checked byte reader, the
 * decoder's state and the functions the binlog files share.
 *
 * Every read of event bytes goes through bl_reader_t. A short read sets
 * r->bad and yields zeros / NULL instead of touching memory past the end, so
 * a parser reads a whole section and checks r->bad once; malformed input can
 * produce an error but never an out-of-bounds access.
 */
#ifndef FERRY_BINLOG_INT_H
#define FERRY_BINLOG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "binlog.h"

typedef struct {
    const uint8_t *p, *end;
    bool bad;
} bl_reader_t;

static inline bl_reader_t bl_reader(const uint8_t *p, size_t len)
{
    bl_reader_t r = {p, p + len, false};
    return r;
}

static inline size_t bl_left(const bl_reader_t *r)
{
    return r->bad ? 0 : (size_t)(r->end - r->p);
}

/* n bytes, or NULL (and r->bad) when fewer are left. */
static inline const uint8_t *bl_bytes(bl_reader_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

/* Little-endian unsigned integer of n <= 8 bytes. */
static inline uint64_t bl_uint(bl_reader_t *r, size_t n)
{
    const uint8_t *p = bl_bytes(r, n);
    uint64_t v = 0;
    if (!p)
        return 0;
    for (size_t i = n; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

/* Big-endian unsigned integer of n <= 8 bytes. */
static inline uint64_t bl_uint_be(bl_reader_t *r, size_t n)
{
    const uint8_t *p = bl_bytes(r, n);
    uint64_t v = 0;
    if (!p)
        return 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline uint8_t bl_u8(bl_reader_t *r)
{
    return (uint8_t)bl_uint(r, 1);
}

/*
 * MySQL's length-encoded integer (net_field_length): < 251 in one byte, 252
 * + 2 bytes, 253 + 3, 254 + 8. 251 (NULL) reads as 0 and sets *is_null when
 * given, else counts as malformed.
 */
static inline uint64_t bl_packed(bl_reader_t *r, bool *is_null)
{
    uint8_t b = bl_u8(r);
    if (is_null)
        *is_null = false;
    if (b < 251)
        return b;
    if (b == 251) {
        if (is_null)
            *is_null = true;
        else
            r->bad = true;
        return 0;
    }
    if (b == 252)
        return bl_uint(r, 2);
    if (b == 253)
        return bl_uint(r, 3);
    if (b == 254)
        return bl_uint(r, 8);
    r->bad = true;
    return 0;
}

/* ---- decoder state -------------------------------------------------------- */

typedef struct bl_table bl_table_t;

/* Open-addressing map table id -> table map. */
typedef struct {
    uint64_t *keys;
    bl_table_t **vals;
    size_t cap, n;
} bl_table_map_t;

typedef struct bl_iconv bl_iconv_t;

struct ferry_binlog_decoder {
    bool have_fde;
    int checksum; /* -1 unknown, 0 none, 1 CRC32 */
    bool mariadb;
    uint16_t binlog_version;
    uint8_t post_header[256]; /* post-header length per type code, 0 = unknown */
    bl_table_map_t tables;
    bl_table_t *retired;      /* replaced or dropped since the last reset */
    bl_table_t *retired_prev; /* from the reset before: freed at the next one */
    bl_iconv_t *iconv;        /* converters opened so far */
};

/* The private side of a ferry_binlog_table_t (which is its first member). */
struct bl_table {
    ferry_binlog_table_t pub;
    ferry_table_t *table;
    ferry_binlog_column_t *cols;
    char ***members; /* per column: ENUM/SET member strings (UTF-8, malloc'd), or NULL */
    uint32_t *n_members;
    uint8_t *body; /* copy of the TABLE_MAP body, to recognise a repeat */
    size_t body_len;
    bl_table_t *next_retired;
};

/* Context of one event's decoding, for error messages and allocation. */
typedef struct {
    ferry_binlog_decoder_t *d;
    ferry_arena_t *arena;
    const ferry_binlog_event_t *ev;
    uint32_t start_pos;
    char *errstr;
    size_t errstr_size;
} bl_ctx_t;

/* Formats 'could not decode <TYPE> event at position N: <why>'; returns err. */
int ferry_binlog__fail(const bl_ctx_t *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* binlog_tablemap.c */
int ferry_binlog__table_map(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev);
void ferry_binlog__table_free(bl_table_t *t);
bl_table_t *ferry_binlog__table_get(const ferry_binlog_decoder_t *d, uint64_t id);
void ferry_binlog__tables_reset(ferry_binlog_decoder_t *d);
void ferry_binlog__tables_free(ferry_binlog_decoder_t *d);

/* binlog_rows.c */
int ferry_binlog__rows(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev);

/* binlog_charset.c */
typedef struct {
    const char *name; /* MySQL charset name */
    uint8_t mbmaxlen;
} bl_charset_t;

/* Charset of a collation id, or NULL when unknown. */
const bl_charset_t *ferry_binlog__charset(unsigned collation_id);

/*
 * Text in charset cs to UTF-8: *out points at the input when it already is
 * UTF-8 (or ASCII), else at arena memory. 0, FERRY_ERR_INVALID (bytes not
 * valid in cs, charset iconv does not know) or FERRY_ERR_NOMEM.
 */
int ferry_binlog__to_utf8(ferry_binlog_decoder_t *d, ferry_arena_t *arena, const bl_charset_t *cs,
                          const uint8_t *in, size_t len, const char **out, size_t *out_len);
void ferry_binlog__iconv_free(ferry_binlog_decoder_t *d);

/* Table-id width from a post-header length (6 -> 4 bytes, else 6). */
static inline size_t bl_table_id_len(const ferry_binlog_decoder_t *d, unsigned type)
{
    return d->post_header[type] == 6 ? 4 : 6;
}

/* MySQL column type codes used across the files. */
enum {
    BL_T_DECIMAL = 0,
    BL_T_TINY = 1,
    BL_T_SHORT = 2,
    BL_T_LONG = 3,
    BL_T_FLOAT = 4,
    BL_T_DOUBLE = 5,
    BL_T_NULL = 6,
    BL_T_TIMESTAMP = 7,
    BL_T_LONGLONG = 8,
    BL_T_INT24 = 9,
    BL_T_DATE = 10,
    BL_T_TIME = 11,
    BL_T_DATETIME = 12,
    BL_T_YEAR = 13,
    BL_T_NEWDATE = 14,
    BL_T_VARCHAR = 15,
    BL_T_BIT = 16,
    BL_T_TIMESTAMP2 = 17,
    BL_T_DATETIME2 = 18,
    BL_T_TIME2 = 19,
    BL_T_VECTOR = 242,
    BL_T_JSON = 245,
    BL_T_NEWDECIMAL = 246,
    BL_T_ENUM = 247,
    BL_T_SET = 248,
    BL_T_TINY_BLOB = 249,
    BL_T_MEDIUM_BLOB = 250,
    BL_T_LONG_BLOB = 251,
    BL_T_BLOB = 252,
    BL_T_VAR_STRING = 253,
    BL_T_STRING = 254,
    BL_T_GEOMETRY = 255,
};

/*
 * Binary DECIMAL(precision, scale) of exactly ferry_binlog__decimal_size()
 * bytes at p to text ("-1.50") in out (BL_DECIMAL_TEXT_MAX bytes is always
 * enough). Returns the length, or -1 for bad precision/scale or digits.
 */
#define BL_DECIMAL_TEXT_MAX 96
int ferry_binlog__decimal_format(const uint8_t *p, int precision, int scale, char *out);

/* Bytes a binary DECIMAL(precision, scale) takes. */
size_t ferry_binlog__decimal_size(int precision, int scale);

#endif
