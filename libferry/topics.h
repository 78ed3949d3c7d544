/*
 * topics.h - names of a link's Kafka topics.
 *
 * Kafka allows only [A-Za-z0-9._-] in topic names (at most 249 characters),
 * and ferry uses '.' to separate the parts of a name, while database and
 * table names may hold any character. Each db or table part is therefore
 * kept as it is when it only holds [A-Za-z0-9_-]; otherwise every other
 * character becomes '_' and "-" plus 8 hex digits of a hash of the original
 * name is appended, so two names that clean up alike still get two topics.
 * Change topics have two parts after the prefix and snapshot topics three,
 * so a database named "snapshot" cannot collide with a snapshot topic.
 */
#ifndef FERRY_TOPICS_H
#define FERRY_TOPICS_H

#include <stddef.h>

/* One name part made safe for a topic; returns 0, or -1 if out is too small. */
int ferry_topic_part(const char *name, char *out, size_t out_size);

/* "<prefix>.<db>.<table>": the table's change topic. */
int ferry_topic_changes(const char *prefix, const char *db, const char *table, char *out,
                        size_t out_size);

/* "<prefix>.snapshot.<db>.<table>": the table's snapshot topic. */
int ferry_topic_snapshot(const char *prefix, const char *db, const char *table, char *out,
                         size_t out_size);

/*
 * "<prefix>.consumer": the Kafka group of the link's consumers, to which
 * they commit the offsets the destination stored (lag tools and the
 * full-load planner's pacing read them). Returns 0, or -1 if out is too small.
 */
int ferry_topic_consumer_group(const char *prefix, char *out, size_t out_size);

#endif
