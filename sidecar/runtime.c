/* runtime — builds and reference-counts configuration generations. Owns the JWK Sets and the
 * client array of each generation; holds one reference on its policy. */
#include "sidecar/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/file.h"
#include "lib/http_client.h"
#include "lib/mem.h"

#define JWKS_MAX_BYTES (256 * 1024)

static int load_jwks(const struct policy_client *c, struct jose_jwks **out, struct err *e)
{
	struct buf b;
	int rc;

	buf_init(&b, JWKS_MAX_BYTES);
	if (c->jwks_file) {
		rc = file_read_all(c->jwks_file, JWKS_MAX_BYTES, &b, e);
	} else {
		struct http_client_opts o = {0};
		struct http_client_req r = {.method = "GET", .url = c->jwks_url, .timeout_ms = 5000,
					    .max_response_bytes = JWKS_MAX_BYTES};
		struct http_client_result res = {0};

		rc = http_client_fetch_sync(&o, &r, &res, e);
		if (rc == 0 && res.status != 200)
			rc = err_set(e, -EIO, "JWKS URL answered HTTP %d", res.status);
		if (rc == 0)
			rc = buf_append(&b, res.body, res.body_len);
		http_client_result_fini(&res);
	}
	if (rc == 0)
		rc = jose_jwks_parse(b.p ? b.p : "", b.len, out, e);
	buf_fini(&b);
	if (rc < 0)
		err_prefix(e, "ingress client %s", c->iss);
	return rc;
}

int runtime_new(struct policy *p, unsigned generation, struct runtime **out, struct err *e)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	size_t n = p->ingress.n_clients;
	int rc = 0;

	*out = NULL;
	atomic_init(&rt->refs, 1);
	rt->policy = p;
	rt->generation = generation;
	rt->n_clients = n;
	rt->jwks = xcalloc(n ? n : 1, sizeof(*rt->jwks));
	rt->clients = xcalloc(n ? n : 1, sizeof(*rt->clients));
	for (size_t i = 0; i < n; i++) {
		const struct policy_client *c = &p->ingress.clients[i];
		unsigned algs = 0;

		rc = load_jwks(c, &rt->jwks[i], e);
		if (rc < 0)
			goto out;
		if (c->algs & POLICY_ALG_ES384)
			algs |= 1u << JOSE_ALG_ES384;
		if (c->algs & POLICY_ALG_RS384)
			algs |= 1u << JOSE_ALG_RS384;
		rt->clients[i] = (struct cds_auth_client){
			.iss = c->iss, .jwks = rt->jwks[i], .jku_allow = c->jku_allow.v,
			.n_jku_allow = c->jku_allow.n, .algs = algs, .max_lifetime_s = c->max_token_lifetime_s,
		};
	}
	{
		/* PHI engine: Safe Harbor patterns + this site's MRN / member-id formats, compiled
		 * once per generation. The site's own FHIR base is not an identifier. */
		struct phi_config cfg;
		const char **allow = xcalloc(p->phi.url_allow.n + 2, sizeof(*allow));
		size_t n_allow = 0;

		phi_config_init(&cfg);
		cfg.mrn_patterns = p->phi.mrn_patterns.v;
		cfg.n_mrn = p->phi.mrn_patterns.n;
		cfg.member_id_patterns = p->phi.member_id_patterns.v;
		cfg.n_member = p->phi.member_id_patterns.n;
		cfg.date_exempt_keys = p->phi.date_exempt_keys.v;
		cfg.n_date_exempt = p->phi.date_exempt_keys.n;
		if (p->fhir.enabled && p->fhir.base)
			allow[n_allow++] = p->fhir.base;
		for (size_t k = 0; k < p->phi.url_allow.n; k++)
			allow[n_allow++] = p->phi.url_allow.v[k];
		cfg.url_allow_prefixes = allow;
		cfg.n_url_allow = n_allow;
		rc = phi_engine_new(&cfg, &rt->phi, e); /* copies the lists */
		free(allow);
		if (rc < 0) {
			err_prefix(e, "phi patterns");
			goto out;
		}
	}
	*out = rt;
	return 0;
out:
	runtime_unref(rt);
	return rc;
}

void runtime_ref(struct runtime *rt)
{
	atomic_fetch_add(&rt->refs, 1);
}

void runtime_unref(struct runtime *rt)
{
	if (rt == NULL || atomic_fetch_sub(&rt->refs, 1) != 1)
		return;
	for (size_t i = 0; i < rt->n_clients; i++)
		jose_jwks_free(rt->jwks[i]);
	free(rt->jwks);
	free(rt->clients);
	phi_engine_free(rt->phi);
	policy_unref(rt->policy);
	free(rt);
}

void runtime_slot_init(struct runtime_slot *s, struct runtime *rt)
{
	pthread_mutex_init(&s->mu, NULL);
	s->cur = rt;
}

struct runtime *runtime_slot_get(struct runtime_slot *s)
{
	struct runtime *rt;

	/* The mutex makes "read pointer + take reference" atomic against a concurrent swap. */
	pthread_mutex_lock(&s->mu);
	rt = s->cur;
	runtime_ref(rt);
	pthread_mutex_unlock(&s->mu);
	return rt;
}

void runtime_slot_swap(struct runtime_slot *s, struct runtime *rt)
{
	struct runtime *old;

	pthread_mutex_lock(&s->mu);
	old = s->cur;
	s->cur = rt;
	pthread_mutex_unlock(&s->mu);
	runtime_unref(old);
}

void runtime_slot_fini(struct runtime_slot *s)
{
	runtime_unref(s->cur);
	s->cur = NULL;
	pthread_mutex_destroy(&s->mu);
}
