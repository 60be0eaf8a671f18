/*
 * The router's ledger: what it did with each partition of the events topic
 * it owns, in two states: as committed (with the last transaction) and as
 * the open transaction left it.
 *
 * Per partition it keeps the read position `next` (every record below it is
 * routed or held) and the records held: events that wait for their pool's
 * invocation topic (one that cannot be created yet). A held record keeps the
 * partition's committed offset at it, so it is neither dropped nor committed
 * past, while the records after it are routed. The committed offset's
 * metadata carries the rest: the read position and the held offsets, so that
 * the next owner of the partition (or this router after a rewind) reads from
 * the oldest held record and routes again only the held ones. It names too
 * the transactional id and the group member that committed, so that the
 * next owner can tell a router that is gone (see fence.h).
 *
 * Rewinding: when a transaction aborts, the ledger goes back to its
 * committed state and says where each partition the transaction read from
 * must be read again. When a commit fails, the transaction may have been
 * committed all the same: the committed state is then set from what Kafka
 * says (eg_ledger_set_committed) before the rewind.
 *
 * Thread: the router's; no locking. Ownership: eg_ledger_new/_free; lists
 * returned are the caller's (rd_kafka_topic_partition_list_destroy).
 */
#ifndef EG_ROUTER_LEDGER_H
#define EG_ROUTER_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* Records held per partition at most: past it the partition stops at the
 * next record to hold (it waits in the topic, like the held ones). Bounded
 * so that the metadata stays well under the broker's offset.metadata.max.bytes
 * (4096 by default). */
#define EG_LEDGER_MAX_HELD 128

typedef struct eg_ledger eg_ledger_t;

/* A ledger of `topic` (copied). */
eg_ledger_t *eg_ledger_new(const char *topic);
void eg_ledger_free(eg_ledger_t *l);

/* A partition assigned, with its committed offset (< 0: none) and the
 * metadata committed with it (NULL or len 0: none; metadata another writer
 * left is ignored). */
void eg_ledger_assign(eg_ledger_t *l, int32_t partition, int64_t committed, const char *meta,
                      size_t len);
void eg_ledger_revoke(eg_ledger_t *l, int32_t partition);

/* Where reading a partition starts: its oldest held record, else its read
 * position; -1 when unknown (not assigned, or nothing committed yet). */
int64_t eg_ledger_start(const eg_ledger_t *l, int32_t partition);

/* Sets the read position of a partition that has none, in both states (what
 * a claim commits for a partition never committed before). */
void eg_ledger_set_start(eg_ledger_t *l, int32_t partition, int64_t next);

enum { EG_LEDGER_ROUTE = 0, EG_LEDGER_SKIP = 1 };

/* A record read: EG_LEDGER_ROUTE (route it; a held one is no longer held),
 * or EG_LEDGER_SKIP (read again below the read position and not held: it was
 * routed before). */
int eg_ledger_consumed(eg_ledger_t *l, int32_t partition, int64_t offset);

/* The record just read waits for its pool's topic. 0, or -1 when the
 * partition holds EG_LEDGER_MAX_HELD records already: then the record is
 * not read (the read position goes back to it) and the partition is marked
 * stopped; the caller seeks it there and pauses it until eg_ledger_retry. */
int eg_ledger_hold(eg_ledger_t *l, int32_t partition, int64_t offset);

/* Records held in all partitions (the open transaction's view). */
size_t eg_ledger_held(const eg_ledger_t *l);

/* The offsets to commit with the open transaction: each partition with a
 * known position, at its oldest held record or its read position, with the
 * metadata (owner: the transactional id; member: the consumer's member id).
 * An empty list when no partition has a position. */
rd_kafka_topic_partition_list_t *eg_ledger_offsets(const eg_ledger_t *l, const char *owner,
                                                   const char *member);

/* The open transaction committed: its state becomes the committed one. */
void eg_ledger_commit(eg_ledger_t *l);

/* The open transaction aborted: back to the committed state. Returns where
 * to seek each partition the transaction read from (NULL: none). */
rd_kafka_topic_partition_list_t *eg_ledger_rewind(eg_ledger_t *l);

/* The partitions the open transaction read from (NULL: none). */
rd_kafka_topic_partition_list_t *eg_ledger_read_from(const eg_ledger_t *l);

/* What Kafka holds as committed for a partition (offset and metadata, as in
 * eg_ledger_assign) becomes its committed state: after a commit whose outcome
 * is not known, before eg_ledger_rewind. */
void eg_ledger_set_committed(eg_ledger_t *l, int32_t partition, int64_t committed, const char *meta,
                             size_t len);

/* Where to read again so that held records are routed (a pool's topic came
 * back): each partition with held records, at its oldest one; stopped
 * partitions are no longer marked stopped (the caller resumes them). NULL:
 * none. */
rd_kafka_topic_partition_list_t *eg_ledger_retry(eg_ledger_t *l);

/* Is the partition stopped (eg_ledger_hold returned -1)? */
int eg_ledger_stopped(const eg_ledger_t *l, int32_t partition);

/* The owner (transactional id) and member id in metadata a router
 * committed. 0, or -1 when meta is not a router's. */
int eg_ledger_meta_owner(const char *meta, size_t len, char *owner, size_t olen, char *member,
                         size_t mlen);

#endif
