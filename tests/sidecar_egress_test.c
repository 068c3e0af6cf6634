/* Integration test of ehrgate-sidecar egress over loopback (issue: sidecar egress, Tests): the
 * real binary; a scripted AI-service upstream and a TLS destination (LLM / translate / analytics
 * / FHIR) in this process, with a certificate made by the openssl CLI that the sidecar must
 * verify (egress.ca_file). The "AI service" role is played by the test: it takes the
 * X-Ehrgate-Context header the sidecar added to the hook call and posts prompts to egress.
 * Patient pat-001 ("Aurelia May Zqorvath", MRN10007919) is the patient in context; pat-002
 * ("Benedikt Zqellington-Marsh") is another patient seen recently. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <openssl/ssl.h>

#include "lib/b64.h"
#include "lib/http_server.h"
#include "lib/jose.h"
#include "lib/json.h"
#include "lib/mem.h"
#include "tests/itest.h"

#define ISS "https://ehr.demo.example"
#define BASE "http://sidecar.test"

static struct {
	pthread_mutex_t mu;
	struct event_base *base;
	struct http_server *upstream, *dest;
	SSL_CTX *tls;
	pthread_t thread;
	char ctx_token[80];
	int dest_calls;
	char *dest_body;
	char dest_path[512];
} s = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void upstream_handle(struct evhttp_request *req, void *arg)
{
	const char *ctx = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Ehrgate-Context");

	(void)arg;
	pthread_mutex_lock(&s.mu);
	if (ctx)
		snprintf(s.ctx_token, sizeof(s.ctx_token), "%s", ctx);
	pthread_mutex_unlock(&s.mu);
	http_server_reply_json(req, 200, "{\"cards\":[]}", 12);
}

static void dest_handle(struct evhttp_request *req, void *arg)
{
	struct buf b;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	(void)arg;
	buf_init(&b, 1 << 20);
	if (http_server_read_body(req, &b) < 0)
		abort();
	pthread_mutex_lock(&s.mu);
	s.dest_calls++;
	free(s.dest_body);
	s.dest_body = xstrdup(b.p ? b.p : "");
	snprintf(s.dest_path, sizeof(s.dest_path), "%s", path);
	pthread_mutex_unlock(&s.mu);
	buf_fini(&b);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST && strstr(path, "/fhir/"))
		http_server_reply_json(req, 201, "{\"resourceType\":\"DocumentReference\",\"id\":\"new\"}", 48);
	else
		http_server_reply_json(req, 200, "{\"ok\":true}", 11);
}

static void *loop_main(void *arg)
{
	(void)arg;
	event_base_dispatch(s.base);
	return NULL;
}

static char *dir, policy_path[512], log_path[512], ready_path[512], audit_dir[512], keys_dir[512];
static pid_t sidecar;
static uint16_t ingress_port, egress_port, admin_port;
static EVP_PKEY *es384;

static int dest_calls(void)
{
	int n;

	pthread_mutex_lock(&s.mu);
	n = s.dest_calls;
	pthread_mutex_unlock(&s.mu);
	return n;
}

/* The last destination call's path and body, copied under the lock: tests assert on the copy,
 * so a failing assertion never leaves the lock held (the destination thread would hang). The
 * caller frees the body. */
static char *dest_last(char path[512])
{
	char *body;

	pthread_mutex_lock(&s.mu);
	snprintf(path, 512, "%s", s.dest_path);
	body = xstrdup(s.dest_body ? s.dest_body : "");
	pthread_mutex_unlock(&s.mu);
	return body;
}

static int setup(void **state)
{
	char cert[512], key[512], yaml[8192], subj_alt[] = "subjectAltName=IP:127.0.0.1";
	char *keygen[] = {(char *)itest_bin("ehrgate-audit"), "keygen", "--out", keys_dir, NULL};
	char *mkcert[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
			  "-keyout", key, "-out", cert, "-days", "2", "-nodes", "-subj", "/CN=127.0.0.1",
			  "-addext", subj_alt, NULL};
	struct http_server_opts o = {0};
	struct err e;
	uint16_t up_port, dest_port;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	dir = itest_tmpdir("egress");
	snprintf(policy_path, sizeof(policy_path), "%s/site.yaml", dir);
	snprintf(log_path, sizeof(log_path), "%s/sidecar.log", dir);
	snprintf(ready_path, sizeof(ready_path), "%s/ready.json", dir);
	snprintf(audit_dir, sizeof(audit_dir), "%s/audit", dir);
	snprintf(keys_dir, sizeof(keys_dir), "%s/keys", dir);
	snprintf(cert, sizeof(cert), "%s/dest.pem", dir);
	snprintf(key, sizeof(key), "%s/dest.key", dir);
	if (itest_run(keygen, NULL) != 0 || itest_run(mkcert, NULL) != 0)
		return -1;
	es384 = jose_load_private_pem(itest_src("fixtures/keys/demo-ehr-es384.pem"), &e);
	/* upstream (plain) and TLS destination on one loop */
	evthread_use_pthreads();
	s.base = event_base_new();
	o.listen = "127.0.0.1:0";
	s.upstream = http_server_new(s.base, &o, upstream_handle, NULL, &e);
	s.tls = SSL_CTX_new(TLS_server_method());
	if (!s.upstream || SSL_CTX_use_certificate_chain_file(s.tls, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(s.tls, key, SSL_FILETYPE_PEM) != 1)
		return -1;
	o.tls = s.tls;
	s.dest = http_server_new(s.base, &o, dest_handle, NULL, &e);
	if (!s.dest)
		return -1;
	up_port = http_server_port(s.upstream);
	dest_port = http_server_port(s.dest);
	pthread_create(&s.thread, NULL, loop_main, NULL);
	ingress_port = itest_free_port();
	egress_port = itest_free_port();
	admin_port = itest_free_port();
	snprintf(yaml, sizeof(yaml),
		 "version: 1\n"
		 "site: {id: itest-egress, name: Egress Test Hospital, ehr: epic, environment: staging}\n"
		 "ingress:\n"
		 "  listen: 127.0.0.1:%u\n"
		 "  public_base_url: " BASE "\n"
		 "  upstream: http://127.0.0.1:%u\n"
		 "  deadline_ms: 2000\n"
		 "  workers: 2\n"
		 "  clients:\n"
		 "    - {iss: " ISS ", jwks_file: %s, algorithms: [ES384], max_token_lifetime_s: 900}\n"
		 "admin: {listen: 127.0.0.1:%u}\n"
		 "services:\n"
		 "  - id: sepsis-risk\n"
		 "    hooks: [patient-view]\n"
		 "    prefetch_read: [Patient]\n"
		 "    approval: {approved_by: Test Committee, reference: T-1, granted: 2026-01-01, expires: 2099-12-31}\n"
		 "fhir:\n"
		 "  base: https://127.0.0.1:%u/fhir/R4\n"
		 "  read: [Patient, Observation]\n"
		 "  write:\n"
		 "    - type: DocumentReference\n"
		 "      approval: {approved_by: Test Committee, reference: T-2, granted: 2026-01-01, expires: 2099-12-31}\n"
		 "egress:\n"
		 "  listen: 127.0.0.1:%u\n"
		 "  ca_file: %s\n"
		 "  routes:\n"
		 "    - name: llm\n"
		 "      url: https://127.0.0.1:%u/v1\n"
		 "      baa: true\n"
		 "      phi: allow\n"
		 "      methods: [POST]\n"
		 "      approval: {approved_by: Privacy Office, reference: BAA-1, granted: 2026-01-01, expires: 2099-12-31}\n"
		 "    - {name: translate, url: 'https://127.0.0.1:%u/translate', baa: false, phi: redact, methods: [POST]}\n"
		 "    - {name: analytics, url: 'https://127.0.0.1:%u/ingest', baa: false, phi: block, methods: [POST],\n"
		 "       paths: [/events]}\n"
		 "    - name: quality\n"
		 "      url: https://127.0.0.1:%u/quality\n"
		 "      baa: false\n"
		 "      phi: block\n"
		 "      methods: [POST]\n"
		 "      phi_allow_types: [DATE]\n"
		 "      approval: {approved_by: Privacy Office, reference: PO-7, granted: 2026-01-01, expires: 2099-12-31}\n"
		 "phi:\n"
		 "  mrn_patterns: ['MRN[0-9]{8}']\n"
		 "  date_exempt_keys: [lastUpdated]\n"
		 "  url_allow: [guidelines.example.org/ckd]\n"
		 "audit: {dir: %s, reviewer_public_key: %s/reviewer.pub, signer_key: %s/signer.key,\n"
		 "        index_key: %s/index.key, fsync: batch, on_failure: deny}\n",
		 ingress_port, up_port, itest_src("policies/keys/demo-ehr.jwks.json"), admin_port, dest_port,
		 egress_port, cert, dest_port, dest_port, dest_port, dest_port, audit_dir, keys_dir, keys_dir, keys_dir);
	if (itest_write_file(policy_path, yaml) < 0)
		return -1;
	{
		char *argv[] = {(char *)itest_bin("ehrgate-sidecar"), "--site", policy_path, "--ready-file", ready_path, NULL};

		sidecar = itest_spawn(argv, log_path, 0);
		if (!itest_wait_file(ready_path, sidecar, 10000)) {
			char *l = itest_read_file(log_path, NULL);
			fprintf(stderr, "sidecar did not start:\n%s\n", l ? l : "");
			free(l);
			return -1;
		}
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (sidecar > 0)
		itest_stop(sidecar, SIGKILL, 2000);
	itest_kill_all(); /* anything a failed test left running */
	event_base_loopbreak(s.base);
	pthread_join(s.thread, NULL);
	http_server_free(s.upstream);
	http_server_free(s.dest);
	event_base_free(s.base);
	SSL_CTX_free(s.tls);
	EVP_PKEY_free(es384);
	free(s.dest_body);
	if (getenv("EHRGATE_KEEP_TMP") == NULL)
		itest_rmtree(dir);
	free(dir);
	return 0;
}

/* A patient-view call for patient pid with its Patient as prefetch; returns the context token. */
static void hook_call(const char *pid, char *token_out, size_t cap)
{
	char path[128], aud[256], url[256], *authz, *body;
	size_t len;
	char *bundle;
	struct err e;
	cJSON *b, *req, *ctx, *pre, *c;
	struct itest_resp r;
	const char *h[3];

	snprintf(path, sizeof(path), "fixtures/patients/%s.json", pid);
	bundle = itest_read_file(itest_src(path), &len);
	b = json_parse(bundle, len, NULL, &e);
	assert_non_null(b);
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "hook", "patient-view");
	cJSON_AddStringToObject(req, "hookInstance", "0f0e9d2c-3b4a-4c5d-8e6f-7a8b9c0d1e2f");
	ctx = cJSON_AddObjectToObject(req, "context");
	cJSON_AddStringToObject(ctx, "userId", "Practitioner/example");
	cJSON_AddStringToObject(ctx, "patientId", pid);
	{
		char enc[64];

		snprintf(enc, sizeof(enc), "%s-enc-1", pid);
		cJSON_AddStringToObject(ctx, "encounterId", enc);
	}
	pre = cJSON_AddObjectToObject(req, "prefetch");
	cJSON_AddItemToObject(pre, "patient",
			      cJSON_Duplicate(json_obj(cJSON_GetArrayItem(json_arr(b, "entry"), 0), "resource"), 1));
	body = cJSON_PrintUnformatted(req);
	snprintf(aud, sizeof(aud), BASE "/cds-services/sepsis-risk");
	c = itest_claims(ISS, aud);
	authz = itest_bearer(JOSE_ALG_ES384, es384, "demo-es384-1", c);
	h[0] = "Content-Type: application/json";
	h[1] = authz;
	h[2] = NULL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/cds-services/sepsis-risk", ingress_port);
	assert_int_equal(itest_http("POST", url, h, body, &r), 0);
	assert_int_equal(r.status, 200);
	itest_resp_fini(&r);
	pthread_mutex_lock(&s.mu);
	snprintf(token_out, cap, "%s", s.ctx_token);
	pthread_mutex_unlock(&s.mu);
	assert_int_equal(strlen(token_out), 32);
	cJSON_Delete(c);
	free(authz);
	cJSON_free(body);
	cJSON_Delete(req);
	cJSON_Delete(b);
	free(bundle);
}

static char token1[80], token2[80];

/* extra: one more request header ("Name: value") or NULL */
static long egress_h(const char *method, const char *path, const char *token, const char *ctype, const char *extra,
		     const char *body, struct itest_resp *r)
{
	char url[512], th[128], ch[128];
	const char *h[5];
	size_t n = 0;

	if (extra)
		h[n++] = extra;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", egress_port, path);
	if (ctype) {
		snprintf(ch, sizeof(ch), "Content-Type: %s", ctype);
		h[n++] = ch;
	}
	if (token) {
		snprintf(th, sizeof(th), "X-Ehrgate-Context: %s", token);
		h[n++] = th;
	}
	h[n] = NULL;
	assert_int_equal(itest_http(method, url, h, body, r), 0);
	return r->status;
}

static long egress(const char *method, const char *path, const char *token, const char *ctype, const char *body,
		   struct itest_resp *r)
{
	return egress_h(method, path, token, ctype, NULL, body, r);
}

/* POST a body of n bytes (NUL bytes allowed) */
static long egress_bin(const char *path, const char *token, const char *ctype, const char *body, size_t n,
		       struct itest_resp *r)
{
	char url[512], th[128], ch[128];
	const char *h[] = {ch, th, NULL};

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", egress_port, path);
	snprintf(ch, sizeof(ch), "Content-Type: %s", ctype);
	snprintf(th, sizeof(th), "X-Ehrgate-Context: %s", token);
	assert_int_equal(itest_http_n("POST", url, h, body, n, r), 0);
	return r->status;
}

static const char prompt[] =
	"{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":"
	"\"Summarise the chart of Aurelia Zqorvath (MRN10007919): lactate 4.1 mmol/L, HR 121, LOINC 2524-7.\"}]}";

static void test_hook_call_binds_context(void **state)
{
	(void)state;
	hook_call("pat-002", token2, sizeof(token2));  /* another patient, seen recently */
	hook_call("pat-001", token1, sizeof(token1));
	assert_string_not_equal(token1, token2);
}

static void test_block_route_refuses_phi(void **state)
{
	struct itest_resp r;
	int before = dest_calls();

	(void)state;
	assert_int_equal(egress("POST", "/analytics/events", token1, "application/json", prompt, &r), 403);
	assert_non_null(strstr(r.body.p, "\"reason\":\"EGRESS-PHI-BLOCK\""));
	assert_non_null(strstr(r.body.p, "\"NAME\":"));
	assert_non_null(strstr(r.body.p, "\"MRN\":"));
	assert_null(strstr(r.body.p, "Zqorvath"));      /* types and counts, never values */
	assert_null(strstr(r.body.p, "MRN10007919"));
	assert_int_equal(dest_calls(), before);
	itest_resp_fini(&r);
	/* without the context header, recently seen patients apply */
	assert_int_equal(egress("POST", "/analytics/events", NULL, "application/json", prompt, &r), 403);
	itest_resp_fini(&r);
	/* a note in base64 (a DocumentReference's attachment.data) is read as its text */
	{
		static const char note[] = "AI draft: Aurelia Zqorvath seen today, lactate 4.1 mmol/L.";
		struct buf b64;
		char body[512];
		buf_init(&b64, 1024);
		assert_int_equal(b64_encode(note, strlen(note), B64_STD, &b64), 0);
		snprintf(body, sizeof(body),
			 "{\"resourceType\":\"DocumentReference\",\"content\":[{\"attachment\":{\"contentType\":"
			 "\"text/plain\",\"data\":\"%s\"}}]}",
			 b64.p);
		assert_int_equal(egress("POST", "/analytics/events", token1, "application/json", body, &r), 403);
		assert_non_null(strstr(r.body.p, "\"NAME\":"));
		assert_null(strstr(r.body.p, b64.p));
		itest_resp_fini(&r);
		buf_fini(&b64);
	}
	/* benign clinical content passes */
	assert_int_equal(egress("POST", "/analytics/events", token1, "application/json",
				"{\"metric\":\"lactate\",\"loinc\":\"2524-7\",\"value\":4.1,\"icd10\":\"J18.9\"}", &r), 200);
	assert_int_equal(dest_calls(), before + 1);
	itest_resp_fini(&r);
}

static void test_redact_route_forwards_redacted_json(void **state)
{
	struct itest_resp r;
	struct err e;
	char path[512], *body;
	cJSON *j;

	(void)state;
	assert_int_equal(egress("POST", "/translate/v2", token1, "application/json", prompt, &r), 200);
	itest_resp_fini(&r);
	body = dest_last(path);
	assert_string_equal(path, "/translate/v2");
	assert_null(strstr(body, "Zqorvath"));
	assert_null(strstr(body, "MRN10007919"));
	assert_non_null(strstr(body, "[REDACTED:NAME]"));
	assert_non_null(strstr(body, "[REDACTED:MRN]"));
	assert_non_null(strstr(body, "2524-7"));  /* clinical codes are not PHI */
	j = json_parse(body, strlen(body), NULL, &e);
	assert_non_null(j);                       /* still valid JSON */
	cJSON_Delete(j);
	free(body);
}

/* phi_allow_types: [DATE] lets a FHIR resource keep its timestamps on a block route; the
 * patient's own birth date and every other identifier type are still blocked. A JSON member in
 * phi.date_exempt_keys (lastUpdated) is not a date identifier on any route. */
static void test_route_allowed_types_and_exempt_keys(void **state)
{
	static const char obs[] =
		"{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":"
		"\"http://loinc.org\",\"code\":\"2524-7\"}]},\"effectiveDateTime\":\"2026-11-20T08:30:00Z\","
		"\"issued\":\"2026-11-20T09:02:11Z\",\"valueQuantity\":{\"value\":4.1,\"unit\":\"mmol/L\"}}";
	static const char meta[] = "{\"meta\":{\"lastUpdated\":\"2026-11-20T08:30:00Z\"},\"metric\":\"lactate\"}";
	struct itest_resp r;
	int before = dest_calls();

	(void)state;
	/* without the allowance the timestamps are identifiers (45 CFR 164.514(b)(2)(i)(C)) */
	assert_int_equal(egress("POST", "/analytics/events", token1, "application/json", obs, &r), 403);
	assert_non_null(strstr(r.body.p, "\"DATE\":2"));
	itest_resp_fini(&r);
	/* with it the resource passes unchanged */
	assert_int_equal(egress("POST", "/quality/obs", token1, "application/json", obs, &r), 200);
	itest_resp_fini(&r);
	assert_int_equal(dest_calls(), before + 1);
	{
		char path[512], *body = dest_last(path);
		assert_string_equal(path, "/quality/obs");
		assert_string_equal(body, obs);
		free(body);
	}
	/* the patient's birth date is a known identifier, not a pattern date: still blocked */
	assert_int_equal(egress("POST", "/quality/obs", token1, "application/json",
				"{\"note\":\"born 03/12/1948\",\"effectiveDateTime\":\"2026-11-20\"}", &r), 403);
	assert_non_null(strstr(r.body.p, "\"DATE\":1"));
	itest_resp_fini(&r);
	/* other types are not allowed by a DATE allowance */
	assert_int_equal(egress("POST", "/quality/obs", token1, "application/json", prompt, &r), 403);
	assert_non_null(strstr(r.body.p, "\"NAME\":"));
	itest_resp_fini(&r);
	/* lastUpdated is exempt everywhere, even on the plain block route */
	assert_int_equal(egress("POST", "/analytics/events", token1, "application/json", meta, &r), 200);
	itest_resp_fini(&r);
	/* phi.url_allow: the site's guideline links are not identifiers; other URLs are */
	assert_int_equal(egress("POST", "/analytics/events", token1, "application/json",
				"{\"link\":\"https://guidelines.example.org/ckd/2024\"}", &r), 200);
	itest_resp_fini(&r);
	assert_int_equal(egress("POST", "/analytics/events", token1, "application/json",
				"{\"link\":\"https://guidelines.example.org/members/jdoe\"}", &r), 403);
	assert_non_null(strstr(r.body.p, "\"URL\":1"));
	itest_resp_fini(&r);
	assert_int_equal(dest_calls(), before + 3);
}

static void test_baa_route_passes_and_unknown_route_refused(void **state)
{
	struct itest_resp r;

	(void)state;
	assert_int_equal(egress("POST", "/llm/chat/completions", token1, "application/json", prompt, &r), 200);
	itest_resp_fini(&r);
	{
		char path[512], *body = dest_last(path);
		assert_non_null(strstr(body, "Zqorvath")); /* BAA destination: unchanged */
		assert_string_equal(path, "/v1/chat/completions");
		free(body);
	}
	assert_int_equal(egress("POST", "/pastebin/x", token1, "application/json", "{}", &r), 403);
	assert_non_null(strstr(r.body.p, "EGRESS-ROUTE-UNKNOWN"));
	itest_resp_fini(&r);
	assert_int_equal(egress("GET", "/llm/models", token1, NULL, NULL, &r), 405);
	itest_resp_fini(&r);
	assert_int_equal(egress("POST", "/llm/x", "00000000000000000000000000000000", "application/json", "{}", &r), 403);
	assert_non_null(strstr(r.body.p, "EGRESS-CONTEXT-UNKNOWN"));
	itest_resp_fini(&r);
}

/* Paths are limited per route, and the URL and headers are scanned like the body: the path
 * after the route, the query and the forwarded headers' values; a compressed body is refused. */
static void test_route_paths_and_url_phi(void **state)
{
	struct itest_resp r;
	int before = dest_calls();

	(void)state;
	assert_int_equal(egress("POST", "/analytics/other", token1, "application/json", "{}", &r), 403);
	assert_non_null(strstr(r.body.p, "EGRESS-PATH"));
	itest_resp_fini(&r);
	assert_int_equal(egress("POST", "/analytics/events/%2e%2e/admin", token1, "application/json", "{}", &r), 403);
	assert_non_null(strstr(r.body.p, "EGRESS-PATH"));
	itest_resp_fini(&r);
	assert_int_equal(egress("POST", "/translate/v2/../../admin", token1, "application/json", "{}", &r), 403);
	assert_non_null(strstr(r.body.p, "EGRESS-PATH"));
	itest_resp_fini(&r);
	/* the patient's name in the path: refused on a redact route, blocked on a block route */
	assert_int_equal(egress("POST", "/translate/v2/patients/Aurelia%20Zqorvath", token1, "application/json", "{}", &r),
			 403);
	assert_non_null(strstr(r.body.p, "EGRESS-PHI-URL"));
	itest_resp_fini(&r);
	assert_int_equal(egress("POST", "/analytics/events/MRN10007919", token1, "application/json", "{}", &r), 403);
	assert_non_null(strstr(r.body.p, "\"reason\":\"EGRESS-PHI-BLOCK\""));
	assert_non_null(strstr(r.body.p, "\"MRN\":1"));
	itest_resp_fini(&r);
	assert_int_equal(egress("POST", "/analytics/events?who=Aurelia+Zqorvath", token1, "application/json", "{}", &r), 403);
	assert_non_null(strstr(r.body.p, "\"NAME\":"));
	itest_resp_fini(&r);
	/* headers leave too: a forwarded header's value is scanned */
	assert_int_equal(egress_h("POST", "/analytics/events", token1, "application/json", "X-Chart: MRN10007919", "{}", &r),
			 403);
	assert_non_null(strstr(r.body.p, "\"MRN\":1"));
	itest_resp_fini(&r);
	assert_int_equal(egress_h("POST", "/translate/v2", token1, "application/json", "X-End-User: Aurelia Zqorvath", "{}",
				  &r),
			 403);
	assert_non_null(strstr(r.body.p, "EGRESS-PHI-URL"));
	itest_resp_fini(&r);
	/* a method-override header would let the destination see another method: refused */
	assert_int_equal(egress_h("POST", "/analytics/events", token1, "application/json", "X-HTTP-Method-Override: DELETE",
				  "{}", &r),
			 403);
	assert_non_null(strstr(r.body.p, "EGRESS-METHOD-OVERRIDE"));
	itest_resp_fini(&r);
	assert_int_equal(egress_h("POST", "/fhir/Observation/_search", token1, "application/x-www-form-urlencoded",
				  "x-http-method: DELETE", "patient=pat-001", &r),
			 403);
	assert_non_null(strstr(r.body.p, "EGRESS-METHOD-OVERRIDE"));
	itest_resp_fini(&r);
	/* a body the scanner cannot read does not go to a route without a BAA: UTF-16 (a byte-order
	 * mark), a declared charset of another family; one with NUL bytes (UTF-16 ASCII, binary)
	 * is refused by the listener's framer on every route */
	{
		static const char u16[] = "\xff\xfe\x2d\x4e\x87\x65"; /* UTF-16LE, no NUL */
		assert_int_equal(egress("POST", "/analytics/events", token1, "application/json; charset=utf-16", "{}", &r),
				 415);
		assert_non_null(strstr(r.body.p, "EGRESS-UNREADABLE"));
		itest_resp_fini(&r);
		assert_int_equal(egress_bin("/translate/v2", token1, "text/plain", u16, sizeof(u16) - 1, &r), 415);
		assert_non_null(strstr(r.body.p, "EGRESS-UNREADABLE"));
		itest_resp_fini(&r);
		assert_int_equal(egress_bin("/analytics/events", token1, "application/octet-stream", "{\"a\":\"x\0y\"}", 12, &r),
				 400);
		itest_resp_fini(&r);
		/* to a BAA destination it may go; UTF-8 declared is fine anywhere */
		assert_int_equal(egress_bin("/llm/chat/completions", token1, "text/plain", u16, sizeof(u16) - 1, &r), 200);
		itest_resp_fini(&r);
		assert_int_equal(egress("POST", "/analytics/events", token1, "application/json; charset=UTF-8", "{}", &r), 200);
		itest_resp_fini(&r);
		before += 2; /* those two were forwarded */
	}
	/* a compressed body cannot be scanned: refused */
	assert_int_equal(egress_h("POST", "/analytics/events", token1, "application/json", "Content-Encoding: gzip", "{}", &r),
			 415);
	assert_non_null(strstr(r.body.p, "EGRESS-ENCODING"));
	itest_resp_fini(&r);
	assert_int_equal(dest_calls(), before);
	/* a listed path below its prefix, no identifiers: forwarded; an HTTP-date in a
	 * conditional header is protocol metadata, not scanned */
	assert_int_equal(egress_h("POST", "/analytics/events/batch-7", token1, "application/json",
				  "If-Modified-Since: Tue, 15 Nov 1994 08:12:31 GMT", "{}", &r),
			 200);
	itest_resp_fini(&r);
	{
		char path[512], *body = dest_last(path);
		free(body);
		assert_string_equal(path, "/ingest/events/batch-7");
	}
	assert_int_equal(egress_h("POST", "/analytics/events", token1, "application/json",
				  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36", "{}", &r),
			 200);
	itest_resp_fini(&r);
	assert_int_equal(dest_calls(), before + 2);
}

static char *docref(const char *subject, const char *doc_status, const char *note)
{
	char *out = xmalloc(8192);
	struct buf b64;
	char std[4096];
	size_t n = 0;

	buf_init(&b64, 4096);
	assert_int_equal(jose_b64url_encode(note, strlen(note), &b64), 0);
	for (size_t i = 0; i < b64.len; i++)
		std[n++] = b64.p[i] == '-' ? '+' : b64.p[i] == '_' ? '/' : b64.p[i];
	while (n % 4)
		std[n++] = '=';
	std[n] = 0;
	snprintf(out, 8192,
		 "{\"resourceType\":\"DocumentReference\",\"status\":\"current\",\"docStatus\":\"%s\","
		 "\"type\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"11506-3\"}]},"
		 "\"subject\":{\"reference\":\"Patient/%s\"},\"date\":\"2026-11-23T10:00:00Z\","
		 "\"author\":[{\"reference\":\"Device/refsvc\"}],"
		 "\"context\":{\"encounter\":[{\"reference\":\"Encounter/pat-001-enc-1\"}]},"
		 "\"content\":[{\"attachment\":{\"contentType\":\"text/plain\",\"data\":\"%s\"}}]}",
		 doc_status, subject, std);
	buf_fini(&b64);
	return out;
}

static void test_fhir_route_approvals_and_writeback(void **state)
{
	struct itest_resp r;
	char *d;
	int before;

	(void)state;
	assert_int_equal(egress("GET", "/fhir/Observation?patient=pat-001&code=2524-7", token1, NULL, NULL, &r), 200);
	itest_resp_fini(&r);
	before = dest_calls();
	assert_int_equal(egress("GET", "/fhir/AllergyIntolerance?patient=pat-001", token1, NULL, NULL, &r), 403);
	assert_non_null(strstr(r.body.p, "FHIR-READ"));
	itest_resp_fini(&r);
	assert_int_equal(egress("POST", "/fhir/Observation", token1, "application/fhir+json", "{\"resourceType\":\"Observation\"}", &r), 403);
	assert_non_null(strstr(r.body.p, "FHIR-WRITE"));
	itest_resp_fini(&r);
	assert_int_equal(egress("GET", "/fhir/Observation?_include=Observation:performer:Practitioner", token1, NULL, NULL, &r), 403);
	assert_non_null(strstr(r.body.p, "FHIR-INCLUDE"));
	itest_resp_fini(&r);
	assert_int_equal(dest_calls(), before);
	/* a valid draft note is written */
	d = docref("pat-001", "preliminary", "Sepsis screen positive; lactate repeated.");
	assert_int_equal(egress("POST", "/fhir/DocumentReference", token1, "application/fhir+json", d, &r), 201);
	itest_resp_fini(&r);
	free(d);
	/* an invalid one: final status, another subject, another patient's name in the note */
	d = docref("pat-002", "final", "Discussed with Benedikt Zqellington-Marsh.");
	assert_int_equal(egress("POST", "/fhir/DocumentReference", token1, "application/fhir+json", d, &r), 422);
	assert_non_null(strstr(r.body.p, "OperationOutcome"));
	assert_non_null(strstr(r.body.p, "DOCREF-DOCSTATUS"));
	assert_non_null(strstr(r.body.p, "DOCREF-SUBJECT"));
	assert_non_null(strstr(r.body.p, "DOCREF-OTHER-PATIENT"));
	itest_resp_fini(&r);
	free(d);
	assert_int_equal(dest_calls(), before + 1);
}

static void test_audit_and_logs(void **state)
{
	struct buf out;

	(void)state;
	assert_int_equal(itest_stop(sidecar, SIGTERM, 10000), 0);
	sidecar = -1;
	buf_init(&out, 1 << 20);
	assert_int_equal(itest_audit_verify_show(audit_dir, keys_dir, &out), 0);
	assert_non_null(strstr(out.p, "\"event\":\"egress\""));
	assert_non_null(strstr(out.p, "\"decision\":\"block\""));
	assert_non_null(strstr(out.p, "\"decision\":\"redact\""));
	assert_non_null(strstr(out.p, "\"EGRESS-PHI-BLOCK\""));
	assert_non_null(strstr(out.p, "\"phi\":{"));
	assert_non_null(strstr(out.p, "\"DOCREF-OTHER-PATIENT\""));
	assert_non_null(strstr(out.p, "\"EGRESS-PHI-IN-URL\""));
	assert_non_null(strstr(out.p, "\"EGRESS-PHI-IN-HEADER\""));
	assert_non_null(strstr(out.p, "\"EGRESS-PATH\""));
	assert_false(itest_has_canary(out.p));
	buf_fini(&out);
	assert_false(itest_file_has_canary(log_path));
	assert_false(itest_file_contains(log_path, "MRN1000"));
	assert_false(itest_file_contains(log_path, token1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hook_call_binds_context),
		cmocka_unit_test(test_block_route_refuses_phi),
		cmocka_unit_test(test_redact_route_forwards_redacted_json),
		cmocka_unit_test(test_route_allowed_types_and_exempt_keys),
		cmocka_unit_test(test_baa_route_passes_and_unknown_route_refused),
		cmocka_unit_test(test_route_paths_and_url_phi),
		cmocka_unit_test(test_fhir_route_approvals_and_writeback),
		cmocka_unit_test(test_audit_and_logs),
	};
	return cmocka_run_group_tests_name("sidecar_egress", tests, setup, teardown);
}
