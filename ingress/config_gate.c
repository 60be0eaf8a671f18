/*
 * config_gate.c: what the Config API does for every request on a space
 * before its resource handlers run (docs/contract.md section 8):
 *
 *  - eventgateway_config_requests_total{space,resource,operation} counts it
 *    (operation: create, list, get, update, delete, other);
 *  - access keys: the request's "Authorization: bearer KEY" must open the
 *    space (eg_accesskey_check); otherwise 401 (no key) or 403 (wrong key),
 *    with the Config API's error body;
 *  - the accesskeys resource, which is not like the others: the secret is
 *    generated here and shown once, only the admin key creates keys, and
 *    reads show ids, never hashes:
 *      POST   /v1/spaces/{space}/accesskeys        201 {"accessKeyId","accessKey","space"}
 *      GET    /v1/spaces/{space}/accesskeys        200 {"accessKeys":[{"accessKeyId","space"}]}
 *      GET    /v1/spaces/{space}/accesskeys/{id}   200 {"accessKeyId","space"} / 404
 *      DELETE /v1/spaces/{space}/accesskeys/{id}   204 / 404 (the generic delete)
 *
 * Runs on the Config API's connection threads; holds the configuration's
 * read lock only while it reads. Never logs a secret or a header.
 */
#include "ingress.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "accesskey.h"
#include "eg_log.h"

static cJSON *key_view(const cJSON *stored)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(stored, "accessKeyId");
    const cJSON *space = cJSON_GetObjectItemCaseSensitive(stored, "space");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "accessKeyId", cJSON_IsString(id) ? id->valuestring : "");
    cJSON_AddStringToObject(o, "space", cJSON_IsString(space) ? space->valuestring : "");
    return o;
}

static enum MHD_Result list_keys(eg_runtime_t *rt, eg_http_req_t *req, const char *space)
{
    const eg_config_t *cfg = eg_configlog_read_begin(rt->config);
    cJSON *stored = eg_config_list(cfg, EG_KIND_ACCESSKEY, space, NULL, 0);
    eg_configlog_read_end(rt->config);
    cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "accessKeys"), *k;
    cJSON_ArrayForEach(k, stored)
    {
        cJSON_AddItemToArray(arr, key_view(k));
    }
    cJSON_Delete(stored);
    return eg_http_json(req->conn, 200, doc);
}

static enum MHD_Result get_key(eg_runtime_t *rt, eg_http_req_t *req, const char *space,
                               const char *id)
{
    const eg_config_t *cfg = eg_configlog_read_begin(rt->config);
    const cJSON *stored = eg_config_peek(cfg, EG_KIND_ACCESSKEY, space, id);
    cJSON *view = stored ? key_view(stored) : NULL;
    eg_configlog_read_end(rt->config);
    if (!view) {
        char msg[400];
        snprintf(msg, sizeof msg, "Access key \"%.256s\" not found.", id);
        return eg_http_error(req->conn, 404, msg);
    }
    return eg_http_json(req->conn, 200, view);
}

static enum MHD_Result create_key(eg_runtime_t *rt, eg_http_req_t *req, const char *space)
{
    char secret[EG_ACCESSKEY_SECRET_LEN + 1];
    eg_change_t c;
    eg_error_t err = {0};
    cJSON *result = NULL;
    if (eg_accesskey_new(space, &c, secret, &err))
        return eg_http_error(req->conn, (unsigned)err.status, err.message);
    int rc = eg_configlog_write(rt->config, &c, &result, &err);
    if (rc) {
        OPENSSL_cleanse(secret, sizeof secret);
        eg_change_release(&c);
        return eg_http_error(req->conn, (unsigned)err.status, err.message);
    }
    EG_LOGF(EG_LOG_LEVEL_INFO, "config-api",
            ((eg_log_field_t[]){{"space", space}, {"accessKeyId", c.id}}), 2, "access key created");
    cJSON *doc = key_view(result);
    cJSON_AddStringToObject(doc, "accessKey", secret);
    OPENSSL_cleanse(secret, sizeof secret);
    cJSON_Delete(result);
    eg_change_release(&c);
    return eg_http_json(req->conn, 201, doc);
}

static enum MHD_Result refuse(eg_http_req_t *req, int verdict, const char *space, int admin_only)
{
    char msg[512];
    if (verdict == 401)
        snprintf(msg, sizeof msg, "%s: send \"Authorization: bearer KEY\" with %s.",
                 admin_only ? "Creating access keys needs the admin key"
                            : "This space needs an access key",
                 admin_only ? "the admin key" : "an access key of the space or the admin key");
    else if (admin_only)
        snprintf(msg, sizeof msg,
                 "Creating access keys needs the admin key; the key given is "
                 "not it (or this gateway has no --admin-key).");
    else
        snprintf(msg, sizeof msg, "The access key given does not open space \"%.256s\".", space);
    EG_LOGF(EG_LOG_LEVEL_INFO, "config-api",
            ((eg_log_field_t[]){{"space", space}, {"method", req->method}}), 2,
            "request refused (%d): %s", verdict, verdict == 401 ? "no key" : "wrong key");
    return eg_http_error(req->conn, (unsigned)verdict, msg);
}

/* Counts the request and checks its key: 0 when it may go on, else 1 with
 * the refusal answered in *ret. */
static int check(eg_runtime_t *rt, eg_http_req_t *req, const char *space, const char *resource,
                 const char *id, int create_key_req, enum MHD_Result *ret)
{
    const eg_settings_t *s = rt->settings;
    const char *m = req->method;
    const char *auth =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    int read = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    int verdict;
    const char *op = read                   ? (id ? "get" : "list")
                     : !strcmp(m, "POST")   ? (id ? "other" : "create")
                     : !strcmp(m, "PUT")    ? (id ? "update" : "other")
                     : !strcmp(m, "DELETE") ? (id ? "delete" : "other")
                                            : "other";
    /* Labelled with the space only when it holds something: requests naming
     * made-up spaces would otherwise add a series each, until the cap of
     * series crowded real tenants out of /metrics. */
    const eg_config_t *cfg = eg_configlog_read_begin(rt->config);
    const char *label = eg_config_space_known(cfg, space) ? space : EG_METRICS_OTHER_SPACE;
    eg_metric_add(rt->mx.config_requests, (const char *const[]){label, resource, op}, 1);
    if (create_key_req)
        verdict = eg_accesskey_check_admin(auth, s->admin_key);
    else
        verdict = eg_accesskey_check(cfg, space, auth, s->admin_key, s->require_keys);
    eg_configlog_read_end(rt->config);
    if (verdict) {
        *ret = refuse(req, verdict, space, create_key_req);
        return 1;
    }
    return 0;
}

int eg_config_api_gate_other(eg_runtime_t *rt, eg_http_req_t *req, const char *space,
                             const char *resource, const char *id, enum MHD_Result *ret)
{
    return check(rt, req, space, resource, id, 0, ret);
}

int eg_config_api_gate(eg_runtime_t *rt, eg_http_req_t *req, const char *space, eg_kind_t kind,
                       const char *id, enum MHD_Result *ret)
{
    const char *m = req->method;
    int create_key_req = kind == EG_KIND_ACCESSKEY && !id && !strcmp(m, "POST");
    int read = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    if (check(rt, req, space, eg_kind_name(kind), id, create_key_req, ret))
        return 1;
    if (kind != EG_KIND_ACCESSKEY)
        return 0;
    if (create_key_req)
        *ret = create_key(rt, req, space);
    else if (!id && read)
        *ret = list_keys(rt, req, space);
    else if (id && read)
        *ret = get_key(rt, req, space, id);
    else if (id && !strcmp(m, "DELETE"))
        return 0; /* the generic delete */
    else
        *ret = eg_http_error(req->conn, 405,
                             id ? "Method not allowed here; use GET or DELETE."
                                : "Method not allowed here; use GET or POST.");
    return 1;
}
