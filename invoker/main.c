/* eg-invoker: calls functions for the invocations of its pool. */
#include "invoker.h"

int main(int argc, char **argv)
{
    const eg_role_ops_t *roles[] = {&eg_invoker_role};
    return eg_daemon_main(EG_ROLE_INVOKER, argc, argv, roles, 1);
}
