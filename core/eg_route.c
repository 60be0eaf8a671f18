/*
 * eg_route: reading and matching events records; see eg_route.h.
 */
#include "eg_route.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_kafka_hdr.h"

int eg_route_input_read(eg_route_input_t *in, const rd_kafka_message_t *m, eg_error_t *err)
{
    memset(in, 0, sizeof *in);
    rd_kafka_message_headers(m, &in->hdrs);
    in->val = m->payload;
    in->vlen = m->len;
    rd_kafka_headers_t *h = in->hdrs;
    if (eg_kafka_header(h, EG_HDR_SPACE, in->space, sizeof in->space) > 0 &&
        eg_kafka_header(h, EG_HDR_EVENT_TYPE, in->type, sizeof in->type) > 0 &&
        eg_kafka_header(h, EG_HDR_EVENT_ID, in->eid, sizeof in->eid) >= 0 &&
        eg_kafka_header(h, EG_HDR_CONTENT_TYPE, in->ctype, sizeof in->ctype) > 0 && in->val) {
        /* Written by an ingress: the hints say everything routing needs and
         * the value is the structured event the function receives. */
        if (eg_kafka_header(h, EG_HDR_METHOD, in->method, sizeof in->method) <= 0)
            strcpy(in->method, "POST");
        if (eg_kafka_header(h, EG_HDR_PATH, in->path, sizeof in->path) <= 0)
            strcpy(in->path, "/");
        return 0;
    }
    /* Written by another Kafka client: decode either binding. */
    if (eg_event_from_kafka(m->payload, m->len, h, &in->ev, err))
        return -1;
    snprintf(in->space, sizeof in->space, "%s", in->ev.space);
    snprintf(in->type, sizeof in->type, "%s", in->ev.type);
    snprintf(in->eid, sizeof in->eid, "%s", in->ev.id);
    snprintf(in->ctype, sizeof in->ctype, "%s", eg_event_content_type(&in->ev));
    strcpy(in->method, "POST");
    strcpy(in->path, "/");
    in->owned = eg_event_serialize(&in->ev, &in->vlen);
    in->val = in->owned;
    return 0;
}

void eg_route_input_release(eg_route_input_t *in)
{
    free(in->owned);
    in->owned = NULL;
    eg_event_release(&in->ev);
}

int eg_route_input_event(const eg_route_input_t *in, eg_event_t *out, eg_error_t *err)
{
    return eg_event_parse(in->val, in->vlen, out, err);
}

int eg_route_matches(const eg_config_t *cfg, const eg_route_input_t *in, const char *sub_id,
                     const eg_sub_t **out)
{
    const eg_sub_t *subs[EG_ROUTE_MAX_FANOUT];
    eg_path_param_t params[64];
    size_t np = 0;
    size_t n = eg_config_match(cfg, in->space, in->type, in->method, in->path, subs,
                               EG_ROUTE_MAX_FANOUT, params, 64, &np);
    if (n > EG_ROUTE_MAX_FANOUT)
        n = EG_ROUTE_MAX_FANOUT;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(subs[i]->id, sub_id)) {
            *out = subs[i];
            return 1;
        }
    return 0;
}

const char *eg_route_pool(const eg_config_t *cfg, const char *space, const char *fn)
{
    const cJSON *f = eg_config_function(cfg, space, fn);
    const cJSON *pool = f ? cJSON_GetObjectItemCaseSensitive(f, "pool") : NULL;
    return cJSON_IsString(pool) ? pool->valuestring : "default";
}

void eg_route_source(char *buf, size_t len, const rd_kafka_message_t *m, const char *suffix)
{
    snprintf(buf, len, "%s/%" PRId32 "/%" PRId64 "%s", rd_kafka_topic_name(m->rkt), m->partition,
             m->offset, suffix ? suffix : "");
}

void eg_route_add_header(rd_kafka_headers_t *h, const char *name, const char *value)
{
    if (value)
        rd_kafka_header_add(h, name, -1, value, -1);
}

rd_kafka_headers_t *eg_route_invocation_headers(const eg_route_input_t *in, const char *source,
                                                const char *ctype, const char *sub, const char *fn)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    eg_route_add_header(h, EG_HDR_SOURCE, source);
    eg_route_add_header(h, EG_HDR_CONTENT_TYPE, ctype ? ctype : in->ctype);
    eg_route_add_header(h, EG_HDR_SPACE, in->space);
    eg_route_add_header(h, EG_HDR_SUBSCRIPTION, sub);
    eg_route_add_header(h, EG_HDR_FUNCTION, fn);
    eg_route_add_header(h, EG_HDR_EVENT_ID, in->eid);
    eg_route_add_header(h, EG_HDR_EVENT_TYPE, in->type);
    char hops[24];
    long nh = eg_kafka_header(in->hdrs, EG_HDR_HOPS, hops, sizeof hops);
    if (nh > 0 && (nh = eg_hops_parse(hops, (size_t)nh)) > 0) {
        snprintf(hops, sizeof hops, "%ld", nh);
        eg_route_add_header(h, EG_HDR_HOPS, hops);
    }
    return h;
}

size_t eg_route_headers_size(const rd_kafka_headers_t *h)
{
    size_t n = 0, vlen;
    const char *name;
    const void *val;
    for (size_t i = 0; h && !rd_kafka_header_get_all(h, i, &name, &val, &vlen); i++)
        n += strlen(name) + vlen + 8; /* two varint lengths and the record's count */
    return n;
}
