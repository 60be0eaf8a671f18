/*
 * replayer.c: runs replays.
 *
 * The replays topic (<prefix>replays, eg_replay.h) holds one record per
 * replay. Every router with --run-replays (the default) joins consumer group
 * <prefix>replayer on it, so each partition of the topic, and with it each
 * replay, belongs to exactly one router at a time; when that router stops or
 * dies, the partition and its running replays move to another one.
 *
 * On being assigned a partition the replayer reads it from the beginning (no
 * offsets are committed: the compacted topic is the state) into its table,
 * and once it has reached the partition's end it starts the partition's
 * running replays, one at a time, oldest first. A replay:
 *
 *  1. opens an eg_window on the events topic: the window's first offset per
 *     partition (offsets-for-times, or a scan by timestamp on the embedded
 *     broker) and the high watermark as the end, or, when the replay was
 *     already running elsewhere, the positions its last record saved;
 *  2. matches every record of the window against its one subscription with
 *     the router's matching (eg_route), and writes each match as an async
 *     invocation record, with the extension replayid and eg-source
 *     "<topic>/<partition>/<offset>/replay/<replayId>", to the invocation
 *     topic of the function's pool: invokers deliver it like any other
 *     (retries, dead letters);
 *  3. about every second flushes its producer and saves its counters and
 *     positions to the replays topic, so a replay that moves to another
 *     router resumes where the last save stood (at least once: what was
 *     delivered after it is delivered again). Positions are saved only when
 *     every invocation written since the last save is in Kafka: when one
 *     was refused (its delivery report failed), or a pool's topic cannot be
 *     created, the run goes back to its last save and starts again from
 *     there after a second, rather than skip what it read;
 *  4. ends with a record "done" (or "failed": the subscription was deleted),
 *     or stops when it reads a "cancelled" record (DELETE on the Config API)
 *     and writes its final counts under that status.
 *
 * --replay-max-rate N bounds the invocations a replay writes per second.
 *
 * Thread: one, the replayer's own; it owns the group consumer, the window's
 * consumer and the producer. The rebalance callback runs on it too (inside
 * rd_kafka_consumer_poll), and once more from eg_replayer_stop's
 * consumer_close after the thread has ended and the run has been saved.
 * Stopping joins the thread before anything it uses is destroyed.
 */
#include "replayer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_event_attr.h"
#include "eg_kafka_client.h"
#include "eg_kafka_hdr.h"
#include "eg_log.h"
#include "eg_replay.h"
#include "eg_route.h"
#include "eg_time.h"
#include "eg_window.h"
#include "pools.h"

#define SAVE_EVERY_MS 1000
#define STEP_RECORDS 500
#define STEP_MS 50
#define RETRY_MS 1000
#define FLUSH_MS 10000
#define MAX_OWNED 4096

typedef struct owned {
    int32_t partition;
    int caught_up; /* read to its end since it was assigned */
} owned_t;

typedef struct run {
    int active;
    eg_replay_t r;     /* our copy: counters and positions move here */
    eg_replay_t saved; /* as last saved (or as the run began): where a rewind goes */
    int32_t partition; /* of the replays topic, where its records go */
    eg_window_t *w;
    int64_t started_ms, saved_ms; /* monotonic */
    int64_t delivered_here;       /* by this run, for the rate limit */
} run_t;

struct eg_replayer {
    eg_runtime_t *rt;
    eg_cesql_scratch_t *cesql; /* the filters' scratch space */
    rd_kafka_t *consumer;      /* group <prefix>replayer on the replays topic */
    int ever_assigned;         /* an assignment (even an empty one) came */
    rd_kafka_t *producer;      /* idempotent: invocations and replay records */
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    eg_replay_table_t *table;
    owned_t owned[MAX_OWNED];
    size_t nowned;
    run_t run;
    int64_t retry_at;  /* monotonic: no new run before */
    int lost;          /* invocations Kafka refused since the last save */
    eg_pools_t *pools; /* the pools' invocation topics, made sure of as the router does */
};

/* Marks the invocation records among the producer's delivery reports. */
static char invocation_mark;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    eg_replayer_t *rp = opaque;
    if (m->err && m->_private == &invocation_mark) {
        if (!rp->lost++)
            EG_LOG_WARN("replayer",
                        "an invocation to %s was not stored: %s (the replay goes back "
                        "to its last save)",
                        rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    }
}

/* Goes back to the last save: the run stops without saving, and starts
 * again from the saved positions after RETRY_MS (what was delivered since
 * is delivered again: at least once). */
static void run_rewind(eg_replayer_t *rp, const char *why)
{
    run_t *run = &rp->run;
    EG_LOG_WARN("replayer", "replay %s/%s: %s; going back to its last save", run->r.space,
                run->r.id, why);
    rd_kafka_purge(rp->producer, RD_KAFKA_PURGE_F_QUEUE);
    rd_kafka_flush(rp->producer, FLUSH_MS);
    eg_replay_table_apply(rp->table, &run->saved, run->partition);
    eg_window_close(run->w);
    eg_replay_release(&run->r);
    eg_replay_release(&run->saved);
    memset(run, 0, sizeof *run);
    rp->lost = 0;
    rp->retry_at = eg_time_mono_ms() + RETRY_MS;
}

/* ---- replay records ---- */

static void save(eg_replayer_t *rp, run_t *run)
{
    if (run->w) {
        size_t n = eg_window_positions(run->w, NULL, 0);
        if (n) {
            eg_replay_part_t *parts = eg_xcalloc(n, sizeof *parts);
            eg_window_positions(run->w, parts, n);
            free(run->r.parts);
            run->r.parts = parts;
            run->r.nparts = n;
        }
    }
    /* Positions may be saved only once what was read before them is in
     * Kafka: the invocations first. */
    if (rd_kafka_flush(rp->producer, FLUSH_MS)) {
        EG_LOG_WARN("replayer",
                    "replay %s/%s: invocations not yet acknowledged; progress not saved",
                    run->r.space, run->r.id);
        return;
    }
    if (rp->lost) {
        char why[64];
        snprintf(why, sizeof why, "%d invocation(s) not stored", rp->lost);
        run_rewind(rp, why);
        return;
    }
    run->r.updated_ms = eg_time_now_ms();
    char key[EG_MAX_NAME + EG_REPLAY_ID_MAX + 4];
    char *v = eg_replay_encode(&run->r);
    if (v && !eg_replay_key(&run->r, key, sizeof key)) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(rp->producer, RD_KAFKA_V_TOPIC(rp->rt->topics.replays),
                              RD_KAFKA_V_PARTITION(run->partition),
                              RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(v, strlen(v)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e)
            EG_LOG_WARN("replayer", "saving replay %s/%s: %s", run->r.space, run->r.id,
                        rd_kafka_err2str(e));
        eg_replay_t copy;
        if (!e && eg_replay_copy(&copy, &run->r) == 0) {
            eg_replay_release(&run->saved);
            run->saved = copy;
        }
    }
    free(v);
    run->saved_ms = eg_time_mono_ms();
}

/* Ends the run: saves it with `status` (running: it stops here and goes on
 * elsewhere) and forgets it. */
static void run_end(eg_replayer_t *rp, eg_replay_status_t status, const char *error)
{
    run_t *run = &rp->run;
    if (!run->active)
        return;
    run->r.status = status;
    if (error)
        snprintf(run->r.error, sizeof run->r.error, "%s", error);
    save(rp, run);
    rd_kafka_flush(rp->producer, FLUSH_MS);
    /* what we wrote is the newest state, even before it comes back */
    eg_replay_table_apply(rp->table, &run->r, run->partition);
    EG_LOG_INFO("replayer", "replay %s/%s %s: scanned %" PRId64 ", delivered %" PRId64 "%s%s",
                run->r.space, run->r.id,
                status == EG_REPLAY_RUNNING ? "paused here" : eg_replay_status_name(status),
                run->r.scanned, run->r.delivered, error ? ": " : "", error ? error : "");
    eg_window_close(run->w);
    eg_replay_release(&run->r);
    eg_replay_release(&run->saved);
    memset(run, 0, sizeof *run);
}

/* ---- ownership of the replays topic's partitions ---- */

static owned_t *owned_find(eg_replayer_t *rp, int32_t p)
{
    for (size_t i = 0; i < rp->nowned; i++)
        if (rp->owned[i].partition == p)
            return &rp->owned[i];
    return NULL;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    eg_replayer_t *rp = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rp->ever_assigned = 1;
        for (int i = 0; i < parts->cnt; i++) {
            parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING; /* the whole state */
            if (!owned_find(rp, parts->elems[i].partition) && rp->nowned < MAX_OWNED)
                rp->owned[rp->nowned++] = (owned_t){parts->elems[i].partition, 0};
        }
        EG_LOG_INFO("replayer", "assigned %d partition(s) of %s", parts->cnt,
                    rp->rt->topics.replays);
    } else {
        for (int i = 0; i < parts->cnt; i++) {
            int32_t p = parts->elems[i].partition;
            if (rp->run.active && rp->run.partition == p)
                run_end(rp, EG_REPLAY_RUNNING, NULL);
            owned_t *o = owned_find(rp, p);
            if (o)
                *o = rp->owned[--rp->nowned];
        }
        EG_LOG_INFO("replayer", "revoked %d partition(s) of %s", parts->cnt,
                    rp->rt->topics.replays);
    }
    eg_kafka_rebalance_apply(rk, err, parts, "replayer");
}

/* A record of the replays topic. */
static void on_record(eg_replayer_t *rp, const rd_kafka_message_t *m)
{
    eg_replay_t r;
    eg_error_t err = {0};
    if (!m->payload)
        return; /* tombstones concern ended replays only */
    if (eg_replay_decode(m->payload, m->len, &r, &err)) {
        EG_LOG_WARN("replayer", "ignoring record %" PRId32 "@%" PRId64 ": %s", m->partition,
                    m->offset, err.message);
        return;
    }
    run_t *run = &rp->run;
    if (run->active && !strcmp(run->r.space, r.space) && !strcmp(run->r.id, r.id)) {
        /* our own progress comes back; anything else ends the run */
        if (r.status != EG_REPLAY_RUNNING)
            run_end(rp, r.status, r.status == EG_REPLAY_FAILED ? r.error : NULL);
    } else {
        eg_replay_table_apply(rp->table, &r, m->partition);
    }
    eg_replay_release(&r);
}

/* ---- running ---- */

typedef struct pick {
    eg_replayer_t *rp;
    const eg_replay_t *best;
    int32_t partition;
} pick_t;

static int pick_one(void *arg, const eg_replay_t *r, int32_t partition)
{
    pick_t *p = arg;
    owned_t *o = owned_find(p->rp, partition);
    if (r->status == EG_REPLAY_RUNNING && o && o->caught_up &&
        (!p->best || r->created_ms < p->best->created_ms)) {
        p->best = r;
        p->partition = partition;
    }
    return 0;
}

static void run_start(eg_replayer_t *rp)
{
    /* Not before this process's configuration holds what the log held when
     * it started: the replay's subscription would look deleted. */
    if (!eg_configlog_ready(rp->rt->config))
        return;
    pick_t p = {rp, NULL, 0};
    eg_replay_table_each(rp->table, pick_one, &p);
    if (!p.best)
        return;
    run_t *run = &rp->run;
    memset(run, 0, sizeof *run);
    if (eg_replay_copy(&run->r, p.best))
        return;
    if (eg_replay_copy(&run->saved, p.best)) {
        eg_replay_release(&run->r);
        return;
    }
    run->partition = p.partition;
    run->active = 1;
    run->started_ms = run->saved_ms = eg_time_mono_ms();
    char err[512];
    const eg_config_t *cfg = eg_configlog_read_begin(rp->rt->config);
    int exists =
        eg_config_peek(cfg, EG_KIND_SUBSCRIPTION, run->r.space, run->r.subscription) != NULL;
    eg_configlog_read_end(rp->rt->config);
    if (!exists) {
        run_end(rp, EG_REPLAY_FAILED, "the subscription no longer exists");
        return;
    }
    int resumed = run->r.nparts > 0;
    run->w =
        eg_window_open(rp->rt->settings, rp->rt->brokers, rp->rt->topics.events, run->r.from_ms,
                       run->r.to_ms, run->r.parts, run->r.nparts, 5000, err, sizeof err);
    if (!run->w) {
        EG_LOG_WARN("replayer", "replay %s/%s: %s; trying again", run->r.space, run->r.id, err);
        eg_replay_release(&run->r);
        eg_replay_release(&run->saved);
        memset(run, 0, sizeof *run);
        rp->retry_at = eg_time_mono_ms() + RETRY_MS;
        return;
    }
    EG_LOG_INFO("replayer", "replay %s/%s of subscription %s %s (%s)", run->r.space, run->r.id,
                run->r.subscription, resumed ? "resumed" : "started",
                resumed                       ? "from its saved positions"
                : eg_window_looked_up(run->w) ? "offsets by time"
                                              : "scanning by timestamp");
    if (!resumed)
        save(rp, run); /* fixes the window's ends before anything is delivered */
}

enum { DELIVERED = 0, SUB_GONE = -1, NO_TOPIC = -2 };

/* Re-delivers one matching record: DELIVERED (or nothing to deliver),
 * SUB_GONE when the subscription is gone, NO_TOPIC when the pool's topic
 * cannot be made yet (pools.h; nothing written). */
static int deliver(eg_replayer_t *rp, run_t *run, const rd_kafka_message_t *m)
{
    eg_route_input_t in;
    eg_error_t err = {0};
    if (eg_route_input_read(&in, m, &err))
        return 0; /* not a CloudEvent: the router dead-lettered it */
    char fn[EG_MAX_NAME + 1] = "", pool[EG_MAX_NAME + 1] = "";
    int matched = 0, gone = 0;
    if (!strcmp(in.space, run->r.space)) {
        const eg_sub_t *sub = NULL;
        const eg_config_t *cfg = eg_configlog_read_begin(rp->rt->config);
        gone = !eg_config_peek(cfg, EG_KIND_SUBSCRIPTION, run->r.space, run->r.subscription);
        if (!gone && (matched = eg_route_matches(cfg, &in, run->r.subscription, &sub)) &&
            (sub->filter || sub->filter_bad)) {
            /* the subscription's filters as they are now */
            eg_event_t fev;
            eg_event_attrs_t attrs = {.ev = &fev};
            matched = eg_route_input_event(&in, &fev, &err) == 0;
            if (matched) {
                matched = eg_sub_passes(sub, eg_event_attr, &attrs, rp->cesql);
                eg_event_release(&fev);
            }
        }
        if (matched) {
            snprintf(fn, sizeof fn, "%s", sub->fn);
            snprintf(pool, sizeof pool, "%s", eg_route_pool(cfg, in.space, sub->fn));
        }
        eg_configlog_read_end(rp->rt->config);
    }
    eg_event_t ev;
    char *val = NULL;
    size_t vlen = 0;
    if (matched && eg_route_input_event(&in, &ev, &err) == 0) {
        if (eg_event_set_extension(&ev, "replayid", cJSON_CreateString(run->r.id)) == 0)
            val = eg_event_serialize(&ev, &vlen);
        eg_event_release(&ev);
    }
    int ready = 0;
    const char *topic = val ? eg_pools_topic(rp->pools, pool, 0, &ready) : NULL;
    if (val && !ready) { /* pools.c says why; it tries again, and so does the run */
        free(val);
        eg_route_input_release(&in);
        return NO_TOPIC;
    }
    if (val) {
        char source[600], suffix[EG_REPLAY_ID_MAX + 16];
        snprintf(suffix, sizeof suffix, "/replay/%s", run->r.id);
        eg_route_source(source, sizeof source, m, suffix);
        rd_kafka_headers_t *h =
            eg_route_invocation_headers(&in, source, NULL, run->r.subscription, fn);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rp->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_VALUE(val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(&invocation_mark), RD_KAFKA_V_END);
        if (e) {
            rd_kafka_headers_destroy(h);
            free(val);
            EG_LOG_WARN("replayer", "replay %s/%s: producing to %s: %s", run->r.space, run->r.id,
                        topic, rd_kafka_err2str(e));
            rp->lost++; /* not written: the save goes back instead */
        } else {
            run->r.delivered++;
            run->delivered_here++;
        }
    } else if (matched) {
        EG_LOG_WARN("replayer", "replay %s/%s: event %s skipped: %s", run->r.space, run->r.id,
                    in.eid, err.message[0] ? err.message : "its replayid could not be set");
    }
    eg_route_input_release(&in);
    return gone ? SUB_GONE : DELIVERED;
}

/* Works on the run for a moment: up to STEP_RECORDS records or STEP_MS.
 * Returns how long the caller may wait before the next step (the rate
 * limit), in ms. */
static int run_step(eg_replayer_t *rp)
{
    run_t *run = &rp->run;
    int rate = rp->rt->settings->replay_max_rate, wait = 0;
    int64_t t0 = eg_time_mono_ms();
    for (int i = 0; i < STEP_RECORDS && run->active; i++) {
        int64_t now = eg_time_mono_ms();
        if (now - t0 >= STEP_MS)
            break;
        if (rate > 0 && run->delivered_here >= (now - run->started_ms) * rate / 1000 + 1) {
            /* the rate limit: the next one waits until its time */
            int64_t due = run->started_ms + run->delivered_here * 1000 / rate - now;
            wait = due < 1 ? 1 : due > 100 ? 100 : (int)due;
            break;
        }
        int done = 0;
        rd_kafka_message_t *m = eg_window_next(run->w, 10, &done);
        if (done) {
            run_end(rp, EG_REPLAY_DONE, NULL);
            return 0;
        }
        if (!m)
            break;
        run->r.scanned++;
        int rc = deliver(rp, run, m);
        rd_kafka_message_destroy(m);
        if (rc == SUB_GONE) {
            run_end(rp, EG_REPLAY_FAILED, "the subscription was deleted during the replay");
            return 0;
        }
        if (rc == NO_TOPIC) {
            run_rewind(rp, "a pool's invocation topic cannot be made");
            return 0;
        }
    }
    if (run->active && eg_time_mono_ms() - run->saved_ms >= SAVE_EVERY_MS)
        save(rp, run);
    return wait;
}

static void *replayer_main(void *arg)
{
    eg_replayer_t *rp = arg;
    int wait = 0;
    /* A replay resumed before the configuration is read would find its
     * subscription missing and end as failed. */
    while (!atomic_load(&rp->stop) && eg_configlog_wait_ready(rp->rt->config, 200))
        ;
    while (!atomic_load(&rp->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rp->consumer, rp->run.active ? wait : 100);
        for (int i = 0; m && i < 100; i++) {
            if (!m->err) {
                on_record(rp, m);
            } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                owned_t *o = owned_find(rp, m->partition);
                if (o)
                    o->caught_up = 1;
            } else {
                EG_LOG_WARN("replayer", "%s: %s", rp->rt->topics.replays,
                            rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            m = i + 1 < 100 ? rd_kafka_consumer_poll(rp->consumer, 0) : NULL;
        }
        if (m)
            rd_kafka_message_destroy(m);
        rd_kafka_poll(rp->producer, 0);
        eg_pools_retry(rp->pools); /* a topic that could not be made is tried again */
        if (!rp->run.active && eg_time_mono_ms() >= rp->retry_at)
            run_start(rp);
        wait = rp->run.active ? run_step(rp) : 0;
    }
    run_end(rp, EG_REPLAY_RUNNING, NULL); /* saved: another router goes on */
    return NULL;
}

void eg_replayer_stop(eg_replayer_t *rp)
{
    if (!rp)
        return;
    atomic_store(&rp->stop, 1);
    if (rp->thread_started)
        pthread_join(rp->thread, NULL);
    if (rp->consumer) {
        eg_kafka_consumer_leave(rp->consumer, EG_KAFKA_LEAVE_MS);
        eg_kafka_consumer_destroy(rp->consumer, rp->ever_assigned);
    }
    if (rp->producer) {
        rd_kafka_flush(rp->producer, 5000);
        rd_kafka_destroy(rp->producer);
    }
    eg_replay_table_free(rp->table);
    eg_pools_free(rp->pools);
    eg_cesql_scratch_free(rp->cesql);
    free(rp);
}

eg_replayer_t *eg_replayer_start(eg_runtime_t *rt, char *err, size_t errlen)
{
    const eg_settings_t *s = rt->settings;
    eg_replayer_t *rp = eg_xcalloc(1, sizeof *rp);
    rp->cesql = eg_cesql_scratch_new();
    char group[300];
    rp->rt = rt;
    rp->table = eg_replay_table_new();
    snprintf(group, sizeof group, "%sreplayer", s->topic_prefix);
    static const eg_kafka_prop_t cprops[] = {
        /* the end of the replays topic: the whole state is read */
        EG_KAFKA_FIXED("enable.partition.eof", "true"),
        EG_KAFKA_DEFAULT("fetch.wait.max.ms", "20"),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t cspec = {.type = RD_KAFKA_CONSUMER,
                                   .name = "replayer consumer",
                                   .profile = EG_KAFKA_GROUP_CONSUMER,
                                   .group = group,
                                   .props = cprops,
                                   .opaque = rp,
                                   .rebalance_cb = on_rebalance};
    if (!(rp->consumer = eg_kafka_client_new(s, rt->brokers, &cspec, err, errlen)))
        goto fail;
    const eg_kafka_spec_t pspec = {.type = RD_KAFKA_PRODUCER,
                                   .name = "replayer producer",
                                   .profile = EG_KAFKA_RELIABLE_PRODUCER,
                                   .opaque = rp,
                                   .dr_msg_cb = on_delivery};
    if (!(rp->producer = eg_kafka_client_new(s, rt->brokers, &pspec, err, errlen)))
        goto fail;
    rp->pools = eg_pools_new(rt, rp->producer);
    if (eg_kafka_subscribe_one(rp->consumer, rt->topics.replays, err, errlen))
        goto fail;
    if (pthread_create(&rp->thread, NULL, replayer_main, rp)) {
        snprintf(err, errlen, "cannot start the replayer thread");
        goto fail;
    }
    rp->thread_started = 1;
    EG_LOG_INFO("replayer", "running replays of %s (group %s, at most %d events/s)",
                rt->topics.replays, group, s->replay_max_rate);
    return rp;
fail:
    eg_replayer_stop(rp);
    return NULL;
}
