/* eg_map: chained hash map with owned string keys; see eg_map.h. */
#include "eg_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    void *value;
    char key[]; /* owned copy */
} entry_t;

struct eg_map {
    entry_t **buckets;
    size_t nbuckets; /* power of two */
    size_t size;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

eg_map_t *eg_map_new(void)
{
    eg_map_t *m = eg_xcalloc(1, sizeof *m);
    m->nbuckets = 16;
    m->buckets = eg_xcalloc(m->nbuckets, sizeof *m->buckets);
    return m;
}

void eg_map_free_with(eg_map_t *m, void (*value_free)(void *))
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++)
        for (entry_t *e = m->buckets[i]; e; e = e->next)
            value_free(e->value);
    eg_map_free(m);
}

void eg_map_free(eg_map_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry_t *e = m->buckets[i];
        while (e) {
            entry_t *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->buckets);
    free(m);
}

static entry_t **find(const eg_map_t *m, const char *key, uint64_t h)
{
    entry_t **p = &m->buckets[h & (m->nbuckets - 1)];
    while (*p && ((*p)->hash != h || strcmp((*p)->key, key)))
        p = &(*p)->next;
    return p;
}

void *eg_map_get(const eg_map_t *m, const char *key)
{
    entry_t *e = *find(m, key, hash_str(key));
    return e ? e->value : NULL;
}

static void grow(eg_map_t *m)
{
    size_t n = m->nbuckets * 2;
    entry_t **b = eg_xcalloc(n, sizeof *b);
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry_t *e = m->buckets[i];
        while (e) {
            entry_t *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int eg_map_put(eg_map_t *m, const char *key, void *value, void **old)
{
    uint64_t h = hash_str(key);
    entry_t **p = find(m, key, h);
    if (*p) {
        if (old)
            *old = (*p)->value;
        (*p)->value = value;
        return 0;
    }
    size_t klen = strlen(key);
    entry_t *e = eg_xmalloc(sizeof *e + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->value = value;
    e->next = NULL;
    *p = e;
    if (old)
        *old = NULL;
    if (++m->size > m->nbuckets)
        grow(m);
    return 0;
}

void *eg_map_del(eg_map_t *m, const char *key)
{
    entry_t **p = find(m, key, hash_str(key));
    entry_t *e = *p;
    if (!e)
        return NULL;
    void *v = e->value;
    *p = e->next;
    free(e);
    m->size--;
    return v;
}

size_t eg_map_size(const eg_map_t *m)
{
    return m->size;
}

void eg_map_iter_init(eg_map_iter_t *it, const eg_map_t *m)
{
    it->m = m;
    it->bucket = 0;
    it->entry = NULL;
    it->next = m->nbuckets ? m->buckets[0] : NULL;
}

int eg_map_iter_next(eg_map_iter_t *it, const char **key, void **value)
{
    entry_t *e = it->next;
    while (!e) {
        if (++it->bucket >= it->m->nbuckets)
            return 0;
        e = it->m->buckets[it->bucket];
    }
    it->entry = e;
    it->next = e->next;
    *key = e->key;
    *value = e->value;
    return 1;
}
