/* store_sqlite.c - being written. */
#include <stddef.h>
