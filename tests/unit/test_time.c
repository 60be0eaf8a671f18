/*
 * Unit tests of core/eg_time: RFC 3339 parsing (UTC, offsets, fractions,
 * lower-case separators, every malformed form refused), formatting, and the
 * round trip between them across leap years and the epoch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "eg_time.h"

static int64_t parse(const char *s)
{
    int64_t ms = -42;
    assert_int_equal(eg_time_parse(s, strlen(s), &ms), 0);
    return ms;
}

static void refused(const char *s)
{
    int64_t ms = -42;
    if (eg_time_parse(s, strlen(s), &ms) == 0)
        fail_msg("\"%s\" should be refused, parsed as %lld", s, (long long)ms);
    assert_int_equal(ms, -42);
}

static void test_parse_utc(void **state)
{
    assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse("2024-05-01T12:00:00Z"), 1714564800000LL);
    assert_int_equal(parse("2024-05-01t12:00:00z"), 1714564800000LL);
    assert_int_equal(parse("2024-05-01 12:00:00Z"), 1714564800000LL);
    assert_int_equal(parse("2000-02-29T23:59:59Z"), 951868799000LL);
    assert_int_equal(parse("1969-12-31T23:59:59Z"), -1000);
    assert_int_equal(parse("9999-12-31T23:59:59Z"), 253402300799000LL);
}

static void test_parse_fraction(void **state)
{
    assert_int_equal(parse("2024-05-01T12:00:00.5Z"), 1714564800500LL);
    assert_int_equal(parse("2024-05-01T12:00:00.25Z"), 1714564800250LL);
    assert_int_equal(parse("2024-05-01T12:00:00.123Z"), 1714564800123LL);
    /* finer than a millisecond: truncated */
    assert_int_equal(parse("2024-05-01T12:00:00.123999999Z"), 1714564800123LL);
    assert_int_equal(parse("1969-12-31T23:59:59.5Z"), -500);
}

static void test_parse_offset(void **state)
{
    assert_int_equal(parse("2024-05-01T14:00:00+02:00"), 1714564800000LL);
    assert_int_equal(parse("2024-05-01T07:30:00-04:30"), 1714564800000LL);
    assert_int_equal(parse("2024-05-01T12:00:00.250+00:00"), 1714564800250LL);
    assert_int_equal(parse("2024-05-01T12:00:00-00:00"), 1714564800000LL);
}

static void test_parse_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "now",
        "2024",
        "2024-05-01",
        "2024-05-01T12:00Z",
        "2024-05-01T12:00:00",
        "2024-05-01T12:00:00+0200",
        "2024-05-01T12:00:00+02",
        "2024-5-01T12:00:00Z",
        "2024-05-1T12:00:00Z",
        "2024-05-01X12:00:00Z",
        "2024-13-01T12:00:00Z",
        "2024-00-01T12:00:00Z",
        "2024-02-30T12:00:00Z",
        "2023-02-29T12:00:00Z",
        "2024-04-31T12:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z",
        "2024-05-01T12:00:60Z",
        "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00.1234567890Z",
        "2024-05-01T12:00:00Zjunk",
        "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00+02:60",
        " 2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00Z ",
        "0000-01-01T00:00:00Z",
        "+2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00.12aZ",
        "１９７０-01-01T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(bad[i]);
    int64_t ms;
    assert_int_equal(eg_time_parse(NULL, 0, &ms), -1);
    /* length bounds the input: no NUL needed, nothing read past it */
    assert_int_equal(eg_time_parse("2024-05-01T12:00:00Zxyz", 20, &ms), 0);
    assert_int_equal(ms, 1714564800000LL);
    assert_int_equal(eg_time_parse("2024-05-01T12:00:00Z", 19, &ms), -1);
}

static void test_format(void **state)
{
    char buf[EG_TIME_LEN];
    assert_string_equal(eg_time_format(0, buf), "1970-01-01T00:00:00.000Z");
    assert_string_equal(eg_time_format(1714564800250LL, buf), "2024-05-01T12:00:00.250Z");
    assert_string_equal(eg_time_format(-500, buf), "1969-12-31T23:59:59.500Z");
    assert_string_equal(eg_time_format(951868799999LL, buf), "2000-02-29T23:59:59.999Z");
    assert_string_equal(eg_time_format(253402300799999LL, buf), "9999-12-31T23:59:59.999Z");
}

static void test_round_trip(void **state)
{
    char buf[EG_TIME_LEN];
    /* every ~37 hours and some milliseconds from 1900 to 2200 */
    for (int64_t ms = -2208988800000LL; ms < 7258118400000LL; ms += 133333337LL) {
        int64_t back = 0;
        eg_time_format(ms, buf);
        assert_int_equal(eg_time_parse(buf, strlen(buf), &back), 0);
        assert_int_equal(back, ms);
    }
}

static void test_clocks(void **state)
{
    int64_t now = eg_time_now_ms();
    assert_true(now > 1600000000000LL);
    int64_t a = eg_time_mono_ms(), b = eg_time_mono_ms();
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_utc),    cmocka_unit_test(test_parse_fraction),
        cmocka_unit_test(test_parse_offset), cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_format),       cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
