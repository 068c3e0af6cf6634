/* fhirgate — classification of FHIR REST calls against read/write approvals and validation of
 * AI-drafted DocumentReference write-backs. Owns nothing beyond one call (the decoded
 * attachment buffer is freed before return). */
#include "sidecar/fhirgate.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "lib/b64.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "lib/mem.h"

#define ATTACHMENT_MAX (8u << 20)

static void rule(struct fhirgate_result *r, const char *id)
{
	for (size_t i = 0; i < r->n_rules; i++)
		if (strcmp(r->rules[i], id) == 0)
			return;
	if (r->n_rules < FHIRGATE_MAX_RULES)
		r->rules[r->n_rules++] = id;
}

/* FHIR R4 §3.1.0 resource type names: an upper-case letter then letters. */
static bool type_token(const char *s, size_t n)
{
	if (n == 0 || n >= 64 || !(s[0] >= 'A' && s[0] <= 'Z'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
			return false;
	return true;
}

/* FHIR R4 id: [A-Za-z0-9\-\.]{1,64} */
static bool id_token(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Percent-decode (and '+' → space, application/x-www-form-urlencoded) into out. */
static void pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	out[o] = '\0';
}

/* FHIR R4 §3.1.1.5.5/6: _include=Source:param[:Target], _revinclude=Source:param[:Target]. */
static void check_includes(const struct fhirgate_policy *p, const char *query, struct fhirgate_result *r)
{
	const char *q = query;

	while (q && *q) {
		const char *amp = strchr(q, '&'), *eq;
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		char key[64], val[256];

		eq = memchr(q, '=', len);
		pct_decode(q, eq ? (size_t)(eq - q) : len, key, sizeof(key));
		pct_decode(eq ? eq + 1 : q + len, eq ? len - (size_t)(eq + 1 - q) : 0, val, sizeof(val));
		if (strncmp(key, "_include", 8) == 0 || strncmp(key, "_revinclude", 11) == 0) {
			bool rev = strncmp(key, "_revinclude", 11) == 0;
			char *c1 = strchr(val, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

			if (c1 == NULL || strcmp(val, "*") == 0 || strchr(val, '*')) {
				rule(r, "FHIR-INCLUDE");
			} else if (rev) {
				*c1 = '\0';
				if (!type_token(val, strlen(val)) || !p->read_ok(val, p->arg))
					rule(r, "FHIR-INCLUDE");
			} else if (c2 == NULL) {
				rule(r, "FHIR-INCLUDE"); /* target type unknown: cannot tell what it pulls */
			} else if (!type_token(c2 + 1, strlen(c2 + 1)) || !p->read_ok(c2 + 1, p->arg)) {
				rule(r, "FHIR-INCLUDE");
			}
		}
		q = amp ? amp + 1 : NULL;
	}
}

int fhirgate_check(const struct fhirgate_policy *p, const char *method, const char *path, const char *query,
		   struct fhirgate_request *req, struct fhirgate_result *r)
{
	const char *seg[5];
	size_t len[5], n = 0;
	const char *s = path;
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

	memset(req, 0, sizeof(*req));
	req->kind = FHIRGATE_OTHER;
	r->n_rules = 0;
	if (path == NULL || path[0] != '/') {
		rule(r, "FHIR-PATH");
		return -EACCES;
	}
	while (*s == '/' && n < 5) {
		const char *e = strchr(s + 1, '/');

		seg[n] = s + 1;
		len[n] = e ? (size_t)(e - s - 1) : strlen(s + 1);
		if (len[n] == 0 && !(n == 0 && e == NULL)) {
			rule(r, "FHIR-PATH"); /* empty segment: "//" */
			return -EACCES;
		}
		n++;
		s = e ? e : s + 1 + strlen(s + 1);
	}
	if (*s) {
		rule(r, "FHIR-PATH");
		return -EACCES;
	}
	if (n == 1 && len[0] == 0) {
		/* the base itself: POST = batch/transaction */
		rule(r, strcmp(method, "POST") == 0 ? "FHIR-BATCH" : "FHIR-PATH");
		return -EACCES;
	}
	if (n == 1 && len[0] == 8 && memcmp(seg[0], "metadata", 8) == 0 && get)
		return 0; /* CapabilityStatement: no patient data */
	if (!type_token(seg[0], len[0])) {
		rule(r, "FHIR-PATH");
		return -EACCES;
	}
	memcpy(req->type, seg[0], len[0]);
	if (n >= 2) {
		if (len[1] == 7 && memcmp(seg[1], "_search", 7) == 0 && n == 2 && !strcmp(method, "POST")) {
			req->kind = FHIRGATE_SEARCH;
		} else if (!id_token(seg[1], len[1])) {
			rule(r, "FHIR-PATH"); /* includes $operations: refused, they can pull anything */
			return -EACCES;
		} else {
			memcpy(req->id, seg[1], len[1]);
		}
	}
	if (req->kind == FHIRGATE_SEARCH) {
		/* POST _search: caller passes the form body as the query */
	} else if (get && n == 1) {
		req->kind = FHIRGATE_SEARCH;
	} else if (get && n == 2) {
		req->kind = FHIRGATE_READ;
	} else if (get && n >= 3 && len[2] == 8 && memcmp(seg[2], "_history", 8) == 0 && n <= 4) {
		req->kind = FHIRGATE_READ;
	} else if (get && n == 3 && type_token(seg[2], len[2])) {
		/* compartment search /Patient/1/Observation: both types must be readable */
		char ctype[64];

		memcpy(ctype, seg[2], len[2]);
		ctype[len[2]] = '\0';
		if (!p->read_ok(ctype, p->arg))
			rule(r, "FHIR-READ");
		req->kind = FHIRGATE_SEARCH;
	} else if (!strcmp(method, "POST") && n == 1) {
		req->kind = FHIRGATE_CREATE;
	} else if (!strcmp(method, "PUT") && (n == 2 || (n == 1 && query))) {
		req->kind = FHIRGATE_UPDATE;
	} else if (!strcmp(method, "PATCH") && (n == 2 || (n == 1 && query))) {
		req->kind = FHIRGATE_PATCH;
	} else if (!strcmp(method, "DELETE") && (n == 2 || (n == 1 && query))) {
		req->kind = FHIRGATE_DELETE;
	} else {
		rule(r, "FHIR-PATH");
		return -EACCES;
	}
	if (req->kind == FHIRGATE_READ || req->kind == FHIRGATE_SEARCH) {
		if (!p->read_ok(req->type, p->arg))
			rule(r, "FHIR-READ");
		check_includes(p, query, r);
	} else if (!p->write_ok(req->type, p->arg)) {
		/* read-only sites (no fhir.write) refuse every write */
		rule(r, "FHIR-WRITE");
	}
	return r->n_rules ? -EACCES : 0;
}

/* --- DocumentReference write-back ---------------------------------------------------------- */

static bool ref_is(const char *ref, const char *type, const char *id)
{
	char want[200];
	size_t n, rl;

	if (ref == NULL || id == NULL)
		return false;
	n = (size_t)snprintf(want, sizeof(want), "%s/%s", type, id);
	rl = strlen(ref);
	/* relative "Type/id", or an absolute URL ending in "/Type/id" */
	return strcmp(ref, want) == 0 || (rl > n && ref[rl - n - 1] == '/' && strcmp(ref + rl - n, want) == 0 &&
					  strstr(ref, "://") != NULL);
}

static bool fhir_datetime(const char *s)
{
	/* YYYY-MM-DDThh:mm:ss(.sss)(Z|+hh:mm) — an instant/dateTime with time */
	if (s == NULL || strlen(s) < 20)
		return false;
	for (int i = 0; i < 19; i++) {
		char c = s[i];
		bool want_digit = !(i == 4 || i == 7 || i == 10 || i == 13 || i == 16);

		if (want_digit ? !(c >= '0' && c <= '9')
			       : c != (i == 10 ? 'T' : (i == 13 || i == 16) ? ':' : '-'))
			return false;
	}
	return strchr(s + 19, 'Z') || strchr(s + 19, '+') || strchr(s + 19, '-');
}

size_t fhirgate_validate_docref(const cJSON *doc, const struct fhirgate_context *ctx, struct fhirgate_result *r)
{
	const char *st = json_str(doc, "status"), *ds = json_str(doc, "docStatus");
	const cJSON *type = json_obj(doc, "type"), *c, *content, *context, *authors;
	bool loinc = false;

	r->n_rules = 0;
	if (!cJSON_IsObject(doc) || !json_str(doc, "resourceType") ||
	    strcmp(json_str(doc, "resourceType"), "DocumentReference") != 0) {
		rule(r, "DOCREF-JSON");
		return r->n_rules;
	}
	if (st == NULL || strcmp(st, "current") != 0)
		rule(r, "DOCREF-STATUS");
	/* AI drafts await clinician co-signature (DESIGN.md §1 pathway 4) */
	if (ds == NULL || strcmp(ds, "preliminary") != 0)
		rule(r, "DOCREF-DOCSTATUS");
	cJSON_ArrayForEach(c, json_arr(type, "coding")) {
		const char *sys = json_str(c, "system");

		if (sys && strcmp(sys, "http://loinc.org") == 0 && json_str(c, "code"))
			loinc = true;
	}
	if (!loinc)
		rule(r, "DOCREF-TYPE");
	if (!ref_is(json_str(json_obj(doc, "subject"), "reference"), "Patient", ctx->patient_id))
		rule(r, "DOCREF-SUBJECT");
	if (ctx->encounter_id) {
		bool found = false;

		context = json_obj(doc, "context");
		cJSON_ArrayForEach(c, json_arr(context, "encounter"))
			found = found || ref_is(json_str(c, "reference"), "Encounter", ctx->encounter_id);
		if (!found)
			rule(r, "DOCREF-ENCOUNTER");
	}
	authors = json_arr(doc, "author");
	if (authors == NULL || cJSON_GetArraySize(authors) == 0)
		rule(r, "DOCREF-AUTHOR");
	if (!fhir_datetime(json_str(doc, "date")))
		rule(r, "DOCREF-DATE");
	content = json_arr(doc, "content");
	if (content == NULL || cJSON_GetArraySize(content) == 0)
		rule(r, "DOCREF-ATTACHMENT");
	cJSON_ArrayForEach(c, content) {
		const cJSON *att = json_obj(c, "attachment");
		const char *data = json_str(att, "data"), *hash = json_str(att, "hash");
		struct buf raw;
		int64_t size;

		if (att == NULL || !json_str(att, "contentType") || (!data && !json_str(att, "url"))) {
			rule(r, "DOCREF-ATTACHMENT");
			continue;
		}
		if (data == NULL)
			continue;
		buf_init(&raw, ATTACHMENT_MAX);
		if (b64_decode(data, strlen(data), B64_STD, &raw) < 0) {
			rule(r, "DOCREF-BASE64");
			buf_fini(&raw);
			continue;
		}
		if (json_i64(att, "size", &size) == 0 && (size < 0 || (uint64_t)size != raw.len))
			rule(r, "DOCREF-SIZE");
		if (hash) {
			/* FHIR R4 Attachment.hash: base64 of the SHA-1 of the data */
			unsigned char md[SHA_DIGEST_LENGTH];
			struct buf h;

			buf_init(&h, 64);
			SHA1((const unsigned char *)(raw.p ? raw.p : ""), raw.len, md);
			if (b64_decode(hash, strlen(hash), B64_STD, &h) < 0 || h.len != sizeof(md) || memcmp(h.p, md, sizeof(md)) != 0)
				rule(r, "DOCREF-HASH");
			buf_fini(&h);
		}
		if (ctx->other_patient_in && raw.len && ctx->other_patient_in(raw.p, raw.len, ctx->arg))
			rule(r, "DOCREF-OTHER-PATIENT");
		buf_fini(&raw);
	}
	if (ctx->other_patient_in && json_str(doc, "description") &&
	    ctx->other_patient_in(json_str(doc, "description"), strlen(json_str(doc, "description")), ctx->arg))
		rule(r, "DOCREF-OTHER-PATIENT");
	return r->n_rules;
}

static const struct {
	const char *rule, *text;
} rule_text[] = {
	{"FHIR-PATH", "the request is not a FHIR interaction the site policy can classify"},
	{"FHIR-READ", "reading this resource type is not approved for this site"},
	{"FHIR-WRITE", "writing this resource type is not approved for this site"},
	{"FHIR-INCLUDE", "_include/_revinclude would return resource types that are not approved"},
	{"FHIR-BATCH", "batch/transaction Bundles are not accepted; send one interaction per request"},
	{"DOCREF-JSON", "body must be a DocumentReference resource"},
	{"DOCREF-STATUS", "status must be current"},
	{"DOCREF-DOCSTATUS", "docStatus must be preliminary: AI drafts await clinician co-signature"},
	{"DOCREF-TYPE", "type must carry a LOINC note-type coding"},
	{"DOCREF-SUBJECT", "subject must be the patient in the hook's context"},
	{"DOCREF-ENCOUNTER", "context.encounter must reference the encounter in context"},
	{"DOCREF-AUTHOR", "author is required"},
	{"DOCREF-DATE", "date must be a FHIR instant"},
	{"DOCREF-ATTACHMENT", "every content.attachment needs contentType and data or url"},
	{"DOCREF-BASE64", "attachment data is not valid base64"},
	{"DOCREF-SIZE", "attachment size does not match the data"},
	{"DOCREF-HASH", "attachment hash is not the SHA-1 of the data"},
	{"DOCREF-OTHER-PATIENT", "the note contains identifiers of another patient"},
};

cJSON *fhirgate_outcome(const struct fhirgate_result *r, const char *code)
{
	cJSON *oo = cJSON_CreateObject(), *issues;

	cJSON_AddStringToObject(oo, "resourceType", "OperationOutcome");
	issues = cJSON_AddArrayToObject(oo, "issue");
	for (size_t i = 0; i < r->n_rules; i++) {
		cJSON *is = cJSON_CreateObject();
		const char *text = "policy violation";
		char diag[256];

		for (size_t k = 0; k < sizeof(rule_text) / sizeof(rule_text[0]); k++)
			if (strcmp(rule_text[k].rule, r->rules[i]) == 0)
				text = rule_text[k].text;
		snprintf(diag, sizeof(diag), "%s: %s", r->rules[i], text);
		cJSON_AddStringToObject(is, "severity", "error");
		cJSON_AddStringToObject(is, "code", code);
		cJSON_AddStringToObject(is, "diagnostics", diag);
		cJSON_AddItemToArray(issues, is);
	}
	return oo;
}
