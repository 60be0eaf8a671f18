/*
 * bare202.c: the baseline of the ingest benchmark.
 *
 * A libmicrohttpd server that reads every request body and answers 202 with
 * an empty body, nothing else: MHD's own threads, epoll, a thread pool of
 * one thread per CPU (at most 8), the Events API's connection limit and
 * timeout, so that the difference with the gateway's figures is the
 * gateway's own work (parsing, validation, Kafka round trip). The Events
 * API itself runs event-loop threads of its own (core/eg_http.c,
 * EG_HTTP_EVENT_LOOP; one on 2 CPUs), the first of which also serves its
 * Kafka delivery reports; the baseline keeps MHD's pool, its fastest set-up
 * for this load. The start-up is bench/server.c's, shared with bench-sink.
 *
 * Usage: bench-bare202 PORT [ADDRESS]   (address default 127.0.0.1)
 * Stops on SIGTERM or SIGINT.
 */
#include "server.h"

static struct MHD_Response *accepted;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    enum MHD_Result ret;
    if (!bench_body_done(con_cls, upload_size, &ret))
        return ret;
    return MHD_queue_response(conn, 202, accepted);
}

int main(int argc, char **argv)
{
    accepted = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    struct MHD_Daemon *d =
        accepted ? bench_server_start("bare202", argc, argv, on_request, 0) : NULL;
    if (!d)
        return 2;
    bench_server_wait(d, NULL);
    MHD_destroy_response(accepted);
    return 0;
}
