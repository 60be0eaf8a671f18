/*
 * eg_window: a time window of a topic; see eg_window.h.
 */
#include "eg_window.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_kafka.h"
#include "eg_kafka_client.h"
#include "eg_log.h"

typedef struct wpart {
    eg_replay_part_t pos;
    int done;
} wpart_t;

struct eg_window {
    rd_kafka_t *rk;
    char topic[256];
    int64_t from_ms, to_ms;
    wpart_t *parts;
    size_t nparts, nleft;
    int looked_up;
};

static wpart_t *part_of(eg_window_t *w, int32_t p)
{
    for (size_t i = 0; i < w->nparts; i++)
        if (w->parts[i].pos.partition == p)
            return &w->parts[i];
    return NULL;
}

static void finish(eg_window_t *w, wpart_t *p)
{
    if (p->done)
        return;
    p->done = 1;
    w->nleft--;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, w->topic, p->pos.partition);
    rd_kafka_error_t *e = rd_kafka_incremental_unassign(w->rk, l);
    if (e) {
        EG_LOG_WARN("window", "unassigning %s[%" PRId32 "]: %s", w->topic, p->pos.partition,
                    rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* offsets-for-times of every partition for ts into off[]. 0, or -1 (err). */
static int lookup(eg_window_t *w, int64_t ts, int64_t *off, int timeout_ms, char *err,
                  size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)w->nparts);
    for (size_t i = 0; i < w->nparts; i++)
        rd_kafka_topic_partition_list_add(l, w->topic, w->parts[i].pos.partition)->offset = ts;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(w->rk, l, timeout_ms);
    for (int i = 0; !e && i < l->cnt; i++) {
        e = l->elems[i].err;
        off[i] = l->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(err, errlen, "looking up offsets by time in %s: %s", w->topic,
                 rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

/* Fills every partition's start and end; see the header. */
static int locate(eg_window_t *w, int timeout_ms, char *err, size_t errlen)
{
    int64_t *lo = eg_xcalloc(w->nparts, sizeof *lo), *at = eg_xcalloc(w->nparts, sizeof *at),
            *first = eg_xcalloc(w->nparts, sizeof *first);
    int rc = -1, ambiguous = 0;
    for (size_t i = 0; i < w->nparts; i++) {
        int64_t hi = 0;
        rd_kafka_resp_err_t e = eg_kafka_watermarks(w->rk, w->topic, w->parts[i].pos.partition,
                                                    &lo[i], &hi, timeout_ms);
        if (e) {
            snprintf(err, errlen, "reading the offsets of %s: %s", w->topic, rd_kafka_err2str(e));
            goto out;
        }
        w->parts[i].pos.end = hi;
    }
    /* a lookup that fails outright: scan */
    char lerr[512];
    if (lookup(w, w->from_ms, at, timeout_ms, lerr, sizeof lerr)) {
        EG_LOG_DEBUG("window", "%s; scanning from the beginning", lerr);
        ambiguous = -1;
    }
    for (size_t i = 0; ambiguous == 0 && i < w->nparts; i++)
        if (at[i] < 0 && w->parts[i].pos.end > lo[i])
            ambiguous = 1;
    if (ambiguous == 1) {
        /* -1 is "no record at or after from", or a broker that cannot tell:
         * every record of a non-empty partition is at or after the epoch. */
        if (lookup(w, 0, first, timeout_ms, lerr, sizeof lerr))
            ambiguous = -1;
        for (size_t i = 0; ambiguous == 1 && i < w->nparts; i++)
            if (first[i] < 0 && w->parts[i].pos.end > lo[i])
                ambiguous = -1;
    }
    w->looked_up = ambiguous >= 0;
    for (size_t i = 0; i < w->nparts; i++) {
        eg_replay_part_t *p = &w->parts[i].pos;
        if (!w->looked_up)
            p->next = lo[i];
        else
            p->next = at[i] < 0 ? p->end : at[i];
    }
    rc = 0;
out:
    free(lo);
    free(at);
    free(first);
    return rc;
}

eg_window_t *eg_window_open(const eg_settings_t *s, const char *brokers, const char *topic,
                            int64_t from_ms, int64_t to_ms, const eg_replay_part_t *resume,
                            size_t nresume, int timeout_ms, char *err, size_t errlen)
{
    eg_window_t *w = eg_xcalloc(1, sizeof *w);
    rd_kafka_topic_partition_list_t *l = NULL;
    snprintf(w->topic, sizeof w->topic, "%s", topic);
    w->from_ms = from_ms;
    w->to_ms = to_ms;
    static const eg_kafka_prop_t rows[] = {
        EG_KAFKA_FIXED("enable.auto.offset.store", "false"),
        EG_KAFKA_DEFAULT("fetch.wait.max.ms", "10"),
        {NULL, NULL, 0},
    };
    const eg_kafka_spec_t spec = {.type = RD_KAFKA_CONSUMER,
                                  .name = "window reader",
                                  .profile = EG_KAFKA_READER,
                                  .group = "eg-window-reader",
                                  .props = rows};
    if (!(w->rk = eg_kafka_client_new(s, brokers, &spec, err, errlen)))
        goto fail;

    if (resume && nresume) {
        w->parts = eg_xcalloc(nresume, sizeof *w->parts);
        for (size_t i = 0; i < nresume; i++)
            w->parts[i].pos = resume[i];
        w->nparts = nresume;
    } else {
        int n = eg_kafka_partition_count(w->rk, topic, timeout_ms, err, errlen);
        if (n < 0)
            goto fail;
        if (n)
            w->parts = eg_xcalloc((size_t)n, sizeof *w->parts);
        w->nparts = (size_t)n;
        for (size_t i = 0; i < w->nparts; i++)
            w->parts[i].pos.partition = (int32_t)i;
        if (locate(w, timeout_ms, err, errlen))
            goto fail;
    }
    l = rd_kafka_topic_partition_list_new((int)w->nparts + 1);
    for (size_t i = 0; i < w->nparts; i++) {
        if (w->parts[i].pos.next >= w->parts[i].pos.end) {
            w->parts[i].done = 1;
            continue;
        }
        w->nleft++;
        rd_kafka_topic_partition_list_add(l, topic, w->parts[i].pos.partition)->offset =
            w->parts[i].pos.next;
    }
    if (l->cnt) {
        rd_kafka_error_t *e = rd_kafka_incremental_assign(w->rk, l);
        if (e) {
            snprintf(err, errlen, "assigning %s: %s", topic, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            goto fail;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return w;
fail:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    eg_window_close(w);
    return NULL;
}

rd_kafka_message_t *eg_window_next(eg_window_t *w, int timeout_ms, int *done)
{
    *done = 0;
    while (w->nleft) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, timeout_ms);
        if (!m)
            return NULL;
        wpart_t *p = m->err ? NULL : part_of(w, m->partition);
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                EG_LOG_WARN("window", "%s: %s", w->topic, rd_kafka_message_errstr(m));
        } else if (p && !p->done && m->offset >= p->pos.next) {
            rd_kafka_timestamp_type_t tt;
            int64_t ts = rd_kafka_message_timestamp(m, &tt);
            if (m->offset >= p->pos.end) {
                finish(w, p);
            } else {
                p->pos.next = m->offset + 1;
                if (p->pos.next >= p->pos.end)
                    finish(w, p);
                if (ts >= w->from_ms && ts <= w->to_ms)
                    return m;
            }
        }
        rd_kafka_message_destroy(m);
        timeout_ms = 0;
    }
    *done = 1;
    return NULL;
}

void eg_window_finish(eg_window_t *w, int32_t partition)
{
    wpart_t *p = part_of(w, partition);
    if (p)
        finish(w, p);
}

size_t eg_window_positions(const eg_window_t *w, eg_replay_part_t *out, size_t max)
{
    for (size_t i = 0; i < w->nparts && i < max; i++)
        out[i] = w->parts[i].pos;
    return w->nparts;
}

int eg_window_looked_up(const eg_window_t *w)
{
    return w->looked_up;
}

void eg_window_close(eg_window_t *w)
{
    if (!w)
        return;
    if (w->rk) {
        rd_kafka_assign(w->rk, NULL);
        rd_kafka_consumer_close(w->rk);
        rd_kafka_destroy(w->rk);
    }
    free(w->parts);
    free(w);
}
