/* hookreq — CDS Hooks request shape, prefetch minimisation and discovery filtering. Owns
 * nothing; edits the caller's cJSON trees in place. */
#include "sidecar/hookreq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"
#include "lib/mem.h"

/* research/cds-hooks.md table 1.J: the REQUIRED context members per library hook. */
static const struct {
	const char *hook;
	const char *required[4];
} hook_context[] = {
	{"patient-view", {"userId", "patientId", NULL}},
	{"order-select", {"userId", "patientId", "selections", "draftOrders"}},
	{"order-sign", {"userId", "patientId", "draftOrders", NULL}},
	{"encounter-start", {"userId", "patientId", "encounterId", NULL}},
	{"encounter-discharge", {"userId", "patientId", "encounterId", NULL}},
	{"appointment-book", {"userId", "patientId", "appointments", NULL}},
};

bool hookreq_is_uuid(const char *s)
{
	static const int dash[] = {8, 13, 18, 23};
	int i;

	if (s == NULL || strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		bool is_dash = i == dash[0] || i == dash[1] || i == dash[2] || i == dash[3];
		char c = s[i];

		if (is_dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

static bool http_url(const char *s)
{
	return s && (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0) &&
	       s[strncmp(s, "https://", 8) == 0 ? 8 : 7] != '\0' && strpbrk(s, " \t\r\n") == NULL;
}

int hookreq_validate(const cJSON *req, struct err *e)
{
	const char *hook = json_str(req, "hook");
	const cJSON *ctx, *auth, *pre;

	if (!cJSON_IsObject(req))
		return err_set(e, -EINVAL, "request body must be a JSON object");
	if (hook == NULL || *hook == '\0')
		return err_set(e, -EINVAL, "hook is required");
	if (!hookreq_is_uuid(json_str(req, "hookInstance")))
		return err_set(e, -EINVAL, "hookInstance must be a UUID");
	ctx = json_obj(req, "context");
	if (ctx == NULL)
		return err_set(e, -EINVAL, "context object is required");
	for (size_t i = 0; i < sizeof(hook_context) / sizeof(hook_context[0]); i++) {
		if (strcmp(hook, hook_context[i].hook) != 0)
			continue;
		for (int k = 0; k < 4 && hook_context[i].required[k]; k++)
			if (!cJSON_GetObjectItemCaseSensitive(ctx, hook_context[i].required[k]))
				return err_set(e, -EINVAL, "context.%s is required for %s", hook_context[i].required[k], hook);
	}
	if (cJSON_GetObjectItemCaseSensitive(req, "fhirServer") && !http_url(json_str(req, "fhirServer")))
		return err_set(e, -EINVAL, "fhirServer must be an absolute URL");
	auth = cJSON_GetObjectItemCaseSensitive(req, "fhirAuthorization");
	if (auth) {
		const char *tt = json_str(auth, "token_type");
		int64_t exp;

		/* §FHIR Resource Access: access_token, token_type "Bearer", expires_in, scope, subject */
		if (!cJSON_IsObject(auth) || !json_str(auth, "access_token") || !tt || strcmp(tt, "Bearer") != 0 ||
		    json_i64(auth, "expires_in", &exp) < 0 || !json_str(auth, "scope") || !json_str(auth, "subject"))
			return err_set(e, -EINVAL, "fhirAuthorization must have access_token, token_type Bearer, expires_in, scope and subject");
		if (!cJSON_GetObjectItemCaseSensitive(req, "fhirServer"))
			return err_set(e, -EINVAL, "fhirAuthorization requires fhirServer");
	}
	pre = cJSON_GetObjectItemCaseSensitive(req, "prefetch");
	if (pre && !cJSON_IsObject(pre))
		return err_set(e, -EINVAL, "prefetch must be an object");
	return 0;
}

void hookreq_prefetch_types(const cJSON *value, hookreq_type_cb cb, void *arg)
{
	const char *rt = json_str(value, "resourceType");
	const cJSON *entry, *en;

	if (rt == NULL || strcmp(rt, "OperationOutcome") == 0)
		return;
	if (strcmp(rt, "Bundle") != 0) {
		cb(rt, arg);
		return;
	}
	entry = json_arr(value, "entry");
	cJSON_ArrayForEach(en, entry) {
		const cJSON *res = json_obj(en, "resource");
		const char *t = json_str(res, "resourceType");

		/* a resource without a type cannot be approved */
		cb(t ? t : "", arg);
	}
}

static bool in_list(const char *const *l, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(l[i], s) == 0)
			return true;
	return false;
}

struct type_check {
	const char *const *read;
	size_t n_read;
	bool ok;
};

static void check_type(const char *type, void *arg)
{
	struct type_check *tc = arg;

	if (!in_list(tc->read, tc->n_read, type))
		tc->ok = false;
}

size_t hookreq_minimise_prefetch(cJSON *req, const char *const *read, size_t n_read, char **removed,
				 size_t max_removed)
{
	cJSON *pre = json_obj(req, "prefetch"), *v, *next;
	size_t n = 0;

	for (v = pre ? pre->child : NULL; v; v = next) {
		struct type_check tc = {read, n_read, true};

		next = v->next;
		if (cJSON_IsNull(v))
			continue; /* null = the EHR could not prefetch; carries nothing */
		if (!cJSON_IsObject(v))
			tc.ok = false; /* not a FHIR resource: cannot be approved */
		else
			hookreq_prefetch_types(v, check_type, &tc);
		if (tc.ok)
			continue;
		if (n < max_removed && removed)
			removed[n] = xstrdup(v->string);
		n++;
		cJSON_Delete(cJSON_DetachItemViaPointer(pre, v));
	}
	return n;
}

void hookreq_template_type(const char *tmpl, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	if (tmpl == NULL || cap == 0)
		return;
	/* relative FHIR URL (check 15): a resource type starts with an upper-case letter */
	if (!(tmpl[0] >= 'A' && tmpl[0] <= 'Z'))
		return;
	while (tmpl[n] && tmpl[n] != '/' && tmpl[n] != '?' && n + 1 < cap) {
		char c = tmpl[n];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
			out[0] = '\0';
			return;
		}
		out[n] = c;
		n++;
	}
	out[n] = '\0';
}

const struct hook_approval *hookreq_find(const struct hook_approval *ap, size_t n, const char *id)
{
	for (size_t i = 0; id && i < n; i++)
		if (strcmp(ap[i].id, id) == 0)
			return &ap[i];
	return NULL;
}

bool hookreq_hook_allowed(const struct hook_approval *a, const char *hook)
{
	return a && a->active && in_list(a->hooks, a->n_hooks, hook);
}

size_t hookreq_filter_discovery(cJSON *disc, const struct hook_approval *ap, size_t n_ap)
{
	cJSON *services = json_arr(disc, "services"), *s, *next;
	size_t kept = 0;

	for (s = services ? services->child : NULL; s; s = next) {
		const struct hook_approval *a = hookreq_find(ap, n_ap, json_str(s, "id"));
		cJSON *pre, *t, *tnext;

		next = s->next;
		if (!hookreq_hook_allowed(a, json_str(s, "hook"))) {
			cJSON_Delete(cJSON_DetachItemViaPointer(services, s));
			continue;
		}
		pre = json_obj(s, "prefetch");
		for (t = pre ? pre->child : NULL; t; t = tnext) {
			char type[64];

			tnext = t->next;
			hookreq_template_type(cJSON_IsString(t) ? t->valuestring : NULL, type, sizeof(type));
			if (!in_list(a->read, a->n_read, type))
				cJSON_Delete(cJSON_DetachItemViaPointer(pre, t));
		}
		if (pre && pre->child == NULL)
			cJSON_DeleteItemFromObjectCaseSensitive(s, "prefetch"); /* no empty objects (check 3) */
		kept++;
	}
	return kept;
}
