/*
 * eg_cesql_int.h: what the CESQL compiler (eg_cesql.c) and evaluator
 * (eg_cesql_eval.c) share: the tree, the built-in functions' table and
 * value constructors. Private to those two files.
 */
#ifndef EG_CESQL_INT_H
#define EG_CESQL_INT_H

#include "eg_cesql.h"

#define MAX_ARGS 64 /* of a function */

enum op {
    OP_LIT,
    OP_ATTR,
    OP_EXISTS,
    OP_NOT,
    OP_NEG,
    OP_AND,
    OP_OR,
    OP_XOR,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_LIKE,
    OP_IN,
    OP_CALL,
};

struct fn;

typedef struct node {
    enum op op;
    int negated;         /* NOT LIKE, NOT IN */
    eg_cesql_value_t v;  /* OP_LIT; OP_LIKE: the pattern */
    char *text;          /* owned: a literal's text, an attribute's name */
    const struct fn *fn; /* OP_CALL */
    struct node **kids;
    size_t nkids;
} node_t;

struct eg_cesql {
    node_t *root;
};

struct eg_cesql_scratch {
    char *buf;
    size_t cap, used;
    char **big; /* what did not fit in buf, freed at the next evaluation */
    size_t nbig, capbig;
};

typedef struct eval {
    eg_cesql_lookup_fn lookup;
    void *ctx;
    eg_cesql_scratch_t *sc;
    long steps; /* LIKE's comparisons left */
} eval_t;

typedef eg_cesql_error_t (*fn_impl)(eval_t *e, eg_cesql_value_t *a, size_t n,
                                    eg_cesql_value_t *out);

/* A built-in function: its arguments are cast to arg (ANY: as they are);
 * past the fixed ones, to rest. */
#define ANY (-1)
typedef struct fn {
    const char *name;
    int min, max; /* max -1: variadic */
    eg_cesql_type_t ret;
    int arg[3], rest;
    fn_impl impl;
} fn_t;

/* The built-in function called name (len bytes, any case); NULL if none. */
const fn_t *eg__cesql_fn(const char *name, size_t len);
/* A 32-bit base-10 integer with an optional sign; -1 if s is not one. */
int eg__cesql_parse_int(const char *s, size_t len, int32_t *out);

static inline eg_cesql_value_t v_bool(int b)
{
    return (eg_cesql_value_t){.type = EG_CESQL_BOOL, .i = b != 0};
}

static inline eg_cesql_value_t v_int(int32_t i)
{
    return (eg_cesql_value_t){.type = EG_CESQL_INT, .i = i};
}

static inline eg_cesql_value_t v_str(const char *s, size_t len)
{
    return (eg_cesql_value_t){.type = EG_CESQL_STRING, .s = s, .len = len};
}

#endif
