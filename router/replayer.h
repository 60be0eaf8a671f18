/*
 * The replayer: runs replays (docs/contract.md section 6) in a router process.
 * See replayer.c.
 */
#ifndef EG_REPLAYER_H
#define EG_REPLAYER_H

#include <stddef.h>

#include "eg_runtime.h"

typedef struct eg_replayer eg_replayer_t;

/* Joins consumer group <prefix>replayer and starts the replayer thread.
 * NULL with a message in err on failure. */
eg_replayer_t *eg_replayer_start(eg_runtime_t *rt, char *err, size_t errlen);

/* Stops the thread (a running replay saves its progress first), leaves the
 * group and frees everything. NULL is fine. */
void eg_replayer_stop(eg_replayer_t *rp);

#endif
