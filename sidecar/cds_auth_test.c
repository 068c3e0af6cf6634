#include "sidecar/cds_auth.h"

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

#define NOW 1795473600LL
#define URL "https://cds.example/cds-services/sepsis-risk"
#define ISS "https://ehr.example"

static EVP_PKEY *ec, *rsa, *stranger;
static struct jose_jwks *jwks;
static const char *const jku_ok[] = {"https://ehr.example/jwks.json"};
static struct cds_auth_client client;
static struct replay_cache *rc_cache;

static int setup(void **state)
{
	cJSON *set = cJSON_CreateObject(), *keys = cJSON_AddArrayToObject(set, "keys");
	char *txt;
	struct err e;

	(void)state;
	ec = EVP_EC_gen("P-384");
	rsa = EVP_RSA_gen(2048);
	stranger = EVP_EC_gen("P-384");
	cJSON_AddItemToArray(keys, jose_jwk_from_pkey(ec, "ec-1", JOSE_ALG_ES384));
	cJSON_AddItemToArray(keys, jose_jwk_from_pkey(rsa, "rsa-1", JOSE_ALG_RS384));
	txt = cJSON_PrintUnformatted(set);
	assert_int_equal(jose_jwks_parse(txt, strlen(txt), &jwks, &e), 0);
	cJSON_free(txt);
	cJSON_Delete(set);
	client = (struct cds_auth_client){.iss = ISS, .jwks = jwks, .jku_allow = jku_ok, .n_jku_allow = 1,
					  .algs = (1u << JOSE_ALG_ES384) | (1u << JOSE_ALG_RS384),
					  .max_lifetime_s = 900};
	rc_cache = replay_cache_new(1000);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	jose_jwks_free(jwks);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(stranger);
	replay_cache_free(rc_cache);
	return 0;
}

static int jti_counter;

/* Claims for a valid token; tests then patch them. */
static cJSON *claims(void)
{
	cJSON *c = cJSON_CreateObject();
	char jti[40];

	snprintf(jti, sizeof(jti), "jti-%d", ++jti_counter);
	cJSON_AddStringToObject(c, "iss", ISS);
	cJSON_AddStringToObject(c, "aud", URL);
	cJSON_AddNumberToObject(c, "iat", (double)NOW);
	cJSON_AddNumberToObject(c, "exp", (double)(NOW + 300));
	cJSON_AddStringToObject(c, "jti", jti);
	return c;
}

static char *bearer(enum jose_alg alg, EVP_PKEY *k, const char *kid, const char *jku, cJSON *c)
{
	struct buf b;
	struct err e;

	buf_init(&b, JOSE_MAX_TOKEN + 16);
	assert_int_equal(buf_append_str(&b, "Bearer "), 0);
	assert_int_equal(jose_sign(alg, k, kid, jku, c, &b, &e), 0);
	cJSON_Delete(c);
	return buf_detach(&b, NULL);
}

static const char *check(const char *authz)
{
	static struct cds_auth_result r;

	cds_auth_check(&client, 1, rc_cache, authz, URL, NOW, &r);
	return r.rule;
}

static void expect(const char *authz, const char *rule)
{
	assert_string_equal(check(authz), rule);
	free((void *)authz);
}

static void test_valid_tokens(void **state)
{
	cJSON *c = claims();

	(void)state;
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, claims()), "ok");
	expect(bearer(JOSE_ALG_RS384, rsa, "rsa-1", NULL, claims()), "ok");
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", jku_ok[0], claims()), "ok");
	/* aud as a one-element array (check 33) */
	cJSON_ReplaceItemInObject(c, "aud", cJSON_CreateStringArray((const char *[]){URL}, 1));
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "ok");
	/* Epic-like extras: sub, nbf 5 min before iat, 900 s lifetime (research §2) */
	c = claims();
	cJSON_AddStringToObject(c, "sub", "client-123");
	cJSON_AddNumberToObject(c, "nbf", (double)(NOW - 300));
	cJSON_ReplaceItemInObject(c, "exp", cJSON_CreateNumber((double)(NOW + 900)));
	expect(bearer(JOSE_ALG_RS384, rsa, "rsa-1", NULL, c), "ok");
	/* lowercase scheme */
	{
		char *t = bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, claims());
		memcpy(t, "bearer", 6);
		expect(t, "ok");
	}
}

static void test_signature_attacks(void **state)
{
	struct buf b;
	struct err e;
	unsigned char mac[64], *pub = NULL;
	unsigned mac_len;
	int pub_len;
	char *payload;
	cJSON *c = claims();

	(void)state;
	payload = cJSON_PrintUnformatted(c);
	cJSON_Delete(c);
	buf_init(&b, JOSE_MAX_TOKEN);
	assert_int_equal(buf_append_str(&b, "Bearer "), 0);
	assert_int_equal(jose_sign_raw(JOSE_ALG_NONE, NULL, "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"ec-1\"}", payload, &b, &e), 0);
	expect(buf_detach(&b, NULL), "jwt-alg");
	/* HS256 keyed with the RSA public key bytes */
	pub_len = i2d_PUBKEY(rsa, &pub);
	buf_init(&b, JOSE_MAX_TOKEN);
	assert_int_equal(jose_b64url_encode("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"rsa-1\"}", 41, &b), 0);
	assert_int_equal(buf_append(&b, ".", 1), 0);
	assert_int_equal(jose_b64url_encode(payload, strlen(payload), &b), 0);
	HMAC(EVP_sha256(), pub, pub_len, (unsigned char *)b.p, b.len, mac, &mac_len);
	assert_int_equal(buf_append(&b, ".", 1), 0);
	assert_int_equal(jose_b64url_encode(mac, mac_len, &b), 0);
	{
		char *t = xmalloc(b.len + 8);
		snprintf(t, b.len + 8, "Bearer %s", b.p);
		expect(t, "jwt-alg");
	}
	buf_fini(&b);
	OPENSSL_free(pub);
	cJSON_free(payload);
	expect(bearer(JOSE_ALG_ES384, stranger, "ec-1", NULL, claims()), "jwt-signature");
	expect(bearer(JOSE_ALG_ES384, stranger, "unknown-kid", NULL, claims()), "jwt-kid");
	assert_string_equal(check(NULL), "jwt-missing");
	assert_string_equal(check("Basic dXNlcjpwYXNz"), "jwt-missing");
	assert_string_equal(check("Bearer "), "jwt-malformed");
	assert_string_equal(check("Bearer garbage"), "jwt-malformed");
	assert_string_equal(check("Bearer a.b.c"), "jwt-malformed");
	/* truncated token */
	{
		char *t = bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, claims());
		t[strlen(t) - 10] = '\0';
		expect(t, "jwt-signature");
	}
}

static void test_claim_rules(void **state)
{
	cJSON *c;

	(void)state;
	c = claims();
	cJSON_ReplaceItemInObject(c, "aud", cJSON_CreateString("https://cds.example/cds-services"));
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "jwt-aud");
	c = claims();
	cJSON_ReplaceItemInObject(c, "aud", cJSON_CreateStringArray((const char *[]){"https://other.example"}, 1));
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "jwt-aud");
	c = claims();
	cJSON_ReplaceItemInObject(c, "iss", cJSON_CreateString("https://attacker.example"));
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "jwt-iss");
	/* expired: exp 61 s ago (beyond skew); 59 s ago is within skew */
	c = claims();
	cJSON_ReplaceItemInObject(c, "iat", cJSON_CreateNumber((double)(NOW - 400)));
	cJSON_ReplaceItemInObject(c, "exp", cJSON_CreateNumber((double)(NOW - 61)));
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "jwt-exp");
	c = claims();
	cJSON_ReplaceItemInObject(c, "iat", cJSON_CreateNumber((double)(NOW - 400)));
	cJSON_ReplaceItemInObject(c, "exp", cJSON_CreateNumber((double)(NOW - 59)));
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "ok");
	/* future iat */
	c = claims();
	cJSON_ReplaceItemInObject(c, "iat", cJSON_CreateNumber((double)(NOW + 120)));
	cJSON_ReplaceItemInObject(c, "exp", cJSON_CreateNumber((double)(NOW + 300)));
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "jwt-iat");
	/* nbf in the future */
	c = claims();
	cJSON_AddNumberToObject(c, "nbf", (double)(NOW + 120));
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "jwt-nbf");
	/* lifetime over the site cap of 900 s */
	c = claims();
	cJSON_ReplaceItemInObject(c, "exp", cJSON_CreateNumber((double)(NOW + 901)));
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "jwt-lifetime");
	/* missing claims */
	c = claims();
	cJSON_DeleteItemFromObject(c, "jti");
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "jwt-jti");
	c = claims();
	cJSON_DeleteItemFromObject(c, "exp");
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "jwt-exp");
	c = claims();
	cJSON_DeleteItemFromObject(c, "iat");
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "jwt-iat");
	c = claims();
	cJSON_DeleteItemFromObject(c, "aud");
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "jwt-aud");
	c = claims();
	cJSON_ReplaceItemInObject(c, "exp", cJSON_CreateString("tomorrow"));
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, c), "jwt-exp");
	/* jku not on the allow-list */
	expect(bearer(JOSE_ALG_ES384, ec, "ec-1", "https://attacker.example/jwks.json", claims()), "jwt-jku");
}

static void test_replay(void **state)
{
	char *t = bearer(JOSE_ALG_ES384, ec, "ec-1", NULL, claims());

	(void)state;
	assert_string_equal(check(t), "ok");
	assert_string_equal(check(t), "jwt-replay");
	free(t);
}

static void test_replay_cache_bounds(void **state)
{
	struct replay_cache *c = replay_cache_new(2);

	(void)state;
	assert_int_equal(replay_cache_check_and_add(c, "i", "a", 100, 10), 0);
	assert_int_equal(replay_cache_check_and_add(c, "i", "a", 100, 10), -EEXIST);
	assert_int_equal(replay_cache_check_and_add(c, "j", "a", 100, 10), 0); /* other issuer */
	assert_int_equal(replay_cache_check_and_add(c, "i", "b", 100, 10), -ENOSPC); /* full: fail closed */
	/* after expiry the slots are reclaimed */
	assert_int_equal(replay_cache_check_and_add(c, "i", "b", 300, 200), 0);
	assert_int_equal(replay_cache_size(c), 1);
	replay_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_tokens),
		cmocka_unit_test(test_signature_attacks),
		cmocka_unit_test(test_claim_rules),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_replay_cache_bounds),
	};
	return cmocka_run_group_tests_name("cds_auth", tests, setup, teardown);
}
