/* arena — per-request memory: many small allocations, freed together in one call.
 *
 * Each arena has a byte budget fixed at creation; an allocation that would exceed it returns
 * NULL (a clean, reportable error — never a bigger allocation). Memory is 16-byte aligned.
 */
#ifndef EHRGATE_ARENA_H
#define EHRGATE_ARENA_H

#include <stddef.h>

struct arena;

struct arena *arena_new(size_t max_bytes);
void arena_free(struct arena *a);                    /* NULL is a no-op */
void *arena_alloc(struct arena *a, size_t n);        /* NULL when over budget */
char *arena_strdup(struct arena *a, const char *s);  /* NULL when over budget */
char *arena_strndup(struct arena *a, const char *s, size_t n);
size_t arena_used(const struct arena *a);            /* bytes handed out, for metrics */

#endif
