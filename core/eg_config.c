/*
 * eg_config: the configuration model and the Config API's rules.
 *
 * Storage: one eg_map per kind, keyed "<space>\x1f<id>", holding the
 * resource's API object (cJSON). Subscriptions also live in a routing index:
 * one path tree per (space, method, event type) whose nodes hold eg_sub_t
 * entries. That tree decides path conflicts when a subscription is created
 * and is the one the router and the ingress match events against, so what
 * the Config API accepts is exactly what can be routed.
 *
 * Compatibility with event-gateway 0.9: field names, ids (subscription ids
 * are base64url of "type,eventType[,functionId],PathEscape(path),method";
 * CORS ids are method + PathEscape(path)), defaults and message texts follow
 * it; statuses follow the contract (409 for every conflict, 400 for unknown
 * references and invalid updates). Unlike 0.9, path conflicts are decided
 * for every subscription, not only sync ones: one tree serves both.
 *
 * CORS configurations have their own index: one path tree per (space,
 * method) whose nodes hold cors_ent_t entries pointing at the API objects.
 * 0.9 kept one tree per method for all spaces and only logged a path that
 * did not fit (the configuration was stored but never used); here a create
 * that conflicts, or names an existing route spelled differently ("/a/" for
 * "/a"), is refused with 409 like a subscription.
 *
 * This file is the model and its rules; eg_config_request.c turns a Config
 * API request into a change (eg_change_from_request), eg_config_int.h
 * declares what the two share (the ids of subscriptions and CORS).
 */
#include "eg_config_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_base64.h"
#include "eg_json.h"
#include "eg_map.h"

/* ---- names ---- */

static const char *const kind_names[EG_KIND__COUNT] = {"eventtypes", "functions", "subscriptions",
                                                       "cors", "accesskeys"};
static const char *const kind_list_keys[EG_KIND__COUNT] = {"eventTypes", "functions",
                                                           "subscriptions", "cors", "accessKeys"};
/* How 0.9's messages name each kind. */
const char *const eg__config_kind_titles[EG_KIND__COUNT] = {
    "Event Type", "Function", "Subscription", "CORS configuration", "Access key"};
const char *const eg__config_id_fields[EG_KIND__COUNT] = {"name", "functionId", "subscriptionId",
                                                          "corsId", "accessKeyId"};

const char *eg_kind_name(eg_kind_t k)
{
    return k < EG_KIND__COUNT ? kind_names[k] : "?";
}

const char *eg_kind_list_key(eg_kind_t k)
{
    return k < EG_KIND__COUNT ? kind_list_keys[k] : "?";
}

int eg_kind_parse(const char *s, size_t len, eg_kind_t *k)
{
    for (int i = 0; i < EG_KIND__COUNT; i++)
        if (strlen(kind_names[i]) == len && !memcmp(s, kind_names[i], len)) {
            *k = (eg_kind_t)i;
            return 0;
        }
    return -1;
}

const char *eg_op_name(eg_op_t op)
{
    switch (op) {
    case EG_OP_CREATE:
        return "create";
    case EG_OP_UPDATE:
        return "update";
    case EG_OP_DELETE:
        return "delete";
    }
    return "?";
}

void eg_change_release(eg_change_t *c)
{
    free(c->space);
    free(c->id);
    cJSON_Delete(c->data);
    memset(c, 0, sizeof *c);
}

/* ---- ids ---- */

char *eg__config_path_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = eg_xmalloc(strlen(s) * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-_.~$&+:=@", *p))
            *o++ = (char)*p;
        else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

char *eg__config_subscription_id(const char *type, const char *event, const char *fn,
                                 const char *path, const char *method)
{
    char *esc = eg__config_path_escape(path), *raw;
    if (!strcmp(type, "sync"))
        raw = eg_xasprintf("%s,%s,%s,%s", type, event, esc, method);
    else
        raw = eg_xasprintf("%s,%s,%s,%s,%s", type, event, fn, esc, method);
    char *id = eg_base64_encode(raw, strlen(raw), 1);
    free(raw);
    free(esc);
    return id;
}

/* ---- the model ---- */

struct eg_config {
    eg_map_t *items[EG_KIND__COUNT]; /* "<space>\x1f<id>" -> cJSON* (owned) */
    eg_map_t *subs;                  /* "<space>\x1f<id>" -> eg_sub_t* (owned) */
    eg_map_t *trees;                 /* "<space>\x1f<method>\x1f<event>" -> eg_pathtree_t* */
    eg_map_t *cors;                  /* "<space>\x1f<id>" -> cors_ent_t* (owned) */
    eg_map_t *cors_trees;            /* "<space>\x1f<method>" -> eg_pathtree_t* of cors_ent_t */
    eg_map_t *counts; /* "<kind>\x1f<space>" -> its number of resources (as a pointer, > 0) */
};

/* A CORS configuration in its path tree. obj is the stored API object (the
 * map owns it); path points into obj. An update rebinds the entry to the new
 * object (method and path cannot change), so the tree keeps its pointer. */
typedef struct cors_ent {
    const cJSON *obj;
    const char *path;
} cors_ent_t;

/* The map keys: n parts joined by \x1f into buf (len bytes, cut short like
 * snprintf). Built on every event (an event type's lookup, the routes'
 * trees), hence no snprintf. */
static void key_join(char *buf, size_t len, const char *const *parts, size_t n)
{
    size_t at = 0;
    if (!len)
        return;
    for (size_t i = 0; i < n && at + 1 < len; i++) {
        if (i)
            buf[at++] = '\x1f';
        const char *p = parts[i] ? parts[i] : "";
        size_t l = strlen(p);
        if (l > len - 1 - at)
            l = len - 1 - at;
        memcpy(buf + at, p, l);
        at += l;
    }
    buf[at] = '\0';
}

static void item_key(char *buf, size_t len, const char *space, const char *id)
{
    key_join(buf, len, (const char *const[]){space, id}, 2);
}

static void tree_key(char *buf, size_t len, const char *space, const char *method,
                     const char *event)
{
    key_join(buf, len, (const char *const[]){space, method, event}, 3);
}

#define KEYBUF (EG_MAX_ID + 2 * EG_MAX_NAME + 64)

static void count_key(char *buf, size_t len, eg_kind_t kind, const char *space)
{
    char k[2] = {(char)('a' + kind), '\0'};
    key_join(buf, len, (const char *const[]){k, space}, 2);
}

/* Keeps the number of resources of (kind, space) for eg_config_count, which
 * the Config API asks on every request (quotas, metrics' labels). */
static void count_add(eg_config_t *cfg, eg_kind_t kind, const char *space, int d)
{
    char key[KEYBUF];
    count_key(key, sizeof key, kind, space);
    uintptr_t n = (uintptr_t)eg_map_get(cfg->counts, key);
    if (d < 0 && n <= 1) {
        eg_map_del(cfg->counts, key);
        return;
    }
    eg_map_put(cfg->counts, key, (void *)(n + (uintptr_t)(intptr_t)d), NULL);
}

eg_config_t *eg_config_new(void)
{
    eg_config_t *cfg = eg_xcalloc(1, sizeof *cfg);
    for (int i = 0; i < EG_KIND__COUNT; i++)
        cfg->items[i] = eg_map_new();
    cfg->subs = eg_map_new();
    cfg->trees = eg_map_new();
    cfg->cors = eg_map_new();
    cfg->cors_trees = eg_map_new();
    cfg->counts = eg_map_new();
    return cfg;
}

static void json_free(void *v)
{
    cJSON_Delete(v);
}

static void tree_free(void *v)
{
    eg_pathtree_free(v);
}

static void sub_free(void *p);

void eg_config_free(eg_config_t *cfg)
{
    if (!cfg)
        return;
    for (int i = 0; i < EG_KIND__COUNT; i++)
        eg_map_free_with(cfg->items[i], json_free);
    eg_map_free(cfg->counts);
    eg_map_free_with(cfg->subs, sub_free);
    eg_map_free_with(cfg->trees, tree_free);
    eg_map_free_with(cfg->cors, free);
    eg_map_free_with(cfg->cors_trees, tree_free);
    free(cfg);
}

const cJSON *eg_config_peek(const eg_config_t *cfg, eg_kind_t kind, const char *space,
                            const char *id)
{
    char key[KEYBUF];
    if (kind >= EG_KIND__COUNT || !space || !id)
        return NULL;
    item_key(key, sizeof key, space, id);
    return eg_map_get(cfg->items[kind], key);
}

cJSON *eg_config_get(const eg_config_t *cfg, eg_kind_t kind, const char *space, const char *id)
{
    const cJSON *o = eg_config_peek(cfg, kind, space, id);
    return o ? cJSON_Duplicate(o, 1) : NULL;
}

static const char *str_field(const cJSON *o, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(f) ? f->valuestring : "";
}

static int metadata_matches(const cJSON *o, const char *const *filters, size_t n)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(filters[i], '=');
        size_t klen = eq ? (size_t)(eq - filters[i]) : strlen(filters[i]);
        const char *want = eq ? eq + 1 : "";
        int found = 0;
        for (const cJSON *e = md ? md->child : NULL; e && !found; e = e->next)
            found = strlen(e->string) == klen && !memcmp(e->string, filters[i], klen) &&
                    cJSON_IsString(e) && !strcmp(e->valuestring, want);
        if (!found)
            return 0;
    }
    return 1;
}

typedef struct {
    const char *id;
    const cJSON *obj;
} list_ent_t;

static int list_cmp(const void *a, const void *b)
{
    return strcmp(((const list_ent_t *)a)->id, ((const list_ent_t *)b)->id);
}

/* About the size of o printed as compact JSON, without printing it. */
static size_t json_size(const cJSON *o)
{
    size_t n = o->string ? strlen(o->string) + 4 : 0;
    if (cJSON_IsString(o))
        return n + strlen(o->valuestring) + 2;
    if (cJSON_IsObject(o) || cJSON_IsArray(o)) {
        n += 2;
        for (const cJSON *c = o->child; c; c = c->next)
            n += json_size(c) + 1;
        return n;
    }
    return n + 24; /* numbers, booleans, null */
}

cJSON *eg_config_list_page(const eg_config_t *cfg, eg_kind_t kind, const char *space,
                           const char *const *filters, size_t nfilters, const char *after,
                           size_t limit, size_t max_bytes, char **next)
{
    cJSON *arr = cJSON_CreateArray();
    if (next)
        *next = NULL;
    if (kind >= EG_KIND__COUNT)
        return arr;
    size_t n = eg_map_size(cfg->items[kind]), cnt = 0;
    list_ent_t *ents = n ? eg_xmalloc(n * sizeof *ents) : NULL;
    eg_map_iter_t it;
    const char *k;
    void *v;
    eg_map_iter_init(&it, cfg->items[kind]);
    while (eg_map_iter_next(&it, &k, &v)) {
        const cJSON *o = v;
        const char *id = str_field(o, eg__config_id_fields[kind]);
        if (strcmp(str_field(o, "space"), space) || (after && strcmp(id, after) <= 0) ||
            !metadata_matches(o, filters, nfilters))
            continue;
        ents[cnt].id = id;
        ents[cnt++].obj = o;
    }
    if (cnt)
        qsort(ents, cnt, sizeof *ents, list_cmp);
    size_t bytes = 0, i = 0;
    for (; i < cnt && (!limit || i < limit) && (!max_bytes || !i || bytes < max_bytes); i++) {
        bytes += json_size(ents[i].obj);
        cJSON_AddItemToArray(arr, cJSON_Duplicate(ents[i].obj, 1));
    }
    if (next && i < cnt && i > 0)
        *next = eg_xstrdup(ents[i - 1].id);
    free(ents);
    return arr;
}

cJSON *eg_config_list(const eg_config_t *cfg, eg_kind_t kind, const char *space,
                      const char *const *filters, size_t nfilters)
{
    return eg_config_list_page(cfg, kind, space, filters, nfilters, NULL, 0, 0, NULL);
}

size_t eg_config_count(const eg_config_t *cfg, eg_kind_t kind, const char *space)
{
    if (kind >= EG_KIND__COUNT)
        return 0;
    if (!space)
        return eg_map_size(cfg->items[kind]);
    char key[KEYBUF];
    count_key(key, sizeof key, kind, space);
    return (size_t)(uintptr_t)eg_map_get(cfg->counts, key);
}

int eg_config_space_known(const eg_config_t *cfg, const char *space)
{
    for (int k = 0; k < EG_KIND__COUNT; k++)
        if (eg_config_count(cfg, (eg_kind_t)k, space))
            return 1;
    return 0;
}

void eg_config_count_spaces(const eg_config_t *cfg, eg_kind_t kind,
                            void (*cb)(void *arg, const char *space, size_t n), void *arg)
{
    if (kind >= EG_KIND__COUNT)
        return;
    eg_map_t *tally = eg_map_new();
    eg_map_iter_t it;
    const char *k;
    void *v;
    eg_map_iter_init(&it, cfg->items[kind]);
    while (eg_map_iter_next(&it, &k, &v)) {
        const char *space = str_field(v, "space");
        uintptr_t n = (uintptr_t)eg_map_get(tally, space);
        eg_map_put(tally, space, (void *)(n + 1), NULL);
    }
    eg_map_iter_init(&it, tally);
    while (eg_map_iter_next(&it, &k, &v))
        cb(arg, k, (size_t)(uintptr_t)v);
    eg_map_free(tally);
}

/* ---- rules that need state ---- */

static const cJSON *find_sub_using(const eg_config_t *cfg, const char *space, const char *field,
                                   const char *value)
{
    eg_map_iter_t it;
    const char *k;
    void *v;
    eg_map_iter_init(&it, cfg->items[EG_KIND_SUBSCRIPTION]);
    while (eg_map_iter_next(&it, &k, &v))
        if (!strcmp(str_field(v, "space"), space) && !strcmp(str_field(v, field), value))
            return v;
    return NULL;
}

static const cJSON *find_authorized_type(const eg_config_t *cfg, const char *space, const char *fn)
{
    const cJSON *best = NULL;
    eg_map_iter_t it;
    const char *k;
    void *v;
    eg_map_iter_init(&it, cfg->items[EG_KIND_EVENTTYPE]);
    while (eg_map_iter_next(&it, &k, &v))
        if (!strcmp(str_field(v, "space"), space) && !strcmp(str_field(v, "authorizerId"), fn) &&
            (!best || strcmp(str_field(v, "name"), str_field(best, "name")) < 0))
            best = v;
    return best;
}

/* "/a" and "/a/" are one route to the path tree. */
static int same_route(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 1 && a[la - 1] == '/')
        la--;
    if (lb > 1 && b[lb - 1] == '/')
        lb--;
    return la == lb && !memcmp(a, b, la);
}

static int check_subscription_create(const eg_config_t *cfg, const eg_change_t *c, eg_error_t *err)
{
    const cJSON *d = c->data;
    const char *type = str_field(d, "type"), *event = str_field(d, "eventType"),
               *fn = str_field(d, "functionId"), *path = str_field(d, "path"),
               *method = str_field(d, "method");
    int sync = !strcmp(type, "sync");

    /* The same (eventType, functionId, path, method) under the other type. */
    char *other = eg__config_subscription_id(sync ? "async" : "sync", event, fn, path, method);
    const cJSON *o = eg_config_peek(cfg, EG_KIND_SUBSCRIPTION, c->space, other);
    int dup = o && !strcmp(str_field(o, "functionId"), fn);
    free(other);
    if (dup)
        return eg_error_set(err, 409,
                            "Subscription of function \"%s\" to \"%s\" on %s %s already exists.",
                            fn, event, method, path);

    char tk[KEYBUF], perr[300];
    tree_key(tk, sizeof tk, c->space, method, event);
    const eg_pathtree_t *t = eg_map_get(cfg->trees, tk);
    if (t) {
        if (eg_pathtree_check(t, path, perr, sizeof perr))
            return eg_error_set(err, 409, "Subscription path conflict: %s", perr);
        if (sync) { /* a second sync subscription on one route, spelled differently */
            size_t nv = 0, np = 0;
            eg_path_param_t params[64];
            void *const *vals = eg_pathtree_match(t, path, &nv, params, 64, &np);
            for (size_t i = 0; i < nv; i++) {
                const eg_sub_t *s = vals[i];
                if (s->sync && same_route(s->path, path))
                    return eg_error_set(err, 409,
                                        "A sync subscription for \"%s\" on %s %s already exists.",
                                        event, method, path);
            }
        }
    }
    if (!eg_config_peek(cfg, EG_KIND_EVENTTYPE, c->space, event))
        return eg_error_set(err, 400, "Event Type \"%s\" not found.", event);
    if (!eg_config_peek(cfg, EG_KIND_FUNCTION, c->space, fn))
        return eg_error_set(err, 400, "Function \"%s\" not found.", fn);
    return 0;
}

static void cors_tree_key(char *buf, size_t len, const char *space, const char *method)
{
    key_join(buf, len, (const char *const[]){space, method}, 2);
}

/* A new CORS configuration must fit its (space, method) tree and not name a
 * route already configured under another spelling ("/a/" for "/a"). */
static int check_cors_create(const eg_config_t *cfg, const eg_change_t *c, eg_error_t *err)
{
    const char *path = str_field(c->data, "path"), *method = str_field(c->data, "method");
    char tk[KEYBUF], perr[300];
    cors_tree_key(tk, sizeof tk, c->space, method);
    const eg_pathtree_t *t = eg_map_get(cfg->cors_trees, tk);
    if (!t)
        return 0;
    if (eg_pathtree_check(t, path, perr, sizeof perr))
        return eg_error_set(err, 409, "CORS configuration path conflict: %s", perr);
    /* In a tree that passed every check, a route matched as a request path
     * lands on its own node if it is there. */
    size_t nv = 0;
    void *const *vals = eg_pathtree_match(t, path, &nv, NULL, 0, NULL);
    for (size_t i = 0; i < nv; i++) {
        const cors_ent_t *e = vals[i];
        if (same_route(e->path, path))
            return eg_error_set(err, 409, "CORS configuration \"%s\" already exists.",
                                str_field(e->obj, "corsId"));
    }
    return 0;
}

static int check_immutable(const cJSON *old, const cJSON *new_, const char *const *fields,
                           const char *const *titles, const char *what, eg_error_t *err)
{
    for (int i = 0; fields[i]; i++)
        if (strcmp(str_field(old, fields[i]), str_field(new_, fields[i])))
            return eg_error_set(err, 400, "Invalid update. '%s' of existing %s cannot be updated.",
                                titles[i], what);
    return 0;
}

int eg_config_check(const eg_config_t *cfg, const eg_change_t *c, eg_error_t *err)
{
    if (!c || c->kind >= EG_KIND__COUNT || !c->space || !c->id ||
        (c->op != EG_OP_DELETE && !c->data))
        return eg_error_set(err, 400, "malformed change");
    const cJSON *cur = eg_config_peek(cfg, c->kind, c->space, c->id);
    const char *title = eg__config_kind_titles[c->kind];

    if (c->op == EG_OP_CREATE) {
        if (cur)
            return eg_error_set(err, 409, "%s \"%s\" already %s.", title, c->id,
                                c->kind == EG_KIND_FUNCTION ? "registered" : "exists");
    } else if (!cur) {
        return eg_error_set(err, 404, "%s \"%s\" not found.", title, c->id);
    }

    switch (c->kind) {
    case EG_KIND_EVENTTYPE:
        if (c->op == EG_OP_DELETE) {
            if (find_sub_using(cfg, c->space, "eventType", c->id))
                return eg_error_set(err, 400,
                                    "Event type cannot be deleted because there are "
                                    "subscriptions using it.");
        } else {
            const char *auth = str_field(c->data, "authorizerId");
            if (*auth && !eg_config_peek(cfg, EG_KIND_FUNCTION, c->space, auth))
                return eg_error_set(err, 400, "Authorizer function doesn't exists.");
        }
        break;
    case EG_KIND_FUNCTION:
        if (c->op == EG_OP_DELETE) {
            const cJSON *et;
            if (find_sub_using(cfg, c->space, "functionId", c->id))
                return eg_error_set(err, 400,
                                    "Function cannot be deleted because it's subscribed "
                                    "to a least one event.");
            if ((et = find_authorized_type(cfg, c->space, c->id)))
                return eg_error_set(err, 400,
                                    "Function %s cannot be deleted because is used as an "
                                    "authorizer for %s event type.",
                                    c->id, str_field(et, "name"));
        }
        break;
    case EG_KIND_SUBSCRIPTION:
        if (c->op == EG_OP_CREATE)
            return check_subscription_create(cfg, c, err);
        if (c->op == EG_OP_UPDATE) {
            static const char *const f[] = {"type", "eventType", "functionId",
                                            "path", "method",    NULL};
            static const char *const t[] = {"Type", "EventType", "FunctionID", "Path", "Method"};
            return check_immutable(cur, c->data, f, t, "subscription", err);
        }
        break;
    case EG_KIND_CORS:
        if (c->op == EG_OP_CREATE) {
            /* the id is method + path: a second configuration for them has the same id */
            return check_cors_create(cfg, c, err);
        } else if (c->op == EG_OP_UPDATE) {
            static const char *const f[] = {"method", "path", NULL};
            static const char *const t[] = {"Method", "Path"};
            return check_immutable(cur, c->data, f, t, "CORS configuration", err);
        }
        break;
    default:
        break;
    }
    return 0;
}

/* ---- applying ---- */

static void sub_index_remove(eg_config_t *cfg, const char *key)
{
    eg_sub_t *s = eg_map_del(cfg->subs, key);
    if (!s)
        return;
    char tk[KEYBUF];
    tree_key(tk, sizeof tk, s->space, s->method, s->event);
    eg_pathtree_t *t = eg_map_get(cfg->trees, tk);
    if (t)
        eg_pathtree_remove(t, s->path, s);
    sub_free(s);
}

/* Points the entry at (a new version of) its object. */
static void sub_bind(eg_sub_t *s, cJSON *obj)
{
    s->obj = obj;
    s->id = str_field(obj, "subscriptionId");
    s->space = str_field(obj, "space");
    s->type = str_field(obj, "type");
    s->event = str_field(obj, "eventType");
    s->fn = str_field(obj, "functionId");
    s->path = str_field(obj, "path");
    s->method = str_field(obj, "method");
    s->sync = !strcmp(s->type, "sync");
    /* the filters were checked when the request came (eg_config_request.c);
     * a record another writer put in the log may carry ones that are not
     * right: that subscription then matches nothing, rather than all */
    eg_filter_free(s->filter);
    s->filter = NULL;
    s->filter_bad = 0;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, "filters");
    if (f) {
        eg_error_t e = {0};
        if (!(s->filter = eg_filter_compile(f, &e)))
            s->filter_bad = 1;
    }
}

static void sub_free(void *p)
{
    eg_sub_t *s = p;
    if (s)
        eg_filter_free(s->filter);
    free(s);
}

int eg_sub_passes(const eg_sub_t *s, eg_cesql_lookup_fn lookup, void *ctx, eg_cesql_scratch_t *sc)
{
    return !s->filter_bad && eg_filter_match(s->filter, lookup, ctx, sc);
}

static int sub_index_add(eg_config_t *cfg, const char *key, cJSON *obj, eg_error_t *err)
{
    eg_sub_t *s = eg_xcalloc(1, sizeof *s);
    sub_bind(s, obj);
    char tk[KEYBUF], perr[300];
    tree_key(tk, sizeof tk, str_field(obj, "space"), s->method, s->event);
    eg_pathtree_t *t = eg_map_get(cfg->trees, tk);
    if (!t) {
        t = eg_pathtree_new();
        eg_map_put(cfg->trees, tk, t, NULL);
    }
    if (eg_pathtree_add(t, s->path, s, perr, sizeof perr)) {
        sub_free(s);
        return eg_error_set(err, 409, "Subscription path conflict: %s", perr);
    }
    eg_map_put(cfg->subs, key, s, NULL);
    return 0;
}

static void cors_index_remove(eg_config_t *cfg, const char *key)
{
    cors_ent_t *e = eg_map_del(cfg->cors, key);
    if (!e)
        return;
    char tk[KEYBUF];
    cors_tree_key(tk, sizeof tk, str_field(e->obj, "space"), str_field(e->obj, "method"));
    eg_pathtree_t *t = eg_map_get(cfg->cors_trees, tk);
    if (t)
        eg_pathtree_remove(t, e->path, e);
    free(e);
}

static void cors_bind(cors_ent_t *e, const cJSON *obj)
{
    e->obj = obj;
    e->path = str_field(obj, "path");
}

static int cors_index_add(eg_config_t *cfg, const char *key, const cJSON *obj, eg_error_t *err)
{
    cors_ent_t *e = eg_xcalloc(1, sizeof *e);
    cors_bind(e, obj);
    char tk[KEYBUF], perr[300];
    cors_tree_key(tk, sizeof tk, str_field(obj, "space"), str_field(obj, "method"));
    eg_pathtree_t *t = eg_map_get(cfg->cors_trees, tk);
    if (!t) {
        t = eg_pathtree_new();
        eg_map_put(cfg->cors_trees, tk, t, NULL);
    }
    if (eg_pathtree_add(t, e->path, e, perr, sizeof perr)) {
        free(e);
        return eg_error_set(err, 409, "CORS configuration path conflict: %s", perr);
    }
    eg_map_put(cfg->cors, key, e, NULL);
    return 0;
}

int eg_config_apply(eg_config_t *cfg, const eg_change_t *c, eg_error_t *err)
{
    if (eg_config_check(cfg, c, err))
        return -1;
    char key[KEYBUF];
    item_key(key, sizeof key, c->space, c->id);
    eg_map_t *m = cfg->items[c->kind];

    if (c->op == EG_OP_DELETE) {
        if (c->kind == EG_KIND_SUBSCRIPTION)
            sub_index_remove(cfg, key);
        else if (c->kind == EG_KIND_CORS)
            cors_index_remove(cfg, key);
        cJSON *gone = eg_map_del(m, key);
        if (gone)
            count_add(cfg, c->kind, c->space, -1);
        cJSON_Delete(gone);
        return 0;
    }

    cJSON *obj = cJSON_Duplicate(c->data, 1);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    if (md && !md->child) /* a record written with "metadata":{}: answered without it */
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "metadata");
    if (c->kind == EG_KIND_SUBSCRIPTION && c->op == EG_OP_CREATE &&
        sub_index_add(cfg, key, obj, err)) {
        cJSON_Delete(obj);
        return -1;
    }
    if (c->kind == EG_KIND_CORS && c->op == EG_OP_CREATE && cors_index_add(cfg, key, obj, err)) {
        cJSON_Delete(obj);
        return -1;
    }
    void *old = NULL;
    eg_map_put(m, key, obj, &old);
    if (c->kind == EG_KIND_SUBSCRIPTION && c->op == EG_OP_UPDATE) {
        /* Only metadata changed: the routing entry now points at the new object. */
        eg_sub_t *s = eg_map_get(cfg->subs, key);
        if (s)
            sub_bind(s, obj);
    }
    if (c->kind == EG_KIND_CORS && c->op == EG_OP_UPDATE) {
        /* Method and path are immutable: the tree entry now points at the new object. */
        cors_ent_t *e = eg_map_get(cfg->cors, key);
        if (e)
            cors_bind(e, obj);
    }
    if (!old)
        count_add(cfg, c->kind, c->space, +1);
    cJSON_Delete(old);
    return 0;
}

size_t eg_config_match(const eg_config_t *cfg, const char *space, const char *event,
                       const char *method, const char *path, const eg_sub_t **out, size_t max,
                       eg_path_param_t *params, size_t max_params, size_t *nparams)
{
    char tk[KEYBUF];
    size_t nv = 0, np = 0;
    *nparams = 0;
    tree_key(tk, sizeof tk, space, method, event);
    const eg_pathtree_t *t = eg_map_get(cfg->trees, tk);
    if (!t)
        return 0;
    void *const *vals = eg_pathtree_match(t, path, &nv, params, max_params, &np);
    for (size_t i = 0; i < nv && i < max; i++)
        out[i] = vals[i];
    *nparams = np;
    return nv;
}

const cJSON *eg_config_cors_match(const eg_config_t *cfg, const char *space, const char *method,
                                  const char *path)
{
    char tk[KEYBUF], m[16];
    size_t i = 0;
    if (!cfg || !space || !method || !path || strlen(space) > EG_MAX_NAME)
        return NULL;
    for (; method[i]; i++) {
        if (i + 1 >= sizeof m)
            return NULL; /* no such method */
        m[i] = (char)toupper((unsigned char)method[i]);
    }
    m[i] = '\0';
    cors_tree_key(tk, sizeof tk, space, m);
    const eg_pathtree_t *t = eg_map_get(cfg->cors_trees, tk);
    if (!t)
        return NULL;
    size_t nv = 0;
    void *const *vals = eg_pathtree_match(t, path, &nv, NULL, 0, NULL);
    /* one configuration per route: create refuses a second one */
    return nv ? ((const cors_ent_t *)vals[0])->obj : NULL;
}
