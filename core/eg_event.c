/*
 * eg_event: the CloudEvents codec.
 *
 * One representation: an event is the cJSON object of its structured JSON
 * form, in the version it arrived in (CloudEvents 1.0 JSON format, or the
 * CloudEvents 0.1 shape of event-gateway 0.9). Every way in (HTTP structured
 * or binary, legacy "Event:" header, plain HTTP request, Kafka structured or
 * binary, the invoker re-reading a record) ends in event_init(), which runs
 * the one validator of that version and caches the borrowed id/type/source,
 * the space (egspace extension) and the partition key. Every way out is
 * cJSON_PrintUnformatted of that object: what Kafka stores is byte for byte
 * what functions receive.
 *
 * Compatibility with event-gateway 0.9 (event/event.go, event/http.go,
 * internal/http/headers.go of serverless/event-gateway):
 *  - its SDK posts CloudEvents 0.1 bodies with Content-Type
 *    application/cloudevents+json, so that content type accepts 0.1 too;
 *  - the 0.1 binary mode it read (CE-EventType, CE-CloudEventsVersion,
 *    CE-Source, CE-EventID headers; CE-X-* extensions) is read too;
 *  - events it built itself (legacy "Event:" header, http.request) get
 *    source https://serverless.com/event-gateway/#transformationVersion=0.1,
 *    a UUID v4 eventID, eventTime now, and the extension
 *    {"eventgateway":{"transformation-version":"0.1","transformed":"true"}};
 *  - http.request data is {headers, query, body, host, path, method, params}
 *    with Go-canonical header names, repeated headers joined by ", " and the
 *    Host header left out (Go moves it to Request.Host), query values as
 *    arrays, keys sorted as Go's encoding/json sorts maps; an empty body is "".
 * Where 0.9 base64-encoded text bodies (text/plain) this codec keeps text as
 * a string, as the contract asks; base64 is kept for bytes that are not UTF-8
 * text.
 *
 * Trust: HTTP input is strict (1.0 attribute names [a-z0-9]{1,20}, scalar
 * extension values) and the gateway's own extensions ("eventgateway.*",
 * e.g. an authorizer's result, and "replayid", a replay's mark) are dropped
 * from it, in every form (structured, binary, 1.0 and 0.1), so that a client
 * cannot forge them: a function that posts back an event it got loses them
 * rather than being refused. Kafka input and eg_event_parse accept them
 * ("eventgateway.authorization": an object): the ingress sets them before
 * writing to Kafka, and whoever may write to the events topic is trusted as
 * far as Kafka's ACLs let them.
 *
 * Failure: every function returns -1 with an eg_error_t (400 naming what is
 * wrong, 500 when out of memory) and leaves nothing allocated. Stateless and
 * thread safe; randomness comes from getrandom(2).
 */
#include "eg_event.h"
#include "eg_base64.h"
#include "eg_json.h"
#include "eg_http.h" /* eg_http_unescape */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MT_CAP 128 /* longest media type looked at */

/* ---------------------------------------------------------------- helpers */

static int oom(eg_error_t *err)
{
    return eg_error_set(err, 500, "out of memory");
}

static int lc(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int ci_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lc((unsigned char)*a) != lc((unsigned char)*b))
            return 0;
    return *a == *b;
}

static int ci_prefix(const char *s, const char *p)
{
    for (; *p; s++, p++)
        if (!*s || lc((unsigned char)*s) != lc((unsigned char)*p))
            return 0;
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && !strcmp(s + n - m, suffix);
}

/* An untrusted string made fit for an error message: printable ASCII, at most
 * 64 characters. */
static const char *shown(const char *s, char buf[72])
{
    size_t i = 0;
    for (; s && s[i] && i < 64; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s && s[i])
        memcpy(buf + i, "...", 4);
    else
        buf[i] = '\0';
    return buf;
}

/* The lowercase media type of a Content-Type value (before ';', trimmed);
 * "" when absent, empty or too long. */
static void media_type(const char *ct, char out[MT_CAP])
{
    out[0] = '\0';
    if (!ct)
        return;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = 0;
    while (ct[n] && ct[n] != ';')
        n++;
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= MT_CAP)
        return;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)lc((unsigned char)ct[i]);
    out[n] = '\0';
}

static int is_json_mt(const char *mt)
{
    return !strcmp(mt, "application/json") || ends_with(mt, "+json");
}

static int is_text_mt(const char *mt)
{
    return !strncmp(mt, "text/", 5) || !strcmp(mt, "application/x-www-form-urlencoded") ||
           !strcmp(mt, "multipart/form-data") || !strcmp(mt, "application/xml") ||
           ends_with(mt, "+xml");
}

#define utf8_seq eg_utf8_seq
#define utf8_text eg_utf8_valid

/* A NUL-terminated copy of untrusted bytes in which invalid UTF-8 and NUL
 * bytes became U+FFFD (as Go's encoding/json does). NULL when out of memory. */
static char *utf8_clean(const char *s, size_t n)
{
    char *o = malloc(utf8_text(s, n) ? n + 1 : n * 3 + 1);
    if (!o)
        return NULL;
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = p[i] ? utf8_seq(p + i, n - i) : 0;
        if (k) {
            memcpy(o + w, p + i, k);
            w += k, i += k;
        } else {
            memcpy(o + w, "\xEF\xBF\xBD", 3);
            w += 3, i++;
        }
    }
    o[w] = '\0';
    return o;
}

/* A JSON string from untrusted bytes, cleaned like utf8_clean. NULL when out
 * of memory. */
static cJSON *jstr(const char *s, size_t n)
{
    if (!s)
        s = "", n = 0;
    char *c = utf8_clean(s, n);
    if (!c)
        return NULL;
    cJSON *j = cJSON_CreateString(c);
    free(c);
    return j;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding, as a JSON string. NULL when out of memory. */
static cJSON *b64_json(const char *s, size_t n)
{
    char *o = eg_base64_encode(s, n, 0);
    cJSON *j = o ? cJSON_CreateString(o) : NULL;
    free(o);
    return j;
}

/* RFC 4648 base64: alphabet, length a multiple of 4, at most two '=' at the end. */
static int b64_valid(const char *s)
{
    size_t n = strlen(s), pad = 0;
    if (n % 4)
        return 0;
    while (pad < n && pad < 2 && s[n - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < n - pad; i++)
        if (!strchr(b64chars, s[i]))
            return 0;
    return 1;
}

/* Parses exactly one JSON document of n bytes (UTF-8, no NUL, nothing after
 * it). NULL when invalid (or out of memory). *doc_len (optional) is the
 * length of the document without the white space after it. */
static cJSON *json_parse_doc(const char *buf, size_t n, size_t *doc_len)
{
    if (!buf || n == 0 || n > EG_EVENT_MAX_BYTES || !utf8_text(buf, n) || eg_json_has_nul(buf, n))
        return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
    if (j && doc_len)
        *doc_len = (size_t)(end - buf);
    /* after the document, only what cJSON skips as white space (bytes <= 32) */
    for (; j && end < buf + n; end++)
        if ((unsigned char)*end > 32) {
            cJSON_Delete(j);
            j = NULL;
        }
    return j;
}

static cJSON *json_parse(const char *buf, size_t n)
{
    return json_parse_doc(buf, n, NULL);
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static int rfc3339_ok(const char *s)
{
    if (strlen(s) < 20)
        return 0;
    int mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2), mi = digits(s + 14, 2),
        se = digits(s + 17, 2);
    if (digits(s, 4) < 0 || s[4] != '-' || mo < 1 || mo > 12 || s[7] != '-' || d < 1 || d > 31 ||
        (s[10] != 'T' && s[10] != 't') || h < 0 || h > 23 || s[13] != ':' || mi < 0 || mi > 59 ||
        s[16] != ':' || se < 0 || se > 60)
        return 0;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return 1;
    if (*p != '+' && *p != '-')
        return 0;
    int oh = digits(p + 1, 2), om = p[1] && p[2] ? digits(p + 4, 2) : -1;
    return strlen(p) == 6 && oh >= 0 && oh <= 23 && p[3] == ':' && om >= 0 && om <= 59;
}

/* ^[A-Za-z0-9._-]{3,256}$ */
static int space_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 256)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static void fill_random(unsigned char *r, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom(r + got, n - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    if (got < n) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            while (got < n) {
                ssize_t k = read(fd, r + got, n - got);
                if (k < 0 && errno == EINTR)
                    continue;
                if (k <= 0)
                    break;
                got += (size_t)k;
            }
            close(fd);
        }
    }
    if (got < n) { /* last resort: never fail, never repeat within a process */
        static _Atomic uint64_t counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid() ^
                     (++counter * 0x9E3779B97F4A7C15ull);
        for (size_t i = got; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            r[i] = (unsigned char)(x >> 24);
        }
    }
}

void eg_uuid4(char buf[37])
{
    unsigned char r[16];
    fill_random(r, sizeof r);
    r[6] = (unsigned char)((r[6] & 0x0F) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3F) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t w = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[w++] = '-';
        buf[w++] = hex[r[i] >> 4];
        buf[w++] = hex[r[i] & 15];
    }
    buf[w] = '\0';
}

/* Now as RFC 3339 UTC with milliseconds. */
static void now_rfc3339(char buf[64])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
}

/* Adds v (taken, may be NULL from a failed constructor) to o under k, which
 * may come from the request (header or query names): cleaned like
 * utf8_clean when it is not UTF-8, so that the event always serialises to
 * JSON that parses back. -1 on failure. */
static int add(cJSON *o, const char *k, cJSON *v)
{
    if (!v)
        return -1;
    size_t kn = strlen(k);
    char *clean = utf8_text(k, kn) ? NULL : utf8_clean(k, kn);
    int ok = cJSON_AddItemToObject(o, clean ? clean : k, v) != 0;
    free(clean);
    if (!ok) {
        cJSON_Delete(v);
        return -1;
    }
    return 0;
}

static int adds(cJSON *o, const char *k, const char *s)
{
    return add(o, k, cJSON_CreateString(s));
}

static cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* ------------------------------------------------------------- validation */

static const char *const v10_core[] = {
    "specversion",     "id",   "source",      "type", "time", "subject", "dataschema",
    "datacontenttype", "data", "data_base64", NULL};

/* The index of a 1.0 core attribute in v10_core (its order: enum v10_attr),
 * or -1. */
enum v10_attr {
    A_SPECVERSION,
    A_ID,
    A_SOURCE,
    A_TYPE,
    A_TIME,
    A_SUBJECT,
    A_DATASCHEMA,
    A_DATACONTENTTYPE,
    A_DATA,
    A_DATA_BASE64,
    A__CORE
};

static int v10_core_index(const char *n)
{
    for (int i = 0; v10_core[i]; i++)
        if (n[0] == v10_core[i][0] && !strcmp(n, v10_core[i]))
            return i;
    return -1;
}

static int is_v10_core(const char *n)
{
    return v10_core_index(n) >= 0;
}

/* CloudEvents attribute name: [a-z0-9]{1,20}. */
static int name_strict(const char *n)
{
    size_t i = 0;
    for (; n[i]; i++)
        if (i >= 20 || !((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9')))
            return 0;
    return i > 0;
}

/* Also the gateway's own names: [a-z0-9] then [a-z0-9.], at most 64, no
 * empty dot-separated part. */
static int name_trusted(const char *n)
{
    size_t i = 0;
    for (; n[i]; i++) {
        int alnum = (n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9');
        if (i >= 64 || (!alnum && n[i] != '.') || (n[i] == '.' && (i == 0 || n[i - 1] == '.')))
            return 0;
    }
    return i > 0 && n[i - 1] != '.';
}

/* 0.1 extension names (set_extension): [A-Za-z0-9._-]{1,64}. */
static int name_v01(const char *n)
{
    size_t i = 0;
    for (; n[i]; i++) {
        unsigned char c = (unsigned char)n[i];
        if (i >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return i > 0;
}

/* Counts members (bounded) and refuses duplicate names. */
static int check_members(const cJSON *o, const char *what, eg_error_t *err)
{
    int n = 0;
    char b[72];
    for (const cJSON *a = o->child; a; a = a->next) {
        if (++n > EG_EVENT_MAX_ATTRS)
            return eg_error_set(err, 400, "%s has too many members (more than %d).", what,
                                EG_EVENT_MAX_ATTRS);
        if (!a->string)
            return eg_error_set(err, 400, "%s has a member without a name.", what);
        for (const cJSON *p = o->child; p != a; p = p->next)
            if (p->string[0] == a->string[0] && !strcmp(p->string, a->string))
                return eg_error_set(err, 400, "%s: attribute \"%s\" appears twice.", what,
                                    shown(a->string, b));
    }
    return 0;
}

static int check_string(const cJSON *v, const char *name, int required, eg_error_t *err)
{
    if (!v)
        return required ? eg_error_set(err, 400, "attribute \"%s\" is missing.", name) : 0;
    if (!cJSON_IsString(v) || !v->valuestring)
        return eg_error_set(err, 400, "attribute \"%s\" must be a string.", name);
    if (required && !v->valuestring[0])
        return eg_error_set(err, 400, "attribute \"%s\" must not be empty.", name);
    if (strlen(v->valuestring) > EG_EVENT_MAX_ATTR_LEN)
        return eg_error_set(err, 400, "attribute \"%s\" is too long (over %d bytes).", name,
                            EG_EVENT_MAX_ATTR_LEN);
    return 0;
}

static int check_space(const cJSON *v, const char *name, eg_error_t *err)
{
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || !v->valuestring || !space_ok(v->valuestring))
        return eg_error_set(err, 400,
                            "attribute \"%s\" must be a space name matching "
                            "^[A-Za-z0-9._-]{3,256}$.",
                            name);
    return 0;
}

static int validate_v10(const cJSON *o, int trusted, eg_error_t *err)
{
    char b[72];
    if (!cJSON_IsObject(o))
        return eg_error_set(err, 400, "a CloudEvent must be a JSON object.");
    if (check_members(o, "the CloudEvent", err))
        return -1;
    /* One pass finds every attribute looked at below (names are unique now). */
    const cJSON *at[A__CORE] = {0}, *space = NULL, *pk = NULL;
    for (const cJSON *a = o->child; a; a = a->next) {
        int k = v10_core_index(a->string);
        if (k >= 0)
            at[k] = a;
        else if (!strcmp(a->string, "egspace"))
            space = a;
        else if (!strcmp(a->string, "partitionkey"))
            pk = a;
    }
    const cJSON *sv = at[A_SPECVERSION];
    if (check_string(sv, "specversion", 1, err))
        return -1;
    if (strcmp(sv->valuestring, "1.0"))
        return eg_error_set(err, 400,
                            "unsupported specversion \"%s\": only CloudEvents 1.0 (or 0.1 with "
                            "cloudEventsVersion) is accepted.",
                            shown(sv->valuestring, b));
    for (int i = A_ID; i <= A_DATACONTENTTYPE; i++) /* id, source, type: required */
        if (check_string(at[i], v10_core[i], i <= A_TYPE, err))
            return -1;
    const cJSON *t = at[A_TIME];
    if (t && !rfc3339_ok(t->valuestring))
        return eg_error_set(err, 400, "attribute \"time\" is not an RFC 3339 timestamp: \"%s\".",
                            shown(t->valuestring, b));
    const cJSON *d64 = at[A_DATA_BASE64];
    if (d64 && at[A_DATA])
        return eg_error_set(err, 400,
                            "attributes \"data\" and \"data_base64\" are mutually exclusive.");
    if (d64 && (!cJSON_IsString(d64) || !d64->valuestring || !b64_valid(d64->valuestring)))
        return eg_error_set(err, 400, "attribute \"data_base64\" must be a base64 string.");
    for (const cJSON *a = o->child; a; a = a->next) {
        if (is_v10_core(a->string))
            continue;
        if (!(trusted ? name_trusted(a->string) : name_strict(a->string)))
            return eg_error_set(err, 400,
                                "invalid attribute name \"%s\": CloudEvents attribute names are 1 "
                                "to 20 lowercase letters or digits.",
                                shown(a->string, b));
        if (cJSON_IsString(a)) {
            if (check_string(a, a->string, 0, err))
                return -1;
        } else if (cJSON_IsNumber(a) && !isfinite(a->valuedouble)) {
            return eg_error_set(err, 400, "attribute \"%s\" must be a finite number.",
                                shown(a->string, b));
        } else if (!cJSON_IsNumber(a) && !cJSON_IsBool(a) && !(trusted && strchr(a->string, '.')))
            return eg_error_set(err, 400, "attribute \"%s\" must be a string, number or boolean.",
                                shown(a->string, b));
    }
    if (check_space(space, "egspace", err))
        return -1;
    if (pk && !cJSON_IsString(pk))
        return eg_error_set(err, 400, "attribute \"partitionkey\" must be a string.");
    return 0;
}

static int validate_v01(const cJSON *o, eg_error_t *err)
{
    char b[72];
    if (!cJSON_IsObject(o))
        return eg_error_set(err, 400, "a CloudEvent must be a JSON object.");
    if (check_members(o, "the CloudEvent", err))
        return -1;
    const cJSON *cv = get(o, "cloudEventsVersion");
    if (check_string(cv, "cloudEventsVersion", 1, err))
        return -1;
    if (strcmp(cv->valuestring, "0.1"))
        return eg_error_set(err, 400,
                            "unsupported cloudEventsVersion \"%s\": only 0.1 (or specversion "
                            "1.0) is accepted.",
                            shown(cv->valuestring, b));
    /* Either version's decoder must read the stored event back the same
     * way, and a specversion member would make it a 1.0 event. */
    if (get(o, "specversion"))
        return eg_error_set(err, 400,
                            "attributes \"cloudEventsVersion\" (CloudEvents 0.1) and "
                            "\"specversion\" (1.0) are mutually exclusive.");
    static const char *const req[] = {"eventType", "eventID", "source"};
    for (int i = 0; i < 3; i++)
        if (check_string(get(o, req[i]), req[i], 1, err))
            return -1;
    static const char *const opt[] = {"eventTypeVersion", "schemaURL", "contentType", "eventTime"};
    for (int i = 0; i < 4; i++)
        if (check_string(get(o, opt[i]), opt[i], 0, err))
            return -1;
    const cJSON *t = get(o, "eventTime");
    if (t && !rfc3339_ok(t->valuestring))
        return eg_error_set(err, 400,
                            "attribute \"eventTime\" is not an RFC 3339 timestamp: \"%s\".",
                            shown(t->valuestring, b));
    const cJSON *ext = get(o, "extensions");
    if (ext && !cJSON_IsNull(ext)) {
        if (!cJSON_IsObject(ext))
            return eg_error_set(err, 400, "attribute \"extensions\" must be an object.");
        if (check_members(ext, "\"extensions\"", err))
            return -1;
        if (check_space(get(ext, "egspace"), "extensions.egspace", err))
            return -1;
    }
    return 0;
}

/* Re-derives the borrowed fields from e->json. */
static void refresh(eg_event_t *e)
{
    const cJSON *o = e->json, *sp;
    if (e->version == EG_EVENT_V10) {
        e->id = get(o, "id")->valuestring;
        e->type = get(o, "type")->valuestring;
        e->source = get(o, "source")->valuestring;
        sp = get(o, "egspace");
        const cJSON *pk = get(o, "partitionkey");
        e->partition_key = cJSON_IsString(pk) ? pk->valuestring : NULL;
    } else {
        e->id = get(o, "eventID")->valuestring;
        e->type = get(o, "eventType")->valuestring;
        e->source = get(o, "source")->valuestring;
        const cJSON *ext = get(o, "extensions");
        sp = cJSON_IsObject(ext) ? get(ext, "egspace") : NULL;
        e->partition_key = NULL;
    }
    const char *space =
        cJSON_IsString(sp) && sp->valuestring ? sp->valuestring : EG_EVENT_DEFAULT_SPACE;
    size_t n = strnlen(space, sizeof e->space - 1); /* per event: no snprintf */
    memcpy(e->space, space, n);
    e->space[n] = '\0';
}

/* Validates json (taken) as version v and fills *out; on failure frees json. */
static int event_init(eg_event_t *out, cJSON *json, eg_event_version_t v, int trusted,
                      eg_error_t *err)
{
    memset(out, 0, sizeof *out);
    int rc = v == EG_EVENT_V10 ? validate_v10(json, trusted, err) : validate_v01(json, err);
    if (rc) {
        cJSON_Delete(json);
        return -1;
    }
    out->version = v;
    out->json = json;
    refresh(out);
    return 0;
}

/* A structured event of either version from a JSON document (taken). */
static int structured_init(eg_event_t *out, cJSON *j, int trusted, eg_error_t *err)
{
    if (!j)
        return eg_error_set(err, 400, "the CloudEvent is not valid JSON.");
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return eg_error_set(err, 400, "a CloudEvent must be a JSON object.");
    }
    if (get(j, "specversion"))
        return event_init(out, j, EG_EVENT_V10, trusted, err);
    if (get(j, "cloudEventsVersion"))
        return event_init(out, j, EG_EVENT_V01, trusted, err);
    cJSON_Delete(j);
    return eg_error_set(err, 400,
                        "attribute \"specversion\" is missing (or \"cloudEventsVersion\" for "
                        "CloudEvents 0.1).");
}

/* The extensions only the gateway sets: an authorizer's result
 * (eventgateway.authorization, and any eventgateway.*) and a replay's mark
 * (replayid). Any case: names are compared as a reader might. */
static int gateway_owned(const char *name)
{
    return name && (ci_prefix(name, "eventgateway.") || ci_eq(name, "replayid"));
}

/* A client may not forge the gateway's own extensions: they are dropped from
 * a structured event of either version before it is validated (a 1.0 name
 * with a dot would otherwise be refused). 1 when something was dropped (the
 * event is then no longer the text it was parsed from), else 0. */
static int strip_gateway_extensions(cJSON *j)
{
    cJSON *o = get(j, "specversion") ? j : get(j, "extensions");
    int n = 0;
    if (!cJSON_IsObject(o))
        return 0;
    for (cJSON *a = o->child, *next; a; a = next) {
        next = a->next;
        if (gateway_owned(a->string)) {
            cJSON_Delete(cJSON_DetachItemViaPointer(o, a));
            n = 1;
        }
    }
    return n;
}

/* Binary-mode 1.0 events are built in 5 passes over the headers, so that
 * they start with specversion, id, source, type (passes 0-3) whatever the
 * header order; the other attributes follow in header order (pass 4). */
static size_t attr_pass(const char *n)
{
    static const char *const first[] = {"specversion", "id", "source", "type"};
    for (size_t i = 0; i < 4; i++)
        if (!strcmp(n, first[i]))
            return i;
    return 4;
}

/* 1.0 binary mode data: JSON types parsed (invalid: 400), text types as a
 * string when UTF-8, else data_base64. No content type: JSON if it parses,
 * else data_base64. */
static int add_data_v10(cJSON *o, const char *body, size_t len, const char *mt, eg_error_t *err)
{
    if (len == 0)
        return 0;
    if (!mt[0] || is_json_mt(mt)) {
        cJSON *j = json_parse(body, len);
        if (j)
            return add(o, "data", j) ? oom(err) : 0;
        if (mt[0])
            return eg_error_set(err, 400,
                                "data is not valid JSON although datacontenttype is \"%s\".", mt);
    } else if (is_text_mt(mt) && utf8_text(body, len)) {
        return add(o, "data", jstr(body, len)) ? oom(err) : 0;
    }
    return add(o, "data_base64", b64_json(body, len)) ? oom(err) : 0;
}

/* The data of events the gateway builds (0.1): "" when empty; JSON parsed
 * when the type is JSON (or absent) and it parses; UTF-8 text as a string
 * when the type is textual (or absent); else a base64 string. */
static cJSON *payload_v01(const char *body, size_t len, const char *mt)
{
    if (len == 0)
        return cJSON_CreateString("");
    int json = !mt[0] || is_json_mt(mt);
    if (json) {
        cJSON *j = json_parse(body, len);
        if (j)
            return j;
    }
    if ((json || is_text_mt(mt)) && utf8_text(body, len))
        return jstr(body, len);
    return b64_json(body, len);
}

/* ------------------------------------------------------------------- HTTP */

static const char *hdr(const eg_http_input_t *in, const char *name)
{
    for (size_t i = 0; i < in->nheaders; i++)
        if (in->headers[i].name && in->headers[i].value && ci_eq(in->headers[i].name, name))
            return in->headers[i].value;
    return NULL;
}

static const char *hdr_nonempty(const eg_http_input_t *in, const char *name)
{
    const char *v = hdr(in, name);
    return v && *v ? v : NULL;
}

/* A ce-* header value per the HTTP binding: quoted-string unescaped, then one
 * round of percent-decoding; must be UTF-8 without control characters.
 * Returns a malloc'd string or NULL with err set. */
static char *ce_header_value(const char *name, const char *v, eg_error_t *err)
{
    char b[72];
    size_t n = strlen(v);
    if (n > EG_EVENT_MAX_ATTR_LEN * 3) {
        eg_error_set(err, 400, "header %s is too long.", shown(name, b));
        return NULL;
    }
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    char *s = malloc(n + 1);
    if (!s) {
        oom(err);
        return NULL;
    }
    size_t w = 0;
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        for (size_t i = 1; i + 1 < n; i++) {
            if (v[i] == '\\' && i + 2 < n)
                i++;
            s[w++] = v[i];
        }
    } else {
        memcpy(s, v, n);
        w = n;
    }
    s[w] = '\0';
    long len = eg_http_unescape(s, 0);
    int bad = len < 0 || !utf8_text(s, (size_t)len);
    for (long i = 0; !bad && i < len; i++)
        bad = (unsigned char)s[i] < 0x20 || s[i] == 0x7f;
    if (bad) {
        free(s);
        eg_error_set(err, 400,
                     "header %s is not a valid percent-encoded UTF-8 value (CloudEvents HTTP "
                     "binding).",
                     shown(name, b));
        return NULL;
    }
    return s;
}

/* (a) application/cloudevents+json */
static int http_structured(const eg_http_input_t *in, eg_event_t *out, eg_error_t *err)
{
    if (in->body_len == 0)
        return eg_error_set(err, 400,
                            "the body is empty: application/cloudevents+json needs a CloudEvent.");
    size_t doc_len = 0;
    cJSON *j = json_parse_doc(in->body, in->body_len, &doc_len);
    if (!j)
        return eg_error_set(err, 400, "the body is not valid JSON (application/cloudevents+json).");
    int stripped = cJSON_IsObject(j) && strip_gateway_extensions(j);
    if (structured_init(out, j, 0, err))
        return -1;
    if (!stripped) {
        out->raw = in->body;
        out->raw_len = doc_len;
    }
    return 0;
}

/* (b) CloudEvents 1.0 binary mode. */
static int http_binary_v10(const eg_http_input_t *in, const char *ct, eg_error_t *err,
                           eg_event_t *out)
{
    char b[72], mt[MT_CAP];
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return oom(err);
    const char *dct = NULL;
    for (size_t n = 0; n < 5 * in->nheaders; n++) { /* see attr_pass */
        size_t i = n % in->nheaders;
        const char *hn = in->headers[i].name, *hv = in->headers[i].value;
        if (!hn || !hv || !ci_prefix(hn, "ce-") || gateway_owned(hn + 3))
            continue;
        char name[24];
        size_t k = 0;
        for (const char *p = hn + 3; *p && k < sizeof name - 1; p++)
            name[k++] = (char)lc((unsigned char)*p);
        name[k] = '\0';
        if (attr_pass(name) != n / in->nheaders)
            continue;
        if (strlen(hn + 3) != k || !name_strict(name)) {
            cJSON_Delete(o);
            return eg_error_set(err, 400,
                                "invalid header %s: CloudEvents attribute names are 1 to 20 "
                                "lowercase letters or digits.",
                                shown(hn, b));
        }
        if (!strcmp(name, "data")) {
            cJSON_Delete(o);
            return eg_error_set(err, 400, "header ce-data is not allowed: data is the body.");
        }
        if (get(o, name)) {
            cJSON_Delete(o);
            return eg_error_set(err, 400, "header ce-%s appears twice.", name);
        }
        char *v = ce_header_value(hn, hv, err);
        if (!v) {
            cJSON_Delete(o);
            return -1;
        }
        int rc = adds(o, name, v);
        free(v);
        if (rc) {
            cJSON_Delete(o);
            return oom(err);
        }
        if (!strcmp(name, "datacontenttype"))
            dct = get(o, name)->valuestring;
    }
    if (ct) { /* Content-Type is datacontenttype (and wins over ce-datacontenttype) */
        if (strlen(ct) > EG_EVENT_MAX_ATTR_LEN || !utf8_text(ct, strlen(ct))) {
            cJSON_Delete(o);
            return eg_error_set(err, 400, "the Content-Type header is not valid.");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(o, "datacontenttype");
        if (adds(o, "datacontenttype", ct)) {
            cJSON_Delete(o);
            return oom(err);
        }
        dct = ct;
    }
    media_type(dct, mt);
    if (add_data_v10(o, in->body, in->body_len, mt, err)) {
        cJSON_Delete(o);
        return -1;
    }
    return event_init(out, o, EG_EVENT_V10, 0, err);
}

/* The start of a 0.1 event the gateway builds (legacy mode, http.request). */
static cJSON *transformed_v01(const char *type)
{
    char id[37], now[64];
    eg_uuid4(id);
    now_rfc3339(now);
    cJSON *o = cJSON_CreateObject(), *ext = cJSON_CreateObject(), *eg = cJSON_CreateObject();
    int bad = !o || !ext || !eg;
    if (!bad) {
        bad |= add(o, "eventType", jstr(type, strlen(type)));
        bad |= adds(o, "cloudEventsVersion", "0.1");
        bad |= adds(o, "source", EG_EVENT_SOURCE_EG);
        bad |= adds(o, "eventID", id);
        bad |= adds(o, "eventTime", now);
        bad |= adds(eg, "transformation-version", "0.1");
        bad |= adds(eg, "transformed", "true");
        bad |= add(ext, "eventgateway", eg);
        eg = NULL;
        bad |= add(o, "extensions", ext);
        ext = NULL;
    }
    cJSON_Delete(eg);
    cJSON_Delete(ext);
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Go's textproto.CanonicalMIMEHeaderKey into a malloc'd string. */
static char *canonical_header(const char *s)
{
    char *c = strdup(s);
    if (!c)
        return NULL;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              strchr("!#$%&'*+-.^_`|~", ch)))
            return c; /* not a token: left as is, as Go does */
    }
    int up = 1;
    for (char *p = c; *p; p++) {
        if (up && *p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
        else if (!up && *p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
        up = *p == '-';
    }
    return c;
}

/* (b') CloudEvents 0.1 binary mode as event-gateway 0.9 read it. */
static int http_binary_v01(const eg_http_input_t *in, const char *ct, const char *mt,
                           eg_error_t *err, eg_event_t *out)
{
    cJSON *o = cJSON_CreateObject(), *ext = cJSON_CreateObject();
    int bad = !o || !ext;
    static const struct {
        const char *header, *attr;
    } map[] = {{"CE-EventType", "eventType"},
               {"CE-EventTypeVersion", "eventTypeVersion"},
               {"CE-CloudEventsVersion", "cloudEventsVersion"},
               {"CE-Source", "source"},
               {"CE-EventID", "eventID"},
               {"CE-EventTime", "eventTime"},
               {"CE-SchemaURL", "schemaURL"}};
    for (size_t i = 0; !bad && i < sizeof map / sizeof map[0]; i++) {
        const char *v = hdr_nonempty(in, map[i].header);
        if (v)
            bad |= add(o, map[i].attr, jstr(v, strlen(v)));
    }
    for (size_t i = 0; !bad && i < in->nheaders; i++) {
        const char *hn = in->headers[i].name, *hv = in->headers[i].value;
        if (!hn || !hv || !ci_prefix(hn, "ce-x-") || !hn[5])
            continue;
        char *key = canonical_header(hn + 5);
        if (!key) {
            bad = 1;
            break;
        }
        key[0] = (char)lc((unsigned char)key[0]);
        if (!gateway_owned(key) && !get(ext, key))
            bad |= add(ext, key, jstr(hv, strlen(hv)));
        free(key);
    }
    if (!bad && ext->child) {
        bad |= add(o, "extensions", ext);
        ext = NULL;
    }
    if (!bad && ct)
        bad |= add(o, "contentType", jstr(ct, strlen(ct)));
    if (!bad)
        bad |= add(o, "data", payload_v01(in->body, in->body_len, mt));
    cJSON_Delete(ext);
    if (bad) {
        cJSON_Delete(o);
        return oom(err);
    }
    return event_init(out, o, EG_EVENT_V01, 0, err);
}

/* (d) legacy mode: "Event: <type>" and any body. */
static int http_legacy(const eg_http_input_t *in, const char *type, const char *mt, eg_error_t *err,
                       eg_event_t *out)
{
    if (strlen(type) > EG_EVENT_MAX_ATTR_LEN)
        return eg_error_set(err, 400, "the Event header is too long.");
    cJSON *o = transformed_v01(type);
    const char *ctype = mt[0] ? mt : "application/json";
    if (!o || add(o, "contentType", jstr(ctype, strlen(ctype))) ||
        add(o, "data", payload_v01(in->body, in->body_len, mt))) {
        cJSON_Delete(o);
        return oom(err);
    }
    return event_init(out, o, EG_EVENT_V01, 0, err);
}

typedef struct {
    char *name;
    const char *value;
    size_t vlen;
    size_t idx;
} kv_t;

static int kv_cmp(const void *a, const void *b)
{
    const kv_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

static void kv_free(kv_t *kv, size_t n)
{
    for (size_t i = 0; kv && i < n; i++)
        free(kv[i].name);
    free(kv);
}

/* {Canonical-Name: "v1, v2"} sorted by name, without Host. NULL on OOM. */
static cJSON *request_headers(const eg_http_input_t *in)
{
    kv_t *kv = calloc(in->nheaders + 1, sizeof *kv);
    cJSON *o = cJSON_CreateObject();
    size_t n = 0;
    int bad = !kv || !o;
    for (size_t i = 0; !bad && i < in->nheaders; i++) {
        const eg_header_t *h = &in->headers[i];
        if (!h->name || !h->value || !h->name[0])
            continue;
        char *c = canonical_header(h->name);
        if (!c) {
            bad = 1;
            break;
        }
        if (!strcmp(c, "Host")) {
            free(c);
            continue;
        }
        kv[n++] = (kv_t){c, h->value, strlen(h->value), i};
    }
    if (!bad)
        qsort(kv, n, sizeof *kv, kv_cmp);
    for (size_t i = 0; !bad && i < n;) {
        size_t j = i, total = 0;
        for (; j < n && !strcmp(kv[j].name, kv[i].name); j++)
            total += kv[j].vlen + 2;
        char *v = malloc(total + 1);
        if (!v) {
            bad = 1;
            break;
        }
        size_t w = 0;
        for (size_t k = i; k < j; k++) {
            if (k > i)
                memcpy(v + w, ", ", 2), w += 2;
            memcpy(v + w, kv[k].value, kv[k].vlen), w += kv[k].vlen;
        }
        bad |= add(o, kv[i].name, jstr(v, w));
        free(v);
        i = j;
    }
    kv_free(kv, n);
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* {key: [values…]} from a raw query, decoded like Go's url.ParseQuery (pairs
 * with a bad escape are dropped), sorted by key. *too_many set when over
 * EG_EVENT_MAX_QUERY pairs. NULL on OOM or too many pairs. */
static cJSON *request_query(const char *q, int *too_many)
{
    size_t cap = 1;
    for (const char *p = q; p && *p; p++)
        cap += *p == '&';
    *too_many = cap > EG_EVENT_MAX_QUERY;
    if (*too_many)
        return NULL;
    kv_t *kv = calloc(cap, sizeof *kv);
    cJSON *o = cJSON_CreateObject();
    size_t n = 0;
    int bad = !kv || !o;
    for (const char *p = q; !bad && p && *p;) {
        size_t seg = strcspn(p, "&");
        if (seg) {
            char *pair = malloc(seg + 2); /* +1: room to move an empty value after the name */
            if (!pair) {
                bad = 1;
                break;
            }
            memcpy(pair, p, seg);
            pair[seg] = '\0';
            char *eq = strchr(pair, '=');
            char *val = eq ? eq + 1 : pair + seg;
            if (eq)
                *eq = '\0';
            long vl = eg_http_unescape(val, 1);
            long kl = vl >= 0 ? eg_http_unescape(pair, 1) : -1;
            if (vl >= 0 && kl >= 0) {
                /* name and value share one allocation: name first, value after */
                memmove(pair + kl + 1, val, (size_t)vl + 1);
                kv[n] = (kv_t){pair, pair + kl + 1, (size_t)vl, n};
                n++;
            } else {
                free(pair);
            }
        }
        p += seg;
        if (*p == '&')
            p++;
    }
    if (!bad)
        qsort(kv, n, sizeof *kv, kv_cmp);
    for (size_t i = 0; !bad && i < n;) {
        cJSON *arr = cJSON_CreateArray();
        size_t j = i;
        for (; arr && j < n && !strcmp(kv[j].name, kv[i].name); j++) {
            cJSON *s = jstr(kv[j].value, kv[j].vlen);
            if (!s || !cJSON_AddItemToArray(arr, s)) {
                cJSON_Delete(s);
                bad = 1;
                break;
            }
        }
        if (!arr)
            bad = 1;
        if (!bad) {
            cJSON *name = jstr(kv[i].name, strlen(kv[i].name));
            bad |= !name || add(o, name->valuestring, arr);
            arr = NULL;
            cJSON_Delete(name);
        }
        cJSON_Delete(arr);
        i = j;
    }
    kv_free(kv, n);
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* (e) an http.request event. */
static int http_request(const eg_http_input_t *in, const char *mt, eg_error_t *err, eg_event_t *out)
{
    int too_many = 0;
    cJSON *o = transformed_v01(EG_EVENT_TYPE_HTTP_REQUEST), *d = cJSON_CreateObject();
    cJSON *q = request_query(in->raw_query, &too_many);
    cJSON *params = cJSON_CreateObject();
    int bad = !o || !d || !q || !params;
    if (!bad) {
        bad |= add(d, "headers", request_headers(in));
        bad |= add(d, "query", q);
        q = NULL;
        bad |= add(d, "body", payload_v01(in->body, in->body_len, mt));
        bad |= add(d, "host", jstr(in->host, in->host ? strlen(in->host) : 0));
        bad |= add(d, "path", jstr(in->path, in->path ? strlen(in->path) : 0));
        bad |= add(d, "method", jstr(in->method, in->method ? strlen(in->method) : 0));
        for (size_t i = 0; !bad && i < in->nparams && in->params; i++) {
            const eg_path_param_t *pp = &in->params[i];
            cJSON *name = jstr(pp->name, pp->name ? pp->name_len : 0);
            cJSON *v = jstr(pp->value, pp->value ? pp->value_len : 0);
            if (!name || !v) {
                cJSON_Delete(name);
                cJSON_Delete(v);
                bad = 1;
                break;
            }
            cJSON_DeleteItemFromObjectCaseSensitive(params, name->valuestring);
            bad |= add(params, name->valuestring, v);
            cJSON_Delete(name);
        }
        bad |= add(d, "params", params);
        params = NULL;
        bad |= adds(o, "contentType", "application/json");
        bad |= add(o, "data", d);
        d = NULL;
    }
    cJSON_Delete(q);
    cJSON_Delete(params);
    cJSON_Delete(d);
    if (bad) {
        cJSON_Delete(o);
        return too_many ? eg_error_set(err, 400,
                                       "the query string has too many parameters "
                                       "(more than %d).",
                                       EG_EVENT_MAX_QUERY)
                        : oom(err);
    }
    return event_init(out, o, EG_EVENT_V01, 0, err);
}

int eg_event_from_http(const eg_http_input_t *in, eg_event_t *out, eg_error_t *err)
{
    char mt[MT_CAP];
    if (!out)
        return eg_error_set(err, 400, "no event to fill.");
    memset(out, 0, sizeof *out);
    if (!in || (in->nheaders && !in->headers))
        return eg_error_set(err, 400, "no request.");
    if (in->nheaders > EG_EVENT_MAX_HEADERS)
        return eg_error_set(err, 400, "the request has too many headers (more than %d).",
                            EG_EVENT_MAX_HEADERS);
    if (in->body_len > EG_EVENT_MAX_BYTES)
        return eg_error_set(err, 400, "the body is too large (more than %u bytes).",
                            EG_EVENT_MAX_BYTES);
    if (in->body_len && !in->body)
        return eg_error_set(err, 400, "the body is missing.");
    const char *ct = hdr_nonempty(in, "Content-Type");
    media_type(ct, mt);
    const char *event_type = hdr_nonempty(in, "Event");

    if (!strcmp(mt, EG_EVENT_CT_CLOUDEVENTS))
        return http_structured(in, out, err);
    if (hdr(in, "ce-specversion"))
        return http_binary_v10(in, ct, err, out);
    if (hdr_nonempty(in, "CE-EventType") && hdr_nonempty(in, "CE-CloudEventsVersion") &&
        hdr_nonempty(in, "CE-Source") && hdr_nonempty(in, "CE-EventID"))
        return http_binary_v01(in, ct, mt, err, out);
    if ((!mt[0] || !strcmp(mt, "application/json")) && in->body_len) {
        size_t doc_len = 0;
        cJSON *j = json_parse_doc(in->body, in->body_len, &doc_len);
        if (cJSON_IsObject(j) && get(j, "cloudEventsVersion")) {
            int stripped = strip_gateway_extensions(j);
            if (event_init(out, j, EG_EVENT_V01, 0, err) == 0) {
                if (!stripped) {
                    out->raw = in->body;
                    out->raw_len = doc_len;
                }
                return 0;
            }
            if (!event_type) /* with an Event header, 0.9 fell back to legacy mode */
                return -1;
        } else {
            cJSON_Delete(j);
        }
    }
    if (event_type)
        return http_legacy(in, event_type, mt, err, out);
    return http_request(in, mt, err, out);
}

/* ------------------------------------------------------------------ Kafka */

/* A Kafka header value as a NUL-terminated UTF-8 string; NULL with err set. */
static char *kafka_value(const char *name, const void *v, size_t n, eg_error_t *err)
{
    char b[72];
    if (!v || n > EG_EVENT_MAX_ATTR_LEN || !utf8_text(v, n)) {
        eg_error_set(err, 400, "header %s is not a UTF-8 string of at most %d bytes.",
                     shown(name, b), EG_EVENT_MAX_ATTR_LEN);
        return NULL;
    }
    char *s = malloc(n + 1);
    if (!s) {
        oom(err);
        return NULL;
    }
    memcpy(s, v, n);
    s[n] = '\0';
    return s;
}

static int kafka_binary(const void *value, size_t len, rd_kafka_headers_t *hdrs, const char *ct,
                        eg_event_t *out, eg_error_t *err)
{
    char b[72], mt[MT_CAP];
    const char *hn;
    const void *hv;
    size_t hs;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return oom(err);
    const char *dct = NULL;
    size_t cnt = rd_kafka_header_cnt(hdrs);
    for (size_t n = 0; n < 5 * cnt; n++) { /* see attr_pass */
        if (rd_kafka_header_get_all(hdrs, n % cnt, &hn, &hv, &hs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            !hn || !ci_prefix(hn, "ce_"))
            continue;
        char name[24];
        size_t k = 0;
        for (const char *p = hn + 3; *p && k < sizeof name - 1; p++)
            name[k++] = (char)lc((unsigned char)*p);
        name[k] = '\0';
        if (attr_pass(name) != n / cnt)
            continue;
        const char *why = NULL;
        if (strlen(hn + 3) != k || !name_strict(name))
            why = "is not a valid attribute name (1 to 20 lowercase letters or digits)";
        else if (!strcmp(name, "data"))
            why = "is not allowed: data is the record value";
        else if (get(o, name))
            why = "appears twice";
        if (why) {
            cJSON_Delete(o);
            return eg_error_set(err, 400, "header %s %s.", shown(hn, b), why);
        }
        char *v = kafka_value(hn, hv, hs, err);
        if (!v) {
            cJSON_Delete(o);
            return -1;
        }
        int rc = adds(o, name, v);
        free(v);
        if (rc) {
            cJSON_Delete(o);
            return oom(err);
        }
        if (!strcmp(name, "datacontenttype"))
            dct = get(o, name)->valuestring;
    }
    if (ct) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, "datacontenttype");
        if (adds(o, "datacontenttype", ct)) {
            cJSON_Delete(o);
            return oom(err);
        }
        dct = ct;
    }
    media_type(dct, mt);
    if (add_data_v10(o, value, len, mt, err)) {
        cJSON_Delete(o);
        return -1;
    }
    return event_init(out, o, EG_EVENT_V10, 0, err);
}

static int kafka_decode(const void *value, size_t len, rd_kafka_headers_t *hdrs, eg_event_t *out,
                        eg_error_t *err)
{
    const char *hn;
    const void *hv;
    size_t hs, count = 0;
    int has_ce = 0, has_sv = 0;
    char *ct = NULL, mt[MT_CAP];
    if (len > EG_EVENT_MAX_BYTES)
        return eg_error_set(err, 400, "the value is too large (more than %u bytes).",
                            EG_EVENT_MAX_BYTES);
    if (len && !value)
        return eg_error_set(err, 400, "the value is missing.");
    for (size_t i = 0;
         hdrs && rd_kafka_header_get_all(hdrs, i, &hn, &hv, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        if (++count > EG_EVENT_MAX_HEADERS) {
            free(ct);
            return eg_error_set(err, 400, "the record has too many headers (more than %d).",
                                EG_EVENT_MAX_HEADERS);
        }
        if (!hn)
            continue;
        if (ci_prefix(hn, "ce_"))
            has_ce = 1;
        if (ci_eq(hn, "ce_specversion"))
            has_sv = 1;
        if (!ct && ci_eq(hn, "content-type") && hv && hs) {
            if (!(ct = kafka_value(hn, hv, hs, err)))
                return -1;
        }
    }
    media_type(ct, mt);
    int rc;
    if (!strcmp(mt, EG_EVENT_CT_CLOUDEVENTS)) {
        rc = len ? structured_init(out, json_parse(value, len), 1, err)
                 : eg_error_set(err, 400, "the value is empty although content-type is %s.",
                                EG_EVENT_CT_CLOUDEVENTS);
    } else if (has_sv) {
        rc = kafka_binary(value, len, hdrs, ct, out, err);
    } else if (has_ce) {
        rc = eg_error_set(err, 400, "ce_ headers without a ce_specversion header.");
    } else {
        cJSON *j = json_parse(value, len);
        if (cJSON_IsObject(j) && (get(j, "specversion") || get(j, "cloudEventsVersion"))) {
            rc = structured_init(out, j, 1, err);
        } else {
            cJSON_Delete(j);
            rc = eg_error_set(err, 400,
                              "no content-type application/cloudevents+json, no ce_specversion "
                              "header, and the value is not a CloudEvents JSON object.");
        }
    }
    free(ct);
    return rc;
}

int eg_event_from_kafka(const void *value, size_t len, rd_kafka_headers_t *hdrs, eg_event_t *out,
                        eg_error_t *err)
{
    if (!out)
        return eg_error_set(err, 400, "not a CloudEvent: no event to fill.");
    memset(out, 0, sizeof *out);
    if (kafka_decode(value, len, hdrs, out, err) == 0)
        return 0;
    if (err && err->status != 500 && strncmp(err->message, "not a CloudEvent", 16)) {
        char tmp[sizeof err->message];
        memcpy(tmp, err->message, sizeof tmp);
        snprintf(err->message, sizeof err->message, "not a CloudEvent: %.490s", tmp);
    }
    return -1;
}

/* ---------------------------------------------------------- out and about */

int eg_event_parse(const char *json, size_t len, eg_event_t *out, eg_error_t *err)
{
    if (!out)
        return eg_error_set(err, 400, "no event to fill.");
    memset(out, 0, sizeof *out);
    if (len > EG_EVENT_MAX_BYTES)
        return eg_error_set(err, 400, "the event is too large (more than %u bytes).",
                            EG_EVENT_MAX_BYTES);
    return structured_init(out, json_parse(json, len), 1, err);
}

char *eg_event_serialize(const eg_event_t *e, size_t *len)
{
    char *s = e && e->json ? cJSON_PrintUnformatted(e->json) : NULL;
    if (len)
        *len = s ? strlen(s) : 0;
    return s;
}

const char *eg_event_content_type(const eg_event_t *e)
{
    return e && e->version == EG_EVENT_V10 ? EG_EVENT_CT_CLOUDEVENTS : "application/json";
}

/* Adds item (taken only on success) under name to obj, keeping obj's
 * "data"/"data_base64" member last. -1 on OOM. */
static int add_before_data(cJSON *obj, const char *name, cJSON *item)
{
    cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(obj, "data");
    if (!data)
        data = cJSON_DetachItemFromObjectCaseSensitive(obj, "data_base64");
    int ok = cJSON_AddItemToObject(obj, name, item);
    if (data) /* keeps its name: cJSON_AddItemToArray only links it */
        cJSON_AddItemToArray(obj, data);
    return ok ? 0 : -1;
}

int eg_event_set_extension(eg_event_t *e, const char *name, cJSON *value)
{
    if (!e || !e->json || !name || !value)
        goto fail;
    if (e->version == EG_EVENT_V10) {
        if (!name_trusted(name) || is_v10_core(name))
            goto fail;
        if (!strcmp(name, "partitionkey") && !cJSON_IsString(value))
            goto fail;
    } else if (!name_v01(name)) {
        goto fail;
    }
    if (!strcmp(name, "egspace") && (!cJSON_IsString(value) || !space_ok(value->valuestring)))
        goto fail;
    cJSON *target = e->json;
    if (e->version == EG_EVENT_V01) {
        target = get(e->json, "extensions");
        if (!cJSON_IsObject(target)) {
            cJSON *ext = cJSON_CreateObject();
            if (!ext)
                goto fail;
            if (get(e->json, "extensions")) {
                cJSON_ReplaceItemInObjectCaseSensitive(e->json, "extensions", ext);
            } else if (add_before_data(e->json, "extensions", ext)) {
                cJSON_Delete(ext);
                goto fail;
            }
            target = ext;
        }
    }
    e->raw = NULL; /* the event changes (or, on failure, may have changed) */
    cJSON *old = cJSON_DetachItemFromObjectCaseSensitive(target, name);
    if (add_before_data(target, name, value)) {
        if (old) /* put the old value back: the event stays as it was */
            cJSON_AddItemToArray(target, old);
        refresh(e);
        goto fail;
    }
    cJSON_Delete(old);
    refresh(e);
    return 0;
fail:
    cJSON_Delete(value);
    return -1;
}

void eg_event_release(eg_event_t *e)
{
    if (!e)
        return;
    cJSON_Delete(e->json);
    memset(e, 0, sizeof *e);
}
