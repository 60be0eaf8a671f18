/* eg-ingress: the Events API and the Config API. */
#include "ingress.h"

int main(int argc, char **argv)
{
    const eg_role_ops_t *roles[] = {&eg_ingress_role};
    return eg_daemon_main(EG_ROLE_INGRESS, argc, argv, roles, 1);
}
