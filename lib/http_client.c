/* http_client — libcurl multi on a libevent loop.
 *
 * Owns: one CURLM per client, one libevent timer for curl's timeout, one libevent event per
 * socket curl asks us to watch (struct sock, attached with curl_multi_assign), and one
 * struct http_client_xfer per request (its CURL easy handle, header list, body copy and the
 * bounded response buffers). The glue is curl's documented event-loop interface
 * (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION / curl_multi_socket_action /
 * curl_multi_info_read), as in curl's docs/examples/multi-event.c.
 *
 * Completion callbacks run from check_done(), outside any libcurl call, so they may start or
 * cancel other transfers. A cancelled transfer is removed from the multi handle (curl drops
 * its pending CURLMSG_DONE message too), so its callback can never run afterwards.
 */
#include "lib/http_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/http_util.h"
#include "lib/mem.h"

#define DEFAULT_MAX_CONNS 32
#define DEFAULT_CONNECT_MS 5000u
#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_MAX_RESPONSE (1024u * 1024u)
#define DEFAULT_MAX_HEADER 16384u

struct http_client {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct http_client_opts o;
	char *ca_file;
	char *proxy;
	struct http_client_xfer *xfers;    /* in flight */
	size_t n;
};

struct http_client_xfer {
	struct http_client *c;
	CURL *easy;
	struct curl_slist *hdrs;
	char *body_copy;
	struct buf body;
	struct buf head;
	http_client_cb cb;
	void *arg;
	int64_t t0_ns;
	bool too_large;
	bool head_too_large;
	bool in_cb;
	struct http_client_xfer *prev, *next;
};

struct sock {
	struct http_client *c;
	curl_socket_t fd;
	struct event *ev;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* --- curl ↔ libevent glue ---------------------------------------------------------------- */

static void check_done(struct http_client *c);

static void on_sock(evutil_socket_t fd, short kind, void *arg)
{
	struct sock *s = arg;
	struct http_client *c = s->c;   /* s may be freed inside socket_action */
	int running = 0;
	int action = ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);

	curl_multi_socket_action(c->multi, fd, action, &running);
	check_done(c);
}

static void on_timer(evutil_socket_t fd, short kind, void *arg)
{
	struct http_client *c = arg;
	int running = 0;

	(void)fd;
	(void)kind;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

/* CURLMOPT_SOCKETFUNCTION: watch / change / forget a socket. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	struct sock *s = socketp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			event_free(s->ev);
			free(s);
			curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->c = c;
		s->fd = fd;
		s->ev = event_new(c->base, fd, kind, on_sock, s);
		if (s->ev == NULL)
			abort(); /* out of memory: see lib/mem.h */
		curl_multi_assign(c->multi, fd, s);
	} else {
		event_del(s->ev);
		event_assign(s->ev, c->base, fd, kind, on_sock, s);
	}
	event_add(s->ev, NULL);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 = stop, 0 = as soon as possible, else in timeout_ms. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(c->timer);
	} else {
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

		evtimer_add(c->timer, &tv);
	}
	return 0;
}

/* --- transfers ---------------------------------------------------------------------------- */

static void xfer_unlink(struct http_client_xfer *x)
{
	struct http_client *c = x->c;

	if (x->prev)
		x->prev->next = x->next;
	else
		c->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	c->n--;
}

static void xfer_free(struct http_client_xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->hdrs);
	free(x->body_copy);
	buf_fini(&x->body);
	buf_fini(&x->head);
	free(x);
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct http_client_xfer *x = arg;
	size_t n = size * nmemb;

	/* Enforce max_response_bytes while streaming: returning short aborts the transfer. */
	if (buf_append(&x->body, p, n) < 0) {
		x->too_large = true;
		return 0;
	}
	return n;
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct http_client_xfer *x = arg;
	size_t n = size * nmemb;

	/* A status line starts a new response (after 1xx): keep only the final one. */
	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
		buf_reset(&x->head);
	if (buf_append(&x->head, p, n) < 0) {
		x->head_too_large = true;
		return 0;
	}
	return n;
}

static void finish(struct http_client_xfer *x, CURLcode code)
{
	struct http_client *c = x->c;
	struct http_client_resp r;
	long status = 0;
	char *ctype = NULL;

	memset(&r, 0, sizeof(r));
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ctype);
	xfer_unlink(x);
	curl_multi_remove_handle(c->multi, x->easy);

	r.status = (int)status;
	r.curl_code = (int)code;
	r.too_large = x->too_large || code == CURLE_FILESIZE_EXCEEDED;
	r.timed_out = code == CURLE_OPERATION_TIMEDOUT;
	if (code != CURLE_OK) {
		if (r.too_large)
			r.error = "response body larger than max_response_bytes";
		else if (x->head_too_large)
			r.error = "response headers larger than max_header_bytes";
		else
			r.error = curl_easy_strerror(code); /* static strings */
	}
	r.body = x->body.p ? x->body.p : "";
	r.body_len = x->body.len;
	r.content_type = ctype;
	r.headers = x->head.p ? x->head.p : "";
	r.headers_len = x->head.len;
	r.elapsed_us = (clock_mono_ns() - x->t0_ns) / 1000;
	x->in_cb = true;
	x->cb(&r, x->arg);
	xfer_free(x);
}

static void check_done(struct http_client *c)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
		struct http_client_xfer *x = NULL;
		CURL *easy = m->easy_handle;
		CURLcode code = m->data.result;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		if (x != NULL)
			finish(x, code);
	}
}

void http_client_cancel(struct http_client_xfer *x)
{
	if (x == NULL || x->in_cb)
		return;
	xfer_unlink(x);
	/* Removing the handle also drops a CURLMSG_DONE already queued for it. */
	curl_multi_remove_handle(x->c->multi, x->easy);
	xfer_free(x);
}

size_t http_client_in_flight(const struct http_client *c)
{
	return c->n;
}

static bool header_ok(const char *h)
{
	const char *colon = strchr(h, ':');

	if (colon == NULL || colon == h)
		return false;
	/* No CR/LF anywhere: a header string must not be able to add lines (injection). */
	return strpbrk(h, "\r\n") == NULL;
}

static bool has_header(const struct http_client_req *r, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < r->n_headers; i++)
		if (strlen(r->headers[i]) > nl && r->headers[i][nl] == ':' && http_ascii_ieq(r->headers[i], name, nl))
			return true;
	return false;
}

static bool method_ok(const char *m)
{
	if (*m == '\0' || strlen(m) > 16)
		return false;
	for (; *m; m++)
		if (!((*m >= 'A' && *m <= 'Z') || *m == '-' || *m == '_'))
			return false;
	return true;
}

static int setup_easy(struct http_client *c, struct http_client_xfer *x, const struct http_client_req *r,
		      struct err *e)
{
	CURL *h = x->easy;
	const char *method = r->method ? r->method : "GET";
	unsigned timeout = r->timeout_ms ? r->timeout_ms : DEFAULT_TIMEOUT_MS;
	unsigned ctimeout = c->o.connect_timeout_ms < timeout ? c->o.connect_timeout_ms : timeout;
	size_t maxr = r->max_response_bytes ? r->max_response_bytes : DEFAULT_MAX_RESPONSE;
	const void *body = r->body;
	CURLcode rc = CURLE_OK;

	if (r->url == NULL || !(http_ascii_ieq(r->url, "http://", 7) || http_ascii_ieq(r->url, "https://", 8)))
		return err_set(e, -EINVAL, "url must start with http:// or https://");
	if (!method_ok(method))
		return err_set(e, -EINVAL, "bad request method");
	for (size_t i = 0; i < r->n_headers; i++) {
		if (r->headers[i] == NULL || !header_ok(r->headers[i]))
			return err_set(e, -EINVAL, "request header %zu is not 'Name: value' on one line", i);
		x->hdrs = curl_slist_append(x->hdrs, r->headers[i]);
	}
	/* No 100-continue round trip (and our server never sends 100). */
	if (!has_header(r, "expect"))
		x->hdrs = curl_slist_append(x->hdrs, "Expect:");
	if (r->body_len > 0 && !r->body_borrowed) {
		x->body_copy = xmalloc(r->body_len);
		memcpy(x->body_copy, r->body, r->body_len);
		body = x->body_copy;
	}
	buf_init(&x->body, maxr);
	buf_init(&x->head, c->o.max_header_bytes);

	if (strcmp(method, "GET") == 0 && r->body_len == 0) {
		rc |= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		rc |= curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else {
		if (r->body_len > 0 || strcmp(method, "POST") == 0) {
			rc |= curl_easy_setopt(h, CURLOPT_POST, 1L);
			rc |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
			rc |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body_len ? body : "");
			/* curl would add a form Content-Type on its own. */
			if (!has_header(r, "content-type"))
				x->hdrs = curl_slist_append(x->hdrs, "Content-Type:");
		}
		if (strcmp(method, "POST") != 0)
			rc |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	if (x->hdrs == NULL)
		abort(); /* curl_slist_append failed: out of memory */
	rc |= curl_easy_setopt(h, CURLOPT_URL, r->url);
	rc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->hdrs);
	rc |= curl_easy_setopt(h, CURLOPT_PRIVATE, x);
	rc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	rc |= curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	rc |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	rc |= curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	rc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
	rc |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)ctimeout);
	rc |= curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)maxr);
	rc |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* "" disables proxies, including http_proxy/HTTPS_PROXY from the environment. */
	rc |= curl_easy_setopt(h, CURLOPT_PROXY, c->proxy ? c->proxy : "");
	rc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	rc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		rc |= curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	rc |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	if (rc != CURLE_OK)
		return err_set(e, -EINVAL, "curl_easy_setopt failed");
	return 0;
}

int http_client_send(struct http_client *c, const struct http_client_req *r, http_client_cb cb,
		     void *arg, struct http_client_xfer **out, struct err *e)
{
	struct http_client_xfer *x;
	int rc;

	if (out)
		*out = NULL;
	if (c == NULL || r == NULL || cb == NULL)
		return err_set(e, -EINVAL, "http_client_send: client, request and callback are required");
	x = xcalloc(1, sizeof(*x));
	x->c = c;
	x->cb = cb;
	x->arg = arg;
	x->easy = curl_easy_init();
	if (x->easy == NULL) {
		xfer_free(x);
		return err_set(e, -ENOMEM, "curl_easy_init failed");
	}
	rc = setup_easy(c, x, r, e);
	if (rc < 0) {
		xfer_free(x);
		return rc;
	}
	x->t0_ns = clock_mono_ns();
	/* add_handle only arms curl's timer (timer_cb); the transfer starts from the loop. */
	if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
		xfer_free(x);
		return err_set(e, -EIO, "curl_multi_add_handle failed");
	}
	x->next = c->xfers;
	if (c->xfers)
		c->xfers->prev = x;
	c->xfers = x;
	c->n++;
	if (out)
		*out = x;
	return 0;
}

struct http_client *http_client_new(struct event_base *base, const struct http_client_opts *o,
				    struct err *e)
{
	static const struct http_client_opts none;
	struct http_client *c;

	err_clear(e);
	if (base == NULL) {
		err_set(e, -EINVAL, "http_client_new: base is required");
		return NULL;
	}
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		err_set(e, -EIO, "curl_global_init failed");
		return NULL;
	}
	if (o == NULL)
		o = &none;
	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->o = *o;
	if (c->o.max_connections == 0)
		c->o.max_connections = DEFAULT_MAX_CONNS;
	if (c->o.connect_timeout_ms == 0)
		c->o.connect_timeout_ms = DEFAULT_CONNECT_MS;
	if (c->o.max_header_bytes == 0)
		c->o.max_header_bytes = DEFAULT_MAX_HEADER;
	c->ca_file = o->ca_file ? xstrdup(o->ca_file) : NULL;
	c->proxy = o->proxy && *o->proxy ? xstrdup(o->proxy) : NULL;
	c->o.ca_file = c->ca_file;
	c->o.proxy = c->proxy;
	c->multi = curl_multi_init();
	c->timer = evtimer_new(base, on_timer, c);
	if (c->multi == NULL || c->timer == NULL) {
		err_set(e, -ENOMEM, "curl_multi_init failed");
		http_client_free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->o.max_connections);
	if (c->o.max_host_connections)
		curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->o.max_host_connections);
	return c;
}

void http_client_free(struct http_client *c)
{
	if (c == NULL)
		return;
	while (c->xfers)
		http_client_cancel(c->xfers);
	/* Closing cached connections calls socket_cb(CURL_POLL_REMOVE), freeing our events. */
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->timer)
		event_free(c->timer);
	free(c->ca_file);
	free(c->proxy);
	free(c);
}

int http_client_resp_header(const struct http_client_resp *r, const char *name, char *out, size_t cap)
{
	const char *p = r->headers, *end = r->headers + r->headers_len;
	size_t nl = strlen(name);

	if (cap > 0)
		out[0] = '\0';
	/* skip the status line */
	p = memchr(p, '\n', (size_t)(end - p));
	while (p != NULL && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *v, *ve;
		size_t vl;

		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > nl && p[nl] == ':' && http_ascii_ieq(p, name, nl)) {
			v = p + nl + 1;
			ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			vl = (size_t)(ve - v);
			if (vl + 1 > cap)
				return -E2BIG;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return (int)vl;
		}
		p = eol < end ? eol : NULL;
	}
	return -ENOENT;
}

/* --- synchronous fetch -------------------------------------------------------------------- */

struct sync_state {
	bool done;
	int rc;
	char msg[128];
	struct http_client_result *out;
};

static void sync_cb(const struct http_client_resp *r, void *arg)
{
	struct sync_state *st = arg;

	st->done = true;
	if (r->curl_code != 0) {
		st->rc = r->timed_out ? -ETIMEDOUT : r->too_large ? -E2BIG : -EIO;
		snprintf(st->msg, sizeof(st->msg), "%s", r->error);
		return;
	}
	st->out->status = r->status;
	st->out->body = xmalloc(r->body_len + 1);
	memcpy(st->out->body, r->body, r->body_len);
	st->out->body[r->body_len] = '\0';
	st->out->body_len = r->body_len;
	st->out->content_type = r->content_type ? xstrdup(r->content_type) : NULL;
	st->rc = 0;
}

int http_client_fetch_sync(const struct http_client_opts *o, const struct http_client_req *r,
			   struct http_client_result *out, struct err *e)
{
	struct event_base *base;
	struct http_client *c = NULL;
	struct sync_state st;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&st, 0, sizeof(st));
	st.out = out;
	base = event_base_new();
	if (base == NULL)
		return err_set(e, -ENOMEM, "event_base_new failed");
	c = http_client_new(base, o, e);
	if (c == NULL) {
		rc = e ? e->code : -ENOMEM;
		goto out;
	}
	rc = http_client_send(c, r, sync_cb, &st, NULL, e);
	if (rc < 0)
		goto out;
	while (!st.done) {
		/* 1 = nothing left to wait for: cannot happen while curl's timer is armed. */
		if (event_base_loop(base, EVLOOP_ONCE) != 0 && !st.done) {
			rc = err_set(e, -EIO, "fetch: event loop ran dry");
			goto out;
		}
	}
	rc = st.rc;
	if (rc < 0)
		err_set(e, rc, "fetch failed: %s", st.msg);
out:
	http_client_free(c);
	event_base_free(base);
	return rc;
}

void http_client_result_fini(struct http_client_result *r)
{
	free(r->body);
	free(r->content_type);
	memset(r, 0, sizeof(*r));
}
