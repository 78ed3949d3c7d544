/*
 * url.c - parsing and redacting database URLs (see url.h).
 */
#include "url.h"
#include "strbuf.h"

#include "err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *scheme;
    ferry_engine_t engine;
    int default_port;
} schemes[] = {
    {"mysql", FERRY_ENGINE_MYSQL, 3306},           {"mariadb", FERRY_ENGINE_MARIADB, 3306},
    {"oceanbase", FERRY_ENGINE_OCEANBASE, 2881},   {"tidb", FERRY_ENGINE_TIDB, 4000},
    {"postgresql", FERRY_ENGINE_POSTGRESQL, 5432}, {"postgres", FERRY_ENGINE_POSTGRESQL, 5432},
};

int ferry_engine_is_mysql_family(ferry_engine_t engine)
{
    return engine == FERRY_ENGINE_MYSQL || engine == FERRY_ENGINE_MARIADB ||
           engine == FERRY_ENGINE_OCEANBASE || engine == FERRY_ENGINE_TIDB;
}

const char *ferry_engine_name(ferry_engine_t engine)
{
    switch (engine) {
    case FERRY_ENGINE_MYSQL:
        return "mysql";
    case FERRY_ENGINE_MARIADB:
        return "mariadb";
    case FERRY_ENGINE_OCEANBASE:
        return "oceanbase";
    case FERRY_ENGINE_TIDB:
        return "tidb";
    case FERRY_ENGINE_POSTGRESQL:
        return "postgresql";
    }
    return "unknown";
}

/* Copies [s, s+n) with %XX sequences decoded; NULL on a bad escape. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int hi = i + 1 < n ? ferry_hex_digit((unsigned char)s[i + 1]) : -1;
        int lo = i + 2 < n ? ferry_hex_digit((unsigned char)s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

void ferry_url_free(ferry_url_t *url)
{
    if (!url)
        return;
    free(url->scheme);
    free(url->user);
    free(url->password);
    free(url->host);
    free(url->database);
    free(url->params);
    memset(url, 0, sizeof(*url));
}

int ferry_url_parse(const char *text, ferry_url_t *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    const char *sep = strstr(text, "://");
    if (!sep)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "not a database URL (expected scheme://user:password@host:port)");
    size_t slen = (size_t)(sep - text);
    int default_port = 0;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        if (strlen(schemes[i].scheme) == slen && strncasecmp(text, schemes[i].scheme, slen) == 0) {
            out->engine = schemes[i].engine;
            default_port = schemes[i].default_port;
        }
    }
    if (!out->engine)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "unknown database scheme \"%.*s\" (expected mysql, mariadb, "
                             "oceanbase, tidb or postgresql)",
                             (int)(slen > 32 ? 32 : slen), text);

    const char *rest = sep + 3;
    /* user info ends at the last '@', so '@', '/' and '?' may appear unencoded in passwords
     * (an '@' in the database name or parameters must then be written %40) */
    const char *at = strrchr(rest, '@');
    const char *end = (at ? at + 1 : rest) + strcspn(at ? at + 1 : rest, "/?");
    const char *hostpart = at ? at + 1 : rest;

    out->scheme = strndup(text, slen);
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        const char *uend = colon ? colon : at;
        out->user = pct_decode(rest, (size_t)(uend - rest));
        out->password = colon ? pct_decode(colon + 1, (size_t)(at - colon - 1)) : strdup("");
        if (!out->user || !out->password) {
            ferry_url_free(out);
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "bad percent-encoding in the user or password of the URL");
        }
    } else {
        out->user = strdup("");
        out->password = strdup("");
    }

    /* host, [v6]:port or host:port */
    const char *hend = end;
    const char *port_s = NULL;
    if (*hostpart == '[') {
        const char *rb = memchr(hostpart, ']', (size_t)(hend - hostpart));
        if (!rb) {
            ferry_url_free(out);
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "unterminated [ in the host of the URL");
        }
        out->host = strndup(hostpart + 1, (size_t)(rb - hostpart - 1));
        if (rb + 1 < hend && rb[1] == ':')
            port_s = rb + 2;
    } else {
        const char *colon = memchr(hostpart, ':', (size_t)(hend - hostpart));
        out->host = strndup(hostpart, (size_t)((colon ? colon : hend) - hostpart));
        if (colon)
            port_s = colon + 1;
    }
    if (!out->host || !*out->host) {
        ferry_url_free(out);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID, "the URL names no host");
    }
    out->port = default_port;
    if (port_s) {
        char *pe;
        long port = strtol(port_s, &pe, 10);
        if (pe != hend || pe == port_s || port < 1 || port > 65535) {
            int n = (int)(hend - port_s);
            ferry_url_free(out);
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "bad port \"%.*s\" in the URL (expected 1-65535)", n > 16 ? 16 : n,
                                 port_s);
        }
        out->port = (int)port;
    }

    const char *p = end;
    if (*p == '/') {
        size_t n = strcspn(p + 1, "?");
        out->database = pct_decode(p + 1, n);
        p += 1 + n;
    } else {
        out->database = strdup("");
    }
    out->params = strdup(*p == '?' ? p + 1 : "");
    if (!out->scheme || !out->database || !out->params) {
        ferry_url_free(out);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    return 0;
}

char *ferry_url_redacted(const ferry_url_t *url, char *buf, size_t buf_size)
{
    int v6 = strchr(url->host, ':') != NULL;
    snprintf(buf, buf_size, "%s://%s%s%s%s%s%s:%d%s%s%s%s", url->scheme, url->user,
             *url->password ? ":***" : "", *url->user || *url->password ? "@" : "", v6 ? "[" : "",
             url->host, v6 ? "]" : "", url->port, *url->database ? "/" : "", url->database,
             *url->params ? "?" : "", url->params);
    return buf;
}

char *ferry_url_redact_text(const char *text, char *buf, size_t buf_size)
{
    ferry_url_t u;
    if (ferry_url_parse(text, &u, NULL, 0) != 0) {
        snprintf(buf, buf_size, "<invalid url>");
        return buf;
    }
    ferry_url_redacted(&u, buf, buf_size);
    ferry_url_free(&u);
    return buf;
}
