/*
 * The router's transactional producer: Kafka transactions with every error
 * class handled as librdkafka documents it.
 *
 *  - Retriable (rd_kafka_error_is_retriable: a timeout, a coordinator that
 *    moves or does not answer, Kafka gone): the same call again until it
 *    succeeds. Nothing else of the router can go on meanwhile; its thread
 *    waits here (the consumer's heartbeats go on in librdkafka's threads).
 *  - Abortable (rd_kafka_error_txn_requires_abort: a record that could not
 *    be delivered in time, offsets the group refused after a rebalance): the
 *    transaction is aborted (retried the same way) and the caller reads its
 *    records again (eg_ledger_rewind).
 *  - Fatal (rd_kafka_error_is_fatal: fenced by a newer producer of the same
 *    transactional id, a transaction the coordinator timed out while Kafka
 *    was away), and errors of no class: the producer is of no use any more.
 *    A new one is built with the same transactional id (its initialisation
 *    fences the old one and aborts what it left open), /v1/status answering
 *    503 meanwhile, and the caller reads the transaction's records again.
 *    When the new producer cannot be initialised, or the producer is fenced
 *    EG_TXN_FENCED_MAX times within EG_TXN_FENCED_WINDOW_MS (another process
 *    uses the same transactional id), the process stops with exit status 1
 *    (eg_runtime_fail) for a supervisor to restart it.
 *
 * Once the role is asked to stop, retrying ends EG_TXN_STOP_GRACE_MS later:
 * what is left open is aborted by the coordinator, or fenced by the next
 * owner of the partitions (fence.h).
 *
 * Thread: the router's. Ownership: eg_txn_new takes the configuration.
 */
#ifndef EG_ROUTER_TXN_H
#define EG_ROUTER_TXN_H

#include <stdatomic.h>

#include "eg_runtime.h"

#define EG_TXN_STOP_GRACE_MS 5000
#define EG_TXN_FENCED_MAX 3
#define EG_TXN_FENCED_WINDOW_MS 300000

typedef struct eg_txn eg_txn_t;

/* A transactional producer built from conf (taken, even on failure: it must
 * hold transactional.id and the delivery report callback), initialised
 * within init_timeout_ms. stop: the role's flag. NULL with a message in err. */
eg_txn_t *eg_txn_new(eg_runtime_t *rt, rd_kafka_conf_t *conf, const atomic_int *stop,
                     int init_timeout_ms, char *err, size_t errlen);
/* Frees the producer (records not flushed within 5 s are dropped: the
 * transaction they belong to is not committed). NULL is fine. */
void eg_txn_free(eg_txn_t *t);

/* The producer now (a rebuild replaces it; NULL when none could be built):
 * for rd_kafka_poll, never keep it. */
rd_kafka_t *eg_txn_producer(const eg_txn_t *t);
/* Its transactional id. */
const char *eg_txn_id(const eg_txn_t *t);
/* Is a transaction open? */
int eg_txn_open(const eg_txn_t *t);
/* Has the process been told to stop for good (eg_runtime_fail)? Nothing is
 * tried any more then: every call fails. */
int eg_txn_failed(const eg_txn_t *t);

/* Opens a transaction if none is. 0, or -1 when none could be opened (the
 * producer was rebuilt, or the role stops): the caller rewinds. */
int eg_txn_begin(eg_txn_t *t);

/* Produces a record in the open transaction (RD_KAFKA_MSG_F_COPY; hdrs
 * taken in every case); a full queue is waited out. 0, or -1 when the
 * record could not be queued: the transaction must be aborted. */
int eg_txn_produce(eg_txn_t *t, const char *topic, const void *key, size_t klen, const void *val,
                   size_t vlen, rd_kafka_headers_t *hdrs);

enum { EG_TXN_COMMITTED = 0, EG_TXN_ABORTED = 1, EG_TXN_UNKNOWN = 2 };

/* Commits the open transaction with offsets (of the consumer's group; an
 * empty list or NULL commits records only). EG_TXN_COMMITTED (also when no
 * transaction was open); EG_TXN_ABORTED: the records and offsets are not
 * written and no transaction is open; the caller rewinds; EG_TXN_UNKNOWN:
 * the commit was asked for and failed, yet Kafka may have committed it
 * (librdkafka reports an EndTxn that Kafka took after the transaction had
 * failed locally as an error); no transaction is open either. */
int eg_txn_commit(eg_txn_t *t, const rd_kafka_topic_partition_list_t *offsets,
                  rd_kafka_t *consumer);

/* Aborts the open transaction, if any (retried; a producer that cannot abort
 * is rebuilt). No transaction is open afterwards; the caller rewinds. */
void eg_txn_abort(eg_txn_t *t);

/* Replaces the producer with a new one of the same transactional id, whose
 * initialisation ends on the coordinator whatever the old one left open
 * there (why is logged). For a transaction this process lost track of
 * (given up on while Kafka was away) that keeps the partitions' committed
 * offsets unstable: a read_committed reader waits for its outcome. */
void eg_txn_renew(eg_txn_t *t, const char *why);

#endif
