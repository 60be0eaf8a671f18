/*
 * eg_http: libmicrohttpd plumbing for every HTTP server of the gateway.
 *
 * Two ways to run a server (eg_http_mode_t):
 *  - EG_HTTP_THREADS: MHD's own threads, one per connection (bounded by a
 *    connection limit), so a handler may block briefly, as a Config API
 *    write does while it waits for its record to come back from Kafka.
 *  - EG_HTTP_EVENT_LOOP (the Events API): one thread of ours runs MHD in
 *    its external epoll mode, and with it the owner's hook (a descriptor to
 *    watch and a function to run each turn). The Events API answers a
 *    request from its Kafka delivery report: with the producers' report
 *    queues waking this same thread, a report resumes its connection and the
 *    answer goes out in one turn, with no hand-off between threads (before,
 *    a poller thread resumed the connection and woke one of MHD's; the loop
 *    took ~8 % of the gateway's CPU off and ~30 % of its context switches
 *    in bench/run.sh's ingest run). A resume from any other thread (a sync
 *    reply, a shutdown) wakes the loop through wakefd (eg_http_resume):
 *    MHD itself does not wake an external loop.
 *    One thread serves every connection: measured here, it takes ~70 % of
 *    a core at ~55k events/s; past that, run more ingress processes.
 *
 * Bodies are gathered into a buffer owned by the request; past max_body the
 * rest is read and dropped and the handler sees too_large (answer 413), so a
 * client can never make the gateway hold more than max_body per request.
 * URLs reach handlers raw: MHD's unescaping is replaced by a no-op because
 * CORS ids hold "%2F", which must not turn into a path separator.
 */
#include "eg_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "eg_log.h"

struct eg_http_server {
    struct MHD_Daemon *daemon;
    eg_http_handler_t handler;
    void *ctx;
    long max_body;
    char name[32];
    /* EG_HTTP_EVENT_LOOP: the thread that runs MHD and the hook */
    eg_http_hook_t hook;
    int epfd;   /* the loop's: MHD's epoll descriptor, hook.fd, wakefd */
    int wakefd; /* eventfd: a resume from another thread, or the stop */
    atomic_int stop;
    pthread_t loop;
    int loop_started;
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

static void wake(eg_http_server_t *srv)
{
    uint64_t one = 1;
    if (write(srv->wakefd, &one, sizeof one) != sizeof one && errno != EAGAIN)
        EG_LOG_ERROR("http", "%s: cannot wake its event loop: %s", srv->name, strerror(errno));
}

void eg_http_resume(eg_http_server_t *srv, struct MHD_Connection *conn)
{
    MHD_resume_connection(conn);
    /* MHD does not wake an external loop: its thread runs MHD next turn, and
     * when the resume comes from another thread, that turn must come now. */
    if (srv->loop_started && !pthread_equal(pthread_self(), srv->loop))
        wake(srv);
}

static void drain(int fd)
{
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0)
        ;
}

/* The event loop: waits on MHD's epoll descriptor, the hook's descriptor
 * and wakefd, no longer than MHD's next connection time-out and the hook's
 * wish; each turn drains what woke it, runs the hook (whose resumes MHD
 * then serves), then MHD. */
static void *loop_main(void *arg)
{
    eg_http_server_t *srv = arg;
    int wait_ms = 0;
    for (;;) {
        MHD_UNSIGNED_LONG_LONG mto;
        int ms = wait_ms;
        if (MHD_get_timeout(srv->daemon, &mto) == MHD_YES &&
            (ms < 0 || mto < (MHD_UNSIGNED_LONG_LONG)ms))
            ms = mto > 60000 ? 60000 : (int)mto;
        struct epoll_event evs[4];
        int n = epoll_wait(srv->epfd, evs, 4, ms);
        if (n < 0 && errno != EINTR) {
            EG_LOG_ERROR("http", "%s: epoll_wait: %s", srv->name, strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++)
            if (evs[i].data.fd == srv->hook.fd || evs[i].data.fd == srv->wakefd)
                drain(evs[i].data.fd);
        if (atomic_load(&srv->stop))
            return NULL;
        wait_ms = srv->hook.run ? srv->hook.run(srv->hook.ctx) : -1;
        MHD_run(srv->daemon);
    }
    return NULL;
}

static int epoll_add(int epfd, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Starts the loop thread of an EG_HTTP_EVENT_LOOP server; -1 on error. */
static int loop_start(eg_http_server_t *srv, char *err, size_t errlen)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di || (srv->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (srv->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
        epoll_add(srv->epfd, di->epoll_fd) || epoll_add(srv->epfd, srv->wakefd) ||
        (srv->hook.fd >= 0 && epoll_add(srv->epfd, srv->hook.fd))) {
        snprintf(err, errlen, "%s: cannot set up its event loop: %s", srv->name, strerror(errno));
        return -1;
    }
    if (pthread_create(&srv->loop, NULL, loop_main, srv)) {
        snprintf(err, errlen, "%s: cannot start its event loop thread", srv->name);
        return -1;
    }
    srv->loop_started = 1;
    pthread_setname_np(srv->loop, "eg-http-loop");
    return 0;
}

eg_http_server_t *eg_http_server_new(const char *name, const char *listen, int port, long max_body,
                                     eg_http_mode_t mode, eg_http_handler_t handler, void *ctx,
                                     const eg_http_hook_t *hook, char *err, size_t errlen)
{
    eg_http_server_t *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->epfd = srv->wakefd = -1;
    srv->hook.fd = -1;
    if (hook)
        srv->hook = *hook;
    srv->handler = handler;
    srv->ctx = ctx;
    srv->max_body = max_body;
    snprintf(srv->name, sizeof srv->name, "%s", name);

    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct sockaddr *sa = NULL;
    unsigned flags = MHD_USE_ERROR_LOG;
    if (mode == EG_HTTP_THREADS) {
        /* poll(), not select(): the process may hold more than FD_SETSIZE
         * descriptors (an invoker's thousands of calls in flight), and a
         * select() server refuses every connection whose descriptor is past
         * it: the Config API and /v1/status went unreachable so. */
        flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    } else {
        flags |= MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
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
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, errlen, "%s: cannot listen on %s:%d (port in use?)", name, listen, port);
        free(srv);
        return NULL;
    }
    if (mode == EG_HTTP_EVENT_LOOP && loop_start(srv, err, errlen)) {
        eg_http_server_free(srv);
        return NULL;
    }
    EG_LOG_INFO("http", "%s listening on http://%s:%d", name, listen, eg_http_server_port(srv));
    return srv;
}

int eg_http_server_port(const eg_http_server_t *srv)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : -1;
}

void eg_http_server_free(eg_http_server_t *srv)
{
    if (!srv)
        return;
    if (srv->loop_started) {
        atomic_store(&srv->stop, 1);
        wake(srv);
        pthread_join(srv->loop, NULL);
    }
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    if (srv->epfd >= 0)
        close(srv->epfd);
    if (srv->wakefd >= 0)
        close(srv->wakefd);
    free(srv);
}
