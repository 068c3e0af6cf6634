/* log — the one logging API: structured logfmt lines that cannot carry PHI.
 *
 * A line is `ts=... level=info prog=NAME rid=ID event=EVENT key=value ...`. The format string
 * supports only %s %d %u %ld %lu %lld %llu %zu %x and %%. Every %s argument is treated as an
 * identifier: bytes outside [A-Za-z0-9._:-] become '_' and it is cut at LOG_ID_MAX bytes, so
 * a body, a header value or a name passed by mistake is defaced rather than logged verbatim.
 * Allowed in logs (STYLE.md): request id, connection id, route name, rule id, status, method,
 * byte counts, durations. Never bodies, header values, query strings, patient ids or tokens.
 */
#ifndef EHRGATE_LOG_H
#define EHRGATE_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_ID_MAX 64
#define LOG_LINE_MAX 1024

enum log_level { LOGL_DEBUG = 0, LOGL_INFO, LOGL_WARN, LOGL_ERROR };

/* Configure: destination fd (default 2), minimum level, program name (copied). Thread-safe
 * after this call: each line is one write(2). */
void log_init(int fd, enum log_level min, const char *prog);
/* Parse "debug|info|warn|error"; -EINVAL otherwise. */
int log_level_parse(const char *s, enum log_level *out);
void log_event(enum log_level lvl, const char *rid, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void log_eventv(enum log_level lvl, const char *rid, const char *event, const char *fmt, va_list ap);
/* Format into a caller buffer (used by log_event and the tests). Returns bytes written. */
size_t log_format(char *out, size_t cap, enum log_level lvl, const char *rid, const char *event,
		  const char *fmt, va_list ap);

#endif
