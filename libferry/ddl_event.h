/*
 * ddl_event.h - the schema-change events of a link's ddl topic.
 *
 * One record type (schemas/ddl_event.avsc) for every event on <prefix>.ddl:
 * a table's definition at snapshot time (SNAPSHOT_TABLE), the end of its
 * snapshot with the high watermark (SNAPSHOT_DONE), and each DDL statement
 * captured later. The producer encodes, the consumer decodes; both go
 * through avro-c because the record is small, rare and fixed, unlike row
 * events (which use avro_codec.h).
 *
 * Decoding uses the writer's schema (fetched through registry.h), so fields
 * added to the record later are simply absent when an older producer wrote
 * the event. Only ferry's own topics are decoded: the body length is bounded,
 * but avro-c trusts string lengths (DESIGN.md) and leaks a few bytes when a
 * body ends inside a string, so this is not for bytes from elsewhere.
 */
#ifndef FERRY_DDL_EVENT_H
#define FERRY_DDL_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "avro_codec.h"
#include "registry.h"

typedef struct {
    const char *connector; /* "mariadb", "mysql", ... */
    const char *db;
    const char *table;     /* NULL for database-wide statements */
    const char *kind;      /* a DdlKind symbol: "SNAPSHOT_TABLE", "ALTER_TABLE", ... */
    const char *statement; /* "" for SNAPSHOT_* events */
    int64_t ts_ms;
    bool has_server_id;
    int64_t server_id;
    const char *gtid; /* NULL when absent */
    const char *file; /* binlog file of the position, NULL when absent */
    bool has_pos;
    int64_t pos;
    const char *renamed_to;
    const char *default_db;
    const char *sql_mode;
    const char *const *tables; /* "db.table" each */
    size_t n_tables;
    const char *table_definition; /* JSON (mysql_schema.h), NULL when absent */
    const char *view_definition;
    bool has_chunks;
    int64_t chunks;
} ferry_ddl_event_t;

/* The record's schema (schemas/ddl_event.avsc). */
const char *ferry_ddl_event_schema(void);

/*
 * Appends the Avro body of ev to out (no wire header). Returns 0 or a
 * negative ferry_err_t naming the field at fault.
 */
int ferry_ddl_event_encode(const ferry_ddl_event_t *ev, ferry_avro_buf_t *out, char *errstr,
                           size_t errstr_size);

/*
 * Decodes body, written with writer_schema_json, into *ev. Strings are
 * copied into arena and live as long as it does. Fields the writer's schema
 * lacks come out as NULL / false.
 */
int ferry_ddl_event_decode(const char *writer_schema_json, const uint8_t *body, size_t len,
                           ferry_arena_t *arena, ferry_ddl_event_t *ev, char *errstr,
                           size_t errstr_size);

/*
 * Decodes a whole message value of the ddl topic: its framing (wire.h), the
 * writer's schema looked up through reg, then the body as above. Returns 0,
 * or a negative ferry_err_t with the reason in errstr.
 */
int ferry_ddl_event_from_message(ferry_registry_t *reg, const void *value, size_t value_len,
                                 ferry_arena_t *arena, ferry_ddl_event_t *ev, char *errstr,
                                 size_t errstr_size);

#endif
