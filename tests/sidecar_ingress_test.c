/* Integration test of ehrgate-sidecar ingress over loopback (issue: sidecar ingress, Tests):
 * the real binary, a scripted upstream AI service in this process, real ES384/RS384 JWTs signed
 * with the demo EHR keys, the real audit log verified with ehrgate-audit.
 *
 * Every request here carries the synthetic patient pat-001 (family name "Zqorvath", MRN
 * MRN10007919); the sidecar's log must never contain them (STYLE.md: canaries). */
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

#include "lib/clock.h"
#include "lib/jose.h"
#include "lib/json.h"
#include "lib/mem.h"
#include "tests/itest.h"

#define ISS "https://ehr.demo.example"
#define BASE "http://sidecar.test"   /* public_base_url: what the EHR believes it calls */

/* --- the scripted upstream ----------------------------------------------------------------- */

static struct {
	pthread_mutex_t mu;
	char mode[32];            /* ok | slow | bad | unapproved | 412 | garbage | 500 */
	int calls;
	char *last_body;
	char last_ctx[80];
	bool last_had_authz;
	char *jwks;               /* served at /jwks.json */
	int jwks_fetches;
	struct event_base *base;
	struct evhttp *http;
	uint16_t port;
	pthread_t thread;
} up = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char discovery[] =
	"{\"services\":["
	"{\"id\":\"sepsis-risk\",\"hook\":\"patient-view\",\"title\":\"Sepsis\",\"description\":\"d\",\"prefetch\":{"
	"\"patient\":\"Patient/{{context.patientId}}\",\"meds\":\"MedicationRequest?patient={{context.patientId}}\"}},"
	"{\"id\":\"sepsis-risk\",\"hook\":\"order-sign\",\"description\":\"d\"},"
	"{\"id\":\"rogue\",\"hook\":\"patient-view\",\"description\":\"d\"},"
	"{\"id\":\"note-drafter\",\"hook\":\"encounter-discharge\",\"description\":\"d\"}]}";

static const char good_cards[] =
	"{\"cards\":[{\"uuid\":\"c1\",\"summary\":\"Sepsis risk high (qSOFA 2)\",\"indicator\":\"warning\","
	"\"source\":{\"label\":\"Demo sepsis model\"},\"selectionBehavior\":\"at-most-one\",\"suggestions\":["
	"{\"label\":\"Order lactate\",\"actions\":[{\"type\":\"create\",\"description\":\"draft order\","
	"\"resource\":{\"resourceType\":\"ServiceRequest\",\"status\":\"draft\"}}]}],"
	"\"links\":[{\"label\":\"Open app\",\"url\":\"https://apps.demo.example/sepsis/launch\",\"type\":\"smart\"}]}]}";

static const char unapproved_cards[] =
	"{\"cards\":[{\"uuid\":\"c1\",\"summary\":\"Start antibiotics\",\"indicator\":\"critical\","
	"\"source\":{\"label\":\"Demo\"},\"selectionBehavior\":\"any\",\"suggestions\":["
	"{\"label\":\"Order lactate\",\"actions\":[{\"type\":\"create\",\"description\":\"d\","
	"\"resource\":{\"resourceType\":\"ServiceRequest\"}}]},"
	"{\"label\":\"Start piperacillin\",\"actions\":[{\"type\":\"create\",\"description\":\"d\","
	"\"resource\":{\"resourceType\":\"MedicationRequest\"}}]}],"
	"\"links\":[{\"label\":\"Elsewhere\",\"url\":\"https://unapproved.example/launch\",\"type\":\"smart\"}]}]}";

static void up_reply(struct evhttp_request *req, int status, const char *body)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, body, strlen(body));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, status, "X", b);
	evbuffer_free(b);
}

struct delayed {
	struct evhttp_request *req;
	struct event *ev;
	struct delayed *next;   /* pending list, freed at teardown */
};

static struct delayed *pending;

static void up_delayed(evutil_socket_t fd, short w, void *arg)
{
	struct delayed *d = arg;

	(void)fd;
	(void)w;
	up_reply(d->req, 200, good_cards);
	for (struct delayed **p = &pending; *p; p = &(*p)->next) {
		if (*p == d) {
			*p = d->next;
			break;
		}
	}
	event_free(d->ev);
	free(d);
}

static void up_handle(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	const char *ctx = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Ehrgate-Context");
	char mode[32];

	(void)arg;
	pthread_mutex_lock(&up.mu);
	snprintf(mode, sizeof(mode), "%s", up.mode);
	if (strcmp(path, "/cds-services") != 0 && strcmp(path, "/jwks.json") != 0) {
		up.calls++;
		free(up.last_body);
		up.last_body = xcalloc(1, n + 1);
		evbuffer_copyout(in, up.last_body, n);
		snprintf(up.last_ctx, sizeof(up.last_ctx), "%s", ctx ? ctx : "");
		up.last_had_authz = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization") != NULL;
	}
	pthread_mutex_unlock(&up.mu);
	if (strcmp(path, "/jwks.json") == 0) {
		char *j;

		pthread_mutex_lock(&up.mu);
		up.jwks_fetches++;
		j = xstrdup(up.jwks ? up.jwks : "{\"keys\":[]}");
		pthread_mutex_unlock(&up.mu);
		up_reply(req, 200, j);
		free(j);
	} else if (strcmp(path, "/cds-services") == 0)
		up_reply(req, 200, discovery);
	else if (strstr(path, "/feedback"))
		up_reply(req, 200, "{}");
	else if (strcmp(mode, "slow") == 0) {
		struct delayed *d = xcalloc(1, sizeof(*d));
		struct timeval tv = {3, 0};

		d->req = req;
		d->next = pending;
		pending = d;
		d->ev = evtimer_new(up.base, up_delayed, d);
		evtimer_add(d->ev, &tv);
	} else if (strcmp(mode, "unapproved") == 0)
		up_reply(req, 200, unapproved_cards);
	else if (strcmp(mode, "412") == 0)
		up_reply(req, 412, "{}");
	else if (strcmp(mode, "garbage") == 0)
		up_reply(req, 200, "{\"cards\": [ oops");
	else if (strcmp(mode, "500") == 0)
		up_reply(req, 500, "{}");
	else
		up_reply(req, 200, good_cards);
}

static void *up_main(void *arg)
{
	(void)arg;
	event_base_dispatch(up.base);
	return NULL;
}

static void up_start(void)
{
	struct evhttp_bound_socket *s;

	evthread_use_pthreads();
	up.base = event_base_new();
	up.http = evhttp_new(up.base);
	evhttp_set_gencb(up.http, up_handle, NULL);
	s = evhttp_bind_socket_with_handle(up.http, "127.0.0.1", 0);
	assert_non_null(s);
	{
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss, &len);
		up.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	snprintf(up.mode, sizeof(up.mode), "ok");
	pthread_create(&up.thread, NULL, up_main, NULL);
}

static void up_mode(const char *m)
{
	pthread_mutex_lock(&up.mu);
	snprintf(up.mode, sizeof(up.mode), "%s", m);
	pthread_mutex_unlock(&up.mu);
}

static int up_calls(void)
{
	int n;

	pthread_mutex_lock(&up.mu);
	n = up.calls;
	pthread_mutex_unlock(&up.mu);
	return n;
}

/* --- the sidecar under test ---------------------------------------------------------------- */

static char *dir, policy_path[512], log_path[512], ready_path[512], audit_dir[512], keys_dir[512];
static pid_t sidecar;
static uint16_t ingress_port, admin_port, egress_port;
static EVP_PKEY *es384, *rs384;

static char jwks_line[512];
static char tls_line[1200];   /* "  tls: {cert: ..., key: ...}\n" or "" */   /* "jwks_file: ..." or "jwks_url: ...\n      jwks_refresh_min_s: 1" */

static void write_policy(const char *path, const char *extra_hooks, unsigned deadline_ms)
{
	char yaml[8192];

	if (jwks_line[0] == '\0')
		snprintf(jwks_line, sizeof(jwks_line), "jwks_file: %s", itest_src("policies/keys/demo-ehr.jwks.json"));
	snprintf(yaml, sizeof(yaml),
		 "version: 1\n"
		 "site: {id: itest-general, name: Integration Test Hospital, ehr: epic, environment: staging}\n"
		 "ingress:\n"
		 "  listen: 127.0.0.1:%u\n"
		 "  public_base_url: " BASE "\n"
		 "  upstream: http://127.0.0.1:%u\n"
		 "  deadline_ms: %u\n"
		 "  on_deadline: empty-cards\n"
		 "  card_policy: enforce\n"
		 "  max_body_bytes: 1048576\n"
		 "  workers: 2\n"
		 "%s"
		 "  clients:\n"
		 "    - iss: " ISS "\n"
		 "      %s\n"
		 "      jku_allow: []\n"
		 "      algorithms: [ES384, RS384]\n"
		 "      max_token_lifetime_s: 900\n"
		 "admin: {listen: 127.0.0.1:%u}\n"
		 "services:\n"
		 "  - id: sepsis-risk\n"
		 "    hooks: [patient-view%s]\n"
		 "    prefetch_read: [Patient, Observation, Condition]\n"
		 "    card_actions: {create: [ServiceRequest], update: [], delete: []}\n"
		 "    smart_links: [https://apps.demo.example/sepsis/launch]\n"
		 "    approval: {approved_by: Test Committee, reference: T-1, granted: 2026-01-01, expires: 2099-12-31}\n"
		 "  - id: note-drafter\n"
		 "    hooks: [encounter-discharge]\n"
		 "    prefetch_read: [Patient]\n"
		 "    approval: {approved_by: Test Committee, reference: T-2, granted: 2020-01-01, expires: 2021-01-01}\n"
		 "egress:\n"
		 "  listen: 127.0.0.1:%u\n"
		 "  routes: []\n"
		 "audit:\n"
		 "  dir: %s\n"
		 "  reviewer_public_key: %s/reviewer.pub\n"
		 "  signer_key: %s/signer.key\n"
		 "  index_key: %s/index.key\n"
		 "  fsync: batch\n"
		 "  on_failure: deny\n",
		 ingress_port, up.port, deadline_ms, tls_line, jwks_line, admin_port,
		 extra_hooks, egress_port, audit_dir, keys_dir, keys_dir, keys_dir);
	assert_int_equal(itest_write_file(path, yaml), 0);
}

static pid_t start_sidecar(const char *policy, const char *ready, long fsize_limit)
{
	char *argv[] = {(char *)itest_bin("ehrgate-sidecar"), "--site", (char *)policy, "--ready-file",
			(char *)ready, NULL};
	pid_t pid;

	unlink(ready);
	pid = itest_spawn(argv, log_path, fsize_limit);
	if (!itest_wait_file(ready, pid, 10000)) {
		char *log = itest_read_file(log_path, NULL);

		fprintf(stderr, "sidecar did not start; log:\n%s\n", log ? log : "");
		free(log);
		return -1;
	}
	return pid;
}

static int setup(void **state)
{
	struct err e;
	char *keygen[] = {(char *)itest_bin("ehrgate-audit"), "keygen", "--out", keys_dir, NULL};

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	dir = itest_tmpdir("ingress");
	snprintf(policy_path, sizeof(policy_path), "%s/site.yaml", dir);
	snprintf(log_path, sizeof(log_path), "%s/sidecar.log", dir);
	snprintf(ready_path, sizeof(ready_path), "%s/ready.json", dir);
	snprintf(audit_dir, sizeof(audit_dir), "%s/audit", dir);
	snprintf(keys_dir, sizeof(keys_dir), "%s/keys", dir);
	if (itest_run(keygen, NULL) != 0)
		return -1;
	es384 = jose_load_private_pem(itest_src("fixtures/keys/demo-ehr-es384.pem"), &e);
	rs384 = jose_load_private_pem(itest_src("fixtures/keys/demo-ehr-rs384.pem"), &e);
	if (!es384 || !rs384)
		return -1;
	up_start();
	ingress_port = itest_free_port();
	admin_port = itest_free_port();
	egress_port = itest_free_port();
	write_policy(policy_path, "", 600);
	sidecar = start_sidecar(policy_path, ready_path, 0);
	return sidecar > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (sidecar > 0)
		itest_stop(sidecar, SIGKILL, 2000);
	itest_kill_all(); /* anything a failed test left running */
	event_base_loopbreak(up.base);
	pthread_join(up.thread, NULL);
	while (pending) {
		struct delayed *d = pending;

		pending = d->next;
		event_free(d->ev);
		free(d);
	}
	evhttp_free(up.http);
	event_base_free(up.base);
	EVP_PKEY_free(es384);
	EVP_PKEY_free(rs384);
	if (getenv("EHRGATE_KEEP_TMP") == NULL)
		itest_rmtree(dir);
	free(dir);
	return 0;
}

/* --- requests -------------------------------------------------------------------------------- */

static char hook_body[16384];

static const char *hook_request(const char *hook)
{
	size_t len = 0;
	char *bundle = itest_read_file(itest_src("fixtures/patients/pat-001.json"), &len);
	struct err e;
	cJSON *b = json_parse(bundle, len, NULL, &e), *req = cJSON_CreateObject(), *ctx, *pre, *meds;
	char *s;

	assert_non_null(b);
	cJSON_AddStringToObject(req, "hook", hook);
	cJSON_AddStringToObject(req, "hookInstance", "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea");
	ctx = cJSON_AddObjectToObject(req, "context");
	cJSON_AddStringToObject(ctx, "userId", "Practitioner/example");
	cJSON_AddStringToObject(ctx, "patientId", "pat-001");
	cJSON_AddStringToObject(ctx, "encounterId", "pat-001-enc-1");
	if (strcmp(hook, "order-select") == 0) {
		/* table 1.J: selections + draftOrders are REQUIRED for order-select */
		cJSON *draft = cJSON_AddObjectToObject(ctx, "draftOrders"), *en, *r;

		cJSON_AddItemToObject(ctx, "selections", cJSON_CreateStringArray((const char *[]){"ServiceRequest/draft-1"}, 1));
		cJSON_AddStringToObject(draft, "resourceType", "Bundle");
		cJSON_AddStringToObject(draft, "type", "collection");
		en = cJSON_CreateObject();
		r = cJSON_AddObjectToObject(en, "resource");
		cJSON_AddStringToObject(r, "resourceType", "ServiceRequest");
		cJSON_AddStringToObject(r, "id", "draft-1");
		cJSON_AddStringToObject(r, "status", "draft");
		cJSON_AddItemToArray(cJSON_AddArrayToObject(draft, "entry"), en);
	}
	pre = cJSON_AddObjectToObject(req, "prefetch");
	cJSON_AddItemToObject(pre, "patient",
			      cJSON_Duplicate(json_obj(cJSON_GetArrayItem(json_arr(b, "entry"), 0), "resource"), 1));
	meds = cJSON_AddObjectToObject(pre, "meds");
	cJSON_AddStringToObject(meds, "resourceType", "Bundle");
	cJSON_AddItemToObject(meds, "entry", cJSON_CreateArray());
	{
		cJSON *en = cJSON_CreateObject(), *r = cJSON_AddObjectToObject(en, "resource");
		cJSON_AddStringToObject(r, "resourceType", "MedicationRequest");
		cJSON_AddItemToArray(json_arr(meds, "entry"), en);
	}
	s = cJSON_PrintUnformatted(req);
	snprintf(hook_body, sizeof(hook_body), "%s", s);
	cJSON_free(s);
	cJSON_Delete(req);
	cJSON_Delete(b);
	free(bundle);
	return hook_body;
}

static long call(const char *path, const char *authz, const char *body, struct itest_resp *r)
{
	char url[256];
	const char *h[] = {"Content-Type: application/json", authz, NULL};

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", ingress_port, path);
	assert_int_equal(itest_http(body ? "POST" : "GET", url, h, body, r), 0);
	return r->status;
}

static char *token_for(const char *path)
{
	char aud[256];
	cJSON *c;
	char *t;

	snprintf(aud, sizeof(aud), BASE "%s", path);
	c = itest_claims(ISS, aud);
	t = itest_bearer(JOSE_ALG_ES384, es384, "demo-es384-1", c);
	cJSON_Delete(c);
	return t;
}

static void test_allowed_call_forwarded_minimised(void **state)
{
	struct itest_resp r;
	char *t = token_for("/cds-services/sepsis-risk");
	int before = up_calls();
	struct err e;
	cJSON *fwd;

	(void)state;
	up_mode("ok");
	assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r), 200);
	assert_non_null(strstr(r.body.p, "Sepsis risk high"));
	assert_int_equal(up_calls(), before + 1);
	/* copied under the lock, asserted after it: a failure must not leave the lock held */
	pthread_mutex_lock(&up.mu);
	fwd = json_parse(up.last_body, strlen(up.last_body), NULL, &e);
	bool had_authz = up.last_had_authz;
	size_t ctx_len = strlen(up.last_ctx);
	pthread_mutex_unlock(&up.mu);
	assert_non_null(fwd);
	/* data minimisation: MedicationRequest is not approved for reading */
	assert_non_null(cJSON_GetObjectItem(json_obj(fwd, "prefetch"), "patient"));
	assert_null(cJSON_GetObjectItem(json_obj(fwd, "prefetch"), "meds"));
	assert_false(had_authz);       /* the EHR's token never reaches the AI service */
	assert_int_equal(ctx_len, 32); /* egress binding context header */
	cJSON_Delete(fwd);
	itest_resp_fini(&r);
	free(t);
	/* RS384 works too */
	{
		char aud[256];
		cJSON *c;

		snprintf(aud, sizeof(aud), BASE "/cds-services/sepsis-risk");
		c = itest_claims(ISS, aud);
		t = itest_bearer(JOSE_ALG_RS384, rs384, "demo-rs384-1", c);
		cJSON_Delete(c);
		assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r), 200);
		itest_resp_fini(&r);
		free(t);
	}
}

static void expect_401(const char *authz)
{
	struct itest_resp r;
	int before = up_calls();

	assert_int_equal(call("/cds-services/sepsis-risk", authz, hook_request("patient-view"), &r), 401);
	assert_int_equal(up_calls(), before);  /* never forwarded */
	/* the body does not say which check failed (check 38) */
	assert_null(strstr(r.body.p, "aud"));
	assert_null(strstr(r.body.p, "exp"));
	assert_null(strstr(r.body.p, "kid"));
	assert_non_null(strstr(r.www_authenticate, "Bearer"));
	itest_resp_fini(&r);
}

static void test_jwt_attacks_401(void **state)
{
	const char *aud = BASE "/cds-services/sepsis-risk";
	struct buf b;
	struct err e;
	cJSON *c;
	char *t, *p;

	(void)state;
	expect_401(NULL);
	expect_401("Authorization: Bearer not.a.jwt");
	/* alg none */
	c = itest_claims(ISS, aud);
	p = cJSON_PrintUnformatted(c);
	buf_init(&b, 16384);
	assert_int_equal(buf_append_str(&b, "Authorization: Bearer "), 0);
	assert_int_equal(jose_sign_raw(JOSE_ALG_NONE, NULL, "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"demo-es384-1\"}", p, &b, &e), 0);
	expect_401(b.p);
	buf_fini(&b);
	cJSON_free(p);
	cJSON_Delete(c);
	/* wrong aud: the discovery URL */
	c = itest_claims(ISS, BASE "/cds-services");
	t = itest_bearer(JOSE_ALG_ES384, es384, "demo-es384-1", c);
	expect_401(t);
	free(t);
	cJSON_Delete(c);
	/* expired */
	c = itest_claims(ISS, aud);
	cJSON_ReplaceItemInObject(c, "iat", cJSON_CreateNumber((double)(clock_wall_s() - 1000)));
	cJSON_ReplaceItemInObject(c, "exp", cJSON_CreateNumber((double)(clock_wall_s() - 700)));
	t = itest_bearer(JOSE_ALG_ES384, es384, "demo-es384-1", c);
	expect_401(t);
	free(t);
	cJSON_Delete(c);
	/* unknown kid */
	c = itest_claims(ISS, aud);
	t = itest_bearer(JOSE_ALG_ES384, es384, "not-a-kid", c);
	expect_401(t);
	free(t);
	cJSON_Delete(c);
	/* wrong issuer */
	c = itest_claims("https://attacker.example", aud);
	t = itest_bearer(JOSE_ALG_ES384, es384, "demo-es384-1", c);
	expect_401(t);
	free(t);
	cJSON_Delete(c);
	/* replay: the same token twice */
	{
		struct itest_resp r;

		t = token_for("/cds-services/sepsis-risk");
		up_mode("ok");
		assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r), 200);
		itest_resp_fini(&r);
		expect_401(t);
		free(t);
	}
}

static void test_unapproved_is_403_not_forwarded(void **state)
{
	struct itest_resp r;
	int before = up_calls();
	char *t;

	(void)state;
	t = token_for("/cds-services/sepsis-risk");
	assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("order-select"), &r), 403);
	itest_resp_fini(&r);
	free(t);
	t = token_for("/cds-services/rogue");
	assert_int_equal(call("/cds-services/rogue", t, hook_request("patient-view"), &r), 403);
	itest_resp_fini(&r);
	free(t);
	/* expired approval */
	t = token_for("/cds-services/note-drafter");
	assert_int_equal(call("/cds-services/note-drafter", t, hook_request("encounter-discharge"), &r), 403);
	itest_resp_fini(&r);
	free(t);
	assert_int_equal(up_calls(), before);
	/* bad shape */
	t = token_for("/cds-services/sepsis-risk");
	assert_int_equal(call("/cds-services/sepsis-risk", t, "{\"hook\":\"patient-view\",\"context\":{}}", &r), 400);
	itest_resp_fini(&r);
	free(t);
}

static void test_slow_upstream_answered_in_time(void **state)
{
	struct itest_resp r;
	char *t = token_for("/cds-services/sepsis-risk");

	(void)state;
	up_mode("slow");
	assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r), 200);
	assert_string_equal(r.body.p, "{\"cards\":[]}");
	/* deadline 600 ms; the upstream would take 3 s. Generous bound: well under the upstream. */
	assert_true(r.seconds < 1.8);
	itest_resp_fini(&r);
	free(t);
	/* garbage and errors also get the fail-safe answer */
	up_mode("garbage");
	t = token_for("/cds-services/sepsis-risk");
	assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r), 200);
	assert_string_equal(r.body.p, "{\"cards\":[]}");
	itest_resp_fini(&r);
	free(t);
	up_mode("500");
	t = token_for("/cds-services/sepsis-risk");
	assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r), 200);
	assert_string_equal(r.body.p, "{\"cards\":[]}");
	itest_resp_fini(&r);
	free(t);
	up_mode("412");
	t = token_for("/cds-services/sepsis-risk");
	assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r), 412);
	itest_resp_fini(&r);
	free(t);
	up_mode("ok");
}

static void test_unapproved_suggestion_stripped(void **state)
{
	struct itest_resp r;
	char *t = token_for("/cds-services/sepsis-risk");

	(void)state;
	up_mode("unapproved");
	assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r), 200);
	assert_non_null(strstr(r.body.p, "ServiceRequest"));
	assert_null(strstr(r.body.p, "MedicationRequest"));
	assert_null(strstr(r.body.p, "unapproved.example"));
	itest_resp_fini(&r);
	free(t);
	up_mode("ok");
}

static void test_discovery_filtered(void **state)
{
	struct itest_resp r;
	char *t = token_for("/cds-services");

	(void)state;
	assert_int_equal(call("/cds-services", t, NULL, &r), 200);
	assert_non_null(strstr(r.body.p, "sepsis-risk"));
	assert_null(strstr(r.body.p, "rogue"));
	assert_null(strstr(r.body.p, "order-sign"));
	assert_null(strstr(r.body.p, "note-drafter"));   /* approval expired */
	assert_null(strstr(r.body.p, "MedicationRequest"));
	itest_resp_fini(&r);
	free(t);
}

static void test_admin_endpoints(void **state)
{
	struct itest_resp r;
	char url[128];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", admin_port);
	assert_int_equal(itest_http("GET", url, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	itest_resp_fini(&r);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", admin_port);
	assert_int_equal(itest_http("GET", url, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body.p, "\"audit_writable\":true"));
	itest_resp_fini(&r);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", admin_port);
	assert_int_equal(itest_http("GET", url, NULL, NULL, &r), 0);
	assert_non_null(strstr(r.body.p, "ehrgate_requests_total{kind=\"ingress\",name=\"sepsis-risk\",decision=\"allow\",status=\"200\"}"));
	assert_non_null(strstr(r.body.p, "decision=\"deny\",status=\"401\""));
	assert_non_null(strstr(r.body.p, "ehrgate_stage_seconds_bucket{stage=\"auth\""));
	itest_resp_fini(&r);
}

/* Reloads compile the PHI engine and may take a while under sanitizers: wait for the log line
 * that says the reload finished (generous bound; not a timing assertion). */
static bool wait_log(const char *needle, int ms)
{
	for (int waited = 0; waited < ms; waited += 50) {
		if (itest_file_contains(log_path, needle))
			return true;
		usleep(50000);
	}
	return false;
}

static void test_sighup_reload(void **state)
{
	struct itest_resp r;
	char *t;

	(void)state;
	/* a broken policy: the old one keeps serving */
	assert_int_equal(itest_write_file(policy_path, "version: 1\nsite: [broken\n"), 0);
	kill(sidecar, SIGHUP);
	assert_true(wait_log("event=policy_reload_failed", 10000));
	t = token_for("/cds-services/sepsis-risk");
	assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r), 200);
	itest_resp_fini(&r);
	free(t);
	/* a valid new policy takes effect: order-select becomes approved */
	write_policy(policy_path, ", order-select", 600);
	kill(sidecar, SIGHUP);
	assert_true(wait_log("event=policy_reloaded", 10000));
	t = token_for("/cds-services/sepsis-risk");
	assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("order-select"), &r), 200);
	itest_resp_fini(&r);
	free(t);
}

static void test_audit_log_verifies_and_lists_decisions(void **state)
{
	struct buf out;

	(void)state;
	/* SIGTERM drains and closes the log cleanly */
	assert_int_equal(itest_stop(sidecar, SIGTERM, 10000), 0);
	sidecar = -1;
	buf_init(&out, 1 << 20);
	assert_int_equal(itest_audit_verify_show(audit_dir, keys_dir, &out), 0);
	assert_non_null(strstr(out.p, "\"decision\":\"allow\""));
	assert_non_null(strstr(out.p, "\"decision\":\"deny\""));
	assert_non_null(strstr(out.p, "\"decision\":\"strip\""));
	assert_non_null(strstr(out.p, "\"decision\":\"deadline\""));
	assert_non_null(strstr(out.p, "\"jwt-replay\""));
	assert_non_null(strstr(out.p, "\"jwt-aud\""));
	assert_non_null(strstr(out.p, "\"POLICY-ACTION-CREATE\""));
	assert_non_null(strstr(out.p, "\"patient\":\"Patient/pat-001\""));
	/* the audit payload holds ids and decisions, never bodies */
	assert_null(strstr(out.p, "Zqorvath"));
	buf_fini(&out);
	/* PHI canaries: nothing of the patient reached the sidecar's log */
	assert_false(itest_file_has_canary(log_path));
	assert_false(itest_file_contains(log_path, "MRN1000"));
	assert_false(itest_file_contains(log_path, "pat-001"));
	assert_false(itest_file_contains(log_path, "eyJ")); /* no JWT */
}

static void test_audit_unwritable_fails_closed(void **state)
{
	char p2[512], ready2[512], audit2[512];
	struct itest_resp r;
	pid_t pid;
	int got503 = 0, before;

	(void)state;
	/* A second sidecar whose audit log hits the file-size limit (as on a full disk):
	 * once appends fail, every call is 503 and nothing is forwarded. */
	snprintf(p2, sizeof(p2), "%s/site2.yaml", dir);
	snprintf(ready2, sizeof(ready2), "%s/ready2.json", dir);
	snprintf(audit2, sizeof(audit2), "%s/audit2", dir);
	snprintf(audit_dir, sizeof(audit_dir), "%s", audit2);
	ingress_port = itest_free_port();
	admin_port = itest_free_port();
	egress_port = itest_free_port();
	write_policy(p2, "", 600);
	pid = start_sidecar(p2, ready2, 48 * 1024);
	assert_true(pid > 0);
	up_mode("ok");
	for (int i = 0; i < 400 && !got503; i++) {
		char *t = token_for("/cds-services/sepsis-risk");

		before = up_calls();
		if (call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r) == 503) {
			got503 = 1;
			assert_int_equal(up_calls(), before); /* nothing forwarded */
		}
		itest_resp_fini(&r);
		free(t);
	}
	assert_true(got503);
	{
		char url[128];

		snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", admin_port);
		assert_int_equal(itest_http("GET", url, NULL, NULL, &r), 0);
		assert_int_equal(r.status, 503);
		assert_non_null(strstr(r.body.p, "\"audit_writable\":false"));
		itest_resp_fini(&r);
	}
	itest_stop(pid, SIGKILL, 2000);
}

/* jwks_url: keys fetched at startup; an unknown kid triggers a refetch, at most once per
 * jwks_refresh_min_s; the rotated key is accepted afterwards. */
static void test_jwks_url_refresh_on_unknown_kid(void **state)
{
	char p3[512], ready3[512], audit3[512];
	struct itest_resp r;
	size_t len;
	char *full = itest_read_file(itest_src("policies/keys/demo-ehr.jwks.json"), &len);
	struct err e;
	cJSON *j = json_parse(full, len, NULL, &e), *keys = json_arr(j, "keys");
	char *only_rs;
	pid_t pid;
	int fetches;

	(void)state;
	/* serve a JWKS without the ES384 key */
	for (int i = cJSON_GetArraySize(keys) - 1; i >= 0; i--)
		if (strcmp(json_str(cJSON_GetArrayItem(keys, i), "kty"), "EC") == 0)
			cJSON_DeleteItemFromArray(keys, i);
	only_rs = cJSON_PrintUnformatted(j);
	pthread_mutex_lock(&up.mu);
	up.jwks = only_rs;
	up.jwks_fetches = 0;
	pthread_mutex_unlock(&up.mu);
	snprintf(p3, sizeof(p3), "%s/site3.yaml", dir);
	snprintf(ready3, sizeof(ready3), "%s/ready3.json", dir);
	snprintf(audit3, sizeof(audit3), "%s/audit3", dir);
	snprintf(audit_dir, sizeof(audit_dir), "%s", audit3);
	snprintf(jwks_line, sizeof(jwks_line), "jwks_url: http://127.0.0.1:%u/jwks.json\n      jwks_refresh_min_s: 1", up.port);
	ingress_port = itest_free_port();
	admin_port = itest_free_port();
	egress_port = itest_free_port();
	write_policy(p3, "", 600);
	pid = start_sidecar(p3, ready3, 0);
	assert_true(pid > 0);
	usleep(1100000); /* past the minimum interval since the startup fetch */
	/* unknown kid: refused, and (once) a refetch is requested */
	for (int i = 0; i < 3; i++) {
		char *t = token_for("/cds-services/sepsis-risk");

		assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r), 401);
		itest_resp_fini(&r);
		free(t);
	}
	assert_true(wait_log("event=jwks_refreshed", 10000));
	pthread_mutex_lock(&up.mu);
	fetches = up.jwks_fetches;
	pthread_mutex_unlock(&up.mu);
	assert_int_equal(fetches, 2); /* startup + one refresh for three unknown-kid tokens */
	/* the EHR rotates: the served set now has the ES384 key */
	pthread_mutex_lock(&up.mu);
	up.jwks = full;
	pthread_mutex_unlock(&up.mu);
	usleep(1100000);
	{
		char *t = token_for("/cds-services/sepsis-risk");

		assert_int_equal(call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r), 401);
		itest_resp_fini(&r);
		free(t);
	}
	/* the second refresh (rate limit passed) picks up the rotated key */
	for (int waited = 0; waited < 10000; waited += 100) {
		pthread_mutex_lock(&up.mu);
		fetches = up.jwks_fetches;
		pthread_mutex_unlock(&up.mu);
		if (fetches >= 3)
			break;
		usleep(100000);
	}
	assert_int_equal(fetches, 3);
	for (int tries = 0; tries < 50; tries++) {
		char *t = token_for("/cds-services/sepsis-risk");
		long st = call("/cds-services/sepsis-risk", t, hook_request("patient-view"), &r);

		itest_resp_fini(&r);
		free(t);
		if (st == 200)
			break;
		assert_int_equal(st, 401);
		assert_true(tries < 49); /* the new generation is in place within 10 s */
		usleep(200000);
	}
	itest_stop(pid, SIGTERM, 5000);
	pthread_mutex_lock(&up.mu);
	up.jwks = NULL;
	pthread_mutex_unlock(&up.mu);
	jwks_line[0] = '\0';
	cJSON_free(only_rs);
	cJSON_Delete(j);
	free(full);
}

/* ingress.tls: the EHR reaches the sidecar over TLS (OpenSSL bufferevents); plain HTTP to the
 * TLS port never reaches the handler. */
static void test_tls_listener(void **state)
{
	char p4[512], ready4[512], cert[512], key[512], url[256];
	char san[] = "subjectAltName=IP:127.0.0.1";
	char *mk[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-keyout", key,
		      "-out", cert, "-days", "2", "-nodes", "-subj", "/CN=127.0.0.1", "-addext", san, NULL};
	const char *h[3] = {"Content-Type: application/json", NULL, NULL};
	struct itest_resp r;
	char *t;
	pid_t pid;
	int before;

	(void)state;
	snprintf(cert, sizeof(cert), "%s/ingress.pem", dir);
	snprintf(key, sizeof(key), "%s/ingress.key", dir);
	assert_int_equal(itest_run(mk, NULL), 0);
	snprintf(p4, sizeof(p4), "%s/site4.yaml", dir);
	snprintf(ready4, sizeof(ready4), "%s/ready4.json", dir);
	snprintf(audit_dir, sizeof(audit_dir), "%s/audit4", dir);
	snprintf(tls_line, sizeof(tls_line), "  tls: {cert: %s, key: %s}\n", cert, key);
	ingress_port = itest_free_port();
	admin_port = itest_free_port();
	egress_port = itest_free_port();
	write_policy(p4, "", 600);
	tls_line[0] = '\0';
	pid = start_sidecar(p4, ready4, 0);
	assert_true(pid > 0);
	up_mode("ok");
	t = token_for("/cds-services/sepsis-risk");
	h[1] = t;
	itest_ca_file = cert;
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/cds-services/sepsis-risk", ingress_port);
	assert_int_equal(itest_http("POST", url, h, hook_request("patient-view"), &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body.p, "Sepsis risk high"));
	itest_resp_fini(&r);
	itest_ca_file = NULL;
	free(t);
	/* plain HTTP to the TLS listener: no answer from the handler, nothing forwarded */
	before = up_calls();
	t = token_for("/cds-services/sepsis-risk");
	h[1] = t;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/cds-services/sepsis-risk", ingress_port);
	itest_http("POST", url, h, hook_request("patient-view"), &r);
	assert_int_not_equal(r.status, 200);
	itest_resp_fini(&r);
	free(t);
	assert_int_equal(up_calls(), before);
	assert_int_equal(itest_stop(pid, SIGTERM, 10000), 0);
}

static void test_feedback_forwarded(void **state)
{
	struct itest_resp r;
	char *t = token_for("/cds-services/sepsis-risk/feedback");
	int before = up_calls();

	(void)state;
	assert_int_equal(call("/cds-services/sepsis-risk/feedback", t,
			      "{\"feedback\":[{\"card\":\"c1\",\"outcome\":\"accepted\",\"acceptedSuggestions\":[{\"id\":\"s1\"}],"
			      "\"outcomeTimestamp\":\"2026-11-23T10:00:00Z\"}]}", &r), 200);
	assert_int_equal(up_calls(), before + 1);
	itest_resp_fini(&r);
	/* the token's aud is the feedback URL: the same token for the service URL is refused */
	free(t);
	t = token_for("/cds-services/sepsis-risk");
	assert_int_equal(call("/cds-services/sepsis-risk/feedback", t, "{\"feedback\":[]}", &r), 401);
	itest_resp_fini(&r);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed_call_forwarded_minimised),
		cmocka_unit_test(test_jwt_attacks_401),
		cmocka_unit_test(test_unapproved_is_403_not_forwarded),
		cmocka_unit_test(test_slow_upstream_answered_in_time),
		cmocka_unit_test(test_unapproved_suggestion_stripped),
		cmocka_unit_test(test_discovery_filtered),
		cmocka_unit_test(test_feedback_forwarded),
		cmocka_unit_test(test_admin_endpoints),
		cmocka_unit_test(test_sighup_reload),
		cmocka_unit_test(test_audit_log_verifies_and_lists_decisions),
		cmocka_unit_test(test_audit_unwritable_fails_closed),
		cmocka_unit_test(test_jwks_url_refresh_on_unknown_kid),
		cmocka_unit_test(test_tls_listener),
	};
	return cmocka_run_group_tests_name("sidecar_ingress", tests, setup, teardown);
}
