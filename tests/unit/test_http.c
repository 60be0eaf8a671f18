/*
 * Unit tests of core/eg_http's event loop (EG_HTTP_EVENT_LOOP), the way the
 * Events API uses it: a handler suspends its connection, and the answer
 * comes later, either from the loop's hook (a delivery report, woken through
 * the hook's descriptor) or from another thread (a sync reply), which must
 * wake the loop at once; the hook's wish for its next turn (a held event's
 * check) is kept without any descriptor. A real client talks to a real
 * server on 127.0.0.1; every wait is bounded (SO_RCVTIMEO, deadlines).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "eg_http.h"
#include "eg_time.h"

/* What the handler and the hook share with the test. */
typedef struct {
    _Atomic(struct MHD_Connection *) conn; /* the suspended request */
    atomic_int resume_in_hook;             /* the hook resumes it on its next turn */
    atomic_int turns;                      /* hook turns so far */
    int hook_wait_ms;                      /* what the hook answers */
    eg_http_server_t *srv;
} fixture_t;

static enum MHD_Result handler(void *ctx, eg_http_req_t *req)
{
    fixture_t *f = ctx;
    if (req->user) /* resumed: the answer */
        return eg_http_respond(req->conn, 202, "text/plain", "later", 5);
    req->user = f;
    MHD_suspend_connection(req->conn);
    atomic_store(&f->conn, req->conn);
    return MHD_YES;
}

static int hook_run(void *ctx)
{
    fixture_t *f = ctx;
    atomic_fetch_add(&f->turns, 1);
    struct MHD_Connection *c = atomic_load(&f->conn);
    if (c && atomic_load(&f->resume_in_hook)) {
        atomic_store(&f->conn, NULL);
        eg_http_resume(f->srv, c);
    }
    return f->hook_wait_ms;
}

static eg_http_server_t *start(fixture_t *f, int hook_fd)
{
    char err[256] = "";
    eg_http_hook_t hook = {.fd = hook_fd, .run = hook_run, .ctx = f};
    f->srv = eg_http_server_new("test", "127.0.0.1", 0, 1024, EG_HTTP_EVENT_LOOP, handler, f, &hook,
                                err, sizeof err);
    assert_non_null(f->srv);
    assert_true(eg_http_server_port(f->srv) > 0);
    return f->srv;
}

/* Connects and sends one POST; the socket gives up reading after 5 s. */
static int post(eg_http_server_t *srv)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)eg_http_server_port(srv))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
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

static void wait_suspended(fixture_t *f)
{
    int64_t end = eg_time_mono_ms() + 5000;
    while (!atomic_load(&f->conn) && eg_time_mono_ms() < end)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    assert_non_null(atomic_load(&f->conn));
}

/* A delivery report's way: the hook's descriptor wakes the loop, and the
 * hook resumes the request in the loop's own thread. */
static void test_hook_resumes(void **state)
{
    (void)state;
    fixture_t f = {.hook_wait_ms = -1};
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    eg_http_server_t *srv = start(&f, efd);
    int fd = post(srv);
    wait_suspended(&f);
    atomic_store(&f.resume_in_hook, 1);
    int64_t t0 = eg_time_mono_ms();
    uint64_t one = 1;
    assert_int_equal(write(efd, &one, sizeof one), sizeof one);
    char buf[1024] = "";
    read_answer(fd, buf, sizeof buf);
    assert_non_null(strstr(buf, "HTTP/1.1 202"));
    assert_non_null(strstr(buf, "later"));
    assert_true(eg_time_mono_ms() - t0 < 1000);
    close(fd);
    eg_http_server_free(srv);
    close(efd);
}

/* A sync reply's way: another thread resumes the request; the loop, which
 * would otherwise sleep until a connection time-out (the hook asks for no
 * turn), must be woken and send the answer at once. */
static void test_resume_from_another_thread(void **state)
{
    (void)state;
    fixture_t f = {.hook_wait_ms = -1};
    eg_http_server_t *srv = start(&f, -1);
    int fd = post(srv);
    wait_suspended(&f);
    int64_t t0 = eg_time_mono_ms();
    struct MHD_Connection *c = atomic_exchange(&f.conn, NULL);
    eg_http_resume(srv, c);
    char buf[1024] = "";
    read_answer(fd, buf, sizeof buf);
    assert_non_null(strstr(buf, "HTTP/1.1 202"));
    assert_true(eg_time_mono_ms() - t0 < 1000);
    close(fd);
    eg_http_server_free(srv);
}

/* The hook's next turn comes when it asked, with nothing to wake the loop. */
static void test_hook_timer(void **state)
{
    (void)state;
    fixture_t f = {.hook_wait_ms = 10};
    eg_http_server_t *srv = start(&f, -1);
    int64_t end = eg_time_mono_ms() + 5000;
    while (atomic_load(&f.turns) < 10 && eg_time_mono_ms() < end)
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    assert_true(atomic_load(&f.turns) >= 10);
    eg_http_server_free(srv);
}

/* Many requests on one loop, each answered by the hook, none lost. */
static void test_many_connections(void **state)
{
    (void)state;
    enum { N = 50 };
    fixture_t f = {.hook_wait_ms = -1};
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    eg_http_server_t *srv = start(&f, efd);
    atomic_store(&f.resume_in_hook, 1);
    for (int i = 0; i < N; i++) {
        int fd = post(srv);
        wait_suspended(&f);
        uint64_t one = 1;
        assert_int_equal(write(efd, &one, sizeof one), sizeof one);
        char buf[1024] = "";
        read_answer(fd, buf, sizeof buf);
        assert_non_null(strstr(buf, "later"));
        close(fd);
    }
    eg_http_server_free(srv);
    close(efd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_resumes),
        cmocka_unit_test(test_resume_from_another_thread),
        cmocka_unit_test(test_hook_timer),
        cmocka_unit_test(test_many_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
