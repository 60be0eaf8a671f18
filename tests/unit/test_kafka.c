/*
 * Unit tests of core/eg_kafka's client constructor (eg_kafka_new): it takes
 * over the configuration whatever happens (NULL after the call; ASan's leak
 * check fails the test if a refused one were not destroyed), names the
 * client in librdkafka's refusal, and passes a failed eg_kafka_conf_new
 * (NULL) through with its message untouched. No broker is contacted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "eg_kafka.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_takes_the_conf),
        cmocka_unit_test(test_refused_names_the_client),
        cmocka_unit_test(test_null_conf_keeps_the_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
