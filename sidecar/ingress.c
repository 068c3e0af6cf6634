/* ingress — the EHR-facing side of ehrgate-sidecar (DESIGN.md §3.1; issue "sidecar ingress").
 *
 * For every request: authenticate the CDS client's JWT (cds_auth), check the site's
 * approvals (policy), minimise the prefetch (hookreq), write the decision to the audit log
 * BEFORE anything is forwarded (fail closed: 503 when it cannot be written), rebuild the
 * request for the AI service and send it with libcurl on this worker's event loop, keep the
 * EHR's deadline (answer {"cards":[]} in time and cancel the upstream call), validate and
 * enforce the cards (cds_card), answer, and write the completion record.
 *
 * Owns one `struct call` per request from arrival to the completion record.
 */
#include "sidecar/sidecar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <sodium.h>

#include "lib/cds_card.h"
#include "lib/clock.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "sidecar/cds_auth.h"
#include "sidecar/hookreq.h"

#define UPSTREAM_MAX_RESPONSE (4u << 20)
#define CONTEXT_HEADER "X-Ehrgate-Context"

enum call_kind { CALL_SERVICE, CALL_DISCOVERY, CALL_FEEDBACK };

struct call {
	struct worker *w;
	struct runtime *rt;
	struct evhttp_request *req;
	enum call_kind kind;
	const struct policy_service *svc;
	struct auditrec rec;
	int64_t t0, t_upstream;
	struct event *timer;
	struct http_client_xfer *xfer;
	struct buf fwd;             /* body sent upstream; alive until the transfer ends */
	char url[1024];
	char ctx_token[33];
	bool answered;
};

static int64_t since_us(int64_t t_ns)
{
	return (clock_mono_ns() - t_ns) / 1000;
}

static const char *kind_event(enum call_kind k)
{
	return k == CALL_SERVICE ? "cds.call" : k == CALL_DISCOVERY ? "cds.discovery" : "cds.feedback";
}

static void call_free(struct call *c)
{
	if (c->timer)
		event_free(c->timer);
	buf_fini(&c->fwd);
	auditrec_fini(&c->rec);
	runtime_unref(c->rt);
	atomic_fetch_sub(&c->w->sc->inflight, 1);
	free(c);
}

/* Completion: metrics, the completion (or single) audit record, the log line, free. */
static void call_complete(struct call *c)
{
	struct sidecar *sc = c->w->sc;

	c->rec.timings_us[METRICS_STAGE_TOTAL] = since_us(c->t0);
	metrics_observe(sc->metrics, METRICS_STAGE_TOTAL, c->rec.timings_us[METRICS_STAGE_TOTAL]);
	metrics_count(sc->metrics, "ingress", c->rec.service[0] ? c->rec.service : kind_event(c->kind),
		      c->rec.decision, c->rec.status);
	if (sidecar_audit(sc, &c->rec, false) < 0)
		log_event(LOGL_ERROR, c->rec.rid, "audit_failed", "phase=completion");
	log_event(LOGL_INFO, c->rec.rid, kind_event(c->kind), "service=%s decision=%s status=%d rule=%s total_us=%lld",
		  c->rec.service[0] ? c->rec.service : "-", c->rec.decision, c->rec.status,
		  c->rec.n_rules ? c->rec.rules[0] : "-", (long long)c->rec.timings_us[METRICS_STAGE_TOTAL]);
	call_free(c);
}

static void reply_json(struct call *c, int status, const char *json, size_t len)
{
	c->answered = true;
	c->rec.status = status;
	c->rec.bytes_out = len;
	http_server_reply_json(c->req, status, json, len);
}

static void reply_outcome(struct call *c, int status, const char *code, const char *text)
{
	c->answered = true;
	c->rec.status = status;
	http_server_reply_outcome(c->req, status, code, text);
}

/* A refusal before anything was forwarded: one audit record, then the answer. If the audit
 * record cannot be written the answer is 503 instead (fail closed). */
static void refuse(struct call *c, int status, const char *decision, const char *rule, const char *code,
		   const char *text)
{
	c->rec.decision = decision;
	c->rec.phase = "decision";
	if (rule)
		auditrec_add_rule(&c->rec, rule);
	c->rec.status = status;
	if (sidecar_audit(c->w->sc, &c->rec, true) < 0) {
		reply_outcome(c, 503, "transient", "audit log unavailable");
	} else {
		if (status == 401)
			evhttp_add_header(evhttp_request_get_output_headers(c->req), "WWW-Authenticate",
					  "Bearer error=\"invalid_token\""); /* RFC 6750 §3 */
		reply_outcome(c, status, code, text);
	}
	/* The record above is the only one: count and log without a second append. */
	c->rec.timings_us[METRICS_STAGE_TOTAL] = since_us(c->t0);
	metrics_count(c->w->sc->metrics, "ingress", c->rec.service[0] ? c->rec.service : kind_event(c->kind),
		      c->rec.decision, c->rec.status);
	log_event(LOGL_INFO, c->rec.rid, kind_event(c->kind), "service=%s decision=%s status=%d rule=%s",
		  c->rec.service[0] ? c->rec.service : "-", c->rec.decision, c->rec.status, rule ? rule : "-");
	call_free(c);
}

static const char *header(struct evhttp_request *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

/* --- authentication ---------------------------------------------------------------------- */

/* A kid we do not know, from a client whose keys come from a URL: the EHR may have rotated
 * its keys. Ask the main thread to refetch, at most once per jwks_refresh_min_s. This token
 * is still refused; the next one is checked against the new set. */
static void maybe_refresh_jwks(struct call *c, const char *iss)
{
	const struct policy_client *pc = policy_find_client(c->rt->policy, iss);
	struct sidecar *sc = c->w->sc;
	long long now = clock_mono_ms(), last = atomic_load(&sc->jwks_fetched_ms);

	if (pc == NULL || pc->jwks_url == NULL || sc->ev_jwks_refresh == NULL)
		return;
	if (now - last < (long long)pc->jwks_refresh_min_s * 1000)
		return;
	if (atomic_compare_exchange_strong(&sc->jwks_fetched_ms, &last, now)) {
		log_event(LOGL_INFO, c->rec.rid, "jwks_refresh_requested", "reason=unknown-kid");
		event_active(sc->ev_jwks_refresh, 0, 0);
	}
}

static bool authenticate(struct call *c, const char *path)
{
	struct policy *p = c->rt->policy;
	struct cds_auth_result res;
	char called[1024];
	int64_t t = clock_mono_ns();
	int rc;

	/* aud must equal the URL the EHR called: the public base URL + path (check 33) */
	snprintf(called, sizeof(called), "%s%s", p->ingress.public_base_url, path);
	rc = cds_auth_check(c->rt->clients, c->rt->n_clients, c->w->sc->replay, header(c->req, "Authorization"),
			    called, clock_wall_s(), &res);
	c->rec.timings_us[METRICS_STAGE_AUTH] = since_us(t);
	metrics_observe(c->w->sc->metrics, METRICS_STAGE_AUTH, c->rec.timings_us[METRICS_STAGE_AUTH]);
	if (res.client >= 0)
		auditrec_set(c->rec.iss, sizeof(c->rec.iss), c->rt->clients[res.client].iss);
	auditrec_set(c->rec.jti, sizeof(c->rec.jti), res.jti);
	if (rc == 0)
		return true;
	if (res.kid_unknown_for_iss)
		maybe_refresh_jwks(c, res.kid_unknown_for_iss);
	/* The reason goes to the audit log only; the client sees a bare 401 (check 38). */
	refuse(c, 401, "deny", res.rule, "security", "authentication failed");
	return false;
}

/* --- upstream ------------------------------------------------------------------------------ */

static void on_deadline(evutil_socket_t fd, short what, void *arg);

static bool start_upstream(struct call *c, const char *method, const char *path, http_client_cb cb)
{
	struct policy *p = c->rt->policy;
	char rid_h[64], ctx_h[80];
	const char *headers[5];
	size_t nh = 0;
	struct http_client_req r;
	struct err e;
	int64_t remaining_ms;

	snprintf(c->url, sizeof(c->url), "%s%s", p->ingress.upstream, path);
	snprintf(rid_h, sizeof(rid_h), "X-Request-Id: %s", c->rec.rid);
	/* The request is rebuilt: only these headers reach the AI service (never the EHR's
	 * Authorization, cookies or hop-by-hop fields; RFC 9110 §7.6.1). */
	headers[nh++] = "Content-Type: application/json";
	headers[nh++] = "Accept: application/json";
	headers[nh++] = rid_h;
	if (c->kind == CALL_SERVICE) {
		snprintf(ctx_h, sizeof(ctx_h), CONTEXT_HEADER ": %s", c->ctx_token);
		headers[nh++] = ctx_h;
	}
	remaining_ms = (int64_t)p->ingress.deadline_ms - (clock_mono_ns() - c->t0) / 1000000;
	if (remaining_ms < 1)
		remaining_ms = 1;
	memset(&r, 0, sizeof(r));
	r.method = method;
	r.url = c->url;
	r.headers = headers;
	r.n_headers = nh;
	r.body = c->fwd.p;
	r.body_len = c->fwd.len;
	/* The transfer may run a little past the EHR deadline timer (which answers first); the
	 * timer cancels it. Discovery and feedback are not deadline-bound but still bounded. */
	r.timeout_ms = c->kind == CALL_SERVICE ? (unsigned)remaining_ms + 50 : 10000;
	r.max_response_bytes = UPSTREAM_MAX_RESPONSE;
	c->t_upstream = clock_mono_ns();
	if (c->kind == CALL_SERVICE) {
		struct timeval tv = {remaining_ms / 1000, (remaining_ms % 1000) * 1000};

		c->timer = evtimer_new(c->w->base, on_deadline, c);
		evtimer_add(c->timer, &tv);
	}
	if (http_client_send(c->w->client, &r, cb, c, &c->xfer, &e) < 0) {
		log_event(LOGL_ERROR, c->rec.rid, "upstream_send_failed", "code=%d", e.code);
		return false;
	}
	return true;
}

static void upstream_failed(struct call *c, const char *rule)
{
	struct policy *p = c->rt->policy;

	c->rec.decision = strcmp(rule, "deadline") == 0 ? "deadline" : "upstream_error";
	auditrec_add_rule(&c->rec, rule);
	/* Fail-safe: the EHR gets an answer it can render in time (DESIGN.md §3.1). */
	if (c->kind == CALL_SERVICE && p->ingress.on_deadline == POLICY_ON_DEADLINE_EMPTY_CARDS)
		reply_json(c, 200, "{\"cards\":[]}", 12);
	else if (c->kind == CALL_SERVICE && strcmp(rule, "deadline") == 0)
		reply_outcome(c, 504, "timeout", "the CDS service did not answer within the site deadline");
	else
		reply_outcome(c, 502, "transient", "the CDS service did not give a usable answer");
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct call *c = arg;

	(void)fd;
	(void)what;
	/* Cancel first: after http_client_cancel the completion callback never runs. */
	http_client_cancel(c->xfer);
	c->xfer = NULL;
	c->rec.timings_us[METRICS_STAGE_UPSTREAM] = since_us(c->t_upstream);
	atomic_store(&c->w->sc->upstream_ok, true); /* slow is not unreachable */
	upstream_failed(c, "deadline");
	call_complete(c);
}

static void stop_timer(struct call *c)
{
	if (c->timer) {
		event_free(c->timer);
		c->timer = NULL;
	}
	c->xfer = NULL; /* finished transfers are released by the client after the callback */
	c->rec.timings_us[METRICS_STAGE_UPSTREAM] = since_us(c->t_upstream);
	metrics_observe(c->w->sc->metrics, METRICS_STAGE_UPSTREAM, c->rec.timings_us[METRICS_STAGE_UPSTREAM]);
}

static void fill_approvals(const struct policy *p, const struct policy_service *s, struct cds_approvals *ap)
{
	memset(ap, 0, sizeof(*ap));
	ap->create = s->create.v;
	ap->n_create = s->create.n;
	ap->update = s->update.v;
	ap->n_update = s->update.n;
	ap->del = s->del.v;
	ap->n_del = s->del.n;
	ap->smart_links = s->smart_links.v;
	ap->n_smart_links = s->smart_links.n;
	/* Oracle Health does not support appContext (research/cds-hooks.md §2, weak evidence) */
	ap->allow_app_context = p->site.ehr != POLICY_EHR_ORACLE_HEALTH;
}

static void on_service_response(const struct http_client_resp *resp, void *arg)
{
	struct call *c = arg;
	struct policy *p = c->rt->policy;
	struct json_limits lim = {.max_bytes = UPSTREAM_MAX_RESPONSE, .max_depth = 64};
	struct cds_findings *f = NULL;
	struct cds_strips *s = NULL;
	struct cds_approvals ap;
	struct buf out;
	struct err e;
	cJSON *j = NULL;
	int64_t t;
	size_t must;

	stop_timer(c);
	atomic_store(&c->w->sc->upstream_ok, resp->status > 0);
	if (resp->status == 412) {
		/* CDS Hooks 2.0 §HTTP Status Codes: the service could not get the data it needs */
		c->rec.decision = "allow";
		auditrec_add_rule(&c->rec, "upstream-412");
		reply_outcome(c, 412, "incomplete", "the CDS service needs data it could not obtain");
		goto out;
	}
	if (resp->status != 200) {
		upstream_failed(c, resp->timed_out ? "deadline" : resp->status > 0 ? "upstream-status" : "upstream-unreachable");
		goto out;
	}
	t = clock_mono_ns();
	j = json_parse(resp->body ? resp->body : "", resp->body_len, &lim, &e);
	if (j == NULL) {
		upstream_failed(c, "upstream-json");
		goto out;
	}
	f = xcalloc(1, sizeof(*f));
	s = xcalloc(1, sizeof(*s));
	must = cds_validate_response(j, f);
	if (must && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "cards"))) {
		upstream_failed(c, "CDS-RESP-039");
		goto out;
	}
	fill_approvals(p, c->svc, &ap);
	cds_enforce(j, f, &ap, p->ingress.card_policy == POLICY_CARDS_ENFORCE, s);
	c->rec.strips = s;
	for (size_t i = 0; i < s->n; i++)
		auditrec_add_rule(&c->rec, s->v[i].rule);
	if (p->ingress.card_policy == POLICY_CARDS_REPORT && s->n)
		auditrec_add_rule(&c->rec, "card-policy-report");
	c->rec.decision = (s->n && p->ingress.card_policy == POLICY_CARDS_ENFORCE) ? "strip" : "allow";
	buf_init(&out, UPSTREAM_MAX_RESPONSE);
	if (json_print(j, &out) < 0) {
		buf_fini(&out);
		upstream_failed(c, "upstream-too-large");
		goto out;
	}
	c->rec.timings_us[METRICS_STAGE_CARDS] = since_us(t);
	metrics_observe(c->w->sc->metrics, METRICS_STAGE_CARDS, c->rec.timings_us[METRICS_STAGE_CARDS]);
	reply_json(c, 200, out.p, out.len);
	buf_fini(&out);
out:
	cJSON_Delete(j);
	c->rec.phase = "completion";
	call_complete(c);  /* the audit record still points at s: free after */
	free(f);
	free(s);
}

/* --- the three endpoints ------------------------------------------------------------------- */

static void handle_service(struct call *c, const char *path)
{
	struct policy *p = c->rt->policy;
	struct json_limits lim = {.max_bytes = p->ingress.max_body_bytes, .max_depth = 64};
	const char *hook, *patient, *user, *hi, *encounter;
	char *removed[AUDITREC_MAX_REMOVED], patient_id[96], encounter_id[96];
	struct phi_context *pctx = NULL;
	struct buf body;
	struct err e;
	cJSON *j = NULL, *ctx;
	int64_t t;
	size_t n_removed;

	if (!authenticate(c, path))
		return;
	t = clock_mono_ns();
	buf_init(&body, p->ingress.max_body_bytes);
	if (http_server_read_body(c->req, &body) < 0) {
		buf_fini(&body);
		refuse(c, 413, "deny", "body-too-large", "too-long", "request body exceeds the site limit");
		return;
	}
	c->rec.bytes_in = body.len;
	j = json_parse(body.p ? body.p : "", body.len, &lim, &e);
	/* the EHR's own bytes go upstream unless minimisation changes the request */
	buf_fini(&c->fwd);
	c->fwd = body;
	if (j == NULL) {
		refuse(c, 400, "deny", "request-json", "invalid", "request body is not valid JSON");
		return;
	}
	if (hookreq_validate(j, &e) < 0) {
		cJSON_Delete(j);
		/* the message names the member, never its value */
		refuse(c, 400, "deny", "request-shape", "invalid", e.msg);
		return;
	}
	hook = json_str(j, "hook");
	hi = json_str(j, "hookInstance");
	ctx = json_obj(j, "context");
	patient = json_str(ctx, "patientId");
	user = json_str(ctx, "userId");
	auditrec_set(c->rec.hook, sizeof(c->rec.hook), hook);
	auditrec_set(c->rec.hook_instance, sizeof(c->rec.hook_instance), hi);
	if (patient)
		snprintf(c->rec.patient, sizeof(c->rec.patient), "Patient/%s", patient);
	auditrec_set(c->rec.user, sizeof(c->rec.user), user);
	/* approvals: the service, its approval (not expired) and the hook (check: issue item 3) */
	if (c->svc == NULL) {
		cJSON_Delete(j);
		refuse(c, 403, "deny", "service-not-approved", "forbidden", "service not approved for this site");
		return;
	}
	if (!policy_approval_active(&c->svc->approval, policy_today_days())) {
		cJSON_Delete(j);
		refuse(c, 403, "deny", "approval-expired", "forbidden", "the approval for this service is not active");
		return;
	}
	if (!policy_service_allows_hook(c->svc, hook)) {
		cJSON_Delete(j);
		refuse(c, 403, "deny", "hook-not-approved", "forbidden", "hook not approved for this service");
		return;
	}
	/* The patient's identifiers for the egress PHI scanner, from the whole prefetch as the
	 * EHR sent it (before minimisation: identifiers in removed keys are still this patient's). */
	{
		cJSON *pre = json_obj(j, "prefetch");

		/* built from the tree already parsed (printing and re-parsing it cost ~12 % of the
		 * sidecar's CPU per hook call, docs/PERFORMANCE.md §1.5) */
		if (pre && phi_context_from_tree(pre, &pctx, &e) < 0)
			pctx = NULL;
		encounter = json_str(ctx, "encounterId");
		snprintf(encounter_id, sizeof(encounter_id), "%s", encounter ? encounter : "");
		snprintf(patient_id, sizeof(patient_id), "%s", patient ? patient : "");
	}
	/* data minimisation: prefetch keys of types not approved for reading are removed */
	n_removed = hookreq_minimise_prefetch(j, c->svc->prefetch_read.v, c->svc->prefetch_read.n, removed,
					      AUDITREC_MAX_REMOVED);
	for (size_t i = 0; i < n_removed && i < AUDITREC_MAX_REMOVED; i++)
		c->rec.prefetch_removed[c->rec.n_removed++] = removed[i];
	if (n_removed)
		auditrec_add_rule(&c->rec, "prefetch-minimised");
	if (n_removed) {
		buf_fini(&c->fwd);
		buf_init(&c->fwd, p->ingress.max_body_bytes + 4096);
	}
	if (n_removed && json_print(j, &c->fwd) < 0) {
		cJSON_Delete(j);
		phi_context_free(pctx);
		refuse(c, 413, "deny", "body-too-large", "too-long", "request body exceeds the site limit");
		return;
	}
	cJSON_Delete(j);
	c->rec.timings_us[METRICS_STAGE_POLICY] = since_us(t);
	metrics_observe(c->w->sc->metrics, METRICS_STAGE_POLICY, c->rec.timings_us[METRICS_STAGE_POLICY]);
	/* write-ahead: the decision is durable before the AI service sees anything */
	c->rec.decision = "allow";
	c->rec.phase = "decision";
	if (sidecar_audit(c->w->sc, &c->rec, true) < 0) {
		phi_context_free(pctx);
		reply_outcome(c, 503, "transient", "audit log unavailable");
		c->rec.decision = "error";
		auditrec_add_rule(&c->rec, "audit-unavailable");
		log_event(LOGL_ERROR, c->rec.rid, "cds.call", "decision=error rule=audit-unavailable status=503");
		metrics_count(c->w->sc->metrics, "ingress", c->rec.service, "error", 503);
		call_free(c);
		return;
	}
	{
		/* X-Ehrgate-Context: a random capability binding the AI service's outbound calls to
		 * this patient (docs/ARCHITECTURE.md §Egress binding) */
		unsigned char rnd[16];

		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(c->ctx_token, sizeof(c->ctx_token), rnd, sizeof(rnd));
		ctxstore_put(c->w->sc->ctx, c->ctx_token, patient_id, encounter_id[0] ? encounter_id : NULL, pctx);
	}
	if (!start_upstream(c, "POST", path, on_service_response)) {
		stop_timer(c);
		upstream_failed(c, "upstream-unreachable");
		c->rec.phase = "completion";
		call_complete(c);
	}
}

static void on_discovery_response(const struct http_client_resp *resp, void *arg)
{
	struct call *c = arg;
	struct policy *p = c->rt->policy;
	struct hook_approval *ap;
	struct json_limits lim = {.max_bytes = UPSTREAM_MAX_RESPONSE, .max_depth = 32};
	struct buf out;
	struct err e;
	cJSON *j;
	int64_t today = policy_today_days();

	stop_timer(c);
	atomic_store(&c->w->sc->upstream_ok, resp->status > 0);
	j = resp->status == 200 ? json_parse(resp->body ? resp->body : "", resp->body_len, &lim, &e) : NULL;
	if (j == NULL || !json_arr(j, "services")) {
		cJSON_Delete(j);
		upstream_failed(c, resp->status == 200 ? "upstream-json" : "upstream-status");
		c->rec.phase = "completion";
		call_complete(c);
		return;
	}
	ap = xcalloc(p->n_services ? p->n_services : 1, sizeof(*ap));
	for (size_t i = 0; i < p->n_services; i++) {
		const struct policy_service *s = &p->services[i];

		ap[i] = (struct hook_approval){s->id, s->hooks.v, s->hooks.n, s->prefetch_read.v, s->prefetch_read.n,
					       policy_approval_active(&s->approval, today)};
	}
	hookreq_filter_discovery(j, ap, p->n_services);
	free(ap);
	buf_init(&out, UPSTREAM_MAX_RESPONSE);
	if (json_print(j, &out) == 0) {
		c->rec.decision = "allow";
		reply_json(c, 200, out.p, out.len);
	} else {
		upstream_failed(c, "upstream-too-large");
	}
	buf_fini(&out);
	cJSON_Delete(j);
	c->rec.phase = "completion";
	call_complete(c);
}

static void on_feedback_response(const struct http_client_resp *resp, void *arg)
{
	struct call *c = arg;

	stop_timer(c);
	atomic_store(&c->w->sc->upstream_ok, resp->status > 0);
	if (resp->status >= 200 && resp->status < 300) {
		c->rec.decision = "allow";
		reply_json(c, resp->status, resp->body_len ? resp->body : "{}", resp->body_len ? resp->body_len : 2);
	} else if (resp->status >= 400 && resp->status < 500) {
		/* the service refused the feedback (CDS Hooks 2.0 §Feedback; check 61): the EHR
		 * must see a client error, not a gateway error */
		c->rec.decision = "allow";
		auditrec_add_rule(&c->rec, "upstream-4xx");
		reply_outcome(c, resp->status, "invalid", "the CDS service refused the feedback");
	} else {
		upstream_failed(c, "upstream-status");
	}
	c->rec.phase = "completion";
	call_complete(c);
}

static void handle_discovery_or_feedback(struct call *c, const char *path)
{
	struct policy *p = c->rt->policy;
	struct buf body;

	if (!authenticate(c, path))
		return;
	if (c->kind == CALL_FEEDBACK) {
		if (c->svc == NULL || !policy_approval_active(&c->svc->approval, policy_today_days())) {
			refuse(c, 403, "deny", "service-not-approved", "forbidden", "service not approved for this site");
			return;
		}
		buf_init(&body, p->ingress.max_body_bytes);
		if (http_server_read_body(c->req, &body) < 0) {
			buf_fini(&body);
			refuse(c, 413, "deny", "body-too-large", "too-long", "request body exceeds the site limit");
			return;
		}
		/* Feedback carries card uuids and outcomes; forwarded as received after a size check. */
		c->rec.bytes_in = body.len;
		c->fwd = body;
	} else {
		buf_init(&c->fwd, 0);
	}
	c->rec.decision = "allow";
	c->rec.phase = "decision";
	if (sidecar_audit(c->w->sc, &c->rec, true) < 0) {
		reply_outcome(c, 503, "transient", "audit log unavailable");
		metrics_count(c->w->sc->metrics, "ingress", kind_event(c->kind), "error", 503);
		call_free(c);
		return;
	}
	if (!start_upstream(c, c->kind == CALL_FEEDBACK ? "POST" : "GET", path,
			    c->kind == CALL_FEEDBACK ? on_feedback_response : on_discovery_response)) {
		upstream_failed(c, "upstream-unreachable");
		c->rec.phase = "completion";
		call_complete(c);
	}
}

/* Service ids are URL path segments: a conservative charset, no percent-encoding. */
static bool service_id_ok(const char *s, size_t n)
{
	if (n == 0 || n >= AUDITREC_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

void ingress_handle(struct evhttp_request *req, void *arg)
{
	struct worker *w = arg;
	struct sidecar *sc = w->sc;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	struct call *c;
	char id[AUDITREC_ID_MAX];
	const char *rest;

	if (path == NULL)
		path = "";
	/* CORS pre-flight for browser-based CDS clients (CDS Hooks 2.0 §CORS; check 43) */
	if (m == EVHTTP_REQ_OPTIONS && strncmp(path, "/cds-services", 13) == 0) {
		struct evkeyvalq *h = evhttp_request_get_output_headers(req);

		evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
		evhttp_add_header(h, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
		evhttp_add_header(h, "Access-Control-Allow-Headers", "Authorization, Content-Type");
		evhttp_add_header(h, "Access-Control-Max-Age", "600");
		evhttp_send_reply(req, 204, "No Content", NULL);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	c->req = req;
	c->t0 = clock_mono_ns();
	atomic_fetch_add(&sc->inflight, 1);
	c->rt = runtime_slot_get(&sc->rt);
	buf_init(&c->fwd, 0);
	auditrec_init(&c->rec, "cds.call", http_server_request_id(req), c->rt->policy->site.id);
	snprintf(c->rec.method, sizeof(c->rec.method), "%s", m == EVHTTP_REQ_GET ? "GET" : m == EVHTTP_REQ_POST ? "POST" : "OTHER");
	if (atomic_load(&sc->draining)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		reply_outcome(c, 503, "transient", "shutting down");
		call_free(c);
		return;
	}
	if (strcmp(path, "/cds-services") == 0) {
		c->kind = CALL_DISCOVERY;
		c->rec.event = "cds.discovery";
		if (m != EVHTTP_REQ_GET) {
			refuse(c, 405, "deny", "method", "not-supported", "discovery is GET");
			return;
		}
		handle_discovery_or_feedback(c, path);
		return;
	}
	if (strncmp(path, "/cds-services/", 14) != 0) {
		refuse(c, 404, "deny", "path", "not-found", "unknown path");
		return;
	}
	rest = path + 14;
	{
		const char *slash = strchr(rest, '/');
		size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

		if (!service_id_ok(rest, n) || (slash && strcmp(slash, "/feedback") != 0)) {
			refuse(c, 404, "deny", "path", "not-found", "unknown path");
			return;
		}
		memcpy(id, rest, n);
		id[n] = '\0';
		auditrec_set(c->rec.service, sizeof(c->rec.service), id);
		c->svc = policy_find_service(c->rt->policy, id);
		c->kind = slash ? CALL_FEEDBACK : CALL_SERVICE;
		c->rec.event = kind_event(c->kind);
	}
	if (m != EVHTTP_REQ_POST) {
		refuse(c, 405, "deny", "method", "not-supported", "service calls and feedback are POST");
		return;
	}
	if (c->kind == CALL_SERVICE)
		handle_service(c, path);
	else
		handle_discovery_or_feedback(c, path);
}
