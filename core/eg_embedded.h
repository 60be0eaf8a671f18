/*
 * eg_embedded: everything the gateway does differently because its Kafka is
 * librdkafka's mock cluster, in one table.
 *
 * The mock cluster is the embedded broker of `event-gateway --dev` (or
 * another process's, named with --kafka-mock; never guessed). It is not
 * Apache Kafka: it answers a fetch only when fetch.wait.max.ms runs out, keeps
 * 5 MiB per partition and drops the oldest records past that, walks a
 * partition's batches from the oldest on every fetch, keeps no offsets of a
 * transaction, hides no aborted record, has no topic configurations and
 * answers no CreateTopics of another process. Each difference the gateway works around is one
 * field of eg_embedded_t, with its reason; the mechanisms live in their own
 * modules (eg_backlog, eg_doze) and act only when a field says so.
 *
 * On Apache Kafka the runtime's profile is eg_embedded_none: every
 * accommodation off, every tuning the value a real broker wants. Nothing
 * else in the gateway asks which cluster it talks to.
 */
#ifndef EG_EMBEDDED_H
#define EG_EMBEDDED_H

typedef struct eg_embedded {
    const char *name; /* for logs and /v1/status */
    int mock;         /* 1 on the mock cluster; read only by what reports it */

    /* ---- tunings (the values of the settings whose -1 means "auto") ---- */
    int partitions;          /* of the topics the gateway creates (--partitions) */
    int reply_partitions;    /* of an ingress's own reply topic (--reply-partitions): one
                                consumer reads them all, so on Kafka 1, as each partition of
                                a fetch costs the broker; 2 on the mock (shorter walks) */
    int sync_fetch_wait_ms;  /* fetch.wait.max.ms of the router, the sync inputs and the steady
                                reply consumer (--sync-fetch-wait-ms): the mock's hop latency
                                (1), a real broker answers as soon as data comes (100) */
    int reply_fetch_wait_ms; /* the ingress's fast reply consumer (--reply-fetch-wait-ms): 0 on
                                the mock (a second, steady consumer takes over when idle), the
                                same 100 as the steady one on Kafka, where there is just one */
    int async_fetch_wait_ms; /* the invoker's async and overflow inputs: 10 on the mock (the
                                default 500 would be added to every delivery there), 100 on
                                Kafka (it only bounds how often an idle input asks) */
    int idle_fetch_wait_ms;  /* the consumers off the request path (the configuration log, the
                                replays table): 20 on the mock, whose answer comes only when
                                it runs out; 500 on Kafka (its own default: the broker answers
                                as soon as data comes, this bounds how often an idle one asks) */
    int idle_probe_ms;       /* eg_doze: an idle input pauses its partitions but for a fetch
                                window this often (--idle-probe-ms); 0 never (Kafka's idle
                                fetches cost nothing) */

    /* ---- accommodations ---- */
    int backlog_guard;          /* eg_backlog: the ingress holds events and the router its fan-out
                                   while a partition nears the mock's 5 MiB */
    int commit_after_txn;       /* the router commits offsets plainly after each transaction: the
                                   mock keeps none of a transaction's */
    int read_txn_offsets;       /* the router reads committed offsets back after an unknown commit
                                   outcome and fences departed routers (0: the mock has neither) */
    int dedupe_fan_outs;        /* the invoker calls a (event, subscription) pair read twice once:
                                   the mock does not hide aborted fan-outs */
    int topics_by_first_record; /* a topic the gateway cannot create is taken as created by its
                                   first record (another process's mock answers no CreateTopics) */
    int topic_configs;          /* topics have configurations: compaction is checked, and
                                   max.message.bytes read (0: the mock has none) */
    int reap_reply_topics;      /* the ingress deletes the reply topics of ingresses that are gone
                                   (reply_topics.c; 0: the mock's topics end with its process) */
} eg_embedded_t;

extern const eg_embedded_t eg_embedded_none; /* Apache Kafka (or any real broker) */
extern const eg_embedded_t eg_embedded_mock; /* librdkafka's mock cluster */

/* A tuning setting: the user's value when given (>= 0), else the profile's. */
int eg_embedded_auto(int value, int profile_value);

#endif
