/* http_server tests: a real server on 127.0.0.1 (port 0) driven by the test's event loop, and
 * raw clients on plain blocking sockets in a helper thread (so the bytes are exactly what we
 * write: whole, split, or one byte per send). Assertions run only in the main thread. */
#include "lib/http_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "lib/clock.h"
#include "lib/log.h"

/* ---- server side ------------------------------------------------------------------------ */

struct ts {
	struct event_base *base;
	struct http_server *srv;
	int calls;
	int smuggled;              /* handler calls whose target contains "smuggled" */
	size_t last_body_len;
	char last_body[256];
	char last_rid[32];
	struct evhttp_request *slow[4];
	int nslow;
	struct event *slow_ev;
};

static void reply_body(struct ts *t, struct evhttp_request *req)
{
	char out[512];
	int n = snprintf(out, sizeof(out), "{\"n\":%zu,\"uri\":\"%s\"}", t->last_body_len,
			 evhttp_request_get_uri(req));

	assert_int_equal(http_server_reply_json(req, 200, out, (size_t)n), 0);
}

static void on_slow(evutil_socket_t fd, short what, void *arg)
{
	struct ts *t = arg;

	(void)fd;
	(void)what;
	for (int i = 0; i < t->nslow; i++)
		reply_body(t, t->slow[i]);
	t->nslow = 0;
}

static void handler(struct evhttp_request *req, void *arg)
{
	struct ts *t = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct buf b;

	t->calls++;
	if (strstr(uri, "smuggled"))
		t->smuggled++;
	buf_init(&b, 1 << 20);
	assert_int_equal(http_server_read_body(req, &b), 0);
	t->last_body_len = b.len;
	snprintf(t->last_body, sizeof(t->last_body), "%.*s", (int)(b.len < 255 ? b.len : 255), b.p ? b.p : "");
	buf_fini(&b);
	snprintf(t->last_rid, sizeof(t->last_rid), "%s", http_server_request_id(req));
	if (strncmp(uri, "/outcome", 8) == 0) {
		assert_int_equal(http_server_reply_outcome(req, 422, "invalid", "bad \"field\"\n"), 0);
		return;
	}
	if (strncmp(uri, "/slow", 5) == 0 && t->nslow < 4) {
		struct timeval tv = { 0, 150000 };

		t->slow[t->nslow++] = req;
		evtimer_add(t->slow_ev, &tv);
		return;
	}
	reply_body(t, req);
}

static void ts_start(struct ts *t, struct http_server_opts *o)
{
	struct err e;

	memset(t, 0, sizeof(*t));
	t->base = event_base_new();
	assert_non_null(t->base);
	t->slow_ev = evtimer_new(t->base, on_slow, t);
	if (o->listen == NULL)
		o->listen = "127.0.0.1:0";
	t->srv = http_server_new(t->base, o, handler, t, &e);
	if (t->srv == NULL)
		fail_msg("http_server_new: %s", e.msg);
	assert_true(http_server_port(t->srv) != 0);
}

static void ts_stop(struct ts *t)
{
	http_server_free(t->srv);
	event_free(t->slow_ev);
	event_base_free(t->base);
}

/* ---- raw client thread ------------------------------------------------------------------ */

enum send_mode { WHOLE, SPLIT, BYTES };

struct exch {
	uint16_t port;
	const char *req;
	size_t req_len;
	enum send_mode mode;
	size_t split_at;            /* for SPLIT: first send ends here */
	int pause_ms;               /* sleep after sending, before reading (0 = none) */
	int read_timeout_ms;        /* default 3000 */
	/* results */
	char resp[65536];
	size_t resp_len;
	bool eof;                   /* peer closed (FIN or RST) */
	bool timeout;
	int connect_errno;
};

static int connect_port(uint16_t port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void read_until_close(int fd, struct exch *x)
{
	int tmo = x->read_timeout_ms ? x->read_timeout_ms : 3000;

	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t r;

		if (poll(&pfd, 1, tmo) <= 0) {
			x->timeout = true;
			return;
		}
		if (x->resp_len >= sizeof(x->resp) - 1) {
			x->timeout = true;
			return;
		}
		r = recv(fd, x->resp + x->resp_len, sizeof(x->resp) - 1 - x->resp_len, 0);
		if (r <= 0) {
			x->eof = true;
			return;
		}
		x->resp_len += (size_t)r;
		x->resp[x->resp_len] = '\0';
	}
}

static void do_exchange(struct exch *x)
{
	int fd = connect_port(x->port);

	if (fd < 0) {
		x->connect_errno = errno;
		return;
	}
	switch (x->mode) {
	case WHOLE:
		send_all(fd, x->req, x->req_len);
		break;
	case SPLIT:
		send_all(fd, x->req, x->split_at);
		usleep(20000);
		send_all(fd, x->req + x->split_at, x->req_len - x->split_at);
		break;
	case BYTES:
		for (size_t i = 0; i < x->req_len; i++) {
			send_all(fd, x->req + i, 1);
			usleep(300);
		}
		break;
	}
	if (x->pause_ms)
		usleep((useconds_t)x->pause_ms * 1000);
	read_until_close(fd, x);
	close(fd);
}

struct job {
	void (*fn)(void *);
	void *arg;
	int pipefd[2];
};

static void *job_main(void *p)
{
	struct job *j = p;

	j->fn(j->arg);
	(void)!write(j->pipefd[1], "x", 1);
	return NULL;
}

static void on_job_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Run fn in a thread while the event loop serves; returns when fn is done. */
static void run_with_loop(struct event_base *base, void (*fn)(void *), void *arg)
{
	struct job j = { fn, arg, { -1, -1 } };
	struct event *ev;
	pthread_t th;

	assert_int_equal(pipe(j.pipefd), 0);
	ev = event_new(base, j.pipefd[0], EV_READ, on_job_done, base);
	event_add(ev, NULL);
	assert_int_equal(pthread_create(&th, NULL, job_main, &j), 0);
	event_base_dispatch(base);
	pthread_join(th, NULL);
	event_free(ev);
	close(j.pipefd[0]);
	close(j.pipefd[1]);
}

static void exch_fn(void *p)
{
	do_exchange(p);
}

static struct exch *exchange(struct ts *t, const char *req, size_t len, enum send_mode mode, size_t split_at)
{
	struct exch *x = calloc(1, sizeof(*x));

	x->port = http_server_port(t->srv);
	x->req = req;
	x->req_len = len;
	x->mode = mode;
	x->split_at = split_at;
	run_with_loop(t->base, exch_fn, x);
	return x;
}

static int count_status_lines(const char *resp)
{
	int n = 0;

	for (const char *p = resp; (p = strstr(p, "HTTP/1.1 ")) != NULL; p++)
		n++;
	return n;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

#define S(x) x, sizeof(x) - 1

/* ---- tests ------------------------------------------------------------------------------- */

static void test_get_post_and_request_id(void **state)
{
	struct ts t;
	struct http_server_opts o = { 0 };
	struct exch *x;
	const char *rid;

	(void)state;
	ts_start(&t, &o);
	x = exchange(&t, S("GET /hello?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), WHOLE, 0);
	assert_true(x->eof);
	assert_non_null(strstr(x->resp, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(x->resp, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(x->resp, "Cache-Control: no-store\r\n"));
	assert_non_null(strstr(x->resp, "{\"n\":0,\"uri\":\"/hello?a=1\"}"));
	rid = strstr(x->resp, "X-Request-Id: ");
	assert_non_null(rid);
	rid += strlen("X-Request-Id: ");
	assert_int_equal(strspn(rid, "0123456789abcdef"), 16);
	assert_int_equal(rid[16], '\r');
	assert_memory_equal(rid, t.last_rid, 16);
	assert_int_equal(t.calls, 1);
	free(x);

	x = exchange(&t, S("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world"), WHOLE, 0);
	assert_non_null(strstr(x->resp, "HTTP/1.1 200 OK\r\n"));
	assert_string_equal(t.last_body, "hello world");
	free(x);

	x = exchange(&t, S("PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
			   "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), BYTES, 0);
	assert_non_null(strstr(x->resp, "HTTP/1.1 200 OK\r\n"));
	assert_string_equal(t.last_body, "hello world");
	assert_int_equal(t.calls, 3);
	free(x);

	x = exchange(&t, S("GET /outcome HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), WHOLE, 0);
	assert_non_null(strstr(x->resp, "HTTP/1.1 422 "));
	assert_non_null(strstr(x->resp, "Content-Type: application/fhir+json\r\n"));
	assert_non_null(strstr(x->resp, "\r\n\r\n{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\","
				       "\"code\":\"invalid\",\"diagnostics\":\"bad \\\"field\\\"\\n\"}]}"));
	free(x);
	ts_stop(&t);
}

/* Body exactly at max−1 / max pass; max+1 → 413 and close, for both framings. */
static void test_body_limits(void **state)
{
	struct ts t;
	struct http_server_opts o = { .max_body_bytes = 64 };
	char req[512];

	(void)state;
	ts_start(&t, &o);
	for (int d = -1; d <= 1; d++) {
		size_t bl = (size_t)(64 + d);
		int n = snprintf(req, sizeof(req), "POST /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n", bl);
		struct exch *x;
		int calls = t.calls;

		memset(req + n, 'q', bl);
		x = exchange(&t, req, (size_t)n + bl, WHOLE, 0);
		if (d <= 0) {
			assert_non_null(strstr(x->resp, "HTTP/1.1 200 OK\r\n"));
			assert_int_equal(t.last_body_len, bl);
			assert_int_equal(t.calls, calls + 1);
			assert_true(x->eof);
		} else {
			assert_int_equal(strncmp(x->resp, "HTTP/1.1 413 ", 13), 0);
			assert_true(x->eof);
			assert_int_equal(t.calls, calls);
		}
		free(x);

		/* the same sizes chunked: 40 + (24+d) */
		n = snprintf(req, sizeof(req), "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n28\r\n");
		memset(req + n, 'a', 40);
		n += 40;
		n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n%x\r\n", 24 + d);
		memset(req + n, 'b', (size_t)(24 + d));
		n += 24 + d;
		n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n0\r\n\r\n");
		calls = t.calls;
		x = exchange(&t, req, (size_t)n, BYTES, 0);
		assert_true(x->eof);
		if (d <= 0) {
			assert_non_null(strstr(x->resp, "HTTP/1.1 200 OK\r\n"));
			assert_int_equal(t.last_body_len, bl);
			assert_int_equal(t.calls, calls + 1);
		} else {
			assert_int_equal(strncmp(x->resp, "HTTP/1.1 413 ", 13), 0);
			assert_int_equal(t.calls, calls);
		}
		free(x);
	}
	ts_stop(&t);
}

/* Head (request line + fields + every CRLF) of exactly max passes; max+1 → 400 + close. */
static void test_header_limit(void **state)
{
	struct ts t;
	struct http_server_opts o = { .max_header_bytes = 512 };
	char req[1024];
	const char *pre = "GET /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ";

	(void)state;
	ts_start(&t, &o);
	for (int d = -1; d <= 1; d++) {
		size_t total = (size_t)(512 + d), vlen = total - strlen(pre) - 4;
		struct exch *x;

		memcpy(req, pre, strlen(pre));
		memset(req + strlen(pre), 'p', vlen);
		memcpy(req + strlen(pre) + vlen, "\r\n\r\n", 4);
		x = exchange(&t, req, total, WHOLE, 0);
		assert_true(x->eof);
		if (d <= 0)
			assert_non_null(strstr(x->resp, "HTTP/1.1 200 OK\r\n"));
		else
			assert_int_equal(strncmp(x->resp, "HTTP/1.1 400 Bad Request\r\n", 26), 0);
		free(x);
	}
	assert_int_equal(t.calls, 2);
	ts_stop(&t);
}

struct smuggle {
	const char *name;
	const char *req;
	size_t len;
};

/* Each must get exactly one "HTTP/1.1 400" then EOF, and no handler call at all. */
static const struct smuggle smuggles[] = {
	{ "te_list", S("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
		       "1e\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n0\r\n\r\n") },
	{ "te_cl", S("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 35\r\n\r\n"
		     "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "cl_te", S("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "5c\r\nGPOST /smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n") },
	{ "te_space_colon", S("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n"
			      "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "te_xchunked", S("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"
			   "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "te_tab", S("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n"
		      "23\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n") },
	{ "te_dup", S("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
		      "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "cl_dup", S("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 35\r\n\r\n"
		      "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "cl_dup_equal", S("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc") },
	{ "cl_plus", S("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello") },
	{ "cl_hex", S("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n0123456789abcdef") },
	{ "cl_huge", S("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "bare_cr", S("GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\rGET /smuggled HTTP/1.1\r\n\r\n") },
	{ "nul_value", S("GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\0\r\nContent-Length: 35\r\n\r\n") },
	{ "nul_body", S("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na\0b") },
	{ "obs_fold", S("POST /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\nContent-Length: 35\r\n\r\n"
			"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "head_with_body", S("HEAD /a HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "trace_with_body", S("TRACE /a HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "get_with_body", S("GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "chunk_ext", S("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0;x\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "trailer", S("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 35\r\n\r\n"
		       "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "bare_lf", S("GET /a HTTP/1.1\nHost: x\n\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	{ "no_host", S("GET /smuggled HTTP/1.1\r\n\r\n") },
};

static void check_rejected(struct ts *t, const struct smuggle *c, enum send_mode mode, size_t split)
{
	struct exch *x = exchange(t, c->req, c->len, mode, split);

	if (strncmp(x->resp, "HTTP/1.1 400 Bad Request\r\n", 26) != 0 || !x->eof ||
	    count_status_lines(x->resp) != 1 || t->calls != 0 || t->smuggled != 0)
		fail_msg("case %s mode %d split %zu: eof=%d calls=%d resp=[%.60s]", c->name, (int)mode,
			 split, x->eof, t->calls, x->resp);
	assert_non_null(strstr(x->resp, "Connection: close\r\n"));
	free(x);
}

static void test_smuggling_rejected(void **state)
{
	struct ts t;
	struct http_server_opts o = { 0 };
	struct http_server_stats st;
	size_t n = sizeof(smuggles) / sizeof(smuggles[0]);

	(void)state;
	ts_start(&t, &o);
	for (size_t i = 0; i < n; i++) {
		const struct smuggle *c = &smuggles[i];
		const char *hend = strstr(c->req, "\r\n\r\n");

		check_rejected(&t, c, WHOLE, 0);
		check_rejected(&t, c, SPLIT, c->len / 2);
		check_rejected(&t, c, SPLIT, hend ? (size_t)(hend - c->req) + 2 : 5);
		check_rejected(&t, c, BYTES, 0);
	}
	http_server_get_stats(t.srv, &st);
	assert_int_equal(st.rejected, 4 * n);
	assert_int_equal(st.requests, 0);
	ts_stop(&t);
}

/* Forms the framer accepts must be framed identically by evhttp: the body below carries a
 * whole request; evhttp must read it as body (one handler call, body length right), not as a
 * second request. Guards against a libevent build that parses these differently. */
static void test_accepted_forms_agree(void **state)
{
	static const struct {
		const char *req;
		size_t len;
	} forms[] = {
		{ S("POST /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
		    "23\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n") },
		{ S("POST /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\ntransfer-encoding:chunked \t\r\n\r\n"
		    "0023\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n") },
		{ S("POST /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0035\r\n\r\n"
		    "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
		{ S("POST /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\ncontent-length:35  \t\r\n\r\n"
		    "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") },
	};
	struct ts t;
	struct http_server_opts o = { 0 };

	(void)state;
	ts_start(&t, &o);
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		for (int mode = WHOLE; mode <= BYTES; mode++) {
			int calls = t.calls;
			struct exch *x = exchange(&t, forms[i].req, forms[i].len, (enum send_mode)mode, forms[i].len / 2);

			if (!x->eof || count_status_lines(x->resp) != 1 || t.calls != calls + 1 ||
			    t.last_body_len != 35 || t.smuggled != 0)
				fail_msg("form %zu mode %d: calls=%d body=%zu resp=[%.40s]", i, mode, t.calls - calls,
					 t.last_body_len, x->resp);
			assert_non_null(strstr(x->resp, "HTTP/1.1 200 OK\r\n"));
			free(x);
		}
	}
	ts_stop(&t);
}

/* A valid request, then a smuggling attempt on the same connection: the first is answered,
 * the second gets 400 and the connection ends. */
static void test_valid_then_invalid(void **state)
{
	struct ts t;
	struct http_server_opts o = { 0 };
	struct exch *x;

	(void)state;
	ts_start(&t, &o);
	x = exchange(&t, S("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
			   "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 35\r\n\r\n"
			   "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"), WHOLE, 0);
	assert_true(x->eof);
	assert_int_equal(count_status_lines(x->resp), 2);
	assert_int_equal(strncmp(x->resp, "HTTP/1.1 200 OK\r\n", 17), 0);
	assert_non_null(strstr(x->resp, "HTTP/1.1 400 Bad Request\r\n"));
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.smuggled, 0);
	free(x);
	ts_stop(&t);
}

struct ka {
	uint16_t port;
	char r1[4096], r2[4096];
	bool ok;
};

/* Read one response whose body length is given by Content-Length. */
static bool read_one(int fd, char *out, size_t cap)
{
	size_t len = 0;

	for (;;) {
		char *end;
		ssize_t r = recv(fd, out + len, cap - 1 - len, 0);

		if (r <= 0)
			return false;
		len += (size_t)r;
		out[len] = '\0';
		end = strstr(out, "\r\n\r\n");
		if (end) {
			const char *cl = strstr(out, "Content-Length: ");
			size_t want = (size_t)(end + 4 - out) + (cl ? strtoul(cl + 16, NULL, 10) : 0);

			if (len >= want)
				return true;
		}
	}
}

static void keepalive_fn(void *p)
{
	struct ka *k = p;
	int fd = connect_port(k->port);

	send_all(fd, S("GET /one HTTP/1.1\r\nHost: x\r\n\r\n"));
	k->ok = read_one(fd, k->r1, sizeof(k->r1));
	send_all(fd, S("POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"));
	k->ok = k->ok && read_one(fd, k->r2, sizeof(k->r2));
	close(fd);
}

static void test_keepalive_and_pipelining(void **state)
{
	struct ts t;
	struct http_server_opts o = { 0 };
	struct http_server_stats st;
	struct ka k = { 0 };
	struct exch *x;

	(void)state;
	ts_start(&t, &o);
	k.port = http_server_port(t.srv);
	run_with_loop(t.base, keepalive_fn, &k);
	assert_true(k.ok);
	assert_non_null(strstr(k.r1, "\"uri\":\"/one\""));
	assert_non_null(strstr(k.r2, "{\"n\":3,\"uri\":\"/two\"}"));
	http_server_get_stats(t.srv, &st);
	assert_int_equal(st.conns_accepted, 1);
	assert_int_equal(st.requests, 2);

	/* Pipelined behind a slow (asynchronous) handler, sent byte by byte: answered in order. */
	x = exchange(&t, S("GET /slow1 HTTP/1.1\r\nHost: x\r\n\r\n"
			   "POST /p2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
			   "GET /slow3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), BYTES, 0);
	assert_true(x->eof);
	assert_int_equal(count_status_lines(x->resp), 3);
	{
		const char *a = strstr(x->resp, "/slow1"), *b = strstr(x->resp, "/p2"), *c = strstr(x->resp, "/slow3");

		assert_non_null(a);
		assert_non_null(b);
		assert_non_null(c);
		assert_true(a < b && b < c);
	}
	free(x);
	ts_stop(&t);
}

struct mc {
	uint16_t port;
	int held[2];
	struct exch third;
	struct exch after;
};

static void maxconn_fn(void *p)
{
	struct mc *m = p;

	m->held[0] = connect_port(m->port);
	m->held[1] = connect_port(m->port);
	usleep(100000);                        /* let the server take both on */
	m->third.port = m->port;
	m->third.req = "";
	m->third.read_timeout_ms = 2000;
	do_exchange(&m->third);                /* connects, sends nothing, reads */
	close(m->held[0]);
	usleep(100000);                        /* let the server notice */
	m->after.port = m->port;
	m->after.req = "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	m->after.req_len = strlen(m->after.req);
	do_exchange(&m->after);
	close(m->held[1]);
}

static void test_max_connections(void **state)
{
	struct ts t;
	struct http_server_opts o = { .max_connections = 2 };
	struct http_server_stats st;
	struct mc *m = calloc(1, sizeof(*m));

	(void)state;
	ts_start(&t, &o);
	m->port = http_server_port(t.srv);
	run_with_loop(t.base, maxconn_fn, m);
	assert_true(m->third.eof);
	assert_int_equal(strncmp(m->third.resp, "HTTP/1.1 503 ", 13), 0);
	assert_non_null(strstr(m->after.resp, "HTTP/1.1 200 OK\r\n"));
	http_server_get_stats(t.srv, &st);
	assert_int_equal(st.conns_refused, 1);
	assert_int_equal(st.conns_accepted, 3);
	assert_int_equal(t.calls, 1);
	free(m);
	ts_stop(&t);
}

/* A request whose head never completes is closed after request_timeout_ms, without reply. */
static void test_request_timeout(void **state)
{
	struct ts t;
	struct http_server_opts o = { .request_timeout_ms = 200 };
	struct http_server_stats st;
	struct exch *x = calloc(1, sizeof(*x));

	(void)state;
	ts_start(&t, &o);
	x->port = http_server_port(t.srv);
	x->req = "GET /slowloris HTTP/1.1\r\nHost: x\r\n";
	x->req_len = strlen(x->req);
	x->read_timeout_ms = 2000;
	run_with_loop(t.base, exch_fn, x);
	assert_true(x->eof);
	assert_int_equal(x->resp_len, 0);
	http_server_get_stats(t.srv, &st);
	assert_int_equal(st.timed_out, 1);
	assert_int_equal(t.calls, 0);
	free(x);
	ts_stop(&t);

	/* idle_timeout_ms: a kept-alive connection with nothing to do is closed. */
	o.request_timeout_ms = 0;
	o.idle_timeout_ms = 300;
	ts_start(&t, &o);
	{
		int64_t t0 = clock_mono_ms();

		x = exchange(&t, S("GET /idle HTTP/1.1\r\nHost: x\r\n\r\n"), WHOLE, 0);
		assert_true(x->eof);
		assert_int_equal(strncmp(x->resp, "HTTP/1.1 200 OK\r\n", 17), 0);
		assert_true(clock_mono_ms() - t0 >= 250);
		assert_true(clock_mono_ms() - t0 < 2500);
		free(x);
	}
	ts_stop(&t);
}

static void test_listen_errors_and_reuseport(void **state)
{
	int fds_before = count_fds();
	struct event_base *base = event_base_new();
	struct http_server_opts o = { .listen = "localhost:0" };
	struct http_server *a, *b;
	char addr[64];
	struct err e;

	(void)state;
	assert_null(http_server_new(base, &o, handler, NULL, &e));
	assert_int_equal(e.code, -EINVAL);

	o.listen = "127.0.0.1:0";
	a = http_server_new(base, &o, handler, NULL, &e);
	assert_non_null(a);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", http_server_port(a));
	o.listen = addr;
	assert_null(http_server_new(base, &o, handler, NULL, &e));   /* no SO_REUSEPORT on a */
	assert_int_equal(e.code, -EADDRINUSE);
	http_server_free(a);

	o.listen = "127.0.0.1:0";
	o.reuseport = true;
	a = http_server_new(base, &o, handler, NULL, &e);
	assert_non_null(a);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", http_server_port(a));
	o.listen = addr;
	b = http_server_new(base, &o, handler, NULL, &e);
	assert_non_null(b);
	assert_int_equal(http_server_port(a), http_server_port(b));
	http_server_free(a);
	http_server_free(b);

	o.listen = "[::1]:0";
	o.reuseport = false;
	a = http_server_new(base, &o, handler, NULL, &e);
	if (a == NULL) /* a host without IPv6 on loopback */
		assert_int_equal(e.code, -EADDRNOTAVAIL);
	http_server_free(a);
	event_base_free(base);
	assert_int_equal(count_fds(), fds_before);
}

/* Serving many connections (valid, rejected, refused, timed out) leaks no descriptors. */
static void test_no_fd_leak(void **state)
{
	struct ts t;
	struct http_server_opts o = { .max_connections = 4 };
	int before = count_fds();

	(void)state;
	ts_start(&t, &o);
	for (int i = 0; i < 5; i++) {
		free(exchange(&t, S("GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), WHOLE, 0));
		free(exchange(&t, S("GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"), WHOLE, 0));
	}
	ts_stop(&t);
	assert_int_equal(count_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_post_and_request_id),
		cmocka_unit_test(test_body_limits),
		cmocka_unit_test(test_header_limit),
		cmocka_unit_test(test_smuggling_rejected),
		cmocka_unit_test(test_accepted_forms_agree),
		cmocka_unit_test(test_valid_then_invalid),
		cmocka_unit_test(test_keepalive_and_pipelining),
		cmocka_unit_test(test_max_connections),
		cmocka_unit_test(test_request_timeout),
		cmocka_unit_test(test_listen_errors_and_reuseport),
		cmocka_unit_test(test_no_fd_leak),
	};

	log_init(2, LOGL_ERROR, "http_server_test");
	return cmocka_run_group_tests_name("http_server", tests, NULL, NULL);
}
