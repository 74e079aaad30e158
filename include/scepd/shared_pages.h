/*
 * shared_pages.h - memory the supervisor maps before it forks, which every worker
 * forked later reads and writes as the supervisor's own (stats.h, store_share.h,
 * http_balance.h). Anonymous pages: they start zeroed, and no file names them.
 */
#ifndef SCEPD_SHARED_PAGES_H
#define SCEPD_SHARED_PAGES_H

#include <stddef.h>
#include <sys/mman.h>

/* size zeroed bytes shared with later children, or NULL with errno set. */
static inline void *
shared_pages_new(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p != MAP_FAILED ? p : NULL;
}

/* Unmaps what shared_pages_new() returned; NULL is fine. */
static inline void
shared_pages_free(void *pages, size_t size)
{
	if (pages != NULL)
		munmap(pages, size);
}

#endif
