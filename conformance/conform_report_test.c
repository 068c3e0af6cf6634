/* Tests for conform_report: report.json content, junit.xml shape and escaping, report.html
 * order (verdict, failed checks first) and escaping of hostile values. */
#include "conformance/conform_report.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"
#include "lib/mem.h"

#define HOSTILE "<script>alert('x')</script>&\"\x01"

static void make_run(struct conform_run *r, bool reachable)
{
	struct conform_evidence ev = CONFORM_EVIDENCE_NONE;
	struct conform_lat_series *l;

	memset(r, 0, sizeof(*r));
	r->opt.target = "http://127.0.0.1:1/cds";
	r->opt.iterations = 10;
	r->opt.concurrency = 2;
	r->opt.groups = CONFORM_GROUPS_ALL;
	r->site.id = xstrdup("demo-general");
	r->site.name = xstrdup("Demo <General> & Co");
	r->site.ehr = xstrdup("generic");
	r->site.environment = xstrdup("staging");
	r->site.policy_path = xstrdup("/x/demo.yaml");
	r->profile = conform_profile_find("generic");
	r->deadline_ms = 2000;
	r->reachable = reachable;
	r->started_ms = 1800000000000;
	r->finished_ms = 1800000002500;
	r->results = conform_results_new();
	if (!reachable) {
		conform_results_finish(r->results);
		r->exit_code = 3;
		return;
	}
	conform_ok(r->results, "CDS-DISC-005");
	ev.rid = "r0007";
	ev.service = "sepsis-risk";
	ev.hook = "patient-view";
	ev.variant = "prefetch-full";
	ev.pointer = "/cards/0/summary";
	ev.value = HOSTILE;
	ev.http_status = 200;
	ev.elapsed_ms = 12.5;
	conform_fail(r->results, "CDS-CARD-044", &ev, "summary has 150 characters; must be fewer than 140");
	conform_fail(r->results, "CDS-CARD-044", &ev, "summary has 150 characters; must be fewer than 140");
	conform_finding(r->results, "CDS-LAT-042", CDS_SHOULD, &ev, "p95 700 ms is above the 500 ms guideline");
	conform_skip(r->results, "CDS-FB-059", "the service does not offer feedback (HTTP 404): allowed");
	conform_results_set_weak(r->results, "CDS-LAT-142", "EHR window unconfirmed [U]");
	conform_ok(r->results, "CDS-LAT-142");
	conform_results_finish(r->results);
	r->lat = xcalloc(1, sizeof(*r->lat));
	r->n_lat = 1;
	l = &r->lat[0];
	l->service = xstrdup("sepsis-risk");
	l->hook = xstrdup("patient-view");
	conform_samples_init(&l->samples);
	for (int i = 1; i <= 10; i++)
		conform_samples_add(&l->samples, i * 10.0);
	conform_latency_summarise(&l->samples, 0, &l->sum);
	l->wall_ms = 100;
	r->ex = xcalloc(1, sizeof(*r->ex));
	r->n_ex = 1;
	snprintf(r->ex[0].rid, sizeof(r->ex[0].rid), "r0007");
	snprintf(r->ex[0].method, sizeof(r->ex[0].method), "POST");
	r->ex[0].path = xstrdup("/cds-services/sepsis-risk");
	r->ex[0].status = 200;
	conform_run_note(r, "a note with %s", "<b>markup</b>");
	r->exit_code = 1;
}

static void test_json(void **state)
{
	struct conform_run r;
	struct buf b;
	struct err e = {0};
	cJSON *j, *c;
	bool seen = false;

	(void)state;
	make_run(&r, true);
	buf_init(&b, 1u << 24);
	assert_int_equal(conform_report_json(&r, &b), 0);
	j = json_parse(b.p, b.len, NULL, &e);
	assert_non_null(j);
	assert_string_equal(json_str(j, "verdict"), "fail");
	assert_string_equal(json_str(json_obj(j, "site"), "name"), "Demo <General> & Co");
	assert_string_equal(json_str(json_obj(j, "profile"), "name"), "generic");
	assert_int_equal(cJSON_GetArraySize(json_arr(j, "checks")), (int)conform_results_count(r.results));
	cJSON_ArrayForEach(c, json_arr(j, "checks")) {
		if (strcmp(json_str(c, "id"), "CDS-CARD-044") == 0) {
			const cJSON *f = cJSON_GetArrayItem(json_arr(c, "findings"), 0);
			int64_t occ;

			seen = true;
			assert_string_equal(json_str(c, "status"), "fail");
			assert_string_equal(json_str(c, "level"), "MUST");
			assert_string_equal(json_str(f, "pointer"), "/cards/0/summary");
			assert_string_equal(json_str(f, "value"), HOSTILE);
			assert_string_equal(json_str(f, "request"), "r0007");
			assert_int_equal(json_i64(f, "occurrences", &occ), 0);
			assert_int_equal(occ, 2);
		}
		if (strcmp(json_str(c, "id"), "CDS-LAT-142") == 0)
			assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "weak_evidence")));
		if (strcmp(json_str(c, "id"), "CDS-FB-059") == 0)
			assert_non_null(strstr(json_str(c, "skip_reason"), "does not offer"));
	}
	assert_true(seen);
	c = cJSON_GetArrayItem(json_arr(j, "latency"), 0);
	{
		int64_t v;

		assert_int_equal(json_i64(c, "p50_ms", &v), 0);
		assert_int_equal(v, 50);
		assert_int_equal(json_i64(c, "p99_ms", &v), 0);
		assert_int_equal(v, 100);
	}
	assert_string_equal(json_str(cJSON_GetArrayItem(json_arr(j, "pathways"), 1), "verdict"), "not-tested");
	cJSON_Delete(j);
	buf_fini(&b);
	conform_run_fini(&r);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void test_junit(void **state)
{
	struct conform_run r;
	struct buf b;
	char expect[64];

	(void)state;
	make_run(&r, true);
	buf_init(&b, 1u << 24);
	assert_int_equal(conform_report_junit(&r, &b), 0);
	assert_int_equal(strncmp(b.p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", 50), 0);
	/* one testcase per check, one testsuite per group, one failure */
	assert_int_equal(count(b.p, "<testcase "), conform_results_count(r.results));
	assert_int_equal(count(b.p, "</testcase>"), conform_results_count(r.results));
	assert_int_equal(count(b.p, "<testsuite "), CONFORM_G_COUNT);
	assert_int_equal(count(b.p, "<failure "), 1);
	assert_non_null(strstr(b.p, "message=\"CDS-CARD-044: summary has 150 characters; must be fewer than 140\""));
	snprintf(expect, sizeof(expect), "tests=\"%zu\" failures=\"1\"", conform_results_count(r.results));
	assert_non_null(strstr(b.p, expect));
	/* hostile values are escaped; control characters are gone */
	assert_null(strstr(b.p, "<script>"));
	assert_non_null(strstr(b.p, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;?"));
	assert_null(strchr(b.p, '\x01'));
	assert_non_null(strstr(b.p, "<skipped message=\"the service does not offer feedback"));
	assert_non_null(strstr(b.p, "<system-out>WARNING"));
	buf_fini(&b);
	conform_run_fini(&r);
}

static void test_html(void **state)
{
	struct conform_run r;
	struct buf b;
	const char *v, *failed, *warn, *lat;

	(void)state;
	make_run(&r, true);
	buf_init(&b, 1u << 24);
	assert_int_equal(conform_report_html(&r, &b), 0);
	v = strstr(b.p, "id=\"verdict\"><b>Verdict: FAIL</b>");
	failed = strstr(b.p, "<h2 id=\"failed\">Failed checks (1)</h2>");
	warn = strstr(b.p, "<h2 id=\"warnings\">");
	lat = strstr(b.p, "<h2 id=\"latency\">");
	assert_non_null(v);
	assert_non_null(failed);
	assert_non_null(warn);
	assert_non_null(lat);
	/* verdict, then failures, then warnings, then latency */
	assert_true(v < failed && failed < warn && warn < lat);
	assert_true(strstr(failed, "CDS-CARD-044") < warn);
	assert_non_null(strstr(failed, "How to fix:"));
	assert_non_null(strstr(b.p, "<svg"));
	assert_non_null(strstr(b.p, "Demo &lt;General&gt; &amp; Co"));
	assert_null(strstr(b.p, "<script"));
	assert_null(strstr(b.p, "<b>markup</b>"));
	assert_non_null(strstr(b.p, "weak evidence"));
	/* self-contained: no external resources */
	assert_null(strstr(b.p, "<link "));
	assert_null(strstr(b.p, "src=\"http"));
	buf_fini(&b);
	conform_run_fini(&r);
	/* unreachable */
	make_run(&r, false);
	buf_init(&b, 1u << 24);
	assert_int_equal(conform_report_html(&r, &b), 0);
	assert_non_null(strstr(b.p, "Verdict: TARGET UNREACHABLE"));
	assert_string_equal(conform_verdict(&r), "unreachable");
	buf_fini(&b);
	conform_run_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_junit),
		cmocka_unit_test(test_html),
	};

	return cmocka_run_group_tests_name("conform_report", tests, NULL, NULL);
}
