/*
 * Fencing the transactions of routers that are gone; see fence.h. Runs on
 * the router's thread, in its rebalance callback, with Admin API requests on
 * the consumer's own handle and one short-lived producer per id fenced.
 */
#include "fence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_log.h"
#include "eg_kafka_client.h"
#include "eg_time.h"
#include "ledger.h"

#define MAX_OWNERS 64

typedef struct owner {
    char txid[512];
    char member[512];
} owner_t;

static int remaining(int64_t deadline)
{
    int64_t left = deadline - eg_time_mono_ms();
    return left > 1 ? (int)left : 1;
}

/* Waits for the result of an Admin request on q; NULL on timeout. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, int64_t deadline, const char *what)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, remaining(deadline));
    if (!ev)
        EG_LOG_WARN("router", "%s: no answer in time", what);
    else if (rd_kafka_event_error(ev)) {
        EG_LOG_WARN("router", "%s: %s", what, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        ev = NULL;
    }
    return ev;
}

static rd_kafka_AdminOptions_t *options(rd_kafka_t *rk, rd_kafka_admin_op_t op, int64_t deadline)
{
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    char e[256];
    if (o)
        rd_kafka_AdminOptions_set_request_timeout(o, remaining(deadline), e, sizeof e);
    return o;
}

/* The last committers of parts other than own_txid, without duplicates.
 * Their number, or -1. */
static int committers(rd_kafka_t *rk, const char *group,
                      const rd_kafka_topic_partition_list_t *parts, const char *own_txid,
                      owner_t *out, int max, int64_t deadline)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, deadline);
    rd_kafka_error_t *e = o ? rd_kafka_AdminOptions_set_require_stable_offsets(o, 0) : NULL;
    if (e)
        rd_kafka_error_destroy(e);
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, parts);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, o, q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    int n = -1;
    rd_kafka_event_t *ev = admin_wait(q, deadline, "reading the partitions' last committers");
    if (ev) {
        size_t cnt = 0;
        const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
            rd_kafka_event_ListConsumerGroupOffsets_result(ev), &cnt);
        const rd_kafka_topic_partition_list_t *got = cnt == 1 && !rd_kafka_group_result_error(gr[0])
                                                         ? rd_kafka_group_result_partitions(gr[0])
                                                         : NULL;
        if (!got)
            EG_LOG_WARN("router", "reading the partitions' last committers: %s",
                        cnt == 1 ? rd_kafka_error_string(rd_kafka_group_result_error(gr[0]))
                                 : "no result");
        if (got)
            n = 0;
        for (int i = 0; got && i < got->cnt; i++) {
            const rd_kafka_topic_partition_t *p = &got->elems[i];
            owner_t w;
            if (p->err || !p->metadata ||
                eg_ledger_meta_owner(p->metadata, p->metadata_size, w.txid, sizeof w.txid, w.member,
                                     sizeof w.member) ||
                !strcmp(w.txid, own_txid))
                continue;
            int k = 0;
            while (k < n && strcmp(out[k].txid, w.txid))
                k++;
            if (k == n && n < max)
                out[n++] = w;
        }
        rd_kafka_event_destroy(ev);
    }
    if (o)
        rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return n;
}

/* Marks each owner whose member is still in the group (member[0] = '\0'
 * for those to keep). 0, or -1 when the group could not be described. */
static int drop_members(rd_kafka_t *rk, const char *group, owner_t *ow, int n, int64_t deadline)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, deadline);
    const char *groups[] = {group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, o, q);
    int rc = -1;
    rd_kafka_event_t *ev = admin_wait(q, deadline, "describing the router group");
    if (ev) {
        size_t cnt = 0;
        const rd_kafka_ConsumerGroupDescription_t **d =
            rd_kafka_DescribeConsumerGroups_result_groups(
                rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);
        if (cnt == 1 && !rd_kafka_ConsumerGroupDescription_error(d[0])) {
            size_t members = rd_kafka_ConsumerGroupDescription_member_count(d[0]);
            for (size_t m = 0; m < members; m++) {
                const char *id = rd_kafka_MemberDescription_consumer_id(
                    rd_kafka_ConsumerGroupDescription_member(d[0], m));
                for (int k = 0; k < n && id; k++)
                    if (!strcmp(ow[k].member, id))
                        ow[k].member[0] = '\0';
            }
            rc = 0;
        } else {
            EG_LOG_WARN("router", "describing the router group: %s",
                        cnt == 1
                            ? rd_kafka_error_string(rd_kafka_ConsumerGroupDescription_error(d[0]))
                            : "no result");
        }
        rd_kafka_event_destroy(ev);
    }
    if (o)
        rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

/* Initialises a producer with the transactional id: Kafka aborts (or
 * completes) the transaction the id has open and fences its producer. */
static int fence_one(eg_runtime_t *rt, const char *txid, int64_t deadline)
{
    char err[512];
    const eg_kafka_prop_t rows[] = {EG_KAFKA_FIXED("transactional.id", txid), {NULL, NULL, 0}};
    const eg_kafka_spec_t spec = {
        .type = RD_KAFKA_PRODUCER, .name = "fencing producer", .props = rows};
    rd_kafka_t *rk = eg_kafka_client_new(rt->settings, rt->brokers, &spec, err, sizeof err);
    if (!rk) {
        EG_LOG_WARN("router", "fencing %s: %s", txid, err);
        return -1;
    }
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, remaining(deadline));
    int rc = 0;
    if (e) {
        EG_LOG_WARN("router", "fencing %s: %s", txid, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rc = -1;
    }
    rd_kafka_destroy(rk);
    return rc;
}

int eg_fence_departed(eg_runtime_t *rt, rd_kafka_t *consumer, const char *group,
                      const rd_kafka_topic_partition_list_t *parts, const char *own_txid,
                      int timeout_ms)
{
    int64_t start = eg_time_mono_ms(), deadline = start + timeout_ms;
    owner_t *ow = eg_xcalloc(MAX_OWNERS, sizeof *ow);
    int fenced = -1;
    int n = committers(consumer, group, parts, own_txid, ow, MAX_OWNERS, deadline);
    if (n <= 0 || drop_members(consumer, group, ow, n, deadline)) {
        fenced = n == 0 ? 0 : -1;
        goto out;
    }
    fenced = 0;
    for (int k = 0; k < n; k++) {
        if (!ow[k].member[0])
            continue; /* a member still: it committed before it gave the partition up */
        if (fence_one(rt, ow[k].txid, deadline) == 0) {
            fenced++;
            EG_LOG_INFO("router",
                        "fenced transactional id %s (member %s left the group): what it left "
                        "open is aborted (%.0f ms)",
                        ow[k].txid, ow[k].member, (double)(eg_time_mono_ms() - start));
        }
    }
out:
    free(ow);
    return fenced;
}
