/*
 * provider_http.c: functions of type "http".
 *
 * POST provider.url with the invocation's body as is, its Content-Type, and
 * the function's provider.headers (a header the function sets wins over the
 * Content-Type; Content-Length and Host stay libcurl's), and the call's hop
 * count as Eg-Hops (the gateway's own: a function's header of that name is
 * not sent). TLS verification
 * is libcurl's default (on). Success is any 2xx answer; see
 * eg_provider_classify_http for the rest.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "eg_kafka_hdr.h"
#include "provider.h"

/* A header line is sent only if it cannot break the request. */
static int header_ok(const char *name, const char *value)
{
    if (!*name)
        return 0;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == ':' || *p == 0x7f)
            return 0;
    for (const char *p = value; *p; p++)
        if (*p == '\r' || *p == '\n' || *p == '\0')
            return 0;
    return 1;
}

static int http_prepare(eg_call_t *call, const cJSON *function, char *err, size_t errlen)
{
    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(function, "provider");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(prov, "url");
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive(prov, "headers");
    int own_ct = 0;

    if (!cJSON_IsString(url) || !*url->valuestring) {
        snprintf(err, errlen, "function has no provider.url");
        return -1;
    }
    for (const cJSON *h = cJSON_IsObject(headers) ? headers->child : NULL; h; h = h->next) {
        if (!cJSON_IsString(h) || !h->string || !header_ok(h->string, h->valuestring))
            continue;
        if (!strcasecmp(h->string, "content-length") || !strcasecmp(h->string, "host") ||
            !strcasecmp(h->string, EG_HOPS_HTTP_HEADER))
            continue;
        if (!strcasecmp(h->string, "content-type"))
            own_ct = 1;
        if (eg_provider_add_header(call, h->string, h->valuestring) < 0)
            goto oom;
    }
    if (!own_ct && eg_provider_add_header(call, "Content-Type", call->content_type) < 0)
        goto oom;
    char hops[24];
    snprintf(hops, sizeof hops, "%ld", call->hops);
    if (eg_provider_add_header(call, EG_HOPS_HTTP_HEADER, hops) < 0)
        goto oom;
    /* No "Expect: 100-continue" round trip for larger bodies ("Expect:"
     * with nothing after the colon tells libcurl not to send it). */
    if (eg_provider_add_header(call, "Expect", NULL) < 0)
        goto oom;
    if (curl_easy_setopt(call->easy, CURLOPT_URL, url->valuestring) != CURLE_OK) {
        snprintf(err, errlen, "bad provider.url");
        return -1;
    }
    curl_easy_setopt(call->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(call->easy, CURLOPT_POSTFIELDS, call->body_len ? call->body : "");
    curl_easy_setopt(call->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, call->headers);
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static eg_call_verdict_t http_classify(const eg_call_t *call, char *err, size_t errlen)
{
    return eg_provider_classify_http(call->code, call->status, call->curl_error, err, errlen);
}

const eg_provider_t eg_provider_http = {
    .type = "http",
    .prepare = http_prepare,
    .classify = http_classify,
};
