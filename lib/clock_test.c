#include "lib/clock.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void test_rfc3339_known_answers(void **state)
{
	char out[25];

	(void)state;
	clock_fmt_rfc3339(out, 0);
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
	clock_fmt_rfc3339(out, 1795473601123LL);
	assert_string_equal(out, "2026-11-23T22:40:01.123Z");
	clock_fmt_rfc3339(out, 951782400000LL); /* leap day 2000 */
	assert_string_equal(out, "2000-02-29T00:00:00.000Z");
}

static void test_parse_date(void **state)
{
	int64_t d;

	(void)state;
	assert_int_equal(clock_parse_date("1970-01-01", &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(clock_parse_date("2026-11-23", &d), 0);
	assert_int_equal(d, 20780);
	assert_int_equal(clock_parse_date("2024-02-29", &d), 0);
	assert_int_equal(clock_parse_date("2023-02-29", &d), -EINVAL);
	assert_int_equal(clock_parse_date("2026-13-01", &d), -EINVAL);
	assert_int_equal(clock_parse_date("2026-1-01", &d), -EINVAL);
	assert_int_equal(clock_parse_date("2026-01-01x", &d), -EINVAL);
	assert_int_equal(clock_parse_date("2026/01/01", &d), -EINVAL);
	assert_int_equal(clock_parse_date("", &d), -EINVAL);
	assert_int_equal(d, 0);
}

static void test_monotonic(void **state)
{
	int64_t a = clock_mono_ns(), b = clock_mono_ns();

	(void)state;
	assert_true(b >= a);
	assert_true(clock_wall_ms() > 1700000000000LL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339_known_answers),
		cmocka_unit_test(test_parse_date),
		cmocka_unit_test(test_monotonic),
	};
	return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
