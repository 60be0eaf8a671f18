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
 *     topics PREFIX PARTITIONS  creates the gateway's topics under PREFIX, as at start-up
 *     quit                      stops (so does end of input, SIGTERM or SIGINT)
 *
 * With --control-port N (0: any free port) it also takes the same commands
 * on 127.0.0.1:N, any number of connections at a time, each command answered
 * on its own connection ("quit" there closes only that connection); it then
 * prints "control 127.0.0.1:PORT" after the brokers line. That is how
 * `make test-kafka-mock` uses it as a stand-in for an external cluster: the
 * e2e harness (EG_TEST_BROKER_CONTROL) creates each test's topics under its
 * own prefix there, since the mock answers no CreateTopics.
 *
 * --no-topics: no topics up front (a stand-in where every user makes its own).
 *
 * Usage: eg-fault-broker [--topic-prefix P] [--partitions N] [--no-topics] [--control-port N]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "eg_kafka.h"

#define BROKER_ID 1

static const struct {
    const char *name;
    int16_t key;
} apis[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
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
    } else if ((!strcmp(cmd, "topic") || !strcmp(cmd, "topics")) && argc == 3) {
        if (parse_int(argv[2], 1, 1000, &v)) {
            snprintf(err, errlen, "%s wants 1..1000 partitions, not %s", cmd, argv[2]);
            return -1;
        }
        if (!strcmp(cmd, "topic"))
            return eg_mock_topic_create(m, argv[1], (int)v, err, errlen);
        eg_topics_t topics;
        eg_topics_init(&topics, argv[1]);
        return eg_mock_create_topics(m, &topics, (int)v, err, errlen);
    } else {
        snprintf(err, errlen,
                 "unknown command (down, up, rtt MS, errors API COUNT ERROR, "
                 "topic NAME N, topics PREFIX N, quit)");
        return -1;
    }
    if (e) {
        snprintf(err, errlen, "%s", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

/* Commands come from standard input and from control connections: one at a time. */
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;

/* Runs one command line under the lock; writes the answer into answer. 1 for quit. */
static int run_locked(eg_mock_t *m, char *line, char *answer, size_t len)
{
    char err[512];
    pthread_mutex_lock(&run_lock);
    int rc = run(m, line, err, sizeof err);
    pthread_mutex_unlock(&run_lock);
    if (rc == 0)
        snprintf(answer, len, "ok\n");
    else if (rc < 0)
        snprintf(answer, len, "error: %s\n", err);
    return rc == 1;
}

struct control_conn {
    eg_mock_t *m;
    int fd;
};

/* One control connection: a command per line, each answered, until quit or EOF. */
static void *control_serve(void *arg)
{
    struct control_conn *c = arg;
    FILE *in = fdopen(c->fd, "r");
    char line[1024], answer[600];
    while (in && fgets(line, sizeof line, in)) {
        if (run_locked(c->m, line, answer, sizeof answer))
            break;
        size_t n = strlen(answer), off = 0;
        while (off < n) {
            ssize_t w = send(c->fd, answer + off, n - off, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        if (off < n)
            break;
    }
    if (in)
        fclose(in); /* closes c->fd */
    else
        close(c->fd);
    free(c);
    return NULL;
}

static void *control_accept(void *arg)
{
    struct control_conn *lc = arg;
    for (;;) {
        int fd = accept(lc->fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        struct control_conn *c = malloc(sizeof *c);
        pthread_t t;
        if (c) {
            c->m = lc->m;
            c->fd = fd;
        }
        if (!c || pthread_create(&t, NULL, control_serve, c)) {
            close(fd);
            free(c);
            continue;
        }
        pthread_detach(t);
    }
}

/* Listens on 127.0.0.1:port (0: any) and serves control connections from a
 * thread of their own; the port actually bound goes to *bound. */
static int control_start(eg_mock_t *m, long port, long *bound, char *err, size_t errlen)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t alen = sizeof a;
    static struct control_conn lc;
    pthread_t t;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 16) ||
        getsockname(fd, (struct sockaddr *)&a, &alen)) {
        snprintf(err, errlen, "control port %ld: %s", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    lc.m = m;
    lc.fd = fd;
    if (pthread_create(&t, NULL, control_accept, &lc)) {
        snprintf(err, errlen, "control port: cannot start its thread");
        close(fd);
        return -1;
    }
    pthread_detach(t);
    *bound = ntohs(a.sin_port);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: eg-fault-broker [--topic-prefix P] [--partitions N] [--no-topics]\n"
               "                       [--control-port N]\n"
               "An embedded Kafka broker whose faults are driven from standard input;\n"
               "see the comment at the top of tests/tools/fault_broker.c.\n");
}

int main(int argc, char **argv)
{
    const char *prefix = "eg.";
    long partitions = 4, control_port = -1, bound = 0;
    int topics_up_front = 1;
    char err[512], answer[600];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--topic-prefix") && i + 1 < argc) {
            prefix = argv[++i];
        } else if (!strcmp(argv[i], "--partitions") && i + 1 < argc) {
            if (parse_int(argv[++i], 1, 1000, &partitions)) {
                fprintf(stderr, "eg-fault-broker: --partitions wants 1..1000\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--no-topics")) {
            topics_up_front = 0;
        } else if (!strcmp(argv[i], "--control-port") && i + 1 < argc) {
            if (parse_int(argv[++i], 0, 65535, &control_port)) {
                fprintf(stderr, "eg-fault-broker: --control-port wants 0..65535\n");
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
    if (!m ||
        (topics_up_front && eg_mock_create_topics(m, &topics, (int)partitions, err, sizeof err))) {
        fprintf(stderr, "eg-fault-broker: %s\n", err);
        eg_mock_free(m);
        return 1;
    }
    if (control_port >= 0 && control_start(m, control_port, &bound, err, sizeof err)) {
        fprintf(stderr, "eg-fault-broker: %s\n", err);
        eg_mock_free(m);
        return 1;
    }
    printf("brokers %s\n", eg_mock_bootstraps(m));
    if (control_port >= 0)
        printf("control 127.0.0.1:%ld\n", bound);
    fflush(stdout);

    char line[1024];
    while (fgets(line, sizeof line, stdin)) {
        if (run_locked(m, line, answer, sizeof answer))
            break;
        fputs(answer, stdout);
        if (fflush(stdout))
            break;
    }
    /* Control connections may still be running commands: end under the lock. */
    pthread_mutex_lock(&run_lock);
    eg_mock_free(m);
    return 0;
}
