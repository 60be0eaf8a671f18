/*
 * eg_doze: the idle duty cycle of a consumer on the sync path (see
 * eg_doze.h).
 */
#include "eg_doze.h"

void eg_doze_init(eg_doze_t *d, int probe_ms, int64_t now)
{
    d->probe_ms = probe_ms > 0 ? probe_ms : 0;
    d->last_record = now;
    d->dozing = d->window = 0;
    d->next_window = 0;
    d->eofs = d->want_eofs = 0;
    d->paused = 0;
}

void eg_doze_record(eg_doze_t *d, int64_t now)
{
    if (now > d->last_record)
        d->last_record = now;
    d->dozing = d->window = 0;
}

void eg_doze_eof(eg_doze_t *d)
{
    if (d->window)
        d->eofs++;
}

static void lower(int64_t *due, int64_t t)
{
    if (due && t < *due)
        *due = t;
}

int eg_doze_paused(eg_doze_t *d, int64_t now, int nparts, int64_t *due)
{
    if (!d->probe_ms)
        return 0;
    if (!d->dozing) {
        int64_t quiet_from = d->last_record + EG_DOZE_IDLE_AFTER_MS;
        if (now < quiet_from) {
            lower(due, quiet_from);
            return 0;
        }
        /* Falls asleep: the partitions were fetching until now. */
        d->dozing = 1;
        d->window = 0;
        d->next_window = now + d->probe_ms;
    }
    if (d->window) {
        if (d->eofs < d->want_eofs)
            return 0;
        d->window = 0;
        d->next_window = now + d->probe_ms;
    }
    if (now >= d->next_window && nparts > 0) {
        d->window = 1;
        d->eofs = 0;
        d->want_eofs = nparts;
        return 0;
    }
    lower(due, d->next_window > now ? d->next_window : now + d->probe_ms);
    return 1;
}
