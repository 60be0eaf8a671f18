/*
 * eg_event_kafka.c: the CloudEvents codec's Kafka binding (eg_event_from_kafka):
 * structured records and binary ones (ce_* headers), trusted as far as
 * Kafka's ACLs let their writers (eg_event.c: Trust).
 */
#include "eg_event_int.h"
#include "eg_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Kafka header value as a NUL-terminated UTF-8 string; NULL with err set. */
static char *kafka_value(const char *name, const void *v, size_t n, eg_error_t *err)
{
    char b[72];
    if (!v || n > EG_EVENT_MAX_ATTR_LEN || !utf8_text(v, n)) {
        eg_error_set(err, 400, "header %s is not a UTF-8 string of at most %d bytes.",
                     eg__ev_shown(name, b), EG_EVENT_MAX_ATTR_LEN);
        return NULL;
    }
    return eg_xstrndup(v, n); /* all n bytes: utf8_text allows no NUL */
}

static int kafka_binary(const void *value, size_t len, rd_kafka_headers_t *hdrs, const char *ct,
                        eg_event_t *out, eg_error_t *err)
{
    char b[72], mt[MT_CAP];
    const char *hn;
    const void *hv;
    size_t hs;
    cJSON *o = cJSON_CreateObject();
    const char *dct = NULL;
    size_t cnt = rd_kafka_header_cnt(hdrs);
    for (size_t n = 0; n < 5 * cnt; n++) { /* see attr_pass */
        if (rd_kafka_header_get_all(hdrs, n % cnt, &hn, &hv, &hs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            !hn || !eg__ev_ci_prefix(hn, "ce_"))
            continue;
        char name[24];
        size_t k = 0;
        for (const char *p = hn + 3; *p && k < sizeof name - 1; p++)
            name[k++] = (char)eg__ev_lc((unsigned char)*p);
        name[k] = '\0';
        if (eg__ev_attr_pass(name) != n / cnt)
            continue;
        const char *why = NULL;
        if (strlen(hn + 3) != k || !eg__ev_name_strict(name))
            why = "is not a valid attribute name (1 to 20 lowercase letters or digits)";
        else if (!strcmp(name, "data"))
            why = "is not allowed: data is the record value";
        else if (eg__ev_get(o, name))
            why = "appears twice";
        if (why) {
            cJSON_Delete(o);
            return eg_error_set(err, 400, "header %s %s.", eg__ev_shown(hn, b), why);
        }
        char *v = kafka_value(hn, hv, hs, err);
        if (!v) {
            cJSON_Delete(o);
            return -1;
        }
        eg__ev_adds(o, name, v);
        free(v);
        if (!strcmp(name, "datacontenttype"))
            dct = eg__ev_get(o, name)->valuestring;
    }
    if (ct) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, "datacontenttype");
        eg__ev_adds(o, "datacontenttype", ct);
        dct = ct;
    }
    eg__ev_media_type(dct, mt);
    if (eg__ev_add_data_v10(o, value, len, mt, err)) {
        cJSON_Delete(o);
        return -1;
    }
    return eg__ev_event_init(out, o, EG_EVENT_V10, 0, err);
}

static int kafka_decode(const void *value, size_t len, rd_kafka_headers_t *hdrs, eg_event_t *out,
                        eg_error_t *err)
{
    const char *hn;
    const void *hv;
    size_t hs, count = 0;
    int has_ce = 0, has_sv = 0;
    char *ct = NULL, mt[MT_CAP];
    if (len > EG_EVENT_MAX_BYTES)
        return eg_error_set(err, 400, "the value is too large (more than %u bytes).",
                            EG_EVENT_MAX_BYTES);
    if (len && !value)
        return eg_error_set(err, 400, "the value is missing.");
    for (size_t i = 0;
         hdrs && rd_kafka_header_get_all(hdrs, i, &hn, &hv, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        if (++count > EG_EVENT_MAX_HEADERS) {
            free(ct);
            return eg_error_set(err, 400, "the record has too many headers (more than %d).",
                                EG_EVENT_MAX_HEADERS);
        }
        if (!hn)
            continue;
        if (eg__ev_ci_prefix(hn, "ce_"))
            has_ce = 1;
        if (eg__ev_ci_eq(hn, "ce_specversion"))
            has_sv = 1;
        if (!ct && eg__ev_ci_eq(hn, "content-type") && hv && hs) {
            if (!(ct = kafka_value(hn, hv, hs, err)))
                return -1;
        }
    }
    eg__ev_media_type(ct, mt);
    int rc;
    if (!strcmp(mt, EG_EVENT_CT_CLOUDEVENTS)) {
        rc = len ? eg__ev_structured_init(out, eg__ev_json_parse(value, len), 1, err)
                 : eg_error_set(err, 400, "the value is empty although content-type is %s.",
                                EG_EVENT_CT_CLOUDEVENTS);
    } else if (has_sv) {
        rc = kafka_binary(value, len, hdrs, ct, out, err);
    } else if (has_ce) {
        rc = eg_error_set(err, 400, "ce_ headers without a ce_specversion header.");
    } else {
        cJSON *j = eg__ev_json_parse(value, len);
        if (cJSON_IsObject(j) &&
            (eg__ev_get(j, "specversion") || eg__ev_get(j, "cloudEventsVersion"))) {
            rc = eg__ev_structured_init(out, j, 1, err);
        } else {
            cJSON_Delete(j);
            rc = eg_error_set(err, 400,
                              "no content-type application/cloudevents+json, no ce_specversion "
                              "header, and the value is not a CloudEvents JSON object.");
        }
    }
    free(ct);
    return rc;
}

int eg_event_from_kafka(const void *value, size_t len, rd_kafka_headers_t *hdrs, eg_event_t *out,
                        eg_error_t *err)
{
    if (!out)
        return eg_error_set(err, 400, "not a CloudEvent: no event to fill.");
    memset(out, 0, sizeof *out);
    if (kafka_decode(value, len, hdrs, out, err) == 0)
        return 0;
    if (err && strncmp(err->message, "not a CloudEvent", 16)) {
        char tmp[sizeof err->message];
        memcpy(tmp, err->message, sizeof tmp);
        snprintf(err->message, sizeof err->message, "not a CloudEvent: %.490s", tmp);
    }
    return -1;
}
