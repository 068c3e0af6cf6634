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
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/hsre.h"
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
	/* site patterns scanned only around digit runs of at least site_k digits, site_m bytes
	 * either side (lib/hsre.h); NULL when there are none */
	hs_database_t *sdb;
	hs_scratch_t *sproto;
	unsigned site_k, site_m, site_w; /* site_w: the widest match */
	struct phi_pat *pat;
	unsigned npat;
	char **url_allow;     /* NULL-terminated */
	char **date_exempt;   /* NULL-terminated */
	uint32_t types_mask, known_mask;
	size_t max_body, max_findings, db_bytes;
};

/* A window of the text copied into the site buffer: text [t, t + len) at buffer offset b. */
struct site_win {
	uint32_t b, t, len;
};

struct phi_scratch {
	const struct phi_engine *eng;
	hs_scratch_t *hs, *shs;
	struct phi_dec dec;
	/* site_scan: the windows around long digit runs, copied into one buffer */
	char *sbuf;
	size_t nsbuf, csbuf;
	struct site_win *wins;
	size_t nwins, cwins;
	struct phi_hit *tmp; /* merge_hits: the sort's second buffer */
	size_t ctmp;
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
	hs_free_scratch(eng->sproto);
	hs_free_database(eng->sdb);
	free(eng->pat);
	free_list(eng->url_allow);
	free_list(eng->date_exempt);
	free(eng);
}

size_t phi_engine_db_bytes(const struct phi_engine *eng)
{
	return eng->db_bytes;
}

/* Compile exprs[0..n) (pattern ids in ids) into *db and a prototype scratch. Errors name the
 * configuration list and index of the failing expression. */
static int compile_db(const char **exprs, const unsigned *flags, const unsigned *ids, unsigned n,
		      const struct phi_config *cfg, hs_database_t **db, hs_scratch_t **proto, struct err *e)
{
	hs_compile_error_t *cerr = NULL;

	if (hs_compile_multi(exprs, flags, ids, n, HS_MODE_BLOCK, NULL, db, &cerr) != HS_SUCCESS) {
		long bad = cerr && cerr->expression >= 0 ? (long)ids[cerr->expression] : -1;
		const char *msg = cerr && cerr->message ? cerr->message : "compile failed";
		int rc;
		if (bad >= 0 && (size_t)bad >= phi_n_builtin_patterns + cfg->n_mrn)
			rc = err_set(e, -EINVAL, "phi: member_id_patterns[%zu]: %s",
				     (size_t)bad - phi_n_builtin_patterns - cfg->n_mrn, msg);
		else if (bad >= 0 && (size_t)bad >= phi_n_builtin_patterns)
			rc = err_set(e, -EINVAL, "phi: mrn_patterns[%zu]: %s", (size_t)bad - phi_n_builtin_patterns, msg);
		else
			rc = err_set(e, -EINVAL, "phi: built-in pattern %ld: %s", bad, msg);
		hs_free_compile_error(cerr);
		*db = NULL;
		return rc;
	}
	if (hs_alloc_scratch(*db, proto) != HS_SUCCESS)
		return err_set(e, -ENOMEM, "phi: cannot allocate Vectorscan scratch");
	return 0;
}

/* Should site pattern re go to the windowed database? Sets *k (its digit run) and *w (its
 * maximum match width) when it should. */
static bool site_windowed(const char *re, unsigned fl, unsigned *k, unsigned *w)
{
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *cerr = NULL;
	bool ok;

	*k = hsre_digit_run(re);
	if (*k == 0)
		return false;
	if (hs_expression_info(re, fl, &info, &cerr) != HS_SUCCESS) {
		hs_free_compile_error(cerr);
		return false; /* the main compile reports the error */
	}
	/* bounded and short: a window is the run plus the width either side */
	ok = info->min_width > 0 && info->max_width != UINT_MAX && info->max_width <= PHI_SITE_MAX_WIDTH &&
	     !info->unordered_matches && !info->matches_at_eod && !info->matches_only_at_eod;
	*w = info->max_width;
	free(info);
	return ok;
}

int phi_engine_new(const struct phi_config *cfg, struct phi_engine **out, struct err *e)
{
	struct phi_engine *eng;
	const char **exprs = NULL, **sexprs = NULL;
	unsigned *flags = NULL, *ids = NULL, *sflags = NULL, *sids = NULL, nm = 0, ns = 0;
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
	sexprs = xcalloc(n, sizeof(*sexprs));
	sflags = xcalloc(n, sizeof(*sflags));
	sids = xcalloc(n, sizeof(*sids));
	eng->site_k = UINT_MAX;
	for (size_t i = 0; i < n; i++) {
		const char *re;
		unsigned fl = HS_FLAG_SOM_LEFTMOST, k, w;
		if (i < phi_n_builtin_patterns) {
			re = phi_builtin_patterns[i].re;
			fl |= phi_builtin_patterns[i].flags;
			eng->pat[i] = (struct phi_pat){phi_builtin_patterns[i].check, phi_builtin_patterns[i].type};
		} else if (i < phi_n_builtin_patterns + cfg->n_mrn) {
			re = cfg->mrn_patterns[i - phi_n_builtin_patterns];
			eng->pat[i] = (struct phi_pat){phi_check_site, PHI_T_MRN};
		} else {
			re = cfg->member_id_patterns[i - phi_n_builtin_patterns - cfg->n_mrn];
			eng->pat[i] = (struct phi_pat){phi_check_site, PHI_T_MEMBER_ID};
		}
		if (!re) {
			rc = err_set(e, -EINVAL, "phi: pattern %zu is NULL", i);
			goto out;
		}
		if (i >= phi_n_builtin_patterns && hsre_has_anchor(re)) {
			bool mrn = i < phi_n_builtin_patterns + cfg->n_mrn;
			rc = err_set(e, -EINVAL, "phi: %s[%zu]: anchors (^ $ \\A \\z \\Z \\G) are not supported",
				     mrn ? "mrn_patterns" : "member_id_patterns",
				     i - phi_n_builtin_patterns - (mrn ? 0 : cfg->n_mrn));
			goto out;
		}
		if (i >= phi_n_builtin_patterns && !cfg->no_site_windows && site_windowed(re, fl, &k, &w)) {
			sexprs[ns] = re;
			sflags[ns] = fl;
			sids[ns++] = (unsigned)i;
			k = k > 64 ? 64 : k; /* a smaller bound is still a bound */
			if (k > w)
				k = w;
			eng->site_k = k < eng->site_k ? k : eng->site_k;
			eng->site_w = w > eng->site_w ? w : eng->site_w;
			/* a match reaches at most w - k bytes beyond its run, its assertions one more */
			eng->site_m = w - k + 1 > eng->site_m ? w - k + 1 : eng->site_m;
		} else {
			exprs[nm] = re;
			flags[nm] = fl;
			ids[nm++] = (unsigned)i;
		}
	}
	eng->npat = (unsigned)n;
	rc = compile_db(exprs, flags, ids, nm, cfg, &eng->db, &eng->proto, e);
	if (rc == 0 && ns)
		rc = compile_db(sexprs, sflags, sids, ns, cfg, &eng->sdb, &eng->sproto, e);
	if (rc < 0)
		goto out;
	hs_database_size(eng->db, &eng->db_bytes);
	if (eng->sdb) {
		size_t b = 0;
		hs_database_size(eng->sdb, &b);
		eng->db_bytes += b;
	}
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
	free(sexprs);
	free(sflags);
	free(sids);
	phi_engine_free(eng);
	return rc;
}

struct phi_scratch *phi_scratch_new(const struct phi_engine *eng)
{
	struct phi_scratch *s = xcalloc(1, sizeof(*s));

	s->eng = eng;
	if (hs_clone_scratch(eng->proto, &s->hs) != HS_SUCCESS ||
	    (eng->sproto && hs_clone_scratch(eng->sproto, &s->shs) != HS_SUCCESS)) {
		hs_free_scratch(s->hs);
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
	hs_free_scratch(s->shs);
	free(s->sbuf);
	free(s->wins);
	free(s->tmp);
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
	size_t limit; /* matches ending after this offset are in the padding (PHI_DEC_PAD) */
	struct phi_scratch *scr;
	size_t win;   /* site_scan: the window the last match was in */
	size_t seg;   /* hit_wanted: the segment of the last hit (phi_dec_seg_near) */
	int err;
};

/* *hint: the segment of the previous lookup (phi_dec_seg_near) */
static bool hit_wanted(const struct phi_engine *eng, const struct phi_dec *d, const struct phi_hit *h, size_t *hint)
{
	long sa;

	if (h->e <= h->s)
		return false;
	if (!((h->source == PHI_SRC_KNOWN ? eng->known_mask : eng->types_mask) & PHI_TYPE_BIT(h->type)))
		return false;
	/* a finding never spans two JSON tokens / form fields: it ends in the segment it starts in */
	sa = phi_dec_seg_near(d, h->s, hint);
	return sa >= 0 && h->e <= d->segs[sa].d1;
}

static int emit_hit(void *arg, const struct phi_hit *h)
{
	struct scan_cb *cb = arg;

	if (!hit_wanted(cb->eng, cb->vc.d, h, &cb->seg))
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
	if (to > cb->limit)
		return 0;
	cb->vc.type = p->type;
	if (!p->check(&cb->vc, (size_t)from, (size_t)to, &h))
		return 0;
	return emit_hit(cb, &h);
}

/* The next run of at least k (1..64) consecutive digits at or after i: sets [*p, *q) and
 * returns true, or false when there is none. Whole words of the digit bitmap are tested at
 * once (bit j survives k-1 shifted ANDs only when bits j..j+k-1 are all set), so text
 * without long digit runs costs a few operations per 64 bytes. */
static bool next_digit_run(const struct phi_dec *d, size_t i, unsigned k, size_t *p, size_t *q)
{
	const uint64_t *dm = d->dm;
	size_t n = d->n;

	for (size_t w = i >> 6; w < d->nwords; w++) {
		unsigned __int128 v = dm[w];
		uint64_t r;
		if (w + 1 < d->nwords)
			v |= (unsigned __int128)dm[w + 1] << 64;
		if (w == i >> 6)
			v &= ~(unsigned __int128)0 << (i & 63);
		for (unsigned have = 1; have < k;) {
			unsigned step = have < k - have ? have : k - have;
			v &= v >> step;
			have += step;
		}
		r = (uint64_t)v;
		if (!r)
			continue;
		size_t a = (w << 6) + (size_t)__builtin_ctzll(r);
		if (a >= n)
			return false;
		*q = phi_bits_next(d, dm, a, false);
		while (a > i && isdig(d->t[a - 1]))
			a--;
		*p = a;
		return true;
	}
	return false;
}

static int on_site_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
			 void *arg)
{
	struct scan_cb *cb = arg;
	struct phi_scratch *s = cb->scr;
	const struct site_win *w;

	/* matches come in order of their end; none spans two windows (the gap is wider than a
	 * match) and none ends in a gap (a match holds a digit) */
	while (cb->win + 1 < s->nwins && to > s->wins[cb->win].b + s->wins[cb->win].len)
		cb->win++;
	w = &s->wins[cb->win];
	if (from < w->b || to > w->b + w->len)
		return 0;
	return on_match(id, from - w->b + w->t, to - w->b + w->t, flags, arg);
}

static void site_add(struct phi_scratch *s, const char *t, size_t ws, size_t we, size_t gap)
{
	size_t need = s->nsbuf + (we - ws) + gap;

	if (need > s->csbuf) {
		s->csbuf = need * 2 > 4096 ? need * 2 : 4096;
		s->sbuf = xrealloc(s->sbuf, s->csbuf);
	}
	if (s->nwins == s->cwins) {
		s->cwins = s->cwins ? s->cwins * 2 : 16;
		s->wins = xrealloc(s->wins, s->cwins * sizeof(*s->wins));
	}
	s->wins[s->nwins++] = (struct site_win){(uint32_t)s->nsbuf, (uint32_t)ws, (uint32_t)(we - ws)};
	memcpy(s->sbuf + s->nsbuf, t + ws, we - ws);
	memset(s->sbuf + s->nsbuf + (we - ws), 0, gap);
	s->nsbuf = need;
}

/* The windowed site patterns (lib/hsre.h). A match of pattern P is at most w bytes wide and
 * holds a run R of at least k digits (k >= site_k), so it starts at most w - k bytes before R
 * and ends at most w - k bytes after it; \b at either end reads one byte further. A window of
 * site_m = max(w - k) + 1 bytes either side of every maximal run of site_k or more digits
 * therefore holds each match with every byte its assertions read (the patterns have no
 * anchors), and overlapping windows are merged. The windows are copied into one buffer, each
 * followed by a gap of NUL bytes wider than any match (no match joins two windows; the last gap
 * is at least the PHI_DEC_PAD padding), and scanned in one call: the matches and their leftmost
 * starts are those of a scan of the whole text (phi_test.c test_site_windows). */
static int site_scan(const struct phi_engine *eng, struct phi_scratch *s, struct scan_cb *cb)
{
	const struct phi_dec *d = &s->dec;
	size_t n = d->n, i = 0, ws = 0, we = 0, M = eng->site_m;
	size_t gap = eng->site_w + 1;
	bool open = false;

	s->nsbuf = 0;
	s->nwins = 0;
	for (;;) {
		size_t p = n, q = n, a = 0, b = 0;
		bool more = next_digit_run(d, i, eng->site_k, &p, &q);
		if (more) {
			i = q;
			a = p > M ? p - M : 0;
			b = q + M < n ? q + M : n;
			if (open && a <= we) {
				we = b;
				continue;
			}
		}
		if (open)
			site_add(s, d->t, ws, we, more ? gap : (gap > PHI_DEC_PAD ? gap : PHI_DEC_PAD));
		if (!more)
			break;
		ws = a;
		we = b;
		open = true;
	}
	if (!s->nwins)
		return 0;
	cb->win = 0;
	cb->scr = s;
	hs_error_t hr = hs_scan(eng->sdb, s->sbuf, (unsigned)s->nsbuf, 0, s->shs, on_site_match, cb);
	if (cb->err)
		return cb->err;
	return hr == HS_SUCCESS ? 0 : -EIO;
}

/* FHIR path rules (research/phi.md §4.2 item 5): values of these JSON members are identifying
 * by where they are, whoever they belong to — HumanName.family/given, Address.line/city/
 * district/postalCode. Reported as pattern findings. */
static const struct {
	const char *key;
	size_t len;
	enum phi_type type;
	bool need_digit;
} path_rules[] = {
#define PATH_RULE(k, t, d) {k, sizeof(k) - 1, t, d}
	PATH_RULE("family", PHI_T_NAME, false),  PATH_RULE("given", PHI_T_NAME, false),
	PATH_RULE("city", PHI_T_CITY, false),    PATH_RULE("district", PHI_T_CITY, false),
	PATH_RULE("line", PHI_T_ADDRESS, true),  PATH_RULE("postalCode", PHI_T_ZIP, true),
#undef PATH_RULE
};

static int path_hits(const struct phi_engine *eng, const struct phi_dec *d, struct phi_hits *h)
{
	for (size_t i = 0; i < d->nsegs; i++) {
		const struct phi_seg *sg = &d->segs[i];
		if (sg->kind != PHI_SEG_STRING || sg->key < 0 || sg->d1 == sg->d0)
			continue;
		const struct phi_seg *k = &d->segs[sg->key];
		size_t kl = k->d1 - k->d0;
		for (size_t r = 0; r < sizeof(path_rules) / sizeof(path_rules[0]); r++) {
			if (path_rules[r].len != kl || memcmp(path_rules[r].key, d->t + k->d0, kl) != 0)
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

/* Order of hits: start, then longer first, then type, then known before pattern. */
static inline bool hit_before(const struct phi_hit *x, const struct phi_hit *y)
{
	if (x->s != y->s)
		return x->s < y->s;
	if (x->e != y->e)
		return x->e > y->e;
	if (x->type != y->type)
		return x->type < y->type;
	return x->source > y->source;
}

/* Sort h->v by hit_before. The detectors each emit in (nearly) ascending order, so the list is
 * a few long ascending runs: a bottom-up natural merge sort takes O(n log runs) and does not
 * call a comparator through a pointer (qsort did, at ~0.4 ns per scanned byte). Stable. */
static void sort_hits(struct phi_hits *h, struct phi_hit **tmp, size_t *ctmp)
{
	size_t n = h->n;
	struct phi_hit *a = h->v, *b;

	if (n < 2)
		return;
	if (*ctmp < n) {
		*ctmp = n;
		*tmp = xrealloc(*tmp, n * sizeof(**tmp));
	}
	b = *tmp;
	for (;;) {
		size_t runs = 0, i = 0;
		while (i < n) {
			/* run 1: [i, m), run 2: [m, e) */
			size_t m = i + 1, e;
			while (m < n && !hit_before(&a[m], &a[m - 1]))
				m++;
			e = m < n ? m + 1 : n;
			while (e < n && !hit_before(&a[e], &a[e - 1]))
				e++;
			size_t x = i, y = m, o = i;
			while (x < m && y < e)
				b[o++] = hit_before(&a[y], &a[x]) ? a[y++] : a[x++];
			while (x < m)
				b[o++] = a[x++];
			while (y < e)
				b[o++] = a[y++];
			runs++;
			i = e;
		}
		struct phi_hit *t = a;
		a = b;
		b = t;
		if (runs == 1)
			break;
	}
	if (a != h->v) {
		memcpy(h->v, a, n * sizeof(*a));
	}
}

/* Sort, drop unwanted known hits, merge overlapping hits of one type. */
static void merge_hits(const struct phi_engine *eng, const struct phi_dec *d, struct phi_hits *h,
		       struct phi_hit **tmp, size_t *ctmp)
{
	long last[PHI_T__COUNT];
	size_t k = 0, hint = 0;

	for (int t = 0; t < PHI_T__COUNT; t++)
		last[t] = -1;
	sort_hits(h, tmp, ctmp);
	for (size_t i = 0; i < h->n; i++) {
		struct phi_hit x = h->v[i];
		if (!hit_wanted(eng, d, &x, &hint))
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
	if (ctx)
		phi_context_prefetch(ctx);
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
		/* over the padding too (PHI_DEC_PAD: a Vectorscan 5.4.9 end-of-buffer bug) */
		cb.limit = s->dec.n;
		hs_error_t hr = hs_scan(eng->db, s->dec.t, (unsigned)(s->dec.n + PHI_DEC_PAD), 0, s->hs, on_match, &cb);
		if (cb.err)
			return err_set(e, cb.err, "phi: more than %zu candidate findings", s->hits.max);
		if (hr != HS_SUCCESS)
			return err_set(e, -EIO, "phi: Vectorscan scan failed (%d)", (int)hr);
	}
	if (s->dec.n && phi_ipv6_scan(&cb.vc, emit_hit, &cb) != 0)
		return err_set(e, -E2BIG, "phi: more than %zu candidate findings", s->hits.max);
	if (s->dec.kind == PHI_BODY_JSON && path_hits(eng, &s->dec, &s->hits) < 0)
		return err_set(e, -E2BIG, "phi: more than %zu candidate findings", s->hits.max);
	phi_dec_bitmaps(&s->dec);
	if (eng->sdb && s->dec.n) {
		rc = site_scan(eng, s, &cb);
		if (rc == -EIO)
			return err_set(e, rc, "phi: Vectorscan scan failed");
		if (rc)
			return err_set(e, rc, "phi: more than %zu candidate findings", s->hits.max);
	}
	/* one token pass: digit/alnum-shaped identifiers and the patient's own identifiers */
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
	merge_hits(eng, &s->dec, &s->hits, &s->tmp, &s->ctmp);
	size_t hint = 0, rhint = 0;
	for (size_t i = 0; i < s->hits.n; i++) {
		const struct phi_hit *h = &s->hits.v[i];
		struct phi_finding f;
		long sg = phi_dec_seg_near(&s->dec, h->s, &hint);
		const struct phi_seg *seg = &s->dec.segs[sg];

		if (!phi_dec_map_near(&s->dec, h->s, h->e, &f.start, &f.end, &rhint))
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
