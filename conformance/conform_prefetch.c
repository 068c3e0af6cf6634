/* conform_prefetch — prefetch template lint (research/cds-hooks.md checks 11-15) and token
 * resolution. Pure functions over strings; owns nothing. */
#include "conformance/conform_prefetch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* research/cds-hooks.md table 1.J: context fields marked "Prefetch Token: Yes" per hook. */
static const struct {
	const char *hook;
	const char *tokens[3];
} hook_tokens[] = {
	{"patient-view", {"userId", "patientId", "encounterId"}},
	{"order-select", {"userId", "patientId", "encounterId"}},
	{"order-sign", {"userId", "patientId", "encounterId"}},
	{"encounter-start", {"userId", "patientId", "encounterId"}},
	{"encounter-discharge", {"userId", "patientId", "encounterId"}},
	{"appointment-book", {"userId", "patientId", "encounterId"}},
};

/* S2 §Prefetch tokens: the four user tokens derived from userId. */
static const struct {
	const char *token, *type;
} user_tokens[] = {
	{"userPractitionerId", "Practitioner"},
	{"userPractitionerRoleId", "PractitionerRole"},
	{"userPatientId", "Patient"},
	{"userRelatedPersonId", "RelatedPerson"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

bool conform_hook_known(const char *hook)
{
	for (size_t i = 0; i < N(hook_tokens); i++)
		if (strcmp(hook_tokens[i].hook, hook) == 0)
			return true;
	return false;
}

bool conform_hook_token_field(const char *hook, const char *field)
{
	for (size_t i = 0; i < N(hook_tokens); i++) {
		if (strcmp(hook_tokens[i].hook, hook) != 0)
			continue;
		for (size_t k = 0; k < 3; k++)
			if (hook_tokens[i].tokens[k] && strcmp(hook_tokens[i].tokens[k], field) == 0)
				return true;
		return false;
	}
	/* an organisation-specific hook: its definition is unknown, accept root-level fields */
	return strchr(field, '.') == NULL;
}

static void lint_add(struct conform_lint *out, size_t max, size_t *n, const char *check, enum cds_level lvl,
		     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void lint_add(struct conform_lint *out, size_t max, size_t *n, const char *check, enum cds_level lvl,
		     const char *fmt, ...)
{
	va_list ap;

	if (*n >= max)
		return;
	out[*n].check = check;
	out[*n].level = lvl;
	va_start(ap, fmt);
	vsnprintf(out[*n].msg, sizeof(out[*n].msg), fmt, ap);
	va_end(ap);
	(*n)++;
}

static bool is_user_token(const char *t)
{
	for (size_t i = 0; i < N(user_tokens); i++)
		if (strcmp(user_tokens[i].token, t) == 0)
			return true;
	return false;
}

/* Check 14: the recommended query subset. */
static void lint_query(const char *q, struct conform_lint *out, size_t max, size_t *n)
{
	char buf[1024], *save = NULL, *p;

	snprintf(buf, sizeof(buf), "%s", q);
	for (p = strtok_r(buf, "&", &save); p; p = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(p, '='), *colon;
		const char *val = eq ? eq + 1 : "";

		if (eq)
			*eq = '\0';
		if (!strcmp(p, "_include") || !strcmp(p, "_revinclude") || !strncmp(p, "_has", 4)) {
			lint_add(out, max, n, "CDS-PREF-014", CDS_SHOULD, "query uses %s, outside the recommended subset", p);
			continue;
		}
		if (p[0] == '_' && strcmp(p, "_id") != 0 && strcmp(p, "_count") != 0 && strcmp(p, "_sort") != 0 &&
		    strcmp(p, "_lastUpdated") != 0) {
			lint_add(out, max, n, "CDS-PREF-014", CDS_SHOULD, "query uses result parameter %s", p);
			continue;
		}
		if (strchr(p, '.')) {
			lint_add(out, max, n, "CDS-PREF-014", CDS_SHOULD, "query uses a chained parameter");
			continue;
		}
		colon = strchr(p, ':');
		if (colon && strcmp(colon, ":in") != 0) {
			lint_add(out, max, n, "CDS-PREF-014", CDS_SHOULD, "query uses modifier %s (only :in is in the subset)",
				 colon);
			continue;
		}
		if ((!strcmp(p, "date") || !strcmp(p, "_lastUpdated") || !strcmp(p, "authoredon")) && strlen(val) > 2 &&
		    val[0] >= 'a' && val[0] <= 'z' && val[1] >= 'a' && val[1] <= 'z' && strncmp(val, "eq", 2) != 0 &&
		    strncmp(val, "lt", 2) != 0 && strncmp(val, "gt", 2) != 0 && strncmp(val, "ge", 2) != 0 && strncmp(val, "le", 2) != 0 &&
		    strncmp(val, "{{", 2) != 0)
			lint_add(out, max, n, "CDS-PREF-014", CDS_SHOULD, "date prefix %.2s is outside the subset", val);
	}
}

static bool has_scheme(const char *s)
{
	const char *p = s;

	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return false;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' ||
	       *p == '.')
		p++;
	return *p == ':';
}

size_t conform_prefetch_lint(const char *hook, const char *tmpl, struct conform_lint *out, size_t max)
{
	size_t n = 0;
	const char *p = tmpl, *q;
	bool balanced = true;

	/* check 15: relative URL (RFC 3986 §4.2: no scheme, not an absolute path); query values may
	 * hold URLs (code=http://loinc.org|...), so only the start of the template counts */
	if (has_scheme(tmpl) || tmpl[0] == '/')
		lint_add(out, max, &n, "CDS-PREF-015", CDS_SHOULD, "template is not a relative FHIR URL");
	/* checks 11-13: every token */
	while ((q = strstr(p, "{{")) != NULL) {
		const char *end = strstr(q + 2, "}}"), *next_open = strstr(q + 2, "{{");
		char tok[128];
		size_t len;

		if (end == NULL || (next_open && next_open < end)) {
			balanced = false;
			break;
		}
		len = (size_t)(end - q - 2);
		snprintf(tok, sizeof(tok), "%.*s", (int)(len < sizeof(tok) ? len : sizeof(tok) - 1), q + 2);
		/* trim spaces */
		{
			char *s = tok, *e;

			while (*s == ' ')
				s++;
			memmove(tok, s, strlen(s) + 1);
			e = tok + strlen(tok);
			while (e > tok && e[-1] == ' ')
				*--e = '\0';
		}
		if (strncmp(tok, "context.", 8) == 0) {
			const char *field = tok + 8;

			if (*field == '\0' || strchr(field, '.') || strchr(field, '(') || strchr(field, '['))
				lint_add(out, max, &n, "CDS-PREF-013", CDS_MUST,
					 "token {{%s}} is not a root-level primitive context field", tok);
			else if (!conform_hook_token_field(hook, field))
				lint_add(out, max, &n, "CDS-PREF-013", CDS_MUST,
					 "context.%s is not a prefetch token of hook %s", field, hook);
		} else if (!is_user_token(tok)) {
			lint_add(out, max, &n, "CDS-PREF-012", CDS_MUST, "token {{%s}} is not a CDS Hooks 2.0 prefetch token",
				 tok);
		}
		p = end + 2;
	}
	if (balanced && strstr(p, "}}") && !strstr(p, "{{"))
		balanced = false;
	/* a stray "}}" before the first "{{" */
	{
		const char *c = strstr(tmpl, "}}"), *o = strstr(tmpl, "{{");

		if (c && (o == NULL || c < o))
			balanced = false;
	}
	if (!balanced || (strchr(tmpl, '{') && !strstr(tmpl, "{{")))
		lint_add(out, max, &n, "CDS-PREF-011", CDS_MUST, "prefetch token braces are unbalanced");
	q = strchr(tmpl, '?');
	if (q)
		lint_query(q + 1, out, max, &n);
	return n;
}

static int append(char *out, size_t cap, size_t *o, const char *s, size_t len, bool encode)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = !encode || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			     c == '-' || c == '.' || c == '_' || c == '~' || c == '/';

		if (*o + (plain ? 1 : 3) >= cap)
			return -E2BIG;
		if (plain) {
			out[(*o)++] = (char)c;
		} else {
			out[(*o)++] = '%';
			out[(*o)++] = hex[c >> 4];
			out[(*o)++] = hex[c & 15];
		}
	}
	out[*o] = '\0';
	return 0;
}

int conform_prefetch_resolve(const char *tmpl, const struct conform_prefetch_ctx *ctx, char *out, size_t cap)
{
	const char *p = tmpl, *q, *qmark = strchr(tmpl, '?');
	size_t o = 0;
	int rc;

	if (cap == 0)
		return -E2BIG;
	out[0] = '\0';
	while ((q = strstr(p, "{{")) != NULL) {
		const char *end = strstr(q + 2, "}}"), *val = NULL, *slash;
		char tok[128];
		size_t len;

		if (end == NULL)
			return -EINVAL;
		if ((rc = append(out, cap, &o, p, (size_t)(q - p), false)) < 0)
			return rc;
		len = (size_t)(end - q - 2);
		if (len >= sizeof(tok))
			return -EINVAL;
		memcpy(tok, q + 2, len);
		tok[len] = '\0';
		if (!strcmp(tok, "context.patientId"))
			val = ctx->patient_id;
		else if (!strcmp(tok, "context.encounterId"))
			val = ctx->encounter_id;
		else if (!strcmp(tok, "context.userId"))
			val = ctx->user_id;
		else if (!strcmp(tok, "user") && ctx->legacy_user_token)
			val = ctx->user_id;
		for (size_t i = 0; val == NULL && i < N(user_tokens); i++) {
			size_t tl = strlen(user_tokens[i].type);

			if (strcmp(tok, user_tokens[i].token) == 0 && ctx->user_id &&
			    strncmp(ctx->user_id, user_tokens[i].type, tl) == 0 && ctx->user_id[tl] == '/')
				val = ctx->user_id + tl + 1;
		}
		if (val == NULL)
			return -ENOENT;
		/* values inside the query part are percent-encoded (the sandbox does the same) */
		slash = (qmark && q > qmark) ? "q" : NULL;
		if ((rc = append(out, cap, &o, val, strlen(val), slash != NULL)) < 0)
			return rc;
		p = end + 2;
	}
	return append(out, cap, &o, p, strlen(p), false);
}
