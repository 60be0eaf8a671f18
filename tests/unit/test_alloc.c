/*
 * Unit tests of core/eg_alloc: the allocators return what was asked for,
 * and a failed allocation ends the process with SIGABRT and a line that
 * says so (run in a child).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eg_alloc.h"

/* Under AddressSanitizer an impossible size is a report of its own, not a
 * NULL from malloc: ask it for the NULL, which is what is tested here. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void test_allocators_give_what_was_asked(void **state)
{
    (void)state;
    char *s = eg_xstrdup("pipeline");
    assert_string_equal(s, "pipeline");
    free(s);
    s = eg_xstrndup("pipeline", 4);
    assert_string_equal(s, "pipe");
    free(s);
    s = eg_xstrndup("ab", 10); /* n past the end: up to the NUL */
    assert_string_equal(s, "ab");
    free(s);
    s = eg_xasprintf("%s-%d", "pool", 42);
    assert_string_equal(s, "pool-42");
    free(s);
    int *z = eg_xcalloc(16, sizeof *z);
    for (int i = 0; i < 16; i++)
        assert_int_equal(z[i], 0);
    z = eg_xrealloc(z, 1024 * sizeof *z);
    z[1023] = 7;
    free(z);
    free(eg_xmalloc(0)); /* a pointer that free takes, never NULL */
}

/* Runs f in a child; its status, and its stderr in out. */
static int in_child(void (*f)(void), char *line, size_t len)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        f();
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while (got < len - 1 && (n = read(fds[0], line + got, len - 1 - got)) > 0)
        got += (size_t)n;
    line[got] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void impossible_malloc(void)
{
    volatile size_t n = SIZE_MAX - 64;
    free(eg_xmalloc(n));
}

static void impossible_calloc(void)
{
    volatile size_t n = SIZE_MAX / 2;
    free(eg_xcalloc(n, 4));
}

static void impossible_json(void)
{
    eg_alloc_setup();
    volatile size_t n = SIZE_MAX - 64;
    cJSON_free(cJSON_malloc(n)); /* cJSON allocates through eg_xmalloc */
}

static void test_a_failed_allocation_aborts_and_says_so(void **state)
{
    (void)state;
    void (*const fs[])(void) = {impossible_malloc, impossible_calloc, impossible_json};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        char line[1024];
        int status = in_child(fs[i], line, sizeof line);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
        assert_non_null(strstr(line, "FATAL out of memory: "));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocators_give_what_was_asked),
        cmocka_unit_test(test_a_failed_allocation_aborts_and_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
