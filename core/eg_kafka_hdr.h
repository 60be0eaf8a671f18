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

/* Copies the last value of header `name` into buf as a NUL-terminated
 * string. Returns the value's length, or -1 when absent or too long. */
long eg_kafka_header(rd_kafka_headers_t *hdrs, const char *name, char *buf, size_t len);

#endif
