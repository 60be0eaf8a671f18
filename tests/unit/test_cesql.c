/*
 * Unit tests of core/eg_cesql: CloudEvents SQL's values, operators and their
 * precedence, implicit casts, LIKE, IN, EXISTS, the built-in functions over
 * UTF-8, fail-fast errors, data.* names, and compile errors that say where.
 * (CESQL's own test suite runs with scripts/cesql-tck.py.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_cesql.h"

/* The event: name=value pairs; a value "#12" is the integer 12, "?1" the
 * boolean true (what a JSON data member can be). */
static const char *const *event;

static int lookup(void *ctx, const char *name, size_t len, eg_cesql_value_t *out)
{
    (void)ctx;
    for (const char *const *a = event; a && *a; a += 2) {
        if (strlen(a[0]) != len || strncmp(a[0], name, len))
            continue;
        if (a[1][0] == '#')
            *out = (eg_cesql_value_t){.type = EG_CESQL_INT, .i = atoi(a[1] + 1)};
        else if (a[1][0] == '?')
            *out = (eg_cesql_value_t){.type = EG_CESQL_BOOL, .i = a[1][1] == '1'};
        else
            *out = (eg_cesql_value_t){.type = EG_CESQL_STRING, .s = a[1], .len = strlen(a[1])};
        return 0;
    }
    return -1;
}

static const char *const base[] = {"specversion",
                                   "1.0",
                                   "id",
                                   "e-1",
                                   "source",
                                   "https://shop.example/orders",
                                   "type",
                                   "order.created",
                                   "subject",
                                   "Zoë Ångström",
                                   "sequence",
                                   "42",
                                   "data.customer.tier",
                                   "gold",
                                   "data.total",
                                   "#250",
                                   "data.paid",
                                   "?1",
                                   NULL};

/* Evaluates src over the base event; the value as text ("true", "12",
 * "'abc'") and the error's name, or "parse: at N: ..." */
static const char *run(const char *src, char *buf, size_t len)
{
    static eg_cesql_scratch_t *sc;
    if (!sc)
        sc = eg_cesql_scratch_new();
    char err[256];
    eg_cesql_t *q = eg_cesql_compile(src, strlen(src), err, sizeof err);
    if (!q) {
        snprintf(buf, len, "parse: %s", err);
        return buf;
    }
    event = base;
    eg_cesql_value_t v;
    eg_cesql_error_t e = eg_cesql_eval(q, lookup, NULL, sc, &v);
    int n = v.type == EG_CESQL_BOOL  ? snprintf(buf, len, "%s", v.i ? "true" : "false")
            : v.type == EG_CESQL_INT ? snprintf(buf, len, "%d", v.i)
                                     : snprintf(buf, len, "'%.*s'", (int)v.len, v.s);
    if (e)
        snprintf(buf + n, len - (size_t)n, " (%s)", eg_cesql_error_name(e));
    eg_cesql_free(q);
    return buf;
}

#define EXPECT(src, want)                                                                          \
    do {                                                                                           \
        char b_[512];                                                                              \
        const char *got_ = run(src, b_, sizeof b_);                                                \
        if (strcmp(got_, want))                                                                    \
            fail_msg("%s: want %s, got %s", src, want, got_);                                      \
    } while (0)

#define PARSE_ERROR(src, where)                                                                    \
    do {                                                                                           \
        char b_[512];                                                                              \
        const char *got_ = run(src, b_, sizeof b_);                                                \
        if (strncmp(got_, "parse: " where, strlen("parse: " where)))                               \
            fail_msg("%s: want a parse error %s, got %s", src, where, got_);                       \
    } while (0)

static void test_literals_and_arithmetic(void **state)
{
    (void)state;
    EXPECT("7", "7");
    EXPECT("-2147483648", "-2147483648");
    EXPECT("2147483647 + 1", "0 (math)");
    EXPECT("1 + 2 * 3 - 8 / 4", "5");
    EXPECT("(1 + 2) * 3", "9");
    EXPECT("-7 / 2", "-3");    /* towards zero */
    EXPECT("-7 % 3", "-1");    /* the sign of the left */
    EXPECT("10 - 4 - 3", "3"); /* left to right */
    EXPECT("7 / 0", "0 (math)");
    EXPECT("'abc'", "'abc'");
    EXPECT("\"it\\\"s\"", "'it\"s'");
    EXPECT("'a\\_b'", "'a\\_b'"); /* other backslashes stay for LIKE */
    EXPECT("tRuE", "true");
    EXPECT("'5' + TRUE", "6");
}

static void test_comparisons_and_casts(void **state)
{
    (void)state;
    EXPECT("sequence = 42", "true"); /* the right operand's type: 42 */
    EXPECT("42 = sequence", "true"); /* '42' = '42' */
    EXPECT("sequence > 41 AND sequence <= 42", "true");
    EXPECT("TRUE = 'true'", "true");
    EXPECT("TRUE = 'TRUE'", "false"); /* true becomes 'true' */
    EXPECT("'TRUE' = TRUE", "true");  /* 'TRUE' becomes true */
    EXPECT("'abc' < 3", "false (cast)");
    EXPECT("type != 'order.created'", "false");
    EXPECT("type <> 'order.paid'", "true");
    EXPECT("data.total >= 200", "true");
    EXPECT("data.paid", "true");
    EXPECT("data.paid = 'true'", "true");
}

static void test_logic_short_circuits_and_has_one_precedence(void **state)
{
    (void)state;
    EXPECT("FALSE AND missing", "false"); /* not evaluated */
    EXPECT("TRUE OR 1 / 0 = 1", "true");
    EXPECT("TRUE AND missing", "false (missingAttribute)");
    EXPECT("TRUE XOR TRUE", "false");
    /* AND, OR, XOR: one precedence, left to right */
    EXPECT("FALSE AND TRUE OR TRUE", "true");
    EXPECT("TRUE OR TRUE AND FALSE", "false");
    EXPECT("NOT FALSE AND FALSE", "false"); /* NOT binds tighter */
    EXPECT("NOT 'false'", "true");
    EXPECT("NOT missing", "false (missingAttribute)");
    EXPECT("1 + missing", "0 (missingAttribute)");
    EXPECT("1 / missing", "0 (missingAttribute)"); /* not a math error */
}

static void test_like_in_exists(void **state)
{
    (void)state;
    EXPECT("source LIKE 'https://%'", "true");
    EXPECT("type LIKE 'order._reated'", "true");
    EXPECT("type NOT LIKE '%.created'", "false");
    EXPECT("subject LIKE 'Zo_ _ngstr_m'", "true"); /* _ is one character, not one byte */
    EXPECT("'50%' LIKE '50\\%'", "true");
    EXPECT("'500' LIKE '50\\%'", "false");
    EXPECT("'a_c' LIKE 'a\\_c'", "true");
    EXPECT("'abc' LIKE 'a\\_c'", "false");
    EXPECT("'aXbXc' LIKE '%X%X%'", "true");
    EXPECT("'' LIKE '%'", "true");
    EXPECT("42 LIKE '4_'", "true"); /* the left becomes a string */
    EXPECT("missing LIKE '%'", "false (missingAttribute)");
    EXPECT("type IN ('order.paid', 'order.created')", "true");
    EXPECT("type NOT IN ('order.paid', 'order.created')", "false");
    EXPECT("sequence IN (41, 42)", "true"); /* elements become strings: '42' */
    EXPECT("42 IN ('41', '42')", "true");
    EXPECT("TRUE IN ('false', 'true')", "true");
    EXPECT("EXISTS subject AND NOT EXISTS dataschema", "true");
    EXPECT("EXISTS SUBJECT", "true"); /* names are matched in lower case */
    EXPECT("EXISTS data.customer.tier", "true");
    EXPECT("data.customer.tier = 'gold'", "true");
    EXPECT("data.customer.Tier = 'gold'", "false (missingAttribute)"); /* data keeps its case */
}

static void test_a_costly_like_errs_in_bounded_time(void **state)
{
    (void)state;
    /* 'aaa…a' (1 MB) LIKE '%aaa…ab' (4,000 a's): 4,000 comparisons at every 'a' */
    size_t n = 1 << 20;
    char *big = malloc(n + 1), *pat = malloc(4200), expr[4300];
    memset(big, 'a', n);
    big[n] = '\0';
    pat[0] = '%';
    memset(pat + 1, 'a', 4000);
    strcpy(pat + 4001, "b");
    snprintf(expr, sizeof expr, "data.big LIKE '%s'", pat);
    const char *const ev[] = {"data.big", big, NULL};
    char err[256];
    eg_cesql_t *q = eg_cesql_compile(expr, strlen(expr), err, sizeof err);
    assert_non_null(q);
    eg_cesql_scratch_t *sc = eg_cesql_scratch_new();
    eg_cesql_value_t v;
    event = ev;
    assert_int_equal(eg_cesql_eval(q, lookup, NULL, sc, &v), EG_CESQL_E_FUNCTION);
    assert_false(eg_cesql_match(q, lookup, NULL, sc));
    /* a usual pattern over the same value is answered */
    eg_cesql_free(q);
    q = eg_cesql_compile("data.big LIKE '%aaa%'", 21, err, sizeof err);
    assert_true(eg_cesql_match(q, lookup, NULL, sc));
    eg_cesql_free(q);
    eg_cesql_scratch_free(sc);
    free(big);
    free(pat);
}

static void test_functions(void **state)
{
    (void)state;
    EXPECT("LENGTH(subject)", "12"); /* characters, not bytes */
    EXPECT("length(TRUE)", "4");
    EXPECT("CONCAT(type, '/', sequence)", "'order.created/42'");
    EXPECT("CONCAT()", "''");
    EXPECT("CONCAT_WS('-', 'a', 'b', 'c')", "'a-b-c'");
    EXPECT("CONCAT_WS('-')", "''");
    EXPECT("UPPER(type)", "'ORDER.CREATED'");
    EXPECT("LOWER('AbC')", "'abc'");
    EXPECT("TRIM('  \t a b \n ')", "'a b'");
    EXPECT("TRIM('\xc2\xa0x\xe3\x80\x80')", "'x'"); /* Unicode white space */
    EXPECT("LEFT(subject, 3)", "'Zoë'");
    EXPECT("RIGHT(subject, 3)", "'röm'");
    EXPECT("LEFT('abc', 9)", "'abc'");
    EXPECT("LEFT('abc', -1)", "'abc' (functionEvaluation)");
    EXPECT("SUBSTRING('abcdef', 3)", "'cdef'");
    EXPECT("SUBSTRING('abcdef', -2)", "'ef'");
    EXPECT("SUBSTRING('abcdef', 2, 3)", "'bcd'");
    EXPECT("SUBSTRING('abcdef', 0)", "''");
    EXPECT("SUBSTRING('abcdef', 5, 10)", "'ef'");
    EXPECT("SUBSTRING('abcdef', 7)", "'' (functionEvaluation)");
    EXPECT("SUBSTRING('abcdef', 2, -1)", "'' (functionEvaluation)");
    EXPECT("ABS(-5)", "5");
    EXPECT("ABS(-2147483648)", "2147483647 (math)");
    EXPECT("INT('-12') + 1", "-11");
    EXPECT("INT('12x')", "0 (cast)");
    EXPECT("INT('2147483648')", "0 (cast)");
    EXPECT("BOOL('False')", "false");
    EXPECT("STRING(-3)", "'-3'");
    EXPECT("IS_INT('12') AND NOT IS_INT('x') AND IS_BOOL('true')", "true");
    EXPECT("LENGTH(CONCAT(LOWER(type), UPPER(type)))", "26"); /* nested: scratch space */
}

static void test_compile_errors_say_where(void **state)
{
    (void)state;
    PARSE_ERROR("", "at 1: ");
    PARSE_ERROR("type = ", "at 8: ");
    PARSE_ERROR("(type = 'a'", "at 12: ");
    PARSE_ERROR("type LIKE 12", "at 11: ");
    PARSE_ERROR("NOSUCH(type)", "at 1: no function NOSUCH");
    PARSE_ERROR("type = 'a' LENGTH('x', 'y')", "at 12: ");
    PARSE_ERROR("LENGTH('x', 'y')", "at 1: LENGTH takes 1 argument(s), not 2");
    PARSE_ERROR("SUBSTRING('x')", "at 1: SUBSTRING takes up to 3");
    PARSE_ERROR("type = 'abc", "at 8: a string that is not closed");
    PARSE_ERROR("2147483648", "at 1: integer out of 32 bits");
    PARSE_ERROR("type NOT = 'a'", "at 10: expected LIKE or IN after NOT");
    PARSE_ERROR("x IN ()", "at 7: ");
    PARSE_ERROR("EXISTS 'x'", "at 8: ");
    PARSE_ERROR("a ! b", "at 3: ");
    PARSE_ERROR("a AND AND b", "at 7: ");
    /* nesting is bounded: a deep expression is refused, not a deep stack */
    char deep[512] = "";
    for (int i = 0; i < 100; i++)
        strcat(deep, "(");
    strcat(deep, "1");
    for (int i = 0; i < 100; i++)
        strcat(deep, ")");
    PARSE_ERROR(deep, "at ");
    char err[256];
    assert_null(eg_cesql_compile(deep, strlen(deep), err, sizeof err));
    assert_non_null(strstr(err, "nested more than"));
    char nots[512] = "";
    for (int i = 0; i < 100; i++)
        strcat(nots, "NOT ");
    strcat(nots, "TRUE");
    assert_null(eg_cesql_compile(nots, strlen(nots), err, sizeof err));
}

static void test_match_is_a_boolean_true_without_error(void **state)
{
    (void)state;
    eg_cesql_scratch_t *sc = eg_cesql_scratch_new();
    const char *yes[] = {"type = 'order.created'", "TRUE", "BOOL('true')", NULL};
    /* a string or an integer is not a boolean, even 'true' or 1 */
    const char *no[] = {"type = 'x'",          "1", "'true'", "missing = 'x' OR TRUE",
                        "LEFT('a', -1) = 'a'", NULL};
    char err[256];
    event = base;
    for (const char **s = yes; *s; s++) {
        eg_cesql_t *q = eg_cesql_compile(*s, strlen(*s), err, sizeof err);
        assert_non_null(q);
        if (!eg_cesql_match(q, lookup, NULL, sc))
            fail_msg("%s should match", *s);
        eg_cesql_free(q);
    }
    for (const char **s = no; *s; s++) {
        eg_cesql_t *q = eg_cesql_compile(*s, strlen(*s), err, sizeof err);
        assert_non_null(q);
        if (eg_cesql_match(q, lookup, NULL, sc))
            fail_msg("%s should not match", *s);
        eg_cesql_free(q);
    }
    eg_cesql_scratch_free(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals_and_arithmetic),
        cmocka_unit_test(test_comparisons_and_casts),
        cmocka_unit_test(test_logic_short_circuits_and_has_one_precedence),
        cmocka_unit_test(test_like_in_exists),
        cmocka_unit_test(test_a_costly_like_errs_in_bounded_time),
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_compile_errors_say_where),
        cmocka_unit_test(test_match_is_a_boolean_true_without_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
