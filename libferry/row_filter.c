/*
 * row_filter.c - row filters: parser, canonical SQL, binding to a table
 * and evaluation (row_filter.h).
 *
 * The parse makes a small tree in the filter's arena. Binding checks each
 * predicate against its column's type and prepares the literals for it
 * (temporal text parsed once); evaluation walks the tree in SQL's
 * three-valued logic. A predicate on a text column that C cannot settle
 * exactly is printed again with the row's value in place of the column and
 * asked of the server, so an uncertain case costs a round trip, never a
 * wrong answer.
 */
#include "row_filter.h"

#include "arena.h"
#include "conf.h"
#include "err.h"
#include "mysql_schema.h"
#include "strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 100

/* Three-valued results, and "ask the server". Errors are negative. */
enum { R_FALSE = 0, R_TRUE = 1, R_NULL = 2, R_ASK = 3 };

enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_NSEQ };
static const char *const op_sql[] = {"=", "<>", "<", "<=", ">", ">=", "<=>"};

typedef enum { N_OR, N_AND, N_NOT, N_CMP, N_ISNULL, N_IN, N_BETWEEN, N_LIKE } node_kind_t;

typedef enum { L_NULL, L_NUM, L_STR } lit_kind_t;

typedef struct {
    lit_kind_t kind;
    const char *text; /* number as written (sign included), or the string's bytes */
    size_t len;
    bool is_float; /* a number with an exponent: a DOUBLE literal */
    bool is_int;   /* a number without '.' or exponent */
    bool fits;     /* is_int and |value| fits uint64 */
    bool neg;
    uint64_t mag;
    double d;
    /* set by bind for temporal columns */
    ferry_civil_t dt;
    int64_t time;
} lit_t;

enum { P_LIT, P_ONE, P_ANY };

typedef struct {
    uint8_t kind;
    uint8_t len; /* bytes of a P_LIT character */
    const char *s;
} pat_t;

typedef struct node {
    node_kind_t kind;
    int op;   /* N_CMP */
    bool neg; /* IS NOT NULL, NOT IN, NOT BETWEEN, NOT LIKE */
    struct node *a, *b;
    size_t col; /* index into the filter's column list */
    lit_t *lits;
    size_t n_lits;
    pat_t *pat; /* N_LIKE: lits[0] is the pattern (or NULL) */
    size_t n_pat;
    bool dbl; /* bound: compare as doubles */
} node_t;

typedef enum { C_BYTES, C_BIN, C_CI_SIMPLE, C_CI_UCA, C_OTHER } coll_kind_t;

/* What evaluation needs of a bound column (the table is not kept). */
typedef struct {
    int idx;
    ferry_type_t type;
    int fsp;
    coll_kind_t coll;
    bool pad, utf8, utf8mb4;
    char charset[40], collation[80];
} bcol_t;

struct ferry_row_filter {
    ferry_arena_t *arena;
    char *key;
    char *sql;
    node_t *root;
    const char **cols;
    size_t n_cols, cap_cols;
    bcol_t *bound; /* n_cols entries once bound, malloc'd */
};

/* ---- lexer ------------------------------------------------------------------ */

typedef enum {
    T_END,
    T_WORD,  /* bare word */
    T_QNAME, /* `quoted` */
    T_NUM,
    T_STR,
    T_OP, /* comparison operator, op in tok.op */
    T_LP,
    T_RP,
    T_COMMA,
    T_ANDAND,
    T_OROR,
    T_SIGN, /* + or - */
} tok_kind_t;

typedef struct {
    tok_kind_t kind;
    size_t start, end; /* in the text */
    int op;
    char *val; /* unescaped name or string (arena), NUL-terminated */
    size_t val_len;
} tok_t;

typedef struct {
    ferry_row_filter_t *f;
    const char *s;
    size_t len, pos;
    tok_t tok;
    int depth;
    char *errstr;
    size_t errstr_size;
} parser_t;

static int fail_at(parser_t *p, int rc, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(parser_t *p, int rc, size_t at, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (at >= p->len)
        return ferry_err_set(p->errstr, p->errstr_size, rc, "row filter %s: %s at the end",
                             p->f->key, what);
    size_t n = p->len - at > 24 ? 24 : p->len - at;
    return ferry_err_set(p->errstr, p->errstr_size, rc, "row filter %s: %s at \"%.*s%s\"",
                         p->f->key, what, (int)n, p->s + at, p->len - at > 24 ? "..." : "");
}

static bool word_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

static bool valid_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t k = c < 0x80             ? 1
                   : (c & 0xE0) == 0xC0 ? 2
                   : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4
                                        : 0;
        if (!k || (k == 2 && c < 0xC2) || i + k > n)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((u[i + j] & 0xC0) != 0x80)
                return false;
        i += k;
    }
    return true;
}

/* Bytes of the character at s (UTF-8; a stray byte counts as one). */
static size_t char_len(const char *s, size_t left)
{
    unsigned char c = (unsigned char)*s;
    size_t k = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    return k > left ? left : k;
}

static int lex_string(parser_t *p, size_t start)
{
    char *out;
    size_t n, used;
    int rc = ferry_mysql_read_string(p->s + start, p->len - start, p->f->arena, &out, &n, &used);
    if (rc == FERRY_ERR_NOMEM)
        return ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (rc != 0)
        return fail_at(p, FERRY_ERR_INVALID, start, "unterminated string");
    if (!valid_utf8(out, n))
        return fail_at(p, FERRY_ERR_INVALID, start, "string is not valid UTF-8");
    p->tok.kind = T_STR;
    p->tok.val = out;
    p->tok.val_len = n;
    p->pos = start + used;
    return 0;
}

static int lex_number(parser_t *p, size_t start)
{
    size_t i = start;
    bool digits = false, dot = false, exp = false;
    while (i < p->len && isdigit((unsigned char)p->s[i])) {
        i++;
        digits = true;
    }
    if (i < p->len && p->s[i] == '.') {
        dot = true;
        i++;
        while (i < p->len && isdigit((unsigned char)p->s[i])) {
            i++;
            digits = true;
        }
    }
    if (digits && i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        size_t j = i + 1;
        if (j < p->len && (p->s[j] == '+' || p->s[j] == '-'))
            j++;
        if (j < p->len && isdigit((unsigned char)p->s[j])) {
            while (j < p->len && isdigit((unsigned char)p->s[j]))
                j++;
            exp = true;
            i = j;
        }
    }
    if (!digits)
        return fail_at(p, FERRY_ERR_UNSUPPORTED, start, "unexpected '.'");
    if (i < p->len && word_char((unsigned char)p->s[i]))
        return fail_at(p, FERRY_ERR_UNSUPPORTED, start,
                       "hex, bit and names starting with a digit are not supported (quote a "
                       "name with backticks)");
    p->tok.kind = T_NUM;
    p->tok.val = ferry_arena_strndup(p->f->arena, p->s + start, i - start);
    if (!p->tok.val)
        return ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    p->tok.val_len = i - start;
    p->tok.op = (dot ? 1 : 0) | (exp ? 2 : 0);
    p->pos = i;
    return 0;
}

static int lex_qname(parser_t *p, size_t start)
{
    char *out = ferry_arena_alloc(p->f->arena, p->len - start + 1);
    if (!out)
        return ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    size_t n = 0, i = start + 1;
    for (;;) {
        if (i >= p->len)
            return fail_at(p, FERRY_ERR_INVALID, start, "unterminated quoted name");
        char c = p->s[i++];
        if (c == '`') {
            if (i < p->len && p->s[i] == '`') {
                out[n++] = '`';
                i++;
                continue;
            }
            break;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    if (n == 0 || memchr(out, '\0', n))
        return fail_at(p, FERRY_ERR_INVALID, start, "empty or invalid column name");
    p->tok.kind = T_QNAME;
    p->tok.val = out;
    p->tok.val_len = n;
    p->pos = i;
    return 0;
}

/* Reads the next token into p->tok. */
static int next(parser_t *p)
{
    while (p->pos < p->len && isspace((unsigned char)p->s[p->pos]))
        p->pos++;
    size_t i = p->pos;
    memset(&p->tok, 0, sizeof(p->tok));
    p->tok.start = i;
    int rc = 0;
    if (i >= p->len) {
        p->tok.kind = T_END;
        return 0;
    }
    char c = p->s[i], d = i + 1 < p->len ? p->s[i + 1] : '\0';
    char e = i + 2 < p->len ? p->s[i + 2] : '\0';
    if (c == '\'') {
        rc = lex_string(p, i);
    } else if (c == '`') {
        rc = lex_qname(p, i);
    } else if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)d))) {
        rc = lex_number(p, i);
    } else if (word_char((unsigned char)c)) {
        size_t j = i;
        while (j < p->len && word_char((unsigned char)p->s[j]))
            j++;
        p->tok.kind = T_WORD;
        p->tok.val = ferry_arena_strndup(p->f->arena, p->s + i, j - i);
        p->tok.val_len = j - i;
        p->pos = j;
        if (!p->tok.val)
            rc = ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    } else if (c == '"') {
        return fail_at(p, FERRY_ERR_UNSUPPORTED, i,
                       "double-quoted text is not supported (a string or a name depending on "
                       "sql_mode): write 'string' or `name`");
    } else if ((c == '-' && d == '-') || c == '#' || (c == '/' && d == '*')) {
        return fail_at(p, FERRY_ERR_UNSUPPORTED, i, "comments are not supported");
    } else if (c == '<' && d == '=' && e == '>') {
        p->tok.kind = T_OP, p->tok.op = OP_NSEQ, p->pos = i + 3;
    } else if (c == '<' && d == '=') {
        p->tok.kind = T_OP, p->tok.op = OP_LE, p->pos = i + 2;
    } else if (c == '<' && d == '>') {
        p->tok.kind = T_OP, p->tok.op = OP_NE, p->pos = i + 2;
    } else if (c == '!' && d == '=') {
        p->tok.kind = T_OP, p->tok.op = OP_NE, p->pos = i + 2;
    } else if (c == '>' && d == '=') {
        p->tok.kind = T_OP, p->tok.op = OP_GE, p->pos = i + 2;
    } else if (c == '<' && d != '<') {
        p->tok.kind = T_OP, p->tok.op = OP_LT, p->pos = i + 1;
    } else if (c == '>' && d != '>') {
        p->tok.kind = T_OP, p->tok.op = OP_GT, p->pos = i + 1;
    } else if (c == '=') {
        p->tok.kind = T_OP, p->tok.op = OP_EQ, p->pos = i + 1;
    } else if (c == '&' && d == '&') {
        p->tok.kind = T_ANDAND, p->pos = i + 2;
    } else if (c == '|' && d == '|') {
        p->tok.kind = T_OROR, p->pos = i + 2;
    } else if (c == '(' || c == ')' || c == ',') {
        p->tok.kind = c == '(' ? T_LP : c == ')' ? T_RP : T_COMMA;
        p->pos = i + 1;
    } else if (c == '+' || c == '-') {
        p->tok.kind = T_SIGN, p->tok.op = c, p->pos = i + 1;
    } else {
        return fail_at(p, FERRY_ERR_UNSUPPORTED, i, "unsupported character '%c'", c);
    }
    if (rc == 0)
        p->tok.end = p->pos;
    return rc;
}

static bool is_kw(const tok_t *t, const char *kw)
{
    return t->kind == T_WORD && strcasecmp(t->val, kw) == 0;
}

/* Words that are operators, functions without parentheses or syntax in MySQL. */
static bool reserved(const tok_t *t)
{
    static const char *const words[] = {"AND",
                                        "OR",
                                        "NOT",
                                        "IS",
                                        "NULL",
                                        "IN",
                                        "BETWEEN",
                                        "LIKE",
                                        "ESCAPE",
                                        "TRUE",
                                        "FALSE",
                                        "XOR",
                                        "REGEXP",
                                        "RLIKE",
                                        "DIV",
                                        "MOD",
                                        "CASE",
                                        "WHEN",
                                        "THEN",
                                        "ELSE",
                                        "END",
                                        "INTERVAL",
                                        "BINARY",
                                        "EXISTS",
                                        "SELECT",
                                        "COLLATE",
                                        "SOUNDS",
                                        "MATCH",
                                        "UNKNOWN",
                                        "DEFAULT",
                                        "ALL",
                                        "ANY",
                                        "SOME",
                                        "ROW",
                                        "CURRENT_DATE",
                                        "CURRENT_TIME",
                                        "CURRENT_TIMESTAMP",
                                        "CURRENT_USER",
                                        "LOCALTIME",
                                        "LOCALTIMESTAMP",
                                        "UTC_DATE",
                                        "UTC_TIME",
                                        "UTC_TIMESTAMP",
                                        "DATE",
                                        "TIME",
                                        "TIMESTAMP"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (is_kw(t, words[i]))
            return true;
    return false;
}

/* ---- parser ------------------------------------------------------------------- */

static node_t *new_node(parser_t *p, node_kind_t kind)
{
    node_t *n = ferry_arena_calloc(p->f->arena, 1, sizeof(*n));
    if (n)
        n->kind = kind;
    else
        ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    return n;
}

static int add_column(parser_t *p, const char *name, size_t *idx)
{
    ferry_row_filter_t *f = p->f;
    for (size_t i = 0; i < f->n_cols; i++)
        if (strcasecmp(f->cols[i], name) == 0) {
            *idx = i;
            return 0;
        }
    if (f->n_cols == f->cap_cols) {
        size_t cap = f->cap_cols ? f->cap_cols * 2 : 8;
        const char **grown = ferry_arena_calloc(f->arena, cap, sizeof(*grown));
        if (!grown)
            return ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
        if (f->n_cols)
            memcpy(grown, f->cols, f->n_cols * sizeof(*grown));
        f->cols = grown;
        f->cap_cols = cap;
    }
    f->cols[f->n_cols] = name;
    *idx = f->n_cols++;
    return 0;
}

/* Fills l from a number token's text (sign applied). */
static void number_literal(lit_t *l, const char *text, size_t len, int shape)
{
    l->kind = L_NUM;
    l->text = text;
    l->len = len;
    l->is_float = shape & 2;
    l->is_int = shape == 0;
    l->neg = text[0] == '-';
    l->d = strtod(text, NULL);
    if (l->is_int) {
        const char *digits = text + (text[0] == '-' || text[0] == '+');
        errno = 0;
        char *end;
        unsigned long long m = strtoull(digits, &end, 10);
        l->fits = errno == 0 && *end == '\0';
        l->mag = m;
    }
}

/* A literal token (with an optional sign before a number) into l; 1 when the token is none. */
static int parse_literal(parser_t *p, lit_t *l)
{
    memset(l, 0, sizeof(*l));
    if (p->tok.kind == T_STR) {
        l->kind = L_STR;
        l->text = p->tok.val;
        l->len = p->tok.val_len;
        return next(p);
    }
    if (is_kw(&p->tok, "NULL")) {
        l->kind = L_NULL;
        return next(p);
    }
    if (is_kw(&p->tok, "TRUE") || is_kw(&p->tok, "FALSE")) {
        number_literal(l, is_kw(&p->tok, "TRUE") ? "1" : "0", 1, 0);
        return next(p);
    }
    char sign = 0;
    size_t at = p->tok.start;
    if (p->tok.kind == T_SIGN) {
        sign = (char)p->tok.op;
        int rc = next(p);
        if (rc)
            return rc;
        if (p->tok.kind != T_NUM)
            return fail_at(p, FERRY_ERR_UNSUPPORTED, at, "arithmetic is not supported");
    }
    if (p->tok.kind != T_NUM)
        return 1;
    size_t digits = strspn(p->tok.val, "0123456789");
    if (p->tok.val[digits] == '.')
        digits += strspn(p->tok.val + digits + 1, "0123456789");
    if (digits > 65) /* MySQL reads a longer decimal literal as a double */
        return fail_at(p, FERRY_ERR_UNSUPPORTED, at,
                       "numbers of more than 65 digits are not "
                       "supported");
    if ((p->tok.op & 2) && !isfinite(strtod(p->tok.val, NULL)))
        return fail_at(p, FERRY_ERR_UNSUPPORTED, at, "number out of range");
    char *text = ferry_arena_alloc(p->f->arena, p->tok.val_len + 2);
    if (!text)
        return ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    size_t n = 0;
    if (sign == '-')
        text[n++] = '-';
    memcpy(text + n, p->tok.val, p->tok.val_len + 1);
    number_literal(l, text, n + p->tok.val_len, p->tok.op);
    return next(p);
}

/* Decodes a LIKE pattern with escape character esc (NULL: none) into n->pat. */
static int compile_pattern(parser_t *p, node_t *n, const char *esc, size_t esc_len)
{
    const lit_t *l = &n->lits[0];
    n->pat = ferry_arena_calloc(p->f->arena, l->len + 1, sizeof(*n->pat));
    if (!n->pat)
        return ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < l->len;) {
        size_t k = char_len(l->text + i, l->len - i);
        pat_t *it = &n->pat[n->n_pat++];
        if (esc && k == esc_len && memcmp(l->text + i, esc, k) == 0 && i + k < l->len) {
            i += k; /* the next character stands for itself */
            k = char_len(l->text + i, l->len - i);
            *it = (pat_t){P_LIT, (uint8_t)k, l->text + i};
        } else if (l->text[i] == '%') {
            it->kind = P_ANY;
        } else if (l->text[i] == '_') {
            it->kind = P_ONE;
        } else {
            *it = (pat_t){P_LIT, (uint8_t)k, l->text + i};
        }
        i += k;
    }
    return 0;
}

static int parse_like(parser_t *p, node_t *n)
{
    size_t at = p->tok.start;
    n->lits = ferry_arena_calloc(p->f->arena, 1, sizeof(*n->lits));
    if (!n->lits)
        return ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    n->n_lits = 1;
    int rc = parse_literal(p, &n->lits[0]);
    if (rc == 1 || (rc == 0 && n->lits[0].kind == L_NUM))
        return fail_at(p, FERRY_ERR_UNSUPPORTED, at, "LIKE takes a 'string' pattern");
    if (rc)
        return rc;
    const char *esc = "\\";
    size_t esc_len = 1;
    if (is_kw(&p->tok, "ESCAPE")) {
        at = p->tok.start;
        if ((rc = next(p)) != 0)
            return rc;
        if (p->tok.kind != T_STR || p->tok.val_len == 0 ||
            char_len(p->tok.val, p->tok.val_len) != p->tok.val_len)
            return fail_at(p, FERRY_ERR_UNSUPPORTED, at, "ESCAPE takes one character in quotes");
        esc = p->tok.val;
        esc_len = p->tok.val_len;
        if ((rc = next(p)) != 0)
            return rc;
    }
    return n->lits[0].kind == L_STR ? compile_pattern(p, n, esc, esc_len) : 0;
}

static int parse_in(parser_t *p, node_t *n)
{
    size_t at = p->tok.start;
    int rc;
    if (p->tok.kind != T_LP)
        return fail_at(p, FERRY_ERR_UNSUPPORTED, at, "IN takes a list of literals in parentheses");
    size_t cap = 8;
    n->lits = ferry_arena_calloc(p->f->arena, cap, sizeof(*n->lits));
    if (!n->lits)
        return ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    do {
        if ((rc = next(p)) != 0)
            return rc;
        if (n->n_lits == cap) {
            lit_t *grown = ferry_arena_calloc(p->f->arena, cap * 2, sizeof(*grown));
            if (!grown)
                return ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
            memcpy(grown, n->lits, cap * sizeof(*grown));
            n->lits = grown;
            cap *= 2;
        }
        at = p->tok.start;
        rc = parse_literal(p, &n->lits[n->n_lits]);
        if (rc == 1)
            return fail_at(p, FERRY_ERR_UNSUPPORTED, at, "only literals are supported in IN (...)");
        if (rc)
            return rc;
        n->n_lits++;
    } while (p->tok.kind == T_COMMA);
    if (p->tok.kind != T_RP)
        return fail_at(p, FERRY_ERR_UNSUPPORTED, p->tok.start, "expected ',' or ')' in IN (...)");
    return next(p);
}

static int parse_between(parser_t *p, node_t *n)
{
    n->lits = ferry_arena_calloc(p->f->arena, 2, sizeof(*n->lits));
    if (!n->lits)
        return ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    n->n_lits = 2;
    for (int i = 0; i < 2; i++) {
        size_t at = p->tok.start;
        int rc = parse_literal(p, &n->lits[i]);
        if (rc == 1)
            return fail_at(p, FERRY_ERR_UNSUPPORTED, at, "BETWEEN takes literals");
        if (rc)
            return rc;
        if (i == 0 && !is_kw(&p->tok, "AND") && p->tok.kind != T_ANDAND)
            return fail_at(p, FERRY_ERR_INVALID, p->tok.start, "expected AND in BETWEEN");
        if (i == 0 && (rc = next(p)) != 0)
            return rc;
    }
    return 0;
}

/* A column operand: a quoted name, or a bare word that is not reserved. */
static int parse_column(parser_t *p, size_t *col, bool *is_col)
{
    *is_col = false;
    if (p->tok.kind != T_QNAME && p->tok.kind != T_WORD)
        return 0;
    tok_t t = p->tok;
    size_t at = t.start;
    if (t.kind == T_WORD && reserved(&t) && !is_kw(&t, "NULL") && !is_kw(&t, "TRUE") &&
        !is_kw(&t, "FALSE"))
        return fail_at(p, FERRY_ERR_UNSUPPORTED, at,
                       "'%s' is not supported here (quote a column of that name with backticks)",
                       t.val);
    if (t.kind == T_WORD && (is_kw(&t, "NULL") || is_kw(&t, "TRUE") || is_kw(&t, "FALSE")))
        return 0;
    size_t after = t.end;
    while (after < p->len && isspace((unsigned char)p->s[after]))
        after++;
    if (after < p->len && p->s[after] == '.')
        return fail_at(p, FERRY_ERR_UNSUPPORTED, at, "qualified column names are not supported");
    int rc = next(p);
    if (rc)
        return rc;
    if (p->tok.kind == T_LP)
        return fail_at(p, FERRY_ERR_UNSUPPORTED, at, "functions are not supported");
    *is_col = true;
    return add_column(p, t.val, col);
}

static int flip(int op)
{
    return op == OP_LT   ? OP_GT
           : op == OP_GT ? OP_LT
           : op == OP_LE ? OP_GE
           : op == OP_GE ? OP_LE
                         : op;
}

static bool ends_predicate(const tok_t *t)
{
    return t->kind == T_END || t->kind == T_RP || t->kind == T_ANDAND || t->kind == T_OROR ||
           is_kw(t, "AND") || is_kw(t, "OR");
}

static lit_t *one_literal(parser_t *p, node_t *n)
{
    n->lits = ferry_arena_calloc(p->f->arena, 1, sizeof(*n->lits));
    if (!n->lits)
        ferry_err_set(p->errstr, p->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    else
        n->n_lits = 1;
    return n->lits;
}

/* literal op column */
static int parse_reversed(parser_t *p, node_t *n)
{
    size_t at = p->tok.start;
    if (!one_literal(p, n))
        return FERRY_ERR_NOMEM;
    int rc = parse_literal(p, &n->lits[0]);
    if (rc == 1)
        return fail_at(p, FERRY_ERR_UNSUPPORTED, at, "expected a column or a literal");
    if (rc)
        return rc;
    if (p->tok.kind != T_OP)
        return fail_at(p, FERRY_ERR_UNSUPPORTED, p->tok.start,
                       "a literal can only be compared with a column (=, <>, <, <=, >, >=, <=>)");
    n->op = flip(p->tok.op);
    bool is_col;
    if ((rc = next(p)) != 0)
        return rc;
    size_t col_at = p->tok.start;
    if ((rc = parse_column(p, &n->col, &is_col)) != 0)
        return rc;
    if (!is_col)
        return fail_at(p, FERRY_ERR_UNSUPPORTED, col_at,
                       "comparisons between literals are not supported");
    return 0;
}

/* What follows "column": an operator and its literals, or nothing (a truth test). */
static int parse_column_predicate(parser_t *p, node_t *n)
{
    int rc;
    size_t at = p->tok.start;
    if (ends_predicate(&p->tok)) { /* a bare number column: true when not zero */
        n->op = OP_NE;
        if (!one_literal(p, n))
            return FERRY_ERR_NOMEM;
        number_literal(&n->lits[0], "0", 1, 0);
        return 0;
    }
    if (p->tok.kind == T_OP) {
        n->op = p->tok.op;
        if ((rc = next(p)) != 0)
            return rc;
        if (p->tok.kind == T_WORD && reserved(&p->tok) && !is_kw(&p->tok, "NULL") &&
            !is_kw(&p->tok, "TRUE") && !is_kw(&p->tok, "FALSE"))
            return fail_at(p, FERRY_ERR_UNSUPPORTED, p->tok.start, "'%s' is not supported here",
                           p->tok.val);
        if (p->tok.kind == T_QNAME || (p->tok.kind == T_WORD && !reserved(&p->tok)))
            return fail_at(p, FERRY_ERR_UNSUPPORTED, p->tok.start,
                           "comparisons between columns are not supported");
        if (!one_literal(p, n))
            return FERRY_ERR_NOMEM;
        at = p->tok.start;
        rc = parse_literal(p, &n->lits[0]);
        return rc == 1 ? fail_at(p, FERRY_ERR_UNSUPPORTED, at, "expected a literal") : rc;
    }
    if (is_kw(&p->tok, "IS")) {
        n->kind = N_ISNULL;
        if ((rc = next(p)) != 0)
            return rc;
        if (is_kw(&p->tok, "NOT")) {
            n->neg = true;
            if ((rc = next(p)) != 0)
                return rc;
        }
        if (!is_kw(&p->tok, "NULL"))
            return fail_at(p, FERRY_ERR_UNSUPPORTED, p->tok.start,
                           "only IS NULL and IS NOT NULL are supported");
        return next(p);
    }
    if (is_kw(&p->tok, "NOT")) {
        n->neg = true;
        if ((rc = next(p)) != 0)
            return rc;
    }
    if (is_kw(&p->tok, "IN")) {
        n->kind = N_IN;
        return (rc = next(p)) != 0 ? rc : parse_in(p, n);
    }
    if (is_kw(&p->tok, "BETWEEN")) {
        n->kind = N_BETWEEN;
        return (rc = next(p)) != 0 ? rc : parse_between(p, n);
    }
    if (is_kw(&p->tok, "LIKE")) {
        n->kind = N_LIKE;
        return (rc = next(p)) != 0 ? rc : parse_like(p, n);
    }
    if (p->tok.kind == T_SIGN)
        return fail_at(p, FERRY_ERR_UNSUPPORTED, p->tok.start, "arithmetic is not supported");
    return fail_at(p, FERRY_ERR_UNSUPPORTED, p->tok.start, "unsupported operator");
}

static int parse_predicate(parser_t *p, node_t **out)
{
    node_t *n = new_node(p, N_CMP);
    if (!n)
        return FERRY_ERR_NOMEM;
    *out = n;
    bool is_col;
    int rc = parse_column(p, &n->col, &is_col);
    if (rc)
        return rc;
    return is_col ? parse_column_predicate(p, n) : parse_reversed(p, n);
}

static int parse_condition(parser_t *p, node_t **out);

static int parse_factor(parser_t *p, node_t **out)
{
    int rc;
    if (++p->depth > MAX_DEPTH)
        return fail_at(p, FERRY_ERR_UNSUPPORTED, p->tok.start, "nested too deeply");
    if (is_kw(&p->tok, "NOT")) {
        node_t *n = new_node(p, N_NOT);
        if (!n)
            return FERRY_ERR_NOMEM;
        *out = n;
        rc = next(p);
        if (rc == 0)
            rc = parse_factor(p, &n->a);
    } else if (p->tok.kind == T_LP) {
        if ((rc = next(p)) == 0)
            rc = parse_condition(p, out);
        if (rc == 0 && p->tok.kind != T_RP)
            rc = fail_at(p, FERRY_ERR_UNSUPPORTED, p->tok.start, "expected ')'");
        if (rc == 0)
            rc = next(p);
    } else if (p->tok.kind == T_END) {
        rc = fail_at(p, FERRY_ERR_INVALID, p->tok.start, "a condition is missing");
    } else {
        rc = parse_predicate(p, out);
    }
    p->depth--;
    return rc;
}

/* Left-associative chain of factors (AND) or terms (OR). */
static int parse_chain(parser_t *p, node_t **out, node_kind_t kind)
{
    const char *word = kind == N_AND ? "AND" : "OR";
    tok_kind_t sym = kind == N_AND ? T_ANDAND : T_OROR;
    int rc = kind == N_AND ? parse_factor(p, out) : parse_chain(p, out, N_AND);
    while (rc == 0 && (is_kw(&p->tok, word) || p->tok.kind == sym)) {
        node_t *n = new_node(p, kind);
        if (!n)
            return FERRY_ERR_NOMEM;
        n->a = *out;
        *out = n;
        if ((rc = next(p)) == 0)
            rc = kind == N_AND ? parse_factor(p, &n->b) : parse_chain(p, &n->b, N_AND);
    }
    return rc;
}

static int parse_condition(parser_t *p, node_t **out)
{
    return parse_chain(p, out, N_OR);
}

/* ---- SQL out ------------------------------------------------------------------ */

/* A string literal no sql_mode reads otherwise: plain when harmless, else hex. */
static void put_string(ferry_strbuf_t *sb, const char *s, size_t n)
{
    bool plain = true;
    for (size_t i = 0; i < n && plain; i++)
        plain = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'' && s[i] != '\\';
    if (plain) {
        ferry_strbuf_puts(sb, "'");
        ferry_strbuf_put(sb, s, n);
        ferry_strbuf_puts(sb, "'");
        return;
    }
    ferry_strbuf_puts(sb, "_utf8mb4 X'");
    for (size_t i = 0; i < n; i++)
        ferry_strbuf_printf(sb, "%02X", (unsigned char)s[i]);
    ferry_strbuf_puts(sb, "'");
}

static void put_literal(ferry_strbuf_t *sb, const lit_t *l)
{
    if (l->kind == L_NULL)
        ferry_strbuf_puts(sb, "NULL");
    else if (l->kind == L_NUM)
        ferry_strbuf_put(sb, l->text, l->len);
    else
        put_string(sb, l->text, l->len);
}

static void put_name(ferry_strbuf_t *sb, const char *name)
{
    ferry_strbuf_puts(sb, "`");
    for (const char *c = name; *c; c++)
        ferry_strbuf_puts(sb, *c == '`' ? "``" : (char[2]){*c, '\0'});
    ferry_strbuf_puts(sb, "`");
}

/* The pattern again, escaped with '!' (printed with ESCAPE '!'). */
static void put_pattern(ferry_strbuf_t *sb, const node_t *n)
{
    ferry_strbuf_t pat = FERRY_STRBUF_INIT;
    for (size_t i = 0; i < n->n_pat; i++) {
        const pat_t *it = &n->pat[i];
        if (it->kind == P_ANY || it->kind == P_ONE) {
            ferry_strbuf_puts(&pat, it->kind == P_ANY ? "%" : "_");
            continue;
        }
        if (it->len == 1 && (*it->s == '%' || *it->s == '_' || *it->s == '!'))
            ferry_strbuf_puts(&pat, "!");
        ferry_strbuf_put(&pat, it->s, it->len);
    }
    put_string(sb, pat.buf ? pat.buf : "", pat.len);
    sb->oom |= pat.oom;
    ferry_strbuf_free(&pat);
}

/*
 * Writes n as SQL. With row NULL, columns are names (the canonical form);
 * otherwise the predicate's column is written as the row's value in the
 * column's charset and collation (for asking the server).
 */
static void put_node(ferry_strbuf_t *sb, const ferry_row_filter_t *f, const node_t *n,
                     const ferry_row_t *row)
{
    switch (n->kind) {
    case N_OR:
    case N_AND:
        ferry_strbuf_puts(sb, "(");
        put_node(sb, f, n->a, row);
        ferry_strbuf_puts(sb, n->kind == N_AND ? " AND " : " OR ");
        put_node(sb, f, n->b, row);
        ferry_strbuf_puts(sb, ")");
        return;
    case N_NOT:
        ferry_strbuf_puts(sb, "(NOT ");
        put_node(sb, f, n->a, row);
        ferry_strbuf_puts(sb, ")");
        return;
    default:
        break;
    }
    ferry_strbuf_puts(sb, "(");
    if (!row) {
        put_name(sb, f->cols[n->col]);
    } else {
        const bcol_t *c = &f->bound[n->col];
        const ferry_value_t *v = &row->values[c->idx];
        ferry_strbuf_puts(sb, c->charset[0] ? "(CONVERT(_utf8mb4 X'" : "(_utf8mb4 X'");
        for (size_t i = 0; i < v->v.s.len; i++)
            ferry_strbuf_printf(sb, "%02X", (unsigned char)v->v.s.ptr[i]);
        ferry_strbuf_puts(sb, "'");
        if (c->charset[0])
            ferry_strbuf_printf(sb, " USING %s)", c->charset);
        if (c->collation[0])
            ferry_strbuf_printf(sb, " COLLATE %s", c->collation);
        ferry_strbuf_puts(sb, ")");
    }
    switch (n->kind) {
    case N_CMP:
        ferry_strbuf_printf(sb, " %s ", op_sql[n->op]);
        put_literal(sb, &n->lits[0]);
        break;
    case N_ISNULL:
        ferry_strbuf_puts(sb, n->neg ? " IS NOT NULL" : " IS NULL");
        break;
    case N_IN:
        ferry_strbuf_puts(sb, n->neg ? " NOT IN (" : " IN (");
        for (size_t i = 0; i < n->n_lits; i++) {
            if (i)
                ferry_strbuf_puts(sb, ", ");
            put_literal(sb, &n->lits[i]);
        }
        ferry_strbuf_puts(sb, ")");
        break;
    case N_BETWEEN:
        ferry_strbuf_puts(sb, n->neg ? " NOT BETWEEN " : " BETWEEN ");
        put_literal(sb, &n->lits[0]);
        ferry_strbuf_puts(sb, " AND ");
        put_literal(sb, &n->lits[1]);
        break;
    case N_LIKE:
        ferry_strbuf_puts(sb, n->neg ? " NOT LIKE " : " LIKE ");
        if (n->lits[0].kind == L_NULL)
            ferry_strbuf_puts(sb, "NULL");
        else
            put_pattern(sb, n);
        ferry_strbuf_puts(sb, " ESCAPE '!'");
        break;
    default:
        break;
    }
    ferry_strbuf_puts(sb, ")");
}

/* ---- the public face ------------------------------------------------------------ */

int ferry_row_filter_parse(const char *key, const char *text, ferry_row_filter_t **out,
                           char *errstr, size_t errstr_size)
{
    *out = NULL;
    ferry_row_filter_t *f = calloc(1, sizeof(*f));
    if (!f || !(f->arena = ferry_arena_new(0)) || !(f->key = strdup(key ? key : "where"))) {
        ferry_row_filter_destroy(f);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    parser_t p = {.f = f, .s = text ? text : "", .errstr = errstr, .errstr_size = errstr_size};
    p.len = strlen(p.s);
    int rc = next(&p);
    if (rc == 0)
        rc = parse_condition(&p, &f->root);
    if (rc == 0 && p.tok.kind != T_END)
        rc = fail_at(&p, FERRY_ERR_UNSUPPORTED, p.tok.start,
                     p.tok.kind == T_RP ? "unbalanced ')'" : "unexpected text");
    if (rc == 0) {
        ferry_strbuf_t sb = FERRY_STRBUF_INIT;
        put_node(&sb, f, f->root, NULL);
        if (sb.oom || !sb.buf)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        f->sql = sb.buf;
    }
    if (rc != 0) {
        if (rc == FERRY_ERR_NOMEM)
            ferry_err_set(errstr, errstr_size, rc, "out of memory");
        ferry_row_filter_destroy(f);
        return rc;
    }
    *out = f;
    return 0;
}

int ferry_row_filter_from_conf(const ferry_conf_t *conf, const char *db, const char *table,
                               ferry_row_filter_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    const char *text = conf ? ferry_conf_get_table(conf, "where", db, table) : NULL;
    if (!text)
        return 0;
    size_t n = strlen(db) + strlen(table) + 8;
    char *key = malloc(n);
    if (!key)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    snprintf(key, n, "where.%s.%s", db, table);
    int rc = ferry_row_filter_parse(key, text, out, errstr, errstr_size);
    free(key);
    return rc;
}

void ferry_row_filter_destroy(ferry_row_filter_t *f)
{
    if (!f)
        return;
    ferry_arena_destroy(f->arena);
    free(f->key);
    free(f->sql);
    free(f->bound);
    free(f);
}

const char *ferry_row_filter_key(const ferry_row_filter_t *f)
{
    return f->key;
}

const char *ferry_row_filter_sql(const ferry_row_filter_t *f)
{
    return f->sql;
}

size_t ferry_row_filter_ncolumns(const ferry_row_filter_t *f)
{
    return f->n_cols;
}

const char *ferry_row_filter_column(const ferry_row_filter_t *f, size_t i)
{
    return i < f->n_cols ? f->cols[i] : NULL;
}

/* ---- binding ------------------------------------------------------------------------ */

typedef struct {
    const ferry_row_filter_t *f;
    char *errstr;
    size_t errstr_size;
} bind_t;

static bool is_number_type(ferry_type_t t)
{
    return t == FERRY_TYPE_INT || t == FERRY_TYPE_UINT || t == FERRY_TYPE_YEAR ||
           t == FERRY_TYPE_BIT || t == FERRY_TYPE_DECIMAL || t == FERRY_TYPE_FLOAT ||
           t == FERRY_TYPE_DOUBLE;
}

static bool is_text_type(ferry_type_t t)
{
    return t == FERRY_TYPE_STRING || t == FERRY_TYPE_ENUM || t == FERRY_TYPE_SET ||
           t == FERRY_TYPE_BYTES;
}

static bool is_civil_type(ferry_type_t t)
{
    return t == FERRY_TYPE_DATE || t == FERRY_TYPE_DATETIME || t == FERRY_TYPE_TIMESTAMP;
}

static bool sql_word(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

/* How the collation compares, from its name (see row_filter.h). */
static void classify(bcol_t *c, const ferry_column_t *col, const char *collation)
{
    c->coll = C_OTHER;
    c->pad = true;
    if (col->type == FERRY_TYPE_BYTES) {
        c->coll = C_BYTES;
        c->pad = false;
        return;
    }
    const char *cs = col->charset;
    if (collation && sql_word(collation) && strlen(collation) < sizeof(c->collation)) {
        snprintf(c->collation, sizeof(c->collation), "%s", collation);
        size_t n = strcspn(collation, "_");
        if (!cs || strncasecmp(cs, collation, n) != 0)
            cs = NULL;
        if (n < sizeof(c->charset))
            snprintf(c->charset, sizeof(c->charset), "%.*s", (int)n, collation);
    }
    if (cs && sql_word(cs) && strlen(cs) < sizeof(c->charset))
        snprintf(c->charset, sizeof(c->charset), "%s", cs);
    c->utf8 = strncasecmp(c->charset, "utf8", 4) == 0;
    c->utf8mb4 = strcasecmp(c->charset, "utf8mb4") == 0;
    if (!c->collation[0])
        return;
    const char *l = c->collation;
    size_t n = strlen(l);
    c->pad = !strstr(l, "nopad") && !strstr(l, "_0900_");
    if (n > 4 && strcasecmp(l + n - 4, "_bin") == 0)
        c->coll = C_BIN;
    else if (strstr(l, "_general_ci") || strstr(l, "_general_nopad_ci") ||
             strstr(l, "_swedish_ci") || strstr(l, "_swedish_nopad_ci"))
        c->coll = C_CI_SIMPLE;
    else if (strstr(l, "_unicode_ci") || strstr(l, "_unicode_nopad_ci") ||
             strstr(l, "_unicode_520_ci") || strstr(l, "_unicode_520_nopad_ci") ||
             strstr(l, "_0900_ai_ci") || strstr(l, "_uca1400_ai_ci"))
        c->coll = C_CI_UCA;
}

static bool is_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

static int refuse(bind_t *b, const char *column, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(bind_t *b, const char *column, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return ferry_err_set(b->errstr, b->errstr_size, FERRY_ERR_UNSUPPORTED,
                         "row filter %s: column `%s` %s", b->f->key, column, what);
}

/* Digits after the point of a temporal literal ("10:00:00.250" -> 3). */
static int fraction_digits(const lit_t *l)
{
    const char *dot = memchr(l->text, '.', l->len);
    return dot ? (int)(l->text + l->len - dot - 1) : 0;
}

static int bind_literal(bind_t *b, const char *name, const bcol_t *c, lit_t *l)
{
    if (l->kind == L_NULL)
        return 0;
    ferry_type_t t = c->type;
    if (is_number_type(t)) {
        if (l->kind != L_NUM)
            return refuse(b, name, "is a number: compare it with a number, not '%.*s'", (int)l->len,
                          l->text);
        /* the server turns a YEAR constant into a year first (99 -> 1999) */
        if (t == FERRY_TYPE_YEAR &&
            (!l->is_int || l->neg || (l->mag != 0 && (l->mag < 1901 || l->mag > 2155))))
            return refuse(b, name, "is year: compare it with 0 or a year 1901..2155, not %.*s",
                          (int)l->len, l->text);
        return 0;
    }
    if (l->kind != L_STR)
        return refuse(b, name,
                      "is %s: compare it with a 'quoted' value, not %.*s (MySQL would compare "
                      "them as floating-point numbers)",
                      ferry_type_name(t), (int)l->len, l->text);
    if (is_civil_type(t)) {
        bool date_only = l->len == 10;
        if (ferry_value_parse_civil(l->text, l->len, &l->dt) != 0 ||
            (!ferry_value_civil_is_valid(&l->dt) && (l->dt.year || l->dt.month || l->dt.day)) ||
            (t == FERRY_TYPE_DATE && !date_only) || fraction_digits(l) > c->fsp)
            return refuse(b, name, "is %s: compare it with '%s' (a valid date%s), not '%.*s'",
                          ferry_type_name(t),
                          t == FERRY_TYPE_DATE ? "YYYY-MM-DD" : "YYYY-MM-DD[ HH:MM:SS[.ffffff]]",
                          t == FERRY_TYPE_DATE ? "" : ", no more fractional digits than the column",
                          (int)l->len, l->text);
        if (date_only)
            l->dt.hour = l->dt.minute = l->dt.second = 0, l->dt.usec = 0;
        return 0;
    }
    if (t == FERRY_TYPE_TIME) {
        if (ferry_value_parse_time(l->text, l->len, &l->time) != 0 || fraction_digits(l) > c->fsp)
            return refuse(b, name,
                          "is time: compare it with '[-]HH:MM:SS[.ffffff]' (no more fractional "
                          "digits than the column), not '%.*s'",
                          (int)l->len, l->text);
        return 0;
    }
    if (!is_ascii(l->text, l->len) && c->coll != C_BYTES && !c->utf8mb4)
        return refuse(b, name,
                      "is in charset %s: non-ASCII literals are supported for utf8mb4 "
                      "columns only",
                      c->charset[0] ? c->charset : "(unknown)");
    return 0;
}

static int bind_node(bind_t *b, node_t *n)
{
    int rc;
    if (n->kind == N_OR || n->kind == N_AND)
        return (rc = bind_node(b, n->a)) != 0 ? rc : bind_node(b, n->b);
    if (n->kind == N_NOT)
        return bind_node(b, n->a);
    const bcol_t *c = &b->f->bound[n->col];
    const char *name = b->f->cols[n->col];
    if (n->kind == N_ISNULL)
        return 0;
    if (n->kind == N_LIKE && !is_text_type(c->type))
        return refuse(b, name, "is %s: LIKE is supported on text columns only",
                      ferry_type_name(c->type));
    n->dbl = c->type == FERRY_TYPE_FLOAT || c->type == FERRY_TYPE_DOUBLE;
    for (size_t i = 0; i < n->n_lits; i++) {
        if ((rc = bind_literal(b, name, c, &n->lits[i])) != 0)
            return rc;
        n->dbl |= n->lits[i].is_float;
    }
    return 0;
}

int ferry_row_filter_bind(ferry_row_filter_t *f, const ferry_table_t *t,
                          const char *const *collations, char *errstr, size_t errstr_size)
{
    free(f->bound);
    f->bound = calloc(f->n_cols ? f->n_cols : 1, sizeof(*f->bound));
    if (!f->bound)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    bind_t b = {f, errstr, errstr_size};
    int rc = 0;
    for (size_t i = 0; i < f->n_cols && rc == 0; i++) {
        bcol_t *c = &f->bound[i];
        c->idx = -1;
        for (size_t k = 0; k < ferry_table_ncolumns(t); k++)
            if (strcasecmp(ferry_table_column(t, k)->name, f->cols[i]) == 0)
                c->idx = (int)k;
        if (c->idx < 0) {
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                               "row filter %s: column `%s` does not exist in `%s`.`%s` (or is "
                               "left out by a column filter)",
                               f->key, f->cols[i], ferry_table_db(t), ferry_table_name(t));
            break;
        }
        const ferry_column_t *col = ferry_table_column(t, (size_t)c->idx);
        c->type = col->type;
        c->fsp = col->fsp;
        if (!is_number_type(c->type) && !is_text_type(c->type) && !is_civil_type(c->type) &&
            c->type != FERRY_TYPE_TIME)
            rc = refuse(&b, f->cols[i], "is %s: not supported in row filters",
                        ferry_type_name(c->type));
        else if (c->type == FERRY_TYPE_BYTES && col->source_type &&
                 strncasecmp(col->source_type, "binary", 6) == 0)
            rc = refuse(&b, f->cols[i],
                        "is a fixed-length BINARY: not supported in row filters (its values "
                        "are padded with zero bytes)");
        classify(c, col, collations ? collations[c->idx] : NULL);
    }
    if (rc == 0)
        rc = bind_node(&b, f->root);
    if (rc != 0) {
        free(f->bound);
        f->bound = NULL;
    }
    return rc;
}

/* ---- evaluation ------------------------------------------------------------------- */

static int sign_mag_cmp(bool an, uint64_t am, bool bn, uint64_t bm)
{
    if (am == 0)
        an = false;
    if (bm == 0)
        bn = false;
    if (an != bn)
        return an ? -1 : 1;
    int c = am < bm ? -1 : am > bm;
    return an ? -c : c;
}

/* Compares two exact decimal texts ("-0012.50", "+3", ".5"). */
static int dec_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    struct part {
        bool neg;
        const char *i, *fr;
        size_t il, fl;
    } p[2];
    const char *s[2] = {a, b};
    size_t n[2] = {an, bn};
    for (int k = 0; k < 2; k++) {
        const char *x = s[k], *end = s[k] + n[k];
        p[k].neg = x < end && *x == '-';
        if (x < end && (*x == '-' || *x == '+'))
            x++;
        while (x < end && *x == '0')
            x++;
        p[k].i = x;
        while (x < end && *x != '.')
            x++;
        p[k].il = (size_t)(x - p[k].i);
        p[k].fr = x < end ? x + 1 : end;
        p[k].fl = (size_t)(end - p[k].fr);
        while (p[k].fl && p[k].fr[p[k].fl - 1] == '0')
            p[k].fl--;
        if (p[k].il == 0 && p[k].fl == 0)
            p[k].neg = false; /* zero has no sign */
    }
    if (p[0].neg != p[1].neg)
        return p[0].neg ? -1 : 1;
    int c = p[0].il != p[1].il ? (p[0].il < p[1].il ? -1 : 1) : memcmp(p[0].i, p[1].i, p[0].il);
    for (size_t i = 0; c == 0 && i < p[0].fl + p[1].fl; i++) {
        char x = i < p[0].fl ? p[0].fr[i] : '0', y = i < p[1].fl ? p[1].fr[i] : '0';
        c = x - y;
    }
    c = c < 0 ? -1 : c > 0;
    return p[0].neg ? -c : c;
}

static double value_double(ferry_type_t t, const ferry_value_t *v)
{
    char buf[128];
    switch (t) {
    case FERRY_TYPE_INT:
    case FERRY_TYPE_YEAR:
        return (double)v->v.i;
    case FERRY_TYPE_UINT:
    case FERRY_TYPE_BIT:
        return (double)v->v.u;
    case FERRY_TYPE_FLOAT:
        return (double)v->v.f;
    case FERRY_TYPE_DOUBLE:
        return v->v.d;
    default: /* DECIMAL: at most 65 digits in MySQL */
        snprintf(buf, sizeof(buf), "%.*s", (int)v->v.s.len, v->v.s.ptr);
        return strtod(buf, NULL);
    }
}

static int num_cmp(const node_t *n, const bcol_t *c, const ferry_value_t *v, const lit_t *l)
{
    if (n->dbl) {
        double x = value_double(c->type, v);
        return x < l->d ? -1 : x > l->d;
    }
    char buf[32];
    switch (c->type) {
    case FERRY_TYPE_INT:
    case FERRY_TYPE_YEAR:
        if (l->fits)
            return sign_mag_cmp(v->v.i < 0, v->v.i < 0 ? 0 - (uint64_t)v->v.i : (uint64_t)v->v.i,
                                l->neg, l->mag);
        snprintf(buf, sizeof(buf), "%" PRId64, v->v.i);
        return dec_cmp(buf, strlen(buf), l->text, l->len);
    case FERRY_TYPE_UINT:
    case FERRY_TYPE_BIT:
        if (l->fits)
            return sign_mag_cmp(false, v->v.u, l->neg, l->mag);
        snprintf(buf, sizeof(buf), "%" PRIu64, v->v.u);
        return dec_cmp(buf, strlen(buf), l->text, l->len);
    default:
        return dec_cmp(v->v.s.ptr, v->v.s.len, l->text, l->len);
    }
}

static int civil_cmp(ferry_type_t t, const ferry_civil_t *a, const ferry_civil_t *b)
{
    int64_t x[7] = {a->year, a->month, a->day, a->hour, a->minute, a->second, a->usec};
    int64_t y[7] = {b->year, b->month, b->day, b->hour, b->minute, b->second, b->usec};
    int n = t == FERRY_TYPE_DATE ? 3 : 7;
    for (int i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

static unsigned char fold(unsigned char ch)
{
    return ch >= 'a' && ch <= 'z' ? (unsigned char)(ch - 32) : ch;
}

/* Compares byte strings, optionally case-folded (ASCII) and space-padded. */
static int unit_cmp(const char *a, size_t an, const char *b, size_t bn, bool folded, bool pad)
{
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (folded)
            x = fold(x), y = fold(y);
        if (x != y)
            return x < y ? -1 : 1;
    }
    if (an == bn)
        return 0;
    if (!pad)
        return an < bn ? -1 : 1;
    const char *rest = an > bn ? a + n : b + n;
    size_t left = (an > bn ? an : bn) - n;
    for (size_t i = 0; i < left; i++)
        if (rest[i] != ' ') {
            int c = (unsigned char)rest[i] < ' ' ? -1 : 1;
            return an > bn ? c : -c;
        }
    return 0;
}

static bool printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* True when C compares a and b exactly in c's collation (order: also their order). */
static bool text_exact(const bcol_t *c, const char *a, size_t an, const char *b, size_t bn,
                       bool order)
{
    switch (c->coll) {
    case C_BYTES:
        return true;
    case C_BIN:
        return !order || c->utf8 || (is_ascii(a, an) && is_ascii(b, bn));
    case C_CI_SIMPLE:
        return is_ascii(a, an) && is_ascii(b, bn);
    case C_CI_UCA:
        return !order && printable(a, an) && printable(b, bn);
    default:
        return false;
    }
}

static int text_cmp(const bcol_t *c, const char *a, size_t an, const char *b, size_t bn)
{
    return unit_cmp(a, an, b, bn, c->coll == C_CI_SIMPLE || c->coll == C_CI_UCA, c->pad);
}

/* Compares v with literal l for node n: -1, 0, 1, or CMP_ASK when C cannot tell exactly. */
#define CMP_ASK 99
static int value_cmp(const node_t *n, const bcol_t *c, const ferry_value_t *v, const lit_t *l,
                     bool order)
{
    if (is_number_type(c->type))
        return num_cmp(n, c, v, l);
    if (is_civil_type(c->type))
        return civil_cmp(c->type, &v->v.dt, &l->dt);
    if (c->type == FERRY_TYPE_TIME)
        return v->v.i < l->time ? -1 : v->v.i > l->time;
    if (!text_exact(c, v->v.s.ptr, v->v.s.len, l->text, l->len, order))
        return CMP_ASK;
    return text_cmp(c, v->v.s.ptr, v->v.s.len, l->text, l->len);
}

static int tv(bool b)
{
    return b ? R_TRUE : R_FALSE;
}

static int tv_not(int r)
{
    return r == R_TRUE ? R_FALSE : r == R_FALSE ? R_TRUE : r;
}

static int tv_and(int a, int b)
{
    return a == R_FALSE || b == R_FALSE ? R_FALSE : a == R_NULL || b == R_NULL ? R_NULL : R_TRUE;
}

/* LIKE in C: '_' one character (one byte for binary strings), '%' any run. */
static bool like_match(const bcol_t *c, const char *s, size_t sn, const pat_t *pat, size_t np)
{
    bool bytes = c->coll == C_BYTES, folded = c->coll == C_CI_SIMPLE || c->coll == C_CI_UCA;
    size_t si = 0, pi = 0, star_pi = SIZE_MAX, star_si = 0;
    while (si < sn) {
        size_t k = bytes ? 1 : char_len(s + si, sn - si);
        if (pi < np && pat[pi].kind == P_ANY) {
            star_pi = pi++;
            star_si = si;
            continue;
        }
        if (pi < np &&
            (pat[pi].kind == P_ONE ||
             (k == pat[pi].len && unit_cmp(s + si, k, pat[pi].s, k, folded, false) == 0))) {
            si += k;
            pi++;
            continue;
        }
        if (star_pi == SIZE_MAX)
            return false;
        pi = star_pi + 1;
        star_si += bytes ? 1 : char_len(s + star_si, sn - star_si);
        si = star_si;
    }
    while (pi < np && pat[pi].kind == P_ANY)
        pi++;
    return pi == np;
}

static bool like_exact(const bcol_t *c, const ferry_value_t *v, const node_t *n)
{
    if (c->coll == C_BYTES || c->coll == C_BIN)
        return true;
    if (c->coll != C_CI_SIMPLE && c->coll != C_CI_UCA)
        return false;
    bool (*ok)(const char *, size_t) = c->coll == C_CI_SIMPLE ? is_ascii : printable;
    return ok(v->v.s.ptr, v->v.s.len) && ok(n->lits[0].text, n->lits[0].len);
}

/* A predicate: R_TRUE, R_FALSE, R_NULL, or R_ASK. */
static int eval_predicate(const ferry_row_filter_t *f, const node_t *n, const ferry_row_t *row)
{
    const bcol_t *c = &f->bound[n->col];
    const ferry_value_t *v = &row->values[c->idx];
    int r, cmp;
    switch (n->kind) {
    case N_ISNULL:
        return tv(v->is_null != n->neg);
    case N_CMP: {
        const lit_t *l = &n->lits[0];
        if (n->op == OP_NSEQ && (v->is_null || l->kind == L_NULL))
            return tv(v->is_null && l->kind == L_NULL);
        if (v->is_null || l->kind == L_NULL)
            return R_NULL;
        bool order = n->op != OP_EQ && n->op != OP_NE && n->op != OP_NSEQ;
        if ((cmp = value_cmp(n, c, v, l, order)) == CMP_ASK)
            return R_ASK;
        switch (n->op) {
        case OP_EQ:
        case OP_NSEQ:
            return tv(cmp == 0);
        case OP_NE:
            return tv(cmp != 0);
        case OP_LT:
            return tv(cmp < 0);
        case OP_LE:
            return tv(cmp <= 0);
        case OP_GT:
            return tv(cmp > 0);
        default:
            return tv(cmp >= 0);
        }
    }
    case N_IN: {
        if (v->is_null)
            return R_NULL;
        bool any_null = false, found = false, ask = false;
        for (size_t i = 0; i < n->n_lits && !found; i++) {
            if (n->lits[i].kind == L_NULL) {
                any_null = true;
                continue;
            }
            cmp = value_cmp(n, c, v, &n->lits[i], false);
            ask |= cmp == CMP_ASK;
            found = cmp == 0;
        }
        if (!found && ask)
            return R_ASK;
        r = found ? R_TRUE : any_null ? R_NULL : R_FALSE;
        return n->neg ? tv_not(r) : r;
    }
    case N_BETWEEN: {
        if (v->is_null)
            return R_NULL;
        int side[2];
        for (int i = 0; i < 2; i++) {
            const lit_t *l = &n->lits[i];
            if (l->kind == L_NULL) {
                side[i] = R_NULL;
                continue;
            }
            if ((cmp = value_cmp(n, c, v, l, true)) == CMP_ASK)
                return R_ASK;
            side[i] = tv(i == 0 ? cmp >= 0 : cmp <= 0);
        }
        r = tv_and(side[0], side[1]);
        return n->neg ? tv_not(r) : r;
    }
    case N_LIKE:
        if (v->is_null || n->lits[0].kind == L_NULL)
            return R_NULL;
        if (!like_exact(c, v, n))
            return R_ASK;
        r = tv(like_match(c, v->v.s.ptr, v->v.s.len, n->pat, n->n_pat));
        return n->neg ? tv_not(r) : r;
    default:
        return R_NULL;
    }
}

typedef struct {
    const ferry_row_filter_t *f;
    const ferry_row_t *row;
    ferry_row_filter_ask_fn ask;
    void *arg;
    char *errstr;
    size_t errstr_size;
} eval_t;

/* Asks the server for the value of predicate n on the row. */
static int ask_server(eval_t *e, const node_t *n)
{
    const bcol_t *c = &e->f->bound[n->col];
    if (!e->ask)
        return ferry_err_set(e->errstr, e->errstr_size, FERRY_ERR_UNSUPPORTED,
                             "row filter %s: comparing column `%s` (collation %s) needs the "
                             "server, and none was given",
                             e->f->key, e->f->cols[n->col],
                             c->collation[0] ? c->collation : "unknown");
    ferry_strbuf_t sb = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&sb, "SELECT ");
    put_node(&sb, e->f, n, e->row);
    if (sb.oom) {
        ferry_strbuf_free(&sb);
        return ferry_err_set(e->errstr, e->errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    int result = -1;
    int rc = e->ask(e->arg, sb.buf, sb.len, &result, e->errstr, e->errstr_size);
    ferry_strbuf_free(&sb);
    if (rc != 0)
        return rc;
    return result > 0 ? R_TRUE : result == 0 ? R_FALSE : R_NULL;
}

static int eval(eval_t *e, const node_t *n)
{
    int a, b;
    switch (n->kind) {
    case N_OR:
        if ((a = eval(e, n->a)) < 0 || a == R_TRUE)
            return a;
        if ((b = eval(e, n->b)) < 0 || b == R_TRUE)
            return b;
        return a == R_NULL || b == R_NULL ? R_NULL : R_FALSE;
    case N_AND:
        if ((a = eval(e, n->a)) < 0 || a == R_FALSE)
            return a;
        if ((b = eval(e, n->b)) < 0)
            return b;
        return tv_and(a, b);
    case N_NOT:
        return (a = eval(e, n->a)) < 0 ? a : tv_not(a);
    default:
        a = eval_predicate(e->f, n, e->row);
        return a == R_ASK ? ask_server(e, n) : a;
    }
}

int ferry_row_filter_match(const ferry_row_filter_t *f, const ferry_row_t *row,
                           ferry_row_filter_ask_fn ask, void *arg, char *errstr, size_t errstr_size)
{
    if (!f->bound)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "row filter %s: not bound to a table", f->key);
    for (size_t i = 0; i < f->n_cols; i++)
        if ((size_t)f->bound[i].idx >= row->n)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "row filter %s: the row has %zu columns, not those it was "
                                 "bound to",
                                 f->key, row->n);
    eval_t e = {f, row, ask, arg, errstr, errstr_size};
    int r = eval(&e, f->root);
    return r < 0 ? r : r == R_TRUE;
}
