/*
 * eg_replay: the replay record codec and the replay table. See eg_replay.h.
 */
#include "eg_replay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_json.h"
#include "eg_map.h"
#include "eg_time.h"

static const char *const status_names[] = {"running", "done", "failed", "cancelled"};

const char *eg_replay_status_name(eg_replay_status_t s)
{
    return (unsigned)s < 4 ? status_names[s] : "failed";
}

void eg_replay_release(eg_replay_t *r)
{
    if (!r)
        return;
    free(r->subscription);
    free(r->parts);
    memset(r, 0, sizeof *r);
}

int eg_replay_copy(eg_replay_t *dst, const eg_replay_t *src)
{
    *dst = *src;
    dst->subscription = src->subscription ? eg_xstrdup(src->subscription) : NULL;
    dst->parts = NULL;
    if (src->nparts) {
        dst->parts = eg_xmalloc(src->nparts * sizeof *dst->parts);
        memcpy(dst->parts, src->parts, src->nparts * sizeof *dst->parts);
    }
    return 0;
}

int eg_replay_key(const eg_replay_t *r, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", r->space, r->id);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void add_time(cJSON *o, const char *name, int64_t ms)
{
    char buf[EG_TIME_LEN];
    cJSON_AddStringToObject(o, name, eg_time_format(ms, buf));
}

/* The members the record and the API object share. */
static cJSON *common_json(const eg_replay_t *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "replayId", r->id);
    cJSON_AddStringToObject(o, "space", r->space);
    cJSON_AddStringToObject(o, "subscriptionId", r->subscription ? r->subscription : "");
    add_time(o, "from", r->from_ms);
    add_time(o, "to", r->to_ms);
    cJSON_AddStringToObject(o, "status", eg_replay_status_name(r->status));
    cJSON_AddNumberToObject(o, "scanned", (double)r->scanned);
    cJSON_AddNumberToObject(o, "delivered", (double)r->delivered);
    add_time(o, "createdAt", r->created_ms);
    add_time(o, "updatedAt", r->updated_ms);
    if (r->error[0])
        cJSON_AddStringToObject(o, "error", r->error);
    return o;
}

char *eg_replay_encode(const eg_replay_t *r)
{
    cJSON *o = common_json(r);
    if (r->nparts) {
        cJSON *arr = cJSON_AddArrayToObject(o, "partitions");
        for (size_t i = 0; i < r->nparts; i++) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddNumberToObject(p, "partition", r->parts[i].partition);
            cJSON_AddNumberToObject(p, "next", (double)r->parts[i].next);
            cJSON_AddNumberToObject(p, "end", (double)r->parts[i].end);
            cJSON_AddItemToArray(arr, p);
        }
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

cJSON *eg_replay_to_api(const eg_replay_t *r)
{
    return common_json(r);
}

static const char *get_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A non-negative integer below 2^53 (exact in a double). */
static int get_count(const cJSON *o, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v) {
        *out = 0;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740991.0 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return -1;
    *out = (int64_t)v->valuedouble;
    return 0;
}

static int get_time(const cJSON *o, const char *name, int64_t *out, int required)
{
    const char *s = get_str(o, name);
    if (!s) {
        *out = 0;
        return required ? -1 : 0;
    }
    return eg_time_parse(s, strlen(s), out);
}

int eg_replay_decode(const char *value, size_t len, eg_replay_t *out, eg_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (!value || len > EG_REPLAY_RECORD_MAX)
        return eg_error_set(err, 400, "replay record without a value, or too large");
    cJSON *o = eg_json_parse_record(value, len);
    int rc = -1;
    if (!cJSON_IsObject(o)) {
        eg_error_set(err, 400, "replay record is not a JSON object");
        goto out;
    }
    const char *id = get_str(o, "replayId"), *space = get_str(o, "space"),
               *sub = get_str(o, "subscriptionId"), *status = get_str(o, "status");
    if (!id || !*id || strlen(id) > EG_REPLAY_ID_MAX || !space || !*space ||
        strlen(space) > EG_MAX_NAME || !sub || !*sub || strlen(sub) > EG_MAX_ID || !status) {
        eg_error_set(err, 400, "replay record needs replayId, space, subscriptionId and status");
        goto out;
    }
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->space, sizeof out->space, "%s", space);
    out->status = (eg_replay_status_t)-1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(status, status_names[i]))
            out->status = (eg_replay_status_t)i;
    if ((int)out->status < 0) {
        eg_error_set(err, 400, "unknown replay status %.32s", status);
        goto out;
    }
    if (get_time(o, "from", &out->from_ms, 1) || get_time(o, "to", &out->to_ms, 1) ||
        get_time(o, "createdAt", &out->created_ms, 0) ||
        get_time(o, "updatedAt", &out->updated_ms, 0)) {
        eg_error_set(err, 400, "replay record with a missing or malformed time");
        goto out;
    }
    if (get_count(o, "scanned", &out->scanned) || get_count(o, "delivered", &out->delivered)) {
        eg_error_set(err, 400, "replay record with malformed counters");
        goto out;
    }
    const char *e = get_str(o, "error");
    if (e)
        snprintf(out->error, sizeof out->error, "%s", e);
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(o, "partitions");
    if (parts) {
        int n = cJSON_GetArraySize(parts);
        if (!cJSON_IsArray(parts) || n > EG_REPLAY_MAX_PARTS) {
            eg_error_set(err, 400, "replay record with malformed partitions");
            goto out;
        }
        if (n > 0)
            out->parts = eg_xcalloc((size_t)n, sizeof *out->parts);
        const cJSON *p;
        cJSON_ArrayForEach(p, parts)
        {
            int64_t part, next, end;
            if (get_count(p, "partition", &part) || part > INT32_MAX ||
                !cJSON_GetObjectItemCaseSensitive(p, "next") || get_count(p, "next", &next) ||
                !cJSON_GetObjectItemCaseSensitive(p, "end") || get_count(p, "end", &end)) {
                eg_error_set(err, 400, "replay record with a malformed partition entry");
                goto out;
            }
            out->parts[out->nparts++] = (eg_replay_part_t){(int32_t)part, next, end};
        }
    }
    out->subscription = eg_xstrdup(sub);
    rc = 0;
out:
    if (rc)
        eg_replay_release(out);
    cJSON_Delete(o);
    return rc;
}

/* ---- the table ---- */

typedef struct entry {
    eg_replay_t r;
    int32_t partition;
} entry_t;

struct eg_replay_table {
    eg_map_t *m; /* "<space>/<id>" -> entry_t* */
};

eg_replay_table_t *eg_replay_table_new(void)
{
    eg_replay_table_t *t = eg_xcalloc(1, sizeof *t);
    t->m = eg_map_new();
    return t;
}

static void entry_free(entry_t *e);

static void entry_free_v(void *e)
{
    entry_free(e);
}

static void entry_free(entry_t *e)
{
    if (e) {
        eg_replay_release(&e->r);
        free(e);
    }
}

void eg_replay_table_free(eg_replay_table_t *t)
{
    if (!t)
        return;
    eg_map_free_with(t->m, entry_free_v);
    free(t);
}

int eg_replay_table_apply(eg_replay_table_t *t, const eg_replay_t *r, int32_t partition)
{
    char key[EG_MAX_NAME + EG_REPLAY_ID_MAX + 4];
    if (eg_replay_key(r, key, sizeof key))
        return 0;
    entry_t *old = eg_map_get(t->m, key);
    if (old && old->r.status != EG_REPLAY_RUNNING && r->status == EG_REPLAY_RUNNING)
        return 0;
    entry_t *e = eg_xcalloc(1, sizeof *e);
    eg_replay_copy(&e->r, r);
    e->partition = partition;
    eg_map_put(t->m, key, e, NULL);
    entry_free(old);
    return 1;
}

void eg_replay_table_remove(eg_replay_table_t *t, const char *space, const char *id)
{
    char key[EG_MAX_NAME + EG_REPLAY_ID_MAX + 4];
    snprintf(key, sizeof key, "%s/%s", space, id);
    entry_free(eg_map_del(t->m, key));
}

const eg_replay_t *eg_replay_table_get(const eg_replay_table_t *t, const char *space,
                                       const char *id, int32_t *partition)
{
    char key[EG_MAX_NAME + EG_REPLAY_ID_MAX + 4];
    if (snprintf(key, sizeof key, "%s/%s", space, id) >= (int)sizeof key)
        return NULL;
    entry_t *e = eg_map_get(t->m, key);
    if (e && partition)
        *partition = e->partition;
    return e ? &e->r : NULL;
}

static int by_creation(const void *a, const void *b)
{
    const eg_replay_t *x = *(const eg_replay_t *const *)a, *y = *(const eg_replay_t *const *)b;
    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

cJSON *eg_replay_table_list(const eg_replay_table_t *t, const char *space)
{
    cJSON *arr = cJSON_CreateArray();
    size_t n = 0, cap = eg_map_size(t->m);
    const eg_replay_t **v = cap ? eg_xmalloc(cap * sizeof *v) : NULL;
    eg_map_iter_t it;
    const char *k;
    void *e;
    eg_map_iter_init(&it, t->m);
    while (eg_map_iter_next(&it, &k, &e))
        if (!strcmp(((entry_t *)e)->r.space, space))
            v[n++] = &((entry_t *)e)->r;
    if (n)
        qsort(v, n, sizeof *v, by_creation);
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, eg_replay_to_api(v[i]));
    free(v);
    return arr;
}

int eg_replay_table_each(const eg_replay_table_t *t,
                         int (*fn)(void *arg, const eg_replay_t *r, int32_t partition), void *arg)
{
    eg_map_iter_t it;
    const char *k;
    void *e;
    eg_map_iter_init(&it, t->m);
    while (eg_map_iter_next(&it, &k, &e)) {
        int rc = fn(arg, &((entry_t *)e)->r, ((entry_t *)e)->partition);
        if (rc)
            return rc;
    }
    return 0;
}
