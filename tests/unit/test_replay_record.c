/*
 * Unit tests of core/eg_replay: the replay record's encode/decode round trip
 * (with and without partition positions), malformed records refused, the API
 * object, and the table (newest state wins, an ended replay is never
 * revived, lists per space oldest first, removal).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_replay.h"

static void sample(eg_replay_t *r, const char *space, const char *id, int64_t created)
{
    memset(r, 0, sizeof *r);
    snprintf(r->space, sizeof r->space, "%s", space);
    snprintf(r->id, sizeof r->id, "%s", id);
    r->subscription = strdup("YXN5bmMsdXNlci5jcmVhdGVkLGYsJTJGLFBPU1Q");
    r->from_ms = 1714564800000LL;
    r->to_ms = 1714564860250LL;
    r->created_ms = created;
    r->updated_ms = created + 5;
    r->status = EG_REPLAY_RUNNING;
}

static void test_round_trip(void **state)
{
    eg_replay_t r, back;
    eg_error_t err = {0};
    sample(&r, "default", "3f2a", 1714564900000LL);
    r.scanned = 1234567890123LL;
    r.delivered = 42;
    r.status = EG_REPLAY_FAILED;
    snprintf(r.error, sizeof r.error, "the subscription was deleted");
    r.nparts = 3;
    r.parts = calloc(3, sizeof *r.parts);
    for (size_t i = 0; i < 3; i++)
        r.parts[i] = (eg_replay_part_t){(int32_t)i, (int64_t)i * 10, (int64_t)i * 100 + 7};
    char *s = eg_replay_encode(&r);
    assert_non_null(s);
    assert_int_equal(eg_replay_decode(s, strlen(s), &back, &err), 0);
    assert_string_equal(back.space, "default");
    assert_string_equal(back.id, "3f2a");
    assert_string_equal(back.subscription, r.subscription);
    assert_int_equal(back.from_ms, r.from_ms);
    assert_int_equal(back.to_ms, r.to_ms);
    assert_int_equal(back.created_ms, r.created_ms);
    assert_int_equal(back.updated_ms, r.updated_ms);
    assert_int_equal(back.status, EG_REPLAY_FAILED);
    assert_int_equal(back.scanned, r.scanned);
    assert_int_equal(back.delivered, 42);
    assert_string_equal(back.error, r.error);
    assert_int_equal(back.nparts, 3);
    assert_memory_equal(back.parts, r.parts, 3 * sizeof *r.parts);
    free(s);
    eg_replay_release(&back);

    /* without positions (as the Config API writes it), every status */
    free(r.parts);
    r.parts = NULL;
    r.nparts = 0;
    r.error[0] = '\0';
    for (int st = EG_REPLAY_RUNNING; st <= EG_REPLAY_CANCELLED; st++) {
        r.status = (eg_replay_status_t)st;
        s = eg_replay_encode(&r);
        assert_int_equal(eg_replay_decode(s, strlen(s), &back, &err), 0);
        assert_int_equal(back.status, st);
        assert_int_equal(back.nparts, 0);
        assert_null(back.parts);
        assert_string_equal(back.error, "");
        free(s);
        eg_replay_release(&back);
    }
    eg_replay_release(&r);
    eg_replay_release(&r); /* twice is fine */
}

static void test_api_object(void **state)
{
    eg_replay_t r;
    sample(&r, "sp", "id1", 0);
    r.scanned = 7;
    r.delivered = 3;
    cJSON *o = eg_replay_to_api(&r);
    char *s = cJSON_PrintUnformatted(o);
    assert_string_equal(s,
                        "{\"replayId\":\"id1\",\"space\":\"sp\",\"subscriptionId\":"
                        "\"YXN5bmMsdXNlci5jcmVhdGVkLGYsJTJGLFBPU1Q\",\"from\":"
                        "\"2024-05-01T12:00:00.000Z\",\"to\":\"2024-05-01T12:01:00.250Z\","
                        "\"status\":\"running\",\"scanned\":7,\"delivered\":3,\"createdAt\":"
                        "\"1970-01-01T00:00:00.000Z\",\"updatedAt\":\"1970-01-01T00:00:00.005Z\"}");
    free(s);
    cJSON_Delete(o);
    eg_replay_release(&r);
}

static void test_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "[]",
        "not json",
        "{}",
        "null",
        "{\"replayId\":\"a\",\"space\":\"s\",\"subscriptionId\":\"x\",\"status\":\"running\","
        "\"from\":\"2024-05-01T12:00:00Z\"}",
        "{\"replayId\":\"a\",\"space\":\"s\",\"subscriptionId\":\"x\",\"status\":\"paused\","
        "\"from\":\"2024-05-01T12:00:00Z\",\"to\":\"2024-05-01T12:00:00Z\"}",
        "{\"replayId\":\"a\",\"space\":\"s\",\"subscriptionId\":\"x\",\"status\":\"done\","
        "\"from\":\"yesterday\",\"to\":\"2024-05-01T12:00:00Z\"}",
        "{\"replayId\":\"a\",\"space\":\"s\",\"subscriptionId\":\"x\",\"status\":\"done\","
        "\"from\":\"2024-05-01T12:00:00Z\",\"to\":\"2024-05-01T12:00:00Z\",\"scanned\":-1}",
        "{\"replayId\":\"a\",\"space\":\"s\",\"subscriptionId\":\"x\",\"status\":\"done\","
        "\"from\":\"2024-05-01T12:00:00Z\",\"to\":\"2024-05-01T12:00:00Z\",\"delivered\":1.5}",
        "{\"replayId\":\"a\",\"space\":\"s\",\"subscriptionId\":\"x\",\"status\":\"done\","
        "\"from\":\"2024-05-01T12:00:00Z\",\"to\":\"2024-05-01T12:00:00Z\",\"partitions\":{}}",
        "{\"replayId\":\"a\",\"space\":\"s\",\"subscriptionId\":\"x\",\"status\":\"done\","
        "\"from\":\"2024-05-01T12:00:00Z\",\"to\":\"2024-05-01T12:00:00Z\","
        "\"partitions\":[{\"partition\":0,\"next\":1}]}",
        "{\"replayId\":\"\",\"space\":\"s\",\"subscriptionId\":\"x\",\"status\":\"done\","
        "\"from\":\"2024-05-01T12:00:00Z\",\"to\":\"2024-05-01T12:00:00Z\"}",
        "{\"replayId\":\"a\\u0000b\",\"space\":\"s\",\"subscriptionId\":\"x\",\"status\":\"done\","
        "\"from\":\"2024-05-01T12:00:00Z\",\"to\":\"2024-05-01T12:00:00Z\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        eg_replay_t r;
        eg_error_t err = {0};
        if (eg_replay_decode(bad[i], strlen(bad[i]), &r, &err) == 0)
            fail_msg("record %zu should be refused: %s", i, bad[i]);
        assert_true(err.message[0] != '\0');
        assert_null(r.subscription);
        assert_null(r.parts);
    }
    eg_replay_t r;
    eg_error_t err;
    assert_int_equal(eg_replay_decode(NULL, 0, &r, &err), -1);
}

static void test_table(void **state)
{
    eg_replay_table_t *t = eg_replay_table_new();
    eg_replay_t a, b, c;
    int32_t part = -1;
    sample(&a, "s1", "a", 300);
    sample(&b, "s1", "b", 100);
    sample(&c, "s2", "c", 200);
    assert_int_equal(eg_replay_table_apply(t, &a, 3), 1);
    assert_int_equal(eg_replay_table_apply(t, &b, 1), 1);
    assert_int_equal(eg_replay_table_apply(t, &c, 0), 1);
    assert_null(eg_replay_table_get(t, "s2", "a", NULL));
    const eg_replay_t *got = eg_replay_table_get(t, "s1", "a", &part);
    assert_non_null(got);
    assert_int_equal(part, 3);
    assert_ptr_not_equal(got, &a); /* a copy */

    /* progress replaces, an end is final */
    a.scanned = 10;
    assert_int_equal(eg_replay_table_apply(t, &a, 3), 1);
    assert_int_equal(eg_replay_table_get(t, "s1", "a", NULL)->scanned, 10);
    a.status = EG_REPLAY_CANCELLED;
    assert_int_equal(eg_replay_table_apply(t, &a, 3), 1);
    a.status = EG_REPLAY_RUNNING;
    a.scanned = 11;
    assert_int_equal(eg_replay_table_apply(t, &a, 3), 0);
    got = eg_replay_table_get(t, "s1", "a", NULL);
    assert_int_equal(got->status, EG_REPLAY_CANCELLED);
    assert_int_equal(got->scanned, 10);
    a.status = EG_REPLAY_CANCELLED; /* the replayer's final record: counters move */
    a.scanned = 12;
    assert_int_equal(eg_replay_table_apply(t, &a, 3), 1);
    assert_int_equal(eg_replay_table_get(t, "s1", "a", NULL)->scanned, 12);

    cJSON *l = eg_replay_table_list(t, "s1");
    assert_int_equal(cJSON_GetArraySize(l), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "replayId")->valuestring,
                        "b");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 1), "replayId")->valuestring,
                        "a");
    cJSON_Delete(l);
    l = eg_replay_table_list(t, "none");
    assert_int_equal(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);

    eg_replay_table_remove(t, "s1", "b");
    assert_null(eg_replay_table_get(t, "s1", "b", NULL));
    eg_replay_table_remove(t, "s1", "b");
    eg_replay_table_free(t);
    eg_replay_release(&a);
    eg_replay_release(&b);
    eg_replay_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_api_object),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
