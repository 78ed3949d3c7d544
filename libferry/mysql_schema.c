/*
 * mysql_schema.c - reading MySQL-family table definitions from
 * information_schema, mapping their columns to the row model, table
 * selection patterns and prechecks.
 *
 * Every query filters on TABLE_SCHEMA/TABLE_NAME with '=' (which
 * information_schema compares case-insensitively on some servers) and the
 * rows are then matched byte for byte here, so tables "T" and "t" of one
 * database never mix. Servers' spelling differences are described in
 * mysql_schema.h; they are all handled in this file.
 */
#define _GNU_SOURCE /* strcasestr, asprintf */
#include "mysql_schema.h"

#include <ctype.h>
#include <stdarg.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "err.h"

/* ---- small helpers ------------------------------------------------------- */

/* Grows an arena-backed array by one slot; returns the new slot or NULL. */
static void *grow(ferry_arena_t *a, void **arr, size_t *n, size_t *cap, size_t elsize)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        void *na = ferry_arena_calloc(a, ncap, elsize);
        if (!na)
            return NULL;
        if (*n)
            memcpy(na, *arr, *n * elsize);
        *arr = na;
        *cap = ncap;
    }
    void *slot = (char *)*arr + *n * elsize;
    memset(slot, 0, elsize);
    (*n)++;
    return slot;
}

static bool ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

static bool istarts(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

ferry_mysql_flavor_t ferry_mysql_flavor_from_version(const char *version)
{
    if (version && strcasestr(version, "mariadb"))
        return FERRY_MYSQL_FLAVOR_MARIADB;
    return FERRY_MYSQL_FLAVOR_MYSQL;
}

/* ---- the model ------------------------------------------------------------ */

ferry_tabledef_t *ferry_tabledef_new(const char *db, const char *name)
{
    ferry_tabledef_t *def = calloc(1, sizeof(*def));
    if (!def)
        return NULL;
    def->arena = ferry_arena_new(16384);
    if (!def->arena)
        goto fail;
    def->db = ferry_arena_strdup(def->arena, db ? db : "");
    def->name = ferry_arena_strdup(def->arena, name ? name : "");
    def->comment = def->db ? ferry_arena_strdup(def->arena, "") : NULL;
    if (!def->db || !def->name || !def->comment)
        goto fail;
    return def;
fail:
    ferry_tabledef_destroy(def);
    return NULL;
}

void ferry_tabledef_destroy(ferry_tabledef_t *def)
{
    if (!def)
        return;
    ferry_arena_destroy(def->arena);
    free(def);
}

int ferry_tabledef_find_column(const ferry_tabledef_t *def, const char *name)
{
    for (size_t i = 0; i < def->n_columns; i++)
        if (strcasecmp(def->columns[i].col.name, name) == 0)
            return (int)i;
    return -1;
}

const ferry_indexdef_t *ferry_tabledef_row_key(const ferry_tabledef_t *def)
{
    for (size_t i = 0; i < def->n_indexes; i++)
        if (def->indexes[i].kind == FERRY_INDEX_PRIMARY)
            return &def->indexes[i];
    for (size_t i = 0; i < def->n_indexes; i++) {
        const ferry_indexdef_t *ix = &def->indexes[i];
        if (ix->kind != FERRY_INDEX_UNIQUE || ix->n_parts == 0)
            continue;
        bool ok = true;
        for (size_t p = 0; p < ix->n_parts && ok; p++) {
            const ferry_index_part_t *part = &ix->parts[p];
            int c = part->column ? ferry_tabledef_find_column(def, part->column) : -1;
            ok = c >= 0 && part->prefix == 0 && !(def->columns[c].col.flags & FERRY_COL_NULLABLE);
        }
        if (ok)
            return ix;
    }
    return NULL;
}

bool ferry_tabledef_other_unique_key(const ferry_tabledef_t *def)
{
    const ferry_indexdef_t *key = ferry_tabledef_row_key(def);
    for (size_t i = 0; i < def->n_indexes; i++)
        if (&def->indexes[i] != key && def->indexes[i].kind == FERRY_INDEX_UNIQUE)
            return true;
    return false;
}

int ferry_tabledef_to_table(const ferry_tabledef_t *def, ferry_table_t **out, char *errstr,
                            size_t errstr_size)
{
    *out = NULL;
    ferry_table_t *t = ferry_table_new(def->db, def->name);
    if (!t)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < def->n_columns; i++) {
        const ferry_column_t *c = &def->columns[i].col;
        if (c->type == 0) {
            ferry_table_destroy(t);
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                                 "could not map column \"%s\" of \"%s.%s\": type \"%s\" is not "
                                 "supported",
                                 c->name, def->db, def->name, def->columns[i].column_type);
        }
        int rc = ferry_table_add_column(t, c, errstr, errstr_size);
        if (rc) {
            ferry_table_destroy(t);
            return rc;
        }
    }
    *out = t;
    return 0;
}

/* ---- patterns ------------------------------------------------------------- */

/* Glob over [p, pe) against s: '*' and '%' match any run, all else itself. */
static bool glob_match(const char *p, const char *pe, const char *s)
{
    const char *star_p = NULL, *star_s = NULL;
    while (*s) {
        if (p < pe && (*p == '*' || *p == '%')) {
            star_p = ++p;
            star_s = s;
        } else if (p < pe && *p == *s) {
            p++;
            s++;
        } else if (star_p) {
            p = star_p;
            s = ++star_s;
        } else {
            return false;
        }
    }
    while (p < pe && (*p == '*' || *p == '%'))
        p++;
    return p == pe;
}

bool ferry_table_pattern_match(const char *pattern, const char *db, const char *table)
{
    if (!pattern || !db || !table)
        return false;
    const char *dot = strchr(pattern, '.');
    if (!dot)
        return glob_match(pattern, pattern + strlen(pattern), db);
    return glob_match(pattern, dot, db) && glob_match(dot + 1, dot + 1 + strlen(dot + 1), table);
}

/* ---- ENUM/SET members ------------------------------------------------------ */

/* MySQL's one-letter string escapes, and the bytes they stand for. */
static const char escape_letters[] = "0bnrtZ";
static const char escaped_bytes[] = "\0\b\n\r\t\032";

int ferry_mysql_read_string(const char *s, size_t len, ferry_arena_t *arena, char **out,
                            size_t *out_len, size_t *used)
{
    if (len == 0 || s[0] != '\'')
        return FERRY_ERR_INVALID;
    char *o = ferry_arena_alloc(arena, len); /* undoing escapes never makes text longer */
    if (!o)
        return FERRY_ERR_NOMEM;
    size_t n = 0, i = 1;
    for (;;) {
        if (i >= len)
            return FERRY_ERR_INVALID; /* unterminated */
        char c = s[i++];
        if (c == '\'') {
            if (i < len && s[i] == '\'') {
                o[n++] = '\'';
                i++;
                continue;
            }
            break;
        }
        if (c != '\\') {
            o[n++] = c;
            continue;
        }
        if (i >= len)
            return FERRY_ERR_INVALID;
        c = s[i++];
        const char *hit = memchr(escape_letters, c, sizeof(escape_letters) - 1);
        if (hit) {
            o[n++] = escaped_bytes[hit - escape_letters];
        } else if (c == '%' || c == '_') { /* kept as two characters */
            o[n++] = '\\';
            o[n++] = c;
        } else {
            o[n++] = c;
        }
    }
    o[n] = '\0';
    *out = o;
    *out_len = n;
    *used = i;
    return 0;
}

/* ferry_mysql_read_string() on the C string at *pp, advancing *pp past the literal. */
static int unquote_at(const char **pp, ferry_arena_t *a, char **out)
{
    size_t len, used;
    int rc = ferry_mysql_read_string(*pp, strlen(*pp), a, out, &len, &used);
    if (rc == 0)
        *pp += used;
    return rc;
}

int ferry_mysql_parse_members(const char *column_type, ferry_arena_t *arena, const char ***members,
                              uint32_t *n_members)
{
    *members = NULL;
    *n_members = 0;
    const char *p = column_type;
    if (istarts(p, "enum("))
        p += 5;
    else if (istarts(p, "set("))
        p += 4;
    else
        return FERRY_ERR_INVALID;
    const char **arr = NULL;
    size_t n = 0, cap = 0;
    while (*p == '\'') {
        char *m;
        int rc = unquote_at(&p, arena, &m);
        if (rc != 0)
            return rc;
        const char **slot = grow(arena, (void **)&arr, &n, &cap, sizeof(*arr));
        if (!slot)
            return FERRY_ERR_NOMEM;
        *slot = m;
        if (*p == ',')
            p++;
        else
            break;
    }
    if (*p != ')')
        return FERRY_ERR_INVALID;
    *members = arr;
    *n_members = (uint32_t)n;
    return 0;
}

/* ---- type mapping ---------------------------------------------------------- */

typedef struct {
    const char *name;
    ferry_type_t type;
    uint32_t length; /* integer storage width */
} type_entry_t;

static const type_entry_t mysql_types[] = {
    {"tinyint", FERRY_TYPE_INT, 1},
    {"smallint", FERRY_TYPE_INT, 2},
    {"mediumint", FERRY_TYPE_INT, 3},
    {"int", FERRY_TYPE_INT, 4},
    {"integer", FERRY_TYPE_INT, 4},
    {"bigint", FERRY_TYPE_INT, 8},
    {"decimal", FERRY_TYPE_DECIMAL, 0},
    {"numeric", FERRY_TYPE_DECIMAL, 0},
    {"float", FERRY_TYPE_FLOAT, 0},
    {"double", FERRY_TYPE_DOUBLE, 0},
    {"real", FERRY_TYPE_DOUBLE, 0},
    {"double precision", FERRY_TYPE_DOUBLE, 0},
    {"bit", FERRY_TYPE_BIT, 0},
    {"date", FERRY_TYPE_DATE, 0},
    {"time", FERRY_TYPE_TIME, 0},
    {"datetime", FERRY_TYPE_DATETIME, 0},
    {"timestamp", FERRY_TYPE_TIMESTAMP, 0},
    {"year", FERRY_TYPE_YEAR, 0},
    {"char", FERRY_TYPE_STRING, 0},
    {"varchar", FERRY_TYPE_STRING, 0},
    {"tinytext", FERRY_TYPE_STRING, 0},
    {"text", FERRY_TYPE_STRING, 0},
    {"mediumtext", FERRY_TYPE_STRING, 0},
    {"longtext", FERRY_TYPE_STRING, 0},
    {"binary", FERRY_TYPE_BYTES, 0},
    {"varbinary", FERRY_TYPE_BYTES, 0},
    {"tinyblob", FERRY_TYPE_BYTES, 0},
    {"blob", FERRY_TYPE_BYTES, 0},
    {"mediumblob", FERRY_TYPE_BYTES, 0},
    {"longblob", FERRY_TYPE_BYTES, 0},
    {"enum", FERRY_TYPE_ENUM, 0},
    {"set", FERRY_TYPE_SET, 0},
    {"json", FERRY_TYPE_JSON, 0},
    {"geometry", FERRY_TYPE_GEOMETRY, 0},
    {"point", FERRY_TYPE_GEOMETRY, 0},
    {"linestring", FERRY_TYPE_GEOMETRY, 0},
    {"polygon", FERRY_TYPE_GEOMETRY, 0},
    {"multipoint", FERRY_TYPE_GEOMETRY, 0},
    {"multilinestring", FERRY_TYPE_GEOMETRY, 0},
    {"multipolygon", FERRY_TYPE_GEOMETRY, 0},
    {"geometrycollection", FERRY_TYPE_GEOMETRY, 0},
    {"geomcollection", FERRY_TYPE_GEOMETRY, 0},
    {"uuid", FERRY_TYPE_UUID, 0},
    {"inet4", FERRY_TYPE_STRING, 0},
    {"inet6", FERRY_TYPE_STRING, 0},
    {"vector", FERRY_TYPE_BYTES, 0},
};

int ferry_mysql_map_column(const char *data_type, const char *column_type, long long char_len,
                           long long precision, long long scale, long long fsp,
                           ferry_arena_t *arena, ferry_column_t *col)
{
    const type_entry_t *e = NULL;
    for (size_t i = 0; i < sizeof(mysql_types) / sizeof(mysql_types[0]); i++)
        if (ieq(data_type, mysql_types[i].name)) {
            e = &mysql_types[i];
            break;
        }
    col->type = 0;
    if (!e)
        return FERRY_ERR_UNSUPPORTED;
    bool is_unsigned = column_type && strcasestr(column_type, "unsigned") != NULL;
    col->type = e->type;
    col->flags &= ~FERRY_COL_UNSIGNED;
    col->length = 0;
    col->precision = 0;
    col->scale = 0;
    col->fsp = 0;
    switch (e->type) {
    case FERRY_TYPE_INT:
        col->length = e->length;
        if (is_unsigned) {
            col->type = FERRY_TYPE_UINT;
            col->flags |= FERRY_COL_UNSIGNED;
        }
        break;
    case FERRY_TYPE_DECIMAL:
        col->precision = precision > 0 ? (uint16_t)precision : 0;
        col->scale = scale > 0 ? (int16_t)scale : 0;
        if (is_unsigned)
            col->flags |= FERRY_COL_UNSIGNED;
        break;
    case FERRY_TYPE_FLOAT:
    case FERRY_TYPE_DOUBLE:
        if (is_unsigned)
            col->flags |= FERRY_COL_UNSIGNED;
        break;
    case FERRY_TYPE_BIT:
        col->length = precision > 0 ? (uint32_t)precision : 1;
        break;
    case FERRY_TYPE_TIME:
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        col->fsp = fsp > 0 && fsp <= 6 ? (int8_t)fsp : 0;
        break;
    case FERRY_TYPE_STRING:
    case FERRY_TYPE_BYTES:
        if (ieq(data_type, "char") || ieq(data_type, "varchar") || ieq(data_type, "binary") ||
            ieq(data_type, "varbinary"))
            col->length = char_len > 0 ? (uint32_t)char_len : 0;
        break;
    case FERRY_TYPE_ENUM:
    case FERRY_TYPE_SET: {
        const char **m = NULL;
        uint32_t nm = 0;
        int rc = ferry_mysql_parse_members(column_type ? column_type : "", arena, &m, &nm);
        if (rc)
            return rc;
        col->members = m;
        col->n_members = nm;
        break;
    }
    default:
        break;
    }
    return 0;
}

/* ---- queries ---------------------------------------------------------------- */

typedef struct {
    MYSQL *conn;
    char *errstr;
    size_t errstr_size;
    const char *what; /* "db.table" for messages */
} reader_t;

/* Appends 'text' as an escaped SQL string literal of conn to a query buffer. */
static char *sql_literal(MYSQL *conn, const char *text)
{
    size_t n = strlen(text);
    char *out = malloc(2 * n + 3);
    if (!out)
        return NULL;
    out[0] = '\'';
    unsigned long m = mysql_real_escape_string(conn, out + 1, text, (unsigned long)n);
    out[1 + m] = '\'';
    out[2 + m] = '\0';
    return out;
}

/*
 * Runs a query built from fmt with the db and table literals substituted
 * (fmt has %1$s for db and %2$s for table) and stores its result.
 * Returns 0 and *res, or FERRY_ERR_IO / FERRY_ERR_NOMEM. When tolerate is
 * a server error number, that error gives 0 with *res NULL.
 */
static int run_query(reader_t *r, const char *fmt, const char *db, const char *table,
                     unsigned tolerate, MYSQL_RES **res)
{
    *res = NULL;
    char *ldb = sql_literal(r->conn, db ? db : "");
    char *ltb = sql_literal(r->conn, table ? table : "");
    char *q = NULL;
    int rc = 0;
    if (!ldb || !ltb || asprintf(&q, fmt, ldb, ltb) < 0) {
        q = NULL;
        rc = ferry_err_set(r->errstr, r->errstr_size, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (mysql_real_query(r->conn, q, (unsigned long)strlen(q)) != 0) {
        if (tolerate && mysql_errno(r->conn) == tolerate)
            goto out;
        rc =
            ferry_err_set(r->errstr, r->errstr_size, FERRY_ERR_IO,
                          "could not read definition of \"%s\": %s", r->what, mysql_error(r->conn));
        goto out;
    }
    *res = mysql_store_result(r->conn);
    if (!*res)
        rc = ferry_err_set(r->errstr, r->errstr_size, FERRY_ERR_IO,
                           "could not read definition of \"%s\": %s", r->what,
                           mysql_errno(r->conn) ? mysql_error(r->conn) : "no result set");
out:
    free(ldb);
    free(ltb);
    free(q);
    return rc;
}

/* An arena copy of field i of row (NULL stays NULL). */
static const char *fdup(ferry_arena_t *a, MYSQL_ROW row, unsigned long *lens, unsigned i, bool *oom)
{
    if (!row[i])
        return NULL;
    char *s = ferry_arena_strndup(a, row[i], lens[i]);
    if (!s)
        *oom = true;
    return s;
}

static long long fnum(MYSQL_ROW row, unsigned i)
{
    if (!row[i])
        return -1;
    return strtoll(row[i], NULL, 10);
}

/* True when the row's first two fields are exactly db and table. */
static bool row_is(MYSQL_ROW row, unsigned long *lens, const char *db, const char *table)
{
    return row[0] && row[1] && lens[0] == strlen(db) && memcmp(row[0], db, lens[0]) == 0 &&
           lens[1] == strlen(table) && memcmp(row[1], table, lens[1]) == 0;
}

/* The next row of res whose first two fields name def's table (lens: its lengths), or NULL. */
static MYSQL_ROW next_table_row(MYSQL_RES *res, const ferry_tabledef_t *def, unsigned long **lens)
{
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        *lens = mysql_fetch_lengths(res);
        if (row_is(row, *lens, def->db, def->name))
            return row;
    }
    return NULL;
}

/* Frees res; returns the reader's out-of-memory error when oom, else 0. */
static int end_rows(reader_t *r, MYSQL_RES *res, bool oom)
{
    mysql_free_result(res);
    return oom ? ferry_err_set(r->errstr, r->errstr_size, FERRY_ERR_NOMEM, "out of memory") : 0;
}

/* ---- defaults and EXTRA ------------------------------------------------------- */

static bool is_number_literal(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    bool digits = false;
    while (isdigit((unsigned char)*p)) {
        p++;
        digits = true;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits = true;
        }
    }
    if (digits && (*p == 'e' || *p == 'E')) {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return digits && *p == '\0';
}

/* b'0101', x'0A', 0x0A, 0b01: literals that are written back as they are. */
static bool is_bits_or_hex_literal(const char *s)
{
    if ((s[0] == 'b' || s[0] == 'B' || s[0] == 'x' || s[0] == 'X') && s[1] == '\'')
        return s[strlen(s) - 1] == '\'';
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'b')) {
        for (const char *p = s + 2; *p; p++)
            if (!isxdigit((unsigned char)*p))
                return false;
        return s[2] != '\0';
    }
    return false;
}

bool ferry_mysql_is_now_expr(const char *s)
{
    static const char *const names[] = {"current_timestamp", "now", "localtime", "localtimestamp"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]);
        if (strncasecmp(s, names[i], n) == 0 && (s[n] == '\0' || s[n] == '('))
            return true;
    }
    return false;
}

static int set_default(ferry_arena_t *a, ferry_mysql_flavor_t flavor, ferry_coldef_t *cd,
                       const char *raw, const char *extra)
{
    cd->default_kind = FERRY_DEFAULT_NONE;
    cd->default_value = NULL;
    if (cd->generated != FERRY_GENERATED_NONE)
        return 0;
    if (flavor == FERRY_MYSQL_FLAVOR_MARIADB) {
        if (!raw)
            return 0;
        if (strcmp(raw, "NULL") == 0) {
            cd->default_kind = FERRY_DEFAULT_NULL;
            return 0;
        }
        if (raw[0] == '\'') {
            const char *p = raw;
            char *text;
            if (unquote_at(&p, a, &text) != 0)
                return FERRY_ERR_NOMEM;
            cd->default_value = text;
            cd->default_kind = FERRY_DEFAULT_LITERAL;
            return 0;
        }
        cd->default_kind = is_number_literal(raw) || is_bits_or_hex_literal(raw)
                               ? FERRY_DEFAULT_RAW
                               : FERRY_DEFAULT_EXPRESSION;
        cd->default_value = raw;
        return 0;
    }
    /* MySQL, OceanBase, TiDB: values unquoted */
    if (!raw) {
        if (cd->col.flags & FERRY_COL_NULLABLE)
            cd->default_kind = FERRY_DEFAULT_NULL;
        return 0;
    }
    cd->default_value = raw;
    bool time_col = cd->col.type == FERRY_TYPE_DATETIME || cd->col.type == FERRY_TYPE_TIMESTAMP;
    if ((extra && strcasestr(extra, "DEFAULT_GENERATED")) ||
        (time_col && ferry_mysql_is_now_expr(raw)))
        cd->default_kind = FERRY_DEFAULT_EXPRESSION;
    else if (cd->col.type == FERRY_TYPE_BIT && is_bits_or_hex_literal(raw))
        cd->default_kind = FERRY_DEFAULT_RAW;
    else
        cd->default_kind = FERRY_DEFAULT_LITERAL;
    return 0;
}

/* Reads auto_increment, ON UPDATE, generated and invisible from EXTRA. */
static int parse_extra(ferry_arena_t *a, ferry_coldef_t *cd, const char *extra)
{
    if (!extra)
        return 0;
    const char *p = extra;
    char word[64];
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        snprintf(word, sizeof(word), "%.*s", (int)(n < 63 ? n : 63), p);
        const char *next = p + n;
        if (ieq(word, "auto_increment")) {
            cd->auto_increment = true;
        } else if (ieq(word, "invisible")) {
            cd->invisible = true;
        } else if (ieq(word, "virtual")) {
            cd->generated = FERRY_GENERATED_VIRTUAL;
        } else if (ieq(word, "stored") || ieq(word, "persistent")) {
            cd->generated = FERRY_GENERATED_STORED;
        } else if (ieq(word, "on") && istarts(next, " update ")) {
            const char *e = next + 8;
            while (*e == ' ')
                e++;
            /* the expression runs to the end or to a closing parenthesis */
            const char *end = e;
            int depth = 0;
            while (*end && (depth > 0 || *end != ' ')) {
                if (*end == '(')
                    depth++;
                else if (*end == ')')
                    depth--;
                end++;
            }
            cd->on_update = ferry_arena_strndup(a, e, (size_t)(end - e));
            if (!cd->on_update)
                return FERRY_ERR_NOMEM;
            next = end;
        }
        p = next;
    }
    return 0;
}

/* ---- reading a table ------------------------------------------------------------ */

static int read_tables_row(reader_t *r, ferry_tabledef_t *def)
{
    MYSQL_RES *res;
    int rc = run_query(r,
                       "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE, t.ENGINE, "
                       "t.TABLE_COLLATION, c.CHARACTER_SET_NAME, t.TABLE_COMMENT, "
                       "t.AUTO_INCREMENT, t.CREATE_OPTIONS FROM information_schema.TABLES t "
                       "LEFT JOIN information_schema.COLLATIONS c "
                       "ON c.COLLATION_NAME = t.TABLE_COLLATION "
                       "WHERE t.TABLE_SCHEMA = %1$s AND t.TABLE_NAME = %2$s",
                       def->db, def->name, 0, &res);
    if (rc)
        return rc;
    MYSQL_ROW row;
    unsigned long *lens;
    bool found = false, oom = false;
    while ((row = next_table_row(res, def, &lens))) {
        if (!row[2] || strcmp(row[2], "BASE TABLE") != 0)
            break;
        found = true;
        ferry_arena_t *a = def->arena;
        def->engine = fdup(a, row, lens, 3, &oom);
        def->collation = fdup(a, row, lens, 4, &oom);
        def->charset = fdup(a, row, lens, 5, &oom);
        if (row[6])
            def->comment = fdup(a, row, lens, 6, &oom);
        def->auto_increment = row[7] ? strtoull(row[7], NULL, 10) : 0;
        def->create_options = fdup(a, row, lens, 8, &oom);
    }
    if ((rc = end_rows(r, res, oom)) != 0)
        return rc;
    if (!found)
        return ferry_err_set(r->errstr, r->errstr_size, FERRY_ERR_NOT_FOUND,
                             "could not read definition of \"%s\": no such base table", r->what);
    return 0;
}

static int read_columns(reader_t *r, ferry_mysql_flavor_t flavor, ferry_tabledef_t *def)
{
    MYSQL_RES *res;
    int rc = run_query(r,
                       "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT, "
                       "IS_NULLABLE, DATA_TYPE, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH, "
                       "NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, "
                       "CHARACTER_SET_NAME, COLLATION_NAME, EXTRA, COLUMN_COMMENT, "
                       "GENERATION_EXPRESSION FROM information_schema.COLUMNS "
                       "WHERE TABLE_SCHEMA = %1$s AND TABLE_NAME = %2$s "
                       "ORDER BY ORDINAL_POSITION",
                       def->db, def->name, 0, &res);
    if (rc)
        return rc;
    ferry_arena_t *a = def->arena;
    size_t cap = 0;
    bool oom = false;
    MYSQL_ROW row;
    unsigned long *lens;
    while (!oom && !rc && (row = next_table_row(res, def, &lens))) {
        ferry_coldef_t *cd = grow(a, (void **)&def->columns, &def->n_columns, &cap, sizeof(*cd));
        if (!cd) {
            oom = true;
            break;
        }
        cd->col.name = fdup(a, row, lens, 2, &oom);
        cd->data_type = fdup(a, row, lens, 5, &oom);
        cd->column_type = fdup(a, row, lens, 6, &oom);
        cd->col.source_type = cd->column_type;
        if (row[4] && strcmp(row[4], "YES") == 0)
            cd->col.flags |= FERRY_COL_NULLABLE;
        rc = ferry_mysql_map_column(cd->data_type ? cd->data_type : "",
                                    cd->column_type ? cd->column_type : "", fnum(row, 7),
                                    fnum(row, 8), fnum(row, 9), fnum(row, 10), a, &cd->col);
        if (rc == FERRY_ERR_UNSUPPORTED || rc == FERRY_ERR_INVALID)
            rc = 0; /* kept with type 0; the precheck reports it */
        if (rc == FERRY_ERR_NOMEM)
            oom = true;
        bool textual = cd->col.type == FERRY_TYPE_STRING || cd->col.type == FERRY_TYPE_ENUM ||
                       cd->col.type == FERRY_TYPE_SET || cd->col.type == FERRY_TYPE_JSON;
        if (textual || cd->col.type == 0) {
            cd->charset = fdup(a, row, lens, 11, &oom);
            cd->collation = fdup(a, row, lens, 12, &oom);
        }
        if (cd->col.type == FERRY_TYPE_STRING || cd->col.type == FERRY_TYPE_ENUM ||
            cd->col.type == FERRY_TYPE_SET)
            cd->col.charset = cd->charset;
        const char *extra = fdup(a, row, lens, 13, &oom);
        cd->comment = row[14] ? fdup(a, row, lens, 14, &oom) : "";
        if (oom || (rc = parse_extra(a, cd, extra)) != 0)
            break;
        if (cd->generated != FERRY_GENERATED_NONE)
            cd->generation_expr = row[15] ? fdup(a, row, lens, 15, &oom) : "";
        if ((rc = set_default(a, flavor, cd, fdup(a, row, lens, 3, &oom), extra)) != 0)
            break;
    }
    mysql_free_result(res);
    if (oom || rc == FERRY_ERR_NOMEM)
        return ferry_err_set(r->errstr, r->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (rc)
        return rc;
    if (def->n_columns == 0)
        return ferry_err_set(r->errstr, r->errstr_size, FERRY_ERR_NOT_FOUND,
                             "could not read definition of \"%s\": no columns", r->what);
    return 0;
}

static ferry_indexdef_t *find_index(ferry_tabledef_t *def, const char *name)
{
    for (size_t i = 0; i < def->n_indexes; i++)
        if (strcmp(def->indexes[i].name, name) == 0)
            return &def->indexes[i];
    return NULL;
}

static int read_indexes(reader_t *r, ferry_mysql_flavor_t flavor, ferry_tabledef_t *def)
{
    /* MariaDB has IGNORED (10.6+); MySQL 8 IS_VISIBLE and EXPRESSION. */
    const char *q = flavor == FERRY_MYSQL_FLAVOR_MARIADB
                        ? "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, "
                          "COLUMN_NAME, COLLATION, SUB_PART, INDEX_TYPE, INDEX_COMMENT, "
                          "IGNORED = 'YES', NULL FROM information_schema.STATISTICS "
                          "WHERE TABLE_SCHEMA = %1$s AND TABLE_NAME = %2$s"
                        : "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, "
                          "COLUMN_NAME, COLLATION, SUB_PART, INDEX_TYPE, INDEX_COMMENT, "
                          "IS_VISIBLE = 'NO', EXPRESSION FROM information_schema.STATISTICS "
                          "WHERE TABLE_SCHEMA = %1$s AND TABLE_NAME = %2$s";
    MYSQL_RES *res;
    /* 1054: unknown column (MariaDB before 10.6, MySQL 5.7): retried without */
    int rc = run_query(r, q, def->db, def->name, 1054, &res);
    if (rc)
        return rc;
    if (!res) {
        rc = run_query(r,
                       "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, "
                       "COLUMN_NAME, COLLATION, SUB_PART, INDEX_TYPE, INDEX_COMMENT, 0, NULL "
                       "FROM information_schema.STATISTICS "
                       "WHERE TABLE_SCHEMA = %1$s AND TABLE_NAME = %2$s",
                       def->db, def->name, 0, &res);
        if (rc)
            return rc;
    }
    ferry_arena_t *a = def->arena;
    size_t cap = 0;
    bool oom = false;
    /* parts arrive in any order: collect them, then sort by SEQ_IN_INDEX */
    typedef struct {
        const char *ix_name;
        long long seq;
        ferry_index_part_t part;
    } raw_part_t;
    raw_part_t *parts = NULL;
    size_t n_parts = 0, parts_cap = 0;
    MYSQL_ROW row;
    unsigned long *lens;
    while (!oom && (row = next_table_row(res, def, &lens))) {
        if (!row[2])
            continue;
        ferry_indexdef_t *ix = find_index(def, row[2]);
        if (!ix) {
            ix = grow(a, (void **)&def->indexes, &def->n_indexes, &cap, sizeof(*ix));
            if (!ix) {
                oom = true;
                break;
            }
            ix->name = fdup(a, row, lens, 2, &oom);
            const char *type = row[8] ? row[8] : "";
            if (strcmp(row[2], "PRIMARY") == 0)
                ix->kind = FERRY_INDEX_PRIMARY;
            else if (strcmp(type, "FULLTEXT") == 0)
                ix->kind = FERRY_INDEX_FULLTEXT;
            else if (strcmp(type, "SPATIAL") == 0)
                ix->kind = FERRY_INDEX_SPATIAL;
            else if (row[3] && strcmp(row[3], "0") == 0)
                ix->kind = FERRY_INDEX_UNIQUE;
            else
                ix->kind = FERRY_INDEX_PLAIN;
            if (strcmp(type, "HASH") == 0)
                ix->using = "HASH";
            ix->comment = row[9] ? fdup(a, row, lens, 9, &oom) : "";
            ix->invisible = row[10] && strcmp(row[10], "1") == 0;
        }
        raw_part_t *rp = grow(a, (void **)&parts, &n_parts, &parts_cap, sizeof(*rp));
        if (!rp) {
            oom = true;
            break;
        }
        rp->ix_name = ix->name;
        rp->seq = fnum(row, 4);
        rp->part.column = fdup(a, row, lens, 5, &oom);
        rp->part.expression = fdup(a, row, lens, 11, &oom);
        rp->part.desc = row[6] && strcmp(row[6], "D") == 0;
        if (ix->kind != FERRY_INDEX_SPATIAL && row[7])
            rp->part.prefix = (uint32_t)strtoul(row[7], NULL, 10);
    }
    if ((rc = end_rows(r, res, oom)) != 0)
        return rc;
    for (size_t i = 0; i < def->n_indexes; i++) {
        ferry_indexdef_t *ix = &def->indexes[i];
        size_t n = 0;
        for (size_t k = 0; k < n_parts; k++)
            if (strcmp(parts[k].ix_name, ix->name) == 0)
                n++;
        ix->parts = ferry_arena_calloc(a, n ? n : 1, sizeof(*ix->parts));
        if (!ix->parts)
            return ferry_err_set(r->errstr, r->errstr_size, FERRY_ERR_NOMEM, "out of memory");
        /* insertion by sequence number */
        for (size_t k = 0; k < n_parts; k++) {
            if (strcmp(parts[k].ix_name, ix->name) != 0)
                continue;
            long long seq = parts[k].seq;
            size_t pos = 0;
            /* count parts of this index with a lower sequence number */
            for (size_t j = 0; j < n_parts; j++)
                if (strcmp(parts[j].ix_name, ix->name) == 0 && parts[j].seq < seq)
                    pos++;
            if (pos < n)
                ix->parts[pos] = parts[k].part;
        }
        ix->n_parts = n;
    }
    /* the primary key first */
    for (size_t i = 1; i < def->n_indexes; i++)
        if (def->indexes[i].kind == FERRY_INDEX_PRIMARY) {
            ferry_indexdef_t pk = def->indexes[i];
            memmove(&def->indexes[1], &def->indexes[0], i * sizeof(pk));
            def->indexes[0] = pk;
            break;
        }
    return 0;
}

static int read_checks(reader_t *r, ferry_mysql_flavor_t flavor, ferry_tabledef_t *def)
{
    const char *q =
        flavor == FERRY_MYSQL_FLAVOR_MARIADB
            ? "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, LEVEL = 'Column', "
              "CHECK_CLAUSE, 'YES' FROM information_schema.CHECK_CONSTRAINTS "
              "WHERE CONSTRAINT_SCHEMA = %1$s AND TABLE_NAME = %2$s ORDER BY CONSTRAINT_NAME"
            : "SELECT tc.TABLE_SCHEMA, tc.TABLE_NAME, tc.CONSTRAINT_NAME, 0, cc.CHECK_CLAUSE, "
              "tc.ENFORCED FROM information_schema.TABLE_CONSTRAINTS tc "
              "JOIN information_schema.CHECK_CONSTRAINTS cc "
              "ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA "
              "AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME "
              "WHERE tc.CONSTRAINT_TYPE = 'CHECK' AND tc.TABLE_SCHEMA = %1$s "
              "AND tc.TABLE_NAME = %2$s ORDER BY tc.CONSTRAINT_NAME";
    MYSQL_RES *res;
    /* 1109: unknown table (servers without CHECK_CONSTRAINTS have no checks) */
    int rc = run_query(r, q, def->db, def->name, 1109, &res);
    if (rc || !res)
        return rc;
    ferry_arena_t *a = def->arena;
    size_t cap = 0;
    bool oom = false;
    MYSQL_ROW row;
    unsigned long *lens;
    while (!oom && (row = next_table_row(res, def, &lens))) {
        ferry_checkdef_t *ck = grow(a, (void **)&def->checks, &def->n_checks, &cap, sizeof(*ck));
        if (!ck) {
            oom = true;
            break;
        }
        ck->name = fdup(a, row, lens, 2, &oom);
        if (row[3] && strcmp(row[3], "1") == 0)
            ck->column = ck->name;
        ck->clause = fdup(a, row, lens, 4, &oom);
        ck->not_enforced = row[5] && strcmp(row[5], "NO") == 0;
    }
    return end_rows(r, res, oom);
}

static int read_fks(reader_t *r, ferry_tabledef_t *def)
{
    MYSQL_RES *res;
    int rc = run_query(
        r,
        "SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, "
        "k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, "
        "rc.UPDATE_RULE, rc.DELETE_RULE FROM information_schema.KEY_COLUMN_USAGE k "
        "JOIN information_schema.REFERENTIAL_CONSTRAINTS rc "
        "ON rc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND rc.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
        "AND rc.TABLE_NAME = k.TABLE_NAME "
        "WHERE k.TABLE_SCHEMA = %1$s AND k.TABLE_NAME = %2$s "
        "AND k.REFERENCED_TABLE_NAME IS NOT NULL "
        "ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        def->db, def->name, 0, &res);
    if (rc)
        return rc;
    ferry_arena_t *a = def->arena;
    size_t cap = 0;
    bool oom = false;
    size_t nrows = (size_t)mysql_num_rows(res);
    MYSQL_ROW row;
    unsigned long *lens;
    ferry_fkdef_t *fk = NULL;
    while (!oom && (row = next_table_row(res, def, &lens))) {
        if (!row[2])
            continue;
        if (!fk || strcmp(fk->name, row[2]) != 0) {
            fk = grow(a, (void **)&def->fks, &def->n_fks, &cap, sizeof(*fk));
            if (!fk) {
                oom = true;
                break;
            }
            fk->name = fdup(a, row, lens, 2, &oom);
            fk->ref_db = fdup(a, row, lens, 4, &oom);
            fk->ref_table = fdup(a, row, lens, 5, &oom);
            fk->on_update = fdup(a, row, lens, 7, &oom);
            fk->on_delete = fdup(a, row, lens, 8, &oom);
            fk->columns = ferry_arena_calloc(a, nrows, sizeof(char *));
            fk->ref_columns = ferry_arena_calloc(a, nrows, sizeof(char *));
            if (!fk->columns || !fk->ref_columns) {
                oom = true;
                break;
            }
        }
        fk->columns[fk->n_columns] = fdup(a, row, lens, 3, &oom);
        fk->ref_columns[fk->n_columns] = fdup(a, row, lens, 6, &oom);
        fk->n_columns++;
    }
    return end_rows(r, res, oom);
}

static int read_triggers(reader_t *r, ferry_tabledef_t *def)
{
    MYSQL_RES *res;
    int rc = run_query(r,
                       "SELECT EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, TRIGGER_NAME, "
                       "ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT, SQL_MODE "
                       "FROM information_schema.TRIGGERS "
                       "WHERE EVENT_OBJECT_SCHEMA = %1$s AND EVENT_OBJECT_TABLE = %2$s "
                       "ORDER BY ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
                       def->db, def->name, 0, &res);
    if (rc)
        return rc;
    ferry_arena_t *a = def->arena;
    size_t cap = 0;
    bool oom = false;
    MYSQL_ROW row;
    unsigned long *lens;
    while (!oom && (row = next_table_row(res, def, &lens))) {
        ferry_triggerdef_t *tg =
            grow(a, (void **)&def->triggers, &def->n_triggers, &cap, sizeof(*tg));
        if (!tg) {
            oom = true;
            break;
        }
        tg->name = fdup(a, row, lens, 2, &oom);
        tg->timing = fdup(a, row, lens, 3, &oom);
        tg->event = fdup(a, row, lens, 4, &oom);
        tg->body = fdup(a, row, lens, 5, &oom);
        tg->sql_mode = fdup(a, row, lens, 6, &oom);
    }
    return end_rows(r, res, oom);
}

static void set_pk_positions(ferry_tabledef_t *def)
{
    const ferry_indexdef_t *key = ferry_tabledef_row_key(def);
    if (!key)
        return;
    for (size_t p = 0; p < key->n_parts; p++) {
        int c = key->parts[p].column ? ferry_tabledef_find_column(def, key->parts[p].column) : -1;
        if (c >= 0)
            def->columns[c].col.pk_pos = (uint16_t)(p + 1);
    }
}

int ferry_mysql_schema_read_table(MYSQL *conn, ferry_mysql_flavor_t flavor, const char *db,
                                  const char *table, ferry_tabledef_t **out, char *errstr,
                                  size_t errstr_size)
{
    *out = NULL;
    char what[512];
    snprintf(what, sizeof(what), "%s.%s", db, table);
    reader_t r = {conn, errstr, errstr_size, what};
    ferry_tabledef_t *def = ferry_tabledef_new(db, table);
    if (!def)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    int rc = read_tables_row(&r, def);
    if (!rc)
        rc = read_columns(&r, flavor, def);
    if (!rc)
        rc = read_indexes(&r, flavor, def);
    if (!rc)
        rc = read_checks(&r, flavor, def);
    if (!rc)
        rc = read_fks(&r, def);
    if (!rc)
        rc = read_triggers(&r, def);
    if (rc) {
        ferry_tabledef_destroy(def);
        return rc;
    }
    set_pk_positions(def);
    *out = def;
    return 0;
}

/* ---- listing tables and views ---------------------------------------------------- */

static bool any_match(const char *const *pats, size_t n, const char *db, const char *table)
{
    for (size_t i = 0; i < n; i++)
        if (ferry_table_pattern_match(pats[i], db, table))
            return true;
    return false;
}

static int cmp_names(const void *a, const void *b)
{
    const ferry_table_name_t *x = a, *y = b;
    int c = strcmp(x->db, y->db);
    return c ? c : strcmp(x->table, y->table);
}

void ferry_table_names_free(ferry_table_name_t *names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++) {
        free(names[i].db);
        free(names[i].table);
    }
    free(names);
}

int ferry_mysql_schema_list_tables(MYSQL *conn, const char *const *includes, size_t n_includes,
                                   const char *const *excludes, size_t n_excludes,
                                   ferry_table_name_t **out, size_t *n_out, char *errstr,
                                   size_t errstr_size)
{
    *out = NULL;
    *n_out = 0;
    static const char q[] = "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                            "WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN "
                            "('mysql', 'information_schema', 'performance_schema', 'sys')";
    if (mysql_real_query(conn, q, sizeof(q) - 1) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "could not list tables: %s",
                             mysql_error(conn));
    MYSQL_RES *res = mysql_store_result(conn);
    if (!res)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "could not list tables: %s",
                             mysql_error(conn));
    size_t cap = (size_t)mysql_num_rows(res) + 1, n = 0;
    ferry_table_name_t *names = calloc(cap, sizeof(*names));
    bool oom = !names;
    MYSQL_ROW row;
    while (!oom && (row = mysql_fetch_row(res))) {
        if (!row[0] || !row[1])
            continue;
        if (!any_match(includes, n_includes, row[0], row[1]) ||
            any_match(excludes, n_excludes, row[0], row[1]))
            continue;
        names[n].db = strdup(row[0]);
        names[n].table = strdup(row[1]);
        n++;
        oom = !names[n - 1].db || !names[n - 1].table;
    }
    mysql_free_result(res);
    if (oom) {
        ferry_table_names_free(names, n);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    qsort(names, n, sizeof(*names), cmp_names);
    *out = names;
    *n_out = n;
    return 0;
}

void ferry_viewlist_free(ferry_viewlist_t *list)
{
    if (!list)
        return;
    ferry_arena_destroy(list->arena);
    memset(list, 0, sizeof(*list));
}

static int cmp_views(const void *a, const void *b)
{
    return strcmp(((const ferry_viewdef_t *)a)->name, ((const ferry_viewdef_t *)b)->name);
}

int ferry_mysql_schema_read_views(MYSQL *conn, const char *db, ferry_viewlist_t *out, char *errstr,
                                  size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    char what[300];
    snprintf(what, sizeof(what), "views of %s", db);
    reader_t r = {conn, errstr, errstr_size, what};
    out->arena = ferry_arena_new(16384);
    if (!out->arena)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    MYSQL_RES *res;
    /* the second literal is unused; TABLE_NAME is repeated to keep row_is's shape */
    int rc = run_query(&r,
                       "SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, "
                       "SECURITY_TYPE, %2$s FROM information_schema.VIEWS "
                       "WHERE TABLE_SCHEMA = %1$s",
                       db, "", 0, &res);
    if (rc) {
        ferry_viewlist_free(out);
        return rc;
    }
    size_t cap = 0;
    bool oom = false;
    MYSQL_ROW row;
    while (!oom && (row = mysql_fetch_row(res))) {
        unsigned long *lens = mysql_fetch_lengths(res);
        if (!row[0] || lens[0] != strlen(db) || memcmp(row[0], db, lens[0]) != 0 || !row[1])
            continue;
        ferry_viewdef_t *v = grow(out->arena, (void **)&out->views, &out->n, &cap, sizeof(*v));
        if (!v) {
            oom = true;
            break;
        }
        v->db = fdup(out->arena, row, lens, 0, &oom);
        v->name = fdup(out->arena, row, lens, 1, &oom);
        v->definition = row[2] ? fdup(out->arena, row, lens, 2, &oom) : "";
        v->check_option = row[3] ? fdup(out->arena, row, lens, 3, &oom) : "NONE";
        v->security = row[4] ? fdup(out->arena, row, lens, 4, &oom) : "DEFINER";
    }
    mysql_free_result(res);
    if (oom) {
        ferry_viewlist_free(out);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    if (out->n > 1)
        qsort(out->views, out->n, sizeof(*out->views), cmp_views);
    return 0;
}

/* ---- prechecks -------------------------------------------------------------------- */

static int add_item(ferry_precheck_item_t **items, size_t *n, bool error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int add_item(ferry_precheck_item_t **items, size_t *n, bool error, const char *fmt, ...)
{
    ferry_precheck_item_t *ni = realloc(*items, (*n + 1) * sizeof(*ni));
    if (!ni)
        return FERRY_ERR_NOMEM;
    *items = ni;
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int rc = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return FERRY_ERR_NOMEM;
    ni[*n].error = error;
    ni[*n].text = text;
    (*n)++;
    return 0;
}

int ferry_tabledef_precheck(const ferry_tabledef_t *def, ferry_precheck_item_t **items, size_t *n)
{
    int errors = 0;
    const char *db = def->db, *t = def->name;
    for (size_t i = 0; i < def->n_columns; i++) {
        const ferry_coldef_t *cd = &def->columns[i];
        if (cd->col.type != 0)
            continue;
        errors++;
        if (add_item(items, n, true,
                     "column \"%s\" of table \"%s.%s\" has type \"%s\", which ferry cannot "
                     "carry",
                     cd->col.name, db, t, cd->column_type ? cd->column_type : "?"))
            return FERRY_ERR_NOMEM;
    }
    if (!ferry_tabledef_row_key(def) &&
        add_item(items, n, false,
                 "table \"%s.%s\" has no primary key and no unique key on NOT NULL columns: "
                 "rows are matched on all their columns, which is slow and cannot tell "
                 "duplicate rows apart",
                 db, t))
        return FERRY_ERR_NOMEM;
    if (def->create_options && strcasestr(def->create_options, "partitioned") &&
        add_item(items, n, false,
                 "table \"%s.%s\" is partitioned: the destination table is created without "
                 "partitions",
                 db, t))
        return FERRY_ERR_NOMEM;
    if (def->n_fks &&
        add_item(items, n, false,
                 "table \"%s.%s\" has %zu foreign key(s): they are added at switchover", db, t,
                 def->n_fks))
        return FERRY_ERR_NOMEM;
    if (def->n_triggers &&
        add_item(items, n, false,
                 "table \"%s.%s\" has %zu trigger(s): they are created at switchover", db, t,
                 def->n_triggers))
        return FERRY_ERR_NOMEM;
    return errors;
}

void ferry_precheck_items_free(ferry_precheck_item_t *items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        free(items[i].text);
    free(items);
}
