/* hookreq — the pure (no I/O) CDS Hooks request rules the sidecar applies on ingress:
 * request shape, prefetch minimisation and discovery filtering. Inputs are parsed JSON and the
 * site's approvals as plain arrays, so the rules are testable without a network.
 */
#ifndef EHRGATE_HOOKREQ_H
#define EHRGATE_HOOKREQ_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "lib/err.h"

struct hook_approval {
	const char *id;                              /* service id */
	const char *const *hooks; size_t n_hooks;
	const char *const *read; size_t n_read;      /* resource types approved for prefetch reading */
	bool active;                                 /* approval present and not expired */
};

/* Check the request shape (CDS Hooks 2.0 §HTTP Request; research checks 17–20): hook (string,
 * equal to `expected_hook` when given), hookInstance (a UUID), context (object with the
 * REQUIRED members of the hook's context table 1.J), fhirServer (absolute https/http URL) and
 * fhirAuthorization (object with access_token, token_type Bearer, expires_in, scope, subject)
 * when present, prefetch (object) when present. Returns 0 or -EINVAL with e naming the member
 * (never its value). */
int hookreq_validate(const cJSON *req, struct err *e);

/* True when `s` is an RFC 4122 textual UUID (8-4-4-4-12 hex). */
bool hookreq_is_uuid(const char *s);

/* The resource types a prefetch value carries: its resourceType, or for a Bundle every
 * entry.resource.resourceType. OperationOutcome and null carry none. */
typedef void (*hookreq_type_cb)(const char *type, void *arg);
void hookreq_prefetch_types(const cJSON *value, hookreq_type_cb cb, void *arg);

/* Remove prefetch keys whose resource types are not approved for reading (data
 * minimisation). Removed key names are appended to `removed` (up to max), as pointers into a
 * static-lifetime-free copy: the caller frees each with free(). Returns the number removed. */
size_t hookreq_minimise_prefetch(cJSON *req, const char *const *read, size_t n_read,
				 char **removed, size_t max_removed);

/* The resource type a prefetch template reads: "Patient/{{context.patientId}}" → Patient,
 * "Observation?patient=..." → Observation. Writes "" when it cannot tell. */
void hookreq_template_type(const char *tmpl, char *out, size_t cap);

/* Filter an upstream discovery document in place: keep only services whose (id, hook) the
 * site approved and whose approval is active, and within them only prefetch templates whose
 * resource type is approved for reading. Returns the number of services kept. */
size_t hookreq_filter_discovery(cJSON *disc, const struct hook_approval *ap, size_t n_ap);

/* The hook approval for a service id, or NULL. */
const struct hook_approval *hookreq_find(const struct hook_approval *ap, size_t n, const char *id);
bool hookreq_hook_allowed(const struct hook_approval *a, const char *hook);

#endif
