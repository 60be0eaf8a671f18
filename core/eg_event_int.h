/*
 * eg_event_int.h: what the CloudEvents codec's model (eg_event.c) lends its
 * two bindings (eg_event_http.c, eg_event_kafka.c); not for other modules.
 * Each function is described where it is defined.
 */
#ifndef EG_EVENT_INT_H
#define EG_EVENT_INT_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "eg_base64.h"
#include "eg_event.h"

#define MT_CAP 128 /* longest media type looked at */
#define utf8_seq eg_utf8_seq
#define utf8_text eg_utf8_valid

void eg__ev_add(cJSON *o, const char *k, cJSON *v);
int eg__ev_add_data_v10(cJSON *o, const char *body, size_t len, const char *mt, eg_error_t *err);
void eg__ev_adds(cJSON *o, const char *k, const char *s);
size_t eg__ev_attr_pass(const char *n);
int eg__ev_ci_eq(const char *a, const char *b);
int eg__ev_ci_prefix(const char *s, const char *p);
int eg__ev_event_init(eg_event_t *out, cJSON *json, eg_event_version_t v, int trusted,
                      eg_error_t *err);
int eg__ev_gateway_owned(const char *name);
cJSON *eg__ev_get(const cJSON *o, const char *k);
cJSON *eg__ev_json_parse(const char *buf, size_t n);
cJSON *eg__ev_json_parse_doc(const char *buf, size_t n, size_t *doc_len);
cJSON *eg__ev_jstr(const char *s, size_t n);
int eg__ev_lc(int c);
void eg__ev_media_type(const char *ct, char out[MT_CAP]);
int eg__ev_name_strict(const char *n);
void eg__ev_now_rfc3339(char buf[64]);
cJSON *eg__ev_payload_v01(const char *body, size_t len, const char *mt);
const char *eg__ev_shown(const char *s, char buf[72]);
int eg__ev_strip_gateway_extensions(cJSON *j);
int eg__ev_structured_init(eg_event_t *out, cJSON *j, int trusted, eg_error_t *err);

#endif
