/*
 * eg_error.c: see eg_error.h.
 */
#include "eg_error.h"

#include <stdarg.h>
#include <stdio.h>

int eg_error_set(eg_error_t *err, int status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return -1;
}
