/*
 * eg_backlog: how far this process's consumers are behind, per partition, so
 * that the embedded broker never drops what a 202 said was stored.
 *
 * librdkafka's mock cluster (the embedded broker of dev mode) keeps at most
 * EG_BACKLOG_PARTITION_BYTES per partition and drops a partition's oldest
 * batches past that, consumed or not (2.0.2: rd_kafka_mock_partition_init
 * sets max_size to 5 MiB and log_append trims to it). A consumer further
 * behind than that (under a load the invokers cannot follow) loses records,
 * events the ingress answered 202 that would never be delivered. A real
 * cluster keeps what its retention says, so the runtime makes a backlog
 * only for a mock cluster (rt->backlog is NULL otherwise and every call here
 * takes NULL and does nothing).
 *
 * What is counted: producers of this process report what they stored (a
 * delivery report's topic, partition, offset and the record's size),
 * consumers of this process what they will read (eg_backlog_watch), what
 * they took (the offset after the record the consumer handed them) and,
 * after every rebalance, which partitions are theirs (one revoked is
 * nobody's here any more). A partition's backlog is (end - taken) records
 * times the topic's average record size in the log, counted from the
 * records produced (value, key, headers and the batch framing of a record
 * sent alone). Partitions no consumer of this process reads are left out:
 * the dead-letter topic, a pool whose invoker runs elsewhere. Records other
 * processes produce are not seen, so the guard covers the roles that share
 * the embedded broker's process (event-gateway --dev); that is documented.
 *
 * eg_backlog_check (rate-limited by its caller) finds the fullest partition
 * and sets the "full" state: on past EG_BACKLOG_HIGH_PERCENT of the bound,
 * off again under EG_BACKLOG_LOW_PERCENT. The ingress holds new events while
 * it is on (eg_backlog_full: one atomic load). The same state over every
 * topic but the first one (the events topic) is "downstream full": the
 * router stops fanning out while it is on, so that the events it has yet to
 * route wait in the events topic (where they count, and hold the ingress)
 * rather than overfill the invocation topics (one event can make many
 * invocations).
 *
 * Threads: any. Topics are appended under a mutex and never removed;
 * reporters find them without it; counters are atomics.
 */
#ifndef EG_BACKLOG_H
#define EG_BACKLOG_H

#include <stdint.h>
#include <librdkafka/rdkafka.h>

#define EG_BACKLOG_PARTITION_BYTES (5 * 1024 * 1024) /* the mock's bound per partition */
#define EG_BACKLOG_HIGH_PERCENT 70                   /* of the bound: the full state on */
#define EG_BACKLOG_LOW_PERCENT 50                    /* and off again */
#define EG_BACKLOG_MAX_TOPICS 64                     /* more topics are not counted */
#define EG_BACKLOG_MAX_PARTITIONS 256                /* nor partitions past this */

typedef struct eg_backlog eg_backlog_t;

/* limit: the per-partition bound in bytes (EG_BACKLOG_PARTITION_BYTES);
 * upstream: the events topic (the router's input). NULL when upstream's name
 * is too long to count (256 bytes or more). */
eg_backlog_t *eg_backlog_new(int64_t limit, const char *upstream);
void eg_backlog_free(eg_backlog_t *bl);

/* A producer's delivery report: the record is stored at m->offset of
 * m->partition. Call for successful reports only. */
void eg_backlog_produced(eg_backlog_t *bl, const rd_kafka_message_t *m);
/* The same from its parts: a record of `bytes` stored at `offset`. */
void eg_backlog_produced_at(eg_backlog_t *bl, const char *topic, int32_t partition, int64_t offset,
                            int64_t bytes);
/* A role of this process will consume the topic: until its consumer takes
 * a record of a partition, that partition's backlog counts from the first
 * record produced here (a burst before the consumer group is formed is
 * counted too). */
void eg_backlog_watch(eg_backlog_t *bl, const char *topic);
/* A consumer was handed m: what comes after it is still to take. */
void eg_backlog_taken(eg_backlog_t *bl, const rd_kafka_message_t *m);
/* The same from its parts: the record at `offset` was taken. */
void eg_backlog_taken_at(eg_backlog_t *bl, const char *topic, int32_t partition, int64_t offset);
/* A consumer of this process now holds `assignment` (its whole assignment):
 * the topic's partitions outside it are nobody's here (another process
 * reads them, or will), those in it are read here from the first record
 * produced here until one is taken. Call after every assignment, even an
 * empty one, so that a watched topic whose partitions all went elsewhere
 * is not counted. */
void eg_backlog_assigned(eg_backlog_t *bl, const char *topic,
                         const rd_kafka_topic_partition_list_t *assignment);
/* The same with the consumer's assignment (rd_kafka_assignment). */
void eg_backlog_consumer_assigned(eg_backlog_t *bl, rd_kafka_t *consumer, const char *topic);

/* Recomputes the full state (cost: one pass over the counted partitions)
 * and returns it; *worst (may be NULL) gets the fullest partition's bytes. */
int eg_backlog_check(eg_backlog_t *bl, int64_t *worst);
/* The state the last check set: 1 while the ingress should hold events. */
int eg_backlog_full(const eg_backlog_t *bl);
/* The same over every topic but the upstream one: 1 while the router
 * should not fan out. */
int eg_backlog_downstream_full(const eg_backlog_t *bl);
/* The fullest partition's bytes at the last check (0 for NULL). */
int64_t eg_backlog_worst(const eg_backlog_t *bl);

/* The bytes a record takes in a partition's log when it is sent alone: its
 * value, key and headers, and the framing of a record and its batch. */
int64_t eg_backlog_record_bytes(const rd_kafka_message_t *m);

#endif
