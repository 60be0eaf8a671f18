/*
 * eg_deadletter: the value of a dead-letter record (topic <prefix>dlq,
 * schemas/dlq-record.schema.json), written by the invoker for invocations
 * that failed for good and by the router for records that are not events.
 * Pure; safe from any thread.
 */
#ifndef EG_DEADLETTER_H
#define EG_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

/* A dead-letter record (schemas/dlq-record.schema.json). Strings are
 * borrowed; a NULL one is written as null. */
typedef struct eg_deadletter {
    const char *space, *subscription, *function, *event_id, *event_type;
    int attempts;
    long last_status;       /* HTTP status of the last attempt, or 0 */
    const char *last_error; /* curl error text, "HTTP 503" or the reason */
    int64_t failed_at_ms;   /* Unix time in ms */
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *event; /* the invocation's value: "event" if JSON, else "eventBase64" */
    size_t event_len;
} eg_deadletter_t;

/* The record's value as a new NUL-terminated JSON string (caller frees);
 * never NULL. */
char *eg_deadletter_json(const eg_deadletter_t *d);

#endif
