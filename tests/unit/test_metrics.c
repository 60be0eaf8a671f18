/*
 * Unit tests of core/eg_metrics: the text rendering (HELP/TYPE, labels,
 * numbers), escaping of label values and help text, histograms (cumulative
 * buckets, +Inf, sum, count), gauges set/add/clear, re-registration, bad
 * names, the series cap with its dropped counter, NULL families, and
 * concurrent updates from several threads.
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

#include "eg_metrics.h"

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})
#define V(...) ((const char *const[]){__VA_ARGS__})

static char *render(eg_metrics_t *m)
{
    size_t len = 0;
    char *t = eg_metrics_render(m, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    return t;
}

static void assert_has(const char *text, const char *line)
{
    if (!strstr(text, line))
        fail_msg("missing %s\nin:\n%s", line, text);
}

static void test_counter_and_gauge(void **state)
{
    eg_metrics_t *m = eg_metrics_new();
    eg_metric_t *c = eg_metrics_family(m, "eventgateway_events_received_total", "Events.",
                                       EG_METRIC_COUNTER, L("space", "type"), NULL, 0);
    eg_metric_t *g = eg_metrics_family(m, "inflight", "In flight.", EG_METRIC_GAUGE, NULL, NULL, 0);
    assert_non_null(c);
    assert_non_null(g);
    eg_metric_add(c, V("default", "user.created"), 1);
    eg_metric_add(c, V("default", "user.created"), 2);
    eg_metric_add(c, V("other", "a.b"), 1);
    eg_metric_add(c, V("other", "a.b"), -5); /* counters never go down */
    eg_metric_add(g, NULL, 3);
    eg_metric_add(g, NULL, -1);
    assert_true(eg_metric_value(c, V("default", "user.created")) == 3);
    assert_true(eg_metric_value(g, NULL) == 2);
    char *t = render(m);
    assert_has(t, "# HELP eventgateway_events_received_total Events.\n"
                  "# TYPE eventgateway_events_received_total counter\n"
                  "eventgateway_events_received_total{space=\"default\",type=\"user.created\"} 3\n"
                  "eventgateway_events_received_total{space=\"other\",type=\"a.b\"} 1\n");
    assert_has(t, "# TYPE inflight gauge\ninflight 2\n");
    assert_has(t, "eventgateway_metrics_series_dropped_total 0\n");
    free(t);

    eg_metric_set(g, NULL, 0.25);
    t = render(m);
    assert_has(t, "inflight 0.25\n");
    free(t);
    eg_metric_set(c, V("x", "y"), 7); /* set is for gauges only */
    assert_true(eg_metric_value(c, V("x", "y")) == 0);

    /* same name: same family when it agrees, NULL otherwise */
    assert_ptr_equal(eg_metrics_family(m, "inflight", "x", EG_METRIC_GAUGE, NULL, NULL, 0), g);
    assert_null(eg_metrics_family(m, "inflight", "x", EG_METRIC_COUNTER, NULL, NULL, 0));
    assert_null(eg_metrics_family(m, "inflight", "x", EG_METRIC_GAUGE, L("a"), NULL, 0));
    eg_metrics_free(m);
}

/* Label values that concatenate alike are different series; a value is
 * cut at EG_METRICS_MAX_VALUE bytes. */
static void test_series_of_values(void **state)
{
    (void)state;
    eg_metrics_t *m = eg_metrics_new();
    eg_metric_t *c =
        eg_metrics_family(m, "pairs_total", "Pairs.", EG_METRIC_COUNTER, L("a", "b"), NULL, 0);
    eg_metric_add(c, V("ab", "c"), 1);
    eg_metric_add(c, V("a", "bc"), 2);
    eg_metric_add(c, V("", "abc"), 4);
    eg_metric_add(c, V("1:a", ""), 8);
    eg_metric_add(c, V("1", "a:"), 16);
    assert_true(eg_metric_value(c, V("ab", "c")) == 1);
    assert_true(eg_metric_value(c, V("a", "bc")) == 2);
    assert_true(eg_metric_value(c, V("", "abc")) == 4);
    assert_true(eg_metric_value(c, V("1:a", "")) == 8);
    assert_true(eg_metric_value(c, V("1", "a:")) == 16);
    char longer[EG_METRICS_MAX_VALUE + 10];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    eg_metric_add(c, V(longer, "z"), 32);
    longer[EG_METRICS_MAX_VALUE] = '\0'; /* the same value, cut */
    assert_true(eg_metric_value(c, V(longer, "z")) == 32);
    eg_metrics_free(m);
}

static void test_bad_names(void **state)
{
    eg_metrics_t *m = eg_metrics_new();
    assert_null(eg_metrics_family(m, "", "", EG_METRIC_COUNTER, NULL, NULL, 0));
    assert_null(eg_metrics_family(m, "1abc", "", EG_METRIC_COUNTER, NULL, NULL, 0));
    assert_null(eg_metrics_family(m, "a-b", "", EG_METRIC_COUNTER, NULL, NULL, 0));
    assert_null(eg_metrics_family(m, "ok", "", EG_METRIC_COUNTER, L("bad:label"), NULL, 0));
    assert_null(eg_metrics_family(m, "ok", "", EG_METRIC_HISTOGRAM, L("le"), NULL, 0));
    assert_null(
        eg_metrics_family(m, "ok", "", EG_METRIC_COUNTER, L("a", "b", "c", "d", "e"), NULL, 0));
    double down[] = {1, 0.5};
    assert_null(eg_metrics_family(m, "ok", "", EG_METRIC_HISTOGRAM, NULL, down, 2));
    assert_non_null(eg_metrics_family(m, "ns:ok_total", "", EG_METRIC_COUNTER, L("_a1"), NULL, 0));
    /* a NULL family is ignored */
    eg_metric_add(NULL, V("x"), 1);
    eg_metric_set(NULL, V("x"), 1);
    eg_metric_observe(NULL, V("x"), 1);
    eg_metric_clear(NULL);
    assert_true(eg_metric_value(NULL, V("x")) == 0);
    eg_metrics_free(m);
    eg_metrics_free(NULL);
}

static void test_escaping(void **state)
{
    eg_metrics_t *m = eg_metrics_new();
    eg_metric_t *c = eg_metrics_family(m, "esc_total", "Help with \\ and\nnewline \"quoted\".",
                                       EG_METRIC_COUNTER, L("v"), NULL, 0);
    eg_metric_add(c, V("a\"b\\c\nd"), 1);
    eg_metric_add(c, V(""), 1);
    eg_metric_add(c, V(NULL), 1); /* NULL is "" */
    eg_metric_add(c, V("\xc3\xa9t\xc3\xa9 \xe2\x9c\x93"), 1);
    char *t = render(m);
    assert_has(t, "# HELP esc_total Help with \\\\ and\\nnewline \"quoted\".\n");
    assert_has(t, "esc_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
    assert_has(t, "esc_total{v=\"\"} 2\n");
    assert_has(t, "esc_total{v=\"\xc3\xa9t\xc3\xa9 \xe2\x9c\x93\"} 1\n");
    /* every line is one sample or comment: no raw newline inside a value */
    int lines = 0;
    for (const char *p = t; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2 + 3 + 3);
    free(t);
    /* long values are cut, so equal prefixes share a series */
    char big[EG_METRICS_MAX_VALUE + 50];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    eg_metric_add(c, V(big), 1);
    big[EG_METRICS_MAX_VALUE + 10] = '\0';
    eg_metric_add(c, V(big), 1);
    big[EG_METRICS_MAX_VALUE] = '\0';
    assert_true(eg_metric_value(c, V(big)) == 2);
    eg_metrics_free(m);
}

static void test_histogram(void **state)
{
    eg_metrics_t *m = eg_metrics_new();
    double b[] = {0.005, 0.1, 1};
    eg_metric_t *h = eg_metrics_family(m, "eventgateway_invocation_duration_seconds", "Durations.",
                                       EG_METRIC_HISTOGRAM, L("space", "function"), b, 3);
    assert_non_null(h);
    eg_metric_observe(h, V("default", "fn"), 0.001);
    eg_metric_observe(h, V("default", "fn"), 0.005); /* le is inclusive */
    eg_metric_observe(h, V("default", "fn"), 0.05);
    eg_metric_observe(h, V("default", "fn"), 3);
    eg_metric_add(h, V("default", "fn"), 1); /* not for histograms */
    char *t = render(m);
    assert_has(
        t, "# TYPE eventgateway_invocation_duration_seconds histogram\n"
           "eventgateway_invocation_duration_seconds_bucket{space=\"default\",function=\"fn\",le="
           "\"0.005\"} 2\n"
           "eventgateway_invocation_duration_seconds_bucket{space=\"default\",function=\"fn\",le="
           "\"0.1\"} 3\n"
           "eventgateway_invocation_duration_seconds_bucket{space=\"default\",function=\"fn\",le="
           "\"1\"} 3\n"
           "eventgateway_invocation_duration_seconds_bucket{space=\"default\",function=\"fn\",le="
           "\"+Inf\"} 4\n"
           "eventgateway_invocation_duration_seconds_sum{space=\"default\",function=\"fn\"} 3.056\n"
           "eventgateway_invocation_duration_seconds_count{space=\"default\",function=\"fn\"} 4\n");
    free(t);
    assert_true(eg_metric_value(h, V("default", "fn")) == 4);
    /* default buckets, no labels */
    eg_metric_t *d = eg_metrics_family(m, "plain_seconds", "", EG_METRIC_HISTOGRAM, NULL, NULL, 0);
    eg_metric_observe(d, NULL, 0.2);
    t = render(m);
    assert_has(t, "plain_seconds_bucket{le=\"0.25\"} 1\n");
    assert_has(t, "plain_seconds_bucket{le=\"0.1\"} 0\n");
    assert_has(t, "plain_seconds_bucket{le=\"10\"} 1\n");
    assert_has(t, "plain_seconds_sum 0.2\nplain_seconds_count 1\n");
    free(t);
    eg_metrics_free(m);
}

static void test_clear_and_cap(void **state)
{
    eg_metrics_t *m = eg_metrics_new();
    eg_metric_t *g = eg_metrics_family(m, "per_space", "", EG_METRIC_GAUGE, L("space"), NULL, 0);
    char name[32];
    for (int i = 0; i < EG_METRICS_MAX_SERIES + 5; i++) {
        snprintf(name, sizeof name, "s%d", i);
        eg_metric_set(g, V(name), i);
    }
    snprintf(name, sizeof name, "s%d", EG_METRICS_MAX_SERIES - 1);
    assert_true(eg_metric_value(g, V(name)) == EG_METRICS_MAX_SERIES - 1);
    snprintf(name, sizeof name, "s%d", EG_METRICS_MAX_SERIES);
    assert_true(eg_metric_value(g, V(name)) == 0);
    char *t = render(m);
    assert_has(t, "eventgateway_metrics_series_dropped_total 5\n");
    free(t);
    eg_metric_clear(g);
    eg_metric_set(g, V("only"), 1);
    t = render(m);
    assert_has(t, "# TYPE per_space gauge\nper_space{space=\"only\"} 1\n# HELP");
    free(t);
    eg_metrics_free(m);
}

typedef struct {
    eg_metric_t *c, *h;
} pair_t;

static void *worker(void *arg)
{
    pair_t *p = arg;
    for (int i = 0; i < 20000; i++) {
        eg_metric_add(p->c, V(i % 2 ? "odd" : "even"), 1);
        eg_metric_observe(p->h, NULL, 0.001);
    }
    return NULL;
}

static void test_threads(void **state)
{
    eg_metrics_t *m = eg_metrics_new();
    pair_t p = {eg_metrics_family(m, "t_total", "", EG_METRIC_COUNTER, L("k"), NULL, 0),
                eg_metrics_family(m, "t_seconds", "", EG_METRIC_HISTOGRAM, NULL, NULL, 0)};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, &p), 0);
    for (int i = 0; i < 20; i++)
        free(render(m));
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_true(eg_metric_value(p.c, V("odd")) == 40000);
    assert_true(eg_metric_value(p.c, V("even")) == 40000);
    assert_true(eg_metric_value(p.h, NULL) == 80000);
    eg_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge), cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_escaping),          cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_clear_and_cap),     cmocka_unit_test(test_threads),
        cmocka_unit_test(test_series_of_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
