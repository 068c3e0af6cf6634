/* Tests for conform_check: the catalogue, levels, statuses, merging of findings, and the mapping
 * of lib/cds_card findings onto checks with valid and broken cards (research fixtures F4, F5 and
 * the 139/140 summary boundary). */
#include "conformance/conform_check.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "conformance/conform_util.h"
#include "lib/json.h"

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

static const struct conform_finding *find(struct conform_results *r, const char *id, const char *pointer)
{
	struct conform_result *x = conform_result(r, id);

	for (size_t i = 0; i < x->n_findings; i++)
		if (pointer == NULL || (x->findings[i].pointer && strcmp(x->findings[i].pointer, pointer) == 0))
			return &x->findings[i];
	return NULL;
}

static void validate_into(struct conform_results *r, const cJSON *resp)
{
	struct cds_findings *f = malloc(sizeof(*f));

	assert_non_null(f);
	cds_validate_response(resp, f);
	conform_add_card_findings(r, f, resp, NULL);
	free(f);
}

static void test_catalogue_ids_unique_and_complete(void **state)
{
	size_t n;
	const struct conform_check_def *c = conform_catalogue(&n);
	/* every rule id lib/cds_card can emit has a check (the ids must match) */
	static const char *const card_ids[] = {
		"CDS-JSON-003", "CDS-JSON-004", "CDS-RESP-039", "CDS-CARD-044", "CDS-CARD-045", "CDS-CARD-046",
		"CDS-CARD-047", "CDS-CARD-048", "CDS-CARD-049", "CDS-CARD-050", "CDS-CARD-051", "CDS-CARD-052",
		"CDS-CARD-053", "CDS-CARD-055", "CDS-CARD-056", "CDS-CARD-057", "CDS-CARD-058",
		"POLICY-ACTION-CREATE", "POLICY-ACTION-UPDATE", "POLICY-ACTION-DELETE", "POLICY-ACTION-UNKNOWN",
		"POLICY-LINK-SMART", "POLICY-LINK-APPCONTEXT",
	};

	(void)state;
	assert_true(n > 60);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(c[i].title);
		assert_non_null(c[i].ref);
		assert_non_null(c[i].fix);
		assert_true(c[i].group < CONFORM_G_COUNT);
		for (size_t k = i + 1; k < n; k++)
			assert_string_not_equal(c[i].id, c[k].id);
	}
	for (size_t i = 0; i < sizeof(card_ids) / sizeof(card_ids[0]); i++)
		assert_non_null(conform_check_find(card_ids[i]));
	assert_null(conform_check_find("CDS-CARD-999"));
}

static void test_status_and_levels(void **state)
{
	struct conform_results *r = conform_results_new();
	struct conform_evidence ev = CONFORM_EVIDENCE_NONE;

	(void)state;
	/* skip: never evaluated */
	conform_skip(r, "CDS-DISC-005", "reason one");
	conform_skip(r, "CDS-DISC-005", "reason two"); /* the first reason stays */
	/* pass */
	conform_ok(r, "CDS-DISC-006");
	/* warn: a SHOULD finding only */
	conform_ok(r, "CDS-DISC-007");
	conform_finding(r, "CDS-DISC-007", CDS_SHOULD, &ev, "no title");
	/* fail: MUST */
	conform_fail(r, "CDS-DISC-010", &ev, "answered %d", 500);
	/* a SHOULD-level check cannot produce a MUST finding */
	conform_finding(r, "CDS-LAT-042", CDS_MUST, &ev, "slow");
	/* production promotes the auth checks to MUST */
	conform_fail(r, "CDS-AUTH-029", &ev, "alg none accepted");
	conform_results_finish(r);
	assert_int_equal(conform_result(r, "CDS-DISC-005")->status, CONFORM_SKIP);
	assert_string_equal(conform_result(r, "CDS-DISC-005")->skip_reason, "reason one");
	assert_int_equal(conform_result(r, "CDS-DISC-006")->status, CONFORM_PASS);
	assert_int_equal(conform_result(r, "CDS-DISC-007")->status, CONFORM_WARN);
	assert_int_equal(conform_result(r, "CDS-DISC-010")->status, CONFORM_FAIL);
	assert_string_equal(conform_result(r, "CDS-DISC-010")->findings[0].msg, "answered 500");
	assert_int_equal(conform_result(r, "CDS-LAT-042")->status, CONFORM_WARN);
	assert_int_equal(conform_result(r, "CDS-AUTH-029")->status, CONFORM_WARN); /* staging: SHOULD */
	conform_results_free(r);

	r = conform_results_new();
	conform_results_set_production(r, true);
	assert_int_equal(conform_result(r, "CDS-AUTH-029")->level, CDS_MUST);
	assert_int_equal(conform_result(r, "CDS-AUTH-035")->level, CDS_POLICY); /* not flagged */
	conform_fail(r, "CDS-AUTH-029", &ev, "alg none accepted");
	conform_results_set_level(r, "POLICY-LINK-SMART", CDS_SHOULD);
	conform_fail(r, "POLICY-LINK-SMART", &ev, "unapproved link");
	conform_results_finish(r);
	assert_int_equal(conform_result(r, "CDS-AUTH-029")->status, CONFORM_FAIL);
	assert_int_equal(conform_result(r, "POLICY-LINK-SMART")->status, CONFORM_WARN);
	{
		struct conform_summary s;

		conform_results_summary(r, &s);
		assert_int_equal(s.must_failed, 1);
		assert_int_equal(s.group_fail[CONFORM_G_AUTH], 1);
	}
	conform_results_free(r);
}

static void test_merge_and_skip_group(void **state)
{
	struct conform_results *r = conform_results_new();
	struct conform_evidence ev = CONFORM_EVIDENCE_NONE;

	(void)state;
	ev.service = "s";
	ev.hook = "patient-view";
	ev.pointer = "/cards/0/summary";
	for (int i = 0; i < 5; i++)
		conform_fail(r, "CDS-CARD-044", &ev, "too long");
	ev.hook = "order-select";
	conform_fail(r, "CDS-CARD-044", &ev, "too long");
	assert_int_equal(conform_result(r, "CDS-CARD-044")->n_findings, 2);
	assert_int_equal(conform_result(r, "CDS-CARD-044")->findings[0].count, 5);
	/* beyond the kept maximum, findings are counted, not stored */
	for (int i = 0; i < CONFORM_FINDINGS_KEPT + 7; i++)
		conform_fail(r, "CDS-CARD-045", &ev, "defect %d", i);
	assert_int_equal(conform_result(r, "CDS-CARD-045")->n_findings, CONFORM_FINDINGS_KEPT);
	assert_int_equal(conform_result(r, "CDS-CARD-045")->dropped, 7);
	conform_results_skip_group(r, CONFORM_G_CARDS, "group not selected");
	conform_results_finish(r);
	assert_int_equal(conform_result(r, "CDS-CARD-044")->status, CONFORM_SKIP);
	assert_int_equal(conform_result(r, "CDS-CARD-044")->n_findings, 0);
	assert_string_equal(conform_result(r, "CDS-CARD-045")->skip_reason, "group not selected");
	conform_results_free(r);
}

/* F4: a valid response using every 2.0 feature passes every card rule. */
static void test_cards_valid_f4(void **state)
{
	struct conform_results *r = conform_results_new();
	cJSON *resp = load("fixtures/conformance/cards/f4-valid.json");

	(void)state;
	validate_into(r, resp);
	conform_results_finish(r);
	for (size_t i = 0; i < conform_results_count(r); i++) {
		struct conform_result *x = conform_results_at(r, i);

		if (x->def->group == CONFORM_G_CARDS && x->checked)
			assert_int_equal(x->n_findings, 0);
	}
	assert_int_equal(conform_result(r, "CDS-CARD-044")->status, CONFORM_PASS);
	assert_int_equal(conform_result(r, "CDS-RESP-039")->status, CONFORM_PASS);
	cJSON_Delete(resp);
	conform_results_free(r);
}

/* F5: one defect per card; each maps to its check with the JSON pointer and the value. */
static void test_cards_broken_f5(void **state)
{
	struct conform_results *r = conform_results_new();
	cJSON *resp = load("fixtures/conformance/cards/f5-broken.json");
	const struct conform_finding *f;

	(void)state;
	validate_into(r, resp);
	conform_results_finish(r);
	f = find(r, "CDS-CARD-044", "/cards/0/summary");
	assert_non_null(f);
	assert_int_equal(f->level, CDS_MUST);
	assert_non_null(strstr(f->msg, "156"));
	assert_non_null(f->value);
	assert_true(f->value[0] == '"');
	f = find(r, "CDS-CARD-045", "/cards/1/indicator");
	assert_non_null(f);
	assert_string_equal(f->value, "\"hard-stop\"");
	assert_non_null(find(r, "CDS-CARD-046", "/cards/2/source"));
	assert_non_null(find(r, "CDS-CARD-046", "/cards/3/source"));
	assert_non_null(find(r, "CDS-JSON-003", "/cards/3/detail"));
	assert_non_null(find(r, "CDS-JSON-003", "/cards/3/links"));
	assert_non_null(find(r, "CDS-CARD-049", "/cards/4/selectionBehavior"));
	assert_non_null(find(r, "CDS-CARD-053", "/cards/4/suggestions/0/actions/0/resource"));
	assert_non_null(find(r, "CDS-CARD-053", "/cards/4/suggestions/1/actions/0/resource"));
	assert_non_null(find(r, "CDS-CARD-051", "/cards/4/suggestions/2"));
	assert_non_null(find(r, "CDS-CARD-052", "/cards/4/suggestions/2/actions/0/type"));
	assert_non_null(find(r, "CDS-CARD-046", "/cards/5/source"));
	assert_non_null(find(r, "CDS-CARD-055", "/cards/5/links/0"));
	assert_non_null(find(r, "CDS-CARD-055", "/cards/5/links/1"));
	assert_non_null(find(r, "CDS-CARD-056", "/cards/5/overrideReasons/0"));
	/* F5 also puts selectionBehavior "all" on a card without suggestions: still an error */
	assert_non_null(find(r, "CDS-CARD-049", "/cards/5/selectionBehavior"));
	for (size_t i = 0; i < conform_results_count(r); i++) {
		struct conform_result *x = conform_results_at(r, i);
		const char *id = x->def->id;

		if (!strcmp(id, "CDS-CARD-044") || !strcmp(id, "CDS-CARD-045") || !strcmp(id, "CDS-CARD-046") ||
		    !strcmp(id, "CDS-CARD-049") || !strcmp(id, "CDS-CARD-051") || !strcmp(id, "CDS-CARD-052") ||
		    !strcmp(id, "CDS-CARD-053") || !strcmp(id, "CDS-CARD-055") || !strcmp(id, "CDS-CARD-056") ||
		    !strcmp(id, "CDS-JSON-003"))
			assert_int_equal(x->status, CONFORM_FAIL);
	}
	/* cards without defects of these kinds pass them */
	assert_int_equal(conform_result(r, "CDS-CARD-050")->status, CONFORM_PASS);
	assert_int_equal(conform_result(r, "CDS-RESP-039")->status, CONFORM_PASS);
	cJSON_Delete(resp);
	conform_results_free(r);
}

static cJSON *summary_card(size_t codepoints, const char *unit)
{
	char buf[1024] = "", json[1200];
	size_t ul = strlen(unit), len = 0;
	struct err e = {0};
	cJSON *j;

	for (size_t i = 0; i < codepoints; i++) {
		memcpy(buf + len, unit, ul);
		len += ul;
	}
	buf[len] = '\0';
	snprintf(json, sizeof(json), "{\"cards\":[{\"summary\":\"%s\",\"indicator\":\"info\",\"source\":{\"label\":\"T\"}}]}", buf);
	j = json_parse(json, strlen(json), NULL, &e);
	assert_non_null(j);
	return j;
}

/* Check 44 boundary: 139 code points pass, 140 fail — in ASCII and in 2-byte UTF-8. */
static void test_cards_summary_boundary(void **state)
{
	static const char *const units[] = {"a", "\xC3\xA9"};

	(void)state;
	for (size_t u = 0; u < 2; u++) {
		for (size_t n = 138; n <= 141; n++) {
			struct conform_results *r = conform_results_new();
			cJSON *c = summary_card(n, units[u]);

			validate_into(r, c);
			conform_results_finish(r);
			assert_int_equal(conform_result(r, "CDS-CARD-044")->status, n < 140 ? CONFORM_PASS : CONFORM_FAIL);
			cJSON_Delete(c);
			conform_results_free(r);
		}
	}
}

static void test_pointer_and_value_text(void **state)
{
	struct err e = {0};
	const char *doc = "{\"a/b\":{\"m~n\":[10,{\"x\":\"\xC3\xA9t\xC3\xA9\"}]}}";
	cJSON *j = json_parse(doc, strlen(doc), NULL, &e);
	char *t;

	(void)state;
	assert_non_null(j);
	assert_ptr_equal(conform_json_pointer(j, ""), j);
	assert_int_equal(conform_json_pointer(j, "/a~1b/m~0n/0")->valueint, 10);
	assert_string_equal(conform_json_pointer(j, "/a~1b/m~0n/1/x")->valuestring, "\xC3\xA9t\xC3\xA9");
	assert_null(conform_json_pointer(j, "/a~1b/m~0n/2"));
	assert_null(conform_json_pointer(j, "/a~1b/m~0n/-1"));
	assert_null(conform_json_pointer(j, "/nope"));
	assert_null(conform_json_pointer(j, "a"));
	t = conform_value_text(conform_json_pointer(j, "/a~1b/m~0n/1/x"), 3);
	/* cut on a UTF-8 boundary: "\"é" is 3 bytes, then the ellipsis */
	assert_string_equal(t, "\"\xC3\xA9\xE2\x80\xA6");
	free(t);
	t = conform_value_text(conform_json_pointer(j, "/a~1b/m~0n/0"), 10);
	assert_string_equal(t, "10");
	free(t);
	cJSON_Delete(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_catalogue_ids_unique_and_complete),
		cmocka_unit_test(test_status_and_levels),
		cmocka_unit_test(test_merge_and_skip_group),
		cmocka_unit_test(test_cards_valid_f4),
		cmocka_unit_test(test_cards_broken_f5),
		cmocka_unit_test(test_cards_summary_boundary),
		cmocka_unit_test(test_pointer_and_value_text),
	};

	return cmocka_run_group_tests_name("conform_check", tests, NULL, NULL);
}
