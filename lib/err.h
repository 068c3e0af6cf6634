/* err — the error-context type every module fills in.
 *
 * Functions return 0 or a negative errno-style code; the detail goes into a `struct err` the
 * caller owns. The text may name files, keys, rule ids and sizes — never request data (PHI).
 */
#ifndef EHRGATE_ERR_H
#define EHRGATE_ERR_H

#include <stddef.h>

#define ERR_MSG_MAX 512

struct err {
	int code;               /* 0 or a negative errno value */
	char msg[ERR_MSG_MAX];  /* NUL-terminated, possibly truncated */
};

/* Reset to "no error". Safe on a NULL pointer. */
void err_clear(struct err *e);

/* Record code (negative) and a formatted message; returns code so callers can write
 * `return err_set(e, -EINVAL, "...")`. A NULL `e` is allowed (the detail is dropped). */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with "prefix: ". Returns e->code. */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
