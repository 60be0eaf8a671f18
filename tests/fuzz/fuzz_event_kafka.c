/*
 * fuzz_event_kafka.c: records anyone may write to the events topic
 * (eg_event_from_kafka: CloudEvents Kafka binding, structured or binary) and
 * the invoker's reader of stored events (eg_event_parse).
 *
 * Input: "Name: value" header lines (ce_* headers, content-type), an empty
 * line, the record value. A decoded event must serialise and parse back.
 */
#include "fuzz_input.h"

#include <librdkafka/rdkafka.h>

#include "fuzz_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input_t in;
    if (fuzz_input_split(&in, data, size))
        return 0;
    rd_kafka_headers_t *hdrs = in.nlines ? rd_kafka_headers_new(in.nlines) : NULL;
    for (size_t i = 0; i < in.nlines; i++) {
        const char *name, *value;
        if (fuzz_header_split(in.lines[i], &name, &value) == 0)
            rd_kafka_header_add(hdrs, name, -1, value, -1);
    }
    eg_event_t ev = {0};
    eg_error_t err = {0};
    if (eg_event_from_kafka(in.body_len ? in.body : NULL, in.body_len, hdrs, &ev, &err) == 0)
        fuzz_event_roundtrip(&ev);
    eg_event_release(&ev);
    /* the same bytes as a stored structured event */
    eg_event_t parsed = {0};
    eg_event_parse(in.body, in.body_len, &parsed, &err);
    eg_event_release(&parsed);
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    fuzz_input_free(&in);
    return 0;
}
