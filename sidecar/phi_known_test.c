/* phi_known_test — the known-patient identifier set: building it from FHIR, matching every
 * surface form, the short/common-word/eponym rules, and wiping. All names are synthetic. */
#include "sidecar/phi.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sidecar/phi_int.h"

#include <cjson/cJSON.h>

static const char PATIENT[] =
	"{\"resourceType\":\"Patient\",\"id\":\"pt4711x\","
	"\"identifier\":[{\"type\":{\"coding\":[{\"code\":\"MR\"}]},\"value\":\"00123456\"},"
	"{\"system\":\"http://hl7.org/fhir/sid/us-ssn\",\"value\":\"123456789\"},"
	"{\"type\":{\"coding\":[{\"code\":\"MB\"}]},\"value\":\"ZKQ987654321\"}],"
	"\"name\":[{\"family\":\"O'Brien-M\\u00fcller\",\"given\":[\"Ren\\u00e9e\",\"Quinn\"]},"
	"{\"use\":\"nickname\",\"given\":[\"Hope\"]}],"
	"\"telecom\":[{\"system\":\"phone\",\"value\":\"(617) 555-0199\"},"
	"{\"system\":\"fax\",\"value\":\"617-555-0142\"},"
	"{\"system\":\"email\",\"value\":\"Renee.OBrien@Example.org\"}],"
	"\"birthDate\":\"1941-03-03\","
	"\"address\":[{\"line\":[\"742 Evergreen Terrace\",\"Apt 4B\"],\"city\":\"Springfield\","
	"\"state\":\"MA\",\"postalCode\":\"01105-1234\"}],"
	"\"contact\":[{\"name\":{\"family\":\"Li\",\"given\":[\"Wei\"]},"
	"\"telecom\":[{\"system\":\"phone\",\"value\":\"413-555-0177\"}]}]}";

static struct phi_engine *eng;
static struct phi_scratch *scr;
static struct phi_context *ctx;
static struct phi_findings F;

static int setup(void **state)
{
	struct phi_config cfg;
	struct err e;

	(void)state;
	phi_config_init(&cfg);
	/* only known findings count in these tests: pattern findings are switched off */
	cfg.types_enabled_mask = 0;
	if (phi_engine_new(&cfg, &eng, &e) < 0)
		return -1;
	scr = phi_scratch_new(eng);
	if (phi_context_from_patient_json(PATIENT, strlen(PATIENT), &ctx, &e) < 0) {
		fprintf(stderr, "context: %s\n", e.msg);
		return -1;
	}
	phi_findings_init(&F, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	phi_findings_fini(&F);
	phi_context_free(ctx);
	phi_scratch_free(scr);
	phi_engine_free(eng);
	return 0;
}

static void scan(const char *body, enum phi_body kind)
{
	struct err e;

	assert_int_equal(phi_scan(eng, scr, ctx, body, strlen(body), kind, &F, &e), 0);
}

/* A known finding of type t covers the first occurrence of `what` (finding may be wider). */
static bool covered(const char *body, const char *what, enum phi_type t)
{
	const char *p = strstr(body, what);
	size_t s, e;

	if (!p)
		return false;
	s = (size_t)(p - body);
	e = s + strlen(what);
	for (size_t i = 0; i < F.n; i++)
		if (F.v[i].start <= s && F.v[i].end >= e && F.v[i].type == t && F.v[i].source == PHI_SRC_KNOWN)
			return true;
	return false;
}

static void expect(const char *body, const char *what, enum phi_type t)
{
	scan(body, PHI_BODY_TEXT);
	if (!covered(body, what, t)) {
		fprintf(stderr, "expected known %s over '%s' in: %s\n", phi_type_name(t), what, body);
		for (size_t i = 0; i < F.n; i++)
			fprintf(stderr, "  got %zu..%zu %s '%.*s'\n", F.v[i].start, F.v[i].end,
				phi_type_name(F.v[i].type), (int)(F.v[i].end - F.v[i].start), body + F.v[i].start);
		fail();
	}
}

static void expect_none(const char *body)
{
	scan(body, PHI_BODY_TEXT);
	if (F.n) {
		fprintf(stderr, "expected nothing in: %s\n", body);
		for (size_t i = 0; i < F.n; i++)
			fprintf(stderr, "  got %zu..%zu %s '%.*s'\n", F.v[i].start, F.v[i].end,
				phi_type_name(F.v[i].type), (int)(F.v[i].end - F.v[i].start), body + F.v[i].start);
		fail();
	}
}

static void test_context_sources(void **state)
{
	static const char *const ok[] = {
		"{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Zed\"}]}}]}",
		"{\"patient\":{\"resourceType\":\"Patient\",\"birthDate\":\"1950-01-02\"}}",
		"{\"hook\":\"patient-view\",\"prefetch\":{\"p\":{\"resourceType\":\"RelatedPerson\",\"name\":[{\"family\":\"Yam\"}]}}}",
		"{\"resourceType\":\"Coverage\",\"subscriberId\":\"ABC123456789\"}",
	};
	struct phi_context *c = NULL;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const unsigned char *pa, *pb;
		struct phi_context *c2 = NULL;
		cJSON *tree = cJSON_Parse(ok[i]);

		assert_int_equal(phi_context_from_patient_json(ok[i], strlen(ok[i]), &c, &e), 0);
		assert_true(phi_context_size(c) > 0);
		/* from the caller's parse tree (the sidecar's ingress): the same identifiers, found
		 * at the same places */
		assert_non_null(tree);
		assert_int_equal(phi_context_from_tree(tree, &c2, &e), 0);
		assert_int_equal(phi_context_size(c), phi_context_size(c2));
		assert_int_equal(phi_context_block(c, &pa), phi_context_block(c2, &pb));
		{
			struct phi_findings f1, f2;
			phi_findings_init(&f1, 0);
			phi_findings_init(&f2, 0);
			assert_int_equal(phi_scan(eng, scr, c, ok[i], strlen(ok[i]), PHI_BODY_JSON, &f1, &e), 0);
			assert_int_equal(phi_scan(eng, scr, c2, ok[i], strlen(ok[i]), PHI_BODY_JSON, &f2, &e), 0);
			assert_true(f1.n > 0);
			assert_int_equal(f1.n, f2.n);
			assert_memory_equal(f1.v, f2.v, f1.n * sizeof(*f1.v));
			phi_findings_fini(&f1);
			phi_findings_fini(&f2);
		}
		cJSON_Delete(tree);
		phi_context_free(c2);
		phi_context_free(c);
	}
	assert_int_equal(phi_context_from_tree(NULL, &c, &e), -ENOENT);
	assert_null(c);
	assert_int_equal(phi_context_from_patient_json("{\"resourceType\":\"Observation\"}", 31, &c, &e), -ENOENT);
	assert_null(c);
	assert_int_equal(phi_context_from_patient_json("{nope", 5, &c, &e), -EINVAL);
	assert_null(c);
	/* the error text never echoes the input */
	assert_null(strstr(e.msg, "nope"));
	phi_context_free(NULL);
}

static void test_names_surface_forms(void **state)
{
	(void)state;
	expect("Pt Renée O'Brien-Müller seen", "Renée O'Brien-Müller", PHI_T_NAME);
	expect("Pt Renee OBrien-Muller seen", "Renee OBrien-Muller", PHI_T_NAME);
	expect("O'BRIEN-MULLER, RENEE", "O'BRIEN-MULLER, RENEE", PHI_T_NAME);
	expect("Muller, Renee Q.", "Muller, Renee", PHI_T_NAME);
	expect("seen by R. Obrien today", "R. Obrien", PHI_T_NAME);
	expect("Renée Q. Müller came", "Renée Q. Müller", PHI_T_NAME);
	expect("Ms. O Brien's daughter", "O Brien", PHI_T_NAME);
	expect("Ms. O\xe2\x80\x99" "Brien called", "O\xe2\x80\x99" "Brien", PHI_T_NAME);
	expect("call renee obrien", "renee obrien", PHI_T_NAME);
	expect("Quinn came alone", "Quinn", PHI_T_NAME);
	expect("Then Müller left", "Müller", PHI_T_NAME);
	expect("Renée's labs", "Renée", PHI_T_NAME);
	expect("Muller's labs", "Muller", PHI_T_NAME);
	/* combining diacritic (NFD) */
	expect("Rene\xcc\x81" "e arrived", "Rene\xcc\x81" "e", PHI_T_NAME);
	/* relatives from Patient.contact: short family name needs its partner or a title */
	expect("daughter Wei Li called", "Wei Li", PHI_T_NAME);
	expect("Mr. LI called", "LI", PHI_T_NAME);
	expect("Li called back", "Li", PHI_T_NAME);
}

static void test_names_json_escapes(void **state)
{
	const char *body = "{\"content\":\"Ren\\u00e9e O\\u2019Brien, and MULLER\"}";

	(void)state;
	scan(body, PHI_BODY_JSON);
	assert_true(covered(body, "Ren\\u00e9e O\\u2019Brien", PHI_T_NAME));
	assert_true(covered(body, "MULLER", PHI_T_NAME));
}

static void test_names_precision_rules(void **state)
{
	(void)state;
	/* "Hope" is a common word: lower-case alone is not the name */
	expect_none("family expresses hope for recovery");
	expect("Hope came in today", "Hope", PHI_T_NAME);
	expect("Contact Hope at home", "Hope", PHI_T_NAME);
	expect_none("Hope for the best.");
	/* two-letter parts: "Li" (title case) alone yes, lithium lab no, lower-case no */
	expect_none("Li 0.8 mEq/L; li; LI");
	/* eponyms: the patient's name followed by an eponym word is a disease, not the patient */
	expect_none("Muller test negative");
	expect("Mr. Muller test negative", "Muller", PHI_T_NAME);
	/* "ms" is a unit, not a title */
	expect_none("QTc 452 ms. Li 0.8");
}

static void test_eponym_patient(void **state)
{
	static const char P2[] = "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Addison\",\"given\":[\"Will\"]}]}";
	struct phi_context *c2;
	struct err e;
	const char *b1 = "History of Addison's disease. Will continue hydrocortisone. May increase dose.";
	const char *b2 = "Will Addison reports fatigue; Mr. Addison's disease is stable. Will reports fatigue.";

	(void)state;
	assert_int_equal(phi_context_from_patient_json(P2, strlen(P2), &c2, &e), 0);
	assert_int_equal(phi_scan(eng, scr, c2, b1, strlen(b1), PHI_BODY_TEXT, &F, &e), 0);
	assert_int_equal(F.n, 0);
	assert_int_equal(phi_scan(eng, scr, c2, b2, strlen(b2), PHI_BODY_TEXT, &F, &e), 0);
	assert_int_equal(F.n, 3);
	assert_int_equal(F.v[0].start, 0);
	assert_int_equal(F.v[0].end, 12);                          /* Will Addison */
	assert_memory_equal(b2 + F.v[1].start, "Addison", 7);     /* after Mr. */
	assert_memory_equal(b2 + F.v[2].start, "Will", 4);        /* Will reports */
	phi_context_free(c2);
}

static void test_birth_date_forms(void **state)
{
	static const char *const forms[] = {"1941-03-03", "03/03/1941", "3/3/41", "03.03.1941",
					    "March 3, 1941", "3 Mar 1941", "Mar 3 1941", "03MAR1941",
					    "1941/03/03", "3rd of March 1941", "03-03-1941", "3-Mar-1941",
					    "March 3", "19410303", "03031941", "030341"};
	char b[96];
	struct phi_config cfg;
	struct phi_engine *e2;
	struct phi_scratch *s2;
	struct err e;

	(void)state;
	/* the birth date is reported (as KNOWN) even when a route allows pattern DATEs */
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		snprintf(b, sizeof(b), "DOB %s.", forms[i]);
		expect(b, forms[i], PHI_T_DATE);
	}
	phi_config_init(&cfg);
	cfg.types_enabled_mask = PHI_TYPES_ALL;
	assert_int_equal(phi_engine_new(&cfg, &e2, &e), 0);
	s2 = phi_scratch_new(e2);
	const char *body = "seen 2024-01-15, born 1941-03-03";
	assert_int_equal(phi_scan(e2, s2, ctx, body, strlen(body), PHI_BODY_TEXT, &F, &e), 0);
	assert_int_equal(F.n, 2);
	assert_int_equal(F.v[0].source, PHI_SRC_PATTERN);
	assert_int_equal(F.v[1].source, PHI_SRC_KNOWN);
	phi_findings_drop(&F, PHI_TYPE_BIT(PHI_T_DATE), 1u << PHI_SRC_PATTERN);
	assert_int_equal(F.n, 1);
	assert_int_equal(F.v[0].source, PHI_SRC_KNOWN);
	phi_scratch_free(s2);
	phi_engine_free(e2);
	expect_none("DOB 1941-03-04 and 1942-03-03 and 19410304");
}

static void test_identifiers(void **state)
{
	(void)state;
	expect("MRN 00123456", "00123456", PHI_T_MRN);
	expect("MRN: 123456.", "123456", PHI_T_MRN);
	expect("MRN00123456", "00123456", PHI_T_MRN);
	expect("mrn 0012-3456", "0012-3456", PHI_T_MRN);
	expect("ssn 123-45-6789", "123-45-6789", PHI_T_SSN);
	expect("ssn 123 45 6789", "123 45 6789", PHI_T_SSN);
	expect("member ZKQ987654321", "ZKQ987654321", PHI_T_MEMBER_ID);
	expect("member zkq-987-654-321", "zkq-987-654-321", PHI_T_MEMBER_ID);
	expect("Patient/pt4711x", "pt4711x", PHI_T_IDENTIFIER);
	/* a longer number that starts with the MRN is a different number */
	expect_none("code 1234567 and 0123456789 and 12345");
	scan("{\"ssn\":123456789}", PHI_BODY_JSON);
	assert_int_equal(F.n, 1);
	assert_int_equal(F.v[0].type, PHI_T_SSN);
	assert_int_equal(F.v[0].where, PHI_IN_NUMBER);
}

static void test_phones_emails(void **state)
{
	(void)state;
	expect("call 617-555-0199", "617-555-0199", PHI_T_PHONE);
	expect("call (617) 555-0199", "617) 555-0199", PHI_T_PHONE);
	expect("call +1 617 555 0199", "617 555 0199", PHI_T_PHONE);
	expect("call 617.555.0199", "617.555.0199", PHI_T_PHONE);
	expect("call 6175550199", "6175550199", PHI_T_PHONE);
	expect("call 555-0199 after", "555-0199", PHI_T_PHONE);
	expect("fax 617 555 0142", "617 555 0142", PHI_T_FAX);
	expect("daughter at 413-555-0177", "413-555-0177", PHI_T_PHONE);
	expect_none("value 5550199 and 16175550199999");
	scan("mail RENEE.OBRIEN@EXAMPLE.ORG or renee.obrien[at]example[dot]org", PHI_BODY_TEXT);
	assert_int_equal(F.n >= 2, 1);
	size_t emails = 0;
	for (size_t i = 0; i < F.n; i++)
		emails += F.v[i].type == PHI_T_EMAIL && F.v[i].source == PHI_SRC_KNOWN;
	assert_int_equal(emails, 2);
}

static void test_address(void **state)
{
	(void)state;
	expect("lives at 742 Evergreen Terrace, Apt 4B", "742 Evergreen Terrace", PHI_T_ADDRESS);
	expect("lives at 742 Evergreen Terrace, Apt 4B", "Apt 4B", PHI_T_ADDRESS);
	expect("lives at 742 Evergreen Ter.", "742 Evergreen Ter", PHI_T_ADDRESS);
	expect("742 EVERGREEN TERRACE", "742 EVERGREEN TERRACE", PHI_T_ADDRESS);
	expect("on Evergreen Terrace", "Evergreen Terrace", PHI_T_ADDRESS);
	expect("in Springfield, MA", "Springfield", PHI_T_CITY);
	expect("zip 01105", "01105", PHI_T_ZIP);
	expect("zip 01105-1234", "01105-1234", PHI_T_ZIP);
	expect_none("742 mg; Evergreen alone; terrace; 1105; 011051");
}

/* Cues found by the independent corpus: a common-word given name is the patient's where a
 * person is introduced, is the subject of a clinical sentence, or carries the family initial;
 * a modal "May need" is not; a common-word city needs a place cue; a letters-only logical id. */
static void test_name_and_city_cues(void **state)
{
	static const char pat[] =
		"{\"resourceType\":\"Patient\",\"id\":\"eZsrtZZWERrRviMCzhQZEeFe\","
		"\"name\":[{\"family\":\"Kowalczyk\",\"given\":[\"May\"]}],"
		"\"address\":[{\"city\":\"Normal\",\"state\":\"IL\"}]}";
	struct phi_context *saved = ctx, *c2 = NULL;
	struct err e;

	(void)state;
	/* Hope is the nickname of the default test patient (family O'Brien-Mueller) */
	expect("Caller: Hope O. (self), call back", "Hope", PHI_T_NAME);
	expect("hi, this is hope, my dob is", "hope", PHI_T_NAME);
	expect("Hope resting in Rm 12, A&Ox3", "Hope", PHI_T_NAME);
	expect_none("Hope to wean oxygen; Hope K. is someone else");
	assert_int_equal(phi_context_from_patient_json(pat, strlen(pat), &c2, &e), 0);
	ctx = c2;
	expect_none("# Gout: May need to titrate allopurinol. Will follow up.");
	expect("May Kowalczyk seen today", "May Kowalczyk", PHI_T_NAME);
	expect("this is may, my birthday is", "may", PHI_T_NAME);
	/* a sign-off: the last word of its line, a thanks or an apology shortly before */
	expect("my appt is on August 16th thx may", "may", PHI_T_NAME);
	expect("can you call me back thank you so much may\nnext line", "may", PHI_T_NAME);
	expect("refill please, sorry for the long message, may!", "may", PHI_T_NAME);
	scan("{\"content\":\"my appt is on 3/25 thx may\"}", PHI_BODY_JSON);
	assert_true(covered("{\"content\":\"my appt is on 3/25 thx may\"}", "may", PHI_T_NAME));
	scan("msg=question+about+refill+thx+may&max_tokens=128", PHI_BODY_FORM);
	assert_true(covered("msg=question+about+refill+thx+may&max_tokens=128", "may", PHI_T_NAME));
	expect("st. louis last month my niece may, cell 701-593-0172 can drive", "may", PHI_T_NAME);
	expect_none("thx, may I ask about the refill");
	expect_none("my appt is in may");
	expect_none("thanks for seeing me in clinic on the first of may, really");
	expect_none("{\"code\":\"N\",\"display\":\"Normal\"} Normal saline");
	expect("we moved to normal last month", "normal", PHI_T_CITY);
	expect("lives in Normal, IL", "Normal", PHI_T_CITY);
	expect("PID|1||x||||||||12 Oak St^^NORMAL^IL^61761", "NORMAL", PHI_T_CITY);
	expect("{\"reference\":\"Patient/eZsrtZZWERrRviMCzhQZEeFe\"}", "eZsrtZZWERrRviMCzhQZEeFe", PHI_T_IDENTIFIER);
	ctx = saved;
	phi_context_free(c2);
}

/* A common-word given name with the family name's initial, when the family name starts with a
 * particle: the particle's initial ("Will A." for Al-Rashid, "Bill d." for de Vries) or the
 * main part's (found missing by the independent corpus, seeds 11, 13 and 14). */
static void test_family_initial_particles(void **state)
{
	static const char ar[] = "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Al-Rashid\",\"given\":[\"Will\"]}]}";
	static const char dv[] = "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"de Vries\",\"given\":[\"Bill\",\"Robert\"]}]}";
	struct phi_context *saved = ctx, *c2 = NULL;
	struct err e;

	(void)state;
	assert_int_equal(phi_context_from_patient_json(ar, strlen(ar), &c2, &e), 0);
	ctx = c2;
	expect("RE: Will A.\nDOB: Jun 26, 1978", "Will", PHI_T_NAME);
	expect("RE: Will R.\nDOB", "Will", PHI_T_NAME);
	expect_none("RE: Will K.\nWill follow up.");
	phi_context_free(c2);
	assert_int_equal(phi_context_from_patient_json(dv, strlen(dv), &c2, &e), 0);
	ctx = c2;
	expect("hyperlipidemia (E78.5): Bill d., 28-year-old man", "Bill", PHI_T_NAME);
	expect("RE: Bill V.\n", "Bill", PHI_T_NAME);
	ctx = saved;
	phi_context_free(c2);
}

/* A logical id whose first groups hold no digit: the digit pass meets "de47" (a token that
 * starts with a letter) or "47ab" first, and walks back over the letters-only groups before
 * it (found missing by the independent corpus, seed 12). */
static void test_hex_logical_ids(void **state)
{
	static const char *const ids[] = {"fdbabddc-de47-47ab-939c-17e14c336250", "abcdefab-cdef-47ab-939c-17e14c336250",
					  "abcdefab-cdef-abcd-ef12-17e14c336250", "fdbabddc-1e47-47ab-939c-17e14c336250"};
	struct phi_context *saved = ctx;
	struct err e;
	char pat[256], body[256];

	(void)state;
	for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
		struct phi_context *c2 = NULL;
		snprintf(pat, sizeof(pat), "{\"resourceType\":\"Patient\",\"id\":\"%s\"}", ids[k]);
		assert_int_equal(phi_context_from_patient_json(pat, strlen(pat), &c2, &e), 0);
		ctx = c2;
		snprintf(body, sizeof(body), "{\"subject\":{\"reference\":\"Patient/%s\"}}", ids[k]);
		expect(body, ids[k], PHI_T_IDENTIFIER);
		snprintf(body, sizeof(body), "launch?patient=%s&x=1", ids[k]);
		expect(body, ids[k], PHI_T_IDENTIFIER);
		snprintf(body, sizeof(body), "id %s", ids[k]);
		body[strlen(body) - 1] ^= 1; /* another id differing in its last digit */
		expect_none(body);
		snprintf(body, sizeof(body), "id x%s", ids[k]); /* a longer token is another id */
		expect_none(body);
		ctx = saved;
		phi_context_free(c2);
	}
}

static void test_context_wiped(void **state)
{
	static const char P3[] = "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Zqxjkvwp\"}],"
				 "\"identifier\":[{\"value\":\"77665544\"}]}";
	struct phi_context *c3;
	struct err e;
	const unsigned char *p;
	size_t n, nz = 0;

	(void)state;
	assert_int_equal(phi_context_from_patient_json(P3, strlen(P3), &c3, &e), 0);
	n = phi_context_block(c3, &p);
	assert_true(n > 0);
	assert_non_null(memmem(p, n, "zqxjkvwp", 8));
	assert_non_null(memmem(p, n, "77665544", 8));
	phi_context_wipe(c3);
	for (size_t i = 0; i < n; i++)
		nz += p[i] != 0;
	assert_int_equal(nz, 0);
	phi_context_free(c3);
}

static void test_fold(void **state)
{
	char b[64];
	size_t n;

	(void)state;
	n = phi_fold("O'Brien-Müller", strlen("O'Brien-Müller"), b, sizeof(b));
	assert_int_equal(n, 13);
	assert_memory_equal(b, "obrien-muller", 13);
	n = phi_fold("Nguy\xe1\xbb\x85n \xc5\x81ukasz Stra\xc3\x9f" "e", strlen("Nguy\xe1\xbb\x85n \xc5\x81ukasz Stra\xc3\x9f" "e"), b,
		     sizeof(b));
	assert_memory_equal(b, "nguyen lukasz strasse", n);
	assert_int_equal(phi_fold("abcdef", 6, b, 3), (size_t)-1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_context_sources),
		cmocka_unit_test(test_names_surface_forms),
		cmocka_unit_test(test_names_json_escapes),
		cmocka_unit_test(test_names_precision_rules),
		cmocka_unit_test(test_eponym_patient),
		cmocka_unit_test(test_birth_date_forms),
		cmocka_unit_test(test_identifiers),
		cmocka_unit_test(test_phones_emails),
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_name_and_city_cues),
		cmocka_unit_test(test_hex_logical_ids),
		cmocka_unit_test(test_family_initial_particles),
		cmocka_unit_test(test_context_wiped),
		cmocka_unit_test(test_fold),
	};
	return cmocka_run_group_tests_name("phi_known", tests, setup, teardown);
}
