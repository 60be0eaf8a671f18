/*
 * attempts.c: the calls. Every record is worked on as soon as it is consumed,
 * concurrently with the others (no head-of-line blocking): an attempt is a
 * libcurl easy handle (from a small pool of reset ones) in the engine's multi
 * handle, bounded by --function-timeout-ms and a connect timeout, or, for a
 * provider without HTTP (a start hook, e.g. kafka), a call that another
 * thread ends through eg_call_complete and the engine's done queue.
 *
 * At most --max-inflight calls are in flight per engine; an attempt due past
 * that budget waits in a FIFO (INV_QUEUED) and starts when a call ends.
 * Failed attempts are retried or dead-lettered (retry_or_give_up); the
 * function is looked up at every attempt, so a changed URL is used at once.
 * Every connection goes through the role's address policy (netpolicy.h).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eg_alloc.h"
#include "eg_kafka_hdr.h"
#include "eg_log.h"
#include "eg_time.h"
#include "invoker_int.h"

#define CONNECT_TIMEOUT_MS 5000 /* at most, and never above the function timeout */
#define FN_GRACE_MS 1000        /* re-check of a function missing from our configuration */

/* ncalling and the in-flight gauge move together. */
void eg_attempt_calling(eg_invoker_t *r, int more)
{
    if (more)
        r->ncalling++;
    else
        r->ncalling--;
    eg_metric_add(r->rt->mx.in_flight, NULL, more ? 1 : -1);
}

/* ---- easy handles ---- */

/* A handle for a call: a reset one from the pool, else a new one. */
static CURL *easy_get(eg_invoker_t *r)
{
    return r->easy_free ? r->easy_pool[--r->easy_free] : curl_easy_init();
}

static void easy_put(eg_invoker_t *r, CURL *e)
{
    if (r->easy_free < EASY_POOL) {
        curl_easy_reset(e);
        r->easy_pool[r->easy_free++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

/* Providers without HTTP (a start hook) end their attempts from another
 * thread (e.g. a producer's delivery report) through eg_call_complete: the
 * completion goes on the engine's done queue (a mutex, a list, a write to
 * the wake-up pipe) and the loop judges it at its next turn like a finished
 * libcurl call. The queue is shared with those completions by reference
 * count: an invocation dropped meanwhile (shutdown) turns its pending
 * completion into a no-op, and the queue outlives the engine until the last
 * one came. */
void eg_attempt_doneq_unref_locked(doneq_t *q, int *last)
{
    *last = --q->refs == 0;
}

void eg_attempt_doneq_release(doneq_t *q, int last)
{
    if (last) {
        pthread_mutex_destroy(&q->mu);
        free(q);
    }
}

void eg_call_complete(eg_call_done_t *d, eg_call_verdict_t v, const char *err)
{
    doneq_t *q = d->q;
    int last = 0;
    pthread_mutex_lock(&q->mu);
    d->verdict = v;
    snprintf(d->err, sizeof d->err, "%s", err ? err : "");
    if (d->inv && !q->closed) {
        if (q->tail)
            q->tail->next = d;
        else
            q->head = d;
        q->tail = d;
        char c = 1;
        ssize_t n = write(q->wake_fd, &c, 1);
        (void)n; /* a full pipe already wakes the loop */
    } else {
        free(d); /* nobody waits for it any more */
    }
    eg_attempt_doneq_unref_locked(q, &last);
    pthread_mutex_unlock(&q->mu);
    eg_attempt_doneq_release(q, last);
}

/* Forgets a start-hook attempt: its completion, pending or queued, will be
 * dropped. */
static void done_detach(eg_invoker_t *r, inv_t *i)
{
    eg_call_done_t *d = i->call.done;
    if (!d)
        return;
    i->call.done = NULL;
    pthread_mutex_lock(&r->doneq->mu);
    d->inv = NULL; /* queued ones are freed when taken, pending ones on completion */
    pthread_mutex_unlock(&r->doneq->mu);
}

void eg_attempt_release(eg_invoker_t *r, inv_t *i)
{
    done_detach(r, i);
    if (i->call.easy) {
        curl_multi_remove_handle(r->multi, i->call.easy);
        easy_put(r, i->call.easy);
        i->call.easy = NULL;
    }
    curl_slist_free_all(i->call.headers);
    i->call.headers = NULL;
    if (i->call.provider_free)
        i->call.provider_free(i->call.provider_data);
    i->call.provider_free = NULL;
    i->call.provider_data = NULL;
}

void eg_attempt_queue_unlink(eg_invoker_t *r, inv_t *i)
{
    if (i->qprev)
        i->qprev->qnext = i->qnext;
    else
        r->qhead = i->qnext;
    if (i->qnext)
        i->qnext->qprev = i->qprev;
    else
        r->qtail = i->qprev;
    i->qprev = i->qnext = NULL;
    i->state = INV_NEW; /* off the queue: whoever unlinked it decides */
    r->nqueued--;
    eg_metric_add(r->rt->mx.queued, NULL, -1);
}

/* ---- dead letters ---- */

void eg_attempt_dlq_send(eg_invoker_t *r, inv_t *i)
{
    rd_kafka_resp_err_t e = rd_kafka_producev(
        r->producer, RD_KAFKA_V_TOPIC(r->rt->topics.dlq), RD_KAFKA_V_KEY(i->key, i->klen),
        RD_KAFKA_V_VALUE(i->dlq_value, strlen(i->dlq_value)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER(EG_HDR_CONTENT_TYPE, "application/json", -1), RD_KAFKA_V_OPAQUE(i),
        RD_KAFKA_V_END);
    if (e) {
        EG_LOGF(EG_LOG_LEVEL_WARN, COMP, INV_FIELDS(i), 4,
                "dead letter not taken by the producer (%s); sending again in %d ms",
                rd_kafka_err2str(e), DLQ_RESEND_MS);
        eg_engine_schedule(r, i, TK_DLQ, eg_time_mono_ms() + DLQ_RESEND_MS);
    }
}

/* Sends the invocation to the dead-letter topic; it finishes when Kafka has
 * the record. status/error: of the last attempt, or 0 and the reason. */
void eg_attempt_dead_letter(eg_invoker_t *r, inv_t *i, long status, const char *error)
{
    i->last_status = status;
    if (error != i->last_error)
        snprintf(i->last_error, sizeof i->last_error, "%s", error);
    eg_deadletter_t d = {
        .space = i->space,
        .subscription = i->sub,
        .function = i->fn,
        .event_id = i->event_id,
        .event_type = i->event_type,
        .attempts = i->attempts,
        .last_status = status,
        .last_error = i->last_error,
        .failed_at_ms = eg_time_now_ms(),
        .topic = i->part->topic,
        .partition = i->part->partition,
        .offset = i->offset,
        .event = i->value,
        .event_len = i->call.body_len,
    };
    char attempts[16], st[16];
    snprintf(attempts, sizeof attempts, "%d", i->attempts);
    snprintf(st, sizeof st, "%ld", status);
    EG_LOGF(EG_LOG_LEVEL_ERROR, COMP, INV_FIELDS2(i, "attempts", attempts, "status", st), 6,
            "invocation dead-lettered to %s: %s", r->rt->topics.dlq, i->last_error);
    eg_metric_add(r->rt->mx.dead_letters, INV_LABELS(i), 1);
    i->state = INV_DLQ;
    r->ndlq++;
    i->dlq_value = eg_deadletter_json(&d);
    eg_attempt_dlq_send(r, i);
}

/* ---- attempts ---- */

/* libcurl's write callback: keeps at most i->response_max bytes of the
 * answer. An async call reads and drops the rest; a sync call stops there
 * (the answer is refused as too large, so the rest is of no use). */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    inv_t *i = ud;
    eg_call_t *c = &i->call;
    size_t n = size * nmemb, room = i->response_max - c->response_len;
    size_t take = n < room ? n : room;
    if (take < n) {
        c->response_truncated = 1;
        if (i->sync)
            return 0; /* CURLE_WRITE_ERROR: the transfer ends now */
    }
    if (!take)
        return n;
    size_t need = c->response_len + take + 1;
    if (need > i->response_cap) {
        size_t cap = i->response_cap ? i->response_cap : 1024;
        while (cap < need)
            cap *= 2;
        c->response = eg_xrealloc(c->response, cap);
        i->response_cap = cap;
    }
    memcpy(c->response + c->response_len, ptr, take);
    c->response_len += take;
    c->response[c->response_len] = '\0';
    return n;
}

static void start_attempt(eg_invoker_t *r, inv_t *i);
static int start_hook(eg_invoker_t *r, inv_t *i, const cJSON *fn, char *err, size_t errlen);

/* Retries: connection errors, timeouts, 429 and 5xx are retried after
 * min(maxDelay, base * 2^(n-1)) with full jitter in [d/2, d]; attempts, base
 * and cap from the function's "retry" object, else the settings. After the
 * last attempt, on any other answer (4xx), on an unknown function type, on a
 * record without the eg-* headers, or on a function that is still missing
 * after a short grace re-check (this process's configuration may lag the
 * router's), the invocation goes to the dead-letter topic (acks=all,
 * idempotent producer). Every call carries its record's hop count plus one
 * (Eg-Hops, eg_kafka_hdr.h), so that an event a function posts back to the
 * Events API is known there for what it is. */

/* The attempt failed with a retryable error: schedule the next one or give up. */
static void retry_or_give_up(eg_invoker_t *r, inv_t *i)
{
    if (i->attempts >= i->max_attempts) {
        eg_attempt_dead_letter(r, i, i->last_status, i->last_error);
        return;
    }
    char attempt[16], st[16];
    snprintf(attempt, sizeof attempt, "%d", i->attempts);
    snprintf(st, sizeof st, "%ld", i->last_status);
    if (r->draining) {
        i->state = INV_PARKED;
        EG_LOGF(EG_LOG_LEVEL_WARN, COMP, INV_FIELDS2(i, "attempt", attempt, "status", st), 6,
                "attempt failed: %s; shutting down, left for the next owner", i->last_error);
        return;
    }
    int64_t d =
        eg__invoker_backoff_ms(i->attempts, i->base_ms, i->max_ms, eg__invoker_rand(&r->rng));
    EG_LOGF(EG_LOG_LEVEL_WARN, COMP, INV_FIELDS2(i, "attempt", attempt, "status", st), 6,
            "attempt %d of %d failed: %s; retry in %" PRId64 " ms", i->attempts, i->max_attempts,
            i->last_error, d);
    eg_metric_add(r->rt->mx.retries, INV_LABELS(i), 1);
    i->state = INV_WAITING;
    eg_engine_schedule(r, i, TK_ATTEMPT, eg_time_mono_ms() + d);
}

static int json_int(const cJSON *o, const char *name, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 86400000)
        return def;
    return (int)v->valuedouble;
}

static void start_attempt(eg_invoker_t *r, inv_t *i)
{
    const eg_settings_t *s = r->s;
    char err[512] = "";
    int rc = -1, ready = 0;

    free(i->call.response);
    i->call.response = NULL;
    i->response_cap = 0;
    i->call.response_len = 0;
    i->call.response_truncated = 0;
    i->call.curl_error[0] = '\0';
    i->call.code = CURLE_OK;
    i->call.status = 0;
    i->call.attempt = i->attempts + 1;

    long timeout = s->function_timeout_ms > 0 ? s->function_timeout_ms : 10000;
    if (i->sync) {
        /* The caller waits until the deadline, no longer. */
        int64_t t = eg__invoker_sync_timeout_ms(i->deadline_ms, eg_time_now_ms(), (int)timeout);
        if (t <= 0) {
            EG_LOGF(EG_LOG_LEVEL_DEBUG, COMP, SYNC_FIELDS(i, NULL), 6,
                    "deadline passed before the call: not called, no reply");
            eg_intake_inv_finish(r, i);
            return;
        }
        timeout = (long)t;
    }

    const eg_config_t *cfg = eg_configlog_read_begin(r->rt->config);
    const cJSON *fn = eg_config_function(cfg, i->space, i->fn);
    const cJSON *type = fn ? cJSON_GetObjectItemCaseSensitive(fn, "type") : NULL;
    const char *tname = cJSON_IsString(type) ? type->valuestring : "";
    if (!fn) {
        snprintf(err, sizeof err, "function %s not found in space %s", i->fn, i->space);
    } else if (!(i->provider = eg_provider_find(tname))) {
        snprintf(err, sizeof err, "provider %s not supported", tname);
    } else if (!i->provider->start && !(i->call.easy = easy_get(r))) {
        snprintf(err, sizeof err, "out of memory");
    } else {
        const cJSON *retry = cJSON_GetObjectItemCaseSensitive(fn, "retry");
        i->max_attempts = json_int(retry, "attempts", s->retry_attempts);
        i->base_ms = json_int(retry, "baseDelayMs", s->retry_base_ms);
        i->max_ms = json_int(retry, "maxDelayMs", s->retry_max_ms);
        if (i->max_attempts < 1 || i->sync)
            i->max_attempts = 1; /* a sync caller waits: no retry */
        ready = 1;
    }
    if (ready && i->provider->start) {
        rc = start_hook(r, i, fn, err, sizeof err);
    } else if (ready) {
        CURL *e = i->call.easy;
        curl_easy_setopt(e, CURLOPT_PRIVATE, i);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                         timeout < CONNECT_TIMEOUT_MS ? timeout : (long)CONNECT_TIMEOUT_MS);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, i);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, i->call.curl_error);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "event-gateway/" EG_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
        curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        eg_netpolicy_guard(r->policy, &i->guard, e);
        rc = i->provider->prepare(&i->call, fn, err, sizeof err);
    }
    eg_configlog_read_end(r->rt->config);

    if (rc) {
        eg_attempt_release(r, i);
        if (!fn && !i->fn_grace) {
            /* Our configuration may not have caught up with the router's
             * (a sync caller's deadline allows half its time for that). */
            int64_t grace = FN_GRACE_MS;
            if (i->sync && timeout / 2 < grace)
                grace = timeout / 2;
            i->fn_grace = 1;
            i->state = INV_WAITING;
            eg_engine_schedule(r, i, TK_ATTEMPT, eg_time_mono_ms() + grace);
            return;
        }
        if (i->sync)
            eg_replies_sync_reply(r, i, NULL, EG_CALL_FINAL, err);
        else
            eg_attempt_dead_letter(r, i, 0, err);
        return;
    }
    CURLMcode mc = i->call.easy ? curl_multi_add_handle(r->multi, i->call.easy) : CURLM_OK;
    i->attempt_start = eg_time_mono_ms();
    if (mc != CURLM_OK) {
        eg_attempt_release(r, i);
        i->attempts++;
        i->last_status = 0;
        snprintf(i->last_error, sizeof i->last_error, "%s", curl_multi_strerror(mc));
        if (i->sync)
            eg_replies_sync_reply(r, i, NULL, EG_CALL_FINAL, i->last_error);
        else
            retry_or_give_up(r, i);
        return;
    }
    i->state = INV_CALLING;
    eg_attempt_calling(r, 1);
}

/* The in-flight budget of the engine's input (--max-inflight). */
size_t eg_attempt_budget(const eg_invoker_t *r)
{
    return r->s->max_inflight > 0 ? (size_t)r->s->max_inflight : 2048;
}

/* Starts an attempt now, or, when the budget is spent or others wait
 * already, queues the invocation until calls end (eg_attempt_start_queued). */
void eg_attempt_begin(eg_invoker_t *r, inv_t *i)
{
    if (!r->qhead && r->ncalling < eg_attempt_budget(r)) {
        start_attempt(r, i);
        return;
    }
    i->state = INV_QUEUED;
    i->qnext = NULL;
    i->qprev = r->qtail;
    if (r->qtail)
        r->qtail->qnext = i;
    else
        r->qhead = i;
    r->qtail = i;
    r->nqueued++;
    eg_metric_add(r->rt->mx.queued, NULL, 1);
}

/* Starts queued attempts, oldest first, while the budget allows; a queued
 * one of a revoked partition is dropped (its new owner calls), and while
 * shutting down they are all left for the next owner. */
void eg_attempt_start_queued(eg_invoker_t *r)
{
    while (r->qhead && (r->draining || r->ncalling < eg_attempt_budget(r))) {
        inv_t *i = r->qhead;
        eg_attempt_queue_unlink(r, i);
        if (i->part->revoked)
            eg_intake_inv_free(r, i);
        else if (r->draining)
            i->state = INV_PARKED;
        else
            start_attempt(r, i);
    }
}

/* An attempt ended with verdict v (err: a failure's text). */
static void attempt_end(eg_invoker_t *r, inv_t *i, eg_call_verdict_t v, const char *err)
{
    long status = i->call.status;
    eg_attempt_release(r, i);
    eg_attempt_calling(r, 0);
    eg_metric_observe(r->rt->mx.invocation_duration, INV_LABELS(i),
                      (double)(eg_time_mono_ms() - i->attempt_start) / 1000.0);
    eg_metric_add(r->rt->mx.invocations,
                  (const char *const[]){i->space, i->fn, v == EG_CALL_OK ? "success" : "failure"},
                  1);
    i->state = INV_WAITING; /* not calling any more */
    i->attempts++;
    if (i->sync) {
        /* Replied even when the partition was revoked meanwhile: the caller
         * waits, and a second reply (from the new owner) is dropped. */
        eg_replies_sync_reply(r, i, &i->call, v, err);
        return;
    }
    if (i->part->revoked) {
        eg_intake_inv_free(r, i); /* the partition's new owner calls again */
        return;
    }
    if (v == EG_CALL_OK) {
        if (eg_log_enabled(EG_LOG_LEVEL_DEBUG)) {
            char st[16], ms[24];
            snprintf(st, sizeof st, "%ld", status);
            snprintf(ms, sizeof ms, "%" PRId64, eg_time_mono_ms() - i->attempt_start);
            EG_LOGF(EG_LOG_LEVEL_DEBUG, COMP, INV_FIELDS2(i, "status", st, "ms", ms), 6,
                    "delivered (attempt %d)", i->attempts);
        }
        eg_intake_inv_finish(r, i);
        return;
    }
    i->last_status = status;
    snprintf(i->last_error, sizeof i->last_error, "%s", err);
    if (v == EG_CALL_FINAL) {
        eg_attempt_dead_letter(r, i, status, i->last_error);
        return;
    }
    retry_or_give_up(r, i);
}

/* The attempt found no address the policy allows (netpolicy.h): it fails
 * like an unreachable function (retried, then dead-lettered), with the
 * reason in err; the first refusal of each (space, function) is logged. */
static void policy_refused(eg_invoker_t *r, inv_t *i, char *err, size_t errlen)
{
    snprintf(err, errlen, "address refused by the gateway's function address policy: %s",
             i->guard.why);
    if (eg_netpolicy_first_refusal(r->policy, i->space, i->fn))
        EG_LOGF(EG_LOG_LEVEL_WARN, COMP,
                ((eg_log_field_t[]){{"function", i->fn},
                                    {"space", i->space},
                                    {"subscription", i->sub},
                                    {"reason", i->guard.why}}),
                4,
                "function %s of space %s not called: %s (--function-deny-cidrs, "
                "--function-allow-cidrs; logged once per function)",
                i->fn, i->space, i->guard.why);
}

/* An HTTP attempt finished (libcurl reported it done). */
void eg_attempt_done(eg_invoker_t *r, inv_t *i, CURLcode code)
{
    char err[512] = "";
    long status = 0;
    curl_easy_getinfo(i->call.easy, CURLINFO_RESPONSE_CODE, &status);
    i->call.code = code;
    i->call.status = status;
    eg_call_verdict_t v = i->provider->classify(&i->call, err, sizeof err);
    if (i->guard.refused && code == CURLE_COULDNT_CONNECT)
        policy_refused(r, i, err, sizeof err);
    attempt_end(r, i, v, err);
}

/* Takes the completions of start-hook attempts (loop thread). */
void eg_attempt_done_drain(eg_invoker_t *r)
{
    pthread_mutex_lock(&r->doneq->mu);
    eg_call_done_t *d = r->doneq->head;
    r->doneq->head = r->doneq->tail = NULL;
    for (eg_call_done_t *x = d; x; x = x->next)
        if (x->inv)
            x->inv->call.done = NULL; /* the engine owns x from here */
    pthread_mutex_unlock(&r->doneq->mu);
    while (d) {
        eg_call_done_t *next = d->next;
        if (d->inv)
            attempt_end(r, d->inv, d->verdict, d->err);
        free(d);
        d = next;
    }
}

/* Begins an attempt through the provider's start hook (read lock held). */
static int start_hook(eg_invoker_t *r, inv_t *i, const cJSON *fn, char *err, size_t errlen)
{
    eg_call_done_t *d = eg_xcalloc(1, sizeof *d);
    d->q = r->doneq;
    d->inv = i;
    pthread_mutex_lock(&r->doneq->mu);
    r->doneq->refs++; /* the completion's */
    pthread_mutex_unlock(&r->doneq->mu);
    i->call.done = d;
    if (i->provider->start(&i->call, fn, err, errlen) == 0)
        return 0;
    /* Never completed: the engine takes its reference back. */
    int last = 0;
    i->call.done = NULL;
    pthread_mutex_lock(&r->doneq->mu);
    eg_attempt_doneq_unref_locked(r->doneq, &last);
    pthread_mutex_unlock(&r->doneq->mu);
    free(d);
    return -1;
}

/* ---- the dead-letter producer's delivery reports ---- */

void eg_attempt_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    eg_invoker_t *r = opaque;
    inv_t *i = m->_private;
    if (!i)
        return;
    if (i->state == INV_OVERFLOW) {
        if (!m->err) {
            eg_backlog_produced(r->rt->backlog, m);
            eg_metric_add(r->rt->mx.overflowed, INV_LABELS(i), 1);
            eg_intake_inv_finish(r, i);
        } else if (i->part->revoked) {
            eg_intake_inv_free(r, i); /* the partition's new owner takes it from here */
        } else {
            eg_intake_overflow_fall_back(r, i, rd_kafka_err2str(m->err));
        }
        return;
    }
    if (m->err) {
        EG_LOGF(EG_LOG_LEVEL_WARN, COMP, INV_FIELDS(i), 4,
                "dead letter not delivered (%s); sending again in %d ms", rd_kafka_err2str(m->err),
                DLQ_RESEND_MS);
        if (i->part->revoked)
            eg_intake_inv_free(r, i);
        else
            eg_engine_schedule(r, i, TK_DLQ, eg_time_mono_ms() + DLQ_RESEND_MS);
        return;
    }
    eg_intake_inv_finish(r, i);
}
