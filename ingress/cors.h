/*
 * cors.h: the CORS answers of the Events API, from a CORS configuration
 * (the API object of the Config API's `cors` resource: allowedOrigins,
 * allowedMethods, allowedHeaders, allowCredentials, method, path). Knows
 * nothing of HTTP libraries: it returns the headers to send.
 *
 * Behaviour of event-gateway 0.9, which handed the configuration to
 * github.com/rs/cors v1.x (router/router.go, OptionsPassthrough false):
 *  - The configuration is the one of (space, method, path) of the request,
 *    found with eg_config_cors_match; for a preflight (OPTIONS with an
 *    Access-Control-Request-Method header, see eg_cors_is_preflight) the
 *    method looked up is the Access-Control-Request-Method. Without a
 *    configuration nothing here applies: no CORS headers at all.
 *  - A preflight is answered by the gateway itself, status
 *    EG_CORS_PREFLIGHT_STATUS (200, empty body), allowed or not; only the
 *    headers differ. It is never turned into an event.
 *  - Origins: "*" as an entry allows any origin; "*" inside an entry stands
 *    for any run of characters (an entry "https://" followed by
 *    "*.example.com" allows "https://x.example.com", not
 *    "https://example.com" nor "http://x.example.com"); comparison is
 *    case-insensitive (an origin is scheme://host[:port]).
 *  - Access-Control-Allow-Origin is "*" when every origin is allowed and
 *    credentials are not; otherwise the request's Origin, echoed (never "*"
 *    with allowCredentials).
 *  - Methods are compared upper-cased; OPTIONS is always allowed as the
 *    requested method of a preflight. An actual request whose method (the
 *    configuration's `method`, which is how it was found) is not in
 *    allowedMethods gets no CORS headers; an actual OPTIONS request gets none.
 *  - Headers: names compared case-insensitively; "Origin" is always allowed,
 *    "*" in allowedHeaders allows any. Every requested header must be allowed.
 *  - The preflight answer names the requested method in
 *    Access-Control-Allow-Methods and the requested headers (canonical case,
 *    "x-foo" -> "X-Foo", joined by ", ") in Access-Control-Allow-Headers, as
 *    rs/cors does; no Access-Control-Max-Age (0.9 set none).
 *  - Vary: rs/cors sends "Vary: Origin" on every actual response and
 *    "Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
 *    on every preflight answer once a configuration applies, whatever the
 *    verdict, so that caches keep answers per origin; the functions below
 *    return it (as one header) in those cases too.
 *
 * Pure functions of their arguments: thread safe, no allocation.
 */
#ifndef EG_CORS_H
#define EG_CORS_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* The status of every preflight answer (rs/cors v1.x with OptionsPassthrough false). */
#define EG_CORS_PREFLIGHT_STATUS 200
/* Enough room for any answer of the functions below. */
#define EG_CORS_MAX_HEADERS 8

/* One header to add. name is a static string; value is NUL-terminated. */
typedef struct {
    const char *name;
    char value[1024];
} eg_cors_header_t;

/* 1 when the request is a CORS preflight: method OPTIONS (any case) and a
 * non-empty Access-Control-Request-Method (acrm may be NULL). */
int eg_cors_is_preflight(const char *method, const char *acrm);

/* 1 when origin is allowed by the configuration's allowedOrigins, 0 when
 * not, or when cors or origin is NULL or empty, or origin is longer than
 * 1023 bytes or holds control characters (it could not be echoed). */
int eg_cors_origin_allowed(const cJSON *cors, const char *origin);

/* Does the configuration allow every origin ("*") with credentials? The
 * answer then names the request's own origin with Allow-Credentials, so any
 * web page can make credentialed requests (what browsers refuse for a
 * literal "*"): allowed, as in 0.9, but the Config API warns. */
int eg_cors_any_origin_with_credentials(const cJSON *cors);

/* For an actual (non-preflight) request matched to `cors`: writes the
 * headers to add to the response into out (at most max) and returns how
 * many. Returns 0 when cors is NULL. Otherwise out holds Vary: Origin, and,
 * when origin is present and allowed and the method allowed, also
 * Access-Control-Allow-Origin and (allowCredentials) Access-Control-Allow-
 * Credentials: true. The caller tells "CORS allowed" apart by looking for
 * Access-Control-Allow-Origin. */
size_t eg_cors_response_headers(const cJSON *cors, const char *origin, eg_cors_header_t *out,
                                size_t max);

/* For a preflight matched to `cors` (found with req_method): req_method is
 * the Access-Control-Request-Method, req_headers the
 * Access-Control-Request-Headers (comma-separated, optional spaces, may be
 * NULL or empty). Writes the headers of the answer into out (at most max,
 * count in *n, n may be NULL) and returns 1 when the preflight is allowed:
 * Vary, Access-Control-Allow-Origin, -Allow-Methods, -Allow-Headers (when
 * headers were requested) and -Allow-Credentials (when configured). Returns
 * 0 when it is not allowed (origin, method or a header refused, a requested
 * header name that is not an HTTP token, or an answer that does not fit in
 * 1023 bytes): out then holds only the Vary header (or nothing when cors is
 * NULL). Either way the caller answers EG_CORS_PREFLIGHT_STATUS with
 * these headers and no body. */
int eg_cors_preflight(const cJSON *cors, const char *origin, const char *req_method,
                      const char *req_headers, eg_cors_header_t *out, size_t max, size_t *n);

/* Test hook and building block: 1 when s matches pattern, where '*' stands
 * for any run of characters (none included) and the rest compares
 * case-insensitively (ASCII). Linear in strlen(s) per pattern segment: no
 * backtracking blow-up. */
int eg_cors__wildcard_match(const char *pattern, const char *s);

#endif /* EG_CORS_H */
