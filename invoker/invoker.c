/*
 * invoker.c: the invoker role, event loops that call functions for the
 * invocation records of its pool.
 *
 * Inputs. Three engines, each on its own thread with its own consumer:
 *  - async: group "<prefix>invoker.<pool>" on "<prefix>invoke.<pool>.async";
 *  - sync: group "<prefix>invoker.<pool>.sync" on "<prefix>invoke.<pool>.sync";
 *  - overflow: group "<prefix>invoker.<pool>.overflow" on
 *    "<prefix>invoke.<pool>.overflow" (see Fairness);
 * every topic 8 partitions, made sure of at start. One record is one
 * invocation: key = the event's partition key, value = the body to send,
 * headers content-type, eg-space, eg-subscription, eg-function, eg-event-id,
 * eg-event-type (written by the router); sync ones also eg-reply-to,
 * eg-correlation and eg-deadline (Unix ms). The ingress writes authorizer
 * calls straight to the sync topic (eg-subscription "authorizer", value
 * {"event","request"}): to the invoker they are sync invocations like any.
 *
 * Sync before async. The sync engine shares nothing mutable with the async
 * one (its own consumer, libcurl multi handle, timers, in-flight budget, reply
 * producer), so an async backlog can neither fill its window nor keep its
 * thread busy: when thousands of async calls start or time out at once (one
 * libcurl call handles them all, 100-250 ms measured for 2,500), sync calls
 * still go out within milliseconds. Its consumer fetches with
 * fetch.wait.max.ms = --sync-fetch-wait-ms (1 ms on the embedded broker,
 * which answers a fetch only when that runs out, so it is the latency of
 * the hop; 100 ms on a real broker, which answers as soon as data arrives)
 * and small fetch sizes. On the embedded broker that is ~900 fetches/s
 * whether records come or not, so after a quiet second the sync input
 * dozes (eg_doze.h, --idle-probe-ms): its partitions are paused but for one
 * fetch window every 50 ms, and the first record wakes it.
 *
 * A sync invocation is called once (no retry: the client is waiting), with
 * timeout min(--function-timeout-ms, eg-deadline - now); read after its
 * deadline it is not called and gets no reply. Otherwise, whatever happens
 * (2xx, other answers, connection error, timeout, unknown function or
 * provider, a missing header), ONE reply record (eg_reply_encode) goes to
 * eg-reply-to (partitioned by key), key and header eg-correlation = the
 * correlation id: ok = 2xx, the status, the answer's body (at most
 * EG_REPLY_MAX_BODY; a longer one is a failure "answer too large" and its
 * transfer is cut there), the error otherwise; a reply that would come after
 * the deadline is not sent. Sync failures never go to the dead-letter topic.
 * A record without eg-reply-to or eg-correlation has nobody to answer: it is
 * logged and skipped. The record's offset is finished when the reply's
 * delivery report comes (or at once when no reply is due). The reply
 * producer sends at once (eg_runtime_sync_producer_conf, Nagle off) with
 * acks=1 (see make_replier).
 *
 * Offsets (at least once). Per assigned partition a tracker (sched.c)
 * holds the unfinished offsets: calling, waiting for a retry, or waiting
 * for the dead letter's delivery report. The committable offset is the
 * lowest unfinished one (or the next to consume when none is), committed
 * asynchronously every COMMIT_INTERVAL_MS and synchronously on revoke and
 * shutdown (enable.auto.commit and enable.auto.offset.store off). A crash
 * re-delivers what was not finished; nothing finished is lost, and a record
 * is finished only when its function took it or its dead letter is in
 * Kafka (acks=all, idempotent producer), or, sync, when its reply is.
 *
 * Flow control. At most --max-inflight calls are in flight per engine: an
 * attempt due past that budget (a record just taken, a retry whose time
 * came) waits in a FIFO (INV_QUEUED, tracked and not committed like any
 * unfinished record) and starts when a call ends. Each engine has that
 * budget of its own (sync invocations are not counted in the async one).
 * A partition with --partition-window unfinished records (or whose tracker
 * spans SPAN_PER_WINDOW windows, bounding memory) is paused
 * (rd_kafka_pause_partitions); every partition of an engine is paused while
 * it holds --max-inflight invocations (queued ones included), which bounds
 * the queue. librdkafka drops what it prefetched for a paused partition and
 * refetches on resume, so resuming waits until the count has dropped by a
 * quarter (hysteresis) rather than flapping.
 *
 * Fairness. The partitions of the async topic carry every tenant's records,
 * so a window or a budget filled by one slow (or failing, retried) function
 * would hold every other function's records back. The async engine keeps
 * count of the invocations of each function it works on, in all and in
 * each partition. Under pressure (the engine holds a quarter of its budget,
 * or the partition a quarter of its window) a function has a share: of the
 * engine, --max-inflight-per-function (256), of the partition, an eighth of
 * --partition-window (64). A record of a function that holds either whole
 * share is not worked on here but written as it is to the pool's
 * overflow topic (the dead-letter producer: idempotent, acks=all) and
 * finished when Kafka has it, so it holds a window slot for a round trip to
 * Kafka, not for a call. The overflow engine delivers those records like the
 * async engine, with a window and a budget of its own and no share: the slow
 * functions wait on each other there, not on the others. A record the
 * overflow topic refuses is called here after all. A share is counted per
 * function, not per subscription: what is slow is the function, whatever
 * event brought the call.
 *
 * Group membership. session.timeout.ms 6000 (the brokers' usual minimum)
 * and heartbeat.interval.ms 1000: a dead member is noticed after 6 s, and
 * its partitions move once the survivors have rejoined (~1 s on Kafka). The
 * embedded broker (librdkafka 2.0's mock) then waits session.timeout.ms -
 * 1 s more for the rejoin whatever happens: 6 + 5 s, where 10000 measured
 * 19-20 s, past the 15 s the contract allows.
 * cooperative-sticky assignment (incremental assign/unassign; the eager
 * protocol is handled too). On revoke the revoked partitions' committable
 * offsets are committed synchronously and their state is forgotten: calls
 * in flight for them finish, but their results are dropped and never
 * committed (the new owner calls again: at least once; a sync call still
 * replies, and the ingress drops the second reply). On a lost
 * assignment nothing is committed. Async fetch.wait.max.ms is the profile's
 * (eg_embedded.h): 10 ms on the embedded broker, which answers a fetch only
 * when that time runs out, even when it has data; 100 ms on Kafka, which
 * answers as soon as data arrives.
 *
 * Shutdown (stop()). Both engines drain at once: each pauses every partition
 * (no new records), lets the calls in flight finish (bounded by the function
 * timeout; retries that fall due are not started; a sync call that ends
 * still gets its reply), waits for dead-letter and reply delivery reports,
 * commits synchronously, closes the consumer (leaves the group, so the
 * partitions move at once), flushes the producer and frees everything.
 */
#include "invoker.h"
#include "invoker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "eg_doze.h"
#include "eg_kafka_hdr.h"
#include "eg_log.h"
#include "eg_map.h"
#include "eg_reply.h"
#include "eg_time.h"
#include "netpolicy.h"
#include "provider.h"

#define COMMIT_WAIT_MS 5000   /* longest wait for a synchronous commit (revocation) */
#define SPAN_PER_WINDOW 2048  /* tracker entries per window before a partition pauses */
#define TOPIC_TIMEOUT_MS 5000 /* making sure the topics exist */
#define MAX_HEADER 1024       /* longest eg-* header value taken */
#define REPLY_RESEND_MS 10    /* a reply a full producer queue refused is sent again */
#define REPLY_MAX_BYTES EG_REPLY_MAX_RECORD /* message.max.bytes of the reply producer */
#define NUDGE_TIMEOUT_MS 100                /* longest wait of eg_kafka_nudge */

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
    part_t *p = calloc(1, sizeof *p);
    if (!p || !(p->topic = strdup(topic)) || !(p->track = eg__offtrack_new()) ||
        (s->r->shares && !(p->shares = eg__shares_new()))) {
        if (p) {
            free(p->topic);
            eg__offtrack_free(p->track);
        }
        free(p);
        return NULL;
    }
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
    if (!(i->headers = h ? rd_kafka_headers_copy(h) : rd_kafka_headers_new(0))) {
        eg_intake_overflow_fall_back(r, i, "out of memory");
        return;
    }
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
    char *key = malloc(n);
    if (!key)
        return 1; /* worked on without a share rather than lost */
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
    return engine < 0 || part < 0; /* out of memory: worked on without a share */
}

/* ---- sync replies ---- */

static int deadline_passed(const inv_t *i)
{
    return i->deadline_ms > 0 && eg_time_now_ms() >= i->deadline_ms;
}

/* Replaces a reply Kafka refuses as too big by one that says so. */
static int reply_shrink(inv_t *i)
{
    free(i->reply_value);
    i->reply_small = 1;
    i->reply_value =
        eg__invoker_reply_value(i->correlation, 0, i->call.status, NULL, 0, EG__INVOKER_TOO_LARGE);
    return i->reply_value ? 0 : -1;
}

/* Hands the reply to the reply producer (eg-reply-to, partitioned by key, key and
 * eg-correlation = the correlation id); the invocation finishes on its
 * delivery report, or now when it cannot be sent. */
void eg_replies_send(eg_invoker_t *r, inv_t *i)
{
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(r->replier, RD_KAFKA_V_TOPIC(i->reply_to),
                              RD_KAFKA_V_KEY(i->correlation, strlen(i->correlation)),
                              RD_KAFKA_V_VALUE(i->reply_value, strlen(i->reply_value)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                              RD_KAFKA_V_HEADER(EG_HDR_CORRELATION, i->correlation, -1),
                              RD_KAFKA_V_HEADER(EG_HDR_CONTENT_TYPE, "application/json", -1),
                              RD_KAFKA_V_OPAQUE(i), RD_KAFKA_V_END);
        if (!e) {
            i->reply_value = NULL; /* the producer frees it */
            return;
        }
        if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && !i->reply_small && !reply_shrink(i))
            continue;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !deadline_passed(i)) {
            eg_engine_schedule(r, i, TK_REPLY, eg_time_mono_ms() + REPLY_RESEND_MS);
            return;
        }
        EG_LOGF(EG_LOG_LEVEL_WARN, COMP, SYNC_FIELDS(i, NULL), 6,
                "reply to %s not taken by the producer (%s); dropped", i->reply_to,
                rd_kafka_err2str(e));
        break;
    }
    eg_intake_inv_finish(r, i);
}

/* A sync invocation is over: ONE reply goes to the waiting ingress, whatever
 * happened (never a retry, never a dead letter). call: the attempt made, or
 * NULL when none could be; v, err: its verdict and error text. Past the
 * deadline nobody waits any more: no reply, the record is finished. */
void eg_replies_sync_reply(eg_invoker_t *r, inv_t *i, const eg_call_t *call, eg_call_verdict_t v,
                           const char *err)
{
    char st[16];
    snprintf(st, sizeof st, "%ld", call ? call->status : 0L);
    int too_large = call && call->response_truncated;
    if (v != EG_CALL_OK || too_large)
        EG_LOGF(EG_LOG_LEVEL_WARN, COMP, SYNC_FIELDS(i, st), 6, "sync call failed: %s",
                too_large     ? EG__INVOKER_TOO_LARGE
                : err && *err ? err
                              : "call failed");
    else if (eg_log_enabled(EG_LOG_LEVEL_DEBUG))
        EG_LOGF(EG_LOG_LEVEL_DEBUG, COMP, SYNC_FIELDS(i, st), 6,
                "sync call answered in %" PRId64 " ms", eg_time_mono_ms() - i->attempt_start);
    if (deadline_passed(i)) {
        EG_LOGF(EG_LOG_LEVEL_DEBUG, COMP, SYNC_FIELDS(i, st), 6,
                "deadline passed: nobody waits for the reply, none sent");
        eg_intake_inv_finish(r, i);
        return;
    }
    if (!(i->reply_value = eg__invoker_sync_reply(i->correlation, call, v, err))) {
        EG_LOGF(EG_LOG_LEVEL_ERROR, COMP, SYNC_FIELDS(i, st), 6, "out of memory building a reply");
        eg_intake_inv_finish(r, i);
        return;
    }
    i->state = INV_REPLY;
    r->nreply++;
    eg_replies_send(r, i);
}

static void on_reply_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    eg_invoker_t *r = opaque;
    inv_t *i = m->_private;
    (void)rk;
    if (!i)
        return;
    if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && !i->reply_small && !reply_shrink(i)) {
        eg_replies_send(r, i);
        return;
    }
    if (m->err)
        EG_LOGF(EG_LOG_LEVEL_WARN, COMP, SYNC_FIELDS(i, NULL), 6, "reply to %s not delivered: %s",
                i->reply_to, rd_kafka_err2str(m->err));
    eg_intake_inv_finish(r, i);
}

static char *hdr_dup(rd_kafka_headers_t *h, const char *name)
{
    const void *v = NULL;
    size_t n = 0;
    if (!h || rd_kafka_header_get_last(h, name, &v, &n) || !v || !n || n > MAX_HEADER)
        return NULL;
    return strndup(v, n);
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
    r->seen_ring[r->seen_head] = strdup(key);
    if (r->seen_ring[r->seen_head] && eg_map_put(r->seen, key, r->seen_ring[r->seen_head], NULL)) {
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
    int rc = eg__offtrack_add(p->track, m->offset);
    if (rc == 1)
        return; /* seen already in this assignment */
    inv_t *i = calloc(1, sizeof *i);
    if (rc < 0 || !i) {
        /* Untracked records would be committed past: better to stop here. */
        EG_LOG_ERROR(COMP, "out of memory tracking %s[%" PRId32 "]@%" PRId64, topic, m->partition,
                     m->offset);
        abort();
    }
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
        i->content_type = strdup("application/octet-stream");
    if (m->key_len && (i->key = malloc(m->key_len)))
        memcpy(i->key, m->key, m->key_len), i->klen = m->key_len;
    if (m->len && (i->value = malloc(m->len)))
        memcpy(i->value, m->payload, m->len), i->call.body_len = m->len;
    if (!i->content_type || (m->len && !i->value) || (m->key_len && !i->key)) {
        EG_LOG_ERROR(COMP, "out of memory copying %s[%" PRId32 "]@%" PRId64, topic, m->partition,
                     m->offset);
        abort();
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
        if (deadline_passed(i)) {
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

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
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

/* Forgets revoked partitions; their invocations waiting for a retry go
 * now, those calling or waiting for a report go when that ends. */
static void pause_resume(part_t *p, int pause);

static void forget(eg_invoker_t *r, src_t *s, const rd_kafka_topic_partition_list_t *l)
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

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    src_t *s = opaque;
    eg_invoker_t *r = s->r;
    int coop = s->coop_sticky;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t ke = 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        s->ever_assigned = 1;
        for (int k = 0; k < parts->cnt; k++)
            if (!part_find(s, parts->elems[k].topic, parts->elems[k].partition) &&
                !part_new(s, parts->elems[k].topic, parts->elems[k].partition)) {
                EG_LOG_ERROR(COMP, "out of memory on assignment");
                abort();
            }
        char nums[256];
        EG_LOG_INFO(COMP, "assigned %d partition(s) of %s (%s): [%s]", parts->cnt, s->topic,
                    coop ? "incremental" : "eager",
                    eg_kafka_partitions_str(parts, nums, sizeof nums));
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            ke = rd_kafka_assign(rk, parts);
    } else {
        int lost = rd_kafka_assignment_lost(rk);
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !lost)
            eg_intake_commit(s, coop ? parts : NULL, 1);
        forget(r, s, coop ? parts : NULL);
        char nums[256];
        EG_LOG_INFO(COMP, "%s %d partition(s) of %s: [%s]", lost ? "lost" : "revoked", parts->cnt,
                    s->topic, eg_kafka_partitions_str(parts, nums, sizeof nums));
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            ke = rd_kafka_assign(rk, NULL);
    }
    eg_backlog_consumer_assigned(r->rt->backlog, rk, s->topic);
    if (e) {
        EG_LOG_ERROR(COMP, "rebalance: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (ke) {
        EG_LOG_ERROR(COMP, "rebalance: %s", rd_kafka_err2str(ke));
    }
}

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
     * it sleeps up to a second, and the calls ran dry meanwhile: the drain
     * of a backlog went in bursts, ~5,500 calls/s with the machine 77 %
     * idle. */
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

/* ---- the role ---- */

static void producer_free(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *what)
{
    if (!rk)
        return;
    if (rd_kafka_flush(rk, 5000))
        EG_LOG_WARN(COMP, "%s producer: %d record(s) not delivered at shutdown", what,
                    rd_kafka_outq_len(rk));
    /* No more writes to the pipe, which is closed later. */
    if (q) {
        rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
        rd_kafka_queue_destroy(q);
    }
    rd_kafka_destroy(rk);
}

static void engine_free(eg_invoker_t *r)
{
    if (!r)
        return;
    if (r->waker)
        eg_runtime_remove_waker(r->rt, eg_engine_on_wake, r);
    eg_runtime_doze_state(r->rt, &r->dozing, 0); /* its thread has stopped */
    src_t *in = &r->in;
    /* Leaves the group; the revoke callback commits once more. */
    if (in->consumer)
        eg_kafka_consumer_leave(in->consumer, EG_KAFKA_LEAVE_MS);
    if (in->cq) {
        rd_kafka_queue_io_event_enable(in->cq, -1, NULL, 0);
        rd_kafka_queue_destroy(in->cq);
        in->cq = NULL;
    }
    producer_free(r->replier, r->rq, "reply");
    producer_free(r->producer, r->pq, "dead-letter");
    while (r->invs)
        eg_intake_inv_free(r, r->invs);
    forget(r, in, NULL);
    if (r->doneq) {
        int last = 0;
        pthread_mutex_lock(&r->doneq->mu);
        r->doneq->closed = 1;
        for (eg_call_done_t *d = r->doneq->head, *n; d; d = n) {
            n = d->next;
            free(d);
        }
        r->doneq->head = r->doneq->tail = NULL;
        eg_attempt_doneq_unref_locked(r->doneq, &last);
        pthread_mutex_unlock(&r->doneq->mu);
        eg_attempt_doneq_release(r->doneq, last);
        r->doneq = NULL;
    }
    eg_kafka_consumer_destroy(in->consumer, in->coop_sticky, in->ever_assigned);
    while (r->easy_free)
        curl_easy_cleanup(r->easy_pool[--r->easy_free]);
    if (r->multi)
        curl_multi_cleanup(r->multi);
    if (r->epfd >= 0)
        close(r->epfd);
    eg__timer_heap_release(&r->timers);
    if (r->pipefd[0] >= 0)
        close(r->pipefd[0]);
    if (r->pipefd[1] >= 0)
        close(r->pipefd[1]);
    if (r->seen_ring)
        for (size_t k = 0; k < SEEN_MAX; k++)
            free(r->seen_ring[k]);
    free(r->seen_ring);
    eg_map_free(r->seen);
    eg__shares_free(r->shares);
    free(r);
}

/* The consumer of one input. Tuning properties are set unless the user gave
 * them with --kafka. The sync one fetches with fetch.wait.max.ms =
 * --sync-fetch-wait-ms (the embedded broker answers a fetch only when that
 * runs out: it is the latency of the hop, 1 ms; a real broker answers as
 * soon as data arrives: 100 ms), dozes when idle (--idle-probe-ms,
 * eg_doze.h) and prefetches little. */
static rd_kafka_t *make_consumer(eg_invoker_t *r, src_t *src, char *err, size_t errlen)
{
    const eg_settings_t *s = r->s;
    char cid[300], wait[16];
    rd_kafka_conf_t *c = eg_kafka_conf_new(s, r->rt->brokers, err, errlen);
    if (!c)
        return NULL;
    static const char *const suffix[] = {"-sync", "", "-overflow"};
    snprintf(cid, sizeof cid, "eg-invoker%s-%s", suffix[r->kind],
             s->instance_id ? s->instance_id : "");
    int wait_ms = eg_embedded_auto(s->sync_fetch_wait_ms, r->rt->embedded->sync_fetch_wait_ms);
    snprintf(wait, sizeof wait, "%d", wait_ms);
    char async_wait[16];
    snprintf(async_wait, sizeof async_wait, "%d", r->rt->embedded->async_fetch_wait_ms);
    /* The sync input dozes (it fetches every millisecond), and so does the
     * overflow input, idle but for a slow function's backlog: the embedded
     * broker would otherwise answer its empty fetches every 10 ms. The async
     * input's fetches wait 10 ms, and it is seldom idle for long. */
    eg_doze_init(&src->doze,
                 r->kind != ENG_ASYNC
                     ? eg_embedded_auto(s->idle_probe_ms, r->rt->embedded->idle_probe_ms)
                     : 0,
                 eg_time_mono_ms());
    if (eg_kafka_conf_set(c, "group.id", src->group, err, errlen) ||
        eg_kafka_conf_set(c, "enable.auto.commit", "false", err, errlen) ||
        eg_kafka_conf_set(c, "enable.auto.offset.store", "false", err, errlen) ||
        eg_kafka_conf_default(c, s, "client.id", cid, err, errlen) ||
        eg_kafka_conf_default(c, s, "auto.offset.reset", "earliest", err, errlen) ||
        eg_kafka_conf_default(c, s, "session.timeout.ms", "6000", err, errlen) ||
        eg_kafka_conf_default(c, s, "heartbeat.interval.ms", "1000", err, errlen) ||
        eg_kafka_conf_default(c, s, "partition.assignment.strategy", "cooperative-sticky", err,
                              errlen) ||
        eg_kafka_conf_default(c, s, "topic.metadata.refresh.interval.ms", "10000", err, errlen)) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    int bad =
        src->sync
            ? eg_kafka_conf_default(c, s, "fetch.wait.max.ms", wait, err, errlen) ||
                  eg_kafka_conf_default(c, s, "queued.max.messages.kbytes", "2048", err, errlen) ||
                  eg_kafka_conf_default(c, s, "max.partition.fetch.bytes", "262144", err, errlen) ||
                  eg_kafka_conf_default(c, s, "socket.nagle.disable", "true", err, errlen) ||
                  eg_kafka_conf_default(c, s, "isolation.level", "read_uncommitted", err, errlen) ||
                  /* the fetch windows of a dozing input close on these */
                  (src->doze.probe_ms &&
                   eg_kafka_conf_set(c, "enable.partition.eof", "true", err, errlen))
            : eg_kafka_conf_default(c, s, "fetch.wait.max.ms", async_wait, err, errlen) ||
                  eg_kafka_conf_default(c, s, "queued.max.messages.kbytes", "16384", err, errlen) ||
                  (src->doze.probe_ms &&
                   eg_kafka_conf_set(c, "enable.partition.eof", "true", err, errlen));
    if (bad) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    src->coop_sticky = eg_kafka_cooperative(s);
    rd_kafka_conf_set_opaque(c, src);
    rd_kafka_conf_set_rebalance_cb(c, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(c, on_commit);
    char name[600];
    snprintf(name, sizeof name, "consumer of %s", src->topic);
    rd_kafka_t *rk = eg_kafka_new(RD_KAFKA_CONSUMER, &c, name, err, errlen);
    if (!rk)
        return NULL;
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static rd_kafka_t *make_producer(eg_invoker_t *r, char *err, size_t errlen)
{
    const eg_settings_t *s = r->s;
    char cid[300];
    rd_kafka_conf_t *c = eg_kafka_conf_new(s, r->rt->brokers, err, errlen);
    if (!c)
        return NULL;
    snprintf(cid, sizeof cid, "eg-invoker-dlq-%s", s->instance_id ? s->instance_id : "");
    if (eg_kafka_conf_set(c, "enable.idempotence", "true", err, errlen) ||
        eg_kafka_conf_set(c, "acks", "all", err, errlen) ||
        eg_kafka_conf_default(c, s, "client.id", cid, err, errlen) ||
        eg_kafka_conf_default(c, s, "linger.ms", "5", err, errlen)) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_conf_set_opaque(c, r);
    rd_kafka_conf_set_dr_msg_cb(c, eg_attempt_on_delivery);
    return eg_kafka_new(RD_KAFKA_PRODUCER, &c, "dead-letter producer", err, errlen);
}

/* The reply producer: sends at once (eg_runtime_sync_producer_conf, Nagle
 * off) and waits for the partition leader only (acks=1, so not idempotent).
 * A reply is worth something for a few seconds: a lost one (a leader dying
 * in that window) costs one 504, like a late one, and a duplicate is dropped
 * by the ingress (its correlation id no longer waits), while acks=all would
 * add the followers' round trip to every sync request on a replicated
 * cluster.
 * --kafka acks=all (or enable.idempotence=true) overrides. */
static rd_kafka_t *make_replier(eg_invoker_t *r, char *err, size_t errlen)
{
    const eg_settings_t *s = r->s;
    char cid[300];
    const char *idem = NULL;
    rd_kafka_conf_t *c = eg_kafka_conf_new(s, r->rt->brokers, err, errlen);
    if (!c)
        return NULL;
    eg_settings_kafka_prop(s, "enable.idempotence", &idem);
    int user_idem = idem && strcmp(idem, "false") && strcmp(idem, "0");
    snprintf(cid, sizeof cid, "eg-invoker-reply-%s", s->instance_id ? s->instance_id : "");
    if (eg_kafka_conf_default(c, s, "client.id", cid, err, errlen) ||
        eg_runtime_sync_producer_conf(r->rt, c, err, errlen) ||
        eg_kafka_conf_default(c, s, "socket.nagle.disable", "true", err, errlen) ||
        eg_kafka_conf_default(c, s, "message.timeout.ms", "10000", err, errlen) ||
        eg_kafka_conf_default(c, s, "message.max.bytes", REPLY_MAX_BYTES, err, errlen) ||
        (!user_idem && (eg_kafka_conf_default(c, s, "enable.idempotence", "false", err, errlen) ||
                        eg_kafka_conf_default(c, s, "acks", "1", err, errlen)))) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_conf_set_opaque(c, r);
    rd_kafka_conf_set_dr_msg_cb(c, on_reply_delivery);
    return eg_kafka_new(RD_KAFKA_PRODUCER, &c, "reply producer", err, errlen);
}

static void ensure_topic(eg_invoker_t *r, const char *topic)
{
    char err[512];
    if (eg_runtime_ensure_topic(r->rt, r->producer ? r->producer : r->replier, topic,
                                TOPIC_TIMEOUT_MS, err, sizeof err))
        EG_LOG_WARN(COMP, "%s (going on: consuming starts once the topic exists)", err);
}

/* An engine for the sync, async or overflow invocation topic of the pool,
 * its thread started. NULL with a message in err. */
static eg_invoker_t *engine_start(eg_runtime_t *rt, eg_netpolicy_t *policy, engine_kind_t kind,
                                  char *err, size_t errlen)
{
    eg_invoker_t *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->rt = rt;
    r->policy = policy;
    r->s = rt->settings;
    r->pipefd[0] = r->pipefd[1] = r->epfd = -1;
    r->curl_due = -1;
    eg__timer_heap_init(&r->timers);
    atomic_init(&r->stop, 0);
    const char *prefix = r->s->topic_prefix ? r->s->topic_prefix : "eg.";
    const char *pool = r->s->pool && *r->s->pool ? r->s->pool : "default";
    static const char *const group_suffix[] = {".sync", "", ".overflow"};
    static const eg_invoke_kind_t topic_kind[] = {EG_INVOKE_SYNC, EG_INVOKE_ASYNC,
                                                  EG_INVOKE_OVERFLOW};
    int sync = kind == ENG_SYNC;
    src_t *in = &r->in;
    in->r = r;
    in->sync = sync;
    r->kind = kind;
    eg_topics_invoke(in->topic, sizeof in->topic, prefix, pool, topic_kind[kind]);
    snprintf(in->group, sizeof in->group, "%sinvoker.%s%s", prefix, pool, group_suffix[kind]);
    eg_topics_invoke(r->overflow_topic, sizeof r->overflow_topic, prefix, pool, EG_INVOKE_OVERFLOW);
    r->rng = (uint64_t)eg_time_now_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() ^ (uintptr_t)r;
    if (!r->rng)
        r->rng = 1;

    if (pipe2(r->pipefd, O_NONBLOCK | O_CLOEXEC)) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    if (!(r->doneq = calloc(1, sizeof *r->doneq))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&r->doneq->mu, NULL);
    r->doneq->refs = 1; /* the engine's */
    r->doneq->wake_fd = r->pipefd[1];
    struct epoll_event pev = {.events = EPOLLIN, .data.fd = r->pipefd[0]};
    if ((r->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->pipefd[0], &pev)) {
        snprintf(err, errlen, "epoll: %s", strerror(errno));
        goto fail;
    }
    if (r->rt->embedded->dedupe_fan_outs &&
        (!(r->seen = eg_map_new()) || !(r->seen_ring = calloc(SEEN_MAX, sizeof *r->seen_ring)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (kind == ENG_ASYNC && r->s->max_inflight_per_function > 0 &&
        !(r->shares = eg__shares_new())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!(r->multi = curl_multi_init())) {
        snprintf(err, errlen, "libcurl: no multi handle");
        goto fail;
    }
    /* Keep a finished call's connection for the next call rather than
     * closing it: the cache must hold as many connections as calls run at
     * once, or a busy invoker reconnects for most calls. */
    curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, (long)r->s->max_inflight);
    curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, eg_engine_on_curl_socket);
    curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r);
    curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, eg_engine_on_curl_timer);
    curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r);
    if (sync ? !(r->replier = make_replier(r, err, errlen))
             : !(r->producer = make_producer(r, err, errlen)))
        goto fail;
    if (!(in->consumer = make_consumer(r, in, err, errlen)))
        goto fail;
    ensure_topic(r, in->topic);
    eg_backlog_watch(rt->backlog, in->topic);
    if (kind == ENG_ASYNC)
        ensure_topic(r, r->overflow_topic); /* written here before its engine may run */
    if (!sync && !r->rt->mock)
        ensure_topic(r, r->rt->topics.dlq);

    static const char one = 1;
    in->cq = rd_kafka_queue_get_consumer(in->consumer);
    rd_kafka_queue_io_event_enable(in->cq, r->pipefd[1], &one, 1);
    if (r->producer) {
        r->pq = rd_kafka_queue_get_main(r->producer);
        rd_kafka_queue_io_event_enable(r->pq, r->pipefd[1], &one, 1);
    }
    if (r->replier) {
        r->rq = rd_kafka_queue_get_main(r->replier);
        rd_kafka_queue_io_event_enable(r->rq, r->pipefd[1], &one, 1);
    }

    if (pthread_create(&r->thread, NULL, eg_engine_loop, r)) {
        snprintf(err, errlen, "cannot start the invoker thread");
        goto fail;
    }
    r->thread_started = 1;
    r->waker = r->in.doze.probe_ms && eg_runtime_add_waker(rt, eg_engine_on_wake, r) == 0;
    return r;
fail:
    engine_free(r);
    return NULL;
}

/* The role: the sync, async and overflow engines, each on its own thread
 * (indexed by engine_kind_t). */
typedef struct invoker_role {
    eg_invoker_t *engines[3];
    eg_netpolicy_t *policy;
} invoker_role_t;

static void engines_stop(invoker_role_t *ro)
{
    eg_invoker_t **e = ro->engines;
    /* All drain at once. */
    for (int k = 0; k < 3; k++)
        if (e[k] && e[k]->thread_started) {
            atomic_store(&e[k]->stop, 1);
            eg_engine_wake(e[k]);
        }
    for (int k = 0; k < 3; k++)
        if (e[k] && e[k]->thread_started)
            pthread_join(e[k]->thread, NULL);
    for (int k = 0; k < 3; k++)
        engine_free(e[k]);
    eg_netpolicy_free(ro->policy);
    free(ro);
    eg_provider_shutdown_all();
    curl_global_cleanup();
}

static void *invoker_start(eg_runtime_t *rt, char *err, size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        snprintf(err, errlen, "libcurl initialisation failed");
        return NULL;
    }
    invoker_role_t *ro = calloc(1, sizeof *ro);
    if (!ro) {
        snprintf(err, errlen, "out of memory");
        curl_global_cleanup();
        return NULL;
    }
    if (!(ro->policy = eg_netpolicy_new(rt->settings, err, errlen))) {
        engines_stop(ro);
        return NULL;
    }
    /* The overflow engine runs even with no share set: records an earlier
     * run moved there are delivered. */
    for (engine_kind_t k = ENG_SYNC; k <= ENG_OVERFLOW; k++)
        if (!(ro->engines[k] = engine_start(rt, ro->policy, k, err, errlen))) {
            engines_stop(ro);
            return NULL;
        }
    return ro;
}

static void invoker_stop(void *p)
{
    if (!p)
        return;
    engines_stop(p);
    EG_LOG_INFO(COMP, "invoker stopped");
}

const eg_role_ops_t eg_invoker_role = {"invoker", invoker_start, invoker_stop};
