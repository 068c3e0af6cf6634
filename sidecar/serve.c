/* serve — process lifecycle of ehrgate-sidecar (relayd-style: one process, roles split by
 * thread): N worker threads each own an event loop with the ingress listener (SO_REUSEPORT)
 * and a libcurl-multi client; the main thread owns the admin listener, the upstream probe and
 * the signals: SIGHUP reloads the policy atomically (a bad file keeps the old one), SIGTERM
 * drains in-flight requests and exits. Owns the audit writer, the replay cache, the metrics. */
#include "sidecar/serve.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "sidecar/sidecar.h"

#define DRAIN_MAX_MS 10000
#define PROBE_INTERVAL_S 5

struct server {
	struct sidecar sc;
	const struct serve_opts *opts;
	struct event_base *base;
	struct http_server *admin;
	struct http_client *probe_client;
	struct http_client_xfer *probe;
	struct worker *workers;
	unsigned n_workers;
	SSL_CTX *tls;
	struct event *ev_hup, *ev_term, *ev_int, *ev_probe, *ev_drain;
	int64_t drain_started;
	unsigned generation;
	char probe_url[1024];
};

static int mkdir_p(const char *dir, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

static int open_audit(struct server *s, const struct policy *p, struct err *e)
{
	struct audit_writer_opts ao = {0};
	int rc = mkdir_p(p->audit.dir, 0700);

	if (rc < 0)
		return err_set(e, rc, "audit.dir %s: cannot create", p->audit.dir);
	ao.dir = p->audit.dir;
	ao.reviewer_pub_path = p->audit.reviewer_public_key;
	ao.signer_key_path = p->audit.signer_key;
	ao.index_key_path = p->audit.index_key;
	ao.fsync = p->audit.fsync == POLICY_FSYNC_ALWAYS ? AUDIT_FSYNC_ALWAYS : AUDIT_FSYNC_BATCH;
	ao.batch_max_delay_ms = p->audit.batch_max_delay_ms;
	rc = audit_writer_open(&ao, &s->sc.audit, e);
	if (rc < 0)
		err_prefix(e, "audit log");
	return rc;
}

static int start_workers(struct server *s, const struct policy *p, struct err *e)
{
	char listen[300];
	uint16_t port = p->ingress.listen.port, eport = p->egress.listen.port;

	for (unsigned i = 0; i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];
		struct http_server_opts so = {0};
		struct http_client_opts co = {0};

		w->sc = &s->sc;
		w->index = (int)i;
		w->base = event_base_new();
		if (w->base == NULL)
			return err_set(e, -ENOMEM, "event_base_new failed");
		/* With port 0 (tests) the first worker picks the port; the others join it. */
		if (strchr(p->ingress.listen.host, ':'))
			snprintf(listen, sizeof(listen), "[%s]:%u", p->ingress.listen.host, port);
		else
			snprintf(listen, sizeof(listen), "%s:%u", p->ingress.listen.host, port);
		so.listen = listen;
		so.reuseport = true;
		so.tls = s->tls;
		so.max_body_bytes = p->ingress.max_body_bytes;
		w->ingress = http_server_new(w->base, &so, ingress_handle, w, e);
		if (w->ingress == NULL)
			return err_prefix(e, "ingress.listen %s", p->ingress.listen.text);
		port = http_server_port(w->ingress);
		/* egress: loopback only (policy), plain HTTP from the AI service */
		{
			struct http_server_opts eo = {0};
			size_t max_body = 1 << 20;

			for (size_t r = 0; r < p->egress.n_routes; r++)
				if (p->egress.routes[r].max_body_bytes > max_body)
					max_body = p->egress.routes[r].max_body_bytes;
			if (strchr(p->egress.listen.host, ':'))
				snprintf(listen, sizeof(listen), "[%s]:%u", p->egress.listen.host, eport);
			else
				snprintf(listen, sizeof(listen), "%s:%u", p->egress.listen.host, eport);
			eo.listen = listen;
			eo.reuseport = true;
			eo.max_body_bytes = max_body;
			w->egress = http_server_new(w->base, &eo, egress_handle, w, e);
			if (w->egress == NULL)
				return err_prefix(e, "egress.listen %s", p->egress.listen.text);
			eport = http_server_port(w->egress);
		}
		co.ca_file = p->egress.ca_file;
		w->client = http_client_new(w->base, &co, e);
		if (w->client == NULL)
			return err_prefix(e, "http client");
	}
	return 0;
}

static SSL_CTX *tls_context(const struct policy *p, struct err *e)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		err_set(e, -ENOMEM, "TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, p->ingress.tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, p->ingress.tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		err_set(e, -EINVAL, "ingress.tls: cannot load certificate/key");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* --- reload, drain, probe -------------------------------------------------------------------- */

static void on_hup(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct policy_diag diag;
	struct policy *p = NULL;
	struct runtime *rt = NULL;
	struct err e;
	int rc;

	(void)fd;
	(void)what;
	policy_diag_init(&diag);
	rc = policy_load(s->opts->policy_path, NULL, &p, &diag);
	if (rc == 0)
		rc = runtime_new(p, ++s->generation, &rt, &e);
	else
		e.msg[0] = '\0';
	if (rc < 0) {
		/* a bad file keeps the old policy */
		atomic_fetch_add(&s->sc.reload_failures, 1);
		log_event(LOGL_ERROR, NULL, "policy_reload_failed", "errors=%zu kept_generation=%u", diag.n_errors,
			  s->generation - (p ? 1 : 0));
		policy_diag_print(&diag, stderr);
		if (e.msg[0])
			fprintf(stderr, "ehrgate-sidecar: reload: %s\n", e.msg);
	} else {
		runtime_slot_swap(&s->sc.rt, rt);
		atomic_fetch_add(&s->sc.reloads, 1);
		log_event(LOGL_INFO, NULL, "policy_reloaded", "site=%s generation=%u", p->site.id, s->generation);
	}
	policy_diag_fini(&diag);
}

/* Rebuild the current generation with freshly fetched JWK Sets (same policy). */
static void on_jwks_refresh(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct runtime *cur = runtime_slot_get(&s->sc.rt), *rt = NULL;
	struct err e;

	(void)fd;
	(void)what;
	policy_ref(cur->policy);
	if (runtime_new(cur->policy, ++s->generation, &rt, &e) < 0) {
		log_event(LOGL_ERROR, NULL, "jwks_refresh_failed", "code=%d", e.code);
		fprintf(stderr, "ehrgate-sidecar: JWKS refresh: %s\n", e.msg);
	} else {
		runtime_slot_swap(&s->sc.rt, rt);
		log_event(LOGL_INFO, NULL, "jwks_refreshed", "generation=%u", s->generation);
	}
	atomic_store(&s->sc.jwks_fetched_ms, clock_mono_ms());
	runtime_unref(cur);
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	int inflight = atomic_load(&s->sc.inflight);
	int64_t waited = clock_mono_ms() - s->drain_started;

	(void)fd;
	(void)what;
	if (inflight > 0 && waited < DRAIN_MAX_MS)
		return;
	log_event(LOGL_INFO, NULL, "drained", "inflight=%d waited_ms=%lld", inflight, (long long)waited);
	for (unsigned i = 0; i < s->n_workers; i++)
		event_base_loopexit(s->workers[i].base, NULL);
	event_base_loopexit(s->base, NULL);
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct timeval tick = {0, 20000};

	(void)fd;
	(void)what;
	if (atomic_exchange(&s->sc.draining, true))
		return;
	log_event(LOGL_INFO, NULL, "draining", "inflight=%d", atomic_load(&s->sc.inflight));
	s->drain_started = clock_mono_ms();
	s->ev_drain = event_new(s->base, -1, EV_PERSIST, on_drain_tick, s);
	event_add(s->ev_drain, &tick);
}

static void on_probe_done(const struct http_client_resp *resp, void *arg)
{
	struct server *s = arg;

	s->probe = NULL;
	atomic_store(&s->sc.upstream_ok, resp->status > 0);
}

static void on_probe(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct runtime *rt;
	struct http_client_req r = {0};
	struct err e;

	(void)fd;
	(void)what;
	if (s->probe)
		return;
	rt = runtime_slot_get(&s->sc.rt);
	snprintf(s->probe_url, sizeof(s->probe_url), "%s/cds-services", rt->policy->ingress.upstream);
	runtime_unref(rt);
	r.method = "GET";
	r.url = s->probe_url;
	r.timeout_ms = 2000;
	r.max_response_bytes = 1 << 20;
	if (http_client_send(s->probe_client, &r, on_probe_done, s, &s->probe, &e) < 0)
		atomic_store(&s->sc.upstream_ok, false);
}

static int write_ready_file(struct server *s, const struct policy *p)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (s->opts->ready_file == NULL)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->opts->ready_file);
	f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	fprintf(f, "{\"pid\":%d,\"ingress\":%u,\"egress\":%u,\"admin\":%u,\"site\":\"%s\"}\n", (int)getpid(),
		(unsigned)http_server_port(s->workers[0].ingress), (unsigned)http_server_port(s->workers[0].egress),
		s->admin ? (unsigned)http_server_port(s->admin) : 0u, p->site.id);
	fclose(f);
	return rename(tmp, s->opts->ready_file) < 0 ? -errno : 0;
}

int serve_run(struct policy *p, const struct serve_opts *o)
{
	struct server *s = xcalloc(1, sizeof(*s));
	struct runtime *rt = NULL;
	struct timeval probe_tv = {PROBE_INTERVAL_S, 0};
	struct err e;
	long ncpu;
	int rc = 1;

	err_clear(&e);
	s->opts = o;
	log_init(2, LOGL_INFO, "ehrgate-sidecar");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN); /* a file-size limit must surface as EFBIG (audit fails closed), not kill us */
	if (sodium_init() < 0 || evthread_use_pthreads() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "ehrgate-sidecar: library initialisation failed\n");
		policy_unref(p);
		free(s);
		return 1;
	}
	if (runtime_new(p, ++s->generation, &rt, &e) < 0) {
		fprintf(stderr, "ehrgate-sidecar: %s\n", e.msg);
		free(s);
		return 1;
	}
	runtime_slot_init(&s->sc.rt, rt);
	s->sc.replay = replay_cache_new(200000);
	s->sc.metrics = metrics_new();
	s->sc.ctx = ctxstore_new(256, 300);
	atomic_init(&s->sc.audit_ok, true);
	atomic_init(&s->sc.upstream_ok, true);
	s->base = event_base_new();
	/* Fail closed at startup too: no audit log, no traffic. */
	if (open_audit(s, p, &e) < 0)
		goto out;
	if (p->ingress.tls_cert && (s->tls = tls_context(p, &e)) == NULL)
		goto out;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	s->n_workers = o->workers ? o->workers : p->ingress.workers ? p->ingress.workers : (unsigned)(ncpu > 0 ? ncpu : 1);
	s->workers = xcalloc(s->n_workers, sizeof(*s->workers));
	if (start_workers(s, p, &e) < 0)
		goto out;
	if (p->admin.enabled) {
		struct http_server_opts so = {0};

		so.listen = p->admin.listen.text;
		so.max_body_bytes = 1024;
		s->admin = http_server_new(s->base, &so, admin_handle, &s->sc, &e);
		if (s->admin == NULL) {
			err_prefix(&e, "admin.listen %s", p->admin.listen.text);
			goto out;
		}
	}
	{
		struct http_client_opts co = {0};

		s->probe_client = http_client_new(s->base, &co, &e);
		if (s->probe_client == NULL)
			goto out;
	}
	s->ev_hup = evsignal_new(s->base, SIGHUP, on_hup, s);
	s->ev_term = evsignal_new(s->base, SIGTERM, on_term, s);
	s->ev_int = evsignal_new(s->base, SIGINT, on_term, s);
	s->ev_probe = event_new(s->base, -1, EV_PERSIST, on_probe, s);
	s->sc.ev_jwks_refresh = event_new(s->base, -1, 0, on_jwks_refresh, s);
	atomic_store(&s->sc.jwks_fetched_ms, clock_mono_ms()); /* the startup fetch counts */
	event_add(s->ev_hup, NULL);
	event_add(s->ev_term, NULL);
	event_add(s->ev_int, NULL);
	event_add(s->ev_probe, &probe_tv);
	for (unsigned i = 0; i < s->n_workers; i++)
		pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]);
	if (write_ready_file(s, p) < 0)
		log_event(LOGL_WARN, NULL, "ready_file_failed", "errno=%d", errno);
	log_event(LOGL_INFO, NULL, "listening", "site=%s ingress_port=%u egress_port=%u admin_port=%u workers=%u", p->site.id,
		  (unsigned)http_server_port(s->workers[0].ingress), (unsigned)http_server_port(s->workers[0].egress),
		  s->admin ? (unsigned)http_server_port(s->admin) : 0u, s->n_workers);
	event_base_dispatch(s->base);
	for (unsigned i = 0; i < s->n_workers; i++)
		pthread_join(s->workers[i].thread, NULL);
	rc = 0;
out:
	if (rc != 0 && e.msg[0])
		fprintf(stderr, "ehrgate-sidecar: %s\n", e.msg);
	if (s->probe)
		http_client_cancel(s->probe);
	http_client_free(s->probe_client);
	for (unsigned i = 0; s->workers && i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];

		http_server_free(w->ingress);
		http_server_free(w->egress);
		http_client_free(w->client);
		phi_scratch_free(w->phi_scratch);
		if (w->base)
			event_base_free(w->base);
	}
	free(s->workers);
	http_server_free(s->admin);
	if (s->ev_hup) event_free(s->ev_hup);
	if (s->ev_term) event_free(s->ev_term);
	if (s->ev_int) event_free(s->ev_int);
	if (s->ev_probe) event_free(s->ev_probe);
	if (s->ev_drain) event_free(s->ev_drain);
	if (s->sc.ev_jwks_refresh) event_free(s->sc.ev_jwks_refresh);
	if (s->sc.audit && audit_writer_close(s->sc.audit, &e) < 0) {
		fprintf(stderr, "ehrgate-sidecar: audit close: %s\n", e.msg);
		rc = 1;
	}
	if (s->base)
		event_base_free(s->base);
	SSL_CTX_free(s->tls);
	replay_cache_free(s->sc.replay);
	metrics_free(s->sc.metrics);
	ctxstore_free(s->sc.ctx);
	runtime_slot_fini(&s->sc.rt);
	curl_global_cleanup();
	free(s);
	return rc;
}
