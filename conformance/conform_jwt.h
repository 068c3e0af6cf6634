/* conform_jwt — the simulated EHR's CDS Hooks JWTs (CDS Hooks 2.0 §Trusting CDS Clients):
 * its signing keys (ES384 and RS384, loaded from PEM files or generated for the run), the JWK
 * Set it publishes, well-formed tokens as the chosen EHR profile signs them, and the forged
 * tokens of research/cds-hooks.md fixture F7 (checks 27-38).
 */
#ifndef EHRGATE_CONFORM_JWT_H
#define EHRGATE_CONFORM_JWT_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "conformance/conform_profile.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/jose.h"

struct conform_keys {
	EVP_PKEY *es384, *rs384; /* the EHR's keys */
	char kid_es384[64], kid_rs384[64];
	EVP_PKEY *rogue;         /* an ES384 key no trusted JWK Set holds */
	char kid_rogue[64];
	cJSON *jwks;             /* public JWK Set of es384 + rs384 */
	cJSON *rogue_jwks;       /* public JWK Set of the rogue key (served at an "attacker" path) */
};

/* Load the PEM private keys in pem (EC P-384 -> ES384, RSA -> RS384; at most one of each) and
 * generate whatever is missing. When trusted_jwks (a JWK Set the target trusts, e.g. the site
 * client's jwks_file) holds a key's public half, that entry's kid is used; otherwise the kid is
 * the RFC 7638 thumbprint. */
int conform_keys_init(struct conform_keys *k, const char *const *pem, size_t n_pem, const cJSON *trusted_jwks,
		      struct err *e) __attribute__((warn_unused_result));
void conform_keys_fini(struct conform_keys *k);
/* RFC 7638 JWK thumbprint (SHA-256, base64url) of a public JWK. */
int conform_jwk_thumbprint(const cJSON *jwk, char *out, size_t cap);
/* Write fresh ES384 and RS384 keys (dir/ehr-es384.pem, dir/ehr-rs384.pem, mode 0600) and their
 * public JWK Set (dir/ehr.jwks.json). */
int conform_keygen(const char *dir, struct err *e) __attribute__((warn_unused_result));

enum conform_token {
	CONFORM_TOK_VALID = 0,  /* the profile's algorithm, lifetime and claims */
	CONFORM_TOK_VALID_ES384,
	CONFORM_TOK_VALID_RS384,
	CONFORM_TOK_AUD_ARRAY,  /* aud as a one-element array (must be accepted) */
	CONFORM_TOK_EHR_EXTRAS, /* Epic-style sub + nbf + 900 s lifetime (must be accepted) */
	CONFORM_TOK_NONE,       /* alg none, empty signature */
	CONFORM_TOK_HS384,      /* HMAC keyed with the public key PEM (key confusion) */
	CONFORM_TOK_NO_KID,
	CONFORM_TOK_NO_ISS,
	CONFORM_TOK_NO_AUD,
	CONFORM_TOK_NO_EXP,
	CONFORM_TOK_NO_IAT,
	CONFORM_TOK_NO_JTI,
	CONFORM_TOK_WRONG_AUD,  /* aud = the discovery URL (or another service's URL) */
	CONFORM_TOK_EXPIRED,    /* exp 10 minutes in the past */
	CONFORM_TOK_UNKNOWN_KEY,/* signed by the rogue key, kid not in the JWK Set */
	CONFORM_TOK_UNKNOWN_ISS,
	CONFORM_TOK_FOREIGN_JKU,/* rogue key, jku pointing at the rogue JWK Set */
};
const char *conform_token_name(enum conform_token t);

struct conform_signer {
	const struct conform_keys *keys;
	const struct conform_profile *profile;
	const char *iss;
	const char *jku;         /* NULL: no jku header */
	const char *rogue_jku;   /* URL of the rogue JWK Set (for CONFORM_TOK_FOREIGN_JKU) */
	const char *sub;         /* client id for profiles that send sub */
	const char *aud_override;/* the site-configured aud (epic), NULL: the URL called */
	const char *wrong_aud;   /* aud used by CONFORM_TOK_WRONG_AUD */
};

/* Mint a token of the given kind for a call to `url` at now_s. The token text is appended to
 * out; jti_out (37 bytes, may be NULL) receives its jti. */
int conform_jwt_mint(const struct conform_signer *s, enum conform_token kind, const char *url, long long now_s,
		     struct buf *out, char *jti_out, struct err *e) __attribute__((warn_unused_result));

#endif
