/*
 * Unit tests of core/eg_json: what outside JSON is refused before cJSON
 * sees it (invalid UTF-8, NUL bytes, raw control characters in strings,
 * \u0000 escapes) and what passes (escaped backslashes before "u0000",
 * multi-byte UTF-8, control characters outside strings as whitespace).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "eg_json.h"

#define PROBLEM(lit) eg_json_text_problem(lit, sizeof(lit) - 1)

static void test_accepted(void **state)
{
    (void)state;
    assert_null(PROBLEM("{\"a\":\"b\"}"));
    assert_null(PROBLEM("{\"a\":\"\\\\u0000\"}")); /* an escaped backslash, then u0000 */
    assert_null(PROBLEM("{\"a\":\"\\n\\t\\\"\"}"));
    assert_null(PROBLEM("{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}"));
    assert_null(PROBLEM("{\n\t\"a\" :\r\n 1}"));
    cJSON *j = eg_json_parse("{\"a\":\"x\\u0041\"}", 15, NULL);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "a")->valuestring, "xA");
    cJSON_Delete(j);
}

static void test_refused(void **state)
{
    (void)state;
    assert_non_null(PROBLEM("{\"a\":\"x\\u0000y\"}"));
    assert_non_null(PROBLEM("{\"a\":\"x\0y\"}"));             /* a NUL byte in a string */
    assert_non_null(PROBLEM("{\"a\":1}\0"));                  /* and outside */
    assert_non_null(PROBLEM("{\"a\":\"x\ny\"}"));             /* a raw newline in a string */
    assert_non_null(PROBLEM("{\"a\":\"\xff\"}"));             /* not UTF-8 */
    assert_non_null(PROBLEM("{\"a\":\"\xc0\xaf\"}"));         /* overlong */
    assert_non_null(PROBLEM("{\"a\":\"\xed\xa0\x80\"}"));     /* a surrogate */
    assert_non_null(PROBLEM("{\"a\":\"\xf4\x90\x80\x80\"}")); /* past U+10FFFF */
    assert_non_null(PROBLEM("{\"a\":\"\xe2\x82\"}"));         /* cut short */
    const char *why = NULL;
    assert_null(eg_json_parse("{\"a\":\"\xff\"}", 8, &why));
    assert_string_equal(why, "the body is not valid UTF-8");
    why = NULL;
    assert_null(eg_json_parse("{\"a\":", 5, &why));
    assert_string_equal(why, "malformed JSON");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
