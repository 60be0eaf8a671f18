/*
 * provider: how a function of one `type` is called. The extension point of
 * the invoker.
 *
 * The engine (attempts.c) owns every call and its libcurl easy handle; a
 * provider only says how one attempt is made and how its outcome is judged:
 *
 *   prepare   sets up the attempt on call->easy, which the engine created with
 *             the common options already set (timeouts, response buffer,
 *             private pointer, error buffer, no signals, http/https only):
 *             the URL, the method, the request body and call->headers.
 *   classify  judges a finished attempt from call->code, call->status and
 *             call->response: success, retryable failure or final failure,
 *             with the error text that goes to the log and the dead letter.
 *
 * Both run on the invoker's event-loop thread and must not block. prepare
 * runs while the configuration's read lock is held: it copies what it keeps
 * out of `function` (libcurl copies option strings itself).
 *
 * A provider that makes no HTTP call (kafka) sets `start` instead: it
 * begins the attempt without blocking and ends it later, from any thread,
 * with eg_call_complete(call->done, ...); the engine then treats the
 * verdict as it treats classify's. Process-wide resources such a provider
 * keeps (producers) are released by its `shutdown` when the role stops.
 *
 * Adding a provider: a file provider_<type>.c defining one eg_provider_t,
 * its line in the table of provider.c, and the validation of its fields,
 * a row of the providers table in core/eg_config_request.c (the ingress
 * validates functions and does not link the invoker).
 */
#ifndef EG_PROVIDER_H
#define EG_PROVIDER_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "eg_runtime.h"

/* Upper bound on a stored response body; the rest is read and dropped. */
#define EG_CALL_MAX_RESPONSE (1024 * 1024)

typedef enum eg_call_verdict {
    EG_CALL_OK = 0,    /* the function took the event */
    EG_CALL_RETRY = 1, /* failed, may succeed later: connection errors, timeouts, 429, 5xx */
    EG_CALL_FINAL = 2, /* failed for good: no retry, straight to the dead-letter topic */
} eg_call_verdict_t;

/* The engine's handle on an attempt begun by a provider's start hook. */
typedef struct eg_call_done eg_call_done_t;

/* One invocation as a provider sees it. Fields marked (engine) are set and
 * owned by the engine; providers read them. */
typedef struct eg_call {
    /* The invocation (engine), constant over its attempts. */
    const char *space;
    const char *function_id;
    const char *subscription_id;
    const char *event_id;
    const char *event_type;
    const char *content_type; /* of body; never NULL */
    const char *body;         /* the record value, sent as is; may be NULL when body_len is 0 */
    size_t body_len;
    const char
        *key; /* the record's key: the event's partition key; may be NULL when key_len is 0 */
    size_t key_len;
    int sync;  /* a caller waits for the answer (one attempt, no retry) */
    long hops; /* the hop count the call carries (the record's eg-hops + 1): http sends it as
                  the Eg-Hops header, kafka as the eg-hops header (eg_kafka_hdr.h) */
    const eg_runtime_t *rt; /* the role's runtime: settings, the gateway's brokers */
    int attempt;            /* 1-based number of the attempt being made */
    eg_call_done_t *done;   /* (engine) start hook only: ends the attempt, see eg_call_complete */

    /* One attempt. */
    CURL *easy;                    /* (engine) created for the attempt, cleaned up after it */
    struct curl_slist *headers;    /* built by prepare; the engine frees it after the attempt */
    void *provider_data;           /* prepare may keep state for the attempt here (e.g. a */
    void (*provider_free)(void *); /* signed body); the engine calls provider_free on it */

    /* The outcome of the attempt (engine). */
    CURLcode code;          /* CURLE_OK when an HTTP answer came */
    long status;            /* HTTP status, 0 when none */
    char *response;         /* the answer's body, NUL-terminated, at most EG_CALL_MAX_RESPONSE */
    size_t response_len;    /* bytes stored */
    int response_truncated; /* 1 when the answer was longer than what is stored */
    char curl_error[CURL_ERROR_SIZE]; /* libcurl's message for code, may be empty */
} eg_call_t;

typedef struct eg_provider {
    const char *type; /* the function's "type" */
    /* prepare and classify: required unless start is set (then unused). */
    /* Sets up one attempt. function: the function's API object, borrowed
     * (read lock held). 0, or -1 with the reason in err: the invocation is
     * then dead-lettered at once. */
    int (*prepare)(eg_call_t *call, const cJSON *function, char *err, size_t errlen);
    /* Judges a finished attempt; writes the error text of a failure to err. */
    eg_call_verdict_t (*classify)(const eg_call_t *call, char *err, size_t errlen);
    /* Optional, replaces prepare, libcurl and classify (call->easy is NULL):
     * begins the attempt without blocking (read lock held, as prepare) and
     * returns 0, after which it calls eg_call_complete(call->done) exactly
     * once, from any thread; or -1 with the reason in err (dead-lettered at
     * once, and then it never calls eg_call_complete). call and function
     * are valid during the call only: it copies what it keeps. */
    int (*start)(eg_call_t *call, const cJSON *function, char *err, size_t errlen);
    /* Optional: frees what the provider keeps for the whole process; called
     * once by the invoker role's stop, after its engines have stopped. */
    void (*shutdown)(void);
} eg_provider_t;

/* Ends an attempt begun by a start hook: v is the verdict, err the error
 * text of a failure (copied; NULL or "" for none). Any thread; once per
 * attempt. Safe after the engine gave the invocation up (then a no-op). */
void eg_call_complete(eg_call_done_t *done, eg_call_verdict_t v, const char *err);

/* Calls every provider's shutdown hook (invoker role stop). */
void eg_provider_shutdown_all(void);

/* The provider of a function type, or NULL when none is built in. */
const eg_provider_t *eg_provider_find(const char *type);

/* The rules for anything spoken over HTTP, shared by the providers: a
 * transport error (code != CURLE_OK) is retryable unless retrying cannot
 * help (malformed URL, unsupported protocol, bad option); an answer is a
 * success if 2xx, retryable if 429 or 5xx, final otherwise. err gets the
 * curl error text (curl_error when not empty) or "HTTP <status>". */
eg_call_verdict_t eg_provider_classify_http(CURLcode code, long status, const char *curl_error,
                                            char *err, size_t errlen);

/* Appends "name: value" to call->headers ("name:" when value is NULL: a
 * header libcurl would add is left out). 0; 1 skipped (oversized); -1 out
 * of memory. */
int eg_provider_add_header(eg_call_t *call, const char *name, const char *value);

/* The built-in providers (one file each). */
extern const eg_provider_t eg_provider_http;
extern const eg_provider_t eg_provider_awslambda;
extern const eg_provider_t eg_provider_kafka;

#endif
