/* sidecar — process-wide state of ehrgate-sidecar, shared by the worker threads (ingress and
 * egress listeners, one event loop each) and the main thread (admin listener, signals).
 */
#ifndef EHRGATE_SIDECAR_H
#define EHRGATE_SIDECAR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "audit/audit.h"
#include "lib/http_client.h"
#include "lib/http_server.h"
#include "sidecar/auditrec.h"
#include "sidecar/ctxstore.h"
#include "sidecar/metrics.h"
#include "sidecar/replay.h"
#include "sidecar/runtime.h"

struct sidecar {
	struct runtime_slot rt;
	struct audit_writer *audit;
	struct replay_cache *replay;
	struct metrics *metrics;
	atomic_bool audit_ok;        /* last append succeeded */
	atomic_bool upstream_ok;     /* last upstream exchange (or probe) got an HTTP answer */
	atomic_bool draining;        /* SIGTERM: refuse new requests */
	atomic_int inflight;
	atomic_uint reloads, reload_failures;
	/* JWKS URL refresh on an unknown kid: a worker activates ev_jwks_refresh (main loop),
	 * at most once per client's jwks_refresh_min_s (CAS on jwks_fetched_ms). */
	struct event *ev_jwks_refresh;
	atomic_llong jwks_fetched_ms;
	struct ctxstore *ctx;        /* patient contexts of recent hook calls (egress binding) */
};

/* One worker thread: its loop, its listeners and its outbound client. */
struct worker {
	struct sidecar *sc;
	int index;
	struct event_base *base;
	struct http_server *ingress;
	struct http_server *egress;
	struct http_client *client;          /* upstream AI service and egress destinations */
	struct phi_scratch *phi_scratch;     /* Vectorscan scratch for phi_scratch_engine */
	const struct phi_engine *phi_scratch_engine;
	pthread_t thread;
};

/* Append one audit record. Decision records are written ahead (durable = true: returns once
 * the record is durable per the policy's fsync mode; called before anything is forwarded).
 * Completion records, written after the answer, are submitted without waiting (durable =
 * false): they join the next group commit, so a worker never blocks on fdatasync twice per
 * request. On failure the sidecar fails closed: the caller answers 503 and forwards nothing,
 * and every later append fails until the writer recovers. Adds the audit stage timing. */
int sidecar_audit(struct sidecar *sc, struct auditrec *r, bool durable) __attribute__((warn_unused_result));

/* ingress.c: the request handler for the ingress listener (arg = struct worker *). */
void ingress_handle(struct evhttp_request *req, void *arg);

/* egress.c: the request handler for the egress listener (arg = struct worker *). */
void egress_handle(struct evhttp_request *req, void *arg);

/* admin.c: /healthz, /readyz, /metrics (arg = struct sidecar *). */
void admin_handle(struct evhttp_request *req, void *arg);

#endif
