/*
 * eg_json: JSON parsing for input from outside (request bodies, records).
 *
 * cJSON decodes the escape \u0000 into a NUL byte, which silently cuts the
 * C string short ("a\u0000b" would become "a"). Input that holds one is
 * refused instead, so that what the gateway stores is what it was sent.
 */
#ifndef EG_JSON_H
#define EG_JSON_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* 1 when the JSON text has a \u0000 escape inside a string, else 0. */
int eg_json_has_nul(const char *text, size_t len);

/* Parses text (not necessarily NUL-terminated). NULL on malformed JSON or a
 * \u0000 escape; *why (if not NULL) then says which. Caller frees. */
cJSON *eg_json_parse(const char *text, size_t len, const char **why);

#endif
