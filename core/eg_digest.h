/*
 * eg_digest: SHA-256 (OpenSSL libcrypto) and lower-case hex, shared by the
 * access keys (stored as the hash of their secret) and the SigV4 signer
 * (hashed payloads and canonical requests).
 */
#ifndef EG_DIGEST_H
#define EG_DIGEST_H

#include <stddef.h>

#define EG_SHA256_LEN 32

/* out gets 2 * n hex digits and a NUL. */
void eg_hex(const unsigned char *b, size_t n, char *out);

/* 0, or -1 when libcrypto fails. data may be NULL when n is 0. */
int eg_sha256(const void *data, size_t n, unsigned char md[EG_SHA256_LEN]);
int eg_sha256_hex(const void *data, size_t n, char out[2 * EG_SHA256_LEN + 1]);

#endif
