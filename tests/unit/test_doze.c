/*
 * Unit tests of core/eg_doze: off when probe_ms is 0; awake for
 * EG_DOZE_IDLE_AFTER_MS after the start and after each record; then paused
 * between windows, a window every probe_ms that stays open until every
 * partition reported its end (however long that takes), a record waking it
 * at once (in or out of a window); no window without partitions; *due.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "eg_doze.h"

#define IDLE EG_DOZE_IDLE_AFTER_MS

static void test_off(void **state)
{
    (void)state;
    eg_doze_t d;
    eg_doze_init(&d, 0, 100);
    for (int64_t t = 100; t < 100 + 10 * IDLE; t += 37)
        assert_int_equal(eg_doze_paused(&d, t, 8, NULL), 0);
    eg_doze_init(&d, -5, 100);
    assert_int_equal(eg_doze_paused(&d, 100 + 2 * IDLE, 8, NULL), 0);
}

static void test_awake_then_dozing(void **state)
{
    (void)state;
    eg_doze_t d;
    eg_doze_init(&d, 20, 1000);
    int64_t due = INT64_MAX;
    assert_int_equal(eg_doze_paused(&d, 1000, 8, &due), 0);
    assert_int_equal(due, 1000 + IDLE);
    assert_int_equal(eg_doze_paused(&d, 1000 + IDLE - 1, 8, NULL), 0);
    /* quiet: paused, the first window one probe later */
    due = INT64_MAX;
    assert_int_equal(eg_doze_paused(&d, 1000 + IDLE, 8, &due), 1);
    assert_int_equal(due, 1000 + IDLE + 20);
    assert_int_equal(eg_doze_paused(&d, 1000 + IDLE + 19, 8, NULL), 1);
    /* the window: resumed until 8 ends, however long */
    int64_t t = 1000 + IDLE + 20;
    assert_int_equal(eg_doze_paused(&d, t, 8, NULL), 0);
    for (int i = 0; i < 7; i++) {
        eg_doze_eof(&d);
        assert_int_equal(eg_doze_paused(&d, t + 500, 8, NULL), 0);
    }
    eg_doze_eof(&d);
    due = INT64_MAX;
    assert_int_equal(eg_doze_paused(&d, t + 501, 8, &due), 1);
    assert_int_equal(due, t + 501 + 20);
    /* ends outside a window do not count */
    for (int i = 0; i < 20; i++)
        eg_doze_eof(&d);
    assert_int_equal(eg_doze_paused(&d, t + 501 + 20, 8, NULL), 0); /* next window */
    assert_int_equal(eg_doze_paused(&d, t + 501 + 21, 8, NULL), 0);
}

static void test_record_wakes(void **state)
{
    (void)state;
    eg_doze_t d;
    eg_doze_init(&d, 20, 0);
    assert_int_equal(eg_doze_paused(&d, IDLE, 4, NULL), 1);
    /* a record in a window */
    assert_int_equal(eg_doze_paused(&d, IDLE + 20, 4, NULL), 0);
    eg_doze_record(&d, IDLE + 21);
    for (int i = 0; i < 4; i++)
        eg_doze_eof(&d);
    assert_int_equal(eg_doze_paused(&d, IDLE + 22, 4, NULL), 0);
    assert_int_equal(eg_doze_paused(&d, IDLE + 21 + IDLE - 1, 4, NULL), 0);
    assert_int_equal(eg_doze_paused(&d, IDLE + 21 + IDLE, 4, NULL), 1);
    /* a record while paused (a fetch already under way) */
    eg_doze_record(&d, 3 * IDLE);
    assert_int_equal(eg_doze_paused(&d, 3 * IDLE, 4, NULL), 0);
    /* the clock never goes back for a late record */
    eg_doze_record(&d, IDLE);
    assert_int_equal(eg_doze_paused(&d, 4 * IDLE - 1, 4, NULL), 0);
}

static void test_no_partitions(void **state)
{
    (void)state;
    eg_doze_t d;
    eg_doze_init(&d, 20, 0);
    assert_int_equal(eg_doze_paused(&d, IDLE, 0, NULL), 1);
    /* nothing to fetch: no window opens, and asking again is cheap */
    int64_t due = INT64_MAX;
    assert_int_equal(eg_doze_paused(&d, IDLE + 100, 0, &due), 1);
    assert_true(due > IDLE + 100);
    /* partitions came: the next window opens */
    assert_int_equal(eg_doze_paused(&d, IDLE + 101, 2, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_awake_then_dozing),
        cmocka_unit_test(test_record_wakes),
        cmocka_unit_test(test_no_partitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
