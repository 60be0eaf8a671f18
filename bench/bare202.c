/*
 * bare202.c: the baseline of the ingest benchmark.
 *
 * A libmicrohttpd server that reads every request body and answers 202 with
 * an empty body, nothing else: MHD's own threads, epoll, a thread pool of
 * one thread per CPU (at most 8), the Events API's connection limit and
 * timeout, so that the difference with the gateway's figures is the
 * gateway's own work (parsing, validation, Kafka round trip). The Events
 * API itself runs one event-loop thread (core/eg_http.c,
 * EG_HTTP_EVENT_LOOP), which also serves its Kafka delivery reports; the
 * baseline keeps MHD's pool, its fastest set-up for this load.
 *
 * Usage: bench-bare202 PORT [ADDRESS]   (address default 127.0.0.1)
 * Stops on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct MHD_Response *accepted;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    static int marker;
    if (!*con_cls) { /* headers only: wait for the body */
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_size) { /* body chunk: read and drop */
        *upload_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, 202, accepted);
}

int main(int argc, char **argv)
{
    if (argc < 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
        fprintf(stderr, "usage: %s PORT [ADDRESS]\n", argv[0]);
        return 2;
    }
    const char *addr = argc > 2 ? argv[2] : "127.0.0.1";
    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = htons((uint16_t)atoi(argv[1]));
    if (inet_pton(AF_INET, addr, &a4.sin_addr) != 1) {
        fprintf(stderr, "%s: not an IPv4 address\n", addr);
        return 2;
    }

    /* Signals are taken by sigwait below; MHD's threads inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    accepted = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned pool = n > 1 ? (unsigned)(n > 8 ? 8 : n) : 1;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
        (uint16_t)atoi(argv[1]), NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&a4, MHD_OPTION_CONNECTION_LIMIT, (unsigned)8192,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_THREAD_POOL_SIZE, pool,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare202: cannot listen on %s:%s\n", addr, argv[1]);
        return 1;
    }
    fprintf(stderr, "bare202: listening on http://%s:%s (%u threads)\n", addr, argv[1], pool);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(accepted);
    return 0;
}
