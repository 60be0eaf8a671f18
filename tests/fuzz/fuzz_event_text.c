/*
 * fuzz_event_text.c: the router's reading of an event's attributes from a
 * record's JSON text (eg_event_text_attr), which anyone who may write to the
 * events topic controls.
 *
 * Input: the record's value, raw bytes. Invariants: every lookup ends within
 * the text (ASan), a string answered lies within the text or in a copy the
 * context keeps, and the copies are freed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eg_event_attr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"specversion", "id",        "type",   "source",
                                        "time",        "region",    "data.a", "data.a.b",
                                        "data.x.y.z",  "dataschema"};
    char *text = malloc(size ? size : 1); /* exactly the input: a read past it is seen */
    memcpy(text, data, size);
    eg_event_text_attrs_t a = {.json = text, .len = size};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        eg_cesql_value_t v;
        if (eg_event_text_attr(&a, names[i], strlen(names[i]), &v) == 0 &&
            v.type == EG_CESQL_STRING && v.len) {
            int inside = v.s >= text && v.s + v.len <= text + size;
            int kept = 0;
            for (size_t k = 0; k < a.nkept; k++)
                kept |= v.s == a.kept[k];
            if (!inside && !kept)
                abort();
        }
    }
    eg_event_text_attrs_release(&a);
    free(text);
    return 0;
}
