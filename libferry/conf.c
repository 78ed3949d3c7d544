/*
 * conf.c - the project file's property table, parser and validator.
 *
 * The table below is the one place a key is declared. Adding a key means
 * adding a row here; `ferryctl --help-config` and docs/CONFIGURATION.md
 * (generated from it, and checked by a test) follow by themselves.
 */
#include "conf.h"

#include "strbuf.h"
#include "url.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int validate_table_patterns(const char *value, char *err, size_t err_size);
static int validate_db_renames(const char *value, char *err, size_t err_size);
static int validate_table_renames(const char *value, char *err, size_t err_size);
static int validate_fraction(const char *value, char *err, size_t err_size);

typedef int (*validate_fn)(const char *value, char *err, size_t err_size);

/* Extra per-key validators, kept out of the public row type. */
static const struct {
    const char *name;
    validate_fn fn;
} validators[] = {
    {"tables.include", validate_table_patterns},   {"tables.exclude", validate_table_patterns},
    {"rename.databases", validate_db_renames},     {"rename.tables", validate_table_renames},
    {"verify.float.tolerance", validate_fraction},
};

static const ferry_conf_prop_t props[] = {
    {"project.name", FERRY_CONF_T_NAME, NULL, 1, 0, 0, NULL,
     "Name of the migration project: letters, digits, '_' and '-'. Topics are named "
     "ferry.<project.name>.*, so two projects on one Kafka must differ here."},
    {"source.url", FERRY_CONF_T_URL, NULL, 1, 0, 0, NULL,
     "Database to migrate from: mysql://, mariadb://, oceanbase://, tidb:// or postgresql:// "
     "user:password@host:port. The password may be ${env:NAME}."},
    {"destination.url", FERRY_CONF_T_URL, NULL, 1, 0, 0, NULL,
     "Database to migrate to, in the same form as source.url."},
    {"kafka.bootstrap.servers", FERRY_CONF_T_STRING, NULL, 1, 0, 0, NULL,
     "Kafka brokers, host:port[,host:port...]. Every kafka.* key is passed to librdkafka "
     "without the \"kafka.\" prefix (TLS, SASL, tuning)."},
    {"schema.registry.url", FERRY_CONF_T_STRING, "", 0, 0, 0, NULL,
     "Confluent Schema Registry URL. Set: messages use the Confluent wire format. Empty: Avro "
     "single-object encoding with schemas kept in the ferry.<project>.schemas topic."},
    {"schema.registry.user", FERRY_CONF_T_STRING, "", 0, 0, 0, NULL,
     "User for HTTP basic authentication to the Schema Registry."},
    {"schema.registry.password", FERRY_CONF_T_STRING, "", 0, 0, 0, NULL,
     "Password for HTTP basic authentication to the Schema Registry (secret)."},
    {"tables.include", FERRY_CONF_T_LIST, "*.*", 0, 0, 0, NULL,
     "Tables to migrate: comma-separated db.table patterns; '*' matches any run of "
     "characters."},
    {"tables.exclude", FERRY_CONF_T_LIST, "", 0, 0, 0, NULL,
     "Tables to leave out, in the same form as tables.include; applied after it."},
    {"topics.partitions", FERRY_CONF_T_INT, "16", 0, 1, 100000, NULL,
     "Partitions of each data topic ferry creates. ferry-devkafka keeps at most 5 MB per "
     "partition, so more partitions hold more data in flight there."},
    {"topics.replication.factor", FERRY_CONF_T_INT, "1", 0, -1, 32, NULL,
     "Replication factor of the topics ferry creates (-1: the broker's default)."},
    {"http.bind", FERRY_CONF_T_STRING, "127.0.0.1", 0, 0, 0, NULL,
     "Address the services' HTTP endpoints listen on (0.0.0.0 for all)."},
    {"http.port", FERRY_CONF_T_INT, "0", 0, 0, 65535, NULL,
     "Port of the services' HTTP endpoints; 0 picks a free port, which the service logs and "
     "writes to runtime.dir. It applies to every service without a <service>.http.port: "
     "ferryctl up refuses a fixed port two of the processes it starts would share (one "
     "service per container can use the same one)."},
    {"producer.http.port", FERRY_CONF_T_INT, NULL, 0, 0, 65535, NULL,
     "Port of ferry-producer's HTTP endpoints; unset: http.port."},
    {"consumer.http.port", FERRY_CONF_T_INT, NULL, 0, 0, 65535, NULL,
     "Port of ferry-consumer's HTTP endpoints; unset: http.port."},
    {"verifier.http.port", FERRY_CONF_T_INT, NULL, 0, 0, 65535, NULL,
     "Port of ferry-verifier's HTTP endpoints; unset: http.port."},
    {"runtime.dir", FERRY_CONF_T_STRING, "", 0, 0, 0, NULL,
     "Directory where services write their HTTP address and ferryctl keeps logs; empty: "
     "/tmp/ferry-<project.name>."},
    {"log.level", FERRY_CONF_T_ENUM, "info", 0, 0, 0, "debug|info|warn|error",
     "Lowest level that is logged."},
    {"connect.timeout.ms", FERRY_CONF_T_INT, "10000", 0, 100, 600000, NULL,
     "How long a connection to a database, Kafka or the Schema Registry may take before it "
     "counts as failed."},
    {"fullload.threads", FERRY_CONF_T_INT, "2", 0, 1, 64, NULL,
     "Full-load worker threads in each process that copies chunks (ferry-producer and every "
     "ferry-worker); each has its own source connection and Kafka transaction."},
    {"fullload.chunk.rows", FERRY_CONF_T_INT, "10000", 0, 1, 100000000, NULL,
     "Rows per chunk the planner cuts each table into; a chunk is one SELECT, one Kafka "
     "transaction and one destination transaction, and is copied again whole after a crash."},
    {"fullload.chunk.bytes", FERRY_CONF_T_INT, "2097152", 0, 0, 1073741824, NULL,
     "Bytes of column values per chunk at most: a table whose rows are wide is cut into chunks "
     "of fewer than fullload.chunk.rows rows, by the average size of its first 50 rows, so "
     "that a chunk fits a Kafka partition (5 MB on ferry-devkafka), a worker's transaction and "
     "the consumer's memory; 0 = fullload.chunk.rows only."},
    {"fullload.max.unapplied.bytes", FERRY_CONF_T_INT, "33554432", 0, 0, 1099511627776, NULL,
     "With fullload.max.unapplied.rows on, a table's rows waiting in Kafka for the consumer are "
     "also held to this many bytes' worth (by the same average row size), so that wide rows "
     "stay within what the broker keeps. Chunk n of a table goes to partition (hash + n) mod "
     "topics.partitions, so on ferry-devkafka (5 MB per partition) keep it at most "
     "topics.partitions x fullload.chunk.bytes: each partition then holds about one chunk "
     "waiting, two at worst. 0 = rows only."},
    {"fullload.max.unapplied.rows", FERRY_CONF_T_INT, "200000", 0, 0, 1000000000, NULL,
     "Snapshot rows of a table that may wait in Kafka for the consumer (copied, not yet applied "
     "at the destination, as the consumer's group offsets show) before the planner hands out "
     "more of its chunks; 0 = no limit. A slow or stopped consumer then holds the copy back "
     "instead of letting ferry-devkafka (5 MB per partition) or a real broker's retention drop "
     "rows it has not read. Chunks already handed out (up to 16) are copied regardless. Set 0 "
     "when something other than ferry-consumer reads the snapshot topics."},
    {"fullload.in.producer", FERRY_CONF_T_BOOL, "true", 0, 0, 0, NULL,
     "Whether ferry-producer copies chunks itself; false leaves them to ferry-worker "
     "processes (fullload.workers)."},
    {"fullload.workers", FERRY_CONF_T_INT, "0", 0, 0, 64, NULL,
     "ferry-worker processes `ferryctl up` starts beside the producer. Workers on other "
     "machines join the same group when started there as ferry-worker <project file>."},
    {"apply.snapshot.threads", FERRY_CONF_T_INT, "4", 0, 1, 32, NULL,
     "Destination connections the consumer loads snapshot chunks on in parallel (one chunk "
     "per transaction each)."},
    {"apply.threads", FERRY_CONF_T_INT, "4", 0, 1, 64, NULL,
     "Destination connections the consumer applies change events on in parallel. Each batch is "
     "split by partition (a table with a unique key besides its row key, or with no key, stays "
     "on one connection), so the events of a key keep their order; each connection commits the "
     "offsets of its partitions with their rows. 1: one connection, as before."},
    {"rename.databases", FERRY_CONF_T_LIST, "", 0, 0, 0, NULL,
     "Databases renamed on the way: comma-separated src:dst pairs, e.g. shop:shop_v2. Applies "
     "to the schema, full and incremental data of every selected table in src."},
    {"rename.tables", FERRY_CONF_T_LIST, "", 0, 0, 0, NULL,
     "Tables renamed on the way: comma-separated src_db.table:dst_db.table pairs; wins over "
     "rename.databases for that table."},
    {"columns.include.*", FERRY_CONF_T_LIST, NULL, 0, 0, 0, NULL,
     "columns.include.<db>.<table> = c1, c2: migrate only these columns of that source table "
     "(the key columns must be among them). A key naming no table of the source, or a column "
     "the table lacks, is refused before the link first starts (a warning once it runs)."},
    {"columns.exclude.*", FERRY_CONF_T_LIST, NULL, 0, 0, 0, NULL,
     "columns.exclude.<db>.<table> = c1, c2: leave these columns of that source table out. A "
     "key naming no table of the source, or a column the table lacks, is refused before the "
     "link first starts (a warning once it runs)."},
    {"where.*", FERRY_CONF_T_STRING, NULL, 0, 0, 0, NULL,
     "where.<db>.<table> = SQL condition: migrate only the rows of that source table for which "
     "it holds, in the full load and in every later change (an update moving a row out of the "
     "condition deletes it at the destination, one moving a row in creates it). MySQL syntax, "
     "a subset ferry evaluates exactly as the server does: columns compared with literals (= <> "
     "!= < <= > >= <=>, IS [NOT] NULL, [NOT] IN, [NOT] BETWEEN, [NOT] LIKE [ESCAPE]), AND, OR, "
     "NOT (&& and the double-bar OR too), parentheses; no functions, arithmetic or "
     "column-to-column comparisons. "
     "TIMESTAMP literals are UTC. Anything else is refused at start, naming the key, and so is "
     "a key naming no table of the source before the link first starts."},
    {"source.server.id", FERRY_CONF_T_INT, "0", 0, 0, 4294967295LL, NULL,
     "Replica server id ferry presents when it reads the binlog; must differ from every server "
     "and replica of the source. 0: derived from project.name."},
    {"destination.keep.rows", FERRY_CONF_T_BOOL, "false", 0, 0, 0, NULL,
     "Allow destination tables that already hold rows (else the precheck refuses them)."},
    {"apply.on.error", FERRY_CONF_T_ENUM, "dlq", 0, 0, 0, "dlq|stop",
     "What the consumer does with an event the destination rejects: send it to the link's "
     "dead-letter topic and go on, or stop the link."},
    {"consumer.instances", FERRY_CONF_T_INT, "1", 0, 1, 32, NULL,
     "ferry-consumer processes `ferryctl up` starts; they share the link's tables (each table is "
     "applied by one of them at a time). With more than one they are named consumer-1, "
     "consumer-2, ... (address, pid and log files in runtime.dir; with a fixed "
     "consumer.http.port, consumer-n listens n - 1 above it)."},
    {"verify.threads", FERRY_CONF_T_INT, "2", 0, 1, 64, NULL,
     "Verifier workers; each holds one session on the source and one on the destination."},
    {"verify.chunk.target.ms", FERRY_CONF_T_INT, "500", 0, 10, 600000, NULL,
     "Time one chunk's checksum query should take; the verifier sizes chunks toward it."},
    {"verify.float.tolerance", FERRY_CONF_T_STRING, "1e-9", 0, 0, 0, NULL,
     "FLOAT and DOUBLE values a and b are equal when |a - b| <= tolerance * max(|a|, |b|) "
     "(a number from 0 to 1; 0: exactly equal)."},
    {"verify.checksum", FERRY_CONF_T_ENUM, "stream", 0, 0, 0, "stream|sql",
     "How a chunk's checksum is computed: stream (both sides send the chunk's canonical rows "
     "and the verifier hashes them to 64 bits each) or sql (COUNT and sums of CRC32 and CRC32C "
     "computed by the servers)."},
    {"verify.live", FERRY_CONF_T_BOOL, "false", 0, 0, 0, NULL,
     "The link is running: a difference is looked at again only after the consumer has applied "
     "every change the source had made, and reported only if it survives verify.rounds rounds "
     "(ferry-verifier --live sets it too)."},
    {"verify.rounds", FERRY_CONF_T_INT, "3", 0, 1, 100, NULL,
     "Live verification: rounds of re-checks a difference must survive to be reported."},
    {"verify.settle.timeout.ms", FERRY_CONF_T_INT, "120000", 0, 1000, 86400000, NULL,
     "Live verification: the longest wait, per round, for the consumer to apply what the source "
     "had written; keys still differing then are reported as still changing."},
    {"verify.rows.per.second", FERRY_CONF_T_INT, "0", 0, 0, INT64_MAX, NULL,
     "Cap on the source rows the verifier compares per second (0: no cap)."},
    {"verify.threads.running.max", FERRY_CONF_T_INT, "0", 0, 0, 100000, NULL,
     "Pause the verifier while the source's Threads_running status is above this (its own "
     "sessions included; 0: never pause)."},
};

#define N_PROPS (sizeof(props) / sizeof(props[0]))

typedef struct {
    char *key;
    char *value; /* NULL when the line's value was rejected: the key counts as given */
    int line;
} entry_t;

struct ferry_conf {
    char *path;
    entry_t *entries;
    size_t n_entries, cap_entries;
    char **problems;
    size_t n_problems, cap_problems;
    const char **kafka_props; /* alternating key, value, NULL-terminated */
};

static const char *const secret_suffixes[] = {
    "password",    "sasl.jaas.config",      "basic.auth.user.info",
    "ssl.key.pem", "ssl.keystore.password", "secret"};

int ferry_conf_is_secret_key(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof(secret_suffixes) / sizeof(secret_suffixes[0]); i++) {
        size_t m = strlen(secret_suffixes[i]);
        if (n >= m && strcmp(name + n - m, secret_suffixes[i]) == 0)
            return 1;
    }
    return 0;
}

/* A row whose name ends in ".*" declares a family: "where.*" covers "where.db.t". */
static int is_family(const ferry_conf_prop_t *p)
{
    size_t n = strlen(p->name);
    return n > 2 && strcmp(p->name + n - 2, ".*") == 0;
}

static const ferry_conf_prop_t *find_prop(const char *name)
{
    for (size_t i = 0; i < N_PROPS; i++)
        if (strcmp(props[i].name, name) == 0)
            return &props[i];
    return NULL;
}

/* The family row covering key ("where.shop.orders" -> "where.*"), or NULL. */
static const ferry_conf_prop_t *find_family(const char *key)
{
    for (size_t i = 0; i < N_PROPS; i++) {
        size_t n = strlen(props[i].name) - 1; /* keep the '.' */
        if (is_family(&props[i]) && strncmp(key, props[i].name, n) == 0 && key[n])
            return &props[i];
    }
    return NULL;
}

static void add_problem(ferry_conf_t *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_problem(ferry_conf_t *c, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    char full[1200];
    if (line > 0)
        snprintf(full, sizeof(full), "%s:%d: %s", c->path, line, msg);
    else
        snprintf(full, sizeof(full), "%s: %s", c->path, msg);
    if (c->n_problems == c->cap_problems) {
        size_t cap = c->cap_problems ? c->cap_problems * 2 : 8;
        char **p = realloc(c->problems, cap * sizeof(*p));
        if (!p)
            return;
        c->problems = p;
        c->cap_problems = cap;
    }
    char *copy = strdup(full);
    if (copy)
        c->problems[c->n_problems++] = copy;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Edit distance, for "did you mean" on unknown keys. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (up + 1 < best)
                best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *suggest(const char *key)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < N_PROPS; i++) {
        size_t d = edit_distance(key, props[i].name);
        if (d < best_d) {
            best_d = d;
            best = props[i].name;
        }
    }
    return best;
}

/*
 * Replaces each ${env:NAME} in value. Returns a malloc'd string, or NULL with
 * a problem recorded when a variable is unset or the syntax is broken.
 */
static char *substitute_env(ferry_conf_t *c, const char *key, const char *value, int line)
{
    ferry_strbuf_t out = FERRY_STRBUF_INIT;
    const char *p = value;
    ferry_strbuf_put(&out, "", 0);
    while (*p) {
        const char *start = strstr(p, "${env:");
        if (!start)
            start = p + strlen(p);
        ferry_strbuf_put(&out, p, (size_t)(start - p));
        if (!*start)
            break;
        const char *name = start + 6;
        const char *close = strchr(name, '}');
        char var[256];
        size_t vn = close ? (size_t)(close - name) : 0;
        if (vn == 0 || vn >= sizeof(var)) {
            add_problem(c, line,
                        "unterminated, empty or too long ${env:...} in the value of \"%s\"", key);
            goto fail;
        }
        memcpy(var, name, vn);
        var[vn] = '\0';
        const char *env = getenv(var);
        if (!env) {
            add_problem(c, line, "environment variable \"%s\" used by \"%s\" is not set", var, key);
            goto fail;
        }
        ferry_strbuf_puts(&out, env);
        p = close + 1;
    }
    if (!out.oom)
        return out.buf;
fail:
    ferry_strbuf_free(&out);
    return NULL;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int parse_int(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        return -1;
    *out = n;
    return 0;
}

static int validate_table_patterns(const char *value, char *err, size_t err_size)
{
    const char *p = value;
    while (*p) {
        size_t n = strcspn(p, ",");
        char item[512];
        if (n >= sizeof(item)) {
            snprintf(err, err_size, "a table pattern is longer than %zu characters",
                     sizeof(item) - 1);
            return -1;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        char *t = trim(item);
        if (*t && (!strchr(t, '.') || t[0] == '.' || t[strlen(t) - 1] == '.')) {
            snprintf(err, err_size, "table pattern \"%s\" is not of the form db.table", t);
            return -1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/*
 * Checks each comma-separated "src:dst" item; with qualified set, both sides
 * must be db.table.
 */
static int validate_renames(const char *value, int qualified, char *err, size_t err_size)
{
    const char *p = value;
    while (*p) {
        size_t n = strcspn(p, ",");
        char item[512];
        if (n >= sizeof(item)) {
            snprintf(err, err_size, "a rename is longer than %zu characters", sizeof(item) - 1);
            return -1;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        char *t = trim(item);
        if (*t) {
            char *colon = strchr(t, ':');
            const char *want = qualified ? "src_db.table:dst_db.table" : "src_db:dst_db";
            if (!colon || colon == t || !colon[1] || strchr(colon + 1, ':')) {
                snprintf(err, err_size, "rename \"%s\" is not of the form %s", t, want);
                return -1;
            }
            *colon = '\0';
            char *src = trim(t), *dst = trim(colon + 1);
            int src_dot = strchr(src, '.') != NULL, dst_dot = strchr(dst, '.') != NULL;
            if (!*src || !*dst || src_dot != qualified || dst_dot != qualified) {
                snprintf(err, err_size, "rename \"%s:%s\" is not of the form %s", src, dst, want);
                return -1;
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int validate_db_renames(const char *value, char *err, size_t err_size)
{
    return validate_renames(value, 0, err, err_size);
}

static int validate_table_renames(const char *value, char *err, size_t err_size)
{
    return validate_renames(value, 1, err, err_size);
}

/* Checks value against prop; records a problem and returns -1 when it is bad. */
static int validate(ferry_conf_t *c, const ferry_conf_prop_t *prop, const char *value, int line)
{
    int secret = ferry_conf_is_secret_key(prop->name);
    switch (prop->type) {
    case FERRY_CONF_T_INT: {
        int64_t n;
        if (parse_int(value, &n) != 0 || n < prop->min || n > prop->max) {
            add_problem(
                c, line, "invalid value for \"%s\": \"%s\" is not an integer from %lld to %lld",
                prop->name, secret ? "***" : value, (long long)prop->min, (long long)prop->max);
            return -1;
        }
        break;
    }
    case FERRY_CONF_T_BOOL: {
        int b;
        if (parse_bool(value, &b) != 0) {
            add_problem(c, line, "invalid value for \"%s\": \"%s\" is not true or false",
                        prop->name, value);
            return -1;
        }
        break;
    }
    case FERRY_CONF_T_ENUM: {
        size_t vn = strlen(value);
        const char *p = prop->enum_values;
        int ok = 0;
        while (*p && !ok) {
            size_t n = strcspn(p, "|");
            if (n == vn && strncmp(p, value, n) == 0)
                ok = 1;
            p += n;
            if (*p == '|')
                p++;
        }
        if (!ok) {
            add_problem(c, line, "invalid value for \"%s\": \"%s\" is not one of %s", prop->name,
                        value, prop->enum_values);
            return -1;
        }
        break;
    }
    case FERRY_CONF_T_URL: {
        ferry_url_t u;
        char err[256];
        if (ferry_url_parse(value, &u, err, sizeof(err)) != 0) {
            /* the value is not echoed: it may hold a password */
            add_problem(c, line, "invalid value for \"%s\": %s", prop->name, err);
            return -1;
        }
        ferry_url_free(&u);
        break;
    }
    case FERRY_CONF_T_NAME: {
        if (!*value ||
            strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "0123456789_-") != strlen(value) ||
            strlen(value) > 100) {
            add_problem(c, line,
                        "invalid value for \"%s\": \"%s\" must be 1-100 letters, digits, '_' "
                        "or '-'",
                        prop->name, value);
            return -1;
        }
        break;
    }
    case FERRY_CONF_T_STRING:
    case FERRY_CONF_T_LIST:
        break;
    }
    for (size_t i = 0; i < sizeof(validators) / sizeof(validators[0]); i++) {
        char err[512];
        if (strcmp(validators[i].name, prop->name) == 0 &&
            validators[i].fn(value, err, sizeof(err)) != 0) {
            add_problem(c, line, "invalid value for \"%s\": %s", prop->name, err);
            return -1;
        }
    }
    return 0;
}

static entry_t *find_entry(const ferry_conf_t *c, const char *key)
{
    for (size_t i = 0; i < c->n_entries; i++)
        if (strcmp(c->entries[i].key, key) == 0)
            return &c->entries[i];
    return NULL;
}

static void add_entry(ferry_conf_t *c, const char *key, char *value, int line)
{
    entry_t *old = find_entry(c, key);
    if (old) {
        add_problem(c, line, "key \"%s\" is set twice (first on line %d)", key, old->line);
        free(value);
        return;
    }
    if (c->n_entries == c->cap_entries) {
        size_t cap = c->cap_entries ? c->cap_entries * 2 : 16;
        entry_t *e = realloc(c->entries, cap * sizeof(*e));
        if (!e) {
            free(value);
            return;
        }
        c->entries = e;
        c->cap_entries = cap;
    }
    c->entries[c->n_entries].key = strdup(key);
    c->entries[c->n_entries].value = value;
    c->entries[c->n_entries].line = line;
    c->n_entries++;
}

static void parse_line(ferry_conf_t *c, char *raw, int line)
{
    char *s = trim(raw);
    if (!*s || *s == '#' || *s == '!')
        return;
    char *eq = strchr(s, '=');
    if (!eq) {
        add_problem(c, line, "expected key=value, found \"%.60s\"", s);
        return;
    }
    *eq = '\0';
    char *key = trim(s);
    char *value = trim(eq + 1);
    if (!*key) {
        add_problem(c, line, "a line has a value but no key");
        return;
    }

    const ferry_conf_prop_t *prop = find_prop(key);
    if (prop && is_family(prop))
        prop = NULL; /* "where.*" itself is not a key */
    if (!prop && (prop = find_family(key)) != NULL) {
        const char *suffix = key + strlen(prop->name) - 1;
        const char *dot = strchr(suffix, '.');
        if (!dot || dot == suffix || !dot[1]) {
            add_problem(c, line, "key \"%s\" must name a table: %.*s<db>.<table>", key,
                        (int)(strlen(prop->name) - 1), prop->name);
            return;
        }
    }
    int passthrough = !prop && strncmp(key, "kafka.", 6) == 0 && key[6];
    if (!prop && !passthrough) {
        const char *hint = suggest(key);
        if (hint)
            add_problem(c, line, "unknown key \"%s\" (did you mean \"%s\"?)", key, hint);
        else
            add_problem(c, line, "unknown key \"%s\"", key);
        return;
    }
    char *v = substitute_env(c, key, value, line);
    if (v && prop && validate(c, prop, v, line) != 0) {
        free(v);
        v = NULL;
    }
    /* a rejected value is recorded as NULL, so it is not also reported as missing */
    add_entry(c, key, v, line);
}

static void build_kafka_props(ferry_conf_t *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_entries; i++)
        if (strncmp(c->entries[i].key, "kafka.", 6) == 0 && c->entries[i].value)
            n++;
    c->kafka_props = calloc(2 * n + 1, sizeof(char *));
    if (!c->kafka_props)
        return;
    size_t k = 0;
    for (size_t i = 0; i < c->n_entries; i++) {
        if (strncmp(c->entries[i].key, "kafka.", 6) == 0 && c->entries[i].value) {
            c->kafka_props[k++] = c->entries[i].key + 6;
            c->kafka_props[k++] = c->entries[i].value;
        }
    }
}

ferry_conf_t *ferry_conf_load_string(const char *text, const char *path)
{
    ferry_conf_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->path = strdup(path ? path : "<string>");
    char *copy = strdup(text);
    if (!c->path || !copy) {
        free(copy);
        ferry_conf_destroy(c);
        return NULL;
    }
    int line = 0;
    /* strtok would merge empty lines and lose the numbering: split by hand */
    char *p = copy;
    while (p) {
        line++;
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        size_t len = strlen(p);
        if (len && p[len - 1] == '\r')
            p[len - 1] = '\0';
        parse_line(c, p, line);
        p = nl ? nl + 1 : NULL;
    }
    free(copy);

    for (size_t i = 0; i < N_PROPS; i++)
        if (props[i].required && !find_entry(c, props[i].name))
            add_problem(c, 0, "missing required key \"%s\"", props[i].name);
    build_kafka_props(c);
    return c;
}

ferry_conf_t *ferry_conf_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ferry_conf_t *c = calloc(1, sizeof(*c));
        if (!c)
            return NULL;
        c->path = strdup(path);
        if (!c->path) {
            free(c);
            return NULL;
        }
        add_problem(c, 0, "could not open project file: %s", strerror(errno));
        build_kafka_props(c);
        return c;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (len + 1 < cap)
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[len] = '\0';
    ferry_conf_t *c;
    if (strlen(buf) != len) {
        c = ferry_conf_load_string("", path);
        if (c)
            add_problem(c, 0, "the project file contains a NUL byte: not a text file");
    } else {
        c = ferry_conf_load_string(buf, path);
    }
    free(buf);
    return c;
}

void ferry_conf_destroy(ferry_conf_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_entries; i++) {
        free(c->entries[i].key);
        free(c->entries[i].value);
    }
    for (size_t i = 0; i < c->n_problems; i++)
        free(c->problems[i]);
    free(c->entries);
    free(c->problems);
    free(c->kafka_props);
    free(c->path);
    free(c);
}

size_t ferry_conf_problem_count(const ferry_conf_t *c)
{
    return c->n_problems;
}

const char *ferry_conf_problem(const ferry_conf_t *c, size_t i)
{
    return i < c->n_problems ? c->problems[i] : NULL;
}

const char *ferry_conf_get_table(const ferry_conf_t *c, const char *family, const char *db,
                                 const char *table)
{
    char key[1024];
    snprintf(key, sizeof(key), "%s.%s.%s", family, db, table);
    if (!find_family(key)) {
        fprintf(stderr, "ferry: internal error: \"%s\" is not a declared key family\n", family);
        abort();
    }
    const entry_t *e = find_entry(c, key);
    return e ? e->value : NULL;
}

const char *ferry_conf_family_next(const ferry_conf_t *c, const char *family, size_t *pos)
{
    size_t n = strlen(family);
    while (*pos < c->n_entries) {
        const char *key = c->entries[(*pos)++].key;
        if (strncmp(key, family, n) == 0 && key[n] == '.' && key[n + 1])
            return key;
    }
    return NULL;
}

const char *ferry_conf_get(const ferry_conf_t *c, const char *name)
{
    const ferry_conf_prop_t *prop = find_prop(name);
    if (!prop) {
        fprintf(stderr, "ferry: internal error: configuration key \"%s\" is not declared\n", name);
        abort();
    }
    const entry_t *e = find_entry(c, name);
    return e && e->value ? e->value : prop->default_value;
}

int64_t ferry_conf_get_int(const ferry_conf_t *c, const char *name)
{
    const char *v = ferry_conf_get(c, name);
    int64_t n = 0;
    if (v)
        parse_int(v, &n);
    return n;
}

int ferry_conf_get_bool(const ferry_conf_t *c, const char *name)
{
    const char *v = ferry_conf_get(c, name);
    int b = 0;
    if (v)
        parse_bool(v, &b);
    return b;
}

const char *ferry_conf_get_display(const ferry_conf_t *c, const char *name, char *buf,
                                   size_t buf_size)
{
    const char *v = ferry_conf_get(c, name);
    if (!v)
        v = "";
    if (ferry_conf_is_secret_key(name))
        snprintf(buf, buf_size, "%s", *v ? "***" : "");
    else if (find_prop(name)->type == FERRY_CONF_T_URL)
        ferry_url_redact_text(v, buf, buf_size);
    else
        snprintf(buf, buf_size, "%s", v);
    return buf;
}

const char *ferry_conf_path(const ferry_conf_t *c)
{
    return c->path;
}

const char *const *ferry_conf_kafka_props(const ferry_conf_t *c)
{
    static const char *const empty[] = {NULL};
    return c->kafka_props ? c->kafka_props : empty;
}

const ferry_conf_prop_t *ferry_conf_props(size_t *count)
{
    *count = N_PROPS;
    return props;
}

int ferry_conf_http_port(const ferry_conf_t *c, const char *service)
{
    char key[64];
    snprintf(key, sizeof(key), "%s.http.port", service);
    const entry_t *e = find_prop(key) ? find_entry(c, key) : NULL;
    if (e && e->value)
        return (int)ferry_conf_get_int(c, key);
    return (int)ferry_conf_get_int(c, "http.port");
}

static const char *type_name(const ferry_conf_prop_t *p)
{
    switch (p->type) {
    case FERRY_CONF_T_STRING:
        return "string";
    case FERRY_CONF_T_INT:
        return "integer";
    case FERRY_CONF_T_BOOL:
        return "boolean";
    case FERRY_CONF_T_ENUM:
        return "enum";
    case FERRY_CONF_T_URL:
        return "database URL";
    case FERRY_CONF_T_LIST:
        return "list";
    case FERRY_CONF_T_NAME:
        return "name";
    }
    return "?";
}

static void range_text(const ferry_conf_prop_t *p, char *buf, size_t n)
{
    if (p->type == FERRY_CONF_T_INT)
        snprintf(buf, n, "%lld .. %lld", (long long)p->min, (long long)p->max);
    else if (p->type == FERRY_CONF_T_ENUM)
        snprintf(buf, n, "%s", p->enum_values);
    else
        buf[0] = '\0';
}

void ferry_conf_print_table(FILE *out, int markdown)
{
    char range[128];
    if (markdown) {
        fputs("# ferry configuration\n\n"
              "Generated by `ferryctl --help-config --markdown` from the property table in\n"
              "libferry/conf.c; do not edit by hand (a test checks that this file is current).\n\n"
              "A project file holds `key = value` lines; `#` starts a comment; `${env:NAME}`\n"
              "is replaced by the environment variable NAME (use it for passwords). Unknown\n"
              "keys, bad values and missing required keys are errors naming the key and line.\n"
              "Every `kafka.*` key is passed to librdkafka without the `kafka.` prefix.\n"
              "Keys ending in `password` (and other secrets) never appear in logs, errors or\n"
              "`/status`.\n\n"
              "| key | type | default | range | required | description |\n"
              "|---|---|---|---|---|---|\n",
              out);
        for (size_t i = 0; i < N_PROPS; i++) {
            const ferry_conf_prop_t *p = &props[i];
            range_text(p, range, sizeof(range));
            const char *def = p->default_value ? p->default_value : "";
            fprintf(out, "| `%s` | %s | %s%s%s | %s | %s | %s |\n", p->name, type_name(p),
                    *def ? "`" : "", def, *def ? "`" : "", range, p->required ? "yes" : "",
                    p->help);
        }
        fputs("| `kafka.*` | string |  |  |  | Passed to librdkafka as it is, without the "
              "prefix. |\n",
              out);
        return;
    }
    for (size_t i = 0; i < N_PROPS; i++) {
        const ferry_conf_prop_t *p = &props[i];
        range_text(p, range, sizeof(range));
        fprintf(out, "%s (%s%s%s%s%s%s%s)\n    %s\n\n", p->name, type_name(p),
                p->required ? ", required" : "", p->default_value ? ", default \"" : "",
                p->default_value ? p->default_value : "", p->default_value ? "\"" : "",
                *range ? (p->type == FERRY_CONF_T_INT ? ", range " : ", one of ") : "", range,
                p->help);
    }
    fputs("kafka.* (string)\n    Passed to librdkafka as it is, without the \"kafka.\" "
          "prefix.\n",
          out);
}

void ferry_conf_runtime_dir(const ferry_conf_t *c, char *buf, size_t buf_size)
{
    const char *dir = ferry_conf_get(c, "runtime.dir");
    if (dir && *dir)
        snprintf(buf, buf_size, "%s", dir);
    else
        snprintf(buf, buf_size, "/tmp/ferry-%s", ferry_conf_get(c, "project.name"));
}

uint32_t ferry_conf_replica_server_id(const ferry_conf_t *c)
{
    int64_t id = ferry_conf_get_int(c, "source.server.id");
    if (id > 0)
        return (uint32_t)id;
    uint32_t h = 2166136261u; /* FNV-1a of the project name */
    for (const char *p = ferry_conf_get(c, "project.name"); *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return 1000000000u + h % 1000000000u;
}

static int validate_fraction(const char *value, char *err, size_t err_size)
{
    char *end = NULL;
    errno = 0;
    double d = strtod(value, &end);
    if (errno || end == value || *end != '\0' || !(d >= 0 && d <= 1)) {
        snprintf(err, err_size, "\"%s\" is not a number from 0 to 1", value);
        return -1;
    }
    return 0;
}
