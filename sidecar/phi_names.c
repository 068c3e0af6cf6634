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
#define FNV0 2166136261u

/* fingerprint (high 16 bits of the hash) | word index + 1; 0 = empty */
static uint32_t slots[NSLOTS];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static inline uint32_t fnv_add(uint32_t h, unsigned char c)
{
	return (h ^ c) * 16777619u;
}

static uint32_t fnv(uint32_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = fnv_add(h, (unsigned char)s[i]);
	return h;
}

static void table_build(void)
{
	/* the generator keeps the table under 65535 entries; half-empty slots keep probes short */
	for (size_t i = 0; i < phi_names_nwords && i < 0xffff && i < NSLOTS / 2; i++) {
		const struct phi_names_word *w = &phi_names_words[i];
		uint32_t h = fnv(FNV0, w->w, w->len), k = h & (NSLOTS - 1);
		while (slots[k])
			k = (k + 1) & (NSLOTS - 1);
		slots[k] = (h & 0xffff0000u) | (uint32_t)(i + 1);
	}
}

static uint32_t lookup_h(const char *s, size_t n, uint32_t h)
{
	uint32_t k = h & (NSLOTS - 1), fp = h & 0xffff0000u, v;

	while ((v = slots[k]) != 0) {
		if ((v & 0xffff0000u) == fp) {
			const struct phi_names_word *w = &phi_names_words[(v & 0xffffu) - 1];
			if (w->len == n && memcmp(w->w, s, n) == 0)
				return w->flags;
		}
		k = (k + 1) & (NSLOTS - 1);
	}
	return 0;
}

uint32_t phi_names_lookup(const char *folded, size_t n)
{
	pthread_once(&table_once, table_build);
	return lookup_h(folded, n, fnv(FNV0, folded, n));
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
static inline bool is_al(unsigned char c)
{
	return is_up(c) || is_lo(c);
}
static inline bool is_dg(unsigned char c)
{
	return c >= '0' && c <= '9';
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
#define TOKMAX 48

struct tok {
	uint32_t s, e;   /* the word, possessive "'s" excluded */
	uint32_t end;    /* after the possessive */
	uint32_t fl;     /* dictionary flags (PHI_NW_*) */
	uint8_t shape, flen;
	bool poss, glued;
	char f[TOKMAX];  /* folded */
};

struct sc {
	const char *t;
	size_t n;
	phi_emit_fn emit;
	void *arg;
	int rc;
	size_t skip;     /* candidates before this offset are inside a reported span */
};

/* An upper-case letter inside a word is allowed after Mc/Mac/O'/D'/De/Di/Da/Du/La/Le/Van/St
 * ("McDonald", "DeShawn", "LaToya", "VanDyke") and after a hyphen or apostrophe. */
static bool inner_cap_ok(const char *t, size_t s, size_t j)
{
	static const char *const pre[] = {"mc", "mac", "de", "di", "da", "du", "la", "le", "van", "von", "st", NULL};
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
static bool tok_parse(const struct sc *c, size_t i, struct tok *k)
{
	const char *t = c->t;
	size_t n = c->n, j = i;
	unsigned up = 0, low = 0, letters = 0;
	bool first_up = false, inner_bad = false, high = false, hyph = false;

	while (j < n) {
		unsigned char ch = (unsigned char)t[j];
		if (ch < 0x80) {
			if (is_al(ch)) {
				bool u = is_up(ch);
				if (letters == 0)
					first_up = u;
				else if (u && !inner_cap_ok(t, i, j))
					inner_bad = true;
				up += u;
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
		up += u;
		low += !u;
		letters++;
		high = true;
		j += l;
	}
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
	if (!high) {
		if (k->e - k->s <= TOKMAX) {
			for (size_t q = k->s; q < k->e; q++) {
				unsigned char ch = (unsigned char)t[q];
				if (ch == '\'')
					continue;
				k->f[fl++] = (char)(is_up(ch) ? ch + 32 : ch);
			}
		}
	} else {
		fl = phi_fold(t + k->s, k->e - k->s, k->f, TOKMAX);
		if (fl == (size_t)-1)
			fl = 0;
	}
	k->flen = (uint8_t)fl;
	k->fl = fl ? lookup_h(k->f, fl, fnv(FNV0, k->f, fl)) : 0;
	if (!k->fl && hyph && fl)
		k->fl = hyphen_flags(k->f, fl);
	return true;
}

static inline bool tok_is(const struct tok *k, const char *w)
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
		 PHI_NW_GREET | PHI_NW_WEAK | PHI_NW_PROV | PHI_NW_CITYKEY | PHI_NW_DATEWORD | PHI_NW_PARTICLE | \
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

enum cue { CUE_NONE, CUE_PROV, CUE_WEAK, CUE_NAMEVERB, CUE_TITLE, CUE_REL, CUE_GREET, CUE_KEY, CUE_CITY };

static bool is_title(const struct tok *k)
{
	return tok_is(k, "mr") || tok_is(k, "mrs") || tok_is(k, "ms") || tok_is(k, "miss") || tok_is(k, "mx") ||
	       tok_is(k, "mister");
}

/* What the words right before k say about it. */
static int cue_of(const struct sc *c, const struct tok *k)
{
	struct tok w1, w2, w3;
	char s1, s2, s3;

	if (!tok_before(c, k->s, &w1, &s1) || w1.glued)
		return CUE_NONE;
	if ((w1.fl & PHI_NW_PROV) && (s1 == ' ' || s1 == '.') && !w1.poss)
		return CUE_PROV;
	if (w1.poss)
		return CUE_NONE;
	if ((w1.fl & PHI_NW_REL) && s1 != '.' && s1 != ';')
		return CUE_REL;
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
	if (tok_is(&w1, "name") && s1 == ':')
		return CUE_KEY;
	if ((w1.fl & PHI_NW_WEAK) && s1 == ':')
		return CUE_KEY;
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
		    !(x.shape == SH_TITLE || x.shape == SH_CAPS || x.shape == SH_INITIAL || (x.fl & PHI_NW_PARTICLE)))
			break;
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

	if (!k->flen || l + 1 + k->flen > 2 * TOKMAX)
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
	char buf[2 * TOKMAX + 2];
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
		fl = lookup_h(buf, len, fnv(FNV0, buf, len));
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
	char buf[2 * TOKMAX + 2];

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
		    !(run[nr].shape == SH_LOWER && run[nr].flen <= 3 && nr > 0))
			break;
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
		uint32_t fl = lookup_h(buf, len, fnv(FNV0, buf, len));
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
	return cue == CUE_REL || cue == CUE_GREET || cue == CUE_KEY || cue == CUE_TITLE;
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
		} else if (t_plain && u_sur && cue == CUE_NAMEVERB) {
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
			bool last_ok = strong(t0, PHI_NW_SURNAME) || (any_name(t0) && strong_cue(cue)) ||
				       (plain(t0) && strong_cue(cue));
			bool first_ok = (x.fl & PHI_NW_GIVEN) && any_name(&x) && !date_use(c, &x) &&
					(strong(&x, PHI_NW_GIVEN) || strong(t0, PHI_NW_SURNAME));
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
				return put(c, t0->s, e, PHI_T_NAME);
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
		if (plain(t0) && ((cue != CUE_REL && cue != CUE_TITLE) || rel_after))
			return put(c, t0->s, t0->e, PHI_T_NAME);
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
			if (tok_is(&w, *q))
				return 0;
	}
	s = j;
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
	if (!e || (!ndict && !nplain))
		return 0;
	if (tail_bad(c, &x) && x.e == e)
		return 0;
	return put(c, s, e, PHI_T_NAME);
}

/* --- the scan -------------------------------------------------------------------------------- */

/* Bytes before a word that put it inside a path, an e-mail address, a URL or an identifier. */
static inline bool bad_prev(unsigned char ch)
{
	return ch == '/' || ch == '\\' || ch == '@' || ch == '.' || ch == '_' || ch == '=' || ch == '#' || ch == '&' ||
	       ch == '%' || ch == '+' || ch == '~' || ch == '$' || ch == '^' || ch == '|' || ch == '<' || ch == '*';
}

static void candidate(struct sc *c, size_t pos)
{
	struct tok k;
	size_t end;

	if (pos > 0 && bad_prev((unsigned char)c->t[pos - 1]) && !(c->t[pos - 1] == '.' && pos >= 2 && c->t[pos - 2] == '.'))
		return;
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
	if (!(k.fl & (NAMEF | PHI_NW_CITY | PHI_NW_CITY_PFX | PHI_NW_EPONYM)) && !plain(&k))
		return;
	int cue = cue_of(c, &k);
	if (cue == CUE_PROV) {
		c->skip = run_end(c, &k);
		return;
	}
	if ((k.fl & (PHI_NW_CITY | PHI_NW_CITY_PFX)) && city_fwd(c, &k, cue))
		return;
	if (cue == CUE_CITY && (plain(&k) || ((k.fl & NAMEF) && !(k.fl & PHI_NW_STATE))) && !(k.fl & PHI_NW_STATE)) {
		city_cued(c, &k);
		return;
	}
	if ((plain(&k) || any_name(&k)) && county(c, k.s, &k))
		return;
	name_rules(c, &k, cue);
}

#if defined(__SSE2__)
static inline unsigned in_range(__m128i v, unsigned char lo, unsigned char span)
{
	__m128i x = _mm_sub_epi8(v, _mm_set1_epi8((char)lo));
	return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8((char)span)), x));
}
#endif

/* Masks of 64 bytes: cap = upper-case ASCII or a UTF-8 lead byte >= 0xC3; nn = 'n';
 * wd = word bytes (ASCII letters and digits, apostrophe, hyphen, bytes >= 0x80). */
static void masks64(const unsigned char *p, uint64_t *cap, uint64_t *nn, uint64_t *wd, uint64_t *hi)
{
#if defined(__SSE2__)
	uint64_t a = 0, b = 0, w = 0, h = 0;
	for (int k = 0; k < 4; k++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
		unsigned up = in_range(v, 'A', 25), lo = in_range(v, 'a', 25), dg = in_range(v, '0', 9);
		unsigned hb = (unsigned)_mm_movemask_epi8(v), lead = in_range(v, 0xc3, 0x3c);
		unsigned ap = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\''))) |
			      (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
		unsigned en = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('n')));
		a |= (uint64_t)(up | lead) << (16 * k);
		b |= (uint64_t)en << (16 * k);
		w |= (uint64_t)(up | lo | dg | hb | ap) << (16 * k);
		h |= (uint64_t)hb << (16 * k);
	}
	*cap = a;
	*nn = b;
	*wd = w;
	*hi = h;
#else
	uint64_t a = 0, b = 0, w = 0, h = 0;
	for (int k = 0; k < 64; k++) {
		unsigned char ch = p[k];
		a |= (uint64_t)(is_up(ch) || ch >= 0xc3) << k;
		b |= (uint64_t)(ch == 'n') << k;
		w |= (uint64_t)(is_al(ch) || is_dg(ch) || ch >= 0x80 || ch == '\'' || ch == '-') << k;
		h |= (uint64_t)(ch >= 0x80) << k;
	}
	*cap = a;
	*nn = b;
	*wd = w;
	*hi = h;
#endif
}

int phi_names_scan(const struct phi_vctx *vc, phi_emit_fn emit, void *arg)
{
	struct sc c;
	uint64_t carry_w = 0, carry_h = 0;
	unsigned char pad[64];

	pthread_once(&table_once, table_build);
	c.t = vc->d->t;
	c.n = vc->d->n;
	c.emit = emit;
	c.arg = arg;
	c.rc = 0;
	c.skip = 0;
	for (size_t base = 0; base < c.n; base += 64) {
		const unsigned char *p = (const unsigned char *)c.t + base;
		uint64_t cap, nn, wd, hi;
		if (c.n - base < 64) {
			memset(pad, ' ', sizeof(pad));
			memcpy(pad, p, c.n - base);
			p = pad;
		}
		masks64(p, &cap, &nn, &wd, &hi);
		uint64_t prev_w = (wd << 1) | carry_w, prev_h = (hi << 1) | carry_h;
		carry_w = wd >> 63;
		carry_h = hi >> 63;
		/* word starts: upper case (or UTF-8 lead) or 'n' not after a word byte; upper case
		 * after a byte >= 0x80 when that character is punctuation (a curly quote) */
		uint64_t m = ((cap | nn) & ~prev_w) | (cap & prev_h);
		while (m) {
			size_t pos = base + (size_t)__builtin_ctzll(m);
			m &= m - 1;
			if (pos >= c.n)
				break;
			if (pos < c.skip)
				continue;
			unsigned char ch = (unsigned char)c.t[pos];
			if (pos > 0 && (unsigned char)c.t[pos - 1] >= 0x80 && letter_before(c.t, pos))
				continue;
			if (ch == 'n') {
				if (pos + 4 <= c.n && memcmp(c.t + pos, "name", 4) == 0)
					name_key(&c, pos);
			} else if (ch >= 0x80) {
				bool up = false;
				if (!u8_letter((const unsigned char *)c.t + pos, c.n - pos, &up) || !up)
					continue;
				candidate(&c, pos);
			} else {
				candidate(&c, pos);
			}
			if (c.rc)
				return c.rc;
		}
	}
	return 0;
}
