/*
 * eg_runtime: what every role of one process shares, and the common life of
 * a daemon.
 *
 * A runtime holds the settings, the Kafka cluster to use (the embedded one in
 * dev mode, started here), the topic names and the configuration log. The
 * roles (ingress, router, invoker) are started on one runtime: each binary
 * runs one role, event-gateway runs all three on one runtime, so all of them
 * see one configuration.
 *
 * eg_daemon_main is the whole main() of every binary: parse the settings
 * (exit 2 on bad ones), set up logging, build the runtime, start the roles,
 * wait for SIGINT/SIGTERM, stop the roles in reverse order and free all.
 */
#ifndef EG_RUNTIME_H
#define EG_RUNTIME_H

#include <cjson/cJSON.h>
#include <stdatomic.h>

#include "eg_backlog.h"
#include "eg_configlog.h"
#include "eg_embedded.h"
#include "eg_http.h"
#include "eg_kafka.h"
#include "eg_metrics.h"
#include "eg_opts.h"

/* The gateway's metric families (GET /metrics), registered by
 * eg_runtime_new; every role of the process updates the same ones. NULL
 * members are ignored by the eg_metric_* calls. */
typedef struct eg_runtime_metrics {
    eg_metric_t *events_received;  /* counter {space,type}: events stored in Kafka (ingress) */
    eg_metric_t *events_processed; /* counter {space,type}: events routed (router) */
    eg_metric_t *loops_refused;    /* counter {space}: 508s past --max-hops (ingress) */
    eg_metric_t *config_requests;  /* counter {space,resource,operation} (Config API) */
    eg_metric_t *eventtypes;       /* gauge {space}: objects in the configuration, */
    eg_metric_t *functions;        /*   computed when /metrics is read */
    eg_metric_t *subscriptions;
    eg_metric_t *invocations;         /* counter {space,function,result}: function calls,
                                         result "success" or "failure" (invoker) */
    eg_metric_t *invocation_duration; /* histogram {space,function}: seconds per call */
    eg_metric_t *retries;             /* counter {space,function}: retries scheduled */
    eg_metric_t *events_filtered;     /* counter {space,type}: events every matching
                                         subscription's filters kept out */
    eg_metric_t *dead_letters;        /* counter {space,function}: records dead-lettered */
    eg_metric_t *overflowed;          /* counter {space,function}: moved to the overflow topic */
    eg_metric_t *consumer_lag;        /* gauge {role,topic}: records behind the high watermark */
    eg_metric_t *in_flight;           /* gauge: function calls in progress */
    eg_metric_t *queued;              /* gauge: calls waiting for --max-inflight */
} eg_runtime_metrics_t;

/* --partitions 0 (and --reply-partitions 0): a cluster's topics get 8, the
 * embedded broker's 2. The mock walks a partition's list of batches from its
 * start on every fetch and answers with one batch per partition, so the same
 * load over fewer partitions makes fewer, fuller batches and shorter walks
 * (bench/README.md). */
/* A partition count setting (--partitions, --reply-partitions): value when
 * it is > 0, else the profile's (eg_embedded_t.partitions, .reply_partitions). */
int eg_runtime_partitions(int value, int profile_value);

typedef struct eg_runtime {
    const eg_settings_t *settings; /* borrowed */
    eg_mock_t *mock;               /* the embedded broker in dev mode, else NULL */
    const eg_embedded_t *embedded; /* what differs on the cluster (eg_embedded.h):
                                      eg_embedded_mock on librdkafka's mock cluster, ours
                                      (mock) or another process's, told by --kafka-mock (never
                                      guessed); eg_embedded_none otherwise */
    int partitions;                /* of the topics it creates: eg_runtime_partitions(
                                      --partitions) */
    char *brokers;                 /* the bootstrap servers every client uses */
    size_t max_record;             /* the largest record every topic of an event's way
                                      takes (eg_runtime_record_limit) */
    eg_topics_t topics;
    eg_configlog_t *config;
    eg_metrics_t *metrics; /* the process's registry */
    eg_runtime_metrics_t mx;
    struct eg_wakers *wakers; /* eg_runtime_wake's callbacks */
    eg_backlog_t *backlog;    /* on a mock cluster: what its bound per partition
                                 asks the ingress to hold (eg_backlog.h); else NULL */
    struct eg_faults *faults; /* eg_runtime_set_fault, eg_runtime_fail */
    /* Called first on SIGTERM/SIGINT, before any role stops: the ingress
     * closes its listening sockets there, so that a gateway started next can
     * bind the ports while this one drains. NULL: none. */
    void (*stop_accepting)(void *arg);
    void *stop_accepting_arg;
} eg_runtime_t;

/* Starts the embedded broker in dev mode; on any other cluster makes sure
 * the topics it needs exist (created when missing) and, on a real one, are
 * fit (the configuration log and the replays topic compacted: refused
 * otherwise); then starts the configuration log and waits (bounded) for it
 * to catch up. `writer`: the process takes Config API writes. NULL with a
 * message in err on failure. */
eg_runtime_t *eg_runtime_new(const eg_settings_t *s, int writer, char *err, size_t errlen);
void eg_runtime_free(eg_runtime_t *rt);

/* Makes sure a topic the gateway writes to exists, with --partitions
 * partitions and --replication-factor: on the embedded broker directly, else
 * with the Admin API through rk (any handle on the cluster), waiting at most
 * timeout_ms. A topic that exists already is left as it is. 0, or -1 with a
 * message in err (another process's embedded broker cannot create topics: a
 * producer's first record does, see eg_kafka_ensure_topic). */
int eg_runtime_ensure_topic(eg_runtime_t *rt, rd_kafka_t *rk, const char *topic, int timeout_ms,
                            char *err, size_t errlen);

/* Waking the dozing consumers of this process (eg_doze.h). A consumer on the
 * sync path dozes after a quiet second, and the first record after that
 * waits up to --idle-probe-ms per dozing hop. When the roles share a process
 * (event-gateway), the ingress knows first: it calls eg_runtime_wake when an
 * event comes in, and every registered waker ends its doze at once, so the
 * event finds the router and the sync invoker fetching. A waker runs on the
 * caller's thread with a lock held: it must only flag its role and wake its
 * thread (cheap when the role is awake). Roles in other processes are not
 * reached: they wake on their next fetch window. add: 0, or -1 when full. */
int eg_runtime_add_waker(eg_runtime_t *rt, void (*fn)(void *), void *arg);
void eg_runtime_remove_waker(eg_runtime_t *rt, void (*fn)(void *), void *arg);
void eg_runtime_wake(eg_runtime_t *rt);
/* A role's doze state, published: *flag (the role's, read by its waker)
 * becomes `dozing`, and the process counts its dozing roles, so that
 * eg_runtime_wake costs one atomic load per event while none dozes. Set it
 * back to 0 once the role's thread has stopped. */
void eg_runtime_doze_state(eg_runtime_t *rt, atomic_int *flag, int dozing);

/* A role that cannot do its work for a while (the router rebuilding its
 * transactional producer) says so: /v1/status answers 503, naming the role
 * and the reason, until the role clears it (reason NULL). One entry per
 * role name (at most 8 roles); any thread. */
void eg_runtime_set_fault(eg_runtime_t *rt, const char *role, const char *reason);

/* A role that cannot go on: logged, /v1/status answers 503, and the process
 * shuts down as on SIGTERM but exits 1, so that a supervisor restarts it.
 * Any thread; the role must still stop when its stop function is called. */
void eg_runtime_fail(eg_runtime_t *rt, const char *role, const char *reason);

/* The /v1/status document: {"status":"ok"|"starting"|"unavailable","kafka":
 * {"brokers","embedded","mock","topics":{…}},"config":{…}} ("mock": tuned
 * for a mock cluster, --dev or --kafka-mock; "faults":{role: reason} while a
 * role reports one). *ready is set to 1 once the configuration log has
 * caught up, no role reports a fault and, in dev mode (its own embedded
 * broker), every consumer of the process has held partitions: every route
 * works then. Caller frees. */
cJSON *eg_runtime_status(eg_runtime_t *rt, int *ready);

/* Answers GET /metrics: the configuration gauges are recomputed, then the
 * whole registry is rendered (Prometheus text format 0.0.4). */
enum MHD_Result eg_runtime_metrics_answer(eg_runtime_t *rt, struct MHD_Connection *conn);

/* Sets eventgateway_consumer_lag{role,topic} from the consumer
 * (eg_kafka_consumer_lag), at most once a second: *next_ms is the caller's
 * (start at 0). Call from the thread that polls the consumer. */
void eg_runtime_report_lag(eg_runtime_t *rt, rd_kafka_t *consumer, const char *role,
                           const char *topic, int64_t *next_ms);

/* A role that a binary can run. start returns the role's state or NULL with
 * a message; stop frees it (it must drain before it returns). */
typedef struct eg_role_ops {
    const char *name;
    void *(*start)(eg_runtime_t *rt, char *err, size_t errlen);
    void (*stop)(void *role);
} eg_role_ops_t;

/* main() of a binary: role is the EG_ROLE_* the settings are parsed for.
 * Returns the exit code. */
int eg_daemon_main(int role, int argc, char **argv, const eg_role_ops_t *const *roles,
                   size_t nroles);

#endif
