/*
 * eg_route: what the router and the replayer share to route one record of
 * the events topic: reading the record (the ingress's routing hints, or the
 * CloudEvents Kafka binding of any other writer), matching it against the
 * configuration, and the headers of the invocation records they write.
 *
 * Stateless; every function may be called from any thread. Matching
 * functions take the configuration with its read lock held by the caller.
 */
#ifndef EG_ROUTE_H
#define EG_ROUTE_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>

#include "eg_config.h"
#include "eg_event.h"

/* The most subscriptions one event fans out to. */
#define EG_ROUTE_MAX_FANOUT 256

/* One events record as routing sees it. */
typedef struct eg_route_input {
    char space[300], type[300], method[16], path[4096], eid[300], ctype[256];
    const void *val; /* the structured event (what functions get), vlen bytes */
    size_t vlen;
    rd_kafka_headers_t *hdrs; /* the record's, borrowed (may be NULL) */
    eg_event_t ev;            /* decoded when another Kafka client wrote it, else zeroed */
    char *owned;              /* ev serialised: val points here then */
} eg_route_input_t;

/* Reads record m (borrowed; it must outlive *in). 0 with *in filled
 * (release it); -1 when m is not a CloudEvent (err says why, fit for a dead
 * letter; nothing to release), its one failure. A record written by any
 * other client than an ingress matches path "/" and method POST. */
int eg_route_input_read(eg_route_input_t *in, const rd_kafka_message_t *m, eg_error_t *err);
void eg_route_input_release(eg_route_input_t *in);

/* The structured event of *in as a parsed event (*out, release it): for
 * the replayer, which adds the replayid extension. 0, or -1 with err. */
int eg_route_input_event(const eg_route_input_t *in, eg_event_t *out, eg_error_t *err);

/* Is subscription `sub_id` of in->space among those that match the event
 * (same path tree walk as the router)? 1 with *out (borrowed from cfg) set,
 * else 0. */
int eg_route_matches(const eg_config_t *cfg, const eg_route_input_t *in, const char *sub_id,
                     const eg_sub_t **out);

/* The invoker pool of function `fn` of `space`: its "pool", else "default"
 * (borrowed from cfg or static). */
const char *eg_route_pool(const eg_config_t *cfg, const char *space, const char *fn);

/* "<topic>/<partition>/<offset>" of m, then `suffix` (may be NULL): the
 * eg-source header (eg_kafka_hdr.h). */
void eg_route_source(char *buf, size_t len, const rd_kafka_message_t *m, const char *suffix);

/* New headers of an async invocation record of in for (sub, fn), with
 * content type ctype (NULL: in->ctype) and the events record's hop count
 * (eg_kafka_hdr.h) when it has one; the caller adds any more and hands
 * them to rd_kafka_producev (or destroys them). */
/* What the router adds to an event's record when it makes an invocation
 * (headers naming the subscription, the function, the source, the reply
 * path): the Events API takes no event whose record is within this of the
 * topics' limit (eg_runtime's max_record). */
#define EG_ROUTE_ENVELOPE 8192

/* About the bytes headers add to a record (names and values). */
size_t eg_route_headers_size(const rd_kafka_headers_t *h);

rd_kafka_headers_t *eg_route_invocation_headers(const eg_route_input_t *in, const char *source,
                                                const char *ctype, const char *sub, const char *fn);

/* Adds header name: value unless value is NULL. */
void eg_route_add_header(rd_kafka_headers_t *h, const char *name, const char *value);

#endif
