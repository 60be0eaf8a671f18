/*
 * Unit tests of the invoker's building blocks (invoker/invoker_int.h,
 * invoker/provider.h): the retry backoff (exponential growth, cap, jitter
 * bounds and spread), the committable-offset tracker (out-of-order
 * completion, gaps, duplicates, growth of its ring), the timer heap
 * (ordering, removal from the middle), the classification of HTTP answers
 * and libcurl errors, the provider table, and the dead-letter record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "invoker_int.h"
#include "provider.h"

/* ---- backoff ---- */

static void test_backoff_growth_and_cap(void **state)
{
    /* rnd = UINT64_MAX % (d - d/2 + 1) is not predictable, so use the two
     * ends: 0 gives the low bound d/2, and (d - d/2) gives d itself. */
    static const struct {
        int n;
        int64_t d;
    } want[] = {{1, 200},  {2, 400},   {3, 800},   {4, 1600},   {5, 3200},
                {6, 6400}, {8, 25600}, {9, 30000}, {20, 30000}, {100, 30000}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        int64_t d = want[k].d;
        assert_int_equal(eg__invoker_backoff_ms(want[k].n, 200, 30000, 0), d / 2);
        assert_int_equal(eg__invoker_backoff_ms(want[k].n, 200, 30000, (uint64_t)(d - d / 2)), d);
    }
    /* Degenerate inputs stay sane. */
    assert_true(eg__invoker_backoff_ms(0, 200, 30000, 0) == 100);
    assert_true(eg__invoker_backoff_ms(1, 0, 0, 12345) >= 0);
    assert_true(eg__invoker_backoff_ms(1, 0, 0, 12345) <= 1);
    assert_int_equal(eg__invoker_backoff_ms(3, 1000, 500, 0), 500); /* cap below base: base */
    /* Huge attempt numbers do not overflow. */
    assert_int_equal(eg__invoker_backoff_ms(1000000, 3600000, 86400000, 0), 43200000);
}

static void test_backoff_jitter(void **state)
{
    uint64_t rng = 0x1234567;
    for (int n = 1; n <= 10; n++) {
        int64_t d = 100;
        for (int k = 1; k < n; k++)
            d *= 2;
        if (d > 10000)
            d = 10000;
        int64_t lo = INT64_MAX, hi = 0;
        for (int k = 0; k < 2000; k++) {
            int64_t v = eg__invoker_backoff_ms(n, 100, 10000, eg__invoker_rand(&rng));
            assert_true(v >= d / 2);
            assert_true(v <= d);
            if (v < lo)
                lo = v;
            if (v > hi)
                hi = v;
        }
        /* Spread over the range, not a constant. */
        assert_true(lo < d / 2 + d / 10);
        assert_true(hi > d - d / 10);
    }
}

/* ---- offset tracker ---- */

static void test_offtrack_out_of_order(void **state)
{
    eg__offtrack_t *t = eg__offtrack_new();
    assert_non_null(t);
    assert_int_equal(eg__offtrack_committable(t), -1);
    for (int64_t o = 10; o < 15; o++)
        assert_int_equal(eg__offtrack_add(t, o), 0);
    assert_int_equal(eg__offtrack_unfinished(t), 5);
    assert_int_equal(eg__offtrack_committable(t), 10);

    /* Later records finish first: the commit point stays at 10. */
    assert_int_equal(eg__offtrack_finish(t, 12), 0);
    assert_int_equal(eg__offtrack_finish(t, 14), 0);
    assert_int_equal(eg__offtrack_committable(t), 10);
    assert_int_equal(eg__offtrack_unfinished(t), 3);
    assert_int_equal(eg__offtrack_span(t), 5);
    /* Twice, or unknown: refused. */
    assert_int_equal(eg__offtrack_finish(t, 12), -1);
    assert_int_equal(eg__offtrack_finish(t, 99), -1);
    assert_int_equal(eg__offtrack_finish(t, 3), -1);

    assert_int_equal(eg__offtrack_finish(t, 10), 0);
    assert_int_equal(eg__offtrack_committable(t), 11);
    assert_int_equal(eg__offtrack_finish(t, 11), 0);
    /* 12 was done already: the head jumps over it to 13. */
    assert_int_equal(eg__offtrack_committable(t), 13);
    assert_int_equal(eg__offtrack_span(t), 2);
    assert_int_equal(eg__offtrack_finish(t, 13), 0);
    /* All done: the next offset to consume. */
    assert_int_equal(eg__offtrack_committable(t), 15);
    assert_int_equal(eg__offtrack_unfinished(t), 0);
    assert_int_equal(eg__offtrack_span(t), 0);

    /* Gaps (compaction, transaction markers) are not unfinished. */
    assert_int_equal(eg__offtrack_add(t, 20), 0);
    assert_int_equal(eg__offtrack_add(t, 25), 0);
    assert_int_equal(eg__offtrack_committable(t), 20);
    assert_int_equal(eg__offtrack_finish(t, 20), 0);
    assert_int_equal(eg__offtrack_committable(t), 25);
    assert_int_equal(eg__offtrack_finish(t, 25), 0);
    assert_int_equal(eg__offtrack_committable(t), 26);

    /* Below the next expected offset: seen already. */
    assert_int_equal(eg__offtrack_add(t, 25), 1);
    assert_int_equal(eg__offtrack_add(t, 0), 1);
    assert_int_equal(eg__offtrack_committable(t), 26);
    eg__offtrack_free(t);
}

/* Many records finished in a scrambled order while the ring wraps and
 * grows: the committable offset is always the lowest unfinished one. */
static void test_offtrack_many(void **state)
{
    enum { N = 5000 };
    eg__offtrack_t *t = eg__offtrack_new();
    static unsigned char done[N];
    static int order[N];
    memset(done, 0, sizeof done);
    uint64_t rng = 42;
    int64_t next_add = 0;
    int nfin = 0;
    /* Add in chunks and finish a random subset in between, so the ring's
     * head moves and wraps before it has to grow. */
    while (nfin < N) {
        for (int k = 0; k < 37 && next_add < N; k++)
            assert_int_equal(eg__offtrack_add(t, next_add++), 0);
        int cnt = 0;
        for (int64_t o = 0; o < next_add; o++)
            if (!done[o])
                order[cnt++] = (int)o;
        for (int k = cnt - 1; k > 0; k--) { /* shuffle */
            int j = (int)(eg__invoker_rand(&rng) % (uint64_t)(k + 1));
            int x = order[k];
            order[k] = order[j];
            order[j] = x;
        }
        int take = next_add < N ? cnt / 2 : cnt;
        for (int k = 0; k < take; k++) {
            assert_int_equal(eg__offtrack_finish(t, order[k]), 0);
            done[order[k]] = 1;
            nfin++;
            int64_t low = 0;
            while (low < next_add && done[low])
                low++;
            assert_int_equal(eg__offtrack_committable(t), low);
            assert_int_equal(eg__offtrack_unfinished(t), (size_t)(next_add - nfin));
        }
    }
    assert_int_equal(eg__offtrack_committable(t), N);
    eg__offtrack_free(t);
}

/* ---- timer heap ---- */

static void test_timer_heap(void **state)
{
    enum { N = 300 };
    eg__timer_heap_t h;
    eg__timer_t tm[N];
    eg__timer_heap_init(&h);
    assert_null(eg__timer_heap_peek(&h));
    assert_null(eg__timer_heap_pop(&h));
    uint64_t rng = 7;
    for (int k = 0; k < N; k++) {
        tm[k].due = (int64_t)(eg__invoker_rand(&rng) % 1000);
        tm[k].idx = (size_t)-1;
        eg__timer_heap_push(&h, &tm[k]);
    }
    /* Remove every third from wherever it is; twice is harmless. */
    for (int k = 0; k < N; k += 3) {
        eg__timer_heap_remove(&h, &tm[k]);
        eg__timer_heap_remove(&h, &tm[k]);
    }
    int64_t last = -1;
    int count = 0;
    eg__timer_t *t;
    while ((t = eg__timer_heap_pop(&h))) {
        assert_true(t->due >= last);
        assert_true((t - tm) % 3 != 0);
        last = t->due;
        count++;
    }
    assert_int_equal(count, N - (N + 2) / 3);
    eg__timer_heap_release(&h);
}

/* ---- shares ---- */

static void test_shares_cap_per_key(void **state)
{
    enum { CAP = 3 };
    eg__shares_t *s = eg__shares_new();
    assert_non_null(s);
    for (int k = 0; k < 3; k++)
        assert_int_equal(eg__shares_take(s, "a\x1fslow", CAP), 1);
    /* the fourth is refused and changes nothing; another function is not held back */
    assert_int_equal(eg__shares_take(s, "a\x1fslow", CAP), 0);
    assert_int_equal(eg__shares_held(s, "a\x1fslow"), 3);
    assert_int_equal(eg__shares_take(s,
                                     "b\x1f"
                                     "fast",
                                     CAP),
                     1);
    assert_int_equal(eg__shares_keys(s), 2);
    /* the cap is the caller's at each take: none while there is room */
    assert_int_equal(eg__shares_take(s, "a\x1fslow", 0), 1);
    assert_int_equal(eg__shares_held(s, "a\x1fslow"), 4);
    eg__shares_put(s, "a\x1fslow");
    /* one given back: one more may be taken */
    eg__shares_put(s, "a\x1fslow");
    assert_int_equal(eg__shares_take(s, "a\x1fslow", CAP), 1);
    assert_int_equal(eg__shares_take(s, "a\x1fslow", CAP), 0);
    /* a key whose shares are all back leaves the map; a key holding none is left alone */
    eg__shares_put(s, "b\x1f"
                      "fast");
    eg__shares_put(s, "b\x1f"
                      "fast");
    eg__shares_put(s, "never");
    assert_int_equal(eg__shares_held(s, "b\x1f"
                                        "fast"),
                     0);
    assert_int_equal(eg__shares_keys(s), 1);
    for (int k = 0; k < 3; k++)
        eg__shares_put(s, "a\x1fslow");
    assert_int_equal(eg__shares_keys(s), 0);
    eg__shares_free(s);
}

static void test_shares_unlimited(void **state)
{
    enum { CAP = 0 };
    eg__shares_t *s = eg__shares_new();
    for (int k = 0; k < 10000; k++)
        assert_int_equal(eg__shares_take(s, "x", CAP), 1);
    assert_int_equal(eg__shares_held(s, "x"), 10000);
    eg__shares_free(s); /* with shares held: nothing leaks */
}

/* ---- classification ---- */

static void test_classify_http_status(void **state)
{
    char err[256];
    static const struct {
        long status;
        eg_call_verdict_t v;
    } cases[] = {{200, EG_CALL_OK},    {201, EG_CALL_OK},    {204, EG_CALL_OK},
                 {299, EG_CALL_OK},    {429, EG_CALL_RETRY}, {500, EG_CALL_RETRY},
                 {502, EG_CALL_RETRY}, {503, EG_CALL_RETRY}, {504, EG_CALL_RETRY},
                 {599, EG_CALL_RETRY}, {400, EG_CALL_FINAL}, {401, EG_CALL_FINAL},
                 {403, EG_CALL_FINAL}, {404, EG_CALL_FINAL}, {410, EG_CALL_FINAL},
                 {413, EG_CALL_FINAL}, {302, EG_CALL_FINAL}, {100, EG_CALL_FINAL}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        eg_call_verdict_t v =
            eg_provider_classify_http(CURLE_OK, cases[k].status, "", err, sizeof err);
        assert_int_equal(v, cases[k].v);
        if (v != EG_CALL_OK) {
            char want[32];
            snprintf(want, sizeof want, "HTTP %ld", cases[k].status);
            assert_string_equal(err, want);
        }
    }
}

static void test_classify_curl_errors(void **state)
{
    char err[256];
    static const CURLcode retry[] = {CURLE_COULDNT_CONNECT,      CURLE_OPERATION_TIMEDOUT,
                                     CURLE_COULDNT_RESOLVE_HOST, CURLE_GOT_NOTHING,
                                     CURLE_SEND_ERROR,           CURLE_RECV_ERROR,
                                     CURLE_SSL_CONNECT_ERROR,    CURLE_PARTIAL_FILE};
    for (size_t k = 0; k < sizeof retry / sizeof retry[0]; k++)
        assert_int_equal(eg_provider_classify_http(retry[k], 0, "", err, sizeof err),
                         EG_CALL_RETRY);
    static const CURLcode final[] = {CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL};
    for (size_t k = 0; k < sizeof final / sizeof final[0]; k++)
        assert_int_equal(eg_provider_classify_http(final[k], 0, "", err, sizeof err),
                         EG_CALL_FINAL);
    /* The text: libcurl's detailed message when there is one, else its generic one. */
    eg_provider_classify_http(CURLE_COULDNT_CONNECT, 0, "Failed to connect to x port 1", err,
                              sizeof err);
    assert_string_equal(err, "Failed to connect to x port 1");
    eg_provider_classify_http(CURLE_OPERATION_TIMEDOUT, 0, NULL, err, sizeof err);
    assert_string_equal(err, curl_easy_strerror(CURLE_OPERATION_TIMEDOUT));
    /* A transport error wins over a status seen before it. */
    assert_int_equal(eg_provider_classify_http(CURLE_RECV_ERROR, 200, "", err, sizeof err),
                     EG_CALL_RETRY);
}

static void test_provider_table(void **state)
{
    const eg_provider_t *p = eg_provider_find("http");
    assert_non_null(p);
    assert_string_equal(p->type, "http");
    assert_non_null(p->prepare);
    assert_non_null(p->classify);
    assert_null(eg_provider_find("nope"));
    assert_null(eg_provider_find(NULL));
}

/* prepare of the http provider: URL, Content-Type, the function's headers
 * (unsafe ones dropped, and Eg-Hops, the gateway's own), the call's hop
 * count, no Expect; a function without a URL is refused. */
static void test_http_prepare(void **state)
{
    char err[256];
    eg_call_t c;
    memset(&c, 0, sizeof c);
    c.content_type = "application/json";
    c.body = "{}";
    c.body_len = 2;
    c.hops = 3;
    c.easy = curl_easy_init();
    assert_non_null(c.easy);
    cJSON *fn =
        cJSON_Parse("{\"functionId\":\"f\",\"type\":\"http\",\"provider\":{\"url\":"
                    "\"http://127.0.0.1:1/x\",\"headers\":{\"X-Key\":\"k\","
                    "\"Bad\\nName\":\"v\",\"X-Evil\":\"a\\r\\nInjected: 1\",\"eg-hops\":\"0\"}}}");
    assert_non_null(fn);
    assert_int_equal(eg_provider_http.prepare(&c, fn, err, sizeof err), 0);
    int key = 0, ct = 0, expect = 0, hops = 0, other = 0;
    for (struct curl_slist *l = c.headers; l; l = l->next) {
        if (!strcmp(l->data, "X-Key: k"))
            key++;
        else if (!strcmp(l->data, "Content-Type: application/json"))
            ct++;
        else if (!strcmp(l->data, "Expect:"))
            expect++;
        else if (!strcmp(l->data, "Eg-Hops: 3"))
            hops++;
        else
            other++;
    }
    assert_int_equal(key, 1);
    assert_int_equal(ct, 1);
    assert_int_equal(expect, 1);
    assert_int_equal(hops, 1);
    assert_int_equal(other, 0);
    curl_slist_free_all(c.headers);
    c.headers = NULL;
    cJSON_Delete(fn);

    fn = cJSON_Parse("{\"functionId\":\"f\",\"type\":\"http\",\"provider\":{}}");
    assert_int_equal(eg_provider_http.prepare(&c, fn, err, sizeof err), -1);
    assert_non_null(strstr(err, "url"));
    cJSON_Delete(fn);
    curl_slist_free_all(c.headers);
    curl_easy_cleanup(c.easy);
}

/* ---- dead letters ---- */

static void test_dead_letter_json(void **state)
{
    eg_deadletter_t d = {.space = "default",
                         .subscription = "s1",
                         .function = "f1",
                         .event_id = "e1",
                         .event_type = "t",
                         .attempts = 5,
                         .last_status = 503,
                         .last_error = "HTTP 503",
                         .failed_at_ms = 1700000000123LL,
                         .topic = "eg.invoke.default.async",
                         .partition = 3,
                         .offset = 42,
                         .event = "{\"a\":1} ",
                         .event_len = 8};
    char *s = eg_deadletter_json(&d);
    assert_non_null(s);
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "space")->valuestring, "default");
    assert_string_equal(cJSON_GetObjectItem(o, "subscriptionId")->valuestring, "s1");
    assert_string_equal(cJSON_GetObjectItem(o, "functionId")->valuestring, "f1");
    assert_string_equal(cJSON_GetObjectItem(o, "eventId")->valuestring, "e1");
    assert_string_equal(cJSON_GetObjectItem(o, "eventType")->valuestring, "t");
    assert_int_equal(cJSON_GetObjectItem(o, "attempts")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(o, "lastStatus")->valueint, 503);
    assert_string_equal(cJSON_GetObjectItem(o, "lastError")->valuestring, "HTTP 503");
    assert_string_equal(cJSON_GetObjectItem(o, "failedAt")->valuestring,
                        "2023-11-14T22:13:20.123Z");
    assert_string_equal(cJSON_GetObjectItem(o, "topic")->valuestring, "eg.invoke.default.async");
    assert_int_equal(cJSON_GetObjectItem(o, "partition")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(o, "offset")->valueint, 42);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "event"), "a")->valueint, 1);
    assert_null(cJSON_GetObjectItem(o, "eventBase64"));
    cJSON_Delete(o);
    free(s);

    /* Not JSON (trailing garbage counts): base64. Missing fields: null. */
    d.event = "{\"a\":1}x";
    d.event_len = 8;
    d.subscription = NULL;
    d.event_type = NULL;
    s = eg_deadletter_json(&d);
    o = cJSON_Parse(s);
    assert_null(cJSON_GetObjectItem(o, "event"));
    assert_string_equal(cJSON_GetObjectItem(o, "eventBase64")->valuestring, "eyJhIjoxfXg=");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "subscriptionId")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "eventType")));
    cJSON_Delete(o);
    free(s);

    /* No value at all. */
    d.event = NULL;
    d.event_len = 0;
    s = eg_deadletter_json(&d);
    o = cJSON_Parse(s);
    assert_string_equal(cJSON_GetObjectItem(o, "eventBase64")->valuestring, "");
    cJSON_Delete(o);
    free(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_growth_and_cap),
        cmocka_unit_test(test_backoff_jitter),
        cmocka_unit_test(test_offtrack_out_of_order),
        cmocka_unit_test(test_offtrack_many),
        cmocka_unit_test(test_timer_heap),
        cmocka_unit_test(test_shares_cap_per_key),
        cmocka_unit_test(test_shares_unlimited),
        cmocka_unit_test(test_classify_http_status),
        cmocka_unit_test(test_classify_curl_errors),
        cmocka_unit_test(test_provider_table),
        cmocka_unit_test(test_http_prepare),
        cmocka_unit_test(test_dead_letter_json),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
