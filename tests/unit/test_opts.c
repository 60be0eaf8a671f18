/*
 * Unit tests of core/eg_opts: defaults, precedence (default < environment <
 * flag), both flag forms, booleans, the repeatable --kafka list and EG_KAFKA
 * splitting, every class of error (exit code 2 and a message naming the flag
 * or variable), role filtering of flags and of --help, --version.
 *
 * Every test starts and ends with all EG_* variables of the table unset, so
 * the tests do not depend on the environment they run in. out and err are
 * captured in memory streams.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eg_opts.h"

static const char *const env_vars[] = {
    "EG_DEV",
    "EG_EVENTS_PORT",
    "EG_CONFIG_PORT",
    "EG_LISTEN",
    "EG_EMBED_DATA_DIR",
    "EG_KAFKA_BROKERS",
    "EG_KAFKA",
    "EG_TOPIC_PREFIX",
    "EG_LOG_LEVEL",
    "EG_LOG_FORMAT",
    "EG_MAX_BODY_BYTES",
    "EG_WRITE_TIMEOUT_MS",
    "EG_REPLICATION_FACTOR",
    "EG_INSTANCE_ID",
};

static int clear_env(void **state)
{
    for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
        unsetenv(env_vars[i]);
    return 0;
}

/* One parse: settings, exit code and captured streams; release with done(). */
typedef struct run {
    eg_settings_t s;
    int rc;
    char *out;
    char *err;
} run_t;

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})

static void parse(run_t *r, int role, char **argv)
{
    size_t outlen = 0, errlen = 0;
    int argc = 0;
    while (argv[argc])
        argc++;
    r->out = r->err = NULL;
    FILE *out = open_memstream(&r->out, &outlen);
    FILE *err = open_memstream(&r->err, &errlen);
    assert_non_null(out);
    assert_non_null(err);
    eg_settings_init(&r->s);
    r->rc = eg_settings_parse(&r->s, role, argc, argv, out, err);
    fclose(out);
    fclose(err);
}

static void done(run_t *r)
{
    eg_settings_release(&r->s);
    free(r->out);
    free(r->err);
}

static void test_defaults(void **state)
{
    run_t r;
    parse(&r, EG_ROLE_GATEWAY, ARGV("event-gateway"));
    assert_int_equal(r.rc, EG_SETTINGS_CONTINUE);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "");
    assert_int_equal(r.s.dev, 0);
    assert_int_equal(r.s.events_port, 4000);
    assert_int_equal(r.s.config_port, 4001);
    assert_string_equal(r.s.listen, "0.0.0.0");
    assert_null(r.s.embed_data_dir);
    assert_null(r.s.brokers);
    assert_int_equal(r.s.kafka_mock, 0); /* told by --kafka-mock, never guessed */
    assert_null(r.s.kafka_props);
    assert_int_equal(r.s.kafka_props_count, 0);
    assert_string_equal(r.s.topic_prefix, "eg.");
    assert_int_equal(r.s.log_level, EG_LOG_LEVEL_INFO);
    assert_int_equal(r.s.log_format, EG_LOG_FORMAT_TEXT);
    assert_int_equal(r.s.max_body_bytes, 1048576L);
    assert_int_equal(r.s.write_timeout_ms, 10000);
    assert_int_equal(r.s.replication_factor, -1);
    assert_int_equal(r.s.partitions, 0);     /* per kind of cluster: eg_runtime */
    assert_int_equal(r.s.events_threads, 0); /* half the CPUs: eg_events_api_threads */
    assert_true(r.s.ingest_linger_ms > 0.099 && r.s.ingest_linger_ms < 0.101);
    assert_true(r.s.sync_linger_ms == 0);
    assert_non_null(r.s.instance_id);
    assert_true(strlen(r.s.instance_id) > 2);
    assert_non_null(strchr(r.s.instance_id, '-'));
    done(&r);
}

static void test_env_overrides_default(void **state)
{
    run_t r;
    setenv("EG_DEV", "1", 1);
    setenv("EG_EVENTS_PORT", "5000", 1);
    setenv("EG_LISTEN", "127.0.0.1", 1);
    setenv("EG_KAFKA_BROKERS", "k1:9092,k2:9092", 1);
    setenv("EG_TOPIC_PREFIX", "t.", 1);
    setenv("EG_LOG_LEVEL", "debug", 1);
    setenv("EG_LOG_FORMAT", "JSON", 1);
    setenv("EG_MAX_BODY_BYTES", "2048", 1);
    setenv("EG_WRITE_TIMEOUT_MS", "100", 1);
    setenv("EG_REPLICATION_FACTOR", "3", 1);
    setenv("EG_INSTANCE_ID", "node-a", 1);
    setenv("EG_EMBED_DATA_DIR", "/var/lib/eg", 1);
    setenv("EG_CONFIG_PORT", "", 1); /* empty counts as unset */
    parse(&r, EG_ROLE_GATEWAY, ARGV("event-gateway"));
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    assert_int_equal(r.s.dev, 1);
    assert_int_equal(r.s.events_port, 5000);
    assert_int_equal(r.s.config_port, 4001);
    assert_string_equal(r.s.listen, "127.0.0.1");
    assert_string_equal(r.s.brokers, "k1:9092,k2:9092");
    assert_string_equal(r.s.topic_prefix, "t.");
    assert_int_equal(r.s.log_level, EG_LOG_LEVEL_DEBUG);
    assert_int_equal(r.s.log_format, EG_LOG_FORMAT_JSON);
    assert_int_equal(r.s.max_body_bytes, 2048);
    assert_int_equal(r.s.write_timeout_ms, 100);
    assert_int_equal(r.s.replication_factor, 3);
    assert_string_equal(r.s.instance_id, "node-a");
    assert_string_equal(r.s.embed_data_dir, "/var/lib/eg");
    done(&r);

    /* bools from the environment: 1/0/true/false */
    setenv("EG_DEV", "false", 1);
    parse(&r, EG_ROLE_GATEWAY, ARGV("event-gateway"));
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.s.dev, 0);
    done(&r);
    setenv("EG_DEV", "true", 1);
    parse(&r, EG_ROLE_GATEWAY, ARGV("event-gateway"));
    assert_int_equal(r.s.dev, 1);
    done(&r);
    setenv("EG_DEV", "0", 1);
    parse(&r, EG_ROLE_GATEWAY, ARGV("event-gateway"));
    assert_int_equal(r.s.dev, 0);
    done(&r);
    clear_env(NULL);
}

static void test_flag_overrides_env(void **state)
{
    run_t r;
    setenv("EG_EVENTS_PORT", "5000", 1);
    setenv("EG_KAFKA_BROKERS", "from-env:9092", 1);
    setenv("EG_LOG_LEVEL", "debug", 1);
    setenv("EG_DEV", "true", 1);
    parse(&r, EG_ROLE_GATEWAY,
          ARGV("event-gateway", "--events-port", "6000", "--brokers", "from-flag:9092",
               "--log-level", "error", "--dev=false"));
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.s.events_port, 6000);
    assert_string_equal(r.s.brokers, "from-flag:9092");
    assert_int_equal(r.s.log_level, EG_LOG_LEVEL_ERROR);
    assert_int_equal(r.s.dev, 0);
    done(&r);
    clear_env(NULL);
}

static void test_equals_form_and_bools(void **state)
{
    run_t r;
    parse(&r, EG_ROLE_INGRESS,
          ARGV("eg-ingress", "--events-port=7000", "--config-port", "7001", "--log-format=json",
               "--topic-prefix=", "--replication-factor", "-1", "--max-body-bytes=1073741824",
               "--listen=::1"));
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    assert_int_equal(r.s.events_port, 7000);
    assert_int_equal(r.s.config_port, 7001);
    assert_int_equal(r.s.log_format, EG_LOG_FORMAT_JSON);
    assert_string_equal(r.s.topic_prefix, "");
    assert_int_equal(r.s.replication_factor, -1);
    assert_int_equal(r.s.max_body_bytes, 1073741824L);
    assert_string_equal(r.s.listen, "::1");
    done(&r);

    parse(&r, EG_ROLE_GATEWAY, ARGV("event-gateway", "--dev"));
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.s.dev, 1);
    done(&r);
    parse(&r, EG_ROLE_GATEWAY, ARGV("event-gateway", "--dev=true", "--dev=false", "--dev=1"));
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.s.dev, 1);
    done(&r);
    /* 0.9's single dash (Go's flag package), as its documentation writes it */
    parse(&r, EG_ROLE_GATEWAY,
          ARGV("event-gateway", "-embed-data-dir", "/home/data", "-dev", "-config-port=4101"));
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.s.dev, 1);
    assert_string_equal(r.s.embed_data_dir, "/home/data");
    assert_int_equal(r.s.config_port, 4101);
    done(&r);
    /* a later flag replaces an earlier one without leaking it */
    parse(&r, EG_ROLE_ROUTER, ARGV("eg-router", "--brokers", "a:1", "--brokers=b:2", "--"));
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.s.brokers, "b:2");
    done(&r);
}

static void test_decimal(void **state)
{
    run_t r;
    parse(&r, EG_ROLE_INGRESS, ARGV("eg-ingress", "--ingest-linger-ms", "2.25"));
    assert_int_equal(r.rc, EG_SETTINGS_CONTINUE);
    assert_true(r.s.ingest_linger_ms == 2.25);
    done(&r);
    parse(&r, EG_ROLE_INGRESS, ARGV("eg-ingress", "--ingest-linger-ms=0"));
    assert_int_equal(r.rc, EG_SETTINGS_CONTINUE);
    assert_true(r.s.ingest_linger_ms == 0);
    done(&r);
    parse(&r, EG_ROLE_ROUTER, ARGV("eg-router", "--sync-linger-ms", "0.05"));
    assert_int_equal(r.rc, EG_SETTINGS_CONTINUE);
    assert_true(r.s.sync_linger_ms == 0.05);
    done(&r);
}

static void test_kafka_props(void **state)
{
    run_t r;
    const char *v = NULL;
    setenv("EG_KAFKA", " security.protocol=SSL ;; ssl.ca.location=/etc/ca.pem;", 1);
    parse(&r, EG_ROLE_INVOKER,
          ARGV("eg-invoker", "--kafka", "linger.ms=5", "--kafka=sasl.jaas.config=a=b c", "--kafka",
               "security.protocol=SASL_SSL"));
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.s.kafka_props_count, 5);
    assert_string_equal(r.s.kafka_props[0], "security.protocol=SSL");
    assert_string_equal(r.s.kafka_props[1], "ssl.ca.location=/etc/ca.pem");
    assert_string_equal(r.s.kafka_props[2], "linger.ms=5");
    assert_string_equal(r.s.kafka_props[3], "sasl.jaas.config=a=b c");
    assert_string_equal(r.s.kafka_props[4], "security.protocol=SASL_SSL");
    assert_null(r.s.kafka_props[5]);

    assert_int_equal(eg_settings_kafka_prop(&r.s, "security.protocol", &v), 0);
    assert_string_equal(v, "SASL_SSL"); /* last one wins */
    assert_int_equal(eg_settings_kafka_prop(&r.s, "sasl.jaas.config", &v), 0);
    assert_string_equal(v, "a=b c");
    assert_int_equal(eg_settings_kafka_prop(&r.s, "linger.ms", NULL), 0);
    assert_int_equal(eg_settings_kafka_prop(&r.s, "linger", &v), -1);
    assert_int_equal(eg_settings_kafka_prop(&r.s, "acks", &v), -1);
    done(&r);
    clear_env(NULL);
}

/* Each case: a role, argv, and strings the error must contain. */
typedef struct bad_case {
    int role;
    char *argv[6];
    const char *must[3];
} bad_case_t;

static void test_errors(void **state)
{
    static const bad_case_t cases[] = {
        {EG_ROLE_INGRESS, {"eg-ingress", "--nope"}, {"unknown option", "--nope"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--nope=1"}, {"unknown option", "--nope"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "-x"}, {"unknown option", "-x"}},
        {EG_ROLE_ROUTER, {"eg-router", "--events-port", "5000"}, {"--events-port", "eg-router"}},
        {EG_ROLE_INVOKER, {"eg-invoker", "--max-body-bytes=5"}, {"--max-body-bytes"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--dev"}, {"--dev", "event-gateway"}},
        {EG_ROLE_ROUTER, {"eg-router", "--embed-data-dir", "/x"}, {"--embed-data-dir"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--brokers"}, {"--brokers", "needs a value"}},
        {EG_ROLE_INGRESS,
         {"eg-ingress", "--events-port", "--log-level", "info"},
         {"--events-port", "needs a value", "1..65535"}},
        {EG_ROLE_INGRESS,
         {"eg-ingress", "--events-port", "abc"},
         {"--events-port", "'abc'", "1..65535"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--events-port=12x"}, {"--events-port", "'12x'"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--events-port", ""}, {"--events-port"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--events-port", "70000"}, {"--events-port", "1..65535"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--config-port=0"}, {"--config-port", "1..65535"}},
        {EG_ROLE_INGRESS,
         {"eg-ingress", "--events-port", "99999999999999999999999"},
         {"--events-port"}},
        {EG_ROLE_INGRESS,
         {"eg-ingress", "--max-body-bytes", "1073741825"},
         {"--max-body-bytes", "1..1073741824"}},
        {EG_ROLE_INGRESS,
         {"eg-ingress", "--write-timeout-ms", "99"},
         {"--write-timeout-ms", "100..600000"}},
        {EG_ROLE_ROUTER,
         {"eg-router", "--replication-factor", "-2"},
         {"--replication-factor", "-1..32"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--events-threads", "17"}, {"--events-threads", "0..16"}},
        {EG_ROLE_INGRESS,
         {"eg-ingress", "--ingest-linger-ms", "1e3"},
         {"--ingest-linger-ms", "'1e3'", "a number in 0..1000"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--ingest-linger-ms", "-0.5"}, {"--ingest-linger-ms"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--ingest-linger-ms", "1000.5"}, {"--ingest-linger-ms"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--ingest-linger-ms", "nan"}, {"--ingest-linger-ms"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--ingest-linger-ms", "."}, {"--ingest-linger-ms"}},
        {EG_ROLE_INGRESS, {"eg-ingress", "--ingest-linger-ms", "--5"}, {"--ingest-linger-ms"}},
        {EG_ROLE_ROUTER, {"eg-router", "--sync-linger-ms", "-1"}, {"--sync-linger-ms", "0..1000"}},
        {EG_ROLE_ROUTER, {"eg-router", "--sync-linger-ms", "0-1"}, {"--sync-linger-ms"}},
        {EG_ROLE_ROUTER, {"eg-router", "--partitions", "-1"}, {"--partitions", "0..10000"}},
        {EG_ROLE_ROUTER,
         {"eg-router", "--log-level", "loud"},
         {"--log-level", "'loud'", "debug, info, warn, error"}},
        {EG_ROLE_ROUTER, {"eg-router", "--log-format=xml"}, {"--log-format", "text, json"}},
        {EG_ROLE_ROUTER, {"eg-router", "--kafka", "linger.ms"}, {"--kafka", "PROP=VALUE"}},
        {EG_ROLE_ROUTER, {"eg-router", "--kafka", "=5"}, {"--kafka", "PROP=VALUE"}},
        {EG_ROLE_GATEWAY, {"event-gateway", "--dev=maybe"}, {"--dev", "true or false"}},
        {EG_ROLE_GATEWAY, {"event-gateway", "extra"}, {"unexpected argument", "'extra'"}},
        {EG_ROLE_GATEWAY, {"event-gateway", "--dev", "true"}, {"unexpected argument", "'true'"}},
        {EG_ROLE_GATEWAY, {"event-gateway", "--", "x"}, {"unexpected argument", "'x'"}},
        {EG_ROLE_GATEWAY, {"event-gateway", "--help=1"}, {"--help"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case_t *c = &cases[i];
        run_t r;
        char try_line[64];
        parse(&r, c->role, (char **)c->argv);
        if (r.rc != EG_SETTINGS_ERROR)
            fail_msg("case %zu (%s): rc %d, expected 2", i, c->argv[1], r.rc);
        for (size_t k = 0; k < 3 && c->must[k]; k++)
            if (!strstr(r.err, c->must[k]))
                fail_msg("case %zu: '%s' not in error: %s", i, c->must[k], r.err);
        /* "<prog>: message\nTry '<prog> --help'.\n" */
        snprintf(try_line, sizeof try_line, "\nTry '%s --help'.\n", c->argv[0]);
        assert_int_equal(strncmp(r.err, c->argv[0], strlen(c->argv[0])), 0);
        assert_non_null(strstr(r.err, try_line));
        assert_ptr_equal(strchr(r.err, '\n') + strlen(try_line), r.err + strlen(r.err));
        assert_string_equal(r.out, "");
        done(&r);
    }
}

static void test_env_errors(void **state)
{
    static const struct {
        const char *var, *value, *must;
    } cases[] = {
        {"EG_EVENTS_PORT", "abc", "1..65535"},
        {"EG_EVENTS_PORT", "0", "1..65535"},
        {"EG_LOG_LEVEL", "verbose", "debug, info, warn, error"},
        {"EG_DEV", "yes please", "true or false"},
        {"EG_KAFKA", "acks=all;oops", "'oops'"},
        {"EG_REPLICATION_FACTOR", "33", "-1..32"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_t r;
        setenv(cases[i].var, cases[i].value, 1);
        parse(&r, EG_ROLE_GATEWAY, ARGV("/usr/local/bin/event-gateway"));
        assert_int_equal(r.rc, EG_SETTINGS_ERROR);
        if (!strstr(r.err, cases[i].var) || !strstr(r.err, cases[i].must))
            fail_msg("%s=%s: bad message: %s", cases[i].var, cases[i].value, r.err);
        /* the program name is argv[0]'s basename */
        assert_int_equal(strncmp(r.err, "event-gateway: ", 15), 0);
        assert_non_null(strstr(r.err, "Try 'event-gateway --help'."));
        done(&r);
        unsetenv(cases[i].var);
    }

    /* variables of flags the role does not take are ignored */
    run_t r;
    setenv("EG_EVENTS_PORT", "not-a-port", 1);
    setenv("EG_DEV", "1", 1);
    parse(&r, EG_ROLE_ROUTER, ARGV("eg-router"));
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.s.dev, 0);
    done(&r);
    clear_env(NULL);
}

/* "--name" followed by a space or a newline appears in text. */
static int lists_flag(const char *text, const char *name)
{
    char needle[64];
    size_t n = (size_t)snprintf(needle, sizeof needle, "--%s", name);
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        if (p[n] == ' ' || p[n] == '\n')
            return 1;
    return 0;
}

static void test_help_per_role(void **state)
{
    /* Written out independently of the table in eg_opts.c. */
    static const struct {
        const char *flag, *env;
        int roles;
    } flags[] = {
        {"dev", "EG_DEV", EG_ROLE_GATEWAY},
        {"events-port", "EG_EVENTS_PORT", EG_ROLE_INGRESS | EG_ROLE_GATEWAY},
        {"config-port", "EG_CONFIG_PORT", EG_ROLE_INGRESS | EG_ROLE_GATEWAY},
        {"listen", "EG_LISTEN", EG_ROLE_ALL},
        {"status-port", "EG_STATUS_PORT", EG_ROLE_ROUTER | EG_ROLE_INVOKER | EG_ROLE_GATEWAY},
        {"embed-data-dir", "EG_EMBED_DATA_DIR", EG_ROLE_GATEWAY},
        {"brokers", "EG_KAFKA_BROKERS", EG_ROLE_ALL},
        {"kafka", "EG_KAFKA", EG_ROLE_ALL},
        {"kafka-mock", "EG_KAFKA_MOCK", EG_ROLE_ALL},
        {"topic-prefix", "EG_TOPIC_PREFIX", EG_ROLE_ALL},
        {"log-level", "EG_LOG_LEVEL", EG_ROLE_ALL},
        {"log-format", "EG_LOG_FORMAT", EG_ROLE_ALL},
        {"max-body-bytes", "EG_MAX_BODY_BYTES", EG_ROLE_INGRESS | EG_ROLE_GATEWAY},
        {"write-timeout-ms", "EG_WRITE_TIMEOUT_MS", EG_ROLE_INGRESS | EG_ROLE_GATEWAY},
        {"partitions", "EG_PARTITIONS", EG_ROLE_ALL},
        {"replication-factor", "EG_REPLICATION_FACTOR", EG_ROLE_ALL},
        {"instance-id", "EG_INSTANCE_ID", EG_ROLE_ALL},
        {"ingest-timeout-ms", "EG_INGEST_TIMEOUT_MS", EG_ROLE_INGRESS | EG_ROLE_GATEWAY},
        {"pool", "EG_POOL", EG_ROLE_INVOKER | EG_ROLE_GATEWAY},
        {"sync-timeout-ms", "EG_SYNC_TIMEOUT_MS", EG_ROLE_INGRESS | EG_ROLE_GATEWAY},
        {"sync-fetch-wait-ms", "EG_SYNC_FETCH_WAIT_MS", EG_ROLE_ALL},
        {"reply-fetch-wait-ms", "EG_REPLY_FETCH_WAIT_MS", EG_ROLE_INGRESS | EG_ROLE_GATEWAY},
        {"idle-probe-ms", "EG_IDLE_PROBE_MS", EG_ROLE_ROUTER | EG_ROLE_INVOKER | EG_ROLE_GATEWAY},
        {"retry-attempts", "EG_RETRY_ATTEMPTS", EG_ROLE_INVOKER | EG_ROLE_GATEWAY},
        {"retry-base-ms", "EG_RETRY_BASE_MS", EG_ROLE_INVOKER | EG_ROLE_GATEWAY},
        {"retry-max-ms", "EG_RETRY_MAX_MS", EG_ROLE_INVOKER | EG_ROLE_GATEWAY},
        {"function-timeout-ms", "EG_FUNCTION_TIMEOUT_MS", EG_ROLE_INVOKER | EG_ROLE_GATEWAY},
        {"max-inflight", "EG_MAX_INFLIGHT", EG_ROLE_INVOKER | EG_ROLE_GATEWAY},
        {"partition-window", "EG_PARTITION_WINDOW", EG_ROLE_INVOKER | EG_ROLE_GATEWAY},
    };
    static const struct {
        int role;
        const char *prog;
    } roles[] = {
        {EG_ROLE_INGRESS, "eg-ingress"},
        {EG_ROLE_ROUTER, "eg-router"},
        {EG_ROLE_INVOKER, "eg-invoker"},
        {EG_ROLE_GATEWAY, "event-gateway"},
    };
    setenv("EG_EVENTS_PORT", "broken", 1); /* --help wins over a bad environment */
    for (size_t i = 0; i < 4; i++) {
        run_t r;
        char usage[64];
        parse(&r, roles[i].role, ARGV((char *)roles[i].prog, "--brokers", "x", "--help"));
        assert_int_equal(r.rc, EG_SETTINGS_EXIT);
        assert_string_equal(r.err, "");
        snprintf(usage, sizeof usage, "Usage: %s ", roles[i].prog);
        assert_int_equal(strncmp(r.out, usage, strlen(usage)), 0);
        assert_true(lists_flag(r.out, "help"));
        assert_true(lists_flag(r.out, "version"));
        for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
            int want = (flags[k].roles & roles[i].role) != 0;
            if (lists_flag(r.out, flags[k].flag) != want)
                fail_msg("%s --help: --%s %s", roles[i].prog, flags[k].flag,
                         want ? "missing" : "listed but not accepted");
            if ((strstr(r.out, flags[k].env) != NULL) != want)
                fail_msg("%s --help: %s wrong", roles[i].prog, flags[k].env);
        }
        done(&r);
    }
    clear_env(NULL);

    /* defaults and ranges are shown */
    run_t r;
    parse(&r, EG_ROLE_INGRESS, ARGV("eg-ingress", "-h"));
    assert_int_equal(r.rc, EG_SETTINGS_EXIT);
    assert_non_null(strstr(r.out, "default: 4000"));
    assert_non_null(strstr(r.out, "1..65535"));
    assert_non_null(strstr(r.out, "default: eg."));
    assert_non_null(strstr(r.out, "debug, info, warn, error"));
    done(&r);
}

static void test_version(void **state)
{
    run_t r;
    parse(&r, EG_ROLE_ROUTER, ARGV("./build/bin/eg-router", "--version"));
    assert_int_equal(r.rc, EG_SETTINGS_EXIT);
    assert_string_equal(r.out, "eg-router " EG_VERSION "\n");
    assert_string_equal(r.err, "");
    done(&r);
    assert_string_equal(EG_VERSION, "0.1.0");
}

static void test_release(void **state)
{
    eg_settings_t s;
    eg_settings_init(&s);
    eg_settings_release(&s);
    assert_null(s.listen);
    assert_null(s.instance_id);
    eg_settings_release(&s); /* twice is harmless */

    /* no argv at all: program name from the role */
    size_t len = 0;
    char *buf = NULL;
    FILE *err = open_memstream(&buf, &len);
    eg_settings_init(&s);
    assert_int_equal(eg_settings_parse(&s, EG_ROLE_INVOKER, 0, NULL, NULL, err), 0);
    eg_settings_release(&s);
    fclose(err);
    assert_string_equal(buf, "");
    free(buf);
    assert_string_equal(eg_role_binary(EG_ROLE_INVOKER), "eg-invoker");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_env_overrides_default, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_flag_overrides_env, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_equals_form_and_bools, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_decimal, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_kafka_props, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_errors, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_env_errors, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_help_per_role, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_version, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_release, clear_env, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
