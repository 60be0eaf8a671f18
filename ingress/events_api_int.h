/*
 * events_api_int.h: what the pieces of the Events API share, private to
 * them; the ingress sees ingress.h only. File by file:
 *   events_api.c      the request: the MHD handler, the event it becomes, its
 *                     checks (CORS, keys, loops), its answer; the server's life;
 *   events_produce.c  the way to Kafka: the producers, the held events, the
 *                     delivery reports and the first loop's turn;
 *   events_sync.c     the calls answered on the reply topic: the authorizer,
 *                     and the answer of a sync subscription's function.
 * The overview (steps, concurrency, ownership) is at the top of events_api.c.
 */
#ifndef EG_EVENTS_API_INT_H
#define EG_EVENTS_API_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "eg_event.h"
#include "eg_log.h"
#include "ingress.h"

#define HOLD_MAX 8192 /* held events: the server's connection limit */

/* A producer; its delivery reports are served by the server's loop. */
typedef struct {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q; /* its main queue, which wakes the loop (wakefd) */
} producer_t;

typedef struct pending pending_t;

/* The events held while the embedded broker's consumers catch up: a FIFO
 * ring, drained by the server's loop (eg_events_hold_release). */
typedef struct {
    pthread_mutex_t mu;         /* the ring */
    pthread_mutex_t release_mu; /* one eg_events_hold_release at a time (loop, shutdown) */
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

/* One request, from the handler to its answer (see Ownership in events_api.c). */
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

/* The fields of an event's log lines; sub: the subscription, or NULL. */
#define EV_FIELDS(p, sub)                                                                          \
    ((eg_log_field_t[]){{"event", (p)->ev.id},                                                     \
                        {"space", (p)->ev.space},                                                  \
                        {"type", (p)->ev.type},                                                    \
                        {"subscription", (sub)}})

/* ---- the request (events_api.c) ---- */

pending_t *eg_events_pending_ref(pending_t *p);
/* Drops a reference (arg: the pending_t); the last one frees the request. */
void eg_events_pending_unref(void *arg);
/* Decides the answer (once) and wakes the request up. body and headers
 * (may be NULL) are taken. */
void eg_events_finish(pending_t *p, int status, const char *ctype, char *body, size_t len,
                      cJSON *headers);
/* An {"errors":[{"message"}]} answer; headers (taken, may be NULL) are added. */
void eg_events_finish_error_headers(pending_t *p, int status, const char *message, cJSON *headers);
void eg_events_finish_error(pending_t *p, int status, const char *message);

/* ---- to Kafka (events_produce.c) ---- */

/* Starts an idempotent producer whose delivery reports answer the requests
 * and wake the loop; linger: the async one's linger.ms, NULL for the sync
 * path's settings. 0, or -1 with a message in err. */
int eg_events_producer_start(eg_events_api_t *api, producer_t *pr, const char *what,
                             const char *linger, char *err, size_t errlen);
/* Produces the event of p now, or holds it behind those held already. */
void eg_events_submit(pending_t *p);
/* Sends what is held once the backlog allows, answers 503 to what waited
 * too long (`all`: to everything held, at shutdown). Returns how many are
 * still held. */
size_t eg_events_hold_release(eg_events_api_t *api, int all);
/* A turn of the first event loop (eg_http_loop_t.run): delivery reports and
 * held events; returns the loop's next wait (ms, -1 none). */
int eg_events_loop_turn(void *arg);
/* Adds a header to a record when value is not NULL. */
void eg_events_add_header(rd_kafka_headers_t *h, const char *name, const char *value);
/* Adds the eg-hops header when hops > 0. */
void eg_events_add_hops(rd_kafka_headers_t *h, long hops);

/* ---- calls answered on the reply topic (events_sync.c) ---- */

/* Calls the authorizer fn (of pool) with the event and the request in; its
 * answer submits the event or refuses it (403). */
void eg_events_authorize(pending_t *p, const char *fn, const char *pool, const eg_http_input_t *in);
/* Waits for the answer of p's sync subscription and adds to h the headers
 * that say where to send it. 0, or -1 when the wait could not be registered. */
void eg_events_sync_begin(pending_t *p, rd_kafka_headers_t *h);
/* Takes back p's wait, if any, when its event is not stored. */
void eg_events_sync_cancel(pending_t *p);

#endif
