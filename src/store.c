/* store.c - being written. */
#include <stddef.h>
