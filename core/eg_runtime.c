/*
 * eg_runtime: the shared runtime of a process and the common main(); see
 * eg_runtime.h. Signals: SIGINT and SIGTERM are blocked in every thread
 * (before any thread starts) and taken with sigwait in the main thread, so
 * no signal handler ever runs inside library code.
 */
#include "eg_runtime.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_http.h"
#include "eg_log.h"

/* On a real cluster: the data topics, created with the Admin API when
 * missing (the configuration topic is the configuration log's business). */
static int eg_runtime_ensure_topics(eg_runtime_t *rt, char *err, size_t errlen)
{
    char kerr[512];
    int rc = 0;
    rd_kafka_conf_t *conf = eg_kafka_conf_new(rt->settings, rt->brokers, err, errlen);
    if (!conf)
        return -1;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof kerr);
    if (!rk) {
        snprintf(err, errlen, "admin client: %s", kerr);
        return -1;
    }
    /* The events topic is the history replays read: its retention is a
     * setting. The replays topic keeps one record per replay. */
    char retention[32];
    snprintf(retention, sizeof retention, "%ld", rt->settings->events_retention_ms);
    const char *const events_configs[] = {"retention.ms", retention, NULL};
    static const char *const replays_configs[] = {"cleanup.policy", "compact", NULL};
    for (size_t i = 0; i < EG_TOPICS_DATA && rc == 0; i++) {
        const char *t = eg_topics_data(&rt->topics, i);
        rc = eg_kafka_ensure_topic(rk, t, rt->settings->partitions,
                                   rt->settings->replication_factor,
                                   t == rt->topics.events ? events_configs : NULL, 10000, err,
                                   errlen);
    }
    if (rc == 0)
        rc = eg_kafka_ensure_topic(rk, rt->topics.replays, rt->settings->partitions,
                                   rt->settings->replication_factor, replays_configs, 10000, err,
                                   errlen);
    rd_kafka_destroy(rk);
    return rc;
}

eg_runtime_t *eg_runtime_new(const eg_settings_t *s, int writer, char *err, size_t errlen)
{
    eg_runtime_t *rt = calloc(1, sizeof *rt);
    if (!rt) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rt->settings = s;
    eg_topics_init(&rt->topics, s->topic_prefix);

    if (s->dev && !(s->brokers && *s->brokers)) {
        if (!(rt->mock = eg_mock_new(err, errlen)))
            goto fail;
        rt->brokers = strdup(eg_mock_bootstraps(rt->mock));
        /* The embedded broker answers no CreateTopics: make them here. */
        if (eg_mock_create_topics(rt->mock, &rt->topics, s->partitions, err, errlen))
            goto fail;
        /* It has no topic configurations either: no retention by time
         * (--events-retention-ms) and no compaction there. */
        EG_LOG_INFO("kafka", "embedded Kafka (librdkafka mock cluster) listening on %s",
                    rt->brokers);
    } else if (s->brokers && *s->brokers) {
        rt->brokers = strdup(s->brokers);
    } else {
        snprintf(err, errlen,
                 "no Kafka cluster: give --brokers HOST:PORT (or EG_KAFKA_BROKERS)%s",
                 s->dev ? "" : ", or run event-gateway --dev");
        goto fail;
    }
    if (!rt->brokers) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    if (!(rt->config = eg_configlog_new(s, rt->brokers, &rt->topics, writer, err, errlen)) ||
        eg_configlog_start(rt->config, err, errlen))
        goto fail;
    if (!rt->mock && eg_runtime_ensure_topics(rt, err, errlen))
        goto fail;
    return rt;
fail:
    eg_runtime_free(rt);
    return NULL;
}

void eg_runtime_free(eg_runtime_t *rt)
{
    if (!rt)
        return;
    eg_configlog_free(rt->config);
    eg_mock_free(rt->mock);
    free(rt->brokers);
    free(rt);
}

cJSON *eg_runtime_status(eg_runtime_t *rt, int *ready)
{
    int r = eg_configlog_ready(rt->config);
    cJSON *doc = cJSON_CreateObject(), *kafka, *topics, *cfg;
    cJSON_AddStringToObject(doc, "status", r ? "ok" : "starting");
    cJSON_AddStringToObject(doc, "version", EG_VERSION);
    cJSON_AddStringToObject(doc, "instance", eg_configlog_instance(rt->config));
    kafka = cJSON_AddObjectToObject(doc, "kafka");
    cJSON_AddStringToObject(kafka, "brokers", rt->brokers);
    cJSON_AddBoolToObject(kafka, "embedded", rt->mock != NULL);
    topics = cJSON_AddObjectToObject(kafka, "topics");
    cJSON_AddStringToObject(topics, "config", rt->topics.config);
    cJSON_AddStringToObject(topics, "events", rt->topics.events);
    cJSON_AddStringToObject(topics, "dlq", rt->topics.dlq);
    cJSON_AddStringToObject(topics, "replays", rt->topics.replays);
    cfg = cJSON_AddObjectToObject(doc, "config");
    cJSON_AddNumberToObject(cfg, "offset", (double)eg_configlog_position(rt->config));
    cJSON_AddBoolToObject(cfg, "caughtUp", r);
    if (ready)
        *ready = r;
    return doc;
}

/* The status server of roles that have no Config API (--status-port). */
static enum MHD_Result status_only(void *ctx, eg_http_req_t *req)
{
    if (strcmp(req->url, "/v1/status"))
        return eg_http_error(req->conn, 404, "Not found. This process serves only /v1/status.");
    int ready = 0;
    cJSON *doc = eg_runtime_status(ctx, &ready);
    return eg_http_json(req->conn, ready ? 200 : 503, doc);
}

int eg_daemon_main(int role, int argc, char **argv, const eg_role_ops_t *const *roles,
                   size_t nroles)
{
    eg_settings_t s;
    eg_settings_init(&s);
    int rc = eg_settings_parse(&s, role, argc, argv, stdout, stderr);
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

    char err[512] = "";
    eg_http_server_t *status_srv = NULL;
    void *state[8] = {0};
    size_t started = 0;
    rc = 1;
    eg_runtime_t *rt = eg_runtime_new(&s, (role & (EG_ROLE_INGRESS | EG_ROLE_GATEWAY)) != 0, err,
                                      sizeof err);
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
        !(status_srv = eg_http_server_new("status", s.listen, s.status_port, 1024,
                                          EG_HTTP_THREADS, status_only, rt,
                                          err, sizeof err))) {
        EG_LOG_ERROR("main", "%s", err);
        goto out;
    }
    EG_LOG_INFO("main", "%s %s running (Kafka %s, topic prefix %s)", argv[0], EG_VERSION,
                rt->brokers, s.topic_prefix);
    int sig = 0;
    sigwait(&set, &sig);
    EG_LOG_INFO("main", "%s received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
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
