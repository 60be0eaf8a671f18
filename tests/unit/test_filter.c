/*
 * Unit tests of core/eg_filter: the Subscriptions API dialects (exact,
 * prefix, suffix, all, any, not, sql) over an event's attributes and data
 * members, and what a subscription's filters are refused for, with where.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_event_attr.h"
#include "eg_filter.h"

static int lookup(void *ctx, const char *name, size_t len, eg_cesql_value_t *out)
{
    static const char *const attrs[] = {"type",
                                        "order.created",
                                        "source",
                                        "https://shop.example/eu",
                                        "subject",
                                        "",
                                        "data.customer.tier",
                                        "gold",
                                        NULL};
    (void)ctx;
    for (const char *const *a = attrs; *a; a += 2)
        if (strlen(a[0]) == len && !strncmp(a[0], name, len)) {
            *out = (eg_cesql_value_t){.type = EG_CESQL_STRING, .s = a[1], .len = strlen(a[1])};
            return 0;
        }
    if (len == 10 && !strncmp(name, "data.total", len)) {
        *out = (eg_cesql_value_t){.type = EG_CESQL_INT, .i = 250};
        return 0;
    }
    if (len == 9 && !strncmp(name, "data.paid", len)) {
        *out = (eg_cesql_value_t){.type = EG_CESQL_BOOL, .i = 1};
        return 0;
    }
    return -1;
}

/* 1 matches, 0 does not, -1 refused (the message in why) */
static int run(const char *json, char *why, size_t len)
{
    static eg_cesql_scratch_t *sc;
    if (!sc)
        sc = eg_cesql_scratch_new();
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    eg_error_t err = {0};
    eg_filter_t *f = eg_filter_compile(j, &err);
    cJSON_Delete(j);
    if (!f) {
        assert_int_equal(err.status, 400);
        snprintf(why, len, "%s", err.message);
        return -1;
    }
    int m = eg_filter_match(f, lookup, NULL, sc);
    eg_filter_free(f);
    return m;
}

#define MATCHES(json, want)                                                                        \
    do {                                                                                           \
        char w_[1024] = "";                                                                        \
        int m_ = run(json, w_, sizeof w_);                                                         \
        if (m_ != (want))                                                                          \
            fail_msg("%s: want %d, got %d %s", json, want, m_, w_);                                \
    } while (0)

#define REFUSED(json, msg)                                                                         \
    do {                                                                                           \
        char w_[1024] = "";                                                                        \
        if (run(json, w_, sizeof w_) != -1 || !strstr(w_, msg))                                    \
            fail_msg("%s: want refused with \"%s\", got \"%s\"", json, msg, w_);                   \
    } while (0)

static void test_simple_dialects(void **state)
{
    (void)state;
    MATCHES("[]", 1);
    MATCHES("[{\"exact\": {\"type\": \"order.created\"}}]", 1);
    MATCHES("[{\"exact\": {\"type\": \"order\"}}]", 0);
    MATCHES("[{\"exact\": {\"type\": \"order.created\", \"subject\": \"\"}}]", 1);
    MATCHES("[{\"exact\": {\"type\": \"order.created\", \"source\": \"x\"}}]", 0); /* every one */
    MATCHES("[{\"prefix\": {\"source\": \"https://shop.\"}}]", 1);
    MATCHES("[{\"prefix\": {\"source\": \"http://\"}}]", 0);
    MATCHES("[{\"suffix\": {\"source\": \"/eu\"}}]", 1);
    MATCHES("[{\"suffix\": {\"source\": \"https://shop.example/eu/more\"}}]", 0); /* longer */
    MATCHES("[{\"exact\": {\"dataschema\": \"\"}}]", 0); /* missing never matches */
    MATCHES("[{\"prefix\": {\"dataschema\": \"\"}}]", 0);
    MATCHES("[{\"exact\": {\"data.customer.tier\": \"gold\"}}]", 1);
    MATCHES("[{\"exact\": {\"data.total\": \"250\"}}]", 1); /* a number as its JSON text */
    MATCHES("[{\"prefix\": {\"data.total\": \"25\"}}]", 1);
    MATCHES("[{\"exact\": {\"data.paid\": \"true\"}}]", 1);
}

static void test_combinations_and_sql(void **state)
{
    (void)state;
    MATCHES(
        "[{\"all\": [{\"prefix\": {\"type\": \"order.\"}}, {\"suffix\": {\"source\": \"/eu\"}}]}]",
        1);
    MATCHES("[{\"any\": [{\"exact\": {\"type\": \"x\"}}, {\"suffix\": {\"source\": \"/eu\"}}]}]",
            1);
    MATCHES("[{\"any\": [{\"exact\": {\"type\": \"x\"}}, {\"exact\": {\"type\": \"y\"}}]}]", 0);
    MATCHES("[{\"not\": {\"exact\": {\"type\": \"order.created\"}}}]", 0);
    MATCHES("[{\"not\": {\"exact\": {\"dataschema\": \"x\"}}}]", 1); /* not of a missing one */
    MATCHES("[{\"sql\": \"type LIKE 'order.%' AND data.total > 200\"}]", 1);
    MATCHES("[{\"sql\": \"data.total / 0 = 1\"}]", 0); /* an error does not match */
    MATCHES("[{\"sql\": \"'yes'\"}]", 0);              /* not a boolean */
    /* the list: all of them */
    MATCHES("[{\"exact\": {\"type\": \"order.created\"}}, {\"sql\": \"EXISTS nothing\"}]", 0);
    MATCHES("[{\"exact\": {\"type\": \"order.created\"}}, {\"sql\": \"NOT EXISTS nothing\"}]", 1);
}

static void test_refusals_say_where(void **state)
{
    (void)state;
    REFUSED("{}", "filters: must be a list");
    REFUSED("[{\"regex\": {\"type\": \"a\"}}]", "filters[0]: unknown dialect \"regex\"");
    REFUSED("[{}]", "filters[0]: a filter is an object of one dialect");
    REFUSED("[{\"exact\": {\"type\": \"a\"}, \"prefix\": {\"type\": \"a\"}}]", "one dialect");
    REFUSED("[\"type\"]", "filters[0]: a filter is an object");
    REFUSED("[{\"exact\": {}}]", "filters[0].exact: must be an object of one attribute");
    REFUSED("[{\"exact\": {\"type\": 3}}]", "filters[0].exact.type: the value must be a string");
    REFUSED("[{\"prefix\": {\"Type\": \"a\"}}]", "\"Type\" is not an attribute name");
    REFUSED("[{\"prefix\": {\"data.\": \"a\"}}]", "is not an attribute name");
    REFUSED("[{\"prefix\": {\"data.a..b\": \"a\"}}]", "is not an attribute name");
    REFUSED("[{\"all\": []}]", "filters[0].all: must be a list of one filter or more");
    REFUSED("[{\"any\": {}}]", "filters[0].any: must be a list");
    REFUSED("[{\"not\": []}]", "filters[0].not: must be a filter");
    REFUSED("[{\"all\": [{\"not\": {\"sql\": 1}}]}]",
            "filters[0].all[0].not.sql: must be a string");
    REFUSED("[{\"exact\": {\"type\": \"a\"}}, {\"sql\": \"type = \"}]", "filters[1].sql: at 8: ");
    REFUSED("[{\"sql\": \"NOSUCH(1)\"}]", "filters[0].sql: at 1: no function NOSUCH");
}

static void test_bounds(void **state)
{
    (void)state;
    /* 64 filters in all pass, 65 do not, however they nest */
    char *j = malloc(8192), *w = j;
    w += sprintf(w, "[");
    for (int i = 0; i < 64; i++)
        w += sprintf(w, "%s{\"exact\": {\"type\": \"order.created\"}}", i ? "," : "");
    sprintf(w, "]");
    MATCHES(j, 1);
    w = j;
    w += sprintf(w, "[");
    for (int i = 0; i < 65; i++)
        w += sprintf(w, "%s{\"exact\": {\"type\": \"order.created\"}}", i ? "," : "");
    sprintf(w, "]");
    REFUSED(j, "more than 64 filters");
    w = j;
    w += sprintf(w, "[");
    for (int i = 0; i < 70; i++)
        w += sprintf(w, "{\"not\": ");
    w += sprintf(w, "{\"exact\": {\"type\": \"x\"}}");
    for (int i = 0; i < 70; i++)
        w += sprintf(w, "}");
    sprintf(w, "]");
    REFUSED(j, "more than 64 filters"); /* nesting counts */
    /* 4 KiB of SQL in all */
    w = j;
    w += sprintf(w, "[{\"sql\": \"type = '");
    memset(w, 'x', 4000);
    w += 4000;
    w += sprintf(w, "'\"}, {\"sql\": \"type = '");
    memset(w, 'y', 200);
    w += 200;
    sprintf(w, "'\"}]");
    REFUSED(j, "more than 4096 bytes of SQL");
    free(j);
}

/* An event's filters through eg_event_attr: 1.0, and 0.1 by its 1.0 names */
static int event_matches(eg_event_version_t version, const char *event, const char *filters)
{
    eg_event_t ev = {.version = version, .json = cJSON_Parse(event)};
    assert_non_null(ev.json);
    cJSON *j = cJSON_Parse(filters);
    eg_error_t err = {0};
    eg_filter_t *f = eg_filter_compile(j, &err);
    if (!f)
        fail_msg("%s: %s", filters, err.message);
    eg_event_attrs_t attrs = {.ev = &ev};
    eg_cesql_scratch_t *sc = eg_cesql_scratch_new();
    int m = eg_filter_match(f, eg_event_attr, &attrs, sc);
    /* the router reads the same event from its text: the same answer */
    eg_event_text_attrs_t text = {.json = event, .len = strlen(event)};
    int mt = eg_filter_match(f, eg_event_text_attr, &text, sc);
    eg_event_text_attrs_release(&text);
    if (m != mt)
        fail_msg("%s over %s: %d from the parsed event, %d from its text", filters, event, m, mt);
    eg_cesql_scratch_free(sc);
    eg_filter_free(f);
    cJSON_Delete(j);
    cJSON_Delete(ev.json);
    return m;
}

static void test_event_attributes(void **state)
{
    (void)state;
    const char *v10 = "{\"specversion\": \"1.0\", \"id\": \"e1\", \"source\": \"/s\", "
                      "\"type\": \"order.created\", \"region\": \"eu\", \"rank\": 7, "
                      "\"data\": {\"customer\": {\"tier\": \"gold\", \"vip\": true}, "
                      "\"total\": 250, \"rate\": 0.5, \"tags\": [\"a\"], \"none\": null}}";
    assert_true(event_matches(EG_EVENT_V10, v10,
                              "[{\"exact\": {\"type\": \"order.created\", "
                              "\"region\": \"eu\", \"rank\": \"7\"}}]"));
    assert_true(event_matches(EG_EVENT_V10, v10,
                              "[{\"sql\": \"rank = 7 AND data.customer.vip AND "
                              "data.total > 200 AND data.rate = '0.5'\"}]"));
    assert_true(
        event_matches(EG_EVENT_V10, v10, "[{\"exact\": {\"data.customer.tier\": \"gold\"}}]"));
    /* objects, arrays, null and the data itself are not attributes */
    assert_false(event_matches(EG_EVENT_V10, v10, "[{\"sql\": \"EXISTS data.customer\"}]"));
    assert_false(event_matches(EG_EVENT_V10, v10, "[{\"sql\": \"EXISTS data.tags\"}]"));
    assert_false(event_matches(EG_EVENT_V10, v10, "[{\"sql\": \"EXISTS data.none\"}]"));
    assert_false(event_matches(EG_EVENT_V10, v10, "[{\"sql\": \"EXISTS data\"}]"));
    assert_false(event_matches(EG_EVENT_V10, v10, "[{\"prefix\": {\"data.customer.x\": \"\"}}]"));
    const char *v01 = "{\"eventType\": \"user.created\", \"cloudEventsVersion\": \"0.1\", "
                      "\"source\": \"/app\", \"eventID\": \"e2\", \"eventTime\": "
                      "\"2026-01-02T03:04:05Z\", \"contentType\": \"application/json\", "
                      "\"extensions\": {\"region\": \"us\"}, \"data\": {\"plan\": \"pro\"}}";
    assert_true(event_matches(EG_EVENT_V01, v01,
                              "[{\"exact\": {\"type\": \"user.created\", \"id\": \"e2\", "
                              "\"specversion\": \"0.1\", \"source\": \"/app\", "
                              "\"datacontenttype\": \"application/json\", \"region\": \"us\", "
                              "\"data.plan\": \"pro\"}}, {\"prefix\": {\"time\": \"2026-\"}}]"));
    assert_false(event_matches(EG_EVENT_V01, v01, "[{\"sql\": \"EXISTS eventtype\"}]"));
}

/* The text scanner on what the parsed path never sees: escapes, brackets in
 * strings, numbers that are not 32-bit integers, and text that is broken. */
static int text_matches(const char *event, const char *filters)
{
    cJSON *j = cJSON_Parse(filters);
    eg_error_t err = {0};
    eg_filter_t *f = eg_filter_compile(j, &err);
    if (!f)
        fail_msg("%s: %s", filters, err.message);
    eg_cesql_scratch_t *sc = eg_cesql_scratch_new();
    eg_event_text_attrs_t text = {.json = event, .len = strlen(event)};
    int m = eg_filter_match(f, eg_event_text_attr, &text, sc);
    eg_event_text_attrs_release(&text);
    eg_cesql_scratch_free(sc);
    eg_filter_free(f);
    cJSON_Delete(j);
    return m;
}

static void test_event_text_scanner(void **state)
{
    (void)state;
    const char *ev =
        "{ \"specversion\" : \"1.0\" ,\"id\":\"e\\\"1\",\"type\":\"t\","
        "\"note\":\"caf\\u00e9 \\ud83d\\ude00\\n\", \"odd\": \"{[\\\"\","
        "\"big\": 2147483648, \"neg\": -7, \"exp\": 1e3, \"nul\": null,"
        "\"data\": {\"s\": \"}\", \"arr\": [1, {\"x\": \"]\"}], \"in\": {\"k\": \"v\"}}}";
    assert_true(text_matches(ev, "[{\"exact\": {\"id\": \"e\\\"1\"}}]"));
    assert_true(text_matches(ev, "[{\"exact\": {\"note\": \"caf\\u00e9 \\ud83d\\ude00\\n\"}}]"));
    assert_true(text_matches(ev, "[{\"exact\": {\"odd\": \"{[\\\"\"}}]"));
    assert_true(text_matches(ev, "[{\"exact\": {\"big\": \"2147483648\", \"neg\": \"-7\", "
                                 "\"exp\": \"1e3\"}}]"));
    assert_true(text_matches(ev, "[{\"sql\": \"neg < 0 AND LENGTH(note) = 7\"}]"));
    assert_true(text_matches(ev, "[{\"exact\": {\"data.in.k\": \"v\", \"data.s\": \"}\"}}]"));
    assert_false(text_matches(ev, "[{\"sql\": \"EXISTS nul OR EXISTS data.arr OR EXISTS data\"}]"));
    assert_false(text_matches(ev, "[{\"exact\": {\"data.in.k.deeper\": \"v\"}}]"));
    /* broken text answers nothing, and is never read past its end */
    const char *broken[] = {"",
                            "{",
                            "{\"type\"",
                            "{\"type\":",
                            "{\"type\": \"t",
                            "[\"type\"]",
                            "{\"data\": {\"k\": \"v\"",
                            "{\"type\": \"\\u12\"}",
                            "{\"x\" \"type\": \"t\"}"};
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        char *copy = strdup(broken[i]); /* exactly its length: ASan sees a read past it */
        assert_false(text_matches(copy, "[{\"sql\": \"EXISTS type OR EXISTS data.k\"}]"));
        free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_dialects),    cmocka_unit_test(test_combinations_and_sql),
        cmocka_unit_test(test_refusals_say_where), cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_event_attributes),   cmocka_unit_test(test_event_text_scanner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
