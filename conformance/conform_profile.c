/* conform_profile — the three EHR profiles (epic, oracle-health, generic) as static data.
 * Evidence grades and sources are those of shared/research/cds-hooks.md §2 and §3. */
#include "conformance/conform_profile.h"

#include <string.h>

static const char *const all_hooks[] = {
	"patient-view", "order-select", "order-sign", "encounter-start", "encounter-discharge",
	"appointment-book", NULL,
};
static const char *const oracle_hooks[] = {"patient-view", NULL};

/* --- generic: CDS Hooks 2.0.1 strict, with a sandbox-compatible variant --------------------- */
static const struct conform_evidence_note generic_ev[] = {
	{"CDS Hooks 2.0.1 request, JWT and card rules", "C", "HL7/cds-hooks v2.0.1 (S2)", NULL},
	{"ES384 tokens with jku/kid, exp = iat + 300 s, no sub (sandbox style)", "C",
	 "cds-hooks/sandbox jwt-generator.js (SBX)", "CDS-AUTH-035"},
	{"Quirky variant: draftOrders without Bundle.type, keys omitted rather than null, no fhirAuthorization",
	 "C", "cds-hooks/sandbox service-exchange.js (SBX)", "CDS-REQ-120"},
	{"EHR response window: the site's ingress.deadline_ms (no primary source for a 2-3 s window)", "U",
	 "research/cds-hooks.md §2, §7", "CDS-LAT-142"},
};

/* --- epic: RS384, sub + nbf, 900 s lifetime, configured aud ---------------------------------- */
static const struct conform_evidence_note epic_ev[] = {
	{"RS384 signatures by default", "M", "third-party mirror of Epic's CDS Hooks tutorial (EPIC)",
	 "CDS-AUTH-031"},
	{"sub = CDS client id and nbf = iat - 300 s added to every token", "M", "EPIC mirror", "CDS-AUTH-135"},
	{"Token lifetime exp - iat = 900 s", "M", "EPIC mirror (example token)", "CDS-AUTH-035"},
	{"aud is the service endpoint as configured by the health system (may differ from the URL)", "M",
	 "EPIC mirror", "CDS-AUTH-033"},
	{"Hooks: patient-view, order-select, order-sign, appointment-book (+ encounter hooks assumed)", "U",
	 "api-evangelist/epic-systems aggregator (derived)", "CDS-DISC-102"},
	{"Prefetch behaviour, fhirAuthorization issuance, card rendering", "U", "no primary source",
	 "CDS-REQ-022,CDS-REQ-023"},
	{"EHR response window: the site's ingress.deadline_ms", "U", "research/cds-hooks.md §2", "CDS-LAT-142"},
};
static const struct conform_level_override epic_over[] = {
	{"CDS-AUTH-135", CDS_SHOULD},
};

/* --- oracle-health: patient-view 1.0 only, no appContext, allow-listed links, fixed iss ------ */
static const struct conform_evidence_note oracle_ev[] = {
	{"patient-view is the only hook", "C-stale", "cerner/fhir.cerner.com PR #707 (unmerged beta, 2021; repo archived 2024)",
	 "CDS-DISC-102"},
	{"appContext on SMART links is not supported", "C-stale", "CER PR #707", "POLICY-LINK-APPCONTEXT"},
	{"Links not on the registered allow-list are removed", "C-stale", "CER PR #707", "POLICY-LINK-SMART"},
	{"Fixed iss https://cds-hooks.cerner.com; keys from https://authorization.cerner.com/jwk", "C-stale",
	 "CER PR #707", "CDS-AUTH-037"},
	{"Signing algorithm, token lifetime (harness uses ES384, 300 s)", "U", "not stated", "CDS-AUTH-031,CDS-AUTH-035"},
	{"Prefetch and fhirAuthorization behaviour (harness omits rather than nulls keys)", "U", "not stated",
	 "CDS-REQ-022"},
	{"EHR response window: the site's ingress.deadline_ms", "U", "research/cds-hooks.md §2", "CDS-LAT-142"},
};
static const struct conform_level_override oracle_over[] = {
	/* CER: links off the allow-list are removed and appContext is unsupported */
	{"POLICY-LINK-APPCONTEXT", CDS_SHOULD},
	{"CDS-DISC-102", CDS_POLICY},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct conform_profile profiles[] = {
	{
		.name = "generic",
		.label = "Generic CDS Hooks 2.0 client (strict), with a sandbox-compatible variant",
		.spec = "CDS Hooks 2.0.1",
		.alg = JOSE_ALG_ES384,
		.lifetime_s = 300,
		.nbf_before_iat_s = -1,
		.claim_sub = false,
		.fixed_iss = NULL,
		.jwks_path = "/.well-known/jwks.json",
		.fhir_path = "/fhir/r4",
		.template_dir = "generic",
		.quirk_dir = "sandbox",
		.quirk_label = "sandbox-compatible",
		.hooks = all_hooks,
		.app_context = true,
		.strict_prefetch = true,
		.aud_configurable = false,
		.evidence = generic_ev,
		.n_evidence = N(generic_ev),
	},
	{
		.name = "epic",
		.label = "Epic (observed behaviour; JWT details from a third-party mirror)",
		.spec = "CDS Hooks 2.0 (Epic)",
		.alg = JOSE_ALG_RS384,
		.lifetime_s = 900,
		.nbf_before_iat_s = 300,
		.claim_sub = true,
		.fixed_iss = NULL,
		.jwks_path = "/api/epic/2019/Security/Open/PublicKeys/530001/conform",
		.fhir_path = "/api/FHIR/R4",
		.template_dir = "epic",
		.quirk_dir = NULL,
		.quirk_label = NULL,
		.hooks = all_hooks,
		.app_context = true,
		.strict_prefetch = true,
		.aud_configurable = true,
		.overrides = epic_over,
		.n_overrides = N(epic_over),
		.evidence = epic_ev,
		.n_evidence = N(epic_ev),
	},
	{
		.name = "oracle-health",
		.label = "Oracle Health / Cerner Millennium (2021 beta documentation)",
		.spec = "CDS Hooks 1.0 (patient-view)",
		.alg = JOSE_ALG_ES384,
		.lifetime_s = 300,
		.nbf_before_iat_s = -1,
		.claim_sub = false,
		.fixed_iss = "https://cds-hooks.cerner.com",
		.jwks_path = "/jwk",
		.fhir_path = "/r4/ec2458f2-1e24-41c8-b71b-0e701af7583d",
		.template_dir = "oracle-health",
		.quirk_dir = NULL,
		.quirk_label = NULL,
		.hooks = oracle_hooks,
		.app_context = false,
		.strict_prefetch = false,
		.aud_configurable = false,
		.overrides = oracle_over,
		.n_overrides = N(oracle_over),
		.evidence = oracle_ev,
		.n_evidence = N(oracle_ev),
	},
};

const struct conform_profile *conform_profile_find(const char *name)
{
	for (size_t i = 0; name && i < N(profiles); i++)
		if (strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

const struct conform_profile *conform_profiles(size_t *n)
{
	*n = N(profiles);
	return profiles;
}

bool conform_profile_has_hook(const struct conform_profile *p, const char *hook)
{
	for (size_t i = 0; p->hooks[i]; i++)
		if (strcmp(p->hooks[i], hook) == 0)
			return true;
	return false;
}
