/* mem — allocation wrappers that abort on out-of-memory.
 *
 * Aborting is sound only because every input has a configured maximum (header bytes, body
 * bytes, JSON depth, YAML size): exceeding a maximum is a clean error before any allocation.
 */
#ifndef EHRGATE_MEM_H
#define EHRGATE_MEM_H

#include <stddef.h>

void *xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
void *xcalloc(size_t count, size_t size) __attribute__((malloc, returns_nonnull));
void *xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
char *xstrdup(const char *s) __attribute__((malloc, returns_nonnull));
char *xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));

#endif
