/*
 * Unit tests of core/eg_embedded: on Apache Kafka no accommodation of the
 * mock cluster is on and every tuning is a real broker's; on the mock each
 * is on; a setting the user gave wins over either profile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "eg_embedded.h"

static void test_kafka_has_no_accommodation(void **state)
{
    (void)state;
    const eg_embedded_t *k = &eg_embedded_none;
    assert_int_equal(k->mock, 0);
    assert_int_equal(k->backlog_guard, 0);
    assert_int_equal(k->commit_after_txn, 0);
    assert_int_equal(k->dedupe_fan_outs, 0);
    assert_int_equal(k->topics_by_first_record, 0);
    assert_int_equal(k->idle_probe_ms, 0); /* no dozing */
    /* what Kafka has and the mock has not is used */
    assert_int_equal(k->read_txn_offsets, 1);
    assert_int_equal(k->topic_configs, 1);
    assert_int_equal(k->reap_reply_topics, 1);
    /* a real broker answers a fetch as soon as data comes: the waits only
     * bound idle fetches, and one reply consumer is enough (no fast one) */
    assert_int_equal(k->sync_fetch_wait_ms, 100);
    assert_int_equal(k->async_fetch_wait_ms, 100);
    assert_int_equal(k->reply_fetch_wait_ms, k->sync_fetch_wait_ms);
    assert_int_equal(k->partitions, 8);
    assert_int_equal(k->reply_partitions, 1); /* one consumer reads them all */
}

static void test_mock_has_each(void **state)
{
    (void)state;
    const eg_embedded_t *m = &eg_embedded_mock;
    assert_int_equal(m->mock, 1);
    assert_true(m->backlog_guard && m->commit_after_txn && m->dedupe_fan_outs &&
                m->topics_by_first_record);
    assert_false(m->read_txn_offsets || m->topic_configs || m->reap_reply_topics);
    assert_true(m->idle_probe_ms > 0);
    assert_true(m->sync_fetch_wait_ms < eg_embedded_none.sync_fetch_wait_ms);
    assert_true(m->reply_fetch_wait_ms < m->sync_fetch_wait_ms); /* two reply consumers */
    assert_true(m->async_fetch_wait_ms < eg_embedded_none.async_fetch_wait_ms);
}

static void test_auto(void **state)
{
    (void)state;
    assert_int_equal(eg_embedded_auto(-1, 100), 100);
    assert_int_equal(eg_embedded_auto(0, 100), 0);
    assert_int_equal(eg_embedded_auto(7, 1), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_has_no_accommodation),
        cmocka_unit_test(test_mock_has_each),
        cmocka_unit_test(test_auto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
