/* eg_alloc: allocation that aborts on failure (see eg_alloc.h). */
#include "eg_alloc.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Written with write(2) and a fixed buffer: the logger may allocate. */
static void oom(const char *what, size_t n)
{
    char line[128];
    int len = snprintf(line, sizeof line, "FATAL out of memory: %s of %zu bytes\n", what, n);
    if (len > 0)
        (void)!write(STDERR_FILENO, line,
                     (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
    abort();
}

void *eg_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom("malloc", n);
    return p;
}

void *eg_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom("calloc", count * size);
    return p;
}

void *eg_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom("realloc", n);
    return q;
}

char *eg_xstrdup(const char *s)
{
    return eg_xstrndup(s, strlen(s));
}

char *eg_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = eg_xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *eg_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom("asprintf (bad format)", 0);
    char *s = eg_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void eg_alloc_setup(void)
{
    cJSON_Hooks hooks = {.malloc_fn = eg_xmalloc, .free_fn = free};
    cJSON_InitHooks(&hooks);
}
