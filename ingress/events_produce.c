/*
 * events_produce.c: the Events API's way to Kafka (step 2 in events_api.c).
 * It owns the two producers (async events linger to share requests; sync
 * events and authorizer calls go at once), the hold of events while the
 * embedded broker's consumers catch up, and the delivery reports, which
 * answer the requests: 202 for an async event in Kafka, 503 or 504 when
 * Kafka did not take it.
 *
 * Threads: an event is produced on the thread that submits it: the event
 * loop that took its request, the reply thread (after its authorizer), or
 * the first loop (a held event released). The first loop's turn (eg_events_loop_turn)
 * serves the producers' delivery reports, whose arrival wakes it through
 * the eventfd, and releases the held events; at shutdown the thread that
 * stops the Events API flushes both.
 */
#include "events_api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_kafka_client.h"
#include "eg_kafka_hdr.h"
#include "eg_log.h"
#include "eg_route.h"
#include "eg_time.h"

#define HOLD_CHECK_MS 10
#define HOLD_FULL                                                                                  \
    "The gateway's embedded Kafka is full: its consumers are too far behind to take more events "  \
    "now. Try again."

/* ---- record headers ---- */

void eg_events_add_header(rd_kafka_headers_t *h, const char *name, const char *value)
{
    if (value)
        rd_kafka_header_add(h, name, -1, value, -1);
}

void eg_events_add_hops(rd_kafka_headers_t *h, long hops)
{
    char v[24];
    if (hops > 0) {
        snprintf(v, sizeof v, "%ld", hops);
        eg_events_add_header(h, EG_HDR_HOPS, v);
    }
}

/* ---- an event to Kafka ---- */

/* 503 with Retry-After: 1, for an event the embedded broker could not take. */
static void finish_full(pending_t *p)
{
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "Retry-After", "1");
    eg_events_finish_error_headers(p, 503, HOLD_FULL, h);
}

static void produce(pending_t *p)
{
    eg_events_api_t *api = p->api;
    /* A structured event that is its request's body exactly is stored as it
     * came, copied into the record (one allocation with it); any other is
     * serialized, and the record takes the text. */
    size_t vlen = p->ev.raw ? p->ev.raw_len : 0;
    char *owned = p->ev.raw ? NULL : eg_event_serialize(&p->ev, &vlen);
    const char *value = p->ev.raw ? p->ev.raw : owned;
    rd_kafka_headers_t *h = rd_kafka_headers_new(10);
    eg_events_add_header(h, EG_HDR_CONTENT_TYPE, eg_event_content_type(&p->ev));
    eg_events_add_header(h, EG_HDR_SPACE, p->ev.space);
    eg_events_add_header(h, EG_HDR_EVENT_TYPE, p->ev.type);
    eg_events_add_header(h, EG_HDR_EVENT_ID, p->ev.id);
    eg_events_add_header(h, EG_HDR_METHOD, p->method);
    eg_events_add_header(h, EG_HDR_PATH, p->path);
    eg_events_add_hops(h, p->hops);
    if (p->sync_sub)
        eg_events_sync_begin(p, h);
    const char *key = p->ev.partition_key ? p->ev.partition_key : p->ev.id;
    size_t size = strlen(key) + vlen + eg_route_headers_size(h), max = api->rt->max_record;
    if (size + EG_ROUTE_ENVELOPE > max) {
        /* Every record on the event's way must fit its topic: the router
         * adds its headers to each invocation. A wrapped http.request
         * (base64, escaping) can pass this under --max-body-bytes. */
        rd_kafka_headers_destroy(h);
        free(owned);
        eg_events_sync_cancel(p);
        char msg[300];
        snprintf(msg, sizeof msg,
                 "The event is %zu bytes as stored; this gateway stores events of at most %zu "
                 "bytes (its Kafka topics take records of %zu bytes, and routing adds %d).",
                 size, max > EG_ROUTE_ENVELOPE ? max - EG_ROUTE_ENVELOPE : 0, max,
                 EG_ROUTE_ENVELOPE);
        eg_events_finish_error(p, 413, msg);
        return;
    }
    /* A sync request's client waits for the whole round trip: its event
     * must not linger behind the batching of async ones. */
    rd_kafka_t *rk = p->sync_sub ? api->sync.rk : api->events.rk;
    eg_runtime_wake(api->rt); /* the router and invokers of this process, if they doze */
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(api->rt->topics.events), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, vlen),
        RD_KAFKA_V_MSGFLAGS((owned ? RD_KAFKA_MSG_F_FREE : RD_KAFKA_MSG_F_COPY)),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(eg_events_pending_ref(p)), RD_KAFKA_V_END);
    if (e) {
        eg_events_pending_unref(p); /* the producer's */
        free(owned);
        rd_kafka_headers_destroy(h);
        eg_events_sync_cancel(p);
        char msg[400];
        snprintf(msg, sizeof msg, "The event could not be stored in Kafka: %s. Try again.",
                 rd_kafka_err2str(e));
        eg_events_finish_error(p, 503, msg);
        return;
    }
    EG_LOGF(EG_LOG_LEVEL_DEBUG, "events-api", EV_FIELDS(p, p->sync_sub), 4,
            "event %s (%s) in space %s sent to Kafka%s%s", p->ev.id, p->ev.type, p->ev.space,
            p->sync_sub ? "; sync subscription " : "", p->sync_sub ? p->sync_sub : "");
}

/* Holds p until the embedded broker's consumers catch up (the loop
 * releases it), or answers 503 when the hold is full or closing. */
static void hold(pending_t *p)
{
    eg_events_api_t *api = p->api;
    hold_t *h = &api->hold;
    int held = 0;
    p->ev.raw = NULL; /* produced later, when the request's body may be gone */
    pthread_mutex_lock(&h->mu);
    if (h->n < HOLD_MAX && !atomic_load(&api->closing)) {
        p->held_at = eg_time_mono_ms();
        h->q[(h->head + h->n) % HOLD_MAX] = eg_events_pending_ref(p);
        h->n++;
        atomic_store(&h->count, h->n);
        held = 1;
    }
    pthread_mutex_unlock(&h->mu);
    if (!held)
        finish_full(p);
}

void eg_events_submit(pending_t *p)
{
    eg_events_api_t *api = p->api;
    if (api->rt->backlog && (eg_backlog_full(api->rt->backlog) || atomic_load(&api->hold.count)))
        hold(p); /* behind those held already, in order */
    else
        produce(p);
}

/* ---- the held events ---- */

/* The loop's part: recomputes the backlog every
 * HOLD_CHECK_MS and sends what is held, oldest first, once it is under the
 * low-water mark; what was held --ingest-timeout-ms gets its 503. `all`:
 * shutting down, every held event is answered 503 now. Returns the number
 * still held. */
static size_t hold_release_locked(eg_events_api_t *api, int all)
{
    hold_t *h = &api->hold;
    int64_t now = eg_time_mono_ms();
    if (now >= h->next_check) {
        eg_backlog_check(api->rt->backlog, NULL);
        h->next_check = now + HOLD_CHECK_MS;
    }
    if (!atomic_load(&h->count))
        return 0;
    if (now >= h->next_warn && eg_backlog_full(api->rt->backlog)) {
        h->next_warn = now + 5000;
        EG_LOG_WARN("events-api",
                    "embedded Kafka: a consumer is %.1f MB behind on a partition, which keeps "
                    "%d MB: %zu event(s) held until it catches up (503 after %d ms)",
                    (double)eg_backlog_worst(api->rt->backlog) / (1024 * 1024),
                    EG_BACKLOG_PARTITION_BYTES / (1024 * 1024), (size_t)atomic_load(&h->count),
                    api->rt->settings->ingest_timeout_ms);
    }
    for (;;) {
        pthread_mutex_lock(&h->mu);
        pending_t *p = h->n ? h->q[h->head] : NULL;
        int expired = p && (all || now - p->held_at >= api->rt->settings->ingest_timeout_ms);
        if (p && !expired && eg_backlog_full(api->rt->backlog))
            p = NULL; /* still full: the oldest waits on */
        if (p) {
            h->head = (h->head + 1) % HOLD_MAX;
            h->n--;
            atomic_store(&h->count, h->n);
        }
        size_t left = h->n;
        pthread_mutex_unlock(&h->mu);
        if (!p)
            return left;
        if (expired)
            finish_full(p);
        else
            produce(p);
        eg_events_pending_unref(p);
    }
}

size_t eg_events_hold_release(eg_events_api_t *api, int all)
{
    if (!api->rt->backlog)
        return 0;
    pthread_mutex_lock(&api->hold.release_mu);
    size_t left = hold_release_locked(api, all);
    pthread_mutex_unlock(&api->hold.release_mu);
    return left;
}

/* A turn of the Events API's first event loop (eg_http_loop_t), in its
 * thread: the producers' delivery reports, whose arrival wakes the loop
 * (their queues write to api->wakefd), answer their requests right there,
 * with no hand-off to another thread; then the held events are released.
 * The next turn comes in a few ms while some are held, every HOLD_CHECK_MS
 * (a backlog check) on a mock cluster, else when something arrives. */
int eg_events_loop_turn(void *arg)
{
    eg_events_api_t *api = arg;
    rd_kafka_poll(api->events.rk, 0);
    rd_kafka_poll(api->sync.rk, 0);
    size_t held = eg_events_hold_release(api, 0);
    return held ? 2 : api->rt->backlog ? HOLD_CHECK_MS : -1;
}

/* ---- the producers and their delivery reports ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    pending_t *p = m->_private;
    if (!p)
        return;
    if (m->err) {
        /* A sync request that is not stored waits for nothing. */
        eg_events_sync_cancel(p);
        char msg[400];
        if (rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_NOT_PERSISTED) {
            snprintf(msg, sizeof msg, "The event could not be stored in Kafka: %s. Try again.",
                     rd_kafka_err2str(m->err));
            eg_events_finish_error(p, 503, msg);
        } else {
            /* Its request reached a broker that did not answer in time: it
             * may still write it (a paused or overloaded broker does, later). */
            snprintf(msg, sizeof msg,
                     "Kafka did not confirm the event in time (%s): it may or may not be stored. "
                     "Sending it again may store it twice.",
                     rd_kafka_err2str(m->err));
            eg_events_finish_error(p, 504, msg);
        }
    } else {
        /* counted before the answer, so that a client sees it in /metrics */
        eg_metric_add(p->api->rt->mx.events_received,
                      (const char *const[]){p->ev.space, p->ev.type}, 1);
        eg_backlog_produced(p->api->rt->backlog, m);
        if (!p->sync_sub)
            eg_events_finish(p, 202, NULL, NULL, 0, NULL);
    }
    eg_events_pending_unref(p);
}

/* An idempotent producer (acks=all) whose delivery reports answer the
 * requests, with linger.ms as given (unless --kafka sets it), or, with linger
 * NULL, the sync path's settings; its delivery reports wake the loop. */
int eg_events_producer_start(eg_events_api_t *api, producer_t *pr, const char *what,
                             const char *linger, char *err, size_t errlen)
{
    const eg_settings_t *s = api->rt->settings;
    char tmo[32], backoff[32];
    snprintf(tmo, sizeof tmo, "%d", s->ingest_timeout_ms);
    int bo = s->ingest_timeout_ms / 2 < 1000 ? s->ingest_timeout_ms / 2 : 1000;
    snprintf(backoff, sizeof backoff, "%d", bo < 100 ? 100 : bo);
    const eg_kafka_prop_t rows[] = {
        EG_KAFKA_FIXED("enable.idempotence", "true"),
        EG_KAFKA_FIXED("acks", "all"),
        EG_KAFKA_DEFAULT("linger.ms",
                         linger), /* the async one's; the sync one's is the profile's */
        EG_KAFKA_DEFAULT("max.in.flight.requests.per.connection", linger ? "1" : NULL),
        EG_KAFKA_DEFAULT("message.timeout.ms", tmo),
        /* librdkafka notices a record's time-out when its broker thread wakes,
         * which, with the broker down, is at each reconnect attempt: keep them
         * frequent, so that the 503 comes close to --ingest-timeout-ms. */
        EG_KAFKA_DEFAULT("reconnect.backoff.max.ms", backoff),
        {NULL, NULL, 0},
    };
    char name[64];
    snprintf(name, sizeof name, "%s producer", what);
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_PRODUCER,
                                  .name = name,
                                  .profile =
                                      linger ? EG_KAFKA_RELIABLE_PRODUCER : EG_KAFKA_SYNC_PRODUCER,
                                  .props = rows,
                                  .dr_msg_cb = on_delivery};
    if (!(pr->rk = eg_kafka_client_new(s, api->rt->brokers, &spec, err, errlen)))
        return -1;
    /* Warm-up: the producer connects and learns the events topic's partitions
     * now, not at the first event (which would wait for that, ~0.5 s). A
     * Kafka that does not answer in time only costs that wait here. */
    char werr[256];
    if (eg_kafka_partition_count(pr->rk, api->rt->topics.events, s->ingest_timeout_ms, werr,
                                 sizeof werr) < 0)
        EG_LOG_WARN("events-api", "%s producer: %s", what, werr);
    static const uint64_t one = 1; /* an eventfd takes 8 bytes */
    pr->q = rd_kafka_queue_get_main(pr->rk);
    rd_kafka_queue_io_event_enable(pr->q, api->wakefd, &one, sizeof one);
    return 0;
}
