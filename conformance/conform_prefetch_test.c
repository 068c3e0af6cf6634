/* Tests for conform_prefetch: lint of research fixtures F1 (valid, one warning) and F1-bad (one
 * defect per template), and token resolution as an EHR does it. */
#include "conformance/conform_prefetch.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "conformance/conform_util.h"
#include "lib/json.h"

static struct conform_lint L[CONFORM_LINT_MAX];

static size_t lint(const char *hook, const char *t)
{
	return conform_prefetch_lint(hook, t, L, CONFORM_LINT_MAX);
}

static bool has(size_t n, const char *check)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(L[i].check, check) == 0)
			return true;
	return false;
}

static cJSON *load(const char *rel)
{
	char path[512];
	struct err e = {0};
	cJSON *j;

	snprintf(path, sizeof(path), "%s/%s", getenv("EHRGATE_TOP") ? getenv("EHRGATE_TOP") : ".", rel);
	j = conform_read_json(path, 1u << 20, &e);
	if (j == NULL)
		fail_msg("cannot load %s: %s", rel, e.msg);
	return j;
}

/* F1: everything passes except the _include warning (check 14) on the second service. */
static void test_f1_valid(void **state)
{
	cJSON *d = load("fixtures/conformance/discovery/f1-valid.json"), *s, *t;
	size_t must = 0, should = 0;

	(void)state;
	cJSON_ArrayForEach(s, json_arr(d, "services")) {
		cJSON_ArrayForEach(t, json_obj(s, "prefetch")) {
			size_t n = lint(json_str(s, "hook"), t->valuestring);

			for (size_t i = 0; i < n; i++) {
				must += L[i].level == CDS_MUST;
				should += L[i].level == CDS_SHOULD;
				assert_string_equal(L[i].check, "CDS-PREF-014");
				assert_non_null(strstr(L[i].msg, "_include"));
			}
		}
	}
	assert_int_equal(must, 0);
	assert_int_equal(should, 1);
	cJSON_Delete(d);
}

/* F1-bad: nested token (13), legacy {{user}} (12), absolute template (15), unbalanced (11). */
static void test_f1_bad(void **state)
{
	cJSON *d = load("fixtures/conformance/discovery/f1-bad.json");
	cJSON *p = json_obj(cJSON_GetArrayItem(json_arr(d, "services"), 1), "prefetch");
	size_t n;

	(void)state;
	n = lint("order-select", json_str(p, "orders"));
	assert_true(has(n, "CDS-PREF-013"));
	n = lint("order-select", json_str(p, "who"));
	assert_true(has(n, "CDS-PREF-012"));
	assert_false(has(n, "CDS-PREF-013"));
	n = lint("order-select", json_str(p, "abs"));
	assert_true(has(n, "CDS-PREF-015"));
	assert_false(has(n, "CDS-PREF-012"));
	n = lint("order-select", json_str(p, "broken"));
	assert_true(has(n, "CDS-PREF-011"));
	cJSON_Delete(d);
}

static void test_lint_cases(void **state)
{
	size_t n;

	(void)state;
	assert_int_equal(lint("patient-view", "Patient/{{context.patientId}}"), 0);
	assert_int_equal(lint("patient-view", "Practitioner/{{userPractitionerId}}"), 0);
	/* encounterId is a token in patient-view; draftOrders is never one (check 13) */
	assert_int_equal(lint("patient-view", "Encounter/{{context.encounterId}}"), 0);
	n = lint("order-sign", "MedicationRequest?_id={{context.draftOrders}}");
	assert_true(has(n, "CDS-PREF-013"));
	n = lint("patient-view", "Observation?patient={{ context.patientId }}&date=ap2026-01-01");
	assert_true(has(n, "CDS-PREF-014"));
	assert_false(has(n, "CDS-PREF-012"));
	assert_int_equal(lint("patient-view", "Observation?patient={{context.patientId}}&date=ge2026-01-01&_count=5&_sort=-date"), 0);
	n = lint("patient-view", "Observation?subject.name=x");
	assert_true(has(n, "CDS-PREF-014"));
	n = lint("patient-view", "Observation?code:text=x");
	assert_true(has(n, "CDS-PREF-014"));
	assert_int_equal(lint("patient-view", "Condition?patient={{context.patientId}}&code:in=http://x/vs"), 0);
	n = lint("patient-view", "Observation?patient={{context.patientId}}}}");
	assert_true(has(n, "CDS-PREF-011"));
	n = lint("patient-view", "}}Patient/{{context.patientId}}");
	assert_true(has(n, "CDS-PREF-011"));
	n = lint("patient-view", "Patient/{context.patientId}");
	assert_true(has(n, "CDS-PREF-011"));
	n = lint("patient-view", "/Patient/{{context.patientId}}");
	assert_true(has(n, "CDS-PREF-015"));
	/* 3.0-style FHIRPath is not a 2.0 token */
	n = lint("patient-view", "Observation?date=gt{{today() - 90 days}}");
	assert_true(has(n, "CDS-PREF-012"));
	/* an org-specific hook: any root-level context field */
	assert_int_equal(lint("org.example.hook", "Patient/{{context.subjectId}}"), 0);
}

static void test_resolve(void **state)
{
	struct conform_prefetch_ctx c = {"pat 1", "enc-1", "Practitioner/dr-7", false};
	char out[256];

	(void)state;
	assert_int_equal(conform_prefetch_resolve("Patient/{{context.patientId}}", &c, out, sizeof(out)), 0);
	/* in the path the value is not encoded */
	assert_string_equal(out, "Patient/pat 1");
	assert_int_equal(conform_prefetch_resolve("Observation?patient={{context.patientId}}&encounter={{context.encounterId}}", &c, out, sizeof(out)), 0);
	assert_string_equal(out, "Observation?patient=pat%201&encounter=enc-1");
	assert_int_equal(conform_prefetch_resolve("Practitioner/{{userPractitionerId}}", &c, out, sizeof(out)), 0);
	assert_string_equal(out, "Practitioner/dr-7");
	/* a user token that does not match the userId type cannot be resolved: the key is omitted */
	assert_int_equal(conform_prefetch_resolve("PractitionerRole/{{userPractitionerRoleId}}", &c, out, sizeof(out)), -ENOENT);
	assert_int_equal(conform_prefetch_resolve("Practitioner/{{user}}", &c, out, sizeof(out)), -ENOENT);
	c.legacy_user_token = true; /* the sandbox substitutes {{user}} */
	assert_int_equal(conform_prefetch_resolve("X?u={{user}}", &c, out, sizeof(out)), 0);
	assert_string_equal(out, "X?u=Practitioner/dr-7");
	assert_int_equal(conform_prefetch_resolve("Patient/{{context.patientId", &c, out, sizeof(out)), -EINVAL);
	assert_int_equal(conform_prefetch_resolve("Patient/{{context.patientId}}", &c, out, 8), -E2BIG);
	c.encounter_id = NULL;
	assert_int_equal(conform_prefetch_resolve("Encounter/{{context.encounterId}}", &c, out, sizeof(out)), -ENOENT);
	assert_true(conform_hook_known("appointment-book"));
	assert_false(conform_hook_known("order-review"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_f1_valid),
		cmocka_unit_test(test_f1_bad),
		cmocka_unit_test(test_lint_cases),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests_name("conform_prefetch", tests, NULL, NULL);
}
