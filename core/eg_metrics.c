/*
 * eg_metrics: the metrics registry and its Prometheus text rendering; see
 * eg_metrics.h.
 *
 * Design
 *  - One mutex per registry guards everything: families are few and
 *    registered at start, updates are a hash lookup (eg_map keyed by the
 *    length-prefixed label values, so no separator can collide) and an add.
 *    At the gateway's rates (one update per event per role) the lock is not
 *    contended enough to matter; rendering holds it while it prints.
 *  - Series are kept in creation order (a list) for a stable rendering, and
 *    in the map for lookups. Both are freed by eg_metric_clear and
 *    eg_metrics_free.
 *  - Rendering writes to an open_memstream: text format 0.0.4, with # HELP
 *    and # TYPE per family, label values escaped (\\, \", \n), numbers in
 *    the shortest form that reads back to the same double, +Inf/-Inf/NaN.
 */
#include "eg_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"
#include "eg_map.h"

const double eg_metrics_default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5,   1,    2.5,   5,    10};
const size_t eg_metrics_default_nbuckets =
    sizeof eg_metrics_default_buckets / sizeof eg_metrics_default_buckets[0];

typedef struct series {
    char *values[EG_METRICS_MAX_LABELS];
    double value;      /* counter, gauge; histogram: the sum */
    uint64_t count;    /* histogram: observations */
    uint64_t *buckets; /* histogram: per-bucket (not cumulative) counts */
    struct series *next;
} series_t;

struct eg_metric {
    eg_metrics_t *reg;
    char *name, *help;
    eg_metric_type_t type;
    char *labels[EG_METRICS_MAX_LABELS];
    size_t nlabels;
    double bounds[EG_METRICS_MAX_BUCKETS];
    size_t nbounds;
    eg_map_t *index; /* key -> series_t* */
    series_t *head, **tail;
    size_t nseries;
    eg_metric_t *next;
};

struct eg_metrics {
    pthread_mutex_t mu;
    eg_metric_t *head, **tail;
    uint64_t dropped; /* updates of label sets past EG_METRICS_MAX_SERIES */
};

eg_metrics_t *eg_metrics_new(void)
{
    eg_metrics_t *m = eg_xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->tail = &m->head;
    return m;
}

static void series_free(series_t *s)
{
    for (size_t i = 0; i < EG_METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free(s->buckets);
    free(s);
}

/* Frees every series; the family then has none (and no index when renew
 * is 0: the family is being freed). */
static void family_clear(eg_metric_t *f, int renew)
{
    for (series_t *s = f->head, *n; s; s = n) {
        n = s->next;
        series_free(s);
    }
    eg_map_free(f->index);
    f->index = renew ? eg_map_new() : NULL;
    f->head = NULL;
    f->tail = &f->head;
    f->nseries = 0;
}

static void family_free(eg_metric_t *f)
{
    family_clear(f, 0);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

void eg_metrics_free(eg_metrics_t *m)
{
    if (!m)
        return;
    for (eg_metric_t *f = m->head, *n; f; f = n) {
        n = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names (colon allowed), labels without. */
static int name_ok(const char *s, int colon)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || (colon && *s == ':')))
            return 0;
    return 1;
}

static size_t count_labels(const char *const *labels)
{
    size_t n = 0;
    while (labels && labels[n])
        n++;
    return n;
}

/* 1 when f was registered with these arguments. */
static int family_same(const eg_metric_t *f, eg_metric_type_t type, const char *const *labels)
{
    if (f->type != type || f->nlabels != count_labels(labels))
        return 0;
    for (size_t i = 0; i < f->nlabels; i++)
        if (strcmp(f->labels[i], labels[i]))
            return 0;
    return 1;
}

eg_metric_t *eg_metrics_family(eg_metrics_t *m, const char *name, const char *help,
                               eg_metric_type_t type, const char *const *labels,
                               const double *buckets, size_t nbuckets)
{
    size_t nl = count_labels(labels);
    if (!m || !name_ok(name, 1) || nl > EG_METRICS_MAX_LABELS)
        return NULL;
    for (size_t i = 0; i < nl; i++)
        if (!name_ok(labels[i], 0) || !strcmp(labels[i], "le"))
            return NULL;
    if (type == EG_METRIC_HISTOGRAM && !buckets) {
        buckets = eg_metrics_default_buckets;
        nbuckets = eg_metrics_default_nbuckets;
    }
    if (type != EG_METRIC_HISTOGRAM)
        nbuckets = 0;
    if (nbuckets > EG_METRICS_MAX_BUCKETS)
        return NULL;
    for (size_t i = 1; i < nbuckets; i++)
        if (!(buckets[i] > buckets[i - 1]))
            return NULL;

    pthread_mutex_lock(&m->mu);
    eg_metric_t *f = m->head;
    for (; f; f = f->next)
        if (!strcmp(f->name, name))
            break;
    if (f) {
        pthread_mutex_unlock(&m->mu);
        return family_same(f, type, labels) ? f : NULL;
    }
    f = eg_xcalloc(1, sizeof *f);
    f->name = eg_xstrdup(name);
    f->help = eg_xstrdup(help ? help : "");
    f->index = eg_map_new();
    for (size_t i = 0; i < nl; i++)
        f->labels[f->nlabels++] = eg_xstrdup(labels[i]);
    f->reg = m;
    f->type = type;
    if (nbuckets)
        memcpy(f->bounds, buckets, nbuckets * sizeof *buckets);
    f->nbounds = nbuckets;
    f->tail = &f->head;
    *m->tail = f;
    m->tail = &f->next;
    pthread_mutex_unlock(&m->mu);
    return f;
}

/* The map key of a label set: "<len>:<value>" per label. NULL if too long. */
static int series_key(const eg_metric_t *f, const char *const *values, char *key, size_t len)
{
    /* "<length>:<value>" per label, without snprintf: it runs for every
     * event counted, where snprintf would take about 12 % of the router
     * thread under the ingest benchmark. */
    size_t n = 0;
    for (size_t i = 0; i < f->nlabels; i++) {
        const char *v = values && values[i] ? values[i] : "";
        size_t vl = strnlen(v, EG_METRICS_MAX_VALUE), x = vl, nd = 0;
        char digits[24];
        do
            digits[nd++] = (char)('0' + x % 10);
        while ((x /= 10) > 0);
        if (nd + 1 + vl >= len - n)
            return -1;
        while (nd)
            key[n++] = digits[--nd];
        key[n++] = ':';
        memcpy(key + n, v, vl);
        n += vl;
    }
    key[n] = '\0';
    return 0;
}

/* The series of values, created when new; NULL past the cap (the update is
 * dropped). Lock held. */
static series_t *series_get(eg_metric_t *f, const char *const *values)
{
    char key[EG_METRICS_MAX_LABELS * (EG_METRICS_MAX_VALUE + 8) + 1];
    if (series_key(f, values, key, sizeof key))
        return NULL;
    series_t *s = eg_map_get(f->index, key);
    if (s)
        return s;
    if (f->nseries >= EG_METRICS_MAX_SERIES) {
        f->reg->dropped++;
        return NULL;
    }
    s = eg_xcalloc(1, sizeof *s);
    for (size_t i = 0; i < f->nlabels; i++)
        s->values[i] = eg_xstrndup(values && values[i] ? values[i] : "", EG_METRICS_MAX_VALUE);
    if (f->nbounds)
        s->buckets = eg_xcalloc(f->nbounds, sizeof *s->buckets);
    eg_map_put(f->index, key, s, NULL);
    *f->tail = s;
    f->tail = &s->next;
    f->nseries++;
    return s;
}

static void update(eg_metric_t *f, const char *const *values, double v, int set)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->reg->mu);
    series_t *s = series_get(f, values);
    if (s) {
        if (f->type == EG_METRIC_HISTOGRAM) {
            size_t i = 0;
            while (i < f->nbounds && v > f->bounds[i])
                i++;
            if (i < f->nbounds)
                s->buckets[i]++;
            s->count++;
            s->value += v;
        } else if (set) {
            s->value = v;
        } else if (f->type == EG_METRIC_GAUGE || v >= 0) {
            s->value += v;
        }
    }
    pthread_mutex_unlock(&f->reg->mu);
}

void eg_metric_add(eg_metric_t *f, const char *const *values, double v)
{
    if (f && f->type != EG_METRIC_HISTOGRAM)
        update(f, values, v, 0);
}

void eg_metric_set(eg_metric_t *f, const char *const *values, double v)
{
    if (f && f->type == EG_METRIC_GAUGE)
        update(f, values, v, 1);
}

void eg_metric_observe(eg_metric_t *f, const char *const *values, double v)
{
    if (f && f->type == EG_METRIC_HISTOGRAM)
        update(f, values, v, 0);
}

void eg_metric_clear(eg_metric_t *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->reg->mu);
    family_clear(f, 1);
    pthread_mutex_unlock(&f->reg->mu);
}

double eg_metric_value(eg_metric_t *f, const char *const *values)
{
    char key[EG_METRICS_MAX_LABELS * (EG_METRICS_MAX_VALUE + 8) + 1];
    double v = 0;
    if (!f || series_key(f, values, key, sizeof key))
        return 0;
    pthread_mutex_lock(&f->reg->mu);
    series_t *s = eg_map_get(f->index, key);
    if (s)
        v = f->type == EG_METRIC_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&f->reg->mu);
    return v;
}

/* ---- rendering ---- */

/* The shortest text that reads back as v; integers without a fraction. */
static const char *num_str(char buf[40], double v)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, 40, "%.0f", v);
        return buf;
    }
    snprintf(buf, 40, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, 40, "%.17g", v);
    return buf;
}

static void put_num(FILE *out, double v)
{
    char buf[40];
    fputs(num_str(buf, v), out);
}

/* A label value or help text: \\ and \n always, \" in label values. */
static void put_escaped(FILE *out, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (quote && *s == '"')
            fputs("\\\"", out);
        else
            fputc(*s, out);
    }
}

/* {a="x",b="y"[,le="…"]}; nothing when there are no labels at all. */
static void put_labels(FILE *out, const eg_metric_t *f, const series_t *s, const char *le)
{
    if (!f->nlabels && !le)
        return;
    fputc('{', out);
    for (size_t i = 0; i < f->nlabels; i++) {
        fprintf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_escaped(out, s->values[i], 1);
        fputc('"', out);
    }
    if (le)
        fprintf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    fputc('}', out);
}

static void put_histogram(FILE *out, const eg_metric_t *f, const series_t *s)
{
    uint64_t cum = 0;
    char buf[40];
    for (size_t i = 0; i <= f->nbounds; i++) {
        const char *le = "+Inf";
        if (i < f->nbounds) {
            cum += s->buckets[i];
            le = num_str(buf, f->bounds[i]);
        } else {
            cum = s->count;
        }
        fprintf(out, "%s_bucket", f->name);
        put_labels(out, f, s, le);
        fprintf(out, " %llu\n", (unsigned long long)cum);
    }
    fprintf(out, "%s_sum", f->name);
    put_labels(out, f, s, NULL);
    fputc(' ', out);
    put_num(out, s->value);
    fprintf(out, "\n%s_count", f->name);
    put_labels(out, f, s, NULL);
    fprintf(out, " %llu\n", (unsigned long long)s->count);
}

char *eg_metrics_render(eg_metrics_t *m, size_t *len)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    char *text = NULL;
    size_t n = 0;
    /* The stream's buffer is libc's (there is no eg_x form of it): its
     * failure, out of memory, is the one way this returns NULL. */
    FILE *out = open_memstream(&text, &n);
    if (!out)
        return NULL;
    pthread_mutex_lock(&m->mu);
    for (const eg_metric_t *f = m->head; f; f = f->next) {
        fprintf(out, "# HELP %s ", f->name);
        put_escaped(out, f->help, 0);
        fprintf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
        for (const series_t *s = f->head; s; s = s->next) {
            if (f->type == EG_METRIC_HISTOGRAM) {
                put_histogram(out, f, s);
                continue;
            }
            fputs(f->name, out);
            put_labels(out, f, s, NULL);
            fputc(' ', out);
            put_num(out, s->value);
            fputc('\n', out);
        }
    }
    fprintf(out,
            "# HELP eventgateway_metrics_series_dropped_total Metric updates dropped because "
            "their family already had %d label sets.\n"
            "# TYPE eventgateway_metrics_series_dropped_total counter\n"
            "eventgateway_metrics_series_dropped_total %llu\n",
            EG_METRICS_MAX_SERIES, (unsigned long long)m->dropped);
    pthread_mutex_unlock(&m->mu);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    if (len)
        *len = n;
    return text;
}
