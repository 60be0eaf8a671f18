/*
 * accesskey.h: per-space access keys and the admin key of the Config API
 * (docs/contract.md section 8).
 *
 * Rules of this module:
 *  - A key is an id ("ak-" + 16 hex digits) and a secret (64 hex digits, 32
 *    bytes from OpenSSL's CSPRNG). Only the SHA-256 of the secret is stored:
 *    it travels through the configuration log as an "accesskeys" record
 *    {"accessKeyId","hash"} like any configuration object, so every process
 *    that reads the log enforces it. The secret is shown once, in the answer
 *    to its creation, and never logged.
 *  - A request presents a key as "Authorization: bearer KEY" (the scheme is
 *    case-insensitive). Secrets and hashes are compared in constant time.
 *  - Verdicts: 0 allowed, 401 no key given, 403 a key that does not open the
 *    space. A space with at least one key needs one of its keys or the admin
 *    key; a space without keys is open unless keys are required everywhere
 *    (--require-keys), in which case only the admin key opens it.
 *  - Nothing here keeps state; the functions are thread-safe.
 */
#ifndef EG_ACCESSKEY_H
#define EG_ACCESSKEY_H

#include <stddef.h>

#include "eg_config.h"

#define EG_ACCESSKEY_SECRET_LEN 64 /* hex digits of a secret */
#define EG_ACCESSKEY_HASH_LEN 64   /* hex digits of its SHA-256 */
#define EG_ACCESSKEY_ID_LEN 19     /* "ak-" + 16 hex digits */

/* SHA-256 of len bytes at data as lower-case hex (out: EG_ACCESSKEY_HASH_LEN
 * + 1 bytes, NUL-terminated). 0, or -1 when libcrypto fails. */
int eg_accesskey_hash(const char *data, size_t len, char out[EG_ACCESSKEY_HASH_LEN + 1]);

/* A new key for space: fills secret (NUL-terminated; the caller shows it once
 * and forgets it) and *out, the create change holding the id and the hash
 * (caller releases it with eg_change_release). 0, or -1 with err (400 bad
 * space, 500 no randomness / out of memory). */
int eg_accesskey_new(const char *space, eg_change_t *out, char secret[EG_ACCESSKEY_SECRET_LEN + 1],
                     eg_error_t *err);

/* The token of an "Authorization: bearer TOKEN" header value (borrowed from
 * header, *len its length, surrounding blanks excluded), or NULL when header
 * is NULL, has another scheme or an empty token. */
const char *eg_accesskey_bearer(const char *header, size_t *len);

/* 1 when the header carries admin_key (constant time), else 0; 0 when
 * admin_key is NULL or empty. */
int eg_accesskey_is_admin(const char *authorization, const char *admin_key);

/* The verdict on a Config API request on space, given the request's
 * Authorization header (may be NULL). cfg is read (hold its read lock).
 * 0, 401 or 403. */
int eg_accesskey_check(const eg_config_t *cfg, const char *space, const char *authorization,
                       const char *admin_key, int require_keys);

/* The verdict on an admin-only request (creating keys): 0, 401 or 403. */
int eg_accesskey_check_admin(const char *authorization, const char *admin_key);

#endif
