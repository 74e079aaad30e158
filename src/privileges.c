/*
 * privileges.c - server.user and server.group taken on (privileges.h).
 */
#include "scepd/privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

int
privileges_drop(const struct config_server *server, const char **ret_setting, char *buf,
		size_t size)
{
	struct passwd *pw = NULL;
	struct group *gr;
	gid_t gid;
	int r;

	*ret_setting = NULL;
	if (server->user == NULL && server->group == NULL)
		return 0;
	if (server->user != NULL && (pw = getpwnam(server->user)) == NULL) {
		*ret_setting = "server.user";
		snprintf(buf, size, "no such user '%s'", server->user);
		return -ENOENT;
	}
	if (server->group != NULL) {
		if ((gr = getgrnam(server->group)) == NULL) {
			*ret_setting = "server.group";
			snprintf(buf, size, "no such group '%s'", server->group);
			return -ENOENT;
		}
		gid = gr->gr_gid;
	} else {
		gid = pw->pw_gid;
	}
	if (pw != NULL ? initgroups(pw->pw_name, gid) < 0 : setgroups(1, &gid) < 0) {
		r = -errno;
		snprintf(buf, size, "cannot set supplementary groups: %s", strerror(-r));
		return r;
	}
	if (setgid(gid) < 0) {
		r = -errno;
		snprintf(buf, size, "cannot switch to group %u: %s", (unsigned)gid, strerror(-r));
		return r;
	}
	if (pw != NULL && setuid(pw->pw_uid) < 0) {
		r = -errno;
		snprintf(buf, size, "cannot switch to user '%s': %s", pw->pw_name, strerror(-r));
		return r;
	}
	return 0;
}
