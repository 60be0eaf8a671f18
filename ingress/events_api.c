/*
 * events_api.c: the Events API (port 4000).
 *
 * Every request becomes a CloudEvent (eg_event_from_http decides which of the
 * four input forms it is) and is checked against the configuration: its type
 * must be registered in its space (http.request aside). Then, in order:
 *
 *  1. authorizer: when the event type names one, the authorizer function is
 *     called first, through Kafka like any sync call (a record on its pool's
 *     sync invocation topic, answered on this instance's reply topic), with
 *     {"event":…,"request":…}. {"authorization":{…}} lets the event through
 *     with the extension eventgateway.authorization; a refusal, a failed call
 *     or no answer in time is a 403 and the event is not stored.
 *  2. the event is produced to the events topic (idempotent producer,
 *     acks=all), keyed by its partitionkey extension or else its id, with
 *     routing headers for the router; a structured event that is exactly its
 *     body is stored as the body came (eg_event_t.raw), any other is
 *     serialized. Two producers: async events go through one that lingers
 *     --ingest-linger-ms and keeps one request in flight per broker
 *     connection, so that concurrent events share fewer, larger requests
 *     (what comes while one is out goes in the next); sync events and
 *     authorizer calls, whose client waits for a whole round trip, through
 *     one that sends at once (EG_KAFKA_SYNC_PRODUCER). Their delivery
 *     reports are served by the server's own thread (see Concurrency). Both
 *     learn the events topic's metadata at start, so that the first event
 *     does not wait for it.
 *     On the embedded broker, which drops a partition's oldest records past
 *     5 MiB whether they were consumed or not, an event is held (its request
 *     waits, in arrival order) while a consumer of this process is too far
 *     behind (eg_backlog.h), and produced when it has caught up; held for
 *     --ingest-timeout-ms, it is answered 503 with Retry-After. A client thus
 *     slows down to what the functions take instead of having its accepted
 *     events dropped.
 *  3. no sync subscription matches (space, type, method, path): the answer is
 *     202, sent only from the record's delivery report (a 202 means the event
 *     is in Kafka). When Kafka cannot take it within --ingest-timeout-ms
 *     (message.timeout.ms), the report's message status decides: never sent,
 *     or refused by the broker, is 503 (not stored, send it again); sent to
 *     a broker that did not answer in time is 504 (it may still write it, as
 *     a paused broker does when it resumes: stored or not, nobody knows).
 *     A sync subscription matches: the record also names it and says where to
 *     answer (eg-reply-to, eg-correlation, eg-deadline); the router sends it
 *     to the function's sync invocation topic, an invoker calls the function
 *     and writes its answer to the reply topic, and the function's
 *     {"statusCode","headers","body"} becomes the response. A failed call or
 *     a malformed answer is a 500 "Function call failed. Please check logs.";
 *     no answer within --sync-timeout-ms a 504.
 *
 * Concurrency: the server is event loops (eg_http's EG_HTTP_EVENT_LOOP,
 * --events-threads, one on 2 CPUs) that never block; the first also serves
 * the producers' delivery reports and the held events (loop_turn): a
 * report arriving wakes it like a request does. The handler suspends its
 * connection before anything asynchronous starts; the step that decides
 * the answer (a delivery report in the first loop, a reply or a time-out on
 * the reply thread) stores it in the request's pending_t and resumes the
 * connection; MHD then calls the handler again, in the connection's loop,
 * which sends it. finish() runs at most once per request (an atomic flag).
 *
 * Ownership: a pending_t is reference counted: the request holds one
 * reference (dropped when the request ends), a record in the producer one
 * (dropped by its delivery report), a registered wait one (dropped by its
 * callback, or by whoever cancels it). The connection stays suspended until
 * finish(), so the request cannot end before its answer is decided.
 * Shutdown stops the reply thread (every waiter gets "no answer") and
 * flushes the producer (every record gets its report) before MHD stops.
 */
#include "ingress.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "accesskey.h"
#include "cors.h"
#include "eg_alloc.h"
#include "eg_event.h"
#include "eg_kafka_client.h"
#include "eg_kafka_hdr.h"
#include "eg_log.h"
#include "eg_route.h"
#include "eg_time.h"

#define MAX_HEADERS 128
#define HOLD_MAX 8192 /* held events: the server's connection limit */
#define HOLD_CHECK_MS 10
#define HOLD_FULL                                                                                  \
    "The gateway's embedded Kafka is full: its consumers are too far behind to take more events "  \
    "now. Try again."
#define MAX_PARAMS 64
#define FUNCTION_FAILED "Function call failed. Please check logs."
#define TOO_LARGE "The function's answer is too large to carry back through Kafka."

/* A producer; its delivery reports are served by the server's loop. */
typedef struct {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q; /* its main queue, which wakes the loop (wakefd) */
} producer_t;

typedef struct pending pending_t;

/* The events held while the embedded broker's consumers catch up: a FIFO
 * ring, drained by the server's loop (hold_release). */
typedef struct {
    pthread_mutex_t mu;         /* the ring */
    pthread_mutex_t release_mu; /* one hold_release at a time (loop, shutdown) */
    pending_t *q[HOLD_MAX];
    size_t head, n;
    atomic_size_t count; /* n, read without the lock */
    int64_t next_check;  /* under release_mu: when to recompute the backlog */
    int64_t next_warn;   /* under release_mu: log at most every few seconds */
} hold_t;

struct eg_events_api {
    eg_runtime_t *rt;
    producer_t events; /* async events: lingers (--ingest-linger-ms) to batch */
    producer_t sync;   /* sync events and authorizer calls: sends at once */
    eg_sync_t *waits;
    int wakefd;           /* eventfd: the producers' delivery reports wake the loop */
    atomic_int closing;   /* shutting down: nothing is held any more */
    atomic_int suspended; /* requests suspended and not yet ended (MHD must not stop before) */
    eg_http_server_t *server;
    hold_t hold;
    /* Every answer without a body or a header of ours (a 202 without CORS):
     * one response, queued by every loop (MHD counts its uses under a lock). */
    struct MHD_Response *bare;
};

struct pending {
    atomic_int refs;
    atomic_int finished;
    int suspended; /* set before anything asynchronous starts */
    struct MHD_Connection *conn;
    eg_events_api_t *api;
    /* what is being worked on */
    eg_event_t ev;
    char method[16];
    char *path;
    char *sync_sub;            /* owned; NULL: async */
    char corr[EG_SYNC_ID_LEN]; /* the registered wait, if any */
    /* the answer */
    int status;
    char *body;
    size_t body_len;
    const char *ctype;
    cJSON *headers;  /* object of strings, or NULL */
    cJSON *cors;     /* the CORS headers of every answer: object of strings, or NULL */
    int64_t held_at; /* monotonic ms it was held at (hold_t) */
    long hops;       /* the request's Eg-Hops (0 when none): kept on the records */
    int key_used;    /* its Authorization header was the space's key: not passed on */
};

static pending_t *pending_ref(pending_t *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}

static void pending_unref(void *arg)
{
    pending_t *p = arg;
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    eg_event_release(&p->ev);
    free(p->path);
    free(p->sync_sub);
    free(p->body);
    cJSON_Delete(p->headers);
    cJSON_Delete(p->cors);
    free(p);
}

/* Decides the answer (once) and wakes the request up. body is taken. */
static void finish(pending_t *p, int status, const char *ctype, char *body, size_t len,
                   cJSON *headers)
{
    if (atomic_exchange(&p->finished, 1)) {
        free(body);
        cJSON_Delete(headers);
        return;
    }
    p->status = status;
    p->ctype = ctype;
    p->body = body;
    p->body_len = len;
    p->headers = headers;
    if (p->suspended)
        eg_http_resume(p->api->server, p->conn);
}

/* An {"errors":[{"message"}]} answer; headers (taken, may be NULL) are added. */
static void finish_error_headers(pending_t *p, int status, const char *message, cJSON *headers)
{
    cJSON *doc = cJSON_CreateObject(), *errs = cJSON_AddArrayToObject(doc, "errors"),
          *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddItemToArray(errs, e);
    char *s = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    finish(p, status, "application/json", s, strlen(s), headers);
}

static void finish_error(pending_t *p, int status, const char *message)
{
    finish_error_headers(p, status, message, NULL);
}

/* 503 with Retry-After: 1, for an event the embedded broker could not take. */
static void finish_full(pending_t *p)
{
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "Retry-After", "1");
    finish_error_headers(p, 503, HOLD_FULL, h);
}

/* ---- step 3: answers ---- */

/* The fields of an event's log lines; sub: the subscription, or NULL. */
#define EV_FIELDS(p, sub)                                                                          \
    ((eg_log_field_t[]){{"event", (p)->ev.id},                                                     \
                        {"space", (p)->ev.space},                                                  \
                        {"type", (p)->ev.type},                                                    \
                        {"subscription", (sub)}})

static void on_sync_reply(void *arg, const eg_reply_t *r)
{
    pending_t *p = arg;
    if (!r) {
        EG_LOGF(EG_LOG_LEVEL_INFO, "events-api", EV_FIELDS(p, p->sync_sub), 4,
                "event %s: no answer from subscription %s in time", p->ev.id, p->sync_sub);
        finish_error(p, 504, "No answer from the function in time.");
    } else if (!r->ok) {
        EG_LOGF(EG_LOG_LEVEL_WARN, "events-api", EV_FIELDS(p, p->sync_sub), 4,
                "event %s: sync call for subscription %s failed: %s", p->ev.id, p->sync_sub,
                r->error ? r->error : "?");
        if (r->error && !strncmp(r->error, EG_REPLY_TOO_LARGE, strlen(EG_REPLY_TOO_LARGE)))
            finish_error(p, 502, TOO_LARGE);
        else
            finish_error(p, 500, FUNCTION_FAILED);
    } else {
        eg_sync_answer_t a;
        int bad = eg_sync_answer_parse(r->body, r->body_len, &a);
        if (bad == -2) {
            EG_LOGF(EG_LOG_LEVEL_WARN, "events-api", EV_FIELDS(p, p->sync_sub), 4,
                    "event %s: subscription %s's function answered more headers than an "
                    "answer may carry (%d, %d bytes)",
                    p->ev.id, p->sync_sub, EG_SYNC_MAX_HEADERS, EG_SYNC_MAX_HEADER_BYTES);
            char msg[160];
            snprintf(msg, sizeof msg,
                     "The function's answer has more headers than the gateway passes on "
                     "(at most %d, %d bytes in all).",
                     EG_SYNC_MAX_HEADERS, EG_SYNC_MAX_HEADER_BYTES);
            finish_error(p, 502, msg);
        } else if (bad) {
            EG_LOGF(EG_LOG_LEVEL_WARN, "events-api", EV_FIELDS(p, p->sync_sub), 4,
                    "event %s: subscription %s's function answered no "
                    "{\"statusCode\",\"headers\",\"body\"} object",
                    p->ev.id, p->sync_sub);
            finish_error(p, 500, FUNCTION_FAILED);
        } else {
            finish(p, a.status, NULL, a.body, a.body_len, a.headers);
            a.body = NULL;
            a.headers = NULL;
            eg_sync_answer_release(&a);
        }
    }
    pending_unref(p);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    pending_t *p = m->_private;
    if (!p)
        return;
    if (m->err) {
        /* A sync request that is not stored waits for nothing. */
        if (p->corr[0] && eg_sync_cancel(p->api->waits, p->corr))
            pending_unref(p);
        char msg[400];
        if (rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_NOT_PERSISTED) {
            snprintf(msg, sizeof msg, "The event could not be stored in Kafka: %s. Try again.",
                     rd_kafka_err2str(m->err));
            finish_error(p, 503, msg);
        } else {
            /* Its request reached a broker that did not answer in time: it
             * may still write it (a paused or overloaded broker does, later). */
            snprintf(msg, sizeof msg,
                     "Kafka did not confirm the event in time (%s): it may or may not be stored. "
                     "Sending it again may store it twice.",
                     rd_kafka_err2str(m->err));
            finish_error(p, 504, msg);
        }
    } else {
        /* counted before the answer, so that a client sees it in /metrics */
        eg_metric_add(p->api->rt->mx.events_received,
                      (const char *const[]){p->ev.space, p->ev.type}, 1);
        eg_backlog_produced(p->api->rt->backlog, m);
        if (!p->sync_sub)
            finish(p, 202, NULL, NULL, 0, NULL);
    }
    pending_unref(p);
}

static void add_hdr(rd_kafka_headers_t *h, const char *name, const char *value)
{
    if (value)
        rd_kafka_header_add(h, name, -1, value, -1);
}

static void add_hops(rd_kafka_headers_t *h, long hops)
{
    char v[24];
    if (hops > 0) {
        snprintf(v, sizeof v, "%ld", hops);
        add_hdr(h, EG_HDR_HOPS, v);
    }
}

/* ---- step 2: the event goes to Kafka ---- */

static void produce(pending_t *p)
{
    eg_events_api_t *api = p->api;
    /* A structured event that is its request's body exactly is stored as it
     * came, copied into the record (one allocation with it); any other is
     * serialized, and the record takes the text. */
    size_t vlen = p->ev.raw ? p->ev.raw_len : 0;
    char *owned = p->ev.raw ? NULL : eg_event_serialize(&p->ev, &vlen);
    const char *value = p->ev.raw ? p->ev.raw : owned;
    if (!value) {
        finish_error(p, 500, "out of memory");
        return;
    }
    rd_kafka_headers_t *h = rd_kafka_headers_new(10);
    add_hdr(h, EG_HDR_CONTENT_TYPE, eg_event_content_type(&p->ev));
    add_hdr(h, EG_HDR_SPACE, p->ev.space);
    add_hdr(h, EG_HDR_EVENT_TYPE, p->ev.type);
    add_hdr(h, EG_HDR_EVENT_ID, p->ev.id);
    add_hdr(h, EG_HDR_METHOD, p->method);
    add_hdr(h, EG_HDR_PATH, p->path);
    add_hops(h, p->hops);
    if (p->sync_sub) {
        int timeout = api->rt->settings->sync_timeout_ms;
        char deadline[32];
        if (eg_sync_wait(api->waits, timeout, on_sync_reply, pending_ref(p), p->corr)) {
            pending_unref(p);
            rd_kafka_headers_destroy(h);
            free(owned);
            finish_error(p, 500, "out of memory");
            return;
        }
        snprintf(deadline, sizeof deadline, "%lld", (long long)(eg_time_now_ms() + timeout));
        add_hdr(h, EG_HDR_SYNC_SUBSCRIPTION, p->sync_sub);
        add_hdr(h, EG_HDR_REPLY_TO, eg_sync_reply_topic(api->waits));
        add_hdr(h, EG_HDR_CORRELATION, p->corr);
        add_hdr(h, EG_HDR_DEADLINE, deadline);
    }
    const char *key = p->ev.partition_key ? p->ev.partition_key : p->ev.id;
    size_t size = strlen(key) + vlen + eg_route_headers_size(h), max = api->rt->max_record;
    if (size + EG_ROUTE_ENVELOPE > max) {
        /* Every record on the event's way must fit its topic: the router
         * adds its headers to each invocation. A wrapped http.request
         * (base64, escaping) can pass this under --max-body-bytes. */
        rd_kafka_headers_destroy(h);
        free(owned);
        if (p->corr[0] && eg_sync_cancel(api->waits, p->corr))
            pending_unref(p);
        char msg[300];
        snprintf(msg, sizeof msg,
                 "The event is %zu bytes as stored; this gateway stores events of at most %zu "
                 "bytes (its Kafka topics take records of %zu bytes, and routing adds %d).",
                 size, max > EG_ROUTE_ENVELOPE ? max - EG_ROUTE_ENVELOPE : 0, max,
                 EG_ROUTE_ENVELOPE);
        finish_error(p, 413, msg);
        return;
    }
    /* A sync request's client waits for the whole round trip: its event
     * must not linger behind the batching of async ones. */
    rd_kafka_t *rk = p->sync_sub ? api->sync.rk : api->events.rk;
    eg_runtime_wake(api->rt); /* the router and invokers of this process, if they doze */
    rd_kafka_resp_err_t e =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(api->rt->topics.events),
                          RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, vlen),
                          RD_KAFKA_V_MSGFLAGS((owned ? RD_KAFKA_MSG_F_FREE : RD_KAFKA_MSG_F_COPY)),
                          RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(pending_ref(p)), RD_KAFKA_V_END);
    if (e) {
        pending_unref(p); /* the producer's */
        free(owned);
        rd_kafka_headers_destroy(h);
        if (p->corr[0] && eg_sync_cancel(api->waits, p->corr))
            pending_unref(p);
        char msg[400];
        snprintf(msg, sizeof msg, "The event could not be stored in Kafka: %s. Try again.",
                 rd_kafka_err2str(e));
        finish_error(p, 503, msg);
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
        h->q[(h->head + h->n) % HOLD_MAX] = pending_ref(p);
        h->n++;
        atomic_store(&h->count, h->n);
        held = 1;
    }
    pthread_mutex_unlock(&h->mu);
    if (!held)
        finish_full(p);
}

static void submit(pending_t *p)
{
    eg_events_api_t *api = p->api;
    if (api->rt->backlog && (eg_backlog_full(api->rt->backlog) || atomic_load(&api->hold.count)))
        hold(p); /* behind those held already, in order */
    else
        produce(p);
}

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
        pending_unref(p);
    }
}

static size_t hold_release(eg_events_api_t *api, int all)
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
static int loop_turn(void *arg)
{
    eg_events_api_t *api = arg;
    rd_kafka_poll(api->events.rk, 0);
    rd_kafka_poll(api->sync.rk, 0);
    size_t held = hold_release(api, 0);
    return held ? 2 : api->rt->backlog ? HOLD_CHECK_MS : -1;
}

/* ---- step 1: the authorizer ---- */

static void on_auth_reply(void *arg, const eg_reply_t *r)
{
    pending_t *p = arg;
    const char *why = "no answer in time";
    cJSON *ans = NULL;
    if (r && r->ok && (ans = cJSON_ParseWithLength(r->body, r->body_len))) {
        cJSON *auth = cJSON_DetachItemFromObjectCaseSensitive(ans, "authorization");
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(ans, "error");
        if (cJSON_IsObject(auth) && !err) {
            if (eg_event_set_extension(&p->ev, "eventgateway.authorization", auth) == 0) {
                cJSON_Delete(ans);
                submit(p);
                pending_unref(p);
                return;
            }
            why = "the authorization could not be added to the event";
        } else {
            const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
            why = cJSON_IsString(msg) ? msg->valuestring : "the authorizer refused";
            cJSON_Delete(auth);
        }
    } else if (r) {
        why = r->ok ? "the authorizer's answer is not JSON" : r->error ? r->error : "failed call";
    }
    EG_LOGF(EG_LOG_LEVEL_INFO, "events-api", EV_FIELDS(p, NULL), 4,
            "event %s (%s) not authorized: %s", p->ev.id, p->ev.type, why);
    char msg[512];
    snprintf(msg, sizeof msg, "Unauthorized: %s", why);
    finish_error(p, 403, msg);
    cJSON_Delete(ans);
    pending_unref(p);
}

/* The request as the authorizer sees it. */
static cJSON *auth_request(const eg_http_input_t *in, int key_used)
{
    cJSON *r = cJSON_CreateObject(), *h = cJSON_AddObjectToObject(r, "headers");
    cJSON_AddStringToObject(r, "method", in->method);
    cJSON_AddStringToObject(r, "path", in->path);
    cJSON_AddStringToObject(r, "host", in->host ? in->host : "");
    cJSON_AddStringToObject(r, "query", in->raw_query ? in->raw_query : "");
    for (size_t i = 0; i < in->nheaders; i++)
        if (!cJSON_GetObjectItem(h, in->headers[i].name) &&
            !(key_used && !strcasecmp(in->headers[i].name, MHD_HTTP_HEADER_AUTHORIZATION)))
            cJSON_AddStringToObject(h, in->headers[i].name, in->headers[i].value);
    return r;
}

static void authorize(pending_t *p, const char *fn, const char *pool, const eg_http_input_t *in)
{
    eg_events_api_t *api = p->api;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "event", cJSON_Duplicate(p->ev.json, 1));
    cJSON_AddItemToObject(doc, "request", auth_request(in, p->key_used));
    char *value = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    char corr[EG_SYNC_ID_LEN], deadline[32], topic[512];
    int timeout = api->rt->settings->sync_timeout_ms;
    if (eg_sync_wait(api->waits, timeout, on_auth_reply, pending_ref(p), corr)) {
        pending_unref(p);
        free(value);
        finish_error(p, 500, "out of memory");
        return;
    }
    snprintf(deadline, sizeof deadline, "%lld", (long long)(eg_time_now_ms() + timeout));
    eg_topics_invoke(topic, sizeof topic, api->rt->settings->topic_prefix, pool, EG_INVOKE_SYNC);
    eg_runtime_wake(api->rt); /* the sync invokers of this process, if they doze */
    rd_kafka_headers_t *h = rd_kafka_headers_new(10);
    add_hdr(h, EG_HDR_CONTENT_TYPE, "application/json");
    add_hdr(h, EG_HDR_SPACE, p->ev.space);
    add_hdr(h, EG_HDR_FUNCTION, fn);
    add_hdr(h, EG_HDR_SUBSCRIPTION, EG_AUTHORIZER_SUBSCRIPTION);
    add_hdr(h, EG_HDR_EVENT_ID, p->ev.id);
    add_hdr(h, EG_HDR_EVENT_TYPE, p->ev.type);
    add_hdr(h, EG_HDR_REPLY_TO, eg_sync_reply_topic(api->waits));
    add_hdr(h, EG_HDR_CORRELATION, corr);
    add_hdr(h, EG_HDR_DEADLINE, deadline);
    add_hops(h, p->hops);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        api->sync.rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(p->ev.id, strlen(p->ev.id)),
        RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (e) {
        free(value);
        rd_kafka_headers_destroy(h);
        if (eg_sync_cancel(api->waits, corr))
            pending_unref(p);
        finish_error(p, 403, "Unauthorized: the authorizer could not be called.");
    }
}

/* ---- the request ---- */

typedef struct {
    eg_header_t h[MAX_HEADERS];
    size_t n;
} headers_t;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    headers_t *hs = cls;
    if (hs->n < MAX_HEADERS) {
        hs->h[hs->n].name = key;
        hs->h[hs->n].value = value ? value : "";
        hs->n++;
    }
    return MHD_YES;
}

typedef struct {
    char *buf;
    size_t len, cap;
    int overflow;
} query_t;

/* Rebuilds the raw query string (MHD hands the arguments over undecoded,
 * since the plumbing turns its unescaping off). */
static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    query_t *q = cls;
    int n = snprintf(q->buf + q->len, q->cap - q->len, "%s%s%s%s", q->len ? "&" : "", key,
                     value ? "=" : "", value ? value : "");
    if (n < 0 || (size_t)n >= q->cap - q->len) {
        q->overflow = 1;
        return MHD_NO;
    }
    q->len += (size_t)n;
    return MHD_YES;
}

static enum MHD_Result answer(eg_http_req_t *req, pending_t *p)
{
    if (!p->body_len && !p->ctype && !p->headers && !p->cors)
        return MHD_queue_response(req->conn, (unsigned)p->status, p->api->bare);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        p->body_len, p->body ? p->body : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (p->ctype)
        MHD_add_response_header(r, "Content-Type", p->ctype);
    for (const cJSON *h = p->headers ? p->headers->child : NULL; h; h = h->next)
        MHD_add_response_header(r, h->string, h->valuestring);
    for (const cJSON *h = p->cors ? p->cors->child : NULL; h; h = h->next)
        MHD_add_response_header(r, h->string, h->valuestring);
    enum MHD_Result ret = MHD_queue_response(req->conn, (unsigned)p->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Answers a CORS preflight when a CORS configuration covers the requested
 * method and path (space "default": a preflight carries no event to name
 * another). 0 when none does: the request is then an event like any other. */
static int preflight(eg_events_api_t *api, eg_http_req_t *req, const char *path,
                     enum MHD_Result *ret)
{
    const char *acrm =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Access-Control-Request-Method");
    if (!eg_cors_is_preflight(req->method, acrm))
        return 0;
    eg_cors_header_t hs[EG_CORS_MAX_HEADERS];
    size_t n = 0;
    const eg_config_t *cfg = eg_configlog_read_begin(api->rt->config);
    const cJSON *cors = eg_config_cors_match(cfg, "default", acrm, path);
    if (cors)
        eg_cors_preflight(cors, MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Origin"),
                          acrm,
                          MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                      "Access-Control-Request-Headers"),
                          hs, EG_CORS_MAX_HEADERS, &n);
    eg_configlog_read_end(api->rt->config);
    if (!cors)
        return 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        *ret = MHD_NO;
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        MHD_add_response_header(r, hs[i].name, hs[i].value);
    *ret = MHD_queue_response(req->conn, EG_CORS_PREFLIGHT_STATUS, r);
    MHD_destroy_response(r);
    return 1;
}

/* The CORS headers of an actual request's answers, or NULL. */
static cJSON *cors_headers(const eg_config_t *cfg, const char *space, eg_http_req_t *req,
                           const char *path)
{
    const cJSON *cors = eg_config_cors_match(cfg, space, req->method, path);
    if (!cors)
        return NULL;
    eg_cors_header_t hs[EG_CORS_MAX_HEADERS];
    size_t n = eg_cors_response_headers(
        cors, MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Origin"), hs,
        EG_CORS_MAX_HEADERS);
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++)
        cJSON_AddStringToObject(o, hs[i].name, hs[i].value);
    return o;
}

/* ---- gates: publishing keys and loops ---- */

/* An http.request event records the request's headers: the key that opened
 * the space is the gateway's credential, not the event's. */
static void drop_authorization(eg_event_t *ev)
{
    if (ev->raw || strcmp(ev->type, EG_EVENT_TYPE_HTTP_REQUEST) ||
        strcmp(ev->source, EG_EVENT_SOURCE_EG))
        return;
    cJSON *data = cJSON_GetObjectItemCaseSensitive(ev->json, "data");
    cJSON *h = cJSON_GetObjectItemCaseSensitive(data, "headers");
    if (cJSON_IsObject(h))
        cJSON_DeleteItemFromObjectCaseSensitive(h, "Authorization");
}

/* --require-publish-keys: an event for a space that asks for keys (it has
 * some, or --require-keys) carries one of the space's keys or the admin key,
 * as a Config API request on it would (eg_accesskey_check). 0, or -1 with
 * the refusal (401 no key, 403 a wrong one) in err. cfg: read lock held. */
static int publish_gate(eg_events_api_t *api, const eg_config_t *cfg, pending_t *p,
                        const char *auth, eg_error_t *err)
{
    const eg_settings_t *s = api->rt->settings;
    if (!s->require_publish_keys)
        return 0;
    int verdict = eg_accesskey_check(cfg, p->ev.space, auth, s->admin_key, s->require_keys);
    if (verdict) {
        EG_LOGF(EG_LOG_LEVEL_INFO, "events-api", EV_FIELDS(p, NULL), 4,
                "event refused (%d): %s for space %s", verdict,
                verdict == 401 ? "no access key" : "a wrong access key", p->ev.space);
        return verdict == 401
                   ? eg_error_set(err, 401,
                                  "Publishing to space \"%s\" needs an access key: send "
                                  "\"Authorization: bearer KEY\" with a key of the space or the "
                                  "admin key.",
                                  p->ev.space)
                   : eg_error_set(err, 403, "The access key given does not open space \"%s\".",
                                  p->ev.space);
    }
    p->key_used = s->require_keys || eg_config_count(cfg, EG_KIND_ACCESSKEY, p->ev.space) > 0;
    if (p->key_used)
        drop_authorization(&p->ev);
    return 0;
}

/* An event whose Eg-Hops header says it went through more function calls
 * than --max-hops is refused: a function posting back the events it gets
 * (directly or through others) would re-ingest them forever. 0, or -1 with
 * the 508 in err. cfg: read lock held. */
static int hop_gate(eg_events_api_t *api, const eg_config_t *cfg, pending_t *p, eg_error_t *err)
{
    int max = api->rt->settings->max_hops;
    if (p->hops <= max)
        return 0;
    /* labelled only with configured spaces: made-up ones would crowd the series cap */
    const char *label =
        eg_config_space_known(cfg, p->ev.space) ? p->ev.space : EG_METRICS_OTHER_SPACE;
    eg_metric_add(api->rt->mx.loops_refused, (const char *const[]){label}, 1);
    EG_LOGF(EG_LOG_LEVEL_WARN, "events-api", EV_FIELDS(p, NULL), 4,
            "event %s (%s) refused with 508: it comes from a function call %ld hops deep "
            "(--max-hops %d): a loop?",
            p->ev.id, p->ev.type, p->hops, max);
    return eg_error_set(err, 508,
                        "Loop detected: this event comes from a function the gateway called "
                        "(" EG_HOPS_HTTP_HEADER ": %ld), more than %d calls deep (--max-hops). "
                        "A function that posts back the events it receives makes a loop.",
                        p->hops, max);
}

/* The end of a request that was suspended (MHD resumed it and sent its
 * answer): the server may stop once none is left. */
static void suspended_done(void *arg)
{
    pending_t *p = arg;
    atomic_fetch_sub(&p->api->suspended, 1);
    pending_unref(p);
}

enum MHD_Result eg_events_api_handle(void *ctx, eg_http_req_t *req)
{
    eg_events_api_t *api = ctx;
    if (req->user)
        return answer(req, req->user);

    /* The path, decoded. */
    char path[EG_MAX_PATH + 1];
    size_t plen = strlen(req->url);
    if (plen > EG_MAX_PATH)
        return eg_http_error(req->conn, 414, "The path is too long.");
    memcpy(path, req->url, plen + 1);
    if (eg_http_unescape(path, 0) < 0)
        return eg_http_error(req->conn, 400, "Malformed percent-encoding in the path.");
    enum MHD_Result ret;
    if (preflight(api, req, path, &ret))
        return ret;

    headers_t hs; /* not zeroed: only the first hs.n entries are read */
    hs.n = 0;
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_header, &hs);
    char qbuf[8192];
    query_t q = {qbuf, 0, sizeof qbuf, 0};
    qbuf[0] = '\0';
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
    if (q.overflow)
        return eg_http_error(req->conn, 414, "The query string is too long.");

    eg_http_input_t in = {
        .method = req->method,
        .path = path,
        .raw_query = q.len ? qbuf : NULL,
        .host = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Host"),
        .headers = hs.h,
        .nheaders = hs.n,
        .body = req->body,
        .body_len = req->body_len,
    };
    pending_t *p = eg_xcalloc(1, sizeof *p);
    atomic_init(&p->refs, 1);
    p->api = api;
    p->conn = req->conn;
    size_t mlen = strnlen(req->method, sizeof p->method - 1);
    memcpy(p->method, req->method, mlen); /* calloc'd: NUL-terminated */
    p->path = eg_xstrdup(path);
    eg_error_t err = {0};
    char auth_fn[EG_MAX_NAME + 1] = "", auth_pool[EG_MAX_NAME + 1] = "default";
    const char *hops = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, EG_HOPS_HTTP_HEADER);
    if (hops && (p->hops = eg_hops_parse(hops, strlen(hops))) < 0) {
        pending_unref(p);
        return eg_http_error(req->conn, 400,
                             "The " EG_HOPS_HTTP_HEADER " header must be a whole number: the hop "
                             "count the gateway sent with the call to the function.");
    }

    /* The path parameters of an http.request event come from the route its
     * subscriptions share (one tree per space, method and event type). The
     * space is not known before parsing: a request becomes an http.request
     * event of space "default" unless its body says otherwise. */
    const eg_config_t *cfg = eg_configlog_read_begin(api->rt->config);
    const eg_sub_t *subs[16];
    eg_path_param_t params[MAX_PARAMS];
    size_t np = 0;
    eg_config_match(cfg, "default", "http.request", req->method, path, subs, 1, params, MAX_PARAMS,
                    &np);
    in.params = params;
    in.nparams = np;
    int rc = eg_event_from_http(&in, &p->ev, &err);
    p->cors = cors_headers(cfg, rc == 0 ? p->ev.space : "default", req, path);
    const cJSON *et = NULL;
    if (rc == 0)
        rc = publish_gate(
            api, cfg, p,
            MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
            &err);
    if (rc == 0)
        rc = hop_gate(api, cfg, p, &err);
    if (rc == 0) {
        et = eg_config_peek(cfg, EG_KIND_EVENTTYPE, p->ev.space, p->ev.type);
        if (!et && strcmp(p->ev.type, "http.request"))
            rc = eg_error_set(&err, 400, "Event type \"%.256s\" is not registered in space \"%s\".",
                              p->ev.type, p->ev.space);
    }
    if (rc == 0) {
        size_t n = eg_config_match(cfg, p->ev.space, p->ev.type, req->method, path, subs, 16,
                                   params, MAX_PARAMS, &np);
        for (size_t i = 0; i < n && i < 16; i++)
            if (subs[i]->sync) {
                p->sync_sub = eg_xstrdup(subs[i]->id);
                break;
            }
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(et, "authorizerId");
        if (cJSON_IsString(a)) {
            const cJSON *fn = eg_config_function(cfg, p->ev.space, a->valuestring);
            const cJSON *pool = cJSON_GetObjectItemCaseSensitive(fn, "pool");
            snprintf(auth_fn, sizeof auth_fn, "%s", a->valuestring);
            if (cJSON_IsString(pool))
                snprintf(auth_pool, sizeof auth_pool, "%s", pool->valuestring);
        }
    }
    eg_configlog_read_end(api->rt->config);
    if (rc) {
        /* answered at once, with the CORS headers like any answer */
        req->user = p;
        req->user_free = pending_unref;
        finish_error(p, err.status ? err.status : 400, err.message);
        return answer(req, p);
    }

    /* From here on the answer comes from another thread. */
    req->user = p;
    req->user_free = suspended_done;
    atomic_fetch_add(&api->suspended, 1);
    MHD_suspend_connection(req->conn);
    p->suspended = 1;
    if (auth_fn[0]) {
        p->ev.raw = NULL; /* produced once the authorizer answers: the body may be gone */
        authorize(p, auth_fn, auth_pool, &in);
    } else {
        submit(p);
    }
    return MHD_YES;
}

/* An idempotent producer (acks=all) whose delivery reports answer the
 * requests, with linger.ms as given (unless --kafka sets it), or, with linger
 * NULL, the sync path's settings; its delivery reports wake the loop. */
static int producer_start(eg_events_api_t *api, producer_t *pr, const char *what,
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

int eg_events_api_threads(int setting)
{
    if (setting > 0)
        return setting;
    long n = sysconf(_SC_NPROCESSORS_ONLN) / 2;
    return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

eg_events_api_t *eg_events_api_new(eg_runtime_t *rt, char *err, size_t errlen)
{
    const eg_settings_t *s = rt->settings;
    eg_events_api_t *api = eg_xcalloc(1, sizeof *api);
    char linger[32];
    api->rt = rt;
    api->wakefd = -1;
    pthread_mutex_init(&api->hold.mu, NULL);
    pthread_mutex_init(&api->hold.release_mu, NULL);
    snprintf(linger, sizeof linger, "%g", s->ingest_linger_ms);
    if ((api->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    if (!(api->bare = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (producer_start(api, &api->events, "events", linger, err, errlen) ||
        producer_start(api, &api->sync, "sync events", NULL, err, errlen) ||
        !(api->waits = eg_sync_new(rt, err, errlen)))
        goto fail;
    eg_http_loop_t loop = {.threads = eg_events_api_threads(s->events_threads),
                           .fd = api->wakefd,
                           .run = loop_turn,
                           .ctx = api,
                           .deadline_ms = s->request_deadline_ms};
    api->server =
        eg_http_server_new("Events API", s->listen, s->events_port, s->max_body_bytes,
                           EG_HTTP_EVENT_LOOP, eg_events_api_handle, api, &loop, err, errlen);
    if (!api->server)
        goto fail;
    return api;
fail:
    eg_events_api_free(api);
    return NULL;
}

void eg_events_api_quiesce(eg_events_api_t *api)
{
    if (api)
        eg_http_server_quiesce(api->server);
}

void eg_events_api_free(eg_events_api_t *api)
{
    if (!api)
        return;
    /* Every suspended request gets its answer before the server stops: the
     * held events (503: nothing is held any more), the delivery reports
     * (a sync request may then wait for a reply), then the waits, which are
     * told "no answer". */
    atomic_store(&api->closing, 1);
    hold_release(api, 1);
    producer_t *prs[] = {&api->events, &api->sync};
    for (size_t i = 0; i < 2; i++)
        if (prs[i]->rk)
            rd_kafka_flush(prs[i]->rk, api->rt->settings->ingest_timeout_ms + 1000);
    for (size_t i = 0; i < 2; i++)
        if (prs[i]->rk)
            rd_kafka_poll(prs[i]->rk, 0);
    eg_sync_free(api->waits);
    /* Every request has its answer now; the loops send them, and stopping
     * MHD with one still suspended aborts the process. */
    for (int64_t end = eg_time_mono_ms() + 5000;
         atomic_load(&api->suspended) > 0 && eg_time_mono_ms() < end;)
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    if (atomic_load(&api->suspended) > 0)
        EG_LOG_WARN("events-api", "%d request(s) still suspended at shutdown",
                    atomic_load(&api->suspended));
    eg_http_server_free(api->server);
    if (api->bare)
        MHD_destroy_response(api->bare);
    for (size_t i = 0; i < 2; i++) {
        if (prs[i]->q) {
            rd_kafka_queue_io_event_enable(prs[i]->q, -1, NULL, 0);
            rd_kafka_queue_destroy(prs[i]->q);
        }
        if (prs[i]->rk)
            rd_kafka_destroy(prs[i]->rk);
    }
    if (api->wakefd >= 0)
        close(api->wakefd);
    pthread_mutex_destroy(&api->hold.mu);
    pthread_mutex_destroy(&api->hold.release_mu);
    free(api);
}
