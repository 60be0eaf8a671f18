/*
 * Unit tests for core/eg_pathtree: matching (static, parameter, wildcard,
 * precedence with backtracking), conflicts and their messages, several values
 * per path, removal with pruning, validation, bounds, and a randomized
 * add/remove run checked against a naive model (run under valgrind for leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eg_pathtree.h"

#define V(n) ((void *)(uintptr_t)(n))

static int setup(void **state)
{
    eg_pathtree_t *t = eg_pathtree_new();
    if (t == NULL)
        return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    eg_pathtree_free(*state);
    return 0;
}

static void add_ok(eg_pathtree_t *t, const char *path, void *v)
{
    char err[256] = "";
    int rc = eg_pathtree_add(t, path, v, err, sizeof(err));
    if (rc != 0)
        fail_msg("add %s: %d %s", path, rc, err);
}

/* Adds path expecting a conflict with exactly msg, from check and from add. */
static void add_conflict(eg_pathtree_t *t, const char *path, const char *msg)
{
    char err[256] = "";
    assert_int_equal(eg_pathtree_check(t, path, err, sizeof(err)), -1);
    assert_string_equal(err, msg);
    err[0] = '\0';
    assert_int_equal(eg_pathtree_add(t, path, V(999), err, sizeof(err)), -1);
    assert_string_equal(err, msg);
}

/* Matches path expecting exactly one value. */
static void *match1(const eg_pathtree_t *t, const char *path)
{
    size_t nv = 99, np = 99;
    void *const *vals = eg_pathtree_match(t, path, &nv, NULL, 0, &np);
    if (vals == NULL) {
        assert_int_equal(nv, 0);
        return NULL;
    }
    assert_int_equal(nv, 1);
    assert_int_equal(np, 0);
    return vals[0];
}

static void assert_param(const eg_path_param_t *p, const char *name, const char *value)
{
    assert_int_equal(p->name_len, strlen(name));
    assert_memory_equal(p->name, name, p->name_len);
    if (p->value_len != strlen(value) || memcmp(p->value, value, p->value_len) != 0)
        fail_msg("param %s: got '%.*s', want '%s'", name, (int)p->value_len, p->value, value);
}

/* ---- matching ---------------------------------------------------------- */

static void test_root(void **state)
{
    eg_pathtree_t *t = *state;
    assert_null(match1(t, "/"));
    add_ok(t, "/", V(1));
    assert_ptr_equal(match1(t, "/"), V(1));
    assert_null(match1(t, "/a"));
    assert_null(match1(t, ""));
    assert_null(match1(t, "a"));
    assert_null(match1(t, NULL));
    assert_null(match1(t, "//"));
    assert_int_equal(eg_pathtree_remove(t, "/", V(1)), 0);
    assert_null(match1(t, "/"));
}

static void test_static(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/a", V(1));
    add_ok(t, "/b", V(2));
    add_ok(t, "/a/b", V(3));
    add_ok(t, "/d/e/f", V(4));
    for (int i = 0; i < 40; i++) { /* many siblings: exercise the sorted array */
        char p[32];
        snprintf(p, sizeof(p), "/s%d/x", (i * 7) % 40);
        add_ok(t, p, V(100 + (i * 7) % 40));
    }
    assert_ptr_equal(match1(t, "/a"), V(1));
    assert_ptr_equal(match1(t, "/b"), V(2));
    assert_ptr_equal(match1(t, "/a/b"), V(3));
    assert_ptr_equal(match1(t, "/d/e/f"), V(4));
    for (int i = 0; i < 40; i++) {
        char p[32];
        snprintf(p, sizeof(p), "/s%d/x", i);
        assert_ptr_equal(match1(t, p), V(100 + i));
    }
    assert_null(match1(t, "/d/e")); /* node without values */
    assert_null(match1(t, "/d"));
    assert_null(match1(t, "/c"));
    assert_null(match1(t, "/a/b/c"));
    assert_null(match1(t, "/a//b")); /* empty interior segment */
    assert_null(match1(t, "/ab"));
    assert_null(match1(t, "/s4"));
}

static void test_params(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/:name", V(1));
    add_ok(t, "/:name/:id", V(2));
    add_ok(t, "/:name/:id/bar/:x", V(3));

    eg_path_param_t p[4];
    size_t nv, np;
    void *const *v = eg_pathtree_match(t, "/foo", &nv, p, 4, &np);
    assert_non_null(v);
    assert_int_equal(nv, 1);
    assert_ptr_equal(v[0], V(1));
    assert_int_equal(np, 1);
    assert_param(&p[0], "name", "foo");

    v = eg_pathtree_match(t, "/foo/1/", &nv, p, 4, &np);
    assert_non_null(v);
    assert_ptr_equal(v[0], V(2));
    assert_int_equal(np, 2);
    assert_param(&p[0], "name", "foo");
    assert_param(&p[1], "id", "1");

    v = eg_pathtree_match(t, "/foo/7/bar/baz", &nv, p, 4, &np);
    assert_non_null(v);
    assert_ptr_equal(v[0], V(3));
    assert_int_equal(np, 3);
    assert_param(&p[0], "name", "foo");
    assert_param(&p[1], "id", "7");
    assert_param(&p[2], "x", "baz");

    /* max_params truncates, NULL params with 0 is fine */
    v = eg_pathtree_match(t, "/foo/7/bar/baz", &nv, p, 2, &np);
    assert_non_null(v);
    assert_int_equal(np, 2);
    assert_param(&p[1], "id", "7");
    v = eg_pathtree_match(t, "/foo/7/bar/baz", &nv, NULL, 0, NULL);
    assert_non_null(v);
    assert_int_equal(nv, 1);

    assert_null(eg_pathtree_match(t, "/foo/7/bar", &nv, p, 4, &np));
    assert_int_equal(nv, 0);
    assert_int_equal(np, 0);
    assert_null(eg_pathtree_match(t, "/foo/7/baz/qux", &nv, p, 4, &np));
    assert_int_equal(nv, 0);
    assert_int_equal(np, 0);
    assert_null(match1(t, "/"));
}

static void test_wildcard(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/files/:bucket/*rest", V(1));
    add_ok(t, "/", V(3));

    eg_path_param_t p[4];
    size_t nv, np;
    void *const *v = eg_pathtree_match(t, "/files/b1/a/b/c", &nv, p, 4, &np);
    assert_non_null(v);
    assert_ptr_equal(v[0], V(1));
    assert_int_equal(np, 2);
    assert_param(&p[0], "bucket", "b1");
    assert_param(&p[1], "rest", "a/b/c");

    v = eg_pathtree_match(t, "/files/b1/a/b/", &nv, p, 4, &np);
    assert_non_null(v);
    assert_ptr_equal(v[0], V(1));
    assert_param(&p[1], "rest", "a/b");

    v = eg_pathtree_match(t, "/files/b1/x", &nv, p, 4, &np);
    assert_non_null(v);
    assert_param(&p[1], "rest", "x");

    /* a wildcard needs at least one segment */
    assert_null(eg_pathtree_match(t, "/files/b1", &nv, p, 4, &np));
    assert_null(eg_pathtree_match(t, "/files/b1/", &nv, p, 4, &np));
    assert_null(eg_pathtree_match(t, "/files/b1//x", &nv, p, 4, &np));

    /* a catch-all beside the root */
    eg_pathtree_t *t2 = eg_pathtree_new();
    add_ok(t2, "/*all", V(2));
    add_ok(t2, "/", V(3));
    v = eg_pathtree_match(t2, "/x", &nv, p, 4, &np);
    assert_non_null(v);
    assert_ptr_equal(v[0], V(2));
    assert_int_equal(np, 1);
    assert_param(&p[0], "all", "x");
    v = eg_pathtree_match(t2, "/files/b1/", &nv, p, 4, &np);
    assert_non_null(v);
    assert_param(&p[0], "all", "files/b1");
    assert_ptr_equal(match1(t2, "/"), V(3)); /* the root, not the wildcard */
    eg_pathtree_free(t2);
}

static void test_trailing_slash(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/a/", V(1));
    add_ok(t, "/b", V(2));
    assert_ptr_equal(match1(t, "/a"), V(1));
    assert_ptr_equal(match1(t, "/a/"), V(1));
    assert_ptr_equal(match1(t, "/b/"), V(2));
    assert_null(match1(t, "/b//"));
    /* "/a" is the same route as "/a/" */
    add_ok(t, "/a", V(3));
    size_t nv;
    void *const *v = eg_pathtree_match(t, "/a", &nv, NULL, 0, NULL);
    assert_int_equal(nv, 2);
    assert_ptr_equal(v[0], V(1));
    assert_ptr_equal(v[1], V(3));
    assert_int_equal(eg_pathtree_remove(t, "/a", V(1)), 0);
    assert_int_equal(eg_pathtree_remove(t, "/a/", V(3)), 0);
    assert_null(match1(t, "/a"));
}

/* Precedence and backtracking need static, parameter and wildcard siblings,
 * which the conflict rules forbid: built with the test hook. */
static void test_precedence_backtracking(void **state)
{
    eg_pathtree_t *t = *state;
    assert_int_equal(eg_pathtree__add_unchecked(t, "/users/me", V(1)), 0);
    assert_int_equal(eg_pathtree__add_unchecked(t, "/users/:id", V(2)), 0);
    assert_int_equal(eg_pathtree__add_unchecked(t, "/users/*rest", V(3)), 0);
    assert_ptr_equal(match1(t, "/users/me"), V(1));
    assert_ptr_equal(match1(t, "/users/42"), V(2));
    assert_ptr_equal(match1(t, "/users/42/x"), V(3));

    assert_int_equal(eg_pathtree__add_unchecked(t, "/a/b", V(10)), 0);
    assert_int_equal(eg_pathtree__add_unchecked(t, "/:x/c", V(11)), 0);
    assert_int_equal(eg_pathtree__add_unchecked(t, "/*w", V(12)), 0);
    eg_path_param_t p[4];
    size_t nv, np;
    void *const *v = eg_pathtree_match(t, "/a/b", &nv, p, 4, &np);
    assert_ptr_equal(v[0], V(10));
    assert_int_equal(np, 0);
    v = eg_pathtree_match(t, "/a/c", &nv, p, 4, &np); /* static a dead-ends */
    assert_ptr_equal(v[0], V(11));
    assert_int_equal(np, 1);
    assert_param(&p[0], "x", "a");
    v = eg_pathtree_match(t, "/a/d", &nv, p, 4, &np); /* both dead-end */
    assert_ptr_equal(v[0], V(12));
    assert_int_equal(np, 1);
    assert_param(&p[0], "w", "a/d");
    v = eg_pathtree_match(t, "/a", &nv, p, 4, &np); /* a and :x have no values */
    assert_ptr_equal(v[0], V(12));
    assert_param(&p[0], "w", "a");

    /* "/files/b1" has no values and its wildcard needs a segment: dead end,
     * back up to the root's wildcard. */
    assert_int_equal(eg_pathtree__add_unchecked(t, "/files/:bucket/*rest", V(30)), 0);
    v = eg_pathtree_match(t, "/files/b1", &nv, p, 4, &np);
    assert_ptr_equal(v[0], V(12));
    assert_int_equal(np, 1);
    assert_param(&p[0], "w", "files/b1");
    v = eg_pathtree_match(t, "/files/b1/r", &nv, p, 4, &np);
    assert_ptr_equal(v[0], V(30));
    assert_int_equal(np, 2);
    assert_param(&p[0], "bucket", "b1");
    assert_param(&p[1], "rest", "r");

    /* A parameter captured on an abandoned branch must not leak out. */
    assert_int_equal(eg_pathtree__add_unchecked(t, "/p/:a/z", V(20)), 0);
    assert_int_equal(eg_pathtree__add_unchecked(t, "/:x/q/w", V(21)), 0);
    v = eg_pathtree_match(t, "/p/q/w", &nv, p, 4, &np);
    assert_ptr_equal(v[0], V(21));
    assert_int_equal(np, 1);
    assert_param(&p[0], "x", "p");
    /* the hook still refuses a second parameter or wildcard at one place */
    assert_int_equal(eg_pathtree__add_unchecked(t, "/:other", V(22)), -1);
    assert_int_equal(eg_pathtree__add_unchecked(t, "/*other", V(22)), -1);
    v = eg_pathtree_match(t, "/p/q/z", &nv, p, 4, &np);
    assert_ptr_equal(v[0], V(20));
    assert_int_equal(np, 1);
    assert_param(&p[0], "a", "q");
}

/* ---- conflicts --------------------------------------------------------- */

static void test_conflict_param_static(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/:foo", V(1));
    add_conflict(t, "/bar",
                 "parameter with different name (\"foo\") already defined: for route: /bar");
    add_conflict(t, "/:bar",
                 "parameter with different name (\"foo\") already defined: for route: /:bar");
    add_ok(t, "/:foo", V(2)); /* same route: another value, no conflict */
    add_ok(t, "/:foo/x", V(3));

    eg_pathtree_t *t2 = eg_pathtree_new();
    add_ok(t2, "/bar", V(1));
    add_ok(t2, "/baz", V(1));
    char err[256];
    assert_int_equal(eg_pathtree_check(t2, "/:foo", err, sizeof(err)), -1);
    assert_string_equal(err, "static route already defined for route: /:foo");
    assert_int_equal(eg_pathtree_add(t2, "/:foo", V(2), err, sizeof(err)), -1);
    assert_string_equal(err, "static route already defined for route: /:foo");
    assert_null(match1(t2, "/zzz")); /* the failed add left nothing */
    eg_pathtree_free(t2);
}

static void test_conflict_deeper(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/:foo/:bar", V(1));
    add_conflict(t, "/baz",
                 "parameter with different name (\"foo\") already defined: for route: /baz");
    add_conflict(t, "/:foo/x",
                 "parameter with different name (\"bar\") already defined: for route: /:foo/x");
    add_ok(t, "/:foo/:bar/x", V(2));
}

static void test_conflict_deeper2(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/a/:x/b", V(1));
    add_conflict(t, "/a/c",
                 "parameter with different name (\"x\") already defined: for route: /a/c");
    add_conflict(t, "/a/:y/b",
                 "parameter with different name (\"x\") already defined: for route: /a/:y/b");
    /* no conflict: different branches, or the same parameter */
    add_ok(t, "/b/:y", V(2));
    add_ok(t, "/a/:x/c", V(3));
    add_ok(t, "/a/:x", V(4));
    add_ok(t, "/a", V(5));
    add_ok(t, "/", V(6));
}

static void test_conflict_wildcard(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/*foo", V(1));
    add_conflict(t, "/bar",
                 "wildcard with different name (\"foo\") already defined: for route: /bar");
    add_conflict(t, "/:baz",
                 "wildcard with different name (\"foo\") already defined: for route: /:baz");
    add_conflict(t, "/*bar",
                 "wildcard with different name (\"foo\") already defined: for route: /*bar");
    add_ok(t, "/*foo", V(2)); /* same route */
    add_ok(t, "/", V(3));     /* the root is not a sibling of the wildcard */

    eg_pathtree_t *t2 = eg_pathtree_new();
    add_ok(t2, "/:foo", V(1));
    add_conflict(t2, "/*bar",
                 "wildcard with different name (\"foo\") already defined: for route: /*bar");
    eg_pathtree_free(t2);

    eg_pathtree_t *t3 = eg_pathtree_new();
    add_ok(t3, "/a/bar", V(1));
    add_conflict(t3, "/a/*w",
                 "wildcard with different name (\"\") already defined: for route: /a/*w");
    eg_pathtree_free(t3);
}

static void test_wildcard_not_last(void **state)
{
    eg_pathtree_t *t = *state;
    char err[256];
    assert_int_equal(eg_pathtree_validate("/*foo/bar", err, sizeof(err)), -1);
    assert_string_equal(err, "wildcard must be the last parameter");
    add_conflict(t, "/*foo/bar", "wildcard must be the last parameter");
    add_conflict(t, "/a/*foo/:x/", "wildcard must be the last parameter");
    assert_int_equal(eg_pathtree_validate("/a/*foo/", err, sizeof(err)), 0);
}

static void test_check_does_not_modify(void **state)
{
    eg_pathtree_t *t = *state;
    char err[256];
    assert_int_equal(eg_pathtree_check(t, "/a/:b", err, sizeof(err)), 0);
    assert_null(match1(t, "/a/x"));
    add_ok(t, "/a/b", V(1));
    /* a successful check leaves no node behind that could conflict */
    assert_int_equal(eg_pathtree_check(t, "/c/:d", err, sizeof(err)), 0);
    add_ok(t, "/c/e", V(2));
    /* err may be NULL */
    assert_int_equal(eg_pathtree_check(t, "/a/:z", NULL, 0), -1);
    assert_int_equal(eg_pathtree_add(t, "/a/:z", V(3), NULL, 0), -1);
    /* a tiny buffer is truncated, not overrun */
    char small[8];
    assert_int_equal(eg_pathtree_check(t, "/a/:z", small, sizeof(small)), -1);
    assert_string_equal(small, "static ");
}

/* ---- values and removal ------------------------------------------------ */

static void test_many_values(void **state)
{
    eg_pathtree_t *t = *state;
    for (int i = 1; i <= 100; i++)
        add_ok(t, "/x/:y", V(i));
    add_ok(t, "/x/:y", V(7)); /* same value twice */
    size_t nv;
    void *const *v = eg_pathtree_match(t, "/x/1", &nv, NULL, 0, NULL);
    assert_int_equal(nv, 101);
    for (int i = 1; i <= 100; i++)
        assert_ptr_equal(v[i - 1], V(i));
    assert_int_equal(eg_pathtree_remove(t, "/x/:y", V(50)), 0);
    assert_int_equal(eg_pathtree_remove(t, "/x/:y", V(50)), -1);
    assert_int_equal(eg_pathtree_remove(t, "/x/:y", V(7)), 0);
    v = eg_pathtree_match(t, "/x/1", &nv, NULL, 0, NULL);
    assert_int_equal(nv, 99);
    assert_ptr_equal(v[5], V(6));
    assert_ptr_equal(v[6], V(8)); /* order kept */
    assert_ptr_equal(v[47], V(49));
    assert_ptr_equal(v[48], V(51));
    assert_ptr_equal(v[98], V(7)); /* the second 7 is still there */
    for (int i = 1; i <= 100; i++)
        if (i != 50)
            assert_int_equal(eg_pathtree_remove(t, "/x/:y", V(i)), 0);
    assert_null(match1(t, "/x/1"));
    add_ok(t, "/x/static", V(1)); /* :y was pruned */
}

static void test_remove_prunes(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/:foo", V(1));
    assert_int_equal(eg_pathtree_remove(t, "/:foo", V(1)), 0);
    add_ok(t, "/a", V(2));
    assert_ptr_equal(match1(t, "/a"), V(2));

    add_ok(t, "/b/:x/c/d", V(3));
    add_conflict(t, "/b/e",
                 "parameter with different name (\"x\") already defined: for route: /b/e");
    assert_int_equal(eg_pathtree_remove(t, "/b/:x/c/d", V(3)), 0);
    add_ok(t, "/b/e", V(4));
    assert_ptr_equal(match1(t, "/b/e"), V(4));

    /* once everything is gone even a catch-all wildcard fits */
    add_conflict(t, "/*w", "wildcard with different name (\"\") already defined: for route: /*w");
    assert_int_equal(eg_pathtree_remove(t, "/a", V(2)), 0);
    assert_int_equal(eg_pathtree_remove(t, "/b/e", V(4)), 0);
    add_ok(t, "/*w", V(5));
    assert_ptr_equal(match1(t, "/b/e"), V(5));
}

static void test_remove_keeps_children(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/a", V(1));
    add_ok(t, "/a/b", V(2));
    assert_int_equal(eg_pathtree_remove(t, "/a", V(1)), 0);
    assert_null(match1(t, "/a"));
    assert_ptr_equal(match1(t, "/a/b"), V(2));
    add_conflict(t, "/:p", "static route already defined for route: /:p");
    assert_int_equal(eg_pathtree_remove(t, "/a/b", V(2)), 0);
    assert_null(match1(t, "/a/b"));
    add_ok(t, "/:p", V(3));
}

static void test_remove_inner(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/:foo", V(1));
    add_ok(t, "/:foo/bar", V(2));
    assert_int_equal(eg_pathtree_remove(t, "/:foo", V(1)), 0);
    assert_null(match1(t, "/x"));
    assert_ptr_equal(match1(t, "/x/bar"), V(2));
    add_conflict(t, "/a", "parameter with different name (\"foo\") already defined: for route: /a");
    assert_int_equal(eg_pathtree_remove(t, "/:foo/bar", V(2)), 0);
    add_ok(t, "/a", V(3));
    assert_ptr_equal(match1(t, "/a"), V(3));
}

static void test_remove_not_found(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/a/:b", V(1));
    assert_int_equal(eg_pathtree_remove(t, "/a/:b", V(2)), -1);
    assert_int_equal(eg_pathtree_remove(t, "/a/:c", V(1)), -1);
    assert_int_equal(eg_pathtree_remove(t, "/a/x", V(1)), -1); /* a route, not a request path */
    assert_int_equal(eg_pathtree_remove(t, "/a", V(1)), -1);
    assert_int_equal(eg_pathtree_remove(t, "/a/:b/c", V(1)), -1);
    assert_int_equal(eg_pathtree_remove(t, "a", V(1)), -1);
    assert_int_equal(eg_pathtree_remove(t, NULL, V(1)), -1);
    assert_int_equal(eg_pathtree_remove(NULL, "/a/:b", V(1)), -1);
    assert_int_equal(eg_pathtree_remove(t, "/a/:b/", V(1)), 0);
}

/* ---- validation and bounds --------------------------------------------- */

static void test_validate(void **state)
{
    (void)state;
    static const char *good[] = {"/",    "/a",     "/a/",     "/a/:b/*c", "/:a/:b/:c",
                                 "/a:b", "/a*b/c", "/_/:A_9", "/*rest",   "/a.b/~x/%20"};
    static const struct {
        const char *path, *msg;
    } bad[] = {
        {NULL, "path is missing"},
        {"", "path must start with '/': "},
        {"a/b", "path must start with '/': a/b"},
        {"//", "path has an empty segment: //"},
        {"/a//b", "path has an empty segment: /a//b"},
        {"/a//", "path has an empty segment: /a//"},
        {"/:", "parameter name must match [A-Za-z0-9_]+ for route: /:"},
        {"/a/:b-c", "parameter name must match [A-Za-z0-9_]+ for route: /a/:b-c"},
        {"/*", "wildcard name must match [A-Za-z0-9_]+ for route: /*"},
        {"/*a:b", "wildcard name must match [A-Za-z0-9_]+ for route: /*a:b"},
        {"/*a/b", "wildcard must be the last parameter"},
        {"/:id/x/:id", "parameter name (\"id\") used twice for route: /:id/x/:id"},
        {"/:id/*id", "parameter name (\"id\") used twice for route: /:id/*id"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        err[0] = '\0';
        if (eg_pathtree_validate(good[i], err, sizeof(err)) != 0)
            fail_msg("%s rejected: %s", good[i], err);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(eg_pathtree_validate(bad[i].path, err, sizeof(err)), -1);
        assert_string_equal(err, bad[i].msg);
    }
    assert_int_equal(eg_pathtree_validate("//", NULL, 0), -1);
}

static void test_bounds(void **state)
{
    eg_pathtree_t *t = *state;
    char err[256];
    char *p = malloc(1 << 20);
    assert_non_null(p);

    /* length: 2048 accepted, 2049 rejected */
    memset(p, 'x', 2048);
    p[0] = '/';
    p[2048] = '\0';
    assert_int_equal(eg_pathtree_validate(p, err, sizeof(err)), 0);
    add_ok(t, p, V(1));
    assert_ptr_equal(match1(t, p), V(1));
    p[2048] = 'x';
    p[2049] = '\0';
    assert_int_equal(eg_pathtree_validate(p, err, sizeof(err)), -1);
    assert_string_equal(err, "path is longer than 2048 bytes");
    assert_int_equal(eg_pathtree_add(t, p, V(2), err, sizeof(err)), -1);

    /* depth: 64 segments accepted, 65 rejected */
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        n += (size_t)sprintf(p + n, "/s");
    assert_int_equal(eg_pathtree_validate(p, err, sizeof(err)), 0);
    add_ok(t, p, V(3));
    assert_ptr_equal(match1(t, p), V(3));
    strcpy(p + n, "/");
    assert_ptr_equal(match1(t, p), V(3));
    strcpy(p + n, "/s");
    assert_int_equal(eg_pathtree_validate(p, err, sizeof(err)), -1);
    assert_string_equal(err, "path has more than 64 segments");

    free(p);
}

static void test_bounds_requests(void **state)
{
    eg_pathtree_t *t = *state;
    add_ok(t, "/:a/*all", V(5));
    char *p = malloc((1 << 20) + 1);
    assert_non_null(p);
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        n += (size_t)sprintf(p + n, "/s");
    size_t nv, np;
    eg_path_param_t prm[2];
    void *const *v = eg_pathtree_match(t, p, &nv, prm, 2, &np);
    assert_non_null(v);
    assert_ptr_equal(v[0], V(5));
    assert_int_equal(prm[1].value_len, 62 * 2 + 1);
    strcpy(p + n, "/s"); /* 65 segments */
    assert_null(eg_pathtree_match(t, p, &nv, prm, 2, &np));
    assert_int_equal(nv, 0);

    memset(p, 'x', 1 << 20); /* one 1 MiB segment */
    p[0] = '/';
    p[1 << 20] = '\0';
    assert_null(eg_pathtree_match(t, p, &nv, prm, 2, &np));
    for (size_t i = 0; i < (1 << 20); i += 2) /* 512 Ki segments */
        p[i] = '/';
    assert_null(eg_pathtree_match(t, p, &nv, prm, 2, &np));
    p[2048] = '\0'; /* 2048 bytes but 1024 segments: too deep */
    assert_null(eg_pathtree_match(t, p, &nv, prm, 2, &np));

    memset(p, 'y', 2049); /* 2048 bytes, two segments: fine; 2049: too long */
    p[0] = '/';
    p[2] = '/';
    p[2048] = '\0';
    v = eg_pathtree_match(t, p, &nv, prm, 2, &np);
    assert_non_null(v);
    assert_ptr_equal(v[0], V(5));
    assert_int_equal(prm[1].value_len, 2045);
    p[2048] = 'y';
    p[2049] = '\0';
    assert_null(eg_pathtree_match(t, p, &nv, prm, 2, &np));
    free(p);
}

/* ---- randomized -------------------------------------------------------- */

#define R_MAXSEG 4
#define R_ROUTES 4000

typedef struct {
    char kind[R_MAXSEG]; /* 's', 'p', 'w' */
    char name[R_MAXSEG];
    int n;
} rroute_t;

static void rroute_gen(rroute_t *r)
{
    r->n = 1 + rand() % R_MAXSEG;
    for (int i = 0; i < r->n; i++) {
        int k = rand() % 10;
        if (k < 6) {
            r->kind[i] = 's';
            r->name[i] = (char)('a' + rand() % 3);
        } else if (k < 9 || i < r->n - 1) {
            r->kind[i] = 'p';
            r->name[i] = (char)('p' + rand() % 2 + 2 * i); /* unique per position */
        } else {
            r->kind[i] = 'w';
            r->name[i] = (char)('w' + rand() % 2);
        }
    }
}

static void rroute_str(const rroute_t *r, char *buf)
{
    char *o = buf;
    for (int i = 0; i < r->n; i++) {
        *o++ = '/';
        if (r->kind[i] != 's')
            *o++ = r->kind[i] == 'p' ? ':' : '*';
        *o++ = r->name[i];
    }
    if (r->n % 2 == 0)
        *o++ = '/'; /* some with a trailing slash */
    *o = '\0';
}

/* A request path that should reach r's node. */
static void rroute_request(const rroute_t *r, char *buf)
{
    char *o = buf;
    for (int i = 0; i < r->n; i++) {
        if (r->kind[i] == 's')
            o += sprintf(o, "/%c", r->name[i]);
        else if (r->kind[i] == 'p')
            o += sprintf(o, "/v%d", i);
        else
            o += sprintf(o, "/r/e/st");
    }
    *o = '\0';
}

static int seg_same(const rroute_t *a, const rroute_t *b, int i)
{
    return a->kind[i] == b->kind[i] && a->name[i] == b->name[i];
}

/* Naive model of the conflict rules: r conflicts with e if they agree on a
 * prefix and then differ at a position both have, unless both are static. */
static int model_conflicts(const rroute_t *r, const rroute_t *e)
{
    for (int i = 0; i < r->n && i < e->n; i++) {
        if (seg_same(r, e, i))
            continue;
        return !(r->kind[i] == 's' && e->kind[i] == 's');
    }
    return 0;
}

static void test_randomized(void **state)
{
    eg_pathtree_t *t = *state;
    static rroute_t live[R_ROUTES];
    static int live_val[R_ROUTES];
    int nlive = 0, next_val = 1, adds = 0, conflicts = 0;
    char path[64], req[128], err[256];
    unsigned seed = 12345;
    const char *env = getenv("EG_TEST_SEED");
    if (env != NULL)
        seed = (unsigned)strtoul(env, NULL, 10);
    srand(seed);

    for (int step = 0; step < 20000; step++) {
        if (nlive > 0 && (rand() % 100 < 45 || nlive == R_ROUTES)) {
            int i = rand() % nlive;
            rroute_str(&live[i], path);
            assert_int_equal(eg_pathtree_remove(t, path, V(live_val[i])), 0);
            live[i] = live[nlive - 1];
            live_val[i] = live_val[nlive - 1];
            nlive--;
        } else {
            rroute_t r;
            rroute_gen(&r);
            rroute_str(&r, path);
            int want = 0;
            for (int i = 0; i < nlive && !want; i++)
                want = model_conflicts(&r, &live[i]);
            int got = eg_pathtree_check(t, path, err, sizeof(err));
            if (got != -want)
                fail_msg("seed %u step %d: check %s = %d (%s), model says %d", seed, step, path,
                         got, err, want);
            int rc = eg_pathtree_add(t, path, V(next_val), err, sizeof(err));
            assert_int_equal(rc, got);
            if (rc == 0) {
                live[nlive] = r;
                live_val[nlive] = next_val++;
                nlive++;
                adds++;
            } else {
                conflicts++;
            }
        }
        if (step % 97 == 0) {
            for (int i = 0; i < nlive; i++) {
                rroute_request(&live[i], req);
                size_t nv, found = 0;
                void *const *v = eg_pathtree_match(t, req, &nv, NULL, 0, NULL);
                for (size_t k = 0; v != NULL && k < nv; k++)
                    found |= v[k] == V(live_val[i]);
                if (!found) {
                    rroute_str(&live[i], path);
                    fail_msg("seed %u: %s not matched by %s", seed, path, req);
                }
            }
        }
        if (step == 10000) { /* free a populated tree, start afresh */
            eg_pathtree_free(t);
            t = eg_pathtree_new();
            *state = t;
            nlive = 0;
        }
    }
    assert_true(adds > 1000);
    assert_true(conflicts > 1000);
    /* remove everything: the tree is empty again, nothing conflicts */
    while (nlive > 0) {
        nlive--;
        rroute_str(&live[nlive], path);
        assert_int_equal(eg_pathtree_remove(t, path, V(live_val[nlive])), 0);
    }
    for (int i = 0; i < 200; i++) {
        rroute_t r;
        rroute_gen(&r);
        rroute_str(&r, path);
        assert_int_equal(eg_pathtree_check(t, path, err, sizeof(err)), 0);
        rroute_request(&r, req);
        assert_null(match1(t, req));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static, setup, teardown),
        cmocka_unit_test_setup_teardown(test_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wildcard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_slash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence_backtracking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_param_static, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_deeper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_deeper2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_wildcard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wildcard_not_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_does_not_modify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_prunes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_keeps_children, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_inner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_not_found, setup, teardown),
        cmocka_unit_test(test_validate),
        cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_randomized, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
