/*
 * mysql_rows.h - rows of a MySQL-family SELECT as ferry rows.
 *
 * The full load reads each chunk with one plain SELECT over the text
 * protocol and turns every result row into a ferry_row_t of the table's
 * row model (row.h) without losing anything. The text protocol is exact
 * for every type once each is parsed for what it is:
 *
 *  - integers: decimal text, parsed as int64 or, for UNSIGNED, uint64
 *    (BIGINT UNSIGNED up to 18446744073709551615);
 *  - DECIMAL: the server's text is kept as it is ("-12.3400");
 *  - DOUBLE: MariaDB 10.x and MySQL 8 print the shortest text that reads
 *    back as the same binary value, so strtod restores the exact bits;
 *  - FLOAT: the server prints only 6 significant digits (16777217 comes as
 *    "16777200"), so the SELECT list reads CAST(col AS DOUBLE) instead,
 *    which is exact, and strtod then (float) gives the stored value back
 *    (needs MariaDB 10.4.5+ / MySQL 8.0.17+);
 *  - DATE, DATETIME, TIMESTAMP: "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" including
 *    zero and partial dates ('0000-00-00', '2024-00-00'); TIMESTAMP is
 *    read in the session time zone, which ferry_db_connect sets to
 *    '+00:00', so it is UTC;
 *  - TIME: "[-]HHH:MM:SS[.ffffff]", negative and beyond 24 h;
 *  - YEAR: "0000" is 0, else 1901..2155;
 *  - BIT(n): the server sends (n+7)/8 raw bytes, big-endian;
 *  - CHAR, VARCHAR, TEXT, ENUM, SET, JSON: text in the connection's
 *    character set (utf8mb4), converted by the server from the column's;
 *    ENUM's error member is "";
 *  - BINARY, VARBINARY, BLOB, VECTOR: the exact bytes, length from
 *    mysql_fetch_lengths (BINARY(n) padding included);
 *  - GEOMETRY: the server's internal form, which the text protocol sends
 *    as is: a 4-byte little-endian SRID followed by the WKB. The reader
 *    splits it (SRID into value.aux, WKB into the bytes). This is chosen
 *    over ST_AsWKB()/ST_SRID() because it costs no function call and keeps
 *    the stored axis order (MySQL 8's ST_AsWKB swaps it for geographic
 *    SRSs);
 *  - MariaDB UUID: its 36-character text; INET4/INET6: text.
 *
 * String and byte values of a converted row point into the result row the
 * client library returned (mysql_fetch_row), so a row is valid until the
 * next fetch or mysql_free_result; the value array itself comes from an
 * arena.
 *
 * @locality any thread; functions keep no state.
 */
#ifndef FERRY_MYSQL_ROWS_H
#define FERRY_MYSQL_ROWS_H

#include <stddef.h>

#include "arena.h"
#include "row.h"
#include "strbuf.h"

typedef struct st_mysql MYSQL;

/*
 * Appends name as a MySQL identifier: in backticks, a backtick inside
 * doubled ("a`b" -> `a``b`). Works in every sql_mode (ANSI_QUOTES only adds
 * double quotes as a second way).
 */
void ferry_mysql_rows_quote_ident(ferry_strbuf_t *sb, const char *name);

/* Appends `db`.`table` of t. */
void ferry_mysql_rows_quote_table(ferry_strbuf_t *sb, const ferry_table_t *t);

/*
 * Appends the SELECT list that ferry_mysql_rows_convert expects for t:
 * every column in table order, quoted; FLOAT columns as
 * CAST(`col` AS DOUBLE) (see above), all others as they are.
 */
void ferry_mysql_rows_select_list(ferry_strbuf_t *sb, const ferry_table_t *t);

/*
 * Prepares a connection for reading rows: sql_mode '' for the session
 * (no NO_ZERO_DATE / NO_ZERO_IN_DATE / strict mode, so zero dates in key
 * bounds compare without errors; no PAD_CHAR_TO_FULL_LENGTH, so CHAR comes
 * without padding as the binlog has it), and net_write_timeout and
 * net_read_timeout of 600 s, because a reader that waits on Kafka while a
 * result is half streamed must not be cut off by the server. Returns 0 or
 * FERRY_ERR_IO with the server's reason.
 */
int ferry_mysql_rows_session(MYSQL *conn, char *errstr, size_t errstr_size);

/*
 * Parses one cell of column col: text is the cell as the client library
 * returned it (NULL for SQL NULL), len its length from mysql_fetch_lengths.
 * Fills *out (strings point into text). Returns 0 or FERRY_ERR_INVALID
 * naming the column and why (e.g. a non-numeric integer, a date that does
 * not parse, a geometry shorter than its SRID).
 */
int ferry_mysql_rows_parse_value(const ferry_column_t *col, const char *text, size_t len,
                                 ferry_value_t *out, char *errstr, size_t errstr_size);

/*
 * Converts a result row of the SELECT list of t (cells and lengths as
 * mysql_fetch_row and mysql_fetch_lengths give them, one per column of t)
 * into *out, allocated from arena. Returns 0, FERRY_ERR_INVALID naming
 * table and column, or FERRY_ERR_NOMEM.
 */
int ferry_mysql_rows_convert(const ferry_table_t *t, char **cells, const unsigned long *lengths,
                             ferry_arena_t *arena, ferry_row_t **out, char *errstr,
                             size_t errstr_size);

#endif
