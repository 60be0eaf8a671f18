/* eg_json: strict parsing of outside JSON; see eg_json.h. */
#include "eg_json.h"

#include <string.h>

#include "eg_base64.h"

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

const char *eg_json_text_problem(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    int in_string = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        if (c >= 0x80) {
            size_t k = eg_utf8_seq(s + i, len - i);
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
