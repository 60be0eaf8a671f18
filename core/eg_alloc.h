/*
 * eg_alloc: the gateway's one out-of-memory policy. An allocation that
 * fails ends the process: eg_xmalloc and its kin log what was asked for and
 * abort(), so they never return NULL and callers need no branch for it.
 *
 * Why abort rather than recover: every size an outside party controls is
 * bounded before it is allocated (bodies, headers, queues),
 * so running out of memory means the machine is out of it, which Linux
 * mostly answers with the OOM killer before malloc fails. A process that
 * ends is restarted by its supervisor and loses nothing (every accepted
 * event is in Kafka), where a recovery path that is never run is the one
 * with the bug. Redis, h2o and kcat do the same.
 *
 * eg_alloc_setup() points cJSON at these too, so that a NULL from cJSON means
 * bad input, never memory. librdkafka and libcurl keep their own.
 */
#ifndef EG_ALLOC_H
#define EG_ALLOC_H

#include <stddef.h>

void *eg_xmalloc(size_t n);
void *eg_xcalloc(size_t count, size_t size);
void *eg_xrealloc(void *p, size_t n);
char *eg_xstrdup(const char *s);
char *eg_xstrndup(const char *s, size_t n);
/* A new string from a printf format. */
char *eg_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Makes cJSON allocate with eg_xmalloc; once, before any thread starts. */
void eg_alloc_setup(void);

#endif
