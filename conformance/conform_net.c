/* conform_net — synchronous and batched HTTP calls on an event loop (lib/http_client). Owns
 * the client; responses are copied into caller-owned structs. */
#include "conformance/conform_net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/http_client.h"
#include "lib/mem.h"

#define RESPONSE_MAX (4u << 20)

struct conform_net {
	struct event_base *base;
	struct http_client *client;
};

struct conform_net *conform_net_new(struct event_base *base, struct err *e)
{
	struct http_client_opts o = {.max_connections = 64, .connect_timeout_ms = 3000};
	struct conform_net *n = xcalloc(1, sizeof(*n));

	n->base = base;
	n->client = http_client_new(base, &o, e);
	if (n->client == NULL) {
		free(n);
		return NULL;
	}
	return n;
}

void conform_net_free(struct conform_net *n)
{
	if (n == NULL)
		return;
	http_client_free(n->client);
	free(n);
}

void conform_http_resp_fini(struct conform_http_resp *rs)
{
	free(rs->body);
	free(rs->content_type);
	free(rs->headers);
	free(rs->error);
	memset(rs, 0, sizeof(*rs));
}

static void copy_resp(const struct http_client_resp *r, struct conform_http_resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->status = r->error || r->status == 0 ? -1 : r->status;
	rs->body = xmalloc(r->body_len + 1);
	memcpy(rs->body, r->body ? r->body : "", r->body_len);
	rs->body[r->body_len] = '\0';
	rs->body_len = r->body_len;
	rs->content_type = r->content_type ? xstrdup(r->content_type) : NULL;
	rs->headers = xstrndup(r->headers ? r->headers : "", r->headers_len);
	rs->ms = (double)r->elapsed_us / 1000.0;
	rs->error = r->error ? xstrdup(r->error) : NULL;
	rs->timed_out = r->timed_out;
	if (r->too_large && rs->error == NULL)
		rs->error = xstrdup("response too large");
}

static void to_client_req(const struct conform_http_req *rq, struct http_client_req *cr)
{
	memset(cr, 0, sizeof(*cr));
	cr->method = rq->method;
	cr->url = rq->url;
	cr->headers = rq->headers;
	cr->n_headers = rq->n_headers;
	cr->body = rq->body;
	cr->body_len = rq->body_len;
	cr->timeout_ms = rq->timeout_ms ? rq->timeout_ms : 10000;
	cr->max_response_bytes = RESPONSE_MAX;
}

struct one {
	struct conform_http_resp *rs;
	bool done;
};

static void one_cb(const struct http_client_resp *r, void *arg)
{
	struct one *o = arg;

	copy_resp(r, o->rs);
	o->done = true;
}

int conform_net_do(struct conform_net *n, const struct conform_http_req *rq, struct conform_http_resp *rs)
{
	struct http_client_req cr;
	struct one o = {rs, false};
	struct err e = {0};
	int rc;

	memset(rs, 0, sizeof(*rs));
	to_client_req(rq, &cr);
	rc = http_client_send(n->client, &cr, one_cb, &o, NULL, &e);
	if (rc < 0) {
		rs->status = -1;
		rs->body = xstrdup("");
		rs->error = xstrdup("request could not be started");
		return rc;
	}
	while (!o.done)
		event_base_loop(n->base, EVLOOP_ONCE);
	return 0;
}

struct batch {
	size_t count, next, in_flight, finished;
	conform_net_make make;
	conform_net_done done;
	void *arg;
	struct conform_net *net;
	unsigned conc;
	int rc;
};

struct slot {
	struct batch *b;
	size_t i;
};

static void batch_start(struct batch *b);

static void batch_cb(const struct http_client_resp *r, void *arg)
{
	struct slot *s = arg;
	struct batch *b = s->b;
	struct conform_http_resp rs;

	copy_resp(r, &rs);
	b->done(s->i, &rs, b->arg);
	conform_http_resp_fini(&rs);
	free(s);
	b->in_flight--;
	b->finished++;
	batch_start(b);
}

static void batch_start_one(struct batch *b)
{
	while (b->next < b->count) {
		struct conform_http_req rq = {0};
		struct http_client_req cr;
		struct slot *s = xmalloc(sizeof(*s));
		struct err e = {0};

		s->b = b;
		s->i = b->next++;
		b->make(s->i, &rq, b->arg);
		to_client_req(&rq, &cr);
		if (http_client_send(b->net->client, &cr, batch_cb, s, NULL, &e) < 0) {
			struct conform_http_resp rs = {.status = -1, .body = (char *)"", .error = (char *)"request could not be started"};

			b->done(s->i, &rs, b->arg);
			free(s);
			b->finished++;
			continue;
		}
		b->in_flight++;
		return;
	}
}

static void batch_start(struct batch *b)
{
	while (b->in_flight < b->conc && b->next < b->count)
		batch_start_one(b);
}

int conform_net_batch(struct conform_net *n, size_t count, unsigned concurrency, conform_net_make make,
		      conform_net_done done, void *arg)
{
	struct batch b = {.count = count, .make = make, .done = done, .arg = arg, .net = n,
			  .conc = concurrency ? concurrency : 1};

	batch_start(&b);
	while (b.finished < b.count)
		event_base_loop(n->base, EVLOOP_ONCE);
	return b.rc;
}

int conform_http_header(const struct conform_http_resp *rs, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);

	for (const char *p = rs->headers; p && *p;) {
		const char *eol = strstr(p, "\r\n");
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *end = p + len;

			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
				end--;
			if ((size_t)(end - v) + 1 > cap)
				return -E2BIG;
			memcpy(out, v, (size_t)(end - v));
			out[end - v] = '\0';
			return (int)(end - v);
		}
		p = eol ? eol + 2 : p + len;
	}
	return -ENOENT;
}
