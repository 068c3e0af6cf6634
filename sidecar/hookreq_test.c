#include "sidecar/hookreq.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/json.h"

static cJSON *P(const char *s)
{
	struct err e;
	cJSON *j = json_parse(s, strlen(s), NULL, &e);

	if (j == NULL)
		fail_msg("fixture: %s", e.msg);
	return j;
}

static int V(const char *s, const char *expect_msg)
{
	struct err e;
	cJSON *j = P(s);
	int rc;

	err_clear(&e);
	rc = hookreq_validate(j, &e);
	cJSON_Delete(j);
	if (expect_msg)
		assert_non_null(strstr(e.msg, expect_msg));
	return rc;
}

#define HI "\"hookInstance\":\"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea\""

static void test_shape(void **state)
{
	(void)state;
	assert_int_equal(V("{\"hook\":\"patient-view\"," HI ",\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"1\"}}", NULL), 0);
	assert_int_equal(V("[]", "JSON object"), -EINVAL);
	assert_int_equal(V("{" HI ",\"context\":{}}", "hook is required"), -EINVAL);
	assert_int_equal(V("{\"hook\":\"patient-view\",\"hookInstance\":\"not-a-uuid\",\"context\":{}}", "UUID"), -EINVAL);
	assert_int_equal(V("{\"hook\":\"patient-view\"," HI "}", "context object"), -EINVAL);
	assert_int_equal(V("{\"hook\":\"patient-view\"," HI ",\"context\":{\"userId\":\"Practitioner/1\"}}", "context.patientId"), -EINVAL);
	assert_int_equal(V("{\"hook\":\"encounter-start\"," HI ",\"context\":{\"userId\":\"P/1\",\"patientId\":\"1\"}}", "context.encounterId"), -EINVAL);
	assert_int_equal(V("{\"hook\":\"patient-view\"," HI ",\"context\":{\"userId\":\"P/1\",\"patientId\":\"1\"},"
			   "\"fhirAuthorization\":{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"expires_in\":300,\"scope\":\"s\",\"subject\":\"x\"}}",
			   "requires fhirServer"), -EINVAL);
	assert_int_equal(V("{\"hook\":\"patient-view\"," HI ",\"context\":{\"userId\":\"P/1\",\"patientId\":\"1\"},\"fhirServer\":\"https://f.example/r4\","
			   "\"fhirAuthorization\":{\"access_token\":\"t\",\"token_type\":\"bearer\",\"expires_in\":300,\"scope\":\"s\",\"subject\":\"x\"}}",
			   "fhirAuthorization"), -EINVAL);
	assert_int_equal(V("{\"hook\":\"patient-view\"," HI ",\"context\":{\"userId\":\"P/1\",\"patientId\":\"1\"},\"prefetch\":[]}", "prefetch"), -EINVAL);
	/* org-specific hooks have no context table: only the generic shape applies */
	assert_int_equal(V("{\"hook\":\"org.example.custom\"," HI ",\"context\":{}}", NULL), 0);
	assert_true(hookreq_is_uuid("D1577C69-DFBE-44AD-BA6D-3E05E953B2EA"));
	assert_false(hookreq_is_uuid("d1577c69-dfbe-44ad-ba6d-3e05e953b2e"));
	assert_false(hookreq_is_uuid("d1577c69xdfbe-44ad-ba6d-3e05e953b2ea"));
}

static const char *const read_ok[] = {"Patient", "Observation"};

static void test_minimise_prefetch(void **state)
{
	cJSON *j = P("{\"prefetch\":{\"patient\":{\"resourceType\":\"Patient\",\"id\":\"1\"},"
		     "\"meds\":{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"MedicationRequest\"}}]},"
		     "\"vitals\":{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"Observation\"}}]},"
		     "\"mixed\":{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"Observation\"}},{\"resource\":{\"resourceType\":\"Condition\"}}]},"
		     "\"missing\":null,"
		     "\"oo\":{\"resourceType\":\"OperationOutcome\"},"
		     "\"weird\":\"text\"}}");
	char *removed[8] = {0};
	size_t n = hookreq_minimise_prefetch(j, read_ok, 2, removed, 8);
	cJSON *pre = cJSON_GetObjectItem(j, "prefetch");

	(void)state;
	assert_int_equal(n, 3);
	assert_string_equal(removed[0], "meds");
	assert_string_equal(removed[1], "mixed");
	assert_string_equal(removed[2], "weird");
	assert_non_null(cJSON_GetObjectItem(pre, "patient"));
	assert_non_null(cJSON_GetObjectItem(pre, "vitals"));
	assert_non_null(cJSON_GetObjectItem(pre, "missing"));
	assert_non_null(cJSON_GetObjectItem(pre, "oo"));
	assert_null(cJSON_GetObjectItem(pre, "meds"));
	for (size_t i = 0; i < n; i++)
		free(removed[i]);
	cJSON_Delete(j);
}

static void test_template_type(void **state)
{
	char t[64];

	(void)state;
	hookreq_template_type("Patient/{{context.patientId}}", t, sizeof(t));
	assert_string_equal(t, "Patient");
	hookreq_template_type("Observation?patient={{context.patientId}}&code=http://loinc.org|2708-6", t, sizeof(t));
	assert_string_equal(t, "Observation");
	hookreq_template_type("https://evil.example/Patient", t, sizeof(t));
	assert_string_equal(t, "");
	hookreq_template_type("{{context.patientId}}", t, sizeof(t));
	assert_string_equal(t, "");
}

static const char *const hooks_sepsis[] = {"patient-view", "order-select"};

static void test_filter_discovery(void **state)
{
	struct hook_approval ap[] = {
		{.id = "sepsis-risk", .hooks = hooks_sepsis, .n_hooks = 2, .read = read_ok, .n_read = 2, .active = true},
		{.id = "expired-svc", .hooks = hooks_sepsis, .n_hooks = 2, .read = read_ok, .n_read = 2, .active = false},
	};
	cJSON *d = P("{\"services\":["
		     "{\"id\":\"sepsis-risk\",\"hook\":\"patient-view\",\"description\":\"d\",\"prefetch\":{"
		     "\"patient\":\"Patient/{{context.patientId}}\",\"meds\":\"MedicationRequest?patient={{context.patientId}}\"}},"
		     "{\"id\":\"sepsis-risk\",\"hook\":\"order-sign\",\"description\":\"d\"},"
		     "{\"id\":\"expired-svc\",\"hook\":\"patient-view\",\"description\":\"d\"},"
		     "{\"id\":\"unknown\",\"hook\":\"patient-view\",\"description\":\"d\"},"
		     "{\"id\":\"sepsis-risk\",\"hook\":\"order-select\",\"description\":\"d\",\"prefetch\":{\"m\":\"MedicationRequest?x\"}}]}");
	char *out;

	(void)state;
	assert_int_equal(hookreq_filter_discovery(d, ap, 2), 2);
	out = cJSON_PrintUnformatted(d);
	assert_null(strstr(out, "order-sign"));
	assert_null(strstr(out, "expired-svc"));
	assert_null(strstr(out, "unknown"));
	assert_null(strstr(out, "MedicationRequest"));
	assert_non_null(strstr(out, "Patient/{{context.patientId}}"));
	/* the service whose only template was removed has no empty prefetch object */
	assert_null(strstr(out, "\"prefetch\":{}"));
	cJSON_free(out);
	cJSON_Delete(d);
	assert_false(hookreq_hook_allowed(&ap[1], "patient-view"));
	assert_true(hookreq_hook_allowed(&ap[0], "order-select"));
	assert_false(hookreq_hook_allowed(NULL, "patient-view"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_minimise_prefetch),
		cmocka_unit_test(test_template_type),
		cmocka_unit_test(test_filter_discovery),
	};
	return cmocka_run_group_tests_name("hookreq", tests, NULL, NULL);
}
