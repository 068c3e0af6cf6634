/* runtime — one immutable generation of the sidecar's configuration: the site policy plus
 * what is derived from it (parsed JWK Sets, the CDS client list for cds_auth). SIGHUP builds a
 * whole new runtime and swaps one pointer (STYLE.md: policy reload); requests hold a reference
 * to the generation they started with, so a reload never changes a decision half-way.
 */
#ifndef EHRGATE_RUNTIME_H
#define EHRGATE_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/jose.h"
#include "lib/policy.h"
#include "sidecar/cds_auth.h"
#include "sidecar/phi.h"

struct runtime {
	atomic_int refs;
	struct policy *policy;            /* one reference held */
	struct jose_jwks **jwks;          /* per ingress client, owned */
	struct cds_auth_client *clients;  /* per ingress client; jwks borrowed from above */
	size_t n_clients;
	struct phi_engine *phi;           /* compiled from policy phi patterns, owned */
	unsigned generation;
};

/* Build a runtime from a loaded policy (takes over the caller's reference on success and on
 * failure). JWK Sets come from jwks_file, or jwks_url fetched once here. */
int runtime_new(struct policy *p, unsigned generation, struct runtime **out, struct err *e)
	__attribute__((warn_unused_result));
void runtime_ref(struct runtime *rt);
void runtime_unref(struct runtime *rt);

/* The current generation, shared by all threads. */
struct runtime_slot {
	pthread_mutex_t mu;
	struct runtime *cur;
};
void runtime_slot_init(struct runtime_slot *s, struct runtime *rt);   /* takes rt's reference */
/* A new reference to the current runtime (never NULL after init). */
struct runtime *runtime_slot_get(struct runtime_slot *s);
/* Install rt (takes its reference) and drop the slot's reference to the old one. */
void runtime_slot_swap(struct runtime_slot *s, struct runtime *rt);
void runtime_slot_fini(struct runtime_slot *s);

#endif
