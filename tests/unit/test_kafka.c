/*
 * Unit tests of core/eg_kafka's client constructor (eg_kafka_new): it takes
 * over the configuration whatever happens (NULL after the call; ASan's leak
 * check fails the test if a refused one were not destroyed), names the
 * client in librdkafka's refusal, and passes a failed eg_kafka_conf_new
 * (NULL) through with its message untouched. And the table of properties
 * the gateway fixes: --kafka may repeat a fixed value but not change it
 * (eg_kafka_check_props, refused at start-up), and a role can force only
 * what the table lists (eg_kafka_conf_set). No broker is contacted, but by
 * the last test: a cooperative-sticky consumer that joined its group and
 * never got an assignment leaves and is put away without the abort
 * librdkafka before 2.3.0 has there (eg_kafka_consumer_destroy), on a mock
 * cluster whose SyncGroup answer is held back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "eg_kafka.h"
#include "eg_kafka_client.h"
#include "eg_time.h"
#include <librdkafka/rdkafka_mock.h>

static void test_new_takes_the_conf(void **state)
{
    (void)state;
    char err[512] = "";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = eg_kafka_new(RD_KAFKA_PRODUCER, &conf, "test producer", err, sizeof err);
    assert_non_null(rk);
    assert_null(conf);
    assert_string_equal(err, "");
    rd_kafka_destroy(rk);
}

static void test_refused_names_the_client(void **state)
{
    (void)state;
    char err[512] = "";
    char kerr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* librdkafka refuses an idempotent producer that does not wait for all */
    assert_int_equal(rd_kafka_conf_set(conf, "enable.idempotence", "true", kerr, sizeof kerr),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "acks", "1", kerr, sizeof kerr), RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = eg_kafka_new(RD_KAFKA_PRODUCER, &conf, "reply producer", err, sizeof err);
    assert_null(rk);
    assert_null(conf);
    assert_true(strncmp(err, "reply producer: ", 16) == 0);
    assert_non_null(strstr(err, "acks"));
}

static void test_null_conf_keeps_the_message(void **state)
{
    (void)state;
    char err[64] = "--kafka x: expected PROP=VALUE";
    rd_kafka_conf_t *conf = NULL;
    assert_null(eg_kafka_new(RD_KAFKA_CONSUMER, &conf, "router consumer", err, sizeof err));
    assert_null(conf);
    assert_string_equal(err, "--kafka x: expected PROP=VALUE");
}

/* The settings of `eg-ingress --kafka a --kafka b ...` (props NULL-terminated). */
static void settings_with(eg_settings_t *s, const char *const *props)
{
    char *argv[32] = {"eg-ingress"};
    int argc = 1;
    for (size_t i = 0; props[i] && argc < 30; i++) {
        argv[argc++] = "--kafka";
        argv[argc++] = (char *)props[i];
    }
    eg_settings_init(s);
    FILE *devnull = fopen("/dev/null", "w");
    assert_int_equal(eg_settings_parse(s, EG_ROLE_INGRESS, argc, argv, devnull, devnull),
                     EG_SETTINGS_CONTINUE);
    fclose(devnull);
}

static void test_fixed_properties_refused(void **state)
{
    (void)state;
    static const struct {
        const char *prop, *names;
    } refused[] = {
        {"isolation.level=read_uncommitted", "isolation.level"},
        {"group.id=mine", "group.id"},
        {"enable.auto.commit=true", "enable.auto.commit"},
        {"enable.auto.offset.store=true", "enable.auto.offset.store"},
        {"enable.partition.eof=false", "enable.partition.eof"},
        {"transactional.id=tx", "transactional.id"},
        {"enable.idempotence=false", "enable.idempotence"},
        {"acks=1", "acks"},
        {"request.required.acks=0", "acks"}, /* librdkafka's alias */
        {"bootstrap.servers=elsewhere:9092", "bootstrap.servers"},
        {"metadata.broker.list=elsewhere:9092", "bootstrap.servers"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        eg_settings_t s;
        char err[512] = "";
        settings_with(&s, (const char *const[]){"linger.ms=5", refused[i].prop, NULL});
        if (eg_kafka_check_props(&s, err, sizeof err) != -1)
            fail_msg("--kafka %s was let through", refused[i].prop);
        /* the message names the property as given, the fixed one, and why */
        assert_non_null(strstr(err, refused[i].prop));
        assert_non_null(strstr(err, refused[i].names));
        assert_non_null(strstr(err, "fixed by the gateway"));
        assert_true(strlen(strstr(err, "fixed by the gateway")) > 40);
        eg_settings_release(&s);
    }
}

static void test_fixed_values_repeated_and_others_pass(void **state)
{
    (void)state;
    eg_settings_t s;
    char err[512] = "";
    settings_with(&s, (const char *const[]){"acks=all", "acks=-1", "enable.idempotence=true",
                                            "isolation.level=read_committed",
                                            "enable.auto.commit=false", "linger.ms=5",
                                            "security.protocol=SASL_SSL", "sasl.password=a=b",
                                            "client.id=x", "session.timeout.ms=10000", NULL});
    assert_int_equal(eg_kafka_check_props(&s, err, sizeof err), 0);
    assert_string_equal(err, "");
    eg_settings_release(&s);
}

static void test_forced_only_from_the_table(void **state)
{
    (void)state;
    char err[512] = "";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(eg_kafka_conf_set(conf, "group.id", "eg.router", err, sizeof err), 0);
    assert_int_equal(eg_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err), 0);
    assert_int_equal(eg_kafka_conf_set(conf, "acks", "all", err, sizeof err), 0);
    /* not in the table: a forced property the user could not be told about */
    assert_int_equal(eg_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err), -1);
    assert_non_null(strstr(err, "linger.ms"));
    assert_non_null(strstr(err, "fixed_props"));
    /* in the table, but fixed to another value than the table says */
    assert_int_equal(eg_kafka_conf_set(conf, "acks", "1", err, sizeof err), -1);
    rd_kafka_conf_destroy(conf);
}

static const char *conf_get(rd_kafka_conf_t *c, const char *name, char *buf, size_t len)
{
    size_t n = len;
    if (rd_kafka_conf_get(c, name, buf, &n) != RD_KAFKA_CONF_OK)
        return NULL;
    return buf;
}

static void test_client_spec_profile_rows_and_overrides(void **state)
{
    (void)state;
    eg_settings_t s;
    char err[512] = "", v[256];
    /* --kafka overrides a default of the profile and one of the client's */
    settings_with(&s, (const char *const[]){"session.timeout.ms=10000", "linger.ms=7", NULL});
    const eg_kafka_prop_t rows[] = {
        EG_KAFKA_FIXED("isolation.level", "read_committed"),
        EG_KAFKA_DEFAULT("fetch.wait.max.ms", "20"),
        EG_KAFKA_DEFAULT("linger.ms", "5"),
        EG_KAFKA_FIXED("enable.partition.eof", NULL), /* skipped */
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_CONSUMER,
                                  .name = "test consumer",
                                  .profile = EG_KAFKA_GROUP_CONSUMER,
                                  .group = "g1",
                                  .props = rows};
    rd_kafka_conf_t *c = eg_kafka_client_conf(&s, "127.0.0.1:1", &spec, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(conf_get(c, "group.id", v, sizeof v), "g1");
    assert_string_equal(conf_get(c, "enable.auto.commit", v, sizeof v), "false");
    assert_string_equal(conf_get(c, "partition.assignment.strategy", v, sizeof v),
                        "cooperative-sticky");
    assert_string_equal(conf_get(c, "session.timeout.ms", v, sizeof v), "10000");
    assert_string_equal(conf_get(c, "heartbeat.interval.ms", v, sizeof v), "1000");
    assert_string_equal(conf_get(c, "isolation.level", v, sizeof v), "read_committed");
    assert_string_equal(conf_get(c, "fetch.wait.max.ms", v, sizeof v), "20");
    assert_string_equal(conf_get(c, "linger.ms", v, sizeof v), "7");
    assert_string_equal(conf_get(c, "enable.partition.eof", v, sizeof v), "false");
    /* the client is known by its role in logs and to the brokers */
    assert_string_equal(conf_get(c, "client.id", v, sizeof v), "eg-test-consumer");
    rd_kafka_conf_destroy(c);

    /* the reliable producer profile */
    const eg_kafka_spec_t pspec = {
        .type = RD_KAFKA_PRODUCER, .name = "test producer", .profile = EG_KAFKA_RELIABLE_PRODUCER};
    c = eg_kafka_client_conf(&s, "127.0.0.1:1", &pspec, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(conf_get(c, "enable.idempotence", v, sizeof v), "true");
    assert_string_equal(conf_get(c, "linger.ms", v, sizeof v), "7");
    assert_string_equal(conf_get(c, "client.id", v, sizeof v), "eg-test-producer");
    rd_kafka_conf_destroy(c);
    eg_settings_release(&s);

    /* a row of the client's, then --kafka, name it otherwise */
    const eg_kafka_prop_t idrow[] = {EG_KAFKA_DEFAULT("client.id", "mine"), {NULL, NULL, 0}};
    const eg_kafka_spec_t rspec = {
        .type = RD_KAFKA_PRODUCER, .name = "test producer", .props = idrow};
    settings_with(&s, (const char *const[]){NULL});
    c = eg_kafka_client_conf(&s, "127.0.0.1:1", &rspec, err, sizeof err);
    assert_string_equal(conf_get(c, "client.id", v, sizeof v), "mine");
    rd_kafka_conf_destroy(c);
    eg_settings_release(&s);
    settings_with(&s, (const char *const[]){"client.id=ops", NULL});
    c = eg_kafka_client_conf(&s, "127.0.0.1:1", &rspec, err, sizeof err);
    assert_string_equal(conf_get(c, "client.id", v, sizeof v), "ops");
    rd_kafka_conf_destroy(c);
    eg_settings_release(&s);
}

static void test_client_spec_sync_producer_profile(void **state)
{
    (void)state;
    eg_settings_t s;
    char err[512] = "", v[256];
    settings_with(&s, (const char *const[]){NULL});
    const eg_kafka_spec_t spec = {
        .type = RD_KAFKA_PRODUCER, .name = "sync producer", .profile = EG_KAFKA_SYNC_PRODUCER};
    rd_kafka_conf_t *c = eg_kafka_client_conf(&s, "127.0.0.1:1", &spec, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(conf_get(c, "linger.ms", v, sizeof v), "0"); /* --sync-linger-ms */
    assert_string_equal(conf_get(c, "max.in.flight.requests.per.connection", v, sizeof v), "1");
    rd_kafka_conf_destroy(c);
    eg_settings_release(&s);
}

static void test_client_spec_refuses_a_fixed_row_not_in_the_table(void **state)
{
    (void)state;
    eg_settings_t s;
    char err[512] = "";
    settings_with(&s, (const char *const[]){NULL});
    const eg_kafka_prop_t rows[] = {EG_KAFKA_FIXED("linger.ms", "5"), {NULL, NULL, 0}};
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_PRODUCER, .name = "odd producer", .props = rows};
    assert_null(eg_kafka_client_new(&s, "127.0.0.1:1", &spec, err, sizeof err));
    /* the client is named, and the property */
    assert_non_null(strstr(err, "odd producer: "));
    assert_non_null(strstr(err, "linger.ms"));
    eg_settings_release(&s);
}

static void test_partitions_str_lists_and_truncates(void **state)
{
    (void)state;
    char buf[16];
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    assert_string_equal(eg_kafka_partitions_str(l, buf, sizeof buf), "");
    rd_kafka_topic_partition_list_add(l, "t", 0);
    rd_kafka_topic_partition_list_add(l, "t", 12);
    rd_kafka_topic_partition_list_add(l, "t", 7);
    assert_string_equal(eg_kafka_partitions_str(l, buf, sizeof buf), "0,12,7");
    for (int p = 100; p < 105; p++)
        rd_kafka_topic_partition_list_add(l, "t", p);
    /* "0,12,7,100,101,102,..." does not fit in 16: whole numbers, then "..." */
    assert_string_equal(eg_kafka_partitions_str(l, buf, sizeof buf), "0,12,7,100...");
    char tiny[4];
    assert_string_equal(eg_kafka_partitions_str(l, tiny, sizeof tiny), "...");
    rd_kafka_topic_partition_list_destroy(l);
}

#define API_SYNC_GROUP 14 /* Kafka's ApiKey of SyncGroup */

static void test_destroy_spares_a_joined_consumer_never_assigned(void **state)
{
    (void)state;
    char err[512] = "";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", "g", err, sizeof err), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky",
                                       err, sizeof err),
                     0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "t", 1, 1), 0);
    /* The group's first SyncGroup is answered after 30 s: the consumer joins
     * (its assignor is chosen) and is given nothing while the test runs. */
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                         mc, 1, API_SYNC_GROUP, 1, RD_KAFKA_RESP_ERR_NO_ERROR, 30000),
                     0);
    rd_kafka_poll_set_consumer(rk);
    assert_int_equal(eg_kafka_subscribe_one(rk, "t", err, sizeof err), 0);
    const char *proto = NULL;
    for (int64_t end = eg_time_mono_ms() + 15000; eg_time_mono_ms() < end;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (m)
            rd_kafka_message_destroy(m);
        proto = rd_kafka_rebalance_protocol(rk);
        if (proto && !strcmp(proto, "COOPERATIVE"))
            break;
    }
    assert_non_null(proto);
    assert_string_equal(proto, "COOPERATIVE"); /* joined */
    rd_kafka_topic_partition_list_t *held = NULL;
    assert_int_equal(rd_kafka_assignment(rk, &held), 0);
    assert_int_equal(held->cnt, 0); /* and never assigned */
    rd_kafka_topic_partition_list_destroy(held);
    eg_kafka_consumer_leave(rk, 1000);
    /* librdkafka 2.0.2's rd_kafka_destroy aborts here (rdkafka_sticky_assignor.c:
     * "Assertion `assignor_state' failed"); this returns, the handle left to
     * the process's exit. */
    eg_kafka_consumer_destroy(rk, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_takes_the_conf),
        cmocka_unit_test(test_refused_names_the_client),
        cmocka_unit_test(test_null_conf_keeps_the_message),
        cmocka_unit_test(test_fixed_properties_refused),
        cmocka_unit_test(test_fixed_values_repeated_and_others_pass),
        cmocka_unit_test(test_forced_only_from_the_table),
        cmocka_unit_test(test_client_spec_profile_rows_and_overrides),
        cmocka_unit_test(test_client_spec_sync_producer_profile),
        cmocka_unit_test(test_client_spec_refuses_a_fixed_row_not_in_the_table),
        cmocka_unit_test(test_partitions_str_lists_and_truncates),
        cmocka_unit_test(test_destroy_spares_a_joined_consumer_never_assigned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
