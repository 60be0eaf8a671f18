/*
 * eg_pathtree.c: the subscription path tree.
 *
 * Used twice: the Config API asks eg_pathtree_check whether a new
 * subscription's path conflicts with the ones already there, and the router
 * calls eg_pathtree_match for every event, so matching is built to be cheap.
 *
 * Structure. One node per path segment. A node owns
 *   - its name (static text, or the name of a parameter / wildcard, copied),
 *   - its static children in an array sorted by (bytes, length) and found by
 *     binary search,
 *   - at most one parameter child (":name") and one wildcard child ("*name"),
 *   - a growable array of void* values (several subscriptions on one path).
 * The root node stands for "/". A trailing slash is dropped while splitting,
 * so "/a/" and "/a" land on the same node, for routes and for requests alike.
 *
 * Matching walks the request path segment by segment: at each node it tries
 * the static child (binary search), then the parameter child, then the
 * wildcard child (which takes the rest of the path). If a branch dead-ends
 * (no child fits, or the path ends on a node without values) it backtracks to
 * the previous segment's next choice. The walk is an explicit loop over two
 * stack arrays of EG_PATHTREE_MAX_SEGMENTS + 1 entries: no recursion, no
 * heap. Each tree node is reached by exactly one sequence of choices, so one
 * match visits every node at most once: O(depth * log(fan-out)) when siblings
 * are of one kind (always, with the conflict rules below), never worse than
 * O(tree size) even when mixed. Params point into the tree and into the
 * caller's path string.
 *
 * Bounds. Routes and request paths longer than EG_PATHTREE_MAX_LEN bytes or
 * deeper than EG_PATHTREE_MAX_SEGMENTS are rejected (never matched), so the
 * only recursion (freeing a subtree) is at most 65 frames deep.
 *
 * Ownership and threads. The tree owns nodes and name copies; values belong
 * to the caller and are never freed here. Nothing is locked: concurrent
 * match/check readers are safe, add/remove/free need exclusive access (the
 * caller's lock, or build a new tree and swap it).
 *
 * Research notes: behaviour of serverless/event-gateway v0.9,
 * internal/pathtree/tree.go (Go, map of children keyed by raw segment).
 * Conflicts are decided segment by segment along the existing tree; once the
 * new route leaves the tree nothing below can conflict. At one place:
 *   - siblings are either any number of static segments, or one parameter,
 *     or one wildcard; kinds never mix, hence the Go resolver never needed
 *     backtracking (this one has it, for the test hook and for safety);
 *   - a wildcard on either side (new segment or existing child) that is not
 *     the very same wildcard:
 *       wildcard with different name ("<existing name>") already defined: for route: <route>
 *     where <existing name> is "" when the existing children are static;
 *   - a parameter under another name, or a static segment where a parameter
 *     stands:
 *       parameter with different name ("<existing name>") already defined: for route: <route>
 *   - a parameter where static segments stand:
 *       static route already defined for route: <route>
 *   - a wildcard followed by more segments:
 *       wildcard must be the last parameter
 *     (reported here by validation, before any tree lookup).
 * Differences on purpose: Go refused the same route twice ("route %s
 * conflicts with existing route"); here a node holds many values, so the
 * same route is never a conflict. Go's delete left empty intermediate nodes
 * behind (which kept conflicting); here they are pruned. Go let a wildcard
 * match an empty rest (request "/a/", route "/a/" + "*w"); here it needs one segment.
 * Validation messages are ours (Go did no syntax checks).
 */
#include "eg_pathtree.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"

enum { EG_PT_ROOT, EG_PT_STATIC, EG_PT_PARAM, EG_PT_WILD };

typedef struct eg_pt_node eg_pt_node_t;
struct eg_pt_node {
    char *name; /* static text or parameter name, NUL-terminated copy; NULL for the root */
    size_t name_len;
    int kind;
    eg_pt_node_t **statics; /* sorted by eg_pt_cmp */
    size_t nstatics, cap_statics;
    eg_pt_node_t *param;
    eg_pt_node_t *wild;
    void **values;
    size_t nvalues, cap_values;
};

struct eg_pathtree {
    eg_pt_node_t root;
};

/* A segment of a route, pointing into the route string. For parameters and
 * wildcards p/len is the name without its ':' or '*'. */
typedef struct {
    const char *p;
    size_t len;
    int kind;
} eg_pt_seg_t;

/* ---- helpers ----------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void eg_pt_err(char *err, size_t errlen,
                                                            const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int eg_pt_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Binary search among n's static children: index of the match (*found = 1)
 * or of the insertion point (*found = 0). */
static size_t eg_pt_static_pos(const eg_pt_node_t *n, const char *s, size_t len, int *found)
{
    size_t lo = 0, hi = n->nstatics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const eg_pt_node_t *c = n->statics[mid];
        int r = eg_pt_cmp(c->name, c->name_len, s, len);
        if (r == 0) {
            *found = 1;
            return mid;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static eg_pt_node_t *eg_pt_static_find(const eg_pt_node_t *n, const char *s, size_t len)
{
    int found;
    size_t i = eg_pt_static_pos(n, s, len, &found);
    return found ? n->statics[i] : NULL;
}

static int eg_pt_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Validates path and splits it into segs (room for EG_PATHTREE_MAX_SEGMENTS).
 * 0 ok, -1 with a message. */
static int eg_pt_split_route(const char *path, eg_pt_seg_t *segs, size_t *nsegs, char *err,
                             size_t errlen)
{
    *nsegs = 0;
    if (path == NULL) {
        eg_pt_err(err, errlen, "path is missing");
        return -1;
    }
    if (path[0] != '/') {
        eg_pt_err(err, errlen, "path must start with '/': %s", path);
        return -1;
    }
    size_t len = strnlen(path, EG_PATHTREE_MAX_LEN + 1);
    if (len > EG_PATHTREE_MAX_LEN) {
        eg_pt_err(err, errlen, "path is longer than %d bytes", EG_PATHTREE_MAX_LEN);
        return -1;
    }
    size_t n = 0, i = 1;
    while (i < len) {
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        size_t seglen = i - start;
        if (seglen == 0) {
            eg_pt_err(err, errlen, "path has an empty segment: %s", path);
            return -1;
        }
        if (n > 0 && segs[n - 1].kind == EG_PT_WILD) {
            eg_pt_err(err, errlen, "wildcard must be the last parameter");
            return -1;
        }
        if (n == EG_PATHTREE_MAX_SEGMENTS) {
            eg_pt_err(err, errlen, "path has more than %d segments", EG_PATHTREE_MAX_SEGMENTS);
            return -1;
        }
        eg_pt_seg_t *s = &segs[n];
        s->p = path + start;
        s->len = seglen;
        s->kind = EG_PT_STATIC;
        if (path[start] == ':' || path[start] == '*') {
            s->kind = path[start] == ':' ? EG_PT_PARAM : EG_PT_WILD;
            s->p++;
            s->len--;
            int ok = s->len > 0;
            for (size_t k = 0; ok && k < s->len; k++)
                ok = eg_pt_name_char((unsigned char)s->p[k]);
            if (!ok) {
                eg_pt_err(err, errlen, "%s name must match [A-Za-z0-9_]+ for route: %s",
                          s->kind == EG_PT_PARAM ? "parameter" : "wildcard", path);
                return -1;
            }
            for (size_t k = 0; k < n; k++) {
                if (segs[k].kind != EG_PT_STATIC &&
                    eg_pt_cmp(segs[k].p, segs[k].len, s->p, s->len) == 0) {
                    eg_pt_err(err, errlen, "parameter name (\"%.*s\") used twice for route: %s",
                              (int)s->len, s->p, path);
                    return -1;
                }
            }
        }
        n++;
        if (i < len)
            i++; /* the '/' after the segment; a trailing one ends the loop */
    }
    *nsegs = n;
    return 0;
}

/* Follows the existing nodes that are exactly segs[0..]. Fills stack[0..k]
 * (stack[0] = root) and returns k, the number of segments found. With
 * check, reports in err and returns -1 when segs[k] conflicts with the
 * children of stack[k]. */
static int eg_pt_walk(const eg_pt_node_t *root, const eg_pt_seg_t *segs, size_t n, const char *path,
                      int check, const eg_pt_node_t **stack, size_t *depth, char *err,
                      size_t errlen)
{
    const eg_pt_node_t *cur = root;
    size_t k;
    stack[0] = root;
    for (k = 0; k < n; k++) {
        const eg_pt_seg_t *s = &segs[k];
        const eg_pt_node_t *next = NULL;
        if (s->kind == EG_PT_STATIC)
            next = eg_pt_static_find(cur, s->p, s->len);
        else if (s->kind == EG_PT_PARAM && cur->param != NULL &&
                 eg_pt_cmp(cur->param->name, cur->param->name_len, s->p, s->len) == 0)
            next = cur->param;
        else if (s->kind == EG_PT_WILD && cur->wild != NULL &&
                 eg_pt_cmp(cur->wild->name, cur->wild->name_len, s->p, s->len) == 0)
            next = cur->wild;
        if (next == NULL) {
            /* Without check (test hook, remove) kinds may mix, but a node
             * still holds one parameter and one wildcard child. */
            if (!check && !((s->kind == EG_PT_PARAM && cur->param != NULL) ||
                            (s->kind == EG_PT_WILD && cur->wild != NULL)))
                break;
            /* Same order of tests as event-gateway 0.9. */
            if (cur->wild != NULL ||
                (s->kind == EG_PT_WILD && (cur->param != NULL || cur->nstatics > 0))) {
                const char *other = cur->wild    ? cur->wild->name
                                    : cur->param ? cur->param->name
                                                 : "";
                eg_pt_err(err, errlen,
                          "wildcard with different name (\"%s\") already defined: for route: %s",
                          other, path);
                return -1;
            }
            if (cur->param != NULL) {
                eg_pt_err(err, errlen,
                          "parameter with different name (\"%s\") already defined: for route: %s",
                          cur->param->name, path);
                return -1;
            }
            if (cur->nstatics > 0 && s->kind != EG_PT_STATIC) {
                eg_pt_err(err, errlen, "static route already defined for route: %s", path);
                return -1;
            }
            break; /* the rest of the route is new: nothing below can conflict */
        }
        cur = next;
        stack[k + 1] = cur;
    }
    *depth = k;
    return 0;
}

static void eg_pt_node_free(eg_pt_node_t *n, int free_self)
{
    /* Depth is bounded by EG_PATHTREE_MAX_SEGMENTS: routes are validated. */
    for (size_t i = 0; i < n->nstatics; i++)
        eg_pt_node_free(n->statics[i], 1);
    if (n->param)
        eg_pt_node_free(n->param, 1);
    if (n->wild)
        eg_pt_node_free(n->wild, 1);
    free(n->statics);
    free(n->values);
    free(n->name);
    if (free_self)
        free(n);
}

static eg_pt_node_t *eg_pt_node_new(const eg_pt_seg_t *s)
{
    eg_pt_node_t *n = eg_xcalloc(1, sizeof(*n));
    n->name = eg_xstrndup(s->p, s->len);
    n->name_len = s->len;
    n->kind = s->kind;
    return n;
}

static void eg_pt_add_value(eg_pt_node_t *n, void *value)
{
    if (n->nvalues == n->cap_values) {
        n->cap_values = n->cap_values ? n->cap_values * 2 : 2;
        n->values = eg_xrealloc(n->values, n->cap_values * sizeof(*n->values));
    }
    n->values[n->nvalues++] = value;
}

/* Links child c (fresh) under p. */
static void eg_pt_link(eg_pt_node_t *p, eg_pt_node_t *c)
{
    if (c->kind == EG_PT_PARAM) {
        p->param = c;
    } else if (c->kind == EG_PT_WILD) {
        p->wild = c;
    } else {
        if (p->nstatics == p->cap_statics) {
            p->cap_statics = p->cap_statics ? p->cap_statics * 2 : 2;
            p->statics = eg_xrealloc(p->statics, p->cap_statics * sizeof(*p->statics));
        }
        int found;
        size_t i = eg_pt_static_pos(p, c->name, c->name_len, &found);
        memmove(&p->statics[i + 1], &p->statics[i], (p->nstatics - i) * sizeof(p->statics[0]));
        p->statics[i] = c;
        p->nstatics++;
    }
}

static void eg_pt_unlink(eg_pt_node_t *p, const eg_pt_node_t *c)
{
    if (p->param == c) {
        p->param = NULL;
    } else if (p->wild == c) {
        p->wild = NULL;
    } else {
        int found;
        size_t i = eg_pt_static_pos(p, c->name, c->name_len, &found);
        if (!found)
            return;
        memmove(&p->statics[i], &p->statics[i + 1], (p->nstatics - i - 1) * sizeof(p->statics[0]));
        if (--p->nstatics == 0) {
            free(p->statics);
            p->statics = NULL;
            p->cap_statics = 0;
        }
    }
}

static int eg_pt_insert(eg_pathtree_t *t, const char *path, void *value, int check, char *err,
                        size_t errlen)
{
    eg_pt_seg_t segs[EG_PATHTREE_MAX_SEGMENTS];
    const eg_pt_node_t *stack[EG_PATHTREE_MAX_SEGMENTS + 1];
    size_t n, depth;

    if (t == NULL) {
        eg_pt_err(err, errlen, "no path tree");
        return -1;
    }
    if (eg_pt_split_route(path, segs, &n, err, errlen) != 0)
        return -1;
    if (eg_pt_walk(&t->root, segs, n, path, check, stack, &depth, err, errlen) != 0)
        return -1;

    /* The stack holds const pointers because walk serves check too; the tree
     * is ours to modify here. */
    eg_pt_node_t *node = (eg_pt_node_t *)(uintptr_t)stack[depth];
    /* The missing chain segs[depth..n-1]. */
    for (size_t k = depth; k < n; k++) {
        eg_pt_node_t *c = eg_pt_node_new(&segs[k]);
        eg_pt_link(node, c);
        node = c;
    }
    eg_pt_add_value(node, value);
    return 0;
}

/* ---- public API -------------------------------------------------------- */

eg_pathtree_t *eg_pathtree_new(void)
{
    eg_pathtree_t *t = eg_xcalloc(1, sizeof(*t));
    t->root.kind = EG_PT_ROOT;
    return t;
}

void eg_pathtree_free(eg_pathtree_t *t)
{
    if (t == NULL)
        return;
    eg_pt_node_free(&t->root, 0);
    free(t);
}

int eg_pathtree_validate(const char *path, char *err, size_t errlen)
{
    eg_pt_seg_t segs[EG_PATHTREE_MAX_SEGMENTS];
    size_t n;
    return eg_pt_split_route(path, segs, &n, err, errlen);
}

int eg_pathtree_check(const eg_pathtree_t *t, const char *path, char *err, size_t errlen)
{
    eg_pt_seg_t segs[EG_PATHTREE_MAX_SEGMENTS];
    const eg_pt_node_t *stack[EG_PATHTREE_MAX_SEGMENTS + 1];
    size_t n, depth;

    if (t == NULL) {
        eg_pt_err(err, errlen, "no path tree");
        return -1;
    }
    if (eg_pt_split_route(path, segs, &n, err, errlen) != 0)
        return -1;
    return eg_pt_walk(&t->root, segs, n, path, 1, stack, &depth, err, errlen);
}

int eg_pathtree_add(eg_pathtree_t *t, const char *path, void *value, char *err, size_t errlen)
{
    return eg_pt_insert(t, path, value, 1, err, errlen);
}

int eg_pathtree__add_unchecked(eg_pathtree_t *t, const char *path, void *value)
{
    return eg_pt_insert(t, path, value, 0, NULL, 0);
}

int eg_pathtree_remove(eg_pathtree_t *t, const char *path, void *value)
{
    eg_pt_seg_t segs[EG_PATHTREE_MAX_SEGMENTS];
    const eg_pt_node_t *stack[EG_PATHTREE_MAX_SEGMENTS + 1];
    size_t n, depth;

    if (t == NULL || eg_pt_split_route(path, segs, &n, NULL, 0) != 0)
        return -1;
    if (eg_pt_walk(&t->root, segs, n, path, 0, stack, &depth, NULL, 0) != 0 || depth != n)
        return -1;

    eg_pt_node_t *leaf = (eg_pt_node_t *)(uintptr_t)stack[n];
    size_t i;
    for (i = 0; i < leaf->nvalues && leaf->values[i] != value; i++)
        ;
    if (i == leaf->nvalues)
        return -1;
    /* Keep insertion order: delivery order of a path's values stays stable. */
    memmove(&leaf->values[i], &leaf->values[i + 1], (leaf->nvalues - i - 1) * sizeof(void *));
    if (--leaf->nvalues == 0) {
        free(leaf->values);
        leaf->values = NULL;
        leaf->cap_values = 0;
    }

    /* Prune upwards: nodes with neither values nor children go. */
    for (size_t k = n; k > 0; k--) {
        eg_pt_node_t *c = (eg_pt_node_t *)(uintptr_t)stack[k];
        if (c->nvalues > 0 || c->nstatics > 0 || c->param != NULL || c->wild != NULL)
            break;
        eg_pt_unlink((eg_pt_node_t *)(uintptr_t)stack[k - 1], c);
        eg_pt_node_free(c, 1);
    }
    return 0;
}

void *const *eg_pathtree_match(const eg_pathtree_t *t, const char *path, size_t *nvalues,
                               eg_path_param_t *params, size_t max_params, size_t *nparams)
{
    /* Segment i of the request is path[off[i] .. off[i] + len[i]). */
    uint16_t off[EG_PATHTREE_MAX_SEGMENTS], len[EG_PATHTREE_MAX_SEGMENTS];
    const eg_pt_node_t *stack[EG_PATHTREE_MAX_SEGMENTS + 1];
    /* stage[l]: next choice to try at level l (0 static, 1 param, 2 wildcard,
     * 3 exhausted). After a descent it is 1 if the static child was taken and
     * 2 if the parameter child was. */
    unsigned char stage[EG_PATHTREE_MAX_SEGMENTS + 1];
    size_t nseg = 0, plen, lvl = 0, wild_lvl = SIZE_MAX;
    const eg_pt_node_t *found = NULL;

    if (nvalues)
        *nvalues = 0;
    if (nparams)
        *nparams = 0;
    if (t == NULL || path == NULL || path[0] != '/')
        return NULL;
    plen = strnlen(path, EG_PATHTREE_MAX_LEN + 1);
    if (plen > EG_PATHTREE_MAX_LEN)
        return NULL;
    for (size_t i = 1; i < plen;) {
        size_t start = i;
        while (i < plen && path[i] != '/')
            i++;
        if (i == start || nseg == EG_PATHTREE_MAX_SEGMENTS)
            return NULL; /* "//" or too deep */
        off[nseg] = (uint16_t)start;
        len[nseg] = (uint16_t)(i - start);
        nseg++;
        if (i < plen)
            i++;
    }

    stack[0] = &t->root;
    stage[0] = 0;
    for (;;) {
        const eg_pt_node_t *nd = stack[lvl], *c = NULL;
        if (lvl == nseg) {
            if (nd->nvalues > 0) {
                found = nd;
                break;
            }
            stage[lvl] = 3; /* dead end: back up */
        }
        switch (stage[lvl]++) {
        case 0:
            c = eg_pt_static_find(nd, path + off[lvl], len[lvl]);
            break;
        case 1:
            c = nd->param;
            break;
        case 2:
            if (nd->wild != NULL && nd->wild->nvalues > 0) {
                found = nd->wild;
                wild_lvl = lvl;
            }
            break;
        default:
            if (lvl == 0)
                return NULL;
            lvl--;
            continue;
        }
        if (found != NULL)
            break;
        if (c != NULL) {
            stack[++lvl] = c;
            stage[lvl] = 0;
        }
    }

    size_t np = 0, end = wild_lvl != SIZE_MAX ? wild_lvl : lvl;
    for (size_t l = 0; l < end && np < max_params; l++) {
        if (stage[l] != 2)
            continue;
        params[np].name = stack[l + 1]->name;
        params[np].name_len = stack[l + 1]->name_len;
        params[np].value = path + off[l];
        params[np].value_len = len[l];
        np++;
    }
    if (wild_lvl != SIZE_MAX && np < max_params) {
        size_t stop = path[plen - 1] == '/' ? plen - 1 : plen;
        params[np].name = found->name;
        params[np].name_len = found->name_len;
        params[np].value = path + off[wild_lvl];
        params[np].value_len = stop - off[wild_lvl];
        np++;
    }
    if (nparams)
        *nparams = np;
    if (nvalues)
        *nvalues = found->nvalues;
    return (void *const *)found->values;
}
