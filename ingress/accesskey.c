/*
 * accesskey.c: access keys of the Config API; see accesskey.h.
 *
 * Design
 *  - Hashing is OpenSSL's EVP SHA-256, randomness RAND_bytes (a CSPRNG fed
 *    by getrandom); a failure of either is an error, never a weaker secret.
 *  - A plain SHA-256 is enough for the stored form: secrets are 256 random
 *    bits, so there is nothing to guess from a hash (salts and slow hashes
 *    protect low-entropy passwords).
 *  - Comparisons hash the presented token first and compare digests with
 *    CRYPTO_memcmp, so neither the content nor the length of a secret
 *    changes the time a refusal takes. The admin key is compared the same
 *    way.
 *  - Nothing here logs: callers log ids, never secrets or headers.
 */
#include "accesskey.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "eg_digest.h"

int eg_accesskey_hash(const char *data, size_t len, char out[EG_ACCESSKEY_HASH_LEN + 1])
{
    return eg_sha256_hex(data, len, out);
}

int eg_accesskey_new(const char *space, eg_change_t *out, char secret[EG_ACCESSKEY_SECRET_LEN + 1],
                     eg_error_t *err)
{
    unsigned char rnd[EG_ACCESSKEY_SECRET_LEN / 2 + 8];
    char id[EG_ACCESSKEY_ID_LEN + 1] = "ak-";
    char hash[EG_ACCESSKEY_HASH_LEN + 1];
    char body[EG_ACCESSKEY_ID_LEN + EG_ACCESSKEY_HASH_LEN + 64];
    int rc;

    memset(out, 0, sizeof *out);
    secret[0] = '\0';
    if (RAND_bytes(rnd, (int)sizeof rnd) != 1)
        return eg_error_set(err, 500, "no random bytes for a new access key");
    eg_hex(rnd, EG_ACCESSKEY_SECRET_LEN / 2, secret);
    eg_hex(rnd + EG_ACCESSKEY_SECRET_LEN / 2, 8, id + 3);
    OPENSSL_cleanse(rnd, sizeof rnd);
    if (eg_accesskey_hash(secret, EG_ACCESSKEY_SECRET_LEN, hash)) {
        OPENSSL_cleanse(secret, EG_ACCESSKEY_SECRET_LEN + 1);
        return eg_error_set(err, 500, "SHA-256 failed");
    }
    snprintf(body, sizeof body, "{\"accessKeyId\":\"%s\",\"hash\":\"%s\"}", id, hash);
    rc = eg_change_from_request(out, EG_OP_CREATE, EG_KIND_ACCESSKEY, space, NULL, body,
                                strlen(body), err);
    if (rc)
        OPENSSL_cleanse(secret, EG_ACCESSKEY_SECRET_LEN + 1);
    return rc;
}

const char *eg_accesskey_bearer(const char *header, size_t *len)
{
    if (!header)
        return NULL;
    while (*header == ' ' || *header == '\t')
        header++;
    if (strncasecmp(header, "bearer", 6) || (header[6] != ' ' && header[6] != '\t'))
        return NULL;
    const char *t = header + 6;
    while (*t == ' ' || *t == '\t')
        t++;
    size_t n = strlen(t);
    while (n && isspace((unsigned char)t[n - 1]))
        n--;
    if (!n)
        return NULL;
    *len = n;
    return t;
}

/* 1 when the digests are equal; constant time. */
static int same_digest(const unsigned char a[32], const unsigned char b[32])
{
    return CRYPTO_memcmp(a, b, 32) == 0;
}

static int token_is(const unsigned char token_md[EG_SHA256_LEN], const char *key)
{
    unsigned char md[EG_SHA256_LEN];
    return key && *key && eg_sha256(key, strlen(key), md) == 0 && same_digest(token_md, md);
}

int eg_accesskey_is_admin(const char *authorization, const char *admin_key)
{
    size_t n = 0;
    unsigned char md[EG_SHA256_LEN];
    const char *t = eg_accesskey_bearer(authorization, &n);
    return t && admin_key && *admin_key && eg_sha256(t, n, md) == 0 && token_is(md, admin_key);
}

int eg_accesskey_check_admin(const char *authorization, const char *admin_key)
{
    size_t n = 0;
    if (!eg_accesskey_bearer(authorization, &n))
        return 401;
    return eg_accesskey_is_admin(authorization, admin_key) ? 0 : 403;
}

/* 1 when the token's digest is the hash of one of the space's keys. */
static int space_key_matches(const eg_config_t *cfg, const char *space,
                             const unsigned char md[EG_SHA256_LEN])
{
    char hex[EG_ACCESSKEY_HASH_LEN + 1];
    int found = 0;
    cJSON *keys = eg_config_list(cfg, EG_KIND_ACCESSKEY, space, NULL, 0), *k;
    eg_hex(md, EG_SHA256_LEN, hex);
    cJSON_ArrayForEach(k, keys)
    {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(k, "hash");
        /* every key is compared: the time does not depend on which matched */
        if (cJSON_IsString(h) && strlen(h->valuestring) == EG_ACCESSKEY_HASH_LEN)
            found |= CRYPTO_memcmp(h->valuestring, hex, EG_ACCESSKEY_HASH_LEN) == 0;
    }
    cJSON_Delete(keys);
    return found;
}

int eg_accesskey_check(const eg_config_t *cfg, const char *space, const char *authorization,
                       const char *admin_key, int require_keys)
{
    size_t n = 0;
    unsigned char md[EG_SHA256_LEN];
    int has_keys = eg_config_count(cfg, EG_KIND_ACCESSKEY, space) > 0;
    if (!has_keys && !require_keys)
        return 0;
    const char *t = eg_accesskey_bearer(authorization, &n);
    if (!t)
        return 401;
    if (eg_sha256(t, n, md))
        return 403;
    if (token_is(md, admin_key))
        return 0;
    return has_keys && space_key_matches(cfg, space, md) ? 0 : 403;
}
