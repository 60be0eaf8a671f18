/*
 * fuzz_event.h: the invariant both event decoders share: an event that was
 * accepted (and so stored in Kafka) serialises to JSON the invoker parses
 * back. Aborts otherwise, which libFuzzer reports as a crash.
 */
#ifndef EG_FUZZ_EVENT_H
#define EG_FUZZ_EVENT_H

#include <stdlib.h>

#include "eg_event.h"

static inline void fuzz_event_roundtrip(const eg_event_t *ev)
{
    size_t len = 0;
    char *s = eg_event_serialize(ev, &len);
    if (s) {
        eg_event_t back = {0};
        eg_error_t err = {0};
        if (eg_event_parse(s, len, &back, &err) != 0)
            abort();
        eg_event_release(&back);
    }
    free(s);
}

#endif
