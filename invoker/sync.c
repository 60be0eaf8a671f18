/*
 * sync.c: the pure parts of sync invocations (see invoker_int.h): the time a
 * call may take before its caller stops waiting, and the reply record.
 * No state, no I/O; safe from any thread.
 */
#include <errno.h>
#include <stdlib.h>

#include "eg_reply.h"
#include "invoker_int.h"

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
