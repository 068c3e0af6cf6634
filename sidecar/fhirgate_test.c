#include "sidecar/fhirgate.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/sha.h>

#include "lib/jose.h"
#include "lib/json.h"

static bool in(const char *t, const char *const *l)
{
	for (; *l; l++)
		if (strcmp(*l, t) == 0)
			return true;
	return false;
}

static const char *const reads[] = {"Patient", "Observation", "Condition", "Encounter", NULL};
static const char *const writes[] = {"DocumentReference", NULL};
static bool read_ok(const char *t, void *a) { (void)a; return in(t, reads); }
static bool write_ok(const char *t, void *a) { (void)a; return in(t, writes); }
static bool write_none(const char *t, void *a) { (void)a; (void)t; return false; }

static struct fhirgate_policy pol = {read_ok, write_ok, NULL};

static const char *chk(const char *m, const char *path, const char *q)
{
	static struct fhirgate_result r;
	struct fhirgate_request req;

	if (fhirgate_check(&pol, m, path, q, &req, &r) == 0)
		return "ok";
	return r.rules[0];
}

static void test_reads_and_writes(void **state)
{
	(void)state;
	assert_string_equal(chk("GET", "/Patient/pat-001", NULL), "ok");
	assert_string_equal(chk("GET", "/Observation", "patient=pat-001&code=http://loinc.org|2524-7"), "ok");
	assert_string_equal(chk("GET", "/Patient/pat-001/_history/2", NULL), "ok");
	assert_string_equal(chk("GET", "/metadata", NULL), "ok");
	assert_string_equal(chk("GET", "/MedicationRequest", "patient=1"), "FHIR-READ");
	assert_string_equal(chk("GET", "/Patient/1/MedicationRequest", NULL), "FHIR-READ");
	assert_string_equal(chk("GET", "/Patient/1/Observation", NULL), "ok");
	assert_string_equal(chk("POST", "/DocumentReference", NULL), "ok");
	assert_string_equal(chk("PUT", "/DocumentReference/d1", NULL), "ok");
	assert_string_equal(chk("POST", "/Observation", NULL), "FHIR-WRITE");
	assert_string_equal(chk("DELETE", "/Patient/1", NULL), "FHIR-WRITE");
	assert_string_equal(chk("PATCH", "/Condition/1", NULL), "FHIR-WRITE");
	assert_string_equal(chk("POST", "/", NULL), "FHIR-BATCH");
	assert_string_equal(chk("GET", "/Patient/1/$everything", NULL), "FHIR-PATH");
	assert_string_equal(chk("GET", "/patient/1", NULL), "FHIR-PATH");
	assert_string_equal(chk("GET", "//Patient", NULL), "FHIR-PATH");
	assert_string_equal(chk("GET", "/Patient/../secret", NULL), "FHIR-PATH");
	assert_string_equal(chk("GET", "Patient", NULL), "FHIR-PATH");
	assert_string_equal(chk("POST", "/Observation/_search", "patient=1"), "ok");
	/* a read-only site refuses every write */
	pol.write_ok = write_none;
	assert_string_equal(chk("POST", "/DocumentReference", NULL), "FHIR-WRITE");
	pol.write_ok = write_ok;
}

static void test_include_revinclude(void **state)
{
	(void)state;
	assert_string_equal(chk("GET", "/Observation", "patient=1&_include=Observation:patient:Patient"), "ok");
	assert_string_equal(chk("GET", "/Observation", "_include=Observation:performer:Practitioner"), "FHIR-INCLUDE");
	assert_string_equal(chk("GET", "/Observation", "_include=Observation:patient"), "FHIR-INCLUDE");
	assert_string_equal(chk("GET", "/Observation", "_include=*"), "FHIR-INCLUDE");
	assert_string_equal(chk("GET", "/Patient", "_revinclude=Provenance:target"), "FHIR-INCLUDE");
	assert_string_equal(chk("GET", "/Patient", "_revinclude=Observation:subject"), "ok");
	/* encoded keys and modifiers do not get past */
	assert_string_equal(chk("GET", "/Patient", "%5Frevinclude=MedicationRequest%3Asubject"), "FHIR-INCLUDE");
	assert_string_equal(chk("GET", "/Patient", "_revinclude:iterate=MedicationRequest:subject"), "FHIR-INCLUDE");
}

static bool other_patient(const char *text, size_t len, void *arg)
{
	(void)arg;
	return memmem(text, len, "Zqellington", 11) != NULL;
}

static char *docref(const char *note, const char *patch_key, const char *patch_json)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	struct buf b64, h64;
	char *out;
	cJSON *d;
	static const char tmpl[] =
		"{\"resourceType\":\"DocumentReference\",\"status\":\"current\",\"docStatus\":\"preliminary\","
		"\"type\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"11506-3\"}]},"
		"\"subject\":{\"reference\":\"Patient/pat-001\"},\"date\":\"2026-11-23T10:00:00Z\","
		"\"author\":[{\"reference\":\"Device/ehrgate-refsvc\"}],"
		"\"context\":{\"encounter\":[{\"reference\":\"Encounter/pat-001-enc-1\"}]},\"content\":[]}";
	cJSON *att = cJSON_CreateObject(), *c = cJSON_CreateObject();
	struct err e;
	char std[1024];
	size_t n = 0;

	/* standard base64 via base64url + alphabet swap + padding */
	buf_init(&b64, 1 << 16);
	buf_init(&h64, 128);
	assert_int_equal(jose_b64url_encode(note, strlen(note), &b64), 0);
	for (size_t i = 0; i < b64.len; i++)
		std[n++] = b64.p[i] == '-' ? '+' : b64.p[i] == '_' ? '/' : b64.p[i];
	while (n % 4)
		std[n++] = '=';
	std[n] = 0;
	SHA1((const unsigned char *)note, strlen(note), md);
	assert_int_equal(jose_b64url_encode(md, sizeof(md), &h64), 0);
	{
		char hs[64];
		size_t k = 0;

		for (size_t i = 0; i < h64.len; i++)
			hs[k++] = h64.p[i] == '-' ? '+' : h64.p[i] == '_' ? '/' : h64.p[i];
		while (k % 4)
			hs[k++] = '=';
		hs[k] = 0;
		cJSON_AddStringToObject(att, "hash", hs);
	}
	d = json_parse(tmpl, strlen(tmpl), NULL, &e);
	cJSON_AddStringToObject(att, "contentType", "text/plain; charset=utf-8");
	cJSON_AddStringToObject(att, "data", std);
	cJSON_AddNumberToObject(att, "size", (double)strlen(note));
	cJSON_AddItemToObject(c, "attachment", att);
	cJSON_AddItemToArray(cJSON_GetObjectItem(d, "content"), c);
	if (patch_key) {
		cJSON *v = patch_json ? json_parse(patch_json, strlen(patch_json), NULL, &e) : NULL;
		cJSON *target = strncmp(patch_key, "att.", 4) == 0 ? att : d;
		const char *k = strncmp(patch_key, "att.", 4) == 0 ? patch_key + 4 : patch_key;

		if (v)
			cJSON_ReplaceItemInObject(target, k, v);
		else
			cJSON_DeleteItemFromObject(target, k);
	}
	out = cJSON_PrintUnformatted(d);
	cJSON_Delete(d);
	buf_fini(&b64);
	buf_fini(&h64);
	return out;
}

static const char *V(char *doc)
{
	static struct fhirgate_result r;
	struct fhirgate_context ctx = {"pat-001", "pat-001-enc-1", other_patient, NULL};
	struct err e;
	cJSON *d = json_parse(doc, strlen(doc), NULL, &e);

	fhirgate_validate_docref(d, &ctx, &r);
	cJSON_Delete(d);
	free(doc);
	return r.n_rules ? r.rules[0] : "ok";
}

static void test_docref(void **state)
{
	const char *note = "Sepsis screen negative. Plan: repeat lactate in 4 h.";

	(void)state;
	assert_string_equal(V(docref(note, NULL, NULL)), "ok");
	assert_string_equal(V(docref(note, "status", "\"superseded\"")), "DOCREF-STATUS");
	assert_string_equal(V(docref(note, "docStatus", "\"final\"")), "DOCREF-DOCSTATUS");
	assert_string_equal(V(docref(note, "docStatus", NULL)), "DOCREF-DOCSTATUS");
	assert_string_equal(V(docref(note, "type", "{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"1\"}]}")), "DOCREF-TYPE");
	assert_string_equal(V(docref(note, "subject", "{\"reference\":\"Patient/pat-002\"}")), "DOCREF-SUBJECT");
	assert_string_equal(V(docref(note, "subject", "{\"reference\":\"https://ehr.example/fhir/Patient/pat-001\"}")), "ok");
	assert_string_equal(V(docref(note, "context", "{\"encounter\":[{\"reference\":\"Encounter/other\"}]}")), "DOCREF-ENCOUNTER");
	assert_string_equal(V(docref(note, "author", NULL)), "DOCREF-AUTHOR");
	assert_string_equal(V(docref(note, "date", "\"2026-11-23\"")), "DOCREF-DATE");
	assert_string_equal(V(docref(note, "att.data", "\"not base64!\"")), "DOCREF-BASE64");
	assert_string_equal(V(docref(note, "att.size", "3")), "DOCREF-SIZE");
	assert_string_equal(V(docref(note, "att.hash", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\"")), "DOCREF-HASH");
	assert_string_equal(V(docref(note, "att.contentType", NULL)), "DOCREF-ATTACHMENT");
	assert_string_equal(V(docref("Discussed with Benedikt Zqellington-Marsh's daughter.", NULL, NULL)), "DOCREF-OTHER-PATIENT");
	assert_string_equal(V(docref(note, "resourceType", "\"Observation\"")), "DOCREF-JSON");
}

static void test_outcome(void **state)
{
	struct fhirgate_result r = {.rules = {"DOCREF-DOCSTATUS", "DOCREF-SUBJECT"}, .n_rules = 2};
	cJSON *oo = fhirgate_outcome(&r, "business-rule");
	char *s = cJSON_PrintUnformatted(oo);

	(void)state;
	assert_string_equal(json_str(oo, "resourceType"), "OperationOutcome");
	assert_int_equal(cJSON_GetArraySize(json_arr(oo, "issue")), 2);
	assert_non_null(strstr(s, "DOCREF-SUBJECT: subject must be the patient"));
	cJSON_free(s);
	cJSON_Delete(oo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_and_writes),
		cmocka_unit_test(test_include_revinclude),
		cmocka_unit_test(test_docref),
		cmocka_unit_test(test_outcome),
	};
	return cmocka_run_group_tests_name("fhirgate", tests, NULL, NULL);
}
