/*
 * eg-fault-broker: an embedded Kafka (librdkafka's mock cluster, the broker
 * of dev mode) in a process of its own, with its fault injection driven from
 * standard input. The fault tests start it, join real gateway processes to
 * it with --brokers, and break it under them.
 *
 * It creates the gateway's topics under --topic-prefix up front, as dev mode
 * does (the mock answers no CreateTopics from other processes), prints
 *
 *     brokers 127.0.0.1:PORT
 *
 * and then reads one command per line, answering each with "ok" or
 * "error: <why>" on standard output:
 *
 *     down                      the broker closes its connections and refuses new ones
 *     up                        ... and serves again
 *     rtt MS                    every answer of the broker is delayed by MS ms (0: none)
 *     errors API COUNT ERROR    the next COUNT requests of API (name or number:
 *                               Produce, Fetch, ...) fail with ERROR (a Kafka error
 *                               name such as NOT_LEADER_FOR_PARTITION, or its code)
 *     topic NAME PARTITIONS     creates a topic
 *     quit                      stops (so does end of input, SIGTERM or SIGINT)
 *
 * Usage: eg-fault-broker [--topic-prefix P] [--partitions N]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "eg_kafka.h"

#define BROKER_ID 1

static const struct {
    const char *name;
    int16_t key;
} apis[] = {
    {"Produce", 0},          {"Fetch", 1},           {"ListOffsets", 2},
    {"Metadata", 3},         {"OffsetCommit", 8},    {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},      {"Heartbeat", 12},
    {"LeaveGroup", 13},      {"SyncGroup", 14},      {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24}, {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},          {"TxnOffsetCommit", 28},
};

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int api_key(const char *s)
{
    long v;
    for (size_t i = 0; i < sizeof apis / sizeof apis[0]; i++)
        if (!strcasecmp(s, apis[i].name))
            return apis[i].key;
    return parse_int(s, 0, 100, &v) ? -1 : (int)v;
}

/* A Kafka error by name (with or without the RD_KAFKA_RESP_ERR_ prefix) or code. */
static int error_code(const char *s, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *descs;
    size_t n;
    long v;
    if (!strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18))
        s += 18;
    if (!parse_int(s, -1000, 1000, &v)) {
        *out = (rd_kafka_resp_err_t)v;
        return 0;
    }
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++)
        if (descs[i].name && !strcasecmp(descs[i].name, s)) {
            *out = descs[i].code;
            return 0;
        }
    return -1;
}

/* Runs one command; 0, or -1 with the reason in err; 1 for quit. */
static int run(eg_mock_t *m, char *line, char *err, size_t errlen)
{
    rd_kafka_mock_cluster_t *mc = eg_mock_cluster(m);
    char *argv[5] = {0};
    int argc = 0;
    for (char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save); tok && argc < 5;
         tok = strtok_r(NULL, " \t\r\n", &save))
        argv[argc++] = tok;
    if (argc == 0)
        return 0;
    const char *cmd = argv[0];
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    long v, cnt;
    if (!strcmp(cmd, "quit") && argc == 1)
        return 1;
    if (!strcmp(cmd, "down") && argc == 1) {
        e = rd_kafka_mock_broker_set_down(mc, BROKER_ID);
    } else if (!strcmp(cmd, "up") && argc == 1) {
        e = rd_kafka_mock_broker_set_up(mc, BROKER_ID);
    } else if (!strcmp(cmd, "rtt") && argc == 2) {
        if (parse_int(argv[1], 0, 600000, &v)) {
            snprintf(err, errlen, "rtt wants milliseconds (0..600000), not %s", argv[1]);
            return -1;
        }
        e = rd_kafka_mock_broker_set_rtt(mc, BROKER_ID, (int)v);
    } else if (!strcmp(cmd, "errors") && argc == 4) {
        int key = api_key(argv[1]);
        rd_kafka_resp_err_t code;
        if (key < 0) {
            snprintf(err, errlen, "unknown API %s", argv[1]);
            return -1;
        }
        if (parse_int(argv[2], 1, 10000, &cnt)) {
            snprintf(err, errlen, "errors wants a count of 1..10000, not %s", argv[2]);
            return -1;
        }
        if (error_code(argv[3], &code)) {
            snprintf(err, errlen, "unknown Kafka error %s", argv[3]);
            return -1;
        }
        rd_kafka_resp_err_t *codes = calloc((size_t)cnt, sizeof *codes);
        if (!codes) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (long i = 0; i < cnt; i++)
            codes[i] = code;
        rd_kafka_mock_push_request_errors_array(mc, (int16_t)key, (size_t)cnt, codes);
        free(codes);
    } else if (!strcmp(cmd, "topic") && argc == 3) {
        if (parse_int(argv[2], 1, 1000, &v)) {
            snprintf(err, errlen, "topic wants 1..1000 partitions, not %s", argv[2]);
            return -1;
        }
        return eg_mock_topic_create(m, argv[1], (int)v, err, errlen);
    } else {
        snprintf(err, errlen,
                 "unknown command (down, up, rtt MS, errors API COUNT ERROR, topic NAME N, quit)");
        return -1;
    }
    if (e) {
        snprintf(err, errlen, "%s", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: eg-fault-broker [--topic-prefix P] [--partitions N]\n"
               "An embedded Kafka broker whose faults are driven from standard input;\n"
               "see the comment at the top of tests/tools/fault_broker.c.\n");
}

int main(int argc, char **argv)
{
    const char *prefix = "eg.";
    long partitions = 4;
    char err[512];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--topic-prefix") && i + 1 < argc) {
            prefix = argv[++i];
        } else if (!strcmp(argv[i], "--partitions") && i + 1 < argc) {
            if (parse_int(argv[++i], 1, 1000, &partitions)) {
                fprintf(stderr, "eg-fault-broker: --partitions wants 1..1000\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    /* A closed pipe must end us through read/write errors, not a signal. */
    signal(SIGPIPE, SIG_IGN);

    eg_mock_t *m = eg_mock_new(err, sizeof err);
    eg_topics_t topics;
    eg_topics_init(&topics, prefix);
    if (!m || eg_mock_create_topics(m, &topics, (int)partitions, err, sizeof err)) {
        fprintf(stderr, "eg-fault-broker: %s\n", err);
        eg_mock_free(m);
        return 1;
    }
    printf("brokers %s\n", eg_mock_bootstraps(m));
    fflush(stdout);

    char line[1024];
    while (fgets(line, sizeof line, stdin)) {
        int rc = run(m, line, err, sizeof err);
        if (rc == 1)
            break;
        if (rc == 0)
            printf("ok\n");
        else
            printf("error: %s\n", err);
        if (fflush(stdout))
            break;
    }
    eg_mock_free(m);
    return 0;
}
