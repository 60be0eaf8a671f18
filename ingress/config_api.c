/*
 * config_api.c: the Config API (port 4001), compatible with event-gateway 0.9
 * and @serverless/event-gateway-sdk.
 *
 *   GET  /v1/status, GET /metrics (Prometheus text format)
 *   GET|POST             /v1/spaces/{space}/{eventtypes|functions|subscriptions|cors}
 *   GET|PUT|DELETE       /v1/spaces/{space}/{kind}/{id}
 *   /v1/spaces/{space}/replays[/{id}], /v1/spaces/{space}/events: replay_api.c
 *
 * Reads are answered from this process's view of the configuration log;
 * writes go through eg_configlog_write, which answers only once the record
 * has come back from Kafka and been applied (see eg_configlog.h). A CORS id
 * is matched as it appears in the URL (0.9's ids hold "%2F"); other ids are
 * percent-decoded first.
 */
#include "ingress.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cors.h"
#include "eg_alloc.h"
#include "eg_base64.h"
#include "eg_log.h"

#define MAX_FILTERS 16

static enum MHD_Result status(eg_runtime_t *rt, struct MHD_Connection *conn)
{
    int ready = 0;
    cJSON *doc = eg_runtime_status(rt, &ready);
    return eg_http_json(conn, ready ? 200 : 503, doc);
}

typedef struct {
    char *filters[MAX_FILTERS];
    size_t n;
    int overflow;
} filters_t;

static enum MHD_Result collect_filter(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    filters_t *f = cls;
    if (strncmp(key, "metadata.", 9))
        return MHD_YES;
    if (f->n >= MAX_FILTERS) {
        f->overflow = 1;
        return MHD_NO;
    }
    size_t n = strlen(key + 9) + (value ? strlen(value) : 0) + 2;
    char *kv = eg_xmalloc(n), *k = eg_xstrdup(key + 9), *v = eg_xstrdup(value ? value : "");
    if (eg_http_unescape(k, 1) >= 0 && eg_http_unescape(v, 1) >= 0) {
        /* 0.9 takes the first value of a repeated key */
        int dup = 0;
        size_t kl = strlen(k);
        for (size_t i = 0; i < f->n; i++)
            dup |= !strncmp(f->filters[i], k, kl) && f->filters[i][kl] == '=';
        if (!dup) {
            snprintf(kv, n, "%s=%s", k, v);
            f->filters[f->n++] = kv;
            kv = NULL;
        }
    }
    free(kv);
    free(k);
    free(v);
    return MHD_YES;
}

/* A list answers at most EG_LIST_PAGE_MAX resources and, past the first,
 * about EG_LIST_PAGE_BYTES of JSON; more come with "nextCursor", which the
 * next request passes back as ?cursor=. A space smaller than a page answers
 * what 0.9 answered. At most EG_LIST_READERS lists are built at once (each
 * copies its page under the configuration's read lock); the others wait. */
#define EG_LIST_PAGE_MAX 1000
#define EG_LIST_PAGE_BYTES (4 * 1024 * 1024)
#define EG_LIST_READERS 4
#define EG_LIST_WAIT_S 10

static sem_t list_slots;
static pthread_once_t list_slots_once = PTHREAD_ONCE_INIT;

static void list_slots_init(void)
{
    sem_init(&list_slots, 0, EG_LIST_READERS);
}

/* The ?limit= and ?cursor= of a list: 0, or -1 with the 400's message. */
static int page_args(eg_http_req_t *req, size_t *limit, char **after, char *msg, size_t msglen)
{
    const char *l = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "limit");
    const char *c = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "cursor");
    *limit = EG_LIST_PAGE_MAX;
    *after = NULL;
    if (l) {
        char *end;
        long v = strtol(l, &end, 10);
        if (!*l || *end || v < 1 || v > EG_LIST_PAGE_MAX) {
            snprintf(msg, msglen, "\"limit\" must be a number from 1 to %d.", EG_LIST_PAGE_MAX);
            return -1;
        }
        *limit = (size_t)v;
    }
    if (c && *c) {
        /* the cursor is URL-safe base64 of the last id (decoded as standard) */
        char std[2 * EG_MAX_ID];
        size_t cl = strlen(c), n = 0;
        if (cl >= sizeof std)
            cl = 0;
        for (size_t i = 0; i < cl; i++)
            std[i] = c[i] == '-' ? '+' : c[i] == '_' ? '/' : c[i];
        unsigned char *id = cl ? eg_base64_decode(std, cl, &n) : NULL;
        if (!id || !n || memchr(id, '\0', n)) {
            free(id);
            snprintf(msg, msglen, "\"cursor\" is not a cursor this API answered.");
            return -1;
        }
        char *z = eg_xrealloc(id, n + 1);
        z[n] = '\0';
        *after = z;
    }
    return 0;
}

static enum MHD_Result list(eg_runtime_t *rt, eg_http_req_t *req, eg_kind_t kind, const char *space)
{
    filters_t f = {.n = 0};
    size_t limit;
    char *after = NULL, *next = NULL, msg[160];
    if (page_args(req, &limit, &after, msg, sizeof msg))
        return eg_http_error(req->conn, 400, msg);
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_filter, &f);
    if (f.overflow) {
        for (size_t i = 0; i < f.n; i++)
            free(f.filters[i]);
        free(after);
        return eg_http_error(req->conn, 400, "Too many metadata filters (at most 16).");
    }
    pthread_once(&list_slots_once, list_slots_init);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += EG_LIST_WAIT_S;
    int slot = sem_timedwait(&list_slots, &until) == 0;
    cJSON *arr = NULL;
    if (slot) {
        const eg_config_t *cfg = eg_configlog_read_begin(rt->config);
        arr = eg_config_list_page(cfg, kind, space, (const char *const *)f.filters, f.n, after,
                                  limit, EG_LIST_PAGE_BYTES, &next);
        eg_configlog_read_end(rt->config);
        sem_post(&list_slots);
    }
    for (size_t i = 0; i < f.n; i++)
        free(f.filters[i]);
    free(after);
    if (!slot)
        return eg_http_error(req->conn, 503, "Too many lists are being read at once. Try again.");
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, eg_kind_list_key(kind), arr);
    if (next) {
        char *cur = eg_base64_encode(next, strlen(next), 1);
        if (cur)
            cJSON_AddStringToObject(doc, "nextCursor", cur);
        free(cur);
        free(next);
    }
    return eg_http_json(req->conn, 200, doc);
}

static const char *const kind_titles[EG_KIND__COUNT] = {"Event Type", "Function", "Subscription",
                                                        "CORS configuration"};

static enum MHD_Result get_one(eg_runtime_t *rt, eg_http_req_t *req, eg_kind_t kind,
                               const char *space, const char *id)
{
    const eg_config_t *cfg = eg_configlog_read_begin(rt->config);
    cJSON *o = eg_config_get(cfg, kind, space, id);
    eg_configlog_read_end(rt->config);
    if (!o) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s \"%.256s\" not found.", kind_titles[kind], id);
        return eg_http_error(req->conn, 404, msg);
    }
    return eg_http_json(req->conn, 200, o);
}

#define CHANGE_FIELDS(op, kind, space, id)                                                         \
    ((eg_log_field_t[]){{"op", eg_op_name(op)},                                                    \
                        {"resource", eg_kind_name(kind)},                                          \
                        {"space", (space)},                                                        \
                        {"id", (id)}})

/* Is the space at its quota of that kind (--max-*-per-space)? 1 with the
 * 429 in err. Checked when the request comes, not when the record is
 * applied: every process must apply the same log, whatever its own flags.
 * Creates racing in from several ingresses can pass the quota by as many. */
static int over_quota(eg_runtime_t *rt, eg_kind_t kind, const char *space, eg_error_t *err)
{
    const eg_settings_t *s = rt->settings;
    int max = kind == EG_KIND_EVENTTYPE      ? s->max_eventtypes
              : kind == EG_KIND_FUNCTION     ? s->max_functions
              : kind == EG_KIND_SUBSCRIPTION ? s->max_subscriptions
                                             : 0;
    if (max <= 0)
        return 0;
    const eg_config_t *cfg = eg_configlog_read_begin(rt->config);
    size_t n = eg_config_count(cfg, kind, space);
    eg_configlog_read_end(rt->config);
    if (n < (size_t)max)
        return 0;
    eg_error_set(err, 429, "Space \"%s\" holds %zu %s, its limit (--max-%s-per-space %d).", space,
                 n, eg_kind_name(kind), eg_kind_name(kind), max);
    return 1;
}

/* A function's pool names its invocation topics: one whose names Kafka
 * would refuse would hold every event of it (the router cannot create the
 * topic). 0, or -1 with err set (400). */
static int pool_too_long(const eg_runtime_t *rt, const eg_change_t *c, eg_error_t *err)
{
    const cJSON *pool = c->kind == EG_KIND_FUNCTION && c->data
                            ? cJSON_GetObjectItemCaseSensitive(c->data, "pool")
                            : NULL;
    if (!cJSON_IsString(pool))
        return 0;
    char name[EG_MAX_NAME + 512];
    eg_topics_invoke(name, sizeof name, rt->settings->topic_prefix, pool->valuestring,
                     EG_INVOKE_OVERFLOW); /* the longest of its names */
    size_t len = strlen(name);
    if (len <= EG_KAFKA_TOPIC_MAX)
        return 0;
    return eg_error_set(err, 400,
                        "\"pool\" must be at most %zu characters here: the names of its "
                        "invocation topics (%s) would pass Kafka's %d.",
                        EG_KAFKA_TOPIC_MAX - (len - strlen(pool->valuestring)), name,
                        EG_KAFKA_TOPIC_MAX);
}

static enum MHD_Result write_change(eg_runtime_t *rt, eg_http_req_t *req, eg_op_t op,
                                    eg_kind_t kind, const char *space, const char *id)
{
    eg_change_t c;
    eg_error_t err = {0};
    cJSON *result = NULL;
    if (eg_change_from_request(&c, op, kind, space, id, req->body, req->body_len, &err))
        return eg_http_error(req->conn, (unsigned)err.status, err.message);
    if ((op == EG_OP_CREATE && over_quota(rt, kind, space, &err)) || pool_too_long(rt, &c, &err)) {
        EG_LOGF(EG_LOG_LEVEL_INFO, "config-api", CHANGE_FIELDS(op, kind, space, c.id), 4,
                "%s %s %s/%s refused (%d): %s", eg_op_name(op), eg_kind_name(kind), space, c.id,
                err.status, err.message);
        eg_change_release(&c);
        return eg_http_error(req->conn, (unsigned)err.status, err.message);
    }
    int rc = eg_configlog_write(rt->config, &c, &result, &err);
    if (rc) {
        EG_LOGF(EG_LOG_LEVEL_INFO, "config-api", CHANGE_FIELDS(op, kind, space, c.id), 4,
                "%s %s %s/%s refused (%d): %s", eg_op_name(op), eg_kind_name(kind), space, c.id,
                err.status, err.message);
        eg_change_release(&c);
        return eg_http_error(req->conn, (unsigned)err.status, err.message);
    }
    EG_LOGF(EG_LOG_LEVEL_INFO, "config-api", CHANGE_FIELDS(op, kind, space, c.id), 4, "%s %s %s/%s",
            eg_op_name(op), eg_kind_name(kind), space, c.id);
    if (kind == EG_KIND_CORS && op != EG_OP_DELETE && eg_cors_any_origin_with_credentials(result))
        EG_LOGF(EG_LOG_LEVEL_WARN, "config-api", CHANGE_FIELDS(op, kind, space, c.id), 4,
                "cors %s/%s allows every origin (\"*\") with credentials: the answer names the "
                "caller's origin, so any web page can send credentialed requests to this path",
                space, c.id);
    eg_change_release(&c);
    if (op == EG_OP_DELETE) {
        cJSON_Delete(result);
        return eg_http_respond(req->conn, 204, NULL, NULL, 0);
    }
    return eg_http_json(req->conn, op == EG_OP_CREATE ? 201 : 200, result);
}

static enum MHD_Result method_not_allowed(eg_http_req_t *req, const char *allow)
{
    char msg[128];
    snprintf(msg, sizeof msg,
             "{\"errors\":[{\"message\":\"Method %.16s is not allowed here; use %s.\"}]}",
             req->method, allow);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(msg), msg, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Allow", allow);
    return eg_http_queue(req->conn, 405, r);
}

/* Splits the raw path into at most `max` segments (copied into buf). */
static int split_path(const char *url, char *buf, size_t buflen, char **segs, int max)
{
    size_t n = strlen(url);
    if (n >= buflen)
        return -1;
    memcpy(buf, url, n + 1);
    int count = 0;
    char *p = buf;
    while (*p == '/')
        p++;
    while (*p) {
        if (count == max)
            return -1;
        segs[count++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    return count;
}

int eg_config_api_quick(const eg_http_req_t *req)
{
    return (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD")) &&
           (!strcmp(req->url, "/v1/status") || !strcmp(req->url, "/metrics") ||
            !strcmp(req->url, "/v1/metrics"));
}

enum MHD_Result eg_config_api_handle(void *ctx, eg_http_req_t *req)
{
    eg_config_api_ctx_t *api = ctx;
    eg_runtime_t *rt = api->rt;
    const char *m = req->method;
    char buf[8192], *seg[6];
    int n = split_path(req->url, buf, sizeof buf, seg, 6);

    if (n == 2 && !strcmp(seg[0], "v1") && !strcmp(seg[1], "status")) {
        if (strcmp(m, "GET") && strcmp(m, "HEAD"))
            return method_not_allowed(req, "GET");
        return status(rt, req->conn);
    }
    if ((n == 1 && !strcmp(seg[0], "metrics")) ||
        (n == 2 && !strcmp(seg[0], "v1") && !strcmp(seg[1], "metrics"))) /* 0.9's path */
        return eg_runtime_metrics_answer(rt, req->conn);
    if (n < 4 || n > 5 || strcmp(seg[0], "v1") || strcmp(seg[1], "spaces"))
        return eg_http_error(req->conn, 404,
                             "Not found. The Config API serves /v1/status and "
                             "/v1/spaces/{space}/{eventtypes|functions|"
                             "subscriptions|cors}[/{id}].");
    char *space = seg[2];
    eg_kind_t kind;
    int bad_space = eg_http_unescape(space, 0) < 0;
    enum MHD_Result gated;
    if (!bad_space && eg_replay_api_serves(seg[3])) {
        /* History and replays are the space's data too: same keys. */
        if (!eg_configlog_ready(rt->config))
            return eg_http_error(req->conn, 503,
                                 "The configuration log is still being read. "
                                 "Try again shortly.");
        if (eg_config_api_gate_other(rt, req, space, seg[3], n == 5 ? seg[4] : NULL, &gated))
            return gated;
        return eg_replay_api_handle(api->replays, req, space, seg + 3, n - 3);
    }
    if (bad_space || eg_kind_parse(seg[3], strlen(seg[3]), &kind))
        return eg_http_error(req->conn, 404,
                             "Not found: unknown resource. Use eventtypes, "
                             "functions, subscriptions, cors, replays or events.");
    eg_error_t err;
    /* A create or update is validated whole, its space included, as 0.9 did. */
    int write09 = n == 4 ? !strcmp(m, "POST") : !strcmp(m, "PUT");
    if ((!write09 || kind == EG_KIND_ACCESSKEY) && eg_space_validate(space, &err))
        return eg_http_error(req->conn, 400, err.message);
    if (!eg_configlog_ready(rt->config))
        return eg_http_error(req->conn, 503,
                             "The configuration log is still being read. Try again shortly.");
    if (eg_config_api_gate(rt, req, space, kind, n == 5 ? seg[4] : NULL, &gated))
        return gated; /* access keys (config_gate.c) */

    if (n == 4) {
        if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
            return list(rt, req, kind, space);
        if (!strcmp(m, "POST"))
            return write_change(rt, req, EG_OP_CREATE, kind, space, NULL);
        return method_not_allowed(req, "GET, POST");
    }
    char *id = seg[4];
    if (kind != EG_KIND_CORS && eg_http_unescape(id, 0) < 0)
        return eg_http_error(req->conn, 400, "Malformed percent-encoding in the id.");
    if (!*id)
        return eg_http_error(req->conn, 404, "Not found.");
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
        return get_one(rt, req, kind, space, id);
    if (!strcmp(m, "PUT"))
        return write_change(rt, req, EG_OP_UPDATE, kind, space, id);
    if (!strcmp(m, "DELETE"))
        return write_change(rt, req, EG_OP_DELETE, kind, space, id);
    return method_not_allowed(req, "GET, PUT, DELETE");
}
