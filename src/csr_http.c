/* csr_http.c - being written. */
#include <stddef.h>
