/* cds_auth — authenticate a CDS Hooks client (the EHR) from its bearer JWT.
 *
 * Implements research/cds-hooks.md checks 27–38 (CDS Hooks 2.0 §Trusting CDS Clients and the
 * best-practices validation steps): ES384/RS384 only, kid in the client's JWK Set, jku only
 * from the allow-list, iss from the allow-list, aud equal to the URL called (string or array),
 * exp/iat/nbf with 60 s skew, a lifetime cap, jti replay refused. Unknown claims (Epic's sub,
 * nbf) are accepted. The failure reason is for the audit log only; the client sees a bare 401.
 */
#ifndef EHRGATE_CDS_AUTH_H
#define EHRGATE_CDS_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "lib/jose.h"
#include "sidecar/replay.h"

#define CDS_AUTH_SKEW_S 60

struct cds_auth_client {
	const char *iss;
	const struct jose_jwks *jwks;          /* borrowed */
	const char *const *jku_allow;
	size_t n_jku_allow;
	unsigned algs;                         /* bitmask of 1u << JOSE_ALG_* */
	unsigned max_lifetime_s;
};

struct cds_auth_result {
	const char *rule;                      /* "ok" or a stable reason, e.g. "jwt-aud" */
	const char *kid_unknown_for_iss;       /* set when the kid was not found: the caller may refresh a JWKS URL */
	int client;                            /* index of the matched client, -1 when none */
	char jti[80];                          /* for the audit record (an opaque id, not PHI) */
	int64_t exp, iat;
};

/* Check the Authorization header value (may be NULL) for a call to called_url at now_s.
 * Returns 0 when authenticated, -EACCES otherwise; res->rule always says why. */
int cds_auth_check(const struct cds_auth_client *clients, size_t n_clients, struct replay_cache *replay,
		   const char *authorization, const char *called_url, int64_t now_s,
		   struct cds_auth_result *res);

#endif
