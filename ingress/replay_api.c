/*
 * replay_api.c: history and replays on the Config API (docs/contract.md section 6).
 *
 *   POST   /v1/spaces/{space}/replays        {"subscriptionId","from","to"?}: 201
 *   GET    /v1/spaces/{space}/replays        {"replays":[…]}, oldest first
 *   GET    /v1/spaces/{space}/replays/{id}   the replay: status, scanned, delivered
 *   DELETE /v1/spaces/{space}/replays/{id}   cancels a running replay: 204
 *   GET    /v1/spaces/{space}/events?type=&from=&to=&limit=
 *          {"events":[…]}: the space's stored events of the window, oldest
 *          first, at most limit (default 100, at most 1000)
 *
 * The replay store: replays live in the compacted topic <prefix>replays
 * (eg_replay.h); this process follows the whole topic (assign(), no group)
 * into a table, so any ingress answers for any replay. A write (create,
 * cancel) waits until Kafka has acknowledged the record and then enters it
 * in the table at once, so the writer's next read sees it. The routers'
 * replayers run the replays (router/replayer.c).
 *
 * History reads the events topic with an eg_window per request, on the
 * Config API's read worker that serves the request (core/eg_http.c), and
 * is bounded: at most HISTORY_MS of reading, `limit` events and
 * HISTORY_MAX_BYTES kept.
 *
 * Threads: the store's follower thread applies records under the store's
 * mutex; request threads read the table under it and write through the
 * store's producer.
 */
#include "ingress.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_event.h"
#include "eg_json.h"
#include "eg_kafka_client.h"
#include "eg_log.h"
#include "eg_replay.h"
#include "eg_route.h"
#include "eg_time.h"
#include "eg_window.h"

#define HISTORY_DEFAULT_LIMIT 100
#define HISTORY_MAX_LIMIT 1000
#define HISTORY_MS 10000
#define HISTORY_MAX_BYTES (8u << 20)
#define REPLAY_BODY_MAX 65536

struct eg_replay_store {
    eg_runtime_t *rt;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    pthread_mutex_t mu; /* guards table */
    eg_replay_table_t *table;
    /* Serialises writes: a write's delivery report is served by its writer
     * (in rd_kafka_flush), so it always finds the writer still waiting; the
     * follower polls the producer only while it holds this. Replay writes
     * are rare. */
    pthread_mutex_t wmu;
};

/* ---- the store ---- */

static void apply_record(eg_replay_store_t *st, const rd_kafka_message_t *m)
{
    if (!m->payload) { /* a tombstone: "<space>/<id>" */
        char key[EG_MAX_NAME + EG_REPLAY_ID_MAX + 4];
        const char *slash = m->key ? memchr(m->key, '/', m->key_len) : NULL;
        if (!slash || m->key_len >= sizeof key)
            return;
        memcpy(key, m->key, m->key_len);
        key[m->key_len] = '\0';
        key[slash - (const char *)m->key] = '\0';
        pthread_mutex_lock(&st->mu);
        eg_replay_table_remove(st->table, key, key + (slash - (const char *)m->key) + 1);
        pthread_mutex_unlock(&st->mu);
        return;
    }
    eg_replay_t r;
    eg_error_t err = {0};
    if (eg_replay_decode(m->payload, m->len, &r, &err)) {
        EG_LOG_WARN("replays", "ignoring record %" PRId32 "@%" PRId64 ": %s", m->partition,
                    m->offset, err.message);
        return;
    }
    pthread_mutex_lock(&st->mu);
    eg_replay_table_apply(st->table, &r, m->partition);
    pthread_mutex_unlock(&st->mu);
    eg_replay_release(&r);
}

static void *follower_main(void *arg)
{
    eg_replay_store_t *st = arg;
    while (!atomic_load(&st->stop)) {
        /* the producer's errors are logged as they come; with wmu held no
         * write waits for a report that this poll could take */
        if (pthread_mutex_trylock(&st->wmu) == 0) {
            rd_kafka_poll(st->producer, 0);
            pthread_mutex_unlock(&st->wmu);
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(st->consumer, 100);
        if (!m)
            continue;
        if (!m->err)
            apply_record(st, m);
        else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            EG_LOG_WARN("replays", "%s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

typedef struct write_result {
    int done;
    rd_kafka_resp_err_t err;
    int32_t partition;
} write_result_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    write_result_t *w = m->_private;
    if (w) {
        w->err = m->err;
        w->partition = m->partition;
        w->done = 1;
    }
}

void eg_replay_store_free(eg_replay_store_t *st)
{
    if (!st)
        return;
    atomic_store(&st->stop, 1);
    if (st->thread_started)
        pthread_join(st->thread, NULL);
    if (st->consumer) {
        rd_kafka_assign(st->consumer, NULL);
        rd_kafka_consumer_close(st->consumer);
        rd_kafka_destroy(st->consumer);
    }
    if (st->producer) {
        rd_kafka_flush(st->producer, 2000);
        rd_kafka_destroy(st->producer);
    }
    eg_replay_table_free(st->table);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->wmu);
    free(st);
}

eg_replay_store_t *eg_replay_store_new(eg_runtime_t *rt, char *err, size_t errlen)
{
    const eg_settings_t *s = rt->settings;
    eg_replay_store_t *st = eg_xcalloc(1, sizeof *st);
    st->rt = rt;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->wmu, NULL);
    st->table = eg_replay_table_new();
    char fetch_wait[16];
    snprintf(fetch_wait, sizeof fetch_wait, "%d", rt->embedded->idle_fetch_wait_ms);
    const eg_kafka_prop_t crows[] = {
        EG_KAFKA_DEFAULT("fetch.wait.max.ms", fetch_wait),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t cspec = {.type = RD_KAFKA_CONSUMER,
                                   .name = "replays consumer",
                                   .profile = EG_KAFKA_READER,
                                   .group = "eg-replays-reader",
                                   .props = crows};
    if (!(st->consumer = eg_kafka_client_new(s, rt->brokers, &cspec, err, errlen)))
        goto fail;
    static const eg_kafka_prop_t prows[] = {
        EG_KAFKA_DEFAULT("linger.ms", "0"),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t pspec = {.type = RD_KAFKA_PRODUCER,
                                   .name = "replays producer",
                                   .profile = EG_KAFKA_RELIABLE_PRODUCER,
                                   .props = prows,
                                   .dr_msg_cb = on_delivery};
    if (!(st->producer = eg_kafka_client_new(s, rt->brokers, &pspec, err, errlen)))
        goto fail;
    int n = eg_kafka_partition_count(st->consumer, rt->topics.replays, 10000, err, errlen);
    if (n < 0)
        goto fail;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, rt->topics.replays, i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(st->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(err, errlen, "assigning %s: %s", rt->topics.replays, rd_kafka_err2str(e));
        goto fail;
    }
    if (pthread_create(&st->thread, NULL, follower_main, st)) {
        snprintf(err, errlen, "cannot start the replays thread");
        goto fail;
    }
    st->thread_started = 1;
    return st;
fail:
    eg_replay_store_free(st);
    return NULL;
}

/* Writes r to `partition` (RD_KAFKA_PARTITION_UA: any) and waits for Kafka's
 * acknowledgement; then the table holds it. 0, or -1 with err (503). */
static int store_write(eg_replay_store_t *st, const eg_replay_t *r, int32_t partition,
                       eg_error_t *err)
{
    char key[EG_MAX_NAME + EG_REPLAY_ID_MAX + 4];
    char *v = eg_replay_encode(r);
    write_result_t w = {0};
    if (eg_replay_key(r, key, sizeof key)) {
        free(v);
        return eg_error_set(err, 500, "the replay's key is too long");
    }
    pthread_mutex_lock(&st->wmu);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        st->producer, RD_KAFKA_V_TOPIC(st->rt->topics.replays), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(v, strlen(v)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&w), RD_KAFKA_V_END);
    free(v);
    if (!e) {
        int64_t deadline = eg_time_mono_ms() + st->rt->settings->write_timeout_ms;
        while (!w.done && eg_time_mono_ms() < deadline)
            rd_kafka_flush(st->producer, 100);
        if (!w.done) {
            /* give up on it: purged, its report comes at once (w must
             * not be left behind for a later flush) */
            rd_kafka_purge(st->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            while (!w.done)
                rd_kafka_flush(st->producer, 100);
            w.err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        }
        e = w.err;
    }
    pthread_mutex_unlock(&st->wmu);
    if (e)
        return eg_error_set(err, 503, "Kafka did not take the replay: %s", rd_kafka_err2str(e));
    pthread_mutex_lock(&st->mu);
    eg_replay_table_apply(st->table, r, w.partition);
    pthread_mutex_unlock(&st->mu);
    return 0;
}

/* ---- requests ---- */

static const char *const TIME_HINT = "an RFC 3339 time such as 2024-05-01T12:00:00Z";

/* A time from the body: absent (1), valid (0), invalid (-1 with err). */
static int body_time(const cJSON *o, const char *name, int64_t *ms, eg_error_t *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v))
        return 1;
    if (!cJSON_IsString(v) || eg_time_parse(v->valuestring, strlen(v->valuestring), ms))
        return eg_error_set(err, 400, "\"%s\" must be %s.", name, TIME_HINT);
    return 0;
}

static enum MHD_Result replay_create(eg_replay_store_t *st, eg_http_req_t *req, const char *space)
{
    eg_runtime_t *rt = st->rt;
    eg_error_t err = {0};
    eg_replay_t r;
    memset(&r, 0, sizeof r);
    const char *why = NULL;
    cJSON *o = req->body_len ? eg_json_parse(req->body, req->body_len, &why) : NULL;
    enum MHD_Result ret;
    int64_t now = eg_time_now_ms();
    if (!cJSON_IsObject(o)) {
        ret = eg_http_error(req->conn, 400,
                            "The body must be a JSON object with "
                            "\"subscriptionId\", \"from\" and optionally \"to\".");
        goto out;
    }
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(o, "subscriptionId");
    if (!cJSON_IsString(sub) || !*sub->valuestring || strlen(sub->valuestring) > EG_MAX_ID) {
        ret = eg_http_error(req->conn, 400, "\"subscriptionId\" is required (a string).");
        goto out;
    }
    int fr = body_time(o, "from", &r.from_ms, &err),
        tr = fr < 0 ? 0 : body_time(o, "to", &r.to_ms, &err);
    if (fr < 0 || tr < 0) {
        ret = eg_http_error(req->conn, 400, err.message);
        goto out;
    }
    if (fr == 1) {
        ret = eg_http_error(req->conn, 400,
                            "\"from\" is required: the start of the window, "
                            "an RFC 3339 time such as 2024-05-01T12:00:00Z.");
        goto out;
    }
    if (tr == 1)
        r.to_ms = now;
    if (r.from_ms > now) {
        ret =
            eg_http_error(req->conn, 400, "\"from\" is in the future: there is nothing to replay.");
        goto out;
    }
    if (r.from_ms > r.to_ms) {
        ret = eg_http_error(req->conn, 400, "\"from\" is after \"to\": the window is empty.");
        goto out;
    }
    const eg_config_t *cfg = eg_configlog_read_begin(rt->config);
    const cJSON *so = eg_config_peek(cfg, EG_KIND_SUBSCRIPTION, space, sub->valuestring);
    const cJSON *type = so ? cJSON_GetObjectItemCaseSensitive(so, "type") : NULL;
    int sync = cJSON_IsString(type) && !strcmp(type->valuestring, "sync");
    eg_configlog_read_end(rt->config);
    if (!so) {
        snprintf(err.message, sizeof err.message, "Subscription \"%.256s\" not found.",
                 sub->valuestring);
        ret = eg_http_error(req->conn, 404, err.message);
        goto out;
    }
    if (sync) {
        ret = eg_http_error(req->conn, 400,
                            "A sync subscription cannot be replayed: no client "
                            "waits for its answers. Replay an async one.");
        goto out;
    }
    char uuid[37];
    eg_uuid4(uuid);
    snprintf(r.id, sizeof r.id, "%s", uuid);
    snprintf(r.space, sizeof r.space, "%s", space);
    r.status = EG_REPLAY_RUNNING;
    r.created_ms = r.updated_ms = now;
    r.subscription = eg_xstrdup(sub->valuestring);
    if (store_write(st, &r, RD_KAFKA_PARTITION_UA, &err)) {
        ret = eg_http_error(req->conn, (unsigned)err.status, err.message);
        goto out;
    }
    char from[EG_TIME_LEN], to[EG_TIME_LEN];
    EG_LOG_INFO("config-api", "replay %s/%s of subscription %s from %s to %s", space, r.id,
                r.subscription, eg_time_format(r.from_ms, from), eg_time_format(r.to_ms, to));
    ret = eg_http_json(req->conn, 201, eg_replay_to_api(&r));
out:
    eg_replay_release(&r);
    cJSON_Delete(o);
    return ret;
}

static enum MHD_Result replay_not_found(eg_http_req_t *req, const char *id)
{
    char msg[300];
    snprintf(msg, sizeof msg, "Replay \"%.200s\" not found.", id);
    return eg_http_error(req->conn, 404, msg);
}

static enum MHD_Result replay_get(eg_replay_store_t *st, eg_http_req_t *req, const char *space,
                                  const char *id)
{
    pthread_mutex_lock(&st->mu);
    const eg_replay_t *r = eg_replay_table_get(st->table, space, id, NULL);
    cJSON *doc = r ? eg_replay_to_api(r) : NULL;
    pthread_mutex_unlock(&st->mu);
    return doc ? eg_http_json(req->conn, 200, doc) : replay_not_found(req, id);
}

static enum MHD_Result replay_list(eg_replay_store_t *st, eg_http_req_t *req, const char *space)
{
    cJSON *doc = cJSON_CreateObject();
    pthread_mutex_lock(&st->mu);
    cJSON_AddItemToObject(doc, "replays", eg_replay_table_list(st->table, space));
    pthread_mutex_unlock(&st->mu);
    return eg_http_json(req->conn, 200, doc);
}

/* A running replay gets a "cancelled" record; the replayer running it stops
 * at its next look at the topic and writes its final counts. An ended one
 * stays as it is. 204 either way. */
static enum MHD_Result replay_cancel(eg_replay_store_t *st, eg_http_req_t *req, const char *space,
                                     const char *id)
{
    eg_replay_t r;
    int32_t partition = RD_KAFKA_PARTITION_UA;
    int found = 0, copied = -1;
    pthread_mutex_lock(&st->mu);
    const eg_replay_t *cur = eg_replay_table_get(st->table, space, id, &partition);
    if (cur) {
        found = 1;
        if (cur->status == EG_REPLAY_RUNNING)
            copied = eg_replay_copy(&r, cur);
    }
    pthread_mutex_unlock(&st->mu);
    if (!found)
        return replay_not_found(req, id);
    if (copied == 0) {
        eg_error_t err = {0};
        r.status = EG_REPLAY_CANCELLED;
        r.updated_ms = eg_time_now_ms();
        int rc = store_write(st, &r, partition, &err);
        eg_replay_release(&r);
        if (rc)
            return eg_http_error(req->conn, (unsigned)err.status, err.message);
        EG_LOG_INFO("config-api", "replay %s/%s cancelled", space, id);
    }
    return eg_http_respond(req->conn, 204, NULL, NULL, 0);
}

/* ---- history ---- */

typedef struct hist_event {
    int64_t ts;
    int32_t partition;
    int64_t offset;
    cJSON *event;
    size_t bytes;
} hist_event_t;

static int hist_before(const hist_event_t *a, const hist_event_t *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts;
    if (a->partition != b->partition)
        return a->partition < b->partition;
    return a->offset < b->offset;
}

static const char *query(eg_http_req_t *req, const char *name)
{
    const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? v : NULL;
}

static int query_time(eg_http_req_t *req, const char *name, int64_t *ms, eg_error_t *err)
{
    const char *v = query(req, name);
    if (!v)
        return 1;
    if (eg_time_parse(v, strlen(v), ms))
        return eg_error_set(err, 400, "\"%s\" must be %s.", name, TIME_HINT);
    return 0;
}

static enum MHD_Result history(eg_runtime_t *rt, eg_http_req_t *req, const char *space)
{
    eg_error_t err = {0};
    int64_t from = 0, to = 0, now = eg_time_now_ms();
    long limit = HISTORY_DEFAULT_LIMIT;
    const char *type = query(req, "type"), *lim = query(req, "limit");
    int fr = query_time(req, "from", &from, &err),
        tr = fr < 0 ? 0 : query_time(req, "to", &to, &err);
    if (fr < 0 || tr < 0)
        return eg_http_error(req->conn, 400, err.message);
    if (fr == 1)
        from = 0;
    if (tr == 1)
        to = now;
    if (from > to)
        return eg_http_error(req->conn, 400, "\"from\" is after \"to\": the window is empty.");
    if (lim) {
        char *end;
        limit = strtol(lim, &end, 10);
        if (*end || limit < 1 || limit > HISTORY_MAX_LIMIT)
            return eg_http_error(req->conn, 400, "\"limit\" must be an integer from 1 to 1000.");
    }
    if (type && strlen(type) > EG_MAX_NAME)
        return eg_http_error(req->conn, 400, "\"type\" is too long.");

    char werr[512];
    int64_t deadline = eg_time_mono_ms() + HISTORY_MS;
    eg_window_t *w = eg_window_open(rt->settings, rt->brokers, rt->topics.events, from, to, NULL, 0,
                                    5000, werr, sizeof werr);
    if (!w) {
        EG_LOG_WARN("config-api", "history of %s: %s", space, werr);
        return eg_http_error(req->conn, 503, "The event history cannot be read now. Try again.");
    }
    /* kept: the earliest events seen so far, in order, at most limit */
    hist_event_t *kept = eg_xcalloc((size_t)limit + 1, sizeof *kept);
    size_t n = 0, bytes = 0;
    int done = 0, timed_out = 0;
    while (!done) {
        int64_t left = deadline - eg_time_mono_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        rd_kafka_message_t *m = eg_window_next(w, left > 100 ? 100 : (int)left, &done);
        if (!m)
            continue;
        rd_kafka_timestamp_type_t tt;
        hist_event_t h = {.ts = rd_kafka_message_timestamp(m, &tt),
                          .partition = m->partition,
                          .offset = m->offset};
        eg_route_input_t in;
        eg_error_t rerr;
        if (n == (size_t)limit && !hist_before(&h, &kept[n - 1])) {
            /* a partition's later records are no earlier: it has no more to give */
            eg_window_finish(w, m->partition);
        } else if (eg_route_input_read(&in, m, &rerr) == 0) {
            if (!strcmp(in.space, space) && (!type || !strcmp(in.type, type)) &&
                (h.event = eg_json_parse_record(in.val, in.vlen))) {
                h.bytes = in.vlen;
                size_t at = n;
                while (at > 0 && hist_before(&h, &kept[at - 1]))
                    at--;
                memmove(&kept[at + 1], &kept[at], (n - at) * sizeof *kept);
                kept[at] = h;
                n++;
                bytes += h.bytes;
                /* over the limit or the byte bound: the latest go */
                while (n > 1 && (n > (size_t)limit || bytes > HISTORY_MAX_BYTES)) {
                    n--;
                    bytes -= kept[n].bytes;
                    cJSON_Delete(kept[n].event);
                    if (n < (size_t)limit)
                        limit = (long)n;
                }
            }
            eg_route_input_release(&in);
        }
        rd_kafka_message_destroy(m);
    }
    eg_window_close(w);
    if (timed_out)
        EG_LOG_WARN("config-api", "history of %s: reading stopped after %d ms with %zu events",
                    space, HISTORY_MS, n);
    cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "events");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, kept[i].event);
    free(kept);
    return eg_http_json(req->conn, 200, doc);
}

/* ---- routing ---- */

int eg_replay_api_serves(const char *resource)
{
    return !strcmp(resource, "replays") || !strcmp(resource, "events");
}

enum MHD_Result eg_replay_api_handle(eg_replay_store_t *st, eg_http_req_t *req, const char *space,
                                     char **seg, int n)
{
    const char *m = req->method;
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    eg_error_t err;
    if (eg_space_validate(space, &err))
        return eg_http_error(req->conn, 400, err.message);
    if (!st)
        return eg_http_error(req->conn, 404, "Not found.");
    eg_runtime_t *rt = st->rt;
    if (!strcmp(seg[0], "events")) {
        if (n != 1)
            return eg_http_error(req->conn, 404,
                                 "Not found. History is /v1/spaces/{space}/events.");
        if (!get)
            return eg_http_error(req->conn, 405, "Method not allowed here; use GET.");
        return history(rt, req, space);
    }
    if (!eg_configlog_ready(rt->config))
        return eg_http_error(req->conn, 503,
                             "The configuration log is still being read. Try again shortly.");
    if (n == 1) {
        if (get)
            return replay_list(st, req, space);
        if (!strcmp(m, "POST"))
            return replay_create(st, req, space);
        return eg_http_error(req->conn, 405, "Method not allowed here; use GET or POST.");
    }
    char *id = seg[1];
    if (eg_http_unescape(id, 0) < 0 || !*id)
        return eg_http_error(req->conn, 404, "Not found.");
    if (get)
        return replay_get(st, req, space, id);
    if (!strcmp(m, "DELETE"))
        return replay_cancel(st, req, space, id);
    return eg_http_error(req->conn, 405, "Method not allowed here; use GET or DELETE.");
}
