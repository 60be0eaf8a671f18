/*
 * eg_kafka_client.c: clients from specs (see eg_kafka_client.h). The
 * profiles are the tables below; a row's fixed flag picks eg_kafka_conf_set
 * (checked against the table of fixed properties) or eg_kafka_conf_default.
 */
#include "eg_kafka_client.h"

#include <stdio.h>
#include <string.h>

#include "eg_kafka.h"
#include "eg_log.h"

static const eg_kafka_prop_t group_consumer[] = {
    /* the gateway commits what it has done, nothing else */
    EG_KAFKA_FIXED("enable.auto.commit", "false"),
    EG_KAFKA_DEFAULT("auto.offset.reset", "earliest"),
    EG_KAFKA_DEFAULT("partition.assignment.strategy", "cooperative-sticky"),
    /* librdkafka 2.0.2's embedded broker moves a dead member's partitions
     * about two session timeouts after its death: 6 s keeps that within the
     * 15 s the contract promises. */
    EG_KAFKA_DEFAULT("session.timeout.ms", "6000"),
    EG_KAFKA_DEFAULT("heartbeat.interval.ms", "1000"),
    {NULL, NULL, 0},
};

static const eg_kafka_prop_t reliable_producer[] = {
    EG_KAFKA_FIXED("enable.idempotence", "true"),
    EG_KAFKA_DEFAULT("linger.ms", "5"),
    {NULL, NULL, 0},
};

static const eg_kafka_prop_t reader[] = {
    EG_KAFKA_FIXED("enable.auto.commit", "false"),
    {NULL, NULL, 0},
};

static const eg_kafka_prop_t *const profiles[] = {
    [EG_KAFKA_PLAIN] = NULL,
    [EG_KAFKA_GROUP_CONSUMER] = group_consumer,
    [EG_KAFKA_RELIABLE_PRODUCER] = reliable_producer,
    [EG_KAFKA_READER] = reader,
    [EG_KAFKA_SYNC_PRODUCER] = NULL, /* from the settings: see sync_producer */
};

static int apply(rd_kafka_conf_t *c, const eg_settings_t *s, const eg_kafka_prop_t *rows, char *err,
                 size_t errlen)
{
    for (; rows && rows->name; rows++) {
        if (!rows->value)
            continue;
        if (rows->fixed ? eg_kafka_conf_set(c, rows->name, rows->value, err, errlen)
                        : eg_kafka_conf_default(c, s, rows->name, rows->value, err, errlen))
            return -1;
    }
    return 0;
}

/* The sync path's producers (the ingress's sync events, the router's sync
 * invocations, the invokers' replies) send at once (--sync-linger-ms, 0:
 * librdkafka wakes its thread at millisecond granularity, so even 0.2 ms
 * costs a lone request milliseconds) with one request in flight per
 * connection: what comes while it is out makes the next batch, so batches
 * grow with the load while a lone request waits for nothing. Fewer, larger
 * requests are what both brokers want: Apache Kafka spends its CPU per
 * request and batch more than per byte, and the embedded broker walks a
 * partition's batches from the oldest on every fetch. */
static int sync_producer(rd_kafka_conf_t *c, const eg_settings_t *s, char *err, size_t errlen)
{
    char linger[32];
    snprintf(linger, sizeof linger, "%g", s->sync_linger_ms);
    const eg_kafka_prop_t rows[] = {
        EG_KAFKA_DEFAULT("linger.ms", linger),
        EG_KAFKA_DEFAULT("max.in.flight.requests.per.connection", "1"),
        {NULL, NULL, 0},
    };
    return apply(c, s, rows, err, errlen);
}

rd_kafka_conf_t *eg_kafka_client_conf(const eg_settings_t *s, const char *brokers,
                                      const eg_kafka_spec_t *spec, char *err, size_t errlen)
{
    rd_kafka_conf_t *c = eg_kafka_conf_new(s, brokers, err, errlen);
    if (!c)
        return NULL;
    eg_kafka_prop_t group[] = {EG_KAFKA_FIXED("group.id", spec->group), {NULL, NULL, 0}};
    /* the client's role in librdkafka's logs and the brokers' (quotas go by
     * it too): "eg-router-producer#producer-6"; spec->props may say otherwise */
    char cid[128] = "eg-";
    for (size_t i = 3; spec->name && spec->name[i - 3] && i < sizeof cid - 1; i++)
        cid[i] = spec->name[i - 3] == ' ' ? '-' : spec->name[i - 3];
    eg_kafka_prop_t id[] = {EG_KAFKA_DEFAULT("client.id", spec->name ? cid : NULL),
                            {NULL, NULL, 0}};
    if (apply(c, s, id, err, errlen) || apply(c, s, profiles[spec->profile], err, errlen) ||
        (spec->profile == EG_KAFKA_SYNC_PRODUCER && sync_producer(c, s, err, errlen)) ||
        (spec->group && apply(c, s, group, err, errlen)) || apply(c, s, spec->props, err, errlen)) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    if (spec->opaque)
        rd_kafka_conf_set_opaque(c, spec->opaque);
    if (spec->rebalance_cb)
        rd_kafka_conf_set_rebalance_cb(c, spec->rebalance_cb);
    if (spec->dr_msg_cb)
        rd_kafka_conf_set_dr_msg_cb(c, spec->dr_msg_cb);
    if (spec->offset_commit_cb)
        rd_kafka_conf_set_offset_commit_cb(c, spec->offset_commit_cb);
    return c;
}

rd_kafka_t *eg_kafka_client_new(const eg_settings_t *s, const char *brokers,
                                const eg_kafka_spec_t *spec, char *err, size_t errlen)
{
    char why[512] = "";
    rd_kafka_conf_t *c = eg_kafka_client_conf(s, brokers, spec, why, sizeof why);
    if (!c) {
        snprintf(err, errlen, "%s: %s", spec->name, why);
        return NULL;
    }
    rd_kafka_t *rk = eg_kafka_new(spec->type, &c, spec->name, err, errlen);
    if (rk && spec->profile == EG_KAFKA_GROUP_CONSUMER)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

int eg_kafka_rebalance_apply(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *parts, const char *component)
{
    int assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    const char *proto = rd_kafka_rebalance_protocol(rk);
    char why[512] = "";
    if (proto && !strcmp(proto, "COOPERATIVE")) {
        rd_kafka_error_t *e = assign ? rd_kafka_incremental_assign(rk, parts)
                                     : rd_kafka_incremental_unassign(rk, parts);
        if (e) {
            snprintf(why, sizeof why, "%s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, assign ? parts : NULL);
        if (e)
            snprintf(why, sizeof why, "%s", rd_kafka_err2str(e));
    }
    if (!why[0])
        return 0;
    EG_LOG_ERROR(component, "%s: %s %d partition(s) failed: %s", rd_kafka_name(rk),
                 assign ? "assigning" : "revoking", parts ? parts->cnt : 0, why);
    return -1;
}
