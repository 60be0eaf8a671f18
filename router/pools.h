/*
 * The invocation topics of the pools, as the router (and its replayer) write
 * to them.
 *
 * A pool's topic is made sure of (Admin API, bounded) the first time the
 * router routes to it: a pool whose invoker never started has no topic yet,
 * and a cluster without auto.create.topics.enable fails every record
 * written to a topic that does not exist. A topic that cannot be created
 * (a name the cluster refuses, or one that collides with an existing topic,
 * a request that is denied or not answered) is not ready: the router holds
 * that pool's events in the events topic (ledger.h) and routes the others.
 * Creating it is tried again, 2 s after the failure, then at doubling
 * intervals up to 30 s. The gauge eventgateway_invocation_topic_unavailable
 * {pool,kind} (kind async or sync) is 1 while it is not ready, and the log
 * says why.
 *
 * On librdkafka's mock cluster of another process, which answers no
 * CreateTopics, a topic is taken as ready: a first record creates it there.
 *
 * The router and its replayer each have one (a replay writes to the pool of
 * its subscription's function, to which nothing may have been routed yet).
 *
 * Thread: its owner's. Ownership: eg_pools_new/_free; names returned live
 * as long as the eg_pools_t.
 */
#ifndef EG_ROUTER_POOLS_H
#define EG_ROUTER_POOLS_H

#include "eg_runtime.h"

typedef struct eg_pools eg_pools_t;

/* admin: a handle on the cluster for the Admin API (borrowed). */
eg_pools_t *eg_pools_new(eg_runtime_t *rt, rd_kafka_t *admin);
void eg_pools_free(eg_pools_t *p);

/* The topic of a pool's async (sync 0) or sync invocations; *ready is 1
 * when records can be written to it. */
const char *eg_pools_topic(eg_pools_t *p, const char *pool, int sync, int *ready);

/* Tries again to create the topics that are not ready and are due. Returns
 * how many became ready. */
int eg_pools_retry(eg_pools_t *p);

/* Topics not ready now. */
int eg_pools_unready(const eg_pools_t *p);

#endif
