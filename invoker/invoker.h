/*
 * The invoker role: consumes the invocation topic of its pool and calls the
 * functions (design: invoker.c).
 *
 * The second half of this header is internal: the engine's building blocks,
 * declared here (names with a double underscore) so that the unit tests
 * (tests/unit/test_invoker_*.c) can reach them. Nothing outside invoker/
 * may use them.
 */
#ifndef EG_INVOKER_H
#define EG_INVOKER_H

#include <stddef.h>
#include <stdint.h>

#include "eg_deadletter.h"
#include "eg_reply.h"
#include "eg_runtime.h"
#include "provider.h"

extern const eg_role_ops_t eg_invoker_role;

/* ---- internal, for invoker/ and its unit tests ---- */

/* Delay before the next attempt after the `failures`-th failed one (1-based):
 * d = min(max_ms, base_ms * 2^(failures-1)), then full jitter: a value in
 * [d/2, d] picked by rnd (any 64-bit random number). Never negative; at least
 * 1 when base_ms >= 1. */
int64_t eg__invoker_backoff_ms(int failures, int base_ms, int max_ms, uint64_t rnd);

/* A small fast random generator (xorshift64*) for the jitter; *state must
 * not be 0 (seeded by the caller). Not thread safe (one state per thread). */
uint64_t eg__invoker_rand(uint64_t *state);

/* The committable-offset tracker of one partition: the offsets handed to
 * the engine and not yet finished. Offsets are added in increasing order
 * (gaps allowed) and finished in any order. The committable offset is the
 * lowest unfinished one, or the offset after the last added when all are
 * finished: committing it never skips an unfinished record. */
typedef struct eg__offtrack eg__offtrack_t;

eg__offtrack_t *eg__offtrack_new(void);
void eg__offtrack_free(eg__offtrack_t *t);
/* 0 added; 1 when off is below the next expected offset (already seen in
 * this life of the tracker: the caller skips the record); -1 out of memory. */
int eg__offtrack_add(eg__offtrack_t *t, int64_t off);
/* 0 finished; -1 when off is not an unfinished offset of the tracker. */
int eg__offtrack_finish(eg__offtrack_t *t, int64_t off);
/* The offset to commit, or -1 while nothing was ever added. */
int64_t eg__offtrack_committable(const eg__offtrack_t *t);
/* Offsets added and not finished. */
size_t eg__offtrack_unfinished(const eg__offtrack_t *t);
/* Entries held: from the lowest unfinished offset to the last added (memory). */
size_t eg__offtrack_span(const eg__offtrack_t *t);

/* A min-heap of timers by due time (monotonic ms). The timer is embedded in
 * the caller's object, which owns it; the heap only points to it. */
typedef struct eg__timer {
    int64_t due;
    size_t idx; /* position in the heap, (size_t)-1 when not in one */
} eg__timer_t;

typedef struct eg__timer_heap {
    eg__timer_t **v;
    size_t len, cap;
} eg__timer_heap_t;

void eg__timer_heap_init(eg__timer_heap_t *h);
void eg__timer_heap_release(eg__timer_heap_t *h); /* frees the array, not the timers */
/* Adds t (not in a heap) with t->due set. 0, or -1 out of memory. */
int eg__timer_heap_push(eg__timer_heap_t *h, eg__timer_t *t);
/* The earliest timer, or NULL. */
eg__timer_t *eg__timer_heap_peek(const eg__timer_heap_t *h);
/* Removes and returns the earliest timer, or NULL. */
eg__timer_t *eg__timer_heap_pop(eg__timer_heap_t *h);
/* Removes t if it is in the heap. */
void eg__timer_heap_remove(eg__timer_heap_t *h, eg__timer_t *t);

/* The shares of an engine, or of a partition's window: how many invocations
 * of each key (a function: "space\x1ffunction") it works on. */
typedef struct eg__shares eg__shares_t;

eg__shares_t *eg__shares_new(void);
void eg__shares_free(eg__shares_t *s);
/* Takes a share of key: 1 taken; 0 when key holds cap shares already
 * (nothing changes; cap 0: no limit); -1 out of memory. */
int eg__shares_take(eg__shares_t *s, const char *key, size_t cap);
/* Gives back a share taken (a key holding none is left alone). */
void eg__shares_put(eg__shares_t *s, const char *key);
/* Shares key holds. */
size_t eg__shares_held(const eg__shares_t *s, const char *key);
/* Keys holding a share (what the engine's memory for them is). */
size_t eg__shares_keys(const eg__shares_t *s);

/* ---- sync invocations (sync.c) ---- */

/* The eg-deadline header's value (decimal Unix ms) as a number; 0 (no
 * deadline) when absent, malformed or not positive. */
int64_t eg__invoker_parse_deadline(const char *v);

/* How long a sync call read at now_ms (Unix ms) may take: min(the function
 * timeout, deadline - now); the function timeout when there is no deadline
 * (deadline_ms <= 0; function_timeout_ms <= 0 means 10000). 0 when the
 * deadline has passed: nobody waits for the answer any more, no call. */
int64_t eg__invoker_sync_timeout_ms(int64_t deadline_ms, int64_t now_ms, int function_timeout_ms);

/* The error text of an answer longer than EG_REPLY_MAX_BODY, or of a reply
 * Kafka refused as too large. */
#define EG__INVOKER_TOO_LARGE EG_REPLY_TOO_LARGE

/* A reply record value (schemas/reply-record.schema.json, eg_reply_encode):
 * error is used only when !ok ("call failed" when NULL or empty); body may
 * be NULL (none). New string (caller frees), NULL out of memory. */
char *eg__invoker_reply_value(const char *correlation, int ok, long status, const char *body,
                              size_t body_len, const char *error);

/* The reply of a finished sync call. call: the attempt (its code, status,
 * response, response_truncated), or NULL when no call was made (unknown
 * function, missing header...); v and err: the provider's verdict and error
 * text. ok = the verdict is EG_CALL_OK (a 2xx answer); the status and the
 * body are passed on whenever an HTTP answer came (also non-2xx ones); an
 * answer over EG_REPLY_MAX_BODY (or cut short) is a failure "answer too
 * large" without body. Caller frees; NULL out of memory. */
char *eg__invoker_sync_reply(const char *correlation, const eg_call_t *call, eg_call_verdict_t v,
                             const char *err);

#endif
