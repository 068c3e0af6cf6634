/* Tests for conform_profile: the profiles are consistent data — every check they name exists,
 * every hook they fire has a request template, and the documented EHR differences hold. */
#include "conformance/conform_profile.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conformance/conform_check.h"

static void test_profiles_consistent(void **state)
{
	size_t n;
	const struct conform_profile *p = conform_profiles(&n);
	const char *top = getenv("EHRGATE_TOP") ? getenv("EHRGATE_TOP") : ".";

	(void)state;
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < p[i].n_overrides; k++)
			assert_non_null(conform_check_find(p[i].overrides[k].check));
		for (size_t k = 0; k < p[i].n_evidence; k++) {
			char buf[256], *save = NULL, *t;

			assert_non_null(p[i].evidence[k].confidence);
			if (p[i].evidence[k].checks == NULL)
				continue;
			snprintf(buf, sizeof(buf), "%s", p[i].evidence[k].checks);
			for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
				if (conform_check_find(t) == NULL)
					fail_msg("profile %s names unknown check %s", p[i].name, t);
		}
		for (size_t h = 0; p[i].hooks[h]; h++) {
			char path[1024];
			struct stat st;

			snprintf(path, sizeof(path), "%s/fixtures/hooks/%s/%s.json", top, p[i].template_dir, p[i].hooks[h]);
			if (stat(path, &st) != 0)
				fail_msg("profile %s fires %s but has no template %s", p[i].name, p[i].hooks[h], path);
		}
		assert_true(p[i].jwks_path[0] == '/' && p[i].fhir_path[0] == '/');
	}
}

static void test_ehr_differences(void **state)
{
	const struct conform_profile *e = conform_profile_find("epic"), *o = conform_profile_find("oracle-health"),
				     *g = conform_profile_find("generic");

	(void)state;
	assert_null(conform_profile_find("cerner"));
	/* Epic: RS384, sub + nbf, 900 s, configurable aud */
	assert_int_equal(e->alg, JOSE_ALG_RS384);
	assert_true(e->claim_sub);
	assert_int_equal(e->nbf_before_iat_s, 300);
	assert_int_equal(e->lifetime_s, 900);
	assert_true(e->aud_configurable);
	/* Oracle Health: patient-view only, no appContext, fixed iss */
	assert_true(conform_profile_has_hook(o, "patient-view"));
	assert_false(conform_profile_has_hook(o, "order-sign"));
	assert_false(o->app_context);
	assert_string_equal(o->fixed_iss, "https://cds-hooks.cerner.com");
	/* generic: strict 2.0 with the sandbox variant */
	assert_true(g->strict_prefetch);
	assert_string_equal(g->quirk_dir, "sandbox");
	assert_true(conform_profile_has_hook(g, "appointment-book"));
	/* the weak evidence is marked: Epic's JWT facts come from a mirror (M) */
	for (size_t i = 0; i < e->n_evidence; i++)
		if (strstr(e->evidence[i].behaviour, "RS384"))
			assert_string_equal(e->evidence[i].confidence, "M");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profiles_consistent),
		cmocka_unit_test(test_ehr_differences),
	};

	return cmocka_run_group_tests_name("conform_profile", tests, NULL, NULL);
}
