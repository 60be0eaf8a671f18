/*
 * Unit tests of router/ledger: read positions and held records per
 * partition, what a commit and a rewind do to them, the metadata that
 * carries them to the next owner of a partition, and the owner it names;
 * and a failed commit that Kafka committed all the same.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

#define T "eg.events"

static const rd_kafka_topic_partition_t *at(const rd_kafka_topic_partition_list_t *l, int32_t p)
{
    for (int i = 0; l && i < l->cnt; i++)
        if (l->elems[i].partition == p)
            return &l->elems[i];
    return NULL;
}

static void test_positions_commit_and_rewind(void **state)
{
    eg_ledger_t *l = eg_ledger_new(T);
    eg_ledger_assign(l, 0, 10, NULL, 0);
    eg_ledger_assign(l, 1, -1001, NULL, 0); /* nothing committed */
    assert_int_equal(eg_ledger_start(l, 0), 10);
    assert_int_equal(eg_ledger_start(l, 1), -1);

    /* partition 1 has no position: nothing to commit for it */
    rd_kafka_topic_partition_list_t *offs = eg_ledger_offsets(l, "r1", "m1");
    assert_int_equal(offs->cnt, 1);
    assert_int_equal(at(offs, 0)->offset, 10);
    rd_kafka_topic_partition_list_destroy(offs);

    assert_int_equal(eg_ledger_consumed(l, 0, 10), EG_LEDGER_ROUTE);
    assert_int_equal(eg_ledger_consumed(l, 0, 11), EG_LEDGER_ROUTE);
    assert_int_equal(eg_ledger_consumed(l, 1, 5), EG_LEDGER_ROUTE);
    offs = eg_ledger_offsets(l, "r1", "m1");
    assert_int_equal(at(offs, 0)->offset, 12);
    assert_int_equal(at(offs, 1)->offset, 6);
    rd_kafka_topic_partition_list_destroy(offs);
    eg_ledger_commit(l);

    /* an aborted transaction: both partitions are read again from where
     * the last commit left them */
    assert_int_equal(eg_ledger_consumed(l, 0, 12), EG_LEDGER_ROUTE);
    assert_int_equal(eg_ledger_consumed(l, 1, 6), EG_LEDGER_ROUTE);
    assert_int_equal(eg_ledger_consumed(l, 1, 7), EG_LEDGER_ROUTE);
    rd_kafka_topic_partition_list_t *to = eg_ledger_rewind(l);
    assert_non_null(to);
    assert_int_equal(to->cnt, 2);
    assert_int_equal(at(to, 0)->offset, 12);
    assert_int_equal(at(to, 1)->offset, 6);
    rd_kafka_topic_partition_list_destroy(to);
    assert_int_equal(eg_ledger_start(l, 1), 6);
    /* nothing read since: nothing to rewind */
    assert_null(eg_ledger_rewind(l));

    /* a partition never committed, read and aborted: from its first record */
    eg_ledger_assign(l, 2, -1001, NULL, 0);
    assert_int_equal(eg_ledger_consumed(l, 2, 40), EG_LEDGER_ROUTE);
    to = eg_ledger_rewind(l);
    assert_int_equal(at(to, 2)->offset, 40);
    rd_kafka_topic_partition_list_destroy(to);

    eg_ledger_revoke(l, 0);
    assert_int_equal(eg_ledger_start(l, 0), -1);
    eg_ledger_free(l);
}

static void test_held_records_keep_the_commit_back(void **state)
{
    eg_ledger_t *l = eg_ledger_new(T);
    eg_ledger_assign(l, 3, 100, NULL, 0);
    for (int64_t o = 100; o < 110; o++) {
        assert_int_equal(eg_ledger_consumed(l, 3, o), EG_LEDGER_ROUTE);
        if (o == 102 || o == 105)
            assert_int_equal(eg_ledger_hold(l, 3, o), 0);
    }
    assert_int_equal(eg_ledger_held(l), 2);
    assert_int_equal(eg_ledger_start(l, 3), 102);
    rd_kafka_topic_partition_list_t *offs = eg_ledger_offsets(l, "eg.router-a b", "rdkafka-1");
    const rd_kafka_topic_partition_t *t = at(offs, 3);
    assert_int_equal(t->offset, 102);
    assert_string_equal((const char *)t->metadata,
                        "eg1 o=eg.router-a%20b m=rdkafka-1 n=110 s=102,3");

    /* the next owner: reads from 102, routes 102 and 105 only */
    eg_ledger_t *next = eg_ledger_new(T);
    eg_ledger_assign(next, 3, t->offset, t->metadata, t->metadata_size);
    assert_int_equal(eg_ledger_held(next), 2);
    for (int64_t o = 102; o < 112; o++)
        assert_int_equal(eg_ledger_consumed(next, 3, o),
                         (o == 102 || o == 105 || o >= 110) ? EG_LEDGER_ROUTE : EG_LEDGER_SKIP);
    assert_int_equal(eg_ledger_held(next), 0);
    assert_int_equal(eg_ledger_start(next, 3), 112);

    /* the owner in the metadata */
    char owner[64], member[64];
    assert_int_equal(eg_ledger_meta_owner(t->metadata, t->metadata_size, owner, sizeof owner,
                                          member, sizeof member),
                     0);
    assert_string_equal(owner, "eg.router-a b");
    assert_string_equal(member, "rdkafka-1");
    assert_int_equal(eg_ledger_meta_owner("", 0, owner, sizeof owner, member, sizeof member), -1);
    assert_int_equal(eg_ledger_meta_owner("xyz", 3, owner, sizeof owner, member, sizeof member),
                     -1);

    /* metadata whose held records do not start at the committed offset
     * (offsets reset by a tool) is not trusted */
    eg_ledger_t *reset = eg_ledger_new(T);
    eg_ledger_assign(reset, 3, 50, t->metadata, t->metadata_size);
    assert_int_equal(eg_ledger_held(reset), 0);
    assert_int_equal(eg_ledger_start(reset, 3), 50);
    rd_kafka_topic_partition_list_destroy(offs);

    /* held again while read again: still held, once */
    eg_ledger_assign(next, 4, 7, NULL, 0);
    eg_ledger_consumed(next, 4, 7);
    eg_ledger_hold(next, 4, 7);
    eg_ledger_consumed(next, 4, 8);
    eg_ledger_commit(next);
    rd_kafka_topic_partition_list_t *again = eg_ledger_retry(next);
    assert_int_equal(again->cnt, 1);
    assert_int_equal(at(again, 4)->offset, 7);
    rd_kafka_topic_partition_list_destroy(again);
    assert_int_equal(eg_ledger_consumed(next, 4, 7), EG_LEDGER_ROUTE);
    assert_int_equal(eg_ledger_hold(next, 4, 7), 0);
    assert_int_equal(eg_ledger_consumed(next, 4, 8), EG_LEDGER_SKIP);
    assert_int_equal(eg_ledger_held(next), 1);
    /* routed at last, then aborted: held again as committed */
    assert_int_equal(eg_ledger_consumed(next, 4, 7), EG_LEDGER_ROUTE);
    assert_int_equal(eg_ledger_held(next), 0);
    rd_kafka_topic_partition_list_t *to = eg_ledger_rewind(next);
    assert_int_equal(at(to, 4)->offset, 9);
    rd_kafka_topic_partition_list_destroy(to);
    assert_int_equal(eg_ledger_held(next), 1);

    eg_ledger_free(reset);
    eg_ledger_free(next);
    eg_ledger_free(l);
}

/* A commit reported as failed that Kafka committed: the committed state read
 * back from Kafka wins over the ledger's, and the rewind reads from there
 * (not from the last commit the router knew of, which would route the
 * committed records a second time). */
static void test_a_failed_commit_that_kafka_committed(void **state)
{
    eg_ledger_t *l = eg_ledger_new(T);
    eg_ledger_assign(l, 0, 10, NULL, 0);
    eg_ledger_assign(l, 1, 50, NULL, 0);
    assert_null(eg_ledger_read_from(l));
    for (int64_t o = 10; o < 14; o++)
        assert_int_equal(eg_ledger_consumed(l, 0, o), EG_LEDGER_ROUTE);
    assert_int_equal(eg_ledger_hold(l, 0, 12), 0);
    rd_kafka_topic_partition_list_t *offs = eg_ledger_offsets(l, "r1", "m1");
    const rd_kafka_topic_partition_t *t = at(offs, 0);
    assert_int_equal(t->offset, 12);

    rd_kafka_topic_partition_list_t *read = eg_ledger_read_from(l);
    assert_non_null(read);
    assert_int_equal(read->cnt, 1); /* partition 1 was not read */
    assert_int_equal(read->elems[0].partition, 0);
    rd_kafka_topic_partition_list_destroy(read);

    /* Kafka says: committed at 12 with 12 held and read up to 14 */
    eg_ledger_set_committed(l, 0, t->offset, t->metadata, t->metadata_size);
    eg_ledger_set_committed(l, 7, 1, NULL, 0); /* not ours: ignored */
    rd_kafka_topic_partition_list_t *to = eg_ledger_rewind(l);
    assert_int_equal(at(to, 0)->offset, 14);
    rd_kafka_topic_partition_list_destroy(to);
    assert_int_equal(eg_ledger_held(l), 1);
    assert_int_equal(eg_ledger_start(l, 0), 12);
    assert_int_equal(eg_ledger_consumed(l, 0, 11), EG_LEDGER_SKIP);
    assert_int_equal(eg_ledger_consumed(l, 0, 12), EG_LEDGER_ROUTE); /* the held one */
    assert_int_equal(eg_ledger_consumed(l, 0, 13), EG_LEDGER_SKIP);
    rd_kafka_topic_partition_list_destroy(offs);

    /* Kafka says nothing was committed: back to the router's last commit */
    eg_ledger_t *m = eg_ledger_new(T);
    eg_ledger_assign(m, 0, 10, NULL, 0);
    eg_ledger_consumed(m, 0, 10);
    eg_ledger_set_committed(m, 0, 10, NULL, 0);
    to = eg_ledger_rewind(m);
    assert_int_equal(at(to, 0)->offset, 10);
    rd_kafka_topic_partition_list_destroy(to);
    eg_ledger_free(m);
    eg_ledger_free(l);
}

static void test_a_full_partition_stops(void **state)
{
    eg_ledger_t *l = eg_ledger_new(T);
    eg_ledger_assign(l, 0, 0, NULL, 0);
    int64_t o = 0;
    for (; o < EG_LEDGER_MAX_HELD; o++) {
        eg_ledger_consumed(l, 0, o);
        assert_int_equal(eg_ledger_hold(l, 0, o), 0);
    }
    assert_int_equal(eg_ledger_consumed(l, 0, o), EG_LEDGER_ROUTE);
    assert_int_equal(eg_ledger_hold(l, 0, o), -1);
    assert_true(eg_ledger_stopped(l, 0));
    rd_kafka_topic_partition_list_t *offs = eg_ledger_offsets(l, "r", "m");
    assert_int_equal(offs->elems[0].offset, 0);
    assert_true(offs->elems[0].metadata_size < 2048);
    /* it reads the record again: the metadata's read position is at it */
    assert_non_null(strstr(offs->elems[0].metadata, " n=128 "));
    eg_ledger_t *next = eg_ledger_new(T);
    eg_ledger_assign(next, 0, 0, offs->elems[0].metadata, offs->elems[0].metadata_size);
    assert_int_equal(eg_ledger_held(next), EG_LEDGER_MAX_HELD);
    rd_kafka_topic_partition_list_destroy(offs);

    rd_kafka_topic_partition_list_t *again = eg_ledger_retry(l);
    assert_int_equal(again->elems[0].offset, 0);
    assert_false(eg_ledger_stopped(l, 0));
    rd_kafka_topic_partition_list_destroy(again);
    eg_ledger_free(next);
    eg_ledger_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions_commit_and_rewind),
        cmocka_unit_test(test_held_records_keep_the_commit_back),
        cmocka_unit_test(test_a_failed_commit_that_kafka_committed),
        cmocka_unit_test(test_a_full_partition_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
