/*
 * eg_base64: RFC 4648 base64, standard (with padding) and URL-safe (without),
 * and UTF-8 checking, shared by every module that puts bytes into JSON.
 */
#ifndef EG_BASE64_H
#define EG_BASE64_H

#include <stddef.h>

/* A new NUL-terminated encoding of n bytes (caller frees), never NULL.
 * url: the URL-safe alphabet without padding (Go's RawURLEncoding). */
char *eg_base64_encode(const void *p, size_t n, int url);

/* Decodes standard base64 (padding optional) into a new buffer (caller
 * frees; *out_len its length). NULL when s is not base64. */
unsigned char *eg_base64_decode(const char *s, size_t len, size_t *out_len);

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid
 * (overlong, surrogate, beyond U+10FFFF, truncated). n must be at least 1. */
size_t eg_utf8_seq(const unsigned char *s, size_t n);

/* 1 when p holds valid UTF-8 without NUL bytes. */
int eg_utf8_valid(const char *p, size_t n);

#endif
