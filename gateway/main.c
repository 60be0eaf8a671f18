/* event-gateway: every role in one process; --dev adds the embedded Kafka. */
#include "ingress.h"
#include "invoker.h"
#include "router.h"

int main(int argc, char **argv)
{
    const eg_role_ops_t *roles[] = {&eg_ingress_role, &eg_router_role, &eg_invoker_role};
    return eg_daemon_main(EG_ROLE_GATEWAY, argc, argv, roles, 3);
}
