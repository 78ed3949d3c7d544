/*
 * ferry-consumer - apply side of a link.
 *
 * Today it joins the link's consumer group on the ddl topic (read_committed,
 * manual offsets) and keeps its destination connection checked; applying
 * schema and row events to the destination comes with issue 3. On SIGTERM it
 * leaves the group cleanly, so its partitions move at once to another member.
 */
#include "err.h"
#include "kafka.h"
#include "log.h"
#include "service.h"

#include <stdatomic.h>
#include <stdio.h>

typedef struct {
    atomic_uint_fast64_t received;
    char group[300];
    char topic[300];
} consumer_state_t;

static int run(ferry_service_t *svc)
{
    consumer_state_t *st = ferry_service_opaque(svc);
    const ferry_conf_t *conf = ferry_service_conf(svc);
    char prefix[256], err[512];
    ferry_service_topic_prefix(svc, "fwd", prefix, sizeof(prefix));
    snprintf(st->group, sizeof(st->group), "%s.consumer", prefix);
    snprintf(st->topic, sizeof(st->topic), "%s.ddl", prefix);

    ferry_counter_t *received =
        ferry_metrics_counter(ferry_service_metrics(svc), "ferry_consumer_messages_received_total",
                              "Messages read from the link's topics", "topic", st->topic);

    ferry_kafka_consumer_t *c;
    const char *topics[] = {st->topic};
    if (ferry_kafka_consumer_new(&c, st->group, ferry_conf_kafka_props(conf), NULL, err,
                                 sizeof(err)) != 0 ||
        ferry_kafka_consumer_subscribe(c, topics, 1, err, sizeof(err)) != 0) {
        ferry_log_error("could not join the consumer group", "group=%s error=\"%s\"", st->group,
                        err);
        return 1;
    }
    ferry_log_info("consumer joined", "group=%s topic=%s", st->group, st->topic);

    int rc = 0;
    while (!ferry_service_stopping(svc)) {
        ferry_kafka_msg_t *msg = NULL;
        int prc = ferry_kafka_consumer_poll(c, 200, &msg, err, sizeof(err));
        if (prc == FERRY_ERR_FATAL) {
            ferry_log_error("consumer failed", "group=%s error=\"%s\"", st->group, err);
            rc = 1;
            break;
        }
        if (prc != 0)
            ferry_log_warn("consumer error, retrying", "error=\"%s\"", err);
        if (msg) {
            atomic_fetch_add(&st->received, 1);
            ferry_counter_add(received, 1);
            ferry_kafka_msg_destroy(msg);
        }
    }
    ferry_kafka_consumer_destroy(c);
    return rc;
}

static void status(ferry_service_t *svc, ferry_json_t *j)
{
    consumer_state_t *st = ferry_service_opaque(svc);
    ferry_json_key(j, "group");
    ferry_json_string(j, st->group);
    ferry_json_key(j, "messages_received");
    ferry_json_uint(j, atomic_load(&st->received));
}

int main(int argc, char **argv)
{
    static consumer_state_t state;
    ferry_service_def_t def = {
        .name = "consumer",
        .summary = "Applies the change events and snapshot chunks of a link to the destination\n"
                   "database, exactly once.",
        .needs_destination = 1,
        .run = run,
        .status = status,
        .opaque = &state,
    };
    return ferry_service_main(argc, argv, &def);
}
