/* ehrgate-bench-load — the HTTP/1.1 load generator of ci/bench-sidecar, for the one thing wrk
 * cannot do: a fixed request rate with latency measured from the intended send time.
 *
 * Open loop (--rate R): request k is due at t0 + k/R whatever happened before it. A due request
 * goes out on the first idle keep-alive connection; if none is idle it waits, and that wait is
 * part of its latency (the "coordinated omission" correction wrk2 makes: a stalled server is
 * not excused by the client politely waiting). Closed loop (no --rate): every connection sends
 * its next request as soon as the previous answer arrives (what wrk does).
 *
 * Every request is a POST of one of the given bodies (round robin) with a fresh
 * "Authorization: Bearer <token>" from the tokens file; with --reuse-tokens the tokens cycle
 * (fine for targets that do not check them). Without it the run stops sending when the tokens
 * run out (reported). Responses are parsed (Content-Length or chunked), counted by status and
 * by whether the body contains --expect (the sidecar's deadline fail-safe answers 200
 * {"cards":[]}: that is not a success for a benchmark). One thread, epoll, level-triggered.
 *
 * Owns its connections, the bodies and tokens read at start, and the latency samples. Prints
 * one line of key=value pairs. Exit 0 when the run completed (whatever the latencies), 1 when
 * the target could not be reached, 2 on usage errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/usage.h"

static const char prog[] = "ehrgate-bench-load";

static const char usage[] =
    "usage: ehrgate-bench-load --url http://127.0.0.1:PORT/PATH --bodies LIST --tokens FILE\n"
    "                          --duration S [--rate R] [--connections N] [--reuse-tokens]\n"
    "                          [--expect STRING] [--label L] [--timeout-ms MS] [--samples FILE]\n"
    "  LIST: a file naming one request-body file per line. FILE: one JWT per line.\n"
    "  --rate R: open loop at R requests/s, latency from the intended send time;\n"
    "  without it: closed loop, each connection sends again as soon as it is answered.\n"
    "  --samples FILE: also write every latency (microseconds, one per line) to FILE.\n"
    "  Prints one line: label mode requests rps statuses latency percentiles (ms).\n";

#define MAX_CONNS 1024
#define MAX_BODIES 4096
#define MAX_RESPONSE (1u << 20)
#define HDR_CAP 20480

struct body {
	char *p;
	size_t len;
};

struct conn {
	int fd;
	bool busy;     /* a request is in flight on it */
	bool want_out; /* EPOLLOUT registered */
	char hdr[HDR_CAP];
	size_t hdr_len;
	const struct body *body;
	size_t sent; /* bytes of hdr + body written so far */
	int64_t t_intended, t_sent;
	char *in;
	size_t in_len;
};

static struct {
	char host[64];
	uint16_t port;
	char path[1024];
	struct body bodies[MAX_BODIES];
	size_t n_bodies;
	char **tokens;
	size_t n_tokens;
	bool reuse_tokens;
	double rate, duration;
	int n_conns;
	const char *expect, *label, *samples;
	int64_t timeout_ns;
} cfg = {.n_conns = 32, .label = "run", .timeout_ns = 10000000000LL};

static struct {
	int64_t t0, t_end, t_last_done;
	uint64_t next_body, next_token;
	uint64_t due, dispatched, done; /* open loop: request k due at t0 + k/rate */
	uint64_t st_2xx, st_other, expect_miss, errors, timeouts, reconnects;
	bool tokens_exhausted;
	int64_t *lat, *svc; /* ns: from intended send, from actual send */
	size_t n_lat, cap_lat;
	int epfd, tfd;
	struct conn *conns;
} run;

static void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(1);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "%s: cannot read %s\n", prog, path);
		exit(1);
	}
	p = xmalloc((size_t)n + 1);
	if (fread(p, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "%s: short read on %s\n", prog, path);
		exit(1);
	}
	p[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* Split text into its non-empty lines, in place. */
static char **split_lines(char *text, size_t *n_out)
{
	size_t n = 0, cap = 1024;
	char **v = xmalloc(cap * sizeof(*v)), *save = NULL;

	for (char *l = strtok_r(text, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save)) {
		if (n == cap)
			v = xrealloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = l;
	}
	*n_out = n;
	return v;
}

static void parse_url(const char *url)
{
	const char *p = url + 7, *colon, *slash;
	char *end;
	long port;

	if (strncmp(url, "http://", 7) != 0 || (colon = strchr(p, ':')) == NULL ||
	    (slash = strchr(p, '/')) == NULL || colon > slash || (size_t)(colon - p) >= sizeof(cfg.host) ||
	    strlen(slash) >= sizeof(cfg.path))
		usage_fail(prog, "--url: expected http://IP:PORT/PATH");
	memcpy(cfg.host, p, (size_t)(colon - p));
	port = strtol(colon + 1, &end, 10);
	if (end != slash || port < 1 || port > 65535)
		usage_fail(prog, "--url: bad port");
	cfg.port = (uint16_t)port;
	snprintf(cfg.path, sizeof(cfg.path), "%s", slash);
}

static int conn_open(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(cfg.port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || inet_pton(AF_INET, cfg.host, &a.sin_addr) != 1)
		return -1;
	/* loopback: a blocking connect is immediate; the socket turns non-blocking after */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void conn_watch(struct conn *c, int op, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};

	c->want_out = out;
	if (epoll_ctl(run.epfd, op, c->fd, &ev) < 0)
		die("epoll_ctl");
}

static void conn_reset(struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(run.epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->busy = false;
	c->in_len = 0;
	c->fd = conn_open();
	if (c->fd < 0) {
		fprintf(stderr, "%s: reconnect to %s:%u failed: %s\n", prog, cfg.host, cfg.port,
			strerror(errno));
		exit(1);
	}
	run.reconnects++;
	conn_watch(c, EPOLL_CTL_ADD, false);
}

static void record(int64_t intended, int64_t sent, int64_t now)
{
	if (run.n_lat == run.cap_lat) {
		run.cap_lat = run.cap_lat ? run.cap_lat * 2 : 65536;
		run.lat = xrealloc(run.lat, run.cap_lat * sizeof(*run.lat));
		run.svc = xrealloc(run.svc, run.cap_lat * sizeof(*run.svc));
	}
	run.lat[run.n_lat] = now - intended;
	run.svc[run.n_lat++] = now - sent;
}

static void conn_flush(struct conn *c)
{
	while (c->sent < c->hdr_len + c->body->len) {
		struct iovec iov[2];
		int n = 0;
		ssize_t w;

		if (c->sent < c->hdr_len) {
			iov[n].iov_base = c->hdr + c->sent;
			iov[n++].iov_len = c->hdr_len - c->sent;
			iov[n].iov_base = c->body->p;
			iov[n++].iov_len = c->body->len;
		} else {
			iov[n].iov_base = c->body->p + (c->sent - c->hdr_len);
			iov[n++].iov_len = c->body->len - (c->sent - c->hdr_len);
		}
		w = writev(c->fd, iov, n);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->want_out)
				conn_watch(c, EPOLL_CTL_MOD, true);
			return;
		}
		if (w < 0) {
			run.errors++;
			conn_reset(c);
			return;
		}
		c->sent += (size_t)w;
	}
	if (c->want_out)
		conn_watch(c, EPOLL_CTL_MOD, false);
}

/* Send the next request on idle connection c, due at `intended` (-1: now, closed loop);
 * false when no token is left. */
static bool conn_send(struct conn *c, int64_t intended)
{
	const struct body *b = &cfg.bodies[run.next_body++ % cfg.n_bodies];
	const char *tok;
	int n;

	if (run.next_token >= cfg.n_tokens && !cfg.reuse_tokens) {
		run.tokens_exhausted = true;
		return false;
	}
	tok = cfg.tokens[run.next_token++ % cfg.n_tokens];
	n = snprintf(c->hdr, sizeof(c->hdr),
		     "POST %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/json\r\nAccept: "
		     "application/json\r\n"
		     "Authorization: Bearer %s\r\nContent-Length: %zu\r\n\r\n",
		     cfg.path, cfg.host, cfg.port, tok, b->len);
	if (n < 0 || (size_t)n >= sizeof(c->hdr)) {
		fprintf(stderr, "%s: token too long\n", prog);
		exit(1);
	}
	c->hdr_len = (size_t)n;
	c->body = b;
	c->sent = 0;
	c->busy = true;
	c->t_sent = clock_mono_ns();
	c->t_intended = intended < 0 ? c->t_sent : intended;
	run.dispatched++;
	conn_flush(c);
	return true;
}

/* 1 when a whole response is in c->in (its length in *used), 0 when more is needed, -1 when
 * it is malformed. *status, *close_after and the body span are filled on 1. */
/* The value of header `name` (with the colon) on the line [l, e), or NULL. */
static const char *hdr_value(const char *l, const char *e, const char *name)
{
	size_t n = strlen(name);

	if ((size_t)(e - l) < n || strncasecmp(l, name, n) != 0)
		return NULL;
	for (l += n; l < e && (*l == ' ' || *l == '\t'); l++)
		;
	return l;
}

/* Does [p, e) contain the (case-insensitive) token word? */
static bool span_has(const char *p, const char *e, const char *word)
{
	size_t n = strlen(word);

	for (; p + n <= e; p++)
		if (strncasecmp(p, word, n) == 0)
			return true;
	return false;
}

/* 1 when a whole response is in c->in (its length in *used), 0 when more is needed, -1 when
 * it is malformed. *status, *close_after and the body span are filled on 1. The buffer is
 * not modified. */
static int parse_response(struct conn *c, size_t *used, int *status, bool *close_after, const char **bp,
			  size_t *blen)
{
	const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4), *l, *v;
	long long clen = -1;
	bool chunked = false;
	size_t head, pos;

	if (end == NULL)
		return c->in_len > 65536 ? -1 : 0;
	head = (size_t)(end - c->in) + 4;
	if (head < 16 || strncmp(c->in, "HTTP/1.", 7) != 0)
		return -1;
	*status = (int)strtol(c->in + 9, NULL, 10);
	*close_after = strncmp(c->in, "HTTP/1.0", 8) == 0;
	for (l = c->in; l < end;) {
		const char *e = memmem(l, (size_t)(end + 2 - l), "\r\n", 2);

		if ((v = hdr_value(l, e, "Content-Length:")) != NULL)
			clen = strtoll(v, NULL, 10);
		else if ((v = hdr_value(l, e, "Transfer-Encoding:")) != NULL && span_has(v, e, "chunked"))
			chunked = true;
		else if ((v = hdr_value(l, e, "Connection:")) != NULL && span_has(v, e, "close"))
			*close_after = true;
		l = e + 2;
	}
	if (!chunked) {
		if (clen < 0)
			clen = 0; /* every server measured here frames its answers */
		if (c->in_len < head + (size_t)clen)
			return 0;
		*bp = c->in + head;
		*blen = (size_t)clen;
		*used = head + (size_t)clen;
		return 1;
	}
	/* RFC 9112 §7.1 chunked: size CRLF data CRLF ... 0 CRLF [trailers] CRLF */
	pos = head;
	*bp = c->in + head;
	for (;;) {
		const char *crlf = memmem(c->in + pos, c->in_len - pos, "\r\n", 2), *fin;
		unsigned long sz;

		if (crlf == NULL)
			return 0;
		sz = strtoul(c->in + pos, NULL, 16);
		pos = (size_t)(crlf - c->in) + 2;
		if (sz == 0) {
			fin = memmem(c->in + pos - 2, c->in_len - (pos - 2), "\r\n\r\n", 4);
			if (fin == NULL)
				return 0;
			*used = (size_t)(fin - c->in) + 4;
			*blen = *used - head;
			return 1;
		}
		if (sz > MAX_RESPONSE)
			return -1;
		if (c->in_len < pos + sz + 2)
			return 0;
		pos += sz + 2;
	}
}

static void conn_read(struct conn *c, int64_t now)
{
	for (;;) {
		size_t used = 0, blen = 0;
		const char *bp = NULL;
		int status = 0, pr;
		bool close_after = false;
		ssize_t r;

		if (c->in_len == MAX_RESPONSE) {
			run.errors++;
			conn_reset(c);
			return;
		}
		r = read(c->fd, c->in + c->in_len, MAX_RESPONSE - c->in_len);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			/* the server closed: an error only when an answer was owed */
			if (c->busy)
				run.errors++;
			conn_reset(c);
			return;
		}
		c->in_len += (size_t)r;
		if (!c->busy) {
			run.errors++; /* bytes nobody asked for */
			conn_reset(c);
			return;
		}
		pr = parse_response(c, &used, &status, &close_after, &bp, &blen);
		if (pr == 0)
			continue;
		if (pr < 0) {
			run.errors++;
			conn_reset(c);
			return;
		}
		record(c->t_intended, c->t_sent, now);
		run.done++;
		run.t_last_done = now;
		if (status >= 200 && status < 300)
			run.st_2xx++;
		else
			run.st_other++;
		if (cfg.expect && (status != 200 || memmem(bp, blen, cfg.expect, strlen(cfg.expect)) == NULL))
			run.expect_miss++;
		c->busy = false;
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		if (close_after)
			conn_reset(c);
		return;
	}
}

static void arm_timer(int64_t at_ns)
{
	struct itimerspec its = {.it_value = {at_ns / 1000000000, at_ns % 1000000000}};

	if (timerfd_settime(run.tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		die("timerfd_settime");
}

/* Hand due requests to idle connections. Open loop: request k is due at t0 + k/rate. */
static void dispatch(int64_t now)
{
	bool sending = now < run.t_end && !run.tokens_exhausted;

	/* Open loop: the schedule runs to the end even when the tokens ran out, so requests that
	 * could not be sent count as unsent, not as a shorter run. */
	if (cfg.rate > 0 && now < run.t_end) {
		uint64_t due = (uint64_t)((double)(now - run.t0) * cfg.rate / 1e9) + 1;

		if (due > run.due)
			run.due = due;
	}
	for (int i = 0; i < cfg.n_conns && sending; i++) {
		struct conn *c = &run.conns[i];

		if (c->busy)
			continue;
		if (cfg.rate > 0) {
			int64_t intended;

			if (run.dispatched >= run.due)
				break;
			intended = run.t0 + (int64_t)((double)run.dispatched * 1e9 / cfg.rate);
			if (!conn_send(c, intended))
				break;
		} else if (!conn_send(c, -1)) {
			break;
		}
	}
	if (cfg.rate > 0 && sending)
		arm_timer(run.t0 + (int64_t)((double)run.due * 1e9 / cfg.rate));
}

static void check_timeouts(int64_t now)
{
	for (int i = 0; i < cfg.n_conns; i++) {
		struct conn *c = &run.conns[i];

		if (c->busy && now - c->t_sent > cfg.timeout_ns) {
			run.timeouts++;
			conn_reset(c);
		}
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array, in ms. */
static double pct(const int64_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)v[k - 1] / 1e6;
}

/* A numeric option value within [lo, hi], or a usage error. */
static double num_arg(const char *opt, const char *v, double lo, double hi)
{
	char *end;
	double x = strtod(v, &end);

	if (end == v || *end != '\0' || x < lo || x > hi)
		usage_fail(prog, "%s: expected a number from %g to %g", opt, lo, hi);
	return x;
}

int main(int argc, char **argv)
{
	const char *url = NULL, *bodies_path = NULL, *tokens_path = NULL;
	char *list, *toks;
	size_t len, n_files;
	char **files;
	struct epoll_event evs[256];
	int64_t now, t_stop;
	double secs;

	usage_common(argc, argv, prog, usage);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--reuse-tokens") == 0) {
			cfg.reuse_tokens = true;
			continue;
		}
		if (v == NULL)
			usage_fail(prog, "%s needs a value (or is unknown)", a);
		i++;
		if (strcmp(a, "--url") == 0)
			url = v;
		else if (strcmp(a, "--bodies") == 0)
			bodies_path = v;
		else if (strcmp(a, "--tokens") == 0)
			tokens_path = v;
		else if (strcmp(a, "--rate") == 0)
			cfg.rate = num_arg(a, v, 0, 1e7);
		else if (strcmp(a, "--duration") == 0)
			cfg.duration = num_arg(a, v, 0.001, 86400);
		else if (strcmp(a, "--connections") == 0)
			cfg.n_conns = (int)num_arg(a, v, 1, MAX_CONNS);
		else if (strcmp(a, "--expect") == 0)
			cfg.expect = v;
		else if (strcmp(a, "--label") == 0)
			cfg.label = v;
		else if (strcmp(a, "--samples") == 0)
			cfg.samples = v;
		else if (strcmp(a, "--timeout-ms") == 0)
			cfg.timeout_ns = (int64_t)num_arg(a, v, 1, 3600000) * 1000000LL;
		else
			usage_fail(prog, "unknown argument '%s'", a);
	}
	if (!url || !bodies_path || !tokens_path || cfg.duration <= 0)
		usage_fail(prog, "--url, --bodies, --tokens and --duration are required");
	if (cfg.n_conns < 1 || cfg.n_conns > MAX_CONNS || cfg.rate < 0 || cfg.timeout_ns <= 0)
		usage_fail(prog, "--connections 1..%d, --rate >= 0, --timeout-ms > 0", MAX_CONNS);
	parse_url(url);
	signal(SIGPIPE, SIG_IGN);

	list = read_file(bodies_path, &len);
	files = split_lines(list, &n_files);
	if (n_files == 0 || n_files > MAX_BODIES)
		usage_fail(prog, "--bodies: 1 to %d files", MAX_BODIES);
	for (size_t i = 0; i < n_files; i++)
		cfg.bodies[cfg.n_bodies++].p = read_file(files[i], &cfg.bodies[i].len);
	free(files);
	free(list);
	toks = read_file(tokens_path, &len);
	cfg.tokens = split_lines(toks, &cfg.n_tokens);
	if (cfg.n_tokens == 0)
		usage_fail(prog, "--tokens: no tokens in %s", tokens_path);

	run.epfd = epoll_create1(EPOLL_CLOEXEC);
	run.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (run.epfd < 0 || run.tfd < 0)
		die("epoll/timerfd");
	{
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

		if (epoll_ctl(run.epfd, EPOLL_CTL_ADD, run.tfd, &ev) < 0)
			die("epoll_ctl timerfd");
	}
	run.conns = xcalloc((size_t)cfg.n_conns, sizeof(*run.conns));
	for (int i = 0; i < cfg.n_conns; i++) {
		struct conn *c = &run.conns[i];

		c->in = xmalloc(MAX_RESPONSE);
		c->fd = conn_open();
		if (c->fd < 0) {
			fprintf(stderr, "%s: connect to %s:%u failed: %s\n", prog, cfg.host, cfg.port,
				strerror(errno));
			return 1;
		}
		conn_watch(c, EPOLL_CTL_ADD, false);
	}

	run.t0 = clock_mono_ns();
	run.t_end = run.t0 + (int64_t)(cfg.duration * 1e9);
	t_stop = run.t_end + cfg.timeout_ns; /* after the end: wait for answers still owed */
	dispatch(run.t0);
	for (;;) {
		bool inflight = false;
		int n = epoll_wait(run.epfd, evs, 256, 10);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		now = clock_mono_ns();
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c == NULL) {
				uint64_t x;

				if (read(run.tfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
					die("timerfd read");
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				conn_read(c, now);
			if (c->busy && c->want_out && (evs[i].events & EPOLLOUT))
				conn_flush(c);
		}
		check_timeouts(now);
		dispatch(now);
		for (int i = 0; i < cfg.n_conns; i++)
			inflight |= run.conns[i].busy;
		if (!inflight && (now >= run.t_end || (run.tokens_exhausted && cfg.rate <= 0)))
			break;
		if (now >= t_stop)
			break;
	}
	for (int i = 0; i < cfg.n_conns; i++)
		if (run.conns[i].busy)
			run.timeouts++;

	/* Closed loop: throughput over the time to the last answer (earlier than the duration when
	 * the tokens ran out). Open loop: over the schedule (a target that cannot keep up shows as
	 * due-but-unsent requests and high latency). */
	secs = (double)((cfg.rate > 0 || run.done == 0 ? run.t_end : run.t_last_done) - run.t0) / 1e9;
	if (cfg.samples) {
		FILE *f = fopen(cfg.samples, "w");

		for (size_t i = 0; f && i < run.n_lat; i++)
			fprintf(f, "%lld\n", (long long)(run.lat[i] / 1000));
		if (f == NULL || fclose(f) != 0) {
			fprintf(stderr, "%s: cannot write %s\n", prog, cfg.samples);
			return 1;
		}
	}
	qsort(run.lat, run.n_lat, sizeof(*run.lat), cmp_i64);
	qsort(run.svc, run.n_lat, sizeof(*run.svc), cmp_i64);
	printf(
	    "label=%s mode=%s conns=%d secs=%.2f done=%llu rps=%.0f ok2xx=%llu other_status=%llu "
	    "expect_miss=%llu "
	    "errors=%llu timeouts=%llu reconnects=%llu unsent=%llu tokens_exhausted=%d "
	    "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f svc_p50_ms=%.3f svc_p99_ms=%.3f\n",
	    cfg.label, cfg.rate > 0 ? "rate" : "closed", cfg.n_conns, secs, (unsigned long long)run.done,
	    secs > 0 ? (double)run.done / secs : 0.0, (unsigned long long)run.st_2xx,
	    (unsigned long long)run.st_other, (unsigned long long)run.expect_miss,
	    (unsigned long long)run.errors, (unsigned long long)run.timeouts,
	    (unsigned long long)(run.reconnects),
	    (unsigned long long)(run.due > run.dispatched ? run.due - run.dispatched : 0),
	    run.tokens_exhausted, pct(run.lat, run.n_lat, 50), pct(run.lat, run.n_lat, 90),
	    pct(run.lat, run.n_lat, 99), pct(run.lat, run.n_lat, 99.9),
	    run.n_lat ? (double)run.lat[run.n_lat - 1] / 1e6 : 0.0, pct(run.svc, run.n_lat, 50),
	    pct(run.svc, run.n_lat, 99));
	for (int i = 0; i < cfg.n_conns; i++) {
		if (run.conns[i].fd >= 0)
			close(run.conns[i].fd);
		free(run.conns[i].in);
	}
	free(run.conns);
	free(run.lat);
	free(run.svc);
	free(cfg.tokens);
	free(toks);
	for (size_t i = 0; i < cfg.n_bodies; i++)
		free(cfg.bodies[i].p);
	return 0;
}
