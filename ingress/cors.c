/*
 * cors.c: CORS answers from a CORS configuration, as event-gateway 0.9 gave
 * them through rs/cors v1.x (see cors.h for the rules and where they come
 * from). Everything here reads the configuration object and the request's
 * header values and writes into caller storage: no allocation, no state.
 *
 * Work is bounded by the sizes the Config API enforces (at most EG_MAX_LIST
 * entries of EG_MAX_NAME bytes per list) and by the request's header sizes:
 * origin patterns match with a greedy segment search (no backtracking), and
 * every requested header is compared with each allowed header once.
 */
#include "cors.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define VALUE_MAX (sizeof(((eg_cors_header_t *)0)->value))

static const char H_VARY[] = "Vary";
static const char H_ALLOW_ORIGIN[] = "Access-Control-Allow-Origin";
static const char H_ALLOW_METHODS[] = "Access-Control-Allow-Methods";
static const char H_ALLOW_HEADERS[] = "Access-Control-Allow-Headers";
static const char H_ALLOW_CREDENTIALS[] = "Access-Control-Allow-Credentials";

/* ---- small helpers ---- */

static const cJSON *field(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

static int allow_credentials(const cJSON *cors)
{
    return cJSON_IsTrue(field(cors, "allowCredentials"));
}

/* Appends one header when there is room. */
static void add(eg_cors_header_t *out, size_t max, size_t *n, const char *name, const char *value)
{
    if (*n >= max)
        return;
    out[*n].name = name;
    snprintf(out[*n].value, VALUE_MAX, "%s", value);
    (*n)++;
}

/* RFC 7230 tchar. */
static int is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Case-insensitive (ASCII) compare of n bytes. */
static int ci_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* Leftmost case-insensitive occurrence of needle[0..nlen) in hay[0..hlen), or NULL. */
static const char *ci_find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    if (nlen == 0)
        return hay;
    for (size_t i = 0; i + nlen <= hlen; i++)
        if (ci_eq(hay + i, needle, nlen))
            return hay + i;
    return NULL;
}

/* ---- origins ---- */

int eg_cors__wildcard_match(const char *p, const char *s)
{
    if (!p || !s)
        return 0;
    const char *star = strchr(p, '*');
    size_t slen = strlen(s);
    if (!star)
        return strlen(p) == slen && ci_eq(p, s, slen);
    /* the text before the first '*' is a prefix */
    size_t plen = (size_t)(star - p);
    if (plen > slen || !ci_eq(p, s, plen))
        return 0;
    s += plen;
    slen -= plen;
    p = star;
    for (;;) {
        while (*p == '*')
            p++;
        star = strchr(p, '*');
        if (!star) { /* the text after the last '*' is a suffix of what is left */
            size_t tlen = strlen(p);
            return tlen <= slen && ci_eq(s + slen - tlen, p, tlen);
        }
        /* a middle segment: its leftmost occurrence leaves the most room to the rest */
        size_t seg = (size_t)(star - p);
        const char *at = ci_find(s, slen, p, seg);
        if (!at)
            return 0;
        slen -= (size_t)(at - s) + seg;
        s = at + seg;
        p = star;
    }
}

static int origins_all(const cJSON *cors)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, field(cors, "allowedOrigins"))
    {
        if (cJSON_IsString(e) && !strcmp(e->valuestring, "*"))
            return 1;
    }
    return 0;
}

int eg_cors_any_origin_with_credentials(const cJSON *cors)
{
    return cors && origins_all(cors) && allow_credentials(cors);
}

static int origin_echoable(const char *origin)
{
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)origin; *p; p++, len++)
        if (*p < ' ' || *p == 0x7f)
            return 0;
    return len > 0 && len < VALUE_MAX;
}

int eg_cors_origin_allowed(const cJSON *cors, const char *origin)
{
    if (!cors || !origin || !origin_echoable(origin))
        return 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, field(cors, "allowedOrigins"))
    {
        if (cJSON_IsString(e) && eg_cors__wildcard_match(e->valuestring, origin))
            return 1; /* "*" alone matches anything */
    }
    return 0;
}

/* ---- methods and headers ---- */

static int method_allowed(const cJSON *cors, const char *method)
{
    if (!strcasecmp(method, "OPTIONS"))
        return 1; /* rs/cors: preflight requests are always allowed */
    const cJSON *e;
    cJSON_ArrayForEach(e, field(cors, "allowedMethods"))
    {
        if (cJSON_IsString(e) && !strcasecmp(e->valuestring, method))
            return 1;
    }
    return 0;
}

static int header_allowed(const cJSON *cors, const char *name, size_t len)
{
    if (len == 6 && ci_eq(name, "Origin", 6))
        return 1; /* rs/cors always allows Origin */
    const cJSON *e;
    cJSON_ArrayForEach(e, field(cors, "allowedHeaders"))
    {
        if (!cJSON_IsString(e))
            continue;
        if (!strcmp(e->valuestring, "*"))
            return 1;
        if (strlen(e->valuestring) == len && ci_eq(e->valuestring, name, len))
            return 1;
    }
    return 0;
}

/* The Vary and Allow-Origin / Allow-Credentials part shared by both answers. */
static void add_allow_origin(const cJSON *cors, const char *origin, eg_cors_header_t *out,
                             size_t max, size_t *n)
{
    int cred = allow_credentials(cors);
    add(out, max, n, H_ALLOW_ORIGIN, origins_all(cors) && !cred ? "*" : origin);
    if (cred)
        add(out, max, n, H_ALLOW_CREDENTIALS, "true");
}

/* ---- answers ---- */

int eg_cors_is_preflight(const char *method, const char *acrm)
{
    return method && !strcasecmp(method, "OPTIONS") && acrm && *acrm;
}

size_t eg_cors_response_headers(const cJSON *cors, const char *origin, eg_cors_header_t *out,
                                size_t max)
{
    size_t n = 0;
    if (!cors)
        return 0;
    const cJSON *m = field(cors, "method");
    const char *method = cJSON_IsString(m) ? m->valuestring : "";
    if (!strcasecmp(method, "OPTIONS"))
        return 0; /* rs/cors adds nothing to an actual OPTIONS request */
    add(out, max, &n, H_VARY, "Origin");
    if (!eg_cors_origin_allowed(cors, origin) || !method_allowed(cors, method))
        return n;
    add_allow_origin(cors, origin, out, max, &n);
    return n;
}

/* Checks every requested header and writes their canonical names ("x-foo"
 * -> "X-Foo") joined by ", " into buf. 1 all allowed (and fit), 0 not. */
static int request_headers_allowed(const cJSON *cors, const char *list, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    if (!list)
        return 1;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        size_t nlen = (size_t)(b - a);
        if (nlen) {
            for (const char *q = a; q < b; q++)
                if (!is_tchar((unsigned char)*q))
                    return 0;
            if (!header_allowed(cors, a, nlen))
                return 0;
            size_t sep = used ? 2 : 0;
            if (used + sep + nlen + 1 > len)
                return 0; /* cannot be answered in one header value */
            if (sep) {
                memcpy(buf + used, ", ", 2);
                used += 2;
            }
            int up = 1;
            for (const char *q = a; q < b; q++) {
                buf[used++] = (char)(up ? toupper((unsigned char)*q) : tolower((unsigned char)*q));
                up = *q == '-';
            }
            buf[used] = '\0';
        }
        if (!*end)
            return 1;
        p = end + 1;
    }
}

int eg_cors_preflight(const cJSON *cors, const char *origin, const char *req_method,
                      const char *req_headers, eg_cors_header_t *out, size_t max, size_t *n)
{
    size_t cnt = 0;
    char methods[32], headers[VALUE_MAX];
    int ok = 0;
    if (!cors)
        goto done;
    add(out, max, &cnt, H_VARY,
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    if (!eg_cors_origin_allowed(cors, origin) || !req_method || !*req_method)
        goto done;
    size_t mlen = strlen(req_method);
    if (mlen >= sizeof methods)
        goto done;
    for (size_t i = 0; i <= mlen; i++) {
        if (i < mlen && !is_tchar((unsigned char)req_method[i]))
            goto done;
        methods[i] = (char)toupper((unsigned char)req_method[i]);
    }
    if (!method_allowed(cors, methods))
        goto done;
    if (!request_headers_allowed(cors, req_headers, headers, sizeof headers))
        goto done;
    ok = 1;
    add(out, max, &cnt, H_ALLOW_ORIGIN,
        origins_all(cors) && !allow_credentials(cors) ? "*" : origin);
    add(out, max, &cnt, H_ALLOW_METHODS, methods);
    if (headers[0])
        add(out, max, &cnt, H_ALLOW_HEADERS, headers);
    if (allow_credentials(cors))
        add(out, max, &cnt, H_ALLOW_CREDENTIALS, "true");
done:
    if (n)
        *n = cnt;
    return ok;
}
