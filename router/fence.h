/*
 * Fencing the transactions of routers that are gone.
 *
 * A router that dies (kill -9, a crash, a host lost) leaves its transaction
 * open. Until the coordinator aborts it, transaction.timeout.ms (60 s) and
 * up to its check interval (10 s) later, read_committed readers of every
 * invocation partition the transaction wrote to stop at its first record:
 * every event routed there after it waits, whoever routed it. Kafka ends
 * such a transaction at once when a producer with the same transactional id
 * is initialised.
 *
 * So the next owner of a partition does that for the router that committed
 * the partition last, when that router is no longer a member of the group:
 * the committed offset's metadata names its transactional id and member id
 * (ledger.h), the group's description its members. A router takes a
 * partition with a transaction of its own at once (its claim, see
 * router.c), so the last committer of a partition is always the router that
 * could have routed it since. The delivery gap after a router dies is then
 * the group's session timeout and a rebalance, not the transaction timeout.
 *
 * The committers are read from the offsets as committed, not waiting for
 * pending ones (require_stable off): pending offsets of the dead router's
 * transaction would make that wait last until the transaction times out.
 *
 * A member that is gone but still alive (paused past its session timeout)
 * is fenced too: its producer fails as fenced and it builds a new one (txn.h).
 */
#ifndef EG_ROUTER_FENCE_H
#define EG_ROUTER_FENCE_H

#include "eg_runtime.h"

/* For the partitions just assigned to consumer (of group): fences the
 * transactional id of each last committer other than own_txid that is not
 * a member of the group any more. Bounded by timeout_ms in all. Returns the
 * number of ids fenced, or -1 when the committers or the members could not
 * be read (logged; the gap is then the transaction timeout). */
int eg_fence_departed(eg_runtime_t *rt, rd_kafka_t *consumer, const char *group,
                      const rd_kafka_topic_partition_list_t *parts, const char *own_txid,
                      int timeout_ms);

#endif
