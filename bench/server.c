/*
 * server.c: the shared start-up of the benchmark's HTTP servers (server.h).
 */
#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sigset_t stop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
}

int bench_body_done(void **con_cls, size_t *upload_size, enum MHD_Result *ret)
{
    static int marker;
    *ret = MHD_YES;
    if (!*con_cls) { /* headers only: wait for the body */
        *con_cls = &marker;
        return 0;
    }
    if (*upload_size) { /* body chunk: read and drop */
        *upload_size = 0;
        return 0;
    }
    return 1;
}

struct MHD_Daemon *bench_server_start(const char *name, int argc, char **argv,
                                      MHD_AccessHandlerCallback handler, unsigned extra_flags)
{
    if (argc < 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
        fprintf(stderr, "usage: %s PORT [ADDRESS]\n", argv[0]);
        return NULL;
    }
    const char *addr = argc > 2 ? argv[2] : "127.0.0.1";
    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = htons((uint16_t)atoi(argv[1]));
    if (inet_pton(AF_INET, addr, &a4.sin_addr) != 1) {
        fprintf(stderr, "%s: %s: not an IPv4 address\n", name, addr);
        return NULL;
    }
    /* Signals are taken by sigwait (bench_server_wait); MHD's threads
     * inherit the mask. */
    sigset_t set = stop_signals();
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned pool = n > 1 ? (unsigned)(n > 8 ? 8 : n) : 1;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | extra_flags,
        (uint16_t)atoi(argv[1]), NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&a4, MHD_OPTION_CONNECTION_LIMIT, (unsigned)8192,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_THREAD_POOL_SIZE, pool,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "%s: cannot listen on %s:%s\n", name, addr, argv[1]);
        return NULL;
    }
    fprintf(stderr, "%s: listening on http://%s:%s (%u threads)\n", name, addr, argv[1], pool);
    return d;
}

void bench_server_wait(struct MHD_Daemon *d, void (*before_stop)(void))
{
    sigset_t set = stop_signals();
    int sig;
    sigwait(&set, &sig);
    if (before_stop)
        before_stop();
    MHD_stop_daemon(d);
}
