/*
 * verify_table.c - which columns of a table are compared, and the SQL that
 * turns a row into its canonical text on each side.
 *
 * The canonical text of a row is
 *
 *   CONCAT_WS('#', e1, ..., en, LENGTH(t1), ..., LENGTH(tk), ISNULL(c1), ..., ISNULL(cm))
 *
 * with e1..en the canonical expressions of the columns in table order,
 * t1..tk those of them that are text or bytes and c1..cm the nullable
 * columns. CONCAT_WS skips NULLs; the ISNULL flags say which values were
 * there and the lengths say where each text value ends, so no two rows give
 * the same text (a '#' inside a value cannot shift a boundary, NULL and ''
 * differ). The canonical expressions make values that are equal compare
 * equal across type differences a migration may introduce; the rules are
 * in docs/VERIFICATION.md.
 *
 * Both sums of the checksum query read the text once, through a session
 * variable: SUM(CRC32(@ferry_r := text)), SUM(CRC32C(@ferry_r)). MariaDB
 * evaluates a select list left to right for each row, and computing the
 * text once instead of twice is a third of the query's cost.
 */
#include "verify_int.h"

#include "err.h"
#include "mysql_rows.h"

#include <mysql.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_float_type(ferry_type_t t)
{
    return t == FERRY_TYPE_FLOAT || t == FERRY_TYPE_DOUBLE;
}

static bool is_temporal(ferry_type_t t)
{
    return t == FERRY_TYPE_DATETIME || t == FERRY_TYPE_TIMESTAMP || t == FERRY_TYPE_TIME;
}

static bool is_text_type(ferry_type_t t)
{
    switch (t) {
    case FERRY_TYPE_STRING:
    case FERRY_TYPE_BYTES:
    case FERRY_TYPE_ENUM:
    case FERRY_TYPE_SET:
    case FERRY_TYPE_JSON:
    case FERRY_TYPE_GEOMETRY:
        return true;
    default:
        return false;
    }
}

static bool is_char(const ferry_coldef_t *c)
{
    return c->data_type && strcasecmp(c->data_type, "char") == 0;
}

/* True when the column's text is not utf8mb4 already (and is text, not bytes). */
static bool needs_convert(const ferry_coldef_t *c)
{
    return c->col.type == FERRY_TYPE_STRING && c->charset && strcmp(c->charset, "utf8mb4") != 0 &&
           strcmp(c->charset, "binary") != 0;
}

/*
 * True for a JSON column: MySQL's JSON type, or MariaDB's JSON, which is
 * LONGTEXT with a json_valid() check on the column.
 */
static bool is_json(const ferry_tabledef_t *def, const ferry_coldef_t *c)
{
    if (c->col.type == FERRY_TYPE_JSON)
        return true;
    for (size_t i = 0; c->col.type == FERRY_TYPE_STRING && i < def->n_checks; i++)
        if (def->checks[i].column && strcasecmp(def->checks[i].column, c->col.name) == 0 &&
            strstr(def->checks[i].clause, "json_valid"))
            return true;
    return false;
}

/*
 * The canonical expression of column c on one side (other: the same column
 * on the other side; json: either is a JSON column; maria: this side is
 * MariaDB).
 */
static char *canonical_expr(const ferry_coldef_t *c, const ferry_coldef_t *other, bool json,
                            bool maria)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT, sb = FERRY_STRBUF_INIT;
    ferry_mysql_rows_quote_ident(&q, c->col.name);
    const char *name = q.buf;
    ferry_type_t t = c->col.type;
    if (is_float_type(t) || is_float_type(other->col.type)) {
        /* exact: the text of the stored binary value; tolerance applies in C */
        ferry_strbuf_printf(&sb, "CAST(%s AS DOUBLE)", name);
    } else if (t == FERRY_TYPE_DECIMAL && c->col.scale != other->col.scale) {
        int scale = c->col.scale > other->col.scale ? c->col.scale : other->col.scale;
        ferry_strbuf_printf(&sb, "CAST(%s AS DECIMAL(65,%d))", name, scale);
    } else if (is_temporal(t) && c->col.fsp > other->col.fsp) {
        /* the lower precision of the two; CAST truncates as the server stores */
        ferry_strbuf_printf(&sb, "CAST(%s AS %s(%d))", name,
                            t == FERRY_TYPE_TIME ? "TIME" : "DATETIME", other->col.fsp);
    } else if (json) {
        /* MariaDB keeps JSON as text: normalise (key order, spaces, numbers) */
        if (maria)
            ferry_strbuf_printf(&sb, "IFNULL(JSON_NORMALIZE(%s),%s)", name, name);
        else
            ferry_strbuf_printf(&sb, "CAST(%s AS CHAR)", name);
    } else if (t == FERRY_TYPE_BIT) {
        ferry_strbuf_printf(&sb, "(%s+0)", name);
    } else if (t == FERRY_TYPE_STRING && is_char(c) != is_char(other)) {
        ferry_strbuf_printf(&sb, "TRIM(TRAILING ' ' FROM %s%s%s)",
                            needs_convert(c) ? "CONVERT(" : "", name,
                            needs_convert(c) ? " USING utf8mb4)" : "");
    } else if (needs_convert(c)) {
        ferry_strbuf_printf(&sb, "CONVERT(%s USING utf8mb4)", name);
    } else {
        ferry_strbuf_puts(&sb, name);
    }
    ferry_strbuf_free(&q);
    if (sb.oom) {
        ferry_strbuf_free(&sb);
        return NULL;
    }
    return sb.buf;
}

/* The checksum select list of one side. */
static char *hash_list(const vtable_t *t, bool dst, bool crc32c)
{
    ferry_strbuf_t sb = FERRY_STRBUF_INIT, text = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&text, "CONCAT_WS('#'");
    for (size_t i = 0; i < t->n_cols; i++)
        ferry_strbuf_printf(&text, ",%s", dst ? t->cols[i].dst_expr : t->cols[i].src_expr);
    for (size_t i = 0; i < t->n_cols; i++)
        if (t->cols[i].is_text)
            ferry_strbuf_printf(&text, ",LENGTH(%s)",
                                dst ? t->cols[i].dst_expr : t->cols[i].src_expr);
    for (size_t i = 0; i < t->n_cols; i++) {
        const vcol_t *c = &t->cols[i];
        if ((c->src->col.flags | c->dst->col.flags) & FERRY_COL_NULLABLE) {
            ferry_strbuf_puts(&text, ",ISNULL(");
            ferry_mysql_rows_quote_ident(&text, c->src->col.name);
            ferry_strbuf_puts(&text, ")");
        }
    }
    ferry_strbuf_puts(&text, ")");
    if (crc32c)
        ferry_strbuf_printf(&sb, "COUNT(*),SUM(CRC32(@ferry_r:=%s)),SUM(CRC32C(@ferry_r))",
                            text.buf ? text.buf : "");
    else /* MySQL has no CRC32C: 64 bits of MD5 instead (slower) */
        ferry_strbuf_printf(&sb,
                            "COUNT(*),SUM(CONV(LEFT(MD5(@ferry_r:=%s),16),16,10)),"
                            "SUM(CRC32(@ferry_r))",
                            text.buf ? text.buf : "");
    bool oom = text.oom;
    ferry_strbuf_free(&text);
    if (oom || sb.oom) {
        ferry_strbuf_free(&sb);
        return NULL;
    }
    return sb.buf;
}

/* Adds the compared column i of t to both row models. */
static int add_model_columns(vtable_t *t, vcol_t *c, char *errstr, size_t errstr_size)
{
    ferry_column_t s = c->src->col, d = c->dst->col;
    d.pk_pos = s.pk_pos;
    d.flags = (d.flags & ~FERRY_COL_NULLABLE) | (c->dst->col.flags & FERRY_COL_NULLABLE);
    int rc = ferry_table_add_column(t->src_t, &s, errstr, errstr_size);
    if (!rc)
        rc = ferry_table_add_column(t->dst_t, &d, errstr, errstr_size);
    c->src_idx = c->dst_idx = ferry_table_ncolumns(t->src_t) - 1;
    return rc;
}

int ferry_verify_table_prepare(vtable_t *t, bool src_maria, bool dst_maria, char *errstr,
                               size_t errstr_size)
{
    t->src_t = ferry_table_new(t->src_db, t->src_name);
    t->dst_t = ferry_table_new(t->dst_db, t->dst_name);
    t->cols = calloc(t->src_def->n_columns ? t->src_def->n_columns : 1, sizeof(*t->cols));
    t->key = calloc(t->src_def->n_columns ? t->src_def->n_columns : 1, sizeof(*t->key));
    if (!t->src_t || !t->dst_t || !t->cols || !t->key)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    bool crc32c = src_maria && dst_maria;
    for (size_t i = 0; i < t->src_def->n_columns; i++) {
        const ferry_coldef_t *s = &t->src_def->columns[i];
        int j = ferry_tabledef_find_column(t->dst_def, s->col.name);
        if (j < 0)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOT_FOUND,
                                 "could not verify \"%s\": column \"%s\" is missing at the "
                                 "destination table `%s`.`%s`",
                                 t->label, s->col.name, t->dst_db, t->dst_name);
        const ferry_coldef_t *d = &t->dst_def->columns[j];
        if (s->col.type == 0 || d->col.type == 0)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                                 "could not verify \"%s\": column \"%s\" has a type ferry does "
                                 "not carry",
                                 t->label, s->col.name);
        vcol_t *c = &t->cols[t->n_cols++];
        c->src = s;
        c->dst = d;
        c->is_float = is_float_type(s->col.type) || is_float_type(d->col.type);
        c->writable = d->generated == FERRY_GENERATED_NONE;
        bool json = is_json(t->src_def, s) || is_json(t->dst_def, d);
        c->src_expr = canonical_expr(s, d, json, src_maria);
        c->dst_expr = canonical_expr(d, s, json, dst_maria);
        c->is_text = is_text_type(s->col.type) && !c->is_float;
        if (!c->src_expr || !c->dst_expr)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        int rc = add_model_columns(t, c, errstr, errstr_size);
        if (rc)
            return rc;
    }
    size_t idx[512];
    size_t nk = ferry_table_ncolumns(t->src_t) <= 512 ? ferry_chunk_key_columns(t->src_t, idx) : 0;
    for (size_t k = 0; k < nk; k++)
        t->key[t->n_key++] = idx[k];
    t->splittable = t->n_key > 0 && ferry_chunk_table_splittable(t->src_t);
    t->hash_src = hash_list(t, false, crc32c);
    t->hash_dst = hash_list(t, true, crc32c);
    if (!t->hash_src || !t->hash_dst)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    return 0;
}

void ferry_verify_table_free(vtable_t *t)
{
    for (size_t i = 0; i < t->n_cols; i++) {
        free(t->cols[i].src_expr);
        free(t->cols[i].dst_expr);
    }
    free(t->cols);
    free(t->key);
    free(t->hash_src);
    free(t->hash_dst);
    ferry_table_destroy(t->src_t);
    ferry_table_destroy(t->dst_t);
    ferry_tabledef_destroy(t->src_def);
    ferry_tabledef_destroy(t->dst_def);
    free(t->src_db);
    free(t->src_name);
    free(t->dst_db);
    free(t->dst_name);
    free(t->label);
    free(t->where);
}

void ferry_verify_sql_text(ferry_strbuf_t *sb, const char *s)
{
    ferry_strbuf_puts(sb, "_utf8mb4 X'");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        ferry_strbuf_printf(sb, "%02x", *p);
    ferry_strbuf_puts(sb, "'");
}

void ferry_verify_sql_table(ferry_strbuf_t *sb, const vtable_t *t, bool dst)
{
    ferry_mysql_rows_quote_table(sb, dst ? t->dst_t : t->src_t);
}

int ferry_verify_sql_where(ferry_strbuf_t *sb, const vtable_t *t, const ferry_chunk_value_t *lo,
                           const ferry_chunk_value_t *hi, char *errstr, size_t errstr_size)
{
    const char *glue = " WHERE ";
    int rc = 0;
    if (lo) {
        ferry_strbuf_puts(sb, glue);
        rc = ferry_chunk_sql_compare(sb, t->src_t, lo, true, false, errstr, errstr_size);
        glue = " AND ";
    }
    if (!rc && hi) {
        ferry_strbuf_puts(sb, glue);
        rc = ferry_chunk_sql_compare(sb, t->src_t, hi, false, true, errstr, errstr_size);
        glue = " AND ";
    }
    if (!rc && t->where)
        ferry_strbuf_printf(sb, "%s(%s)", glue, t->where);
    return rc;
}

int ferry_verify_query_both(MYSQL *src, MYSQL *dst, const char *src_sql, const char *dst_sql,
                            MYSQL_RES **src_res, MYSQL_RES **dst_res, const char *what,
                            const char *table, char *errstr, size_t errstr_size)
{
    *src_res = *dst_res = NULL;
    MYSQL *conns[2] = {src, dst};
    const char *sqls[2] = {src_sql, dst_sql};
    const char *roles[2] = {"source", "destination"};
    bool sent[2] = {false, false};
    int rc = 0;
    for (int i = 0; i < 2 && !rc; i++) {
        if (mysql_send_query(conns[i], sqls[i], (unsigned long)strlen(sqls[i])) != 0)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                               "could not %s of \"%s\" on the %s: %s", what, table, roles[i],
                               mysql_error(conns[i]));
        else
            sent[i] = true;
    }
    MYSQL_RES **res[2] = {src_res, dst_res};
    for (int i = 0; i < 2; i++) {
        if (!sent[i])
            continue;
        if (mysql_read_query_result(conns[i]) != 0 || !(*res[i] = mysql_store_result(conns[i]))) {
            if (!rc)
                rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                                   "could not %s of \"%s\" on the %s: %s", what, table, roles[i],
                                   mysql_error(conns[i]));
        }
    }
    if (rc) {
        mysql_free_result(*src_res);
        mysql_free_result(*dst_res);
        *src_res = *dst_res = NULL;
    }
    return rc;
}
