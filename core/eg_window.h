/*
 * eg_window: reads the records of a topic whose timestamps lie in a time
 * window [from, to], each partition in offset order. The replayer and the
 * history endpoint read the events topic with it.
 *
 * Where a partition starts: the first offset whose record timestamp is at
 * least `from`, looked up with offsets-for-times. A broker without that
 * lookup answers "no such record" (-1) for every partition, librdkafka
 * 2.0.2's embedded one included; so when a non-empty partition answers -1
 * both for `from` and for the epoch (which every record is at or after), the
 * lookup is taken as missing and every partition is scanned from its first
 * offset, records older than `from` being skipped.
 * Where a partition ends: at the high watermark when the window was opened,
 * and not before. Timestamps are the producers' (CreateTime), in no
 * guaranteed order: a record stamped after `to` may be followed by records
 * stamped inside the window (a producer's clock ahead, an event written
 * with its own time), so records outside [from, to] are skipped, never
 * taken as the window's end. The cost: a window is read up to the end of
 * the topic as it was when the window was opened. (No earlier end is safe:
 * a record stamped in the past can be written at any time; the first
 * offset stamped after `to`, which offsets-for-times would give, may be
 * such an out-of-order record itself.) Records written after the window
 * was opened are never in it. A finished partition is unassigned (never
 * paused: librdkafka 2.0.2 can hang destroying a consumer with paused
 * partitions on the embedded broker).
 *
 * The reader's own consumer uses assign() (no consumer group, no commits).
 * One thread at a time; blocking calls are bounded by their timeouts.
 */
#ifndef EG_WINDOW_H
#define EG_WINDOW_H

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

#include "eg_opts.h"
#include "eg_replay.h" /* eg_replay_part_t */

typedef struct eg_window eg_window_t;

/* Opens a reader of every partition of `topic`. resume/nresume: where to
 * start and stop per partition (a replay's saved positions); NULL: look the
 * window up as described above. brokers overrides settings->brokers when not
 * NULL. NULL with a message in err on failure. */
eg_window_t *eg_window_open(const eg_settings_t *s, const char *brokers, const char *topic,
                            int64_t from_ms, int64_t to_ms, const eg_replay_part_t *resume,
                            size_t nresume, int timeout_ms, char *err, size_t errlen);

/* The next record of the window (caller destroys it), or NULL: nothing yet
 * within timeout_ms, or, with *done set, every partition finished. Its
 * partition's position moves past it. Records stamped outside [from, to]
 * are skipped. */
rd_kafka_message_t *eg_window_next(eg_window_t *w, int timeout_ms, int *done);

/* Ends a partition early (the caller has read enough of it). */
void eg_window_finish(eg_window_t *w, int32_t partition);

/* Number of partitions, and their positions (next offset to read, end)
 * into out (up to max entries). */
size_t eg_window_positions(const eg_window_t *w, eg_replay_part_t *out, size_t max);

/* 1 when the start offsets came from offsets-for-times, 0 after a scan
 * from the beginning (or a resume). */
int eg_window_looked_up(const eg_window_t *w);

void eg_window_close(eg_window_t *w);

#endif
