/*
 * eg_kafka_hdr: the headers the gateway puts on its own records, shared by
 * the roles that write and read them (schemas/ describes each record).
 */
#ifndef EG_KAFKA_HDR_H
#define EG_KAFKA_HDR_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>

/* Routing hints the ingress adds to events (the value stays a pure
 * CloudEvent), and what invocation records carry. */
#define EG_HDR_SPACE "eg-space"
#define EG_HDR_EVENT_TYPE "eg-event-type"
#define EG_HDR_EVENT_ID "eg-event-id"
#define EG_HDR_PATH "eg-path"
#define EG_HDR_METHOD "eg-method"
#define EG_HDR_SUBSCRIPTION "eg-subscription"
#define EG_HDR_FUNCTION "eg-function"
#define EG_HDR_CONTENT_TYPE "content-type"
/* Where an invocation comes from: "<events topic>/<partition>/<offset>". The
 * same event routed twice (a router that died mid-transaction on a broker
 * without read_committed) gives the same value, so invokers can tell. */
#define EG_HDR_SOURCE "eg-source"

/* Sync calls. On an event record (ingress → router): the subscription the
 * ingress found to answer the request. On events and invocation records:
 * where and under which id the waiting ingress expects the answer, and the
 * wall-clock time (Unix ms) after which nobody waits for it any more. */
#define EG_HDR_SYNC_SUBSCRIPTION "eg-sync-subscription"
#define EG_HDR_REPLY_TO "eg-reply-to"
#define EG_HDR_CORRELATION "eg-correlation"
#define EG_HDR_DEADLINE "eg-deadline"
/* The subscription header value of an authorizer call. */
#define EG_AUTHORIZER_SUBSCRIPTION "authorizer"

/* The hop count: how many function calls the event went through before it
 * reached the gateway (0, or absent, for an event a client sent). The
 * invoker calls a function with the event's count + 1 (HTTP header Eg-Hops,
 * or eg-hops on a kafka function's record); an event posted back with that
 * header keeps it (ingress: events and authorizer records; router: the
 * invocation records), and past --max-hops the Events API refuses it with
 * 508 (a loop). */
#define EG_HDR_HOPS "eg-hops"
#define EG_HOPS_HTTP_HEADER "Eg-Hops"
#define EG_HOPS_MAX 1000000 /* larger counts read as this */

/* A hop count's text (n bytes, decimal digits only): its value, at most
 * EG_HOPS_MAX; -1 when empty or not a number. */
static inline long eg_hops_parse(const char *v, size_t n)
{
    long x = 0;
    if (!v || !n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (x < EG_HOPS_MAX)
            x = x * 10 + (v[i] - '0');
    }
    return x < EG_HOPS_MAX ? x : EG_HOPS_MAX;
}

/* Copies the last value of header `name` into buf as a NUL-terminated
 * string. Returns the value's length, or -1 when absent or too long. */
long eg_kafka_header(rd_kafka_headers_t *hdrs, const char *name, char *buf, size_t len);

#endif
