/*
 * ingress.c: the ingress role. It owns the Config API and the Events API; the runtime
 * (configuration log, Kafka) is shared with the other roles of the process.
 */
#include "ingress.h"

#include <stdlib.h>

#include "eg_alloc.h"

typedef struct eg_ingress {
    eg_runtime_t *rt;
    eg_config_api_ctx_t api; /* what the Config API's handler is given */
    eg_http_server_t *config_api;
    eg_events_api_t *events_api;
} eg_ingress_t;

static void ingress_stop(void *p)
{
    eg_ingress_t *in = p;
    if (!in)
        return;
    if (in->rt->stop_accepting_arg == in)
        in->rt->stop_accepting = NULL;
    eg_events_api_free(in->events_api);
    eg_http_server_free(in->config_api);
    eg_replay_store_free(in->api.replays);
    free(in);
}

/* On SIGTERM, before any role stops: both ports are free for a successor
 * at once (a test suite starts the next gateway on them as soon as it has
 * signalled this one), while requests under way finish. */
static void ingress_stop_accepting(void *p)
{
    eg_ingress_t *in = p;
    eg_events_api_quiesce(in->events_api);
    eg_http_server_quiesce(in->config_api);
}

static void *ingress_start(eg_runtime_t *rt, char *err, size_t errlen)
{
    const eg_settings_t *s = rt->settings;
    eg_ingress_t *in = eg_xcalloc(1, sizeof *in);
    in->rt = rt;
    in->api.rt = rt;
    /* The Events API first: /v1/status (on the Config API) answers only once
     * both are up. Config API writes wait for Kafka: its handlers run on
     * worker threads, but for /v1/status and /metrics. */
    eg_http_loop_t how = {
        .fd = -1, .quick = eg_config_api_quick, .deadline_ms = s->request_deadline_ms};
    if (!(in->api.replays = eg_replay_store_new(rt, err, errlen)) ||
        !(in->events_api = eg_events_api_new(rt, err, errlen)) ||
        !(in->config_api = eg_http_server_new("Config API", s->listen, s->config_port,
                                              s->max_body_bytes, EG_HTTP_WORKERS,
                                              eg_config_api_handle, &in->api, &how, err, errlen))) {
        ingress_stop(in);
        return NULL;
    }
    rt->stop_accepting = ingress_stop_accepting;
    rt->stop_accepting_arg = in;
    return in;
}

const eg_role_ops_t eg_ingress_role = {"ingress", ingress_start, ingress_stop};
