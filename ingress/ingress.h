/*
 * The ingress role: the Config API (port 4001) and the Events API (port
 * 4000), both served by libmicrohttpd.
 */
#ifndef EG_INGRESS_H
#define EG_INGRESS_H

#include <stddef.h>
#include "eg_http.h"
#include "eg_reply.h"
#include "eg_runtime.h"

extern const eg_role_ops_t eg_ingress_role;

/* ---- sync replies (sync.c) ---- */
#define EG_SYNC_ID_LEN 64
typedef struct eg_sync eg_sync_t;
/* reply: the reply, or NULL when the deadline passed first. Called on the
 * reply thread, exactly once per wait that was not cancelled. */
typedef void (*eg_sync_cb_t)(void *arg, const eg_reply_t *reply);
eg_sync_t *eg_sync_new(eg_runtime_t *rt, char *err, size_t errlen);
/* Tells every waiter "no answer", then stops. */
void eg_sync_free(eg_sync_t *s);
const char *eg_sync_reply_topic(const eg_sync_t *s);
/* Registers a wait; its correlation id goes to id. */
void eg_sync_wait(eg_sync_t *s, int timeout_ms, eg_sync_cb_t cb, void *arg,
                  char id[EG_SYNC_ID_LEN]);
/* 1 when the wait was still registered (its callback will not run). */
int eg_sync_cancel(eg_sync_t *s, const char *id);

/* ---- reply topics: their bounds, and those of ingresses that are gone
 * (reply_topics.c) ---- */
typedef struct eg_reply_topics eg_reply_topics_t;
/* Makes sure the reply topic `topic` exists, created with the reply topics'
 * bounds (retention, segments, record size) when it does not; rk: a client
 * of the cluster. 0, or -1 with a message in err. */
int eg_reply_topic_create(eg_runtime_t *rt, rd_kafka_t *rk, const char *topic, char *err,
                          size_t errlen);
/* Starts the thread that keeps `own` (this ingress's reply topic) alive and
 * deletes other ingresses' idle ones (--reply-topic-reap-ms). Real clusters
 * only. NULL with a message in err on failure. */
eg_reply_topics_t *eg_reply_topics_new(eg_runtime_t *rt, const char *own, char *err, size_t errlen);
void eg_reply_topics_free(eg_reply_topics_t *t);

/* ---- the Events API (events_api.c) ---- */
typedef struct eg_events_api eg_events_api_t;
eg_events_api_t *eg_events_api_new(eg_runtime_t *rt, char *err, size_t errlen);
/* Answers every request still waiting for Kafka, then stops. */
void eg_events_api_free(eg_events_api_t *api);
/* Takes no more connections (eg_http_server_quiesce); NULL is ignored. */
void eg_events_api_quiesce(eg_events_api_t *api);
enum MHD_Result eg_events_api_handle(void *ctx, eg_http_req_t *req);
/* The event loops --events-threads asks for: itself, or for 0 half the
 * CPUs (at least 1, at most 8). */
int eg_events_api_threads(int setting);

/* ---- the Config API (config_api.c) ---- */
typedef struct eg_replay_store eg_replay_store_t; /* replay_api.c */
/* What the Config API's handler is given (its ctx): the runtime, and the
 * ingress's replay store (history and replays), NULL while there is none. */
typedef struct eg_config_api_ctx {
    eg_runtime_t *rt;
    eg_replay_store_t *replays;
} eg_config_api_ctx_t;
enum MHD_Result eg_config_api_handle(void *ctx, eg_http_req_t *req);
/* Requests that never block (GET /v1/status, /metrics): run on the loop. */
int eg_config_api_quick(const eg_http_req_t *req);
/* Access keys and the accesskeys resource (config_gate.c), for a request on
 * /v1/spaces/{space}/{kind}[/{id}] (id raw, NULL for the collection) once
 * the configuration log is ready: 1 when it answered (*ret), 0 when the
 * Config API goes on with the request. */
int eg_config_api_gate(eg_runtime_t *rt, eg_http_req_t *req, const char *space, eg_kind_t kind,
                       const char *id, enum MHD_Result *ret);
/* The same key check for the space's other resources (replays, events). */
int eg_config_api_gate_other(eg_runtime_t *rt, eg_http_req_t *req, const char *space,
                             const char *resource, const char *id, enum MHD_Result *ret);

/* ---- history and replays on the Config API (replay_api.c) ---- */
/* The replay store: follows the replays topic, writes replay records; the
 * ingress owns it and hands it to the Config API (eg_config_api_ctx_t). */
eg_replay_store_t *eg_replay_store_new(eg_runtime_t *rt, char *err, size_t errlen);
void eg_replay_store_free(eg_replay_store_t *st);
/* 1 when /v1/spaces/{space}/<resource>… is served by eg_replay_api_handle. */
int eg_replay_api_serves(const char *resource);
/* seg[0] is the resource ("replays" or "events"), n >= 1 segments; space
 * is percent-decoded, not yet validated. */
enum MHD_Result eg_replay_api_handle(eg_replay_store_t *st, eg_http_req_t *req, const char *space,
                                     char **seg, int n);

#endif
