/*
 * mysql_sink_load.c - snapshot rows through LOAD DATA LOCAL INFILE, fed
 * from memory.
 *
 * The stream is built in memory and handed to libmariadb through its
 * local-infile callbacks, so no file is written. Format:
 *
 *   CHARACTER SET utf8mb4  FIELDS TERMINATED BY '\t' ESCAPED BY '\\'
 *   (no ENCLOSED BY)       LINES TERMINATED BY '\n'
 *
 * A field is the value's text with \, tab, newline and NUL escaped as \\,
 * \t, \n, \0; NULL is \N (an empty field is the empty string). Text is
 * declared utf8mb4 so the server converts it into whatever charset the
 * column has. Values whose text form would be read wrongly go through user
 * variables and a SET clause: binary data as hex and UNHEX() (charset
 * conversion cannot touch it), BIT as a number and CAST(.. AS UNSIGNED)
 * (LOAD DATA would store the digits' bytes), GEOMETRY as WKB hex plus SRID
 * fields and ST_GeomFromWKB().
 *
 * The handler stays installed for the sink's life and serves only the
 * stream the sink asked for, at the moment it asked: a server that requests
 * any other file gets an error, never a local file.
 */
#include "mysql_sink_int.h"

#include "log.h"

#include <mysql.h>
#include <stdio.h>
#include <string.h>

static int infile_init(void **ptr, const char *filename, void *userdata)
{
    ferry_mysql_sink_t *s = userdata;
    *ptr = s;
    if (!s->infile_armed || strcmp(filename, SINK_INFILE_NAME) != 0)
        return 1;
    s->infile_pos = 0;
    return 0;
}

static int infile_read(void *ptr, char *buf, unsigned int buf_len)
{
    ferry_mysql_sink_t *s = ptr;
    size_t left = s->infile_len - s->infile_pos;
    size_t n = left < buf_len ? left : buf_len;
    memcpy(buf, s->infile_data + s->infile_pos, n);
    s->infile_pos += n;
    return (int)n;
}

static void infile_end(void *ptr)
{
    (void)ptr;
}

static int infile_error(void *ptr, char *buf, unsigned int buf_len)
{
    (void)ptr;
    snprintf(buf, buf_len, "ferry serves only its own in-memory stream to LOAD DATA LOCAL");
    return 2000; /* CR_UNKNOWN_ERROR */
}

void ferry_mysql_sink_load_install(ferry_mysql_sink_t *s)
{
    mysql_set_local_infile_handler(s->my, infile_init, infile_read, infile_end, infile_error, s);
}

void ferry_mysql_sink_load_line(ferry_strbuf_t *data, const sink_table_t *t, const ferry_row_t *row)
{
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            ferry_strbuf_put(data, "\t", 1);
        ferry_mysql_sink_put_field(data, t->cols[c].type, &row->values[c]);
    }
    ferry_strbuf_put(data, "\n", 1);
}

static bool via_variable(ferry_type_t t)
{
    return t == FERRY_TYPE_BYTES || t == FERRY_TYPE_BIT || t == FERRY_TYPE_GEOMETRY;
}

static void build_statement(ferry_strbuf_t *q, const sink_table_t *t, bool safe)
{
    ferry_strbuf_printf(q,
                        "LOAD DATA LOCAL INFILE '%s' %sINTO TABLE %s CHARACTER SET utf8mb4 "
                        "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
                        "LINES TERMINATED BY '\\n' (",
                        SINK_INFILE_NAME, safe ? "REPLACE " : "", t->quoted);
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            ferry_strbuf_puts(q, ", ");
        if (!via_variable(t->cols[c].type))
            ferry_strbuf_puts(q, t->cols[c].quoted);
        else if (t->cols[c].type == FERRY_TYPE_GEOMETRY)
            ferry_strbuf_printf(q, "@v%zu, @s%zu", c, c);
        else
            ferry_strbuf_printf(q, "@v%zu", c);
    }
    ferry_strbuf_puts(q, ")");
    const char *sep = " SET ";
    for (size_t c = 0; c < t->ncols; c++) {
        ferry_type_t ty = t->cols[c].type;
        if (!via_variable(ty))
            continue;
        ferry_strbuf_printf(q, "%s%s = ", sep, t->cols[c].quoted);
        if (ty == FERRY_TYPE_BYTES)
            ferry_strbuf_printf(q, "UNHEX(@v%zu)", c);
        else if (ty == FERRY_TYPE_BIT)
            ferry_strbuf_printf(q, "CAST(@v%zu AS UNSIGNED)", c);
        else
            ferry_strbuf_printf(q, "ST_GeomFromWKB(UNHEX(@v%zu), @s%zu)", c, c);
        sep = ", ";
    }
}

unsigned int ferry_mysql_sink_load_send(ferry_mysql_sink_t *s, const sink_table_t *t, bool safe,
                                        const ferry_strbuf_t *data, uint64_t *affected,
                                        unsigned int *warnings)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    build_statement(&q, t, safe);
    if (q.oom) {
        ferry_strbuf_free(&q);
        return 2008; /* CR_OUT_OF_MEMORY */
    }
    s->infile_data = data->buf ? data->buf : "";
    s->infile_len = data->len;
    s->infile_armed = true;
    int rc = mysql_real_query(s->my, q.buf, (unsigned long)q.len);
    s->infile_armed = false;
    s->infile_data = NULL;
    ferry_strbuf_free(&q);
    if (rc != 0)
        return mysql_errno(s->my) ? mysql_errno(s->my) : 2000;
    *affected = (uint64_t)mysql_affected_rows(s->my);
    *warnings = mysql_warning_count(s->my);
    return 0;
}
