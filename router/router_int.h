/*
 * router_int.h: the router role's state, shared by its files: router.c (the
 * role: consumer, transactions, partitions, held events) and fanout.c (one
 * record routed: the invocations, the sync producer, dead letters). Not for
 * other modules; router.h is the role's interface.
 */
#ifndef EG_ROUTER_INT_H
#define EG_ROUTER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "eg_doze.h"
#include "eg_metrics.h"
#include "ledger.h"
#include "pools.h"
#include "replayer.h"
#include "router.h"
#include "txn.h"

typedef struct eg_router {
    eg_runtime_t *rt;
    rd_kafka_t *consumer;
    int ever_assigned;         /* an assignment (even an empty one) came */
    eg_txn_t *txn;             /* transactional: the async fan-out */
    rd_kafka_t *sync_producer; /* idempotent, sends at once: sync invocations */
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    size_t txn_records;
    int64_t txn_started_ms;
    char group[300];
    eg_ledger_t *ledger;     /* per partition: read position, held records */
    int64_t *sync_sent;      /* per partition: the last offset whose sync invocation went out */
    int32_t sync_sent_n;     /* partitions in sync_sent */
    eg_pools_t *pools;       /* the pools' invocation topics */
    eg_metric_t *held;       /* gauge: events held for their pool's topic */
    int64_t config_seen;     /* the configuration log's position held events were read at */
    int64_t reread_ms;       /* when they were read again last */
    eg_replayer_t *replayer; /* --run-replays, else NULL */
    eg_doze_t doze;          /* idle duty cycle of the consumer (router thread) */
    rd_kafka_topic_partition_list_t *dozed; /* the partitions it paused, or NULL */
    rd_kafka_queue_t *cq;                   /* the consumer's queue: router_wake yields it */
    atomic_int dozing;                      /* doze.dozing, for router_wake (other threads) */
    atomic_int wake;                        /* router_wake asked: end the doze */
    int waker;                              /* registered with eg_runtime_add_waker */
    eg_cesql_scratch_t *cesql;              /* the filters' scratch space, event to event */
} eg_router_t;

#define ROUTE_HELD 1 /* eg__router_route(): the event waits for its pool's topic */

/* Routes record m: 0 routed (or dead-lettered), ROUTE_HELD, -1 failed (the
 * transaction must be aborted). */
int eg__router_route(eg_router_t *r, const rd_kafka_message_t *m);
/* Delivery reports of the transactional producer and of the sync producer. */
void eg__router_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
void eg__router_on_sync_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

#endif
