/* Tests for conform_jwt: the simulated EHR's keys and tokens. Every token kind is checked with
 * the project's own verifier (lib/jose + sidecar/cds_auth): valid kinds are accepted, each
 * forgery is refused for the reason it was built for (research fixture F7). */
#include "conformance/conform_jwt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conform_util.h"
#include "lib/clock.h"
#include "lib/json.h"
#include "sidecar/cds_auth.h"

#define URL "https://cds.example.com/cds-services/sepsis-risk"
#define ISS "https://ehr.conform.example"

static struct conform_keys K;
static struct jose_jwks *J;

static int setup(void **state)
{
	struct err e = {0};
	char *s;

	(void)state;
	if (conform_keys_init(&K, NULL, 0, NULL, &e) < 0)
		return -1;
	s = cJSON_PrintUnformatted(K.jwks);
	if (jose_jwks_parse(s, strlen(s), &J, &e) < 0)
		return -1;
	cJSON_free(s);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	jose_jwks_free(J);
	conform_keys_fini(&K);
	return 0;
}

static int check(const struct conform_profile *p, enum conform_token kind, const char *jku_allowed, const char **rule)
{
	struct conform_signer s = {&K, p, ISS, jku_allowed, "http://127.0.0.1:9/attacker/jwks.json", "client-1", NULL,
				   "https://cds.example.com/cds-services"};
	const char *allow[1] = {jku_allowed};
	struct cds_auth_client c = {ISS, J, allow, jku_allowed ? 1 : 0, (1u << JOSE_ALG_ES384) | (1u << JOSE_ALG_RS384), 900};
	struct replay_cache *rc = replay_cache_new(16);
	struct cds_auth_result res;
	struct buf t, h;
	struct err e = {0};
	int r;

	buf_init(&t, JOSE_MAX_TOKEN);
	buf_init(&h, JOSE_MAX_TOKEN + 16);
	assert_int_equal(conform_jwt_mint(&s, kind, URL, clock_wall_s(), &t, NULL, &e), 0);
	assert_int_equal(buf_printf(&h, "Bearer %s", t.p), 0);
	r = cds_auth_check(&c, 1, rc, h.p, URL, clock_wall_s(), &res);
	*rule = res.rule;
	buf_fini(&t);
	buf_fini(&h);
	replay_cache_free(rc);
	return r;
}

static void test_tokens_against_the_verifier(void **state)
{
	const struct conform_profile *g = conform_profile_find("generic"), *ep = conform_profile_find("epic");
	static const struct {
		enum conform_token kind;
		int ok;
		const char *rule;
	} cases[] = {
		{CONFORM_TOK_VALID, 1, "ok"},
		{CONFORM_TOK_VALID_ES384, 1, "ok"},
		{CONFORM_TOK_VALID_RS384, 1, "ok"},
		{CONFORM_TOK_AUD_ARRAY, 1, "ok"},
		{CONFORM_TOK_EHR_EXTRAS, 1, "ok"},
		{CONFORM_TOK_NONE, 0, "jwt-alg"},
		{CONFORM_TOK_HS384, 0, "jwt-alg"},
		{CONFORM_TOK_NO_KID, 0, "jwt-kid"},
		{CONFORM_TOK_NO_ISS, 0, "jwt-iss"},
		{CONFORM_TOK_NO_AUD, 0, "jwt-aud"},
		{CONFORM_TOK_NO_EXP, 0, "jwt-exp"},
		{CONFORM_TOK_NO_IAT, 0, "jwt-iat"},
		{CONFORM_TOK_NO_JTI, 0, "jwt-jti"},
		{CONFORM_TOK_WRONG_AUD, 0, "jwt-aud"},
		{CONFORM_TOK_EXPIRED, 0, "jwt-exp"},
		{CONFORM_TOK_UNKNOWN_KEY, 0, "jwt-kid"},
		{CONFORM_TOK_UNKNOWN_ISS, 0, "jwt-iss"},
		{CONFORM_TOK_FOREIGN_JKU, 0, "jwt-kid"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *rule = NULL;
		int r = check(g, cases[i].kind, NULL, &rule);

		if ((r == 0) != cases[i].ok || strcmp(rule, cases[i].rule) != 0)
			fail_msg("%s: got %d/%s, want %s", conform_token_name(cases[i].kind), r, rule, cases[i].rule);
	}
	/* Epic profile: RS384 with sub and nbf and a 900 s lifetime is still a valid token */
	{
		const char *rule = NULL;

		assert_int_equal(check(ep, CONFORM_TOK_VALID, NULL, &rule), 0);
	}
	/* a jku on the allow-list is accepted; the foreign one is refused before any key lookup */
	{
		const char *rule = NULL;

		assert_int_equal(check(g, CONFORM_TOK_VALID, "http://127.0.0.1:9/.well-known/jwks.json", &rule), 0);
	}
}

static void test_claims_follow_profile(void **state)
{
	const struct conform_profile *ep = conform_profile_find("epic"), *g = conform_profile_find("generic");
	struct conform_signer s = {&K, ep, ISS, "http://127.0.0.1:9/jwks", NULL, "client-1", "https://configured.example/aud", NULL};
	struct jose_token t = {0};
	struct buf b;
	struct err e = {0};
	char jti[37];
	int64_t iat, exp, nbf;

	(void)state;
	buf_init(&b, JOSE_MAX_TOKEN);
	assert_int_equal(conform_jwt_mint(&s, CONFORM_TOK_VALID, URL, 1800000000, &b, jti, &e), 0);
	assert_int_equal(jose_verify(b.p, b.len, J, 1u << JOSE_ALG_RS384, &t), JOSE_OK);
	assert_int_equal(t.alg, JOSE_ALG_RS384);
	assert_string_equal(t.kid, K.kid_rs384);
	assert_string_equal(t.jku, "http://127.0.0.1:9/jwks");
	assert_string_equal(t.typ, "JWT");
	assert_string_equal(json_str(t.claims, "sub"), "client-1");
	assert_string_equal(json_str(t.claims, "aud"), "https://configured.example/aud");
	assert_string_equal(json_str(t.claims, "jti"), jti);
	assert_int_equal(json_i64(t.claims, "iat", &iat), 0);
	assert_int_equal(json_i64(t.claims, "exp", &exp), 0);
	assert_int_equal(json_i64(t.claims, "nbf", &nbf), 0);
	assert_int_equal(exp - iat, 900);
	assert_int_equal(iat - nbf, 300);
	jose_token_fini(&t);
	buf_reset(&b);
	/* generic: ES384, 300 s, no sub, no nbf, aud = the URL, fresh jti each time */
	s.profile = g;
	s.aud_override = NULL;
	s.jku = NULL;
	assert_int_equal(conform_jwt_mint(&s, CONFORM_TOK_VALID, URL, 1800000000, &b, NULL, &e), 0);
	assert_int_equal(jose_verify(b.p, b.len, J, 1u << JOSE_ALG_ES384, &t), JOSE_OK);
	assert_null(t.jku);
	assert_null(cJSON_GetObjectItemCaseSensitive(t.claims, "sub"));
	assert_null(cJSON_GetObjectItemCaseSensitive(t.claims, "nbf"));
	assert_string_equal(json_str(t.claims, "aud"), URL);
	assert_string_not_equal(json_str(t.claims, "jti"), jti);
	assert_int_equal(json_i64(t.claims, "exp", &exp), 0);
	assert_int_equal(exp, 1800000300);
	jose_token_fini(&t);
	buf_fini(&b);
}

/* RFC 7638 §3.1 known answer. */
static void test_thumbprint(void **state)
{
	const char *jwk = "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";
	struct err e = {0};
	cJSON *j = json_parse(jwk, strlen(jwk), NULL, &e);
	char out[64];

	(void)state;
	assert_int_equal(conform_jwk_thumbprint(j, out, sizeof(out)), 0);
	assert_string_equal(out, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	cJSON_Delete(j);
}

/* Keys from PEM files take the kid of the trusted JWK Set that holds their public half. */
static void test_keys_from_pem_match_trusted_kids(void **state)
{
	char es[512], rs[512], jw[512];
	const char *top = getenv("EHRGATE_TOP") ? getenv("EHRGATE_TOP") : ".";
	const char *pems[2] = {es, rs};
	struct conform_keys k;
	struct err e = {0};
	cJSON *trusted;

	(void)state;
	snprintf(es, sizeof(es), "%s/fixtures/keys/demo-ehr-es384.pem", top);
	snprintf(rs, sizeof(rs), "%s/fixtures/keys/demo-ehr-rs384.pem", top);
	snprintf(jw, sizeof(jw), "%s/policies/keys/demo-ehr.jwks.json", top);
	trusted = conform_read_json(jw, 1u << 20, &e);
	assert_non_null(trusted);
	assert_int_equal(conform_keys_init(&k, pems, 2, trusted, &e), 0);
	assert_string_equal(k.kid_es384, "demo-es384-1");
	assert_string_equal(k.kid_rs384, "demo-rs384-1");
	/* the rogue key is never one of them */
	assert_string_not_equal(k.kid_rogue, "demo-es384-1");
	conform_keys_fini(&k);
	/* two EC keys are refused */
	pems[1] = es;
	assert_true(conform_keys_init(&k, pems, 2, trusted, &e) < 0);
	cJSON_Delete(trusted);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens_against_the_verifier),
		cmocka_unit_test(test_claims_follow_profile),
		cmocka_unit_test(test_thumbprint),
		cmocka_unit_test(test_keys_from_pem_match_trusted_kids),
	};

	return cmocka_run_group_tests_name("conform_jwt", tests, setup, teardown);
}
