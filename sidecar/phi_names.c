/* phi_names — names and cities of people who are NOT the patient in context.
 *
 * The known-patient matcher (phi_known.c) finds the patient's own name and city; the title
 * rule (phi_valid.c) finds "Mrs. Garcia". This module finds the rest of Safe Harbor (A) and
 * (B) for other people — relatives not in the FHIR contact list, neighbours, other patients
 * (45 CFR 164.514(b)(2)(i)(A) names "of the individual or of relatives, employers or
 * household members", (B) "all geographic subdivisions smaller than a State") — with a
 * dictionary (phi_names_data.c, generated from the hand-compiled lists in fixtures/phi_names/)
 * and context rules (research/phi.md §3 row A: "◐ census first/last names, ● titles, 'pt',
 * greetings"; row B: "● city gazetteer, ◐ 'lives in', 'resides'"). No regular expressions,
 * no allocation per scan; the table is static data hashed once (pthread_once) into an
 * open-addressing table that is immutable afterwards and shared by all threads.
 *
 * Owns: the hash table (process-wide, read-only after the first scan). Findings go to the
 * caller's emit callback as PHI_T_NAME / PHI_T_CITY, PHI_SRC_PATTERN, in decoded offsets.
 *
 * Cost: one SSE2 pass builds, per 64 bytes, the mask of word starts that are upper-case
 * letters (or "n" for the lower-case "name is ..." cue); only those tokens are parsed, folded,
 * hashed and looked up, so the scan costs a fraction of a nanosecond per byte on clinical text.
 *
 * Rules (precision first: research/phi.md §6 "≤0.1 % false blocks", §7 FP complaints):
 *  NAME
 *   N1 "First Last": a given name that is not ambiguous, then a capitalised surname or name-
 *      like word ("Maria Garcia", "Maria Xiuhtecuhtli"); an ambiguous given name ("Will",
 *      "May", "Hope") only before an unambiguous surname ("Will Smith"). Middle initials and
 *      particles may stand between ("John Q. Public", "Maria de la Cruz"), a second surname
 *      and a suffix may follow ("Garcia Lopez", "Jr."). Two unknown capitalised words count
 *      only after a strong cue.
 *   N2 "Last, First" (optionally a middle name or initial), also in capitals ("GARCIA, MARIA").
 *   N3 a name after a cue: relation words ("wife", "neighbor", "daughter, Ana"), greetings
 *      and closings ("Dear", "Signed,"), titles ("Mrs."), "name:"/"name is" (also in lower case:
 *      "my name is maria lopez"), "spoke with", "accompanied by"; "pt"/"patient" only before
 *      an unambiguous dictionary name; and a name followed by "(daughter)".
 *   N4 "J. Smith": an initial and an unambiguous surname.
 *  CITY
 *   C1 "City, ST", "City, ST 12345", "City ST 12345", "City, State": a dictionary city, or with
 *      a ZIP code any capitalised words (the words right before the state).
 *   C2 "lives in / moved from / resident of / born in / City:" then a city, dictionary or not.
 *   C3 a dictionary city alone when it is not an everyday word or a person's name ("Boston",
 *      "Salt Lake City"; not "Mobile", "Jackson"), and not part of a term or an organisation
 *      ("Boston criteria", "Denver shunt", "Boston Scientific", "Rome IV").
 *   C4 "<Name> County" / "Parish" / "Borough".
 *  Never reported: eponyms followed by a clinical word ("Parkinson's disease", "Bell's palsy",
 *  "Foley catheter", "Glasgow Coma Scale"), names after a clinician title or before a
 *  credential ("Dr. Chen", "Maria Garcia, MD": providers are not the individual), a month
 *  before a number ("May 2019"), words of organisations ("Henry Ford Hospital"), states alone,
 *  capitalised words inside paths, e-mail addresses and identifiers.
 *  A match never crosses a segment separator ('\n') — every separator a rule skips is a
 *  space, a comma, a colon, a period or a bracket.
 */
#include "sidecar/phi_int.h"

#include <pthread.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* --- the table ------------------------------------------------------------------------------- */

#define SLOT_BITS 14
#define NSLOTS (1u << SLOT_BITS)
#define KEYMAX 104  /* longest key hashed (a phrase of up to four words) */

/* One 4-byte slot per word: 24 bits of its 64-bit hash (never 0) and the index of its flag
 * combination (the 6,900 words share about 140 combinations). No string is compared on the
 * hot path: a word that is not in the table matches a slot only if 38 bits of two 64-bit
 * hashes agree (about once in 2.7*10^11 lookups, and the presence bitmap filters most
 * lookups first); the unit test checks that every table word finds its own flags.
 * 64 KiB + 1 KiB, immutable after table_build. */
static uint32_t slots[NSLOTS];
static uint32_t combos[256];
static unsigned ncombos;
/* presence bitmap (8 KiB): one bit per table word, indexed by 16 other hash bits; most
 * words that are not in the table stop here without touching slots */
#define BLOOM_BITS 16
static uint64_t bloom[(1u << BLOOM_BITS) / 64];
/* lone-city bitmap (4 KiB): one bit per (first four letters, length) of the one-word cities
 * that are reported without any context (rule C3). A capitalised word with no cue before it
 * and no capitalised word after it is parsed only when it hits here. */
#define CITY1_BITS 15
static uint64_t city1[(1u << CITY1_BITS) / 64];
/* cue prefilters (2 KiB each): one bit per (first two letters, last two letters, length) of
 * the one-word cues (relations, greetings, titles, "pt", clinician titles, "city", "name")
 * and of the verbs before a preposition ("spoke" with, "lives" in, "name" is, grew "up" in) */
#define CUE_BITS 14
static uint64_t cue1[(1u << CUE_BITS) / 64], cueverb[(1u << CUE_BITS) / 64];
/* USPS codes (one bit per two letters) and a bitmap of (first four letters, length) of the
 * state names and their first words ("Illinois", "New" ...), for the cheap checks */
static uint64_t stcode[26 * 26 / 64 + 1];
#define STATE1_BITS 12
static uint64_t state1[(1u << STATE1_BITS) / 64];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

#define CUE1_FLAGS (PHI_NW_REL | PHI_NW_GREET | PHI_NW_CLOSING | PHI_NW_WEAK | PHI_NW_PROV | PHI_NW_CITYKEY)
#define VERB_FLAGS (PHI_NW_NAMEVERB | PHI_NW_CITYVERB)

#define H_SEED 0x9e3779b97f4a7c15ull
#define H_MUL 0xff51afd7ed558ccdull
#define H_FIN 0xc4ceb9fe1a85ec53ull

/* Hash of a key of n bytes at s; s must be readable and zero for the 8-byte words that
 * cover n (callers keep their key buffers zero-padded). Eight bytes per multiply: a word
 * of up to eight letters costs one round. tok_scan computes the same value in registers. */
static inline uint64_t key_hash(const char *s, size_t n)
{
	uint64_t h = H_SEED;

	for (size_t i = 0; i < n; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		h = (h ^ w) * H_MUL;
		h ^= h >> 32;
	}
	h ^= (uint64_t)n;
	return h * H_FIN;
}

static inline uint32_t fp_of(uint64_t h)
{
	return ((uint32_t)(h >> 40) | 1u) << 8;
}

/* two bits (in the high and the low half) for a word of len letters whose first
 * min(len, 4) letters, lower-cased, are in w */
static inline uint32_t city1_bit(uint32_t w, size_t len)
{
	uint64_t h = ((uint64_t)w ^ ((uint64_t)(len < 31 ? len : 31) << 32)) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 34);
}
#define C1_HI(b) ((b) >> 15 & ((1u << CITY1_BITS) - 1))
#define C1_LO(b) ((b) & ((1u << CITY1_BITS) - 1))

static inline bool city1_has(uint32_t b)
{
	return ((city1[C1_HI(b) >> 6] >> (C1_HI(b) & 63)) & (city1[C1_LO(b) >> 6] >> (C1_LO(b) & 63)) & 1) != 0;
}

static inline uint32_t cue_bit(unsigned c0, unsigned c1, unsigned z1, unsigned z0, size_t len)
{
	uint32_t k = (c0 << 24 | c1 << 16 | z1 << 8 | z0) ^ ((uint32_t)len * 0x9e3779b1u);
	return (k * 0x85ebca6bu) >> (32 - CUE_BITS);
}

static void mark2(uint64_t *tab, const char *w, size_t len)
{
	if (len < 2 || len > 31)
		return;
	/* every caller passes w's own length (the literals below are 2..4 bytes); cppcheck mixes
	 * the call sites with the bound */
	// cppcheck-suppress arrayIndexOutOfBoundsCond
	uint32_t b = cue_bit((unsigned char)w[0], (unsigned char)w[1], (unsigned char)w[len - 2], (unsigned char)w[len - 1], len);
	tab[b >> 6] |= 1ull << (b & 63);
}

static void table_build(void)
{
	char buf[KEYMAX + 8 + 256];

	/* half-empty slots keep probes short; the generator stays far below NSLOTS / 2 */
	for (size_t i = 0; i < phi_names_nwords && i < NSLOTS / 2; i++) {
		const struct phi_names_word *w = &phi_names_words[i];
		unsigned ci;
		memset(buf, 0, sizeof(buf));
		memcpy(buf, w->w, w->len);
		for (ci = 0; ci < ncombos && combos[ci] != w->flags; ci++)
			;
		if (ci == ncombos) {
			if (ncombos == 256)
				continue; /* cannot happen with the generated table (the test checks) */
			combos[ncombos++] = w->flags;
		}
		uint64_t h = key_hash(buf, w->len);
		uint32_t k = (uint32_t)h & (NSLOTS - 1);
		while (slots[k])
			k = (k + 1) & (NSLOTS - 1);
		slots[k] = fp_of(h) | ci;
		uint32_t bb = (uint32_t)(h >> SLOT_BITS) & ((1u << BLOOM_BITS) - 1);
		bloom[bb >> 6] |= 1ull << (bb & 63);
		if (w->flags & CUE1_FLAGS)
			mark2(cue1, w->w, w->len);
		if (w->flags & VERB_FLAGS)
			mark2(cueverb, w->w, w->len);
		if ((w->flags & PHI_NW_STATECODE) && w->len == 2) {
			unsigned sc = (unsigned)(w->w[0] - 'a') * 26 + (unsigned)(w->w[1] - 'a');
			stcode[sc >> 6] |= 1ull << (sc & 63);
		}
		if ((w->flags & (PHI_NW_STATE | PHI_NW_STATE_PFX)) && !memchr(w->w, ' ', w->len)) {
			uint32_t k4 = 0;
			memcpy(&k4, buf, 4);
			uint32_t rb = C1_HI(city1_bit(k4, w->len)) >> (CITY1_BITS - STATE1_BITS);
			state1[rb >> 6] |= 1ull << (rb & 63);
		}
		if ((w->flags & PHI_NW_CITY) && !(w->flags & PHI_NW_CAMBIG) && !memchr(w->w, ' ', w->len)) {
			uint32_t k4 = 0;
			memcpy(&k4, buf, 4);
			uint32_t rb = city1_bit(k4, w->len);
			city1[C1_HI(rb) >> 6] |= 1ull << (C1_HI(rb) & 63);
			city1[C1_LO(rb) >> 6] |= 1ull << (C1_LO(rb) & 63);
		}
	}
	mark2(cue1, "name", 4);
	mark2(cueverb, "name", 4);
	mark2(cueverb, "up", 2);
	mark2(cueverb, "in", 2);
}

static inline uint32_t lookup_h(uint64_t h)
{
	uint32_t k = (uint32_t)h & (NSLOTS - 1), fp = fp_of(h), v;
	uint32_t bb = (uint32_t)(h >> SLOT_BITS) & ((1u << BLOOM_BITS) - 1);

	if (!(bloom[bb >> 6] & (1ull << (bb & 63))))
		return 0;
	while ((v = slots[k]) != 0) {
		if ((v & ~0xffu) == fp)
			return combos[v & 0xff];
		k = (k + 1) & (NSLOTS - 1);
	}
	return 0;
}

/* Flags of a zero-padded key. */
static inline uint32_t lookup(const char *s, size_t n)
{
	return lookup_h(key_hash(s, n));
}

uint32_t phi_names_lookup(const char *folded, size_t n)
{
	char buf[KEYMAX + 8];

	pthread_once(&table_once, table_build);
	if (n > KEYMAX)
		return 0;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, folded, n);
	return lookup(buf, n);
}

/* --- bytes and letters ----------------------------------------------------------------------- */

static inline bool is_up(unsigned char c)
{
	return c >= 'A' && c <= 'Z';
}
static inline bool is_lo(unsigned char c)
{
	return c >= 'a' && c <= 'z';
}
/* phi_int.h's tests, for the unsigned bytes this file reads */
static inline bool is_al(unsigned char c)
{
	return isalp((char)c);
}
static inline bool is_dg(unsigned char c)
{
	return isdig((char)c);
}
static inline unsigned char lc_u(unsigned char ch)
{
	return phi_lower[ch];
}

/* Upper-case Latin letters among U+00C0..U+024F (Latin-1 Supplement, Latin Extended-A). */
static bool latin_upper(uint32_t cp)
{
	if (cp <= 0xff)
		return cp <= 0xde;
	if (cp <= 0x137)
		return !(cp & 1);
	if (cp >= 0x139 && cp <= 0x148)
		return cp & 1;
	if (cp >= 0x14a && cp <= 0x177)
		return !(cp & 1);
	if (cp == 0x178)
		return true;
	if (cp >= 0x179 && cp <= 0x17e)
		return cp & 1;
	return false;
}

/* Length of the UTF-8 letter at p (Latin letters with diacritics, combining marks, Greek,
 * Cyrillic, Latin Extended Additional), 0 if p does not start one. *upper: an upper-case
 * Latin letter. Punctuation such as curly quotes and dashes is not a letter. */
static size_t u8_letter(const unsigned char *p, size_t n, bool *upper)
{
	unsigned char c = p[0];
	uint32_t cp;
	size_t l;
	bool up = false, letter = false;

	if (c < 0xc2 || c >= 0xf0)
		return 0;
	if (c < 0xe0) {
		if (n < 2 || (p[1] & 0xc0) != 0x80)
			return 0;
		cp = ((uint32_t)(c & 0x1f) << 6) | (p[1] & 0x3f);
		l = 2;
	} else {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		cp = ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
		l = 3;
	}
	if (cp >= 0xc0 && cp <= 0x24f && cp != 0xd7 && cp != 0xf7) {
		letter = true;
		up = latin_upper(cp);
	} else if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x370 && cp <= 0x52f)) {
		letter = true;
	} else if (cp >= 0x1e00 && cp <= 0x1eff) {
		letter = true;
		up = !(cp & 1);
	}
	if (!letter)
		return 0;
	if (upper)
		*upper = up;
	return l;
}

static inline bool letter_at(const char *t, size_t n, size_t i)
{
	unsigned char c = (unsigned char)t[i];

	if (c < 0x80)
		return is_al(c);
	return u8_letter((const unsigned char *)t + i, n - i, NULL) != 0;
}

/* Is the character that ends right before i a letter (walks back over a UTF-8 sequence)? */
static bool letter_before(const char *t, size_t i)
{
	size_t k = i, m = 0;

	if (i == 0)
		return false;
	if ((unsigned char)t[i - 1] < 0x80)
		return is_al((unsigned char)t[i - 1]) || is_dg((unsigned char)t[i - 1]);
	while (k > 0 && m < 4 && ((unsigned char)t[k - 1] & 0xc0) == 0x80) {
		k--;
		m++;
	}
	if (k == 0)
		return false;
	return u8_letter((const unsigned char *)t + k - 1, i - k + 1, NULL) != 0;
}

/* --- tokens ---------------------------------------------------------------------------------- */

enum { SH_LOWER, SH_TITLE, SH_CAPS, SH_INITIAL, SH_MIXED };
#define TOKMAX 32

struct tok {
	uint32_t s, e;   /* the word, possessive "'s" excluded */
	uint32_t end;    /* after the possessive */
	uint32_t fl;     /* dictionary flags (PHI_NW_*) */
	uint8_t shape, flen;
	bool poss, glued;
	char f[TOKMAX + 8];  /* folded, zero-padded for key_hash */
};

/* The last few parsed words: a capitalised word is usually parsed again as the next or the
 * previous word of its neighbour. */
struct tcache {
	size_t at;              /* start offset + 1 of k; 0 = empty */
	struct tok k;
};

struct sc {
	const struct phi_dec *d;
	const char *t;
	size_t n;
	phi_emit_fn emit;
	void *arg;
	int rc;
	size_t skip;            /* candidates before this offset are inside a reported span */
	struct tcache *tc;
};

/* An upper-case letter inside a word is allowed after Mc/Mac/O'/D'/De/Di/Da/Du/La/Le/Van/St
 * ("McDonald", "DeShawn", "LaToya", "VanDyke") and after a hyphen or apostrophe. */
static bool inner_cap_ok(const char *t, size_t s, size_t j)
{
	static const char *const pre[] = {"mc", "mac", "fitz", "de", "di", "da", "du", "la", "le", "van", "von", "st", NULL};
	size_t l = j - s;

	if (t[j - 1] == '-' || t[j - 1] == '\'')
		return true;
	for (const char *const *p = pre; *p; p++) {
		if (strlen(*p) != l)
			continue;
		size_t k;
		for (k = 0; k < l && (t[s + k] | 32) == (*p)[k]; k++)
			;
		if (k == l)
			return true;
	}
	return false;
}

/* Flags of a hyphenated word from its parts: a name if a part is one ("Garcia-Lopez",
 * "Mary-Kate"), ambiguous only if every name part is, an eponym if any part is
 * ("Non-Hodgkin", "Charcot-Marie-Tooth"). */
static uint32_t hyphen_flags(const char *f, size_t n)
{
	uint32_t name = 0, all_amb = PHI_NW_AMBIG, other = 0, any = 0;
	size_t a = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && f[i] != '-')
			continue;
		if (i > a) {
			uint32_t g = phi_names_lookup(f + a, i - a);
			any |= g;
			if (g & (PHI_NW_GIVEN | PHI_NW_SURNAME)) {
				name |= g & (PHI_NW_GIVEN | PHI_NW_SURNAME);
				all_amb &= g;
			}
			other |= g & (PHI_NW_EPONYM | PHI_NW_ENEXT | PHI_NW_ORG);
		}
		a = i + 1;
	}
	if (other & PHI_NW_EPONYM)
		return PHI_NW_EPONYM | PHI_NW_STOP;
	if (name)
		return name | all_amb | other;
	return (any & (PHI_NW_STOP | PHI_NW_ENEXT | PHI_NW_ORG));
}

/* Parse the word that starts at i: letters (ASCII and Latin/Greek/Cyrillic), apostrophes and
 * hyphens between letters; a trailing "'s" / "s'" is the possessive. Folds it the way
 * phi_fold does and looks it up. false if no letter starts at i. */
__attribute__((noinline)) static bool tok_slow(const struct sc *c, size_t i, struct tok *k)
{
	const char *t = c->t;
	size_t n = c->n, j = i, inner_pos = 0;
	unsigned low = 0, letters = 0, inner = 0;
	bool first_up = false, inner_bad = false, high = false, hyph = false;

	while (j < n) {
		unsigned char ch = (unsigned char)t[j];
		if (ch < 0x80) {
			if (is_al(ch)) {
				bool u = is_up(ch);
				if (letters == 0)
					first_up = u;
				else if (u && t[j - 1] != '-' && t[j - 1] != '\'') {
					inner++;
					inner_pos = j;
				}
				low += !u;
				letters++;
				j++;
				continue;
			}
			if ((ch == '\'' || ch == '-') && letters && j + 1 < n && letter_at(t, n, j + 1)) {
				if (ch == '\'' && (t[j + 1] | 32) == 's' && (j + 2 >= n || !letter_at(t, n, j + 2)))
					break; /* possessive */
				hyph |= ch == '-';
				j++;
				continue;
			}
			break;
		}
		bool u = false;
		size_t l = u8_letter((const unsigned char *)t + j, n - j, &u);
		if (!l)
			break;
		if (letters == 0)
			first_up = u;
		low += !u;
		letters++;
		high = true;
		j += l;
	}
	/* "McDonald", "DeShawn" have one inner capital after a known prefix; "RxNorm" does not */
	if (low && inner)
		inner_bad = inner > 1 || !inner_cap_ok(t, i, inner_pos);
	if (letters == 0)
		return false;
	k->s = (uint32_t)i;
	k->e = (uint32_t)j;
	k->poss = false;
	if (j + 1 < n && t[j] == '\'' && (t[j + 1] | 32) == 's' && (j + 2 >= n || !letter_at(t, n, j + 2))) {
		k->poss = true;
		j += 2;
	} else if (j < n && t[j] == '\'' && t[j - 1] == 's' && (j + 1 >= n || !letter_at(t, n, j + 1))) {
		k->poss = true;
		j += 1;
	}
	k->end = (uint32_t)j;
	k->glued = false;
	if (j < n) {
		unsigned char ch = (unsigned char)t[j];
		if (is_dg(ch) || ch == '_' || ch == '@' || ch == '/' || ch == '\\' || ch == '=' || ch == '#')
			k->glued = true;
		else if ((ch == '.' || ch == '-') && j + 1 < n &&
			 (is_al((unsigned char)t[j + 1]) || is_dg((unsigned char)t[j + 1]) || (unsigned char)t[j + 1] >= 0x80))
			k->glued = true;
	}
	if (letters == 1 && first_up)
		k->shape = SH_INITIAL;
	else if (first_up && low == 0)
		k->shape = SH_CAPS;
	else if (first_up && !inner_bad)
		k->shape = SH_TITLE;
	else if (!first_up)
		k->shape = SH_LOWER;
	else
		k->shape = SH_MIXED;
	/* fold: lower case, apostrophes dropped, Latin diacritics folded (phi_fold) */
	size_t fl = 0;
	uint64_t h = 0;
	if (!high) {
		if (k->e - k->s <= TOKMAX) {
			/* fold and hash in registers (key_hash, eight bytes at a time): reading the
			 * bytes back from k->f would stall on store forwarding */
			uint64_t w = 0, hh = H_SEED;
			unsigned nb = 0;
			for (size_t q = k->s; q < k->e; q++) {
				unsigned char ch = (unsigned char)t[q];
				if (ch == '\'')
					continue;
				ch = lc_u(ch);
				k->f[fl++] = (char)ch;
				w |= (uint64_t)ch << (8 * nb);
				if (++nb == 8) {
					hh = (hh ^ w) * H_MUL;
					hh ^= hh >> 32;
					nb = 0;
					w = 0;
				}
			}
			if (nb) {
				hh = (hh ^ w) * H_MUL;
				hh ^= hh >> 32;
			}
			memset(k->f + fl, 0, 8);
			hh ^= (uint64_t)fl;
			h = hh * H_FIN;
		}
	} else {
		fl = phi_fold(t + k->s, k->e - k->s, k->f, TOKMAX);
		if (fl == (size_t)-1)
			fl = 0;
		memset(k->f + fl, 0, 8);
		h = key_hash(k->f, fl);
	}
	k->flen = (uint8_t)fl;
	k->fl = fl ? lookup_h(h) : 0;
	if (!k->fl && hyph && fl)
		k->fl = hyphen_flags(k->f, fl);
	return true;
}

/* Next offset >= i that is not an ASCII letter (the decoder's letter bitmap). */
static inline size_t alpha_end(const struct phi_dec *d, size_t i)
{
	size_t w = i >> 6;
	uint64_t m;

	if (w >= d->nwords)
		return d->n;
	m = ~d->am[w] & (~0ull << (i & 63));
	while (!m) {
		if (++w >= d->nwords)
			return d->n;
		m = ~d->am[w];
	}
	size_t r = (w << 6) + (size_t)__builtin_ctzll(m);
	return r < d->n ? r : d->n;
}

/* First offset b <= e such that [b, e) are all ASCII letters (the letter bitmap). */
static inline size_t alpha_begin(const struct phi_dec *d, size_t e)
{
	if (e == 0)
		return 0;
	size_t i = e - 1, w = i >> 6;
	uint64_t m = ~d->am[w] & (((i & 63) == 63) ? ~0ull : ((2ull << (i & 63)) - 1));
	while (!m) {
		if (w == 0)
			return 0;
		m = ~d->am[--w];
	}
	return (w << 6) + 64 - (size_t)__builtin_clzll(m);
}

#define LO8 0x2020202020202020ull

/* tok_slow for the common case, a word of 1..16 ASCII letters ending in something other
 * than an apostrophe, a hyphen or a non-ASCII byte: two 8-byte loads, case from bit 0x20,
 * folded by OR-ing it in, hashed like key_hash (little-endian byte order). */
static bool tok_scan(const struct sc *c, size_t i, struct tok *k)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const char *t = c->t;
	size_t n = c->n, e = alpha_end(c->d, i), len = e - i;

	bool poss = false;
	if (e < n && t[e] == '\'' && e + 1 < n && (t[e + 1] | 32) == 's' &&
	    (e + 2 >= n || !(is_al((unsigned char)t[e + 2]) || (unsigned char)t[e + 2] >= 0x80 || t[e + 2] == '\'' || t[e + 2] == '-')))
		poss = true; /* "Addison's" */
	if (len == 0 || len > 16 || i + 16 > c->d->cap ||
	    (!poss && e < n && (t[e] == '\'' || t[e] == '-' || (unsigned char)t[e] >= 0x80)))
		return tok_slow(c, i, k);
	uint64_t lo, hi = 0, mlo, mhi;
	memcpy(&lo, t + i, 8);
	if (len > 8)
		memcpy(&hi, t + i + 8, 8);
	mlo = len >= 8 ? ~0ull : (1ull << (8 * len)) - 1;
	mhi = len <= 8 ? 0 : len == 16 ? ~0ull : (1ull << (8 * (len - 8))) - 1;
	lo &= mlo;
	hi &= mhi;
	uint64_t clo = ~lo & LO8 & mlo, chi = ~hi & LO8 & mhi; /* upper-case letters */
	uint64_t rest = clo & ~0xffull;                          /* ... after the first */
	bool first_up = clo & 0x20;
	/* 1: only the first is upper case; len: all are; 2: one more after the first */
	unsigned up = !rest && !chi ? 1u : (clo == (LO8 & mlo) && chi == (LO8 & mhi)) ? (unsigned)len
		      : ((rest & (rest - 1)) == 0 && !chi) || (!rest && (chi & (chi - 1)) == 0) ? 2u : 3u;
	if (!first_up)
		up = 0;
	k->s = (uint32_t)i;
	k->e = (uint32_t)e;
	k->poss = poss;
	if (poss)
		e += 2;
	k->end = (uint32_t)e;
	if (len == 1)
		k->shape = first_up ? SH_INITIAL : SH_LOWER;
	else if (!first_up)
		k->shape = SH_LOWER;
	else if (up == len)
		k->shape = SH_CAPS;
	else if (up == 1)
		k->shape = SH_TITLE;
	else if (up == 2) {
		size_t p = rest ? (size_t)__builtin_ctzll(rest) / 8 : 8 + (size_t)__builtin_ctzll(chi) / 8;
		k->shape = inner_cap_ok(t, i, i + p) ? SH_TITLE : SH_MIXED;
	} else {
		k->shape = SH_MIXED;
	}
	k->glued = false;
	if (e < n) {
		unsigned char ch = (unsigned char)t[e];
		if (is_dg(ch) || ch == '_' || ch == '@' || ch == '/' || ch == '\\' || ch == '=' || ch == '#')
			k->glued = true;
		else if (ch == '.' && e + 1 < n &&
			 (is_al((unsigned char)t[e + 1]) || is_dg((unsigned char)t[e + 1]) || (unsigned char)t[e + 1] >= 0x80))
			k->glued = true;
	}
	lo |= LO8 & mlo;
	hi |= LO8 & mhi;
	memcpy(k->f, &lo, 8);
	memcpy(k->f + 8, &hi, 8);
	memset(k->f + 16, 0, 8);
	k->flen = (uint8_t)len;
	uint64_t h = (H_SEED ^ lo) * H_MUL;
	h ^= h >> 32;
	if (len > 8) {
		h = (h ^ hi) * H_MUL;
		h ^= h >> 32;
	}
	h ^= (uint64_t)len;
	k->fl = lookup_h(h * H_FIN);
	return true;
#else
	return tok_slow(c, i, k);
#endif
}

/* tok_scan through a one-entry cache: the word after a capitalised word is looked at by
 * several rules in a row (chain, "Last, First", tail, relation in brackets). */
static bool tok_parse(const struct sc *c, size_t i, struct tok *k)
{
	struct tcache *tc = c->tc;

	if (tc->at == i + 1) {
		*k = tc->k;
		return true;
	}
	if (!tok_scan(c, i, k))
		return false;
	return true;
}

/* Remember k as the word most likely to be parsed again. */
static inline void tok_keep(const struct sc *c, const struct tok *k)
{
	c->tc->at = (size_t)k->s + 1;
	c->tc->k = *k;
}

/* tok_is: the folded word equals a string literal (sizeof: literals only; tok_eq for others) */
#define tok_is(k, lit) ((k)->flen == sizeof(lit) - 1 && memcmp((k)->f, lit, sizeof(lit) - 1) == 0)

static inline bool tok_eq(const struct tok *k, const char *w)
{
	size_t l = strlen(w);
	return k->flen == l && memcmp(k->f, w, l) == 0;
}

enum { SEP_NONE, SEP_SP, SEP_COMMA, SEP_DOT, SEP_COLON, SEP_PAREN };

/* The word after offset p on the same line, and how it is separated: one or two spaces
 * (SEP_SP), a comma (SEP_COMMA), a period and a space (SEP_DOT), a colon (SEP_COLON) or an
 * opening bracket (SEP_PAREN, "Ana (daughter)"). SEP_NONE when no word follows that way. */
static int tok_after(const struct sc *c, size_t p, struct tok *k)
{
	const char *t = c->t;
	size_t n = c->n, j = p, sp;
	int kind = SEP_SP;

	if (j < n && t[j] == ',') {
		kind = SEP_COMMA;
		j++;
	} else if (j < n && t[j] == '.') {
		kind = SEP_DOT;
		j++;
	} else if (j < n && t[j] == ':') {
		kind = SEP_COLON;
		j++;
	}
	sp = j;
	while (j < n && t[j] == ' ' && j - sp < 2)
		j++;
	if (j < n && t[j] == '(' && kind == SEP_SP && j > sp) {
		kind = SEP_PAREN;
		j++;
	}
	if (j == sp && kind != SEP_COMMA)
		return SEP_NONE;
	if (j >= n || !letter_at(t, n, j) || !tok_parse(c, j, k))
		return SEP_NONE;
	return kind;
}

/* The word that ends before offset p on the same line (skipping up to two spaces and one of
 * , : ( - . ;), and that punctuation in *sep (' ' when none). */
static bool tok_before(const struct sc *c, size_t p, struct tok *k, char *sep)
{
	const char *t = c->t;
	size_t j = p, e;

	*sep = ' ';
	while (j > 0 && t[j - 1] == ' ' && p - j < 2)
		j--;
	if (j > 0 && strchr(",:(-.;", t[j - 1]) && t[j - 1] != '\0') {
		*sep = t[j - 1];
		j--;
		size_t q = j;
		while (j > 0 && t[j - 1] == ' ' && q - j < 2)
			j--;
	}
	if (j == p)
		return false;
	e = j;
	while (j > 0) {
		unsigned char ch = (unsigned char)t[j - 1];
		if (is_al(ch) || ch >= 0x80 || ((ch == '-' || ch == '\'') && j >= 2 && is_al((unsigned char)t[j - 2])))
			j--;
		else
			break;
	}
	if (j == e || e - j > 40)
		return false;
	while (j < e && !letter_at(c->t, c->n, j))
		j++;
	if (j >= e || !tok_parse(c, j, k))
		return false;
	return k->end == e;
}

/* --- predicates ------------------------------------------------------------------------------ */

#define NAMEF (PHI_NW_GIVEN | PHI_NW_SURNAME)
#define NOTNAME (PHI_NW_STOP | PHI_NW_ORG | PHI_NW_ENEXT | PHI_NW_EPONYM | PHI_NW_STATE | PHI_NW_REL | \
		 PHI_NW_GREET | PHI_NW_CLOSING | PHI_NW_WEAK | PHI_NW_PROV | PHI_NW_CITYKEY | PHI_NW_DATEWORD | PHI_NW_PARTICLE | \
		 PHI_NW_SUFFIX | PHI_NW_CRED)

/* Written like a name: "Garcia" or, in capitals, "GARCIA" (capitals only for dictionary names
 * of three letters or more that are not abbreviations). */
static bool shape_ok(const struct tok *k)
{
	if (k->shape == SH_TITLE)
		return true;
	return k->shape == SH_CAPS && k->flen >= 3 && !(k->fl & PHI_NW_CAPSABBR);
}

/* a dictionary name, ambiguous or not */
static bool any_name(const struct tok *k)
{
	return (k->fl & NAMEF) && shape_ok(k) && !k->glued;
}

/* a dictionary name that needs no confirmation */
static bool strong(const struct tok *k, uint32_t which)
{
	return (k->fl & which) && !(k->fl & (PHI_NW_AMBIG | PHI_NW_EPONYM)) && shape_ok(k) && !k->glued;
}

/* a capitalised word that is not in the dictionary at all and is not a known non-name */
static bool plain(const struct tok *k)
{
	return k->shape == SH_TITLE && !k->glued && k->flen >= 2 && !(k->fl & (NAMEF | NOTNAME));
}

/* --- context --------------------------------------------------------------------------------- */

enum cue { CUE_NONE, CUE_PROV, CUE_WEAK, CUE_NAMEVERB, CUE_TITLE, CUE_REL, CUE_RELC, CUE_GREET, CUE_KEY, CUE_CITY };

static bool is_title(const struct tok *k)
{
	return tok_is(k, "mr") || tok_is(k, "mrs") || tok_is(k, "ms") || tok_is(k, "miss") || tok_is(k, "mx") ||
	       tok_is(k, "mister");
}

/* The ASCII word that ends right before offset s (up to two spaces and one of , : ( - . ;
 * between): [*b, *e). *other: a non-ASCII byte or an apostrophe is involved (let the full
 * parse decide). false when there is no word there. */
static bool word_before(const struct phi_dec *d, size_t s, size_t *b, size_t *e, bool *other)
{
	const char *t = d->t;
	size_t j = s, q = s;
	bool dot = false;

	*other = false;
	while (j > 0 && t[j - 1] == ' ' && q - j < 2)
		j--;
	if (j > 0 && (t[j - 1] == ',' || t[j - 1] == ':' || t[j - 1] == '(' || t[j - 1] == '-' || t[j - 1] == '.')) {
		dot = t[j - 1] == '.';
		j--;
		q = j;
		while (j > 0 && t[j - 1] == ' ' && q - j < 2)
			j--;
	}
	if (j == s)
		return false;
	*e = j;
	for (;;) {
		j = alpha_begin(d, j);
		if (j >= 2 && t[j - 1] == '-' && is_al((unsigned char)t[j - 2]) && *e - j < 32)
			j--; /* "son-in-law", "co-worker" */
		else
			break;
	}
	*b = j;
	if (j > 0 && ((unsigned char)t[j - 1] >= 0x80 || t[j - 1] == '\''))
		*other = true;
	if (dot && *e - *b > 4)
		return false; /* after a full stop only "Dr." / "Mrs." / "Prof." cue a name */
	return *e > *b || *other;
}

static inline bool in2(const uint64_t *tab, const char *t, size_t b, size_t len)
{
	if (len < 2 || len > 31)
		return false;
	uint32_t k = cue_bit(lc_u((unsigned char)t[b]), lc_u((unsigned char)t[b + 1]), lc_u((unsigned char)t[b + len - 2]),
			     lc_u((unsigned char)t[b + len - 1]), len);
	return (tab[k >> 6] >> (k & 63)) & 1;
}

/* in, to, of, by, is, with, from, near (any case) */
static bool is_prep(const char *t, size_t b, size_t len)
{
	if (len == 2) {
		unsigned v = (unsigned)lc_u((unsigned char)t[b]) << 8 | lc_u((unsigned char)t[b + 1]);
		return v == ('i' << 8 | 'n') || v == ('t' << 8 | 'o') || v == ('o' << 8 | 'f') || v == ('b' << 8 | 'y') ||
		       v == ('i' << 8 | 's');
	}
	if (len == 4) {
		uint32_t v = 0;
		for (int k = 0; k < 4; k++)
			v = v << 8 | lc_u((unsigned char)t[b + (size_t)k]);
		return v == 0x77697468u || v == 0x66726f6du || v == 0x6e656172u; /* with from near */
	}
	return false;
}

/* Cheap test before cue_of: can the words right before offset s be a cue ("daughter",
 * "Dr.", "lives in", "spoke with", "name is")? Two-letter prefix and length tables. */
static bool cue_possible(const struct sc *c, size_t s)
{
	const char *t = c->t;
	size_t b, e, b2, e2;
	bool other;

	if (!word_before(c->d, s, &b, &e, &other))
		return false;
	if (other)
		return true;
	if (in2(cue1, t, b, e - b))
		return true;
	if (!is_prep(t, b, e - b) || !word_before(c->d, b, &b2, &e2, &other))
		return false;
	if (other || in2(cueverb, t, b2, e2 - b2))
		return true;
	/* "visiting family in ..." */
	return b2 < e2 && is_lo((unsigned char)t[b2]) && word_before(c->d, b2, &b, &e, &other) &&
	       (other || in2(cueverb, t, b, e - b));
}

/* What the words right before k say about it. */
static int cue_of(const struct sc *c, const struct tok *k)
{
	struct tok w1, w2, w3;
	char s1, s2, s3;

	if (!cue_possible(c, k->s) || !tok_before(c, k->s, &w1, &s1) || w1.glued)
		return CUE_NONE;
	if ((w1.fl & PHI_NW_PROV) && (s1 == ' ' || s1 == '.') && !w1.poss)
		return CUE_PROV;
	if (w1.poss)
		return CUE_NONE;
	if ((w1.fl & PHI_NW_REL) && s1 != '.' && s1 != ';')
		return s1 == ',' || s1 == '(' ? CUE_RELC : CUE_REL; /* "her roommate, Huda." */
	if (is_title(&w1)) {
		/* "Mrs. Ana Ruiz" — but not "452 ms. Version" (milliseconds) or "MS" (sclerosis) */
		size_t b = w1.s;
		while (b > 0 && c->t[b - 1] == ' ' && w1.s - b < 2)
			b--;
		if (w1.shape != SH_TITLE || (b > 0 && is_dg((unsigned char)c->t[b - 1])) || (s1 != ' ' && s1 != '.'))
			return CUE_NONE;
		return CUE_TITLE;
	}
	if ((w1.fl & PHI_NW_GREET) && (s1 == ' ' || s1 == ',' || s1 == ':'))
		return CUE_GREET;
	if ((w1.fl & PHI_NW_CLOSING) && (s1 == ',' || s1 == ':'))
		return CUE_GREET;
	if (tok_is(&w1, "name") && s1 == ':')
		return CUE_KEY;
	if ((w1.fl & PHI_NW_WEAK) && (s1 == ':' || s1 == ','))
		return CUE_KEY; /* "Patient: ...", "another patient, PARK, AKIKO" */
	if ((w1.fl & PHI_NW_WEAK) && s1 == ' ')
		return CUE_WEAK;
	if ((w1.fl & PHI_NW_CITYKEY) && (s1 == ':' || tok_is(&w1, "hometown")))
		return CUE_CITY;
	if (s1 != ' ' || (!(w1.fl & (PHI_NW_PREP_NAME | PHI_NW_PREP_CITY)) && !tok_is(&w1, "is")))
		return CUE_NONE;
	if (!tok_before(c, w1.s, &w2, &s2) || s2 != ' ')
		return CUE_NONE;
	if (tok_is(&w1, "is"))
		return tok_is(&w2, "name") ? CUE_KEY : CUE_NONE;
	if ((w1.fl & PHI_NW_PREP_NAME) && (w2.fl & PHI_NW_NAMEVERB))
		return CUE_NAMEVERB;
	if ((w1.fl & PHI_NW_PREP_CITY) && (w2.fl & PHI_NW_CITYVERB))
		return CUE_CITY;
	/* "visiting family in", "lives with her son in": a place verb one word further back */
	if ((w1.fl & PHI_NW_PREP_CITY) && w2.shape == SH_LOWER && !(w2.fl & (PHI_NW_PREP_CITY | PHI_NW_PREP_NAME)) &&
	    tok_before(c, w2.s, &w3, &s3) && s3 == ' ' && (w3.fl & PHI_NW_CITYVERB) && w3.shape != SH_CAPS)
		return CUE_CITY;
	/* "grew up in", "brought in by" */
	if ((tok_is(&w2, "up") || tok_is(&w2, "in")) && tok_before(c, w2.s, &w3, &s3) && s3 == ' ') {
		if (tok_is(&w2, "up") && (w1.fl & PHI_NW_PREP_CITY) &&
		    (tok_is(&w3, "grew") || tok_is(&w3, "grown") || tok_is(&w3, "growing")))
			return CUE_CITY;
		if (tok_is(&w2, "in") && tok_is(&w1, "by") && tok_is(&w3, "brought"))
			return CUE_NAMEVERB;
	}
	return CUE_NONE;
}

/* Is the word (and its possessive) at k followed by something that makes it a term, an
 * organisation or a provider: "Wilson disease", "Bell's palsy", "Ford Hospital",
 * "Garcia, MD", "Garcia MD", "Garcia, M.D."? */
static bool tail_bad(const struct sc *c, const struct tok *k)
{
	struct tok x;
	int sep = tok_after(c, k->end, &x);
	const char *t = c->t;
	size_t j = k->end;

	if (sep == SEP_SP || (sep == SEP_DOT && k->poss)) {
		if ((x.fl & PHI_NW_ENEXT) && x.shape != SH_CAPS)
			return true;
		if ((x.shape == SH_TITLE || x.shape == SH_CAPS) && (x.fl & PHI_NW_ORG))
			return true;
	}
	if ((sep == SEP_SP || sep == SEP_COMMA) && (x.fl & PHI_NW_CRED) && x.shape != SH_LOWER)
		return true;
	/* "M.D.", "D.O.", "R.N." */
	while (j < c->n && (t[j] == ',' || t[j] == ' ') && j - k->end < 3)
		j++;
	if (j + 3 <= c->n && t[j + 1] == '.' && is_up((unsigned char)t[j]) && is_up((unsigned char)t[j + 2]) &&
	    ((t[j] == 'M' && t[j + 2] == 'D') || (t[j] == 'D' && t[j + 2] == 'O') || (t[j] == 'R' && t[j + 2] == 'N')))
		return true;
	return false;
}

/* A relation in brackets or after a comma right after the name: "Ana Ruiz (daughter)". */
static bool postfix_rel(const struct sc *c, const struct tok *last)
{
	struct tok x;
	int sep = tok_after(c, last->end, &x);

	return sep == SEP_PAREN && (x.fl & PHI_NW_REL) && x.shape != SH_CAPS;
}

/* A month or weekday used as a date: "May 2019", "June 5". */
static bool date_use(const struct sc *c, const struct tok *k)
{
	size_t j = k->end;

	if (!(k->fl & PHI_NW_DATEWORD))
		return false;
	while (j < c->n && (c->t[j] == ' ' || c->t[j] == ',') && j - k->end < 3)
		j++;
	return j < c->n && is_dg((unsigned char)c->t[j]);
}

static int put(struct sc *c, size_t s, size_t e, enum phi_type ty)
{
	struct phi_hit h;

	h.s = (uint32_t)s;
	h.e = (uint32_t)e;
	h.type = (uint8_t)ty;
	h.source = (uint8_t)PHI_SRC_PATTERN;
	if (e > c->skip)
		c->skip = e;
	int r = c->emit(c->arg, &h);
	if (r)
		c->rc = r;
	return 1;
}

/* End of the run of capitalised words and initials after k (a provider's full name). */
static size_t run_end(const struct sc *c, const struct tok *k)
{
	struct tok x;
	size_t e = k->e;
	const struct tok *cur = k;
	struct tok hold;

	for (int i = 0; i < 4; i++) {
		int sep = tok_after(c, cur->end, &x);
		if (!(sep == SEP_SP || (sep == SEP_DOT && cur->shape == SH_INITIAL)) ||
		    !(x.shape == SH_TITLE || x.shape == SH_CAPS || x.shape == SH_INITIAL || (x.fl & PHI_NW_PARTICLE)) ||
		    (x.shape == SH_CAPS && x.flen == 2 && (x.fl & PHI_NW_STATECODE)))
			break; /* ... but not over a state code: "Rd Xyzville OH 43004" */
		e = x.e;
		hold = x;
		cur = &hold;
	}
	return e;
}

/* --- cities ---------------------------------------------------------------------------------- */

/* Append token k to a folded phrase buffer; false when it does not fit. */
static bool phrase_add(char *buf, size_t *len, const struct tok *k)
{
	size_t l = *len;

	if (!k->flen || l + 1 + k->flen > KEYMAX)
		return false;
	if (l)
		buf[l++] = ' ';
	memcpy(buf + l, k->f, k->flen);
	*len = l + k->flen;
	return true;
}

struct phrase {
	size_t s, e;
	uint32_t fl;        /* flags of the whole phrase */
	int ntok;
	struct tok last;
};

/* Longest phrase starting at k whose flags include want, extending over words while the
 * phrase so far carries pfx ("salt" → "salt lake" → "salt lake city"; "st. louis"). */
static bool phrase_fwd(const struct sc *c, const struct tok *k, uint32_t want, uint32_t pfx, struct phrase *out)
{
	char buf[KEYMAX + 8];
	size_t len = 0;
	uint32_t fl = k->fl;
	struct tok cur = *k, x;
	bool found = false;

	if (!phrase_add(buf, &len, k))
		return false;
	for (int i = 0;; i++) {
		if (fl & want) {
			out->s = k->s;
			out->e = cur.e;
			out->fl = fl;
			out->ntok = i + 1;
			out->last = cur;
			found = true;
		}
		if (!(fl & pfx) || i >= 3 || cur.poss)
			break;
		int sep = tok_after(c, cur.e, &x);
		if (!(sep == SEP_SP || (sep == SEP_DOT && cur.flen <= 3)) || x.shape == SH_INITIAL)
			break;
		if (x.shape != SH_TITLE && x.shape != SH_CAPS && !(x.shape == SH_LOWER && x.flen <= 3))
			break;
		if (!phrase_add(buf, &len, &x))
			break;
		memset(buf + len, 0, 8);
		fl = lookup(buf, len);
		if (!fl)
			break;
		cur = x;
	}
	return found;
}

/* Is offset p followed by a state: ", ST", ", State", " ST 12345"? *zip: a ZIP code follows. */
static bool state_after(const struct sc *c, size_t p, bool *zip)
{
	struct tok x;
	struct phrase ph;
	const char *t = c->t;
	int sep = tok_after(c, p, &x);
	size_t e;

	*zip = false;
	if (sep != SEP_COMMA && sep != SEP_SP)
		return false;
	if (x.shape == SH_CAPS && x.flen == 2 && (x.fl & PHI_NW_STATECODE) && !x.glued) {
		e = x.e;
	} else if ((x.shape == SH_TITLE || x.shape == SH_CAPS) && (x.fl & (PHI_NW_STATE | PHI_NW_STATE_PFX)) &&
		   phrase_fwd(c, &x, PHI_NW_STATE, PHI_NW_STATE_PFX, &ph)) {
		if (sep == SEP_SP)
			return false; /* "Boston Massachusetts" reads as a heading, not an address */
		e = ph.e;
	} else {
		return false;
	}
	if (e + 6 <= c->n && t[e] == ' ') {
		size_t d = 0;
		while (d < 5 && is_dg((unsigned char)t[e + 1 + d]))
			d++;
		*zip = d == 5 && (e + 6 == c->n || !is_dg((unsigned char)t[e + 6]));
	}
	if (sep == SEP_SP && !*zip)
		return false;
	return true;
}

/* Is the city candidate ending with last followed by something that makes it a term or a
 * name of something else: "Boston criteria", "Denver shunt", "Rome IV", "Boston Scientific"? */
static bool city_tail_bad(const struct sc *c, const struct tok *last)
{
	struct tok x;
	int sep = tok_after(c, last->end, &x);
	size_t j = last->end;

	if (sep == SEP_SP) {
		if (x.fl & PHI_NW_ENEXT)
			return true;
		if (x.shape != SH_LOWER)
			return true;
		/* "San Francisco syncope rule", "Kansas City cardiomyopathy questionnaire": a term
		 * word after one more lower-case word */
		struct tok y;
		if (!x.poss && tok_after(c, x.end, &y) == SEP_SP && (y.fl & PHI_NW_ENEXT) && y.shape == SH_LOWER)
			return true;
	}
	if (j + 1 < c->n && c->t[j] == ' ' && is_dg((unsigned char)c->t[j + 1]))
		return true;
	if (j < c->n && c->t[j] == '-')
		return true;
	return false;
}

/* The city in the capitalised words that end at offset b (right before ", ST"). zip: the state
 * has a ZIP code after it, so words that are not in the dictionary are taken too. */
static int city_backward(struct sc *c, size_t b, bool zip)
{
	struct tok run[4];
	int nr = 0;
	size_t q = b;
	char buf[KEYMAX + 8];

	while (nr < 4) {
		size_t e = q, j;
		if (nr > 0) {
			if (q == 0 || c->t[q - 1] != ' ')
				break;
			e = q - 1;
			if (e > 0 && c->t[e - 1] == '.')
				e--; /* "St. Louis" */
		}
		j = e;
		while (j > 0 && (is_al((unsigned char)c->t[j - 1]) || (unsigned char)c->t[j - 1] >= 0x80 ||
				 ((c->t[j - 1] == '-' || c->t[j - 1] == '\'') && j >= 2 && is_al((unsigned char)c->t[j - 2]))))
			j--;
		if (j == e || e - j > 40)
			break;
		while (j < e && !letter_at(c->t, c->n, j))
			j++;
		if (j >= e || !tok_parse(c, j, &run[nr]) || run[nr].e != e)
			break;
		if (run[nr].shape != SH_TITLE && run[nr].shape != SH_CAPS &&
		    !(run[nr].shape == SH_LOWER && ((run[nr].flen <= 3 && nr > 0) || c->t[run[nr].s + 1] == '\'')))
			break; /* "Coeur d'Alene", "Port-au-Prince" */
		q = run[nr].s;
		nr++;
		if (j > 0 && c->t[j - 1] != ' ')
			break;
	}
	/* longest dictionary city first */
	for (int m = nr; m >= 1; m--) {
		size_t len = 0;
		bool fit = true;
		for (int i = m - 1; i >= 0 && fit; i--)
			fit = phrase_add(buf, &len, &run[i]);
		if (!fit)
			continue;
		memset(buf + len, 0, 8);
		uint32_t fl = lookup(buf, len);
		if (fl & PHI_NW_CITY) {
			/* "Dr. Jackson, MD": a surname after a given name or a title is a person */
			if (m == 1 && !zip && (run[0].fl & NAMEF)) {
				struct tok w;
				char s;
				if (tok_before(c, run[0].s, &w, &s) && (any_name(&w) || (w.fl & (PHI_NW_PROV | PHI_NW_GREET))))
					return 0;
			}
			return put(c, run[m - 1].s, run[0].e, PHI_T_CITY);
		}
	}
	if (!zip)
		return 0;
	/* not in the dictionary: the capitalised words before the state that are not street,
	 * organisation or stop words ("45 Oak Street, Xyzville, OH 43004") */
	int m = 0;
	while (m < nr && (run[m].shape == SH_TITLE || run[m].shape == SH_CAPS) && !run[m].glued &&
	       !(run[m].fl & (PHI_NW_STOP | PHI_NW_ORG | PHI_NW_ENEXT | PHI_NW_STATE)))
		m++;
	if (m == 0)
		return 0;
	return put(c, run[m - 1].s, run[0].e, PHI_T_CITY);
}

/* C1 anchored on a USPS code: "Springfield, IL", "Xyzville, OH 43004". */
static int state_code(struct sc *c, const struct tok *st)
{
	const char *t = c->t;
	size_t b = st->s, e = st->e;
	bool zip = false;

	if (st->poss || (e < c->n && (t[e] == '-' || t[e] == '\'' || t[e] == '.' ) && e + 1 < c->n &&
			 (is_al((unsigned char)t[e + 1]) || is_dg((unsigned char)t[e + 1]))))
		return 0;
	if (e + 6 <= c->n && t[e] == ' ') {
		size_t d = 0;
		while (d < 5 && is_dg((unsigned char)t[e + 1 + d]))
			d++;
		zip = d == 5 && (e + 6 == c->n || !is_dg((unsigned char)t[e + 6]));
	}
	if (b >= 2 && t[b - 1] == ' ' && t[b - 2] == ',')
		b -= 2;
	else if (b >= 1 && t[b - 1] == ',')
		b -= 1;
	else if (b >= 1 && t[b - 1] == ' ' && zip)
		b -= 1;
	else
		return 0;
	if (b == 0 || !letter_before(t, b))
		return 0;
	return city_backward(c, b, zip);
}

/* C1 anchored on a state name after a comma: "Springfield, Illinois". */
static int state_name(struct sc *c, const struct tok *k, size_t *end)
{
	struct phrase ph;
	const char *t = c->t;
	size_t b = k->s;
	bool zip = false;

	*end = 0;
	if (!phrase_fwd(c, k, PHI_NW_STATE, PHI_NW_STATE_PFX, &ph))
		return 0;
	*end = ph.e;
	if (b >= 2 && t[b - 1] == ' ' && t[b - 2] == ',')
		b -= 2;
	else if (b >= 1 && t[b - 1] == ',')
		b -= 1;
	else
		return 0;
	if (b == 0 || !letter_before(t, b))
		return 0;
	if (ph.e + 6 <= c->n && t[ph.e] == ' ') {
		size_t d = 0;
		while (d < 5 && is_dg((unsigned char)t[ph.e + 1 + d]))
			d++;
		zip = d == 5;
	}
	/* "Lopez, Georgia" is a person: words that are not in the dictionary before a state that
	 * is also a given name need a ZIP code */
	return city_backward(c, b, zip || !(ph.fl & PHI_NW_GIVEN));
}

/* "<words> County" (C4). */
static int county(struct sc *c, size_t s, const struct tok *last)
{
	struct tok x;

	if (tok_after(c, last->end, &x) != SEP_SP || x.shape == SH_LOWER)
		return 0;
	if (!tok_is(&x, "county") && !tok_is(&x, "parish") && !tok_is(&x, "borough"))
		return 0;
	if (tail_bad(c, &x))
		return 0; /* "Cook County Hospital" */
	return put(c, s, x.e, PHI_T_CITY);
}

/* C2, C3 (and C1 when a state follows) for a dictionary city starting at k. */
static int city_fwd(struct sc *c, const struct tok *k, int cue)
{
	struct phrase ph;
	bool zip;

	if (!phrase_fwd(c, k, PHI_NW_CITY, PHI_NW_CITY_PFX, &ph))
		return 0;
	if (ph.last.shape == SH_CAPS && ph.ntok == 1 && ph.last.flen < 4)
		return 0;
	if (state_after(c, ph.last.end, &zip))
		return put(c, ph.s, ph.e, PHI_T_CITY);
	if (county(c, ph.s, &ph.last))
		return 1;
	if (cue == CUE_PROV)
		return 0;
	if (cue == CUE_CITY && !tail_bad(c, &ph.last))
		return put(c, ph.s, ph.e, PHI_T_CITY);
	if ((ph.fl & PHI_NW_CAMBIG) || city_tail_bad(c, &ph.last) || ph.last.shape != SH_TITLE)
		return 0;
	/* a single word that is also a person's name stays a name candidate */
	if (ph.ntok == 1 && (k->fl & NAMEF))
		return 0;
	return put(c, ph.s, ph.e, PHI_T_CITY);
}

/* C2 for words not in the dictionary: "moved from Xyzville". */
static int city_cued(struct sc *c, const struct tok *k)
{
	struct tok x, last = *k;

	for (int i = 0; i < 2; i++) {
		if (tok_after(c, last.end, &x) != SEP_SP || !(plain(&x) || any_name(&x)) || last.poss)
			break;
		last = x;
	}
	if (tail_bad(c, &last))
		return 0;
	return put(c, k->s, last.e, PHI_T_CITY);
}

/* --- names ----------------------------------------------------------------------------------- */

/* Extend a name ending with *last over a second surname, a middle name and a suffix
 * ("Garcia Lopez", "Jr.", "III"); returns the end offset. */
static size_t name_extend(const struct sc *c, const struct tok *last, bool allow_more)
{
	struct tok x;
	size_t e = last->e;
	struct tok cur = *last;

	if (cur.poss)
		return e;
	int sep = tok_after(c, cur.end, &x);
	if (allow_more && sep == SEP_SP && (x.fl & PHI_NW_SURNAME) && x.shape == cur.shape && !x.glued &&
	    !(x.fl & (PHI_NW_STOP | PHI_NW_ORG | PHI_NW_EPONYM)) && !tail_bad(c, &x)) {
		e = x.e;
		cur = x;
		sep = tok_after(c, cur.end, &x);
	}
	if ((sep == SEP_SP || sep == SEP_COMMA) && (x.fl & PHI_NW_SUFFIX) && x.shape != SH_LOWER && !cur.poss) {
		e = x.e;
		if (e < c->n && c->t[e] == '.')
			e++;
	}
	return e;
}

/* Is the word before k a capitalised word that is not a cue (k is inside a Title Case phrase
 * such as a heading or an organisation name)? */
static bool in_title_phrase(const struct sc *c, const struct tok *k)
{
	struct tok w;
	char s;

	if (!tok_before(c, k->s, &w, &s) || s != ' ' || w.glued)
		return false;
	if (w.shape != SH_TITLE && w.shape != SH_CAPS)
		return false;
	return !(w.fl & (PHI_NW_REL | PHI_NW_GREET | PHI_NW_WEAK | PHI_NW_NAMEVERB | PHI_NW_CITYVERB |
			 PHI_NW_PREP_NAME | PHI_NW_PREP_CITY | PHI_NW_PROV | PHI_NW_CITYKEY));
}

static bool strong_cue(int cue)
{
	return cue == CUE_REL || cue == CUE_RELC || cue == CUE_GREET || cue == CUE_KEY || cue == CUE_TITLE;
}

/* N1, N2, N3 starting at the capitalised word t0. */
static int name_rules(struct sc *c, const struct tok *t0, int cue)
{
	struct tok u, x;
	bool have_u = false;
	int ninit = 0;

	if (t0->shape != SH_TITLE && t0->shape != SH_CAPS)
		return 0;
	if ((t0->fl & NOTNAME) && !(t0->fl & NAMEF) && !(t0->fl & PHI_NW_EPONYM))
		return 0;
	/* the chain: t0 [initials] [particles] u */
	if (!t0->poss) {
		struct tok cur = *t0;
		for (int i = 0; i < 5; i++) {
			int sep = tok_after(c, cur.end, &x);
			if (!(sep == SEP_SP || (sep == SEP_DOT && cur.shape == SH_INITIAL)))
				break;
			if (x.shape == SH_INITIAL && ninit < 2) {
				size_t q = x.end;
				if (q < c->n && c->t[q] == '.')
					q++;
				if (q >= c->n || c->t[q] != ' ')
					break;
				ninit++;
				cur = x;
				continue;
			}
			if ((x.fl & PHI_NW_PARTICLE) && (x.shape == SH_LOWER || x.shape == SH_TITLE) && !x.poss) {
				struct tok y;
				if (tok_after(c, x.end, &y) == SEP_SP && (y.shape == SH_TITLE || (y.fl & PHI_NW_PARTICLE))) {
					cur = x;
					continue;
				}
			}
			if (x.shape == SH_TITLE || x.shape == SH_CAPS) {
				u = x;
				have_u = true;
			}
			break;
		}
	}
	/* N1 "First Last" */
	if (have_u && !u.glued && (u.shape == t0->shape || (t0->shape == SH_TITLE && strong(&u, NAMEF)))) {
		bool t_giv = strong(t0, PHI_NW_GIVEN), t_any = any_name(t0), t_plain = plain(t0);
		bool u_sur = strong(&u, PHI_NW_SURNAME), u_any = any_name(&u) || ((u.fl & PHI_NW_EPONYM) && shape_ok(&u));
		bool u_plain = plain(&u), acc = false;

		if (t0->shape == SH_CAPS || u.shape == SH_CAPS) {
			/* capitals: both parts from the dictionary and neither ambiguous */
			acc = strong(t0, NAMEF) && strong(&u, NAMEF);
		} else if (t_giv && (u_any || u_plain)) {
			acc = true;
		} else if (t_any && !date_use(c, t0) && u_sur) {
			acc = true;
		} else if (strong(t0, NAMEF) && strong(&u, NAMEF)) {
			acc = true;
		} else if ((t_any || t_plain) && (u_any || u_plain) && (ninit > 0 || strong_cue(cue) || postfix_rel(c, &u))) {
			acc = t_any || u_any || strong_cue(cue) || postfix_rel(c, &u);
		} else if (t_plain && u_sur) {
			/* an unknown first name before a common surname ("Chiamaka Nwosu"); a Title
			 * Case phrase or a term after it is excluded below */
			acc = true;
		} else if ((t_any || t_giv) && u_any && cue == CUE_NAMEVERB) {
			acc = true;
		}
		if (acc && tail_bad(c, &u))
			acc = false;
		if (acc && t0->poss)
			acc = false;
		if (acc) {
			/* a third capitalised word: a second surname, a suffix, or an organisation */
			int sep = tok_after(c, u.end, &x);
			bool dict2 = (strong(t0, NAMEF) || (any_name(t0) && u_sur)) && (u_sur || strong(&u, NAMEF));
			if (sep == SEP_SP && !u.poss && (x.shape == SH_TITLE || x.shape == SH_CAPS) &&
			    !(x.fl & (PHI_NW_SURNAME | PHI_NW_SUFFIX)) && !dict2 && !strong_cue(cue))
				acc = false; /* "Maria Xyz Abc ..." reads as a Title Case phrase */
			if (acc && in_title_phrase(c, t0) && !dict2)
				acc = false;
		}
		if (acc)
			return put(c, t0->s, name_extend(c, &u, true), PHI_T_NAME);
	}
	/* N2 "Last, First" */
	if (!t0->poss) {
		int sep = tok_after(c, t0->end, &x);
		if (sep == SEP_COMMA && x.shape == t0->shape && !x.glued && !(x.fl & PHI_NW_STATE)) {
			bool nondict = !(t0->fl & (NAMEF | NOTNAME)) && !t0->glued && t0->flen >= 3;
			bool x_nondict = !(x.fl & (NAMEF | NOTNAME | PHI_NW_CITY | PHI_NW_CITY_PFX)) && !x.glued && x.flen >= 3 &&
					 (x.shape == SH_TITLE || x.shape == SH_CAPS);
			/* "WASHINGTON, NGOZI", "PARK, AKIKO": an ambiguous surname before an unambiguous
			 * given name */
			bool last_ok = strong(t0, PHI_NW_SURNAME) || (any_name(t0) && strong_cue(cue)) ||
				       (plain(t0) && strong_cue(cue)) || (nondict && strong(&x, PHI_NW_GIVEN)) ||
				       ((t0->fl & PHI_NW_SURNAME) && shape_ok(t0) && !t0->glued && strong(&x, PHI_NW_GIVEN));
			/* "EZE, JOY": a short or word-like given name in capitals is fine after a surname;
			 * "IYER, ANANYA": so is a given name the dictionary does not know */
			bool first_ok = ((x.fl & PHI_NW_GIVEN) && !date_use(c, &x) &&
					 (any_name(&x) || (x.shape == SH_CAPS && x.flen >= 2 && strong(t0, PHI_NW_SURNAME))) &&
					 (strong(&x, PHI_NW_GIVEN) || strong(t0, PHI_NW_SURNAME))) ||
					(x_nondict && strong(t0, PHI_NW_SURNAME));
			/* "Houston, Austin": a list of cities */
			if ((t0->fl & PHI_NW_CITY) && (x.fl & PHI_NW_CITY))
				first_ok = false;
			if (last_ok && first_ok && !tail_bad(c, &x)) {
				size_t e = x.e;
				struct tok y, cur = x;
				bool zip;
				if (state_after(c, x.end, &zip))
					return 0; /* "Madison, Georgia" style: City, State */
				for (int i = 0; i < 2 && !cur.poss; i++) {
					int s2 = tok_after(c, cur.end, &y);
					if (!(s2 == SEP_SP || (s2 == SEP_DOT && cur.shape == SH_INITIAL)))
						break;
					if (y.shape == SH_INITIAL || ((y.fl & PHI_NW_GIVEN) && y.shape == x.shape && any_name(&y))) {
						e = y.e;
						if (y.shape == SH_INITIAL && e < c->n && c->t[e] == '.')
							e++;
						cur = y;
						continue;
					}
					break;
				}
				/* particles before the surname: "VAN DYKE, LAYLA", "de la Cruz, Maria" */
				size_t s0 = t0->s;
				struct tok pw;
				char ps;
				for (int i = 0; i < 3 && tok_before(c, s0, &pw, &ps) && ps == ' ' && (pw.fl & PHI_NW_PARTICLE) &&
						(pw.shape == SH_LOWER || pw.shape == t0->shape || pw.shape == SH_TITLE);
				     i++)
					s0 = pw.s;
				return put(c, s0, e, PHI_T_NAME);
			}
		}
	}
	/* N3 one name after a cue, or before "(daughter)" */
	if (tail_bad(c, t0) || date_use(c, t0))
		return 0;
	bool rel_after = postfix_rel(c, t0);
	if (t0->shape == SH_CAPS && !strong(t0, NAMEF))
		return 0;
	if (strong_cue(cue) || rel_after) {
		if (any_name(t0) || ((t0->fl & PHI_NW_EPONYM) && shape_ok(t0)))
			return put(c, t0->s, name_extend(c, t0, true), PHI_T_NAME);
		/* an unknown word alone: not when lower-case words follow ("name: Conformance gate") */
		bool sentence = t0->end + 1 < c->n && c->t[t0->end] == ' ' && is_lo((unsigned char)c->t[t0->end + 1]);
		if (plain(t0) && ((cue != CUE_REL && cue != CUE_TITLE && (!sentence || cue == CUE_RELC)) || rel_after))
			return put(c, t0->s, t0->e, PHI_T_NAME); /* RELC: "her roommate, Huda visited" */
		return 0;
	}
	if ((cue == CUE_NAMEVERB || cue == CUE_WEAK) && strong(t0, NAMEF) && t0->shape == SH_TITLE)
		return put(c, t0->s, name_extend(c, t0, cue == CUE_NAMEVERB), PHI_T_NAME);
	return 0;
}

/* N4 "J. Smith", "J. R. Smith". */
static int initial_rule(struct sc *c, const struct tok *k)
{
	struct tok x, cur = *k;
	char s;

	for (int i = 0; i < 3; i++) {
		if (cur.end >= c->n || c->t[cur.end] != '.')
			return 0;
		if (tok_after(c, cur.end, &x) != SEP_DOT)
			return 0;
		if (x.shape == SH_INITIAL && i < 1) {
			cur = x;
			continue;
		}
		break;
	}
	if (!strong(&x, PHI_NW_SURNAME) || x.shape != SH_TITLE || tail_bad(c, &x))
		return 0;
	if (tok_before(c, k->s, &cur, &s) && ((cur.fl & PHI_NW_PROV) || cur.shape == SH_TITLE || cur.shape == SH_CAPS) &&
	    (s == ' ' || s == '.'))
		return 0; /* "Dr. J. Smith"; "Vitamin K. Green" */
	return put(c, k->s, name_extend(c, &x, false), PHI_T_NAME);
}

/* "name: Maria Lopez", "my name is maria lopez", "NAME: GARCIA, MARIA" — anchored on the word
 * "name" (any case) at p. The words after it are taken while they are dictionary names (any
 * case), capitalised words or initials. */
static int name_key(struct sc *c, size_t p)
{
	static const char *const neg[] = {"brand", "generic", "drug", "medication", "med", "product", "file", "user",
					  "facility", "hospital", "clinic", "practice", "company", "organization",
					  "organisation", "code", "display", "study", "protocol", "program", "test",
					  "device", "trade", "street", "business", "domain", "host", "server", "field",
					  "column", "variable", "parameter", "screen", "pet", "dog", "cat", "model",
					  "project", "team", "unit", "service", "plan", "group", "vendor", "app",
					  "account", "network", "document", "form", "report", "template", "order",
					  "procedure", "lab", "specimen", "sample", "panel", "item", "element",
					  "resource", "attribute", "property", "key", "tag", "class", "function",
					  "method", "type", "insurance", "payer", "plan", "pharmacy", "employer", NULL};
	const char *t = c->t;
	size_t n = c->n, j = p + 4, s, e = 0;
	struct tok w, x;
	char sep;
	int ndict = 0, nplain = 0;

	if (j < n && (letter_at(t, n, j) || t[j] == '\'' || t[j] == '-' || is_dg((unsigned char)t[j])))
		return 0;
	if (j < n && t[j] == ':') {
		j++;
	} else if (j + 4 <= n && memcmp(t + j, " is ", 4) == 0) {
		j += 4;
	} else if (j + 3 <= n && memcmp(t + j, " - ", 3) == 0) {
		j += 3;
	} else {
		return 0;
	}
	while (j < n && t[j] == ' ' && j - p < 12)
		j++;
	if (tok_before(c, p, &w, &sep) && sep == ' ') {
		for (const char *const *q = neg; *q; q++)
			if (tok_eq(&w, *q))
				return 0;
	}
	s = j;
	struct tok last;
	memset(&last, 0, sizeof(last));
	for (int i = 0; i < 4 && j < n && letter_at(t, n, j); i++) {
		if (!tok_parse(c, j, &x) || x.glued)
			break;
		if ((x.fl & NAMEF) && !(x.fl & PHI_NW_DATEWORD) && (x.shape != SH_CAPS || shape_ok(&x)) && x.shape != SH_MIXED &&
		    !(x.shape == SH_LOWER && (x.fl & (PHI_NW_STOP | PHI_NW_PREP_NAME | PHI_NW_PREP_CITY))))
			ndict++;
		else if (plain(&x) || (x.shape == SH_CAPS && x.flen >= 2 && !(x.fl & NOTNAME)))
			nplain++;
		else if (x.shape == SH_INITIAL && i > 0)
			;
		else
			break;
		e = x.e;
		last = x;
		size_t q = x.end;
		if (x.shape == SH_INITIAL && q < n && t[q] == '.')
			e = ++q;
		if (x.poss)
			break;
		if (q < n && t[q] == ',')
			q++;
		if (q < n && t[q] == ' ')
			q++;
		else
			break;
		j = q;
	}
	if (!e || (!ndict && !nplain) || tail_bad(c, &last))
		return 0;
	/* words that are not in the dictionary followed by lower-case words are a heading or a
	 * sentence ("name: Conformance gate"), not a name */
	if (!ndict && last.end + 1 < n && t[last.end] == ' ' && is_lo((unsigned char)t[last.end + 1]))
		return 0;
	return put(c, s, e, PHI_T_NAME);
}

/* --- the scan -------------------------------------------------------------------------------- */

/* Bytes before a word that put it inside a path, an e-mail address, a URL or an identifier:
 * / \\ @ . _ = # & % + ~ $ ^ | < * */
static inline bool bad_prev(unsigned char ch)
{
	static const uint64_t lo = (1ull << '/') | (1ull << '.') | (1ull << '=') | (1ull << '#') |
				   (1ull << '&') | (1ull << '%') | (1ull << '+') | (1ull << '$') | (1ull << '<') | (1ull << '*');
	static const uint64_t hi = (1ull << ('@' - 64)) | (1ull << ('\\' - 64)) | (1ull << ('_' - 64)) | (1ull << ('~' - 64)) |
				   (1ull << ('^' - 64)) | (1ull << ('|' - 64));
	if (ch < 64)
		return (lo >> ch) & 1;
	if (ch < 128)
		return (hi >> (ch - 64)) & 1;
	return false;
}

/* Could a second name part, a particle, a relation in brackets or "County" follow offset e:
 * " Abc", ", Abc", " (", " de la ..."? A capitalised word that is not in the dictionary
 * can only be reported in one of those positions or after a cue. */
/* Is [b, b+l) a courtesy title (mr, mrs, ms, mx, miss, prof, mister; any case)? */
static bool title_at(const char *t, size_t b, size_t l)
{
	char w[8];

	if (l < 2 || l > 6)
		return false;
	for (size_t k = 0; k < l; k++)
		w[k] = (char)((unsigned char)t[b + k] | 32);
	switch (l) {
	case 2: return (w[0] == 'm' && (w[1] == 'r' || w[1] == 's' || w[1] == 'x'));
	case 3: return memcmp(w, "mrs", 3) == 0;
	case 4: return memcmp(w, "miss", 4) == 0 || memcmp(w, "prof", 4) == 0;
	case 6: return memcmp(w, "mister", 6) == 0;
	default: return false;
	}
}

/* Is [b, b+l) a lower-case surname particle (de, la, van, von, del, della ...)? */
static bool particle_at(const char *t, size_t b, size_t l)
{
	const char *w = t + b;

	switch (l) {
	case 1: return w[0] == 'y';
	case 2:
		return (w[0] == 'd' && (w[1] == 'e' || w[1] == 'a' || w[1] == 'i' || w[1] == 'u')) ||
		       (w[0] == 'l' && (w[1] == 'a' || w[1] == 'e')) || (w[1] == 'l' && (w[0] == 'e' || w[0] == 'a')) ||
		       (w[0] == 's' && w[1] == 't') || (w[0] == 'm' && w[1] == 'c');
	case 3:
		return memcmp(w, "van", 3) == 0 || memcmp(w, "von", 3) == 0 || memcmp(w, "del", 3) == 0 ||
		       memcmp(w, "der", 3) == 0 || memcmp(w, "den", 3) == 0 || memcmp(w, "des", 3) == 0 ||
		       memcmp(w, "dos", 3) == 0 || memcmp(w, "das", 3) == 0 || memcmp(w, "ter", 3) == 0 ||
		       memcmp(w, "ten", 3) == 0 || memcmp(w, "bin", 3) == 0 || memcmp(w, "ibn", 3) == 0 ||
		       memcmp(w, "ben", 3) == 0 || memcmp(w, "mac", 3) == 0;
	case 5: return memcmp(w, "della", 5) == 0;
	default: return false;
	}
}

static bool upper_next(const struct sc *c, size_t e)
{
	/* first letters of the particles: a(l) b(en, in) d(e, a, i, u ...) e(l) i(bn) l(a, e) m(ac, c) s(t) t(er, en) v(an, on) y */
	const uint32_t pfirst = (1u << ('a' - 'a')) | (1u << ('b' - 'a')) | (1u << ('d' - 'a')) | (1u << ('e' - 'a')) |
				(1u << ('i' - 'a')) | (1u << ('l' - 'a')) | (1u << ('m' - 'a')) | (1u << ('s' - 'a')) |
				(1u << ('t' - 'a')) | (1u << ('v' - 'a')) | (1u << ('y' - 'a'));
	const char *t = c->t;
	size_t n = c->n, j = e;

	if (j < n && (t[j] == ',' || (t[j] == '.' && j - alpha_begin(c->d, j) <= 3)))
		j++; /* ", Abc"; "St. Louis", "Q. Public" */
	if (j >= n || t[j] != ' ')
		return false;
	j++;
	if (j < n && t[j] == ' ')
		j++;
	if (j >= n)
		return false;
	unsigned char ch = (unsigned char)t[j];
	if (is_up(ch) || ch >= 0xc3 || ch == '(')
		return true;
	/* lower-case particles ("de", "van", "de la") before a capitalised word */
	for (int i = 0; i < 3; i++) {
		if (!is_lo(ch) || !(pfirst & (1u << (ch - 'a'))))
			return false;
		size_t q = alpha_end(c->d, j);
		if (q - j > 5 || !particle_at(t, j, q - j) || q + 1 >= n || t[q] != ' ')
			return false;
		j = q + 1;
		ch = (unsigned char)t[j];
		if (is_up(ch) || ch >= 0xc3)
			return true;
	}
	return false;
}

static inline bool is_stcode(const char *t, size_t p)
{
	unsigned sc = (unsigned)((unsigned char)t[p] - 'A') * 26 + (unsigned)((unsigned char)t[p + 1] - 'A');
	return (stcode[sc >> 6] >> (sc & 63)) & 1;
}

/* " 12345" at e, not followed by another digit */
static inline bool zip_at(const struct sc *c, size_t e)
{
	const char *t = c->t;

	if (e + 6 > c->n || t[e] != ' ')
		return false;
	for (size_t d = 1; d <= 5; d++)
		if (!is_dg((unsigned char)t[e + d]))
			return false;
	return e + 6 == c->n || !is_dg((unsigned char)t[e + 6]);
}

/* Is a capitalised word of two letters or more (or an initial with a period) at j? */
static inline bool cap_word_at(const struct sc *c, size_t j)
{
	const char *t = c->t;

	if (j >= c->n)
		return false;
	unsigned char ch = (unsigned char)t[j];
	if (ch >= 0xc3)
		return true;
	if (!is_up(ch) || j + 1 >= c->n)
		return false;
	unsigned char nx = (unsigned char)t[j + 1];
	if (is_lo(nx) || nx == '.' || nx == '\'' || nx >= 0x80)
		return true; /* "Garcia", "Q.", "O'Brien", "Ólafur" */
	if (!is_up(nx))
		return false;
	/* capitals: a whole word of three or more ("GARCIA"), not "OIDs", "R4", "CT" */
	size_t e = alpha_end(c->d, j);
	if (e - j < 3 || (e < c->n && (is_dg((unsigned char)t[e]) || (unsigned char)t[e] >= 0x80)))
		return false;
	for (size_t q = j + 2; q < e; q++)
		if (!is_up((unsigned char)t[q]))
			return false;
	return true;
}

/* Two capitals at pos ("GARCIA", "MA", "LOINC"): worth parsing only as a state code after a
 * comma or before a ZIP code, as "NAME", or before ", X" / " X" (a name in capitals). */
static bool caps_worth(const struct sc *c, size_t pos)
{
	const char *t = c->t;
	size_t n = c->n, e = alpha_end(c->d, pos), j;

	if (e - pos == 2) {
		/* a USPS code after a comma or before a ZIP code */
		if (!is_stcode(t, pos) || (e < n && (is_dg((unsigned char)t[e]) || (unsigned char)t[e] >= 0x80 || t[e] == '_')))
			return false;
		if ((pos >= 1 && t[pos - 1] == ',') || (pos >= 2 && t[pos - 1] == ' ' && t[pos - 2] == ','))
			return true;
		return pos >= 1 && t[pos - 1] == ' ' && zip_at(c, e);
	}
	if (e >= n)
		return false;
	unsigned char ch = (unsigned char)t[e];
	if (ch >= 0x80)
		return letter_at(t, n, e); /* "GARCÍA": the slow parse decides */
	if (is_dg(ch) || ch == '_')
		return false; /* "HL7", "SpO2" */
	while ((ch == '\'' || ch == '-') && e + 1 < n && is_up((unsigned char)t[e + 1])) {
		e = alpha_end(c->d, e + 1); /* "O'BRIEN", "GARCIA-LOPEZ" */
		if (e >= n)
			return false;
		ch = (unsigned char)t[e];
	}
	if (e - pos == 4 && memcmp(t + pos, "NAME", 4) == 0)
		return true;
	/* a name in capitals is followed by ", XXX" or " XXX" (three capitals or more) */
	j = e + (ch == ',');
	if (j >= n || t[j] != ' ' || j + 4 > n)
		return false;
	return (is_up((unsigned char)t[j + 1]) && is_up((unsigned char)t[j + 2]) && is_up((unsigned char)t[j + 3])) ||
	       (unsigned char)t[j + 1] >= 0xc3;
}

/* A word in title case at pos ("History", "Maria"): worth parsing when it may be a
 * dictionary name/city/state/eponym (relevance bitmap), when it is "Name", when a cue may
 * stand before it or a capitalised word after it, or when it needs the slow parse. */
static bool title_worth(const struct sc *c, size_t pos)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const char *t = c->t;
	size_t n = c->n, e = alpha_end(c->d, pos), len = e - pos, f = e;
	uint32_t w;

	if (e < n) {
		unsigned char ch = (unsigned char)t[e];
		if (ch == '\'' && e + 2 <= n && (t[e + 1] | 32) == 's' && (e + 2 == n || !letter_at(t, n, e + 2))) {
			f = e + 2; /* "Addison's": look at what follows the possessive */
			ch = f < n ? (unsigned char)t[f] : 0;
		} else if (ch == '\'' || ch == '-' || ch >= 0x80) {
			return true; /* "O'Brien", "Smith-Jones", "José": the slow parse decides */
		}
		if (is_dg(ch) || ch == '_' || ch == '@' || ch == '/')
			return false; /* "SpO2", "Mon/Wed": not a name */
		if (ch == ',' && f == e)
			return true; /* "Last, First", "City, ST" */
		if (ch == ' ' && f + 1 < n) {
			unsigned char nx = (unsigned char)t[f + 1];
			if (nx == '(' || cap_word_at(c, f + 1))
				return true;
			if (is_lo(nx) && f == e && upper_next(c, e))
				return true; /* "Maria de la Cruz" */
		} else if (ch == '.' && len == 2 && f == e && (t[pos + 1] | 32) == 't') {
			return true; /* "St. Louis", "Ft. Worth", "Mt. Vernon" */
		}
	}
	if (pos + 4 > c->d->cap)
		return true;
	memcpy(&w, t + pos, 4);
	w |= 0x20202020u;
	if (len < 4)
		w &= (1u << (8 * len)) - 1;
	if (len == 4 && w == 0x656d616eu) /* "name" */
		return true;
	uint32_t rb = city1_bit(w, len);
	if (city1_has(rb))
		return true;
	if (pos >= 2 && t[pos - 1] == ' ') {
		unsigned char p2 = (unsigned char)t[pos - 2];
		if (p2 == ',') {
			rb = C1_HI(rb) >> (CITY1_BITS - STATE1_BITS);
			if ((state1[rb >> 6] >> (rb & 63)) & 1)
				return true; /* "..., Illinois" */
		}
		if (p2 == '.') {
			/* after a full stop only a courtesy title cues a name: "Mrs. Ruiz" yes; "Dr. Chen"
			 * (a provider), "452 ms. History" and a sentence start no */
			size_t b = alpha_begin(c->d, pos - 2);
			return title_at(t, b, pos - 2 - b) && !(b > 0 && (is_dg((unsigned char)t[b - 1]) ||
								  (b > 1 && t[b - 1] == ' ' && is_dg((unsigned char)t[b - 2]))));
		}
	}
	return cue_possible(c, pos);
#else
	(void)c;
	(void)pos;
	return true;
#endif
}

/* The cheap part of the per-candidate work, inlined in the scan loop: most capitalised words
 * stop here without being parsed. */
static inline bool candidate_worth(const struct sc *c, size_t pos)
{
	const char *t = c->t;
	unsigned char ch = (unsigned char)t[pos], nx = pos + 1 < c->n ? (unsigned char)t[pos + 1] : 0;

	if (pos > 0 && bad_prev((unsigned char)t[pos - 1]) && !(t[pos - 1] == '.' && pos >= 2 && t[pos - 2] == '.'))
		return false;
	if (ch >= 0x80)
		return true;
	if (is_lo(nx))
		return title_worth(c, pos);
	if (is_up(nx))
		return caps_worth(c, pos);
	/* one capital letter: only "J. Smith" (and "O'Brien", "D-...", "É...") can start here */
	return nx == '.' || nx == '\'' || nx == '-' || nx >= 0x80;
}

__attribute__((noinline)) static void candidate(struct sc *c, size_t pos)
{
	struct tok k;
	size_t end;

	if (!tok_parse(c, pos, &k) || k.glued)
		return;
	if (k.flen == 4 && memcmp(k.f, "name", 4) == 0) {
		name_key(c, pos);
		return;
	}
	if (k.shape == SH_INITIAL) {
		initial_rule(c, &k);
		return;
	}
	if (k.shape != SH_TITLE && k.shape != SH_CAPS)
		return;
	if (k.shape == SH_CAPS && k.flen == 2 && (k.fl & PHI_NW_STATECODE)) {
		state_code(c, &k);
		return;
	}
	if (k.fl & (PHI_NW_STATE | PHI_NW_STATE_PFX)) {
		if (state_name(c, &k, &end))
			return;
	}
	/* a surname in capitals that is not in the dictionary: only in "DYKE, LAYLA" */
	bool caps_last = k.shape == SH_CAPS && !(k.fl & (NAMEF | NOTNAME)) && k.flen >= 3 && !k.glued && k.end + 2 < c->n &&
			 c->t[k.end] == ',' && c->t[k.end + 1] == ' ';
	if (!(k.fl & (NAMEF | PHI_NW_CITY | PHI_NW_CITY_PFX | PHI_NW_EPONYM)) && !plain(&k) && !caps_last)
		return;
	bool pl = plain(&k);
	/* Every rule but C3 (an unambiguous city on its own) needs a cue before the word or a
	 * capitalised word, ", X", " (" after it: most capitalised words stop here. */
	if ((!(k.fl & PHI_NW_CITY) || (k.fl & PHI_NW_CAMBIG)) && !upper_next(c, k.end) && !cue_possible(c, k.s))
		return;
	struct tok nt;
	int nsep = tok_after(c, k.end, &nt);
	if (nsep != SEP_NONE)
		tok_keep(c, &nt);
	int cue = cue_of(c, &k);
	if (cue == CUE_PROV) {
		c->skip = run_end(c, &k);
		return;
	}
	if (cue == CUE_NONE && !(k.fl & PHI_NW_CITY_PFX) && !((k.fl & PHI_NW_CITY) && !(k.fl & PHI_NW_CAMBIG))) {
		/* without a cue every name rule needs a second part ("Maria Garcia", "Garcia,
		 * Maria", "John Q. Public"), a relation in brackets, a state or "County" next */
		bool next_cap = (nsep == SEP_SP || nsep == SEP_COMMA || (nsep == SEP_DOT && k.flen <= 3)) &&
				(nt.shape == SH_TITLE || nt.shape == SH_CAPS || nt.shape == SH_INITIAL ||
				 (nt.fl & PHI_NW_PARTICLE));
		if (!next_cap && nsep != SEP_PAREN)
			return;
		if (pl && nsep == SEP_SP && nt.shape != SH_INITIAL && !(nt.fl & PHI_NW_PARTICLE) && !tok_is(&nt, "county") &&
		    !tok_is(&nt, "parish") && !tok_is(&nt, "borough") && !(nt.fl & (NAMEF | PHI_NW_STATECODE | PHI_NW_STATE)) &&
		    !plain(&nt))
			return; /* "Coma Scale": an unknown word before a non-name */
	}
	if ((k.fl & (PHI_NW_CITY | PHI_NW_CITY_PFX)) && city_fwd(c, &k, cue))
		return;
	if (cue == CUE_CITY && (pl || (k.fl & NAMEF)) && !(k.fl & PHI_NW_STATE)) {
		city_cued(c, &k);
		return;
	}
	if ((pl || any_name(&k)) && county(c, k.s, &k))
		return;
	name_rules(c, &k, cue);
}

/* Masks of 64 bytes: upper-case ASCII letters and 'n'. */
static inline void masks64(const unsigned char *p, uint64_t *up, uint64_t *nn)
{
#if defined(__SSE2__)
	uint64_t a = 0, b = 0;
	for (int k = 0; k < 4; k++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
		__m128i x = _mm_sub_epi8(v, _mm_set1_epi8('A'));
		__m128i u = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(25)), x);
		a |= (uint64_t)(unsigned)_mm_movemask_epi8(u) << (16 * k);
		b |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('n'))) << (16 * k);
	}
	*up = a;
	*nn = b;
#else
	uint64_t a = 0, b = 0;
	for (int k = 0; k < 64; k++) {
		a |= (uint64_t)is_up(p[k]) << k;
		b |= (uint64_t)(p[k] == 'n') << k;
	}
	*up = a;
	*nn = b;
#endif
}

int phi_names_scan(const struct phi_vctx *vc, phi_emit_fn emit, void *arg)
{
	const struct phi_dec *d = vc->d;
	struct sc c;
	struct tcache tc;
	uint64_t carry_w = 0, carry_h = 0;

	pthread_once(&table_once, table_build);
	c.d = d;
	c.t = d->t;
	c.n = d->n;
	c.emit = emit;
	c.arg = arg;
	c.rc = 0;
	c.skip = 0;
	tc.at = 0;
	c.tc = &tc;
	/* word starts from the decoder's bitmaps (phi_dec_bitmaps: ASCII letters, digits,
	 * non-ASCII bytes), candidates = word starts that are an upper-case letter, a non-ASCII
	 * byte or 'n' ("name is"), plus an upper-case letter right after a non-ASCII byte (after
	 * a curly quote) */
	for (size_t w = 0; w < d->nwords && (w << 6) < c.n; w++) {
		size_t base = w << 6;
		/* the last block reads into the PHI_DEC_PAD zero bytes after the text: no bits */
		const unsigned char *p = (const unsigned char *)c.t + base;
		uint64_t up, nn, wm = d->wm[w], hm = d->hm[w];
		masks64(p, &up, &nn);
		uint64_t start = wm & ~((wm << 1) | carry_w), after_h = (hm << 1) | carry_h;
		carry_w = wm >> 63;
		carry_h = hm >> 63;
		uint64_t m = (start & (up | nn | hm)) | (up & after_h & ~start);
		while (m) {
			size_t pos = base + (size_t)__builtin_ctzll(m);
			m &= m - 1;
			if (pos >= c.n)
				break;
			if (pos < c.skip)
				continue;
			unsigned char ch = (unsigned char)c.t[pos];
			if (pos > 0) {
				unsigned char pv = (unsigned char)c.t[pos - 1];
				if (pv >= 0x80 ? letter_before(c.t, pos) : ((pv == '\'' || pv == '-') && pos >= 2 &&
									       letter_at(c.t, c.n, pos - 2)))
					continue; /* inside "O'Brien", "Smith-Jones", "Élise" */
			}
			if (ch == 'n') {
				if (pos + 4 <= c.n && memcmp(c.t + pos, "name", 4) == 0)
					name_key(&c, pos);
			} else if (ch >= 0x80) {
				bool u = false;
				if (!u8_letter((const unsigned char *)c.t + pos, c.n - pos, &u) || !u)
					continue;
				candidate(&c, pos);
			} else if (candidate_worth(&c, pos)) {
				candidate(&c, pos);
			}
			if (c.rc)
				return c.rc;
		}
	}
	return 0;
}
