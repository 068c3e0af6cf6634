/* clock — thin wrappers over clock_gettime plus calendar helpers (no locale, no TZ). */
#include "lib/clock.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

int64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t clock_mono_ms(void)
{
	return clock_mono_ns() / 1000000LL;
}

int64_t clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000LL;
}

int64_t clock_wall_s(void)
{
	return clock_wall_ms() / 1000;
}

/* Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	*y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y += *m <= 2;
}

int64_t clock_days_from_ms(int64_t wall_ms)
{
	int64_t s = wall_ms / 1000;

	if (wall_ms < 0 && wall_ms % 1000)
		s--;
	return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

void clock_fmt_rfc3339(char out[25], int64_t wall_ms)
{
	int64_t days = clock_days_from_ms(wall_ms);
	int64_t rem = wall_ms - days * 86400000LL;
	int64_t y;
	unsigned m, d;

	civil_from_days(days, &y, &m, &d);
	snprintf(out, 25, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", (int)y, m, d,
		 (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
}

int clock_parse_date(const char *s, int64_t *days_out)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned y = 0, m = 0, d = 0, lim;
	int i;

	*days_out = 0;
	for (i = 0; i < 10; i++) {
		char c = s[i];

		if (i == 4 || i == 7) {
			if (c != '-')
				return -EINVAL;
			continue;
		}
		if (c < '0' || c > '9')
			return -EINVAL;
		if (i < 4)
			y = y * 10 + (unsigned)(c - '0');
		else if (i < 7)
			m = m * 10 + (unsigned)(c - '0');
		else
			d = d * 10 + (unsigned)(c - '0');
	}
	if (s[10] != '\0' || y < 1900 || m < 1 || m > 12 || d < 1)
		return -EINVAL;
	lim = mdays[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		lim = 29;
	if (d > lim)
		return -EINVAL;
	*days_out = days_from_civil(y, m, d);
	return 0;
}
