/* conform_site — what the harness needs from a site policy, copied into one small struct.
 *
 * conform_site_load() is the only function that reads lib/policy.h; everything else in the
 * harness works on struct conform_site, so a change to the policy schema touches one place.
 * All strings and arrays are owned by the struct (conform_site_fini frees them).
 */
#ifndef EHRGATE_CONFORM_SITE_H
#define EHRGATE_CONFORM_SITE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

struct conform_strs {
	char **v;
	size_t n;
};

struct conform_site_service {
	char *id;
	struct conform_strs hooks, prefetch_read, create, update, del, smart_links;
	bool approval_active;
	char *approval_ref; /* "CIC-2026-041 (Clinical Informatics Committee, expires 2027-10-01)" */
};

struct conform_site_client {
	char *iss;
	char *jwks_file, *jwks_url; /* at most one is set */
	struct conform_strs jku_allow;
	unsigned algs;              /* 1u << JOSE_ALG_* */
	unsigned max_lifetime_s;
};

struct conform_site {
	char *policy_path;
	char *id, *name, *ehr, *environment;
	bool production;
	unsigned deadline_ms;
	char *public_base_url;
	struct conform_site_service *services;
	size_t n_services;
	struct conform_site_client *clients;
	size_t n_clients;
};

/* Load the site policy at path (through lib/policy.h). Errors (with file:line:col diagnostics
 * of the policy loader) go into e. */
int conform_site_load(const char *path, struct conform_site *out, struct err *e) __attribute__((warn_unused_result));
void conform_site_fini(struct conform_site *s);

const struct conform_site_service *conform_site_service(const struct conform_site *s, const char *id);
bool conform_strs_has(const struct conform_strs *l, const char *s);
void conform_strs_add(struct conform_strs *l, const char *s);
void conform_strs_fini(struct conform_strs *l);

#endif
