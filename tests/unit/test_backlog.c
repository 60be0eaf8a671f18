/*
 * Unit tests of core/eg_backlog: a partition counts only once a consumer of
 * the process takes from it or watches its topic; its backlog is (end -
 * taken) records times the topic's record size; the full state turns on at
 * the high-water mark and off only under the low one; a revoked partition
 * (outside the assignment) is out of the count; a watched one counts from
 * the first record produced;
 * "downstream full" leaves the upstream (events) topic out; NULL (a real
 * cluster) is off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "eg_backlog.h"

#define LIMIT 100000                                            /* bytes */
#define HIGH_RECS (LIMIT * EG_BACKLOG_HIGH_PERCENT / 100 / 100) /* of 100 bytes */
#define LOW_RECS (LIMIT * EG_BACKLOG_LOW_PERCENT / 100 / 100)

static void produce(eg_backlog_t *bl, const char *topic, int32_t part, int64_t from, int n,
                    int64_t bytes)
{
    for (int64_t o = from; o < from + n; o++)
        eg_backlog_produced_at(bl, topic, part, o, bytes);
}

static void test_null_is_off(void **state)
{
    (void)state;
    int64_t worst = 7;
    eg_backlog_produced_at(NULL, "t", 0, 0, 100);
    eg_backlog_taken_at(NULL, "t", 0, 0);
    eg_backlog_watch(NULL, "t");
    eg_backlog_assigned(NULL, "t", NULL);
    assert_int_equal(eg_backlog_check(NULL, &worst), 0);
    assert_int_equal(worst, 0);
    assert_int_equal(eg_backlog_full(NULL), 0);
    assert_int_equal(eg_backlog_worst(NULL), 0);
}

static void test_unconsumed_partitions_do_not_count(void **state)
{
    (void)state;
    eg_backlog_t *bl = eg_backlog_new(LIMIT, "ev");
    int64_t worst = -1;
    produce(bl, "dlq", 0, 0, 1000, 100); /* nobody here reads it */
    assert_int_equal(eg_backlog_check(bl, &worst), 0);
    assert_int_equal(worst, 0);
    eg_backlog_free(bl);
}

static void test_backlog_and_hysteresis(void **state)
{
    (void)state;
    eg_backlog_t *bl = eg_backlog_new(LIMIT, "ev");
    int64_t worst = 0;
    produce(bl, "ev", 3, 0, 10, 100);
    eg_backlog_taken_at(bl, "ev", 3, 4); /* 5 taken, 5 to go */
    assert_int_equal(eg_backlog_check(bl, &worst), 0);
    assert_int_equal(worst, 500);
    /* the fullest partition decides: HIGH_RECS to go is the high-water mark */
    produce(bl, "ev", 3, 10, HIGH_RECS - 5 - 1, 100);
    eg_backlog_taken_at(bl, "ev", 1, 0);
    produce(bl, "ev", 1, 1, 10, 100);
    assert_int_equal(eg_backlog_check(bl, &worst), 0);
    assert_int_equal(worst, (HIGH_RECS - 1) * 100);
    produce(bl, "ev", 3, 10 + HIGH_RECS - 6, 1, 100);
    assert_int_equal(eg_backlog_check(bl, &worst), 1);
    assert_int_equal(worst, HIGH_RECS * 100);
    assert_int_equal(eg_backlog_worst(bl), HIGH_RECS * 100);
    assert_int_equal(eg_backlog_full(bl), 1);
    int64_t end = 5 + HIGH_RECS; /* offset after the last record of partition 3 */
    /* stays full down to the low-water mark */
    eg_backlog_taken_at(bl, "ev", 3, end - LOW_RECS - 1); /* LOW_RECS to go */
    assert_int_equal(eg_backlog_check(bl, &worst), 1);
    assert_int_equal(worst, LOW_RECS * 100);
    eg_backlog_taken_at(bl, "ev", 3, end - LOW_RECS);
    assert_int_equal(eg_backlog_check(bl, &worst), 0);
    assert_int_equal(eg_backlog_full(bl), 0);
    /* and off until the high-water mark again */
    produce(bl, "ev", 3, end, HIGH_RECS - LOW_RECS, 100);
    assert_int_equal(eg_backlog_check(bl, NULL), 0);
    eg_backlog_free(bl);
}

static void test_record_size_is_an_average(void **state)
{
    (void)state;
    eg_backlog_t *bl = eg_backlog_new(LIMIT, "ev");
    int64_t worst = 0;
    eg_backlog_taken_at(bl, "inv", 0, 0);
    produce(bl, "inv", 0, 1, 200, 100);
    produce(bl, "inv", 0, 201, 200, 1000); /* larger records now */
    eg_backlog_check(bl, &worst);
    /* 400 records to go at close to 1000 bytes each (the integer average
     * settles within 32 bytes of the records' size) */
    assert_true(worst >= 400 * (1000 - 32) && worst <= 400 * 1000);
    eg_backlog_free(bl);
}

static void test_revoke_and_watch(void **state)
{
    (void)state;
    eg_backlog_t *bl = eg_backlog_new(LIMIT, "ev");
    int64_t worst = 0;
    eg_backlog_taken_at(bl, "ev", 0, 0);
    produce(bl, "ev", 0, 1, 1000, 100);
    assert_int_equal(eg_backlog_check(bl, &worst), 1);
    /* revoked: consumed elsewhere now (the assignment left is empty) */
    eg_backlog_assigned(bl, "ev", NULL);
    assert_int_equal(eg_backlog_check(bl, &worst), 0);
    assert_int_equal(worst, 0);
    /* watched before any consumer takes: counted from the first record
     * produced here, whatever its offset */
    eg_backlog_watch(bl, "inv");
    produce(bl, "inv", 2, 5000, 300, 100);
    eg_backlog_check(bl, &worst);
    assert_int_equal(worst, 30000);
    /* a partition forgotten is not watched again by the same call's
     * effect: watch only turns "nobody's" into "watched" */
    eg_backlog_taken_at(bl, "inv", 2, 5099);
    eg_backlog_watch(bl, "inv");
    eg_backlog_check(bl, &worst);
    assert_int_equal(worst, 20000);
    eg_backlog_free(bl);
}

static void test_downstream(void **state)
{
    (void)state;
    eg_backlog_t *bl = eg_backlog_new(LIMIT, "ev");
    /* the events topic behind: full, not downstream */
    eg_backlog_taken_at(bl, "ev", 0, 0);
    produce(bl, "ev", 0, 1, 800, 100);
    assert_int_equal(eg_backlog_check(bl, NULL), 1);
    assert_int_equal(eg_backlog_downstream_full(bl), 0);
    /* an invocation topic behind too: both */
    eg_backlog_taken_at(bl, "inv", 1, 0);
    produce(bl, "inv", 1, 1, 800, 100);
    assert_int_equal(eg_backlog_check(bl, NULL), 1);
    assert_int_equal(eg_backlog_downstream_full(bl), 1);
    /* the events topic caught up: still full (downstream) */
    eg_backlog_taken_at(bl, "ev", 0, 800);
    assert_int_equal(eg_backlog_check(bl, NULL), 1);
    assert_int_equal(eg_backlog_downstream_full(bl), 1);
    eg_backlog_taken_at(bl, "inv", 1, 800);
    assert_int_equal(eg_backlog_check(bl, NULL), 0);
    assert_int_equal(eg_backlog_downstream_full(bl), 0);
    assert_int_equal(eg_backlog_downstream_full(NULL), 0);
    eg_backlog_free(bl);
}

static void test_assigned(void **state)
{
    (void)state;
    eg_backlog_t *bl = eg_backlog_new(LIMIT, "ev");
    int64_t worst = 0;
    eg_backlog_watch(bl, "inv"); /* before the group formed: every partition counts */
    rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(a, "inv", 0);
    rd_kafka_topic_partition_list_add(a, "other", 1);
    /* the assignment came: partition 0 is read here, 1 and 2 elsewhere */
    eg_backlog_assigned(bl, "inv", a);
    produce(bl, "inv", 1, 0, 300, 100);
    produce(bl, "inv", 2, 0, 300, 100);
    assert_int_equal(eg_backlog_check(bl, &worst), 0);
    assert_int_equal(worst, 0);
    produce(bl, "inv", 0, 7, 200, 100); /* counted from the first record produced here */
    eg_backlog_check(bl, &worst);
    assert_int_equal(worst, 20000);
    /* a partition taken from stays as it is; an empty assignment clears all */
    eg_backlog_taken_at(bl, "inv", 0, 106);
    eg_backlog_assigned(bl, "inv", a);
    eg_backlog_check(bl, &worst);
    assert_int_equal(worst, 10000);
    eg_backlog_assigned(bl, "inv", NULL);
    eg_backlog_check(bl, &worst);
    assert_int_equal(worst, 0);
    rd_kafka_topic_partition_list_destroy(a);
    eg_backlog_free(bl);
}

static void test_bounds(void **state)
{
    (void)state;
    eg_backlog_t *bl = eg_backlog_new(LIMIT, "ev");
    int64_t worst = 0;
    eg_backlog_taken_at(bl, "ev", EG_BACKLOG_MAX_PARTITIONS, 0);
    produce(bl, "ev", EG_BACKLOG_MAX_PARTITIONS, 1, 1000, 100);
    eg_backlog_taken_at(bl, "ev", -1, 0);
    produce(bl, "ev", 0, -5, 3, 100); /* no offset: not counted */
    assert_int_equal(eg_backlog_check(bl, &worst), 0);
    assert_int_equal(worst, 0);
    /* more topics than the table holds ("ev" is one): the extra ones are
     * not counted */
    char name[32];
    for (int i = 0; i < EG_BACKLOG_MAX_TOPICS + 5; i++) {
        snprintf(name, sizeof name, "t%d", i);
        eg_backlog_taken_at(bl, name, 0, 0);
        produce(bl, name, 0, 1, 2, 10);
    }
    eg_backlog_check(bl, &worst);
    assert_int_equal(worst, 20);
    eg_backlog_free(bl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_is_off),
        cmocka_unit_test(test_unconsumed_partitions_do_not_count),
        cmocka_unit_test(test_backlog_and_hysteresis),
        cmocka_unit_test(test_record_size_is_an_average),
        cmocka_unit_test(test_revoke_and_watch),
        cmocka_unit_test(test_downstream),
        cmocka_unit_test(test_assigned),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
