/*
 * eg_filter: a subscription's filters, the dialects of the CloudEvents
 * Subscriptions API, compiled when the subscription is written and matched
 * by the router against every event of its type.
 *
 *   {"exact": {"ATTR": "value", ...}}  every listed attribute is the value
 *   {"prefix": {...}}, {"suffix": {...}} ... starts, ends with it
 *   {"all": [filters]}, {"any": [filters]}, {"not": filter}
 *   {"sql": "EXPR"}                    CESQL (eg_cesql.h)
 *
 * A subscription's "filters" is a list, all of which must match. ATTR is a
 * CloudEvents attribute name (lower-case letters and digits) or data.a.b,
 * a member of a JSON data (a string as its text, a number or boolean as its
 * JSON text). A missing attribute never matches.
 *
 * Refused (400, naming where): a filter that is not an object of one known
 * dialect, an empty dialect object or list, a value that is not a string,
 * a bad attribute name, SQL that does not compile (with the character), more
 * than EG_FILTER_MAX filters in all or EG_FILTER_MAX_SQL bytes of SQL.
 *
 * Matching the three simple dialects allocates nothing; sql uses the
 * caller's scratch space (eg_cesql_scratch_t), kept from one event to the
 * next.
 */
#ifndef EG_FILTER_H
#define EG_FILTER_H

#include <cjson/cJSON.h>

#include "eg_cesql.h"
#include "eg_error.h"

#define EG_FILTER_MAX 64
#define EG_FILTER_MAX_SQL 4096

typedef struct eg_filter eg_filter_t;

/* Compiles a subscription's "filters" (a JSON array; an empty one matches
 * every event). NULL with err (400) when it is not valid. */
eg_filter_t *eg_filter_compile(const cJSON *filters, eg_error_t *err);
void eg_filter_free(eg_filter_t *f);

/* Does the event (its attributes through lookup) pass every filter? */
int eg_filter_match(const eg_filter_t *f, eg_cesql_lookup_fn lookup, void *ctx,
                    eg_cesql_scratch_t *sc);

/* Is name a filter's attribute name (a CloudEvents one, or data.a.b)? */
int eg_filter_attr_valid(const char *name);

#endif
