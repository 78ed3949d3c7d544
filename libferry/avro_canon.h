/*
 * avro_canon.h - Avro Parsing Canonical Form and CRC-64-AVRO fingerprints.
 *
 * avro-c 1.11.1 has neither (avro_schema_to_json is not canonical), so ferry
 * computes them itself. The fingerprint names a schema in the single-object
 * encoding (wire.h) and keys the ferry.<project>.schemas topic.
 *
 * The module also owns the small JSON reader and the Avro schema tree that
 * the canonical form is printed from; avro_codec.c compiles its decode and
 * encode plans from the same tree, so a schema is parsed one way everywhere.
 * The reader is ferry's own rather than jansson (ferry's parser elsewhere)
 * because a schema's properties may hold any JSON: jansson refuses integers
 * beyond 64 bits, where this reader keeps them as number literals.
 * The tree is read-only once built and lives in the arena it was parsed into.
 */
#ifndef FERRY_AVRO_CANON_H
#define FERRY_AVRO_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

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

/* ---- JSON documents ---------------------------------------------------- */

typedef enum {
    FERRY_AVRO_JSON_NULL = 0,
    FERRY_AVRO_JSON_BOOL,
    FERRY_AVRO_JSON_NUMBER,
    FERRY_AVRO_JSON_STRING,
    FERRY_AVRO_JSON_ARRAY,
    FERRY_AVRO_JSON_OBJECT,
} ferry_avro_json_kind_t;

typedef struct ferry_avro_json {
    ferry_avro_json_kind_t kind;
    const char *key;              /* member name when the node is an object member */
    const char *str;              /* STRING: unescaped UTF-8 (NUL-terminated); NUMBER: literal */
    size_t len;                   /* length of str */
    int64_t ival;                 /* NUMBER that is an integer in int64 range */
    int is_int;                   /* ival is valid */
    int boolean;                  /* BOOL */
    struct ferry_avro_json *head; /* ARRAY/OBJECT: first element or member */
    struct ferry_avro_json *next; /* next sibling */
    size_t count;                 /* ARRAY/OBJECT: number of elements or members */
} ferry_avro_json_t;

/*
 * Parses JSON text (exactly one value, nesting at most 64 deep) into a tree
 * allocated from arena. Returns 0, or FERRY_ERR_INVALID / FERRY_ERR_NOMEM
 * with the reason in errstr. Nothing to free but the arena.
 */
int ferry_avro_json_parse(const char *text, size_t len, ferry_arena_t *arena,
                          const ferry_avro_json_t **out, char *errstr, size_t errstr_size);

/* Member key of an object, or NULL (also when obj is not an object). */
const ferry_avro_json_t *ferry_avro_json_get(const ferry_avro_json_t *obj, const char *key);

/* Member key of obj if it is a string, else NULL. */
const char *ferry_avro_json_get_str(const ferry_avro_json_t *obj, const char *key);

/* ---- Avro schema trees ------------------------------------------------- */

typedef enum {
    FERRY_AVRO_NULL = 0,
    FERRY_AVRO_BOOLEAN,
    FERRY_AVRO_INT,
    FERRY_AVRO_LONG,
    FERRY_AVRO_FLOAT,
    FERRY_AVRO_DOUBLE,
    FERRY_AVRO_BYTES,
    FERRY_AVRO_STRING,
    FERRY_AVRO_RECORD,
    FERRY_AVRO_ENUM,
    FERRY_AVRO_ARRAY,
    FERRY_AVRO_MAP,
    FERRY_AVRO_UNION,
    FERRY_AVRO_FIXED,
} ferry_avro_kind_t;

/*
 * One Avro type. Named types appear once in the tree; later references point
 * at the same node (so a recursive record forms a cycle: walk with care).
 */
typedef struct ferry_avro_node {
    ferry_avro_kind_t kind;
    const char *fullname;                 /* RECORD, ENUM, FIXED */
    const char *logical_type;             /* "logicalType", or NULL */
    const ferry_avro_json_t *json;        /* the defining object; NULL for "int"-style strings */
    size_t n;                             /* RECORD fields, UNION branches, ENUM symbols */
    const struct ferry_avro_node **sub;   /* RECORD field types, UNION branches; [0] ARRAY items,
                                             MAP values */
    const char **names;                   /* RECORD field names, ENUM symbols */
    const ferry_avro_json_t **field_json; /* RECORD: each field's object (for its properties) */
    uint64_t size;                        /* FIXED */
    int is_error;                         /* declared as "error" rather than "record" */
} ferry_avro_node_t;

/*
 * Parses and checks an Avro schema (names valid and defined before use, no
 * duplicate names or fields, unions without nested unions). The tree lives
 * in arena. Returns 0 or a negative ferry_err_t with the reason in errstr.
 */
int ferry_avro_parse(const char *schema_json, size_t len, ferry_arena_t *arena,
                     const ferry_avro_node_t **out, char *errstr, size_t errstr_size);

/* Index of field name in a RECORD node, or -1. */
int ferry_avro_field_index(const ferry_avro_node_t *rec, const char *name);

/* Name of a kind as the spec spells it ("int", "record", ...). */
const char *ferry_avro_kind_name(ferry_avro_kind_t kind);

#endif
