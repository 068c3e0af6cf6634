/* jose — JWS compact serialisation and JWK Sets with OpenSSL 3 EVP, restricted to ES384 and
 * RS384. Owns the EVP_PKEYs inside a jose_jwks and the strings/JSON inside a jose_token. */
#include "lib/jose.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "lib/b64.h"
#include "lib/json.h"
#include "lib/mem.h"

#define ES384_COORD 48  /* RFC 7518 §3.4: R and S are 48 octets each for P-384 */

static const char *const fail_names[] = {
	"ok", "jwt-malformed", "jwt-alg", "jwt-crit", "jwt-kid", "jwt-key-type", "jwt-signature",
};

const char *jose_fail_name(enum jose_fail f)
{
	return (unsigned)f < sizeof(fail_names) / sizeof(fail_names[0]) ? fail_names[f] : "jwt-unknown";
}

const char *jose_alg_name(enum jose_alg a)
{
	return a == JOSE_ALG_ES384 ? "ES384" : a == JOSE_ALG_RS384 ? "RS384" : "none";
}

enum jose_alg jose_alg_parse(const char *s)
{
	/* Case-sensitive (RFC 7515 §4.1.1). Everything else, including "none" and HS*, is refused. */
	if (s && strcmp(s, "ES384") == 0)
		return JOSE_ALG_ES384;
	if (s && strcmp(s, "RS384") == 0)
		return JOSE_ALG_RS384;
	return JOSE_ALG_NONE;
}

/* --- base64url (lib/b64: libsodium) ------------------------------------------------------- */

int jose_b64url_encode(const void *in, size_t len, struct buf *out)
{
	return b64_encode(in, len, B64_URL_NOPAD, out);
}

int jose_b64url_decode(const char *in, size_t len, struct buf *out)
{
	return b64_decode(in, len, B64_URL_NOPAD, out);
}

/* --- JWK Set ------------------------------------------------------------------------------ */

struct jose_key {
	char *kid;
	enum jose_alg alg;
	EVP_PKEY *pkey;
};

struct jose_jwks {
	struct jose_key keys[JOSE_MAX_KEYS];
	size_t n;
};

static int b64_member(const cJSON *jwk, const char *name, struct buf *out, size_t max)
{
	const char *s = json_str(jwk, name);

	buf_init(out, max);
	if (s == NULL)
		return -ENOENT;
	return jose_b64url_decode(s, strlen(s), out);
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static EVP_PKEY *ec_key_from_jwk(const cJSON *jwk, struct err *e)
{
	struct buf x, y;
	unsigned char pub[1 + 2 * ES384_COORD];
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *chk = NULL;
	const char *crv = json_str(jwk, "crv");

	buf_init(&x, 0);
	buf_init(&y, 0);
	if (crv == NULL || strcmp(crv, "P-384") != 0) {
		err_set(e, -EINVAL, "EC key must use crv P-384");
		goto out;
	}
	if (b64_member(jwk, "x", &x, 64) < 0 || b64_member(jwk, "y", &y, 64) < 0 ||
	    x.len != ES384_COORD || y.len != ES384_COORD) {
		err_set(e, -EINVAL, "EC key x/y must be 48-byte base64url values");
		goto out;
	}
	pub[0] = 0x04; /* SEC 1 uncompressed point */
	memcpy(pub + 1, x.p, ES384_COORD);
	memcpy(pub + 1 + ES384_COORD, y.p, ES384_COORD);
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "secp384r1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub))) {
		err_set(e, -ENOMEM, "OpenSSL parameter build failed");
		goto out;
	}
	pkey = pkey_fromdata("EC", bld);
	if (pkey == NULL) {
		err_set(e, -EINVAL, "EC key is not a valid P-384 point");
		goto out;
	}
	chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (chk == NULL || EVP_PKEY_public_check(chk) != 1) {
		err_set(e, -EINVAL, "EC key point is not on the curve");
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	EVP_PKEY_CTX_free(chk);
	OSSL_PARAM_BLD_free(bld);
	buf_fini(&x);
	buf_fini(&y);
	return pkey;
}

static EVP_PKEY *rsa_key_from_jwk(const cJSON *jwk, struct err *e)
{
	struct buf n, ex;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if (b64_member(jwk, "n", &n, 1024) < 0 || b64_member(jwk, "e", &ex, 16) < 0 ||
	    n.len == 0 || ex.len == 0) {
		err_set(e, -EINVAL, "RSA key needs base64url n and e");
		goto out;
	}
	bn_n = BN_bin2bn((const unsigned char *)n.p, (int)n.len, NULL);
	bn_e = BN_bin2bn((const unsigned char *)ex.p, (int)ex.len, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (!bn_n || !bn_e || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)) {
		err_set(e, -ENOMEM, "OpenSSL parameter build failed");
		goto out;
	}
	pkey = pkey_fromdata("RSA", bld);
	if (pkey == NULL) {
		err_set(e, -EINVAL, "RSA key is not valid");
	} else if (EVP_PKEY_get_bits(pkey) < 2048) {
		/* RFC 7518 §3.3: a key of size 2048 bits or larger MUST be used with RS* */
		err_set(e, -EINVAL, "RSA key shorter than 2048 bits");
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	BN_free(bn_n);
	BN_free(bn_e);
	OSSL_PARAM_BLD_free(bld);
	buf_fini(&n);
	buf_fini(&ex);
	return pkey;
}

int jose_jwks_parse(const char *json, size_t len, struct jose_jwks **out, struct err *e)
{
	struct json_limits lim = {.max_bytes = 256 * 1024, .max_depth = 8};
	struct jose_jwks *k = NULL;
	cJSON *root, *keys, *jwk;
	int rc = 0, i = 0;

	*out = NULL;
	root = json_parse(json, len, &lim, e);
	if (root == NULL)
		return err_prefix(e, "JWKS");
	keys = json_arr(root, "keys");
	if (keys == NULL) {
		rc = err_set(e, -EINVAL, "JWKS has no \"keys\" array");
		goto out;
	}
	k = xcalloc(1, sizeof(*k));
	cJSON_ArrayForEach(jwk, keys) {
		const char *kty = json_str(jwk, "kty"), *kid = json_str(jwk, "kid");
		const char *use = json_str(jwk, "use"), *alg = json_str(jwk, "alg");
		enum jose_alg fam;
		EVP_PKEY *pkey;

		i++;
		if (kty == NULL || kid == NULL || *kid == '\0') {
			rc = err_set(e, -EINVAL, "JWKS key %d: kty and kid are required", i);
			goto out;
		}
		/* Skip keys that are not for signatures or are of other types (RFC 7517 §4.2, §5). */
		if (use && strcmp(use, "sig") != 0)
			continue;
		if (strcmp(kty, "EC") == 0)
			fam = JOSE_ALG_ES384;
		else if (strcmp(kty, "RSA") == 0)
			fam = JOSE_ALG_RS384;
		else
			continue;
		if (alg && jose_alg_parse(alg) != fam)
			continue; /* key declared for an algorithm we do not accept */
		if (json_str(jwk, "d") || json_str(jwk, "p")) {
			rc = err_set(e, -EINVAL, "JWKS key %d (kid %s) contains private key material", i, kid);
			goto out;
		}
		for (size_t j = 0; j < k->n; j++) {
			if (strcmp(k->keys[j].kid, kid) == 0) {
				rc = err_set(e, -EINVAL, "JWKS key %d: duplicate kid", i);
				goto out;
			}
		}
		if (k->n == JOSE_MAX_KEYS) {
			rc = err_set(e, -E2BIG, "JWKS has more than %d keys", JOSE_MAX_KEYS);
			goto out;
		}
		pkey = fam == JOSE_ALG_ES384 ? ec_key_from_jwk(jwk, e) : rsa_key_from_jwk(jwk, e);
		if (pkey == NULL) {
			rc = err_prefix(e, "JWKS key %d", i);
			goto out;
		}
		k->keys[k->n].kid = xstrdup(kid);
		k->keys[k->n].alg = fam;
		k->keys[k->n].pkey = pkey;
		k->n++;
	}
	*out = k;
	k = NULL;
out:
	jose_jwks_free(k);
	cJSON_Delete(root);
	return rc;
}

void jose_jwks_free(struct jose_jwks *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; i < k->n; i++) {
		free(k->keys[i].kid);
		EVP_PKEY_free(k->keys[i].pkey);
	}
	free(k);
}

size_t jose_jwks_count(const struct jose_jwks *k)
{
	return k ? k->n : 0;
}

EVP_PKEY *jose_jwks_find(const struct jose_jwks *k, const char *kid, enum jose_alg *alg_out)
{
	*alg_out = JOSE_ALG_NONE;
	if (k == NULL || kid == NULL)
		return NULL;
	for (size_t i = 0; i < k->n; i++) {
		if (strcmp(k->keys[i].kid, kid) == 0) {
			*alg_out = k->keys[i].alg;
			return k->keys[i].pkey;
		}
	}
	return NULL;
}

/* --- verify -------------------------------------------------------------------------------- */

void jose_token_fini(struct jose_token *t)
{
	free(t->kid);
	free(t->jku);
	free(t->typ);
	cJSON_Delete(t->header);
	cJSON_Delete(t->claims);
	memset(t, 0, sizeof(*t));
}

static cJSON *decode_json_part(const char *p, size_t len)
{
	struct json_limits lim = {.max_bytes = JOSE_MAX_TOKEN, .max_depth = 8};
	struct buf raw;
	cJSON *j = NULL;

	buf_init(&raw, JOSE_MAX_TOKEN);
	if (jose_b64url_decode(p, len, &raw) == 0 && raw.len > 0)
		j = json_parse(raw.p, raw.len, &lim, NULL);
	buf_fini(&raw);
	if (j && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

static bool es384_raw_to_der(const unsigned char *raw, size_t len, unsigned char **der, int *der_len)
{
	ECDSA_SIG *sig;
	BIGNUM *r, *s;

	*der = NULL;
	*der_len = 0;
	if (len != 2 * ES384_COORD)
		return false;
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(raw, ES384_COORD, NULL);
	s = BN_bin2bn(raw + ES384_COORD, ES384_COORD, NULL);
	if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return false;
	}
	*der_len = i2d_ECDSA_SIG(sig, der);
	ECDSA_SIG_free(sig);
	return *der_len > 0;
}

static bool verify_sig(enum jose_alg alg, EVP_PKEY *key, const char *msg, size_t msg_len,
		       const unsigned char *sig, size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int der_len = 0;
	bool ok = false;

	if (md == NULL)
		return false;
	if (alg == JOSE_ALG_ES384) {
		if (!es384_raw_to_der(sig, sig_len, &der, &der_len))
			goto out;
		sig = der;
		sig_len = (size_t)der_len;
	} else if (sig_len != (size_t)EVP_PKEY_get_size(key)) {
		goto out; /* RSASSA-PKCS1-v1_5 signature must be exactly the modulus length */
	}
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, key) == 1 &&
	    EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)msg, msg_len) == 1)
		ok = true;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	return ok;
}

enum jose_fail jose_verify(const char *token, size_t len, const struct jose_jwks *keys,
			   unsigned allowed_algs, struct jose_token *t)
{
	const char *dot1, *dot2, *alg_s, *kid, *jku, *typ;
	enum jose_alg key_alg;
	struct buf sig;
	EVP_PKEY *key;
	enum jose_fail rc;

	memset(t, 0, sizeof(*t));
	buf_init(&sig, 1024);
	if (len == 0 || len > JOSE_MAX_TOKEN || memchr(token, '\0', len)) {
		rc = JOSE_FAIL_MALFORMED;
		goto out;
	}
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
		rc = JOSE_FAIL_MALFORMED; /* exactly three parts (RFC 7515 §7.1); JWE has five */
		goto out;
	}
	t->header = decode_json_part(token, (size_t)(dot1 - token));
	if (t->header == NULL) {
		rc = JOSE_FAIL_MALFORMED;
		goto out;
	}
	alg_s = json_str(t->header, "alg");
	kid = json_str(t->header, "kid");
	jku = json_str(t->header, "jku");
	typ = json_str(t->header, "typ");
	t->kid = kid ? xstrdup(kid) : NULL;
	t->jku = jku ? xstrdup(jku) : NULL;
	t->typ = typ ? xstrdup(typ) : NULL;
	t->alg = jose_alg_parse(alg_s);
	/* CDS Hooks 2.0 §JWT: alg none and symmetric algorithms SHALL NOT be used (checks 29, 30). */
	if (t->alg == JOSE_ALG_NONE || !(allowed_algs & (1u << t->alg))) {
		rc = JOSE_FAIL_ALG;
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(t->header, "crit") != NULL) {
		rc = JOSE_FAIL_CRIT;
		goto out;
	}
	if (kid == NULL || *kid == '\0') {
		rc = JOSE_FAIL_KID; /* CDS Hooks 2.0: kid REQUIRED (check 28) */
		goto out;
	}
	key = jose_jwks_find(keys, kid, &key_alg);
	if (key == NULL) {
		rc = JOSE_FAIL_KID;
		goto out;
	}
	if (key_alg != t->alg) {
		rc = JOSE_FAIL_KEY_TYPE; /* never use an RSA key with an EC alg or vice versa */
		goto out;
	}
	if (jose_b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), &sig) < 0 ||
	    !verify_sig(t->alg, key, token, (size_t)(dot2 - token), (const unsigned char *)sig.p, sig.len)) {
		rc = JOSE_FAIL_SIGNATURE;
		goto out;
	}
	/* Only now, after authentication, is the payload parsed. */
	t->claims = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	rc = t->claims ? JOSE_OK : JOSE_FAIL_MALFORMED;
out:
	buf_fini(&sig);
	return rc;
}

/* --- sign ---------------------------------------------------------------------------------- */

static int sign_bytes(enum jose_alg alg, EVP_PKEY *key, const char *msg, size_t len, struct buf *out,
		      struct err *e)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL, raw[2 * ES384_COORD];
	const unsigned char *pp;
	size_t sig_len = 0;
	ECDSA_SIG *es = NULL;
	int rc = -EINVAL;

	if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *)msg, len) != 1) {
		err_set(e, -EINVAL, "signing key does not fit %s", jose_alg_name(alg));
		goto out;
	}
	sig = OPENSSL_malloc(sig_len);
	if (sig == NULL || EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)msg, len) != 1) {
		err_set(e, -EINVAL, "signing failed");
		goto out;
	}
	if (alg == JOSE_ALG_ES384) {
		const BIGNUM *r, *s;

		pp = sig;
		es = d2i_ECDSA_SIG(NULL, &pp, (long)sig_len);
		if (es == NULL) {
			err_set(e, -EINVAL, "bad ECDSA signature encoding");
			goto out;
		}
		ECDSA_SIG_get0(es, &r, &s);
		if (BN_bn2binpad(r, raw, ES384_COORD) != ES384_COORD ||
		    BN_bn2binpad(s, raw + ES384_COORD, ES384_COORD) != ES384_COORD) {
			err_set(e, -EINVAL, "ES384 signature with a non-P-384 key");
			goto out;
		}
		rc = jose_b64url_encode(raw, sizeof(raw), out);
	} else {
		rc = jose_b64url_encode(sig, sig_len, out);
	}
out:
	ECDSA_SIG_free(es);
	OPENSSL_free(sig);
	EVP_MD_CTX_free(md);
	return rc;
}

int jose_sign_raw(enum jose_alg alg, EVP_PKEY *key, const char *header_json, const char *payload_json,
		  struct buf *out, struct err *e)
{
	size_t start = out->len;
	int rc;

	rc = jose_b64url_encode(header_json, strlen(header_json), out);
	if (rc == 0)
		rc = buf_append(out, ".", 1);
	if (rc == 0)
		rc = jose_b64url_encode(payload_json, strlen(payload_json), out);
	if (rc < 0)
		return err_set(e, rc, "token too large");
	if (alg == JOSE_ALG_NONE || key == NULL)
		return buf_append(out, ".", 1); /* unsigned token, for negative tests only */
	rc = buf_append(out, ".", 1);
	if (rc == 0) {
		char *signing_input = xstrndup(out->p + start, out->len - start - 1);

		rc = sign_bytes(alg, key, signing_input, strlen(signing_input), out, e);
		free(signing_input);
	}
	return rc;
}

int jose_sign(enum jose_alg alg, EVP_PKEY *key, const char *kid, const char *jku,
	      const cJSON *claims, struct buf *out, struct err *e)
{
	cJSON *h = cJSON_CreateObject();
	char *hs, *ps;
	int rc;

	cJSON_AddStringToObject(h, "alg", jose_alg_name(alg));
	cJSON_AddStringToObject(h, "typ", "JWT");
	cJSON_AddStringToObject(h, "kid", kid);
	if (jku)
		cJSON_AddStringToObject(h, "jku", jku);
	hs = cJSON_PrintUnformatted(h);
	ps = cJSON_PrintUnformatted(claims);
	if (hs == NULL || ps == NULL)
		abort();
	rc = jose_sign_raw(alg, key, hs, ps, out, e);
	cJSON_free(hs);
	cJSON_free(ps);
	cJSON_Delete(h);
	return rc;
}

static void add_bn_b64(cJSON *obj, const char *name, const BIGNUM *bn, int pad)
{
	unsigned char raw[1024];
	int n = pad ? BN_bn2binpad(bn, raw, pad) : BN_bn2bin(bn, raw);
	struct buf b;

	buf_init(&b, 2048);
	if (n > 0 && jose_b64url_encode(raw, (size_t)n, &b) == 0)
		cJSON_AddStringToObject(obj, name, b.p);
	buf_fini(&b);
}

cJSON *jose_jwk_from_pkey(EVP_PKEY *key, const char *kid, enum jose_alg alg)
{
	cJSON *j = cJSON_CreateObject();
	BIGNUM *a = NULL, *b = NULL;

	if (alg == JOSE_ALG_ES384) {
		cJSON_AddStringToObject(j, "kty", "EC");
		cJSON_AddStringToObject(j, "crv", "P-384");
		if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &a) == 1 &&
		    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &b) == 1) {
			add_bn_b64(j, "x", a, ES384_COORD);
			add_bn_b64(j, "y", b, ES384_COORD);
		}
	} else {
		cJSON_AddStringToObject(j, "kty", "RSA");
		if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &a) == 1 &&
		    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &b) == 1) {
			add_bn_b64(j, "n", a, 0);
			add_bn_b64(j, "e", b, 0);
		}
	}
	cJSON_AddStringToObject(j, "kid", kid);
	cJSON_AddStringToObject(j, "alg", jose_alg_name(alg));
	cJSON_AddStringToObject(j, "use", "sig");
	BN_free(a);
	BN_free(b);
	return j;
}

EVP_PKEY *jose_load_private_pem(const char *path, struct err *e)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (f == NULL) {
		err_set(e, -errno, "%s: cannot open", path);
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL)
		err_set(e, -EINVAL, "%s: not a PEM private key", path);
	return k;
}
