/* cds_card — CDS Hooks 2.0 card validation and site-approval enforcement. Owns nothing: it
 * reads a cJSON tree, writes findings into caller-owned arrays, and (enforce) edits the tree. */
#include "lib/cds_card.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/json.h"

const char *cds_level_name(enum cds_level l)
{
	return l == CDS_MUST ? "MUST" : l == CDS_SHOULD ? "SHOULD" : "POLICY";
}

static void add(struct cds_findings *f, const char *rule, enum cds_level lvl, int card,
		const char *ptr, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void add(struct cds_findings *f, const char *rule, enum cds_level lvl, int card,
		const char *ptr, const char *fmt, ...)
{
	struct cds_finding *x;
	va_list ap;

	if (f->n == CDS_FINDINGS_MAX) {
		f->truncated = true;
		return;
	}
	x = &f->v[f->n++];
	x->rule = rule;
	x->level = lvl;
	x->card = card;
	snprintf(x->pointer, sizeof(x->pointer), "%s", ptr);
	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
	va_end(ap);
}

/* scheme "://" host — an absolute URL in the sense of RFC 3986 §4.3 with an authority. */
static bool absolute_url(const char *s)
{
	const char *p = s;

	if (s == NULL || !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return false;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
	       *p == '+' || *p == '-' || *p == '.')
		p++;
	if (strncmp(p, "://", 3) != 0)
		return false;
	p += 3;
	return *p != '\0' && *p != '/' && strpbrk(s, " \t\r\n") == NULL;
}

/* s equals one of the NULL-terminated list */
static bool one_of(const char *s, const char *const *list)
{
	for (; s && *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static bool is_str(const cJSON *o, const char *key)
{
	return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* CDS Hooks 2.0 §Use of JSON: no null or empty values (check 3). cards: [] is allowed. */
static void walk_empty(const cJSON *n, char *ptr, size_t plen, size_t cap, int card, bool top,
		       struct cds_findings *f)
{
	const cJSON *c;
	int i = 0;

	for (c = n->child; c; c = c->next, i++) {
		size_t l = plen;
		int cc = card;

		if (cJSON_IsObject(n))
			l += (size_t)snprintf(ptr + plen, cap - plen, "/%s", c->string);
		else
			l += (size_t)snprintf(ptr + plen, cap - plen, "/%d", i);
		if (l >= cap)
			l = cap - 1;
		if (top && cJSON_IsArray(n) == false && c->string && strcmp(c->string, "cards") == 0 &&
		    cJSON_IsArray(c) && c->child == NULL)
			continue;
		if (cJSON_IsNull(c) || (cJSON_IsString(c) && c->valuestring[0] == '\0') ||
		    ((cJSON_IsArray(c) || cJSON_IsObject(c)) && c->child == NULL)) {
			add(f, "CDS-JSON-003", CDS_MUST, cc, ptr, "null or empty value (omit the member instead)");
		}
		if (c->string && strcmp(c->string, "extension") == 0 && !cJSON_IsObject(c))
			add(f, "CDS-JSON-004", CDS_MUST, cc, ptr, "extension must be a JSON object");
		walk_empty(c, ptr, l, cap, cc, false, f);
		ptr[plen] = '\0';
	}
}

static void check_action(const cJSON *a, int card, const char *ptr, struct cds_findings *f)
{
	const char *type = json_str(a, "type");
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(a, "resource");
	const char *rid = json_str(a, "resourceId");
	char p[CDS_POINTER_MAX];

	if (!cJSON_IsObject(a)) {
		add(f, "CDS-CARD-052", CDS_MUST, card, ptr, "action must be an object");
		return;
	}
	if (!one_of(type, (const char *const[]){"create", "update", "delete", NULL})) {
		snprintf(p, sizeof(p), "%s/type", ptr);
		add(f, "CDS-CARD-052", CDS_MUST, card, p, "action type must be create, update or delete");
		return;
	}
	if (!is_str(a, "description")) {
		snprintf(p, sizeof(p), "%s/description", ptr);
		add(f, "CDS-CARD-052", CDS_MUST, card, p, "action description is required");
	}
	snprintf(p, sizeof(p), "%s/resource", ptr);
	if (strcmp(type, "delete") != 0) {
		/* §Action: create/update carry the whole FHIR resource (check 53) */
		if (!cJSON_IsObject(res) || !is_str(res, "resourceType"))
			add(f, "CDS-CARD-053", CDS_MUST, card, p, "%s action needs a FHIR resource with resourceType", type);
		else if (strcmp(type, "update") == 0 && !is_str(res, "id"))
			add(f, "CDS-CARD-053", CDS_SHOULD, card, p, "update action resource has no id");
	} else {
		if (cJSON_IsString(res))
			add(f, "CDS-CARD-053", CDS_MUST, card, p, "delete with an id string in resource is deprecated; use resourceId");
		snprintf(p, sizeof(p), "%s/resourceId", ptr);
		if (rid == NULL || strchr(rid, '/') == NULL || rid[0] == '/' || strchr(rid, '/')[1] == '\0')
			add(f, "CDS-CARD-053", CDS_SHOULD, card, p, "delete action should name resourceId as Type/id");
	}
}

static const char *const card_members[] = {
	"uuid", "summary", "detail", "indicator", "source", "suggestions", "selectionBehavior",
	"overrideReasons", "links", "extension",
};

size_t cds_validate_card(const cJSON *card, int i, struct cds_findings *f)
{
	size_t before_must = 0, after = 0;
	const char *summary, *ind, *sel, *detail;
	const cJSON *src, *sugs, *links, *ors, *c;
	char p[CDS_POINTER_MAX], base[48];
	int j;

	for (size_t k = 0; k < f->n; k++)
		before_must += f->v[k].level == CDS_MUST;
	snprintf(base, sizeof(base), "/cards/%d", i);
	if (!cJSON_IsObject(card)) {
		add(f, "CDS-CARD-044", CDS_MUST, i, base, "card must be an object");
		goto out;
	}
	/* check 44: summary present, < 140 Unicode code points */
	summary = json_str(card, "summary");
	snprintf(p, sizeof(p), "%s/summary", base);
	if (summary == NULL)
		add(f, "CDS-CARD-044", CDS_MUST, i, p, "summary is required");
	else if (json_utf8_codepoints(summary, strlen(summary)) >= 140)
		add(f, "CDS-CARD-044", CDS_MUST, i, p, "summary has %zu characters; must be fewer than 140",
		    json_utf8_codepoints(summary, strlen(summary)));
	/* check 45: indicator enum (case-sensitive; hard-stop and success are not 2.0 values) */
	ind = json_str(card, "indicator");
	snprintf(p, sizeof(p), "%s/indicator", base);
	if (!one_of(ind, (const char *const[]){"info", "warning", "critical", NULL}))
		add(f, "CDS-CARD-045", CDS_MUST, i, p, "indicator must be info, warning or critical");
	/* check 46: source.label; url/icon absolute; topic is a Coding */
	src = cJSON_GetObjectItemCaseSensitive(card, "source");
	snprintf(p, sizeof(p), "%s/source", base);
	if (!cJSON_IsObject(src)) {
		add(f, "CDS-CARD-046", CDS_MUST, i, p, "source object is required");
	} else {
		const cJSON *topic = cJSON_GetObjectItemCaseSensitive(src, "topic");

		if (!is_str(src, "label"))
			add(f, "CDS-CARD-046", CDS_MUST, i, p, "source.label is required");
		if (cJSON_GetObjectItemCaseSensitive(src, "url") && !absolute_url(json_str(src, "url")))
			add(f, "CDS-CARD-046", CDS_MUST, i, p, "source.url must be an absolute URL");
		if (cJSON_GetObjectItemCaseSensitive(src, "icon") && !absolute_url(json_str(src, "icon")))
			add(f, "CDS-CARD-046", CDS_MUST, i, p, "source.icon must be an absolute URL");
		if (topic && (!is_str(topic, "code") || !is_str(topic, "system")))
			add(f, "CDS-CARD-046", CDS_MUST, i, p, "source.topic must be a Coding with code and system");
	}
	/* check 47: uuid is a string */
	if (cJSON_GetObjectItemCaseSensitive(card, "uuid") && !is_str(card, "uuid")) {
		snprintf(p, sizeof(p), "%s/uuid", base);
		add(f, "CDS-CARD-047", CDS_MUST, i, p, "uuid must be a string");
	}
	/* check 48: detail is markdown; active content is never forwarded (our rule) */
	detail = json_str(card, "detail");
	snprintf(p, sizeof(p), "%s/detail", base);
	if (cJSON_GetObjectItemCaseSensitive(card, "detail") && detail == NULL)
		add(f, "CDS-CARD-048", CDS_MUST, i, p, "detail must be a string");
	else if (detail && (strcasestr(detail, "<script") || strcasestr(detail, "javascript:")))
		add(f, "CDS-CARD-048", CDS_MUST, i, p, "detail contains active content (script or javascript: URL)");
	/* checks 49–54: suggestions */
	sugs = cJSON_GetObjectItemCaseSensitive(card, "suggestions");
	sel = json_str(card, "selectionBehavior");
	snprintf(p, sizeof(p), "%s/selectionBehavior", base);
	if (!sugs && cJSON_GetObjectItemCaseSensitive(card, "selectionBehavior") &&
	    !one_of(sel, (const char *const[]){"at-most-one", "any", NULL}))
		/* §Card: a client that does not understand the value must treat the card as an error */
		add(f, "CDS-CARD-049", CDS_MUST, i, p, "selectionBehavior must be at-most-one or any");
	if (sugs) {
		int recommended = 0;

		if (!one_of(sel, (const char *const[]){"at-most-one", "any", NULL}))
			add(f, "CDS-CARD-049", CDS_MUST, i, p, "selectionBehavior at-most-one or any is required with suggestions");
		if (!cJSON_IsArray(sugs)) {
			snprintf(p, sizeof(p), "%s/suggestions", base);
			add(f, "CDS-CARD-051", CDS_MUST, i, p, "suggestions must be an array");
		}
		j = 0;
		const cJSON *sug_list = cJSON_IsArray(sugs) ? sugs : NULL;

		cJSON_ArrayForEach(c, sug_list) {
			const cJSON *acts = cJSON_GetObjectItemCaseSensitive(c, "actions"), *a, *rec;
			int k = 0;

			snprintf(p, sizeof(p), "%s/suggestions/%d", base, j);
			if (!cJSON_IsObject(c) || !is_str(c, "label"))
				add(f, "CDS-CARD-051", CDS_MUST, i, p, "suggestion label is required");
			if (cJSON_IsObject(c) && cJSON_GetObjectItemCaseSensitive(c, "uuid") && !is_str(c, "uuid"))
				add(f, "CDS-CARD-051", CDS_MUST, i, p, "suggestion uuid must be a string");
			rec = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "isRecommended") : NULL;
			if (rec && !cJSON_IsBool(rec))
				add(f, "CDS-CARD-051", CDS_MUST, i, p, "isRecommended must be a boolean");
			if (cJSON_IsTrue(rec))
				recommended++;
			if (acts && !cJSON_IsArray(acts))
				add(f, "CDS-CARD-051", CDS_MUST, i, p, "actions must be an array");
			const cJSON *act_list = cJSON_IsArray(acts) ? acts : NULL;

			cJSON_ArrayForEach(a, act_list) {
				char ap[CDS_POINTER_MAX];

				snprintf(ap, sizeof(ap), "%s/actions/%d", p, k++);
				check_action(a, i, ap, f);
			}
			j++;
		}
		/* check 50 (3.0 invariant cds-resp-1) */
		if (sel && strcmp(sel, "at-most-one") == 0 && recommended > 1) {
			snprintf(p, sizeof(p), "%s/suggestions", base);
			add(f, "CDS-CARD-050", CDS_MUST, i, p, "at-most-one allows at most one recommended suggestion");
		}
	}
	/* check 55: links */
	links = cJSON_GetObjectItemCaseSensitive(card, "links");
	if (links && !cJSON_IsArray(links)) {
		snprintf(p, sizeof(p), "%s/links", base);
		add(f, "CDS-CARD-055", CDS_MUST, i, p, "links must be an array");
	}
	j = 0;
	const cJSON *link_list = cJSON_IsArray(links) ? links : NULL;

	cJSON_ArrayForEach(c, link_list) {
		const char *type = json_str(c, "type");
		const cJSON *auto_l = cJSON_GetObjectItemCaseSensitive(c, "autolaunchable");

		snprintf(p, sizeof(p), "%s/links/%d", base, j++);
		if (!is_str(c, "label"))
			add(f, "CDS-CARD-055", CDS_MUST, i, p, "link label is required");
		if (!absolute_url(json_str(c, "url")))
			add(f, "CDS-CARD-055", CDS_MUST, i, p, "link url must be an absolute URL");
		if (!one_of(type, (const char *const[]){"absolute", "smart", NULL}))
			add(f, "CDS-CARD-055", CDS_MUST, i, p, "link type must be absolute or smart");
		else if (cJSON_GetObjectItemCaseSensitive(c, "appContext") && strcmp(type, "smart") != 0)
			add(f, "CDS-CARD-055", CDS_MUST, i, p, "appContext is only allowed on smart links");
		if (cJSON_GetObjectItemCaseSensitive(c, "appContext") && !is_str(c, "appContext"))
			add(f, "CDS-CARD-055", CDS_MUST, i, p, "appContext must be a string");
		if (auto_l && !cJSON_IsBool(auto_l))
			add(f, "CDS-CARD-055", CDS_MUST, i, p, "autolaunchable must be a boolean");
	}
	/* check 56: overrideReasons are Codings with display */
	ors = cJSON_GetObjectItemCaseSensitive(card, "overrideReasons");
	j = 0;
	const cJSON *or_list = cJSON_IsArray(ors) ? ors : NULL;

	cJSON_ArrayForEach(c, or_list) {
		snprintf(p, sizeof(p), "%s/overrideReasons/%d", base, j++);
		if (!is_str(c, "code") || !is_str(c, "system") || !is_str(c, "display"))
			add(f, "CDS-CARD-056", CDS_MUST, i, p, "override reason needs code, system and display");
	}
	if (ors && !cJSON_IsArray(ors)) {
		snprintf(p, sizeof(p), "%s/overrideReasons", base);
		add(f, "CDS-CARD-056", CDS_MUST, i, p, "overrideReasons must be an array");
	}
	/* check 58: unknown members are allowed (warn only) */
	cJSON_ArrayForEach(c, card) {
		bool known = false;

		for (size_t k = 0; k < sizeof(card_members) / sizeof(card_members[0]); k++)
			known = known || strcmp(c->string, card_members[k]) == 0;
		if (!known) {
			snprintf(p, sizeof(p), "%s", base);
			add(f, "CDS-CARD-058", CDS_POLICY, i, p, "unknown card member (use extension)");
		}
	}
out:
	for (size_t k = 0; k < f->n; k++)
		after += f->v[k].level == CDS_MUST;
	return after - before_must;
}

size_t cds_validate_response(const cJSON *resp, struct cds_findings *f)
{
	const cJSON *cards, *sys, *c;
	char ptr[CDS_POINTER_MAX];
	size_t must = 0;
	int i = 0;

	f->n = 0;
	f->truncated = false;
	if (!cJSON_IsObject(resp) || !cJSON_IsArray(cards = cJSON_GetObjectItemCaseSensitive(resp, "cards"))) {
		add(f, "CDS-RESP-039", CDS_MUST, -1, "/cards", "response must be an object with a cards array");
		return 1;
	}
	ptr[0] = '\0';
	walk_empty(resp, ptr, 0, sizeof(ptr), -1, true, f);
	/* attribute null/empty findings to their card */
	for (size_t k = 0; k < f->n; k++) {
		int idx;

		if (sscanf(f->v[k].pointer, "/cards/%d", &idx) == 1)
			f->v[k].card = idx;
		else if (strncmp(f->v[k].pointer, "/systemActions", 14) == 0)
			f->v[k].card = -2;
	}
	cJSON_ArrayForEach(c, cards)
		cds_validate_card(c, i++, f);
	/* check 47 (POLICY): uuids unique within a response */
	i = 0;
	cJSON_ArrayForEach(c, cards) {
		const char *u = json_str(c, "uuid");
		const cJSON *d;
		int j = 0;

		cJSON_ArrayForEach(d, cards) {
			if (j < i && u && json_str(d, "uuid") && strcmp(u, json_str(d, "uuid")) == 0) {
				snprintf(ptr, sizeof(ptr), "/cards/%d/uuid", i);
				add(f, "CDS-CARD-047", CDS_POLICY, i, ptr, "card uuid repeats an earlier card's uuid");
				break;
			}
			j++;
		}
		i++;
	}
	/* check 57: systemActions is a top-level array of actions */
	sys = cJSON_GetObjectItemCaseSensitive(resp, "systemActions");
	if (sys && !cJSON_IsArray(sys)) {
		add(f, "CDS-CARD-057", CDS_MUST, -2, "/systemActions", "systemActions must be an array");
	} else {
		i = 0;
		cJSON_ArrayForEach(c, sys) {
			snprintf(ptr, sizeof(ptr), "/systemActions/%d", i++);
			check_action(c, -2, ptr, f);
		}
	}
	for (size_t k = 0; k < f->n; k++)
		must += f->v[k].level == CDS_MUST;
	return must;
}

bool cds_card_invalid(const struct cds_findings *f, int index)
{
	for (size_t k = 0; k < f->n; k++)
		if (f->v[k].card == index && f->v[k].level == CDS_MUST)
			return true;
	return false;
}

/* --- enforcement ------------------------------------------------------------------------- */

static void strip(struct cds_strips *s, const char *rule, int card, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void strip(struct cds_strips *s, const char *rule, int card, const char *fmt, ...)
{
	va_list ap;
	struct cds_strip *x;

	if (s->n == CDS_FINDINGS_MAX) {
		s->truncated = true;
		return;
	}
	x = &s->v[s->n++];
	x->rule = rule;
	x->card = card;
	va_start(ap, fmt);
	vsnprintf(x->pointer, sizeof(x->pointer), fmt, ap);
	va_end(ap);
}

static bool in_list(const char *const *l, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(l[i], s) == 0)
			return true;
	return false;
}

/* Resource type an action touches: resource.resourceType, or the Type of resourceId. */
static void action_type(const cJSON *a, char *out, size_t cap)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(a, "resource");
	const char *rt = json_str(res, "resourceType"), *rid = json_str(a, "resourceId");

	out[0] = '\0';
	if (rt)
		snprintf(out, cap, "%s", rt);
	else if (rid && strchr(rid, '/'))
		snprintf(out, cap, "%.*s", (int)(strchr(rid, '/') - rid), rid);
}

/* Returns the policy rule an action breaks, or NULL when approved. */
static const char *action_unapproved(const cJSON *a, const struct cds_approvals *ap)
{
	const char *type = json_str(a, "type");
	char rt[64];

	action_type(a, rt, sizeof(rt));
	if (type && strcmp(type, "create") == 0)
		return in_list(ap->create, ap->n_create, rt) ? NULL : "POLICY-ACTION-CREATE";
	if (type && strcmp(type, "update") == 0)
		return in_list(ap->update, ap->n_update, rt) ? NULL : "POLICY-ACTION-UPDATE";
	if (type && strcmp(type, "delete") == 0)
		return in_list(ap->del, ap->n_del, rt) ? NULL : "POLICY-ACTION-DELETE";
	return "POLICY-ACTION-UNKNOWN";
}

static bool link_approved(const char *url, const struct cds_approvals *ap)
{
	for (size_t i = 0; url && i < ap->n_smart_links; i++) {
		size_t n = strlen(ap->smart_links[i]);

		/* exact URL, optionally followed by a query or fragment (launch parameters) */
		if (strncmp(url, ap->smart_links[i], n) == 0 && (url[n] == '\0' || url[n] == '?' || url[n] == '#'))
			return true;
	}
	return false;
}

static const char *first_must_rule(const struct cds_findings *f, int card)
{
	for (size_t k = 0; k < f->n; k++)
		if (f->v[k].card == card && f->v[k].level == CDS_MUST)
			return f->v[k].rule;
	return "CDS-CARD";
}

void cds_enforce(cJSON *resp, const struct cds_findings *f, const struct cds_approvals *ap, bool apply,
		 struct cds_strips *out)
{
	cJSON *cards = cJSON_GetObjectItemCaseSensitive(resp, "cards"), *sys, *c, *next;
	int i = 0;

	out->n = 0;
	out->truncated = false;
	for (c = cJSON_IsArray(cards) ? cards->child : NULL; c; c = next, i++) {
		cJSON *sugs, *links, *s, *snext, *l, *lnext;
		int j = 0;

		next = c->next;
		if (cds_card_invalid(f, i)) {
			strip(out, first_must_rule(f, i), i, "/cards/%d", i);
			if (apply)
				cJSON_Delete(cJSON_DetachItemViaPointer(cards, c));
			continue;
		}
		sugs = cJSON_GetObjectItemCaseSensitive(c, "suggestions");
		for (s = cJSON_IsArray(sugs) ? sugs->child : NULL; s; s = snext, j++) {
			cJSON *acts = cJSON_GetObjectItemCaseSensitive(s, "actions"), *a;
			const char *bad = NULL;

			snext = s->next;
			cJSON_ArrayForEach(a, acts) {
				bad = action_unapproved(a, ap);
				if (bad)
					break;
			}
			if (bad) {
				strip(out, bad, i, "/cards/%d/suggestions/%d", i, j);
				if (apply)
					cJSON_Delete(cJSON_DetachItemViaPointer(sugs, s));
			}
		}
		if (apply && cJSON_IsArray(sugs) && sugs->child == NULL) {
			cJSON_DeleteItemFromObjectCaseSensitive(c, "suggestions");
			cJSON_DeleteItemFromObjectCaseSensitive(c, "selectionBehavior");
		}
		links = cJSON_GetObjectItemCaseSensitive(c, "links");
		j = 0;
		for (l = cJSON_IsArray(links) ? links->child : NULL; l; l = lnext, j++) {
			const char *type = json_str(l, "type");
			const char *rule = NULL;

			lnext = l->next;
			if (type && strcmp(type, "smart") == 0 && !link_approved(json_str(l, "url"), ap))
				rule = "POLICY-LINK-SMART";
			else if (!ap->allow_app_context && cJSON_GetObjectItemCaseSensitive(l, "appContext"))
				rule = "POLICY-LINK-APPCONTEXT";
			if (rule) {
				strip(out, rule, i, "/cards/%d/links/%d", i, j);
				if (apply)
					cJSON_Delete(cJSON_DetachItemViaPointer(links, l));
			}
		}
		if (apply && cJSON_IsArray(links) && links->child == NULL)
			cJSON_DeleteItemFromObjectCaseSensitive(c, "links");
	}
	sys = cJSON_GetObjectItemCaseSensitive(resp, "systemActions");
	i = 0;
	for (c = cJSON_IsArray(sys) ? sys->child : NULL; c; c = next, i++) {
		const char *bad = action_unapproved(c, ap);

		next = c->next;
		if (bad) {
			strip(out, bad, -2, "/systemActions/%d", i);
			if (apply)
				cJSON_Delete(cJSON_DetachItemViaPointer(sys, c));
		}
	}
	if (apply && cJSON_IsArray(sys) && sys->child == NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(resp, "systemActions");
	/* systemActions that failed validation are dropped as a whole in enforce mode */
	for (size_t k = 0; apply && k < f->n; k++) {
		if (f->v[k].card == -2 && f->v[k].level == CDS_MUST) {
			strip(out, f->v[k].rule, -2, "/systemActions");
			cJSON_DeleteItemFromObjectCaseSensitive(resp, "systemActions");
			break;
		}
	}
}
