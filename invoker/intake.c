/*
 * intake.c: the records of an engine's input, from the consumer to the
 * commit. One record is one invocation (schemas/invocation-record.schema.json:
 * the body to send and the eg-* headers the router wrote, or the ingress for
 * an authorizer call, a sync invocation like any). Per assigned partition a
 * tracker (sched.c) holds the unfinished offsets (calling, waiting for a
 * retry, or for the delivery report of a dead letter, overflow record or
 * reply); the lowest is committed asynchronously every COMMIT_INTERVAL_MS and
 * synchronously on revoke and shutdown (auto commit and offset store off).
 * At least once: a record is finished only when its function took it or
 * Kafka has what it became, so a crash re-delivers what was not finished.
 *
 * Here too: the rebalance callbacks, the pausing of partitions (flow), and
 * the fairness shares that move a busy function's records to the overflow
 * topic.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_kafka_client.h"
#include "eg_kafka_hdr.h"
#include "eg_log.h"
#include "eg_time.h"
#include "invoker_int.h"

#define COMMIT_WAIT_MS 5000  /* longest wait for a synchronous commit (revocation) */
#define SPAN_PER_WINDOW 2048 /* tracker entries per window before a partition pauses */
#define MAX_HEADER 1024      /* longest eg-* header value taken */
#define NUDGE_TIMEOUT_MS 100 /* longest wait of eg_kafka_nudge */

/* ---- partitions ---- */

/* --partition-window, and what one function may hold of it under pressure
 * (share_take): an eighth, so that it takes the backlogs of several slow
 * functions in one partition to fill its window. */
static size_t window(const eg_invoker_t *r)
{
    return r->s->partition_window > 0 ? (size_t)r->s->partition_window : 512;
}

static size_t window_share(const eg_invoker_t *r)
{
    return window(r) / 8 > 0 ? window(r) / 8 : 1;
}

static part_t *part_find(src_t *s, const char *topic, int32_t partition)
{
    for (part_t *p = s->parts; p; p = p->next)
        if (p->partition == partition && !strcmp(p->topic, topic))
            return p;
    return NULL;
}

static void part_unref(part_t *p)
{
    if (--p->refs > 0 || !p->revoked)
        return;
    eg__offtrack_free(p->track);
    eg__shares_free(p->shares);
    free(p->topic);
    free(p);
}

static part_t *part_new(src_t *s, const char *topic, int32_t partition)
{
    part_t *p = eg_xcalloc(1, sizeof *p);
    if (s->r->shares)
        p->shares = eg__shares_new();
    p->topic = eg_xstrdup(topic);
    p->track = eg__offtrack_new();
    p->src = s;
    p->partition = partition;
    p->committed = -1;
    p->refs = 1; /* the assignment's */
    p->next = s->parts;
    s->parts = p;
    return p;
}

/* ---- invocations ---- */

void eg_intake_inv_free(eg_invoker_t *r, inv_t *i)
{
    if (i->state == INV_CALLING)
        eg_attempt_calling(r, 0);
    if (i->state == INV_QUEUED)
        eg_attempt_queue_unlink(r, i);
    if (i->state == INV_DLQ)
        r->ndlq--;
    if (i->state == INV_OVERFLOW)
        r->noverflow--;
    if (i->state == INV_REPLY)
        r->nreply--;
    if (i->share) {
        eg__shares_put(r->shares, i->share);
        eg__shares_put(i->part->shares, i->share);
        free(i->share);
    }
    if (i->headers)
        rd_kafka_headers_destroy(i->headers);
    eg_attempt_release(r, i);
    eg__timer_heap_remove(&r->timers, &i->timer);
    if (i->prev)
        i->prev->next = i->next;
    else
        r->invs = i->next;
    if (i->next)
        i->next->prev = i->prev;
    r->ninv--;
    i->part->src->ninv--;
    part_unref(i->part);
    free(i->call.response);
    free(i->key);
    free(i->value);
    free(i->space);
    free(i->sub);
    free(i->fn);
    free(i->event_id);
    free(i->event_type);
    free(i->content_type);
    free(i->dlq_value);
    free(i->reply_to);
    free(i->correlation);
    free(i->reply_value);
    free(i);
}

/* The invocation is done with: its offset may be committed. */
void eg_intake_inv_finish(eg_invoker_t *r, inv_t *i)
{
    if (!i->part->revoked)
        eg__offtrack_finish(i->part->track, i->offset);
    eg_intake_inv_free(r, i);
}

/* ---- overflow ---- */

/* Fairness. The partitions of the async topic carry every tenant's records,
 * so a window or a budget filled by one slow (or failing, retried) function
 * would hold every other function's records back. The async engine keeps
 * count of the invocations of each function it works on, in all and in each
 * partition. Under pressure (the engine holds a quarter of its budget, or
 * the partition a quarter of its window) a function has a share: of the
 * engine, --max-inflight-per-function (256), of the partition, an eighth of
 * --partition-window (64). A record of a function that holds either whole
 * share is not worked on here but written as it is to the pool's overflow
 * topic (the dead-letter producer: idempotent, acks=all) and finished when
 * Kafka has it, so it holds a window slot for a round trip to Kafka, not for
 * a call. The overflow engine delivers those records like the async engine,
 * with a window and a budget of its own and no share: the slow functions
 * wait on each other there, not on the others. A share is counted per
 * function, not per subscription: what is slow is the function, whatever
 * event brought the call. */

/* The overflow topic refused the invocation: it is worked on here after all,
 * past its function's share (which bounds what one function holds of the
 * engine, not what the engine must do). */
void eg_intake_overflow_fall_back(eg_invoker_t *r, inv_t *i, const char *why)
{
    EG_LOGF(EG_LOG_LEVEL_WARN, COMP, INV_FIELDS(i), 4, "not moved to %s (%s): called from here",
            r->overflow_topic, why);
    r->noverflow--;
    i->state = INV_NEW;
    rd_kafka_headers_destroy(i->headers);
    i->headers = NULL;
    if (r->draining)
        i->state = INV_PARKED;
    else
        eg_attempt_begin(r, i);
}

void eg_intake_overflow_send(eg_invoker_t *r, inv_t *i)
{
    rd_kafka_headers_t *h = rd_kafka_headers_copy(i->headers);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        r->producer, RD_KAFKA_V_TOPIC(r->overflow_topic), RD_KAFKA_V_KEY(i->key, i->klen),
        RD_KAFKA_V_VALUE(i->value, i->call.body_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(i), RD_KAFKA_V_END);
    if (!e)
        return; /* the producer owns h */
    rd_kafka_headers_destroy(h);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        eg_engine_schedule(r, i, TK_OVERFLOW, eg_time_mono_ms() + DLQ_RESEND_MS);
    else
        eg_intake_overflow_fall_back(r, i, rd_kafka_err2str(e));
}

/* An async invocation of a function that holds its whole share of the
 * engine goes to the pool's overflow topic, as it is (key, value, headers),
 * for the overflow engine: the record finishes here when Kafka has it, so a
 * slow or failing function cannot fill the partitions' windows nor the
 * in-flight budget that other functions' records need. */
static void overflow(eg_invoker_t *r, inv_t *i, const rd_kafka_headers_t *h)
{
    if (eg_log_enabled(EG_LOG_LEVEL_DEBUG)) {
        EG_LOGF(EG_LOG_LEVEL_DEBUG, COMP, INV_FIELDS(i), 4,
                "moved to %s: the engine holds %zu of %zu, the partition %zu unfinished",
                r->overflow_topic, r->in.ninv, eg_attempt_budget(r),
                eg__offtrack_unfinished(i->part->track));
    }
    i->state = INV_OVERFLOW;
    r->noverflow++;
    i->headers = h ? rd_kafka_headers_copy(h) : rd_kafka_headers_new(0);
    eg_intake_overflow_send(r, i);
}

/* Takes a share of the invocation's function, of the engine and of the
 * partition's window: 0 when the function holds either whole already. A
 * share is only enforced under pressure, while the engine holds a quarter of
 * its budget or the partition a quarter of its window: with room to spare, a
 * burst of a fast function is no one's loss, and stays in its lane. */
static int share_take(eg_invoker_t *r, inv_t *i)
{
    size_t n = strlen(i->space) + strlen(i->fn) + 2;
    char *key = eg_xmalloc(n);
    snprintf(key, n, "%s\x1f%s", i->space, i->fn);
    size_t engine_cap =
        r->in.ninv >= eg_attempt_budget(r) / 4 ? (size_t)r->s->max_inflight_per_function : 0;
    size_t part_cap =
        eg__offtrack_unfinished(i->part->track) >= window(r) / 4 ? window_share(r) : 0;
    int engine = eg__shares_take(r->shares, key, engine_cap);
    int part = engine == 1 ? eg__shares_take(i->part->shares, key, part_cap) : 0;
    if (engine == 1 && part == 1) {
        i->share = key;
        return 1;
    }
    if (engine == 1)
        eg__shares_put(r->shares, key);
    free(key);
    return 0;
}

/* ---- records ---- */

static char *hdr_dup(rd_kafka_headers_t *h, const char *name)
{
    const void *v = NULL;
    size_t n = 0;
    if (!h || rd_kafka_header_get_last(h, name, &v, &n) || !v || !n || n > MAX_HEADER)
        return NULL;
    return eg_xstrndup(v, n);
}

/* 1 when this invocation was seen lately (and remembers it if not). */
static int seen_before(eg_invoker_t *r, rd_kafka_headers_t *h, const char *sub)
{
    char source[600], key[1800];
    if (!r->seen || !sub || eg_kafka_header(h, EG_HDR_SOURCE, source, sizeof source) <= 0)
        return 0;
    snprintf(key, sizeof key, "%s %s", source, sub);
    if (eg_map_get(r->seen, key))
        return 1;
    char *old = r->seen_ring[r->seen_head];
    if (old) {
        eg_map_del(r->seen, old);
        free(old);
    }
    r->seen_ring[r->seen_head] = eg_xstrdup(key);
    if (eg_map_put(r->seen, key, r->seen_ring[r->seen_head], NULL)) {
        free(r->seen_ring[r->seen_head]);
        r->seen_ring[r->seen_head] = NULL;
    }
    r->seen_head = (r->seen_head + 1) % SEEN_MAX;
    return 0;
}

/* Forgets every invocation seen (partitions moved: see eg_invoker_t.seen). */
static void seen_clear(eg_invoker_t *r)
{
    if (!r->seen || !eg_map_size(r->seen))
        return;
    for (size_t k = 0; k < SEEN_MAX; k++) {
        if (r->seen_ring[k])
            eg_map_del(r->seen, r->seen_ring[k]);
        free(r->seen_ring[k]);
        r->seen_ring[k] = NULL;
    }
    r->seen_head = 0;
}

/* A record from the consumer. */
static void on_record(eg_invoker_t *r, src_t *src, rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    part_t *p = part_find(src, topic, m->partition);
    if (!p || r->draining)
        return; /* not ours (any more), or shutting down: not tracked, not committed */
    if (eg__offtrack_add(p->track, m->offset))
        return; /* seen already in this assignment */
    inv_t *i = eg_xcalloc(1, sizeof *i);
    i->timer.idx = (size_t)-1;
    i->part = p;
    p->refs++;
    i->offset = m->offset;
    i->next = r->invs;
    if (r->invs)
        r->invs->prev = i;
    r->invs = i;
    r->ninv++;
    src->ninv++;
    i->sync = src->sync;
    i->response_max = i->sync ? EG_REPLY_MAX_BODY : EG_CALL_MAX_RESPONSE;

    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h))
        h = NULL;
    i->space = hdr_dup(h, EG_HDR_SPACE);
    i->sub = hdr_dup(h, EG_HDR_SUBSCRIPTION);
    i->fn = hdr_dup(h, EG_HDR_FUNCTION);
    i->event_id = hdr_dup(h, EG_HDR_EVENT_ID);
    i->event_type = hdr_dup(h, EG_HDR_EVENT_TYPE);
    i->content_type = hdr_dup(h, EG_HDR_CONTENT_TYPE);
    if (!i->content_type)
        i->content_type = eg_xstrdup("application/octet-stream");
    if (m->key_len) {
        i->key = eg_xmalloc(m->key_len);
        memcpy(i->key, m->key, m->key_len);
        i->klen = m->key_len;
    }
    if (m->len) {
        i->value = eg_xmalloc(m->len);
        memcpy(i->value, m->payload, m->len);
        i->call.body_len = m->len;
    }
    i->call.space = i->space;
    i->call.function_id = i->fn;
    i->call.subscription_id = i->sub;
    i->call.event_id = i->event_id;
    i->call.event_type = i->event_type;
    i->call.content_type = i->content_type;
    i->call.body = i->value;
    i->call.key = i->key;
    i->call.key_len = i->klen;
    i->call.sync = i->sync;
    i->call.rt = r->rt;
    char hops[24];
    long nh = eg_kafka_header(h, EG_HDR_HOPS, hops, sizeof hops);
    nh = nh > 0 ? eg_hops_parse(hops, (size_t)nh) : 0;
    i->call.hops = (nh > 0 ? nh : 0) + 1;

    if (i->sync) {
        char dl[32];
        i->reply_to = hdr_dup(h, EG_HDR_REPLY_TO);
        i->correlation = hdr_dup(h, EG_HDR_CORRELATION);
        if (eg_kafka_header(h, EG_HDR_DEADLINE, dl, sizeof dl) > 0)
            i->deadline_ms = eg__invoker_parse_deadline(dl);
        if (!i->reply_to || !i->correlation) {
            EG_LOGF(EG_LOG_LEVEL_WARN, COMP, INV_FIELDS(i), 4,
                    "%s[%" PRId32 "]@%" PRId64 ": sync invocation without the %s header: "
                    "nobody to answer, skipped",
                    topic, m->partition, m->offset,
                    !i->reply_to ? EG_HDR_REPLY_TO : EG_HDR_CORRELATION);
            eg_intake_inv_finish(r, i);
            return;
        }
        if (eg_replies_deadline_passed(i)) {
            EG_LOGF(EG_LOG_LEVEL_DEBUG, COMP, SYNC_FIELDS(i, NULL), 6,
                    "%s[%" PRId32 "]@%" PRId64 ": read after its deadline: not called, no reply",
                    topic, m->partition, m->offset);
            eg_intake_inv_finish(r, i);
            return;
        }
        /* An authorizer call (eg-subscription "authorizer") has no event of
         * its own: only the space and the function are needed. */
        i->missing = !i->space ? EG_HDR_SPACE : !i->fn ? EG_HDR_FUNCTION : NULL;
    } else {
        i->missing = !i->space      ? EG_HDR_SPACE
                     : !i->fn       ? EG_HDR_FUNCTION
                     : !i->sub      ? EG_HDR_SUBSCRIPTION
                     : !i->event_id ? EG_HDR_EVENT_ID
                                    : NULL;
    }
    if (i->missing) {
        char why[128];
        snprintf(why, sizeof why, "invocation record without the %s header", i->missing);
        if (i->sync)
            eg_replies_sync_reply(r, i, NULL, EG_CALL_FINAL, why);
        else
            eg_attempt_dead_letter(r, i, 0, why);
        return;
    }
    if (seen_before(r, h, i->sub)) {
        EG_LOG_DEBUG(COMP,
                     "%s[%" PRId32 "]@%" PRId64 ": event %s for subscription %s was routed "
                     "twice; calling once",
                     topic, m->partition, m->offset, i->event_id, i->sub);
        eg_intake_inv_finish(r, i);
        return;
    }
    /* On the embedded broker, whose partitions drop their oldest records
     * past a bound (eg_backlog.h), nothing moves to the overflow topic while
     * the invocation topics are near it: the records are worked on here, and
     * the backlog waits upstream, where the ingress holds new events. */
    if (r->shares && !eg_backlog_downstream_full(r->rt->backlog) && !share_take(r, i)) {
        overflow(r, i, h);
        return;
    }
    eg_attempt_begin(r, i);
}

/* ---- Kafka: commits, rebalances, flow ---- */

/* Commits refused while the group rebalances are expected: the revoke
 * callback commits what matters, and the next tick retries the rest. */
static int commit_err_expected(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
           e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION || e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
           e == RD_KAFKA_RESP_ERR__STATE;
}

/* Commits the committable offsets of the given partitions (all assigned
 * ones when only is NULL) that moved since the last commit. */
void eg_intake_commit(src_t *s, const rd_kafka_topic_partition_list_t *only, int sync)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (part_t *p = s->parts; p; p = p->next) {
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition))
            continue;
        int64_t c = eg__offtrack_committable(p->track);
        if (c < 0 || c == p->committed)
            continue;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = c;
        p->committed = c;
    }
    if (l->cnt) {
        rd_kafka_resp_err_t e = sync ? eg_kafka_commit_wait(s->consumer, l, COMMIT_WAIT_MS)
                                     : rd_kafka_commit(s->consumer, l, 1);
        if (e && sync) {
            EG_LOG(commit_err_expected(e) ? EG_LOG_LEVEL_DEBUG : EG_LOG_LEVEL_WARN, COMP,
                   "commit of %d partition(s) failed: %s", l->cnt, rd_kafka_err2str(e));
            for (int k = 0; k < l->cnt; k++) {
                part_t *p = part_find(s, l->elems[k].topic, l->elems[k].partition);
                if (p)
                    p->committed = -1;
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

void eg_intake_on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    src_t *r = opaque; /* the input whose consumer committed */
    (void)rk;
    rd_kafka_resp_err_t first = err;
    int failed = 0;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    for (int k = 0; offsets && k < offsets->cnt; k++) {
        rd_kafka_topic_partition_t *t = &offsets->elems[k];
        if (!err && !t->err)
            continue;
        if (!first)
            first = t->err;
        failed++;
        part_t *p = part_find(r, t->topic, t->partition);
        if (p && p->committed == t->offset)
            p->committed = -1; /* try again at the next tick */
    }
    if (!failed)
        return;
    int64_t now = eg_time_mono_ms();
    if (!commit_err_expected(first) && now - r->last_commit_warn >= 10000) {
        r->last_commit_warn = now;
        EG_LOG_WARN(COMP, "commit of %d partition(s) failed: %s (retrying)", failed,
                    rd_kafka_err2str(first));
    } else {
        EG_LOG_DEBUG(COMP, "commit of %d partition(s) failed: %s (retrying)", failed,
                     rd_kafka_err2str(first));
    }
}

static void pause_resume(part_t *p, int pause);

/* Forgets revoked partitions; their invocations waiting for a retry go
 * now, those calling or waiting for a report go when that ends. */
void eg_intake_forget(eg_invoker_t *r, src_t *s, const rd_kafka_topic_partition_list_t *l)
{
    seen_clear(r);
    for (part_t **pp = &s->parts; *pp;) {
        part_t *p = *pp;
        if (l && !rd_kafka_topic_partition_list_find(l, p->topic, p->partition)) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        p->revoked = 1;
        /* librdkafka (2.0) keeps a partition paused through unassign and a
         * later assign: one revoked while paused would never fetch again
         * when it comes back to this process. */
        if (p->paused)
            pause_resume(p, 0);
        for (inv_t *i = r->invs, *n; i; i = n) {
            n = i->next;
            if (i->part == p &&
                (i->state == INV_WAITING || i->state == INV_PARKED || i->state == INV_QUEUED))
                eg_intake_inv_free(r, i);
        }
        part_unref(p);
    }
}

/* cooperative-sticky assignment (incremental assign/unassign; the eager
 * protocol is handled too). On revoke the revoked partitions' committable
 * offsets are committed synchronously and their state is forgotten: calls in
 * flight for them finish, but their results are dropped and never committed
 * (the new owner calls again: at least once; a sync call still replies, and
 * the ingress drops the second reply). On a lost assignment nothing is
 * committed. */
void eg_intake_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    src_t *s = opaque;
    eg_invoker_t *r = s->r;
    int coop = s->coop_sticky;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        s->ever_assigned = 1;
        for (int k = 0; k < parts->cnt; k++)
            if (!part_find(s, parts->elems[k].topic, parts->elems[k].partition))
                part_new(s, parts->elems[k].topic, parts->elems[k].partition);
        char nums[256];
        EG_LOG_INFO(COMP, "assigned %d partition(s) of %s (%s): [%s]", parts->cnt, s->topic,
                    coop ? "incremental" : "eager",
                    eg_kafka_partitions_str(parts, nums, sizeof nums));
    } else {
        int lost = rd_kafka_assignment_lost(rk);
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !lost)
            eg_intake_commit(s, coop ? parts : NULL, 1);
        eg_intake_forget(r, s, coop ? parts : NULL);
        char nums[256];
        EG_LOG_INFO(COMP, "%s %d partition(s) of %s: [%s]", lost ? "lost" : "revoked", parts->cnt,
                    s->topic, eg_kafka_partitions_str(parts, nums, sizeof nums));
    }
    eg_kafka_rebalance_apply(rk, err, parts, COMP);
    eg_backlog_consumer_assigned(r->rt->backlog, rk, s->topic);
}

/* Flow control. A partition with --partition-window unfinished records (or
 * whose tracker spans SPAN_PER_WINDOW windows, bounding memory) is paused
 * (rd_kafka_pause_partitions); every partition of an engine is paused while
 * it holds --max-inflight invocations (queued ones included), which bounds
 * the engine's queue. librdkafka drops what it prefetched for a paused
 * partition and refetches on resume, so resuming waits until the count has
 * dropped by a quarter (hysteresis) rather than flapping. */
static void pause_resume(part_t *p, int pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    rd_kafka_resp_err_t e = pause ? rd_kafka_pause_partitions(p->src->consumer, l)
                                  : rd_kafka_resume_partitions(p->src->consumer, l);
    if (!e)
        p->paused = pause;
    rd_kafka_topic_partition_list_destroy(l);
}

/* Pauses an input's partitions over their window (or all of them over the
 * input's in-flight budget, or while draining) and resumes them once they
 * are a quarter below. Each input has its own budget of --max-inflight
 * invocations: a full async window never holds sync records back. */
void eg_intake_flow(eg_invoker_t *r, src_t *s)
{
    size_t max = eg_attempt_budget(r);
    size_t win = window(r);
    size_t span_max = win * SPAN_PER_WINDOW;
    part_t *nudge = NULL;
    s->global_paused = s->ninv >= (s->global_paused ? max - max / 4 : max);
    for (part_t *p = s->parts; p; p = p->next) {
        size_t u = eg__offtrack_unfinished(p->track), span = eg__offtrack_span(p->track);
        int over = u >= (p->paused ? win - win / 4 : win) ||
                   span >= (p->paused ? span_max - span_max / 4 : span_max);
        int want = r->draining || s->global_paused || over || s->doze.paused;
        if (want != p->paused) {
            pause_resume(p, want);
            nudge = p;
        }
    }
    /* A resume must not wait for the sleeping fetcher (eg_kafka_nudge): with
     * every partition paused (a dozing input, or the in-flight budget spent)
     * it sleeps up to a second, the calls would run dry meanwhile, and a
     * backlog would drain in bursts. */
    if (nudge && !nudge->paused)
        eg_kafka_nudge(s->consumer, nudge->topic, nudge->partition, NUDGE_TIMEOUT_MS);
}

/* Takes up to max records of an input; 1 when it stopped at max (more may
 * be waiting), 0 when the queue ran empty. eg_intake_flow() pauses the input once per
 * turn, so a turn may take up to max records past the in-flight budget;
 * they wait in the engine's queue (eg_attempt_begin), not calling. Stopping
 * here instead would leave the consumer unpolled while the budget stays
 * spent (no rebalance served), and a pause does not take back the records
 * librdkafka already queued (librdkafka 2.0.2 hands them out after it). */
int eg_intake_consume(eg_invoker_t *r, src_t *s, int max)
{
    for (int n = 0; n < max; n++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->consumer, 0);
        if (!m)
            return 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eg_doze_eof(&s->doze);
        } else if (m->err) {
            int64_t now = eg_time_mono_ms();
            if (now - s->last_consumer_warn > 30000 || !s->last_consumer_warn) {
                s->last_consumer_warn = now;
                EG_LOG_WARN(COMP, "consumer of %s: %s", s->topic, rd_kafka_message_errstr(m));
            }
        } else {
            eg_doze_record(&s->doze, eg_time_mono_ms());
            eg_backlog_taken(r->rt->backlog, m);
            on_record(r, s, m);
        }
        rd_kafka_message_destroy(m);
    }
    return 1;
}
