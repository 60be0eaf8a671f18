/*
 * The invocation topics of the pools; see pools.h. A map from "a:<pool>" or
 * "s:<pool>" to the topic's state; one Admin API request at a time, on the
 * router's thread.
 */
#include "pools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_log.h"
#include "eg_map.h"
#include "eg_time.h"

#define CREATE_TIMEOUT_MS 5000 /* longest wait for a topic's creation */
#define RETRY_FIRST_MS 2000
#define RETRY_MAX_MS 30000

typedef struct topic {
    char name[512];
    char pool[EG_MAX_NAME + 1];
    int sync;
    int ready;
    int64_t retry_at; /* not ready: when to try again */
    int retry_ms;     /* the interval after that */
    char why[512];    /* not ready: the last error */
} topic_t;

struct eg_pools {
    eg_runtime_t *rt;
    rd_kafka_t *admin;
    eg_map_t *topics; /* key -> topic_t */
    int unready;
    eg_metric_t *unavailable;
};

eg_pools_t *eg_pools_new(eg_runtime_t *rt, rd_kafka_t *admin)
{
    eg_pools_t *p = eg_xcalloc(1, sizeof *p);
    p->topics = eg_map_new();
    p->rt = rt;
    p->admin = admin;
    p->unavailable = eg_metrics_family(
        rt->metrics, "eventgateway_invocation_topic_unavailable",
        "1 while a pool's invocation topic cannot be created: the router holds that pool's events "
        "in the events topic (it routes the others) and tries again.",
        EG_METRIC_GAUGE, (const char *const[]){"pool", "kind", NULL}, NULL, 0);
    return p;
}

void eg_pools_free(eg_pools_t *p)
{
    if (!p)
        return;
    eg_map_free_with(p->topics, free);
    free(p);
}

/* Creates the topic if it does not exist; updates its state. */
static void ensure(eg_pools_t *p, topic_t *t)
{
    char err[512];
    int was = t->ready;
    if (eg_runtime_ensure_topic(p->rt, p->admin, t->name, CREATE_TIMEOUT_MS, err, sizeof err) ==
        0) {
        t->ready = 1;
    } else if (p->rt->embedded->topics_by_first_record) {
        t->ready = 1; /* another process's mock cluster: a first record creates it */
        EG_LOGF(EG_LOG_LEVEL_WARN, "router", ((eg_log_field_t[]){{"pool", t->pool}}), 1,
                "%s (going on: a first record creates it there)", err);
    } else {
        int64_t now = eg_time_mono_ms();
        t->retry_ms = t->retry_ms ? t->retry_ms * 2 : RETRY_FIRST_MS;
        if (t->retry_ms > RETRY_MAX_MS)
            t->retry_ms = RETRY_MAX_MS;
        t->retry_at = now + t->retry_ms;
        if (strcmp(t->why, err))
            EG_LOGF(EG_LOG_LEVEL_WARN, "router", ((eg_log_field_t[]){{"pool", t->pool}}), 1,
                    "pool %s: its invocation topic cannot be created: %s; its events wait in %s "
                    "(the other pools' are routed), trying again in %d s",
                    t->pool, err, p->rt->topics.events, t->retry_ms / 1000);
        snprintf(t->why, sizeof t->why, "%s", err);
        t->ready = 0;
    }
    if (t->ready && !was && t->why[0])
        EG_LOGF(EG_LOG_LEVEL_INFO, "router", ((eg_log_field_t[]){{"pool", t->pool}}), 1,
                "pool %s: its invocation topic %s is ready: routing its events that waited",
                t->pool, t->name);
    if (t->ready)
        t->why[0] = '\0';
    eg_metric_set(p->unavailable, (const char *const[]){t->pool, t->sync ? "sync" : "async"},
                  t->ready ? 0 : 1);
}

const char *eg_pools_topic(eg_pools_t *p, const char *pool, int sync, int *ready)
{
    char key[EG_MAX_NAME + 8];
    snprintf(key, sizeof key, "%s%s", sync ? "s:" : "a:", pool);
    topic_t *t = eg_map_get(p->topics, key);
    if (!t) {
        t = eg_xcalloc(1, sizeof *t);
        eg_map_put(p->topics, key, t, NULL);
        eg_topics_invoke(t->name, sizeof t->name, p->rt->settings->topic_prefix, pool,
                         sync ? EG_INVOKE_SYNC : EG_INVOKE_ASYNC);
        snprintf(t->pool, sizeof t->pool, "%s", pool);
        t->sync = sync;
        ensure(p, t);
        p->unready += !t->ready;
    }
    *ready = t->ready;
    return t->name;
}

int eg_pools_retry(eg_pools_t *p)
{
    if (!p->unready)
        return 0;
    int64_t now = eg_time_mono_ms();
    int back = 0;
    eg_map_iter_t it;
    const char *k;
    void *v;
    eg_map_iter_init(&it, p->topics);
    while (eg_map_iter_next(&it, &k, &v)) {
        topic_t *t = v;
        if (t->ready || now < t->retry_at)
            continue;
        ensure(p, t);
        if (t->ready) {
            back++;
            p->unready--;
        }
    }
    return back;
}

int eg_pools_unready(const eg_pools_t *p)
{
    return p->unready;
}
