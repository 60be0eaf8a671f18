/*
 * Unit tests of core/eg_map: put/get/replace (the old value returned), del,
 * size, keys copied by the map, growth past many thousands of keys,
 * iteration visiting every key exactly once, and deleting the entry just
 * returned while iterating (every entry, or every other one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_map.h"

#define V(n) ((void *)(uintptr_t)(n))
#define N(v) ((size_t)(uintptr_t)(v))

static void test_basic(void **state)
{
    eg_map_t *m = eg_map_new();
    assert_non_null(m);
    assert_int_equal(eg_map_size(m), 0);
    assert_null(eg_map_get(m, "a"));
    assert_null(eg_map_del(m, "a"));

    void *old = V(99);
    assert_int_equal(eg_map_put(m, "a", V(1), &old), 0);
    assert_null(old);
    assert_int_equal(eg_map_put(m, "b", V(2), NULL), 0);
    assert_int_equal(eg_map_put(m, "", V(3), NULL), 0); /* the empty key is a key */
    assert_int_equal(eg_map_size(m), 3);
    assert_ptr_equal(eg_map_get(m, "a"), V(1));
    assert_ptr_equal(eg_map_get(m, "b"), V(2));
    assert_ptr_equal(eg_map_get(m, ""), V(3));
    assert_null(eg_map_get(m, "A"));
    assert_null(eg_map_get(m, "ab"));

    /* replace: the old value comes back, the size stays */
    assert_int_equal(eg_map_put(m, "a", V(10), &old), 0);
    assert_ptr_equal(old, V(1));
    assert_int_equal(eg_map_size(m), 3);
    assert_ptr_equal(eg_map_get(m, "a"), V(10));
    assert_int_equal(eg_map_put(m, "a", V(11), NULL), 0);
    assert_ptr_equal(eg_map_get(m, "a"), V(11));

    /* del returns the value, then the key is gone */
    assert_ptr_equal(eg_map_del(m, "a"), V(11));
    assert_int_equal(eg_map_size(m), 2);
    assert_null(eg_map_get(m, "a"));
    assert_null(eg_map_del(m, "a"));
    assert_int_equal(eg_map_size(m), 2);
    assert_int_equal(eg_map_put(m, "a", V(12), &old), 0);
    assert_null(old);
    assert_int_equal(eg_map_size(m), 3);

    /* the map keeps its own copy of keys */
    char key[16] = "copied";
    assert_int_equal(eg_map_put(m, key, V(5), NULL), 0);
    strcpy(key, "changed");
    assert_ptr_equal(eg_map_get(m, "copied"), V(5));
    assert_null(eg_map_get(m, "changed"));

    /* a NULL value is stored (get cannot tell it from absent, size can) */
    assert_int_equal(eg_map_put(m, "nil", NULL, NULL), 0);
    assert_int_equal(eg_map_size(m), 5);
    assert_null(eg_map_del(m, "nil"));
    assert_int_equal(eg_map_size(m), 4);

    /* long and binary-looking keys */
    char big[5000];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(eg_map_put(m, big, V(7), NULL), 0);
    assert_ptr_equal(eg_map_get(m, big), V(7));
    assert_int_equal(eg_map_put(m,
                                "a\x1f"
                                "b",
                                V(8), NULL),
                     0);
    assert_ptr_equal(eg_map_get(m, "a\x1f"
                                   "b"),
                     V(8));
    assert_null(eg_map_get(m, "a"
                              "b"));
    eg_map_free(m);
    eg_map_free(NULL);
}

#define MANY 60000

static void key_of(char *buf, size_t len, size_t i)
{
    snprintf(buf, len, "space-%zu\x1fkey/%zx", i % 7, i);
}

static void test_growth(void **state)
{
    eg_map_t *m = eg_map_new();
    char k[64];
    for (size_t i = 0; i < MANY; i++) {
        key_of(k, sizeof k, i);
        void *old = V(1);
        assert_int_equal(eg_map_put(m, k, V(i + 1), &old), 0);
        assert_null(old);
        assert_int_equal(eg_map_size(m), i + 1);
    }
    for (size_t i = 0; i < MANY; i++) {
        key_of(k, sizeof k, i);
        assert_ptr_equal(eg_map_get(m, k), V(i + 1));
    }
    /* replace every third, delete every fifth */
    for (size_t i = 0; i < MANY; i += 3) {
        key_of(k, sizeof k, i);
        void *old = NULL;
        assert_int_equal(eg_map_put(m, k, V(i + 1 + MANY), &old), 0);
        assert_ptr_equal(old, V(i + 1));
    }
    size_t size = MANY;
    for (size_t i = 0; i < MANY; i += 5) {
        key_of(k, sizeof k, i);
        void *want = i % 3 == 0 ? V(i + 1 + MANY) : V(i + 1);
        assert_ptr_equal(eg_map_del(m, k), want);
        size--;
    }
    assert_int_equal(eg_map_size(m), size);
    for (size_t i = 0; i < MANY; i++) {
        key_of(k, sizeof k, i);
        void *want = i % 5 == 0 ? NULL : i % 3 == 0 ? V(i + 1 + MANY) : V(i + 1);
        assert_ptr_equal(eg_map_get(m, k), want);
    }
    eg_map_free(m);
}

/* Iterates m, checking that every value 1..n (those marked in want) is seen
 * exactly once with its key; returns the number seen. */
static size_t iterate_all(eg_map_t *m, size_t n, const unsigned char *want)
{
    unsigned char *seen = calloc(n + 1, 1);
    eg_map_iter_t it;
    const char *key;
    void *v;
    size_t count = 0;
    char k[64];
    eg_map_iter_init(&it, m);
    while (eg_map_iter_next(&it, &key, &v)) {
        size_t i = N(v);
        assert_true(i >= 1 && i <= n);
        assert_true(want[i]);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        key_of(k, sizeof k, i - 1);
        assert_string_equal(key, k);
        count++;
    }
    /* the end stays the end */
    assert_int_equal(eg_map_iter_next(&it, &key, &v), 0);
    free(seen);
    return count;
}

static void test_iteration(void **state)
{
    eg_map_t *m = eg_map_new();
    eg_map_iter_t it;
    const char *key;
    void *v;
    eg_map_iter_init(&it, m);
    assert_int_equal(eg_map_iter_next(&it, &key, &v), 0);

    const size_t n = 20000;
    unsigned char *want = calloc(n + 1, 1);
    char k[64];
    for (size_t i = 0; i < n; i++) {
        key_of(k, sizeof k, i);
        assert_int_equal(eg_map_put(m, k, V(i + 1), NULL), 0);
        want[i + 1] = 1;
    }
    assert_int_equal(iterate_all(m, n, want), n);
    /* after deletions and replacements too */
    for (size_t i = 0; i < n; i += 4) {
        key_of(k, sizeof k, i);
        assert_ptr_equal(eg_map_del(m, k), V(i + 1));
        want[i + 1] = 0;
    }
    assert_int_equal(iterate_all(m, n, want), n - n / 4);
    free(want);
    eg_map_free(m);
}

static void test_delete_while_iterating(void **state)
{
    const size_t n = 10000;
    char k[64];
    eg_map_t *m = eg_map_new();
    for (size_t i = 0; i < n; i++) {
        key_of(k, sizeof k, i);
        assert_int_equal(eg_map_put(m, k, V(i + 1), NULL), 0);
    }
    /* delete every other entry as it is returned: the rest are all visited */
    unsigned char *seen = calloc(n + 1, 1);
    eg_map_iter_t it;
    const char *key;
    void *v;
    size_t visited = 0, deleted = 0;
    eg_map_iter_init(&it, m);
    while (eg_map_iter_next(&it, &key, &v)) {
        size_t i = N(v);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        visited++;
        if (i % 2) {
            key_of(k, sizeof k, i - 1);
            assert_string_equal(key, k);
            assert_ptr_equal(eg_map_del(m, key), v); /* the map's own key */
            deleted++;
        }
    }
    assert_int_equal(visited, n);
    assert_int_equal(eg_map_size(m), n - deleted);
    for (size_t i = 1; i <= n; i++) {
        key_of(k, sizeof k, i - 1);
        assert_ptr_equal(eg_map_get(m, k), i % 2 ? NULL : V(i));
    }
    free(seen);

    /* delete every entry as it is returned: the map ends empty */
    visited = 0;
    eg_map_iter_init(&it, m);
    while (eg_map_iter_next(&it, &key, &v)) {
        char copy[64];
        snprintf(copy, sizeof copy, "%s", key);
        assert_ptr_equal(eg_map_del(m, copy), v);
        visited++;
    }
    assert_int_equal(visited, n - deleted);
    assert_int_equal(eg_map_size(m), 0);
    eg_map_iter_init(&it, m);
    assert_int_equal(eg_map_iter_next(&it, &key, &v), 0);

    /* the map works again after being emptied */
    assert_int_equal(eg_map_put(m, "again", V(1), NULL), 0);
    assert_ptr_equal(eg_map_get(m, "again"), V(1));
    assert_int_equal(eg_map_size(m), 1);
    eg_map_free(m);
}

/* Owned values freed while iterating before eg_map_free, as the header
 * suggests: no leak under valgrind. */
static void test_owned_values(void **state)
{
    eg_map_t *m = eg_map_new();
    char k[64];
    for (size_t i = 0; i < 1000; i++) {
        key_of(k, sizeof k, i);
        char *val = strdup(k);
        void *old = NULL;
        assert_int_equal(eg_map_put(m, k, val, &old), 0);
        assert_null(old);
    }
    /* replacing hands the old value back to be freed */
    key_of(k, sizeof k, 3);
    void *old = NULL;
    assert_int_equal(eg_map_put(m, k, strdup("new"), &old), 0);
    assert_string_equal(old, k);
    free(old);
    eg_map_free_with(m, free); /* every value freed with the map (ASan: no leak) */
}

static size_t freed;
static void count_free(void *v)
{
    freed += (uintptr_t)v;
}

static void test_free_with_visits_every_value_once(void **state)
{
    eg_map_t *m = eg_map_new();
    char k[64];
    for (size_t i = 1; i <= 500; i++) {
        key_of(k, sizeof k, i);
        assert_int_equal(eg_map_put(m, k, (void *)(uintptr_t)i, NULL), 0);
    }
    freed = 0;
    eg_map_free_with(m, count_free);
    assert_int_equal(freed, 500 * 501 / 2);
    eg_map_free_with(NULL, count_free); /* nothing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_iteration),
        cmocka_unit_test(test_delete_while_iterating),
        cmocka_unit_test(test_owned_values),
        cmocka_unit_test(test_free_with_visits_every_value_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
