/*
 * fileio.c - reads a descriptor to its end or to the end of the caller's buffer (see
 * fileio.h). Never allocates, never logs; the caller decides what a full buffer means.
 */
#include "scepd/fileio.h"

#include <errno.h>
#include <unistd.h>

int
fileio_read(int fd, void *buf, size_t size, size_t *ret_len)
{
	size_t len = 0;
	ssize_t n;

	while (len < size) {
		n = read(fd, (char *)buf + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret_len = len;
	return 0;
}
