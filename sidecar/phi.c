/* phi — the PHI scanner engine: configuration, the Vectorscan database, per-thread scratch,
 * the scan (decode → patterns → known identifiers → merge → raw offsets) and redaction.
 *
 * Owns struct phi_engine (compiled database, prototype scratch, copies of the configuration
 * lists) and struct phi_scratch (decode buffers, Vectorscan scratch, hit list). DESIGN.md §3.1
 * "PHI scanner": two detectors in one pass over JSON-decoded text, patterns compiled once per
 * policy (research/phi.md §2 "Design consequences" 1, 5: compile once, one scratch per
 * thread, hs_clone_scratch for workers).
 *
 * Pipeline per scan: decode (phi_decode.c) → Vectorscan over the scan text (literal-anchored
 * triggers: email, URL, IPv6, month names, ages, titles, street suffixes, site formats) →
 * byte-class bitmaps → one token pass (phi_known.c) that feeds both the shape validators for
 * digit-shaped identifiers and the known-patient matcher → FHIR path rules → sort, merge
 * overlapping hits of a type, map to raw offsets. Every Vectorscan pattern uses
 * HS_FLAG_SOM_LEFTMOST: redaction needs start offsets (research/phi.md §2 consequence 2).
 * Digit-shaped identifiers are not Vectorscan expressions because the expressions (\b\d{9}\b,
 * \b\d{5}\b, IPv4, NANP, MBI, VIN ...) cannot be anchored on a literal: together they ran at
 * ~60 MB/s on the bench corpus, against ~300 MB/s for the literal-anchored rest.
 */
#include "sidecar/phi.h"

#include <errno.h>
#include <hs/hs.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/mem.h"
#include "sidecar/phi_int.h"

#define PHI_DEFAULT_MAX_BODY (16u << 20)
#define PHI_DEFAULT_MAX_FINDINGS 1000000u

struct phi_pat {
	phi_check_fn check;
	enum phi_type type;
};

struct phi_engine {
	hs_database_t *db;
	hs_scratch_t *proto;
	struct phi_pat *pat;
	unsigned npat;
	char **url_allow;     /* NULL-terminated */
	char **date_exempt;   /* NULL-terminated */
	uint32_t types_mask, known_mask;
	size_t max_body, max_findings, db_bytes;
};

struct phi_scratch {
	const struct phi_engine *eng;
	hs_scratch_t *hs;
	struct phi_dec dec;
	struct phi_hits hits;
};

static const char *const type_names[PHI_T__COUNT] = {
	[PHI_T_NAME] = "NAME", [PHI_T_ADDRESS] = "ADDRESS", [PHI_T_CITY] = "CITY",
	[PHI_T_ZIP] = "ZIP", [PHI_T_DATE] = "DATE", [PHI_T_AGE] = "AGE", [PHI_T_PHONE] = "PHONE",
	[PHI_T_FAX] = "FAX", [PHI_T_EMAIL] = "EMAIL", [PHI_T_SSN] = "SSN", [PHI_T_MRN] = "MRN",
	[PHI_T_MEMBER_ID] = "MEMBER_ID", [PHI_T_MBI] = "MBI", [PHI_T_IDENTIFIER] = "IDENTIFIER",
	[PHI_T_VIN] = "VIN", [PHI_T_URL] = "URL", [PHI_T_IP] = "IP"};

const char *phi_type_name(enum phi_type t)
{
	return (unsigned)t < PHI_T__COUNT ? type_names[t] : "?";
}

int phi_type_from_name(const char *name)
{
	for (int t = 0; t < PHI_T__COUNT; t++)
		if (strcasecmp(name, type_names[t]) == 0)
			return t;
	return -1;
}

const char *phi_source_name(enum phi_source s)
{
	return s == PHI_SRC_KNOWN ? "known" : "pattern";
}

void phi_config_init(struct phi_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->types_enabled_mask = PHI_TYPES_ALL;
	cfg->known_types_mask = PHI_TYPES_ALL;
	cfg->max_body = PHI_DEFAULT_MAX_BODY;
	cfg->max_findings = PHI_DEFAULT_MAX_FINDINGS;
}

static char **copy_list(const char *const *v, size_t n, bool url)
{
	char **out = xcalloc(n + 1, sizeof(char *));

	for (size_t i = 0; i < n; i++) {
		const char *s = v[i];
		if (url && strncasecmp(s, "https://", 8) == 0)
			s += 8;
		else if (url && strncasecmp(s, "http://", 7) == 0)
			s += 7;
		out[i] = xstrdup(s);
	}
	return out;
}

static void free_list(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

void phi_engine_free(struct phi_engine *eng)
{
	if (!eng)
		return;
	hs_free_scratch(eng->proto);
	hs_free_database(eng->db);
	free(eng->pat);
	free_list(eng->url_allow);
	free_list(eng->date_exempt);
	free(eng);
}

size_t phi_engine_db_bytes(const struct phi_engine *eng)
{
	return eng->db_bytes;
}

int phi_engine_new(const struct phi_config *cfg, struct phi_engine **out, struct err *e)
{
	struct phi_engine *eng;
	const char **exprs = NULL;
	unsigned *flags = NULL, *ids = NULL;
	hs_compile_error_t *cerr = NULL;
	size_t n;
	int rc = 0;

	*out = NULL;
	if (hs_valid_platform() != HS_SUCCESS)
		return err_set(e, -ENOTSUP, "phi: this CPU is not supported by Vectorscan");
	if ((cfg->n_mrn && !cfg->mrn_patterns) || (cfg->n_member && !cfg->member_id_patterns))
		return err_set(e, -EINVAL, "phi: pattern count without patterns");
	n = phi_n_builtin_patterns + cfg->n_mrn + cfg->n_member;
	if (n > 100000)
		return err_set(e, -EINVAL, "phi: too many site patterns");
	eng = xcalloc(1, sizeof(*eng));
	eng->pat = xcalloc(n, sizeof(*eng->pat));
	exprs = xcalloc(n, sizeof(*exprs));
	flags = xcalloc(n, sizeof(*flags));
	ids = xcalloc(n, sizeof(*ids));
	for (size_t i = 0; i < n; i++) {
		ids[i] = (unsigned)i;
		flags[i] = HS_FLAG_SOM_LEFTMOST;
		if (i < phi_n_builtin_patterns) {
			exprs[i] = phi_builtin_patterns[i].re;
			flags[i] |= phi_builtin_patterns[i].flags;
			eng->pat[i] = (struct phi_pat){phi_builtin_patterns[i].check, phi_builtin_patterns[i].type};
		} else if (i < phi_n_builtin_patterns + cfg->n_mrn) {
			exprs[i] = cfg->mrn_patterns[i - phi_n_builtin_patterns];
			eng->pat[i] = (struct phi_pat){phi_check_site, PHI_T_MRN};
		} else {
			exprs[i] = cfg->member_id_patterns[i - phi_n_builtin_patterns - cfg->n_mrn];
			eng->pat[i] = (struct phi_pat){phi_check_site, PHI_T_MEMBER_ID};
		}
		if (!exprs[i]) {
			rc = err_set(e, -EINVAL, "phi: pattern %zu is NULL", i);
			goto out;
		}
	}
	eng->npat = (unsigned)n;
	if (hs_compile_multi(exprs, flags, ids, (unsigned)n, HS_MODE_BLOCK, NULL, &eng->db, &cerr) !=
	    HS_SUCCESS) {
		int bad = cerr ? cerr->expression : -1;
		const char *msg = cerr && cerr->message ? cerr->message : "compile failed";
		if (bad >= 0 && (size_t)bad >= phi_n_builtin_patterns + cfg->n_mrn)
			rc = err_set(e, -EINVAL, "phi: member_id_patterns[%zu]: %s",
				     (size_t)bad - phi_n_builtin_patterns - cfg->n_mrn, msg);
		else if (bad >= 0 && (size_t)bad >= phi_n_builtin_patterns)
			rc = err_set(e, -EINVAL, "phi: mrn_patterns[%zu]: %s", (size_t)bad - phi_n_builtin_patterns, msg);
		else
			rc = err_set(e, -EINVAL, "phi: built-in pattern %d: %s", bad, msg);
		hs_free_compile_error(cerr);
		goto out;
	}
	if (hs_alloc_scratch(eng->db, &eng->proto) != HS_SUCCESS) {
		rc = err_set(e, -ENOMEM, "phi: cannot allocate Vectorscan scratch");
		goto out;
	}
	hs_database_size(eng->db, &eng->db_bytes);
	eng->url_allow = copy_list(cfg->url_allow_prefixes, cfg->n_url_allow, true);
	eng->date_exempt = copy_list(cfg->date_exempt_keys, cfg->n_date_exempt, false);
	eng->types_mask = cfg->types_enabled_mask;
	eng->known_mask = cfg->known_types_mask;
	eng->max_body = cfg->max_body ? cfg->max_body : PHI_DEFAULT_MAX_BODY;
	eng->max_findings = cfg->max_findings ? cfg->max_findings : PHI_DEFAULT_MAX_FINDINGS;
	*out = eng;
	eng = NULL;
out:
	free(exprs);
	free(flags);
	free(ids);
	phi_engine_free(eng);
	return rc;
}

struct phi_scratch *phi_scratch_new(const struct phi_engine *eng)
{
	struct phi_scratch *s = xcalloc(1, sizeof(*s));

	s->eng = eng;
	if (hs_clone_scratch(eng->proto, &s->hs) != HS_SUCCESS) {
		free(s);
		return NULL;
	}
	return s;
}

void phi_scratch_free(struct phi_scratch *s)
{
	if (!s)
		return;
	hs_free_scratch(s->hs);
	phi_dec_fini(&s->dec);
	free(s->hits.v);
	free(s);
}

int phi_hits_push(struct phi_hits *h, size_t s, size_t e, enum phi_type t, enum phi_source src)
{
	if (h->n == h->cap) {
		if (h->n >= h->max)
			return -E2BIG;
		h->cap = h->cap ? h->cap * 2 : 64;
		if (h->cap > h->max)
			h->cap = h->max;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	h->v[h->n++] = (struct phi_hit){(uint32_t)s, (uint32_t)e, (uint8_t)t, (uint8_t)src};
	return 0;
}

void phi_findings_init(struct phi_findings *f, size_t max)
{
	memset(f, 0, sizeof(*f));
	f->max = max;
}

void phi_findings_fini(struct phi_findings *f)
{
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static int findings_push(struct phi_findings *f, const struct phi_finding *x)
{
	if (f->n == f->cap) {
		if (f->n >= f->max)
			return -E2BIG;
		f->cap = f->cap ? f->cap * 2 : 32;
		if (f->cap > f->max)
			f->cap = f->max;
		f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	f->v[f->n++] = *x;
	return 0;
}

void phi_findings_drop(struct phi_findings *f, uint32_t types_mask, unsigned sources)
{
	size_t k = 0;

	for (size_t i = 0; i < f->n; i++) {
		const struct phi_finding *x = &f->v[i];
		if ((types_mask & PHI_TYPE_BIT(x->type)) && (sources & (1u << x->source)))
			continue;
		f->v[k++] = *x;
	}
	f->n = k;
}

struct scan_cb {
	const struct phi_engine *eng;
	struct phi_vctx vc;
	struct phi_hits *hits;
	int err;
};

static bool hit_wanted(const struct phi_engine *eng, const struct phi_dec *d, const struct phi_hit *h)
{
	long sa, sb;

	if (h->e <= h->s)
		return false;
	if (!((h->source == PHI_SRC_KNOWN ? eng->known_mask : eng->types_mask) & PHI_TYPE_BIT(h->type)))
		return false;
	/* a finding never spans two JSON tokens / form fields */
	sa = phi_dec_seg_at(d, h->s);
	sb = phi_dec_seg_at(d, h->e - 1);
	return sa >= 0 && sa == sb;
}

static int emit_hit(void *arg, const struct phi_hit *h)
{
	struct scan_cb *cb = arg;

	if (!hit_wanted(cb->eng, cb->vc.d, h))
		return 0;
	if (phi_hits_push(cb->hits, h->s, h->e, (enum phi_type)h->type, (enum phi_source)h->source) < 0) {
		cb->err = -E2BIG;
		return 1; /* stop scanning */
	}
	return 0;
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
		    void *arg)
{
	struct scan_cb *cb = arg;
	const struct phi_pat *p = &cb->eng->pat[id];
	struct phi_hit h;

	(void)flags;
	cb->vc.type = p->type;
	if (!p->check(&cb->vc, (size_t)from, (size_t)to, &h))
		return 0;
	return emit_hit(cb, &h);
}

/* FHIR path rules (research/phi.md §4.2 item 5): values of these JSON members are identifying
 * by where they are, whoever they belong to — HumanName.family/given, Address.line/city/
 * district/postalCode. Reported as pattern findings. */
static const struct {
	const char *key;
	enum phi_type type;
	bool need_digit;
} path_rules[] = {{"family", PHI_T_NAME, false},   {"given", PHI_T_NAME, false},
		  {"city", PHI_T_CITY, false},      {"district", PHI_T_CITY, false},
		  {"line", PHI_T_ADDRESS, true},    {"postalCode", PHI_T_ZIP, true}};

static int path_hits(const struct phi_engine *eng, const struct phi_dec *d, struct phi_hits *h)
{
	for (size_t i = 0; i < d->nsegs; i++) {
		const struct phi_seg *sg = &d->segs[i];
		if (sg->kind != PHI_SEG_STRING || sg->key < 0 || sg->d1 == sg->d0)
			continue;
		const struct phi_seg *k = &d->segs[sg->key];
		size_t kl = k->d1 - k->d0;
		for (size_t r = 0; r < sizeof(path_rules) / sizeof(path_rules[0]); r++) {
			if (strlen(path_rules[r].key) != kl || memcmp(path_rules[r].key, d->t + k->d0, kl) != 0)
				continue;
			bool alpha = false, digit = false;
			for (size_t b = sg->d0; b < sg->d1; b++) {
				unsigned char c = (unsigned char)d->t[b];
				digit |= c >= '0' && c <= '9';
				alpha |= (c | 32) >= 'a' && (c | 32) <= 'z';
				alpha |= c >= 0x80;
			}
			if (!alpha && !(path_rules[r].need_digit && digit))
				continue;
			if (path_rules[r].need_digit && !digit)
				continue;
			if (!(eng->types_mask & PHI_TYPE_BIT(path_rules[r].type)))
				continue;
			if (phi_hits_push(h, sg->d0, sg->d1, path_rules[r].type, PHI_SRC_PATTERN) < 0)
				return -E2BIG;
		}
	}
	return 0;
}

static int hit_cmp(const void *a, const void *b)
{
	const struct phi_hit *x = a, *y = b;

	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	if (x->e != y->e)
		return x->e > y->e ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return (int)y->source - (int)x->source;
}

/* Sort, drop unwanted known hits, merge overlapping hits of one type. */
static void merge_hits(const struct phi_engine *eng, const struct phi_dec *d, struct phi_hits *h)
{
	long last[PHI_T__COUNT];
	size_t k = 0;

	for (int t = 0; t < PHI_T__COUNT; t++)
		last[t] = -1;
	if (h->n > 1)
		qsort(h->v, h->n, sizeof(*h->v), hit_cmp);
	for (size_t i = 0; i < h->n; i++) {
		struct phi_hit x = h->v[i];
		if (!hit_wanted(eng, d, &x))
			continue;
		long l = last[x.type];
		if (l >= 0 && x.s < h->v[l].e) {
			if (x.e > h->v[l].e)
				h->v[l].e = x.e;
			if (x.source == PHI_SRC_KNOWN)
				h->v[l].source = PHI_SRC_KNOWN;
			continue;
		}
		h->v[k] = x;
		last[x.type] = (long)k;
		k++;
	}
	h->n = k;
}

int phi_scan(const struct phi_engine *eng, struct phi_scratch *s, const struct phi_context *ctx,
	     const char *body, size_t len, enum phi_body kind, struct phi_findings *out, struct err *e)
{
	struct scan_cb cb;
	int rc;

	out->n = 0;
	out->kind = kind;
	if (out->max == 0)
		out->max = eng->max_findings;
	if (s->eng != eng)
		return err_set(e, -EINVAL, "phi: scratch belongs to another engine");
	if (len > eng->max_body)
		return err_set(e, -E2BIG, "phi: body of %zu bytes exceeds the %zu-byte limit", len, eng->max_body);
	rc = phi_decode(&s->dec, body ? body : "", len, kind);
	if (rc < 0)
		return err_set(e, rc, "phi: body too large to decode");
	out->kind = s->dec.kind;
	s->hits.n = 0;
	s->hits.max = eng->max_findings * 4;
	memset(&cb, 0, sizeof(cb));
	cb.eng = eng;
	cb.hits = &s->hits;
	cb.vc.d = &s->dec;
	cb.vc.ctx = ctx;
	cb.vc.url_allow = (const char *const *)eng->url_allow;
	cb.vc.date_exempt = (const char *const *)eng->date_exempt;
	if (s->dec.n) {
		hs_error_t hr = hs_scan(eng->db, s->dec.t, (unsigned)s->dec.n, 0, s->hs, on_match, &cb);
		if (cb.err)
			return err_set(e, cb.err, "phi: more than %zu candidate findings", s->hits.max);
		if (hr != HS_SUCCESS)
			return err_set(e, -EIO, "phi: Vectorscan scan failed (%d)", (int)hr);
	}
	if (s->dec.kind == PHI_BODY_JSON && path_hits(eng, &s->dec, &s->hits) < 0)
		return err_set(e, -E2BIG, "phi: more than %zu candidate findings", s->hits.max);
	/* one token pass: digit/alnum-shaped identifiers and the patient's own identifiers */
	phi_dec_bitmaps(&s->dec);
	rc = phi_token_scan(ctx, &cb.vc, emit_hit, &cb, &s->hits);
	if (rc != 0 || cb.err)
		return err_set(e, -E2BIG, "phi: more than %zu candidate findings", s->hits.max);
	/* names and cities of people not in the context (phi_names.c); skipped when the
	 * configuration reports neither pattern type */
	if (eng->types_mask & (PHI_TYPE_BIT(PHI_T_NAME) | PHI_TYPE_BIT(PHI_T_CITY))) {
		rc = phi_names_scan(&cb.vc, emit_hit, &cb);
		if (rc != 0 || cb.err)
			return err_set(e, -E2BIG, "phi: more than %zu candidate findings", s->hits.max);
	}
	merge_hits(eng, &s->dec, &s->hits);
	for (size_t i = 0; i < s->hits.n; i++) {
		const struct phi_hit *h = &s->hits.v[i];
		struct phi_finding f;
		long sg = phi_dec_seg_at(&s->dec, h->s);
		const struct phi_seg *seg = &s->dec.segs[sg];

		if (!phi_dec_map(&s->dec, h->s, h->e, &f.start, &f.end))
			continue;
		f.type = (enum phi_type)h->type;
		f.source = (enum phi_source)h->source;
		f.tok_start = seg->r0;
		f.tok_end = seg->r1;
		switch (seg->kind) {
		case PHI_SEG_STRING: f.where = PHI_IN_STRING; break;
		case PHI_SEG_KEY: f.where = PHI_IN_KEY; break;
		case PHI_SEG_NUMBER: f.where = PHI_IN_NUMBER; break;
		case PHI_SEG_FORM: f.where = PHI_IN_FORM; break;
		default: f.where = PHI_IN_TEXT; break;
		}
		if (findings_push(out, &f) < 0)
			return err_set(e, -E2BIG, "phi: more than %zu findings", out->max);
	}
	return 0;
}

static int append_repl(struct buf *out, const struct phi_finding *f)
{
	const char *tn = phi_type_name(f->type);

	switch (f->where) {
	case PHI_IN_NUMBER:
		return buf_printf(out, "\"[REDACTED:%s]\"", tn);
	case PHI_IN_FORM:
		return buf_printf(out, "%%5BREDACTED%%3A%s%%5D", tn);
	default:
		return buf_printf(out, "[REDACTED:%s]", tn);
	}
}

int phi_redact(const char *body, size_t len, const struct phi_findings *f, struct buf *out, struct err *e)
{
	size_t cur = 0, prev_start = 0;
	size_t i = 0;
	int rc;

	while (i < f->n) {
		const struct phi_finding *g = &f->v[i];
		size_t s = g->where == PHI_IN_NUMBER ? g->tok_start : g->start;
		size_t en = g->where == PHI_IN_NUMBER ? g->tok_end : g->end;

		if (g->start < prev_start || s > en || en > len)
			return err_set(e, -EINVAL, "phi: finding %zu out of order or out of range", i);
		prev_start = g->start;
		/* absorb overlapping findings into this replacement */
		size_t j = i + 1;
		while (j < f->n) {
			const struct phi_finding *h = &f->v[j];
			size_t hs = h->where == PHI_IN_NUMBER ? h->tok_start : h->start;
			size_t he = h->where == PHI_IN_NUMBER ? h->tok_end : h->end;
			if (h->start < prev_start || he > len)
				return err_set(e, -EINVAL, "phi: finding %zu out of order or out of range", j);
			if (hs >= en)
				break;
			prev_start = h->start;
			if (he > en)
				en = he;
			j++;
		}
		if (s < cur)
			s = cur; /* cannot happen for scanner output; keeps bytes in order */
		rc = buf_append(out, body + cur, s - cur);
		if (rc == 0)
			rc = append_repl(out, g);
		if (rc < 0)
			return err_set(e, rc, "phi: redacted output exceeds its limit");
		cur = en > cur ? en : cur;
		i = j;
	}
	rc = buf_append(out, body + cur, len - cur);
	if (rc < 0)
		return err_set(e, rc, "phi: redacted output exceeds its limit");
	return 0;
}
