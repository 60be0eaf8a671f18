/* The router role. */
#ifndef EG_ROUTER_H
#define EG_ROUTER_H

#include "eg_runtime.h"

extern const eg_role_ops_t eg_router_role;

#endif
