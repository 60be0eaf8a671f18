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

cJSON *eg_json_parse(const char *text, size_t len, const char **why)
{
    if (eg_json_has_nul(text, len)) {
        if (why)
            *why = "strings may not contain the NUL character (\\u0000)";
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j && why)
        *why = "malformed JSON";
    return j;
}
