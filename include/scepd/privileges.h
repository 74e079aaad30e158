/*
 * privileges.h - taking on server.user and server.group: the supervisor does it once
 * before it forks the workers, `scepd -t` in the child that checks the store as the
 * workers will open it.
 */
#ifndef SCEPD_PRIVILEGES_H
#define SCEPD_PRIVILEGES_H

#include <stddef.h>

#include "scepd/config.h"

/*
 * The groups (the user's supplementary groups with initgroups(), or server.group
 * alone), then the group, then the user; nothing when both are unset. 0, or -errno
 * with why in one line in buf and, when a setting names what does not exist
 * ("server.user", "server.group"), that setting in *ret_setting (else NULL).
 */
int privileges_drop(const struct config_server *server, const char **ret_setting, char *buf,
		    size_t size);

#endif
