/*
 * The router's transactional producer; see txn.h for the error classes.
 *
 * Every transactional call goes through run(): it calls librdkafka with a
 * short timeout (CALL_TIMEOUT_MS, so that a stop is noticed), calls again
 * while the error is retriable (commit and abort resume where they were;
 * send_offsets_to_transaction and init_transactions start over), and says
 * which way it ended. Retries are logged when they start, every 10 s while
 * they last, and when they end.
 */
#include "txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eg_alloc.h"
#include "eg_log.h"
#include "eg_time.h"

#define CALL_TIMEOUT_MS 2000
#define RETRY_LOG_MS 10000

struct eg_txn {
    eg_runtime_t *rt;
    rd_kafka_conf_t *conf; /* every producer is built from a copy */
    rd_kafka_t *rk;
    const atomic_int *stop;
    char txid[512];
    int open;
    int failed; /* eg_runtime_fail was called: nothing more is tried */
    int64_t fenced_at[EG_TXN_FENCED_MAX - 1]; /* the fences before the last, a ring */
    int fenced_next;
};

enum op { OP_INIT, OP_BEGIN, OP_SEND_OFFSETS, OP_COMMIT, OP_ABORT };
enum { R_DONE, R_ABORT, R_FATAL, R_STOPPED };

static const char *const op_what[] = {
    "initialising the transactional producer", "beginning a transaction",
    "sending the offsets to the transaction", "committing the fan-out", "aborting the transaction"};

static rd_kafka_error_t *call(eg_txn_t *t, enum op op, const rd_kafka_topic_partition_list_t *offs,
                              const rd_kafka_consumer_group_metadata_t *gm)
{
    switch (op) {
    case OP_INIT:
        return rd_kafka_init_transactions(t->rk, CALL_TIMEOUT_MS);
    case OP_BEGIN:
        return rd_kafka_begin_transaction(t->rk);
    case OP_SEND_OFFSETS:
        return rd_kafka_send_offsets_to_transaction(t->rk, offs, gm, CALL_TIMEOUT_MS);
    case OP_COMMIT:
        return rd_kafka_commit_transaction(t->rk, CALL_TIMEOUT_MS);
    default:
        return rd_kafka_abort_transaction(t->rk, CALL_TIMEOUT_MS);
    }
}

/* Calls op until it succeeds (R_DONE), needs an abort (R_ABORT), cannot
 * succeed with this producer (R_FATAL; *code says why), or the role stops
 * (R_STOPPED, after the grace period) or give_up_ms (> 0) passes. */
static int run(eg_txn_t *t, enum op op, const rd_kafka_topic_partition_list_t *offs,
               const rd_kafka_consumer_group_metadata_t *gm, int give_up_ms,
               rd_kafka_resp_err_t *code, char *why, size_t whylen)
{
    int64_t start = eg_time_mono_ms(), stop_seen = 0, log_due = 0;
    int tries = 0;
    for (;;) {
        int64_t t0 = eg_time_mono_ms();
        rd_kafka_error_t *e = call(t, op, offs, gm);
        int64_t now = eg_time_mono_ms();
        if (!e) {
            if (tries)
                EG_LOG_INFO("router", "%s: done after %.1f s of retries", op_what[op],
                            (double)(now - start) / 1000.0);
            return R_DONE;
        }
        snprintf(why, whylen, "%s", rd_kafka_error_string(e));
        *code = rd_kafka_error_code(e);
        int fatal = rd_kafka_error_is_fatal(e), abortable = rd_kafka_error_txn_requires_abort(e),
            retriable = rd_kafka_error_is_retriable(e);
        rd_kafka_error_destroy(e);
        if (fatal || (!abortable && !retriable)) {
            EG_LOG_ERROR("router", "%s: %s (%s)", op_what[op], why,
                         fatal ? "fatal" : "not retriable");
            return R_FATAL;
        }
        if (abortable) {
            EG_LOG_WARN("router", "%s: %s: the transaction is aborted", op_what[op], why);
            return R_ABORT;
        }
        tries++;
        if (now >= log_due) {
            EG_LOG_WARN("router", "%s: %s (retrying; %.0f s so far)", op_what[op], why,
                        (double)(now - start) / 1000.0);
            log_due = now + RETRY_LOG_MS;
        }
        if (atomic_load(t->stop) && !stop_seen)
            stop_seen = now;
        if ((stop_seen && now - stop_seen >= EG_TXN_STOP_GRACE_MS) ||
            (give_up_ms > 0 && now - start >= give_up_ms)) {
            EG_LOG_WARN("router", "%s: given up after %.1f s (%s)", op_what[op],
                        (double)(now - start) / 1000.0, stop_seen ? "stopping" : "timed out");
            return R_STOPPED;
        }
        if (now - t0 < 100)
            usleep(100 * 1000); /* an error that comes at once is not asked again at once */
    }
}

/* A new producer from the template; NULL with a message in err. */
static rd_kafka_t *producer_new(eg_txn_t *t, char *err, size_t errlen)
{
    rd_kafka_conf_t *c = rd_kafka_conf_dup(t->conf);
    char kerr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, kerr, sizeof kerr);
    if (!rk) {
        rd_kafka_conf_destroy(c);
        snprintf(err, errlen, "router producer: %s", kerr);
    }
    return rk;
}

static void producer_free(rd_kafka_t *rk)
{
    if (!rk)
        return;
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk, 0); /* the purged records' delivery reports */
    rd_kafka_destroy(rk);
}

static int is_fenced(rd_kafka_resp_err_t code)
{
    return code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* The producer is of no use: a new one with the same transactional id. */
static void rebuild(eg_txn_t *t, rd_kafka_resp_err_t code, const char *why)
{
    char fault[1200], err[512] = "";
    t->open = 0;
    if (is_fenced(code)) {
        int64_t now = eg_time_mono_ms(), oldest = t->fenced_at[t->fenced_next];
        t->fenced_at[t->fenced_next] = now;
        t->fenced_next = (t->fenced_next + 1) % (EG_TXN_FENCED_MAX - 1);
        if (oldest && now - oldest < EG_TXN_FENCED_WINDOW_MS) {
            snprintf(fault, sizeof fault,
                     "transactional id %s was fenced %d times within %d s: another process uses "
                     "it (give every router its own --instance-id)",
                     t->txid, EG_TXN_FENCED_MAX, EG_TXN_FENCED_WINDOW_MS / 1000);
            t->failed = 1;
            eg_runtime_fail(t->rt, "router", fault);
            return;
        }
    }
    snprintf(fault, sizeof fault, "building a new transactional producer: the last one failed: %s",
             why);
    eg_runtime_set_fault(t->rt, "router", fault);
    EG_LOG_WARN("router", "%s", fault);
    producer_free(t->rk);
    if (!(t->rk = producer_new(t, err, sizeof err))) {
        t->failed = 1;
        eg_runtime_fail(t->rt, "router", err);
        return;
    }
    rd_kafka_resp_err_t c = 0;
    int rc = run(t, OP_INIT, NULL, NULL, 0, &c, err, sizeof err);
    if (rc == R_DONE) {
        eg_runtime_set_fault(t->rt, "router", NULL);
        EG_LOG_INFO("router", "a new transactional producer (%s) is ready", t->txid);
    } else if (rc != R_STOPPED) {
        snprintf(fault, sizeof fault, "a new transactional producer could not be initialised: %s",
                 err);
        t->failed = 1;
        eg_runtime_fail(t->rt, "router", fault);
    }
}

/* Ends the open transaction after an abortable error (or a fatal one). */
static void abort_open(eg_txn_t *t)
{
    char why[512] = "";
    rd_kafka_resp_err_t code = 0;
    int rc = run(t, OP_ABORT, NULL, NULL, 0, &code, why, sizeof why);
    t->open = 0;
    if (rc == R_FATAL || rc == R_ABORT)
        rebuild(t, code, why);
}

void eg_txn_renew(eg_txn_t *t, const char *why)
{
    if (!t->failed)
        rebuild(t, RD_KAFKA_RESP_ERR_NO_ERROR, why);
}

eg_txn_t *eg_txn_new(eg_runtime_t *rt, rd_kafka_conf_t *conf, const atomic_int *stop,
                     int init_timeout_ms, char *err, size_t errlen)
{
    eg_txn_t *t = eg_xcalloc(1, sizeof *t);
    size_t n = sizeof t->txid;
    t->rt = rt;
    t->conf = conf;
    t->stop = stop;
    if (rd_kafka_conf_get(conf, "transactional.id", t->txid, &n) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "router producer: no transactional.id");
        goto fail;
    }
    if (!(t->rk = producer_new(t, err, errlen)))
        goto fail;
    rd_kafka_resp_err_t code = 0;
    char why[512] = "";
    if (run(t, OP_INIT, NULL, NULL, init_timeout_ms, &code, why, sizeof why) != R_DONE) {
        snprintf(err, errlen, "router transactions: %s", why);
        goto fail;
    }
    return t;
fail:
    eg_txn_free(t);
    return NULL;
}

void eg_txn_free(eg_txn_t *t)
{
    if (!t)
        return;
    if (t->rk) {
        rd_kafka_flush(t->rk, 5000);
        producer_free(t->rk);
    }
    if (t->conf)
        rd_kafka_conf_destroy(t->conf);
    free(t);
}

rd_kafka_t *eg_txn_producer(const eg_txn_t *t)
{
    return t->rk;
}

const char *eg_txn_id(const eg_txn_t *t)
{
    return t->txid;
}

int eg_txn_open(const eg_txn_t *t)
{
    return t->open;
}

int eg_txn_failed(const eg_txn_t *t)
{
    return t->failed;
}

int eg_txn_begin(eg_txn_t *t)
{
    if (t->open)
        return 0;
    if (t->failed)
        return -1;
    char why[512] = "";
    rd_kafka_resp_err_t code = 0;
    int rc = run(t, OP_BEGIN, NULL, NULL, 0, &code, why, sizeof why);
    if (rc == R_DONE) {
        t->open = 1;
        return 0;
    }
    if (rc == R_ABORT)
        abort_open(t);
    else if (rc == R_FATAL)
        rebuild(t, code, why);
    return -1;
}

int eg_txn_produce(eg_txn_t *t, const char *topic, const void *key, size_t klen, const void *val,
                   size_t vlen, rd_kafka_headers_t *hdrs)
{
    int64_t stop_seen = 0;
    if (t->failed) {
        rd_kafka_headers_destroy(hdrs);
        return -1;
    }
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            t->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (!e)
            return 0;
        int64_t now = eg_time_mono_ms();
        if (atomic_load(t->stop) && !stop_seen)
            stop_seen = now;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
            (!stop_seen || now - stop_seen < EG_TXN_STOP_GRACE_MS)) {
            rd_kafka_poll(t->rk, 100); /* the queue drains as Kafka takes records */
            continue;
        }
        rd_kafka_headers_destroy(hdrs);
        EG_LOG_ERROR("router", "producing to %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
}

int eg_txn_commit(eg_txn_t *t, const rd_kafka_topic_partition_list_t *offsets, rd_kafka_t *consumer)
{
    if (!t->open)
        return EG_TXN_COMMITTED;
    if (t->failed) {
        t->open = 0;
        return EG_TXN_ABORTED;
    }
    char why[512] = "";
    rd_kafka_resp_err_t code = 0;
    int rc = R_DONE, asked = 0;
    if (offsets && offsets->cnt) {
        rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(consumer);
        rc = run(t, OP_SEND_OFFSETS, offsets, gm, 0, &code, why, sizeof why);
        rd_kafka_consumer_group_metadata_destroy(gm);
    }
    if (rc == R_DONE) {
        asked = 1;
        rc = run(t, OP_COMMIT, NULL, NULL, 0, &code, why, sizeof why);
    }
    if (rc == R_DONE) {
        t->open = 0;
        return EG_TXN_COMMITTED;
    }
    if (rc == R_ABORT)
        abort_open(t);
    else if (rc == R_FATAL)
        rebuild(t, code, why);
    t->open = 0; /* stopping: what is open is the coordinator's business now */
    return asked ? EG_TXN_UNKNOWN : EG_TXN_ABORTED;
}

void eg_txn_abort(eg_txn_t *t)
{
    if (t->open && !t->failed)
        abort_open(t);
    t->open = 0;
}
