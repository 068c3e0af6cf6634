/* conform_site_policy — fill struct conform_site from the site policy (lib/policy.h). The one
 * place the harness depends on the policy schema; copies what it needs and drops the policy. */
#include "conformance/conform_site.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/jose.h"
#include "lib/mem.h"
#include "lib/policy.h"

static void copy_list(struct conform_strs *dst, const struct policy_strlist *src)
{
	for (size_t i = 0; i < src->n; i++)
		conform_strs_add(dst, src->v[i]);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int conform_site_load(const char *path, struct conform_site *out, struct err *e)
{
	struct policy_diag diag;
	struct policy *p = NULL;
	int64_t today = policy_today_days();
	int rc;

	memset(out, 0, sizeof(*out));
	policy_diag_init(&diag);
	rc = policy_load(path, NULL, &p, &diag);
	if (rc < 0) {
		/* the first error line names file:line:col and the key */
		for (size_t i = 0; i < diag.n; i++) {
			if (diag.v[i].level == POLICY_DIAG_ERROR) {
				err_set(e, rc, "%s%s", diag.v[i].text,
					diag.n_errors > 1 ? " (and more: run ehrgate-sidecar --check)" : "");
				break;
			}
		}
		if (e->code == 0)
			err_set(e, rc, "%s: cannot load the site policy", path);
		policy_diag_fini(&diag);
		return rc;
	}
	policy_diag_fini(&diag);
	out->policy_path = xstrdup(p->path ? p->path : path);
	out->id = xstrdup(p->site.id);
	out->name = xstrdup(p->site.name ? p->site.name : p->site.id);
	out->ehr = xstrdup(policy_ehr_name(p->site.ehr));
	out->environment = xstrdup(policy_env_name(p->site.env));
	out->production = p->site.env == POLICY_ENV_PRODUCTION;
	out->deadline_ms = p->ingress.deadline_ms;
	out->public_base_url = dup_or_null(p->ingress.public_base_url);
	out->services = xcalloc(p->n_services ? p->n_services : 1, sizeof(*out->services));
	for (size_t i = 0; i < p->n_services; i++) {
		const struct policy_service *s = &p->services[i];
		struct conform_site_service *d = &out->services[out->n_services++];
		char days[32] = "";

		d->id = xstrdup(s->id);
		copy_list(&d->hooks, &s->hooks);
		copy_list(&d->prefetch_read, &s->prefetch_read);
		copy_list(&d->create, &s->create);
		copy_list(&d->update, &s->update);
		copy_list(&d->del, &s->del);
		copy_list(&d->smart_links, &s->smart_links);
		d->approval_active = policy_approval_active(&s->approval, today);
		{
			/* days since epoch -> YYYY-MM-DD for the report */
			time_t t = (time_t)(s->approval.expires_days * 86400);
			struct tm tm;

			if (gmtime_r(&t, &tm))
				strftime(days, sizeof(days), "%Y-%m-%d", &tm);
		}
		if (asprintf(&d->approval_ref, "%s (%s, expires %s)", s->approval.reference ? s->approval.reference : "?",
			     s->approval.approved_by ? s->approval.approved_by : "?", days) < 0)
			abort();
	}
	out->clients = xcalloc(p->ingress.n_clients ? p->ingress.n_clients : 1, sizeof(*out->clients));
	for (size_t i = 0; i < p->ingress.n_clients; i++) {
		const struct policy_client *c = &p->ingress.clients[i];
		struct conform_site_client *d = &out->clients[out->n_clients++];

		d->iss = xstrdup(c->iss);
		d->jwks_file = dup_or_null(c->jwks_file);
		d->jwks_url = dup_or_null(c->jwks_url);
		copy_list(&d->jku_allow, &c->jku_allow);
		d->algs = ((c->algs & POLICY_ALG_ES384) ? 1u << JOSE_ALG_ES384 : 0) |
			  ((c->algs & POLICY_ALG_RS384) ? 1u << JOSE_ALG_RS384 : 0);
		d->max_lifetime_s = c->max_token_lifetime_s;
	}
	policy_unref(p);
	return 0;
}
