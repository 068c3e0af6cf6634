/* ctxstore — the patient contexts of recent hook calls, for the egress PHI scanner
 * (issue "sidecar egress" item 2). When ingress forwards a hook call it builds, from the
 * prefetch, the patient's normalised identifiers (phi_context) and registers them under a
 * random token sent to the AI service in the X-Ehrgate-Context header; the AI service echoes
 * the header on its outbound calls, binding them to that patient. Calls without the header
 * are checked against every patient seen within the TTL (bounded by max entries).
 *
 * Entries live in memory only, for ttl_s after the hook call; the identifiers are wiped when
 * the last user releases the entry (phi_context_free wipes). Thread-safe.
 */
#ifndef EHRGATE_CTXSTORE_H
#define EHRGATE_CTXSTORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sidecar/phi.h"

#define CTXSTORE_TOKEN_LEN 32

struct ctxentry {
	char token[CTXSTORE_TOKEN_LEN + 1];
	char patient_id[96];          /* "pat-001" */
	char encounter_id[96];        /* "" when the hook had none */
	struct phi_context *phi;      /* may be NULL when the prefetch had no Patient */
	int64_t expires_ms;           /* monotonic */
	atomic_int refs;              /* the store holds one while the entry is a member */
};

struct ctxstore;

struct ctxstore *ctxstore_new(size_t max_entries, unsigned ttl_s);
void ctxstore_free(struct ctxstore *s);
/* Register a context (takes ownership of phi, which may be NULL). Evicts the oldest entry
 * when full. */
void ctxstore_put(struct ctxstore *s, const char *token, const char *patient_id, const char *encounter_id,
		  struct phi_context *phi);
/* The live entry for token (a reference the caller releases), or NULL. */
struct ctxentry *ctxstore_get(struct ctxstore *s, const char *token);
/* Up to max live entries, newest first, each referenced. */
size_t ctxstore_recent(struct ctxstore *s, struct ctxentry **out, size_t max);
void ctxentry_release(struct ctxentry *e);
size_t ctxstore_count(struct ctxstore *s);

#endif
