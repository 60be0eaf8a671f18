/*
 * eg_deadletter: the value of a dead-letter record; see eg_deadletter.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "eg_base64.h"
#include "eg_deadletter.h"

static void add_str(cJSON *o, const char *name, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

static void rfc3339(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}

/* The JSON value that is all of p (surrounding white space aside), or NULL. */
static cJSON *parse_whole(const char *p, size_t n)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    if (!v)
        return NULL;
    for (; end && end < p + n; end++)
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
            cJSON_Delete(v);
            return NULL;
        }
    return v;
}

char *eg_deadletter_json(const eg_deadletter_t *d)
{
    char when[64];
    cJSON *o = cJSON_CreateObject();
    add_str(o, "space", d->space);
    add_str(o, "subscriptionId", d->subscription);
    add_str(o, "functionId", d->function);
    add_str(o, "eventId", d->event_id);
    add_str(o, "eventType", d->event_type);
    cJSON_AddNumberToObject(o, "attempts", d->attempts);
    cJSON_AddNumberToObject(o, "lastStatus", (double)d->last_status);
    add_str(o, "lastError", d->last_error ? d->last_error : "");
    rfc3339(d->failed_at_ms, when, sizeof when);
    cJSON_AddStringToObject(o, "failedAt", when);
    add_str(o, "topic", d->topic);
    cJSON_AddNumberToObject(o, "partition", d->partition);
    cJSON_AddNumberToObject(o, "offset", (double)d->offset);
    cJSON *ev = d->event && d->event_len ? parse_whole(d->event, d->event_len) : NULL;
    if (ev) {
        cJSON_AddItemToObject(o, "event", ev);
    } else {
        char *b = eg_base64_encode(d->event, d->event ? d->event_len : 0, 0);
        cJSON_AddStringToObject(o, "eventBase64", b);
        free(b);
    }
    char *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}
