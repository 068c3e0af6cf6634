/* buf — a growable byte buffer whose maximum is fixed at creation (curl's dynbuf habit).
 *
 * Appending past the maximum fails with -E2BIG and leaves the buffer unchanged. The bytes are
 * always NUL-terminated (the terminator is not counted in len), so text can be used directly.
 */
#ifndef EHRGATE_BUF_H
#define EHRGATE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *p;      /* NULL until the first append */
	size_t len;   /* bytes used */
	size_t cap;   /* bytes allocated (excluding the terminator) */
	size_t max;   /* hard limit on len */
};

void buf_init(struct buf *b, size_t max);
void buf_fini(struct buf *b);          /* frees; buffer can be re-used after buf_init */
void buf_reset(struct buf *b);         /* len = 0, keeps memory */
int buf_append(struct buf *b, const void *data, size_t len) __attribute__((warn_unused_result));
int buf_append_str(struct buf *b, const char *s) __attribute__((warn_unused_result));
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3), warn_unused_result));
/* Append s as JSON string contents (no surrounding quotes), escaping as RFC 8259 §7 requires. */
int buf_append_json_escaped(struct buf *b, const char *s, size_t len) __attribute__((warn_unused_result));
/* Hand the bytes to the caller (who frees them with free()); the buffer becomes empty. */
char *buf_detach(struct buf *b, size_t *len_out);

#endif
