/* eg_reply: sync replies and sync answers; see eg_reply.h. */
#include "eg_reply.h"

#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_base64.h"
#include "eg_json.h"

char *eg_reply_encode(const eg_reply_t *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "correlationId", r->correlation ? r->correlation : "");
    cJSON_AddBoolToObject(o, "ok", r->ok);
    cJSON_AddNumberToObject(o, "statusCode", (double)r->status);
    if (r->error)
        cJSON_AddStringToObject(o, "error", r->error);
    if (r->body) {
        if (eg_utf8_valid(r->body, r->body_len)) {
            cJSON_AddStringToObject(o, "body", r->body);
        } else {
            char *b = eg_base64_encode(r->body, r->body_len, 0);
            cJSON_AddStringToObject(o, "bodyBase64", b);
            free(b);
        }
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

void eg_reply_release(eg_reply_t *r)
{
    free(r->correlation);
    free(r->error);
    free(r->body);
    memset(r, 0, sizeof *r);
}

int eg_reply_decode(const void *value, size_t len, eg_reply_t *out)
{
    memset(out, 0, sizeof *out);
    cJSON *o = value ? eg_json_parse_record(value, len) : NULL;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "correlationId"),
                *ok = cJSON_GetObjectItemCaseSensitive(o, "ok"),
                *st = cJSON_GetObjectItemCaseSensitive(o, "statusCode"),
                *er = cJSON_GetObjectItemCaseSensitive(o, "error"),
                *b = cJSON_GetObjectItemCaseSensitive(o, "body"),
                *b64 = cJSON_GetObjectItemCaseSensitive(o, "bodyBase64");
    if (!cJSON_IsString(c) || !cJSON_IsBool(ok) || !cJSON_IsNumber(st))
        goto bad;
    out->correlation = eg_xstrdup(c->valuestring);
    out->ok = cJSON_IsTrue(ok);
    out->status = (long)st->valuedouble;
    if (cJSON_IsString(er))
        out->error = eg_xstrdup(er->valuestring);
    if (cJSON_IsString(b)) {
        out->body_len = strlen(b->valuestring);
        out->body = eg_xstrdup(b->valuestring);
    } else if (cJSON_IsString(b64)) {
        size_t n = 0;
        unsigned char *d = eg_base64_decode(b64->valuestring, strlen(b64->valuestring), &n);
        if (!d)
            goto bad;
        out->body = eg_xmalloc(n + 1);
        memcpy(out->body, d, n);
        out->body[n] = '\0';
        free(d);
        out->body_len = n;
    }
    cJSON_Delete(o);
    return 0;
bad:
    cJSON_Delete(o);
    eg_reply_release(out);
    return -1;
}

void eg_sync_answer_release(eg_sync_answer_t *a)
{
    cJSON_Delete(a->headers);
    free(a->body);
    memset(a, 0, sizeof *a);
}

int eg_sync_answer_parse(const char *body, size_t len, eg_sync_answer_t *out)
{
    memset(out, 0, sizeof *out);
    cJSON *o = body && len ? eg_json_parse_record(body, len) : NULL;
    if (!cJSON_IsObject(o))
        goto bad;
    const cJSON *sc = cJSON_GetObjectItem(o, "statusCode"), *h = cJSON_GetObjectItem(o, "headers"),
                *b = cJSON_GetObjectItem(o, "body");
    out->status = 200;
    if (sc && !cJSON_IsNull(sc)) {
        if (!cJSON_IsNumber(sc) || sc->valuedouble < 0 || sc->valuedouble > 999)
            goto bad;
        if ((int)sc->valuedouble >= 100)
            out->status = (int)sc->valuedouble;
        else if ((int)sc->valuedouble != 0)
            goto bad;
    }
    if (h && !cJSON_IsNull(h)) {
        if (!cJSON_IsObject(h))
            goto bad;
        out->headers = cJSON_CreateObject();
        size_t bytes = 0, count = 0;
        for (const cJSON *e = h->child; e; e = e->next) {
            /* header names and values must be safe to put on the wire */
            if (!cJSON_IsString(e) || !e->string || !*e->string || strpbrk(e->string, "\r\n: ") ||
                strpbrk(e->valuestring, "\r\n"))
                goto bad;
            bytes += strlen(e->string) + strlen(e->valuestring) + 4;
            if (++count > EG_SYNC_MAX_HEADERS || bytes > EG_SYNC_MAX_HEADER_BYTES) {
                cJSON_Delete(o);
                eg_sync_answer_release(out);
                return -2;
            }
            cJSON_AddStringToObject(out->headers, e->string, e->valuestring);
        }
    }
    if (cJSON_IsString(b))
        out->body = eg_xstrdup(b->valuestring);
    else if (b && !cJSON_IsNull(b))
        out->body = cJSON_PrintUnformatted(b);
    else
        out->body = eg_xstrdup("");
    out->body_len = strlen(out->body);
    cJSON_Delete(o);
    return 0;
bad:
    cJSON_Delete(o);
    eg_sync_answer_release(out);
    return -1;
}
