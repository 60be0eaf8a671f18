/*
 * eg_runtime: the shared runtime of a process and the common main(); see
 * eg_runtime.h. Signals: SIGINT and SIGTERM are blocked in every thread
 * (before any thread starts) and taken with sigwait in the main thread, so
 * no signal handler ever runs inside library code.
 */
#include "eg_runtime.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eg_alloc.h"
#include "eg_http.h"
#include "eg_kafka_client.h"
#include "eg_log.h"
#include "eg_time.h"

int eg_runtime_partitions(int value, int profile_value)
{
    return value > 0 ? value : profile_value;
}

/* Not on the embedded broker (dev mode creates its topics itself): every
 * topic the process needs at start, created with the Admin API when missing
 * (the configuration log first: it is read next), then checked on a real
 * cluster: the configuration log and the replays topic must be compacted
 * (refused otherwise), and one replica on several brokers is worth a
 * warning. A mock cluster joined from outside (--kafka-mock) answers no
 * DescribeConfigs: its topics are the stand-in's business. */
static int eg_runtime_ensure_topics(eg_runtime_t *rt, char *err, size_t errlen)
{
    const eg_settings_t *s = rt->settings;
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_PRODUCER, .name = "admin client"};
    rd_kafka_t *rk = eg_kafka_client_new(s, rt->brokers, &spec, err, errlen);
    if (!rk)
        return -1;
    /* The configuration log is compacted, with one partition: totally
     * ordered. The events topic is the history replays read: its retention
     * is a setting. The replays topic keeps one record per replay. */
    static const char *const compact[] = {"cleanup.policy", "compact", NULL};
    char retention[32];
    snprintf(retention, sizeof retention, "%ld", s->events_retention_ms);
    const char *const events_configs[] = {"retention.ms", retention, NULL};
    struct {
        const char *topic;
        int partitions;
        const char *const *configs;
        const char *const *required; /* checked on an existing topic */
        const char *why;
    } topics[EG_TOPICS_DATA + 2] = {
        {rt->topics.config, 1, compact, compact,
         "without compaction the configuration log loses its oldest records, and with them "
         "event types, functions and subscriptions"},
        {rt->topics.replays, rt->partitions, compact, compact,
         "without compaction the replays topic loses its oldest replays"},
    };
    for (size_t i = 0; i < EG_TOPICS_DATA; i++) {
        topics[2 + i].topic = eg_topics_data(&rt->topics, i);
        topics[2 + i].partitions = rt->partitions;
        topics[2 + i].configs = topics[2 + i].topic == rt->topics.events ? events_configs : NULL;
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof topics / sizeof topics[0] && rc == 0; i++) {
        rc = eg_kafka_ensure_topic(rk, topics[i].topic, topics[i].partitions, s->replication_factor,
                                   topics[i].configs, 10000, err, errlen);
        if (rc == 0 && rt->embedded->topic_configs)
            rc = eg_kafka_check_topic(rk, topics[i].topic, topics[i].required, topics[i].why, 10000,
                                      err, errlen);
    }
    rd_kafka_destroy(rk);
    return rc;
}

/* The smallest max.message.bytes among the topics an event goes through. */
static void on_max_message(const char *name, const char *value, int source, void *arg)
{
    (void)source;
    size_t *min = arg;
    if (value && !strcmp(name, "max.message.bytes")) {
        long long v = atoll(value);
        if (v > 0 && (size_t)v < *min)
            *min = (size_t)v;
    }
}

/* The largest record the gateway may write on an event's way (events,
 * invocation and dead-letter topics): the clients' message.max.bytes (which
 * librdkafka checks before sending; --kafka may change it) and, on a real
 * cluster, each topic's max.message.bytes, less the record batch's own
 * overhead. The Events API takes no event larger than this less what the
 * router adds (EG_ROUTE_ENVELOPE), and the router dead-letters a record
 * that would pass it, so that one record cannot stop a partition. */
static int eg_runtime_record_limit(eg_runtime_t *rt, char *err, size_t errlen)
{
    const eg_settings_t *s = rt->settings;
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_PRODUCER, .name = "admin client"};
    rd_kafka_conf_t *conf = eg_kafka_client_conf(s, rt->brokers, &spec, err, errlen);
    if (!conf)
        return -1;
    char v[32];
    size_t vlen = sizeof v;
    size_t limit = 1000000;
    if (rd_kafka_conf_get(conf, "message.max.bytes", v, &vlen) == RD_KAFKA_CONF_OK && atoll(v) > 0)
        limit = (size_t)atoll(v);
    if (rt->embedded->topic_configs) {
        rd_kafka_t *rk = eg_kafka_new(spec.type, &conf, spec.name, err, errlen);
        if (!rk)
            return -1;
        size_t topics_min = SIZE_MAX;
        char why[256];
        /* A cluster that answers no DescribeConfigs (a stand-in joined
         * without --kafka-mock names no controller) costs one wait, not one
         * per topic. */
        for (size_t i = 0; i < EG_TOPICS_DATA; i++)
            if (eg_kafka_describe_configs(rk, RD_KAFKA_RESOURCE_TOPIC,
                                          eg_topics_data(&rt->topics, i), on_max_message,
                                          &topics_min, 5000, why, sizeof why)) {
                EG_LOG_WARN("kafka", "max.message.bytes of %s unknown (%s): taking %zu",
                            eg_topics_data(&rt->topics, i), why, limit);
                break;
            }
        rd_kafka_destroy(rk);
        /* a batch of one record carries about 70 bytes besides it */
        if (topics_min != SIZE_MAX && topics_min - 128 < limit)
            limit = topics_min > 256 ? topics_min - 128 : topics_min;
    } else {
        rd_kafka_conf_destroy(conf);
    }
    rt->max_record = limit;
    return 0;
}

/* ---- metrics ---- */

#define EG__L(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The families of eg_runtime_metrics_t: names of event-gateway 0.9 plus the
 * Kafka-era ones (docs/contract.md section 8). */
static void eg_runtime_metrics_init(eg_runtime_t *rt)
{
    eg_metrics_t *m = rt->metrics = eg_metrics_new();
    eg_runtime_metrics_t *x = &rt->mx;
    x->events_received = eg_metrics_family(m, "eventgateway_events_received_total",
                                           "Events accepted by the Events API and stored in Kafka.",
                                           EG_METRIC_COUNTER, EG__L("space", "type"), NULL, 0);
    x->events_processed = eg_metrics_family(m, "eventgateway_events_processed_total",
                                            "Events routed to their subscriptions.",
                                            EG_METRIC_COUNTER, EG__L("space", "type"), NULL, 0);
    x->events_filtered =
        eg_metrics_family(m, "eventgateway_events_filtered_total",
                          "Events whose type had subscriptions, none of whose filters they passed.",
                          EG_METRIC_COUNTER, EG__L("space", "type"), NULL, 0);
    x->loops_refused = eg_metrics_family(
        m, "eventgateway_events_loop_refused_total",
        "Events the Events API refused with 508 because their hop count (Eg-Hops) passed "
        "--max-hops: a function posting back what it is called with.",
        EG_METRIC_COUNTER, EG__L("space"), NULL, 0);
    x->config_requests =
        eg_metrics_family(m, "eventgateway_config_requests_total", "Config API requests.",
                          EG_METRIC_COUNTER, EG__L("space", "resource", "operation"), NULL, 0);
    x->eventtypes = eg_metrics_family(m, "eventgateway_eventtypes_total", "Event types.",
                                      EG_METRIC_GAUGE, EG__L("space"), NULL, 0);
    x->functions = eg_metrics_family(m, "eventgateway_functions_total", "Functions.",
                                     EG_METRIC_GAUGE, EG__L("space"), NULL, 0);
    x->subscriptions = eg_metrics_family(m, "eventgateway_subscriptions_total", "Subscriptions.",
                                         EG_METRIC_GAUGE, EG__L("space"), NULL, 0);
    x->invocations = eg_metrics_family(
        m, "eventgateway_invocations_total", "Function calls by result (success or failure).",
        EG_METRIC_COUNTER, EG__L("space", "function", "result"), NULL, 0);
    x->invocation_duration = eg_metrics_family(m, "eventgateway_invocation_duration_seconds",
                                               "Duration of function calls.", EG_METRIC_HISTOGRAM,
                                               EG__L("space", "function"), NULL, 0);
    x->retries = eg_metrics_family(m, "eventgateway_retries_total",
                                   "Failed calls of async invocations scheduled for a retry.",
                                   EG_METRIC_COUNTER, EG__L("space", "function"), NULL, 0);
    x->dead_letters = eg_metrics_family(m, "eventgateway_dead_letters_total",
                                        "Records written to the dead-letter topic.",
                                        EG_METRIC_COUNTER, EG__L("space", "function"), NULL, 0);
    x->overflowed = eg_metrics_family(
        m, "eventgateway_invocations_overflowed_total",
        "Async invocations moved to the overflow topic: their function held its share of the "
        "async engine (--max-inflight-per-function).",
        EG_METRIC_COUNTER, EG__L("space", "function"), NULL, 0);
    x->consumer_lag = eg_metrics_family(
        m, "eventgateway_consumer_lag",
        "Records of the assigned partitions not consumed yet (sum over partitions).",
        EG_METRIC_GAUGE, EG__L("role", "topic"), NULL, 0);
    x->in_flight = eg_metrics_family(m, "eventgateway_invocations_in_flight",
                                     "Function calls in progress.", EG_METRIC_GAUGE, NULL, NULL, 0);
    x->queued = eg_metrics_family(m, "eventgateway_invocations_queued",
                                  "Function calls due but waiting for the in-flight budget "
                                  "(--max-inflight).",
                                  EG_METRIC_GAUGE, NULL, NULL, 0);
    /* unlabelled gauges read 0 before their first change */
    eg_metric_set(x->in_flight, NULL, 0);
    eg_metric_set(x->queued, NULL, 0);
}

static void eg_runtime_set_count(void *arg, const char *space, size_t n)
{
    eg_metric_set(arg, EG__L(space), (double)n);
}

enum MHD_Result eg_runtime_metrics_answer(eg_runtime_t *rt, struct MHD_Connection *conn)
{
    eg_metric_t *gauges[] = {rt->mx.eventtypes, rt->mx.functions, rt->mx.subscriptions};
    const eg_kind_t kinds[] = {EG_KIND_EVENTTYPE, EG_KIND_FUNCTION, EG_KIND_SUBSCRIPTION};
    const eg_config_t *cfg = eg_configlog_read_begin(rt->config);
    for (size_t i = 0; i < 3; i++) {
        eg_metric_clear(gauges[i]);
        eg_config_count_spaces(cfg, kinds[i], eg_runtime_set_count, gauges[i]);
    }
    eg_configlog_read_end(rt->config);
    size_t len = 0;
    char *text = eg_metrics_render(rt->metrics, &len);
    if (!text) /* open_memstream's own allocation (eg_metrics_render) */
        return eg_http_error(conn, 500, "out of memory");
    enum MHD_Result r = eg_http_respond(conn, 200, EG_METRICS_CONTENT_TYPE, text, len);
    free(text);
    return r;
}

void eg_runtime_report_lag(eg_runtime_t *rt, rd_kafka_t *consumer, const char *role,
                           const char *topic, int64_t *next_ms)
{
    int64_t now = eg_time_mono_ms();
    if (now < *next_ms)
        return;
    *next_ms = now + 1000;
    int64_t lag = eg_kafka_consumer_lag(consumer);
    if (lag >= 0)
        eg_metric_set(rt->mx.consumer_lag, EG__L(role, topic), (double)lag);
}

/* ---- wakers ---- */

#define EG_MAX_WAKERS 8

struct eg_wakers {
    pthread_mutex_t mu;
    struct {
        void (*fn)(void *);
        void *arg;
    } w[EG_MAX_WAKERS];
    int n;
    atomic_int dozing; /* roles dozing now (eg_runtime_doze_state) */
};

int eg_runtime_add_waker(eg_runtime_t *rt, void (*fn)(void *), void *arg)
{
    struct eg_wakers *ws = rt->wakers;
    pthread_mutex_lock(&ws->mu);
    int ok = ws->n < EG_MAX_WAKERS;
    if (ok) {
        ws->w[ws->n].fn = fn;
        ws->w[ws->n].arg = arg;
        ws->n++;
    }
    pthread_mutex_unlock(&ws->mu);
    return ok ? 0 : -1;
}

void eg_runtime_remove_waker(eg_runtime_t *rt, void (*fn)(void *), void *arg)
{
    struct eg_wakers *ws = rt->wakers;
    pthread_mutex_lock(&ws->mu);
    for (int i = 0; i < ws->n; i++)
        if (ws->w[i].fn == fn && ws->w[i].arg == arg) {
            ws->w[i] = ws->w[--ws->n];
            break;
        }
    pthread_mutex_unlock(&ws->mu);
}

void eg_runtime_doze_state(eg_runtime_t *rt, atomic_int *flag, int dozing)
{
    dozing = dozing != 0;
    if (atomic_exchange(flag, dozing) != dozing)
        atomic_fetch_add(&rt->wakers->dozing, dozing ? 1 : -1);
}

void eg_runtime_wake(eg_runtime_t *rt)
{
    struct eg_wakers *ws = rt->wakers;
    if (!atomic_load(&ws->dozing))
        return; /* the usual case under load: nobody to wake, no lock */
    pthread_mutex_lock(&ws->mu);
    for (int i = 0; i < ws->n; i++)
        ws->w[i].fn(ws->w[i].arg);
    pthread_mutex_unlock(&ws->mu);
}

/* ---- faults ---- */

#define EG_MAX_FAULTS 8

struct eg_faults {
    pthread_mutex_t mu;
    struct {
        char role[32];
        char reason[256];
    } f[EG_MAX_FAULTS];
    int n;
    atomic_int failed; /* eg_runtime_fail was called: exit 1 */
};

void eg_runtime_set_fault(eg_runtime_t *rt, const char *role, const char *reason)
{
    struct eg_faults *fs = rt->faults;
    pthread_mutex_lock(&fs->mu);
    int i = 0;
    while (i < fs->n && strcmp(fs->f[i].role, role))
        i++;
    if (!reason) {
        if (i < fs->n)
            fs->f[i] = fs->f[--fs->n];
    } else if (i < fs->n || fs->n < EG_MAX_FAULTS) {
        if (i == fs->n)
            snprintf(fs->f[fs->n++].role, sizeof fs->f[0].role, "%s", role);
        snprintf(fs->f[i].reason, sizeof fs->f[i].reason, "%s", reason);
    }
    pthread_mutex_unlock(&fs->mu);
}

void eg_runtime_fail(eg_runtime_t *rt, const char *role, const char *reason)
{
    EG_LOG_ERROR(role, "%s: stopping the process (exit status 1)", reason);
    eg_runtime_set_fault(rt, role, reason);
    atomic_store(&rt->faults->failed, 1);
    kill(getpid(), SIGTERM); /* taken by eg_daemon_main's sigwait */
}

/* ---- life ---- */

eg_runtime_t *eg_runtime_new(const eg_settings_t *s, int writer, char *err, size_t errlen)
{
    eg_runtime_t *rt = eg_xcalloc(1, sizeof *rt);
    rt->settings = s;
    rt->wakers = eg_xcalloc(1, sizeof *rt->wakers);
    pthread_mutex_init(&rt->wakers->mu, NULL);
    rt->faults = eg_xcalloc(1, sizeof *rt->faults);
    pthread_mutex_init(&rt->faults->mu, NULL);
    eg_topics_init(&rt->topics, s->topic_prefix);
    eg_runtime_metrics_init(rt);

    if (s->dev && !(s->brokers && *s->brokers)) {
        if (!(rt->mock = eg_mock_new(err, errlen)))
            goto fail;
        rt->brokers = eg_xstrdup(eg_mock_bootstraps(rt->mock));
        rt->embedded = &eg_embedded_mock;
        rt->partitions = eg_runtime_partitions(s->partitions, rt->embedded->partitions);
        /* The embedded broker answers no CreateTopics: make them here. */
        if (eg_mock_create_topics(rt->mock, &rt->topics, rt->partitions, err, errlen))
            goto fail;
        /* It has no topic configurations either: no retention by time
         * (--events-retention-ms) and no compaction there. */
        EG_LOG_INFO("kafka", "embedded Kafka (librdkafka mock cluster) listening on %s",
                    rt->brokers);
    } else if (s->brokers && *s->brokers) {
        rt->brokers = eg_xstrdup(s->brokers);
        /* Told, never guessed: a Kafka-compatible service must not get the
         * mock's tuning because its metadata looks like the mock's. */
        rt->embedded = s->kafka_mock ? &eg_embedded_mock : &eg_embedded_none;
        rt->partitions = eg_runtime_partitions(s->partitions, rt->embedded->partitions);
        if (rt->embedded->mock)
            EG_LOG_INFO("kafka", "%s is librdkafka's mock cluster (--kafka-mock): tuned for it",
                        s->brokers);
    } else {
        snprintf(err, errlen, "no Kafka cluster: give --brokers HOST:PORT (or EG_KAFKA_BROKERS)%s",
                 s->dev ? "" : ", or run event-gateway --dev");
        goto fail;
    }

    if (!rt->mock && eg_runtime_ensure_topics(rt, err, errlen))
        goto fail;
    if (eg_runtime_record_limit(rt, err, errlen))
        goto fail;
    if (!(rt->config = eg_configlog_new(s, rt->brokers, &rt->topics, writer,
                                        rt->embedded->idle_fetch_wait_ms, err, errlen)) ||
        eg_configlog_start(rt->config, err, errlen))
        goto fail;
    if (rt->embedded->backlog_guard) /* never NULL: the events topic's name is short enough */
        rt->backlog = eg_backlog_new(EG_BACKLOG_PARTITION_BYTES, rt->topics.events);
    return rt;
fail:
    eg_runtime_free(rt);
    return NULL;
}

int eg_runtime_ensure_topic(eg_runtime_t *rt, rd_kafka_t *rk, const char *topic, int timeout_ms,
                            char *err, size_t errlen)
{
    if (rt->mock)
        return eg_mock_topic_create(rt->mock, topic, rt->partitions, err, errlen);
    return eg_kafka_ensure_topic(rk, topic, rt->partitions, rt->settings->replication_factor, NULL,
                                 timeout_ms, err, errlen);
}

void eg_runtime_free(eg_runtime_t *rt)
{
    if (!rt)
        return;
    eg_configlog_free(rt->config);
    eg_mock_free(rt->mock);
    eg_metrics_free(rt->metrics);
    eg_backlog_free(rt->backlog);
    free(rt->brokers);
    pthread_mutex_destroy(&rt->wakers->mu);
    free(rt->wakers);
    pthread_mutex_destroy(&rt->faults->mu);
    free(rt->faults);
    free(rt);
}

cJSON *eg_runtime_status(eg_runtime_t *rt, int *ready)
{
    int r = eg_configlog_ready(rt->config);
    cJSON *doc = cJSON_CreateObject(), *kafka, *topics, *cfg;
    struct eg_faults *fs = rt->faults;
    pthread_mutex_lock(&fs->mu);
    int faults = fs->n;
    cJSON_AddStringToObject(doc, "status", faults ? "unavailable" : r ? "ok" : "starting");
    if (faults) {
        cJSON *f = cJSON_AddObjectToObject(doc, "faults");
        for (int i = 0; i < fs->n; i++)
            cJSON_AddStringToObject(f, fs->f[i].role, fs->f[i].reason);
    }
    pthread_mutex_unlock(&fs->mu);
    cJSON_AddStringToObject(doc, "version", EG_VERSION);
    cJSON_AddStringToObject(doc, "instance", eg_configlog_instance(rt->config));
    kafka = cJSON_AddObjectToObject(doc, "kafka");
    cJSON_AddStringToObject(kafka, "brokers", rt->brokers);
    cJSON_AddBoolToObject(kafka, "embedded", rt->mock != NULL);
    cJSON_AddBoolToObject(kafka, "mock", rt->embedded->mock); /* --dev or --kafka-mock */
    topics = cJSON_AddObjectToObject(kafka, "topics");
    cJSON_AddStringToObject(topics, "config", rt->topics.config);
    cJSON_AddStringToObject(topics, "events", rt->topics.events);
    cJSON_AddStringToObject(topics, "dlq", rt->topics.dlq);
    cJSON_AddStringToObject(topics, "replays", rt->topics.replays);
    if (rt->backlog) { /* a mock cluster: how close its bound per partition is */
        cJSON *bl = cJSON_AddObjectToObject(kafka, "backlog");
        cJSON_AddNumberToObject(bl, "limitBytes", EG_BACKLOG_PARTITION_BYTES);
        cJSON_AddNumberToObject(bl, "worstPartitionBytes", (double)eg_backlog_worst(rt->backlog));
        cJSON_AddBoolToObject(bl, "holdingEvents", eg_backlog_full(rt->backlog));
        cJSON_AddBoolToObject(bl, "holdingFanOut", eg_backlog_downstream_full(rt->backlog));
    }
    cfg = cJSON_AddObjectToObject(doc, "config");
    cJSON_AddNumberToObject(cfg, "offset", (double)eg_configlog_position(rt->config));
    cJSON_AddBoolToObject(cfg, "caughtUp", r);
    if (ready)
        *ready = r && !faults;
    return doc;
}

/* The status server of roles that have no Config API (--status-port). */
static enum MHD_Result status_only(void *ctx, eg_http_req_t *req)
{
    if (!strcmp(req->url, "/metrics"))
        return eg_runtime_metrics_answer(ctx, req->conn);
    if (strcmp(req->url, "/v1/status"))
        return eg_http_error(req->conn, 404,
                             "Not found. This process serves only /v1/status and /metrics.");
    int ready = 0;
    cJSON *doc = eg_runtime_status(ctx, &ready);
    return eg_http_json(req->conn, ready ? 200 : 503, doc);
}

int eg_daemon_main(int role, int argc, char **argv, const eg_role_ops_t *const *roles,
                   size_t nroles)
{
    eg_alloc_setup();
    eg_settings_t s;
    eg_settings_init(&s);
    int rc = eg_settings_parse(&s, role, argc, argv, stdout, stderr);
    char err[512] = "";
    if (rc == EG_SETTINGS_CONTINUE && eg_kafka_check_props(&s, err, sizeof err)) {
        const char *prog = argc > 0 && argv[0][0] ? argv[0] : eg_role_binary(role);
        fprintf(stderr, "%s: %s\n", strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog, err);
        rc = EG_SETTINGS_ERROR;
    }
    if (rc != EG_SETTINGS_CONTINUE) {
        eg_settings_release(&s);
        return rc == EG_SETTINGS_EXIT ? 0 : 2;
    }
    eg_log_setup(s.log_level, s.log_format, NULL);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    eg_http_server_t *status_srv = NULL;
    void *state[8] = {0};
    size_t started = 0;
    rc = 1;
    eg_runtime_t *rt =
        eg_runtime_new(&s, (role & (EG_ROLE_INGRESS | EG_ROLE_GATEWAY)) != 0, err, sizeof err);
    if (!rt) {
        EG_LOG_ERROR("main", "%s", err);
        goto out;
    }
    for (; started < nroles && started < 8; started++) {
        if (!(state[started] = roles[started]->start(rt, err, sizeof err))) {
            EG_LOG_ERROR("main", "%s: %s", roles[started]->name, err);
            goto out;
        }
    }
    if (s.status_port && !(role & (EG_ROLE_INGRESS | EG_ROLE_GATEWAY)) &&
        !(status_srv =
              eg_http_server_new("status", s.listen, s.status_port, 1024, EG_HTTP_EVENT_LOOP,
                                 status_only, rt, NULL, err, sizeof err))) {
        EG_LOG_ERROR("main", "%s", err);
        goto out;
    }
    EG_LOG_INFO("main", "%s %s running (Kafka %s, topic prefix %s)", argv[0], EG_VERSION,
                rt->brokers, s.topic_prefix);
    int sig = 0;
    sigwait(&set, &sig);
    rc = atomic_load(&rt->faults->failed) ? 1 : 0;
    if (!rc)
        EG_LOG_INFO("main", "%s received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (rt->stop_accepting)
        rt->stop_accepting(rt->stop_accepting_arg);
out:
    eg_http_server_free(status_srv);
    while (started > 0) {
        started--;
        roles[started]->stop(state[started]);
    }
    eg_runtime_free(rt);
    eg_settings_release(&s);
    return rc;
}
