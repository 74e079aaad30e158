/* issuer.c - being written. */
#include <stddef.h>
