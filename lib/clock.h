/* clock — monotonic time for durations and deadlines, wall time for records. */
#ifndef EHRGATE_CLOCK_H
#define EHRGATE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

int64_t clock_mono_ns(void);   /* CLOCK_MONOTONIC, nanoseconds */
int64_t clock_mono_ms(void);
int64_t clock_wall_ms(void);   /* CLOCK_REALTIME, ms since the Unix epoch */
int64_t clock_wall_s(void);
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-23T22:40:01.123Z. out must hold 25 bytes. */
void clock_fmt_rfc3339(char out[25], int64_t wall_ms);
/* Parse YYYY-MM-DD into days since the epoch; -EINVAL on a malformed or impossible date. */
int clock_parse_date(const char *s, int64_t *days_out);
/* Days since epoch of a wall-clock time in ms. */
int64_t clock_days_from_ms(int64_t wall_ms);

#endif
