/*
 * eg-cesql: evaluates CESQL expressions (core/eg_cesql) for tests and for
 * CESQL's own test suite (scripts/cesql-tck.py). Reads one JSON object per
 * line, {"expression": "...", "event": {attribute: value, ...}}, and writes
 * one per line: {"result": value, "error": "parse"|"math"|...|null}.
 * Event attributes that are JSON numbers and booleans keep their type.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_cesql.h"

static int lookup(void *ctx, const char *name, size_t len, eg_cesql_value_t *out)
{
    const cJSON *ev = ctx;
    for (const cJSON *a = ev ? ev->child : NULL; a; a = a->next) {
        if (strlen(a->string) != len || strncmp(a->string, name, len))
            continue;
        if (cJSON_IsBool(a)) {
            *out = (eg_cesql_value_t){.type = EG_CESQL_BOOL, .i = cJSON_IsTrue(a)};
        } else if (cJSON_IsNumber(a)) {
            *out = (eg_cesql_value_t){.type = EG_CESQL_INT, .i = (int32_t)a->valuedouble};
        } else if (cJSON_IsString(a)) {
            *out = (eg_cesql_value_t){
                .type = EG_CESQL_STRING, .s = a->valuestring, .len = strlen(a->valuestring)};
        } else {
            return -1;
        }
        return 0;
    }
    return -1;
}

int main(void)
{
    eg_alloc_setup();
    eg_cesql_scratch_t *sc = eg_cesql_scratch_new();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        cJSON *in = cJSON_Parse(line), *out = cJSON_CreateObject();
        const cJSON *expr = cJSON_GetObjectItemCaseSensitive(in, "expression");
        char err[256];
        eg_cesql_t *q =
            cJSON_IsString(expr)
                ? eg_cesql_compile(expr->valuestring, strlen(expr->valuestring), err, sizeof err)
                : NULL;
        if (!q) {
            cJSON_AddFalseToObject(out, "result");
            cJSON_AddStringToObject(out, "error", "parse");
            cJSON_AddStringToObject(out, "message", cJSON_IsString(expr) ? err : "no expression");
        } else {
            eg_cesql_value_t v;
            eg_cesql_error_t e =
                eg_cesql_eval(q, lookup, cJSON_GetObjectItemCaseSensitive(in, "event"), sc, &v);
            if (v.type == EG_CESQL_BOOL)
                cJSON_AddBoolToObject(out, "result", v.i);
            else if (v.type == EG_CESQL_INT)
                cJSON_AddNumberToObject(out, "result", v.i);
            else {
                char *s = eg_xstrndup(v.s, v.len);
                cJSON_AddStringToObject(out, "result", s);
                free(s);
            }
            if (e)
                cJSON_AddStringToObject(out, "error", eg_cesql_error_name(e));
            else
                cJSON_AddNullToObject(out, "error");
            eg_cesql_free(q);
        }
        char *text = cJSON_PrintUnformatted(out);
        puts(text);
        fflush(stdout);
        free(text);
        cJSON_Delete(out);
        cJSON_Delete(in);
    }
    free(line);
    eg_cesql_scratch_free(sc);
    return 0;
}
