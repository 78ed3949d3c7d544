/*
 * mysql_schema_json.c - a table definition as a self-contained JSON
 * document, and back.
 *
 * The document is what a schema-change event carries so that a consumer can
 * create the destination table without reaching the source. It is lossless:
 * every field of ferry_tabledef_t is written, absent optional strings as
 * null, and the few strings that may not be UTF-8 (a BINARY column's default)
 * as {"hex": "..."}. Keys are written in a fixed order, so two equal
 * definitions give the same text (ferry_tabledef_equal relies on that).
 *
 *   {"format":1,"db":..,"name":..,"engine":..,"charset":..,"collation":..,
 *    "comment":..,"create_options":..,"auto_increment":"42",
 *    "columns":[{"name":..,"ferry_type":"int"|null,"column_type":..,...}],
 *    "indexes":[...],"checks":[...],"foreign_keys":[...],"triggers":[...]}
 */
#define _GNU_SOURCE /* strcasestr, asprintf */
#include "mysql_schema.h"

#include <jansson.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "err.h"
#include "strbuf.h"

#define FORMAT_VERSION 1

/* ---- writing --------------------------------------------------------------- */

static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    /* not UTF-8: carry the bytes as hex */
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        ferry_strbuf_printf(&b, "%02x", *p);
    json_t *o = b.oom ? NULL : json_pack("{s:s}", "hex", b.buf ? b.buf : "");
    ferry_strbuf_free(&b);
    return o;
}

/* Sets key to v, taking v's reference; remembers a failure in *ok. */
static void put(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        *ok = false;
}

static void append(json_t *a, json_t *v, bool *ok)
{
    if (!v || json_array_append_new(a, v) != 0)
        *ok = false;
}

static const char *default_kind_names[] = {"none", "null", "literal", "raw", "expression"};
static const char *generated_names[] = {"none", "virtual", "stored"};
static const char *index_kind_names[] = {"?", "primary", "unique", "plain", "fulltext", "spatial"};

static json_t *column_json(const ferry_coldef_t *cd, bool *ok)
{
    const ferry_column_t *c = &cd->col;
    json_t *o = json_object();
    if (!o) {
        *ok = false;
        return NULL;
    }
    put(o, "name", jstr(c->name), ok);
    put(o, "ferry_type", c->type ? json_string(ferry_type_name(c->type)) : json_null(), ok);
    put(o, "column_type", jstr(cd->column_type), ok);
    put(o, "data_type", jstr(cd->data_type), ok);
    put(o, "source_type", jstr(c->source_type), ok);
    put(o, "nullable", json_boolean(c->flags & FERRY_COL_NULLABLE), ok);
    put(o, "unsigned", json_boolean(c->flags & FERRY_COL_UNSIGNED), ok);
    put(o, "length", json_integer(c->length), ok);
    put(o, "precision", json_integer(c->precision), ok);
    put(o, "scale", json_integer(c->scale), ok);
    put(o, "fsp", json_integer(c->fsp), ok);
    put(o, "row_charset", jstr(c->charset), ok);
    if (c->type == FERRY_TYPE_ENUM || c->type == FERRY_TYPE_SET) {
        json_t *m = json_array();
        for (uint32_t i = 0; m && i < c->n_members; i++)
            append(m, jstr(c->members[i]), ok);
        put(o, "members", m, ok);
    }
    put(o, "pk_pos", json_integer(c->pk_pos), ok);
    put(o, "default_kind", json_string(default_kind_names[cd->default_kind]), ok);
    put(o, "default", jstr(cd->default_value), ok);
    put(o, "auto_increment", json_boolean(cd->auto_increment), ok);
    put(o, "on_update", jstr(cd->on_update), ok);
    put(o, "generated", json_string(generated_names[cd->generated]), ok);
    put(o, "generation_expr", jstr(cd->generation_expr), ok);
    put(o, "comment", jstr(cd->comment), ok);
    put(o, "charset", jstr(cd->charset), ok);
    put(o, "collation", jstr(cd->collation), ok);
    put(o, "invisible", json_boolean(cd->invisible), ok);
    return o;
}

static json_t *index_json(const ferry_indexdef_t *ix, bool *ok)
{
    json_t *o = json_object(), *parts = json_array();
    if (!o || !parts) {
        json_decref(o);
        json_decref(parts);
        *ok = false;
        return NULL;
    }
    put(o, "name", jstr(ix->name), ok);
    put(o, "kind", json_string(index_kind_names[ix->kind]), ok);
    put(o, "using", jstr(ix->using), ok);
    put(o, "comment", jstr(ix->comment), ok);
    put(o, "invisible", json_boolean(ix->invisible), ok);
    for (size_t i = 0; i < ix->n_parts; i++) {
        const ferry_index_part_t *p = &ix->parts[i];
        append(parts,
               json_pack("{s:o, s:o, s:I, s:b}", "column", jstr(p->column), "expression",
                         jstr(p->expression), "prefix", (json_int_t)p->prefix, "desc", p->desc),
               ok);
    }
    put(o, "parts", parts, ok);
    return o;
}

static json_t *strings_json(const char **s, size_t n, bool *ok)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        append(a, jstr(s[i]), ok);
    if (!a)
        *ok = false;
    return a;
}

char *ferry_tabledef_to_json(const ferry_tabledef_t *def)
{
    bool ok = true;
    json_t *o = json_object();
    if (!o)
        return NULL;
    char ai[24];
    snprintf(ai, sizeof(ai), "%" PRIu64, def->auto_increment);
    put(o, "format", json_integer(FORMAT_VERSION), &ok);
    put(o, "db", jstr(def->db), &ok);
    put(o, "name", jstr(def->name), &ok);
    put(o, "engine", jstr(def->engine), &ok);
    put(o, "charset", jstr(def->charset), &ok);
    put(o, "collation", jstr(def->collation), &ok);
    put(o, "comment", jstr(def->comment), &ok);
    put(o, "create_options", jstr(def->create_options), &ok);
    put(o, "auto_increment", json_string(ai), &ok);

    json_t *cols = json_array(), *ixs = json_array(), *cks = json_array(), *fks = json_array(),
           *tgs = json_array();
    for (size_t i = 0; cols && i < def->n_columns; i++)
        append(cols, column_json(&def->columns[i], &ok), &ok);
    for (size_t i = 0; ixs && i < def->n_indexes; i++)
        append(ixs, index_json(&def->indexes[i], &ok), &ok);
    for (size_t i = 0; cks && i < def->n_checks; i++) {
        const ferry_checkdef_t *c = &def->checks[i];
        append(cks,
               json_pack("{s:o, s:o, s:o, s:b}", "name", jstr(c->name), "clause", jstr(c->clause),
                         "column", jstr(c->column), "not_enforced", c->not_enforced),
               &ok);
    }
    for (size_t i = 0; fks && i < def->n_fks; i++) {
        const ferry_fkdef_t *f = &def->fks[i];
        append(fks,
               json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", jstr(f->name), "columns",
                         strings_json(f->columns, f->n_columns, &ok), "ref_db", jstr(f->ref_db),
                         "ref_table", jstr(f->ref_table), "ref_columns",
                         strings_json(f->ref_columns, f->n_columns, &ok), "on_update",
                         jstr(f->on_update), "on_delete", jstr(f->on_delete)),
               &ok);
    }
    for (size_t i = 0; tgs && i < def->n_triggers; i++) {
        const ferry_triggerdef_t *t = &def->triggers[i];
        append(tgs,
               json_pack("{s:o, s:o, s:o, s:o, s:o}", "name", jstr(t->name), "timing",
                         jstr(t->timing), "event", jstr(t->event), "body", jstr(t->body),
                         "sql_mode", jstr(t->sql_mode)),
               &ok);
    }
    put(o, "columns", cols, &ok);
    put(o, "indexes", ixs, &ok);
    put(o, "checks", cks, &ok);
    put(o, "foreign_keys", fks, &ok);
    put(o, "triggers", tgs, &ok);
    char *text = ok ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

/* ---- reading ---------------------------------------------------------------- */

typedef struct {
    ferry_arena_t *a;
    char *errstr;
    size_t errstr_size;
    int rc;
} parser_t;

static int perr(parser_t *p, int rc, const char *what)
{
    if (!p->rc)
        p->rc = ferry_err_set(p->errstr, p->errstr_size, rc, "could not parse table definition: %s",
                              what);
    return p->rc;
}

/* A string field: JSON string, {"hex": ...}, or null/absent (NULL). */
static const char *gstr(parser_t *p, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v)) {
        char *s = ferry_arena_strndup(p->a, json_string_value(v), json_string_length(v));
        if (!s)
            perr(p, FERRY_ERR_NOMEM, "out of memory");
        return s;
    }
    json_t *hex = json_is_object(v) ? json_object_get(v, "hex") : NULL;
    if (!json_is_string(hex)) {
        char msg[128];
        snprintf(msg, sizeof(msg), "\"%s\" is not a string", key);
        perr(p, FERRY_ERR_INVALID, msg);
        return NULL;
    }
    const char *h = json_string_value(hex);
    size_t n = strlen(h);
    char *s = ferry_arena_alloc(p->a, n / 2 + 1);
    if (!s) {
        perr(p, FERRY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = ferry_hex_digit(h[2 * i]), lo = ferry_hex_digit(h[2 * i + 1]);
        if (hi < 0 || lo < 0 || n % 2) {
            perr(p, FERRY_ERR_INVALID, "bad hex string");
            return NULL;
        }
        s[i] = (char)(hi << 4 | lo);
    }
    s[n / 2] = '\0';
    return s;
}

/* A required string field. */
static const char *rstr(parser_t *p, json_t *o, const char *key)
{
    const char *s = gstr(p, o, key);
    if (!s && !p->rc) {
        char msg[128];
        snprintf(msg, sizeof(msg), "missing \"%s\"", key);
        perr(p, FERRY_ERR_INVALID, msg);
    }
    return s;
}

static long long gint(parser_t *p, json_t *o, const char *key, long long lo, long long hi)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char msg[128];
        snprintf(msg, sizeof(msg), "\"%s\" is not an integer in %lld..%lld", key, lo, hi);
        perr(p, FERRY_ERR_INVALID, msg);
        return 0;
    }
    return json_integer_value(v);
}

static bool gbool(json_t *o, const char *key)
{
    return json_is_true(json_object_get(o, key));
}

static int gname(parser_t *p, json_t *o, const char *key, const char **names, int n)
{
    const char *s = json_string_value(json_object_get(o, key));
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    char msg[128];
    snprintf(msg, sizeof(msg), "\"%s\" has an unknown value", key);
    perr(p, FERRY_ERR_INVALID, msg);
    return 0;
}

/* An array field as arena memory of n elements of size el (NULL when empty). */
static void *garray(parser_t *p, json_t *o, const char *key, size_t el, size_t *n, json_t **arr)
{
    *arr = json_object_get(o, key);
    *n = 0;
    if (!*arr || json_is_null(*arr))
        return NULL;
    if (!json_is_array(*arr)) {
        char msg[128];
        snprintf(msg, sizeof(msg), "\"%s\" is not an array", key);
        perr(p, FERRY_ERR_INVALID, msg);
        return NULL;
    }
    *n = json_array_size(*arr);
    if (*n == 0)
        return NULL;
    void *mem = ferry_arena_calloc(p->a, *n, el);
    if (!mem) {
        perr(p, FERRY_ERR_NOMEM, "out of memory");
        *n = 0;
    }
    return mem;
}

static const char **gstrings(parser_t *p, json_t *o, const char *key, size_t *n)
{
    json_t *arr;
    const char **s = garray(p, o, key, sizeof(char *), n, &arr);
    for (size_t i = 0; s && i < *n; i++) {
        json_t *holder = json_pack("{s:O}", "v", json_array_get(arr, i));
        if (!holder) {
            perr(p, FERRY_ERR_NOMEM, "out of memory");
            return NULL;
        }
        s[i] = rstr(p, holder, "v");
        json_decref(holder);
    }
    return s;
}

static void parse_column(parser_t *p, json_t *o, ferry_coldef_t *cd)
{
    ferry_column_t *c = &cd->col;
    if (!json_is_object(o)) {
        perr(p, FERRY_ERR_INVALID, "a column is not an object");
        return;
    }
    c->name = rstr(p, o, "name");
    const char *tn = json_string_value(json_object_get(o, "ferry_type"));
    c->type = tn ? ferry_type_from_name(tn) : 0;
    if (tn && !c->type)
        perr(p, FERRY_ERR_INVALID, "unknown ferry_type");
    cd->column_type = gstr(p, o, "column_type");
    cd->data_type = gstr(p, o, "data_type");
    c->source_type = gstr(p, o, "source_type");
    c->flags = (gbool(o, "nullable") ? FERRY_COL_NULLABLE : 0) |
               (gbool(o, "unsigned") ? FERRY_COL_UNSIGNED : 0);
    c->length = (uint32_t)gint(p, o, "length", 0, UINT32_MAX);
    c->precision = (uint16_t)gint(p, o, "precision", 0, UINT16_MAX);
    c->scale = (int16_t)gint(p, o, "scale", INT16_MIN, INT16_MAX);
    c->fsp = (int8_t)gint(p, o, "fsp", 0, 6);
    c->charset = gstr(p, o, "row_charset");
    size_t nm = 0;
    c->members = gstrings(p, o, "members", &nm);
    c->n_members = (uint32_t)nm;
    c->pk_pos = (uint16_t)gint(p, o, "pk_pos", 0, UINT16_MAX);
    cd->default_kind = (ferry_default_kind_t)gname(p, o, "default_kind", default_kind_names, 5);
    cd->default_value = gstr(p, o, "default");
    cd->auto_increment = gbool(o, "auto_increment");
    cd->on_update = gstr(p, o, "on_update");
    cd->generated = (ferry_generated_t)gname(p, o, "generated", generated_names, 3);
    cd->generation_expr = gstr(p, o, "generation_expr");
    cd->comment = rstr(p, o, "comment");
    cd->charset = gstr(p, o, "charset");
    cd->collation = gstr(p, o, "collation");
    cd->invisible = gbool(o, "invisible");
}

static void parse_index(parser_t *p, json_t *o, ferry_indexdef_t *ix)
{
    if (!json_is_object(o)) {
        perr(p, FERRY_ERR_INVALID, "an index is not an object");
        return;
    }
    ix->name = rstr(p, o, "name");
    ix->kind = (ferry_index_kind_t)gname(p, o, "kind", index_kind_names, 6);
    if (!p->rc && ix->kind == 0)
        perr(p, FERRY_ERR_INVALID, "\"kind\" has an unknown value");
    const char *using = gstr(p, o, "using");
    ix->using = using && strcmp(using, "HASH") == 0 ? "HASH" : using;
    ix->comment = gstr(p, o, "comment");
    ix->invisible = gbool(o, "invisible");
    json_t *arr;
    ix->parts = garray(p, o, "parts", sizeof(*ix->parts), &ix->n_parts, &arr);
    for (size_t i = 0; ix->parts && i < ix->n_parts; i++) {
        json_t *po = json_array_get(arr, i);
        ferry_index_part_t *part = &ix->parts[i];
        part->column = gstr(p, po, "column");
        part->expression = gstr(p, po, "expression");
        part->prefix = (uint32_t)gint(p, po, "prefix", 0, UINT32_MAX);
        part->desc = gbool(po, "desc");
    }
}

static void parse_rest(parser_t *p, json_t *root, ferry_tabledef_t *def)
{
    json_t *arr;
    def->checks = garray(p, root, "checks", sizeof(*def->checks), &def->n_checks, &arr);
    for (size_t i = 0; def->checks && i < def->n_checks; i++) {
        json_t *o = json_array_get(arr, i);
        def->checks[i].name = rstr(p, o, "name");
        def->checks[i].clause = rstr(p, o, "clause");
        def->checks[i].column = gstr(p, o, "column");
        def->checks[i].not_enforced = gbool(o, "not_enforced");
    }
    def->fks = garray(p, root, "foreign_keys", sizeof(*def->fks), &def->n_fks, &arr);
    for (size_t i = 0; def->fks && i < def->n_fks; i++) {
        json_t *o = json_array_get(arr, i);
        ferry_fkdef_t *f = &def->fks[i];
        size_t n1 = 0, n2 = 0;
        f->name = rstr(p, o, "name");
        f->columns = gstrings(p, o, "columns", &n1);
        f->ref_columns = gstrings(p, o, "ref_columns", &n2);
        f->n_columns = n1;
        if (n1 != n2 || n1 == 0)
            perr(p, FERRY_ERR_INVALID, "foreign key column lists differ in length");
        f->ref_db = rstr(p, o, "ref_db");
        f->ref_table = rstr(p, o, "ref_table");
        f->on_update = gstr(p, o, "on_update");
        f->on_delete = gstr(p, o, "on_delete");
    }
    def->triggers = garray(p, root, "triggers", sizeof(*def->triggers), &def->n_triggers, &arr);
    for (size_t i = 0; def->triggers && i < def->n_triggers; i++) {
        json_t *o = json_array_get(arr, i);
        ferry_triggerdef_t *t = &def->triggers[i];
        t->name = rstr(p, o, "name");
        t->timing = rstr(p, o, "timing");
        t->event = rstr(p, o, "event");
        t->body = rstr(p, o, "body");
        t->sql_mode = gstr(p, o, "sql_mode");
    }
}

int ferry_tabledef_from_json(const char *text, size_t len, ferry_tabledef_t **out, char *errstr,
                             size_t errstr_size)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not parse table definition: %s at line %d", jerr.text,
                             jerr.line);
    ferry_tabledef_t *def = NULL;
    parser_t p = {NULL, errstr, errstr_size, 0};
    if (!json_is_object(root)) {
        perr(&p, FERRY_ERR_INVALID, "not a JSON object");
        goto out;
    }
    if (json_integer_value(json_object_get(root, "format")) != FORMAT_VERSION) {
        perr(&p, FERRY_ERR_INVALID, "unknown \"format\" (expected 1)");
        goto out;
    }
    def = ferry_tabledef_new("", "");
    if (!def) {
        perr(&p, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    p.a = def->arena;
    def->db = rstr(&p, root, "db");
    def->name = rstr(&p, root, "name");
    def->engine = gstr(&p, root, "engine");
    def->charset = gstr(&p, root, "charset");
    def->collation = gstr(&p, root, "collation");
    def->comment = rstr(&p, root, "comment");
    def->create_options = gstr(&p, root, "create_options");
    const char *ai = gstr(&p, root, "auto_increment");
    def->auto_increment = ai ? strtoull(ai, NULL, 10) : 0;
    json_t *arr;
    def->columns = garray(&p, root, "columns", sizeof(*def->columns), &def->n_columns, &arr);
    if (!p.rc && def->n_columns == 0)
        perr(&p, FERRY_ERR_INVALID, "no columns");
    for (size_t i = 0; !p.rc && i < def->n_columns; i++)
        parse_column(&p, json_array_get(arr, i), &def->columns[i]);
    def->indexes = garray(&p, root, "indexes", sizeof(*def->indexes), &def->n_indexes, &arr);
    for (size_t i = 0; !p.rc && def->indexes && i < def->n_indexes; i++)
        parse_index(&p, json_array_get(arr, i), &def->indexes[i]);
    if (!p.rc)
        parse_rest(&p, root, def);
out:
    json_decref(root);
    if (p.rc) {
        ferry_tabledef_destroy(def);
        return p.rc;
    }
    *out = def;
    return 0;
}

bool ferry_tabledef_equal(const ferry_tabledef_t *a, const ferry_tabledef_t *b)
{
    char *x = ferry_tabledef_to_json(a), *y = ferry_tabledef_to_json(b);
    bool eq = x && y && strcmp(x, y) == 0;
    free(x);
    free(y);
    return eq;
}
