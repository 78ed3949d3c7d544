/*
 * test_kafka.c - the Kafka wrappers (kafka.h) against librdkafka's in-process
 * mock cluster: real protocol, real librdkafka clients, no broker to install.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "kafka.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Kafka protocol ApiKey of Produce requests (not in the public headers). */
#define API_PRODUCE               0
#define API_END_TXN               26
#define API_ADD_PARTITIONS_TO_TXN 24

/* Runs a call that takes errstr and fails the test with the message if it fails. */
#define OK(call)                                                                                   \
    do {                                                                                           \
        int ok_rc_ = (call);                                                                       \
        if (ok_rc_)                                                                                \
            fail_msg("%s: %d: %s", #call, ok_rc_, errstr);                                         \
    } while (0)

/* Generous: a wait this long means the behaviour is wrong, not slow. */
#define DEADLINE_MS 30000

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static const char *props[3];
/*
 * Consumers use a short session: on the mock a member that joins after
 * another left waits for the group's session timeout, even after a clean
 * LeaveGroup (found by experiment: 9 s of a 10 s timeout). It cannot be
 * shorter than the mock's 3 s wait for a first join, or nobody ever joins.
 */
static const char *consumer_props[7];

static int cluster_up(void **state)
{
    (void)state;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!mock_rk)
        return -1;
    mock = rd_kafka_mock_cluster_new(mock_rk, 1);
    if (!mock)
        return -1;
    props[0] = "bootstrap.servers";
    props[1] = rd_kafka_mock_cluster_bootstraps(mock);
    props[2] = NULL;
    const char *quick[] = {"bootstrap.servers",
                           props[1],
                           "session.timeout.ms",
                           "4500",
                           "heartbeat.interval.ms",
                           "500",
                           NULL};
    memcpy(consumer_props, quick, sizeof(quick));
    return 0;
}

static int cluster_down(void **state)
{
    (void)state;
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
    return 0;
}

static void topic_new(const char *topic, int partitions)
{
    assert_int_equal(rd_kafka_mock_topic_create(mock, topic, partitions, 1), 0);
}

static ferry_kafka_producer_t *producer_new(const char *txn_id)
{
    ferry_kafka_producer_t *p = NULL;
    char errstr[512];
    int rc = ferry_kafka_producer_new(&p, props, txn_id, errstr, sizeof(errstr));
    if (rc)
        fail_msg("%s", errstr);
    if (txn_id && ferry_kafka_producer_init_transactions(p, DEADLINE_MS, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    return p;
}

static void produce_str(ferry_kafka_producer_t *p, const char *topic, int32_t partition,
                        const char *key, const char *value)
{
    ferry_kafka_record_t rec = {
        .topic = topic,
        .partition = partition,
        .key = key,
        .key_len = key ? strlen(key) : 0,
        .value = value,
        .value_len = strlen(value),
    };
    char errstr[512];
    if (ferry_kafka_produce(p, &rec, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
}

/* Fills buf with NUL-terminated letters that do not compress (xorshift from seed). */
static void random_letters(char *buf, size_t size, uint32_t seed)
{
    uint32_t x = seed;
    for (size_t i = 0; i + 1 < size; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (char)('a' + x % 26);
    }
    buf[size - 1] = '\0';
}

static ferry_kafka_consumer_t *consumer_new(const char *group)
{
    ferry_kafka_consumer_t *c = NULL;
    char errstr[512];
    if (ferry_kafka_consumer_new(&c, group, consumer_props, NULL, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    return c;
}

static ferry_kafka_consumer_t *consumer_at(const char *group, const char *topic, int32_t partition,
                                           int64_t offset)
{
    ferry_kafka_consumer_t *c = consumer_new(group);
    ferry_kafka_tp_t tp = {topic, partition, offset};
    char errstr[512];
    if (ferry_kafka_consumer_assign(c, &tp, 1, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    return c;
}

/* Polls until a message arrives; fails the test on an error or at the deadline. */
static ferry_kafka_msg_t *next_msg(ferry_kafka_consumer_t *c)
{
    char errstr[512];
    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        ferry_kafka_msg_t *m = NULL;
        int rc = ferry_kafka_consumer_poll(c, 100, &m, errstr, sizeof(errstr));
        if (rc == FERRY_ERR_RETRIABLE)
            continue;
        if (rc)
            fail_msg("poll: %s", errstr);
        if (m)
            return m;
    }
    fail_msg("no message within %d ms", DEADLINE_MS);
    return NULL;
}

/* Polls until poll returns an error other than a retriable one; returns it with errstr. */
static int next_error(ferry_kafka_consumer_t *c, char *errstr, size_t errstr_size)
{
    for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
        ferry_kafka_msg_t *m = NULL;
        int rc = ferry_kafka_consumer_poll(c, 100, &m, errstr, errstr_size);
        if (m)
            fail_msg("unexpected message at offset %lld", (long long)m->offset);
        if (rc && rc != FERRY_ERR_RETRIABLE)
            return rc;
    }
    fail_msg("no error within %d ms", DEADLINE_MS);
    return 0;
}

static int msg_is(const ferry_kafka_msg_t *m, const char *value)
{
    return m->value_len == strlen(value) && memcmp(m->value, value, m->value_len) == 0;
}

/* ---- tests ---------------------------------------------------------- */

static void classifies_errors(void **state)
{
    (void)state;
    assert_int_equal(ferry_kafka_err_class(RD_KAFKA_RESP_ERR_NO_ERROR), 0);
    assert_int_equal(ferry_kafka_err_class(RD_KAFKA_RESP_ERR__TRANSPORT), FERRY_ERR_RETRIABLE);
    assert_int_equal(ferry_kafka_err_class(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION),
                     FERRY_ERR_RETRIABLE);
    assert_int_equal(ferry_kafka_err_class(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT),
                     FERRY_ERR_RETRIABLE);
    assert_int_equal(ferry_kafka_err_class(RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE), FERRY_ERR_FATAL);
    assert_int_equal(ferry_kafka_err_class(RD_KAFKA_RESP_ERR_PRODUCER_FENCED), FERRY_ERR_FATAL);
    assert_int_equal(ferry_kafka_err_class(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED),
                     FERRY_ERR_FATAL);
    assert_int_equal(ferry_kafka_err_class(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), FERRY_ERR_FATAL);
}

static void rejects_bad_properties(void **state)
{
    (void)state;
    const char *bad[] = {"no.such.property", "1", NULL};
    const char *odd[] = {"bootstrap.servers", NULL};
    ferry_kafka_producer_t *p = (void *)1;
    ferry_kafka_consumer_t *c = (void *)1;
    char errstr[512];
    assert_int_equal(ferry_kafka_producer_new(&p, bad, NULL, errstr, sizeof(errstr)),
                     FERRY_ERR_INVALID);
    assert_null(p);
    assert_non_null(strstr(errstr, "could not set Kafka property \"no.such.property\""));
    assert_int_equal(ferry_kafka_consumer_new(&c, "g", odd, NULL, errstr, sizeof(errstr)),
                     FERRY_ERR_INVALID);
    assert_null(c);
    assert_non_null(strstr(errstr, "no value given"));
    /* destroying nothing is fine */
    ferry_kafka_producer_destroy(NULL, 0);
    ferry_kafka_consumer_destroy(NULL);
    ferry_kafka_msg_destroy(NULL);
}

/* ferry_kafka_props_check's findings, "name: reason" one per line */
static void collect_bad(void *opaque, const char *name, const char *reason)
{
    char *out = opaque;
    size_t len = strlen(out);
    snprintf(out + len, 2048 - len, "%s: %s\n", name, reason);
}

static void checks_every_property_without_connecting(void **state)
{
    (void)state;
    char found[2048] = "";
    /* nothing listens on port 1: a check that connected would hang or fail */
    const char *good[] = {"bootstrap.servers", "127.0.0.1:1",    "linger.ms", "25",
                          "isolation.level",   "read_committed", NULL};
    assert_int_equal(ferry_kafka_props_check(good, collect_bad, found), 0);
    assert_string_equal(found, "");
    const char *bad[] = {"no.such.prop",     "1",   "linger.ms", "abc", "acks", "all",
                         "compression.type", "zip", NULL};
    assert_int_equal(ferry_kafka_props_check(bad, collect_bad, found), 3);
    /* each refused key once, named, with librdkafka's reason */
    assert_non_null(strstr(found, "no.such.prop: No such configuration property"));
    assert_non_null(strstr(found, "linger.ms: "));
    assert_non_null(strstr(found, "compression.type: "));
    /* librdkafka ends some reasons with a newline: one line per property */
    const char *range[] = {"batch.num.messages", "-5", NULL};
    found[0] = '\0';
    assert_int_equal(ferry_kafka_props_check(range, collect_bad, found), 1);
    assert_non_null(strstr(found, "batch.num.messages: "));
    assert_ptr_equal(strchr(found, '\n'), found + strlen(found) - 1);
    assert_null(strstr(found, "acks"));
    const char *odd[] = {"bootstrap.servers", NULL};
    found[0] = '\0';
    assert_int_equal(ferry_kafka_props_check(odd, collect_bad, found), 1);
    assert_string_equal(found, "bootstrap.servers: no value given\n");
    assert_int_equal(ferry_kafka_props_check(NULL, collect_bad, found), 0);
}

static void probe_answers_and_names_unreachable_brokers(void **state)
{
    (void)state;
    char errstr[512];
    OK(ferry_kafka_probe(props, 5000, errstr, sizeof(errstr)));

    /* a port nobody listens on: bind one, then close it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    char dead[64];
    snprintf(dead, sizeof(dead), "127.0.0.1:%d", ntohs(sa.sin_port));
    const char *dead_props[] = {"bootstrap.servers", dead, "log_level", "0", NULL};
    assert_int_equal(ferry_kafka_probe(dead_props, 500, errstr, sizeof(errstr)),
                     FERRY_ERR_RETRIABLE);
    char want[128];
    snprintf(want, sizeof(want), "could not reach Kafka at \"%s\"", dead);
    assert_non_null(strstr(errstr, want));
}

static void topic_partitions_does_not_create(void **state)
{
    (void)state;
    topic_new("t.parts", 7);
    char errstr[512];
    int n = 0;
    OK(ferry_kafka_topic_partitions(props, "t.parts", 5000, &n, errstr, sizeof(errstr)));
    assert_int_equal(n, 7);
    assert_int_equal(
        ferry_kafka_topic_partitions(props, "t.missing", 5000, &n, errstr, sizeof(errstr)),
        FERRY_ERR_NOT_FOUND);
    assert_int_equal(
        ferry_kafka_topic_partitions(props, "t.missing", 5000, &n, errstr, sizeof(errstr)),
        FERRY_ERR_NOT_FOUND);
}

static void producer_topic_partitions_counts(void **state)
{
    (void)state;
    topic_new("t.pparts", 5);
    ferry_kafka_producer_t *p = producer_new(NULL);
    char errstr[512];
    int n = 0;
    OK(ferry_kafka_producer_topic_partitions(p, "t.pparts", 5000, &n, errstr, sizeof(errstr)));
    assert_int_equal(n, 5);
    ferry_kafka_producer_destroy(p, 1000);
}

/* The whole topic list in one request: counts found by name, and no topic created by asking. */
static void producer_topics_lists_without_creating(void **state)
{
    (void)state;
    topic_new("t.list.b", 3);
    topic_new("t.list.a", 2);
    ferry_kafka_producer_t *p = producer_new(NULL);
    char errstr[512];
    ferry_kafka_topic_list_t list;
    OK(ferry_kafka_producer_topics(p, 5000, &list, errstr, sizeof(errstr)));
    assert_int_equal(ferry_kafka_topic_list_find(&list, "t.list.a"), 2);
    assert_int_equal(ferry_kafka_topic_list_find(&list, "t.list.b"), 3);
    assert_int_equal(ferry_kafka_topic_list_find(&list, "t.list.none"), -1);
    ferry_kafka_topic_list_free(&list);
    OK(ferry_kafka_producer_topics(p, 5000, &list, errstr, sizeof(errstr)));
    assert_int_equal(ferry_kafka_topic_list_find(&list, "t.list.none"), -1);
    ferry_kafka_topic_list_free(&list);
    ferry_kafka_producer_destroy(p, 1000);
}

static void idempotent_round_trip_with_headers(void **state)
{
    (void)state;
    topic_new("t.idem", 2);
    ferry_kafka_producer_t *p = producer_new(NULL);
    const ferry_kafka_header_t hdrs[] = {{"op", "c", 1}, {"nothing", NULL, 0}};
    for (int i = 0; i < 10; i++) {
        char key[16], value[16];
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        ferry_kafka_record_t rec = {"t.idem",      1,    key,          strlen(key), value,
                                    strlen(value), hdrs, i % 2 ? 2 : 0};
        char errstr[512];
        OK(ferry_kafka_produce(p, &rec, errstr, sizeof(errstr)));
    }
    char errstr[512];
    OK(ferry_kafka_producer_flush(p, DEADLINE_MS, errstr, sizeof(errstr)));
    uint64_t delivered = 0, failed = 0;
    ferry_kafka_producer_counts(p, &delivered, &failed);
    assert_int_equal(delivered, 10);
    assert_int_equal(failed, 0);
    ferry_kafka_producer_destroy(p, 1000);

    ferry_kafka_consumer_t *c = consumer_at("g.idem", "t.idem", 1, FERRY_KAFKA_OFFSET_BEGINNING);
    for (int i = 0; i < 10; i++) {
        ferry_kafka_msg_t *m = next_msg(c);
        char want[16];
        snprintf(want, sizeof(want), "v%d", i);
        assert_string_equal(m->topic, "t.idem");
        assert_int_equal(m->partition, 1);
        assert_int_equal(m->offset, i);
        assert_true(msg_is(m, want));
        assert_int_equal(m->key_len, strlen(want));
        assert_memory_equal(m->key, "k", 1);
        const char *name;
        const void *value;
        size_t len;
        if (i % 2) {
            assert_int_equal(ferry_kafka_msg_header(m, 0, &name, &value, &len), 0);
            assert_string_equal(name, "op");
            assert_int_equal(len, 1);
            assert_memory_equal(value, "c", 1);
            assert_int_equal(ferry_kafka_msg_header(m, 1, &name, &value, &len), 0);
            assert_string_equal(name, "nothing");
            assert_null(value);
            assert_int_equal(ferry_kafka_msg_header(m, 2, &name, &value, &len),
                             FERRY_ERR_NOT_FOUND);
        } else {
            assert_int_equal(ferry_kafka_msg_header(m, 0, &name, &value, &len),
                             FERRY_ERR_NOT_FOUND);
        }
        ferry_kafka_msg_destroy(m);
    }
    ferry_kafka_consumer_destroy(c);
}

/*
 * What ferry relies on: a transaction aborted before its records left the
 * client (ferry aborts on any failure before flushing) is never seen. The
 * long linger keeps the records in the client until commit or abort.
 */
static void aborted_transactions_stay_invisible(void **state)
{
    (void)state;
    topic_new("t.txn", 1);
    const char *lazy[] = {"bootstrap.servers", props[1], "linger.ms", "30000", NULL};
    ferry_kafka_producer_t *p = NULL;
    char errstr[512];
    OK(ferry_kafka_producer_new(&p, lazy, "ferry-test-txn", errstr, sizeof(errstr)));
    OK(ferry_kafka_producer_init_transactions(p, DEADLINE_MS, errstr, sizeof(errstr)));

    OK(ferry_kafka_producer_begin(p, errstr, sizeof(errstr)));
    produce_str(p, "t.txn", 0, "a", "committed-1");
    produce_str(p, "t.txn", 0, "b", "committed-2");
    OK(ferry_kafka_producer_commit(p, DEADLINE_MS, errstr, sizeof(errstr)));

    OK(ferry_kafka_producer_begin(p, errstr, sizeof(errstr)));
    produce_str(p, "t.txn", 0, "c", "aborted-1");
    produce_str(p, "t.txn", 0, "d", "aborted-2");
    OK(ferry_kafka_producer_abort(p, DEADLINE_MS, errstr, sizeof(errstr)));

    OK(ferry_kafka_producer_begin(p, errstr, sizeof(errstr)));
    produce_str(p, "t.txn", 0, "e", "committed-3");
    OK(ferry_kafka_producer_commit(p, DEADLINE_MS, errstr, sizeof(errstr)));
    uint64_t delivered = 0, failed = 0;
    ferry_kafka_producer_counts(p, &delivered, &failed);
    assert_int_equal(delivered, 3);
    assert_int_equal(failed, 2); /* the two purged by the abort */
    ferry_kafka_producer_destroy(p, 1000);

    ferry_kafka_consumer_t *c = consumer_at("g.txn", "t.txn", 0, FERRY_KAFKA_OFFSET_BEGINNING);
    const char *want[] = {"committed-1", "committed-2", "committed-3"};
    for (size_t i = 0; i < 3; i++) {
        ferry_kafka_msg_t *m = next_msg(c);
        int ok = msg_is(m, want[i]);
        if (!ok)
            print_message("read %.*s at offset %lld, wanted %s\n", (int)m->value_len,
                          (const char *)m->value, (long long)m->offset, want[i]);
        ferry_kafka_msg_destroy(m);
        assert_true(ok);
    }
    ferry_kafka_consumer_destroy(c);
}

/*
 * The mock's limit, pinned so that an upgrade that lifts it is noticed:
 * librdkafka 2.0.2's mock sends no aborted-transaction list in its fetch
 * responses, so records that reached it before an abort are visible even to
 * a read_committed consumer. A real Kafka hides them.
 */
static void mock_shows_aborted_records_it_received(void **state)
{
    (void)state;
    topic_new("t.txnsent", 1);
    ferry_kafka_producer_t *p = producer_new("ferry-test-txnsent");
    char errstr[512];
    OK(ferry_kafka_producer_begin(p, errstr, sizeof(errstr)));
    produce_str(p, "t.txnsent", 0, "k", "sent-then-aborted");
    OK(ferry_kafka_producer_flush(p, DEADLINE_MS, errstr, sizeof(errstr)));
    OK(ferry_kafka_producer_abort(p, DEADLINE_MS, errstr, sizeof(errstr)));
    ferry_kafka_producer_destroy(p, 0);

    ferry_kafka_consumer_t *c =
        consumer_at("g.txnsent", "t.txnsent", 0, FERRY_KAFKA_OFFSET_BEGINNING);
    ferry_kafka_msg_t *m = next_msg(c);
    assert_true(msg_is(m, "sent-then-aborted"));
    ferry_kafka_msg_destroy(m);
    ferry_kafka_consumer_destroy(c);
}

/*
 * The caller's loop after an abort: produce the transaction (one record)
 * again until it commits. On the mock the first retry still fails (it does
 * not follow the epoch bump that follows the abort: "skipped sequence
 * numbers"), the next commits.
 */
static void commit_after_abort(ferry_kafka_producer_t *p, const char *topic, int32_t partition,
                               const char *value)
{
    char errstr[512];
    int rc = FERRY_ERR_RETRIABLE;
    for (int attempt = 0; attempt < 5 && rc == FERRY_ERR_RETRIABLE; attempt++) {
        OK(ferry_kafka_producer_begin(p, errstr, sizeof(errstr)));
        produce_str(p, topic, partition, "k", value);
        rc = ferry_kafka_producer_commit(p, DEADLINE_MS, errstr, sizeof(errstr));
    }
    OK(rc);
}

static void failed_transaction_is_aborted_and_retriable(void **state)
{
    (void)state;
    topic_new("t.txnfail", 1);
    ferry_kafka_producer_t *p = producer_new("ferry-test-txnfail");
    char errstr[512];
    OK(ferry_kafka_producer_begin(p, errstr, sizeof(errstr)));
    /* the broker refuses the records: the transaction can only be aborted */
    rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1, RD_KAFKA_RESP_ERR_INVALID_RECORD);
    produce_str(p, "t.txnfail", 0, "k", "refused");
    int rc = ferry_kafka_producer_commit(p, DEADLINE_MS, errstr, sizeof(errstr));
    assert_int_equal(rc, FERRY_ERR_RETRIABLE);
    assert_non_null(strstr(errstr, "could not commit Kafka transaction"));
    assert_non_null(strstr(errstr, "aborted"));

    commit_after_abort(p, "t.txnfail", 0, "accepted");
    ferry_kafka_producer_destroy(p, 1000);

    ferry_kafka_consumer_t *c =
        consumer_at("g.txnfail", "t.txnfail", 0, FERRY_KAFKA_OFFSET_BEGINNING);
    ferry_kafka_msg_t *m = next_msg(c);
    assert_true(msg_is(m, "accepted"));
    ferry_kafka_msg_destroy(m);
    ferry_kafka_consumer_destroy(c);
}

/*
 * A broker that cannot add a partition to the transaction (a timeout, as
 * ferry-devkafka's fault injection makes) leaves it abortable: librdkafka
 * refuses further records with "Erroneous state". That is ABORTED, not a
 * caller bug: after an abort the same producer goes on.
 */
static void failed_add_partitions_is_aborted(void **state)
{
    (void)state;
    topic_new("t.txnadd", 2);
    ferry_kafka_producer_t *p = producer_new("ferry-test-txnadd");
    char errstr[512];
    OK(ferry_kafka_producer_begin(p, errstr, sizeof(errstr)));
    rd_kafka_mock_push_request_errors(
        mock, API_ADD_PARTITIONS_TO_TXN, 4, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    ferry_kafka_record_t rec = {.topic = "t.txnadd", .partition = 0, .value = "v", .value_len = 1};
    int rc = 0;
    for (int i = 0; i < 200 && rc == 0; i++) {
        rc = ferry_kafka_produce(p, &rec, errstr, sizeof(errstr));
        ferry_kafka_producer_poll(p, 50);
    }
    assert_int_equal(rc, FERRY_ERR_ABORTED);
    assert_non_null(strstr(errstr, "must be aborted"));
    OK(ferry_kafka_producer_abort(p, DEADLINE_MS, errstr, sizeof(errstr)));

    commit_after_abort(p, "t.txnadd", 1, "after-abort");
    ferry_kafka_producer_destroy(p, 1000);
}

/*
 * The mock does not fence an older instance by itself (found by experiment:
 * both instances keep committing), so the broker's verdict is injected.
 */
static void fenced_producer_is_fatal(void **state)
{
    (void)state;
    topic_new("t.fence", 1);
    ferry_kafka_producer_t *p = producer_new("ferry-test-fence");
    char errstr[512];
    OK(ferry_kafka_producer_begin(p, errstr, sizeof(errstr)));
    produce_str(p, "t.fence", 0, "k", "fenced");
    rd_kafka_mock_push_request_errors(mock, API_END_TXN, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    int rc = ferry_kafka_producer_commit(p, DEADLINE_MS, errstr, sizeof(errstr));
    assert_int_equal(rc, FERRY_ERR_FATAL);
    assert_non_null(strstr(errstr, "could not commit Kafka transaction"));
    /* and it stays unusable */
    assert_int_equal(ferry_kafka_producer_begin(p, errstr, sizeof(errstr)), FERRY_ERR_FATAL);
    ferry_kafka_producer_destroy(p, 0);
}

static void delivery_failure_is_reported_by_flush(void **state)
{
    (void)state;
    topic_new("t.dr", 1);
    ferry_kafka_producer_t *p = producer_new(NULL);
    char errstr[512];
    /* retriable broker errors are retried by librdkafka and do not surface */
    rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 2,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    produce_str(p, "t.dr", 0, "k", "retried");
    OK(ferry_kafka_producer_flush(p, DEADLINE_MS, errstr, sizeof(errstr)));

    /* a permanent one is remembered and reported once, naming topic and partition */
    rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    produce_str(p, "t.dr", 0, "k", "refused");
    int rc = ferry_kafka_producer_flush(p, DEADLINE_MS, errstr, sizeof(errstr));
    assert_int_equal(rc, FERRY_ERR_FATAL);
    assert_non_null(strstr(errstr, "could not deliver to \"t.dr\" [0]"));
    uint64_t delivered = 0, failed = 0;
    ferry_kafka_producer_counts(p, &delivered, &failed);
    assert_int_equal(delivered, 1);
    assert_int_equal(failed, 1);
    ferry_kafka_producer_destroy(p, 0);
}

static void group_commit_and_seek(void **state)
{
    (void)state;
    topic_new("t.group", 1);
    ferry_kafka_producer_t *p = producer_new(NULL);
    for (int i = 0; i < 10; i++) {
        char value[16];
        snprintf(value, sizeof(value), "m%d", i);
        produce_str(p, "t.group", 0, NULL, value);
    }
    char errstr[512];
    OK(ferry_kafka_producer_flush(p, DEADLINE_MS, errstr, sizeof(errstr)));
    ferry_kafka_producer_destroy(p, 0);

    /* first member: no committed offset, so it starts at the beginning */
    const char *topics[] = {"t.group"};
    ferry_kafka_consumer_t *c = consumer_new("g.group");
    OK(ferry_kafka_consumer_subscribe(c, topics, 1, errstr, sizeof(errstr)));
    for (int i = 0; i < 5; i++) {
        ferry_kafka_msg_t *m = next_msg(c);
        assert_int_equal(m->offset, i);
        ferry_kafka_msg_destroy(m);
    }
    ferry_kafka_tp_t tp = {"t.group", 0, 5};
    OK(ferry_kafka_consumer_commit(c, &tp, 1, errstr, sizeof(errstr)));
    tp.offset = 0;
    OK(ferry_kafka_consumer_committed(c, &tp, 1, 5000, errstr, sizeof(errstr)));
    assert_int_equal(tp.offset, 5);

    /* seek back: the next message is the one asked for */
    OK(ferry_kafka_consumer_seek(c, "t.group", 0, 2, 5000, errstr, sizeof(errstr)));
    ferry_kafka_msg_t *m = next_msg(c);
    assert_int_equal(m->offset, 2);
    ferry_kafka_msg_destroy(m);
    ferry_kafka_consumer_destroy(c);

    /* a new member of the group resumes at the committed offset */
    c = consumer_new("g.group");
    OK(ferry_kafka_consumer_subscribe(c, topics, 1, errstr, sizeof(errstr)));
    m = next_msg(c);
    assert_int_equal(m->offset, 5);
    assert_true(msg_is(m, "m5"));
    ferry_kafka_msg_destroy(m);
    ferry_kafka_consumer_destroy(c);
}

/*
 * librdkafka 2.0 stops fetching while its queue is over
 * queued.max.messages.kbytes and looks again about once a second. With a
 * queue that one batch fills, 60 batches would take a minute; woken each
 * time the queue is empty, the consumer reads them well inside the
 * deadline, every message once and in order.
 */
static void woken_fetchers_keep_a_full_queue_coming(void **state)
{
    (void)state;
    enum { BATCHES = 60, PER_BATCH = 10 };
    topic_new("t.wake", 1);
    ferry_kafka_producer_t *p = producer_new(NULL);
    /* random letters: lz4 must not shrink a batch under the queue's 1 KB */
    static char value[1024];
    random_letters(value, sizeof(value), 88675123u);
    char errstr[512];
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < PER_BATCH; i++)
            produce_str(p, "t.wake", 0, NULL, value);
        OK(ferry_kafka_producer_flush(p, DEADLINE_MS, errstr, sizeof(errstr)));
    }
    ferry_kafka_producer_destroy(p, 0);

    const char *small[] = {"bootstrap.servers",
                           props[1],
                           "queued.max.messages.kbytes",
                           "1",
                           "max.partition.fetch.bytes",
                           "1024",
                           NULL};
    ferry_kafka_consumer_t *c = NULL;
    OK(ferry_kafka_consumer_new(&c, "g.wake", small, NULL, errstr, sizeof(errstr)));
    ferry_kafka_tp_t tp = {"t.wake", 0, FERRY_KAFKA_OFFSET_BEGINNING};
    OK(ferry_kafka_consumer_assign(c, &tp, 1, errstr, sizeof(errstr)));
    int64_t next = 0;
    size_t most_queued = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (t = t0; next < BATCHES * PER_BATCH && (t.tv_sec - t0.tv_sec) * 1000 < DEADLINE_MS;
         clock_gettime(CLOCK_MONOTONIC, &t)) {
        size_t queued = ferry_kafka_consumer_queued(c, NULL, NULL);
        most_queued = queued > most_queued ? queued : most_queued;
        ferry_kafka_msg_t *m = NULL;
        int rc = ferry_kafka_consumer_poll(c, 10, &m, errstr, sizeof(errstr));
        if (rc && rc != FERRY_ERR_RETRIABLE)
            fail_msg("poll: %s", errstr);
        if (m) {
            assert_int_equal(m->offset, next);
            next++;
            ferry_kafka_msg_destroy(m);
        } else if (queued == 0) {
            ferry_kafka_consumer_wake_fetchers(c, 1000);
        }
    }
    if (next < BATCHES * PER_BATCH)
        fail_msg("%lld of %d messages within %d ms: the fetchers were not woken", (long long)next,
                 BATCHES * PER_BATCH, DEADLINE_MS);
    /* the queue held a batch at a time, and was seen doing so */
    assert_true(most_queued >= 1 && most_queued <= 3 * PER_BATCH);
    ferry_kafka_consumer_destroy(c);
}

/*
 * The real case: the mock keeps at most 5 MB per partition, so after 8 MB
 * the oldest records are gone, and a consumer that still wants them gets a
 * fatal error naming topic and partition.
 */
static void expired_data_is_fatal_and_named(void **state)
{
    (void)state;
    topic_new("t.expire", 2);
    ferry_kafka_producer_t *p = producer_new(NULL);
    /* random letters: the producers compress (lz4), and the mock keeps what was sent */
    static char big[100 * 1024];
    random_letters(big, sizeof(big), 2463534242u);
    for (int i = 0; i < 80; i++)
        produce_str(p, "t.expire", 1, NULL, big);
    char errstr[512];
    OK(ferry_kafka_producer_flush(p, DEADLINE_MS, errstr, sizeof(errstr)));
    ferry_kafka_producer_destroy(p, 0);

    /* prove the log start moved: offset 0 is really gone */
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", props[1], why, sizeof(why));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    int64_t lo = -1, hi = -1;
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, "t.expire", 1, &lo, &hi, DEADLINE_MS), 0);
    rd_kafka_destroy(rk);
    assert_true(lo > 0);
    assert_int_equal(hi, 80);

    ferry_kafka_consumer_t *c = consumer_at("g.expire", "t.expire", 1, 0);
    assert_int_equal(next_error(c, errstr, sizeof(errstr)), FERRY_ERR_FATAL);
    assert_non_null(strstr(errstr, "offset out of range on \"t.expire\" [1]"));
    assert_non_null(strstr(errstr, "copy the table(s) of this topic again"));
    ferry_kafka_consumer_destroy(c);

    /* the same through a group whose committed offset points at expired data */
    c = consumer_new("g.expire2");
    ferry_kafka_tp_t tp = {"t.expire", 1, 0};
    OK(ferry_kafka_consumer_commit(c, &tp, 1, errstr, sizeof(errstr)));
    const char *topics[] = {"t.expire"};
    OK(ferry_kafka_consumer_subscribe(c, topics, 1, errstr, sizeof(errstr)));
    assert_int_equal(next_error(c, errstr, sizeof(errstr)), FERRY_ERR_FATAL);
    assert_non_null(strstr(errstr, "offset out of range on \"t.expire\" [1]"));
    ferry_kafka_consumer_destroy(c);
}

static void offset_beyond_end_is_fatal(void **state)
{
    (void)state;
    topic_new("t.beyond", 1);
    ferry_kafka_producer_t *p = producer_new(NULL);
    produce_str(p, "t.beyond", 0, NULL, "only");
    char errstr[512];
    OK(ferry_kafka_producer_flush(p, DEADLINE_MS, errstr, sizeof(errstr)));
    ferry_kafka_producer_destroy(p, 0);

    ferry_kafka_consumer_t *c = consumer_at("g.beyond", "t.beyond", 0, 1000);
    assert_int_equal(next_error(c, errstr, sizeof(errstr)), FERRY_ERR_FATAL);
    assert_non_null(strstr(errstr, "offset out of range on \"t.beyond\" [0]"));
    ferry_kafka_consumer_destroy(c);
}

/* A partition without a committed offset is not "expired data": the message says so. */
static void no_committed_offset_is_not_called_expiry(void **state)
{
    (void)state;
    topic_new("t.nocommit", 1);
    ferry_kafka_consumer_t *c =
        consumer_at("g.nocommit", "t.nocommit", 0, FERRY_KAFKA_OFFSET_STORED);
    char errstr[512];
    assert_int_equal(next_error(c, errstr, sizeof(errstr)), FERRY_ERR_FATAL);
    assert_non_null(strstr(errstr, "could not start reading \"t.nocommit\" [0]"));
    assert_null(strstr(errstr, "expired"));
    ferry_kafka_consumer_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classifies_errors),
        cmocka_unit_test(rejects_bad_properties),
        cmocka_unit_test(checks_every_property_without_connecting),
        cmocka_unit_test(probe_answers_and_names_unreachable_brokers),
        cmocka_unit_test(topic_partitions_does_not_create),
        cmocka_unit_test(producer_topic_partitions_counts),
        cmocka_unit_test(producer_topics_lists_without_creating),
        cmocka_unit_test(idempotent_round_trip_with_headers),
        cmocka_unit_test(aborted_transactions_stay_invisible),
        cmocka_unit_test(mock_shows_aborted_records_it_received),
        cmocka_unit_test(failed_transaction_is_aborted_and_retriable),
        cmocka_unit_test(failed_add_partitions_is_aborted),
        cmocka_unit_test(fenced_producer_is_fatal),
        cmocka_unit_test(delivery_failure_is_reported_by_flush),
        cmocka_unit_test(group_commit_and_seek),
        cmocka_unit_test(woken_fetchers_keep_a_full_queue_coming),
        cmocka_unit_test(expired_data_is_fatal_and_named),
        cmocka_unit_test(offset_beyond_end_is_fatal),
        cmocka_unit_test(no_committed_offset_is_not_called_expiry),
    };
    if (getenv("FERRY_TEST_FILTER")) /* e.g. FERRY_TEST_FILTER='group*' */
        cmocka_set_test_filter(getenv("FERRY_TEST_FILTER"));
    return cmocka_run_group_tests(tests, cluster_up, cluster_down);
}
