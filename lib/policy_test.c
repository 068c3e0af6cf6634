#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/policy.h"

/* Unit tests run from the top of the repository (ci/run-tests cds there). */
#define DEMO "policies/sites/demo.yaml"
#define BAD_DIR "fixtures/policies/bad"
#define GOOD_DIR "fixtures/policies/good"

static int64_t day(const char *s)
{
	int64_t d;

	assert_int_equal(clock_parse_date(s, &d), 0);
	return d;
}

static struct policy_load_opts opts_today(void)
{
	struct policy_load_opts o = {.today_set = true};

	o.today_days = day("2026-11-23");
	return o;
}

static char *slurp(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	buf[n] = '\0';
	fclose(f);
	if (len_out)
		*len_out = (size_t)n;
	return buf;
}

/* Every diagnostic line followed by "\n" — exactly what --check prints on stderr. */
static char *diag_text(const struct policy_diag *d)
{
	size_t cap = 1, o = 0;
	char *s;

	for (size_t i = 0; i < d->n; i++)
		cap += strlen(d->v[i].text) + 1;
	s = xmalloc(cap);
	s[0] = '\0';
	for (size_t i = 0; i < d->n; i++)
		o += (size_t)snprintf(s + o, cap - o, "%s\n", d->v[i].text);
	return s;
}

/* Load the demo text with substitutions applied (pairs of from, to; NULL-terminated), as if it
 * were the demo file (same name, so relative paths resolve). Returns rc; *diag_out gets the
 * diagnostics exactly as --check prints them. */
static const char *variant_today = "2026-10-15"; /* no demo approval near expiry */

static int load_demo_pairs(const char *const *pairs, struct policy **out, char **diag_out)
{
	struct policy_load_opts o = {.today_set = true, .today_days = day(variant_today)};
	struct policy_diag d;
	char *text = slurp(DEMO, NULL);
	int rc;

	assert_non_null(text);
	for (size_t i = 0; pairs && pairs[i]; i += 2) {
		const char *from = pairs[i], *to = pairs[i + 1];
		char *at = strstr(text, from), *next;
		size_t n;

		assert_non_null(at);
		n = strlen(text) + strlen(to) + 1;
		next = xmalloc(n);
		snprintf(next, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
		free(text);
		text = next;
	}
	policy_diag_init(&d);
	rc = policy_load_buffer(DEMO, text, strlen(text), &o, out, &d);
	*diag_out = diag_text(&d);
	policy_diag_fini(&d);
	free(text);
	return rc;
}

static int load_demo_variant(const char *from, const char *to, struct policy **out, char **diag_out)
{
	const char *pairs[] = {from, to, NULL};

	return load_demo_pairs(from ? pairs : NULL, out, diag_out);
}

static void expect_variant_error(const char *from, const char *to, const char *expected)
{
	struct policy *p = NULL;
	char *diag = NULL;
	int rc = load_demo_variant(from, to, &p, &diag);

	if (strcmp(diag, expected) != 0)
		print_error("variant %s -> %s\n got: %s\nwant: %s\n", from, to, diag, expected);
	assert_string_equal(diag, expected);
	assert_int_equal(rc, -EINVAL);
	assert_null(p);
	free(diag);
}

static void expect_variant_ok(const char *from, const char *to, struct policy **keep)
{
	struct policy *p = NULL;
	char *diag = NULL;
	int rc = load_demo_variant(from, to, &p, &diag);

	if (rc != 0)
		print_error("variant %s -> %s failed:\n%s", from, to, diag);
	assert_int_equal(rc, 0);
	assert_non_null(p);
	free(diag);
	if (keep)
		*keep = p;
	else
		policy_unref(p);
}

static void test_demo_loads(void **state)
{
	struct policy_load_opts o = opts_today();
	struct policy_diag d;
	struct policy *p = NULL;
	char summary[256], cwd[4096];
	const struct policy_route *r;

	(void)state;
	policy_diag_init(&d);
	assert_int_equal(policy_load(DEMO, &o, &p, &d), 0);
	assert_non_null(p);
	assert_int_equal(d.n_errors, 0);
	assert_int_equal(d.n_warnings, 0);
	assert_int_equal(d.n_notes, 1);
	assert_string_equal(d.v[0].text,
			    "note: policies/sites/demo.yaml:37:15: services[1].approval: expires 2026-12-10, in 17 days (CIC-2026-042)");
	policy_diag_fini(&d);

	assert_int_equal(p->version, 1);
	assert_string_equal(p->site.id, "demo-general");
	assert_string_equal(p->site.name, "Demo General Hospital");
	assert_int_equal(p->site.ehr, POLICY_EHR_EPIC);
	assert_int_equal(p->site.env, POLICY_ENV_STAGING);
	assert_string_equal(p->ingress.listen.text, "127.0.0.1:8710");
	assert_string_equal(p->ingress.listen.host, "127.0.0.1");
	assert_int_equal(p->ingress.listen.port, 8710);
	assert_true(p->ingress.listen.loopback);
	assert_string_equal(p->ingress.public_base_url, "http://127.0.0.1:8710");
	assert_string_equal(p->ingress.upstream, "http://127.0.0.1:8720");
	assert_int_equal(p->ingress.deadline_ms, 2000);
	assert_int_equal(p->ingress.on_deadline, POLICY_ON_DEADLINE_EMPTY_CARDS);
	assert_int_equal(p->ingress.card_policy, POLICY_CARDS_ENFORCE);
	assert_int_equal(p->ingress.max_body_bytes, 4194304);
	assert_null(p->ingress.tls_cert);
	assert_int_equal(p->ingress.workers, 2); /* default */
	assert_int_equal(p->ingress.n_clients, 1);
	assert_string_equal(p->ingress.clients[0].iss, "https://ehr.demo.example");
	assert_int_equal(p->ingress.clients[0].algs, POLICY_ALG_ES384 | POLICY_ALG_RS384);
	assert_int_equal(p->ingress.clients[0].max_token_lifetime_s, 900);
	assert_int_equal(p->ingress.clients[0].jku_allow.n, 0);
	assert_null(p->ingress.clients[0].jwks_url);
	assert_true(p->admin.enabled);
	assert_int_equal(p->admin.listen.port, 8712);
	assert_int_equal(p->n_services, 2);
	assert_true(p->fhir.enabled);
	assert_string_equal(p->fhir.base, "https://ehr.demo.example/fhir/R4");
	assert_int_equal(p->fhir.read.n, 5);
	assert_int_equal(p->fhir.n_writes, 1);
	assert_string_equal(p->fhir.writes[0].type, "DocumentReference");
	assert_string_equal(p->egress.listen.text, "127.0.0.1:8711");
	assert_int_equal(p->egress.n_routes, 5);
	assert_string_equal(p->egress.routes[4].name, "fhir");
	assert_true(p->egress.routes[4].is_fhir);
	assert_string_equal(p->egress.routes[4].url, "https://ehr.demo.example/fhir/R4");
	r = policy_find_route(p, "llm");
	assert_non_null(r);
	assert_true(r->baa);
	assert_int_equal(r->phi, POLICY_PHI_ALLOW);
	assert_int_equal(r->methods, POLICY_METHOD_POST);
	assert_true(r->has_approval);
	assert_string_equal(r->approval.reference, "BAA-2026-007");
	r = policy_find_route(p, "translate");
	assert_false(r->baa);
	assert_int_equal(r->phi, POLICY_PHI_REDACT);
	assert_int_equal(r->methods, POLICY_METHOD_GET | POLICY_METHOD_POST); /* default */
	assert_int_equal(r->max_body_bytes, 1u << 20);
	assert_int_equal(policy_find_route(p, "analytics")->phi, POLICY_PHI_BLOCK);
	assert_int_equal(policy_find_route(p, "analytics")->phi_allow_types, 0);
	r = policy_find_route(p, "quality");
	assert_int_equal(r->phi, POLICY_PHI_BLOCK);
	assert_int_equal(r->phi_allow_types, 1u << 4); /* DATE, the fifth type name */
	assert_string_equal(policy_phi_type_names[4], "DATE");
	assert_true(r->has_approval);
	assert_int_equal(p->phi.date_exempt_keys.n, 1);
	assert_string_equal(p->phi.date_exempt_keys.v[0], "lastUpdated");
	assert_int_equal(p->phi.mrn_patterns.n, 1);
	assert_string_equal(p->phi.mrn_patterns.v[0], "MRN[0-9]{8}");
	assert_int_equal(p->phi.member_id_patterns.n, 0);
	assert_int_equal(p->audit.fsync, POLICY_FSYNC_ALWAYS);
	assert_int_equal(p->audit.on_failure, POLICY_ON_FAILURE_DENY);

	/* Relative paths: resolved against policies/sites/, absolute, no "..". */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	{
		char want[8192];

		snprintf(want, sizeof(want), "%s/var/audit/demo-general", cwd);
		assert_string_equal(p->audit.dir, want);
		snprintf(want, sizeof(want), "%s/policies/keys/demo-reviewer.pub", cwd);
		assert_string_equal(p->audit.reviewer_public_key, want);
		snprintf(want, sizeof(want), "%s/policies/keys/demo-ehr.jwks.json", cwd);
		assert_string_equal(p->ingress.clients[0].jwks_file, want);
		snprintf(want, sizeof(want), "%s/policies/sites/demo.yaml", cwd);
		assert_string_equal(p->path, want);
	}

	policy_summary(p, day("2026-11-23"), summary, sizeof(summary));
	assert_string_equal(summary, "policy OK: demo-general, 2 services, 5 egress routes, 1 approval expiring within 30 days");
	/* A month later the note-drafter approval has expired. */
	policy_summary(p, day("2026-12-23"), summary, sizeof(summary));
	assert_string_equal(summary,
			    "policy OK: demo-general, 2 services, 5 egress routes, 0 approvals expiring within 30 days, 1 expired approval");
	policy_unref(p);
}

static void test_demo_decisions(void **state)
{
	struct policy *p = NULL;
	const struct policy_service *s, *nd;
	int64_t today = day("2026-11-23");

	(void)state;
	expect_variant_ok(NULL, NULL, &p);
	s = policy_find_service(p, "sepsis-risk");
	nd = policy_find_service(p, "note-drafter");
	assert_non_null(s);
	assert_non_null(nd);
	assert_null(policy_find_service(p, "Sepsis-Risk"));
	assert_null(policy_find_service(p, NULL));
	assert_true(policy_service_allows_hook(s, "patient-view"));
	assert_true(policy_service_allows_hook(s, "order-select"));
	assert_false(policy_service_allows_hook(s, "order-sign"));
	assert_false(policy_service_allows_hook(nd, "patient-view"));
	assert_false(policy_service_allows_hook(NULL, "patient-view"));
	assert_true(policy_service_allows_prefetch(s, "Observation"));
	assert_false(policy_service_allows_prefetch(s, "MedicationRequest"));
	assert_true(policy_service_allows_action(s, POLICY_ACTION_CREATE, "ServiceRequest"));
	assert_false(policy_service_allows_action(s, POLICY_ACTION_UPDATE, "ServiceRequest"));
	assert_false(policy_service_allows_action(s, POLICY_ACTION_DELETE, "ServiceRequest"));
	assert_false(policy_service_allows_action(nd, POLICY_ACTION_CREATE, "ServiceRequest"));
	assert_true(policy_service_allows_smart_link(s, "https://apps.demo.example/sepsis/launch"));
	assert_true(policy_service_allows_smart_link(s, "https://apps.demo.example/sepsis/launch?launch=1&iss=x"));
	assert_false(policy_service_allows_smart_link(s, "https://apps.demo.example/sepsis/launchpad"));
	assert_false(policy_service_allows_smart_link(s, "https://apps.demo.example/sepsis/launch/../evil"));
	assert_false(policy_service_allows_smart_link(s, "https://apps.demo.example/sepsis"));
	assert_true(policy_read_approved(p, "Encounter"));
	assert_false(policy_read_approved(p, "DocumentReference"));
	assert_non_null(policy_find_write(p, "DocumentReference"));
	assert_null(policy_find_write(p, "Observation"));
	assert_true(policy_write_approved(p, "DocumentReference", today));
	assert_false(policy_write_approved(p, "DocumentReference", day("2027-10-02")));
	assert_false(policy_write_approved(p, "DocumentReference", day("2026-09-30")));
	assert_true(policy_approval_active(&s->approval, today));
	assert_true(policy_service_active(s, today));
	assert_true(policy_service_active(nd, day("2026-12-10")));
	assert_false(policy_service_active(nd, day("2026-12-11")));
	assert_false(policy_service_active(NULL, today));
	assert_true(policy_approval_active(&nd->approval, day("2026-12-10")));
	assert_false(policy_approval_active(&nd->approval, day("2026-12-11")));
	assert_true(policy_route_active(policy_find_route(p, "llm"), today));
	assert_false(policy_route_active(policy_find_route(p, "llm"), day("2027-10-02")));
	assert_true(policy_route_active(policy_find_route(p, "translate"), day("2099-01-01"))); /* no approval */
	assert_false(policy_route_active(NULL, today));
	assert_null(policy_find_route(p, "healthz"));
	assert_non_null(policy_find_client(p, "https://ehr.demo.example"));
	assert_null(policy_find_client(p, "https://ehr.demo.example/"));
	assert_false(policy_client_allows_jku(policy_find_client(p, "https://ehr.demo.example"),
					      "https://ehr.demo.example/jwks"));
	assert_string_equal(policy_ehr_name(p->site.ehr), "epic");
	assert_string_equal(policy_env_name(p->site.env), "staging");
	assert_string_equal(policy_phi_action_name(POLICY_PHI_REDACT), "redact");
	policy_unref(p);
}

static void test_approval_boundaries(void **state)
{
	struct policy_approval a = {.approved_by = "CIC", .reference = "R", .granted_days = 100, .expires_days = 200};
	struct policy *p = NULL;
	char *diag = NULL;
	const struct policy_service *s;

	(void)state;
	assert_int_equal(policy_approval_state(&a, 99), POLICY_APPROVAL_NOT_YET);
	assert_int_equal(policy_approval_state(&a, 100), POLICY_APPROVAL_ACTIVE);
	assert_int_equal(policy_approval_state(&a, 200), POLICY_APPROVAL_ACTIVE);
	assert_int_equal(policy_approval_state(&a, 201), POLICY_APPROVAL_EXPIRED);
	assert_false(policy_approval_active(&a, 99));
	assert_true(policy_approval_active(&a, 100));
	assert_true(policy_approval_active(&a, 200));
	assert_false(policy_approval_active(&a, 201));
	assert_false(policy_approval_active(NULL, 150));

	/* Through the loader, today = 2026-11-23: expires today -> active (note); expired
	 * yesterday -> inactive (warning), and the policy still loads. */
	variant_today = "2026-11-23";
	assert_int_equal(load_demo_variant("reference: CIC-2026-042,\n               granted: 2026-10-01, expires: 2026-12-10",
					   "reference: CIC-2026-042,\n               granted: 2026-10-01, expires: 2026-11-23", &p, &diag),
			 0);
	assert_string_equal(diag, "note: policies/sites/demo.yaml:37:15: services[1].approval: expires 2026-11-23, today (CIC-2026-042)\n");
	s = policy_find_service(p, "note-drafter");
	assert_true(policy_approval_active(&s->approval, day("2026-11-23")));
	assert_false(policy_approval_active(&s->approval, day("2026-11-24")));
	policy_unref(p);
	free(diag);

	assert_int_equal(load_demo_variant("reference: CIC-2026-042,\n               granted: 2026-10-01, expires: 2026-12-10",
					   "reference: CIC-2026-042,\n               granted: 2026-10-01, expires: 2026-11-22", &p, &diag),
			 0);
	assert_string_equal(diag, "warning: policies/sites/demo.yaml:37:15: services[1].approval: expired 2026-11-22 (CIC-2026-042)\n");
	s = policy_find_service(p, "note-drafter");
	assert_false(policy_approval_active(&s->approval, day("2026-11-23")));
	policy_unref(p);
	free(diag);
	variant_today = "2026-10-15";

	/* expires == granted is not "after" */
	expect_variant_error("granted: 2026-10-01, expires: 2026-12-10", "granted: 2026-12-10, expires: 2026-12-10",
			     "policies/sites/demo.yaml:38:46: services[1].approval.expires: expires 2026-12-10 is not after granted 2026-12-10\n");
	/* 2027 is not a leap year */
	expect_variant_error("granted: 2026-10-01, expires: 2026-12-10", "granted: 2026-10-01, expires: 2027-02-29",
			     "policies/sites/demo.yaml:38:46: services[1].approval.expires: malformed date \"2027-02-29\" (expected YYYY-MM-DD)\n");
	expect_variant_ok("granted: 2026-10-01, expires: 2026-12-10", "granted: 2026-10-01, expires: 2028-02-29", NULL);
	expect_variant_error("granted: 2026-10-01, expires: 2026-12-10", "granted: 2026-10-01, expires: 2026-12-1",
			     "policies/sites/demo.yaml:38:46: services[1].approval.expires: malformed date \"2026-12-1\" (expected YYYY-MM-DD)\n");
}

/* Every bad fixture produces exactly its .expect text. Driven by the directory listing. */
static void test_bad_fixtures(void **state)
{
	struct policy_load_opts o = opts_today();
	struct dirent **ents;
	int n, cases = 0;

	(void)state;
	n = scandir(BAD_DIR, &ents, NULL, alphasort);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		char path[512], exp_path[512];
		size_t len = strlen(ents[i]->d_name);
		struct policy_diag d;
		struct policy *p = (struct policy *)1;
		char *want, *got;
		int rc;

		if (len < 6 || strcmp(ents[i]->d_name + len - 5, ".yaml") != 0) {
			free(ents[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", BAD_DIR, ents[i]->d_name);
		snprintf(exp_path, sizeof(exp_path), "%s/%.*s.expect", BAD_DIR, (int)(len - 5), ents[i]->d_name);
		free(ents[i]);
		want = slurp(exp_path, NULL);
		if (want == NULL)
			fail_msg("%s has no .expect file", path);
		policy_diag_init(&d);
		rc = policy_load(path, &o, &p, &d);
		got = diag_text(&d);
		if (strcmp(got, want) != 0 || rc == 0)
			print_error("%s (rc %d)\n got: %s\nwant: %s\n", path, rc, got, want);
		assert_int_not_equal(rc, 0);
		assert_null(p);
		assert_true(d.n_errors >= 1);
		assert_string_equal(got, want);
		/* The same bytes from memory give the same answer. */
		{
			size_t blen;
			char *buf = slurp(path, &blen);
			struct policy_diag d2;
			char *got2;

			policy_diag_init(&d2);
			assert_int_not_equal(policy_load_buffer(path, buf, blen, &o, &p, &d2), 0);
			got2 = diag_text(&d2);
			assert_string_equal(got2, want);
			free(got2);
			free(buf);
			policy_diag_fini(&d2);
		}
		free(got);
		free(want);
		policy_diag_fini(&d);
		cases++;
	}
	free(ents);
	print_message("bad fixtures checked: %d\n", cases);
	assert_true(cases >= 30);
}

static void test_good_fixtures(void **state)
{
	struct policy_load_opts o = opts_today();
	struct dirent **ents;
	int n, cases = 0;

	(void)state;
	n = scandir(GOOD_DIR, &ents, NULL, alphasort);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		char path[512], exp_path[512], sum_path[512], summary[512];
		size_t len = strlen(ents[i]->d_name);
		struct policy_diag d;
		struct policy *p = NULL;
		char *want, *want_sum, *got;

		if (len < 6 || strcmp(ents[i]->d_name + len - 5, ".yaml") != 0) {
			free(ents[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", GOOD_DIR, ents[i]->d_name);
		snprintf(exp_path, sizeof(exp_path), "%s/%.*s.expect", GOOD_DIR, (int)(len - 5), ents[i]->d_name);
		snprintf(sum_path, sizeof(sum_path), "%s/%.*s.summary", GOOD_DIR, (int)(len - 5), ents[i]->d_name);
		free(ents[i]);
		want = slurp(exp_path, NULL);
		want_sum = slurp(sum_path, NULL);
		assert_non_null(want);
		assert_non_null(want_sum);
		policy_diag_init(&d);
		if (policy_load(path, &o, &p, &d) != 0) {
			got = diag_text(&d);
			fail_msg("%s failed to load:\n%s", path, got);
		}
		got = diag_text(&d);
		assert_string_equal(got, want);
		policy_summary(p, o.today_days, summary, sizeof(summary) - 1);
		summary[strlen(summary) + 1] = '\0';
		summary[strlen(summary)] = '\n';
		assert_string_equal(summary, want_sum);
		policy_unref(p);
		policy_diag_fini(&d);
		free(got);
		free(want);
		free(want_sum);
		cases++;
	}
	free(ents);
	assert_true(cases >= 3);
}

static void test_good_fixture_values(void **state)
{
	struct policy_load_opts o = opts_today();
	struct policy_diag d;
	struct policy *p = NULL;
	const struct policy_service *s;

	(void)state;
	policy_diag_init(&d);
	assert_int_equal(policy_load(GOOD_DIR "/production-https.yaml", &o, &p, &d), 0);
	assert_int_equal(p->site.env, POLICY_ENV_PRODUCTION);
	assert_int_equal(p->site.ehr, POLICY_EHR_ORACLE_HEALTH);
	assert_string_equal(p->ingress.public_base_url, "https://cds.st-example.example"); /* trailing / gone */
	assert_false(p->ingress.listen.loopback);
	assert_non_null(p->ingress.tls_cert);
	assert_non_null(strstr(p->ingress.tls_key, "/fixtures/policies/good/certs/ingress-test.key"));
	assert_int_equal(p->ingress.clients[0].algs, POLICY_ALG_RS384);
	assert_string_equal(p->ingress.clients[0].jwks_url, "https://authorization.ehr.example/jwk");
	assert_null(p->ingress.clients[0].jwks_file);
	assert_true(policy_client_allows_jku(&p->ingress.clients[0], "https://authorization.ehr.example/jwk"));
	assert_string_equal(p->admin.listen.host, "::1");
	assert_int_equal(p->admin.listen.port, 9100);
	assert_string_equal(p->egress.listen.host, "localhost");
	assert_true(p->egress.listen.loopback);
	s = policy_find_service(p, "readmission-risk");
	assert_true(policy_service_allows_hook(s, "org.st-example.discharge-planning"));
	assert_true(policy_service_allows_action(s, POLICY_ACTION_UPDATE, "Task"));
	assert_int_equal(p->audit.fsync, POLICY_FSYNC_BATCH);
	assert_int_equal(p->audit.batch_max_delay_ms, 5);
	assert_string_equal(p->audit.dir, "/var/lib/ehrgate/audit/st-example-prod");
	assert_int_equal(policy_find_route(p, "fhir")->timeout_ms, 10000);
	assert_int_equal(policy_find_route(p, "search")->methods, POLICY_METHOD_GET);
	assert_int_equal(p->phi.member_id_patterns.n, 1);
	policy_unref(p);
	policy_diag_fini(&d);

	policy_diag_init(&d);
	assert_int_equal(policy_load(GOOD_DIR "/read-only.yaml", &o, &p, &d), 0);
	assert_false(p->admin.enabled);
	assert_int_equal(p->fhir.n_writes, 0);
	assert_false(policy_write_approved(p, "DocumentReference", o.today_days));
	assert_true(policy_read_approved(p, "AllergyIntolerance"));
	assert_int_equal(p->ingress.deadline_ms, 2000);   /* default */
	assert_int_equal(p->ingress.clients[0].max_token_lifetime_s, 300); /* default */
	assert_int_equal(p->ingress.clients[0].algs, POLICY_ALG_ES384 | POLICY_ALG_RS384);
	assert_int_equal(p->audit.fsync, POLICY_FSYNC_ALWAYS);
	policy_unref(p);
	policy_diag_fini(&d);
}

/* The 256 KiB limit: max loads, max+1 is refused with the size named (file and buffer). */
static void test_size_limit(void **state)
{
	struct policy_load_opts o = opts_today();
	size_t dlen, max = POLICY_MAX_FILE_BYTES;
	char *demo = slurp(DEMO, &dlen), *buf, tmpl[] = "/tmp/ehrgate-policy-XXXXXX";
	struct policy_diag d;
	struct policy *p = NULL;
	char *got, want[512];
	FILE *f;
	int fd;

	(void)state;
	buf = xmalloc(max + 2);
	memcpy(buf, demo, dlen);
	/* max - 1 */
	buf[dlen] = '#';
	memset(buf + dlen + 1, 'x', max - dlen - 3);
	buf[max - 2] = '\n';
	policy_diag_init(&d);
	assert_int_equal(policy_load_buffer(DEMO, buf, max - 1, &o, &p, &d), 0);
	policy_unref(p);
	policy_diag_fini(&d);
	/* Pad with a comment: "#xxxx...\n" up to exactly max bytes. */
	buf[dlen] = '#';
	memset(buf + dlen + 1, 'x', max - dlen - 2);
	buf[max - 1] = '\n';
	policy_diag_init(&d);
	assert_int_equal(policy_load_buffer(DEMO, buf, max, &o, &p, &d), 0);
	assert_int_equal(d.n_errors, 0);
	policy_unref(p);
	policy_diag_fini(&d);

	buf[max - 1] = 'x';
	buf[max] = '\n';
	policy_diag_init(&d);
	assert_int_equal(policy_load_buffer(DEMO, buf, max + 1, &o, &p, &d), -E2BIG);
	assert_null(p);
	got = diag_text(&d);
	assert_string_equal(got, "policies/sites/demo.yaml: policy file is 262145 bytes; the limit is 262144 bytes (256 KiB)\n");
	free(got);
	policy_diag_fini(&d);

	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	f = fdopen(fd, "wb");
	assert_int_equal(fwrite(buf, 1, max + 1, f), max + 1);
	fclose(f);
	policy_diag_init(&d);
	assert_int_equal(policy_load(tmpl, &o, &p, &d), -E2BIG);
	got = diag_text(&d);
	snprintf(want, sizeof(want), "%s: policy file is 262145 bytes; the limit is 262144 bytes (256 KiB)\n", tmpl);
	assert_string_equal(got, want);
	free(got);
	policy_diag_fini(&d);
	unlink(tmpl);

	policy_diag_init(&d);
	assert_int_equal(policy_load("fixtures/policies/no-such-policy.yaml", &o, &p, &d), -ENOENT);
	got = diag_text(&d);
	assert_string_equal(got, "fixtures/policies/no-such-policy.yaml: cannot read: No such file or directory\n");
	free(got);
	policy_diag_fini(&d);
	free(buf);
	free(demo);
}

static void test_variants(void **state)
{
	struct policy *p = NULL;

	(void)state;
	/* deadline_ms boundaries 100..10000 */
	expect_variant_ok("deadline_ms: 2000", "deadline_ms: 100", NULL);
	expect_variant_ok("deadline_ms: 2000", "deadline_ms: 10000", NULL);
	expect_variant_error("deadline_ms: 2000", "deadline_ms: 99",
			     "policies/sites/demo.yaml:14:16: ingress.deadline_ms: 99 is out of range (100..10000)\n");
	expect_variant_error("deadline_ms: 2000", "deadline_ms: 10001",
			     "policies/sites/demo.yaml:14:16: ingress.deadline_ms: 10001 is out of range (100..10000)\n");
	expect_variant_error("deadline_ms: 2000", "deadline_ms: \"2000\"",
			     "policies/sites/demo.yaml:14:16: ingress.deadline_ms: expected an integer, got a string\n");
	expect_variant_error("deadline_ms: 2000", "deadline_ms: 99999999999999999999",
			     "policies/sites/demo.yaml:14:16: ingress.deadline_ms: 99999999999999999999 is out of range (100..10000)\n");
	/* token lifetime: 3600 is the ceiling (research/cds-hooks.md check 35) */
	expect_variant_ok("max_token_lifetime_s: 900", "max_token_lifetime_s: 3600", NULL);
	expect_variant_error("max_token_lifetime_s: 900", "max_token_lifetime_s: 3601",
			     "policies/sites/demo.yaml:23:29: ingress.clients[0].max_token_lifetime_s: 3601 is out of range (1..3600)\n");
	/* org-specific hooks */
	expect_variant_ok("hooks: [patient-view, order-select]", "hooks: [patient-view, org.example.sepsis-alert]", NULL);
	expect_variant_error("hooks: [patient-view, order-select]", "hooks: [org..example]",
			     "policies/sites/demo.yaml:28:13: services[0].hooks[0]: invalid hook name \"org..example\" (org-specific hooks are lowercase reverse-domain names such as org.example.my-hook)\n");
	expect_variant_error("hooks: [patient-view, order-select]", "hooks: []",
			     "policies/sites/demo.yaml:28:12: services[0].hooks: must list at least one hook\n");
	expect_variant_error("hooks: [patient-view, order-select]", "hooks: [patient-view, patient-view]",
			     "policies/sites/demo.yaml:28:27: services[0].hooks[1]: duplicate entry \"patient-view\" (first at 28:13)\n");
	/* listeners */
	expect_variant_ok("listen: 127.0.0.1:8711", "listen: \"[::1]:8711\"", NULL);
	expect_variant_ok("listen: 127.0.0.1:8711", "listen: 127.0.0.2:0", NULL);
	expect_variant_error("listen: 127.0.0.1:8711", "listen: 10.1.2.3:8711",
			     "policies/sites/demo.yaml:47:11: egress.listen: must be a loopback address (127.0.0.0/8, [::1] or localhost): the AI service talks to egress in plain HTTP\n");
	expect_variant_error("listen: 127.0.0.1:8711", "listen: egress.local:8711",
			     "policies/sites/demo.yaml:47:11: egress.listen: invalid address \"egress.local:8711\" (expected HOST:PORT with an IP address or localhost, e.g. 127.0.0.1:8710)\n");
	expect_variant_error("listen: 127.0.0.1:8711", "listen: 127.0.0.1:65536",
			     "policies/sites/demo.yaml:47:11: egress.listen: port in \"127.0.0.1:65536\" is out of range (0..65535)\n");
	/* URLs */
	expect_variant_ok("url: https://llm.demo.example/v1", "url: https://llm.demo.example:8443/v1/", &p);
	assert_string_equal(policy_find_route(p, "llm")->url, "https://llm.demo.example:8443/v1");
	policy_unref(p);
	expect_variant_ok("url: https://llm.demo.example/v1", "url: \"http://[::1]:9000\"", NULL);
	expect_variant_error("url: https://llm.demo.example/v1", "url: https://llm.demo.example/v1#frag",
			     "policies/sites/demo.yaml:50:12: egress.routes[0].url: invalid URL \"https://llm.demo.example/v1#frag\": fragments (#...) are not allowed\n");
	expect_variant_error("url: https://llm.demo.example/v1", "url: https://llm.demo.example:0/v1",
			     "policies/sites/demo.yaml:50:12: egress.routes[0].url: invalid URL \"https://llm.demo.example:0/v1\": port is out of range (1..65535)\n");
	expect_variant_error("url: https://llm.demo.example/v1", "url: https://llm.demo.example/v1?x=1",
			     "policies/sites/demo.yaml:50:12: egress.routes[0].url: invalid URL \"https://llm.demo.example/v1?x=1\": a base URL must not have a query (?...)\n");
	expect_variant_error("url: https://llm.demo.example/v1", "url: ftp://llm.demo.example/v1",
			     "policies/sites/demo.yaml:50:12: egress.routes[0].url: invalid URL \"ftp://llm.demo.example/v1\": scheme must be http or https\n");
	expect_variant_error("url: https://llm.demo.example/v1", "url: https://llm demo/v1",
			     "policies/sites/demo.yaml:50:12: egress.routes[0].url: invalid URL \"https://llm demo/v1\": contains a space or control character\n");
	/* paths under a route's URL (issue 6: methods, paths and bodies are limited per route) */
	expect_variant_ok("paths: [/chat/completions, /embeddings]", "paths: [/]", NULL);
	expect_variant_ok("paths: [/chat/completions, /embeddings]", "paths: ['/v1/models:list', /a%20b/]", NULL);
	expect_variant_error("paths: [/chat/completions, /embeddings]", "paths: [chat/completions]",
			     "policies/sites/demo.yaml:54:15: egress.routes[0].paths[0]: must be a path starting with '/' (at most 256 bytes), e.g. /v1/chat/completions\n");
	expect_variant_error("paths: [/chat/completions, /embeddings]", "paths: [/chat/../admin]",
			     "policies/sites/demo.yaml:54:15: egress.routes[0].paths[0]: invalid path \"/chat/../admin\": empty or dot segments (\"//\", \"/./\", \"/../\") are not allowed\n");
	expect_variant_error("paths: [/chat/completions, /embeddings]", "paths: ['/chat/%2E%2E']",
			     "policies/sites/demo.yaml:54:15: egress.routes[0].paths[0]: invalid path \"/chat/%2E%2E\": empty or dot segments (\"//\", \"/./\", \"/../\") are not allowed\n");
	expect_variant_error("paths: [/chat/completions, /embeddings]", "paths: ['/chat%2Fx']",
			     "policies/sites/demo.yaml:54:15: egress.routes[0].paths[0]: invalid path \"/chat%2Fx\": an encoded '/' or '\\' (%2F, %5C) is refused in requests\n");
	expect_variant_error("paths: [/chat/completions, /embeddings]", "paths: [/chat//x]",
			     "policies/sites/demo.yaml:54:15: egress.routes[0].paths[0]: invalid path \"/chat//x\": empty or dot segments (\"//\", \"/./\", \"/../\") are not allowed\n");
	expect_variant_error("paths: [/chat/completions, /embeddings]", "paths: ['/chat?x=1']",
			     "policies/sites/demo.yaml:54:15: egress.routes[0].paths[0]: invalid path \"/chat?x=1\": only RFC 3986 path characters (no '?', '#', spaces or '\\')\n");
	expect_variant_error("paths: [/chat/completions, /embeddings]", "paths: []",
			     "policies/sites/demo.yaml:54:14: egress.routes[0].paths: must list at least one path (leave paths out to allow any path)\n");
	expect_variant_error("paths: [/chat/completions, /embeddings]", "paths: /chat",
			     "policies/sites/demo.yaml:54:14: egress.routes[0].paths: expected a list, got a string\n");
	/* production: loopback http is fine (the demo's ingress and upstream are loopback) */
	expect_variant_ok("environment: staging", "environment: production", NULL);
}

/* policy_route_path_ok: listed prefixes by whole segments, never a dot segment. */
static void test_route_paths(void **state)
{
	struct policy *p = NULL;
	const struct policy_route *llm, *tr;

	(void)state;
	expect_variant_ok(NULL, NULL, &p);
	llm = policy_find_route(p, "llm");
	tr = policy_find_route(p, "translate");
	assert_int_equal(llm->paths.n, 2);
	assert_true(policy_route_path_ok(llm, "/chat/completions"));
	assert_true(policy_route_path_ok(llm, "/chat/completions/x"));
	assert_true(policy_route_path_ok(llm, "/embeddings"));
	assert_false(policy_route_path_ok(llm, "/chat/completionsx"));
	assert_false(policy_route_path_ok(llm, "/chat"));
	assert_false(policy_route_path_ok(llm, ""));
	assert_false(policy_route_path_ok(llm, "/"));
	assert_false(policy_route_path_ok(llm, "/files"));
	assert_false(policy_route_path_ok(llm, "/chat/completions/../../files"));
	assert_false(policy_route_path_ok(llm, "/chat/completions/%2e%2E/x"));
	assert_false(policy_route_path_ok(llm, "/chat/completions/."));
	assert_false(policy_route_path_ok(llm, "/chat/completions/..%2Ffiles"));
	assert_false(policy_route_path_ok(llm, "/chat/completions/..%5cfiles"));
	assert_false(policy_route_path_ok(llm, "/chat/completions/..\\files"));
	/* no paths: any path, still no dot segment */
	assert_int_equal(tr->paths.n, 0);
	assert_true(policy_route_path_ok(tr, ""));
	assert_true(policy_route_path_ok(tr, "/anything/at/all"));
	assert_true(policy_route_path_ok(tr, "/a.b/..c/.d"));
	assert_false(policy_route_path_ok(tr, "/a/../b"));
	assert_false(policy_route_path_ok(tr, "/a/./b"));
	assert_false(policy_route_path_ok(tr, "/.%2e"));
	assert_false(policy_route_path_ok(NULL, "/x"));
	policy_unref(p);
}

static void test_production_rules(void **state)
{
	struct policy *p = NULL;
	char *diag = NULL;
	const char *remote_http[] = {
		"environment: staging", "environment: production",
		"base: https://ehr.demo.example/fhir/R4", "base: http://ehr.demo.example/fhir/R4",
		"smart_links: [https://apps.demo.example/sepsis/launch]", "smart_links: [http://apps.demo.example/sepsis/launch]",
		"url: https://translate.demo.example/v2", "url: http://localhost:9999/v2",
		NULL,
	};

	(void)state;
	/* Staging: a plain-http FHIR base on a remote host is allowed. */
	assert_int_equal(load_demo_pairs(remote_http + 2, &p, &diag), 0);
	policy_unref(p);
	free(diag);
	/* Production: refused for the FHIR base and the SMART link; loopback http stays allowed. */
	assert_int_equal(load_demo_pairs(remote_http, &p, &diag), -EINVAL);
	assert_string_equal(diag,
			    "policies/sites/demo.yaml:31:19: services[0].smart_links[0]: \"http://apps.demo.example/sepsis/launch\" uses http:// in production; use https:// (plain http is only allowed to loopback hosts)\n"
			    "policies/sites/demo.yaml:40:9: fhir.base: \"http://ehr.demo.example/fhir/R4\" uses http:// in production; use https:// (plain http is only allowed to loopback hosts)\n");
	assert_null(p);
	free(diag);
}

static void test_string_and_error_limits(void **state)
{
	struct policy_load_opts o = opts_today();
	struct policy_diag d;
	struct policy *p = NULL;
	char *buf, *got;
	size_t o2 = 0, cap = 200000;

	(void)state;
	/* 150 unknown top-level keys: 100 errors, then one "too many errors" line. */
	buf = xmalloc(cap);
	o2 += (size_t)snprintf(buf, cap, "version: 1\n");
	for (int i = 0; i < 150; i++)
		o2 += (size_t)snprintf(buf + o2, cap - o2, "k%03d: 1\n", i);
	policy_diag_init(&d);
	assert_int_equal(policy_load_buffer("many.yaml", buf, o2, &o, &p, &d), -EINVAL);
	assert_int_equal(d.n_errors, POLICY_MAX_ERRORS + 1);
	assert_string_equal(d.v[d.n - 1].text, "many.yaml: too many errors; stopped after 100");
	/* Reporting stopped inside the unknown-key pass: the first 100 unknown keys, in order. */
	assert_string_equal(d.v[0].text,
			    "many.yaml:2:1: k000: unknown key (expected one of: version, site, ingress, admin, services, fhir, egress, phi, audit)");
	assert_non_null(strstr(d.v[99].text, "many.yaml:101:1: k099: unknown key"));
	policy_diag_fini(&d);

	/* A 5000-byte site name is refused by the 4096-byte scalar limit. */
	o2 = (size_t)snprintf(buf, cap, "version: 1\nsite:\n  name: ");
	memset(buf + o2, 'n', 5000);
	o2 += 5000;
	o2 += (size_t)snprintf(buf + o2, cap - o2, "\n");
	policy_diag_init(&d);
	assert_int_equal(policy_load_buffer("long.yaml", buf, o2, &o, &p, &d), -EINVAL);
	got = diag_text(&d);
	assert_non_null(strstr(got, "long.yaml:3:9: site.name: string is 5000 bytes, longer than the 4096-byte limit\n"));
	free(got);
	policy_diag_fini(&d);
	free(buf);
}

/* Many threads take and drop references while reading; the last unref frees (ASan checks). */
struct ref_arg {
	const struct policy *p;
	int found;
};

static void *ref_worker(void *argp)
{
	struct ref_arg *a = argp;

	for (int i = 0; i < 20000; i++) {
		policy_ref(a->p);
		if (policy_service_allows_hook(policy_find_service(a->p, "sepsis-risk"), "patient-view"))
			a->found++;
		policy_unref(a->p);
	}
	return NULL;
}

static void test_refcount_threads(void **state)
{
	struct policy *p = NULL;
	pthread_t th[4];
	struct ref_arg args[4];

	(void)state;
	expect_variant_ok(NULL, NULL, &p);
	for (int i = 0; i < 4; i++) {
		args[i].p = p;
		args[i].found = 0;
		assert_int_equal(pthread_create(&th[i], NULL, ref_worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].found, 20000);
	}
	policy_ref(p);
	policy_unref(p);
	policy_unref(p); /* the last reference: frees everything */
	policy_unref(NULL);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(policy_hook_name_valid("patient-view"));
	assert_true(policy_hook_name_valid("appointment-book"));
	assert_true(policy_hook_name_valid("org.example.x"));
	assert_false(policy_hook_name_valid("patient-veiw"));
	assert_false(policy_hook_name_valid(".org.x"));
	assert_false(policy_hook_name_valid("org.x."));
	assert_false(policy_hook_name_valid("Org.Example"));
	assert_false(policy_hook_name_valid(""));
	assert_false(policy_hook_name_valid(NULL));
	assert_true(policy_fhir_type_known("Patient"));
	assert_true(policy_fhir_type_known("VisionPrescription"));
	assert_true(policy_fhir_type_known("MedicinalProductUndesirableEffect"));
	assert_false(policy_fhir_type_known("patient"));
	assert_false(policy_fhir_type_known("Resource"));      /* abstract */
	assert_false(policy_fhir_type_known("HumanName"));     /* a data type */
	assert_false(policy_fhir_type_known("NutritionIntake")); /* R5 only */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_loads),
		cmocka_unit_test(test_demo_decisions),
		cmocka_unit_test(test_approval_boundaries),
		cmocka_unit_test(test_bad_fixtures),
		cmocka_unit_test(test_good_fixtures),
		cmocka_unit_test(test_good_fixture_values),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_variants),
		cmocka_unit_test(test_route_paths),
		cmocka_unit_test(test_production_rules),
		cmocka_unit_test(test_string_and_error_limits),
		cmocka_unit_test(test_refcount_threads),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
