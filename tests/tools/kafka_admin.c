/*
 * eg-kafka-admin: the Admin API calls the end-to-end tests need and kcat
 * does not make (it cannot create a topic): create a topic with topic
 * configs, describe a topic's configs, delete a topic.
 *
 *     eg-kafka-admin -b BROKERS [-X PROP=VALUE]... create TOPIC PARTITIONS [RF] [NAME=VALUE]...
 *     eg-kafka-admin -b BROKERS [-X PROP=VALUE]... describe TOPIC
 *     eg-kafka-admin -b BROKERS [-X PROP=VALUE]... delete TOPIC
 *
 * create fails when the topic exists, waits until every partition has a
 * leader, RF -1 (the default) is the brokers' default. describe prints one
 * JSON object, {"name": {"value": "...", "source": "DYNAMIC_TOPIC_CONFIG"},
 * ...}: the source tells a topic's own setting from a broker's default. -X
 * passes librdkafka properties (TLS, SASL) as kcat does. Every call waits 30 s
 * at most. Exit 0 done, 1 refused or failed (the reason on standard error),
 * 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "eg_kafka.h"

#define TIMEOUT_MS 30000

static int usage(void)
{
    fprintf(stderr,
            "usage: eg-kafka-admin -b BROKERS [-X PROP=VALUE]... create TOPIC PARTITIONS [RF] "
            "[NAME=VALUE]...\n"
            "       eg-kafka-admin -b BROKERS [-X PROP=VALUE]... describe TOPIC\n"
            "       eg-kafka-admin -b BROKERS [-X PROP=VALUE]... delete TOPIC\n");
    return 2;
}

/* The result of one Admin API call: its event, or NULL with the reason printed. */
static rd_kafka_event_t *await(rd_kafka_queue_t *q, const char *what)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS + 1000);
    if (!ev) {
        fprintf(stderr, "eg-kafka-admin: %s: timed out\n", what);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "eg-kafka-admin: %s: %s\n", what, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

/* 0 when the one topic result says so, else 1 with the reason printed. */
static int topic_result(const rd_kafka_topic_result_t **tr, size_t n, const char *what)
{
    if (n != 1) {
        fprintf(stderr, "eg-kafka-admin: %s: %zu results\n", what, n);
        return 1;
    }
    if (rd_kafka_topic_result_error(tr[0])) {
        const char *why = rd_kafka_topic_result_error_string(tr[0]);
        fprintf(stderr, "eg-kafka-admin: %s: %s\n", what,
                why ? why : rd_kafka_err2str(rd_kafka_topic_result_error(tr[0])));
        return 1;
    }
    return 0;
}

/* Options of an Admin API call: every bound at TIMEOUT_MS. */
static rd_kafka_AdminOptions_t *admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op)
{
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, op);
    rd_kafka_AdminOptions_set_operation_timeout(opts, TIMEOUT_MS, NULL, 0);
    rd_kafka_AdminOptions_set_request_timeout(opts, TIMEOUT_MS, NULL, 0);
    return opts;
}

static int create(rd_kafka_t *rk, int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *topic = argv[0];
    int partitions = atoi(argv[1]), rf = -1, i = 2;
    if (argc > 2 && !strchr(argv[2], '=')) {
        rf = atoi(argv[2]);
        i = 3;
    }
    char kerr[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, rf, kerr, sizeof kerr);
    if (!nt) {
        fprintf(stderr, "eg-kafka-admin: %s: %s\n", topic, kerr);
        return 1;
    }
    for (; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            rd_kafka_NewTopic_destroy(nt);
            return usage();
        }
        *eq = '\0';
        rd_kafka_NewTopic_set_config(nt, argv[i], eq + 1);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    rd_kafka_event_t *ev = await(q, "CreateTopics");
    int rc = 1;
    if (ev) {
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        char err[512];
        rc = topic_result(tr, n, topic);
        if (!rc && eg_kafka_wait_topic(rk, topic, TIMEOUT_MS, err, sizeof err)) {
            fprintf(stderr, "eg-kafka-admin: %s\n", err);
            rc = 1;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static int delete (rd_kafka_t *rk, int argc, char **argv)
{
    if (argc != 1)
        return usage();
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(argv[0]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = admin_options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_DeleteTopics(rk, &dt, 1, opts, q);
    rd_kafka_event_t *ev = await(q, "DeleteTopics");
    int rc = 1;
    if (ev) {
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        rc = topic_result(tr, n, argv[0]);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
    return rc;
}

static void add_entry(const char *name, const char *value, int source, void *arg)
{
    cJSON *e = cJSON_AddObjectToObject(arg, name);
    if (!e)
        return;
    if (value)
        cJSON_AddStringToObject(e, "value", value);
    else
        cJSON_AddNullToObject(e, "value");
    cJSON_AddStringToObject(e, "source", rd_kafka_ConfigSource_name(source));
}

static int describe(rd_kafka_t *rk, int argc, char **argv)
{
    if (argc != 1)
        return usage();
    char err[512];
    cJSON *o = cJSON_CreateObject();
    int rc = eg_kafka_describe_configs(rk, RD_KAFKA_RESOURCE_TOPIC, argv[0], add_entry, o,
                                       TIMEOUT_MS, err, sizeof err);
    if (rc) {
        fprintf(stderr, "eg-kafka-admin: %s\n", err);
    } else {
        char *s = cJSON_Print(o);
        printf("%s\n", s ? s : "{}");
        free(s);
    }
    cJSON_Delete(o);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char kerr[512];
    int i = 1, have_brokers = 0;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        const char *name = "bootstrap.servers", *value = argv[i + 1];
        char prop[512];
        if (!strcmp(argv[i], "-X")) {
            const char *eq = strchr(value, '=');
            if (!eq || (size_t)(eq - value) >= sizeof prop) {
                rd_kafka_conf_destroy(conf);
                return usage();
            }
            memcpy(prop, value, (size_t)(eq - value));
            prop[eq - value] = '\0';
            name = prop;
            value = eq + 1;
        } else if (strcmp(argv[i], "-b")) {
            rd_kafka_conf_destroy(conf);
            return usage();
        } else {
            have_brokers = 1;
        }
        if (rd_kafka_conf_set(conf, name, value, kerr, sizeof kerr) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "eg-kafka-admin: %s: %s\n", name, kerr);
            rd_kafka_conf_destroy(conf);
            return 2;
        }
    }
    if (!have_brokers || i >= argc) {
        rd_kafka_conf_destroy(conf);
        return usage();
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof kerr);
    if (!rk) {
        fprintf(stderr, "eg-kafka-admin: %s\n", kerr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    const char *cmd = argv[i];
    int rc;
    if (!strcmp(cmd, "create"))
        rc = create(rk, argc - i - 1, argv + i + 1);
    else if (!strcmp(cmd, "describe"))
        rc = describe(rk, argc - i - 1, argv + i + 1);
    else if (!strcmp(cmd, "delete"))
        rc = delete (rk, argc - i - 1, argv + i + 1);
    else
        rc = usage();
    rd_kafka_destroy(rk);
    return rc;
}
