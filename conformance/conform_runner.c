/* conform_runner — the simulated EHR at work: discovery, prefetch lint, request variants, JWT
 * forgeries, HTTP behaviour, card rules, feedback and latency, each recorded against the check
 * catalogue with evidence. Owns the event loop, the client, the simulated EHR server, the keys
 * and the fixture store for the duration of one run.
 *
 * Rules enforced are those of shared/research/cds-hooks.md (check numbers in the ids) and the
 * site policy; see conform_catalogue.c for the text of each.
 */
#include "conformance/conform_runner.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <sodium.h>

#include "conformance/conform_ehr.h"
#include "conformance/conform_fhir.h"
#include "conformance/conform_jwt.h"
#include "conformance/conform_net.h"
#include "conformance/conform_prefetch.h"
#include "conformance/conform_req.h"
#include "conformance/conform_util.h"
#include "lib/cds_card.h"
#include "lib/clock.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "sidecar/hookreq.h"

#define USER_ID "Practitioner/conform-practitioner-1"
#define DISCOVERY_MAX (1u << 20)

struct pair {
	const cJSON *entry;
	const char *id, *hook;
	const cJSON *prefetch;             /* discovery templates, may be NULL */
	cJSON *tmpl, *quirk;               /* request templates (owned) */
	const struct conform_site_service *svc;
	char url[1024];
	int base_status;
	cJSON *baseline;                   /* baseline response (owned) */
	char base_sig[256];
};

struct ctx {
	struct conform_run *run;
	struct conform_results *res;
	const struct conform_profile *prof;
	struct event_base *base;
	struct conform_net *net;
	struct conform_ehr *ehr;
	struct conform_fhir *store;
	struct conform_keys keys;
	bool keys_ok;
	struct conform_signer signer;
	char fhir_base[512];
	char jku[512], rogue_jku[512];
	char discovery_url[1024];
	unsigned timeout_ms;
	unsigned rid_seq;
	cJSON *discovery;
	struct pair *pairs;
	size_t n_pairs;
	const char *septic, *healthy, *nodata; /* fixture patient ids by profile */
	char last_answered[16];                /* the last exchange that got an HTTP answer */
	bool silence_noted;
};

static bool want(const struct ctx *c, enum conform_group g)
{
	return (c->run->opt.groups & (1u << g)) != 0;
}

static void next_rid(struct ctx *c, char rid[16])
{
	snprintf(rid, 16, "r%04u", ++c->rid_seq);
}

/* --- exchanges --------------------------------------------------------------------------- */

static void record_exchange(struct ctx *c, const char *rid, const char *method, const char *url, const char *service,
			    const char *hook, const char *variant, const struct conform_http_resp *rs)
{
	struct conform_run *r = c->run;
	struct conform_exchange *x;
	size_t tl = strlen(r->opt.target);

	r->ex = xrealloc(r->ex, (r->n_ex + 1) * sizeof(*r->ex));
	x = &r->ex[r->n_ex++];
	memset(x, 0, sizeof(*x));
	snprintf(x->rid, sizeof(x->rid), "%s", rid);
	snprintf(x->method, sizeof(x->method), "%s", method);
	x->path = xstrdup(strncmp(url, r->opt.target, tl) == 0 ? url + tl : url);
	x->service = service ? xstrdup(service) : NULL;
	x->hook = hook ? xstrdup(hook) : NULL;
	x->variant = variant ? xstrdup(variant) : NULL;
	x->status = rs->status;
	x->ms = rs->ms;
	x->error = rs->error ? xstrdup(rs->error) : NULL;
	if (rs->status > 0) {
		snprintf(c->last_answered, sizeof(c->last_answered), "%s", rid);
	} else if (r->reachable && !c->silence_noted && !rs->timed_out) {
		/* a target that answered before and now refuses connections has most likely crashed:
		 * say so once, so the failures that follow are read as one cause */
		c->silence_noted = true;
		conform_run_note(r, "The target stopped answering at request %s (%s %s, variant %s) after answering request %s; "
				    "later failures with 'no answer' follow from that (did it crash?).",
				 rid, service ? service : "-", hook ? hook : "-", variant ? variant : "-",
				 c->last_answered[0] ? c->last_answered : "-");
	}
	/* PHI-safe: ids, status, durations only (lib/log.h) */
	log_event(LOGL_DEBUG, rid, "exchange", "method=%s status=%d ms=%lld service=%s hook=%s variant=%s", method,
		  rs->status, (long long)rs->ms, service ? service : "-", hook ? hook : "-", variant ? variant : "-");
}

/* Mint a token of kind for a call to url into out ("Bearer ..." not included). */
static void mint(struct ctx *c, enum conform_token kind, const char *url, struct buf *out)
{
	struct err e = {0};

	if (conform_jwt_mint(&c->signer, kind, url, clock_wall_s(), out, NULL, &e) < 0) {
		fprintf(stderr, "ehrgate-conform: cannot sign a token: %s\n", e.msg);
		abort();
	}
}

struct xres {
	char rid[16];
	struct conform_http_resp rs;
	cJSON *json;
	char snippet[200]; /* start of an error body, as evidence */
};

/* The start of an error response body (services put the reason there), single line. */
static void body_snippet(const struct conform_http_resp *rs, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	if (rs->status < 400 || rs->body == NULL)
		return;
	for (const char *p = rs->body; *p && n + 1 < cap; p++)
		out[n++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
	out[n] = '\0';
}

static void xres_fini(struct xres *x)
{
	conform_http_resp_fini(&x->rs);
	cJSON_Delete(x->json);
	x->json = NULL;
}

/* Send one call. bearer: a token, or NULL for no Authorization header. */
static void send_call(struct ctx *c, const char *rid, const char *method, const char *url, const char *body,
		      const char *bearer, const char *const *extra, size_t n_extra, const char *service,
		      const char *hook, const char *variant, struct xres *x)
{
	const char *hdr[12];
	char *auth = NULL;
	size_t nh = 0;
	struct conform_http_req rq = {0};

	memset(x, 0, sizeof(*x));
	snprintf(x->rid, sizeof(x->rid), "%s", rid);
	hdr[nh++] = "Accept: application/json";
	if (body)
		hdr[nh++] = "Content-Type: application/json";
	if (bearer) {
		if (asprintf(&auth, "Authorization: Bearer %s", bearer) < 0)
			abort();
		hdr[nh++] = auth;
	}
	for (size_t i = 0; i < n_extra && nh < sizeof(hdr) / sizeof(hdr[0]); i++)
		hdr[nh++] = extra[i];
	rq.method = method;
	rq.url = url;
	rq.headers = hdr;
	rq.n_headers = nh;
	rq.body = body;
	rq.body_len = body ? strlen(body) : 0;
	rq.timeout_ms = c->timeout_ms;
	conform_ehr_set_current(c->ehr, rid);
	conform_net_do(c->net, &rq, &x->rs);
	conform_ehr_set_current(c->ehr, NULL);
	record_exchange(c, rid, method, url, service, hook, variant, &x->rs);
	body_snippet(&x->rs, x->snippet, sizeof(x->snippet));
	if (x->rs.status > 0 && x->rs.body_len > 0) {
		struct json_limits lim = {.max_bytes = 4u << 20, .max_depth = 64};
		struct err e = {0};

		x->json = json_parse(x->rs.body, x->rs.body_len, &lim, &e);
	}
	if (auth) {
		/* the header carried a bearer token: wipe it */
		memset(auth, 0, strlen(auth));
		free(auth);
	}
}

/* Send with a freshly minted token of kind (aud = url). */
static void send_signed(struct ctx *c, const char *rid, const char *method, const char *url, const char *body,
			enum conform_token kind, const char *service, const char *hook, const char *variant, struct xres *x)
{
	struct buf t;

	buf_init(&t, JOSE_MAX_TOKEN);
	mint(c, kind, url, &t);
	send_call(c, rid, method, url, body, t.p, NULL, 0, service, hook, variant, x);
	buf_fini(&t);
}

static struct conform_evidence ev_of(const char *rid, const struct conform_http_resp *rs, const char *service,
				     const char *hook, const char *variant)
{
	/* error bodies as evidence; a few rotating slots suffice: findings copy the text at once */
	static char slots[8][200];
	static unsigned slot;
	struct conform_evidence e = CONFORM_EVIDENCE_NONE;

	if (rs && rs->status >= 400 && rs->body_len) {
		char *b = slots[slot++ % 8];

		body_snippet(rs, b, sizeof(slots[0]));
		e.value = b;
	}
	e.rid = rid;
	e.http_status = rs ? rs->status : 0;
	e.elapsed_ms = rs ? rs->ms : -1;
	e.service = service;
	e.hook = hook;
	e.variant = variant;
	return e;
}

/* --- requests -------------------------------------------------------------------------------- */

struct breq {
	const cJSON *tmpl;
	const char *patient;
	enum conform_pf_mode mode;
	bool fhir_server, fhir_auth;
	void (*mutate)(cJSON *req);
};

static void add_days(char out[11], int days)
{
	char t[25];

	clock_fmt_rfc3339(t, clock_wall_ms() + (int64_t)days * 86400000);
	memcpy(out, t, 10);
	out[10] = '\0';
}

static char *build_request(struct ctx *c, const struct pair *p, const struct breq *b, const char *rid, char *desc,
			   size_t desc_cap)
{
	struct conform_hook_vars v = {0};
	struct conform_prefetch_ctx pc = {0};
	char hi[37], token[65], today[11], tomorrow[11];
	cJSON *req, *auth = NULL, *pre;
	char *s;

	conform_uuid4(hi); /* check 17: a fresh, hard-to-guess hookInstance per call */
	add_days(today, 0);
	add_days(tomorrow, 1);
	v.hook_instance = hi;
	v.fhir_server = b->fhir_server ? c->fhir_base : NULL;
	v.patient_id = b->patient;
	v.encounter_id = conform_fhir_encounter_id(c->store, b->patient);
	v.user_id = USER_ID;
	v.today = today;
	v.tomorrow = tomorrow;
	if (b->fhir_auth) {
		/* S2 §Passing the Access Token: access_token, token_type, expires_in, scope, subject (the
		 * service's client id), patient */
		struct buf scope;
		const struct conform_site_service *svc = p->svc;

		conform_ehr_issue_token(c->ehr, rid, b->patient, 300, token);
		buf_init(&scope, 4096);
		if (svc && svc->prefetch_read.n) {
			for (size_t i = 0; i < svc->prefetch_read.n; i++)
				if (buf_printf(&scope, "%spatient/%s.read", i ? " " : "", svc->prefetch_read.v[i]) < 0)
					break;
		} else if (buf_append_str(&scope, "patient/Patient.read patient/Observation.read patient/Condition.read") < 0) {
			abort();
		}
		auth = cJSON_CreateObject();
		cJSON_AddStringToObject(auth, "access_token", token);
		cJSON_AddStringToObject(auth, "token_type", "Bearer");
		cJSON_AddNumberToObject(auth, "expires_in", 300);
		cJSON_AddStringToObject(auth, "scope", scope.p ? scope.p : "");
		cJSON_AddStringToObject(auth, "subject", c->run->opt.client_id);
		cJSON_AddStringToObject(auth, "patient", b->patient);
		buf_fini(&scope);
		memset(token, 0, sizeof(token));
	}
	v.fhir_authorization = auth;
	req = conform_template_fill(b->tmpl, &v);
	cJSON_Delete(auth);
	pc.patient_id = b->patient;
	pc.encounter_id = v.encounter_id;
	pc.user_id = USER_ID;
	pc.legacy_user_token = b->mode == CONFORM_PF_QUIRK;
	pre = conform_prefetch_build(p->prefetch, p->hook, &pc, c->store, c->fhir_base, b->mode, desc, desc_cap);
	if (pre)
		cJSON_AddItemToObject(req, "prefetch", pre);
	if (b->mutate)
		b->mutate(req);
	s = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (s == NULL)
		abort();
	return s;
}

/* "n:ind,ind" — what a response said, to compare variants with the baseline. */
static void response_sig(const cJSON *resp, char *out, size_t cap)
{
	const cJSON *c;
	size_t n = 0, o;

	cJSON_ArrayForEach(c, json_arr(resp, "cards"))
		n++;
	o = (size_t)snprintf(out, cap, "%zu:", n);
	cJSON_ArrayForEach(c, json_arr(resp, "cards")) {
		const char *ind = json_str(c, "indicator");

		if (o < cap)
			o += (size_t)snprintf(out + o, cap - o, "%s,", ind ? ind : "?");
	}
}

static size_t card_count(const cJSON *resp)
{
	return (size_t)cJSON_GetArraySize(json_arr(resp, "cards"));
}

/* --- judging a service response ---------------------------------------------------------- */

static void check_054(struct ctx *c, const cJSON *resp, const struct conform_evidence *ev0)
{
	const cJSON *card, *s;
	int ci = 0;

	conform_ok(c->res, "CDS-CARD-054");
	cJSON_ArrayForEach(card, json_arr(resp, "cards")) {
		int si = 0;

		cJSON_ArrayForEach(s, json_arr(card, "suggestions")) {
			const cJSON *a, *b;

			cJSON_ArrayForEach(a, json_arr(s, "actions")) {
				const char *ta = json_str(a, "type"), *ra = json_str(a, "resourceId");

				if (!ta || strcmp(ta, "delete") != 0 || !ra)
					continue;
				cJSON_ArrayForEach(b, json_arr(s, "actions")) {
					const char *tb = json_str(b, "type");
					const cJSON *res = json_obj(b, "resource");
					char ref[256];

					if (!tb || strcmp(tb, "update") != 0 || !json_str(res, "resourceType") || !json_str(res, "id"))
						continue;
					snprintf(ref, sizeof(ref), "%s/%s", json_str(res, "resourceType"), json_str(res, "id"));
					if (strcmp(ref, ra) == 0) {
						struct conform_evidence ev = *ev0;
						char ptr[96];

						snprintf(ptr, sizeof(ptr), "/cards/%d/suggestions/%d", ci, si);
						ev.pointer = ptr;
						conform_fail(c->res, "CDS-CARD-054", &ev, "one suggestion deletes and updates the same resource");
					}
				}
			}
			si++;
		}
		ci++;
	}
}

static void judge_response(struct ctx *c, const struct pair *p, const char *rid, const struct conform_http_resp *rs,
			   const cJSON *json, const char *variant)
{
	struct conform_evidence ev = ev_of(rid, rs, p->id, p->hook, variant);
	static const char *const policy_rules[] = {
		"POLICY-ACTION-CREATE", "POLICY-ACTION-UPDATE", "POLICY-ACTION-DELETE",
		"POLICY-ACTION-UNKNOWN", "POLICY-LINK-SMART", "POLICY-LINK-APPCONTEXT",
	};
	struct cds_findings *f;
	struct cds_strips *st;

	if (rs->status == 204) {
		conform_fail(c->res, "CDS-HTTP-040", &ev, "204 No Content instead of 200 with {\"cards\": []}");
		return;
	}
	if (rs->status != 200)
		return;
	/* check 2: strict JSON, served as JSON */
	if (json == NULL) {
		conform_fail(c->res, "CDS-JSON-002", &ev, rs->body_len ? "the 200 response body is not valid JSON"
									: "the 200 response has an empty body");
		if (rs->body_len == 0)
			conform_fail(c->res, "CDS-HTTP-040", &ev, "empty body instead of {\"cards\": []}");
		return;
	}
	if (rs->content_type == NULL || strncasecmp(rs->content_type, "application/json", 16) != 0)
		conform_finding(c->res, "CDS-JSON-002", CDS_SHOULD, &ev, "Content-Type is not application/json");
	else
		conform_ok(c->res, "CDS-JSON-002");
	conform_ok(c->res, "CDS-HTTP-040");
	f = xmalloc(sizeof(*f));
	st = xmalloc(sizeof(*st));
	cds_validate_response(json, f);
	conform_add_card_findings(c->res, f, json, &ev);
	check_054(c, json, &ev);
	if (p->svc) {
		/* site approvals (cds_enforce in report mode: nothing is changed) */
		struct cds_approvals ap = {
			.create = (const char *const *)p->svc->create.v, .n_create = p->svc->create.n,
			.update = (const char *const *)p->svc->update.v, .n_update = p->svc->update.n,
			.del = (const char *const *)p->svc->del.v, .n_del = p->svc->del.n,
			.smart_links = (const char *const *)p->svc->smart_links.v, .n_smart_links = p->svc->smart_links.n,
			.allow_app_context = c->prof->app_context,
		};

		cds_enforce((cJSON *)json, f, &ap, false, st);
		for (size_t i = 0; i < sizeof(policy_rules) / sizeof(policy_rules[0]); i++)
			conform_ok(c->res, policy_rules[i]);
		for (size_t i = 0; i < st->n; i++) {
			struct conform_evidence e2 = ev;
			const cJSON *v;
			char *val;

			if (strncmp(st->v[i].rule, "POLICY-", 7) != 0)
				continue; /* a card removed for a card-rule defect: already reported */
			v = conform_json_pointer(json, st->v[i].pointer);
			val = v ? conform_value_text(v, 160) : NULL;
			e2.pointer = st->v[i].pointer;
			e2.value = val;
			if (!strncmp(st->v[i].rule, "POLICY-ACTION-", 14)) {
				/* name what the suggestion (or system action) would do, e.g. "create MedicationRequest" */
				char what[160] = "";
				const cJSON *a, *acts = json_arr(v, "actions");
				size_t o = 0;

				cJSON_ArrayForEach(a, acts) {
					const char *rt = json_str(json_obj(a, "resource"), "resourceType");
					const char *ref = json_str(a, "resourceId"), *ty = json_str(a, "type");
					char type[64];

					if (rt)
						snprintf(type, sizeof(type), "%s", rt);
					else if (ref && strchr(ref, '/'))
						snprintf(type, sizeof(type), "%.*s", (int)(strchr(ref, '/') - ref), ref);
					else
						snprintf(type, sizeof(type), "?");
					if (o < sizeof(what))
						o += (size_t)snprintf(what + o, sizeof(what) - o, "%s%s %s", o ? ", " : "", ty ? ty : "?", type);
				}
				if (acts == NULL && json_str(v, "type")) {
					const char *rt = json_str(json_obj(v, "resource"), "resourceType");

					snprintf(what, sizeof(what), "%s %s", json_str(v, "type"), rt ? rt : "?");
				}
				conform_fail(c->res, st->v[i].rule, &e2, "%s: not approved by the site for this service",
					     what[0] ? what : "an action");
			} else {
				conform_fail(c->res, st->v[i].rule, &e2, "%s",
					     !strcmp(st->v[i].rule, "POLICY-LINK-SMART") ? "SMART link to an app the site has not approved"
											 : "appContext on a link; this EHR does not support it");
			}
			free(val);
		}
	}
	free(f);
	free(st);
}

/* --- discovery ------------------------------------------------------------------------- */

/* check 3 on the discovery document */
static void walk_empty(struct ctx *c, const cJSON *n, char *ptr, size_t plen, size_t cap, const struct conform_evidence *ev0,
		       bool top)
{
	const cJSON *x;
	int i = 0;

	for (x = n->child; x; x = x->next, i++) {
		size_t l = plen + (size_t)(cJSON_IsObject(n) ? snprintf(ptr + plen, cap - plen, "/%s", x->string)
							      : snprintf(ptr + plen, cap - plen, "/%d", i));

		if (l >= cap)
			l = cap - 1;
		if (!(top && x->string && !strcmp(x->string, "services") && cJSON_IsArray(x)) &&
		    (cJSON_IsNull(x) || (cJSON_IsString(x) && x->valuestring[0] == '\0') ||
		     ((cJSON_IsArray(x) || cJSON_IsObject(x)) && x->child == NULL))) {
			struct conform_evidence ev = *ev0;
			char *val = conform_value_text(x, 60);

			ev.pointer = ptr;
			ev.value = val;
			conform_fail(c->res, "CDS-JSON-003", &ev, "null or empty value in the discovery document");
			free(val);
		}
		walk_empty(c, x, ptr, l, cap, ev0, false);
		ptr[plen] = '\0';
	}
}

static bool url_safe_id(const char *id)
{
	if (*id == '\0')
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			return false;
	return true;
}

static const char *patient_of_profile(const struct conform_fhir *s, const char *profile, size_t fallback)
{
	for (size_t i = 0; i < conform_fhir_patient_count(s); i++)
		if (!strcmp(conform_fhir_patient_profile(s, i), profile))
			return conform_fhir_patient_id(s, i);
	return conform_fhir_patient_id(s, fallback < conform_fhir_patient_count(s) ? fallback : 0);
}

/* Returns -EHOSTUNREACH when the target cannot be reached at all. */
static int run_discovery(struct ctx *c)
{
	struct xres x;
	char rid[16];
	const cJSON *svcs, *e;
	struct conform_evidence ev;
	bool wd = want(c, CONFORM_G_DISCOVERY);
	int i;

	next_rid(c, rid);
	send_signed(c, rid, "GET", c->discovery_url, NULL, CONFORM_TOK_VALID, NULL, NULL, "discovery", &x);
	ev = ev_of(rid, &x.rs, NULL, NULL, "discovery");
	if (x.rs.status < 0) {
		conform_run_note(c->run, "The target did not answer discovery (%s): nothing was tested.",
				 x.rs.error ? x.rs.error : "no answer");
		xres_fini(&x);
		return -EHOSTUNREACH;
	}
	c->run->reachable = true;
	if (x.rs.status != 200) {
		if (wd)
			conform_fail(c->res, "CDS-DISC-005", &ev, "discovery answered %d", x.rs.status);
		conform_fail(c->res, "CDS-DISC-100", &ev, "discovery did not answer 200: no service can be called");
		if (x.rs.status == 401 || x.rs.status == 403)
			conform_run_note(c->run,
					 "Discovery refused the harness's token (HTTP %d): the target does not trust the simulated EHR's "
					 "keys or issuer. Pass --ehr-key with a private key whose public half the target trusts, and --iss.",
					 x.rs.status);
		xres_fini(&x);
		return 0;
	}
	if (wd)
		conform_ok(c->res, "CDS-DISC-005");
	if (x.json == NULL) {
		if (wd)
			conform_fail(c->res, "CDS-JSON-002", &ev, "discovery body is not valid JSON");
		xres_fini(&x);
		return 0;
	}
	if (wd) {
		char ptr[CDS_POINTER_MAX] = "";

		if (x.rs.content_type == NULL || strncasecmp(x.rs.content_type, "application/json", 16) != 0)
			conform_finding(c->res, "CDS-JSON-002", CDS_SHOULD, &ev, "discovery Content-Type is not application/json");
		else
			conform_ok(c->res, "CDS-JSON-002");
		conform_ok(c->res, "CDS-JSON-003");
		walk_empty(c, x.json, ptr, 0, sizeof(ptr), &ev, true);
	}
	svcs = json_arr(x.json, "services");
	if (!cJSON_IsObject(x.json) || svcs == NULL) {
		if (wd)
			conform_fail(c->res, "CDS-DISC-006", &ev, "discovery body has no services array");
		xres_fini(&x);
		return 0;
	}
	if (wd) {
		conform_ok(c->res, "CDS-DISC-006");
		if (svcs->child == NULL && c->prof->quirk_dir && !strcmp(c->prof->quirk_dir, "sandbox"))
			conform_finding(c->res, "CDS-DISC-006", CDS_SHOULD, &ev,
					"services is empty: the cds-hooks sandbox treats an empty list as a failed connection");
	}
	c->discovery = x.json;
	x.json = NULL;
	i = 0;
	cJSON_ArrayForEach(e, json_arr(c->discovery, "services")) {
		const char *id = json_str(e, "id"), *hook = json_str(e, "hook");
		char ptr[64];
		struct conform_evidence ev2 = ev;
		const cJSON *o;
		int j = 0;

		snprintf(ptr, sizeof(ptr), "/services/%d", i);
		ev2.pointer = ptr;
		ev2.service = id;
		ev2.hook = hook;
		if (wd) {
			/* check 7 */
			if (!cJSON_IsObject(e) || !id || !hook || !json_str(e, "description"))
				conform_fail(c->res, "CDS-DISC-007", &ev2, "service entry lacks %s", !cJSON_IsObject(e) ? "an object"
												: !id  ? "id"
												: !hook ? "hook"
													: "description");
			else
				conform_ok(c->res, "CDS-DISC-007");
			if (cJSON_IsObject(e) && !json_str(e, "title"))
				conform_finding(c->res, "CDS-DISC-007", CDS_SHOULD, &ev2, "service entry has no title (RECOMMENDED)");
			if (cJSON_GetObjectItemCaseSensitive(e, "prefetch") && !cJSON_IsObject(json_obj(e, "prefetch")))
				conform_fail(c->res, "CDS-DISC-007", &ev2, "prefetch is not an object of strings");
			/* check 8 */
			if (id && !url_safe_id(id))
				conform_fail(c->res, "CDS-DISC-008", &ev2, "id is not a safe URL path segment");
			cJSON_ArrayForEach(o, json_arr(c->discovery, "services")) {
				if (j++ >= i)
					break;
				if (id && hook && json_str(o, "id") && json_str(o, "hook") && !strcmp(id, json_str(o, "id")) &&
				    !strcmp(hook, json_str(o, "hook"))) {
					conform_fail(c->res, "CDS-DISC-008", &ev2, "(id, hook) pair advertised twice");
					break;
				}
			}
			conform_ok(c->res, "CDS-DISC-008");
			/* check 9 */
			if (hook && !conform_hook_known(hook) && !strchr(hook, '.'))
				conform_fail(c->res, "CDS-DISC-009", &ev2, "hook is neither a library hook nor a reverse-domain name");
			else if (hook)
				conform_ok(c->res, "CDS-DISC-009");
		}
		i++;
	}
	xres_fini(&x);
	return 0;
}

/* Decide which (service, hook) pairs the simulated EHR will call, and lint what is offered
 * against the site policy (checks DISC-101/102). */
static void choose_pairs(struct ctx *c)
{
	const struct conform_site *site = &c->run->site;
	const cJSON *e;
	bool wd = want(c, CONFORM_G_DISCOVERY);

	cJSON_ArrayForEach(e, json_arr(c->discovery, "services")) {
		const char *id = json_str(e, "id"), *hook = json_str(e, "hook");
		const struct conform_site_service *svc = conform_site_service(site, id);
		struct conform_evidence ev = CONFORM_EVIDENCE_NONE;
		struct pair *p;
		struct err er = {0};

		if (!id || !hook || !url_safe_id(id))
			continue;
		ev.service = id;
		ev.hook = hook;
		if (!conform_profile_has_hook(c->prof, hook)) {
			if (wd)
				conform_fail(c->res, "CDS-DISC-102", &ev, "the %s EHR profile cannot fire this hook", c->prof->name);
			continue;
		}
		if (svc == NULL || !conform_strs_has(&svc->hooks, hook) || !svc->approval_active) {
			if (wd)
				conform_fail(c->res, "CDS-DISC-102", &ev, "%s",
					     svc == NULL                            ? "service not approved by the site"
					     : !conform_strs_has(&svc->hooks, hook) ? "hook not approved for this service"
										    : "the service's approval is not active (expired or not yet granted)");
			continue;
		}
		if (wd)
			conform_ok(c->res, "CDS-DISC-102");
		c->pairs = xrealloc(c->pairs, (c->n_pairs + 1) * sizeof(*c->pairs));
		p = &c->pairs[c->n_pairs++];
		memset(p, 0, sizeof(*p));
		p->entry = e;
		p->id = id;
		p->hook = hook;
		p->prefetch = json_obj(e, "prefetch");
		p->svc = svc;
		snprintf(p->url, sizeof(p->url), "%s/cds-services/%s", c->run->opt.target, id);
		p->tmpl = conform_template_load(c->run->fixtures, c->prof->template_dir, hook, &er);
		if (p->tmpl == NULL) {
			conform_run_note(c->run, "No request template for hook %s in profile %s (fixtures/hooks/%s): not called.", hook,
					 c->prof->name, c->prof->template_dir);
			c->n_pairs--;
			continue;
		}
		if (c->prof->quirk_dir)
			p->quirk = conform_template_load(c->run->fixtures, c->prof->quirk_dir, hook, &er);
		p->base_status = 0;
	}
	/* CDS-DISC-100: a run with nothing to call must not pass the gate */
	if (c->n_pairs)
		conform_ok(c->res, "CDS-DISC-100");
	else
		conform_fail(c->res, "CDS-DISC-100", NULL, "no (service, hook) pair is offered, approved by %s and fireable by the %s EHR",
			     site->id, c->prof->name);
	/* check DISC-101: every approved, active (service, hook) the EHR can fire is offered */
	for (size_t i = 0; wd && i < site->n_services; i++) {
		const struct conform_site_service *s = &site->services[i];

		for (size_t k = 0; s->approval_active && k < s->hooks.n; k++) {
			bool found = false;
			struct conform_evidence ev = CONFORM_EVIDENCE_NONE;

			if (!conform_profile_has_hook(c->prof, s->hooks.v[k]))
				continue;
			cJSON_ArrayForEach(e, json_arr(c->discovery, "services"))
				found = found || (json_str(e, "id") && json_str(e, "hook") && !strcmp(json_str(e, "id"), s->id) &&
						  !strcmp(json_str(e, "hook"), s->hooks.v[k]));
			ev.service = s->id;
			ev.hook = s->hooks.v[k];
			if (found)
				conform_ok(c->res, "CDS-DISC-101");
			else
				conform_fail(c->res, "CDS-DISC-101", &ev, "approved by the site (%s) but not offered by discovery",
					     s->approval_ref ? s->approval_ref : "");
		}
	}
}

/* --- prefetch lint ---------------------------------------------------------------------- */

static void run_prefetch_lint(struct ctx *c)
{
	const cJSON *e, *t;
	int i = 0;

	cJSON_ArrayForEach(e, json_arr(c->discovery, "services")) {
		const char *id = json_str(e, "id"), *hook = json_str(e, "hook");
		const struct conform_site_service *svc = conform_site_service(&c->run->site, id);

		cJSON_ArrayForEach(t, json_obj(e, "prefetch")) {
			struct conform_lint l[CONFORM_LINT_MAX];
			struct conform_evidence ev = CONFORM_EVIDENCE_NONE;
			char ptr[160], type[64];
			size_t n;

			snprintf(ptr, sizeof(ptr), "/services/%d/prefetch/%s", i, t->string);
			ev.service = id;
			ev.hook = hook;
			ev.pointer = ptr;
			ev.value = cJSON_IsString(t) ? t->valuestring : NULL;
			if (!cJSON_IsString(t)) {
				conform_fail(c->res, "CDS-PREF-011", &ev, "prefetch template is not a string");
				continue;
			}
			n = conform_prefetch_lint(hook ? hook : "", t->valuestring, l, CONFORM_LINT_MAX);
			for (size_t k = 0; k < n; k++)
				conform_finding(c->res, l[k].check, l[k].level, &ev, "%s", l[k].msg);
			conform_ok(c->res, "CDS-PREF-011");
			conform_ok(c->res, "CDS-PREF-012");
			conform_ok(c->res, "CDS-PREF-013");
			conform_ok(c->res, "CDS-PREF-014");
			conform_ok(c->res, "CDS-PREF-015");
			if (svc) {
				hookreq_template_type(t->valuestring, type, sizeof(type));
				if (type[0] && !conform_strs_has(&svc->prefetch_read, type))
					conform_fail(c->res, "CDS-PREF-101", &ev, "reads %s, not in the site's prefetch_read for this service",
						     type);
				else
					conform_ok(c->res, "CDS-PREF-101");
			}
		}
		i++;
	}
	conform_skip(c->res, "CDS-PREF-016", "CDS Hooks 3.0 ballot only; the EHR profiles speak 2.0");
	conform_skip(c->res, "CDS-PREF-101", "no prefetch template of an approved service");
}

/* --- service calls: baseline and request variants ---------------------------------------- */

static bool ok_status(int s)
{
	return s == 200 || s == 412;
}

/* One hook call with a built request; judged for cards/HTTP. Returns the xres (caller frees). */
static void hook_call(struct ctx *c, struct pair *p, const struct breq *b, const char *variant, struct xres *x,
		      char *desc, size_t desc_cap)
{
	char rid[16];
	char *body;

	next_rid(c, rid);
	body = build_request(c, p, b, rid, desc, desc_cap);
	send_signed(c, rid, "POST", p->url, body, CONFORM_TOK_VALID, p->id, p->hook, variant, x);
	free(body);
	judge_response(c, p, rid, &x->rs, x->json, variant);
}

static void run_baseline(struct ctx *c, struct pair *p)
{
	struct breq b = {p->tmpl, c->septic, CONFORM_PF_FULL, true, true, NULL};
	struct conform_evidence ev;
	struct xres x;
	char desc[512];

	hook_call(c, p, &b, "prefetch-full", &x, desc, sizeof(desc));
	ev = ev_of(x.rid, &x.rs, p->id, p->hook, "prefetch-full");
	p->base_status = x.rs.status;
	/* check 10: every advertised service answers */
	if (want(c, CONFORM_G_DISCOVERY)) {
		if (ok_status(x.rs.status))
			conform_ok(c->res, "CDS-DISC-010");
		else
			conform_fail(c->res, "CDS-DISC-010", &ev, "service call answered %d%s%s", x.rs.status,
				     x.rs.error ? ": " : "", x.rs.error ? x.rs.error : "");
	}
	/* check 21 */
	if (x.rs.status == 200 && cJSON_IsArray(json_arr(x.json, "cards")))
		conform_ok(c->res, "CDS-REQ-021");
	else if (x.rs.status == 412)
		conform_finding(c->res, "CDS-REQ-021", CDS_SHOULD, &ev, "412 although every prefetch key was satisfied");
	else
		conform_fail(c->res, "CDS-REQ-021", &ev, "complete request answered %d%s", x.rs.status,
			     x.rs.status == 200 ? " without a cards array" : "");
	if (x.json && x.rs.status == 200) {
		p->baseline = x.json;
		x.json = NULL;
		response_sig(p->baseline, p->base_sig, sizeof(p->base_sig));
	}
	xres_fini(&x);
}

/* Advertised entries the EHR will not call in the normal run still must be callable (check 10). */
static void run_unpaired_callability(struct ctx *c)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, json_arr(c->discovery, "services")) {
		const char *id = json_str(e, "id"), *hook = json_str(e, "hook");
		bool paired = false;
		struct pair p = {0};
		struct err er = {0};
		struct xres x;
		struct breq b = {0};
		char desc[256];

		for (size_t i = 0; i < c->n_pairs; i++)
			paired = paired || (!strcmp(c->pairs[i].id, id ? id : "") && !strcmp(c->pairs[i].hook, hook ? hook : ""));
		if (paired || !id || !hook || !url_safe_id(id))
			continue;
		p.id = id;
		p.hook = hook;
		p.prefetch = json_obj(e, "prefetch");
		snprintf(p.url, sizeof(p.url), "%s/cds-services/%s", c->run->opt.target, id);
		/* any template for the hook will do (generic strict first) */
		p.tmpl = conform_template_load(c->run->fixtures, "generic", hook, &er);
		if (p.tmpl == NULL) {
			cJSON *t = cJSON_CreateObject(), *ctx = cJSON_AddObjectToObject(t, "context");

			cJSON_AddStringToObject(t, "hookInstance", "{{hookInstance}}");
			cJSON_AddStringToObject(t, "hook", hook);
			cJSON_AddStringToObject(t, "fhirServer", "{{fhirServer}}");
			cJSON_AddStringToObject(ctx, "userId", "{{userId}}");
			cJSON_AddStringToObject(ctx, "patientId", "{{patientId}}");
			p.tmpl = t;
		}
		b.tmpl = p.tmpl;
		b.patient = c->septic;
		b.mode = CONFORM_PF_FULL;
		b.fhir_server = true;
		b.fhir_auth = true;
		hook_call(c, &p, &b, "prefetch-full", &x, desc, sizeof(desc));
		if (ok_status(x.rs.status))
			conform_ok(c->res, "CDS-DISC-010");
		else {
			struct conform_evidence ev = ev_of(x.rid, &x.rs, id, hook, "prefetch-full");

			conform_fail(c->res, "CDS-DISC-010", &ev, "service call answered %d", x.rs.status);
		}
		xres_fini(&x);
		cJSON_Delete(p.tmpl);
	}
}

static void mutate_unknown(cJSON *req)
{
	cJSON *ext = cJSON_CreateObject(), *v = cJSON_CreateObject(), *u = cJSON_CreateObject();

	/* check 26: an extension and a member from the future */
	cJSON_AddStringToObject(v, "purpose", "conformance test");
	cJSON_AddItemToObject(ext, "org.example.conform", v);
	cJSON_AddItemToObject(req, "extension", ext);
	cJSON_AddStringToObject(u, "note", "a member this service has never seen");
	cJSON_AddItemToObject(req, "org.example.futureMember", u);
	cJSON_AddItemToObject(json_obj(req, "context"), "org.example.contextExtra", cJSON_CreateString("ignored"));
}

/* Variants with FHIR access: the service may call back (checks 22, 25 and REQ-122). */
static void judge_callbacks(struct ctx *c, struct pair *p, const struct xres *x, const char *variant, size_t *calls_out)
{
	size_t bad, paged, n = conform_ehr_calls_for(c->run, x->rid, &bad, &paged);
	struct conform_evidence ev = ev_of(x->rid, &x->rs, p->id, p->hook, variant);

	*calls_out = n;
	if (n == 0)
		return;
	if (bad)
		conform_fail(c->res, "CDS-REQ-122", &ev, "%zu of %zu FHIR calls lacked the hook's access token or read another patient",
			     bad, n);
	else
		conform_ok(c->res, "CDS-REQ-122");
}

static void run_variants(struct ctx *c, struct pair *p)
{
	static const struct {
		const char *check, *variant;
		enum conform_pf_mode mode;
	} v22[] = {
		{"CDS-REQ-022", "prefetch-partial", CONFORM_PF_PARTIAL},
		{"CDS-REQ-022", "prefetch-none", CONFORM_PF_NONE},
	};
	bool has_prefetch = cJSON_GetArraySize(p->prefetch) > 0, has_search = false;
	const cJSON *t;
	char desc[512];
	struct xres x;

	cJSON_ArrayForEach(t, p->prefetch)
		has_search = has_search || (cJSON_IsString(t) && strchr(t->valuestring, '?'));
	/* check 22: partial and no prefetch, with FHIR access */
	for (size_t i = 0; i < sizeof(v22) / sizeof(v22[0]); i++) {
		struct breq b = {p->tmpl, c->septic, v22[i].mode, true, true, NULL};
		struct conform_evidence ev;
		size_t calls;

		if (!has_prefetch && v22[i].mode == CONFORM_PF_PARTIAL)
			continue;
		hook_call(c, p, &b, v22[i].variant, &x, desc, sizeof(desc));
		ev = ev_of(x.rid, &x.rs, p->id, p->hook, v22[i].variant);
		judge_callbacks(c, p, &x, v22[i].variant, &calls);
		if (!ok_status(x.rs.status)) {
			conform_fail(c->res, v22[i].check, &ev, "answered %d%s%s (expected 200 after fetching, or 412)", x.rs.status,
				     x.rs.error ? ": " : "", x.rs.error ? x.rs.error : "");
		} else {
			char sig[256];

			conform_ok(c->res, v22[i].check);
			if (x.rs.status == 200 && calls == 0 && p->baseline && has_prefetch) {
				response_sig(x.json, sig, sizeof(sig));
				if (strcmp(sig, p->base_sig) != 0)
					conform_finding(c->res, v22[i].check, CDS_SHOULD, &ev,
							"answered without fetching the missing data, and its cards differ from the answer with full prefetch");
			}
		}
		xres_fini(&x);
	}
	/* check 41: no prefetch and no FHIR access at all, for the patient without data */
	if (has_prefetch) {
		struct breq b = {p->tmpl, c->nodata, CONFORM_PF_NONE, false, false, NULL};
		struct conform_evidence ev;

		hook_call(c, p, &b, "no-data-no-fhir-access", &x, desc, sizeof(desc));
		ev = ev_of(x.rid, &x.rs, p->id, p->hook, "no-data-no-fhir-access");
		if (x.rs.status == 412)
			conform_ok(c->res, "CDS-HTTP-041");
		else if (x.rs.status == 200 && card_count(x.json) > 0)
			conform_fail(c->res, "CDS-HTTP-041", &ev,
				     "answered 200 with %zu card(s) although it could not have any data (expected 412)", card_count(x.json));
		else if (x.rs.status == 200)
			conform_finding(c->res, "CDS-HTTP-041", CDS_SHOULD, &ev,
					"answered 200 with no cards instead of 412 although it could not get the data it declares");
		else
			conform_fail(c->res, "CDS-HTTP-041", &ev, "answered %d (expected 412)", x.rs.status);
		xres_fini(&x);
	} else {
		conform_skip(c->res, "CDS-HTTP-041", "the service declares no prefetch: it may not need data");
	}
	/* checks 23, 24, 25 */
	if (has_prefetch) {
		static const struct {
			const char *check, *variant;
			enum conform_pf_mode mode;
			bool need_search;
		} vv[] = {
			{"CDS-REQ-023", "prefetch-null", CONFORM_PF_NULL, false},
			{"CDS-REQ-024", "prefetch-operationoutcome", CONFORM_PF_OUTCOME, false},
			{"CDS-REQ-025", "prefetch-paginated", CONFORM_PF_PAGED, true},
		};

		for (size_t i = 0; i < sizeof(vv) / sizeof(vv[0]); i++) {
			struct breq b = {p->tmpl, c->septic, vv[i].mode, true, true, NULL};
			struct conform_evidence ev;
			size_t calls, bad, paged;

			if (!c->prof->strict_prefetch) {
				conform_skip(c->res, vv[i].check, "the %s EHR profile does not send this prefetch form", c->prof->name);
				continue;
			}
			if (vv[i].need_search && !has_search) {
				conform_skip(c->res, vv[i].check, "no prefetch template is a search");
				continue;
			}
			hook_call(c, p, &b, vv[i].variant, &x, desc, sizeof(desc));
			ev = ev_of(x.rid, &x.rs, p->id, p->hook, vv[i].variant);
			judge_callbacks(c, p, &x, vv[i].variant, &calls);
			if (ok_status(x.rs.status))
				conform_ok(c->res, vv[i].check);
			else
				conform_fail(c->res, vv[i].check, &ev, "answered %d%s%s (expected 200 or 412)", x.rs.status,
					     x.rs.error ? ": " : "", x.rs.error ? x.rs.error : "");
			if (vv[i].mode == CONFORM_PF_PAGED) {
				conform_ehr_calls_for(c->run, x.rid, &bad, &paged);
				if (paged)
					conform_note(c->res, "CDS-REQ-025", "the service followed %zu next link(s) with the access token",
						     paged);
				else
					conform_note(c->res, "CDS-REQ-025", "the service used the first page only");
			}
			xres_fini(&x);
		}
	} else {
		conform_skip(c->res, "CDS-REQ-023", "the service declares no prefetch");
		conform_skip(c->res, "CDS-REQ-024", "the service declares no prefetch");
		conform_skip(c->res, "CDS-REQ-025", "the service declares no prefetch");
	}
	/* check 26 */
	{
		struct breq b = {p->tmpl, c->septic, CONFORM_PF_FULL, true, true, mutate_unknown};
		struct conform_evidence ev;
		char sig[256];

		hook_call(c, p, &b, "unknown-members", &x, desc, sizeof(desc));
		ev = ev_of(x.rid, &x.rs, p->id, p->hook, "unknown-members");
		if (x.rs.status != p->base_status)
			conform_fail(c->res, "CDS-REQ-026", &ev, "answered %d with unknown members, %d without", x.rs.status,
				     p->base_status);
		else if (x.rs.status == 200 && p->baseline && (response_sig(x.json, sig, sizeof(sig)), strcmp(sig, p->base_sig) != 0))
			conform_fail(c->res, "CDS-REQ-026", &ev, "cards differ from the answer without unknown members");
		else
			conform_ok(c->res, "CDS-REQ-026");
		xres_fini(&x);
	}
	/* CDS-REQ-120: the profile's quirky variant */
	if (p->quirk) {
		struct breq b = {p->quirk, c->septic, CONFORM_PF_QUIRK, true, false, NULL};
		char variant[96];
		struct conform_evidence ev;

		snprintf(variant, sizeof(variant), "%s", c->prof->quirk_label ? c->prof->quirk_label : "quirk");
		hook_call(c, p, &b, variant, &x, desc, sizeof(desc));
		ev = ev_of(x.rid, &x.rs, p->id, p->hook, variant);
		if (ok_status(x.rs.status))
			conform_ok(c->res, "CDS-REQ-120");
		else
			conform_fail(c->res, "CDS-REQ-120", &ev, "answered %d to the %s request", x.rs.status, variant);
		xres_fini(&x);
	} else {
		conform_skip(c->res, "CDS-REQ-120", "the %s EHR profile has no quirky variant for this hook", c->prof->name);
	}
}

/* --- JWT authentication -------------------------------------------------------------------- */

static bool refused(int s)
{
	return s == 401 || s == 403;
}

static void run_auth(struct ctx *c)
{
	static const struct {
		enum conform_token tok;
		const char *check, *what;
	} neg[] = {
		{CONFORM_TOK_NO_KID, "CDS-AUTH-028", "token without kid"},
		{CONFORM_TOK_NONE, "CDS-AUTH-029", "alg none"},
		{CONFORM_TOK_HS384, "CDS-AUTH-030", "HS384 keyed with the public key"},
		{CONFORM_TOK_NO_ISS, "CDS-AUTH-032", "token without iss"},
		{CONFORM_TOK_NO_AUD, "CDS-AUTH-032", "token without aud"},
		{CONFORM_TOK_NO_EXP, "CDS-AUTH-032", "token without exp"},
		{CONFORM_TOK_NO_IAT, "CDS-AUTH-032", "token without iat"},
		{CONFORM_TOK_NO_JTI, "CDS-AUTH-032", "token without jti"},
		{CONFORM_TOK_WRONG_AUD, "CDS-AUTH-033", "aud = the discovery URL"},
		{CONFORM_TOK_EXPIRED, "CDS-AUTH-034", "expired 10 minutes ago"},
		{CONFORM_TOK_UNKNOWN_KEY, "CDS-AUTH-037", "signed by a key not in the JWK Set"},
		{CONFORM_TOK_UNKNOWN_ISS, "CDS-AUTH-037", "unknown iss"},
		{CONFORM_TOK_FOREIGN_JKU, "CDS-AUTH-037", "jku pointing at an attacker's JWK Set"},
	};
	struct pair *p = NULL;
	char *body, desc[256], first_body[512] = "";
	bool bodies_differ = false, leaky = false;
	size_t n_refusals = 0;
	struct xres x;
	char rid[16];
	struct breq b;

	for (size_t i = 0; i < c->n_pairs && !p; i++)
		if (ok_status(c->pairs[i].base_status))
			p = &c->pairs[i];
	if (p == NULL && c->n_pairs)
		p = &c->pairs[0];
	if (p == NULL) {
		for (size_t i = 0; i < conform_results_count(c->res); i++) {
			struct conform_result *r = conform_results_at(c->res, i);

			if (r->def->group == CONFORM_G_AUTH)
				conform_skip(c->res, r->def->id, "no approved service/hook the EHR can call was offered");
		}
		return;
	}
	b = (struct breq){p->tmpl, c->healthy, CONFORM_PF_FULL, true, false, NULL};
	next_rid(c, rid);
	body = build_request(c, p, &b, rid, desc, sizeof(desc));
	c->signer.wrong_aud = c->discovery_url;
	/* check 31: the EHR's own algorithm must work (MUST); the other recommended one should */
	{
		enum conform_token other = c->prof->alg == JOSE_ALG_ES384 ? CONFORM_TOK_VALID_RS384 : CONFORM_TOK_VALID_ES384;
		const struct {
			const char *check;
			const char *what;
			enum conform_token tok;
			enum cds_level lvl;
		} pos[] = {
			{"CDS-AUTH-031", "valid token as the EHR signs it", CONFORM_TOK_VALID, CDS_MUST},
			{"CDS-AUTH-031", "valid token with the other recommended algorithm", other, CDS_SHOULD},
			{"CDS-AUTH-033", "aud as a one-element array", CONFORM_TOK_AUD_ARRAY, CDS_SHOULD},
			{"CDS-AUTH-035", "token with the EHR's lifetime", CONFORM_TOK_VALID, CDS_POLICY},
		};

		for (size_t i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
			struct conform_evidence ev;

			next_rid(c, rid);
			send_signed(c, rid, "POST", p->url, body, pos[i].tok, p->id, p->hook, conform_token_name(pos[i].tok), &x);
			ev = ev_of(rid, &x.rs, p->id, p->hook, conform_token_name(pos[i].tok));
			if (ok_status(x.rs.status))
				conform_ok(c->res, pos[i].check);
			else
				conform_finding(c->res, pos[i].check, pos[i].lvl, &ev, "%s was not accepted (HTTP %d)", pos[i].what,
						x.rs.status);
			xres_fini(&x);
		}
		if (c->prof->claim_sub || c->prof->nbf_before_iat_s >= 0) {
			struct conform_evidence ev;

			next_rid(c, rid);
			send_signed(c, rid, "POST", p->url, body, CONFORM_TOK_EHR_EXTRAS, p->id, p->hook, "ehr-extra-claims", &x);
			ev = ev_of(rid, &x.rs, p->id, p->hook, "ehr-extra-claims");
			if (ok_status(x.rs.status))
				conform_ok(c->res, "CDS-AUTH-135");
			else
				conform_fail(c->res, "CDS-AUTH-135", &ev, "token with sub, nbf and a 900 s lifetime was refused (HTTP %d)",
					     x.rs.status);
			xres_fini(&x);
		} else {
			conform_skip(c->res, "CDS-AUTH-135", "the %s EHR profile adds no extra claims", c->prof->name);
		}
	}
	/* check 27: no token at all */
	{
		struct conform_evidence ev;

		next_rid(c, rid);
		send_call(c, rid, "POST", p->url, body, NULL, NULL, 0, p->id, p->hook, "no-token", &x);
		ev = ev_of(rid, &x.rs, p->id, p->hook, "no-token");
		if (refused(x.rs.status))
			conform_ok(c->res, "CDS-AUTH-027");
		else
			conform_fail(c->res, "CDS-AUTH-027", &ev, "a call without Authorization was answered %d", x.rs.status);
		if (refused(x.rs.status)) {
			snprintf(first_body, sizeof(first_body), "%s", x.rs.body);
			n_refusals++;
		}
		xres_fini(&x);
	}
	/* checks 28-34, 37: forged tokens */
	for (size_t i = 0; i < sizeof(neg) / sizeof(neg[0]); i++) {
		struct conform_evidence ev;

		next_rid(c, rid);
		send_signed(c, rid, "POST", p->url, body, neg[i].tok, p->id, p->hook, conform_token_name(neg[i].tok), &x);
		ev = ev_of(rid, &x.rs, p->id, p->hook, conform_token_name(neg[i].tok));
		if (refused(x.rs.status)) {
			conform_ok(c->res, neg[i].check);
			/* check 38: rejections should look alike and name nothing */
			if (n_refusals++ == 0)
				snprintf(first_body, sizeof(first_body), "%s", x.rs.body);
			else if (strcmp(first_body, x.rs.body) != 0)
				bodies_differ = true;
			if (strcasestr(x.rs.body, "expired") || strcasestr(x.rs.body, "signature") || strcasestr(x.rs.body, "audience") ||
			    strcasestr(x.rs.body, "\"aud") || strcasestr(x.rs.body, "kid") || strcasestr(x.rs.body, "replay") ||
			    strcasestr(x.rs.body, "issuer") || strcasestr(x.rs.body, "algorithm"))
				leaky = true;
		} else {
			conform_fail(c->res, neg[i].check, &ev, "%s was %s (HTTP %d)", neg[i].what,
				     ok_status(x.rs.status) ? "accepted" : "not refused with 401", x.rs.status);
		}
		xres_fini(&x);
	}
	/* check 36: replay */
	{
		struct buf t;
		struct conform_evidence ev;

		buf_init(&t, JOSE_MAX_TOKEN);
		mint(c, CONFORM_TOK_VALID, p->url, &t);
		next_rid(c, rid);
		send_call(c, rid, "POST", p->url, body, t.p, NULL, 0, p->id, p->hook, "replay-first-use", &x);
		if (!ok_status(x.rs.status)) {
			conform_skip(c->res, "CDS-AUTH-036", "the first use of the token was not accepted (HTTP %d)", x.rs.status);
		} else {
			xres_fini(&x);
			next_rid(c, rid);
			send_call(c, rid, "POST", p->url, body, t.p, NULL, 0, p->id, p->hook, "replay-second-use", &x);
			ev = ev_of(rid, &x.rs, p->id, p->hook, "replay-second-use");
			if (refused(x.rs.status))
				conform_ok(c->res, "CDS-AUTH-036");
			else
				conform_fail(c->res, "CDS-AUTH-036", &ev, "the same token (same jti) was %s a second time (HTTP %d)",
					     ok_status(x.rs.status) ? "accepted" : "answered", x.rs.status);
		}
		xres_fini(&x);
		buf_fini(&t);
	}
	if (n_refusals >= 2) {
		struct conform_evidence ev = CONFORM_EVIDENCE_NONE;

		ev.service = p->id;
		ev.hook = p->hook;
		if (bodies_differ)
			conform_fail(c->res, "CDS-AUTH-038", &ev, "401 bodies differ between rejection reasons");
		else if (leaky)
			conform_fail(c->res, "CDS-AUTH-038", &ev, "a 401 body names the failed check");
		else
			conform_ok(c->res, "CDS-AUTH-038");
	} else {
		conform_skip(c->res, "CDS-AUTH-038", "fewer than two rejections to compare");
	}
	free(body);
}

/* --- HTTP ------------------------------------------------------------------------------- */

static void run_http(struct ctx *c)
{
	const char *t = c->run->opt.target;
	struct conform_evidence ev = CONFORM_EVIDENCE_NONE;
	bool https = strncmp(t, "https://", 8) == 0;
	bool loopback = strncmp(t, "http://127.", 11) == 0 || strncmp(t, "http://localhost", 16) == 0 ||
			strncmp(t, "http://[::1]", 12) == 0;

	/* check 1 */
	ev.value = t;
	if (https)
		conform_ok(c->res, "CDS-HTTP-001");
	else if (loopback)
		conform_finding(c->res, "CDS-HTTP-001", CDS_SHOULD, &ev,
				"plain http on loopback: acceptable only behind a TLS-terminating sidecar; the EHR must call https");
	else
		conform_fail(c->res, "CDS-HTTP-001", &ev, "the CDS base URL is plain http");
	/* check 43: CORS pre-flight */
	if (c->n_pairs) {
		static const char *const pre[] = {
			"Origin: https://ehr.conform.example",
			"Access-Control-Request-Method: POST",
			"Access-Control-Request-Headers: authorization, content-type",
		};
		struct pair *p = &c->pairs[0];
		char rid[16], v[512];
		struct xres x;
		struct conform_evidence e2;

		next_rid(c, rid);
		send_call(c, rid, "OPTIONS", p->url, NULL, NULL, pre, 3, p->id, p->hook, "cors-preflight", &x);
		e2 = ev_of(rid, &x.rs, p->id, p->hook, "cors-preflight");
		if (x.rs.status < 200 || x.rs.status > 299)
			conform_fail(c->res, "CDS-HTTP-043", &e2, "OPTIONS pre-flight answered %d", x.rs.status);
		else if (conform_http_header(&x.rs, "Access-Control-Allow-Origin", v, sizeof(v)) < 0)
			conform_fail(c->res, "CDS-HTTP-043", &e2, "no Access-Control-Allow-Origin in the pre-flight answer");
		else if (conform_http_header(&x.rs, "Access-Control-Allow-Headers", v, sizeof(v)) < 0 ||
			 !strcasestr(v, "authorization") || !strcasestr(v, "content-type"))
			conform_fail(c->res, "CDS-HTTP-043", &e2, "Access-Control-Allow-Headers does not allow Authorization and Content-Type");
		else
			conform_ok(c->res, "CDS-HTTP-043");
		xres_fini(&x);
	}
}

/* --- feedback -------------------------------------------------------------------------------- */

static char *feedback_valid(const struct pair *p)
{
	cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "feedback");
	const cJSON *card;
	char ts[25];
	int n = 0;

	clock_fmt_rfc3339(ts, clock_wall_ms());
	cJSON_ArrayForEach(card, json_arr(p->baseline, "cards")) {
		const char *u = json_str(card, "uuid");
		const cJSON *s = cJSON_GetArrayItem(json_arr(card, "suggestions"), 0);
		const cJSON *reason = cJSON_GetArrayItem(json_arr(card, "overrideReasons"), 0);
		cJSON *e;

		if (u == NULL || n >= 3)
			continue;
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "card", u);
		if (s && json_str(s, "uuid")) {
			/* S2 §Suggestion accepted */
			cJSON *acc = cJSON_AddArrayToObject(e, "acceptedSuggestions"), *id = cJSON_CreateObject();

			cJSON_AddStringToObject(e, "outcome", "accepted");
			cJSON_AddStringToObject(id, "id", json_str(s, "uuid"));
			cJSON_AddItemToArray(acc, id);
		} else {
			cJSON_AddStringToObject(e, "outcome", "overridden");
			if (reason) {
				cJSON *o = cJSON_AddObjectToObject(e, "overrideReason");

				cJSON_AddItemToObject(o, "reason", cJSON_Duplicate(reason, 1));
				cJSON_AddStringToObject(o, "userComment", "conformance test");
			}
		}
		cJSON_AddStringToObject(e, "outcomeTimestamp", ts);
		cJSON_AddItemToArray(arr, e);
		n++;
	}
	if (n == 0) {
		cJSON *e = cJSON_CreateObject();
		char u[37];

		conform_uuid4(u);
		cJSON_AddStringToObject(e, "card", u);
		cJSON_AddStringToObject(e, "outcome", "overridden");
		cJSON_AddStringToObject(e, "outcomeTimestamp", ts);
		cJSON_AddItemToArray(arr, e);
	}
	{
		char *s = cJSON_PrintUnformatted(root);

		cJSON_Delete(root);
		return s;
	}
}

/* research/cds-hooks.md fixture F6, invalid batch */
static const char feedback_invalid[] =
	"{\"feedback\":[{\"card\":\"61af209d-77ba-4eb9-828d-0eadf1f9026c\",\"outcome\":\"accepted\",\"outcomeTimestamp\":\"2026-05-04T14:22:07Z\"},"
	"{\"card\":\"f966a2f7-9820-4b9f-ad44-7ec1d7f739d8\",\"outcome\":\"ignored\",\"outcomeTimestamp\":\"2026-05-04T14:22:07Z\"},"
	"{\"card\":\"11d3d71c-ffa6-4816-a831-493e8a85e716\",\"outcome\":\"overridden\",\"overrideReason\":{},\"outcomeTimestamp\":\"04/05/2026 14:22\"},"
	"{\"outcome\":\"overridden\",\"outcomeTimestamp\":\"2026-05-04T14:22:07Z\"}]}";

static void run_feedback(struct ctx *c)
{
	struct pair *p = NULL;
	char url[1100], rid[16], *valid;
	struct xres x;
	struct conform_evidence ev;
	bool uuids = false;
	const cJSON *card;

	for (size_t i = 0; i < c->n_pairs && !p; i++)
		if (card_count(c->pairs[i].baseline) > 0)
			p = &c->pairs[i];
	if (p == NULL && c->n_pairs)
		p = &c->pairs[0];
	if (p == NULL) {
		conform_skip(c->res, "CDS-FB-059", "no service was called");
		conform_skip(c->res, "CDS-FB-060", "no service was called");
		conform_skip(c->res, "CDS-FB-061", "no service was called");
		conform_skip(c->res, "CDS-FB-147", "no service was called");
		return;
	}
	snprintf(url, sizeof(url), "%s/feedback", p->url);
	valid = feedback_valid(p);
	next_rid(c, rid);
	send_signed(c, rid, "POST", url, valid, CONFORM_TOK_VALID, p->id, p->hook, "feedback-valid", &x);
	ev = ev_of(rid, &x.rs, p->id, p->hook, "feedback-valid");
	if (x.rs.status == 404 || x.rs.status == 405 || x.rs.status == 501) {
		conform_skip(c->res, "CDS-FB-059", "the service does not offer feedback (HTTP %d): allowed", x.rs.status);
		conform_skip(c->res, "CDS-FB-060", "feedback not offered");
		conform_skip(c->res, "CDS-FB-061", "feedback not offered");
		conform_skip(c->res, "CDS-FB-147", "feedback not offered");
		xres_fini(&x);
		free(valid);
		return;
	}
	conform_ok(c->res, "CDS-FB-059");
	conform_note(c->res, "CDS-FB-059", "feedback offered at %s/feedback", p->id);
	if (x.rs.status < 200 || x.rs.status > 299) {
		conform_fail(c->res, "CDS-FB-060", &ev, "a valid feedback batch was answered %d", x.rs.status);
	} else {
		xres_fini(&x);
		next_rid(c, rid);
		send_signed(c, rid, "POST", url, valid, CONFORM_TOK_VALID, p->id, p->hook, "feedback-valid-repeated", &x);
		ev = ev_of(rid, &x.rs, p->id, p->hook, "feedback-valid-repeated");
		if (x.rs.status < 200 || x.rs.status > 299)
			conform_fail(c->res, "CDS-FB-060", &ev, "the same valid batch sent again was answered %d", x.rs.status);
		else
			conform_ok(c->res, "CDS-FB-060");
	}
	xres_fini(&x);
	free(valid);
	next_rid(c, rid);
	send_signed(c, rid, "POST", url, feedback_invalid, CONFORM_TOK_VALID, p->id, p->hook, "feedback-invalid", &x);
	ev = ev_of(rid, &x.rs, p->id, p->hook, "feedback-invalid");
	if (x.rs.status >= 400 && x.rs.status <= 499)
		conform_ok(c->res, "CDS-FB-061");
	else if (x.rs.status >= 200 && x.rs.status <= 299)
		conform_fail(c->res, "CDS-FB-061", &ev, "an invalid feedback batch was accepted (HTTP %d)", x.rs.status);
	else
		conform_fail(c->res, "CDS-FB-061", &ev, "an invalid feedback batch was answered %d", x.rs.status);
	xres_fini(&x);
	cJSON_ArrayForEach(card, json_arr(p->baseline, "cards"))
		uuids = uuids || json_str(card, "uuid");
	if (card_count(p->baseline) == 0)
		conform_skip(c->res, "CDS-FB-147", "no cards to inspect");
	else if (uuids)
		conform_ok(c->res, "CDS-FB-147");
	else {
		struct conform_evidence e2 = CONFORM_EVIDENCE_NONE;

		e2.service = p->id;
		e2.hook = p->hook;
		conform_fail(c->res, "CDS-FB-147", &e2, "feedback is offered but no card carries a uuid");
	}
}

/* --- latency ----------------------------------------------------------------------------------- */

struct lat_call {
	char rid[16];
	char *body;
	char *auth;              /* "Authorization: Bearer ..." (wiped) */
	struct conform_http_resp rs;
};

struct lat_ctx {
	struct ctx *c;
	struct pair *p;
	struct conform_lat_series *series;
	struct lat_call *calls;
	const char *hdr[3];
};

/* Requests are built and signed before the clock starts, and responses are judged after the
 * batch, so the harness's own work does not inflate the measured latency. */
static void lat_make(size_t i, struct conform_http_req *rq, void *arg)
{
	struct lat_ctx *l = arg;

	l->hdr[0] = "Accept: application/json";
	l->hdr[1] = "Content-Type: application/json";
	l->hdr[2] = l->calls[i].auth;
	rq->method = "POST";
	rq->url = l->p->url;
	rq->headers = l->hdr;
	rq->n_headers = 3;
	rq->body = l->calls[i].body;
	rq->body_len = strlen(l->calls[i].body);
	rq->timeout_ms = l->c->timeout_ms;
}

static void lat_done(size_t i, const struct conform_http_resp *rs, void *arg)
{
	struct lat_ctx *l = arg;
	struct conform_http_resp *d = &l->calls[i].rs;

	*d = *rs;
	d->body = xstrndup(rs->body ? rs->body : "", rs->body_len);
	d->content_type = rs->content_type ? xstrdup(rs->content_type) : NULL;
	d->headers = NULL;
	d->error = rs->error ? xstrdup(rs->error) : NULL;
}

static void lat_judge(struct lat_ctx *l, size_t i)
{
	struct lat_call *k = &l->calls[i];
	const struct conform_http_resp *rs = &k->rs;
	struct conform_evidence ev = ev_of(k->rid, rs, l->p->id, l->p->hook, "latency");
	cJSON *json = NULL;

	record_exchange(l->c, k->rid, "POST", l->p->url, l->p->id, l->p->hook, "latency", rs);
	if (ok_status(rs->status)) {
		conform_samples_add(&l->series->samples, rs->ms);
		conform_ok(l->c->res, "CDS-LAT-143");
	} else {
		l->series->samples.errors++;
		conform_fail(l->c->res, "CDS-LAT-143", &ev, "%s", rs->error ? rs->error : "answered neither 200 nor 412");
	}
	if (rs->status == 200 && rs->body_len) {
		struct json_limits lim = {.max_bytes = 4u << 20, .max_depth = 64};
		struct err e = {0};

		json = json_parse(rs->body, rs->body_len, &lim, &e);
	}
	judge_response(l->c, l->p, k->rid, rs, json, "latency");
	cJSON_Delete(json);
}

static void run_latency(struct ctx *c)
{
	const char *patients[64];
	size_t np = 0;

	for (size_t i = 0; i < conform_fhir_patient_count(c->store) && np < 64; i++)
		if (strcmp(conform_fhir_patient_profile(c->store, i), "nodata") != 0)
			patients[np++] = conform_fhir_patient_id(c->store, i);
	if (np == 0 || c->n_pairs == 0) {
		conform_skip(c->res, "CDS-LAT-042", "no approved service/hook to measure");
		conform_skip(c->res, "CDS-LAT-142", "no approved service/hook to measure");
		conform_skip(c->res, "CDS-LAT-143", "no approved service/hook to measure");
		return;
	}
	for (size_t k = 0; k < c->n_pairs; k++) {
		struct pair *p = &c->pairs[k];
		struct conform_lat_series *s;
		struct lat_ctx l = {0};
		struct conform_evidence ev = CONFORM_EVIDENCE_NONE;
		int64_t t0;
		size_t over = 0;

		c->run->lat = xrealloc(c->run->lat, (c->run->n_lat + 1) * sizeof(*c->run->lat));
		s = &c->run->lat[c->run->n_lat++];
		memset(s, 0, sizeof(*s));
		s->service = xstrdup(p->id);
		s->hook = xstrdup(p->hook);
		conform_samples_init(&s->samples);
		l.c = c;
		l.p = p;
		l.series = s;
		l.calls = xcalloc(c->run->opt.iterations ? c->run->opt.iterations : 1, sizeof(*l.calls));
		for (size_t i = 0; i < c->run->opt.iterations; i++) {
			struct breq b = {p->tmpl, patients[i % np], CONFORM_PF_FULL, true, true, NULL};
			char desc[256];
			struct buf t;

			next_rid(c, l.calls[i].rid);
			l.calls[i].body = build_request(c, p, &b, l.calls[i].rid, desc, sizeof(desc));
			buf_init(&t, JOSE_MAX_TOKEN);
			mint(c, CONFORM_TOK_VALID, p->url, &t);
			if (asprintf(&l.calls[i].auth, "Authorization: Bearer %s", t.p) < 0)
				abort();
			buf_fini(&t);
		}
		t0 = clock_mono_ns();
		conform_net_batch(c->net, c->run->opt.iterations, c->run->opt.concurrency, lat_make, lat_done, &l);
		s->wall_ms = (double)(clock_mono_ns() - t0) / 1e6;
		for (size_t i = 0; i < c->run->opt.iterations; i++) {
			lat_judge(&l, i);
			free(l.calls[i].body);
			sodium_memzero(l.calls[i].auth, strlen(l.calls[i].auth));
			free(l.calls[i].auth);
			conform_http_resp_fini(&l.calls[i].rs);
		}
		free(l.calls);
		conform_latency_summarise(&s->samples, 0, &s->sum);
		for (size_t i = 0; i < s->samples.n; i++)
			over += s->samples.v[i] > (double)c->run->deadline_ms;
		ev.service = p->id;
		ev.hook = p->hook;
		ev.elapsed_ms = s->sum.p95;
		/* check 42: ~500 ms (SHOULD), at the 95th percentile */
		if (s->sum.n && s->sum.p95 > 500)
			conform_fail(c->res, "CDS-LAT-042", &ev, "p95 %.0f ms is above the 500 ms guideline", s->sum.p95);
		else if (s->sum.n)
			conform_ok(c->res, "CDS-LAT-042");
		/* the EHR window (site deadline), at the 99th percentile (MUST); any call over it (SHOULD) */
		ev.elapsed_ms = s->sum.p99;
		if (s->sum.n && s->sum.p99 > (double)c->run->deadline_ms)
			conform_fail(c->res, "CDS-LAT-142", &ev, "p99 %.0f ms is beyond the site deadline of %u ms", s->sum.p99,
				     c->run->deadline_ms);
		else if (s->sum.n == 0)
			conform_fail(c->res, "CDS-LAT-142", &ev, "no call of %u was answered", c->run->opt.iterations);
		else
			conform_ok(c->res, "CDS-LAT-142");
		if (over && s->sum.p99 <= (double)c->run->deadline_ms) {
			ev.elapsed_ms = s->sum.max;
			conform_finding(c->res, "CDS-LAT-142", CDS_SHOULD, &ev, "%zu of %zu calls took longer than the deadline (max %.0f ms)",
					over, s->sum.n, s->sum.max);
		}
		conform_note(c->res, "CDS-LAT-142", "deadline %u ms (site ingress.deadline_ms)", c->run->deadline_ms);
	}
}

/* --- setup ------------------------------------------------------------------------------------ */

/* Fixture test keys (fixtures/keys/NAME.pem) whose public half the site's client trusts. */
static size_t find_fixture_keys(const char *fixtures, const cJSON *trusted, char paths[][PATH_MAX], size_t max)
{
	char dir[PATH_MAX];
	struct dirent *d;
	DIR *dp;
	size_t n = 0;

	if (trusted == NULL)
		return 0;
	snprintf(dir, sizeof(dir), "%s/keys", fixtures);
	dp = opendir(dir);
	if (dp == NULL)
		return 0;
	while ((d = readdir(dp)) != NULL && n < max) {
		size_t l = strlen(d->d_name);
		char path[PATH_MAX];
		struct err e = {0};
		EVP_PKEY *k;

		if (l < 5 || strcmp(d->d_name + l - 4, ".pem") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		k = jose_load_private_pem(path, &e);
		if (k) {
			enum jose_alg alg = EVP_PKEY_get_base_id(k) == EVP_PKEY_EC ? JOSE_ALG_ES384 : JOSE_ALG_RS384;
			cJSON *jwk = jose_jwk_from_pkey(k, "x", alg);
			const cJSON *t;
			bool match = false;

			cJSON_ArrayForEach(t, json_arr(trusted, "keys")) {
				const char *a = json_str(jwk, alg == JOSE_ALG_ES384 ? "x" : "n");
				const char *b = json_str(t, alg == JOSE_ALG_ES384 ? "x" : "n");

				match = match || (a && b && strcmp(a, b) == 0);
			}
			if (match)
				snprintf(paths[n++], PATH_MAX, "%s", path);
			cJSON_Delete(jwk);
			EVP_PKEY_free(k);
		}
	}
	closedir(dp);
	return n;
}

static int setup_keys(struct ctx *c, struct err *e)
{
	const struct conform_site *s = &c->run->site;
	cJSON *trusted = NULL;
	char found[4][PATH_MAX];
	const char *pems[8];
	size_t n = 0;
	int rc;

	if (s->n_clients && s->clients[0].jwks_file) {
		struct err e2 = {0};

		trusted = conform_read_json(s->clients[0].jwks_file, 1u << 20, &e2);
	}
	if (c->run->opt.n_ehr_keys) {
		for (size_t i = 0; i < c->run->opt.n_ehr_keys && n < 8; i++)
			pems[n++] = c->run->opt.ehr_keys[i];
	} else {
		size_t k = find_fixture_keys(c->run->fixtures, trusted, found, 2);

		for (size_t i = 0; i < k; i++)
			pems[n++] = found[i];
		if (k)
			conform_run_note(c->run, "Signing with the repository's test keys that the site policy trusts (fixtures/keys).");
	}
	rc = conform_keys_init(&c->keys, pems, n, trusted, e);
	if (rc == 0) {
		c->keys_ok = true;
		if (trusted && n == 0)
			conform_run_note(c->run,
					 "The harness signs with keys generated for this run; the site's client JWK Set does not hold them, "
					 "so a target that checks signatures will refuse valid calls. Use --ehr-key.");
	}
	cJSON_Delete(trusted);
	return rc;
}

static void apply_profile(struct ctx *c)
{
	const struct conform_profile *p = c->prof;

	conform_results_set_production(c->res, c->run->site.production);
	for (size_t i = 0; i < p->n_overrides; i++)
		conform_results_set_level(c->res, p->overrides[i].check, p->overrides[i].level);
	for (size_t i = 0; i < p->n_evidence; i++) {
		const struct conform_evidence_note *n = &p->evidence[i];
		char buf[256], *save = NULL, *t, why[512];

		if (n->checks == NULL || strcmp(n->confidence, "C") == 0)
			continue;
		snprintf(why, sizeof(why), "%s [%s: %s]", n->behaviour, n->confidence, n->source);
		snprintf(buf, sizeof(buf), "%s", n->checks);
		for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (conform_check_find(t))
				conform_results_set_weak(c->res, t, why);
	}
}

/* host:port of a loopback http URL, for binding the simulated EHR where a jku points. */
static bool loopback_hostport(const char *url, char *out, size_t cap, const char **path)
{
	const char *h, *slash;

	if (strncmp(url, "http://127.0.0.1:", 17) != 0 && strncmp(url, "http://localhost:", 17) != 0)
		return false;
	h = url + 7;
	slash = strchr(h, '/');
	snprintf(out, cap, "%.*s", (int)(slash ? (size_t)(slash - h) : strlen(h)), h);
	if (strncmp(out, "localhost:", 10) == 0) {
		char tmp[64];

		snprintf(tmp, sizeof(tmp), "127.0.0.1:%s", out + 10);
		snprintf(out, cap, "%s", tmp);
	}
	*path = slash ? slash : "/";
	return true;
}

static void finish_groups(struct ctx *c)
{
	/* "nothing could be called" stands even when discovery checks were not selected: a run that
	 * tested nothing must not pass */
	bool nothing = c->run->reachable && conform_result(c->res, "CDS-DISC-100")->n_findings > 0;

	for (int g = 0; g < CONFORM_G_COUNT; g++)
		if (!want(c, (enum conform_group)g))
			conform_results_skip_group(c->res, (enum conform_group)g, "group not selected (--only)");
	if (nothing && !want(c, CONFORM_G_DISCOVERY)) {
		free(conform_result(c->res, "CDS-DISC-100")->skip_reason);
		conform_result(c->res, "CDS-DISC-100")->skip_reason = NULL;
		conform_fail(c->res, "CDS-DISC-100", NULL, "no (service, hook) pair could be called");
	}
	/* anything never evaluated gets a reason */
	for (size_t i = 0; i < conform_results_count(c->res); i++) {
		struct conform_result *r = conform_results_at(c->res, i);

		if (r->checked == 0 && r->n_findings == 0 && r->skip_reason == NULL)
			r->skip_reason = xstrdup(c->run->reachable ? (c->n_pairs ? "not applicable to the responses seen in this run"
										  : "no approved service/hook the EHR can call was offered")
								   : "the target was unreachable");
	}
	conform_results_finish(c->res);
}

int conform_run_execute(struct conform_run *r, struct err *e)
{
	struct ctx c = {0};
	char path[PATH_MAX + 32], listen[128] = "127.0.0.1:0";
	const char *jku_path = NULL;
	int rc;
	struct conform_summary sum;

	c.run = r;
	r->started_ms = clock_wall_ms();
	if (r->opt.fixtures_dir)
		snprintf(r->fixtures, sizeof(r->fixtures), "%s", r->opt.fixtures_dir);
	else if (conform_fixtures_dir(r->fixtures, sizeof(r->fixtures)) < 0)
		return err_set(e, -ENOENT, "cannot find the fixtures directory (set EHRGATE_FIXTURES or --fixtures)");
	rc = conform_site_load(r->opt.site_path, &r->site, e);
	if (rc < 0)
		return rc;
	c.prof = r->profile = conform_profile_find(r->opt.ehr ? r->opt.ehr : r->site.ehr);
	if (c.prof == NULL)
		return err_set(e, -EINVAL, "unknown EHR profile %s (epic, oracle-health, generic)",
			       r->opt.ehr ? r->opt.ehr : r->site.ehr);
	r->deadline_ms = r->site.deadline_ms ? r->site.deadline_ms : 2000;
	c.timeout_ms = r->opt.timeout_ms ? r->opt.timeout_ms : (2 * r->deadline_ms > 5000 ? 2 * r->deadline_ms : 5000);
	c.res = r->results = conform_results_new();
	apply_profile(&c);
	snprintf(path, sizeof(path), "%s/patients", r->fixtures);
	rc = conform_fhir_load(path, &c.store, e);
	if (rc < 0)
		goto out;
	c.septic = patient_of_profile(c.store, "septic", 0);
	c.healthy = patient_of_profile(c.store, "healthy", 1);
	c.nodata = patient_of_profile(c.store, "nodata", conform_fhir_patient_count(c.store) - 1);
	rc = setup_keys(&c, e);
	if (rc < 0)
		goto out;
	/* jku: --jku URL | none | auto (the site client's first allowed jku) */
	if (r->opt.jku && strcmp(r->opt.jku, "none") != 0 && strcmp(r->opt.jku, "auto") != 0)
		snprintf(c.jku, sizeof(c.jku), "%s", r->opt.jku);
	else if ((r->opt.jku == NULL || !strcmp(r->opt.jku, "auto")) && r->site.n_clients &&
		 r->site.clients[0].jku_allow.n) {
		/* only a loopback jku is one the harness can publish its keys at */
		char hp[128];
		const char *pp;

		if (loopback_hostport(r->site.clients[0].jku_allow.v[0], hp, sizeof(hp), &pp))
			snprintf(c.jku, sizeof(c.jku), "%s", r->site.clients[0].jku_allow.v[0]);
		else
			conform_run_note(r, "The site's jku_allow entry is not a loopback URL the harness can serve; tokens carry no jku "
					    "(use --jku URL to send one anyway).");
	}
	if (r->opt.listen)
		snprintf(listen, sizeof(listen), "%s", r->opt.listen);
	else if (c.jku[0] && !loopback_hostport(c.jku, listen, sizeof(listen), &jku_path))
		snprintf(listen, sizeof(listen), "127.0.0.1:0");
	if (c.jku[0] && jku_path == NULL) {
		char dummy[128];

		loopback_hostport(c.jku, dummy, sizeof(dummy), &jku_path);
	}
	c.base = event_base_new();
	if (c.base == NULL) {
		rc = err_set(e, -ENOMEM, "cannot create an event loop");
		goto out;
	}
	c.ehr = conform_ehr_new(c.base, listen, c.prof, c.store, &c.keys, r, e);
	if (c.ehr == NULL) {
		rc = e->code ? e->code : -EADDRINUSE;
		err_prefix(e, "simulated EHR on %s", listen);
		goto out;
	}
	if (jku_path)
		conform_ehr_set_jwks_alias(c.ehr, jku_path);
	c.net = conform_net_new(c.base, e);
	if (c.net == NULL) {
		rc = e->code ? e->code : -EIO;
		goto out;
	}
	snprintf(r->ehr_base, sizeof(r->ehr_base), "%s", conform_ehr_base(c.ehr));
	snprintf(c.fhir_base, sizeof(c.fhir_base), "%s%s", r->ehr_base, c.prof->fhir_path);
	snprintf(c.rogue_jku, sizeof(c.rogue_jku), "%s/attacker/jwks.json", r->ehr_base);
	if (r->opt.iss)
		snprintf(r->iss, sizeof(r->iss), "%s", r->opt.iss);
	else if (c.prof->fixed_iss)
		snprintf(r->iss, sizeof(r->iss), "%s", c.prof->fixed_iss);
	else if (r->site.n_clients)
		snprintf(r->iss, sizeof(r->iss), "%s", r->site.clients[0].iss);
	else
		snprintf(r->iss, sizeof(r->iss), "%s", r->ehr_base);
	c.signer.keys = &c.keys;
	c.signer.profile = c.prof;
	c.signer.iss = r->iss;
	c.signer.jku = c.jku[0] ? c.jku : NULL;
	c.signer.rogue_jku = c.rogue_jku;
	c.signer.sub = r->opt.client_id;
	c.signer.aud_override = r->opt.aud;
	snprintf(c.discovery_url, sizeof(c.discovery_url), "%s/cds-services", r->opt.target);
	log_event(LOGL_INFO, NULL, "run-start", "site=%s profile=%s groups=%u iterations=%u concurrency=%u", r->site.id,
		  c.prof->name, r->opt.groups, r->opt.iterations, r->opt.concurrency);

	/* 1. discovery (always: everything else needs it) */
	if (run_discovery(&c) == -EHOSTUNREACH) {
		r->exit_code = 3;
		goto finish;
	}
	if (c.discovery)
		choose_pairs(&c);
	else if (conform_result(c.res, "CDS-DISC-100")->n_findings == 0)
		conform_fail(c.res, "CDS-DISC-100", NULL, "no usable discovery document: no service can be called");
	if (c.discovery && want(&c, CONFORM_G_PREFETCH))
		run_prefetch_lint(&c);
	/* 2. baselines (every later group compares with them) */
	for (size_t i = 0; i < c.n_pairs; i++)
		run_baseline(&c, &c.pairs[i]);
	if (c.discovery && want(&c, CONFORM_G_DISCOVERY))
		run_unpaired_callability(&c);
	/* 3. authentication */
	if (want(&c, CONFORM_G_AUTH))
		run_auth(&c);
	/* 4. HTTP */
	if (want(&c, CONFORM_G_HTTP))
		run_http(&c);
	/* 5. feedback (before the variants: a crash there must not hide it) */
	if (want(&c, CONFORM_G_FEEDBACK))
		run_feedback(&c);
	/* 6. request variants */
	if (want(&c, CONFORM_G_REQUEST) || want(&c, CONFORM_G_HTTP) || want(&c, CONFORM_G_CARDS))
		for (size_t i = 0; i < c.n_pairs; i++)
			run_variants(&c, &c.pairs[i]);
	if (r->n_calls == 0)
		conform_skip(c.res, "CDS-REQ-122", "the service made no FHIR calls (it used prefetch or answered 412)");
	/* 7. latency */
	if (want(&c, CONFORM_G_LATENCY))
		run_latency(&c);
finish:
	finish_groups(&c);
	conform_results_summary(c.res, &sum);
	if (r->exit_code != 3)
		r->exit_code = sum.must_failed ? 1 : 0;
	rc = r->exit_code;
out:
	r->finished_ms = clock_wall_ms();
	for (size_t i = 0; i < c.n_pairs; i++) {
		cJSON_Delete(c.pairs[i].tmpl);
		cJSON_Delete(c.pairs[i].quirk);
		cJSON_Delete(c.pairs[i].baseline);
	}
	free(c.pairs);
	cJSON_Delete(c.discovery);
	conform_net_free(c.net);
	conform_ehr_free(c.ehr);
	if (c.base)
		event_base_free(c.base);
	if (c.keys_ok)
		conform_keys_fini(&c.keys);
	conform_fhir_free(c.store);
	return rc;
}
