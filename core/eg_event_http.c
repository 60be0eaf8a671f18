/*
 * eg_event_http.c: the CloudEvents codec's HTTP binding (eg_event_from_http):
 * structured and binary CloudEvents 1.0 and 0.1, the legacy "Event:" header
 * and plain HTTP requests as http.request events, each ending in the model's
 * one init (eg_event.c, which says what each form accepts and why).
 */
#include "eg_event_int.h"
#include "eg_alloc.h"
#include "eg_http.h" /* eg_http_unescape */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *hdr(const eg_http_input_t *in, const char *name)
{
    for (size_t i = 0; i < in->nheaders; i++)
        if (in->headers[i].name && in->headers[i].value && eg__ev_ci_eq(in->headers[i].name, name))
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
        eg_error_set(err, 400, "header %s is too long.", eg__ev_shown(name, b));
        return NULL;
    }
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    char *s = eg_xmalloc(n + 1);
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
                     eg__ev_shown(name, b));
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
    cJSON *j = eg__ev_json_parse_doc(in->body, in->body_len, &doc_len);
    if (!j)
        return eg_error_set(err, 400, "the body is not valid JSON (application/cloudevents+json).");
    int stripped = cJSON_IsObject(j) && eg__ev_strip_gateway_extensions(j);
    if (eg__ev_structured_init(out, j, 0, err))
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
    const char *dct = NULL;
    for (size_t n = 0; n < 5 * in->nheaders; n++) { /* see attr_pass */
        size_t i = n % in->nheaders;
        const char *hn = in->headers[i].name, *hv = in->headers[i].value;
        if (!hn || !hv || !eg__ev_ci_prefix(hn, "ce-") || eg__ev_gateway_owned(hn + 3))
            continue;
        char name[24];
        size_t k = 0;
        for (const char *p = hn + 3; *p && k < sizeof name - 1; p++)
            name[k++] = (char)eg__ev_lc((unsigned char)*p);
        name[k] = '\0';
        if (eg__ev_attr_pass(name) != n / in->nheaders)
            continue;
        if (strlen(hn + 3) != k || !eg__ev_name_strict(name)) {
            cJSON_Delete(o);
            return eg_error_set(err, 400,
                                "invalid header %s: CloudEvents attribute names are 1 to 20 "
                                "lowercase letters or digits.",
                                eg__ev_shown(hn, b));
        }
        if (!strcmp(name, "data")) {
            cJSON_Delete(o);
            return eg_error_set(err, 400, "header ce-data is not allowed: data is the body.");
        }
        if (eg__ev_get(o, name)) {
            cJSON_Delete(o);
            return eg_error_set(err, 400, "header ce-%s appears twice.", name);
        }
        char *v = ce_header_value(hn, hv, err);
        if (!v) {
            cJSON_Delete(o);
            return -1;
        }
        eg__ev_adds(o, name, v);
        free(v);
        if (!strcmp(name, "datacontenttype"))
            dct = eg__ev_get(o, name)->valuestring;
    }
    if (ct) { /* Content-Type is datacontenttype (and wins over ce-datacontenttype) */
        if (strlen(ct) > EG_EVENT_MAX_ATTR_LEN || !utf8_text(ct, strlen(ct))) {
            cJSON_Delete(o);
            return eg_error_set(err, 400, "the Content-Type header is not valid.");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(o, "datacontenttype");
        eg__ev_adds(o, "datacontenttype", ct);
        dct = ct;
    }
    eg__ev_media_type(dct, mt);
    if (eg__ev_add_data_v10(o, in->body, in->body_len, mt, err)) {
        cJSON_Delete(o);
        return -1;
    }
    return eg__ev_event_init(out, o, EG_EVENT_V10, 0, err);
}

/* The start of a 0.1 event the gateway builds (legacy mode, http.request). */
static cJSON *transformed_v01(const char *type)
{
    char id[37], now[64];
    eg_uuid4(id);
    eg__ev_now_rfc3339(now);
    cJSON *o = cJSON_CreateObject(), *ext = cJSON_CreateObject(), *eg = cJSON_CreateObject();
    eg__ev_add(o, "eventType", eg__ev_jstr(type, strlen(type)));
    eg__ev_adds(o, "cloudEventsVersion", "0.1");
    eg__ev_adds(o, "source", EG_EVENT_SOURCE_EG);
    eg__ev_adds(o, "eventID", id);
    eg__ev_adds(o, "eventTime", now);
    eg__ev_adds(eg, "transformation-version", "0.1");
    eg__ev_adds(eg, "transformed", "true");
    eg__ev_add(ext, "eventgateway", eg);
    eg__ev_add(o, "extensions", ext);
    return o;
}

/* Go's textproto.CanonicalMIMEHeaderKey into a malloc'd string. */
static char *canonical_header(const char *s)
{
    char *c = eg_xstrdup(s);
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
    static const struct {
        const char *header, *attr;
    } map[] = {{"CE-EventType", "eventType"},
               {"CE-EventTypeVersion", "eventTypeVersion"},
               {"CE-CloudEventsVersion", "cloudEventsVersion"},
               {"CE-Source", "source"},
               {"CE-EventID", "eventID"},
               {"CE-EventTime", "eventTime"},
               {"CE-SchemaURL", "schemaURL"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        const char *v = hdr_nonempty(in, map[i].header);
        if (v)
            eg__ev_add(o, map[i].attr, eg__ev_jstr(v, strlen(v)));
    }
    for (size_t i = 0; i < in->nheaders; i++) {
        const char *hn = in->headers[i].name, *hv = in->headers[i].value;
        if (!hn || !hv || !eg__ev_ci_prefix(hn, "ce-x-") || !hn[5])
            continue;
        char *key = canonical_header(hn + 5);
        key[0] = (char)eg__ev_lc((unsigned char)key[0]);
        if (!eg__ev_gateway_owned(key) && !eg__ev_get(ext, key))
            eg__ev_add(ext, key, eg__ev_jstr(hv, strlen(hv)));
        free(key);
    }
    if (ext->child)
        eg__ev_add(o, "extensions", ext);
    else
        cJSON_Delete(ext);
    if (ct)
        eg__ev_add(o, "contentType", eg__ev_jstr(ct, strlen(ct)));
    eg__ev_add(o, "data", eg__ev_payload_v01(in->body, in->body_len, mt));
    return eg__ev_event_init(out, o, EG_EVENT_V01, 0, err);
}

/* (d) legacy mode: "Event: <type>" and any body. */
static int http_legacy(const eg_http_input_t *in, const char *type, const char *mt, eg_error_t *err,
                       eg_event_t *out)
{
    if (strlen(type) > EG_EVENT_MAX_ATTR_LEN)
        return eg_error_set(err, 400, "the Event header is too long.");
    cJSON *o = transformed_v01(type);
    const char *ctype = mt[0] ? mt : "application/json";
    eg__ev_add(o, "contentType", eg__ev_jstr(ctype, strlen(ctype)));
    eg__ev_add(o, "data", eg__ev_payload_v01(in->body, in->body_len, mt));
    return eg__ev_event_init(out, o, EG_EVENT_V01, 0, err);
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
    for (size_t i = 0; i < n; i++)
        free(kv[i].name);
    free(kv);
}

/* {Canonical-Name: "v1, v2"} sorted by name, without Host. */
static cJSON *request_headers(const eg_http_input_t *in)
{
    kv_t *kv = eg_xcalloc(in->nheaders + 1, sizeof *kv);
    cJSON *o = cJSON_CreateObject();
    size_t n = 0;
    for (size_t i = 0; i < in->nheaders; i++) {
        const eg_header_t *h = &in->headers[i];
        if (!h->name || !h->value || !h->name[0])
            continue;
        char *c = canonical_header(h->name);
        if (!strcmp(c, "Host")) {
            free(c);
            continue;
        }
        kv[n++] = (kv_t){c, h->value, strlen(h->value), i};
    }
    qsort(kv, n, sizeof *kv, kv_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i, total = 0;
        for (; j < n && !strcmp(kv[j].name, kv[i].name); j++)
            total += kv[j].vlen + 2;
        char *v = eg_xmalloc(total + 1);
        size_t w = 0;
        for (size_t k = i; k < j; k++) {
            if (k > i)
                memcpy(v + w, ", ", 2), w += 2;
            memcpy(v + w, kv[k].value, kv[k].vlen), w += kv[k].vlen;
        }
        eg__ev_add(o, kv[i].name, eg__ev_jstr(v, w));
        free(v);
        i = j;
    }
    kv_free(kv, n);
    return o;
}

/* {key: [values…]} from a raw query, decoded like Go's url.ParseQuery (pairs
 * with a bad escape are dropped), sorted by key. NULL when over
 * EG_EVENT_MAX_QUERY pairs. */
static cJSON *request_query(const char *q)
{
    size_t cap = 1;
    for (const char *p = q; p && *p; p++)
        cap += *p == '&';
    if (cap > EG_EVENT_MAX_QUERY)
        return NULL;
    kv_t *kv = eg_xcalloc(cap, sizeof *kv);
    cJSON *o = cJSON_CreateObject();
    size_t n = 0;
    for (const char *p = q; p && *p;) {
        size_t seg = strcspn(p, "&");
        if (seg) {
            char *pair = eg_xmalloc(seg + 2); /* +1: room to move an empty value after the name */
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
    qsort(kv, n, sizeof *kv, kv_cmp);
    for (size_t i = 0; i < n;) {
        cJSON *arr = cJSON_CreateArray();
        size_t j = i;
        for (; j < n && !strcmp(kv[j].name, kv[i].name); j++)
            cJSON_AddItemToArray(arr, eg__ev_jstr(kv[j].value, kv[j].vlen));
        cJSON *name = eg__ev_jstr(kv[i].name, strlen(kv[i].name));
        eg__ev_add(o, name->valuestring, arr);
        cJSON_Delete(name);
        i = j;
    }
    kv_free(kv, n);
    return o;
}

/* (e) an http.request event. */
static int http_request(const eg_http_input_t *in, const char *mt, eg_error_t *err, eg_event_t *out)
{
    cJSON *q = request_query(in->raw_query);
    if (!q)
        return eg_error_set(err, 400, "the query string has too many parameters (more than %d).",
                            EG_EVENT_MAX_QUERY);
    cJSON *o = transformed_v01(EG_EVENT_TYPE_HTTP_REQUEST), *d = cJSON_CreateObject();
    cJSON *params = cJSON_CreateObject();
    eg__ev_add(d, "headers", request_headers(in));
    eg__ev_add(d, "query", q);
    eg__ev_add(d, "body", eg__ev_payload_v01(in->body, in->body_len, mt));
    eg__ev_add(d, "host", eg__ev_jstr(in->host, in->host ? strlen(in->host) : 0));
    eg__ev_add(d, "path", eg__ev_jstr(in->path, in->path ? strlen(in->path) : 0));
    eg__ev_add(d, "method", eg__ev_jstr(in->method, in->method ? strlen(in->method) : 0));
    for (size_t i = 0; i < in->nparams && in->params; i++) {
        const eg_path_param_t *pp = &in->params[i];
        cJSON *name = eg__ev_jstr(pp->name, pp->name ? pp->name_len : 0);
        cJSON_DeleteItemFromObjectCaseSensitive(params, name->valuestring);
        eg__ev_add(params, name->valuestring,
                   eg__ev_jstr(pp->value, pp->value ? pp->value_len : 0));
        cJSON_Delete(name);
    }
    eg__ev_add(d, "params", params);
    eg__ev_adds(o, "contentType", "application/json");
    eg__ev_add(o, "data", d);
    return eg__ev_event_init(out, o, EG_EVENT_V01, 0, err);
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
    eg__ev_media_type(ct, mt);
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
        cJSON *j = eg__ev_json_parse_doc(in->body, in->body_len, &doc_len);
        if (cJSON_IsObject(j) && eg__ev_get(j, "cloudEventsVersion")) {
            int stripped = eg__ev_strip_gateway_extensions(j);
            if (eg__ev_event_init(out, j, EG_EVENT_V01, 0, err) == 0) {
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
