/*
 * eg_configlog: the configuration log follower and writer. Design in
 * eg_configlog.h. Implementation notes:
 *
 * - The consumer reads partition 0 with assign() (no consumer group: every
 *   process reads the whole log) from the beginning. Readiness: the high
 *   watermark is looked up once at start; ready when the position reaches it.
 * - Writers register a waiter under their record id before producing; the
 *   consumer thread fills the waiter's verdict when it applies that record.
 *   Delivery failures reach the waiter through the producer's delivery report,
 *   served by rd_kafka_poll in the consumer thread.
 * - Garbage (record keys that must be tombstoned): see the header. The
 *   consumer thread keeps, per live resource, the keys of its records (create
 *   first), and the garbage keys in the order they became garbage (a list,
 *   with a map from key to entry), with when they were seen. The sweep walks
 *   that list from its oldest entry and stops at the first it may not
 *   tombstone yet: the header's rule.
 */
#include "eg_configlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eg_alloc.h"
#include "eg_json.h"
#include "eg_kafka_client.h"
#include "eg_log.h"
#include "eg_map.h"
#include "eg_time.h"

#define GARBAGE_GRACE_MS 30000
/* space / kind / id / record id */
#define RECORD_KEY_MAX (EG_MAX_NAME + 16 + EG_MAX_ID + 100)

typedef struct waiter {
    struct waiter *next;
    char rid[96];
    int done;
    int ok;
    eg_error_t err;
    cJSON *result;
} waiter_t;

typedef struct keylist {
    char **keys; /* keys[0]: the create record */
    size_t n;
} keylist_t;

typedef struct garbage {
    struct garbage *prev, *next; /* in the order the keys became garbage */
    int64_t seen_ms;
    int mine;
    int sent;
    char key[]; /* the record key */
} garbage_t;

struct eg_configlog {
    eg_settings_t const *settings;
    char topic[256];
    int writer;
    char instance[40];
    char rid_prefix[64]; /* instance + a random part: unique across restarts */
    atomic_uint_fast64_t seq;

    rd_kafka_t *consumer;
    rd_kafka_t *producer;

    pthread_t thread;
    int thread_started;
    atomic_int stop;

    pthread_rwlock_t lock; /* guards cfg */
    eg_config_t *cfg;

    pthread_mutex_t mu; /* guards waiters, ready, position */
    pthread_cond_t cond;
    waiter_t *waiters;
    int ready;
    int64_t start_hw;
    int64_t position;

    /* consumer thread only */
    eg_map_t *keys;               /* "kind/space/id" -> keylist_t* */
    eg_map_t *garbage;            /* record key -> garbage_t*, the entries of: */
    garbage_t *gc_head, *gc_tail; /* oldest garbage first */
};

/* ---- record codec ---- */

char *eg_config_record_encode(const eg_change_t *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "op", eg_op_name(c->op));
    cJSON_AddStringToObject(o, "space", c->space);
    cJSON_AddStringToObject(o, "kind", eg_kind_name(c->kind));
    cJSON_AddStringToObject(o, "id", c->id);
    if (c->data)
        cJSON_AddItemToObject(o, "data", cJSON_Duplicate(c->data, 1));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

void eg_config_record_release(eg_config_record_t *r)
{
    free(r->rid);
    r->rid = NULL;
    eg_change_release(&r->change);
}

static const char *json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int eg_config_record_decode(const char *key, size_t klen, const char *value, size_t vlen,
                            eg_config_record_t *out, eg_error_t *err)
{
    memset(out, 0, sizeof *out);
    const char *slash = key ? memrchr(key, '/', klen) : NULL;
    if (!slash || slash + 1 == key + klen)
        return eg_error_set(err, 400, "record key has no record id");
    size_t ridlen = (size_t)(key + klen - slash - 1);
    if (ridlen > 80)
        return eg_error_set(err, 400, "record id too long");
    cJSON *o = value ? eg_json_parse_record(value, vlen) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return eg_error_set(err, 400, "record value is not a JSON object");
    }
    int rc = -1;
    const char *op = json_str(o, "op"), *space = json_str(o, "space"), *kind = json_str(o, "kind"),
               *id = json_str(o, "id");
    eg_kind_t k;
    eg_op_t eop;
    if (!op || !space || !kind || !id) {
        eg_error_set(err, 400, "record needs op, space, kind and id");
        goto out;
    }
    if (eg_kind_parse(kind, strlen(kind), &k)) {
        eg_error_set(err, 400, "unknown kind %.64s", kind);
        goto out;
    }
    if (!strcmp(op, "create"))
        eop = EG_OP_CREATE;
    else if (!strcmp(op, "update"))
        eop = EG_OP_UPDATE;
    else if (!strcmp(op, "delete"))
        eop = EG_OP_DELETE;
    else {
        eg_error_set(err, 400, "unknown op %.64s", op);
        goto out;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(o, "data");
    if (eop != EG_OP_DELETE && !cJSON_IsObject(data)) {
        eg_error_set(err, 400, "record without data");
        goto out;
    }
    char *body = data && eop != EG_OP_DELETE ? cJSON_PrintUnformatted(data) : NULL;
    /* Records are validated and normalised exactly as API requests are: a
     * record written by any Kafka client gets the same rules. */
    rc = eg_change_from_request(&out->change, eop, k, space, eop == EG_OP_CREATE ? NULL : id, body,
                                body ? strlen(body) : 0, err);
    free(body);
    if (rc)
        goto out;
    if (strcmp(out->change.id, id)) {
        eg_change_release(&out->change);
        rc = eg_error_set(err, 400, "record id %.64s does not match its data", id);
        goto out;
    }
    out->rid = eg_xstrndup(slash + 1, ridlen);
out:
    cJSON_Delete(o);
    return rc;
}

/* ---- garbage bookkeeping (consumer thread) ---- */

/* Appends key to the garbage (once: a key already there keeps its place). */
static void garbage_add(eg_configlog_t *log, const char *key, int mine, int64_t now)
{
    if (eg_map_get(log->garbage, key))
        return;
    size_t len = strlen(key);
    garbage_t *g = eg_xcalloc(1, sizeof *g + len + 1);
    memcpy(g->key, key, len + 1);
    g->seen_ms = log->ready ? now : 0; /* found while catching up: sweep at once */
    g->mine = mine;
    eg_map_put(log->garbage, key, g, NULL);
    g->prev = log->gc_tail;
    if (log->gc_tail)
        log->gc_tail->next = g;
    else
        log->gc_head = g;
    log->gc_tail = g;
}

/* The key's tombstone has come back: it is garbage no more. */
static void garbage_collected(eg_configlog_t *log, const char *key)
{
    garbage_t *g = eg_map_del(log->garbage, key);
    if (!g)
        return;
    if (g->prev)
        g->prev->next = g->next;
    else
        log->gc_head = g->next;
    if (g->next)
        g->next->prev = g->prev;
    else
        log->gc_tail = g->prev;
    free(g);
}

static void keylist_free(keylist_t *kl);

static void keylist_free_v(void *kl)
{
    keylist_free(kl);
}

static void keylist_free(keylist_t *kl)
{
    if (!kl)
        return;
    for (size_t i = 0; i < kl->n; i++)
        free(kl->keys[i]);
    free(kl->keys);
    free(kl);
}

static void keylist_append(keylist_t *kl, const char *key)
{
    kl->keys = eg_xrealloc(kl->keys, (kl->n + 1) * sizeof *kl->keys);
    kl->keys[kl->n++] = eg_xstrdup(key);
}

static void resource_key(char *buf, size_t len, const eg_change_t *c)
{
    snprintf(buf, len, "%s/%s/%s", eg_kind_name(c->kind), c->space, c->id);
}

/* Books the keys of an applied record: which keys stay, which become garbage. */
static void track_applied(eg_configlog_t *log, const eg_change_t *c, const char *key, int mine,
                          int64_t now)
{
    char rk[RECORD_KEY_MAX];
    resource_key(rk, sizeof rk, c);
    keylist_t *kl = eg_map_get(log->keys, rk);
    if (c->op == EG_OP_CREATE) {
        if (kl) /* cannot happen: a create is rejected while the resource lives */
            keylist_free(eg_map_del(log->keys, rk));
        kl = eg_xcalloc(1, sizeof *kl);
        keylist_append(kl, key);
        eg_map_put(log->keys, rk, kl, NULL);
        return;
    }
    if (c->op == EG_OP_UPDATE) {
        if (!kl)
            return;
        for (size_t i = 1; i < kl->n; i++) {
            garbage_add(log, kl->keys[i], mine, now);
            free(kl->keys[i]);
        }
        kl->n = kl->n ? 1 : 0;
        keylist_append(kl, key);
        return;
    }
    /* delete: every record of the resource, the deletion record included */
    if (kl) {
        for (size_t i = 0; i < kl->n; i++)
            garbage_add(log, kl->keys[i], mine, now);
        keylist_free(eg_map_del(log->keys, rk));
    }
    garbage_add(log, key, mine, now);
}

/* Tombstones garbage oldest first (the header's rule): one producer, one
 * partition, idempotent, so the tombstones land in that order. It stops at
 * the first entry not due yet (another writer's, within its grace period)
 * or not taken by the producer: no later tombstone may overtake it. A
 * tombstone sent and not back yet is passed over: it is ahead in the
 * producer's queue already. */
static void sweep_garbage(eg_configlog_t *log, int64_t now)
{
    if (!log->writer || !log->ready)
        return;
    for (garbage_t *g = log->gc_head; g; g = g->next) {
        if (g->sent && now - g->seen_ms < GARBAGE_GRACE_MS)
            continue;
        if (!g->mine && g->seen_ms && now - g->seen_ms < GARBAGE_GRACE_MS)
            break;
        rd_kafka_resp_err_t e =
            rd_kafka_producev(log->producer, RD_KAFKA_V_TOPIC(log->topic), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_KEY(g->key, strlen(g->key)), RD_KAFKA_V_VALUE(NULL, 0),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) {
            EG_LOG_WARN("config", "cannot tombstone %s: %s", g->key, rd_kafka_err2str(e));
            break;
        }
        g->sent = 1;
        g->seen_ms = now; /* resend after the grace period if it never shows up */
    }
}

/* ---- applying records (consumer thread) ---- */

static waiter_t *waiter_find(eg_configlog_t *log, const char *rid)
{
    for (waiter_t *w = log->waiters; w; w = w->next)
        if (!strcmp(w->rid, rid))
            return w;
    return NULL;
}

static int rid_is_mine(const eg_configlog_t *log, const char *rid)
{
    size_t n = strlen(log->rid_prefix);
    return !strncmp(rid, log->rid_prefix, n) && rid[n] == '-';
}

static void apply_message(eg_configlog_t *log, const rd_kafka_message_t *m, int64_t now)
{
    if (!m->key || m->key_len > RECORD_KEY_MAX || memchr(m->key, '\0', m->key_len)) {
        EG_LOG_WARN("config", "ignoring a record without a usable key at offset %" PRId64,
                    m->offset);
        return;
    }
    char *key = eg_xstrndup(m->key, m->key_len);
    if (!m->payload) { /* tombstone: the key's garbage is collected */
        garbage_collected(log, key);
        free(key);
        return;
    }

    eg_config_record_t rec;
    eg_error_t err = {0};
    cJSON *result = NULL;
    int ok = 0;
    int decoded = eg_config_record_decode(key, strlen(key), m->payload, m->len, &rec, &err) == 0;
    if (decoded) {
        pthread_rwlock_wrlock(&log->lock);
        ok = eg_config_apply(log->cfg, &rec.change, &err) == 0;
        if (ok && rec.change.op != EG_OP_DELETE)
            result = eg_config_get(log->cfg, rec.change.kind, rec.change.space, rec.change.id);
        pthread_rwlock_unlock(&log->lock);
    }
    int mine = decoded && rid_is_mine(log, rec.rid);
    if (ok) {
        track_applied(log, &rec.change, key, mine, now);
        EG_LOG_DEBUG("config", "applied %s %s/%s/%s at offset %" PRId64, eg_op_name(rec.change.op),
                     rec.change.space, eg_kind_name(rec.change.kind), rec.change.id, m->offset);
    } else {
        garbage_add(log, key, mine, now);
        EG_LOG_DEBUG("config", "rejected record %s at offset %" PRId64 ": %s", key, m->offset,
                     err.message);
    }

    if (decoded) {
        pthread_mutex_lock(&log->mu);
        waiter_t *w = waiter_find(log, rec.rid);
        if (w && !w->done) {
            w->done = 1;
            w->ok = ok;
            w->err = err;
            w->result = result;
            result = NULL;
            pthread_cond_broadcast(&log->cond);
        }
        pthread_mutex_unlock(&log->mu);
        eg_config_record_release(&rec);
    }
    cJSON_Delete(result);
    free(key);
}

static void set_position(eg_configlog_t *log, int64_t next)
{
    pthread_mutex_lock(&log->mu);
    if (next > log->position)
        log->position = next;
    if (!log->ready && log->position >= log->start_hw) {
        log->ready = 1;
        EG_LOG_INFO("config", "configuration log caught up at offset %" PRId64, log->position);
    }
    pthread_cond_broadcast(&log->cond);
    pthread_mutex_unlock(&log->mu);
}

static void *consumer_main(void *arg)
{
    eg_configlog_t *log = arg;
    int64_t last_sweep = 0;
    while (!atomic_load(&log->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(log->consumer, 100);
        int64_t now = eg_time_mono_ms();
        if (m) {
            if (!m->err) {
                apply_message(log, m, now);
                set_position(log, m->offset + 1);
            } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                set_position(log, m->offset);
            } else {
                EG_LOG_WARN("config", "config log: %s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(log->producer, 0);
        if (log->ready && (now - last_sweep >= 1000 || eg_map_size(log->garbage))) {
            sweep_garbage(log, now);
            last_sweep = now;
        }
    }
    return NULL;
}

/* Delivery reports of config records: a failure ends the waiting write. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    eg_configlog_t *log = opaque;
    if (!m->err || !m->_private)
        return;
    const char *rid = m->_private;
    pthread_mutex_lock(&log->mu);
    waiter_t *w = waiter_find(log, rid);
    if (w && !w->done) {
        w->done = 1;
        w->ok = 0;
        eg_error_set(&w->err, 503, "Kafka did not take the configuration change: %s",
                     rd_kafka_err2str(m->err));
        pthread_cond_broadcast(&log->cond);
    }
    pthread_mutex_unlock(&log->mu);
}

/* ---- public API ---- */

static void random_hex(char *out, size_t bytes)
{
    unsigned char buf[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, bytes) : -1;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)bytes) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec;
        for (size_t i = 0; i < bytes; i++, x = x * 6364136223846793005ULL + 1442695040888963407ULL)
            buf[i] = (unsigned char)(x >> 56);
    }
    for (size_t i = 0; i < bytes; i++)
        sprintf(out + 2 * i, "%02x", buf[i]);
}

eg_configlog_t *eg_configlog_new(const eg_settings_t *s, const char *brokers,
                                 const eg_topics_t *topics, int writer, int fetch_wait_ms,
                                 char *err, size_t errlen)
{
    char fetch_wait[16];
    snprintf(fetch_wait, sizeof fetch_wait, "%d", fetch_wait_ms);
    eg_configlog_t *log = eg_xcalloc(1, sizeof *log);
    log->settings = s;
    log->writer = writer;
    snprintf(log->topic, sizeof log->topic, "%s", topics->config);
    if (s->instance_id && *s->instance_id)
        eg_settings_instance_fit(s->instance_id, log->instance);
    else
        random_hex(log->instance, 8);
    char rnd[17];
    random_hex(rnd, 6);
    snprintf(log->rid_prefix, sizeof log->rid_prefix, "%s.%s", log->instance, rnd);
    /* Writers first: with glibc's default (readers first) a steady stream
     * of overlapping readers (list requests, the Events API's lookups) keeps
     * the applying thread out, and every write times out with 503 although
     * its record is applied later. No reader takes the lock twice, which
     * writer preference would deadlock. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&log->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&log->mu, NULL);
    pthread_cond_init(&log->cond, NULL);
    log->cfg = eg_config_new();
    log->keys = eg_map_new();
    log->garbage = eg_map_new();

    const eg_kafka_prop_t crows[] = {
        EG_KAFKA_FIXED("enable.partition.eof", "true"), /* caught up: the end of every partition */
        EG_KAFKA_DEFAULT("fetch.wait.max.ms", fetch_wait),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t cspec = {.type = RD_KAFKA_CONSUMER,
                                   .name = "config consumer",
                                   .profile = EG_KAFKA_READER,
                                   .group = "eg-config-reader",
                                   .props = crows};
    if (!(log->consumer = eg_kafka_client_new(s, brokers, &cspec, err, errlen)))
        goto fail;
    /* a write's answer waits for its record alone: nothing to batch */
    static const eg_kafka_prop_t prows[] = {
        EG_KAFKA_FIXED("acks", "all"),
        EG_KAFKA_DEFAULT("linger.ms", "0"),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t pspec = {.type = RD_KAFKA_PRODUCER,
                                   .name = "config producer",
                                   .profile = EG_KAFKA_RELIABLE_PRODUCER,
                                   .props = prows,
                                   .opaque = log,
                                   .dr_msg_cb = on_delivery};
    if (!(log->producer = eg_kafka_client_new(s, brokers, &pspec, err, errlen)))
        goto fail;
    return log;
fail:
    eg_configlog_free(log);
    return NULL;
}

int eg_configlog_start(eg_configlog_t *log, char *err, size_t errlen)
{
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e = eg_kafka_watermarks(log->consumer, log->topic, 0, &lo, &hi, 10000);
    if (e) {
        snprintf(err, errlen, "reading the end of %s: %s", log->topic, rd_kafka_err2str(e));
        return -1;
    }
    log->start_hw = hi;
    log->position = lo;
    if (hi <= lo)
        log->ready = 1;
    EG_LOG_INFO("config", "reading configuration log %s from offset %" PRId64 " to %" PRId64,
                log->topic, lo, hi);

    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, log->topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    e = rd_kafka_assign(log->consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e) {
        snprintf(err, errlen, "assigning %s: %s", log->topic, rd_kafka_err2str(e));
        return -1;
    }
    if (pthread_create(&log->thread, NULL, consumer_main, log)) {
        snprintf(err, errlen, "cannot start the config thread");
        return -1;
    }
    log->thread_started = 1;
    return 0;
}

int eg_configlog_ready(eg_configlog_t *log)
{
    pthread_mutex_lock(&log->mu);
    int r = log->ready;
    pthread_mutex_unlock(&log->mu);
    return r;
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int eg_configlog_wait_ready(eg_configlog_t *log, int timeout_ms)
{
    struct timespec dl;
    deadline_after(&dl, timeout_ms);
    pthread_mutex_lock(&log->mu);
    while (!log->ready)
        if (pthread_cond_timedwait(&log->cond, &log->mu, &dl) == ETIMEDOUT)
            break;
    int r = log->ready;
    pthread_mutex_unlock(&log->mu);
    return r ? 0 : -1;
}

int eg_configlog_write(eg_configlog_t *log, const eg_change_t *c, cJSON **result, eg_error_t *err)
{
    if (result)
        *result = NULL;
    if (!eg_configlog_ready(log))
        return eg_error_set(err, 503, "The configuration log is still being read. Try again.");

    const eg_config_t *cfg = eg_configlog_read_begin(log);
    int rc = eg_config_check(cfg, c, err);
    eg_configlog_read_end(log);
    if (rc)
        return -1;

    waiter_t w;
    memset(&w, 0, sizeof w);
    snprintf(w.rid, sizeof w.rid, "%s-%" PRIuFAST64, log->rid_prefix,
             atomic_fetch_add(&log->seq, 1) + 1);
    char key[RECORD_KEY_MAX];
    snprintf(key, sizeof key, "%s/%s/%s/%s", c->space, eg_kind_name(c->kind), c->id, w.rid);
    char *value = eg_config_record_encode(c);

    pthread_mutex_lock(&log->mu);
    w.next = log->waiters;
    log->waiters = &w;
    pthread_mutex_unlock(&log->mu);

    rd_kafka_resp_err_t e = rd_kafka_producev(
        log->producer, RD_KAFKA_V_TOPIC(log->topic), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(value, strlen(value)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(w.rid), RD_KAFKA_V_END);
    free(value);

    struct timespec dl;
    deadline_after(&dl, log->settings->write_timeout_ms);
    pthread_mutex_lock(&log->mu);
    if (e) {
        w.done = 1;
        eg_error_set(&w.err, 503, "Kafka did not take the configuration change: %s",
                     rd_kafka_err2str(e));
    }
    while (!w.done)
        if (pthread_cond_timedwait(&log->cond, &log->mu, &dl) == ETIMEDOUT)
            break;
    if (!w.done)
        eg_error_set(&w.err, 503,
                     "The configuration change was not confirmed by Kafka in time; it may still "
                     "be applied.");
    for (waiter_t **p = &log->waiters; *p; p = &(*p)->next)
        if (*p == &w) {
            *p = w.next;
            break;
        }
    pthread_mutex_unlock(&log->mu);
    /* The delivery report may still refer to w.rid after a time-out: it only
     * looks the rid up among the registered waiters, and w is gone from them. */

    if (w.done && w.ok) {
        if (result)
            *result = w.result;
        else
            cJSON_Delete(w.result);
        return 0;
    }
    cJSON_Delete(w.result);
    *err = w.err;
    return -1;
}

const eg_config_t *eg_configlog_read_begin(eg_configlog_t *log)
{
    pthread_rwlock_rdlock(&log->lock);
    return log->cfg;
}

void eg_configlog_read_end(eg_configlog_t *log)
{
    pthread_rwlock_unlock(&log->lock);
}

int64_t eg_configlog_position(eg_configlog_t *log)
{
    pthread_mutex_lock(&log->mu);
    int64_t p = log->position;
    pthread_mutex_unlock(&log->mu);
    return p;
}

const char *eg_configlog_instance(const eg_configlog_t *log)
{
    return log->instance;
}

void eg_configlog_free(eg_configlog_t *log)
{
    if (!log)
        return;
    atomic_store(&log->stop, 1);
    if (log->thread_started)
        pthread_join(log->thread, NULL);
    if (log->producer) {
        rd_kafka_flush(log->producer, 2000);
        rd_kafka_destroy(log->producer);
    }
    if (log->consumer) {
        rd_kafka_consumer_close(log->consumer);
        rd_kafka_destroy(log->consumer);
    }
    eg_map_free_with(log->keys, keylist_free_v);
    while (log->gc_head) {
        garbage_t *g = log->gc_head;
        log->gc_head = g->next;
        free(g);
    }
    eg_map_free(log->garbage);
    eg_config_free(log->cfg);
    pthread_cond_destroy(&log->cond);
    pthread_mutex_destroy(&log->mu);
    pthread_rwlock_destroy(&log->lock);
    free(log);
}
