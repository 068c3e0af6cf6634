/* cds_auth — JWT bearer authentication of CDS clients. Owns nothing beyond one call. */
#include "sidecar/cds_auth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/json.h"

static int fail(struct cds_auth_result *r, const char *rule)
{
	r->rule = rule;
	return -EACCES;
}

/* exp/iat/nbf are NumericDate: JSON numbers, possibly fractional (RFC 7519 §2). */
static int numeric_date(const cJSON *claims, const char *name, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(claims, name);

	*out = 0;
	if (v == NULL)
		return -ENOENT;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 1e11)
		return -EINVAL;
	*out = (int64_t)v->valuedouble;
	return 0;
}

/* aud equals the exact URL called; a string or an array of strings (check 33). */
static int aud_matches(const cJSON *claims, const char *url)
{
	const cJSON *aud = cJSON_GetObjectItemCaseSensitive(claims, "aud"), *a;

	if (cJSON_IsString(aud))
		return strcmp(aud->valuestring, url) == 0;
	if (!cJSON_IsArray(aud))
		return 0;
	cJSON_ArrayForEach(a, aud)
		if (cJSON_IsString(a) && strcmp(a->valuestring, url) == 0)
			return 1;
	return 0;
}

static int jku_allowed(const struct cds_auth_client *c, const char *jku)
{
	for (size_t i = 0; i < c->n_jku_allow; i++)
		if (strcmp(c->jku_allow[i], jku) == 0)
			return 1;
	return 0;
}

int cds_auth_check(const struct cds_auth_client *clients, size_t n_clients, struct replay_cache *replay,
		   const char *authorization, const char *called_url, int64_t now_s,
		   struct cds_auth_result *res)
{
	static const int rank[] = {
		[JOSE_OK] = 9, [JOSE_FAIL_MALFORMED] = 1, [JOSE_FAIL_ALG] = 2, [JOSE_FAIL_CRIT] = 3,
		[JOSE_FAIL_KID] = 4, [JOSE_FAIL_KEY_TYPE] = 5, [JOSE_FAIL_SIGNATURE] = 6,
	};
	enum jose_fail best = JOSE_FAIL_MALFORMED;
	struct jose_token tok = {0}, t;
	const struct cds_auth_client *c = NULL;
	const char *token, *iss, *jti;
	int64_t exp, iat, nbf;
	int rc, e1, e2, e3;
	size_t i;

	memset(res, 0, sizeof(*res));
	res->client = -1;
	/* check 27: Authorization: Bearer <JWT> (RFC 6750 §2.1; scheme is case-insensitive) */
	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return fail(res, "jwt-missing");
	token = authorization + 7;
	while (*token == ' ')
		token++;
	/* The signature decides which trusted client sent the token; nothing in the payload is
	 * read before it verifies. */
	for (i = 0; i < n_clients; i++) {
		enum jose_fail f = jose_verify(token, strlen(token), clients[i].jwks, clients[i].algs, &t);

		if (f == JOSE_OK) {
			jose_token_fini(&tok);
			tok = t;
			c = &clients[i];
			res->client = (int)i;
			break;
		}
		if (rank[f] >= rank[best]) {
			best = f;
			if (f == JOSE_FAIL_KID)
				res->kid_unknown_for_iss = clients[i].iss;
		}
		jose_token_fini(&t);
	}
	if (c == NULL)
		return fail(res, jose_fail_name(best));
	res->kid_unknown_for_iss = NULL;
	/* check 28: typ JWT (RFC 7519 §5.1: case-insensitive) */
	if (tok.typ == NULL || strcasecmp(tok.typ, "JWT") != 0) {
		rc = fail(res, "jwt-typ");
		goto out;
	}
	/* check 37: jku only from the allow-list; we never fetch an unlisted jku */
	if (tok.jku && !jku_allowed(c, tok.jku)) {
		rc = fail(res, "jwt-jku");
		goto out;
	}
	iss = json_str(tok.claims, "iss");
	if (iss == NULL || strcmp(iss, c->iss) != 0) {
		rc = fail(res, "jwt-iss");
		goto out;
	}
	if (!aud_matches(tok.claims, called_url)) {
		rc = fail(res, "jwt-aud");
		goto out;
	}
	/* check 32: exp, iat, jti REQUIRED */
	e1 = numeric_date(tok.claims, "exp", &exp);
	e2 = numeric_date(tok.claims, "iat", &iat);
	jti = json_str(tok.claims, "jti");
	if (e1 < 0) {
		rc = fail(res, "jwt-exp");
		goto out;
	}
	if (e2 < 0) {
		rc = fail(res, "jwt-iat");
		goto out;
	}
	if (jti == NULL || *jti == '\0' || strlen(jti) >= sizeof(res->jti)) {
		rc = fail(res, "jwt-jti");
		goto out;
	}
	res->exp = exp;
	res->iat = iat;
	snprintf(res->jti, sizeof(res->jti), "%s", jti);
	/* check 34: not expired, not issued in the future; nbf honoured when present */
	if (exp + CDS_AUTH_SKEW_S < now_s) {
		rc = fail(res, "jwt-exp");
		goto out;
	}
	if (iat - CDS_AUTH_SKEW_S > now_s || exp < iat) {
		rc = fail(res, "jwt-iat");
		goto out;
	}
	e3 = numeric_date(tok.claims, "nbf", &nbf);
	if (e3 == -EINVAL || (e3 == 0 && nbf - CDS_AUTH_SKEW_S > now_s)) {
		rc = fail(res, "jwt-nbf");
		goto out;
	}
	/* check 35: lifetime is a site policy */
	if (c->max_lifetime_s && exp - iat > (int64_t)c->max_lifetime_s) {
		rc = fail(res, "jwt-lifetime");
		goto out;
	}
	/* check 36: replay within the token lifetime */
	rc = replay_cache_check_and_add(replay, c->iss, jti, exp + CDS_AUTH_SKEW_S, now_s);
	if (rc == -EEXIST) {
		rc = fail(res, "jwt-replay");
		goto out;
	}
	if (rc < 0) {
		rc = fail(res, "jwt-replay-cache-full");
		goto out;
	}
	res->rule = "ok";
	rc = 0;
out:
	jose_token_fini(&tok);
	return rc;
}
