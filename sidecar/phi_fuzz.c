/* Fuzz target: the PHI scanner on hostile bodies (JSON / text / form) and hostile contexts.
 * Input: first byte selects the mode — 'j' JSON body, 't' text, 'f' form, 'C' the rest is a
 * context JSON (scanned against a fixed body); anything else: JSON body. Checks the
 * invariants the sidecar relies on: findings sorted, inside the body, non-empty; redaction
 * succeeds; a body scanned as JSON stays JSON after redaction; the site patterns scanned in
 * windows around digit runs (phi.c site_scan) find what a scan of the whole text finds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/buf.h"
#include "sidecar/phi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct phi_engine *eng, *eng_whole;
static struct phi_scratch *scr, *scr_whole;
static struct phi_context *ctx;

static void init(void)
{
	static const char *const mrn[] = {"MRN[0-9]{8}", "\\bID-?[0-9]{6,8}\\b", "[A-Z]{2}[0-9]{3}.?[0-9]{4}"};
	static const char patient[] =
		"{\"resourceType\":\"Patient\",\"id\":\"pt4711x\",\"name\":[{\"family\":\"O'Brien-M\\u00fcller\","
		"\"given\":[\"Ren\\u00e9e\",\"Li\",\"May\"]}],\"birthDate\":\"1941-03-03\",\"telecom\":[{\"system\":\"phone\","
		"\"value\":\"617-555-0199\"},{\"system\":\"email\",\"value\":\"r.ob@example.org\"}],"
		"\"identifier\":[{\"value\":\"00123456\"},{\"value\":\"abcd-ef12-3456\"}],\"address\":[{\"line\":[\"742 Evergreen Terrace\"],"
		"\"city\":\"San Mateo\",\"postalCode\":\"01105-1234\"}]}";
	struct phi_config cfg;
	struct err e;

	phi_config_init(&cfg);
	cfg.mrn_patterns = mrn;
	cfg.n_mrn = sizeof(mrn) / sizeof(mrn[0]);
	cfg.max_findings = 100000;
	if (phi_engine_new(&cfg, &eng, &e) != 0 || !(scr = phi_scratch_new(eng)))
		abort();
	cfg.no_site_windows = true;
	if (phi_engine_new(&cfg, &eng_whole, &e) != 0 || !(scr_whole = phi_scratch_new(eng_whole)) ||
	    phi_context_from_patient_json(patient, sizeof(patient) - 1, &ctx, &e) != 0)
		abort();
}

static void check(const char *body, size_t len, enum phi_body kind, const struct phi_context *c)
{
	struct phi_findings f;
	struct buf out;
	struct err e;

	phi_findings_init(&f, 0);
	if (phi_scan(eng, scr, c, body, len, kind, &f, &e) != 0) {
		phi_findings_fini(&f);
		return; /* limits are clean errors */
	}
	for (size_t i = 0; i < f.n; i++) {
		if (f.v[i].start >= f.v[i].end || f.v[i].end > len || (i && f.v[i].start < f.v[i - 1].start))
			abort();
		if (f.v[i].tok_start > f.v[i].start || f.v[i].tok_end < f.v[i].end)
			abort();
	}
	struct phi_findings g;
	phi_findings_init(&g, 0);
	if (phi_scan(eng_whole, scr_whole, c, body, len, kind, &g, &e) != 0 || g.n != f.n)
		abort(); /* windowed and whole-text site scans disagree */
	for (size_t i = 0; i < f.n; i++)
		if (g.v[i].start != f.v[i].start || g.v[i].end != f.v[i].end || g.v[i].type != f.v[i].type)
			abort();
	phi_findings_fini(&g);
	buf_init(&out, len * 8 + 4096);
	if (phi_redact(body, len, &f, &out, &e) != 0)
		abort();
	/* the oracle is cJSON, which is stricter than RFC 8259 in places (lone surrogate escapes):
	 * compare like with like — JSON that cJSON accepts must still be accepted after redaction */
	cJSON *orig = f.kind == PHI_BODY_JSON && f.n ? cJSON_ParseWithLength(body, len) : NULL;
	if (orig) {
		cJSON_Delete(orig);
		/* buf keeps a NUL after the bytes: parse them whole, nothing may trail */
		cJSON *j = cJSON_ParseWithLengthOpts(out.p, out.len + 1, NULL, 1);
		if (!j)
			abort(); /* redaction broke the JSON */
		cJSON_Delete(j);
	}
	buf_fini(&out);
	phi_findings_fini(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char note[] = "Renee O'Brien (MRN 00123456) born 3/3/41, call 617-555-0199, 742 Evergreen Ter.";
	const char *body = (const char *)data + 1;
	struct phi_context *c2 = NULL;
	struct err e;

	if (!eng)
		init();
	if (size == 0)
		return 0;
	switch (data[0]) {
	case 't': check(body, size - 1, PHI_BODY_TEXT, ctx); break;
	case 'f': check(body, size - 1, PHI_BODY_FORM, ctx); break;
	case 'C':
		if (phi_context_from_patient_json(body, size - 1, &c2, &e) == 0) {
			check(note, sizeof(note) - 1, PHI_BODY_TEXT, c2);
			check(body, size - 1, PHI_BODY_JSON, c2);
		}
		phi_context_free(c2);
		break;
	default: check(body, size - 1, PHI_BODY_JSON, ctx); break;
	}
	return 0;
}
