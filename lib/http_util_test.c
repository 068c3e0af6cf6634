#include "lib/http_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Outcome of feeding a whole input: the framer result for the FIRST message and the number of
 * bytes that message took. */
struct outcome {
	int rc;
	size_t used;
	enum http_frame_error err;
};

static const struct http_framer_limits LIM = {
	.max_head = 256, .max_body = 64, .methods = HTTP_M_ALL, .allow_nul_in_body = false,
};

/* Feed `in` in pieces of `step` bytes (0 = whole) until the first message ends or fails. */
static struct outcome run(const struct http_framer_limits *lim, const char *in, size_t n, size_t step)
{
	struct http_framer f;
	struct outcome o = { HTTP_FRAMER_MORE, 0, HTTP_FE_NONE };
	size_t off = 0;

	http_framer_init(&f, lim);
	while (off < n) {
		size_t piece = step == 0 || step > n - off ? n - off : step, used = 0;
		int rc = http_framer_feed(&f, in + off, piece, &used);

		assert_true(used <= piece);
		off += used;
		if (rc != HTTP_FRAMER_MORE) {
			o.rc = rc;
			break;
		}
		assert_int_equal(used, piece); /* MORE consumes everything */
	}
	o.used = off;
	o.err = f.error;
	http_framer_fini(&f);
	return o;
}

/* Whole, split in two everywhere, and byte-at-a-time must agree (picohttpparser habit). */
static struct outcome run_all(const struct http_framer_limits *lim, const char *in, size_t n)
{
	struct outcome whole = run(lim, in, n, 0), o;

	o = run(lim, in, n, 1);
	assert_int_equal(o.rc, whole.rc);
	assert_int_equal(o.err, whole.err);
	if (whole.rc != HTTP_FRAMER_INVALID)
		assert_int_equal(o.used, whole.used);
	for (size_t step = 2; step < n; step += (n > 64 ? 7 : 1)) {
		o = run(lim, in, n, step);
		assert_int_equal(o.rc, whole.rc);
		assert_int_equal(o.err, whole.err);
		if (whole.rc != HTTP_FRAMER_INVALID)
			assert_int_equal(o.used, whole.used);
	}
	return whole;
}

#define S(x) x, sizeof(x) - 1

struct bad_case {
	const char *name;
	const char *in;
	size_t n;
	enum http_frame_error want;
};

static void test_valid_messages(void **state)
{
	struct outcome o;
	const char get[] = "GET /a?b=c HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
	const char post[] = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
	const char chunked[] = "PUT /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
			       "5\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n";
	const char http10[] = "GET / HTTP/1.0\r\n\r\n";
	const char opts[] = "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n";
	const char absform[] = "GET http://x/y HTTP/1.1\r\nHost: x\r\n\r\n";
	const char cl0[] = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
	const char obstext[] = "GET / HTTP/1.1\r\nHost: x\r\nX-A:\tcaf\xc3\xa9 \t v\t\r\n\r\n";
	const char te_forms[] = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:CHUNKED \t\r\n\r\n0\r\n\r\n";

	(void)state;
	o = run_all(&LIM, S(get));
	assert_int_equal(o.rc, HTTP_FRAMER_DONE);
	assert_int_equal(o.used, sizeof(get) - 1);
	o = run_all(&LIM, S(post));
	assert_int_equal(o.rc, HTTP_FRAMER_DONE);
	assert_int_equal(o.used, sizeof(post) - 1);
	o = run_all(&LIM, S(chunked));
	assert_int_equal(o.rc, HTTP_FRAMER_DONE);
	assert_int_equal(o.used, sizeof(chunked) - 1);
	assert_int_equal(run_all(&LIM, S(http10)).rc, HTTP_FRAMER_DONE);
	assert_int_equal(run_all(&LIM, S(opts)).rc, HTTP_FRAMER_DONE);
	assert_int_equal(run_all(&LIM, S(absform)).rc, HTTP_FRAMER_DONE);
	assert_int_equal(run_all(&LIM, S(cl0)).rc, HTTP_FRAMER_DONE);
	assert_int_equal(run_all(&LIM, S(obstext)).rc, HTTP_FRAMER_DONE);
	assert_int_equal(run_all(&LIM, S(te_forms)).rc, HTTP_FRAMER_DONE);
}

/* Two messages back to back: DONE stops exactly at the boundary; reset parses the second. */
static void test_pipelined_boundary(void **state)
{
	const char in[] = "POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
			  "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_framer f;
	size_t used, first = sizeof("POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc") - 1;

	(void)state;
	http_framer_init(&f, &LIM);
	assert_int_equal(http_framer_feed(&f, in, sizeof(in) - 1, &used), HTTP_FRAMER_DONE);
	assert_int_equal(used, first);
	assert_int_equal(f.method, HTTP_M_POST);
	assert_int_equal(f.content_length, 3);
	http_framer_reset(&f);
	assert_false(http_framer_in_message(&f));
	assert_int_equal(http_framer_feed(&f, in + first, sizeof(in) - 1 - first, &used), HTTP_FRAMER_DONE);
	assert_int_equal(used, sizeof(in) - 1 - first);
	assert_int_equal(f.method, HTTP_M_GET);
	http_framer_fini(&f);
}

static void test_smuggling_rejected(void **state)
{
	static const struct bad_case cases[] = {
		{ "te_list", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), HTTP_FE_TE_UNSUPPORTED },
		{ "te_cl", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"), HTTP_FE_TE_AND_CL },
		{ "cl_te", S("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), HTTP_FE_TE_AND_CL },
		{ "te_space_colon", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"), HTTP_FE_WS_BEFORE_COLON },
		{ "te_xchunked", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"), HTTP_FE_TE_UNSUPPORTED },
		{ "te_tab_ows", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n"), HTTP_FE_TE_UNSUPPORTED },
		{ "cl_tab_ows", S("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \t5\r\n\r\nhello"), HTTP_FE_CL_INVALID },
		{ "te_dup", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), HTTP_FE_TE_DUPLICATE },
		{ "te_http10", S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), HTTP_FE_TE_HTTP10 },
		{ "cl_dup_equal", S("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"), HTTP_FE_CL_DUPLICATE },
		{ "cl_dup_diff", S("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nhello"), HTTP_FE_CL_DUPLICATE },
		{ "cl_plus", S("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello"), HTTP_FE_CL_INVALID },
		{ "cl_minus", S("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"), HTTP_FE_CL_INVALID },
		{ "cl_hex", S("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n"), HTTP_FE_CL_INVALID },
		{ "cl_list", S("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello"), HTTP_FE_CL_INVALID },
		{ "cl_empty", S("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n"), HTTP_FE_CL_INVALID },
		{ "cl_overlong", S("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"), HTTP_FE_CL_INVALID },
		{ "bare_cr_value", S("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"), HTTP_FE_BARE_CR },
		{ "nul_value", S("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"), HTTP_FE_FIELD_VALUE },
		{ "ctl_value", S("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01" "b\r\n\r\n"), HTTP_FE_FIELD_VALUE },
		{ "del_value", S("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7f\r\n\r\n"), HTTP_FE_FIELD_VALUE },
		{ "obs_fold", S("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n"), HTTP_FE_OBS_FOLD },
		{ "obs_fold_tab", S("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tfolded\r\n\r\n"), HTTP_FE_OBS_FOLD },
		{ "bare_lf", S("GET / HTTP/1.1\nHost: x\n\n"), HTTP_FE_BARE_LF },
		{ "bare_lf_field", S("GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n"), HTTP_FE_BARE_LF },
		{ "nul_name", S("GET / HTTP/1.1\r\nHost: x\r\nX\0A: b\r\n\r\n"), HTTP_FE_FIELD_NAME },
		{ "no_colon", S("GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n"), HTTP_FE_FIELD_NAME },
		{ "empty_name", S("GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n"), HTTP_FE_FIELD_NAME },
		{ "no_host", S("GET / HTTP/1.1\r\nX: y\r\n\r\n"), HTTP_FE_HOST },
		{ "two_hosts", S("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), HTTP_FE_HOST },
		{ "head_method", S("HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"), HTTP_FE_METHOD },
		{ "trace_method", S("TRACE / HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_FE_METHOD },
		{ "lower_method", S("get / HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_FE_METHOD },
		{ "connect", S("CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_FE_METHOD },
		{ "get_body", S("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"), HTTP_FE_BODY_NOT_ALLOWED },
		{ "delete_chunked", S("DELETE / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), HTTP_FE_BODY_NOT_ALLOWED },
		{ "two_spaces", S("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_FE_REQUEST_LINE },
		{ "four_words", S("GET / x HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_FE_REQUEST_LINE },
		{ "http2", S("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), HTTP_FE_VERSION },
		{ "http09", S("GET /\r\n\r\n"), HTTP_FE_REQUEST_LINE },
		{ "lower_version", S("GET / http/1.1\r\nHost: x\r\n\r\n"), HTTP_FE_VERSION },
		{ "target_star_get", S("GET * HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_FE_TARGET },
		{ "target_authority", S("GET x:80 HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_FE_TARGET },
		{ "target_8bit", S("GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_FE_TARGET },
		{ "leading_crlf", S("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_FE_REQUEST_LINE },
		{ "chunk_ext", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\n\r\n"), HTTP_FE_CHUNK_SIZE },
		{ "chunk_sign", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n"), HTTP_FE_CHUNK_SIZE },
		{ "chunk_space", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"), HTTP_FE_CHUNK_SIZE },
		{ "chunk_empty", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n"), HTTP_FE_CHUNK_SIZE },
		{ "chunk_lf_only", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"), HTTP_FE_CHUNK_SIZE },
		{ "chunk_overlong", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000001\r\nx\r\n0\r\n\r\n"), HTTP_FE_CHUNK_SIZE },
		{ "chunk_no_crlf", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhelloGET"), HTTP_FE_CHUNK_CRLF },
		{ "trailer", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n"), HTTP_FE_TRAILER },
		{ "nul_body", S("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na\0b"), HTTP_FE_NUL_IN_BODY },
		{ "nul_chunk", S("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na\0b\r\n0\r\n\r\n"), HTTP_FE_NUL_IN_BODY },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = run_all(&LIM, cases[i].in, cases[i].n);

		if (o.rc != HTTP_FRAMER_INVALID || o.err != cases[i].want)
			fail_msg("case %s: rc=%d err=%s want %s", cases[i].name, o.rc,
				 http_frame_error_name(o.err), http_frame_error_name(cases[i].want));
	}
}

/* max_head counts the request line, the fields and every CRLF: max-1 and max pass, max+1 fails. */
static void test_head_limit(void **state)
{
	struct http_framer_limits lim = LIM;
	char msg[512];
	const char *pre = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ";
	size_t base = strlen(pre) + 4; /* value + "\r\n\r\n" */

	(void)state;
	for (int delta = -1; delta <= 1; delta++) {
		size_t total = (size_t)(200 + delta), vlen;
		struct outcome o;

		lim.max_head = 200;
		vlen = total - base;
		snprintf(msg, sizeof(msg), "%s", pre);
		memset(msg + strlen(pre), 'v', vlen);
		memcpy(msg + strlen(pre) + vlen, "\r\n\r\n", 5);
		assert_int_equal(strlen(msg), total);
		o = run_all(&lim, msg, total);
		if (delta <= 0) {
			assert_int_equal(o.rc, HTTP_FRAMER_DONE);
			assert_int_equal(o.used, total);
		} else {
			assert_int_equal(o.rc, HTTP_FRAMER_INVALID);
			assert_int_equal(o.err, HTTP_FE_HEAD_TOO_LARGE);
		}
	}
}

/* max_body is the decoded size: max-1 and max pass, max+1 reports TOO_LARGE at the point where
 * evhttp would refuse it (end of head for Content-Length, end of the size line for chunked). */
static void test_body_limit(void **state)
{
	char msg[512];

	(void)state;
	for (int delta = -1; delta <= 1; delta++) {
		size_t blen = (size_t)(64 + delta);
		int hl = snprintf(msg, sizeof(msg), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", blen);
		struct outcome o;

		memset(msg + hl, 'b', blen);
		o = run_all(&LIM, msg, (size_t)hl + blen);
		if (delta <= 0) {
			assert_int_equal(o.rc, HTTP_FRAMER_DONE);
			assert_int_equal(o.used, (size_t)hl + blen);
		} else {
			assert_int_equal(o.rc, HTTP_FRAMER_TOO_LARGE);
			assert_int_equal(o.used, (size_t)hl);
		}
	}
	for (int delta = -1; delta <= 1; delta++) {
		/* 40 bytes then (24+delta) bytes in a second chunk */
		size_t second = (size_t)(24 + delta);
		int n = snprintf(msg, sizeof(msg), "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n28\r\n");
		size_t cut;
		struct outcome o;

		memset(msg + n, 'a', 40);
		n += 40;
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "\r\n%zx\r\n", second);
		cut = (size_t)n;
		memset(msg + n, 'b', second);
		n += (int)second;
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "\r\n0\r\n\r\n");
		o = run_all(&LIM, msg, (size_t)n);
		if (delta <= 0) {
			assert_int_equal(o.rc, HTTP_FRAMER_DONE);
			assert_int_equal(o.used, (size_t)n);
		} else {
			assert_int_equal(o.rc, HTTP_FRAMER_TOO_LARGE);
			assert_int_equal(o.used, cut);
		}
	}
}

static void test_nul_allowed_and_overhead(void **state)
{
	struct http_framer_limits lim = LIM;
	const char nul[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na\0b";
	char msg[20000];
	int n;
	struct outcome o;

	(void)state;
	lim.allow_nul_in_body = true;
	assert_int_equal(run(&lim, nul, sizeof(nul) - 1, 0).rc, HTTP_FRAMER_DONE);

	/* 1-byte chunks: framing outgrows data + slack and is refused. */
	lim.max_body = 100000;
	n = snprintf(msg, sizeof(msg), "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
	while (n < (int)sizeof(msg) - 16)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "1\r\nz\r\n");
	o = run(&lim, msg, (size_t)n, 0);
	assert_int_equal(o.rc, HTTP_FRAMER_INVALID);
	assert_int_equal(o.err, HTTP_FE_CHUNK_OVERHEAD);
}

static void test_methods_mask(void **state)
{
	struct http_framer_limits lim = LIM;
	const char post[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
	struct outcome o;

	(void)state;
	lim.methods = HTTP_M_GET;
	o = run(&lim, post, sizeof(post) - 1, 0);
	assert_int_equal(o.rc, HTTP_FRAMER_INVALID);
	assert_int_equal(o.err, HTTP_FE_METHOD);
	lim.methods = HTTP_M_POST;
	assert_int_equal(run(&lim, post, sizeof(post) - 1, 0).rc, HTTP_FRAMER_DONE);
}

static void test_hostport(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct err e;

	(void)state;
	assert_int_equal(http_parse_hostport("127.0.0.1:8080", &ss, &len, &e), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(http_parse_hostport("[::1]:0", &ss, &len, &e), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(http_parse_hostport("127.0.0.1:65536", &ss, &len, &e), -EINVAL);
	assert_int_equal(http_parse_hostport("127.0.0.1:", &ss, &len, &e), -EINVAL);
	assert_int_equal(http_parse_hostport("localhost:80", &ss, &len, &e), -EINVAL);
	assert_int_equal(http_parse_hostport("::1:80", &ss, &len, &e), -EINVAL);
	assert_int_equal(http_parse_hostport("[127.0.0.1]:80", &ss, &len, &e), -EINVAL);
	assert_int_equal(http_parse_hostport("1.2.3.4:8x", &ss, &len, &e), -EINVAL);
	assert_int_equal(http_parse_hostport("", &ss, &len, &e), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_messages),
		cmocka_unit_test(test_pipelined_boundary),
		cmocka_unit_test(test_smuggling_rejected),
		cmocka_unit_test(test_head_limit),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_nul_allowed_and_overhead),
		cmocka_unit_test(test_methods_mask),
		cmocka_unit_test(test_hostport),
	};

	return cmocka_run_group_tests_name("http_util", tests, NULL, NULL);
}
