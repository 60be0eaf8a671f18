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
 * the producers' delivery reports and the held events (eg_events_loop_turn):
 * a report arriving wakes it like a request does. The handler suspends its
 * connection before anything asynchronous starts; the step that decides
 * the answer (a delivery report in the first loop, a reply or a time-out on
 * the reply thread) stores it in the request's pending_t and resumes the
 * connection; MHD then calls the handler again, in the connection's loop,
 * which sends it. eg_events_finish runs at most once per request (an atomic
 * flag).
 *
 * Ownership: a pending_t is reference counted: the request holds one
 * reference (dropped when the request ends), a record in the producer one
 * (dropped by its delivery report), a registered wait one (dropped by its
 * callback, or by whoever cancels it). The connection stays suspended until
 * eg_events_finish, so the request cannot end before its answer is decided.
 * Shutdown stops the reply thread (every waiter gets "no answer") and
 * flushes the producer (every record gets its report) before MHD stops.
 *
 * Files: this one holds the request (the handler, the event it becomes, its
 * checks and its answer) and the server's life; events_produce.c step 2,
 * events_sync.c steps 1 and 3 (see events_api_int.h).
 */
#include "events_api_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "accesskey.h"
#include "cors.h"
#include "eg_event_attr.h"
#include "eg_alloc.h"
#include "eg_kafka_hdr.h"
#include "eg_time.h"

#define MAX_HEADERS 128
#define MAX_PARAMS 64

/* ---- the request's state ---- */

pending_t *eg_events_pending_ref(pending_t *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void eg_events_pending_unref(void *arg)
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

void eg_events_finish(pending_t *p, int status, const char *ctype, char *body, size_t len,
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

void eg_events_finish_error_headers(pending_t *p, int status, const char *message, cJSON *headers)
{
    cJSON *doc = cJSON_CreateObject(), *errs = cJSON_AddArrayToObject(doc, "errors"),
          *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddItemToArray(errs, e);
    char *s = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    eg_events_finish(p, status, "application/json", s, strlen(s), headers);
}

void eg_events_finish_error(pending_t *p, int status, const char *message)
{
    eg_events_finish_error_headers(p, status, message, NULL);
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

/* Does the event pass a sync subscription's filters? One that does not is
 * not the request's answer: the event goes on as an async one would. */
static int sync_passes(const eg_sub_t *sub, const eg_event_t *ev)
{
    if (!sub->filter && !sub->filter_bad)
        return 1;
    eg_event_attrs_t attrs = {.ev = ev};
    eg_cesql_scratch_t *sc = eg_cesql_scratch_new();
    int ok = eg_sub_passes(sub, eg_event_attr, &attrs, sc);
    eg_cesql_scratch_free(sc);
    return ok;
}

static void suspended_done(void *arg)
{
    pending_t *p = arg;
    atomic_fetch_sub(&p->api->suspended, 1);
    eg_events_pending_unref(p);
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
        eg_events_pending_unref(p);
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
            if (subs[i]->sync && sync_passes(subs[i], &p->ev)) {
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
        req->user_free = eg_events_pending_unref;
        eg_events_finish_error(p, err.status ? err.status : 400, err.message);
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
        eg_events_authorize(p, auth_fn, auth_pool, &in);
    } else {
        eg_events_submit(p);
    }
    return MHD_YES;
}

/* ---- the server ---- */

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
    if (eg_events_producer_start(api, &api->events, "events", linger, err, errlen) ||
        eg_events_producer_start(api, &api->sync, "sync events", NULL, err, errlen) ||
        !(api->waits = eg_sync_new(rt, err, errlen)))
        goto fail;
    eg_http_loop_t loop = {.threads = eg_events_api_threads(s->events_threads),
                           .fd = api->wakefd,
                           .run = eg_events_loop_turn,
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
    eg_events_hold_release(api, 1);
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
