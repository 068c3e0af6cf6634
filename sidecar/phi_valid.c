/* phi_valid — the Safe Harbor pattern table and the validator behind every pattern.
 *
 * Owns nothing at run time: a static table of regular expressions (compiled by phi.c into one
 * Vectorscan database) and pure functions that confirm a match in the scan text and compute
 * the exact span to report. research/phi.md §3 (the 18 identifiers, 45 CFR
 * 164.514(b)(2)(i) A–R) gives the rule each validator enforces; §7 lists the false positives
 * the validators exist to prevent (codes, decimals, OIDs, versions, NDC, UUIDs).
 *
 * Design: the regular expressions are deliberately shape triggers; the exact decision (digit
 * rules, check digits, context words, boundaries, allow lists) is C code here, which is easier
 * to test and to reason about than regex look-arounds (which Vectorscan does not support).
 *
 * Decisions recorded here (and in the report):
 *  - ZIP5: a bare 5-digit number is reported only with address context — a US state code or
 *    name right before it ("Boston, MA 02134") or "zip"/"postal" within 40 bytes before
 *    (covers the JSON member "postalCode"). ZIP+4 (ddddd-dddd) is always reported. Clinical
 *    payloads are full of 5-digit numbers (lab values, counts, codes), so a context-free ZIP5
 *    rule would cost far more precision than the recall it buys; the patient's own ZIP is
 *    caught anywhere by the known-identifier matcher.
 *  - Dates: every date with a month (and/or day) is a DATE, wherever it appears, including
 *    FHIR timestamps (effectiveDateTime, meta.lastUpdated, issued): Safe Harbor (C) removes
 *    "all elements of dates (except year) for dates directly related to an individual" and the
 *    scanner cannot know which timestamps are about the individual. Years alone are not PHI.
 *    Month/day without a year in numeric form ("5/10") is NOT reported: it is indistinguishable
 *    from pain scores, fractions and ratios; with a month name ("March 5") it is reported.
 *    A route may allow the DATE type (phi_findings_drop), and a policy may exempt JSON member
 *    names (phi_config.date_exempt_keys). The patient's own birth date is always reported.
 *  - SSN without separators (9 digits) and phone without separators (10 digits) need a context
 *    word before them: SNOMED CT ids, RxNorm and NPI numbers have the same shapes.
 *  - URLs: every URL except the code-system allow list (and site additions) is reported.
 */
#include "sidecar/phi_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <hs/hs.h>
#include <string.h>
#include <strings.h>

#define T(vc) ((vc)->d->t)
#define N(vc) ((vc)->d->n)

/* Not glued to a longer number on the left: no alnum, and no "digit-" / "digit." / "digit/". */
static bool clean_left(const char *t, size_t from)
{
	if (from == 0)
		return true;
	char c = t[from - 1];
	if (isaln(c) || c == '_')
		return false;
	if ((c == '-' || c == '.' || c == '/' || c == ':') && from >= 2 && isdig(t[from - 2]))
		return false;
	return true;
}

static bool clean_right(const char *t, size_t n, size_t to)
{
	if (to >= n)
		return true;
	char c = t[to];
	if (isaln(c) || c == '_')
		return false;
	if ((c == '-' || c == '.' || c == '/' || c == ':') && to + 1 < n && isdig(t[to + 1]))
		return false;
	return true;
}

/* Case-insensitive search for any of words (lower-case) in t[pos-win, pos); with whole, only
 * as a whole word ("on" is not in "accession", "cell" not in "cells"). */
static bool cue_before(const struct phi_vctx *vc, size_t pos, size_t win, const char *const *words, bool whole)
{
	const char *t = T(vc);
	size_t a = pos > win ? pos - win : 0;
	uint32_t first = 0;

	for (const char *const *w = words; *w; w++)
		first |= 1u << ((unsigned char)(*w)[0] & 31);
	for (size_t i = a; i < pos; i++) {
		char c = lc(t[i]);
		if (!(first & (1u << ((unsigned char)c & 31))) || (whole && i > 0 && isaln(t[i - 1])))
			continue;
		for (const char *const *w = words; *w; w++) {
			const char *s = *w;
			size_t k = 1;
			if (s[0] != c)
				continue;
			while (s[k] && i + k < pos && lc(t[i + k]) == s[k])
				k++;
			if (!s[k] && (!whole || i + k == pos || !isalp(t[i + k])))
				return true;
		}
	}
	return false;
}

static unsigned num(const char *t, size_t i, size_t n)
{
	unsigned v = 0;

	while (n--)
		v = v * 10 + (unsigned)(t[i++] - '0');
	return v;
}

static bool set_hit(struct phi_hit *out, size_t s, size_t e, enum phi_type t, enum phi_source src)
{
	out->s = (uint32_t)s;
	out->e = (uint32_t)e;
	out->type = (uint8_t)t;
	out->source = (uint8_t)src;
	return true;
}

/* --- SSN (G): area not 000/666/9xx, group not 00, serial not 0000 (SSA, SSN randomisation) -- */

bool phi_ssn_valid(unsigned area, unsigned group, unsigned serial)
{
	return area != 0 && area != 666 && area < 900 && group != 0 && group < 100 && serial != 0 &&
	       serial < 10000;
}

static bool ssn_from_digits(const struct phi_vctx *vc, size_t from, size_t to)
{
	char dg[9];
	size_t k = 0;

	for (size_t i = from; i < to; i++) {
		if (isdig(T(vc)[i])) {
			if (k == 9)
				return false;
			dg[k++] = T(vc)[i];
		}
	}
	if (k != 9)
		return false;
	return phi_ssn_valid(num(dg, 0, 3), num(dg, 3, 2), num(dg, 5, 4));
}

static bool check_ssn_sep(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);

	if (!clean_left(t, from) || !clean_right(t, N(vc), to))
		return false;
	/* "1 123 45 6789 2": a run of space-separated numbers is a list, not an SSN */
	if (t[from + 3] == ' ' && ((from >= 2 && t[from - 1] == ' ' && isdig(t[from - 2])) ||
				   (to + 1 < N(vc) && t[to] == ' ' && isdig(t[to + 1]))))
		return false;
	if (!ssn_from_digits(vc, from, to))
		return false;
	return set_hit(out, from, to, PHI_T_SSN, PHI_SRC_PATTERN);
}

static const char *const ssn_words[] = {"ssn", "social security", "soc sec", "ss#", "ss #", "us-ssn",
					"ss no", "socialsecurity", "social", NULL};

static bool check_ssn_bare(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	if (!clean_left(T(vc), from) || !clean_right(T(vc), N(vc), to))
		return false;
	if (!cue_before(vc, from, 48, ssn_words, false) || !ssn_from_digits(vc, from, to))
		return false;
	return set_hit(out, from, to, PHI_T_SSN, PHI_SRC_PATTERN);
}

/* --- telephone / fax (D, E): NANP, area and exchange NXX, not N11 ----------------------------- */

bool phi_nanp_valid(const char d[10])
{
	/* ATIS-0300051 NANP numbering: NPA = [2-9][0-9][0-9] excluding N11 service codes (and
	 * 37X/96X reserved are tolerated); central office code = [2-9][0-9][0-9] excluding N11. */
	if (d[0] < '2' || (d[1] == '1' && d[2] == '1'))
		return false;
	if (d[3] < '2' || (d[4] == '1' && d[5] == '1'))
		return false;
	return true;
}

static const char *const fax_words[] = {"fax", NULL};
/* Whole words only ("cell" is not in "cells" or "excellent", "call" not in "recall"). */
static const char *const phone_words[] = {"phone", "phones", "telephone", "tel", "cell", "cellphone", "mobile",
					  "fax", "call", "calls", "called", "calling", "pager", "contact",
					  "ph", "ph#", "text", "sms", "whatsapp", "reached", NULL};

static bool phone_finish(const struct phi_vctx *vc, size_t start, size_t to, const char *dg10,
			 struct phi_hit *out)
{
	if (!phi_nanp_valid(dg10))
		return false;
	if (!clean_left(T(vc), start) || !clean_right(T(vc), N(vc), to))
		return false;
	return set_hit(out, start, to, cue_before(vc, start, 24, fax_words, false) ? PHI_T_FAX : PHI_T_PHONE,
		       PHI_SRC_PATTERN);
}

static bool check_phone(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	char dg[12];
	size_t pos[12], k = 0, start = from;

	for (size_t i = from; i < to; i++) {
		if (isdig(t[i])) {
			if (k == 11)
				return false;
			pos[k] = i;
			dg[k++] = t[i];
		}
	}
	if (k == 11) {
		if (dg[0] != '1')
			return false;
		if (from > 0 && isdig(t[from - 1])) {
			/* the "1" belongs to a longer number on the left: start at the area code */
			start = pos[1];
			if (start > 0 && t[start - 1] == '(')
				start--;
		}
		return phone_finish(vc, start, to, dg + 1, out);
	}
	if (k != 10)
		return false;
	return phone_finish(vc, start, to, dg, out);
}

static bool check_phone_bare(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);

	/* E.164 "+1NXXNXXXXXX" (ITU-T E.164; SMS/fax APIs, often form-encoded as %2B1...) is a
	 * telephone number by its form; other bare digit runs need a cue word */
	if (to - from == 11 && t[from] == '1' && from > 0 && t[from - 1] == '+' &&
	    (from < 2 || !isaln(t[from - 2])))
		return phone_finish(vc, from - 1, to, t + from + 1, out);
	if (!cue_before(vc, from, 32, phone_words, true))
		return false;
	if (to - from == 11) {
		if (t[from] != '1')
			return false;
		return phone_finish(vc, from, to, t + from + 1, out);
	}
	return phone_finish(vc, from, to, t + from, out);
}

static bool check_phone_local(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);

	if (!clean_left(t, from) || !clean_right(t, N(vc), to))
		return false;
	if (t[from] < '2' || (t[from + 1] == '1' && t[from + 2] == '1'))
		return false;
	if (!cue_before(vc, from, 32, phone_words, true))
		return false;
	return set_hit(out, from, to, cue_before(vc, from, 24, fax_words, false) ? PHI_T_FAX : PHI_T_PHONE,
		       PHI_SRC_PATTERN);
}

/* --- email (F), including [at]/(at)/" at " and [dot]/(dot)/" dot " obfuscations ------------ */

static inline bool is_local(char c)
{
	return isaln(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
static inline bool is_dom(char c)
{
	return isaln(c) || c == '-';
}

static const char *const known_tlds[] = {"com", "org", "net", "edu", "gov", "mil", "io", "us", "co",
					 "uk", "ca", "info", "biz", "me", "health", "email", "mail",
					 "de", "fr", "au", "in", "example", "test", NULL};

/* Length of an obfuscated dot at t[i] ("[dot]", "(dot)", "{dot}", " dot ", " [dot] "), or 0. */
static size_t obf_dot(const char *t, size_t n, size_t i)
{
	size_t j = i;

	if (j < n && t[j] == ' ')
		j++;
	if (j + 5 <= n && (t[j] == '[' || t[j] == '(' || t[j] == '{') && lc(t[j + 1]) == 'd' &&
	    lc(t[j + 2]) == 'o' && lc(t[j + 3]) == 't' && (t[j + 4] == ']' || t[j + 4] == ')' || t[j + 4] == '}')) {
		j += 5;
		if (j < n && t[j] == ' ')
			j++;
		return j - i;
	}
	if (t[i] == ' ' && j + 4 <= n && lc(t[j]) == 'd' && lc(t[j + 1]) == 'o' && lc(t[j + 2]) == 't' &&
	    t[j + 3] == ' ')
		return j + 4 - i;
	return 0;
}

/* Parse a domain at t[i]; returns its end (0 when not a domain). norm gets "label.label". */
static size_t parse_domain(const struct phi_vctx *vc, size_t i, bool need_known_tld, char *norm,
			   size_t *nlen, size_t ncap)
{
	const char *t = T(vc);
	size_t n = N(vc), labels = 0, end = 0, last_s = 0, last_e = 0, k = 0;

	for (;;) {
		size_t s = i;
		while (i < n && is_dom(t[i]))
			i++;
		if (i == s || i - s > 63 || t[s] == '-' || t[i - 1] == '-')
			break;
		labels++;
		last_s = s;
		last_e = i;
		end = i;
		if (k && k < ncap)
			norm[k++] = '.';
		for (size_t j = s; j < i && k < ncap; j++)
			norm[k++] = lc(t[j]);
		if (i + 1 < n && t[i] == '.' && is_dom(t[i + 1])) {
			i++;
			continue;
		}
		size_t od = obf_dot(t, n, i);
		if (od && i + od < n && is_dom(t[i + od])) {
			i += od;
			continue;
		}
		break;
	}
	if (labels < 2)
		return 0;
	/* the TLD: letters only, 2..24 */
	if (last_e - last_s < 2 || last_e - last_s > 24)
		return 0;
	for (size_t j = last_s; j < last_e; j++)
		if (!isalp(t[j]))
			return 0;
	if (need_known_tld) {
		bool ok = false;
		for (const char *const *w = known_tlds; *w && !ok; w++)
			ok = strlen(*w) == last_e - last_s && strncasecmp(*w, t + last_s, last_e - last_s) == 0;
		if (!ok)
			return 0;
	}
	*nlen = k;
	return end;
}

static bool email_finish(const struct phi_vctx *vc, size_t l, size_t r, bool strict, struct phi_hit *out)
{
	const char *t = T(vc);
	size_t ls = l, re, k = 0, dl = 0;
	char norm[320];

	while (ls > 0 && is_local(t[ls - 1]))
		ls--;
	while (ls < l && (t[ls] == '.' || t[ls] == '-'))
		ls++;
	if (l - ls < 1 || l - ls > 64 || t[l - 1] == '.')
		return false;
	if (strict) {
		/* " at " in prose: the local part must be one token glued to the left */
		if (ls > 0 && !(t[ls - 1] == ' ' || t[ls - 1] == '\n' || t[ls - 1] == '(' ||
				 t[ls - 1] == ':' || t[ls - 1] == '"' || t[ls - 1] == '\''))
			return false;
	}
	for (size_t j = ls; j < l; j++)
		norm[k++] = lc(t[j]);
	norm[k++] = '@';
	re = parse_domain(vc, r, strict, norm + k, &dl, sizeof(norm) - k);
	if (!re)
		return false;
	k += dl;
	enum phi_source src = vc->ctx && phi_known_email(vc->ctx, norm, k) ? PHI_SRC_KNOWN : PHI_SRC_PATTERN;
	return set_hit(out, ls, re, PHI_T_EMAIL, src);
}

static bool check_email_at(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	size_t at = to - 1, l = at, r = to;

	(void)from;
	if (t[at] != '@')
		return false;
	if (l > 0 && t[l - 1] == ' ')
		l--;
	if (r < N(vc) && t[r] == ' ')
		r++;
	return email_finish(vc, l, r, false, out);
}

static bool check_email_obf(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	size_t l = from, r = to;
	const char *t = T(vc);
	bool spaced = t[from] == ' ';

	if (!spaced && l > 0 && t[l - 1] == ' ')
		l--;
	if (!spaced && r < N(vc) && t[r] == ' ')
		r++;
	return email_finish(vc, l, r, spaced, out);
}

/* --- URL (N) ------------------------------------------------------------------------------- */

/* Code systems and FHIR infrastructure URLs are not identifiers of an individual. */
static const char *const url_builtin_allow[] = {
	"hl7.org/fhir", "www.hl7.org/fhir", "terminology.hl7.org", "cds-hooks.hl7.org",
	"loinc.org", "snomed.info/sct", "snomed.info/id", "www.nlm.nih.gov/research/umls/rxnorm",
	"unitsofmeasure.org", "www.ama-assn.org/go/cpt", "www.whocc.no/atc", "id.who.int/icd",
	"dicom.nema.org/resources/ontology/dcm", "nucc.org/provider-taxonomy",
	"www.cms.gov/medicare/coding/icd10", "hl7.org/cda", "ncimeta.nci.nih.gov",
	/* publication identifiers (ISO 26324 DOI) and the WHO: documents, not people */
	"doi.org", "dx.doi.org", "www.who.int", "who.int", NULL};

/* Public-sector hosts publish guidance, not patients' pages: a host in the .gov or .mil zone
 * (cdc.gov, nih.gov, a state health department) is not a personal URL (Safe Harbor N covers
 * the individual's URLs); nor is a DOI path on a publisher's site ("/doi/10.1161/..."). Any
 * identifier inside such a URL is still found by the other detectors. */
static bool public_url(const char *u, size_t n)
{
	size_t h = 0;

	while (h < n && u[h] != '/' && u[h] != '?' && u[h] != '#' && u[h] != ':')
		h++;
	if ((h >= 4 && strncasecmp(u + h - 4, ".gov", 4) == 0) || (h >= 4 && strncasecmp(u + h - 4, ".mil", 4) == 0))
		return true;
	return h < n && n - h >= 8 && strncmp(u + h, "/doi/10.", 8) == 0;
}

static inline bool prefix_ok(const char *u, size_t n, const char *p)
{
	/* the first byte rejects most prefixes cheaply */
	if (n == 0 || lc(u[0]) != lc(p[0]))
		return false;
	size_t pl = strlen(p);

	if (n < pl || strncasecmp(u, p, pl) != 0)
		return false;
	if (n == pl || p[pl - 1] == '/')
		return true;
	char c = u[pl];
	return c == '/' || c == '?' || c == '#' || c == '|';
}

bool phi_url_allowed(const char *u, size_t n, const char *const *extra)
{
	if (n >= 7 && strncasecmp(u, "http://", 7) == 0) {
		u += 7;
		n -= 7;
	} else if (n >= 8 && strncasecmp(u, "https://", 8) == 0) {
		u += 8;
		n -= 8;
	} else {
		return false;
	}
	for (const char *const *p = url_builtin_allow; *p; p++)
		if (prefix_ok(u, n, *p))
			return true;
	if (public_url(u, n))
		return true;
	for (; extra && *extra; extra++)
		if (prefix_ok(u, n, *extra))
			return true;
	return false;
}

static inline bool is_url_char(char c)
{
	return (unsigned char)c > 0x20 && c != '"' && c != '<' && c != '>' && c != '`' && c != '\\' &&
	       c != '{' && c != '}' && c != '|' && c != '^' && (unsigned char)c != 0x7f;
}

static bool check_url(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	size_t n = N(vc), e = to, hs;
	bool www = lc(t[from]) == 'w';

	if (www && from >= 3 && memcmp(t + from - 3, "://", 3) == 0)
		return false; /* the scheme pattern reports it */
	while (e < n && is_url_char(t[e]))
		e++;
	for (;;) {
		char c = t[e - 1];
		if (e > to && (c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' ||
			       c == '\'' || c == ')' || c == ']')) {
			if ((c == ')' && memchr(t + from, '(', e - from)) ||
			    (c == ']' && memchr(t + from, '[', e - from)))
				break;
			e--;
			continue;
		}
		break;
	}
	hs = www ? from : to;
	if (e <= hs || !isaln(t[hs]))
		return false; /* no host */
	if (!www && phi_url_allowed(t + from, e - from, vc->url_allow))
		return false;
	return set_hit(out, from, e, PHI_T_URL, PHI_SRC_PATTERN);
}

/* --- IP addresses (O) ---------------------------------------------------------------------- */

static const char *const version_words[] = {"version", "ver.", "ver ", "build", "release", "firmware",
					    "v.", NULL};

static bool check_ipv4(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	size_t i = from;

	if (!clean_left(t, from) || !clean_right(t, N(vc), to))
		return false;
	if (from > 0 && t[from - 1] == '.')
		return false;
	/* "version 3.2.1.4", "v1.2.3.4", "build 10.0.19045.1" */
	if (cue_before(vc, from, 16, version_words, false) || (from > 0 && lc(t[from - 1]) == 'v'))
		return false;
	for (int oct = 0; oct < 4; oct++) {
		size_t s = i;
		while (i < to && isdig(t[i]))
			i++;
		if (i - s > 1 && t[s] == '0')
			return false; /* leading zeros: not how addresses are written */
		if (num(t, s, i - s) > 255)
			return false;
		i++;
	}
	return set_hit(out, from, to, PHI_T_IP, PHI_SRC_PATTERN);
}

static inline bool isxdig(char c)
{
	return isdig(c) || (lc(c) >= 'a' && lc(c) <= 'f');
}

static inline bool is_v6(char c)
{
	return isxdig(c) || c == ':' || c == '.';
}

static bool check_ipv6(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	size_t n = N(vc), s = from, e = to, colons = 0;
	char buf[64];
	unsigned char addr[16];
	bool hexletter = false, dbl = false, longgroup = false;

	while (s > 0 && is_v6(t[s - 1]))
		s--;
	while (e < n && is_v6(t[e]))
		e++;
	while (e > s && t[e - 1] == '.')
		e--;
	if (e - s < 3 || e - s >= sizeof(buf))
		return false;
	if ((s > 0 && (isaln(t[s - 1]) || t[s - 1] == '_')) || (e < n && (isaln(t[e]) || t[e] == '_')))
		return false;
	size_t run = 0;
	for (size_t i = s; i < e; i++) {
		char c = t[i];
		if (c == ':') {
			colons++;
			if (i + 1 < e && t[i + 1] == ':')
				dbl = true;
			run = 0;
			continue;
		}
		if (isalp(c))
			hexletter = true;
		if (++run >= 3)
			longgroup = true;
	}
	/* times (10:30:00) and ratios are not addresses: need "::" or eight groups, and a hex
	 * letter or a 3-4 digit group */
	if (colons < 2 || (!dbl && colons < 7) || (!hexletter && !longgroup))
		return false;
	memcpy(buf, t + s, e - s);
	buf[e - s] = '\0';
	if (inet_pton(AF_INET6, buf, addr) != 1)
		return false;
	return set_hit(out, s, e, PHI_T_IP, PHI_SRC_PATTERN);
}

/* IPv6 candidates without Vectorscan: two colons with at most four hex digits between them
 * (what "[0-9a-f]{0,4}:[0-9a-f]{0,4}:[0-9a-f]{0,4}" matched), each maximal run of address
 * bytes around them checked once by check_ipv6 (which widens to that run anyway). The
 * expression was moved out of the Vectorscan database because Vectorscan 5.4.9 (Debian 12)
 * misses its matches in some multi-pattern databases: "2001:db8::1" went unreported in a body
 * the expression alone matched (found by sidecar/phi_fuzz.c comparing two databases). */
int phi_ipv6_scan(struct phi_vctx *vc, phi_emit_fn emit, void *arg)
{
	const char *t = T(vc);
	size_t n = N(vc), i = 0;

	while (i < n) {
		const char *c = memchr(t + i, ':', n - i);
		if (!c)
			break;
		size_t a = (size_t)(c - t), j = a + 1;
		while (j < n && j - a <= 5 && isxdig(t[j]))
			j++;
		if (j >= n || t[j] != ':' || j - a > 5) {
			i = a + 1;
			continue;
		}
		struct phi_hit h;
		vc->type = PHI_T_IP;
		if (check_ipv6(vc, a, j + 1, &h)) {
			int rc = emit(arg, &h);
			if (rc)
				return rc;
		}
		/* every candidate in this run of address bytes widens to the same run */
		i = j + 1;
		while (i < n && is_v6(t[i]))
			i++;
	}
	return 0;
}

/* --- dates (C) ----------------------------------------------------------------------------- */

bool phi_date_valid(int y, int m, int d)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && y >= 100) {
		bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		if (!leap)
			return false;
	}
	return true;
}

static bool year_ok(int y)
{
	return y >= 1800 && y <= 2199;
}

/* Is the segment holding pos a JSON value of an exempt member name? */
static bool date_exempt(const struct phi_vctx *vc, size_t pos)
{
	const struct phi_dec *d = vc->d;
	long s;

	if (!vc->date_exempt || !vc->date_exempt[0])
		return false;
	s = phi_dec_seg_at(d, pos);
	if (s < 0 || d->segs[s].key < 0)
		return false;
	const struct phi_seg *k = &d->segs[d->segs[s].key];
	for (const char *const *w = vc->date_exempt; *w; w++)
		if (strlen(*w) == k->d1 - k->d0 && memcmp(*w, d->t + k->d0, k->d1 - k->d0) == 0)
			return true;
	return false;
}

/* Report [s,e) as a date (y may be 2-digit; m/d may be swapped when alt). */
static bool date_finish(const struct phi_vctx *vc, size_t s, size_t e, int y, int m, int d, bool alt,
			struct phi_hit *out)
{
	bool known = false;
	const char *t = T(vc);

	/* part of a hyphenated identifier: model names "gpt-4o-2024-08-06", "x-2024-01-01" */
	if (s >= 2 && t[s - 1] == '-' && (isaln(t[s - 2]) || t[s - 2] == '_'))
		return false;

	if (vc->ctx) {
		known = phi_known_date(vc->ctx, y, m, d) || (alt && phi_known_date(vc->ctx, y, d, m));
	}
	if (!known && date_exempt(vc, s))
		return false;
	return set_hit(out, s, e, PHI_T_DATE, known ? PHI_SRC_KNOWN : PHI_SRC_PATTERN);
}

/* ISO 8601 time after a date: THH:MM[:SS[.fff]][Z|±HH[:]MM]; returns the new end. */
static size_t iso_time(const char *t, size_t n, size_t e)
{
	size_t i = e;

	if (i + 6 > n || (t[i] != 'T' && t[i] != ' ') || !isdig(t[i + 1]) || !isdig(t[i + 2]) || t[i + 3] != ':' ||
	    !isdig(t[i + 4]) || !isdig(t[i + 5]))
		return e;
	i += 6;
	if (i + 3 <= n && t[i] == ':' && isdig(t[i + 1]) && isdig(t[i + 2])) {
		i += 3;
		if (i + 1 < n && t[i] == '.' && isdig(t[i + 1])) {
			i++;
			while (i < n && isdig(t[i]))
				i++;
		}
	}
	if (i < n && t[i] == 'Z') {
		i++;
	} else if (i + 3 <= n && (t[i] == '+' || t[i] == '-') && isdig(t[i + 1]) && isdig(t[i + 2])) {
		size_t j = i + 3;
		if (j < n && t[j] == ':')
			j++;
		if (j + 2 <= n && isdig(t[j]) && isdig(t[j + 1]))
			i = j + 2;
	}
	return i;
}

static bool check_date_iso(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	int y = (int)num(t, from, 4), m = (int)num(t, from + 5, 2), d = (int)num(t, from + 8, 2);

	if (!clean_left(t, from))
		return false;
	if (to < N(vc) && (isdig(t[to]) || (t[to] == '-' && to + 1 < N(vc) && isdig(t[to + 1]))))
		return false;
	if (!year_ok(y) || !phi_date_valid(y, m, d))
		return false;
	return date_finish(vc, from, iso_time(t, N(vc), to), y, m, d, false, out);
}

static const char *const date_words[] = {"dob", "d.o.b", "birth", "born", "date", "dt", "since", "noted",
					 "onset", "from", "until", "through", "in", "on", "as of", "dated",
					 "seen", "admitted", "discharged", "visit", NULL};

/* HL7 v2 DTM (v2.5.1 §2.A.22) and compact ISO 8601: YYYYMMDDHHMM[SS] is a date by its form
 * when every field is in range; a bare YYYYMMDD only inside an HL7 field (| or ^ around it)
 * or after a date word, since eight-digit numbers are also order and record numbers. */
static bool check_date_compact(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	size_t len = to - from, n = N(vc);
	int y = (int)num(t, from, 4), m = (int)num(t, from + 4, 2), d = (int)num(t, from + 6, 2);

	if (!clean_left(t, from))
		return false;
	if (!year_ok(y) || !phi_date_valid(y, m, d))
		return false;
	if (len >= 12 && (num(t, from + 8, 2) > 23 || num(t, from + 10, 2) > 59 || (len == 14 && num(t, from + 12, 2) > 59)))
		return false;
	if (len == 8) {
		bool field = (from > 0 && (t[from - 1] == '|' || t[from - 1] == '^')) ||
			     (to < n && (t[to] == '|' || t[to] == '^'));
		if (!field && !cue_before(vc, from, 24, date_words, true))
			return false;
	}
	/* HL7 DTM may carry fractional seconds and an offset: "20240422004600.0000-0500" */
	size_t e = to;
	if (len == 14 && e + 1 < n && t[e] == '.' && isdig(t[e + 1])) {
		e++;
		while (e < n && isdig(t[e]) && e - to <= 5)
			e++;
	}
	if (len >= 12 && e + 4 < n && (t[e] == '+' || t[e] == '-') && isdig(t[e + 1]) && isdig(t[e + 2]) &&
	    isdig(t[e + 3]) && isdig(t[e + 4]) && (e + 5 == n || !isdig(t[e + 5])))
		e += 5;
	if (!clean_right(t, n, e))
		return false;
	return date_finish(vc, from, e, y, m, d, false, out);
}

/* Month and year, "11/2025" (45 CFR 164.514(b)(2)(i)(C): the month is a date element): a
 * two-digit month, or a one-digit month after a date word ("since 3/2021"; "1/2000" alone is
 * as likely a dilution). */
static bool check_date_my(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	const char *sl = memchr(t + from, '/', to - from);
	size_t ml = sl ? (size_t)(sl - (t + from)) : 0;
	int m = (int)num(t, from, ml), y = (int)num(t, from + ml + 1, 4);

	if (!clean_left(t, from) || !clean_right(t, N(vc), to))
		return false;
	if (from > 0 && (t[from - 1] == '/' || t[from - 1] == '-' || t[from - 1] == '.' || t[from - 1] == ':'))
		return false; /* part of a longer numeric expression */
	if (to < N(vc) && (t[to] == '/' || (t[to] == '-' && to + 1 < N(vc) && isdig(t[to + 1]))))
		return false;
	if (ml == 0 || ml > 2 || m < 1 || m > 12 || y < 1900 || y > 2100)
		return false;
	if (ml == 1 && !cue_before(vc, from, 24, date_words, true))
		return false;
	return date_finish(vc, from, to, y, m, 1, false, out);
}

static bool check_date_ym(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	/* FHIR partial date "YYYY-MM": only when it is a whole JSON string value */
	long s = phi_dec_seg_at(vc->d, from);
	int y = (int)num(T(vc), from, 4), m = (int)num(T(vc), from + 5, 2);

	if (s < 0 || vc->d->segs[s].kind != PHI_SEG_STRING || vc->d->segs[s].d0 != from ||
	    vc->d->segs[s].d1 != to)
		return false;
	if (!year_ok(y) || m < 1 || m > 12)
		return false;
	return date_finish(vc, from, to, y, m, 1, false, out);
}

/* Parse "a<sep>b<sep>c" with 1-2/1-2/2-4 or 4/1-2/1-2 digit groups. */
static bool split3(const char *t, size_t from, size_t to, unsigned v[3], size_t len[3])
{
	size_t i = from;

	for (int k = 0; k < 3; k++) {
		size_t s = i;
		while (i < to && isdig(t[i]))
			i++;
		len[k] = i - s;
		if (len[k] == 0)
			return false;
		v[k] = num(t, s, len[k]);
		i++;
	}
	return true;
}

/* a/b/y or a-b-y or a.b.y; dmy_first: the EU day-first reading is tried first. */
static bool check_date_num(const struct phi_vctx *vc, size_t from, size_t to, bool dmy_first,
			   struct phi_hit *out)
{
	const char *t = T(vc);
	unsigned v[3];
	size_t len[3];
	int y, m, d;
	bool alt;

	if (!clean_left(t, from) || !clean_right(t, N(vc), to))
		return false;
	if (!split3(t, from, to, v, len))
		return false;
	if (len[0] == 4) { /* YYYY/MM/DD */
		y = (int)v[0];
		m = (int)v[1];
		d = (int)v[2];
		if (!year_ok(y) || !phi_date_valid(y, m, d))
			return false;
		return date_finish(vc, from, to, y, m, d, false, out);
	}
	y = (int)v[2];
	if (len[2] == 4 && !year_ok(y))
		return false;
	if (len[2] != 4 && len[2] != 2)
		return false;
	int ylp = len[2] == 2 ? 2000 + y : y; /* for the leap-year check only */
	bool mdy = phi_date_valid(ylp, (int)v[0], (int)v[1]) ||
		   (len[2] == 2 && phi_date_valid(1900 + y, (int)v[0], (int)v[1]));
	bool dmy = phi_date_valid(ylp, (int)v[1], (int)v[0]) ||
		   (len[2] == 2 && phi_date_valid(1900 + y, (int)v[1], (int)v[0]));
	if (!mdy && !dmy)
		return false;
	if ((dmy_first && dmy) || !mdy) {
		m = (int)v[1];
		d = (int)v[0];
		alt = mdy;
	} else {
		m = (int)v[0];
		d = (int)v[1];
		alt = dmy;
	}
	return date_finish(vc, from, to, y, m, d, alt, out);
}

static bool check_date_us(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	return check_date_num(vc, from, to, false, out);
}

static bool check_date_eu(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	return check_date_num(vc, from, to, true, out);
}

static int month_of(const char *t, size_t s, size_t e)
{
	static const char mon[12][4] = {"jan", "feb", "mar", "apr", "may", "jun",
					"jul", "aug", "sep", "oct", "nov", "dec"};
	char b[3];

	if (e - s < 3)
		return 0;
	for (int k = 0; k < 3; k++)
		b[k] = lc(t[s + k]);
	for (int k = 0; k < 12; k++)
		if (memcmp(b, mon[k], 3) == 0)
			return k + 1;
	return 0;
}

/* "March 3, 1941", "3 Mar 1941", "3rd of March", "03MAR1941", "3-Mar-41", "Mar 1941". */
static bool check_date_name(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	size_t i = from, ms = 0, me = 0;
	int m = 0, day = 0, y = -1, before = -1;
	size_t ylen = 0;
	bool lower = true;

	if (!clean_left(t, from) || !clean_right(t, N(vc), to))
		return false;
	while (i < to) {
		if (isalp(t[i])) {
			size_t s = i;
			while (i < to && isalp(t[i]))
				i++;
			if (!m && (m = month_of(t, s, i)) != 0) {
				ms = s;
				me = i;
			}
			continue;
		}
		if (isdig(t[i])) {
			size_t s = i;
			while (i < to && isdig(t[i]))
				i++;
			int v = (int)num(t, s, i - s);
			if (!m) {
				before = v;
			} else if (i - s == 4 || (before >= 0 && i - s == 2)) {
				y = v;
				ylen = i - s;
			} else if (!day && before < 0) {
				day = v;
			}
			continue;
		}
		i++;
	}
	if (!m)
		return false;
	if (before >= 0)
		day = before;
	for (size_t k = ms; k < me; k++)
		if (isupper((unsigned char)t[k]))
			lower = false;
	/* "may" is a verb; lower-case abbreviations without a year are too weak */
	if (lower && (m == 5 || (me - ms <= 4 && y < 0)))
		return false;
	if (y >= 0 && ylen == 4 && !year_ok(y))
		return false;
	if (day) {
		if (!phi_date_valid(y >= 100 ? y : 2000, m, day))
			return false;
	} else if (y < 0 || ylen != 4) {
		return false; /* a month alone is not a date */
	}
	return date_finish(vc, from, to, y < 0 ? 0 : y, m, day ? day : 1, false, out);
}

/* --- ZIP (B) ------------------------------------------------------------------------------- */

static const char *const states[] = {
	"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
	"IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
	"NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
	"VT", "VA", "WA", "WV", "WI", "WY", "PR", "VI", "GU", "AS", "MP", NULL};
static const char *const state_names[] = {
	"alabama", "alaska", "arizona", "arkansas", "california", "colorado", "connecticut",
	"delaware", "florida", "georgia", "hawaii", "idaho", "illinois", "indiana", "iowa",
	"kansas", "kentucky", "louisiana", "maine", "maryland", "massachusetts", "michigan",
	"minnesota", "mississippi", "missouri", "montana", "nebraska", "nevada", "hampshire",
	"jersey", "mexico", "york", "carolina", "dakota", "ohio", "oklahoma", "oregon",
	"pennsylvania", "island", "tennessee", "texas", "utah", "vermont", "virginia",
	"washington", "wisconsin", "wyoming", "columbia", "rico", NULL};
static const char *const zip_words[] = {"zip", "postal", NULL};

static bool state_before(const char *t, size_t from)
{
	size_t i = from, e, s;

	while (i > 0 && from - i < 4 && (t[i - 1] == ' ' || t[i - 1] == ',' || t[i - 1] == '\n' || t[i - 1] == '.'))
		i--;
	e = i;
	while (i > 0 && isalp(t[i - 1]))
		i--;
	s = i;
	if (s == e || (s > 0 && isaln(t[s - 1])))
		return false;
	if (e - s == 2) {
		for (const char *const *p = states; *p; p++)
			if (t[s] == (*p)[0] && t[s + 1] == (*p)[1])
				return true;
		return false;
	}
	for (const char *const *p = state_names; *p; p++)
		if (strlen(*p) == e - s && strncasecmp(*p, t + s, e - s) == 0)
			return true;
	return false;
}

static bool check_zip4(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	if (!clean_left(T(vc), from) || !clean_right(T(vc), N(vc), to))
		return false;
	return set_hit(out, from, to, PHI_T_ZIP, PHI_SRC_PATTERN);
}

static bool check_zip5(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);

	if (!clean_left(t, from) || !clean_right(t, N(vc), to))
		return false;
	if (memcmp(t + from, "00000", 5) == 0)
		return false;
	if (!state_before(t, from) && !cue_before(vc, from, 40, zip_words, false))
		return false;
	return set_hit(out, from, to, PHI_T_ZIP, PHI_SRC_PATTERN);
}

/* --- ages over 89 (C) ---------------------------------------------------------------------- */

static const char *const age_units[] = {"day", "week", "wk", "month", "mo", "hour", "hr", "min",
					"mg", "kg", "lb", "%", "mm", "cm", "ml", "bpm", "sec", NULL};

static bool check_age(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	size_t i = from, s, e, n = N(vc);
	unsigned v;

	while (i < to && !isdig(t[i]))
		i++;
	s = i;
	while (i < to && isdig(t[i]))
		i++;
	e = i;
	if (e == s || e - s > 3)
		return false;
	v = num(t, s, e - s);
	if (v < 90 || v > 129)
		return false;
	if (!clean_left(t, s) || (e < n && (isdig(t[e]) || (t[e] == '.' && e + 1 < n && isdig(t[e + 1])))))
		return false;
	/* "age 95 days" is not an age in years */
	size_t j = e;
	while (j < n && t[j] == ' ')
		j++;
	for (const char *const *u = age_units; *u; u++) {
		size_t ul = strlen(*u);
		if (j + ul <= n && strncasecmp(t + j, *u, ul) == 0 && (j + ul == n || !isalp(t[j + ul]) ||
								  t[j + ul] == 's'))
			return false;
	}
	return set_hit(out, s, e, PHI_T_AGE, PHI_SRC_PATTERN);
}

/* Is the word [s, e) of t, lower-cased, in list? */
static bool word_in(const char *t, size_t s, size_t e, const char *const *list)
{
	for (const char *const *w = list; *w; w++) {
		size_t l = strlen(*w), k;
		if (l != e - s)
			continue;
		for (k = 0; k < l && lc(t[s + k]) == (*w)[k]; k++)
			;
		if (k == l)
			return true;
	}
	return false;
}

/* An age over 89 written with the sex, the token [from, to) = 2..3 digits and 'F' or 'M', as a
 * note's header or first line has it: "Núñez, Itzel (MR# 43184314), 99F", "is a 91F with".
 * "98F" is also a temperature in Fahrenheit, so both sides need a cue (found missing by the
 * independent corpus, seed 12): before it "a"/"an", "Age:", a comma or the start of a line, and no
 * vital-sign word earlier on the line back to its first label ("T 99F", "HR 88, 98F", "Temp:
 * 98F"); after it the end of the line or of an HL7 field, " (", two spaces (the next SOAP
 * section) or a word that goes on about the patient. */
static bool check_age_sex(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	static const char *const vitals[] = {"t", "temp", "temperature", "tmax", "tm", "afebrile", "febrile", "fever",
					     "hr", "bp", "rr", "pulse", "spo2", "sat", "vitals", "vs", "o2", "wt", "ht",
					     NULL};
	static const char *const next[] = {"with", "who", "presenting", "presents", "here", "pt", "patient", "s/p",
					   "h/o", "w/", "c/o", "admitted", "seen", "referred", "hx", NULL};
	const char *t = T(vc);
	size_t n = N(vc), i, j;
	char sx = t[to - 1];

	if ((sx != 'F' && sx != 'M') || to - from < 3 || to - from > 4)
		return false;
	for (i = from; i < to - 1; i++)
		if (!isdig(t[i]))
			return false;
	unsigned v = num(t, from, to - 1 - from);
	if (v < 90 || v > 129 || t[from] == '0' || !clean_left(t, from))
		return false;
	/* left: ", 99F", a line's start, "a 91F", "Age: 96M" */
	i = from;
	if (i > 0 && t[i - 1] == ' ')
		i--;
	if (i > 0 && t[i - 1] != ',' && t[i - 1] != '\n') {
		bool colon = t[i - 1] == ':';
		if (i == from && !colon)
			return false;
		i -= colon;
		j = i;
		while (j > 0 && isalp(t[j - 1]) && i - j < 3)
			j--;
		if ((j > 0 && isword(t[j - 1])) ||
		    !word_in(t, j, i, colon ? (const char *const[]){"age", NULL} : (const char *const[]){"a", "an", "age", NULL}))
			return false;
	}
	/* no vital sign before it on the same line, back to the first label ("Temp: 98F"; a
	 * diagnosis before "(A77.0): Jae-sung Wu, 93M" is not read) */
	j = from;
	bool label = false;
	while (j > 0 && t[j - 1] != '\n' && from - j < 48) {
		while (j > 0 && !isaln(t[j - 1]) && t[j - 1] != '\n')
			label |= t[--j] == ':';
		size_t we = j;
		while (j > 0 && (isaln(t[j - 1]) || t[j - 1] == '/'))
			j--;
		if (j == we)
			break;
		/* "T 99F" is a temperature, "Jun T., a 96M" an initial */
		if (word_in(t, j, we, vitals) && !(we - j == 1 && t[we] == '.'))
			return false;
		if (label)
			break;
	}
	/* right */
	i = to;
	if (i < n && t[i] == '.')
		i++; /* "is a 95M." */
	if (i == n || t[i] == '\n' || t[i] == '\r' || t[i] == '|' || t[i] == '^' || (i > to && t[i] == ' '))
		return set_hit(out, from, to - 1, PHI_T_AGE, PHI_SRC_PATTERN); /* '|', '^': an HL7 field ends */
	if (t[i] != ' ' || i + 1 >= n)
		return false;
	i++;
	if (t[i] == '(' || t[i] == ' ' || t[i] == '\n')
		return set_hit(out, from, to - 1, PHI_T_AGE, PHI_SRC_PATTERN);
	j = i;
	while (j < n && (isalp(t[j]) || t[j] == '/') && j - i < 12)
		j++;
	if (j < n && isaln(t[j]))
		return false;
	return j > i && word_in(t, i, j, next) ? set_hit(out, from, to - 1, PHI_T_AGE, PHI_SRC_PATTERN) : false;
}

/* --- Medicare Beneficiary Identifier (I) --------------------------------------------------- */

/* CMS MBI format: C A AN N A AN N A A N N; letters exclude S L O I B Z. */
static bool mbi_alpha(char c)
{
	return c >= 'A' && c <= 'Z' && !strchr("SLOIBZ", c);
}

bool phi_mbi_valid(const char *s, size_t n)
{
	static const char pos[] = "CAXNAXNAANN"; /* C=1-9, A=alpha, X=alnum, N=digit */
	char b[11];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '-' && (k == 4 || k == 7))
			continue;
		if (k == 11)
			return false;
		b[k++] = s[i];
	}
	if (k != 11)
		return false;
	for (k = 0; k < 11; k++) {
		char c = b[k];
		switch (pos[k]) {
		case 'C': if (c < '1' || c > '9') return false; break;
		case 'A': if (!mbi_alpha(c)) return false; break;
		case 'X': if (!mbi_alpha(c) && !isdig(c)) return false; break;
		case 'N': if (!isdig(c)) return false; break;
		}
	}
	return true;
}

static bool check_mbi(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	size_t dashes = 0;

	for (size_t i = from; i < to; i++)
		dashes += t[i] == '-';
	if (dashes == 1 || !clean_left(t, from) || !clean_right(t, N(vc), to))
		return false;
	if (!phi_mbi_valid(t + from, to - from))
		return false;
	return set_hit(out, from, to, PHI_T_MBI, PHI_SRC_PATTERN);
}

/* --- VIN (L): ISO 3779 / 49 CFR 565.15 check digit in position 9 ---------------------------- */

bool phi_vin_valid(const char *s, size_t n)
{
	static const int w[17] = {8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2};
	static const char *const tr = "12345678_12345_7_923456789"; /* A..Z; I O Q invalid */
	int sum = 0, letters = 0;

	if (n != 17)
		return false;
	for (size_t i = 0; i < 17; i++) {
		char c = s[i];
		int v;
		if (isdig(c)) {
			v = c - '0';
		} else if (c >= 'A' && c <= 'Z' && tr[c - 'A'] != '_') {
			v = tr[c - 'A'] - '0';
			letters++;
		} else {
			return false;
		}
		sum += v * w[i];
	}
	if (letters == 0)
		return false; /* a 17-digit number (SNOMED CT extension ids) is not a VIN */
	for (size_t i = 13; i < 17; i++)
		if (!isdig(s[i]))
			return false; /* 49 CFR 565.15: the last four characters are numeric */
	int chk = sum % 11;
	return s[8] == (chk == 10 ? 'X' : (char)('0' + chk));
}

static bool check_vin(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	if (!phi_vin_valid(T(vc) + from, to - from))
		return false;
	return set_hit(out, from, to, PHI_T_VIN, PHI_SRC_PATTERN);
}

/* --- names after a courtesy title (A), for people not in the prefetch ----------------------- */

static const char *const particles[] = {"van", "von", "de", "da", "di", "del", "della", "la", "le", "du",
					"st", "mac", "mc", "ter", "ten", "den", "der", "dos", "das", NULL};

static bool check_title_name(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	size_t i = from, n = N(vc), s, e = 0;

	(void)to;
	while (i < n && isalp(t[i]))
		i++;
	if (i < n && t[i] == '.')
		i++;
	while (i < n && t[i] == ' ')
		i++;
	s = i;
	/* up to three words: particles ("von Trapp", "de la Cruz") and one capitalised name */
	for (int w = 0; w < 4 && i < n; w++) {
		size_t ws = i;
		while (i < n && (isalp(t[i]) || t[i] == '\'' || t[i] == '-' || (unsigned char)t[i] >= 0x80))
			i++;
		size_t we = i;
		while (we > ws && (t[we - 1] == '\'' || t[we - 1] == '-'))
			we--;
		if (we == ws)
			break;
		bool particle = false;
		for (const char *const *p = particles; *p && !particle; p++)
			particle = strlen(*p) == we - ws && strncmp(*p, t + ws, we - ws) == 0;
		e = we;
		if (!particle)
			break;
		if (i >= n || t[i] != ' ')
			return false;
		i++;
	}
	if (e < s + 2)
		return false;
	return set_hit(out, s, e, PHI_T_NAME, PHI_SRC_PATTERN);
}

/* --- street addresses (B) of people not in the prefetch: "45 Oak Street", "PO Box 12" ----- */

static bool check_street(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);

	if (!clean_left(t, from))
		return false;
	if (to < N(vc) && t[to] == '.' && isalp(t[to - 1]))
		to++; /* "Oak St." */
	return set_hit(out, from, to, PHI_T_ADDRESS, PHI_SRC_PATTERN);
}

/* Month-name dates, anchored on the month word: the span grows left over "3 ", "3rd of ",
 * "03-" and right over " 3", ", 1941", "-41", then check_date_name decides. */
static bool is_ordinal(const char *p)
{
	char a = lc(p[0]), b = lc(p[1]);
	return (a == 's' && b == 't') || (a == 'n' && b == 'd') || (a == 'r' && b == 'd') || (a == 't' && b == 'h');
}

static bool month_span(const struct phi_vctx *vc, size_t ms, size_t me, struct phi_hit *out)
{
	const char *t = T(vc);
	size_t n = N(vc), s = ms, e = me, k, d, r, q;
	bool day_before = false;

	/* left: [D][st|nd|rd|th][ of][ -/] */
	k = ms;
	while (k > 0 && ms - k < 2 && (t[k - 1] == ' ' || t[k - 1] == '-' || t[k - 1] == '/'))
		k--;
	if (k >= 3 && lc(t[k - 2]) == 'o' && lc(t[k - 1]) == 'f' && t[k - 3] == ' ' && k < ms) {
		k -= 3;
		while (k > 0 && t[k - 1] == ' ' && k + 6 > ms)
			k--;
	}
	if (k >= 3 && isalp(t[k - 1]) && isalp(t[k - 2]) && is_ordinal(t + k - 2) && isdig(t[k - 3]))
		k -= 2;
	d = k;
	while (d > 0 && isdig(t[d - 1]) && k - d < 3)
		d--;
	if (k - d >= 1 && k - d <= 2 && (d == 0 || !isaln(t[d - 1]))) {
		s = d;
		day_before = true;
	}
	/* right */
	if (e < n && t[e] == '.')
		e++;
	r = e;
	while (r < n && r - e < 2 && (t[r] == ' ' || t[r] == ',' || t[r] == '-' || t[r] == '/'))
		r++;
	q = r;
	while (q < n && isdig(t[q]) && q - r < 5)
		q++;
	if (q - r == 4) {
		e = q;
	} else if (q - r >= 1 && q - r <= 2) {
		if (day_before) {
			if (r > me && (t[r - 1] == '-' || t[r - 1] == '/'))
				e = q; /* 3-Mar-41 */
			else if (r == me || (r == me + 1 && t[me] == '.'))
				e = q; /* 03MAR41 */
		} else {
			e = q;
			if (e + 1 < n && isalp(t[e]) && isalp(t[e + 1]) && is_ordinal(t + e))
				e += 2;
			size_t y = e;
			while (y < n && y - e < 2 && (t[y] == ',' || t[y] == ' '))
				y++;
			size_t z = y;
			while (z < n && isdig(t[z]) && z - y < 5)
				z++;
			if (y > e && z - y == 4)
				e = z;
		}
	}
	if (e == me || (e == me + 1 && t[me] == '.')) {
		if (!day_before)
			return false; /* a month word alone */
		e = me;
	}
	return check_date_name(vc, s, e, out);
}

static bool check_month(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	return month_span(vc, from, to, out);
}

static bool check_month_glued(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	/* "03MAR1941": the trigger is digit + month + digit */
	return month_span(vc, from + 1, to - 1, out);
}

/* Street addresses anchored on the suffix word: "45 Oak Street", "7 N Main St." */
/* A word of a street name, [ws, we): "Oak", "César" (Latin-1 capitals and letters), "O'Farrell"
 * and "Anne's" (found missing by the independent corpus, seed 12), an ordinal "42nd", or a
 * directional "NE" / "SW". */
static bool street_word(const char *t, size_t ws, size_t we)
{
	size_t k = ws, l = we - ws;
	unsigned char c = (unsigned char)t[ws];

	if (l >= 3 && l <= 6 && isdig(t[ws])) { /* ordinal: 1st 2nd 3rd 4th ... 104th */
		while (k < we && isdig(t[k]))
			k++;
		if (we - k != 2)
			return false;
		char a = t[k], b = t[k + 1];
		return (a == 's' && b == 't') || (a == 'n' && b == 'd') || (a == 'r' && b == 'd') || (a == 't' && b == 'h');
	}
	if (l <= 2) {
		static const char *const dirs[] = {"N", "S", "E", "W", "NE", "NW", "SE", "SW", NULL};
		for (const char *const *d = dirs; *d; d++)
			if (strlen(*d) == l && memcmp(*d, t + ws, l) == 0)
				return true;
	}
	if (c >= 'A' && c <= 'Z')
		k = ws + 1;
	else if (c == 0xc3 && we - ws >= 2 && (unsigned char)t[ws + 1] >= 0x80 && (unsigned char)t[ws + 1] <= 0x9e)
		k = ws + 2; /* U+00C0..U+00DE */
	else
		return false;
	for (; k < we; k++) {
		if (t[k] == '\'' && k + 1 < we && ((t[k + 1] >= 'A' && t[k + 1] <= 'Z') || (t[k + 1] == 's' && k + 2 == we))) {
			k++; /* "O'Farrell", "Saint Anne's" */
			continue;
		}
		if (!((t[k] >= 'a' && t[k] <= 'z') || (unsigned char)t[k] >= 0x80))
			return false;
	}
	return true;
}

static bool check_street_sfx(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);
	size_t i = from + 2, words = 0, ws, we, ds, de; /* the trigger starts at "x " before the suffix */

	while (words < 5 && i >= 2 && t[i - 1] == ' ') {
		we = i - 1;
		ws = we;
		while (ws > 0 && (isaln(t[ws - 1]) || (unsigned char)t[ws - 1] >= 0x80 ||
				  (t[ws - 1] == '\'' && ws >= 2 && ws < we && isalp(t[ws - 2]) && isalp(t[ws]))))
			ws--;
		if (ws == we || !street_word(t, ws, we))
			break;
		i = ws;
		words++;
	}
	if (words == 0 || i < 2 || t[i - 1] != ' ')
		return false;
	de = i - 1;
	if (de > 0 && t[de - 1] >= 'A' && t[de - 1] <= 'Z' && de >= 2 && isdig(t[de - 2]))
		de--; /* "12A Oak St" */
	ds = de;
	while (ds > 0 && isdig(t[ds - 1]) && de - ds < 7)
		ds--;
	if (ds == de || de - ds > 6 || !clean_left(t, ds))
		return false;
	if (to < N(vc) && t[to] == '.')
		to++;
	return set_hit(out, ds, to, PHI_T_ADDRESS, PHI_SRC_PATTERN);
}

bool phi_check_site(const struct phi_vctx *vc, size_t from, size_t to, struct phi_hit *out)
{
	const char *t = T(vc);

	if (to <= from || (from > 0 && isaln(t[from - 1])) || (to < N(vc) && isaln(t[to])))
		return false;
	return set_hit(out, from, to, vc->type, PHI_SRC_PATTERN);
}

/* --- the table ----------------------------------------------------------------------------- */

#define MONTHS "(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
#define AGE "(?:9\\d|1[0-2]\\d)"
#define CL HS_FLAG_CASELESS
#define STREET "(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Terrace|Ter|Way|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl)"

const struct phi_pattern phi_builtin_patterns[] = {
	/* SSN, phone/fax, ZIP, IPv4, numeric dates, MBI, VIN: phi_shape_digits / phi_shape_alnum
	 * (below), from the token pass; IPv6: phi_ipv6_scan (above) */
	{"@", 0, PHI_T_EMAIL, check_email_at},
	{"[\\[({<] ?at ?[\\])}>]", CL, PHI_T_EMAIL, check_email_obf},
	{" at ", CL, PHI_T_EMAIL, check_email_obf},
	{"\\b(?:https?|ftps?)://", CL, PHI_T_URL, check_url},
	{"\\bwww\\.", CL, PHI_T_URL, check_url},
	{"\\b" MONTHS "\\b", CL, PHI_T_DATE, check_month},
	{"\\d(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\\d", CL, PHI_T_DATE, check_month_glued},
	{"\\b" AGE "[- ]?(?:years?|yrs?|yo)[- ]?old\\b", CL, PHI_T_AGE, check_age},
	{"\\b" AGE "[- ]?(?:y/o|yo[mf]?\\b|y\\.o\\b)", CL, PHI_T_AGE, check_age},
	{"\\b" AGE " (?:years?|yrs?) of age\\b", CL, PHI_T_AGE, check_age},
	{"\\bage[ds]?\\b[ :=\\n\"]{0,4}(?:of )?" AGE "\\b", CL, PHI_T_AGE, check_age},
	{"\\b(?:Mr|Mrs|Ms|Miss|Mx)\\.? (?:[A-Z\\xc0-\\xdf]|(?:van|von|de|da|di|del|della|la|le|du|st|mac|mc|ter|ten|den|der|dos|das) )", 0,
	 PHI_T_NAME, check_title_name},
	{"[a-z] " STREET "\\b", 0, PHI_T_ADDRESS, check_street_sfx},
	{"\\bP\\.? ?O\\.? Box \\d{1,6}\\b", CL, PHI_T_ADDRESS, check_street},
	{"\\b(?:POB|P\\.O\\.B\\.) ?#?\\d{1,6}\\b", 0, PHI_T_ADDRESS, check_street},
};
const size_t phi_n_builtin_patterns = sizeof(phi_builtin_patterns) / sizeof(phi_builtin_patterns[0]);

/* --- digit- and alnum-shaped identifiers: one pass, no regex ---------------------------------
 *
 * SSN, phone/fax, ZIP, IPv4, numeric dates, MBI and VIN have shapes that cannot be anchored on
 * a literal, and as Vectorscan expressions (\b\d{9}\b, \b\d{5}\b, IPv4, NANP ...) they ran at
 * about 60 MB/s together on the bench corpus. Here every maximal run of digit groups joined by
 * one separator ("-", ".", "/", ":", " ", "(", ")", ") ", " (") is cut once and each window of
 * 1..4 groups whose lengths and separators fit a shape is handed to the same validator the
 * regular expression fed. Alphanumeric tokens of 11/13/17 characters go to the MBI/VIN checks,
 * tokens of 3..4 ending in 'F' or 'M' to the age-with-sex check ("99F").
 */

#define SHAPE_MAXG 8

struct shape_ctx {
	struct phi_vctx *vc;
	phi_emit_fn emit;
	void *arg;
	int rc;
};

static void try_check(struct shape_ctx *sc, phi_check_fn fn, enum phi_type type, size_t from, size_t to)
{
	struct phi_hit h;

	if (sc->rc)
		return;
	sc->vc->type = type;
	if (fn(sc->vc, from, to, &h))
		sc->rc = sc->emit(sc->arg, &h);
}

static bool sep_is(const char *t, size_t at, size_t len, const char *what)
{
	return strlen(what) == len && memcmp(t + at, what, len) == 0;
}

static void shape_windows(struct shape_ctx *sc, const uint32_t *gs, const uint32_t *ge, const uint32_t *ss,
			  const uint8_t *sl, size_t k, size_t starts)
{
	const char *t = T(sc->vc);

	for (size_t a = 0; a < starts; a++) {
		size_t L0 = ge[a] - gs[a];
		/* one group */
		if (L0 == 9)
			try_check(sc, check_ssn_bare, PHI_T_SSN, gs[a], ge[a]);
		else if (L0 == 10 || (L0 == 11 && t[gs[a]] == '1'))
			try_check(sc, check_phone_bare, PHI_T_PHONE, gs[a], ge[a]);
		else if (L0 == 5)
			try_check(sc, check_zip5, PHI_T_ZIP, gs[a], ge[a]);
		else if (L0 == 8 || L0 == 12 || L0 == 14)
			try_check(sc, check_date_compact, PHI_T_DATE, gs[a], ge[a]);
		if (a + 1 >= k)
			continue;
		size_t L1 = ge[a + 1] - gs[a + 1];
		char s1 = t[ss[a + 1]];
		bool s1one = sl[a + 1] == 1;
		/* two groups */
		if (s1one && s1 == '-') {
			if (L0 == 3 && L1 == 4)
				try_check(sc, check_phone_local, PHI_T_PHONE, gs[a], ge[a + 1]);
			else if (L0 == 5 && L1 == 4)
				try_check(sc, check_zip4, PHI_T_ZIP, gs[a], ge[a + 1]);
			else if (L0 == 4 && L1 == 2)
				try_check(sc, check_date_ym, PHI_T_DATE, gs[a], ge[a + 1]);
		}
		if (s1one && s1 == '/' && L0 <= 2 && L1 == 4 && (a + 2 >= k || t[ss[a + 2]] != '/'))
			try_check(sc, check_date_my, PHI_T_DATE, gs[a], ge[a + 1]);
		if (a + 2 >= k)
			continue;
		size_t L2 = ge[a + 2] - gs[a + 2];
		char s2 = t[ss[a + 2]];
		bool s2one = sl[a + 2] == 1;
		bool same = s1one && s2one && s1 == s2;
		/* three groups */
		if (same && (s1 == '-' || s1 == ' ' || s1 == '.') && L0 == 3 && L1 == 2 && L2 == 4)
			try_check(sc, check_ssn_sep, PHI_T_SSN, gs[a], ge[a + 2]);
		if (L0 == 3 && L1 == 3 && L2 == 4 && s2one && (s2 == '-' || s2 == '.' || s2 == ' ')) {
			bool paren = gs[a] > 0 && t[gs[a] - 1] == '(';
			if (paren && (sep_is(t, ss[a + 1], sl[a + 1], ")") || sep_is(t, ss[a + 1], sl[a + 1], ") ")))
				try_check(sc, check_phone, PHI_T_PHONE, gs[a] - 1, ge[a + 2]);
			else if (s1one && (s1 == '-' || s1 == '.' || s1 == ' '))
				try_check(sc, check_phone, PHI_T_PHONE, gs[a], ge[a + 2]);
		}
		if (same && s1 == '-' && L0 == 4 && L1 == 2 && L2 == 2)
			try_check(sc, check_date_iso, PHI_T_DATE, gs[a], ge[a + 2]);
		if (same && s1 == '/' && ((L0 == 4 && L1 <= 2 && L2 <= 2) || (L0 <= 2 && L1 <= 2 && (L2 == 2 || L2 == 4))))
			try_check(sc, check_date_us, PHI_T_DATE, gs[a], ge[a + 2]);
		if (same && s1 == '-' && ((L0 <= 2 && L1 <= 2 && L2 == 4) || (L0 == 2 && L1 == 2 && L2 == 2)))
			try_check(sc, check_date_us, PHI_T_DATE, gs[a], ge[a + 2]);
		if (same && s1 == '.' && ((L0 <= 2 && L1 <= 2 && L2 == 4) || (L0 == 2 && L1 == 2 && L2 == 2)))
			try_check(sc, check_date_eu, PHI_T_DATE, gs[a], ge[a + 2]);
		if (a + 3 >= k)
			continue;
		size_t L3 = ge[a + 3] - gs[a + 3];
		char s3 = t[ss[a + 3]];
		bool s3one = sl[a + 3] == 1;
		/* four groups */
		if (same && s3one && s1 == '.' && s3 == '.' && L0 <= 3 && L1 <= 3 && L2 <= 3 && L3 <= 3)
			try_check(sc, check_ipv4, PHI_T_IP, gs[a], ge[a + 3]);
		if (L0 == 1 && t[gs[a]] == '1' && L1 == 3 && L2 == 3 && L3 == 4 && s3one &&
		    (s3 == '-' || s3 == '.' || s3 == ' ')) {
			size_t from = gs[a] > 0 && t[gs[a] - 1] == '+' ? gs[a] - 1 : gs[a];
			bool p1 = sep_is(t, ss[a + 1], sl[a + 1], " (") || sep_is(t, ss[a + 1], sl[a + 1], "(");
			bool p2 = sep_is(t, ss[a + 2], sl[a + 2], ")") || sep_is(t, ss[a + 2], sl[a + 2], ") ");
			bool plain = s1one && s2one && strchr("-. ", s1) && strchr("-. ", s2);
			if ((p1 && p2) || plain)
				try_check(sc, check_phone, PHI_T_PHONE, from, ge[a + 3]);
		}
	}
}

/* Digit groups from ts; windows tried; returns the end of the run. */
static size_t shape_run(struct shape_ctx *sc, size_t ts, size_t te)
{
	const char *t = T(sc->vc);
	size_t n = N(sc->vc), k = 1, j = te;
	uint32_t gs[SHAPE_MAXG], ge[SHAPE_MAXG], ss[SHAPE_MAXG];
	uint8_t sl[SHAPE_MAXG];

	for (;;) {
		gs[0] = (uint32_t)ts;
		ge[0] = (uint32_t)te;
		ss[0] = (uint32_t)ts;
		sl[0] = 0;
		k = 1;
		j = te;
		while (k < SHAPE_MAXG && j < n) {
			char a = t[j], b = j + 1 < n ? t[j + 1] : 0;
			size_t len;
			if ((a == ')' && b == ' ') || (a == ' ' && b == '('))
				len = 2;
			else if (a == '-' || a == '.' || a == '/' || a == ':' || a == ' ' || a == ')' || a == '(')
				len = 1;
			else
				break;
			if (j + len >= n || !isdig(t[j + len]))
				break;
			size_t g = j + len, q = g;
			while (q < n && isdig(t[q]))
				q++;
			ss[k] = (uint32_t)j;
			sl[k] = (uint8_t)len;
			gs[k] = (uint32_t)g;
			ge[k] = (uint32_t)q;
			k++;
			j = q;
			if (q < n && isalp(t[q]))
				break; /* "15T10:30": the letter ends the run */
		}
		if (k == SHAPE_MAXG && j < n && !isalp(t[j])) {
			/* a long run: windows starting in the last three groups may be cut short, so
			 * cut the next run from there */
			shape_windows(sc, gs, ge, ss, sl, k, k - 3);
			ts = gs[k - 3];
			te = ge[k - 3];
			if (sc->rc)
				return j;
			continue;
		}
		shape_windows(sc, gs, ge, ss, sl, k, k);
		return j;
	}
}

size_t phi_shape_digits(struct phi_vctx *vc, size_t ts, phi_emit_fn emit, void *arg, int *rc)
{
	struct shape_ctx sc = {vc, emit, arg, 0};
	size_t te = ts;

	while (te < N(vc) && isdig(T(vc)[te]))
		te++;
	size_t end = shape_run(&sc, ts, te);
	*rc = sc.rc;
	return end;
}

void phi_shape_alnum(struct phi_vctx *vc, size_t ts, size_t te, phi_emit_fn emit, void *arg, int *rc)
{
	struct shape_ctx sc = {vc, emit, arg, 0};
	const char *t = T(vc);
	size_t L = te - ts, n = N(vc);

	if (L == 17)
		try_check(&sc, check_vin, PHI_T_VIN, ts, te);
	else if (L == 11 && t[ts] >= '1' && t[ts] <= '9')
		try_check(&sc, check_mbi, PHI_T_MBI, ts, te);
	else if (L == 4 && t[ts] >= '1' && t[ts] <= '9' && te + 9 <= n && t[te] == '-' && t[te + 4] == '-')
		try_check(&sc, check_mbi, PHI_T_MBI, ts, te + 9);
	if ((L == 3 || L == 4) && (t[te - 1] == 'F' || t[te - 1] == 'M'))
		try_check(&sc, check_age_sex, PHI_T_AGE, ts, te);
	*rc = sc.rc;
}

int phi_shape_scan(struct phi_vctx *vc, phi_emit_fn emit, void *arg)
{
	const char *t = T(vc);
	size_t n = N(vc), i = 0;
	int rc = 0;

	while (i < n && !rc) {
		while (i < n && !(phi_cc[(unsigned char)t[i]] & PHI_CC_ALNUM))
			i++;
		if (i >= n)
			break;
		size_t ts = i;
		uint8_t cls = 0, c;
		while (i < n && ((c = phi_cc[(unsigned char)t[i]]) & PHI_CC_ALNUM)) {
			cls |= c;
			i++;
		}
		if (cls & PHI_CC_ALPHA) {
			phi_shape_alnum(vc, ts, i, emit, arg, &rc);
			continue;
		}
		if (ts > 0 && t[ts - 1] == '_')
			continue;
		i = phi_shape_digits(vc, ts, emit, arg, &rc);
	}
	return rc;
}
