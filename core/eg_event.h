/*
 * eg_event: the CloudEvents codec shared by the ingress (HTTP in), the router
 * (Kafka in) and the invoker (HTTP out).
 *
 * Rules of the type:
 *  - An event is ONE cJSON object holding the structured JSON form of the
 *    version it arrived in: CloudEvents 1.0 (JSON event format) or
 *    CloudEvents 0.1 (the shape event-gateway 0.9 and its SDK use). Functions
 *    receive exactly that object, so nothing is converted between versions.
 *  - eg_event_t owns `json`; id, type, source and partition_key point into it
 *    and stay valid until eg_event_release (eg_event_set_extension keeps id,
 *    type and source valid and refreshes space / partition_key).
 *  - Every constructor fills *out only on success (0); on failure (-1) *out is
 *    zeroed, err says why (status 400) and nothing is left to free.
 *    eg_event_release is safe on a zeroed event.
 *  - Inputs are bounded (EG_EVENT_MAX_*); no input makes these functions
 *    crash, leak or read out of bounds.
 *  - Stateless and thread safe: any number of threads may call any function
 *    on distinct events.
 */
#ifndef EG_EVENT_H
#define EG_EVENT_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "eg_error.h"
#include "eg_pathtree.h" /* eg_path_param_t */

#define EG_EVENT_MAX_BYTES (16u * 1024u * 1024u) /* body / record value */
#define EG_EVENT_MAX_ATTRS 100                   /* attributes (top-level members) */
#define EG_EVENT_MAX_ATTR_LEN 4096               /* bytes of a string attribute */
#define EG_EVENT_MAX_HEADERS 1000                /* HTTP / Kafka headers looked at */
#define EG_EVENT_MAX_QUERY 1000                  /* query pairs of an http.request */

#define EG_EVENT_CT_CLOUDEVENTS "application/cloudevents+json"
#define EG_EVENT_SOURCE_EG "https://serverless.com/event-gateway/#transformationVersion=0.1"
#define EG_EVENT_TYPE_HTTP_REQUEST "http.request"
#define EG_EVENT_DEFAULT_SPACE "default"

typedef enum { EG_EVENT_V10 = 1, EG_EVENT_V01 = 2 } eg_event_version_t;

typedef struct eg_event {
    eg_event_version_t version;
    /* Owned: the whole event. 1.0: specversion, id, source, type, time?,
     * datacontenttype?, data | data_base64, extensions as top-level members.
     * 0.1: eventType, eventTypeVersion?, cloudEventsVersion "0.1", source,
     * eventID, eventTime?, schemaURL?, extensions?, contentType?, data. */
    cJSON *json;
    const char *id, *type, *source; /* borrowed from json */
    char space[257];                /* egspace extension (1.0: attribute; 0.1:
                                       extensions.egspace) or "default" */
    const char *partition_key;      /* 1.0 "partitionkey" extension, else NULL */
    /* The JSON text of a structured HTTP event exactly as it arrived, when
     * that text is the event (nothing stripped or added since): a producer
     * may store it as it is instead of serializing json. Borrowed from the
     * request's body (eg_http_input_t), so valid only as long as that body;
     * NULL otherwise. eg_event_set_extension clears it. */
    const char *raw;
    size_t raw_len; /* meaningful only with raw */
} eg_event_t;

/* Frees what the event owns and zeroes it. NULL and zeroed events are fine. */
void eg_event_release(eg_event_t *e);

/* One HTTP header as received (any case). Both strings NUL-terminated. */
typedef struct {
    const char *name, *value;
} eg_header_t;

/* An Events API request. Everything is borrowed for the duration of the call;
 * the event copies what it keeps. */
typedef struct eg_http_input {
    const char *method;    /* "POST" */
    const char *path;      /* decoded path, e.g. "/users/42" */
    const char *raw_query; /* after '?', not decoded, may be NULL */
    const char *host;      /* may be NULL */
    const eg_header_t *headers;
    size_t nheaders;
    const char *body; /* body_len bytes, need not be NUL-terminated; NULL when 0 */
    size_t body_len;
    const eg_path_param_t *params; /* matched path parameters; may be NULL/0 */
    size_t nparams;
} eg_http_input_t;

/* Builds the event an Events API request carries, in this order:
 *  a) Content-Type application/cloudevents+json: structured CloudEvent, 1.0
 *     (specversion) or 0.1 (cloudEventsVersion, as the 0.9 SDK sends it);
 *  b) a ce-specversion header: CloudEvents 1.0 binary mode; or the four
 *     CE-EventType/CE-CloudEventsVersion/CE-Source/CE-EventID headers:
 *     CloudEvents 0.1 binary mode as event-gateway 0.9 read it;
 *  c) a JSON object body with cloudEventsVersion (Content-Type application/json
 *     or none): CloudEvents 0.1 kept as is;
 *  d) an "Event: <type>" header: a CloudEvents 0.1 event wrapping the body,
 *     as event-gateway 0.9 built it (legacy mode);
 *  e) anything else: an "http.request" CloudEvents 0.1 event describing the
 *     request, as event-gateway 0.9 built it.
 * The gateway's own extensions (eventgateway.*: an authorizer's result;
 * replayid: a replay's mark) are dropped from every form: only the gateway
 * sets them. 0 with *out filled (caller releases it), or -1 with err set
 * (400 naming the attribute at fault). */
int eg_event_from_http(const eg_http_input_t *in, eg_event_t *out, eg_error_t *err);

/* Reads a Kafka record written by anyone in the CloudEvents Kafka binding:
 * structured (content-type header application/cloudevents+json, or no ce_
 * headers and a JSON object value that is a 1.0 or 0.1 event) or binary
 * (ce_specversion "1.0" and ce_* headers, content-type -> datacontenttype).
 * value/len and hdrs are borrowed; hdrs may be NULL. Gateway-owned
 * extensions (eventgateway.*) are accepted here. 0 with *out filled, or -1
 * with err set to a reason fit for a dead-letter record ("not a CloudEvent: …"). */
int eg_event_from_kafka(const void *value, size_t len, rd_kafka_headers_t *hdrs, eg_event_t *out,
                        eg_error_t *err);

/* Parses the structured JSON of a 1.0 or 0.1 event back (what
 * eg_event_serialize wrote: the invoker's input), with the same validation as
 * eg_event_from_kafka. json need not be NUL-terminated. 0 / -1 with err. */
int eg_event_parse(const char *json, size_t len, eg_event_t *out, eg_error_t *err);

/* The structured JSON text of the event, NUL-terminated and owned by the
 * caller (free()); *len (may be NULL) gets its length. This is both the value
 * written to Kafka and the body POSTed to functions. NULL only when e is NULL
 * or holds no event. */
char *eg_event_serialize(const eg_event_t *e, size_t *len);

/* The Content-Type to send eg_event_serialize's text with:
 * "application/cloudevents+json" for 1.0, "application/json" for 0.1 (as
 * event-gateway 0.9 called functions). Static string. */
const char *eg_event_content_type(const eg_event_t *e);

/* Sets or replaces extension `name` (1.0: a top-level attribute; 0.1: a member
 * of "extensions", created when missing). value (a string, number, boolean or
 * object, e.g. for "eventgateway.authorization" or "replayid") is taken in
 * every case, even on failure. 1.0 names are [a-z0-9] optionally followed by
 * [a-z0-9.] (at most 64) and may not be a core attribute (specversion, id,
 * source, type, time, subject, dataschema, datacontenttype, data,
 * data_base64); 0.1 names are [A-Za-z0-9._-]{1,64}. Setting "egspace" or
 * "partitionkey" validates and refreshes e->space / e->partition_key.
 * 0, or -1 (invalid name or value). */
int eg_event_set_extension(eg_event_t *e, const char *name, cJSON *value);

/* Writes a new random (version 4) UUID, lowercase, NUL-terminated, into buf. */
void eg_uuid4(char buf[37]);

#endif /* EG_EVENT_H */
