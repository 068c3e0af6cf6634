/* policy — loads and validates a site policy (schema v1) into an immutable, reference-counted
 * tree, and answers the sidecar's policy questions (which hook, which type, which route).
 *
 * Owns: one arena per loaded policy holding every string and array of the tree; the tree is
 * never modified after policy_load returns, so any number of threads may read it while they
 * hold a reference. Validation collects every problem (not just the first) into a caller-owned
 * struct policy_diag as `file:line:col: key.path: message`, sorted in file order. The schema,
 * defaults and limits are documented key by key in docs/policy.md; DESIGN.md §3.4 key names
 * are a public interface and are used verbatim here.
 *
 * Rules cited below: CDS Hooks 2.0 §JWT Signing Algorithm (research/cds-hooks.md checks 29–31:
 * never alg none, never HMAC, RS384/ES384 recommended), §Trusting CDS Clients (check 35: token
 * lifetime is a policy, fail above 3600 s; check 37: iss/jku allow-list), §Hooks (check 9:
 * library names or reverse-domain names), CDS Hooks 2.0 "https for production FHIR servers",
 * HIPAA 45 CFR 164.502(e) (PHI only to Business Associates under a BAA).
 */
#include "lib/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hs/hs.h>

#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/hsre.h"
#include "lib/mem.h"
#include "lib/yamlx.h"

/* --- limits ------------------------------------------------------------------------------- */

#define PATH_BUF 256              /* key paths like services[12].card_actions.create[3] */
#define SHOW_MAX 64               /* at most this many bytes of a value are quoted in a message */
#define MAX_TEXT 1024             /* names, references, ids */
#define MAX_URL 2048
#define MAX_FILE_PATH 1024
#define MAX_PATTERN 1024
#define MAX_LIST 256              /* entries in any list of names */
#define MAX_SERVICES 256
#define MAX_CLIENTS 32
#define MAX_ROUTES 64
#define MAX_PATTERNS 64
#define MAX_REF_FILE (1u << 20)   /* JWKS, keys, certificates */
#define POLICY_ARENA_MAX (16u << 20)

/* --- vocabularies ------------------------------------------------------------------------- */

/* CDS Hooks library (HL7/cds-hooks-library; research/cds-hooks.md §0 LIB). */
static const char *const cds_hooks[] = {
	"patient-view", "order-select", "order-sign", "encounter-start", "encounter-discharge",
	"appointment-book", NULL,
};

/* FHIR R4 (4.0.1) resource types: every concrete resource, no data types and no abstract
 * Resource/DomainResource. */
static const char *const fhir_r4_types[] = {
	"Account", "ActivityDefinition", "AdverseEvent", "AllergyIntolerance", "Appointment",
	"AppointmentResponse", "AuditEvent", "Basic", "Binary", "BiologicallyDerivedProduct",
	"BodyStructure", "Bundle", "CapabilityStatement", "CarePlan", "CareTeam", "CatalogEntry",
	"ChargeItem", "ChargeItemDefinition", "Claim", "ClaimResponse", "ClinicalImpression",
	"CodeSystem", "Communication", "CommunicationRequest", "CompartmentDefinition", "Composition",
	"ConceptMap", "Condition", "Consent", "Contract", "Coverage", "CoverageEligibilityRequest",
	"CoverageEligibilityResponse", "DetectedIssue", "Device", "DeviceDefinition", "DeviceMetric",
	"DeviceRequest", "DeviceUseStatement", "DiagnosticReport", "DocumentManifest",
	"DocumentReference", "EffectEvidenceSynthesis", "Encounter", "Endpoint", "EnrollmentRequest",
	"EnrollmentResponse", "EpisodeOfCare", "EventDefinition", "Evidence", "EvidenceVariable",
	"ExampleScenario", "ExplanationOfBenefit", "FamilyMemberHistory", "Flag", "Goal",
	"GraphDefinition", "Group", "GuidanceResponse", "HealthcareService", "ImagingStudy",
	"Immunization", "ImmunizationEvaluation", "ImmunizationRecommendation", "ImplementationGuide",
	"InsurancePlan", "Invoice", "Library", "Linkage", "List", "Location", "Measure",
	"MeasureReport", "Media", "Medication", "MedicationAdministration", "MedicationDispense",
	"MedicationKnowledge", "MedicationRequest", "MedicationStatement", "MedicinalProduct",
	"MedicinalProductAuthorization", "MedicinalProductContraindication",
	"MedicinalProductIndication", "MedicinalProductIngredient", "MedicinalProductInteraction",
	"MedicinalProductManufactured", "MedicinalProductPackaged", "MedicinalProductPharmaceutical",
	"MedicinalProductUndesirableEffect", "MessageDefinition", "MessageHeader",
	"MolecularSequence", "NamingSystem", "NutritionOrder", "Observation", "ObservationDefinition",
	"OperationDefinition", "OperationOutcome", "Organization", "OrganizationAffiliation",
	"Parameters", "Patient", "PaymentNotice", "PaymentReconciliation", "Person", "PlanDefinition",
	"Practitioner", "PractitionerRole", "Procedure", "Provenance", "Questionnaire",
	"QuestionnaireResponse", "RelatedPerson", "RequestGroup", "ResearchDefinition",
	"ResearchElementDefinition", "ResearchStudy", "ResearchSubject", "RiskAssessment",
	"RiskEvidenceSynthesis", "Schedule", "SearchParameter", "ServiceRequest", "Slot", "Specimen",
	"SpecimenDefinition", "StructureDefinition", "StructureMap", "Subscription", "Substance",
	"SubstanceNucleicAcid", "SubstancePolymer", "SubstanceProtein",
	"SubstanceReferenceInformation", "SubstanceSourceMaterial", "SubstanceSpecification",
	"SupplyDelivery", "SupplyRequest", "Task", "TerminologyCapabilities", "TestReport",
	"TestScript", "ValueSet", "VerificationResult", "VisionPrescription", NULL,
};

static const char *const ehr_names[] = {"epic", "oracle-health", "generic", NULL};
static const char *const env_names[] = {"staging", "production", NULL};
static const char *const on_deadline_names[] = {"empty-cards", "error", NULL};
static const char *const card_policy_names[] = {"enforce", "report", NULL};
static const char *const phi_names[] = {"allow", "redact", "block", NULL};
static const char *const fsync_names[] = {"always", "batch", NULL};
/* Fail closed (DESIGN.md §3.1 Audit): there is deliberately no value that keeps serving. */
static const char *const on_failure_names[] = {"deny", NULL};
const char *const policy_phi_type_names[] = {"NAME", "ADDRESS", "CITY", "ZIP", "DATE", "AGE", "PHONE",
					     "FAX", "EMAIL", "SSN", "MRN", "MEMBER_ID", "MBI", "IDENTIFIER",
					     "VIN", "URL", "IP", NULL};
static const char *const method_names[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};
static const char *const alg_names[] = {"ES384", "RS384", NULL};
/* Route names the egress listener uses for itself, and the route the fhir: section defines. */
static const char *const reserved_routes[] = {"healthz", "readyz", "metrics", "fhir", NULL};

/* --- schema: keys per mapping ------------------------------------------------------------- */

struct keyspec {
	const char *name;
	bool required;
};

static const struct keyspec k_root[] = {
	{"version", true}, {"site", true}, {"ingress", true}, {"admin", false}, {"services", true},
	{"fhir", false}, {"egress", true}, {"phi", false}, {"audit", true}, {NULL, false},
};
static const struct keyspec k_site[] = {
	{"id", true}, {"name", true}, {"ehr", true}, {"environment", true}, {NULL, false},
};
static const struct keyspec k_ingress[] = {
	{"listen", true}, {"public_base_url", true}, {"upstream", true}, {"deadline_ms", false},
	{"on_deadline", false}, {"card_policy", false}, {"max_body_bytes", false}, {"tls", false},
	{"clients", true}, {"workers", false}, {NULL, false},
};
static const struct keyspec k_tls[] = {{"cert", true}, {"key", true}, {NULL, false}};
static const struct keyspec k_client[] = {
	{"iss", true}, {"jwks_file", false}, {"jwks_url", false}, {"jku_allow", false},
	{"algorithms", false}, {"max_token_lifetime_s", false}, {"jwks_refresh_min_s", false}, {NULL, false},
};
static const struct keyspec k_admin[] = {{"listen", true}, {NULL, false}};
static const struct keyspec k_service[] = {
	{"id", true}, {"hooks", true}, {"prefetch_read", false}, {"card_actions", false},
	{"smart_links", false}, {"approval", true}, {NULL, false},
};
static const struct keyspec k_card_actions[] = {
	{"create", false}, {"update", false}, {"delete", false}, {NULL, false},
};
static const struct keyspec k_approval[] = {
	{"approved_by", true}, {"reference", true}, {"granted", true}, {"expires", true}, {NULL, false},
};
static const struct keyspec k_fhir[] = {
	{"base", true}, {"read", false}, {"write", false}, {"max_body_bytes", false},
	{"timeout_ms", false}, {NULL, false},
};
static const struct keyspec k_fhir_write[] = {{"type", true}, {"approval", true}, {NULL, false}};
static const struct keyspec k_egress[] = {{"listen", true}, {"routes", false}, {"ca_file", false}, {NULL, false}};
static const struct keyspec k_route[] = {
	{"name", true}, {"url", true}, {"baa", true}, {"phi", true}, {"approval", false},
	{"methods", false}, {"max_body_bytes", false}, {"timeout_ms", false}, {"phi_allow_types", false},
	{"paths", false}, {NULL, false},
};
static const struct keyspec k_phi[] = {{"mrn_patterns", false}, {"member_id_patterns", false},
				       {"date_exempt_keys", false}, {"url_allow", false}, {NULL, false}};
static const struct keyspec k_audit[] = {
	{"dir", true}, {"reviewer_public_key", true}, {"signer_key", true}, {"index_key", true},
	{"fsync", false}, {"on_failure", false}, {"batch_max_delay_ms", false}, {NULL, false},
};

/* --- the object ---------------------------------------------------------------------------- */

struct policy_impl {
	struct policy pub; /* first: a struct policy * is a struct policy_impl * */
	atomic_uint refs;
	struct arena *arena;
};

/* --- suggestions -------------------------------------------------------------------------- */

static size_t levenshtein(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[SHOW_MAX + 1];

	if (la > SHOW_MAX || lb > SHOW_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j], best;

			best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* The closest candidate within edit distance 2 (and closer than the word is long), or NULL.
 * A case-only difference always wins ("patient" -> "Patient"), then a unique prefix. */
static const char *suggest(const char *s, const char *const *cands)
{
	const char *best = NULL;
	size_t bd = 3, len = strlen(s), i;

	for (i = 0; cands[i]; i++)
		if (strcasecmp(s, cands[i]) == 0)
			return cands[i];
	/* An abbreviation of exactly one candidate ("prod" -> "production"). */
	for (i = 0; len >= 3 && cands[i]; i++) {
		if (strncasecmp(s, cands[i], len) == 0) {
			if (best) {
				best = NULL;
				break;
			}
			best = cands[i];
		}
	}
	if (best)
		return best;
	for (i = 0; cands[i]; i++) {
		size_t d = levenshtein(s, cands[i]);

		if (d < bd && d < len) {
			bd = d;
			best = cands[i];
		}
	}
	return best;
}

static bool in_list(const char *s, const char *const *names)
{
	for (size_t i = 0; names[i]; i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return false;
}

static int index_of(const char *s, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* Quote-safe rendering of a value for a message: printable ASCII except '"' and '\', cut. */
static void show(char *out, size_t cap, const char *s)
{
	size_t i, o = 0;

	for (i = 0; s[i] && o + 4 < cap && i < SHOW_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
	}
	if (s[i] && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* --- diagnostics -------------------------------------------------------------------------- */

void policy_diag_init(struct policy_diag *d)
{
	memset(d, 0, sizeof(*d));
}

void policy_diag_fini(struct policy_diag *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].text);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

int policy_diag_print(const struct policy_diag *d, FILE *f)
{
	for (size_t i = 0; i < d->n; i++)
		if (fprintf(f, "%s\n", d->v[i].text) < 0)
			return -EIO;
	return fflush(f) == 0 ? 0 : -EIO;
}

static void diag_push(struct policy_diag *d, enum policy_diag_level lvl, int line, int col, char *text)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	d->v[d->n].level = lvl;
	d->v[d->n].line = line;
	d->v[d->n].col = col;
	d->v[d->n].text = text;
	d->n++;
	if (lvl == POLICY_DIAG_ERROR)
		d->n_errors++;
	else if (lvl == POLICY_DIAG_WARNING)
		d->n_warnings++;
	else
		d->n_notes++;
}

/* Stable insertion sort of entries [from, n) by position; file-level entries (line 0) first. */
static void diag_sort(struct policy_diag *d, size_t from)
{
	for (size_t i = from + 1; i < d->n; i++) {
		struct policy_diag_entry e = d->v[i];
		size_t j = i;

		while (j > from && (d->v[j - 1].line > e.line ||
				    (d->v[j - 1].line == e.line && d->v[j - 1].col > e.col))) {
			d->v[j] = d->v[j - 1];
			j--;
		}
		d->v[j] = e;
	}
}

/* --- the loader --------------------------------------------------------------------------- */

struct ld {
	const char *file;         /* name used in messages, as the caller gave it */
	struct policy_diag *diag;
	size_t n_errors;          /* errors from this load */
	bool stop;                /* too many errors */
	struct arena *a;
	struct policy *p;
	char dir[PATH_MAX];       /* absolute directory of the policy file */
	int64_t today;
	bool check_files;
	bool production;
};

static void vrep(struct ld *l, enum policy_diag_level lvl, int line, int col, const char *path,
		 const char *fmt, va_list ap)
{
	char msg[768], *text;
	const char *prefix = lvl == POLICY_DIAG_WARNING ? "warning: " : lvl == POLICY_DIAG_NOTE ? "note: " : "";
	int n;

	if (l->stop)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0)
		n = asprintf(&text, "%s%s:%d:%d: %s%s%s", prefix, l->file, line, col, path, path[0] ? ": " : "", msg);
	else
		n = asprintf(&text, "%s%s: %s%s%s", prefix, l->file, path, path[0] ? ": " : "", msg);
	if (n < 0)
		abort(); /* out of memory: same policy as xmalloc */
	diag_push(l->diag, lvl, line, col, text);
	if (lvl == POLICY_DIAG_ERROR && ++l->n_errors >= POLICY_MAX_ERRORS)
		l->stop = true;
}

static void err_at(struct ld *l, int line, int col, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void err_at(struct ld *l, int line, int col, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vrep(l, POLICY_DIAG_ERROR, line, col, path, fmt, ap);
	va_end(ap);
}

static void err_node(struct ld *l, const struct yamlx_node *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void err_node(struct ld *l, const struct yamlx_node *n, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vrep(l, POLICY_DIAG_ERROR, n ? n->line : 0, n ? n->col : 0, path, fmt, ap);
	va_end(ap);
}

static void other_at(struct ld *l, enum policy_diag_level lvl, int line, int col, const char *path,
		     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void other_at(struct ld *l, enum policy_diag_level lvl, int line, int col, const char *path,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vrep(l, lvl, line, col, path, fmt, ap);
	va_end(ap);
}

static void yamlx_cb(void *ctx, int line, int col, const char *path, const char *msg)
{
	err_at(ctx, line, col, path, "%s", msg);
}

/* The arena budget (16 MiB) is far above what a 256 KiB file can need; like xmalloc, running
 * out means a broken invariant, so abort rather than half-build a policy. */
static void *ld_alloc(struct ld *l, size_t n)
{
	void *p = arena_alloc(l->a, n ? n : 1);

	if (p == NULL)
		abort();
	memset(p, 0, n ? n : 1);
	return p;
}

static const char *ld_strdup(struct ld *l, const char *s)
{
	char *p = arena_strdup(l->a, s);

	if (p == NULL)
		abort();
	return p;
}

static const char *pj(char buf[PATH_BUF], const char *base, const char *key)
{
	snprintf(buf, PATH_BUF, "%s%s%s", base, base[0] ? "." : "", key);
	return buf;
}

static const char *pi(char buf[PATH_BUF], const char *base, size_t i)
{
	snprintf(buf, PATH_BUF, "%s[%zu]", base, i);
	return buf;
}

/* Check a mapping against its key table: unknown keys (with a suggestion) and missing
 * required keys (reported at the mapping, whose path is `path`). */
static bool check_map(struct ld *l, const struct yamlx_node *n, const char *path, const struct keyspec *ks)
{
	const char *names[32];
	char kp[PATH_BUF], sv[SHOW_MAX + 8];
	size_t i, nn = 0;

	if (n == NULL || n->kind == YAMLX_BAD)
		return false;
	if (n->kind != YAMLX_MAP) {
		err_node(l, n, path, "expected a mapping, got %s", yamlx_kind_name(n));
		return false;
	}
	for (i = 0; ks[i].name && nn < 31; i++)
		names[nn++] = ks[i].name;
	names[nn] = NULL;
	for (i = 0; i < n->n; i++) {
		const struct yamlx_node *k = n->keys[i];
		const char *sug;

		if (k->kind != YAMLX_SCALAR || in_list(k->str, names))
			continue;
		show(sv, sizeof(sv), k->str);
		sug = suggest(k->str, names);
		if (sug) {
			err_node(l, k, pj(kp, path, sv), "unknown key (did you mean \"%s\"?)", sug);
		} else {
			char list[512];
			size_t o = 0;

			list[0] = '\0';
			for (size_t j = 0; names[j] && o < sizeof(list); j++)
				o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", j ? ", " : "", names[j]);
			err_node(l, k, pj(kp, path, sv), "unknown key (expected one of: %s)", list);
		}
	}
	for (i = 0; ks[i].name; i++)
		if (ks[i].required && yamlx_map_get(n, ks[i].name) == NULL)
			err_node(l, n, pj(kp, path, ks[i].name), "missing required key");
	return true;
}

/* The value for key, or NULL when absent, already reported (BAD) or null. A null value for a
 * required key is reported as a type error. */
static const struct yamlx_node *field(struct ld *l, const struct yamlx_node *map, const char *mpath,
				      const char *key, bool required, const char *expected)
{
	const struct yamlx_node *n = yamlx_map_get(map, key);
	char kp[PATH_BUF];

	if (n == NULL || n->kind == YAMLX_BAD)
		return NULL;
	if (yamlx_is_null(n)) {
		if (required)
			err_node(l, n, pj(kp, mpath, key), "expected %s, got null", expected);
		return NULL;
	}
	return n;
}

/* A scalar usable as text: any scalar but null and booleans. Reports otherwise. */
static bool text_of(struct ld *l, const struct yamlx_node *n, const char *path, size_t maxlen)
{
	bool b;

	if (n->kind == YAMLX_BAD)
		return false;
	if (n->kind != YAMLX_SCALAR || yamlx_is_null(n) || yamlx_as_bool(n, &b) == 0) {
		err_node(l, n, path, "expected a string, got %s", yamlx_kind_name(n));
		return false;
	}
	if (n->len == 0) {
		err_node(l, n, path, "must not be empty");
		return false;
	}
	if (n->len > maxlen) {
		err_node(l, n, path, "is %zu bytes; the limit is %zu", n->len, maxlen);
		return false;
	}
	return true;
}

static const struct yamlx_node *get_str(struct ld *l, const struct yamlx_node *map, const char *mpath,
					const char *key, bool required, size_t maxlen, const char **out)
{
	const struct yamlx_node *n = field(l, map, mpath, key, required, "a string");
	char kp[PATH_BUF];

	*out = NULL;
	if (n == NULL || !text_of(l, n, pj(kp, mpath, key), maxlen))
		return NULL;
	*out = ld_strdup(l, n->str);
	return n;
}

static bool get_int(struct ld *l, const struct yamlx_node *map, const char *mpath, const char *key,
		    int64_t min, int64_t max, int64_t *out)
{
	const struct yamlx_node *n = field(l, map, mpath, key, false, "an integer");
	char kp[PATH_BUF];
	int64_t v;
	int rc;

	if (n == NULL)
		return false;
	rc = yamlx_as_i64(n, &v);
	if (rc == -EINVAL) {
		err_node(l, n, pj(kp, mpath, key), "expected an integer, got %s", yamlx_kind_name(n));
		return false;
	}
	if (rc < 0 || v < min || v > max) {
		char sv[SHOW_MAX + 8];

		show(sv, sizeof(sv), n->str);
		err_node(l, n, pj(kp, mpath, key), "%s is out of range (%lld..%lld)", sv, (long long)min,
			 (long long)max);
		return false;
	}
	*out = v;
	return true;
}

static bool get_bool(struct ld *l, const struct yamlx_node *map, const char *mpath, const char *key,
		     bool required, bool *out)
{
	const struct yamlx_node *n = field(l, map, mpath, key, required, "true or false");
	char kp[PATH_BUF];

	if (n == NULL)
		return false;
	if (yamlx_as_bool(n, out) != 0) {
		err_node(l, n, pj(kp, mpath, key), "expected true or false, got %s", yamlx_kind_name(n));
		return false;
	}
	return true;
}

static void enum_error(struct ld *l, const struct yamlx_node *n, const char *path, const char *what,
		       const char *const *names)
{
	char sv[SHOW_MAX + 8], list[256];
	const char *sug = suggest(n->str, names);
	size_t o = 0;

	show(sv, sizeof(sv), n->str);
	if (sug) {
		err_node(l, n, path, "unknown %s \"%s\" (did you mean \"%s\"?)", what, sv, sug);
		return;
	}
	list[0] = '\0';
	for (size_t i = 0; names[i] && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", names[i]);
	err_node(l, n, path, "unknown %s \"%s\" (expected one of: %s)", what, sv, list);
}

static bool get_enum(struct ld *l, const struct yamlx_node *map, const char *mpath, const char *key,
		     bool required, const char *const *names, int *out)
{
	const struct yamlx_node *n = field(l, map, mpath, key, required, "a string");
	char kp[PATH_BUF];
	int i;

	if (n == NULL || !text_of(l, n, pj(kp, mpath, key), MAX_TEXT))
		return false;
	i = index_of(n->str, names);
	if (i < 0) {
		enum_error(l, n, kp, "value", names);
		return false;
	}
	*out = i;
	return true;
}

/* A list of strings. check() validates one item (reporting its own error) and returns false
 * to drop it. Duplicates are errors. Only valid items are kept. */
typedef bool (*item_check_fn)(struct ld *l, const struct yamlx_node *n, const char *path);

static const struct yamlx_node *get_strlist(struct ld *l, const struct yamlx_node *map, const char *mpath,
					    const char *key, bool required, size_t maxlen, item_check_fn check,
					    struct policy_strlist *out)
{
	const struct yamlx_node *n = field(l, map, mpath, key, required, "a list");
	char kp[PATH_BUF], ip[PATH_BUF];
	const char **v;
	size_t i, j, k = 0;

	out->v = NULL;
	out->n = 0;
	if (n == NULL)
		return NULL;
	pj(kp, mpath, key);
	if (n->kind != YAMLX_SEQ) {
		err_node(l, n, kp, "expected a list, got %s", yamlx_kind_name(n));
		return NULL;
	}
	if (n->n > MAX_LIST) {
		err_node(l, n, kp, "has %zu entries; the limit is %d", n->n, MAX_LIST);
		return NULL;
	}
	v = ld_alloc(l, (n->n + 1) * sizeof(*v));
	for (i = 0; i < n->n; i++) {
		const struct yamlx_node *it = n->items[i];
		bool dup = false;

		pi(ip, kp, i);
		if (!text_of(l, it, ip, maxlen))
			continue;
		for (j = 0; j < i; j++) {
			const struct yamlx_node *o = n->items[j];

			if (o->kind == YAMLX_SCALAR && o->str && strcmp(o->str, it->str) == 0) {
				char sv[SHOW_MAX + 8];

				show(sv, sizeof(sv), it->str);
				err_node(l, it, ip, "duplicate entry \"%s\" (first at %d:%d)", sv, o->line, o->col);
				dup = true;
				break;
			}
		}
		if (dup || (check && !check(l, it, ip)))
			continue;
		v[k++] = ld_strdup(l, it->str);
	}
	out->v = v;
	out->n = k;
	return n;
}

/* --- value checks -------------------------------------------------------------------------- */

static bool is_ipv4(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

static bool host_is_loopback(const char *h)
{
	struct in6_addr a6;

	if (strcmp(h, "localhost") == 0)
		return true;
	if (is_ipv4(h))
		return strncmp(h, "127.", 4) == 0;
	if (inet_pton(AF_INET6, h, &a6) == 1)
		return memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
	return false;
}

static const char url_userinfo[] = "user information (user@host) is not allowed in URLs";

struct url_info {
	bool https;
	bool loopback;
	bool has_query;
	char host[256];
};

/* A minimal RFC 3986 absolute-URL check for the URLs a policy holds: http/https scheme, a
 * host (reg-name, IPv4 or [IPv6]), optional port, no userinfo (credentials do not belong in a
 * policy and `https://good@evil` tricks readers), no fragment (never sent to servers). Returns
 * NULL when acceptable, else the reason. */
static const char *url_check(const char *s, struct url_info *u)
{
	const char *p, *auth, *end, *hend;
	size_t i, hlen;

	memset(u, 0, sizeof(*u));
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f)
			return "contains a space or control character";
		if (c >= 0x80)
			return "contains non-ASCII characters (percent-encode them)";
	}
	if (strncmp(s, "https://", 8) == 0) {
		u->https = true;
		auth = s + 8;
	} else if (strncmp(s, "http://", 7) == 0) {
		auth = s + 7;
	} else if (strstr(s, "://") != NULL) {
		return "scheme must be http or https";
	} else {
		return "is not an absolute URL (expected http:// or https://)";
	}
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
		return url_userinfo;
	if (strchr(s, '#') != NULL)
		return "fragments (#...) are not allowed";
	u->has_query = strchr(s, '?') != NULL;
	if (end == auth)
		return "has no host";
	if (*auth == '[') {
		struct in6_addr a6;

		hend = memchr(auth, ']', (size_t)(end - auth));
		if (hend == NULL || (size_t)(hend - auth - 1) >= sizeof(u->host))
			return "has an invalid IPv6 host";
		memcpy(u->host, auth + 1, (size_t)(hend - auth - 1));
		u->host[hend - auth - 1] = '\0';
		if (inet_pton(AF_INET6, u->host, &a6) != 1)
			return "has an invalid IPv6 host";
		hend++;
	} else {
		hend = memchr(auth, ':', (size_t)(end - auth));
		if (hend == NULL)
			hend = end;
		hlen = (size_t)(hend - auth);
		if (hlen == 0)
			return "has no host";
		if (hlen >= sizeof(u->host))
			return "host name is too long";
		memcpy(u->host, auth, hlen);
		u->host[hlen] = '\0';
		for (i = 0; i < hlen; i++) {
			char c = u->host[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      c == '-' || c == '.'))
				return "host contains an invalid character";
			if (c == '.' && (i == 0 || i + 1 == hlen || u->host[i + 1] == '.'))
				return "host has an empty label";
		}
	}
	if (hend < end) {
		unsigned long port = 0;

		if (*hend != ':' || hend + 1 == end)
			return "has an invalid port";
		for (p = hend + 1; p < end; p++) {
			if (*p < '0' || *p > '9')
				return "has an invalid port";
			port = port * 10 + (unsigned long)(*p - '0');
			if (port > 65535)
				return "port is out of range (1..65535)";
		}
		if (port == 0)
			return "port is out of range (1..65535)";
	}
	u->loopback = host_is_loopback(u->host);
	return NULL;
}

enum { URL_BASE = 1, URL_PROD_HTTPS = 2 };

/* Validate a URL node; URL_BASE forbids a query and strips trailing slashes, URL_PROD_HTTPS
 * refuses http:// to a non-loopback host in production (CDS Hooks 2.0: "https for production";
 * PHI crosses these connections). Returns the stored copy or NULL. */
static const char *check_url(struct ld *l, const struct yamlx_node *n, const char *path, unsigned flags)
{
	struct url_info u;
	const char *why;
	char sv[SHOW_MAX + 8], *copy;
	size_t len;

	if (!text_of(l, n, path, MAX_URL))
		return NULL;
	show(sv, sizeof(sv), n->str);
	why = url_check(n->str, &u);
	if (why == url_userinfo) {
		/* Do not echo the value: the user information may be a credential. */
		err_node(l, n, path, "invalid URL: %s (credentials do not belong in a policy)", why);
		return NULL;
	}
	if (why) {
		err_node(l, n, path, "invalid URL \"%s\": %s", sv, why);
		return NULL;
	}
	if ((flags & URL_BASE) && u.has_query) {
		err_node(l, n, path, "invalid URL \"%s\": a base URL must not have a query (?...)", sv);
		return NULL;
	}
	if ((flags & URL_PROD_HTTPS) && l->production && !u.https && !u.loopback) {
		err_node(l, n, path, "\"%s\" uses http:// in production; use https:// (plain http is only allowed to loopback hosts)",
			 sv);
		return NULL;
	}
	copy = arena_strdup(l->a, n->str);
	if (copy == NULL)
		abort();
	len = strlen(copy);
	if (flags & URL_BASE)
		while (len > 8 && copy[len - 1] == '/' && copy[len - 2] != '/')
			copy[--len] = '\0';
	return copy;
}

static bool item_url(struct ld *l, const struct yamlx_node *n, const char *path)
{
	return check_url(l, n, path, URL_PROD_HTTPS) != NULL;
}

static bool item_hook(struct ld *l, const struct yamlx_node *n, const char *path)
{
	char sv[SHOW_MAX + 8];
	const char *sug;

	if (policy_hook_name_valid(n->str))
		return true;
	show(sv, sizeof(sv), n->str);
	/* CDS Hooks 2.0 §Hooks: organisation-specific hooks use reverse-domain names. */
	if (strchr(n->str, '.') != NULL) {
		err_node(l, n, path, "invalid hook name \"%s\" (org-specific hooks are lowercase reverse-domain names such as org.example.my-hook)",
			 sv);
		return false;
	}
	sug = suggest(n->str, cds_hooks);
	if (sug)
		err_node(l, n, path, "unknown hook \"%s\" (did you mean \"%s\"?)", sv, sug);
	else
		err_node(l, n, path, "unknown hook \"%s\" (expected a CDS Hooks library hook or a reverse-domain name such as org.example.my-hook)",
			 sv);
	return false;
}

static bool item_fhir_type(struct ld *l, const struct yamlx_node *n, const char *path)
{
	char sv[SHOW_MAX + 8];
	const char *sug;

	if (policy_fhir_type_known(n->str))
		return true;
	show(sv, sizeof(sv), n->str);
	sug = suggest(n->str, fhir_r4_types);
	if (sug)
		err_node(l, n, path, "unknown FHIR resource type \"%s\" (did you mean \"%s\"?)", sv, sug);
	else
		err_node(l, n, path, "unknown FHIR resource type \"%s\" (not a FHIR R4 resource)", sv);
	return false;
}

static bool item_alg(struct ld *l, const struct yamlx_node *n, const char *path)
{
	char sv[SHOW_MAX + 8];
	const char *sug;

	if (in_list(n->str, alg_names))
		return true;
	show(sv, sizeof(sv), n->str);
	/* CDS Hooks 2.0 §JWT Signing Algorithm; research/cds-hooks.md checks 29 and 30. */
	if (strcasecmp(n->str, "none") == 0) {
		err_node(l, n, path, "algorithm \"%s\" is refused: unsigned tokens are never accepted (CDS Hooks 2.0 forbids alg none)", sv);
		return false;
	}
	if (strncasecmp(n->str, "HS", 2) == 0) {
		err_node(l, n, path, "algorithm \"%s\" is refused: symmetric (HMAC) algorithms are forbidden by CDS Hooks 2.0; use ES384 or RS384", sv);
		return false;
	}
	sug = suggest(n->str, alg_names);
	if (sug)
		err_node(l, n, path, "algorithm \"%s\" is not allowed (did you mean \"%s\"?)", sv, sug);
	else
		err_node(l, n, path, "algorithm \"%s\" is not allowed (only ES384 and RS384)", sv);
	return false;
}

static bool item_phi_type(struct ld *l, const struct yamlx_node *n, const char *path)
{
	if (in_list(n->str, policy_phi_type_names))
		return true;
	enum_error(l, n, path, "identifier type", policy_phi_type_names);
	return false;
}

/* A JSON member name (e.g. lastUpdated): letters, digits, '_', '-', '.', at most 64 bytes. */
static bool item_json_key(struct ld *l, const struct yamlx_node *n, const char *path)
{
	size_t len = strlen(n->str);

	if (len == 0 || len > 64 || strspn(n->str, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") != len) {
		err_node(l, n, path, "must be a JSON member name ([A-Za-z0-9_.-], 1..64 bytes)");
		return false;
	}
	return true;
}

/* A URL prefix ("kdigo.org/guidelines", "https://www.uptodate.com"): printable, no spaces, a
 * host of at least one dot (or localhost), at most 256 bytes. */
static bool item_url_prefix(struct ld *l, const struct yamlx_node *n, const char *path)
{
	const char *h = n->str;
	size_t len = strlen(h), hl;

	if (strncasecmp(h, "https://", 8) == 0)
		h += 8;
	else if (strncasecmp(h, "http://", 7) == 0)
		h += 7;
	hl = strcspn(h, "/?#");
	bool ok = len > 0 && len <= 256 && hl > 0 && (memchr(h, '.', hl) != NULL || (hl == 9 && strncmp(h, "localhost", 9) == 0));
	for (const char *c = n->str; ok && *c; c++)
		ok = *c > 0x20 && *c < 0x7f;
	if (!ok) {
		err_node(l, n, path, "must be a URL prefix such as kdigo.org/guidelines (a host with a dot, no spaces, at most 256 bytes)");
		return false;
	}
	return true;
}

/* Does the path hold a dot segment ("." or "..", also percent-encoded), which a server would
 * resolve against the segments before it (RFC 3986 §5.2.4) and so leave a listed prefix? */
static bool has_dot_segment(const char *p)
{
	for (const char *s = p; *s; s++) {
		if (*s != '/')
			continue;
		const char *q = s + 1;
		int dots = 0;
		for (;;) {
			if (*q == '.') {
				q++;
			} else if (q[0] == '%' && q[1] == '2' && (q[2] == 'e' || q[2] == 'E')) {
				q += 3;
			} else {
				break;
			}
			dots++;
		}
		if ((dots == 1 || dots == 2) && (*q == '/' || *q == '\0' || *q == '?' || *q == ';'))
			return true;
	}
	return false;
}

/* A path prefix under a route's URL ("/v1/chat/completions"): starts with '/', RFC 3986
 * path characters only (no '?', '#', spaces, backslashes), no empty or dot segments, at most
 * 256 bytes. */
static bool item_path_prefix(struct ld *l, const struct yamlx_node *n, const char *path)
{
	const char *s = n->str;
	size_t len = strlen(s);

	if (len == 0 || s[0] != '/' || len > 256) {
		err_node(l, n, path, "must be a path starting with '/' (at most 256 bytes), e.g. /v1/chat/completions");
		return false;
	}
	if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@%/") != len) {
		err_node(l, n, path, "invalid path \"%s\": only RFC 3986 path characters (no '?', '#', spaces or '\\')", s);
		return false;
	}
	if (strstr(s, "//") || has_dot_segment(s)) {
		err_node(l, n, path, "invalid path \"%s\": empty or dot segments (\"//\", \"/./\", \"/../\") are not allowed", s);
		return false;
	}
	if (strcasestr(s, "%2f") || strcasestr(s, "%5c")) {
		err_node(l, n, path, "invalid path \"%s\": an encoded '/' or '\\' (%%2F, %%5C) is refused in requests", s);
		return false;
	}
	return true;
}

static bool item_method(struct ld *l, const struct yamlx_node *n, const char *path)
{
	if (in_list(n->str, method_names))
		return true;
	enum_error(l, n, path, "method", method_names);
	return false;
}

/* hs_compile() each pattern as the PHI scanner will use it (leftmost start of match, so a
 * match can be redacted); a pattern Vectorscan cannot compile, or one that matches the empty
 * string, is an error with Vectorscan's own message. */
static bool item_pattern(struct ld *l, const struct yamlx_node *n, const char *path)
{
	hs_database_t *db = NULL;
	hs_compile_error_t *ce = NULL;
	bool ok;

	if (n->len > MAX_PATTERN) {
		err_node(l, n, path, "pattern is %zu bytes; the limit is %d", n->len, MAX_PATTERN);
		return false;
	}
	/* a site format is searched anywhere in a body: anchors would only match at the body's
	 * edges (and the scanner pads its buffers, sidecar/phi_int.h PHI_DEC_PAD) */
	if (hsre_has_anchor(n->str)) {
		err_node(l, n, path, "pattern uses an anchor (^ $ \\A \\z \\Z \\G); patterns are searched anywhere in a body");
		return false;
	}
	ok = hs_compile(n->str, HS_FLAG_SOM_LEFTMOST, HS_MODE_BLOCK, NULL, &db, &ce) == HS_SUCCESS;
	if (!ok)
		err_node(l, n, path, "pattern does not compile: %s", ce && ce->message ? ce->message : "unknown error");
	hs_free_compile_error(ce);
	hs_free_database(db);
	return ok;
}

static bool check_id(struct ld *l, const struct yamlx_node *n, const char *path, const char *what,
		     bool allow_upper_dot)
{
	char sv[SHOW_MAX + 8];

	if (n->len > 63)
		goto bad;
	for (size_t i = 0; i < n->len; i++) {
		char c = n->str[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
			continue;
		if (allow_upper_dot && ((c >= 'A' && c <= 'Z') || c == '.' || c == '_'))
			continue;
		goto bad;
	}
	return true;
bad:
	show(sv, sizeof(sv), n->str);
	err_node(l, n, path, "invalid %s \"%s\" (%s, at most 63 characters)", what, sv,
		 allow_upper_dot ? "letters, digits, '.', '_' and '-'" : "lowercase letters, digits and '-'");
	return false;
}

/* HOST:PORT where HOST is an IPv4 literal, [IPv6] or localhost (no DNS at bind time). */
static bool get_listen(struct ld *l, const struct yamlx_node *map, const char *mpath, const char *key,
		       struct policy_addr *out)
{
	const struct yamlx_node *n = field(l, map, mpath, key, true, "HOST:PORT");
	char kp[PATH_BUF], sv[SHOW_MAX + 8], host[64];
	const char *colon, *s;
	unsigned long port = 0;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	pj(kp, mpath, key);
	if (n == NULL || !text_of(l, n, kp, 128))
		return false;
	s = n->str;
	show(sv, sizeof(sv), s);
	colon = strrchr(s, ':');
	if (colon == NULL || colon[1] == '\0')
		goto bad;
	if (s[0] == '[') {
		if (colon[-1] != ']')
			goto bad;
		hlen = (size_t)(colon - s - 2);
		if (hlen == 0 || hlen >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, hlen);
	} else {
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen >= sizeof(host))
			goto bad;
		memcpy(host, s, hlen);
	}
	host[hlen] = '\0';
	if (s[0] == '[') {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, host, &a6) != 1)
			goto bad;
	} else if (strcmp(host, "localhost") != 0 && !is_ipv4(host)) {
		goto bad;
	}
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		port = port * 10 + (unsigned long)(*p - '0');
		if (port > 65535) {
			err_node(l, n, kp, "port in \"%s\" is out of range (0..65535)", sv);
			return false;
		}
	}
	out->text = ld_strdup(l, s);
	out->host = ld_strdup(l, host);
	out->port = (uint16_t)port;
	out->loopback = host_is_loopback(host);
	return true;
bad:
	err_node(l, n, kp, "invalid address \"%s\" (expected HOST:PORT with an IP address or localhost, e.g. 127.0.0.1:8710)", sv);
	return false;
}

/* Join the policy directory and a relative path, then remove "." and ".." lexically. */
static const char *resolve_path(struct ld *l, const char *rel)
{
	char joined[PATH_MAX * 2], out[PATH_MAX];
	size_t o = 0;
	const char *p;

	if (rel[0] == '/')
		snprintf(joined, sizeof(joined), "%s", rel);
	else
		snprintf(joined, sizeof(joined), "%s/%s", l->dir, rel);
	p = joined;
	while (*p) {
		const char *seg;
		size_t len;

		while (*p == '/')
			p++;
		seg = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - seg);
		if (len == 0 || (len == 1 && seg[0] == '.'))
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		if (o + 1 + len >= sizeof(out))
			break;
		out[o++] = '/';
		memcpy(out + o, seg, len);
		o += len;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return ld_strdup(l, out);
}

static const struct yamlx_node *get_path(struct ld *l, const struct yamlx_node *map, const char *mpath,
					 const char *key, bool required, const char **out)
{
	const char *raw;
	const struct yamlx_node *n = get_str(l, map, mpath, key, required, MAX_FILE_PATH, &raw);

	*out = NULL;
	if (n == NULL)
		return NULL;
	*out = resolve_path(l, raw);
	return n;
}

/* --file checks: the referenced file exists, is a readable regular non-empty file of bounded
 * size. When jwks is set it must be a JWK Set (RFC 7517 §5) of public keys with unique kids. */
static void check_file(struct ld *l, const struct yamlx_node *n, const char *path, const char *abs, bool jwks)
{
	char sv[SHOW_MAX + 8], *buf = NULL;
	struct stat st;
	ssize_t r;
	size_t got = 0;
	int fd;

	if (!l->check_files || n == NULL || abs == NULL)
		return;
	show(sv, sizeof(sv), n->str);
	fd = open(abs, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_node(l, n, path, "cannot read \"%s\": %s", sv, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err_node(l, n, path, "\"%s\" is not a regular file", sv);
		goto out;
	}
	if (st.st_size == 0) {
		err_node(l, n, path, "\"%s\" is empty", sv);
		goto out;
	}
	if (st.st_size > (off_t)MAX_REF_FILE) {
		err_node(l, n, path, "\"%s\" is %lld bytes; the limit is %u", sv, (long long)st.st_size, MAX_REF_FILE);
		goto out;
	}
	if (!jwks)
		goto out;
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got != (size_t)st.st_size) {
		err_node(l, n, path, "cannot read \"%s\": short read", sv);
		goto out;
	}
	{
		struct json_limits lim = {.max_bytes = MAX_REF_FILE, .max_depth = 16};
		struct err e;
		cJSON *root, *keys, *k;
		size_t i = 0, nk;

		err_clear(&e);
		root = json_parse(buf, got, &lim, &e);
		if (root == NULL) {
			err_node(l, n, path, "\"%s\" is not valid JSON: %s", sv, e.msg);
			goto out;
		}
		keys = json_arr(root, "keys");
		nk = keys ? (size_t)cJSON_GetArraySize(keys) : 0;
		if (keys == NULL)
			err_node(l, n, path, "\"%s\" is not a JWK Set (no \"keys\" array)", sv);
		else if (nk == 0)
			err_node(l, n, path, "\"%s\" has no keys", sv);
		cJSON_ArrayForEach(k, keys) {
			const char *kid = json_str(k, "kid");

			if (!cJSON_IsObject(k) || json_str(k, "kty") == NULL) {
				err_node(l, n, path, "\"%s\": keys[%zu] has no \"kty\"", sv, i);
			} else if (cJSON_HasObjectItem(k, "d")) {
				/* RFC 7518 §6.2.2.1 / §6.3.2.1: "d" is private key material. */
				err_node(l, n, path, "\"%s\": keys[%zu] contains a private key (member \"d\"); trust needs public keys only", sv, i);
			}
			if (kid) {
				cJSON *o;
				size_t j = 0;

				cJSON_ArrayForEach(o, keys) {
					if (j++ >= i)
						break;
					if (json_str(o, "kid") && strcmp(json_str(o, "kid"), kid) == 0) {
						char skid[SHOW_MAX + 8];

						show(skid, sizeof(skid), kid);
						err_node(l, n, path, "\"%s\": kid \"%s\" appears twice (kids must be unique within a JWK Set)", sv, skid);
						break;
					}
				}
			}
			i++;
		}
		cJSON_Delete(root);
	}
out:
	free(buf);
	close(fd);
}

/* Approval {approved_by, reference, granted, expires}: all four required, dates YYYY-MM-DD,
 * expires after granted. An expired or not-yet-granted approval is a warning, not an error:
 * the policy loads, and the decision functions treat the approval as absent. */
static bool get_approval(struct ld *l, const struct yamlx_node *map, const char *mpath, const char *key,
			 bool required, struct policy_approval *out)
{
	const struct yamlx_node *n = field(l, map, mpath, key, required, "a mapping");
	const struct yamlx_node *g, *x;
	char ap[PATH_BUF], kp[PATH_BUF], sv[SHOW_MAX + 8], ref[SHOW_MAX + 8];
	bool ok = true;
	int64_t gd = 0, xd = 0;

	memset(out, 0, sizeof(*out));
	pj(ap, mpath, key);
	if (n == NULL || !check_map(l, n, ap, k_approval))
		return false;
	out->line = n->line;
	out->col = n->col;
	if (!get_str(l, n, ap, "approved_by", true, MAX_TEXT, &out->approved_by))
		ok = false;
	if (!get_str(l, n, ap, "reference", true, MAX_TEXT, &out->reference))
		ok = false;
	g = field(l, n, ap, "granted", true, "a date (YYYY-MM-DD)");
	x = field(l, n, ap, "expires", true, "a date (YYYY-MM-DD)");
	if (g == NULL || !text_of(l, g, pj(kp, ap, "granted"), 64)) {
		ok = false;
		g = NULL;
	} else if (clock_parse_date(g->str, &gd) != 0) {
		show(sv, sizeof(sv), g->str);
		err_node(l, g, kp, "malformed date \"%s\" (expected YYYY-MM-DD)", sv);
		ok = false;
		g = NULL;
	}
	if (x == NULL || !text_of(l, x, pj(kp, ap, "expires"), 64)) {
		ok = false;
		x = NULL;
	} else if (clock_parse_date(x->str, &xd) != 0) {
		show(sv, sizeof(sv), x->str);
		err_node(l, x, kp, "malformed date \"%s\" (expected YYYY-MM-DD)", sv);
		ok = false;
		x = NULL;
	}
	if (g && x && xd <= gd) {
		err_node(l, x, pj(kp, ap, "expires"), "expires %s is not after granted %s", x->str, g->str);
		ok = false;
	}
	if (!ok)
		return false;
	out->granted_days = gd;
	out->expires_days = xd;
	show(ref, sizeof(ref), out->reference);
	switch (policy_approval_state(out, l->today)) {
	case POLICY_APPROVAL_EXPIRED:
		other_at(l, POLICY_DIAG_WARNING, n->line, n->col, ap, "expired %s (%s)", x->str, ref);
		break;
	case POLICY_APPROVAL_NOT_YET:
		other_at(l, POLICY_DIAG_WARNING, n->line, n->col, ap, "not active until %s (%s)", g->str, ref);
		break;
	case POLICY_APPROVAL_ACTIVE:
		if (xd == l->today)
			other_at(l, POLICY_DIAG_NOTE, n->line, n->col, ap, "expires %s, today (%s)", x->str, ref);
		else if (xd - l->today <= POLICY_EXPIRY_NOTICE_DAYS)
			other_at(l, POLICY_DIAG_NOTE, n->line, n->col, ap, "expires %s, in %lld day%s (%s)", x->str,
				 (long long)(xd - l->today), xd - l->today == 1 ? "" : "s", ref);
		break;
	}
	return true;
}

/* --- sections ------------------------------------------------------------------------------ */

static void load_site(struct ld *l, const struct yamlx_node *root)
{
	const struct yamlx_node *s = yamlx_map_get(root, "site"), *n;
	int v;

	if (!check_map(l, s, "site", k_site))
		return;
	n = get_str(l, s, "site", "id", true, MAX_TEXT, &l->p->site.id);
	if (n && !check_id(l, n, "site.id", "site id", false))
		l->p->site.id = NULL;
	get_str(l, s, "site", "name", true, MAX_TEXT, &l->p->site.name);
	if (get_enum(l, s, "site", "ehr", true, ehr_names, &v))
		l->p->site.ehr = (enum policy_ehr)v;
	if (get_enum(l, s, "site", "environment", true, env_names, &v)) {
		l->p->site.env = (enum policy_env)v;
		l->production = v == POLICY_ENV_PRODUCTION;
	}
}

static void load_client(struct ld *l, const struct yamlx_node *c, const char *cp, struct policy_client *out)
{
	const struct yamlx_node *n, *f, *u, *algs;
	struct policy_strlist al;
	char kp[PATH_BUF];
	int64_t v;

	out->max_token_lifetime_s = 300;
	out->jwks_refresh_min_s = 60;
	out->algs = POLICY_ALG_ES384 | POLICY_ALG_RS384;
	if (!check_map(l, c, cp, k_client))
		return;
	n = field(l, c, cp, "iss", true, "a URL");
	if (n)
		out->iss = check_url(l, n, pj(kp, cp, "iss"), 0);
	f = field(l, c, cp, "jwks_file", false, "a path");
	u = field(l, c, cp, "jwks_url", false, "a URL");
	if (f && u) {
		err_node(l, c, cp, "set only one of jwks_file and jwks_url");
	} else if (!f && !u && yamlx_map_get(c, "jwks_file") == NULL && yamlx_map_get(c, "jwks_url") == NULL) {
		err_node(l, c, cp, "missing jwks_file or jwks_url (where the client's signing keys are)");
	} else if (f) {
		if (get_path(l, c, cp, "jwks_file", false, &out->jwks_file))
			check_file(l, f, pj(kp, cp, "jwks_file"), out->jwks_file, true);
	} else if (u) {
		out->jwks_url = check_url(l, u, pj(kp, cp, "jwks_url"), URL_PROD_HTTPS);
	}
	get_strlist(l, c, cp, "jku_allow", false, MAX_URL, item_url, &out->jku_allow);
	algs = get_strlist(l, c, cp, "algorithms", false, 16, item_alg, &al);
	if (algs) {
		out->algs = 0;
		for (size_t i = 0; i < al.n; i++)
			out->algs |= strcmp(al.v[i], "ES384") == 0 ? POLICY_ALG_ES384 : POLICY_ALG_RS384;
		if (algs->n == 0)
			err_node(l, algs, pj(kp, cp, "algorithms"), "must list at least one algorithm (ES384, RS384)");
	}
	/* research/cds-hooks.md check 35: lifetime is policy; above an hour is refused. */
	if (get_int(l, c, cp, "max_token_lifetime_s", 1, 3600, &v))
		out->max_token_lifetime_s = (unsigned)v;
	if (get_int(l, c, cp, "jwks_refresh_min_s", 1, 86400, &v))
		out->jwks_refresh_min_s = (unsigned)v;
}

static void load_ingress(struct ld *l, const struct yamlx_node *root)
{
	const struct yamlx_node *in = yamlx_map_get(root, "ingress"), *n, *tls, *cl;
	struct policy *p = l->p;
	char kp[PATH_BUF], cp[PATH_BUF];
	int64_t v;
	int e;

	p->ingress.deadline_ms = 2000;
	p->ingress.max_body_bytes = 4u << 20;
	p->ingress.workers = 2;
	if (!check_map(l, in, "ingress", k_ingress))
		return;
	get_listen(l, in, "ingress", "listen", &p->ingress.listen);
	n = field(l, in, "ingress", "public_base_url", true, "a URL");
	if (n)
		p->ingress.public_base_url = check_url(l, n, "ingress.public_base_url", URL_BASE | URL_PROD_HTTPS);
	n = field(l, in, "ingress", "upstream", true, "a URL");
	if (n)
		p->ingress.upstream = check_url(l, n, "ingress.upstream", URL_BASE | URL_PROD_HTTPS);
	if (get_int(l, in, "ingress", "deadline_ms", 100, 10000, &v))
		p->ingress.deadline_ms = (unsigned)v;
	if (get_enum(l, in, "ingress", "on_deadline", false, on_deadline_names, &e))
		p->ingress.on_deadline = (enum policy_on_deadline)e;
	if (get_enum(l, in, "ingress", "card_policy", false, card_policy_names, &e))
		p->ingress.card_policy = (enum policy_card_policy)e;
	if (get_int(l, in, "ingress", "max_body_bytes", 1024, 64 << 20, &v))
		p->ingress.max_body_bytes = (size_t)v;
	if (get_int(l, in, "ingress", "workers", 1, 64, &v))
		p->ingress.workers = (unsigned)v;
	tls = field(l, in, "ingress", "tls", false, "a mapping");
	if (tls && check_map(l, tls, "ingress.tls", k_tls)) {
		const char *cert = NULL, *key = NULL;
		const struct yamlx_node *cn = get_path(l, tls, "ingress.tls", "cert", true, &cert);
		const struct yamlx_node *kn = get_path(l, tls, "ingress.tls", "key", true, &key);

		check_file(l, cn, "ingress.tls.cert", cert, false);
		check_file(l, kn, "ingress.tls.key", key, false);
		if (cert && key) {
			p->ingress.tls_cert = cert;
			p->ingress.tls_key = key;
		}
	}
	cl = field(l, in, "ingress", "clients", true, "a list");
	if (cl == NULL)
		return;
	if (cl->kind != YAMLX_SEQ) {
		err_node(l, cl, "ingress.clients", "expected a list, got %s", yamlx_kind_name(cl));
		return;
	}
	if (cl->n == 0 || cl->n > MAX_CLIENTS) {
		err_node(l, cl, "ingress.clients", "must list between 1 and %d trusted clients", MAX_CLIENTS);
		return;
	}
	struct policy_client *clients = ld_alloc(l, cl->n * sizeof(*clients));
	for (size_t i = 0; i < cl->n; i++) {
		pi(cp, "ingress.clients", i);
		load_client(l, cl->items[i], cp, &clients[i]);
		for (size_t j = 0; j < i && clients[i].iss; j++) {
			if (clients[j].iss && strcmp(clients[j].iss, clients[i].iss) == 0) {
				const struct yamlx_node *a = yamlx_map_get(cl->items[j], "iss");
				const struct yamlx_node *b = yamlx_map_get(cl->items[i], "iss");

				err_node(l, b, pj(kp, cp, "iss"), "duplicate client iss (first at %d:%d)", a->line, a->col);
				break;
			}
		}
	}
	p->ingress.clients = clients;
	p->ingress.n_clients = cl->n;
}

static void load_admin(struct ld *l, const struct yamlx_node *root)
{
	const struct yamlx_node *ad = field(l, root, "", "admin", false, "a mapping");

	if (ad == NULL || !check_map(l, ad, "admin", k_admin))
		return;
	l->p->admin.enabled = get_listen(l, ad, "admin", "listen", &l->p->admin.listen);
}

static void load_service(struct ld *l, const struct yamlx_node *s, const char *sp, struct policy_service *out)
{
	const struct yamlx_node *n, *ca, *hooks;
	char kp[PATH_BUF];

	if (!check_map(l, s, sp, k_service))
		return;
	n = get_str(l, s, sp, "id", true, MAX_TEXT, &out->id);
	if (n && !check_id(l, n, pj(kp, sp, "id"), "service id", true))
		out->id = NULL;
	hooks = get_strlist(l, s, sp, "hooks", true, MAX_TEXT, item_hook, &out->hooks);
	if (hooks && hooks->n == 0)
		err_node(l, hooks, pj(kp, sp, "hooks"), "must list at least one hook");
	get_strlist(l, s, sp, "prefetch_read", false, MAX_TEXT, item_fhir_type, &out->prefetch_read);
	ca = field(l, s, sp, "card_actions", false, "a mapping");
	if (ca && check_map(l, ca, pj(kp, sp, "card_actions"), k_card_actions)) {
		char cap[PATH_BUF];

		snprintf(cap, sizeof(cap), "%s", kp);
		get_strlist(l, ca, cap, "create", false, MAX_TEXT, item_fhir_type, &out->create);
		get_strlist(l, ca, cap, "update", false, MAX_TEXT, item_fhir_type, &out->update);
		get_strlist(l, ca, cap, "delete", false, MAX_TEXT, item_fhir_type, &out->del);
	}
	get_strlist(l, s, sp, "smart_links", false, MAX_URL, item_url, &out->smart_links);
	get_approval(l, s, sp, "approval", true, &out->approval);
}

static void load_services(struct ld *l, const struct yamlx_node *root)
{
	const struct yamlx_node *sv = field(l, root, "", "services", true, "a list");
	struct policy_service *v;
	char sp[PATH_BUF], kp[PATH_BUF];

	if (sv == NULL)
		return;
	if (sv->kind != YAMLX_SEQ) {
		err_node(l, sv, "services", "expected a list, got %s", yamlx_kind_name(sv));
		return;
	}
	if (sv->n > MAX_SERVICES) {
		err_node(l, sv, "services", "has %zu entries; the limit is %d", sv->n, MAX_SERVICES);
		return;
	}
	v = ld_alloc(l, (sv->n + 1) * sizeof(*v));
	for (size_t i = 0; i < sv->n; i++) {
		pi(sp, "services", i);
		load_service(l, sv->items[i], sp, &v[i]);
		for (size_t j = 0; j < i && v[i].id; j++) {
			if (v[j].id && strcmp(v[j].id, v[i].id) == 0) {
				const struct yamlx_node *a = yamlx_map_get(sv->items[j], "id");
				const struct yamlx_node *b = yamlx_map_get(sv->items[i], "id");
				char s[SHOW_MAX + 8];

				show(s, sizeof(s), v[i].id);
				err_node(l, b, pj(kp, sp, "id"), "duplicate service id \"%s\" (first at %d:%d)", s, a->line, a->col);
				break;
			}
		}
	}
	l->p->services = v;
	l->p->n_services = sv->n;
}

static void load_fhir(struct ld *l, const struct yamlx_node *root, struct policy_route *route)
{
	const struct yamlx_node *f = field(l, root, "", "fhir", false, "a mapping"), *n, *w;
	struct policy *p = l->p;
	char wp[PATH_BUF], kp[PATH_BUF];
	int64_t v;

	route->name = "fhir";
	route->baa = true; /* the EHR's own FHIR server: inside the covered entity */
	route->phi = POLICY_PHI_ALLOW;
	route->methods = POLICY_METHOD_GET | POLICY_METHOD_POST | POLICY_METHOD_PUT;
	route->max_body_bytes = 4u << 20;
	route->timeout_ms = 30000;
	route->is_fhir = true;
	if (f == NULL || !check_map(l, f, "fhir", k_fhir))
		return;
	p->fhir.enabled = true;
	n = field(l, f, "fhir", "base", true, "a URL");
	if (n)
		p->fhir.base = check_url(l, n, "fhir.base", URL_BASE | URL_PROD_HTTPS);
	route->url = p->fhir.base;
	get_strlist(l, f, "fhir", "read", false, MAX_TEXT, item_fhir_type, &p->fhir.read);
	if (get_int(l, f, "fhir", "max_body_bytes", 1024, 64 << 20, &v))
		route->max_body_bytes = (size_t)v;
	if (get_int(l, f, "fhir", "timeout_ms", 100, 300000, &v))
		route->timeout_ms = (unsigned)v;
	w = field(l, f, "fhir", "write", false, "a list");
	if (w == NULL)
		return;
	if (w->kind != YAMLX_SEQ) {
		err_node(l, w, "fhir.write", "expected a list, got %s", yamlx_kind_name(w));
		return;
	}
	if (w->n > MAX_LIST) {
		err_node(l, w, "fhir.write", "has %zu entries; the limit is %d", w->n, MAX_LIST);
		return;
	}
	struct policy_fhir_write *wv = ld_alloc(l, (w->n + 1) * sizeof(*wv));
	size_t k = 0;
	for (size_t i = 0; i < w->n; i++) {
		const struct yamlx_node *e = w->items[i], *t;
		struct policy_fhir_write *cur = &wv[k];
		bool ok = true;

		pi(wp, "fhir.write", i);
		if (!check_map(l, e, wp, k_fhir_write))
			continue;
		t = get_str(l, e, wp, "type", true, MAX_TEXT, &cur->type);
		if (t && !item_fhir_type(l, t, pj(kp, wp, "type")))
			ok = false;
		for (size_t j = 0; ok && t && j < k; j++) {
			if (strcmp(wv[j].type, cur->type) == 0) {
				err_node(l, t, pj(kp, wp, "type"), "duplicate write type \"%s\"", cur->type);
				ok = false;
			}
		}
		if (!get_approval(l, e, wp, "approval", true, &cur->approval))
			ok = false;
		if (ok && t)
			k++;
		else
			memset(cur, 0, sizeof(*cur));
	}
	p->fhir.writes = wv;
	p->fhir.n_writes = k;
}

static void load_route(struct ld *l, const struct yamlx_node *r, const char *rp, struct policy_route *out)
{
	const struct yamlx_node *n, *ph;
	struct policy_strlist ms;
	char kp[PATH_BUF];
	int64_t v;
	int e;

	out->methods = POLICY_METHOD_GET | POLICY_METHOD_POST;
	out->max_body_bytes = 1u << 20;
	out->timeout_ms = 30000;
	if (!check_map(l, r, rp, k_route))
		return;
	n = get_str(l, r, rp, "name", true, MAX_TEXT, &out->name);
	if (n && !check_id(l, n, pj(kp, rp, "name"), "route name", false)) {
		out->name = NULL;
	} else if (n && in_list(out->name, reserved_routes)) {
		err_node(l, n, kp, "route name \"%s\" is reserved (%s)", out->name,
			 strcmp(out->name, "fhir") == 0 ? "the fhir route is defined by the fhir: section"
							: "used by the sidecar's own endpoints");
		out->name = NULL;
	}
	n = field(l, r, rp, "url", true, "a URL");
	if (n)
		out->url = check_url(l, n, pj(kp, rp, "url"), URL_BASE | URL_PROD_HTTPS);
	bool have_baa = get_bool(l, r, rp, "baa", true, &out->baa);
	bool have_phi = false;

	ph = yamlx_map_get(r, "phi");
	out->phi = POLICY_PHI_BLOCK; /* fail closed until a valid value is read */
	if (get_enum(l, r, rp, "phi", true, phi_names, &e)) {
		have_phi = true;
		out->phi = (enum policy_phi_action)e;
		/* HIPAA 45 CFR 164.502(e): PHI may be disclosed only to a Business Associate under a
		 * BAA — a destination without one gets redacted or blocked traffic, never PHI. */
		if (have_baa && !out->baa && out->phi == POLICY_PHI_ALLOW)
			err_node(l, ph, pj(kp, rp, "phi"), "phi: allow needs baa: true (PHI may only go to a destination covered by a BAA); use redact or block");
	}
	out->has_approval = get_approval(l, r, rp, "approval", false, &out->approval);
	if (!out->has_approval && yamlx_map_get(r, "approval") == NULL && have_phi && out->phi == POLICY_PHI_ALLOW &&
	    have_baa && out->baa)
		err_node(l, r, pj(kp, rp, "approval"), "missing required key (a route that receives PHI needs an approval)");
	if (get_strlist(l, r, rp, "methods", false, 16, item_method, &ms)) {
		out->methods = 0;
		for (size_t i = 0; i < ms.n; i++)
			out->methods |= 1u << index_of(ms.v[i], method_names);
		if (ms.n == 0)
			err_node(l, yamlx_map_get(r, "methods"), pj(kp, rp, "methods"), "must list at least one method");
	}
	if (get_int(l, r, rp, "max_body_bytes", 1, 64 << 20, &v))
		out->max_body_bytes = (size_t)v;
	if (get_int(l, r, rp, "timeout_ms", 100, 300000, &v))
		out->timeout_ms = (unsigned)v;
	/* issue 6: methods, paths and bodies are limited per route */
	n = get_strlist(l, r, rp, "paths", false, 256, item_path_prefix, &out->paths);
	if (n && n->n == 0)
		err_node(l, n, pj(kp, rp, "paths"), "must list at least one path (leave paths out to allow any path)");
	/* Safe Harbor (45 CFR 164.514(b)(2)) counts every date element but the year as an
	 * identifier, so FHIR resources with timestamps cannot pass a redact/block route intact.
	 * A route may receive some pattern-found types when the site approves it in writing. */
	n = get_strlist(l, r, rp, "phi_allow_types", false, 32, item_phi_type, &ms);
	if (n) {
		for (size_t i = 0; i < ms.n; i++)
			out->phi_allow_types |= 1u << index_of(ms.v[i], policy_phi_type_names);
		if (have_phi && out->phi == POLICY_PHI_ALLOW)
			err_node(l, n, pj(kp, rp, "phi_allow_types"), "has no effect on a route with phi: allow");
		else if (ms.n && yamlx_map_get(r, "approval") == NULL)
			err_node(l, r, pj(kp, rp, "approval"),
				 "missing required key (a route that receives identifier types by phi_allow_types needs an approval)");
	}
}

static void load_egress(struct ld *l, const struct yamlx_node *root, const struct policy_route *fhir_route)
{
	const struct yamlx_node *eg = yamlx_map_get(root, "egress"), *rs, *ln;
	struct policy *p = l->p;
	struct policy_route *v;
	char rp[PATH_BUF], kp[PATH_BUF];
	size_t nr = 0, k = 0;

	if (!check_map(l, eg, "egress", k_egress))
		goto fhir_only;
	ln = yamlx_map_get(eg, "listen");
	if (get_listen(l, eg, "egress", "listen", &p->egress.listen) && !p->egress.listen.loopback)
		/* DESIGN.md §3.1: the AI service calls egress in plain HTTP on loopback only. */
		err_node(l, ln, "egress.listen", "must be a loopback address (127.0.0.0/8, [::1] or localhost): the AI service talks to egress in plain HTTP");
	{
		/* trust store for TLS to the destinations (default: the system store) */
		const struct yamlx_node *cn = get_path(l, eg, "egress", "ca_file", false, &p->egress.ca_file);

		check_file(l, cn, "egress.ca_file", p->egress.ca_file, false);
	}
	rs = field(l, eg, "egress", "routes", false, "a list");
	if (rs && rs->kind != YAMLX_SEQ) {
		err_node(l, rs, "egress.routes", "expected a list, got %s", yamlx_kind_name(rs));
		rs = NULL;
	}
	if (rs && rs->n > MAX_ROUTES) {
		err_node(l, rs, "egress.routes", "has %zu entries; the limit is %d", rs->n, MAX_ROUTES);
		rs = NULL;
	}
	nr = rs ? rs->n : 0;
	v = ld_alloc(l, (nr + 1) * sizeof(*v));
	for (size_t i = 0; i < nr; i++) {
		load_route(l, rs->items[i], pi(rp, "egress.routes", i), &v[k]);
		for (size_t j = 0; j < k && v[k].name; j++) {
			if (v[j].name && strcmp(v[j].name, v[k].name) == 0) {
				const struct yamlx_node *a = yamlx_map_get(rs->items[j], "name");
				const struct yamlx_node *b = yamlx_map_get(rs->items[i], "name");

				err_node(l, b, pj(kp, rp, "name"), "duplicate route name \"%s\" (first at %d:%d)", v[k].name,
					 a->line, a->col);
				v[k].name = NULL;
				break;
			}
		}
		k++;
	}
	if (p->fhir.enabled)
		v[k++] = *fhir_route;
	p->egress.routes = v;
	p->egress.n_routes = k;
	return;
fhir_only:
	if (p->fhir.enabled) {
		v = ld_alloc(l, sizeof(*v));
		v[0] = *fhir_route;
		p->egress.routes = v;
		p->egress.n_routes = 1;
	}
}

static void load_phi(struct ld *l, const struct yamlx_node *root)
{
	const struct yamlx_node *ph = field(l, root, "", "phi", false, "a mapping"), *n;

	if (ph == NULL || !check_map(l, ph, "phi", k_phi))
		return;
	n = get_strlist(l, ph, "phi", "mrn_patterns", false, MAX_PATTERN, item_pattern, &l->p->phi.mrn_patterns);
	if (n && n->n > MAX_PATTERNS)
		err_node(l, n, "phi.mrn_patterns", "has %zu patterns; the limit is %d", n->n, MAX_PATTERNS);
	n = get_strlist(l, ph, "phi", "member_id_patterns", false, MAX_PATTERN, item_pattern,
			&l->p->phi.member_id_patterns);
	if (n && n->n > MAX_PATTERNS)
		err_node(l, n, "phi.member_id_patterns", "has %zu patterns; the limit is %d", n->n, MAX_PATTERNS);
	n = get_strlist(l, ph, "phi", "date_exempt_keys", false, 64, item_json_key, &l->p->phi.date_exempt_keys);
	if (n && n->n > MAX_PATTERNS)
		err_node(l, n, "phi.date_exempt_keys", "has %zu keys; the limit is %d", n->n, MAX_PATTERNS);
	n = get_strlist(l, ph, "phi", "url_allow", false, 256, item_url_prefix, &l->p->phi.url_allow);
	if (n && n->n > MAX_PATTERNS)
		err_node(l, n, "phi.url_allow", "has %zu prefixes; the limit is %d", n->n, MAX_PATTERNS);
}

static void load_audit(struct ld *l, const struct yamlx_node *root)
{
	const struct yamlx_node *au = yamlx_map_get(root, "audit"), *n;
	struct policy *p = l->p;
	int64_t v;
	int e;

	p->audit.batch_max_delay_ms = 10;
	if (!check_map(l, au, "audit", k_audit))
		return;
	get_path(l, au, "audit", "dir", true, &p->audit.dir);
	/* Key formats belong to the audit log (ehrgate-audit keygen); here: present and readable. */
	n = get_path(l, au, "audit", "reviewer_public_key", true, &p->audit.reviewer_public_key);
	check_file(l, n, "audit.reviewer_public_key", p->audit.reviewer_public_key, false);
	n = get_path(l, au, "audit", "signer_key", true, &p->audit.signer_key);
	check_file(l, n, "audit.signer_key", p->audit.signer_key, false);
	n = get_path(l, au, "audit", "index_key", true, &p->audit.index_key);
	check_file(l, n, "audit.index_key", p->audit.index_key, false);
	if (get_enum(l, au, "audit", "fsync", false, fsync_names, &e))
		p->audit.fsync = (enum policy_fsync)e;
	if (get_enum(l, au, "audit", "on_failure", false, on_failure_names, &e))
		p->audit.on_failure = (enum policy_on_failure)e;
	if (get_int(l, au, "audit", "batch_max_delay_ms", 1, 1000, &v))
		p->audit.batch_max_delay_ms = (unsigned)v;
}

/* Two listeners on one address cannot both bind. */
static void check_listeners(struct ld *l, const struct yamlx_node *root)
{
	struct {
		const struct policy_addr *a;
		const char *path, *sect;
	} ls[] = {
		{&l->p->ingress.listen, "ingress.listen", "ingress"},
		{&l->p->egress.listen, "egress.listen", "egress"},
		{&l->p->admin.listen, "admin.listen", "admin"},
	};

	for (size_t i = 1; i < 3; i++) {
		for (size_t j = 0; j < i; j++) {
			const struct policy_addr *a = ls[i].a, *b = ls[j].a;

			if (a->text && b->text && a->port != 0 && a->port == b->port && strcmp(a->host, b->host) == 0) {
				const struct yamlx_node *n = yamlx_map_get(yamlx_map_get(root, ls[i].sect), "listen");

				err_node(l, n, ls[i].path, "same address as %s", ls[j].path);
			}
		}
	}
}

static void load_root(struct ld *l, const struct yamlx_node *root)
{
	const struct yamlx_node *n;
	struct policy_route fhir_route;
	int64_t v;

	if (!check_map(l, root, "", k_root))
		return;
	n = field(l, root, "", "version", true, "an integer");
	if (n) {
		if (yamlx_as_i64(n, &v) != 0)
			err_node(l, n, "version", "expected an integer, got %s", yamlx_kind_name(n));
		else if (v != 1)
			err_node(l, n, "version", "unsupported version %lld (this ehrgate reads version 1)", (long long)v);
		else
			l->p->version = 1;
	}
	load_site(l, root);
	load_ingress(l, root);
	load_admin(l, root);
	load_services(l, root);
	memset(&fhir_route, 0, sizeof(fhir_route));
	load_fhir(l, root, &fhir_route);
	load_egress(l, root, &fhir_route);
	load_phi(l, root);
	load_audit(l, root);
	check_listeners(l, root);
}

/* The absolute directory of `name` (realpath when it exists, lexical otherwise). */
static void set_dir(struct ld *l, const char *name)
{
	char tmp[PATH_MAX], cwd[PATH_MAX], *slash;

	snprintf(tmp, sizeof(tmp), "%s", name);
	slash = strrchr(tmp, '/');
	if (slash == NULL)
		snprintf(tmp, sizeof(tmp), ".");
	else if (slash == tmp)
		tmp[1] = '\0';
	else
		*slash = '\0';
	if (realpath(tmp, l->dir) != NULL)
		return;
	if (tmp[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL) {
		snprintf(l->dir, sizeof(l->dir), "%s", tmp);
		return;
	}
	snprintf(l->dir, sizeof(l->dir), "%.*s/%.*s", PATH_MAX / 2 - 1, cwd, PATH_MAX / 2 - 1, tmp);
}

static int load_common(const char *name, const char *data, size_t len, const struct policy_load_opts *opts,
		       struct policy **out, struct policy_diag *diag)
{
	struct policy_impl *impl;
	struct yamlx_doc doc;
	struct ld l;
	const char *base;
	size_t start = diag->n;
	char tmp[PATH_MAX * 2];

	memset(&l, 0, sizeof(l));
	l.file = name;
	l.diag = diag;
	l.today = opts && opts->today_set ? opts->today_days : policy_today_days();
	l.check_files = !(opts && opts->skip_file_checks);
	if (len > POLICY_MAX_FILE_BYTES) {
		err_at(&l, 0, 0, "", "policy file is %zu bytes; the limit is %u bytes (256 KiB)", len,
		       POLICY_MAX_FILE_BYTES);
		return -E2BIG;
	}
	set_dir(&l, name);
	impl = xcalloc(1, sizeof(*impl));
	atomic_init(&impl->refs, 1);
	impl->arena = arena_new(POLICY_ARENA_MAX);
	l.a = impl->arena;
	l.p = &impl->pub;
	base = strrchr(name, '/');
	snprintf(tmp, sizeof(tmp), "%s/%s", l.dir, base ? base + 1 : name);
	l.p->dir = ld_strdup(&l, l.dir);
	l.p->path = ld_strdup(&l, tmp);

	yamlx_parse(data, len, NULL, yamlx_cb, &l, &doc);
	if (doc.root == NULL && doc.n_problems == 0)
		err_at(&l, 0, 0, "", "policy is empty (expected a mapping that starts with \"version: 1\")");
	else if (doc.root && yamlx_is_null(doc.root))
		err_at(&l, doc.root->line, doc.root->col, "", "policy is empty (expected a mapping that starts with \"version: 1\")");
	else if (doc.root && doc.root->kind != YAMLX_MAP && doc.root->kind != YAMLX_BAD)
		err_at(&l, doc.root->line, doc.root->col, "", "expected a mapping at the top level, got %s",
		       yamlx_kind_name(doc.root));
	else if (doc.root)
		load_root(&l, doc.root);
	yamlx_doc_fini(&doc);

	diag_sort(diag, start);
	if (l.stop) {
		l.stop = false;
		other_at(&l, POLICY_DIAG_ERROR, 0, 0, "", "too many errors; stopped after %d", POLICY_MAX_ERRORS);
	}
	if (l.n_errors > 0) {
		policy_unref(&impl->pub);
		return -EINVAL;
	}
	*out = &impl->pub;
	return 0;
}

int policy_load_buffer(const char *name, const char *data, size_t len, const struct policy_load_opts *opts,
		       struct policy **out, struct policy_diag *diag)
{
	*out = NULL;
	return load_common(name, data, len, opts, out, diag);
}

int policy_load(const char *path, const struct policy_load_opts *opts, struct policy **out, struct policy_diag *diag)
{
	struct ld l;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t r;
	int fd, rc;

	*out = NULL;
	memset(&l, 0, sizeof(l));
	l.file = path;
	l.diag = diag;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		err_at(&l, 0, 0, "", "cannot read: %s", strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err_at(&l, 0, 0, "", "not a regular file");
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > (off_t)POLICY_MAX_FILE_BYTES) {
		err_at(&l, 0, 0, "", "policy file is %lld bytes; the limit is %u bytes (256 KiB)", (long long)st.st_size,
		       POLICY_MAX_FILE_BYTES);
		close(fd);
		return -E2BIG;
	}
	/* Read at most limit+1 bytes: a file that grows after fstat is still caught. */
	buf = xmalloc(POLICY_MAX_FILE_BYTES + 2);
	for (;;) {
		r = read(fd, buf + got, POLICY_MAX_FILE_BYTES + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			err_at(&l, 0, 0, "", "cannot read: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > POLICY_MAX_FILE_BYTES)
			break;
	}
	buf[got] = '\0';
	rc = load_common(path, buf, got, opts, out, diag);
out:
	free(buf);
	close(fd);
	return rc;
}

void policy_ref(const struct policy *p)
{
	struct policy_impl *impl = (struct policy_impl *)(uintptr_t)p;

	if (p)
		atomic_fetch_add_explicit(&impl->refs, 1, memory_order_relaxed);
}

void policy_unref(const struct policy *p)
{
	struct policy_impl *impl = (struct policy_impl *)(uintptr_t)p;

	if (p == NULL)
		return;
	/* acq_rel: the thread that frees sees every other thread's reads as finished. */
	if (atomic_fetch_sub_explicit(&impl->refs, 1, memory_order_acq_rel) != 1)
		return;
	arena_free(impl->arena);
	free(impl);
}

/* --- decisions ----------------------------------------------------------------------------- */

int64_t policy_today_days(void)
{
	return clock_days_from_ms(clock_wall_ms());
}

enum policy_approval_state policy_approval_state(const struct policy_approval *a, int64_t today_days)
{
	if (today_days < a->granted_days)
		return POLICY_APPROVAL_NOT_YET;
	if (today_days > a->expires_days)
		return POLICY_APPROVAL_EXPIRED;
	return POLICY_APPROVAL_ACTIVE;
}

bool policy_approval_active(const struct policy_approval *a, int64_t today_days)
{
	return a != NULL && a->approved_by != NULL && policy_approval_state(a, today_days) == POLICY_APPROVAL_ACTIVE;
}

static bool strlist_has(const struct policy_strlist *l, const char *s)
{
	if (s == NULL)
		return false;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

const struct policy_service *policy_find_service(const struct policy *p, const char *id)
{
	for (size_t i = 0; id && i < p->n_services; i++)
		if (p->services[i].id && strcmp(p->services[i].id, id) == 0)
			return &p->services[i];
	return NULL;
}

bool policy_service_active(const struct policy_service *s, int64_t today_days)
{
	return s != NULL && policy_approval_active(&s->approval, today_days);
}

bool policy_service_allows_hook(const struct policy_service *s, const char *hook)
{
	return s && strlist_has(&s->hooks, hook);
}

bool policy_service_allows_prefetch(const struct policy_service *s, const char *fhir_type)
{
	return s && strlist_has(&s->prefetch_read, fhir_type);
}

bool policy_service_allows_action(const struct policy_service *s, enum policy_card_action a, const char *fhir_type)
{
	if (s == NULL)
		return false;
	switch (a) {
	case POLICY_ACTION_CREATE:
		return strlist_has(&s->create, fhir_type);
	case POLICY_ACTION_UPDATE:
		return strlist_has(&s->update, fhir_type);
	case POLICY_ACTION_DELETE:
		return strlist_has(&s->del, fhir_type);
	}
	return false;
}

bool policy_service_allows_smart_link(const struct policy_service *s, const char *url)
{
	if (s == NULL || url == NULL)
		return false;
	for (size_t i = 0; i < s->smart_links.n; i++) {
		size_t n = strlen(s->smart_links.v[i]);

		if (strncmp(url, s->smart_links.v[i], n) == 0 && (url[n] == '\0' || url[n] == '?'))
			return true;
	}
	return false;
}

bool policy_read_approved(const struct policy *p, const char *fhir_type)
{
	return p->fhir.enabled && strlist_has(&p->fhir.read, fhir_type);
}

const struct policy_fhir_write *policy_find_write(const struct policy *p, const char *fhir_type)
{
	for (size_t i = 0; fhir_type && i < p->fhir.n_writes; i++)
		if (strcmp(p->fhir.writes[i].type, fhir_type) == 0)
			return &p->fhir.writes[i];
	return NULL;
}

bool policy_write_approved(const struct policy *p, const char *fhir_type, int64_t today_days)
{
	const struct policy_fhir_write *w = policy_find_write(p, fhir_type);

	return w != NULL && policy_approval_active(&w->approval, today_days);
}

const struct policy_route *policy_find_route(const struct policy *p, const char *name)
{
	for (size_t i = 0; name && i < p->egress.n_routes; i++)
		if (p->egress.routes[i].name && strcmp(p->egress.routes[i].name, name) == 0)
			return &p->egress.routes[i];
	return NULL;
}

bool policy_route_active(const struct policy_route *r, int64_t today_days)
{
	return r != NULL && (!r->has_approval || policy_approval_active(&r->approval, today_days));
}

bool policy_route_path_ok(const struct policy_route *r, const char *path)
{
	/* an encoded '/' or '\\', or a '\\', is a separator to some servers: refused like a dot
	 * segment ("/v1/x/..%2Fadmin") */
	if (r == NULL || path == NULL || has_dot_segment(path) || strchr(path, '\\') || strcasestr(path, "%2f") ||
	    strcasestr(path, "%5c"))
		return false;
	if (r->paths.n == 0)
		return true;
	for (size_t i = 0; i < r->paths.n; i++) {
		const char *pre = r->paths.v[i];
		size_t pl = strlen(pre);
		if (strncmp(path, pre, pl) == 0 && (path[pl] == '\0' || path[pl] == '/' || pre[pl - 1] == '/'))
			return true;
	}
	return false;
}

const struct policy_client *policy_find_client(const struct policy *p, const char *iss)
{
	for (size_t i = 0; iss && i < p->ingress.n_clients; i++)
		if (p->ingress.clients[i].iss && strcmp(p->ingress.clients[i].iss, iss) == 0)
			return &p->ingress.clients[i];
	return NULL;
}

bool policy_client_allows_jku(const struct policy_client *c, const char *jku)
{
	return c && strlist_has(&c->jku_allow, jku);
}

/* --- names and summary --------------------------------------------------------------------- */

const char *policy_ehr_name(enum policy_ehr e)
{
	return (unsigned)e < 3 ? ehr_names[e] : "?";
}

const char *policy_env_name(enum policy_env e)
{
	return (unsigned)e < 2 ? env_names[e] : "?";
}

const char *policy_phi_action_name(enum policy_phi_action a)
{
	return (unsigned)a < 3 ? phi_names[a] : "?";
}

bool policy_hook_name_valid(const char *hook)
{
	size_t i, len;

	if (hook == NULL)
		return false;
	if (in_list(hook, cds_hooks))
		return true;
	/* CDS Hooks 2.0 §Hooks: org-specific names are reverse-domain, e.g. org.example.x. */
	len = strlen(hook);
	if (len == 0 || len > 128 || strchr(hook, '.') == NULL || hook[0] == '.' || hook[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = hook[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
		if (c == '.' && hook[i + 1] == '.')
			return false;
	}
	return true;
}

bool policy_fhir_type_known(const char *type)
{
	return type != NULL && in_list(type, fhir_r4_types);
}

static void count_one(const struct policy_approval *a, int64_t today, struct policy_approval_counts *c)
{
	c->total++;
	switch (policy_approval_state(a, today)) {
	case POLICY_APPROVAL_ACTIVE:
		c->active++;
		if (a->expires_days - today <= POLICY_EXPIRY_NOTICE_DAYS)
			c->expiring_soon++;
		break;
	case POLICY_APPROVAL_EXPIRED:
		c->expired++;
		break;
	case POLICY_APPROVAL_NOT_YET:
		c->not_yet++;
		break;
	}
}

void policy_count_approvals(const struct policy *p, int64_t today_days, struct policy_approval_counts *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < p->n_services; i++)
		count_one(&p->services[i].approval, today_days, out);
	for (size_t i = 0; i < p->fhir.n_writes; i++)
		count_one(&p->fhir.writes[i].approval, today_days, out);
	for (size_t i = 0; i < p->egress.n_routes; i++)
		if (p->egress.routes[i].has_approval)
			count_one(&p->egress.routes[i].approval, today_days, out);
}

void policy_summary(const struct policy *p, int64_t today_days, char *out, size_t outsz)
{
	struct policy_approval_counts c;
	size_t o;

	policy_count_approvals(p, today_days, &c);
	o = (size_t)snprintf(out, outsz, "policy OK: %s, %zu service%s, %zu egress route%s, %zu approval%s expiring within %d days",
			     p->site.id, p->n_services, p->n_services == 1 ? "" : "s", p->egress.n_routes,
			     p->egress.n_routes == 1 ? "" : "s", c.expiring_soon, c.expiring_soon == 1 ? "" : "s",
			     POLICY_EXPIRY_NOTICE_DAYS);
	if (c.expired && o < outsz)
		o += (size_t)snprintf(out + o, outsz - o, ", %zu expired approval%s", c.expired, c.expired == 1 ? "" : "s");
	if (c.not_yet && o < outsz)
		snprintf(out + o, outsz - o, ", %zu approval%s not yet active", c.not_yet, c.not_yet == 1 ? "" : "s");
}
