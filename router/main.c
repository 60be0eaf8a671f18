/* eg-router: fans events out to one invocation per matching subscription. */
#include "router.h"

int main(int argc, char **argv)
{
    const eg_role_ops_t *roles[] = {&eg_router_role};
    return eg_daemon_main(EG_ROLE_ROUTER, argc, argv, roles, 1);
}
