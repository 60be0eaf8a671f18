/*
 * invoker.c: the invoker role: three engines, each on its own thread with its
 * own consumer, producer, libcurl multi handle, timers and in-flight budget:
 *  - sync: group "<prefix>invoker.<pool>.sync" on "<prefix>invoke.<pool>.sync"
 *    (the router's sync invocations and the ingress's authorizer calls);
 *  - async: group "<prefix>invoker.<pool>" on "<prefix>invoke.<pool>.async";
 *  - overflow: group "<prefix>invoker.<pool>.overflow" on
 *    "<prefix>invoke.<pool>.overflow" (async records of functions past their
 *    share, see intake.c).
 * Sync before async: the sync engine shares nothing mutable with the others,
 * so when thousands of async calls start or time out at once (one libcurl
 * call handles them all) sync calls still go out within milliseconds. This
 * file builds the clients, makes sure of the topics, starts the engines and
 * stops them: all drain at once, commit, leave their group and free everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <curl/curl.h>

#include "eg_alloc.h"
#include "eg_kafka_client.h"
#include "eg_log.h"
#include "eg_time.h"
#include "invoker.h"
#include "invoker_int.h"

#define TOPIC_TIMEOUT_MS 5000               /* making sure the topics exist */
#define REPLY_MAX_BYTES EG_REPLY_MAX_RECORD /* message.max.bytes of the reply producer */

static void producer_free(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *what)
{
    if (!rk)
        return;
    if (rd_kafka_flush(rk, 5000))
        EG_LOG_WARN(COMP, "%s producer: %d record(s) not delivered at shutdown", what,
                    rd_kafka_outq_len(rk));
    /* No more writes to the pipe, which is closed later. */
    if (q) {
        rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
        rd_kafka_queue_destroy(q);
    }
    rd_kafka_destroy(rk);
}

static void engine_free(eg_invoker_t *r)
{
    if (!r)
        return;
    if (r->waker)
        eg_runtime_remove_waker(r->rt, eg_engine_on_wake, r);
    eg_runtime_doze_state(r->rt, &r->dozing, 0); /* its thread has stopped */
    src_t *in = &r->in;
    /* Leaves the group; the revoke callback commits once more. */
    if (in->consumer)
        eg_kafka_consumer_leave(in->consumer, EG_KAFKA_LEAVE_MS);
    if (in->cq) {
        rd_kafka_queue_io_event_enable(in->cq, -1, NULL, 0);
        rd_kafka_queue_destroy(in->cq);
        in->cq = NULL;
    }
    producer_free(r->replier, r->rq, "reply");
    producer_free(r->producer, r->pq, "dead-letter");
    while (r->invs)
        eg_intake_inv_free(r, r->invs);
    eg_intake_forget(r, in, NULL);
    if (r->doneq) {
        int last = 0;
        pthread_mutex_lock(&r->doneq->mu);
        r->doneq->closed = 1;
        for (eg_call_done_t *d = r->doneq->head, *n; d; d = n) {
            n = d->next;
            free(d);
        }
        r->doneq->head = r->doneq->tail = NULL;
        eg_attempt_doneq_unref_locked(r->doneq, &last);
        pthread_mutex_unlock(&r->doneq->mu);
        eg_attempt_doneq_release(r->doneq, last);
        r->doneq = NULL;
    }
    eg_kafka_consumer_destroy(in->consumer, in->ever_assigned);
    while (r->easy_free)
        curl_easy_cleanup(r->easy_pool[--r->easy_free]);
    if (r->multi)
        curl_multi_cleanup(r->multi);
    if (r->epfd >= 0)
        close(r->epfd);
    eg__timer_heap_release(&r->timers);
    if (r->pipefd[0] >= 0)
        close(r->pipefd[0]);
    if (r->pipefd[1] >= 0)
        close(r->pipefd[1]);
    if (r->seen_ring)
        for (size_t k = 0; k < SEEN_MAX; k++)
            free(r->seen_ring[k]);
    free(r->seen_ring);
    eg_map_free(r->seen);
    eg__shares_free(r->shares);
    free(r);
}

/* Group membership: session.timeout.ms 6000 (the brokers' usual minimum)
 * and heartbeat.interval.ms 1000: a dead member is noticed after 6 s, and its
 * partitions move once the survivors have rejoined (~1 s on Kafka). The
 * embedded broker (librdkafka 2.0's mock) then waits session.timeout.ms - 1 s
 * more for the rejoin whatever happens: 6 + 5 s, within the 15 s the
 * contract allows. Async fetch.wait.max.ms is the profile's (eg_embedded.h):
 * 10 ms on the embedded broker, which answers a fetch only when that time
 * runs out, even when it has data; 100 ms on Kafka, which answers as soon as
 * data arrives. */

/* The consumer of one input. Tuning properties are set unless the user gave
 * them with --kafka. The sync one fetches with fetch.wait.max.ms =
 * --sync-fetch-wait-ms (the embedded broker answers a fetch only when that
 * runs out: it is the latency of the hop, 1 ms; a real broker answers as
 * soon as data arrives: 100 ms), dozes when idle (--idle-probe-ms,
 * eg_doze.h) and prefetches little. */
static rd_kafka_t *make_consumer(eg_invoker_t *r, src_t *src, char *err, size_t errlen)
{
    const eg_settings_t *s = r->s;
    char cid[300], wait[16];
    static const char *const suffix[] = {"-sync", "", "-overflow"};
    snprintf(cid, sizeof cid, "eg-invoker%s-%s", suffix[r->kind],
             s->instance_id ? s->instance_id : "");
    int wait_ms = eg_embedded_auto(s->sync_fetch_wait_ms, r->rt->embedded->sync_fetch_wait_ms);
    snprintf(wait, sizeof wait, "%d", wait_ms);
    char async_wait[16];
    snprintf(async_wait, sizeof async_wait, "%d", r->rt->embedded->async_fetch_wait_ms);
    /* The sync input dozes (it fetches every millisecond), and so does the
     * overflow input, idle but for a slow function's backlog: the embedded
     * broker would otherwise answer its empty fetches every 10 ms. The async
     * input's fetches wait 10 ms, and it is seldom idle for long. */
    eg_doze_init(&src->doze,
                 r->kind != ENG_ASYNC
                     ? eg_embedded_auto(s->idle_probe_ms, r->rt->embedded->idle_probe_ms)
                     : 0,
                 eg_time_mono_ms());
    const char *eof = src->doze.probe_ms ? "true" : NULL;
    const eg_kafka_prop_t sync_rows[] = {
        EG_KAFKA_FIXED("enable.auto.offset.store", "false"),
        EG_KAFKA_DEFAULT("client.id", cid),
        EG_KAFKA_DEFAULT("topic.metadata.refresh.interval.ms", "10000"),
        EG_KAFKA_DEFAULT("fetch.wait.max.ms", wait),
        EG_KAFKA_DEFAULT("queued.max.messages.kbytes", "2048"),
        EG_KAFKA_DEFAULT("max.partition.fetch.bytes", "262144"),
        EG_KAFKA_DEFAULT("socket.nagle.disable", "true"),
        EG_KAFKA_DEFAULT("isolation.level", "read_uncommitted"),
        /* the fetch windows of a dozing input close on these */
        EG_KAFKA_FIXED("enable.partition.eof", eof),
        {NULL, NULL, 0},
    };
    const eg_kafka_prop_t async_rows[] = {
        EG_KAFKA_FIXED("enable.auto.offset.store", "false"),
        EG_KAFKA_DEFAULT("client.id", cid),
        EG_KAFKA_DEFAULT("topic.metadata.refresh.interval.ms", "10000"),
        EG_KAFKA_DEFAULT("fetch.wait.max.ms", async_wait),
        EG_KAFKA_DEFAULT("queued.max.messages.kbytes", "16384"),
        EG_KAFKA_FIXED("enable.partition.eof", eof),
        {NULL, NULL, 0},
    };
    char name[600];
    snprintf(name, sizeof name, "consumer of %s", src->topic);
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_CONSUMER,
                                  .name = name,
                                  .profile = EG_KAFKA_GROUP_CONSUMER,
                                  .group = src->group,
                                  .props = src->sync ? sync_rows : async_rows,
                                  .opaque = src,
                                  .rebalance_cb = eg_intake_on_rebalance,
                                  .offset_commit_cb = eg_intake_on_commit};
    src->coop_sticky = eg_kafka_cooperative(s);
    return eg_kafka_client_new(s, r->rt->brokers, &spec, err, errlen);
}

static rd_kafka_t *make_producer(eg_invoker_t *r, char *err, size_t errlen)
{
    const eg_settings_t *s = r->s;
    char cid[300];
    snprintf(cid, sizeof cid, "eg-invoker-dlq-%s", s->instance_id ? s->instance_id : "");
    const eg_kafka_prop_t rows[] = {
        EG_KAFKA_FIXED("acks", "all"),
        EG_KAFKA_DEFAULT("client.id", cid),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_PRODUCER,
                                  .name = "dead-letter producer",
                                  .profile = EG_KAFKA_RELIABLE_PRODUCER,
                                  .props = rows,
                                  .opaque = r,
                                  .dr_msg_cb = eg_attempt_on_delivery};
    return eg_kafka_client_new(s, r->rt->brokers, &spec, err, errlen);
}

/* The reply producer: sends at once (EG_KAFKA_SYNC_PRODUCER, Nagle
 * off) and waits for the partition leader only (acks=1, so not idempotent).
 * A reply is worth something for a few seconds: a lost one (a leader dying
 * in that window) costs one 504, like a late one, and a duplicate is dropped
 * by the ingress (its correlation id no longer waits), while acks=all would
 * add the followers' round trip to every sync request on a replicated
 * cluster.
 * --kafka acks=all (or enable.idempotence=true) overrides. */
static rd_kafka_t *make_replier(eg_invoker_t *r, char *err, size_t errlen)
{
    const eg_settings_t *s = r->s;
    char cid[300];
    const char *idem = NULL;
    eg_settings_kafka_prop(s, "enable.idempotence", &idem);
    int user_idem = idem && strcmp(idem, "false") && strcmp(idem, "0");
    snprintf(cid, sizeof cid, "eg-invoker-reply-%s", s->instance_id ? s->instance_id : "");
    const eg_kafka_prop_t rows[] = {
        EG_KAFKA_DEFAULT("client.id", cid),
        EG_KAFKA_DEFAULT("socket.nagle.disable", "true"),
        EG_KAFKA_DEFAULT("message.timeout.ms", "10000"),
        EG_KAFKA_DEFAULT("message.max.bytes", REPLY_MAX_BYTES),
        EG_KAFKA_DEFAULT("enable.idempotence", user_idem ? NULL : "false"),
        EG_KAFKA_DEFAULT("acks", user_idem ? NULL : "1"),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_PRODUCER,
                                  .name = "reply producer",
                                  .profile = EG_KAFKA_SYNC_PRODUCER,
                                  .props = rows,
                                  .opaque = r,
                                  .dr_msg_cb = eg_replies_on_delivery};
    return eg_kafka_client_new(s, r->rt->brokers, &spec, err, errlen);
}

static void ensure_topic(eg_invoker_t *r, const char *topic)
{
    char err[512];
    if (eg_runtime_ensure_topic(r->rt, r->producer ? r->producer : r->replier, topic,
                                TOPIC_TIMEOUT_MS, err, sizeof err))
        EG_LOG_WARN(COMP, "%s (going on: consuming starts once the topic exists)", err);
}

/* An engine for the sync, async or overflow invocation topic of the pool,
 * its thread started. NULL with a message in err. */
static eg_invoker_t *engine_start(eg_runtime_t *rt, eg_netpolicy_t *policy, engine_kind_t kind,
                                  char *err, size_t errlen)
{
    eg_invoker_t *r = eg_xcalloc(1, sizeof *r);
    r->rt = rt;
    r->policy = policy;
    r->s = rt->settings;
    r->pipefd[0] = r->pipefd[1] = r->epfd = -1;
    r->curl_due = -1;
    eg__timer_heap_init(&r->timers);
    atomic_init(&r->stop, 0);
    const char *prefix = r->s->topic_prefix ? r->s->topic_prefix : "eg.";
    const char *pool = r->s->pool && *r->s->pool ? r->s->pool : "default";
    static const char *const group_suffix[] = {".sync", "", ".overflow"};
    static const eg_invoke_kind_t topic_kind[] = {EG_INVOKE_SYNC, EG_INVOKE_ASYNC,
                                                  EG_INVOKE_OVERFLOW};
    int sync = kind == ENG_SYNC;
    src_t *in = &r->in;
    in->r = r;
    in->sync = sync;
    r->kind = kind;
    eg_topics_invoke(in->topic, sizeof in->topic, prefix, pool, topic_kind[kind]);
    snprintf(in->group, sizeof in->group, "%sinvoker.%s%s", prefix, pool, group_suffix[kind]);
    eg_topics_invoke(r->overflow_topic, sizeof r->overflow_topic, prefix, pool, EG_INVOKE_OVERFLOW);
    r->rng = (uint64_t)eg_time_now_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() ^ (uintptr_t)r;
    if (!r->rng)
        r->rng = 1;

    if (pipe2(r->pipefd, O_NONBLOCK | O_CLOEXEC)) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    r->doneq = eg_xcalloc(1, sizeof *r->doneq);
    pthread_mutex_init(&r->doneq->mu, NULL);
    r->doneq->refs = 1; /* the engine's */
    r->doneq->wake_fd = r->pipefd[1];
    struct epoll_event pev = {.events = EPOLLIN, .data.fd = r->pipefd[0]};
    if ((r->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->pipefd[0], &pev)) {
        snprintf(err, errlen, "epoll: %s", strerror(errno));
        goto fail;
    }
    if (r->rt->embedded->dedupe_fan_outs) {
        r->seen = eg_map_new();
        r->seen_ring = eg_xcalloc(SEEN_MAX, sizeof *r->seen_ring);
    }
    if (kind == ENG_ASYNC && r->s->max_inflight_per_function > 0)
        r->shares = eg__shares_new();
    if (!(r->multi = curl_multi_init())) {
        snprintf(err, errlen, "libcurl: no multi handle");
        goto fail;
    }
    /* Keep a finished call's connection for the next call rather than
     * closing it: the cache must hold as many connections as calls run at
     * once, or a busy invoker reconnects for most calls. */
    curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, (long)r->s->max_inflight);
    curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, eg_engine_on_curl_socket);
    curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r);
    curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, eg_engine_on_curl_timer);
    curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r);
    if (sync ? !(r->replier = make_replier(r, err, errlen))
             : !(r->producer = make_producer(r, err, errlen)))
        goto fail;
    if (!(in->consumer = make_consumer(r, in, err, errlen)))
        goto fail;
    ensure_topic(r, in->topic);
    eg_backlog_watch(rt->backlog, in->topic);
    if (kind == ENG_ASYNC)
        ensure_topic(r, r->overflow_topic); /* written here before its engine may run */
    if (!sync && !r->rt->mock)
        ensure_topic(r, r->rt->topics.dlq);

    static const char one = 1;
    in->cq = rd_kafka_queue_get_consumer(in->consumer);
    rd_kafka_queue_io_event_enable(in->cq, r->pipefd[1], &one, 1);
    if (r->producer) {
        r->pq = rd_kafka_queue_get_main(r->producer);
        rd_kafka_queue_io_event_enable(r->pq, r->pipefd[1], &one, 1);
    }
    if (r->replier) {
        r->rq = rd_kafka_queue_get_main(r->replier);
        rd_kafka_queue_io_event_enable(r->rq, r->pipefd[1], &one, 1);
    }

    if (pthread_create(&r->thread, NULL, eg_engine_loop, r)) {
        snprintf(err, errlen, "cannot start the invoker thread");
        goto fail;
    }
    r->thread_started = 1;
    r->waker = r->in.doze.probe_ms && eg_runtime_add_waker(rt, eg_engine_on_wake, r) == 0;
    return r;
fail:
    engine_free(r);
    return NULL;
}

/* The role: the sync, async and overflow engines, each on its own thread
 * (indexed by engine_kind_t). */
typedef struct invoker_role {
    eg_invoker_t *engines[3];
    eg_netpolicy_t *policy;
} invoker_role_t;

static void engines_stop(invoker_role_t *ro)
{
    eg_invoker_t **e = ro->engines;
    /* All drain at once. */
    for (int k = 0; k < 3; k++)
        if (e[k] && e[k]->thread_started) {
            atomic_store(&e[k]->stop, 1);
            eg_engine_wake(e[k]);
        }
    for (int k = 0; k < 3; k++)
        if (e[k] && e[k]->thread_started)
            pthread_join(e[k]->thread, NULL);
    for (int k = 0; k < 3; k++)
        engine_free(e[k]);
    eg_netpolicy_free(ro->policy);
    free(ro);
    eg_provider_shutdown_all();
    curl_global_cleanup();
}

static void *invoker_start(eg_runtime_t *rt, char *err, size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        snprintf(err, errlen, "libcurl initialisation failed");
        return NULL;
    }
    invoker_role_t *ro = eg_xcalloc(1, sizeof *ro);
    if (!(ro->policy = eg_netpolicy_new(rt->settings, err, errlen))) {
        engines_stop(ro);
        return NULL;
    }
    /* The overflow engine runs even with no share set: records an earlier
     * run moved there are delivered. */
    for (engine_kind_t k = ENG_SYNC; k <= ENG_OVERFLOW; k++)
        if (!(ro->engines[k] = engine_start(rt, ro->policy, k, err, errlen))) {
            engines_stop(ro);
            return NULL;
        }
    return ro;
}

static void invoker_stop(void *p)
{
    if (!p)
        return;
    engines_stop(p);
    EG_LOG_INFO(COMP, "invoker stopped");
}

const eg_role_ops_t eg_invoker_role = {"invoker", invoker_start, invoker_stop};
