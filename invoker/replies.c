/*
 * replies.c: sync invocations end with ONE reply record (eg_reply_encode) to
 * eg-reply-to, partitioned by key, key and header eg-correlation = the
 * correlation id, whatever happened (2xx, other answers, connection error,
 * timeout, unknown function, a missing header): never a retry (the client
 * waits), never a dead letter. ok = 2xx; the answer's body goes with it up to
 * EG_REPLY_MAX_BODY (a longer one is a failure "answer too large"). A call
 * read after its deadline (eg-deadline) is not made, and a reply that would
 * come after it is not sent. The record's offset is finished on the reply's
 * delivery report.
 *
 * The first part is pure (no state, no I/O; safe from any thread): the time
 * a call may take and the reply record. The second sends replies on the
 * sync engine's reply producer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_kafka_hdr.h"
#include "eg_log.h"
#include "eg_reply.h"
#include "eg_time.h"
#include "invoker_int.h"

#define REPLY_RESEND_MS 10 /* a reply a full producer queue refused is sent again */

/* ---- the pure parts ---- */

int64_t eg__invoker_parse_deadline(const char *v)
{
    if (!v || *v < '0' || *v > '9')
        return 0;
    char *end = NULL;
    errno = 0;
    long long d = strtoll(v, &end, 10);
    if (errno || !end || *end || d <= 0)
        return 0;
    return (int64_t)d;
}

int64_t eg__invoker_sync_timeout_ms(int64_t deadline_ms, int64_t now_ms, int function_timeout_ms)
{
    int64_t t = function_timeout_ms > 0 ? function_timeout_ms : 10000;
    if (deadline_ms <= 0)
        return t;
    if (deadline_ms <= now_ms)
        return 0;
    return deadline_ms - now_ms < t ? deadline_ms - now_ms : t;
}

char *eg__invoker_reply_value(const char *correlation, int ok, long status, const char *body,
                              size_t body_len, const char *error)
{
    eg_reply_t rep = {
        .correlation = (char *)correlation,
        .ok = ok,
        .status = status < 0 ? 0 : status,
        .error = ok ? NULL : (char *)(error && *error ? error : "call failed"),
        .body = (char *)body,
        .body_len = body ? body_len : 0,
    };
    return eg_reply_encode(&rep);
}

char *eg__invoker_sync_reply(const char *correlation, const eg_call_t *call, eg_call_verdict_t v,
                             const char *err)
{
    if (!call)
        return eg__invoker_reply_value(correlation, 0, 0, NULL, 0, err);
    if (call->response_truncated || call->response_len > EG_REPLY_MAX_BODY)
        return eg__invoker_reply_value(correlation, 0, call->status, NULL, 0,
                                       EG__INVOKER_TOO_LARGE);
    int answered = call->code == CURLE_OK && call->status > 0;
    return eg__invoker_reply_value(correlation, answered && v == EG_CALL_OK, call->status,
                                   answered ? (call->response ? call->response : "") : NULL,
                                   answered ? call->response_len : 0, err);
}

/* ---- sending ---- */

int eg_replies_deadline_passed(const inv_t *i)
{
    return i->deadline_ms > 0 && eg_time_now_ms() >= i->deadline_ms;
}

/* Replaces a reply Kafka refuses as too big by one that says so. */
static int reply_shrink(inv_t *i)
{
    free(i->reply_value);
    i->reply_small = 1;
    i->reply_value =
        eg__invoker_reply_value(i->correlation, 0, i->call.status, NULL, 0, EG__INVOKER_TOO_LARGE);
    return i->reply_value ? 0 : -1;
}

/* Hands the reply to the reply producer (eg-reply-to, partitioned by key, key and
 * eg-correlation = the correlation id); the invocation finishes on its
 * delivery report, or now when it cannot be sent. */
void eg_replies_send(eg_invoker_t *r, inv_t *i)
{
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(r->replier, RD_KAFKA_V_TOPIC(i->reply_to),
                              RD_KAFKA_V_KEY(i->correlation, strlen(i->correlation)),
                              RD_KAFKA_V_VALUE(i->reply_value, strlen(i->reply_value)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                              RD_KAFKA_V_HEADER(EG_HDR_CORRELATION, i->correlation, -1),
                              RD_KAFKA_V_HEADER(EG_HDR_CONTENT_TYPE, "application/json", -1),
                              RD_KAFKA_V_OPAQUE(i), RD_KAFKA_V_END);
        if (!e) {
            i->reply_value = NULL; /* the producer frees it */
            return;
        }
        if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && !i->reply_small && !reply_shrink(i))
            continue;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !eg_replies_deadline_passed(i)) {
            eg_engine_schedule(r, i, TK_REPLY, eg_time_mono_ms() + REPLY_RESEND_MS);
            return;
        }
        EG_LOGF(EG_LOG_LEVEL_WARN, COMP, SYNC_FIELDS(i, NULL), 6,
                "reply to %s not taken by the producer (%s); dropped", i->reply_to,
                rd_kafka_err2str(e));
        break;
    }
    eg_intake_inv_finish(r, i);
}

/* A sync invocation is over: ONE reply goes to the waiting ingress, whatever
 * happened (never a retry, never a dead letter). call: the attempt made, or
 * NULL when none could be; v, err: its verdict and error text. Past the
 * deadline nobody waits any more: no reply, the record is finished. */
void eg_replies_sync_reply(eg_invoker_t *r, inv_t *i, const eg_call_t *call, eg_call_verdict_t v,
                           const char *err)
{
    char st[16];
    snprintf(st, sizeof st, "%ld", call ? call->status : 0L);
    int too_large = call && call->response_truncated;
    if (v != EG_CALL_OK || too_large)
        EG_LOGF(EG_LOG_LEVEL_WARN, COMP, SYNC_FIELDS(i, st), 6, "sync call failed: %s",
                too_large     ? EG__INVOKER_TOO_LARGE
                : err && *err ? err
                              : "call failed");
    else if (eg_log_enabled(EG_LOG_LEVEL_DEBUG))
        EG_LOGF(EG_LOG_LEVEL_DEBUG, COMP, SYNC_FIELDS(i, st), 6,
                "sync call answered in %" PRId64 " ms", eg_time_mono_ms() - i->attempt_start);
    if (eg_replies_deadline_passed(i)) {
        EG_LOGF(EG_LOG_LEVEL_DEBUG, COMP, SYNC_FIELDS(i, st), 6,
                "deadline passed: nobody waits for the reply, none sent");
        eg_intake_inv_finish(r, i);
        return;
    }
    i->reply_value = eg__invoker_sync_reply(i->correlation, call, v, err);
    i->state = INV_REPLY;
    r->nreply++;
    eg_replies_send(r, i);
}

void eg_replies_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    eg_invoker_t *r = opaque;
    inv_t *i = m->_private;
    (void)rk;
    if (!i)
        return;
    if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && !i->reply_small && !reply_shrink(i)) {
        eg_replies_send(r, i);
        return;
    }
    if (m->err)
        EG_LOGF(EG_LOG_LEVEL_WARN, COMP, SYNC_FIELDS(i, NULL), 6, "reply to %s not delivered: %s",
                i->reply_to, rd_kafka_err2str(m->err));
    eg_intake_inv_finish(r, i);
}
