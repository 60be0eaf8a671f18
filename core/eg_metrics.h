/*
 * eg_metrics: a small Prometheus metrics registry (counters, gauges,
 * histograms with label sets) and its text exposition format 0.0.4.
 *
 * Rules of this module:
 *  - A registry (eg_metrics_new) owns its families; a family
 *    (eg_metrics_family) owns its series. Handles stay valid until
 *    eg_metrics_free. Registering a name again returns the same family when
 *    type and labels agree (so several roles of one process can ask for the
 *    same family), NULL otherwise.
 *  - Every update names the family's labels' values in order (values may be
 *    NULL for a family without labels; a NULL value counts as ""). A NULL
 *    family is accepted and ignored, so code runs without a registry.
 *  - Cardinality is bounded: a family holds at most EG_METRICS_MAX_SERIES
 *    label sets. Updates of a new label set past that are dropped and
 *    counted in eventgateway_metrics_series_dropped_total, which every
 *    rendering carries. Label values are cut at EG_METRICS_MAX_VALUE bytes.
 *  - Thread-safe: one mutex per registry, held for an update (a hash lookup)
 *    or a rendering; no callbacks run under it.
 */
#ifndef EG_METRICS_H
#define EG_METRICS_H

#include <stddef.h>

#define EG_METRICS_MAX_LABELS 4
#define EG_METRICS_MAX_SERIES 1000 /* label sets per family */
#define EG_METRICS_MAX_VALUE 256   /* bytes of a label value kept */
#define EG_METRICS_MAX_BUCKETS 16

typedef enum eg_metric_type {
    EG_METRIC_COUNTER,
    EG_METRIC_GAUGE,
    EG_METRIC_HISTOGRAM,
} eg_metric_type_t;

typedef struct eg_metrics eg_metrics_t;
typedef struct eg_metric eg_metric_t;

/* The histogram buckets used unless a family names its own (seconds). */
extern const double eg_metrics_default_buckets[];
extern const size_t eg_metrics_default_nbuckets;

/* The space label of series about a space that holds nothing (no space
 * name can be this: names are [a-zA-Z0-9._-]+). */
#define EG_METRICS_OTHER_SPACE "(other)"

/* A new registry; never NULL. */
eg_metrics_t *eg_metrics_new(void);
void eg_metrics_free(eg_metrics_t *m);

/* Registers a family: name and help are copied; labels is a NULL-terminated
 * list of at most EG_METRICS_MAX_LABELS names (NULL: none); buckets
 * (histograms only; NULL: the defaults) are ascending upper bounds, +Inf
 * implied, at most EG_METRICS_MAX_BUCKETS. Returns the family (owned by m),
 * or NULL on bad arguments or a clash with an existing family. */
eg_metric_t *eg_metrics_family(eg_metrics_t *m, const char *name, const char *help,
                               eg_metric_type_t type, const char *const *labels,
                               const double *buckets, size_t nbuckets);

/* Counter or gauge: adds v (a counter ignores v < 0). */
void eg_metric_add(eg_metric_t *f, const char *const *values, double v);
/* Gauge: sets v. */
void eg_metric_set(eg_metric_t *f, const char *const *values, double v);
/* Histogram: one observation. */
void eg_metric_observe(eg_metric_t *f, const char *const *values, double v);
/* Forgets every series of the family (a gauge recomputed wholesale). */
void eg_metric_clear(eg_metric_t *f);
/* The value of a counter or gauge series (a histogram's count), 0 if absent. */
double eg_metric_value(eg_metric_t *f, const char *const *values);

/* The text exposition of every family, in registration order, series in
 * creation order: a new NUL-terminated string (caller frees), its length in
 * *len when len is not NULL; NULL when libc cannot allocate the text (its
 * open_memstream has no eg_alloc form). */
char *eg_metrics_render(eg_metrics_t *m, size_t *len);

/* The content type of eg_metrics_render's text. */
#define EG_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
