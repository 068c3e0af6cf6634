/* conform_check — the check catalogue of ehrgate-conform and the results of one run.
 *
 * Every check has a stable id, a group, a level (MUST / SHOULD / POLICY as written in its
 * source), the rule in plain words, the spec reference and advice on how to fix a failure.
 * Ids keep the number of shared/research/cds-hooks.md where one exists (CDS-DISC-005 is check
 * 5); card rules are exactly the ids of lib/cds_card.h (CDS-CARD-0NN, CDS-JSON-003/004,
 * CDS-RESP-039) and site-approval rules are the ids cds_enforce() reports (POLICY-ACTION-*,
 * POLICY-LINK-*). Numbers from 100 up are harness checks with no research row.
 *
 * A run records findings (violations, each with a level and evidence) and counts of
 * evaluations against each check. The status of a check is derived: skip (never evaluated),
 * fail (a MUST-level finding), warn (only SHOULD/POLICY findings), pass.
 */
#ifndef EHRGATE_CONFORM_CHECK_H
#define EHRGATE_CONFORM_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "lib/cds_card.h"

enum conform_group {
	CONFORM_G_DISCOVERY = 0,
	CONFORM_G_PREFETCH,
	CONFORM_G_REQUEST,
	CONFORM_G_AUTH,
	CONFORM_G_HTTP,
	CONFORM_G_CARDS,
	CONFORM_G_FEEDBACK,
	CONFORM_G_LATENCY,
	CONFORM_G_COUNT
};

/* Group names as used by --only and in reports: discovery, prefetch, request, auth, http,
 * cards, feedback, latency. */
const char *conform_group_name(enum conform_group g);
const char *conform_group_title(enum conform_group g);
int conform_group_parse(const char *s, enum conform_group *out);

enum conform_status { CONFORM_SKIP = 0, CONFORM_PASS, CONFORM_WARN, CONFORM_FAIL };
const char *conform_status_name(enum conform_status s);

/* flags */
#define CONFORM_F_PROD_MUST 0x1u /* becomes MUST when the site is production-facing */

struct conform_check_def {
	const char *id;
	enum conform_group group;
	enum cds_level level;
	unsigned flags;
	const char *title; /* the rule in plain words */
	const char *ref;   /* where the rule comes from */
	const char *fix;   /* what to change when it fails */
};

/* The whole catalogue, in report order. */
const struct conform_check_def *conform_catalogue(size_t *n);
const struct conform_check_def *conform_check_find(const char *id);

/* Evidence attached to a finding. Every member is optional (NULL / 0). Strings are copied. */
struct conform_evidence {
	const char *rid;       /* request id of the exchange, e.g. "r0012" */
	const char *service;   /* CDS service id */
	const char *hook;
	const char *variant;   /* request variant, e.g. "prefetch-null" */
	const char *pointer;   /* JSON pointer into the response */
	const char *value;     /* offending value (already truncated by the caller or not) */
	int http_status;       /* 0 = none, -1 = no answer (connection failed / timed out) */
	double elapsed_ms;     /* < 0 = none */
};
#define CONFORM_EVIDENCE_NONE ((struct conform_evidence){.elapsed_ms = -1})

struct conform_finding {
	enum cds_level level;
	char *msg;
	char *rid, *service, *hook, *variant, *pointer, *value;
	int http_status;
	double elapsed_ms;
	unsigned count; /* identical findings are merged; this counts them */
};

#define CONFORM_FINDINGS_KEPT 200/* distinct findings stored per check; more are only counted */

struct conform_result {
	const struct conform_check_def *def;
	enum cds_level level;      /* effective level (site and profile applied) */
	enum conform_status status;
	size_t checked;            /* evaluations (responses validated, probes sent, ...) */
	struct conform_finding *findings;
	size_t n_findings;
	size_t dropped;            /* findings beyond CONFORM_FINDINGS_KEPT */
	char *note;                /* what was evaluated, for passes ("12 responses") */
	char *skip_reason;
	char *weak;                /* set when the expectation comes from weak evidence */
};

struct conform_results;

struct conform_results *conform_results_new(void);
void conform_results_free(struct conform_results *r);
size_t conform_results_count(const struct conform_results *r);
struct conform_result *conform_results_at(struct conform_results *r, size_t i);
/* The result of a check id; aborts on an unknown id (a programming error, caught by tests). */
struct conform_result *conform_result(struct conform_results *r, const char *id);

/* Levels: production-facing sites promote CONFORM_F_PROD_MUST checks to MUST. */
void conform_results_set_production(struct conform_results *r, bool production);
void conform_results_set_level(struct conform_results *r, const char *id, enum cds_level level);
/* Mark a check as resting on weak evidence (text says which and why). */
void conform_results_set_weak(struct conform_results *r, const char *id, const char *why);

/* One evaluation that found nothing wrong. */
void conform_ok(struct conform_results *r, const char *id);
/* A violation at the check's effective level. */
void conform_fail(struct conform_results *r, const char *id, const struct conform_evidence *ev,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A violation at an explicit level (never stronger than the check's effective level). */
void conform_finding(struct conform_results *r, const char *id, enum cds_level level,
		     const struct conform_evidence *ev, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void conform_note(struct conform_results *r, const char *id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Skip (only takes effect when nothing was evaluated). */
void conform_skip(struct conform_results *r, const char *id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record the findings of lib/cds_card for one response (resp may be NULL when it did not
 * parse). Counts one evaluation on every card check; values are taken from resp at each
 * finding's pointer. Returns the number of MUST-level findings recorded. */
size_t conform_add_card_findings(struct conform_results *r, const struct cds_findings *f, const cJSON *resp,
				 const struct conform_evidence *ev);

/* Forget everything recorded for the checks of a group and skip them with reason (--only). */
void conform_results_skip_group(struct conform_results *r, enum conform_group g, const char *reason);

/* Compute every status. Call once after the run (safe to call again). */
void conform_results_finish(struct conform_results *r);

struct conform_summary {
	size_t pass, warn, fail, skip;
	size_t must_failed;        /* checks failed at MUST level (== fail) */
	size_t group_fail[CONFORM_G_COUNT], group_warn[CONFORM_G_COUNT], group_run[CONFORM_G_COUNT];
};
void conform_results_summary(const struct conform_results *r, struct conform_summary *out);

/* Resolve a JSON pointer (RFC 6901) in a tree; NULL when absent. */
const cJSON *conform_json_pointer(const cJSON *root, const char *pointer);
/* Compact JSON text of a value, cut to at most max bytes (with "…" appended when cut). Caller
 * frees. */
char *conform_value_text(const cJSON *v, size_t max);

#endif
