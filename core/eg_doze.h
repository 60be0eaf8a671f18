/*
 * eg_doze: the idle duty cycle of a consumer on the sync path.
 *
 * Why. The embedded broker (librdkafka's mock cluster) answers a fetch only
 * when fetch.wait.max.ms runs out, so a consumer that must see a record
 * within a millisecond fetches about 900 times a second, records or not:
 * on the embedded broker the router's events consumer and the sync invoker's
 * consumer cost ~10% of a core between them while nothing happens. A real
 * broker holds an empty fetch until data arrives, so there this is not
 * needed (--idle-probe-ms, which turns it on, is off there by default).
 *
 * What. A consumer that saw no record for EG_DOZE_IDLE_AFTER_MS dozes: its
 * partitions are paused, and every `probe_ms` they are resumed for one
 * fetch window, which closes once each of them reported the end of the
 * partition (enable.partition.eof: librdkafka restarts a resumed partition's
 * fetcher and reports its end again) -- not after a fixed time, which a
 * busy machine could outrun. A record read wakes it at once: the partitions
 * stay resumed until the next quiet second. So the first record after a
 * quiet second waits up to probe_ms longer; the records after it do not
 * wait at all. In one process the ingress ends the doze as an event comes
 * in (eg_runtime_wake), before the record exists: there the first record
 * does not wait either. Pausing loses nothing: librdkafka fetches again from the
 * application's position on resume.
 *
 * Pure: the caller owns the state, gives it the time (monotonic ms) and the
 * events, and applies the verdict (pauses or resumes its partitions); one
 * thread.
 */
#ifndef EG_DOZE_H
#define EG_DOZE_H

#include <stdint.h>

#define EG_DOZE_IDLE_AFTER_MS 1000 /* quiet time before a consumer dozes */

typedef struct eg_doze {
    int probe_ms;        /* period of the fetch windows; 0: never dozes */
    int64_t last_record; /* when the last record came (or the start) */
    int dozing;          /* quiet: paused between windows */
    int window;          /* a fetch window is open */
    int64_t next_window; /* when the next one opens (dozing, no window) */
    int eofs, want_eofs; /* ends reported in the open window, and needed */
    int paused;          /* the caller's: the verdict it applied last */
} eg_doze_t;

/* probe_ms 0 turns dozing off. */
void eg_doze_init(eg_doze_t *d, int probe_ms, int64_t now);

/* A record came: awake at once. */
void eg_doze_record(eg_doze_t *d, int64_t now);

/* A partition reported its end (RD_KAFKA_RESP_ERR__PARTITION_EOF). */
void eg_doze_eof(eg_doze_t *d);

/* Whether the partitions should be paused at `now`; nparts is how many are
 * assigned (the ends a window waits for). *due (when not NULL) is lowered
 * to the time the verdict next changes by the clock, if earlier; a window
 * closes on events instead (the caller asks again after each). */
int eg_doze_paused(eg_doze_t *d, int64_t now, int nparts, int64_t *due);

#endif
