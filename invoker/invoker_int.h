/*
 * invoker_int.h: what the pieces of the invoker share, private to invoker/
 * and its unit tests (tests/unit/test_invoker_*.c); the role's users see
 * invoker.h only. An engine (eg_invoker_t), file by file:
 *   intake.c    records in, offsets tracked and committed, partitions paused;
 *   attempts.c  the calls, retries and dead letters;
 *   replies.c   the replies of sync invocations;
 *   engine.c    the thread's loop: epoll, libcurl's callbacks, timers;
 *   invoker.c   the role: clients, engines started and stopped;
 *   sched.c     bookkeeping without I/O (backoff, offsets, timers, shares).
 * Everything here belongs to one engine's thread unless said otherwise.
 */
#ifndef EG_INVOKER_INT_H
#define EG_INVOKER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "eg_deadletter.h"
#include "eg_doze.h"
#include "eg_log.h"
#include "eg_map.h"
#include "eg_reply.h"
#include "eg_runtime.h"
#include "netpolicy.h"
#include "provider.h"

#define COMP "invoker"
/* A dead letter or an overflow record Kafka refused is sent again after this. */
#define DLQ_RESEND_MS 1000
/* Invocations remembered by eg_invoker_t.seen. */
#define SEEN_MAX 65536

/* ---- bookkeeping without I/O (sched.c) ---- */

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
 * this life of the tracker: the caller skips the record). */
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
/* Adds t (not in a heap) with t->due set. */
void eg__timer_heap_push(eg__timer_heap_t *h, eg__timer_t *t);
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
 * (nothing changes; cap 0: no limit). */
int eg__shares_take(eg__shares_t *s, const char *key, size_t cap);
/* Gives back a share taken (a key holding none is left alone). */
void eg__shares_put(eg__shares_t *s, const char *key);
/* Shares key holds. */
size_t eg__shares_held(const eg__shares_t *s, const char *key);
/* Keys holding a share (what the engine's memory for them is). */
size_t eg__shares_keys(const eg__shares_t *s);

/* ---- sync invocations (replies.c) ---- */

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
 * be NULL (none). New string (caller frees). */
char *eg__invoker_reply_value(const char *correlation, int ok, long status, const char *body,
                              size_t body_len, const char *error);

/* The reply of a finished sync call. call: the attempt (its code, status,
 * response, response_truncated), or NULL when no call was made (unknown
 * function, missing header...); v and err: the provider's verdict and error
 * text. ok = the verdict is EG_CALL_OK (a 2xx answer); the status and the
 * body are passed on whenever an HTTP answer came (also non-2xx ones); an
 * answer over EG_REPLY_MAX_BODY (or cut short) is a failure "answer too
 * large" without body. Caller frees. */
char *eg__invoker_sync_reply(const char *correlation, const eg_call_t *call, eg_call_verdict_t v,
                             const char *err);

typedef struct part part_t;
typedef struct inv inv_t;

typedef enum inv_state {
    INV_NEW,      /* just read, no attempt yet */
    INV_QUEUED,   /* its next attempt waits for the in-flight budget (FIFO) */
    INV_CALLING,  /* an attempt is in the multi handle */
    INV_WAITING,  /* on the timer heap for its next attempt */
    INV_DLQ,      /* dead letter produced (or to be re-sent), waiting for its report */
    INV_OVERFLOW, /* written to the overflow topic (or to be re-sent), waiting for its report */
    INV_PARKED,   /* shutting down: a retry that will not be made here */
    INV_REPLY,    /* sync: reply produced (or to be re-sent), waiting for its report */
} inv_state_t;

typedef enum timer_kind { TK_ATTEMPT, TK_DLQ, TK_REPLY, TK_OVERFLOW } timer_kind_t;

/* What an engine consumes: the pool's sync topic, its async topic, or its
 * overflow topic (async invocations of functions past their share). */
typedef enum engine_kind { ENG_SYNC, ENG_ASYNC, ENG_OVERFLOW } engine_kind_t;

typedef struct src src_t;

/* The done queue of an engine: completions of start-hook attempts, pushed
 * from any thread, taken by the loop. Freed by the last of its references
 * (the engine's and one per pending completion). */
typedef struct doneq {
    pthread_mutex_t mu;
    size_t refs;
    int closed;  /* the engine is gone: completions are dropped */
    int wake_fd; /* the engine's wake-up pipe (write end) */
    eg_call_done_t *head, *tail;
} doneq_t;

struct eg_call_done {
    doneq_t *q;
    struct inv *inv; /* NULL once the engine dropped the invocation (under q->mu) */
    eg_call_verdict_t verdict;
    char err[512];
    eg_call_done_t *next;
};

/* One invocation: a record being worked on. */
struct inv {
    eg_call_t call; /* what the provider sees */
    const eg_provider_t *provider;
    eg__timer_t timer;
    timer_kind_t timer_kind;
    inv_state_t state;
    part_t *part; /* counted reference */
    int64_t offset;
    char *key;
    size_t klen;
    char *value; /* call.body points here */
    char *space, *sub, *fn, *event_id, *event_type, *content_type;
    const char *missing; /* the first required header the record lacks, or NULL */
    int attempts;        /* attempts made */
    int max_attempts, base_ms, max_ms;
    int fn_grace; /* the missing-function re-check was used */
    long last_status;
    char last_error[512];
    char *dlq_value; /* the dead letter, kept for re-sends */
    char *share;     /* the key of the engine's share it holds ("space\x1ffunction"), or NULL */
    rd_kafka_headers_t *headers; /* INV_OVERFLOW: the record's headers, kept for re-sends */
    size_t response_cap;         /* bytes allocated at call.response */
    int64_t attempt_start;
    eg_netpolicy_guard_t guard; /* what the address policy refused during the attempt */
    size_t response_max;        /* bytes of the answer kept: EG_REPLY_MAX_BODY (sync) or
                                   EG_CALL_MAX_RESPONSE */
    /* Sync invocations only. */
    int sync;
    char *reply_to, *correlation;
    int64_t deadline_ms;  /* eg-deadline, Unix ms; 0 when none */
    char *reply_value;    /* the reply until the producer takes it */
    int reply_small;      /* the reply was replaced by an "answer too large" one */
    inv_t *prev, *next;   /* every live invocation */
    inv_t *qprev, *qnext; /* INV_QUEUED: the engine's queue */
};

/* One partition of the assignment (or a revoked one that calls still refer to). */
struct part {
    src_t *src;
    char *topic;
    int32_t partition;
    eg__offtrack_t *track;
    eg__shares_t *shares; /* each function's share of the window (async engine) */
    int64_t committed;    /* last offset sent in a commit, -1 none */
    int paused;
    int revoked;
    size_t refs;  /* invocations pointing here */
    part_t *next; /* in the assignment */
};

#define EASY_POOL 256

/* The input of an engine: a consumer group on an invocation topic. */
struct src {
    struct eg_invoker *r;
    int sync;
    char topic[512];
    char group[512];
    rd_kafka_t *consumer;
    rd_kafka_queue_t *cq; /* the consumer's queue (main queue forwarded to it) */
    part_t *parts;        /* the assignment */
    size_t ninv;          /* live invocations read from this input */
    int global_paused;    /* every partition paused: the input's in-flight budget is used up */
    int64_t last_consumer_warn;
    int64_t last_commit_warn;
    int ever_assigned; /* an assignment (even an empty one) came */
    eg_doze_t doze;    /* idle duty cycle (sync input; never dozes otherwise) */
    int coop_sticky;   /* the consumer uses the cooperative-sticky assignor */
};

/* One engine: an input, its thread and everything that thread owns. */
typedef struct eg_invoker {
    eg_runtime_t *rt;
    const eg_settings_t *s;
    eg_netpolicy_t *policy; /* the role's, shared by its engines */
    src_t in;
    engine_kind_t kind;
    /* Async engine: each function's share (--max-inflight-per-function;
     * NULL: no limit), and where the invocations past it go. */
    eg__shares_t *shares;
    char overflow_topic[512];
    rd_kafka_t *producer; /* dead letters and overflow (async and overflow engines) */
    rd_kafka_t *replier;  /* replies (sync engine) */
    rd_kafka_queue_t *pq; /* the producer's main queue */
    rd_kafka_queue_t *rq; /* the reply producer's main queue */
    CURLM *multi;
    doneq_t *doneq;
    int pipefd[2];
    int epfd;         /* libcurl's sockets and the wake-up pipe */
    int64_t curl_due; /* when libcurl wants curl_multi_socket_action(TIMEOUT), -1 never */
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    atomic_int dozing;    /* in.doze.dozing, for eg_engine_on_wake (other threads) */
    atomic_int wake_doze; /* eg_engine_on_wake asked: end the doze */
    int waker;            /* registered with eg_runtime_add_waker */

    /* Engine state: the loop thread only. */
    inv_t *invs;
    inv_t *qhead, *qtail; /* waiting for the in-flight budget, oldest first */
    size_t ninv, ncalling, ndlq, nreply, nqueued, noverflow;
    eg__timer_heap_t timers;
    uint64_t rng;
    int draining;
    int64_t drain_deadline;
    /* Embedded broker only (NULL on a real cluster, whose read_committed
     * consumers never see an aborted fan-out): invocations seen lately, by
     * "<eg-source> <eg-subscription>", so that the same fan-out read twice
     * (a router died mid-transaction, and the embedded broker does not hide
     * aborted records) is called once. Emptied whenever partitions are
     * revoked or lost: a record read again after its partition came back
     * was never finished (its offset was not committed past it), and must
     * be called again, not taken for a duplicate. */
    eg_map_t *seen;
    CURL *easy_pool[EASY_POOL]; /* reset handles kept for the next calls */
    size_t easy_free;
    char **seen_ring; /* insertion order, for eviction */
    size_t seen_head;
} eg_invoker_t;

/* Labels {space, function} of an invocation's metrics. */
#define INV_LABELS(i) ((const char *const[]){(i)->space, (i)->fn})

#define INV_FIELDS(i)                                                                              \
    ((eg_log_field_t[]){{"event", (i)->event_id},                                                  \
                        {"subscription", (i)->sub},                                                \
                        {"function", (i)->fn},                                                     \
                        {"space", (i)->space}})

/* INV_FIELDS and two more (6 fields). */
#define INV_FIELDS2(i, k1, v1, k2, v2)                                                             \
    ((eg_log_field_t[]){{"event", (i)->event_id},                                                  \
                        {"subscription", (i)->sub},                                                \
                        {"function", (i)->fn},                                                     \
                        {"space", (i)->space},                                                     \
                        {(k1), (v1)},                                                              \
                        {(k2), (v2)}})

#define SYNC_FIELDS(i, st)                                                                         \
    ((eg_log_field_t[]){{"event", (i)->event_id},                                                  \
                        {"subscription", (i)->sub},                                                \
                        {"function", (i)->fn},                                                     \
                        {"space", (i)->space},                                                     \
                        {"correlation", (i)->correlation},                                         \
                        {"status", (st)}})

/* ---- the loop (engine.c) ---- */

/* Wakes the engine's loop (a byte on its pipe); from any thread. */
void eg_engine_wake(eg_invoker_t *r);

/* Puts the invocation on the timer heap (again), due at `due` (monotonic ms). */
void eg_engine_schedule(eg_invoker_t *r, inv_t *i, timer_kind_t kind, int64_t due);

/* The engine's thread (arg: the engine). */
void *eg_engine_loop(void *arg);

/* libcurl's socket and timer callbacks (CURLMOPT_SOCKETFUNCTION,
 * CURLMOPT_TIMERFUNCTION; userp: the engine). */
int eg_engine_on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp);
int eg_engine_on_curl_timer(CURLM *m, long timeout_ms, void *userp);

/* eg_runtime_wake's callback (arg: the engine): a dozing input wakes now. */
void eg_engine_on_wake(void *arg);

/* ---- attempts (attempts.c) ---- */

/* ncalling and the in-flight gauge move together (more: 1 up, 0 down). */
void eg_attempt_calling(eg_invoker_t *r, int more);

/* Frees what the current attempt holds (easy handle, headers, provider data). */
void eg_attempt_release(eg_invoker_t *r, inv_t *i);

/* Takes an INV_QUEUED invocation off the queue (its state becomes INV_NEW). */
void eg_attempt_queue_unlink(eg_invoker_t *r, inv_t *i);

/* The done queue's references (q->mu held for unref_locked; release
 * frees the queue when `last`). */
void eg_attempt_doneq_unref_locked(doneq_t *q, int *last);
void eg_attempt_doneq_release(doneq_t *q, int last);

/* Produces the invocation's dead letter (again). */
void eg_attempt_dlq_send(eg_invoker_t *r, inv_t *i);

/* Sends the invocation to the dead-letter topic; it finishes when Kafka has it. */
void eg_attempt_dead_letter(eg_invoker_t *r, inv_t *i, long status, const char *error);

/* The dead-letter producer's delivery reports (dead letters, overflow records). */
void eg_attempt_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* The engine's in-flight budget (--max-inflight). */
size_t eg_attempt_budget(const eg_invoker_t *r);

/* Starts an attempt now, or queues it while the budget is spent. */
void eg_attempt_begin(eg_invoker_t *r, inv_t *i);

/* Starts queued attempts while the budget allows. */
void eg_attempt_start_queued(eg_invoker_t *r);

/* An HTTP attempt finished (libcurl reported it done). */
void eg_attempt_done(eg_invoker_t *r, inv_t *i, CURLcode code);

/* Takes the completions of start-hook attempts. */
void eg_attempt_done_drain(eg_invoker_t *r);

/* ---- records, offsets, partitions (intake.c) ---- */

/* Frees an invocation, whatever its state (its offset stays unfinished). */
void eg_intake_inv_free(eg_invoker_t *r, inv_t *i);

/* The invocation is done with: its offset may be committed; frees it. */
void eg_intake_inv_finish(eg_invoker_t *r, inv_t *i);

/* Writes the invocation to the overflow topic (again). */
void eg_intake_overflow_send(eg_invoker_t *r, inv_t *i);

/* The overflow topic refused the invocation: it is called here after all. */
void eg_intake_overflow_fall_back(eg_invoker_t *r, inv_t *i, const char *why);

/* Takes up to max records of the input; 1 when it stopped at max. */
int eg_intake_consume(eg_invoker_t *r, src_t *s, int max);

/* Commits the committable offsets (of `only`, or all partitions when NULL). */
void eg_intake_commit(src_t *s, const rd_kafka_topic_partition_list_t *only, int sync);

/* The consumer's commit callback (opaque: the input). */
void eg_intake_on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets, void *opaque);

/* Forgets the partitions of l (all when NULL) and their idle invocations. */
void eg_intake_forget(eg_invoker_t *r, src_t *s, const rd_kafka_topic_partition_list_t *l);

/* The consumer's rebalance callback (opaque: the input). */
void eg_intake_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque);

/* Pauses or resumes the input's partitions. */
void eg_intake_flow(eg_invoker_t *r, src_t *s);

/* ---- sync replies (replies.c) ---- */

/* 1 when the sync invocation's caller stopped waiting. */
int eg_replies_deadline_passed(const inv_t *i);

/* Hands the reply to the reply producer (again). */
void eg_replies_send(eg_invoker_t *r, inv_t *i);

/* A sync invocation is over: its ONE reply (call: the attempt, or NULL). */
void eg_replies_sync_reply(eg_invoker_t *r, inv_t *i, const eg_call_t *call, eg_call_verdict_t v,
                           const char *err);

/* The reply producer's delivery reports. */
void eg_replies_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

#endif
