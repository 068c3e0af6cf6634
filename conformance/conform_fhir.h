/* conform_fhir — the simulated EHR's FHIR R4 data: the synthetic fixture patients held in
 * memory, with instance reads and the small search subset CDS Hooks prefetch uses
 * (research/cds-hooks.md check 14): _id, patient/subject, encounter, code, category, status,
 * clinical-status, date with eq/lt/gt/le/ge, _count with paging (_offset), _sort=[-]date.
 * Unknown parameters are ignored and reported, as lenient FHIR servers do.
 *
 * The same function answers the harness's prefetch (as an EHR would resolve templates) and the
 * loopback FHIR API the service under test calls back.
 */
#ifndef EHRGATE_CONFORM_FHIR_H
#define EHRGATE_CONFORM_FHIR_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "lib/err.h"

struct conform_fhir;

/* Load dir/index.json and every patient Bundle it lists (dir is fixtures/patients). */
int conform_fhir_load(const char *dir, struct conform_fhir **out, struct err *e) __attribute__((warn_unused_result));
void conform_fhir_free(struct conform_fhir *f);

size_t conform_fhir_patient_count(const struct conform_fhir *f);
/* id ("pat-001") and profile ("septic", "healthy", "borderline", "nodata") of patient i. */
const char *conform_fhir_patient_id(const struct conform_fhir *f, size_t i);
const char *conform_fhir_patient_profile(const struct conform_fhir *f, size_t i);
/* The first Encounter of a patient, or NULL. */
const char *conform_fhir_encounter_id(const struct conform_fhir *f, const char *patient);
/* Borrowed resource by type and id, or NULL. */
const cJSON *conform_fhir_resource(const struct conform_fhir *f, const char *type, const char *id);

struct conform_fhir_answer {
	int status;          /* 200, 400, 404 */
	cJSON *body;         /* resource, searchset Bundle or OperationOutcome (caller frees) */
	char ignored[128];   /* unknown search parameters, comma-separated ("" when none) */
	bool paged;          /* a next link was added */
};

/* Execute a relative FHIR GET ("Patient/pat-001", "Observation?patient=pat-001&_count=5").
 * base is the absolute FHIR base used for fullUrl and paging links (no trailing slash).
 * Never fails: errors come back as 400/404 with an OperationOutcome. */
void conform_fhir_get(const struct conform_fhir *f, const char *rel, const char *base, struct conform_fhir_answer *out);

/* True when every resource in body (a resource or a Bundle) belongs to patient `patient`
 * (Patient/<id> itself, or subject/patient referencing it). OperationOutcome counts as in scope. */
bool conform_fhir_in_scope(const cJSON *body, const char *patient);

/* An OperationOutcome with one issue (caller frees). */
cJSON *conform_fhir_outcome(const char *severity, const char *code, const char *text);

/* Percent-decode a URL component into out (cap bytes). Returns 0 or -EINVAL. */
int conform_url_decode(const char *in, size_t len, char *out, size_t cap);

#endif
