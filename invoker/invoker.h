/*
 * The invoker role: consumes the invocation topics of its pool and calls the
 * functions (design: invoker.c; its pieces share invoker_int.h).
 */
#ifndef EG_INVOKER_H
#define EG_INVOKER_H

#include "eg_runtime.h"

extern const eg_role_ops_t eg_invoker_role;

#endif
