/* phi_int — internals shared by the PHI scanner's translation units (phi.c, phi_decode.c,
 * phi_valid.c, phi_known.c) and their unit tests. Not a public interface: the sidecar and the
 * CLI use sidecar/phi.h only.
 *
 * The scan text ("decoded view"): the body decoded into bytes the detectors read. JSON string
 * values, member names and number tokens each become one segment followed by a '\n'
 * separator; form keys and values likewise; a text body is one segment. A run map sends every
 * decoded byte back to raw bytes: a linear run maps byte for byte, an atomic run (a JSON
 * escape, a %XX, a normalised Unicode character) maps as a whole to its raw bytes, so a
 * finding can never end inside an escape.
 */
#ifndef EHRGATE_PHI_INT_H
#define EHRGATE_PHI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sidecar/phi.h"

enum phi_seg_kind { PHI_SEG_TEXT, PHI_SEG_STRING, PHI_SEG_KEY, PHI_SEG_NUMBER, PHI_SEG_FORM };

struct phi_seg {
	uint32_t d0, d1;   /* decoded span (separator excluded) */
	uint32_t r0, r1;   /* raw span of the whole token (JSON string incl. quotes) */
	int32_t key;       /* segment index of the member name this value belongs to, or -1 */
	uint8_t kind;      /* enum phi_seg_kind */
};

struct phi_run {
	uint32_t d, r, dlen, rlen;  /* dlen == rlen: linear; otherwise atomic */
};

/* Zero bytes kept after the scan text (t[n .. n + PHI_DEC_PAD)). Vectorscan 5.4.9 (Debian 12)
 * misses some matches that end within the last ~32 bytes of a buffer, depending on the
 * buffer's length and alignment: IPv6 addresses, "Mrs. A", "92 y/o", street names at the end
 * of a body, found by scanning every corpus body with and without a prefix
 * (phi_test.c test_vectorscan_buffer_end). Every scan therefore runs over the padding too and
 * drops matches that end inside it; with 64 bytes no difference remains on 67k bodies. NUL
 * cannot extend a match the unpadded text lacks a byte for: it is not a word byte (\b reads
 * the same as at the end of the buffer) and site patterns may not use anchors. */
#define PHI_DEC_PAD 64

/* Decoder state; lives in the scratch and is reused across scans. */
struct phi_dec {
	char *t;
	size_t n, cap;
	struct phi_run *runs;
	size_t nruns, cruns;
	struct phi_seg *segs;
	size_t nsegs, csegs;
	enum phi_body kind;  /* what was decoded (JSON falls back to TEXT) */
	/* one bit per scan-text byte (phi_dec_bitmaps): ASCII letter, digit, non-ASCII */
	uint64_t *am, *dm, *hm, *wm; /* wm = am | dm | hm (word bytes) */
	size_t nwords, cwords;
};

/* Build the byte-class bitmaps of d->t as phi_decode left it, padding included (SSE2 where
 * available). */
void phi_dec_bitmaps(struct phi_dec *d);
/* First position >= i whose bit in bitmap m (one of d's) is set (want_set) or clear, or d->n. */
static inline size_t phi_bits_next(const struct phi_dec *d, const uint64_t *m, size_t i, bool want_set)
{
	size_t w = i >> 6;
	uint64_t flip = want_set ? 0 : ~0ull, x;

	if (i >= d->n)
		return d->n;
	x = (m[w] ^ flip) & (~0ull << (i & 63));
	while (!x) {
		if (++w >= d->nwords)
			return d->n;
		x = m[w] ^ flip;
	}
	size_t r = (w << 6) + (size_t)__builtin_ctzll(x);
	return r < d->n ? r : d->n;
}
/* First position >= i that is (want_set) or is not a word byte, or d->n. */
static inline size_t phi_bm_next(const struct phi_dec *d, size_t i, bool want_set)
{
	return phi_bits_next(d, d->wm, i, want_set);
}

/* Decode body into d. Never fails on content (bad JSON falls back to TEXT); -E2BIG when the
 * body exceeds 4 GiB - 1 (offsets are 32-bit). */
int phi_decode(struct phi_dec *d, const char *body, size_t len, enum phi_body kind);
void phi_dec_fini(struct phi_dec *d);
/* Segment containing decoded offset pos, or -1 (a separator). */
long phi_dec_seg_at(const struct phi_dec *d, size_t pos);
/* The same, trying segment *hint and the one after it first (sets *hint to the result):
 * for lookups in ascending order. */
long phi_dec_seg_near(const struct phi_dec *d, size_t pos, size_t *hint);
/* Map decoded [s,e) to raw [*rs,*re). false if either end is not inside a run. */
bool phi_dec_map(const struct phi_dec *d, size_t s, size_t e, size_t *rs, size_t *re);
/* The same, trying run *hint and the one after it first (sets *hint to the start's run):
 * for spans in ascending order. */
bool phi_dec_map_near(const struct phi_dec *d, size_t s, size_t e, size_t *rs, size_t *re, size_t *hint);
/* Unicode normalisation applied to the scan text (look-alikes, spaces, zero-width): returns
 * the number of replacement bytes written to out (0 = drop the character) or -1 (keep). */
int phi_norm_cp(uint32_t cp, char out[4]);

/* Byte classes of the scan text, shared by the token loops. */
enum { PHI_CC_LOW = 1, PHI_CC_UP = 2, PHI_CC_DIG = 4, PHI_CC_HIGH = 8, PHI_CC_JOIN = 16 };
#define PHI_CC_ALPHA (PHI_CC_LOW | PHI_CC_UP)
#define PHI_CC_ALNUM (PHI_CC_LOW | PHI_CC_UP | PHI_CC_DIG)
#define PHI_CC_WORD (PHI_CC_ALNUM | PHI_CC_HIGH)
extern const uint8_t phi_cc[256];

/* Byte tests on the scan text, shared by the detectors (lookups in phi_cc and phi_lower) */
static inline bool isdig(char c)
{
	return c >= '0' && c <= '9';
}
static inline bool isalp(char c)
{
	return phi_cc[(unsigned char)c] & PHI_CC_ALPHA;
}
static inline bool isaln(char c)
{
	return phi_cc[(unsigned char)c] & PHI_CC_ALNUM;
}
static inline bool isword(char c)
{
	return phi_cc[(unsigned char)c] & PHI_CC_WORD;
}
extern const unsigned char phi_lower[256]; /* ASCII upper case to lower, every other byte as it is */
static inline char lc(char c)
{
	return (char)phi_lower[(unsigned char)c];
}

/* A detector hit in decoded coordinates. */
struct phi_hit {
	uint32_t s, e;
	uint8_t type;     /* enum phi_type */
	uint8_t source;   /* enum phi_source */
};

struct phi_hits {
	struct phi_hit *v;
	size_t n, cap, max;
};
/* -E2BIG when max is reached. */
int phi_hits_push(struct phi_hits *h, size_t s, size_t e, enum phi_type t, enum phi_source src);

/* --- patterns (phi_valid.c) ------------------------------------------------------------------ */

struct phi_vctx;   /* what a validator may look at */
typedef bool (*phi_check_fn)(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out);

struct phi_pattern {
	const char *re;
	unsigned flags;           /* HS_FLAG_* besides SOM_LEFTMOST */
	enum phi_type type;
	phi_check_fn check;
};

typedef int (*phi_emit_fn)(void *arg, const struct phi_hit *h);
/* Digit- and alnum-shaped identifiers (SSN, phone, ZIP, IPv4, numeric dates, MBI, VIN) found in
 * one pass without regular expressions; each confirmed hit goes to emit (non-zero stops). The
 * scanner does this inside its token pass (phi_token_scan, below); this whole-text form, which
 * cuts every run of digit groups, is the tests' reference for that pass's prefilter. */
int phi_shape_scan(struct phi_vctx *vc, phi_emit_fn emit, void *arg);
/* The same, one token at a time for the fused token pass: a digit run starting at ts
 * (returns where the run of digit groups ends), or an alphanumeric token [ts, te). */
size_t phi_shape_digits(struct phi_vctx *vc, size_t ts, phi_emit_fn emit, void *arg, int *rc);
void phi_shape_alnum(struct phi_vctx *vc, size_t ts, size_t te, phi_emit_fn emit, void *arg, int *rc);

/* IPv6 addresses (candidates from the colons, check_ipv6 confirms); each hit goes to emit. */
int phi_ipv6_scan(struct phi_vctx *vc, phi_emit_fn emit, void *arg);

extern const struct phi_pattern phi_builtin_patterns[];
extern const size_t phi_n_builtin_patterns;
/* Validator used for site MRN / member-id patterns: a match must not touch an alnum byte. */
bool phi_check_site(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out);

struct phi_vctx {
	const struct phi_dec *d;
	const struct phi_context *ctx;           /* may be NULL */
	const char *const *url_allow;            /* NUL-terminated list of lowercase prefixes */
	const char *const *date_exempt;          /* NULL-terminated list */
	enum phi_type type;                      /* the pattern's type */
};

/* Pure validators (exported for unit tests). */
bool phi_ssn_valid(unsigned area, unsigned group, unsigned serial);
bool phi_nanp_valid(const char digits10[10]);
bool phi_vin_valid(const char *s, size_t n);
bool phi_mbi_valid(const char *s, size_t n);
bool phi_date_valid(int y, int m, int d);
/* Is url (no surrounding text) on the allow list? prefixes are lowercase, scheme-less. */
bool phi_url_allowed(const char *url, size_t n, const char *const *extra);

/* Site patterns wider than this stay in the main database (phi.c site_scan). */
#define PHI_SITE_MAX_WIDTH 256u

/* --- known identifiers (phi_known.c) --------------------------------------------------------- */

/* The fused token pass over d (bitmaps built): shape identifiers to emit, and, when ctx is
 * not NULL, the context's identifiers into out. */
int phi_token_scan(const struct phi_context *ctx, struct phi_vctx *vc, phi_emit_fn emit, void *arg,
		   struct phi_hits *out);
/* Ask the CPU to load the context's memory block (at most 16 KB) into the cache: a context
 * built a while ago is cold, and the token pass probes its filters at random. phi_scan calls
 * it before decoding, so the loads overlap the decoder's work. */
void phi_context_prefetch(const struct phi_context *ctx);
/* Is (y,m,d) one of the patient's dates? y < 100 compares the two-digit year. */
bool phi_known_date(const struct phi_context *ctx, int y, int m, int d);
/* Is the normalised (lower-case) email one of the patient's? */
bool phi_known_email(const struct phi_context *ctx, const char *email, size_t n);

/* Tests: the context's memory block, and wiping it without freeing (phi_context_free does
 * both). */
size_t phi_context_block(const struct phi_context *ctx, const unsigned char **p);
void phi_context_wipe(struct phi_context *ctx);

/* Name/token folding (lower-case, Latin diacritics folded, apostrophes dropped). Writes at
 * most cap bytes; returns the folded length or (size_t)-1 if it does not fit. */
size_t phi_fold(const char *s, size_t n, char *out, size_t cap);

/* --- names and cities of people who are not the patient in context (phi_names.c) ------------
 * A dictionary + context detector for Safe Harbor (A) names and (B) cities of relatives,
 * neighbours and other people (45 CFR 164.514(b)(2)(i)(A),(B); research/phi.md §3 rows A, B).
 * The word table (phi_names_data.c) is generated by fixtures/phi_names/gen_tables.py from
 * hand-compiled lists; each entry is a folded word or phrase (phi_fold) with PHI_NW_* flags. */
#define PHI_NW_GIVEN      (1u << 0)   /* common given name */
#define PHI_NW_SURNAME    (1u << 1)   /* common surname */
#define PHI_NW_AMBIG      (1u << 2)   /* name that is also an everyday/clinical word ("Will") */
#define PHI_NW_DATEWORD   (1u << 3)   /* month or weekday ("May", "June") */
#define PHI_NW_CITY       (1u << 4)   /* a whole city name ("boston", "salt lake city") */
#define PHI_NW_CITY_PFX   (1u << 5)   /* a proper prefix of a multi-word city ("salt lake") */
#define PHI_NW_CAMBIG     (1u << 6)   /* city that is also a name or word: needs a cue/state */
#define PHI_NW_STATE      (1u << 7)   /* a whole state name ("new york") */
#define PHI_NW_STATE_PFX  (1u << 8)   /* a proper prefix of a multi-word state ("new") */
#define PHI_NW_STATECODE  (1u << 9)   /* USPS code (folded: "ma"); used only written "MA" */
#define PHI_NW_EPONYM     (1u << 10)  /* eponym of a disease/sign/test/device ("crohn") */
#define PHI_NW_ENEXT      (1u << 11)  /* word that makes the word before it a term ("disease") */
#define PHI_NW_ORG        (1u << 12)  /* word that makes the words before it an organisation */
#define PHI_NW_STOP       (1u << 13)  /* never part of a person's or a city's name */
#define PHI_NW_PARTICLE   (1u << 14)  /* surname particle (van, de, la, mc ...) */
#define PHI_NW_SUFFIX     (1u << 15)  /* jr, sr, ii, iii, iv */
#define PHI_NW_REL        (1u << 16)  /* relation cue: wife, neighbor, daughter ... */
#define PHI_NW_GREET      (1u << 17)  /* greeting/naming cue: dear, signed, named, mrs ... */
#define PHI_NW_NAMEVERB   (1u << 18)  /* "spoke" (with), "accompanied" (by) ... */
#define PHI_NW_WEAK       (1u << 19)  /* pt, patient */
#define PHI_NW_PROV       (1u << 20)  /* clinician title: the name after it is a provider */
#define PHI_NW_CITYVERB   (1u << 21)  /* "lives" (in), "moved" (from), "resident" (of) ... */
#define PHI_NW_CITYKEY    (1u << 22)  /* "city:", "hometown" */
#define PHI_NW_CRED       (1u << 23)  /* credential after a provider's name: md, rn, np ... */
#define PHI_NW_PREP_NAME  (1u << 24)  /* with, by, to */
#define PHI_NW_PREP_CITY  (1u << 25)  /* in, to, from, of, near */
#define PHI_NW_CAPSABBR   (1u << 26)  /* written in capitals it is an abbreviation (ANA, TIA) */
#define PHI_NW_CLOSING    (1u << 27)  /* closing/salutation: a cue only before ", " or ": " */

struct phi_names_word {
	const char *w;   /* folded, lower-case ASCII; phrases joined by one space */
	uint8_t len;
	uint32_t flags;  /* PHI_NW_* */
};
extern const struct phi_names_word phi_names_words[];
extern const size_t phi_names_nwords;

/* Flags of a folded word or phrase (0 when absent). The table is built on first use
 * (pthread_once) and immutable afterwards; safe from any thread. */
uint32_t phi_names_lookup(const char *folded, size_t n);
/* Scan vc->d (decoded text, segments separated by '\n'; its byte-class bitmaps built by
 * phi_dec_bitmaps, which the detector reads for word bounds) for names and cities of people not
 * in the context; every hit (PHI_T_NAME / PHI_T_CITY, PHI_SRC_PATTERN, decoded offsets) goes
 * to emit. Returns 0, or emit's non-zero value when emit asked to stop. No allocation. */
int phi_names_scan(const struct phi_vctx *vc, phi_emit_fn emit, void *arg);

#endif
