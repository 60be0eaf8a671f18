/*
 * eg_filter.c: a tree of filter nodes compiled from the JSON of a
 * subscription's filters (see eg_filter.h). The attribute lists of exact,
 * prefix and suffix are flat arrays of name/value pairs; matching walks the
 * tree and compares bytes.
 */
#include "eg_filter.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"

enum kind { F_ALL, F_ANY, F_NOT, F_EXACT, F_PREFIX, F_SUFFIX, F_SQL };

typedef struct pair {
    char *name, *value;
    size_t nlen, vlen;
} pair_t;

typedef struct fnode {
    enum kind kind;
    struct fnode **kids; /* all, any, not */
    pair_t *pairs;       /* exact, prefix, suffix */
    size_t n;
    eg_cesql_t *sql;
} fnode_t;

struct eg_filter {
    fnode_t *root; /* an all of the list; NULL: match everything */
};

static void fnode_free(fnode_t *f)
{
    if (!f)
        return;
    if (f->kind <= F_NOT)
        for (size_t i = 0; i < f->n; i++)
            fnode_free(f->kids[i]);
    else
        for (size_t i = 0; i < f->n; i++) {
            free(f->pairs[i].name);
            free(f->pairs[i].value);
        }
    free(f->kids);
    free(f->pairs);
    eg_cesql_free(f->sql);
    free(f);
}

void eg_filter_free(eg_filter_t *f)
{
    if (!f)
        return;
    fnode_free(f->root);
    free(f);
}

int eg_filter_attr_valid(const char *name)
{
    if (!strncmp(name, "data.", 5)) {
        /* data.a.b: non-empty members */
        const char *s = name + 5;
        if (!*s || strlen(name) > 256)
            return 0;
        for (const char *seg = s; *seg;) {
            const char *dot = strchr(seg, '.');
            size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
            if (!len)
                return 0;
            if (!dot)
                break;
            seg = dot + 1;
            if (!*seg)
                return 0;
        }
        return 1;
    }
    size_t n = 0;
    for (const char *c = name; *c; c++, n++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
            return 0;
    return n > 0 && n <= 64;
}

typedef struct compile {
    eg_error_t *err;
    int count;
    size_t sql_bytes;
} compile_t;

static const char *const dialects[] = {"all", "any", "not", "exact", "prefix", "suffix", "sql"};

static fnode_t *compile_one(compile_t *c, const cJSON *j, const char *where);

static fnode_t *compile_list(compile_t *c, const cJSON *list, enum kind kind, const char *where)
{
    fnode_t *f = eg_xcalloc(1, sizeof *f);
    f->kind = kind;
    f->n = (size_t)cJSON_GetArraySize(list);
    f->kids = eg_xcalloc(f->n ? f->n : 1, sizeof *f->kids);
    size_t i = 0;
    for (const cJSON *k = list->child; k; k = k->next, i++) {
        char at[256];
        snprintf(at, sizeof at, "%s[%zu]", where, i);
        if (!(f->kids[i] = compile_one(c, k, at))) {
            f->n = i;
            fnode_free(f);
            return NULL;
        }
    }
    return f;
}

static fnode_t *compile_pairs(compile_t *c, const cJSON *obj, enum kind kind, const char *where)
{
    fnode_t *f = eg_xcalloc(1, sizeof *f);
    f->kind = kind;
    f->pairs = eg_xcalloc((size_t)cJSON_GetArraySize(obj), sizeof *f->pairs);
    for (const cJSON *a = obj->child; a; a = a->next) {
        if (!eg_filter_attr_valid(a->string)) {
            eg_error_set(c->err, 400,
                         "%s: \"%.64s\" is not an attribute name (lower-case letters and digits, "
                         "or data.a.b)",
                         where, a->string);
            fnode_free(f);
            return NULL;
        }
        if (!cJSON_IsString(a)) {
            eg_error_set(c->err, 400, "%s.%s: the value must be a string", where, a->string);
            fnode_free(f);
            return NULL;
        }
        pair_t *p = &f->pairs[f->n++];
        p->name = eg_xstrdup(a->string);
        p->nlen = strlen(p->name);
        p->value = eg_xstrdup(a->valuestring);
        p->vlen = strlen(p->value);
    }
    return f;
}

static fnode_t *compile_one(compile_t *c, const cJSON *j, const char *where)
{
    if (++c->count > EG_FILTER_MAX) {
        eg_error_set(c->err, 400, "filters: more than %d filters", EG_FILTER_MAX);
        return NULL;
    }
    if (!cJSON_IsObject(j) || cJSON_GetArraySize(j) != 1) {
        eg_error_set(c->err, 400,
                     "%s: a filter is an object of one dialect (exact, prefix, suffix, all, any, "
                     "not or sql)",
                     where);
        return NULL;
    }
    const cJSON *v = j->child;
    enum kind kind = F_ALL;
    size_t d = 0;
    for (; d < sizeof dialects / sizeof dialects[0]; d++)
        if (!strcmp(v->string, dialects[d]))
            break;
    if (d == sizeof dialects / sizeof dialects[0]) {
        eg_error_set(c->err, 400,
                     "%s: unknown dialect \"%.64s\" (exact, prefix, suffix, all, any, not or sql)",
                     where, v->string);
        return NULL;
    }
    kind = (enum kind)d;
    char at[256];
    snprintf(at, sizeof at, "%s.%s", where, v->string);
    switch (kind) {
    case F_ALL:
    case F_ANY:
        if (!cJSON_IsArray(v) || !v->child) {
            eg_error_set(c->err, 400, "%s: must be a list of one filter or more", at);
            return NULL;
        }
        return compile_list(c, v, kind, at);
    case F_NOT: {
        if (!cJSON_IsObject(v)) {
            eg_error_set(c->err, 400, "%s: must be a filter", at);
            return NULL;
        }
        fnode_t *k = compile_one(c, v, at);
        if (!k)
            return NULL;
        fnode_t *f = eg_xcalloc(1, sizeof *f);
        f->kind = F_NOT;
        f->kids = eg_xcalloc(1, sizeof *f->kids);
        f->kids[0] = k;
        f->n = 1;
        return f;
    }
    case F_SQL: {
        if (!cJSON_IsString(v)) {
            eg_error_set(c->err, 400, "%s: must be a string of CloudEvents SQL", at);
            return NULL;
        }
        size_t len = strlen(v->valuestring);
        if ((c->sql_bytes += len) > EG_FILTER_MAX_SQL) {
            eg_error_set(c->err, 400, "filters: more than %d bytes of SQL", EG_FILTER_MAX_SQL);
            return NULL;
        }
        char why[256];
        eg_cesql_t *q = eg_cesql_compile(v->valuestring, len, why, sizeof why);
        if (!q) {
            eg_error_set(c->err, 400, "%s: %s", at, why);
            return NULL;
        }
        fnode_t *f = eg_xcalloc(1, sizeof *f);
        f->kind = F_SQL;
        f->sql = q;
        return f;
    }
    default:
        if (!cJSON_IsObject(v) || !v->child) {
            eg_error_set(c->err, 400, "%s: must be an object of one attribute or more", at);
            return NULL;
        }
        return compile_pairs(c, v, kind, at);
    }
}

eg_filter_t *eg_filter_compile(const cJSON *filters, eg_error_t *err)
{
    if (!cJSON_IsArray(filters)) {
        eg_error_set(err, 400, "filters: must be a list of filters");
        return NULL;
    }
    compile_t c = {.err = err};
    eg_filter_t *f = eg_xcalloc(1, sizeof *f);
    if (filters->child && !(f->root = compile_list(&c, filters, F_ALL, "filters"))) {
        free(f);
        return NULL;
    }
    return f;
}

/* The attribute's text for the simple dialects: a string as it is, an
 * integer or boolean (a data member) as its JSON text. */
static int attr_text(eg_cesql_lookup_fn lookup, void *ctx, const pair_t *p, char *buf,
                     size_t buflen, const char **s, size_t *len)
{
    eg_cesql_value_t v;
    if (lookup(ctx, p->name, p->nlen, &v))
        return -1;
    if (v.type == EG_CESQL_STRING) {
        *s = v.s;
        *len = v.len;
    } else if (v.type == EG_CESQL_INT) {
        *s = buf;
        *len = (size_t)snprintf(buf, buflen, "%" PRId32, v.i);
    } else {
        *s = v.i ? "true" : "false";
        *len = strlen(*s);
    }
    return 0;
}

static int fnode_match(const fnode_t *f, eg_cesql_lookup_fn lookup, void *ctx,
                       eg_cesql_scratch_t *sc)
{
    switch (f->kind) {
    case F_ALL:
        for (size_t i = 0; i < f->n; i++)
            if (!fnode_match(f->kids[i], lookup, ctx, sc))
                return 0;
        return 1;
    case F_ANY:
        for (size_t i = 0; i < f->n; i++)
            if (fnode_match(f->kids[i], lookup, ctx, sc))
                return 1;
        return 0;
    case F_NOT:
        return !fnode_match(f->kids[0], lookup, ctx, sc);
    case F_SQL:
        return eg_cesql_match(f->sql, lookup, ctx, sc);
    default:
        for (size_t i = 0; i < f->n; i++) {
            const pair_t *p = &f->pairs[i];
            char buf[16];
            const char *s;
            size_t len;
            if (attr_text(lookup, ctx, p, buf, sizeof buf, &s, &len) || len < p->vlen)
                return 0;
            const char *at = f->kind == F_SUFFIX ? s + len - p->vlen : s;
            if ((f->kind == F_EXACT && len != p->vlen) ||
                (p->vlen && memcmp(at, p->value, p->vlen)))
                return 0;
        }
        return 1;
    }
}

int eg_filter_match(const eg_filter_t *f, eg_cesql_lookup_fn lookup, void *ctx,
                    eg_cesql_scratch_t *sc)
{
    return !f || !f->root || fnode_match(f->root, lookup, ctx, sc);
}
