/* conform_site — the harness's copy of the site policy: list helpers and lookups. The loader
 * that reads lib/policy.h is conform_site_load() in conform_site_policy.c. */
#include "conformance/conform_site.h"

#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"

bool conform_strs_has(const struct conform_strs *l, const char *s)
{
	for (size_t i = 0; s && i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

void conform_strs_add(struct conform_strs *l, const char *s)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
}

void conform_strs_fini(struct conform_strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

const struct conform_site_service *conform_site_service(const struct conform_site *s, const char *id)
{
	for (size_t i = 0; id && i < s->n_services; i++)
		if (strcmp(s->services[i].id, id) == 0)
			return &s->services[i];
	return NULL;
}

void conform_site_fini(struct conform_site *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_services; i++) {
		struct conform_site_service *v = &s->services[i];

		free(v->id);
		free(v->approval_ref);
		conform_strs_fini(&v->hooks);
		conform_strs_fini(&v->prefetch_read);
		conform_strs_fini(&v->create);
		conform_strs_fini(&v->update);
		conform_strs_fini(&v->del);
		conform_strs_fini(&v->smart_links);
	}
	for (size_t i = 0; i < s->n_clients; i++) {
		free(s->clients[i].iss);
		free(s->clients[i].jwks_file);
		free(s->clients[i].jwks_url);
		conform_strs_fini(&s->clients[i].jku_allow);
	}
	free(s->services);
	free(s->clients);
	free(s->policy_path);
	free(s->id);
	free(s->name);
	free(s->ehr);
	free(s->environment);
	free(s->public_base_url);
	memset(s, 0, sizeof(*s));
}
