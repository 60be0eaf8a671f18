/*
 * Unit tests of the invoker's sync invocations (invoker/replies.c): the
 * eg-deadline header, the time budget of a sync call, and the reply record
 * built from every kind of outcome (2xx, non-2xx, connection error, timeout,
 * answer too large, no call at all, binary and empty bodies), read back with
 * eg_reply_decode as the ingress reads it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_reply.h"
#include "invoker_int.h"
#include "provider.h"

static void test_parse_deadline(void **state)
{
    (void)state;
    assert_int_equal(eg__invoker_parse_deadline("1700000000123"), 1700000000123LL);
    assert_int_equal(eg__invoker_parse_deadline("1"), 1);
    assert_int_equal(eg__invoker_parse_deadline(NULL), 0);
    assert_int_equal(eg__invoker_parse_deadline(""), 0);
    assert_int_equal(eg__invoker_parse_deadline("0"), 0);
    assert_int_equal(eg__invoker_parse_deadline("-5"), 0);
    assert_int_equal(eg__invoker_parse_deadline(" 5"), 0);
    assert_int_equal(eg__invoker_parse_deadline("+5"), 0);
    assert_int_equal(eg__invoker_parse_deadline("12x"), 0);
    assert_int_equal(eg__invoker_parse_deadline("1.5"), 0);
    assert_int_equal(eg__invoker_parse_deadline("abc"), 0);
    assert_int_equal(eg__invoker_parse_deadline("99999999999999999999999"), 0); /* overflow */
}

static void test_sync_timeout(void **state)
{
    (void)state;
    const int64_t now = 1700000000000LL;
    /* No deadline: the function timeout (10 s when unset). */
    assert_int_equal(eg__invoker_sync_timeout_ms(0, now, 3000), 3000);
    assert_int_equal(eg__invoker_sync_timeout_ms(-1, now, 3000), 3000);
    assert_int_equal(eg__invoker_sync_timeout_ms(0, now, 0), 10000);
    /* A far deadline: still the function timeout. */
    assert_int_equal(eg__invoker_sync_timeout_ms(now + 60000, now, 3000), 3000);
    assert_int_equal(eg__invoker_sync_timeout_ms(now + 3000, now, 3000), 3000);
    /* A near one: what is left of it. */
    assert_int_equal(eg__invoker_sync_timeout_ms(now + 2999, now, 3000), 2999);
    assert_int_equal(eg__invoker_sync_timeout_ms(now + 1, now, 3000), 1);
    assert_int_equal(eg__invoker_sync_timeout_ms(now + 250, now, 0), 250);
    /* Passed (or reached): no call. */
    assert_int_equal(eg__invoker_sync_timeout_ms(now, now, 3000), 0);
    assert_int_equal(eg__invoker_sync_timeout_ms(now - 1, now, 3000), 0);
    assert_int_equal(eg__invoker_sync_timeout_ms(1, now, 3000), 0);
}

/* Decodes a reply value (and frees it) as the ingress would. */
static eg_reply_t decode(char *v)
{
    eg_reply_t r;
    assert_non_null(v);
    assert_int_equal(eg_reply_decode(v, strlen(v), &r), 0);
    free(v);
    return r;
}

static eg_call_t answered(long status, const char *body)
{
    eg_call_t c;
    memset(&c, 0, sizeof c);
    c.code = CURLE_OK;
    c.status = status;
    c.response = (char *)body;
    c.response_len = body ? strlen(body) : 0;
    return c;
}

static void test_reply_success(void **state)
{
    (void)state;
    eg_call_t c = answered(201, "{\"statusCode\":201,\"body\":\"hi\"}");
    eg_reply_t r = decode(eg__invoker_sync_reply("c1", &c, EG_CALL_OK, ""));
    assert_string_equal(r.correlation, "c1");
    assert_true(r.ok);
    assert_int_equal(r.status, 201);
    assert_null(r.error);
    assert_string_equal(r.body, "{\"statusCode\":201,\"body\":\"hi\"}");
    eg_reply_release(&r);

    /* A 2xx without a body: an empty body, still ok. */
    c = answered(204, NULL);
    r = decode(eg__invoker_sync_reply("c2", &c, EG_CALL_OK, ""));
    assert_true(r.ok);
    assert_int_equal(r.status, 204);
    assert_non_null(r.body);
    assert_int_equal(r.body_len, 0);
    eg_reply_release(&r);
}

static void test_reply_http_failure(void **state)
{
    (void)state;
    /* A non-2xx answer: not ok, its status, its body, the error text. */
    eg_call_t c = answered(500, "boom");
    eg_reply_t r = decode(eg__invoker_sync_reply("c3", &c, EG_CALL_RETRY, "HTTP 500"));
    assert_false(r.ok);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.error, "HTTP 500");
    assert_string_equal(r.body, "boom");
    eg_reply_release(&r);

    c = answered(404, "");
    r = decode(eg__invoker_sync_reply("c4", &c, EG_CALL_FINAL, "HTTP 404"));
    assert_false(r.ok);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.error, "HTTP 404");
    eg_reply_release(&r);
}

static void test_reply_transport_failure(void **state)
{
    (void)state;
    /* Connection refused: no status, no body. */
    eg_call_t c = answered(0, NULL);
    c.code = CURLE_COULDNT_CONNECT;
    eg_reply_t r = decode(eg__invoker_sync_reply("c5", &c, EG_CALL_RETRY, "Failed to connect"));
    assert_false(r.ok);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.error, "Failed to connect");
    assert_null(r.body);
    eg_reply_release(&r);

    /* Timed out after the status line: the partial body is not passed on,
     * and a 2xx status does not make it a success. */
    c = answered(200, "{\"statusCode\":20");
    c.code = CURLE_OPERATION_TIMEDOUT;
    r = decode(eg__invoker_sync_reply("c6", &c, EG_CALL_RETRY, "Operation timed out"));
    assert_false(r.ok);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.error, "Operation timed out");
    assert_null(r.body);
    eg_reply_release(&r);
}

static void test_reply_too_large(void **state)
{
    (void)state;
    eg_call_t c = answered(200, "first 4 MiB...");
    c.response_truncated = 1;
    c.code = CURLE_WRITE_ERROR; /* the engine stops the transfer there */
    eg_reply_t r = decode(eg__invoker_sync_reply("c7", &c, EG_CALL_RETRY, "Failure writing"));
    assert_false(r.ok);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.error, EG__INVOKER_TOO_LARGE);
    assert_null(r.body);
    eg_reply_release(&r);

    /* Over the bound without the flag (another provider's buffer): same. */
    c = answered(200, "x");
    c.response_len = (size_t)EG_REPLY_MAX_BODY + 1;
    r = decode(eg__invoker_sync_reply("c8", &c, EG_CALL_OK, ""));
    assert_false(r.ok);
    assert_string_equal(r.error, EG__INVOKER_TOO_LARGE);
    eg_reply_release(&r);

    /* Exactly at the bound: passed on. */
    char *big = malloc((size_t)EG_REPLY_MAX_BODY + 1);
    assert_non_null(big);
    memset(big, 'a', EG_REPLY_MAX_BODY);
    big[EG_REPLY_MAX_BODY] = '\0';
    c = answered(200, big);
    r = decode(eg__invoker_sync_reply("c9", &c, EG_CALL_OK, ""));
    assert_true(r.ok);
    assert_int_equal(r.body_len, EG_REPLY_MAX_BODY);
    eg_reply_release(&r);
    free(big);
}

static void test_reply_no_call(void **state)
{
    (void)state;
    eg_reply_t r = decode(
        eg__invoker_sync_reply("c10", NULL, EG_CALL_FINAL, "function f1 not found in space s"));
    assert_false(r.ok);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.error, "function f1 not found in space s");
    assert_null(r.body);
    eg_reply_release(&r);

    /* Without an error text, a failure still says something. */
    r = decode(eg__invoker_reply_value("c11", 0, 0, NULL, 0, NULL));
    assert_false(r.ok);
    assert_string_equal(r.error, "call failed");
    eg_reply_release(&r);
    r = decode(eg__invoker_reply_value("c12", 1, 200, NULL, 0, "ignored"));
    assert_true(r.ok);
    assert_null(r.error);
    assert_null(r.body);
    eg_reply_release(&r);
}

static void test_reply_binary_body(void **state)
{
    (void)state;
    static const char bin[] = {'\x00', '\xff', 'a', '\x80', '\n'};
    eg_call_t c = answered(200, NULL);
    char buf[sizeof bin + 1];
    memcpy(buf, bin, sizeof bin);
    buf[sizeof bin] = '\0';
    c.response = buf;
    c.response_len = sizeof bin;
    char *v = eg__invoker_sync_reply("c13", &c, EG_CALL_OK, "");
    assert_non_null(strstr(v, "\"bodyBase64\""));
    eg_reply_t r = decode(v);
    assert_true(r.ok);
    assert_int_equal(r.body_len, sizeof bin);
    assert_memory_equal(r.body, bin, sizeof bin);
    eg_reply_release(&r);

    /* Correlation ids and error texts are JSON-escaped. */
    r = decode(eg__invoker_reply_value("a\"b\\c", 0, 502, NULL, 0, "bad \"gateway\"\n"));
    assert_string_equal(r.correlation, "a\"b\\c");
    assert_string_equal(r.error, "bad \"gateway\"\n");
    eg_reply_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_deadline),          cmocka_unit_test(test_sync_timeout),
        cmocka_unit_test(test_reply_success),           cmocka_unit_test(test_reply_http_failure),
        cmocka_unit_test(test_reply_transport_failure), cmocka_unit_test(test_reply_too_large),
        cmocka_unit_test(test_reply_no_call),           cmocka_unit_test(test_reply_binary_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
