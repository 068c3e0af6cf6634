#include "sidecar/metrics.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void test_counts_histograms_gauges(void **state)
{
	struct metrics *m = metrics_new();
	struct buf b;

	(void)state;
	metrics_count(m, "ingress", "sepsis-risk", "allow", 200);
	metrics_count(m, "ingress", "sepsis-risk", "allow", 200);
	metrics_count(m, "ingress", "sepsis-risk", "deny", 401);
	metrics_count(m, "egress", "llm", "block", 403);
	metrics_observe(m, METRICS_STAGE_UPSTREAM, 300);      /* 0.3 ms */
	metrics_observe(m, METRICS_STAGE_UPSTREAM, 3000000);  /* 3 s */
	metrics_set_gauge(m, "policy_loaded", 1);
	buf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(m, &b), 0);
	assert_non_null(strstr(b.p, "ehrgate_requests_total{kind=\"ingress\",name=\"sepsis-risk\",decision=\"allow\",status=\"200\"} 2\n"));
	assert_non_null(strstr(b.p, "decision=\"deny\",status=\"401\"} 1\n"));
	assert_non_null(strstr(b.p, "ehrgate_stage_seconds_bucket{stage=\"upstream\",le=\"0.0005\"} 1\n"));
	assert_non_null(strstr(b.p, "ehrgate_stage_seconds_bucket{stage=\"upstream\",le=\"2\"} 1\n"));
	assert_non_null(strstr(b.p, "ehrgate_stage_seconds_bucket{stage=\"upstream\",le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(b.p, "ehrgate_stage_seconds_count{stage=\"upstream\"} 2\n"));
	assert_non_null(strstr(b.p, "ehrgate_policy_loaded 1\n"));
	buf_fini(&b);
	metrics_free(m);
}

static void test_labels_sanitised_and_bounded(void **state)
{
	struct metrics *m = metrics_new();
	struct buf b;
	char name[32];

	(void)state;
	metrics_count(m, "ingress", "x\"} evil{", "allow", 200);
	for (int i = 0; i < METRICS_MAX_SERIES + 20; i++) {
		snprintf(name, sizeof(name), "svc-%d", i);
		metrics_count(m, "ingress", name, "allow", 200);
	}
	buf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(m, &b), 0);
	assert_null(strstr(b.p, "evil{"));
	assert_non_null(strstr(b.p, "name=\"x___evil_\""));
	assert_non_null(strstr(b.p, "name=\"other\""));
	buf_fini(&b);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_histograms_gauges),
		cmocka_unit_test(test_labels_sanitised_and_bounded),
	};
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
