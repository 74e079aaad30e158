/*
 * fileio.h - reading a whole (small) file from a descriptor: the configuration, a
 * secret, the serial file. One loop, EINTR handled, for all of them.
 */
#ifndef SCEPD_FILEIO_H
#define SCEPD_FILEIO_H

#include <stddef.h>

/*
 * Reads from fd until end of file or until size bytes are in buf: 0 and the count in
 * *ret_len (== size: buf is full, more may follow), or -errno of read(2).
 */
int fileio_read(int fd, void *buf, size_t size, size_t *ret_len);

#endif
