/*
 * Unit tests of invoker/sigv4.c against AWS's published SigV4 test suite
 * (aws-sig-v4-test-suite: credentials AKIDEXAMPLE, region us-east-1,
 * service "service", 2015-08-30T12:36:00Z; each case's expected signature
 * as published, and recomputed independently with botocore's SigV4Auth),
 * plus Lambda Invoke requests whose path holds a function name and a full
 * ARN with a qualifier (expected values from botocore, which URI-encodes
 * the already encoded ARN a second time), and the URI encoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

#define SUITE_AK "AKIDEXAMPLE"
#define SUITE_SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_WHEN ((time_t)1440938160) /* 2015-08-30T12:36:00Z */
#define SUITE_CRED                                                                                 \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
#define SUITE_TOKEN                                                                                \
    "AQoDYXdzEPT//////////"                                                                        \
    "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwth" \
    "Ax"                                                                                           \
    "7mSEI/qkPpKPi/"                                                                               \
    "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8"             \
    "Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"                                 \
    "scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvK"                                                          \
    "Tr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

static void check(eg_sigv4_request_t r, const char *expected)
{
    char date[EG_SIGV4_DATE_LEN], err[256] = "";
    if (!r.host)
        r.host = "example.amazonaws.com";
    if (!r.region)
        r.region = "us-east-1";
    if (!r.service)
        r.service = "service";
    if (!r.access_key)
        r.access_key = SUITE_AK;
    if (!r.secret_key)
        r.secret_key = SUITE_SK;
    if (!r.when)
        r.when = SUITE_WHEN;
    char *auth = eg_sigv4_sign(&r, date, err, sizeof err);
    assert_non_null(auth);
    assert_string_equal(auth, expected);
    free(auth);
    if (r.when == SUITE_WHEN)
        assert_string_equal(date, "20150830T123600Z");
}

static void test_get_vanilla(void **state)
{
    check((eg_sigv4_request_t){.method = "GET", .path = "/"},
          SUITE_CRED "SignedHeaders=host;x-amz-date, "
                     "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    /* get-vanilla-query: "/?" has an empty query. */
    check((eg_sigv4_request_t){.method = "GET", .path = "/", .query = ""},
          SUITE_CRED "SignedHeaders=host;x-amz-date, "
                     "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

static void test_post_vanilla(void **state)
{
    check((eg_sigv4_request_t){.method = "POST", .path = "/"},
          SUITE_CRED "SignedHeaders=host;x-amz-date, "
                     "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

static void test_query_order(void **state)
{
    /* get-vanilla-query-order-key-case */
    check(
        (eg_sigv4_request_t){.method = "GET", .path = "/", .query = "Param2=value2&Param1=value1"},
        SUITE_CRED "SignedHeaders=host;x-amz-date, "
                   "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
    /* post-vanilla-query */
    check((eg_sigv4_request_t){.method = "POST", .path = "/", .query = "Param1=value1"},
          SUITE_CRED "SignedHeaders=host;x-amz-date, "
                     "Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11");
}

static void test_post_form_urlencoded(void **state)
{
    static const eg_sigv4_header_t h[] = {{"Content-Type", "application/x-www-form-urlencoded"}};
    check((eg_sigv4_request_t){.method = "POST",
                               .path = "/",
                               .headers = h,
                               .nheaders = 1,
                               .body = "Param1=value1",
                               .body_len = 13},
          SUITE_CRED "SignedHeaders=content-type;host;x-amz-date, "
                     "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

static void test_headers(void **state)
{
    /* post-header-key-sort, post-header-value-case */
    static const eg_sigv4_header_t sort[] = {{"My-Header1", "value1"}};
    check((eg_sigv4_request_t){.method = "POST", .path = "/", .headers = sort, .nheaders = 1},
          SUITE_CRED "SignedHeaders=host;my-header1;x-amz-date, "
                     "Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c");
    static const eg_sigv4_header_t vcase[] = {{"My-Header1", "VALUE1"}};
    check((eg_sigv4_request_t){.method = "POST", .path = "/", .headers = vcase, .nheaders = 1},
          SUITE_CRED "SignedHeaders=host;my-header1;x-amz-date, "
                     "Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d");
    /* get-header-value-trim */
    static const eg_sigv4_header_t trim[] = {{"My-Header1", " value1"},
                                             {"My-Header2", " \"a   b   c\""}};
    check((eg_sigv4_request_t){.method = "GET", .path = "/", .headers = trim, .nheaders = 2},
          SUITE_CRED "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
                     "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
    /* get-header-key-duplicate: one name three times, values kept in order */
    static const eg_sigv4_header_t dup[] = {
        {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}};
    check((eg_sigv4_request_t){.method = "GET", .path = "/", .headers = dup, .nheaders = 3},
          SUITE_CRED "SignedHeaders=host;my-header1;x-amz-date, "
                     "Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");
}

static void test_session_token(void **state)
{
    /* post-sts-token/post-sts-header-before */
    check((eg_sigv4_request_t){.method = "POST", .path = "/", .session_token = SUITE_TOKEN},
          SUITE_CRED "SignedHeaders=host;x-amz-date;x-amz-security-token, "
                     "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
    /* an empty token is no token */
    check((eg_sigv4_request_t){.method = "POST", .path = "/", .session_token = ""},
          SUITE_CRED "SignedHeaders=host;x-amz-date, "
                     "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

static void test_paths(void **state)
{
    /* get-utf8, get-space, get-unreserved: raw paths encoded once */
    check((eg_sigv4_request_t){.method = "GET", .path = "/\xe1\x88\xb4"},
          SUITE_CRED "SignedHeaders=host;x-amz-date, "
                     "Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
    check((eg_sigv4_request_t){.method = "GET", .path = "/example space/"},
          SUITE_CRED "SignedHeaders=host;x-amz-date, "
                     "Signature=652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741");
    check(
        (eg_sigv4_request_t){
            .method = "GET",
            .path = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"},
        SUITE_CRED "SignedHeaders=host;x-amz-date, "
                   "Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
    /* normalize-path: get-relative, get-relative-relative, get-slash-dot-slash */
    const char *same_as_root[] = {"/example/..", "/example1/example2/../..", "/./", "", "/"};
    for (size_t i = 0; i < sizeof same_as_root / sizeof *same_as_root; i++)
        check((eg_sigv4_request_t){.method = "GET", .path = same_as_root[i]}, SUITE_CRED
              "SignedHeaders=host;x-amz-date, "
              "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

/* Lambda Invoke: a full ARN with a qualifier, encoded once in the path as
 * sent; the signature must encode it once more (botocore's value). */
static void test_lambda_arn(void **state)
{
    static const eg_sigv4_header_t h[] = {{"Content-Type", "application/json"},
                                          {"X-Amz-Invocation-Type", "RequestResponse"}};
    char *fn =
        eg_sigv4_uri_encode("arn:aws:lambda:eu-west-1:123456789012:function:my-fn:prod",
                            strlen("arn:aws:lambda:eu-west-1:123456789012:function:my-fn:prod"), 0);
    char path[256];
    assert_non_null(fn);
    snprintf(path, sizeof path, "/2015-03-31/functions/%s/invocations", fn);
    assert_string_equal(path, "/2015-03-31/functions/"
                              "arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Amy-fn%"
                              "3Aprod/invocations");
    free(fn);
    check((eg_sigv4_request_t){.method = "POST",
                               .host = "lambda.eu-west-1.amazonaws.com",
                               .path = path,
                               .headers = h,
                               .nheaders = 2,
                               .body = "{\"k\":\"v\"}",
                               .body_len = 9,
                               .region = "eu-west-1",
                               .service = "lambda"},
          "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/lambda/aws4_request, "
          "SignedHeaders=content-type;host;x-amz-date;x-amz-invocation-type, "
          "Signature=be64de85f8d9c5e389030696bd6883087b63dc0fd3f550fa51aff7e2e4fa4da4");
    /* by name, with a session token */
    check((eg_sigv4_request_t){.method = "POST",
                               .host = "lambda.eu-west-1.amazonaws.com",
                               .path = "/2015-03-31/functions/my-fn/invocations",
                               .headers = h,
                               .nheaders = 2,
                               .body = "{\"k\":\"v\"}",
                               .body_len = 9,
                               .region = "eu-west-1",
                               .service = "lambda",
                               .session_token = "tok/en+=="},
          "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/lambda/aws4_request, "
          "SignedHeaders=content-type;host;x-amz-date;x-amz-invocation-type;x-amz-security-token, "
          "Signature=a81482e7e5eb69fdfd0ec41266c95c891e550e871fc5a16b00795fbf76b84c53");
}

static void test_uri_encode_and_errors(void **state)
{
    char *e = eg_sigv4_uri_encode("a b/c~d+e$\xc3\xa9", strlen("a b/c~d+e$\xc3\xa9"), 1);
    assert_string_equal(e, "a%20b/c~d%2Be%24%C3%A9");
    free(e);
    e = eg_sigv4_uri_encode("a/b", 3, 0);
    assert_string_equal(e, "a%2Fb");
    free(e);
    char date[EG_SIGV4_DATE_LEN], err[256] = "";
    eg_sigv4_request_t r = {.method = "GET",
                            .host = "h",
                            .region = "r",
                            .service = "s",
                            .access_key = "",
                            .secret_key = "x"};
    assert_null(eg_sigv4_sign(&r, date, err, sizeof err));
    assert_true(strstr(err, "credentials") != NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_vanilla),
        cmocka_unit_test(test_post_vanilla),
        cmocka_unit_test(test_query_order),
        cmocka_unit_test(test_post_form_urlencoded),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_session_token),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_lambda_arn),
        cmocka_unit_test(test_uri_encode_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
