/*
 * eg_cesql.c: the CESQL compiler, a precedence-climbing parser from the
 * text into a tree (eg_cesql_int.h) that eg_cesql_eval.c evaluates; see
 * eg_cesql.h for the language.
 *
 * Precedence, from the loosest: AND OR XOR; comparisons; + -; * / %;
 * [NOT] LIKE and [NOT] IN; the unary NOT and minus; function calls,
 * parentheses and atoms. Equal precedences group from the left. Depth is
 * bounded (EG_CESQL_MAX_DEPTH), so a hostile expression is refused, not a
 * deep stack.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eg_alloc.h"
#include "eg_cesql_int.h"

/* ---- the tree ---- */

static void node_free(node_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

static node_t *node_new(enum op op)
{
    node_t *n = eg_xcalloc(1, sizeof *n);
    n->op = op;
    return n;
}

static void node_add(node_t *n, node_t *kid)
{
    n->kids = eg_xrealloc(n->kids, (n->nkids + 1) * sizeof *n->kids);
    n->kids[n->nkids++] = kid;
}

/* ---- the lexer ---- */

enum tok {
    T_EOF,
    T_LP,
    T_RP,
    T_COMMA,
    T_INT,
    T_STR,
    T_WORD, /* an identifier, a keyword or a function's name */
    T_STAR,
    T_SLASH,
    T_PCT,
    T_PLUS,
    T_MINUS,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_BAD,
};

typedef struct parser {
    const char *src;
    size_t len, pos;
    enum tok tok;
    size_t at, tlen; /* the token's start and length */
    int depth;
    char *err;
    size_t errlen;
    int failed;
} parser_t;

static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static void next(parser_t *p)
{
    while (p->pos < p->len && (p->src[p->pos] == ' ' || p->src[p->pos] == '\t' ||
                               p->src[p->pos] == '\r' || p->src[p->pos] == '\n'))
        p->pos++;
    p->at = p->pos;
    if (p->pos >= p->len) {
        p->tok = T_EOF;
        p->tlen = 0;
        return;
    }
    const char *s = p->src + p->pos;
    size_t left = p->len - p->pos, n = 1;
    switch (s[0]) {
    case '(':
        p->tok = T_LP;
        break;
    case ')':
        p->tok = T_RP;
        break;
    case ',':
        p->tok = T_COMMA;
        break;
    case '*':
        p->tok = T_STAR;
        break;
    case '/':
        p->tok = T_SLASH;
        break;
    case '%':
        p->tok = T_PCT;
        break;
    case '+':
        p->tok = T_PLUS;
        break;
    case '-':
        p->tok = T_MINUS;
        break;
    case '=':
        p->tok = T_EQ;
        break;
    case '!':
        p->tok = left > 1 && s[1] == '=' ? T_NE : T_BAD;
        n = 2;
        break;
    case '<':
        p->tok = left > 1 && s[1] == '=' ? T_LE : left > 1 && s[1] == '>' ? T_NE : T_LT;
        n = p->tok == T_LT ? 1 : 2;
        break;
    case '>':
        p->tok = left > 1 && s[1] == '=' ? T_GE : T_GT;
        n = p->tok == T_GT ? 1 : 2;
        break;
    case '\'':
    case '"':
        p->tok = T_BAD; /* unless it is closed */
        for (n = 1; n < left; n++) {
            if (s[n] == '\\' && n + 1 < left) {
                n++;
            } else if (s[n] == s[0]) {
                p->tok = T_STR;
                n++;
                break;
            }
        }
        break;
    default:
        if (!is_word_char(s[0])) {
            p->tok = T_BAD;
            break;
        }
        /* data.a.b: a member of the data, with dots */
        int data = left > 5 && !strncmp(s, "data.", 5);
        while (n < left && (is_word_char(s[n]) || (data && s[n] == '.')))
            n++;
        p->tok = T_WORD;
        size_t d = 0;
        while (d < n && s[d] >= '0' && s[d] <= '9')
            d++;
        if (d == n)
            p->tok = T_INT;
    }
    p->tlen = n;
    p->pos += n;
}

static void *fail(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void *fail(parser_t *p, const char *fmt, ...)
{
    if (p->failed)
        return NULL;
    p->failed = 1;
    int k = snprintf(p->err, p->errlen, "at %zu: ", p->at + 1);
    if (k >= 0 && (size_t)k < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

static int is_kw(const parser_t *p, const char *kw)
{
    return p->tok == T_WORD && p->tlen == strlen(kw) && !strncasecmp(p->src + p->at, kw, p->tlen);
}

static int reserved(const parser_t *p)
{
    static const char *const kws[] = {"AND", "OR", "XOR", "NOT", "LIKE", "EXISTS", "IN"};
    for (size_t i = 0; i < sizeof kws / sizeof kws[0]; i++)
        if (is_kw(p, kws[i]))
            return 1;
    return 0;
}

/* The token's text as an attribute name: lower case but past "data.". */
static char *attr_name(const parser_t *p)
{
    char *s = eg_xstrndup(p->src + p->at, p->tlen);
    int data = p->tlen > 5 && !strncmp(s, "data.", 5);
    for (char *c = s; *c && !data; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return s;
}

/* A string literal's value: the quotes go, a backslash before the quote
 * goes; other backslashes stay (LIKE gives them their meaning). */
static node_t *string_lit(parser_t *p)
{
    const char *s = p->src + p->at;
    char q = s[0], *v = eg_xmalloc(p->tlen), *w = v;
    for (size_t i = 1; i + 1 < p->tlen; i++) {
        if (s[i] == '\\' && i + 2 < p->tlen && s[i + 1] == q)
            i++;
        *w++ = s[i];
    }
    node_t *n = node_new(OP_LIT);
    n->text = v;
    n->v = v_str(v, (size_t)(w - v));
    next(p);
    return n;
}

static node_t *parse_expr(parser_t *p, int min_prec);

static node_t *parse_call(parser_t *p)
{
    const fn_t *fn = eg__cesql_fn(p->src + p->at, p->tlen);
    size_t at = p->at;
    if (!fn)
        return fail(p, "no function %.*s", (int)p->tlen, p->src + p->at);
    next(p); /* the name */
    next(p); /* ( */
    node_t *n = node_new(OP_CALL);
    n->fn = fn;
    if (p->tok != T_RP) {
        for (;;) {
            node_t *a = parse_expr(p, 0);
            if (!a)
                return node_free(n), NULL;
            if (n->nkids == MAX_ARGS) {
                node_free(a);
                node_free(n);
                return fail(p, "more than %d arguments", MAX_ARGS);
            }
            node_add(n, a);
            if (p->tok != T_COMMA)
                break;
            next(p);
        }
    }
    if (p->tok != T_RP) {
        node_free(n);
        return fail(p, "expected ',' or ')' in the arguments of %s", fn->name);
    }
    next(p);
    if ((int)n->nkids < fn->min || (fn->max >= 0 && (int)n->nkids > fn->max)) {
        size_t got = n->nkids;
        p->at = at;
        node_free(n);
        return fail(p, "%s takes %s%d argument(s), not %zu", fn->name,
                    fn->max < 0          ? "at least "
                    : fn->max == fn->min ? ""
                                         : "up to ",
                    fn->max < 0 || fn->max == fn->min ? fn->min : fn->max, got);
    }
    return n;
}

static node_t *parse_unary(parser_t *p);

static node_t *parse_primary(parser_t *p)
{
    node_t *n = NULL;
    if (is_kw(p, "NOT") || p->tok == T_MINUS || p->tok == T_PLUS) {
        enum tok t = p->tok;
        int neg = t == T_MINUS;
        next(p);
        if (t != T_WORD && p->tok == T_INT) {
            /* a signed integer literal: -2147483648 is one */
            char buf[16];
            int32_t v;
            if (p->tlen > 11 ||
                (snprintf(buf, sizeof buf, "%s%.*s", neg ? "-" : "", (int)p->tlen, p->src + p->at),
                 eg__cesql_parse_int(buf, strlen(buf), &v)))
                return fail(p, "integer out of 32 bits");
            n = node_new(OP_LIT);
            n->v = v_int(v);
            next(p);
        } else if (t == T_PLUS) {
            return fail(p, "expected an integer after '+'");
        } else {
            node_t *k = parse_unary(p);
            if (!k)
                return NULL;
            n = node_new(neg ? OP_NEG : OP_NOT);
            node_add(n, k);
        }
    } else if (is_kw(p, "EXISTS")) {
        next(p);
        if (p->tok != T_WORD || reserved(p))
            return fail(p, "expected an attribute after EXISTS");
        n = node_new(OP_EXISTS);
        n->text = attr_name(p);
        next(p);
    } else if (p->tok == T_LP) {
        next(p);
        if (!(n = parse_expr(p, 0)))
            return NULL;
        if (p->tok != T_RP) {
            node_free(n);
            return fail(p, "expected ')'");
        }
        next(p);
    } else if (p->tok == T_INT) {
        int32_t v;
        if (eg__cesql_parse_int(p->src + p->at, p->tlen, &v))
            return fail(p, "integer out of 32 bits");
        n = node_new(OP_LIT);
        n->v = v_int(v);
        next(p);
    } else if (p->tok == T_STR) {
        n = string_lit(p);
    } else if (is_kw(p, "TRUE") || is_kw(p, "FALSE")) {
        n = node_new(OP_LIT);
        n->v = v_bool(is_kw(p, "TRUE"));
        next(p);
    } else if (p->tok == T_WORD && !reserved(p)) {
        size_t save = p->pos;
        while (save < p->len && (p->src[save] == ' ' || p->src[save] == '\t' ||
                                 p->src[save] == '\r' || p->src[save] == '\n'))
            save++;
        if (save < p->len && p->src[save] == '(')
            return parse_call(p);
        n = node_new(OP_ATTR);
        n->text = attr_name(p);
        next(p);
    } else if (p->tok == T_EOF) {
        return fail(p, "unexpected end of the expression");
    } else if (p->src[p->at] == '\'' || p->src[p->at] == '"') {
        return fail(p, "a string that is not closed");
    } else {
        return fail(p, "unexpected '%.*s'", (int)(p->tlen ? p->tlen : 1), p->src + p->at);
    }
    return n;
}

static node_t *parse_unary(parser_t *p)
{
    if (++p->depth > EG_CESQL_MAX_DEPTH)
        return fail(p, "nested more than %d deep", EG_CESQL_MAX_DEPTH);
    node_t *n = parse_primary(p);
    p->depth--;
    return n;
}

static int binary_prec(const parser_t *p, enum op *op)
{
    switch (p->tok) {
    case T_STAR:
        return *op = OP_MUL, 4;
    case T_SLASH:
        return *op = OP_DIV, 4;
    case T_PCT:
        return *op = OP_MOD, 4;
    case T_PLUS:
        return *op = OP_ADD, 3;
    case T_MINUS:
        return *op = OP_SUB, 3;
    case T_EQ:
        return *op = OP_EQ, 2;
    case T_NE:
        return *op = OP_NE, 2;
    case T_LT:
        return *op = OP_LT, 2;
    case T_LE:
        return *op = OP_LE, 2;
    case T_GT:
        return *op = OP_GT, 2;
    case T_GE:
        return *op = OP_GE, 2;
    default:
        if (is_kw(p, "AND"))
            return *op = OP_AND, 1;
        if (is_kw(p, "OR"))
            return *op = OP_OR, 1;
        if (is_kw(p, "XOR"))
            return *op = OP_XOR, 1;
        return 0;
    }
}

#define POSTFIX_PREC 5 /* LIKE and IN bind tighter than any binary operator */

/* [NOT] LIKE 'pattern' or [NOT] IN (set) after left; left is consumed. */
static node_t *parse_postfix(parser_t *p, node_t *left, int negated)
{
    node_t *n;
    if (is_kw(p, "LIKE")) {
        next(p);
        if (p->tok != T_STR) {
            node_free(left);
            return fail(p, "LIKE takes a string literal");
        }
        n = string_lit(p);
        n->op = OP_LIKE;
    } else {
        next(p); /* IN */
        if (p->tok != T_LP) {
            node_free(left);
            return fail(p, "expected '(' after IN");
        }
        next(p);
        n = node_new(OP_IN);
        node_add(n, NULL);
        for (;;) {
            node_t *k = parse_expr(p, 0);
            if (!k) {
                node_free(left);
                node_free(n);
                return NULL;
            }
            node_add(n, k);
            if (p->tok != T_COMMA)
                break;
            next(p);
        }
        if (p->tok != T_RP) {
            node_free(left);
            node_free(n);
            return fail(p, "expected ',' or ')' in the set of IN");
        }
        next(p);
        n->kids[0] = left;
        n->negated = negated;
        return n;
    }
    node_add(n, left);
    n->negated = negated;
    return n;
}

static node_t *parse_expr(parser_t *p, int min_prec)
{
    if (++p->depth > EG_CESQL_MAX_DEPTH)
        return fail(p, "nested more than %d deep", EG_CESQL_MAX_DEPTH);
    node_t *left = parse_unary(p);
    while (left) {
        enum op op;
        int prec;
        if (POSTFIX_PREC >= min_prec && (is_kw(p, "LIKE") || is_kw(p, "IN"))) {
            left = parse_postfix(p, left, 0);
            continue;
        }
        if (POSTFIX_PREC >= min_prec && is_kw(p, "NOT")) {
            next(p);
            if (!is_kw(p, "LIKE") && !is_kw(p, "IN")) {
                node_free(left);
                return fail(p, "expected LIKE or IN after NOT");
            }
            left = parse_postfix(p, left, 1);
            continue;
        }
        if (!(prec = binary_prec(p, &op)) || prec < min_prec)
            break;
        next(p);
        node_t *right = parse_expr(p, prec + 1); /* left to right */
        if (!right) {
            node_free(left);
            return NULL;
        }
        node_t *n = node_new(op);
        node_add(n, left);
        node_add(n, right);
        left = n;
    }
    p->depth--;
    return left;
}

eg_cesql_t *eg_cesql_compile(const char *src, size_t len, char *err, size_t errlen)
{
    parser_t p = {.src = src, .len = len, .err = err, .errlen = errlen};
    if (errlen)
        err[0] = '\0';
    next(&p);
    node_t *root = parse_expr(&p, 0);
    if (root && p.tok != T_EOF) {
        node_free(root);
        root = fail(&p, "unexpected '%.*s'", (int)(p.tlen ? p.tlen : 1), p.src + p.at);
    }
    if (!root) {
        if (!p.failed)
            fail(&p, "not an expression");
        return NULL;
    }
    eg_cesql_t *q = eg_xcalloc(1, sizeof *q);
    q->root = root;
    return q;
}

void eg_cesql_free(eg_cesql_t *q)
{
    if (!q)
        return;
    node_free(q->root);
    free(q);
}
