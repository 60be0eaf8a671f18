/*
 * eg_time: wall-clock times as Unix milliseconds, and their RFC 3339 text.
 *
 * The replay and history APIs take times as RFC 3339 (e.g.
 * "2024-05-01T12:00:00Z", "2024-05-01T14:00:00.250+02:00"); Kafka record
 * timestamps are Unix milliseconds. Fractions finer than a millisecond are
 * truncated. Pure functions, thread safe, no locale or TZ dependence.
 */
#ifndef EG_TIME_H
#define EG_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Buffer size that holds any eg_time_format output. */
#define EG_TIME_LEN 32

/* Parses an RFC 3339 date-time (section 5.6: full-date "T" full-time; "t"
 * and a space are accepted for "T", "z" for "Z"; a numeric offset is
 * required otherwise). Years 0001..9999; the leap second :60 is refused.
 * s need not be NUL-terminated (len bytes). 0 and *ms set, -1 when
 * malformed. */
int eg_time_parse(const char *s, size_t len, int64_t *ms);

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into buf. Returns buf. ms must
 * be in years 0001..9999. */
char *eg_time_format(int64_t ms, char buf[EG_TIME_LEN]);

/* The current wall-clock time (CLOCK_REALTIME) and a monotonic clock. */
int64_t eg_time_now_ms(void);
int64_t eg_time_mono_ms(void);

#endif
