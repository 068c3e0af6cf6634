/* conform_req — request templates and prefetch variants. Owns nothing; every tree returned is
 * a fresh copy the caller frees. */
#include "conformance/conform_req.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conform_util.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "lib/mem.h"

#define TEMPLATE_MAX (256u * 1024u)

cJSON *conform_template_load(const char *fixtures_dir, const char *dir, const char *hook, struct err *e)
{
	char path[PATH_MAX];

	if (strchr(hook, '/') || strchr(dir, '/') || hook[0] == '.')
		return err_set(e, -EINVAL, "bad hook or template directory name"), NULL;
	snprintf(path, sizeof(path), "%s/hooks/%s/%s.json", fixtures_dir, dir, hook);
	return conform_read_json(path, TEMPLATE_MAX, e);
}

static const char *var(const struct conform_hook_vars *v, const char *name, size_t len, bool *known)
{
	static const struct {
		const char *name;
		size_t off;
	} map[] = {
		{"hookInstance", offsetof(struct conform_hook_vars, hook_instance)},
		{"fhirServer", offsetof(struct conform_hook_vars, fhir_server)},
		{"patientId", offsetof(struct conform_hook_vars, patient_id)},
		{"encounterId", offsetof(struct conform_hook_vars, encounter_id)},
		{"userId", offsetof(struct conform_hook_vars, user_id)},
		{"today", offsetof(struct conform_hook_vars, today)},
		{"tomorrow", offsetof(struct conform_hook_vars, tomorrow)},
	};

	*known = false;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strlen(map[i].name) == len && memcmp(map[i].name, name, len) == 0) {
			*known = true;
			return *(const char *const *)((const char *)v + map[i].off);
		}
	}
	return NULL;
}

/* Substitute {{name}} in s. Returns a new string, or NULL when a known placeholder has no value
 * (the member is then dropped). Unknown placeholders are left as they are. */
static char *subst(const char *s, const struct conform_hook_vars *v)
{
	struct buf b;
	const char *p = s, *q;

	buf_init(&b, 64 * 1024);
	while ((q = strstr(p, "{{")) != NULL) {
		const char *end = strstr(q + 2, "}}"), *val;
		bool known;

		if (end == NULL)
			break;
		val = var(v, q + 2, (size_t)(end - q - 2), &known);
		if (buf_append(&b, p, (size_t)(q - p)) < 0)
			goto fail;
		if (known && val == NULL)
			goto fail;
		if (buf_append(&b, known ? val : q, known ? strlen(val) : (size_t)(end + 2 - q)) < 0)
			goto fail;
		p = end + 2;
	}
	if (buf_append_str(&b, p) < 0)
		goto fail;
	return buf_detach(&b, NULL);
fail:
	buf_fini(&b);
	return NULL;
}

/* cJSON_ReplaceItemViaPointer keeps no member name: give the replacement the old one. */
static void replace(cJSON *parent, cJSON *item, cJSON *rep)
{
	if (item->string && cJSON_IsObject(parent)) {
		rep->string = xstrdup(item->string);
		rep->type &= ~cJSON_StringIsConst;
	}
	cJSON_ReplaceItemViaPointer(parent, item, rep);
}

static void fill(cJSON *node, const struct conform_hook_vars *v)
{
	cJSON *c = node->child, *next;

	for (; c; c = next) {
		next = c->next;
		if (cJSON_IsString(c)) {
			char *n;

			if (strcmp(c->valuestring, "{{fhirAuthorization}}") == 0) {
				if (v->fhir_authorization)
					replace(node, c, cJSON_Duplicate(v->fhir_authorization, 1));
				else
					cJSON_Delete(cJSON_DetachItemViaPointer(node, c));
				continue;
			}
			n = subst(c->valuestring, v);
			if (n == NULL) {
				cJSON_Delete(cJSON_DetachItemViaPointer(node, c));
				continue;
			}
			replace(node, c, cJSON_CreateString(n));
			free(n);
		} else if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
			fill(c, v);
		}
	}
}

cJSON *conform_template_fill(const cJSON *tmpl, const struct conform_hook_vars *v)
{
	cJSON *r = cJSON_Duplicate(tmpl, 1);

	fill(r, v);
	return r;
}

const char *conform_pf_mode_name(enum conform_pf_mode m)
{
	static const char *const names[] = {
		"prefetch-full", "prefetch-partial", "prefetch-none", "prefetch-null",
		"prefetch-operationoutcome", "prefetch-paginated", "prefetch-omit-failed",
	};

	return (size_t)m < sizeof(names) / sizeof(names[0]) ? names[m] : "?";
}

/* Force _count=page on a search. */
static void with_count(const char *rel, char *out, size_t cap)
{
	const char *q = strchr(rel, '?');
	char buf[2048];
	size_t o;

	if (q == NULL) {
		snprintf(out, cap, "%s?_count=%d", rel, CONFORM_PAGE_SIZE);
		return;
	}
	/* drop an existing _count, keep the rest */
	o = (size_t)snprintf(buf, sizeof(buf), "%.*s?", (int)(q - rel), rel);
	for (const char *p = q + 1; *p && o < sizeof(buf);) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);

		if (strncmp(p, "_count=", 7) != 0)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%.*s&", (int)len, p);
		p = amp ? amp + 1 : p + len;
	}
	if (o < sizeof(buf))
		snprintf(buf + o, sizeof(buf) - o, "_count=%d", CONFORM_PAGE_SIZE);
	snprintf(out, cap, "%s", buf);
}

static void desc_add(char *desc, size_t cap, const char *key, const char *what)
{
	size_t l = strlen(desc);

	if (l + 1 < cap)
		snprintf(desc + l, cap - l, "%s%s%s%s", l ? ", " : "", key, what ? "=" : "", what ? what : "");
}

cJSON *conform_prefetch_build(const cJSON *templates, const char *hook, const struct conform_prefetch_ctx *ctx,
			      const struct conform_fhir *store, const char *fhir_base, enum conform_pf_mode mode,
			      char *desc, size_t desc_cap)
{
	cJSON *out = cJSON_CreateObject();
	const cJSON *t;
	int idx = 0, n_keys = cJSON_GetArraySize(templates);

	(void)hook;
	if (desc_cap)
		desc[0] = '\0';
	if (mode == CONFORM_PF_NONE || !cJSON_IsObject(templates)) {
		cJSON_Delete(out);
		return NULL;
	}
	cJSON_ArrayForEach(t, templates) {
		char rel[2048], rel2[2048];
		struct conform_fhir_answer a;
		int k = idx++;

		if (!cJSON_IsString(t))
			continue;
		if (mode == CONFORM_PF_PARTIAL && k > 0) {
			desc_add(desc, desc_cap, t->string, "omitted");
			continue;
		}
		/* S2 §Prefetch Template: a key whose tokens cannot be resolved is not sent */
		if (conform_prefetch_resolve(t->valuestring, ctx, rel, sizeof(rel)) < 0) {
			desc_add(desc, desc_cap, t->string, "unresolvable");
			continue;
		}
		/* with a single key, that key is the one replaced */
		if (mode == CONFORM_PF_NULL && (k > 0 || n_keys == 1)) {
			cJSON_AddNullToObject(out, t->string);
			desc_add(desc, desc_cap, t->string, "null");
			continue;
		}
		if (mode == CONFORM_PF_OUTCOME && (k == 1 || n_keys == 1)) {
			cJSON_AddItemToObject(out, t->string,
					      conform_fhir_outcome("error", "exception", "prefetch query failed (simulated)"));
			desc_add(desc, desc_cap, t->string, "OperationOutcome");
			continue;
		}
		if (mode == CONFORM_PF_PAGED && strchr(rel, '?')) {
			with_count(rel, rel2, sizeof(rel2));
			snprintf(rel, sizeof(rel), "%s", rel2);
		}
		conform_fhir_get(store, rel, fhir_base, &a);
		if (a.status == 200) {
			bool empty = cJSON_IsArray(json_arr(a.body, "entry")) == false &&
				     strcmp(json_str(a.body, "resourceType"), "Bundle") == 0;

			if (mode == CONFORM_PF_QUIRK && empty) {
				/* the sandbox sends a key only when the FHIR call returned data */
				cJSON_Delete(a.body);
				desc_add(desc, desc_cap, t->string, "omitted-empty");
				continue;
			}
			cJSON_AddItemToObject(out, t->string, a.body);
			desc_add(desc, desc_cap, t->string, a.paged ? "page-1" : NULL);
		} else if (a.status == 404 && mode != CONFORM_PF_QUIRK && !strchr(rel, '?')) {
			/* a single read that found nothing is null (S2 §Prefetch Template) */
			cJSON_Delete(a.body);
			cJSON_AddNullToObject(out, t->string);
			desc_add(desc, desc_cap, t->string, "null");
		} else {
			cJSON_Delete(a.body);
			desc_add(desc, desc_cap, t->string, "omitted-failed");
		}
	}
	if (out->child == NULL) {
		cJSON_Delete(out);
		return NULL;
	}
	return out;
}
