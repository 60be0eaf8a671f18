/*
 * Unit tests of core/eg_config: the configuration model and every rule of the
 * Config API (event-gateway 0.9 compatible), driven as the configuration log
 * drives it: eg_change_from_request, then eg_config_check (the writer's
 * up-front verdict), then the change is encoded as a record, decoded again
 * and applied with eg_config_apply (the consumer's verdict). Both verdicts
 * must agree, and every refused change must leave the model unchanged (every
 * list of every kind in every space used here is compared before/after).
 *
 * Bodies are written with ' for " (converted before use) to stay readable.
 *
 * Tests named test_BUG_* expose a defect in core code (see the comment above
 * each): they are expected to fail until the core is fixed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_config.h"
#include "eg_configlog.h"

static eg_config_t *g;      /* the model of the running test */
static unsigned long g_seq; /* record ids */

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

/* A copy of s with every ' turned into ". */
static char *q(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    assert_non_null(o);
    for (size_t i = 0; i <= n; i++)
        o[i] = s[i] == '\'' ? '"' : s[i];
    return o;
}

/* printf into a new string (caller frees). */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    int n = vasprintf(&s, f, ap);
    va_end(ap);
    assert_true(n >= 0);
    return s;
}

/* n copies of c. */
static char *rep(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static const char *const spaces[] = {"default", "other", "third", NULL};

/* Everything the model answers, as one string. */
static char *snapshot(void)
{
    cJSON *all = cJSON_CreateArray();
    for (int k = 0; k < EG_KIND__COUNT; k++) {
        for (int s = 0; spaces[s]; s++)
            cJSON_AddItemToArray(all, eg_config_list(g, (eg_kind_t)k, spaces[s], NULL, 0));
        cJSON_AddItemToArray(all,
                             cJSON_CreateNumber((double)eg_config_count(g, (eg_kind_t)k, NULL)));
    }
    char *out = cJSON_PrintUnformatted(all);
    cJSON_Delete(all);
    assert_non_null(out);
    return out;
}

/* One request, run as the log runs it. 0 (and *idout, a copy of the change's
 * id, when idout) or -1 with err. */
static int run(int line, eg_op_t op, eg_kind_t kind, const char *space, const char *id,
               const char *body, size_t len, eg_error_t *err, char **idout)
{
    eg_change_t c;
    memset(err, 0, sizeof *err);
    memset(&c, 0x5a, sizeof c);
    if (eg_change_from_request(&c, op, kind, space, id, body, len, err) != 0) {
        if (err->status < 400 || err->status > 499 || !err->message[0])
            fail_msg("line %d: eg_change_from_request failed with status %d \"%s\"", line,
                     err->status, err->message);
        if (c.space || c.id || c.data)
            fail_msg("line %d: a refused change is not zeroed", line);
        return -1;
    }
    if (c.op != op || c.kind != kind || !c.space || strcmp(c.space, space) || !c.id ||
        (op == EG_OP_DELETE) != (c.data == NULL))
        fail_msg("line %d: malformed change", line);

    eg_error_t e1 = {0}, e2 = {0}, de = {0};
    int rc1 = eg_config_check(g, &c, &e1);

    char *val = eg_config_record_encode(&c);
    assert_non_null(val);
    char rid[32];
    snprintf(rid, sizeof rid, "t-%lu", ++g_seq);
    char *key = fmt("%s/%s/%s/%s", c.space, eg_kind_name(kind), c.id, rid);
    eg_config_record_t rec;
    if (eg_config_record_decode(key, strlen(key), val, strlen(val), &rec, &de) != 0)
        fail_msg("line %d: an accepted change does not decode from its record: %d %s\n%.300s", line,
                 de.status, de.message, val);
    int same = rec.change.op == c.op && rec.change.kind == c.kind &&
               !strcmp(rec.change.space, c.space) && !strcmp(rec.change.id, c.id) &&
               !strcmp(rec.rid, rid) &&
               ((!rec.change.data && !c.data) || cJSON_Compare(rec.change.data, c.data, 1));
    int rc2 = eg_config_apply(g, &rec.change, &e2);
    if (rc2 == 0 && idout)
        *idout = strdup(c.id);
    eg_config_record_release(&rec);
    free(key);
    free(val);
    eg_change_release(&c);

    if (!same)
        fail_msg("line %d: the record does not round-trip the change", line);
    if (rc1 != rc2 || (rc1 && (e1.status != e2.status || strcmp(e1.message, e2.message))))
        fail_msg("line %d: check said %d (%d %s), apply said %d (%d %s)", line, rc1, e1.status,
                 e1.message, rc2, e2.status, e2.message);
    if (rc2) {
        *err = e2;
        if (err->status < 400 || err->status > 499)
            fail_msg("line %d: status %d (%s)", line, err->status, err->message);
    }
    return rc2;
}

static const char *op_s(eg_op_t op)
{
    return eg_op_name(op);
}

/* Expects success; returns a copy of the stored resource (NULL for delete). */
static cJSON *do_ok(int line, eg_op_t op, eg_kind_t kind, const char *space, const char *id,
                    const char *body)
{
    char *b = body ? q(body) : NULL;
    eg_error_t err;
    char *rid = NULL;
    int rc = run(line, op, kind, space, id, b, b ? strlen(b) : 0, &err, &rid);
    free(b);
    if (rc)
        fail_msg("line %d: %s %s: expected success, got %d \"%s\"", line, op_s(op),
                 eg_kind_name(kind), err.status, err.message);
    cJSON *res = NULL;
    if (op == EG_OP_DELETE) {
        if (eg_config_peek(g, kind, space, rid))
            fail_msg("line %d: deleted resource still there", line);
    } else {
        res = eg_config_get(g, kind, space, rid);
        if (!res)
            fail_msg("line %d: stored resource not found under %s", line, rid);
    }
    free(rid);
    return res;
}

/* Expects a refusal with status and message (exact, or a substring), the
 * model left unchanged. body is raw (no ' conversion) when raw. */
static void do_fail(int line, eg_op_t op, eg_kind_t kind, const char *space, const char *id,
                    const char *body, size_t len, int raw, int status, const char *msg, int exact)
{
    char *b = body && !raw ? q(body) : NULL;
    const char *use = b ? b : body;
    char *before = snapshot();
    eg_error_t err;
    int rc = run(line, op, kind, space, id, use, use && !raw ? strlen(use) : len, &err, NULL);
    char *after = snapshot();
    int unchanged = !strcmp(before, after);
    free(before);
    free(after);
    free(b);
    if (rc == 0)
        fail_msg("line %d: %s %s: expected %d \"%s\", got success", line, op_s(op),
                 eg_kind_name(kind), status, msg ? msg : "");
    if (!unchanged)
        fail_msg("line %d: a refused change modified the model", line);
    if (err.status != status)
        fail_msg("line %d: expected status %d, got %d \"%s\"", line, status, err.status,
                 err.message);
    if (msg && (exact ? strcmp(err.message, msg) != 0 : strstr(err.message, msg) == NULL))
        fail_msg("line %d: expected message %s\"%s\"\n               got \"%s\"", line,
                 exact ? "" : "containing ", msg, err.message);
}

#define ET EG_KIND_EVENTTYPE
#define FN EG_KIND_FUNCTION
#define SUB EG_KIND_SUBSCRIPTION
#define CORS EG_KIND_CORS

#define CREATED(kind, space, body) do_ok(__LINE__, EG_OP_CREATE, kind, space, NULL, body)
#define UPDATED(kind, space, id, body) do_ok(__LINE__, EG_OP_UPDATE, kind, space, id, body)
#define CREATE(kind, space, body) cJSON_Delete(CREATED(kind, space, body))
#define UPDATE(kind, space, id, body) cJSON_Delete(UPDATED(kind, space, id, body))
#define DELETE(kind, space, id) do_ok(__LINE__, EG_OP_DELETE, kind, space, id, NULL)

/* exact message */
#define FAILS(op, kind, space, id, body, status, msg)                                              \
    do_fail(__LINE__, op, kind, space, id, body, 0, 0, status, msg, 1)
/* message containing msg (NULL: any) */
#define FAILS_LIKE(op, kind, space, id, body, status, msg)                                         \
    do_fail(__LINE__, op, kind, space, id, body, 0, 0, status, msg, 0)
#define FAILS_RAW(op, kind, space, id, body, len, status, msg)                                     \
    do_fail(__LINE__, op, kind, space, id, body, len, 1, status, msg, 0)
#define CREATE_FAILS(kind, space, body, status, msg)                                               \
    FAILS_LIKE(EG_OP_CREATE, kind, space, NULL, body, status, msg)

#define INVALID "doesn't validate. Validation error: "

#define HTTP_FN(id) "{'functionId':'" id "','type':'http','provider':{'url':'http://localhost:9/'}}"

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(f))
        fail_msg("field %s missing or not a string", name);
    return f->valuestring;
}

static int has(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name) != NULL;
}

/* Number of entries of the resource's metadata (0 when absent). */
static int md_count(const cJSON *o)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    if (!md)
        return 0;
    assert_true(cJSON_IsObject(md));
    return cJSON_GetArraySize(md);
}

static const char *md(const cJSON *o, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(m, key);
    return cJSON_IsString(f) ? f->valuestring : NULL;
}

/* Compares a JSON array of strings with the given NULL-terminated list. */
static void assert_strings(const cJSON *arr, const char *const *want)
{
    assert_true(cJSON_IsArray(arr));
    int n = 0;
    for (const cJSON *e = arr->child; e; e = e->next, n++) {
        assert_non_null(want[n]);
        assert_true(cJSON_IsString(e));
        assert_string_equal(e->valuestring, want[n]);
    }
    assert_null(want[n]);
}

/* ---- reference implementation of the 0.9 ids (independent of core) ---- */

static char *ref_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(strlen(s) * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p < 0x80 && isalnum(*p)) || strchr("-_.~$&+:=@", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static char *ref_b64url(const char *s)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(s), j = 0;
    char *out = malloc(n * 4 / 3 + 4);
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        out[j++] = t[p[i] >> 2];
        out[j++] = t[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        out[j++] = t[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
        out[j++] = t[p[i + 2] & 63];
    }
    if (n - i == 1) {
        out[j++] = t[p[i] >> 2];
        out[j++] = t[(p[i] & 3) << 4];
    } else if (n - i == 2) {
        out[j++] = t[p[i] >> 2];
        out[j++] = t[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        out[j++] = t[(p[i + 1] & 15) << 2];
    }
    out[j] = '\0';
    return out;
}

static char *ref_sub_id(const char *type, const char *event, const char *fn, const char *path,
                        const char *method)
{
    char *esc = ref_escape(path);
    char *raw = !strcmp(type, "sync") ? fmt("sync,%s,%s,%s", event, esc, method)
                                      : fmt("%s,%s,%s,%s,%s", type, event, fn, esc, method);
    char *id = ref_b64url(raw);
    free(raw);
    free(esc);
    return id;
}

/* Creates a subscription (path/method NULL: omitted); returns its id. */
static char *sub_at(int line, const char *space, const char *type, const char *event,
                    const char *fn, const char *path, const char *method)
{
    char *pp = path ? fmt(",'path':'%s'", path) : strdup("");
    char *mm = method ? fmt(",'method':'%s'", method) : strdup("");
    char *body =
        fmt("{'type':'%s','eventType':'%s','functionId':'%s'%s%s}", type, event, fn, pp, mm);
    cJSON *s = do_ok(line, EG_OP_CREATE, SUB, space, NULL, body);
    char *id = strdup(str(s, "subscriptionId"));
    cJSON_Delete(s);
    free(body);
    free(pp);
    free(mm);
    return id;
}
#define SUBSCRIBE(space, type, event, fn, path, method)                                            \
    sub_at(__LINE__, space, type, event, fn, path, method)

/* Expects the subscription to be refused (no allocation left behind when
 * the expectation fails: the body is on the stack). */
static void sub_fails_at(int line, const char *space, const char *type, const char *event,
                         const char *fn, const char *path, const char *method, int status,
                         const char *msg)
{
    char body[EG_MAX_PATH + 1024];
    snprintf(body, sizeof body, "{'type':'%s','eventType':'%s','functionId':'%s'%s%s%s%s%s%s}",
             type, event, fn, path ? ",'path':'" : "", path ? path : "", path ? "'" : "",
             method ? ",'method':'" : "", method ? method : "", method ? "'" : "");
    do_fail(line, EG_OP_CREATE, SUB, space, NULL, body, 0, 0, status, msg, 0);
}
#define SUBSCRIBE_FAILS(space, type, event, fn, path, method, status, msg)                         \
    sub_fails_at(__LINE__, space, type, event, fn, path, method, status, msg)

/* An event type and a function to subscribe with. */
static void basics(const char *space)
{
    char *b1 = fmt("{'name':'user.created'}");
    char *b2 = fmt(HTTP_FN("sendEmail"));
    CREATE(ET, space, b1);
    CREATE(FN, space, b2);
    free(b1);
    free(b2);
}

/* ---- names and spaces ---- */

static void test_kind_and_op_names(void **state)
{
    const char *names[] = {"eventtypes", "functions", "subscriptions", "cors", "accesskeys"};
    const char *keys[] = {"eventTypes", "functions", "subscriptions", "cors", "accessKeys"};
    for (int k = 0; k < EG_KIND__COUNT; k++) {
        eg_kind_t got;
        assert_string_equal(eg_kind_name((eg_kind_t)k), names[k]);
        assert_string_equal(eg_kind_list_key((eg_kind_t)k), keys[k]);
        assert_int_equal(eg_kind_parse(names[k], strlen(names[k]), &got), 0);
        assert_int_equal(got, k);
    }
    eg_kind_t got;
    assert_int_equal(eg_kind_parse("eventtypesX", 10, &got), 0); /* length bounded */
    assert_int_equal(got, EG_KIND_EVENTTYPE);
    assert_int_equal(eg_kind_parse("eventType", 9, &got), -1);
    assert_int_equal(eg_kind_parse("", 0, &got), -1);
    assert_int_equal(eg_kind_parse("Cors", 4, &got), -1);
    assert_string_equal(eg_op_name(EG_OP_CREATE), "create");
    assert_string_equal(eg_op_name(EG_OP_UPDATE), "update");
    assert_string_equal(eg_op_name(EG_OP_DELETE), "delete");
}

static void test_space_rules(void **state)
{
    eg_error_t err;
    assert_int_equal(eg_space_validate("default", &err), 0);
    assert_int_equal(eg_space_validate("a.b-c_9", &err), 0);
    assert_int_equal(eg_space_validate("abc", &err), 0);
    char *s256 = rep('s', EG_MAX_NAME), *s257 = rep('s', EG_MAX_NAME + 1);
    assert_int_equal(eg_space_validate(s256, &err), 0);
    const char *bad[] = {"", "ab", "a b", "a/b", "dé", "sp%20ace", s257};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(eg_space_validate(bad[i], &err), -1);
        assert_int_equal(err.status, 400);
        FAILS_LIKE(EG_OP_CREATE, ET, bad[i], NULL, "{'name':'x'}", 400, NULL);
        FAILS_LIKE(EG_OP_DELETE, ET, bad[i], "x", NULL, 400, NULL);
    }
    assert_int_equal(eg_space_validate(NULL, &err), -1);
    CREATE(ET, s256, "{'name':'x'}");
    assert_int_equal(eg_config_count(g, ET, s256), 1);
    free(s256);
    free(s257);
}

/* ---- event types ---- */

static void test_eventtype_create_get(void **state)
{
    cJSON *et = CREATED(ET, "default", "{'name':'user.created','metadata':{'team':'a'}}");
    assert_string_equal(str(et, "space"), "default");
    assert_string_equal(str(et, "name"), "user.created");
    assert_false(has(et, "authorizerId"));
    assert_string_equal(md(et, "team"), "a");
    cJSON_Delete(et);
    /* the space comes from the URL, never from the body */
    et = CREATED(ET, "other", "{'name':'x','space':'default'}");
    assert_string_equal(str(et, "space"), "other");
    cJSON_Delete(et);
    assert_null(eg_config_peek(g, ET, "default", "x"));
    assert_null(eg_config_get(g, ET, "default", "nope"));
    assert_null(eg_config_peek(g, ET, "nope", "user.created"));
    FAILS(EG_OP_CREATE, ET, "default", NULL, "{'name':'user.created'}", 409,
          "Event Type \"user.created\" already exists.");
    /* the same name in another space is another event type */
    CREATE(ET, "other", "{'name':'user.created'}");
}

static void test_eventtype_name_rules(void **state)
{
    char *n256 = rep('n', EG_MAX_NAME), *n257 = rep('n', EG_MAX_NAME + 1);
    char *ok = fmt("{'name':'%s'}", n256), *long_ = fmt("{'name':'%s'}", n257);
    const char *bad[] = {"{}",
                         "{'name':''}",
                         "{'name':null}",
                         "{'name':'a b'}",
                         "{'name':'a/b'}",
                         "{'name':'a,b'}",
                         "{'name':'caf\xc3\xa9'}",
                         "{'name':'a%2Fb'}",
                         "{'name':12}",
                         "{'name':true}",
                         "{'name':['x']}",
                         "{'name':{'x':'y'}}",
                         "{'authorizerId':'f'}",
                         long_};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CREATE_FAILS(ET, "default", bad[i], 400, "Event Type " INVALID);
    CREATE(ET, "default", ok);
    CREATE(ET, "default", "{'name':'A-z_0.9'}");
    assert_int_equal(eg_config_count(g, ET, "default"), 2);
    free(n256);
    free(n257);
    free(ok);
    free(long_);
}

static void test_eventtype_authorizer(void **state)
{
    CREATE_FAILS(ET, "default", "{'name':'e','authorizerId':'auth'}", 400, "Authorizer function");
    CREATE_FAILS(ET, "default", "{'name':'e','authorizerId':12}", 400, "Event Type " INVALID);
    CREATE_FAILS(ET, "default", "{'name':'e','authorizerId':'a b'}", 400,
                 "Authorizer function doesn't exists."); /* 0.9: no such function */
    CREATE(FN, "other", HTTP_FN("auth"));                /* another space does not count */
    CREATE_FAILS(ET, "default", "{'name':'e','authorizerId':'auth'}", 400, "Authorizer function");
    CREATE(FN, "default", HTTP_FN("auth"));
    cJSON *et = CREATED(ET, "default", "{'name':'e','authorizerId':'auth'}");
    assert_string_equal(str(et, "authorizerId"), "auth");
    cJSON_Delete(et);
    /* an empty authorizerId is no authorizer */
    et = CREATED(ET, "default", "{'name':'e2','authorizerId':''}");
    assert_false(has(et, "authorizerId"));
    cJSON_Delete(et);
}

static void test_eventtype_update(void **state)
{
    CREATE(FN, "default", HTTP_FN("auth"));
    CREATE(FN, "default", HTTP_FN("auth2"));
    CREATE(ET, "default", "{'name':'e','authorizerId':'auth','metadata':{'a':'1'}}");
    /* the name comes from the URL; authorizer and metadata are replaced */
    cJSON *et = UPDATED(ET, "default", "e",
                        "{'name':'ignored','authorizerId':'auth2','metadata':{'b':'2'}}");
    assert_string_equal(str(et, "name"), "e");
    assert_string_equal(str(et, "authorizerId"), "auth2");
    assert_null(md(et, "a"));
    assert_string_equal(md(et, "b"), "2");
    cJSON_Delete(et);
    assert_null(eg_config_peek(g, ET, "default", "ignored"));
    /* omitting them removes them */
    et = UPDATED(ET, "default", "e", "{}");
    assert_false(has(et, "authorizerId"));
    assert_int_equal(md_count(et), 0);
    cJSON_Delete(et);
    FAILS_LIKE(EG_OP_UPDATE, ET, "default", "e", "{'authorizerId':'nope'}", 400,
               "Authorizer function");
    FAILS_LIKE(EG_OP_UPDATE, ET, "default", "e", "{'metadata':{'a':1}}", 400,
               "Event Type " INVALID);
    FAILS(EG_OP_UPDATE, ET, "default", "missing", "{}", 404, "Event Type \"missing\" not found.");
    FAILS(EG_OP_UPDATE, ET, "other", "e", "{}", 404, "Event Type \"e\" not found.");
    FAILS_LIKE(EG_OP_UPDATE, ET, "default", "", "{}", 404, NULL);
    FAILS_LIKE(EG_OP_UPDATE, ET, "default", NULL, "{}", 404, NULL);
}

static void test_eventtype_delete(void **state)
{
    basics("default");
    CREATE(ET, "default", "{'name':'unused'}");
    char *id = SUBSCRIBE("default", "async", "user.created", "sendEmail", NULL, NULL);
    FAILS(EG_OP_DELETE, ET, "default", "user.created", NULL, 400,
          "Event type cannot be deleted because there are subscriptions using it.");
    DELETE(ET, "default", "unused");
    FAILS(EG_OP_DELETE, ET, "default", "unused", NULL, 404, "Event Type \"unused\" not found.");
    /* a subscription in another space does not hold this one */
    basics("other");
    DELETE(ET, "other", "user.created");
    DELETE(SUB, "default", id);
    /* counted per space, as resources come and go (not per update) */
    assert_int_equal(eg_config_count(g, ET, "default"), 1);
    assert_int_equal(eg_config_count(g, SUB, "default"), 0);
    assert_true(eg_config_space_known(g, "default"));
    assert_false(eg_config_space_known(g, "never-used"));
    DELETE(ET, "default", "user.created");
    assert_int_equal(eg_config_count(g, ET, NULL), 0);
    assert_int_equal(eg_config_count(g, ET, "default"), 0);
    free(id);
}

/* ---- functions ---- */

static void test_function_http(void **state)
{
    cJSON *f =
        CREATED(FN, "default",
                "{'functionId':'f1','type':'http','provider':{'url':'https://example.com/"
                "hook?x=1','headers':{'X-Api-Key':'k','Accept':'*/*'}},'metadata':{'m':'v'}}");
    assert_string_equal(str(f, "space"), "default");
    assert_string_equal(str(f, "functionId"), "f1");
    assert_string_equal(str(f, "type"), "http");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "provider");
    assert_string_equal(str(p, "url"), "https://example.com/hook?x=1");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(p, "headers");
    assert_string_equal(str(h, "X-Api-Key"), "k");
    assert_string_equal(str(h, "Accept"), "*/*");
    assert_string_equal(md(f, "m"), "v");
    cJSON_Delete(f);
    CREATE(FN, "default",
           "{'functionId':'f2','type':'http','provider':{'url':'http://10.0.0.1:8080'}}");

    const char *bad[] = {
        "{'functionId':'x','type':'http','provider':{}}",
        "{'functionId':'x','type':'http','provider':{'url':''}}",
        "{'functionId':'x','type':'http','provider':{'url':null}}",
        "{'functionId':'x','type':'http','provider':{'url':5}}",
        "{'functionId':'x','type':'http','provider':{'url':'ftp://example.com/'}}",
        "{'functionId':'x','type':'http','provider':{'url':'example.com/x'}}",
        "{'functionId':'x','type':'http','provider':{'url':'http://'}}",
        "{'functionId':'x','type':'http','provider':{'url':'https:///path'}}",
        "{'functionId':'x','type':'http','provider':{'url':'http://a b/'}}",
        "{'functionId':'x','type':'http','provider':{'url':'javascript:alert(1)'}}",
        "{'functionId':'x','type':'http','provider':{'url':'http://h/','headers':'x'}}",
        "{'functionId':'x','type':'http','provider':{'url':'http://h/','headers':['a']}}",
        "{'functionId':'x','type':'http','provider':{'url':'http://h/','headers':{'a':1}}}",
        "{'functionId':'x','type':'http','provider':{'url':'http://h/','headers':{'a':{}}}}",
        "{'functionId':'x','type':'http','provider':{'url':'http://h/','headers':{'a':null}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CREATE_FAILS(FN, "default", bad[i], 400, "Function " INVALID);
    CREATE_FAILS(FN, "default", bad[0], 400, "missing required fields for HTTP endpoint");

    /* headers: at most EG_MAX_LIST entries */
    for (int n = EG_MAX_LIST; n <= EG_MAX_LIST + 1; n++) {
        char *hs = strdup("");
        for (int i = 0; i < n; i++) {
            char *t = fmt("%s%s'H%d':'v'", hs, i ? "," : "", i);
            free(hs);
            hs = t;
        }
        char *body =
            fmt("{'functionId':'h%d','type':'http','provider':{'url':'http://h/','headers':{%s}}}",
                n, hs);
        if (n == EG_MAX_LIST)
            CREATE(FN, "default", body);
        else
            CREATE_FAILS(FN, "default", body, 400, "Function " INVALID);
        free(body);
        free(hs);
    }
    /* empty headers are dropped */
    f = CREATED(FN, "default",
                "{'functionId':'f3','type':'http','provider':{'url':'http://h/','headers':{}}}");
    assert_false(has(cJSON_GetObjectItemCaseSensitive(f, "provider"), "headers"));
    cJSON_Delete(f);
}

static void test_function_awslambda(void **state)
{
    cJSON *f = CREATED(FN, "default",
                       "{'functionId':'l1','type':'awslambda','provider':{'arn':'arn:aws:lambda:us-"
                       "east-1:123:function:x','region':'us-east-1'}}");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "provider");
    assert_string_equal(str(p, "arn"), "arn:aws:lambda:us-east-1:123:function:x");
    assert_string_equal(str(p, "region"), "us-east-1");
    assert_false(has(p, "awsAccessKeyId"));
    assert_false(has(p, "endpoint"));
    cJSON_Delete(f);
    f = CREATED(FN, "default",
                "{'functionId':'l2','type':'awslambda','provider':{'arn':'a','region':'r',"
                "'awsAccessKeyId':'AK','awsSecretAccessKey':'SK','awsSessionToken':'ST',"
                "'endpoint':'http://localhost:4566'}}");
    p = cJSON_GetObjectItemCaseSensitive(f, "provider");
    assert_string_equal(str(p, "awsAccessKeyId"), "AK");
    assert_string_equal(str(p, "awsSecretAccessKey"), "SK");
    assert_string_equal(str(p, "awsSessionToken"), "ST");
    assert_string_equal(str(p, "endpoint"), "http://localhost:4566");
    cJSON_Delete(f);
    const char *bad[] = {
        "{'functionId':'x','type':'awslambda','provider':{}}",
        "{'functionId':'x','type':'awslambda','provider':{'arn':'a'}}",
        "{'functionId':'x','type':'awslambda','provider':{'region':'r'}}",
        "{'functionId':'x','type':'awslambda','provider':{'arn':'','region':'r'}}",
        "{'functionId':'x','type':'awslambda','provider':{'arn':'a','region':5}}",
        "{'functionId':'x','type':'awslambda','provider':{'arn':'a','region':'r','awsAccessKeyId':"
        "1}}",
        "{'functionId':'x','type':'awslambda','provider':{'arn':'a','region':'r','endpoint':'ftp://"
        "x'}}",
        "{'functionId':'x','type':'awslambda','provider':{'arn':'a','region':'r','endpoint':7}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CREATE_FAILS(FN, "default", bad[i], 400, "Function " INVALID);
    CREATE_FAILS(FN, "default", bad[1], 400, "missing required fields for AWS Lambda function");
}

/* provider.headers must be valid HTTP (issue 6); kafka functions. */
static void test_function_headers_and_kafka(void **state)
{
    CREATE(FN, "default",
           "{'functionId':'hh','type':'http','provider':{'url':'https://h/','headers':"
           "{'Authorization':'Bearer x','x-functions-key':'k\\tv','X_Y.Z~1':'v'}}}");
    const char *badh[][2] = {
        {"{'functionId':'x','type':'http','provider':{'url':'http://h/','headers':{'a b':'v'}}}",
         "not a valid HTTP header name"},
        {"{'functionId':'x','type':'http','provider':{'url':'http://h/','headers':{'a:b':'v'}}}",
         "not a valid HTTP header name"},
        {"{'functionId':'x','type':'http','provider':{'url':'http://h/','headers':{'a\\nb':'v'}}}",
         "not a valid HTTP header name"},
        {"{'functionId':'x','type':'http','provider':{'url':'http://h/','headers':{'a':'v\\r\\nX: "
         "y'}}}",
         "control characters"},
        {"{'functionId':'x','type':'http','provider':{'url':'http://h/','headers':{'a':'v\\n'}}}",
         "control characters"},
    };
    for (size_t i = 0; i < sizeof badh / sizeof badh[0]; i++)
        CREATE_FAILS(FN, "default", badh[i][0], 400, badh[i][1]);

    cJSON *f = CREATED(FN, "default",
                       "{'functionId':'k1','type':'kafka','provider':{'topic':'orders.out'}}");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "provider");
    assert_string_equal(str(p, "topic"), "orders.out");
    assert_false(has(p, "brokers"));
    cJSON_Delete(f);
    f = CREATED(FN, "default",
                "{'functionId':'k2','type':'kafka','provider':{'topic':'t_1-x','brokers':'a:9092,b:"
                "9092'}}");
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(f, "provider"), "brokers"),
                        "a:9092,b:9092");
    cJSON_Delete(f);
    const char *badk[] = {
        "{'functionId':'x','type':'kafka','provider':{}}",
        "{'functionId':'x','type':'kafka','provider':{'topic':''}}",
        "{'functionId':'x','type':'kafka','provider':{'topic':5}}",
        "{'functionId':'x','type':'kafka','provider':{'topic':'a b'}}",
        "{'functionId':'x','type':'kafka','provider':{'topic':'..'}}",
        "{'functionId':'x','type':'kafka','provider':{'topic':'t','brokers':7}}",
        "{'functionId':'x','type':'kafka','provider':{'topic':'t','brokers':'a:1, b:2'}}",
    };
    for (size_t i = 0; i < sizeof badk / sizeof badk[0]; i++)
        CREATE_FAILS(FN, "default", badk[i], 400, "Function " INVALID);
    CREATE_FAILS(FN, "default", badk[0], 400, "missing required fields for Kafka function");
}

static void test_function_type_provider_id(void **state)
{
    CREATE_FAILS(FN, "default", "{'functionId':'x','type':'gcf','provider':{'url':'http://h/'}}",
                 400, "provider gcf not supported");
    CREATE_FAILS(FN, "default", "{'functionId':'x','type':'HTTP','provider':{'url':'http://h/'}}",
                 400, "not supported");
    CREATE_FAILS(FN, "default", "{'functionId':'x','provider':{'url':'http://h/'}}", 400,
                 "provider configuration not set");
    CREATE_FAILS(FN, "default", "{'functionId':'x','type':'','provider':{'url':'http://h/'}}", 400,
                 "provider configuration not set");
    CREATE_FAILS(FN, "default", "{'functionId':'x','type':1,'provider':{'url':'http://h/'}}", 400,
                 "Function " INVALID);
    const char *noprov[] = {"{'functionId':'x','type':'http'}",
                            "{'functionId':'x','type':'http','provider':null}",
                            "{'functionId':'x','type':'http','provider':'http://h/'}",
                            "{'functionId':'x','type':'http','provider':['http://h/']}"};
    for (size_t i = 0; i < sizeof noprov / sizeof noprov[0]; i++)
        CREATE_FAILS(FN, "default", noprov[i], 400, "Function " INVALID);
    char *i257 = rep('i', EG_MAX_NAME + 1), *i256 = rep('i', EG_MAX_NAME);
    char *b1 = fmt("{'functionId':'%s','type':'http','provider':{'url':'http://h/'}}", i257);
    char *b2 = fmt("{'functionId':'%s','type':'http','provider':{'url':'http://h/'}}", i256);
    const char *badid[] = {"{'type':'http','provider':{'url':'http://h/'}}",
                           "{'functionId':'','type':'http','provider':{'url':'http://h/'}}",
                           "{'functionId':'a b','type':'http','provider':{'url':'http://h/'}}",
                           "{'functionId':'a/b','type':'http','provider':{'url':'http://h/'}}",
                           "{'functionId':3,'type':'http','provider':{'url':'http://h/'}}",
                           b1};
    for (size_t i = 0; i < sizeof badid / sizeof badid[0]; i++)
        CREATE_FAILS(FN, "default", badid[i], 400, "Function " INVALID);
    CREATE(FN, "default", b2);
    free(i257);
    free(i256);
    free(b1);
    free(b2);

    CREATE(FN, "default", HTTP_FN("f"));
    FAILS(EG_OP_CREATE, FN, "default", NULL, HTTP_FN("f"), 409,
          "Function \"f\" already registered.");
    CREATE(FN, "other", HTTP_FN("f"));
}

static void test_function_update(void **state)
{
    CREATE(FN, "default", HTTP_FN("f"));
    cJSON *f = UPDATED(FN, "default", "f",
                       "{'functionId':'ignored','type':'awslambda','provider':{'arn':'a','region':"
                       "'r'},'metadata':{'k':'v'}}");
    assert_string_equal(str(f, "functionId"), "f");
    assert_string_equal(str(f, "type"), "awslambda");
    assert_string_equal(md(f, "k"), "v");
    cJSON_Delete(f);
    assert_null(eg_config_peek(g, FN, "default", "ignored"));
    FAILS_LIKE(EG_OP_UPDATE, FN, "default", "f", "{'type':'http','provider':{}}", 400,
               "Function " INVALID);
    /* validation comes before existence, as in 0.9 */
    FAILS_LIKE(EG_OP_UPDATE, FN, "default", "nope", "{'type':'http','provider':{}}", 400, NULL);
    FAILS(EG_OP_UPDATE, FN, "default", "nope", HTTP_FN("nope"), 404,
          "Function \"nope\" not found.");
}

static void test_function_delete(void **state)
{
    basics("default");
    CREATE(FN, "default", HTTP_FN("auth"));
    CREATE(FN, "default", HTTP_FN("auth2"));
    CREATE(ET, "default", "{'name':'zeta','authorizerId':'auth'}");
    CREATE(ET, "default", "{'name':'alpha','authorizerId':'auth'}");
    CREATE(ET, "other", "{'name':'x'}");
    char *id = SUBSCRIBE("default", "sync", "user.created", "sendEmail", "/", "GET");
    FAILS(EG_OP_DELETE, FN, "default", "auth", NULL, 400,
          "Function auth cannot be deleted because is used as an authorizer for alpha event "
          "type.");
    FAILS(EG_OP_DELETE, FN, "default", "nope", NULL, 404, "Function \"nope\" not found.");
    UPDATE(ET, "default", "alpha", "{}");
    FAILS(EG_OP_DELETE, FN, "default", "auth", NULL, 400,
          "Function auth cannot be deleted because is used as an authorizer for zeta event type.");
    DELETE(ET, "default", "zeta");
    DELETE(FN, "default", "auth");
    DELETE(FN, "default", "auth2");
    FAILS(EG_OP_DELETE, FN, "default", "auth", NULL, 404, "Function \"auth\" not found.");

    /* subscribed: event-gateway 0.9 answers exactly this (its typo "a least"
     * included); checked last because core currently differs (see the report). */
    FAILS_LIKE(EG_OP_DELETE, FN, "default", "sendEmail", NULL, 400,
               "Function cannot be deleted because it's subscribed to a");
    DELETE(SUB, "default", id);
    DELETE(FN, "default", "sendEmail");
    free(id);
}

/* CORE BUG (deviation from event-gateway 0.9, whose message the brief asks
 * for): core/eg_config.c eg_config_check answers "...subscribed to at least
 * one event." where 0.9 answers "...subscribed to a least one event." */
static void test_BUG_function_delete_subscribed_message(void **state)
{
    basics("default");
    char *id = SUBSCRIBE("default", "async", "user.created", "sendEmail", NULL, NULL);
    free(id);
    FAILS(EG_OP_DELETE, FN, "default", "sendEmail", NULL, 400,
          "Function cannot be deleted because it's subscribed to a least one event.");
}

/* ---- subscriptions ---- */

static void test_subscription_defaults_and_id(void **state)
{
    basics("default");
    cJSON *s = CREATED(SUB, "default",
                       "{'type':'async','eventType':'user.created','functionId':'sendEmail',"
                       "'subscriptionId':'mine'}");
    /* base64url, no padding, of "async,user.created,sendEmail,%2F,POST" */
    assert_string_equal(str(s, "subscriptionId"),
                        "YXN5bmMsdXNlci5jcmVhdGVkLHNlbmRFbWFpbCwlMkYsUE9TVA");
    assert_string_equal(str(s, "space"), "default");
    assert_string_equal(str(s, "type"), "async");
    assert_string_equal(str(s, "eventType"), "user.created");
    assert_string_equal(str(s, "functionId"), "sendEmail");
    assert_string_equal(str(s, "path"), "/");
    assert_string_equal(str(s, "method"), "POST");
    assert_null(eg_config_peek(g, SUB, "default", "mine"));
    cJSON_Delete(s);
    DELETE(SUB, "default", "YXN5bmMsdXNlci5jcmVhdGVkLHNlbmRFbWFpbCwlMkYsUE9TVA");

    /* sync: "sync,user.created,%2F,POST", no function in the id */
    char *id = SUBSCRIBE("default", "sync", "user.created", "sendEmail", "", "");
    assert_string_equal(id, "c3luYyx1c2VyLmNyZWF0ZWQsJTJGLFBPU1Q");
    DELETE(SUB, "default", id);
    free(id);

    /* "async,user.created,sendEmail,%2Fusers%2F:id,GET"; missing slash added,
     * method upper-cased */
    s = CREATED(SUB, "default",
                "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':"
                "'users/:id','method':'get'}");
    assert_string_equal(str(s, "subscriptionId"),
                        "YXN5bmMsdXNlci5jcmVhdGVkLHNlbmRFbWFpbCwlMkZ1c2VycyUyRjppZCxHRVQ");
    assert_string_equal(str(s, "path"), "/users/:id");
    assert_string_equal(str(s, "method"), "GET");
    cJSON_Delete(s);

    /* stable: the same id after delete + create, and in a fresh model */
    DELETE(SUB, "default", "YXN5bmMsdXNlci5jcmVhdGVkLHNlbmRFbWFpbCwlMkZ1c2VycyUyRjppZCxHRVQ");
    id = SUBSCRIBE("default", "async", "user.created", "sendEmail", "/users/:id", "GET");
    assert_string_equal(id, "YXN5bmMsdXNlci5jcmVhdGVkLHNlbmRFbWFpbCwlMkZ1c2VycyUyRjppZCxHRVQ");
    free(id);
    eg_change_t c;
    eg_error_t err;
    const char *b = "{\"type\":\"async\",\"eventType\":\"user.created\",\"functionId\":"
                    "\"sendEmail\",\"path\":\"/users/:id\",\"method\":\"GET\"}";
    assert_int_equal(
        eg_change_from_request(&c, EG_OP_CREATE, SUB, "third", NULL, b, strlen(b), &err), 0);
    assert_string_equal(c.id, "YXN5bmMsdXNlci5jcmVhdGVkLHNlbmRFbWFpbCwlMkZ1c2VycyUyRjppZCxHRVQ");
    eg_change_release(&c);
    assert_null(c.id);
    eg_change_release(&c); /* safe on a zeroed change */

    /* PathEscape of unusual characters, against the reference */
    const char *paths[] = {"/a$&+=@~-_.:b", "/caf\xc3\xa9", "/a b/c,d;e", "/files/*rest",
                           "/x%41",         "/q=x=1",       "/:p/s/"};
    const char *methods[] = {"PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "GET", "POST"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char *got =
            SUBSCRIBE("default", "async", "user.created", "sendEmail", paths[i], methods[i]);
        char *want = ref_sub_id("async", "user.created", "sendEmail", paths[i], methods[i]);
        assert_string_equal(got, want);
        for (const char *p = got; *p; p++)
            assert_true(isalnum((unsigned char)*p) || *p == '-' || *p == '_');
        free(got);
        free(want);
    }
}

/* event-gateway 0.9's validation messages, word for word (its validator,
 * go-playground/validator.v9, reported every failing field on a line). */
#define KEY(st, f, tag)                                                                            \
    "Key: '" st "." f "' Error:Field validation for '" f "' failed on the '" tag "' tag"
#define METHODS "eq=GET|eq=POST|eq=DELETE|eq=PUT|eq=PATCH|eq=HEAD|eq=OPTIONS"
#define EXACT(kind, space, body, msg) FAILS(EG_OP_CREATE, kind, space, NULL, body, 400, msg)
static void test_validation_messages_09(void **state)
{
    basics("default");
    /* subscriptions */
    EXACT(SUB, "default", "{'eventType':'user.created','functionId':'sendEmail'}",
          "Subscription " INVALID KEY("Subscription", "Type", "required"));
    EXACT(SUB, "default", "{'type':'later','eventType':'user.created','functionId':'sendEmail'}",
          "Subscription " INVALID KEY("Subscription", "Type", "eq=async|eq=sync"));
    EXACT(SUB, "default", "{'type':'async','functionId':'sendEmail'}",
          "Subscription " INVALID KEY("Subscription", "EventType", "required"));
    EXACT(SUB, "default", "{'type':'async','eventType':'user created','functionId':'sendEmail'}",
          "Subscription " INVALID KEY("Subscription", "EventType", "eventType"));
    EXACT(SUB, "default", "{'type':'async','eventType':'user.created'}",
          "Subscription " INVALID KEY("Subscription", "FunctionID", "required"));
    EXACT(SUB, "default",
          "{'type':'async','eventType':'user.created','functionId':'sendEmail','method':'FOO'}",
          "Subscription " INVALID KEY("Subscription", "Method", METHODS));
    EXACT(SUB, "default", "{'method':'FOO'}",
          "Subscription " INVALID KEY("Subscription", "Type", "required") "\n" KEY(
              "Subscription", "EventType",
              "required") "\n" KEY("Subscription", "FunctionID",
                                   "required") "\n" KEY("Subscription", "Method", METHODS));
    EXACT(SUB, "ab", "{'type':'async','eventType':'user.created','functionId':'sendEmail'}",
          "Subscription " INVALID KEY("Subscription", "Space", "min"));
    EXACT(SUB, "a%b", "{'eventType':'user.created','functionId':'sendEmail'}",
          "Subscription " INVALID KEY("Subscription", "Space",
                                      "space") "\n" KEY("Subscription", "Type", "required"));
    /* event types */
    EXACT(ET, "default", "{}", "Event Type " INVALID KEY("Type", "Name", "required"));
    EXACT(ET, "default", "{'name':''}", "Event Type " INVALID KEY("Type", "Name", "required"));
    EXACT(ET, "ab", "{}",
          "Event Type " INVALID KEY("Type", "Space", "min") "\n" KEY("Type", "Name", "required"));
    EXACT(ET, "default", "{'name':'e','authorizerId':'nope'}",
          "Authorizer function doesn't exists.");
    /* functions: the type and the provider first, then the id */
    EXACT(FN, "default", "{'functionId':'f'}",
          "Function " INVALID "provider configuration not set");
    EXACT(FN, "default", "{'functionId':'f','type':'gcf','provider':{}}",
          "Function " INVALID "provider gcf not supported");
    EXACT(FN, "default", "{'functionId':'f','type':'http','provider':{}}",
          "Function " INVALID "missing required fields for HTTP endpoint");
    EXACT(FN, "default", "{'functionId':'f','type':'http','provider':{'url':'not a url'}}",
          "Function " INVALID "missing required fields for HTTP endpoint");
    EXACT(FN, "default", "{'functionId':'f','type':'awslambda','provider':{'arn':'a'}}",
          "Function " INVALID "missing required fields for AWS Lambda function");
    EXACT(FN, "default", "{'type':'http','provider':{'url':'http://a/'}}",
          "Function " INVALID KEY("Function", "ID", "required"));
    EXACT(FN, "default", "{'functionId':'a b','type':'http','provider':{'url':'http://a/'}}",
          "Function " INVALID KEY("Function", "ID", "functionid"));
    EXACT(
        FN, "ab", "{'type':'http','provider':{'url':'http://a/'}}",
        "Function " INVALID KEY("Function", "Space", "min") "\n" KEY("Function", "ID", "required"));
    /* CORS */
    EXACT(CORS, "default", "{'path':'/a'}",
          "CORS configuration " INVALID KEY("CORS", "Method", METHODS));
    EXACT(CORS, "default", "{'method':'GET','path':'a'}",
          "CORS configuration " INVALID KEY("CORS", "Path", "path"));
    EXACT(CORS, "default", "{}",
          "CORS configuration " INVALID KEY("CORS", "Method", METHODS) "\n" KEY("CORS", "Path",
                                                                                "path"));
}

static void test_subscription_validation(void **state)
{
    basics("default");
    char *l257 = rep('e', EG_MAX_NAME + 1), *p2049 = rep('p', EG_MAX_PATH);
    char *b1 = fmt("{'type':'async','eventType':'%s','functionId':'sendEmail'}", l257);
    char *b2 = fmt("{'type':'async','eventType':'user.created','functionId':'%s'}", l257);
    char *b3 = fmt(
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'/%s'}", p2049);
    const char *bad[] = {
        "{'eventType':'user.created','functionId':'sendEmail'}",
        "{'type':'','eventType':'user.created','functionId':'sendEmail'}",
        "{'type':'ASYNC','eventType':'user.created','functionId':'sendEmail'}",
        "{'type':'http','eventType':'user.created','functionId':'sendEmail'}",
        "{'type':1,'eventType':'user.created','functionId':'sendEmail'}",
        "{'type':'async','functionId':'sendEmail'}",
        "{'type':'async','eventType':'','functionId':'sendEmail'}",
        "{'type':'async','eventType':'user created','functionId':'sendEmail'}",
        "{'type':'async','eventType':'user/created','functionId':'sendEmail'}",
        "{'type':'async','eventType':['user.created'],'functionId':'sendEmail'}",
        "{'type':'async','eventType':'user.created'}",
        "{'type':'async','eventType':'user.created','functionId':''}",
        "{'type':'async','eventType':'user.created','functionId':{}}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','method':'FOO'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','method':'CONNECT'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','method':'TRACE'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','method':'"
        "GETGETGETGETGETGETGET'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','method':'GE T'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','method':2}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':5}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'/a//b'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'//'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'/:'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'/*w/x'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'/:a/:a'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'/:a-b'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','metadata':{'a':1}}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','metadata':'x'}",
        b1,
        b3,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CREATE_FAILS(SUB, "default", bad[i], 400, "Subscription " INVALID);
    /* a function id no function can have: not found, as in 0.9 */
    CREATE_FAILS(SUB, "default", "{'type':'async','eventType':'user.created','functionId':'a b'}",
                 400, "Function \"a b\" not found.");
    CREATE_FAILS(SUB, "default", b2, 400, "not found.");
    free(l257);
    free(p2049);
    free(b1);
    free(b2);
    free(b3);
    /* unknown references */
    SUBSCRIBE_FAILS("default", "async", "nope", "sendEmail", NULL, NULL, 400,
                    "Event Type \"nope\" not found.");
    SUBSCRIBE_FAILS("default", "sync", "user.created", "nope", NULL, NULL, 400,
                    "Function \"nope\" not found.");
    SUBSCRIBE_FAILS("other", "async", "user.created", "sendEmail", NULL, NULL, 400,
                    "Event Type \"user.created\" not found.");
    /* every method of the list works, in any case */
    const char *ms[] = {"get", "Post", "DELETE", "put", "patch", "head", "options"};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        char *id = SUBSCRIBE("default", "async", "user.created", "sendEmail", "/m", ms[i]);
        cJSON *s = eg_config_get(g, SUB, "default", id);
        for (const char *a = ms[i], *b = str(s, "method"); *a || *b; a++, b++)
            assert_int_equal(toupper((unsigned char)*a), *b);
        cJSON_Delete(s);
        free(id);
    }
    /* a path of EG_MAX_PATH bytes is fine */
    char *seg = rep('s', EG_MAX_PATH - 1), *p = fmt("/%s", seg);
    free(SUBSCRIBE("default", "async", "user.created", "sendEmail", p, NULL));
    free(seg);
    free(p);
}

static void test_subscription_duplicates(void **state)
{
    basics("default");
    CREATE(FN, "default", HTTP_FN("other"));
    char *a = SUBSCRIBE("default", "async", "user.created", "sendEmail", "/a", NULL);
    char *msg = fmt("Subscription \"%s\" already exists.", a);
    FAILS(EG_OP_CREATE, SUB, "default", NULL,
          "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'/a'}", 409,
          msg);
    /* the same spelled differently: missing slash, method case */
    FAILS(EG_OP_CREATE, SUB, "default", NULL,
          "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'a','method':"
          "'post'}",
          409, msg);
    free(msg);
    /* the same tuple under the other type */
    SUBSCRIBE_FAILS("default", "sync", "user.created", "sendEmail", "/a", NULL, 409, NULL);
    /* another function may take the sync one */
    char *s = SUBSCRIBE("default", "sync", "user.created", "other", "/a", NULL);
    assert_string_not_equal(a, s);
    /* ... and then the async one of that function is the same tuple */
    SUBSCRIBE_FAILS("default", "async", "user.created", "other", "/a", NULL, 409, NULL);
    /* a second sync on (eventType, path, method), whatever the function */
    msg = fmt("Subscription \"%s\" already exists.", s);
    SUBSCRIBE_FAILS("default", "sync", "user.created", "sendEmail", "/a", "POST", 409, msg);
    SUBSCRIBE_FAILS("default", "sync", "user.created", "sendEmail", "a", "post", 409, msg);
    free(msg);
    /* other method, other event type, other space: no conflict */
    CREATE(ET, "default", "{'name':'user.deleted'}");
    free(SUBSCRIBE("default", "sync", "user.created", "sendEmail", "/a", "GET"));
    free(SUBSCRIBE("default", "sync", "user.deleted", "sendEmail", "/a", NULL));
    basics("other");
    free(SUBSCRIBE("other", "sync", "user.created", "sendEmail", "/a", NULL));
    /* more async subscriptions on one path are fine */
    CREATE(FN, "default", HTTP_FN("third"));
    free(SUBSCRIBE("default", "async", "user.created", "third", "/a", NULL));
    /* deleting frees the tuple */
    DELETE(SUB, "default", s);
    free(SUBSCRIBE("default", "sync", "user.created", "other", "/a", NULL));
    free(a);
    free(s);
}

/* CORE BUG: core/eg_config.c check_subscription_create (the loop over
 * eg_pathtree_match results, `!strcmp(s->path, path)`): a second sync
 * subscription on the same (eventType, path, method) spelled with a trailing
 * slash ("/a/" after "/a") gets another id and passes: the tree treats both
 * as one route, but the stored paths differ, so the strcmp never matches.
 * Expected 409, got success (two sync subscriptions on one route). */
static void test_BUG_sync_duplicate_trailing_slash(void **state)
{
    basics("default");
    CREATE(FN, "default", HTTP_FN("other"));
    free(SUBSCRIBE("default", "sync", "user.created", "sendEmail", "/a", NULL));
    free(SUBSCRIBE("default", "sync", "user.created", "sendEmail", "/users/:id/", "GET"));
    SUBSCRIBE_FAILS("default", "sync", "user.created", "other", "/users/:id", "GET", 409, NULL);
    SUBSCRIBE_FAILS("default", "sync", "user.created", "other", "/a/", NULL, 409, NULL);
}

static void test_subscription_path_conflicts(void **state)
{
    basics("default");
    CREATE(FN, "default", HTTP_FN("f2"));
    CREATE(ET, "default", "{'name':'e2'}");
    basics("other");
    char *users = SUBSCRIBE("default", "sync", "user.created", "sendEmail", "/users/:id", NULL);
    free(SUBSCRIBE("default", "sync", "user.created", "sendEmail", "/items/foo", NULL));
    free(SUBSCRIBE("default", "sync", "user.created", "sendEmail", "/files/*rest", NULL));
    free(SUBSCRIBE("default", "sync", "user.created", "sendEmail", "/docs/a", NULL));

#define PC "Subscription path conflict: "
    SUBSCRIBE_FAILS("default", "sync", "user.created", "f2", "/users/:name", NULL, 409,
                    PC "parameter with different name (\"id\") already defined: for route: "
                       "/users/:name");
    SUBSCRIBE_FAILS("default", "sync", "user.created", "f2", "/users/foo", NULL, 409,
                    PC "parameter with different name (\"id\") already defined: for route: "
                       "/users/foo");
    SUBSCRIBE_FAILS("default", "sync", "user.created", "f2", "/items/:id", NULL, 409,
                    PC "static route already defined for route: /items/:id");
    SUBSCRIBE_FAILS("default", "sync", "user.created", "f2", "/files/x", NULL, 409,
                    PC "wildcard with different name (\"rest\") already defined: for route: "
                       "/files/x");
    SUBSCRIBE_FAILS("default", "sync", "user.created", "f2", "/files/*other", NULL, 409,
                    PC "wildcard with different name (\"rest\") already defined: for route: "
                       "/files/*other");
    SUBSCRIBE_FAILS("default", "sync", "user.created", "f2", "/files/:x", NULL, 409,
                    PC "wildcard with different name (\"rest\")");
    SUBSCRIBE_FAILS("default", "sync", "user.created", "f2", "/docs/*all", NULL, 409,
                    PC "wildcard with different name (\"\") already defined: for route: "
                       "/docs/*all");
    /* async subscriptions share the routing tree, so they conflict too */
    SUBSCRIBE_FAILS("default", "async", "user.created", "f2", "/users/:name", NULL, 409, PC);
#undef PC
    /* no conflict: deeper or sibling routes, another method, event type or space */
    free(SUBSCRIBE("default", "sync", "user.created", "sendEmail", "/users/:id/posts", NULL));
    free(SUBSCRIBE("default", "sync", "user.created", "sendEmail", "/items/bar", NULL));
    free(SUBSCRIBE("default", "sync", "user.created", "f2", "/users/:name", "GET"));
    free(SUBSCRIBE("default", "sync", "e2", "f2", "/users/:name", NULL));
    free(SUBSCRIBE("other", "sync", "user.created", "sendEmail", "/users/:name", NULL));
    free(SUBSCRIBE("default", "async", "user.created", "f2", "/users/:id", NULL));
    /* deleting frees the path (once every subscription on it is gone) */
    char *deep = ref_sub_id("sync", "user.created", "", "/users/:id/posts", "POST");
    char *async_id = ref_sub_id("async", "user.created", "f2", "/users/:id", "POST");
    DELETE(SUB, "default", users);
    DELETE(SUB, "default", async_id);
    SUBSCRIBE_FAILS("default", "sync", "user.created", "f2", "/users/:name", NULL, 409, NULL);
    DELETE(SUB, "default", deep);
    free(SUBSCRIBE("default", "sync", "user.created", "f2", "/users/:name", NULL));
    free(deep);
    free(async_id);
    free(users);
}

static void test_subscription_update(void **state)
{
    basics("default");
    CREATE(FN, "default", HTTP_FN("f2"));
    CREATE(ET, "default", "{'name':'e2'}");
    cJSON *s = CREATED(SUB, "default",
                       "{'type':'async','eventType':'user.created','functionId':'sendEmail',"
                       "'path':'/users/:id','method':'GET','metadata':{'a':'1'}}");
    char *id = strdup(str(s, "subscriptionId"));
    cJSON_Delete(s);
#define BODY(type, et, fn, path, method)                                                           \
    "{'type':'" type "','eventType':'" et "','functionId':'" fn "','path':'" path                  \
    "','method':'" method "','metadata':{'a':'2','b':'3'}}"
    s = UPDATED(SUB, "default", id,
                BODY("async", "user.created", "sendEmail", "/users/:id", "GET"));
    assert_string_equal(str(s, "subscriptionId"), id);
    assert_string_equal(md(s, "a"), "2");
    assert_string_equal(md(s, "b"), "3");
    assert_string_equal(str(s, "path"), "/users/:id");
    cJSON_Delete(s);
    /* spelled differently but equal after normalisation */
    UPDATE(SUB, "default", id,
           "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'users/"
           ":id','method':'get'}");
    s = eg_config_get(g, SUB, "default", id);
    assert_int_equal(md_count(s), 0);
    cJSON_Delete(s);
#define IU(f) "Invalid update. '" f "' of existing subscription cannot be updated."
    FAILS(EG_OP_UPDATE, SUB, "default", id,
          BODY("sync", "user.created", "sendEmail", "/users/:id", "GET"), 400, IU("Type"));
    FAILS(EG_OP_UPDATE, SUB, "default", id, BODY("async", "e2", "sendEmail", "/users/:id", "GET"),
          400, IU("EventType"));
    FAILS(EG_OP_UPDATE, SUB, "default", id,
          BODY("async", "user.created", "f2", "/users/:id", "GET"), 400, IU("FunctionID"));
    FAILS(EG_OP_UPDATE, SUB, "default", id,
          BODY("async", "user.created", "sendEmail", "/users/:name", "GET"), 400, IU("Path"));
    FAILS(EG_OP_UPDATE, SUB, "default", id,
          BODY("async", "user.created", "sendEmail", "/users/:id/", "GET"), 400, IU("Path"));
    FAILS(EG_OP_UPDATE, SUB, "default", id,
          BODY("async", "user.created", "sendEmail", "/users/:id", "POST"), 400, IU("Method"));
    /* defaults apply to what is omitted: POST is not GET */
    FAILS(
        EG_OP_UPDATE, SUB, "default", id,
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'/users/:id'}",
        400, IU("Method"));
    /* the first difference in 0.9's order is reported */
    FAILS(EG_OP_UPDATE, SUB, "default", id, BODY("sync", "e2", "f2", "/x", "PUT"), 400, IU("Type"));
    FAILS(EG_OP_UPDATE, SUB, "default", id, BODY("async", "user.created", "f2", "/x", "PUT"), 400,
          IU("FunctionID"));
#undef IU
    FAILS_LIKE(EG_OP_UPDATE, SUB, "default", id, "{'type':'async'}", 400, "Subscription " INVALID);
    FAILS(EG_OP_UPDATE, SUB, "default", "bm9wZQ",
          BODY("async", "user.created", "sendEmail", "/users/:id", "GET"), 404,
          "Subscription \"bm9wZQ\" not found.");
    FAILS(EG_OP_UPDATE, SUB, "other", id,
          BODY("async", "user.created", "sendEmail", "/users/:id", "GET"), 404, NULL);
    FAILS(EG_OP_DELETE, SUB, "default", "bm9wZQ", NULL, 404, "Subscription \"bm9wZQ\" not found.");
#undef BODY
    /* after an update the routing entry still frees the path on delete */
    SUBSCRIBE_FAILS("default", "async", "user.created", "f2", "/users/:name", "GET", 409, NULL);
    DELETE(SUB, "default", id);
    FAILS(EG_OP_DELETE, SUB, "default", id, NULL, 404, NULL);
    free(SUBSCRIBE("default", "async", "user.created", "f2", "/users/:name", "GET"));
    free(id);
}

/* CORE BUG: core/eg_config.c keys the model with fixed buffers:
 * KEYBUF = EG_MAX_PATH*3 + 2*EG_MAX_NAME + 64 = 6720 bytes (item_key is
 * snprintf'd into it), but a valid subscription id can be longer: path
 * "/" + 2047 x "%" escapes to 6144 bytes and its base64url id has ~8200
 * chars. Two such subscriptions differing only in method get the same
 * truncated key: the second is refused 409 "already exists". Also
 * eg_change_from_request refuses ids longer than EG_MAX_PATH*3+32 (6176) with
 * 404, so a subscription whose id is longer (path "/" + 1600 x "%", id 6423
 * chars) is created but can never be deleted or updated. */
static void test_BUG_long_subscription_ids(void **state)
{
    basics("default");
    char *pct = rep('%', 1600), *p = fmt("/%s", pct);
    char *id = SUBSCRIBE("default", "async", "user.created", "sendEmail", p, "GET");
    assert_true(strlen(id) > EG_MAX_PATH * 3 + 32);
    eg_change_t c;
    eg_error_t err1, err2;
    int rc1 = eg_change_from_request(&c, EG_OP_DELETE, SUB, "default", id, NULL, 0, &err1);
    if (rc1 == 0)
        eg_change_release(&c);
    free(id);
    free(pct);
    free(p);

    pct = rep('%', EG_MAX_PATH - 1);
    p = fmt("/%s", pct);
    free(SUBSCRIBE("default", "async", "user.created", "sendEmail", p, "GET"));
    char *body = fmt("{'type':'async','eventType':'user.created','functionId':'sendEmail',"
                     "'path':'%s','method':'POST'}",
                     p);
    char *b = q(body);
    int rc2 = run(__LINE__, EG_OP_CREATE, SUB, "default", NULL, b, strlen(b), &err2, NULL);
    free(b);
    free(body);
    free(pct);
    free(p);
    if (rc1 || rc2)
        fail_msg("delete of a subscription with a 6448-char id: %s %d \"%s\"; second long-path "
                 "subscription (other method): %s %d \"%.80s\"",
                 rc1 ? "refused" : "ok", rc1 ? err1.status : 0, rc1 ? err1.message : "",
                 rc2 ? "refused" : "ok", rc2 ? err2.status : 0, rc2 ? err2.message : "");
}

/* ---- CORS ---- */

static void test_cors(void **state)
{
    cJSON *c = CREATED(CORS, "default", "{'method':'GET','path':'/hello','corsId':'mine'}");
    assert_string_equal(str(c, "corsId"), "GET%2Fhello");
    assert_string_equal(str(c, "space"), "default");
    assert_string_equal(str(c, "method"), "GET");
    assert_string_equal(str(c, "path"), "/hello");
    const char *o[] = {"*", NULL}, *m[] = {"HEAD", "GET", "POST", NULL},
               *h[] = {"Origin", "Accept", "Content-Type", NULL};
    assert_strings(cJSON_GetObjectItemCaseSensitive(c, "allowedOrigins"), o);
    assert_strings(cJSON_GetObjectItemCaseSensitive(c, "allowedMethods"), m);
    assert_strings(cJSON_GetObjectItemCaseSensitive(c, "allowedHeaders"), h);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c, "allowCredentials")));
    cJSON_Delete(c);
    assert_null(eg_config_peek(g, CORS, "default", "mine"));
    FAILS(EG_OP_CREATE, CORS, "default", NULL, "{'method':'GET','path':'/hello'}", 409,
          "CORS configuration \"GET%2Fhello\" already exists.");
    FAILS(EG_OP_CREATE, CORS, "default", NULL,
          "{'method':'GET','path':'/hello','allowedOrigins':['http://x']}", 409,
          "CORS configuration \"GET%2Fhello\" already exists.");
    CREATE(CORS, "default", "{'method':'POST','path':'/hello'}");
    CREATE(CORS, "other", "{'method':'GET','path':'/hello'}");
    c = CREATED(CORS, "default",
                "{'method':'PUT','path':'/a b/:id','allowedOrigins':['https://*.example.com'],"
                "'allowedMethods':['get','PUT'],'allowedHeaders':['X-Custom'],'allowCredentials':"
                "true,'metadata':{'k':'v'}}");
    assert_string_equal(str(c, "corsId"), "PUT%2Fa%20b%2F:id");
    const char *o2[] = {"https://*.example.com", NULL}, *m2[] = {"GET", "PUT", NULL},
               *h2[] = {"X-Custom", NULL};
    assert_strings(cJSON_GetObjectItemCaseSensitive(c, "allowedOrigins"), o2);
    assert_strings(cJSON_GetObjectItemCaseSensitive(c, "allowedMethods"), m2);
    assert_strings(cJSON_GetObjectItemCaseSensitive(c, "allowedHeaders"), h2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "allowCredentials")));
    assert_string_equal(md(c, "k"), "v");
    cJSON_Delete(c);
    /* empty arrays take the defaults */
    c = CREATED(CORS, "default",
                "{'method':'GET','path':'/d','allowedOrigins':[],'allowedMethods':null}");
    assert_strings(cJSON_GetObjectItemCaseSensitive(c, "allowedOrigins"), o);
    assert_strings(cJSON_GetObjectItemCaseSensitive(c, "allowedMethods"), m);
    cJSON_Delete(c);

    char *many = strdup("");
    for (int i = 0; i <= EG_MAX_LIST; i++) {
        char *t = fmt("%s%s'http://o%d'", many, i ? "," : "", i);
        free(many);
        many = t;
    }
    char *b65 = fmt("{'method':'GET','path':'/x','allowedOrigins':[%s]}", many);
    const char *bad[] = {
        "{'path':'/x'}",
        "{'method':'','path':'/x'}",
        "{'method':'GET'}",
        "{'method':'GET','path':''}",
        "{'method':'GET','path':'x'}",
        "{'method':'GET','path':'/a//b'}",
        "{'method':'FOO','path':'/x'}",
        "{'method':'CONNECT','path':'/x'}",
        "{'method':1,'path':'/x'}",
        "{'method':'GET','path':{}}",
        "{'method':'GET','path':'/x','allowCredentials':'true'}",
        "{'method':'GET','path':'/x','allowCredentials':1}",
        "{'method':'GET','path':'/x','allowCredentials':{}}",
        "{'method':'GET','path':'/x','allowedOrigins':'*'}",
        "{'method':'GET','path':'/x','allowedOrigins':[1]}",
        "{'method':'GET','path':'/x','allowedOrigins':['']}",
        "{'method':'GET','path':'/x','allowedOrigins':[null]}",
        "{'method':'GET','path':'/x','allowedMethods':['FOO']}",
        "{'method':'GET','path':'/x','allowedHeaders':{}}",
        "{'method':'GET','path':'/x','metadata':{'k':2}}",
        b65,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CREATE_FAILS(CORS, "default", bad[i], 400, "CORS configuration " INVALID);
    /* EG_MAX_LIST entries are fine */
    char *b64 = fmt("{'method':'GET','path':'/x','allowedOrigins':[%s]}", strchr(many, ',') + 1);
    c = CREATED(CORS, "default", b64);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(c, "allowedOrigins")),
                     EG_MAX_LIST);
    cJSON_Delete(c);
    free(many);
    free(b65);
    free(b64);
}

static void test_cors_update_delete(void **state)
{
    CREATE(CORS, "default", "{'method':'GET','path':'/hello'}");
    cJSON *c = UPDATED(CORS, "default", "GET%2Fhello",
                       "{'method':'GET','path':'/hello','corsId':'x','allowedOrigins':['http://a'],"
                       "'allowedHeaders':['H'],'allowCredentials':true,'metadata':{'k':'v'}}");
    assert_string_equal(str(c, "corsId"), "GET%2Fhello");
    const char *o[] = {"http://a", NULL}, *h[] = {"H", NULL};
    assert_strings(cJSON_GetObjectItemCaseSensitive(c, "allowedOrigins"), o);
    assert_strings(cJSON_GetObjectItemCaseSensitive(c, "allowedHeaders"), h);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "allowCredentials")));
    assert_string_equal(md(c, "k"), "v");
    cJSON_Delete(c);
    assert_null(eg_config_peek(g, CORS, "default", "x"));
    FAILS(EG_OP_UPDATE, CORS, "default", "GET%2Fhello", "{'method':'POST','path':'/hello'}", 400,
          "Invalid update. 'Method' of existing CORS configuration cannot be updated.");
    FAILS(EG_OP_UPDATE, CORS, "default", "GET%2Fhello", "{'method':'GET','path':'/other'}", 400,
          "Invalid update. 'Path' of existing CORS configuration cannot be updated.");
    FAILS(EG_OP_UPDATE, CORS, "default", "GET%2Fhello", "{'method':'POST','path':'/other'}", 400,
          "Invalid update. 'Method' of existing CORS configuration cannot be updated.");
    FAILS_LIKE(EG_OP_UPDATE, CORS, "default", "GET%2Fhello", "{'path':'/hello'}", 400,
               "CORS configuration " INVALID);
    FAILS_LIKE(EG_OP_UPDATE, CORS, "default", "GET%2Fhello",
               "{'method':'GET','path':'/hello','allowCredentials':'yes'}", 400,
               "CORS configuration " INVALID);
    FAILS(EG_OP_UPDATE, CORS, "default", "GET%2Fnope", "{'method':'GET','path':'/nope'}", 404,
          "CORS configuration \"GET%2Fnope\" not found.");
    /* an update with defaults resets the lists */
    c = UPDATED(CORS, "default", "GET%2Fhello", "{'method':'GET','path':'/hello'}");
    const char *o2[] = {"*", NULL};
    assert_strings(cJSON_GetObjectItemCaseSensitive(c, "allowedOrigins"), o2);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c, "allowCredentials")));
    cJSON_Delete(c);
    DELETE(CORS, "default", "GET%2Fhello");
    FAILS(EG_OP_DELETE, CORS, "default", "GET%2Fhello", NULL, 404,
          "CORS configuration \"GET%2Fhello\" not found.");
    CREATE(CORS, "default", "{'method':'GET','path':'/hello'}");
}

/* ---- metadata and lists ---- */

/* 0.9 left empty fields out of its answers (`json:"metadata,omitempty"`):
 * a resource without metadata, or with an empty one, has no "metadata" key;
 * so does one applied from a record that carries "metadata":{}. */
static void test_metadata_omitted_when_empty(void **state)
{
    CREATE(FN, "default", HTTP_FN("fn"));
    CREATE(ET, "default", "{'name':'ev'}");
    static const struct {
        eg_kind_t kind;
        const char *body;
    } k[] = {
        {ET, "{'name':'e1'"},
        {FN, "{'functionId':'f1','type':'http','provider':{'url':'http://a/'}"},
        {SUB, "{'type':'async','eventType':'ev','functionId':'fn','path':'/p'"},
        {CORS, "{'method':'GET','path':'/c'"},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        const char *extra[] = {"", ",'metadata':{}", ",'metadata':null", ",'metadata':{'a':'1'}"};
        for (size_t j = 0; j < 4; j++) {
            char *body = fmt("%s%s}", k[i].body, extra[j]);
            cJSON *o = CREATED(k[i].kind, "default", body);
            assert_int_equal(has(o, "metadata"), j == 3);
            const char *id = str(o, k[i].kind == SUB  ? "subscriptionId"
                                    : k[i].kind == ET ? "name"
                                    : k[i].kind == FN ? "functionId"
                                                      : "corsId");
            char *upd =
                fmt("%s%s}", k[i].body, j == 3 ? ",'metadata':{}" : ",'metadata':{'b':'2'}");
            cJSON *u = UPDATED(k[i].kind, "default", id, upd);
            assert_int_equal(has(u, "metadata"), j != 3);
            cJSON_Delete(u);
            DELETE(k[i].kind, "default", id);
            cJSON_Delete(o);
            free(upd);
            free(body);
        }
    }
    eg_change_t c = {.op = EG_OP_CREATE, .kind = ET};
    c.space = strdup("default");
    c.id = strdup("raw");
    c.data = cJSON_Parse("{\"space\":\"default\",\"name\":\"raw\",\"metadata\":{}}");
    eg_error_t err;
    assert_int_equal(eg_config_apply(g, &c, &err), 0);
    eg_change_release(&c);
    assert_false(has(eg_config_peek(g, ET, "default", "raw"), "metadata"));
}

static void test_metadata_rules(void **state)
{
    cJSON *e = CREATED(ET, "default", "{'name':'m0','metadata':null}");
    assert_int_equal(md_count(e), 0);
    cJSON_Delete(e);
    e = CREATED(ET, "default", "{'name':'m1','metadata':{'a':'1','B':'','c d':'x y'}}");
    assert_int_equal(md_count(e), 3);
    assert_string_equal(md(e, "a"), "1");
    assert_string_equal(md(e, "B"), "");
    assert_string_equal(md(e, "c d"), "x y");
    cJSON_Delete(e);
    const char *bad[] = {"{'name':'x','metadata':'a=1'}",
                         "{'name':'x','metadata':['a']}",
                         "{'name':'x','metadata':1}",
                         "{'name':'x','metadata':true}",
                         "{'name':'x','metadata':{'a':1}}",
                         "{'name':'x','metadata':{'a':true}}",
                         "{'name':'x','metadata':{'a':null}}",
                         "{'name':'x','metadata':{'a':['1']}}",
                         "{'name':'x','metadata':{'a':{'b':'c'}}}",
                         "{'name':'x','metadata':{'':'v'}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CREATE_FAILS(ET, "default", bad[i], 400, "Event Type " INVALID);

    /* bounds: entries, key and value sizes */
    for (int n = EG_MAX_METADATA; n <= EG_MAX_METADATA + 1; n++) {
        char *ms = strdup("");
        for (int i = 0; i < n; i++) {
            char *t = fmt("%s%s'k%d':'v'", ms, i ? "," : "", i);
            free(ms);
            ms = t;
        }
        char *body = fmt("{'name':'n%d','metadata':{%s}}", n, ms);
        if (n == EG_MAX_METADATA)
            CREATE(ET, "default", body);
        else
            CREATE_FAILS(ET, "default", body, 400, "Event Type " INVALID);
        free(body);
        free(ms);
    }
    char *k256 = rep('k', EG_MAX_NAME), *k257 = rep('k', EG_MAX_NAME + 1);
    char *v2048 = rep('v', EG_MAX_PATH), *v2049 = rep('v', EG_MAX_PATH + 1);
    char *ok1 = fmt("{'name':'k1','metadata':{'%s':'%s'}}", k256, v2048);
    char *bad1 = fmt("{'name':'k2','metadata':{'%s':'v'}}", k257);
    char *bad2 = fmt("{'name':'k3','metadata':{'k':'%s'}}", v2049);
    CREATE(ET, "default", ok1);
    CREATE_FAILS(ET, "default", bad1, 400, "Event Type " INVALID);
    CREATE_FAILS(ET, "default", bad2, 400, "Event Type " INVALID);
    free(k256);
    free(k257);
    free(v2048);
    free(v2049);
    free(ok1);
    free(bad1);
    free(bad2);
    /* the same metadata rules on every kind */
    basics("default");
    CREATE_FAILS(
        FN, "default",
        "{'functionId':'x','type':'http','provider':{'url':'http://h/'},'metadata':{'a':2}}", 400,
        "Function " INVALID);
    CREATE_FAILS(
        SUB, "default",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','metadata':[]}", 400,
        "Subscription " INVALID);
    CREATE_FAILS(CORS, "default", "{'method':'GET','path':'/x','metadata':'x'}", 400,
                 "CORS configuration " INVALID);
}

/* Names of the resources of a list, comma-separated (caller frees). */
static char *names_of(cJSON *arr, const char *idfield)
{
    char *out = strdup("");
    for (const cJSON *e = arr->child; e; e = e->next) {
        char *t = fmt("%s%s%s", out, *out ? "," : "", str(e, idfield));
        free(out);
        out = t;
    }
    cJSON_Delete(arr);
    return out;
}

static void check_list(int line, eg_kind_t kind, const char *space, const char *idfield,
                       const char *want, size_t n, ...)
{
    const char *f[8];
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        f[i] = va_arg(ap, const char *);
    va_end(ap);
    char *got = names_of(eg_config_list(g, kind, space, f, n), idfield);
    int same = !strcmp(got, want);
    if (!same) {
        fail_msg("line %d: list %s in %s: expected [%s], got [%s]", line, eg_kind_name(kind), space,
                 want, got);
    }
    free(got);
}
#define LIST(kind, space, idfield, want, ...)                                                      \
    check_list(__LINE__, kind, space, idfield, want, __VA_ARGS__)

static void test_lists_and_filters(void **state)
{
    CREATE(ET, "default", "{'name':'c','metadata':{'team':'y','env':'prod'}}");
    CREATE(ET, "default", "{'name':'a','metadata':{'team':'x','env':'prod'}}");
    CREATE(ET, "default", "{'name':'d'}");
    CREATE(ET, "default", "{'name':'b','metadata':{'team':'x','env':'dev','x':'a=b'}}");
    CREATE(ET, "other", "{'name':'a2','metadata':{'team':'x','env':'prod'}}");
    LIST(ET, "default", "name", "a,b,c,d", 0);
    LIST(ET, "default", "name", "a,b", 1, "team=x");
    LIST(ET, "default", "name", "a", 2, "team=x", "env=prod");
    LIST(ET, "default", "name", "a", 2, "env=prod", "team=x");
    LIST(ET, "default", "name", "a,c", 1, "env=prod");
    LIST(ET, "default", "name", "", 2, "team=y", "env=dev");
    LIST(ET, "default", "name", "", 1, "team=z");
    LIST(ET, "default", "name", "", 1, "Team=x"); /* case-sensitive */
    LIST(ET, "default", "name", "", 1, "team=X");
    LIST(ET, "default", "name", "", 1, "team");
    LIST(ET, "default", "name", "b", 1, "x=a=b"); /* the first '=' splits */
    LIST(ET, "other", "name", "a2", 1, "team=x");
    LIST(ET, "other", "name", "a2", 0);
    LIST(ET, "third", "name", "", 0);
    LIST(ET, "nospace", "name", "", 0);

    CREATE(FN, "default",
           "{'functionId':'zz','type':'http','provider':{'url':'http://h/'},'metadata':{'m':'1'}}");
    CREATE(FN, "default", HTTP_FN("Aa"));
    CREATE(FN, "default",
           "{'functionId':'mm','type':'http','provider':{'url':'http://h/'},'metadata':{'m':'1'}}");
    LIST(FN, "default", "functionId", "Aa,mm,zz", 0);
    LIST(FN, "default", "functionId", "mm,zz", 1, "m=1");
    LIST(FN, "other", "functionId", "", 0);

    CREATE(SUB, "default",
           "{'type':'async','eventType':'a','functionId':'zz','path':'/1','metadata':{'s':'1'}}");
    CREATE(SUB, "default", "{'type':'sync','eventType':'b','functionId':'zz','path':'/2'}");
    CREATE(SUB, "default",
           "{'type':'async','eventType':'c','functionId':'mm','path':'/3','metadata':{'s':'1'}}");
    char *i1 = ref_sub_id("async", "a", "zz", "/1", "POST"),
         *i2 = ref_sub_id("sync", "b", "", "/2", "POST"),
         *i3 = ref_sub_id("async", "c", "mm", "/3", "POST");
    const char *sorted[3] = {i1, i2, i3};
    for (int i = 0; i < 3; i++) /* sort the expectation */
        for (int j = i + 1; j < 3; j++)
            if (strcmp(sorted[j], sorted[i]) < 0) {
                const char *t = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = t;
            }
    char *all = fmt("%s,%s,%s", sorted[0], sorted[1], sorted[2]);
    char *with = strcmp(i1, i3) < 0 ? fmt("%s,%s", i1, i3) : fmt("%s,%s", i3, i1);
    LIST(SUB, "default", "subscriptionId", all, 0);
    LIST(SUB, "default", "subscriptionId", with, 1, "s=1");
    LIST(SUB, "other", "subscriptionId", "", 0);
    free(i1);
    free(i2);
    free(i3);
    free(all);
    free(with);

    CREATE(CORS, "default", "{'method':'POST','path':'/b','metadata':{'c':'1'}}");
    CREATE(CORS, "default", "{'method':'GET','path':'/b'}");
    CREATE(CORS, "default", "{'method':'GET','path':'/a'}");
    LIST(CORS, "default", "corsId", "GET%2Fa,GET%2Fb,POST%2Fb", 0);
    LIST(CORS, "default", "corsId", "POST%2Fb", 1, "c=1");

    /* every resource of a list carries its space */
    cJSON *l = eg_config_list(g, FN, "default", NULL, 0);
    for (const cJSON *e = l->child; e; e = e->next)
        assert_string_equal(str(e, "space"), "default");
    cJSON_Delete(l);
}

static void test_count(void **state)
{
    for (int k = 0; k < EG_KIND__COUNT; k++)
        assert_int_equal(eg_config_count(g, (eg_kind_t)k, NULL), 0);
    basics("default");
    basics("other");
    CREATE(ET, "other", "{'name':'x'}");
    free(SUBSCRIBE("default", "async", "user.created", "sendEmail", "/a", NULL));
    free(SUBSCRIBE("default", "sync", "user.created", "sendEmail", "/b", NULL));
    free(SUBSCRIBE("other", "async", "user.created", "sendEmail", "/a", NULL));
    CREATE(CORS, "third", "{'method':'GET','path':'/'}");
    assert_int_equal(eg_config_count(g, ET, "default"), 1);
    assert_int_equal(eg_config_count(g, ET, "other"), 2);
    assert_int_equal(eg_config_count(g, ET, NULL), 3);
    assert_int_equal(eg_config_count(g, FN, NULL), 2);
    assert_int_equal(eg_config_count(g, SUB, "default"), 2);
    assert_int_equal(eg_config_count(g, SUB, "other"), 1);
    assert_int_equal(eg_config_count(g, SUB, "third"), 0);
    assert_int_equal(eg_config_count(g, SUB, NULL), 3);
    assert_int_equal(eg_config_count(g, CORS, "third"), 1);
    assert_int_equal(eg_config_count(g, CORS, "default"), 0);
    assert_int_equal(eg_config_count(g, EG_KIND__COUNT, NULL), 0);
}

/* ---- malformed input ---- */

static void test_bodies_not_objects(void **state)
{
    static const char *const bodies[] = {"",
                                         "[]",
                                         "[{}]",
                                         "1",
                                         "\"x\"",
                                         "null",
                                         "true",
                                         "{",
                                         "{\"name\":",
                                         "{\"name\" \"x\"}",
                                         "{'name':'x'}",
                                         "\xff\xfe{}",
                                         " "};
    for (int k = 0; k < EG_KIND__COUNT; k++) {
        for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
            FAILS_RAW(EG_OP_CREATE, (eg_kind_t)k, "default", NULL, bodies[i], strlen(bodies[i]),
                      400, "doesn't validate");
            FAILS_RAW(EG_OP_UPDATE, (eg_kind_t)k, "default", "x", bodies[i], strlen(bodies[i]), 400,
                      "doesn't validate");
        }
        FAILS_RAW(EG_OP_CREATE, (eg_kind_t)k, "default", NULL, NULL, 0, 400, "doesn't validate");
        /* the length bounds the body: a valid object cut short */
        const char *b = "{\"name\":\"x\"}";
        FAILS_RAW(EG_OP_CREATE, (eg_kind_t)k, "default", NULL, b, 5, 400, "doesn't validate");
    }
    /* a body that is not NUL-terminated */
    const char src[] = "{\"name\":\"nt\"}";
    char *nt = malloc(sizeof src - 1);
    memcpy(nt, src, sizeof src - 1);
    eg_change_t c;
    eg_error_t err;
    assert_int_equal(
        eg_change_from_request(&c, EG_OP_CREATE, ET, "default", NULL, nt, sizeof src - 1, &err), 0);
    assert_string_equal(c.id, "nt");
    eg_change_release(&c);
    free(nt);
    /* deep nesting is refused without trouble */
    size_t depth = 100000;
    char *deep = malloc(depth + 64);
    strcpy(deep, "{\"name\":\"x\",\"metadata\":");
    size_t n = strlen(deep);
    memset(deep + n, '[', depth);
    deep[n + depth] = '\0';
    FAILS_RAW(EG_OP_CREATE, ET, "default", NULL, deep, strlen(deep), 400, "doesn't validate");
    free(deep);
    /* an unknown kind */
    memset(&err, 0, sizeof err);
    assert_int_equal(
        eg_change_from_request(&c, EG_OP_CREATE, EG_KIND__COUNT, "default", NULL, "{}", 2, &err),
        -1);
    assert_int_equal(err.status, 404);
}

static void test_huge_arrays(void **state)
{
    /* a list of 100000 entries is refused (EG_MAX_LIST) */
    size_t n = 100000;
    char *b = malloc(n * 4 + 128), *p = b;
    p += sprintf(p, "{\"method\":\"GET\",\"path\":\"/x\",\"allowedHeaders\":[");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s\"h\"", i ? "," : "");
    strcpy(p, "]}");
    FAILS_RAW(EG_OP_CREATE, CORS, "default", NULL, b, strlen(b), 400,
              "CORS configuration " INVALID);
    p = b + sprintf(b, "{\"name\":\"x\",\"metadata\":{");
    for (size_t i = 0; i < 1000; i++)
        p += sprintf(p, "%s\"k%zu\":\"v\"", i ? "," : "", i);
    strcpy(p, "}}");
    FAILS_RAW(EG_OP_CREATE, ET, "default", NULL, b, strlen(b), 400, "Event Type " INVALID);
    free(b);
}

static void test_case_insensitive_fields(void **state)
{
    CREATE(FN, "default", "{'FunctionID':'f1','TYPE':'http','Provider':{'URL':'http://h/'}}");
    cJSON *f = eg_config_get(g, FN, "default", "f1");
    assert_non_null(f);
    assert_string_equal(str(f, "functionId"), "f1");
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(f, "provider"), "url"), "http://h/");
    cJSON_Delete(f);
    CREATE(FN, "default",
           "{'functionid':'l1','type':'awslambda','provider':{'ARN':'a','Region':'r','"
           "awsaccesskeyid':'k'}}");
    f = eg_config_get(g, FN, "default", "l1");
    assert_non_null(f);
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(f, "provider"), "awsAccessKeyId"),
                        "k");
    cJSON_Delete(f);
    cJSON *e = CREATED(ET, "default", "{'NAME':'e','AuthorizerID':'f1','MetaData':{'Key':'v'}}");
    assert_string_equal(str(e, "name"), "e");
    assert_string_equal(str(e, "authorizerId"), "f1");
    assert_string_equal(md(e, "Key"), "v"); /* metadata keys keep their case */
    cJSON_Delete(e);
    cJSON *s =
        CREATED(SUB, "default",
                "{'Type':'async','EventType':'e','FUNCTIONID':'f1','Path':'/x','Method':'get'}");
    assert_string_equal(str(s, "functionId"), "f1");
    assert_string_equal(str(s, "eventType"), "e");
    assert_string_equal(str(s, "path"), "/x");
    assert_string_equal(str(s, "method"), "GET");
    cJSON_Delete(s);
    cJSON *c = CREATED(
        CORS, "default",
        "{'METHOD':'GET','PATH':'/c','AllowCredentials':true,'ALLOWEDORIGINS':['http://o']}");
    assert_string_equal(str(c, "corsId"), "GET%2Fc");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "allowCredentials")));
    const char *o[] = {"http://o", NULL};
    assert_strings(cJSON_GetObjectItemCaseSensitive(c, "allowedOrigins"), o);
    cJSON_Delete(c);
}

/* A longer mixed sequence; the model ends in a known state. */
static void test_refusals_leave_model_unchanged(void **state)
{
    basics("default");
    basics("other");
    CREATE(FN, "default", HTTP_FN("auth"));
    CREATE(ET, "default", "{'name':'secured','authorizerId':'auth'}");
    char *s1 = SUBSCRIBE("default", "sync", "user.created", "sendEmail", "/users/:id", "GET");
    CREATE(CORS, "default", "{'method':'GET','path':'/users/:id'}");
    /* each of these is refused and compared against the full snapshot */
    FAILS_LIKE(EG_OP_CREATE, ET, "default", NULL, "{'name':'secured'}", 409, NULL);
    FAILS_LIKE(EG_OP_UPDATE, ET, "default", "secured", "{'authorizerId':'ghost'}", 400, NULL);
    FAILS_LIKE(EG_OP_DELETE, ET, "default", "user.created", NULL, 400, NULL);
    FAILS_LIKE(EG_OP_DELETE, FN, "default", "auth", NULL, 400, NULL);
    FAILS_LIKE(EG_OP_DELETE, FN, "default", "sendEmail", NULL, 400, NULL);
    FAILS_LIKE(EG_OP_CREATE, FN, "default", NULL, HTTP_FN("auth"), 409, NULL);
    FAILS_LIKE(EG_OP_UPDATE, FN, "default", "auth", "{'type':'http','provider':{'url':'x'}}", 400,
               NULL);
    SUBSCRIBE_FAILS("default", "sync", "user.created", "auth", "/users/:name", "GET", 409, NULL);
    SUBSCRIBE_FAILS("default", "sync", "user.created", "auth", "/users/:id", "GET", 409, NULL);
    SUBSCRIBE_FAILS("default", "async", "user.created", "sendEmail", "/users/:id", "GET", 409,
                    NULL);
    SUBSCRIBE_FAILS("default", "async", "ghost", "sendEmail", "/g", NULL, 400, NULL);
    FAILS_LIKE(EG_OP_UPDATE, SUB, "default", s1,
               "{'type':'sync','eventType':'user.created','functionId':'sendEmail','path':'/users/"
               ":id','method':'PUT'}",
               400, NULL);
    FAILS_LIKE(EG_OP_CREATE, CORS, "default", NULL, "{'method':'GET','path':'/users/:id'}", 409,
               NULL);
    FAILS_LIKE(EG_OP_UPDATE, CORS, "default", "GET%2Fusers%2F:id", "{'method':'GET','path':'/u'}",
               400, NULL);
    FAILS_LIKE(EG_OP_DELETE, CORS, "default", "GET%2Fnope", NULL, 404, NULL);
    /* the resources that were there are intact */
    cJSON *s = eg_config_get(g, SUB, "default", s1);
    assert_string_equal(str(s, "method"), "GET");
    cJSON_Delete(s);
    assert_int_equal(eg_config_count(g, ET, "default"), 2);
    assert_int_equal(eg_config_count(g, FN, "default"), 2);
    free(s1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_kind_and_op_names),
        T(test_space_rules),
        T(test_eventtype_create_get),
        T(test_eventtype_name_rules),
        T(test_eventtype_authorizer),
        T(test_eventtype_update),
        T(test_eventtype_delete),
        T(test_function_http),
        T(test_function_awslambda),
        T(test_function_headers_and_kafka),
        T(test_function_type_provider_id),
        T(test_function_update),
        T(test_function_delete),
        T(test_BUG_function_delete_subscribed_message),
        T(test_subscription_defaults_and_id),
        T(test_validation_messages_09),
        T(test_subscription_validation),
        T(test_subscription_duplicates),
        T(test_BUG_sync_duplicate_trailing_slash),
        T(test_subscription_path_conflicts),
        T(test_subscription_update),
        T(test_BUG_long_subscription_ids),
        T(test_cors),
        T(test_cors_update_delete),
        T(test_metadata_omitted_when_empty),
        T(test_metadata_rules),
        T(test_lists_and_filters),
        T(test_count),
        T(test_bodies_not_objects),
        T(test_huge_arrays),
        T(test_case_insensitive_fields),
        T(test_refusals_leave_model_unchanged),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
