/* conform_ehr — the simulated EHR's JWKS and FHIR server on loopback (lib/http_server). Owns
 * the server and the issued-token table; records calls into the run. */
#include "conformance/conform_ehr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "conformance/conform_util.h"
#include "lib/clock.h"
#include "lib/http_server.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/mem.h"

struct token {
	char token[65];
	char rid[16];
	char patient[64];
	int64_t exp_ms;
};

struct conform_ehr {
	struct http_server *srv;
	const struct conform_profile *profile;
	const struct conform_fhir *store;
	const struct conform_keys *keys;
	struct conform_run *run;
	char base[96];
	char fhir_base[256];
	struct token *tokens;
	size_t n_tokens;
	char jwks_alias[256];
	char current[16]; /* the hook call in progress: calls without a valid token are charged to it */
};

static void reply_json_tree(struct evhttp_request *req, int status, const cJSON *j, const char *ctype)
{
	char *s = cJSON_PrintUnformatted(j);
	struct evbuffer *b = evhttp_request_get_output_buffer(req);

	if (s == NULL)
		abort();
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evbuffer_add(b, s, strlen(s));
	evhttp_send_reply(req, status, status == 200 ? "OK" : status == 401 ? "Unauthorized" : status == 403 ? "Forbidden"
							 : status == 404 ? "Not Found" : "Bad Request", b);
	cJSON_free(s);
}

static const struct token *find_token(const struct conform_ehr *x, const char *auth)
{
	const char *t;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return NULL;
	t = auth + 7;
	while (*t == ' ')
		t++;
	for (size_t i = 0; i < x->n_tokens; i++) {
		/* constant-time compare: these are bearer secrets */
		if (strlen(t) == 64 && sodium_memcmp(x->tokens[i].token, t, 64) == 0)
			return x->tokens[i].exp_ms >= clock_wall_ms() ? &x->tokens[i] : NULL;
	}
	return NULL;
}

static void record(struct conform_ehr *x, const char *rid, const char *path, int status, bool token_ok, bool in_scope)
{
	struct conform_run *r = x->run;
	struct conform_fhir_call *c;

	r->calls = xrealloc(r->calls, (r->n_calls + 1) * sizeof(*r->calls));
	c = &r->calls[r->n_calls++];
	memset(c, 0, sizeof(*c));
	snprintf(c->rid, sizeof(c->rid), "%s", rid ? rid : "");
	c->path = xstrdup(path);
	c->status = status;
	c->token_ok = token_ok;
	c->in_scope = in_scope;
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct conform_ehr *x = arg;
	const char *uri = evhttp_request_get_uri(req);
	size_t fl = strlen(x->profile->fhir_path);
	char path[2048];
	const char *q = strchr(uri, '?');

	snprintf(path, sizeof(path), "%.*s", (int)(q ? (size_t)(q - uri) : strlen(uri)), uri);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		http_server_reply_outcome(req, 405, "not-supported", "read-only simulated EHR");
		return;
	}
	if (strcmp(path, x->profile->jwks_path) == 0 || (x->jwks_alias[0] && strcmp(path, x->jwks_alias) == 0)) {
		reply_json_tree(req, 200, x->keys->jwks, "application/json");
		return;
	}
	if (strcmp(path, "/attacker/jwks.json") == 0) {
		reply_json_tree(req, 200, x->keys->rogue_jwks, "application/json");
		return;
	}
	if (strncmp(uri, x->profile->fhir_path, fl) == 0 && uri[fl] == '/') {
		const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
		const struct token *t = find_token(x, auth);
		struct conform_fhir_answer a;
		bool scope;

		if (t == NULL) {
			/* CDS Hooks 2.0 §FHIR Resource Access: the service uses the access token it was given */
			record(x, x->current, uri + fl, 401, false, true);
			http_server_reply_outcome(req, 401, "login", "a valid bearer access token is required");
			return;
		}
		conform_fhir_get(x->store, uri + fl + 1, x->fhir_base, &a);
		scope = a.status != 200 || conform_fhir_in_scope(a.body, t->patient);
		if (!scope) {
			record(x, t->rid, uri + fl, 403, true, false);
			cJSON_Delete(a.body);
			http_server_reply_outcome(req, 403, "forbidden", "the token is scoped to the patient in context");
			return;
		}
		record(x, t->rid, uri + fl, a.status, true, true);
		reply_json_tree(req, a.status, a.body, "application/fhir+json");
		cJSON_Delete(a.body);
		return;
	}
	http_server_reply_outcome(req, 404, "not-found", "no such endpoint on the simulated EHR");
}

struct conform_ehr *conform_ehr_new(struct event_base *base, const char *listen, const struct conform_profile *p,
				    const struct conform_fhir *store, const struct conform_keys *keys,
				    struct conform_run *run, struct err *e)
{
	struct conform_ehr *x = xcalloc(1, sizeof(*x));
	struct http_server_opts o = {
		.listen = listen ? listen : "127.0.0.1:0",
		.max_body_bytes = 64 * 1024,
		.max_connections = 256,
		.idle_timeout_ms = 30000,
	};
	const char *host = o.listen;
	const char *colon = strrchr(host, ':');

	x->profile = p;
	x->store = store;
	x->keys = keys;
	x->run = run;
	x->srv = http_server_new(base, &o, handle, x, e);
	if (x->srv == NULL) {
		free(x);
		return NULL;
	}
	snprintf(x->base, sizeof(x->base), "http://%.*s:%u", colon ? (int)(colon - host) : (int)strlen(host), host,
		 (unsigned)http_server_port(x->srv));
	snprintf(x->fhir_base, sizeof(x->fhir_base), "%s%s", x->base, p->fhir_path);
	return x;
}

void conform_ehr_free(struct conform_ehr *x)
{
	if (x == NULL)
		return;
	http_server_free(x->srv);
	if (x->tokens)
		sodium_memzero(x->tokens, x->n_tokens * sizeof(*x->tokens));
	free(x->tokens);
	free(x);
}

void conform_ehr_set_jwks_alias(struct conform_ehr *x, const char *path)
{
	snprintf(x->jwks_alias, sizeof(x->jwks_alias), "%s", path ? path : "");
}

void conform_ehr_set_current(struct conform_ehr *x, const char *rid)
{
	snprintf(x->current, sizeof(x->current), "%s", rid ? rid : "");
}

const char *conform_ehr_base(const struct conform_ehr *x)
{
	return x->base;
}

void conform_ehr_issue_token(struct conform_ehr *x, const char *rid, const char *patient, unsigned ttl_s, char out[65])
{
	struct token *t;

	x->tokens = xrealloc(x->tokens, (x->n_tokens + 1) * sizeof(*x->tokens));
	t = &x->tokens[x->n_tokens++];
	memset(t, 0, sizeof(*t));
	conform_random_hex(t->token, 32);
	snprintf(t->rid, sizeof(t->rid), "%s", rid);
	snprintf(t->patient, sizeof(t->patient), "%s", patient);
	t->exp_ms = clock_wall_ms() + (int64_t)ttl_s * 1000;
	memcpy(out, t->token, 65);
}

size_t conform_ehr_calls_for(const struct conform_run *run, const char *rid, size_t *bad, size_t *paged)
{
	size_t n = 0;

	*bad = 0;
	if (paged)
		*paged = 0;
	for (size_t i = 0; i < run->n_calls; i++) {
		if (strcmp(run->calls[i].rid, rid) != 0)
			continue;
		n++;
		if (!run->calls[i].token_ok || !run->calls[i].in_scope)
			(*bad)++;
		if (paged && strstr(run->calls[i].path, "_offset="))
			(*paged)++;
	}
	return n;
}
