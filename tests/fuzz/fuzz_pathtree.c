/*
 * fuzz_pathtree.c: the path tree that decides subscription conflicts and
 * routes every event (eg_pathtree_*).
 *
 * Input: one operation per line, "+PATH" adds, "-PATH" removes, "?PATH"
 * checks, anything else is matched as a request path. Values are the line
 * numbers. Invariants: a path that was added matches itself while it is in
 * the tree (when it has no parameters or wildcards), and check agrees with
 * add.
 */
#include "fuzz_input.h"

#include "eg_pathtree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input_t in;
    if (fuzz_input_split(&in, data, size))
        return 0;
    eg_pathtree_t *t = eg_pathtree_new();
    char err[256];
    eg_path_param_t params[16];
    for (size_t i = 0; t && i < in.nlines; i++) {
        const char *line = in.lines[i];
        void *value = (void *)(uintptr_t)(i + 1);
        size_t nv = 0, np = 0;
        switch (line[0]) {
        case '+': {
            int ok = eg_pathtree_check(t, line + 1, err, sizeof err) == 0;
            int added = eg_pathtree_add(t, line + 1, value, err, sizeof err) == 0;
            if (ok != added)
                abort(); /* check must predict add */
            if (added && !strchr(line + 1, ':') && !strchr(line + 1, '*') &&
                !eg_pathtree_match(t, line + 1, &nv, params, 16, &np))
                abort(); /* a static route matches itself */
            break;
        }
        case '-':
            eg_pathtree_remove(t, line + 1, value);
            break;
        case '?':
            eg_pathtree_check(t, line + 1, err, sizeof err);
            eg_pathtree_validate(line + 1, err, sizeof err);
            break;
        default:
            eg_pathtree_match(t, line, &nv, params, 16, &np);
            if (np > 16)
                abort();
        }
    }
    eg_pathtree_free(t);
    fuzz_input_free(&in);
    return 0;
}
