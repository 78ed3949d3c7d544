/*
 * registry.c - the schema store behind registry.h.
 *
 * Two caches hold everything a handle has learnt:
 *
 *   hdrs: (subject, schema text) -> wire header      producer side
 *   ids:  (schema id | fingerprint) -> schema text    consumer side
 *
 * Entries are only ever added, and freed together by ferry_registry_destroy(),
 * which is what lets schema_for() hand out pointers into them.
 *
 * Locking: `lock` guards the caches and is held only for lookups and inserts.
 * `io_lock` guards the network clients (the curl handle, the Kafka producer
 * and reader) and is held across a round trip. A miss takes io_lock, looks
 * again (another thread may have filled the entry meanwhile), does the round
 * trip and inserts under lock. The order is always io_lock, then lock.
 *
 * The registry's JSON bodies (small objects) are read and written with
 * jansson, ferry's JSON parser.
 */
#include "registry.h"
#include "clock.h"
#include "conf.h"
#include "kafka.h"
#include "strbuf.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "avro_canon.h"
#include "err.h"
#include "log.h"

#define DEFAULT_HTTP_TIMEOUT_MS         10000
#define DEFAULT_HTTP_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_KAFKA_TIMEOUT_MS        30000
#define MAX_RESPONSE_BYTES              ((size_t)16 << 20)
#define POLL_MS                         100
#define FP_HEX_LEN                      16

#define ID_KIND_SCHEMA_ID   1
#define ID_KIND_FINGERPRINT 2

/* ------------------------------------------------------------------ */
/* growable byte buffer                                                */

typedef struct {
    char *data; /* NUL-terminated when not NULL */
    size_t len;
    size_t cap;
} buf_t;

static int buf_reserve(buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return FERRY_ERR_NOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return FERRY_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int buf_append(buf_t *b, const void *data, size_t len)
{
    if (buf_reserve(b, len) != 0)
        return FERRY_ERR_NOMEM;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

static void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static void buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------ */
/* JSON: the registry's answers, read with jansson                     */

/*
 * Parses a registry answer that must be one JSON object. jansson refuses
 * \u0000 in strings unless asked otherwise, which keeps every string a C
 * string. Returns the object (the caller json_decref()s it) or NULL.
 */
static json_t *json_answer(const buf_t *resp)
{
    if (!resp->data)
        return NULL;
    json_t *root = json_loadb(resp->data, resp->len, 0, NULL);
    if (root && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Member key of obj when it is an integer (not a fraction). */
static bool json_member_int(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

/* ------------------------------------------------------------------ */
/* caches                                                              */

typedef struct node {
    struct node *next;
    uint64_t hash;
} node_t;

typedef struct {
    node_t **buckets;
    size_t nbuckets;
    size_t count;
} table_t;

/* (subject, schema text) -> header. key holds subject, NUL, schema, NUL. */
typedef struct {
    node_t node;
    size_t key_len;
    size_t hdr_len;
    uint8_t hdr[FERRY_WIRE_SOE_HDR_LEN];
    char key[];
} hdr_entry_t;

/* schema id or fingerprint -> schema text */
typedef struct {
    node_t node;
    uint64_t id;
    int kind;
    char text[];
} id_entry_t;

static uint64_t hash_bytes(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t hash_id(int kind, uint64_t id)
{
    uint64_t x = id + (uint64_t)kind * 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static node_t *table_chain(const table_t *t, uint64_t hash)
{
    return t->nbuckets ? t->buckets[hash & (t->nbuckets - 1)] : NULL;
}

static int table_insert(table_t *t, node_t *n)
{
    if (t->count + 1 > t->nbuckets) {
        size_t nb = t->nbuckets ? t->nbuckets * 2 : 64;
        node_t **b = calloc(nb, sizeof(*b));
        if (!b)
            return FERRY_ERR_NOMEM;
        for (size_t i = 0; i < t->nbuckets; i++) {
            for (node_t *e = t->buckets[i], *next; e; e = next) {
                next = e->next;
                e->next = b[e->hash & (nb - 1)];
                b[e->hash & (nb - 1)] = e;
            }
        }
        free(t->buckets);
        t->buckets = b;
        t->nbuckets = nb;
    }
    node_t **head = &t->buckets[n->hash & (t->nbuckets - 1)];
    n->next = *head;
    *head = n;
    t->count++;
    return 0;
}

static void table_free(table_t *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (node_t *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------------ */
/* the handle                                                          */

struct ferry_registry_s {
    char *project;
    char *schemas_topic;

    /* Confluent Schema Registry (url == NULL when not configured) */
    char *url; /* base URL without credentials and without a final '/' */
    char *user;
    char *password;
    long http_timeout_ms;
    long http_connect_timeout_ms;
    struct curl_slist *http_headers;
    CURL *curl; /* io_lock */

    /* Kafka topic store (nkafka_props == 0 when not configured) */
    char **kafka_props;
    size_t nkafka_props; /* number of strings, keys and values */
    int kafka_timeout_ms;
    rd_kafka_t *producer; /* io_lock */
    bool topic_checked;   /* io_lock */
    uintptr_t dr_seq;     /* io_lock: opaque of the message being waited for */
    bool dr_done;
    rd_kafka_resp_err_t dr_err;
    rd_kafka_t *reader;   /* io_lock */
    int64_t *next_offset; /* io_lock: per partition of the schemas topic */
    int32_t npartitions;

    pthread_mutex_t lock;    /* caches */
    pthread_mutex_t io_lock; /* clients; taken before lock */
    table_t hdrs;
    table_t ids;
};

static const char *id_lookup_locked(ferry_registry_t *r, int kind, uint64_t id)
{
    uint64_t h = hash_id(kind, id);
    for (node_t *n = table_chain(&r->ids, h); n; n = n->next) {
        id_entry_t *e = (id_entry_t *)n;
        if (n->hash == h && e->kind == kind && e->id == id)
            return e->text;
    }
    return NULL;
}

static const char *id_lookup(ferry_registry_t *r, int kind, uint64_t id)
{
    pthread_mutex_lock(&r->lock);
    const char *text = id_lookup_locked(r, kind, id);
    pthread_mutex_unlock(&r->lock);
    return text;
}

/* Adds id -> text unless the id is known; *stored gets the cached copy. */
static int id_insert(ferry_registry_t *r, int kind, uint64_t id, const char *text,
                     const char **stored)
{
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    const char *have = id_lookup_locked(r, kind, id);
    if (!have) {
        size_t len = strlen(text);
        id_entry_t *e = malloc(sizeof(*e) + len + 1);
        if (!e) {
            rc = FERRY_ERR_NOMEM;
        } else {
            e->node.hash = hash_id(kind, id);
            e->id = id;
            e->kind = kind;
            memcpy(e->text, text, len + 1);
            if ((rc = table_insert(&r->ids, &e->node)) != 0)
                free(e);
            else
                have = e->text;
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (stored)
        *stored = have;
    return rc;
}

static uint64_t hdr_hash(const char *subject, const char *schema)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = hash_bytes(h, subject, strlen(subject) + 1);
    return hash_bytes(h, schema, strlen(schema));
}

static bool hdr_lookup(ferry_registry_t *r, const char *subject, const char *schema, uint64_t h,
                       uint8_t *hdr, size_t *hdr_len)
{
    size_t slen = strlen(subject);
    bool found = false;
    pthread_mutex_lock(&r->lock);
    for (node_t *n = table_chain(&r->hdrs, h); n && !found; n = n->next) {
        hdr_entry_t *e = (hdr_entry_t *)n;
        if (n->hash == h && memcmp(e->key, subject, slen + 1) == 0 &&
            strcmp(e->key + slen + 1, schema) == 0) {
            memcpy(hdr, e->hdr, e->hdr_len);
            *hdr_len = e->hdr_len;
            found = true;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return found;
}

static int hdr_insert(ferry_registry_t *r, const char *subject, const char *schema, uint64_t h,
                      const uint8_t *hdr, size_t hdr_len)
{
    size_t slen = strlen(subject), tlen = strlen(schema);
    hdr_entry_t *e = malloc(sizeof(*e) + slen + tlen + 2);
    if (!e)
        return FERRY_ERR_NOMEM;
    e->node.hash = h;
    e->key_len = slen + tlen + 2;
    e->hdr_len = hdr_len;
    memcpy(e->hdr, hdr, hdr_len);
    memcpy(e->key, subject, slen + 1);
    memcpy(e->key + slen + 1, schema, tlen + 1);
    pthread_mutex_lock(&r->lock);
    int rc = table_insert(&r->hdrs, &e->node);
    pthread_mutex_unlock(&r->lock);
    if (rc != 0)
        free(e);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Confluent Schema Registry over HTTP                                 */

static char *percent_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && ferry_hex_digit(s[i + 1]) >= 0 &&
            ferry_hex_digit(s[i + 2]) >= 0) {
            *o++ = (char)(ferry_hex_digit(s[i + 1]) * 16 + ferry_hex_digit(s[i + 2]));
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/*
 * Splits the registry URL into a base without credentials (kept for requests
 * and messages) and the user and password it carries. The reason written on
 * failure never quotes the URL, which may hold a password.
 */
static int parse_registry_url(ferry_registry_t *r, const char *url, char *errstr,
                              size_t errstr_size)
{
    const char *sep = strstr(url, "://");
    if (!sep || !((sep - url == 4 && strncasecmp(url, "http", 4) == 0) ||
                  (sep - url == 5 && strncasecmp(url, "https", 5) == 0)))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "invalid schema registry URL: it must start with http:// or "
                             "https://");
    if (strpbrk(url, "?#"))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "invalid schema registry URL: a query or fragment is not allowed");
    if (strchr(url, ',') || strchr(url, ' '))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "invalid schema registry URL: give a single URL (a list of "
                             "registries is not supported)");
    const char *auth = sep + 3;
    const char *auth_end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth_end; p++)
        if (*p == '@')
            at = p;
    const char *host = at ? at + 1 : auth;
    if (host == auth_end)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "invalid schema registry URL: no host");
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        const char *uend = colon ? colon : at;
        r->user = percent_decode(auth, (size_t)(uend - auth));
        r->password = colon ? percent_decode(colon + 1, (size_t)(at - colon - 1)) : strdup("");
        if (!r->user || !r->password)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    size_t end = strlen(url);
    while (end > (size_t)(auth_end - url) && url[end - 1] == '/')
        end--;
    size_t scheme_len = (size_t)(sep + 3 - url), rest_len = (size_t)(url + end - host);
    r->url = malloc(scheme_len + rest_len + 1);
    if (!r->url)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    memcpy(r->url, url, scheme_len);
    memcpy(r->url + scheme_len, host, rest_len);
    r->url[scheme_len + rest_len] = '\0';
    return 0;
}

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *opaque)
{
    buf_t *b = opaque;
    size_t n = size * nmemb;
    if (b->len + n > MAX_RESPONSE_BYTES || buf_append(b, data, n) != 0)
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    return n;
}

/*
 * One request to the registry. Returns 0 when an HTTP answer came back (any
 * status; in *status, body in resp), or a negative code with curl's reason in
 * why. Called with io_lock held.
 */
static int http_call(ferry_registry_t *r, const char *path, const char *post_body, long *status,
                     buf_t *resp, char *why, size_t why_size)
{
    if (!r->curl && !(r->curl = curl_easy_init()))
        return ferry_err_set(why, why_size, FERRY_ERR_NOMEM, "could not create a curl handle");

    size_t ulen = strlen(r->url) + strlen(path) + 1;
    char *full = malloc(ulen);
    if (!full)
        return ferry_err_set(why, why_size, FERRY_ERR_NOMEM, "out of memory");
    snprintf(full, ulen, "%s%s", r->url, path);

    char cerr[CURL_ERROR_SIZE] = "";
    CURL *c = r->curl;
    curl_easy_reset(c); /* keeps live connections and caches */
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->http_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, r->http_connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->http_headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ferry/" FERRY_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    if (r->user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, r->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, r->password);
    }
    if (post_body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(post_body));
    }

    buf_reset(resp);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL); /* cerr goes out of scope */
    free(full);
    if (cc != CURLE_OK) {
        const char *reason = cerr[0] ? cerr : curl_easy_strerror(cc);
        int err;
        switch (cc) {
        case CURLE_OPERATION_TIMEDOUT:
            err = FERRY_ERR_TIMEOUT;
            break;
        case CURLE_WRITE_ERROR:
            err = FERRY_ERR_INVALID;
            reason = "response too large or out of memory";
            break;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
            err = FERRY_ERR_RETRIABLE;
            break;
        default:
            err = FERRY_ERR_FATAL;
        }
        return ferry_err_set(why, why_size, err, "%s", reason);
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/*
 * Describes a non-2xx answer: "HTTP 404: Schema not found (error code 40403)"
 * when the body is the registry's error object, else the status and a
 * printable cut of the body. Returns the matching ferry_err_t.
 */
static int http_failure(long status, const buf_t *resp, char *why, size_t why_size)
{
    int err;
    if (status == 401 || status == 403)
        err = FERRY_ERR_AUTH;
    else if (status == 404)
        err = FERRY_ERR_NOT_FOUND;
    else if (status == 408 || status == 429 || status >= 500)
        err = FERRY_ERR_RETRIABLE;
    else
        err = FERRY_ERR_INVALID;

    json_t *answer = json_answer(resp);
    const char *msg = json_string_value(json_object_get(answer, "message"));
    int64_t code = 0;
    if (msg) {
        if (json_member_int(answer, "error_code", &code))
            snprintf(why, why_size, "HTTP %ld: %s (error code %" PRId64 ")", status, msg, code);
        else
            snprintf(why, why_size, "HTTP %ld: %s", status, msg);
    } else {
        char cut[201];
        size_t n = 0;
        for (size_t i = 0; resp->data && i < resp->len && n < sizeof(cut) - 1; i++) {
            unsigned char ch = (unsigned char)resp->data[i];
            cut[n++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
        }
        while (n && cut[n - 1] == ' ')
            n--;
        cut[n] = '\0';
        snprintf(why, why_size, n ? "HTTP %ld: %s" : "HTTP %ld%s", status, cut);
    }
    json_decref(answer);
    return err;
}

static int confluent_register(ferry_registry_t *r, const char *subject, const char *schema,
                              uint32_t *id, char *errstr, size_t errstr_size)
{
    buf_t resp = {0}, path = {0};
    char why[512];
    long status = 0;
    int rc;

    /* '/' stays unescaped (jansson escapes it only when asked to) */
    json_t *req = json_pack("{s:s}", "schema", schema);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    char *esc = curl_easy_escape(NULL, subject, 0);
    if (!req && esc) {
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                           "could not register schema under subject \"%s\": the schema text is "
                           "not valid UTF-8",
                           subject);
        goto out;
    }
    if (!esc || !body || buf_append(&path, "/subjects/", 10) != 0 ||
        buf_append(&path, esc, strlen(esc)) != 0 || buf_append(&path, "/versions", 9) != 0) {
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = http_call(r, path.data, body, &status, &resp, why, sizeof(why));
    if (rc == 0 && (status < 200 || status > 299))
        rc = http_failure(status, &resp, why, sizeof(why));
    if (rc == 0) {
        int64_t v = -1;
        json_t *answer = json_answer(&resp);
        bool found = json_member_int(answer, "id", &v);
        json_decref(answer);
        if (!found || v < 0 || v > (int64_t)UINT32_MAX) {
            rc = FERRY_ERR_INVALID;
            snprintf(why, sizeof(why), "HTTP %ld with no schema id in the answer", status);
        } else {
            *id = (uint32_t)v;
        }
    }
    if (rc != 0)
        ferry_err_set(errstr, errstr_size, rc,
                      "could not register schema under subject \"%s\" at schema registry "
                      "\"%s\": %s",
                      subject, r->url, why);
out:
    curl_free(esc);
    free(body);
    buf_free(&resp);
    buf_free(&path);
    return rc;
}

/* Fetches schema id from the registry into *text (malloc'd buffer). */
static int confluent_fetch(ferry_registry_t *r, uint32_t id, buf_t *text, char *errstr,
                           size_t errstr_size)
{
    buf_t resp = {0};
    char why[512], path[48];
    long status = 0;

    snprintf(path, sizeof(path), "/schemas/ids/%" PRIu32, id);
    int rc = http_call(r, path, NULL, &status, &resp, why, sizeof(why));
    if (rc == 0 && (status < 200 || status > 299))
        rc = http_failure(status, &resp, why, sizeof(why));
    if (rc == 0) {
        json_t *answer = json_answer(&resp);
        const json_t *schema = json_object_get(answer, "schema");
        const char *type = json_string_value(json_object_get(answer, "schemaType"));
        if (!json_is_string(schema)) {
            rc = FERRY_ERR_INVALID;
            snprintf(why, sizeof(why), "HTTP %ld with no schema in the answer", status);
        } else if (type && strcmp(type, "AVRO") != 0) {
            rc = FERRY_ERR_UNSUPPORTED;
            snprintf(why, sizeof(why), "it is a %.40s schema, not an Avro one", type);
        } else {
            buf_reset(text);
            if (buf_append(text, json_string_value(schema), json_string_length(schema)) != 0) {
                rc = FERRY_ERR_NOMEM;
                snprintf(why, sizeof(why), "out of memory");
            }
        }
        json_decref(answer);
    }
    if (rc != 0)
        ferry_err_set(errstr, errstr_size, rc,
                      "could not fetch schema id %" PRIu32 " from schema registry \"%s\": %s", id,
                      r->url, why);
    buf_free(&resp);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Kafka topic store                                                   */

/* Properties from the shared Kafka configuration that would be wrong here. */
static bool kafka_prop_skipped(const char *key)
{
    return strcmp(key, "transactional.id") == 0 || strcmp(key, "group.id") == 0 ||
           strcmp(key, "group.instance.id") == 0;
}

/* Whether librdkafka's complaint about a value may quote a secret. */
static bool kafka_prop_secret(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, "jaas") ||
           strstr(key, "token") || strstr(key, ".pem") || strstr(key, "key");
}

static int kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                     size_t errstr_size)
{
    char why[512];
    rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, key, value, why, sizeof(why));
    if (res == RD_KAFKA_CONF_OK)
        return 0;
    if (res == RD_KAFKA_CONF_UNKNOWN)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "unknown kafka property \"%s\"", key);
    if (kafka_prop_secret(key))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "invalid value for kafka property \"%s\"", key);
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                         "invalid value for kafka property \"%s\": %s", key, why);
}

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* librdkafka's "errors" (a broker connection failed) are retried: a warning here */
    ferry_log_level_t lvl = level <= 4   ? FERRY_LOG_WARN
                            : level == 5 ? FERRY_LOG_INFO
                                         : FERRY_LOG_DEBUG;
    /*
     * The shared properties mix producer and consumer keys (CONFWARN), and
     * old brokers and the mock cluster cannot honour allow.auto.create.topics
     * (AUTOCREATE); neither is news to an operator.
     */
    if (strcmp(fac, "CONFWARN") == 0 || strcmp(fac, "AUTOCREATE") == 0)
        lvl = FERRY_LOG_DEBUG;
    char q[1024];
    ferry_log(lvl, "librdkafka", "module=registry fac=%s text=%s", fac,
              ferry_log_quote(buf, q, sizeof(q)));
}

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT)
        return; /* already logged by kafka_log_cb */
    char q[1024];
    ferry_log_warn("kafka client error", "module=registry err=%s reason=%s",
                   rd_kafka_err2name((rd_kafka_resp_err_t)err),
                   ferry_log_quote(reason, q, sizeof(q)));
}

/* Delivery reports are served by rd_kafka_flush() in the publishing thread. */
static void kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    ferry_registry_t *r = opaque;
    if ((uintptr_t)m->_private == r->dr_seq) {
        r->dr_done = true;
        r->dr_err = m->err;
    }
}

/*
 * Builds a client configuration: ferry's defaults, then the user's
 * properties, then the few settings the store depends on.
 */
static int kafka_conf(ferry_registry_t *r, rd_kafka_type_t type, rd_kafka_conf_t **out,
                      char *errstr, size_t errstr_size)
{
    char timeout[24], group[300];
    snprintf(timeout, sizeof(timeout), "%d", r->kafka_timeout_ms);
    snprintf(group, sizeof(group), "%s-reader", r->schemas_topic);
    const char *defaults_producer[] = {"client.id",          "ferry-registry", "linger.ms", "0",
                                       "message.timeout.ms", timeout,          NULL};
    const char *forced_producer[] = {
        "acks", "all", "enable.idempotence", "true", "allow.auto.create.topics", "false", NULL};
    const char *defaults_reader[] = {"client.id", "ferry-registry",    "fetch.wait.max.ms",
                                     "10",        "auto.offset.reset", "earliest",
                                     NULL};
    const char *forced_reader[] = {"group.id",
                                   group,
                                   "enable.auto.commit",
                                   "false",
                                   "enable.auto.offset.store",
                                   "false",
                                   "allow.auto.create.topics",
                                   "false",
                                   "enable.partition.eof",
                                   "true",
                                   NULL};
    const char **defaults = type == RD_KAFKA_PRODUCER ? defaults_producer : defaults_reader;
    const char **forced = type == RD_KAFKA_PRODUCER ? forced_producer : forced_reader;

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = 0;
    for (size_t i = 0; rc == 0 && defaults[i]; i += 2)
        rc = kafka_set(conf, defaults[i], defaults[i + 1], errstr, errstr_size);
    for (size_t i = 0; rc == 0 && i < r->nkafka_props; i += 2)
        if (!kafka_prop_skipped(r->kafka_props[i]))
            rc = kafka_set(conf, r->kafka_props[i], r->kafka_props[i + 1], errstr, errstr_size);
    for (size_t i = 0; rc == 0 && forced[i]; i += 2)
        rc = kafka_set(conf, forced[i], forced[i + 1], errstr, errstr_size);
    if (rc != 0) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_opaque(conf, r);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    if (type == RD_KAFKA_PRODUCER)
        rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr_cb);
    *out = conf;
    return 0;
}

static int kafka_client(ferry_registry_t *r, rd_kafka_type_t type, rd_kafka_t **out, char *errstr,
                        size_t errstr_size)
{
    rd_kafka_conf_t *conf;
    int rc = kafka_conf(r, type, &conf, errstr, errstr_size);
    if (rc != 0)
        return rc;
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not create kafka %s for topic \"%s\": %s",
                             type == RD_KAFKA_PRODUCER ? "producer" : "consumer", r->schemas_topic,
                             why);
    }
    *out = rk;
    return 0;
}

static int kafka_err_code(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return FERRY_ERR_TIMEOUT;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        return FERRY_ERR_AUTH;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return FERRY_ERR_INVALID;
    case RD_KAFKA_RESP_ERR__FATAL:
        return FERRY_ERR_FATAL;
    default:
        return FERRY_ERR_RETRIABLE;
    }
}

/* Asks the broker about the schemas topic: NO_ERROR when it exists. */
static rd_kafka_resp_err_t kafka_topic_state(ferry_registry_t *r, rd_kafka_t *rk,
                                             int32_t *npartitions)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, r->schemas_topic, NULL);
    if (!rkt)
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, r->kafka_timeout_ms);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = md->topic_cnt < 1 ? RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART : md->topics[0].err;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && npartitions)
            *npartitions = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return err;
}

/*
 * Creates the schemas topic (one partition, compacted) if it does not exist
 * yet, once per handle. The producer does not ask for auto-creation, which
 * would make an uncompacted topic. A broker that refuses is not an error
 * here: the produce that follows reports what is really wrong. (The 2.0.2
 * mock cluster names a controller that does not exist, so CreateTopics never
 * works there; it auto-creates topics on any metadata request instead, so
 * the first check finds the topic.)
 */
static void kafka_ensure_topic(ferry_registry_t *r)
{
    if (r->topic_checked)
        return;
    rd_kafka_resp_err_t state = kafka_topic_state(r, r->producer, NULL);
    if (state != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        /* exists, or the broker cannot say now: nothing to create */
        r->topic_checked = state == RD_KAFKA_RESP_ERR_NO_ERROR;
        return;
    }
    char why[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(r->schemas_topic, 1, -1, why, sizeof(why));
    if (!nt)
        return;
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(r->producer);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(r->producer, RD_KAFKA_ADMIN_OP_ANY);
    rd_kafka_AdminOptions_set_request_timeout(opts, r->kafka_timeout_ms, why, sizeof(why));
    rd_kafka_CreateTopics(r->producer, &nt, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, r->kafka_timeout_ms + 1000);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    const char *reason = "no answer";
    const rd_kafka_CreateTopics_result_t *res = ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
    if (ev && rd_kafka_event_error(ev)) {
        err = rd_kafka_event_error(ev);
        reason = rd_kafka_event_error_string(ev);
    } else if (res) {
        size_t n;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
        err = n ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        reason = n && rd_kafka_topic_result_error_string(tr[0])
                     ? rd_kafka_topic_result_error_string(tr[0])
                     : rd_kafka_err2str(err);
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        ferry_log_info("schemas topic created", "topic=%s cleanup.policy=compact",
                       r->schemas_topic);
    else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        char q2[512];
        ferry_log_warn("could not create schemas topic", "topic=%s err=%s reason=%s",
                       r->schemas_topic, rd_kafka_err2name(err),
                       ferry_log_quote(reason, q2, sizeof(q2)));
    }
    /* a timeout is worth another try on the next publish */
    r->topic_checked = err != RD_KAFKA_RESP_ERR__TIMED_OUT;
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
}

/*
 * Publishes schema under its fingerprint and waits for the delivery report,
 * so that nothing framed with the fingerprint can reach Kafka before the
 * schema does. Called with io_lock held.
 */
static int kafka_publish(ferry_registry_t *r, uint64_t fp, const char *schema, char *errstr,
                         size_t errstr_size)
{
    int rc;
    if (!r->producer &&
        (rc = kafka_client(r, RD_KAFKA_PRODUCER, &r->producer, errstr, errstr_size)) != 0)
        return rc;
    kafka_ensure_topic(r);

    char key[FP_HEX_LEN + 1];
    snprintf(key, sizeof(key), "%016" PRIx64, fp);
    r->dr_seq++;
    r->dr_done = false;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        r->producer, RD_KAFKA_V_TOPIC(r->schemas_topic), RD_KAFKA_V_KEY(key, FP_HEX_LEN),
        RD_KAFKA_V_VALUE((void *)schema, strlen(schema)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE((void *)r->dr_seq), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        int64_t deadline = ferry_mono_ms() + r->kafka_timeout_ms + 1000;
        while (!r->dr_done && ferry_mono_ms() < deadline)
            rd_kafka_flush(r->producer, POLL_MS);
        err = r->dr_done ? r->dr_err : RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ferry_log_info("schema published", "topic=%s fingerprint=%s", r->schemas_topic, key);
        return 0;
    }

    char why[512];
    snprintf(why, sizeof(why), "%s", rd_kafka_err2str(err));
    if (rd_kafka_fatal_error(r->producer, why, sizeof(why)) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        err == RD_KAFKA_RESP_ERR__FATAL) {
        /* an idempotent producer that hit a fatal error is done for; start over next time */
        rd_kafka_destroy(r->producer);
        r->producer = NULL;
        r->topic_checked = false;
        err = RD_KAFKA_RESP_ERR__FATAL;
    }
    return ferry_err_set(errstr, errstr_size, kafka_err_code(err),
                         "could not publish schema %s to topic \"%s\": %s", key, r->schemas_topic,
                         why);
}

static int parse_fp_hex(const void *key, size_t len, uint64_t *fp)
{
    const char *k = key;
    if (!k || len != FP_HEX_LEN)
        return FERRY_ERR_INVALID;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        int d = ferry_hex_digit(k[i]);
        if (d < 0)
            return FERRY_ERR_INVALID;
        v = v << 4 | (uint64_t)d;
    }
    *fp = v;
    return 0;
}

/*
 * Caches one record of the schemas topic. A record whose value does not
 * hash to its key is skipped with a warning rather than trusted.
 */
static int kafka_ingest(ferry_registry_t *r, const rd_kafka_message_t *m)
{
    uint64_t fp;
    if (!m->payload)
        return 0; /* tombstone */
    if (parse_fp_hex(m->key, m->key_len, &fp) != 0) {
        ferry_log_warn("ignoring record with a malformed key",
                       "topic=%s partition=%" PRId32 " offset=%" PRId64, r->schemas_topic,
                       m->partition, m->offset);
        return 0;
    }
    if (id_lookup(r, ID_KIND_FINGERPRINT, fp))
        return 0;
    char *text = strndup(m->payload, m->len);
    if (!text)
        return FERRY_ERR_NOMEM;
    char why[256];
    uint64_t actual = 0;
    int rc = ferry_avro_schema_fingerprint(text, &actual, why, sizeof(why));
    if (rc == 0 && actual == fp) {
        rc = id_insert(r, ID_KIND_FINGERPRINT, fp, text, NULL);
    } else {
        char q[300];
        ferry_log_warn("ignoring schema record that does not match its key",
                       "topic=%s partition=%" PRId32 " offset=%" PRId64 " fingerprint=%016" PRIx64
                       " reason=%s",
                       r->schemas_topic, m->partition, m->offset, fp,
                       ferry_log_quote(rc != 0 ? why : "fingerprint differs", q, sizeof(q)));
        rc = 0;
    }
    free(text);
    return rc;
}

/* Learns the partitions of the schemas topic; new ones are read from the start. */
static int kafka_partitions(ferry_registry_t *r, char *errstr, size_t errstr_size)
{
    int32_t n = 0;
    rd_kafka_resp_err_t err = kafka_topic_state(r, r->reader, &n);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOT_FOUND,
                             "topic \"%s\" does not exist", r->schemas_topic);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return ferry_err_set(errstr, errstr_size, kafka_err_code(err),
                             "could not read metadata of topic \"%s\": %s", r->schemas_topic,
                             rd_kafka_err2str(err));
    if (n > r->npartitions) {
        int64_t *offs = realloc(r->next_offset, sizeof(*offs) * (size_t)n);
        if (!offs)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        for (int32_t i = r->npartitions; i < n; i++)
            offs[i] = RD_KAFKA_OFFSET_BEGINNING;
        r->next_offset = offs;
        r->npartitions = n;
    }
    return 0;
}

/*
 * Reads every record of the schemas topic this handle has not read yet, up
 * to the high watermarks of the moment, caching them all. Called with
 * io_lock held.
 */
static int kafka_catch_up(ferry_registry_t *r, char *errstr, size_t errstr_size)
{
    int rc;
    if (!r->reader &&
        (rc = kafka_client(r, RD_KAFKA_CONSUMER, &r->reader, errstr, errstr_size)) != 0)
        return rc;
    if ((rc = kafka_partitions(r, errstr, errstr_size)) != 0)
        return rc;

    int64_t deadline = ferry_mono_ms() + r->kafka_timeout_ms;
    int64_t *high = calloc((size_t)r->npartitions, sizeof(*high));
    bool *waiting = calloc((size_t)r->npartitions, sizeof(*waiting));
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(r->npartitions);
    if (!high || !waiting || !parts) {
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    int pending = 0;
    for (int32_t p = 0; p < r->npartitions; p++) {
        int64_t lo, hi;
        int remaining = (int)(deadline - ferry_mono_ms());
        rd_kafka_resp_err_t err = ferry_kafka_watermarks(r->reader, r->schemas_topic, p,
                                                         remaining > 0 ? remaining : 1, &lo, &hi);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = ferry_err_set(errstr, errstr_size, kafka_err_code(err),
                               "could not read topic \"%s\" partition %" PRId32
                               ": watermark query failed: %s",
                               r->schemas_topic, p, rd_kafka_err2str(err));
            goto out;
        }
        high[p] = hi;
        int64_t pos = r->next_offset[p] < 0 ? lo : r->next_offset[p];
        if (pos < hi) {
            rd_kafka_topic_partition_list_add(parts, r->schemas_topic, p)->offset =
                r->next_offset[p];
            waiting[p] = true;
            pending++;
        }
    }
    if (pending == 0)
        goto out;

    rd_kafka_resp_err_t aerr = rd_kafka_assign(r->reader, parts);
    if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = ferry_err_set(errstr, errstr_size, kafka_err_code(aerr),
                           "could not read topic \"%s\": %s", r->schemas_topic,
                           rd_kafka_err2str(aerr));
        goto out;
    }
    while (pending > 0 && rc == 0) {
        int remaining = (int)(deadline - ferry_mono_ms());
        if (remaining <= 0) {
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_TIMEOUT,
                               "could not read topic \"%s\" up to its end within %d ms",
                               r->schemas_topic, r->kafka_timeout_ms);
            break;
        }
        rd_kafka_message_t *m =
            rd_kafka_consumer_poll(r->reader, remaining < POLL_MS ? remaining : POLL_MS);
        if (!m)
            continue;
        int32_t p = m->partition;
        bool ours = m->rkt && strcmp(rd_kafka_topic_name(m->rkt), r->schemas_topic) == 0 &&
                    p >= 0 && p < r->npartitions;
        if (ours && m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            r->next_offset[p] = m->offset + 1;
            if ((rc = kafka_ingest(r, m)) != 0)
                ferry_err_set(errstr, errstr_size, rc, "out of memory");
        } else if (ours && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* the end offset: also steps over gaps left by compaction */
            if (m->offset > r->next_offset[p])
                r->next_offset[p] = m->offset;
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            char q[512];
            ferry_log_warn("error while reading schemas topic", "topic=%s err=%s reason=%s",
                           r->schemas_topic, rd_kafka_err2name(m->err),
                           ferry_log_quote(rd_kafka_message_errstr(m), q, sizeof(q)));
        }
        if (ours && waiting[p] && r->next_offset[p] >= high[p]) {
            waiting[p] = false;
            pending--;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(r->reader, NULL); /* no fetching between look-ups */
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    free(high);
    free(waiting);
    return rc;
}

/* ------------------------------------------------------------------ */
/* public API                                                          */

static int copy_kafka_props(ferry_registry_t *r, const char *const *props, char *errstr,
                            size_t errstr_size)
{
    size_t n = 0;
    while (props[n])
        n++;
    if (n % 2 != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "kafka property \"%s\" has no value", props[n - 1]);
    r->kafka_props = calloc(n ? n : 1, sizeof(char *));
    if (!r->kafka_props)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!(r->kafka_props[i] = strdup(props[i])))
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        r->nkafka_props = i + 1;
    }
    /* refuse unknown keys and bad values now rather than at the first message */
    rd_kafka_conf_t *conf;
    int rc = kafka_conf(r, RD_KAFKA_PRODUCER, &conf, errstr, errstr_size);
    if (rc == 0)
        rd_kafka_conf_destroy(conf);
    return rc;
}

ferry_registry_t *ferry_registry_new(const ferry_registry_conf_t *conf, char *errstr,
                                     size_t errstr_size)
{
    if (!conf || !conf->project || !conf->project[0]) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                      "could not create schema store: no project name");
        return NULL;
    }
    bool use_url = conf->registry_url && conf->registry_url[0];
    if (!use_url && !conf->kafka_props) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                      "could not create schema store: neither a schema registry URL nor kafka "
                      "properties were given");
        return NULL;
    }
    ferry_registry_t *r = calloc(1, sizeof(*r));
    if (!r) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->io_lock, NULL);
    r->http_timeout_ms =
        conf->http_timeout_ms > 0 ? conf->http_timeout_ms : DEFAULT_HTTP_TIMEOUT_MS;
    r->http_connect_timeout_ms = conf->http_connect_timeout_ms > 0
                                     ? conf->http_connect_timeout_ms
                                     : DEFAULT_HTTP_CONNECT_TIMEOUT_MS;
    r->kafka_timeout_ms =
        conf->kafka_timeout_ms > 0 ? conf->kafka_timeout_ms : DEFAULT_KAFKA_TIMEOUT_MS;

    size_t tlen = strlen(conf->project) + sizeof("ferry..schemas");
    r->project = strdup(conf->project);
    r->schemas_topic = malloc(tlen);
    if (!r->project || !r->schemas_topic) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(r->schemas_topic, tlen, "ferry.%s.schemas", conf->project);

    if (use_url) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL, "could not initialise libcurl");
            goto fail;
        }
        if (parse_registry_url(r, conf->registry_url, errstr, errstr_size) != 0) {
            curl_global_cleanup();
            goto fail;
        }
        if (conf->registry_user && conf->registry_user[0]) {
            free(r->user);
            free(r->password);
            r->user = strdup(conf->registry_user);
            r->password = strdup(conf->registry_password ? conf->registry_password : "");
            if (!r->user || !r->password) {
                ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
                goto fail;
            }
        }
        struct curl_slist *h =
            curl_slist_append(NULL, "Content-Type: application/vnd.schemaregistry.v1+json");
        struct curl_slist *h2 =
            h ? curl_slist_append(h, "Accept: application/vnd.schemaregistry.v1+json, "
                                     "application/vnd.schemaregistry+json, application/json")
              : NULL;
        if (!h2) {
            curl_slist_free_all(h);
            ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
            goto fail;
        }
        r->http_headers = h2;
    }
    if (conf->kafka_props && copy_kafka_props(r, conf->kafka_props, errstr, errstr_size) != 0)
        goto fail;
    return r;

fail:
    ferry_registry_destroy(r);
    return NULL;
}

ferry_registry_t *ferry_registry_from_conf(const ferry_conf_t *conf, char *errstr,
                                           size_t errstr_size)
{
    const char *url = ferry_conf_get(conf, "schema.registry.url");
    ferry_registry_conf_t rc = {
        .project = ferry_conf_get(conf, "project.name"),
        .registry_url = url && *url ? url : NULL,
        .registry_user = ferry_conf_get(conf, "schema.registry.user"),
        .registry_password = ferry_conf_get(conf, "schema.registry.password"),
        .kafka_props = ferry_conf_kafka_props(conf),
        .http_timeout_ms = (int)ferry_conf_get_int(conf, "connect.timeout.ms"),
    };
    return ferry_registry_new(&rc, errstr, errstr_size);
}

void ferry_registry_destroy(ferry_registry_t *r)
{
    if (!r)
        return;
    if (r->producer) {
        rd_kafka_flush(r->producer, r->kafka_timeout_ms);
        rd_kafka_destroy(r->producer);
    }
    if (r->reader) {
        rd_kafka_consumer_close(r->reader);
        rd_kafka_destroy(r->reader);
    }
    if (r->curl)
        curl_easy_cleanup(r->curl);
    curl_slist_free_all(r->http_headers);
    if (r->url)
        curl_global_cleanup();
    for (size_t i = 0; i < r->nkafka_props; i++)
        free(r->kafka_props[i]);
    free(r->kafka_props);
    free(r->next_offset);
    table_free(&r->hdrs);
    table_free(&r->ids);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->io_lock);
    free(r->project);
    free(r->schemas_topic);
    free(r->url);
    free(r->user);
    if (r->password) {
        memset(r->password, 0, strlen(r->password));
        free(r->password);
    }
    free(r);
}

int ferry_registry_header_for(ferry_registry_t *r, const char *topic, int is_key,
                              const char *schema_json, uint8_t *hdr, size_t *hdr_len, char *errstr,
                              size_t errstr_size)
{
    if (!r || !topic || !topic[0] || !schema_json || !hdr || !hdr_len)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not find schema header: missing argument");

    /* The topic store does not use subjects: one fingerprint per schema text. */
    char subject[512];
    if (r->url) {
        int n = snprintf(subject, sizeof(subject), "%s-%s", topic, is_key ? "key" : "value");
        if (n < 0 || (size_t)n >= sizeof(subject))
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "could not register schema for topic \"%.200s\": topic name is "
                                 "too long",
                                 topic);
    } else {
        subject[0] = '\0';
    }
    uint64_t h = hdr_hash(subject, schema_json);
    if (hdr_lookup(r, subject, schema_json, h, hdr, hdr_len))
        return 0;

    uint64_t fp = 0;
    if (!r->url) {
        /* pure computation, so done before queueing behind other threads' I/O */
        char why[256];
        int rc = ferry_avro_schema_fingerprint(schema_json, &fp, why, sizeof(why));
        if (rc != 0)
            return ferry_err_set(errstr, errstr_size, rc,
                                 "could not fingerprint schema for topic \"%s\": %s", topic, why);
    }

    pthread_mutex_lock(&r->io_lock);
    int rc = 0;
    if (hdr_lookup(r, subject, schema_json, h, hdr, hdr_len))
        goto out;
    uint8_t out[FERRY_WIRE_SOE_HDR_LEN];
    size_t out_len;
    if (r->url) {
        uint32_t id = 0;
        if ((rc = confluent_register(r, subject, schema_json, &id, errstr, errstr_size)) != 0)
            goto out;
        ferry_log_info("schema registered", "registry=%s subject=%s id=%" PRIu32, r->url, subject,
                       id);
        out_len = ferry_wire_put_confluent(out, id);
        rc = id_insert(r, ID_KIND_SCHEMA_ID, id, schema_json, NULL);
    } else {
        /* a schema already read from the topic is durable there: no need to publish it */
        if (!id_lookup(r, ID_KIND_FINGERPRINT, fp) &&
            (rc = kafka_publish(r, fp, schema_json, errstr, errstr_size)) != 0)
            goto out;
        out_len = ferry_wire_put_single_object(out, fp);
        rc = id_insert(r, ID_KIND_FINGERPRINT, fp, schema_json, NULL);
    }
    if (rc == 0)
        rc = hdr_insert(r, subject, schema_json, h, out, out_len);
    if (rc != 0) {
        ferry_err_set(errstr, errstr_size, rc, "out of memory");
        goto out;
    }
    memcpy(hdr, out, out_len);
    *hdr_len = out_len;
out:
    pthread_mutex_unlock(&r->io_lock);
    return rc;
}

static int schema_for_id(ferry_registry_t *r, uint32_t id, const char **schema_json, char *errstr,
                         size_t errstr_size)
{
    if (!r->url)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                             "could not resolve schema id %" PRIu32
                             ": the message uses a schema registry id but no schema registry URL "
                             "is configured",
                             id);
    if ((*schema_json = id_lookup(r, ID_KIND_SCHEMA_ID, id)))
        return 0;
    pthread_mutex_lock(&r->io_lock);
    int rc = 0;
    if (!(*schema_json = id_lookup(r, ID_KIND_SCHEMA_ID, id))) {
        buf_t text = {0};
        rc = confluent_fetch(r, id, &text, errstr, errstr_size);
        if (rc == 0) {
            ferry_log_debug("schema fetched", "registry=%s id=%" PRIu32, r->url, id);
            rc = id_insert(r, ID_KIND_SCHEMA_ID, id, text.data, schema_json);
            if (rc != 0)
                ferry_err_set(errstr, errstr_size, rc, "out of memory");
        }
        buf_free(&text);
    }
    pthread_mutex_unlock(&r->io_lock);
    return rc;
}

static int schema_for_fingerprint(ferry_registry_t *r, uint64_t fp, const char **schema_json,
                                  char *errstr, size_t errstr_size)
{
    if ((*schema_json = id_lookup(r, ID_KIND_FINGERPRINT, fp)))
        return 0;
    if (r->nkafka_props == 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                             "could not resolve schema fingerprint %016" PRIx64
                             ": the message uses single-object encoding but no kafka properties "
                             "were given to read topic \"%s\"",
                             fp, r->schemas_topic);
    pthread_mutex_lock(&r->io_lock);
    int rc = 0;
    if (!(*schema_json = id_lookup(r, ID_KIND_FINGERPRINT, fp))) {
        char why[512];
        rc = kafka_catch_up(r, why, sizeof(why));
        if (rc == 0 && !(*schema_json = id_lookup(r, ID_KIND_FINGERPRINT, fp)))
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOT_FOUND,
                               "could not resolve schema fingerprint %016" PRIx64
                               ": not found in topic \"%s\"",
                               fp, r->schemas_topic);
        else if (rc != 0)
            ferry_err_set(errstr, errstr_size, rc,
                          "could not resolve schema fingerprint %016" PRIx64 ": %s", fp, why);
    }
    pthread_mutex_unlock(&r->io_lock);
    return rc;
}

int ferry_registry_schema_for(ferry_registry_t *r, const ferry_wire_info_t *info,
                              const char **schema_json, char *errstr, size_t errstr_size)
{
    if (!r || !info || !schema_json)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not resolve schema: missing argument");
    *schema_json = NULL;
    switch (info->format) {
    case FERRY_WIRE_CONFLUENT:
        return schema_for_id(r, info->schema_id, schema_json, errstr, errstr_size);
    case FERRY_WIRE_SINGLE_OBJECT:
        return schema_for_fingerprint(r, info->fingerprint, schema_json, errstr, errstr_size);
    }
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                         "could not resolve schema: unknown wire format %d", (int)info->format);
}
