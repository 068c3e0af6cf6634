/* log — PHI-safe structured logging. Owns the program-name copy; writes with one write(2). */
#include "lib/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"

static int log_fd = 2;
static enum log_level log_min = LOGL_INFO;
static char log_prog[32] = "ehrgate";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(int fd, enum log_level min, const char *prog)
{
	log_fd = fd;
	log_min = min;
	if (prog)
		snprintf(log_prog, sizeof(log_prog), "%s", prog);
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

struct out {
	char *p;
	size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len >= o->cap)
		return;
	if (n > o->cap - o->len - 1)
		n = o->cap - o->len - 1;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static int id_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '-';
}

/* Identifier sanitizer: the only way a string reaches a log line. */
static void put_id(struct out *o, const char *s)
{
	char tmp[LOG_ID_MAX + 1];
	size_t i;

	if (s == NULL) {
		put(o, "-", 1);
		return;
	}
	bool truncated;

	for (i = 0; i < LOG_ID_MAX && s[i]; i++)
		tmp[i] = id_char((unsigned char)s[i]) ? s[i] : '_';
	truncated = s[i] != '\0'; /* read before i can move past an empty string's terminator */
	if (i == 0)
		tmp[i++] = '-';
	put(o, tmp, i);
	if (truncated)
		put(o, "~", 1); /* marks truncation */
}

size_t log_format(char *buf, size_t cap, enum log_level lvl, const char *rid, const char *event,
		  const char *fmt, va_list ap)
{
	struct out o = {buf, cap, 0};
	char ts[25], num[32];
	const char *f;

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	clock_fmt_rfc3339(ts, clock_wall_ms());
	put(&o, "ts=", 3);
	put(&o, ts, strlen(ts));
	put(&o, " level=", 7);
	put(&o, level_names[lvl & 3], strlen(level_names[lvl & 3]));
	put(&o, " prog=", 6);
	put_id(&o, log_prog);
	if (rid) {
		put(&o, " rid=", 5);
		put_id(&o, rid);
	}
	put(&o, " event=", 7);
	put_id(&o, event);
	if (fmt && *fmt)
		put(&o, " ", 1);
	for (f = fmt ? fmt : ""; *f; f++) {
		int n = 0;

		if (*f != '%') {
			/* literal text of the format: also constrained to printable ASCII */
			char c = (*f >= 0x20 && *f < 0x7f) ? *f : '_';
			put(&o, &c, 1);
			continue;
		}
		f++;
		if (*f == '%') {
			put(&o, "%", 1);
		} else if (*f == 's') {
			put_id(&o, va_arg(ap, const char *));
		} else if (*f == 'd') {
			n = snprintf(num, sizeof(num), "%d", va_arg(ap, int));
		} else if (*f == 'u') {
			n = snprintf(num, sizeof(num), "%u", va_arg(ap, unsigned));
		} else if (*f == 'x') {
			n = snprintf(num, sizeof(num), "%x", va_arg(ap, unsigned));
		} else if (*f == 'z' && f[1] == 'u') {
			f++;
			n = snprintf(num, sizeof(num), "%zu", va_arg(ap, size_t));
		} else if (*f == 'l' && f[1] == 'l' && (f[2] == 'd' || f[2] == 'u')) {
			f += 2;
			if (*f == 'd')
				n = snprintf(num, sizeof(num), "%lld", va_arg(ap, long long));
			else
				n = snprintf(num, sizeof(num), "%llu", va_arg(ap, unsigned long long));
		} else if (*f == 'l' && (f[1] == 'd' || f[1] == 'u')) {
			f++;
			if (*f == 'd')
				n = snprintf(num, sizeof(num), "%ld", va_arg(ap, long));
			else
				n = snprintf(num, sizeof(num), "%lu", va_arg(ap, unsigned long));
		} else {
			/* unsupported conversion: stop rather than misread the va_list */
			put(&o, "?fmt", 4);
			break;
		}
		if (n > 0)
			put(&o, num, (size_t)n);
		if (*f == '\0')
			break;
	}
	put(&o, "\n", 1);
	if (o.len > 0 && o.p[o.len - 1] != '\n')
		o.p[o.len - 1] = '\n'; /* truncated line still ends with a newline */
	return o.len;
}

void log_eventv(enum log_level lvl, const char *rid, const char *event, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t n;
	ssize_t w;

	if (lvl < log_min)
		return;
	n = log_format(line, sizeof(line), lvl, rid, event, fmt, ap);
	w = write(log_fd, line, n);
	(void)w;
}

void log_event(enum log_level lvl, const char *rid, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_eventv(lvl, rid, event, fmt, ap);
	va_end(ap);
}
