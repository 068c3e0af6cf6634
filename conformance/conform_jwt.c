/* conform_jwt — keys, JWK Sets and tokens of the simulated EHR. Owns the EVP_PKEYs and JWK Sets
 * of a conform_keys; tokens are written into caller buffers. */
#include "conformance/conform_jwt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "conformance/conform_util.h"
#include "lib/json.h"
#include "lib/mem.h"

static const char *const token_names[] = {
	[CONFORM_TOK_VALID] = "valid",
	[CONFORM_TOK_VALID_ES384] = "valid-es384",
	[CONFORM_TOK_VALID_RS384] = "valid-rs384",
	[CONFORM_TOK_AUD_ARRAY] = "aud-array",
	[CONFORM_TOK_EHR_EXTRAS] = "ehr-extra-claims",
	[CONFORM_TOK_NONE] = "alg-none",
	[CONFORM_TOK_HS384] = "alg-hs384-key-confusion",
	[CONFORM_TOK_NO_KID] = "missing-kid",
	[CONFORM_TOK_NO_ISS] = "missing-iss",
	[CONFORM_TOK_NO_AUD] = "missing-aud",
	[CONFORM_TOK_NO_EXP] = "missing-exp",
	[CONFORM_TOK_NO_IAT] = "missing-iat",
	[CONFORM_TOK_NO_JTI] = "missing-jti",
	[CONFORM_TOK_WRONG_AUD] = "wrong-aud",
	[CONFORM_TOK_EXPIRED] = "expired",
	[CONFORM_TOK_UNKNOWN_KEY] = "unknown-key",
	[CONFORM_TOK_UNKNOWN_ISS] = "unknown-iss",
	[CONFORM_TOK_FOREIGN_JKU] = "foreign-jku",
};

const char *conform_token_name(enum conform_token t)
{
	return (size_t)t < sizeof(token_names) / sizeof(token_names[0]) ? token_names[t] : "?";
}

int conform_jwk_thumbprint(const cJSON *jwk, char *out, size_t cap)
{
	/* RFC 7638 §3.2: required members only, lexicographic order, no whitespace */
	const char *kty = json_str(jwk, "kty");
	unsigned char md[SHA256_DIGEST_LENGTH];
	struct buf canon, b64;
	int rc;

	if (kty == NULL)
		return -EINVAL;
	buf_init(&canon, 4096);
	buf_init(&b64, 128);
	if (!strcmp(kty, "EC"))
		rc = buf_printf(&canon, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
				json_str(jwk, "crv") ? json_str(jwk, "crv") : "", json_str(jwk, "x") ? json_str(jwk, "x") : "",
				json_str(jwk, "y") ? json_str(jwk, "y") : "");
	else
		rc = buf_printf(&canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
				json_str(jwk, "e") ? json_str(jwk, "e") : "", json_str(jwk, "n") ? json_str(jwk, "n") : "");
	if (rc == 0) {
		SHA256((const unsigned char *)canon.p, canon.len, md);
		rc = jose_b64url_encode(md, sizeof(md), &b64);
	}
	if (rc == 0 && b64.len + 1 > cap)
		rc = -E2BIG;
	if (rc == 0)
		memcpy(out, b64.p, b64.len + 1);
	buf_fini(&canon);
	buf_fini(&b64);
	return rc;
}

static bool same_str(const cJSON *a, const cJSON *b, const char *k)
{
	const char *x = json_str(a, k), *y = json_str(b, k);

	return x && y && strcmp(x, y) == 0;
}

/* The kid the trusted JWK Set gives this public key, if any. */
static const char *trusted_kid(const cJSON *jwks, const cJSON *jwk)
{
	const cJSON *k;
	const char *kty = json_str(jwk, "kty");

	cJSON_ArrayForEach(k, json_arr(jwks, "keys")) {
		if (!same_str(k, jwk, "kty") || json_str(k, "kid") == NULL)
			continue;
		if (!strcmp(kty, "EC") && same_str(k, jwk, "x") && same_str(k, jwk, "y"))
			return json_str(k, "kid");
		if (!strcmp(kty, "RSA") && same_str(k, jwk, "n") && same_str(k, jwk, "e"))
			return json_str(k, "kid");
	}
	return NULL;
}

static EVP_PKEY *gen_key(enum jose_alg alg)
{
	EVP_PKEY *k = alg == JOSE_ALG_ES384 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384")
					    : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);

	if (k == NULL)
		abort(); /* key generation cannot fail on a working OpenSSL */
	return k;
}

/* Fill kid and add the public JWK to set. */
static void publish(cJSON *set, EVP_PKEY *key, enum jose_alg alg, const cJSON *trusted, char *kid, size_t cap)
{
	cJSON *jwk = jose_jwk_from_pkey(key, "tmp", alg);
	const char *tk = trusted ? trusted_kid(trusted, jwk) : NULL;

	if (tk)
		snprintf(kid, cap, "%s", tk);
	else if (conform_jwk_thumbprint(jwk, kid, cap) < 0)
		abort();
	cJSON_ReplaceItemInObjectCaseSensitive(jwk, "kid", cJSON_CreateString(kid));
	if (!cJSON_GetObjectItemCaseSensitive(jwk, "use"))
		cJSON_AddStringToObject(jwk, "use", "sig"); /* sandbox#59: libraries want use=sig */
	cJSON_AddItemToArray(json_arr(set, "keys"), jwk);
}

int conform_keys_init(struct conform_keys *k, const char *const *pem, size_t n_pem, const cJSON *trusted, struct err *e)
{
	memset(k, 0, sizeof(*k));
	for (size_t i = 0; i < n_pem; i++) {
		EVP_PKEY *key = jose_load_private_pem(pem[i], e);
		int id;

		if (key == NULL)
			goto fail;
		id = EVP_PKEY_get_base_id(key);
		if (id == EVP_PKEY_EC && k->es384 == NULL && EVP_PKEY_get_bits(key) == 384) {
			k->es384 = key;
		} else if (id == EVP_PKEY_RSA && k->rs384 == NULL && EVP_PKEY_get_bits(key) >= 2048) {
			k->rs384 = key;
		} else {
			EVP_PKEY_free(key);
			err_set(e, -EINVAL, "%s: need one EC P-384 key and/or one RSA (>= 2048 bit) key", pem[i]);
			goto fail;
		}
	}
	if (k->es384 == NULL)
		k->es384 = gen_key(JOSE_ALG_ES384);
	if (k->rs384 == NULL)
		k->rs384 = gen_key(JOSE_ALG_RS384);
	k->rogue = gen_key(JOSE_ALG_ES384);
	k->jwks = cJSON_CreateObject();
	cJSON_AddArrayToObject(k->jwks, "keys");
	publish(k->jwks, k->es384, JOSE_ALG_ES384, trusted, k->kid_es384, sizeof(k->kid_es384));
	publish(k->jwks, k->rs384, JOSE_ALG_RS384, trusted, k->kid_rs384, sizeof(k->kid_rs384));
	k->rogue_jwks = cJSON_CreateObject();
	cJSON_AddArrayToObject(k->rogue_jwks, "keys");
	publish(k->rogue_jwks, k->rogue, JOSE_ALG_ES384, NULL, k->kid_rogue, sizeof(k->kid_rogue));
	return 0;
fail:
	conform_keys_fini(k);
	return e->code ? e->code : -EINVAL;
}

void conform_keys_fini(struct conform_keys *k)
{
	EVP_PKEY_free(k->es384);
	EVP_PKEY_free(k->rs384);
	EVP_PKEY_free(k->rogue);
	cJSON_Delete(k->jwks);
	cJSON_Delete(k->rogue_jwks);
	memset(k, 0, sizeof(*k));
}

static int write_pem(const char *path, EVP_PKEY *key, struct err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f;
	int ok;

	if (fd < 0)
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	}
	ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) != 0 || !ok)
		return err_set(e, -EIO, "%s: cannot write key", path);
	return 0;
}

int conform_keygen(const char *dir, struct err *e)
{
	struct conform_keys k;
	char path[PATH_MAX];
	char *text = NULL;
	int rc;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_set(e, -errno, "%s: %s", dir, strerror(errno));
	rc = conform_keys_init(&k, NULL, 0, NULL, e);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/ehr-es384.pem", dir);
	rc = write_pem(path, k.es384, e);
	if (rc == 0) {
		snprintf(path, sizeof(path), "%s/ehr-rs384.pem", dir);
		rc = write_pem(path, k.rs384, e);
	}
	if (rc == 0) {
		text = cJSON_Print(k.jwks);
		snprintf(path, sizeof(path), "%s/ehr.jwks.json", dir);
		rc = conform_write_file(path, text, strlen(text), e);
	}
	cJSON_free(text);
	conform_keys_fini(&k);
	return rc;
}

/* HS384 over the signing input, keyed with the PEM text of the public key: the classic
 * algorithm-confusion attack (research check 30). */
static int sign_hs384(EVP_PKEY *pub, const char *header, const char *payload, struct buf *out, struct err *e)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long pem_len;
	size_t start = out->len;
	int rc;

	if (bio == NULL || PEM_write_bio_PUBKEY(bio, pub) != 1) {
		BIO_free(bio);
		return err_set(e, -EIO, "cannot serialise public key");
	}
	pem_len = BIO_get_mem_data(bio, &pem);
	rc = jose_b64url_encode(header, strlen(header), out);
	if (rc == 0)
		rc = buf_append(out, ".", 1);
	if (rc == 0)
		rc = jose_b64url_encode(payload, strlen(payload), out);
	if (rc == 0 && HMAC(EVP_sha384(), pem, (int)pem_len, (const unsigned char *)out->p + start, out->len - start, mac,
			    &mac_len) == NULL)
		rc = -EIO;
	if (rc == 0)
		rc = buf_append(out, ".", 1);
	if (rc == 0)
		rc = jose_b64url_encode(mac, mac_len, out);
	BIO_free(bio);
	return rc < 0 ? err_set(e, rc, "cannot build HS384 token") : 0;
}

int conform_jwt_mint(const struct conform_signer *s, enum conform_token kind, const char *url, long long now_s,
		     struct buf *out, char *jti_out, struct err *e)
{
	const struct conform_profile *p = s->profile;
	enum jose_alg alg = p->alg;
	cJSON *h = cJSON_CreateObject(), *c = cJSON_CreateObject();
	const char *aud = s->aud_override ? s->aud_override : url;
	long long iat = now_s, exp = now_s + (long long)p->lifetime_s;
	EVP_PKEY *key;
	const char *kid, *jku = s->jku;
	char jti[37], *hs = NULL, *ps = NULL;
	int rc;

	if (kind == CONFORM_TOK_VALID_ES384)
		alg = JOSE_ALG_ES384;
	else if (kind == CONFORM_TOK_VALID_RS384)
		alg = JOSE_ALG_RS384;
	key = alg == JOSE_ALG_ES384 ? s->keys->es384 : s->keys->rs384;
	kid = alg == JOSE_ALG_ES384 ? s->keys->kid_es384 : s->keys->kid_rs384;
	if (kind == CONFORM_TOK_UNKNOWN_KEY || kind == CONFORM_TOK_FOREIGN_JKU) {
		alg = JOSE_ALG_ES384;
		key = s->keys->rogue;
		kid = s->keys->kid_rogue;
		if (kind == CONFORM_TOK_FOREIGN_JKU)
			jku = s->rogue_jku ? s->rogue_jku : "https://attacker.example.net/jwks.json";
	}
	conform_uuid4(jti);
	if (jti_out)
		memcpy(jti_out, jti, sizeof(jti));
	/* header: RFC 7515 §4.1; CDS Hooks 2.0: alg, typ JWT, kid, optional jku */
	cJSON_AddStringToObject(h, "alg", kind == CONFORM_TOK_NONE ? "none" : kind == CONFORM_TOK_HS384 ? "HS384" : jose_alg_name(alg));
	cJSON_AddStringToObject(h, "typ", "JWT");
	if (kind != CONFORM_TOK_NO_KID)
		cJSON_AddStringToObject(h, "kid", kid);
	if (jku)
		cJSON_AddStringToObject(h, "jku", jku);
	/* payload: iss, aud, exp, iat, jti (S2 JWT payload table) */
	if (kind == CONFORM_TOK_EXPIRED) {
		iat = now_s - 1200;
		exp = now_s - 600;
	}
	if (kind == CONFORM_TOK_EHR_EXTRAS)
		exp = iat + 900;
	if (kind != CONFORM_TOK_NO_ISS)
		cJSON_AddStringToObject(c, "iss", kind == CONFORM_TOK_UNKNOWN_ISS ? "https://attacker.example.net" : s->iss);
	if (kind == CONFORM_TOK_AUD_ARRAY) {
		cJSON *a = cJSON_AddArrayToObject(c, "aud");

		cJSON_AddItemToArray(a, cJSON_CreateString(aud));
	} else if (kind == CONFORM_TOK_WRONG_AUD) {
		cJSON_AddStringToObject(c, "aud", s->wrong_aud ? s->wrong_aud : "https://cds.attacker.example.net/cds-services");
	} else if (kind != CONFORM_TOK_NO_AUD) {
		cJSON_AddStringToObject(c, "aud", aud);
	}
	if (kind != CONFORM_TOK_NO_EXP)
		cJSON_AddNumberToObject(c, "exp", (double)exp);
	if (kind != CONFORM_TOK_NO_IAT)
		cJSON_AddNumberToObject(c, "iat", (double)iat);
	if (kind != CONFORM_TOK_NO_JTI)
		cJSON_AddStringToObject(c, "jti", jti);
	if (p->claim_sub || kind == CONFORM_TOK_EHR_EXTRAS)
		cJSON_AddStringToObject(c, "sub", s->sub ? s->sub : "ehrgate-conform-client");
	if (p->nbf_before_iat_s >= 0 || kind == CONFORM_TOK_EHR_EXTRAS)
		cJSON_AddNumberToObject(c, "nbf", (double)(iat - (p->nbf_before_iat_s >= 0 ? p->nbf_before_iat_s : 300)));
	hs = cJSON_PrintUnformatted(h);
	ps = cJSON_PrintUnformatted(c);
	if (hs == NULL || ps == NULL)
		abort();
	if (kind == CONFORM_TOK_HS384)
		rc = sign_hs384(key, hs, ps, out, e);
	else
		rc = jose_sign_raw(kind == CONFORM_TOK_NONE ? JOSE_ALG_NONE : alg, kind == CONFORM_TOK_NONE ? NULL : key, hs,
				   ps, out, e);
	cJSON_free(hs);
	cJSON_free(ps);
	cJSON_Delete(h);
	cJSON_Delete(c);
	return rc;
}
