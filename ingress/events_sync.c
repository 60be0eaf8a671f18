/*
 * events_sync.c: the Events API's calls answered on the reply topic
 * (sync.c): the authorizer of an event type (step 1) and the function of a
 * sync subscription (step 3). Each registers a wait under a correlation id
 * that its record carries (eg-reply-to, eg-correlation, eg-deadline); the
 * wait holds a reference to the request until its callback runs or it is
 * cancelled.
 *
 * Threads: a call starts on the event loop that took the request (the
 * authorizer) or wherever the event is produced (events_produce.c); the
 * answers, replies or time-outs, come on the reply thread, or at shutdown
 * on the thread that stops sync.c. An answer decides the request's answer
 * (eg_events_finish) or, from the authorizer, submits the event.
 */
#include "events_api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eg_kafka_hdr.h"
#include "eg_log.h"
#include "eg_time.h"

#define FUNCTION_FAILED "Function call failed. Please check logs."
#define TOO_LARGE "The function's answer is too large to carry back through Kafka."

/* ---- step 1: the authorizer ---- */

/* The authorizer's reply (NULL: none in time): the event goes on, or 403. */
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
                eg_events_submit(p);
                eg_events_pending_unref(p);
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
    eg_events_finish_error(p, 403, msg);
    cJSON_Delete(ans);
    eg_events_pending_unref(p);
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

void eg_events_authorize(pending_t *p, const char *fn, const char *pool, const eg_http_input_t *in)
{
    eg_events_api_t *api = p->api;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "event", cJSON_Duplicate(p->ev.json, 1));
    cJSON_AddItemToObject(doc, "request", auth_request(in, p->key_used));
    char *value = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    char corr[EG_SYNC_ID_LEN], deadline[32], topic[512];
    int timeout = api->rt->settings->sync_timeout_ms;
    eg_sync_wait(api->waits, timeout, on_auth_reply, eg_events_pending_ref(p), corr);
    snprintf(deadline, sizeof deadline, "%lld", (long long)(eg_time_now_ms() + timeout));
    eg_topics_invoke(topic, sizeof topic, api->rt->settings->topic_prefix, pool, EG_INVOKE_SYNC);
    eg_runtime_wake(api->rt); /* the sync invokers of this process, if they doze */
    rd_kafka_headers_t *h = rd_kafka_headers_new(10);
    eg_events_add_header(h, EG_HDR_CONTENT_TYPE, "application/json");
    eg_events_add_header(h, EG_HDR_SPACE, p->ev.space);
    eg_events_add_header(h, EG_HDR_FUNCTION, fn);
    eg_events_add_header(h, EG_HDR_SUBSCRIPTION, EG_AUTHORIZER_SUBSCRIPTION);
    eg_events_add_header(h, EG_HDR_EVENT_ID, p->ev.id);
    eg_events_add_header(h, EG_HDR_EVENT_TYPE, p->ev.type);
    eg_events_add_header(h, EG_HDR_REPLY_TO, eg_sync_reply_topic(api->waits));
    eg_events_add_header(h, EG_HDR_CORRELATION, corr);
    eg_events_add_header(h, EG_HDR_DEADLINE, deadline);
    eg_events_add_hops(h, p->hops);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        api->sync.rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(p->ev.id, strlen(p->ev.id)),
        RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (e) {
        free(value);
        rd_kafka_headers_destroy(h);
        if (eg_sync_cancel(api->waits, corr))
            eg_events_pending_unref(p);
        eg_events_finish_error(p, 403, "Unauthorized: the authorizer could not be called.");
    }
}

/* ---- step 3: a sync subscription's answer ---- */

/* The reply of p's sync subscription, or NULL (none in time), is the answer. */
static void on_sync_reply(void *arg, const eg_reply_t *r)
{
    pending_t *p = arg;
    if (!r) {
        EG_LOGF(EG_LOG_LEVEL_INFO, "events-api", EV_FIELDS(p, p->sync_sub), 4,
                "event %s: no answer from subscription %s in time", p->ev.id, p->sync_sub);
        eg_events_finish_error(p, 504, "No answer from the function in time.");
    } else if (!r->ok) {
        EG_LOGF(EG_LOG_LEVEL_WARN, "events-api", EV_FIELDS(p, p->sync_sub), 4,
                "event %s: sync call for subscription %s failed: %s", p->ev.id, p->sync_sub,
                r->error ? r->error : "?");
        if (r->error && !strncmp(r->error, EG_REPLY_TOO_LARGE, strlen(EG_REPLY_TOO_LARGE)))
            eg_events_finish_error(p, 502, TOO_LARGE);
        else
            eg_events_finish_error(p, 500, FUNCTION_FAILED);
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
            eg_events_finish_error(p, 502, msg);
        } else if (bad) {
            EG_LOGF(EG_LOG_LEVEL_WARN, "events-api", EV_FIELDS(p, p->sync_sub), 4,
                    "event %s: subscription %s's function answered no "
                    "{\"statusCode\",\"headers\",\"body\"} object",
                    p->ev.id, p->sync_sub);
            eg_events_finish_error(p, 500, FUNCTION_FAILED);
        } else {
            eg_events_finish(p, a.status, NULL, a.body, a.body_len, a.headers);
            a.body = NULL;
            a.headers = NULL;
            eg_sync_answer_release(&a);
        }
    }
    eg_events_pending_unref(p);
}

void eg_events_sync_begin(pending_t *p, rd_kafka_headers_t *h)
{
    eg_events_api_t *api = p->api;
    int timeout = api->rt->settings->sync_timeout_ms;
    char deadline[32];
    eg_sync_wait(api->waits, timeout, on_sync_reply, eg_events_pending_ref(p), p->corr);
    snprintf(deadline, sizeof deadline, "%lld", (long long)(eg_time_now_ms() + timeout));
    eg_events_add_header(h, EG_HDR_SYNC_SUBSCRIPTION, p->sync_sub);
    eg_events_add_header(h, EG_HDR_REPLY_TO, eg_sync_reply_topic(api->waits));
    eg_events_add_header(h, EG_HDR_CORRELATION, p->corr);
    eg_events_add_header(h, EG_HDR_DEADLINE, deadline);
}

void eg_events_sync_cancel(pending_t *p)
{
    if (p->corr[0] && eg_sync_cancel(p->api->waits, p->corr))
        eg_events_pending_unref(p);
}
