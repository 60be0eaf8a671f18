/*
 * eg_log: leveled, line-oriented logging for every role.
 *
 * Rules of this module:
 *  - One process-wide sink, set once by eg_log_setup() before threads start
 *    (until then: level info, text format, stderr). The level alone may be
 *    changed again at any time from any thread.
 *  - The EG_LOG_* macros test the level before evaluating their arguments, so
 *    a suppressed debug line costs one function call and nothing else: do not
 *    rely on side effects inside log arguments.
 *  - Every record is one line, emitted with one write() under a lock, so lines
 *    from concurrent threads never interleave.
 *  - Text:  2026-11-23T09:00:00.123Z INFO  [component] message key=value k2="a b"
 *    JSON:  {"time":"…","level":"info","component":"…","msg":"…","key":"value"}
 *    Control characters are escaped in both formats, so a record is always
 *    exactly one line; JSON output is always valid JSON (bad UTF-8 -> U+FFFD).
 *  - Nothing here allocates memory the caller has to free.
 */
#ifndef EG_LOG_H
#define EG_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Same typedef as <librdkafka/rdkafka.h> (repeating a typedef is valid C11). */
typedef struct rd_kafka_s rd_kafka_t;

typedef enum eg_log_level {
    EG_LOG_LEVEL_DEBUG = 0,
    EG_LOG_LEVEL_INFO = 1,
    EG_LOG_LEVEL_WARN = 2,
    EG_LOG_LEVEL_ERROR = 3,
} eg_log_level_t;

typedef enum eg_log_format {
    EG_LOG_FORMAT_TEXT = 0,
    EG_LOG_FORMAT_JSON = 1,
} eg_log_format_t;

/* A structured field. Both strings are borrowed for the duration of the call;
 * a NULL value is written as "" in text and null in JSON. A key time, level,
 * component or msg is written as "field.<key>" in JSON (the fixed members
 * stay unique). The value of a field whose key contains authorization,
 * accesskey, secret, password, token, admin_key, adminkey or api_key
 * (case-insensitive) and does not end in "id" is written as "[redacted]":
 * credentials never reach the log through a field. */
typedef struct eg_log_field {
    const char *key;
    const char *value;
} eg_log_field_t;

/* "debug", "info", "warn" (or "warning"), "error", case-insensitive.
 * Returns 0 and sets *out, or -1 (and leaves *out alone). */
int eg_log_level_parse(const char *s, eg_log_level_t *out);
/* "text" or "json", case-insensitive. Returns 0 and sets *out, or -1. */
int eg_log_format_parse(const char *s, eg_log_format_t *out);
/* Lower-case name of a level ("info"); "?" for an unknown value. Static storage. */
const char *eg_log_level_name(eg_log_level_t level);

/* Sets the sink. out is borrowed and must outlive all logging (NULL = stderr).
 * If out has a file descriptor the log writes straight to it (bypassing the
 * FILE's buffer); otherwise (open_memstream, fmemopen) it fwrite()s and
 * fflush()es under the same lock. Call before starting threads. */
void eg_log_setup(eg_log_level_t level, eg_log_format_t fmt, FILE *out);
/* Changes only the threshold; safe from any thread. */
void eg_log_set_level(eg_log_level_t level);
/* 1 if a record at this level would be written, else 0. Thread-safe. */
int eg_log_enabled(eg_log_level_t level);

/* Writes one record (checks the level again). component may be NULL ("-"). */
void eg_log_write(eg_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same with nfields structured fields appended, in order. */
void eg_log_writef(eg_log_level_t level, const char *component, const eg_log_field_t *fields,
                   size_t nfields, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void eg_log_vwritef(eg_log_level_t level, const char *component, const eg_log_field_t *fields,
                    size_t nfields, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

/* For rd_kafka_conf_set_log_cb(): syslog levels 0-3 -> error, 4 -> warn,
 * 5-6 -> info, 7 -> debug; component "kafka", fields "fac" and "client".
 * Runs on librdkafka's threads; safe. */
void eg_log_rdkafka_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* The macros: the level is tested before any argument is evaluated.
 * Usage: EG_LOG_INFO("router", "assigned %d partitions", n); */
#define EG_LOG(level, component, ...)                                                              \
    do {                                                                                           \
        if (eg_log_enabled(level))                                                                 \
            eg_log_write((level), (component), __VA_ARGS__);                                       \
    } while (0)
#define EG_LOG_DEBUG(component, ...) EG_LOG(EG_LOG_LEVEL_DEBUG, component, __VA_ARGS__)
#define EG_LOG_INFO(component, ...) EG_LOG(EG_LOG_LEVEL_INFO, component, __VA_ARGS__)
#define EG_LOG_WARN(component, ...) EG_LOG(EG_LOG_LEVEL_WARN, component, __VA_ARGS__)
#define EG_LOG_ERROR(component, ...) EG_LOG(EG_LOG_LEVEL_ERROR, component, __VA_ARGS__)

/* With fields; the field array (e.g. a compound literal) is not built unless
 * the level is enabled:
 *   EG_LOGF(EG_LOG_LEVEL_INFO, "invoker",
 *           ((eg_log_field_t[]){{"event", id}, {"function", fn}}), 2, "delivered in %d ms", ms);
 */
#define EG_LOGF(level, component, fields, nfields, ...)                                            \
    do {                                                                                           \
        if (eg_log_enabled(level))                                                                 \
            eg_log_writef((level), (component), (fields), (nfields), __VA_ARGS__);                 \
    } while (0)

#endif /* EG_LOG_H */
