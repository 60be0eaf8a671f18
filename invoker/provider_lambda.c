/*
 * provider_lambda.c: functions of type "awslambda", called through AWS
 * Lambda's Invoke API.
 *
 *   POST {endpoint}/2015-03-31/functions/{provider.arn, URI-encoded}/invocations
 *   X-Amz-Invocation-Type: RequestResponse
 *   Content-Type: the invocation's; body: the invocation's, as is
 *   signed with SigV4 (invoker/sigv4.c) for service "lambda" in provider.region
 *
 * provider.arn is anything the Invoke API takes as FunctionName: a name
 * ("my-fn"), a name with a qualifier ("my-fn:prod"), a partial ARN
 * ("123456789012:function:my-fn") or a full ARN, of this account or
 * another. It travels encoded once in the path ("arn%3Aaws%3A...") and is
 * signed encoded twice, as AWS wants (see sigv4.h).
 *
 * Credentials: provider.awsAccessKeyId + awsSecretAccessKey (+ optional
 * awsSessionToken) from the record, else the invoker's AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. None at all: the call fails
 * for good (dead letter, or 500 to a sync caller) with a reason that says so.
 * Endpoint: provider.endpoint, else AWS_ENDPOINT_URL_LAMBDA, else
 * AWS_ENDPOINT_URL, else https://lambda.{region}.amazonaws.com; a path in
 * the endpoint URL is kept as a prefix.
 *
 * Verdicts: the HTTP rules of eg_provider_classify_http (a 2xx is a
 * success; 429, 5xx and transport errors are retried; other 4xx such as
 * 403 bad signature or 404 unknown function are final). A 200 carrying
 * X-Amz-Function-Error (the function threw, timed out or ran out of memory)
 * is a failed call that is retried like a 5xx: AWS's own asynchronous
 * invocations retry function errors too. A sync caller gets 500.
 *
 * The answer's body is the function's payload: for a sync subscription
 * {"statusCode","headers","body"} becomes the HTTP response, as for http
 * functions. Runs on the engine's thread; getenv only (nobody sets the
 * environment after start).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "eg_alloc.h"
#include "sigv4.h"
#include "provider.h"

#define INVOKE_PATH "/2015-03-31/functions/"
#define MAX_URL 8192

/* What an attempt keeps: the answer's X-Amz-Function-Error value. */
typedef struct lambda_attempt {
    char function_error[64];
} lambda_attempt_t;

static const char *prov_str(const cJSON *prov, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(prov, name);
    return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* libcurl's header callback: notes X-Amz-Function-Error. */
static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    lambda_attempt_t *a = ud;
    static const char name[] = "x-amz-function-error:";
    size_t len = size * n;
    if (len > sizeof name - 1 && !strncasecmp(buf, name, sizeof name - 1)) {
        const char *v = buf + sizeof name - 1;
        size_t vl = len - (sizeof name - 1);
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= sizeof a->function_error)
            vl = sizeof a->function_error - 1;
        memcpy(a->function_error, v, vl);
        a->function_error[vl] = '\0';
        if (!a->function_error[0])
            strcpy(a->function_error, "Unhandled");
    }
    return len;
}

/* Splits "scheme://hostport/prefix" (trailing '/' dropped). */
static int split_endpoint(const char *ep, char *base, size_t baselen, char *host, size_t hostlen,
                          char *prefix, size_t prefixlen)
{
    const char *h = strstr(ep, "://");
    if (!h || (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)))
        return -1;
    h += 3;
    size_t hl = strcspn(h, "/?#");
    if (!hl || hl >= hostlen)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    const char *p = h + hl;
    size_t pl = strcspn(p, "?#");
    while (pl && p[pl - 1] == '/')
        pl--;
    if (pl >= prefixlen)
        return -1;
    memcpy(prefix, p, pl);
    prefix[pl] = '\0';
    int n = snprintf(base, baselen, "%.*s%s", (int)(h - ep), ep, host);
    return n < 0 || (size_t)n >= baselen ? -1 : 0;
}

static int lambda_prepare(eg_call_t *call, const cJSON *function, char *err, size_t errlen)
{
    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(function, "provider");
    const char *arn = prov_str(prov, "arn"), *region = prov_str(prov, "region");
    const char *ak = prov_str(prov, "awsAccessKeyId"), *sk = prov_str(prov, "awsSecretAccessKey");
    const char *token = prov_str(prov, "awsSessionToken");
    char regional[300], base[1024], host[512], prefix[2048], path[MAX_URL], url[MAX_URL];
    char date[EG_SIGV4_DATE_LEN];
    char *fn = NULL, *auth = NULL;
    int rc = -1;

    if (!arn || !region) {
        snprintf(err, errlen, "function has no provider.arn or provider.region");
        return -1;
    }
    if (!ak || !sk) {
        ak = env("AWS_ACCESS_KEY_ID");
        sk = env("AWS_SECRET_ACCESS_KEY");
        token = env("AWS_SESSION_TOKEN");
    }
    if (!ak || !sk) {
        snprintf(err, errlen,
                 "no AWS credentials: the function has no provider.awsAccessKeyId and "
                 "awsSecretAccessKey, and the invoker has no AWS_ACCESS_KEY_ID and "
                 "AWS_SECRET_ACCESS_KEY in its environment");
        return -1;
    }
    const char *ep = prov_str(prov, "endpoint");
    if (!ep)
        ep = env("AWS_ENDPOINT_URL_LAMBDA");
    if (!ep)
        ep = env("AWS_ENDPOINT_URL");
    if (!ep) {
        snprintf(regional, sizeof regional, "https://lambda.%s.amazonaws.com", region);
        ep = regional;
    }
    if (split_endpoint(ep, base, sizeof base, host, sizeof host, prefix, sizeof prefix)) {
        snprintf(err, errlen, "bad Lambda endpoint %.200s", ep);
        return -1;
    }
    fn = eg_sigv4_uri_encode(arn, strlen(arn), 0);
    int n = snprintf(path, sizeof path, "%s" INVOKE_PATH "%s/invocations", prefix, fn);
    int m = snprintf(url, sizeof url, "%s%s", base, path);
    if (n < 0 || (size_t)n >= sizeof path || m < 0 || (size_t)m >= sizeof url) {
        snprintf(err, errlen, "provider.arn too long");
        goto out;
    }

    const eg_sigv4_header_t signed_h[] = {
        {"Content-Type", call->content_type},
        {"X-Amz-Invocation-Type", "RequestResponse"},
    };
    eg_sigv4_request_t req = {
        .method = "POST",
        .host = host,
        .path = path,
        .headers = signed_h,
        .nheaders = sizeof signed_h / sizeof signed_h[0],
        .body = call->body,
        .body_len = call->body_len,
        .region = region,
        .service = "lambda",
        .access_key = ak,
        .secret_key = sk,
        .session_token = token,
        .when = time(NULL),
    };
    if (!(auth = eg_sigv4_sign(&req, date, err, errlen)))
        goto out;

    lambda_attempt_t *a = eg_xcalloc(1, sizeof *a);
    call->provider_data = a;
    call->provider_free = free;

    /* Sent exactly as signed: Host set here (libcurl would drop a default
     * port), no "Expect: 100-continue". */
    if (eg_provider_add_header(call, "Host", host))
        goto oom;
    for (size_t k = 0; k < req.nheaders; k++)
        if (eg_provider_add_header(call, signed_h[k].name, signed_h[k].value))
            goto oom;
    if (eg_provider_add_header(call, "X-Amz-Date", date) ||
        (token && eg_provider_add_header(call, "X-Amz-Security-Token", token)) ||
        eg_provider_add_header(call, "Authorization", auth) ||
        eg_provider_add_header(call, "Expect", NULL))
        goto oom;
    if (curl_easy_setopt(call->easy, CURLOPT_URL, url) != CURLE_OK) {
        snprintf(err, errlen, "bad Lambda URL %.200s", url);
        goto out;
    }
    curl_easy_setopt(call->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(call->easy, CURLOPT_POSTFIELDS, call->body_len ? call->body : "");
    curl_easy_setopt(call->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, call->headers);
    curl_easy_setopt(call->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(call->easy, CURLOPT_HEADERDATA, a);
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    free(fn);
    free(auth);
    return rc;
}

static eg_call_verdict_t lambda_classify(const eg_call_t *call, char *err, size_t errlen)
{
    const lambda_attempt_t *a = call->provider_data;
    eg_call_verdict_t v =
        eg_provider_classify_http(call->code, call->status, call->curl_error, err, errlen);
    if (v == EG_CALL_OK && a && a->function_error[0]) {
        size_t n = call->response_len < 200 ? call->response_len : 200;
        snprintf(err, errlen, "function error (X-Amz-Function-Error: %s): %.*s", a->function_error,
                 (int)n, call->response ? call->response : "");
        return EG_CALL_RETRY;
    }
    return v;
}

const eg_provider_t eg_provider_awslambda = {
    .type = "awslambda",
    .prepare = lambda_prepare,
    .classify = lambda_classify,
};
