/*
 * kafka_probe.c - a tiny client of kafka.h for integration scripts.
 *
 *   kafka_probe probe   <bootstrap> [timeout_ms]
 *   kafka_probe create  <bootstrap> <topic> <partitions>
 *   kafka_probe produce <bootstrap> <topic> <count>
 *   kafka_probe committed <bootstrap> <group> <topic> <partitions>
 *   kafka_probe spread  <bootstrap> <producers> <topics> <prefix> <seconds>
 *
 * probe exits 0 if a broker answers; create makes the topic through the
 * admin API and prints "partitions=<n>" as the cluster reports it; produce
 * writes count keyed records with an idempotent producer and flushes. Any
 * failure prints the wrapper's one-line error on stderr and exits 1.
 * committed prints "<partition> <offset>" for each partition of the topic,
 * the group's committed offset (-1001 when it has none), without joining
 * the group. spread runs that many producers for that long, each writing
 * one record every 20 ms to the next of the topics <prefix>0..<prefix>N-1
 * (new topics, so every producer's Metadata requests keep naming topics the
 * broker has to create); a record that is not delivered is not an error.
 */
#include "err.h"
#include "kafka.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int probe(const char *const *props, int argc, char **argv, char *errstr, size_t size)
{
    int timeout_ms = argc > 3 ? atoi(argv[3]) : 5000;
    return ferry_kafka_probe(props, timeout_ms, errstr, size);
}

static int create(const char *const *props, int argc, char **argv, char *errstr, size_t size)
{
    if (argc < 5)
        return ferry_err_set(errstr, size, FERRY_ERR_INVALID, "create needs topic and partitions");
    int rc =
        ferry_kafka_topic_create(props, argv[3], atoi(argv[4]), -1, NULL, 1, 10000, errstr, size);
    int n = 0;
    if (!rc)
        rc = ferry_kafka_topic_partitions(props, argv[3], 10000, &n, errstr, size);
    if (!rc)
        printf("partitions=%d\n", n);
    return rc;
}

static int produce(const char *const *props, int argc, char **argv, char *errstr, size_t size)
{
    if (argc < 5)
        return ferry_err_set(errstr, size, FERRY_ERR_INVALID, "produce needs topic and count");
    ferry_kafka_producer_t *p = NULL;
    int rc = ferry_kafka_producer_new(&p, props, NULL, errstr, size);
    for (int i = 0; !rc && i < atoi(argv[4]); i++) {
        char key[32], value[64];
        snprintf(key, sizeof(key), "key-%d", i);
        snprintf(value, sizeof(value), "value-%d", i);
        ferry_kafka_record_t rec = {.topic = argv[3],
                                    .partition = FERRY_KAFKA_PARTITION_ANY,
                                    .key = key,
                                    .key_len = strlen(key),
                                    .value = value,
                                    .value_len = strlen(value)};
        rc = ferry_kafka_produce(p, &rec, errstr, size);
    }
    if (!rc)
        rc = ferry_kafka_producer_flush(p, 20000, errstr, size);
    ferry_kafka_producer_destroy(p, 0);
    return rc;
}

static int committed(const char *const *props, int argc, char **argv, char *errstr, size_t size)
{
    if (argc < 6)
        return ferry_err_set(errstr, size, FERRY_ERR_INVALID,
                             "committed needs group, topic and partitions");
    int n = atoi(argv[5]);
    if (n < 1 || n > 10000)
        return ferry_err_set(errstr, size, FERRY_ERR_INVALID, "bad partition count \"%s\"",
                             argv[5]);
    ferry_kafka_tp_t *tps = calloc((size_t)n, sizeof(*tps));
    if (!tps)
        return ferry_err_set(errstr, size, FERRY_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        tps[i] = (ferry_kafka_tp_t){.topic = argv[4], .partition = i};
    ferry_kafka_consumer_t *c = NULL;
    int rc = ferry_kafka_consumer_new(&c, argv[3], props, NULL, errstr, size);
    if (!rc)
        rc = ferry_kafka_consumer_committed(c, tps, (size_t)n, 10000, errstr, size);
    for (int i = 0; !rc && i < n; i++)
        printf("%d %lld\n", i, (long long)tps[i].offset);
    ferry_kafka_consumer_destroy(c);
    free(tps);
    return rc;
}

static int spread(const char *const *props, int argc, char **argv, char *errstr, size_t size)
{
    if (argc < 7)
        return ferry_err_set(errstr, size, FERRY_ERR_INVALID,
                             "spread needs producers, topics, prefix and seconds");
    int np = atoi(argv[3]), nt = atoi(argv[4]), secs = atoi(argv[6]);
    if (np < 1 || np > 100 || nt < 1 || nt > 10000 || secs < 1)
        return ferry_err_set(errstr, size, FERRY_ERR_INVALID, "bad spread arguments");
    ferry_kafka_producer_t **ps = calloc((size_t)np, sizeof(*ps));
    if (!ps)
        return ferry_err_set(errstr, size, FERRY_ERR_NOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < np && !rc; i++)
        rc = ferry_kafka_producer_new(&ps[i], props, NULL, errstr, size);
    time_t end = time(NULL) + secs;
    for (long n = 0; !rc && time(NULL) < end; n++) {
        char topic[256];
        snprintf(topic, sizeof(topic), "%s%ld", argv[5], n % nt);
        for (int i = 0; i < np && !rc; i++) {
            ferry_kafka_record_t rec = {.topic = topic,
                                        .partition = FERRY_KAFKA_PARTITION_ANY,
                                        .value = "x",
                                        .value_len = 1};
            rc = ferry_kafka_produce(ps[i], &rec, errstr, size);
            ferry_kafka_producer_poll(ps[i], 0);
        }
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    for (int i = 0; i < np; i++)
        ferry_kafka_producer_destroy(ps[i], 0);
    free(ps);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr,
                "usage: kafka_probe probe|create|produce|committed|spread <bootstrap> ...\n");
        return 2;
    }
    ferry_log_init("kafka_probe", FERRY_LOG_ERROR);
    const char *props[] = {"bootstrap.servers", argv[2], "log_level", "2", NULL};
    char errstr[1024] = "";
    int rc;
    if (!strcmp(argv[1], "probe"))
        rc = probe(props, argc, argv, errstr, sizeof(errstr));
    else if (!strcmp(argv[1], "create"))
        rc = create(props, argc, argv, errstr, sizeof(errstr));
    else if (!strcmp(argv[1], "produce"))
        rc = produce(props, argc, argv, errstr, sizeof(errstr));
    else if (!strcmp(argv[1], "committed"))
        rc = committed(props, argc, argv, errstr, sizeof(errstr));
    else if (!strcmp(argv[1], "spread"))
        rc = spread(props, argc, argv, errstr, sizeof(errstr));
    else
        rc = ferry_err_set(errstr, sizeof(errstr), FERRY_ERR_INVALID, "unknown command \"%s\"",
                           argv[1]);
    if (rc) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    return 0;
}
