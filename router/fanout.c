/*
 * fanout.c: one record of the events topic routed (eg__router_route): its
 * invocations into the open transaction, a sync request's invocation at
 * once through the sync producer (once per process: sync_sent), and a
 * record that is not an event to the dead-letter topic with the reason.
 * router.c says why the fan-out is transactional and sync requests are not.
 */
#include "router_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_deadletter.h"
#include "eg_event.h"
#include "eg_event_attr.h"
#include "eg_kafka_hdr.h"
#include "eg_log.h"
#include "eg_reply.h"
#include "eg_route.h"
#include "eg_time.h"

/* Produces to the open transaction, or (sync) through the sync producer. */
static int produce(eg_router_t *r, int sync, const char *topic, const void *key, size_t klen,
                   const void *val, size_t vlen, rd_kafka_headers_t *hdrs)
{
    if (!sync) {
        if (eg_txn_produce(r->txn, topic, key, klen, val, vlen, hdrs))
            return -1;
        r->txn_records++;
        return 0;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        r->sync_producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
        RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(hdrs);
        EG_LOG_ERROR("router", "producing to %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

void eg__router_on_sync_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    eg_router_t *r = opaque;
    if (m->err)
        EG_LOG_WARN("router", "a sync invocation to %s was not stored: %s (its client gets 504)",
                    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    else
        eg_backlog_produced(r->rt->backlog, m);
}

/* The fan-out's delivery reports, on a mock cluster only: the invokers'
 * backlog is counted from them (eg_backlog.h). */
void eg__router_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    eg_router_t *r = opaque;
    if (!m->err)
        eg_backlog_produced(r->rt->backlog, m);
}

/* Was the sync invocation (or error reply) of record m sent already, by this
 * process, before an abort made the router read it again? */
static int sync_sent_before(const eg_router_t *r, const rd_kafka_message_t *m)
{
    return m->partition >= 0 && m->partition < r->sync_sent_n &&
           m->offset <= r->sync_sent[m->partition];
}

/* Remembers that the sync invocation (or error reply) of m went out. */
static void sync_sent_mark(eg_router_t *r, const rd_kafka_message_t *m)
{
    if (m->partition < 0)
        return;
    if (m->partition >= r->sync_sent_n) {
        int32_t n = m->partition + 1 > 2 * r->sync_sent_n ? m->partition + 1 : 2 * r->sync_sent_n;
        int64_t *a = eg_xrealloc(r->sync_sent, (size_t)n * sizeof *a);
        for (int32_t i = r->sync_sent_n; i < n; i++)
            a[i] = -1;
        r->sync_sent = a;
        r->sync_sent_n = n;
    }
    if (m->offset > r->sync_sent[m->partition])
        r->sync_sent[m->partition] = m->offset;
}

/* A dead letter for record m; with_event: the record's value in it. */
static int dead_letter_of(eg_router_t *r, const rd_kafka_message_t *m, const char *reason,
                          int with_event)
{
    eg_deadletter_t d = {
        .last_error = reason,
        .failed_at_ms = eg_time_now_ms(),
        .topic = rd_kafka_topic_name(m->rkt),
        .partition = m->partition,
        .offset = m->offset,
        .event = with_event ? m->payload : NULL,
        .event_len = with_event && m->payload ? m->len : 0,
    };
    char *s = eg_deadletter_json(&d);
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    eg_route_add_header(h, EG_HDR_CONTENT_TYPE, "application/json");
    int rc = produce(r, 0, r->rt->topics.dlq, m->key, m->key_len, s, strlen(s), h);
    free(s);
    EG_LOG_WARN("router", "record %s[%" PRId32 "]@%" PRId64 " dead-lettered: %s",
                rd_kafka_topic_name(m->rkt), m->partition, m->offset, reason);
    eg_metric_add(r->rt->mx.dead_letters, (const char *const[]){"", ""}, 1);
    return rc;
}

static int dead_letter(eg_router_t *r, const rd_kafka_message_t *m, const char *reason)
{
    return dead_letter_of(r, m, reason, 1);
}

static int dead_letter_bare(eg_router_t *r, const rd_kafka_message_t *m, const char *reason)
{
    return dead_letter_of(r, m, reason, 0);
}

/* Does the event pass the subscription's filters? Its attributes are read
 * from the record's structured JSON where it is (eg_event_text_attr). */
static int passes(eg_router_t *r, eg_event_text_attrs_t *attrs, const eg_sub_t *sub)
{
    if (!sub->filter && !sub->filter_bad)
        return 1;
    return eg_sub_passes(sub, eg_event_text_attr, attrs, r->cesql);
}

int eg__router_route(eg_router_t *r, const rd_kafka_message_t *m)
{
    eg_route_input_t in;
    eg_error_t err = {0};
    int rd = eg_route_input_read(&in, m, &err);
    if (rd == -1)
        return dead_letter(r, m, err.message);
    if (rd)
        return -1;
    rd_kafka_headers_t *hin = in.hdrs;
    const char *space = in.space, *type = in.type, *eid = in.eid;

    /* Most events match a few subscriptions: their targets stay on the
     * stack; a larger fan-out takes the heap. */
    struct target {
        const char *topic; /* a pool's topic name, interned below */
        char sub[EG_MAX_ID + 1];
        char fn[EG_MAX_NAME + 1];
        int sync;
    } stack_targets[4], *targets = stack_targets;
    size_t nt = 0;

    /* A sync request: the ingress named the subscription that answers it
     * and where the answer goes. Past its deadline nobody waits. */
    char sync_sub[EG_MAX_ID + 1] = "", reply_to[512] = "", corr[128] = "", deadline[32] = "";
    if (eg_kafka_header(hin, EG_HDR_SYNC_SUBSCRIPTION, sync_sub, sizeof sync_sub) > 0 &&
        (eg_kafka_header(hin, EG_HDR_REPLY_TO, reply_to, sizeof reply_to) <= 0 ||
         eg_kafka_header(hin, EG_HDR_CORRELATION, corr, sizeof corr) <= 0 ||
         eg_kafka_header(hin, EG_HDR_DEADLINE, deadline, sizeof deadline) <= 0 ||
         strtoll(deadline, NULL, 10) <= eg_time_now_ms() || sync_sent_before(r, m)))
        sync_sub[0] = '\0';
    const char *sync_error = NULL;
    int held = 0;
    const eg_sub_t *subs[EG_ROUTE_MAX_FANOUT];
    eg_path_param_t params[64];
    size_t np = 0;
    const eg_config_t *cfg = eg_configlog_read_begin(r->rt->config);
    size_t n = eg_config_match(cfg, space, type, in.method, in.path, subs, EG_ROUTE_MAX_FANOUT,
                               params, 64, &np);
    /* The metric's labels: anyone may write to the events topic, and made-up
     * spaces and types would crowd the series cap. */
    int known_space = eg_config_space_known(cfg, space);
    const char *label_space = known_space ? space : EG_METRICS_OTHER_SPACE;
    const char *label_type = known_space && eg_config_peek(cfg, EG_KIND_EVENTTYPE, space, type)
                                 ? type
                                 : EG_METRICS_OTHER_SPACE;
    if (n > EG_ROUTE_MAX_FANOUT) {
        EG_LOG_WARN("router", "event %s matches %zu subscriptions; routing the first %d", eid, n,
                    EG_ROUTE_MAX_FANOUT);
        n = EG_ROUTE_MAX_FANOUT;
    }
    if (n + 1 > sizeof stack_targets / sizeof stack_targets[0])
        targets = eg_xmalloc((n + 1) * sizeof *targets);
    eg_event_text_attrs_t attrs = {.json = in.val, .len = in.vlen};
    size_t filtered = 0; /* async subscriptions whose filters the event did not pass */
    for (size_t i = 0; i <= n; i++) {
        const eg_sub_t *sub = i < n ? subs[i] : NULL;
        if (i == n) { /* the sync subscription, if any, comes last */
            if (!sync_sub[0])
                break;
            const cJSON *o = eg_config_peek(cfg, EG_KIND_SUBSCRIPTION, space, sync_sub);
            for (size_t k = 0; k < n && o; k++)
                if (subs[k]->obj == o)
                    sub = subs[k];
            if (!sub || !sub->sync) {
                sync_error = "the sync subscription no longer matches the event";
                break;
            }
        } else if (sub->sync) {
            continue;
        } else if (!passes(r, &attrs, sub)) {
            filtered++;
            continue;
        }
        int ready = 0;
        targets[nt].sync = sub->sync;
        targets[nt].topic =
            eg_pools_topic(r->pools, eg_route_pool(cfg, space, sub->fn), sub->sync, &ready);
        if (!ready && sub->sync) {
            sync_error = "the function's invocation topic cannot be created";
        } else if (!ready) {
            held = 1; /* nothing of the event is routed now */
        } else {
            snprintf(targets[nt].sub, sizeof targets[nt].sub, "%s", sub->id);
            snprintf(targets[nt].fn, sizeof targets[nt].fn, "%s", sub->fn);
            nt++;
        }
    }
    eg_configlog_read_end(r->rt->config);
    eg_event_text_attrs_release(&attrs);
    if (held) {
        if (targets != stack_targets)
            free(targets);
        eg_route_input_release(&in);
        return ROUTE_HELD;
    }

    int rc = 0;
    char source[400];
    eg_route_source(source, sizeof source, m, NULL);
    for (size_t i = 0; i < nt && rc == 0; i++) {
        rd_kafka_headers_t *h =
            eg_route_invocation_headers(&in, source, NULL, targets[i].sub, targets[i].fn);
        if (targets[i].sync) {
            eg_route_add_header(h, EG_HDR_REPLY_TO, reply_to);
            eg_route_add_header(h, EG_HDR_CORRELATION, corr);
            eg_route_add_header(h, EG_HDR_DEADLINE, deadline);
        }
        size_t size = m->key_len + in.vlen + eg_route_headers_size(h);
        if (size > r->rt->max_record) {
            /* Kafka would refuse it, the transaction would abort, and the
             * partition would read it again for ever: a dead letter instead,
             * without the event (which is what is too large). */
            rd_kafka_headers_destroy(h);
            char why[2 * EG_MAX_ID + 256];
            snprintf(why, sizeof why,
                     "the invocation of subscription %s would be a record of %zu bytes, more than "
                     "the %zu the invocation topic takes (event %s)",
                     targets[i].sub, size, r->rt->max_record, eid);
            rc = dead_letter_bare(r, m, why);
            continue;
        }
        rc = produce(r, targets[i].sync, targets[i].topic, m->key, m->key_len, in.val, in.vlen, h);
        if (rc == 0 && targets[i].sync)
            sync_sent_mark(r, m);
    }
    if (sync_error && rc == 0) {
        /* The waiting client learns at once instead of timing out. */
        eg_reply_t reply = {.correlation = corr, .ok = 0, .error = (char *)sync_error};
        char *v = eg_reply_encode(&reply);
        rd_kafka_headers_t *h = rd_kafka_headers_new(1);
        eg_route_add_header(h, EG_HDR_CORRELATION, corr);
        /* keyed by correlation id, as the invokers' replies: the ingress
         * reads every partition of its reply topic */
        rc = v ? produce(r, 1, reply_to, corr, strlen(corr), v, strlen(v), h) : -1;
        if (!v)
            rd_kafka_headers_destroy(h);
        if (rc == 0)
            sync_sent_mark(r, m);
        free(v);
        EG_LOGF(EG_LOG_LEVEL_INFO, "router",
                ((eg_log_field_t[]){
                    {"event", eid}, {"space", space}, {"type", type}, {"subscription", sync_sub}}),
                4, "event %s: %s", eid, sync_error);
    }
    if (nt)
        EG_LOGF(EG_LOG_LEVEL_DEBUG, "router",
                ((eg_log_field_t[]){{"event", eid}, {"space", space}, {"type", type}}), 3,
                "event %s (%s) fanned out to %zu subscriptions", eid, type, nt);
    if (rc == 0)
        eg_metric_add(r->rt->mx.events_processed, (const char *const[]){label_space, label_type},
                      1);
    if (rc == 0 && filtered && !nt && !sync_sub[0])
        eg_metric_add(r->rt->mx.events_filtered, (const char *const[]){label_space, label_type}, 1);
    if (targets != stack_targets)
        free(targets);
    eg_route_input_release(&in);
    return rc;
}
