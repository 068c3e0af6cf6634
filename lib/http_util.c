/* http_util — strict HTTP/1.1 request framing and host:port parsing.
 *
 * The framer owns one head buffer (max_head bytes) and a little state per connection. It
 * accepts a deliberately narrow subset of RFC 9112 so that no two parsers can disagree on
 * where a message ends (request smuggling, RFC 9112 §11.2): CRLF line endings only, no
 * obs-fold, exactly one Content-Length or exactly "Transfer-Encoding: chunked" (never both),
 * no chunk extensions, no trailer fields, and no NUL in a body unless allowed. Everything it
 * rejects is reported as a rule name, never as the offending bytes.
 */
#include "lib/http_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"

enum {
	S_HEAD = 0,
	S_BODY_CL,
	S_CHUNK_SIZE,
	S_CHUNK_SIZE_LF,
	S_CHUNK_DATA,
	S_CHUNK_DATA_CR,
	S_CHUNK_DATA_LF,
	S_TRAILER_CR,
	S_TRAILER_LF,
	S_DONE,
	S_TOO_LARGE,
	S_INVALID,
};

/* Chunk framing (size lines and CRLFs) may exceed the data by at most this much; stops a
 * client from sending a 1 MiB body as a million 1-byte chunks (6 MiB held). */
#define CHUNK_OVERHEAD_SLACK 4096u
/* 18 decimal digits < 2^63: anything longer is refused rather than parsed (RFC 9112 §6.3). */
#define CL_MAX_DIGITS 18
/* 15 hex digits = 2^60: same idea for chunk-size (RFC 9112 §7.1). */
#define CHUNK_MAX_HEXDIGITS 15

static const char *const fe_names[HTTP_FE_COUNT_] = {
	[HTTP_FE_NONE] = "none",
	[HTTP_FE_HEAD_TOO_LARGE] = "head_too_large",
	[HTTP_FE_BARE_CR] = "bare_cr",
	[HTTP_FE_BARE_LF] = "bare_lf",
	[HTTP_FE_REQUEST_LINE] = "request_line",
	[HTTP_FE_METHOD] = "method",
	[HTTP_FE_TARGET] = "target",
	[HTTP_FE_VERSION] = "version",
	[HTTP_FE_FIELD_NAME] = "field_name",
	[HTTP_FE_WS_BEFORE_COLON] = "ws_before_colon",
	[HTTP_FE_OBS_FOLD] = "obs_fold",
	[HTTP_FE_FIELD_VALUE] = "field_value",
	[HTTP_FE_HOST] = "host",
	[HTTP_FE_CL_INVALID] = "cl_invalid",
	[HTTP_FE_CL_DUPLICATE] = "cl_duplicate",
	[HTTP_FE_TE_UNSUPPORTED] = "te_unsupported",
	[HTTP_FE_TE_DUPLICATE] = "te_duplicate",
	[HTTP_FE_TE_AND_CL] = "te_and_cl",
	[HTTP_FE_TE_HTTP10] = "te_http10",
	[HTTP_FE_BODY_NOT_ALLOWED] = "body_not_allowed",
	[HTTP_FE_CHUNK_SIZE] = "chunk_size",
	[HTTP_FE_CHUNK_CRLF] = "chunk_crlf",
	[HTTP_FE_TRAILER] = "trailer",
	[HTTP_FE_CHUNK_OVERHEAD] = "chunk_overhead",
	[HTTP_FE_NUL_IN_BODY] = "nul_in_body",
};

const char *http_frame_error_name(enum http_frame_error e)
{
	if ((unsigned)e >= HTTP_FE_COUNT_)
		return "unknown";
	return fe_names[e];
}

static const struct {
	const char *name;
	size_t len;
	enum http_method m;
} methods[] = {
	{ "GET", 3, HTTP_M_GET },         { "POST", 4, HTTP_M_POST },
	{ "PUT", 3, HTTP_M_PUT },         { "PATCH", 5, HTTP_M_PATCH },
	{ "DELETE", 6, HTTP_M_DELETE },   { "OPTIONS", 7, HTTP_M_OPTIONS },
};

/* tchar (RFC 9110 §5.6.2) */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar / SP / HTAB (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB. No NUL, CR, LF, other CTL. */
static bool is_field_char(unsigned char c)
{
	return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

bool http_ascii_ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

static bool name_is(const char *name, size_t len, const char *want)
{
	size_t wl = strlen(want);

	return len == wl && http_ascii_ieq(name, want, wl);
}

void http_framer_init(struct http_framer *f, const struct http_framer_limits *lim)
{
	memset(f, 0, sizeof(*f));
	f->lim = *lim;
	if (f->lim.max_head < 64)
		f->lim.max_head = 64;
	f->state = S_HEAD;
}

void http_framer_fini(struct http_framer *f)
{
	free(f->head);
	f->head = NULL;
}

void http_framer_reset(struct http_framer *f)
{
	char *head = f->head;
	struct http_framer_limits lim = f->lim;

	memset(f, 0, sizeof(*f));
	f->head = head;
	f->lim = lim;
	f->state = S_HEAD;
}

bool http_framer_in_message(const struct http_framer *f)
{
	return f->message_bytes > 0 && f->state != S_DONE;
}

static int fail(struct http_framer *f, enum http_frame_error e)
{
	f->state = S_INVALID;
	f->error = e;
	return HTTP_FRAMER_INVALID;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 §3). One SP exactly. */
static int parse_request_line(struct http_framer *f, const char *l, size_t len)
{
	const char *sp1 = memchr(l, ' ', len), *sp2, *t, *v;
	size_t mlen, tlen, vlen, i;
	bool known = false, token = true;

	if (sp1 == NULL)
		return fail(f, HTTP_FE_REQUEST_LINE);
	mlen = (size_t)(sp1 - l);
	t = sp1 + 1;
	sp2 = memchr(t, ' ', len - mlen - 1);
	if (sp2 == NULL || mlen == 0)
		return fail(f, HTTP_FE_REQUEST_LINE);
	tlen = (size_t)(sp2 - t);
	v = sp2 + 1;
	vlen = len - mlen - tlen - 2;

	for (i = 0; i < mlen; i++)
		token = token && is_tchar((unsigned char)l[i]);
	if (!token)
		return fail(f, HTTP_FE_REQUEST_LINE);
	/* Methods are case-sensitive (RFC 9110 §9.1). */
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (methods[i].len == mlen && memcmp(methods[i].name, l, mlen) == 0) {
			f->method = methods[i].m;
			known = true;
		}
	}
	if (!known || !(f->lim.methods & f->method))
		return fail(f, HTTP_FE_METHOD);

	/* request-target: origin-form, absolute-form (http/https), or asterisk-form for OPTIONS
	 * (RFC 9112 §3.2). Visible ASCII only; a second SP means the line had 4 words. */
	if (tlen == 0)
		return fail(f, HTTP_FE_REQUEST_LINE);
	for (i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c < 0x21 || c > 0x7e)
			return fail(f, c == ' ' ? HTTP_FE_REQUEST_LINE : HTTP_FE_TARGET);
	}
	if (!(t[0] == '/' || (tlen == 1 && t[0] == '*' && f->method == HTTP_M_OPTIONS) ||
	      (tlen > 7 && http_ascii_ieq(t, "http://", 7)) ||
	      (tlen > 8 && http_ascii_ieq(t, "https://", 8))))
		return fail(f, HTTP_FE_TARGET);

	/* HTTP-version is case-sensitive (RFC 9112 §2.3); we speak 1.1 and accept 1.0. */
	if (vlen == 8 && memcmp(v, "HTTP/1.1", 8) == 0)
		f->minor = 1;
	else if (vlen == 8 && memcmp(v, "HTTP/1.0", 8) == 0)
		f->minor = 0;
	else
		return fail(f, memchr(v, ' ', vlen) ? HTTP_FE_REQUEST_LINE : HTTP_FE_VERSION);
	return 0;
}

struct head_counts {
	int cl, te, host;
};

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). */
static int parse_field(struct http_framer *f, const char *l, size_t len, struct head_counts *hc)
{
	const char *colon, *val;
	size_t nlen, vlen, i;
	bool lead_tab = false;

	/* obs-fold: a line starting with SP/HTAB continues the previous one. A server MUST
	 * reject it with 400 or replace it (RFC 9112 §5.2); we reject. */
	if (l[0] == ' ' || l[0] == '\t')
		return fail(f, HTTP_FE_OBS_FOLD);
	colon = memchr(l, ':', len);
	if (colon == NULL || colon == l)
		return fail(f, HTTP_FE_FIELD_NAME);
	nlen = (size_t)(colon - l);
	/* No whitespace between field name and colon: MUST 400 (RFC 9112 §5.1). */
	if (l[nlen - 1] == ' ' || l[nlen - 1] == '\t')
		return fail(f, HTTP_FE_WS_BEFORE_COLON);
	for (i = 0; i < nlen; i++)
		if (!is_tchar((unsigned char)l[i]))
			return fail(f, HTTP_FE_FIELD_NAME);

	val = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (val[0] == ' ' || val[0] == '\t')) {
		lead_tab = lead_tab || val[0] == '\t';
		val++;
		vlen--;
	}
	while (vlen > 0 && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
		vlen--;
	/* NUL, CR, LF and other CTLs in a value: reject (RFC 9110 §5.5). */
	for (i = 0; i < vlen; i++)
		if (!is_field_char((unsigned char)val[i]))
			return fail(f, HTTP_FE_FIELD_VALUE);

	if (name_is(l, nlen, "content-length")) {
		uint64_t v = 0;

		/* Duplicates are refused even when equal: RFC 9112 §6.3 allows merging identical
		 * values, but a front end that picks the other copy is the classic CL.CL desync. */
		if (++hc->cl > 1)
			return fail(f, HTTP_FE_CL_DUPLICATE);
		/* OWS may be HTAB (RFC 9110 §5.6.3), but upstream libevent 2.1.12 strips only SP
		 * before a value; refuse what two libevent builds could read differently. */
		if (lead_tab)
			return fail(f, HTTP_FE_CL_INVALID);
		/* Content-Length = 1*DIGIT (RFC 9110 §8.6): no sign, no hex, no list. */
		if (vlen == 0 || vlen > CL_MAX_DIGITS)
			return fail(f, HTTP_FE_CL_INVALID);
		for (i = 0; i < vlen; i++) {
			if (val[i] < '0' || val[i] > '9')
				return fail(f, HTTP_FE_CL_INVALID);
			v = v * 10 + (uint64_t)(val[i] - '0');
		}
		f->content_length = v;
	} else if (name_is(l, nlen, "transfer-encoding")) {
		if (++hc->te > 1)
			return fail(f, HTTP_FE_TE_DUPLICATE);
		/* Upstream 2.1.12 compares "\tchunked" != "chunked" (no body), the Debian-patched
		 * one decodes it as chunked: a desync between builds. Refuse the HTAB form. */
		if (lead_tab)
			return fail(f, HTTP_FE_TE_UNSUPPORTED);
		/* Only "chunked" alone: a coding list ("gzip, chunked") or anything else is refused
		 * (RFC 9112 §6.1: unknown coding → 501, chunked not final → 400; we send 400). */
		if (!(vlen == 7 && http_ascii_ieq(val, "chunked", 7)))
			return fail(f, HTTP_FE_TE_UNSUPPORTED);
	} else if (name_is(l, nlen, "host")) {
		hc->host++;
	}
	return 0;
}

static int parse_head(struct http_framer *f)
{
	const char *h = f->head;
	size_t n = f->head_len, pos = 0;
	struct head_counts hc = { 0, 0, 0 };
	int lineno = 0;

	while (pos < n) {
		const char *lf = memchr(h + pos, '\n', n - pos);
		size_t end, len;
		const char *line = h + pos;

		if (lf == NULL) /* cannot happen: the head ends at an LF */
			return fail(f, HTTP_FE_BARE_LF);
		end = (size_t)(lf - h);
		/* Lines end in CRLF (RFC 9112 §2.2); a bare LF is refused, a bare CR is invalid. */
		if (end == pos || h[end - 1] != '\r')
			return fail(f, HTTP_FE_BARE_LF);
		len = end - 1 - pos;
		if (memchr(line, '\r', len) != NULL)
			return fail(f, HTTP_FE_BARE_CR);
		pos = end + 1;
		if (lineno++ == 0) {
			/* An empty first line (a leading CRLF, §2.2 "SHOULD ignore") is refused like
			 * libevent itself does; our clients never send one. */
			if (len == 0)
				return fail(f, HTTP_FE_REQUEST_LINE);
			if (parse_request_line(f, line, len) < 0)
				return HTTP_FRAMER_INVALID;
			continue;
		}
		if (len == 0)
			break;
		if (parse_field(f, line, len, &hc) < 0)
			return HTTP_FRAMER_INVALID;
	}

	if (hc.te && hc.cl)
		return fail(f, HTTP_FE_TE_AND_CL);   /* RFC 9112 §6.1: MAY reject; we do */
	if (hc.te && f->minor == 0)
		return fail(f, HTTP_FE_TE_HTTP10);   /* RFC 9112 §6.1: faulty framing */
	if ((f->minor == 1 && hc.host != 1) || hc.host > 1)
		return fail(f, HTTP_FE_HOST);        /* RFC 9112 §3.2: MUST 400 */
	if (hc.te)
		f->body = HTTP_BODY_CHUNKED;
	else if (hc.cl && f->content_length > 0)
		f->body = HTTP_BODY_LENGTH;
	else
		f->body = HTTP_BODY_NONE;
	/* Content on GET/DELETE/OPTIONS has no defined meaning (RFC 9110 §9.3.1, §9.3.5, §9.3.7)
	 * and is where front ends and back ends most often disagree; refuse it. */
	if (f->body != HTTP_BODY_NONE && !(f->method & (HTTP_M_POST | HTTP_M_PUT | HTTP_M_PATCH)))
		return fail(f, HTTP_FE_BODY_NOT_ALLOWED);
	return 0;
}

static int add_framing(struct http_framer *f, uint64_t n)
{
	f->framing += n;
	if (f->framing > f->body_total + CHUNK_OVERHEAD_SLACK)
		return fail(f, HTTP_FE_CHUNK_OVERHEAD);
	return 0;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int http_framer_feed(struct http_framer *f, const void *data, size_t n, size_t *used)
{
	const unsigned char *p = data;
	size_t i = 0;
	int rc = HTTP_FRAMER_MORE;

	*used = 0;
	if (f->state == S_INVALID)
		return HTTP_FRAMER_INVALID;
	if (f->state == S_TOO_LARGE)
		return HTTP_FRAMER_TOO_LARGE;
	if (f->state == S_DONE)
		return HTTP_FRAMER_DONE;

	while (i < n && rc == HTTP_FRAMER_MORE) {
		unsigned char c = p[i];

		switch (f->state) {
		case S_HEAD: {
			const unsigned char *lf = memchr(p + i, '\n', n - i);
			size_t span = lf ? (size_t)(lf - (p + i)) + 1 : n - i;
			size_t ll;

			if (f->head == NULL)
				f->head = xmalloc(f->lim.max_head);
			if (span > f->lim.max_head - f->head_len) {
				rc = fail(f, HTTP_FE_HEAD_TOO_LARGE);
				break;
			}
			memcpy(f->head + f->head_len, p + i, span);
			f->head_len += span;
			i += span;
			if (lf == NULL)
				break;
			ll = f->head_len - 1 - f->line_start;
			/* An empty line ("\r\n", or a bare "\n" which parse_head then refuses) ends
			 * the head. */
			if (ll == 0 || (ll == 1 && f->head[f->line_start] == '\r')) {
				if (parse_head(f) < 0) {
					rc = HTTP_FRAMER_INVALID;
					break;
				}
				if (f->body == HTTP_BODY_NONE) {
					f->state = S_DONE;
					rc = HTTP_FRAMER_DONE;
				} else if (f->body == HTTP_BODY_LENGTH) {
					if (f->content_length > f->lim.max_body) {
						f->state = S_TOO_LARGE;
						rc = HTTP_FRAMER_TOO_LARGE;
					} else {
						f->left = f->content_length;
						f->body_total = f->content_length;
						f->state = S_BODY_CL;
					}
				} else {
					f->state = S_CHUNK_SIZE;
				}
			} else {
				f->line_start = f->head_len;
			}
			break;
		}
		case S_BODY_CL:
		case S_CHUNK_DATA: {
			size_t take = n - i;

			if ((uint64_t)take > f->left)
				take = (size_t)f->left;
			if (!f->lim.allow_nul_in_body && memchr(p + i, 0, take) != NULL) {
				rc = fail(f, HTTP_FE_NUL_IN_BODY);
				break;
			}
			i += take;
			f->left -= take;
			if (f->left == 0) {
				if (f->state == S_BODY_CL) {
					f->state = S_DONE;
					rc = HTTP_FRAMER_DONE;
				} else {
					f->state = S_CHUNK_DATA_CR;
				}
			}
			break;
		}
		case S_CHUNK_SIZE: {
			/* chunk-size = 1*HEXDIG; we take no chunk-ext and no BWS (RFC 9112 §7.1.1). */
			int h = hexval(c);

			i++;
			if (add_framing(f, 1) < 0) {
				rc = HTTP_FRAMER_INVALID;
				break;
			}
			if (h >= 0) {
				if (++f->hexdigits > CHUNK_MAX_HEXDIGITS) {
					rc = fail(f, HTTP_FE_CHUNK_SIZE);
					break;
				}
				f->chunk_size = f->chunk_size * 16 + (uint64_t)h;
			} else if (c == '\r' && f->hexdigits > 0) {
				f->state = S_CHUNK_SIZE_LF;
			} else {
				rc = fail(f, HTTP_FE_CHUNK_SIZE);
			}
			break;
		}
		case S_CHUNK_SIZE_LF:
			i++;
			if (c != '\n') {
				rc = fail(f, HTTP_FE_CHUNK_SIZE);
				break;
			}
			if (add_framing(f, 1) < 0) {
				rc = HTTP_FRAMER_INVALID;
				break;
			}
			if (f->chunk_size == 0) {
				f->state = S_TRAILER_CR;
			} else if (f->chunk_size > f->lim.max_body - f->body_total) {
				/* Same test as evhttp's (body_size + chunk > max): releasing the bytes up
				 * to here makes evhttp answer 413 itself. */
				f->state = S_TOO_LARGE;
				rc = HTTP_FRAMER_TOO_LARGE;
			} else {
				f->body_total += f->chunk_size;
				f->left = f->chunk_size;
				f->chunk_size = 0;
				f->hexdigits = 0;
				f->state = S_CHUNK_DATA;
			}
			break;
		case S_CHUNK_DATA_CR:
		case S_CHUNK_DATA_LF:
			i++;
			if (c != (f->state == S_CHUNK_DATA_CR ? '\r' : '\n')) {
				rc = fail(f, HTTP_FE_CHUNK_CRLF);
				break;
			}
			if (add_framing(f, 1) < 0) {
				rc = HTTP_FRAMER_INVALID;
				break;
			}
			f->state = f->state == S_CHUNK_DATA_CR ? S_CHUNK_DATA_LF : S_CHUNK_SIZE;
			break;
		case S_TRAILER_CR:
		case S_TRAILER_LF:
			/* last-chunk then an empty trailer section only: libevent would merge trailer
			 * fields into the request headers (RFC 9112 §7.1.2 lets us discard them; we
			 * refuse them). */
			i++;
			if (c != (f->state == S_TRAILER_CR ? '\r' : '\n')) {
				rc = fail(f, HTTP_FE_TRAILER);
				break;
			}
			if (f->state == S_TRAILER_CR) {
				f->state = S_TRAILER_LF;
			} else {
				f->state = S_DONE;
				rc = HTTP_FRAMER_DONE;
			}
			break;
		default:
			rc = fail(f, HTTP_FE_REQUEST_LINE);
			break;
		}
	}
	*used = i;
	f->message_bytes += i;
	return rc;
}

int http_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len, struct err *e)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *hs, *he;
	unsigned long port = 0;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	*len = 0;
	if (s == NULL || *s == '\0')
		return err_set(e, -EINVAL, "listen address is empty");
	colon = strrchr(s, ':');
	if (colon == NULL || colon[1] == '\0')
		return err_set(e, -EINVAL, "listen address needs HOST:PORT");
	hs = s;
	he = colon;
	if (s[0] == '[') {
		if (colon == s || colon[-1] != ']')
			return err_set(e, -EINVAL, "IPv6 listen address must be [ADDR]:PORT");
		hs = s + 1;
		he = colon - 1;
	}
	hl = (size_t)(he - hs);
	if (hl == 0 || hl >= sizeof(host))
		return err_set(e, -EINVAL, "listen host has a bad length");
	memcpy(host, hs, hl);
	host[hl] = '\0';
	for (const char *q = colon + 1; *q; q++) {
		if (*q < '0' || *q > '9' || port > 65535)
			return err_set(e, -EINVAL, "listen port is not a number in 0..65535");
		port = port * 10 + (unsigned long)(*q - '0');
	}
	if (port > 65535)
		return err_set(e, -EINVAL, "listen port is not a number in 0..65535");
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return err_set(e, -EINVAL, "listen host is not an IPv6 literal");
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return err_set(e, -EINVAL, "listen host is not an IPv4 literal (use [v6] for IPv6)");
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
	}
	return 0;
}
