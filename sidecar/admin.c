/* admin — the operations listener: /healthz (the process answers), /readyz (policy loaded,
 * audit log writable, upstream reachable) and Prometheus /metrics. Loopback by policy. Also
 * sidecar_audit(), the single path from a request's record to the audit library. */
#include "sidecar/sidecar.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "lib/clock.h"
#include "lib/log.h"

int sidecar_audit(struct sidecar *sc, struct auditrec *r, bool durable)
{
	struct audit_tags tags = {r->patient[0] ? r->patient : NULL, r->user[0] ? r->user : NULL, r->decision};
	int64_t t = clock_mono_ns();
	struct buf b;
	struct err e;
	uint64_t seq = 0;
	int rc;

	buf_init(&b, 1 << 20);
	rc = auditrec_json(r, &b);
	if (rc == 0)
		rc = durable ? audit_writer_append(sc->audit, b.p, b.len, &tags, &seq, &e)
			     : audit_writer_submit(sc->audit, b.p, b.len, &tags, &seq, &e);
	buf_fini(&b);
	r->timings_us[METRICS_STAGE_AUDIT] = (clock_mono_ns() - t) / 1000;
	metrics_observe(sc->metrics, METRICS_STAGE_AUDIT, r->timings_us[METRICS_STAGE_AUDIT]);
	if (rc < 0) {
		if (atomic_exchange(&sc->audit_ok, false))
			log_event(LOGL_ERROR, r->rid, "audit_unavailable", "code=%d", rc);
		return rc;
	}
	if (!atomic_exchange(&sc->audit_ok, true))
		log_event(LOGL_WARN, r->rid, "audit_recovered", "seq=%llu", (unsigned long long)seq);
	return 0;
}

void admin_handle(struct evhttp_request *req, void *arg)
{
	struct sidecar *sc = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : "";
	struct buf b;

	if (path && strcmp(path, "/healthz") == 0) {
		http_server_reply_json(req, 200, "{\"status\":\"ok\"}", 15);
	} else if (path && strcmp(path, "/readyz") == 0) {
		bool audit = atomic_load(&sc->audit_ok), up = atomic_load(&sc->upstream_ok);
		bool draining = atomic_load(&sc->draining);
		bool ready = audit && up && !draining;
		struct runtime *rt = runtime_slot_get(&sc->rt);

		buf_init(&b, 1024);
		if (buf_printf(&b, "{\"ready\":%s,\"policy\":{\"site\":\"%s\",\"generation\":%u},\"audit_writable\":%s,"
				   "\"upstream_reachable\":%s,\"draining\":%s}",
			       ready ? "true" : "false", rt->policy->site.id, rt->generation, audit ? "true" : "false",
			       up ? "true" : "false", draining ? "true" : "false") == 0)
			http_server_reply_json(req, ready ? 200 : 503, b.p, b.len);
		else
			http_server_reply_json(req, 500, "{}", 2);
		buf_fini(&b);
		runtime_unref(rt);
	} else if (path && strcmp(path, "/metrics") == 0) {
		struct evbuffer *out = evbuffer_new();

		metrics_set_gauge(sc->metrics, "inflight_requests", atomic_load(&sc->inflight));
		metrics_set_gauge(sc->metrics, "audit_writable", atomic_load(&sc->audit_ok));
		metrics_set_gauge(sc->metrics, "upstream_reachable", atomic_load(&sc->upstream_ok));
		metrics_set_gauge(sc->metrics, "policy_reloads_total", atomic_load(&sc->reloads));
		metrics_set_gauge(sc->metrics, "policy_reload_failures_total", atomic_load(&sc->reload_failures));
		buf_init(&b, 4 << 20);
		if (metrics_render(sc->metrics, &b) == 0) {
			evbuffer_add(out, b.p, b.len);
			evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
					  "text/plain; version=0.0.4");
			evhttp_send_reply(req, 200, "OK", out);
		} else {
			http_server_reply_json(req, 500, "{}", 2);
		}
		buf_fini(&b);
		evbuffer_free(out);
	} else {
		http_server_reply_outcome(req, 404, "not-found", "unknown admin path");
	}
}
