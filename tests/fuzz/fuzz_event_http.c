/*
 * fuzz_event_http.c: the Events API's request decoder (eg_event_from_http):
 * CloudEvents 1.0 structured and binary, 0.1 JSON, the legacy Event: header
 * and the http.request builder, decided by the headers.
 *
 * Input: first line "METHOD PATH[?QUERY]", then "Name: value" header lines,
 * an empty line, the body. Any outcome is fine but a crash, a leak or
 * undefined behaviour; a decoded event must serialise and parse back, and
 * the body it is stored as when it came structured (raw) must parse back to it.
 */
#include "fuzz_input.h"

#include "fuzz_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input_t in;
    if (fuzz_input_split(&in, data, size))
        return 0;
    eg_header_t headers[FUZZ_MAX_LINES];
    size_t nh = 0;
    const char *method = "POST", *path = "/", *query = NULL;
    if (in.nlines > 0) {
        char *sp = strchr(in.lines[0], ' ');
        if (sp) {
            *sp = '\0';
            method = in.lines[0];
            path = sp + 1;
            char *q = strchr(sp + 1, '?');
            if (q) {
                *q = '\0';
                query = q + 1;
            }
        }
    }
    for (size_t i = 1; i < in.nlines; i++)
        if (fuzz_header_split(in.lines[i], &headers[nh].name, &headers[nh].value) == 0)
            nh++;
    eg_http_input_t req = {
        .method = method,
        .path = path,
        .raw_query = query,
        .host = "localhost",
        .headers = headers,
        .nheaders = nh,
        .body = in.body_len ? in.body : NULL,
        .body_len = in.body_len,
    };
    eg_event_t ev = {0};
    eg_error_t err = {0};
    if (eg_event_from_http(&req, &ev, &err) == 0) {
        fuzz_event_roundtrip(&ev);
        /* a body stored as it came (raw) is inside the body and is the event */
        if (ev.raw) {
            if (ev.raw < in.body || ev.raw + ev.raw_len > in.body + in.body_len)
                abort();
            eg_event_t back = {0};
            if (eg_event_parse(ev.raw, ev.raw_len, &back, &err) != 0 ||
                !cJSON_Compare(back.json, ev.json, 1))
                abort();
            eg_event_release(&back);
        }
    }
    eg_event_release(&ev);
    fuzz_input_free(&in);
    return 0;
}
