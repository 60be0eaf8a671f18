/*
 * eg_error: an error for the API, an HTTP status and the message of its
 * {"errors":[{"message":…}]} body. Validators of the configuration, of
 * events and of replays fill one in; the HTTP handlers answer with it.
 */
#ifndef EG_ERROR_H
#define EG_ERROR_H

typedef struct eg_error {
    int status;
    char message[1024]; /* room for 0.9's validator report of every field */
} eg_error_t;

/* Sets err (when not NULL) and returns -1, so that `return eg_error_set(...)`
 * reads well. */
int eg_error_set(eg_error_t *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
