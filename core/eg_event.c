/*
 * eg_event: the CloudEvents codec.
 *
 * One representation: an event is the cJSON object of its structured JSON
 * form, in the version it arrived in (CloudEvents 1.0 JSON format, or the
 * CloudEvents 0.1 shape of event-gateway 0.9). Every way in (HTTP structured
 * or binary, legacy "Event:" header, plain HTTP request, Kafka structured or
 * binary, the invoker re-reading a record) ends in eg__ev_event_init(), which runs
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
 * This file is the model (validation, the one init, the way out); the HTTP
 * binding is eg_event_http.c, the Kafka binding eg_event_kafka.c, each with
 * its fuzz target (tests/fuzz), and what the model lends them is declared in
 * eg_event_int.h.
 *
 * Failure: every function returns -1 with an eg_error_t (400 naming what is
 * wrong) and leaves nothing allocated. Stateless and thread safe; randomness
 * comes from getrandom(2).
 */
#include "eg_event_int.h"
#include "eg_alloc.h"
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

/* ---------------------------------------------------------------- helpers */

int eg__ev_lc(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

int eg__ev_ci_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (eg__ev_lc((unsigned char)*a) != eg__ev_lc((unsigned char)*b))
            return 0;
    return *a == *b;
}

int eg__ev_ci_prefix(const char *s, const char *p)
{
    for (; *p; s++, p++)
        if (!*s || eg__ev_lc((unsigned char)*s) != eg__ev_lc((unsigned char)*p))
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
const char *eg__ev_shown(const char *s, char buf[72])
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
void eg__ev_media_type(const char *ct, char out[MT_CAP])
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
        out[i] = (char)eg__ev_lc((unsigned char)ct[i]);
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

/* A NUL-terminated copy of untrusted bytes in which invalid UTF-8 and NUL
 * bytes became U+FFFD (as Go's encoding/json does). */
static char *utf8_clean(const char *s, size_t n)
{
    char *o = eg_xmalloc(utf8_text(s, n) ? n + 1 : n * 3 + 1);
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

/* A JSON string from untrusted bytes, cleaned like utf8_clean. */
cJSON *eg__ev_jstr(const char *s, size_t n)
{
    if (!s)
        s = "", n = 0;
    char *c = utf8_clean(s, n);
    cJSON *j = cJSON_CreateString(c);
    free(c);
    return j;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding, as a JSON string. */
static cJSON *b64_json(const char *s, size_t n)
{
    char *o = eg_base64_encode(s, n, 0);
    cJSON *j = cJSON_CreateString(o);
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
 * it). NULL when invalid. *doc_len (optional) is the
 * length of the document without the white space after it. */
cJSON *eg__ev_json_parse_doc(const char *buf, size_t n, size_t *doc_len)
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

cJSON *eg__ev_json_parse(const char *buf, size_t n)
{
    return eg__ev_json_parse_doc(buf, n, NULL);
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
void eg__ev_now_rfc3339(char buf[64])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
}

/* Adds v (taken) to o under k, which may come from the request (header or
 * query names): cleaned like utf8_clean when it is not UTF-8, so that the
 * event always serialises to JSON that parses back. */
void eg__ev_add(cJSON *o, const char *k, cJSON *v)
{
    size_t kn = strlen(k);
    char *clean = utf8_text(k, kn) ? NULL : utf8_clean(k, kn);
    cJSON_AddItemToObject(o, clean ? clean : k, v);
    free(clean);
}

void eg__ev_adds(cJSON *o, const char *k, const char *s)
{
    eg__ev_add(o, k, cJSON_CreateString(s));
}

cJSON *eg__ev_get(const cJSON *o, const char *k)
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
int eg__ev_name_strict(const char *n)
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
                                    eg__ev_shown(a->string, b));
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
                            eg__ev_shown(sv->valuestring, b));
    for (int i = A_ID; i <= A_DATACONTENTTYPE; i++) /* id, source, type: required */
        if (check_string(at[i], v10_core[i], i <= A_TYPE, err))
            return -1;
    const cJSON *t = at[A_TIME];
    if (t && !rfc3339_ok(t->valuestring))
        return eg_error_set(err, 400, "attribute \"time\" is not an RFC 3339 timestamp: \"%s\".",
                            eg__ev_shown(t->valuestring, b));
    const cJSON *d64 = at[A_DATA_BASE64];
    if (d64 && at[A_DATA])
        return eg_error_set(err, 400,
                            "attributes \"data\" and \"data_base64\" are mutually exclusive.");
    if (d64 && (!cJSON_IsString(d64) || !d64->valuestring || !b64_valid(d64->valuestring)))
        return eg_error_set(err, 400, "attribute \"data_base64\" must be a base64 string.");
    for (const cJSON *a = o->child; a; a = a->next) {
        if (is_v10_core(a->string))
            continue;
        if (!(trusted ? name_trusted(a->string) : eg__ev_name_strict(a->string)))
            return eg_error_set(err, 400,
                                "invalid attribute name \"%s\": CloudEvents attribute names are 1 "
                                "to 20 lowercase letters or digits.",
                                eg__ev_shown(a->string, b));
        if (cJSON_IsString(a)) {
            if (check_string(a, a->string, 0, err))
                return -1;
        } else if (cJSON_IsNumber(a) && !isfinite(a->valuedouble)) {
            return eg_error_set(err, 400, "attribute \"%s\" must be a finite number.",
                                eg__ev_shown(a->string, b));
        } else if (!cJSON_IsNumber(a) && !cJSON_IsBool(a) && !(trusted && strchr(a->string, '.')))
            return eg_error_set(err, 400, "attribute \"%s\" must be a string, number or boolean.",
                                eg__ev_shown(a->string, b));
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
    const cJSON *cv = eg__ev_get(o, "cloudEventsVersion");
    if (check_string(cv, "cloudEventsVersion", 1, err))
        return -1;
    if (strcmp(cv->valuestring, "0.1"))
        return eg_error_set(err, 400,
                            "unsupported cloudEventsVersion \"%s\": only 0.1 (or specversion "
                            "1.0) is accepted.",
                            eg__ev_shown(cv->valuestring, b));
    /* Either version's decoder must read the stored event back the same
     * way, and a specversion member would make it a 1.0 event. */
    if (eg__ev_get(o, "specversion"))
        return eg_error_set(err, 400,
                            "attributes \"cloudEventsVersion\" (CloudEvents 0.1) and "
                            "\"specversion\" (1.0) are mutually exclusive.");
    static const char *const req[] = {"eventType", "eventID", "source"};
    for (int i = 0; i < 3; i++)
        if (check_string(eg__ev_get(o, req[i]), req[i], 1, err))
            return -1;
    static const char *const opt[] = {"eventTypeVersion", "schemaURL", "contentType", "eventTime"};
    for (int i = 0; i < 4; i++)
        if (check_string(eg__ev_get(o, opt[i]), opt[i], 0, err))
            return -1;
    const cJSON *t = eg__ev_get(o, "eventTime");
    if (t && !rfc3339_ok(t->valuestring))
        return eg_error_set(err, 400,
                            "attribute \"eventTime\" is not an RFC 3339 timestamp: \"%s\".",
                            eg__ev_shown(t->valuestring, b));
    const cJSON *ext = eg__ev_get(o, "extensions");
    if (ext && !cJSON_IsNull(ext)) {
        if (!cJSON_IsObject(ext))
            return eg_error_set(err, 400, "attribute \"extensions\" must be an object.");
        if (check_members(ext, "\"extensions\"", err))
            return -1;
        if (check_space(eg__ev_get(ext, "egspace"), "extensions.egspace", err))
            return -1;
    }
    return 0;
}

/* Re-derives the borrowed fields from e->json. */
static void refresh(eg_event_t *e)
{
    const cJSON *o = e->json, *sp;
    if (e->version == EG_EVENT_V10) {
        e->id = eg__ev_get(o, "id")->valuestring;
        e->type = eg__ev_get(o, "type")->valuestring;
        e->source = eg__ev_get(o, "source")->valuestring;
        sp = eg__ev_get(o, "egspace");
        const cJSON *pk = eg__ev_get(o, "partitionkey");
        e->partition_key = cJSON_IsString(pk) ? pk->valuestring : NULL;
    } else {
        e->id = eg__ev_get(o, "eventID")->valuestring;
        e->type = eg__ev_get(o, "eventType")->valuestring;
        e->source = eg__ev_get(o, "source")->valuestring;
        const cJSON *ext = eg__ev_get(o, "extensions");
        sp = cJSON_IsObject(ext) ? eg__ev_get(ext, "egspace") : NULL;
        e->partition_key = NULL;
    }
    const char *space =
        cJSON_IsString(sp) && sp->valuestring ? sp->valuestring : EG_EVENT_DEFAULT_SPACE;
    size_t n = strnlen(space, sizeof e->space - 1); /* per event: no snprintf */
    memcpy(e->space, space, n);
    e->space[n] = '\0';
}

/* Validates json (taken) as version v and fills *out; on failure frees json. */
int eg__ev_event_init(eg_event_t *out, cJSON *json, eg_event_version_t v, int trusted,
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
int eg__ev_structured_init(eg_event_t *out, cJSON *j, int trusted, eg_error_t *err)
{
    if (!j)
        return eg_error_set(err, 400, "the CloudEvent is not valid JSON.");
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return eg_error_set(err, 400, "a CloudEvent must be a JSON object.");
    }
    if (eg__ev_get(j, "specversion"))
        return eg__ev_event_init(out, j, EG_EVENT_V10, trusted, err);
    if (eg__ev_get(j, "cloudEventsVersion"))
        return eg__ev_event_init(out, j, EG_EVENT_V01, trusted, err);
    cJSON_Delete(j);
    return eg_error_set(err, 400,
                        "attribute \"specversion\" is missing (or \"cloudEventsVersion\" for "
                        "CloudEvents 0.1).");
}

/* The extensions only the gateway sets: an authorizer's result
 * (eventgateway.authorization, and any eventgateway.*) and a replay's mark
 * (replayid). Any case: names are compared as a reader might. */
int eg__ev_gateway_owned(const char *name)
{
    return name && (eg__ev_ci_prefix(name, "eventgateway.") || eg__ev_ci_eq(name, "replayid"));
}

/* A client may not forge the gateway's own extensions: they are dropped from
 * a structured event of either version before it is validated (a 1.0 name
 * with a dot would otherwise be refused). 1 when something was dropped (the
 * event is then no longer the text it was parsed from), else 0. */
int eg__ev_strip_gateway_extensions(cJSON *j)
{
    cJSON *o = eg__ev_get(j, "specversion") ? j : eg__ev_get(j, "extensions");
    int n = 0;
    if (!cJSON_IsObject(o))
        return 0;
    for (cJSON *a = o->child, *next; a; a = next) {
        next = a->next;
        if (eg__ev_gateway_owned(a->string)) {
            cJSON_Delete(cJSON_DetachItemViaPointer(o, a));
            n = 1;
        }
    }
    return n;
}

/* Binary-mode 1.0 events are built in 5 passes over the headers, so that
 * they start with specversion, id, source, type (passes 0-3) whatever the
 * header order; the other attributes follow in header order (pass 4). */
size_t eg__ev_attr_pass(const char *n)
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
int eg__ev_add_data_v10(cJSON *o, const char *body, size_t len, const char *mt, eg_error_t *err)
{
    if (len == 0)
        return 0;
    if (!mt[0] || is_json_mt(mt)) {
        cJSON *j = eg__ev_json_parse(body, len);
        if (j) {
            eg__ev_add(o, "data", j);
            return 0;
        }
        if (mt[0])
            return eg_error_set(err, 400,
                                "data is not valid JSON although datacontenttype is \"%s\".", mt);
    } else if (is_text_mt(mt) && utf8_text(body, len)) {
        eg__ev_add(o, "data", eg__ev_jstr(body, len));
        return 0;
    }
    eg__ev_add(o, "data_base64", b64_json(body, len));
    return 0;
}

/* The data of events the gateway builds (0.1): "" when empty; JSON parsed
 * when the type is JSON (or absent) and it parses; UTF-8 text as a string
 * when the type is textual (or absent); else a base64 string. */
cJSON *eg__ev_payload_v01(const char *body, size_t len, const char *mt)
{
    if (len == 0)
        return cJSON_CreateString("");
    int json = !mt[0] || is_json_mt(mt);
    if (json) {
        cJSON *j = eg__ev_json_parse(body, len);
        if (j)
            return j;
    }
    if ((json || is_text_mt(mt)) && utf8_text(body, len))
        return eg__ev_jstr(body, len);
    return b64_json(body, len);
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
    return eg__ev_structured_init(out, eg__ev_json_parse(json, len), 1, err);
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

/* Adds item (taken) under name to obj, keeping obj's "data"/"data_base64"
 * member last. */
static void add_before_data(cJSON *obj, const char *name, cJSON *item)
{
    cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(obj, "data");
    if (!data)
        data = cJSON_DetachItemFromObjectCaseSensitive(obj, "data_base64");
    cJSON_AddItemToObject(obj, name, item);
    if (data) /* keeps its name: cJSON_AddItemToArray only links it */
        cJSON_AddItemToArray(obj, data);
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
        target = eg__ev_get(e->json, "extensions");
        if (!cJSON_IsObject(target)) {
            cJSON *ext = cJSON_CreateObject();
            if (eg__ev_get(e->json, "extensions"))
                cJSON_ReplaceItemInObjectCaseSensitive(e->json, "extensions", ext);
            else
                add_before_data(e->json, "extensions", ext);
            target = ext;
        }
    }
    e->raw = NULL; /* the event changes */
    cJSON *old = cJSON_DetachItemFromObjectCaseSensitive(target, name);
    add_before_data(target, name, value);
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
