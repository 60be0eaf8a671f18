/*
 * eg_kafka: configuration, topic names, topic creation and the embedded broker.
 * See eg_kafka.h for the design. All functions are safe to call from any
 * thread; none keeps global state.
 */
#include "eg_kafka.h"
#include "eg_time.h"
#include "eg_kafka_hdr.h"
#include "eg_log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka_mock.h>

#include "eg_alloc.h"
#include "eg_log.h"

void eg_topics_init(eg_topics_t *t, const char *prefix)
{
    if (!prefix)
        prefix = "eg.";
    snprintf(t->config, sizeof t->config, "%sconfig", prefix);
    snprintf(t->events, sizeof t->events, "%sevents", prefix);
    snprintf(t->dlq, sizeof t->dlq, "%sdlq", prefix);
    snprintf(t->replays, sizeof t->replays, "%sreplays", prefix);
    eg_topics_invoke(t->invoke_async, sizeof t->invoke_async, prefix, "default", EG_INVOKE_ASYNC);
    eg_topics_invoke(t->invoke_sync, sizeof t->invoke_sync, prefix, "default", EG_INVOKE_SYNC);
    eg_topics_invoke(t->invoke_overflow, sizeof t->invoke_overflow, prefix, "default",
                     EG_INVOKE_OVERFLOW);
}

const char *eg_topics_data(const eg_topics_t *t, size_t i)
{
    switch (i) {
    case 0:
        return t->events;
    case 1:
        return t->dlq;
    case 2:
        return t->invoke_async;
    case 3:
        return t->invoke_sync;
    default:
        return t->invoke_overflow;
    }
}

void eg_topics_invoke(char *buf, size_t len, const char *prefix, const char *pool,
                      eg_invoke_kind_t kind)
{
    static const char *const suffix[] = {"async", "sync", "overflow"};
    snprintf(buf, len, "%sinvoke.%s.%s", prefix ? prefix : "eg.", pool ? pool : "default",
             suffix[kind]);
}

/* ---- the properties the gateway fixes ---- */

/* One row per librdkafka property some client of the gateway sets whatever
 * --kafka says (eg_kafka_conf_set), with the reason. `accepted`: the values
 * ("a|b") it is fixed to wherever it is fixed, which --kafka may repeat
 * (that changes nothing there, and makes it the value of the clients that
 * only default it); NULL when clients fix it to different values, or the
 * gateway derives it: then --kafka may not name it at all. docs/operations.md's
 * "Properties the gateway fixes" lists the same properties. */
typedef struct fixed_prop {
    const char *name;
    const char *alias; /* librdkafka's other name for it, or NULL */
    const char *accepted;
    const char *why;
} fixed_prop_t;

static const fixed_prop_t fixed_props[] = {
    {"bootstrap.servers", "metadata.broker.list", NULL,
     "the gateway sets it from --brokers (or to its embedded broker): give the servers there"},
    {"group.id", NULL, NULL,
     "each consumer has a group of its own, derived from --topic-prefix (routers share one, "
     "each invoker pool one, readers of the configuration log their own)"},
    {"transactional.id", NULL, NULL,
     "the router's producer derives its own from --topic-prefix and --instance-id; any other "
     "producer would wait for transactions it never begins"},
    {"enable.auto.commit", NULL, "false",
     "every consumer commits what it has finished itself (after the call, the fan-out, the "
     "transaction): an automatic commit would skip records not handled yet"},
    {"enable.auto.offset.store", NULL, "false",
     "an invoker stores a record's offset only once its call is finished"},
    {"enable.partition.eof", NULL, NULL,
     "the configuration log's reader needs it on to know it has caught up, a dozing consumer to "
     "close its fetch window, the ingress's reply consumer needs it off"},
    {"isolation.level", NULL, "read_committed",
     "the router reads committed events only, so that what a transaction fanned out is routed "
     "once"},
    {"enable.idempotence", NULL, "true|1",
     "the producers of events, configuration changes, dead letters and replays must neither "
     "lose nor duplicate a record when they retry"},
    {"acks", "request.required.acks", "all|-1",
     "an idempotent producer needs every in-sync replica's acknowledgement; a record "
     "acknowledged by the leader alone is lost with it"},
};

static const fixed_prop_t *fixed_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof fixed_props / sizeof fixed_props[0]; i++) {
        const fixed_prop_t *f = &fixed_props[i];
        if ((strlen(f->name) == len && !memcmp(f->name, name, len)) ||
            (f->alias && strlen(f->alias) == len && !memcmp(f->alias, name, len)))
            return f;
    }
    return NULL;
}

static int fixed_accepts(const fixed_prop_t *f, const char *value)
{
    size_t n = strlen(value);
    for (const char *a = f->accepted; a && *a;) {
        const char *bar = strchr(a, '|');
        size_t len = bar ? (size_t)(bar - a) : strlen(a);
        if (len == n && !strncmp(a, value, n))
            return 1;
        a = bar ? bar + 1 : a + len;
    }
    return 0;
}

/* librdkafka's own setter, for properties that are not the gateway's to fix
 * (the user's, defaults, bootstrap.servers from --brokers). */
static int conf_put(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                    size_t errlen)
{
    char kerr[512];
    if (rd_kafka_conf_set(conf, name, value, kerr, sizeof kerr) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka property %s: %s", name, kerr);
        return -1;
    }
    return 0;
}

int eg_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                      size_t errlen)
{
    const fixed_prop_t *f = fixed_find(name, strlen(name));
    if (!f || (f->accepted && !fixed_accepts(f, value))) {
        snprintf(err, errlen,
                 "kafka property %s=%s is forced but is not in the table of fixed properties "
                 "(core/eg_kafka.c: fixed_props)",
                 name, value);
        return -1;
    }
    return conf_put(conf, name, value, err, errlen);
}

int eg_kafka_check_props(const eg_settings_t *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->kafka_props_count; i++) {
        const char *kv = s->kafka_props[i];
        const char *eq = strchr(kv, '=');
        const fixed_prop_t *f = eq ? fixed_find(kv, (size_t)(eq - kv)) : NULL;
        if (!f || fixed_accepts(f, eq + 1))
            continue;
        if (f->accepted)
            snprintf(err, errlen,
                     "--kafka %s: %s is fixed by the gateway (only %s is accepted): %s", kv,
                     f->name, f->accepted, f->why);
        else
            snprintf(err, errlen, "--kafka %s: %s is fixed by the gateway: %s", kv, f->name,
                     f->why);
        return -1;
    }
    return 0;
}

/* Errors of a partition whose leader is moving or not known yet (a topic
 * just created, a broker restarting): the same request succeeds later. */
static int leader_moving(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        return 1;
    default:
        return 0;
    }
}

/* One ListOffsets lookup (which: RD_KAFKA_OFFSET_BEGINNING or _END, the
 * protocol's earliest and latest "timestamps") through offsets-for-times,
 * whose wait keeps to its timeout. librdkafka 2.0 does not retry a lookup
 * that meets a moving leader; this does, within the same timeout. */
static rd_kafka_resp_err_t list_offset(rd_kafka_t *rk, const char *topic, int32_t partition,
                                       int64_t which, int64_t *out, int timeout_ms)
{
    int64_t deadline = eg_time_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t e;
    for (;;) {
        int64_t left = deadline - eg_time_mono_ms();
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, partition)->offset = which;
        e = rd_kafka_offsets_for_times(rk, l, left > 1 ? (int)left : 1);
        if (!e)
            e = l->elems[0].err;
        if (!e)
            *out = l->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(l);
        if (!leader_moving(e) || eg_time_mono_ms() + 100 >= deadline)
            return e;
        usleep(100 * 1000);
    }
}

void eg_kafka_nudge(rd_kafka_t *rk, const char *topic, int32_t partition, int timeout_ms)
{
    int64_t hi = 0;
    list_offset(rk, topic, partition, RD_KAFKA_OFFSET_END, &hi, timeout_ms); /* of no use */
}

rd_kafka_resp_err_t eg_kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition,
                                        int64_t *lo, int64_t *hi, int timeout_ms)
{
    int64_t deadline = eg_time_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t e =
        list_offset(rk, topic, partition, RD_KAFKA_OFFSET_BEGINNING, lo, timeout_ms);
    if (e)
        return e;
    int64_t left = deadline - eg_time_mono_ms();
    return list_offset(rk, topic, partition, RD_KAFKA_OFFSET_END, hi, left > 1 ? (int)left : 1);
}

int eg_kafka_conf_default(rd_kafka_conf_t *conf, const eg_settings_t *s, const char *name,
                          const char *value, char *err, size_t errlen)
{
    if (eg_settings_kafka_prop(s, name, NULL) == 0)
        return 0;
    return conf_put(conf, name, value, err, errlen);
}

rd_kafka_conf_t *eg_kafka_conf_new(const eg_settings_t *s, const char *brokers, char *err,
                                   size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!brokers)
        brokers = s->brokers;
    if (brokers && *brokers && eg_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen))
        goto fail;
    rd_kafka_conf_set_log_cb(conf, eg_log_rdkafka_cb);
    for (size_t i = 0; i < s->kafka_props_count; i++) {
        const char *kv = s->kafka_props[i];
        const char *eq = strchr(kv, '=');
        if (!eq) {
            snprintf(err, errlen, "--kafka %s: expected PROP=VALUE", kv);
            goto fail;
        }
        char name[256];
        size_t n = (size_t)(eq - kv);
        if (n == 0 || n >= sizeof name) {
            snprintf(err, errlen, "--kafka %s: bad property name", kv);
            goto fail;
        }
        memcpy(name, kv, n);
        name[n] = '\0';
        if (conf_put(conf, name, eq + 1, err, errlen))
            goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *eg_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t **conf, const char *what, char *err,
                         size_t errlen)
{
    char kerr[512];
    if (!*conf)
        return NULL;
    rd_kafka_t *rk = rd_kafka_new(type, *conf, kerr, sizeof kerr);
    if (!rk) {
        rd_kafka_conf_destroy(*conf);
        snprintf(err, errlen, "%s: %s", what, kerr);
    }
    *conf = NULL;
    return rk;
}

int eg_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char *err,
                             size_t errlen)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int64_t deadline = eg_time_mono_ms() + timeout_ms;
    int count = -1;
    if (!rkt) {
        snprintf(err, errlen, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    /* On a cluster of several brokers, the one asked may not know a topic
     * created a moment ago through another: asked again within timeout_ms. */
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        int64_t left = deadline - eg_time_mono_ms();
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, left > 1 ? (int)left : 1);
        if (e) {
            snprintf(err, errlen, "metadata for %s: %s", topic, rd_kafka_err2str(e));
        } else if (md->topic_cnt != 1 || md->topics[0].err) {
            e = md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
            snprintf(err, errlen, "topic %s: %s", topic,
                     md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
        } else {
            count = md->topics[0].partition_cnt;
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (count >= 0 || !leader_moving(e) || eg_time_mono_ms() + 100 >= deadline)
            break;
        usleep(100 * 1000);
    }
    rd_kafka_topic_destroy(rkt);
    return count;
}

/* Is the controller the metadata names one of its brokers? A real cluster's
 * always is (KRaft clusters name any live broker); librdkafka's mock cluster,
 * which serves no CreateTopics, names broker 0, which it does not have. */
static int has_controller(rd_kafka_t *rk, const struct rd_kafka_metadata *md)
{
    int32_t id = rd_kafka_controllerid(rk, 0);
    if (id < 0)
        return 1; /* not reported: let CreateTopics find out */
    for (int i = 0; i < md->broker_cnt; i++)
        if (md->brokers[i].id == id)
            return 1;
    return 0;
}

/* eg_kafka_describe_configs, returning the error: the request's, or the
 * resource's (such as an unknown topic). */
static rd_kafka_resp_err_t describe(rd_kafka_t *rk, rd_kafka_ResourceType_t type, const char *name,
                                    eg_kafka_config_fn *fn, void *arg, int timeout_ms, char *err,
                                    size_t errlen)
{
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR__FAIL;
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(type, name);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_event_t *ev = NULL;
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, NULL, 0);
    rd_kafka_DescribeConfigs(rk, &res, 1, opts, q);
    if (!(ev = rd_kafka_queue_poll(q, timeout_ms + 1000))) {
        snprintf(err, errlen, "describing %s: timed out", name);
        rc = RD_KAFKA_RESP_ERR__TIMED_OUT;
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "describing %s: %s", name, rd_kafka_event_error_string(ev));
        rc = rd_kafka_event_error(ev);
        goto out;
    }
    size_t n = 0, cn = 0;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    if (n != 1) {
        snprintf(err, errlen, "describing %s: %zu resources in the answer", name, n);
        goto out;
    }
    if (rd_kafka_ConfigResource_error(rs[0])) {
        const char *why = rd_kafka_ConfigResource_error_string(rs[0]);
        rc = rd_kafka_ConfigResource_error(rs[0]);
        snprintf(err, errlen, "describing %s: %s", name, why && *why ? why : rd_kafka_err2str(rc));
        goto out;
    }
    const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(rs[0], &cn);
    for (size_t i = 0; i < cn; i++)
        fn(rd_kafka_ConfigEntry_name(ce[i]), rd_kafka_ConfigEntry_value(ce[i]),
           (int)rd_kafka_ConfigEntry_source(ce[i]), arg);
    rc = RD_KAFKA_RESP_ERR_NO_ERROR;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    return rc;
}

int eg_kafka_describe_configs(rd_kafka_t *rk, rd_kafka_ResourceType_t type, const char *name,
                              eg_kafka_config_fn *fn, void *arg, int timeout_ms, char *err,
                              size_t errlen)
{
    return describe(rk, type, name, fn, arg, timeout_ms, err, errlen) ? -1 : 0;
}

/* The values of a few names, collected by eg_kafka_describe_configs. */
typedef struct config_pick {
    const char *const *names; /* "name", "value" pairs: the names are read */
    char values[4][256];      /* "" when absent; of the first 4 pairs */
} config_pick_t;

static void config_pick(const char *name, const char *value, int source, void *arg)
{
    config_pick_t *p = arg;
    (void)source;
    for (size_t i = 0; i < 4 && p->names[2 * i]; i++)
        if (!strcmp(p->names[2 * i], name))
            snprintf(p->values[i], sizeof p->values[i], "%s", value ? value : "");
}

/* Smallest replica count of the topic's partitions (0: unknown), the
 * number of brokers of the cluster, and whether its controller is one of
 * them (DescribeConfigs goes there: a mock cluster names none). A topic
 * just created is not known to every broker at once: a broker that does not
 * know it yet is asked again, until deadline. */
static void topic_replicas(rd_kafka_t *rk, const char *topic, int64_t deadline, int *replicas,
                           int *brokers, int *controller)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    *replicas = *brokers = 0;
    *controller = 1;
    while (rkt && !*replicas) {
        const struct rd_kafka_metadata *md = NULL;
        int64_t left = deadline - eg_time_mono_ms();
        if (left <= 0 || rd_kafka_metadata(rk, 0, rkt, &md, (int)left) || !md)
            break;
        *brokers = md->broker_cnt;
        *controller = has_controller(rk, md);
        for (int i = 0; i < md->topic_cnt; i++)
            for (int k = 0; !md->topics[i].err && k < md->topics[i].partition_cnt; k++)
                if (!*replicas || md->topics[i].partitions[k].replica_cnt < *replicas)
                    *replicas = md->topics[i].partitions[k].replica_cnt;
        rd_kafka_metadata_destroy(md);
        if (!*replicas && eg_time_mono_ms() + 100 < deadline)
            usleep(100 * 1000);
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
}

int eg_kafka_check_topic(rd_kafka_t *rk, const char *topic, const char *const *required,
                         const char *why, int timeout_ms, char *err, size_t errlen)
{
    int64_t deadline = eg_time_mono_ms() + timeout_ms;
    int replicas, brokers, controller;
    topic_replicas(rk, topic, deadline, &replicas, &brokers, &controller);
    if (replicas == 1 && brokers > 1)
        EG_LOG_WARN("kafka",
                    "topic %s has replication factor 1 on a cluster of %d brokers: a broker lost "
                    "loses its records, and one that stops stops the gateway's use of it; give "
                    "topics more replicas (--replication-factor, for the topics the gateway "
                    "creates)",
                    topic, brokers);
    if (!required || !required[0])
        return 0;
    config_pick_t pick = {.names = required};
    char derr[512];
    snprintf(derr, sizeof derr, "%s",
             controller ? "timed out" : "the cluster names no controller to ask");
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__FAIL;
    /* as above: the broker asked may not know a topic just created yet */
    for (int64_t left; controller && (left = deadline - eg_time_mono_ms()) > 0;) {
        e = describe(rk, RD_KAFKA_RESOURCE_TOPIC, topic, config_pick, &pick, (int)left, derr,
                     sizeof derr);
        if (e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            break;
        usleep(100 * 1000);
    }
    if (e) {
        EG_LOG_WARN("kafka", "cannot check the configuration of topic %s (%s): let through", topic,
                    derr);
        return 0;
    }
    for (size_t i = 0; i < 4 && required[2 * i] && required[2 * i + 1]; i++) {
        const char *name = required[2 * i], *want = required[2 * i + 1];
        if (!strcmp(pick.values[i], want))
            continue;
        snprintf(err, errlen,
                 "topic %s has %s=%s where the gateway needs %s=%s: %s. Alter it "
                 "(kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config "
                 "%s=%s) or use another --topic-prefix",
                 topic, name, pick.values[i][0] ? pick.values[i] : "(unknown)", name, want, why,
                 topic, name, want);
        return -1;
    }
    return 0;
}

/* The replication factor a topic created with `rf` gets: rf itself when
 * given (> 0), else the brokers' default.replication.factor; 0 when that
 * cannot be read. */
static int effective_rf(rd_kafka_t *rk, int rf, int timeout_ms)
{
    if (rf > 0)
        return rf;
    int32_t id = rd_kafka_controllerid(rk, timeout_ms);
    if (id < 0)
        return 0;
    static const char *const names[] = {"default.replication.factor", "", NULL};
    config_pick_t pick = {.names = names};
    char sid[16], derr[256];
    snprintf(sid, sizeof sid, "%d", (int)id);
    if (eg_kafka_describe_configs(rk, RD_KAFKA_RESOURCE_BROKER, sid, config_pick, &pick, timeout_ms,
                                  derr, sizeof derr)) {
        EG_LOG_DEBUG("kafka", "default.replication.factor of broker %s: %s", sid, derr);
        return 0;
    }
    return atoi(pick.values[0]);
}

/* Adds min.insync.replicas to a topic about to be created, unless configs
 * sets it: min(2, replicas) when it has more than one replica, so that a
 * write the gateway's producers (acks=all) see acknowledged has two copies
 * at least, and a broker lost loses none of them; with three replicas one
 * broker may be down and writes go on (with two, none may: the price of the
 * second copy). */
static void set_min_insync(rd_kafka_t *rk, rd_kafka_NewTopic_t *nt, int replication_factor,
                           const char *const *configs, int timeout_ms)
{
    for (size_t i = 0; configs && configs[i] && configs[i + 1]; i += 2)
        if (!strcmp(configs[i], "min.insync.replicas"))
            return;
    int rf = effective_rf(rk, replication_factor, timeout_ms);
    if (rf > 1)
        rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", "2"); /* min(2, rf > 1) */
}

/* Does the topic exist? 1 yes, 0 no, -1 could not tell. Asks for all topics
 * so that the lookup itself never auto-creates the topic. Tells too whether
 * the cluster has a controller to send CreateTopics to. */
static int topic_exists(rd_kafka_t *rk, const char *topic, int timeout_ms, int *controller_known,
                        char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (e) {
        snprintf(err, errlen, "cannot reach Kafka to look up %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    int found = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, topic) && !md->topics[i].err &&
            md->topics[i].partition_cnt > 0)
            found = 1;
    if (controller_known)
        *controller_known = has_controller(rk, md);
    rd_kafka_metadata_destroy(md);
    return found;
}

/* Until when (eg_time_mono_ms) CreateTopics is not sent again after one
 * timed out: see below. */
static _Atomic int64_t no_controller_until;
#define NO_CONTROLLER_BACKOFF_MS 30000

/* Waits until the cluster's metadata shows `topic` with a leader for each of
 * its partitions. A real cluster answers CreateTopics before every broker
 * knows the topic: a produce or an offsets lookup made at once fails with
 * "unknown topic or partition". 0 ready, -1 not within timeout_ms. */
static int wait_topic_ready(rd_kafka_t *rk, const char *topic, int timeout_ms, char *err,
                            size_t errlen)
{
    int64_t deadline = eg_time_mono_ms() + timeout_ms;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        int ready = 0;
        if (!rd_kafka_metadata(rk, 1, NULL, &md, 1000) && md) {
            for (int i = 0; i < md->topic_cnt; i++) {
                const struct rd_kafka_metadata_topic *t = &md->topics[i];
                if (strcmp(t->topic, topic) || t->err || t->partition_cnt <= 0)
                    continue;
                ready = 1;
                for (int k = 0; k < t->partition_cnt; k++)
                    if (t->partitions[k].err || t->partitions[k].leader < 0)
                        ready = 0;
            }
            rd_kafka_metadata_destroy(md);
        }
        if (ready)
            return 0;
        if (eg_time_mono_ms() >= deadline) {
            snprintf(err, errlen,
                     "topic %s was created but has no leader for every partition after %d ms",
                     topic, timeout_ms);
            return -1;
        }
        usleep(50 * 1000);
    }
}

int eg_kafka_wait_topic(rd_kafka_t *rk, const char *topic, int timeout_ms, char *err, size_t errlen)
{
    return wait_topic_ready(rk, topic, timeout_ms, err, errlen);
}

int eg_kafka_ensure_topic(rd_kafka_t *rk, const char *topic, int partitions, int replication_factor,
                          const char *const *configs, int timeout_ms, char *err, size_t errlen)
{
    int controller_known = 1;
    int ex = topic_exists(rk, topic, timeout_ms, &controller_known, err, errlen);
    if (ex != 0)
        return ex > 0 ? 0 : -1;
    if (!controller_known) {
        snprintf(err, errlen, "creating topic %s: the cluster names no controller to create it",
                 topic);
        return -1;
    }
    /* CreateTopics goes to the controller. A cluster that names none (the
     * mock cluster) is told above; one that does not let the request through
     * costs its whole time-out once; for NO_CONTROLLER_BACKOFF_MS then, later
     * topics of this process fail at once (a controller that comes back is
     * asked again after that). */
    if (eg_time_mono_ms() < atomic_load(&no_controller_until)) {
        snprintf(err, errlen,
                 "creating topic %s: the cluster did not answer an earlier CreateTopics", topic);
        return -1;
    }

    char kerr[512];
    int rc = -1;
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic, partitions, replication_factor, kerr, sizeof kerr);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_event_t *ev = NULL;
    if (!nt) {
        snprintf(err, errlen, "topic %s: %s", topic, kerr);
        goto out;
    }
    for (size_t i = 0; configs && configs[i] && configs[i + 1]; i += 2)
        rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1]);
    set_min_insync(rk, nt, replication_factor, configs, timeout_ms);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, NULL, 0);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, NULL, 0);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (!ev) {
        snprintf(err, errlen, "creating topic %s: timed out", topic);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__TIMED_OUT)
            atomic_store(&no_controller_until, eg_time_mono_ms() + NO_CONTROLLER_BACKOFF_MS);
        snprintf(err, errlen, "creating topic %s: %s", topic, rd_kafka_event_error_string(ev));
        goto out;
    }
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    if (n == 1 && rd_kafka_topic_result_error(tr[0]) &&
        rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        snprintf(err, errlen, "creating topic %s: %s", topic,
                 rd_kafka_topic_result_error_string(tr[0])
                     ? rd_kafka_topic_result_error_string(tr[0])
                     : rd_kafka_err2str(rd_kafka_topic_result_error(tr[0])));
        goto out;
    }
    if (wait_topic_ready(rk, topic, timeout_ms, err, errlen))
        goto out;
    EG_LOG_INFO("kafka", "created topic %s (%d partitions)", topic, partitions);
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    return rc;
}

int64_t eg_kafka_consumer_lag(rd_kafka_t *consumer)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t lag = 0;
    if (rd_kafka_assignment(consumer, &parts) || !parts)
        return -1;
    rd_kafka_position(consumer, parts);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = -1, hi = -1;
        if (p->offset < 0 ||
            rd_kafka_get_watermark_offsets(consumer, p->topic, p->partition, &lo, &hi) ||
            hi < p->offset)
            continue;
        lag += hi - p->offset;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return lag;
}

int eg_kafka_cooperative(const eg_settings_t *s)
{
    const char *strategy = "cooperative-sticky";
    eg_settings_kafka_prop(s, "partition.assignment.strategy", &strategy);
    return strstr(strategy, "cooperative-sticky") != NULL;
}

void eg_kafka_consumer_leave(rd_kafka_t *rk, int timeout_ms)
{
    int64_t deadline = eg_time_mono_ms() + timeout_ms;
    /* A consumer that holds nothing yet (a SIGTERM while it joins its group)
     * has nothing to commit or hand over: its close is given a second, not
     * EG_KAFKA_CLOSE_MS. On a real broker a close during the join waits
     * for the join: two consumers would keep a SIGTERM waiting past 10 s. */
    rd_kafka_topic_partition_list_t *held = NULL;
    int close_ms = EG_KAFKA_CLOSE_MS;
    if (!rd_kafka_assignment(rk, &held) && held && held->cnt == 0)
        close_ms = 1000;
    if (held)
        rd_kafka_topic_partition_list_destroy(held);
    rd_kafka_unsubscribe(rk);
    while (eg_time_mono_ms() < deadline) {
        rd_kafka_topic_partition_list_t *a = NULL;
        int left = 1;
        if (!rd_kafka_assignment(rk, &a) && a)
            left = a->cnt;
        if (a)
            rd_kafka_topic_partition_list_destroy(a);
        if (left == 0)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 20);
        if (m)
            rd_kafka_message_destroy(m);
    }
    /* The close, bounded: served here; a revocation it still brings (none
     * normally: the loop above served it) is applied without commit. */
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *err = rd_kafka_consumer_close_queue(rk, q);
    if (err) {
        EG_LOG_WARN("kafka", "closing a consumer: %s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    } else {
        int64_t close_deadline = eg_time_mono_ms() + close_ms;
        while (!rd_kafka_consumer_closed(rk) && eg_time_mono_ms() < close_deadline) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 50);
            if (!ev)
                continue;
            if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE &&
                rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
                rd_kafka_error_t *e =
                    rd_kafka_incremental_unassign(rk, rd_kafka_event_topic_partition_list(ev));
                if (e) { /* the eager protocol */
                    rd_kafka_error_destroy(e);
                    rd_kafka_assign(rk, NULL);
                }
            }
            rd_kafka_event_destroy(ev);
        }
        if (!rd_kafka_consumer_closed(rk))
            EG_LOG_WARN("kafka",
                        "a consumer did not close within %d ms (is Kafka reachable?): "
                        "left without closing",
                        close_ms);
    }
    rd_kafka_queue_destroy(q);
}

/* Whether rk's configuration names the cooperative-sticky assignor. */
static int cooperative_sticky(rd_kafka_t *rk)
{
    char v[256];
    size_t n = sizeof v;
    const rd_kafka_conf_t *c = rd_kafka_conf(rk);
    return c && rd_kafka_conf_get(c, "partition.assignment.strategy", v, &n) == RD_KAFKA_CONF_OK &&
           strstr(v, "cooperative-sticky");
}

void eg_kafka_consumer_destroy(rd_kafka_t *rk, int ever_assigned)
{
    if (!rk)
        return;
    if (!ever_assigned && rd_kafka_version() < 0x020300ff && cooperative_sticky(rk)) {
        EG_LOG_DEBUG("kafka", "consumer %s closed but not destroyed (librdkafka#4312)",
                     rd_kafka_name(rk));
        return;
    }
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

const char *eg_kafka_partitions_str(const rd_kafka_topic_partition_list_t *l, char *buf, size_t len)
{
    size_t n = 0, keep = 0; /* keep: after the last number that leaves room for "..." */
    if (len < 4) {
        if (len)
            buf[0] = '\0';
        return buf;
    }
    buf[0] = '\0';
    for (int k = 0; l && k < l->cnt; k++) {
        int w = snprintf(buf + n, len - n, "%s%d", k ? "," : "", (int)l->elems[k].partition);
        if (w < 0 || (size_t)w >= len - n) {
            memcpy(buf + keep, "...", 4);
            break;
        }
        n += (size_t)w;
        if (n + 3 < len)
            keep = n;
    }
    return buf;
}

int eg_kafka_subscribe_one(rd_kafka_t *consumer, const char *topic, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(err, errlen, "subscribing to %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

rd_kafka_resp_err_t eg_kafka_commit_wait(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *offsets,
                                         int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_resp_err_t e = rd_kafka_commit_queue(rk, offsets, q, NULL, NULL);
    if (!e) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms);
        if (!ev) {
            e = RD_KAFKA_RESP_ERR__TIMED_OUT;
        } else {
            e = rd_kafka_event_error(ev);
            /* Per-partition results back into the caller's list. */
            const rd_kafka_topic_partition_list_t *res = rd_kafka_event_topic_partition_list(ev);
            for (int i = 0; res && i < res->cnt; i++) {
                rd_kafka_topic_partition_t *t = rd_kafka_topic_partition_list_find(
                    offsets, res->elems[i].topic, res->elems[i].partition);
                if (t)
                    t->err = res->elems[i].err;
            }
            rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q); /* a late answer is dropped with the queue */
    return e;
}

struct eg_mock {
    rd_kafka_t *rk; /* owns the mock cluster's threads */
    rd_kafka_mock_cluster_t *cluster;
    char bootstraps[128];
};

eg_mock_t *eg_mock_new(char *err, size_t errlen)
{
    eg_mock_t *m = eg_xcalloc(1, sizeof *m);
    char kerr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, eg_log_rdkafka_cb);
    /* This handle exists only to host the cluster: it never connects, so
     * its "no bootstrap.servers" notice is not worth showing. */
    rd_kafka_conf_set(conf, "log_level", "3", kerr, sizeof kerr);
    /* The cluster's sockets take this handle's settings: without Nagle, a
     * response written while the client has not acknowledged the previous
     * one yet (a delayed ACK, up to 40 ms on Linux) leaves at once. */
    rd_kafka_conf_set(conf, "socket.nagle.disable", "true", kerr, sizeof kerr);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof kerr);
    if (!m->rk) {
        snprintf(err, errlen, "embedded broker: %s", kerr);
        free(m);
        return NULL;
    }
    m->cluster = rd_kafka_mock_cluster_new(m->rk, 1);
    if (!m->cluster) {
        snprintf(err, errlen, "embedded broker: could not start the mock cluster");
        rd_kafka_destroy(m->rk);
        free(m);
        return NULL;
    }
    snprintf(m->bootstraps, sizeof m->bootstraps, "%s",
             rd_kafka_mock_cluster_bootstraps(m->cluster));
    return m;
}

const char *eg_mock_bootstraps(const eg_mock_t *m)
{
    return m->bootstraps;
}

int eg_mock_topic_create(eg_mock_t *m, const char *topic, int partitions, char *err, size_t errlen)
{
    /* The cluster's thread serves a request, then empties its wake-up pipe:
     * a request sent in between (the next one, sent as soon as the last is
     * answered) loses its wake-up and waits for the thread's 1 s tick
     * (librdkafka 2.0's mock). The thread is let finish its turn first. */
    nanosleep(&(struct timespec){0, 2000000}, NULL);
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(m->cluster, topic, partitions, 1);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        snprintf(err, errlen, "embedded broker: creating %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

int eg_mock_create_topics(eg_mock_t *m, const eg_topics_t *t, int partitions, char *err,
                          size_t errlen)
{
    if (eg_mock_topic_create(m, t->config, 1, err, errlen))
        return -1;
    for (size_t i = 0; i < EG_TOPICS_DATA; i++)
        if (eg_mock_topic_create(m, eg_topics_data(t, i), partitions, err, errlen))
            return -1;
    return eg_mock_topic_create(m, t->replays, partitions, err, errlen);
}

struct rd_kafka_mock_cluster_s *eg_mock_cluster(eg_mock_t *m)
{
    return m->cluster;
}

void eg_mock_free(eg_mock_t *m)
{
    if (!m)
        return;
    rd_kafka_mock_cluster_destroy(m->cluster);
    rd_kafka_destroy(m->rk);
    free(m);
}

long eg_kafka_header(rd_kafka_headers_t *hdrs, const char *name, char *buf, size_t len)
{
    const void *v = NULL;
    size_t n = 0;
    if (!hdrs || rd_kafka_header_get_last(hdrs, name, &v, &n) || n >= len)
        return -1;
    if (n)
        memcpy(buf, v, n);
    buf[n] = '\0';
    return (long)n;
}
