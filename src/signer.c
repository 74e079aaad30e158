/* signer.c - being written. */
#include <stddef.h>
