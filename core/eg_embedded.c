/*
 * eg_embedded.c: the two profiles (see eg_embedded.h).
 */
#include "eg_embedded.h"

const eg_embedded_t eg_embedded_none = {
    .name = "Apache Kafka",
    .partitions = 8,
    .reply_partitions = 1,
    .sync_fetch_wait_ms = 100,
    .reply_fetch_wait_ms = 100,
    .async_fetch_wait_ms = 100,
    .idle_fetch_wait_ms = 500,
    .idle_probe_ms = 0,
    .read_txn_offsets = 1,
    .topic_configs = 1,
    .reap_reply_topics = 1,
};

const eg_embedded_t eg_embedded_mock = {
    .name = "librdkafka mock cluster",
    .mock = 1,
    .partitions = 2,
    .reply_partitions = 2,
    .sync_fetch_wait_ms = 1,
    .reply_fetch_wait_ms = 0,
    .async_fetch_wait_ms = 10,
    .idle_fetch_wait_ms = 20,
    .idle_probe_ms = 50,
    .backlog_guard = 1,
    .commit_after_txn = 1,
    .read_txn_offsets = 0,
    .dedupe_fan_outs = 1,
    .topics_by_first_record = 1,
};

int eg_embedded_auto(int value, int profile_value)
{
    return value >= 0 ? value : profile_value;
}
