/*
 * avro_codec.h - the hot-path Avro encoder and decoder of change events.
 *
 * A codec is compiled once from a schema's JSON text (a writer schema: ours
 * from avro_schema.h, or one the registry or the schemas topic hands over
 * for a message this process has never seen) into a plan, an array of small
 * ops per record. Encoding and decoding then walk the plan over reused
 * buffers: no avro-c, no JSON, no malloc per event. The bytes are those the
 * Avro specification defines, equal to avro-c's generic encoder's for the
 * same datum (the unit tests hold the two together).
 *
 * Two kinds of schema compile:
 *  - an Envelope (a record with "op", "source" and "before"/"after"
 *    fields): encode/decode whole change events;
 *  - any other record whose fields map to columns (Key, Value): encode and
 *    decode rows.
 * Fields the codec does not know (e.g. Debezium's ts_us, source.thread) are
 * skipped when decoding and written as null when encoding (if the field's
 * type allows null; otherwise the codec cannot encode).
 *
 * Column types come from the fields' "ferry.*" properties when present, and
 * are inferred from Avro types, logical types and Debezium's connect.name
 * otherwise, so plain Debezium schemas decode too.
 *
 * A codec is immutable after compilation: one codec may be used by several
 * threads at once, each with its own buffers and arenas.
 */
#ifndef FERRY_AVRO_CODEC_H
#define FERRY_AVRO_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "row.h"

/* A growable byte buffer the encoders append to. Zero-initialise it. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} ferry_avro_buf_t;

/* Makes room for extra more bytes; 0 or FERRY_ERR_NOMEM. */
int ferry_avro_buf_reserve(ferry_avro_buf_t *b, size_t extra);

/* Frees the buffer's memory and zeroes it. NULL is a no-op. */
void ferry_avro_buf_free(ferry_avro_buf_t *b);

/* Bits of ferry_source_t.present for the optional numbers. */
#define FERRY_SOURCE_SERVER_ID 0x01u
#define FERRY_SOURCE_POS       0x02u
#define FERRY_SOURCE_ROW       0x04u
#define FERRY_SOURCE_LSN       0x08u
#define FERRY_SOURCE_TX_ID     0x10u

/* The source block (schemas/source.avsc). NULL strings are absent. */
typedef struct {
    const char *version;   /* ferry's version */
    const char *connector; /* "mysql", "mariadb", "postgresql", ... */
    const char *name;      /* the link's topic prefix */
    int64_t ts_ms;         /* when the source made the change */
    const char *snapshot;  /* "true", "last", "false", "incremental"; NULL = "false" */
    const char *db;
    const char *table;
    const char *gtid;
    const char *file;
    int64_t server_id;
    int64_t pos;
    int32_t row;
    int64_t lsn;
    int64_t tx_id;
    uint32_t present; /* FERRY_SOURCE_* */
} ferry_source_t;

/* Debezium's transaction block. */
typedef struct {
    const char *id;
    int64_t total_order;
    int64_t data_collection_order;
} ferry_txn_t;

/* One change event. Rows have one value per column of the codec's table. */
typedef struct {
    char op;                   /* 'c' insert, 'u' update, 'd' delete, 'r' snapshot read */
    const ferry_row_t *before; /* NULL when absent */
    const ferry_row_t *after;  /* NULL when absent */
    ferry_source_t source;
    bool has_ts_ms;
    int64_t ts_ms; /* when ferry processed the event */
    bool has_txn;
    ferry_txn_t txn;
} ferry_change_t;

typedef struct ferry_avro_codec ferry_avro_codec_t;

/*
 * Compiles schema_json (len bytes; need not be NUL-terminated) into a codec.
 * Returns 0 and *out (free with ferry_avro_codec_destroy), or a negative
 * ferry_err_t with the reason in errstr (invalid JSON or schema, a field
 * whose type cannot map to a column: FERRY_ERR_UNSUPPORTED).
 */
int ferry_avro_codec_new(const char *schema_json, size_t len, ferry_avro_codec_t **out,
                         char *errstr, size_t errstr_size);

/* Frees the codec. NULL is a no-op. */
void ferry_avro_codec_destroy(ferry_avro_codec_t *c);

/* True when the codec was compiled from an Envelope. */
bool ferry_avro_codec_is_envelope(const ferry_avro_codec_t *c);

/*
 * The columns the schema describes (the Value record of an Envelope, or the
 * record itself), rebuilt from the schema; owned by the codec.
 */
const ferry_table_t *ferry_avro_codec_table(const ferry_avro_codec_t *c);

/* CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form. */
uint64_t ferry_avro_codec_fingerprint(const ferry_avro_codec_t *c);

/*
 * Appends the Avro body of ev to out (out->len grows; write a wire header
 * first if you want one). Needs an Envelope codec. On failure returns a
 * negative ferry_err_t, writes the reason to errstr, and out->len is as it
 * was.
 */
int ferry_avro_codec_encode_change(const ferry_avro_codec_t *c, const ferry_change_t *ev,
                                   ferry_avro_buf_t *out, char *errstr, size_t errstr_size);

/*
 * Decodes an Envelope body into *ev. Rows, and the source's and
 * transaction's strings, are allocated from arena; string and byte values
 * of the rows point into body, so ev is valid while both body and the arena
 * (until its next reset) are. Returns 0, or FERRY_ERR_TRUNCATED /
 * FERRY_ERR_INVALID for bytes that do not match the schema (body is
 * untrusted: every length and index is checked), FERRY_ERR_NOMEM.
 */
int ferry_avro_codec_decode_change(const ferry_avro_codec_t *c, const uint8_t *body, size_t len,
                                   ferry_arena_t *arena, ferry_change_t *ev, char *errstr,
                                   size_t errstr_size);

/*
 * Appends the record encoding of row (one value per field, in record order;
 * for an Envelope codec, the Value record).
 */
int ferry_avro_codec_encode_row(const ferry_avro_codec_t *c, const ferry_row_t *row,
                                ferry_avro_buf_t *out, char *errstr, size_t errstr_size);

/*
 * For a codec compiled from a Key schema: appends the key of full_row, a row
 * of the whole table, picking each key field's value by its "ferry.ordinal".
 */
int ferry_avro_codec_encode_key(const ferry_avro_codec_t *c, const ferry_row_t *full_row,
                                ferry_avro_buf_t *out, char *errstr, size_t errstr_size);

/*
 * Decodes a record body (Key or Value) into a row allocated from arena, one
 * value per field in record order. Same lifetime rules as decode_change.
 */
int ferry_avro_codec_decode_row(const ferry_avro_codec_t *c, const uint8_t *body, size_t len,
                                ferry_arena_t *arena, ferry_row_t **out, char *errstr,
                                size_t errstr_size);

#endif
