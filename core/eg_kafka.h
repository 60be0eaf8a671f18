/*
 * eg_kafka: the one place that talks to librdkafka's setup APIs.
 *
 * - builds client configurations from the settings (bootstrap servers, every
 *   --kafka PROP=VALUE, our log callback), so no role repeats that code;
 * - keeps the one table of the properties the gateway fixes (a consumer's
 *   group, its commits, a producer's acks and idempotence, ...): a role sets
 *   them with eg_kafka_conf_set, which takes no other name, and --kafka may
 *   not change them (eg_kafka_check_props, at start-up);
 * - checks the topics it depends on: the configuration log and the replays
 *   topic must be compacted, a topic with one replica on a cluster of several
 *   brokers is worth a warning; topics it creates get min.insync.replicas;
 * - names the topics the gateway owns (all under --topic-prefix);
 * - makes sure a topic exists: a metadata lookup first, then the Admin API's
 *   CreateTopics (real clusters); the embedded broker answers no CreateTopics,
 *   so dev mode creates its topics up front with rd_kafka_mock_topic_create;
 * - starts and stops the embedded broker (librdkafka's mock cluster), which
 *   listens on 127.0.0.1 and serves any other Kafka client (kcat, a second
 *   eg-ingress) for as long as the process that started it lives.
 *
 * Errors are returned as -1 with a message in the caller's buffer.
 */
#ifndef EG_KAFKA_H
#define EG_KAFKA_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>

#include "eg_opts.h"

/* Names of every topic the gateway owns; fixed-size buffers, filled once. */
typedef struct eg_topics {
    char config[256];          /* <prefix>config: 1 partition, compacted */
    char events[256];          /* <prefix>events */
    char dlq[256];             /* <prefix>dlq */
    char invoke_async[256];    /* <prefix>invoke.default.async: the default pool's */
    char invoke_sync[256];     /* <prefix>invoke.default.sync */
    char invoke_overflow[256]; /* <prefix>invoke.default.overflow */
    char replays[256];         /* <prefix>replays: compacted, one record per replay */
} eg_topics_t;

void eg_topics_init(eg_topics_t *t, const char *prefix);

/* The topics that carry events (all but config), for creating them. */
#define EG_TOPICS_DATA 5
const char *eg_topics_data(const eg_topics_t *t, size_t i);

/* The invocation topics of a pool: "<prefix>invoke.<pool>.<kind>". The
 * overflow topic holds the async invocations of a function past its share of
 * the async engine (--max-inflight-per-function): the longest name of the
 * three. */
typedef enum eg_invoke_kind {
    EG_INVOKE_ASYNC,
    EG_INVOKE_SYNC,
    EG_INVOKE_OVERFLOW,
} eg_invoke_kind_t;

void eg_topics_invoke(char *buf, size_t len, const char *prefix, const char *pool,
                      eg_invoke_kind_t kind);

/* Returns a new configuration with bootstrap.servers (from `brokers`, which
 * overrides settings->brokers when not NULL), every --kafka property and the
 * log callback. NULL with a message in err on a bad property. The caller owns
 * the result (it passes it to rd_kafka_new, which takes it over). */
rd_kafka_conf_t *eg_kafka_conf_new(const eg_settings_t *s, const char *brokers, char *err,
                                   size_t errlen);

/* rd_kafka_new that always takes over *conf (NULL after the call, whatever
 * happens: librdkafka keeps it on success, it is destroyed on failure) and
 * names the client in its error: "<what>: <librdkafka's reason>". NULL
 * *conf (a failed eg_kafka_conf_new) returns NULL and leaves err as is. */
rd_kafka_t *eg_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t **conf, const char *what, char *err,
                         size_t errlen);

/* Sets a property the gateway chose, unless the user gave it with --kafka
 * (the user's word wins: a default). -1 with message on error. */
int eg_kafka_conf_default(rd_kafka_conf_t *conf, const eg_settings_t *s, const char *name,
                          const char *value, char *err, size_t errlen);

/* Makes the consumer's thread for `topic` [partition] act on a pause or
 * resume now. librdkafka 2.0 serves those requests in the partition leader's
 * thread, which, with every partition paused, sleeps up to a second between
 * turns: a resume would take effect that much later. A request to that
 * broker (a latest-offset lookup) wakes it. It waits at most timeout_ms:
 * not rd_kafka_query_watermark_offsets, whose wait ignores its timeout while
 * the broker is unreachable (a minute and more: a SIGTERM during a Kafka
 * outage never ended the process). */
void eg_kafka_nudge(rd_kafka_t *rk, const char *topic, int32_t partition, int timeout_ms);

/* The low and high watermarks of topic [partition], within timeout_ms even
 * when the cluster is unreachable (rd_kafka_query_watermark_offsets can wait
 * far longer: see eg_kafka_nudge). */
rd_kafka_resp_err_t eg_kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition,
                                        int64_t *lo, int64_t *hi, int timeout_ms);

/* Sets a property the gateway fixes, whatever --kafka says (it cannot say
 * otherwise: eg_kafka_check_props). name must be a row of the table of fixed
 * properties in eg_kafka.c and value one its row accepts, when it names any:
 * else -1 with a message saying so (a new forced property goes in the table,
 * with its reason, and so in docs/operations.md). -1 with message on librdkafka's
 * refusal too. */
int eg_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                      size_t errlen);

/* Refuses --kafka (and EG_KAFKA) properties that would change one the
 * gateway fixes: 0, or -1 with a message in err naming the property, the
 * value the gateway accepts (if any: repeating it changes nothing) and why
 * it is fixed. Every binary checks this at start-up and exits 2. */
int eg_kafka_check_props(const eg_settings_t *s, char *err, size_t errlen);

/* Makes sure `topic` exists. If it does not, creates it with the Admin API
 * with `partitions` partitions, the settings' replication factor and the
 * given NULL-terminated list of "name", "value" topic configs, plus
 * min.insync.replicas = min(2, replication factor) when that factor (given,
 * or the brokers' default.replication.factor) is above 1 and the list does
 * not set it. Returns 0 when the topic exists (before or after), -1 with a
 * message otherwise. An existing topic is not looked at: eg_kafka_check_topic. */
int eg_kafka_ensure_topic(rd_kafka_t *rk, const char *topic, int partitions, int replication_factor,
                          const char *const *configs, int timeout_ms, char *err, size_t errlen);

/* Waits until the cluster's metadata shows `topic` with a leader for each
 * of its partitions (a topic just created has none for a moment): 0, or -1
 * with a message in err after timeout_ms. */
int eg_kafka_wait_topic(rd_kafka_t *rk, const char *topic, int timeout_ms, char *err,
                        size_t errlen);

/* Commits offsets and waits at most timeout_ms for the coordinator's answer
 * (rd_kafka_commit(..., async=0) waits without bound: in librdkafka 2.0.2 a
 * commit made from the rebalance callback of rd_kafka_consumer_close can stay
 * unanswered for ever). Returns the commit's error, or
 * RD_KAFKA_RESP_ERR__TIMED_OUT; partitions' own errors are in offsets. */
rd_kafka_resp_err_t eg_kafka_commit_wait(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *offsets,
                                         int timeout_ms);

/* Does a consumer of these settings use the cooperative rebalance protocol
 * (partition.assignment.strategy cooperative-sticky, the gateway's default,
 * unless --kafka says otherwise)? Rebalance callbacks ask this rather than
 * rd_kafka_rebalance_protocol(), which can hang when called from a callback
 * that rd_kafka_consumer_close runs (librdkafka#4041). */
int eg_kafka_cooperative(const eg_settings_t *s);

/* Leaves a subscribed consumer's group and closes it. In librdkafka 2.0.2,
 * rd_kafka_consumer_close hangs when an incremental assignment arrives while
 * it closes (librdkafka#4527); so first unsubscribe and serve the revocation
 * (the rebalance callback, with its commits) through rd_kafka_consumer_poll
 * until nothing is assigned or timeout_ms has passed, then close. Records
 * polled meanwhile are dropped: not committed, the next owner reads them.
 * The close is bounded too (EG_KAFKA_CLOSE_MS): rd_kafka_consumer_close
 * waits for ever when the cluster is unreachable (a SIGTERM while Kafka is
 * down never ended the process), so it runs in the background
 * (rd_kafka_consumer_close_queue) and is given up after that time. Then
 * destroy the handle with eg_kafka_consumer_destroy. */
void eg_kafka_consumer_leave(rd_kafka_t *rk, int timeout_ms);

/* Destroys a consumer eg_kafka_consumer_leave left, without closing it again
 * (a close given up on must not be retried without a bound). librdkafka
 * before 2.3.0 asserts in rd_kafka_destroy when a cooperative-sticky consumer
 * joined its group but never received an assignment (confluentinc/librdkafka
 * #4312: a SIGTERM during the first join aborted the process); such a handle,
 * already closed, is left to the process's exit instead (the assignor is
 * read from the handle's own configuration). ever_assigned: whether its
 * rebalance callback ever saw an assignment, even an empty one. */
void eg_kafka_consumer_destroy(rd_kafka_t *rk, int ever_assigned);
#define EG_KAFKA_LEAVE_MS 10000 /* the roles' bound on serving their revocation */
#define EG_KAFKA_CLOSE_MS 10000 /* eg_kafka_consumer_leave's bound on the close */

/* Reads the configuration of a resource (RD_KAFKA_RESOURCE_TOPIC and a
 * topic name, or RD_KAFKA_RESOURCE_BROKER and a broker id) with the Admin
 * API's DescribeConfigs: fn is called once per entry, value NULL when the
 * broker hides it (a secret), source an rd_kafka_ConfigSource_t (where the
 * value comes from: the topic's own, a broker's, the default). 0, or -1 with
 * a message in err (unreachable, unauthorised, unknown resource). */
typedef void eg_kafka_config_fn(const char *name, const char *value, int source, void *arg);
int eg_kafka_describe_configs(rd_kafka_t *rk, rd_kafka_ResourceType_t type, const char *name,
                              eg_kafka_config_fn *fn, void *arg, int timeout_ms, char *err,
                              size_t errlen);

/* Checks an existing topic the gateway depends on. `required`: a
 * NULL-terminated list of "name", "value" topic configs it must have (such
 * as cleanup.policy compact); one it has otherwise is -1 with a message in
 * err naming the topic, both values, what `why` says is lost, and how to fix
 * it. A topic whose configuration cannot be read (DescribeConfigs refused,
 * or no controller to ask: a mock cluster) is let through with a warning.
 * Logs a warning, too, when the topic has one replica on a cluster of
 * several brokers. 0 otherwise. */
int eg_kafka_check_topic(rd_kafka_t *rk, const char *topic, const char *const *required,
                         const char *why, int timeout_ms, char *err, size_t errlen);

/* Writes the partition numbers of l into buf as "0,2,5" (for logs), ending
 * in "..." when they do not fit; returns buf. */
const char *eg_kafka_partitions_str(const rd_kafka_topic_partition_list_t *l, char *buf,
                                    size_t len);

/* Subscribes a consumer to one topic: 0, or -1 with the reason in err. */
int eg_kafka_subscribe_one(rd_kafka_t *consumer, const char *topic, char *err, size_t errlen);

/* Number of partitions of an existing topic, or -1 (message in err). A
 * topic the broker asked does not know yet (just created: brokers learn it
 * one after the other) is asked for again within timeout_ms. */
int eg_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char *err,
                             size_t errlen);

/* Records of the consumer's assigned partitions not consumed yet: the sum
 * over partitions of (high watermark - position), from what librdkafka
 * already knows (no request to the broker); partitions with no position or
 * watermark yet count 0. Call from the thread that polls the consumer.
 * -1 when the assignment cannot be read. */
int64_t eg_kafka_consumer_lag(rd_kafka_t *consumer);

/* The embedded broker (dev mode). */
typedef struct eg_mock eg_mock_t;

/* Starts a one-broker mock cluster on 127.0.0.1 (a random free port). */
eg_mock_t *eg_mock_new(char *err, size_t errlen);
/* Bootstrap address "127.0.0.1:port"; owned by the mock. */
const char *eg_mock_bootstraps(const eg_mock_t *m);
/* Creates a topic on the embedded broker (no-op if it exists). */
int eg_mock_topic_create(eg_mock_t *m, const char *topic, int partitions, char *err, size_t errlen);
/* Creates every topic the gateway owns under t (the configuration log with
 * one partition, the data topics and the replays topic with `partitions`),
 * as dev mode does. */
int eg_mock_create_topics(eg_mock_t *m, const eg_topics_t *t, int partitions, char *err,
                          size_t errlen);
/* The underlying cluster, for fault injection in tests. */
struct rd_kafka_mock_cluster_s *eg_mock_cluster(eg_mock_t *m);
void eg_mock_free(eg_mock_t *m);

#endif
