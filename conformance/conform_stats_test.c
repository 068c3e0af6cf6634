/* Tests for conform_stats: nearest-rank percentiles and the histogram. */
#include "conformance/conform_stats.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void test_percentiles(void **state)
{
	struct conform_samples s;
	struct conform_latency l;

	(void)state;
	conform_samples_init(&s);
	assert_true(conform_percentile(&s, 50) == 0);
	/* 1..100 in reverse order: nearest rank gives p50 = 50, p95 = 95, p99 = 99 */
	for (int i = 100; i >= 1; i--)
		conform_samples_add(&s, i);
	s.errors = 3;
	conform_latency_summarise(&s, 0, &l);
	assert_true(l.p50 == 50 && l.p95 == 95 && l.p99 == 99 && l.max == 100 && l.min == 1);
	assert_true(l.mean == 50.5);
	assert_int_equal(l.n, 100);
	assert_int_equal(l.errors, 3);
	assert_true(conform_percentile(&s, 0) == 1);
	assert_true(conform_percentile(&s, 100) == 100);
	{
		size_t total = 0;

		for (size_t b = 0; b < CONFORM_HIST_BINS; b++)
			total += l.hist[b];
		assert_int_equal(total, 100);
		assert_true(l.bins >= 1 && l.bins <= CONFORM_HIST_BINS);
		assert_true(l.bin_ms * (double)l.bins >= 100);
	}
	conform_samples_fini(&s);
	/* one sample: every percentile is that sample */
	conform_samples_init(&s);
	conform_samples_add(&s, 7.5);
	conform_latency_summarise(&s, 2000, &l);
	assert_true(l.p50 == 7.5 && l.p99 == 7.5 && l.max == 7.5);
	/* the scale hint widens the range so the deadline fits */
	assert_true(l.bin_ms * (double)l.bins >= 2000);
	conform_samples_fini(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percentiles),
	};

	return cmocka_run_group_tests_name("conform_stats", tests, NULL, NULL);
}
