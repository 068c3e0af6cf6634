/* phi_decode — turns a raw body (JSON, form, text) into the PHI scanner's scan text.
 *
 * Owns the decode buffers inside struct phi_dec (scan text, run map, segments); they are
 * reused across scans by one scratch. research/phi.md §4.2 item 3: "walk JSON string values
 * (and keys), undo JSON escapes, URL-encoding ... keep an offset map back to raw bytes ...
 * also scan numeric JSON values as digit strings". JSON is tokenised by hand in one pass (no
 * tree, no allocation per value) and validated strictly enough (RFC 8259 §2–§7) that a body
 * which is not JSON falls back to plain text instead of being half-scanned.
 *
 * Unicode normalisation in the scan text (research/phi.md §5.3 item 3, look-alikes and
 * zero-width characters): no-break and other spaces become ' ', Unicode dashes '-',
 * full-width digits/letters/@/. their ASCII forms, curly apostrophes '\'', and zero-width
 * characters and soft hyphens are dropped — so "123\u200b-45-6789" is still an SSN.
 */
#include "sidecar/phi_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <sodium.h>

#include "lib/b64.h"
#include "lib/buf.h"
#include "lib/mem.h"

#define DEC_MAX_DEPTH 512

/* GNU range designators: gcc and clang both accept them in C11 mode. */
const uint8_t phi_cc[256] = {['a' ... 'z'] = PHI_CC_LOW, ['A' ... 'Z'] = PHI_CC_UP,
			     ['0' ... '9'] = PHI_CC_DIG, [0x80 ... 0xff] = PHI_CC_HIGH,
			     [' '] = PHI_CC_JOIN, ['-'] = PHI_CC_JOIN, ['.'] = PHI_CC_JOIN,
			     ['/'] = PHI_CC_JOIN, ['('] = PHI_CC_JOIN, [')'] = PHI_CC_JOIN};

/* lc()'s table: 'A'..'Z' to 'a'..'z', every other byte to itself */
#define LC1(x) ((x) + 32 * ((x) >= 'A' && (x) <= 'Z'))
#define LC4(x) LC1(x), LC1((x) + 1), LC1((x) + 2), LC1((x) + 3)
#define LC16(x) LC4(x), LC4((x) + 4), LC4((x) + 8), LC4((x) + 12)
#define LC64(x) LC16(x), LC16((x) + 16), LC16((x) + 32), LC16((x) + 48)
const unsigned char phi_lower[256] = {LC64(0), LC64(64), LC64(128), LC64(192)};
#undef LC1
#undef LC4
#undef LC16
#undef LC64

/* JSON string bytes that end a verbatim run: '"', '\\', control characters, non-ASCII, and
 * the starts of HTML entities and percent escapes. */
static const uint8_t json_special[256] = {[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, ['&'] = 1, ['%'] = 1,
					  [0x80 ... 0xff] = 1};

/* First index >= i of a json_special byte, or len. 16 bytes at a time with SSE2: a signed
 * compare below 0x20 catches control characters and every non-ASCII byte at once. */
static inline size_t special_next(const char *raw, size_t i, size_t len)
{
#if defined(__SSE2__)
	const __m128i lim = _mm_set1_epi8(0x20), q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'),
		      amp = _mm_set1_epi8('&'), pct = _mm_set1_epi8('%');
	while (i + 16 <= len) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(raw + i));
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, lim), _mm_cmpeq_epi8(v, q)),
					 _mm_or_si128(_mm_cmpeq_epi8(v, bs),
						      _mm_or_si128(_mm_cmpeq_epi8(v, amp), _mm_cmpeq_epi8(v, pct))));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);
		if (bits)
			return i + (size_t)__builtin_ctz(bits);
		i += 16;
	}
#endif
	while (i < len && !json_special[(unsigned char)raw[i]])
		i++;
	return i;
}

void phi_dec_fini(struct phi_dec *d)
{
	free(d->am);
	free(d->dm);
	free(d->hm);
	free(d->wm);
	free(d->t);
	free(d->runs);
	free(d->segs);
	memset(d, 0, sizeof(*d));
}

static __attribute__((noinline, cold)) void dec_grow_t(struct phi_dec *d, size_t need)
{
	size_t ncap = d->cap ? d->cap : 4096;
	while (ncap < need)
		ncap *= 2;
	d->t = xrealloc(d->t, ncap);
	d->cap = ncap;
}

static inline void dec_reserve_t(struct phi_dec *d, size_t extra)
{
	size_t need = d->n + extra;

	if (__builtin_expect(need > d->cap, 0))
		dec_grow_t(d, need);
}

static __attribute__((noinline, cold)) void dec_grow_runs(struct phi_dec *d)
{
	d->cruns = d->cruns ? d->cruns * 2 : 256;
	d->runs = xrealloc(d->runs, d->cruns * sizeof(*d->runs));
}

static inline void push_run(struct phi_dec *d, size_t dd, size_t r, size_t dlen, size_t rlen)
{
	if (__builtin_expect(d->nruns == d->cruns || !d->runs, 0))
		dec_grow_runs(d);
	d->runs[d->nruns++] = (struct phi_run){(uint32_t)dd, (uint32_t)r, (uint32_t)dlen, (uint32_t)rlen};
}

/* Copy raw[r, r+len) verbatim, extending the previous linear run when contiguous. */
static inline void emit_lin(struct phi_dec *d, const char *raw, size_t r, size_t len)
{
	struct phi_run *last;

	if (len == 0)
		return;
	dec_reserve_t(d, len);
	memcpy(d->t + d->n, raw + r, len);
	last = d->nruns ? &d->runs[d->nruns - 1] : NULL;
	if (last && last->dlen == last->rlen && last->d + last->dlen == d->n &&
	    last->r + last->rlen == r) {
		last->dlen += (uint32_t)len;
		last->rlen += (uint32_t)len;
	} else {
		push_run(d, d->n, r, len, len);
	}
	d->n += len;
}

/* Emit bytes standing for raw[r, r+rlen) as one atomic run (blen may be 0: dropped). */
static void emit_atomic(struct phi_dec *d, size_t r, size_t rlen, const char *bytes, size_t blen)
{
	if (blen == 0)
		return;
	dec_reserve_t(d, blen);
	memcpy(d->t + d->n, bytes, blen);
	push_run(d, d->n, r, blen, rlen);
	d->n += blen;
}

static inline void emit_sep(struct phi_dec *d)
{
	dec_reserve_t(d, 1);
	d->t[d->n++] = '\n';
}

static __attribute__((noinline, cold)) void dec_grow_segs(struct phi_dec *d)
{
	d->csegs = d->csegs ? d->csegs * 2 : 64;
	d->segs = xrealloc(d->segs, d->csegs * sizeof(*d->segs));
}

static inline size_t push_seg(struct phi_dec *d, size_t d0, size_t r0, size_t r1, int kind, long key)
{
	if (__builtin_expect(d->nsegs == d->csegs || !d->segs, 0))
		dec_grow_segs(d);
	d->segs[d->nsegs] = (struct phi_seg){(uint32_t)d0, (uint32_t)d->n, (uint32_t)r0, (uint32_t)r1,
					     (int32_t)key, (uint8_t)kind};
	return d->nsegs++;
}

int phi_norm_cp(uint32_t cp, char out[4])
{
	if (cp == 0x00a0 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x202f || cp == 0x205f ||
	    cp == 0x3000) {
		out[0] = ' ';
		return 1;
	}
	if ((cp >= 0x200b && cp <= 0x200d) || cp == 0x2060 || cp == 0xfeff || cp == 0x00ad)
		return 0;
	if ((cp >= 0x2010 && cp <= 0x2015) || cp == 0x2212 || cp == 0xfe63 || cp == 0xff0d) {
		out[0] = '-';
		return 1;
	}
	if (cp == 0x2018 || cp == 0x2019 || cp == 0x02bc) {
		out[0] = '\'';
		return 1;
	}
	if (cp >= 0xff10 && cp <= 0xff19) {
		out[0] = (char)('0' + (cp - 0xff10));
		return 1;
	}
	if (cp >= 0xff21 && cp <= 0xff3a) {
		out[0] = (char)('A' + (cp - 0xff21));
		return 1;
	}
	if (cp >= 0xff41 && cp <= 0xff5a) {
		out[0] = (char)('a' + (cp - 0xff41));
		return 1;
	}
	if (cp == 0xff20 || cp == 0xfe6b) {
		out[0] = '@';
		return 1;
	}
	if (cp == 0xff0e || cp == 0x2024) {
		out[0] = '.';
		return 1;
	}
	return -1;
}

/* Decode one UTF-8 sequence at p[0..n); returns its length (0 if invalid) and *cp. */
static size_t utf8_dec(const unsigned char *p, size_t n, uint32_t *cp)
{
	unsigned char c = p[0];
	size_t k, len;
	uint32_t v;

	if (c < 0xc2)
		return 0;
	if (c < 0xe0) {
		len = 2;
		v = c & 0x1f;
	} else if (c < 0xf0) {
		len = 3;
		v = c & 0x0f;
	} else if (c < 0xf5) {
		len = 4;
		v = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[k] & 0x3f);
	}
	*cp = v;
	return len;
}

static size_t utf8_enc(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A non-ASCII byte at raw[i]: emit it normalised or verbatim; returns raw bytes consumed. */
static size_t emit_high(struct phi_dec *d, const char *raw, size_t i, size_t end)
{
	uint32_t cp;
	char rep[4];
	size_t l = utf8_dec((const unsigned char *)raw + i, end - i, &cp);
	int k;

	if (l == 0) {
		emit_lin(d, raw, i, 1);
		return 1;
	}
	k = phi_norm_cp(cp, rep);
	if (k < 0)
		emit_lin(d, raw, i, l);
	else
		emit_atomic(d, i, l, rep, (size_t)k);
	return l;
}

static size_t utf8_enc(uint32_t cp, char out[4]);

/* Bounded un-obfuscation (research/phi.md §4.2 item 3): an HTML entity (&#64; &#x40; &amp;
 * &commat; ...) or a percent escape of '@' or '.' (%40, %2E) at raw[i]. Returns the raw bytes
 * consumed and the replacement in out/olen, or 0 when raw[i] starts neither. */
static size_t obfusc_at(const char *raw, size_t i, size_t end, char out[4], size_t *olen)
{
	static const struct { const char *name; char c; } named[] = {
		{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''},
		{"nbsp;", ' '}, {"commat;", '@'}, {"period;", '.'}, {"hyphen;", '-'}, {"dash;", '-'}};
	size_t j = i + 1;

	if (raw[i] == '%') {
		if (i + 2 < end && raw[i + 1] == '4' && raw[i + 2] == '0') {
			out[0] = '@';
		} else if (i + 2 < end && raw[i + 1] == '2' && (raw[i + 2] == 'E' || raw[i + 2] == 'e')) {
			out[0] = '.';
		} else {
			return 0;
		}
		*olen = 1;
		return 3;
	}
	if (j < end && raw[j] == '#') {
		uint32_t cp = 0;
		size_t k = ++j;
		bool hex = j < end && (raw[j] == 'x' || raw[j] == 'X');
		if (hex)
			k = ++j;
		while (j < end && j - k < 7) {
			char c = raw[j];
			int v = c >= '0' && c <= '9' ? c - '0'
				: hex && (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1;
			if (v < 0)
				break;
			cp = cp * (hex ? 16 : 10) + (uint32_t)v;
			j++;
		}
		if (j == k || j >= end || raw[j] != ';' || cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		int r = phi_norm_cp(cp, out);
		*olen = r >= 0 ? (size_t)r : utf8_enc(cp, out);
		return j + 1 - i;
	}
	for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
		size_t l = strlen(named[k].name);
		if (end - j >= l && memcmp(raw + j, named[k].name, l) == 0) {
			out[0] = named[k].c;
			*olen = 1;
			return l + 1;
		}
	}
	return 0;
}

/* SWAR: does the 8-byte word hold a byte equal to c? */
static inline bool has_byte(uint64_t w, unsigned char c)
{
	uint64_t x = w ^ (0x0101010101010101ull * c);
	return ((x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull) != 0;
}

/* First index in [i, b) of a byte emit_text must look at (non-ASCII, '&', '%'), or b: 16 bytes
 * at a time with SSE2 (the sign bit marks the non-ASCII bytes), else 8 with word tricks. */
static inline size_t text_special_next(const char *raw, size_t i, size_t b)
{
#if defined(__SSE2__)
	const __m128i amp = _mm_set1_epi8('&'), pct = _mm_set1_epi8('%');
	while (i + 16 <= b) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(raw + i));
		unsigned bits = (unsigned)_mm_movemask_epi8(
			_mm_or_si128(v, _mm_or_si128(_mm_cmpeq_epi8(v, amp), _mm_cmpeq_epi8(v, pct))));
		if (bits)
			return i + (size_t)__builtin_ctz(bits);
		i += 16;
	}
#endif
	while (i + 8 <= b) {
		uint64_t w;
		memcpy(&w, raw + i, 8);
		if ((w & 0x8080808080808080ull) != 0 || has_byte(w, '&') || has_byte(w, '%'))
			break;
		i += 8;
	}
	while (i < b && (unsigned char)raw[i] < 0x80 && raw[i] != '&' && raw[i] != '%')
		i++;
	return i;
}

/* Text between raw[a, b): verbatim except normalised non-ASCII. */
static void emit_text(struct phi_dec *d, const char *raw, size_t a, size_t b)
{
	size_t i = a, start = a;

	while ((i = text_special_next(raw, i, b)) < b) {
		unsigned char c = (unsigned char)raw[i];
		if (c == '&' || c == '%') {
			char rep[4];
			size_t rl, ol;
			if ((rl = obfusc_at(raw, i, b, rep, &ol)) != 0) {
				emit_lin(d, raw, start, i - start);
				emit_atomic(d, i, rl, rep, ol);
				i += rl;
				start = i;
				continue;
			}
			i++;
			continue;
		}
		emit_lin(d, raw, start, i - start);
		i += emit_high(d, raw, i, b);
		start = i;
	}
	emit_lin(d, raw, start, b - start);
}

static void dec_reset(struct phi_dec *d)
{
	d->n = 0;
	d->nruns = 0;
	d->nsegs = 0;
}

static void decode_text(struct phi_dec *d, const char *raw, size_t len)
{
	dec_reset(d);
	d->kind = PHI_BODY_TEXT;
	dec_reserve_t(d, len + 1);
	emit_text(d, raw, 0, len);
	push_seg(d, 0, 0, len, PHI_SEG_TEXT, -1);
	emit_sep(d);
}

/* --- JSON ------------------------------------------------------------------------------------ */

static inline bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hex4(const char *p, uint32_t *v)
{
	uint32_t x = 0;

	for (int k = 0; k < 4; k++) {
		char c = p[k];
		x <<= 4;
		if (c >= '0' && c <= '9')
			x |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			x |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			x |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*v = x;
	return 0;
}

/* --- base64 text inside a JSON string ----------------------------------------------------------
 *
 * FHIR Attachment.data (base64Binary) carries a write-back's note text — an AI draft, a letter,
 * a discharge summary — and anything else base64 in a JSON string value is just as easily read
 * back. A value of at least B64_MIN characters from the standard alphabet (line breaks allowed,
 * as xs:base64Binary allows whitespace; RFC 4648 §4, decoded strictly by lib/b64) that decodes to
 * text (valid UTF-8, no control characters but tab, CR and LF) is scanned as that text instead of
 * its base64 characters. The decoded text is one atomic run over the whole value, so every
 * finding in it maps to the whole base64 value and redaction replaces all of it: no partial
 * base64 groups are left to decode. Binary payloads (images, PDFs) are not text and stay as
 * they are: the scanner does not look inside them. Found by the independent corpus
 * (`base64-attachment`, fixtures/phi_indep). */
#define B64_MIN 24

static const uint8_t b64_alpha[256] = {['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['0' ... '9'] = 1, ['+'] = 1,
				       ['/'] = 1};

/* Is p[0, n) text: valid UTF-8 without control characters other than tab, CR, LF? */
static bool is_text(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		if (p[i] < 0x80) {
			if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') || p[i] == 0x7f)
				return false;
			i++;
			continue;
		}
		size_t l = utf8_dec(p + i, n - i, &cp);
		if (l == 0 || (cp >= 0x80 && cp < 0xa0))
			return false;
		i += l;
	}
	return true;
}

/* The string value just decoded to t[d0, n) (its runs from nr0 on; raw content [rs, re), the
 * quotes excluded): when it is base64 of text, replace it by the text. Returns whether it did. */
static bool b64_text_swap(struct phi_dec *d, size_t d0, size_t nr0, size_t rs, size_t re)
{
	const unsigned char *s = (const unsigned char *)d->t + d0;
	size_t n = d->n - d0, chars = 0, pad = 0;
	struct buf out;
	bool ok = false;

	for (size_t k = 0; k < n; k++) {
		unsigned char c = s[k];
		if (b64_alpha[c] && !pad)
			chars++;
		else if (c == '=' && pad < 2)
			pad++;
		else if (c != '\n' && c != '\r')
			return false; /* prose stops here, at its first space */
	}
	if (chars < B64_MIN || (chars + pad) % 4 != 0)
		return false;
	buf_init(&out, n);
	if (b64_decode((const char *)s, n, B64_STD, &out) == 0 && out.len > 0 && out.len < re - rs &&
	    is_text((const unsigned char *)out.p, out.len)) {
		/* normalise as emit_high does (never longer: in place) */
		size_t w = 0;
		for (size_t i = 0; i < out.len;) {
			uint32_t cp;
			size_t l = (unsigned char)out.p[i] < 0x80 ? 0 : utf8_dec((const unsigned char *)out.p + i, out.len - i, &cp);
			if (l == 0) {
				out.p[w++] = out.p[i++];
				continue;
			}
			char rep[4];
			int k = phi_norm_cp(cp, rep);
			if (k < 0) {
				memmove(out.p + w, out.p + i, l);
				w += l;
			} else {
				memcpy(out.p + w, rep, (size_t)k);
				w += (size_t)k;
			}
			i += l;
		}
		d->n = d0;
		d->nruns = nr0;
		emit_atomic(d, rs, re - rs, out.p, w);
		ok = true;
	}
	if (out.p)
		sodium_memzero(out.p, out.cap);
	buf_fini(&out);
	return ok;
}

/* String starting at raw[*pi] == '"'. Emits its decoded content as one segment. */
static int json_string(struct phi_dec *d, const char *raw, size_t len, size_t *pi, int kind, long key,
		       size_t *seg_out)
{
	size_t i = *pi + 1, start, d0 = d->n, r0 = *pi, nr0 = d->nruns;

	start = i;
	for (;;) {
		i = special_next(raw, i, len);
		if (i >= len)
			return -1;
		unsigned char c = (unsigned char)raw[i];
		if (c == '"') {
			emit_lin(d, raw, start, i - start);
			i++;
			break;
		}
		if (c < 0x20)
			return -1; /* RFC 8259 §7: control characters must be escaped */
		if (c == '&' || c == '%') {
			char rep[4];
			size_t rl, ol, q = i;
			/* the entity must end before the closing quote */
			while (q < len && raw[q] != '"' && raw[q] != '\\' && q - i < 12)
				q++;
			if ((rl = obfusc_at(raw, i, q, rep, &ol)) != 0) {
				emit_lin(d, raw, start, i - start);
				emit_atomic(d, i, rl, rep, ol);
				i += rl;
				start = i;
			} else {
				i++;
			}
			continue;
		}
		if (c >= 0x80) {
			emit_lin(d, raw, start, i - start);
			i += emit_high(d, raw, i, len);
			start = i;
			continue;
		}
		if (c != '\\') {
			i++;
			continue;
		}
		emit_lin(d, raw, start, i - start);
		if (i + 1 >= len)
			return -1;
		char e = raw[i + 1], ch;
		if (e == '\\' && i + 3 < len && (raw[i + 2] == 'n' || raw[i + 2] == 'r' || raw[i + 2] == 't')) {
			/* JSON inside a JSON string (tool-call arguments, a prompt that quotes a
			 * request): "\\n" is the inner string's newline. Read as a line break, a name
			 * after it stays a word of its own instead of "nBanerjee". */
			ch = raw[i + 2] == 't' ? '\t' : '\n';
			emit_atomic(d, i, 3, &ch, 1);
			i += 3;
			start = i;
			continue;
		}
		if (e == '\\' && i + 8 <= len && raw[i + 2] == 'u') {
			uint32_t cp;
			char rep[4];
			int k;

			/* the inner string's \u escape ("jane\\u0040example.com"), BMP only */
			if (hex4(raw + i + 3, &cp) == 0 && !(cp >= 0xd800 && cp <= 0xdfff)) {
				k = phi_norm_cp(cp, rep);
				if (k < 0)
					k = (int)utf8_enc(cp, rep);
				emit_atomic(d, i, 7, rep, (size_t)k);
				i += 7;
				start = i;
				continue;
			}
		}
		switch (e) {
		case '"': ch = '"'; break;
		case '\\': ch = '\\'; break;
		case '/': ch = '/'; break;
		case 'b': ch = '\b'; break;
		case 'f': ch = '\f'; break;
		case 'n': ch = '\n'; break;
		case 'r': ch = '\r'; break;
		case 't': ch = '\t'; break;
		case 'u': {
			uint32_t cp, lo;
			size_t rl = 6;
			char rep[4];
			int k;

			if (i + 6 > len || hex4(raw + i + 2, &cp) < 0)
				return -1;
			if (cp >= 0xd800 && cp <= 0xdbff && i + 12 <= len && raw[i + 6] == '\\' &&
			    raw[i + 7] == 'u' && hex4(raw + i + 8, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				rl = 12;
			} else if (cp >= 0xd800 && cp <= 0xdfff) {
				cp = 0xfffd; /* lone surrogate */
			}
			k = phi_norm_cp(cp, rep);
			if (k < 0)
				k = (int)utf8_enc(cp, rep);
			emit_atomic(d, i, rl, rep, (size_t)k);
			i += rl;
			start = i;
			continue;
		}
		default:
			return -1;
		}
		/* A JSON "\n" inside a string is a real newline in the text; keep it a line break
		 * for the detectors but never let it look like our segment separator run. */
		emit_atomic(d, i, 2, &ch, 1);
		i += 2;
		start = i;
	}
	if (kind == PHI_SEG_STRING && d->n - d0 >= B64_MIN)
		b64_text_swap(d, d0, nr0, r0 + 1, i - 1);
	*seg_out = push_seg(d, d0, r0, i, kind, key);
	emit_sep(d);
	*pi = i;
	return 0;
}

static int json_number(struct phi_dec *d, const char *raw, size_t len, size_t *pi, long key)
{
	size_t i = *pi, s = i, d0 = d->n;

	if (raw[i] == '-')
		i++;
	if (i >= len)
		return -1;
	if (raw[i] == '0') {
		i++;
	} else if (raw[i] >= '1' && raw[i] <= '9') {
		while (i < len && raw[i] >= '0' && raw[i] <= '9')
			i++;
	} else {
		return -1;
	}
	if (i < len && raw[i] == '.') {
		i++;
		if (i >= len || raw[i] < '0' || raw[i] > '9')
			return -1;
		while (i < len && raw[i] >= '0' && raw[i] <= '9')
			i++;
	}
	if (i < len && (raw[i] == 'e' || raw[i] == 'E')) {
		i++;
		if (i < len && (raw[i] == '+' || raw[i] == '-'))
			i++;
		if (i >= len || raw[i] < '0' || raw[i] > '9')
			return -1;
		while (i < len && raw[i] >= '0' && raw[i] <= '9')
			i++;
	}
	emit_lin(d, raw, s, i - s);
	push_seg(d, d0, s, i, PHI_SEG_NUMBER, key);
	emit_sep(d);
	*pi = i;
	return 0;
}

static int json_literal(const char *raw, size_t len, size_t *pi)
{
	static const char *const lits[] = {"true", "false", "null"};

	for (size_t k = 0; k < 3; k++) {
		size_t l = strlen(lits[k]);
		if (len - *pi >= l && memcmp(raw + *pi, lits[k], l) == 0) {
			*pi += l;
			return 0;
		}
	}
	return -1;
}

/* Returns 0 when raw is one complete JSON text, -1 otherwise. */
static int decode_json(struct phi_dec *d, const char *raw, size_t len)
{
	char stack[DEC_MAX_DEPTH];
	long keystack[DEC_MAX_DEPTH];
	unsigned depth = 0;
	size_t i = 0, seg;
	long cur_key = -1;
	enum { S_VALUE, S_VALUE_OR_CLOSE, S_KEY, S_KEY_OR_CLOSE, S_COLON, S_AFTER } st = S_VALUE;

	dec_reset(d);
	d->kind = PHI_BODY_JSON;
	dec_reserve_t(d, len + 16);
	for (;;) {
		while (i < len && is_ws(raw[i]))
			i++;
		if (st == S_AFTER && depth == 0)
			return i == len ? 0 : -1;
		if (i >= len)
			return -1;
		char c = raw[i];
		switch (st) {
		case S_VALUE:
		case S_VALUE_OR_CLOSE: {
			long vkey = depth && stack[depth - 1] == 'o' ? cur_key : (depth ? keystack[depth - 1] : -1);
			if (st == S_VALUE_OR_CLOSE && c == ']') {
				depth--;
				i++;
				st = S_AFTER;
				break;
			}
			if (c == '{' || c == '[') {
				if (depth == DEC_MAX_DEPTH)
					return -1;
				keystack[depth] = vkey;
				stack[depth++] = c == '{' ? 'o' : 'a';
				i++;
				st = c == '{' ? S_KEY_OR_CLOSE : S_VALUE_OR_CLOSE;
				break;
			}
			if (c == '"') {
				if (json_string(d, raw, len, &i, PHI_SEG_STRING, vkey, &seg) < 0)
					return -1;
			} else if (c == '-' || (c >= '0' && c <= '9')) {
				if (json_number(d, raw, len, &i, vkey) < 0)
					return -1;
			} else if (json_literal(raw, len, &i) < 0) {
				return -1;
			}
			st = S_AFTER;
			break;
		}
		case S_KEY_OR_CLOSE:
			if (c == '}') {
				depth--;
				i++;
				st = S_AFTER;
				break;
			}
			/* fall through */
		case S_KEY:
			if (c != '"' || json_string(d, raw, len, &i, PHI_SEG_KEY, -1, &seg) < 0)
				return -1;
			cur_key = (long)seg;
			st = S_COLON;
			break;
		case S_COLON:
			if (c != ':')
				return -1;
			i++;
			st = S_VALUE;
			break;
		case S_AFTER:
			if (c == ',') {
				i++;
				st = stack[depth - 1] == 'o' ? S_KEY : S_VALUE;
			} else if ((c == '}' && stack[depth - 1] == 'o') || (c == ']' && stack[depth - 1] == 'a')) {
				depth--;
				i++;
				st = S_AFTER;
			} else {
				return -1;
			}
			break;
		}
	}
}

/* --- form (application/x-www-form-urlencoded, WHATWG URL §5.1) -------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Form bytes copied as they are, except '+', which stands for a space: one byte for one, so
 * the run stays linear (the offset map is the same as for an atomic run per '+'). */
static void emit_form_lin(struct phi_dec *d, const char *raw, size_t r, size_t len)
{
	if (len == 0)
		return;
	emit_lin(d, raw, r, len);
	for (char *p = d->t + d->n - len; (p = memchr(p, '+', (size_t)(d->t + d->n - p))) != NULL; p++)
		*p = ' ';
}

static void form_field(struct phi_dec *d, const char *raw, size_t a, size_t b, long key, size_t *seg)
{
	size_t i = a, start = a, d0 = d->n;

	while (i < b) {
		char c = raw[i];
		if (c == '%' && i + 2 < b && hexval(raw[i + 1]) >= 0 && hexval(raw[i + 2]) >= 0) {
			unsigned char u[4];
			size_t nu = 1, r = i + 3;
			u[0] = (unsigned char)(hexval(raw[i + 1]) * 16 + hexval(raw[i + 2]));
			/* a percent-encoded UTF-8 sequence is one character: normalise it like text */
			size_t want = u[0] >= 0xf0 ? 4 : u[0] >= 0xe0 ? 3 : u[0] >= 0xc2 ? 2 : 1;
			while (nu < want && r + 2 < b + 0 && raw[r] == '%' && hexval(raw[r + 1]) >= 0 &&
			       hexval(raw[r + 2]) >= 0) {
				u[nu++] = (unsigned char)(hexval(raw[r + 1]) * 16 + hexval(raw[r + 2]));
				r += 3;
			}
			uint32_t cp;
			char rep[4];
			int k = -1;
			if (nu == want && want > 1 && utf8_dec(u, nu, &cp) == nu)
				k = phi_norm_cp(cp, rep);
			emit_form_lin(d, raw, start, i - start);
			if (k >= 0) {
				emit_atomic(d, i, r - i, rep, (size_t)k);
				i = r;
			} else {
				emit_atomic(d, i, 3, (const char *)u, 1);
				i += 3;
			}
			start = i;
		} else {
			const char *q = memchr(raw + i + 1, '%', b - i - 1);
			i = q ? (size_t)(q - raw) : b;
		}
	}
	emit_form_lin(d, raw, start, i - start);
	*seg = push_seg(d, d0, a, b, PHI_SEG_FORM, key);
	emit_sep(d);
}

static void decode_form(struct phi_dec *d, const char *raw, size_t len)
{
	size_t i = 0, seg;

	dec_reset(d);
	d->kind = PHI_BODY_FORM;
	dec_reserve_t(d, len + 16);
	while (i <= len) {
		size_t a = i, eq = (size_t)-1;
		while (i < len && raw[i] != '&') {
			if (raw[i] == '=' && eq == (size_t)-1)
				eq = i;
			i++;
		}
		if (i > a) {
			if (eq != (size_t)-1) {
				form_field(d, raw, a, eq, -1, &seg);
				form_field(d, raw, eq + 1, i, (long)seg, &seg);
			} else {
				form_field(d, raw, a, i, -1, &seg);
			}
		}
		i++;
	}
}

int phi_decode(struct phi_dec *d, const char *body, size_t len, enum phi_body kind)
{
	if (len >= UINT32_MAX / 2)
		return -E2BIG;
	if (kind == PHI_BODY_FORM) {
		decode_form(d, body, len);
	} else if (kind == PHI_BODY_JSON) {
		if (decode_json(d, body, len) < 0)
			decode_text(d, body, len);
	} else {
		decode_text(d, body, len);
	}
	/* PHI_DEC_PAD zero bytes after the text (not part of it): Vectorscan scans run into them */
	dec_reserve_t(d, PHI_DEC_PAD);
	memset(d->t + d->n, 0, PHI_DEC_PAD);
	return 0;
}

long phi_dec_seg_at(const struct phi_dec *d, size_t pos)
{
	size_t lo = 0, hi = d->nsegs;

	/* first segment starting after pos; segments are sorted and disjoint */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (d->segs[mid].d0 <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || pos >= d->segs[lo - 1].d1)
		return -1;
	return (long)(lo - 1);
}

long phi_dec_seg_near(const struct phi_dec *d, size_t pos, size_t *hint)
{
	size_t h = *hint;

	/* detectors report in text order: the segment of the last lookup, or the next one */
	for (size_t k = h; k < d->nsegs && k <= h + 1; k++) {
		if (pos < d->segs[k].d0)
			break;
		if (pos < d->segs[k].d1) {
			*hint = k;
			return (long)k;
		}
	}
	long r = phi_dec_seg_at(d, pos);
	if (r >= 0)
		*hint = (size_t)r;
	return r;
}

/* Index of the run containing decoded byte pos, or -1. */
static long run_at(const struct phi_dec *d, size_t pos)
{
	size_t lo = 0, hi = d->nruns;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if ((size_t)d->runs[mid].d + d->runs[mid].dlen <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < d->nruns && d->runs[lo].d <= pos && pos < (size_t)d->runs[lo].d + d->runs[lo].dlen)
		return (long)lo;
	return -1;
}

/* decoded [s, e) with s in run a and e - 1 in run b: an atomic run maps whole */
static inline void map_runs(const struct phi_dec *d, long a, long b, size_t s, size_t e, size_t *rs, size_t *re)
{
	const struct phi_run *ra = &d->runs[a], *rb = &d->runs[b];

	*rs = ra->dlen == ra->rlen ? ra->r + (s - ra->d) : ra->r;
	*re = rb->dlen == rb->rlen ? rb->r + (e - rb->d) : (size_t)rb->r + rb->rlen;
}

static inline bool run_has(const struct phi_dec *d, size_t k, size_t pos)
{
	return k < d->nruns && d->runs[k].d <= pos && pos < (size_t)d->runs[k].d + d->runs[k].dlen;
}

/* run_at, trying run *hint and the one after it first (most findings of a scan lie in one
 * run, and they are mapped in ascending order) */
static long run_near(const struct phi_dec *d, size_t pos, size_t *hint)
{
	size_t h = *hint;
	long r;

	if (run_has(d, h, pos))
		return (long)h;
	if (run_has(d, h + 1, pos))
		r = (long)(h + 1);
	else if ((r = run_at(d, pos)) < 0)
		return -1;
	*hint = (size_t)r;
	return r;
}

bool phi_dec_map_near(const struct phi_dec *d, size_t s, size_t e, size_t *rs, size_t *re, size_t *hint)
{
	long a, b;
	size_t hb;

	if (e <= s)
		return false;
	a = run_near(d, s, hint);
	hb = a >= 0 ? (size_t)a : 0;
	b = run_near(d, e - 1, &hb);
	if (a < 0 || b < 0)
		return false;
	map_runs(d, a, b, s, e, rs, re);
	return true;
}

/* the reference: both ends by binary search (test_decode_map compares the two) */
bool phi_dec_map(const struct phi_dec *d, size_t s, size_t e, size_t *rs, size_t *re)
{
	long a, b;

	if (e <= s)
		return false;
	a = run_at(d, s);
	b = run_at(d, e - 1);
	if (a < 0 || b < 0)
		return false;
	map_runs(d, a, b, s, e, rs, re);
	return true;
}

/* --- byte-class bitmaps ----------------------------------------------------------------------
 * The token loops spend their time deciding, byte by byte, where words start and end. One
 * vector pass turns the scan text into three bit arrays (ASCII letter, digit, non-ASCII) and
 * the token loops then jump between word boundaries with count-trailing-zeros. */

#if defined(__SSE2__)
static inline unsigned sse_digit(__m128i v)
{
	__m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
	return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
}
static inline unsigned sse_alpha(__m128i v)
{
	__m128i a = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
	return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(a, _mm_set1_epi8(25)), a));
}
#endif

void phi_dec_bitmaps(struct phi_dec *d)
{
	size_t nw = d->n / 64 + 2, w, i;

	if (nw > d->cwords) {
		d->cwords = nw * 2;
		d->am = xrealloc(d->am, d->cwords * 8);
		d->dm = xrealloc(d->dm, d->cwords * 8);
		d->hm = xrealloc(d->hm, d->cwords * 8);
		d->wm = xrealloc(d->wm, d->cwords * 8);
	}
	d->nwords = nw;
	/* the block holding t[n] too: PHI_DEC_PAD (64) zero bytes follow the text (phi_decode),
	 * and a zero byte sets no bit */
	_Static_assert(PHI_DEC_PAD >= 64, "a 64-byte block from t[n - 1] must stay in the padding");
	for (w = 0; w * 64 <= d->n; w++) {
		const unsigned char *p = (const unsigned char *)d->t + w * 64;
		uint64_t a = 0, g = 0, h = 0;
#if defined(__SSE2__)
		for (int k = 0; k < 4; k++) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
			a |= (uint64_t)sse_alpha(v) << (16 * k);
			g |= (uint64_t)sse_digit(v) << (16 * k);
			h |= (uint64_t)(unsigned)_mm_movemask_epi8(v) << (16 * k);
		}
#else
		for (int k = 0; k < 64; k++) {
			uint8_t c = phi_cc[p[k]];
			a |= (uint64_t)((c & PHI_CC_ALPHA) != 0) << k;
			g |= (uint64_t)((c & PHI_CC_DIG) != 0) << k;
			h |= (uint64_t)((c & PHI_CC_HIGH) != 0) << k;
		}
#endif
		d->am[w] = a;
		d->dm[w] = g;
		d->hm[w] = h;
		d->wm[w] = a | g | h;
	}
	for (; w < nw; w++) {
		uint64_t a = 0, g = 0, h = 0;
		for (i = w * 64; i < d->n && i < (w + 1) * 64; i++) {
			uint8_t c = phi_cc[(unsigned char)d->t[i]];
			a |= (uint64_t)((c & PHI_CC_ALPHA) != 0) << (i & 63);
			g |= (uint64_t)((c & PHI_CC_DIG) != 0) << (i & 63);
			h |= (uint64_t)((c & PHI_CC_HIGH) != 0) << (i & 63);
		}
		d->am[w] = a;
		d->dm[w] = g;
		d->hm[w] = h;
		d->wm[w] = a | g | h;
	}
}

