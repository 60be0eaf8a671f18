/* eg_json: strict parsing of outside JSON; see eg_json.h. */
#include "eg_json.h"

#include <string.h>

int eg_json_has_nul(const char *s, size_t len)
{
    if (!memmem(s, len, "\\u0000", 6)) /* the usual case: no such escape at all */
        return 0;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!in_string) {
            if (c == '"')
                in_string = 1;
            continue;
        }
        if (c == '"') {
            in_string = 0;
        } else if (c == '\\') {
            if (i + 1 < len && s[i + 1] == 'u' && i + 5 < len && !memcmp(s + i + 2, "0000", 4))
                return 1;
            i++; /* skip the escaped character */
        }
    }
    return 0;
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 when it is not
 * well-formed (RFC 3629: no overlong forms, no surrogates, <= U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t k;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return k;
}

const char *eg_json_text_problem(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    int in_string = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        if (c >= 0x80) {
            size_t k = utf8_seq(s + i, len - i);
            if (!k)
                return "the body is not valid UTF-8";
            i += k;
            continue;
        }
        if (in_string) {
            if (c < 0x20)
                return c ? "strings may not contain control characters (escape them)"
                         : "strings may not contain the NUL character";
            if (c == '\\') {
                if (i + 5 < len && s[i + 1] == 'u' && !memcmp(s + i + 2, "0000", 4))
                    return "strings may not contain the NUL character (\\u0000)";
                i += 2; /* the escaped character */
                continue;
            }
            if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == 0) {
            return "the body may not contain the NUL character";
        }
        i++;
    }
    return NULL;
}

cJSON *eg_json_parse(const char *text, size_t len, const char **why)
{
    const char *problem = eg_json_text_problem(text, len);
    if (problem) {
        if (why)
            *why = problem;
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j && why)
        *why = "malformed JSON";
    return j;
}

cJSON *eg_json_parse_record(const char *text, size_t len)
{
    return eg_json_has_nul(text, len) ? NULL : cJSON_ParseWithLength(text, len);
}
