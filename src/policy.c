/* policy.c - being written. */
#include <stddef.h>
