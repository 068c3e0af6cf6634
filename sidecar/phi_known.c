/* phi_known — the identifiers of the patient in context, normalised, and their matcher.
 *
 * Owns struct phi_context: one heap block holding match keys (names, address lines,
 * city, identifier values, phones, ZIP, compact birth dates), the patient's dates and emails.
 * The block is immutable after phi_context_from_patient_json() and wiped by phi_context_free()
 * (sodium_memzero). Every temporary copy made while building (the cJSON tree's strings and
 * numbers, the builder's strings) is wiped before it is freed. The block is plain heap, not
 * sodium_malloc: guard pages cost an mmap and three mprotect calls per request (~100 us in
 * our VM), and the context lives for one request.
 * research/phi.md §4.2 is the design; the rules below are the ones it asks us to document.
 *
 * Sources (FHIR R4): Patient, RelatedPerson and Person at any depth of the given JSON (a
 * resource, a Bundle, a CDS Hooks prefetch object or a whole hook request): name[] (family,
 * given, text), telecom[] (phone/fax/sms/pager → digits; email), address[] (line, city,
 * district, postalCode), birthDate, deceasedDateTime, identifier[].value, id, contact[] (name,
 * telecom, address of relatives — Safe Harbor covers relatives' identifiers too); Coverage
 * subscriberId and identifier[] (member ids).
 *
 * Matching, one pass over the scan text, no per-request regex compile (the context is built
 * per request; compiling it into a Vectorscan literal database would cost ~250 us p50 against
 * ~10 us for this build — ci/bench-phi measures both):
 *  - Word keys: every word token of the text is folded (ASCII lower-case, Latin diacritics
 *    removed, apostrophes dropped, possessive 's split off) and looked up in a small hash of
 *    first tokens; multi-token keys (address lines, "San Diego") are verified token by token,
 *    address tokens with USPS abbreviations folded (Street=St, North=N, Apartment=Apt ...).
 *  - Identifier keys: at every token start that holds a digit (and at a letter→digit switch,
 *    "MRN00123456"), letters and digits are read on across up to three separator characters
 *    ("-", ".", " ", "/", "(", ")") and compared with the identifier values: leading zeros are
 *    ignored for record/member/other identifiers, never for SSNs, phones, ZIPs and dates; a match
 *    must end where the token ends. A three-character prefix bitmap skips almost every token.
 *  - Dates and emails are confirmed by the pattern validators (phi_valid.c) and compared with
 *    the patient's values here (phi_known_date, phi_known_email): any written form of the
 *    birth date that the date patterns parse is a KNOWN date.
 *
 * Name rules (precision, research/phi.md §3 row A):
 *  - One-letter parts and particles ("van", "de", "la" inside a longer family name) never match
 *    alone: they need an adjacent matched name part or a courtesy title before them.
 *  - A two-letter part ("Li", "Wu", "Ho") matches alone only written in title case ("Li", not
 *    "LI" or "li") and not followed by a number (the lithium level "Li 0.8"); otherwise it
 *    needs an adjacent name part, a title ("Mr. LI") or a given-name initial ("W. Li").
 *    A two-letter part that is an English word or clinical abbreviation ("Do", "Po", "Iv") is
 *    treated like a one-letter part.
 *  - A part that is a common English word, clinical word or FHIR element name ("Hope", "May",
 *    "Will", "Brown", "Walker", "Code") matches alone only when capitalised ("Hope", "HOPE",
 *    not "hope"), and at the start of a sentence only when a third-person or past-tense verb
 *    or punctuation follows ("Will reports ..." yes; "Will continue ...", "May increase ..."
 *    no). Lower-case it needs an adjacent name part ("hope smith").
 *  - Two parts of the patient's name side by side confirm each other whatever their class
 *    ("Al Ho", "joy green").
 *  - Eponyms: a name part directly followed (possessive allowed) by a clinical eponym word
 *    ("disease", "syndrome", "lymphoma", "palsy", "score", "fracture" ...) is not reported —
 *    "Addison's disease" for a patient named Addison — unless a title or another name part of
 *    the patient stands right before or after it ("Mr. Addison's disease", "Will Addison").
 *  - Adjacent matched name parts, middle initials between them, and an initial of one of the
 *    patient's given names before a matched part ("J. Smith") are reported as one span.
 *  - The birth date is also matched in compact forms: yyyymmdd, mmddyyyy, mmddyy.
 *  - Identifier values with fewer than 5 significant characters are not matched (too many
 *    collisions with doses and counts); they are still caught by site MRN patterns.
 */
#include "sidecar/phi_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "lib/mem.h"

#define KMAX_ENTRIES 65536
#define KMAX_TOKEN 63
#define KID_MIN 5
#define KID_SQ 64

enum { K_WORDS, K_ID_STRIP, K_ID_EXACT };
enum { ST_STRONG, ST_CAPS, ST_SHORT, ST_WEAK };

struct kent {
	uint32_t str;     /* pool offset; K_WORDS: tokens separated by ' ' */
	uint16_t len;     /* bytes at str */
	uint16_t flen;    /* length of the first token (K_WORDS) */
	uint8_t type;     /* enum phi_type */
	uint8_t kind;
	uint8_t ntok;
	uint8_t min_tok;
	uint8_t strength;
	uint8_t max_joins;
	uint8_t min_joins;
	uint8_t usps;     /* compare tokens after USPS folding */
	uint32_t next;    /* bucket chain: index + 1, 0 ends */
};

struct kdate {
	int16_t y;
	uint8_t m, d;
};

struct phi_context {
	size_t total;
	uint32_t nent, nbuck, nids, ndates, nemails;
	uint32_t idmax;             /* length of the longest identifier key */
	struct kent *ent;
	uint32_t *buck;
	uint32_t *ids;
	struct kdate *dates;
	uint32_t *email_off;
	uint16_t *email_len;
	char *pool;
	uint32_t initials;          /* bit (c - 'a') for each given-name initial */
	uint32_t finitials;         /* the same for family names */
	uint64_t lens;              /* bit per first-token length of word keys */
	uint8_t first[256];         /* first byte of word keys */
	uint8_t wbloom[4096 / 8];   /* (first byte, second byte, length) of word keys */
	uint8_t pair[1024 / 8];     /* (first byte, second byte or 0) of word keys, 5 bits each */
	uint8_t idpref[4096 / 8];   /* hashed 3-character prefixes of identifier keys */
	uint8_t id2[1296 / 8];      /* their first two characters (idx36 pairs) */
};

/* --- folding and tokenising ----------------------------------------------------------------- */

/* Latin letters without their diacritics: Latin-1 Supplement, Latin Extended-A, the common
 * Extended-B letters and the Vietnamese block of Latin Extended Additional. */
static const char *fold_latin(uint32_t cp)
{
	static const char *const l1[64] = {
		"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
		"d", "n", "o", "o", "o", "o", "o", NULL, "o", "u", "u", "u", "u", "y", "th", "ss",
		"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
		"d", "n", "o", "o", "o", "o", "o", NULL, "o", "u", "u", "u", "u", "y", "th", "y"};
	static const struct { uint16_t lo, hi; const char *s; } ext[] = {
		{0x100, 0x105, "a"}, {0x106, 0x10d, "c"}, {0x10e, 0x111, "d"}, {0x112, 0x11b, "e"},
		{0x11c, 0x123, "g"}, {0x124, 0x127, "h"}, {0x128, 0x131, "i"}, {0x132, 0x133, "ij"},
		{0x134, 0x135, "j"}, {0x136, 0x138, "k"}, {0x139, 0x142, "l"}, {0x143, 0x14b, "n"},
		{0x14c, 0x151, "o"}, {0x152, 0x153, "oe"}, {0x154, 0x159, "r"}, {0x15a, 0x161, "s"},
		{0x162, 0x167, "t"}, {0x168, 0x173, "u"}, {0x174, 0x175, "w"}, {0x176, 0x178, "y"},
		{0x179, 0x17e, "z"}, {0x17f, 0x17f, "s"}, {0x1a0, 0x1a1, "o"}, {0x1af, 0x1b0, "u"},
		{0x1cd, 0x1ce, "a"}, {0x1cf, 0x1d0, "i"}, {0x1d1, 0x1d2, "o"}, {0x1d3, 0x1dc, "u"},
		{0x218, 0x219, "s"}, {0x21a, 0x21b, "t"},
		/* Latin Extended Additional, Vietnamese block U+1EA0..U+1EF9 */
		{0x1ea0, 0x1eb7, "a"}, {0x1eb8, 0x1ec7, "e"}, {0x1ec8, 0x1ecb, "i"},
		{0x1ecc, 0x1ee3, "o"}, {0x1ee4, 0x1ef1, "u"}, {0x1ef2, 0x1ef9, "y"}};

	if (cp >= 0xc0 && cp <= 0xff)
		return l1[cp - 0xc0];
	for (size_t k = 0; k < sizeof(ext) / sizeof(ext[0]); k++)
		if (cp >= ext[k].lo && cp <= ext[k].hi)
			return ext[k].s;
	return NULL;
}

static size_t u8len(const unsigned char *p, size_t n, uint32_t *cp)
{
	unsigned char c = p[0];
	size_t l;

	if (c < 0xc2 || c >= 0xf5)
		return 0;
	l = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (l > n)
		return 0;
	uint32_t v = c & (l == 2 ? 0x1f : l == 3 ? 0x0f : 0x07);
	for (size_t k = 1; k < l; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[k] & 0x3f);
	}
	*cp = v;
	return l;
}

size_t phi_fold(const char *s, size_t n, char *out, size_t cap)
{
	size_t i = 0, k = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) {
			i++;
			if (c == '\'')
				continue;
			if (k >= cap)
				return (size_t)-1;
			out[k++] = lc((char)c);
			continue;
		}
		uint32_t cp;
		size_t l = u8len((const unsigned char *)s + i, n - i, &cp);
		if (l == 0) {
			if (k >= cap)
				return (size_t)-1;
			out[k++] = (char)c;
			i++;
			continue;
		}
		i += l;
		if ((cp >= 0x300 && cp <= 0x36f) || cp == 0x2018 || cp == 0x2019 || cp == 0x2bc)
			continue; /* combining marks, apostrophes */
		const char *f = fold_latin(cp);
		size_t fl = f ? strlen(f) : l;
		if (k + fl > cap)
			return (size_t)-1;
		memcpy(out + k, f ? f : s + i - l, fl);
		k += fl;
	}
	return k;
}

/* Next word token at or after *i: [*ts,*te); an apostrophe between word characters joins
 * ("O'Brien"), a trailing possessive "'s" is split off and skipped. */
static bool next_tok(const char *s, size_t n, size_t *i, size_t *ts, size_t *te)
{
	size_t j = *i;

	while (j < n && !isword(s[j]))
		j++;
	if (j >= n)
		return false;
	*ts = j;
	while (j < n) {
		char c = s[j];
		if (isword(c)) {
			j++;
			continue;
		}
		if (c == '\'' && j + 1 < n) {
			if (lc(s[j + 1]) == 's' && (j + 2 == n || !isword(s[j + 2]))) {
				*te = j;
				*i = j + 2;
				return true;
			}
			if (isword(s[j + 1])) {
				j++;
				continue;
			}
		}
		break;
	}
	*te = j;
	*i = j;
	return true;
}

static uint32_t hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static const char *const usps[][2] = {
	{"street", "st"}, {"str", "st"}, {"avenue", "ave"}, {"av", "ave"}, {"road", "rd"},
	{"drive", "dr"}, {"lane", "ln"}, {"boulevard", "blvd"}, {"court", "ct"}, {"place", "pl"},
	{"terrace", "ter"}, {"circle", "cir"}, {"parkway", "pkwy"}, {"highway", "hwy"},
	{"square", "sq"}, {"trail", "trl"}, {"apartment", "apt"}, {"suite", "ste"}, {"north", "n"},
	{"south", "s"}, {"east", "e"}, {"west", "w"}, {"northeast", "ne"}, {"northwest", "nw"},
	{"southeast", "se"}, {"southwest", "sw"}, {"floor", "fl"}, {"building", "bldg"},
	{"mount", "mt"}, {"fort", "ft"}, {"saint", "st"}, {"expressway", "expy"},
	{"freeway", "fwy"}, {"heights", "hts"}, {"point", "pt"}, {"ridge", "rdg"},
	{"crossing", "xing"}, {"route", "rte"}, {"number", "no"}};
#define NUSPS (sizeof(usps) / sizeof(usps[0]))

/* Fold a token in place to its USPS abbreviation (Publication 28, Appendix C). */
static size_t usps_fold(char *b, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t k = 0; k < NUSPS; k++) {
		if (usps[k][0][0] == b[0] && strlen(usps[k][0]) == n && memcmp(usps[k][0], b, n) == 0) {
			size_t l = strlen(usps[k][1]);
			memcpy(b, usps[k][1], l);
			return l;
		}
	}
	return n;
}

/* --- word lists ----------------------------------------------------------------------------- */

static bool in_list(const char *const *list, const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (; *list; list++)
		if ((*list)[0] == s[0] && strlen(*list) == n && memcmp(*list, s, n) == 0)
			return true;
	return false;
}

static const char *const titles[] = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", NULL};
static const char *const name_skip[] = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "jr", "sr",
					"ii", "iii", "iv", "md", "phd", "rn", "np", "pa", "do", NULL};
static const char *const particles[] = {"van", "von", "der", "den", "de", "del", "della", "di", "da",
					"la", "le", "du", "des", "dos", "das", "st", "bin", "ibn", "al",
					"el", "ben", "mac", "y", "ter", "ten", NULL};
/* English words, clinical words and FHIR element names that are also given/family/city names. */
static const char *const common_words[] = {
	"may", "june", "april", "august", "will", "hope", "grace", "joy", "faith", "mark", "bill",
	"art", "rose", "lily", "iris", "violet", "ruby", "pearl", "amber", "dawn", "summer",
	"autumn", "winter", "sky", "rain", "ray", "sunny", "rich", "frank", "earl", "king", "young",
	"brown", "white", "black", "green", "gray", "grey", "long", "short", "little", "small",
	"bell", "hill", "wood", "woods", "stone", "cook", "price", "page", "case", "cross", "hall",
	"lane", "ford", "bush", "park", "street", "church", "chase", "dean", "major", "miles",
	"low", "love", "moody", "strong", "sharp", "swift", "wise", "hale", "fox", "wolf", "bird",
	"crane", "drake", "finch", "lamb", "bass", "fish", "rice", "bean", "berry", "honey",
	"sugar", "candy", "cash", "gold", "silver", "penny", "star", "angel", "christian", "pat",
	"sue", "don", "gene", "jack", "guy", "max", "dot", "eve", "ivy", "jade", "olive", "holly",
	"heather", "daisy", "poppy", "fern", "ash", "forest", "river", "brook", "dale", "glen",
	"cliff", "rock", "lake", "marsh", "field", "fields", "banks", "waters", "hunter", "fisher",
	"baker", "mason", "carter", "cooper", "porter", "turner", "walker", "parker", "nurse",
	"doctor", "bishop", "pope", "knight", "noble", "bond", "sterling", "best", "good",
	"happy", "merry", "bright", "early", "late", "day", "night", "snow", "frost", "storm",
	"hail", "wind", "head", "foot", "hand", "back", "hart", "heart", "blood", "bone", "cell",
	"mobile", "reading", "normal", "orange", "independence", "liberty", "union", "bath",
	"temple", "chance", "champion", "constant", "free", "freeman", "husband", "child", "pain",
	"payne", "care", "able", "sand", "shore", "beach", "bay", "wells", "spring", "springs",
	"valley", "mountain", "city", "hospital", "health", "patient", "medical", "center", "clinic",
	"code", "system", "value", "display", "text", "status", "category", "subject", "reference",
	"type", "use", "family", "given", "line", "state", "country", "period", "start", "end",
	"unit", "name", "meta", "version", "active", "gender", "male", "female", "note", "date",
	"time", "dose", "route", "order", "plan", "goal", "risk", "score", "level", "rate", "test",
	"result", "history", "home", "work", "office", "room", "bed", "ward", "floor", "north",
	"south", "east", "west", "lead", "read", "sign", "signs", "stable", "sharp", "clear",
	"sterile", "tender", "sweet", "salt", "pepper", "ginger", "basil", "sage", "mint", "clay",
	"glass", "steel", "iron", "copper", "tin", "lead", "marsh", "moss", "branch", "root",
	"leaf", "bloom", "page", "paige", "hardy", "gentle", "meek", "moon", "sun", "sol", "luz",
	"trust", "honor", "patience", "prudence", "charity", "mercy", "verity", "harmony", "melody",
	"destiny", "journey", "haven", "rain", "storm", "ocean", "sierra", "phoenix", "austin",
	"dallas", "houston", "jackson", "madison", "lincoln", "washington", "jefferson", "franklin",
	/* two-letter words and abbreviations */
	"do", "go", "no", "so", "to", "up", "us", "we", "he", "me", "my", "an", "as", "at", "be",
	"by", "if", "in", "is", "it", "of", "on", "or", "ok", "hi", "ad", "am", "pm", "id", "iv",
	"im", "po", "pr", "qd", "er", "or", "ob", "gi", "gu", "ct", "mr", "ms", "dr", "pt", "ot",
	NULL};
/* Words that turn a preceding surname into an eponym (disease, sign, score, device ...). */
static const char *const eponym_next[] = {
	"disease", "diseases", "syndrome", "syndromes", "sign", "signs", "palsy", "lymphoma",
	"sarcoma", "tumor", "tumour", "disorder", "reflex", "test", "maneuver", "manoeuvre",
	"procedure", "operation", "catheter", "tube", "score", "scale", "criteria",
	"classification", "fracture", "cyst", "esophagus", "ulcer", "anemia", "anaemia",
	"phenomenon", "law", "triad", "node", "nodes", "nodule", "nodules", "monitor",
	"ultrasound", "position", "respiration", "breathing", "coma", "inventory", "index",
	"method", "dementia", "chorea", "thyroiditis", "encephalopathy", "body", "bodies", "stage",
	"staging", "grade", "repair", "fundoplication", "hernia", "contracture", "neuroma",
	"nerve", "duct", "gland", "glands", "pouch", "diverticulum", "dystrophy", "ataxia",
	"aphasia", "area", "fever", "virus", "infection", "cell", "cells", "bag", "mask", "drain",
	"traction", "splint", "shunt", "valve", "technique", "approach", "incision", "point",
	"triangle", "canal", "membrane", "effect", "ratio", "rule", "equation", "formula", "curve",
	"protocol", "regimen", "tear", "lesion", "spot", "spots", "ring", "rings", "toxin",
	"bacillus", "stain", "agar", "reaction", "maneuvre", "lymphadenopathy", "arthritis",
	"angina", "aneurysm", "malformation", "anomaly", "tremor", "neuralgia", "nephritis",
	"hepatitis", "pneumonia", "encephalitis", "meningitis", "myopathy", "neuropathy",
	"type", "variant", "deformity", "line", "lines", "space", "organ", "organs", "murmur",
	"agitation", "agitation-sedation", "maneuvers", NULL};
/* Verbs a modal "May" / "Will" / "Can" at the start of a sentence runs into ("May need to ...",
 * "Will follow up"): a patient named May is not meant there. */
static const char *const modal_next[] = {
	"be", "need", "needs", "have", "require", "consider", "benefit", "continue", "start", "stop",
	"increase", "decrease", "titrate", "take", "use", "help", "develop", "cause", "include",
	"return", "resume", "follow", "not", "also", "still", "defer", "repeat", "recheck", "add",
	"hold", "trial", "switch", "proceed", "discuss", "call", "see", "wean", "discontinue",
	"monitor", "check", "obtain", "refer", "reassess", "plan", "try", NULL};

/* --- building ------------------------------------------------------------------------------- */

struct bent {
	char *s;          /* heap, wiped on free */
	uint16_t len, flen;
	uint8_t type, kind, ntok, min_tok, strength, max_joins, min_joins, usps;
};

struct builder {
	struct bent *v;
	size_t n, cap;
	struct kdate dates[64];
	size_t ndates;
	char *emails[64];
	size_t nemails;
	uint32_t initials, finitials;
	int err;
	struct toks *tk; /* tokeniser scratch, reused by every add_*; wiped once in builder_fini */
};

static void wipe_free(char *p, size_t n)
{
	if (p) {
		sodium_memzero(p, n);
		free(p);
	}
}

static void b_add(struct builder *b, const char *s, size_t len, size_t flen, int type, int kind,
		  int ntok, int min_tok, int strength, int max_joins, int min_joins, int usps_on)
{
	if (len == 0 || len > 1024)
		return;
	for (size_t k = 0; k < b->n; k++) {
		struct bent *x = &b->v[k];
		if (x->kind == kind && x->type == type && x->len == len && x->min_tok == min_tok &&
		    memcmp(x->s, s, len) == 0) {
			if (strength < x->strength)
				x->strength = (uint8_t)strength;
			return;
		}
	}
	if (b->n >= KMAX_ENTRIES) {
		b->err = -E2BIG;
		return;
	}
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 32;
		struct bent *nv = xcalloc(ncap, sizeof(*nv));
		if (b->n)
			memcpy(nv, b->v, b->n * sizeof(*nv));
		sodium_memzero(b->v, b->cap * sizeof(*b->v));
		free(b->v);
		b->v = nv;
		b->cap = ncap;
	}
	struct bent *x = &b->v[b->n++];
	x->s = xmalloc(len);
	memcpy(x->s, s, len);
	x->len = (uint16_t)len;
	x->flen = (uint16_t)flen;
	x->type = (uint8_t)type;
	x->kind = (uint8_t)kind;
	x->ntok = (uint8_t)ntok;
	x->min_tok = (uint8_t)min_tok;
	x->strength = (uint8_t)strength;
	x->max_joins = (uint8_t)max_joins;
	x->min_joins = (uint8_t)min_joins;
	x->usps = (uint8_t)usps_on;
}

/* Apply the scan text's Unicode normalisation to a context string (so both sides agree). */
static size_t norm_copy(const char *s, size_t n, char *out, size_t cap)
{
	size_t i = 0, k = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp;
		size_t l;
		char rep[4];
		int r;

		if (c < 0x80 || (l = u8len((const unsigned char *)s + i, n - i, &cp)) == 0) {
			if (k >= cap)
				return (size_t)-1;
			out[k++] = (char)c;
			i++;
			continue;
		}
		r = phi_norm_cp(cp, rep);
		if (r < 0) {
			if (k + l > cap)
				return (size_t)-1;
			memcpy(out + k, s + i, l);
			k += l;
		} else {
			if (k + (size_t)r > cap)
				return (size_t)-1;
			memcpy(out + k, rep, (size_t)r);
			k += (size_t)r;
		}
		i += l;
	}
	return k;
}

#define TOKS_MAX 24

struct toks {
	char buf[1024];
	size_t off[TOKS_MAX], len[TOKS_MAX], n;
	char raw[1024];              /* normalised source text */
	size_t rs[TOKS_MAX], re[TOKS_MAX];
};

/* The builder's tokeniser scratch (allocated on first use). It holds folded name and address
 * words between calls, so it is wiped with the builder, never left behind. */
static struct toks *b_toks(struct builder *b)
{
	if (!b->tk)
		b->tk = xmalloc(sizeof(*b->tk));
	return b->tk;
}

/* Tokenise and fold s; address: USPS folding. Returns the number of tokens. */
static size_t tokenize(const char *s, size_t n, bool address, struct toks *t)
{
	size_t rn = norm_copy(s, n, t->raw, sizeof(t->raw)), i = 0, ts, te, k = 0;

	t->n = 0;
	if (rn == (size_t)-1)
		return 0;
	while (t->n < TOKS_MAX && next_tok(t->raw, rn, &i, &ts, &te)) {
		size_t fl = phi_fold(t->raw + ts, te - ts, t->buf + k, sizeof(t->buf) - k);
		if (fl == (size_t)-1 || fl == 0 || fl > KMAX_TOKEN)
			continue;
		if (address)
			fl = usps_fold(t->buf + k, fl);
		t->off[t->n] = k;
		t->len[t->n] = fl;
		t->rs[t->n] = ts;
		t->re[t->n] = te;
		t->n++;
		k += fl;
	}
	return t->n;
}

/* Join tokens [a, b) with ' ' into out; returns the length. */
static size_t join(const struct toks *t, size_t a, size_t b, char *out, size_t *flen)
{
	size_t k = 0;

	for (size_t i = a; i < b; i++) {
		if (i > a)
			out[k++] = ' ';
		memcpy(out + k, t->buf + t->off[i], t->len[i]);
		k += t->len[i];
		if (i == a)
			*flen = t->len[i];
	}
	return k;
}

/* common_words sorted once (by length, then bytes) for a binary search: the list has ~360
 * entries and every name and address word of every context is looked up in it. */
static const char *common_sorted[sizeof(common_words) / sizeof(common_words[0])];
static size_t common_n;
static pthread_once_t common_once = PTHREAD_ONCE_INIT;

static int cmp_word(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return an < bn ? -1 : 1;
	return memcmp(a, b, an);
}

static int common_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;

	return cmp_word(x, strlen(x), y, strlen(y));
}

static void common_sort(void)
{
	for (const char *const *p = common_words; *p; p++)
		common_sorted[common_n++] = *p;
	qsort(common_sorted, common_n, sizeof(common_sorted[0]), common_cmp);
}

static bool is_common_word(const char *s, size_t n)
{
	size_t lo = 0, hi;

	pthread_once(&common_once, common_sort);
	hi = common_n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = cmp_word(common_sorted[mid], strlen(common_sorted[mid]), s, n);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int name_strength(const char *s, size_t n, bool alone)
{
	if (n < 2 || (!alone && in_list(particles, s, n)))
		return ST_WEAK;
	if (n == 2)
		return is_common_word(s, n) ? ST_WEAK : ST_SHORT;
	if (is_common_word(s, n))
		return ST_CAPS;
	return ST_STRONG;
}

static void add_name_string(struct builder *b, const char *s, bool given)
{
	struct toks *t = b_toks(b);
	size_t n = tokenize(s, strlen(s), false, t), kept = 0;
	/* "Le", "Al", "Van" as a whole name are names, not particles */
	bool alone = n == 1;
	char joined[1024];
	size_t jl = 0;
	bool main_initial = false;

	for (size_t i = 0; i < n; i++) {
		const char *w = t->buf + t->off[i];
		size_t l = t->len[i];
		if (in_list(name_skip, w, l))
			continue;
		if (given && kept == 0 && w[0] >= 'a' && w[0] <= 'z')
			b->initials |= 1u << (w[0] - 'a');
		/* a family name's initials: its first word's ("Al-Rashid" -> A., "de Vries" -> d.)
		 * and its first word that is not a particle (R., V.) */
		if (!given && w[0] >= 'a' && w[0] <= 'z' &&
		    (kept == 0 || (!main_initial && !in_list(particles, w, l)))) {
			b->finitials |= 1u << (w[0] - 'a');
			main_initial |= !in_list(particles, w, l);
		}
		b_add(b, w, l, l, PHI_T_NAME, K_WORDS, 1, 1, name_strength(w, l, alone), 0, 0, 0);
		/* parts of an apostrophe name: "O'Brien" -> "o" (weak), "brien" */
		const char *raw = t->raw + t->rs[i];
		size_t rl = t->re[i] - t->rs[i];
		const char *ap = memchr(raw, '\'', rl);
		if (ap) {
			char p1[KMAX_TOKEN + 1], p2[KMAX_TOKEN + 1];
			size_t l1 = phi_fold(raw, (size_t)(ap - raw), p1, KMAX_TOKEN);
			size_t l2 = phi_fold(ap + 1, rl - (size_t)(ap - raw) - 1, p2, KMAX_TOKEN);
			if (l1 != (size_t)-1 && l1)
				b_add(b, p1, l1, l1, PHI_T_NAME, K_WORDS, 1, 1, name_strength(p1, l1, false), 0, 0, 0);
			if (l2 != (size_t)-1 && l2)
				b_add(b, p2, l2, l2, PHI_T_NAME, K_WORDS, 1, 1, name_strength(p2, l2, false), 0, 0, 0);
		}
		if (jl + l < sizeof(joined)) {
			memcpy(joined + jl, w, l);
			jl += l;
		}
		kept++;
	}
	/* compound and hyphenated names written as one word: "vanderberg", "smithjones" */
	if (kept > 1 && jl >= 5 && jl <= KMAX_TOKEN)
		b_add(b, joined, jl, jl, PHI_T_NAME, K_WORDS, 1, 1, ST_STRONG, 0, 0, 0);
	sodium_memzero(joined, jl);
}

static void add_human_name(struct builder *b, const cJSON *hn)
{
	const cJSON *x;

	if (!cJSON_IsObject(hn))
		return;
	x = cJSON_GetObjectItemCaseSensitive(hn, "family");
	if (cJSON_IsString(x))
		add_name_string(b, x->valuestring, false);
	x = cJSON_GetObjectItemCaseSensitive(hn, "given");
	cJSON_ArrayForEach(x, x)
	{
		if (cJSON_IsString(x))
			add_name_string(b, x->valuestring, true);
	}
	x = cJSON_GetObjectItemCaseSensitive(hn, "text");
	if (cJSON_IsString(x))
		add_name_string(b, x->valuestring, false);
}

/* Squeeze to lower-case letters and digits. */
static size_t squeeze(const char *s, char *out, size_t cap)
{
	size_t k = 0;

	for (; *s; s++)
		if (isaln(*s) && k < cap)
			out[k++] = lc(*s);
	return k;
}

static void add_id(struct builder *b, const char *value, int type)
{
	char sq[KID_SQ];
	size_t n = squeeze(value, sq, sizeof(sq)), z = 0;

	if (strlen(value) > KID_SQ * 2)
		return;
	/* an SSN is always nine digits: leading zeros are significant */
	if (type == PHI_T_SSN && n == 9) {
		b_add(b, sq, n, 0, type, K_ID_EXACT, 0, 0, ST_STRONG, 4, 0, 0);
		sodium_memzero(sq, sizeof(sq));
		return;
	}
	while (z < n && sq[z] == '0')
		z++;
	if (n - z >= KID_MIN)
		b_add(b, sq + z, n - z, 0, type, K_ID_STRIP, 0, 0, ST_STRONG, 4, 0, 0);
	sodium_memzero(sq, sizeof(sq));
}

static void add_phone(struct builder *b, const char *value, int type)
{
	char dg[KID_SQ];
	size_t n = 0;

	for (const char *p = value; *p && n < sizeof(dg); p++)
		if (isdig(*p))
			dg[n++] = *p;
	const char *d = dg;
	if (n == 11 && dg[0] == '1') {
		d++;
		n--;
	}
	if (n == 10) {
		b_add(b, d, 10, 0, type, K_ID_EXACT, 0, 0, ST_STRONG, 4, 0, 0);
		/* the local number written alone, with its separator: 555-0123 */
		b_add(b, d + 3, 7, 0, type, K_ID_EXACT, 0, 0, ST_STRONG, 1, 1, 0);
	} else if (n >= 7) {
		b_add(b, d, n, 0, type, K_ID_EXACT, 0, 0, ST_STRONG, 5, 0, 0);
	}
	sodium_memzero(dg, sizeof(dg));
}

static void add_email(struct builder *b, const char *value)
{
	size_t n = strlen(value);

	if (b->nemails >= 64 || n == 0 || n > 320 || !strchr(value, '@'))
		return;
	char *e = xmalloc(n + 1);
	for (size_t i = 0; i <= n; i++)
		e[i] = lc(value[i]);
	b->emails[b->nemails++] = e;
}

static void add_date(struct builder *b, const char *v)
{
	int y, m, d;
	char buf[16];

	if (strlen(v) < 10 || sscanf(v, "%4d-%2d-%2d", &y, &m, &d) != 3 || !phi_date_valid(y, m, d))
		return;
	if (b->ndates < 64)
		b->dates[b->ndates++] = (struct kdate){(int16_t)y, (uint8_t)m, (uint8_t)d};
	/* compact forms are matched as identifiers: 19410303, 03031941 */
	snprintf(buf, sizeof(buf), "%04d%02d%02d", y, m, d);
	b_add(b, buf, 8, 0, PHI_T_DATE, K_ID_EXACT, 0, 0, ST_STRONG, 0, 0, 0);
	snprintf(buf, sizeof(buf), "%02d%02d%04d", m, d, y);
	b_add(b, buf, 8, 0, PHI_T_DATE, K_ID_EXACT, 0, 0, ST_STRONG, 0, 0, 0);
	snprintf(buf, sizeof(buf), "%02d%02d%02d", m, d, y % 100); /* mmddyy: 030341 */
	b_add(b, buf, 6, 0, PHI_T_DATE, K_ID_EXACT, 0, 0, ST_STRONG, 0, 0, 0);
	sodium_memzero(buf, sizeof(buf));
}

static void add_words(struct builder *b, const struct toks *t, size_t a, size_t e, int type, int min_tok,
		      int strength, bool address)
{
	char s[1024];
	size_t fl = 0, l = join(t, a, e, s, &fl);

	b_add(b, s, l, fl, type, K_WORDS, (int)(e - a), min_tok, strength, 0, 0, address);
	if (address) {
		/* key the entry under the long forms of an abbreviated first token too */
		for (size_t k = 0; k < NUSPS; k++) {
			const char *ab = usps[k][1], *lf = usps[k][0];
			if (strlen(ab) == fl && memcmp(ab, s, fl) == 0) {
				char s2[1100];
				size_t ll = strlen(lf);
				memcpy(s2, lf, ll);
				memcpy(s2 + ll, s + fl, l - fl);
				b_add(b, s2, ll + l - fl, ll, type, K_WORDS, (int)(e - a), min_tok, strength, 0, 0, 1);
				sodium_memzero(s2, sizeof(s2));
			}
		}
	}
	sodium_memzero(s, sizeof(s));
}

static void add_address(struct builder *b, const cJSON *ad)
{
	const cJSON *x;
	struct toks *t;

	if (!cJSON_IsObject(ad))
		return;
	t = b_toks(b);
	x = cJSON_GetObjectItemCaseSensitive(ad, "line");
	cJSON_ArrayForEach(x, x)
	{
		if (!cJSON_IsString(x))
			continue;
		size_t n = tokenize(x->valuestring, strlen(x->valuestring), true, t);
		if (n == 0)
			continue;
		bool num = isdig(t->buf[t->off[0]]);
		if (num && n >= 2)
			add_words(b, t, 0, n, PHI_T_ADDRESS, 2, ST_STRONG, true);
		if (num && n >= 3)
			add_words(b, t, 1, n, PHI_T_ADDRESS, 2, ST_STRONG, true);
		if (!num && n >= 2)
			add_words(b, t, 0, n, PHI_T_ADDRESS, n < 3 ? (int)n : 2, ST_STRONG, true);
	}
	static const char *const geo[] = {"city", "district", NULL};
	for (const char *const *g = geo; *g; g++) {
		x = cJSON_GetObjectItemCaseSensitive(ad, *g);
		if (!cJSON_IsString(x))
			continue;
		size_t n = tokenize(x->valuestring, strlen(x->valuestring), false, t);
		if (n == 1) {
			const char *w = t->buf + t->off[0];
			size_t l = t->len[0];
			int st = l <= 3 || is_common_word(w, l) ? ST_CAPS : ST_STRONG;
			add_words(b, t, 0, 1, PHI_T_CITY, 1, st, false);
		} else if (n > 1) {
			add_words(b, t, 0, n, PHI_T_CITY, (int)n, ST_STRONG, false);
		}
	}
	x = cJSON_GetObjectItemCaseSensitive(ad, "postalCode");
	if (cJSON_IsString(x)) {
		char dg[16];
		size_t n = 0;
		for (const char *p = x->valuestring; *p && n < sizeof(dg); p++)
			if (isdig(*p))
				dg[n++] = *p;
		if (n == 5 || n == 9) {
			b_add(b, dg, 5, 0, PHI_T_ZIP, K_ID_EXACT, 0, 0, ST_STRONG, 0, 0, 0);
			if (n == 9)
				b_add(b, dg, 9, 0, PHI_T_ZIP, K_ID_EXACT, 0, 0, ST_STRONG, 1, 0, 0);
		}
		sodium_memzero(dg, sizeof(dg));
	}
}

static void add_telecom(struct builder *b, const cJSON *arr)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, arr)
	{
		const cJSON *sys = cJSON_GetObjectItemCaseSensitive(x, "system");
		const cJSON *val = cJSON_GetObjectItemCaseSensitive(x, "value");
		if (!cJSON_IsString(val))
			continue;
		const char *s = cJSON_IsString(sys) ? sys->valuestring : "";
		if (strcmp(s, "email") == 0 || strchr(val->valuestring, '@'))
			add_email(b, val->valuestring);
		else if (strcmp(s, "fax") == 0)
			add_phone(b, val->valuestring, PHI_T_FAX);
		else if (strcmp(s, "url") == 0)
			continue; /* URLs are reported by the URL pattern */
		else
			add_phone(b, val->valuestring, PHI_T_PHONE);
	}
}

static bool coding_has(const cJSON *cc, const char *const *codes)
{
	const cJSON *c, *coding = cJSON_GetObjectItemCaseSensitive(cc, "coding");

	cJSON_ArrayForEach(c, coding)
	{
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(c, "code");
		if (cJSON_IsString(code) && in_list(codes, code->valuestring, strlen(code->valuestring)))
			return true;
	}
	return false;
}

static void add_identifiers(struct builder *b, const cJSON *arr, int dflt)
{
	static const char *const ss[] = {"SS", "SB", NULL};
	static const char *const mr[] = {"MR", "MRN", "MRT", NULL};
	static const char *const mb[] = {"MB", "MC", "MA", "SN", "MCN", NULL};
	const cJSON *x;

	cJSON_ArrayForEach(x, arr)
	{
		const cJSON *val = cJSON_GetObjectItemCaseSensitive(x, "value");
		const cJSON *sys = cJSON_GetObjectItemCaseSensitive(x, "system");
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(x, "type");
		int t = dflt;
		if (!cJSON_IsString(val))
			continue;
		if ((cJSON_IsString(sys) && strstr(sys->valuestring, "us-ssn")) || coding_has(type, ss))
			t = PHI_T_SSN;
		else if (coding_has(type, mr))
			t = PHI_T_MRN;
		else if (coding_has(type, mb))
			t = PHI_T_MEMBER_ID;
		add_id(b, val->valuestring, t);
	}
}

static void add_person(struct builder *b, const cJSON *r)
{
	const cJSON *x, *c;

	x = cJSON_GetObjectItemCaseSensitive(r, "name");
	if (cJSON_IsArray(x)) {
		cJSON_ArrayForEach(c, x) add_human_name(b, c);
	} else {
		add_human_name(b, x);
	}
	add_telecom(b, cJSON_GetObjectItemCaseSensitive(r, "telecom"));
	x = cJSON_GetObjectItemCaseSensitive(r, "address");
	if (cJSON_IsArray(x)) {
		cJSON_ArrayForEach(c, x) add_address(b, c);
	} else {
		add_address(b, x);
	}
	x = cJSON_GetObjectItemCaseSensitive(r, "birthDate");
	if (cJSON_IsString(x))
		add_date(b, x->valuestring);
	x = cJSON_GetObjectItemCaseSensitive(r, "deceasedDateTime");
	if (cJSON_IsString(x))
		add_date(b, x->valuestring);
	add_identifiers(b, cJSON_GetObjectItemCaseSensitive(r, "identifier"), PHI_T_IDENTIFIER);
	x = cJSON_GetObjectItemCaseSensitive(r, "id");
	if (cJSON_IsString(x) && strpbrk(x->valuestring, "0123456789")) {
		add_id(b, x->valuestring, PHI_T_IDENTIFIER);
	} else if (cJSON_IsString(x) && strlen(x->valuestring) >= 10) {
		/* a letters-only logical id (FHIR R4 id: [A-Za-z0-9-.]{1,64}, Epic's are often
		 * letters only): the identifier matcher starts on digits, so key it as words; a
		 * short one ("example") would be an ordinary word */
		struct toks *t = b_toks(b);
		size_t n = tokenize(x->valuestring, strlen(x->valuestring), false, t);
		if (n >= 1)
			add_words(b, t, 0, n, PHI_T_IDENTIFIER, (int)n, ST_STRONG, false);
	}
	x = cJSON_GetObjectItemCaseSensitive(r, "contact");
	cJSON_ArrayForEach(c, x)
	{
		add_human_name(b, cJSON_GetObjectItemCaseSensitive(c, "name"));
		add_telecom(b, cJSON_GetObjectItemCaseSensitive(c, "telecom"));
		add_address(b, cJSON_GetObjectItemCaseSensitive(c, "address"));
	}
}

static int walk(struct builder *b, const cJSON *node, int depth)
{
	int found = 0;
	const cJSON *c;

	if (depth > 64)
		return 0;
	if (cJSON_IsObject(node)) {
		const cJSON *rt = cJSON_GetObjectItemCaseSensitive(node, "resourceType");
		if (cJSON_IsString(rt)) {
			const char *s = rt->valuestring;
			if (!strcmp(s, "Patient") || !strcmp(s, "RelatedPerson") || !strcmp(s, "Person")) {
				add_person(b, node);
				found = 1;
			} else if (!strcmp(s, "Coverage")) {
				const cJSON *sub = cJSON_GetObjectItemCaseSensitive(node, "subscriberId");
				if (cJSON_IsString(sub))
					add_id(b, sub->valuestring, PHI_T_MEMBER_ID);
				add_identifiers(b, cJSON_GetObjectItemCaseSensitive(node, "identifier"),
						PHI_T_MEMBER_ID);
				found = 1;
			}
		}
	}
	if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
		cJSON_ArrayForEach(c, node) found |= walk(b, c, depth + 1);
	}
	return found;
}

/* Overwrite every string and number in the tree before it is freed. */
static void wipe_tree(cJSON *n)
{
	for (; n; n = n->next) {
		if (n->string)
			sodium_memzero(n->string, strlen(n->string));
		if (n->valuestring)
			sodium_memzero(n->valuestring, strlen(n->valuestring));
		n->valuedouble = 0;
		n->valueint = 0;
		wipe_tree(n->child);
	}
}

static void builder_fini(struct builder *b)
{
	for (size_t k = 0; k < b->n; k++)
		wipe_free(b->v[k].s, b->v[k].len);
	if (b->v) {
		sodium_memzero(b->v, b->cap * sizeof(*b->v));
		free(b->v);
	}
	for (size_t k = 0; k < b->nemails; k++)
		wipe_free(b->emails[k], strlen(b->emails[k]));
	wipe_free((char *)b->tk, b->tk ? sizeof(*b->tk) : 0);
	sodium_memzero(b, sizeof(*b));
}

static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/* 1..36 for [0-9a-z] (upper-case folded), 0 otherwise */
static const uint8_t idx36_tab[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['g'] = 17, ['h'] = 18, ['i'] = 19,
	['j'] = 20, ['k'] = 21, ['l'] = 22, ['m'] = 23, ['n'] = 24, ['o'] = 25, ['p'] = 26, ['q'] = 27, ['r'] = 28,
	['s'] = 29, ['t'] = 30, ['u'] = 31, ['v'] = 32, ['w'] = 33, ['x'] = 34, ['y'] = 35, ['z'] = 36,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16, ['G'] = 17, ['H'] = 18, ['I'] = 19,
	['J'] = 20, ['K'] = 21, ['L'] = 22, ['M'] = 23, ['N'] = 24, ['O'] = 25, ['P'] = 26, ['Q'] = 27, ['R'] = 28,
	['S'] = 29, ['T'] = 30, ['U'] = 31, ['V'] = 32, ['W'] = 33, ['X'] = 34, ['Y'] = 35, ['Z'] = 36};

static int idx36(char c)
{
	return (int)idx36_tab[(unsigned char)c] - 1;
}

static void pref_set(uint8_t *bm, const char *s)
{
	int a = idx36(s[0]), b = idx36(s[1]), c = idx36(s[2]);

	if (a >= 0 && b >= 0 && c >= 0) {
		unsigned i = ((unsigned)(a * 1296 + b * 36 + c) * 2654435761u) >> 20;
		bm[i >> 3] |= (uint8_t)(1u << (i & 7));
	}
}

static inline bool pref_test(const uint8_t *bm, char x, char y, char z)
{
	int a = idx36(x), b = idx36(y), c = idx36(z);

	if (a < 0 || b < 0 || c < 0)
		return false;
	unsigned i = ((unsigned)(a * 1296 + b * 36 + c) * 2654435761u) >> 20;
	return bm[i >> 3] & (1u << (i & 7));
}

/* Pair filter of the word pass: could a word key start with these two bytes? */
static inline unsigned pair_index(char c0, char c1)
{
	return ((unsigned)(c0 & 31) << 5) | (unsigned)(c1 & 31);
}

static unsigned wkey(unsigned char c0, unsigned char c1, size_t len)
{
	return ((c0 * 31u + c1) * 64u + (unsigned)(len & 63)) * 2654435761u >> 20;
}

int phi_context_from_patient_json(const char *json, size_t len, struct phi_context **out, struct err *e)
{
	cJSON *root;
	int rc;

	*out = NULL;
	if (len > (64u << 20))
		return err_set(e, -E2BIG, "phi: context JSON larger than 64 MiB");
	root = cJSON_ParseWithLengthOpts(json, len, NULL, 0);
	if (!root)
		return err_set(e, -EINVAL, "phi: context is not valid JSON");
	rc = phi_context_from_tree(root, out, e);
	wipe_tree(root);
	cJSON_Delete(root);
	return rc;
}

int phi_context_from_tree(const cJSON *root, struct phi_context **out, struct err *e)
{
	struct builder b;
	struct phi_context *ctx;
	size_t pool = 0, nbuck = 16, total;
	int rc = 0;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	if (!root || !walk(&b, root, 0)) {
		rc = err_set(e, -ENOENT, "phi: context holds no Patient, RelatedPerson, Person or Coverage");
		goto out;
	}
	if (b.err) {
		rc = err_set(e, b.err, "phi: context has more than %d identifiers", KMAX_ENTRIES);
		goto out;
	}
	for (size_t k = 0; k < b.n; k++)
		pool += b.v[k].len;
	for (size_t k = 0; k < b.nemails; k++)
		pool += strlen(b.emails[k]);
	while (nbuck < b.n * 2)
		nbuck *= 2;
	total = align16(sizeof(*ctx)) + align16(b.n * sizeof(struct kent)) + align16(nbuck * 4) +
		align16(b.n * 4) + align16(b.ndates * sizeof(struct kdate)) + align16(b.nemails * 6) +
		align16(pool + 1);
	/* one heap block, wiped on free: sodium_malloc's guard pages cost an mmap and three
	 * mprotect calls per request, measured at ~100 us in our VM — too much per hook call */
	ctx = xcalloc(1, total);
	ctx->total = total;
	char *p = (char *)ctx + align16(sizeof(*ctx));
	ctx->ent = (struct kent *)p;
	p += align16(b.n * sizeof(struct kent));
	ctx->buck = (uint32_t *)p;
	p += align16(nbuck * 4);
	ctx->ids = (uint32_t *)p;
	p += align16(b.n * 4);
	ctx->dates = (struct kdate *)p;
	p += align16(b.ndates * sizeof(struct kdate));
	ctx->email_off = (uint32_t *)p;
	ctx->email_len = (uint16_t *)(p + b.nemails * 4);
	p += align16(b.nemails * 6);
	ctx->pool = p;
	ctx->nbuck = (uint32_t)nbuck;
	ctx->initials = b.initials;
	ctx->finitials = b.finitials;

	size_t po = 0;
	for (size_t k = 0; k < b.n; k++) {
		struct bent *x = &b.v[k];
		struct kent *ke = &ctx->ent[ctx->nent];
		memcpy(ctx->pool + po, x->s, x->len);
		*ke = (struct kent){.str = (uint32_t)po, .len = x->len, .flen = x->flen, .type = x->type,
				    .kind = x->kind, .ntok = x->ntok, .min_tok = x->min_tok,
				    .strength = x->strength, .max_joins = x->max_joins,
				    .min_joins = x->min_joins, .usps = x->usps};
		po += x->len;
		if (x->kind == K_WORDS) {
			uint32_t h = hash(x->s, x->flen) & (ctx->nbuck - 1);
			ke->next = ctx->buck[h];
			ctx->buck[h] = ctx->nent + 1;
			ctx->first[(unsigned char)x->s[0]] = 1;
			ctx->lens |= 1ull << (x->flen < 63 ? x->flen : 63);
			unsigned wk = wkey((unsigned char)x->s[0], x->flen > 1 ? (unsigned char)x->s[1] : 0, x->flen);
			ctx->wbloom[wk >> 3] |= (uint8_t)(1u << (wk & 7));
			unsigned pi = pair_index(x->s[0], x->flen > 1 ? x->s[1] : 0);
			ctx->pair[pi >> 3] |= (uint8_t)(1u << (pi & 7));
		} else {
			ctx->ids[ctx->nids++] = ctx->nent;
			if (x->len > ctx->idmax)
				ctx->idmax = x->len;
			if (x->len >= 3) {
				pref_set(ctx->idpref, x->s);
				unsigned i2 = (unsigned)(idx36(x->s[0]) * 36 + idx36(x->s[1]));
				if (idx36(x->s[0]) >= 0 && idx36(x->s[1]) >= 0)
					ctx->id2[i2 >> 3] |= (uint8_t)(1u << (i2 & 7));
			}
		}
		ctx->nent++;
	}
	for (size_t k = 0; k < b.nemails; k++) {
		size_t l = strlen(b.emails[k]);
		memcpy(ctx->pool + po, b.emails[k], l);
		ctx->email_off[k] = (uint32_t)po;
		ctx->email_len[k] = (uint16_t)l;
		po += l;
	}
	ctx->nemails = (uint32_t)b.nemails;
	memcpy(ctx->dates, b.dates, b.ndates * sizeof(struct kdate));
	ctx->ndates = (uint32_t)b.ndates;
	*out = ctx;
out:
	builder_fini(&b);
	return rc;
}

size_t phi_context_block(const struct phi_context *ctx, const unsigned char **p)
{
	*p = (const unsigned char *)ctx;
	return ctx->total;
}

void phi_context_wipe(struct phi_context *ctx)
{
	sodium_memzero(ctx, ctx->total);
}

void phi_context_free(struct phi_context *ctx)
{
	if (!ctx)
		return;
	/* total is read before the wipe: the whole block, header included, is zeroed */
	sodium_memzero(ctx, ctx->total ? ctx->total : sizeof(*ctx));
	free(ctx);
}

void phi_context_prefetch(const struct phi_context *ctx)
{
	const char *p = (const char *)ctx;
	size_t n = ctx->total < 16384 ? ctx->total : 16384;

	for (size_t off = 0; off < n; off += 64)
		__builtin_prefetch(p + off, 0, 3);
}

size_t phi_context_size(const struct phi_context *ctx)
{
	return ctx ? ctx->nent + ctx->ndates + ctx->nemails : 0;
}

bool phi_known_date(const struct phi_context *ctx, int y, int m, int d)
{
	for (uint32_t k = 0; k < ctx->ndates; k++) {
		const struct kdate *x = &ctx->dates[k];
		if (x->m != m || x->d != d)
			continue;
		if (y == 0 || (y < 100 && x->y % 100 == y) || x->y == y)
			return true;
	}
	return false;
}

bool phi_known_email(const struct phi_context *ctx, const char *em, size_t n)
{
	for (uint32_t k = 0; k < ctx->nemails; k++)
		if (ctx->email_len[k] == n && memcmp(ctx->pool + ctx->email_off[k], em, n) == 0)
			return true;
	return false;
}

/* --- matching -------------------------------------------------------------------------------- */

struct ncand {
	uint32_t s, e;
	uint8_t strength, type;
	bool caps, ok;
};

struct nlist {
	struct ncand *v;
	size_t n, cap;
	struct ncand local[32]; /* most bodies name the patient a few times: no heap */
};

static void nl_push(struct nlist *l, struct ncand c)
{
	if (!l->v) {
		l->v = l->local;
		l->cap = 32;
	}
	if (l->n == l->cap) {
		struct ncand *nv = xmalloc(l->cap * 2 * sizeof(*nv));
		memcpy(nv, l->v, l->n * sizeof(*nv));
		if (l->v != l->local)
			free(l->v);
		l->v = nv;
		l->cap *= 2;
	}
	l->v[l->n++] = c;
}

static bool capitalised(const char *t, size_t s)
{
	unsigned char c = (unsigned char)t[s];

	if (c >= 'A' && c <= 'Z')
		return true;
	/* Latin-1 capitals U+00C0..U+00DE (except U+00D7) */
	return c == 0xc3 && (unsigned char)t[s + 1] >= 0x80 && (unsigned char)t[s + 1] <= 0x9e &&
	       (unsigned char)t[s + 1] != 0x97;
}

/* Gap between two tokens that still reads as one name/address: spaces, commas, periods. */
static size_t skip_gap(const char *t, size_t n, size_t i, size_t maxgap)
{
	size_t s = i;

	while (i < n && i - s < maxgap && (t[i] == ' ' || t[i] == ',' || t[i] == '.' || t[i] == '#' ||
					   t[i] == '-' || t[i] == '\t'))
		i++;
	return i;
}

/* Verify the remaining tokens of a multi-token key; returns the end of the last matched token
 * and the number of tokens matched. */
static size_t verify_seq(const struct phi_context *ctx, const struct kent *ke, const char *t, size_t n,
			 size_t te, size_t *matched)
{
	const char *ks = ctx->pool + ke->str, *kend = ks + ke->len;
	const char *kp = ks + ke->flen;
	size_t end = te, i = te, m = 1;

	while (kp < kend && *kp == ' ') {
		kp++;
		const char *kq = memchr(kp, ' ', (size_t)(kend - kp));
		size_t kl = kq ? (size_t)(kq - kp) : (size_t)(kend - kp);
		size_t g = skip_gap(t, n, i, 3), ts, tte, j = g;
		char buf[KMAX_TOKEN + 1];
		if (g == i && i < n && isword(t[i]))
			break;
		if (!next_tok(t, n, &j, &ts, &tte) || ts != g)
			break;
		size_t fl = phi_fold(t + ts, tte - ts, buf, KMAX_TOKEN);
		if (fl == (size_t)-1)
			break;
		if (ke->usps)
			fl = usps_fold(buf, fl);
		if (fl != kl || memcmp(buf, kp, kl) != 0)
			break;
		m++;
		end = tte;
		i = j;
		kp += kl;
	}
	*matched = m;
	return end;
}

static bool eponym_after(const char *t, size_t n, size_t e);

/* Does the text before s end with one of phrases (lower-case, single spaces), as whole words? */
static bool phrase_before(const char *t, size_t s, const char *const *phrases)
{
	size_t i = s;

	while (i > 0 && (t[i - 1] == ' ' || t[i - 1] == ','))
		i--;
	for (const char *const *p = phrases; *p; p++) {
		size_t l = strlen(*p), k;
		if (l > i)
			continue;
		for (k = 0; k < l && lc(t[i - l + k]) == (*p)[k]; k++)
			;
		if (k == l && (i == l || !isword(t[i - l - 1])))
			return true;
	}
	return false;
}

/* A one-word city that is also a common word ("Normal", "Hope", "Flint" after "Austin") counts
 * only where a place is expected: after "in", "from", "to", "near", "at", "of" or a comma,
 * before ", State", or as an HL7 address component. Capitalisation alone is not enough: FHIR
 * interpretation codes say "Normal". */
static bool city_cue(const char *t, size_t n, size_t s, size_t e)
{
	static const char *const before[] = {"in", "from", "to", "near", "at", "of", "moved", "lives", NULL};
	size_t i = s;

	/* ", TX" / ", Texas"; an HL7 XAD component "^City^ST^" */
	if (e + 3 <= n && t[e] == ',' && t[e + 1] == ' ' && t[e + 2] >= 'A' && t[e + 2] <= 'Z')
		return true;
	if ((s > 0 && (t[s - 1] == '^' || t[s - 1] == '|')) || (e < n && t[e] == '^'))
		return true;
	while (i > 0 && t[i - 1] == ' ')
		i--;
	if (i > 0 && t[i - 1] == ',' && i < s)
		return true;
	return phrase_before(t, i, before);
}

static int word_lookup(const struct phi_context *ctx, const char *t, size_t n, size_t ts, size_t te,
		       const char *fb, size_t fl, struct nlist *names, struct phi_hits *out)
{
	uint32_t h = hash(fb, fl) & (ctx->nbuck - 1);

	for (uint32_t k = ctx->buck[h]; k; k = ctx->ent[k - 1].next) {
		const struct kent *ke = &ctx->ent[k - 1];
		size_t end = te, m = 1;
		if (ke->flen != fl || memcmp(ctx->pool + ke->str, fb, fl) != 0)
			continue;
		if (ke->ntok > 1)
			end = verify_seq(ctx, ke, t, n, te, &m);
		if (m < ke->min_tok)
			continue;
		if (ke->type == PHI_T_NAME) {
			nl_push(names, (struct ncand){(uint32_t)ts, (uint32_t)end, ke->strength, ke->type,
						      capitalised(t, ts), false});
			continue;
		}
		if (ke->strength == ST_CAPS && ke->type == PHI_T_CITY ? !city_cue(t, n, ts, end)
									: ke->strength == ST_CAPS && !capitalised(t, ts))
			continue;
		/* "Austin Flint murmur", "Richmond Agitation-Sedation Scale" */
		if (ke->type == PHI_T_CITY && !city_cue(t, n, ts, end) && eponym_after(t, n, end))
			continue;
		int rc = phi_hits_push(out, ts, end, ke->type, PHI_SRC_KNOWN);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static inline bool is_join(char c)
{
	return phi_cc[(unsigned char)c] & PHI_CC_JOIN; /* ' ' '-' '.' '/' '(' ')' */
}

/* Do the two characters at p (the second read across separators) start an identifier key? */
static inline bool id2_at(const struct phi_context *ctx, const char *t, size_t n, size_t p)
{
	size_t j = p + 1;
	int a = idx36(lc(t[p])), b;

	while (j < n && is_join(t[j]))
		j++;
	if (j >= n || a < 0 || (b = idx36(lc(t[j]))) < 0)
		return false;
	unsigned i2 = (unsigned)(a * 36 + b);
	return ctx->id2[i2 >> 3] & (1u << (i2 & 7));
}

/* id_quick's last test: the hashed three-character prefix, raw and after leading zeros, read
 * across separators the way id_match_at reads the candidate. Out of line: its arrays bring
 * the stack protector's check, which the inline filters before it spare most candidates. */
static __attribute__((noinline)) bool id_quick3(const struct phi_context *ctx, const char *t, size_t n, size_t p)
{
	char c3[3], d3[3];
	size_t q = 0, dq = 0, i = p, zz = 0;
	bool lead = true;

	while (i < n && (q < 3 || dq < 3)) {
		char c = t[i];
		if (isaln(c)) {
			if (q < 3)
				c3[q++] = lc(c);
			if (lead && c == '0') {
				zz++;
			} else {
				lead = false;
				if (dq < 3)
					d3[dq++] = lc(c);
			}
			i++;
		} else if (is_join(c) && i + 1 < n && (isaln(t[i + 1]) || is_join(t[i + 1]))) {
			i++;
		} else {
			break;
		}
	}
	return (q == 3 && pref_test(ctx->idpref, c3[0], c3[1], c3[2])) ||
	       (dq == 3 && zz && pref_test(ctx->idpref, d3[0], d3[1], d3[2]));
}

/* Could an identifier key start at p? Most candidates (lab values, doses, times) stop at the
 * two-character filters, inline. */
static inline bool id_quick(const struct phi_context *ctx, const char *t, size_t n, size_t p)
{
	/* the first two characters, read the same way, must start a key: as written, or after
	 * the leading zeros (a stripped key); then the three-character prefix, out of line */
	if (p >= n)
		return false;
	if (t[p] != '0') {
		if (!id2_at(ctx, t, n, p))
			return false;
	} else if (!id2_at(ctx, t, n, p)) {
		size_t j = p;
		while (j < n && (t[j] == '0' || is_join(t[j])))
			j++;
		if (j >= n || !id2_at(ctx, t, n, j))
			return false;
	}
	return id_quick3(ctx, t, n, p);
}

/* Identifier keys at candidate start p (id_quick passed). */
static __attribute__((noinline)) int id_match_at(const struct phi_context *ctx, const char *t, size_t n, size_t p,
						 struct phi_hits *out)
{
	char sq[KID_SQ];
	uint32_t pos[KID_SQ];
	uint8_t jn[KID_SQ];
	size_t k = 0, j = p, z = 0, zs = 0;
	unsigned nj = 0;

	/* read no further than the longest key after the leading zeros (zs) could reach */
	while (k < KID_SQ && j < n && k < zs + ctx->idmax) {
		char c = t[j];
		if (isaln(c)) {
			if (c == '0' && zs == k)
				zs++;
			sq[k] = lc(c);
			pos[k] = (uint32_t)j;
			jn[k] = (uint8_t)nj;
			k++;
			j++;
			continue;
		}
		size_t s0 = j;
		while (j < n && j - s0 < 3 && is_join(t[j]))
			j++;
		if (j > s0 && j < n && isaln(t[j])) {
			nj++;
			continue;
		}
		break;
	}
	while (z < k && sq[z] == '0')
		z++;
	for (uint32_t x = 0; x < ctx->nids; x++) {
		const struct kent *ke = &ctx->ent[ctx->ids[x]];
		size_t off = ke->kind == K_ID_STRIP ? z : 0, L = ke->len;
		if (L == 0 || off + L > k || memcmp(sq + off, ctx->pool + ke->str, L) != 0)
			continue;
		size_t last = off + L - 1;
		size_t after = pos[last] + 1;
		/* must end where the token ends (or at a digit/letter switch) */
		if (after < n && isaln(t[after]) && isdig(t[after]) == isdig(t[pos[last]]))
			continue;
		unsigned joins = jn[last] - jn[off];
		if (joins > ke->max_joins || joins < ke->min_joins)
			continue;
		int rc = phi_hits_push(out, pos[0], after, ke->type, PHI_SRC_KNOWN);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Identifier keys at candidate start p. */
static inline int id_match(const struct phi_context *ctx, const char *t, size_t n, size_t p, struct phi_hits *out)
{
	return id_quick(ctx, t, n, p) ? id_match_at(ctx, t, n, p, out) : 0;
}

static bool title_before(const char *t, size_t s)
{
	size_t i = s, e;
	char b[8];

	while (i > 0 && (t[i - 1] == ' ' || t[i - 1] == '.'))
		i--;
	e = i;
	while (i > 0 && isalp(t[i - 1]) && e - i < 6)
		i--;
	/* "Ms. Li" but not "452 ms." */
	if (e == i || (i > 0 && isword(t[i - 1])) || !(t[i] >= 'A' && t[i] <= 'Z'))
		return false;
	for (size_t k = i; k < e; k++)
		b[k - i] = lc(t[k]);
	return in_list(titles, b, e - i);
}

/* The patient's own name where a person is introduced: "this is may", "my mom chase", "its
 * chase (my mrn is ...)" — patient portal messages are written in lower case. */
static bool intro_before(const char *t, size_t s)
{
	static const char *const intro[] = {"this is", "it's", "its", "it is", "my name is", "i am", "i'm",
					    "my mom", "my mother", "my dad", "my father", "my partner", "my wife",
					    "my husband", "my son", "my daughter", "my sister", "my brother",
					    "my niece", "my nephew", "my aunt", "my uncle", "my cousin", "my grandson",
					    "my granddaughter", "my grandmother", "my grandfather", "my friend",
					    "my neighbor", "my caregiver",
					    "signed", "thanks", "thank you", "regards", "sincerely", NULL};
	return phrase_before(t, s, intro);
}

/* The patient's own name signing a message off: the last word of its line or text, a thanks or
 * an apology among the six words before it on the same line — "... thx may", "thank you so
 * much bill", "sorry for the long message, joy!" (found missing by the independent corpus,
 * seed 12). A common word ending a thank-you ("thanks, I will") needs the patient to be called
 * so as well, and is then redacted: the name takes precedence. */
static bool signoff_at(const char *t, size_t n, size_t s, size_t e)
{
	static const char *const thanks[] = {"thx", "thanks", "thank", "ty", "tia", "sorry", "cheers", "regards",
					     "sincerely", "best", "appreciate", "appreciated", "love", NULL};
	size_t i = e;

	while (i < n && i - e < 3 && (t[i] == '.' || t[i] == '!' || t[i] == ' ' || t[i] == ')'))
		i++;
	if (i < n && t[i] != '\n' && t[i] != '\r' && t[i] != '<')
		return false;
	i = s;
	for (int w = 0; w < 6; w++) {
		char b[16];
		size_t we;
		while (i > 0 && (t[i - 1] == ' ' || t[i - 1] == ',' || t[i - 1] == '-' || t[i - 1] == '!' || t[i - 1] == '.'))
			i--;
		we = i;
		while (i > 0 && isalp(t[i - 1]) && we - i < sizeof(b))
			i--;
		if (i == we || (i > 0 && isword(t[i - 1])))
			return false; /* not a word, or one too long for the list */
		for (size_t k = i; k < we; k++)
			b[k - i] = lc(t[k]);
		if (in_list(thanks, b, we - i))
			return true;
	}
	return false;
}

/* A capitalised name part as the subject of a clinical sentence: "Will can be reached at",
 * "Rich resting in Rm 923B", "April reports ...". */
static bool subject_after(const char *t, size_t n, size_t e)
{
	static const char *const verbs[] = {" can be reached", " resting", " reports", " reported", " states",
					    " stated", " denies", " denied", " presents", " presented",
					    " was seen", " is seen", " tolerated", " tolerating", " ambulating",
					    " called", " calls", NULL};
	for (const char *const *v = verbs; *v; v++) {
		size_t l = strlen(*v);
		if (e + l <= n && strncmp(t + e, *v, l) == 0 && (e + l == n || !isword(t[e + l])))
			return true;
	}
	return false;
}

/* "May need to titrate", "Will follow up": a capitalised modal verb, not the patient. */
static bool modal_at(const char *t, size_t n, size_t s, size_t e)
{
	size_t i = e, ts, te;
	char b[KMAX_TOKEN + 1];

	if (e - s > 4 || !(t[s] >= 'A' && t[s] <= 'Z') ||
	    !((e - s == 3 && (strncasecmp(t + s, "may", 3) == 0 || strncasecmp(t + s, "can", 3) == 0)) ||
	      (e - s == 4 && strncasecmp(t + s, "will", 4) == 0)))
		return false;
	if (i >= n || t[i] != ' ' || !next_tok(t, n, &i, &ts, &te) || ts != e + 1)
		return false;
	size_t l = phi_fold(t + ts, te - ts, b, KMAX_TOKEN);
	return l != (size_t)-1 && in_list(modal_next, b, l);
}

static bool eponym_after(const char *t, size_t n, size_t e)
{
	size_t i = e, ts, te;
	char b[KMAX_TOKEN + 1];

	if (i + 1 < n && t[i] == '\'' && lc(t[i + 1]) == 's')
		i += 2;
	if (i < n && t[i] != ' ' && t[i] != '-')
		return false;
	if (!next_tok(t, n, &i, &ts, &te) || ts > e + 4)
		return false;
	size_t l = phi_fold(t + ts, te - ts, b, KMAX_TOKEN);
	return l != (size_t)-1 && in_list(eponym_next, b, l);
}

/* Gap between two name parts: separators and single-letter initials ("John Q. Smith"). */
static bool name_gap(const char *t, size_t a, size_t b)
{
	if (b < a || b - a > 6)
		return false;
	for (size_t i = a; i < b; i++) {
		char c = t[i];
		if (c == ' ' || c == ',' || c == '.' || c == '-')
			continue;
		if (isalp(c) && (i == a || !isalp(t[i - 1])) && (i + 1 == b || !isalp(t[i + 1])))
			continue;
		return false;
	}
	return true;
}

static bool initial_at(const struct phi_context *ctx, char c)
{
	c = lc(c);
	return c >= 'a' && c <= 'z' && (ctx->initials & (1u << (c - 'a')));
}

/* The family name's initial right after a given name: "Hope K.", "Art S.," (a clinician's
 * shorthand for the patient; the initial must be the patient's, and a period follows). */
static bool family_initial_after(const struct phi_context *ctx, const char *t, size_t n, size_t e)
{
	if (e + 3 > n || t[e] != ' ' || !isalp(t[e + 1]) || t[e + 2] != '.')
		return false;
	/* a lower-case particle's initial ("Bill d." for de Vries), not "May e.g." */
	if (t[e + 1] >= 'a' && e + 3 < n && isalp(t[e + 3]))
		return false;
	return ctx->finitials & (1u << (lc(t[e + 1]) - 'a'));
}

/* A given-name initial written right before s: "J. Smith", "J Smith". */
static bool initial_before(const struct phi_context *ctx, const char *t, size_t s)
{
	size_t q = s;

	while (q > 0 && t[q - 1] == ' ')
		q--;
	if (q > 0 && t[q - 1] == '.')
		q--;
	return q < s && q > 0 && t[q - 1] >= 'A' && t[q - 1] <= 'Z' && (q == 1 || !isword(t[q - 2])) &&
	       initial_at(ctx, t[q - 1]);
}

/* Two-letter name part accepted alone: written "Li" (not "LI"/"li") and not a lab symbol
 * followed by a number ("Li 0.8 mEq/L"). */
static bool short_ok(const char *t, size_t n, const struct ncand *c)
{
	size_t i = c->e;

	if (!(t[c->s] >= 'A' && t[c->s] <= 'Z') || !(t[c->s + 1] >= 'a' && t[c->s + 1] <= 'z'))
		return false;
	while (i < n && t[i] == ' ')
		i++;
	return !(i < n && isdig(t[i]));
}

/* A common-word name ("Will", "May", "Hope") capitalised only because it starts a sentence is a
 * name only when a third-person verb or punctuation follows: "Will reports ..." yes, "Will
 * continue ..." and "May increase ..." no. */
static bool caps_ok(const char *t, size_t n, const struct ncand *c)
{
	size_t q = c->s, i = c->e, ts, te;

	while (q > 0 && t[q - 1] == ' ')
		q--;
	if (q > 0 && !strchr(".!?:;\n\"*-", t[q - 1]))
		return true; /* mid-sentence capital */
	if (q > 0 && t[q - 1] == '-' && q > 1 && t[q - 2] != ' ' && t[q - 2] != '\n')
		return true;
	if (i < n && t[i] != ' ')
		return true; /* "Hope," "Hope's" */
	if (!next_tok(t, n, &i, &ts, &te) || ts != c->e + 1)
		return true;
	size_t l = te - ts;
	if (t[te - 1] == 's' || (l > 2 && t[te - 2] == 'e' && t[te - 1] == 'd'))
		return true;
	static const char *const aux[] = {"is", "was", "has", "had", "did", "does", "can't", "cannot",
					  "and", "or", "came", "went", "said", "felt", "got", "saw", "took",
					  "left", "told", "gave", "ran", "fell", "ate", "slept", "sat", "stood",
					  "thought", "knew", "made", "brought", "became", "began", "spoke",
					  "wrote", "drove", "woke", "arrived", "presents", NULL};
	char b[16];
	if (l < sizeof(b)) {
		for (size_t k = 0; k < l; k++)
			b[k] = lc(t[ts + k]);
		if (in_list(aux, b, l))
			return true;
	}
	return false;
}

static int resolve_names(const struct phi_context *ctx, const char *t, size_t n, struct nlist *l,
			 struct phi_hits *out)
{
	size_t i;
	bool changed;

	for (i = 0; i < l->n; i++) {
		struct ncand *c = &l->v[i];
		bool prev_adj = i > 0 && name_gap(t, l->v[i - 1].e, c->s);
		bool next_adj = i + 1 < l->n && name_gap(t, c->e, l->v[i + 1].s);
		bool title = title_before(t, c->s);
		if (!prev_adj && !next_adj && !title && (eponym_after(t, n, c->e) || modal_at(t, n, c->s, c->e))) {
			c->strength = 255; /* dropped */
			continue;
		}
		c->ok = c->strength == ST_STRONG || (c->strength == ST_CAPS && c->caps && caps_ok(t, n, c)) ||
			(c->strength == ST_SHORT && short_ok(t, n, c)) || (c->strength != ST_WEAK && title) ||
			(c->strength == ST_WEAK && c->e - c->s > 1 && title) || initial_before(ctx, t, c->s) ||
			(c->strength != ST_WEAK && c->caps && family_initial_after(ctx, t, n, c->e)) ||
			(c->strength != ST_WEAK && (intro_before(t, c->s) || signoff_at(t, n, c->s, c->e))) ||
			(c->strength != ST_WEAK && c->caps && subject_after(t, n, c->e));
	}
	/* two parts of the patient's name side by side confirm each other ("Al Ho", "joy green") */
	do {
		changed = false;
		for (i = 0; i < l->n; i++) {
			struct ncand *c = &l->v[i];
			if (c->ok || c->strength == 255)
				continue;
			if ((i > 0 && l->v[i - 1].strength != 255 && name_gap(t, l->v[i - 1].e, c->s)) ||
			    (i + 1 < l->n && l->v[i + 1].strength != 255 && name_gap(t, c->e, l->v[i + 1].s))) {
				c->ok = true;
				changed = true;
			}
		}
	} while (changed);
	for (i = 0; i < l->n;) {
		if (!l->v[i].ok) {
			i++;
			continue;
		}
		size_t s = l->v[i].s, e = l->v[i].e, j = i + 1;
		while (j < l->n) {
			if (!l->v[j].ok) {
				j++;
				continue;
			}
			if (l->v[j].s < e || name_gap(t, e, l->v[j].s)) {
				if (l->v[j].e > e)
					e = l->v[j].e;
				j++;
				continue;
			}
			break;
		}
		/* "J. Smith", "J Smith": an initial of a given name right before */
		if (initial_before(ctx, t, s)) {
			size_t q = s;
			while (q > 0 && (t[q - 1] == ' ' || t[q - 1] == '.'))
				q--;
			s = q - 1;
		}
		/* "Smith, J." */
		if (e + 2 < n && t[e] == ',' && t[e + 1] == ' ' && isalp(t[e + 2]) && initial_at(ctx, t[e + 2]) &&
		    (e + 3 == n || !isword(t[e + 3])))
			e = (e + 3 < n && t[e + 3] == '.') ? e + 4 : e + 3;
		int rc = phi_hits_push(out, s, e, PHI_T_NAME, PHI_SRC_KNOWN);
		if (rc < 0)
			return rc;
		i = j;
	}
	return 0;
}

/* Could an identifier key start at p (token [p, te))? Three-character prefix bitmap, read
 * straight from the token when it is long enough, else across separators. */
static inline __attribute__((always_inline)) bool id_maybe(const struct phi_context *ctx, const char *t, size_t n,
								 size_t p, size_t te)
{
	if (te - p >= 3 && t[p] != '0')
		return pref_test(ctx->idpref, t[p], t[p + 1], t[p + 2]);
	if (te - p < 3 && !(te + 1 < n && is_join(t[te]) && isaln(t[te + 1])) &&
	    !(te + 2 < n && is_join(t[te]) && is_join(t[te + 1]) && isaln(t[te + 2])))
		return false;
	return true; /* leading zeros or a short first group: id_match filters exactly */
}

static inline bool bm_any(const uint64_t *m, size_t s, size_t e)
{
	size_t ws = s >> 6, we = (e - 1) >> 6;
	uint64_t lo = ~0ull << (s & 63), hi = ~0ull >> (63 - ((e - 1) & 63));

	if (ws == we)
		return m[ws] & lo & hi;
	if (m[ws] & lo)
		return true;
	for (size_t w = ws + 1; w < we; w++)
		if (m[w])
			return true;
	return m[we] & hi;
}

/* Could an ASCII token of len bytes at ts equal a word key? (first, second, length) bloom. */
static inline bool word_key_maybe(const struct phi_context *ctx, const char *t, size_t ts, size_t len)
{
	unsigned wk = wkey((unsigned char)lc(t[ts]), len > 1 ? (unsigned char)lc(t[ts + 1]) : 0, len);

	return ctx->wbloom[wk >> 3] & (1u << (wk & 7));
}

/* The word keys of token [ts, te) (at most KMAX_TOKEN bytes): folded and looked up. Out of
 * line: its buffer brings the stack protector's check, which the filters before it spare most
 * tokens. */
static __attribute__((noinline)) int known_words(const struct phi_context *ctx, const char *t, size_t n, size_t ts,
						 size_t te, struct nlist *names, struct phi_hits *out)
{
	char fb[KMAX_TOKEN + 1];
	size_t fl = phi_fold(t + ts, te - ts, fb, KMAX_TOKEN);

	if (fl != (size_t)-1 && fl > 0 && ctx->first[(unsigned char)fb[0]])
		return word_lookup(ctx, t, n, ts, te, fb, fl, names, out);
	return 0;
}

/* The context's identifiers in one token [ts, te). ids = false leaves out the identifier keys
 * (the word pass: a letters-only token can start an identifier only when a digit follows, and
 * the digit pass checks that from the digit's side). */
static inline int known_token(const struct phi_context *ctx, const char *t, size_t n, size_t ts, size_t te,
			      bool digit, bool alpha, bool ascii, bool ids, struct nlist *names, struct phi_hits *out)
{
	size_t len = te - ts;
	int rc = 0;

	/* word keys: (first, second, length) bloom filter for plain ASCII tokens */
	if (len <= KMAX_TOKEN && (!ascii || word_key_maybe(ctx, t, ts, len))) {
		rc = known_words(ctx, t, n, ts, te, names, out);
		if (rc < 0)
			return rc;
	}
	if (!ctx->nids || !ids)
		return 0;
	/* identifier keys; a letters-only token starts one when digits follow a separator
	 * ("zkq-987-654-321"); "MRN00123456" also starts one at its first digit */
	if (!digit) {
		if (te + 1 < n && is_join(t[te]) && t[te] != ' ' && isdig(t[te + 1]))
			rc = id_match(ctx, t, n, ts, out);
		return rc;
	}
	if (id_maybe(ctx, t, n, ts, te))
		rc = id_match(ctx, t, n, ts, out);
	if (rc == 0 && alpha) {
		for (size_t k = ts + 1; k < te; k++) {
			if (isdig(t[k])) {
				if (isalp(t[k - 1]) && id_maybe(ctx, t, n, k, te))
					rc = id_match(ctx, t, n, k, out);
				break;
			}
		}
	}
	return rc;
}

/* Is position p inside a token that began earlier: a word byte before it, or an apostrophe
 * joining two word bytes ("O'Brien"; a possessive "'s" is skipped the same way)? */
static inline bool token_continues(const char *t, size_t lo, size_t p)
{
	return p > lo && (isword(t[p - 1]) || (t[p - 1] == '\'' && p - 1 > lo && isword(t[p - 2])));
}

/* Token [*ts, *te) starting at ts (a word byte): apostrophes between word bytes join, a
 * possessive 's ends it (*skip = 2). */
static inline void token_at(const struct phi_dec *d, size_t ts, size_t *te, size_t *skip, bool *apos)
{
	const char *t = d->t;
	size_t n = d->n, e = phi_bm_next(d, ts, false);

	*skip = 0;
	*apos = false;
	while (e + 1 < n && t[e] == '\'') {
		if (lc(t[e + 1]) == 's' && (e + 2 == n || !isword(t[e + 2]))) {
			*skip = 2;
			break;
		}
		if (!isword(t[e + 1]))
			break;
		*apos = true;
		e = phi_bm_next(d, e + 1, false);
	}
	*te = e;
}

static void names_sort(struct nlist *l)
{
	/* stable insertion sort by start: the digit and word passes each push in order */
	for (size_t i = 1; i < l->n; i++) {
		struct ncand x = l->v[i];
		size_t j = i;
		while (j > 0 && l->v[j - 1].s > x.s) {
			l->v[j] = l->v[j - 1];
			j--;
		}
		l->v[j] = x;
	}
}

/* Identifier keys starting on a letters-only token before the digit token at ts and joined to
 * it by separators, none a space next to ts: the member id "zkq-987-654-321", and a logical id
 * whose first hex groups hold no digit, "fdbabddc-de47-47ab-..." (the digit token is "de47").
 * Each of up to four such tokens back is a candidate start, the most joins an identifier key
 * allows (add_id). lo: where the current token walk began (token_continues). */
static inline int id_joined_before(const struct phi_context *ctx, const struct phi_dec *d, size_t lo, size_t ts,
				   struct phi_hits *out)
{
	const char *t = d->t;
	size_t q = ts;

	for (int hop = 0; hop < 4; hop++) {
		/* a separator other than a space, a word byte before it, not a possessive "'s" */
		if (q < 2 || t[q - 1] == ' ' || !is_join(t[q - 1]) || !isword(t[q - 2]) ||
		    (q >= 4 && t[q - 3] == '\'' && lc(t[q - 2]) == 's' && isword(t[q - 4])))
			break;
		size_t ps = q - 1;
		while (token_continues(t, lo, ps))
			ps--;
		if (ps == q - 1 || bm_any(d->dm, ps, q - 1))
			break; /* not a letters-only token */
		int rc = id_match(ctx, t, d->n, ps, out);
		if (rc < 0)
			return rc;
		q = ps;
	}
	return 0;
}

/* The length (1 or 2) of a separator the shape cutter joins digit groups with (phi_valid.c
 * shape_run: one of "-./: )(" or ") " / " (") at te when a digit follows it, else 0. */
static inline size_t shape_sep_len(const char *t, size_t n, size_t te)
{
	if (te + 1 >= n)
		return 0;
	char a = t[te], b = t[te + 1];
	if ((a == ')' && b == ' ') || (a == ' ' && b == '('))
		return te + 2 < n && isdig(t[te + 2]) ? 2 : 0;
	return (a == '-' || a == '.' || a == '/' || a == ':' || a == ' ' || a == ')' || a == '(') && isdig(b);
}

/* Can a shape window (phi_valid.c shape_windows) start at the digit group [ts, te) of at most
 * four digits, which the separator of length sl and a digit follow? A window of one group
 * holds five digits or more; a window of two groups is joined by one '-' (3+4 or 4+2 digits)
 * or '/' (1..2+4); no window holds a ':'. So only a group that two more follow, or one of
 * those two-group runs, starts one. The token pass then cuts the run from here; otherwise the
 * next group is its next digit token, and windows starting there are tried from there, as
 * the cutter would have (sidecar/phi_test.c test_shape_prefilter compares the two). */
static inline bool shape_may_start(const char *t, size_t n, size_t ts, size_t te, size_t sl)
{
	char s = t[te];
	size_t g = te + sl, q = g;

	if (sl == 1 && s == ':')
		return false;
	while (q < n && isdig(t[q]))
		q++;
	if (q < n && !isalp(t[q]) && shape_sep_len(t, n, q))
		return true; /* three groups or more */
	size_t l0 = te - ts, l1 = q - g;
	return sl == 1 && ((s == '-' && ((l0 == 3 && l1 == 4) || (l0 == 4 && l1 == 2))) ||
			   (s == '/' && l0 <= 2 && l1 == 4));
}

/* Two passes over the tokens of the scan text (a token: a run of word bytes, apostrophes
 * between word bytes joining):
 *   1. the digit pass jumps from digit to digit on the digit bitmap and handles every token
 *      that holds a digit: the shape validators, and with a context all of known_token, plus
 *      the identifier a letters-only token starts when a separator and a digit follow it;
 *   2. with a context, the word pass visits the start of every other token (from the word
 *      bitmap) and rejects most on a two-byte filter of the context's word keys before
 *      finding the token's end.
 * Tokens without digits cost nothing in pass 1, which is most of clinical prose. */
int phi_token_scan(const struct phi_context *ctx, struct phi_vctx *vc, phi_emit_fn emit, void *arg,
		   struct phi_hits *out)
{
	const struct phi_dec *d = vc->d;
	const char *t = d->t;
	size_t n = d->n, i = 0, shape_until = 0;
	struct nlist names;
	int rc = 0;

	names.v = NULL;
	names.n = names.cap = 0;
	while (rc == 0) {
		size_t p = phi_bits_next(d, d->dm, i, true), ts = p, te, skip = 0;
		bool apos = false, alpha = false, high = false;
		if (p >= n)
			break;
		/* the common token, digits only, with no word byte or apostrophe on either side:
		 * its bounds come from the digit bitmap alone (what token_at would find) */
		size_t q = phi_bits_next(d, d->dm, p, false);
		bool plain = !token_continues(t, i, p) && (q == n || (!isword(t[q]) && t[q] != '\''));
		if (plain) {
			te = q;
		} else {
			while (token_continues(t, i, ts))
				ts--;
			token_at(d, ts, &te, &skip, &apos);
			alpha = bm_any(d->am, ts, te);
			high = bm_any(d->hm, ts, te);
		}
		/* digit- and alnum-shaped identifiers, and ages with the sex ("99F") */
		if (!high && !apos) {
			if (!alpha) {
				/* one group of at most four digits fits no shape (phi_valid.c
				 * shape_windows) unless a run where a window can start follows it
				 * (shape_may_start): most doses, times, decimals, counts stop here */
				size_t sl;
				if (ts >= shape_until && !(ts > 0 && t[ts - 1] == '_') &&
				    (te - ts > 4 || ((sl = shape_sep_len(t, n, te)) && shape_may_start(t, n, ts, te, sl))))
					shape_until = phi_shape_digits(vc, ts, emit, arg, &rc);
			} else if (te - ts == 17 || te - ts == 11 || te - ts == 4 ||
				   (te - ts == 3 && (t[ts + 2] == 'F' || t[ts + 2] == 'M'))) {
				phi_shape_alnum(vc, ts, te, emit, arg, &rc);
			}
			if (rc)
				break;
		}
		if (ctx) {
			/* a plain digit token: known_token only when its word-key filter passes;
			 * otherwise only its identifier keys can match, past two filters */
			if (!plain || (te - ts <= KMAX_TOKEN && ctx->first[(unsigned char)t[ts]] &&
				       word_key_maybe(ctx, t, ts, te - ts)))
				rc = known_token(ctx, t, n, ts, te, true, alpha, !high && !apos, true, &names, out);
			else if (ctx->nids && id_maybe(ctx, t, n, ts, te))
				rc = id_match(ctx, t, n, ts, out);
			if (rc < 0)
				break;
			/* letters-only tokens joined to this one by separators: "zkq-987", and the
			 * hex groups of a logical id before its first digit, "fdbabddc-de47-..." */
			if (ctx->nids && ts >= 2 && t[ts - 1] != ' ' && is_join(t[ts - 1]) && isword(t[ts - 2]) && !isdig(t[ts - 2]))
				rc = id_joined_before(ctx, d, i, ts, out);
			if (rc < 0)
				break;
		}
		i = te + skip;
	}
	if (ctx && rc == 0) {
		/* the word pass: starts of tokens = letters and non-ASCII bytes whose predecessor is not
		 * a word byte (a token starting with a digit belongs to the digit pass) */
		uint64_t carry = 0;
		for (size_t w = 0; w < d->nwords && rc == 0; w++) {
			uint64_t wm = d->wm[w], starts = (d->am[w] | d->hm[w]) & ~((wm << 1) | carry);
			carry = wm >> 63;
			while (starts) {
				size_t ts = (w << 6) + (size_t)__builtin_ctzll(starts), te, skip;
				bool apos;
				starts &= starts - 1;
				/* t[n] is the first of PHI_DEC_PAD zero bytes: no word byte */
				unsigned char c0 = (unsigned char)t[ts], c1 = (unsigned char)t[ts + 1];
				if ((c0 | c1) < 0x80 && c1 != '\'') {
					/* both ASCII: the folded key starts with these two bytes (or the
					 * first alone for a one-byte token) */
					unsigned pi = pair_index((char)c0, phi_cc[c1] & PHI_CC_WORD ? (char)c1 : 0);
					if (!(ctx->pair[pi >> 3] & (1u << (pi & 7))))
						continue;
				}
				if (ts >= 2 && t[ts - 1] == '\'' && isword(t[ts - 2]))
					continue; /* inside "O'Brien", or a possessive 's */
				token_at(d, ts, &te, &skip, &apos);
				if (bm_any(d->dm, ts, te))
					continue; /* digit pass */
				bool high = bm_any(d->hm, ts, te);
				rc = known_token(ctx, t, n, ts, te, false, true, !high && !apos, false, &names, out);
				if (rc < 0)
					break;
			}
		}
	}
	if (ctx && names.n && rc == 0) {
		names_sort(&names);
		rc = resolve_names(ctx, t, n, &names, out);
	}
	if (names.v != names.local)
		free(names.v);
	return rc;
}
