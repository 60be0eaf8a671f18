/*
 * sigv4.c: AWS Signature Version 4, see sigv4.h for the rules.
 *
 * Every piece of the canonical request goes through one growable buffer
 * (sb_t). libcrypto provides SHA-256 and HMAC-SHA256 (one-shot calls, no
 * shared state).
 */
#include "sigv4.h"

#include "eg_alloc.h"
#include "eg_digest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define HASH_LEN EG_SHA256_LEN

typedef struct sb {
    char *p;
    size_t len, cap;
} sb_t;

static void sb_add(sb_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = eg_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sb_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* The credential scope: DAY/REGION/SERVICE/aws4_request (in the string to
 * sign and in the Authorization header alike). */
static void sb_scope(sb_t *b, const char *day, const eg_sigv4_request_t *r)
{
    sb_str(b, day);
    sb_str(b, "/");
    sb_str(b, r->region);
    sb_str(b, "/");
    sb_str(b, r->service);
    sb_str(b, "/aws4_request");
}

static int unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static void sb_encode(sb_t *b, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            sb_add(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_add(b, e, 3);
        }
    }
}

char *eg_sigv4_uri_encode(const char *s, size_t len, int keep_slash)
{
    sb_t b = {0};
    sb_add(&b, "", 0);
    sb_encode(&b, s, len, keep_slash);
    return b.p;
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[HASH_LEN])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n) &&
                   n == HASH_LEN
               ? 0
               : -1;
}

/* ---- canonical URI: dot segments removed (as botocore's
 * remove_dot_segments), each segment encoded once more ---- */

static void canonical_uri(sb_t *b, const char *path)
{
    size_t n = strlen(path), nseg = 0, cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += path[i] == '/';
    const char **seg = eg_xmalloc(cap * sizeof *seg);
    size_t *seglen = eg_xmalloc(cap * sizeof *seglen);
    for (const char *p = path; p <= path + n;) {
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 2 && !strncmp(p, "..", 2)) {
            if (nseg)
                nseg--;
        } else if (l && !(l == 1 && *p == '.')) {
            seg[nseg] = p;
            seglen[nseg++] = l;
        }
        if (!e)
            break;
        p = e + 1;
    }
    sb_str(b, "/");
    for (size_t i = 0; i < nseg; i++) {
        if (i)
            sb_str(b, "/");
        sb_encode(b, seg[i], seglen[i], 0);
    }
    if (nseg && n && path[n - 1] == '/')
        sb_str(b, "/");
    free(seg);
    free(seglen);
}

/* ---- canonical query: pairs decoded, re-encoded, sorted ---- */

typedef struct qpair {
    char *kv; /* "key=value", encoded */
    size_t klen;
} qpair_t;

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decodes s[0..n) and encodes the result into b. */
static void sb_reencode(sb_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        sb_encode(b, &c, 1, 0);
    }
}

static int qpair_cmp(const void *a, const void *b)
{
    const qpair_t *x = a, *y = b;
    size_t m = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->kv, y->kv, m);
    if (c)
        return c;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return strcmp(x->kv + x->klen, y->kv + y->klen);
}

static void canonical_query(sb_t *b, const char *q)
{
    size_t cap = 1, np = 0;
    if (!q || !*q)
        return;
    for (const char *p = q; *p; p++)
        cap += *p == '&';
    qpair_t *v = eg_xcalloc(cap, sizeof *v);
    for (const char *p = q; p && *p;) {
        const char *e = strchr(p, '&');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l) {
            const char *eq = memchr(p, '=', l);
            size_t kl = eq ? (size_t)(eq - p) : l;
            sb_t kv = {0};
            sb_reencode(&kv, p, kl);
            sb_add(&kv, "", 0);
            size_t klen = kv.len;
            sb_str(&kv, "=");
            if (eq)
                sb_reencode(&kv, eq + 1, l - kl - 1);
            v[np].kv = kv.p;
            v[np++].klen = klen;
        }
        p = e ? e + 1 : NULL;
    }
    qsort(v, np, sizeof *v, qpair_cmp);
    for (size_t i = 0; i < np; i++) {
        if (i)
            sb_str(b, "&");
        sb_str(b, v[i].kv);
        free(v[i].kv);
    }
    free(v);
}

/* ---- canonical headers ---- */

typedef struct hdr {
    char *name;  /* lower case */
    char *value; /* trimmed, inner runs of spaces made one */
    size_t order;
} hdr_t;

static int hdr_cmp(const void *a, const void *b)
{
    const hdr_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->order < y->order ? -1 : x->order > y->order);
}

/* Sets h[*n] to the header and counts it. */
static void hdr_add(hdr_t *hs, size_t *n, const char *name, const char *value)
{
    hdr_t *h = &hs[*n];
    h->order = (*n)++;
    h->name = eg_xstrdup(name);
    h->value = eg_xmalloc(strlen(value) + 1);
    for (char *p = h->name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    char *o = h->value;
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    for (; *p; p++) {
        int sp = *p == ' ' || *p == '\t';
        if (sp && (o == h->value || o[-1] == ' '))
            continue;
        *o++ = sp ? ' ' : *p;
    }
    while (o > h->value && o[-1] == ' ')
        o--;
    *o = '\0';
}

/* Appends the canonical headers to b and the signed-headers list to sig. */
static void canonical_headers(sb_t *b, sb_t *sig, const eg_sigv4_request_t *r, const char *date)
{
    int token = r->session_token && *r->session_token;
    size_t n = 0;
    hdr_t *h = eg_xcalloc(r->nheaders + 3, sizeof *h);
    hdr_add(h, &n, "host", r->host);
    hdr_add(h, &n, "x-amz-date", date);
    if (token)
        hdr_add(h, &n, "x-amz-security-token", r->session_token);
    for (size_t i = 0; i < r->nheaders; i++)
        hdr_add(h, &n, r->headers[i].name, r->headers[i].value);
    qsort(h, n, sizeof *h, hdr_cmp);
    for (size_t i = 0; i < n; i++) {
        int same = i && !strcmp(h[i].name, h[i - 1].name);
        if (same) {
            sb_str(b, ",");
        } else {
            if (i) {
                sb_str(b, "\n");
                sb_str(sig, ";");
            }
            sb_str(b, h[i].name);
            sb_str(b, ":");
            sb_str(sig, h[i].name);
        }
        sb_str(b, h[i].value);
    }
    sb_str(b, "\n");
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

char *eg_sigv4_sign(const eg_sigv4_request_t *r, char amz_date[EG_SIGV4_DATE_LEN], char *err,
                    size_t errlen)
{
    sb_t creq = {0}, signed_h = {0}, sts = {0}, key = {0}, auth = {0};
    char day[9], body_hash[2 * HASH_LEN + 1], creq_hash[2 * HASH_LEN + 1], sig[2 * HASH_LEN + 1];
    unsigned char k[HASH_LEN], k2[HASH_LEN], s[HASH_LEN];
    struct tm tm;
    char *out = NULL;

    if (!r->method || !r->host || !r->region || !r->service || !r->access_key || !r->secret_key ||
        !*r->access_key || !*r->secret_key) {
        snprintf(err, errlen, "SigV4: method, host, region, service and credentials are required");
        return NULL;
    }
    if (!gmtime_r(&r->when, &tm) || !strftime(amz_date, EG_SIGV4_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm)) {
        snprintf(err, errlen, "SigV4: bad signing time");
        return NULL;
    }
    memcpy(day, amz_date, 8);
    day[8] = '\0';
    if (eg_sha256_hex(r->body, r->body_len, body_hash))
        goto crypto;

    /* The canonical request. */
    sb_str(&creq, r->method);
    sb_str(&creq, "\n");
    canonical_uri(&creq, r->path ? r->path : "");
    sb_str(&creq, "\n");
    canonical_query(&creq, r->query);
    sb_str(&creq, "\n");
    canonical_headers(&creq, &signed_h, r, amz_date);
    sb_str(&creq, "\n");
    sb_str(&creq, signed_h.p);
    sb_str(&creq, "\n");
    sb_str(&creq, body_hash);
    if (eg_sha256_hex(creq.p, creq.len, creq_hash))
        goto crypto;

    /* The string to sign and the signing key. */
    sb_str(&sts, ALGORITHM "\n");
    sb_str(&sts, amz_date);
    sb_str(&sts, "\n");
    sb_scope(&sts, day, r);
    sb_str(&sts, "\n");
    sb_str(&sts, creq_hash);
    sb_str(&key, "AWS4");
    sb_str(&key, r->secret_key);
    if (hmac(key.p, key.len, day, k) || hmac(k, HASH_LEN, r->region, k2) ||
        hmac(k2, HASH_LEN, r->service, k) || hmac(k, HASH_LEN, "aws4_request", k2) ||
        hmac(k2, HASH_LEN, sts.p, s))
        goto crypto;
    eg_hex(s, HASH_LEN, sig);

    sb_str(&auth, ALGORITHM " Credential=");
    sb_str(&auth, r->access_key);
    sb_str(&auth, "/");
    sb_scope(&auth, day, r);
    sb_str(&auth, ", SignedHeaders=");
    sb_str(&auth, signed_h.p);
    sb_str(&auth, ", Signature=");
    sb_str(&auth, sig);
    out = auth.p;
    auth.p = NULL;
    goto done;
crypto:
    snprintf(err, errlen, "SigV4: libcrypto failed");
done:
    if (key.p)
        OPENSSL_cleanse(key.p, key.len);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(k2, sizeof k2);
    free(creq.p);
    free(signed_h.p);
    free(sts.p);
    free(key.p);
    free(auth.p);
    return out;
}
