/* policy — the site policy (schema v1, docs/policy.md, DESIGN.md §3.4) as an immutable object.
 *
 * policy_load() reads one YAML file, validates every key, collects *all* problems as
 * `file:line:col: key.path: message` lines in a caller-owned struct policy_diag, and on
 * success returns a read-only tree. The tree is shared by many threads without locks: nothing
 * in it changes after load. Reloading builds a whole new object and swaps a pointer; readers
 * hold a reference (policy_ref / policy_unref, atomic) for as long as they use one version.
 *
 * Ownership: every string and array reachable from a struct policy belongs to that object and
 * lives until its last reference is dropped. Relative paths in the file are resolved against
 * the policy file's directory and stored absolute. Lists are struct policy_strlist values.
 *
 * Approvals: every approval carries who approved it, a reference, the date granted and the
 * expiry. An approval is active on day D when granted <= D <= expires (the expiry date is the
 * last day it is valid). Load does not fail on an expired approval — it is reported as a
 * warning and the decision functions treat it as no approval (fail closed).
 */
#ifndef EHRGATE_POLICY_H
#define EHRGATE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define POLICY_MAX_FILE_BYTES (256u * 1024u) /* larger policy files are refused */
#define POLICY_MAX_ERRORS 100                /* diagnostics stop after this many errors */
#define POLICY_EXPIRY_NOTICE_DAYS 30         /* "expiring within 30 days" in the summary */

enum policy_ehr { POLICY_EHR_EPIC, POLICY_EHR_ORACLE_HEALTH, POLICY_EHR_GENERIC };
enum policy_env { POLICY_ENV_STAGING, POLICY_ENV_PRODUCTION };
enum policy_on_deadline { POLICY_ON_DEADLINE_EMPTY_CARDS, POLICY_ON_DEADLINE_ERROR };
enum policy_card_policy { POLICY_CARDS_ENFORCE, POLICY_CARDS_REPORT };
enum policy_phi_action { POLICY_PHI_ALLOW, POLICY_PHI_REDACT, POLICY_PHI_BLOCK };
enum policy_fsync { POLICY_FSYNC_ALWAYS, POLICY_FSYNC_BATCH };
enum policy_on_failure { POLICY_ON_FAILURE_DENY };
enum policy_card_action { POLICY_ACTION_CREATE, POLICY_ACTION_UPDATE, POLICY_ACTION_DELETE };
enum policy_approval_state { POLICY_APPROVAL_ACTIVE, POLICY_APPROVAL_EXPIRED, POLICY_APPROVAL_NOT_YET };

/* JWS algorithms a trusted CDS client may use (CDS Hooks 2.0 §JWT: RS384/ES384; never none or
 * HMAC). */
#define POLICY_ALG_ES384 0x1u
#define POLICY_ALG_RS384 0x2u

/* HTTP methods an egress route accepts. */
#define POLICY_METHOD_GET 0x01u
#define POLICY_METHOD_POST 0x02u
#define POLICY_METHOD_PUT 0x04u
#define POLICY_METHOD_PATCH 0x08u
#define POLICY_METHOD_DELETE 0x10u

struct policy_strlist {
	const char *const *v;
	size_t n;
};

struct policy_addr {
	const char *text; /* as written: "127.0.0.1:8710", "[::1]:8711" */
	const char *host; /* without brackets: "127.0.0.1", "::1", "localhost" */
	uint16_t port;    /* 0 = any free port (tests) */
	bool loopback;
};

struct policy_approval {
	const char *approved_by;
	const char *reference;
	int64_t granted_days; /* days since 1970-01-01 (clock_parse_date) */
	int64_t expires_days; /* last day the approval is valid */
	int line, col;        /* position of the approval mapping in the file */
};

struct policy_client {
	const char *iss;
	const char *jwks_file; /* absolute path, or NULL */
	const char *jwks_url;  /* or NULL; exactly one of the two is set */
	struct policy_strlist jku_allow;
	unsigned algs; /* POLICY_ALG_* bitmask, never 0 */
	unsigned max_token_lifetime_s;
	unsigned jwks_refresh_min_s; /* jwks_url: refetch on an unknown kid at most this often (60) */
};

struct policy_service {
	const char *id;
	struct policy_strlist hooks;
	struct policy_strlist prefetch_read;      /* FHIR types the prefetch may read */
	struct policy_strlist create, update, del; /* card_actions */
	struct policy_strlist smart_links;
	struct policy_approval approval;
};

struct policy_fhir_write {
	const char *type;
	struct policy_approval approval;
};

struct policy_route {
	const char *name;
	const char *url; /* no trailing slash */
	bool baa;
	enum policy_phi_action phi;
	bool has_approval;
	struct policy_approval approval;
	unsigned methods; /* POLICY_METHOD_* */
	size_t max_body_bytes;
	unsigned timeout_ms;
	bool is_fhir; /* the route "fhir", made from the fhir: section */
	/* phi_allow_types: pattern-found identifier types this route may receive (bit i =
	 * policy_phi_type_names[i]); the patient's own identifiers are never allowed this way */
	uint32_t phi_allow_types;
	/* paths: the path prefixes under url the AI service may call; n == 0: any path */
	struct policy_strlist paths;
};

/* The PHI scanner's identifier type names, in the order of enum phi_type (sidecar/phi.h;
 * sidecar/phi_test.c checks the two agree). NULL-terminated. */
extern const char *const policy_phi_type_names[];

struct policy {
	int version;
	const char *path; /* absolute path of the policy file */
	const char *dir;  /* absolute directory: base of relative paths */
	struct {
		const char *id, *name;
		enum policy_ehr ehr;
		enum policy_env env;
	} site;
	struct {
		struct policy_addr listen;
		const char *public_base_url; /* no trailing slash */
		const char *upstream;        /* no trailing slash */
		unsigned deadline_ms;
		enum policy_on_deadline on_deadline;
		enum policy_card_policy card_policy;
		size_t max_body_bytes;
		const char *tls_cert, *tls_key; /* absolute paths, both NULL without tls */
		const struct policy_client *clients;
		size_t n_clients;
		unsigned workers;
	} ingress;
	struct {
		bool enabled;
		struct policy_addr listen;
	} admin;
	const struct policy_service *services;
	size_t n_services;
	struct {
		bool enabled;
		const char *base; /* no trailing slash */
		struct policy_strlist read;
		const struct policy_fhir_write *writes;
		size_t n_writes;
	} fhir;
	struct {
		struct policy_addr listen;
		const struct policy_route *routes; /* includes the "fhir" route when fhir.enabled */
		size_t n_routes;
		const char *ca_file; /* absolute path of a PEM trust store, or NULL = system store */
	} egress;
	struct {
		struct policy_strlist mrn_patterns, member_id_patterns; /* compile with Vectorscan */
		struct policy_strlist date_exempt_keys; /* JSON member names whose dates are not PHI */
		struct policy_strlist url_allow;        /* URL prefixes that are not identifiers */
	} phi;
	struct {
		const char *dir;                 /* absolute */
		const char *reviewer_public_key; /* absolute paths */
		const char *signer_key;
		const char *index_key;
		enum policy_fsync fsync;
		enum policy_on_failure on_failure;
		unsigned batch_max_delay_ms;
	} audit;
};

/* --- diagnostics --------------------------------------------------------------------------- */

enum policy_diag_level { POLICY_DIAG_ERROR, POLICY_DIAG_WARNING, POLICY_DIAG_NOTE };

struct policy_diag_entry {
	enum policy_diag_level level;
	int line, col; /* 0 for file-level problems */
	char *text;    /* the whole line as printed, without newline ("warning: " / "note: " prefix
			* included for those levels) */
};

struct policy_diag {
	struct policy_diag_entry *v;
	size_t n, cap;
	size_t n_errors, n_warnings, n_notes;
};

void policy_diag_init(struct policy_diag *d);
void policy_diag_fini(struct policy_diag *d); /* frees every entry; d can be re-initialised */
/* Write every entry, one per line, in file order. Returns 0 or -EIO. */
int policy_diag_print(const struct policy_diag *d, FILE *f);

/* --- loading ------------------------------------------------------------------------------- */

struct policy_load_opts {
	bool today_set;        /* classify approvals against today_days instead of the UTC date */
	int64_t today_days;
	bool skip_file_checks; /* do not open referenced files (JWKS, keys, TLS): fuzzing only */
};

/* Load and validate the policy at path. `path` is also the name used in diagnostics. opts may
 * be NULL. On success returns 0 and *out holds one reference (release with policy_unref);
 * warnings and notes may still be in diag. On failure returns a negative errno (-EINVAL for
 * policy errors, -E2BIG for an oversized file, -ENOENT/-EACCES/... when it cannot be read),
 * *out is NULL and diag holds at least one error line. diag must be initialised; entries are
 * appended to what it already holds. */
int policy_load(const char *path, const struct policy_load_opts *opts, struct policy **out,
		struct policy_diag *diag) __attribute__((warn_unused_result));

/* The same from a memory buffer (the fuzz target, tests). name is used in diagnostics and its
 * directory is the base for relative paths. */
int policy_load_buffer(const char *name, const char *data, size_t len, const struct policy_load_opts *opts,
		       struct policy **out, struct policy_diag *diag) __attribute__((warn_unused_result));

/* Reference counting (atomic; any thread). policy_unref(NULL) is a no-op; the last unref frees
 * the whole tree. */
void policy_ref(const struct policy *p);
void policy_unref(const struct policy *p);

/* --- decisions (all pure; safe from any thread) ---------------------------------------------- */

/* Today's date in days since the epoch (UTC). */
int64_t policy_today_days(void);
enum policy_approval_state policy_approval_state(const struct policy_approval *a, int64_t today_days);
/* granted <= today <= expires. */
bool policy_approval_active(const struct policy_approval *a, int64_t today_days);

const struct policy_service *policy_find_service(const struct policy *p, const char *id);
/* The service exists and its approval is active on today_days (an expired service is off). */
bool policy_service_active(const struct policy_service *s, int64_t today_days);
bool policy_service_allows_hook(const struct policy_service *s, const char *hook);
bool policy_service_allows_prefetch(const struct policy_service *s, const char *fhir_type);
bool policy_service_allows_action(const struct policy_service *s, enum policy_card_action a,
				  const char *fhir_type);
/* A SMART link is allowed when it equals an approved URL or is one followed by '?' and a query
 * (the EHR appends launch/iss parameters). */
bool policy_service_allows_smart_link(const struct policy_service *s, const char *url);
/* fhir.read lists the type. */
bool policy_read_approved(const struct policy *p, const char *fhir_type);
/* The fhir.write entry for type, or NULL. Check policy_approval_active before writing. */
const struct policy_fhir_write *policy_find_write(const struct policy *p, const char *fhir_type);
/* true when fhir.write lists type and its approval is active on today_days. */
bool policy_write_approved(const struct policy *p, const char *fhir_type, int64_t today_days);
const struct policy_route *policy_find_route(const struct policy *p, const char *name);
/* A route may be used when it has no approval or its approval is active. */
bool policy_route_active(const struct policy_route *r, int64_t today_days);
/* May the AI service call path (what follows /<route> in its request, percent-encoded as sent;
 * "" for the route's root) on route r? Never a path with a dot segment ("/../", "/.",
 * "%2e%2e"), a backslash or an encoded '/' or '\' ("%2F", "%5C"); with r->paths, only a
 * listed prefix, whole segments ("/v1/chat" admits "/v1/chat" and "/v1/chat/x", not
 * "/v1/chatx"). */
bool policy_route_path_ok(const struct policy_route *r, const char *path);
const struct policy_client *policy_find_client(const struct policy *p, const char *iss);
bool policy_client_allows_jku(const struct policy_client *c, const char *jku);

/* --- names and summary --------------------------------------------------------------------- */

const char *policy_ehr_name(enum policy_ehr e);        /* "epic", "oracle-health", "generic" */
const char *policy_env_name(enum policy_env e);        /* "staging", "production" */
const char *policy_phi_action_name(enum policy_phi_action a); /* "allow", "redact", "block" */
/* A CDS Hooks library hook name or an org-specific reverse-domain name. */
bool policy_hook_name_valid(const char *hook);
/* One of the FHIR R4 (4.0.1) resource type names. */
bool policy_fhir_type_known(const char *type);

struct policy_approval_counts {
	size_t total, active, expired, not_yet, expiring_soon; /* soon: active, expires <= today+30 */
};
void policy_count_approvals(const struct policy *p, int64_t today_days, struct policy_approval_counts *out);
/* "policy OK: demo-general, 2 services, 4 egress routes, 1 approval expiring within 30 days"
 * (plus ", N expired approvals" / ", N approvals not yet active" when nonzero). */
void policy_summary(const struct policy *p, int64_t today_days, char *out, size_t outsz);

#endif
