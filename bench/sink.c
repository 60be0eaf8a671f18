/*
 * sink.c: a fast local function for the end-to-end benchmark.
 *
 * A libmicrohttpd server (internal polling thread, epoll, one thread per
 * CPU) that answers 200 with an empty body to every POST, after reading the
 * body, and counts them. It also serves:
 *   GET /count  the number of POSTs answered so far (text, one number);
 *   GET /stats  "COUNT FIRST_MS LAST_MS NOW_MS": the count, the wall-clock
 *               times (ms since the epoch) of the first and of the latest
 *               POST (0 before the first) and the current time, so that a
 *               script can compute a delivery rate and a drain time without
 *               its own polling error.
 * A POST to /sync (or to any path under /sync/) is a sync function instead:
 * it answers 200 with the JSON {"statusCode":200,"body":"ok"} (what a
 * function gives the gateway for a sync subscription); it is counted too.
 * A POST to /slow/MS (or under /slow/MS/) is a slow function: it answers
 * 200, empty, MS milliseconds (at most 60000) after its body came, and is
 * counted then. The connection is suspended meanwhile (not a thread: any
 * number of slow calls wait at once) and one timer thread resumes each when
 * it is due (bench/scale.sh's invoker scaling: a function that takes 20 ms).
 * Any other request gets 404. On SIGTERM or SIGINT it prints the count and
 * the rate between the first and the latest POST to stdout and exits.
 *
 * Usage: bench-sink PORT [ADDRESS]   (address default 127.0.0.1)
 */
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

static atomic_uint_fast64_t count;
static atomic_int_fast64_t first_ms, last_ms;
static struct MHD_Response *ok, *sync_ok, *not_found;
#define SYNC_ANSWER "{\"statusCode\":200,\"body\":\"ok\"}"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- slow calls: suspended connections, resumed by one timer thread ---- */

struct slow {
    struct timespec due; /* CLOCK_MONOTONIC */
    struct MHD_Connection *conn;
};
static pthread_mutex_t slow_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slow_cv;
static struct slow *heap; /* a min-heap on due */
static size_t nheap, capheap;
static int slow_stopping; /* no more waits: answer at once */
static pthread_t slow_thread;
static int resumed; /* con_cls of a slow call whose time has come */

static int before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void heap_swap(size_t i, size_t j)
{
    struct slow t = heap[i];
    heap[i] = heap[j];
    heap[j] = t;
}

/* Suspends conn and schedules its resumption in ms. 0, or -1 (no memory:
 * the caller answers at once). Called in MHD's threads. */
static int slow_add(struct MHD_Connection *conn, long ms)
{
    struct slow e = {.conn = conn};
    clock_gettime(CLOCK_MONOTONIC, &e.due);
    e.due.tv_sec += ms / 1000;
    e.due.tv_nsec += (ms % 1000) * 1000000L;
    if (e.due.tv_nsec >= 1000000000L) {
        e.due.tv_sec++;
        e.due.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&slow_mu);
    if (!slow_stopping && nheap == capheap) {
        size_t cap = capheap ? 2 * capheap : 256;
        struct slow *h = realloc(heap, cap * sizeof *h);
        if (h) {
            heap = h;
            capheap = cap;
        }
    }
    if (slow_stopping || nheap == capheap) {
        pthread_mutex_unlock(&slow_mu);
        return -1;
    }
    MHD_suspend_connection(conn);
    size_t i = nheap++;
    heap[i] = e;
    for (; i > 0 && before(&heap[i].due, &heap[(i - 1) / 2].due); i = (i - 1) / 2)
        heap_swap(i, (i - 1) / 2);
    if (i == 0)
        pthread_cond_signal(&slow_cv);
    pthread_mutex_unlock(&slow_mu);
    return 0;
}

static struct MHD_Connection *heap_pop(void)
{
    struct MHD_Connection *c = heap[0].conn;
    heap[0] = heap[--nheap];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < nheap && before(&heap[l].due, &heap[m].due))
            m = l;
        if (l + 1 < nheap && before(&heap[l + 1].due, &heap[m].due))
            m = l + 1;
        if (m == i)
            break;
        heap_swap(i, m);
        i = m;
    }
    return c;
}

/* The timer thread: resumes each suspended call when it is due (all of them
 * once the sink stops). */
static void *slow_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&slow_mu);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (nheap && (slow_stopping || !before(&now, &heap[0].due))) {
            struct MHD_Connection *c = heap_pop();
            pthread_mutex_unlock(&slow_mu);
            MHD_resume_connection(c);
            pthread_mutex_lock(&slow_mu);
        } else if (slow_stopping) {
            break;
        } else if (nheap) {
            pthread_cond_timedwait(&slow_cv, &slow_mu, &heap[0].due);
        } else {
            pthread_cond_wait(&slow_cv, &slow_mu);
        }
    }
    pthread_mutex_unlock(&slow_mu);
    return NULL;
}

/* Before the server stops: every waiting call is resumed, none waits again. */
static void slow_stop(void)
{
    pthread_mutex_lock(&slow_mu);
    slow_stopping = 1;
    pthread_cond_signal(&slow_cv);
    pthread_mutex_unlock(&slow_mu);
    pthread_join(slow_thread, NULL);
}

/* The delay of a POST to /slow/MS[/...] in ms, else 0. */
static long slow_ms(const char *url)
{
    if (strncmp(url, "/slow/", 6))
        return 0;
    char *end;
    long ms = strtol(url + 6, &end, 10);
    if (end == url + 6 || (*end && *end != '/') || ms < 0)
        return 0;
    return ms > 60000 ? 60000 : ms;
}

static enum MHD_Result text(struct MHD_Connection *conn, const char *s)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(s), (void *)s, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain");
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    enum MHD_Result ret;
    if (!bench_body_done(con_cls, upload_size, &ret))
        return ret;
    if (!strcmp(method, "POST")) {
        long delay = *con_cls == &resumed ? 0 : slow_ms(url);
        if (delay > 0) {
            *con_cls = &resumed; /* called again once resumed */
            if (slow_add(conn, delay) == 0)
                return MHD_YES;
        }
        int64_t t = now_ms(), zero = 0;
        atomic_compare_exchange_strong(&first_ms, &zero, t);
        atomic_store(&last_ms, t);
        atomic_fetch_add(&count, 1);
        if (!strcmp(url, "/sync") || !strncmp(url, "/sync/", 6))
            return MHD_queue_response(conn, 200, sync_ok);
        return MHD_queue_response(conn, 200, ok);
    }
    char buf[128];
    if (!strcmp(method, "GET") && !strcmp(url, "/count")) {
        snprintf(buf, sizeof buf, "%" PRIuFAST64 "\n", (uint_fast64_t)atomic_load(&count));
        return text(conn, buf);
    }
    if (!strcmp(method, "GET") && !strcmp(url, "/stats")) {
        snprintf(buf, sizeof buf, "%" PRIuFAST64 " %" PRId64 " %" PRId64 " %" PRId64 "\n",
                 (uint_fast64_t)atomic_load(&count), (int64_t)atomic_load(&first_ms),
                 (int64_t)atomic_load(&last_ms), now_ms());
        return text(conn, buf);
    }
    return MHD_queue_response(conn, 404, not_found);
}

int main(int argc, char **argv)
{
    ok = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    not_found = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    sync_ok = MHD_create_response_from_buffer(sizeof SYNC_ANSWER - 1, (void *)SYNC_ANSWER,
                                              MHD_RESPMEM_PERSISTENT);
    if (!ok || !not_found || !sync_ok)
        return 1;
    MHD_add_response_header(sync_ok, "Content-Type", "application/json");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&slow_cv, &ca);
    struct MHD_Daemon *d =
        bench_server_start("sink", argc, argv, on_request, MHD_ALLOW_SUSPEND_RESUME);
    if (!d || pthread_create(&slow_thread, NULL, slow_main, NULL))
        return 2;
    bench_server_wait(d, slow_stop);

    uint64_t c = atomic_load(&count);
    int64_t span = atomic_load(&last_ms) - atomic_load(&first_ms);
    printf("sink: %" PRIu64 " requests, %.0f requests/s between the first and the last\n", c,
           span > 0 ? (double)c * 1000.0 / (double)span : 0.0);
    fflush(stdout);
    MHD_destroy_response(ok);
    MHD_destroy_response(not_found);
    MHD_destroy_response(sync_ok);
    free(heap);
    return 0;
}
