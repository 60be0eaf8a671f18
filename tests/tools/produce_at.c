/*
 * eg-produce-at: writes one record with a timestamp of the caller's choice
 * (CreateTime), which kcat cannot: how tests put a record stamped out of
 * order into a topic, as a producer with a wrong clock, or one that sets the
 * time of the event it carries, would.
 *
 *   eg-produce-at -b BROKERS -t TOPIC -T UNIX_MS [-k KEY] [-H NAME=VALUE]...
 *                 [-X PROPERTY=VALUE]... < VALUE
 *
 * -X sets a librdkafka property, as kcat's does (TLS, SASL).
 *
 * The whole of standard input (at most 1 MiB) is the value. Idempotent
 * producer, acks=all; exits 0 once the record is acknowledged, 1 otherwise
 * (the reason on stderr), within 30 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define MAX_VALUE (1 << 20)
#define MAX_HEADERS 32

static rd_kafka_resp_err_t result = RD_KAFKA_RESP_ERR__TIMED_OUT;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    result = m->err;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = NULL, *key = NULL;
    const char *headers[MAX_HEADERS], *props[MAX_HEADERS];
    int nheaders = 0, nprops = 0, opt;
    long long ts = -1;
    char err[512];
    while ((opt = getopt(argc, argv, "b:t:T:k:H:X:")) != -1) {
        if (opt == 'b')
            brokers = optarg;
        else if (opt == 't')
            topic = optarg;
        else if (opt == 'T')
            ts = atoll(optarg);
        else if (opt == 'k')
            key = optarg;
        else if (opt == 'H' && nheaders < MAX_HEADERS && strchr(optarg, '='))
            headers[nheaders++] = optarg;
        else if (opt == 'X' && nprops < MAX_HEADERS && strchr(optarg, '='))
            props[nprops++] = optarg;
        else
            goto usage;
    }
    if (!brokers || !topic || ts < 0)
        goto usage;

    static char value[MAX_VALUE];
    size_t len = fread(value, 1, sizeof value, stdin);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err) ||
        rd_kafka_conf_set(conf, "message.timeout.ms", "30000", err, sizeof err)) {
        fprintf(stderr, "eg-produce-at: %s\n", err);
        return 1;
    }
    for (int i = 0; i < nprops; i++) {
        char name[256];
        const char *eq = strchr(props[i], '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq - props[i]), props[i]);
        if (rd_kafka_conf_set(conf, name, eq + 1, err, sizeof err)) {
            fprintf(stderr, "eg-produce-at: %s\n", err);
            return 1;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "eg-produce-at: %s\n", err);
        return 1;
    }
    rd_kafka_headers_t *h = rd_kafka_headers_new(nheaders + 1);
    for (int i = 0; i < nheaders; i++) {
        const char *eq = strchr(headers[i], '=');
        rd_kafka_header_add(h, headers[i], eq - headers[i], eq + 1, -1);
    }
    rd_kafka_resp_err_t e =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                          RD_KAFKA_V_VALUE(value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_TIMESTAMP((int64_t)ts), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        result = e;
    } else {
        rd_kafka_flush(rk, 30000);
    }
    rd_kafka_destroy(rk);
    if (result) {
        fprintf(stderr, "eg-produce-at: %s: %s\n", topic, rd_kafka_err2str(result));
        return 1;
    }
    return 0;
usage:
    fprintf(stderr, "usage: eg-produce-at -b BROKERS -t TOPIC -T UNIX_MS [-k KEY] "
                    "[-H NAME=VALUE]... [-X PROPERTY=VALUE]... < VALUE\n");
    return 2;
}
