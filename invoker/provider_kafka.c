/*
 * provider_kafka.c: functions of type "kafka", a sink that writes the
 * invocation's event to a Kafka topic: subscriptions become Kafka-to-Kafka
 * routing.
 *
 *   provider.topic    the topic written to (required)
 *   provider.brokers  bootstrap servers of another cluster; default: the
 *                     gateway's own (--brokers, or the embedded broker)
 *
 * The record is the CloudEvents Kafka binding in structured mode: the value
 * is the event as a function would receive it (the invocation's body), the
 * header content-type its media type (application/cloudevents+json for
 * CloudEvents 1.0), the key the one the events topic uses (the event's
 * partitionkey extension, else its id). Written to another gateway's events
 * topic it is routed there like any event.
 *
 * Producers: one per distinct provider.brokers string ("" = the gateway's
 * cluster), shared by every engine, created on first use and freed by the
 * shutdown hook; idempotent, acks=all, message.timeout.ms = the function
 * timeout, every --kafka property applied (so TLS/SASL settings reach
 * another cluster too). Each producer has a thread of its own that serves
 * its delivery reports, and the report decides the attempt: delivered is a
 * success, any error a retryable failure (the engine's retries and dead
 * letters apply as to http functions). A produce call the client refuses
 * at once (queue full, bad topic name) is a retryable failure as well.
 * The gateway never creates a function's topic: a missing one (a real
 * cluster creates none on a first record) fails every attempt, each after
 * message.timeout.ms, and its dead letter says the topic does not exist.
 *
 * Loops: the record carries the call's hop count (header eg-hops,
 * eg_kafka_hdr.h). Written to a gateway's events topic (this one's, or one
 * that writes back), the event would come round again and again: a count
 * past --max-hops is not written, and the invocation is dead-lettered at
 * once, as the Events API answers such an event 508.
 *
 * Sync subscriptions: the event is written the same way, but a topic gives
 * no answer, so the caller gets a failure (500 "Function call failed.").
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_kafka.h"
#include "eg_kafka_hdr.h"
#include "eg_log.h"
#include "eg_kafka_client.h"
#include "provider.h"

#define COMP "invoker"
#define FLUSH_MS 5000
#define METADATA_MS 2000 /* the lookup that explains a failed record */

typedef struct sink {
    char *brokers; /* provider.brokers, "" for the gateway's cluster */
    rd_kafka_t *rk;
    pthread_t poller;
    atomic_int stop;
    struct sink *next;
} sink_t;

/* One record in flight: what its delivery report needs. */
typedef struct kmsg {
    eg_call_done_t *done;
    int sync;
} kmsg_t;

static pthread_mutex_t sinks_mu = PTHREAD_MUTEX_INITIALIZER;
static sink_t *sinks;

/* 1 when the cluster says topic does not exist. A record for a topic a
 * real cluster does not have (it creates none on a first record) times out
 * waiting for its metadata, and "Message timed out" alone does not tell the
 * user why: only then is the cluster asked, within METADATA_MS. */
static int topic_missing(rd_kafka_t *rk, rd_kafka_topic_t *rkt)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, rkt, &md, METADATA_MS) || !md)
        return 0;
    int missing =
        md->topic_cnt == 1 && (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                               md->topics[0].err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC);
    rd_kafka_metadata_destroy(md);
    return missing;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kmsg_t *k = m->_private;
    char err[512] = "";
    eg_call_verdict_t v = EG_CALL_OK;
    (void)opaque;
    if (!k)
        return;
    if (m->err) {
        int missing = (m->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ||
                       m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                       m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) &&
                      topic_missing(rk, m->rkt);
        snprintf(err, sizeof err, "writing to topic %s: %s%s", rd_kafka_topic_name(m->rkt),
                 rd_kafka_err2str(m->err),
                 missing ? " (the topic does not exist: create it, the gateway does not)" : "");
        v = EG_CALL_RETRY;
    } else if (k->sync) {
        snprintf(err, sizeof err,
                 "written to topic %s, but a kafka function has no answer for a sync caller",
                 rd_kafka_topic_name(m->rkt));
        v = EG_CALL_FINAL;
    }
    eg_call_complete(k->done, v, err);
    free(k);
}

static void *poller(void *arg)
{
    sink_t *s = arg;
    while (!atomic_load(&s->stop))
        rd_kafka_poll(s->rk, 100); /* returns at once when a report comes */
    return NULL;
}

static rd_kafka_t *make_producer(const eg_call_t *call, const char *brokers, char *err,
                                 size_t errlen)
{
    const eg_settings_t *s = call->rt->settings;
    char timeout[24];
    snprintf(timeout, sizeof timeout, "%d",
             s->function_timeout_ms > 0 ? s->function_timeout_ms : 10000);
    /* defaults only: the sink may be another cluster, whose rules are its own */
    const eg_kafka_prop_t rows[] = {
        EG_KAFKA_DEFAULT("client.id", "eg-invoker-kafka-sink"),
        EG_KAFKA_DEFAULT("enable.idempotence", "true"),
        EG_KAFKA_DEFAULT("acks", "all"),
        EG_KAFKA_DEFAULT("linger.ms", "5"),
        EG_KAFKA_DEFAULT("message.timeout.ms", timeout),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_PRODUCER,
                                  .name = "kafka function producer",
                                  .props = rows,
                                  .dr_msg_cb = on_delivery};
    return eg_kafka_client_new(s, *brokers ? brokers : call->rt->brokers, &spec, err, errlen);
}

/* The producer for brokers, made on first use. NULL with err. */
static rd_kafka_t *sink_get(const eg_call_t *call, const char *brokers, char *err, size_t errlen)
{
    rd_kafka_t *rk = NULL;
    pthread_mutex_lock(&sinks_mu);
    for (sink_t *s = sinks; s; s = s->next)
        if (!strcmp(s->brokers, brokers)) {
            rk = s->rk;
            goto out;
        }
    sink_t *s = eg_xcalloc(1, sizeof *s);
    s->brokers = eg_xstrdup(brokers);
    if (!(s->rk = make_producer(call, brokers, err, errlen)))
        goto fail;
    atomic_init(&s->stop, 0);
    if (pthread_create(&s->poller, NULL, poller, s)) {
        snprintf(err, errlen, "cannot start a kafka function producer's thread");
        rd_kafka_destroy(s->rk);
        goto fail;
    }
    EG_LOG_INFO(COMP, "kafka functions: producer for %s started",
                *brokers ? brokers : "the gateway's cluster");
    s->next = sinks;
    sinks = s;
    rk = s->rk;
    goto out;
fail:
    free(s->brokers);
    free(s);
out:
    pthread_mutex_unlock(&sinks_mu);
    return rk;
}

static int kafka_start(eg_call_t *call, const cJSON *function, char *err, size_t errlen)
{
    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(function, "provider");
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(prov, "topic");
    const cJSON *brokers = cJSON_GetObjectItemCaseSensitive(prov, "brokers");
    if (!cJSON_IsString(topic) || !*topic->valuestring) {
        snprintf(err, errlen, "function has no provider.topic");
        return -1;
    }
    int max_hops = call->rt->settings->max_hops;
    if (call->hops > max_hops) {
        snprintf(err, errlen,
                 "loop detected: the event went through %ld function calls, more than "
                 "--max-hops %d; not written to topic %s",
                 call->hops, max_hops, topic->valuestring);
        return -1;
    }
    char hops[24];
    snprintf(hops, sizeof hops, "%ld", call->hops);
    rd_kafka_t *rk =
        sink_get(call, cJSON_IsString(brokers) ? brokers->valuestring : "", err, errlen);
    if (!rk)
        return -1;
    kmsg_t *k = eg_xmalloc(sizeof *k);
    k->done = call->done;
    k->sync = call->sync;
    const char *key = call->key_len ? call->key : call->event_id;
    size_t klen = call->key_len ? call->key_len : call->event_id ? strlen(call->event_id) : 0;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic->valuestring), RD_KAFKA_V_KEY(key, klen),
        RD_KAFKA_V_VALUE((void *)call->body, call->body_len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER(EG_HDR_CONTENT_TYPE, call->content_type, -1),
        RD_KAFKA_V_HEADER(EG_HDR_HOPS, hops, -1), RD_KAFKA_V_OPAQUE(k), RD_KAFKA_V_END);
    if (e) {
        char why[512];
        snprintf(why, sizeof why, "writing to topic %s: %s", topic->valuestring,
                 rd_kafka_err2str(e));
        free(k);
        eg_call_complete(call->done, EG_CALL_RETRY, why);
    }
    return 0;
}

static void kafka_shutdown(void)
{
    pthread_mutex_lock(&sinks_mu);
    sink_t *list = sinks;
    sinks = NULL;
    pthread_mutex_unlock(&sinks_mu);
    while (list) {
        sink_t *s = list;
        list = s->next;
        atomic_store(&s->stop, 1);
        pthread_join(s->poller, NULL);
        if (rd_kafka_flush(s->rk, FLUSH_MS)) {
            EG_LOG_WARN(COMP, "kafka functions: %d record(s) for %s not delivered at shutdown",
                        rd_kafka_outq_len(s->rk),
                        *s->brokers ? s->brokers : "the gateway's cluster");
            /* Their reports (purged) free what they carry. */
            rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_flush(s->rk, 1000);
        }
        rd_kafka_destroy(s->rk);
        free(s->brokers);
        free(s);
    }
}

const eg_provider_t eg_provider_kafka = {
    .type = "kafka",
    .start = kafka_start,
    .shutdown = kafka_shutdown,
};
