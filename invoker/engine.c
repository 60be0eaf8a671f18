/*
 * engine.c: the loop of an engine's thread, which owns everything of the
 * engine (consumer, producer, libcurl multi handle, timers) and never sleeps
 * on anything but one epoll_wait: on libcurl's sockets and the wake-up pipe,
 * for at most the time until the next timer (ours or libcurl's).
 *
 * libcurl's multi_socket API keeps the epoll set in step (eg_engine_on_curl_socket),
 * so a turn touches the sockets that are ready, not every call in flight.
 * librdkafka writes to the pipe when the consumer's or the producer's queue
 * goes from empty to non-empty (rd_kafka_queue_io_event_enable), and stop()
 * and the start hooks' completions write to it too: a record wakes the loop
 * at once. The timers (a min-heap) hold retries, dead-letter, overflow and
 * reply re-sends, and the grace re-check of a missing function.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "eg_doze.h"
#include "eg_log.h"
#include "eg_time.h"
#include "invoker_int.h"

#define POLL_BATCH 500         /* records taken from the consumer per loop turn */
#define COMMIT_INTERVAL_MS 200 /* asynchronous commits */
#define MAX_WAIT_MS 100        /* longest wait of one loop turn */
#define DRAIN_EXTRA_MS 5000    /* shutdown: function timeout + this, at most */
#define EPOLL_BATCH 256        /* socket events taken per wait */

void eg_engine_wake(eg_invoker_t *r)
{
    char c = 1;
    ssize_t n = write(r->pipefd[1], &c, 1);
    (void)n; /* a full pipe already wakes the loop */
}

/* ---- timers ---- */

void eg_engine_schedule(eg_invoker_t *r, inv_t *i, timer_kind_t kind, int64_t due)
{
    eg__timer_heap_remove(&r->timers, &i->timer);
    i->timer_kind = kind;
    i->timer.due = due;
    eg__timer_heap_push(&r->timers, &i->timer);
}

static void run_timers(eg_invoker_t *r, int64_t now)
{
    eg__timer_t *t;
    while ((t = eg__timer_heap_peek(&r->timers)) && t->due <= now) {
        eg__timer_heap_pop(&r->timers);
        inv_t *i = (inv_t *)((char *)t - offsetof(inv_t, timer));
        if (i->timer_kind == TK_REPLY) {
            eg_replies_send(r, i); /* even if revoked: the caller waits */
        } else if (i->part->revoked) {
            eg_intake_inv_free(r, i); /* the partition's new owner takes it from here */
        } else if (i->timer_kind == TK_DLQ) {
            eg_attempt_dlq_send(r, i);
        } else if (i->timer_kind == TK_OVERFLOW) {
            eg_intake_overflow_send(r, i);
        } else if (r->draining) {
            i->state = INV_PARKED;
        } else {
            eg_attempt_begin(r, i);
        }
    }
}

/* ---- libcurl ---- */

static void curl_done(eg_invoker_t *r)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(r->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv)
            eg_attempt_done(r, (inv_t *)priv, msg->data.result);
    }
}

/* libcurl's socket callback: keeps the epoll set in step with the sockets
 * libcurl waits on (multi_socket API: a loop turn only touches the sockets
 * that are ready, never every call in flight). */
int eg_engine_on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    eg_invoker_t *r = userp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL); /* may be closed already: no matter */
        return 0;
    }
    struct epoll_event ev = {
        .events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u),
        .data.fd = fd,
    };
    if (epoll_ctl(r->epfd, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) &&
        epoll_ctl(r->epfd, socketp ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev)) {
        EG_LOG_WARN(COMP, "epoll_ctl on a call's socket: %s", strerror(errno));
        return -1; /* libcurl fails the transfers on that socket */
    }
    if (!socketp)
        curl_multi_assign(r->multi, fd, r); /* known to epoll from now on */
    return 0;
}

/* libcurl's timer callback: when to call it back (no libcurl call here). */
int eg_engine_on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    eg_invoker_t *r = userp;
    (void)m;
    r->curl_due = timeout_ms < 0 ? -1 : eg_time_mono_ms() + timeout_ms;
    return 0;
}

/* Lets libcurl run what is due: new calls (curl_multi_add_handle asks for an
 * immediate timeout), connect and transfer time-outs. */
static void curl_timeouts(eg_invoker_t *r)
{
    int running;
    if (r->curl_due >= 0 && eg_time_mono_ms() >= r->curl_due) {
        r->curl_due = -1;
        curl_multi_socket_action(r->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

static void drain_pipe(eg_invoker_t *r)
{
    char buf[256];
    while (read(r->pipefd[0], buf, sizeof buf) > 0)
        ;
}

/* ---- the loop ---- */

/* One turn of the loop:
 *   1. drain the wake-up pipe;
 *   2. rd_kafka_consumer_poll(0) up to POLL_BATCH records (rebalance and
 *      commit callbacks run here too); each record becomes an invocation and
 *      its first attempt starts at once;
 *   3. run the timers that are due;
 *   4. curl_multi_socket_action(TIMEOUT) when libcurl asked for it, then
 *      curl_multi_info_read for finished attempts, and the completions of
 *      start-hook attempts;
 *   5. rd_kafka_poll(producer, 0) for delivery reports;
 *   6. commit every COMMIT_INTERVAL_MS; pause or resume partitions;
 *   7. epoll_wait on libcurl's sockets plus the wake-up pipe, for at most
 *      the time until the next timer (ours or libcurl's; MAX_WAIT_MS at
 *      most), then curl_multi_socket_action for each ready socket.
 * The pipe's signal only fires on empty -> non-empty, so a turn that stops
 * at POLL_BATCH does not wait at all before the next one.
 * Once stopped, the engine drains: no new records, the calls in flight
 * finish (bounded by the function timeout), retries that fall due are not
 * started (a sync call that ends still gets its reply), dead-letter,
 * overflow and reply reports are awaited, then a synchronous commit. */
void *eg_engine_loop(void *arg)
{
    eg_invoker_t *r = arg;
    int running = 0;
    struct epoll_event evs[EPOLL_BATCH];

    /* Dead-letter verdicts ("function not found") need the configuration. */
    while (!atomic_load(&r->stop) && eg_configlog_wait_ready(r->rt->config, 200))
        ;
    if (atomic_load(&r->stop))
        return NULL;
    src_t *in = &r->in;
    char serr[512];
    if (eg_kafka_subscribe_one(in->consumer, in->topic, serr, sizeof serr)) {
        EG_LOG_ERROR(COMP, "%s", serr);
        return NULL;
    }
    EG_LOG_INFO(COMP, "consuming %s as group %s", in->topic, in->group);

    int64_t next_commit = eg_time_mono_ms() + COMMIT_INTERVAL_MS, lag_due = 0;
    for (;;) {
        eg_runtime_report_lag(r->rt, in->consumer, COMP, in->topic, &lag_due);
        int64_t now = eg_time_mono_ms();
        if (atomic_load(&r->stop) && !r->draining) {
            r->draining = 1;
            r->drain_deadline = now + r->s->function_timeout_ms + DRAIN_EXTRA_MS;
            EG_LOG_INFO(COMP,
                        "draining %s: %zu call(s) in flight, %zu dead letter(s), %zu "
                        "overflow record(s) and %zu reply(ies) pending; %zu queued call(s) "
                        "left for the next owner",
                        in->topic, r->ncalling, r->ndlq, r->noverflow, r->nreply, r->nqueued);
        }
        if (r->draining &&
            ((r->ncalling == 0 && r->ndlq == 0 && r->noverflow == 0 && r->nreply == 0) ||
             now >= r->drain_deadline))
            break;
        drain_pipe(r);
        int more = eg_intake_consume(r, in, POLL_BATCH);
        run_timers(r, eg_time_mono_ms());
        curl_timeouts(r);
        curl_done(r);
        eg_attempt_done_drain(r);
        eg_attempt_start_queued(r); /* after the calls that ended this turn */
        if (r->replier)
            rd_kafka_poll(r->replier, 0);
        if (r->producer)
            rd_kafka_poll(r->producer, 0);
        now = eg_time_mono_ms();
        if (now >= next_commit) {
            eg_intake_commit(in, NULL, 0);
            next_commit = now + COMMIT_INTERVAL_MS;
        }
        int64_t doze_due = now + MAX_WAIT_MS;
        int nparts = 0;
        for (part_t *p = in->parts; p; p = p->next)
            nparts++;
        if (atomic_exchange(&r->wake_doze, 0))
            eg_doze_record(&in->doze, now);
        in->doze.paused = eg_doze_paused(&in->doze, now, nparts, &doze_due);
        eg_runtime_doze_state(r->rt, &r->dozing, in->doze.dozing);
        eg_intake_flow(r, in);

        int64_t wait = more ? 0 : MAX_WAIT_MS;
        if (doze_due - now < wait)
            wait = doze_due > now ? doze_due - now : 0;
        eg__timer_t *t = eg__timer_heap_peek(&r->timers);
        if (t && t->due - now < wait)
            wait = t->due > now ? t->due - now : 0;
        if (next_commit - now < wait)
            wait = next_commit > now ? next_commit - now : 0;
        if (r->curl_due >= 0 && r->curl_due - now < wait)
            wait = r->curl_due > now ? r->curl_due - now : 0;
        int n = epoll_wait(r->epfd, evs, EPOLL_BATCH, (int)wait);
        for (int k = 0; k < n; k++) {
            if (evs[k].data.fd == r->pipefd[0])
                continue; /* drained at the top of the turn */
            uint32_t ev = evs[k].events;
            int action = ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) ? CURL_CSELECT_IN : 0) |
                         ((ev & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                         ((ev & EPOLLERR) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(r->multi, evs[k].data.fd, action, &running);
        }
        curl_timeouts(r);
        curl_done(r);
    }
    if (r->ncalling || r->ndlq || r->noverflow || r->nreply)
        EG_LOG_WARN(COMP,
                    "drain of %s timed out: %zu call(s), %zu dead letter(s), %zu overflow "
                    "record(s), %zu reply(ies) left for the next owner",
                    in->topic, r->ncalling, r->ndlq, r->noverflow, r->nreply);
    eg_intake_commit(in, NULL, 1);
    return NULL;
}

/* eg_runtime_wake's callback (the ingress's thread): a dozing sync input
 * wakes now rather than at its next fetch window. */
void eg_engine_on_wake(void *arg)
{
    eg_invoker_t *r = arg;
    if (atomic_load(&r->dozing) && !atomic_exchange(&r->wake_doze, 1))
        eg_engine_wake(r);
}
