/*
 * The router's ledger; see ledger.h. A partition's entry holds two states
 * (working and committed) of fixed size, so a commit or a rewind is a copy.
 *
 * Metadata of a committed offset, one line of space-separated fields:
 *   eg1 o=<owner> m=<member>[ n=<read position> s=<oldest held>[,<delta>...]]
 * owner and member are escaped (%XX for '%', space and bytes outside
 * printable ASCII); the held offsets after the first are deltas from the one
 * before. A partition without held records commits its read position and
 * needs no n= nor s=.
 */
#include "ledger.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_http.h"

typedef struct state {
    int64_t next; /* read position: every record below it is routed or held; -1 unknown */
    int nheld;
    int64_t held[EG_LEDGER_MAX_HELD]; /* ascending, all below next */
} state_t;

typedef struct part {
    int32_t partition;
    int64_t first; /* first offset the open transaction read, -1 none */
    int stopped;   /* eg_ledger_hold found it full */
    state_t work, done;
} part_t;

struct eg_ledger {
    char *topic;
    part_t **parts;
    size_t n, cap;
};

eg_ledger_t *eg_ledger_new(const char *topic)
{
    eg_ledger_t *l = eg_xcalloc(1, sizeof *l);
    l->topic = eg_xstrdup(topic);
    return l;
}

void eg_ledger_free(eg_ledger_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->parts[i]);
    free(l->parts);
    free(l->topic);
    free(l);
}

static part_t *find(const eg_ledger_t *l, int32_t partition)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->parts[i]->partition == partition)
            return l->parts[i];
    return NULL;
}

/* ---- metadata ---- */

static size_t escape(char *out, size_t len, const char *s)
{
    size_t o = 0;
    for (; *s && o + 4 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || c == '%')
            o += (size_t)snprintf(out + o, len - o, "%%%02X", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return o;
}

/* Unescapes the field [s, e) into out. -1 when malformed or too long. */
static int unescape(const char *s, const char *e, char *out, size_t len)
{
    if ((size_t)(e - s) >= len)
        return -1;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    return eg_http_unescape(out, 0) < 0 ? -1 : 0;
}

typedef struct meta {
    char owner[512], member[512];
    int has_state;
    state_t st;
} meta_t;

/* Parses a router's metadata. 0, or -1 when it is not one (or malformed). */
static int meta_parse(const char *meta, size_t len, meta_t *m)
{
    const char *p = meta, *end = meta + len;
    memset(m, 0, sizeof *m);
    m->st.next = -1;
    if (!meta || len < 4 || memcmp(meta, "eg1 ", 4))
        return -1;
    p += 4;
    int have_n = 0, have_s = 0;
    while (p < end) {
        const char *e = memchr(p, ' ', (size_t)(end - p));
        if (!e)
            e = end;
        if (e - p > 2 && p[1] == '=') {
            const char *v = p + 2;
            char num[32];
            switch (p[0]) {
            case 'o':
                if (unescape(v, e, m->owner, sizeof m->owner))
                    return -1;
                break;
            case 'm':
                if (unescape(v, e, m->member, sizeof m->member))
                    return -1;
                break;
            case 'n':
                if (e - v >= (long)sizeof num)
                    return -1;
                memcpy(num, v, (size_t)(e - v));
                num[e - v] = '\0';
                m->st.next = strtoll(num, NULL, 10);
                have_n = 1;
                break;
            case 's': {
                int64_t prev = 0;
                const char *q = v;
                while (q < e) {
                    const char *c = memchr(q, ',', (size_t)(e - q));
                    if (!c)
                        c = e;
                    if (c == q || c - q >= (long)sizeof num || m->st.nheld >= EG_LEDGER_MAX_HELD)
                        return -1;
                    memcpy(num, q, (size_t)(c - q));
                    num[c - q] = '\0';
                    int64_t x = strtoll(num, NULL, 10);
                    if (m->st.nheld && x <= 0)
                        return -1;
                    prev = m->st.nheld ? prev + x : x;
                    m->st.held[m->st.nheld++] = prev;
                    q = c + 1;
                }
                have_s = 1;
                break;
            }
            default:
                break; /* a field of a later version */
            }
        }
        p = e + 1;
    }
    if (have_n && have_s && m->st.nheld && m->st.held[m->st.nheld - 1] < m->st.next)
        m->has_state = 1;
    return 0;
}

int eg_ledger_meta_owner(const char *meta, size_t len, char *owner, size_t olen, char *member,
                         size_t mlen)
{
    meta_t m;
    if (meta_parse(meta, len, &m) || !m.owner[0])
        return -1;
    snprintf(owner, olen, "%s", m.owner);
    snprintf(member, mlen, "%s", m.member);
    return 0;
}

/* The metadata of a partition's working state: a new string (caller frees). */
static char *meta_encode(const part_t *pt, const char *owner, const char *member)
{
    size_t len = 32 + 3 * (strlen(owner) + strlen(member)) + 48 + (size_t)pt->work.nheld * 22;
    char *s = eg_xmalloc(len);
    size_t o = (size_t)snprintf(s, len, "eg1 o=");
    o += escape(s + o, len - o, owner);
    o += (size_t)snprintf(s + o, len - o, " m=");
    o += escape(s + o, len - o, member);
    if (pt->work.nheld) {
        o += (size_t)snprintf(s + o, len - o, " n=%" PRId64 " s=%" PRId64, pt->work.next,
                              pt->work.held[0]);
        for (int i = 1; i < pt->work.nheld && o < len; i++)
            o += (size_t)snprintf(s + o, len - o, ",%" PRId64,
                                  pt->work.held[i] - pt->work.held[i - 1]);
    }
    return s;
}

/* ---- partitions ---- */

/* The state a committed offset and its metadata describe. */
static state_t committed_state(int64_t committed, const char *meta, size_t len)
{
    state_t st = {.next = committed >= 0 ? committed : -1, .nheld = 0};
    meta_t m;
    /* The held records count only when the committed offset is the oldest
     * of them: an offset set by other means (a tool) starts afresh. */
    if (committed >= 0 && meta_parse(meta, len, &m) == 0 && m.has_state &&
        m.st.held[0] == committed)
        st = m.st;
    return st;
}

void eg_ledger_assign(eg_ledger_t *l, int32_t partition, int64_t committed, const char *meta,
                      size_t len)
{
    part_t *pt = find(l, partition);
    if (!pt) {
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 8;
            l->parts = eg_xrealloc(l->parts, l->cap * sizeof *l->parts);
        }
        pt = eg_xmalloc(sizeof *pt);
        l->parts[l->n++] = pt;
    }
    pt->partition = partition;
    pt->first = -1;
    pt->stopped = 0;
    pt->work = committed_state(committed, meta, len);
    pt->done = pt->work;
}

void eg_ledger_set_committed(eg_ledger_t *l, int32_t partition, int64_t committed, const char *meta,
                             size_t len)
{
    part_t *pt = find(l, partition);
    if (pt)
        pt->done = committed_state(committed, meta, len);
}

rd_kafka_topic_partition_list_t *eg_ledger_read_from(const eg_ledger_t *l)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    for (size_t i = 0; i < l->n; i++) {
        if (l->parts[i]->first < 0)
            continue;
        if (!parts)
            parts = rd_kafka_topic_partition_list_new((int)l->n);
        rd_kafka_topic_partition_list_add(parts, l->topic, l->parts[i]->partition);
    }
    return parts;
}

void eg_ledger_revoke(eg_ledger_t *l, int32_t partition)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->parts[i]->partition == partition) {
            free(l->parts[i]);
            l->parts[i] = l->parts[--l->n];
            return;
        }
}

static int64_t start_of(const state_t *st)
{
    return st->nheld ? st->held[0] : st->next;
}

int64_t eg_ledger_start(const eg_ledger_t *l, int32_t partition)
{
    const part_t *pt = find(l, partition);
    return pt ? start_of(&pt->work) : -1;
}

void eg_ledger_set_start(eg_ledger_t *l, int32_t partition, int64_t next)
{
    part_t *pt = find(l, partition);
    if (pt && pt->work.next < 0 && !pt->work.nheld) {
        pt->work.next = next;
        if (pt->done.next < 0 && !pt->done.nheld)
            pt->done.next = next;
    }
}

static int held_index(const state_t *st, int64_t offset)
{
    int lo = 0, hi = st->nheld;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (st->held[mid] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo; /* the first at or above offset */
}

int eg_ledger_consumed(eg_ledger_t *l, int32_t partition, int64_t offset)
{
    part_t *pt = find(l, partition);
    if (!pt)
        return EG_LEDGER_ROUTE; /* not tracked (a record of a partition revoked meanwhile) */
    if (pt->first < 0)
        pt->first = offset;
    state_t *st = &pt->work;
    if (st->next < 0 || offset >= st->next) {
        st->next = offset + 1;
        return EG_LEDGER_ROUTE;
    }
    int i = held_index(st, offset);
    if (i < st->nheld && st->held[i] == offset) {
        memmove(&st->held[i], &st->held[i + 1], (size_t)(st->nheld - i - 1) * sizeof st->held[0]);
        st->nheld--;
        return EG_LEDGER_ROUTE;
    }
    return EG_LEDGER_SKIP;
}

int eg_ledger_hold(eg_ledger_t *l, int32_t partition, int64_t offset)
{
    part_t *pt = find(l, partition);
    if (!pt)
        return -1;
    state_t *st = &pt->work;
    int i = held_index(st, offset);
    if (i < st->nheld && st->held[i] == offset)
        return 0;
    if (st->nheld >= EG_LEDGER_MAX_HELD) {
        /* Not read after all: reading stops here. A record read again
         * (below next) stays where it is, above the held ones. */
        if (offset + 1 == st->next)
            st->next = offset;
        pt->stopped = 1;
        return -1;
    }
    memmove(&st->held[i + 1], &st->held[i], (size_t)(st->nheld - i) * sizeof st->held[0]);
    st->held[i] = offset;
    st->nheld++;
    return 0;
}

size_t eg_ledger_held(const eg_ledger_t *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += (size_t)l->parts[i]->work.nheld;
    return n;
}

int eg_ledger_stopped(const eg_ledger_t *l, int32_t partition)
{
    const part_t *pt = find(l, partition);
    return pt && pt->stopped;
}

rd_kafka_topic_partition_list_t *eg_ledger_offsets(const eg_ledger_t *l, const char *owner,
                                                   const char *member)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new((int)l->n);
    for (size_t i = 0; i < l->n; i++) {
        const part_t *pt = l->parts[i];
        int64_t at = start_of(&pt->work);
        if (at < 0)
            continue;
        char *meta = meta_encode(pt, owner ? owner : "", member ? member : "");
        rd_kafka_topic_partition_t *t =
            rd_kafka_topic_partition_list_add(offs, l->topic, pt->partition);
        t->offset = at;
        t->metadata = meta; /* the list frees it */
        t->metadata_size = strlen(meta);
    }
    return offs;
}

void eg_ledger_commit(eg_ledger_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        part_t *pt = l->parts[i];
        pt->done = pt->work;
        pt->first = -1;
    }
}

rd_kafka_topic_partition_list_t *eg_ledger_rewind(eg_ledger_t *l)
{
    rd_kafka_topic_partition_list_t *to = NULL;
    for (size_t i = 0; i < l->n; i++) {
        part_t *pt = l->parts[i];
        pt->work = pt->done;
        if (pt->first < 0)
            continue;
        int64_t at = pt->done.next >= 0 ? pt->done.next : pt->first;
        pt->first = -1;
        if (!to)
            to = rd_kafka_topic_partition_list_new((int)l->n);
        rd_kafka_topic_partition_list_add(to, l->topic, pt->partition)->offset = at;
    }
    return to;
}

rd_kafka_topic_partition_list_t *eg_ledger_retry(eg_ledger_t *l)
{
    rd_kafka_topic_partition_list_t *to = NULL;
    for (size_t i = 0; i < l->n; i++) {
        part_t *pt = l->parts[i];
        if (!pt->work.nheld && !pt->stopped)
            continue;
        pt->stopped = 0;
        if (!to)
            to = rd_kafka_topic_partition_list_new((int)l->n);
        rd_kafka_topic_partition_list_add(to, l->topic, pt->partition)->offset =
            start_of(&pt->work);
    }
    return to;
}
