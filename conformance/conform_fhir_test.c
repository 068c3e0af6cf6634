/* Tests for conform_fhir: the fixture store, reads, the search subset, paging links, scope. */
#include "conformance/conform_fhir.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "lib/json.h"

#define BASE "http://127.0.0.1:9/fhir/r4"

static struct conform_fhir *F;

static int setup(void **state)
{
	char dir[512];
	struct err e = {0};

	(void)state;
	snprintf(dir, sizeof(dir), "%s/fixtures/patients", getenv("EHRGATE_TOP") ? getenv("EHRGATE_TOP") : ".");
	if (conform_fhir_load(dir, &F, &e) < 0) {
		fprintf(stderr, "load: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	conform_fhir_free(F);
	return 0;
}

static size_t entries(const cJSON *b)
{
	return (size_t)cJSON_GetArraySize(json_arr(b, "entry"));
}

static const char *link_of(const cJSON *b, const char *rel)
{
	const cJSON *l;

	cJSON_ArrayForEach(l, json_arr(b, "link"))
		if (!strcmp(json_str(l, "relation"), rel))
			return json_str(l, "url");
	return NULL;
}

static void test_store(void **state)
{
	(void)state;
	assert_true(conform_fhir_patient_count(F) >= 10);
	assert_string_equal(conform_fhir_patient_id(F, 0), "pat-001");
	assert_string_equal(conform_fhir_patient_profile(F, 0), "septic");
	assert_string_equal(conform_fhir_encounter_id(F, "pat-001"), "pat-001-enc-1");
	assert_null(conform_fhir_encounter_id(F, "pat-999"));
	assert_non_null(conform_fhir_resource(F, "Patient", "pat-011"));
}

static void test_read(void **state)
{
	struct conform_fhir_answer a;

	(void)state;
	conform_fhir_get(F, "Patient/pat-002", BASE, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(json_str(a.body, "id"), "pat-002");
	cJSON_Delete(a.body);
	conform_fhir_get(F, "/Patient/nope", BASE, &a);
	assert_int_equal(a.status, 404);
	assert_string_equal(json_str(a.body, "resourceType"), "OperationOutcome");
	cJSON_Delete(a.body);
	conform_fhir_get(F, "Patient/pat-002/_history/1", BASE, &a);
	assert_int_equal(a.status, 400);
	cJSON_Delete(a.body);
}

static void test_search(void **state)
{
	struct conform_fhir_answer a;
	const cJSON *first;

	(void)state;
	/* vitals of pat-001: 6 codes x 6 times = 36; labs: 9 */
	conform_fhir_get(F, "Observation?patient=pat-001&category=vital-signs", BASE, &a);
	assert_int_equal(a.status, 200);
	assert_int_equal(entries(a.body), 36);
	assert_int_equal(json_obj(a.body, "total") ? 0 : 1, 1); /* total is a number, not an object */
	assert_false(a.paged);
	cJSON_Delete(a.body);
	/* token with system, url-encoded bar, several codes; patient as a reference */
	conform_fhir_get(F, "Observation?subject=Patient%2Fpat-001&code=http://loinc.org%7C2524-7,http://loinc.org|6690-2", BASE, &a);
	assert_int_equal(a.status, 200);
	assert_true(entries(a.body) >= 2);
	cJSON_Delete(a.body);
	/* latest first */
	conform_fhir_get(F, "Observation?patient=pat-001&code=8867-4&_sort=-date&_count=1", BASE, &a);
	first = json_obj(cJSON_GetArrayItem(json_arr(a.body, "entry"), 0), "resource");
	assert_non_null(first);
	assert_string_equal(json_str(first, "effectiveDateTime"), "2026-11-23T11:15:00Z");
	assert_true(a.paged);
	cJSON_Delete(a.body);
	/* no observations for the no-data patient; an empty searchset has no entry member */
	conform_fhir_get(F, "Observation?patient=pat-011", BASE, &a);
	assert_int_equal(a.status, 200);
	assert_null(json_arr(a.body, "entry"));
	cJSON_Delete(a.body);
	/* unknown parameters are ignored and reported; unsupported date prefixes are refused */
	conform_fhir_get(F, "Condition?patient=pat-001&_include=Condition:subject&foo=1", BASE, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.ignored, "foo");
	cJSON_Delete(a.body);
	conform_fhir_get(F, "Observation?patient=pat-001&date=ap2026-11-23", BASE, &a);
	assert_int_equal(a.status, 400);
	cJSON_Delete(a.body);
	conform_fhir_get(F, "Observation?patient=pat-001&date=ge2026-11-23T11:00&category=vital-signs", BASE, &a);
	assert_int_equal(entries(a.body), 6);
	cJSON_Delete(a.body);
	conform_fhir_get(F, "MedicationRequest?patient=pat-001&status=active,on-hold", BASE, &a);
	assert_true(entries(a.body) >= 1);
	cJSON_Delete(a.body);
}

/* Paging: following next links returns every match exactly once. */
static void test_paging(void **state)
{
	char rel[1024];
	size_t total = 0, pages = 0;
	struct conform_fhir_answer a;

	(void)state;
	snprintf(rel, sizeof(rel), "Observation?patient=pat-001&category=vital-signs&_count=5");
	for (;;) {
		const char *next;

		conform_fhir_get(F, rel, BASE, &a);
		assert_int_equal(a.status, 200);
		total += entries(a.body);
		pages++;
		next = link_of(a.body, "next");
		if (next == NULL) {
			cJSON_Delete(a.body);
			break;
		}
		assert_int_equal(strncmp(next, BASE "/", strlen(BASE) + 1), 0);
		assert_non_null(strstr(next, "_count=5"));
		snprintf(rel, sizeof(rel), "%s", next + strlen(BASE) + 1);
		cJSON_Delete(a.body);
		assert_true(pages < 20);
	}
	assert_int_equal(total, 36);
	assert_int_equal(pages, 8);
}

static void test_scope(void **state)
{
	struct conform_fhir_answer a;

	(void)state;
	conform_fhir_get(F, "Observation?patient=pat-001", BASE, &a);
	assert_true(conform_fhir_in_scope(a.body, "pat-001"));
	assert_false(conform_fhir_in_scope(a.body, "pat-002"));
	cJSON_Delete(a.body);
	conform_fhir_get(F, "Patient/pat-002", BASE, &a);
	assert_true(conform_fhir_in_scope(a.body, "pat-002"));
	assert_false(conform_fhir_in_scope(a.body, "pat-001"));
	cJSON_Delete(a.body);
	/* a search without a patient parameter returns everyone's data: out of scope */
	conform_fhir_get(F, "Condition?clinical-status=active", BASE, &a);
	assert_false(conform_fhir_in_scope(a.body, "pat-001"));
	cJSON_Delete(a.body);
}

static void test_url_decode(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(conform_url_decode("a%7Cb+c", 7, out, sizeof(out)), 0);
	assert_string_equal(out, "a|b c");
	assert_int_equal(conform_url_decode("%7", 2, out, sizeof(out)), -EINVAL);
	assert_int_equal(conform_url_decode("%zz", 3, out, sizeof(out)), -EINVAL);
	assert_int_equal(conform_url_decode("0123456789abcdefg", 17, out, sizeof(out)), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store),  cmocka_unit_test(test_read),  cmocka_unit_test(test_search),
		cmocka_unit_test(test_paging), cmocka_unit_test(test_scope), cmocka_unit_test(test_url_decode),
	};

	return cmocka_run_group_tests_name("conform_fhir", tests, setup, teardown);
}
