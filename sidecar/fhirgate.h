/* fhirgate — the sidecar's FHIR egress rules (pure; no I/O): which reads and writes of the AI
 * service reach the EHR's FHIR server, and whether an AI-drafted DocumentReference is fit to be
 * written back to the chart.
 *
 * Rule ids (stable, in audit records and OperationOutcome diagnostics):
 *   FHIR-PATH        path is not a FHIR REST interaction we can classify
 *   FHIR-READ        read/search of a type not in fhir.read
 *   FHIR-WRITE       create/update/patch/delete of a type without an active fhir.write approval
 *   FHIR-INCLUDE     _include/_revinclude would pull a type not approved (or cannot tell which)
 *   FHIR-BATCH       batch/transaction Bundles posted to the base (cannot be checked per type)
 *   DOCREF-STATUS, DOCREF-DOCSTATUS, DOCREF-TYPE, DOCREF-SUBJECT, DOCREF-ENCOUNTER,
 *   DOCREF-AUTHOR, DOCREF-DATE, DOCREF-ATTACHMENT, DOCREF-BASE64, DOCREF-SIZE, DOCREF-HASH,
 *   DOCREF-OTHER-PATIENT, DOCREF-JSON
 */
#ifndef EHRGATE_FHIRGATE_H
#define EHRGATE_FHIRGATE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define FHIRGATE_MAX_RULES 16

enum fhirgate_kind { FHIRGATE_READ, FHIRGATE_SEARCH, FHIRGATE_CREATE, FHIRGATE_UPDATE, FHIRGATE_PATCH,
		     FHIRGATE_DELETE, FHIRGATE_OTHER };

struct fhirgate_request {
	enum fhirgate_kind kind;
	char type[64];          /* resource type addressed ("" for the base / capabilities) */
	char id[128];           /* logical id when present */
};

/* Callbacks into the site policy (kept abstract so the rules test without a policy file). */
struct fhirgate_policy {
	bool (*read_ok)(const char *type, void *arg);
	bool (*write_ok)(const char *type, void *arg);   /* approval present and active today */
	void *arg;
};

struct fhirgate_result {
	const char *rules[FHIRGATE_MAX_RULES];
	size_t n_rules;
};

/* Classify method + path (relative to the FHIR base, starting with '/') + query (without '?',
 * may be NULL). Returns 0 when allowed, -EACCES with result->rules set otherwise. */
int fhirgate_check(const struct fhirgate_policy *p, const char *method, const char *path, const char *query,
		   struct fhirgate_request *req, struct fhirgate_result *result);

/* What the write-back check knows of the hook in context. */
struct fhirgate_context {
	const char *patient_id;        /* "pat-001" (no "Patient/") */
	const char *encounter_id;      /* NULL when the hook had no encounter */
	/* Returns true when text contains identifiers of a patient other than the one in
	 * context (wired to the PHI engine's known-patient sets). May be NULL. */
	bool (*other_patient_in)(const char *text, size_t len, void *arg);
	void *arg;
};

/* Validate an AI-drafted DocumentReference (DESIGN.md §1 pathway 4; FHIR R4 DocumentReference):
 * status current, docStatus preliminary (awaits co-signature), type coded in LOINC, subject =
 * the patient in context, context.encounter = the encounter in context when there is one,
 * author, date, every content.attachment with contentType and valid base64 data or a url,
 * size and hash (SHA-1, base64) consistent with the data when present, and no identifiers of
 * another patient in the note text. Returns the number of rules broken (0 = valid). */
size_t fhirgate_validate_docref(const cJSON *doc, const struct fhirgate_context *ctx, struct fhirgate_result *r);

/* OperationOutcome naming each broken rule (diagnostics hold rule ids and fixed text only). */
cJSON *fhirgate_outcome(const struct fhirgate_result *r, const char *code);

#endif
