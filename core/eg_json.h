/*
 * eg_json: JSON parsing for input from outside (request bodies, records).
 *
 * cJSON decodes the escape \u0000 into a NUL byte, which silently cuts the
 * C string short ("a\u0000b" would become "a"), copies a raw NUL byte or
 * other control character inside a string as it is (the same cut), and
 * takes any bytes for UTF-8. Input with any of these is refused instead, so
 * that what the gateway stores is what it was sent, and what it answers is
 * valid JSON.
 */
#ifndef EG_JSON_H
#define EG_JSON_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* 1 when the JSON text has a \u0000 escape inside a string, else 0. */
int eg_json_has_nul(const char *text, size_t len);

/* Why text is refused before parsing, or NULL: invalid UTF-8, a NUL byte,
 * a raw control character or a \u0000 escape inside a string. */
const char *eg_json_text_problem(const char *text, size_t len);

/* Parses text (not necessarily NUL-terminated). NULL on malformed JSON or
 * text eg_json_text_problem refuses; *why (if not NULL) then says which.
 * Caller frees. */
cJSON *eg_json_parse(const char *text, size_t len, const char **why);

/* Parses a record the gateway wrote (a Kafka record's value: the config
 * log, replays, replies, history): only a \u0000 escape is refused, so a
 * record written before the checks above stays readable. */
cJSON *eg_json_parse_record(const char *text, size_t len);

#endif
