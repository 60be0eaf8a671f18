/*
 * eg_kafka_client: every Kafka client of the gateway is built from a spec.
 *
 * A spec names the client's kind and name (the name appears in errors and
 * logs), a profile (the properties every client of one use shares: a
 * consumer group member the gateway commits for, a reliable producer), the
 * client's own rows on top, and its callbacks. Each row is either fixed by
 * the gateway, whatever --kafka says (it must be a row of the table of fixed
 * properties in eg_kafka.c, which --kafka is checked against at start-up),
 * or a default that --kafka may override. So what a user may change is
 * decided by one table, and how a client differs from its kind is read in
 * one place, its spec.
 *
 * Rebalances: eg_kafka_rebalance_apply applies an assignment or a
 * revocation the way the consumer's protocol wants, with one error policy.
 */
#ifndef EG_KAFKA_CLIENT_H
#define EG_KAFKA_CLIENT_H

#include <librdkafka/rdkafka.h>

#include "eg_opts.h"

typedef enum eg_kafka_profile {
    EG_KAFKA_PLAIN,             /* --brokers and --kafka, nothing more */
    EG_KAFKA_GROUP_CONSUMER,    /* a group member whose offsets the gateway commits */
    EG_KAFKA_RELIABLE_PRODUCER, /* idempotent, batching 5 ms */
    EG_KAFKA_READER,            /* assigns itself partitions; commits nothing */
    EG_KAFKA_SYNC_PRODUCER,     /* on the sync path: --sync-linger-ms, one request in flight */
} eg_kafka_profile_t;

/* A property: value NULL skips the row (a property set only sometimes). */
typedef struct eg_kafka_prop {
    const char *name;
    const char *value;
    int fixed; /* 1: the gateway's, whatever --kafka says; 0: a default --kafka may change */
} eg_kafka_prop_t;

#define EG_KAFKA_FIXED(n, v)                                                                       \
    {                                                                                              \
        (n), (v), 1                                                                                \
    }
#define EG_KAFKA_DEFAULT(n, v)                                                                     \
    {                                                                                              \
        (n), (v), 0                                                                                \
    }

typedef struct eg_kafka_spec {
    rd_kafka_type_t type;
    const char *name; /* "router consumer" */
    eg_kafka_profile_t profile;
    const char *group;            /* group.id of a group consumer */
    const eg_kafka_prop_t *props; /* applied after the profile's; ends with a NULL name */
    void *opaque;
    void (*rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);
    void (*dr_msg_cb)(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
    void (*offset_commit_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque);
} eg_kafka_spec_t;

/* The client of spec on brokers (NULL: s->brokers) with s's --kafka; a
 * group consumer polls its consumer queue (rd_kafka_poll_set_consumer).
 * NULL with "<name>: <reason>" in err. */
rd_kafka_t *eg_kafka_client_new(const eg_settings_t *s, const char *brokers,
                                const eg_kafka_spec_t *spec, char *err, size_t errlen);

/* The same properties into a configuration the caller goes on with (a
 * client whose construction is not rd_kafka_new's, like a transactional
 * producer's): NULL with the reason in err. */
rd_kafka_conf_t *eg_kafka_client_conf(const eg_settings_t *s, const char *brokers,
                                      const eg_kafka_spec_t *spec, char *err, size_t errlen);

/* In a rebalance callback: applies the assignment (err
 * RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) or the revocation of parts,
 * incrementally when the group's protocol is cooperative. An error is
 * logged (component, the client's name) and returns -1. */
int eg_kafka_rebalance_apply(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *parts, const char *component);

#endif
