/*
 * server.h: what the benchmark's HTTP servers (bench-bare202, bench-sink)
 * share: the command line (PORT [ADDRESS]), signals, and libmicrohttpd at
 * its fastest for small requests (internal polling threads, epoll, a pool
 * of one thread per CPU up to 8, the Events API's connection limit and
 * timeout).
 */
#ifndef BENCH_SERVER_H
#define BENCH_SERVER_H

#include <microhttpd.h>

/* Reads the body of every request and drops it: returns 1 when the request
 * is complete (the handler answers it now), else 0 with *ret set. */
int bench_body_done(void **con_cls, size_t *upload_size, enum MHD_Result *ret);

/* Parses PORT [ADDRESS], blocks SIGTERM/SIGINT (taken by bench_server_wait)
 * and ignores SIGPIPE, starts the server with handler and MHD's flags
 * extra_flags added to the shared ones (bench-sink: MHD_ALLOW_SUSPEND_RESUME);
 * prints where it listens. NULL (after a message on stderr) on error. */
struct MHD_Daemon *bench_server_start(const char *name, int argc, char **argv,
                                      MHD_AccessHandlerCallback handler, unsigned extra_flags);

/* Waits for SIGTERM or SIGINT, calls before_stop (unless NULL), then stops
 * the server. */
void bench_server_wait(struct MHD_Daemon *d, void (*before_stop)(void));

#endif
