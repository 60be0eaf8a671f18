/*
 * sync.c: waiting for sync replies.
 *
 * Each ingress instance reads only its own reply topic,
 * <prefix>replies.<instance> (--reply-partitions; every partition it has,
 * whatever their number), from the offsets that were its end when the
 * process started: replies to an earlier process of the same name are of no
 * use, since its clients' connections died with it. Invokers spread replies
 * over the partitions by correlation id (the record's key). Why several: the
 * embedded broker answers a fetch with one batch per partition, and walks a
 * partition's list of batches from its start to find the one asked for, so
 * on one partition the replies of many concurrent requests would queue
 * behind each other, for most of their round trip.
 *
 * A waiter registers a correlation id, a deadline and a callback; exactly one
 * of two things then happens, on this module's thread: the reply with that
 * correlation id arrives (callback with the reply), or the deadline passes
 * (callback with NULL). A reply for an id nobody waits for (its request
 * timed out, or it belongs to no one) is dropped. Every wait uses the same
 * timeout, so waiters sit in a FIFO ordered by deadline and only its head is
 * ever checked. eg_sync_cancel takes a waiter back (its callback is then
 * never called).
 *
 * Cost: on the embedded broker a reply arrives within a hop only if the
 * consumer fetches often (fetch.wait.max.ms), which costs CPU even when
 * nothing happens. Replies are only ever expected while someone waits, so
 * the partition is unassigned after a second without waiters and assigned
 * again, at the offset after the last record read, by the next wait (long
 * before its reply can exist: the event first goes through the router and
 * an invoker). Unassign, not pause: in librdkafka 2.0.2 a consumer with a
 * paused partition can hang in rd_kafka_destroy. Two consumers take turns
 * (assign_reply): while a few requests wait, one at --reply-fetch-wait-ms
 * (0 on the embedded broker: it spins, a hop of ~0.1 ms instead of ~1);
 * while many wait, replies come often anyway and a spinning consumer would
 * take a core from the rest of the path, so one at --sync-fetch-wait-ms
 * (1 ms). Against a real cluster both are 100 ms and one consumer does.
 *
 * Thread: one, polling the reply consumer with a short timeout; the table is
 * guarded by a mutex, which callbacks are NOT called under.
 */
#include "ingress.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eg_alloc.h"
#include "eg_kafka_hdr.h"
#include "eg_log.h"
#include "eg_kafka_client.h"
#include "eg_map.h"
#include "eg_time.h"

typedef struct waiter {
    char id[EG_SYNC_ID_LEN];
    int64_t deadline_ms; /* monotonic */
    eg_sync_cb_t cb;
    void *arg;
    struct waiter *prev, *next; /* the FIFO */
} waiter_t;

struct eg_sync {
    eg_runtime_t *rt;
    char topic[512];
    char prefix[34]; /* of correlation ids: unique to this process */
    atomic_uint_fast64_t seq;
    rd_kafka_t *consumer; /* fetch.wait.max.ms --reply-fetch-wait-ms: few waiters */
    rd_kafka_t *steady;   /* --sync-fetch-wait-ms: many waiters; NULL when not slower */
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    eg_reply_topics_t *topics; /* heartbeats and reaping (real clusters) */

    pthread_mutex_t mu;
    eg_map_t *waiters; /* id -> waiter_t* */
    waiter_t *head, *tail;
    int active;           /* who has the partition: 0 nobody (no waiters), 1 consumer,
                             2 steady */
    size_t nwait;         /* waiters */
    int64_t last_wait_ms; /* when the last waiter was seen */
    rd_kafka_topic_partition_list_t *part; /* every partition, at the offset to read next */
};

#define PAUSE_AFTER_MS 1000
#define FAST_MAX 4      /* more waiters than this: the steady consumer fetches */
#define FAST_BACK 2     /* ... until they are this few again */
#define POLL_IDLE_MS 20 /* wait of the reply thread while nobody waits */

static void unlink_waiter(eg_sync_t *s, waiter_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        s->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        s->tail = w->prev;
    eg_map_del(s->waiters, w->id);
    s->nwait--;
}

static void on_reply(eg_sync_t *s, const rd_kafka_message_t *m)
{
    eg_reply_t r;
    if (eg_reply_decode(m->payload, m->len, &r)) {
        EG_LOG_WARN("sync", "ignoring a malformed reply at %s@%" PRId64, s->topic, m->offset);
        return;
    }
    pthread_mutex_lock(&s->mu);
    waiter_t *w = eg_map_get(s->waiters, r.correlation);
    if (w)
        unlink_waiter(s, w);
    pthread_mutex_unlock(&s->mu);
    if (w) {
        w->cb(w->arg, &r);
        free(w);
    } else if (*r.correlation) {
        EG_LOG_DEBUG("sync", "reply %s came after its request timed out: dropped", r.correlation);
    }
    eg_reply_release(&r);
}

static void expire(eg_sync_t *s, int64_t now)
{
    for (;;) {
        pthread_mutex_lock(&s->mu);
        waiter_t *w = s->head;
        if (w && w->deadline_ms <= now)
            unlink_waiter(s, w);
        else
            w = NULL;
        pthread_mutex_unlock(&s->mu);
        if (!w)
            return;
        w->cb(w->arg, NULL);
        free(w);
    }
}

static rd_kafka_t *handle(eg_sync_t *s, int who)
{
    return who == 2 ? s->steady : s->consumer;
}

/* Gives the partition to the consumer that should fetch it now (called
 * under s->mu): nobody after a second without waiters; the fast one (at
 * --reply-fetch-wait-ms, 0 on the embedded broker: it spins) while few
 * wait; the steady one (at --sync-fetch-wait-ms) while many wait, when
 * replies come often anyway and a spinning consumer would take a core from
 * the rest of the path. The new owner starts after the last reply read. */
static void assign_reply(eg_sync_t *s, int64_t now)
{
    int want = s->active;
    if (s->head) {
        s->last_wait_ms = now;
        if (!s->steady || s->nwait <= FAST_BACK || (s->active != 2 && s->nwait <= FAST_MAX))
            want = 1;
        else
            want = 2;
    } else if (now - s->last_wait_ms >= PAUSE_AFTER_MS) {
        want = 0;
    }
    if (want == s->active)
        return;
    if (s->active && rd_kafka_assign(handle(s, s->active), NULL))
        return;
    s->active = 0;
    if (want && !rd_kafka_assign(handle(s, want), s->part))
        s->active = want;
}

static void *sync_main(void *arg)
{
    eg_sync_t *s = arg;
    while (!atomic_load(&s->stop)) {
        /* A reply wakes it at once; deadlines are checked every 5 ms while
         * someone waits, and a first waiter's deadline is at least
         * --sync-timeout-ms away: nobody waits, no need to wake often. */
        int wait = 5;
        pthread_mutex_lock(&s->mu);
        assign_reply(s, eg_time_mono_ms());
        if (!s->head)
            wait = POLL_IDLE_MS;
        rd_kafka_t *c = handle(s, s->active);
        pthread_mutex_unlock(&s->mu);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, (int)wait);
        if (m) {
            if (!m->err && m->partition >= 0 && m->partition < s->part->cnt) {
                rd_kafka_topic_partition_t *tp = &s->part->elems[m->partition];
                pthread_mutex_lock(&s->mu);
                if (m->offset + 1 > tp->offset)
                    tp->offset = m->offset + 1; /* where to start again */
                pthread_mutex_unlock(&s->mu);
            }
            if (!m->err)
                on_reply(s, m);
            else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                EG_LOG_WARN("sync", "%s: %s", s->topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        }
        expire(s, eg_time_mono_ms());
    }
    return NULL;
}

/* The reply topic must exist before anyone reads or writes it: created with
 * the Admin API and the reply topics' bounds (reply_topics.c), or on the
 * embedded broker directly; a broker that answers neither (another
 * process's embedded broker) creates it on a first record, which has no
 * correlation id and is ignored. */
static int make_topic(eg_sync_t *s, char *err, size_t errlen)
{
    if (eg_reply_topic_create(s->rt, s->consumer, s->topic, err, errlen) == 0)
        return 0;
    if (s->rt->mock)
        return -1;
    EG_LOG_INFO("sync", "%s: %s; creating it with a first record", s->topic, err);
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_PRODUCER, .name = "reply topic producer"};
    rd_kafka_t *p = eg_kafka_client_new(s->rt->settings, s->rt->brokers, &spec, err, errlen);
    if (!p) {
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "reply topic %s cannot be created: %s", s->topic, why);
        return -1;
    }
    eg_reply_t r = {.correlation = "", .ok = 0};
    char *v = eg_reply_encode(&r);
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC(s->topic), RD_KAFKA_V_PARTITION(0),
                      RD_KAFKA_V_VALUE(v, v ? strlen(v) : 0),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    free(v);
    int left = rd_kafka_flush(p, 5000) ? 1 : rd_kafka_outq_len(p);
    rd_kafka_destroy(p);
    if (left) {
        snprintf(err, errlen, "reply topic %s cannot be created", s->topic);
        return -1;
    }
    return 0;
}

static rd_kafka_t *reply_consumer(eg_sync_t *s, int wait_ms, char *err, size_t errlen);

/* Every partition the reply topic has (it may predate --reply-partitions, or
 * have the broker's default count when a first record created it), each at
 * its end. */
static rd_kafka_topic_partition_list_t *reply_partitions(eg_sync_t *s, char *err, size_t errlen)
{
    int n = eg_kafka_partition_count(s->consumer, s->topic, 10000, err, errlen);
    if (n == 0)
        snprintf(err, errlen, "reply topic %s has no partitions", s->topic);
    if (n <= 0)
        return NULL;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = eg_kafka_watermarks(s->consumer, s->topic, i, &lo, &hi, 10000);
        if (e) {
            snprintf(err, errlen, "reading the end of %s [%d]: %s", s->topic, i,
                     rd_kafka_err2str(e));
            rd_kafka_topic_partition_list_destroy(parts);
            return NULL;
        }
        rd_kafka_topic_partition_list_add(parts, s->topic, i)->offset = hi;
    }
    return parts;
}

eg_sync_t *eg_sync_new(eg_runtime_t *rt, char *err, size_t errlen)
{
    const eg_settings_t *st = rt->settings;
    eg_sync_t *s = eg_xcalloc(1, sizeof *s);
    s->rt = rt;
    pthread_mutex_init(&s->mu, NULL);
    snprintf(s->topic, sizeof s->topic, "%sreplies.%s", st->topic_prefix,
             eg_configlog_instance(rt->config));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(s->prefix, sizeof s->prefix, "%lx%lx", (unsigned long)ts.tv_sec,
             (unsigned long)ts.tv_nsec);
    s->waiters = eg_map_new();
    int fast_ms = eg_embedded_auto(st->reply_fetch_wait_ms, rt->embedded->reply_fetch_wait_ms);
    int steady_ms = eg_embedded_auto(st->sync_fetch_wait_ms, rt->embedded->sync_fetch_wait_ms);
    if (!(s->consumer = reply_consumer(s, fast_ms, err, errlen)) ||
        (steady_ms > fast_ms && !(s->steady = reply_consumer(s, steady_ms, err, errlen))))
        goto fail;
    if (make_topic(s, err, errlen))
        goto fail;
    if (!(s->part = reply_partitions(s, err, errlen)))
        goto fail;
    rd_kafka_resp_err_t e = rd_kafka_assign(s->consumer, s->part);
    s->active = 1;
    s->last_wait_ms = eg_time_mono_ms();
    if (e) {
        snprintf(err, errlen, "assigning %s: %s", s->topic, rd_kafka_err2str(e));
        goto fail;
    }
    if (pthread_create(&s->thread, NULL, sync_main, s)) {
        snprintf(err, errlen, "cannot start the reply thread");
        goto fail;
    }
    s->thread_started = 1;
    if (rt->embedded->reap_reply_topics &&
        !(s->topics = eg_reply_topics_new(rt, s->topic, err, errlen)))
        goto fail;
    EG_LOG_INFO("sync", "sync replies come back on %s", s->topic);
    return s;
fail:
    eg_sync_free(s);
    return NULL;
}

/* One reply consumer: assign() only, fetching with fetch.wait.max.ms = wait_ms. */
static rd_kafka_t *reply_consumer(eg_sync_t *s, int wait_ms, char *err, size_t errlen)
{
    const eg_settings_t *st = s->rt->settings;
    char wait[16];
    snprintf(wait, sizeof wait, "%d", wait_ms);
    const eg_kafka_prop_t rows[] = {
        EG_KAFKA_FIXED("enable.partition.eof", "false"),
        /* The embedded broker answers a fetch only when this runs out, so
         * it is the hop's latency there (see assign_reply). A real broker
         * answers as soon as the reply arrives: there it only bounds how
         * often an assigned partition is fetched (100 ms by default). */
        EG_KAFKA_DEFAULT("fetch.wait.max.ms", wait),
        EG_KAFKA_DEFAULT("fetch.error.backoff.ms", "10"),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_CONSUMER,
                                  .name = "reply consumer",
                                  .profile = EG_KAFKA_READER,
                                  .group = "eg-replies", /* assign() wants one; nothing committed */
                                  .props = rows};
    return eg_kafka_client_new(st, s->rt->brokers, &spec, err, errlen);
}

const char *eg_sync_reply_topic(const eg_sync_t *s)
{
    return s->topic;
}

void eg_sync_wait(eg_sync_t *s, int timeout_ms, eg_sync_cb_t cb, void *arg, char id[EG_SYNC_ID_LEN])
{
    waiter_t *w = eg_xcalloc(1, sizeof *w);
    snprintf(w->id, sizeof w->id, "%s-%" PRIuFAST64, s->prefix, atomic_fetch_add(&s->seq, 1));
    w->deadline_ms = eg_time_mono_ms() + timeout_ms;
    w->cb = cb;
    w->arg = arg;
    pthread_mutex_lock(&s->mu);
    eg_map_put(s->waiters, w->id, w, NULL);
    s->nwait++;
    /* deadlines only grow when timeouts are equal; keep the FIFO sorted */
    waiter_t *after = s->tail;
    while (after && after->deadline_ms > w->deadline_ms)
        after = after->prev;
    w->prev = after;
    w->next = after ? after->next : s->head;
    if (w->next)
        w->next->prev = w;
    else
        s->tail = w;
    if (after)
        after->next = w;
    else
        s->head = w;
    assign_reply(s, eg_time_mono_ms()); /* a first waiter: fetch again */
    pthread_mutex_unlock(&s->mu);
    memcpy(id, w->id, EG_SYNC_ID_LEN);
}

int eg_sync_cancel(eg_sync_t *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    waiter_t *w = eg_map_get(s->waiters, id);
    if (w)
        unlink_waiter(s, w);
    pthread_mutex_unlock(&s->mu);
    free(w);
    return w != NULL;
}

void eg_sync_free(eg_sync_t *s)
{
    if (!s)
        return;
    eg_reply_topics_free(s->topics);
    atomic_store(&s->stop, 1);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    /* Whoever still waits is told "no answer" now. */
    while (s->head) {
        waiter_t *w = s->head;
        unlink_waiter(s, w);
        w->cb(w->arg, NULL);
        free(w);
    }
    /* It commits nothing and joined no group: there is no group to leave. */
    rd_kafka_t *cs[2] = {s->consumer, s->steady};
    for (int i = 0; i < 2; i++)
        if (cs[i]) {
            rd_kafka_assign(cs[i], NULL);
            rd_kafka_destroy_flags(cs[i], RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        }
    eg_map_free(s->waiters);
    if (s->part)
        rd_kafka_topic_partition_list_destroy(s->part);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
