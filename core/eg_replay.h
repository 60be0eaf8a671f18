/*
 * eg_replay: the replay record and the table of replays, shared by the
 * Config API (which creates, reads and cancels replays) and the replayer of
 * the routers (which runs them). docs/contract.md section 6.
 *
 * A replay lives in the compacted topic <prefix>replays, one record per
 * replay keyed "<space>/<replayId>" (schemas/replay-record.schema.json):
 *
 *   {"replayId","space","subscriptionId","from","to" (RFC 3339),
 *    "status": "running"|"done"|"failed"|"cancelled",
 *    "scanned","delivered","createdAt","updatedAt","error"?,
 *    "partitions":[{"partition","next","end"}]?}
 *
 * The Config API writes the first record (status running) and, on DELETE,
 * one with status cancelled; the replayer that runs the replay writes its
 * progress (counters, and per partition of the events topic the next offset
 * to read and the offset to stop at) about every second, and the final
 * record (done or failed). Every later record of a replay is written to the
 * partition its first record went to.
 *
 * A table keeps the newest state of each replay. Its one rule: a replay that
 * ended (done, failed, cancelled) never runs again, so a "running" record
 * that arrives after an ending one (a replayer's progress crossing a cancel)
 * does not bring it back. Tables are not thread safe.
 */
#ifndef EG_REPLAY_H
#define EG_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "eg_config.h" /* EG_MAX_NAME */
#include "eg_error.h"

typedef enum eg_replay_status {
    EG_REPLAY_RUNNING = 0,
    EG_REPLAY_DONE,
    EG_REPLAY_FAILED,
    EG_REPLAY_CANCELLED,
} eg_replay_status_t;

/* "running", "done", "failed", "cancelled". */
const char *eg_replay_status_name(eg_replay_status_t s);

#define EG_REPLAY_ID_MAX 64      /* replay ids: generated UUIDs */
#define EG_REPLAY_MAX_PARTS 4096 /* partitions of the events topic a record may list */
#define EG_REPLAY_RECORD_MAX (1 << 20)

/* Where a replay stands in one partition of the events topic. */
typedef struct eg_replay_part {
    int32_t partition;
    int64_t next; /* the next offset to read */
    int64_t end;  /* stop before this offset (the high watermark at start) */
} eg_replay_part_t;

/* One replay. Owns subscription and parts. */
typedef struct eg_replay {
    char space[EG_MAX_NAME + 1];
    char id[EG_REPLAY_ID_MAX + 1];
    char *subscription;
    int64_t from_ms, to_ms;
    int64_t created_ms, updated_ms;
    eg_replay_status_t status;
    int64_t scanned;         /* events of the window read */
    int64_t delivered;       /* invocations written for the subscription */
    char error[256];         /* why it failed, or "" */
    eg_replay_part_t *parts; /* NULL until the replayer first saves it */
    size_t nparts;
} eg_replay_t;

/* Frees what r owns and zeroes it; safe on a zeroed replay. */
void eg_replay_release(eg_replay_t *r);

/* Deep copy into dst (caller storage, not yet holding anything). Always 0:
 * nothing makes it fail. */
int eg_replay_copy(eg_replay_t *dst, const eg_replay_t *src);

/* The record key "<space>/<id>" into buf; -1 if it does not fit. */
int eg_replay_key(const eg_replay_t *r, char *buf, size_t len);

/* The record value: a new JSON text the caller frees; never NULL. */
char *eg_replay_encode(const eg_replay_t *r);

/* Decodes a record value (not necessarily NUL-terminated). 0 with *out
 * filled (caller releases), -1 with err (malformed: a record any client may
 * have written). */
int eg_replay_decode(const char *value, size_t len, eg_replay_t *out, eg_error_t *err);

/* The API representation: {"replayId","space","subscriptionId","from","to",
 * "status","scanned","delivered","createdAt","updatedAt","error"?}. Caller
 * frees. */
cJSON *eg_replay_to_api(const eg_replay_t *r);

/* ---- the table ---- */

typedef struct eg_replay_table eg_replay_table_t;

/* An empty table; never NULL. */
eg_replay_table_t *eg_replay_table_new(void);
void eg_replay_table_free(eg_replay_table_t *t);

/* Takes in a record read from `partition` (copied). Returns 1 when the
 * table changed, 0 when the record was ignored (it would revive an ended
 * replay, or its key is too long); never -1. */
int eg_replay_table_apply(eg_replay_table_t *t, const eg_replay_t *r, int32_t partition);

/* Forgets a replay (a tombstone). */
void eg_replay_table_remove(eg_replay_table_t *t, const char *space, const char *id);

/* The replay (borrowed: valid until the table next changes) and the
 * partition of its records, or NULL. */
const eg_replay_t *eg_replay_table_get(const eg_replay_table_t *t, const char *space,
                                       const char *id, int32_t *partition);

/* A new array of the API objects of a space's replays, oldest first. */
cJSON *eg_replay_table_list(const eg_replay_table_t *t, const char *space);

/* Calls fn for each replay (any order) until it returns non-zero, which is
 * then returned. fn must not change the table. */
int eg_replay_table_each(const eg_replay_table_t *t,
                         int (*fn)(void *arg, const eg_replay_t *r, int32_t partition), void *arg);

#endif
