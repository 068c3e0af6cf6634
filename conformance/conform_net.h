/* conform_net — the harness's HTTP calls to the target, over lib/http_client on the same
 * event_base as the simulated EHR's server. A "synchronous" call runs the event loop until its
 * answer arrives, so the EHR keeps serving the service's FHIR call-backs meanwhile; a batch
 * keeps C calls in flight for the latency measurements.
 */
#ifndef EHRGATE_CONFORM_NET_H
#define EHRGATE_CONFORM_NET_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "lib/err.h"

struct conform_net;

struct conform_http_req {
	const char *method, *url;
	const char *const *headers; /* "Name: value" */
	size_t n_headers;
	const char *body;
	size_t body_len;
	unsigned timeout_ms;
};

struct conform_http_resp {
	int status;           /* -1: no answer */
	char *body;           /* NUL-terminated, "" when none */
	size_t body_len;
	char *content_type;   /* NULL when absent */
	char *headers;        /* raw header block */
	double ms;            /* send to completion */
	char *error;          /* transport error (static text copied), NULL on success */
	bool timed_out;
};

struct conform_net *conform_net_new(struct event_base *base, struct err *e);
void conform_net_free(struct conform_net *n);

/* One call; always fills rs (status -1 and error on transport failure). Returns 0, or a
 * negative errno when the request could not even be started. */
int conform_net_do(struct conform_net *n, const struct conform_http_req *rq, struct conform_http_resp *rs);

/* count calls with at most `concurrency` in flight. make(i) fills the request (its strings must
 * stay valid until make is called again); done(i) receives the response (valid during done). */
typedef void (*conform_net_make)(size_t i, struct conform_http_req *rq, void *arg);
typedef void (*conform_net_done)(size_t i, const struct conform_http_resp *rs, void *arg);
int conform_net_batch(struct conform_net *n, size_t count, unsigned concurrency, conform_net_make make,
		      conform_net_done done, void *arg);

void conform_http_resp_fini(struct conform_http_resp *rs);
/* Value of a response header (case-insensitive), copied into out; -ENOENT when absent. */
int conform_http_header(const struct conform_http_resp *rs, const char *name, char *out, size_t cap);

#endif
