#include "lib/cds_card.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/json.h"
#include "lib/mem.h"

static struct cds_findings F;

static cJSON *P(const char *s)
{
	struct err e;
	cJSON *j = json_parse(s, strlen(s), NULL, &e);

	if (j == NULL)
		fail_msg("fixture does not parse: %s", e.msg);
	return j;
}

static bool has(const char *rule, const char *pointer)
{
	for (size_t i = 0; i < F.n; i++)
		if (strcmp(F.v[i].rule, rule) == 0 && (pointer == NULL || strcmp(F.v[i].pointer, pointer) == 0))
			return true;
	return false;
}

static size_t validate(const char *s)
{
	cJSON *j = P(s);
	size_t n = cds_validate_response(j, &F);

	cJSON_Delete(j);
	return n;
}

#define CARD(extra) "{\"cards\":[{\"summary\":\"Sepsis risk high\",\"indicator\":\"warning\"," \
	"\"source\":{\"label\":\"Demo\"}" extra "}]}"

static void test_valid_minimal_and_empty(void **state)
{
	(void)state;
	assert_int_equal(validate("{\"cards\":[]}"), 0);
	assert_int_equal(F.n, 0);
	assert_int_equal(validate(CARD("")), 0);
	assert_int_equal(validate("{}"), 1);
	assert_true(has("CDS-RESP-039", "/cards"));
	assert_int_equal(validate("[]"), 1);
	assert_int_equal(validate("{\"cards\":{}}"), 1);
}

/* Check 44 boundary in code points with multi-byte characters: 139 passes, 140 fails. */
static void test_summary_boundary_codepoints(void **state)
{
	char summary[1024], doc[2048];
	size_t off = 0;

	(void)state;
	/* 139 code points: 138 × "é" (2 bytes each) + "€" (3 bytes) */
	for (int i = 0; i < 138; i++)
		off += (size_t)snprintf(summary + off, sizeof(summary) - off, "\xc3\xa9");
	off += (size_t)snprintf(summary + off, sizeof(summary) - off, "\xe2\x82\xac");
	snprintf(doc, sizeof(doc), "{\"cards\":[{\"summary\":\"%s\",\"indicator\":\"info\",\"source\":{\"label\":\"x\"}}]}", summary);
	assert_int_equal(validate(doc), 0);
	/* 140 code points: add an emoji (4 bytes) */
	snprintf(summary + off, sizeof(summary) - off, "\xf0\x9f\x98\x80");
	snprintf(doc, sizeof(doc), "{\"cards\":[{\"summary\":\"%s\",\"indicator\":\"info\",\"source\":{\"label\":\"x\"}}]}", summary);
	assert_int_equal(validate(doc), 1);
	assert_true(has("CDS-CARD-044", "/cards/0/summary"));
	assert_int_equal(validate("{\"cards\":[{\"indicator\":\"info\",\"source\":{\"label\":\"x\"}}]}"), 1);
	assert_true(has("CDS-CARD-044", "/cards/0/summary"));
}

static void test_indicator_source(void **state)
{
	(void)state;
	assert_int_equal(validate("{\"cards\":[{\"summary\":\"s\",\"indicator\":\"hard-stop\",\"source\":{\"label\":\"x\"}}]}"), 1);
	assert_true(has("CDS-CARD-045", "/cards/0/indicator"));
	assert_int_equal(validate("{\"cards\":[{\"summary\":\"s\",\"indicator\":\"Info\",\"source\":{\"label\":\"x\"}}]}"), 1);
	assert_int_equal(validate("{\"cards\":[{\"summary\":\"s\",\"indicator\":\"info\"}]}"), 1);
	assert_true(has("CDS-CARD-046", "/cards/0/source"));
	assert_int_equal(validate("{\"cards\":[{\"summary\":\"s\",\"indicator\":\"info\",\"source\":{\"label\":\"x\",\"url\":\"/relative\"}}]}"), 1);
	assert_int_equal(validate("{\"cards\":[{\"summary\":\"s\",\"indicator\":\"info\",\"source\":{\"label\":\"x\",\"topic\":{\"code\":\"a\"}}}]}"), 1);
	assert_int_equal(validate(CARD(",\"uuid\":5")), 1);
	assert_true(has("CDS-CARD-047", "/cards/0/uuid"));
	assert_int_equal(validate(CARD(",\"detail\":\"see <script>alert(1)</script>\"")), 1);
	assert_true(has("CDS-CARD-048", "/cards/0/detail"));
}

static void test_null_and_empty_values(void **state)
{
	(void)state;
	assert_int_equal(validate(CARD(",\"detail\":\"\"")), 1);
	assert_true(has("CDS-JSON-003", "/cards/0/detail"));
	assert_int_equal(validate(CARD(",\"links\":[]")), 1);
	assert_true(has("CDS-JSON-003", "/cards/0/links"));
	assert_int_equal(validate(CARD(",\"uuid\":null")), 2); /* null + not a string */
	assert_int_equal(validate(CARD(",\"extension\":5")), 1);
	assert_true(has("CDS-JSON-004", "/cards/0/extension"));
	assert_int_equal(F.v[0].card, 0);
}

static void test_suggestions(void **state)
{
	(void)state;
	/* selectionBehavior required */
	assert_int_equal(validate(CARD(",\"suggestions\":[{\"label\":\"Order lactate\"}]")), 1);
	assert_true(has("CDS-CARD-049", "/cards/0/selectionBehavior"));
	/* two recommended with at-most-one */
	assert_int_equal(validate(CARD(",\"selectionBehavior\":\"at-most-one\",\"suggestions\":["
				       "{\"label\":\"a\",\"isRecommended\":true},{\"label\":\"b\",\"isRecommended\":true}]")), 1);
	assert_true(has("CDS-CARD-050", NULL));
	assert_int_equal(validate(CARD(",\"selectionBehavior\":\"any\",\"suggestions\":["
				       "{\"label\":\"a\",\"isRecommended\":true},{\"label\":\"b\",\"isRecommended\":true}]")), 0);
	/* an unknown selectionBehavior is an error even without suggestions (research F5) */
	assert_int_equal(validate(CARD(",\"selectionBehavior\":\"all\"")), 1);
	assert_true(has("CDS-CARD-049", "/cards/0/selectionBehavior"));
	assert_int_equal(validate(CARD(",\"selectionBehavior\":\"any\"")), 0);
	/* action rules */
	assert_int_equal(validate(CARD(",\"selectionBehavior\":\"any\",\"suggestions\":[{\"label\":\"a\",\"actions\":["
				       "{\"type\":\"remove\",\"description\":\"d\"}]}]")), 1);
	assert_true(has("CDS-CARD-052", "/cards/0/suggestions/0/actions/0/type"));
	assert_int_equal(validate(CARD(",\"selectionBehavior\":\"any\",\"suggestions\":[{\"label\":\"a\",\"actions\":["
				       "{\"type\":\"create\",\"description\":\"d\",\"resource\":{\"id\":\"1\"}}]}]")), 1);
	assert_true(has("CDS-CARD-053", "/cards/0/suggestions/0/actions/0/resource"));
	assert_int_equal(validate(CARD(",\"selectionBehavior\":\"any\",\"suggestions\":[{\"label\":\"a\",\"actions\":["
				       "{\"type\":\"delete\",\"description\":\"d\",\"resource\":\"MedicationRequest/1\"}]}]")), 1);
	assert_int_equal(validate(CARD(",\"selectionBehavior\":\"any\",\"suggestions\":[{\"label\":\"a\",\"actions\":["
				       "{\"type\":\"delete\",\"description\":\"d\",\"resourceId\":\"MedicationRequest/1\"}]}]")), 0);
}

static void test_links_and_override_reasons(void **state)
{
	(void)state;
	assert_int_equal(validate(CARD(",\"links\":[{\"label\":\"l\",\"url\":\"https://a.example/x\",\"type\":\"absolute\",\"appContext\":\"c\"}]")), 1);
	assert_true(has("CDS-CARD-055", "/cards/0/links/0"));
	assert_int_equal(validate(CARD(",\"links\":[{\"label\":\"l\",\"url\":\"https://a.example/x\",\"type\":\"smart\",\"appContext\":\"c\"}]")), 0);
	assert_int_equal(validate(CARD(",\"links\":[{\"label\":\"l\",\"url\":\"a.example/x\",\"type\":\"smart\"}]")), 1);
	assert_int_equal(validate(CARD(",\"links\":[{\"label\":\"l\",\"url\":\"https://a.example\",\"type\":\"web\"}]")), 1);
	assert_int_equal(validate(CARD(",\"overrideReasons\":[{\"code\":\"c\",\"system\":\"s\"}]")), 1);
	assert_true(has("CDS-CARD-056", "/cards/0/overrideReasons/0"));
	assert_int_equal(validate(CARD(",\"overrideReasons\":[{\"code\":\"c\",\"system\":\"s\",\"display\":\"d\"}]")), 0);
	/* unknown member: POLICY only */
	assert_int_equal(validate(CARD(",\"colour\":\"red\"")), 0);
	assert_true(has("CDS-CARD-058", NULL));
	assert_int_equal(F.v[0].level, CDS_POLICY);
}

static const char *const create_ok[] = {"ServiceRequest"};
static const char *const links_ok[] = {"https://apps.demo.example/sepsis/launch"};

static void test_enforce_strips_unapproved(void **state)
{
	struct cds_approvals ap = {.create = create_ok, .n_create = 1, .smart_links = links_ok, .n_smart_links = 1,
				   .allow_app_context = true};
	struct cds_strips *s = xcalloc(1, sizeof(*s));
	cJSON *r = P("{\"cards\":["
		     "{\"summary\":\"ok\",\"indicator\":\"info\",\"source\":{\"label\":\"x\"},\"selectionBehavior\":\"any\","
		     "\"suggestions\":[{\"label\":\"sr\",\"actions\":[{\"type\":\"create\",\"description\":\"d\",\"resource\":{\"resourceType\":\"ServiceRequest\"}}]},"
		     "{\"label\":\"mr\",\"actions\":[{\"type\":\"create\",\"description\":\"d\",\"resource\":{\"resourceType\":\"MedicationRequest\"}}]}],"
		     "\"links\":[{\"label\":\"app\",\"url\":\"https://apps.demo.example/sepsis/launch?x=1\",\"type\":\"smart\"},"
		     "{\"label\":\"evil\",\"url\":\"https://evil.example/launch\",\"type\":\"smart\"},"
		     "{\"label\":\"docs\",\"url\":\"https://docs.example\",\"type\":\"absolute\"}]},"
		     "{\"summary\":\"bad\",\"indicator\":\"nope\",\"source\":{\"label\":\"x\"}}],"
		     "\"systemActions\":[{\"type\":\"delete\",\"description\":\"d\",\"resourceId\":\"Condition/1\"}]}");
	cJSON *cards;
	char *out;

	(void)state;
	assert_int_equal(cds_validate_response(r, &F), 1);
	/* report mode: nothing changes, everything is recorded */
	cds_enforce(r, &F, &ap, false, s);
	assert_int_equal(s->n, 4);
	cards = cJSON_GetObjectItem(r, "cards");
	assert_int_equal(cJSON_GetArraySize(cards), 2);
	/* enforce mode */
	cds_enforce(r, &F, &ap, true, s);
	assert_int_equal(s->n, 4);
	assert_string_equal(s->v[0].rule, "POLICY-ACTION-CREATE");
	assert_string_equal(s->v[0].pointer, "/cards/0/suggestions/1");
	assert_string_equal(s->v[1].rule, "POLICY-LINK-SMART");
	assert_string_equal(s->v[1].pointer, "/cards/0/links/1");
	assert_string_equal(s->v[2].rule, "CDS-CARD-045");
	assert_string_equal(s->v[3].rule, "POLICY-ACTION-DELETE");
	assert_int_equal(cJSON_GetArraySize(cards), 1);
	assert_null(cJSON_GetObjectItem(r, "systemActions"));
	out = cJSON_PrintUnformatted(r);
	assert_non_null(strstr(out, "ServiceRequest"));
	assert_null(strstr(out, "MedicationRequest"));
	assert_null(strstr(out, "evil.example"));
	assert_non_null(strstr(out, "docs.example"));
	/* the result is itself valid */
	assert_int_equal(cds_validate_response(r, &F), 0);
	cJSON_free(out);
	cJSON_Delete(r);
	free(s);
}

static void test_enforce_removes_empty_suggestions(void **state)
{
	struct cds_approvals ap = {.allow_app_context = false};
	struct cds_strips *s = xcalloc(1, sizeof(*s));
	cJSON *r = P(CARD(",\"selectionBehavior\":\"at-most-one\",\"suggestions\":[{\"label\":\"x\",\"actions\":["
			  "{\"type\":\"update\",\"description\":\"d\",\"resource\":{\"resourceType\":\"Patient\",\"id\":\"1\"}}]}],"
			  "\"links\":[{\"label\":\"l\",\"url\":\"https://a.example\",\"type\":\"smart\",\"appContext\":\"c\"}]"));

	(void)state;
	cds_validate_response(r, &F);
	cds_enforce(r, &F, &ap, true, s);
	assert_int_equal(s->n, 2);
	assert_string_equal(s->v[0].rule, "POLICY-ACTION-UPDATE");
	assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "cards"), 0), "suggestions"));
	assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "cards"), 0), "selectionBehavior"));
	assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "cards"), 0), "links"));
	assert_int_equal(cds_validate_response(r, &F), 0);
	cJSON_Delete(r);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_minimal_and_empty),
		cmocka_unit_test(test_summary_boundary_codepoints),
		cmocka_unit_test(test_indicator_source),
		cmocka_unit_test(test_null_and_empty_values),
		cmocka_unit_test(test_suggestions),
		cmocka_unit_test(test_links_and_override_reasons),
		cmocka_unit_test(test_enforce_strips_unapproved),
		cmocka_unit_test(test_enforce_removes_empty_suggestions),
	};
	return cmocka_run_group_tests_name("cds_card", tests, NULL, NULL);
}
