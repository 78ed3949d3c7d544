/*
 * row.h - the in-memory row model every ferry service shares.
 *
 * Capture turns binlog and pgoutput rows into ferry_row_t, the codec turns
 * them into Avro and back, and apply and verify read them. The model has to
 * hold every MySQL/MariaDB and PostgreSQL column value without loss, so it
 * keeps values in their source form rather than in the form a Debezium-shaped
 * Avro field happens to have:
 *
 *  - integers as int64 or uint64 (BIGINT UNSIGNED up to 18446744073709551615);
 *  - DECIMAL/NUMERIC as exact decimal text ("-12.3400", "NaN", "Infinity");
 *  - DATE, DATETIME and TIMESTAMP as broken-down civil parts (ferry_civil_t),
 *    so MySQL's zero and partial dates ('0000-00-00', '2024-00-00') and
 *    invalid ones allowed by ALLOW_INVALID_DATES ('2009-11-31') are kept as
 *    they are, and PostgreSQL's 'infinity' / '-infinity' are a flag;
 *  - TIME as signed microseconds (-838:59:59 .. 838:59:59 and beyond 24h);
 *  - text as UTF-8, binary data as bytes, BIT(n<=64) as uint64;
 *  - PostgreSQL arrays in PostgreSQL's own text form ('{1,2,NULL}',
 *    '[0:1]={a,b}', '{{1,2},{3,4}}'), which keeps dimensions, lower bounds
 *    and NULL elements exactly, and any type ferry has no model for (inet,
 *    money, ranges, timetz, ...) as its text form with FERRY_TYPE_STRING and
 *    the source type name in the column.
 *
 * Variable-length values point at memory the row does not own: a per-batch
 * arena (arena.h), a decoded message buffer, or the capture's event buffer.
 * Whoever fills a row says how long that memory lives.
 */
#ifndef FERRY_ROW_H
#define FERRY_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* What a value holds; names (ferry_type_name) appear in schemas as "ferry.type". */
typedef enum {
    FERRY_TYPE_BOOL = 1,  /* v.b: PostgreSQL boolean */
    FERRY_TYPE_INT,       /* v.i: signed integers of any width */
    FERRY_TYPE_UINT,      /* v.u: unsigned integers of any width */
    FERRY_TYPE_FLOAT,     /* v.f: 32-bit float */
    FERRY_TYPE_DOUBLE,    /* v.d */
    FERRY_TYPE_DECIMAL,   /* v.s: exact decimal text, or NaN / Infinity / -Infinity */
    FERRY_TYPE_DATE,      /* v.dt: date parts only */
    FERRY_TYPE_TIME,      /* v.i: signed microseconds (MySQL TIME, PostgreSQL time) */
    FERRY_TYPE_DATETIME,  /* v.dt: wall-clock date and time without zone */
    FERRY_TYPE_TIMESTAMP, /* v.dt: an instant, in UTC (MySQL TIMESTAMP, timestamptz) */
    FERRY_TYPE_YEAR,      /* v.i: MySQL YEAR (0 or 1901..2155) */
    FERRY_TYPE_STRING,    /* v.s: UTF-8 text */
    FERRY_TYPE_BYTES,     /* v.s: binary data (BINARY, BLOB, bytea) */
    FERRY_TYPE_BIT,       /* v.u: MySQL BIT(1..64), bit 0 is the last bit */
    FERRY_TYPE_ENUM,      /* v.s: the member's text ("" for MySQL's error member) */
    FERRY_TYPE_SET,       /* v.s: members joined by ',' */
    FERRY_TYPE_JSON,      /* v.s: JSON text */
    FERRY_TYPE_GEOMETRY,  /* v.s: WKB bytes; aux: SRID */
    FERRY_TYPE_UUID,      /* v.uuid: 16 bytes */
    FERRY_TYPE_INTERVAL,  /* v.iv: PostgreSQL interval */
    FERRY_TYPE_ARRAY,     /* v.s: PostgreSQL array text form */
} ferry_type_t;

#define FERRY_TYPE_MAX FERRY_TYPE_ARRAY

/* Column flags. */
#define FERRY_COL_NULLABLE 0x1u
#define FERRY_COL_UNSIGNED 0x2u

/*
 * One column. Strings are NUL-terminated. In a table (ferry_table_add_column)
 * the table owns copies; a caller's descriptor may point anywhere.
 */
typedef struct ferry_column {
    const char *name;
    ferry_type_t type;
    const char *source_type;    /* the source's own spelling: "decimal(65,30)", "int4[]" */
    uint32_t flags;             /* FERRY_COL_* */
    uint32_t length;            /* chars (CHAR/VARCHAR), bytes (BINARY, and the storage
                                   width 1/2/3/4/8 of INT/UINT), bits (BIT); 0 = none */
    uint16_t precision;         /* DECIMAL digits; 0 = unconstrained (PostgreSQL numeric) */
    int16_t scale;              /* DECIMAL digits after the point */
    int8_t fsp;                 /* fractional-second digits 0..6 of TIME/DATETIME/TIMESTAMP */
    const char *charset;        /* "utf8mb4", "latin1", ...; NULL = none or binary */
    const char *const *members; /* ENUM and SET members, in declaration order */
    uint32_t n_members;
    uint16_t pk_pos; /* 1-based position in the table's key, 0 = not a key column */
} ferry_column_t;

/* Broken-down date and time; year is astronomical (0 = 1 BC) and may be 0. */
typedef struct {
    int32_t year;
    uint8_t month;  /* 0..12 (0 only in MySQL zero dates) */
    uint8_t day;    /* 0..31 */
    uint8_t hour;   /* 0..23 */
    uint8_t minute; /* 0..59 */
    uint8_t second; /* 0..59 (60 is refused) */
    uint32_t usec;  /* 0..999999 */
} ferry_civil_t;

/* PostgreSQL interval: the three fields are independent and may differ in sign. */
typedef struct {
    int32_t months;
    int32_t days;
    int64_t micros;
} ferry_interval_t;

/* Value flags. */
#define FERRY_VALUE_POS_INFINITY 0x1u /* DATE/DATETIME/TIMESTAMP 'infinity' */
#define FERRY_VALUE_NEG_INFINITY 0x2u /* DATE/DATETIME/TIMESTAMP '-infinity' */

typedef struct ferry_value {
    uint8_t is_null;
    uint8_t flags; /* FERRY_VALUE_* */
    uint16_t reserved;
    uint32_t aux; /* GEOMETRY: SRID */
    union {
        bool b;
        int64_t i;
        uint64_t u;
        float f;
        double d;
        struct {
            const char *ptr; /* not NUL-terminated; not owned */
            size_t len;
        } s;
        ferry_civil_t dt;
        ferry_interval_t iv;
        uint8_t uuid[16];
    } v;
} ferry_value_t;

/* A row: one value per column of its table, in column order. */
typedef struct ferry_row {
    size_t n;
    ferry_value_t *values;
} ferry_row_t;

typedef struct ferry_table ferry_table_t;

/* ---- tables ----------------------------------------------------------- */

/* A table with no columns yet; NULL when out of memory. Copies db and name. */
ferry_table_t *ferry_table_new(const char *db, const char *name);

/* Frees the table and its copies. NULL is a no-op. */
void ferry_table_destroy(ferry_table_t *t);

/*
 * Appends a deep copy of col. Returns 0, FERRY_ERR_INVALID (no name, unknown
 * type, fsp > 6, scale > precision, members on a non-ENUM/SET) with the
 * reason in errstr, or FERRY_ERR_NOMEM.
 */
int ferry_table_add_column(ferry_table_t *t, const ferry_column_t *col, char *errstr,
                           size_t errstr_size);

const char *ferry_table_db(const ferry_table_t *t);
const char *ferry_table_name(const ferry_table_t *t);
size_t ferry_table_ncolumns(const ferry_table_t *t);
const ferry_column_t *ferry_table_column(const ferry_table_t *t, size_t i);

/* Index of the column called name, or -1. */
int ferry_table_find(const ferry_table_t *t, const char *name);

/* ---- rows ------------------------------------------------------------- */

/* A row of n NULL values allocated from arena; NULL when out of memory. */
ferry_row_t *ferry_row_new(ferry_arena_t *arena, size_t n);

/*
 * True when a and b hold the same value for a column of type t (bytes
 * compared exactly, doubles by bit pattern so NaN equals NaN). For tests and
 * the verifier.
 */
bool ferry_value_equal(ferry_type_t t, const ferry_value_t *a, const ferry_value_t *b);

static inline ferry_value_t ferry_value_null(void)
{
    ferry_value_t v = {.is_null = 1};
    return v;
}

static inline ferry_value_t ferry_value_int(int64_t i)
{
    ferry_value_t v = {.v.i = i};
    return v;
}

static inline ferry_value_t ferry_value_uint(uint64_t u)
{
    ferry_value_t v = {.v.u = u};
    return v;
}

static inline ferry_value_t ferry_value_double(double d)
{
    ferry_value_t v = {.v.d = d};
    return v;
}

static inline ferry_value_t ferry_value_float(float f)
{
    ferry_value_t v = {.v.f = f};
    return v;
}

static inline ferry_value_t ferry_value_bool(bool b)
{
    ferry_value_t v = {.v.b = b};
    return v;
}

/* Text, bytes, decimal text, JSON, ENUM, SET, array text: points at p. */
static inline ferry_value_t ferry_value_str(const void *p, size_t len)
{
    ferry_value_t v = {.v.s = {(const char *)p, len}};
    return v;
}

static inline ferry_value_t ferry_value_civil(int32_t year, unsigned month, unsigned day,
                                              unsigned hour, unsigned minute, unsigned second,
                                              uint32_t usec)
{
    ferry_value_t v = {.v.dt = {year, (uint8_t)month, (uint8_t)day, (uint8_t)hour, (uint8_t)minute,
                                (uint8_t)second, usec}};
    return v;
}

/* ---- type names ------------------------------------------------------- */

/* "int", "decimal", "datetime", ...; "?" for an unknown value. */
const char *ferry_type_name(ferry_type_t t);

/* The type called name, or 0 when there is none. */
ferry_type_t ferry_type_from_name(const char *name);

/* ---- conversions shared by the codec, apply and verify ----------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day any). */
int64_t ferry_value_days_from_civil(int64_t year, unsigned month, unsigned day);

/* Inverse of ferry_value_days_from_civil; sets year, month, day only. */
void ferry_value_civil_from_days(int64_t days, ferry_civil_t *out);

/* True when the date part is a real calendar date (no zero month/day, no Feb 30). */
bool ferry_value_civil_is_valid(const ferry_civil_t *c);

/*
 * Microseconds since 1970-01-01T00:00:00 of a valid civil date-time.
 * Returns false when the date is not valid or the result overflows int64.
 */
bool ferry_value_civil_to_micros(const ferry_civil_t *c, int64_t *micros);

/* Inverse of ferry_value_civil_to_micros (any int64). */
void ferry_value_civil_from_micros(int64_t micros, ferry_civil_t *out);

/*
 * Formats "YYYY-MM-DD" (date_only) or "YYYY-MM-DD HH:MM:SS[.ffffff]" with
 * fsp fraction digits (0..6, truncating). Years outside 0..9999 are written
 * with as many digits as they need and a '-' when negative. Zero parts are
 * written as they are ("0000-00-00"). Returns the length (buf is always
 * NUL-terminated; size 40 is always enough).
 */
size_t ferry_value_format_civil(const ferry_civil_t *c, bool date_only, int fsp, char *buf,
                                size_t size);

/*
 * Parses what ferry_value_format_civil writes (also 'T' as separator and
 * 1..6 fraction digits). Zero and invalid calendar dates are accepted when
 * their parts are in range (month <= 12, day <= 31). Returns 0 or
 * FERRY_ERR_INVALID.
 */
int ferry_value_parse_civil(const char *s, size_t len, ferry_civil_t *out);

/* "[-]HH:MM:SS[.ffffff]" for signed microseconds; hours may exceed 24. */
size_t ferry_value_format_time(int64_t micros, int fsp, char *buf, size_t size);

/* Inverse of ferry_value_format_time; 0 or FERRY_ERR_INVALID. */
int ferry_value_parse_time(const char *s, size_t len, int64_t *micros);

/* Most bytes a DECIMAL of FERRY_DECIMAL_MAX_DIGITS digits takes unscaled. */
#define FERRY_DECIMAL_MAX_DIGITS 1000
#define FERRY_DECIMAL_MAX_BYTES  416

/*
 * Decimal text ("-123.45", "+7", ".5", "12.") to the shortest big-endian
 * two's-complement bytes of its value scaled by 10^scale (the Avro decimal
 * encoding). Fewer fraction digits than scale are padded; more are accepted
 * only when the extra digits are zeros (anything else would lose data).
 * Returns 0 and *out_len, FERRY_ERR_INVALID for text that is not a finite
 * decimal, or FERRY_ERR_UNSUPPORTED when it needs more than cap bytes.
 */
int ferry_value_decimal_to_bytes(const char *text, size_t len, int scale, uint8_t *out, size_t cap,
                                 size_t *out_len);

/*
 * Big-endian two's-complement unscaled bytes and scale to decimal text with
 * exactly scale fraction digits ("-0.50" for -50 at scale 2). Returns 0 and
 * *out_len, FERRY_ERR_INVALID for empty or oversized input, or
 * FERRY_ERR_TRUNCATED when cap is too small (FERRY_DECIMAL_MAX_DIGITS + 8
 * is always enough).
 */
int ferry_value_decimal_from_bytes(const uint8_t *b, size_t len, int scale, char *out, size_t cap,
                                   size_t *out_len);

/* Lower-case 36-character text of a UUID; buf must hold 37 bytes. */
void ferry_value_format_uuid(const uint8_t uuid[16], char buf[37]);

/* Parses 36-character UUID text (either case); 0 or FERRY_ERR_INVALID. */
int ferry_value_parse_uuid(const char *s, size_t len, uint8_t uuid[16]);

/*
 * ISO 8601 duration of an interval, every component written with its own
 * sign: "P1Y2M3DT4H5M6.000007S", "P0Y-1M0DT0H0M-0.5S". Returns the length;
 * 96 bytes are always enough.
 */
size_t ferry_value_format_interval(const ferry_interval_t *iv, char *buf, size_t size);

/*
 * Parses an ISO 8601 duration with optional signed components
 * (PnYnMnWnDTnHnMn.nS). Returns 0 or FERRY_ERR_INVALID (also on overflow).
 */
int ferry_value_parse_interval(const char *s, size_t len, ferry_interval_t *out);

#endif
