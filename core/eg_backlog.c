/*
 * eg_backlog: the per-partition backlog of this process's consumers, for the
 * embedded broker's bound (see eg_backlog.h).
 */
#include "eg_backlog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"

#define TOPIC_NAME 256
#define TAKEN_NONE (-1)
#define TAKEN_FIRST (-2)

typedef struct {
    atomic_llong end;   /* offset after the last record produced here, 0: none yet */
    atomic_llong taken; /* offset after the last record a consumer here took; TAKEN_NONE:
                           nobody's here; TAKEN_FIRST: watched, counted from the first
                           record produced here */
} part_t;

typedef struct {
    char name[TOPIC_NAME];
    part_t parts[EG_BACKLOG_MAX_PARTITIONS];
    atomic_llong record_bytes; /* moving average of the records produced, 0: none yet */
} topic_t;

struct eg_backlog {
    pthread_mutex_t mu; /* appending topics */
    topic_t *topics[EG_BACKLOG_MAX_TOPICS];
    atomic_int ntopics;
    int64_t high, low; /* bytes: the full state's thresholds */
    atomic_int full, downstream_full;
    atomic_llong worst; /* the last check's */
};

static topic_t *topic_get(eg_backlog_t *bl, const char *name);

eg_backlog_t *eg_backlog_new(int64_t limit, const char *upstream)
{
    eg_backlog_t *bl = eg_xcalloc(1, sizeof *bl);
    pthread_mutex_init(&bl->mu, NULL);
    bl->high = limit * EG_BACKLOG_HIGH_PERCENT / 100;
    bl->low = limit * EG_BACKLOG_LOW_PERCENT / 100;
    if (!topic_get(bl, upstream)) { /* topics[0] */
        eg_backlog_free(bl);
        return NULL;
    }
    return bl;
}

void eg_backlog_free(eg_backlog_t *bl)
{
    if (!bl)
        return;
    for (int i = 0; i < atomic_load(&bl->ntopics); i++)
        free(bl->topics[i]);
    pthread_mutex_destroy(&bl->mu);
    free(bl);
}

static topic_t *topic_find(eg_backlog_t *bl, const char *name)
{
    int n = atomic_load_explicit(&bl->ntopics, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (strcmp(bl->topics[i]->name, name) == 0)
            return bl->topics[i];
    return NULL;
}

/* The topic's counters, added on first use; NULL when the table is full or
 * the name too long (the topic is then not counted). */
static topic_t *topic_get(eg_backlog_t *bl, const char *name)
{
    topic_t *t = topic_find(bl, name);
    if (t || strlen(name) >= TOPIC_NAME)
        return t;
    pthread_mutex_lock(&bl->mu);
    int n = atomic_load(&bl->ntopics);
    if (!(t = topic_find(bl, name)) && n < EG_BACKLOG_MAX_TOPICS) {
        t = eg_xcalloc(1, sizeof *t);
        strcpy(t->name, name);
        for (int i = 0; i < EG_BACKLOG_MAX_PARTITIONS; i++)
            atomic_init(&t->parts[i].taken, TAKEN_NONE);
        bl->topics[n] = t;
        atomic_store_explicit(&bl->ntopics, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&bl->mu);
    return t;
}

/* The counters of a topic's partition, or NULL when it is not counted. */
static part_t *part_get(eg_backlog_t *bl, const char *topic, int32_t partition, int64_t offset,
                        topic_t **tp)
{
    if (!bl || !topic || partition < 0 || partition >= EG_BACKLOG_MAX_PARTITIONS || offset < 0)
        return NULL;
    topic_t *t = topic_get(bl, topic);
    if (tp)
        *tp = t;
    return t ? &t->parts[partition] : NULL;
}

static void raise_to(atomic_llong *a, long long v)
{
    long long cur = atomic_load_explicit(a, memory_order_relaxed);
    while (cur < v && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

int64_t eg_backlog_record_bytes(const rd_kafka_message_t *m)
{
    /* a batch of one record: 61 bytes of batch header, about 8 of record
     * framing (length, attributes, deltas, varint lengths) */
    int64_t n = 70 + (int64_t)m->len + (int64_t)m->key_len;
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &size) == 0; i++)
            n += (int64_t)(strlen(name) + size + 2);
    }
    return n;
}

void eg_backlog_produced_at(eg_backlog_t *bl, const char *topic, int32_t partition, int64_t offset,
                            int64_t bytes)
{
    topic_t *t;
    part_t *p = part_get(bl, topic, partition, offset, &t);
    if (!p)
        return;
    raise_to(&p->end, offset + 1);
    long long first = TAKEN_FIRST;
    if (atomic_load_explicit(&p->taken, memory_order_relaxed) == TAKEN_FIRST)
        atomic_compare_exchange_strong(&p->taken, &first, offset);
    /* an average over the last few dozen records; a racing update only
     * loses one sample */
    long long avg = atomic_load_explicit(&t->record_bytes, memory_order_relaxed);
    atomic_store_explicit(&t->record_bytes, avg ? avg + (bytes - avg) / 32 : bytes,
                          memory_order_relaxed);
}

void eg_backlog_produced(eg_backlog_t *bl, const rd_kafka_message_t *m)
{
    if (bl && m->rkt)
        eg_backlog_produced_at(bl, rd_kafka_topic_name(m->rkt), m->partition, m->offset,
                               eg_backlog_record_bytes(m));
}

void eg_backlog_watch(eg_backlog_t *bl, const char *topic)
{
    topic_t *t = bl ? topic_get(bl, topic) : NULL;
    for (int i = 0; t && i < EG_BACKLOG_MAX_PARTITIONS; i++) {
        long long none = TAKEN_NONE;
        atomic_compare_exchange_strong(&t->parts[i].taken, &none, TAKEN_FIRST);
    }
}

void eg_backlog_taken_at(eg_backlog_t *bl, const char *topic, int32_t partition, int64_t offset)
{
    part_t *p = part_get(bl, topic, partition, offset, NULL);
    if (p)
        atomic_store_explicit(&p->taken, offset + 1, memory_order_relaxed);
}

void eg_backlog_taken(eg_backlog_t *bl, const rd_kafka_message_t *m)
{
    if (bl && m->rkt)
        eg_backlog_taken_at(bl, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
}

void eg_backlog_assigned(eg_backlog_t *bl, const char *topic,
                         const rd_kafka_topic_partition_list_t *assignment)
{
    topic_t *t = bl && topic ? topic_get(bl, topic) : NULL;
    for (int k = 0; t && k < EG_BACKLOG_MAX_PARTITIONS; k++) {
        int mine = assignment && rd_kafka_topic_partition_list_find(assignment, topic, k);
        long long cur = atomic_load(&t->parts[k].taken);
        if (!mine)
            atomic_store(&t->parts[k].taken, TAKEN_NONE);
        else if (cur == TAKEN_NONE)
            atomic_compare_exchange_strong(&t->parts[k].taken, &cur, TAKEN_FIRST);
    }
}

void eg_backlog_consumer_assigned(eg_backlog_t *bl, rd_kafka_t *consumer, const char *topic)
{
    rd_kafka_topic_partition_list_t *all = NULL;
    if (bl && rd_kafka_assignment(consumer, &all) == 0 && all) {
        eg_backlog_assigned(bl, topic, all);
        rd_kafka_topic_partition_list_destroy(all);
    }
}

/* The fullest partition of a topic, in bytes. */
static int64_t topic_worst(const topic_t *t)
{
    int64_t max = 0;
    long long size = atomic_load_explicit(&t->record_bytes, memory_order_relaxed);
    for (int k = 0; size > 0 && k < EG_BACKLOG_MAX_PARTITIONS; k++) {
        long long taken = atomic_load_explicit(&t->parts[k].taken, memory_order_relaxed),
                  end = atomic_load_explicit(&t->parts[k].end, memory_order_relaxed);
        if (taken >= 0 && end > taken && (end - taken) * size > max)
            max = (end - taken) * size;
    }
    return max;
}

/* The hysteresis: on at the high-water mark, off under the low one. */
static int update(const eg_backlog_t *bl, atomic_int *state, int64_t worst)
{
    int on = atomic_load(state);
    if (!on && worst >= bl->high)
        on = 1;
    else if (on && worst < bl->low)
        on = 0;
    atomic_store(state, on);
    return on;
}

int eg_backlog_check(eg_backlog_t *bl, int64_t *worst)
{
    if (!bl) {
        if (worst)
            *worst = 0;
        return 0;
    }
    int n = atomic_load_explicit(&bl->ntopics, memory_order_acquire);
    int64_t up = topic_worst(bl->topics[0]), down = 0;
    for (int i = 1; i < n; i++) {
        int64_t w = topic_worst(bl->topics[i]);
        if (w > down)
            down = w;
    }
    update(bl, &bl->downstream_full, down);
    int64_t w = up > down ? up : down;
    atomic_store_explicit(&bl->worst, w, memory_order_relaxed);
    if (worst)
        *worst = w;
    return update(bl, &bl->full, w);
}

int eg_backlog_full(const eg_backlog_t *bl)
{
    return bl && atomic_load_explicit(&bl->full, memory_order_relaxed);
}

int64_t eg_backlog_worst(const eg_backlog_t *bl)
{
    return bl ? atomic_load_explicit(&bl->worst, memory_order_relaxed) : 0;
}

int eg_backlog_downstream_full(const eg_backlog_t *bl)
{
    return bl && atomic_load_explicit(&bl->downstream_full, memory_order_relaxed);
}
