/*
 * eg_config_request.c: a Config API request's body into a change of the
 * configuration model (eg_change_from_request), every field validated as
 * event-gateway 0.9 validated it, with its messages; the model's own rules
 * (conflicts, references) are eg_config.c's.
 *
 * Field names match case-insensitively, as Go's encoding/json does. A
 * function's provider fields are validated by the row of its type in the
 * providers table below: the ingress validates functions and does not link
 * the invoker, whose invoker/provider.h table calls them, so a new provider
 * adds a row to each.
 */
#include "eg_config_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_json.h"

/* ---- small validators ---- */

/* 0.9's `space`, `functionid` and `eventType` rule: ^[a-zA-Z0-9.\-_]+$ */
static int name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > EG_MAX_NAME)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '_')
            return 0;
    return 1;
}

int eg_space_validate(const char *space, eg_error_t *err)
{
    if (!space || strlen(space) < 3 || !name_ok(space))
        return eg_error_set(err, 400,
                            "Space name \"%.64s\" is invalid: it needs 3 to %d characters among "
                            "letters, digits, '.', '-' and '_'.",
                            space ? space : "", EG_MAX_NAME);
    return 0;
}

static const char *const http_methods[] = {"GET",   "POST", "DELETE",  "PUT",
                                           "PATCH", "HEAD", "OPTIONS", NULL};

static int method_ok(const char *m)
{
    for (int i = 0; http_methods[i]; i++)
        if (!strcmp(m, http_methods[i]))
            return 1;
    return 0;
}

static void upcase(char *s)
{
    for (; *s; s++)
        *s = (char)toupper((unsigned char)*s);
}

/* Go's url.PathEscape: keeps unreserved characters and $&+:=@. */

/* ---- request parsing helpers ---- */

typedef struct {
    eg_kind_t kind;
    eg_error_t *err;
    char failed[900]; /* the validator's report so far (vfail) */
} vctx_t;

/* How 0.9's validator (go-playground/validator.v9) named each kind's struct. */
static const char *const kind_structs[EG_KIND__COUNT] = {"Type", "Function", "Subscription", "CORS",
                                                         "AccessKey"};
#define METHOD_TAG "eq=GET|eq=POST|eq=DELETE|eq=PUT|eq=PATCH|eq=HEAD|eq=OPTIONS"

static int verr(vctx_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int verr(vctx_t *v, const char *fmt, ...)
{
    char msg[sizeof((vctx_t *)0)->failed];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return eg_error_set(v->err, 400, "%s doesn't validate. Validation error: %s",
                        eg__config_kind_titles[v->kind], msg);
}

/* A field that breaks one of 0.9's validator rules (its tag): 0.9 checked
 * every field and reported each failing one on a line of its own, in the
 * struct's field order, word for word as here. vdone() answers them. */
static void vfail(vctx_t *v, const char *field, const char *tag)
{
    size_t n = strlen(v->failed);
    snprintf(v->failed + n, sizeof v->failed - n,
             "%sKey: '%s.%s' Error:Field validation for '%s' failed on the '%s' tag", n ? "\n" : "",
             kind_structs[v->kind], field, field, tag);
}

static int vdone(vctx_t *v)
{
    return v->failed[0] ? verr(v, "%s", v->failed) : 0;
}

/* Optional string field: 0 with *out (borrowed, NULL when absent or null),
 * -1 when present with another type. */
static int opt_string(vctx_t *v, const cJSON *o, const char *name, const char **out)
{
    const cJSON *f = cJSON_GetObjectItem(o, name);
    *out = NULL;
    if (!f || cJSON_IsNull(f))
        return 0;
    if (!cJSON_IsString(f))
        return verr(v, "\"%s\" must be a string.", name);
    if (strlen(f->valuestring) > EG_MAX_PATH)
        return verr(v, "\"%s\" is too long (at most %d bytes).", name, EG_MAX_PATH);
    *out = f->valuestring;
    return 0;
}

static int req_string(vctx_t *v, const cJSON *o, const char *name, const char **out)
{
    if (opt_string(v, o, name, out))
        return -1;
    if (!*out || !**out)
        return verr(v, "\"%s\" is required.", name);
    return 0;
}

/* An object of strings (metadata, provider.headers) with a bounded size; a
 * normalised copy goes to *out (never NULL on success). */
static int string_map(vctx_t *v, const cJSON *o, const char *name, cJSON **out)
{
    const cJSON *f = cJSON_GetObjectItem(o, name);
    *out = cJSON_CreateObject();
    if (!f || cJSON_IsNull(f))
        return 0;
    if (!cJSON_IsObject(f))
        goto bad;
    int n = 0;
    for (const cJSON *e = f->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !e->string || !*e->string)
            goto bad;
        if (++n > EG_MAX_METADATA || strlen(e->string) > EG_MAX_NAME ||
            strlen(e->valuestring) > EG_MAX_PATH) {
            cJSON_Delete(*out);
            *out = NULL;
            return verr(v,
                        "\"%s\" is too large (at most %d entries, keys of %d bytes, values of "
                        "%d bytes).",
                        name, EG_MAX_METADATA, EG_MAX_NAME, EG_MAX_PATH);
        }
        cJSON_DeleteItemFromObjectCaseSensitive(*out, e->string);
        cJSON_AddStringToObject(*out, e->string, e->valuestring);
    }
    return 0;
bad:
    cJSON_Delete(*out);
    *out = NULL;
    return verr(v, "\"%s\" must be an object of strings.", name);
}

/* An array of non-empty strings, or the defaults when absent or empty. */
static int string_list(vctx_t *v, const cJSON *o, const char *name, const char *const *defaults,
                       int upper, cJSON **out)
{
    const cJSON *f = cJSON_GetObjectItem(o, name);
    *out = cJSON_CreateArray();
    if (f && !cJSON_IsNull(f) && !cJSON_IsArray(f))
        goto bad;
    int n = 0;
    for (const cJSON *e = f ? f->child : NULL; e; e = e->next) {
        if (!cJSON_IsString(e) || !*e->valuestring || strlen(e->valuestring) > EG_MAX_NAME)
            goto bad;
        if (++n > EG_MAX_LIST) {
            cJSON_Delete(*out);
            *out = NULL;
            return verr(v, "\"%s\" has more than %d entries.", name, EG_MAX_LIST);
        }
        cJSON *s = cJSON_CreateString(e->valuestring);
        if (upper)
            upcase(s->valuestring);
        cJSON_AddItemToArray(*out, s);
    }
    if (n == 0)
        for (int i = 0; defaults[i]; i++)
            cJSON_AddItemToArray(*out, cJSON_CreateString(defaults[i]));
    return 0;
bad:
    cJSON_Delete(*out);
    *out = NULL;
    return verr(v, "\"%s\" must be an array of non-empty strings.", name);
}

static int path_syntax(vctx_t *v, const char *path)
{
    char perr[256];
    for (const char *p = path; *p; p++)
        if (*p == '?' || *p == '#' || (unsigned char)*p < ' ' || *p == 0x7f)
            return verr(v,
                        "invalid path \"%.128s\": it may not hold '?', '#' or control "
                        "characters (a request's query never takes part in matching).",
                        path);
    if (eg_pathtree_validate(path, perr, sizeof perr))
        return verr(v, "invalid path \"%.128s\": %s", path, perr);
    return 0;
}

/* metadata goes on the object only when it holds something: 0.9's
 * `json:"metadata,omitempty"` left it out of every answer when empty. */
static void add_metadata(cJSON *out, cJSON *md)
{
    if (md && md->child)
        cJSON_AddItemToObject(out, "metadata", md);
    else
        cJSON_Delete(md);
}

/* ---- building changes per kind ---- */

static int build_eventtype(vctx_t *v, const cJSON *b, const char *url_id, cJSON *out)
{
    const char *name, *auth;
    cJSON *md;
    if (url_id) {
        name = url_id;
    } else if (opt_string(v, b, "name", &name)) {
        return -1;
    }
    if (!name || !*name)
        vfail(v, "Name", "required");
    if (vdone(v))
        return -1;
    if (!name_ok(name))
        return verr(v,
                    "\"name\" must be 1 to %d characters among letters, digits, '.', '-' and "
                    "'_'.",
                    EG_MAX_NAME);
    if (opt_string(v, b, "authorizerId", &auth))
        return -1;
    if (auth && *auth && !name_ok(auth)) /* no such function can exist */
        return eg_error_set(v->err, 400, "Authorizer function doesn't exists.");
    if (string_map(v, b, "metadata", &md))
        return -1;
    cJSON_AddStringToObject(out, "name", name);
    if (auth && *auth)
        cJSON_AddStringToObject(out, "authorizerId", auth);
    add_metadata(out, md);
    return 0;
}

static int url_ok(const char *u)
{
    if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))
        return 0;
    const char *host = strstr(u, "://") + 3;
    if (!*host || *host == '/' || *host == ':')
        return 0;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 0;
    return 1;
}

/* An HTTP header name (an RFC 9110 token) and a value that cannot break
 * the request line it goes on (no CR, LF, NUL or other control but tab). */
static int header_name_ok(const char *n)
{
    if (!*n)
        return 0;
    for (const unsigned char *p = (const unsigned char *)n; *p; p++)
        if (!isalnum(*p) && !strchr("!#$%&'*+-.^_`|~", *p))
            return 0;
    return 1;
}

static int header_value_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < ' ' && *p != '\t') || *p == 0x7f)
            return 0;
    return 1;
}

/* provider.headers of an http function: an object of strings whose names
 * and values are valid HTTP; the normalised copy goes to *out. */
static int http_headers(vctx_t *v, const cJSON *p, cJSON **out)
{
    if (string_map(v, p, "headers", out))
        return -1;
    for (const cJSON *h = (*out)->child; h; h = h->next) {
        const char *why = !header_name_ok(h->string) ? "is not a valid HTTP header name"
                          : !header_value_ok(h->valuestring)
                              ? "has a value with control characters (CR, LF...)"
                              : NULL;
        if (why) {
            verr(v, "\"provider.headers\": \"%.64s\" %s.", h->string, why);
            cJSON_Delete(*out);
            *out = NULL;
            return -1;
        }
    }
    return 0;
}

/* A Kafka topic name: 1 to EG_KAFKA_TOPIC_MAX of [A-Za-z0-9._-], not "." or "..". */
static int topic_ok(const char *t)
{
    size_t n = strlen(t);
    if (!n || n > EG_KAFKA_TOPIC_MAX || !strcmp(t, ".") || !strcmp(t, ".."))
        return 0;
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (!isalnum(*p) && !strchr("._-", *p))
            return 0;
    return 1;
}

/* Optional per-function retry policy: {"attempts":1..100,"baseDelayMs":1..3600000,
 * "maxDelayMs":1..86400000}; absent fields take the invoker's settings. */
static int build_retry(vctx_t *v, const cJSON *b, cJSON **out)
{
    static const struct {
        const char *name;
        double max;
    } f[] = {{"attempts", 100}, {"baseDelayMs", 3600000}, {"maxDelayMs", 86400000}};
    const cJSON *r = cJSON_GetObjectItem(b, "retry");
    *out = NULL;
    if (!r || cJSON_IsNull(r))
        return 0;
    if (!cJSON_IsObject(r))
        return verr(v, "\"retry\" must be an object.");
    *out = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        const cJSON *x = cJSON_GetObjectItem(r, f[i].name);
        if (!x || cJSON_IsNull(x))
            continue;
        if (!cJSON_IsNumber(x) || x->valuedouble < 1 || x->valuedouble > f[i].max ||
            x->valuedouble != (double)(long)x->valuedouble) {
            cJSON_Delete(*out);
            *out = NULL;
            return verr(v, "\"retry.%s\" must be a whole number from 1 to %.0f.", f[i].name,
                        f[i].max);
        }
        cJSON_AddNumberToObject(*out, f[i].name, x->valuedouble);
    }
    return 0;
}

/* ---- the providers' own fields ---- */

/* http: {"url" (http or https, required), "headers"?}. */
static int provider_http(vctx_t *v, const cJSON *p, cJSON *prov)
{
    const char *url;
    cJSON *headers;
    if (opt_string(v, p, "url", &url))
        return -1;
    if (!url || !*url || !url_ok(url)) /* 0.9: validate:"required,url" */
        return verr(v, "missing required fields for HTTP endpoint");
    if (http_headers(v, p, &headers))
        return -1;
    cJSON_AddStringToObject(prov, "url", url);
    if (headers->child)
        cJSON_AddItemToObject(prov, "headers", headers);
    else
        cJSON_Delete(headers);
    return 0;
}

/* awslambda: {"arn", "region" (required), credentials and "endpoint"?}. */
static int provider_awslambda(vctx_t *v, const cJSON *p, cJSON *prov)
{
    static const char *const opt[] = {"awsAccessKeyId", "awsSecretAccessKey", "awsSessionToken",
                                      "endpoint", NULL};
    const char *arn, *region, *s;
    if (opt_string(v, p, "arn", &arn) || opt_string(v, p, "region", &region))
        return -1;
    if (!arn || !*arn || !region || !*region)
        return verr(v, "missing required fields for AWS Lambda function");
    cJSON_AddStringToObject(prov, "arn", arn);
    cJSON_AddStringToObject(prov, "region", region);
    for (int i = 0; opt[i]; i++) {
        if (opt_string(v, p, opt[i], &s))
            return -1;
        if (s && *s)
            cJSON_AddStringToObject(prov, opt[i], s);
    }
    if (opt_string(v, p, "endpoint", &s))
        return -1;
    if (s && *s && !url_ok(s))
        return verr(v, "\"provider.endpoint\" must be an http or https URL.");
    return 0;
}

/* kafka: {"topic" (required), "brokers"?}. */
static int provider_kafka(vctx_t *v, const cJSON *p, cJSON *prov)
{
    const char *topic, *brokers;
    if (opt_string(v, p, "topic", &topic) || opt_string(v, p, "brokers", &brokers))
        return -1;
    /* 0.9's wording for its providers, with the field: 0.9 had no kafka */
    if (!topic || !*topic)
        return verr(v, "missing required fields for Kafka function (\"provider.topic\")");
    if (!topic_ok(topic))
        return verr(v, "\"provider.topic\" must be 1 to 249 characters among letters, digits, "
                       "'.', '-' and '_'.");
    for (const char *q = brokers ? brokers : ""; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f)
            return verr(v, "\"provider.brokers\" must be a list of host:port without spaces.");
    cJSON_AddStringToObject(prov, "topic", topic);
    if (brokers && *brokers)
        cJSON_AddStringToObject(prov, "brokers", brokers);
    return 0;
}

/* One row per function type: its provider fields into prov, or -1 with the
 * error in v. */
static const struct {
    const char *type;
    int (*build)(vctx_t *v, const cJSON *p, cJSON *prov);
} providers[] = {
    {"http", provider_http},
    {"awslambda", provider_awslambda},
    {"kafka", provider_kafka},
};

static int build_function(vctx_t *v, const cJSON *b, const char *url_id, cJSON *out)
{
    const char *id, *type;
    cJSON *md = NULL, *prov = NULL;
    /* 0.9 read the type and the provider before it validated the id. */
    if (opt_string(v, b, "type", &type))
        return -1;
    if (!type || !*type)
        return verr(v, "provider configuration not set");
    size_t row = 0;
    while (row < sizeof providers / sizeof providers[0] && strcmp(type, providers[row].type))
        row++;
    if (row == sizeof providers / sizeof providers[0])
        return verr(v, "provider %.64s not supported", type);
    const cJSON *p = cJSON_GetObjectItem(b, "provider");
    if (!cJSON_IsObject(p))
        return verr(v, "\"provider\" must be an object.");
    prov = cJSON_CreateObject();
    if (providers[row].build(v, p, prov))
        goto fail;
    if (url_id) {
        id = url_id;
    } else if (opt_string(v, b, "functionId", &id)) {
        goto fail;
    }
    if (!id || !*id)
        vfail(v, "ID", "required");
    else if (!name_ok(id) && strlen(id) <= EG_MAX_NAME)
        vfail(v, "ID", "functionid");
    if (vdone(v))
        goto fail;
    if (!name_ok(id)) {
        verr(v, "\"functionId\" is too long (at most %d bytes).", EG_MAX_NAME);
        goto fail;
    }
    const char *pool;
    cJSON *retry = NULL;
    if (opt_string(v, b, "pool", &pool))
        goto fail;
    if (pool && *pool && !name_ok(pool)) {
        verr(v, "\"pool\" must be 1 to %d characters among letters, digits, '.', '-' and '_'.",
             EG_MAX_NAME);
        goto fail;
    }
    if (build_retry(v, b, &retry))
        goto fail;
    if (string_map(v, b, "metadata", &md)) {
        cJSON_Delete(retry);
        goto fail;
    }
    cJSON_AddStringToObject(out, "functionId", id);
    cJSON_AddStringToObject(out, "type", type);
    cJSON_AddItemToObject(out, "provider", prov);
    if (pool && *pool)
        cJSON_AddStringToObject(out, "pool", pool);
    if (retry)
        cJSON_AddItemToObject(out, "retry", retry);
    add_metadata(out, md);
    return 0;
fail:
    cJSON_Delete(prov);
    return -1;
}

static int build_subscription(vctx_t *v, const cJSON *b, const char *url_id, cJSON *out)
{
    const char *type, *event, *fn, *path, *method;
    cJSON *md;
    if (opt_string(v, b, "type", &type) || opt_string(v, b, "eventType", &event) ||
        opt_string(v, b, "functionId", &fn) || opt_string(v, b, "path", &path) ||
        opt_string(v, b, "method", &method))
        return -1;
    /* 0.9's defaults (a leading '/', POST, upper case), then its rules. A
     * functionId no function can have is left to the check: "not found". */
    char normpath[EG_MAX_PATH + 2], normmethod[16];
    snprintf(normpath, sizeof normpath, "%s%s", path && *path == '/' ? "" : "/", path ? path : "");
    if (!method || !*method)
        method = "POST";
    snprintf(normmethod, sizeof normmethod, "%s", method);
    upcase(normmethod);
    if (!type || !*type)
        vfail(v, "Type", "required");
    else if (strcmp(type, "async") && strcmp(type, "sync"))
        vfail(v, "Type", "eq=async|eq=sync");
    if (!event || !*event)
        vfail(v, "EventType", "required");
    else if (!name_ok(event) && strlen(event) <= EG_MAX_NAME)
        vfail(v, "EventType", "eventType");
    if (!fn || !*fn)
        vfail(v, "FunctionID", "required");
    if (strlen(method) >= sizeof normmethod || !method_ok(normmethod))
        vfail(v, "Method", METHOD_TAG);
    if (vdone(v))
        return -1;
    if (!name_ok(event))
        return verr(v, "\"eventType\" is too long (at most %d bytes).", EG_MAX_NAME);
    if (path_syntax(v, normpath))
        return -1;
    /* filters: checked here, compiled again where the model binds them */
    const cJSON *filters = cJSON_GetObjectItemCaseSensitive(b, "filters");
    if (cJSON_IsNull(filters))
        filters = NULL;
    if (filters) {
        eg_error_t fe = {0};
        eg_filter_t *f = eg_filter_compile(filters, &fe);
        if (!f)
            return verr(v, "%s", fe.message);
        eg_filter_free(f);
    }
    if (string_map(v, b, "metadata", &md))
        return -1;

    char *id = eg__config_subscription_id(type, event, fn, normpath, normmethod);
    /* an update keeps the URL's id; eg_config_check compares the rest */
    cJSON_AddStringToObject(out, "subscriptionId", url_id ? url_id : id);
    cJSON_AddStringToObject(out, "type", type);
    cJSON_AddStringToObject(out, "eventType", event);
    cJSON_AddStringToObject(out, "functionId", fn);
    cJSON_AddStringToObject(out, "path", normpath);
    cJSON_AddStringToObject(out, "method", normmethod);
    if (filters && filters->child) /* an empty list filters nothing: left out */
        cJSON_AddItemToObject(out, "filters", cJSON_Duplicate(filters, 1));
    add_metadata(out, md);
    free(id);
    return 0;
}

static int build_cors(vctx_t *v, const cJSON *b, const char *url_id, cJSON *out)
{
    static const char *const def_origins[] = {"*", NULL};
    static const char *const def_methods[] = {"HEAD", "GET", "POST", NULL};
    static const char *const def_headers[] = {"Origin", "Accept", "Content-Type", NULL};
    const char *method, *path;
    cJSON *origins = NULL, *methods = NULL, *headers = NULL, *md = NULL;
    char normmethod[16];
    if (opt_string(v, b, "method", &method) || opt_string(v, b, "path", &path))
        return -1;
    snprintf(normmethod, sizeof normmethod, "%s", method ? method : "");
    upcase(normmethod);
    if (!method || strlen(method) >= sizeof normmethod || !method_ok(normmethod))
        vfail(v, "Method", METHOD_TAG);
    if (!path || *path != '/') /* 0.9: path.IsAbs */
        vfail(v, "Path", "path");
    if (vdone(v))
        return -1;
    if (path_syntax(v, path))
        return -1;
    if (string_list(v, b, "allowedOrigins", def_origins, 0, &origins) ||
        string_list(v, b, "allowedMethods", def_methods, 1, &methods) ||
        string_list(v, b, "allowedHeaders", def_headers, 0, &headers))
        goto fail;
    for (const cJSON *m = methods->child; m; m = m->next)
        if (!method_ok(m->valuestring)) {
            verr(v, "\"allowedMethods\" may hold only GET, POST, DELETE, PUT, PATCH, HEAD, "
                    "OPTIONS.");
            goto fail;
        }
    const cJSON *cred = cJSON_GetObjectItem(b, "allowCredentials");
    if (cred && !cJSON_IsNull(cred) && !cJSON_IsBool(cred)) {
        verr(v, "\"allowCredentials\" must be a boolean.");
        goto fail;
    }
    if (string_map(v, b, "metadata", &md))
        goto fail;
    char *esc = eg__config_path_escape(path);
    char id[EG_MAX_PATH * 3 + 32];
    snprintf(id, sizeof id, "%s%s", normmethod, esc);
    free(esc);
    cJSON_AddStringToObject(out, "corsId", url_id ? url_id : id);
    cJSON_AddStringToObject(out, "method", normmethod);
    cJSON_AddStringToObject(out, "path", path);
    cJSON_AddItemToObject(out, "allowedOrigins", origins);
    cJSON_AddItemToObject(out, "allowedMethods", methods);
    cJSON_AddItemToObject(out, "allowedHeaders", headers);
    cJSON_AddBoolToObject(out, "allowCredentials", cJSON_IsTrue(cred));
    add_metadata(out, md);
    return 0;
fail:
    cJSON_Delete(origins);
    cJSON_Delete(methods);
    cJSON_Delete(headers);
    cJSON_Delete(md);
    return -1;
}

/* An access key as stored: its id and the SHA-256 of its secret (64 lower-case
 * hex digits); the secret itself never reaches the model (ingress/accesskey.h).
 * Keys are not updated: a new key replaces an old one. */
static int build_accesskey(vctx_t *v, const cJSON *b, const char *url_id, cJSON *out)
{
    const char *id, *hash;
    if (url_id)
        return verr(v, "an access key cannot be changed; create a new one and delete this one.");
    if (req_string(v, b, "accessKeyId", &id) || req_string(v, b, "hash", &hash))
        return -1;
    if (!name_ok(id))
        return verr(v,
                    "\"accessKeyId\" must be 1 to %d characters among letters, digits, '.', "
                    "'-' and '_'.",
                    EG_MAX_NAME);
    if (strlen(hash) != 64 || strspn(hash, "0123456789abcdef") != 64)
        return verr(v, "\"hash\" must be a SHA-256 digest in lower-case hex.");
    cJSON_AddStringToObject(out, "accessKeyId", id);
    cJSON_AddStringToObject(out, "hash", hash);
    return 0;
}

int eg_change_from_request(eg_change_t *out, eg_op_t op, eg_kind_t kind, const char *space,
                           const char *id, const char *body, size_t len, eg_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (kind >= EG_KIND__COUNT)
        return eg_error_set(err, 404, "unknown resource");
    /* A write of 0.9's kinds reports a bad space as 0.9's validator did,
     * with the body's other faults (below); the rest get eg_space_validate's. */
    int v09 = op != EG_OP_DELETE && kind != EG_KIND_ACCESSKEY;
    if ((!v09 || !space || strlen(space) > EG_MAX_NAME) && eg_space_validate(space, err))
        return -1;
    if (op != EG_OP_CREATE && (!id || !*id || strlen(id) > EG_MAX_ID))
        return eg_error_set(err, 404, "%s \"%.64s\" not found.", eg__config_kind_titles[kind],
                            id ? id : "");
    out->op = op;
    out->kind = kind;
    out->space = eg_xstrdup(space);
    if (op == EG_OP_DELETE) {
        out->id = eg_xstrdup(id);
        return 0;
    }

    vctx_t v = {.kind = kind, .err = err};
    if (v09 && strlen(space) < 3)
        vfail(&v, "Space", "min");
    else if (v09 && !name_ok(space))
        vfail(&v, "Space", "space");
    const char *why = NULL;
    cJSON *b = body && len ? eg_json_parse(body, len, &why) : NULL;
    if (!cJSON_IsObject(b)) {
        cJSON_Delete(b);
        eg_change_release(out);
        if (!body || !len)
            return verr(&v, "the body must be a JSON object (it is empty).");
        if (!b)
            return verr(&v, "the body is not valid JSON: %s.", why);
        return verr(&v, "the body must be a JSON object.");
    }
    cJSON *data = cJSON_CreateObject();
    int rc;
    cJSON_AddStringToObject(data, "space", space);
    switch (kind) {
    case EG_KIND_EVENTTYPE:
        rc = build_eventtype(&v, b, id, data);
        break;
    case EG_KIND_FUNCTION:
        rc = build_function(&v, b, id, data);
        break;
    case EG_KIND_SUBSCRIPTION:
        rc = build_subscription(&v, b, id, data);
        break;
    case EG_KIND_ACCESSKEY:
        rc = build_accesskey(&v, b, id, data);
        break;
    default:
        rc = build_cors(&v, b, id, data);
        break;
    }
    cJSON_Delete(b);
    if (rc) {
        cJSON_Delete(data);
        eg_change_release(out);
        return -1;
    }
    out->data = data;
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(data, eg__config_id_fields[kind]);
    out->id = eg_xstrdup(idv->valuestring);
    return 0;
}
