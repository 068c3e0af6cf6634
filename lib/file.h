/* file — read a whole file (or standard input) into a bounded buffer. The one place programs
 * read small inputs: JWK Sets, key-less JSON fixtures, PHI scanner input. */
#ifndef EHRGATE_FILE_H
#define EHRGATE_FILE_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/err.h"

/* Append the contents of path (NULL or "-" = standard input) to out. At most max bytes are
 * accepted (and never more than out->max): a larger input is -E2BIG and out keeps only what
 * fitted. Errors name the path, never the contents. */
int file_read_all(const char *path, size_t max, struct buf *out, struct err *e) __attribute__((warn_unused_result));

#endif
