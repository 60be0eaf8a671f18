/*
 * eg_http: libmicrohttpd plumbing for every HTTP server of the gateway.
 *
 * Each server runs MHD's own threads (one per connection, bounded by a
 * connection limit), so a handler may block briefly, as a Config API write
 * does while it waits for its record to come back from Kafka.
 *
 * Bodies are gathered into a buffer owned by the request; past max_body the
 * rest is read and dropped and the handler sees too_large (answer 413), so a
 * client can never make the gateway hold more than max_body per request.
 * URLs reach handlers raw: MHD's unescaping is replaced by a no-op because
 * CORS ids hold "%2F", which must not turn into a path separator.
 */
#include "eg_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eg_log.h"

struct eg_http_server {
    struct MHD_Daemon *daemon;
    eg_http_handler_t handler;
    void *ctx;
    long max_body;
    char name[32];
};

typedef struct conn_state {
    eg_http_req_t req;
    size_t cap;
} conn_state_t;

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long eg_http_unescape(char *s, int plus)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%') {
            int h = hexval((unsigned char)p[1]), l = h >= 0 ? hexval((unsigned char)p[2]) : -1;
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return -1;
            *o++ = (char)(h * 16 + l);
            p += 2;
        } else if (plus && *p == '+') {
            *o++ = ' ';
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return (long)(o - s);
}

static size_t keep_raw(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

enum MHD_Result eg_http_respond(struct MHD_Connection *conn, unsigned status,
                                const char *content_type, const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(len ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (content_type)
        MHD_add_response_header(r, "Content-Type", content_type);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result eg_http_json(struct MHD_Connection *conn, unsigned status, cJSON *doc)
{
    char *s = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!s)
        return eg_http_respond(conn, 500, "application/json",
                               "{\"errors\":[{\"message\":\"out of memory\"}]}", 39);
    size_t n = strlen(s);
    struct MHD_Response *r = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result eg_http_error(struct MHD_Connection *conn, unsigned status, const char *message)
{
    cJSON *doc = cJSON_CreateObject(), *errs = cJSON_AddArrayToObject(doc, "errors"),
          *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddItemToArray(errs, e);
    return eg_http_json(conn, status, doc);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    eg_http_server_t *srv = cls;
    conn_state_t *st = *con_cls;
    if (!st) {
        if (!(st = calloc(1, sizeof *st)))
            return MHD_NO;
        st->req.conn = conn;
        st->req.method = method;
        st->req.url = url;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoll(cl, NULL, 10) > srv->max_body)
            st->req.too_large = 1;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (st->req.too_large || st->req.body_len + n > (size_t)srv->max_body) {
            st->req.too_large = 1;
            return MHD_YES; /* read and drop */
        }
        if (st->req.body_len + n + 1 > st->cap) {
            size_t cap = st->cap ? st->cap : 1024;
            while (cap < st->req.body_len + n + 1)
                cap *= 2;
            char *b = realloc(st->req.body, cap);
            if (!b)
                return MHD_NO;
            st->req.body = b;
            st->cap = cap;
        }
        memcpy(st->req.body + st->req.body_len, upload, n);
        st->req.body_len += n;
        st->req.body[st->req.body_len] = '\0';
        return MHD_YES;
    }
    if (st->req.too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "Request body is larger than the limit of %ld bytes.",
                 srv->max_body);
        return eg_http_error(conn, 413, msg);
    }
    return srv->handler(srv->ctx, &st->req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    conn_state_t *st = *con_cls;
    if (st) {
        if (st->req.user_free && st->req.user)
            st->req.user_free(st->req.user);
        free(st->req.body);
        free(st);
        *con_cls = NULL;
    }
}

eg_http_server_t *eg_http_server_new(const char *name, const char *listen, int port,
                                     long max_body, eg_http_mode_t mode,
                                     eg_http_handler_t handler, void *ctx, char *err,
                                     size_t errlen)
{
    eg_http_server_t *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->handler = handler;
    srv->ctx = ctx;
    srv->max_body = max_body;
    snprintf(srv->name, sizeof srv->name, "%s", name);

    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct sockaddr *sa = NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    unsigned pool = 0;
    if (mode == EG_HTTP_THREADS) {
        /* poll(), not select(): the process may hold more than FD_SETSIZE
         * descriptors (an invoker's thousands of calls in flight), and a
         * select() server refuses every connection whose descriptor is past
         * it: the Config API and /v1/status went unreachable so. */
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    } else {
        flags |= MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        pool = n > 1 ? (unsigned)(n > 8 ? 8 : n) : 1;
    }
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (listen && inet_pton(AF_INET, listen, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a4;
    } else if (listen && inet_pton(AF_INET6, listen, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "--listen %s: not an IPv4 or IPv6 address", listen ? listen : "");
        free(srv);
        return NULL;
    }
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_UNESCAPE_CALLBACK, keep_raw,
        NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)(mode == EG_HTTP_THREADS ? 512 : 8192),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
        pool ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, errlen, "%s: cannot listen on %s:%d (port in use?)", name, listen, port);
        free(srv);
        return NULL;
    }
    EG_LOG_INFO("http", "%s listening on http://%s:%d", name, listen, port);
    return srv;
}

void eg_http_server_free(eg_http_server_t *srv)
{
    if (!srv)
        return;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    free(srv);
}
