/*
 * reply_topics.c: the life of the ingresses' reply topics,
 * <prefix>replies.<instance> (sync.c reads them).
 *
 * Bounds. A reply is of use for --sync-timeout-ms, so the topic keeps an
 * hour (retention.ms) in segments of at most 10 minutes or 64 MiB
 * (segment.ms, segment.bytes): retention deletes only closed segments, and
 * with the broker's defaults (7 days, 1 GiB) a busy topic would never close
 * one. A record may be EG_REPLY_MAX_RECORD bytes (max.message.bytes; the
 * broker's default, 1 MiB, would refuse answers well under the
 * EG_REPLY_MAX_BODY a reply carries). These are set when the topic is
 * created; one that exists already keeps its own.
 *
 * Instances that are gone. The instance id is hostname-pid unless set, so
 * every start of an ingress makes a new topic, and nothing says when an
 * ingress is gone for good: a crash says nothing, and two processes may
 * share an instance id (set the same, or cut to the same 32 characters), so
 * an ingress deleting its own topic on exit could pull it from under the
 * other. Instead, on a real cluster (the embedded broker ends with its
 * process) a thread of each ingress
 *  - writes a heartbeat, a reply without correlation id (readers drop it),
 *    to partition 0 of its own topic every twelfth of --reply-topic-reap-ms
 *    (5 minutes at most), making the topic again first if it is gone (an
 *    ingress cut off from Kafka for longer than that can have lost it);
 *  - reads, every sixth of it (10 minutes at most), the end offsets of every
 *    other topic named <prefix>replies.*, and deletes one whose ends have not
 *    moved for --reply-topic-reap-ms (1 hour) by its own clock: no live
 *    ingress has written to it for twelve of its heartbeats. A topic must
 *    stand still under its eyes for the whole period, so one created a moment
 *    ago is never taken, and a new ingress deletes nothing in its first
 *    period. Two reapers deleting the same topic is harmless. 0 reaps none.
 *
 * Thread: one, with a producer of its own (heartbeats, metadata, offsets,
 * DeleteTopics); it waits on a condition variable, so stopping is at once.
 * Every Kafka call is bounded (CALL_MS, so a stop waits at most that
 * long); a failed look or heartbeat is logged and tried again at the next
 * turn.
 */
#include "ingress.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eg_alloc.h"
#include "eg_kafka.h"
#include "eg_log.h"
#include "eg_kafka_client.h"
#include "eg_map.h"
#include "eg_time.h"

#define REPLY_RETENTION_MS "3600000"
#define REPLY_SEGMENT_MS "600000"
#define REPLY_SEGMENT_BYTES "67108864"
#define HEARTBEAT_MAX_MS 300000
#define LOOK_MAX_MS 600000
/* Each Kafka call's bound, which is also how long a SIGTERM can wait for
 * this thread: nothing here is urgent, a call that fails is made again. */
#define CALL_MS 2000

/* What the reaper knows of another ingress's topic. */
typedef struct seen {
    int64_t ends;  /* sum of its partitions' end offsets */
    int64_t since; /* monotonic ms: when ends last moved (or was first read) */
    int looked;    /* the look that found it */
} seen_t;

struct eg_reply_topics {
    eg_runtime_t *rt;
    char own[512];
    char prefix[300]; /* "<prefix>replies." */
    rd_kafka_t *rk;
    eg_map_t *seen; /* topic -> seen_t* */
    int looks;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
};

int eg_reply_topic_create(eg_runtime_t *rt, rd_kafka_t *rk, const char *topic, char *err,
                          size_t errlen)
{
    /* clang-format off */
    static const char *const configs[] = {"retention.ms",      REPLY_RETENTION_MS,
                                          "segment.ms",        REPLY_SEGMENT_MS,
                                          "segment.bytes",     REPLY_SEGMENT_BYTES,
                                          "max.message.bytes", EG_REPLY_MAX_RECORD,
                                          NULL};
    /* clang-format on */
    int n = eg_runtime_partitions(rt->settings->reply_partitions, rt->embedded->reply_partitions);
    if (rt->mock)
        return eg_mock_topic_create(rt->mock, topic, n, err, errlen);
    return eg_kafka_ensure_topic(rk, topic, n, rt->settings->replication_factor, configs, CALL_MS,
                                 err, errlen);
}

static int64_t heartbeat_ms(const eg_settings_t *s)
{
    int64_t t = s->reply_topic_reap_ms / 12;
    return t > 0 && t < HEARTBEAT_MAX_MS ? t : HEARTBEAT_MAX_MS;
}

static int64_t look_ms(const eg_settings_t *s)
{
    int64_t t = s->reply_topic_reap_ms / 6;
    return t > 0 && t < LOOK_MAX_MS ? t : LOOK_MAX_MS;
}

static void heartbeat(eg_reply_topics_t *t)
{
    char err[512];
    if (eg_reply_topic_create(t->rt, t->rk, t->own, err, sizeof err)) {
        EG_LOG_WARN("replies", "%s: %s", t->own, err);
        return;
    }
    eg_reply_t r = {.correlation = "", .ok = 0};
    char *v = eg_reply_encode(&r);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        t->rk, RD_KAFKA_V_TOPIC(t->own), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE(v, strlen(v)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END);
    if (e) {
        free(v);
        EG_LOG_WARN("replies", "heartbeat to %s: %s", t->own, rd_kafka_err2str(e));
    }
}

/* Its partitions' end offsets summed, or -1 (not readable now). */
static int64_t topic_ends(eg_reply_topics_t *t, const rd_kafka_metadata_topic_t *mt)
{
    int64_t sum = 0;
    for (int p = 0; p < mt->partition_cnt; p++) {
        int64_t lo = 0, hi = 0;
        if (eg_kafka_watermarks(t->rk, mt->topic, mt->partitions[p].id, &lo, &hi, CALL_MS))
            return -1;
        sum += hi;
    }
    return sum;
}

static void delete_topic(eg_reply_topics_t *t, const char *topic, int64_t idle_ms)
{
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(t->rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(t->rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(o, CALL_MS, NULL, 0);
    rd_kafka_AdminOptions_set_operation_timeout(o, CALL_MS, NULL, 0);
    rd_kafka_DeleteTopics(t->rk, &dt, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, CALL_MS + 1000);
    rd_kafka_resp_err_t e = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
    if (ev && !e) {
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        e = n == 1 ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR__FAIL;
    }
    if (!e || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        EG_LOG_INFO("replies",
                    "deleted reply topic %s: nothing written to it for %" PRId64
                    " s (its ingress is gone)",
                    topic, idle_ms / 1000);
    else
        EG_LOG_WARN("replies", "deleting reply topic %s: %s", topic, rd_kafka_err2str(e));
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
}

/* One look at every other reply topic; deletes those idle for the period. */
static void look(eg_reply_topics_t *t)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(t->rk, 1, NULL, &md, CALL_MS);
    if (e) {
        EG_LOG_WARN("replies", "listing topics: %s", rd_kafka_err2str(e));
        return;
    }
    int64_t reap = t->rt->settings->reply_topic_reap_ms;
    size_t plen = strlen(t->prefix);
    t->looks++;
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[i];
        if (mt->err || strncmp(mt->topic, t->prefix, plen) || !strcmp(mt->topic, t->own) ||
            !mt->topic[plen])
            continue;
        int64_t ends = topic_ends(t, mt), now = eg_time_mono_ms();
        if (ends < 0)
            continue;
        seen_t *s = eg_map_get(t->seen, mt->topic);
        if (!s) {
            s = eg_xcalloc(1, sizeof *s);
            if (eg_map_put(t->seen, mt->topic, s, NULL)) {
                free(s);
                continue;
            }
            s->ends = ends;
            s->since = now;
        } else if (s->ends != ends) {
            s->ends = ends;
            s->since = now;
        }
        s->looked = t->looks;
        if (now - s->since >= reap) {
            delete_topic(t, mt->topic, now - s->since);
            free(eg_map_del(t->seen, mt->topic));
        }
    }
    rd_kafka_metadata_destroy(md);
    /* Forget the topics that are gone. */
    eg_map_iter_t it;
    const char *k;
    void *v;
    eg_map_iter_init(&it, t->seen);
    while (eg_map_iter_next(&it, &k, &v))
        if (((seen_t *)v)->looked != t->looks)
            free(eg_map_del(t->seen, k));
}

static void *reply_topics_main(void *arg)
{
    eg_reply_topics_t *t = arg;
    const eg_settings_t *s = t->rt->settings;
    int64_t next_beat = eg_time_mono_ms() + heartbeat_ms(s), next_look = eg_time_mono_ms();
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        int64_t now = eg_time_mono_ms();
        if (now >= next_beat || (s->reply_topic_reap_ms > 0 && now >= next_look)) {
            pthread_mutex_unlock(&t->mu);
            if (now >= next_beat) {
                heartbeat(t);
                next_beat = now + heartbeat_ms(s);
            }
            if (s->reply_topic_reap_ms > 0 && now >= next_look) {
                look(t);
                next_look = now + look_ms(s);
            }
            rd_kafka_poll(t->rk, 0);
            pthread_mutex_lock(&t->mu);
            continue;
        }
        int64_t due = next_beat;
        if (s->reply_topic_reap_ms > 0 && next_look < due)
            due = next_look;
        int64_t wait = due - now < 1000 ? due - now : 1000; /* delivery reports too */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
        pthread_mutex_unlock(&t->mu);
        rd_kafka_poll(t->rk, 0);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static void on_heartbeat(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        EG_LOG_WARN("replies", "heartbeat to %s: %s", rd_kafka_topic_name(m->rkt),
                    rd_kafka_err2str(m->err));
}

eg_reply_topics_t *eg_reply_topics_new(eg_runtime_t *rt, const char *own, char *err, size_t errlen)
{
    const eg_settings_t *s = rt->settings;
    eg_reply_topics_t *t = eg_xcalloc(1, sizeof *t);
    t->rt = rt;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    snprintf(t->own, sizeof t->own, "%s", own);
    snprintf(t->prefix, sizeof t->prefix, "%sreplies.", s->topic_prefix);
    static const eg_kafka_prop_t rows[] = {
        EG_KAFKA_DEFAULT("client.id", "eg-ingress-reply-topics"),
        EG_KAFKA_DEFAULT("message.timeout.ms", "30000"),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_PRODUCER,
                                  .name = "reply topics producer",
                                  .props = rows,
                                  .dr_msg_cb = on_heartbeat};
    if (!(t->rk = eg_kafka_client_new(s, rt->brokers, &spec, err, errlen)))
        goto fail;
    t->seen = eg_map_new();
    if (pthread_create(&t->thread, NULL, reply_topics_main, t)) {
        snprintf(err, errlen, "cannot start the reply topics thread: %s", strerror(errno));
        goto fail;
    }
    t->started = 1;
    return t;
fail:
    eg_reply_topics_free(t);
    return NULL;
}

void eg_reply_topics_free(eg_reply_topics_t *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (t->started)
        pthread_join(t->thread, NULL);
    if (t->rk) {
        rd_kafka_flush(t->rk, 1000);
        rd_kafka_destroy(t->rk);
    }
    eg_map_free_with(t->seen, free);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
