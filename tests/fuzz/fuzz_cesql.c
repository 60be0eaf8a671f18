/*
 * fuzz_cesql.c: CESQL filters, which anyone who may write a subscription
 * sends (eg_cesql_compile), evaluated over an event of fixed attributes
 * (eg_cesql_eval).
 *
 * Input: the expression, raw bytes. Invariants: compiling either gives an
 * expression or an error message that says where; evaluating a compiled
 * one ends, and a string result lies within what the evaluation can point
 * at (its length is bounded by what it was built from).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eg_cesql.h"

static int lookup(void *ctx, const char *name, size_t len, eg_cesql_value_t *out)
{
    static const char *const attrs[] = {"id",      "e-1",        "type",     "order.created",
                                        "subject", "Zo\xc3\xab", "sequence", "42",
                                        "data.a",  "x"};
    (void)ctx;
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i += 2)
        if (strlen(attrs[i]) == len && !memcmp(attrs[i], name, len)) {
            *out = (eg_cesql_value_t){
                .type = EG_CESQL_STRING, .s = attrs[i + 1], .len = strlen(attrs[i + 1])};
            return 0;
        }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static eg_cesql_scratch_t *sc;
    if (!sc)
        sc = eg_cesql_scratch_new();
    if (size > 4096) /* a subscription's SQL is at most 4 KiB */
        return 0;
    char err[256];
    eg_cesql_t *q = eg_cesql_compile((const char *)data, size, err, sizeof err);
    if (!q) {
        if (strncmp(err, "at ", 3))
            abort(); /* every error says where */
        return 0;
    }
    eg_cesql_value_t v;
    eg_cesql_eval(q, lookup, NULL, sc, &v);
    if (v.type == EG_CESQL_STRING && v.len && !v.s)
        abort();
    if (v.type == EG_CESQL_STRING && v.len > (size_t)1 << 24)
        abort(); /* strings grow at most by concatenating what the input names */
    eg_cesql_match(q, lookup, NULL, sc);
    eg_cesql_free(q);
    return 0;
}
