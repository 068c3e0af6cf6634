/* conform_prefetch — prefetch templates from a service's discovery entry: the static lint of
 * research/cds-hooks.md checks 11-15 (and the site's prefetch_read approval), and resolution of
 * the tokens into a relative FHIR URL the way an EHR does before it runs the query. */
#ifndef EHRGATE_CONFORM_PREFETCH_H
#define EHRGATE_CONFORM_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/cds_card.h"

struct conform_lint {
	const char *check; /* CDS-PREF-0NN */
	enum cds_level level;
	char msg[200];
};

#define CONFORM_LINT_MAX 16

/* Lint one template for a hook. Returns the number of findings written to out (at most max). */
size_t conform_prefetch_lint(const char *hook, const char *tmpl, struct conform_lint *out, size_t max);

/* The context an EHR substitutes into templates. NULL members are unknown. */
struct conform_prefetch_ctx {
	const char *patient_id, *encounter_id, *user_id; /* user_id is "Type/id" */
	bool legacy_user_token;                          /* substitute {{user}} (sandbox quirk) */
};

/* Resolve every token into out. Returns 0, -ENOENT when a token cannot be resolved (the EHR then
 * omits the key: S2 §Prefetch Template), -EINVAL for malformed templates, -E2BIG when too long. */
int conform_prefetch_resolve(const char *tmpl, const struct conform_prefetch_ctx *ctx, char *out, size_t cap);

/* True when the hook library marks context.<field> as usable in prefetch for this hook. */
bool conform_hook_token_field(const char *hook, const char *field);
/* True for the six library hooks this harness knows. */
bool conform_hook_known(const char *hook);

#endif
