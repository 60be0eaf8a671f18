/*
 * provider.c: the table of built-in providers and the shared HTTP rules.
 * See provider.h. No state; safe from any thread.
 */
#include "provider.h"

#include <stdio.h>
#include <string.h>

/* One line per provider (provider_<type>.c). */
static const eg_provider_t *const providers[] = {
    &eg_provider_http,
    &eg_provider_awslambda,
    &eg_provider_kafka,
};

void eg_provider_shutdown_all(void)
{
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
        if (providers[i]->shutdown)
            providers[i]->shutdown();
}

int eg_provider_add_header(eg_call_t *call, const char *name, const char *value)
{
    char line[4096];
    int n = value ? snprintf(line, sizeof line, "%s: %s", name, value)
                  : snprintf(line, sizeof line, "%s:", name);
    if (n < 0 || (size_t)n >= sizeof line)
        return 1; /* oversized (the Config API bounds them): skipped */
    struct curl_slist *l = curl_slist_append(call->headers, line);
    if (!l)
        return -1;
    call->headers = l;
    return 0;
}

const eg_provider_t *eg_provider_find(const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
        if (!strcmp(providers[i]->type, type))
            return providers[i];
    return NULL;
}

eg_call_verdict_t eg_provider_classify_http(CURLcode code, long status, const char *curl_error,
                                            char *err, size_t errlen)
{
    if (code != CURLE_OK) {
        snprintf(err, errlen, "%s",
                 curl_error && *curl_error ? curl_error : curl_easy_strerror(code));
        switch (code) {
        /* Retrying the same request cannot help. */
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_NOT_BUILT_IN:
        case CURLE_BAD_FUNCTION_ARGUMENT:
        case CURLE_UNKNOWN_OPTION:
        case CURLE_TOO_MANY_REDIRECTS:
            return EG_CALL_FINAL;
        /* Connection errors, timeouts, resets, TLS handshakes, DNS, out of
         * memory: the function or the path to it may come back. */
        default:
            return EG_CALL_RETRY;
        }
    }
    if (status >= 200 && status <= 299) {
        if (errlen)
            err[0] = '\0';
        return EG_CALL_OK;
    }
    snprintf(err, errlen, "HTTP %ld", status);
    if (status == 429 || (status >= 500 && status <= 599))
        return EG_CALL_RETRY;
    return EG_CALL_FINAL;
}
