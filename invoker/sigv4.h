/*
 * sigv4.h: AWS Signature Version 4 (header form), on OpenSSL's libcrypto.
 *
 * Follows AWS's canonical-request rules
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):
 * the canonical URI is the path AS SENT, dot segments removed, with each
 * segment URI-encoded once more (RFC 3986 unreserved characters kept). A
 * path sent with an ARN in it ("/functions/arn%3Aaws%3A.../invocations")
 * is therefore signed as "arn%253Aaws%253A...": the "encode twice" rule of
 * every service but S3, which botocore applies and libcurl 7.88's
 * CURLOPT_AWS_SIGV4 does not. A raw path ("/example space/") gives what
 * AWS's SigV4 test suite expects ("/example%20space/"). The query's names
 * and values are decoded, re-encoded and sorted; header names lower-cased,
 * values trimmed with inner runs of spaces made one, same names joined with
 * ",", in the order given. Signed: host, x-amz-date, x-amz-security-token
 * (when a session token is given) and every header the caller passes.
 *
 * Pure functions, no state; safe from any thread. Errors: NULL with a
 * message in err (a crypto failure, a missing field).
 */
#ifndef EG_SIGV4_H
#define EG_SIGV4_H

#include <stddef.h>
#include <time.h>

/* "YYYYMMDDTHHMMSSZ" plus NUL. */
#define EG_SIGV4_DATE_LEN 17

typedef struct eg_sigv4_header {
    const char *name;
    const char *value;
} eg_sigv4_header_t;

/* One request to sign; every string is borrowed. */
typedef struct eg_sigv4_request {
    const char *method; /* "POST" */
    const char *host;   /* the Host header as sent: host[:port] */
    const char *path;   /* as sent (encoded once), without the query; "" means "/" */
    const char *query;  /* as sent, without '?'; NULL or "" for none */
    const eg_sigv4_header_t
        *headers; /* other headers to sign, as sent (not host, not x-amz-date) */
    size_t nheaders;
    const void *body; /* may be NULL when body_len is 0 */
    size_t body_len;
    const char *region;  /* "us-east-1" */
    const char *service; /* "lambda" */
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL or "" for none */
    time_t when;               /* signing time (UTC) */
} eg_sigv4_request_t;

/* Signs r: returns the Authorization header's value (new string, the caller
 * frees it) and writes the X-Amz-Date header's value into amz_date. The
 * caller sends both, plus X-Amz-Security-Token when it gave a session
 * token, and exactly the path, query, headers and body it signed. */
char *eg_sigv4_sign(const eg_sigv4_request_t *r, char amz_date[EG_SIGV4_DATE_LEN], char *err,
                    size_t errlen);

/* s URI-encoded per AWS (every byte but A-Z a-z 0-9 - . _ ~ as %XX, upper
 * case hex; '/' kept when keep_slash). New string (caller frees). */
char *eg_sigv4_uri_encode(const char *s, size_t len, int keep_slash);

#endif
