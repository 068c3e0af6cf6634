/* ehrgate-phi — the PHI scanner as a command (DESIGN.md §4): `scan` prints one JSON line per
 * finding with byte offsets into the raw input, `redact` prints the input with every finding
 * replaced by [REDACTED:TYPE]. For reviewers, data sets and the evaluation (ci/phi-eval).
 * Never prints input bytes on stderr: error lines name options, files and sizes only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/mem.h"
#include "lib/strv.h"
#include "lib/file.h"
#include "lib/policy.h"
#include "lib/usage.h"
#include "sidecar/phi.h"

#define PROG "ehrgate-phi"

static const char usage_text[] =
	"usage: ehrgate-phi scan|redact [options] [FILE] < input\n"
	"\n"
	"Scan a body for PHI (HIPAA Safe Harbor identifiers and the identifiers of the patient in\n"
	"--context). FILE (or stdin when absent or \"-\") is read whole.\n"
	"  scan     print one JSON line per finding:\n"
	"           {\"start\":B,\"end\":B,\"type\":\"SSN\",\"source\":\"pattern|known\"}\n"
	"           (byte offsets into the raw input, end exclusive)\n"
	"  redact   print the input with each finding replaced by [REDACTED:TYPE]; JSON stays JSON\n"
	"\n"
	"options:\n"
	"  --type json|text|form      body encoding (default json; JSON that does not parse is\n"
	"                             scanned as text)\n"
	"  --context FILE             FHIR Patient / Bundle / CDS Hooks prefetch or request whose\n"
	"                             patient identifiers are matched in every surface form\n"
	"  --mrn-pattern RE           site MRN format (repeatable), e.g. 'MRN[0-9]{8}'\n"
	"  --member-id-pattern RE     site health-plan member-id format (repeatable)\n"
	"  --allow-type TYPE          do not report pattern findings of TYPE (repeatable), e.g. DATE\n"
	"  --date-exempt-key NAME     JSON member whose date values are not PHI (repeatable)\n"
	"  --url-allow PREFIX         URL prefix that is not PHI (repeatable), e.g. the FHIR base\n"
	"  --max-body BYTES           refuse larger input (default 16777216)\n"
	"  --policy POLICY            read the phi: section of a site policy (MRN / member-id formats,\n"
	"                             date-exempt keys; the site FHIR base is not an identifier)\n"
	"  --route NAME               with --policy: also apply that egress route's phi_allow_types,\n"
	"                             i.e. scan as the sidecar does for traffic to that route\n"
	"  --help, --version\n"
	"\n"
	"types: NAME ADDRESS CITY ZIP DATE AGE PHONE FAX EMAIL SSN MRN MEMBER_ID MBI IDENTIFIER VIN\n"
	"       URL IP\n"
	"exit: scan 0 no findings, 1 findings; redact 0; 2 usage or configuration error;\n"
	"      3 input error (unreadable, too large)\n";

static void fail(int code, const char *fmt, const char *a)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, a);
	fputc('\n', stderr);
	exit(code);
}

int main(int argc, char **argv)
{
	struct strv mrn = {0}, member = {0}, urls = {0}, dkeys = {0};
	const char *mode, *ctx_path = NULL, *in_path = NULL, *route = NULL;
	enum phi_body kind = PHI_BODY_JSON;
	uint32_t allow = 0;
	size_t max_body = 16u << 20;
	struct phi_config cfg;
	struct phi_engine *eng = NULL;
	struct phi_scratch *scr = NULL;
	struct phi_context *ctx = NULL;
	struct phi_findings f;
	struct buf in, out, cb;
	struct err e;
	struct policy *pol = NULL;
	int rc, status = 0;

	usage_common(argc, argv, PROG, usage_text);
	if (argc < 2)
		usage_fail(PROG, "missing command (scan or redact)");
	mode = argv[1];
	if (strcmp(mode, "scan") != 0 && strcmp(mode, "redact") != 0)
		usage_fail(PROG, "unknown command '%s'", mode);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc;
#define VAL() (has_val ? argv[++i] : (usage_fail(PROG, "%s needs a value", a), argv[i]))
		if (strcmp(a, "--type") == 0) {
			const char *v = VAL();
			if (strcmp(v, "json") == 0)
				kind = PHI_BODY_JSON;
			else if (strcmp(v, "text") == 0)
				kind = PHI_BODY_TEXT;
			else if (strcmp(v, "form") == 0)
				kind = PHI_BODY_FORM;
			else
				usage_fail(PROG, "--type must be json, text or form");
		} else if (strcmp(a, "--context") == 0) {
			ctx_path = VAL();
		} else if (strcmp(a, "--mrn-pattern") == 0) {
			strv_push(&mrn, VAL());
		} else if (strcmp(a, "--member-id-pattern") == 0) {
			strv_push(&member, VAL());
		} else if (strcmp(a, "--url-allow") == 0) {
			strv_push(&urls, VAL());
		} else if (strcmp(a, "--date-exempt-key") == 0) {
			strv_push(&dkeys, VAL());
		} else if (strcmp(a, "--allow-type") == 0) {
			const char *v = VAL();
			int t = phi_type_from_name(v);
			if (t < 0)
				usage_fail(PROG, "--allow-type: unknown type '%s'", v);
			allow |= PHI_TYPE_BIT(t);
		} else if (strcmp(a, "--max-body") == 0) {
			char *end;
			const char *v = VAL();
			unsigned long long x = strtoull(v, &end, 10);
			if (*v == '\0' || *end != '\0' || x == 0 || x > (1ull << 31))
				usage_fail(PROG, "--max-body must be 1..2147483648");
			max_body = (size_t)x;
		} else if (strcmp(a, "--route") == 0) {
			route = VAL();
		} else if (strcmp(a, "--policy") == 0) {
			/* the same engine configuration the sidecar builds (sidecar/runtime.c) */
			struct policy_load_opts po = {.skip_file_checks = true};
			struct policy_diag diag;

			if (pol)
				usage_fail(PROG, "--policy given twice");
			policy_diag_init(&diag);
			if (policy_load(VAL(), &po, &pol, &diag) < 0) {
				policy_diag_print(&diag, stderr);
				policy_diag_fini(&diag);
				return EXIT_USAGE;
			}
			policy_diag_fini(&diag);
			for (size_t k = 0; k < pol->phi.mrn_patterns.n; k++)
				strv_push(&mrn, pol->phi.mrn_patterns.v[k]);
			for (size_t k = 0; k < pol->phi.member_id_patterns.n; k++)
				strv_push(&member, pol->phi.member_id_patterns.v[k]);
			for (size_t k = 0; k < pol->phi.url_allow.n; k++)
				strv_push(&urls, pol->phi.url_allow.v[k]);
			for (size_t k = 0; k < pol->phi.date_exempt_keys.n; k++)
				strv_push(&dkeys, pol->phi.date_exempt_keys.v[k]);
			if (pol->fhir.enabled && pol->fhir.base)
				strv_push(&urls, pol->fhir.base);
		} else if (a[0] == '-' && a[1] != '\0') {
			usage_fail(PROG, "unknown option '%s'", a);
		} else if (in_path) {
			usage_fail(PROG, "more than one input file");
		} else {
			in_path = a;
		}
#undef VAL
	}
	if (route) {
		const struct policy_route *r = NULL;

		if (!pol)
			usage_fail(PROG, "--route needs --policy");
		for (size_t k = 0; k < pol->egress.n_routes && !r; k++)
			if (strcmp(pol->egress.routes[k].name, route) == 0)
				r = &pol->egress.routes[k];
		if (!r)
			usage_fail(PROG, "--route: the policy has no egress route '%s'", route);
		/* the policy's type list is in enum phi_type order (lib/policy.h) */
		allow |= r->phi_allow_types & PHI_TYPES_ALL;
	}

	phi_config_init(&cfg);
	cfg.mrn_patterns = mrn.v;
	cfg.n_mrn = mrn.n;
	cfg.member_id_patterns = member.v;
	cfg.n_member = member.n;
	cfg.url_allow_prefixes = urls.v;
	cfg.n_url_allow = urls.n;
	cfg.date_exempt_keys = dkeys.v;
	cfg.n_date_exempt = dkeys.n;
	cfg.types_enabled_mask = PHI_TYPES_ALL & ~allow;
	cfg.max_body = max_body;
	if (phi_engine_new(&cfg, &eng, &e) < 0)
		fail(EXIT_USAGE, "%s", e.msg);
	scr = phi_scratch_new(eng);
	if (!scr)
		fail(3, "%s", "cannot allocate scanner scratch");

	if (ctx_path) {
		buf_init(&cb, 64u << 20);
		rc = file_read_all(ctx_path, SIZE_MAX, &cb, &e);
		if (rc < 0)
			fail(EXIT_USAGE, "--context: cannot read %s", ctx_path);
		if (phi_context_from_patient_json(cb.p ? cb.p : "", cb.len, &ctx, &e) < 0)
			fail(EXIT_USAGE, "--context: %s", e.msg);
		if (cb.p)
			memset(cb.p, 0, cb.len);
		buf_fini(&cb);
	}

	buf_init(&in, max_body);
	rc = file_read_all(in_path, SIZE_MAX, &in, &e);
	if (rc == -E2BIG)
		fail(3, "input larger than --max-body (%s bytes)", "the configured");
	if (rc < 0)
		fail(3, "cannot read input %s", in_path ? in_path : "(stdin)");

	phi_findings_init(&f, 0);
	if (phi_scan(eng, scr, ctx, in.p ? in.p : "", in.len, kind, &f, &e) < 0)
		fail(3, "%s", e.msg);

	if (strcmp(mode, "scan") == 0) {
		for (size_t i = 0; i < f.n; i++)
			printf("{\"start\":%zu,\"end\":%zu,\"type\":\"%s\",\"source\":\"%s\"}\n", f.v[i].start,
			       f.v[i].end, phi_type_name(f.v[i].type), phi_source_name(f.v[i].source));
		status = f.n ? 1 : 0;
	} else {
		buf_init(&out, (size_t)1 << 40);
		if (phi_redact(in.p ? in.p : "", in.len, &f, &out, &e) < 0)
			fail(3, "%s", e.msg);
		if (out.len && fwrite(out.p, 1, out.len, stdout) != out.len)
			fail(3, "%s", "cannot write output");
		buf_fini(&out);
	}
	if (fflush(stdout) != 0)
		fail(3, "%s", "cannot write output");
	phi_findings_fini(&f);
	if (in.p)
		memset(in.p, 0, in.len);
	buf_fini(&in);
	phi_context_free(ctx);
	phi_scratch_free(scr);
	phi_engine_free(eng);
	strv_fini(&mrn);
	strv_fini(&member);
	strv_fini(&urls);
	strv_fini(&dkeys);
	policy_unref(pol);
	return status;
}
