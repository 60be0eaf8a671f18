/*
 * eg_opts: the settings of every binary, from one declarative table.
 *
 * Rules of this module:
 *  - eg_settings_t lives in caller storage: eg_settings_init() it, fill it
 *    with eg_settings_parse(), read it, eg_settings_release() it. The struct
 *    owns every string and array in it; release frees them all and leaves the
 *    struct zeroed (safe to release twice, or after a failed parse).
 *  - Precedence: table default < environment variable < command-line flag.
 *    An empty environment variable counts as unset. Environment variables of
 *    flags that the role does not take are ignored (one environment may serve
 *    several binaries); such flags on the command line are refused.
 *  - event-gateway (EG_ROLE_GATEWAY) takes every flag of every role, plus --dev.
 *  - To add a setting: a field here and one row in the table in eg_opts.c;
 *    parsing, the environment variable, --help and release follow from it.
 */
#ifndef EG_OPTS_H
#define EG_OPTS_H

#include <stddef.h>
#include <stdio.h>

#include "eg_log.h"

#define EG_VERSION "0.1.0"

/* Roles, a bitmask in the table; eg_settings_parse()/usage() take one role. */
enum {
    EG_ROLE_INGRESS = 1, /* eg-ingress */
    EG_ROLE_ROUTER = 2,  /* eg-router */
    EG_ROLE_INVOKER = 4, /* eg-invoker */
    EG_ROLE_GATEWAY = 8, /* event-gateway: all roles in one process */
};
#define EG_ROLE_ALL (EG_ROLE_INGRESS | EG_ROLE_ROUTER | EG_ROLE_INVOKER | EG_ROLE_GATEWAY)

/* Results of eg_settings_parse(); the values are the exit codes to use. */
enum {
    EG_SETTINGS_CONTINUE = 0, /* settings filled: run */
    EG_SETTINGS_EXIT = 1,     /* --help or --version printed: exit(0) */
    EG_SETTINGS_ERROR = 2,    /* message printed to err: exit(2) */
};

typedef struct eg_settings {
    int dev;                    /* --dev, EG_DEV (gateway only) */
    int events_port;            /* --events-port 4000, EG_EVENTS_PORT, 1..65535 */
    int config_port;            /* --config-port 4001, EG_CONFIG_PORT, 1..65535 */
    char *listen;               /* --listen 0.0.0.0, EG_LISTEN: address the HTTP APIs bind */
    char *embed_data_dir;       /* --embed-data-dir, EG_EMBED_DATA_DIR (gateway); NULL if unset */
    char *brokers;              /* --brokers, EG_KAFKA_BROKERS; NULL if unset */
    int kafka_mock;             /* --kafka-mock, EG_KAFKA_MOCK: the cluster of --brokers is
                                   librdkafka's mock cluster (another process's embedded
                                   broker): tune for it as --dev does. Told, never guessed. */
    char **kafka_props;         /* --kafka PROP=VALUE (repeatable), EG_KAFKA "p=v;p2=v2": every
                                   entry contains '='; env entries first, then flags, in order.
                                   NULL when empty, else NULL-terminated. */
    size_t kafka_props_count;   /* entries in kafka_props */
    char *topic_prefix;         /* --topic-prefix "eg.", EG_TOPIC_PREFIX */
    eg_log_level_t log_level;   /* --log-level info, EG_LOG_LEVEL */
    eg_log_format_t log_format; /* --log-format text, EG_LOG_FORMAT */
    long max_body_bytes;        /* --max-body-bytes 1048576, EG_MAX_BODY_BYTES, 1..1073741824 */
    int request_deadline_ms;    /* --request-deadline-ms 30000, EG_REQUEST_DEADLINE_MS */
    int write_timeout_ms;       /* --write-timeout-ms 10000, EG_WRITE_TIMEOUT_MS, 100..600000 */
    int max_eventtypes;         /* --max-eventtypes-per-space 10000 (ingress; 0: no limit) */
    int max_functions;          /* --max-functions-per-space 10000 (ingress; 0: no limit) */
    int max_subscriptions;      /* --max-subscriptions-per-space 10000 (ingress; 0: no limit) */
    int replication_factor;     /* --replication-factor -1 (broker default), -1..32 */
    int ingest_timeout_ms;      /* --ingest-timeout-ms 5000 (ingress): 503 past it */
    double ingest_linger_ms;    /* --ingest-linger-ms 0.1 (ingress): linger.ms of async events */
    int events_threads;         /* --events-threads 0 (auto; ingress): Events API event loops */
    int sync_timeout_ms;        /* --sync-timeout-ms 10000 (ingress): 504 past it */
    int sync_fetch_wait_ms;     /* --sync-fetch-wait-ms -1 (auto, eg_embedded_auto): router and
                                   sync invoker consumers */
    int reply_fetch_wait_ms;    /* --reply-fetch-wait-ms -1 (auto): the ingress's reply consumer */
    double sync_linger_ms;      /* --sync-linger-ms 0: producers on the sync path */
    int idle_probe_ms;          /* --idle-probe-ms -1 (auto): dozing of the sync-path consumers */
    char *pool;                 /* --pool default (invoker) */
    int retry_attempts;         /* --retry-attempts 5 (invoker) */
    int retry_base_ms;          /* --retry-base-ms 200 (invoker) */
    int retry_max_ms;           /* --retry-max-ms 30000 (invoker) */
    int function_timeout_ms;    /* --function-timeout-ms 10000 (invoker) */
    int max_inflight;           /* --max-inflight 2048 (invoker) */
    int max_inflight_per_function; /* --max-inflight-per-function 256 (invoker); 0 no limit */
    int partition_window;          /* --partition-window 512 (invoker) */
    int partitions;                /* --partitions 0 (auto): of topics the gateway creates */
    int reply_partitions;       /* --reply-partitions 0 (auto; ingress): of its own reply topic */
    int reply_topic_reap_ms;    /* --reply-topic-reap-ms 3600000 (ingress): idle time after which
                                   another ingress's reply topic is deleted; 0: never */
    int status_port;            /* --status-port, EG_STATUS_PORT (router, invoker); 0: off */
    char *instance_id;          /* --instance-id, EG_INSTANCE_ID; default "<hostname>-<pid>" */
    char *admin_key;            /* --admin-key, EG_ADMIN_KEY (ingress): opens every space; NULL
                                   if unset. Never logged. */
    int require_keys;           /* --require-keys, EG_REQUIRE_KEYS (ingress): spaces without
                                   access keys are closed too (admin key only) */
    int require_publish_keys;   /* --require-publish-keys, EG_REQUIRE_PUBLISH_KEYS (ingress): the
                                   Events API asks for keys as the Config API does */
    int max_hops;               /* --max-hops 8, EG_MAX_HOPS (ingress, invoker): events that went
                                   through more function calls than this are refused (loops) */
    char *function_deny_cidrs;  /* --function-deny-cidrs, EG_FUNCTION_DENY_CIDRS (invoker):
                                   addresses functions may not be called at; NULL if unset */
    char *function_allow_cidrs; /* --function-allow-cidrs, EG_FUNCTION_ALLOW_CIDRS (invoker):
                                   addresses allowed although a default denies them */
    long events_retention_ms;   /* --events-retention-ms 604800000 (7 days); -1: forever */
    int run_replays;            /* --run-replays true (router): run the replayer */
    int replay_max_rate;        /* --replay-max-rate 0 (router): replayed events/s, 0 unlimited */
} eg_settings_t;

/* The instance id made fit for names that must stay short (configuration
 * record ids, the ingress's reply topic, the router's transactional id): an
 * id of at most EG_INSTANCE_MAX characters is kept as it is; a longer one
 * keeps its first EG_INSTANCE_MAX - 9 characters, then '-' and 8 hex digits
 * of a hash of the whole id, so that long ids differing only in their tail
 * (the hostnames of one deployment, the pid) stay different. out: caller
 * storage of EG_INSTANCE_MAX + 1 bytes. */
#define EG_INSTANCE_MAX 32
void eg_settings_instance_fit(const char *id, char *out);

/* Fills *s with the table's defaults (and a generated instance_id). s is
 * caller storage, not yet initialised. */
void eg_settings_init(eg_settings_t *s);

/* Frees everything *s owns and zeroes it. */
void eg_settings_release(eg_settings_t *s);

/* Applies the environment, then argv[1..argc-1], to an initialised *s, for
 * one role (EG_ROLE_*). Flags: --name value, --name=value (a separate value
 * may not start with "--"); bools as --dev or --dev=true|false (also 1/0,
 * yes/no, on/off); --help/-h, --version; a later flag replaces an earlier one,
 * except --kafka which accumulates.
 * out (NULL = stdout) receives --help/--version; err (NULL = stderr) receives
 * one line naming the flag or variable and the accepted values, then
 * "Try '<prog> --help'.". <prog> is the basename of argv[0].
 * Returns EG_SETTINGS_CONTINUE, EG_SETTINGS_EXIT or EG_SETTINGS_ERROR. On
 * error *s is partially updated but still owned and releasable. */
int eg_settings_parse(eg_settings_t *s, int role, int argc, char **argv, FILE *out, FILE *err);

/* Prints usage, a description of the role and every flag it takes (with
 * environment variable, default and help), generated from the table. */
void eg_settings_usage(int role, const char *prog, FILE *out);

/* Finds --kafka NAME=VALUE (the last one wins). Returns 0 and sets *value
 * (borrowed from s, valid until release) or -1 if absent. value may be NULL. */
int eg_settings_kafka_prop(const eg_settings_t *s, const char *name, const char **value);

/* "eg-ingress", "eg-router", "eg-invoker", "event-gateway"; "event-gateway"
 * for anything else. Static storage. */
const char *eg_role_binary(int role);

#endif /* EG_OPTS_H */
