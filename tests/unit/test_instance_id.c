/*
 * Unit tests of the instance id a process names itself by in Kafka: the
 * configuration log's record ids, the ingress's reply topic and the router's
 * transactional id all derive from eg_configlog_instance. Two processes
 * whose (long) ids share their first 32 characters, such as the default ids
 * "<hostname>-<pid>" of the pods of one deployment, must still get different
 * instance ids: the same transactional id would make their routers fence
 * each other, the same reply topic would mix their replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_configlog.h"
#include "eg_log.h"
#include "eg_opts.h"

#define POD_A "event-gateway-router-deployment-7d9f8b6c4-x2k9p-1"
#define POD_B "event-gateway-router-deployment-7d9f8b6c4-q8w3z-1"

/* The instance id of a configuration log made for `id` (no broker: the
 * log is not started). */
static void instance_of(const char *id, char *out, size_t len)
{
    eg_settings_t s;
    eg_topics_t topics;
    char err[256] = "";
    eg_settings_init(&s);
    free(s.instance_id);
    s.instance_id = strdup(id);
    eg_topics_init(&topics, s.topic_prefix);
    eg_configlog_t *log = eg_configlog_new(&s, "", &topics, 0, 20, err, sizeof err);
    assert_non_null(log);
    snprintf(out, len, "%s", eg_configlog_instance(log));
    eg_configlog_free(log);
    eg_settings_release(&s);
}

static void test_long_hostnames_get_different_instance_ids(void **state)
{
    char a[128], b[128];
    assert_int_equal(strncmp(POD_A, POD_B, 32), 0); /* the same first 32 characters */
    instance_of(POD_A, a, sizeof a);
    instance_of(POD_B, b, sizeof b);
    assert_string_not_equal(a, b);
    assert_true(strlen(a) <= EG_INSTANCE_MAX);
    assert_true(strlen(b) <= EG_INSTANCE_MAX);
    /* stable: the same id gives the same instance id in another process */
    char again[128];
    instance_of(POD_A, again, sizeof again);
    assert_string_equal(a, again);
}

static void test_short_ids_are_kept(void **state)
{
    char out[EG_INSTANCE_MAX + 1];
    eg_settings_instance_fit("node-a", out);
    assert_string_equal(out, "node-a");
    const char *exact = "0123456789abcdef0123456789abcdef"; /* 32 characters */
    eg_settings_instance_fit(exact, out);
    assert_string_equal(out, exact);
    eg_settings_instance_fit("", out);
    assert_string_equal(out, "");
}

static void test_long_ids_keep_their_head_and_a_hash(void **state)
{
    char a[EG_INSTANCE_MAX + 1], b[EG_INSTANCE_MAX + 1];
    eg_settings_instance_fit(POD_A, a);
    eg_settings_instance_fit(POD_B, b);
    assert_int_equal(strlen(a), EG_INSTANCE_MAX);
    assert_int_equal(strncmp(a, POD_A, EG_INSTANCE_MAX - 9), 0);
    assert_int_equal(a[EG_INSTANCE_MAX - 9], '-');
    assert_string_not_equal(a, b);
    /* one character more than fits is enough to differ */
    const char *x = "0123456789abcdef0123456789abcdef0", *y = "0123456789abcdef0123456789abcdef1";
    eg_settings_instance_fit(x, a);
    eg_settings_instance_fit(y, b);
    assert_string_not_equal(a, b);
}

int main(void)
{
    eg_log_setup(EG_LOG_LEVEL_WARN, EG_LOG_FORMAT_TEXT, NULL); /* librdkafka's notices */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_hostnames_get_different_instance_ids),
        cmocka_unit_test(test_short_ids_are_kept),
        cmocka_unit_test(test_long_ids_keep_their_head_and_a_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
