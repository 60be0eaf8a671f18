/*
 * Unit tests of core/eg_http's event loop (EG_HTTP_EVENT_LOOP), the way the
 * Events API uses it: a handler suspends its connection, and the answer
 * comes later, either from the loop's hook (a delivery report, woken through
 * the hook's descriptor) or from another thread (a sync reply), which must
 * wake the loop at once; the hook's wish for its next turn (a held event's
 * check) is kept without any descriptor; with several loops, the hook (on
 * the first) answers requests of the others. And EG_HTTP_WORKERS, the way
 * the Config API uses it: handlers that block run on workers while quick
 * requests are answered on the loop; a request that does not come whole
 * within the deadline has its connection closed. A real client talks to a
 * real server on 127.0.0.1; every wait is bounded (SO_RCVTIMEO, deadlines).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "eg_http.h"
#include "eg_time.h"
#include "ingress.h"

#define MAX_SUSPENDED 64

/* What the handler and the hook share with the test. */
typedef struct {
    pthread_mutex_t mu;
    struct MHD_Connection *conns[MAX_SUSPENDED]; /* the suspended requests */
    pthread_t threads[MAX_SUSPENDED];            /* the loop each was read on */
    int nconns;
    pthread_t hook_thread; /* the first loop's, once the hook has run */
    atomic_int hook_ran;
    int block_first_ms; /* the first request's handler holds its loop so long */
    atomic_int blocked;
    atomic_int resume_in_hook; /* the hook resumes them on its next turn */
    atomic_int turns;          /* hook turns so far */
    int hook_wait_ms;          /* what the hook answers */
    eg_http_server_t *srv;
} fixture_t;

static enum MHD_Result handler(void *ctx, eg_http_req_t *req)
{
    fixture_t *f = ctx;
    if (req->user) /* resumed: the answer */
        return eg_http_respond(req->conn, 202, "text/plain", "later", 5);
    req->user = f;
    MHD_suspend_connection(req->conn);
    pthread_mutex_lock(&f->mu);
    f->threads[f->nconns] = pthread_self();
    f->conns[f->nconns++] = req->conn;
    pthread_mutex_unlock(&f->mu);
    if (f->block_first_ms && !atomic_exchange(&f->blocked, 1))
        nanosleep(&(struct timespec){0, f->block_first_ms * 1000000L}, NULL);
    return MHD_YES;
}

/* Resumes every suspended request (any thread). */
static void resume_all(fixture_t *f)
{
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->nconns; i++)
        eg_http_resume(f->srv, f->conns[i]);
    f->nconns = 0;
    pthread_mutex_unlock(&f->mu);
}

static int hook_run(void *ctx)
{
    fixture_t *f = ctx;
    if (!atomic_load(&f->hook_ran)) {
        f->hook_thread = pthread_self();
        atomic_store(&f->hook_ran, 1);
    }
    atomic_fetch_add(&f->turns, 1);
    if (atomic_load(&f->resume_in_hook))
        resume_all(f);
    return f->hook_wait_ms;
}

static eg_http_server_t *start(fixture_t *f, int hook_fd, int threads)
{
    char err[256] = "";
    pthread_mutex_init(&f->mu, NULL);
    eg_http_loop_t loop = {.threads = threads, .fd = hook_fd, .run = hook_run, .ctx = f};
    f->srv = eg_http_server_new("test", "127.0.0.1", 0, 1024, EG_HTTP_EVENT_LOOP, handler, f, &loop,
                                err, sizeof err);
    assert_non_null(f->srv);
    assert_true(eg_http_server_port(f->srv) > 0);
    return f->srv;
}

/* Connects; the socket gives up reading after 5 s. */
static int connect_to(eg_http_server_t *srv)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)eg_http_server_port(srv))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Connects and sends one POST. */
static int post(eg_http_server_t *srv)
{
    int fd = connect_to(srv);
    const char *rq = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}";
    assert_int_equal(write(fd, rq, strlen(rq)), (ssize_t)strlen(rq));
    return fd;
}

/* Reads until the body "later" or the 5 s time-out; returns what came. */
static void read_answer(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap && !strstr(buf, "later")) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
    }
}

static int suspended(fixture_t *f)
{
    pthread_mutex_lock(&f->mu);
    int n = f->nconns;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* Waits (bounded) until n requests are suspended. */
static void wait_suspended(fixture_t *f, int n)
{
    int64_t end = eg_time_mono_ms() + 5000;
    while (suspended(f) < n && eg_time_mono_ms() < end)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    assert_int_equal(suspended(f), n);
}

static void stop(fixture_t *f)
{
    eg_http_server_free(f->srv);
    pthread_mutex_destroy(&f->mu);
}

/* Writes the hook's eventfd, as a producer's report queue does. */
static void kick(int efd)
{
    uint64_t one = 1;
    assert_int_equal(write(efd, &one, sizeof one), sizeof one);
}

/* A delivery report's way: the hook's descriptor wakes the loop, and the
 * hook resumes the request in the loop's own thread. */
static void test_hook_resumes(void **state)
{
    (void)state;
    static fixture_t f;
    f = (fixture_t){.hook_wait_ms = -1};
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    eg_http_server_t *srv = start(&f, efd, 1);
    int fd = post(srv);
    wait_suspended(&f, 1);
    atomic_store(&f.resume_in_hook, 1);
    int64_t t0 = eg_time_mono_ms();
    kick(efd);
    char buf[1024] = "";
    read_answer(fd, buf, sizeof buf);
    assert_non_null(strstr(buf, "HTTP/1.1 202"));
    assert_non_null(strstr(buf, "later"));
    assert_true(eg_time_mono_ms() - t0 < 1000);
    close(fd);
    stop(&f);
    close(efd);
}

/* A sync reply's way: another thread resumes the request; the loop, which
 * would otherwise sleep until a connection time-out (the hook asks for no
 * turn), must be woken and send the answer at once. */
static void test_resume_from_another_thread(void **state)
{
    (void)state;
    static fixture_t f;
    f = (fixture_t){.hook_wait_ms = -1};
    eg_http_server_t *srv = start(&f, -1, 1);
    int fd = post(srv);
    wait_suspended(&f, 1);
    int64_t t0 = eg_time_mono_ms();
    resume_all(&f);
    char buf[1024] = "";
    read_answer(fd, buf, sizeof buf);
    assert_non_null(strstr(buf, "HTTP/1.1 202"));
    assert_true(eg_time_mono_ms() - t0 < 1000);
    close(fd);
    stop(&f);
}

/* The hook's next turn comes when it asked, with nothing to wake the loop. */
static void test_hook_timer(void **state)
{
    (void)state;
    static fixture_t f;
    f = (fixture_t){.hook_wait_ms = 10};
    start(&f, -1, 1);
    int64_t end = eg_time_mono_ms() + 5000;
    while (atomic_load(&f.turns) < 10 && eg_time_mono_ms() < end)
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    assert_true(atomic_load(&f.turns) >= 10);
    stop(&f);
}

/* Many requests on one loop, each answered by the hook, none lost. */
static void test_many_requests(void **state)
{
    (void)state;
    static fixture_t f;
    f = (fixture_t){.hook_wait_ms = -1};
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    eg_http_server_t *srv = start(&f, efd, 1);
    atomic_store(&f.resume_in_hook, 1);
    for (int i = 0; i < 50; i++) {
        int fd = post(srv);
        wait_suspended(&f, 1);
        kick(efd);
        char buf[1024] = "";
        read_answer(fd, buf, sizeof buf);
        assert_non_null(strstr(buf, "later"));
        close(fd);
    }
    stop(&f);
    close(efd);
}

/* How many suspended requests were read on another loop than the first
 * (the hook's). */
static int off_first_loop(fixture_t *f)
{
    int n = 0;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->nconns; i++)
        n += !pthread_equal(f->threads[i], f->hook_thread);
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* Several loops share the connections; requests held on every loop at once
 * are all answered, whether the hook (first loop's thread) or another
 * thread resumes them. The first request holds its loop for a moment, so
 * that the others are accepted by the other loops whatever the scheduling. */
static void test_several_loops(void **state)
{
    (void)state;
    enum { N = 32 };
    for (int by_hook = 0; by_hook < 2; by_hook++) {
        static fixture_t f;
        f = (fixture_t){.hook_wait_ms = -1, .block_first_ms = 300};
        int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        eg_http_server_t *srv = start(&f, efd, 4);
        int fds[N];
        for (int i = 0; i < N; i++)
            fds[i] = post(srv);
        wait_suspended(&f, N);
        int64_t t0 = eg_time_mono_ms();
        /* some requests wait on another loop than the hook's */
        assert_true(atomic_load(&f.hook_ran));
        assert_true(off_first_loop(&f) >= 1);
        if (by_hook) {
            atomic_store(&f.resume_in_hook, 1);
            kick(efd);
        } else {
            resume_all(&f);
        }
        for (int i = 0; i < N; i++) {
            char buf[1024] = "";
            read_answer(fds[i], buf, sizeof buf);
            assert_non_null(strstr(buf, "HTTP/1.1 202"));
            close(fds[i]);
        }
        assert_true(eg_time_mono_ms() - t0 < 2000);
        stop(&f);
        close(efd);
    }
}

/* Resumes the suspended requests one by one, a few microseconds apart. */
static void *resume_spread(void *arg)
{
    fixture_t *f = arg;
    pthread_mutex_lock(&f->mu);
    int n = f->nconns;
    struct MHD_Connection *cs[MAX_SUSPENDED];
    memcpy(cs, f->conns, sizeof cs[0] * (size_t)n);
    f->nconns = 0;
    pthread_mutex_unlock(&f->mu);
    for (int i = 0; i < n; i++) {
        eg_http_resume(f->srv, cs[i]);
        /* a few microseconds, busy: the loop runs its turns meanwhile */
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000000000L + t.tv_nsec - t0.tv_nsec < 3000);
    }
    return NULL;
}

/* Resumes from another thread in bursts, landing at every point of the
 * loops' turns: none is lost, every request is answered although nothing
 * else ever wakes a loop. */
static void test_resume_bursts(void **state)
{
    (void)state;
    enum { N = 32, ROUNDS = 50 };
    static fixture_t f;
    f = (fixture_t){.hook_wait_ms = -1};
    eg_http_server_t *srv = start(&f, -1, 2);
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = post(srv);
    for (int round = 0; round < ROUNDS; round++) {
        wait_suspended(&f, N);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, resume_spread, &f), 0);
        for (int i = 0; i < N; i++) {
            char buf[1024] = "";
            read_answer(fds[i], buf, sizeof buf);
            assert_non_null(strstr(buf, "later"));
            /* the next request on the same connection */
            const char *rq = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}";
            if (round + 1 < ROUNDS)
                assert_int_equal(write(fds[i], rq, strlen(rq)), (ssize_t)strlen(rq));
        }
        pthread_join(t, NULL);
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
    stop(&f);
}

/* A port another server holds is refused with a message. */
static void test_port_in_use(void **state)
{
    (void)state;
    static fixture_t f;
    f = (fixture_t){.hook_wait_ms = -1};
    eg_http_server_t *srv = start(&f, -1, 2);
    char err[256] = "";
    eg_http_loop_t loop = {.threads = 2, .fd = -1};
    assert_null(eg_http_server_new("second", "127.0.0.1", eg_http_server_port(srv), 1024,
                                   EG_HTTP_EVENT_LOOP, handler, &f, &loop, err, sizeof err));
    assert_non_null(strstr(err, "Address already in use (port in use?)"));
    stop(&f);
}

/* Once quiesced, a server holds its port no more: another can bind it at
 * once (a gateway started while the last one drains, on SIGTERM). */
static void test_quiesce_frees_the_port(void **state)
{
    (void)state;
    static fixture_t f;
    f = (fixture_t){.hook_wait_ms = -1};
    eg_http_server_t *srv = start(&f, -1, 2);
    eg_http_server_quiesce(srv);
    eg_http_server_quiesce(srv); /* again: nothing more */
    char err[256] = "";
    eg_http_loop_t loop = {.threads = 2, .fd = -1};
    eg_http_server_t *next =
        eg_http_server_new("next", "127.0.0.1", eg_http_server_port(srv), 1024, EG_HTTP_EVENT_LOOP,
                           handler, &f, &loop, err, sizeof err);
    assert_non_null(next);
    eg_http_server_free(next);
    stop(&f);
}

/* EG_HTTP_WORKERS: slow answers a blocking handler on a worker ("/slow"
 * waits until released); "/quick" runs on the loop. */
static atomic_int slow_release, slow_running;

static enum MHD_Result worker_handler(void *ctx, eg_http_req_t *req)
{
    (void)ctx;
    if (!strcmp(req->url, "/slow")) {
        atomic_fetch_add(&slow_running, 1);
        int64_t until = eg_time_mono_ms() + 5000;
        while (!atomic_load(&slow_release) && eg_time_mono_ms() < until)
            nanosleep(&(struct timespec){0, 5000000L}, NULL);
        return eg_http_respond(req->conn, 200, "text/plain", "later", 5);
    }
    return eg_http_respond(req->conn, 200, "text/plain", "quick", 5);
}

static int quick(const eg_http_req_t *req)
{
    return !strcmp(req->url, "/quick");
}

static int get(eg_http_server_t *srv, const char *path)
{
    int fd = connect_to(srv);
    char rq[128];
    snprintf(rq, sizeof rq, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    assert_int_equal(write(fd, rq, strlen(rq)), (ssize_t)strlen(rq));
    return fd;
}

static void read_until(int fd, const char *want, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    while (n + 1 < cap && !strstr(buf, want)) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
    }
}

/* An EG_HTTP_WORKERS server of worker_handler, nothing released yet, and
 * `slow` GETs of /slow sent to it (their sockets into fds); returns once
 * `running` of them run on workers (bounded: 5 s). */
static eg_http_server_t *workers_busy(const eg_http_loop_t *how, int *fds, int slow, int running)
{
    char err[256] = "";
    atomic_store(&slow_release, 0);
    atomic_store(&slow_running, 0);
    eg_http_server_t *srv = eg_http_server_new("workers", "127.0.0.1", 0, 1024, EG_HTTP_WORKERS,
                                               worker_handler, NULL, how, err, sizeof err);
    assert_non_null(srv);
    for (int i = 0; i < slow; i++)
        fds[i] = get(srv, "/slow");
    int64_t until = eg_time_mono_ms() + 5000;
    while (atomic_load(&slow_running) < running && eg_time_mono_ms() < until)
        nanosleep(&(struct timespec){0, 2000000L}, NULL);
    assert_int_equal(atomic_load(&slow_running), running);
    return srv;
}

static void test_workers_block_quick_requests_do_not_wait(void **state)
{
    (void)state;
    /* both read workers busy, and a third slow request waits for one */
    eg_http_loop_t how = {.fd = -1, .workers = 2, .quick = quick, .deadline_ms = 400};
    int slow[3];
    eg_http_server_t *srv = workers_busy(&how, slow, 3, 2);
    /* a quick request is answered on the loop meanwhile */
    char buf[1024];
    int64_t t0 = eg_time_mono_ms();
    int q = get(srv, "/quick");
    read_until(q, "quick", buf, sizeof buf);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_true(eg_time_mono_ms() - t0 < 1000);
    close(q);
    /* a request that never comes whole is cut off at the deadline; the
     * workers' requests (whole) are not */
    int partial = connect_to(srv);
    assert_int_equal(write(partial, "GET /quick HTTP/1.1\r\nHo", 23), 23);
    t0 = eg_time_mono_ms();
    char c;
    assert_int_equal(read(partial, &c, 1), 0); /* closed (SO_RCVTIMEO 5 s) */
    int64_t took = eg_time_mono_ms() - t0;
    assert_true(took >= 300 && took < 3000);
    close(partial);
    atomic_store(&slow_release, 1);
    for (int i = 0; i < 3; i++) {
        read_until(slow[i], "later", buf, sizeof buf);
        assert_non_null(strstr(buf, "HTTP/1.1 200"));
        close(slow[i]);
    }
    eg_http_server_free(srv);
}

/* Stopping with requests still waiting for a worker: they are closed, the
 * running one is answered, nothing leaks. */
static void test_workers_stop_with_requests_waiting(void **state)
{
    (void)state;
    eg_http_loop_t how = {.fd = -1, .workers = 1};
    int fds[4];
    eg_http_server_t *srv = workers_busy(&how, fds, 4, 1);
    atomic_store(&slow_release, 1);
    eg_http_server_free(srv);
    for (int i = 0; i < 4; i++)
        close(fds[i]);
}

/* --events-threads: as given, or half the CPUs within 1..8. */
static void test_events_threads(void **state)
{
    (void)state;
    assert_int_equal(eg_events_api_threads(3), 3);
    long half = sysconf(_SC_NPROCESSORS_ONLN) / 2;
    int want = half < 1 ? 1 : half > 8 ? 8 : (int)half;
    assert_int_equal(eg_events_api_threads(0), want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_resumes),
        cmocka_unit_test(test_resume_from_another_thread),
        cmocka_unit_test(test_hook_timer),
        cmocka_unit_test(test_many_requests),
        cmocka_unit_test(test_several_loops),
        cmocka_unit_test(test_resume_bursts),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_events_threads),
        cmocka_unit_test(test_quiesce_frees_the_port),
        cmocka_unit_test(test_workers_block_quick_requests_do_not_wait),
        cmocka_unit_test(test_workers_stop_with_requests_waiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
