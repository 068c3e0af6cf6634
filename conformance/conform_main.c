/* ehrgate-conform — the simulated EHR and conformance harness (DESIGN.md §3.3).
 *
 *   ehrgate-conform run --site POLICY --target URL [options]   run the checks, write reports
 *   ehrgate-conform checks [--json]                            print the check catalogue
 *   ehrgate-conform keygen --out DIR                           make an ES384 + RS384 EHR key set
 *
 * Exit codes of run: 0 every MUST-level check passed, 1 some failed, 2 usage or configuration
 * error, 3 target unreachable. Logs (stderr) never carry PHI; the reports hold synthetic data.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conform_check.h"
#include "conformance/conform_jwt.h"
#include "conformance/conform_report.h"
#include "conformance/conform_run.h"
#include "conformance/conform_runner.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/usage.h"

#define PROG "ehrgate-conform"

static const char usage[] =
	"usage: ehrgate-conform run --site POLICY --target URL [options]\n"
	"       ehrgate-conform checks [--json]\n"
	"       ehrgate-conform keygen --out DIR\n"
	"\n"
	"run: act as the site's EHR against a CDS Hooks service (or the sidecar in front of it) and\n"
	"write report.json, junit.xml and report.html.\n"
	"  --site POLICY          site policy (YAML); services, hooks, deadline, trusted EHR client\n"
	"  --target URL           CDS base URL (discovery is URL/cds-services)\n"
	"  --ehr PROFILE          epic | oracle-health | generic (default: the site's ehr)\n"
	"  --out DIR              report directory (default: conform-report)\n"
	"  --iterations N         latency calls per hook, 1..2000 (default 50)\n"
	"  --concurrency C        latency calls in flight (default 4)\n"
	"  --only GROUP,...       discovery,prefetch,request,auth,http,cards,feedback,latency\n"
	"  --ehr-key PEM          EHR signing key (EC P-384 and/or RSA), repeatable; default: the\n"
	"                         repository's test keys the site trusts, else keys made for the run\n"
	"  --iss ISS              JWT issuer (default: profile's fixed iss, else the site's client)\n"
	"  --jku auto|none|URL    jku header (auto: the site client's first jku_allow entry if on loopback)\n"
	"  --aud URL              configured aud (Epic style) instead of the URL called\n"
	"  --listen HOST:PORT     address of the simulated EHR (JWKS + FHIR); default 127.0.0.1:0\n"
	"  --client-id ID         the service's OAuth client id (fhirAuthorization.subject)\n"
	"  --timeout-ms MS        per-request timeout (default max(2 x deadline, 5000))\n"
	"  --fixtures DIR         fixtures directory (default: found next to the binary)\n"
	"  --quiet                print only the verdict line\n"
	"  --log-level LEVEL      debug | info | warn | error (stderr; default warn)\n"
	"Exit: 0 all MUST checks pass, 1 some fail, 2 usage/config error, 3 target unreachable.\n";

static unsigned parse_uint(const char *opt, const char *v, unsigned min, unsigned max)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *v == '\0' || *end != '\0' || v[0] == '-' || n < min || n > max)
		usage_fail(PROG, "%s needs a number from %u to %u", opt, min, max);
	return (unsigned)n;
}

static unsigned parse_groups(const char *v)
{
	char buf[256], *save = NULL, *t;
	unsigned g = 0;

	snprintf(buf, sizeof(buf), "%s", v);
	for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		enum conform_group x;

		if (conform_group_parse(t, &x) < 0)
			usage_fail(PROG, "--only: unknown group '%s'", t);
		g |= 1u << x;
	}
	if (g == 0)
		usage_fail(PROG, "--only needs at least one group");
	return g;
}

static int cmd_checks(int argc, char **argv)
{
	size_t n;
	const struct conform_check_def *cat = conform_catalogue(&n);
	bool json = argc > 2 && strcmp(argv[2], "--json") == 0;

	if (argc > 2 && !json)
		usage_fail(PROG, "checks: unknown option %s", argv[2]);
	if (json) {
		cJSON *a = cJSON_CreateArray();
		char *s;

		for (size_t i = 0; i < n; i++) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "id", cat[i].id);
			cJSON_AddStringToObject(o, "group", conform_group_name(cat[i].group));
			cJSON_AddStringToObject(o, "level", cds_level_name(cat[i].level));
			cJSON_AddBoolToObject(o, "must_in_production", (cat[i].flags & CONFORM_F_PROD_MUST) != 0);
			cJSON_AddStringToObject(o, "rule", cat[i].title);
			cJSON_AddStringToObject(o, "reference", cat[i].ref);
			cJSON_AddStringToObject(o, "fix", cat[i].fix);
			cJSON_AddItemToArray(a, o);
		}
		s = cJSON_Print(a);
		puts(s);
		cJSON_free(s);
		cJSON_Delete(a);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		printf("%-22s %-9s %-6s%s %s\n", cat[i].id, conform_group_name(cat[i].group), cds_level_name(cat[i].level),
		       (cat[i].flags & CONFORM_F_PROD_MUST) ? "*" : " ", cat[i].title);
	printf("(* MUST when the site is production-facing)\n");
	return 0;
}

static int cmd_keygen(int argc, char **argv)
{
	const char *out = NULL;
	struct err e = {0};

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else
			usage_fail(PROG, "keygen: unknown or incomplete option %s", argv[i]);
	}
	if (out == NULL)
		usage_fail(PROG, "keygen needs --out DIR");
	if (conform_keygen(out, &e) < 0) {
		fprintf(stderr, PROG ": %s\n", e.msg);
		return 2;
	}
	printf("wrote %s/ehr-es384.pem, %s/ehr-rs384.pem and %s/ehr.jwks.json\n", out, out, out);
	return 0;
}

static void print_summary(const struct conform_run *r, const char *out_dir)
{
	struct conform_summary s;
	char abs[PATH_MAX];
	const char *verdict = conform_verdict(r);
	bool first = true;

	conform_results_summary(r->results, &s);
	if (!r->opt.quiet)
		printf("ehrgate-conform: site %s, %s profile, target %s\n", r->site.id, r->profile->name, r->opt.target);
	printf("verdict: %s", !strcmp(verdict, "pass") ? "PASS" : !strcmp(verdict, "fail") ? "FAIL" : "UNREACHABLE");
	if (s.must_failed) {
		printf(" - %zu required check%s failed:", s.must_failed, s.must_failed == 1 ? "" : "s");
		for (size_t i = 0; i < conform_results_count(r->results); i++) {
			const struct conform_result *x = conform_results_at(r->results, i);

			if (x->status == CONFORM_FAIL) {
				printf("%s%s", first ? " " : ", ", x->def->id);
				first = false;
			}
		}
	}
	printf(" (%zu pass, %zu warn, %zu skip)\n", s.pass, s.warn, s.skip);
	if (!r->opt.quiet) {
		for (size_t i = 0; i < r->n_lat; i++) {
			const struct conform_lat_series *l = &r->lat[i];

			printf("latency %s/%s: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms (%zu calls, %zu errors, concurrency %u)\n",
			       l->service, l->hook, l->sum.p50, l->sum.p95, l->sum.p99, l->sum.max, l->sum.n + l->sum.errors,
			       l->sum.errors, r->opt.concurrency);
		}
		for (size_t i = 0; i < r->n_notes; i++)
			printf("note: %s\n", r->notes[i]);
	}
	printf("report: %s/report.html (also report.json, junit.xml)\n", realpath(out_dir, abs) ? abs : out_dir);
}

static int cmd_run(int argc, char **argv)
{
	struct conform_run r = {0};
	const char **keys = xcalloc((size_t)argc, sizeof(*keys));
	struct err e = {0};
	enum log_level lvl = LOGL_WARN;
	char target[2048];
	size_t tl;
	int rc;

	r.opt.out_dir = "conform-report";
	r.opt.iterations = 50;
	r.opt.concurrency = 4;
	r.opt.groups = CONFORM_GROUPS_ALL;
	r.opt.jku = "auto";
	r.opt.client_id = "ehrgate-conform-client";
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--quiet") == 0) {
			r.opt.quiet = true;
			continue;
		}
		if (v == NULL || strncmp(a, "--", 2) != 0)
			usage_fail(PROG, "run: unknown or incomplete option %s", a);
		i++;
		if (!strcmp(a, "--site"))
			r.opt.site_path = v;
		else if (!strcmp(a, "--target"))
			r.opt.target = v;
		else if (!strcmp(a, "--ehr"))
			r.opt.ehr = v;
		else if (!strcmp(a, "--out"))
			r.opt.out_dir = v;
		else if (!strcmp(a, "--iterations"))
			r.opt.iterations = parse_uint(a, v, 1, 2000);
		else if (!strcmp(a, "--concurrency"))
			r.opt.concurrency = parse_uint(a, v, 1, 256);
		else if (!strcmp(a, "--only"))
			r.opt.groups = parse_groups(v);
		else if (!strcmp(a, "--ehr-key"))
			keys[r.opt.n_ehr_keys++] = v;
		else if (!strcmp(a, "--iss"))
			r.opt.iss = v;
		else if (!strcmp(a, "--jku"))
			r.opt.jku = v;
		else if (!strcmp(a, "--aud"))
			r.opt.aud = v;
		else if (!strcmp(a, "--listen"))
			r.opt.listen = v;
		else if (!strcmp(a, "--client-id"))
			r.opt.client_id = v;
		else if (!strcmp(a, "--timeout-ms"))
			r.opt.timeout_ms = parse_uint(a, v, 100, 600000);
		else if (!strcmp(a, "--fixtures"))
			r.opt.fixtures_dir = v;
		else if (!strcmp(a, "--log-level")) {
			if (log_level_parse(v, &lvl) < 0)
				usage_fail(PROG, "--log-level: debug, info, warn or error");
		} else
			usage_fail(PROG, "run: unknown option %s", a);
	}
	r.opt.ehr_keys = keys;
	if (r.opt.site_path == NULL || r.opt.target == NULL)
		usage_fail(PROG, "run needs --site POLICY and --target URL");
	if (r.opt.ehr && conform_profile_find(r.opt.ehr) == NULL)
		usage_fail(PROG, "--ehr: epic, oracle-health or generic");
	if (strncmp(r.opt.target, "http://", 7) != 0 && strncmp(r.opt.target, "https://", 8) != 0)
		usage_fail(PROG, "--target must be an http:// or https:// URL");
	if (r.opt.jku && strcmp(r.opt.jku, "auto") != 0 && strcmp(r.opt.jku, "none") != 0 && strncmp(r.opt.jku, "http", 4) != 0)
		usage_fail(PROG, "--jku: auto, none or a URL");
	snprintf(target, sizeof(target), "%s", r.opt.target);
	tl = strlen(target);
	while (tl > 8 && target[tl - 1] == '/')
		target[--tl] = '\0';
	r.opt.target = target;
	log_init(2, lvl, PROG);
	rc = conform_run_execute(&r, &e);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", e.msg[0] ? e.msg : strerror(-rc));
		rc = 2;
		goto out;
	}
	if (conform_report_write(&r, r.opt.out_dir, &e) < 0) {
		fprintf(stderr, PROG ": cannot write the reports: %s\n", e.msg);
		rc = 2;
		goto out;
	}
	print_summary(&r, r.opt.out_dir);
out:
	conform_run_fini(&r);
	free(keys);
	return rc;
}

int main(int argc, char **argv)
{
	usage_common(argc, argv, PROG, usage);
	if (argc < 2)
		usage_fail(PROG, "missing command (run, checks, keygen)");
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv);
	if (strcmp(argv[1], "checks") == 0)
		return cmd_checks(argc, argv);
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc, argv);
	usage_fail(PROG, "unknown command %s (run, checks, keygen)", argv[1]);
}
