/*
 * fuzz_input.h: splitting one libFuzzer input into the parts a target needs.
 *
 * Inputs are text-like so that the seed corpus stays readable: a "head" of
 * lines ("Name: value" headers, or one operation per line) up to the first
 * empty line, then a body of raw bytes. fuzz_input_t copies the input into
 * NUL-terminated pieces it owns (fuzz_input_free), since the code under test
 * expects C strings where real callers hand it C strings.
 */
#ifndef EG_FUZZ_INPUT_H
#define EG_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_LINES 64

typedef struct {
    char *head;                  /* owned copy of the head, lines NUL-split in place */
    char *lines[FUZZ_MAX_LINES]; /* into head */
    size_t nlines;
    char *body; /* owned, NUL-terminated copy of the body */
    size_t body_len;
} fuzz_input_t;

static inline int fuzz_input_split(fuzz_input_t *in, const uint8_t *data, size_t size)
{
    memset(in, 0, sizeof *in);
    size_t hlen = size;
    const uint8_t *sep = NULL;
    for (size_t i = 0; i + 1 < size; i++)
        if (data[i] == '\n' && data[i + 1] == '\n') {
            sep = data + i;
            break;
        }
    if (sep)
        hlen = (size_t)(sep - data);
    in->head = malloc(hlen + 1);
    size_t blen = sep ? size - hlen - 2 : 0;
    in->body = malloc(blen + 1);
    if (!in->head || !in->body) {
        free(in->head);
        free(in->body);
        return -1;
    }
    memcpy(in->head, data, hlen);
    in->head[hlen] = '\0';
    if (blen)
        memcpy(in->body, sep + 2, blen);
    in->body[blen] = '\0';
    in->body_len = blen;
    char *p = in->head;
    while (*p && in->nlines < FUZZ_MAX_LINES) {
        in->lines[in->nlines++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    return 0;
}

/* Splits a "Name: value" line in place; 0, or -1 when it has no colon. */
static inline int fuzz_header_split(char *line, const char **name, const char **value)
{
    char *colon = strchr(line, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    const char *v = colon + 1;
    while (*v == ' ')
        v++;
    *name = line;
    *value = v;
    return 0;
}

static inline void fuzz_input_free(fuzz_input_t *in)
{
    free(in->head);
    free(in->body);
}

#endif
