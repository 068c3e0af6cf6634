/* phi — the PHI scanner: HIPAA Safe Harbor patterns + the known patient's own identifiers.
 *
 * One call scans one body. The body is decoded first (JSON strings/keys/numbers, form fields,
 * or plain text) into a scan text with an offset map, so every finding is reported as byte
 * offsets into the RAW input, and redaction can rewrite the raw bytes in place.
 *
 * Two detectors run over the decoded text (research/phi.md §4.2, DESIGN.md §3.1):
 *   (a) patterns for the Safe Harbor identifiers (45 CFR 164.514(b)(2)(i) A–R): literal-anchored
 *       expressions and the site's MRN/member-id formats compiled once per configuration into
 *       one Vectorscan database, plus a one-pass shape scanner for the digit-shaped identifiers
 *       (SSN, phone, ZIP, IPv4, numeric dates, MBI, VIN) whose expressions cannot be anchored
 *       on a literal; every candidate is confirmed by a validator;
 *   (b) the identifiers of the patient in context (names, birth date, MRN and other
 *       identifier values, phones, emails, address lines, city, ZIP), normalised and matched
 *       with a per-context token hash (no per-request regex compile).
 *
 * Ownership and threads:
 *   - struct phi_engine is immutable after phi_engine_new() and may be shared by any number of
 *     threads. It owns the Vectorscan database.
 *   - struct phi_scratch belongs to ONE thread at a time (one per worker thread). It owns the
 *     decode buffers and a Vectorscan scratch cloned from the engine's prototype.
 *   - struct phi_context (a patient's identifiers) is immutable after it is built and may be
 *     shared read-only across threads. It is one heap block, wiped (sodium_memzero) on free;
 *     the JSON parse tree it was built from is wiped before it is freed.
 *   - struct phi_findings is caller-owned. Findings hold offsets only, never PHI text.
 * Error messages never contain request data.
 */
#ifndef EHRGATE_PHI_H
#define EHRGATE_PHI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

enum phi_type {
	PHI_T_NAME,        /* A  names (patient, relatives) */
	PHI_T_ADDRESS,     /* B  street address */
	PHI_T_CITY,        /* B  city (geographic subdivision smaller than a state) */
	PHI_T_ZIP,         /* B  ZIP5 (with address context) and ZIP+4 */
	PHI_T_DATE,        /* C  all elements of dates except year */
	PHI_T_AGE,         /* C  ages over 89 */
	PHI_T_PHONE,       /* D */
	PHI_T_FAX,         /* E */
	PHI_T_EMAIL,       /* F */
	PHI_T_SSN,         /* G */
	PHI_T_MRN,         /* H  site formats from configuration, or the patient's MR identifier */
	PHI_T_MEMBER_ID,   /* I  health-plan member ids (site formats, Coverage.subscriberId) */
	PHI_T_MBI,         /* I  Medicare Beneficiary Identifier */
	PHI_T_IDENTIFIER,  /* J/K/R  any other identifier value of the patient, FHIR logical id */
	PHI_T_VIN,         /* L */
	PHI_T_URL,         /* N */
	PHI_T_IP,          /* O */
	PHI_T__COUNT
};

#define PHI_TYPE_BIT(t) (1u << (unsigned)(t))
#define PHI_TYPES_ALL   ((1u << PHI_T__COUNT) - 1u)

enum phi_source { PHI_SRC_PATTERN, PHI_SRC_KNOWN };

/* How the caller says the body is encoded. JSON that does not parse is scanned as TEXT. */
enum phi_body { PHI_BODY_JSON, PHI_BODY_TEXT, PHI_BODY_FORM };

/* Where in the raw body a finding lies (decides how redaction rewrites it). */
enum phi_where {
	PHI_IN_TEXT,    /* plain text body */
	PHI_IN_STRING,  /* inside a JSON string value */
	PHI_IN_KEY,     /* inside a JSON member name */
	PHI_IN_NUMBER,  /* inside a JSON number token: redaction replaces the whole token */
	PHI_IN_FORM     /* inside a form key or value (percent-encoded) */
};

struct phi_finding {
	size_t start, end;           /* raw byte offsets, [start, end) */
	enum phi_type type;
	enum phi_source source;
	enum phi_where where;
	size_t tok_start, tok_end;   /* raw span of the enclosing JSON token / form field */
};

struct phi_findings {
	struct phi_finding *v;
	size_t n, cap, max;
	enum phi_body kind;          /* what was actually scanned (JSON may fall back to TEXT) */
};

struct phi_config {
	/* Site MRN and member-id formats (Vectorscan/PCRE-subset regex strings, DESIGN.md §3.4
	 * `phi.mrn_patterns`, `phi.member_id_patterns`). A match must not touch a letter or digit
	 * on either side. Copied at phi_engine_new(); the caller keeps ownership. */
	const char *const *mrn_patterns;
	size_t n_mrn;
	const char *const *member_id_patterns;
	size_t n_member;
	/* URL prefixes that are not PHI, added to the built-in code-system list (e.g. the site's
	 * own FHIR base or CDS service URL). Compared without scheme, host case-insensitively. */
	const char *const *url_allow_prefixes;
	size_t n_url_allow;
	/* JSON member names whose string values are never reported as pattern DATEs (e.g.
	 * "lastUpdated"). Default: none — see the date decision in phi.c. */
	const char *const *date_exempt_keys;
	size_t n_date_exempt;
	uint32_t types_enabled_mask; /* pattern findings reported (PHI_TYPE_BIT); default ALL */
	uint32_t known_types_mask;   /* known-patient findings reported; default ALL */
	size_t max_body;             /* larger bodies are refused with -E2BIG (default 16 MiB) */
	size_t max_findings;         /* more findings fail with -E2BIG (default 1,000,000) */
	/* Tests and benchmarks: scan every site pattern over the whole text instead of only
	 * around long digit runs (phi.c site_scan). The findings are the same either way. */
	bool no_site_windows;
};

struct phi_engine;
struct phi_scratch;
struct phi_context;

/* Defaults: every type on, no site patterns, no exemptions. */
void phi_config_init(struct phi_config *cfg);

/* Compile the configuration once. *out is immutable and thread-safe. Errors: -EINVAL with the
 * index of a bad site pattern and Vectorscan's message, -ENOTSUP when the CPU is unsupported. */
int phi_engine_new(const struct phi_config *cfg, struct phi_engine **out, struct err *e)
	__attribute__((warn_unused_result));
void phi_engine_free(struct phi_engine *eng);
/* Size of the compiled Vectorscan database in bytes (for metrics / bench). */
size_t phi_engine_db_bytes(const struct phi_engine *eng);

/* Per-thread scratch. NULL only if Vectorscan cannot allocate (treat as fatal). */
struct phi_scratch *phi_scratch_new(const struct phi_engine *eng);
void phi_scratch_free(struct phi_scratch *s);

/* Build the known-identifier set of the patient(s) described by json: a FHIR Patient, a
 * RelatedPerson, a Bundle, a CDS Hooks prefetch object or a whole CDS Hooks request (every
 * Patient/RelatedPerson/Person/Coverage found at any depth contributes). The parse tree is
 * wiped before it is freed; *out is one heap block wiped on free. -EINVAL when json does not
 * parse, -ENOENT when no identifying resource is found (*out stays NULL). */
int phi_context_from_patient_json(const char *json, size_t len, struct phi_context **out,
				  struct err *e) __attribute__((warn_unused_result));
/* The same from a parse tree the caller owns (and wipes): the sidecar's ingress builds the
 * context from the hook request it has already parsed. */
struct cJSON;
int phi_context_from_tree(const struct cJSON *root, struct phi_context **out, struct err *e)
	__attribute__((warn_unused_result));
/* Wipes and frees. NULL is a no-op. */
void phi_context_free(struct phi_context *ctx);
/* Number of match keys in the context (names, identifiers, dates ...); for tests and metrics. */
size_t phi_context_size(const struct phi_context *ctx);

/* Findings list with at most max entries (0 = engine default at scan time). */
void phi_findings_init(struct phi_findings *f, size_t max);
void phi_findings_fini(struct phi_findings *f);

/* Scan body (len bytes) decoded as kind. ctx may be NULL. On success out holds the findings
 * sorted by start offset (overlapping findings of one type are merged into one span).
 * Errors (the caller must treat the body as unscanned — fail closed): -E2BIG body or finding
 * limit, -ENOMEM Vectorscan scratch failure. */
int phi_scan(const struct phi_engine *eng, struct phi_scratch *s, const struct phi_context *ctx,
	     const char *body, size_t len, enum phi_body kind, struct phi_findings *out,
	     struct err *e) __attribute__((warn_unused_result));

/* Drop findings whose type is in types_mask and whose source is in sources (bit 1<<source),
 * e.g. a route that allows dates: phi_findings_drop(f, PHI_TYPE_BIT(PHI_T_DATE), 1u << PHI_SRC_PATTERN). */
void phi_findings_drop(struct phi_findings *f, uint32_t types_mask, unsigned sources);

/* Write body with every finding replaced by "[REDACTED:TYPE]" into out (appended). Overlapping
 * findings are redacted as one span (the first finding's type). f must come from phi_scan of the
 * same bytes. JSON output stays valid JSON: replacements go inside strings, and a finding inside
 * a number replaces the whole number token with the string "[REDACTED:TYPE]". (A finding in a
 * member name is redacted in place too; two redacted names in one object can then collide —
 * valid RFC 8259, but rejected by parsers that refuse duplicate names.) Form output is
 * percent-encoded. -E2BIG if out's maximum is reached, -EINVAL if a finding is out of range. */
int phi_redact(const char *body, size_t len, const struct phi_findings *f, struct buf *out,
	       struct err *e) __attribute__((warn_unused_result));

/* "SSN", "PHONE", ... ; "?" for an unknown value. */
const char *phi_type_name(enum phi_type t);
/* Inverse of phi_type_name (case-insensitive); -1 when unknown. */
int phi_type_from_name(const char *name);
const char *phi_source_name(enum phi_source s);

#endif
