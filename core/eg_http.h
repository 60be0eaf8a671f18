/*
 * eg_http: the HTTP server plumbing (libmicrohttpd) shared by the Events
 * API, the Config API and the status endpoint of every role.
 */
#ifndef EG_HTTP_H
#define EG_HTTP_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>

/* A request as the handlers see it, once its body has been read whole. */
/* Query parameters a request may have; more are answered 431 (eg_http.c). */
#define EG_HTTP_MAX_PARAMS 256

typedef struct eg_http_req {
    struct MHD_Connection *conn;
    const char *method;
    const char *url; /* raw: not percent-decoded */
    char *body;      /* NUL-terminated, owned by the plumbing */
    size_t body_len;
    int too_large;                 /* the body passed max_body_bytes: answer 413 */
    void *user;                    /* the handler's state across a suspend/resume, or NULL */
    void (*user_free)(void *user); /* called when the request ends, if set */
} eg_http_req_t;

/* How a server runs its handlers. Either way event-loop threads (epoll) read
 * the connections, and a request's head and body must have come whole within
 * the deadline (eg_http_loop_t.deadline_ms), whatever trickles in: past it
 * the connection is closed. */
typedef enum eg_http_mode {
    /* complete requests are handed to worker threads (eg_http_loop_t.workers),
     * so a handler may block, as a Config API write does while it waits for
     * Kafka; requests the owner calls quick run on the loop (/v1/status) */
    EG_HTTP_WORKERS = 0,
    /* handlers run on the loops and never block; they suspend the connection
     * (MHD_suspend_connection), resume it with eg_http_resume from the loop's
     * hook or any thread, and are then called again with req->user still set
     * (Events API) */
    EG_HTTP_EVENT_LOOP = 1,
} eg_http_mode_t;

typedef enum MHD_Result (*eg_http_handler_t)(void *ctx, eg_http_req_t *req);

#define EG_HTTP_MAX_LOOPS 16

/* How a server runs (NULL: the defaults). EG_HTTP_EVENT_LOOP: `threads`
 * event loops (0: 1, at most EG_HTTP_MAX_LOOPS), each with its own MHD
 * daemon, all accepting on one listening socket. The first loop also runs
 * the owner's hook: run() is called on every turn of that loop, before MHD's
 * work, and returns the longest it may wait for the next turn (ms; -1: until
 * fd or a connection is ready); fd (or -1) is watched too: when readable, it
 * is read empty and a turn runs. EG_HTTP_WORKERS: one loop; `workers`
 * handler threads for GET and HEAD (0: EG_HTTP_WORKERS_DEFAULT) and
 * `write_workers` for the other methods (0: EG_HTTP_WRITE_WORKERS_DEFAULT);
 * quick (or NULL) says which requests run on the loop instead. */
typedef struct eg_http_loop {
    int threads;
    int fd;
    int (*run)(void *ctx);
    void *ctx;
    int workers;
    int write_workers;
    int (*quick)(const eg_http_req_t *req);
    int deadline_ms; /* a request's head and body, in all (0: EG_HTTP_DEADLINE_MS) */
} eg_http_loop_t;

#define EG_HTTP_WORKERS_DEFAULT 4
#define EG_HTTP_WRITE_WORKERS_DEFAULT 16
#define EG_HTTP_MAX_WORKERS 256
#define EG_HTTP_DEADLINE_MS 30000
/* Complete requests an EG_HTTP_WORKERS server holds for its workers at most;
 * past it a request is answered 503 at once. */
#define EG_HTTP_QUEUE_MAX 1024

typedef struct eg_http_server eg_http_server_t;

/* Starts a server on listen:port (0: any free port); every complete request
 * goes to handler. loop: how it runs, or NULL (one loop, no hook, the
 * defaults). NULL with message on error. */
eg_http_server_t *eg_http_server_new(const char *name, const char *listen, int port, long max_body,
                                     eg_http_mode_t mode, eg_http_handler_t handler, void *ctx,
                                     const eg_http_loop_t *loop, char *err, size_t errlen);
void eg_http_server_free(eg_http_server_t *srv);
/* Stops accepting connections: the listening socket is closed (another
 * process may bind the port at once) while the connections it has go on
 * until eg_http_server_free. Returns once every loop has closed it, or after
 * 200 ms. Any thread; NULL is ignored. */
void eg_http_server_quiesce(eg_http_server_t *srv);
/* The port it listens on (the one chosen when started with port 0). */
int eg_http_server_port(const eg_http_server_t *srv);

/* Resumes a suspended connection of srv, from any thread (an
 * EG_HTTP_EVENT_LOOP server's loop is woken when it is another). */
void eg_http_resume(eg_http_server_t *srv, struct MHD_Connection *conn);

/* Queues response r (consumed) as the answer to conn: every answer goes
 * out this way (the functions below too), so that one given on a worker
 * thread is sent by the connection's loop. */
enum MHD_Result eg_http_queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r);

/* Answers with a body (copied) and content type; 0 len allowed. */
enum MHD_Result eg_http_respond(struct MHD_Connection *conn, unsigned status,
                                const char *content_type, const char *body, size_t len);
/* Answers {"errors":[{"message":…}]} with that status. */
enum MHD_Result eg_http_error(struct MHD_Connection *conn, unsigned status, const char *message);
/* Answers a JSON document (consumed: the function frees it); NULL answers
 * 500. */
enum MHD_Result eg_http_json(struct MHD_Connection *conn, unsigned status, cJSON *doc);

/* Decodes %XX in place (and '+' to ' ' when plus); returns the new length,
 * or -1 on a malformed escape or an escaped NUL. */
long eg_http_unescape(char *s, int plus);

#endif
