/*
 * eg_config_int.h: what the configuration model (eg_config.c) and the
 * request parsing (eg_config_request.c) share; not for other modules.
 */
#ifndef EG_CONFIG_INT_H
#define EG_CONFIG_INT_H

#include "eg_config.h"

/* How 0.9's messages name each kind ("Event Type"...), and the field of
 * each kind's id ("name", "functionId"...), indexed by eg_kind_t. */
extern const char *const eg__config_kind_titles[EG_KIND__COUNT];
extern const char *const eg__config_id_fields[EG_KIND__COUNT];

/* Go's url.PathEscape of s (keeps unreserved characters and $&+:=@), malloc'd. */
char *eg__config_path_escape(const char *s);
/* A subscription's id as 0.9 made it: base64url of
 * "type,eventType[,functionId],PathEscape(path),method" (no functionId for
 * sync ones), malloc'd. */
char *eg__config_subscription_id(const char *type, const char *event, const char *fn,
                                 const char *path, const char *method);

#endif
