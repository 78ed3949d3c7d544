/*
 * ferry-producer - capture and full-load side of a link.
 *
 * Today it owns the link's Kafka set-up: it creates the link's control
 * topics (offsets, ddl, dlq, schemas, tasks) with the right partitioning and
 * cleanup policy, and opens the link's transactional producer, whose
 * init_transactions fences any older producer of the same link. Binlog / WAL
 * capture and full-load workers publish through this producer (issue 3).
 */
#include "err.h"
#include "kafka.h"
#include "log.h"
#include "service.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    ferry_kafka_producer_t *producer;
    atomic_int topics_ready;
    char prefix[256];
} producer_state_t;

/* One control topic: its suffix, partitions (0 = topics.partitions) and config. */
static const struct {
    const char *suffix;
    int per_project; /* named ferry.<project>.X rather than <prefix>.X */
    int partitions;
    const char *cleanup;
} control_topics[] = {
    {"offsets", 0, 1, "compact"}, {"ddl", 0, 1, "delete"},   {"dlq", 0, 0, "delete"},
    {"schemas", 1, 1, "compact"}, {"tasks", 1, 0, "delete"},
};

static int create_topics(ferry_service_t *svc, producer_state_t *st)
{
    const ferry_conf_t *conf = ferry_service_conf(svc);
    const char *const *props = ferry_conf_kafka_props(conf);
    int parts = (int)ferry_conf_get_int(conf, "topics.partitions");
    int rf = (int)ferry_conf_get_int(conf, "topics.replication.factor");
    int timeout = (int)ferry_conf_get_int(conf, "connect.timeout.ms");
    for (size_t i = 0; i < sizeof(control_topics) / sizeof(control_topics[0]); i++) {
        char topic[300], err[512];
        if (control_topics[i].per_project)
            snprintf(topic, sizeof(topic), "ferry.%s.%s", ferry_conf_get(conf, "project.name"),
                     control_topics[i].suffix);
        else
            snprintf(topic, sizeof(topic), "%s.%s", st->prefix, control_topics[i].suffix);
        const char *configs[] = {"cleanup.policy", control_topics[i].cleanup, NULL};
        int n = control_topics[i].partitions ? control_topics[i].partitions : parts;
        if (ferry_kafka_topic_create(props, topic, n, rf, configs, 1, timeout, err, sizeof(err)) !=
            0) {
            ferry_log_error("could not create topic", "topic=%s error=\"%s\"", topic, err);
            return FERRY_ERR_FATAL;
        }
        ferry_log_info("topic ready", "topic=%s partitions=%d cleanup=%s", topic, n,
                       control_topics[i].cleanup);
    }
    return 0;
}

static int run(ferry_service_t *svc)
{
    producer_state_t *st = ferry_service_opaque(svc);
    const ferry_conf_t *conf = ferry_service_conf(svc);
    ferry_service_topic_prefix(svc, "fwd", st->prefix, sizeof(st->prefix));
    if (create_topics(svc, st) != 0)
        return 1;
    atomic_store(&st->topics_ready, 1);

    char txn_id[300], err[512];
    snprintf(txn_id, sizeof(txn_id), "%s.producer", st->prefix);
    int timeout = (int)ferry_conf_get_int(conf, "connect.timeout.ms");
    if (ferry_kafka_producer_new(&st->producer, ferry_conf_kafka_props(conf), txn_id, err,
                                 sizeof(err)) != 0 ||
        ferry_kafka_producer_init_transactions(st->producer, timeout, err, sizeof(err)) != 0) {
        ferry_log_error("could not start the link's transactional producer",
                        "transactional_id=%s error=\"%s\"", txn_id, err);
        ferry_kafka_producer_destroy(st->producer, 0);
        return 1;
    }
    ferry_log_info("producer ready", "transactional_id=%s", txn_id);

    while (!ferry_service_sleep(svc, 200))
        ferry_kafka_producer_poll(st->producer, 0);

    /* stop taking work, then flush what is in flight before leaving */
    int rc = ferry_kafka_producer_flush(st->producer, 10000, err, sizeof(err));
    if (rc != 0)
        ferry_log_error("could not flush the producer", "error=\"%s\"", err);
    ferry_kafka_producer_destroy(st->producer, 0);
    st->producer = NULL;
    return rc == 0 ? 0 : 1;
}

static void status(ferry_service_t *svc, ferry_json_t *j)
{
    producer_state_t *st = ferry_service_opaque(svc);
    ferry_json_key(j, "topic_prefix");
    ferry_json_string(j, st->prefix);
    ferry_json_key(j, "topics_ready");
    ferry_json_bool(j, atomic_load(&st->topics_ready) != 0);
}

int main(int argc, char **argv)
{
    static producer_state_t state;
    ferry_service_def_t def = {
        .name = "producer",
        .summary = "Captures changes at the source (binlog / WAL) and runs full-load workers,\n"
                   "publishing Avro change events to Kafka.",
        .needs_source = 1,
        .run = run,
        .status = status,
        .opaque = &state,
    };
    return ferry_service_main(argc, argv, &def);
}
