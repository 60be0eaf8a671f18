/*
 * fuzz_config_record.c: the configuration log's record decoder
 * (eg_config_record_decode) and the model it feeds (eg_config_check/apply,
 * matching). Anyone with write access to the config topic can write any
 * bytes there; every process must survive them.
 *
 * Input: the record key on the first line, an empty line, the value.
 * Several records can follow one another, separated by a line "--".
 */
#include "fuzz_input.h"

#include "eg_config.h"
#include "eg_configlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eg_config_t *cfg = eg_config_new();
    if (!cfg)
        return 0;
    const uint8_t *p = data, *end = data + size;
    while (p < end) {
        const uint8_t *next = end;
        for (const uint8_t *q = p; q + 3 < end; q++)
            if (q[0] == '\n' && q[1] == '-' && q[2] == '-' && q[3] == '\n') {
                next = q;
                break;
            }
        fuzz_input_t in;
        if (fuzz_input_split(&in, p, (size_t)(next - p)))
            break;
        const char *key = in.nlines ? in.lines[0] : "";
        eg_config_record_t rec;
        eg_error_t err = {0};
        if (eg_config_record_decode(key, strlen(key), in.body, in.body_len, &rec, &err) == 0) {
            if (eg_config_check(cfg, &rec.change, &err) == 0)
                eg_config_apply(cfg, &rec.change, &err);
            eg_config_record_release(&rec);
        }
        fuzz_input_free(&in);
        p = next == end ? end : next + 4;
    }
    const eg_sub_t *subs[8];
    eg_path_param_t params[8];
    size_t np = 0;
    eg_config_match(cfg, "default", "user.created", "POST", "/users/42", subs, 8, params, 8, &np);
    cJSON_Delete(eg_config_list(cfg, EG_KIND_FUNCTION, "default", NULL, 0));
    eg_config_free(cfg);
    return 0;
}
