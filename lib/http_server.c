/* http_server — evhttp behind a strict framing gate.
 *
 * Owns: the listening socket (via evhttp), one evhttp, and per connection a `struct conn`
 * holding the bytes evhttp has not been allowed to see yet.
 *
 * How the gate works (verified against libevent 2.1.12-stable-8+deb12u1; 2.1 has no
 * evhttp_set_newreqcb, and a bufferevent_filter under evhttp stalls and truncates responses):
 *   - evhttp_set_bevcb gives every connection a bufferevent we create. We attach an evbuffer
 *     callback to its input buffer. libevent runs it synchronously when bytes are appended,
 *     before evhttp's read callback, so we move every new byte into conn->hold.
 *   - The framer (lib/http_util.c) parses hold. Only a whole, valid request message is put
 *     back (prepended) into the input buffer, and only when evhttp is idle: one message at a
 *     time, the next after evhttp_request_set_on_complete_cb reports the reply sent.
 *   - The input read low-watermark is 1, so evhttp's read callback never runs on an empty
 *     buffer while we hold bytes back.
 *   - A rejected request: we drop what we hold, discard everything after it, and hand evhttp
 *     the line "BAD\r\n" instead; evhttp then fails the request with EVREQ_HTTP_INVALID_HEADER
 *     and answers "400 Bad Request" + "Connection: close" and closes (its own error path).
 *   - A body over the limit: we release exactly the bytes that make evhttp's own max_body
 *     check fire (413 + close) and discard the rest.
 * Net effect: evhttp never parses bytes we have not validated, so its own leniencies (first of
 * duplicate Content-Lengths, "gzip, chunked", obs-fold merging, NUL truncation, bare LF) are
 * unreachable. RFC 9112 §11.2 (request smuggling) is the threat model.
 *
 * Connection accounting: a zero-delay event after bevcb finds the evhttp_connection (it is the
 * bufferevent's callback argument), registers a close callback, and closes connections beyond
 * max_connections (plaintext ones get a best-effort 503 first).
 */
#include "lib/http_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <sodium.h>

#include "lib/log.h"
#include "lib/mem.h"

#define DEFAULT_MAX_HEADER 16384u
#define DEFAULT_MAX_BODY (1024u * 1024u)
#define DEFAULT_MAX_CONNS 1024u
#define DEFAULT_IDLE_MS 60000u
#define DEFAULT_REQUEST_MS 30000u
#define DEFAULT_BACKLOG 511
#define RID_HEADER "X-Request-Id"
#define POISON "BAD\r\n"
#define REFUSED_503 "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

struct conn {
	struct http_server *srv;
	struct bufferevent *bev;
	struct evbuffer *hold;          /* bytes received but not yet released to evhttp */
	struct evbuffer *tmp;
	struct evbuffer_cb_entry *in_cb;
	struct event *setup_ev;
	struct event *deadline_ev;
	struct http_framer fr;
	size_t parsed;                  /* bytes at the front of hold already fed to fr */
	uint64_t id;
	int guard;                      /* >0 while we modify the input buffer ourselves */
	bool busy;                      /* evhttp holds a released message */
	bool discard;                   /* rejected: drop every further byte */
	bool poison_pending;            /* rejected while busy: send "BAD" when evhttp is idle */
	bool refuse;                    /* over max_connections */
	bool ref_held;                  /* we hold a bufferevent reference (until setup) */
	bool deadline_armed;
	bool lingering;                 /* detached from evhttp, draining before close */
	struct conn *prev, *next;       /* all connections */
	struct conn *hnext;             /* hash chain, keyed by bev */
};

struct http_server {
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *lev;     /* owned by evhttp */
	struct event *accept_pause_ev;
	http_server_handler handler;
	void *arg;
	struct http_server_opts o;
	struct http_framer_limits lim;
	size_t hold_cap;                /* bytes we may queue behind a busy connection */
	uint16_t port;
	struct conn *conns;
	struct conn **buckets;
	size_t nbuckets;                /* power of two */
	uint64_t next_conn_id;
	struct http_server_stats st;
	bool freeing;
};

#define LINGER_MS 2000

static void pump(struct conn *c);

/* --- connection table ------------------------------------------------------------------ */

static size_t bucket_of(const struct http_server *s, const struct bufferevent *bev)
{
	uint64_t h = (uint64_t)(uintptr_t)bev * 0x9E3779B97F4A7C15ull;

	return (size_t)(h >> 32) & (s->nbuckets - 1);
}

static struct conn *conn_lookup(struct http_server *s, const struct bufferevent *bev)
{
	struct conn *c;

	for (c = s->buckets[bucket_of(s, bev)]; c != NULL; c = c->hnext)
		if (c->bev == bev)
			return c;
	return NULL;
}

static void conn_link(struct http_server *s, struct conn *c)
{
	size_t b = bucket_of(s, c->bev);

	c->hnext = s->buckets[b];
	s->buckets[b] = c;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
}

static void conn_unlink(struct http_server *s, struct conn *c)
{
	struct conn **pp = &s->buckets[bucket_of(s, c->bev)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void conn_free(struct conn *c)
{
	struct http_server *s = c->srv;

	conn_unlink(s, c);
	if (c->in_cb)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
	event_free(c->setup_ev);
	event_free(c->deadline_ev);
	evbuffer_free(c->hold);
	evbuffer_free(c->tmp);
	http_framer_fini(&c->fr);
	if (!c->refuse && s->st.conns_active > 0)
		s->st.conns_active--;
	if (c->ref_held)
		bufferevent_decref(c->bev);
	free(c);
}

/* --- releasing bytes to evhttp ---------------------------------------------------------- */

static bool evhttp_idle(struct conn *c)
{
	return !c->busy && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;
}

/* Move the first n held bytes in front of whatever evhttp has (nothing, when idle). */
static void release(struct conn *c, size_t n)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	c->guard++;
	evbuffer_remove_buffer(c->hold, c->tmp, n);
	evbuffer_prepend_buffer(in, c->tmp);
	c->guard--;
	c->busy = true;
}

static void release_poison(struct conn *c)
{
	c->guard++;
	evbuffer_prepend(bufferevent_get_input(c->bev), POISON, sizeof(POISON) - 1);
	c->guard--;
	c->busy = true;
}

static void reject(struct conn *c, const char *reason)
{
	struct http_server *s = c->srv;

	log_event(LOGL_INFO, NULL, "http_reject", "conn=%llu reason=%s", (unsigned long long)c->id, reason);
	s->st.rejected++;
	c->discard = true;
	evbuffer_drain(c->hold, evbuffer_get_length(c->hold));
	c->parsed = 0;
	if (c->deadline_armed) {
		evtimer_del(c->deadline_ev);
		c->deadline_armed = false;
	}
	if (evhttp_idle(c))
		release_poison(c);
	else
		c->poison_pending = true;
}

/* Feed the unparsed part of hold to the framer. Returns the framer result; for DONE and
 * TOO_LARGE the message is the first c->parsed bytes of hold. */
static int feed_framer(struct conn *c)
{
	size_t len = evbuffer_get_length(c->hold);

	while (c->parsed < len) {
		struct evbuffer_ptr ptr;
		struct evbuffer_iovec v[8];
		int nv;

		if (evbuffer_ptr_set(c->hold, &ptr, c->parsed, EVBUFFER_PTR_SET) < 0)
			return HTTP_FRAMER_INVALID;
		nv = evbuffer_peek(c->hold, (ev_ssize_t)(len - c->parsed), &ptr, v, 8);
		if (nv > 8)
			nv = 8;
		for (int i = 0; i < nv; i++) {
			size_t used = 0;
			int rc = http_framer_feed(&c->fr, v[i].iov_base, v[i].iov_len, &used);

			c->parsed += used;
			if (rc != HTTP_FRAMER_MORE)
				return rc;
		}
	}
	return HTTP_FRAMER_MORE;
}

static void pump(struct conn *c)
{
	struct http_server *s = c->srv;

	for (;;) {
		int rc;

		if (c->discard) {
			evbuffer_drain(c->hold, evbuffer_get_length(c->hold));
			if (c->poison_pending && evhttp_idle(c)) {
				c->poison_pending = false;
				release_poison(c);
			}
			return;
		}
		if (!evhttp_idle(c)) {
			/* Pipelined bytes behind a request in progress: keep at most one message's
			 * worth; a client queueing more than that is refused. */
			if (evbuffer_get_length(c->hold) > s->hold_cap)
				reject(c, "pipeline_overflow");
			return;
		}
		rc = feed_framer(c);
		if (rc == HTTP_FRAMER_MORE) {
			/* request_timeout_ms runs from the first byte of a message to its last. */
			if (http_framer_in_message(&c->fr) && !c->deadline_armed) {
				struct timeval tv = { (time_t)(s->o.request_timeout_ms / 1000),
						      (suseconds_t)(s->o.request_timeout_ms % 1000) * 1000 };

				evtimer_add(c->deadline_ev, &tv);
				c->deadline_armed = true;
			}
			return;
		}
		if (c->deadline_armed) {
			evtimer_del(c->deadline_ev);
			c->deadline_armed = false;
		}
		if (rc == HTTP_FRAMER_DONE) {
			size_t n = c->parsed;

			c->parsed = 0;
			http_framer_reset(&c->fr);
			release(c, n);
			continue;       /* now busy: only bounds the rest of hold */
		}
		if (rc == HTTP_FRAMER_TOO_LARGE) {
			/* evhttp answers 413 + close on exactly these bytes (same max_body test). */
			size_t n = c->parsed;

			log_event(LOGL_INFO, NULL, "http_too_large", "conn=%llu", (unsigned long long)c->id);
			s->st.too_large++;
			release(c, n);
			c->discard = true;
			c->parsed = 0;
			continue;
		}
		reject(c, http_frame_error_name(c->fr.error));
		return;
	}
}

/* evbuffer callback on the connection's input: runs inside the bufferevent's read, before
 * evhttp's read callback. Takes the newly appended bytes out of evhttp's reach. */
static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	size_t total, nnew, residue;

	if (c->guard || info->n_added == 0)
		return;
	c->guard++;
	total = evbuffer_get_length(in);
	nnew = info->n_added < total ? info->n_added : total;
	residue = total - nnew;
	if (residue == 0) {
		evbuffer_remove_buffer(in, c->hold, nnew);
	} else {
		/* evhttp has not consumed everything released earlier: the new bytes are the tail. */
		evbuffer_remove_buffer(in, c->tmp, residue);
		evbuffer_remove_buffer(in, c->hold, nnew);
		evbuffer_prepend_buffer(in, c->tmp);
	}
	c->guard--;
	pump(c);
}

static void on_complete(struct evhttp_request *req, void *arg)
{
	struct conn *c = arg;

	(void)req;
	c->busy = false;
	pump(c);
}

/* --- lingering close -------------------------------------------------------------------
 * After a 400/413 the client may still be sending. Closing a socket with unread input makes
 * the kernel send RST, which can destroy the response in flight (RFC 9112 §9.6). So a rejected
 * connection is kept open (evhttp has already shut down our sending side) and drained until
 * the client closes or LINGER_MS passes. */

static void linger_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void linger_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	conn_free(arg);
}

static void linger_start(struct conn *c)
{
	struct timeval tv = { LINGER_MS / 1000, (LINGER_MS % 1000) * 1000 };

	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
	c->in_cb = NULL;
	bufferevent_setcb(c->bev, linger_read, NULL, linger_event, c);
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	bufferevent_enable(c->bev, EV_READ);
	linger_read(c->bev, c);
	evtimer_add(c->deadline_ev, &tv);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;

	(void)evcon;
	if (c->discard && !c->lingering && !c->srv->freeing && !c->refuse) {
		/* Keep the bufferevent alive past evhttp's bufferevent_free; evhttp clears the
		 * callbacks after we return, so install ours on the next loop iteration. */
		if (!c->ref_held) {
			bufferevent_incref(c->bev);
			c->ref_held = true;
		}
		c->lingering = true;
		if (c->deadline_armed)
			evtimer_del(c->deadline_ev);
		c->deadline_armed = false;
		event_active(c->setup_ev, EV_TIMEOUT, 0);
		return;
	}
	conn_free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->lingering) {
		conn_free(c);
		return;
	}
	c->deadline_armed = false;
	c->srv->st.timed_out++;
	log_event(LOGL_INFO, NULL, "http_request_timeout", "conn=%llu", (unsigned long long)c->id);
	/* evhttp treats this like its own read timeout: close without a reply. c is freed by
	 * on_close inside this call. */
	bufferevent_trigger_event(c->bev, BEV_EVENT_TIMEOUT | BEV_EVENT_READING, 0);
}

/* First loop iteration after accept: evhttp_connection is complete now. */
static void on_setup(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	void *cbarg = NULL;
	struct bufferevent *bev = c->bev;

	(void)fd;
	(void)what;
	if (c->lingering) {
		linger_start(c);
		return;
	}
	bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
	if (cbarg == NULL) {
		/* evhttp already dropped the connection (it clears the callbacks on free). */
		conn_free(c);
		return;
	}
	evhttp_connection_set_closecb(cbarg, on_close, c);
	if (c->refuse) {
		if (c->srv->o.tls == NULL) {
			evutil_socket_t sfd = bufferevent_getfd(bev);

			if (sfd >= 0) /* best effort; the connection closes either way */
				(void)!send(sfd, REFUSED_503, sizeof(REFUSED_503) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		log_event(LOGL_WARN, NULL, "http_refuse", "conn=%llu reason=max_connections",
			  (unsigned long long)c->id);
		/* evhttp frees the connection → on_close → conn_free (drops our reference). */
		bufferevent_trigger_event(bev, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
		return;
	}
	c->ref_held = false;
	bufferevent_decref(bev);
}

/* evhttp_set_bevcb: called for every accepted connection, before evhttp sets the fd. */
static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
	struct http_server *s = arg;
	struct conn *c = xcalloc(1, sizeof(*c));

	c->srv = s;
	c->id = ++s->next_conn_id;
	if (s->o.tls) {
		SSL *ssl = SSL_new(s->o.tls);

		if (ssl == NULL)
			abort(); /* out of memory: see lib/mem.h */
		c->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
							BEV_OPT_CLOSE_ON_FREE);
		if (c->bev)
			/* Requests are self-delimiting and only whole ones are released, so a peer
			 * closing without close_notify cannot truncate anything we act on. */
			bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	} else {
		c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	c->hold = evbuffer_new();
	c->tmp = evbuffer_new();
	c->setup_ev = event_new(base, -1, 0, on_setup, c);
	c->deadline_ev = evtimer_new(base, on_deadline, c);
	/* Returning NULL would make evhttp build an unguarded socket bufferevent: never do that. */
	if (!c->bev || !c->hold || !c->tmp || !c->setup_ev || !c->deadline_ev)
		abort();
	bufferevent_setwatermark(c->bev, EV_READ, 1, 0);
	c->in_cb = evbuffer_add_cb(bufferevent_get_input(c->bev), on_input, c);
	if (c->in_cb == NULL)
		abort();
	http_framer_init(&c->fr, &s->lim);
	bufferevent_incref(c->bev);
	c->ref_held = true;
	conn_link(s, c);
	if (s->st.conns_active >= s->o.max_connections) {
		c->refuse = true;
		s->st.conns_refused++;
	} else {
		s->st.conns_active++;
		s->st.conns_accepted++;
	}
	event_active(c->setup_ev, EV_TIMEOUT, 0);
	return c->bev;
}

/* --- requests ----------------------------------------------------------------------------- */

static void on_request(struct evhttp_request *req, void *arg)
{
	struct http_server *s = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *c = evcon ? conn_lookup(s, evhttp_connection_get_bufferevent(evcon)) : NULL;
	unsigned char rnd[8];
	char rid[17];

	if (c == NULL || !c->busy) {
		/* evhttp parsed bytes the gate did not release: fail closed. */
		log_event(LOGL_ERROR, NULL, "http_gate_invariant", "conn=%llu",
			  (unsigned long long)(c ? c->id : 0));
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evhttp_request_set_on_complete_cb(req, on_complete, c);
	randombytes_buf(rnd, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(rid + 2 * i, 3, "%02x", rnd[i]);
	evhttp_add_header(evhttp_request_get_output_headers(req), RID_HEADER, rid);
	s->st.requests++;
	s->handler(req, s->arg);
}

const char *http_server_request_id(struct evhttp_request *req)
{
	const char *v = evhttp_find_header(evhttp_request_get_output_headers(req), RID_HEADER);

	return v ? v : "-";
}

int http_server_read_body(struct evhttp_request *req, struct buf *out)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in), before = out->len;
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr ptr;
	size_t off = 0;

	if (n > out->max - out->len)
		return -E2BIG;
	while (off < n) {
		int nv;

		evbuffer_ptr_set(in, &ptr, off, EVBUFFER_PTR_SET);
		nv = evbuffer_peek(in, (ev_ssize_t)(n - off), &ptr, v, 16);
		if (nv > 16)
			nv = 16;
		for (int i = 0; i < nv; i++) {
			size_t take = v[i].iov_len < n - off ? v[i].iov_len : n - off;

			if (buf_append(out, v[i].iov_base, take) < 0) {
				out->len = before; /* cannot happen after the check above */
				return -E2BIG;
			}
			off += take;
		}
	}
	return 0;
}

static void add_common_headers(struct evhttp_request *req, const char *ctype)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_remove_header(h, "Content-Type");
	evhttp_add_header(h, "Content-Type", ctype);
	/* Responses may carry PHI: no caching anywhere (RFC 9111 §5.2.2.5). */
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
}

static int send_body(struct evhttp_request *req, int status, const char *ctype, const char *p, size_t n)
{
	int rc = 0;

	if (status < 200 || status > 599) {
		status = 500;
		rc = -EINVAL;
		p = "{\"error\":\"internal\"}";
		n = strlen(p);
		ctype = "application/json";
	}
	add_common_headers(req, ctype);
	evbuffer_add(evhttp_request_get_output_buffer(req), p, n);
	evhttp_send_reply(req, status, NULL, NULL);
	return rc;
}

int http_server_reply_json(struct evhttp_request *req, int status, const char *json, size_t len)
{
	return send_body(req, status, "application/json", json, len);
}

int http_server_reply_outcome(struct evhttp_request *req, int status, const char *code,
			      const char *diagnostics)
{
	struct buf b;
	int rc;

	if (code == NULL)
		code = "exception";
	if (diagnostics == NULL)
		diagnostics = "";
	buf_init(&b, 256 + 6 * (strlen(code) + strlen(diagnostics)));
	/* FHIR R4 OperationOutcome: issue.severity, issue.code (IssueType), issue.diagnostics */
	if (buf_append_str(&b, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":\"") < 0 ||
	    buf_append_json_escaped(&b, code, strlen(code)) < 0 ||
	    buf_append_str(&b, "\",\"diagnostics\":\"") < 0 ||
	    buf_append_json_escaped(&b, diagnostics, strlen(diagnostics)) < 0 ||
	    buf_append_str(&b, "\"}]}") < 0) {
		buf_fini(&b);
		return send_body(req, 0, NULL, NULL, 0);
	}
	rc = send_body(req, status, "application/fhir+json", b.p, b.len);
	buf_fini(&b);
	return rc;
}

/* --- listener ----------------------------------------------------------------------------- */

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *s = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(s->lev);
}

/* accept(2) failing with EMFILE & co. leaves the socket readable: without a pause libevent
 * would spin. Back off 100 ms. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct http_server *s = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, 100000 };

	log_event(LOGL_WARN, NULL, "http_accept_error", "errno=%d", err);
	evconnlistener_disable(lev);
	evtimer_add(s->accept_pause_ev, &tv);
}

static int open_listener(struct http_server *s, struct err *e)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, rc;

	rc = http_parse_hostport(s->o.listen, &ss, &len, e);
	if (rc < 0)
		return rc;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, -errno, "socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (s->o.reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    /* Inherited by accepted sockets on Linux: replies are written whole, no Nagle delay. */
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		rc = err_set(e, -errno, "setsockopt: %s", strerror(errno));
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		rc = err_set(e, -errno, "bind %s: %s", s->o.listen, strerror(errno));
		goto fail;
	}
	if (listen(fd, s->o.backlog) < 0) {
		rc = err_set(e, -errno, "listen: %s", strerror(errno));
		goto fail;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		rc = err_set(e, -errno, "getsockname: %s", strerror(errno));
		goto fail;
	}
	s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);
	/* backlog 0: evconnlistener must not call listen() again. */
	s->lev = evconnlistener_new(s->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (s->lev == NULL) {
		rc = err_set(e, -ENOMEM, "evconnlistener_new failed");
		goto fail;
	}
	if (evhttp_bind_listener(s->http, s->lev) == NULL) {
		evconnlistener_free(s->lev);
		s->lev = NULL;
		return err_set(e, -ENOMEM, "evhttp_bind_listener failed");
	}
	evconnlistener_set_error_cb(s->lev, on_accept_error);
	return 0;
fail:
	close(fd);
	return rc;
}

static uint16_t evhttp_methods(unsigned m)
{
	uint16_t r = 0;

	if (m & HTTP_M_GET)
		r |= EVHTTP_REQ_GET;
	if (m & HTTP_M_POST)
		r |= EVHTTP_REQ_POST;
	if (m & HTTP_M_PUT)
		r |= EVHTTP_REQ_PUT;
	if (m & HTTP_M_PATCH)
		r |= EVHTTP_REQ_PATCH;
	if (m & HTTP_M_DELETE)
		r |= EVHTTP_REQ_DELETE;
	if (m & HTTP_M_OPTIONS)
		r |= EVHTTP_REQ_OPTIONS;
	return r;
}

struct http_server *http_server_new(struct event_base *base, const struct http_server_opts *o,
				    http_server_handler handler, void *arg, struct err *e)
{
	struct http_server *s;
	struct timeval idle;
	int rc;

	err_clear(e);
	if (base == NULL || o == NULL || handler == NULL) {
		err_set(e, -EINVAL, "http_server_new: base, opts and handler are required");
		return NULL;
	}
	if (sodium_init() < 0) {
		err_set(e, -EIO, "sodium_init failed");
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->handler = handler;
	s->arg = arg;
	s->o = *o;
	if (s->o.max_header_bytes == 0)
		s->o.max_header_bytes = DEFAULT_MAX_HEADER;
	if (s->o.max_header_bytes < 64)
		s->o.max_header_bytes = 64;
	if (s->o.max_body_bytes == 0)
		s->o.max_body_bytes = DEFAULT_MAX_BODY;
	if (s->o.max_connections == 0)
		s->o.max_connections = DEFAULT_MAX_CONNS;
	if (s->o.idle_timeout_ms == 0)
		s->o.idle_timeout_ms = DEFAULT_IDLE_MS;
	if (s->o.request_timeout_ms == 0)
		s->o.request_timeout_ms = DEFAULT_REQUEST_MS;
	if (s->o.methods == 0)
		s->o.methods = HTTP_M_ALL;
	s->o.methods &= HTTP_M_ALL;
	if (s->o.backlog <= 0)
		s->o.backlog = DEFAULT_BACKLOG;
	s->lim.max_head = s->o.max_header_bytes;
	s->lim.max_body = s->o.max_body_bytes;
	s->lim.methods = s->o.methods;
	s->lim.allow_nul_in_body = s->o.allow_nul_in_body;
	/* The largest message the framer can accept: head + body + chunk framing slack. */
	s->hold_cap = s->o.max_header_bytes + 2 * s->o.max_body_bytes + 8192;
	s->nbuckets = 64;
	while (s->nbuckets < 2 * (size_t)s->o.max_connections)
		s->nbuckets *= 2;
	s->buckets = xcalloc(s->nbuckets, sizeof(*s->buckets));

	s->http = evhttp_new(base);
	s->accept_pause_ev = evtimer_new(base, on_accept_resume, s);
	if (s->http == NULL || s->accept_pause_ev == NULL) {
		err_set(e, -ENOMEM, "evhttp_new failed");
		goto fail;
	}
	evhttp_set_gencb(s->http, on_request, s);
	evhttp_set_bevcb(s->http, on_new_bev, s);
	/* The framer enforces these first (it counts CRLFs, evhttp does not); evhttp's copies are
	 * the backstop and the source of the 413. */
	evhttp_set_max_headers_size(s->http, (ev_ssize_t)s->o.max_header_bytes);
	evhttp_set_max_body_size(s->http, (ev_ssize_t)s->o.max_body_bytes);
	evhttp_set_allowed_methods(s->http, evhttp_methods(s->o.methods));
	evhttp_set_default_content_type(s->http, NULL);
	idle.tv_sec = (time_t)(s->o.idle_timeout_ms / 1000);
	idle.tv_usec = (suseconds_t)(s->o.idle_timeout_ms % 1000) * 1000;
	evhttp_set_timeout_tv(s->http, &idle);
	rc = open_listener(s, e);
	if (rc < 0)
		goto fail;
	return s;
fail:
	http_server_free(s);
	return NULL;
}

void http_server_free(struct http_server *s)
{
	if (s == NULL)
		return;
	s->freeing = true;
	/* evhttp_free closes the listener and frees every connection; on_close frees ours. */
	if (s->http)
		evhttp_free(s->http);
	/* Connections whose setup event has not run yet have no close callback. */
	while (s->conns)
		conn_free(s->conns);
	if (s->accept_pause_ev)
		event_free(s->accept_pause_ev);
	free(s->buckets);
	free(s);
}

uint16_t http_server_port(const struct http_server *s)
{
	return s->port;
}

void http_server_get_stats(const struct http_server *s, struct http_server_stats *out)
{
	*out = s->st;
}
