/*
 * eg_pathtree: the tree of subscription paths (segment per node).
 *
 * Rules of the type:
 *  - A path is "/" or "/seg/seg/..." with an optional trailing slash ("/a/" is
 *    the same route as "/a"). A segment ":name" is a parameter, a last segment
 *    "*name" a wildcard that captures the rest of the path; anything else is
 *    static text. Names are [A-Za-z0-9_]+ and unique within a path.
 *  - Routes are bounded: at most EG_PATHTREE_MAX_LEN bytes and
 *    EG_PATHTREE_MAX_SEGMENTS segments. Longer/deeper request paths never match.
 *  - The tree stores opaque void* values; it never frees them. Several values
 *    may share one path.
 *  - Not synchronised: any number of concurrent eg_pathtree_match /
 *    eg_pathtree_check callers are fine, add/remove/free need exclusive access.
 *  - Paths are passed percent-decoded; the tree does no decoding.
 */
#ifndef EG_PATHTREE_H
#define EG_PATHTREE_H

#include <stddef.h>

#define EG_PATHTREE_MAX_LEN 2048    /* bytes, not counting the NUL */
#define EG_PATHTREE_MAX_SEGMENTS 64 /* "/" has 0 segments, "/a/b/" has 2 */

typedef struct eg_pathtree eg_pathtree_t;

/* One captured parameter. name points into the tree (valid until the tree
 * changes), value into the matched request path (valid while the caller keeps
 * that string). Neither is NUL-terminated: use the lengths. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} eg_path_param_t;

/* Returns an empty tree owned by the caller (free with eg_pathtree_free),
 * never NULL. */
eg_pathtree_t *eg_pathtree_new(void);

/* Frees the tree and its nodes. Does not free the stored values. NULL is ok. */
void eg_pathtree_free(eg_pathtree_t *t);

/* Validates a path's syntax: starts with '/', segments non-empty except a
 * trailing slash, ':name' and '*name' need a name of [A-Za-z0-9_]+, '*' only
 * in the last segment, no duplicate parameter names, bounded length/depth.
 * 0 ok; -1 with a message in err (err may be NULL / errlen 0). */
int eg_pathtree_validate(const char *path, char *err, size_t errlen);

/* Would adding path conflict with routes already in t? Validates first.
 * 0 no; -1 yes or invalid (message in err). Does not modify t. */
int eg_pathtree_check(const eg_pathtree_t *t, const char *path, char *err, size_t errlen);

/* Adds value at path. The tree copies what it needs of path; value stays
 * owned by the caller. The same path (and even the same value) may be added
 * several times. 0 ok; -1 invalid or conflict exactly as eg_pathtree_check
 * (message in err; tree unchanged). */
int eg_pathtree_add(eg_pathtree_t *t, const char *path, void *value, char *err, size_t errlen);

/* Removes one occurrence of value at path (the route as it was added, e.g.
 * "/users/:id", not a request path). Nodes left with no values and no children
 * are pruned, so a path conflicting with the removed one can then be added.
 * 0 removed; -1 not found (or invalid path). */
int eg_pathtree_remove(eg_pathtree_t *t, const char *path, void *value);

/* Matches a concrete request path. Precedence per segment: static, then
 * parameter, then wildcard, backtracking when a branch dead-ends. A parameter
 * matches one non-empty segment, a wildcard one or more segments (captured
 * without the leading slash and without a trailing slash). "//" inside a path
 * matches nothing. On a match returns the node's values (count in *nvalues;
 * the array belongs to the tree and is valid until the tree changes) and
 * writes up to max_params params in path order (count written in *nparams;
 * params may be NULL when max_params is 0, nparams may be NULL). Otherwise
 * returns NULL with *nvalues = 0 and *nparams = 0. Never allocates. */
void *const *eg_pathtree_match(const eg_pathtree_t *t, const char *path, size_t *nvalues,
                               eg_path_param_t *params, size_t max_params, size_t *nparams);

/* Test hook, not for production code: adds value at a valid path letting
 * static, parameter and wildcard children share a place (which eg_pathtree_add
 * never builds), so tests can exercise match precedence and backtracking.
 * A second parameter or wildcard name at one place is still refused (-1).
 * Otherwise same returns as eg_pathtree_add. */
int eg_pathtree__add_unchecked(eg_pathtree_t *t, const char *path, void *value);

#endif /* EG_PATHTREE_H */
