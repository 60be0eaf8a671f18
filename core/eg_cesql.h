/*
 * eg_cesql: CloudEvents SQL (CESQL v1) expressions, compiled once (when a
 * subscription's filter is written) and evaluated per event by the router.
 *
 * The language: integer (32-bit), string and boolean values; NOT and unary
 * minus; * / % + -; = != <> < <= > >=; AND OR XOR (one precedence, left to
 * right, AND and OR short-circuit); LIKE and NOT LIKE with % and _ (escaped
 * with a backslash); IN and NOT IN; EXISTS; the built-in functions LENGTH,
 * CONCAT, CONCAT_WS, LOWER, UPPER, TRIM, LEFT, RIGHT, SUBSTRING, ABS, INT,
 * BOOL, STRING, IS_INT and IS_BOOL; CESQL's implicit casts. Keywords and
 * function names are case-insensitive, attribute names are matched in lower
 * case. Beyond CESQL, an identifier data.a.b names a member of a JSON data
 * (the lookup decides what it holds).
 *
 * Errors: a compile error says where (the character, from 1). An evaluation
 * runs in CESQL's fail-fast mode: the first error (a missing attribute, a
 * division by zero, a failed cast, a function's bad argument) ends it; the
 * operation that erred gives the value CESQL defines for it (ABS(-2^31):
 * 2^31-1), every operation above it the zero value of its type, and a filter
 * that errs does not match. Unknown functions and wrong arities are compile
 * errors, not evaluation errors: a filter is checked when it is written.
 *
 * Bounds: nesting depth EG_CESQL_MAX_DEPTH; strings a function builds live
 * in the evaluation's scratch space, freed when it returns; integer results
 * outside 32 bits are math errors; the LIKEs of one evaluation compare at
 * most EG_CESQL_MAX_STEPS characters (about 10 ms: a pattern of many %s
 * over a long data member), past which the LIKE errs.
 */
#ifndef EG_CESQL_H
#define EG_CESQL_H

#include <stddef.h>
#include <stdint.h>

#define EG_CESQL_MAX_DEPTH 64
#define EG_CESQL_MAX_STEPS 10000000L

typedef enum { EG_CESQL_BOOL, EG_CESQL_INT, EG_CESQL_STRING } eg_cesql_type_t;

typedef struct eg_cesql_value {
    eg_cesql_type_t type;
    int32_t i;     /* INT; BOOL: 0 or 1 */
    const char *s; /* STRING: not NUL-terminated */
    size_t len;
} eg_cesql_value_t;

/* The error of an evaluation (fail-fast: at most one). */
typedef enum {
    EG_CESQL_OK = 0,
    EG_CESQL_E_MATH,
    EG_CESQL_E_CAST,
    EG_CESQL_E_MISSING_ATTRIBUTE,
    EG_CESQL_E_FUNCTION,
} eg_cesql_error_t;

/* An attribute of the event: 0 with *out set (a string, or an integer or
 * boolean for a JSON data member), -1 when the event has none. name is in
 * lower case (but for data.…), not NUL-terminated. */
typedef int (*eg_cesql_lookup_fn)(void *ctx, const char *name, size_t len, eg_cesql_value_t *out);

typedef struct eg_cesql eg_cesql_t;

/* Compiles src (len bytes); NULL with "at N: why" in err when it is not a
 * valid expression. */
eg_cesql_t *eg_cesql_compile(const char *src, size_t len, char *err, size_t errlen);
void eg_cesql_free(eg_cesql_t *q);

/* Evaluates q; *out holds the result until the next call with the same
 * scratch (see eg_cesql_scratch_*). Returns the error, EG_CESQL_OK if none. */
typedef struct eg_cesql_scratch eg_cesql_scratch_t;
eg_cesql_scratch_t *eg_cesql_scratch_new(void);
void eg_cesql_scratch_free(eg_cesql_scratch_t *sc);
eg_cesql_error_t eg_cesql_eval(const eg_cesql_t *q, eg_cesql_lookup_fn lookup, void *ctx,
                               eg_cesql_scratch_t *sc, eg_cesql_value_t *out);

/* Is the expression true for the event (a boolean true, and no error)? */
int eg_cesql_match(const eg_cesql_t *q, eg_cesql_lookup_fn lookup, void *ctx,
                   eg_cesql_scratch_t *sc);

const char *eg_cesql_error_name(eg_cesql_error_t e);

#endif
