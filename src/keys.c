/* keys.c - being written. */
#include <stddef.h>
