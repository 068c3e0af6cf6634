#include "lib/jose.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>

#include "lib/json.h"

#include "lib/mem.h"

static EVP_PKEY *ec_key, *rsa_key, *ec_other;
static struct jose_jwks *jwks;

#define BOTH ((1u << JOSE_ALG_ES384) | (1u << JOSE_ALG_RS384))

static int setup(void **state)
{
	cJSON *set = cJSON_CreateObject(), *keys = cJSON_AddArrayToObject(set, "keys");
	char *txt;
	struct err e;

	(void)state;
	ec_key = EVP_EC_gen("P-384");
	ec_other = EVP_EC_gen("P-384");
	rsa_key = EVP_RSA_gen(2048);
	cJSON_AddItemToArray(keys, jose_jwk_from_pkey(ec_key, "ec-1", JOSE_ALG_ES384));
	cJSON_AddItemToArray(keys, jose_jwk_from_pkey(rsa_key, "rsa-1", JOSE_ALG_RS384));
	txt = cJSON_PrintUnformatted(set);
	if (jose_jwks_parse(txt, strlen(txt), &jwks, &e) != 0) {
		fprintf(stderr, "jwks: %s\n", e.msg);
		return -1;
	}
	cJSON_free(txt);
	cJSON_Delete(set);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	jose_jwks_free(jwks);
	EVP_PKEY_free(ec_key);
	EVP_PKEY_free(ec_other);
	EVP_PKEY_free(rsa_key);
	return 0;
}

static char *make_token(enum jose_alg alg, EVP_PKEY *k, const char *kid)
{
	cJSON *c = cJSON_CreateObject();
	struct buf b;
	struct err e;

	cJSON_AddStringToObject(c, "iss", "https://ehr.example");
	cJSON_AddNumberToObject(c, "iat", 1000);
	buf_init(&b, JOSE_MAX_TOKEN);
	assert_int_equal(jose_sign(alg, k, kid, NULL, c, &b, &e), 0);
	cJSON_Delete(c);
	return buf_detach(&b, NULL);
}

static enum jose_fail verify(const char *tok)
{
	struct jose_token t;
	enum jose_fail f = jose_verify(tok, strlen(tok), jwks, BOTH, &t);

	jose_token_fini(&t);
	return f;
}

static void test_valid_es384_rs384(void **state)
{
	char *a = make_token(JOSE_ALG_ES384, ec_key, "ec-1");
	char *b = make_token(JOSE_ALG_RS384, rsa_key, "rsa-1");
	struct jose_token t;

	(void)state;
	assert_int_equal(jose_verify(a, strlen(a), jwks, BOTH, &t), JOSE_OK);
	assert_string_equal(json_str(t.claims, "iss"), "https://ehr.example");
	assert_string_equal(t.kid, "ec-1");
	assert_string_equal(t.typ, "JWT");
	jose_token_fini(&t);
	assert_int_equal(verify(b), JOSE_OK);
	/* the policy can narrow the algorithms */
	assert_int_equal(jose_verify(b, strlen(b), jwks, 1u << JOSE_ALG_ES384, &t), JOSE_FAIL_ALG);
	jose_token_fini(&t);
	free(a);
	free(b);
}

static void test_alg_none_and_hmac_refused(void **state)
{
	struct buf b;
	struct err e;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	const char *hdr_none = "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"ec-1\"}";
	const char *hdr_hs = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"rsa-1\"}";
	const char *payload = "{\"iss\":\"x\"}";
	unsigned char *pub = NULL;
	int pub_len;

	(void)state;
	buf_init(&b, JOSE_MAX_TOKEN);
	assert_int_equal(jose_sign_raw(JOSE_ALG_NONE, NULL, hdr_none, payload, &b, &e), 0);
	assert_int_equal(verify(b.p), JOSE_FAIL_ALG);
	/* "None", "NONE": still refused (case-sensitive alg) */
	buf_reset(&b);
	assert_int_equal(jose_sign_raw(JOSE_ALG_NONE, NULL, "{\"alg\":\"None\",\"kid\":\"ec-1\"}", payload, &b, &e), 0);
	assert_int_equal(verify(b.p), JOSE_FAIL_ALG);
	/* HS256 with the RSA public key bytes as the HMAC secret: the classic confusion attack */
	pub_len = i2d_PUBKEY(rsa_key, &pub);
	assert_true(pub_len > 0);
	buf_reset(&b);
	assert_int_equal(jose_b64url_encode(hdr_hs, strlen(hdr_hs), &b), 0);
	assert_int_equal(buf_append(&b, ".", 1), 0);
	assert_int_equal(jose_b64url_encode(payload, strlen(payload), &b), 0);
	assert_non_null(HMAC(EVP_sha256(), pub, pub_len, (unsigned char *)b.p, b.len, mac, &mac_len));
	assert_int_equal(buf_append(&b, ".", 1), 0);
	assert_int_equal(jose_b64url_encode(mac, mac_len, &b), 0);
	assert_int_equal(verify(b.p), JOSE_FAIL_ALG);
	OPENSSL_free(pub);
	buf_fini(&b);
}

static void test_kid_rules(void **state)
{
	char *unknown = make_token(JOSE_ALG_ES384, ec_key, "not-in-jwks");
	char *wrong_key = make_token(JOSE_ALG_ES384, ec_other, "ec-1");
	char *confused = make_token(JOSE_ALG_RS384, rsa_key, "ec-1"); /* RS alg, EC kid */
	struct buf b;
	struct err e;

	(void)state;
	assert_int_equal(verify(unknown), JOSE_FAIL_KID);
	assert_int_equal(verify(wrong_key), JOSE_FAIL_SIGNATURE);
	assert_int_equal(verify(confused), JOSE_FAIL_KEY_TYPE);
	buf_init(&b, JOSE_MAX_TOKEN);
	assert_int_equal(jose_sign_raw(JOSE_ALG_ES384, ec_key, "{\"alg\":\"ES384\",\"typ\":\"JWT\"}", "{}", &b, &e), 0);
	assert_int_equal(verify(b.p), JOSE_FAIL_KID);
	buf_reset(&b);
	assert_int_equal(jose_sign_raw(JOSE_ALG_ES384, ec_key,
				       "{\"alg\":\"ES384\",\"kid\":\"ec-1\",\"crit\":[\"exp\"],\"exp\":1}", "{}", &b, &e), 0);
	assert_int_equal(verify(b.p), JOSE_FAIL_CRIT);
	buf_fini(&b);
	free(unknown);
	free(wrong_key);
	free(confused);
}

static void test_tampering_and_garbage(void **state)
{
	char *t = make_token(JOSE_ALG_ES384, ec_key, "ec-1");
	size_t n = strlen(t);
	char *dot2 = strrchr(t, '.');
	char *copy;

	(void)state;
	/* flip a payload character (still valid base64url) */
	copy = xstrdup(t);
	{
		char *p = strchr(copy, '.') + 2;
		*p = (*p == 'A') ? 'B' : 'A';
	}
	assert_int_equal(verify(copy), JOSE_FAIL_SIGNATURE);
	free(copy);
	/* every truncation is refused */
	for (size_t cut = 0; cut < n; cut++) {
		copy = xstrndup(t, cut);
		assert_int_not_equal(verify(copy), JOSE_OK);
		free(copy);
	}
	/* a fourth part, padding, whitespace, garbage */
	copy = malloc(n + 8);
	snprintf(copy, n + 8, "%s.AAAA", t);
	assert_int_equal(verify(copy), JOSE_FAIL_MALFORMED);
	snprintf(copy, n + 8, "%s==", t);
	assert_int_equal(verify(copy), JOSE_FAIL_SIGNATURE);
	free(copy);
	assert_int_equal(verify(""), JOSE_FAIL_MALFORMED);
	assert_int_equal(verify("..."), JOSE_FAIL_MALFORMED);
	assert_int_equal(verify("a.b.c"), JOSE_FAIL_MALFORMED);
	assert_int_equal(verify("eyJhbGciOiJFUzM4NCJ9.e30"), JOSE_FAIL_MALFORMED);
	/* signature of wrong length for ES384 */
	dot2[1] = '\0';
	copy = malloc(n + 16);
	snprintf(copy, n + 16, "%sAAAA", t);
	assert_int_equal(verify(copy), JOSE_FAIL_SIGNATURE);
	free(copy);
	free(t);
}

static void test_oversize_token(void **state)
{
	char *big = malloc(JOSE_MAX_TOKEN + 2);

	(void)state;
	memset(big, 'A', JOSE_MAX_TOKEN + 1);
	big[JOSE_MAX_TOKEN + 1] = 0;
	assert_int_equal(verify(big), JOSE_FAIL_MALFORMED);
	free(big);
}

static void test_b64url(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(jose_b64url_encode("foob", 4, &b), 0);
	assert_string_equal(b.p, "Zm9vYg");
	buf_reset(&b);
	assert_int_equal(jose_b64url_decode("Zm9vYg", 6, &b), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.p, "foob", 4);
	buf_reset(&b);
	assert_int_equal(jose_b64url_decode("Zm9vYh", 6, &b), -EINVAL); /* non-canonical tail bits */
	buf_reset(&b);
	assert_int_equal(jose_b64url_decode("Zm9vYg==", 8, &b), -EINVAL); /* padding */
	buf_reset(&b);
	assert_int_equal(jose_b64url_decode("Zm9v+g", 6, &b), -EINVAL);   /* standard alphabet */
	buf_reset(&b);
	assert_int_equal(jose_b64url_decode("Z", 1, &b), -EINVAL);
	buf_fini(&b);
}

static void test_jwks_hostile(void **state)
{
	struct jose_jwks *k = NULL;
	struct err e;
	const char *priv = "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\",\"d\":\"AA\"}]}";
	/* the point (1,1) is not on P-384 */
	char bad_point[512];
	char x[65];

	(void)state;
	assert_int_not_equal(jose_jwks_parse("{}", 2, &k, &e), 0);
	assert_null(k);
	assert_int_not_equal(jose_jwks_parse("[]", 2, &k, &e), 0);
	assert_int_not_equal(jose_jwks_parse(priv, strlen(priv), &k, &e), 0);
	assert_non_null(strstr(e.msg, "private"));
	memset(x, 'A', 64);
	x[63] = 'B';
	x[64] = 0;
	snprintf(bad_point, sizeof(bad_point),
		 "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}]}", x, x);
	assert_int_not_equal(jose_jwks_parse(bad_point, strlen(bad_point), &k, &e), 0);
	/* short RSA key */
	{
		EVP_PKEY *small = EVP_RSA_gen(1024);
		cJSON *set = cJSON_CreateObject(), *keys = cJSON_AddArrayToObject(set, "keys");
		char *txt;

		cJSON_AddItemToArray(keys, jose_jwk_from_pkey(small, "small", JOSE_ALG_RS384));
		txt = cJSON_PrintUnformatted(set);
		assert_int_not_equal(jose_jwks_parse(txt, strlen(txt), &k, &e), 0);
		assert_non_null(strstr(e.msg, "2048"));
		cJSON_free(txt);
		cJSON_Delete(set);
		EVP_PKEY_free(small);
	}
	/* duplicate kid */
	{
		cJSON *set = cJSON_CreateObject(), *keys = cJSON_AddArrayToObject(set, "keys");
		char *txt;

		cJSON_AddItemToArray(keys, jose_jwk_from_pkey(ec_key, "dup", JOSE_ALG_ES384));
		cJSON_AddItemToArray(keys, jose_jwk_from_pkey(ec_other, "dup", JOSE_ALG_ES384));
		txt = cJSON_PrintUnformatted(set);
		assert_int_not_equal(jose_jwks_parse(txt, strlen(txt), &k, &e), 0);
		cJSON_free(txt);
		cJSON_Delete(set);
	}
	/* symmetric keys and keys for other algorithms are ignored, not used */
	{
		const char *oct = "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"}]}";

		assert_int_equal(jose_jwks_parse(oct, strlen(oct), &k, &e), 0);
		assert_int_equal(jose_jwks_count(k), 0);
		jose_jwks_free(k);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_es384_rs384),
		cmocka_unit_test(test_alg_none_and_hmac_refused),
		cmocka_unit_test(test_kid_rules),
		cmocka_unit_test(test_tampering_and_garbage),
		cmocka_unit_test(test_oversize_token),
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_jwks_hostile),
	};
	return cmocka_run_group_tests_name("jose", tests, setup, teardown);
}
