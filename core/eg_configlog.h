/*
 * eg_configlog: the configuration log. Every process holds one; it reads the
 * config topic from its first offset into an eg_config_t, reports readiness
 * once it has read what the topic held at start-up, then follows new records.
 * Writers (the Config API) append one record per change and wait until their
 * own record has come back and been applied, so the order of the log, not of
 * the requests, decides every conflict.
 *
 * Record format (schemas/config-record.schema.json):
 *   key   "<space>/<kind>/<id>/<record id>"  (record id: "<instance>-<seq>")
 *   value {"op":"create|update|delete","space":…,"kind":…,"id":…,"data":{…}}
 *   a record with no value (a tombstone) deletes a key: garbage collection.
 *
 * Compaction. Validation happens when a record is applied, so the log holds
 * rejected records too; and a record's verdict may depend on records of other
 * keys that come before it. Compaction keeps only the newest record of each
 * key, which would let a rejected record replace an accepted one, or move an
 * accepted record behind one that refers to it. So every record has a key of
 * its own (the record id) and compaction only ever removes what writers
 * tombstone: rejected records, updates that a later update superseded, and
 * every record of a deleted resource. What survives is, per live resource,
 * its create record (never moved) and its newest update, which replay to the
 * same state and the same verdicts. The writer tombstones its own garbage at
 * once; any writer tombstones garbage left by a writer that died (at start-up
 * and after a grace period).
 *
 * The order of the tombstones. The cleaner works on a prefix of the log: at
 * any moment it may have removed the records whose tombstones come before
 * some offset and not the others (tombstones can straddle a segment roll).
 * So the rule: tombstones are written in the order their records became
 * garbage (a rejected record when it is applied, a superseded update when
 * the next update is, a deleted resource's records when its delete is), and
 * a deleted resource's in log order: its create first, its delete record
 * last. Then every state compaction leaves replays to the live one: what
 * is gone is whatever became garbage before some point, the records still
 * there before that point are the live resources' creates and updates as
 * of then, which replay as they did, and from there on the log is the same.
 * In hash-map order, a delete could go while its create stayed: the resource
 * came back for every process that read the log from its start. A sweep
 * stops at the first garbage it may not tombstone yet (another writer's in
 * its grace period), so no later tombstone overtakes it. What the rule
 * cannot cover: a tombstone the producer gives up on (message.timeout.ms,
 * minutes of outage) while a later one got through; it is sent again at the
 * next sweep.
 *
 * Threads: one consumer thread applies records under the write lock; readers
 * take the read lock (eg_configlog_read_begin/end). eg_configlog_write may be
 * called from any thread; it blocks until its record is applied or the write
 * timeout passes.
 */
#ifndef EG_CONFIGLOG_H
#define EG_CONFIGLOG_H

#include <stdint.h>

#include "eg_config.h"
#include "eg_kafka.h"
#include "eg_opts.h"

typedef struct eg_configlog eg_configlog_t;

/* A decoded configuration record. */
typedef struct eg_config_record {
    char *rid;          /* record id, the key's last part */
    eg_change_t change; /* the change, validated and normalised */
} eg_config_record_t;

/* Decodes and validates one record value (a change); key is the record key.
 * 0 with *out filled (release with eg_config_record_release), -1 with err. */
int eg_config_record_decode(const char *key, size_t klen, const char *value, size_t vlen,
                            eg_config_record_t *out, eg_error_t *err);
void eg_config_record_release(eg_config_record_t *r);
/* Encodes a change as a record value: a new string the caller frees. */
char *eg_config_record_encode(const eg_change_t *c);

/* writer: this process takes Config API writes and collects the log's
 * garbage. brokers overrides settings->brokers when not NULL. fetch_wait_ms:
 * the consumer's fetch.wait.max.ms (eg_embedded_t.idle_fetch_wait_ms). */
eg_configlog_t *eg_configlog_new(const eg_settings_t *s, const char *brokers,
                                 const eg_topics_t *topics, int writer, int fetch_wait_ms,
                                 char *err, size_t errlen);

/* Starts the consumer thread on the topic, which exists (eg_runtime creates
 * it: one partition, compacted). -1 with message on error. */
int eg_configlog_start(eg_configlog_t *log, char *err, size_t errlen);

/* 1 once everything the topic held at start-up has been applied. */
int eg_configlog_ready(eg_configlog_t *log);
/* Waits up to timeout_ms for readiness: 0 ready, -1 not yet. */
int eg_configlog_wait_ready(eg_configlog_t *log, int timeout_ms);

/* Writes a change and waits until it has been applied (or rejected) by this
 * process. On success returns 0 and, for create/update, *result is a copy of
 * the resource as stored (caller frees); on failure returns -1 with err
 * (4xx from the rules, 503 when Kafka did not take or return the record in
 * time). Nothing is written when the change fails the rules up front. */
int eg_configlog_write(eg_configlog_t *log, const eg_change_t *c, cJSON **result, eg_error_t *err);

/* Read access to the model: hold it briefly, never across I/O. */
const eg_config_t *eg_configlog_read_begin(eg_configlog_t *log);
void eg_configlog_read_end(eg_configlog_t *log);

/* Offset of the next record to apply (for status and tests). */
int64_t eg_configlog_position(eg_configlog_t *log);
/* The instance id that prefixes this process's record ids. */
const char *eg_configlog_instance(const eg_configlog_t *log);

/* Stops the thread and frees everything. */
void eg_configlog_free(eg_configlog_t *log);

#endif
