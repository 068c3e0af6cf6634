/* cds_card — CDS Hooks 2.0 response validation (cards, suggestions, actions, links,
 * systemActions), shared by the sidecar (enforce/report) and the conformance harness.
 *
 * Rule ids are stable and carry the check number of shared/research/cds-hooks.md, e.g.
 * CDS-CARD-044 is check 44 (summary < 140 code points). Messages never quote response values;
 * the JSON pointer says where the problem is.
 */
#ifndef EHRGATE_CDS_CARD_H
#define EHRGATE_CDS_CARD_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

enum cds_level { CDS_MUST = 0, CDS_SHOULD, CDS_POLICY };

#define CDS_POINTER_MAX 160
#define CDS_MSG_MAX 160
#define CDS_FINDINGS_MAX 512

struct cds_finding {
	const char *rule;            /* static string, e.g. "CDS-CARD-044" */
	enum cds_level level;
	int card;                    /* index into cards, -1 for response-level, -2 for systemActions */
	char pointer[CDS_POINTER_MAX];
	char msg[CDS_MSG_MAX];
};

struct cds_findings {
	struct cds_finding v[CDS_FINDINGS_MAX];
	size_t n;
	bool truncated;              /* more findings than CDS_FINDINGS_MAX */
};

const char *cds_level_name(enum cds_level l);

/* Validate a parsed CDS Hooks service response. Returns the number of MUST-level findings. */
size_t cds_validate_response(const cJSON *resp, struct cds_findings *out);
/* Validate one card at cards[index] (pointer prefix /cards/index). Returns MUST findings. */
size_t cds_validate_card(const cJSON *card, int index, struct cds_findings *out);
/* True when a card index has a MUST-level finding. */
bool cds_card_invalid(const struct cds_findings *f, int index);

/* What a site approved for one service (from the site policy). */
struct cds_approvals {
	const char *const *create; size_t n_create;
	const char *const *update; size_t n_update;
	const char *const *del;    size_t n_del;
	const char *const *smart_links; size_t n_smart_links;
	bool allow_app_context;      /* false for EHRs that do not support appContext */
};

/* One change made (or, in report mode, that would be made) to a response. */
struct cds_strip {
	const char *rule;            /* e.g. "POLICY-ACTION-CREATE", "POLICY-LINK", "CDS-CARD-044" */
	int card;                    /* -2 for systemActions */
	char pointer[CDS_POINTER_MAX];
};

struct cds_strips {
	struct cds_strip v[CDS_FINDINGS_MAX];
	size_t n;
	bool truncated;
};

/* Enforce site approvals on a response in place (when apply is true) or only record what would
 * change (report mode). Removes: cards with MUST-level findings (given `findings` from
 * cds_validate_response), suggestions whose actions create/update/delete resource types not
 * approved for that action, SMART links whose URL is not approved (and absolute links are kept),
 * systemActions not approved. A card left with an empty suggestions array loses the array (and
 * its selectionBehavior); a response always keeps a `cards` array. */
void cds_enforce(cJSON *resp, const struct cds_findings *findings, const struct cds_approvals *ap,
		 bool apply, struct cds_strips *out);

#endif
