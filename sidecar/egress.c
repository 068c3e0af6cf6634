/* egress — the AI service's way out (DESIGN.md §3.1; issue "sidecar egress").
 *
 * The AI service calls http://127.0.0.1:EGRESS/<route>/<path> in plain HTTP on loopback; the
 * route's real URL comes from the site policy and the sidecar originates TLS with libcurl
 * (verification always on). Per route: unknown routes and expired approvals are refused (403),
 * methods and body sizes are limited, and
 *   - the FHIR route (`fhir`, the EHR's own server) enforces per-type read/write approvals and
 *     validates AI-drafted DocumentReference write-backs (fhirgate);
 *   - every other route passes the body through the PHI scanner and, per policy, forwards it
 *     (allow: BAA destinations), forwards it redacted (redact) or refuses it (block) — the
 *     answer names finding types and counts, never values.
 * The call is bound to the hook's patient by the X-Ehrgate-Context header the sidecar added to
 * the hook call (ctxstore); without it, every patient seen in the last few minutes applies.
 * Every decision is audited before anything leaves (fail closed).
 *
 * Owns one `struct ecall` per request.
 */
#include "sidecar/sidecar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "lib/clock.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "sidecar/ctxstore.h"
#include "sidecar/fhirgate.h"
#include "sidecar/phi.h"

#define EGRESS_MAX_RESPONSE (16u << 20)
#define EGRESS_RECENT_MAX 8
#define EGRESS_MAX_HEADERS 48

struct ecall {
	struct worker *w;
	struct runtime *rt;
	struct evhttp_request *req;
	const struct policy_route *route;
	struct ctxentry *bound;               /* context from X-Ehrgate-Context, or NULL */
	struct ctxentry *recent[EGRESS_RECENT_MAX];
	size_t n_recent;
	struct auditrec rec;
	int64_t t0, t_up;
	struct http_client_xfer *xfer;
	struct buf body;                      /* what is sent (original or redacted) */
	char url[4096];
	char *hdr_store[EGRESS_MAX_HEADERS];
	size_t n_hdr;
};

static int64_t us_since(int64_t t)
{
	return (clock_mono_ns() - t) / 1000;
}

static void ecall_free(struct ecall *c)
{
	for (size_t i = 0; i < c->n_hdr; i++)
		free(c->hdr_store[i]);
	for (size_t i = 0; i < c->n_recent; i++)
		ctxentry_release(c->recent[i]);
	ctxentry_release(c->bound);
	buf_fini(&c->body);
	auditrec_fini(&c->rec);
	runtime_unref(c->rt);
	atomic_fetch_sub(&c->w->sc->inflight, 1);
	free(c);
}

static void finish(struct ecall *c, bool audit_again)
{
	struct sidecar *sc = c->w->sc;

	c->rec.timings_us[METRICS_STAGE_TOTAL] = us_since(c->t0);
	metrics_count(sc->metrics, "egress", c->rec.route[0] ? c->rec.route : "-", c->rec.decision, c->rec.status);
	if (audit_again) {
		c->rec.phase = "completion";
		if (sidecar_audit(sc, &c->rec, false) < 0)
			log_event(LOGL_ERROR, c->rec.rid, "audit_failed", "phase=completion");
	}
	log_event(LOGL_INFO, c->rec.rid, "egress", "route=%s method=%s decision=%s status=%d rule=%s bytes_out=%zu total_us=%lld",
		  c->rec.route[0] ? c->rec.route : "-", c->rec.method, c->rec.decision, c->rec.status,
		  c->rec.n_rules ? c->rec.rules[0] : "-", c->rec.bytes_out, (long long)c->rec.timings_us[METRICS_STAGE_TOTAL]);
	ecall_free(c);
}

/* A refusal: audit first (503 if that fails), then the answer, then free. */
static void refuse_body(struct ecall *c, int status, const char *decision, const char *json, size_t len)
{
	c->rec.decision = decision;
	c->rec.status = status;
	if (sidecar_audit(c->w->sc, &c->rec, true) < 0) {
		c->rec.status = 503;
		http_server_reply_outcome(c->req, 503, "transient", "audit log unavailable");
	} else {
		http_server_reply_json(c->req, status, json, len);
	}
	finish(c, false);
}

static void refuse(struct ecall *c, int status, const char *rule, const char *code, const char *text)
{
	char json[512];
	int n;

	auditrec_add_rule(&c->rec, rule);
	/* FHIR R4 OperationOutcome; the reason code leads the diagnostics */
	n = snprintf(json, sizeof(json),
		     "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":\"%s\","
		     "\"diagnostics\":\"%s: %s\"}]}", code, rule, text);
	refuse_body(c, status, "deny", json, (size_t)n);
}

static enum phi_body body_kind(const char *ct)
{
	if (ct && (strncasecmp(ct, "application/json", 16) == 0 || strcasestr(ct, "+json")))
		return PHI_BODY_JSON;
	if (ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
		return PHI_BODY_FORM;
	return PHI_BODY_TEXT;
}

static int cmp_finding(const void *a, const void *b)
{
	const struct phi_finding *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return (int)x->type - (int)y->type;
}

/* Where a request's findings were: each part is scanned apart. */
enum { PART_BODY, PART_PATH, PART_QUERY, PART_HEADERS, N_PARTS };

static size_t parts_n(const struct phi_findings *f)
{
	size_t n = 0;

	for (int i = 0; i < N_PARTS; i++)
		n += f[i].n;
	return n;
}

static void parts_free(struct phi_findings *f)
{
	for (int i = 0; i < N_PARTS; i++)
		free(f[i].v);
}

/* Scan with the bound context, or with each recent one (union of findings). */
static int scan(struct ecall *c, const char *p, size_t len, enum phi_body kind, struct phi_findings *out,
		struct err *e)
{
	struct phi_scratch *scratch = c->w->phi_scratch;
	const struct phi_engine *eng = c->rt->phi;
	struct phi_findings one;
	size_t rounds = c->bound ? 1 : (c->n_recent ? c->n_recent : 1);
	int rc = 0;

	for (size_t i = 0; i < rounds && rc == 0; i++) {
		const struct phi_context *ctx = c->bound ? c->bound->phi : c->n_recent ? c->recent[i]->phi : NULL;

		phi_findings_init(&one, 0);
		rc = phi_scan(eng, scratch, ctx, p, len, kind, &one, e);
		for (size_t k = 0; rc == 0 && k < one.n; k++) {
			if (out->n == out->cap) {
				out->cap = out->cap ? out->cap * 2 : 16;
				out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
			}
			out->v[out->n++] = one.v[k];
		}
		out->kind = one.kind;
		phi_findings_fini(&one);
	}
	if (rc == 0 && out->n > 1) {
		size_t k = 1;

		qsort(out->v, out->n, sizeof(*out->v), cmp_finding);
		for (size_t i = 1; i < out->n; i++)
			if (cmp_finding(&out->v[i], &out->v[k - 1]) != 0)
				out->v[k++] = out->v[i];
		out->n = k;
	}
	return rc;
}

static void count_types(struct ecall *c, const struct phi_findings *f)
{
	for (size_t i = 0; i < f->n; i++) {
		const char *t = phi_type_name(f->v[i].type);
		size_t k;

		for (k = 0; k < c->rec.n_phi && strcmp(c->rec.phi[k].type, t) != 0; k++)
			;
		if (k == c->rec.n_phi && k < AUDITREC_PHI_TYPES) {
			c->rec.phi[k].type = t;
			c->rec.phi[k].count = 0;
			c->rec.n_phi++;
		}
		if (k < AUDITREC_PHI_TYPES)
			c->rec.phi[k].count++;
	}
}

/* --- FHIR route ------------------------------------------------------------------------------ */

static bool read_ok(const char *type, void *arg)
{
	return policy_read_approved(arg, type);
}

static bool write_ok(const char *type, void *arg)
{
	return policy_write_approved(arg, type, policy_today_days());
}

struct other_arg {
	struct ecall *c;
};

/* Identifiers of a patient other than the one in context (fhirgate DOCREF-OTHER-PATIENT). */
static bool other_patient_in(const char *text, size_t len, void *arg)
{
	struct ecall *c = ((struct other_arg *)arg)->c;
	bool hit = false;

	for (size_t i = 0; i < c->n_recent && !hit; i++) {
		struct ctxentry *o = c->recent[i];
		struct phi_findings f;
		struct err e;

		if (o->phi == NULL || (c->bound && strcmp(o->patient_id, c->bound->patient_id) == 0))
			continue;
		phi_findings_init(&f, 0);
		if (phi_scan(c->rt->phi, c->w->phi_scratch, o->phi, text, len, PHI_BODY_TEXT, &f, &e) == 0)
			for (size_t k = 0; k < f.n && !hit; k++)
				hit = f.v[k].source == PHI_SRC_KNOWN && f.v[k].type == PHI_T_NAME;
		phi_findings_fini(&f);
	}
	return hit;
}

static bool check_fhir(struct ecall *c, const char *method, const char *rest, const char *query)
{
	struct fhirgate_policy fp = {read_ok, write_ok, c->rt->policy};
	struct fhirgate_request fr;
	struct fhirgate_result res;
	cJSON *oo;
	char *s;

	if (fhirgate_check(&fp, method, rest, query, &fr, &res) < 0) {
		for (size_t i = 0; i < res.n_rules; i++)
			auditrec_add_rule(&c->rec, res.rules[i]);
		oo = fhirgate_outcome(&res, "forbidden");
		s = cJSON_PrintUnformatted(oo);
		refuse_body(c, 403, "deny", s, strlen(s));
		cJSON_free(s);
		cJSON_Delete(oo);
		return false;
	}
	if ((fr.kind == FHIRGATE_CREATE || fr.kind == FHIRGATE_UPDATE) && strcmp(fr.type, "DocumentReference") == 0) {
		struct other_arg oa = {c};
		struct fhirgate_context ctx = {
			c->bound ? c->bound->patient_id : NULL,
			c->bound && c->bound->encounter_id[0] ? c->bound->encounter_id : NULL,
			other_patient_in, &oa,
		};
		struct err e;
		cJSON *doc = json_parse(c->body.p ? c->body.p : "", c->body.len, NULL, &e);

		if (doc == NULL) {
			res.n_rules = 1;
			res.rules[0] = "DOCREF-JSON";
		} else {
			fhirgate_validate_docref(doc, &ctx, &res);
		}
		cJSON_Delete(doc);
		if (res.n_rules) {
			for (size_t i = 0; i < res.n_rules; i++)
				auditrec_add_rule(&c->rec, res.rules[i]);
			oo = fhirgate_outcome(&res, "business-rule");
			s = cJSON_PrintUnformatted(oo);
			refuse_body(c, 422, "deny", s, strlen(s));
			cJSON_free(s);
			cJSON_Delete(oo);
			return false;
		}
		auditrec_add_rule(&c->rec, "DOCREF-VALID");
	}
	return true;
}

/* --- forwarding ------------------------------------------------------------------------------- */

/* RFC 9110 §7.6.1 connection-specific fields, plus what we set ourselves: never forwarded. */
static const char *const dropped_headers[] = {
	"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "trailer",
	"proxy-authorization", "proxy-authenticate", "host", "content-length", "expect", "x-ehrgate-context",
	"x-request-id", "via", "forwarded",
};

static const char *const override_headers[] = {"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"};

/* Can the PHI scanner read this body? It reads UTF-8 (RFC 8259 §8.1 for JSON) and ASCII-
 * compatible text. A UTF-16 or UTF-32 body (a byte-order mark) or a declared charset of
 * another family would pass it unread. (A body with a NUL byte — UTF-16 ASCII, images, PDFs,
 * archives — never gets here: the listener's framer refuses it with 400, lib/http_util.c.) */
static bool body_readable(const char *ct, const char *p, size_t n)
{
	const char *cs = ct ? strcasestr(ct, "charset=") : NULL;

	if (cs) {
		cs += 8;
		if (*cs == '"')
			cs++;
		if (strncasecmp(cs, "utf-8", 5) != 0 && strncasecmp(cs, "utf8", 4) != 0 &&
		    strncasecmp(cs, "us-ascii", 8) != 0 && strncasecmp(cs, "iso-8859-1", 10) != 0 &&
		    strncasecmp(cs, "windows-1252", 12) != 0)
			return false;
	}
	return !(n >= 2 && (((unsigned char)p[0] == 0xff && (unsigned char)p[1] == 0xfe) ||
			    ((unsigned char)p[0] == 0xfe && (unsigned char)p[1] == 0xff)));
}

static bool named_in_connection(struct evkeyvalq *in, const char *name)
{
	const char *conn = evhttp_find_header(in, "Connection");
	size_t n = strlen(name);

	for (const char *p = conn; p && *p;) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (strncasecmp(p, name, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

static void on_response(const struct http_client_resp *resp, void *arg)
{
	struct ecall *c = arg;
	struct evkeyvalq *out = evhttp_request_get_output_headers(c->req);
	struct evbuffer *b;

	c->xfer = NULL;
	c->rec.timings_us[METRICS_STAGE_UPSTREAM] = us_since(c->t_up);
	metrics_observe(c->w->sc->metrics, METRICS_STAGE_UPSTREAM, c->rec.timings_us[METRICS_STAGE_UPSTREAM]);
	if (resp->status == 0) {
		auditrec_add_rule(&c->rec, resp->timed_out ? "EGRESS-TIMEOUT" : resp->too_large ? "EGRESS-RESPONSE-SIZE"
											     : "EGRESS-UPSTREAM");
		c->rec.status = 502;
		c->rec.decision = "upstream_error";
		http_server_reply_outcome(c->req, 502, "transient", "the destination did not answer");
		finish(c, true);
		return;
	}
	c->rec.status = resp->status;
	if (resp->content_type)
		evhttp_add_header(out, "Content-Type", resp->content_type);
	b = evbuffer_new();
	evbuffer_add(b, resp->body, resp->body_len);
	evhttp_send_reply(c->req, resp->status, "", b);
	evbuffer_free(b);
	finish(c, true);
}

/* Does forward() pass header `key` on to the destination? */
static bool header_forwarded(struct evkeyvalq *in, const char *key)
{
	if (named_in_connection(in, key))
		return false;
	for (size_t i = 0; i < sizeof(dropped_headers) / sizeof(dropped_headers[0]); i++)
		if (strcasecmp(key, dropped_headers[i]) == 0)
			return false;
	return true;
}

/* Request headers whose values are protocol metadata with a fixed grammar (RFC 9110 §8.3,
 * §10.1, §12.5, §13.1, §14.2) or credentials (§11.6.2): not scanned for identifiers. An
 * HTTP-date in If-Modified-Since would otherwise read as a date, "Chrome/120.0.0.0" in a
 * User-Agent as an IP address. Every other forwarded header is: "X-User-Email:
 * jane@example.org" leaves like a body. */
static const char *const unscanned_headers[] = {
	"accept", "accept-encoding", "accept-language", "accept-charset", "content-type", "cache-control",
	"pragma", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range", "range",
	"date", "authorization", "content-encoding", "user-agent",
};

/* The values of the headers forward() passes on and unscanned_headers leaves out, one per
 * line, for the PHI scan. */
static int headers_text(struct evkeyvalq *in, struct buf *out)
{
	for (struct evkeyval *h = in->tqh_first; h != NULL; h = h->next.tqe_next) {
		bool skip = !header_forwarded(in, h->key);
		for (size_t i = 0; i < sizeof(unscanned_headers) / sizeof(unscanned_headers[0]) && !skip; i++)
			skip = strcasecmp(h->key, unscanned_headers[i]) == 0;
		if (!skip && (buf_append_str(out, h->value) < 0 || buf_append(out, "\n", 1) < 0))
			return -E2BIG;
	}
	return 0;
}

static void forward(struct ecall *c, const char *method, const char *rest, const char *query)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
	const char *headers[EGRESS_MAX_HEADERS];
	struct http_client_req r = {0};
	struct evkeyval *h;
	struct err e;

	snprintf(c->url, sizeof(c->url), "%s%s%s%s", c->route->url, rest, query ? "?" : "", query ? query : "");
	for (h = in->tqh_first; h != NULL; h = h->next.tqe_next) {
		if (!header_forwarded(in, h->key) || c->n_hdr == EGRESS_MAX_HEADERS - 1)
			continue;
		c->hdr_store[c->n_hdr] = xmalloc(strlen(h->key) + strlen(h->value) + 3);
		snprintf(c->hdr_store[c->n_hdr], strlen(h->key) + strlen(h->value) + 3, "%s: %s", h->key, h->value);
		headers[c->n_hdr] = c->hdr_store[c->n_hdr];
		c->n_hdr++;
	}
	r.method = method;
	r.url = c->url;
	r.headers = headers;
	r.n_headers = c->n_hdr;
	r.body = c->body.p;
	r.body_len = c->body.len;
	r.body_borrowed = true;
	r.timeout_ms = c->route->timeout_ms;
	r.max_response_bytes = EGRESS_MAX_RESPONSE;
	c->rec.bytes_out = c->body.len;
	c->t_up = clock_mono_ns();
	if (http_client_send(c->w->client, &r, on_response, c, &c->xfer, &e) < 0) {
		auditrec_add_rule(&c->rec, "EGRESS-UPSTREAM");
		c->rec.decision = "upstream_error";
		c->rec.status = 502;
		http_server_reply_outcome(c->req, 502, "transient", "the destination could not be reached");
		finish(c, true);
	}
}

static unsigned method_bit(enum evhttp_cmd_type m, const char **name)
{
	switch (m) {
	case EVHTTP_REQ_GET: *name = "GET"; return POLICY_METHOD_GET;
	case EVHTTP_REQ_POST: *name = "POST"; return POLICY_METHOD_POST;
	case EVHTTP_REQ_PUT: *name = "PUT"; return POLICY_METHOD_PUT;
	case EVHTTP_REQ_PATCH: *name = "PATCH"; return POLICY_METHOD_PATCH;
	case EVHTTP_REQ_DELETE: *name = "DELETE"; return POLICY_METHOD_DELETE;
	default: *name = "OTHER"; return 0;
	}
}

void egress_handle(struct evhttp_request *req, void *arg)
{
	struct worker *w = arg;
	struct sidecar *sc = w->sc;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : "", *query = uri ? evhttp_uri_get_query(uri) : NULL;
	const char *method, *slash, *rest, *token;
	unsigned mbit = method_bit(evhttp_request_get_command(req), &method);
	struct ecall *c = xcalloc(1, sizeof(*c));
	char name[64];
	size_t n;
	struct err e;

	c->w = w;
	c->req = req;
	c->t0 = clock_mono_ns();
	atomic_fetch_add(&sc->inflight, 1);
	c->rt = runtime_slot_get(&sc->rt);
	/* Vectorscan scratch belongs to this thread and must match the engine generation */
	if (w->phi_scratch_engine != c->rt->phi) {
		phi_scratch_free(w->phi_scratch);
		w->phi_scratch = phi_scratch_new(c->rt->phi);
		w->phi_scratch_engine = c->rt->phi;
	}
	buf_init(&c->body, 0);
	auditrec_init(&c->rec, "egress", http_server_request_id(req), c->rt->policy->site.id);
	auditrec_set(c->rec.method, sizeof(c->rec.method), method);
	if (atomic_load(&sc->draining)) {
		refuse(c, 503, "EGRESS-DRAINING", "transient", "shutting down");
		return;
	}
	/* /<route>/<rest>: route names are [a-z0-9-]+ (policy) */
	if (path == NULL || path[0] != '/') {
		refuse(c, 403, "EGRESS-ROUTE-UNKNOWN", "forbidden", "unknown route");
		return;
	}
	slash = strchr(path + 1, '/');
	n = slash ? (size_t)(slash - path - 1) : strlen(path + 1);
	if (n == 0 || n >= sizeof(name)) {
		refuse(c, 403, "EGRESS-ROUTE-UNKNOWN", "forbidden", "unknown route");
		return;
	}
	memcpy(name, path + 1, n);
	name[n] = '\0';
	rest = slash ? slash : "";
	c->route = policy_find_route(c->rt->policy, name);
	if (c->route == NULL) {
		refuse(c, 403, "EGRESS-ROUTE-UNKNOWN", "forbidden", "unknown route: destinations must be named in the site policy");
		return;
	}
	auditrec_set(c->rec.route, sizeof(c->rec.route), c->route->name);
	if (!policy_route_active(c->route, policy_today_days())) {
		refuse(c, 403, "EGRESS-ROUTE-EXPIRED", "forbidden", "the approval for this route is not active");
		return;
	}
	if (!(mbit & c->route->methods)) {
		refuse(c, 405, "EGRESS-METHOD", "not-supported", "method not allowed on this route");
		return;
	}
	/* The method is approved as the sidecar sees it (the route's methods; FHIR reads and
	 * writes): a header asking the destination to treat the request as another method
	 * (Google APIs, Azure and some FHIR servers honour them) would turn an approved POST
	 * _search into a DELETE. Refused, not dropped: the caller meant something else. */
	for (size_t i = 0; i < sizeof(override_headers) / sizeof(override_headers[0]); i++) {
		if (evhttp_find_header(evhttp_request_get_input_headers(req), override_headers[i])) {
			refuse(c, 403, "EGRESS-METHOD-OVERRIDE", "forbidden",
			       "method-override headers are refused: the sidecar approves the method it sees");
			return;
		}
	}
	/* issue 6: paths are limited per route (policy egress.routes[].paths); a dot segment
	 * would leave a listed prefix once the destination resolves it (RFC 3986 §5.2.4) */
	if (!policy_route_path_ok(c->route, rest)) {
		refuse(c, 403, "EGRESS-PATH", "forbidden", "path not allowed on this route");
		return;
	}
	/* a compressed body cannot be scanned: refuse it (RFC 9110 §15.5.16) rather than let
	 * gzip carry identifiers past the scanner */
	{
		const char *ce = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Encoding");
		if (ce && strcasecmp(ce, "identity") != 0) {
			refuse(c, 415, "EGRESS-ENCODING", "not-supported",
			       "the sidecar reads every body: send it without Content-Encoding");
			return;
		}
	}
	buf_init(&c->body, c->route->max_body_bytes);
	if (http_server_read_body(req, &c->body) < 0) {
		refuse(c, 413, "EGRESS-BODY-SIZE", "too-long", "body exceeds the route limit");
		return;
	}
	c->rec.bytes_in = c->body.len;
	/* bind to the hook's patient */
	token = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Ehrgate-Context");
	if (token) {
		c->bound = ctxstore_get(sc->ctx, token);
		if (c->bound == NULL) {
			refuse(c, 403, "EGRESS-CONTEXT-UNKNOWN", "forbidden", "unknown or expired X-Ehrgate-Context");
			return;
		}
		snprintf(c->rec.patient, sizeof(c->rec.patient), "Patient/%s", c->bound->patient_id);
	}
	c->n_recent = ctxstore_recent(sc->ctx, c->recent, EGRESS_RECENT_MAX);
	if (c->route->is_fhir) {
		if (!check_fhir(c, method, rest, query))
			return;
		/* the EHR's own FHIR server is inside the covered entity: PHI allowed */
		c->rec.decision = "allow";
	} else {
		/* findings by where they were; scanned apart, so scan()'s merge never joins two */
		struct phi_findings f[N_PARTS] = {{0}};
		const char *ctype = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
		int64_t t = clock_mono_ns();

		/* a destination without a BAA gets only what the scanner has read */
		if (c->route->phi != POLICY_PHI_ALLOW && !body_readable(ctype, c->body.p, c->body.len)) {
			refuse(c, 415, "EGRESS-UNREADABLE", "not-supported",
			       "the body is not text the PHI scanner can read (UTF-8); this route has no BAA");
			return;
		}
		int rc = scan(c, c->body.p ? c->body.p : "", c->body.len, body_kind(ctype), &f[PART_BODY], &e);

		/* the URL leaves too: the path after the route ("/patients/Jane%20Doe") and the
		 * query, each percent-decoded as form text */
		if (rc == 0 && rest[0])
			rc = scan(c, rest, strlen(rest), PHI_BODY_FORM, &f[PART_PATH], &e);
		if (rc == 0 && query)
			rc = scan(c, query, strlen(query), PHI_BODY_FORM, &f[PART_QUERY], &e);
		/* forwarded headers' values too */
		if (rc == 0) {
			struct buf ht;
			buf_init(&ht, 256 << 10);
			rc = headers_text(evhttp_request_get_input_headers(req), &ht);
			if (rc == 0 && ht.len)
				rc = scan(c, ht.p, ht.len, PHI_BODY_TEXT, &f[PART_HEADERS], &e);
			buf_fini(&ht);
		}
		c->rec.timings_us[METRICS_STAGE_PHI] = us_since(t);
		metrics_observe(sc->metrics, METRICS_STAGE_PHI, c->rec.timings_us[METRICS_STAGE_PHI]);
		if (rc < 0) {
			parts_free(f);
			/* cannot tell whether it carries PHI: fail closed */
			refuse(c, 403, "EGRESS-PHI-SCAN", "forbidden", "the request could not be scanned");
			return;
		}
		if (c->route->phi_allow_types) {
			/* types the site approved for this route (phi_allow_types), found by pattern
			 * only: the patient's own identifiers (e.g. the birth date) still count */
			size_t before = parts_n(f);
			for (int i = 0; i < N_PARTS; i++)
				phi_findings_drop(&f[i], c->route->phi_allow_types, 1u << PHI_SRC_PATTERN);
			if (parts_n(f) < before)
				auditrec_add_rule(&c->rec, "EGRESS-PHI-TYPE-ALLOWED");
		}
		for (int i = 0; i < N_PARTS; i++)
			count_types(c, &f[i]);
		/* where they were, for the reviewer: the counts above add the parts up */
		bool in_url = f[PART_PATH].n || f[PART_QUERY].n, in_header = f[PART_HEADERS].n;
		if (in_url)
			auditrec_add_rule(&c->rec, "EGRESS-PHI-IN-URL");
		if (in_header)
			auditrec_add_rule(&c->rec, "EGRESS-PHI-IN-HEADER");
		if (parts_n(f) && c->route->phi == POLICY_PHI_BLOCK) {
			struct buf j;

			auditrec_add_rule(&c->rec, "EGRESS-PHI-BLOCK");
			buf_init(&j, 4096);
			if (buf_append_str(&j, "{\"error\":\"phi-blocked\",\"reason\":\"EGRESS-PHI-BLOCK\",\"route\":\"") ||
			    buf_append_str(&j, c->route->name) || buf_append_str(&j, "\",\"findings\":{"))
				abort();
			for (size_t i = 0; i < c->rec.n_phi; i++)
				if (buf_printf(&j, "%s\"%s\":%u", i ? "," : "", c->rec.phi[i].type, c->rec.phi[i].count))
					abort();
			if (buf_append_str(&j, "}}"))
				abort();
			parts_free(f);
			refuse_body(c, 403, "block", j.p, j.len);
			buf_fini(&j);
			return;
		}
		if ((in_url || in_header) && c->route->phi == POLICY_PHI_REDACT) {
			parts_free(f);
			refuse(c, 403, "EGRESS-PHI-URL", "forbidden",
			       "the URL or a header carries identifiers; send them in the body");
			return;
		}
		if (f[PART_BODY].n && c->route->phi == POLICY_PHI_REDACT) {
			struct buf red;

			buf_init(&red, c->body.len * 4 + 4096);
			if (phi_redact(c->body.p, c->body.len, &f[PART_BODY], &red, &e) < 0) {
				buf_fini(&red);
				parts_free(f);
				refuse(c, 403, "EGRESS-PHI-REDACT", "forbidden", "the body could not be redacted");
				return;
			}
			buf_fini(&c->body);
			c->body = red;
			auditrec_add_rule(&c->rec, "EGRESS-PHI-REDACT");
			c->rec.decision = "redact";
		} else {
			c->rec.decision = "allow";
			if (parts_n(f))
				auditrec_add_rule(&c->rec, "EGRESS-PHI-ALLOWED-BAA");
		}
		parts_free(f);
	}
	/* write-ahead */
	c->rec.phase = "decision";
	if (sidecar_audit(sc, &c->rec, true) < 0) {
		c->rec.status = 503;
		c->rec.decision = "error";
		http_server_reply_outcome(req, 503, "transient", "audit log unavailable");
		finish(c, false);
		return;
	}
	forward(c, method, rest, query);
}
