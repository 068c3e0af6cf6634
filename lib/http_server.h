/* http_server — a hardened HTTP/1.1 server on libevent's evhttp.
 *
 * One server = one listening socket + one evhttp on the caller's event_base. For one event
 * loop per worker thread, create one server per thread with the same address and
 * reuseport = true (SO_REUSEPORT); the kernel spreads connections across them.
 *
 * Every byte a client sends passes through a strict framer (lib/http_util.h) before evhttp
 * sees it: evhttp only ever receives whole, validated request messages, one at a time. A
 * request the framer refuses (smuggling shapes, bad fields, NUL, obs-fold, ...) gets
 * "400 Bad Request" with "Connection: close" and the connection is closed; nothing after it
 * on that connection reaches the handler. A body over max_body_bytes gets 413 and a close.
 *
 * The handler receives libevent's struct evhttp_request and must eventually answer it with
 * evhttp_send_reply (or the helpers below) — possibly later, from another event on the same
 * loop. It must not call evhttp_request_set_on_complete_cb (the server uses it to know when
 * the next pipelined request may be released to evhttp).
 */
#ifndef EHRGATE_HTTP_SERVER_H
#define EHRGATE_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/http_util.h"

struct http_server;

typedef void (*http_server_handler)(struct evhttp_request *req, void *arg);

/* Zero means "default" for every numeric field. */
struct http_server_opts {
	const char *listen;           /* "127.0.0.1:8080" or "[::1]:0" (numeric; port 0 = any) */
	bool reuseport;               /* set SO_REUSEPORT before bind */
	int backlog;                  /* listen(2) backlog; default 511 */
	SSL_CTX *tls;                 /* borrowed, must outlive the server; NULL = plaintext */
	size_t max_header_bytes;      /* request line + fields + CRLFs; default 16384 */
	size_t max_body_bytes;        /* decoded request body; default 1 MiB */
	unsigned max_connections;     /* beyond it new connections are closed; default 1024 */
	unsigned idle_timeout_ms;     /* evhttp's read and write timeout (one value in libevent
	                                 2.1): idle keep-alive, stalled reader/writer; default 60 s */
	unsigned request_timeout_ms;  /* first byte of a request to its last: default 30 s */
	unsigned methods;             /* HTTP_M_* mask; default GET POST PUT PATCH DELETE OPTIONS */
	bool allow_nul_in_body;       /* default false: NUL anywhere in a body → 400 */
};

struct http_server_stats {
	uint64_t conns_accepted;      /* connections taken on (not refused) */
	uint64_t conns_refused;       /* closed at once because max_connections was reached */
	uint64_t conns_active;
	uint64_t requests;            /* requests handed to the handler */
	uint64_t rejected;            /* connections answered 400 by the framer */
	uint64_t too_large;           /* requests answered 413 */
	uint64_t timed_out;           /* closed by request_timeout_ms */
};

/* Create, bind and listen. The handler is called on `base`'s loop for every validated request.
 * Returns NULL and fills `e` on failure (bad address, bind error, ...). */
struct http_server *http_server_new(struct event_base *base, const struct http_server_opts *o,
				    http_server_handler handler, void *arg, struct err *e)
	__attribute__((warn_unused_result));

/* Close the listener and every connection. evhttp frees the requests it still holds, so the
 * caller must first stop any work that would later reply to a request (cancel upstream
 * calls); no handler runs after this. NULL is a no-op. */
void http_server_free(struct http_server *s);

/* The bound port (useful with port 0). */
uint16_t http_server_port(const struct http_server *s);

void http_server_get_stats(const struct http_server *s, struct http_server_stats *out);

/* The request id the server generated for req (16 lowercase hex chars, from randombytes) and
 * already put in the X-Request-Id response header. Valid until the reply is sent. */
const char *http_server_request_id(struct evhttp_request *req);

/* Append the request body to out (bounded by out->max). -E2BIG (out unchanged) if it does
 * not fit. The body stays in the request as well. */
int http_server_read_body(struct evhttp_request *req, struct buf *out)
	__attribute__((warn_unused_result));

/* Send `status` with a JSON body (Content-Type: application/json, Cache-Control: no-store).
 * The bytes are copied. Returns 0, or -EINVAL for a status outside 100..599 (then a 500 is
 * sent instead so the request is still answered). */
int http_server_reply_json(struct evhttp_request *req, int status, const char *json, size_t len);

/* Send `status` with a FHIR OperationOutcome (application/fhir+json):
 * {"resourceType":"OperationOutcome","issue":[{"severity":"error","code":CODE,
 *  "diagnostics":TEXT}]}. code is a FHIR issue-type code ("invalid", "forbidden", ...);
 * diagnostics must not contain PHI (it is sent to the client, not logged). */
int http_server_reply_outcome(struct evhttp_request *req, int status, const char *code,
			      const char *diagnostics);

#endif
