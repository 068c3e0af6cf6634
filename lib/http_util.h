/* http_util — strict HTTP/1.1 request framing (RFC 9112) and small helpers shared by the
 * HTTP server and client.
 *
 * The framer is a pure, incremental parser: it is fed the raw bytes of a connection and says
 * where each request message ends, or why the bytes must be rejected. It never allocates more
 * than one head buffer of max_head bytes. http_server uses it to decide which bytes libevent's
 * evhttp is allowed to see (only whole, validated messages); it is also the fuzz target.
 */
#ifndef EHRGATE_HTTP_UTIL_H
#define EHRGATE_HTTP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/err.h"

/* Request methods the framer can accept (RFC 9110 §9). Anything else is rejected. */
enum http_method {
	HTTP_M_GET = 1u << 0,
	HTTP_M_POST = 1u << 1,
	HTTP_M_PUT = 1u << 2,
	HTTP_M_PATCH = 1u << 3,
	HTTP_M_DELETE = 1u << 4,
	HTTP_M_OPTIONS = 1u << 5,
};
#define HTTP_M_ALL 0x3fu

/* Why a request was rejected. Names (http_frame_error_name) are safe to log: they describe
 * the rule, never the bytes. */
enum http_frame_error {
	HTTP_FE_NONE = 0,
	HTTP_FE_HEAD_TOO_LARGE,     /* request line + fields + CRLFs > max_head */
	HTTP_FE_BARE_CR,            /* CR not followed by LF (RFC 9112 §2.2) */
	HTTP_FE_BARE_LF,            /* LF not preceded by CR (we do not take the §2.2 leniency) */
	HTTP_FE_REQUEST_LINE,       /* not method SP target SP version (RFC 9112 §3) */
	HTTP_FE_METHOD,             /* method not in the allowed set */
	HTTP_FE_TARGET,             /* request-target form or characters (RFC 9112 §3.2) */
	HTTP_FE_VERSION,            /* not HTTP/1.1 or HTTP/1.0 (RFC 9112 §2.3) */
	HTTP_FE_FIELD_NAME,         /* field-name not a token, or empty (RFC 9110 §5.1) */
	HTTP_FE_WS_BEFORE_COLON,    /* whitespace between field-name and colon (RFC 9112 §5.1) */
	HTTP_FE_OBS_FOLD,           /* line folding (RFC 9112 §5.2) */
	HTTP_FE_FIELD_VALUE,        /* NUL / CTL in a field value (RFC 9110 §5.5) */
	HTTP_FE_HOST,               /* HTTP/1.1 without Host, or more than one (RFC 9112 §3.2) */
	HTTP_FE_CL_INVALID,         /* Content-Length not 1*DIGIT or overlong (RFC 9112 §6.3) */
	HTTP_FE_CL_DUPLICATE,       /* more than one Content-Length, even equal (RFC 9112 §6.3 p5) */
	HTTP_FE_TE_UNSUPPORTED,     /* Transfer-Encoding other than exactly "chunked" (§6.1) */
	HTTP_FE_TE_DUPLICATE,       /* more than one Transfer-Encoding field */
	HTTP_FE_TE_AND_CL,          /* both Transfer-Encoding and Content-Length (RFC 9112 §6.1) */
	HTTP_FE_TE_HTTP10,          /* Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1) */
	HTTP_FE_BODY_NOT_ALLOWED,   /* content on GET / DELETE / OPTIONS */
	HTTP_FE_CHUNK_SIZE,         /* chunk-size not 1*HEXDIG CRLF, or chunk-ext (RFC 9112 §7.1) */
	HTTP_FE_CHUNK_CRLF,         /* chunk-data not followed by CRLF */
	HTTP_FE_TRAILER,            /* trailer fields present (we accept only an empty trailer) */
	HTTP_FE_CHUNK_OVERHEAD,     /* chunk framing bytes out of proportion to the data */
	HTTP_FE_NUL_IN_BODY,        /* NUL byte in the body while allow_nul_in_body is false */
	HTTP_FE_COUNT_
};

/* Feed results. */
enum http_framer_rc {
	HTTP_FRAMER_MORE = 0,      /* every byte consumed, message not complete yet */
	HTTP_FRAMER_DONE = 1,      /* a whole valid message ends after *used bytes of this input */
	HTTP_FRAMER_TOO_LARGE = 2, /* valid head but the body exceeds max_body: the message so far,
	                              ending after *used bytes, is what makes evhttp answer 413 */
	HTTP_FRAMER_INVALID = -1,  /* reject the connection; f->error says which rule */
};

struct http_framer_limits {
	size_t max_head;         /* bytes of request line + fields + all CRLFs (>= 64) */
	uint64_t max_body;       /* decoded body bytes */
	unsigned methods;        /* HTTP_M_* mask of accepted methods */
	bool allow_nul_in_body;  /* false: NUL anywhere in a body is rejected (JSON/text APIs) */
};

enum http_body_kind { HTTP_BODY_NONE = 0, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED };

/* Open so it can be embedded; treat fields as read-only outside http_util.c. */
struct http_framer {
	struct http_framer_limits lim;
	int state;
	char *head;                  /* head buffer (max_head bytes), allocated on first use */
	size_t head_len;
	size_t line_start;           /* offset of the current line in head */
	/* summary of the last parsed head */
	enum http_method method;
	int minor;                   /* HTTP/1.minor */
	enum http_body_kind body;
	uint64_t content_length;
	/* body progress */
	uint64_t left;               /* bytes left in the Content-Length body or current chunk */
	uint64_t body_total;         /* decoded body bytes so far */
	uint64_t framing;            /* chunk framing bytes so far */
	uint64_t chunk_size;
	unsigned hexdigits;
	uint64_t message_bytes;      /* raw bytes of the current message consumed so far */
	enum http_frame_error error;
};

void http_framer_init(struct http_framer *f, const struct http_framer_limits *lim);
void http_framer_fini(struct http_framer *f);
/* Start over for the next message on the same connection (keeps the head buffer). */
void http_framer_reset(struct http_framer *f);
/* True once at least one byte of a message has been consumed and the message is not done. */
bool http_framer_in_message(const struct http_framer *f);

/* Feed n bytes. *used gets how many were consumed: all of them for MORE; up to the end of the
 * message for DONE and TOO_LARGE (the rest belongs to what follows); the offending byte count
 * is unspecified for INVALID. After DONE call http_framer_reset before feeding more. After
 * INVALID or TOO_LARGE the framer stays in that state. */
int http_framer_feed(struct http_framer *f, const void *p, size_t n, size_t *used)
	__attribute__((warn_unused_result));

/* Static, data-free rule name for logs ("te_and_cl", ...). */
const char *http_frame_error_name(enum http_frame_error e);

/* Parse "A.B.C.D:PORT" or "[IPv6]:PORT" (numeric only, port 0..65535) into a sockaddr. */
int http_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len, struct err *e)
	__attribute__((warn_unused_result));

/* Case-insensitive ASCII comparison of n bytes (HTTP field names, RFC 9110 §5.1). */
bool http_ascii_ieq(const char *a, const char *b, size_t n);

#endif
