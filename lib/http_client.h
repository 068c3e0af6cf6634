/* http_client — HTTP(S) requests through one libcurl multi handle driven by a libevent
 * event_base (curl's "multi-event" pattern: CURLMOPT_SOCKETFUNCTION + TIMERFUNCTION).
 *
 * Safe defaults: TLS peer and host verification on; no redirects; http and https only; no
 * proxy from the environment; no automatic decompression; no "Expect: 100-continue".
 * Connections are kept alive and reused through the multi handle's connection cache.
 *
 * Threading: a client belongs to the thread running its event_base. Nothing here is
 * thread-safe; create one client per event loop.
 */
#ifndef EHRGATE_HTTP_CLIENT_H
#define EHRGATE_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "lib/err.h"

struct http_client;
struct http_client_xfer;

/* Zero / NULL means "default" for every field. */
struct http_client_opts {
	const char *ca_file;           /* PEM bundle to trust instead of the system store */
	const char *proxy;             /* explicit proxy URL; NULL = none (env vars ignored) */
	unsigned max_connections;      /* idle connections kept (CURLMOPT_MAXCONNECTS); 32 */
	unsigned max_host_connections; /* per host, 0 = unlimited (CURLMOPT_MAX_HOST_CONNECTIONS) */
	unsigned connect_timeout_ms;   /* TCP + TLS handshake; 5000 (never beyond the deadline) */
	size_t max_header_bytes;       /* response header block kept; 16384 (more → error) */
};

struct http_client_req {
	const char *method;            /* "GET" (default), "POST", "PUT", "PATCH", "DELETE", ... */
	const char *url;               /* http:// or https:// only */
	const char *const *headers;    /* n_headers strings "Name: value" (no CR/LF) */
	size_t n_headers;
	const void *body;              /* request content, body_len bytes (may be NULL/0) */
	size_t body_len;
	bool body_borrowed;            /* false: copied by http_client_send; true: the caller keeps
	                                  body alive until the callback or cancel */
	unsigned timeout_ms;           /* whole-transfer deadline (CURLOPT_TIMEOUT_MS); 30000 */
	size_t max_response_bytes;     /* body limit; 1 MiB. Exceeding aborts the transfer */
};

/* Delivered to the callback. Every pointer is valid only during the callback. */
struct http_client_resp {
	int status;                    /* HTTP status of the last response, 0 if none */
	int curl_code;                 /* CURLcode, 0 on success */
	const char *error;             /* NULL on success; else static text, never data */
	const char *body;              /* NUL-terminated (terminator not counted); "" if none */
	size_t body_len;
	const char *content_type;      /* NULL if absent */
	const char *headers;           /* raw head of the final response: status line + fields */
	size_t headers_len;
	int64_t elapsed_us;            /* send → completion */
	bool too_large;                /* body > max_response_bytes (transfer aborted) */
	bool timed_out;                /* deadline passed (transfer aborted) */
};

typedef void (*http_client_cb)(const struct http_client_resp *r, void *arg);

/* Create a client on base. Returns NULL and fills e on failure. */
struct http_client *http_client_new(struct event_base *base, const struct http_client_opts *o,
				    struct err *e) __attribute__((warn_unused_result));

/* Cancel every transfer in flight (their callbacks are never called) and free the client.
 * Must not be called from inside one of this client's callbacks. NULL is a no-op. */
void http_client_free(struct http_client *c);

/* Start a request. The request struct and its strings are copied (the body too unless
 * body_borrowed). On success returns 0, sets *out (if out != NULL) to a handle valid until the
 * callback starts or http_client_cancel is called, and cb runs exactly once later from the
 * event loop — never from inside http_client_send. On failure returns a negative errno, fills
 * e, and cb is never called. */
int http_client_send(struct http_client *c, const struct http_client_req *r, http_client_cb cb,
		     void *arg, struct http_client_xfer **out, struct err *e)
	__attribute__((warn_unused_result));

/* Abort a transfer that has not completed. After this returns its callback will never be
 * called and x is freed. Allowed from any callback of the same client except x's own (by the
 * time x's callback runs, x is already finished and must not be used). NULL is a no-op. */
void http_client_cancel(struct http_client_xfer *x);

/* Transfers started and not yet completed or cancelled. */
size_t http_client_in_flight(const struct http_client *c);

/* Copy the value of response header `name` (case-insensitive, first occurrence, OWS trimmed)
 * into out (cap bytes, NUL-terminated). Returns its length, -ENOENT, or -E2BIG. */
int http_client_resp_header(const struct http_client_resp *r, const char *name, char *out, size_t cap);

/* Owned result of a synchronous fetch. */
struct http_client_result {
	int status;
	char *body;                    /* malloc'd, NUL-terminated; free with ..._result_fini */
	size_t body_len;
	char *content_type;            /* malloc'd or NULL */
};

/* One blocking request on a private event_base (e.g. fetching a JWKS at startup). Returns 0
 * when a response arrived (any status; check out->status), or a negative errno (-ETIMEDOUT,
 * -E2BIG for an oversized body, -EIO for transport/TLS errors) with e filled. */
int http_client_fetch_sync(const struct http_client_opts *o, const struct http_client_req *r,
			   struct http_client_result *out, struct err *e) __attribute__((warn_unused_result));
void http_client_result_fini(struct http_client_result *r);

#endif
