/*
 * eg_event_attr: an event's attributes by their CloudEvents 1.0 names, for
 * filters (eg_filter.h, eg_cesql.h): the lookup that eg_filter_match and
 * eg_cesql_eval take. A 0.1 event answers for its 1.0 equivalents (type is
 * eventType, id eventID, time eventTime, dataschema schemaURL,
 * datacontenttype contentType, an extension X extensions.X); data.a.b is a
 * member of a JSON data. A string is answered as it is, an integer of 32
 * bits or a boolean with its type, another number as its JSON text; an
 * object, an array or null is absent.
 */
#ifndef EG_EVENT_ATTR_H
#define EG_EVENT_ATTR_H

#include "eg_cesql.h"
#include "eg_event.h"

/* The lookup's context: the event, and room for numbers answered as text
 * (a few at once: an expression may compare two). */
typedef struct eg_event_attrs {
    const eg_event_t *ev;
    char num[4][32];
    unsigned next;
} eg_event_attrs_t;

/* An eg_cesql_lookup_fn over ctx, an eg_event_attrs_t. */
int eg_event_attr(void *ctx, const char *name, size_t len, eg_cesql_value_t *out);

/* The same over the structured JSON text of an event (the router's record
 * value), scanned where it is: strings point into it, but those with
 * escapes, copied (freed by eg_event_text_attrs_release). Text that is not
 * well formed answers nothing. */
typedef struct eg_event_text_attrs {
    const char *json; /* the event's text, len bytes */
    size_t len;
    int version; /* 0 until the first lookup reads it */
    char *kept[8];
    size_t nkept;
} eg_event_text_attrs_t;

int eg_event_text_attr(void *ctx, const char *name, size_t len, eg_cesql_value_t *out);
void eg_event_text_attrs_release(eg_event_text_attrs_t *a);

#endif
