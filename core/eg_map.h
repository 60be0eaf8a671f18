/*
 * eg_map: a hash map from NUL-terminated string keys to void* values.
 *
 * Chained buckets that double when the load passes 1; keys are copied and
 * owned by the map, values are borrowed (the map never frees them, the
 * caller does, e.g. while iterating before eg_map_free). Not thread safe.
 */
#ifndef EG_MAP_H
#define EG_MAP_H

#include <stddef.h>

typedef struct eg_map eg_map_t;

eg_map_t *eg_map_new(void);
void eg_map_free(eg_map_t *m);
/* Frees each value with value_free, then the map (NULL m: nothing). */
void eg_map_free_with(eg_map_t *m, void (*value_free)(void *));

/* The value under key, or NULL. */
void *eg_map_get(const eg_map_t *m, const char *key);
/* Sets key to value; *old (if not NULL) receives the value it replaces or
 * NULL. Always 0: nothing makes it fail. */
int eg_map_put(eg_map_t *m, const char *key, void *value, void **old);
/* Removes key and returns its value (NULL if absent). */
void *eg_map_del(eg_map_t *m, const char *key);
size_t eg_map_size(const eg_map_t *m);

/* Iteration in no particular order. The map must not change during it,
 * except that eg_map_del of the entry just returned is allowed. */
typedef struct eg_map_iter {
    const eg_map_t *m;
    size_t bucket;
    void *entry;
    void *next;
} eg_map_iter_t;

void eg_map_iter_init(eg_map_iter_t *it, const eg_map_t *m);
/* 1 with *key and *value set, 0 at the end. */
int eg_map_iter_next(eg_map_iter_t *it, const char **key, void **value);

#endif
