/*
 * eg_http: libmicrohttpd plumbing for every HTTP server of the gateway.
 *
 * Threads of ours run MHD in its external epoll mode, one daemon per thread
 * (an "event loop"), all accepting on one listening socket (each daemon has
 * a dup of it, so no SO_REUSEPORT: another process cannot bind the port
 * beside us). A connection costs a loop nothing while it waits, so a crowd
 * of slow clients holds no thread: every request's head and body must have
 * come whole within the deadline (deadline_ms, counted from the connection's
 * start or its previous request's end), or the connection is shut down (the
 * loop looks at most once a second); MHD's own time-out, which restarts
 * with every byte, stays for idle connections. Two ways to run handlers
 * (eg_http_mode_t):
 *  - EG_HTTP_WORKERS (Config API, the roles' status): a complete request is
 *    handed to a pool of worker threads, its connection suspended; the
 *    handler may block (a write waits for its record to come back from
 *    Kafka), and its answer, taken in eg_http_queue, is sent by the loop once
 *    the worker resumes the connection. Requests the owner calls quick
 *    (/v1/status, /metrics) run on the loop, so they are answered while every
 *    worker is busy. Reads (GET, HEAD) and writes have queues and workers of
 *    their own: a few read workers, since building and printing a large
 *    list is CPU and memory that the rest of the process (the configuration
 *    log a write waits on) needs too, and more write workers, since a write
 *    mostly waits for Kafka and must not wait behind lists. Past EG_HTTP_QUEUE_MAX waiting requests
 * (of a queue): 503 at once.
 *  - EG_HTTP_EVENT_LOOP (the Events API): handlers run on the loops and never
 *    block. The first loop also runs the owner's hook (a descriptor to watch
 *    and a function to run each turn). The Events API answers a request from
 *    its Kafka delivery report: with the producers' report queues waking the
 *    first loop, a report resumes its request and, on that loop, the answer
 *    goes out in the same turn, with no hand-off between threads (a thread
 *    per hand-off costs CPU and context switches on every event). A resume
 *    from any other thread (a report for another loop's connection, a sync
 *    reply, a worker, a shutdown) wakes the connection's loop through its
 *    wakefd (eg_http_resume): MHD itself does not wake an external loop.
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
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "eg_alloc.h"
#include "eg_log.h"
#include "eg_time.h"

/* A connection of a loop, for the deadline of its requests. The loop's own
 * (MHD calls every callback of a connection on its loop's thread). */
typedef struct tracker {
    struct MHD_Connection *conn;
    int64_t since; /* the connection's start, or its previous request's end */
    int busy;      /* its request is whole: the handler has it */
    int shut;      /* shut down past the deadline */
    struct tracker *prev, *next;
} tracker_t;

/* One event loop of an EG_HTTP_EVENT_LOOP server: an MHD daemon of its own
 * (all of them accept on one listening socket) and the thread that runs it. */
typedef struct loop {
    eg_http_server_t *srv;
    struct MHD_Daemon *daemon;
    int epfd;   /* MHD's epoll descriptor, wakefd, and on the first loop hook.fd */
    int wakefd; /* eventfd: a resume from another thread, or the stop */
    pthread_t thread;
    int started;
    int quiesced;        /* its listening socket closed (eg_http_server_quiesce) */
    tracker_t *trackers; /* its connections */
    int64_t next_scan;   /* when the deadline is looked at next */
} loop_t;

typedef struct conn_state conn_state_t;

/* Requests waiting for a worker, oldest first. */
typedef struct ring {
    conn_state_t *q[EG_HTTP_QUEUE_MAX];
    size_t head, len;
} ring_t;

struct eg_http_server {
    eg_http_handler_t handler;
    void *ctx;
    long max_body;
    char name[32];
    int port;
    eg_http_mode_t mode;
    loop_t loops[EG_HTTP_MAX_LOOPS];
    int nloops;
    eg_http_loop_t opts; /* the hook runs on loops[0] */
    atomic_int stop;
    atomic_int quiesce;  /* eg_http_server_quiesce asked for */
    atomic_int quiesced; /* loops that have closed their listening socket */
    /* EG_HTTP_WORKERS: the workers and the requests waiting for them */
    pthread_t workers[2 * EG_HTTP_MAX_WORKERS];
    struct worker_arg {
        eg_http_server_t *srv;
        int ring;
    } wargs[2 * EG_HTTP_MAX_WORKERS];
    int nworkers;
    pthread_mutex_t mu;
    pthread_cond_t cv[2]; /* a request in rings[i] */
    ring_t rings[2];      /* [0]: reads (GET, HEAD), [1]: writes; each has workers of its own */
    int workers_stop;     /* under mu */
    int64_t busy_warned;  /* the loop's: when the last 503 "busy" was logged */
};

struct conn_state {
    eg_http_req_t req;
    size_t cap;
    int started;     /* on_request has seen the request's head */
    int many_params; /* the query had more than EG_HTTP_MAX_PARAMS parameters */
    tracker_t *tr;   /* its connection's */
    /* EG_HTTP_WORKERS: handed to a worker; what it answered (NULL: nothing,
     * the connection is closed) */
    int dispatched;
    struct MHD_Response *answer;
    unsigned answer_status;
};

/* The request a worker thread's handler runs for: its answer is taken, not
 * queued (eg_http_queue). */
static _Thread_local conn_state_t *capture;

enum MHD_Result eg_http_queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r)
{
    if (capture && capture->req.conn == conn) {
        if (capture->answer) { /* MHD takes one answer per request */
            MHD_destroy_response(r);
            return MHD_NO;
        }
        capture->answer = r;
        capture->answer_status = status;
        return MHD_YES;
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

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
    return eg_http_queue(conn, status, r);
}

/* Frees a large answer once sent and gives the heap's free memory back to
 * the system: a burst of large answers (lists of thousands of resources,
 * each built by a connection thread of its own arena) otherwise leaves a
 * hundred MB and more in the process for good. */
#define EG_HTTP_TRIM_BYTES (1024 * 1024)

static void free_and_trim(void *p)
{
    free(p);
    malloc_trim(0);
}

enum MHD_Result eg_http_json(struct MHD_Connection *conn, unsigned status, cJSON *doc)
{
    if (!doc) /* the handler built no answer: its fault, not the client's */
        return eg_http_error(conn, 500, "internal error");
    char *s = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    size_t n = strlen(s);
    struct MHD_Response *r =
        n >= EG_HTTP_TRIM_BYTES
            ? MHD_create_response_from_buffer_with_free_callback(n, s, free_and_trim)
            : MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    return eg_http_queue(conn, status, r);
}

enum MHD_Result eg_http_error(struct MHD_Connection *conn, unsigned status, const char *message)
{
    cJSON *doc = cJSON_CreateObject(), *errs = cJSON_AddArrayToObject(doc, "errors"),
          *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddItemToArray(errs, e);
    return eg_http_json(conn, status, doc);
}

/* libmicrohttpd's own messages (a failed accept, a request it refused
 * itself) go through the gateway's logger, in its format (--log-format),
 * instead of straight to stderr. MHD ends its messages with a newline. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* A client gone mid-request (or one cut off at the deadline, already
     * counted in a line of ours) is no fault of the gateway's: a crowd of
     * them must not flood the log. */
    if (strstr(msg, "connection closure"))
        EG_LOG_DEBUG("http", "%s: %s", ((eg_http_server_t *)cls)->name, msg);
    else
        EG_LOG_WARN("http", "%s: %s", ((eg_http_server_t *)cls)->name, msg);
}

/* The first sight of a request, before libmicrohttpd parses its query
 * (MHD_OPTION_URI_LOG_CALLBACK): the state starts here. libmicrohttpd 0.9.75
 * stores each query parameter in the connection's 32 KiB memory pool, about
 * 56 bytes a parameter however short it is; a query of some 460 parameters
 * fills the pool, and the connection is then closed without an answer (the
 * error page needs memory of the same pool). A query of more than
 * EG_HTTP_MAX_PARAMS parameters is cut off here, in libmicrohttpd's own
 * buffer, before it is parsed (the query begins at its '?', which MHD found
 * before this call and parses from the next byte), and the request is
 * answered 431. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    conn_state_t *st = eg_xcalloc(1, sizeof *st);
    const char *q = uri ? strchr(uri, '?') : NULL;
    if (!q)
        return st;
    size_t params = 1;
    for (const char *p = q + 1; *p; p++)
        params += (*p == '&' || *p == ';');
    if (params > EG_HTTP_MAX_PARAMS) {
        st->many_params = 1;
        ((char *)q)[1] = '\0';
    }
    return st;
}

/* Counts a request's Content-Length headers (MHD_get_connection_values). */
static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    (void)value;
    if (!strcasecmp(key, "Content-Length"))
        ++*(int *)cls;
    return MHD_YES;
}

/* 400 for a request whose body length is ambiguous, with the connection
 * closed after it: what follows the body MHD took (it reads the first
 * Content-Length) must not be read as a request of its own (smuggling
 * behind a proxy that took another length). */
static enum MHD_Result refuse_framing(struct MHD_Connection *conn)
{
    static const char body[] =
        "{\"errors\":[{\"message\":\"The request has more than one Content-Length header.\"}]}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Connection", "close");
    return eg_http_queue(conn, 400, r);
}

/* Set while a handler runs: a resume from inside it (an answer known at
 * once, after the connection was suspended) is served by MHD only on its
 * loop's next turn, which must then be made to come. */
static _Thread_local int in_handler;

/* Hands a complete request to the workers, its connection suspended until
 * one has answered it. -1 when EG_HTTP_QUEUE_MAX requests wait already. */
static int dispatch(eg_http_server_t *srv, conn_state_t *st)
{
    /* A write waits for Kafka, not for the reads before it (a crowd of
     * large lists would otherwise hold every write for their time). */
    ring_t *g = &srv->rings[strcmp(st->req.method, "GET") && strcmp(st->req.method, "HEAD")];
    pthread_mutex_lock(&srv->mu);
    if (g->len == EG_HTTP_QUEUE_MAX || srv->workers_stop) {
        pthread_mutex_unlock(&srv->mu);
        return -1;
    }
    /* suspended before a worker can see it: its resume must come after */
    st->dispatched = 1;
    MHD_suspend_connection(st->req.conn);
    g->q[(g->head + g->len++) % EG_HTTP_QUEUE_MAX] = st;
    pthread_cond_signal(&srv->cv[g - srv->rings]);
    pthread_mutex_unlock(&srv->mu);
    return 0;
}

/* A request of an EG_HTTP_WORKERS server, whole: handed to a worker, or
 * (called again once the worker resumed it) its answer sent. */
static enum MHD_Result by_worker(eg_http_server_t *srv, conn_state_t *st)
{
    if (!st->dispatched) {
        if (dispatch(srv, st) == 0)
            return MHD_YES;
        struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, "Retry-After", "1");
        int64_t now = eg_time_mono_ms();
        if (now >= srv->busy_warned + 10000) { /* a flood must not flood the log too */
            srv->busy_warned = now;
            EG_LOG_WARN("http", "%s: %d requests wait for a worker: 503 (Retry-After: 1)",
                        srv->name, EG_HTTP_QUEUE_MAX);
        }
        return eg_http_queue(st->req.conn, 503, r);
    }
    if (!st->answer)
        return MHD_NO; /* the handler gave none (or failed): the connection closes */
    struct MHD_Response *r = st->answer;
    st->answer = NULL;
    return eg_http_queue(st->req.conn, st->answer_status, r);
}

static void *worker_main(void *arg)
{
    const struct worker_arg *wa = arg;
    eg_http_server_t *srv = wa->srv;
    ring_t *g = &srv->rings[wa->ring];
    for (;;) {
        pthread_mutex_lock(&srv->mu);
        while (!g->len && !srv->workers_stop)
            pthread_cond_wait(&srv->cv[wa->ring], &srv->mu);
        if (!g->len) {
            pthread_mutex_unlock(&srv->mu);
            return NULL;
        }
        conn_state_t *st = g->q[g->head];
        g->head = (g->head + 1) % EG_HTTP_QUEUE_MAX;
        g->len--;
        pthread_mutex_unlock(&srv->mu);
        capture = st;
        enum MHD_Result ret = srv->handler(srv->ctx, &st->req);
        capture = NULL;
        if (ret != MHD_YES && st->answer) {
            MHD_destroy_response(st->answer);
            st->answer = NULL;
        }
        eg_http_resume(srv, st->req.conn);
    }
}

/* MHD_OPTION_NOTIFY_CONNECTION (cls: the loop): a connection's tracker. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    loop_t *l = cls;
    tracker_t *t = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        t = eg_xcalloc(1, sizeof *t);
        t->conn = conn;
        t->since = eg_time_mono_ms();
        if ((t->next = l->trackers))
            t->next->prev = t;
        l->trackers = t;
        *socket_context = t;
    } else if (t) {
        if (t->prev)
            t->prev->next = t->next;
        else
            l->trackers = t->next;
        if (t->next)
            t->next->prev = t->prev;
        free(t);
        *socket_context = NULL;
    }
}

/* Shuts down the connections of loop l whose request is not whole within the
 * deadline: MHD sees the end of the stream and closes them. */
static void enforce_deadline(loop_t *l, int64_t now)
{
    int deadline = l->srv->opts.deadline_ms;
    int shut = 0;
    for (tracker_t *t = l->trackers; t; t = t->next) {
        if (t->busy || t->shut || now - t->since < deadline)
            continue;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(t->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci && ci->connect_fd >= 0 && shutdown(ci->connect_fd, SHUT_RDWR) == 0) {
            t->shut = 1;
            shut++;
        }
    }
    if (shut)
        EG_LOG_INFO("http", "%s: %d connection(s) closed: no whole request within %d ms",
                    l->srv->name, shut, deadline);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    eg_http_server_t *srv = cls;
    conn_state_t *st = *con_cls;
    if (!st || !st->started) {
        if (!st)
            st = eg_xcalloc(1, sizeof *st);
        st->started = 1;
        st->req.conn = conn;
        st->req.method = method;
        st->req.url = url;
        *con_cls = st;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        st->tr = ci ? ci->socket_context : NULL;
        int lengths = 0;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, count_length, &lengths);
        if (lengths > 1)
            return refuse_framing(conn);
        if (st->many_params) {
            char msg[128];
            snprintf(msg, sizeof msg, "The query has more than %d parameters.", EG_HTTP_MAX_PARAMS);
            return eg_http_error(conn, 431, msg);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoll(cl, NULL, 10) > srv->max_body)
            st->req.too_large = 1;
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
            /* from 256: a typical event's buffer stays below glibc's large
             * requests (1 KiB), whose malloc consolidates the fast bins */
            size_t cap = st->cap ? st->cap : 256;
            while (cap < st->req.body_len + n + 1)
                cap *= 2;
            st->req.body = eg_xrealloc(st->req.body, cap);
            st->cap = cap;
        }
        memcpy(st->req.body + st->req.body_len, upload, n);
        st->req.body_len += n;
        st->req.body[st->req.body_len] = '\0';
        return MHD_YES;
    }
    if (st->tr)
        st->tr->busy = 1; /* whole: the deadline no longer counts */
    if (st->req.too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "Request body is larger than the limit of %ld bytes.",
                 srv->max_body);
        return eg_http_error(conn, 413, msg);
    }
    if (srv->mode == EG_HTTP_WORKERS && !(srv->opts.quick && srv->opts.quick(&st->req)))
        return by_worker(srv, st);
    in_handler = 1;
    enum MHD_Result ret = srv->handler(srv->ctx, &st->req);
    in_handler = 0;
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    conn_state_t *st = *con_cls;
    if (st) {
        if (st->tr) { /* the next request's deadline counts from here */
            st->tr->busy = 0;
            st->tr->since = eg_time_mono_ms();
        }
        if (st->answer)
            MHD_destroy_response(st->answer);
        if (st->req.user_free && st->req.user)
            st->req.user_free(st->req.user);
        free(st->req.body);
        free(st);
        *con_cls = NULL;
    }
}

static void wake(loop_t *l)
{
    uint64_t one = 1;
    if (write(l->wakefd, &one, sizeof one) != sizeof one && errno != EAGAIN)
        EG_LOG_ERROR("http", "%s: cannot wake its event loop: %s", l->srv->name, strerror(errno));
}

void eg_http_resume(eg_http_server_t *srv, struct MHD_Connection *conn)
{
    MHD_resume_connection(conn);
    /* MHD does not wake an external loop: the connection's loop runs MHD
     * next turn, and when the resume comes from another thread, or from a
     * handler of its own (MHD serves resumes at the start of a turn), that
     * turn must come now: nothing else may wake the loop for a while. */
    if (srv->nloops == 0)
        return;
    loop_t *l = &srv->loops[0];
    if (srv->nloops > 1) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
        for (int i = 0; ci && i < srv->nloops; i++)
            if (srv->loops[i].daemon == ci->daemon)
                l = &srv->loops[i];
    }
    if (l->started && (in_handler || !pthread_equal(pthread_self(), l->thread)))
        wake(l);
}

static void drain(int fd)
{
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0)
        ;
}

/* An event loop: waits on MHD's epoll descriptor, wakefd and (first loop)
 * the hook's descriptor, no longer than MHD's next connection time-out and
 * the hook's wish; each turn drains what woke it, runs the hook (whose
 * resumes MHD then serves), then MHD. */
static void *loop_main(void *arg)
{
    loop_t *l = arg;
    eg_http_server_t *srv = l->srv;
    const eg_http_loop_t *o = l == &srv->loops[0] ? &srv->opts : NULL;
    int wait_ms = 0;
    for (;;) {
        MHD_UNSIGNED_LONG_LONG mto;
        int ms = wait_ms;
        if (MHD_get_timeout(l->daemon, &mto) == MHD_YES &&
            (ms < 0 || mto < (MHD_UNSIGNED_LONG_LONG)ms))
            ms = mto > 60000 ? 60000 : (int)mto;
        int64_t now = eg_time_mono_ms();
        if (l->trackers) {
            if (now >= l->next_scan) {
                enforce_deadline(l, now);
                l->next_scan = now + 1000;
            }
            if (ms < 0 || ms > l->next_scan - now)
                ms = (int)(l->next_scan - now);
        }
        struct epoll_event evs[4];
        int n = epoll_wait(l->epfd, evs, 4, ms);
        if (n < 0 && errno != EINTR) {
            EG_LOG_ERROR("http", "%s: epoll_wait: %s", srv->name, strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++)
            if (evs[i].data.fd == l->wakefd || (o && evs[i].data.fd == o->fd))
                drain(evs[i].data.fd);
        if (atomic_load(&srv->stop))
            return NULL;
        if (atomic_load(&srv->quiesce) && !l->quiesced) {
            /* MHD wants this on the thread that runs it, in external mode */
            MHD_socket fd = MHD_quiesce_daemon(l->daemon);
            if (fd != MHD_INVALID_SOCKET)
                close(fd);
            l->quiesced = 1;
            atomic_fetch_add(&srv->quiesced, 1);
        }
        wait_ms = o && o->run ? o->run(o->ctx) : -1;
        MHD_run(l->daemon);
    }
    return NULL;
}

static int epoll_add(int epfd, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Starts loop l's thread (its daemon runs); -1 on error. */
static int loop_start(eg_http_server_t *srv, loop_t *l, char *err, size_t errlen)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    int hook_fd = l == &srv->loops[0] ? srv->opts.fd : -1;
    if (!di || (l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
        epoll_add(l->epfd, di->epoll_fd) || epoll_add(l->epfd, l->wakefd) ||
        (hook_fd >= 0 && epoll_add(l->epfd, hook_fd))) {
        snprintf(err, errlen, "%s: cannot set up its event loop: %s", srv->name, strerror(errno));
        return -1;
    }
    if (pthread_create(&l->thread, NULL, loop_main, l)) {
        snprintf(err, errlen, "%s: cannot start its event loop thread", srv->name);
        return -1;
    }
    l->started = 1;
    pthread_setname_np(l->thread, "eg-http-loop");
    return 0;
}

/* The listening socket the loops share (each daemon gets a dup of it, and
 * closes that): non-blocking, as MHD's epoll mode wants. -1 on error. */
static int listen_socket(const struct sockaddr *sa, socklen_t salen, int *port, char *err,
                         size_t errlen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (bind(fd, sa, salen) || listen(fd, SOMAXCONN) ||
        getsockname(fd, (struct sockaddr *)&bound, &blen)) {
        snprintf(err, errlen, "%s%s", strerror(errno),
                 errno == EADDRINUSE ? " (port in use?)" : "");
        close(fd);
        return -1;
    }
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

eg_http_server_t *eg_http_server_new(const char *name, const char *listen, int port, long max_body,
                                     eg_http_mode_t mode, eg_http_handler_t handler, void *ctx,
                                     const eg_http_loop_t *loop, char *err, size_t errlen)
{
    eg_http_server_t *srv = eg_xcalloc(1, sizeof *srv);
    srv->opts.fd = -1;
    if (loop)
        srv->opts = *loop;
    for (int i = 0; i < EG_HTTP_MAX_LOOPS; i++) {
        srv->loops[i].srv = srv;
        srv->loops[i].epfd = srv->loops[i].wakefd = -1;
    }
    if (srv->opts.deadline_ms <= 0)
        srv->opts.deadline_ms = EG_HTTP_DEADLINE_MS;
    srv->mode = mode;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv[0], NULL);
    pthread_cond_init(&srv->cv[1], NULL);
    srv->handler = handler;
    srv->ctx = ctx;
    srv->max_body = max_body;
    snprintf(srv->name, sizeof srv->name, "%s", name);

    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct sockaddr *sa = NULL;
    socklen_t salen = 0;
    unsigned flags = MHD_USE_ERROR_LOG;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (listen && inet_pton(AF_INET, listen, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a4;
        salen = sizeof a4;
    } else if (listen && inet_pton(AF_INET6, listen, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a6;
        salen = sizeof a6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "--listen %s: not an IPv4 or IPv6 address", listen ? listen : "");
        eg_http_server_free(srv);
        return NULL;
    }
    char why[256];
    int n = mode == EG_HTTP_WORKERS || srv->opts.threads < 1 ? 1 : srv->opts.threads;
    if (n > EG_HTTP_MAX_LOOPS)
        n = EG_HTTP_MAX_LOOPS;
    int nread = 0;
    if (mode == EG_HTTP_WORKERS) {
        int r = srv->opts.workers > 0 ? srv->opts.workers : EG_HTTP_WORKERS_DEFAULT;
        int w =
            srv->opts.write_workers > 0 ? srv->opts.write_workers : EG_HTTP_WRITE_WORKERS_DEFAULT;
        nread = r > EG_HTTP_MAX_WORKERS ? EG_HTTP_MAX_WORKERS : r;
        srv->nworkers = nread + (w > EG_HTTP_MAX_WORKERS ? EG_HTTP_MAX_WORKERS : w);
    }
    int lfd = listen_socket(sa, salen, &srv->port, why, sizeof why);
    if (lfd < 0) {
        snprintf(err, errlen, "%s: cannot listen on %s:%d: %s", name, listen, port, why);
        eg_http_server_free(srv);
        return NULL;
    }
    /* EG_HTTP_WORKERS: a connection may wait for a worker, and a crowd of
     * them costs file descriptors only */
    unsigned limit = mode == EG_HTTP_WORKERS ? 4096 : (unsigned)(8192 / n);
    flags |= MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    for (int i = 0; i < n; i++) {
        loop_t *l = &srv->loops[i];
        int fd = dup(lfd);
        if (fd >= 0)
            l->daemon = MHD_start_daemon(
                flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
                MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_LISTEN_SOCKET, fd,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
                on_connection, l, MHD_OPTION_UNESCAPE_CALLBACK, keep_raw, NULL,
                MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                MHD_OPTION_END);
        if (!l->daemon) {
            if (fd >= 0)
                close(fd);
            snprintf(err, errlen, "%s: cannot start its HTTP server", name);
            break;
        }
        srv->nloops++;
        if (loop_start(srv, l, err, errlen))
            break;
    }
    close(lfd);
    for (int i = 0; srv->nloops == n && srv->loops[n - 1].started && i < srv->nworkers; i++) {
        srv->wargs[i] = (struct worker_arg){srv, i >= nread}; /* the reads' first */
        if (pthread_create(&srv->workers[i], NULL, worker_main, &srv->wargs[i])) {
            srv->nworkers = i;
            snprintf(err, errlen, "%s: cannot start its worker threads", name);
            break;
        }
        pthread_setname_np(srv->workers[i], "eg-http-worker");
    }
    if (srv->nloops < n || !srv->loops[n - 1].started ||
        (mode == EG_HTTP_WORKERS && srv->nworkers < nread + 1)) {
        eg_http_server_free(srv);
        return NULL;
    }
    if (srv->nloops > 1)
        EG_LOG_INFO("http", "%s listening on http://%s:%d (%d event loops)", name, listen,
                    srv->port, srv->nloops);
    else
        EG_LOG_INFO("http", "%s listening on http://%s:%d", name, listen, srv->port);
    return srv;
}

int eg_http_server_port(const eg_http_server_t *srv)
{
    return srv->port;
}

void eg_http_server_quiesce(eg_http_server_t *srv)
{
    if (!srv || atomic_exchange(&srv->quiesce, 1))
        return;
    int n = 0;
    for (int i = 0; i < EG_HTTP_MAX_LOOPS; i++)
        if (srv->loops[i].started) {
            wake(&srv->loops[i]);
            n++;
        }
    for (int64_t end = eg_time_mono_ms() + 200;
         atomic_load(&srv->quiesced) < n && eg_time_mono_ms() < end;)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
}

void eg_http_server_free(eg_http_server_t *srv)
{
    if (!srv)
        return;
    /* The workers first, while the loops still send what they answer; the
     * requests that still wait for one are closed unanswered. */
    pthread_mutex_lock(&srv->mu);
    srv->workers_stop = 1;
    pthread_cond_broadcast(&srv->cv[0]);
    pthread_cond_broadcast(&srv->cv[1]);
    pthread_mutex_unlock(&srv->mu);
    for (int i = 0; i < srv->nworkers; i++)
        pthread_join(srv->workers[i], NULL);
    for (int k = 0; k < 2; k++)
        for (ring_t *g = &srv->rings[k]; g->len;
             g->len--, g->head = (g->head + 1) % EG_HTTP_QUEUE_MAX)
            eg_http_resume(srv, g->q[g->head]->req.conn);
    atomic_store(&srv->stop, 1);
    for (int i = 0; i < EG_HTTP_MAX_LOOPS; i++)
        if (srv->loops[i].started)
            wake(&srv->loops[i]);
    for (int i = 0; i < EG_HTTP_MAX_LOOPS; i++) {
        loop_t *l = &srv->loops[i];
        if (l->started)
            pthread_join(l->thread, NULL);
        if (l->daemon)
            MHD_stop_daemon(l->daemon);
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->wakefd >= 0)
            close(l->wakefd);
    }
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv[0]);
    pthread_cond_destroy(&srv->cv[1]);
    free(srv);
}
