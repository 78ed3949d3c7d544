/*
 * registry.h - where the Avro schemas of ferry's messages live.
 *
 * Every message value (and key) starts with a header naming its writer
 * schema (wire.h). The schema itself is kept in one of two stores:
 *
 *  - a Confluent Schema Registry, when the project sets schema.registry.url:
 *    the producer registers each schema over HTTP under the subject
 *    "<topic>-key" or "<topic>-value" (TopicNameStrategy) and writes the
 *    returned id in a Confluent header; a consumer fetches unknown ids;
 *  - otherwise the compacted topic ferry.<project>.schemas: the producer
 *    publishes the schema JSON keyed by its CRC-64-AVRO fingerprint (16
 *    lowercase hex digits) and writes an Avro single-object header; a
 *    consumer reads that topic to resolve fingerprints it has not seen.
 *
 * A registry handle answers both sides with two calls: header_for() on the
 * producer side and schema_for() on the consumer side. Both cache what they
 * learn, so each schema costs at most one round trip per handle. A handle
 * configured with a registry URL and Kafka properties also resolves
 * single-object messages from the topic, so a consumer can decode any
 * message it reads.
 *
 * A schema is published (and its delivery confirmed with acks=all) before
 * header_for() returns, so any message framed with the header is written
 * after its schema: a consumer that sees the message finds the schema below
 * the topic's high watermark.
 *
 * Passwords (in the URL, in registry_password or in Kafka properties) never
 * appear in logs or error messages.
 *
 * @locality any thread. Cache hits take a short mutex; registry or Kafka
 *           round trips are serialised by a second mutex, so one thread's
 *           miss does not block other threads' hits.
 */
#ifndef FERRY_REGISTRY_H
#define FERRY_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef struct ferry_registry_s ferry_registry_t;

typedef struct {
    /* Project name; names the topic ferry.<project>.schemas. Required. */
    const char *project;
    /*
     * Schema Registry base URL (http[s]://[user:password@]host:port[/path]),
     * or NULL / "" to keep schemas in the Kafka topic. User and password in
     * the URL may be percent-encoded.
     */
    const char *registry_url;
    /* Basic-auth credentials; when set they override those in the URL. */
    const char *registry_user;
    const char *registry_password;
    /* Per-request HTTP timeout and connect timeout; 0 = 10000 and 5000. */
    int http_timeout_ms;
    int http_connect_timeout_ms;
    /*
     * librdkafka properties as a NULL-terminated array of key, value, key,
     * value, ... applied over ferry's defaults (linger.ms=0,
     * fetch.wait.max.ms=10, ...). Some settings stay ferry's because the
     * store depends on them: acks=all, enable.idempotence=true, no topic
     * auto-creation, and the reader's own group.id without commits;
     * transactional.id, group.id and group.instance.id given here are
     * ignored, so the service's own Kafka properties can be passed as they
     * are. Needed without a registry URL; optional with one (then
     * single-object messages cannot be resolved). The array is copied by
     * ferry_registry_new(), which also refuses unknown keys.
     */
    const char *const *kafka_props;
    /*
     * Upper bound for one Kafka operation: publishing a schema and waiting
     * for its delivery, or reading the schemas topic up to its high
     * watermark. 0 = 30000.
     */
    int kafka_timeout_ms;
} ferry_registry_conf_t;

/*
 * Creates a registry handle. No network traffic happens here: clients are
 * created on first use. Returns NULL and writes the reason to errstr on a
 * bad configuration. conf and everything it points to is copied.
 */
ferry_registry_t *ferry_registry_new(const ferry_registry_conf_t *conf, char *errstr,
                                     size_t errstr_size);

struct ferry_conf;

/*
 * ferry_registry_new() configured from a project file: project.name,
 * schema.registry.url (empty: the schemas topic), .user, .password, the
 * kafka.* properties and connect.timeout.ms for HTTP.
 */
ferry_registry_t *ferry_registry_from_conf(const struct ferry_conf *conf, char *errstr,
                                           size_t errstr_size);

/*
 * Producer side: makes sure schema_json is stored (registered under the
 * subject of topic and is_key, or published to the schemas topic) and writes
 * the wire header for messages using it to hdr, which must hold
 * FERRY_WIRE_SOE_HDR_LEN bytes; *hdr_len gets its length (5 or 10).
 *
 * The first call for a schema does the round trip; later calls with the same
 * text (and subject) are answered from the cache, but still hash the whole
 * text: a hot path should keep the header per schema itself, it does not
 * change for the life of the handle.
 *
 * Returns 0, or a negative ferry_err_t with a message in errstr:
 * FERRY_ERR_INVALID (schema refused or unparsable), FERRY_ERR_AUTH,
 * FERRY_ERR_RETRIABLE (registry or broker unreachable, HTTP 5xx),
 * FERRY_ERR_TIMEOUT, FERRY_ERR_FATAL.
 */
int ferry_registry_header_for(ferry_registry_t *r, const char *topic, int is_key,
                              const char *schema_json, uint8_t *hdr, size_t *hdr_len, char *errstr,
                              size_t errstr_size);

/*
 * Consumer side: sets *schema_json to the writer schema named by a parsed
 * header (ferry_wire_parse()). The string is owned by the handle and stays
 * valid until ferry_registry_destroy(). Unknown ids are fetched from the
 * registry; unknown fingerprints are looked for in the schemas topic, read
 * up to its current high watermark.
 *
 * Returns 0, or a negative ferry_err_t with a message in errstr naming the
 * id or fingerprint: FERRY_ERR_NOT_FOUND, FERRY_ERR_AUTH,
 * FERRY_ERR_RETRIABLE, FERRY_ERR_TIMEOUT, FERRY_ERR_UNSUPPORTED (the
 * message's framing needs a store this handle is not configured for).
 */
int ferry_registry_schema_for(ferry_registry_t *r, const ferry_wire_info_t *info,
                              const char **schema_json, char *errstr, size_t errstr_size);

/*
 * Destroys the handle, its clients and every string schema_for() returned.
 * NULL is a no-op.
 */
void ferry_registry_destroy(ferry_registry_t *r);

#endif
