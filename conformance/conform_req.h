/* conform_req — hook requests as the simulated EHR sends them.
 *
 * A request is a template (fixtures/hooks/<profile dir>/<hook>.json, one per hook and EHR
 * profile) filled with the call's values, plus a prefetch object built by resolving the
 * service's discovery templates against the fixture FHIR store. Variants reproduce what real
 * EHRs send (research/cds-hooks.md checks 21-26 and §3): every key, some keys, none, null
 * values, an OperationOutcome in place of data, paginated Bundles, keys omitted on failure.
 */
#ifndef EHRGATE_CONFORM_REQ_H
#define EHRGATE_CONFORM_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "conformance/conform_fhir.h"
#include "conformance/conform_prefetch.h"
#include "lib/err.h"

/* Load a request template; NULL with e->code -ENOENT when the profile has none for the hook. */
cJSON *conform_template_load(const char *fixtures_dir, const char *dir, const char *hook, struct err *e);

/* Values for the {{name}} placeholders of a template. A NULL value removes the member whose
 * string used it (e.g. no encounterId); fhir_authorization replaces the exact string
 * "{{fhirAuthorization}}" (NULL removes the member). */
struct conform_hook_vars {
	const char *hook_instance, *fhir_server, *patient_id, *encounter_id, *user_id, *today, *tomorrow;
	const cJSON *fhir_authorization;
};

/* A filled copy of the template (caller frees). */
cJSON *conform_template_fill(const cJSON *tmpl, const struct conform_hook_vars *v);

enum conform_pf_mode {
	CONFORM_PF_FULL = 0, /* every key the EHR can satisfy */
	CONFORM_PF_PARTIAL,  /* only the first key */
	CONFORM_PF_NONE,     /* no prefetch member at all */
	CONFORM_PF_NULL,     /* every key but the first (the Patient read, normally) is null;
				the only key when there is one */
	CONFORM_PF_OUTCOME,  /* the second key (the only one when there is one) is an OperationOutcome */
	CONFORM_PF_PAGED,    /* searches return their first page only, with a next link */
	CONFORM_PF_QUIRK,    /* keys whose query failed or returned nothing are omitted (sandbox) */
};
const char *conform_pf_mode_name(enum conform_pf_mode m);

#define CONFORM_PAGE_SIZE 4

/* Build the prefetch object for a service's discovery `prefetch` templates (may be NULL). Keys
 * are visited in discovery order. Returns NULL for CONFORM_PF_NONE or when no key is left. A
 * short description of what was sent goes into desc ("3 keys: patient, vitals=null, ..."). */
cJSON *conform_prefetch_build(const cJSON *templates, const char *hook, const struct conform_prefetch_ctx *ctx,
			      const struct conform_fhir *store, const char *fhir_base, enum conform_pf_mode mode,
			      char *desc, size_t desc_cap);

#endif
