/* conform_fhir — in-memory FHIR R4 store of the fixture patients and its search subset.
 * Owns the parsed patient Bundles; answers are fresh copies the caller frees. */
#include "conformance/conform_fhir.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conform_util.h"
#include "lib/json.h"
#include "lib/mem.h"

#define FHIR_FILE_MAX (4u << 20)
#define FHIR_MAX_PARAMS 16

struct fhir_patient {
	char *id, *profile, *encounter;
};

struct conform_fhir {
	cJSON **bundles;                /* owned */
	size_t n_bundles;
	const cJSON **res;              /* every resource, borrowed from bundles */
	size_t n_res, cap_res;
	struct fhir_patient *pat;
	size_t n_pat;
};

static void add_res(struct conform_fhir *f, const cJSON *r)
{
	if (f->n_res == f->cap_res) {
		f->cap_res = f->cap_res ? 2 * f->cap_res : 256;
		f->res = xrealloc(f->res, f->cap_res * sizeof(*f->res));
	}
	f->res[f->n_res++] = r;
}

int conform_fhir_load(const char *dir, struct conform_fhir **out, struct err *e)
{
	struct conform_fhir *f = xcalloc(1, sizeof(*f));
	char path[PATH_MAX];
	cJSON *index = NULL, *p;
	int rc = 0;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/index.json", dir);
	index = conform_read_json(path, FHIR_FILE_MAX, e);
	if (index == NULL) {
		rc = e->code ? e->code : -EINVAL;
		goto out;
	}
	cJSON_ArrayForEach(p, json_arr(index, "patients")) {
		const char *id = json_str(p, "id");
		cJSON *b, *ent;

		if (id == NULL || strchr(id, '/') || strlen(id) > 64) {
			rc = err_set(e, -EINVAL, "%s: patient without a usable id", path);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%s.json", dir, id);
		b = conform_read_json(path, FHIR_FILE_MAX, e);
		if (b == NULL) {
			rc = e->code ? e->code : -EINVAL;
			goto out;
		}
		f->bundles = xrealloc(f->bundles, (f->n_bundles + 1) * sizeof(*f->bundles));
		f->bundles[f->n_bundles++] = b;
		f->pat = xrealloc(f->pat, (f->n_pat + 1) * sizeof(*f->pat));
		f->pat[f->n_pat].id = xstrdup(id);
		f->pat[f->n_pat].profile = xstrdup(json_str(p, "profile") ? json_str(p, "profile") : "");
		f->pat[f->n_pat].encounter = NULL;
		cJSON_ArrayForEach(ent, json_arr(b, "entry")) {
			const cJSON *r = json_obj(ent, "resource");
			const char *rt = json_str(r, "resourceType");

			if (rt == NULL || json_str(r, "id") == NULL)
				continue;
			add_res(f, r);
			if (strcmp(rt, "Encounter") == 0 && f->pat[f->n_pat].encounter == NULL)
				f->pat[f->n_pat].encounter = xstrdup(json_str(r, "id"));
		}
		f->n_pat++;
	}
	if (f->n_pat == 0)
		rc = err_set(e, -EINVAL, "%s/index.json: no patients", dir);
out:
	cJSON_Delete(index);
	if (rc < 0) {
		conform_fhir_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

void conform_fhir_free(struct conform_fhir *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n_bundles; i++)
		cJSON_Delete(f->bundles[i]);
	for (size_t i = 0; i < f->n_pat; i++) {
		free(f->pat[i].id);
		free(f->pat[i].profile);
		free(f->pat[i].encounter);
	}
	free(f->bundles);
	free(f->res);
	free(f->pat);
	free(f);
}

size_t conform_fhir_patient_count(const struct conform_fhir *f)
{
	return f->n_pat;
}

const char *conform_fhir_patient_id(const struct conform_fhir *f, size_t i)
{
	return i < f->n_pat ? f->pat[i].id : NULL;
}

const char *conform_fhir_patient_profile(const struct conform_fhir *f, size_t i)
{
	return i < f->n_pat ? f->pat[i].profile : NULL;
}

const char *conform_fhir_encounter_id(const struct conform_fhir *f, const char *patient)
{
	for (size_t i = 0; patient && i < f->n_pat; i++)
		if (strcmp(f->pat[i].id, patient) == 0)
			return f->pat[i].encounter;
	return NULL;
}

const cJSON *conform_fhir_resource(const struct conform_fhir *f, const char *type, const char *id)
{
	for (size_t i = 0; i < f->n_res; i++)
		if (strcmp(json_str(f->res[i], "resourceType"), type) == 0 && strcmp(json_str(f->res[i], "id"), id) == 0)
			return f->res[i];
	return NULL;
}

cJSON *conform_fhir_outcome(const char *severity, const char *code, const char *text)
{
	cJSON *oo = cJSON_CreateObject(), *issues = cJSON_AddArrayToObject(oo, "issue"), *i = cJSON_CreateObject();

	cJSON_AddStringToObject(oo, "resourceType", "OperationOutcome");
	cJSON_AddStringToObject(i, "severity", severity);
	cJSON_AddStringToObject(i, "code", code);
	cJSON_AddStringToObject(i, "diagnostics", text);
	cJSON_AddItemToArray(issues, i);
	return oo;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int conform_url_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '%') {
			int h, l;

			if (i + 2 >= len)
				return -EINVAL;
			h = hexval(in[i + 1]);
			l = hexval(in[i + 2]);
			if (h < 0 || l < 0)
				return -EINVAL;
			c = (char)(h * 16 + l);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (o + 1 >= cap)
			return -E2BIG;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* --- search ------------------------------------------------------------------------------ */

struct param {
	char name[48];
	char value[512];
};

/* "Patient/x" or "x" -> "x" */
static const char *strip_patient(const char *v)
{
	return strncmp(v, "Patient/", 8) == 0 ? v + 8 : v;
}

static const char *ref_of(const cJSON *r, const char *member)
{
	return json_str(json_obj(r, member), "reference");
}

static bool coding_matches(const cJSON *cc, const char *tok)
{
	const cJSON *c;
	const char *bar = strchr(tok, '|');

	cJSON_ArrayForEach(c, json_arr(cc, "coding")) {
		const char *sys = json_str(c, "system"), *code = json_str(c, "code");

		if (code == NULL)
			continue;
		if (bar == NULL) {
			if (strcmp(code, tok) == 0)
				return true;
		} else if (strcmp(code, bar + 1) == 0 &&
			   (bar == tok || (sys && strlen(sys) == (size_t)(bar - tok) && strncmp(sys, tok, (size_t)(bar - tok)) == 0))) {
			return true;
		}
	}
	return false;
}

/* Any of the comma-separated tokens matches the CodeableConcept (or any in an array of them). */
static bool token_any(const cJSON *cc, const char *list)
{
	char buf[512], *save = NULL, *t;
	bool hit = false;

	if (cc == NULL)
		return false;
	snprintf(buf, sizeof(buf), "%s", list);
	for (t = strtok_r(buf, ",", &save); t && !hit; t = strtok_r(NULL, ",", &save)) {
		if (cJSON_IsArray(cc)) {
			const cJSON *x;

			cJSON_ArrayForEach(x, cc)
				hit = hit || coding_matches(x, t);
		} else {
			hit = coding_matches(cc, t);
		}
	}
	return hit;
}

static const char *date_of(const cJSON *r)
{
	const char *d = json_str(r, "effectiveDateTime");

	if (d == NULL)
		d = json_str(r, "authoredOn");
	if (d == NULL)
		d = json_str(r, "recordedDate");
	if (d == NULL)
		d = json_str(json_obj(r, "period"), "start");
	return d;
}

/* date parameter with a FHIR prefix (check 14 subset: eq, lt, gt, le, ge). Comparison on the
 * ISO-8601 text, truncated to the length of the given value (day or instant precision). */
static int date_matches(const cJSON *r, const char *v)
{
	const char *d = date_of(r), *val = v;
	char pre[3] = "eq";
	int c;

	if (strlen(v) > 2 && v[0] >= 'a' && v[0] <= 'z' && v[1] >= 'a' && v[1] <= 'z') {
		memcpy(pre, v, 2);
		val = v + 2;
	}
	if (strcmp(pre, "eq") != 0 && strcmp(pre, "lt") != 0 && strcmp(pre, "gt") != 0 && strcmp(pre, "le") != 0 && strcmp(pre, "ge") != 0)
		return -1;
	if (d == NULL)
		return 0;
	c = strncmp(d, val, strlen(val));
	if (!strcmp(pre, "eq"))
		return c == 0;
	if (!strcmp(pre, "lt"))
		return c < 0;
	if (!strcmp(pre, "gt"))
		return c > 0;
	if (!strcmp(pre, "le"))
		return c <= 0;
	return c >= 0;
}

static int cmp_date_desc(const void *a, const void *b)
{
	const char *x = date_of(*(const cJSON *const *)a), *y = date_of(*(const cJSON *const *)b);

	return strcmp(y ? y : "", x ? x : "");
}

static int cmp_date_asc(const void *a, const void *b)
{
	return -cmp_date_desc(a, b);
}

static void answer_error(struct conform_fhir_answer *out, int status, const char *code, const char *text)
{
	out->status = status;
	out->body = conform_fhir_outcome("error", code, text);
}

static void append_ignored(struct conform_fhir_answer *out, const char *name)
{
	size_t l = strlen(out->ignored);

	snprintf(out->ignored + l, sizeof(out->ignored) - l, "%s%s", l ? "," : "", name);
}

void conform_fhir_get(const struct conform_fhir *f, const char *rel, const char *base, struct conform_fhir_answer *out)
{
	struct param params[FHIR_MAX_PARAMS];
	size_t np = 0, n_match = 0, count = 0, offset = 0;
	char type[64], id[128];
	const char *q = strchr(rel, '?'), *slash;
	const cJSON **match = NULL;
	int sort = 0; /* 1 asc, -1 desc */
	cJSON *bundle, *entries, *links;
	size_t tl;

	memset(out, 0, sizeof(*out));
	while (*rel == '/')
		rel++;
	tl = q ? (size_t)(q - rel) : strlen(rel);
	slash = memchr(rel, '/', tl);
	if (tl == 0 || tl >= sizeof(type)) {
		answer_error(out, 400, "invalid", "unsupported request");
		return;
	}
	if (slash) {
		/* instance read: Type/id */
		const cJSON *r;

		snprintf(type, sizeof(type), "%.*s", (int)(slash - rel), rel);
		snprintf(id, sizeof(id), "%.*s", (int)(tl - (size_t)(slash - rel) - 1), slash + 1);
		if (strchr(id, '/')) {
			answer_error(out, 400, "not-supported", "only Type/id reads are supported");
			return;
		}
		r = conform_fhir_resource(f, type, id);
		if (r == NULL) {
			answer_error(out, 404, "not-found", "resource not found");
			return;
		}
		out->status = 200;
		out->body = cJSON_Duplicate(r, 1);
		return;
	}
	snprintf(type, sizeof(type), "%.*s", (int)tl, rel);
	/* parse the query */
	for (const char *p = q ? q + 1 : NULL; p && *p;) {
		const char *amp = strchr(p, '&'), *eq;
		size_t len = amp ? (size_t)(amp - p) : strlen(p);

		eq = memchr(p, '=', len);
		if (eq && np < FHIR_MAX_PARAMS &&
		    conform_url_decode(p, (size_t)(eq - p), params[np].name, sizeof(params[np].name)) == 0 &&
		    conform_url_decode(eq + 1, len - (size_t)(eq - p) - 1, params[np].value, sizeof(params[np].value)) == 0)
			np++;
		else if (np >= FHIR_MAX_PARAMS || eq) {
			answer_error(out, 400, "invalid", "malformed or too many search parameters");
			return;
		}
		p = amp ? amp + 1 : NULL;
	}
	for (size_t k = 0; k < np; k++) {
		if (!strcmp(params[k].name, "_count"))
			count = (size_t)strtoul(params[k].value, NULL, 10);
		else if (!strcmp(params[k].name, "_offset"))
			offset = (size_t)strtoul(params[k].value, NULL, 10);
		else if (!strcmp(params[k].name, "_sort"))
			sort = !strcmp(params[k].value, "-date") ? -1 : !strcmp(params[k].value, "date") ? 1 : 0;
	}
	match = xmalloc((f->n_res ? f->n_res : 1) * sizeof(*match));
	for (size_t i = 0; i < f->n_res; i++) {
		const cJSON *r = f->res[i];
		bool ok = strcmp(json_str(r, "resourceType"), type) == 0;

		for (size_t k = 0; ok && k < np; k++) {
			const char *n = params[k].name, *v = params[k].value;

			if (n[0] == '_' && strcmp(n, "_id") != 0)
				continue; /* _count, _offset, _sort handled above; other result params ignored */
			if (!strcmp(n, "_id")) {
				ok = strcmp(json_str(r, "id"), v) == 0;
			} else if (!strcmp(n, "patient") || !strcmp(n, "subject")) {
				const char *ref = ref_of(r, "subject") ? ref_of(r, "subject") : ref_of(r, "patient");

				ok = ref && !strcmp(strip_patient(ref), strip_patient(v)) && !strncmp(ref, "Patient/", 8);
			} else if (!strcmp(n, "encounter")) {
				const char *ref = ref_of(r, "encounter");
				const char *want = strncmp(v, "Encounter/", 10) == 0 ? v + 10 : v;

				ok = ref && strncmp(ref, "Encounter/", 10) == 0 && !strcmp(ref + 10, want);
			} else if (!strcmp(n, "code")) {
				ok = token_any(json_obj(r, "code"), v) ||
				     token_any(json_obj(r, "medicationCodeableConcept"), v);
			} else if (!strcmp(n, "category")) {
				ok = token_any(cJSON_GetObjectItemCaseSensitive(r, "category"), v);
			} else if (!strcmp(n, "clinical-status")) {
				ok = token_any(json_obj(r, "clinicalStatus"), v);
			} else if (!strcmp(n, "status")) {
				char buf[512], *save = NULL, *t;
				const char *st = json_str(r, "status");

				snprintf(buf, sizeof(buf), "%s", v);
				ok = false;
				for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
					ok = ok || (st && !strcmp(st, t));
			} else if (!strcmp(n, "date")) {
				int m = date_matches(r, v);

				if (m < 0) {
					free(match);
					answer_error(out, 400, "not-supported", "unsupported date prefix");
					return;
				}
				ok = m == 1;
			} else {
				if (!strstr(out->ignored, n))
					append_ignored(out, n);
			}
		}
		if (ok)
			match[n_match++] = r;
	}
	if (sort)
		qsort(match, n_match, sizeof(*match), sort < 0 ? cmp_date_desc : cmp_date_asc);
	bundle = cJSON_CreateObject();
	cJSON_AddStringToObject(bundle, "resourceType", "Bundle");
	cJSON_AddStringToObject(bundle, "type", "searchset");
	cJSON_AddNumberToObject(bundle, "total", (double)n_match);
	links = cJSON_AddArrayToObject(bundle, "link");
	{
		cJSON *self = cJSON_CreateObject();
		char url[2048];

		snprintf(url, sizeof(url), "%s/%s", base, rel);
		cJSON_AddStringToObject(self, "relation", "self");
		cJSON_AddStringToObject(self, "url", url);
		cJSON_AddItemToArray(links, self);
	}
	if (offset > n_match)
		offset = n_match;
	{
		size_t end = count ? (offset + count < n_match ? offset + count : n_match) : n_match;

		if (end > offset) {
			entries = cJSON_AddArrayToObject(bundle, "entry");
			for (size_t i = offset; i < end; i++) {
				cJSON *en = cJSON_CreateObject(), *search = cJSON_CreateObject();
				char url[1024];

				snprintf(url, sizeof(url), "%s/%s/%s", base, type, json_str(match[i], "id"));
				cJSON_AddStringToObject(en, "fullUrl", url);
				cJSON_AddItemToObject(en, "resource", cJSON_Duplicate(match[i], 1));
				cJSON_AddStringToObject(search, "mode", "match");
				cJSON_AddItemToObject(en, "search", search);
				cJSON_AddItemToArray(entries, en);
			}
		}
		if (end < n_match) {
			/* paging: the same query with _offset moved on (RFC 8288 relation "next") */
			struct buf u;
			cJSON *next = cJSON_CreateObject();

			buf_init(&u, 4096);
			if (buf_printf(&u, "%s/%s?", base, type) < 0)
				abort();
			for (size_t k = 0, first = 1; k < np; k++) {
				if (!strcmp(params[k].name, "_offset"))
					continue;
				if (buf_printf(&u, "%s", first ? "" : "&") < 0)
					abort();
				first = 0;
				/* values were decoded: re-encode the few characters that matter here */
				if (buf_printf(&u, "%s=", params[k].name) < 0)
					abort();
				for (const char *c = params[k].value; *c; c++) {
					int rc = (*c == '&' || *c == '=' || *c == '|' || *c == ' ' || *c == '%' || *c == '#' || *c == '+')
							 ? buf_printf(&u, "%%%02X", (unsigned char)*c)
							 : buf_append(&u, c, 1);
					if (rc < 0)
						abort();
				}
			}
			if (buf_printf(&u, "%s_offset=%zu", np ? "&" : "", end) < 0)
				abort();
			cJSON_AddStringToObject(next, "relation", "next");
			cJSON_AddStringToObject(next, "url", u.p);
			cJSON_AddItemToArray(links, next);
			buf_fini(&u);
			out->paged = true;
		}
	}
	free(match);
	out->status = 200;
	out->body = bundle;
}

static bool resource_in_scope(const cJSON *r, const char *patient)
{
	const char *rt = json_str(r, "resourceType"), *ref;

	if (rt == NULL)
		return false;
	if (!strcmp(rt, "OperationOutcome"))
		return true;
	if (!strcmp(rt, "Patient"))
		return json_str(r, "id") && !strcmp(json_str(r, "id"), patient);
	ref = ref_of(r, "subject") ? ref_of(r, "subject") : ref_of(r, "patient");
	return ref && !strncmp(ref, "Patient/", 8) && !strcmp(ref + 8, patient);
}

bool conform_fhir_in_scope(const cJSON *body, const char *patient)
{
	const cJSON *e;
	const char *rt = json_str(body, "resourceType");

	if (rt && !strcmp(rt, "Bundle")) {
		cJSON_ArrayForEach(e, json_arr(body, "entry"))
			if (!resource_in_scope(json_obj(e, "resource"), patient))
				return false;
		return true;
	}
	return resource_in_scope(body, patient);
}
