/* Fuzz target for the HTTP request gate (`make fuzz`, libFuzzer).
 *
 * 1. Framer differential: the input is framed as a sequence of messages three ways — whole,
 *    one byte at a time, and in pieces whose sizes come from the input — and every outcome
 *    (result, rule, message lengths) must agree. A disagreement is exactly the parser
 *    inconsistency request smuggling feeds on, so it aborts.
 * 2. Real server: the input is sent over loopback to an http_server (then the client half-
 *    closes). Nothing may crash or hang, and the handler may not run more often than the
 *    framer found whole valid messages in the input.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/http_server.h"
#include "lib/http_util.h"
#include "lib/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

#define MAX_MSGS 64

struct trace {
	int rc[MAX_MSGS];
	int err[MAX_MSGS];
	size_t len[MAX_MSGS];
	int n;
	int done;            /* whole valid messages before the first non-DONE */
};

static const struct http_framer_limits LIM = {
	.max_head = 1024, .max_body = 4096, .methods = HTTP_M_ALL, .allow_nul_in_body = false,
};

/* Frame data as consecutive messages, feeding pieces of size step (0 = whole; <0 = sizes
 * taken from the input bytes). */
static void frame(const uint8_t *data, size_t n, long step, struct trace *t)
{
	struct http_framer f;
	size_t off = 0, msg_start = 0, k = 0;

	memset(t, 0, sizeof(*t));
	http_framer_init(&f, &LIM);
	while (off < n && t->n < MAX_MSGS) {
		size_t piece, used = 0;
		int rc;

		if (step == 0)
			piece = n - off;
		else if (step > 0)
			piece = (size_t)step;
		else
			piece = 1 + data[k++ % n] % 97;
		if (piece > n - off)
			piece = n - off;
		rc = http_framer_feed(&f, data + off, piece, &used);
		if (used > piece)
			abort();
		off += used;
		if (rc == HTTP_FRAMER_MORE) {
			if (used != piece)
				abort();
			continue;
		}
		t->rc[t->n] = rc;
		t->err[t->n] = f.error;
		t->len[t->n] = off - msg_start;
		t->n++;
		if (rc != HTTP_FRAMER_DONE)
			break;
		t->done++;
		msg_start = off;
		http_framer_reset(&f);
	}
	http_framer_fini(&f);
}

static void differential(const uint8_t *data, size_t n)
{
	struct trace a, b, c;

	frame(data, n, 0, &a);
	frame(data, n, 1, &b);
	frame(data, n, -1, &c);
	for (int i = 0; i < 2; i++) {
		const struct trace *o = i == 0 ? &b : &c;

		if (o->n != a.n || o->done != a.done)
			abort();
		for (int j = 0; j < a.n; j++) {
			if (o->rc[j] != a.rc[j] || o->err[j] != a.err[j])
				abort();
			if (a.rc[j] != HTTP_FRAMER_INVALID && o->len[j] != a.len[j])
				abort();
		}
	}
}

/* --- server round trip ------------------------------------------------------------------ */

static struct event_base *base;
static struct http_server *srv;
static int handler_calls;

static void handler(struct evhttp_request *req, void *arg)
{
	(void)arg;
	handler_calls++;
	http_server_reply_json(req, 200, "{}", 2);
}

static void on_client(evutil_socket_t fd, short what, void *arg)
{
	char buf[4096];
	ssize_t r = recv(fd, buf, sizeof(buf), 0);

	(void)what;
	if (r <= 0)
		event_base_loopbreak(arg);
}

static void on_hang(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	abort(); /* the server neither answered nor closed a half-closed connection */
}

static void server_roundtrip(const uint8_t *data, size_t n, int max_calls)
{
	struct sockaddr_in a;
	struct event *ev, *hang;
	struct timeval tv = { 5, 0 };
	int fd;

	if (base == NULL) {
		struct http_server_opts o = { .listen = "127.0.0.1:0", .max_header_bytes = LIM.max_head,
					      .max_body_bytes = LIM.max_body, .request_timeout_ms = 2000 };
		struct err e;

		log_init(2, LOGL_ERROR, "http_server_fuzz");
		base = event_base_new();
		srv = http_server_new(base, &o, handler, NULL, &e);
		if (srv == NULL)
			abort();
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(http_server_port(srv));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		abort();
	/* Inputs are at most 16 KiB: they fit in the loopback socket buffer. */
	if (send(fd, data, n, MSG_NOSIGNAL) != (ssize_t)n)
		abort();
	shutdown(fd, SHUT_WR);
	handler_calls = 0;
	ev = event_new(base, fd, EV_READ | EV_PERSIST, on_client, base);
	hang = evtimer_new(base, on_hang, NULL);
	event_add(ev, NULL);
	evtimer_add(hang, &tv);
	event_base_dispatch(base);
	event_free(ev);
	event_free(hang);
	close(fd);
	if (handler_calls > max_calls)
		abort(); /* evhttp answered a request the framer did not accept */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct trace t;

	if (n == 0)
		return 0;
	differential(data, n);
	if (n <= 16384) {
		frame(data, n, 0, &t);
		server_roundtrip(data, n, t.done);
	}
	return 0;
}
