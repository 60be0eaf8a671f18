/*
 * eg_event_attr.c: see eg_event_attr.h. The event's JSON is read where it
 * is; nothing is allocated.
 */
#include "eg_event_attr.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The 1.0 names a 0.1 event spells otherwise. */
static const struct {
    const char *v10, *v01;
} renamed[] = {
    {"type", "eventType"},
    {"id", "eventID"},
    {"time", "eventTime"},
    {"dataschema", "schemaURL"},
    {"datacontenttype", "contentType"},
};

/* obj's member of that name (len bytes, not NUL-terminated). */
static const cJSON *member(const cJSON *obj, const char *name, size_t len)
{
    if (!cJSON_IsObject(obj))
        return NULL;
    for (const cJSON *m = obj->child; m; m = m->next)
        if (m->string && strlen(m->string) == len && !memcmp(m->string, name, len))
            return m;
    return NULL;
}

static int answer(eg_event_attrs_t *a, const cJSON *v, eg_cesql_value_t *out)
{
    if (cJSON_IsString(v)) {
        *out = (eg_cesql_value_t){
            .type = EG_CESQL_STRING, .s = v->valuestring, .len = strlen(v->valuestring)};
    } else if (cJSON_IsBool(v)) {
        *out = (eg_cesql_value_t){.type = EG_CESQL_BOOL, .i = cJSON_IsTrue(v)};
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && d >= -2147483648.0 && d <= 2147483647.0) {
            *out = (eg_cesql_value_t){.type = EG_CESQL_INT, .i = (int32_t)d};
        } else {
            char *buf = a->num[a->next++ % 4];
            int n = snprintf(buf, sizeof a->num[0], "%.17g", d);
            *out = (eg_cesql_value_t){.type = EG_CESQL_STRING, .s = buf, .len = (size_t)n};
        }
    } else {
        return -1;
    }
    return 0;
}

int eg_event_attr(void *ctx, const char *name, size_t len, eg_cesql_value_t *out)
{
    eg_event_attrs_t *a = ctx;
    const cJSON *j = a->ev->json, *v;
    if (len > 5 && !memcmp(name, "data.", 5)) {
        v = member(j, "data", 4);
        for (const char *s = name + 5, *end = name + len; v && s < end;) {
            const char *dot = memchr(s, '.', (size_t)(end - s));
            size_t n = dot ? (size_t)(dot - s) : (size_t)(end - s);
            v = member(v, s, n);
            s += n + 1;
        }
        return v ? answer(a, v, out) : -1;
    }
    if (a->ev->version == EG_EVENT_V01) {
        if (len == 11 && !memcmp(name, "specversion", 11)) {
            v = member(j, "cloudEventsVersion", 18);
            return v ? answer(a, v, out) : -1;
        }
        for (size_t i = 0; i < sizeof renamed / sizeof renamed[0]; i++)
            if (strlen(renamed[i].v10) == len && !memcmp(name, renamed[i].v10, len))
                return (v = member(j, renamed[i].v01, strlen(renamed[i].v01))) ? answer(a, v, out)
                                                                               : -1;
        if (len == 6 && !memcmp(name, "source", 6))
            return (v = member(j, "source", 6)) ? answer(a, v, out) : -1;
        /* the other names are extensions; eventTypeVersion has no 1.0 twin */
        return (v = member(member(j, "extensions", 10), name, len)) ? answer(a, v, out) : -1;
    }
    if (len == 4 && !memcmp(name, "data", 4))
        return -1; /* the data is not an attribute */
    return (v = member(j, name, len)) ? answer(a, v, out) : -1;
}
