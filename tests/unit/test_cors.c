/*
 * Unit tests of CORS: the CORS index of core/eg_config (eg_config_cors_match,
 * kept up to date by create / update / delete, per space and method, path
 * conflicts) and ingress/cors.c (origin wildcards, actual-response headers,
 * preflight verdicts and answers, as event-gateway 0.9 gave them through
 * rs/cors v1.x).
 *
 * Bodies are written with ' for " (converted before use) to stay readable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "eg_config.h"
#include "cors.h"

static eg_config_t *g;

static int setup(void **state)
{
    g = eg_config_new();
    return g ? 0 : -1;
}

static int teardown(void **state)
{
    eg_config_free(g);
    g = NULL;
    return 0;
}

/* ---- helpers ---- */

static char *q(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    assert_non_null(o);
    for (size_t i = 0; i <= n; i++)
        o[i] = s[i] == '\'' ? '"' : s[i];
    return o;
}

/* Runs one change through eg_change_from_request and eg_config_apply. 0 ok
 * (*id set to the resource id when id is not NULL; caller frees), -1 with err. */
static int change(eg_op_t op, const char *space, const char *url_id, const char *body,
                  eg_error_t *err, char **id)
{
    char *b = body ? q(body) : NULL;
    eg_change_t c;
    int rc = eg_change_from_request(&c, op, EG_KIND_CORS, space, url_id, b, b ? strlen(b) : 0, err);
    free(b);
    if (rc)
        return rc;
    rc = eg_config_apply(g, &c, err);
    if (!rc && id)
        *id = strdup(c.id);
    eg_change_release(&c);
    return rc;
}

static char *create_ok(int line, const char *space, const char *body)
{
    eg_error_t err;
    char *id = NULL;
    if (change(EG_OP_CREATE, space, NULL, body, &err, &id))
        fail_msg("line %d: create %s: %d %s", line, body, err.status, err.message);
    return id;
}
#define CREATE(space, body) create_ok(__LINE__, space, body)

static void create_fails(int line, const char *space, const char *body, int status, const char *msg)
{
    eg_error_t err;
    size_t before = eg_config_count(g, EG_KIND_CORS, NULL);
    if (!change(EG_OP_CREATE, space, NULL, body, &err, NULL))
        fail_msg("line %d: create %s: expected %d, got success", line, body, status);
    if (err.status != status || !strstr(err.message, msg))
        fail_msg("line %d: expected %d \"%s\", got %d \"%s\"", line, status, msg, err.status,
                 err.message);
    if (eg_config_count(g, EG_KIND_CORS, NULL) != before)
        fail_msg("line %d: a refused create changed the model", line);
}
#define CREATE_FAILS(space, body, status, msg) create_fails(__LINE__, space, body, status, msg)

static const char *sfield(const cJSON *o, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(f) ? f->valuestring : NULL;
}

/* The corsId of the configuration matched for (space, method, path), or NULL. */
static const char *match_id(const char *space, const char *method, const char *path)
{
    const cJSON *o = eg_config_cors_match(g, space, method, path);
    return o ? sfield(o, "corsId") : NULL;
}

static void assert_match(int line, const char *space, const char *method, const char *path,
                         const char *want)
{
    const char *got = match_id(space, method, path);
    if (!want && got)
        fail_msg("line %d: %s %s %s matched %s, expected none", line, space, method, path, got);
    if (want && (!got || strcmp(got, want)))
        fail_msg("line %d: %s %s %s matched %s, expected %s", line, space, method, path,
                 got ? got : "(none)", want);
}
#define MATCH(space, method, path, want) assert_match(__LINE__, space, method, path, want)

/* A standalone configuration object (no model), from ' JSON. */
static cJSON *cfg_obj(const char *json)
{
    char *b = q(json);
    cJSON *o = cJSON_Parse(b);
    free(b);
    assert_non_null(o);
    return o;
}

/* A configuration as the Config API stores it (defaults filled). */
static cJSON *normalised(const char *body)
{
    char *b = q(body);
    eg_change_t c;
    eg_error_t err;
    int rc =
        eg_change_from_request(&c, EG_OP_CREATE, EG_KIND_CORS, "default", NULL, b, strlen(b), &err);
    free(b);
    if (rc)
        fail_msg("normalised %s: %s", body, err.message);
    cJSON *o = c.data;
    c.data = NULL;
    eg_change_release(&c);
    return o;
}

/* The value of header name in out[0..n), NULL when absent; fails when present twice. */
static const char *hdr(const eg_cors_header_t *h, size_t n, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(h[i].name, name)) {
            if (v)
                fail_msg("header %s twice", name);
            v = h[i].value;
        }
    return v;
}

#define ACAO "Access-Control-Allow-Origin"
#define ACAM "Access-Control-Allow-Methods"
#define ACAH "Access-Control-Allow-Headers"
#define ACAC "Access-Control-Allow-Credentials"
#define PREFLIGHT_VARY "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

/* ---- the index ---- */

static void test_index_create_update_delete(void **state)
{
    char *id = CREATE("default", "{'method':'GET','path':'/hello'}");
    assert_string_equal(id, "GET%2Fhello");
    MATCH("default", "GET", "/hello", "GET%2Fhello");
    MATCH("default", "get", "/hello", "GET%2Fhello"); /* method compared upper-cased */
    MATCH("default", "GET", "/hello/", "GET%2Fhello");
    MATCH("default", "POST", "/hello", NULL);
    MATCH("default", "GET", "/hello/x", NULL);
    MATCH("default", "GET", "/", NULL);
    MATCH("default", "GET", "/hell", NULL);
    MATCH("other", "GET", "/hello", NULL);
    MATCH("default", "VERYLONGMETHODNAME", "/hello", NULL);
    assert_null(eg_config_cors_match(g, NULL, "GET", "/hello"));
    assert_null(eg_config_cors_match(g, "default", NULL, "/hello"));
    assert_null(eg_config_cors_match(g, "default", "GET", NULL));

    /* the match is the stored object, borrowed */
    assert_ptr_equal(eg_config_cors_match(g, "default", "GET", "/hello"),
                     eg_config_peek(g, EG_KIND_CORS, "default", id));

    /* update: the index follows the new object */
    eg_error_t err;
    assert_int_equal(change(EG_OP_UPDATE, "default", id,
                            "{'method':'GET','path':'/hello','allowedOrigins':['http://a.com'],"
                            "'metadata':{'v':'2'}}",
                            &err, NULL),
                     0);
    const cJSON *o = eg_config_cors_match(g, "default", "GET", "/hello");
    assert_ptr_equal(o, eg_config_peek(g, EG_KIND_CORS, "default", id));
    assert_string_equal(sfield(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "v"), "2");
    assert_true(eg_cors_origin_allowed(o, "http://a.com"));
    assert_false(eg_cors_origin_allowed(o, "http://b.com"));

    /* method and path stay as they are: the index is untouched */
    assert_int_equal(
        change(EG_OP_UPDATE, "default", id, "{'method':'POST','path':'/hello'}", &err, NULL), -1);
    assert_int_equal(err.status, 400);
    assert_int_equal(
        change(EG_OP_UPDATE, "default", id, "{'method':'GET','path':'/bye'}", &err, NULL), -1);
    assert_int_equal(err.status, 400);
    MATCH("default", "GET", "/hello", "GET%2Fhello");
    MATCH("default", "GET", "/bye", NULL);
    MATCH("default", "POST", "/hello", NULL);

    /* delete */
    assert_int_equal(change(EG_OP_DELETE, "default", id, NULL, &err, NULL), 0);
    MATCH("default", "GET", "/hello", NULL);
    assert_int_equal(change(EG_OP_DELETE, "default", id, NULL, &err, NULL), -1);
    assert_int_equal(err.status, 404);
    free(id);

    /* and again */
    id = CREATE("default", "{'method':'GET','path':'/hello'}");
    MATCH("default", "GET", "/hello", "GET%2Fhello");
    free(id);
}

static void test_index_spaces_and_methods(void **state)
{
    free(CREATE("s-one", "{'method':'GET','path':'/x','metadata':{'s':'1'}}"));
    free(CREATE("s-two", "{'method':'GET','path':'/x','metadata':{'s':'2'}}"));
    free(CREATE("s-one", "{'method':'post','path':'/x'}"));
    const cJSON *o1 = eg_config_cors_match(g, "s-one", "GET", "/x");
    const cJSON *o2 = eg_config_cors_match(g, "s-two", "GET", "/x");
    assert_non_null(o1);
    assert_non_null(o2);
    assert_string_equal(sfield(cJSON_GetObjectItemCaseSensitive(o1, "metadata"), "s"), "1");
    assert_string_equal(sfield(cJSON_GetObjectItemCaseSensitive(o2, "metadata"), "s"), "2");
    MATCH("s-one", "POST", "/x", "POST%2Fx");
    MATCH("s-two", "POST", "/x", NULL);

    eg_error_t err;
    assert_int_equal(change(EG_OP_DELETE, "s-one", "GET%2Fx", NULL, &err, NULL), 0);
    MATCH("s-one", "GET", "/x", NULL);
    MATCH("s-two", "GET", "/x", "GET%2Fx");
    MATCH("s-one", "POST", "/x", "POST%2Fx");
}

static void test_index_params_and_wildcards(void **state)
{
    free(CREATE("default", "{'method':'GET','path':'/'}"));
    free(CREATE("default", "{'method':'GET','path':'/users/:id'}"));
    free(CREATE("default", "{'method':'GET','path':'/users/:id/posts/:post'}"));
    free(CREATE("default", "{'method':'GET','path':'/files/*rest'}"));
    free(CREATE("default", "{'method':'GET','path':'/static/a'}"));

    MATCH("default", "GET", "/", "GET%2F");
    MATCH("default", "GET", "/users/42", "GET%2Fusers%2F:id");
    MATCH("default", "GET", "/users/42/", "GET%2Fusers%2F:id");
    MATCH("default", "GET", "/users", NULL);
    MATCH("default", "GET", "/users/42/x", NULL);
    MATCH("default", "GET", "/users/42/posts/7", "GET%2Fusers%2F:id%2Fposts%2F:post");
    MATCH("default", "GET", "/files/a", "GET%2Ffiles%2F%2Arest");
    MATCH("default", "GET", "/files/a/b/c", "GET%2Ffiles%2F%2Arest");
    MATCH("default", "GET", "/files", NULL);
    MATCH("default", "GET", "/static/a", "GET%2Fstatic%2Fa");
    MATCH("default", "GET", "/static/b", NULL);
    MATCH("default", "GET", "/users//42", NULL);
    MATCH("default", "POST", "/users/42", NULL);
}

/* Decision: a create that conflicts in the (space, method) tree, or that
 * names an existing route spelled differently, is refused with 409. */
static void test_index_conflicts(void **state)
{
    free(CREATE("default", "{'method':'GET','path':'/u/:id'}"));
    free(CREATE("default", "{'method':'GET','path':'/a'}"));
    free(CREATE("default", "{'method':'GET','path':'/f/*p'}"));

    CREATE_FAILS("default", "{'method':'GET','path':'/u/:name'}", 409, "path conflict");
    CREATE_FAILS("default", "{'method':'GET','path':'/u/me'}", 409, "path conflict");
    CREATE_FAILS("default", "{'method':'GET','path':'/u/*all'}", 409, "path conflict");
    CREATE_FAILS("default", "{'method':'GET','path':'/f/x'}", 409, "path conflict");
    CREATE_FAILS("default", "{'method':'GET','path':'/f/:x'}", 409, "path conflict");
    CREATE_FAILS("default", "{'method':'GET','path':'/a/'}", 409,
                 "CORS configuration \"GET%2Fa\" already exists.");
    CREATE_FAILS("default", "{'method':'GET','path':'/u/:id/'}", 409,
                 "CORS configuration \"GET%2Fu%2F:id\" already exists.");
    CREATE_FAILS("default", "{'method':'GET','path':'/a'}", 409,
                 "CORS configuration \"GET%2Fa\" already exists.");
    CREATE_FAILS("default", "{'method':'get','path':'/a'}", 409, "already exists");

    /* deeper routes beside existing ones are fine */
    free(CREATE("default", "{'method':'GET','path':'/u/:id/x'}"));
    free(CREATE("default", "{'method':'GET','path':'/a/b'}"));
    MATCH("default", "GET", "/u/1/x", "GET%2Fu%2F:id%2Fx");
    MATCH("default", "GET", "/a/b", "GET%2Fa%2Fb");
    MATCH("default", "GET", "/a", "GET%2Fa");

    /* other method or space: another tree */
    free(CREATE("default", "{'method':'PUT','path':'/u/:name'}"));
    free(CREATE("other", "{'method':'GET','path':'/u/:name'}"));
    free(CREATE("other", "{'method':'GET','path':'/a/'}"));
    MATCH("other", "GET", "/a", "GET%2Fa%2F");

    /* the tree is unchanged by the refusals */
    MATCH("default", "GET", "/u/7", "GET%2Fu%2F:id");
    MATCH("default", "GET", "/f/x", "GET%2Ff%2F%2Ap");

    /* once the conflicting one is gone, the other fits */
    eg_error_t err;
    assert_int_equal(change(EG_OP_DELETE, "default", "GET%2Fu%2F:id%2Fx", NULL, &err, NULL), 0);
    assert_int_equal(change(EG_OP_DELETE, "default", "GET%2Fu%2F:id", NULL, &err, NULL), 0);
    free(CREATE("default", "{'method':'GET','path':'/u/:name'}"));
    MATCH("default", "GET", "/u/7", "GET%2Fu%2F:name");
    assert_int_equal(change(EG_OP_DELETE, "default", "GET%2Fa", NULL, &err, NULL), 0);
    free(CREATE("default", "{'method':'GET','path':'/a/'}"));
    MATCH("default", "GET", "/a", "GET%2Fa%2F");
}

/* ---- origins ---- */

static void test_wildcard_match(void **state)
{
    assert_true(eg_cors__wildcard_match("*", ""));
    assert_true(eg_cors__wildcard_match("*", "anything"));
    assert_true(eg_cors__wildcard_match("abc", "ABC"));
    assert_false(eg_cors__wildcard_match("abc", "abcd"));
    assert_false(eg_cors__wildcard_match("abcd", "abc"));
    assert_true(eg_cors__wildcard_match("a*", "a"));
    assert_true(eg_cors__wildcard_match("*c", "abc"));
    assert_false(eg_cors__wildcard_match("*c", "abcd"));
    assert_true(eg_cors__wildcard_match("a*b*c", "abc"));
    assert_true(eg_cors__wildcard_match("a*b*c", "aXbYbZc"));
    assert_false(eg_cors__wildcard_match("a*b*c", "aXcYb"));
    assert_true(eg_cors__wildcard_match("a**c", "ac"));
    /* prefix and suffix may not overlap */
    assert_false(eg_cors__wildcard_match("ab*ba", "aba"));
    assert_true(eg_cors__wildcard_match("ab*ba", "abba"));
    assert_true(eg_cors__wildcard_match("a*ab*b", "aabb"));
    assert_false(eg_cors__wildcard_match("a*ab*b", "abab"));
    assert_true(eg_cors__wildcard_match("a*ab*b", "aabab"));
    assert_false(eg_cors__wildcard_match(NULL, "a"));
    assert_false(eg_cors__wildcard_match("a", NULL));

    /* a pattern that makes backtracking matchers explode stays fast */
    char s[1100], p[300];
    memset(s, 'a', 1000);
    s[1000] = '\0';
    size_t j = 0;
    for (int i = 0; i < 120; i++) {
        p[j++] = 'a';
        p[j++] = '*';
    }
    p[j++] = 'b';
    p[j] = '\0';
    clock_t t0 = clock();
    for (int i = 0; i < 100; i++)
        assert_false(eg_cors__wildcard_match(p, s));
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
    s[999] = 'b';
    assert_true(eg_cors__wildcard_match(p, s));
}

static void test_origin_allowed(void **state)
{
    cJSON *c =
        cfg_obj("{'allowedOrigins':['https://*.a.com','http://exact.org','HTTP://UP.ORG:8080']}");
    assert_true(eg_cors_origin_allowed(c, "https://x.a.com"));
    assert_true(eg_cors_origin_allowed(c, "https://y.x.a.com"));
    assert_true(eg_cors_origin_allowed(c, "HTTPS://X.A.COM"));
    assert_false(eg_cors_origin_allowed(c, "https://a.com"));
    assert_false(eg_cors_origin_allowed(c, "http://x.a.com"));
    assert_false(eg_cors_origin_allowed(c, "https://x.a.com.evil.net"));
    assert_false(eg_cors_origin_allowed(c, "https://xa.com"));
    assert_true(eg_cors_origin_allowed(c, "http://exact.org"));
    assert_true(eg_cors_origin_allowed(c, "http://Exact.ORG"));
    assert_false(eg_cors_origin_allowed(c, "http://exact.org:81"));
    assert_false(eg_cors_origin_allowed(c, "https://exact.org"));
    assert_true(eg_cors_origin_allowed(c, "http://up.org:8080"));
    assert_false(eg_cors_origin_allowed(c, ""));
    assert_false(eg_cors_origin_allowed(c, NULL));
    assert_false(eg_cors_origin_allowed(NULL, "http://exact.org"));
    assert_false(eg_cors_origin_allowed(c, "null"));
    cJSON_Delete(c);

    c = cfg_obj("{'allowedOrigins':['http://nope.org','*']}");
    assert_true(eg_cors_origin_allowed(c, "http://anything.example"));
    assert_true(eg_cors_origin_allowed(c, "null"));
    assert_false(eg_cors_origin_allowed(c, ""));
    assert_false(eg_cors_origin_allowed(c, "http://a\r\nSet-Cookie: x"));
    char big[1100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(eg_cors_origin_allowed(c, big)); /* could not be echoed */
    cJSON_Delete(c);

    c = cfg_obj("{'allowedOrigins':['null']}");
    assert_true(eg_cors_origin_allowed(c, "null"));
    assert_false(eg_cors_origin_allowed(c, "http://a.b"));
    cJSON_Delete(c);
}

/* ---- actual requests ---- */

static void test_response_headers(void **state)
{
    eg_cors_header_t h[EG_CORS_MAX_HEADERS];
    size_t n;

    /* defaults: any origin, no credentials: "*" */
    cJSON *c = normalised("{'method':'POST','path':'/x'}");
    n = eg_cors_response_headers(c, "http://site.org", h, EG_CORS_MAX_HEADERS);
    assert_int_equal(n, 2);
    assert_string_equal(hdr(h, n, "Vary"), "Origin");
    assert_string_equal(hdr(h, n, ACAO), "*");
    assert_null(hdr(h, n, ACAC));
    assert_null(hdr(h, n, ACAM));
    /* no Origin: only Vary */
    n = eg_cors_response_headers(c, NULL, h, EG_CORS_MAX_HEADERS);
    assert_int_equal(n, 1);
    assert_string_equal(hdr(h, n, "Vary"), "Origin");
    n = eg_cors_response_headers(c, "", h, EG_CORS_MAX_HEADERS);
    assert_int_equal(n, 1);
    /* room for one header only */
    n = eg_cors_response_headers(c, "http://site.org", h, 1);
    assert_int_equal(n, 1);
    assert_int_equal(eg_cors_response_headers(c, "http://site.org", h, 0), 0);
    assert_int_equal(eg_cors_response_headers(NULL, "http://site.org", h, EG_CORS_MAX_HEADERS), 0);
    cJSON_Delete(c);

    /* listed origins: echoed; others only Vary */
    c = normalised("{'method':'GET','path':'/x','allowedOrigins':['https://*.a.com']}");
    n = eg_cors_response_headers(c, "https://X.a.com", h, EG_CORS_MAX_HEADERS);
    assert_int_equal(n, 2);
    assert_string_equal(hdr(h, n, ACAO), "https://X.a.com");
    n = eg_cors_response_headers(c, "https://a.com", h, EG_CORS_MAX_HEADERS);
    assert_int_equal(n, 1);
    assert_null(hdr(h, n, ACAO));
    assert_string_equal(hdr(h, n, "Vary"), "Origin");
    cJSON_Delete(c);

    /* credentials: the origin is echoed, never "*", and Allow-Credentials: true */
    c = normalised("{'method':'GET','path':'/x','allowCredentials':true}");
    n = eg_cors_response_headers(c, "http://site.org", h, EG_CORS_MAX_HEADERS);
    assert_int_equal(n, 3);
    assert_string_equal(hdr(h, n, ACAO), "http://site.org");
    assert_string_equal(hdr(h, n, ACAC), "true");
    assert_string_equal(hdr(h, n, "Vary"), "Origin");
    cJSON_Delete(c);

    /* the request's method (the configuration's) must be allowed: PUT is not by default */
    c = normalised("{'method':'PUT','path':'/x'}");
    n = eg_cors_response_headers(c, "http://site.org", h, EG_CORS_MAX_HEADERS);
    assert_int_equal(n, 1);
    assert_null(hdr(h, n, ACAO));
    cJSON_Delete(c);
    c = normalised("{'method':'PUT','path':'/x','allowedMethods':['put']}");
    n = eg_cors_response_headers(c, "http://site.org", h, EG_CORS_MAX_HEADERS);
    assert_int_equal(n, 2);
    assert_string_equal(hdr(h, n, ACAO), "*");
    cJSON_Delete(c);

    /* an actual OPTIONS request gets nothing (rs/cors) */
    c = normalised("{'method':'OPTIONS','path':'/x','allowedMethods':['OPTIONS']}");
    assert_int_equal(eg_cors_response_headers(c, "http://site.org", h, EG_CORS_MAX_HEADERS), 0);
    cJSON_Delete(c);
}

/* ---- preflight ---- */

static void test_is_preflight(void **state)
{
    assert_true(eg_cors_is_preflight("OPTIONS", "POST"));
    assert_true(eg_cors_is_preflight("options", "post"));
    assert_false(eg_cors_is_preflight("OPTIONS", ""));
    assert_false(eg_cors_is_preflight("OPTIONS", NULL));
    assert_false(eg_cors_is_preflight("POST", "POST"));
    assert_false(eg_cors_is_preflight(NULL, "POST"));
}

static void test_preflight_allowed(void **state)
{
    eg_cors_header_t h[EG_CORS_MAX_HEADERS];
    size_t n = 99;
    cJSON *c = normalised("{'method':'POST','path':'/x'}");

    assert_int_equal(
        eg_cors_preflight(c, "http://site.org", "POST", NULL, h, EG_CORS_MAX_HEADERS, &n), 1);
    assert_int_equal(n, 3);
    assert_string_equal(hdr(h, n, "Vary"), PREFLIGHT_VARY);
    assert_string_equal(hdr(h, n, ACAO), "*");
    assert_string_equal(hdr(h, n, ACAM), "POST");
    assert_null(hdr(h, n, ACAH));
    assert_null(hdr(h, n, ACAC));
    assert_null(hdr(h, n, "Access-Control-Max-Age"));

    /* the requested method is echoed upper-cased; requested headers in canonical case */
    assert_int_equal(eg_cors_preflight(c, "http://site.org", "post",
                                       " content-type ,ACCEPT,, origin\t,", h, EG_CORS_MAX_HEADERS,
                                       &n),
                     1);
    assert_int_equal(n, 4);
    assert_string_equal(hdr(h, n, ACAM), "POST");
    assert_string_equal(hdr(h, n, ACAH), "Content-Type, Accept, Origin");
    /* an empty header list is no header */
    assert_int_equal(
        eg_cors_preflight(c, "http://site.org", "GET", " , ", h, EG_CORS_MAX_HEADERS, &n), 1);
    assert_null(hdr(h, n, ACAH));
    assert_string_equal(hdr(h, n, ACAM), "GET");
    /* OPTIONS as the requested method is always allowed (rs/cors) */
    assert_int_equal(
        eg_cors_preflight(c, "http://site.org", "OPTIONS", "", h, EG_CORS_MAX_HEADERS, &n), 1);
    /* n may be NULL */
    assert_int_equal(
        eg_cors_preflight(c, "http://site.org", "HEAD", NULL, h, EG_CORS_MAX_HEADERS, NULL), 1);
    cJSON_Delete(c);

    /* "*" in allowedHeaders allows any header name */
    c = normalised("{'method':'POST','path':'/x','allowedHeaders':['*']}");
    assert_int_equal(eg_cors_preflight(c, "http://site.org", "POST", "x-any-THING, authorization",
                                       h, EG_CORS_MAX_HEADERS, &n),
                     1);
    assert_string_equal(hdr(h, n, ACAH), "X-Any-Thing, Authorization");
    cJSON_Delete(c);

    /* credentials: echo the origin, never "*" */
    c = normalised("{'method':'PUT','path':'/x','allowedOrigins':['*'],"
                   "'allowedMethods':['PUT','DELETE'],'allowedHeaders':['X-Token'],"
                   "'allowCredentials':true}");
    assert_int_equal(
        eg_cors_preflight(c, "https://app.example", "PUT", "x-token", h, EG_CORS_MAX_HEADERS, &n),
        1);
    assert_int_equal(n, 5);
    assert_string_equal(hdr(h, n, ACAO), "https://app.example");
    assert_string_equal(hdr(h, n, ACAC), "true");
    assert_string_equal(hdr(h, n, ACAM), "PUT");
    assert_string_equal(hdr(h, n, ACAH), "X-Token");
    assert_string_equal(hdr(h, n, "Vary"), PREFLIGHT_VARY);
    cJSON_Delete(c);

    /* a listed origin is echoed */
    c = normalised("{'method':'GET','path':'/x','allowedOrigins':['https://*.a.com']}");
    assert_int_equal(
        eg_cors_preflight(c, "https://x.a.com", "GET", NULL, h, EG_CORS_MAX_HEADERS, &n), 1);
    assert_string_equal(hdr(h, n, ACAO), "https://x.a.com");
    cJSON_Delete(c);
}

static void test_preflight_denied(void **state)
{
    eg_cors_header_t h[EG_CORS_MAX_HEADERS];
    size_t n = 99;
    cJSON *c = normalised("{'method':'POST','path':'/x','allowedOrigins':['https://*.a.com'],"
                          "'allowedHeaders':['X-Ok']}");
#define DENIED(origin, method, headers)                                                            \
    do {                                                                                           \
        n = 99;                                                                                    \
        assert_int_equal(                                                                          \
            eg_cors_preflight(c, origin, method, headers, h, EG_CORS_MAX_HEADERS, &n), 0);         \
        assert_int_equal(n, 1);                                                                    \
        assert_string_equal(hdr(h, n, "Vary"), PREFLIGHT_VARY);                                    \
        assert_null(hdr(h, n, ACAO));                                                              \
    } while (0)

    DENIED("https://a.com", "POST", NULL);  /* origin */
    DENIED("http://x.a.com", "POST", NULL); /* origin scheme */
    DENIED(NULL, "POST", NULL);             /* no origin */
    DENIED("", "POST", NULL);
    DENIED("https://x.a.com", "PUT", NULL);      /* method */
    DENIED("https://x.a.com", "DELETE", "x-ok"); /* method */
    DENIED("https://x.a.com", "", NULL);         /* no method */
    DENIED("https://x.a.com", NULL, NULL);
    DENIED("https://x.a.com", "PO ST", NULL);                /* not a token */
    DENIED("https://x.a.com", "POST", "x-no");               /* header */
    DENIED("https://x.a.com", "POST", "x-ok, content-type"); /* defaults replaced */
    DENIED("https://x.a.com", "POST", "x-ok, x-no");
    DENIED("https://x.a.com", "POST", "x-ok\r\nx: y"); /* not a token */
    DENIED("https://x.a.com", "POST", "x ok");
    /* allowed for comparison */
    assert_int_equal(
        eg_cors_preflight(c, "https://x.a.com", "POST", "X-OK, Origin", h, EG_CORS_MAX_HEADERS, &n),
        1);
    assert_string_equal(hdr(h, n, ACAH), "X-Ok, Origin");
    cJSON_Delete(c);

    /* an answer that would not fit one header value is refused */
    c = normalised("{'method':'POST','path':'/x','allowedHeaders':['*']}");
    char list[3000];
    size_t j = 0;
    for (int i = 0; i < 300; i++)
        j += (size_t)snprintf(list + j, sizeof list - j, "%sx-h%03d", i ? "," : "", i);
    DENIED("http://o.org", "POST", list);
    cJSON_Delete(c);
#undef DENIED

    /* no configuration: nothing */
    n = 99;
    assert_int_equal(
        eg_cors_preflight(NULL, "http://o.org", "POST", NULL, h, EG_CORS_MAX_HEADERS, &n), 0);
    assert_int_equal(n, 0);
}

/* From the model to the answer, as the Events API will use it. */
static void test_end_to_end(void **state)
{
    free(CREATE("default", "{'method':'POST','path':'/users/:id','allowedOrigins':"
                           "['https://*.example.com'],'allowCredentials':true}"));
    eg_cors_header_t h[EG_CORS_MAX_HEADERS];
    size_t n;
    /* a preflight looks the configuration up by Access-Control-Request-Method */
    assert_true(eg_cors_is_preflight("OPTIONS", "POST"));
    const cJSON *c = eg_config_cors_match(g, "default", "POST", "/users/7");
    assert_non_null(c);
    assert_int_equal(eg_cors_preflight(c, "https://app.example.com", "POST", "content-type", h,
                                       EG_CORS_MAX_HEADERS, &n),
                     1);
    assert_string_equal(hdr(h, n, ACAO), "https://app.example.com");
    assert_string_equal(hdr(h, n, ACAC), "true");
    assert_null(eg_config_cors_match(g, "default", "OPTIONS", "/users/7"));
    assert_null(eg_config_cors_match(g, "default", "GET", "/users/7"));
    n = eg_cors_response_headers(c, "https://app.example.com", h, EG_CORS_MAX_HEADERS);
    assert_int_equal(n, 3);
    assert_string_equal(hdr(h, n, ACAO), "https://app.example.com");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_index_create_update_delete),
        T(test_index_spaces_and_methods),
        T(test_index_params_and_wildcards),
        T(test_index_conflicts),
        T(test_wildcard_match),
        T(test_origin_allowed),
        T(test_response_headers),
        T(test_is_preflight),
        T(test_preflight_allowed),
        T(test_preflight_denied),
        T(test_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
