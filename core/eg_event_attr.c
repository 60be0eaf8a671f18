/*
 * eg_event_attr.c: see eg_event_attr.h. A name becomes a path of members
 * (path_of), which is walked in the parsed event or in its JSON text; the
 * text is scanned where it is, without recursion, and only a string with
 * escapes is copied.
 */
#include "eg_event_attr.h"

#include "eg_alloc.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* The 1.0 names a 0.1 event spells otherwise. */
static const struct {
    const char *v10, *v01;
} renamed[] = {
    {"type", "eventType"},
    {"id", "eventID"},
    {"time", "eventTime"},
    {"dataschema", "schemaURL"},
    {"datacontenttype", "contentType"},
};

/* obj's member of that name (len bytes, not NUL-terminated). */
static const cJSON *member(const cJSON *obj, const char *name, size_t len)
{
    if (!cJSON_IsObject(obj))
        return NULL;
    for (const cJSON *m = obj->child; m; m = m->next)
        if (m->string && strlen(m->string) == len && !memcmp(m->string, name, len))
            return m;
    return NULL;
}

static int answer(eg_event_attrs_t *a, const cJSON *v, eg_cesql_value_t *out)
{
    if (cJSON_IsString(v)) {
        *out = (eg_cesql_value_t){
            .type = EG_CESQL_STRING, .s = v->valuestring, .len = strlen(v->valuestring)};
    } else if (cJSON_IsBool(v)) {
        *out = (eg_cesql_value_t){.type = EG_CESQL_BOOL, .i = cJSON_IsTrue(v)};
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && d >= -2147483648.0 && d <= 2147483647.0) {
            *out = (eg_cesql_value_t){.type = EG_CESQL_INT, .i = (int32_t)d};
        } else {
            char *buf = a->num[a->next++ % 4];
            int n = snprintf(buf, sizeof a->num[0], "%.17g", d);
            *out = (eg_cesql_value_t){.type = EG_CESQL_STRING, .s = buf, .len = (size_t)n};
        }
    } else {
        return -1;
    }
    return 0;
}

/* Where a 1.0 name lives in the event: a path of member names from the top
 * (at most MAX_PATH); 0 when it is no attribute. */
#define MAX_PATH 16
typedef struct path {
    const char *seg[MAX_PATH];
    size_t len[MAX_PATH];
    int n;
} path_t;

static void path_add(path_t *p, const char *s, size_t len)
{
    if (p->n < MAX_PATH) {
        p->seg[p->n] = s;
        p->len[p->n] = len;
    }
    p->n++;
}

static int path_of(eg_event_version_t version, const char *name, size_t len, path_t *p)
{
    p->n = 0;
    if (len > 5 && !memcmp(name, "data.", 5)) {
        path_add(p, "data", 4);
        for (const char *s = name + 5, *end = name + len; s < end;) {
            const char *dot = memchr(s, '.', (size_t)(end - s));
            size_t n = dot ? (size_t)(dot - s) : (size_t)(end - s);
            path_add(p, s, n);
            s += n + 1;
        }
        return p->n <= MAX_PATH;
    }
    if (version == EG_EVENT_V01) {
        if (len == 11 && !memcmp(name, "specversion", 11)) {
            path_add(p, "cloudEventsVersion", 18);
            return 1;
        }
        for (size_t i = 0; i < sizeof renamed / sizeof renamed[0]; i++)
            if (strlen(renamed[i].v10) == len && !memcmp(name, renamed[i].v10, len)) {
                path_add(p, renamed[i].v01, strlen(renamed[i].v01));
                return 1;
            }
        if (len == 6 && !memcmp(name, "source", 6)) {
            path_add(p, "source", 6);
            return 1;
        }
        /* the other names are extensions; eventTypeVersion has no 1.0 twin */
        path_add(p, "extensions", 10);
        path_add(p, name, len);
        return 1;
    }
    if ((len == 4 && !memcmp(name, "data", 4)) || (len == 11 && !memcmp(name, "data_base64", 11)))
        return 0; /* the data is not an attribute */
    path_add(p, name, len);
    return 1;
}

int eg_event_attr(void *ctx, const char *name, size_t len, eg_cesql_value_t *out)
{
    eg_event_attrs_t *a = ctx;
    path_t p;
    if (!path_of(a->ev->version, name, len, &p))
        return -1;
    const cJSON *v = a->ev->json;
    for (int i = 0; v && i < p.n; i++)
        v = member(v, p.seg[i], p.len[i]);
    return v ? answer(a, v, out) : -1;
}

/* ---- over the event's JSON text ---- */

static size_t ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* The end of the string at s[i] (a '"'), after its closing quote; 0 if it
 * does not close. *esc: it holds a backslash. */
static size_t str_end(const char *s, size_t len, size_t i, int *esc)
{
    *esc = 0;
    for (i++; i < len; i++) {
        if (s[i] == '\\') {
            *esc = 1;
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

/* The end of the value at s[i]; 0 when it is malformed. Objects and arrays
 * are skipped by counting brackets outside strings, without recursion. */
static size_t value_end(const char *s, size_t len, size_t i)
{
    int esc;
    if (i >= len)
        return 0;
    if (s[i] == '"')
        return str_end(s, len, i, &esc);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            if (s[i] == '"') {
                if (!(i = str_end(s, len, i, &esc)))
                    return 0;
                continue;
            }
            if (s[i] == '{' || s[i] == '[')
                depth++;
            else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return 0;
    }
    while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
           s[i] != '\n' && s[i] != '\r')
        i++;
    return i;
}

/* The value of member `name` of the object at s[*i]: *i and *end bound it.
 * 0, or -1 when there is none (or s is not an object there). */
static int text_member(const char *s, size_t len, size_t *i, size_t *end, const char *name,
                       size_t nlen)
{
    size_t k = ws(s, len, *i);
    if (k >= len || s[k] != '{')
        return -1;
    k = ws(s, len, k + 1);
    while (k < len && s[k] == '"') {
        int esc;
        size_t kend = str_end(s, len, k, &esc);
        if (!kend)
            return -1;
        int hit = !esc && kend - k - 2 == nlen && !memcmp(s + k + 1, name, nlen);
        k = ws(s, len, kend);
        if (k >= len || s[k] != ':')
            return -1;
        k = ws(s, len, k + 1);
        size_t vend = value_end(s, len, k);
        if (!vend)
            return -1;
        if (hit) {
            *i = k;
            *end = vend;
            return 0;
        }
        k = ws(s, len, vend);
        if (k >= len || s[k] != ',')
            return -1;
        k = ws(s, len, k + 1);
    }
    return -1;
}

static void put_utf8(char **w, unsigned cp)
{
    char *o = *w;
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    *w = o;
}

static int hex4(const char *s, unsigned *cp)
{
    *cp = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16;
        if (d > 15)
            return -1;
        *cp = *cp << 4 | d;
    }
    return 0;
}

/* The text of the JSON string s[b..e) (quotes included) with its escapes
 * undone, into a new buffer the context keeps; NULL when malformed. */
static char *unescape(eg_event_text_attrs_t *a, const char *s, size_t b, size_t e, size_t *out_len)
{
    char *buf = eg_xmalloc(e - b + 4), *w = buf; /* never longer than the escaped text */
    for (size_t i = b + 1; i + 1 < e; i++) {
        if (s[i] != '\\') {
            *w++ = s[i];
            continue;
        }
        char c = s[++i];
        unsigned cp, lo;
        switch (c) {
        case 'b':
            *w++ = '\b';
            break;
        case 'f':
            *w++ = '\f';
            break;
        case 'n':
            *w++ = '\n';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 't':
            *w++ = '\t';
            break;
        case 'u':
            if (i + 4 >= e || hex4(s + i + 1, &cp))
                goto bad;
            i += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < e && s[i + 1] == '\\' && s[i + 2] == 'u' &&
                !hex4(s + i + 3, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            put_utf8(&w, cp);
            break;
        default: /* " \ / */
            *w++ = c;
        }
    }
    if (a->nkept == sizeof a->kept / sizeof a->kept[0])
        goto bad;
    a->kept[a->nkept++] = buf;
    *out_len = (size_t)(w - buf);
    return buf;
bad:
    free(buf);
    return NULL;
}

static int text_answer(eg_event_text_attrs_t *a, size_t b, size_t e, eg_cesql_value_t *out)
{
    const char *s = a->json;
    if (s[b] == '"') {
        int esc;
        str_end(s, e, b, &esc);
        if (!esc) {
            *out = (eg_cesql_value_t){.type = EG_CESQL_STRING, .s = s + b + 1, .len = e - b - 2};
            return 0;
        }
        size_t n;
        const char *u = unescape(a, s, b, e, &n);
        if (!u)
            return -1;
        *out = (eg_cesql_value_t){.type = EG_CESQL_STRING, .s = u, .len = n};
        return 0;
    }
    if (e - b == 4 && !memcmp(s + b, "true", 4)) {
        *out = (eg_cesql_value_t){.type = EG_CESQL_BOOL, .i = 1};
        return 0;
    }
    if (e - b == 5 && !memcmp(s + b, "false", 5)) {
        *out = (eg_cesql_value_t){.type = EG_CESQL_BOOL, .i = 0};
        return 0;
    }
    if (s[b] == '-' || (s[b] >= '0' && s[b] <= '9')) {
        /* an integer of 32 bits, else the number as its text */
        int64_t v = 0;
        size_t k = b + (s[b] == '-');
        int digits = k < e;
        for (; k < e && digits; k++) {
            if (s[k] < '0' || s[k] > '9' || v > 2147483648LL)
                digits = 0;
            else
                v = v * 10 + (s[k] - '0');
        }
        v = s[b] == '-' ? -v : v;
        if (digits && v >= INT32_MIN && v <= INT32_MAX)
            *out = (eg_cesql_value_t){.type = EG_CESQL_INT, .i = (int32_t)v};
        else
            *out = (eg_cesql_value_t){.type = EG_CESQL_STRING, .s = s + b, .len = e - b};
        return 0;
    }
    return -1; /* null, an object, an array */
}

int eg_event_text_attr(void *ctx, const char *name, size_t len, eg_cesql_value_t *out)
{
    eg_event_text_attrs_t *a = ctx;
    size_t b = 0, e = 0;
    if (!a->version) {
        a->version = EG_EVENT_V10;
        if (text_member(a->json, a->len, &b, &e, "specversion", 11) &&
            !text_member(a->json, a->len, &b, &e, "cloudEventsVersion", 18))
            a->version = EG_EVENT_V01;
    }
    path_t p;
    if (!path_of((eg_event_version_t)a->version, name, len, &p))
        return -1;
    b = 0;
    e = a->len;
    for (int i = 0; i < p.n; i++)
        if (text_member(a->json, e, &b, &e, p.seg[i], p.len[i]))
            return -1;
    return text_answer(a, b, e, out);
}

void eg_event_text_attrs_release(eg_event_text_attrs_t *a)
{
    for (size_t i = 0; i < a->nkept; i++)
        free(a->kept[i]);
    a->nkept = 0;
}
