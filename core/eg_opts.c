/*
 * eg_opts: command line, environment and --help of every binary, derived
 * from one table.
 *
 * Design
 *  - eg__opts[] below is the single source of truth: one row per setting with
 *    its flag, environment variable, type, default (as text, parsed exactly
 *    like user input, so a default can never disagree with validation),
 *    bounds or allowed values, the roles that take it, help text, and the
 *    offset of its field in eg_settings_t. The EG__INT()/EG__STR()/... offset
 *    macros check the field's C type at compile time, so a row cannot write an
 *    int into a char *.
 *  - Everything else is a loop over the table: eg_settings_init() applies the
 *    defaults, eg_settings_parse() the environment and then the flags,
 *    eg_settings_usage() prints the help, eg_settings_release() frees the
 *    string and list fields. Adding a setting is one field plus one row.
 *  - Roles: a row lists the binaries that take it; event-gateway takes every
 *    row. Environment variables of rows the role does not take are ignored (a
 *    shared environment must not break eg-router because EG_EVENTS_PORT is
 *    set); the same rows given as flags are errors.
 *  - Ownership: the settings struct owns every string (strdup'ed) and the
 *    kafka_props array. Replacing a value frees the old one.
 *  - No global state; the table is static const. Errors go to the caller's
 *    err stream as one line plus a "Try '<prog> --help'." hint.
 */
#include "eg_opts.h"
#include "eg_cidr.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "eg_alloc.h"

/* ---- the table ---------------------------------------------------------- */

typedef enum eg__opt_type {
    EG__OPT_BOOL,   /* int, 0/1 */
    EG__OPT_INT,    /* int within [min, max] */
    EG__OPT_LONG,   /* long within [min, max] */
    EG__OPT_DOUBLE, /* double within [min, max]: a decimal number ("0.3") */
    EG__OPT_STRING, /* char *, owned */
    EG__OPT_LIST,   /* char ** (NULL-terminated, owned) + size_t count; PROP=VALUE items */
    EG__OPT_ENUM,   /* int-sized enum: index into values[] */
} eg__opt_type_t;

typedef struct eg__opt {
    const char *name; /* long flag without "--" */
    const char *env;  /* environment variable, or NULL */
    eg__opt_type_t type;
    const char *def;            /* default as text; NULL: none (zero / NULL) */
    long min, max;              /* INT, LONG, DOUBLE */
    const char *const *values;  /* ENUM: NULL-terminated, index = stored value */
    int roles;                  /* EG_ROLE_* bits; event-gateway takes all rows anyway */
    const char *metavar;        /* value placeholder in --help */
    const char *help;           /* one line */
    size_t offset;              /* field in eg_settings_t */
    size_t count_offset;        /* LIST: its size_t count field */
    int (*check)(const char *); /* STRING: 0 when the value is valid (optional) */
    const char *accepts;        /* STRING with check: what is accepted, for error messages */
} eg__opt_t;

/* Field offsets, with a compile-time check of the field's type. */
#define EG__AT(f) offsetof(eg_settings_t, f)
#define EG__FIELD(f) (((eg_settings_t *)0)->f)
#define EG__BOOL(f) _Generic(EG__FIELD(f), int : EG__AT(f))
#define EG__INT(f) _Generic(EG__FIELD(f), int : EG__AT(f))
#define EG__LONG(f) _Generic(EG__FIELD(f), long : EG__AT(f))
#define EG__DOUBLE(f) _Generic(EG__FIELD(f), double : EG__AT(f))
#define EG__STR(f) _Generic(EG__FIELD(f), char * : EG__AT(f))
#define EG__LIST(f) _Generic(EG__FIELD(f), char ** : EG__AT(f))
#define EG__COUNT(f) _Generic(EG__FIELD(f), size_t : EG__AT(f))
#define EG__ENUM(f) (EG__AT(f) + 0 * sizeof(char[sizeof(EG__FIELD(f)) == sizeof(int) ? 1 : -1]))

#define EG__HTTP (EG_ROLE_INGRESS | EG_ROLE_GATEWAY)

/* Index = enum value. */
static const char *const eg__log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const eg__log_formats[] = {"text", "json", NULL};
_Static_assert(EG_LOG_LEVEL_DEBUG == 0 && EG_LOG_LEVEL_INFO == 1 && EG_LOG_LEVEL_WARN == 2 &&
                   EG_LOG_LEVEL_ERROR == 3,
               "eg__log_levels[] must follow eg_log_level_t");
_Static_assert(EG_LOG_FORMAT_TEXT == 0 && EG_LOG_FORMAT_JSON == 1,
               "eg__log_formats[] must follow eg_log_format_t");

/* One option per paragraph, its fields packed as one reads them. */
/* clang-format off */
static const eg__opt_t eg__opts[] = {
    {.name = "dev", .env = "EG_DEV", .type = EG__OPT_BOOL, .def = "false",
     .roles = EG_ROLE_GATEWAY,
     .help = "start an embedded Kafka (librdkafka mock cluster); no broker needed",
     .offset = EG__BOOL(dev)},
    {.name = "events-port", .env = "EG_EVENTS_PORT", .type = EG__OPT_INT, .def = "4000",
     .min = 1, .max = 65535, .roles = EG__HTTP, .metavar = "N",
     .help = "Events API port", .offset = EG__INT(events_port)},
    {.name = "config-port", .env = "EG_CONFIG_PORT", .type = EG__OPT_INT, .def = "4001",
     .min = 1, .max = 65535, .roles = EG__HTTP, .metavar = "N",
     .help = "Config API port (also /v1/status and /metrics)", .offset = EG__INT(config_port)},
    {.name = "status-port", .env = "EG_STATUS_PORT", .type = EG__OPT_INT, .def = "0",
     .min = 0, .max = 65535, .roles = EG_ROLE_ROUTER | EG_ROLE_INVOKER, .metavar = "N",
     .help = "serve GET /v1/status on this port (0: off)", .offset = EG__INT(status_port)},
    {.name = "listen", .env = "EG_LISTEN", .type = EG__OPT_STRING, .def = "0.0.0.0",
     .roles = EG_ROLE_ALL, .metavar = "ADDR",
     .help = "address the HTTP servers bind", .offset = EG__STR(listen)},
    {.name = "embed-data-dir", .env = "EG_EMBED_DATA_DIR", .type = EG__OPT_STRING,
     .roles = EG_ROLE_GATEWAY, .metavar = "DIR",
     .help = "accepted for event-gateway 0.9 compatibility; where dev mode keeps its data",
     .offset = EG__STR(embed_data_dir)},
    {.name = "brokers", .env = "EG_KAFKA_BROKERS", .type = EG__OPT_STRING, .roles = EG_ROLE_ALL,
     .metavar = "LIST", .help = "Kafka bootstrap servers, host:port[,host:port...]",
     .offset = EG__STR(brokers)},
    {.name = "kafka", .env = "EG_KAFKA", .type = EG__OPT_LIST, .roles = EG_ROLE_ALL,
     .metavar = "PROP=VALUE",
     .help = "any librdkafka property but those the gateway fixes (bootstrap.servers, group.id, "
             "transactional.id, acks, ...: refused at start); repeatable (environment: separated "
             "by ';')",
     .offset = EG__LIST(kafka_props), .count_offset = EG__COUNT(kafka_props_count)},
    {.name = "kafka-mock", .env = "EG_KAFKA_MOCK", .type = EG__OPT_BOOL, .def = "false",
     .roles = EG_ROLE_ALL,
     .help = "the cluster of --brokers is librdkafka's mock cluster (another process's embedded "
             "broker, such as eg-fault-broker): tune for it as dev mode does (see --partitions and "
             "the -1 defaults)",
     .offset = EG__BOOL(kafka_mock)},
    {.name = "topic-prefix", .env = "EG_TOPIC_PREFIX", .type = EG__OPT_STRING, .def = "eg.",
     .roles = EG_ROLE_ALL, .metavar = "P", .help = "prefix of every topic the gateway owns",
     .offset = EG__STR(topic_prefix)},
    {.name = "log-level", .env = "EG_LOG_LEVEL", .type = EG__OPT_ENUM, .def = "info",
     .values = eg__log_levels, .roles = EG_ROLE_ALL, .metavar = "LEVEL",
     .help = "least severe level logged", .offset = EG__ENUM(log_level)},
    {.name = "log-format", .env = "EG_LOG_FORMAT", .type = EG__OPT_ENUM, .def = "text",
     .values = eg__log_formats, .roles = EG_ROLE_ALL, .metavar = "FORMAT",
     .help = "log line format", .offset = EG__ENUM(log_format)},
    {.name = "max-body-bytes", .env = "EG_MAX_BODY_BYTES", .type = EG__OPT_LONG,
     .def = "1048576", .min = 1, .max = 1073741824L, .roles = EG__HTTP, .metavar = "N",
     .help = "largest request body accepted; larger bodies get 413",
     .offset = EG__LONG(max_body_bytes)},
    {.name = "request-deadline-ms", .env = "EG_REQUEST_DEADLINE_MS", .type = EG__OPT_INT,
     .def = "30000", .min = 100, .max = 3600000, .roles = EG__HTTP, .metavar = "MS",
     .help = "how long a request's head and body may take to arrive, in all; a connection "
             "that has not sent a whole request within it is closed (slow clients)",
     .offset = EG__INT(request_deadline_ms)},
    {.name = "write-timeout-ms", .env = "EG_WRITE_TIMEOUT_MS", .type = EG__OPT_INT,
     .def = "10000", .min = 100, .max = 600000, .roles = EG__HTTP, .metavar = "MS",
     .help = "how long a Config API write waits to read its record back from the config log",
     .offset = EG__INT(write_timeout_ms)},
    {.name = "max-eventtypes-per-space", .env = "EG_MAX_EVENTTYPES_PER_SPACE", .type = EG__OPT_INT,
     .def = "10000", .min = 0, .max = 100000000, .roles = EG__HTTP, .metavar = "N",
     .help = "event types a space may hold; a create past it gets 429 (0: no limit)",
     .offset = EG__INT(max_eventtypes)},
    {.name = "max-functions-per-space", .env = "EG_MAX_FUNCTIONS_PER_SPACE", .type = EG__OPT_INT,
     .def = "10000", .min = 0, .max = 100000000, .roles = EG__HTTP, .metavar = "N",
     .help = "functions a space may hold; a create past it gets 429 (0: no limit)",
     .offset = EG__INT(max_functions)},
    {.name = "max-subscriptions-per-space", .env = "EG_MAX_SUBSCRIPTIONS_PER_SPACE",
     .type = EG__OPT_INT, .def = "10000", .min = 0, .max = 100000000, .roles = EG__HTTP,
     .metavar = "N",
     .help = "subscriptions a space may hold; a create past it gets 429 (0: no limit)",
     .offset = EG__INT(max_subscriptions)},
    {.name = "partitions", .env = "EG_PARTITIONS", .type = EG__OPT_INT, .def = "0", .min = 0,
     .max = 10000, .roles = EG_ROLE_ALL, .metavar = "N",
     .help = "partitions of the events, invocation and dead-letter topics the gateway creates; "
             "0: 8 on a cluster, 2 on the embedded broker (it walks a partition's whole log on "
             "every fetch: fewer, fuller partitions are faster there)",
     .offset = EG__INT(partitions)},
    {.name = "reply-partitions", .env = "EG_REPLY_PARTITIONS", .type = EG__OPT_INT, .def = "0",
     .min = 0, .max = 64, .roles = EG__HTTP, .metavar = "N",
     .help = "partitions of the reply topic an ingress creates for itself (sync replies spread "
             "over them by correlation id); 0: 1 on a cluster (one consumer reads them all), 2 on "
             "the embedded broker",
     .offset = EG__INT(reply_partitions)},
    {.name = "reply-topic-reap-ms", .env = "EG_REPLY_TOPIC_REAP_MS", .type = EG__OPT_INT,
     .def = "3600000", .min = 0, .max = 2000000000, .roles = EG__HTTP, .metavar = "MS",
     .help = "an ingress deletes another ingress's reply topic once it has seen no record written "
             "to it for this long (each ingress writes to its own every twelfth of it, 5 minutes "
             "at most); give every ingress of a deployment the same value; 0: delete none",
     .offset = EG__INT(reply_topic_reap_ms)},
    {.name = "replication-factor", .env = "EG_REPLICATION_FACTOR", .type = EG__OPT_INT,
     .def = "-1", .min = -1, .max = 32, .roles = EG_ROLE_ALL, .metavar = "N",
     .help = "replication factor of topics the gateway creates; -1: broker default",
     .offset = EG__INT(replication_factor)},
    {.name = "ingest-timeout-ms", .env = "EG_INGEST_TIMEOUT_MS", .type = EG__OPT_INT,
     .def = "5000", .min = 100, .max = 600000, .roles = EG__HTTP, .metavar = "MS",
     .help = "how long an event may wait for Kafka to store it before the answer is 503",
     .offset = EG__INT(ingest_timeout_ms)},
    {.name = "events-threads", .env = "EG_EVENTS_THREADS", .type = EG__OPT_INT, .def = "0",
     .min = 0, .max = 16, .roles = EG__HTTP, .metavar = "N",
     .help = "event-loop threads of the Events API, each serving its share of the connections; "
             "0: half the CPUs (1 to 8)",
     .offset = EG__INT(events_threads)},
    {.name = "ingest-linger-ms", .env = "EG_INGEST_LINGER_MS", .type = EG__OPT_DOUBLE,
     .def = "0.1", .min = 0, .max = 1000, .roles = EG__HTTP, .metavar = "MS",
     .help = "how long the events producer gathers async events into one batch (linger.ms; "
             "decimals allowed)",
     .offset = EG__DOUBLE(ingest_linger_ms)},
    {.name = "sync-timeout-ms", .env = "EG_SYNC_TIMEOUT_MS", .type = EG__OPT_INT,
     .def = "10000", .min = 10, .max = 900000, .roles = EG__HTTP, .metavar = "MS",
     .help = "how long a sync request waits for its function's answer before the answer is 504",
     .offset = EG__INT(sync_timeout_ms)},
    {.name = "sync-fetch-wait-ms", .env = "EG_SYNC_FETCH_WAIT_MS", .type = EG__OPT_INT,
     .def = "-1", .min = -1, .max = 500, .roles = EG_ROLE_ALL, .metavar = "MS",
     .help = "fetch.wait.max.ms of the router's events consumer and the sync invoker's "
             "consumer; -1: 1 on the embedded broker (which answers only when it runs out), "
             "100 on a real cluster (which answers as soon as data arrives)",
     .offset = EG__INT(sync_fetch_wait_ms)},
    {.name = "reply-fetch-wait-ms", .env = "EG_REPLY_FETCH_WAIT_MS", .type = EG__OPT_INT,
     .def = "-1", .min = -1, .max = 500, .roles = EG__HTTP, .metavar = "MS",
     .help = "fetch.wait.max.ms of the ingress's reply consumer while at most 4 sync requests "
             "wait (more: --sync-fetch-wait-ms); -1: 0 on the embedded broker, 100 on a real "
             "cluster",
     .offset = EG__INT(reply_fetch_wait_ms)},
    {.name = "sync-linger-ms", .env = "EG_SYNC_LINGER_MS", .type = EG__OPT_DOUBLE,
     .def = "0", .min = 0, .max = 1000, .roles = EG_ROLE_ALL, .metavar = "MS",
     .help = "linger.ms of the producers on the sync path (the ingress's sync events, the "
             "router's sync invocations, the invokers' replies)",
     .offset = EG__DOUBLE(sync_linger_ms)},
    {.name = "idle-probe-ms", .env = "EG_IDLE_PROBE_MS", .type = EG__OPT_INT,
     .def = "-1", .min = -1, .max = 10000,
     .roles = EG_ROLE_ROUTER | EG_ROLE_INVOKER | EG_ROLE_GATEWAY, .metavar = "MS",
     .help = "after a second without records, the router's and the sync invoker's consumers "
             "fetch only once every MS until a record comes; 0: never; -1: 50 on the embedded "
             "broker, 0 on a real cluster",
     .offset = EG__INT(idle_probe_ms)},
    {.name = "pool", .env = "EG_POOL", .type = EG__OPT_STRING, .def = "default",
     .roles = EG_ROLE_INVOKER | EG_ROLE_GATEWAY, .metavar = "NAME",
     .help = "invoker pool this process serves (its own invocation topics)",
     .offset = EG__STR(pool)},
    {.name = "retry-attempts", .env = "EG_RETRY_ATTEMPTS", .type = EG__OPT_INT, .def = "5",
     .min = 1, .max = 100, .roles = EG_ROLE_INVOKER | EG_ROLE_GATEWAY, .metavar = "N",
     .help = "calls of an async invocation before it goes to the dead-letter topic",
     .offset = EG__INT(retry_attempts)},
    {.name = "retry-base-ms", .env = "EG_RETRY_BASE_MS", .type = EG__OPT_INT, .def = "200",
     .min = 1, .max = 3600000, .roles = EG_ROLE_INVOKER | EG_ROLE_GATEWAY, .metavar = "MS",
     .help = "first retry delay; doubles each attempt, with jitter",
     .offset = EG__INT(retry_base_ms)},
    {.name = "retry-max-ms", .env = "EG_RETRY_MAX_MS", .type = EG__OPT_INT, .def = "30000",
     .min = 1, .max = 86400000, .roles = EG_ROLE_INVOKER | EG_ROLE_GATEWAY, .metavar = "MS",
     .help = "longest retry delay", .offset = EG__INT(retry_max_ms)},
    {.name = "function-timeout-ms", .env = "EG_FUNCTION_TIMEOUT_MS", .type = EG__OPT_INT,
     .def = "10000", .min = 10, .max = 900000, .roles = EG_ROLE_INVOKER | EG_ROLE_GATEWAY,
     .metavar = "MS", .help = "how long one function call may take",
     .offset = EG__INT(function_timeout_ms)},
    {.name = "max-inflight", .env = "EG_MAX_INFLIGHT", .type = EG__OPT_INT, .def = "2048",
     .min = 1, .max = 100000, .roles = EG_ROLE_INVOKER | EG_ROLE_GATEWAY, .metavar = "N",
     .help = "function calls in flight, async and sync each (a call due past it waits for "
             "one to end)",
     .offset = EG__INT(max_inflight)},
    {.name = "max-inflight-per-function", .env = "EG_MAX_INFLIGHT_PER_FUNCTION",
     .type = EG__OPT_INT, .def = "256", .min = 0, .max = 100000,
     .roles = EG_ROLE_INVOKER | EG_ROLE_GATEWAY, .metavar = "N",
     .help = "async invocations of one function worked on at once; its further records move "
             "to the pool's overflow topic, so a slow function cannot hold the others' "
             "partitions (0: no limit)",
     .offset = EG__INT(max_inflight_per_function)},
    {.name = "partition-window", .env = "EG_PARTITION_WINDOW", .type = EG__OPT_INT,
     .def = "512", .min = 1, .max = 100000, .roles = EG_ROLE_INVOKER | EG_ROLE_GATEWAY,
     .metavar = "N",
     .help = "invocations of one partition worked on at once (past the oldest unfinished one)",
     .offset = EG__INT(partition_window)},
    {.name = "instance-id", .env = "EG_INSTANCE_ID", .type = EG__OPT_STRING,
     .roles = EG_ROLE_ALL, .metavar = "ID",
     .help = "stable name of this process (default: <hostname>-<pid>)",
     .offset = EG__STR(instance_id)},
    {.name = "admin-key", .env = "EG_ADMIN_KEY", .type = EG__OPT_STRING, .roles = EG__HTTP,
     .metavar = "KEY",
     .help = "admin key of the Config API: valid for every space, needed to create access keys "
             "(prefer the environment variable: flags show in ps)",
     .offset = EG__STR(admin_key)},
    {.name = "require-keys", .env = "EG_REQUIRE_KEYS", .type = EG__OPT_BOOL, .def = "false",
     .roles = EG__HTTP,
     .help = "a space without access keys is closed too: only the admin key opens it",
     .offset = EG__BOOL(require_keys)},
    {.name = "require-publish-keys", .env = "EG_REQUIRE_PUBLISH_KEYS", .type = EG__OPT_BOOL,
     .def = "false", .roles = EG__HTTP,
     .help = "the Events API asks for access keys as the Config API does: publishing to a space "
             "with keys needs one of them or the admin key (Authorization: bearer KEY)",
     .offset = EG__BOOL(require_publish_keys)},
    {.name = "max-hops", .env = "EG_MAX_HOPS", .type = EG__OPT_INT, .def = "8", .min = 1,
     .max = 1000, .roles = EG__HTTP | EG_ROLE_INVOKER, .metavar = "N",
     .help = "an event that comes back after more function calls than this (the Eg-Hops header "
             "the gateway sends with each call) is refused with 508: a loop",
     .offset = EG__INT(max_hops)},
    {.name = "function-deny-cidrs", .env = "EG_FUNCTION_DENY_CIDRS", .type = EG__OPT_STRING,
     .roles = EG_ROLE_INVOKER, .metavar = "CIDRS", .check = eg_cidr_list_valid,
     .accepts = "comma-separated address blocks (10.0.0.0/8,fd00::/8)",
     .help = "addresses no function is called at, checked on each connection's resolved address "
             "(added to the defaults: link-local, and this host's addresses on the gateway's "
             "own ports; loopback too, except in dev mode)",
     .offset = EG__STR(function_deny_cidrs)},
    {.name = "function-allow-cidrs", .env = "EG_FUNCTION_ALLOW_CIDRS", .type = EG__OPT_STRING,
     .roles = EG_ROLE_INVOKER, .metavar = "CIDRS", .check = eg_cidr_list_valid,
     .accepts = "comma-separated address blocks (127.0.0.0/8,::1/128)",
     .help = "addresses functions may be called at although a default denies them (e.g. "
             "127.0.0.0/8 for functions on this host); the longest matching block of the two "
             "lists decides, deny on a tie",
     .offset = EG__STR(function_allow_cidrs)},
    {.name = "events-retention-ms", .env = "EG_EVENTS_RETENTION_MS", .type = EG__OPT_LONG,
     .def = "604800000", .min = -1, .max = 3153600000000L, .roles = EG_ROLE_ALL, .metavar = "MS",
     .help = "retention.ms of the events topic (the history replays read) when the gateway "
             "creates it; -1: forever",
     .offset = EG__LONG(events_retention_ms)},
    {.name = "run-replays", .env = "EG_RUN_REPLAYS", .type = EG__OPT_BOOL, .def = "true",
     .roles = EG_ROLE_ROUTER, .help = "run replays (consumer group <prefix>replayer); "
                                      "--run-replays=false leaves them to other routers",
     .offset = EG__BOOL(run_replays)},
    {.name = "replay-max-rate", .env = "EG_REPLAY_MAX_RATE", .type = EG__OPT_INT, .def = "0",
     .min = 0, .max = 10000000, .roles = EG_ROLE_ROUTER, .metavar = "N",
     .help = "events per second a replay re-delivers at most (0: unlimited)",
     .offset = EG__INT(replay_max_rate)},
};
/* clang-format on */

#define EG__NOPTS (sizeof eg__opts / sizeof eg__opts[0])

static const struct {
    int role;
    const char *binary;
    const char *about;
} eg__roles[] = {
    {EG_ROLE_INGRESS, "eg-ingress",
     "Serves the Events API and the Config API over HTTP. Accepted events and\n"
     "configuration changes are written to Kafka; a request matched by a sync\n"
     "subscription waits for the function's reply. Run any number of instances."},
    {EG_ROLE_ROUTER, "eg-router",
     "Consumes the events topic and writes one invocation record per matching\n"
     "subscription to the invocation topics. Instances share the work through a\n"
     "Kafka consumer group."},
    {EG_ROLE_INVOKER, "eg-invoker",
     "Consumes the invocation topics and calls the functions (HTTP, AWS Lambda,\n"
     "Kafka), retrying failures with backoff; writes sync replies, and sends\n"
     "invocations that exhausted their retries to the dead-letter topic."},
    {EG_ROLE_GATEWAY, "event-gateway",
     "Runs the ingress, router and invoker roles in one process. With --dev it\n"
     "also starts an embedded Kafka cluster, so that nothing else is needed."},
};

const char *eg_role_binary(int role)
{
    for (size_t i = 0; i < sizeof eg__roles / sizeof eg__roles[0]; i++)
        if (eg__roles[i].role == role)
            return eg__roles[i].binary;
    return "event-gateway";
}

static int eg__applies(const eg__opt_t *o, int role)
{
    if (role & EG_ROLE_GATEWAY)
        return 1;
    return (o->roles & role) != 0;
}

static const eg__opt_t *eg__find(const char *name, size_t len)
{
    for (size_t i = 0; i < EG__NOPTS; i++)
        if (strlen(eg__opts[i].name) == len && memcmp(eg__opts[i].name, name, len) == 0)
            return &eg__opts[i];
    return NULL;
}

/* ---- values ------------------------------------------------------------- */

static void *eg__slot(eg_settings_t *s, size_t offset)
{
    return (char *)s + offset;
}

/* "what is accepted", for error messages. */
static void eg__expect(const eg__opt_t *o, char *buf, size_t len)
{
    size_t n;
    switch (o->type) {
    case EG__OPT_BOOL:
        snprintf(buf, len, "true or false");
        break;
    case EG__OPT_INT:
    case EG__OPT_LONG:
        snprintf(buf, len, "an integer in %ld..%ld", o->min, o->max);
        break;
    case EG__OPT_DOUBLE:
        snprintf(buf, len, "a number in %ld..%ld", o->min, o->max);
        break;
    case EG__OPT_STRING:
        snprintf(buf, len, "%s", o->accepts ? o->accepts : "a value");
        break;
    case EG__OPT_LIST:
        snprintf(buf, len, "PROP=VALUE (a librdkafka property)");
        break;
    case EG__OPT_ENUM:
        n = (size_t)snprintf(buf, len, "one of");
        for (size_t i = 0; o->values[i] && n < len; i++)
            n += (size_t)snprintf(buf + n, len - n, "%s %s", i ? "," : "", o->values[i]);
        break;
    }
}

static int eg__parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int eg__parse_num(const char *v, long min, long max, long *out)
{
    char *end;
    if (!*v || isspace((unsigned char)*v))
        return -1;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < min || x > max)
        return -1;
    *out = (long)x;
    return 0;
}

/* A plain decimal number ("0.3", "2", not "-1", "1e3", "nan" or " 1") within
 * [min, max]. */
static int eg__parse_decimal(const char *v, long min, long max, double *out)
{
    char *end;
    if (!*v || strspn(v, "0123456789.") != strlen(v))
        return -1;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || x < (double)min || x > (double)max)
        return -1;
    *out = x;
    return 0;
}

static void eg__list_append(eg_settings_t *s, const eg__opt_t *o, const char *item, size_t len)
{
    char ***arr = eg__slot(s, o->offset);
    size_t *count = eg__slot(s, o->count_offset);
    *arr = eg_xrealloc(*arr, (*count + 2) * sizeof **arr);
    (*arr)[(*count)++] = eg_xstrndup(item, len);
    (*arr)[*count] = NULL;
}

/* A librdkafka property: a non-empty name, '=', any value. */
static int eg__valid_prop(const char *item, size_t len)
{
    const char *eq = memchr(item, '=', len);
    return eq && eq != item;
}

/* Applies one textual value to o's field. 0 ok, -1 invalid. Lists: one item. */
static int eg__set(eg_settings_t *s, const eg__opt_t *o, const char *v)
{
    void *slot = eg__slot(s, o->offset);
    long num;
    int b;
    switch (o->type) {
    case EG__OPT_BOOL:
        if (eg__parse_bool(v, &b))
            return -1;
        *(int *)slot = b;
        return 0;
    case EG__OPT_INT:
        if (eg__parse_num(v, o->min, o->max, &num))
            return -1;
        *(int *)slot = (int)num;
        return 0;
    case EG__OPT_LONG:
        if (eg__parse_num(v, o->min, o->max, &num))
            return -1;
        *(long *)slot = num;
        return 0;
    case EG__OPT_DOUBLE:
        return eg__parse_decimal(v, o->min, o->max, (double *)slot);
    case EG__OPT_ENUM:
        for (int i = 0; o->values[i]; i++) {
            if (strcasecmp(v, o->values[i]) == 0) {
                *(int *)slot = i;
                return 0;
            }
        }
        return -1;
    case EG__OPT_STRING: {
        if (o->check && o->check(v))
            return -1;
        char *copy = eg_xstrdup(v);
        free(*(char **)slot);
        *(char **)slot = copy;
        return 0;
    }
    case EG__OPT_LIST:
        if (!eg__valid_prop(v, strlen(v)))
            return -1;
        eg__list_append(s, o, v, strlen(v));
        return 0;
    }
    return -1;
}

/* ---- init / release ----------------------------------------------------- */

static char *eg__default_instance_id(void)
{
    char host[256];
    char id[300];
    if (gethostname(host, sizeof host) != 0 || !host[0])
        snprintf(host, sizeof host, "eg");
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            *p = '_';
    snprintf(id, sizeof id, "%s-%ld", host, (long)getpid());
    return eg_xstrdup(id);
}

void eg_settings_init(eg_settings_t *s)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < EG__NOPTS; i++)
        if (eg__opts[i].def)
            (void)eg__set(s, &eg__opts[i], eg__opts[i].def); /* valid: see test_opts */
    if (!s->instance_id)
        s->instance_id = eg__default_instance_id();
}

void eg_settings_release(eg_settings_t *s)
{
    for (size_t i = 0; i < EG__NOPTS; i++) {
        const eg__opt_t *o = &eg__opts[i];
        if (o->type == EG__OPT_STRING) {
            free(*(char **)eg__slot(s, o->offset));
        } else if (o->type == EG__OPT_LIST) {
            char **arr = *(char ***)eg__slot(s, o->offset);
            size_t count = *(size_t *)eg__slot(s, o->count_offset);
            for (size_t j = 0; j < count; j++)
                free(arr[j]);
            free(arr);
        }
    }
    memset(s, 0, sizeof *s);
}

int eg_settings_kafka_prop(const eg_settings_t *s, const char *name, const char **value)
{
    size_t len = strlen(name);
    for (size_t i = s->kafka_props_count; i-- > 0;) {
        const char *p = s->kafka_props[i];
        if (strncmp(p, name, len) == 0 && p[len] == '=') {
            if (value)
                *value = p + len + 1;
            return 0;
        }
    }
    return -1;
}

/* ---- usage -------------------------------------------------------------- */

static void eg__flag_column(const eg__opt_t *o, char *buf, size_t len)
{
    if (o->type == EG__OPT_BOOL || !o->metavar)
        snprintf(buf, len, "--%s", o->name);
    else
        snprintf(buf, len, "--%s %s", o->name, o->metavar);
}

/* Help text plus accepted values and default, e.g. "Events API port (1..65535; default: 4000)". */
static void eg__help_column(const eg__opt_t *o, char *buf, size_t len)
{
    char what[256] = "";
    char def[128] = "";
    switch (o->type) {
    case EG__OPT_INT:
    case EG__OPT_LONG:
    case EG__OPT_DOUBLE:
        snprintf(what, sizeof what, "%ld..%ld", o->min, o->max);
        break;
    case EG__OPT_ENUM: {
        size_t n = 0;
        for (size_t i = 0; o->values[i] && n < sizeof what; i++)
            n += (size_t)snprintf(what + n, sizeof what - n, "%s%s", i ? ", " : "", o->values[i]);
        break;
    }
    default:
        break;
    }
    if (o->type == EG__OPT_BOOL) {
        int on = 0;
        if (o->def && eg__parse_bool(o->def, &on) == 0 && on)
            snprintf(def, sizeof def, "default: on");
    } else if (o->def) {
        snprintf(def, sizeof def, "default: %s", o->def);
    }
    if (what[0] && def[0])
        snprintf(buf, len, "%s (%s; %s)", o->help, what, def);
    else if (what[0] || def[0])
        snprintf(buf, len, "%s (%s)", o->help, what[0] ? what : def);
    else
        snprintf(buf, len, "%s", o->help);
}

void eg_settings_usage(int role, const char *prog, FILE *out)
{
    const char *about = eg__roles[3].about;
    char flag[128];
    char help[512];
    int wflag = (int)strlen("-h, --help");
    int wenv = 0;

    if (!out)
        out = stdout;
    if (!prog)
        prog = eg_role_binary(role);
    for (size_t i = 0; i < sizeof eg__roles / sizeof eg__roles[0]; i++)
        if (eg__roles[i].role == role)
            about = eg__roles[i].about;

    for (size_t i = 0; i < EG__NOPTS; i++) {
        const eg__opt_t *o = &eg__opts[i];
        if (!eg__applies(o, role))
            continue;
        eg__flag_column(o, flag, sizeof flag);
        if ((int)strlen(flag) > wflag)
            wflag = (int)strlen(flag);
        if (o->env && (int)strlen(o->env) > wenv)
            wenv = (int)strlen(o->env);
    }

    fprintf(out, "Usage: %s [OPTION]...\n\n%s\n\n", prog, about);
    fprintf(out, "Options (each can also be set by the environment variable shown;\n"
                 "flags override the environment):\n");
    for (size_t i = 0; i < EG__NOPTS; i++) {
        const eg__opt_t *o = &eg__opts[i];
        if (!eg__applies(o, role))
            continue;
        eg__flag_column(o, flag, sizeof flag);
        eg__help_column(o, help, sizeof help);
        fprintf(out, "  %-*s  %-*s  %s\n", wflag, flag, wenv, o->env ? o->env : "", help);
    }
    fprintf(out, "  %-*s  %-*s  %s\n", wflag, "-h, --help", wenv, "", "print this help and exit");
    fprintf(out, "  %-*s  %-*s  %s\n", wflag, "--version", wenv, "", "print the version and exit");
}

/* ---- parsing ------------------------------------------------------------ */

typedef struct eg__ctx {
    const char *prog;
    FILE *err;
} eg__ctx_t;

__attribute__((format(printf, 2, 3))) static int eg__fail(const eg__ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(c->err, "%s: ", c->prog);
    va_start(ap, fmt);
    vfprintf(c->err, fmt, ap);
    va_end(ap);
    fprintf(c->err, "\nTry '%s --help'.\n", c->prog);
    return EG_SETTINGS_ERROR;
}

/* The binaries that take o, e.g. "eg-ingress, event-gateway". */
static void eg__owners(const eg__opt_t *o, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof eg__roles / sizeof eg__roles[0] && n < len; i++)
        if ((o->roles & eg__roles[i].role) || eg__roles[i].role == EG_ROLE_GATEWAY)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", eg__roles[i].binary);
}

/* where: the flag ("--events-port") or variable ("EG_EVENTS_PORT") v came from. */
static int eg__apply(const eg__ctx_t *c, eg_settings_t *s, const eg__opt_t *o, const char *v,
                     const char *where)
{
    char expect[256];
    if (eg__set(s, o, v) == 0)
        return 0;
    eg__expect(o, expect, sizeof expect);
    return eg__fail(c, "invalid value '%s' for %s: expected %s", v, where, expect);
}

static int eg__apply_env(const eg__ctx_t *c, eg_settings_t *s, int role)
{
    for (size_t i = 0; i < EG__NOPTS; i++) {
        const eg__opt_t *o = &eg__opts[i];
        const char *v;
        if (!o->env || !eg__applies(o, role))
            continue;
        v = getenv(o->env);
        if (!v || !*v)
            continue;
        if (o->type != EG__OPT_LIST) {
            if (eg__apply(c, s, o, v, o->env))
                return EG_SETTINGS_ERROR;
            continue;
        }
        /* A list: items separated by ';', blanks around items ignored. */
        while (*v) {
            const char *end = strchr(v, ';');
            size_t len = end ? (size_t)(end - v) : strlen(v);
            const char *next = end ? end + 1 : v + len;
            while (len && isspace((unsigned char)*v)) {
                v++;
                len--;
            }
            while (len && isspace((unsigned char)v[len - 1]))
                len--;
            if (len) {
                if (!eg__valid_prop(v, len)) {
                    char expect[256];
                    eg__expect(o, expect, sizeof expect);
                    return eg__fail(c, "invalid item '%.*s' in %s: expected %s", (int)len, v,
                                    o->env, expect);
                }
                eg__list_append(s, o, v, len);
            }
            v = next;
        }
    }
    return EG_SETTINGS_CONTINUE;
}

static int eg__is_flag(const char *a)
{
    return a[0] == '-' && a[1] == '-';
}

int eg_settings_parse(eg_settings_t *s, int role, int argc, char **argv, FILE *out, FILE *err)
{
    eg__ctx_t c = {eg_role_binary(role), err ? err : stderr};
    char expect[256];
    int r;

    if (!out)
        out = stdout;
    if (argc > 0 && argv && argv[0] && argv[0][0]) {
        const char *slash = strrchr(argv[0], '/');
        c.prog = slash && slash[1] ? slash + 1 : argv[0];
    }

    /* --help and --version win over everything else, even a bad environment. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            eg_settings_usage(role, c.prog, out);
            return EG_SETTINGS_EXIT;
        }
        if (strcmp(argv[i], "--version") == 0) {
            fprintf(out, "%s %s\n", c.prog, EG_VERSION);
            return EG_SETTINGS_EXIT;
        }
    }

    r = eg__apply_env(&c, s, role);
    if (r)
        return r;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            if (i + 1 < argc)
                return eg__fail(&c, "unexpected argument '%s'", argv[i + 1]);
            break;
        }
        /* event-gateway 0.9 (Go's flag package) took -flag as --flag: its
         * documentation starts it with `event-gateway -dev`. */
        int single =
            !eg__is_flag(a) && a[0] == '-' && a[1] && eg__find(a + 1, strcspn(a + 1, "=")) != NULL;
        if (!eg__is_flag(a) && !single) {
            if (a[0] == '-' && a[1])
                return eg__fail(&c, "unknown option '%s'", a);
            return eg__fail(&c, "unexpected argument '%s' (%s takes only --options)", a, c.prog);
        }
        const char *name = a + (single ? 1 : 2);
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        if ((nlen == 4 && memcmp(name, "help", 4) == 0) ||
            (nlen == 7 && memcmp(name, "version", 7) == 0))
            return eg__fail(&c, "option '--%.*s' takes no value", (int)nlen, name);
        const eg__opt_t *o = eg__find(name, nlen);
        if (!o)
            return eg__fail(&c, "unknown option '--%.*s'", (int)nlen, name);
        if (!eg__applies(o, role)) {
            char owners[128];
            eg__owners(o, owners, sizeof owners);
            return eg__fail(&c, "option '--%s' is not accepted by %s (only by %s)", o->name, c.prog,
                            owners);
        }
        const char *v;
        if (eq)
            v = eq + 1;
        else if (o->type == EG__OPT_BOOL)
            v = "true";
        else if (i + 1 < argc && !eg__is_flag(argv[i + 1]))
            v = argv[++i];
        else {
            eg__expect(o, expect, sizeof expect);
            return eg__fail(&c, "option '--%s' needs a value: %s", o->name, expect);
        }
        char where[64];
        snprintf(where, sizeof where, "--%s", o->name);
        r = eg__apply(&c, s, o, v, where);
        if (r)
            return r;
    }
    return EG_SETTINGS_CONTINUE;
}

void eg_settings_instance_fit(const char *id, char *out)
{
    size_t n = id ? strlen(id) : 0;
    if (n <= EG_INSTANCE_MAX) {
        memcpy(out, id ? id : "", n + 1);
        return;
    }
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)id[i]) * 16777619u;
    snprintf(out, EG_INSTANCE_MAX + 1, "%.*s-%08" PRIx32, EG_INSTANCE_MAX - 9, id, h);
}
