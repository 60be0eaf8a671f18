/*
 * router.c: the router role.
 *
 * A consumer group (<prefix>router) on the events topic. Each event is
 * matched against the configuration (space, event type, method, path) with
 * the same path tree the Config API decides conflicts with, and one
 * invocation record per matching async subscription is written to the
 * invocation topic of the function's pool (<prefix>invoke.<pool>.async).
 *
 * Exactly-once fan-out: the invocations of a batch and the consumed offsets
 * are committed in one Kafka transaction (send_offsets_to_transaction with
 * the consumer's group metadata, KIP-447), so a crash or a rebalance either
 * commits a batch's fan-out and its offsets together, or neither: the next
 * owner of the partition routes the batch again from the committed offset.
 * A transaction is opened at the first record after a commit and committed
 * when the batch is full, when the consumer has nothing more for a moment,
 * or in the rebalance callback before partitions are revoked. Every error of
 * a transaction is handled by its class (txn.h); when a transaction is
 * aborted, or cannot be opened, the consumer reads its records again from
 * where the ledger says (ledger.h): nothing is skipped, and the consumer
 * keeps its partitions meanwhile.
 *
 * Taking partitions (the rebalance callback): the router first fences the
 * transactional ids of their last committers that left the group (fence.h),
 * then claims them, committing their offsets in a transaction of its own
 * before it routes any of their records, so that it is their last committer
 * from then on. A router that dies then delays the events of its partitions
 * by the group's session timeout and a rebalance, not by the transaction
 * timeout.
 *
 * A pool whose invocation topic cannot be created (pools.h) does not stop
 * the others: its events are held, the partition's committed offset stays
 * at the oldest of them (ledger.h) while the records after them are routed,
 * and they are read again and routed once the topic can be created.
 *
 * Sync requests are the exception: a client waits for them, and a
 * transaction's records become visible (to read_committed consumers) only
 * at its commit, after linger and several more round trips. Their
 * invocation (or the error reply when the subscription no longer matches)
 * goes out at once through a second, idempotent producer outside the
 * transaction (EG_KAFKA_SYNC_PRODUCER). A router that dies before
 * committing the batch routes such an event again, so a sync function can be
 * called twice (the ingress takes the first answer); past the request's
 * deadline it is not routed at all. Within one process it is sent once: an
 * aborted batch is read again, and the router remembers, per partition, the
 * last record whose sync invocation it sent (sync_sent), so that what it
 * routes again is the async fan-out only.
 *
 * Records that are not CloudEvents (anyone may write to the events topic)
 * become dead-letter records with the reason, in the same transaction, and
 * never stall the partition.
 *
 * On the embedded broker, which drops a partition's oldest records past
 * 5 MiB, the router counts what it consumes and produces (eg_backlog.h) and
 * holds its fan-out (partitions paused, as when it dozes) while an invoker
 * of this process is too far behind on an invocation topic. The embedded
 * broker keeps no offsets of a transaction and hides no aborted records:
 * there the router commits offsets a second time, plainly, and does not
 * fence nor claim.
 *
 * Files: this one is the role (consumer, transactions, partitions, held
 * events); fanout.c routes one record; router_int.h holds their state.
 *
 * Thread: one, the role's own; it owns the consumer and the producers.
 */
#include "router_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eg_alloc.h"
#include "eg_deadletter.h"
#include "eg_doze.h"
#include "eg_event.h"
#include "eg_kafka_client.h"
#include "eg_kafka_hdr.h"
#include "eg_log.h"
#include "eg_map.h"
#include "eg_reply.h"
#include "eg_route.h"
#include "eg_time.h"
#include "fence.h"
#include "ledger.h"
#include "pools.h"
#include "replayer.h"
#include "txn.h"

/* A transaction is committed once it holds BATCH_MAX records or has been
 * open BATCH_MAX_MS under a steady load (or when the consumer goes quiet):
 * each commit holds the router for several round trips, so a router that
 * fans out faster than that commits more per transaction. */
#define BATCH_MAX 5000
#define BATCH_MAX_MS 50
#define OFFSETS_ONLY_MAX_MS 1000 /* a transaction that wrote nothing: see router_main */
#define NUDGE_TIMEOUT_MS 100
#define HOLD_RECHECK_MS 5       /* how often a held fan-out looks again (eg_backlog.h) */
#define INIT_TIMEOUT_MS 30000   /* the transactional producer's first initialisation */
#define FENCE_TIMEOUT_MS 10000  /* fencing departed committers, in all */
#define OFFSETS_TIMEOUT_MS 5000 /* one attempt at reading committed offsets */

/* ---- transactions ---- */

/* Reads again, from where the ledger says, what the aborted (or never
 * opened) transaction had read. */
static void rewind_ledger(eg_router_t *r)
{
    rd_kafka_topic_partition_list_t *to = eg_ledger_rewind(r->ledger);
    r->txn_records = 0;
    if (!to)
        return;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(r->consumer, to, 10000);
    if (e) {
        EG_LOG_ERROR("router", "reading again after an abort: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    for (int i = 0; i < to->cnt; i++)
        if (to->elems[i].err)
            EG_LOG_WARN("router", "reading %s[%" PRId32 "] again from %" PRId64 ": %s",
                        to->elems[i].topic, to->elems[i].partition, to->elems[i].offset,
                        rd_kafka_err2str(to->elems[i].err));
    rd_kafka_topic_partition_list_destroy(to);
}

static void txn_abort(eg_router_t *r)
{
    eg_txn_abort(r->txn);
    rewind_ledger(r);
}

static int txn_begin(eg_router_t *r)
{
    if (eg_txn_open(r->txn))
        return 0;
    if (eg_txn_begin(r->txn))
        return -1;
    r->txn_records = 0;
    r->txn_started_ms = eg_time_mono_ms();
    return 0;
}

/* A commit that failed may have been committed all the same
 * (EG_TXN_UNKNOWN). Before the rewind, the committed offsets of the
 * partitions the transaction read are read back from Kafka (a read_committed
 * consumer waits for the transaction's outcome, which the new producer's
 * initialisation or the abort has settled), so that a fan-out Kafka
 * committed is not routed a second time. Asked once: while the group
 * rebalances, the answer waits for this thread to poll, so the ledger's own
 * state counts when none comes (as it does on the embedded broker, which
 * keeps no offsets of a transaction). */
static void rewind_after_commit(eg_router_t *r)
{
    rd_kafka_topic_partition_list_t *parts =
        !r->rt->embedded->read_txn_offsets || atomic_load(&r->stop)
            ? NULL
            : eg_ledger_read_from(r->ledger);
    rd_kafka_resp_err_t e = parts ? rd_kafka_committed(r->consumer, parts, OFFSETS_TIMEOUT_MS)
                                  : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (e)
        EG_LOG_WARN("router",
                    "the committed offsets after a failed commit: %s (the records since the last "
                    "commit are routed again)",
                    rd_kafka_err2str(e));
    if (parts && !e) {
        for (int i = 0; i < parts->cnt; i++) {
            const rd_kafka_topic_partition_t *p = &parts->elems[i];
            if (p->err)
                EG_LOG_WARN("router",
                            "the committed offset of %s[%" PRId32 "] after a failed commit: %s "
                            "(its records since the last commit are routed again)",
                            p->topic, p->partition, rd_kafka_err2str(p->err));
            else
                eg_ledger_set_committed(r->ledger, p->partition, p->offset, p->metadata,
                                        p->metadata_size);
        }
    }
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    rewind_ledger(r);
}

/* Commits the open transaction with the ledger's offsets. 0 committed (or
 * nothing open), -1 aborted: read again. */
static int txn_commit(eg_router_t *r)
{
    if (!eg_txn_open(r->txn))
        return 0;
    char *member = rd_kafka_memberid(r->consumer);
    rd_kafka_topic_partition_list_t *offs =
        eg_ledger_offsets(r->ledger, eg_txn_id(r->txn), member ? member : "");
    if (member)
        rd_kafka_mem_free(r->consumer, member);
    int outcome = eg_txn_commit(r->txn, offs, r->consumer);
    if (outcome != EG_TXN_COMMITTED) {
        rd_kafka_topic_partition_list_destroy(offs);
        if (outcome == EG_TXN_UNKNOWN)
            rewind_after_commit(r);
        else
            rewind_ledger(r);
        return -1;
    }
    eg_ledger_commit(r->ledger);
    /* The embedded broker (librdkafka 2.0's mock) reads the offsets of a
     * transaction and keeps none of them: without a plain commit as well, the
     * next owner of a partition would route it again from its oldest record.
     * Committed after the transaction, so a crash in between routes the batch
     * again, as any crash before a commit does. A real cluster keeps the
     * transaction's offsets; there this is not done. */
    if (offs->cnt && r->rt->embedded->commit_after_txn) {
        rd_kafka_resp_err_t ce = rd_kafka_commit(r->consumer, offs, 1 /* async */);
        if (ce)
            EG_LOG_WARN("router", "committing offsets on the embedded broker: %s",
                        rd_kafka_err2str(ce));
    }
    rd_kafka_topic_partition_list_destroy(offs);
    EG_LOG_DEBUG("router", "committed a fan-out of %zu records", r->txn_records);
    r->txn_records = 0;
    eg_metric_set(r->held, NULL, (double)eg_ledger_held(r->ledger));
    return 0;
}

/* ---- taking partitions ---- */

/* The committed offsets of parts (with their metadata), into parts. Tried
 * until it succeeds or the role stops: without them the router would not
 * know which of the partition's records it held. 0, or -1 (stopping).
 *
 * A read_committed consumer's answer waits while a transaction that wrote
 * offsets of these partitions is open on the coordinator (librdkafka retries
 * until the call times out). Departed routers' ones are fenced (fence.h);
 * one of this router's own that it gave up on while Kafka was away would
 * keep the answer waiting until the transaction timeout, so after a second
 * time-out the producer is renewed, which ends it. */
static int read_committed_offsets(eg_router_t *r, rd_kafka_topic_partition_list_t *parts)
{
    int64_t start = eg_time_mono_ms();
    for (int tries = 1;; tries++) {
        rd_kafka_resp_err_t e = rd_kafka_committed(r->consumer, parts, OFFSETS_TIMEOUT_MS);
        if (!e)
            return 0;
        if (atomic_load(&r->stop))
            return -1;
        EG_LOG_WARN("router",
                    "reading the committed offsets of %d partition(s): %s (retrying; "
                    "%.0f s so far)",
                    parts->cnt, rd_kafka_err2str(e), (double)(eg_time_mono_ms() - start) / 1000.0);
        if (tries == 2 && e == RD_KAFKA_RESP_ERR__TIMED_OUT && r->rt->embedded->read_txn_offsets)
            eg_txn_renew(r->txn, "the committed offsets stay unstable: a transaction of this "
                                 "router may be open on the coordinator");
    }
}

/* The offset a partition with no committed offset starts at: the consumer's
 * auto.offset.reset (earliest by default) looked up. -1 when unknown. */
static int64_t reset_offset(eg_router_t *r, int32_t partition)
{
    const char *reset = "earliest";
    eg_settings_kafka_prop(r->rt->settings, "auto.offset.reset", &reset);
    int earliest =
        !strcmp(reset, "earliest") || !strcmp(reset, "smallest") || !strcmp(reset, "beginning");
    int latest = !strcmp(reset, "latest") || !strcmp(reset, "largest") || !strcmp(reset, "end");
    int64_t lo = -1, hi = -1;
    if ((!earliest && !latest) || eg_kafka_watermarks(r->consumer, r->rt->topics.events, partition,
                                                      &lo, &hi, OFFSETS_TIMEOUT_MS))
        return -1;
    return earliest ? lo : hi;
}

/* Partitions assigned (parts: those added): what was open is committed,
 * departed committers are fenced, the ledger learns where each partition
 * stands, and the router claims them with a transaction of its own before
 * it reads any of their records. Then they are assigned at those offsets. */
static void take_partitions(eg_router_t *r, rd_kafka_topic_partition_list_t *parts)
{
    int64_t t0 = eg_time_mono_ms();
    int real = r->rt->embedded->read_txn_offsets; /* the mock keeps no transaction's offsets */
    txn_commit(r);
    if (real && parts->cnt)
        eg_fence_departed(r->rt, r->consumer, r->group, parts, eg_txn_id(r->txn), FENCE_TIMEOUT_MS);
    rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_copy(parts);
    int known = parts->cnt && read_committed_offsets(r, at) == 0;
    for (int i = 0; i < at->cnt; i++) {
        rd_kafka_topic_partition_t *p = &at->elems[i];
        int ok = known && !p->err;
        eg_ledger_assign(r->ledger, p->partition, ok ? p->offset : -1, ok ? p->metadata : NULL,
                         ok ? p->metadata_size : 0);
        if (real && known && eg_ledger_start(r->ledger, p->partition) < 0) {
            int64_t o = reset_offset(r, p->partition);
            if (o >= 0)
                eg_ledger_set_start(r->ledger, p->partition, o);
        }
        p->offset = eg_ledger_start(r->ledger, p->partition);
        if (p->offset < 0)
            p->offset = RD_KAFKA_OFFSET_INVALID; /* the consumer looks it up */
    }
    if (real && known && txn_begin(r) == 0 && txn_commit(r) == 0)
        EG_LOG_INFO("router", "claimed %d partition(s) in %.0f ms", parts->cnt,
                    (double)(eg_time_mono_ms() - t0));
    if (eg_ledger_held(r->ledger))
        EG_LOG_INFO("router", "%zu event(s) of these partitions wait for their pool's topic",
                    eg_ledger_held(r->ledger));
    eg_kafka_rebalance_apply(r->consumer, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, at, "router");
    rd_kafka_topic_partition_list_destroy(at);
    eg_metric_set(r->held, NULL, (double)eg_ledger_held(r->ledger));
}

static void doze_apply(eg_router_t *r, int pause);

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    eg_router_t *r = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        r->ever_assigned = 1;
        EG_LOG_INFO("router", "assigned %d partition(s)", parts->cnt);
        take_partitions(r, parts);
        eg_backlog_consumer_assigned(r->rt->backlog, rk, r->rt->topics.events);
        return;
    }
    /* Revoked: what was routed so far is committed with its offsets first;
     * lost (the group moved on without this member), it cannot be: the
     * group refuses the offsets, so it is aborted at once. */
    if (rd_kafka_assignment_lost(rk))
        txn_abort(r);
    else
        txn_commit(r);
    EG_LOG_INFO("router", "%s %d partition(s)", rd_kafka_assignment_lost(rk) ? "lost" : "revoked",
                parts->cnt);
    /* Wakes up first. librdkafka (2.0) keeps a partition paused through
     * unassign and a later assign, and a fetch window opened while it was
     * away would find nothing to resume: a partition revoked while dozing
     * would never fetch again once assigned back. Still assigned here, the
     * paused ones are all resumed. Partitions stopped at a held record are
     * resumed too, for the same reason. */
    doze_apply(r, 0);
    eg_doze_record(&r->doze, eg_time_mono_ms());
    rd_kafka_topic_partition_list_t *stopped = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        if (eg_ledger_stopped(r->ledger, parts->elems[i].partition))
            rd_kafka_topic_partition_list_add(stopped, parts->elems[i].topic,
                                              parts->elems[i].partition);
        eg_ledger_revoke(r->ledger, parts->elems[i].partition);
    }
    if (stopped->cnt)
        rd_kafka_resume_partitions(rk, stopped);
    rd_kafka_topic_partition_list_destroy(stopped);
    eg_kafka_rebalance_apply(rk, err, parts, "router");
    eg_backlog_consumer_assigned(r->rt->backlog, rk, r->rt->topics.events);
    eg_metric_set(r->held, NULL, (double)eg_ledger_held(r->ledger));
}

/* ---- held events ---- */

/* A record the ledger cannot hold more of: the partition stops at it (read
 * again from there once a pool's topic is back). */
static void stop_partition(eg_router_t *r, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset;
    rd_kafka_pause_partitions(r->consumer, l);
    rd_kafka_error_t *e = rd_kafka_seek_partitions(r->consumer, l, 10000);
    if (e)
        rd_kafka_error_destroy(e);
    rd_kafka_topic_partition_list_destroy(l);
    EG_LOG_WARN("router",
                "%s[%" PRId32 "] holds %d events for their pools' topics: it stops at offset "
                "%" PRId64 " until a topic can be created",
                rd_kafka_topic_name(m->rkt), m->partition, EG_LEDGER_MAX_HELD, m->offset);
}

/* A pool's topic can be written to now: the partitions holding events are
 * read again from their oldest held one (the records between are skipped),
 * and those stopped are resumed. */
static void read_held_again(eg_router_t *r)
{
    rd_kafka_topic_partition_list_t *stopped = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_t *assigned = NULL;
    if (rd_kafka_assignment(r->consumer, &assigned) == 0 && assigned) {
        for (int i = 0; i < assigned->cnt; i++)
            if (eg_ledger_stopped(r->ledger, assigned->elems[i].partition))
                rd_kafka_topic_partition_list_add(stopped, assigned->elems[i].topic,
                                                  assigned->elems[i].partition);
        rd_kafka_topic_partition_list_destroy(assigned);
    }
    rd_kafka_topic_partition_list_t *to = eg_ledger_retry(r->ledger);
    if (to) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(r->consumer, to, 10000);
        if (e) {
            EG_LOG_ERROR("router", "reading held events again: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        rd_kafka_topic_partition_list_destroy(to);
    }
    if (stopped->cnt)
        rd_kafka_resume_partitions(r->consumer, stopped);
    rd_kafka_topic_partition_list_destroy(stopped);
}

/* May held events be routed now? When a pool's topic became ready, or the
 * configuration changed (a function moved to another pool, a subscription
 * went away): at most once a second for the latter. */
static int held_routable(eg_router_t *r)
{
    if (eg_pools_retry(r->pools) > 0)
        return 1;
    int64_t pos = eg_configlog_position(r->rt->config), now = eg_time_mono_ms();
    if (pos == r->config_seen || now - r->reread_ms < 1000)
        return 0;
    r->config_seen = pos;
    if (!eg_ledger_held(r->ledger))
        return 0;
    r->reread_ms = now;
    EG_LOG_INFO("router", "the configuration changed: reading %zu held event(s) again",
                eg_ledger_held(r->ledger));
    return 1;
}

/* One record of the events topic: routed, skipped (routed before), or held. */
static void take_record(eg_router_t *r, const rd_kafka_message_t *m)
{
    if (eg_ledger_consumed(r->ledger, m->partition, m->offset) == EG_LEDGER_SKIP)
        return;
    if (txn_begin(r)) {
        rewind_ledger(r); /* no transaction to route it in: read it again */
        return;
    }
    int rc = eg__router_route(r, m);
    if (rc == ROUTE_HELD) {
        if (eg_ledger_hold(r->ledger, m->partition, m->offset))
            stop_partition(r, m);
    } else if (rc) {
        txn_abort(r);
    }
}

/* ---- consumer ---- */

/* Pauses every assigned partition, or resumes those it paused (only those:
 * librdkafka 2.0 may rewind a partition resumed without a pause), for the
 * idle duty cycle. */
static void doze_apply(eg_router_t *r, int pause)
{
    r->doze.paused = pause;
    if (pause && !r->dozed) {
        if (rd_kafka_assignment(r->consumer, &r->dozed) == 0 && r->dozed)
            rd_kafka_pause_partitions(r->consumer, r->dozed);
    } else if (!pause && r->dozed) {
        /* those still assigned (a rebalance may have moved some meanwhile) */
        rd_kafka_topic_partition_list_t *now = NULL, *back = NULL;
        if (rd_kafka_assignment(r->consumer, &now) == 0 && now) {
            back = rd_kafka_topic_partition_list_new(now->cnt);
            for (int i = 0; i < r->dozed->cnt; i++)
                if (rd_kafka_topic_partition_list_find(now, r->dozed->elems[i].topic,
                                                       r->dozed->elems[i].partition) &&
                    !eg_ledger_stopped(r->ledger, r->dozed->elems[i].partition))
                    rd_kafka_topic_partition_list_add(back, r->dozed->elems[i].topic,
                                                      r->dozed->elems[i].partition);
            rd_kafka_topic_partition_list_destroy(now);
        }
        if (back && back->cnt) {
            rd_kafka_resume_partitions(r->consumer, back);
            eg_kafka_nudge(r->consumer, back->elems[0].topic, back->elems[0].partition,
                           NUDGE_TIMEOUT_MS);
        }
        if (back)
            rd_kafka_topic_partition_list_destroy(back);
        rd_kafka_topic_partition_list_destroy(r->dozed);
        r->dozed = NULL;
    }
}

/* eg_runtime_wake's callback (the ingress's thread): a dozing router wakes
 * now rather than at its next fetch window. */
static void router_wake(void *arg)
{
    eg_router_t *r = arg;
    if (atomic_load(&r->dozing) && !atomic_exchange(&r->wake, 1))
        rd_kafka_queue_yield(r->cq);
}

static void *router_main(void *arg)
{
    eg_router_t *r = arg;
    int64_t lag_due = 0;
    /* Routing needs the whole configuration: an event matched against part
     * of it would be committed with part of its fan-out (or none). Polling
     * waits, so no partition is taken before. */
    while (!atomic_load(&r->stop) && eg_configlog_wait_ready(r->rt->config, 200))
        ;
    while (!atomic_load(&r->stop) && !eg_txn_failed(r->txn)) {
        eg_runtime_report_lag(r->rt, r->consumer, "router", r->rt->topics.events, &lag_due);
        if (held_routable(r)) {
            txn_commit(r); /* the read positions it rewinds are the committed ones */
            read_held_again(r);
        }
        int64_t now = eg_time_mono_ms(), due = now + 100;
        if (eg_txn_open(r->txn)) /* the commit below is due then */
            due = r->txn_records ? now + 2 : r->txn_started_ms + OFFSETS_ONLY_MAX_MS;
        if (atomic_exchange(&r->wake, 0))
            eg_doze_record(&r->doze, now);
        int doze = eg_doze_paused(&r->doze, now, r->dozed ? r->dozed->cnt : 0, &due);
        eg_runtime_doze_state(r->rt, &r->dozing, r->doze.dozing);
        /* On the embedded broker, the fan-out waits (its partitions paused
         * like a doze's) while an invocation topic is too full: the events
         * wait in the events topic, where the ingress sees them. */
        if (eg_backlog_downstream_full(r->rt->backlog)) {
            doze = 1;
            if (due > now + HOLD_RECHECK_MS)
                due = now + HOLD_RECHECK_MS;
        }
        if (doze != r->doze.paused)
            doze_apply(r, doze);
        rd_kafka_message_t *m =
            rd_kafka_consumer_poll(r->consumer, due > now ? (int)(due - now) : 0);
        rd_kafka_poll(r->sync_producer, 0); /* their delivery reports */
        /* its errors are logged as they come (a broker refusing connections),
         * and on the embedded broker its delivery reports count the backlog */
        if (eg_txn_producer(r->txn))
            rd_kafka_poll(eg_txn_producer(r->txn), 0);
        if (m) {
            if (!m->err) {
                eg_doze_record(&r->doze, eg_time_mono_ms());
                eg_backlog_taken(r->rt->backlog, m);
            } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                eg_doze_eof(&r->doze);
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    EG_LOG_WARN("router", "events topic: %s", rd_kafka_message_errstr(m));
            } else {
                take_record(r, m);
            }
            rd_kafka_message_destroy(m);
        }
        /* A transaction that wrote records is committed when the consumer
         * has nothing more for a moment (the fan-out becomes visible then).
         * One that wrote nothing carries only offsets (its records were sync
         * requests, whose invocations went out at once, or held): it waits
         * for records to write or for OFFSETS_ONLY_MAX_MS, since a commit
         * holds this thread for several round trips to the coordinators, and
         * a sync request read meanwhile would wait for them. */
        int64_t open_ms = eg_time_mono_ms() - r->txn_started_ms;
        if (eg_txn_open(r->txn) &&
            (r->txn_records ? !m || r->txn_records >= BATCH_MAX || open_ms >= BATCH_MAX_MS
                            : open_ms >= OFFSETS_ONLY_MAX_MS))
            txn_commit(r);
    }
    txn_commit(r);
    doze_apply(r, 0); /* the consumer closes with its partitions resumed */
    return NULL;
}

static void router_stop(void *p)
{
    eg_router_t *r = p;
    if (!r)
        return;
    /* first: the replayer uses the configuration, not the router's clients */
    eg_replayer_stop(r->replayer);
    r->replayer = NULL;
    if (r->waker)
        eg_runtime_remove_waker(r->rt, router_wake, r);
    atomic_store(&r->stop, 1);
    if (r->thread_started)
        pthread_join(r->thread, NULL);
    eg_runtime_doze_state(r->rt, &r->dozing, 0);
    if (r->consumer) {
        eg_kafka_consumer_leave(r->consumer, EG_KAFKA_LEAVE_MS);
        eg_kafka_consumer_destroy(r->consumer, r->ever_assigned);
    }
    eg_txn_free(r->txn);
    if (r->sync_producer) {
        rd_kafka_flush(r->sync_producer, 5000);
        rd_kafka_destroy(r->sync_producer);
    }
    if (r->dozed)
        rd_kafka_topic_partition_list_destroy(r->dozed);
    if (r->cq)
        rd_kafka_queue_destroy(r->cq);
    eg_pools_free(r->pools);
    eg_ledger_free(r->ledger);
    eg_cesql_scratch_free(r->cesql);
    free(r->sync_sent);
    free(r);
}

static void *router_start(eg_runtime_t *rt, char *err, size_t errlen)
{
    const eg_settings_t *s = rt->settings;
    eg_router_t *r = eg_xcalloc(1, sizeof *r);
    rd_kafka_conf_t *pc = NULL;
    char txid[400], fetch_wait[16];
    r->rt = rt;
    r->ledger = eg_ledger_new(rt->topics.events);
    r->cesql = eg_cesql_scratch_new();
    r->held = eg_metrics_family(rt->metrics, "eventgateway_events_held",
                                "Events the router holds in the events topic until their pool's "
                                "invocation topic can be created.",
                                EG_METRIC_GAUGE, NULL, NULL, 0);
    eg_metric_set(r->held, NULL, 0);
    snprintf(r->group, sizeof r->group, "%srouter", s->topic_prefix);
    int wait_ms = eg_embedded_auto(s->sync_fetch_wait_ms, rt->embedded->sync_fetch_wait_ms);
    snprintf(fetch_wait, sizeof fetch_wait, "%d", wait_ms);
    eg_doze_init(&r->doze, eg_embedded_auto(s->idle_probe_ms, rt->embedded->idle_probe_ms),
                 eg_time_mono_ms());
    snprintf(txid, sizeof txid, "%srouter-%s", s->topic_prefix, eg_configlog_instance(rt->config));

    const eg_kafka_prop_t cprops[] = {
        EG_KAFKA_FIXED("isolation.level", "read_committed"),
        /* What it reads ahead, 16 MiB: librdkafka's 64 MiB only grows the
         * router's memory on a backlog, not its rate. */
        EG_KAFKA_DEFAULT("queued.max.messages.kbytes", "16384"),
        /* The events topic is on the sync path: the embedded broker answers a
         * fetch only when this runs out, so it is that hop's latency there
         * (--sync-fetch-wait-ms, 1 ms; the consumer dozes when idle, see
         * eg_doze.h). A real broker answers as soon as data arrives: there
         * it only bounds how often an idle consumer asks (100 ms). */
        EG_KAFKA_DEFAULT("fetch.wait.max.ms", fetch_wait),
        /* the fetch windows of a dozing consumer close on these */
        EG_KAFKA_FIXED("enable.partition.eof", r->doze.probe_ms ? "true" : NULL),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t cspec = {.type = RD_KAFKA_CONSUMER,
                                   .name = "router consumer",
                                   .profile = EG_KAFKA_GROUP_CONSUMER,
                                   .group = r->group,
                                   .props = cprops,
                                   .opaque = r,
                                   .rebalance_cb = on_rebalance};
    if (!(r->consumer = eg_kafka_client_new(s, rt->brokers, &cspec, err, errlen)))
        goto fail;

    const eg_kafka_prop_t pprops[] = {
        EG_KAFKA_FIXED("transactional.id", txid),
        EG_KAFKA_DEFAULT("linger.ms", "5"),
        /* A fan-out writes one event many times: compressed, a batch of
         * its invocations costs the broker about one copy. */
        EG_KAFKA_DEFAULT("compression.type", "lz4"),
        /* A transaction's calls wait for these retries: Kafka answers
         * CONCURRENT_TRANSACTIONS to the offsets of a transaction begun while
         * the last one's markers are still being written, for a few ms. */
        EG_KAFKA_DEFAULT("retry.backoff.ms", "10"),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t pspec = {.type = RD_KAFKA_PRODUCER,
                                   .name = "router producer",
                                   .props = pprops,
                                   .opaque = r,
                                   .dr_msg_cb = rt->backlog ? eg__router_on_delivery : NULL};
    if (!(pc = eg_kafka_client_conf(s, rt->brokers, &pspec, err, errlen)))
        goto fail;
    r->txn = eg_txn_new(rt, pc, &r->stop, INIT_TIMEOUT_MS, err, errlen);
    pc = NULL;
    if (!r->txn)
        goto fail;
    static const eg_kafka_prop_t srows[] = {
        EG_KAFKA_FIXED("enable.idempotence", "true"),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t sspec = {.type = RD_KAFKA_PRODUCER,
                                   .name = "router sync producer",
                                   .profile = EG_KAFKA_SYNC_PRODUCER,
                                   .props = srows,
                                   .opaque = r,
                                   .dr_msg_cb = eg__router_on_sync_delivery};
    if (!(r->sync_producer = eg_kafka_client_new(s, rt->brokers, &sspec, err, errlen)))
        goto fail;
    r->pools = eg_pools_new(rt, r->sync_producer);

    eg_backlog_watch(rt->backlog, rt->topics.events);
    if (eg_kafka_subscribe_one(r->consumer, rt->topics.events, err, errlen))
        goto fail;
    r->cq = rd_kafka_queue_get_consumer(r->consumer);
    if (pthread_create(&r->thread, NULL, router_main, r)) {
        snprintf(err, errlen, "cannot start the router thread");
        goto fail;
    }
    r->thread_started = 1;
    r->waker = r->doze.probe_ms && r->cq && eg_runtime_add_waker(rt, router_wake, r) == 0;
    if (s->run_replays && !(r->replayer = eg_replayer_start(rt, err, errlen)))
        goto fail;
    EG_LOG_INFO("router", "routing %s (group %s, transactional id %s)", rt->topics.events, r->group,
                txid);
    return r;
fail:
    if (pc)
        rd_kafka_conf_destroy(pc);
    router_stop(r);
    return NULL;
}

const eg_role_ops_t eg_router_role = {"router", router_start, router_stop};
