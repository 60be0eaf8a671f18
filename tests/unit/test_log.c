/*
 * Unit tests of core/eg_log: level parsing, filtering before argument
 * evaluation, text and JSON line formats (JSON checked by parsing it with
 * cJSON), escaping, long lines, the librdkafka callback, and that concurrent
 * writers never interleave lines.
 *
 * Output is captured in a memory stream (no descriptor: the fwrite path) or in
 * a tmpfile() (a descriptor: the write(2) path). Each test resets the sink to
 * stderr before its stream is closed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "eg_log.h"

/* A memory stream the log writes into. */
typedef struct capture {
    FILE *f;
    char *buf;
    size_t len;
} capture_t;

static void capture_start(capture_t *c, eg_log_level_t level, eg_log_format_t fmt)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
    eg_log_setup(level, fmt, c->f);
}

/* Stops capturing; c->buf stays valid until capture_free(). */
static void capture_stop(capture_t *c)
{
    eg_log_setup(EG_LOG_LEVEL_INFO, EG_LOG_FORMAT_TEXT, NULL);
    fclose(c->f);
    c->f = NULL;
}

static void capture_free(capture_t *c)
{
    free(c->buf);
    c->buf = NULL;
}

static size_t count_char(const char *s, char ch)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == ch;
    return n;
}

static int side_effects;

static int bump(void)
{
    return ++side_effects;
}

static void test_level_and_format_parse(void **state)
{
    eg_log_level_t l = EG_LOG_LEVEL_ERROR;
    eg_log_format_t f = EG_LOG_FORMAT_TEXT;
    assert_int_equal(eg_log_level_parse("debug", &l), 0);
    assert_int_equal(l, EG_LOG_LEVEL_DEBUG);
    assert_int_equal(eg_log_level_parse("INFO", &l), 0);
    assert_int_equal(l, EG_LOG_LEVEL_INFO);
    assert_int_equal(eg_log_level_parse("warn", &l), 0);
    assert_int_equal(l, EG_LOG_LEVEL_WARN);
    assert_int_equal(eg_log_level_parse("warning", &l), 0);
    assert_int_equal(l, EG_LOG_LEVEL_WARN);
    assert_int_equal(eg_log_level_parse("error", &l), 0);
    assert_int_equal(l, EG_LOG_LEVEL_ERROR);
    assert_int_equal(eg_log_level_parse("loud", &l), -1);
    assert_int_equal(l, EG_LOG_LEVEL_ERROR); /* untouched on failure */
    assert_int_equal(eg_log_level_parse("", &l), -1);
    assert_int_equal(eg_log_level_parse(NULL, &l), -1);

    assert_int_equal(eg_log_format_parse("json", &f), 0);
    assert_int_equal(f, EG_LOG_FORMAT_JSON);
    assert_int_equal(eg_log_format_parse("Text", &f), 0);
    assert_int_equal(f, EG_LOG_FORMAT_TEXT);
    assert_int_equal(eg_log_format_parse("xml", &f), -1);

    assert_string_equal(eg_log_level_name(EG_LOG_LEVEL_WARN), "warn");
}

static void test_filtering_skips_argument_evaluation(void **state)
{
    capture_t c;
    side_effects = 0;
    capture_start(&c, EG_LOG_LEVEL_INFO, EG_LOG_FORMAT_TEXT);

    assert_false(eg_log_enabled(EG_LOG_LEVEL_DEBUG));
    assert_true(eg_log_enabled(EG_LOG_LEVEL_INFO));
    assert_true(eg_log_enabled(EG_LOG_LEVEL_ERROR));

    EG_LOG_DEBUG("test", "hidden %d", bump());
    assert_int_equal(side_effects, 0);
    assert_int_equal(c.len, 0);

    EG_LOGF(EG_LOG_LEVEL_DEBUG, "test", ((eg_log_field_t[]){{"n", bump() ? "x" : "y"}}), 1,
            "hidden %d", bump());
    assert_int_equal(side_effects, 0);

    EG_LOG_INFO("test", "shown %d", bump());
    assert_int_equal(side_effects, 1);
    EG_LOG_WARN("test", "warned %d", bump());
    EG_LOG_ERROR("test", "failed %d", bump());
    assert_int_equal(side_effects, 3);

    eg_log_set_level(EG_LOG_LEVEL_ERROR);
    EG_LOG_WARN("test", "hidden %d", bump());
    assert_int_equal(side_effects, 3);
    eg_log_write(EG_LOG_LEVEL_INFO, "test", "direct call also filtered");

    eg_log_set_level(EG_LOG_LEVEL_DEBUG);
    EG_LOG_DEBUG("test", "debug now %d", bump());
    assert_int_equal(side_effects, 4);

    capture_stop(&c);
    assert_non_null(strstr(c.buf, "shown 1"));
    assert_non_null(strstr(c.buf, "warned 2"));
    assert_non_null(strstr(c.buf, "failed 3"));
    assert_non_null(strstr(c.buf, "debug now 4"));
    assert_null(strstr(c.buf, "hidden"));
    assert_null(strstr(c.buf, "direct call"));
    assert_int_equal(count_char(c.buf, '\n'), 4);
    capture_free(&c);
}

static void test_text_format(void **state)
{
    capture_t c;
    capture_start(&c, EG_LOG_LEVEL_DEBUG, EG_LOG_FORMAT_TEXT);
    eg_log_field_t fields[] = {
        {"event", "abc-1"},
        {"function", "value with spaces"},
        {"q", "say \"hi\""},
        {"empty", ""},
    };
    eg_log_writef(EG_LOG_LEVEL_INFO, "router", fields, 4, "delivered in %d ms", 12);
    capture_stop(&c);

    /* 2026-11-23T09:00:00.123Z INFO  [router] delivered in 12 ms event=abc-1 ... */
    assert_true(c.len > 25);
    assert_int_equal(c.buf[4], '-');
    assert_int_equal(c.buf[10], 'T');
    assert_int_equal(c.buf[19], '.');
    assert_int_equal(c.buf[23], 'Z');
    assert_int_equal(c.buf[24], ' ');
    assert_string_equal(c.buf + 25, "INFO  [router] delivered in 12 ms event=abc-1 "
                                    "function=\"value with spaces\" q=\"say \\\"hi\\\"\" "
                                    "empty=\"\"\n");
    capture_free(&c);

    capture_start(&c, EG_LOG_LEVEL_DEBUG, EG_LOG_FORMAT_TEXT);
    EG_LOG_DEBUG("a", "x");
    EG_LOG_WARN("b", "y");
    EG_LOG_ERROR(NULL, "two\nlines\tand\x01 control");
    capture_stop(&c);
    assert_non_null(strstr(c.buf, " DEBUG [a] x\n"));
    assert_non_null(strstr(c.buf, " WARN  [b] y\n"));
    assert_non_null(strstr(c.buf, " ERROR [-] two\\nlines\\tand\\x01 control\n"));
    assert_int_equal(count_char(c.buf, '\n'), 3); /* the embedded newline was escaped */
    capture_free(&c);
}

static void test_json_format(void **state)
{
    capture_t c;
    const char *msg = "say \"hi\"\nback\\slash\ttab \x01 ünïcode";
    capture_start(&c, EG_LOG_LEVEL_INFO, EG_LOG_FORMAT_JSON);
    eg_log_field_t fields[] = {
        {"event", "id \"1\"\r\n"},
        {"subscription", NULL},
        {"bad_utf8", "a\xff\xc3z"},
    };
    eg_log_writef(EG_LOG_LEVEL_WARN, "in\"gress", fields, 3, "%s", msg);
    capture_stop(&c);

    assert_int_equal(count_char(c.buf, '\n'), 1);
    assert_int_equal(c.buf[c.len - 1], '\n');
    cJSON *j = cJSON_Parse(c.buf);
    assert_non_null(j);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "time");
    assert_true(cJSON_IsString(t));
    assert_int_equal(strlen(t->valuestring), 24);
    assert_int_equal(t->valuestring[23], 'Z');
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "level")->valuestring, "warn");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "component")->valuestring, "in\"gress");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "msg")->valuestring, msg);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "event")->valuestring, "id \"1\"\r\n");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "subscription")));
    /* invalid bytes become U+FFFD (EF BF BD) */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "bad_utf8")->valuestring,
                        "a\xef\xbf\xbd\xef\xbf\xbdz");
    cJSON_Delete(j);
    capture_free(&c);

    capture_start(&c, EG_LOG_LEVEL_INFO, EG_LOG_FORMAT_JSON);
    EG_LOG_ERROR("x", "plain");
    capture_stop(&c);
    j = cJSON_Parse(c.buf);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "level")->valuestring, "error");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "msg")->valuestring, "plain");
    assert_int_equal(cJSON_GetArraySize(j), 4);
    cJSON_Delete(j);
    capture_free(&c);
}

/* A delivery line as the invoker writes it, plus the safety nets: reserved
 * keys are renamed, credential-looking fields are redacted, in both formats. */
static void test_fields_in_json_and_text(void **state)
{
    capture_t c;
    eg_log_field_t fields[] = {
        {"event", "e-1"},        {"subscription", "c3luYw"}, {"function", "fn\"x"},
        {"space", "default"},    {"msg", "shadow"},          {"Authorization", "bearer s3cr3t"},
        {"accessKey", "s3cr3t"}, {"accessKeyId", "ak-1"},
    };
    capture_start(&c, EG_LOG_LEVEL_INFO, EG_LOG_FORMAT_JSON);
    EG_LOGF(EG_LOG_LEVEL_WARN, "invoker", fields, 8, "attempt %d of %d failed", 1, 5);
    eg_log_field_t level = {"level", "x"};
    EG_LOGF(EG_LOG_LEVEL_WARN, "invoker", &level, 1, "second");
    capture_stop(&c);
    assert_int_equal(count_char(c.buf, '\n'), 2);
    assert_null(strstr(c.buf, "s3cr3t"));
    cJSON *l2 = cJSON_Parse(strchr(c.buf, '\n') + 1);
    assert_non_null(l2);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(l2, "field.level")->valuestring, "x");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(l2, "level")->valuestring, "warn");
    cJSON_Delete(l2);
    *strchr(c.buf, '\n') = '\0';
    cJSON *j = cJSON_Parse(c.buf);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), 4 + 8);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "msg")->valuestring,
                        "attempt 1 of 5 failed");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "level")->valuestring, "warn");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "field.msg")->valuestring, "shadow");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "accessKeyId")->valuestring, "ak-1");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "event")->valuestring, "e-1");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "subscription")->valuestring, "c3luYw");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "function")->valuestring, "fn\"x");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "space")->valuestring, "default");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "Authorization")->valuestring,
                        "[redacted]");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "accessKey")->valuestring,
                        "[redacted]");
    cJSON_Delete(j);
    capture_free(&c);

    capture_start(&c, EG_LOG_LEVEL_INFO, EG_LOG_FORMAT_TEXT);
    EG_LOGF(EG_LOG_LEVEL_WARN, "invoker", fields, 8, "attempt %d of %d failed", 1, 5);
    capture_stop(&c);
    assert_int_equal(count_char(c.buf, '\n'), 1);
    assert_null(strstr(c.buf, "s3cr3t"));
    assert_non_null(strstr(c.buf, " event=e-1 subscription=c3luYw function=\"fn\\\"x\" "));
    assert_non_null(strstr(c.buf, " Authorization=[redacted]"));
    capture_free(&c);
}

static void test_long_message(void **state)
{
    capture_t c;
    size_t n = 100000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    capture_start(&c, EG_LOG_LEVEL_INFO, EG_LOG_FORMAT_JSON);
    EG_LOG_INFO("big", "%s|end", big);
    capture_stop(&c);
    cJSON *j = cJSON_Parse(c.buf);
    assert_non_null(j);
    const char *m = cJSON_GetObjectItemCaseSensitive(j, "msg")->valuestring;
    assert_int_equal(strlen(m), n + 4);
    assert_string_equal(m + n, "|end");
    cJSON_Delete(j);
    capture_free(&c);
    free(big);
}

static void test_rdkafka_callback(void **state)
{
    capture_t c;
    capture_start(&c, EG_LOG_LEVEL_INFO, EG_LOG_FORMAT_TEXT);
    eg_log_rdkafka_cb(NULL, 3, "FAIL", "broker down");
    eg_log_rdkafka_cb(NULL, 4, "WARNFAC", "slow");
    eg_log_rdkafka_cb(NULL, 6, "INFOFAC", "hello");
    eg_log_rdkafka_cb(NULL, 7, "DEBUGFAC", "noise");
    capture_stop(&c);
    assert_non_null(strstr(c.buf, " ERROR [kafka] broker down fac=FAIL"));
    assert_non_null(strstr(c.buf, " WARN  [kafka] slow fac=WARNFAC"));
    assert_non_null(strstr(c.buf, " INFO  [kafka] hello fac=INFOFAC"));
    assert_null(strstr(c.buf, "noise"));
    capture_free(&c);
}

/* The descriptor path: several threads, every line must come out whole. */
#define THREADS 4
#define LINES 300

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < LINES; i++) {
        eg_log_field_t f[] = {{"thread", id & 1 ? "odd one" : "even"}};
        eg_log_writef(EG_LOG_LEVEL_INFO, "thr", f, 1, "thread %d line %d %s", id, i,
                      "padding-padding-padding-padding-padding-padding-padding-padding");
    }
    return NULL;
}

static void test_threads_do_not_interleave(void **state)
{
    FILE *f = tmpfile();
    pthread_t th[THREADS];
    char line[1024];
    int seen = 0;
    assert_non_null(f);
    eg_log_setup(EG_LOG_LEVEL_INFO, EG_LOG_FORMAT_JSON, f);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    eg_log_setup(EG_LOG_LEVEL_INFO, EG_LOG_FORMAT_TEXT, NULL);

    rewind(f);
    while (fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "component")->valuestring, "thr");
        cJSON_Delete(j);
        seen++;
    }
    assert_int_equal(seen, THREADS * LINES);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_and_format_parse),
        cmocka_unit_test(test_filtering_skips_argument_evaluation),
        cmocka_unit_test(test_text_format),
        cmocka_unit_test(test_json_format),
        cmocka_unit_test(test_fields_in_json_and_text),
        cmocka_unit_test(test_long_message),
        cmocka_unit_test(test_rdkafka_callback),
        cmocka_unit_test(test_threads_do_not_interleave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
