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
 * Any other request gets 404. On SIGTERM or SIGINT it prints the count and
 * the rate between the first and the latest POST to stdout and exits.
 *
 * Usage: bench-sink PORT [ADDRESS]   (address default 127.0.0.1)
 */
#include <inttypes.h>
#include <microhttpd.h>
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
    struct MHD_Daemon *d = bench_server_start("sink", argc, argv, on_request);
    if (!d)
        return 2;
    bench_server_wait(d);

    uint64_t c = atomic_load(&count);
    int64_t span = atomic_load(&last_ms) - atomic_load(&first_ms);
    printf("sink: %" PRIu64 " requests, %.0f requests/s between the first and the last\n", c,
           span > 0 ? (double)c * 1000.0 / (double)span : 0.0);
    fflush(stdout);
    MHD_destroy_response(ok);
    MHD_destroy_response(not_found);
    MHD_destroy_response(sync_ok);
    return 0;
}
