/*
 * routes_health.c - GET /health: liveness plus the state a load balancer
 * or an operator wants at a glance (store reachable, queue backlog).
 * Public: no token needed, cheap, never touches files.
 */
#include "server/capture.h"

static void health(km_req *r, void *data)
{
    km_capture *c = data;
    int64_t backlog = -1;
    int store_ok = km_queue_backlog(c->queue, &backlog) == KM_OK;
    json_t *o = json_pack("{s:s, s:s, s:f, s:s, s:I}", "status", store_ok ? "healthy" : "degraded",
                          "version", KM_VERSION, "uptime_s", km_wall_s() - c->started_at,
                          "store", store_ok ? "ok" : "error", "queue_backlog",
                          (json_int_t)backlog);
    km_resp_json(r, store_ok ? 200 : 503, o);
}

int routes_health(km_server *srv, km_capture *c)
{
    return km_server_route(srv, "GET", "/health", 1, health, c);
}
