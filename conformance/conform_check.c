/* conform_check — the results of one run: per-check findings with evidence, evaluation counts,
 * effective levels and derived statuses. Owns every string in the results (copied in). */
#include "conformance/conform_check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/json.h"
#include "lib/mem.h"

static const char *const group_names[CONFORM_G_COUNT] = {
	"discovery", "prefetch", "request", "auth", "http", "cards", "feedback", "latency",
};
static const char *const group_titles[CONFORM_G_COUNT] = {
	"Discovery", "Prefetch templates", "Request handling", "JWT authentication", "HTTP",
	"Cards", "Feedback", "Latency",
};

const char *conform_group_name(enum conform_group g)
{
	return g < CONFORM_G_COUNT ? group_names[g] : "?";
}

const char *conform_group_title(enum conform_group g)
{
	return g < CONFORM_G_COUNT ? group_titles[g] : "?";
}

int conform_group_parse(const char *s, enum conform_group *out)
{
	for (int i = 0; i < CONFORM_G_COUNT; i++) {
		if (strcmp(s, group_names[i]) == 0) {
			*out = (enum conform_group)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *conform_status_name(enum conform_status s)
{
	switch (s) {
	case CONFORM_PASS:
		return "pass";
	case CONFORM_WARN:
		return "warn";
	case CONFORM_FAIL:
		return "fail";
	default:
		return "skip";
	}
}

struct conform_results {
	struct conform_result *v;
	size_t n;
};

struct conform_results *conform_results_new(void)
{
	struct conform_results *r = xcalloc(1, sizeof(*r));
	const struct conform_check_def *cat = conform_catalogue(&r->n);

	r->v = xcalloc(r->n, sizeof(*r->v));
	for (size_t i = 0; i < r->n; i++) {
		r->v[i].def = &cat[i];
		r->v[i].level = cat[i].level;
	}
	return r;
}

static void finding_fini(struct conform_finding *f)
{
	free(f->msg);
	free(f->rid);
	free(f->service);
	free(f->hook);
	free(f->variant);
	free(f->pointer);
	free(f->value);
}

void conform_results_free(struct conform_results *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		for (size_t k = 0; k < r->v[i].n_findings; k++)
			finding_fini(&r->v[i].findings[k]);
		free(r->v[i].findings);
		free(r->v[i].note);
		free(r->v[i].skip_reason);
		free(r->v[i].weak);
	}
	free(r->v);
	free(r);
}

size_t conform_results_count(const struct conform_results *r)
{
	return r->n;
}

struct conform_result *conform_results_at(struct conform_results *r, size_t i)
{
	return i < r->n ? &r->v[i] : NULL;
}

struct conform_result *conform_result(struct conform_results *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].def->id, id) == 0)
			return &r->v[i];
	fprintf(stderr, "ehrgate-conform: internal error: unknown check id %s\n", id);
	abort();
}

void conform_results_set_production(struct conform_results *r, bool production)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].def->flags & CONFORM_F_PROD_MUST)
			r->v[i].level = production ? CDS_MUST : r->v[i].def->level;
}

void conform_results_set_level(struct conform_results *r, const char *id, enum cds_level level)
{
	conform_result(r, id)->level = level;
}

void conform_results_set_weak(struct conform_results *r, const char *id, const char *why)
{
	struct conform_result *x = conform_result(r, id);

	if (x->weak) {
		char *j;

		if (asprintf(&j, "%s; %s", x->weak, why) < 0)
			abort();
		free(x->weak);
		x->weak = j;
	} else {
		x->weak = xstrdup(why);
	}
}

void conform_ok(struct conform_results *r, const char *id)
{
	conform_result(r, id)->checked++;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static bool same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* A level "weaker" than another: MUST(0) < SHOULD(1) < POLICY(2) in strength order. */
static enum cds_level clamp_level(enum cds_level finding, enum cds_level check)
{
	return finding > check ? finding : check;
}

static void add_finding(struct conform_result *x, enum cds_level level, const struct conform_evidence *ev,
			const char *msg)
{
	struct conform_evidence none = CONFORM_EVIDENCE_NONE;
	struct conform_finding *f;

	if (ev == NULL)
		ev = &none;
	x->checked++;
	/* Identical findings (same message, place, service, hook, variant) are merged: a latency
	 * run repeats the same card defect many times. */
	for (size_t k = 0; k < x->n_findings; k++) {
		f = &x->findings[k];
		if (f->level == level && strcmp(f->msg, msg) == 0 && same(f->pointer, ev->pointer) &&
		    same(f->service, ev->service) && same(f->hook, ev->hook) && same(f->variant, ev->variant)) {
			f->count++;
			return;
		}
	}
	if (x->n_findings == CONFORM_FINDINGS_KEPT) {
		x->dropped++;
		/* still make sure the strongest level is represented */
		if (level < x->findings[x->n_findings - 1].level)
			x->findings[x->n_findings - 1].level = level;
		return;
	}
	x->findings = xrealloc(x->findings, (x->n_findings + 1) * sizeof(*x->findings));
	f = &x->findings[x->n_findings++];
	memset(f, 0, sizeof(*f));
	f->level = level;
	f->msg = xstrdup(msg);
	f->rid = dup_or_null(ev->rid);
	f->service = dup_or_null(ev->service);
	f->hook = dup_or_null(ev->hook);
	f->variant = dup_or_null(ev->variant);
	f->pointer = dup_or_null(ev->pointer);
	f->value = dup_or_null(ev->value);
	f->http_status = ev->http_status;
	f->elapsed_ms = ev->elapsed_ms;
	f->count = 1;
}

static void vfinding(struct conform_results *r, const char *id, int level, const struct conform_evidence *ev,
		     const char *fmt, va_list ap)
{
	struct conform_result *x = conform_result(r, id);
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	add_finding(x, level < 0 ? x->level : clamp_level((enum cds_level)level, x->level), ev, msg);
}

void conform_fail(struct conform_results *r, const char *id, const struct conform_evidence *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfinding(r, id, -1, ev, fmt, ap);
	va_end(ap);
}

void conform_finding(struct conform_results *r, const char *id, enum cds_level level,
		     const struct conform_evidence *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfinding(r, id, (int)level, ev, fmt, ap);
	va_end(ap);
}

void conform_note(struct conform_results *r, const char *id, const char *fmt, ...)
{
	struct conform_result *x = conform_result(r, id);
	va_list ap;

	free(x->note);
	va_start(ap, fmt);
	if (vasprintf(&x->note, fmt, ap) < 0)
		abort();
	va_end(ap);
}

void conform_skip(struct conform_results *r, const char *id, const char *fmt, ...)
{
	struct conform_result *x = conform_result(r, id);
	va_list ap;

	if (x->skip_reason)
		return; /* the first reason is the one that matters */
	va_start(ap, fmt);
	if (vasprintf(&x->skip_reason, fmt, ap) < 0)
		abort();
	va_end(ap);
}

/* Card checks every response is evaluated against (so that a clean response counts). */
static const char *const card_rules[] = {
	"CDS-JSON-003", "CDS-JSON-004", "CDS-CARD-044", "CDS-CARD-045", "CDS-CARD-046", "CDS-CARD-047",
	"CDS-CARD-048", "CDS-CARD-049", "CDS-CARD-050", "CDS-CARD-051", "CDS-CARD-052", "CDS-CARD-053",
	"CDS-CARD-055", "CDS-CARD-056", "CDS-CARD-057", "CDS-CARD-058", "CDS-RESP-039",
};

size_t conform_add_card_findings(struct conform_results *r, const struct cds_findings *f, const cJSON *resp,
				 const struct conform_evidence *ev)
{
	struct conform_evidence e = ev ? *ev : CONFORM_EVIDENCE_NONE;
	size_t must = 0;

	for (size_t i = 0; i < sizeof(card_rules) / sizeof(card_rules[0]); i++)
		conform_ok(r, card_rules[i]);
	for (size_t k = 0; k < f->n; k++) {
		const struct cds_finding *x = &f->v[k];
		struct conform_result *res;
		const cJSON *v = resp ? conform_json_pointer(resp, x->pointer) : NULL;
		char *val = v ? conform_value_text(v, 160) : NULL;
		enum cds_level lvl;

		if (conform_check_find(x->rule) == NULL) {
			free(val);
			continue; /* a rule this harness version does not know: cannot happen with our lib */
		}
		res = conform_result(r, x->rule);
		/* A finding at the rule's own level takes the effective (profile/site) level. */
		lvl = x->level == res->def->level ? res->level : clamp_level(x->level, res->level);
		e.pointer = x->pointer;
		e.value = val;
		add_finding(res, lvl, &e, x->msg);
		res->checked--; /* the evaluation was already counted above */
		must += lvl == CDS_MUST;
		free(val);
	}
	return must;
}

void conform_results_skip_group(struct conform_results *r, enum conform_group g, const char *reason)
{
	for (size_t i = 0; i < r->n; i++) {
		struct conform_result *x = &r->v[i];

		if (x->def->group != g)
			continue;
		for (size_t k = 0; k < x->n_findings; k++)
			finding_fini(&x->findings[k]);
		free(x->findings);
		free(x->note);
		free(x->skip_reason);
		x->findings = NULL;
		x->note = NULL;
		x->n_findings = x->dropped = x->checked = 0;
		x->skip_reason = xstrdup(reason);
	}
}

void conform_results_finish(struct conform_results *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct conform_result *x = &r->v[i];
		enum cds_level strongest = CDS_POLICY;

		if (x->checked == 0 && x->n_findings == 0) {
			x->status = CONFORM_SKIP;
			continue;
		}
		if (x->n_findings == 0) {
			x->status = CONFORM_PASS;
			continue;
		}
		for (size_t k = 0; k < x->n_findings; k++)
			if (x->findings[k].level < strongest)
				strongest = x->findings[k].level;
		x->status = strongest == CDS_MUST ? CONFORM_FAIL : CONFORM_WARN;
	}
}

void conform_results_summary(const struct conform_results *r, struct conform_summary *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < r->n; i++) {
		const struct conform_result *x = &r->v[i];
		enum conform_group g = x->def->group;

		switch (x->status) {
		case CONFORM_PASS:
			s->pass++;
			s->group_run[g]++;
			break;
		case CONFORM_WARN:
			s->warn++;
			s->group_warn[g]++;
			s->group_run[g]++;
			break;
		case CONFORM_FAIL:
			s->fail++;
			s->must_failed++;
			s->group_fail[g]++;
			s->group_run[g]++;
			break;
		default:
			s->skip++;
		}
	}
}

const cJSON *conform_json_pointer(const cJSON *root, const char *p)
{
	const cJSON *cur = root;

	if (p == NULL || *p == '\0')
		return root;
	if (*p != '/')
		return NULL;
	while (cur && *p == '/') {
		char seg[256];
		size_t n = 0;

		p++;
		/* RFC 6901 §4: ~1 is '/', ~0 is '~' */
		while (*p && *p != '/' && n + 1 < sizeof(seg)) {
			if (p[0] == '~' && p[1] == '1') {
				seg[n++] = '/';
				p += 2;
			} else if (p[0] == '~' && p[1] == '0') {
				seg[n++] = '~';
				p += 2;
			} else {
				seg[n++] = *p++;
			}
		}
		seg[n] = '\0';
		if (cJSON_IsArray(cur)) {
			char *end;
			long idx = strtol(seg, &end, 10);

			cur = (*seg && *end == '\0' && idx >= 0) ? cJSON_GetArrayItem(cur, (int)idx) : NULL;
		} else if (cJSON_IsObject(cur)) {
			cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
		} else {
			cur = NULL;
		}
	}
	return cur;
}

char *conform_value_text(const cJSON *v, size_t max)
{
	char *s = cJSON_PrintUnformatted(v);
	size_t len, cut;
	char *out;

	if (s == NULL)
		return xstrdup("?");
	len = strlen(s);
	if (len <= max) {
		out = xstrdup(s);
		cJSON_free(s);
		return out;
	}
	/* cut on a UTF-8 boundary */
	cut = max;
	while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
		cut--;
	out = xmalloc(cut + 4);
	memcpy(out, s, cut);
	memcpy(out + cut, "\xE2\x80\xA6", 4); /* U+2026 and NUL */
	cJSON_free(s);
	return out;
}
