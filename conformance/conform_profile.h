/* conform_profile — how a given EHR calls CDS services, as data.
 *
 * A profile says how the simulated EHR signs its JWTs (algorithm, lifetime, extra claims, a
 * fixed issuer), which hooks it can fire, which request templates it sends
 * (fixtures/hooks/<dir>/<hook>.json, plus an optional quirky variant), which card features it
 * supports (appContext, link allow-lists), which checks change level for it, and — for every
 * behaviour — how good the evidence is (research/cds-hooks.md §2: C confirmed, M third-party
 * mirror only, U unconfirmed). Nothing else in the harness tests the EHR's name.
 */
#ifndef EHRGATE_CONFORM_PROFILE_H
#define EHRGATE_CONFORM_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/cds_card.h"
#include "lib/jose.h"

struct conform_level_override {
	const char *check;
	enum cds_level level;
};

/* One behaviour of the simulated EHR and the evidence behind it. */
struct conform_evidence_note {
	const char *behaviour;
	const char *confidence; /* "C", "C-stale", "M", "U" */
	const char *source;
	const char *checks;     /* comma-separated check ids whose expectation rests on it, or NULL */
};

struct conform_profile {
	const char *name;           /* --ehr value */
	const char *label;
	const char *spec;           /* CDS Hooks version the profile speaks */
	enum jose_alg alg;          /* the algorithm the EHR signs with */
	unsigned lifetime_s;        /* exp - iat of the tokens it issues */
	int nbf_before_iat_s;       /* < 0: no nbf claim; otherwise nbf = iat - this */
	bool claim_sub;             /* adds sub = the CDS client id */
	const char *fixed_iss;      /* an issuer the EHR always uses, or NULL (site / default) */
	const char *jwks_path;      /* where the simulated EHR publishes its JWK Set */
	const char *fhir_path;      /* FHIR base path on the simulated EHR */
	const char *template_dir;   /* fixtures/hooks/<template_dir> */
	const char *quirk_dir;      /* variant templates (CDS-REQ-120), or NULL */
	const char *quirk_label;
	const char *const *hooks;   /* hooks the EHR can fire (NULL-terminated) */
	bool app_context;           /* SMART links may carry appContext */
	bool strict_prefetch;       /* sends null / OperationOutcome / paginated prefetch (2.0 strict) */
	bool aud_configurable;      /* aud is configured by the site, may differ from the URL */
	const struct conform_level_override *overrides;
	size_t n_overrides;
	const struct conform_evidence_note *evidence;
	size_t n_evidence;
};

const struct conform_profile *conform_profile_find(const char *name);
const struct conform_profile *conform_profiles(size_t *n);
bool conform_profile_has_hook(const struct conform_profile *p, const char *hook);

#endif
