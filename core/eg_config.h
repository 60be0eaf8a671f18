/*
 * eg_config: the configuration model (event types, functions, subscriptions,
 * CORS configurations, by space) and every validation rule of the Config API.
 *
 * The model knows nothing of Kafka or HTTP. A change (eg_change_t) is built
 * from an API request by eg_change_from_request, which checks everything that
 * can be checked without state (JSON shape, types, names, paths, defaults,
 * generated ids). eg_config_check decides the rules that need state (exists,
 * unknown references, in use, path conflicts, immutable fields) and
 * eg_config_apply applies a change that passes them. Every process applies
 * the same changes in the order of the configuration log, so the verdicts of
 * eg_config_apply are the same everywhere: that is what makes the log, and
 * not any single process, decide conflicts.
 *
 * Resources are kept as cJSON objects in their API representation (the
 * object the Config API answers), plus the fields routing needs. Not thread
 * safe: the caller (eg_configlog) serialises writers against readers.
 */
#ifndef EG_CONFIG_H
#define EG_CONFIG_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "eg_error.h"
#include "eg_filter.h"
#include "eg_pathtree.h"

typedef enum eg_kind {
    EG_KIND_EVENTTYPE = 0,
    EG_KIND_FUNCTION,
    EG_KIND_SUBSCRIPTION,
    EG_KIND_CORS,
    EG_KIND_ACCESSKEY, /* id + SHA-256 of the secret only (ingress/accesskey.h) */
    EG_KIND__COUNT
} eg_kind_t;

/* "eventtypes", "functions", "subscriptions", "cors", "accesskeys": the URL
 * segment, and the kind's name in configuration records. */
const char *eg_kind_name(eg_kind_t k);
/* The key of the list answer: "eventTypes", "functions", "subscriptions", "cors",
 * "accessKeys". */
const char *eg_kind_list_key(eg_kind_t k);
/* 0 and *k set when s names a kind, -1 otherwise. */
int eg_kind_parse(const char *s, size_t len, eg_kind_t *k);

typedef enum eg_op { EG_OP_CREATE = 1, EG_OP_UPDATE, EG_OP_DELETE } eg_op_t;
const char *eg_op_name(eg_op_t op);

/* Kafka's longest topic name (a kafka function's topic, a pool's topics). */
#define EG_KAFKA_TOPIC_MAX 249

/* Upper bounds on what outside parties control. */
#define EG_MAX_NAME 256    /* space, event type name, function id, ids */
#define EG_MAX_PATH 2048   /* subscription / cors path */
#define EG_MAX_METADATA 64 /* entries in metadata */
#define EG_MAX_LIST 64     /* entries in allowedOrigins / Methods / Headers, provider.headers */
/* The longest id: a subscription id is base64 of up to 3 names and a path
 * escaped up to three times its length. */
#define EG_MAX_ID ((EG_MAX_PATH * 3 + 3 * EG_MAX_NAME + 32) / 3 * 4 + 8)

/* One proposed change. The change owns its strings and data. */
typedef struct eg_change {
    eg_op_t op;
    eg_kind_t kind;
    char *space;
    char *id;
    cJSON *data; /* the whole normalised resource for create/update, NULL for delete */
} eg_change_t;

/* Frees what the change owns and zeroes it; safe on a zeroed change. */
void eg_change_release(eg_change_t *c);

/* Builds a change from a Config API request. `id` is the item id of the URL
 * (update, delete) or NULL (create). `body` is the request body (create,
 * update), not necessarily NUL-terminated. Validates the space, shape, types,
 * names and paths, fills defaults and generates ids; where event-gateway 0.9
 * validated a field, the message is 0.9's word for word. 0 with *out filled
 * (caller releases it), or -1 with err set (400). */
int eg_change_from_request(eg_change_t *out, eg_op_t op, eg_kind_t kind, const char *space,
                           const char *id, const char *body, size_t len, eg_error_t *err);

/* Validates a space name (in URLs): 0 ok, -1 with err (400). */
int eg_space_validate(const char *space, eg_error_t *err);

typedef struct eg_config eg_config_t;

/* An empty model; never NULL. */
eg_config_t *eg_config_new(void);
void eg_config_free(eg_config_t *cfg);

/* Decides every rule that needs the current state. Does not modify. 0 when
 * the change may be applied, -1 with err (404, 409 or 400) otherwise. */
int eg_config_check(const eg_config_t *cfg, const eg_change_t *c, eg_error_t *err);

/* eg_config_check, then applies the change. The model takes a copy of what
 * it keeps; the change stays the caller's. 0 applied, -1 rejected (err). */
int eg_config_apply(eg_config_t *cfg, const eg_change_t *c, eg_error_t *err);

/* A copy of one resource (caller frees with cJSON_Delete), NULL if absent. */
cJSON *eg_config_get(const eg_config_t *cfg, eg_kind_t kind, const char *space, const char *id);

/* The borrowed resource, NULL if absent: valid until the next apply. */
const cJSON *eg_config_peek(const eg_config_t *cfg, eg_kind_t kind, const char *space,
                            const char *id);

/* A new array holding copies of the space's resources of that kind whose
 * metadata matches every filter (filters[i] is "KEY=VALUE"), in id order.
 * Caller frees. */
cJSON *eg_config_list(const eg_config_t *cfg, eg_kind_t kind, const char *space,
                      const char *const *filters, size_t nfilters);

/* One page of that list: the resources whose id sorts after `after` (NULL:
 * from the first), at most `limit` of them (0: no limit) and, past the
 * first, no more once about `max_bytes` of JSON are in the page (0: no
 * bound). When more remain, *next (if not NULL) gets a copy of the page's
 * last id, the cursor of the next page (caller frees); else NULL. Only the
 * page is copied, so a reader holds at most a page's worth of memory. */
cJSON *eg_config_list_page(const eg_config_t *cfg, eg_kind_t kind, const char *space,
                           const char *const *filters, size_t nfilters, const char *after,
                           size_t limit, size_t max_bytes, char **next);

/* A subscription as routing sees it: borrowed views into the model, valid
 * while the caller holds the configuration's read lock. */
typedef struct eg_sub {
    const cJSON *obj; /* the API object */
    const char *id, *space, *type, *event, *fn, *path, *method;
    int sync;
    eg_filter_t *filter; /* its "filters", compiled (NULL: none); see eg_sub_passes */
    int filter_bad;      /* a record's filters that do not compile: it matches nothing */
} eg_sub_t;

/* Does the event (its attributes through lookup, eg_event_attr.h) pass the
 * subscription's filters? */
int eg_sub_passes(const eg_sub_t *s, eg_cesql_lookup_fn lookup, void *ctx, eg_cesql_scratch_t *sc);

/* Finds the subscriptions of `space` for (event type, method, path): walks
 * the path tree of (space, method, event type) once. Fills up to `max`
 * entries of out (returns how many match in all; entries past max are not
 * stored) and the path's parameters. */
size_t eg_config_match(const eg_config_t *cfg, const char *space, const char *event,
                       const char *method, const char *path, const eg_sub_t **out, size_t max,
                       eg_path_param_t *params, size_t max_params, size_t *nparams);

/* The CORS configuration (its borrowed API object, valid while the read lock
 * is held / until the next apply) of `space` for a concrete request (method,
 * path), or NULL. CORS paths live in one path tree per (space, method) and
 * match like subscription paths (":name" one segment, "*name" the rest,
 * "/a/" = "/a"). `method` is compared upper-cased; for a preflight pass the
 * request's Access-Control-Request-Method. `path` is percent-decoded and
 * without the query, as for eg_config_match.
 * Conflicts: a create whose path is the same route as an existing
 * configuration of (space, method) spelled differently ("/a" vs "/a/"), or
 * that conflicts in the path tree ("/u/:id" vs "/u/:name", a wildcard
 * segment "*p" under "/f" vs "/f/x"), is refused with 409, as for
 * subscriptions: every configuration the Config API accepts is one that
 * requests can reach. */
const cJSON *eg_config_cors_match(const eg_config_t *cfg, const char *space, const char *method,
                                  const char *path);

/* The function's API object, borrowed (read lock held), or NULL. */
#define eg_config_function(cfg, space, id) eg_config_peek((cfg), EG_KIND_FUNCTION, (space), (id))

/* Number of resources of a kind in a space (NULL space: all spaces); O(1). */
size_t eg_config_count(const eg_config_t *cfg, eg_kind_t kind, const char *space);

/* Does the space hold any resource (of any kind, access keys included)? */
int eg_config_space_known(const eg_config_t *cfg, const char *space);

/* Calls cb once per space holding resources of that kind, with their
 * number (spaces in no particular order; cb must not change cfg). */
void eg_config_count_spaces(const eg_config_t *cfg, eg_kind_t kind,
                            void (*cb)(void *arg, const char *space, size_t n), void *arg);

#endif
