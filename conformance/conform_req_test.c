/* Tests for conform_req: filling every hook template of every profile, and the prefetch
 * variants (full, partial, none, null, OperationOutcome, paginated, omit-on-failure). */
#include "conformance/conform_req.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conform_profile.h"
#include "lib/json.h"
#include "sidecar/hookreq.h"

#define BASE "http://127.0.0.1:9/fhir/r4"

static struct conform_fhir *F;
static char FX[512];

static int setup(void **state)
{
	char dir[600];
	struct err e = {0};

	(void)state;
	snprintf(FX, sizeof(FX), "%s/fixtures", getenv("EHRGATE_TOP") ? getenv("EHRGATE_TOP") : ".");
	snprintf(dir, sizeof(dir), "%s/patients", FX);
	return conform_fhir_load(dir, &F, &e) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	conform_fhir_free(F);
	return 0;
}

static cJSON *auth_obj(void)
{
	cJSON *a = cJSON_CreateObject();

	cJSON_AddStringToObject(a, "access_token", "t0k3n");
	cJSON_AddStringToObject(a, "token_type", "Bearer");
	cJSON_AddNumberToObject(a, "expires_in", 300);
	cJSON_AddStringToObject(a, "scope", "patient/Patient.read");
	cJSON_AddStringToObject(a, "subject", "svc-client");
	return a;
}

/* Every template of every profile fills into a request the sidecar's shape rules accept
 * (research checks 17-20), with no placeholder left. */
static void test_templates_fill_valid(void **state)
{
	static const char *const dirs[] = {"generic", "sandbox", "epic", "oracle-health"};
	static const char *const hooks[] = {"patient-view", "order-select", "order-sign", "encounter-start",
					    "encounter-discharge", "appointment-book"};
	cJSON *auth = auth_obj();
	size_t filled = 0;

	(void)state;
	for (size_t d = 0; d < 4; d++) {
		for (size_t h = 0; h < 6; h++) {
			struct err e = {0};
			cJSON *t = conform_template_load(FX, dirs[d], hooks[h], &e), *r;
			struct conform_hook_vars v = {"5b4f3cfa-0d2c-4a53-9e56-6a1e8a1e2d11", BASE, "pat-001", "pat-001-enc-1",
						      "Practitioner/dr-1", "2026-11-23", "2026-11-24", auth};
			char *s;

			if (t == NULL) {
				assert_int_equal(e.code, -ENOENT);
				continue;
			}
			r = conform_template_fill(t, &v);
			s = cJSON_PrintUnformatted(r);
			assert_null(strstr(s, "{{"));
			assert_int_equal(hookreq_validate(r, &e), 0);
			assert_string_equal(json_str(r, "hook"), hooks[h]);
			assert_string_equal(json_str(json_obj(r, "context"), "patientId"), "pat-001");
			if (strcmp(dirs[d], "sandbox") != 0)
				assert_string_equal(json_str(json_obj(r, "fhirAuthorization"), "access_token"), "t0k3n");
			else
				assert_null(json_obj(r, "fhirAuthorization"));
			free(s);
			cJSON_Delete(r);
			cJSON_Delete(t);
			filled++;
		}
	}
	assert_int_equal(filled, 6 + 3 + 6 + 1);
	cJSON_Delete(auth);
}

/* A NULL value removes the member; no fhirAuthorization removes it too. */
static void test_fill_removes(void **state)
{
	struct err e = {0};
	cJSON *t = conform_template_load(FX, "generic", "patient-view", &e), *r;
	struct conform_hook_vars v = {"5b4f3cfa-0d2c-4a53-9e56-6a1e8a1e2d11", NULL, "pat-002", NULL, "Practitioner/dr-1",
				      "2026-11-23", "2026-11-24", NULL};

	(void)state;
	assert_non_null(t);
	r = conform_template_fill(t, &v);
	assert_null(cJSON_GetObjectItemCaseSensitive(r, "fhirServer"));
	assert_null(cJSON_GetObjectItemCaseSensitive(r, "fhirAuthorization"));
	assert_null(cJSON_GetObjectItemCaseSensitive(json_obj(r, "context"), "encounterId"));
	assert_int_equal(hookreq_validate(r, &e), 0);
	cJSON_Delete(r);
	cJSON_Delete(t);
	/* templates are looked up by plain names only */
	assert_null(conform_template_load(FX, "generic", "../x", &e));
	assert_null(conform_template_load(FX, "..", "patient-view", &e));
}

static cJSON *templates(void)
{
	const char *s = "{\"patient\":\"Patient/{{context.patientId}}\","
			"\"vitals\":\"Observation?patient={{context.patientId}}&category=vital-signs\","
			"\"labs\":\"Observation?patient={{context.patientId}}&category=laboratory&_count=100\","
			"\"me\":\"PractitionerRole/{{userPractitionerRoleId}}\"}";
	struct err e = {0};

	return json_parse(s, strlen(s), NULL, &e);
}

static void test_prefetch_modes(void **state)
{
	struct conform_prefetch_ctx ctx = {"pat-001", "pat-001-enc-1", "Practitioner/dr-1", false};
	cJSON *t = templates(), *p;
	char desc[256];
	const cJSON *l;
	bool next = false;

	(void)state;
	/* full: the user token cannot be resolved for a Practitioner user: key omitted */
	p = conform_prefetch_build(t, "patient-view", &ctx, F, BASE, CONFORM_PF_FULL, desc, sizeof(desc));
	assert_int_equal(cJSON_GetArraySize(p), 3);
	assert_string_equal(json_str(json_obj(p, "patient"), "id"), "pat-001");
	assert_int_equal(cJSON_GetArraySize(json_arr(json_obj(p, "vitals"), "entry")), 36);
	assert_null(cJSON_GetObjectItemCaseSensitive(p, "me"));
	assert_non_null(strstr(desc, "me=unresolvable"));
	cJSON_Delete(p);
	/* partial: the first key only */
	p = conform_prefetch_build(t, "patient-view", &ctx, F, BASE, CONFORM_PF_PARTIAL, desc, sizeof(desc));
	assert_int_equal(cJSON_GetArraySize(p), 1);
	assert_non_null(json_obj(p, "patient"));
	cJSON_Delete(p);
	/* none */
	assert_null(conform_prefetch_build(t, "patient-view", &ctx, F, BASE, CONFORM_PF_NONE, desc, sizeof(desc)));
	/* null: every key but the first is JSON null (absent and null stay different) */
	p = conform_prefetch_build(t, "patient-view", &ctx, F, BASE, CONFORM_PF_NULL, desc, sizeof(desc));
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(p, "vitals")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(p, "labs")));
	assert_non_null(json_obj(p, "patient"));
	cJSON_Delete(p);
	/* OperationOutcome in place of the second key */
	p = conform_prefetch_build(t, "patient-view", &ctx, F, BASE, CONFORM_PF_OUTCOME, desc, sizeof(desc));
	assert_string_equal(json_str(json_obj(p, "vitals"), "resourceType"), "OperationOutcome");
	assert_string_equal(json_str(json_obj(p, "labs"), "resourceType"), "Bundle");
	cJSON_Delete(p);
	/* paginated: first page only, with a next link to the simulated EHR */
	p = conform_prefetch_build(t, "patient-view", &ctx, F, BASE, CONFORM_PF_PAGED, desc, sizeof(desc));
	assert_int_equal(cJSON_GetArraySize(json_arr(json_obj(p, "vitals"), "entry")), CONFORM_PAGE_SIZE);
	cJSON_ArrayForEach(l, json_arr(json_obj(p, "vitals"), "link"))
		next = next || (!strcmp(json_str(l, "relation"), "next") && !strncmp(json_str(l, "url"), BASE, strlen(BASE)));
	assert_true(next);
	assert_non_null(strstr(desc, "vitals=page-1"));
	cJSON_Delete(p);
	/* the no-data patient: quirk mode omits empty searches, strict mode sends empty Bundles */
	ctx.patient_id = "pat-011";
	p = conform_prefetch_build(t, "patient-view", &ctx, F, BASE, CONFORM_PF_QUIRK, desc, sizeof(desc));
	assert_int_equal(cJSON_GetArraySize(p), 1);
	cJSON_Delete(p);
	p = conform_prefetch_build(t, "patient-view", &ctx, F, BASE, CONFORM_PF_FULL, desc, sizeof(desc));
	assert_int_equal(cJSON_GetArraySize(p), 3);
	cJSON_Delete(p);
	/* a single read that finds nothing is null (S2 §Prefetch Template) */
	ctx.patient_id = "pat-404";
	p = conform_prefetch_build(t, "patient-view", &ctx, F, BASE, CONFORM_PF_FULL, desc, sizeof(desc));
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(p, "patient")));
	cJSON_Delete(p);
	cJSON_Delete(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_templates_fill_valid),
		cmocka_unit_test(test_fill_removes),
		cmocka_unit_test(test_prefetch_modes),
	};

	return cmocka_run_group_tests_name("conform_req", tests, setup, teardown);
}
