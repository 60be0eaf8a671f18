/*
 * eg_cesql_eval.c: CESQL's evaluation over a compiled tree (eg_cesql.c),
 * fail-fast, with its values, casts, LIKE and built-in functions.
 *
 * Values are slices: a string result points into the expression's literals,
 * the event's attributes or the evaluation's scratch space, so an expression
 * that builds no string (comparisons, LIKE, IN, EXISTS) allocates nothing,
 * and a scratch space reused from one event to the next keeps its buffer.
 * Characters are UTF-8 code points for LENGTH, LEFT, RIGHT, SUBSTRING and
 * LIKE's _; LOWER and UPPER change ASCII letters only.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eg_alloc.h"
#include "eg_cesql_int.h"

static eg_cesql_type_t node_type(const node_t *n)
{
    switch (n->op) {
    case OP_LIT:
        return n->v.type;
    case OP_NEG:
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_MOD:
        return EG_CESQL_INT;
    case OP_CALL:
        return n->fn->ret;
    default:
        return EG_CESQL_BOOL; /* an attribute's type is unknown: Boolean, as CESQL says */
    }
}

/* ---- scratch space ---- */

eg_cesql_scratch_t *eg_cesql_scratch_new(void)
{
    eg_cesql_scratch_t *sc = eg_xcalloc(1, sizeof *sc);
    sc->cap = 1024;
    sc->buf = eg_xmalloc(sc->cap);
    return sc;
}

static void scratch_reset(eg_cesql_scratch_t *sc)
{
    for (size_t i = 0; i < sc->nbig; i++)
        free(sc->big[i]);
    sc->nbig = 0;
    sc->used = 0;
}

void eg_cesql_scratch_free(eg_cesql_scratch_t *sc)
{
    if (!sc)
        return;
    scratch_reset(sc);
    free(sc->big);
    free(sc->buf);
    free(sc);
}

static char *scratch_alloc(eg_cesql_scratch_t *sc, size_t n)
{
    if (n <= sc->cap - sc->used) {
        char *p = sc->buf + sc->used;
        sc->used += n;
        return p;
    }
    if (sc->nbig == sc->capbig) {
        sc->capbig = sc->capbig ? 2 * sc->capbig : 8;
        sc->big = eg_xrealloc(sc->big, sc->capbig * sizeof *sc->big);
    }
    return sc->big[sc->nbig++] = eg_xmalloc(n ? n : 1);
}

static eg_cesql_value_t v_zero(eg_cesql_type_t t)
{
    return t == EG_CESQL_STRING ? v_str("", 0) : t == EG_CESQL_INT ? v_int(0) : v_bool(0);
}

int eg__cesql_parse_int(const char *s, size_t len, int32_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == len)
        return -1;
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > (int64_t)INT32_MAX + 1)
            return -1;
    }
    v = neg ? -v : v;
    if (v > INT32_MAX)
        return -1;
    *out = (int32_t)v;
    return 0;
}

static eg_cesql_error_t cast(eval_t *e, eg_cesql_value_t v, eg_cesql_type_t to,
                             eg_cesql_value_t *out)
{
    if (v.type == to) {
        *out = v;
        return EG_CESQL_OK;
    }
    *out = v_zero(to);
    switch (to) {
    case EG_CESQL_INT:
        if (v.type == EG_CESQL_BOOL) {
            *out = v_int(v.i);
            return EG_CESQL_OK;
        }
        return eg__cesql_parse_int(v.s, v.len, &out->i) ? EG_CESQL_E_CAST : EG_CESQL_OK;
    case EG_CESQL_BOOL:
        if (v.type == EG_CESQL_INT) {
            *out = v_bool(v.i);
            return EG_CESQL_OK;
        }
        if (v.len == 4 && !strncasecmp(v.s, "true", 4))
            *out = v_bool(1);
        else if (!(v.len == 5 && !strncasecmp(v.s, "false", 5)))
            return EG_CESQL_E_CAST;
        return EG_CESQL_OK;
    default:
        if (v.type == EG_CESQL_BOOL) {
            *out = v.i ? v_str("true", 4) : v_str("false", 5);
        } else {
            char *s = scratch_alloc(e->sc, 12);
            *out = v_str(s, (size_t)snprintf(s, 12, "%" PRId32, v.i));
        }
        return EG_CESQL_OK;
    }
}

static int v_equal(eg_cesql_value_t a, eg_cesql_value_t b)
{
    if (a.type == EG_CESQL_STRING)
        return a.len == b.len && (a.len == 0 || memcmp(a.s, b.s, a.len) == 0);
    return a.i == b.i;
}

/* ---- UTF-8 ---- */

static size_t u8_next(const char *s, size_t len, size_t i)
{
    i++;
    while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
        i++;
    return i;
}

static size_t u8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i = u8_next(s, len, i))
        n++;
    return n;
}

/* The byte offset of character k (from 0; the end if there are fewer). */
static size_t u8_offset(const char *s, size_t len, size_t k)
{
    size_t i = 0;
    while (k-- && i < len)
        i = u8_next(s, len, i);
    return i;
}

/* The length of the Unicode white space at s[i] (0: none). */
static size_t u8_space(const char *s, size_t len, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || (c >= '\t' && c <= '\r'))
        return 1;
    static const char *const wide[] = {"\xc2\x85",     "\xc2\xa0",     "\xe1\x9a\x80",
                                       "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",
                                       "\xe2\x81\x9f", "\xe3\x80\x80"};
    for (size_t k = 0; k < sizeof wide / sizeof wide[0]; k++) {
        size_t n = strlen(wide[k]);
        if (n <= len - i && !memcmp(s + i, wide[k], n))
            return n;
    }
    /* U+2000..U+200A */
    if (len - i >= 3 && c == 0xe2 && (unsigned char)s[i + 1] == 0x80 &&
        (unsigned char)s[i + 2] >= 0x80 && (unsigned char)s[i + 2] <= 0x8a)
        return 3;
    return 0;
}

/* ---- LIKE ---- */

/* Does s match p, where % is any run of characters, _ one character and a
 * backslash makes the % or _ after it literal? Backtracks to the last %
 * only, so it is O(len(s) * len(p)) at worst. */
static int like(const char *s, size_t sl, const char *p, size_t pl, long *steps)
{
    size_t si = 0, pi = 0, star_p = (size_t)-1, star_s = 0;
    while (si < sl) {
        if (--*steps < 0)
            return -1;
        if (pi < pl && p[pi] == '%') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < pl && p[pi] == '_') {
            pi++;
            si = u8_next(s, sl, si);
            continue;
        }
        if (pi < pl) {
            size_t q = pi;
            if (p[q] == '\\' && q + 1 < pl && (p[q + 1] == '%' || p[q + 1] == '_'))
                q++;
            if (p[q] == s[si]) {
                pi = q + 1;
                si++;
                continue;
            }
        }
        if (star_p == (size_t)-1)
            return 0;
        pi = star_p;
        si = star_s = u8_next(s, sl, star_s);
    }
    while (pi < pl && p[pi] == '%')
        pi++;
    return pi == pl;
}

/* ---- functions ---- */

static eg_cesql_error_t f_length(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    *out = v_int((int32_t)u8_count(a[0].s, a[0].len));
    return EG_CESQL_OK;
}

static eg_cesql_error_t concat(eval_t *e, const eg_cesql_value_t *sep, eg_cesql_value_t *a,
                               size_t n, eg_cesql_value_t *out)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += a[i].len + (i && sep ? sep->len : 0);
    char *s = scratch_alloc(e->sc, len), *w = s;
    for (size_t i = 0; i < n; i++) {
        if (i && sep && sep->len) {
            memcpy(w, sep->s, sep->len);
            w += sep->len;
        }
        if (a[i].len)
            memcpy(w, a[i].s, a[i].len);
        w += a[i].len;
    }
    *out = v_str(s, len);
    return EG_CESQL_OK;
}

static eg_cesql_error_t f_concat(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    return concat(e, NULL, a, n, out);
}

static eg_cesql_error_t f_concat_ws(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    return concat(e, &a[0], a + 1, n - 1, out);
}

static eg_cesql_error_t change_case(eval_t *e, eg_cesql_value_t *a, int upper,
                                    eg_cesql_value_t *out)
{
    char *s = scratch_alloc(e->sc, a[0].len);
    for (size_t i = 0; i < a[0].len; i++) {
        char c = a[0].s[i];
        if (upper && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!upper && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        s[i] = c;
    }
    *out = v_str(s, a[0].len);
    return EG_CESQL_OK;
}

static eg_cesql_error_t f_lower(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    return change_case(e, a, 0, out);
}

static eg_cesql_error_t f_upper(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    return change_case(e, a, 1, out);
}

static eg_cesql_error_t f_trim(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    const char *s = a[0].s;
    size_t b = 0, end = a[0].len, k;
    while (b < end && (k = u8_space(s, end, b)))
        b += k;
    /* from the end: find the last character that is not white space */
    size_t last = b;
    for (size_t i = b; i < end;) {
        size_t sp = u8_space(s, end, i);
        i = sp ? i + sp : u8_next(s, end, i);
        if (!sp)
            last = i;
    }
    *out = v_str(s + b, last - b);
    return EG_CESQL_OK;
}

static eg_cesql_error_t f_left(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    *out = a[0];
    if (a[1].i < 0)
        return EG_CESQL_E_FUNCTION;
    out->len = u8_offset(a[0].s, a[0].len, (size_t)a[1].i);
    return EG_CESQL_OK;
}

static eg_cesql_error_t f_right(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    *out = a[0];
    if (a[1].i < 0)
        return EG_CESQL_E_FUNCTION;
    size_t chars = u8_count(a[0].s, a[0].len);
    if ((size_t)a[1].i < chars) {
        size_t off = u8_offset(a[0].s, a[0].len, chars - (size_t)a[1].i);
        *out = v_str(a[0].s + off, a[0].len - off);
    }
    return EG_CESQL_OK;
}

static eg_cesql_error_t f_substring(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    int64_t chars = (int64_t)u8_count(a[0].s, a[0].len), pos = a[1].i;
    *out = v_str("", 0);
    if (pos > chars || pos < -chars || (n == 3 && a[2].i < 0))
        return EG_CESQL_E_FUNCTION;
    if (pos == 0)
        return EG_CESQL_OK;
    int64_t from = pos > 0 ? pos - 1 : chars + pos;
    int64_t count = n == 3 ? a[2].i : chars - from;
    if (count > chars - from)
        count = chars - from;
    size_t b = u8_offset(a[0].s, a[0].len, (size_t)from);
    size_t end = b + u8_offset(a[0].s + b, a[0].len - b, (size_t)count);
    *out = v_str(a[0].s + b, end - b);
    return EG_CESQL_OK;
}

static eg_cesql_error_t f_abs(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    if (a[0].i == INT32_MIN) {
        *out = v_int(INT32_MAX);
        return EG_CESQL_E_MATH;
    }
    *out = v_int(a[0].i < 0 ? -a[0].i : a[0].i);
    return EG_CESQL_OK;
}

static eg_cesql_error_t f_int(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    return cast(e, a[0], EG_CESQL_INT, out);
}

static eg_cesql_error_t f_bool(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    return cast(e, a[0], EG_CESQL_BOOL, out);
}

static eg_cesql_error_t f_string(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    return cast(e, a[0], EG_CESQL_STRING, out);
}

static eg_cesql_error_t f_is_int(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    eg_cesql_value_t v;
    *out = v_bool(cast(e, a[0], EG_CESQL_INT, &v) == EG_CESQL_OK);
    return EG_CESQL_OK;
}

static eg_cesql_error_t f_is_bool(eval_t *e, eg_cesql_value_t *a, size_t n, eg_cesql_value_t *out)
{
    eg_cesql_value_t v;
    *out = v_bool(cast(e, a[0], EG_CESQL_BOOL, &v) == EG_CESQL_OK);
    return EG_CESQL_OK;
}

#define S EG_CESQL_STRING
#define I EG_CESQL_INT
#define B EG_CESQL_BOOL
static const fn_t fns[] = {
    {"LENGTH", 1, 1, I, {S}, S, f_length},
    {"CONCAT", 0, -1, S, {S}, S, f_concat},
    {"CONCAT_WS", 1, -1, S, {S}, S, f_concat_ws},
    {"LOWER", 1, 1, S, {S}, S, f_lower},
    {"UPPER", 1, 1, S, {S}, S, f_upper},
    {"TRIM", 1, 1, S, {S}, S, f_trim},
    {"LEFT", 2, 2, S, {S, I}, S, f_left},
    {"RIGHT", 2, 2, S, {S, I}, S, f_right},
    {"SUBSTRING", 2, 3, S, {S, I, I}, S, f_substring},
    {"ABS", 1, 1, I, {I}, I, f_abs},
    {"INT", 1, 1, I, {ANY}, ANY, f_int},
    {"BOOL", 1, 1, B, {ANY}, ANY, f_bool},
    {"STRING", 1, 1, S, {ANY}, ANY, f_string},
    {"IS_INT", 1, 1, B, {ANY}, ANY, f_is_int},
    {"IS_BOOL", 1, 1, B, {ANY}, ANY, f_is_bool},
};
#undef S
#undef I
#undef B

const fn_t *eg__cesql_fn(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (len == strlen(fns[i].name) && !strncasecmp(name, fns[i].name, len))
            return &fns[i];
    return NULL;
}

/* ---- evaluation ---- */

static eg_cesql_error_t eval(eval_t *e, const node_t *n, eg_cesql_value_t *out);

/* Evaluates n and casts its value to t. */
static eg_cesql_error_t eval_as(eval_t *e, const node_t *n, eg_cesql_type_t t,
                                eg_cesql_value_t *out)
{
    eg_cesql_value_t v;
    eg_cesql_error_t err = eval(e, n, &v);
    if (err) {
        *out = v_zero(t);
        return err;
    }
    return cast(e, v, t, out);
}

static eg_cesql_error_t arith(enum op op, int32_t a, int32_t b, eg_cesql_value_t *out)
{
    int64_t r;
    *out = v_int(0);
    switch (op) {
    case OP_ADD:
        r = (int64_t)a + b;
        break;
    case OP_SUB:
        r = (int64_t)a - b;
        break;
    case OP_MUL:
        r = (int64_t)a * b;
        break;
    default:
        if (b == 0)
            return EG_CESQL_E_MATH;
        r = op == OP_DIV ? (int64_t)a / b : (int64_t)a % b;
    }
    if (r < INT32_MIN || r > INT32_MAX)
        return EG_CESQL_E_MATH;
    *out = v_int((int32_t)r);
    return EG_CESQL_OK;
}

static eg_cesql_error_t eval(eval_t *e, const node_t *n, eg_cesql_value_t *out)
{
    eg_cesql_value_t a, b;
    eg_cesql_error_t err;
    *out = v_zero(node_type(n));
    switch (n->op) {
    case OP_LIT:
        *out = n->v;
        return EG_CESQL_OK;
    case OP_ATTR:
        if (e->lookup(e->ctx, n->text, strlen(n->text), &a))
            return EG_CESQL_E_MISSING_ATTRIBUTE;
        *out = a;
        return EG_CESQL_OK;
    case OP_EXISTS:
        *out = v_bool(e->lookup(e->ctx, n->text, strlen(n->text), &a) == 0);
        return EG_CESQL_OK;
    case OP_NOT:
        if ((err = eval_as(e, n->kids[0], EG_CESQL_BOOL, &a)))
            return err;
        *out = v_bool(!a.i);
        return EG_CESQL_OK;
    case OP_NEG:
        if ((err = eval_as(e, n->kids[0], EG_CESQL_INT, &a)))
            return err;
        return arith(OP_SUB, 0, a.i, out);
    case OP_AND:
    case OP_OR:
    case OP_XOR:
        if ((err = eval_as(e, n->kids[0], EG_CESQL_BOOL, &a)))
            return err;
        if ((n->op == OP_AND && !a.i) || (n->op == OP_OR && a.i)) {
            *out = a;
            return EG_CESQL_OK;
        }
        if ((err = eval_as(e, n->kids[1], EG_CESQL_BOOL, &b)))
            return err;
        *out = v_bool(n->op == OP_XOR ? a.i != b.i : b.i);
        return EG_CESQL_OK;
    case OP_EQ:
    case OP_NE:
        /* ambiguous: the right operand's type is the one both compare as */
        if ((err = eval(e, n->kids[1], &b)) || (err = eval_as(e, n->kids[0], b.type, &a)))
            return err;
        *out = v_bool(v_equal(a, b) == (n->op == OP_EQ));
        return EG_CESQL_OK;
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        if ((err = eval_as(e, n->kids[0], EG_CESQL_INT, &a)) ||
            (err = eval_as(e, n->kids[1], EG_CESQL_INT, &b)))
            return err;
        *out = v_bool(n->op == OP_LT   ? a.i < b.i
                      : n->op == OP_LE ? a.i <= b.i
                      : n->op == OP_GT ? a.i > b.i
                                       : a.i >= b.i);
        return EG_CESQL_OK;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_MOD:
        if ((err = eval_as(e, n->kids[0], EG_CESQL_INT, &a)) ||
            (err = eval_as(e, n->kids[1], EG_CESQL_INT, &b)))
            return err;
        return arith(n->op, a.i, b.i, out);
    case OP_LIKE:
        if ((err = eval_as(e, n->kids[0], EG_CESQL_STRING, &a)))
            return err;
        int m = like(a.s, a.len, n->v.s, n->v.len, &e->steps);
        if (m < 0)
            return EG_CESQL_E_FUNCTION; /* past EG_CESQL_MAX_STEPS */
        *out = v_bool(m != n->negated);
        return EG_CESQL_OK;
    case OP_IN: {
        if ((err = eval(e, n->kids[0], &a)))
            return err;
        int found = 0;
        for (size_t i = 1; i < n->nkids && !found; i++) {
            if ((err = eval_as(e, n->kids[i], a.type, &b)))
                return err;
            found = v_equal(a, b);
        }
        *out = v_bool(found != n->negated);
        return EG_CESQL_OK;
    }
    case OP_CALL: {
        eg_cesql_value_t args[MAX_ARGS];
        for (size_t i = 0; i < n->nkids; i++) {
            int t = n->fn->max >= 0 || (int)i < n->fn->min ? n->fn->arg[i] : n->fn->rest;
            err = t == ANY ? eval(e, n->kids[i], &args[i])
                           : eval_as(e, n->kids[i], (eg_cesql_type_t)t, &args[i]);
            if (err)
                return err;
        }
        return n->fn->impl(e, args, n->nkids, out);
    }
    }
    return EG_CESQL_OK;
}

eg_cesql_error_t eg_cesql_eval(const eg_cesql_t *q, eg_cesql_lookup_fn lookup, void *ctx,
                               eg_cesql_scratch_t *sc, eg_cesql_value_t *out)
{
    eval_t e = {lookup, ctx, sc, EG_CESQL_MAX_STEPS};
    scratch_reset(sc);
    return eval(&e, q->root, out);
}

int eg_cesql_match(const eg_cesql_t *q, eg_cesql_lookup_fn lookup, void *ctx,
                   eg_cesql_scratch_t *sc)
{
    eg_cesql_value_t v;
    return eg_cesql_eval(q, lookup, ctx, sc, &v) == EG_CESQL_OK && v.type == EG_CESQL_BOOL && v.i;
}

const char *eg_cesql_error_name(eg_cesql_error_t e)
{
    static const char *const names[] = {"none", "math", "cast", "missingAttribute",
                                        "functionEvaluation"};
    return (unsigned)e < sizeof names / sizeof names[0] ? names[e] : "unknown";
}
