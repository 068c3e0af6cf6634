/* phi_test — the PHI scanner's patterns, validators, JSON/form decoding, offsets, redaction. */
#include "lib/policy.h"
#include "sidecar/phi.h"

#include <errno.h>
#include <hs/hs.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/b64.h"
#include "lib/json.h"
#include "sidecar/phi_int.h"

static struct phi_engine *eng;
static struct phi_scratch *scr;
static struct phi_findings F;

static int setup(void **state)
{
	static const char *const mrn[] = {"MRN[0-9]{8}"};
	static const char *const member[] = {"[A-Z]{3}[0-9]{9}"};
	static const char *const urls[] = {"https://cds.demo.example/"};
	struct phi_config cfg;
	struct err e;

	(void)state;
	phi_config_init(&cfg);
	cfg.mrn_patterns = mrn;
	cfg.n_mrn = 1;
	cfg.member_id_patterns = member;
	cfg.n_member = 1;
	cfg.url_allow_prefixes = urls;
	cfg.n_url_allow = 1;
	if (phi_engine_new(&cfg, &eng, &e) < 0) {
		fprintf(stderr, "engine: %s\n", e.msg);
		return -1;
	}
	scr = phi_scratch_new(eng);
	phi_findings_init(&F, 0);
	return scr ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	phi_findings_fini(&F);
	phi_scratch_free(scr);
	phi_engine_free(eng);
	return 0;
}

static void scan_kind(const char *body, enum phi_body kind)
{
	struct err e;

	assert_int_equal(phi_scan(eng, scr, NULL, body, strlen(body), kind, &F, &e), 0);
}

static void scan(const char *body)
{
	scan_kind(body, PHI_BODY_TEXT);
}

/* Is there a finding of type t covering exactly the first occurrence of `what` in body? */
static bool has_exact(const char *body, const char *what, enum phi_type t)
{
	const char *p = strstr(body, what);
	size_t s, e;

	if (!p)
		return false;
	s = (size_t)(p - body);
	e = s + strlen(what);
	for (size_t i = 0; i < F.n; i++)
		if (F.v[i].start == s && F.v[i].end == e && F.v[i].type == t)
			return true;
	return false;
}

static void expect(const char *body, const char *what, enum phi_type t)
{
	scan(body);
	if (!has_exact(body, what, t)) {
		fprintf(stderr, "expected %s over '%s' in: %s\n", phi_type_name(t), what, body);
		for (size_t i = 0; i < F.n; i++)
			fprintf(stderr, "  got %zu..%zu %s\n", F.v[i].start, F.v[i].end, phi_type_name(F.v[i].type));
		fail();
	}
}

static void expect_none(const char *body)
{
	scan(body);
	if (F.n) {
		fprintf(stderr, "expected no finding in: %s\n", body);
		for (size_t i = 0; i < F.n; i++)
			fprintf(stderr, "  got %zu..%zu %s '%.*s'\n", F.v[i].start, F.v[i].end,
				phi_type_name(F.v[i].type), (int)(F.v[i].end - F.v[i].start), body + F.v[i].start);
		fail();
	}
}

static void test_ssn(void **state)
{
	(void)state;
	expect("SSN 123-45-6789 on file", "123-45-6789", PHI_T_SSN);
	expect("ssn 123 45 6789.", "123 45 6789", PHI_T_SSN);
	expect("Social Security: 123456789", "123456789", PHI_T_SSN);
	assert_true(phi_ssn_valid(123, 45, 6789));
	assert_false(phi_ssn_valid(0, 45, 6789));
	assert_false(phi_ssn_valid(666, 45, 6789));
	assert_false(phi_ssn_valid(900, 45, 6789));
	assert_false(phi_ssn_valid(123, 0, 6789));
	assert_false(phi_ssn_valid(123, 45, 0));
	expect_none("000-12-3456 666-12-3456 901-12-3456 123-00-4567 123-45-0000");
	expect_none("code 123456789 was entered");   /* bare 9 digits need context */
	expect_none("id 123-45-6789-1 and 1123-45-6789");
	expect_none("counts 1 123 45 6789 2");
}

static void test_phone(void **state)
{
	(void)state;
	expect("call (617) 555-0123 today", "(617) 555-0123", PHI_T_PHONE);
	expect("617-555-0123", "617-555-0123", PHI_T_PHONE);
	expect("at 617.555.0123.", "617.555.0123", PHI_T_PHONE);
	expect("dial +1 617 555 0123", "+1 617 555 0123", PHI_T_PHONE);
	expect("dial 1-617-555-0123", "1-617-555-0123", PHI_T_PHONE);
	expect("phone: 6175550123", "6175550123", PHI_T_PHONE);
	expect("Fax: 617-555-0123", "617-555-0123", PHI_T_FAX);
	expect("call 555-0123 after 5", "555-0123", PHI_T_PHONE);
	assert_true(phi_nanp_valid("6175550123"));
	assert_false(phi_nanp_valid("1235550123"));  /* area code starts with 1 */
	assert_false(phi_nanp_valid("9115550123"));  /* N11 area */
	assert_false(phi_nanp_valid("6171110123"));  /* N11 exchange */
	expect_none("123-456-7890 211-555-0123 617-011-0123");
	expect_none("order 6175550123 placed");  /* 10 digits without a phone word */
	expect_none("NDC 0002-3227-30 and 50090-2875-0");
	expect_none("range 555-0123 units");     /* 7 digits need a phone word */
	/* the cue is a whole word: not "cell" in "cells" or "excellent", not "call" in "recall" */
	expect_none("cells 6175550123 counted; excellent 555-0123; recall 6175550123");
	expect("Telephone: 6175550123", "6175550123", PHI_T_PHONE);
	expect("she called 6175550123 twice", "6175550123", PHI_T_PHONE);
}

static void test_email(void **state)
{
	(void)state;
	expect("mail jane.doe@example.com now", "jane.doe@example.com", PHI_T_EMAIL);
	expect("JANE.DOE@EXAMPLE.COM", "JANE.DOE@EXAMPLE.COM", PHI_T_EMAIL);
	expect("write jane.doe[at]example[dot]com", "jane.doe[at]example[dot]com", PHI_T_EMAIL);
	expect("write jane(at)example.org", "jane(at)example.org", PHI_T_EMAIL);
	expect("reach jane.doe at example dot com please", "jane.doe at example dot com", PHI_T_EMAIL);
	expect("or jdoe @ example.net", "jdoe @ example.net", PHI_T_EMAIL);
	expect_none("meet at noon; seen at home. Dot the i");
	expect_none("x@y and @mention and a@b.c1");
	expect_none("patient at 10.30 was fine");
}

static void test_url(void **state)
{
	(void)state;
	expect("see https://www.facebook.com/jane.doe41.", "https://www.facebook.com/jane.doe41", PHI_T_URL);
	expect("blog http://doe-family.example.net/blog/2021 ok", "http://doe-family.example.net/blog/2021", PHI_T_URL);
	expect("www.example.org/~jdoe", "www.example.org/~jdoe", PHI_T_URL);
	expect("http://loinc.org.evil.example/x", "http://loinc.org.evil.example/x", PHI_T_URL);
	expect_none("http://loinc.org http://snomed.info/sct https://hl7.org/fhir/StructureDefinition/x "
		    "http://www.nlm.nih.gov/research/umls/rxnorm http://hl7.org/fhir/sid/icd-10-cm "
		    "http://terminology.hl7.org/CodeSystem/v2-0203 urn:oid:2.16.840.1.113883.6.1 "
		    "urn:uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301 http://unitsofmeasure.org "
		    "https://cds.demo.example/sepsis/about");
	assert_true(phi_url_allowed("http://loinc.org", 16, NULL));
	assert_true(phi_url_allowed("HTTPS://LOINC.ORG/", 18, NULL));
	assert_false(phi_url_allowed("http://loinc.organ.example", 26, NULL));
	/* public-sector hosts and DOI paths are documents, not people; look-alikes are not */
	expect_none("https://www.cdc.gov/vaccines/schedule.html https://health.ny.gov/x "
		    "https://www.ahajournals.org/doi/10.1161/CIR.0000000000001063 https://doi.org/10.1000/182");
	expect("see https://cdc.gov.evil.example/x", "https://cdc.gov.evil.example/x", PHI_T_URL);
	expect("see https://example.com/gov/doi/x", "https://example.com/gov/doi/x", PHI_T_URL);
	/* a site's own list (phi.url_allow) */
	{
		const char *const extra[] = {"kdigo.org/guidelines", NULL};
		assert_true(phi_url_allowed("https://kdigo.org/guidelines/ckd", 33, extra));
		assert_false(phi_url_allowed("https://kdigo.org/members/jdoe", 30, extra));
	}
}

static void test_ip(void **state)
{
	(void)state;
	expect("from 10.0.0.1 at", "10.0.0.1", PHI_T_IP);
	expect("host 192.168.1.254.", "192.168.1.254", PHI_T_IP);
	expect("v6 2001:db8::8a2e:370:7334 ok", "2001:db8::8a2e:370:7334", PHI_T_IP);
	expect("v6 fe80::1ff:fe23:4567:890a", "fe80::1ff:fe23:4567:890a", PHI_T_IP);
	expect_none("at 10:30:00, OID 2.16.840.1.113883.6.1, 1.2.3.4.5, version 3.2.1.4, 256.1.1.1");
	expect_none("E11.9 98.6 12.5 mg 1:100 3:1");
}

static void test_dates(void **state)
{
	static const char *const pos[] = {"1941-03-03", "03/03/1941", "3/3/41", "03.03.1941", "March 3, 1941",
					  "3 Mar 1941", "Mar 3 1941", "03MAR1941", "1941/03/03", "3rd of March 1941",
					  "03-03-1941", "3-Mar-1941", "March 3", "Mar 1941", "Sept. 14, 2021"};
	char b[128];

	(void)state;
	for (size_t i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		snprintf(b, sizeof(b), "seen %s today", pos[i]);
		expect(b, pos[i], PHI_T_DATE);
	}
	expect("at 2024-01-15T10:30:00.123-05:00 ok", "2024-01-15T10:30:00.123-05:00", PHI_T_DATE);
	expect("{\"effectiveDateTime\":\"2024-01-15T10:30:00Z\"}", "2024-01-15T10:30:00Z", PHI_T_DATE);
	/* year alone, month/day in numeric form without year, scores, fractions, versions */
	expect_none("in 1998, since 2015, pain 5/10, BP 120/80, 1/2 tab, 2023-24 season");
	expect_none("model gpt-4o-2024-08-06 and claude-3-5-sonnet-20241022");
	expect_none("13/13/2020 02/30/2020 2019-13-01 12.5 mg 2.16.840");
	expect_none("you may increase it, may 3 times, mar 5");
	/* FHIR partial date: a whole JSON string only */
	scan_kind("{\"birthDate\":\"1941-03\"}", PHI_BODY_JSON);
	assert_int_equal(F.n, 1);
	assert_int_equal(F.v[0].type, PHI_T_DATE);
	expect_none("range 2019-12 in text");
}

static void test_date_exempt_and_allow(void **state)
{
	static const char *const keys[] = {"lastUpdated"};
	struct phi_config cfg;
	struct phi_engine *e2;
	struct phi_scratch *s2;
	struct err e;
	const char *body = "{\"meta\":{\"lastUpdated\":\"2024-01-15T10:30:00Z\"},\"issued\":\"2024-01-16\"}";

	(void)state;
	phi_config_init(&cfg);
	cfg.date_exempt_keys = keys;
	cfg.n_date_exempt = 1;
	assert_int_equal(phi_engine_new(&cfg, &e2, &e), 0);
	s2 = phi_scratch_new(e2);
	assert_int_equal(phi_scan(e2, s2, NULL, body, strlen(body), PHI_BODY_JSON, &F, &e), 0);
	assert_int_equal(F.n, 1); /* "issued" is still a date */
	assert_true(has_exact(body, "2024-01-16", PHI_T_DATE));
	phi_findings_drop(&F, PHI_TYPE_BIT(PHI_T_DATE), 1u << PHI_SRC_PATTERN);
	assert_int_equal(F.n, 0);
	phi_scratch_free(s2);
	phi_engine_free(e2);
}

static void test_zip(void **state)
{
	(void)state;
	expect("Boston, MA 02134.", "02134", PHI_T_ZIP);
	expect("Springfield, Massachusetts 01105", "01105", PHI_T_ZIP);
	expect("zip code 02134", "02134", PHI_T_ZIP);
	expect("{\"postalCode\":\"02134\"}", "02134", PHI_T_ZIP);
	expect("to 02134-1234 now", "02134-1234", PHI_T_ZIP);
	expect_none("CK 12345 U/L; 12345 alone; NDC 12345-6789-01; 12345.6");
}

static void test_age(void **state)
{
	(void)state;
	expect("a 92-year-old woman", "92", PHI_T_AGE);
	expect("age 93 at admission", "93", PHI_T_AGE);
	expect("aged 95 years", "95", PHI_T_AGE);
	expect("93 y/o male", "93", PHI_T_AGE);
	expect("95yo", "95", PHI_T_AGE);
	expect("96 years old", "96", PHI_T_AGE);
	expect("97 years of age", "97", PHI_T_AGE);
	scan_kind("{\"age\": 98}", PHI_BODY_JSON);
	assert_int_equal(F.n, 1);
	assert_int_equal(F.v[0].type, PHI_T_AGE);
	assert_int_equal(F.v[0].where, PHI_IN_NUMBER);
	expect_none("an 89-year-old, age 45, age 95 days, 90 mg, 95% of 100, age 99.5 percentile");
}

static void test_mbi_vin(void **state)
{
	(void)state;
	expect("MBI 1EG4-TE5-MK73 on file", "1EG4-TE5-MK73", PHI_T_MBI);
	expect("MBI 1EG4TE5MK73", "1EG4TE5MK73", PHI_T_MBI);
	assert_true(phi_mbi_valid("1EG4TE5MK73", 11));
	assert_false(phi_mbi_valid("1SG4TE5MK73", 11)); /* S is never used */
	assert_false(phi_mbi_valid("0EG4TE5MK73", 11)); /* position 1 is 1-9 */
	assert_false(phi_mbi_valid("1EG4TE5MK7", 10));
	expect_none("1EG4-TE5MK73 and 1eg4te5mk73");
	expect("VIN 1HGCM82633A004352 seen", "1HGCM82633A004352", PHI_T_VIN);
	assert_true(phi_vin_valid("1HGCM82633A004352", 17));
	assert_false(phi_vin_valid("1HGCM82643A004352", 17)); /* wrong check digit */
	assert_false(phi_vin_valid("11111111111111111", 17)); /* digits only */
	expect_none("1HGCM82643A004352 10000001000001104");
}

static void test_site_patterns(void **state)
{
	static const char *const bad[] = {"MRN[0-9"};
	struct phi_config cfg;
	struct phi_engine *e2 = NULL;
	struct err e;

	(void)state;
	expect("record MRN12345678.", "MRN12345678", PHI_T_MRN);
	expect("member XYZ123456789", "XYZ123456789", PHI_T_MEMBER_ID);
	expect_none("XMRN12345678 MRN1234567890 WXYZ123456789");
	/* anchors are refused: a site format is searched anywhere in a body */
	{
		static const char *const anchored[] = {"^[0-9]{8}$"};
		phi_config_init(&cfg);
		cfg.member_id_patterns = anchored;
		cfg.n_member = 1;
		assert_int_equal(phi_engine_new(&cfg, &e2, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "member_id_patterns[0]"));
	}
	phi_config_init(&cfg);
	cfg.mrn_patterns = bad;
	cfg.n_mrn = 1;
	assert_int_equal(phi_engine_new(&cfg, &e2, &e), -EINVAL);
	assert_null(e2);
	assert_non_null(strstr(e.msg, "mrn_patterns[0]"));
}

static struct phi_engine *site_engine(const char *const *mrn, size_t n_mrn, bool no_windows)
{
	struct phi_config cfg;
	struct phi_engine *en = NULL;
	struct err e;

	phi_config_init(&cfg);
	cfg.mrn_patterns = mrn;
	cfg.n_mrn = n_mrn;
	cfg.no_site_windows = no_windows;
	if (phi_engine_new(&cfg, &en, &e) < 0)
		fail_msg("engine: %s", e.msg);
	return en;
}

static bool same_findings(const struct phi_findings *a, const struct phi_findings *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].start != b->v[i].start || a->v[i].end != b->v[i].end || a->v[i].type != b->v[i].type ||
		    a->v[i].source != b->v[i].source)
			return false;
	return true;
}

/* Site patterns with a proved digit run are scanned only in windows around long digit runs
 * (phi.c site_scan, lib/hsre.c). The findings must be those of a scan of the whole text:
 * fixed cases at window edges, then random texts over an alphabet that makes near-misses. */
static void test_site_windows(void **state)
{
	static const char *const mrn[] = {"MRN[: ]{0,2}[0-9]{8}", "[A-Z]{3}[0-9]{9}", "\\bID-?\\d{6,8}\\b",
					  "[0-9]{4}-[0-9]{4}-[0-9]{2}", "X[0-9]{2}[A-Z]?[0-9]{6}", "[0-9]{5}.{0,3}[0-9]{5}",
					  "\\bMEMBER[A-Z]{2}[0-9]{6}\\b"};
	static const char *const fixed[] = {
		"MRN12345678", "xMRN12345678", "MRN 12345678 and MRN:87654321", "ABC123456789", "ABCD123456789",
		"ID-1234567 ID12345678 ID-123456789 aID-1234567", "1234-5678-90 12345-5678-90", "X12A345678 X12345678",
		"12345abc12345 12345..12345 12345....12345", "MRN1234567 MRN123456789", "ABC12345678901234567890",
		"ÄBC123456789 é MRN12345678é", "12345678", "", "MEMBERAB123456", "xMEMBERAB123456 MEMBERAB1234567",
		"MEMBERAB123456", "123456 MEMBERAB123456",
	};
	struct phi_engine *ew = site_engine(mrn, sizeof(mrn) / sizeof(mrn[0]), false);
	struct phi_engine *ef = site_engine(mrn, sizeof(mrn) / sizeof(mrn[0]), true);
	struct phi_scratch *sw = phi_scratch_new(ew), *sf = phi_scratch_new(ef);
	struct phi_findings a, b;
	struct err e;
	char text[600];
	unsigned seed = 12345;
	size_t hits = 0;

	(void)state;
	phi_findings_init(&a, 0);
	phi_findings_init(&b, 0);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		assert_int_equal(phi_scan(ew, sw, NULL, fixed[i], strlen(fixed[i]), PHI_BODY_TEXT, &a, &e), 0);
		assert_int_equal(phi_scan(ef, sf, NULL, fixed[i], strlen(fixed[i]), PHI_BODY_TEXT, &b, &e), 0);
		if (!same_findings(&a, &b))
			fail_msg("windowed site scan differs on \"%s\" (%zu vs %zu findings)", fixed[i], a.n, b.n);
	}
	for (int round = 0; round < 3000; round++) {
		static const char alpha[] = "0123456789012345678901234567890123456789ABCXIDMRNEMB- :.\n_a";
		size_t len = 1 + (size_t)(rand_r(&seed) % (sizeof(text) - 1));
		for (size_t i = 0; i < len; i++)
			text[i] = alpha[rand_r(&seed) % (sizeof(alpha) - 1)];
		assert_int_equal(phi_scan(ew, sw, NULL, text, len, PHI_BODY_TEXT, &a, &e), 0);
		assert_int_equal(phi_scan(ef, sf, NULL, text, len, PHI_BODY_TEXT, &b, &e), 0);
		if (!same_findings(&a, &b))
			fail_msg("windowed site scan differs on random text %d (%zu vs %zu findings): %.*s", round, a.n,
				 b.n, (int)len, text);
		for (size_t i = 0; i < a.n; i++)
			hits += a.v[i].type == PHI_T_MRN;
	}
	if (hits < 500) /* the texts must exercise the site patterns */
		fail_msg("only %zu site findings in the random texts", hits);
	phi_findings_fini(&a);
	phi_findings_fini(&b);
	phi_scratch_free(sw);
	phi_scratch_free(sf);
	phi_engine_free(ew);
	phi_engine_free(ef);
}

static int collect_hit(void *arg, const struct phi_hit *h)
{
	struct phi_hits *v = arg;

	return phi_hits_push(v, h->s, h->e, (enum phi_type)h->type, (enum phi_source)h->source) < 0;
}

static int cmp_hit(const void *a, const void *b)
{
	const struct phi_hit *x = a, *y = b;

	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	if (x->e != y->e)
		return x->e < y->e ? -1 : 1;
	return (int)x->type - (int)y->type;
}

/* Random digit groups, separators and pieces shaped like identifiers or their cue words, in
 * out (cap >= 64); every other text a JSON array whose strings the '_' separators split (a
 * FHIR "YYYY-MM" counts only as a whole string). Returns the length and sets *kind. */
static size_t gen_shape_text(unsigned *seed, char *out, size_t cap, enum phi_body *kind)
{
	static const char *const pieces[] = {"617-555-0###", "(617) 555-01##", "1-617-555-01##", "617.555.0###",
					     "123-45-6###", "2024-0#-1#", "1/2/2#", "12/3#/1999", "0#.1#.2023",
					     "192.168.#.#", "0213#-12##", "0213#", "##:##", "#.#", "1##/8#", "2024-0#",
					     "0#/20##", "1#/19##", " dob ", " phone: ", " ssn ", " dated ", " fax ",
					     " zip ", " since "};
	static const char seps[] = "-./: )(_+-./ \n";
	bool json = rand_r(seed) & 1;
	size_t want = 1 + (size_t)rand_r(seed) % (cap - 40), len = 0;

	*kind = json ? PHI_BODY_JSON : PHI_BODY_TEXT;
	if (json) {
		out[len++] = '[';
		out[len++] = '"';
	}
	while (len < want) {
		unsigned r = (unsigned)rand_r(seed);
		if (r & 0x100) {
			for (size_t g = 1 + (r >> 9) % 5; g > 0; g--)
				out[len++] = (char)('0' + rand_r(seed) % 10);
		} else {
			for (const char *c = pieces[r % (sizeof(pieces) / sizeof(pieces[0]))]; *c; c++)
				out[len++] = *c == '#' ? (char)('0' + rand_r(seed) % 10) : *c;
		}
		if (r & 0x200) {
			char c = seps[(r >> 12) % (sizeof(seps) - 1)];
			if (json && c == '_') {
				memcpy(out + len, "\",\"", 3);
				len += 3;
			} else {
				out[len++] = json && c == '\n' ? ' ' : c;
			}
		}
	}
	if (json) {
		out[len++] = '"';
		out[len++] = ']';
	}
	return len;
}

/* The token pass calls the shape cutter only where a window can start (phi_known.c
 * shape_may_start); phi_shape_scan cuts every run of digit groups. Both must confirm the same
 * identifiers. */
static void test_shape_prefilter(void **state)
{
	static const char *const fixed[] = {
		"10:30-12345", "12:30-45-6789", "1.5 and 123-45-6789", "3.14.15.92", "1.2.3.4", "12.25",
		"1/2/24 1:2/3/2024", "(617) 555-0123", "1 (617) 555-0123", "617.555.0123:12", "02139-1234",
		"10:30:00 2024-01-05", "dated 7/2024", "12/2024/5", "1-617-555-0123", "123-4567", "[\"2024-01\"]",
	};
	struct phi_dec d;
	struct phi_hits a = {0}, b = {0};
	char text[320];
	unsigned seed = 4242;
	size_t total = 0;

	(void)state;
	memset(&d, 0, sizeof(d));
	a.max = b.max = 1u << 20;
	for (int round = 0; round < 20000; round++) {
		enum phi_body kind = PHI_BODY_TEXT;
		size_t len;
		if (round < (int)(sizeof(fixed) / sizeof(fixed[0]))) {
			len = strlen(fixed[round]);
			memcpy(text, fixed[round], len);
			kind = text[0] == '[' ? PHI_BODY_JSON : PHI_BODY_TEXT;
		} else {
			len = gen_shape_text(&seed, text, 280, &kind);
		}
		assert_int_equal(phi_decode(&d, text, len, kind), 0);
		phi_dec_bitmaps(&d);
		struct phi_vctx vc = {.d = &d};
		a.n = b.n = 0;
		assert_int_equal(phi_shape_scan(&vc, collect_hit, &a), 0);
		assert_int_equal(phi_token_scan(NULL, &vc, collect_hit, &b, NULL), 0);
		if (a.n > 1)
			qsort(a.v, a.n, sizeof(*a.v), cmp_hit);
		if (b.n > 1)
			qsort(b.v, b.n, sizeof(*b.v), cmp_hit);
		bool same = a.n == b.n;
		for (size_t i = 0; same && i < a.n; i++)
			same = cmp_hit(&a.v[i], &b.v[i]) == 0 && a.v[i].source == b.v[i].source;
		if (!same)
			fail_msg("token pass and shape scan differ (%zu vs %zu hits) on: %.*s", b.n, a.n, (int)len, text);
		total += a.n;
	}
	if (total < 5000) /* the texts must exercise the shapes */
		fail_msg("only %zu shape hits in the random texts", total);
	free(a.v);
	free(b.v);
	phi_dec_fini(&d);
}

/* Vectorscan 5.4.9 (Debian 12) misses some matches that end near the end of a buffer,
 * depending on its length (phi_int.h PHI_DEC_PAD): these were missed at the end of a body
 * after 63..200 bytes of other text before the scanner padded its buffers. */
static void test_vectorscan_buffer_end(void **state)
{
	static const struct {
		const char *tail, *what;
		enum phi_type t;
	} cases[] = {
		{" sent from IP 2600:3039:79b2:d068::682f.", "2600:3039:79b2:d068::682f", PHI_T_IP},
		{" seen with Mrs. Alvarez", "Alvarez", PHI_T_NAME},
		{" lives at 12 Birch Street", "12 Birch Street", PHI_T_ADDRESS},
	};
	struct phi_engine *e0 = site_engine(NULL, 0, false);
	struct phi_scratch *s0 = phi_scratch_new(e0);
	char body[512];
	struct err e;

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (size_t pre = 0; pre <= 220; pre++) {
			size_t tl = strlen(cases[c].tail), ws, we;
			bool found = false;
			memset(body, 'y', pre);
			memcpy(body + pre, cases[c].tail, tl);
			ws = pre + (size_t)(strstr(cases[c].tail, cases[c].what) - cases[c].tail);
			we = ws + strlen(cases[c].what);
			assert_int_equal(phi_scan(e0, s0, NULL, body, pre + tl, PHI_BODY_TEXT, &F, &e), 0);
			for (size_t i = 0; i < F.n; i++)
				found |= F.v[i].type == cases[c].t && F.v[i].start <= ws && F.v[i].end >= we;
			if (!found)
				fail_msg("'%s' not found after %zu bytes", cases[c].what, pre);
		}
	}
	phi_scratch_free(s0);
	phi_engine_free(e0);
}

/* IPv6 is found by phi_ipv6_scan, not Vectorscan: in this body (a fuzzer's) Vectorscan 5.4.9
 * reported the address when the expression was compiled alone but not in the built-in
 * database without site patterns. */
static void test_ipv6_scan(void **state)
{
	static const char body[] =
		"{\"mode6!7) 555-0199, MRN12345678, http://x.example/a, 10.0.0.1, 2001:"
		"db8::1, 92-ymsarold, Boston, MA 02134\"}],\"ssn\":123456789,\"phone(61"
		"7) 555m0199, MRN12345678, h\377\377\006\225//x.example/a, 10.0.0.1, 20"
		"01:db8::1` 92-year-old, Boston, MA 02134\"s,\"]}sexample/a, 10.0.0.1, "
		"2001:dbA::1, 92-year-old, Bos:30:htZ\"}";
	struct phi_engine *e0 = site_engine(NULL, 0, false);
	struct phi_scratch *s0 = phi_scratch_new(e0);
	const char *p = strstr(body, "2001:db8::1,");
	size_t at = (size_t)(p - body);
	bool found = false;
	struct err e;

	(void)state;
	assert_non_null(p);
	assert_int_equal(phi_scan(e0, s0, NULL, body, sizeof(body) - 1, PHI_BODY_JSON, &F, &e), 0);
	for (size_t i = 0; i < F.n; i++)
		found |= F.v[i].type == PHI_T_IP && F.v[i].start == at && F.v[i].end == at + 11;
	assert_true(found);
	expect("host fe80::1ff:fe23:4567:890a up", "fe80::1ff:fe23:4567:890a", PHI_T_IP);
	expect("from 2001:db8:85a3:0:0:8a2e:370:7334.", "2001:db8:85a3:0:0:8a2e:370:7334", PHI_T_IP);
	expect_none("at 10:30:00 and 12:45, ratio 1:2:3, urn:oid:1.2.840, abc::def::ghi");
	phi_scratch_free(s0);
	phi_engine_free(e0);
}

struct vs_match {
	unsigned id;
	unsigned long long from, to;
};

struct vs_set {
	struct vs_match v[512];
	size_t n, lim, shift;
	unsigned id; /* for single-pattern databases */
	bool single;
};

static int vs_on(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *arg)
{
	struct vs_set *m = arg;

	(void)flags;
	if (to > m->lim || from < m->shift || m->n == sizeof(m->v) / sizeof(m->v[0]))
		return 0;
	m->v[m->n++] = (struct vs_match){m->single ? m->id : id, from - m->shift, to - m->shift};
	return 0;
}

static int vs_cmp(const void *a, const void *b)
{
	const struct vs_match *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->to != y->to)
		return x->to < y->to ? -1 : 1;
	return x->from < y->from ? -1 : x->from > y->from;
}

/* The workarounds of phi_int.h PHI_DEC_PAD and phi_ipv6_scan rest on this property of the
 * Vectorscan in use: with the padding, every built-in expression reports the same matches
 * alone and inside the built-in database, wherever the text sits in the buffer. Checked on
 * texts dense in what the expressions look for and on three corpus bodies where 5.4.9 missed
 * a match without the padding, behind 0..130 bytes of other text. A newer Vectorscan that
 * passes without the padding (set pad to 0) would let it go. */
static void test_vectorscan_consistency(void **state)
{
	static const char *const texts[] = {
		"Email jane.doe@example.org or jdoe [at] mail dot com; see https://portal.example.com/p/1 and www.example.net",
		"Seen by Mrs. Alvarez on Mar 3, 2024 at 10:30; 92 y/o F, 95-year-old father, aged 91; lives at 12 Birch Street",
		"PO Box 4411, P.O.B. #12, 03Jan2024, 12mar2023; host fe80::1ff:fe23:4567:890a, 2001:db8::1, ratio 1:2:3",
		"Ms. de la Cruz (101 yrs of age) moved to 77 Sunset Blvd in June; contact at home; Mr. O'Brien, Miss Kay",
		/* decoded corpus bodies whose last match 5.4.9 missed without the padding */
		"BP 142/88 mmHg, HR 88 bpm, RR 18, SpO2 97% on RA, Temp 98.6 F (37.0 C). Guarantor SSN 29"
		"1513410 on file.\nNonagenarian: 99 y/o, lives independently.\n",
		"resourceType\nCondition\nid\n55a6981d-8d38-44b0-ae1d-556504d3fe21\nclinicalStatus\ncodin"
		"g\nsystem\nhttp://terminology.hl7.org/CodeSystem/condition-clinical\ncode\nactive\ndispl"
		"ay\nActive\ncategory\ncoding\nsystem\nhttp://terminology.hl7.org/CodeSystem/condition-ca"
		"tegory\ncode\nproblem-list-item\ndisplay\nProblem List Item\ncode\ncoding\nsystem\nhttp:"
		"//hl7.org/fhir/sid/icd-10-cm\ncode\nI73.00\ndisplay\nRaynaud phenomenon\nsystem\nhttp://"
		"snomed.info/sct\ncode\n266261006\ntext\nRaynaud phenomenon\nsubject\nreference\nPatient/"
		"enTZQ1Dga2c30c5eSIdsgk\nonsetDateTime\n2025-07-15T10:15:00Z\nrecordedDate\n2024-07-21T04"
		":41:00-04:00\nnote\ntext\nReviewed with D. Little. Collateral obtained from a friend Mrs"
		". Abdullah.\n",
		"resourceType\nObservation\nid\nc6377604-d5d0-4947-b7a6-f156ff9efd87\nstatus\nfinal\ncate"
		"gory\ncoding\nsystem\nhttp://terminology.hl7.org/CodeSystem/observation-category\ncode\n"
		"laboratory\ndisplay\nLaboratory\ncode\ncoding\nsystem\nhttp://loinc.org\ncode\n33914-3\n"
		"display\neGFR\nsubject\nreference\nPatient/27e9cfd9-f910-42a3-b9a9-cf9549019d17\nvalueQu"
		"antity\nvalue\n85.0\nunit\nmL/min/1.73m2\nsystem\nhttp://unitsofmeasure.org\ncode\nmL/mi"
		"n/1.73m2\nreferenceRange\ntext\n>60\neffectiveDateTime\n2024-09-05T09:20:21.307Z\nnote\n"
		"text\nCalled to Dr. on call at 09:15; \n",
	};
	size_t np = phi_n_builtin_patterns, pad = PHI_DEC_PAD;
	hs_database_t *all = NULL, *one[64];
	hs_scratch_t *sall = NULL, *sone[64];
	const char *ex[64];
	unsigned fl[64], ids[64];
	hs_compile_error_t *ce = NULL;
	static struct vs_set a, b;
	char buf[1024];

	(void)state;
	assert_true(np <= 64);
	for (size_t p = 0; p < np; p++) {
		ex[p] = phi_builtin_patterns[p].re;
		fl[p] = phi_builtin_patterns[p].flags | HS_FLAG_SOM_LEFTMOST;
		ids[p] = (unsigned)p;
		sone[p] = NULL;
		assert_int_equal(hs_compile(ex[p], fl[p], HS_MODE_BLOCK, NULL, &one[p], &ce), HS_SUCCESS);
		assert_int_equal(hs_alloc_scratch(one[p], &sone[p]), HS_SUCCESS);
	}
	assert_int_equal(hs_compile_multi(ex, fl, ids, (unsigned)np, HS_MODE_BLOCK, NULL, &all, &ce), HS_SUCCESS);
	assert_int_equal(hs_alloc_scratch(all, &sall), HS_SUCCESS);
	for (size_t x = 0; x < sizeof(texts) / sizeof(texts[0]); x++) {
		size_t tl = strlen(texts[x]), ref_n = 0;
		static struct vs_match ref[512];
		for (size_t pre = 0; pre <= 130; pre++) {
			memset(buf, 'y', pre);
			if (pre)
				buf[pre - 1] = ' ';
			memcpy(buf + pre, texts[x], tl);
			memset(buf + pre + tl, 0, pad);
			a.n = b.n = 0;
			a.lim = b.lim = pre + tl;
			a.shift = b.shift = pre;
			a.single = false;
			b.single = true;
			assert_int_equal(hs_scan(all, buf, (unsigned)(pre + tl + pad), 0, sall, vs_on, &a), HS_SUCCESS);
			for (size_t p = 0; p < np; p++) {
				b.id = (unsigned)p;
				assert_int_equal(hs_scan(one[p], buf, (unsigned)(pre + tl + pad), 0, sone[p], vs_on, &b),
						 HS_SUCCESS);
			}
			qsort(a.v, a.n, sizeof(a.v[0]), vs_cmp);
			qsort(b.v, b.n, sizeof(b.v[0]), vs_cmp);
			if (a.n != b.n || memcmp(a.v, b.v, a.n * sizeof(a.v[0])) != 0)
				fail_msg("text %zu behind %zu bytes: %zu matches in the database, %zu alone", x, pre, a.n, b.n);
			if (pre == 0) {
				ref_n = b.n;
				memcpy(ref, b.v, b.n * sizeof(b.v[0]));
				assert_true(ref_n >= 1); /* the texts exercise the expressions */
			} else if (b.n != ref_n || memcmp(ref, b.v, b.n * sizeof(b.v[0])) != 0) {
				fail_msg("text %zu behind %zu bytes: %zu matches, %zu at the start of the buffer", x, pre, b.n, ref_n);
			}
		}
	}
	for (size_t p = 0; p < np; p++) {
		hs_free_scratch(sone[p]);
		hs_free_database(one[p]);
	}
	hs_free_scratch(sall);
	hs_free_database(all);
}

/* Forms the independent corpus (fixtures/phi_indep) showed missing, with their look-alikes. */
static void test_indep_forms(void **state)
{
	static const char dbl[] = "{\"args\":\"{\\\"note\\\":\\\"NOTE\\\\nMrs. Long resting; mail jane\\\\u0040example.com\\\"}\"}";

	(void)state;
	/* JSON inside a JSON string: the inner "\\n" and "\\u0040" are decoded too */
	scan_kind(dbl, PHI_BODY_JSON);
	assert_true(has_exact(dbl, "Long", PHI_T_NAME));
	assert_true(has_exact(dbl, "jane\\\\u0040example.com", PHI_T_EMAIL));
	/* HL7 v2 DTM timestamps and compact dates in HL7 fields */
	expect("MSH|^~\\&|EPIC|MAINHOSP|AISVC|AI|202410110903||ORU^R01|", "202410110903", PHI_T_DATE);
	expect("TXA|1|PN|TX|20250410091133||", "20250410091133", PHI_T_DATE);
	expect("OBX|1|TS|x||20240422004600.0000-0500|", "20240422004600.0000-0500", PHI_T_DATE);
	expect("PID|1||123^^^MR||DOE^JANE||19410303|F", "19410303", PHI_T_DATE);
	expect("DOB 19410303 per chart", "19410303", PHI_T_DATE);
	expect_none("order 202413456789 and 202412311275 and 999999999999 placed");
	expect_none("accession 20241022 received; lot 19410303 on file");
	/* month and year */
	expect("Symptoms first noted 11/2025.", "11/2025", PHI_T_DATE);
	scan_kind("{\"note\":\"noted 01\\/2023\"}", PHI_BODY_JSON);
	assert_true(has_exact("{\"note\":\"noted 01\\/2023\"}", "01\\/2023", PHI_T_DATE));
	expect("symptomatic since 3/2021", "3/2021", PHI_T_DATE);
	expect_none("titer 1/2000, dilution 1/1000, 13/2020, 4/10/2020/1");
	/* E.164 telephone numbers need no cue word */
	expect("reached at +18022427641 today", "+18022427641", PHI_T_PHONE);
	expect_none("count 18022427641 in total; id A+18022427641");
	/* ages over 89, compact */
	expect("a 96-yo female", "96", PHI_T_AGE);
	expect("Linh is a 94yoF with", "94", PHI_T_AGE);
	expect_none("a 45-yo male, temp 99F, 98.6F");
	/* ... and with the sex: a cue on both sides, no vital sign before it on the line */
	expect("Yetunde Mwangi (MRN73820837), 97F\n\nS: reports fatigue", "97", PHI_T_AGE);
	expect("N\xc3\xba\xc3\xb1" "ez, Itzel (MR# 43184314), 99F  S: Pt reports nausea", "99", PHI_T_AGE);
	expect("A/P: The pt is a 91F with a history of atrial fibrillation", "91", PHI_T_AGE);
	expect("KOWALCZYK, BJORK, 94F (DOB 06/06/1931) is on sertraline", "94", PHI_T_AGE);
	expect("101M", "101", PHI_T_AGE);
	expect("Pt is a 95M.", "95", PHI_T_AGE);
	expect("DOB: 19291027  Age: 96M\nCollected: 11/01/2025", "96", PHI_T_AGE);
	expect("age 96M\n", "96", PHI_T_AGE);
	expect("spotted fever** (A77.0): Jae-sung Wu, 93M (DOB Jun 16, 1932)", "93", PHI_T_AGE);
	expect("Thank you for seeing Jun T., a 96M with a history of", "96", PHI_T_AGE);
	expect("HPI: T. Toussaint is a 95M with", "95", PHI_T_AGE);
	expect("PID|1||281456||Jaber^Ramon||(MRN 281456), 91M||||||F", "91", PHI_T_AGE);
	expect_none("Vitals: 98F\nTemp: low, 97F\nPt afebrile, 98F\nfever: 101F\nT: 99F (oral)");
	expect_none("Page: 96M\nstage: 92F\nAge 96M-x");
	expect_none("T 99F, HR 88, 98F\nTmax 101F overnight; vitals: 97F\nafebrile, 98F\nTemp 99F");
	expect_none("had a 101F fever; a 92F catheter; room 92F; $90M budget, 95M cells, 97F, 96Fr");
	expect_none("ages 45F and 67M; 094F; 130F; 90MB disk, sample A 97F-");
	/* post office boxes, and "PO" (by mouth) next to vitamin B12 */
	expect("Mail to POB 1518, Charlotte", "POB 1518", PHI_T_ADDRESS);
	expect_none("cyanocobalamin 1000 mcg PO B12 daily, PO BID");
	/* street names with ordinals, directionals and accents */
	expect("home at 6939 42nd St, Boise", "6939 42nd St", PHI_T_ADDRESS);
	expect("at 1121 Southwest 42nd Court, Winston", "1121 Southwest 42nd Court", PHI_T_ADDRESS);
	expect("stay at 20607 SW Elm St, Gallup", "20607 SW Elm St", PHI_T_ADDRESS);
	expect("at 8438 C\xc3\xa9sar Ch\xc3\xa1vez Parkway, Wichita", "8438 C\xc3\xa9sar Ch\xc3\xa1vez Parkway", PHI_T_ADDRESS);
	expect_none("step 2 of the 3rd Ave protocol; dose 5 mg NE of the lesion");
	expect("home at 7730 Saint Anne's Court, Boise", "7730 Saint Anne's Court", PHI_T_ADDRESS);
	expect("at 2960 O'Farrell St, Jackson", "2960 O'Farrell St", PHI_T_ADDRESS);
	expect("at 9168 Southwest Saint Anne's Highway, Yakima", "9168 Southwest Saint Anne's Highway", PHI_T_ADDRESS);
	expect_none("seen 2 patient's Court dates; 3 O'brien St; 4 Anne'S Way; 5 Anne' Way; 6 'Oak St");
	/* a bare nine-digit SSN after "social" */
	expect("paperwork requests social 187036740.", "187036740", PHI_T_SSN);
}

static void test_clinical_codes_not_phi(void **state)
{
	(void)state;
	expect_none("ICD-10 J069, J06.9, E11.9, E119, I10, N18.31, Z79.4; LOINC 2345-7, 4548-4, 718-7; "
		    "SNOMED 44054006, 271649006, 22298006; RxNorm 860975, 1049221; NDC 0002-3227-30, "
		    "00002-3227-30, 0093-7214-01; CPT 99214; OID 2.16.840.1.113883.6.96; UUID "
		    "3f2504e0-4f89-11d3-9a0c-0305e82c3301; temp 98.6 F, 12.5 mg, 0.25 mg q6h, 1.5-2.0 mg/kg, "
		    "eGFR 45 mL/min/1.73m2, HR 88 bpm, SpO2 97%, INR 2.4, titer 1:640, at 08:30-17:00, "
		    "epoch 1718035200, v2.5.1, FHIR 4.0.1, platelets 250,000/uL, a 67-year-old, age 54, "
		    "Parkinson disease, Hodgkin lymphoma, Addison's disease, Bell's palsy.");
	scan_kind("{\"resourceType\":\"Observation\",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":"
		  "\"2345-7\"}]},\"valueQuantity\":{\"value\":98.6,\"unit\":\"mg/dL\",\"system\":"
		  "\"http://unitsofmeasure.org\",\"code\":\"mg/dL\"},\"id\":\"3f2504e0-4f89-11d3-9a0c-0305e82c3301\","
		  "\"subject\":{\"reference\":\"urn:uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301\"}}",
		  PHI_BODY_JSON);
	assert_int_equal(F.n, 0);
}

static void test_title_names_and_streets(void **state)
{
	(void)state;
	expect("Spoke with Mrs. Okafor today", "Okafor", PHI_T_NAME);
	expect("Spoke with Mr. von Trapp today", "von Trapp", PHI_T_NAME);
	expect("lives at 45 Oak Street, ok", "45 Oak Street", PHI_T_ADDRESS);
	expect("box PO Box 123.", "PO Box 123", PHI_T_ADDRESS);
	expect_none("MS patient, Dr. Alvarez, 452 ms. The 3 Mg doses");
}

/* Exact raw offsets through JSON escapes: every finding's bytes are the escaped source. */
static void test_json_escapes_offsets(void **state)
{
	const char *body = "{\"note\":\"mail jane.doe\\u0040example.com, ssn 123\\u002d45-6789, "
			   "\\ud83d\\ude00 phone 617\\u00a0555\\u00a00123, tab\\tdate 03/03/1941\"}";

	(void)state;
	scan_kind(body, PHI_BODY_JSON);
	assert_int_equal(F.kind, PHI_BODY_JSON);
	assert_true(has_exact(body, "jane.doe\\u0040example.com", PHI_T_EMAIL));
	assert_true(has_exact(body, "123\\u002d45-6789", PHI_T_SSN));
	assert_true(has_exact(body, "617\\u00a0555\\u00a00123", PHI_T_PHONE));
	assert_true(has_exact(body, "03/03/1941", PHI_T_DATE));
	for (size_t i = 0; i < F.n; i++)
		assert_int_equal(F.v[i].where, PHI_IN_STRING);
}

static void test_unicode_lookalikes(void **state)
{
	/* zero-width space inside an SSN, full-width digits, no-break spaces */
	const char *body = "ssn 123\xe2\x80\x8b-45-6789 and \xef\xbc\x91\xef\xbc\x92\xef\xbc\x93-45-6789 "
			   "call 617\xc2\xa0" "555\xc2\xa0" "0123";

	(void)state;
	scan(body);
	assert_true(has_exact(body, "123\xe2\x80\x8b-45-6789", PHI_T_SSN));
	assert_true(has_exact(body, "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93-45-6789", PHI_T_SSN));
	assert_true(has_exact(body, "617\xc2\xa0" "555\xc2\xa0" "0123", PHI_T_PHONE));
}

static void test_entities_and_percent(void **state)
{
	const char *json = "{\"a\":\"mail jane&#64;example.com or jo%40example.org, ssn 123.45.6789\"}";
	const char *form = "n=J%E2%80%8Dohn&ssn=123%E2%80%8B-45-6789&m=a%2540example.com";

	(void)state;
	expect("mail jane&#64;example.com.", "jane&#64;example.com", PHI_T_EMAIL);
	expect("mail jane&#x40;example.com.", "jane&#x40;example.com", PHI_T_EMAIL);
	expect("mail jane&commat;example.com.", "jane&commat;example.com", PHI_T_EMAIL);
	expect("mail jane%40example.com.", "jane%40example.com", PHI_T_EMAIL);
	expect("SSN 123.45.6789.", "123.45.6789", PHI_T_SSN);
	expect_none("R&D 100% a&b &#; &#xZZ; %4 %41 &#0; &#1114112;");
	scan_kind(json, PHI_BODY_JSON);
	assert_true(has_exact(json, "jane&#64;example.com", PHI_T_EMAIL));
	assert_true(has_exact(json, "jo%40example.org", PHI_T_EMAIL));
	assert_true(has_exact(json, "123.45.6789", PHI_T_SSN));
	/* form: a percent-encoded zero-width character inside an SSN is dropped like in text */
	scan_kind(form, PHI_BODY_FORM);
	assert_true(has_exact(form, "123%E2%80%8B-45-6789", PHI_T_SSN));
}

/* Text bodies are searched for '&', '%' and non-ASCII bytes 16 and 8 bytes at a time: each
 * kind of escape at every offset around those block edges decodes the same, with its offset
 * map back to the raw bytes. */
static void test_text_escapes_every_offset(void **state)
{
	static const struct {
		const char *raw, *dec;
	} esc[] = {{"%40", "@"}, {"&#64;", "@"}, {"&amp;", "&"}, {"\xc3\xa9", "\xc3\xa9"}, {"\xe2\x80\x8b", ""},
		   {"%4", "%4"}, {"&#;", "&#;"}, {"\xff", "\xff"}};
	struct phi_dec d = {0};
	char body[128], want[128];

	(void)state;
	for (size_t k = 0; k < sizeof(esc) / sizeof(esc[0]); k++) {
		size_t rl = strlen(esc[k].raw), dl = strlen(esc[k].dec);
		for (size_t off = 0; off <= 40; off++) {
			for (size_t tail = 0; tail <= 20; tail += 7) {
				memset(body, 'x', off);
				memcpy(body + off, esc[k].raw, rl);
				memset(body + off + rl, 'y', tail);
				memset(want, 'x', off);
				memcpy(want + off, esc[k].dec, dl);
				memset(want + off + dl, 'y', tail);
				assert_int_equal(phi_decode(&d, body, off + rl + tail, PHI_BODY_TEXT), 0);
				assert_int_equal(d.nsegs, 1);
				assert_int_equal(d.segs[0].d1 - d.segs[0].d0, off + dl + tail);
				assert_memory_equal(d.t + d.segs[0].d0, want, off + dl + tail);
				size_t rs, re;
				if (dl > 0) {
					/* the escape's first decoded byte maps back into the escape */
					assert_true(phi_dec_map(&d, off, off + 1, &rs, &re));
					assert_true(rs >= off && re <= off + rl);
				}
				if (tail > 0) {
					assert_true(phi_dec_map(&d, off + dl, off + dl + tail, &rs, &re));
					assert_int_equal(rs, off + rl);
					assert_int_equal(re, off + rl + tail);
				}
			}
		}
	}
	phi_dec_fini(&d);
}

static void test_json_numbers(void **state)
{
	const char *body = "{\"ssn\": 123456789, \"phone\":6175550123, \"n\": 98.6, \"age\": 93.0e0}";

	(void)state;
	scan_kind(body, PHI_BODY_JSON);
	assert_true(has_exact(body, "123456789", PHI_T_SSN));
	assert_true(has_exact(body, "6175550123", PHI_T_PHONE));
	assert_int_equal(F.n, 2); /* 98.6 and 93.0e0 are not ages ("93.0") */
	assert_int_equal(F.v[0].where, PHI_IN_NUMBER);
}

static void check_redacted_json(const char *body, const char *const *gone)
{
	struct buf out;
	struct err e;
	struct json_limits lim = JSON_LIMITS_DEFAULT;
	cJSON *j;

	scan_kind(body, PHI_BODY_JSON);
	assert_true(F.n > 0);
	buf_init(&out, 1 << 20);
	assert_int_equal(phi_redact(body, strlen(body), &F, &out, &e), 0);
	j = json_parse(out.p, out.len, &lim, &e);
	if (!j)
		fprintf(stderr, "redacted JSON does not parse (%s): %s\n", e.msg, out.p);
	assert_non_null(j);
	cJSON_Delete(j);
	for (; *gone; gone++)
		assert_null(strstr(out.p, *gone));
	assert_non_null(strstr(out.p, "[REDACTED:"));
	buf_fini(&out);
}

static void test_redact_json_valid(void **state)
{
	static const char *const g1[] = {"6789", "0123", "example", NULL};
	static const char *const g2[] = {"123456789", "6175550123", NULL};
	static const char *const g3[] = {"Okafor", "1941", NULL};

	(void)state;
	check_redacted_json("{\"messages\":[{\"role\":\"user\",\"content\":\"SSN 123-45-6789, call (617) 555-0123, "
			    "jane\\u0040example.com\"}]}",
			    g1);
	check_redacted_json("{\"ssn\":123456789,\"phone\":[6175550123],\"x\":1}", g2);
	check_redacted_json("{\"Mrs. Okafor\":\"born 03/03/1941\"}", g3);
	/* a number token with a finding becomes a string */
	{
		const char *body = "{\"ssn\":123456789}";
		struct buf out;
		struct err e;
		scan_kind(body, PHI_BODY_JSON);
		buf_init(&out, 1024);
		assert_int_equal(phi_redact(body, strlen(body), &F, &out, &e), 0);
		assert_string_equal(out.p, "{\"ssn\":\"[REDACTED:SSN]\"}");
		buf_fini(&out);
	}
}

/* Base64 text in a JSON string value (FHIR Attachment.data): scanned as the text it encodes,
 * every finding over the whole value; binary, short, invalid and key base64 left alone. */
static void b64_body(const char *text, size_t tlen, const char *fmt, char *out, size_t cap)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	assert_int_equal(b64_encode(text, tlen, B64_STD, &b), 0);
	snprintf(out, cap, fmt, b.p);
	buf_fini(&b);
}

static void test_base64_attachment(void **state)
{
	static const char note[] = "Note for Mrs. Okafor, seen 03/15/1941. Call 617-555-0199.";
	static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
					    0,    0,   1,   0,   0,    0,    1,    0,    8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4};
	static const char *const gone[] = {"Tm90ZSBmb3Ig", NULL};
	char body[1024], b64[512];
	const char *v;

	(void)state;
	b64_body(note, strlen(note), "{\"content\":[{\"attachment\":{\"contentType\":\"text/plain\",\"data\":\"%s\"}}]}",
		 body, sizeof(body));
	scan_kind(body, PHI_BODY_JSON);
	v = strstr(body, "\"data\":\"") + 8;
	size_t vs = (size_t)(v - body), ve = (size_t)(strchr(v, '"') - body);
	bool name = false, date = false, phone = false;
	for (size_t i = 0; i < F.n; i++) {
		assert_int_equal(F.v[i].start, vs); /* the whole value */
		assert_int_equal(F.v[i].end, ve);
		name |= F.v[i].type == PHI_T_NAME;
		date |= F.v[i].type == PHI_T_DATE;
		phone |= F.v[i].type == PHI_T_PHONE;
	}
	assert_true(name && date && phone);
	check_redacted_json(body, gone);
	/* MIME line breaks (JSON "\n") and "\/" escapes inside the value */
	b64_body(note, strlen(note), "%s", b64, sizeof(b64));
	{
		char esc[600];
		size_t k = 0;
		for (size_t i = 0; b64[i] && k + 4 < sizeof(esc); i++) {
			if (i && i % 16 == 0) {
				esc[k++] = '\\';
				esc[k++] = 'n';
			}
			if (b64[i] == '/')
				esc[k++] = '\\';
			esc[k++] = b64[i];
		}
		esc[k] = 0;
		snprintf(body, sizeof(body), "{\"data\":\"%s\"}", esc);
		scan_kind(body, PHI_BODY_JSON);
		assert_true(F.n >= 3);
		assert_int_equal(F.v[0].start, 9);
		assert_int_equal(F.v[0].end, strlen(body) - 2);
	}
	/* binary (a PNG header) is not text: nothing, and the base64 is not scanned either */
	b64_body((const char *)png, sizeof(png), "{\"data\":\"%s\"}", body, sizeof(body));
	scan_kind(body, PHI_BODY_JSON);
	assert_int_equal(F.n, 0);
	/* under 24 characters, as a member name, with a bad padding or a space: not decoded */
	b64_body("Mrs. Okafor", 11, "{\"data\":\"%s\"}", body, sizeof(body));
	scan_kind(body, PHI_BODY_JSON);
	assert_int_equal(F.n, 0);
	b64_body(note, strlen(note), "{\"%s\":1}", body, sizeof(body));
	scan_kind(body, PHI_BODY_JSON);
	assert_int_equal(F.n, 0);
	b64_body(note, strlen(note), "{\"data\":\"%s=\"}", body, sizeof(body));
	scan_kind(body, PHI_BODY_JSON);
	assert_int_equal(F.n, 0);
	b64_body(note, strlen(note), "{\"data\":\"QUFB %s\"}", body, sizeof(body));
	scan_kind(body, PHI_BODY_JSON);
	assert_int_equal(F.n, 0);
	/* plain words that happen to be base64 characters decode to no text */
	scan_kind("{\"x\":\"ThisIsALongIdentifierWithoutSpacesAB\"}", PHI_BODY_JSON);
	assert_int_equal(F.n, 0);
}

static void test_redact_text_and_form(void **state)
{
	struct buf out;
	struct err e;
	const char *t = "SSN 123-45-6789 and call 617-555-0123.";
	const char *f = "a=1&ssn=123-45-6789&note=call+617-555-0123%2E";

	(void)state;
	scan(t);
	buf_init(&out, 1024);
	assert_int_equal(phi_redact(t, strlen(t), &F, &out, &e), 0);
	assert_string_equal(out.p, "SSN [REDACTED:SSN] and call [REDACTED:PHONE].");
	buf_fini(&out);

	scan_kind(f, PHI_BODY_FORM);
	assert_int_equal(F.kind, PHI_BODY_FORM);
	assert_int_equal(F.n, 2);
	assert_int_equal(F.v[0].where, PHI_IN_FORM);
	buf_init(&out, 1024);
	assert_int_equal(phi_redact(f, strlen(f), &F, &out, &e), 0);
	assert_string_equal(out.p, "a=1&ssn=%5BREDACTED%3ASSN%5D&note=call+%5BREDACTED%3APHONE%5D%2E");
	buf_fini(&out);
	/* an output limit is a clean error */
	buf_init(&out, 8);
	assert_int_equal(phi_redact(f, strlen(f), &F, &out, &e), -E2BIG);
	buf_fini(&out);
}

static void test_json_fallback(void **state)
{
	const char *body = "{\"a\": \"SSN 123-45-6789\", oops";

	(void)state;
	scan_kind(body, PHI_BODY_JSON);
	assert_int_equal(F.kind, PHI_BODY_TEXT);
	assert_true(has_exact(body, "123-45-6789", PHI_T_SSN));
	assert_int_equal(F.v[0].where, PHI_IN_TEXT);
	/* structure errors of every kind fall back */
	static const char *const bad[] = {"[1,]", "{\"a\" 1}", "{\"a\":01}", "\"ctl\x01\"", "{\"a\":1}}",
					  "[\"\\x\"]", "tru", "[1 2]", "{1:2}", "\"unterminated"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		scan_kind(bad[i], PHI_BODY_JSON);
		assert_int_equal(F.kind, PHI_BODY_TEXT);
	}
	static const char *const good[] = {"1", "\"s\"", "[]", "{}", " [ null , true , false , -0.5e+3 ] "};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		scan_kind(good[i], PHI_BODY_JSON);
		assert_int_equal(F.kind, PHI_BODY_JSON);
	}
}

static void test_path_rules(void **state)
{
	const char *body = "{\"resourceType\":\"Practitioner\",\"name\":[{\"family\":\"Zqxbrand\",\"given\":[\"Al\"]}],"
			   "\"address\":[{\"line\":[\"12 Rue X\"],\"city\":\"Lyon\",\"postalCode\":\"69001\"}]}";

	(void)state;
	scan_kind(body, PHI_BODY_JSON);
	assert_true(has_exact(body, "Zqxbrand", PHI_T_NAME));
	assert_true(has_exact(body, "Al", PHI_T_NAME));
	assert_true(has_exact(body, "12 Rue X", PHI_T_ADDRESS));
	assert_true(has_exact(body, "Lyon", PHI_T_CITY));
	assert_true(has_exact(body, "69001", PHI_T_ZIP));
}

static void test_limits(void **state)
{
	struct phi_config cfg;
	struct phi_engine *e2;
	struct phi_scratch *s2;
	struct phi_findings f2;
	struct err e;
	char body[256];

	(void)state;
	phi_config_init(&cfg);
	cfg.max_body = 100;
	cfg.max_findings = 2;
	assert_int_equal(phi_engine_new(&cfg, &e2, &e), 0);
	s2 = phi_scratch_new(e2);
	phi_findings_init(&f2, 0);
	memset(body, 'a', sizeof(body));
	assert_int_equal(phi_scan(e2, s2, NULL, body, 101, PHI_BODY_TEXT, &f2, &e), -E2BIG);
	assert_int_equal(phi_scan(e2, s2, NULL, body, 100, PHI_BODY_TEXT, &f2, &e), 0);
	snprintf(body, sizeof(body), "123-45-6789 223-45-6789 323-45-6789");
	assert_int_equal(phi_scan(e2, s2, NULL, body, strlen(body), PHI_BODY_TEXT, &f2, &e), -E2BIG);
	assert_int_equal(phi_scan(e2, s2, NULL, "", 0, PHI_BODY_JSON, &f2, &e), 0);
	assert_int_equal(f2.n, 0);
	phi_findings_fini(&f2);
	phi_scratch_free(s2);
	phi_engine_free(e2);
}

struct thr {
	const char *body;
	size_t n;
	int rc;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	struct phi_scratch *s = phi_scratch_new(eng);
	struct phi_findings f;
	struct err e;

	phi_findings_init(&f, 0);
	for (int i = 0; i < 200 && t->rc == 0; i++) {
		t->rc = phi_scan(eng, s, NULL, t->body, strlen(t->body), PHI_BODY_TEXT, &f, &e);
		if (f.n != t->n)
			t->rc = -1;
	}
	phi_findings_fini(&f);
	phi_scratch_free(s);
	return NULL;
}

static void test_threads_share_engine(void **state)
{
	struct thr t[4] = {{"SSN 123-45-6789", 1, 0}, {"call 617-555-0123 or 617-555-0124", 2, 0},
			   {"mail a.b@example.com on 03/03/1941", 2, 0}, {"nothing here", 0, 0}};
	pthread_t th[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].rc, 0);
	}
}

static void test_decode_map(void **state)
{
	struct phi_dec d = {0};
	const char *raw = "{\"k\\u00e9y\":\"a\\nb\\u0040c\",\"n\":-12.5e3}";
	size_t rs, re;

	(void)state;
	assert_int_equal(phi_decode(&d, raw, strlen(raw), PHI_BODY_JSON), 0);
	assert_int_equal(d.kind, PHI_BODY_JSON);
	assert_int_equal(d.nsegs, 4);
	assert_int_equal(d.segs[0].kind, PHI_SEG_KEY);
	assert_int_equal(d.segs[1].kind, PHI_SEG_STRING);
	assert_int_equal(d.segs[1].key, 0);
	assert_int_equal(d.segs[3].kind, PHI_SEG_NUMBER);
	assert_memory_equal(d.t + d.segs[0].d0, "k\xc3\xa9y", 4);
	assert_memory_equal(d.t + d.segs[1].d0, "a\nb@c", 5);
	/* "@" maps back to the whole escape \u0040 */
	size_t at = d.segs[1].d0 + 3;
	assert_true(phi_dec_map(&d, at, at + 1, &rs, &re));
	assert_int_equal(re - rs, 6);
	assert_memory_equal(raw + rs, "\\u0040", 6);
	/* "b@c" maps to b\u0040c */
	assert_true(phi_dec_map(&d, at - 1, at + 2, &rs, &re));
	assert_memory_equal(raw + rs, "b\\u0040c", re - rs);
	/* separators are not inside any segment */
	assert_int_equal(phi_dec_seg_at(&d, d.segs[0].d1), -1);
	/* the hinted lookup agrees with the binary search from any hint, at every offset */
	for (size_t hint0 = 0; hint0 < d.nsegs + 2; hint0++) {
		for (size_t pos = 0; pos <= d.n; pos++) {
			size_t hint = hint0;
			long r = phi_dec_seg_near(&d, pos, &hint);
			assert_int_equal(r, phi_dec_seg_at(&d, pos));
			if (r >= 0)
				assert_int_equal(hint, (size_t)r);
		}
	}
	/* the hinted map agrees with the plain one from any hint, for every span */
	for (size_t hint0 = 0; hint0 < d.nruns + 2; hint0++) {
		for (size_t s0 = 0; s0 <= d.n; s0++) {
			for (size_t e0 = s0; e0 <= d.n + 1; e0++) {
				size_t hint = hint0, a0 = 0, a1 = 0, b0 = 0, b1 = 0;
				bool x = phi_dec_map(&d, s0, e0, &a0, &a1), y = phi_dec_map_near(&d, s0, e0, &b0, &b1, &hint);
				assert_int_equal(x, y);
				if (x) {
					assert_int_equal(a0, b0);
					assert_int_equal(a1, b1);
				}
			}
		}
	}
	phi_dec_fini(&d);
}

/* The byte-class tables (phi_cc, phi_lower) against their definitions, all 256 bytes. */
static void test_byte_classes(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		bool up = c >= 'A' && c <= 'Z', low = c >= 'a' && c <= 'z', dig = c >= '0' && c <= '9';
		assert_int_equal(phi_lower[c], up ? c + 32 : c);
		assert_int_equal(isalp((char)c), up || low);
		assert_int_equal(isaln((char)c), up || low || dig);
		assert_int_equal(isword((char)c), up || low || dig || c >= 0x80);
		assert_int_equal(isdig((char)c), dig);
		assert_int_equal((phi_cc[c] & PHI_CC_JOIN) != 0, c != 0 && strchr(" -./()", c) != NULL);
	}
}

static void test_type_names(void **state)
{
	(void)state;
	for (int t = 0; t < PHI_T__COUNT; t++)
		assert_int_equal(phi_type_from_name(phi_type_name((enum phi_type)t)), t);
	assert_int_equal(phi_type_from_name("ssn"), PHI_T_SSN);
	assert_int_equal(phi_type_from_name("nope"), -1);
	assert_string_equal(phi_type_name(PHI_T__COUNT), "?");
	assert_string_equal(phi_source_name(PHI_SRC_KNOWN), "known");
}

/* lib/policy.c validates phi_allow_types against its own copy of the type names and stores
 * bit i for name i: the two lists must stay in the same order. */
static void test_policy_type_names_agree(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; policy_phi_type_names[i]; i++) {
		assert_int_equal(phi_type_from_name(policy_phi_type_names[i]), (int)i);
		assert_string_equal(phi_type_name((enum phi_type)i), policy_phi_type_names[i]);
	}
	assert_int_equal(i, PHI_T__COUNT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ssn),
		cmocka_unit_test(test_phone),
		cmocka_unit_test(test_email),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_date_exempt_and_allow),
		cmocka_unit_test(test_zip),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_mbi_vin),
		cmocka_unit_test(test_site_patterns),
		cmocka_unit_test(test_site_windows),
		cmocka_unit_test(test_vectorscan_buffer_end),
		cmocka_unit_test(test_ipv6_scan),
		cmocka_unit_test(test_vectorscan_consistency),
		cmocka_unit_test(test_clinical_codes_not_phi),
		cmocka_unit_test(test_title_names_and_streets),
		cmocka_unit_test(test_json_escapes_offsets),
		cmocka_unit_test(test_unicode_lookalikes),
		cmocka_unit_test(test_entities_and_percent),
		cmocka_unit_test(test_json_numbers),
		cmocka_unit_test(test_redact_json_valid),
		cmocka_unit_test(test_redact_text_and_form),
		cmocka_unit_test(test_json_fallback),
		cmocka_unit_test(test_path_rules),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_threads_share_engine),
		cmocka_unit_test(test_decode_map),
		cmocka_unit_test(test_indep_forms),
		cmocka_unit_test(test_base64_attachment),
		cmocka_unit_test(test_shape_prefilter),
		cmocka_unit_test(test_text_escapes_every_offset),
		cmocka_unit_test(test_byte_classes),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_policy_type_names_agree),
	};
	return cmocka_run_group_tests_name("phi", tests, setup, teardown);
}
