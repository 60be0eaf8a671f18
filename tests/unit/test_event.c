/*
 * Unit tests for core/eg_event, the CloudEvents codec: every HTTP input form
 * (1.0 structured and binary, 0.1 structured and binary, 0.1 JSON body,
 * legacy "Event:" header, http.request) with the exact resulting fields;
 * missing or invalid attributes in each form (400 naming the attribute);
 * data kinds; egspace and partitionkey; Kafka structured and binary records
 * and the rejection of records that are not CloudEvents; serialize -> parse
 * round trips; set_extension; and 5,000 random or mutated inputs per parser
 * (fixed seed) that must never crash and whose every accepted event must
 * survive serialize -> parse. Run under valgrind for leaks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "eg_base64.h"
#include "eg_event.h"

/* ------------------------------------------------------------- helpers */

#define HDRS(...) ((const eg_header_t[]){__VA_ARGS__})
#define NH(arr) (sizeof(arr) / sizeof((arr)[0]))

static eg_http_input_t input(const eg_header_t *h, size_t nh, const char *body)
{
    eg_http_input_t in = {0};
    in.method = "POST";
    in.path = "/";
    in.host = "localhost:4000";
    in.headers = h;
    in.nheaders = nh;
    in.body = body;
    in.body_len = body ? strlen(body) : 0;
    return in;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *obj(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* Asserts the JSON value at o[k] prints exactly as expected. */
static void expect_json(const cJSON *o, const char *k, const char *expected)
{
    const cJSON *v = obj(o, k);
    assert_non_null(v);
    char *s = cJSON_PrintUnformatted(v);
    assert_non_null(s);
    if (strcmp(s, expected))
        fail_msg("%s: got %s, want %s", k, s, expected);
    free(s);
}

static void expect_absent(const cJSON *o, const char *k)
{
    if (obj(o, k))
        fail_msg("%s should be absent", k);
}

/* Asserts a 400 whose message contains needle. */
static void expect_400(int rc, const eg_error_t *err, const eg_event_t *e, const char *needle)
{
    assert_int_equal(rc, -1);
    assert_int_equal(err->status, 400);
    assert_null(e->json);
    if (!strstr(err->message, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err->message, needle);
}

static int http(const eg_http_input_t *in, eg_event_t *e, eg_error_t *err)
{
    memset(err, 0, sizeof *err);
    return eg_event_from_http(in, e, err);
}

static void expect_http_400(const eg_header_t *h, size_t nh, const char *body, const char *needle)
{
    eg_http_input_t in = input(h, nh, body);
    eg_event_t e;
    eg_error_t err;
    expect_400(http(&in, &e, &err), &err, &e, needle);
}

static int is_uuid4(const char *s)
{
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!strchr("0123456789abcdef", s[i])) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* YYYY-MM-DDTHH:MM:SS.mmmZ */
static int is_now_time(const char *s)
{
    if (!s || strlen(s) != 24 || s[10] != 'T' || s[19] != '.' || s[23] != 'Z')
        return 0;
    return strncmp(s, "20", 2) == 0;
}

/* Asserts the transformed-by-the-gateway 0.1 attributes. */
static void expect_transformed(const cJSON *j, const char *type)
{
    assert_string_equal(str(j, "eventType"), type);
    assert_string_equal(str(j, "cloudEventsVersion"), "0.1");
    assert_string_equal(str(j, "source"), EG_EVENT_SOURCE_EG);
    assert_true(is_uuid4(str(j, "eventID")));
    assert_true(is_now_time(str(j, "eventTime")));
    expect_json(j, "extensions",
                "{\"eventgateway\":{\"transformation-version\":\"0.1\",\"transformed\":\"true\"}}");
}

static void roundtrip(const eg_event_t *e)
{
    size_t len = 0;
    char *s = eg_event_serialize(e, &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(s));
    eg_event_t back;
    eg_error_t err = {0};
    if (eg_event_parse(s, len, &back, &err))
        fail_msg("re-parse of %s failed: %s", s, err.message);
    assert_int_equal(back.version, e->version);
    assert_true(cJSON_Compare(back.json, e->json, 1));
    assert_string_equal(back.id, e->id);
    assert_string_equal(back.type, e->type);
    assert_string_equal(back.source, e->source);
    assert_string_equal(back.space, e->space);
    if (e->partition_key)
        assert_string_equal(back.partition_key, e->partition_key);
    else
        assert_null(back.partition_key);
    eg_event_release(&back);
    free(s);
}

/* ------------------------------------------------- 1.0 structured (HTTP) */

static const char *ce10 = "{\"specversion\":\"1.0\",\"id\":\"abc-1\",\"source\":\"/my/source\","
                          "\"type\":\"user.created\",\"time\":\"2024-05-06T07:08:09.123Z\","
                          "\"datacontenttype\":\"application/json\",\"egspace\":\"team-a\","
                          "\"partitionkey\":\"user42\",\"myext\":\"v\",\"num\":7,\"flag\":true,"
                          "\"data\":{\"name\":\"x\",\"list\":[1,2]}}";

static void test_http_structured_v10(void **state)
{
    eg_http_input_t in =
        input(HDRS({"content-type", "application/cloudevents+json; charset=utf-8"}), 1, ce10);
    eg_event_t e;
    eg_error_t err;
    assert_int_equal(http(&in, &e, &err), 0);
    assert_int_equal(e.version, EG_EVENT_V10);
    assert_string_equal(e.id, "abc-1");
    assert_string_equal(e.type, "user.created");
    assert_string_equal(e.source, "/my/source");
    assert_string_equal(e.space, "team-a");
    assert_string_equal(e.partition_key, "user42");
    expect_json(e.json, "data", "{\"name\":\"x\",\"list\":[1,2]}");
    expect_json(e.json, "num", "7");
    expect_json(e.json, "flag", "true");
    assert_string_equal(eg_event_content_type(&e), "application/cloudevents+json");
    size_t len;
    char *s = eg_event_serialize(&e, &len);
    assert_string_equal(s, ce10); /* kept exactly as received */
    free(s);
    roundtrip(&e);
    eg_event_release(&e);
    eg_event_release(&e); /* zeroed: harmless */

    /* data_base64, no data, no egspace: space "default", no partition key */
    in = input(HDRS({"Content-Type", "application/cloudevents+json"}), 1,
               "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
               "\"data_base64\":\"aGVsbG8=\"}");
    assert_int_equal(http(&in, &e, &err), 0);
    assert_string_equal(e.space, "default");
    assert_null(e.partition_key);
    expect_json(e.json, "data_base64", "\"aGVsbG8=\"");
    roundtrip(&e);
    eg_event_release(&e);
}

static void test_http_structured_v10_invalid(void **state)
{
    const eg_header_t h[] = {{"Content-Type", "application/cloudevents+json"}};
#define CE(extra) "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\"" extra "}"
    expect_http_400(h, 1, "{\"id\":\"1\",\"source\":\"s\",\"type\":\"t\"}", "\"specversion\"");
    expect_http_400(h, 1, "{\"specversion\":\"0.3\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\"}",
                    "specversion \"0.3\"");
    expect_http_400(h, 1, "{\"specversion\":1,\"id\":\"1\",\"source\":\"s\",\"type\":\"t\"}",
                    "\"specversion\" must be a string");
    expect_http_400(h, 1, "{\"specversion\":\"1.0\",\"source\":\"s\",\"type\":\"t\"}",
                    "attribute \"id\" is missing");
    expect_http_400(h, 1, "{\"specversion\":\"1.0\",\"id\":\"\",\"source\":\"s\",\"type\":\"t\"}",
                    "attribute \"id\" must not be empty");
    expect_http_400(h, 1, "{\"specversion\":\"1.0\",\"id\":\"1\",\"type\":\"t\"}",
                    "attribute \"source\" is missing");
    expect_http_400(h, 1, "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":3}",
                    "attribute \"type\" must be a string");
    expect_http_400(h, 1, "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\"}",
                    "attribute \"type\" is missing");
    expect_http_400(h, 1, CE(",\"Bad\":\"x\""), "invalid attribute name \"Bad\"");
    expect_http_400(h, 1, CE(",\"abcdefghijklmnopqrstu\":\"x\""), "invalid attribute name");
    expect_http_400(h, 1, CE(",\"my_ext\":\"x\""), "invalid attribute name \"my_ext\"");
    expect_http_400(h, 1, CE(",\"my.ext\":\"x\""), "invalid attribute name");
    expect_http_400(h, 1, CE(",\"ext\":{\"a\":1}"), "\"ext\" must be a string, number or boolean");
    expect_http_400(h, 1, CE(",\"ext\":null"), "\"ext\" must be a string, number or boolean");
    expect_http_400(h, 1, CE(",\"ext\":1e999"), "\"ext\" must be a finite number");
    expect_http_400(h, 1, CE(",\"data\":1,\"data_base64\":\"AA==\""), "mutually exclusive");
    expect_http_400(h, 1, CE(",\"data_base64\":\"not base64!\""), "\"data_base64\"");
    expect_http_400(h, 1, CE(",\"data_base64\":5"), "\"data_base64\"");
    expect_http_400(h, 1, CE(",\"time\":\"yesterday\""), "\"time\" is not an RFC 3339");
    expect_http_400(h, 1, CE(",\"time\":\"2024-13-01T00:00:00Z\""), "\"time\"");
    expect_http_400(h, 1, CE(",\"subject\":1"), "\"subject\" must be a string");
    expect_http_400(h, 1, CE(",\"datacontenttype\":false"), "\"datacontenttype\"");
    expect_http_400(h, 1, CE(",\"egspace\":\"a b\""), "\"egspace\"");
    expect_http_400(h, 1, CE(",\"egspace\":\"ab\""), "\"egspace\"");
    expect_http_400(h, 1, CE(",\"egspace\":3"), "\"egspace\"");
    expect_http_400(h, 1, CE(",\"partitionkey\":3"), "\"partitionkey\"");
    expect_http_400(h, 1, CE(",\"id\":\"2\""), "\"id\" appears twice");
    expect_http_400(h, 1, "[1,2]", "JSON object");
    expect_http_400(h, 1, "{\"specversion\":", "not valid JSON");
    expect_http_400(h, 1, CE("") " trailing", "not valid JSON");
    expect_http_400(h, 1, CE("") "}", "not valid JSON");
    expect_http_400(h, 1, CE(",\"data\":\"a\\u0000b\""), "not valid JSON"); /* NUL */
    expect_http_400(h, 1, CE(",\"data\":\"\\u00001\""), "not valid JSON");
    { /* white space after the document is fine; an escaped backslash before
         "u0000" is no NUL; the length bounds the text: "x" after it is not read */
        static const char *const ok[] = {CE("") " \r\n\t", CE(",\"data\":\"a\\\\u0000b\""),
                                         CE("") "x"};
        for (size_t i = 0; i < 3; i++) {
            eg_http_input_t in = input(h, 1, ok[i]);
            if (i == 2)
                in.body_len--;
            eg_event_t e;
            eg_error_t err;
            assert_int_equal(http(&in, &e, &err), 0);
            eg_event_release(&e);
        }
    }
    expect_http_400(h, 1, "", "empty");
    expect_http_400(h, 1, "{\"a\":1}", "\"specversion\" is missing");

    /* bounds */
    char *big = malloc(EG_EVENT_MAX_ATTR_LEN + 128);
    int n = sprintf(big, "{\"specversion\":\"1.0\",\"id\":\"");
    memset(big + n, 'x', EG_EVENT_MAX_ATTR_LEN + 1);
    strcpy(big + n + EG_EVENT_MAX_ATTR_LEN + 1, "\",\"source\":\"s\",\"type\":\"t\"}");
    expect_http_400(h, 1, big, "\"id\" is too long");
    free(big);
    char many[4096];
    n = sprintf(many, "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\"");
    for (int i = 0; i < EG_EVENT_MAX_ATTRS; i++)
        n += sprintf(many + n, ",\"x%d\":1", i);
    strcpy(many + n, "}");
    expect_http_400(h, 1, many, "too many");
#undef CE
}

/* ----------------------------------------------------- 1.0 binary (HTTP) */

static void test_http_binary_v10(void **state)
{
    const eg_header_t h[] = {
        {"Host", "gw"},
        {"CE-SpecVersion", "1.0"},
        {"ce-type", "order.placed"},
        {"Ce-Source", "https://shop.example/orders"},
        {"ce-id", "A234-1234-1234"},
        {"ce-time", "2018-04-05T17:31:00+02:00"},
        {"ce-comexampleext", "Euro%20%E2%82%AC%20%F0%9F%98%80"},
        {"ce-quoted", "\"a \\\"b\\\" c\""},
        {"ce-egspace", "shop"},
        {"ce-partitionkey", "order-9"},
        {"Content-Type", "application/json; charset=utf-8"},
    };
    eg_http_input_t in = input(h, NH(h), "{\"total\": 12.5, \"items\": [\"a\"]}");
    eg_event_t e;
    eg_error_t err;
    assert_int_equal(http(&in, &e, &err), 0);
    assert_int_equal(e.version, EG_EVENT_V10);
    assert_string_equal(e.space, "shop");
    assert_string_equal(e.partition_key, "order-9");
    size_t len;
    char *s = eg_event_serialize(&e, &len);
    assert_string_equal(s, "{\"specversion\":\"1.0\",\"id\":\"A234-1234-1234\","
                           "\"source\":\"https://shop.example/orders\",\"type\":\"order.placed\","
                           "\"time\":\"2018-04-05T17:31:00+02:00\","
                           "\"comexampleext\":\"Euro \xE2\x82\xAC \xF0\x9F\x98\x80\","
                           "\"quoted\":\"a \\\"b\\\" c\",\"egspace\":\"shop\","
                           "\"partitionkey\":\"order-9\","
                           "\"datacontenttype\":\"application/json; charset=utf-8\","
                           "\"data\":{\"total\":12.5,\"items\":[\"a\"]}}");
    free(s);
    roundtrip(&e);
    eg_event_release(&e);
}

static void test_http_binary_v10_data_kinds(void **state)
{
    eg_event_t e;
    eg_error_t err;
    /* text */
    const eg_header_t t[] = {{"ce-specversion", "1.0"},
                             {"ce-id", "1"},
                             {"ce-source", "s"},
                             {"ce-type", "t"},
                             {"content-type", "text/plain"}};
    eg_http_input_t in = input(t, NH(t), "hello world");
    assert_int_equal(http(&in, &e, &err), 0);
    expect_json(e.json, "data", "\"hello world\"");
    expect_json(e.json, "datacontenttype", "\"text/plain\"");
    expect_absent(e.json, "data_base64");
    eg_event_release(&e);
    /* text that is not UTF-8: data_base64 */
    in.body = "\xff\xfe";
    in.body_len = 2;
    assert_int_equal(http(&in, &e, &err), 0);
    expect_json(e.json, "data_base64", "\"//4=\"");
    expect_absent(e.json, "data");
    eg_event_release(&e);
    /* binary */
    const eg_header_t b[] = {{"ce-specversion", "1.0"},
                             {"ce-id", "1"},
                             {"ce-source", "s"},
                             {"ce-type", "t"},
                             {"content-type", "application/octet-stream"}};
    static const char bin[] = {0x00, 0x01, 0x02, (char)0xff, 'a'};
    in = input(b, NH(b), NULL);
    in.body = bin;
    in.body_len = sizeof bin;
    assert_int_equal(http(&in, &e, &err), 0);
    expect_json(e.json, "data_base64", "\"AAEC/2E=\"");
    expect_absent(e.json, "data");
    roundtrip(&e);
    eg_event_release(&e);
    /* +json type */
    const eg_header_t pj[] = {{"ce-specversion", "1.0"},
                              {"ce-id", "1"},
                              {"ce-source", "s"},
                              {"ce-type", "t"},
                              {"content-type", "application/vnd.x+json"}};
    in = input(pj, NH(pj), "[1,\"two\"]");
    assert_int_equal(http(&in, &e, &err), 0);
    expect_json(e.json, "data", "[1,\"two\"]");
    eg_event_release(&e);
    /* no content type: JSON when it parses, else data_base64; empty: no data */
    const eg_header_t n[] = {
        {"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "s"}, {"ce-type", "t"}};
    in = input(n, NH(n), "{\"a\":1}");
    assert_int_equal(http(&in, &e, &err), 0);
    expect_json(e.json, "data", "{\"a\":1}");
    expect_absent(e.json, "datacontenttype");
    eg_event_release(&e);
    in = input(n, NH(n), "abc");
    assert_int_equal(http(&in, &e, &err), 0);
    expect_json(e.json, "data_base64", "\"YWJj\"");
    eg_event_release(&e);
    in = input(n, NH(n), NULL);
    assert_int_equal(http(&in, &e, &err), 0);
    expect_absent(e.json, "data");
    expect_absent(e.json, "data_base64");
    eg_event_release(&e);
    /* ce-datacontenttype without Content-Type is used; Content-Type wins over it */
    const eg_header_t dct[] = {{"ce-specversion", "1.0"},
                               {"ce-id", "1"},
                               {"ce-source", "s"},
                               {"ce-type", "t"},
                               {"ce-datacontenttype", "text/csv"}};
    in = input(dct, NH(dct), "a,b");
    assert_int_equal(http(&in, &e, &err), 0);
    expect_json(e.json, "datacontenttype", "\"text/csv\"");
    expect_json(e.json, "data", "\"a,b\"");
    eg_event_release(&e);
    const eg_header_t dct2[] = {{"ce-specversion", "1.0"},
                                {"ce-id", "1"},
                                {"ce-source", "s"},
                                {"ce-type", "t"},
                                {"ce-datacontenttype", "text/csv"},
                                {"Content-Type", "application/json"}};
    in = input(dct2, NH(dct2), "[true]");
    assert_int_equal(http(&in, &e, &err), 0);
    expect_json(e.json, "datacontenttype", "\"application/json\"");
    expect_json(e.json, "data", "[true]");
    eg_event_release(&e);
    /* invalid JSON under a JSON type: 400 */
    const eg_header_t j[] = {{"ce-specversion", "1.0"},
                             {"ce-id", "1"},
                             {"ce-source", "s"},
                             {"ce-type", "t"},
                             {"content-type", "application/json"}};
    expect_http_400(j, NH(j), "{not json", "data is not valid JSON");
}

static void test_http_binary_v10_invalid(void **state)
{
    const eg_header_t noid[] = {{"ce-specversion", "1.0"}, {"ce-source", "s"}, {"ce-type", "t"}};
    expect_http_400(noid, NH(noid), "{}", "attribute \"id\" is missing");
    const eg_header_t nosrc[] = {{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-type", "t"}};
    expect_http_400(nosrc, NH(nosrc), "{}", "attribute \"source\" is missing");
    const eg_header_t notype[] = {{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "s"}};
    expect_http_400(notype, NH(notype), "{}", "attribute \"type\" is missing");
    const eg_header_t v03[] = {
        {"ce-specversion", "0.3"}, {"ce-id", "1"}, {"ce-source", "s"}, {"ce-type", "t"}};
    expect_http_400(v03, NH(v03), "{}", "specversion \"0.3\"");
    const eg_header_t badname[] = {{"ce-specversion", "1.0"},
                                   {"ce-id", "1"},
                                   {"ce-source", "s"},
                                   {"ce-type", "t"},
                                   {"ce-my_ext", "x"}};
    expect_http_400(badname, NH(badname), "{}", "ce-my_ext");
    const eg_header_t longname[] = {{"ce-specversion", "1.0"},
                                    {"ce-id", "1"},
                                    {"ce-source", "s"},
                                    {"ce-type", "t"},
                                    {"ce-abcdefghijklmnopqrstuvwxyz", "x"}};
    expect_http_400(longname, NH(longname), "{}", "invalid header");
    const eg_header_t dup[] = {{"ce-specversion", "1.0"},
                               {"ce-id", "1"},
                               {"CE-ID", "2"},
                               {"ce-source", "s"},
                               {"ce-type", "t"}};
    expect_http_400(dup, NH(dup), "{}", "ce-id appears twice");
    const eg_header_t pct[] = {
        {"ce-specversion", "1.0"}, {"ce-id", "1%zz"}, {"ce-source", "s"}, {"ce-type", "t"}};
    expect_http_400(pct, NH(pct), "{}", "ce-id");
    const eg_header_t overlong[] = {
        {"ce-specversion", "1.0"}, {"ce-id", "%C0%A0"}, {"ce-source", "s"}, {"ce-type", "t"}};
    expect_http_400(overlong, NH(overlong), "{}", "not a valid percent-encoded UTF-8");
    const eg_header_t ctl[] = {
        {"ce-specversion", "1.0"}, {"ce-id", "a%0Ab"}, {"ce-source", "s"}, {"ce-type", "t"}};
    expect_http_400(ctl, NH(ctl), "{}", "ce-id");
    const eg_header_t data[] = {{"ce-specversion", "1.0"},
                                {"ce-id", "1"},
                                {"ce-source", "s"},
                                {"ce-type", "t"},
                                {"ce-data", "x"}};
    expect_http_400(data, NH(data), "{}", "ce-data");
    const eg_header_t sp[] = {{"ce-specversion", "1.0"},
                              {"ce-id", "1"},
                              {"ce-source", "s"},
                              {"ce-type", "t"},
                              {"ce-egspace", "no space"}};
    expect_http_400(sp, NH(sp), "{}", "\"egspace\"");
    const eg_header_t tm[] = {{"ce-specversion", "1.0"},
                              {"ce-id", "1"},
                              {"ce-source", "s"},
                              {"ce-type", "t"},
                              {"ce-time", "2018-04-05"}};
    expect_http_400(tm, NH(tm), "{}", "\"time\"");
}

/* ---------------------------------------------------------- 0.1 forms */

static const char *ce01 =
    "{\"eventType\":\"user.created\",\"eventID\":\"66dfc31d-6844-42fd-b1a7-a489a49f65f3\","
    "\"cloudEventsVersion\":\"0.1\",\"source\":\"https://serverless.com/event-gateway/"
    "#transformationVersion=0.1\",\"eventTime\":\"1990-12-31T23:59:60Z\","
    "\"data\":{\"foo\":\"bar\"},\"contentType\":\"application/json\","
    "\"extensions\":{\"egspace\":\"myspace\",\"eventgateway.authorization\":{\"p\":1},"
    "\"other\":1}}";

/* A structured event that is its body exactly may be stored as it came
 * (raw); any change, and every other form, leaves raw NULL. */
static void expect_raw(const char *ct, const char *body, size_t raw_len)
{
    eg_header_t h[] = {{"Content-Type", ct}};
    eg_http_input_t in = input(h, 1, body);
    eg_event_t e;
    eg_error_t err;
    if (http(&in, &e, &err))
        fail_msg("%s: %s", body, err.message);
    if (raw_len) {
        assert_ptr_equal(e.raw, body);
        assert_int_equal(e.raw_len, raw_len);
        /* what a consumer parses from it is the event */
        eg_event_t back;
        assert_int_equal(eg_event_parse(e.raw, e.raw_len, &back, &err), 0);
        assert_true(cJSON_Compare(back.json, e.json, 1));
        eg_event_release(&back);
        /* an extension added: the text is not the event any more */
        assert_int_equal(
            eg_event_set_extension(&e, "eventgateway.authorization", cJSON_CreateObject()), 0);
        assert_null(e.raw);
    } else {
        assert_null(e.raw);
    }
    eg_event_release(&e);
}

/* The gateway's own extensions (an authorizer's result, a replay's mark)
 * never come from a client: every HTTP form drops them; Kafka keeps them. */
static void expect_no_gateway_extensions(const eg_event_t *e)
{
    const cJSON *ext = e->version == EG_EVENT_V01 ? obj(e->json, "extensions") : e->json;
    for (const cJSON *a = ext ? ext->child : NULL; a; a = a->next)
        if (!strncasecmp(a->string, "eventgateway.", 13) || !strcasecmp(a->string, "replayid"))
            fail_msg("%s came through", a->string);
}

static void test_http_gateway_extensions_dropped(void **state)
{
    (void)state;
    eg_event_t e;
    eg_error_t err;
    const char *v10 = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
                      "\"replayid\":\"r-1\",\"eventgateway.authorization\":{\"principalId\":\"x\"},"
                      "\"Eventgateway.Other\":1,\"mine\":\"kept\"}";
    const char *v01 = "{\"eventType\":\"t\",\"eventID\":\"1\",\"cloudEventsVersion\":\"0.1\","
                      "\"source\":\"/s\",\"extensions\":{\"replayid\":\"r-1\",\"mine\":\"kept\","
                      "\"eventgateway.authorization\":{\"principalId\":\"x\"}}}";
    const char *cts[] = {EG_EVENT_CT_CLOUDEVENTS, EG_EVENT_CT_CLOUDEVENTS, "application/json"};
    const char *bodies[] = {v10, v01, v01};
    for (int k = 0; k < 3; k++) {
        eg_header_t h[] = {{"Content-Type", cts[k]}};
        eg_http_input_t in = input(h, 1, bodies[k]);
        if (http(&in, &e, &err))
            fail_msg("%s: %s", bodies[k], err.message);
        expect_no_gateway_extensions(&e);
        assert_null(e.raw); /* the stored event is not the body any more */
        const cJSON *ext = e.version == EG_EVENT_V01 ? obj(e.json, "extensions") : e.json;
        assert_string_equal(str(ext, "mine"), "kept");
        eg_event_release(&e);
    }
    eg_header_t b10[] = {{"ce-specversion", "1.0"}, {"ce-id", "1"},
                         {"ce-source", "/s"},       {"ce-type", "t"},
                         {"ce-replayid", "r-1"},    {"CE-EventGateway.Authorization", "{}"},
                         {"ce-mine", "kept"}};
    eg_http_input_t in = input(b10, NH(b10), "{}");
    assert_int_equal(http(&in, &e, &err), 0);
    expect_no_gateway_extensions(&e);
    assert_string_equal(str(e.json, "mine"), "kept");
    eg_event_release(&e);
    eg_header_t b01[] = {{"CE-EventType", "t"},    {"CE-CloudEventsVersion", "0.1"},
                         {"CE-Source", "/s"},      {"CE-EventID", "1"},
                         {"CE-X-Replayid", "r-1"}, {"CE-X-Eventgateway.authorization", "{}"},
                         {"CE-X-Mine", "kept"}};
    in = input(b01, NH(b01), "{}");
    assert_int_equal(http(&in, &e, &err), 0);
    expect_no_gateway_extensions(&e);
    assert_string_equal(str(obj(e.json, "extensions"), "mine"), "kept");
    eg_event_release(&e);
    /* written straight into Kafka, they are trusted (as far as Kafka's ACLs go) */
    assert_int_equal(eg_event_from_kafka(v10, strlen(v10), NULL, &e, &err), -1); /* not a name */
    const char *k10 = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
                      "\"replayid\":\"r-1\",\"eventgateway.authorization\":{\"p\":1}}";
    assert_int_equal(eg_event_from_kafka(k10, strlen(k10), NULL, &e, &err), 0);
    assert_string_equal(str(e.json, "replayid"), "r-1");
    assert_non_null(obj(e.json, "eventgateway.authorization"));
    eg_event_release(&e);
}

static void test_http_raw(void **state)
{
    (void)state;
    const char *ce = EG_EVENT_CT_CLOUDEVENTS;
    expect_raw(ce, ce10, strlen(ce10));
    /* white space after the document is not part of it; before it, it is */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s \r\n\t ", ce10);
    expect_raw(ce, buf, strlen(ce10));
    snprintf(buf, sizeof buf, " \n%s", ce10);
    expect_raw(ce, buf, strlen(ce10) + 2);
    /* 0.1 as the SDK posts it, and as application/json */
    const char *v01 =
        "{\"eventType\":\"user.created\",\"eventID\":\"1\",\"cloudEventsVersion\":\"0.1\","
        "\"source\":\"/s\",\"extensions\":{\"egspace\":\"team-a\"},\"data\":{\"x\":1}}";
    expect_raw(ce, v01, strlen(v01));
    expect_raw("application/json", v01, strlen(v01));
    /* the gateway's own extensions stripped: the event is not the body */
    expect_raw(ce, ce01, 0);
    expect_raw("application/json", ce01, 0);
    /* binary mode, legacy and http.request events are built, not received */
    eg_header_t bin[] = {{"ce-specversion", "1.0"},
                         {"ce-id", "1"},
                         {"ce-source", "/s"},
                         {"ce-type", "t"},
                         {"Content-Type", "application/json"}};
    eg_http_input_t in = input(bin, 5, "{\"a\":1}");
    eg_event_t e;
    eg_error_t err;
    assert_int_equal(http(&in, &e, &err), 0);
    assert_null(e.raw);
    eg_event_release(&e);
    eg_header_t legacy[] = {{"Event", "user.created"}, {"Content-Type", "application/json"}};
    in = input(legacy, 2, "{\"a\":1}");
    assert_int_equal(http(&in, &e, &err), 0);
    assert_null(e.raw);
    eg_event_release(&e);
    expect_raw("application/json", "{\"a\":1}", 0); /* http.request */
}

static void test_http_v01_structured_and_json(void **state)
{
    eg_event_t e;
    eg_error_t err;
    /* as the 0.9 SDK posts it: Content-Type application/cloudevents+json */
    const char *cts[] = {"application/cloudevents+json", "application/json", NULL};
    for (int i = 0; i < 3; i++) {
        eg_header_t h[] = {{"Content-Type", cts[i] ? cts[i] : ""}};
        eg_http_input_t in = input(h, cts[i] ? 1 : 0, ce01);
        assert_int_equal(http(&in, &e, &err), 0);
        assert_int_equal(e.version, EG_EVENT_V01);
        assert_string_equal(e.type, "user.created");
        assert_string_equal(e.id, "66dfc31d-6844-42fd-b1a7-a489a49f65f3");
        assert_string_equal(e.source, EG_EVENT_SOURCE_EG);
        assert_string_equal(e.space, "myspace");
        assert_null(e.partition_key);
        expect_json(e.json, "data", "{\"foo\":\"bar\"}");
        expect_json(e.json, "eventTime", "\"1990-12-31T23:59:60Z\"");
        /* the gateway's own extensions cannot be forged by a client */
        expect_json(e.json, "extensions", "{\"egspace\":\"myspace\",\"other\":1}");
        assert_string_equal(eg_event_content_type(&e), "application/json");
        roundtrip(&e);
        eg_event_release(&e);
    }

    const eg_header_t h[] = {{"Content-Type", "application/json"}};
#define E01(x) "{\"cloudEventsVersion\":\"0.1\"" x "}"
    expect_http_400(h, 1, E01(",\"eventID\":\"1\",\"source\":\"s\""),
                    "attribute \"eventType\" is missing");
    expect_http_400(h, 1, E01(",\"eventType\":\"t\",\"source\":\"s\""),
                    "attribute \"eventID\" is missing");
    expect_http_400(h, 1, E01(",\"eventType\":\"t\",\"eventID\":\"1\""),
                    "attribute \"source\" is missing");
    expect_http_400(h, 1, E01(",\"eventType\":1,\"eventID\":\"1\",\"source\":\"s\""),
                    "attribute \"eventType\" must be a string");
    expect_http_400(h, 1,
                    "{\"cloudEventsVersion\":\"0.2\",\"eventType\":\"t\",\"eventID\":\"1\","
                    "\"source\":\"s\"}",
                    "cloudEventsVersion \"0.2\"");
    expect_http_400(
        h, 1, E01(",\"eventType\":\"t\",\"eventID\":\"1\",\"source\":\"s\",\"eventTime\":\"x\""),
        "\"eventTime\"");
    expect_http_400(
        h, 1, E01(",\"eventType\":\"t\",\"eventID\":\"1\",\"source\":\"s\",\"extensions\":[]"),
        "\"extensions\" must be an object");
    expect_http_400(h, 1,
                    E01(",\"eventType\":\"t\",\"eventID\":\"1\",\"source\":\"s\","
                        "\"extensions\":{\"egspace\":\"x\"}"),
                    "extensions.egspace");
    /* a stored 0.1 event with a specversion member would read back as 1.0 */
    expect_http_400(h, 1,
                    E01(",\"eventType\":\"t\",\"eventID\":\"1\",\"source\":\"s\","
                        "\"specversion\":\"application/json\""),
                    "mutually exclusive");
    const eg_header_t ce[] = {{"Content-Type", "application/cloudevents+json"}};
    expect_http_400(ce, 1, E01(",\"eventType\":\"t\",\"source\":\"s\""),
                    "attribute \"eventID\" is missing");

    /* an invalid 0.1 body with an Event header falls back to legacy mode (0.9) */
    const eg_header_t lh[] = {{"Content-Type", "application/json"}, {"Event", "my.event"}};
    eg_http_input_t in = input(lh, NH(lh), E01(",\"eventType\":\"t\""));
    assert_int_equal(http(&in, &e, &err), 0);
    expect_transformed(e.json, "my.event");
    expect_json(e.json, "data", "{\"cloudEventsVersion\":\"0.1\",\"eventType\":\"t\"}");
    eg_event_release(&e);
    /* a valid one wins over the Event header, as in 0.9 */
    in = input(lh, NH(lh), E01(",\"eventType\":\"t\",\"eventID\":\"1\",\"source\":\"s\""));
    assert_int_equal(http(&in, &e, &err), 0);
    assert_string_equal(e.type, "t");
    eg_event_release(&e);
#undef E01
}

static void test_http_v01_binary(void **state)
{
    const eg_header_t h[] = {
        {"CE-EventType", "myapp.user.created"},
        {"CE-EventTypeVersion", "1.0"},
        {"CE-CloudEventsVersion", "0.1"},
        {"CE-Source", "/myapp"},
        {"CE-EventID", "e-1"},
        {"CE-EventTime", "2018-01-01T00:00:00Z"},
        {"CE-X-My-Ext", "val"},
        {"Content-Type", "application/json"},
    };
    eg_http_input_t in = input(h, NH(h), "{\"a\":1}");
    eg_event_t e;
    eg_error_t err;
    assert_int_equal(http(&in, &e, &err), 0);
    assert_int_equal(e.version, EG_EVENT_V01);
    char *s = eg_event_serialize(&e, NULL);
    assert_string_equal(s, "{\"eventType\":\"myapp.user.created\",\"eventTypeVersion\":\"1.0\","
                           "\"cloudEventsVersion\":\"0.1\",\"source\":\"/myapp\","
                           "\"eventID\":\"e-1\",\"eventTime\":\"2018-01-01T00:00:00Z\","
                           "\"extensions\":{\"my-Ext\":\"val\"},"
                           "\"contentType\":\"application/json\",\"data\":{\"a\":1}}");
    free(s);
    roundtrip(&e);
    eg_event_release(&e);
    const eg_header_t bad[] = {{"CE-EventType", "t"},
                               {"CE-CloudEventsVersion", "0.1"},
                               {"CE-Source", "/s"},
                               {"CE-EventID", "1"},
                               {"CE-EventTime", "not a time"}};
    expect_http_400(bad, NH(bad), "", "\"eventTime\"");
}

/* ------------------------------------------------------------- legacy */

static void test_http_legacy(void **state)
{
    eg_event_t e;
    eg_error_t err;
    const eg_header_t j[] = {{"Event", "user.created"}, {"Content-Type", "application/json"}};
    eg_http_input_t in = input(j, NH(j), "{\"message\":\"Hello!\"}");
    assert_int_equal(http(&in, &e, &err), 0);
    assert_int_equal(e.version, EG_EVENT_V01);
    expect_transformed(e.json, "user.created");
    expect_json(e.json, "contentType", "\"application/json\"");
    expect_json(e.json, "data", "{\"message\":\"Hello!\"}");
    assert_string_equal(e.type, "user.created");
    assert_string_equal(e.space, "default");
    roundtrip(&e);
    eg_event_release(&e);

    struct {
        const char *ct, *body, *ctype, *data;
    } cases[] = {
        {"text/plain; charset=utf-8", "hi there", "\"text/plain\"", "\"hi there\""},
        {"application/x-www-form-urlencoded", "a=1&b=2", "\"application/x-www-form-urlencoded\"",
         "\"a=1&b=2\""},
        {NULL, "[1,2]", "\"application/json\"", "[1,2]"},
        {NULL, "plain", "\"application/json\"", "\"plain\""},
        {"application/json", "{broken", "\"application/json\"", "\"{broken\""},
        {"application/octet-stream", "abc", "\"application/octet-stream\"", "\"YWJj\""},
        {"image/png", "\x89PNG", "\"image/png\"", "\"iVBORw==\""},
        {"text/plain", "", "\"text/plain\"", "\"\""},
    };
    for (size_t i = 0; i < NH(cases); i++) {
        eg_header_t h[] = {{"event", "my.type"}, {"content-type", cases[i].ct ? cases[i].ct : ""}};
        in = input(h, cases[i].ct ? 2 : 1, cases[i].body);
        assert_int_equal(http(&in, &e, &err), 0);
        expect_transformed(e.json, "my.type");
        expect_json(e.json, "contentType", cases[i].ctype);
        expect_json(e.json, "data", cases[i].data);
        roundtrip(&e);
        eg_event_release(&e);
    }
    /* binary bytes under a text type: base64 */
    const eg_header_t t[] = {{"Event", "bin"}, {"Content-Type", "text/plain"}};
    static const char raw[] = {'a', 0, 'b'};
    in = input(t, NH(t), NULL);
    in.body = raw;
    in.body_len = sizeof raw;
    assert_int_equal(http(&in, &e, &err), 0);
    expect_json(e.json, "data", "\"YQBi\"");
    eg_event_release(&e);
}

/* ------------------------------------------------------- http.request */

static void test_http_request(void **state)
{
    const eg_header_t h[] = {
        {"host", "example.com:4000"},
        {"content-type", "application/json"},
        {"x-forwarded-for", "1.2.3.4"},
        {"X-Multi", "a"},
        {"x-multi", "b"},
        {"user-agent", "curl/8"},
        {"bad header", "kept as is"},
    };
    eg_path_param_t params[] = {{"id", 2, "42abc", 2}, {"rest", 4, "x/y", 3}};
    eg_http_input_t in = input(h, NH(h), "{\"k\":[1,true,null]}");
    in.method = "PUT";
    in.path = "/users/42/x/y";
    in.host = "example.com:4000";
    in.raw_query = "a=1&a=2&b=x%20y&c+d=e+f&bad=%zz&flag&&=empty&u=%C3%A9";
    in.params = params;
    in.nparams = 2;
    eg_event_t e;
    eg_error_t err;
    assert_int_equal(http(&in, &e, &err), 0);
    assert_int_equal(e.version, EG_EVENT_V01);
    assert_string_equal(e.type, "http.request");
    expect_transformed(e.json, "http.request");
    expect_json(e.json, "contentType", "\"application/json\"");
    const cJSON *d = obj(e.json, "data");
    assert_true(cJSON_IsObject(d));
    expect_json(d, "headers",
                "{\"Content-Type\":\"application/json\",\"User-Agent\":\"curl/8\","
                "\"X-Forwarded-For\":\"1.2.3.4\",\"X-Multi\":\"a, b\","
                "\"bad header\":\"kept as is\"}");
    expect_json(d, "query",
                "{\"\":[\"empty\"],\"a\":[\"1\",\"2\"],\"b\":[\"x y\"],\"c d\":[\"e f\"],"
                "\"flag\":[\"\"],\"u\":[\"\xC3\xA9\"]}");
    expect_json(d, "body", "{\"k\":[1,true,null]}");
    expect_json(d, "host", "\"example.com:4000\"");
    expect_json(d, "path", "\"/users/42/x/y\"");
    expect_json(d, "method", "\"PUT\"");
    expect_json(d, "params", "{\"id\":\"42\",\"rest\":\"x/y\"}");
    /* field order as 0.9's HTTPRequestData */
    const char *order[] = {"headers", "query", "body", "host", "path", "method", "params"};
    const cJSON *c = d->child;
    for (size_t i = 0; i < NH(order); i++, c = c->next)
        assert_string_equal(c->string, order[i]);
    assert_null(c);
    roundtrip(&e);
    eg_event_release(&e);

    /* text body, binary body, empty body, no query, no params */
    struct {
        const char *ct;
        const char *body;
        size_t len;
        const char *want;
    } cases[] = {
        {"text/plain", "hello", 5, "\"hello\""},
        {"application/octet-stream", "\x00\x01\x02", 3, "\"AAEC\""},
        {"text/html", "\xff", 1, "\"/w==\""},
        {NULL, "", 0, "\"\""},
        {NULL, "{\"j\":1}", 7, "{\"j\":1}"},
        {"application/x-www-form-urlencoded", "a=b", 3, "\"a=b\""},
    };
    for (size_t i = 0; i < NH(cases); i++) {
        eg_header_t hh[] = {{"Content-Type", cases[i].ct ? cases[i].ct : ""}};
        in = input(hh, cases[i].ct ? 1 : 0, NULL);
        in.body = cases[i].body;
        in.body_len = cases[i].len;
        in.method = "GET";
        in.path = "/";
        in.host = NULL;
        assert_int_equal(http(&in, &e, &err), 0);
        d = obj(e.json, "data");
        expect_json(d, "body", cases[i].want);
        expect_json(d, "query", "{}");
        expect_json(d, "params", "{}");
        expect_json(d, "host", "\"\"");
        roundtrip(&e);
        eg_event_release(&e);
    }

    /* invalid UTF-8 in request parts becomes U+FFFD, never invalid JSON */
    const eg_header_t u[] = {{"X-Bin", "a\xff"}};
    in = input(u, 1, NULL);
    in.path = "/p\xc3";
    in.raw_query = "k=%ff";
    assert_int_equal(http(&in, &e, &err), 0);
    d = obj(e.json, "data");
    expect_json(d, "headers", "{\"X-Bin\":\"a\xEF\xBF\xBD\"}");
    expect_json(d, "path", "\"/p\xEF\xBF\xBD\"");
    expect_json(d, "query", "{\"k\":[\"\xEF\xBF\xBD\"]}");
    eg_event_release(&e);

    /* bounds */
    size_t qn = EG_EVENT_MAX_QUERY + 5;
    char *q = malloc(qn * 4 + 1);
    for (size_t i = 0; i < qn; i++)
        memcpy(q + i * 4, "a=1&", 4);
    q[qn * 4] = '\0';
    in = input(NULL, 0, NULL);
    in.raw_query = q;
    expect_400(http(&in, &e, &err), &err, &e, "too many parameters");
    free(q);
}

/* -------------------------------------------------------- egspace etc. */

static void test_space_and_partition_key(void **state)
{
    eg_event_t e;
    eg_error_t err;
    const eg_header_t h[] = {{"Content-Type", "application/cloudevents+json"}};
    eg_http_input_t in = input(h, 1,
                               "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\","
                               "\"type\":\"t\",\"egspace\":\"A.b_c-9\"}");
    assert_int_equal(http(&in, &e, &err), 0);
    assert_string_equal(e.space, "A.b_c-9");
    assert_null(e.partition_key);
    eg_event_release(&e);
    char body[600];
    char sp[257];
    memset(sp, 'z', 256);
    sp[256] = '\0';
    snprintf(body, sizeof body,
             "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
             "\"egspace\":\"%s\"}",
             sp);
    in.body = body;
    in.body_len = strlen(body);
    assert_int_equal(http(&in, &e, &err), 0);
    assert_string_equal(e.space, sp);
    eg_event_release(&e);
    snprintf(body, sizeof body,
             "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
             "\"egspace\":\"%sz\"}",
             sp);
    in.body_len = strlen(body);
    expect_400(http(&in, &e, &err), &err, &e, "egspace");
}

/* ---------------------------------------------------------------- Kafka */

static rd_kafka_headers_t *kh(const char *const *kv)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    for (; kv && kv[0]; kv += 2)
        rd_kafka_header_add(h, kv[0], -1, kv[1], kv[1] ? -1 : 0);
    return h;
}

static int kafka(const char *value, const char *const *kv, eg_event_t *e, eg_error_t *err)
{
    rd_kafka_headers_t *h = kv ? kh(kv) : NULL;
    memset(err, 0, sizeof *err);
    int rc = eg_event_from_kafka(value, value ? strlen(value) : 0, h, e, err);
    if (h)
        rd_kafka_headers_destroy(h);
    return rc;
}

static void expect_kafka_reject(const char *value, const char *const *kv, const char *needle)
{
    eg_event_t e;
    eg_error_t err;
    expect_400(kafka(value, kv, &e, &err), &err, &e, needle);
    if (strncmp(err.message, "not a CloudEvent: ", 18))
        fail_msg("message \"%s\" lacks the prefix", err.message);
}

static void test_kafka_structured(void **state)
{
    eg_event_t e;
    eg_error_t err;
    const char *ct[] = {"content-type", "application/cloudevents+json; charset=UTF-8", "eg-space",
                        "x", NULL};
    assert_int_equal(kafka(ce10, ct, &e, &err), 0);
    assert_int_equal(e.version, EG_EVENT_V10);
    assert_string_equal(e.space, "team-a");
    assert_string_equal(e.partition_key, "user42");
    eg_event_release(&e);
    /* no headers at all: a CloudEvents JSON value is enough, 1.0 or 0.1 */
    assert_int_equal(kafka(ce10, NULL, &e, &err), 0);
    eg_event_release(&e);
    assert_int_equal(kafka(ce01, NULL, &e, &err), 0);
    assert_int_equal(e.version, EG_EVENT_V01);
    /* Kafka is trusted: the gateway's own extension is kept */
    assert_non_null(obj(obj(e.json, "extensions"), "eventgateway.authorization"));
    eg_event_release(&e);
    const char *json_ct[] = {"content-type", "application/json", NULL};
    assert_int_equal(kafka(ce01, json_ct, &e, &err), 0);
    eg_event_release(&e);
    /* the ingress's 1.0 output with an authorization object is read back */
    const char *auth = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
                       "\"eventgateway.authorization\":{\"principalId\":\"u\"},\"data\":1}";
    assert_int_equal(kafka(auth, ct, &e, &err), 0);
    eg_event_release(&e);

    expect_kafka_reject("{\"specversion\":\"1.0\",\"source\":\"s\",\"type\":\"t\"}", ct,
                        "attribute \"id\" is missing");
    expect_kafka_reject("not json", ct, "not valid JSON");
    expect_kafka_reject(NULL, ct, "empty");
}

static void test_kafka_binary(void **state)
{
    eg_event_t e;
    eg_error_t err;
    const char *h[] = {"ce_specversion",
                       "1.0",
                       "ce_id",
                       "k-1",
                       "ce_source",
                       "/k",
                       "ce_type",
                       "k.t",
                       "ce_egspace",
                       "kspace",
                       "ce_partitionkey",
                       "pk",
                       "ce_note",
                       "caf\xC3\xA9 %20",
                       "content-type",
                       "application/json",
                       NULL};
    assert_int_equal(kafka("{\"x\":[1]}", h, &e, &err), 0);
    assert_int_equal(e.version, EG_EVENT_V10);
    assert_string_equal(e.space, "kspace");
    assert_string_equal(e.partition_key, "pk");
    char *s = eg_event_serialize(&e, NULL);
    /* Kafka binding: header values are plain UTF-8, no percent-decoding */
    assert_string_equal(s, "{\"specversion\":\"1.0\",\"id\":\"k-1\",\"source\":\"/k\","
                           "\"type\":\"k.t\",\"egspace\":\"kspace\",\"partitionkey\":\"pk\","
                           "\"note\":\"caf\xC3\xA9 %20\",\"datacontenttype\":\"application/json\","
                           "\"data\":{\"x\":[1]}}");
    free(s);
    roundtrip(&e);
    eg_event_release(&e);

    const char *text[] = {"ce_specversion", "1.0", "ce_id",        "1",          "ce_source", "s",
                          "ce_type",        "t",   "content-type", "text/plain", NULL};
    assert_int_equal(kafka("plain text", text, &e, &err), 0);
    expect_json(e.json, "data", "\"plain text\"");
    eg_event_release(&e);
    const char *bin[] = {"ce_specversion",
                         "1.0",
                         "ce_id",
                         "1",
                         "ce_source",
                         "s",
                         "ce_type",
                         "t",
                         "content-type",
                         "application/octet-stream",
                         NULL};
    assert_int_equal(kafka("abc", bin, &e, &err), 0);
    expect_json(e.json, "data_base64", "\"YWJj\"");
    eg_event_release(&e);
    /* tombstone-like record: binary event without data */
    assert_int_equal(kafka(NULL, bin, &e, &err), 0);
    expect_absent(e.json, "data");
    expect_absent(e.json, "data_base64");
    eg_event_release(&e);

    const char *noid[] = {"ce_specversion", "1.0", "ce_source", "s", "ce_type", "t", NULL};
    expect_kafka_reject("{}", noid, "attribute \"id\" is missing");
    const char *v03[] = {"ce_specversion", "0.3", "ce_id", "1", "ce_source", "s",
                         "ce_type",        "t",   NULL};
    expect_kafka_reject("{}", v03, "specversion \"0.3\"");
    const char *nosv[] = {"ce_id", "1", "ce_source", "s", "ce_type", "t", NULL};
    expect_kafka_reject(ce10, nosv, "ce_specversion");
    const char *badjson[] = {
        "ce_specversion",   "1.0", "ce_id", "1", "ce_source", "s", "ce_type", "t", "content-type",
        "application/json", NULL};
    expect_kafka_reject("{oops", badjson, "not valid JSON");
    const char *nullv[] = {"ce_specversion", "1.0", "ce_id", NULL, "ce_source", "s",
                           "ce_type",        "t",   NULL};
    expect_kafka_reject("{}", nullv, "ce_id");
    const char *badname[] = {"ce_specversion", "1.0", "ce_id",       "1", "ce_source", "s",
                             "ce_type",        "t",   "ce_Bad-Name", "x", NULL};
    expect_kafka_reject("{}", badname, "ce_Bad-Name");
    const char *dup[] = {"ce_specversion", "1.0", "ce_id",   "1", "ce_id", "2",
                         "ce_source",      "s",   "ce_type", "t", NULL};
    expect_kafka_reject("{}", dup, "appears twice");
    const char *badutf[] = {"ce_specversion", "1.0", "ce_id", "\xff", "ce_source", "s",
                            "ce_type",        "t",   NULL};
    expect_kafka_reject("{}", badutf, "ce_id");
}

static void test_kafka_not_cloudevents(void **state)
{
    expect_kafka_reject("{\"a\":1}", NULL, "not a CloudEvents JSON object");
    expect_kafka_reject("hello", NULL, "not a CloudEvents JSON object");
    expect_kafka_reject(NULL, NULL, "not a CloudEvents JSON object");
    expect_kafka_reject("[1,2,3]", NULL, "not a CloudEvents JSON object");
    const char *plain[] = {"content-type", "text/plain", NULL};
    expect_kafka_reject("{\"a\":1}", plain, "not a CloudEvents JSON object");
    eg_event_t e;
    eg_error_t err;
    static const char zero[] = {'{', 0, '}'};
    memset(&err, 0, sizeof err);
    expect_400(eg_event_from_kafka(zero, sizeof zero, NULL, &e, &err), &err, &e,
               "not a CloudEvent");
}

/* ------------------------------------------------- parse, set_extension */

static void test_parse_and_roundtrip(void **state)
{
    eg_event_t e;
    eg_error_t err = {0};
    assert_int_equal(eg_event_parse(ce10, strlen(ce10), &e, &err), 0);
    roundtrip(&e);
    eg_event_release(&e);
    assert_int_equal(eg_event_parse(ce01, strlen(ce01), &e, &err), 0);
    roundtrip(&e);
    eg_event_release(&e);
    /* the length bounds the text: no NUL needed, trailing bytes ignored */
    char buf[512];
    size_t n = strlen(ce10);
    memcpy(buf, ce10, n);
    memcpy(buf + n, "garbage", 7);
    assert_int_equal(eg_event_parse(buf, n, &e, &err), 0);
    eg_event_release(&e);
    expect_400(eg_event_parse(buf, n + 7, &e, &err), &err, &e, "not valid JSON");
    expect_400(eg_event_parse("{}", 2, &e, &err), &err, &e, "specversion");
    expect_400(eg_event_parse(NULL, 0, &e, &err), &err, &e, "not valid JSON");
    const char *nosrc = "{\"specversion\":\"1.0\",\"id\":\"1\",\"type\":\"t\"}";
    expect_400(eg_event_parse(nosrc, strlen(nosrc), &e, &err), &err, &e, "\"source\"");
}

static void test_set_extension(void **state)
{
    eg_event_t e;
    eg_error_t err = {0};
    /* 1.0: top-level attributes, kept before data */
    assert_int_equal(eg_event_parse(ce10, strlen(ce10), &e, &err), 0);
    cJSON *auth = cJSON_Parse("{\"principalId\":\"u1\",\"context\":{\"k\":\"v\"}}");
    assert_int_equal(eg_event_set_extension(&e, "eventgateway.authorization", auth), 0);
    assert_int_equal(eg_event_set_extension(&e, "replayid", cJSON_CreateString("r-1")), 0);
    assert_int_equal(eg_event_set_extension(&e, "replayid", cJSON_CreateString("r-2")), 0);
    assert_int_equal(eg_event_set_extension(&e, "egspace", cJSON_CreateString("other")), 0);
    assert_string_equal(e.space, "other");
    assert_int_equal(eg_event_set_extension(&e, "partitionkey", cJSON_CreateString("p2")), 0);
    assert_string_equal(e.partition_key, "p2");
    expect_json(e.json, "replayid", "\"r-2\"");
    expect_json(e.json, "eventgateway.authorization",
                "{\"principalId\":\"u1\",\"context\":{\"k\":\"v\"}}");
    const cJSON *last = e.json->child;
    while (last->next)
        last = last->next;
    assert_string_equal(last->string, "data");
    assert_string_equal(e.id, "abc-1");
    /* refused: core attributes, bad names, bad values; the value is taken anyway */
    assert_int_equal(eg_event_set_extension(&e, "id", cJSON_CreateString("x")), -1);
    assert_int_equal(eg_event_set_extension(&e, "data", cJSON_CreateString("x")), -1);
    assert_int_equal(eg_event_set_extension(&e, "Bad", cJSON_CreateString("x")), -1);
    assert_int_equal(eg_event_set_extension(&e, "", cJSON_CreateString("x")), -1);
    assert_int_equal(eg_event_set_extension(&e, "a..b", cJSON_CreateString("x")), -1);
    assert_int_equal(eg_event_set_extension(&e, "egspace", cJSON_CreateString("a b")), -1);
    assert_int_equal(eg_event_set_extension(&e, "partitionkey", cJSON_CreateNumber(1)), -1);
    assert_int_equal(eg_event_set_extension(&e, "ok", NULL), -1);
    assert_int_equal(eg_event_set_extension(NULL, "ok", cJSON_CreateTrue()), -1);
    assert_string_equal(e.space, "other");
    roundtrip(&e);
    eg_event_release(&e);

    /* 0.1: inside "extensions", created when missing */
    const char *bare = "{\"eventType\":\"t\",\"cloudEventsVersion\":\"0.1\",\"source\":\"s\","
                       "\"eventID\":\"1\",\"data\":null}";
    assert_int_equal(eg_event_parse(bare, strlen(bare), &e, &err), 0);
    auth = cJSON_Parse("{\"principalId\":\"u1\"}");
    assert_int_equal(eg_event_set_extension(&e, "eventgateway.authorization", auth), 0);
    assert_int_equal(eg_event_set_extension(&e, "egspace", cJSON_CreateString("sp1")), 0);
    assert_string_equal(e.space, "sp1");
    char *s = eg_event_serialize(&e, NULL);
    assert_string_equal(s, "{\"eventType\":\"t\",\"cloudEventsVersion\":\"0.1\",\"source\":\"s\","
                           "\"eventID\":\"1\",\"extensions\":{\"eventgateway.authorization\":"
                           "{\"principalId\":\"u1\"},\"egspace\":\"sp1\"},\"data\":null}");
    free(s);
    assert_int_equal(eg_event_set_extension(&e, "bad name", cJSON_CreateString("x")), -1);
    roundtrip(&e);
    eg_event_release(&e);
}

static void test_uuid4(void **state)
{
    char a[37], b[37];
    eg_uuid4(a);
    eg_uuid4(b);
    assert_true(is_uuid4(a));
    assert_true(is_uuid4(b));
    assert_string_not_equal(a, b);
}

static void test_bad_arguments(void **state)
{
    eg_event_t e;
    eg_error_t err;
    assert_int_equal(eg_event_from_http(NULL, &e, &err), -1);
    assert_null(e.json);
    eg_http_input_t in = input(NULL, 0, NULL);
    in.body_len = 3; /* body NULL */
    assert_int_equal(eg_event_from_http(&in, &e, &err), -1);
    in = input(NULL, 0, NULL);
    in.nheaders = EG_EVENT_MAX_HEADERS + 1;
    in.headers = calloc(in.nheaders, sizeof(eg_header_t));
    expect_400(eg_event_from_http(&in, &e, &err), &err, &e, "too many headers");
    free((void *)in.headers);
    assert_null(eg_event_serialize(NULL, NULL));
    assert_string_equal(eg_event_content_type(NULL), "application/json");
    eg_event_release(NULL);
}

/* ----------------------------------------------------------------- fuzz */

static uint64_t rng = 0x1234567887654321ull;

static uint32_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static const char *const seeds[] = {
    "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\",\"data\":{\"a\":[1,2]}}",
    "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\",\"data_base64\":\"AA=="
    "\","
    "\"egspace\":\"abc\",\"partitionkey\":\"k\",\"time\":\"2020-01-01T00:00:00Z\"}",
    "{\"eventType\":\"t\",\"cloudEventsVersion\":\"0.1\",\"source\":\"s\",\"eventID\":\"1\","
    "\"extensions\":{\"egspace\":\"abc\"},\"eventTime\":\"2020-01-01T00:00:00.5+01:00\",\"data\":"
    "\"x\"}",
    "{\"eventType\":\"t\",\"cloudEventsVersion\":\"0.1\",\"source\":\"s\",\"eventID\":\"1\"}",
    "{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\\ud83d\\ude00\"}",
    "hello world",
    "\xff\xfe\x00\x01",
    "",
};

static const char *const names[] = {
    "content-type",
    "Content-Type",
    "ce-specversion",
    "ce-id",
    "ce-source",
    "ce-type",
    "ce-time",
    "ce-egspace",
    "ce-partitionkey",
    "ce-x",
    "ce-data",
    "Event",
    "CE-EventType",
    "CE-CloudEventsVersion",
    "CE-Source",
    "CE-EventID",
    "CE-EventTime",
    "CE-X-Foo",
    "Host",
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_egspace",
    "x-any",
};

static const char *const values[] = {
    "1.0",
    "0.1",
    "0.3",
    "application/cloudevents+json",
    "application/json",
    "text/plain",
    "application/octet-stream",
    "multipart/form-data; boundary=x",
    "",
    "abc",
    "%20%zz",
    "\"quo\\\"ted\"",
    "2020-01-01T00:00:00Z",
    "my.event",
    "\xff\xfe",
    "a%C0%A0b",
    "%E2%82%AC",
    "application/vnd.a+json; x=y",
};

/* A seed or a random string, then mutated; written into buf (NUL kept). */
static size_t make_body(char *buf, size_t cap)
{
    size_t n;
    if (rnd() % 4 == 0) {
        n = rnd() % 64;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(rnd() % 4 ? "{}[]\":,0123456789 abcnulltruefalse\\"[rnd() % 35]
                                      : (char)rnd());
    } else {
        const char *s = seeds[rnd() % NH(seeds)];
        n = strlen(s);
        memcpy(buf, s, n);
    }
    int muts = (int)(rnd() % 5);
    for (int m = 0; m < muts && n > 0; m++) {
        size_t at = rnd() % n;
        switch (rnd() % 4) {
        case 0:
            buf[at] = (char)rnd();
            break;
        case 1: /* delete */
            memmove(buf + at, buf + at + 1, n - at - 1);
            n--;
            break;
        case 2: /* insert */
            if (n + 1 < cap) {
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = "{}[]\",:\\"[rnd() % 8];
                n++;
            }
            break;
        default: /* truncate */
            n = at;
        }
    }
    buf[n] = '\0';
    return n;
}

static void check_accepted(eg_event_t *e)
{
    assert_non_null(e->json);
    assert_non_null(e->id);
    assert_non_null(e->type);
    assert_non_null(e->source);
    assert_true(strlen(e->space) >= 3);
    roundtrip(e);
    eg_event_release(e);
}

/* Names from the request (headers, query keys) that are not UTF-8 are cleaned
 * like values: the stored event must parse back (found by fuzz_event_http). */
static void test_http_request_non_utf8_names(void **state)
{
    (void)state;
    const eg_header_t h[] = {{"acce\xfft", "text/plain"}, {"x-ok", "v\xff"}};
    eg_http_input_t in = input(h, NH(h), "h\x99\x8dlo");
    in.method = "GET";
    in.path = "/user";
    in.raw_query = "k%FF=1&ok=%FE";
    eg_event_t e, back;
    eg_error_t err;
    assert_int_equal(http(&in, &e, &err), 0);
    size_t len = 0;
    char *json = eg_event_serialize(&e, &len);
    assert_non_null(json);
    assert_int_equal(eg_event_parse(json, len, &back, &err), 0);
    const cJSON *hd = obj(obj(back.json, "data"), "headers");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(hd, "acce\xEF\xBF\xBDt"));
    assert_non_null(
        cJSON_GetObjectItemCaseSensitive(obj(obj(back.json, "data"), "query"), "k\xEF\xBF\xBD"));
    free(json);
    eg_event_release(&back);
    eg_event_release(&e);
}

static void test_fuzz(void **state)
{
    char body[512];
    char hv[8][64] = {{0}};
    eg_header_t h[8];
    int accepted = 0;
    for (int iter = 0; iter < 5000; iter++) {
        eg_event_t e;
        eg_error_t err;
        size_t n = make_body(body, sizeof body - 8);
        size_t nh = rnd() % 8;
        for (size_t i = 0; i < nh; i++) {
            const char *v = values[rnd() % NH(values)];
            snprintf(hv[i], sizeof hv[i], "%s", v);
            if (rnd() % 4 == 0 && hv[i][0])
                hv[i][rnd() % strlen(hv[i])] = (char)(rnd() | 1); /* never NUL */
            h[i].name = names[rnd() % NH(names)];
            h[i].value = hv[i];
        }
        /* HTTP */
        eg_http_input_t in = input(h, nh, NULL);
        in.body = body;
        in.body_len = n;
        in.raw_query = rnd() % 2 ? hv[0] : NULL;
        memset(&err, 0, sizeof err);
        if (eg_event_from_http(&in, &e, &err) == 0) {
            check_accepted(&e);
            accepted++;
        } else {
            assert_null(e.json);
            assert_true(err.status == 400);
            assert_true(err.message[0] != '\0');
        }
        /* Kafka: the same headers */
        rd_kafka_headers_t *k = rd_kafka_headers_new(8);
        for (size_t i = 0; i < nh; i++)
            rd_kafka_header_add(k, h[i].name, -1, hv[i], rnd() % 8 ? -1 : 0);
        memset(&err, 0, sizeof err);
        if (eg_event_from_kafka(body, n, rnd() % 3 ? k : NULL, &e, &err) == 0) {
            check_accepted(&e);
            accepted++;
        } else {
            assert_null(e.json);
            assert_int_equal(strncmp(err.message, "not a CloudEvent: ", 18), 0);
        }
        rd_kafka_headers_destroy(k);
        /* parse */
        memset(&err, 0, sizeof err);
        if (eg_event_parse(body, n, &e, &err) == 0) {
            check_accepted(&e);
            accepted++;
        } else {
            assert_null(e.json);
            assert_true(err.status == 400);
        }
    }
    /* the seeds keep a good share of inputs valid */
    assert_true(accepted > 1000);
}

/* eg_utf8_valid reads ASCII eight bytes at a time: it must agree with the
 * byte-by-byte definition (eg_utf8_seq) wherever a bad byte, a NUL or a
 * multi-byte sequence falls relative to those 8-byte blocks. */
static int utf8_reference(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = p[i] ? eg_utf8_seq(p + i, n - i) : 0;
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

static void test_utf8_valid(void **state)
{
    (void)state;
    static const char *const inserts[] = {"\xff",     "\x80",         "",
                                          "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                          "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                          "\xc3",     "\xe2\x82",     "\x7f"};
    char buf[64];
    for (size_t k = 0; k < sizeof inserts / sizeof *inserts; k++) {
        size_t il = k == 2 ? 1 : strlen(inserts[k]); /* "": one NUL byte */
        for (size_t len = 0; len + il <= 40; len++)
            for (size_t at = 0; at <= len; at++) {
                memset(buf, 'a', len);
                memmove(buf + at + il, buf + at, len - at);
                memcpy(buf + at, k == 2 ? "\0" : inserts[k], il);
                assert_int_equal(eg_utf8_valid(buf, len + il), utf8_reference(buf, len + il));
            }
    }
    assert_true(eg_utf8_valid("0123456789abcdefghijklmnopqrstuvwxyz", 36));
    assert_false(eg_utf8_valid("01234567\x80"
                               "9abcdef",
                               16));
    assert_false(eg_utf8_valid("0123456\0"
                               "89abcdef",
                               16));
    assert_true(eg_utf8_valid("0123456\xc3\xa9"
                              "9abcdef",
                              16));
    srand(7);
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(rand() % 48);
        for (size_t j = 0; j < n; j++)
            buf[j] = (char)(rand() % 4 ? 'a' + rand() % 26 : rand() % 256);
        assert_int_equal(eg_utf8_valid(buf, n), utf8_reference(buf, n));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_structured_v10),
        cmocka_unit_test(test_http_structured_v10_invalid),
        cmocka_unit_test(test_http_binary_v10),
        cmocka_unit_test(test_http_binary_v10_data_kinds),
        cmocka_unit_test(test_http_binary_v10_invalid),
        cmocka_unit_test(test_http_raw),
        cmocka_unit_test(test_http_gateway_extensions_dropped),
        cmocka_unit_test(test_http_v01_structured_and_json),
        cmocka_unit_test(test_http_v01_binary),
        cmocka_unit_test(test_http_legacy),
        cmocka_unit_test(test_http_request),
        cmocka_unit_test(test_space_and_partition_key),
        cmocka_unit_test(test_kafka_structured),
        cmocka_unit_test(test_kafka_binary),
        cmocka_unit_test(test_kafka_not_cloudevents),
        cmocka_unit_test(test_parse_and_roundtrip),
        cmocka_unit_test(test_set_extension),
        cmocka_unit_test(test_uuid4),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_http_request_non_utf8_names),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
