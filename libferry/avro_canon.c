/*
 * avro_canon.c - JSON reader, Avro schema tree, Parsing Canonical Form and
 * CRC-64-AVRO (see avro_canon.h).
 *
 * The canonical form follows the specification's transformation rules:
 * primitives in their simple form, full names for every named type, only the
 * attributes that matter for parsing (name, type, fields, symbols, items,
 * values, size) in that order, a named type spelled out once and referred to
 * by full name after, strings unescaped to UTF-8, integers without quotes or
 * leading zeros, and no whitespace outside strings.
 */
#include "avro_canon.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "strbuf.h"

/* ---- CRC-64-AVRO ------------------------------------------------------- */

#define CRC64_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t crc64_table[256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t fp = i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (CRC64_EMPTY & (0 - (fp & 1)));
        crc64_table[i] = fp;
    }
}

uint64_t ferry_avro_crc64(const void *buf, size_t len)
{
    pthread_once(&crc64_once, crc64_init);
    const uint8_t *p = buf;
    uint64_t fp = CRC64_EMPTY;
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ crc64_table[(fp ^ p[i]) & 0xff];
    return fp;
}

/* ---- JSON reader ------------------------------------------------------- */

#define JSON_MAX_DEPTH 64

typedef struct {
    const char *p, *end, *start;
    ferry_arena_t *arena;
    char *errstr;
    size_t errstr_size;
    int err;
} jparser_t;

static int jfail(jparser_t *jp, const char *why)
{
    if (!jp->err)
        jp->err = ferry_err_set(jp->errstr, jp->errstr_size, FERRY_ERR_INVALID,
                                "could not parse JSON at offset %zu: %s",
                                (size_t)(jp->p - jp->start), why);
    return jp->err;
}

static int jnomem(jparser_t *jp)
{
    if (!jp->err)
        jp->err = ferry_err_set(jp->errstr, jp->errstr_size, FERRY_ERR_NOMEM,
                                "could not parse JSON: out of memory");
    return jp->err;
}

static void jskip_ws(jparser_t *jp)
{
    while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
        jp->p++;
}

/* Sets *out on every path: callers test the result, not *out. */
static int read_hex4(jparser_t *jp, uint32_t *out)
{
    *out = 0;
    if (jp->end - jp->p < 4)
        return jfail(jp, "short \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = ferry_hex_digit(jp->p[i]);
        if (h < 0)
            return jfail(jp, "bad \\u escape");
        v = v << 4 | (uint32_t)h;
    }
    jp->p += 4;
    *out = v;
    return 0;
}

/* JSON's one-letter string escapes, and the bytes they stand for. */
static const char json_escape_letters[] = "\"\\/bfnrt";
static const char json_escaped_bytes[] = "\"\\/\b\f\n\r\t";

/* Reads a string literal (p at the opening quote); unescapes into the arena. */
static int jstring(jparser_t *jp, const char **out, size_t *out_len)
{
    jp->p++; /* opening quote */
    const char *s = jp->p;
    bool escaped = false;
    while (jp->p < jp->end && *jp->p != '"') {
        if ((unsigned char)*jp->p < 0x20)
            return jfail(jp, "control character in string");
        if (*jp->p == '\\') {
            escaped = true;
            jp->p++;
            if (jp->p >= jp->end)
                break;
        }
        jp->p++;
    }
    if (jp->p >= jp->end)
        return jfail(jp, "unterminated string");
    size_t raw_len = (size_t)(jp->p - s);
    jp->p++; /* closing quote */
    /* unescaping never makes a string longer */
    char *o = ferry_arena_alloc(jp->arena, raw_len + 1);
    if (!o)
        return jnomem(jp);
    if (!escaped) {
        memcpy(o, s, raw_len);
        o[raw_len] = '\0';
        *out = o;
        *out_len = raw_len;
        return 0;
    }
    const char *save = jp->p;
    jp->p = s;
    size_t n = 0;
    const char *stop = s + raw_len;
    while (jp->p < stop) {
        char c = *jp->p++;
        if (c != '\\') {
            o[n++] = c;
            continue;
        }
        c = *jp->p++;
        const char *hit = memchr(json_escape_letters, c, sizeof(json_escape_letters) - 1);
        if (hit) {
            o[n++] = json_escaped_bytes[hit - json_escape_letters];
            continue;
        }
        if (c != 'u')
            return jfail(jp, "bad escape");
        uint32_t cp = 0;
        if (read_hex4(jp, &cp))
            return jp->err;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (stop - jp->p < 6 || jp->p[0] != '\\' || jp->p[1] != 'u')
                return jfail(jp, "unpaired surrogate");
            jp->p += 2;
            if (read_hex4(jp, &lo))
                return jp->err;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return jfail(jp, "unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return jfail(jp, "unpaired surrogate");
        }
        n += ferry_utf8_put(o + n, cp);
    }
    o[n] = '\0';
    jp->p = save;
    *out = o;
    *out_len = n;
    return 0;
}

static int jnumber(jparser_t *jp, ferry_avro_json_t *node)
{
    const char *s = jp->p;
    bool integral = true;
    if (jp->p < jp->end && *jp->p == '-')
        jp->p++;
    if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
        return jfail(jp, "bad number");
    while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
        jp->p++;
    if (jp->p < jp->end && *jp->p == '.') {
        integral = false;
        jp->p++;
        if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
            return jfail(jp, "bad number");
        while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
            jp->p++;
    }
    if (jp->p < jp->end && (*jp->p == 'e' || *jp->p == 'E')) {
        integral = false;
        jp->p++;
        if (jp->p < jp->end && (*jp->p == '+' || *jp->p == '-'))
            jp->p++;
        if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
            return jfail(jp, "bad number");
        while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
            jp->p++;
    }
    size_t len = (size_t)(jp->p - s);
    char *lit = ferry_arena_strndup(jp->arena, s, len);
    if (!lit)
        return jnomem(jp);
    node->kind = FERRY_AVRO_JSON_NUMBER;
    node->str = lit;
    node->len = len;
    if (integral) {
        /* exact int64 parse with overflow check */
        const char *q = lit;
        bool neg = *q == '-';
        if (neg)
            q++;
        uint64_t mag = 0;
        bool ok = true;
        for (; *q; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (mag > (UINT64_MAX - d) / 10) {
                ok = false;
                break;
            }
            mag = mag * 10 + d;
        }
        if (ok && (neg ? mag <= (uint64_t)INT64_MAX + 1 : mag <= (uint64_t)INT64_MAX)) {
            node->is_int = 1;
            node->ival = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        }
    }
    return 0;
}

static int jvalue(jparser_t *jp, ferry_avro_json_t **out, int depth);

static int jcontainer(jparser_t *jp, ferry_avro_json_t *node, int depth)
{
    bool is_obj = *jp->p == '{';
    char close = is_obj ? '}' : ']';
    node->kind = is_obj ? FERRY_AVRO_JSON_OBJECT : FERRY_AVRO_JSON_ARRAY;
    jp->p++;
    jskip_ws(jp);
    if (jp->p < jp->end && *jp->p == close) {
        jp->p++;
        return 0;
    }
    ferry_avro_json_t **tail = &node->head;
    for (;;) {
        const char *key = NULL;
        jskip_ws(jp);
        if (is_obj) {
            size_t klen;
            if (jp->p >= jp->end || *jp->p != '"')
                return jfail(jp, "expected member name");
            if (jstring(jp, &key, &klen))
                return jp->err;
            jskip_ws(jp);
            if (jp->p >= jp->end || *jp->p != ':')
                return jfail(jp, "expected ':'");
            jp->p++;
        }
        ferry_avro_json_t *child;
        if (jvalue(jp, &child, depth + 1))
            return jp->err;
        child->key = key;
        *tail = child;
        tail = &child->next;
        node->count++;
        jskip_ws(jp);
        if (jp->p >= jp->end)
            return jfail(jp, "unterminated container");
        if (*jp->p == ',') {
            jp->p++;
            continue;
        }
        if (*jp->p == close) {
            jp->p++;
            return 0;
        }
        return jfail(jp, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool jliteral(jparser_t *jp, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(jp->end - jp->p) >= n && memcmp(jp->p, word, n) == 0) {
        jp->p += n;
        return true;
    }
    return false;
}

static int jvalue(jparser_t *jp, ferry_avro_json_t **out, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return jfail(jp, "nested too deeply");
    jskip_ws(jp);
    if (jp->p >= jp->end)
        return jfail(jp, "unexpected end of input");
    ferry_avro_json_t *node = ferry_arena_calloc(jp->arena, 1, sizeof(*node));
    if (!node)
        return jnomem(jp);
    *out = node;
    char c = *jp->p;
    if (c == '{' || c == '[')
        return jcontainer(jp, node, depth);
    if (c == '"') {
        node->kind = FERRY_AVRO_JSON_STRING;
        return jstring(jp, &node->str, &node->len);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return jnumber(jp, node);
    if (jliteral(jp, "true")) {
        node->kind = FERRY_AVRO_JSON_BOOL;
        node->boolean = 1;
        return 0;
    }
    if (jliteral(jp, "false")) {
        node->kind = FERRY_AVRO_JSON_BOOL;
        return 0;
    }
    if (jliteral(jp, "null")) {
        node->kind = FERRY_AVRO_JSON_NULL;
        return 0;
    }
    return jfail(jp, "unexpected character");
}

int ferry_avro_json_parse(const char *text, size_t len, ferry_arena_t *arena,
                          const ferry_avro_json_t **out, char *errstr, size_t errstr_size)
{
    jparser_t jp = {.p = text,
                    .end = text + len,
                    .start = text,
                    .arena = arena,
                    .errstr = errstr,
                    .errstr_size = errstr_size};
    ferry_avro_json_t *root;
    if (jvalue(&jp, &root, 0))
        return jp.err;
    jskip_ws(&jp);
    if (jp.p != jp.end)
        return jfail(&jp, "trailing characters");
    *out = root;
    return 0;
}

const ferry_avro_json_t *ferry_avro_json_get(const ferry_avro_json_t *obj, const char *key)
{
    if (!obj || obj->kind != FERRY_AVRO_JSON_OBJECT)
        return NULL;
    for (const ferry_avro_json_t *m = obj->head; m; m = m->next)
        if (strcmp(m->key, key) == 0)
            return m;
    return NULL;
}

const char *ferry_avro_json_get_str(const ferry_avro_json_t *obj, const char *key)
{
    const ferry_avro_json_t *m = ferry_avro_json_get(obj, key);
    return m && m->kind == FERRY_AVRO_JSON_STRING ? m->str : NULL;
}

/* ---- Avro schema tree -------------------------------------------------- */

static const char *const kind_names[] = {
    [FERRY_AVRO_NULL] = "null",   [FERRY_AVRO_BOOLEAN] = "boolean", [FERRY_AVRO_INT] = "int",
    [FERRY_AVRO_LONG] = "long",   [FERRY_AVRO_FLOAT] = "float",     [FERRY_AVRO_DOUBLE] = "double",
    [FERRY_AVRO_BYTES] = "bytes", [FERRY_AVRO_STRING] = "string",   [FERRY_AVRO_RECORD] = "record",
    [FERRY_AVRO_ENUM] = "enum",   [FERRY_AVRO_ARRAY] = "array",     [FERRY_AVRO_MAP] = "map",
    [FERRY_AVRO_UNION] = "union", [FERRY_AVRO_FIXED] = "fixed",
};

const char *ferry_avro_kind_name(ferry_avro_kind_t kind)
{
    return (unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[kind] : "?";
}

/* Shared, immutable nodes for primitives written as bare strings. */
static const ferry_avro_node_t prim_nodes[] = {
    {.kind = FERRY_AVRO_NULL},  {.kind = FERRY_AVRO_BOOLEAN}, {.kind = FERRY_AVRO_INT},
    {.kind = FERRY_AVRO_LONG},  {.kind = FERRY_AVRO_FLOAT},   {.kind = FERRY_AVRO_DOUBLE},
    {.kind = FERRY_AVRO_BYTES}, {.kind = FERRY_AVRO_STRING},
};

static int primitive_kind(const char *s)
{
    for (int k = FERRY_AVRO_NULL; k <= FERRY_AVRO_STRING; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return k;
    return -1;
}

typedef struct named {
    const ferry_avro_node_t *node;
    struct named *next;
} named_t;

typedef struct {
    ferry_arena_t *arena;
    named_t *names;
    char *errstr;
    size_t errstr_size;
    int depth;
} sparser_t;

static int sfail(sparser_t *sp, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int sfail(sparser_t *sp, int err, const char *fmt, ...)
{
    if (sp->errstr && sp->errstr_size) {
        int n = snprintf(sp->errstr, sp->errstr_size, "invalid avro schema: ");
        if (n > 0 && (size_t)n < sp->errstr_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(sp->errstr + n, sp->errstr_size - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return err;
}

static bool valid_name_part(const char *s, size_t len)
{
    if (len == 0)
        return false;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* A dotted name: every part a valid name. Empty is allowed only if empty_ok. */
static bool valid_dotted(const char *s, bool empty_ok)
{
    if (!*s)
        return empty_ok;
    const char *part = s;
    for (const char *q = s;; q++) {
        if (*q == '.' || *q == '\0') {
            if (!valid_name_part(part, (size_t)(q - part)))
                return false;
            if (*q == '\0')
                return true;
            part = q + 1;
        }
    }
}

static const ferry_avro_node_t *lookup_name(sparser_t *sp, const char *fullname)
{
    for (named_t *n = sp->names; n; n = n->next)
        if (strcmp(n->node->fullname, fullname) == 0)
            return n->node;
    return NULL;
}

static char *join_name(sparser_t *sp, const char *ns, const char *name)
{
    if (strchr(name, '.') || !ns || !*ns)
        return ferry_arena_strdup(sp->arena, name);
    size_t a = strlen(ns), b = strlen(name);
    char *s = ferry_arena_alloc(sp->arena, a + b + 2);
    if (!s)
        return NULL;
    memcpy(s, ns, a);
    s[a] = '.';
    memcpy(s + a + 1, name, b + 1);
    return s;
}

/* Namespace part of a full name, in the arena ("" when there is none). */
static const char *namespace_of(sparser_t *sp, const char *fullname)
{
    const char *dot = strrchr(fullname, '.');
    if (!dot)
        return "";
    return ferry_arena_strndup(sp->arena, fullname, (size_t)(dot - fullname));
}

static int parse_node(sparser_t *sp, const ferry_avro_json_t *j, const char *ns,
                      const ferry_avro_node_t **out);

static int resolve_reference(sparser_t *sp, const char *name, const char *ns,
                             const ferry_avro_node_t **out)
{
    int k = primitive_kind(name);
    if (k >= 0) {
        *out = &prim_nodes[k];
        return 0;
    }
    const ferry_avro_node_t *found = NULL;
    if (!strchr(name, '.') && ns && *ns) {
        char *full = join_name(sp, ns, name);
        if (!full)
            return sfail(sp, FERRY_ERR_NOMEM, "out of memory");
        found = lookup_name(sp, full);
    }
    if (!found)
        found = lookup_name(sp, name);
    if (!found)
        return sfail(sp, FERRY_ERR_INVALID, "unknown type \"%s\"", name);
    *out = found;
    return 0;
}

/* Defines a named type: computes its full name and registers it. */
static int define_named(sparser_t *sp, ferry_avro_node_t *node, const ferry_avro_json_t *j,
                        const char *ns, const char **inner_ns)
{
    const char *name = ferry_avro_json_get_str(j, "name");
    if (!name)
        return sfail(sp, FERRY_ERR_INVALID, "a %s has no name", ferry_avro_kind_name(node->kind));
    const ferry_avro_json_t *nsj = ferry_avro_json_get(j, "namespace");
    const char *own_ns = ns;
    if (nsj && nsj->kind == FERRY_AVRO_JSON_STRING)
        own_ns = nsj->str;
    else if (nsj && nsj->kind != FERRY_AVRO_JSON_NULL)
        return sfail(sp, FERRY_ERR_INVALID, "namespace of \"%s\" is not a string", name);
    if (!valid_dotted(name, false))
        return sfail(sp, FERRY_ERR_INVALID, "\"%s\" is not a valid name", name);
    if (own_ns && !valid_dotted(own_ns, true))
        return sfail(sp, FERRY_ERR_INVALID, "\"%s\" is not a valid namespace", own_ns);
    char *full = join_name(sp, own_ns, name);
    if (!full)
        return sfail(sp, FERRY_ERR_NOMEM, "out of memory");
    const char *last = strrchr(full, '.');
    if (primitive_kind(last ? last + 1 : full) >= 0)
        return sfail(sp, FERRY_ERR_INVALID, "\"%s\" redefines a primitive type", full);
    if (lookup_name(sp, full))
        return sfail(sp, FERRY_ERR_INVALID, "\"%s\" is defined twice", full);
    node->fullname = full;
    named_t *n = ferry_arena_alloc(sp->arena, sizeof(*n));
    const char *nns = namespace_of(sp, full);
    if (!n || !nns)
        return sfail(sp, FERRY_ERR_NOMEM, "out of memory");
    n->node = node;
    n->next = sp->names;
    sp->names = n;
    *inner_ns = nns;
    return 0;
}

static int parse_record(sparser_t *sp, ferry_avro_node_t *node, const ferry_avro_json_t *j,
                        const char *ns)
{
    const char *inner_ns;
    int rc = define_named(sp, node, j, ns, &inner_ns);
    if (rc)
        return rc;
    const ferry_avro_json_t *fields = ferry_avro_json_get(j, "fields");
    if (!fields || fields->kind != FERRY_AVRO_JSON_ARRAY)
        return sfail(sp, FERRY_ERR_INVALID, "record \"%s\" has no fields array", node->fullname);
    size_t n = fields->count;
    node->n = n;
    node->sub = ferry_arena_calloc(sp->arena, n ? n : 1, sizeof(*node->sub));
    node->names = ferry_arena_calloc(sp->arena, n ? n : 1, sizeof(*node->names));
    node->field_json = ferry_arena_calloc(sp->arena, n ? n : 1, sizeof(*node->field_json));
    if (!node->sub || !node->names || !node->field_json)
        return sfail(sp, FERRY_ERR_NOMEM, "out of memory");
    size_t i = 0;
    for (const ferry_avro_json_t *f = fields->head; f; f = f->next, i++) {
        const char *fname = ferry_avro_json_get_str(f, "name");
        if (!fname || !valid_name_part(fname, strlen(fname)))
            return sfail(sp, FERRY_ERR_INVALID, "record \"%s\" has a field without a valid name",
                         node->fullname);
        for (size_t k = 0; k < i; k++)
            if (strcmp(node->names[k], fname) == 0)
                return sfail(sp, FERRY_ERR_INVALID, "record \"%s\" has field \"%s\" twice",
                             node->fullname, fname);
        const ferry_avro_json_t *ft = ferry_avro_json_get(f, "type");
        if (!ft)
            return sfail(sp, FERRY_ERR_INVALID, "field \"%s\" of \"%s\" has no type", fname,
                         node->fullname);
        node->names[i] = fname;
        node->field_json[i] = f;
        rc = parse_node(sp, ft, inner_ns, &node->sub[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_enum(sparser_t *sp, ferry_avro_node_t *node, const ferry_avro_json_t *j,
                      const char *ns)
{
    const char *inner_ns;
    int rc = define_named(sp, node, j, ns, &inner_ns);
    if (rc)
        return rc;
    const ferry_avro_json_t *syms = ferry_avro_json_get(j, "symbols");
    if (!syms || syms->kind != FERRY_AVRO_JSON_ARRAY)
        return sfail(sp, FERRY_ERR_INVALID, "enum \"%s\" has no symbols array", node->fullname);
    node->n = syms->count;
    node->names = ferry_arena_calloc(sp->arena, syms->count ? syms->count : 1, sizeof(char *));
    if (!node->names)
        return sfail(sp, FERRY_ERR_NOMEM, "out of memory");
    size_t i = 0;
    for (const ferry_avro_json_t *s = syms->head; s; s = s->next, i++) {
        if (s->kind != FERRY_AVRO_JSON_STRING || !valid_name_part(s->str, s->len))
            return sfail(sp, FERRY_ERR_INVALID, "enum \"%s\" has an invalid symbol",
                         node->fullname);
        for (size_t k = 0; k < i; k++)
            if (strcmp(node->names[k], s->str) == 0)
                return sfail(sp, FERRY_ERR_INVALID, "enum \"%s\" has symbol \"%s\" twice",
                             node->fullname, s->str);
        node->names[i] = s->str;
    }
    return 0;
}

static int parse_fixed(sparser_t *sp, ferry_avro_node_t *node, const ferry_avro_json_t *j,
                       const char *ns)
{
    const char *inner_ns;
    int rc = define_named(sp, node, j, ns, &inner_ns);
    if (rc)
        return rc;
    const ferry_avro_json_t *size = ferry_avro_json_get(j, "size");
    int64_t v = -1;
    if (size && size->kind == FERRY_AVRO_JSON_NUMBER && size->is_int)
        v = size->ival;
    else if (size && size->kind == FERRY_AVRO_JSON_STRING) {
        /* tolerated by some writers; [INTEGERS] unquotes it */
        char *end;
        long long ll = strtoll(size->str, &end, 10);
        if (*size->str && !*end)
            v = ll;
    }
    if (v < 0)
        return sfail(sp, FERRY_ERR_INVALID, "fixed \"%s\" has no valid size", node->fullname);
    node->size = (uint64_t)v;
    return 0;
}

static int parse_object(sparser_t *sp, const ferry_avro_json_t *j, const char *ns,
                        const ferry_avro_node_t **out)
{
    const ferry_avro_json_t *tj = ferry_avro_json_get(j, "type");
    if (!tj)
        return sfail(sp, FERRY_ERR_INVALID, "an object has no \"type\"");
    if (tj->kind != FERRY_AVRO_JSON_STRING) /* {"type": {...}} or {"type": [...]} */
        return parse_node(sp, tj, ns, out);
    const char *t = tj->str;
    ferry_avro_node_t *node = ferry_arena_calloc(sp->arena, 1, sizeof(*node));
    if (!node)
        return sfail(sp, FERRY_ERR_NOMEM, "out of memory");
    node->json = j;
    node->logical_type = ferry_avro_json_get_str(j, "logicalType");
    *out = node;
    int k = primitive_kind(t);
    if (k >= 0) {
        node->kind = (ferry_avro_kind_t)k;
        return 0;
    }
    if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0) {
        node->kind = FERRY_AVRO_RECORD;
        node->is_error = t[0] == 'e';
        return parse_record(sp, node, j, ns);
    }
    if (strcmp(t, "enum") == 0) {
        node->kind = FERRY_AVRO_ENUM;
        return parse_enum(sp, node, j, ns);
    }
    if (strcmp(t, "fixed") == 0) {
        node->kind = FERRY_AVRO_FIXED;
        return parse_fixed(sp, node, j, ns);
    }
    if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
        bool arr = t[0] == 'a';
        node->kind = arr ? FERRY_AVRO_ARRAY : FERRY_AVRO_MAP;
        const ferry_avro_json_t *it = ferry_avro_json_get(j, arr ? "items" : "values");
        if (!it)
            return sfail(sp, FERRY_ERR_INVALID, "%s has no \"%s\"", t, arr ? "items" : "values");
        node->n = 1;
        node->sub = ferry_arena_calloc(sp->arena, 1, sizeof(*node->sub));
        if (!node->sub)
            return sfail(sp, FERRY_ERR_NOMEM, "out of memory");
        return parse_node(sp, it, ns, &node->sub[0]);
    }
    /* {"type": "SomeNamedType"}: a reference written as an object */
    return resolve_reference(sp, t, ns, out);
}

static int parse_union(sparser_t *sp, const ferry_avro_json_t *j, const char *ns,
                       const ferry_avro_node_t **out)
{
    ferry_avro_node_t *node = ferry_arena_calloc(sp->arena, 1, sizeof(*node));
    if (!node)
        return sfail(sp, FERRY_ERR_NOMEM, "out of memory");
    node->kind = FERRY_AVRO_UNION;
    node->json = j;
    node->n = j->count;
    node->sub = ferry_arena_calloc(sp->arena, j->count ? j->count : 1, sizeof(*node->sub));
    if (!node->sub)
        return sfail(sp, FERRY_ERR_NOMEM, "out of memory");
    size_t i = 0;
    for (const ferry_avro_json_t *b = j->head; b; b = b->next, i++) {
        int rc = parse_node(sp, b, ns, &node->sub[i]);
        if (rc)
            return rc;
        const ferry_avro_node_t *bn = node->sub[i];
        if (bn->kind == FERRY_AVRO_UNION)
            return sfail(sp, FERRY_ERR_INVALID, "a union directly contains a union");
        for (size_t k = 0; k < i; k++) {
            const ferry_avro_node_t *o = node->sub[k];
            bool same = o->kind == bn->kind &&
                        (!o->fullname || !bn->fullname || strcmp(o->fullname, bn->fullname) == 0);
            if (same)
                return sfail(sp, FERRY_ERR_INVALID, "a union has two branches of type %s",
                             bn->fullname ? bn->fullname : ferry_avro_kind_name(bn->kind));
        }
    }
    *out = node;
    return 0;
}

static int parse_node(sparser_t *sp, const ferry_avro_json_t *j, const char *ns,
                      const ferry_avro_node_t **out)
{
    if (++sp->depth > JSON_MAX_DEPTH) {
        sp->depth--;
        return sfail(sp, FERRY_ERR_INVALID, "nested too deeply");
    }
    int rc;
    switch (j->kind) {
    case FERRY_AVRO_JSON_STRING:
        rc = resolve_reference(sp, j->str, ns, out);
        break;
    case FERRY_AVRO_JSON_OBJECT:
        rc = parse_object(sp, j, ns, out);
        break;
    case FERRY_AVRO_JSON_ARRAY:
        rc = parse_union(sp, j, ns, out);
        break;
    default:
        rc = sfail(sp, FERRY_ERR_INVALID, "a type is neither a string, object nor array");
    }
    sp->depth--;
    return rc;
}

int ferry_avro_parse(const char *schema_json, size_t len, ferry_arena_t *arena,
                     const ferry_avro_node_t **out, char *errstr, size_t errstr_size)
{
    const ferry_avro_json_t *j;
    int rc = ferry_avro_json_parse(schema_json, len, arena, &j, errstr, errstr_size);
    if (rc)
        return rc;
    sparser_t sp = {.arena = arena, .errstr = errstr, .errstr_size = errstr_size};
    return parse_node(&sp, j, "", out);
}

int ferry_avro_field_index(const ferry_avro_node_t *rec, const char *name)
{
    if (rec->kind != FERRY_AVRO_RECORD)
        return -1;
    for (size_t i = 0; i < rec->n; i++)
        if (strcmp(rec->names[i], name) == 0)
            return (int)i;
    return -1;
}

/* ---- Parsing Canonical Form -------------------------------------------- */

typedef struct {
    ferry_strbuf_t text;
    const ferry_avro_node_t **seen; /* named types already written out */
    size_t n_seen, cap_seen;
} cbuf_t;

static void cput(cbuf_t *b, const char *s, size_t n)
{
    ferry_strbuf_put(&b->text, s, n);
}

static void cputs(cbuf_t *b, const char *s)
{
    ferry_strbuf_puts(&b->text, s);
}

static void cquoted(cbuf_t *b, const char *s)
{
    cput(b, "\"", 1);
    cputs(b, s);
    cput(b, "\"", 1);
}

static bool mark_seen(cbuf_t *b, const ferry_avro_node_t *n)
{
    for (size_t i = 0; i < b->n_seen; i++)
        if (b->seen[i] == n)
            return true;
    if (b->n_seen == b->cap_seen) {
        size_t cap = b->cap_seen ? b->cap_seen * 2 : 16;
        const ferry_avro_node_t **ns = realloc(b->seen, cap * sizeof(*ns));
        if (!ns) {
            b->text.oom = true;
            return true;
        }
        b->seen = ns;
        b->cap_seen = cap;
    }
    b->seen[b->n_seen++] = n;
    return false;
}

static void canon(cbuf_t *b, const ferry_avro_node_t *n)
{
    switch (n->kind) {
    case FERRY_AVRO_NULL:
    case FERRY_AVRO_BOOLEAN:
    case FERRY_AVRO_INT:
    case FERRY_AVRO_LONG:
    case FERRY_AVRO_FLOAT:
    case FERRY_AVRO_DOUBLE:
    case FERRY_AVRO_BYTES:
    case FERRY_AVRO_STRING:
        cquoted(b, kind_names[n->kind]);
        return;
    case FERRY_AVRO_UNION:
        cput(b, "[", 1);
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                cput(b, ",", 1);
            canon(b, n->sub[i]);
        }
        cput(b, "]", 1);
        return;
    case FERRY_AVRO_ARRAY:
    case FERRY_AVRO_MAP:
        cputs(b, n->kind == FERRY_AVRO_ARRAY ? "{\"type\":\"array\",\"items\":"
                                             : "{\"type\":\"map\",\"values\":");
        canon(b, n->sub[0]);
        cput(b, "}", 1);
        return;
    default:
        break;
    }
    /* named types */
    if (mark_seen(b, n)) {
        cquoted(b, n->fullname);
        return;
    }
    cputs(b, "{\"name\":");
    cquoted(b, n->fullname);
    if (n->kind == FERRY_AVRO_RECORD) {
        cputs(b, n->is_error ? ",\"type\":\"error\",\"fields\":["
                             : ",\"type\":\"record\",\"fields\":[");
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                cput(b, ",", 1);
            cputs(b, "{\"name\":");
            cquoted(b, n->names[i]);
            cputs(b, ",\"type\":");
            canon(b, n->sub[i]);
            cput(b, "}", 1);
        }
        cputs(b, "]}");
    } else if (n->kind == FERRY_AVRO_ENUM) {
        cputs(b, ",\"type\":\"enum\",\"symbols\":[");
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                cput(b, ",", 1);
            cquoted(b, n->names[i]);
        }
        cputs(b, "]}");
    } else {
        char num[32];
        snprintf(num, sizeof(num), "%llu", (unsigned long long)n->size);
        cputs(b, ",\"type\":\"fixed\",\"size\":");
        cputs(b, num);
        cput(b, "}", 1);
    }
}

int ferry_avro_canonical_form(const char *schema_json, char **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    ferry_arena_t *arena = ferry_arena_new(0);
    if (!arena)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not parse avro schema: out of memory");
    const ferry_avro_node_t *root;
    int rc = ferry_avro_parse(schema_json, strlen(schema_json), arena, &root, errstr, errstr_size);
    if (rc) {
        ferry_arena_destroy(arena);
        return rc;
    }
    cbuf_t b = {0};
    canon(&b, root);
    free(b.seen);
    ferry_arena_destroy(arena);
    if (b.text.oom || !b.text.buf) {
        ferry_strbuf_free(&b.text);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not build canonical form: out of memory");
    }
    *out = b.text.buf;
    return 0;
}

int ferry_avro_schema_fingerprint(const char *schema_json, uint64_t *fingerprint, char *errstr,
                                  size_t errstr_size)
{
    char *canonical;
    int rc = ferry_avro_canonical_form(schema_json, &canonical, errstr, errstr_size);
    if (rc)
        return rc;
    *fingerprint = ferry_avro_crc64(canonical, strlen(canonical));
    free(canonical);
    return 0;
}
