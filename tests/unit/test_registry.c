/*
 * test_registry.c - the schema store (registry.h) on both back-ends.
 *
 * Confluent: against tests/fake_registry, started here as a child process
 * with basic auth, its request counters (GET /stats) showing what the cache
 * saved. Kafka topic: against an in-process librdkafka mock cluster, with
 * one handle publishing and a fresh one, standing for a consumer that never
 * saw the schema, resolving it from the topic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "avro_canon.h"
#include "err.h"
#include "registry.h"
#include "wire.h"

#define REG_USER     "ferry"
#define REG_PASSWORD "s3cret-pw"
#define FIRST_ID     0x01020304u

/* Quotes, a backslash, '/', and characters inside and outside the BMP. */
static const char SCHEMA_A[] =
    "{\"type\":\"record\",\"name\":\"Row\",\"namespace\":\"ferry.t.fwd.shop.orders\","
    "\"doc\":\"na\xc3\xafve \xf0\x9f\x9a\x80 a/b \\\"q\\\" c:\\\\d\","
    "\"fields\":[{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"note\",\"type\":[\"null\","
    "\"string\"],\"default\":null}]}";
static const char SCHEMA_B[] = "{\"type\":\"record\",\"name\":\"Key\",\"fields\":[{\"name\":"
                               "\"id\",\"type\":\"long\"}]}";
static const char SCHEMA_C[] = "{\"type\":\"record\",\"name\":\"Later\",\"fields\":[{\"name\":"
                               "\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":"
                               "\"timestamp-micros\"}}]}";

/* ------------------------------------------------------------------ */
/* the fake registry as a child process                                */

static pid_t fake_pid;
static char fake_url[128];      /* http://127.0.0.1:port */
static char fake_hostport[128]; /* 127.0.0.1:port */
static char url_file[256];

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int start_fake(void **state)
{
    (void)state;
    const char *build = getenv("FERRY_BUILD");
    if (!build) {
        fprintf(stderr, "FERRY_BUILD is not set\n");
        return -1;
    }
    char prog[512], first[32];
    snprintf(prog, sizeof(prog), "%s/tests/fake_registry", build);
    snprintf(url_file, sizeof(url_file), "/tmp/ferry-test-registry-%d.url", (int)getpid());
    snprintf(first, sizeof(first), "%u", FIRST_ID);
    unlink(url_file);
    fake_pid = fork();
    if (fake_pid < 0)
        return -1;
    if (fake_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1);
        execl(prog, prog, "--url-file", url_file, "--user", REG_USER, "--password", REG_PASSWORD,
              "--first-id", first, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1000; i++) { /* at most 10 s */
        FILE *f = fopen(url_file, "r");
        if (f) {
            char *ok = fgets(fake_url, sizeof(fake_url), f);
            fclose(f);
            if (ok) {
                fake_url[strcspn(fake_url, "\n")] = '\0';
                snprintf(fake_hostport, sizeof(fake_hostport), "%s", fake_url + 7);
                return 0;
            }
        }
        if (waitpid(fake_pid, NULL, WNOHANG) == fake_pid) {
            fprintf(stderr, "fake_registry (%s) exited early\n", prog);
            fake_pid = 0;
            return -1;
        }
        sleep_ms(10);
    }
    fprintf(stderr, "fake_registry did not write %s\n", url_file);
    return -1;
}

static int stop_fake(void **state)
{
    (void)state;
    if (fake_pid > 0) {
        kill(fake_pid, SIGTERM);
        int i;
        for (i = 0; i < 500 && waitpid(fake_pid, NULL, WNOHANG) != fake_pid; i++)
            sleep_ms(10);
        if (i == 500) {
            kill(fake_pid, SIGKILL);
            waitpid(fake_pid, NULL, 0);
        }
        fake_pid = 0;
    }
    unlink(url_file);
    return 0;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *opaque)
{
    char *buf = opaque;
    size_t have = strlen(buf), n = size * nmemb;
    if (have + n >= 256)
        return 0;
    memcpy(buf + have, data, n);
    buf[have + n] = '\0';
    return n;
}

typedef struct {
    unsigned long requests, reg, fetch;
} stats_t;

static stats_t fake_stats(void)
{
    char body[256] = "", url[256];
    stats_t s = {0, 0, 0};
    snprintf(url, sizeof(url), "%s/stats", fake_url);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    assert_int_equal(sscanf(body, "{\"requests\":%lu,\"register\":%lu,\"fetch\":%lu}", &s.requests,
                            &s.reg, &s.fetch),
                     3);
    return s;
}

/*
 * A registry handle on the fake (the test fails without one); user/password
 * go in the URL when url_user is set.
 */
static ferry_registry_t *confluent_handle(const char *url_user, const char *url_password,
                                          const char *user, const char *password)
{
    char url[256], errstr[512] = "";
    if (url_user)
        snprintf(url, sizeof(url), "http://%s:%s@%s", url_user, url_password, fake_hostport);
    else
        snprintf(url, sizeof(url), "%s/", fake_url); /* a final '/' is tolerated */
    ferry_registry_conf_t conf = {
        .project = "t",
        .registry_url = url,
        .registry_user = user,
        .registry_password = password,
        .http_timeout_ms = 5000,
        .http_connect_timeout_ms = 2000,
    };
    ferry_registry_t *r = ferry_registry_new(&conf, errstr, sizeof(errstr));
    if (!r)
        fail_msg("no registry handle: %s", errstr);
    return r;
}

/* The wire header of schema under subject; the test fails, saying why, when there is none. */
static size_t must_header(ferry_registry_t *r, const char *subject, int is_key, const char *schema,
                          uint8_t *hdr)
{
    char errstr[512] = "";
    size_t hdr_len = 0;
    if (ferry_registry_header_for(r, subject, is_key, schema, hdr, &hdr_len, errstr,
                                  sizeof(errstr)) != 0)
        fail_msg("no header for \"%s\": %s", subject, errstr);
    return hdr_len;
}

/* The schema text info names; the test fails, saying why, when it cannot be resolved. */
static const char *must_resolve(ferry_registry_t *r, const ferry_wire_info_t *info)
{
    char errstr[512] = "";
    const char *text = NULL;
    if (ferry_registry_schema_for(r, info, &text, errstr, sizeof(errstr)) != 0)
        fail_msg("schema not resolved: %s", errstr);
    return text;
}

/* An error message must name everything in shown and nothing in hidden (NULL-terminated lists). */
static void error_names(const char *errstr, const char *const *shown, const char *const *hidden)
{
    print_message("error: %s\n", errstr);
    for (; shown && *shown; shown++)
        if (!strstr(errstr, *shown))
            fail_msg("error does not name \"%s\"", *shown);
    for (; hidden && *hidden; hidden++)
        if (strstr(errstr, *hidden))
            fail_msg("error shows \"%s\"", *hidden);
}

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ------------------------------------------------------------------ */
/* Confluent back-end                                                  */

static void confluent_register_caches(void **state)
{
    (void)state;
    ferry_registry_t *r = confluent_handle(REG_USER, REG_PASSWORD, NULL, NULL);
    stats_t before = fake_stats();

    uint8_t hdr[FERRY_WIRE_SOE_HDR_LEN];
    const char *subject = "ferry.t.fwd.shop.orders";
    assert_int_equal(must_header(r, subject, 0, SCHEMA_A, hdr), FERRY_WIRE_CONFLUENT_HDR_LEN);
    const uint8_t want[] = {0x00, 0x01, 0x02, 0x03, 0x04};
    assert_memory_equal(hdr, want, sizeof(want));
    assert_int_equal(fake_stats().reg, before.reg + 1);

    /* the same schema: from the cache under the same subject, registered again (same id) under
     * the key subject; another schema: the next id, big-endian */
    static const struct {
        int is_key;
        const char *schema;
        uint8_t last;
        unsigned long registrations;
    } steps[] = {{0, SCHEMA_A, 0x04, 1}, {1, SCHEMA_A, 0x04, 2}, {1, SCHEMA_B, 0x05, 3}};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        memset(hdr, 0xff, sizeof(hdr));
        must_header(r, subject, steps[i].is_key, steps[i].schema, hdr);
        const uint8_t want_i[] = {0x00, 0x01, 0x02, 0x03, steps[i].last};
        assert_memory_equal(hdr, want_i, sizeof(want_i));
        assert_int_equal(fake_stats().reg, before.reg + steps[i].registrations);
    }

    /* the producer's own schemas resolve without a fetch */
    ferry_wire_info_t info = {.format = FERRY_WIRE_CONFLUENT, .schema_id = FIRST_ID};
    stats_t mid = fake_stats();
    assert_string_equal(must_resolve(r, &info), SCHEMA_A);
    assert_int_equal(fake_stats().fetch, mid.fetch);
    ferry_registry_destroy(r);
}

static void confluent_fetch_by_id(void **state)
{
    (void)state;
    /* registers first, so that the test does not depend on the order of tests */
    ferry_registry_t *p = confluent_handle(NULL, NULL, REG_USER, REG_PASSWORD);
    uint8_t hdr[FERRY_WIRE_SOE_HDR_LEN];
    must_header(p, "x", 0, SCHEMA_A, hdr);
    ferry_registry_destroy(p);

    /* a consumer that never saw the schema; credentials as separate properties */
    ferry_registry_t *c = confluent_handle(NULL, NULL, REG_USER, REG_PASSWORD);
    ferry_wire_info_t info;
    uint8_t msg[FERRY_WIRE_CONFLUENT_HDR_LEN + 1];
    memcpy(msg, hdr, FERRY_WIRE_CONFLUENT_HDR_LEN);
    msg[FERRY_WIRE_CONFLUENT_HDR_LEN] = 0x02; /* a body byte */
    assert_int_equal(ferry_wire_parse(msg, sizeof(msg), &info), 0);

    stats_t before = fake_stats();
    const char *text = must_resolve(c, &info);
    /* the fake sent it back with \u escapes and surrogate pairs */
    assert_string_equal(text, SCHEMA_A);
    assert_int_equal(fake_stats().fetch, before.fetch + 1);

    assert_ptr_equal(must_resolve(c, &info), text);
    assert_int_equal(fake_stats().fetch, before.fetch + 1);
    ferry_registry_destroy(c);
}

static void confluent_unknown_id(void **state)
{
    (void)state;
    char errstr[512] = "";
    ferry_registry_t *c = confluent_handle(REG_USER, REG_PASSWORD, NULL, NULL);
    ferry_wire_info_t info = {.format = FERRY_WIRE_CONFLUENT, .schema_id = 987654};
    const char *text = (const char *)1;
    int rc = ferry_registry_schema_for(c, &info, &text, errstr, sizeof(errstr));
    assert_int_equal(rc, FERRY_ERR_NOT_FOUND);
    assert_null(text);
    error_names(errstr, NAMES("987654", fake_url, "404", "Schema not found"), NAMES(REG_PASSWORD));
    ferry_registry_destroy(c);
}

static void confluent_wrong_password(void **state)
{
    (void)state;
    char errstr[512] = "";
    uint8_t hdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t hdr_len;

    /* in the URL */
    ferry_registry_t *r = confluent_handle(REG_USER, "not-the-pw", NULL, NULL);
    int rc =
        ferry_registry_header_for(r, "orders", 0, SCHEMA_B, hdr, &hdr_len, errstr, sizeof(errstr));
    assert_int_equal(rc, FERRY_ERR_AUTH);
    error_names(errstr, NAMES(fake_url, "\"orders-value\"", "401"), NAMES("not-the-pw"));
    ferry_registry_destroy(r);

    /* as a property (overriding good ones in the URL) */
    r = confluent_handle(REG_USER, REG_PASSWORD, REG_USER, "hunter2");
    ferry_wire_info_t info = {.format = FERRY_WIRE_CONFLUENT, .schema_id = FIRST_ID};
    const char *text;
    rc = ferry_registry_schema_for(r, &info, &text, errstr, sizeof(errstr));
    assert_int_equal(rc, FERRY_ERR_AUTH);
    error_names(errstr, NAMES(fake_url), NAMES("hunter2", REG_PASSWORD));
    ferry_registry_destroy(r);
}

static void confluent_unreachable(void **state)
{
    (void)state;
    char errstr[512] = "";
    ferry_registry_conf_t conf = {
        .project = "t",
        .registry_url = "http://u:pw-never-shown@127.0.0.1:1",
        .http_timeout_ms = 3000,
        .http_connect_timeout_ms = 2000,
    };
    ferry_registry_t *r = ferry_registry_new(&conf, errstr, sizeof(errstr));
    assert_non_null(r);
    uint8_t hdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t hdr_len;
    int rc =
        ferry_registry_header_for(r, "orders", 1, SCHEMA_B, hdr, &hdr_len, errstr, sizeof(errstr));
    assert_true(rc == FERRY_ERR_RETRIABLE || rc == FERRY_ERR_TIMEOUT);
    error_names(errstr, NAMES("\"http://127.0.0.1:1\"", "\"orders-key\""), NAMES("pw-never-shown"));
    ferry_registry_destroy(r);
}

static void bad_configuration(void **state)
{
    (void)state;
    char errstr[512] = "";
    ferry_registry_conf_t conf = {.project = "t", .registry_url = "ftp://u:pw-x@host"};
    assert_null(ferry_registry_new(&conf, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "http://"));
    assert_null(strstr(errstr, "pw-x"));

    conf.registry_url = "http://a:1,http://b:2";
    assert_null(ferry_registry_new(&conf, errstr, sizeof(errstr)));

    conf.registry_url = NULL;
    assert_null(ferry_registry_new(&conf, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "neither"));

    const char *props[] = {"bootstrap.servers", "127.0.0.1:1", "no.such.property", "1", NULL};
    conf.kafka_props = props;
    assert_null(ferry_registry_new(&conf, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "\"no.such.property\""));

    const char *odd[] = {"bootstrap.servers", NULL};
    conf.kafka_props = odd;
    assert_null(ferry_registry_new(&conf, errstr, sizeof(errstr)));

    conf.project = NULL;
    assert_null(ferry_registry_new(&conf, errstr, sizeof(errstr)));
    ferry_registry_destroy(NULL);
}

static void wrong_store_for_message(void **state)
{
    (void)state;
    char errstr[512] = "";
    ferry_registry_conf_t conf = {.project = "t", .registry_url = "http://127.0.0.1:1"};
    ferry_registry_t *r = ferry_registry_new(&conf, errstr, sizeof(errstr));
    assert_non_null(r);
    ferry_wire_info_t soe = {.format = FERRY_WIRE_SINGLE_OBJECT, .fingerprint = 0xabcdefull};
    const char *text;
    assert_int_equal(ferry_registry_schema_for(r, &soe, &text, errstr, sizeof(errstr)),
                     FERRY_ERR_UNSUPPORTED);
    assert_non_null(strstr(errstr, "0000000000abcdef"));
    ferry_registry_destroy(r);

    const char *props[] = {"bootstrap.servers", "127.0.0.1:1", NULL};
    ferry_registry_conf_t kconf = {.project = "t", .kafka_props = props};
    r = ferry_registry_new(&kconf, errstr, sizeof(errstr));
    assert_non_null(r);
    ferry_wire_info_t conf_msg = {.format = FERRY_WIRE_CONFLUENT, .schema_id = 42};
    assert_int_equal(ferry_registry_schema_for(r, &conf_msg, &text, errstr, sizeof(errstr)),
                     FERRY_ERR_UNSUPPORTED);
    assert_non_null(strstr(errstr, "42"));
    ferry_registry_destroy(r);
}

typedef struct {
    ferry_registry_t *r;
    int rc;
    uint8_t hdr[FERRY_WIRE_SOE_HDR_LEN];
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    char errstr[256];
    size_t len;
    w->rc = ferry_registry_header_for(w->r, "concurrent", 0, SCHEMA_C, w->hdr, &len, errstr,
                                      sizeof(errstr));
    return NULL;
}

/* Threads missing on the same schema at once cause one registration. */
static void confluent_concurrent_misses(void **state)
{
    (void)state;
    ferry_registry_t *r = confluent_handle(REG_USER, REG_PASSWORD, NULL, NULL);
    stats_t before = fake_stats();
    worker_t w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i].r = r;
        assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].rc, 0);
        assert_memory_equal(w[i].hdr, w[0].hdr, FERRY_WIRE_CONFLUENT_HDR_LEN);
    }
    assert_int_equal(fake_stats().reg, before.reg + 1);
    ferry_registry_destroy(r);
}

/* ------------------------------------------------------------------ */
/* Kafka topic back-end                                                */

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static const char *bootstraps;

static int start_mock(void **state)
{
    (void)state;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!mock_rk) {
        fprintf(stderr, "could not create kafka handle: %s\n", errstr);
        return -1;
    }
    mock = rd_kafka_mock_cluster_new(mock_rk, 1);
    if (!mock)
        return -1;
    bootstraps = rd_kafka_mock_cluster_bootstraps(mock);
    return 0;
}

static int stop_mock(void **state)
{
    (void)state;
    if (mock)
        rd_kafka_mock_cluster_destroy(mock);
    if (mock_rk)
        rd_kafka_destroy(mock_rk);
    mock = NULL;
    mock_rk = NULL;
    return 0;
}

/* A handle on project's schemas topic in the mock cluster (the test fails without one). */
static ferry_registry_t *kafka_handle(const char *project)
{
    char errstr[512] = "";
    const char *props[] = {"bootstrap.servers", bootstraps, NULL};
    ferry_registry_conf_t conf = {
        .project = project, .kafka_props = props, .kafka_timeout_ms = 10000};
    ferry_registry_t *r = ferry_registry_new(&conf, errstr, sizeof(errstr));
    if (!r)
        fail_msg("no registry handle: %s", errstr);
    return r;
}

static void kafka_publish_and_resolve(void **state)
{
    (void)state;
    char errstr[512] = "";
    ferry_registry_t *p = kafka_handle("t");

    const char *subject = "ferry.t.fwd.shop.orders";
    uint8_t hdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t hdr_len = must_header(p, subject, 0, SCHEMA_A, hdr);
    assert_int_equal(hdr_len, FERRY_WIRE_SOE_HDR_LEN);
    uint64_t fp;
    assert_int_equal(ferry_avro_schema_fingerprint(SCHEMA_A, &fp, errstr, sizeof(errstr)), 0);
    uint8_t want[FERRY_WIRE_SOE_HDR_LEN];
    ferry_wire_put_single_object(want, fp);
    assert_int_equal(hdr[0], 0xC3);
    assert_int_equal(hdr[1], 0x01);
    assert_memory_equal(hdr, want, sizeof(want));

    /* cached: same bytes again */
    uint8_t again[FERRY_WIRE_SOE_HDR_LEN];
    must_header(p, subject, 0, SCHEMA_A, again);
    assert_memory_equal(again, want, sizeof(want));

    /* a consumer that never saw the schema reads it from the topic */
    ferry_registry_t *c = kafka_handle("t");
    ferry_wire_info_t info;
    assert_int_equal(ferry_wire_parse(hdr, hdr_len, &info), 0);
    assert_string_equal(must_resolve(c, &info), SCHEMA_A);

    /* published after the consumer's first read: found by reading on */
    hdr_len = must_header(p, subject, 1, SCHEMA_B, hdr);
    assert_int_equal(ferry_wire_parse(hdr, hdr_len, &info), 0);
    assert_string_equal(must_resolve(c, &info), SCHEMA_B);

    /* a schema the consumer already read is not published again by it */
    must_header(c, subject, 0, SCHEMA_A, again);
    assert_memory_equal(again, want, sizeof(want));

    ferry_registry_destroy(c);
    ferry_registry_destroy(p);
}

static void kafka_unknown_fingerprint(void **state)
{
    (void)state;
    char errstr[512] = "";
    /* make sure the topic exists, so this is a miss and not a missing topic */
    ferry_registry_t *p = kafka_handle("t");
    uint8_t hdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t hdr_len = must_header(p, "x", 0, SCHEMA_C, hdr);
    ferry_registry_destroy(p);

    /* a miss on an existing topic, and on no topic at all */
    static const struct {
        const char *project, *topic;
    } stores[] = {{"t", "\"ferry.t.schemas\""}, {"nothere", "\"ferry.nothere.schemas\""}};
    for (size_t i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
        ferry_registry_t *c = kafka_handle(stores[i].project);
        ferry_wire_info_t info = {.format = FERRY_WIRE_SINGLE_OBJECT,
                                  .fingerprint = 0x0123456789abcdefull};
        const char *text = (const char *)1;
        int rc = ferry_registry_schema_for(c, &info, &text, errstr, sizeof(errstr));
        assert_int_equal(rc, FERRY_ERR_NOT_FOUND);
        assert_null(text);
        error_names(errstr, NAMES("0123456789abcdef", stores[i].topic), NULL);
        if (i == 0) {
            /* a known one still resolves on the same handle after the miss */
            assert_int_equal(ferry_wire_parse(hdr, hdr_len, &info), 0);
            assert_string_equal(must_resolve(c, &info), SCHEMA_C);
        }
        ferry_registry_destroy(c);
    }
}

/* Writes one record to a topic of the mock cluster, as another writer would. */
static void produce_raw(const char *topic, const char *key, const char *value)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                       RD_KAFKA_V_KEY(key, strlen(key)),
                                       RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

/* Records written by someone else are used, but only if the value hashes to the key. */
static void kafka_foreign_records(void **state)
{
    (void)state;
    char errstr[512] = "", key[17];
    uint64_t fp;
    assert_int_equal(ferry_avro_schema_fingerprint(SCHEMA_B, &fp, errstr, sizeof(errstr)), 0);
    snprintf(key, sizeof(key), "%016" PRIx64, fp);
    produce_raw("ferry.t2.schemas", "00000000000000aa", SCHEMA_B); /* lies about its key */
    produce_raw("ferry.t2.schemas", "not-a-fingerprint", SCHEMA_B);
    produce_raw("ferry.t2.schemas", key, SCHEMA_B);

    ferry_registry_t *c = kafka_handle("t2");
    ferry_wire_info_t info = {.format = FERRY_WIRE_SINGLE_OBJECT, .fingerprint = fp};
    assert_string_equal(must_resolve(c, &info), SCHEMA_B);

    info.fingerprint = 0xaa;
    const char *text;
    int rc = ferry_registry_schema_for(c, &info, &text, errstr, sizeof(errstr));
    assert_int_equal(rc, FERRY_ERR_NOT_FOUND);
    error_names(errstr, NAMES("00000000000000aa"), NULL);
    ferry_registry_destroy(c);
}

/* No broker: both sides give up within the configured bound, naming the topic. */
static void kafka_unreachable(void **state)
{
    (void)state;
    char errstr[512] = "";
    const char *props[] = {"bootstrap.servers", "127.0.0.1:1", "sasl.password", "pw-kafka", NULL};
    ferry_registry_conf_t conf = {
        .project = "down", .kafka_props = props, .kafka_timeout_ms = 1000};
    ferry_registry_t *r = ferry_registry_new(&conf, errstr, sizeof(errstr));
    assert_non_null(r);
    uint8_t hdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t hdr_len;
    int rc =
        ferry_registry_header_for(r, "orders", 0, SCHEMA_B, hdr, &hdr_len, errstr, sizeof(errstr));
    assert_true(rc == FERRY_ERR_TIMEOUT || rc == FERRY_ERR_RETRIABLE);
    error_names(errstr, NAMES("\"ferry.down.schemas\""), NAMES("pw-kafka"));

    ferry_wire_info_t info = {.format = FERRY_WIRE_SINGLE_OBJECT, .fingerprint = 0xfeed};
    const char *text;
    rc = ferry_registry_schema_for(r, &info, &text, errstr, sizeof(errstr));
    assert_true(rc == FERRY_ERR_TIMEOUT || rc == FERRY_ERR_RETRIABLE);
    error_names(errstr, NAMES("000000000000feed", "\"ferry.down.schemas\""), NULL);
    ferry_registry_destroy(r);
}

static void kafka_invalid_schema(void **state)
{
    (void)state;
    char errstr[512] = "";
    ferry_registry_t *p = kafka_handle("t");
    uint8_t hdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t hdr_len;
    int rc = ferry_registry_header_for(p, "orders", 0, "{\"type\":", hdr, &hdr_len, errstr,
                                       sizeof(errstr));
    assert_true(rc < 0);
    error_names(errstr, NAMES("\"orders\""), NULL);
    ferry_registry_destroy(p);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest confluent[] = {
        cmocka_unit_test(confluent_register_caches), cmocka_unit_test(confluent_fetch_by_id),
        cmocka_unit_test(confluent_unknown_id),      cmocka_unit_test(confluent_wrong_password),
        cmocka_unit_test(confluent_unreachable),     cmocka_unit_test(confluent_concurrent_misses),
        cmocka_unit_test(bad_configuration),         cmocka_unit_test(wrong_store_for_message),
    };
    const struct CMUnitTest kafka[] = {
        cmocka_unit_test(kafka_publish_and_resolve), cmocka_unit_test(kafka_unknown_fingerprint),
        cmocka_unit_test(kafka_foreign_records),     cmocka_unit_test(kafka_unreachable),
        cmocka_unit_test(kafka_invalid_schema),
    };
    int failed = cmocka_run_group_tests_name("confluent", confluent, start_fake, stop_fake);
    failed += cmocka_run_group_tests_name("kafka", kafka, start_mock, stop_mock);
    curl_global_cleanup();
    return failed;
}
