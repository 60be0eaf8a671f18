/*
 * sched.c: the engine's bookkeeping, free of I/O (see invoker_int.h):
 *  - the backoff of retries (exponential, capped, full jitter);
 *  - the committable-offset tracker of a partition: a ring of the offsets
 *    from the lowest unfinished one to the last one added, each with a done
 *    flag. Offsets come in increasing order, so the ring is sorted and a
 *    finish is a binary search; finished entries at the head are dropped, so
 *    the head is always the lowest unfinished offset. Memory is one entry
 *    per record between that offset and the newest one;
 *  - a binary min-heap of timers (retries due), with removal by position;
 *  - the shares of the async engine: how many invocations of each function
 *    it works on.
 * Not thread safe: each structure belongs to the engine thread.
 */
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_map.h"
#include "invoker_int.h"

/* ---- backoff ---- */

int64_t eg__invoker_backoff_ms(int failures, int base_ms, int max_ms, uint64_t rnd)
{
    if (base_ms < 1)
        base_ms = 1;
    if (max_ms < base_ms)
        max_ms = base_ms;
    if (failures < 1)
        failures = 1;
    int64_t d = base_ms;
    for (int i = 1; i < failures && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    int64_t lo = d / 2;
    return lo + (int64_t)(rnd % (uint64_t)(d - lo + 1));
}

uint64_t eg__invoker_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* ---- offset tracker ---- */

typedef struct {
    int64_t off;
    int done;
} track_ent_t;

struct eg__offtrack {
    track_ent_t *ring;
    size_t cap, head, len; /* entries ring[head .. head+len) modulo cap */
    size_t unfinished;
    int64_t next; /* the offset after the last added; -1 before the first */
};

eg__offtrack_t *eg__offtrack_new(void)
{
    eg__offtrack_t *t = eg_xcalloc(1, sizeof *t);
    t->next = -1;
    return t;
}

void eg__offtrack_free(eg__offtrack_t *t)
{
    if (!t)
        return;
    free(t->ring);
    free(t);
}

static track_ent_t *ent(const eg__offtrack_t *t, size_t i)
{
    return &t->ring[(t->head + i) % t->cap];
}

int eg__offtrack_add(eg__offtrack_t *t, int64_t off)
{
    if (t->next >= 0 && off < t->next)
        return 1;
    if (t->len == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        track_ent_t *n = eg_xmalloc(ncap * sizeof *n);
        for (size_t i = 0; i < t->len; i++)
            n[i] = *ent(t, i);
        free(t->ring);
        t->ring = n;
        t->cap = ncap;
        t->head = 0;
    }
    t->ring[(t->head + t->len) % t->cap] = (track_ent_t){off, 0};
    t->len++;
    t->unfinished++;
    t->next = off + 1;
    return 0;
}

int eg__offtrack_finish(eg__offtrack_t *t, int64_t off)
{
    size_t lo = 0, hi = t->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ent(t, mid)->off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == t->len || ent(t, lo)->off != off || ent(t, lo)->done)
        return -1;
    ent(t, lo)->done = 1;
    t->unfinished--;
    while (t->len && ent(t, 0)->done) {
        t->head = (t->head + 1) % t->cap;
        t->len--;
    }
    return 0;
}

int64_t eg__offtrack_committable(const eg__offtrack_t *t)
{
    return t->len ? ent(t, 0)->off : t->next;
}

size_t eg__offtrack_unfinished(const eg__offtrack_t *t)
{
    return t->unfinished;
}

size_t eg__offtrack_span(const eg__offtrack_t *t)
{
    return t->len;
}

/* ---- shares ---- */

/* The count of a key is the map's value itself (never 0: a key whose count
 * drops to 0 leaves the map, which so holds only the functions being worked
 * on). */
struct eg__shares {
    eg_map_t *held;
};

eg__shares_t *eg__shares_new(void)
{
    eg__shares_t *s = eg_xcalloc(1, sizeof *s);
    s->held = eg_map_new();
    return s;
}

void eg__shares_free(eg__shares_t *s)
{
    if (!s)
        return;
    eg_map_free(s->held);
    free(s);
}

size_t eg__shares_held(const eg__shares_t *s, const char *key)
{
    return (size_t)(uintptr_t)eg_map_get(s->held, key);
}

int eg__shares_take(eg__shares_t *s, const char *key, size_t cap)
{
    size_t n = eg__shares_held(s, key);
    if (cap && n >= cap)
        return 0;
    eg_map_put(s->held, key, (void *)(uintptr_t)(n + 1), NULL);
    return 1;
}

void eg__shares_put(eg__shares_t *s, const char *key)
{
    size_t n = eg__shares_held(s, key);
    if (n > 1)
        eg_map_put(s->held, key, (void *)(uintptr_t)(n - 1), NULL); /* replaces: no allocation */
    else if (n == 1)
        eg_map_del(s->held, key);
}

size_t eg__shares_keys(const eg__shares_t *s)
{
    return eg_map_size(s->held);
}

/* ---- timer heap ---- */

#define NOT_IN_HEAP ((size_t)-1)

void eg__timer_heap_init(eg__timer_heap_t *h)
{
    memset(h, 0, sizeof *h);
}

void eg__timer_heap_release(eg__timer_heap_t *h)
{
    for (size_t i = 0; i < h->len; i++)
        h->v[i]->idx = NOT_IN_HEAP;
    free(h->v);
    memset(h, 0, sizeof *h);
}

static void heap_set(eg__timer_heap_t *h, size_t i, eg__timer_t *t)
{
    h->v[i] = t;
    t->idx = i;
}

static void sift_up(eg__timer_heap_t *h, size_t i)
{
    eg__timer_t *t = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h->v[p]->due <= t->due)
            break;
        heap_set(h, i, h->v[p]);
        i = p;
    }
    heap_set(h, i, t);
}

static void sift_down(eg__timer_heap_t *h, size_t i)
{
    eg__timer_t *t = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len)
            break;
        if (c + 1 < h->len && h->v[c + 1]->due < h->v[c]->due)
            c++;
        if (t->due <= h->v[c]->due)
            break;
        heap_set(h, i, h->v[c]);
        i = c;
    }
    heap_set(h, i, t);
}

void eg__timer_heap_push(eg__timer_heap_t *h, eg__timer_t *t)
{
    if (h->len == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = eg_xrealloc(h->v, h->cap * sizeof *h->v);
    }
    heap_set(h, h->len++, t);
    sift_up(h, h->len - 1);
}

eg__timer_t *eg__timer_heap_peek(const eg__timer_heap_t *h)
{
    return h->len ? h->v[0] : NULL;
}

void eg__timer_heap_remove(eg__timer_heap_t *h, eg__timer_t *t)
{
    size_t i = t->idx;
    if (i == NOT_IN_HEAP || i >= h->len || h->v[i] != t)
        return;
    t->idx = NOT_IN_HEAP;
    h->len--;
    if (i == h->len)
        return;
    eg__timer_t *last = h->v[h->len];
    heap_set(h, i, last);
    sift_down(h, i);
    sift_up(h, last->idx);
}

eg__timer_t *eg__timer_heap_pop(eg__timer_heap_t *h)
{
    eg__timer_t *t = eg__timer_heap_peek(h);
    if (t)
        eg__timer_heap_remove(h, t);
    return t;
}
