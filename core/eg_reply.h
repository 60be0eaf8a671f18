/*
 * eg_reply: sync replies (schemas/reply-record.schema.json) and what the
 * ingress makes of them.
 *
 * The invoker passes a sync call's outcome on unchanged: whether it got a 2xx
 * answer, the status, the body, or why the call failed. The ingress reads
 * the answer: a sync subscription's function answers event-gateway 0.9's
 * {"statusCode":…, "headers":{…}, "body":"…"} (eg_sync_answer_parse); an
 * authorizer answers {"authorization":{…}} or {"error":{"message":…}}.
 */
#ifndef EG_REPLY_H
#define EG_REPLY_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* The largest function answer carried back: a bigger one is replaced by a
 * failed reply whose error starts with EG_REPLY_TOO_LARGE (the ingress
 * answers 502 and says so). */
#define EG_REPLY_MAX_BODY (4 * 1024 * 1024)
#define EG_REPLY_TOO_LARGE "answer too large"
/* The largest reply record (a Kafka property value): the reply producer's
 * message.max.bytes and the reply topic's max.message.bytes, room for a
 * EG_REPLY_MAX_BODY answer however its JSON encoding grows. A reply the
 * producer or the broker still refuses as too large is replaced as above. */
#define EG_REPLY_MAX_RECORD "16777216"

typedef struct eg_reply {
    char *correlation; /* owned */
    int ok;            /* the function answered 2xx */
    long status;       /* its HTTP status, 0 when there was none */
    char *error;       /* owned, NULL when ok */
    char *body;        /* owned, NUL-terminated, may hold NULs when binary */
    size_t body_len;
} eg_reply_t;

/* The record value: a new NUL-terminated JSON string (caller frees); never
 * NULL. */
char *eg_reply_encode(const eg_reply_t *r);
/* Decodes a record value. 0 with *out filled (release it), -1 if malformed. */
int eg_reply_decode(const void *value, size_t len, eg_reply_t *out);
void eg_reply_release(eg_reply_t *r);

/* A sync function's answer, as event-gateway 0.9 read it. */
typedef struct eg_sync_answer {
    int status;     /* statusCode, 200 when absent or 0 */
    cJSON *headers; /* owned object of strings, may be NULL */
    char *body;     /* owned, NUL-terminated */
    size_t body_len;
} eg_sync_answer_t;

/* The headers of a sync answer go into the HTTP response, which
 * libmicrohttpd builds in a 32 KiB pool per connection: past that it closes
 * the connection without an answer. Bounded well inside it. */
#define EG_SYNC_MAX_HEADERS 64
#define EG_SYNC_MAX_HEADER_BYTES (16 * 1024)

/* Reads {"statusCode","headers","body"} from the function's response body.
 * A body that is a JSON string is sent as is; any other JSON value is sent
 * as its JSON text. -1 when the answer is not such an object (the caller
 * answers 500); -2 when its headers pass EG_SYNC_MAX_HEADERS or
 * EG_SYNC_MAX_HEADER_BYTES (the caller answers 502). */
int eg_sync_answer_parse(const char *body, size_t len, eg_sync_answer_t *out);
void eg_sync_answer_release(eg_sync_answer_t *a);

#endif
