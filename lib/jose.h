/* jose — JWS compact tokens (RFC 7515) and JWK Sets (RFC 7517) for the two algorithms CDS Hooks
 * allows: ES384 and RS384 (RFC 7518 §3.3, §3.4; CDS Hooks 2.0 §JWT Signing Algorithm —
 * research/cds-hooks.md checks 29–31). `none` and every HMAC algorithm are refused before any
 * key is looked up, and a key is only used with the algorithm family of its own `kty`
 * (no RSA/EC/HMAC confusion).
 *
 * Used by the sidecar (verify) and the conformance harness (sign, serve a JWKS).
 */
#ifndef EHRGATE_JOSE_H
#define EHRGATE_JOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "lib/buf.h"
#include "lib/err.h"

#define JOSE_MAX_TOKEN 16384     /* bytes of a compact JWS we accept */
#define JOSE_MAX_KEYS 64         /* keys in one JWK Set */

enum jose_alg { JOSE_ALG_NONE = 0, JOSE_ALG_ES384 = 1, JOSE_ALG_RS384 = 2 };

/* Why a token was refused. Stable names (jose_fail_name) go into audit records, never to the
 * client (research/cds-hooks.md check 38: rejections leak no detail). */
enum jose_fail {
	JOSE_OK = 0,
	JOSE_FAIL_MALFORMED,   /* not three base64url parts, bad JSON, oversize */
	JOSE_FAIL_ALG,         /* none, HS*, unknown, or not allowed by policy */
	JOSE_FAIL_CRIT,        /* crit header present (RFC 7515 §4.1.11: we understand no extensions) */
	JOSE_FAIL_KID,         /* kid missing or not in the JWK Set */
	JOSE_FAIL_KEY_TYPE,    /* the kid's key does not match alg */
	JOSE_FAIL_SIGNATURE,   /* signature does not verify */
};
const char *jose_fail_name(enum jose_fail f);

const char *jose_alg_name(enum jose_alg a);
enum jose_alg jose_alg_parse(const char *s); /* JOSE_ALG_NONE for anything we refuse */

/* base64url without padding (RFC 7515 §2). decode refuses padding, whitespace and bad chars. */
int jose_b64url_encode(const void *in, size_t len, struct buf *out) __attribute__((warn_unused_result));
int jose_b64url_decode(const char *in, size_t len, struct buf *out) __attribute__((warn_unused_result));

/* A parsed JWK Set (public keys only). Immutable after parsing; shareable across threads. */
struct jose_jwks;
int jose_jwks_parse(const char *json, size_t len, struct jose_jwks **out, struct err *e);
void jose_jwks_free(struct jose_jwks *k);
size_t jose_jwks_count(const struct jose_jwks *k);
/* Borrowed key for kid, or NULL. *alg_out is the algorithm family of the key's kty. */
EVP_PKEY *jose_jwks_find(const struct jose_jwks *k, const char *kid, enum jose_alg *alg_out);

/* A verified (or failed) token. Caller owns it; free with jose_token_fini. */
struct jose_token {
	enum jose_alg alg;
	char *kid, *jku, *typ;    /* NULL when absent */
	cJSON *header, *claims;   /* parsed JSON, NULL when malformed */
};
void jose_token_fini(struct jose_token *t);

/* Parse and verify a compact JWS against keys. `allowed_algs` is a bitmask of 1<<JOSE_ALG_*.
 * On success returns JOSE_OK and fills t (claims are NOT validated here: see the sidecar's
 * cds_auth for iss/aud/exp/jti). On failure returns the reason; t may hold the parsed header
 * (for audit: kid, alg) but its claims must not be trusted. */
enum jose_fail jose_verify(const char *token, size_t len, const struct jose_jwks *keys,
			   unsigned allowed_algs, struct jose_token *t);

/* Sign claims as a compact JWS with typ JWT. kid required; jku optional. Appends to out. */
int jose_sign(enum jose_alg alg, EVP_PKEY *key, const char *kid, const char *jku,
	      const cJSON *claims, struct buf *out, struct err *e) __attribute__((warn_unused_result));
/* Sign arbitrary header/payload JSON text (used by the harness to forge bad tokens). */
int jose_sign_raw(enum jose_alg alg, EVP_PKEY *key, const char *header_json, const char *payload_json,
		  struct buf *out, struct err *e) __attribute__((warn_unused_result));

/* Public JWK for a key (kty EC P-384 or RSA), with kid and alg. Caller owns the result. */
cJSON *jose_jwk_from_pkey(EVP_PKEY *key, const char *kid, enum jose_alg alg);
/* Load a PEM private key from a file. */
EVP_PKEY *jose_load_private_pem(const char *path, struct err *e);

#endif
