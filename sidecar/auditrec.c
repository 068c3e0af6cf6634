/* auditrec — builds the sidecar's audit record JSON. Owns the removed-prefetch key copies. */
#include "sidecar/auditrec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const stage_keys[METRICS_STAGE_COUNT] = {
	"auth", "policy", "upstream", "cards", "audit", "phi", "total",
};

void auditrec_init(struct auditrec *r, const char *event, const char *rid, const char *site)
{
	memset(r, 0, sizeof(*r));
	r->event = event;
	r->phase = "decision";
	r->decision = "error";
	auditrec_set(r->rid, sizeof(r->rid), rid);
	auditrec_set(r->site, sizeof(r->site), site);
	for (int i = 0; i < METRICS_STAGE_COUNT; i++)
		r->timings_us[i] = -1;
}

void auditrec_fini(struct auditrec *r)
{
	for (size_t i = 0; i < r->n_removed; i++)
		free(r->prefetch_removed[i]);
	r->n_removed = 0;
}

void auditrec_add_rule(struct auditrec *r, const char *rule)
{
	for (size_t i = 0; i < r->n_rules; i++)
		if (strcmp(r->rules[i], rule) == 0)
			return;
	if (r->n_rules < AUDITREC_MAX_RULES)
		r->rules[r->n_rules++] = rule;
}

void auditrec_set(char *field, size_t cap, const char *value)
{
	snprintf(field, cap, "%s", value ? value : "");
}

static int str_member(struct buf *b, const char *key, const char *v, int *first)
{
	int rc;

	if (v == NULL || *v == '\0')
		return 0;
	rc = buf_printf(b, "%s\"%s\":\"", *first ? "" : ",", key);
	*first = 0;
	if (rc == 0)
		rc = buf_append_json_escaped(b, v, strlen(v));
	if (rc == 0)
		rc = buf_append(b, "\"", 1);
	return rc;
}

int auditrec_json(const struct auditrec *r, struct buf *b)
{
	int first = 1, rc = 0;

	rc |= buf_append_str(b, "{\"v\":1,");
	first = 1;
	rc |= str_member(b, "event", r->event, &first);
	rc |= str_member(b, "phase", r->phase, &first);
	rc |= str_member(b, "rid", r->rid, &first);
	rc |= str_member(b, "site", r->site, &first);
	rc |= str_member(b, "service", r->service, &first);
	rc |= str_member(b, "hook", r->hook, &first);
	rc |= str_member(b, "hookInstance", r->hook_instance, &first);
	rc |= str_member(b, "route", r->route, &first);
	rc |= str_member(b, "method", r->method, &first);
	rc |= str_member(b, "decision", r->decision, &first);
	rc |= str_member(b, "patient", r->patient, &first);
	rc |= str_member(b, "user", r->user, &first);
	if (r->status)
		rc |= buf_printf(b, ",\"status\":%d", r->status);
	rc |= buf_append_str(b, ",\"rules\":[");
	for (size_t i = 0; i < r->n_rules; i++)
		rc |= buf_printf(b, "%s\"%s\"", i ? "," : "", r->rules[i]);
	rc |= buf_append_str(b, "]");
	if (r->iss[0] || r->jti[0]) {
		int f2 = 1;

		rc |= buf_append_str(b, ",\"client\":{");
		rc |= str_member(b, "iss", r->iss, &f2);
		rc |= str_member(b, "jti", r->jti, &f2);
		rc |= buf_append_str(b, "}");
	}
	if (r->n_removed) {
		rc |= buf_append_str(b, ",\"prefetch_removed\":[");
		for (size_t i = 0; i < r->n_removed; i++) {
			rc |= buf_append_str(b, i ? ",\"" : "\"");
			rc |= buf_append_json_escaped(b, r->prefetch_removed[i], strlen(r->prefetch_removed[i]));
			rc |= buf_append_str(b, "\"");
		}
		rc |= buf_append_str(b, "]");
	}
	if (r->strips && r->strips->n) {
		rc |= buf_append_str(b, ",\"stripped\":[");
		for (size_t i = 0; i < r->strips->n; i++) {
			const struct cds_strip *s = &r->strips->v[i];

			rc |= buf_printf(b, "%s{\"rule\":\"%s\",\"card\":%d,\"pointer\":\"", i ? "," : "", s->rule, s->card);
			rc |= buf_append_json_escaped(b, s->pointer, strlen(s->pointer));
			rc |= buf_append_str(b, "\"}");
		}
		rc |= buf_append_str(b, "]");
	}
	if (r->n_phi) {
		rc |= buf_append_str(b, ",\"phi\":{");
		for (size_t i = 0; i < r->n_phi; i++)
			rc |= buf_printf(b, "%s\"%s\":%u", i ? "," : "", r->phi[i].type, r->phi[i].count);
		rc |= buf_append_str(b, "}");
	}
	if (r->bytes_in || r->bytes_out)
		rc |= buf_printf(b, ",\"bytes_in\":%zu,\"bytes_out\":%zu", r->bytes_in, r->bytes_out);
	rc |= buf_append_str(b, ",\"timings_us\":{");
	first = 1;
	for (int i = 0; i < METRICS_STAGE_COUNT; i++) {
		if (r->timings_us[i] < 0)
			continue;
		rc |= buf_printf(b, "%s\"%s\":%lld", first ? "" : ",", stage_keys[i], (long long)r->timings_us[i]);
		first = 0;
	}
	rc |= buf_append_str(b, "}}");
	return rc ? -E2BIG : 0;
}
