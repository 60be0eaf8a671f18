/*
 * Unit tests of the configuration record codec (core/eg_configlog.h:
 * eg_config_record_encode / eg_config_record_decode): round trips of every
 * kind and op, every refusal of decode (bad key, bad value, missing or unknown
 * fields, data that fails validation, an id that does not match its data,
 * over-long ids), and a fixed-seed run of a few thousand random and mutated
 * inputs, passed in exact-size buffers (no NUL) so that over-reads show under
 * valgrind/ASan. Decoded changes of that run are applied to a model too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_config.h"
#include "eg_configlog.h"

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

/* A copy of s with every ' turned into ". */
static char *q(const char *s)
{
    char *o = strdup(s);
    assert_non_null(o);
    for (char *p = o; *p; p++)
        if (*p == '\'')
            *p = '"';
    return o;
}

/* A change from an API request that must be valid. */
static void change(eg_change_t *c, eg_op_t op, eg_kind_t kind, const char *space, const char *id,
                   const char *body)
{
    char *b = body ? q(body) : NULL;
    eg_error_t err = {0};
    int rc = eg_change_from_request(c, op, kind, space, id, b, b ? strlen(b) : 0, &err);
    free(b);
    if (rc)
        fail_msg("change: %d %s", err.status, err.message);
}

/* Decodes (key, value) from exact-size copies. */
static int decode(const char *key, size_t klen, const char *value, size_t vlen,
                  eg_config_record_t *out, eg_error_t *err)
{
    char *k = klen ? malloc(klen) : NULL, *v = vlen ? malloc(vlen) : NULL;
    if (klen)
        memcpy(k, key, klen);
    if (vlen)
        memcpy(v, value, vlen);
    memset(err, 0, sizeof *err);
    memset(out, 0x5a, sizeof *out);
    int rc = eg_config_record_decode(key ? (k ? k : "") : NULL, klen, v ? v : (value ? "" : NULL),
                                     vlen, out, err);
    free(k);
    free(v);
    return rc;
}

static void rec_key(char *buf, size_t len, const eg_change_t *c, const char *rid)
{
    snprintf(buf, len, "%s/%s/%s/%s", c->space, eg_kind_name(c->kind), c->id, rid);
}

/* Every kind and op, valid. */
typedef struct {
    eg_op_t op;
    eg_kind_t kind;
    const char *space, *id, *body;
} sample_t;

static const sample_t samples[] = {
    {EG_OP_CREATE, EG_KIND_EVENTTYPE, "default", NULL,
     "{'name':'user.created','authorizerId':'auth','metadata':{'a':'1'}}"},
    {EG_OP_UPDATE, EG_KIND_EVENTTYPE, "default", "user.created", "{'metadata':{'b':'2'}}"},
    {EG_OP_DELETE, EG_KIND_EVENTTYPE, "default", "user.created", NULL},
    {EG_OP_CREATE, EG_KIND_FUNCTION, "my-space", NULL,
     "{'functionId':'sendEmail','type':'http','provider':{'url':'http://h:8/"
     "x','headers':{'K':'v'}}}"},
    {EG_OP_UPDATE, EG_KIND_FUNCTION, "my-space", "sendEmail",
     "{'type':'awslambda','provider':{'arn':'arn:x','region':'eu-west-1','awsAccessKeyId':'k',"
     "'endpoint':'http://localhost:4566'},'metadata':{'m':'n'}}"},
    {EG_OP_DELETE, EG_KIND_FUNCTION, "my-space", "sendEmail", NULL},
    {EG_OP_CREATE, EG_KIND_SUBSCRIPTION, "default", NULL,
     "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'users/:id',"
     "'method':'get','metadata':{'x':'y'}}"},
    {EG_OP_UPDATE, EG_KIND_SUBSCRIPTION, "default",
     "YXN5bmMsdXNlci5jcmVhdGVkLHNlbmRFbWFpbCwlMkZ1c2VycyUyRjppZCxHRVQ",
     "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'/users/:id',"
     "'method':'GET','metadata':{'x':'z'}}"},
    {EG_OP_DELETE, EG_KIND_SUBSCRIPTION, "default",
     "YXN5bmMsdXNlci5jcmVhdGVkLHNlbmRFbWFpbCwlMkZ1c2VycyUyRjppZCxHRVQ", NULL},
    {EG_OP_CREATE, EG_KIND_SUBSCRIPTION, "default", NULL,
     "{'type':'sync','eventType':'e','functionId':'f','path':'/files/*rest'}"},
    {EG_OP_CREATE, EG_KIND_CORS, "default", NULL,
     "{'method':'GET','path':'/hello','allowedOrigins':['https://"
     "*.x.com'],'allowCredentials':true}"},
    {EG_OP_UPDATE, EG_KIND_CORS, "default", "GET%2Fhello",
     "{'method':'GET','path':'/hello','allowedHeaders':['H']}"},
    {EG_OP_DELETE, EG_KIND_CORS, "default", "GET%2Fhello", NULL},
};
#define NSAMPLES (sizeof samples / sizeof samples[0])

static void test_round_trip(void **state)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        const sample_t *s = &samples[i];
        eg_change_t c;
        change(&c, s->op, s->kind, s->space, s->id, s->body);
        char *val = eg_config_record_encode(&c);
        assert_non_null(val);

        /* the value is the documented object */
        cJSON *o = cJSON_Parse(val);
        assert_true(cJSON_IsObject(o));
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "op")->valuestring,
                            eg_op_name(s->op));
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "space")->valuestring, s->space);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "kind")->valuestring,
                            eg_kind_name(s->kind));
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring, c.id);
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(o, "data");
        if (s->op == EG_OP_DELETE)
            assert_null(data);
        else
            assert_true(cJSON_Compare(data, c.data, 1));
        cJSON_Delete(o);

        char key[512];
        rec_key(key, sizeof key, &c, "inst-1a2b-42");
        eg_config_record_t r;
        eg_error_t err;
        if (decode(key, strlen(key), val, strlen(val), &r, &err))
            fail_msg("sample %zu: decode: %d %s", i, err.status, err.message);
        assert_string_equal(r.rid, "inst-1a2b-42");
        assert_int_equal(r.change.op, c.op);
        assert_int_equal(r.change.kind, c.kind);
        assert_string_equal(r.change.space, c.space);
        assert_string_equal(r.change.id, c.id);
        if (s->op == EG_OP_DELETE)
            assert_null(r.change.data);
        else
            assert_true(cJSON_Compare(r.change.data, c.data, 1));
        /* encoding the decoded change gives the same bytes */
        char *val2 = eg_config_record_encode(&r.change);
        assert_string_equal(val, val2);
        free(val2);
        eg_config_record_release(&r);
        assert_null(r.rid);
        assert_null(r.change.id);
        eg_config_record_release(&r); /* twice is fine */
        free(val);
        eg_change_release(&c);
    }
}

/* A record of a create of kind with the key's record id rid. */
static int decode_str(const char *key, const char *value, eg_error_t *err)
{
    char *v = value ? q(value) : NULL;
    eg_config_record_t r;
    int rc = decode(key, key ? strlen(key) : 0, v, v ? strlen(v) : 0, &r, err);
    free(v);
    if (rc == 0) {
        eg_config_record_release(&r);
    } else {
        /* a refused record is left empty: releasing it is harmless */
        assert_null(r.rid);
        assert_null(r.change.space);
        assert_null(r.change.id);
        assert_null(r.change.data);
        eg_config_record_release(&r);
        if (err->status < 400 || err->status > 499 || !err->message[0])
            fail_msg("refusal without a 4xx and a message: %d", err->status);
    }
    return rc;
}

#define REFUSED(key, value, msg)                                                                   \
    do {                                                                                           \
        eg_error_t e_;                                                                             \
        if (decode_str(key, value, &e_) == 0)                                                      \
            fail_msg("line %d: record accepted: %s", __LINE__, (value) ? (value) : "(null)");      \
        if ((msg) && !strstr(e_.message, (msg) ? (msg) : ""))                                      \
            fail_msg("line %d: expected \"%s\" in \"%s\"", __LINE__, (msg) ? (msg) : "",           \
                     e_.message);                                                                  \
    } while (0)
#define ACCEPTED(key, value)                                                                       \
    do {                                                                                           \
        eg_error_t e_;                                                                             \
        if (decode_str(key, value, &e_) != 0)                                                      \
            fail_msg("line %d: record refused: %d %s", __LINE__, e_.status, e_.message);           \
    } while (0)

#define ET_OK "{'op':'create','space':'default','kind':'eventtypes','id':'e','data':{'name':'e'}}"
#define KEY "default/eventtypes/e/i-1"

static void test_refuses_bad_keys(void **state)
{
    ACCEPTED(KEY, ET_OK);
    ACCEPTED("i-1/x", ET_OK); /* only the last part matters */
    REFUSED(NULL, ET_OK, "record id");
    REFUSED("", ET_OK, "record id");
    REFUSED("no-slash-at-all", ET_OK, "record id");
    REFUSED("default/eventtypes/e/", ET_OK, "record id");
    REFUSED("/", ET_OK, "record id");
    /* record ids of up to 80 bytes */
    char key[256];
    char rid[100];
    memset(rid, 'r', sizeof rid);
    rid[80] = '\0';
    snprintf(key, sizeof key, "default/eventtypes/e/%s", rid);
    ACCEPTED(key, ET_OK);
    rid[80] = 'r';
    rid[81] = '\0';
    snprintf(key, sizeof key, "default/eventtypes/e/%s", rid);
    REFUSED(key, ET_OK, "too long");
    rid[99] = '\0';
    snprintf(key, sizeof key, "%s", rid); /* no slash at all */
    REFUSED(key, ET_OK, NULL);
    /* the decoded rid is exactly the last part, even from a key without NUL */
    eg_config_record_t r;
    eg_error_t err;
    char *v = q(ET_OK);
    const char *k = "default/eventtypes/e/abc-7XXXX";
    assert_int_equal(decode(k, strlen(k) - 4, v, strlen(v), &r, &err), 0);
    assert_string_equal(r.rid, "abc-7");
    eg_config_record_release(&r);
    free(v);
}

static void test_refuses_bad_values(void **state)
{
    const char *notobj[] = {"",
                            " ",
                            "[]",
                            "[{}]",
                            "1",
                            "'x'",
                            "null",
                            "true",
                            "{",
                            "{'op':",
                            "{'op':'create'",
                            "\x01\x02",
                            "{'op' 'create'}"};
    for (size_t i = 0; i < sizeof notobj / sizeof notobj[0]; i++)
        REFUSED(KEY, notobj[i], NULL);
    REFUSED(KEY, NULL, NULL);
    REFUSED(KEY, "[]", "not a JSON object");

    /* each of op, space, kind, id is required and a string */
    REFUSED(KEY, "{'space':'default','kind':'eventtypes','id':'e','data':{'name':'e'}}",
            "op, space, kind and id");
    REFUSED(KEY, "{'op':'create','kind':'eventtypes','id':'e','data':{'name':'e'}}",
            "op, space, kind and id");
    REFUSED(KEY, "{'op':'create','space':'default','id':'e','data':{'name':'e'}}",
            "op, space, kind and id");
    REFUSED(KEY, "{'op':'create','space':'default','kind':'eventtypes','data':{'name':'e'}}",
            "op, space, kind and id");
    REFUSED(KEY, "{'op':1,'space':'default','kind':'eventtypes','id':'e','data':{'name':'e'}}",
            NULL);
    REFUSED(KEY, "{'op':'create','space':null,'kind':'eventtypes','id':'e','data':{'name':'e'}}",
            NULL);
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':['eventtypes'],'id':'e','data':{'name':'e'}}",
            NULL);
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'eventtypes','id':{},'data':{'name':'e'}}",
            NULL);
    /* field names of records are exact */
    REFUSED(KEY,
            "{'OP':'create','space':'default','kind':'eventtypes','id':'e','data':{'name':'e'}}",
            NULL);

    /* unknown kind or op */
    REFUSED(KEY, "{'op':'create','space':'default','kind':'widgets','id':'e','data':{'name':'e'}}",
            "unknown kind");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'EventTypes','id':'e','data':{'name':'e'}}",
            "unknown kind");
    REFUSED(KEY, "{'op':'create','space':'default','kind':'','id':'e','data':{'name':'e'}}",
            "unknown kind");
    REFUSED(KEY,
            "{'op':'upsert','space':'default','kind':'eventtypes','id':'e','data':{'name':'e'}}",
            "unknown op");
    REFUSED(KEY,
            "{'op':'Create','space':'default','kind':'eventtypes','id':'e','data':{'name':'e'}}",
            "unknown op");
    REFUSED(KEY, "{'op':'','space':'default','kind':'eventtypes','id':'e','data':{'name':'e'}}",
            "unknown op");

    /* create and update need object data; delete does not */
    REFUSED(KEY, "{'op':'create','space':'default','kind':'eventtypes','id':'e'}", "without data");
    REFUSED(KEY, "{'op':'update','space':'default','kind':'eventtypes','id':'e'}", "without data");
    REFUSED(KEY, "{'op':'create','space':'default','kind':'eventtypes','id':'e','data':'x'}",
            "without data");
    REFUSED(KEY, "{'op':'create','space':'default','kind':'eventtypes','id':'e','data':[]}",
            "without data");
    REFUSED(KEY, "{'op':'create','space':'default','kind':'eventtypes','id':'e','data':null}",
            "without data");
    ACCEPTED(KEY, "{'op':'delete','space':'default','kind':'eventtypes','id':'e'}");
    ACCEPTED(KEY,
             "{'op':'delete','space':'default','kind':'eventtypes','id':'e','data':'ignored'}");
    REFUSED(KEY, "{'op':'delete','space':'default','kind':'eventtypes','id':''}", NULL);
}

static void test_refuses_invalid_data(void **state)
{
    /* the data gets every rule of the API */
    REFUSED(KEY, "{'op':'create','space':'ab','kind':'eventtypes','id':'e','data':{'name':'e'}}",
            NULL);
    REFUSED(KEY, "{'op':'create','space':'a b','kind':'eventtypes','id':'e','data':{'name':'e'}}",
            NULL);
    REFUSED(KEY, "{'op':'delete','space':'ab','kind':'eventtypes','id':'e'}", NULL);
    REFUSED(
        KEY,
        "{'op':'create','space':'default','kind':'eventtypes','id':'a b','data':{'name':'a b'}}",
        "doesn't validate");
    REFUSED(KEY, "{'op':'create','space':'default','kind':'eventtypes','id':'e','data':{}}",
            "doesn't validate");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'eventtypes','id':'e','data':{'name':'e','"
            "metadata':{'a':1}}}",
            "doesn't validate");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'functions','id':'f','data':{'functionId':'f',"
            "'type':'http','provider':{'url':'ftp://x'}}}",
            "doesn't validate");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'functions','id':'f','data':{'functionId':'f',"
            "'type':'gcf','provider':{}}}",
            "doesn't validate");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'functions','id':'f','data':{'functionId':'f',"
            "'type':'awslambda','provider':{'arn':'a'}}}",
            "doesn't validate");
    REFUSED(KEY,
            "{'op':'update','space':'default','kind':'functions','id':'f','data':{'type':'http'}}",
            "doesn't validate");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'subscriptions','id':'x','data':{'type':'both'"
            ",'eventType':'e','functionId':'f'}}",
            "doesn't validate");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'subscriptions','id':'x','data':{'type':'sync'"
            ",'eventType':'e','functionId':'f','path':'/a//b'}}",
            "doesn't validate");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'subscriptions','id':'x','data':{'type':'sync'"
            ",'eventType':'e','functionId':'f','method':'FETCH'}}",
            "doesn't validate");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'cors','id':'GET%2Fx','data':{'method':'GET','"
            "path':'x'}}",
            "doesn't validate");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'cors','id':'GET%2Fx','data':{'method':'GET','"
            "path':'/x','allowCredentials':'yes'}}",
            "doesn't validate");
    ACCEPTED(KEY, "{'op':'create','space':'default','kind':'cors','id':'GET%2Fx','data':{'method':'"
                  "GET','path':'/x'}}");
    /* the space of the record wins over any space in data */
    eg_config_record_t r;
    eg_error_t err;
    char *v = q("{'op':'create','space':'other','kind':'eventtypes','id':'e','data':{'space':'"
                "default','name':'e'}}");
    assert_int_equal(decode(KEY, strlen(KEY), v, strlen(v), &r, &err), 0);
    assert_string_equal(r.change.space, "other");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(r.change.data, "space")->valuestring,
                        "other");
    eg_config_record_release(&r);
    free(v);
}

static void test_refuses_mismatched_ids(void **state)
{
    /* a create's id must be the one its data gives */
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'eventtypes','id':'x','data':{'name':'e'}}",
            "does not match");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'functions','id':'g','data':{'functionId':'f',"
            "'type':'http','provider':{'url':'http://h/'}}}",
            "does not match");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'cors','id':'GET%2Fy','data':{'method':'GET','"
            "path':'/x'}}",
            "does not match");
    REFUSED(KEY,
            "{'op':'create','space':'default','kind':'cors','id':'POST%2Fx','data':{'method':'GET',"
            "'path':'/x'}}",
            "does not match");
    /* a subscription id is computed from its content, whatever data says */
    const char *good = "YXN5bmMsdXNlci5jcmVhdGVkLHNlbmRFbWFpbCwlMkYsUE9TVA";
    char *ok = fmt("{'op':'create','space':'default','kind':'subscriptions','id':'%s','data':{"
                   "'type':'async','eventType':'user.created','functionId':'sendEmail'}}",
                   good);
    ACCEPTED(KEY, ok);
    free(ok);
    const char *bad[] = {
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','path':'/x'}",
        "{'type':'sync','eventType':'user.created','functionId':'sendEmail'}",
        "{'type':'async','eventType':'user.created','functionId':'other'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','method':'GET'}",
        "{'type':'async','eventType':'user.created','functionId':'sendEmail','subscriptionId':'x'}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *v =
            fmt("{'op':'create','space':'default','kind':'subscriptions','id':'%s','data':%s}",
                i == 4 ? "x" : good, bad[i]);
        REFUSED(KEY, v, "does not match");
        free(v);
    }
    /* an update keeps the id of the record */
    char *u = fmt("{'op':'update','space':'default','kind':'subscriptions','id':'%s','data':{"
                  "'subscriptionId':'other','type':'async','eventType':'user.created','functionId':"
                  "'sendEmail'}}",
                  good);
    eg_config_record_t r;
    eg_error_t err;
    char *v = q(u);
    assert_int_equal(decode(KEY, strlen(KEY), v, strlen(v), &r, &err), 0);
    assert_string_equal(r.change.id, good);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(r.change.data, "subscriptionId")->valuestring, good);
    eg_config_record_release(&r);
    free(v);
    free(u);
    /* over-long ids */
    char *longid = malloc(100001);
    memset(longid, 'a', 100000);
    longid[100000] = '\0';
    char *d = fmt("{'op':'delete','space':'default','kind':'cors','id':'%s'}", longid);
    REFUSED(KEY, d, NULL);
    free(d);
    d = fmt("{'op':'update','space':'default','kind':'eventtypes','id':'%s','data':{}}", longid);
    REFUSED(KEY, d, NULL);
    free(d);
    longid[EG_MAX_NAME + 1] = '\0';
    d = fmt("{'op':'create','space':'default','kind':'eventtypes','id':'%s','data':{'name':'%s'}}",
            longid, longid);
    REFUSED(KEY, d, NULL);
    free(d);
    free(longid);
}

/* ---- random and mutated input ---- */

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void test_random_input(void **state)
{
    /* the valid encodings are the seeds */
    char *seeds[NSAMPLES];
    char *keys[NSAMPLES];
    for (size_t i = 0; i < NSAMPLES; i++) {
        eg_change_t c;
        change(&c, samples[i].op, samples[i].kind, samples[i].space, samples[i].id,
               samples[i].body);
        seeds[i] = eg_config_record_encode(&c);
        keys[i] = fmt("%s/%s/%s/r-%zu", c.space, eg_kind_name(c.kind), c.id, i);
        eg_change_release(&c);
    }
    static const char tokens[][12] = {"{",          "}",          "[",     "]",       ",",
                                      ":",          "\"",         "\\",    "\\u0000", "null",
                                      "true",       "1e999",      "-0",    "\"op\"",  "\"data\"",
                                      "\"create\"", "\"delete\"", "\"/\"", "\xff",    "\xc3"};
    eg_config_t *cfg = eg_config_new();
    assert_non_null(cfg);
    int accepted = 0, applied = 0;
    char *buf = malloc(8192), *kbuf = malloc(512);
    for (int iter = 0; iter < 4000; iter++) {
        size_t s = rnd() % NSAMPLES;
        size_t len = strlen(seeds[s]);
        memcpy(buf, seeds[s], len);
        int mode = (int)(rnd() % 6);
        if (mode == 0) { /* pure random bytes */
            len = rnd() % 300;
            for (size_t i = 0; i < len; i++)
                buf[i] = (char)rnd();
        } else if (mode == 1) { /* truncation */
            len = len ? rnd() % len : 0;
        } else if (mode == 2) { /* letters changed: still JSON, other content */
            static const char an[] = "abcdefgsyncaPOST/:*.-_0123456789";
            for (int m = 0, n = 1 + (int)(rnd() % 3); m < n; m++) {
                size_t at = rnd() % len;
                if (strchr("\"{}[]:,", buf[at]) == NULL)
                    buf[at] = an[rnd() % (sizeof an - 1)];
            }
        } else { /* a few byte flips / token insertions / deletions */
            int n = 1 + (int)(rnd() % 6);
            for (int m = 0; m < n && len > 0; m++) {
                size_t at = rnd() % len;
                switch (rnd() % 3) {
                case 0:
                    buf[at] = (char)rnd();
                    break;
                case 1: {
                    const char *t = tokens[rnd() % (sizeof tokens / sizeof tokens[0])];
                    size_t tl = strlen(t);
                    if (len + tl < 8000) {
                        memmove(buf + at + tl, buf + at, len - at);
                        memcpy(buf + at, t, tl);
                        len += tl;
                    }
                    break;
                }
                default: {
                    size_t dl = 1 + rnd() % 8;
                    if (at + dl > len)
                        dl = len - at;
                    memmove(buf + at, buf + at + dl, len - at - dl);
                    len -= dl;
                    break;
                }
                }
            }
        }
        /* keys: the right one, a random one, or a damaged one */
        size_t klen = strlen(keys[s]);
        memcpy(kbuf, keys[s], klen);
        int km = (int)(rnd() % 8);
        if (km == 0) {
            klen = rnd() % 120;
            for (size_t i = 0; i < klen; i++)
                kbuf[i] = (char)rnd();
        } else if (km == 1 && klen) {
            klen = rnd() % klen;
        }

        eg_config_record_t r;
        eg_error_t err;
        int rc = decode(kbuf, klen, buf, len, &r, &err);
        if (rc == 0) {
            accepted++;
            assert_non_null(r.rid);
            assert_non_null(r.change.space);
            assert_non_null(r.change.id);
            assert_true((r.change.op == EG_OP_DELETE) == (r.change.data == NULL));
            char *again = eg_config_record_encode(&r.change);
            assert_non_null(again);
            free(again);
            eg_error_t aerr;
            if (eg_config_apply(cfg, &r.change, &aerr) == 0)
                applied++;
            else
                assert_true(aerr.status >= 400 && aerr.status <= 499);
            eg_config_record_release(&r);
        } else {
            assert_true(err.status >= 400 && err.status <= 499);
            assert_null(r.rid);
            assert_null(r.change.data);
        }
    }
    /* the mutations do not all fail: unmutated-enough seeds still decode */
    assert_true(accepted > 50);
    print_message("random input: %d of 4000 decoded, %d applied\n", accepted, applied);
    eg_config_free(cfg);
    free(buf);
    free(kbuf);
    for (size_t i = 0; i < NSAMPLES; i++) {
        free(seeds[i]);
        free(keys[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refuses_bad_keys),
        cmocka_unit_test(test_refuses_bad_values),
        cmocka_unit_test(test_refuses_invalid_data),
        cmocka_unit_test(test_refuses_mismatched_ids),
        cmocka_unit_test(test_random_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
