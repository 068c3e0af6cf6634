/* http_client tests against a real lib/http_server on 127.0.0.1, both on the test's event
 * loop (the fetch_sync tests run the server in a helper thread instead). */
#include "lib/http_client.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/clock.h"
#include "lib/http_server.h"
#include "lib/log.h"

/* ---- test server ----------------------------------------------------------------------- */

struct srv {
	struct event_base *base;
	struct http_server *s;
	int calls;
	char body[256 * 1024];
	size_t body_len;
	char xtest[64];
	int delay_ms;              /* for /slow */
	int replied;               /* delayed replies actually sent */
};

struct delayed {
	struct srv *t;
	struct evhttp_request *req;
};

static void on_delayed(evutil_socket_t fd, short what, void *arg)
{
	struct delayed *d = arg;

	(void)fd;
	(void)what;
	d->t->replied++;
	http_server_reply_json(d->req, 200, "{\"slow\":true}", 13);
	free(d);
}

static void srv_handler(struct evhttp_request *req, void *arg)
{
	struct srv *t = arg;
	const char *uri = evhttp_request_get_uri(req);
	const char *xt = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Test");
	struct buf b;

	t->calls++;
	snprintf(t->xtest, sizeof(t->xtest), "%s", xt ? xt : "");
	buf_init(&b, sizeof(t->body));
	if (http_server_read_body(req, &b) == 0) {
		if (b.len)
			memcpy(t->body, b.p, b.len);
		t->body_len = b.len;
	}
	buf_fini(&b);
	if (strncmp(uri, "/slow", 5) == 0) {
		struct delayed *d = calloc(1, sizeof(*d));
		struct timeval tv = { t->delay_ms / 1000, (t->delay_ms % 1000) * 1000 };

		d->t = t;
		d->req = req;
		event_base_once(t->base, -1, EV_TIMEOUT, on_delayed, d, &tv);
		return;
	}
	if (strncmp(uri, "/big", 4) == 0) {
		static char big[2000];

		memset(big, 'B', sizeof(big));
		http_server_reply_json(req, 200, big, sizeof(big));
		return;
	}
	if (strncmp(uri, "/stream", 7) == 0) {
		/* chunked reply, no Content-Length: the limit must trip while streaming */
		struct evbuffer *ch = evbuffer_new();

		evhttp_send_reply_start(req, 200, NULL);
		for (int i = 0; i < 4; i++) {
			char part[500];

			memset(part, 'S', sizeof(part));
			evbuffer_add(ch, part, sizeof(part));
			evhttp_send_reply_chunk(req, ch);
		}
		evhttp_send_reply_end(req);
		evbuffer_free(ch);
		return;
	}
	if (strncmp(uri, "/redirect", 9) == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Location", "/elsewhere");
		evhttp_send_reply(req, 302, NULL, NULL);
		return;
	}
	{
		char out[128];
		int n = snprintf(out, sizeof(out), "{\"n\":%zu,\"m\":%d}", t->body_len,
				 (int)evhttp_request_get_command(req));

		http_server_reply_json(req, 200, out, (size_t)n);
	}
}

static void srv_start(struct srv *t, struct event_base *base, SSL_CTX *tls)
{
	struct http_server_opts o = { .listen = "127.0.0.1:0", .tls = tls };
	struct err e;

	memset(t, 0, sizeof(*t));
	t->base = base;
	t->delay_ms = 300;
	t->s = http_server_new(base, &o, srv_handler, t, &e);
	if (t->s == NULL)
		fail_msg("server: %s", e.msg);
}

static void url(char *out, size_t cap, const struct srv *t, const char *scheme, const char *path)
{
	snprintf(out, cap, "%s://127.0.0.1:%u%s", scheme, http_server_port(t->s), path);
}

/* ---- client bookkeeping ------------------------------------------------------------------ */

struct got {
	int n;
	int status;
	int curl_code;
	bool too_large, timed_out;
	size_t body_len;
	char body[4096];
	char ctype[64];
	char rid[32];
	int64_t elapsed_us;
	bool has_error;
	struct event_base *base;
	bool stop_when_done;
};

static void on_resp(const struct http_client_resp *r, void *arg)
{
	struct got *g = arg;

	g->n++;
	g->status = r->status;
	g->curl_code = r->curl_code;
	g->too_large = r->too_large;
	g->timed_out = r->timed_out;
	g->body_len = r->body_len;
	snprintf(g->body, sizeof(g->body), "%s", r->body);
	snprintf(g->ctype, sizeof(g->ctype), "%s", r->content_type ? r->content_type : "");
	if (http_client_resp_header(r, "x-request-id", g->rid, sizeof(g->rid)) < 0)
		g->rid[0] = '\0';
	g->elapsed_us = r->elapsed_us;
	g->has_error = r->error != NULL;
	if (g->stop_when_done)
		event_base_loopbreak(g->base);
}

static void on_never(const struct http_client_resp *r, void *arg)
{
	(void)r;
	(*(int *)arg)++;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Run the loop until loopbreak or ms milliseconds. */
static void loop_for(struct event_base *base, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *ev = evtimer_new(base, on_stop, base);

	evtimer_add(ev, &tv);
	event_base_dispatch(base);
	event_free(ev);
}

static void send_ok(struct http_client *c, const struct http_client_req *r, http_client_cb cb, void *arg,
		    struct http_client_xfer **x)
{
	struct err e;

	if (http_client_send(c, r, cb, arg, x, &e) != 0)
		fail_msg("send: %s", e.msg);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_get_post(void **state)
{
	struct event_base *base = event_base_new();
	struct srv t;
	struct http_client *c;
	struct got g = { 0 };
	char u[128];
	static char big[100000];
	const char *hdrs[] = { "X-Test: abc", "Content-Type: application/octet-stream" };
	struct http_client_req r = { 0 };
	struct err e;

	(void)state;
	srv_start(&t, base, NULL);
	c = http_client_new(base, NULL, &e);
	assert_non_null(c);
	g.base = base;
	g.stop_when_done = true;
	url(u, sizeof(u), &t, "http", "/hello");
	r.url = u;
	r.headers = hdrs;
	r.n_headers = 1;
	send_ok(c, &r, on_resp, &g, NULL);
	assert_int_equal(g.n, 0);            /* never called from inside send */
	assert_int_equal(http_client_in_flight(c), 1);
	loop_for(base, 5000);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.status, 200);
	assert_int_equal(g.curl_code, 0);
	assert_false(g.has_error);
	assert_string_equal(g.body, "{\"n\":0,\"m\":1}");
	assert_string_equal(g.ctype, "application/json");
	assert_int_equal(strlen(g.rid), 16);
	assert_string_equal(t.xtest, "abc");
	assert_int_equal(http_client_in_flight(c), 0);

	/* POST 100 kB of every byte value except NUL (the server refuses NUL in bodies). */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(1 + i % 255);
	url(u, sizeof(u), &t, "http", "/post");
	r.method = "POST";
	r.body = big;
	r.body_len = sizeof(big);
	r.headers = hdrs;
	r.n_headers = 2;
	send_ok(c, &r, on_resp, &g, NULL);
	memset(big, 0, 16);                   /* copied at send: later changes do not matter */
	loop_for(base, 5000);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.status, 200);
	assert_int_equal(t.body_len, sizeof(big));
	assert_int_equal(t.body[0], 1);
	for (size_t i = 16; i < sizeof(big); i++)
		if (t.body[i] != big[i])
			fail_msg("body differs at %zu", i);

	/* PUT and DELETE map to the right methods. */
	r.method = "PUT";
	r.body = "x";
	r.body_len = 1;
	send_ok(c, &r, on_resp, &g, NULL);
	loop_for(base, 5000);
	assert_string_equal(g.body, "{\"n\":1,\"m\":8}");  /* EVHTTP_REQ_PUT */
	r.method = "DELETE";
	r.body = NULL;
	r.body_len = 0;
	send_ok(c, &r, on_resp, &g, NULL);
	loop_for(base, 5000);
	assert_string_equal(g.body, "{\"n\":0,\"m\":16}"); /* EVHTTP_REQ_DELETE */

	http_client_free(c);
	http_server_free(t.s);
	event_base_free(base);
}

static void test_too_large_and_redirect(void **state)
{
	struct event_base *base = event_base_new();
	struct srv t;
	struct http_client *c;
	struct got g = { 0 };
	char u[128];
	struct http_client_req r = { .max_response_bytes = 1000 };
	struct err e;

	(void)state;
	srv_start(&t, base, NULL);
	c = http_client_new(base, NULL, &e);
	g.base = base;
	g.stop_when_done = true;
	r.url = u;
	/* Content-Length 2000 > 1000 */
	url(u, sizeof(u), &t, "http", "/big");
	send_ok(c, &r, on_resp, &g, NULL);
	loop_for(base, 5000);
	assert_int_equal(g.n, 1);
	assert_true(g.too_large);
	assert_true(g.has_error);
	assert_true(g.curl_code != 0);
	assert_true(g.body_len <= 1000);
	/* chunked, no Content-Length: aborted while streaming */
	url(u, sizeof(u), &t, "http", "/stream");
	send_ok(c, &r, on_resp, &g, NULL);
	loop_for(base, 5000);
	assert_int_equal(g.n, 2);
	assert_true(g.too_large);
	assert_true(g.body_len <= 1000);
	/* exactly at the limit passes */
	r.max_response_bytes = 2000;
	url(u, sizeof(u), &t, "http", "/big");
	send_ok(c, &r, on_resp, &g, NULL);
	loop_for(base, 5000);
	assert_int_equal(g.n, 3);
	assert_false(g.too_large);
	assert_int_equal(g.body_len, 2000);
	/* redirects are reported, not followed */
	url(u, sizeof(u), &t, "http", "/redirect");
	send_ok(c, &r, on_resp, &g, NULL);
	loop_for(base, 5000);
	assert_int_equal(g.status, 302);
	assert_int_equal(t.calls, 4);
	http_client_free(c);
	http_server_free(t.s);
	event_base_free(base);
}

static void test_deadline(void **state)
{
	struct event_base *base = event_base_new();
	struct srv t;
	struct http_client *c;
	struct got g = { 0 };
	char u[128];
	struct http_client_req r = { .timeout_ms = 200 };
	struct err e;

	(void)state;
	srv_start(&t, base, NULL);
	t.delay_ms = 1500;
	c = http_client_new(base, NULL, &e);
	g.base = base;
	g.stop_when_done = true;
	url(u, sizeof(u), &t, "http", "/slow");
	r.url = u;
	send_ok(c, &r, on_resp, &g, NULL);
	loop_for(base, 5000);
	assert_int_equal(g.n, 1);
	assert_true(g.timed_out);
	assert_int_equal(g.status, 0);
	/* generous bounds: fired at the deadline, well before the server's reply */
	assert_true(g.elapsed_us >= 190000);
	assert_true(g.elapsed_us < 1000000);
	http_client_free(c);
	loop_for(base, 1600);                  /* let the server's delayed reply run */
	http_server_free(t.s);
	event_base_free(base);
}

struct canceller {
	struct http_client_xfer *x;
};

static void on_cancel_timer(evutil_socket_t fd, short what, void *arg)
{
	struct canceller *k = arg;

	(void)fd;
	(void)what;
	http_client_cancel(k->x);
}

static void test_cancel(void **state)
{
	struct event_base *base = event_base_new();
	struct srv t;
	struct http_client *c;
	int never = 0;
	char u[128];
	struct http_client_req r = { 0 };
	struct http_client_xfer *x;
	struct canceller k;
	struct timeval tv = { 0, 50000 };
	struct err e;

	(void)state;
	srv_start(&t, base, NULL);
	t.delay_ms = 300;
	c = http_client_new(base, NULL, &e);
	url(u, sizeof(u), &t, "http", "/slow");
	r.url = u;
	/* cancelled before the loop ever ran */
	send_ok(c, &r, on_never, &never, &x);
	http_client_cancel(x);
	assert_int_equal(http_client_in_flight(c), 0);
	/* cancelled mid-flight, while the server sits on the request */
	send_ok(c, &r, on_never, &never, &k.x);
	event_base_once(base, -1, EV_TIMEOUT, on_cancel_timer, &k, &tv);
	loop_for(base, 800);                    /* past the server's reply */
	assert_int_equal(never, 0);
	assert_int_equal(http_client_in_flight(c), 0);
	assert_int_equal(t.calls, 1);           /* the first never left the client */
	assert_int_equal(t.replied, 1);         /* the server did answer the second one */
	/* three in flight, client freed: no callbacks */
	send_ok(c, &r, on_never, &never, NULL);
	send_ok(c, &r, on_never, &never, NULL);
	send_ok(c, &r, on_never, &never, NULL);
	loop_for(base, 100);
	assert_int_equal(http_client_in_flight(c), 3);
	http_client_free(c);
	loop_for(base, 500);
	assert_int_equal(never, 0);
	http_server_free(t.s);
	event_base_free(base);
}

struct chain {
	struct event_base *base;
	struct http_client *c;
	struct http_client_req r;
	int done;
	int ok;
};

static void on_chain(const struct http_client_resp *r, void *arg)
{
	struct chain *ch = arg;
	struct err e;

	ch->done++;
	if (r->status == 200)
		ch->ok++;
	if (ch->done < 5)
		assert_int_equal(http_client_send(ch->c, &ch->r, on_chain, ch, NULL, &e), 0); /* from a callback */
	else
		event_base_loopbreak(ch->base);
}

/* Five sequential requests (each sent from the previous callback) share one connection. */
static void test_connection_reuse(void **state)
{
	struct event_base *base = event_base_new();
	struct srv t;
	struct chain ch = { 0 };
	char u[128];
	struct http_server_stats st;
	struct err e;

	(void)state;
	srv_start(&t, base, NULL);
	ch.base = base;
	ch.c = http_client_new(base, NULL, &e);
	url(u, sizeof(u), &t, "http", "/r");
	ch.r.url = u;
	send_ok(ch.c, &ch.r, on_chain, &ch, NULL);
	loop_for(base, 5000);
	assert_int_equal(ch.done, 5);
	assert_int_equal(ch.ok, 5);
	http_server_get_stats(t.s, &st);
	assert_int_equal(st.requests, 5);
	assert_int_equal(st.conns_accepted, 1);
	http_client_free(ch.c);
	http_server_free(t.s);
	event_base_free(base);
}

static void test_bad_requests(void **state)
{
	struct event_base *base = event_base_new();
	struct http_client *c;
	int never = 0;
	const char *crlf[] = { "X-A: 1\r\nX-Injected: 2" };
	const char *nocolon[] = { "X-A 1" };
	struct http_client_req r = { .url = "ftp://127.0.0.1/x" };
	struct http_client_xfer *x = (void *)1;
	struct err e;

	(void)state;
	c = http_client_new(base, NULL, &e);
	assert_int_equal(http_client_send(c, &r, on_never, &never, &x, &e), -EINVAL);
	assert_null(x);
	r.url = "http://127.0.0.1:1/x";
	r.headers = crlf;
	r.n_headers = 1;
	assert_int_equal(http_client_send(c, &r, on_never, &never, NULL, &e), -EINVAL);
	r.headers = nocolon;
	assert_int_equal(http_client_send(c, &r, on_never, &never, NULL, &e), -EINVAL);
	r.headers = NULL;
	r.n_headers = 0;
	r.method = "GE T";
	assert_int_equal(http_client_send(c, &r, on_never, &never, NULL, &e), -EINVAL);
	loop_for(base, 50);
	assert_int_equal(never, 0);
	assert_int_equal(http_client_in_flight(c), 0);
	http_client_free(c);
	event_base_free(base);
}

/* ---- TLS ----------------------------------------------------------------------------------- */

static SSL_CTX *make_tls(char *ca_path, size_t cap)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	SSL_CTX *ctx;
	FILE *fp;
	int fd;

	assert_non_null(pkey);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pkey);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"ehrgate-test", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);

	ctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, pkey), 1);
	snprintf(ca_path, cap, "/tmp/ehrgate-http-ca-XXXXXX");
	fd = mkstemp(ca_path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	PEM_write_X509(fp, x);
	fclose(fp);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return ctx;
}

static void test_tls(void **state)
{
	struct event_base *base = event_base_new();
	struct srv t;
	struct http_client *c, *c_noca;
	struct got g = { 0 };
	char u[128], ca[64];
	SSL_CTX *tls = make_tls(ca, sizeof(ca));
	struct http_client_opts o = { .ca_file = ca };
	struct http_client_req r = { 0 };
	struct err e;

	(void)state;
	srv_start(&t, base, tls);
	c = http_client_new(base, &o, &e);
	c_noca = http_client_new(base, NULL, &e);
	g.base = base;
	g.stop_when_done = true;
	url(u, sizeof(u), &t, "https", "/secure");
	r.url = u;
	r.method = "POST";
	r.body = "{\"a\":1}";
	r.body_len = 7;
	send_ok(c, &r, on_resp, &g, NULL);
	loop_for(base, 5000);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.body, "{\"n\":7,\"m\":2}");
	assert_int_equal(t.calls, 1);
	/* verification is on by default: our self-signed server is refused without the CA */
	send_ok(c_noca, &r, on_resp, &g, NULL);
	loop_for(base, 5000);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.curl_code, 60);      /* CURLE_PEER_FAILED_VERIFICATION */
	assert_int_equal(t.calls, 1);
	/* plain HTTP to the TLS port does not reach the handler */
	url(u, sizeof(u), &t, "http", "/plain");
	send_ok(c, &r, on_resp, &g, NULL);
	loop_for(base, 5000);
	assert_int_equal(g.n, 3);
	assert_true(g.status == 0 || g.status >= 400);
	assert_int_equal(t.calls, 1);
	http_client_free(c);
	http_client_free(c_noca);
	http_server_free(t.s);
	SSL_CTX_free(tls);
	unlink(ca);
	event_base_free(base);
}

/* ---- fetch_sync (server on its own thread) ------------------------------------------------- */

struct bg {
	struct event_base *base;
	struct srv t;
	int stop[2];
	struct event *stop_ev;
	pthread_t th;
};

static void *bg_main(void *p)
{
	struct bg *b = p;

	event_base_dispatch(b->base);
	return NULL;
}

static void bg_start(struct bg *b)
{
	b->base = event_base_new();
	srv_start(&b->t, b->base, NULL);
	assert_int_equal(pipe(b->stop), 0);
	b->stop_ev = event_new(b->base, b->stop[0], EV_READ, on_stop, b->base);
	event_add(b->stop_ev, NULL);
	assert_int_equal(pthread_create(&b->th, NULL, bg_main, b), 0);
}

static void bg_stop(struct bg *b)
{
	(void)!write(b->stop[1], "x", 1);
	pthread_join(b->th, NULL);
	http_server_free(b->t.s);
	event_free(b->stop_ev);
	event_base_free(b->base);
	close(b->stop[0]);
	close(b->stop[1]);
}

static void test_fetch_sync(void **state)
{
	struct bg b;
	struct http_client_result res = { 0 };
	struct http_client_req r = { 0 };
	char u[128];
	struct err e;
	int64_t t0;

	(void)state;
	bg_start(&b);
	url(u, sizeof(u), &b.t, "http", "/jwks");
	r.url = u;
	assert_int_equal(http_client_fetch_sync(NULL, &r, &res, &e), 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "{\"n\":0,\"m\":1}");
	assert_string_equal(res.content_type, "application/json");
	http_client_result_fini(&res);

	b.t.delay_ms = 1000;
	url(u, sizeof(u), &b.t, "http", "/slow");
	r.timeout_ms = 150;
	t0 = clock_mono_ms();
	assert_int_equal(http_client_fetch_sync(NULL, &r, &res, &e), -ETIMEDOUT);
	assert_true(clock_mono_ms() - t0 < 900);
	assert_null(res.body);

	r.timeout_ms = 0;
	r.max_response_bytes = 100;
	url(u, sizeof(u), &b.t, "http", "/big");
	assert_int_equal(http_client_fetch_sync(NULL, &r, &res, &e), -E2BIG);
	usleep(1100 * 1000); /* let the slow reply go out before stopping the server */
	bg_stop(&b);

	/* nothing listening */
	r.url = u;
	r.max_response_bytes = 0;
	snprintf(u, sizeof(u), "http://127.0.0.1:1/x");
	assert_int_equal(http_client_fetch_sync(NULL, &r, &res, &e), -EIO);
	assert_non_null(strstr(e.msg, "fetch failed"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_post),
		cmocka_unit_test(test_too_large_and_redirect),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_connection_reuse),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_fetch_sync),
	};

	log_init(2, LOGL_ERROR, "http_client_test");
	return cmocka_run_group_tests_name("http_client", tests, NULL, NULL);
}
