/* metrics — fixed-size label table + fixed-bucket histograms behind one mutex. Owns its table. */
#include "sidecar/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"

#define LABEL_MAX 48
#define GAUGES_MAX 16

static const char *const stage_names[METRICS_STAGE_COUNT] = {
	"auth", "policy", "upstream", "cards", "audit", "phi", "total",
};
/* seconds; the deadline (typically 2 s) is inside the range */
static const double bucket_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				   0.05, 0.1, 0.25, 0.5, 1, 2, 5};
#define NBUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]))

struct series {
	char kind[12], name[LABEL_MAX], decision[LABEL_MAX];
	int status;
	uint64_t count;
};

struct hist {
	uint64_t buckets[NBUCKETS];
	uint64_t count;
	double sum;
};

struct metrics {
	pthread_mutex_t mu;
	struct series series[METRICS_MAX_SERIES];
	size_t n_series;
	struct hist hist[METRICS_STAGE_COUNT];
	struct {
		char name[LABEL_MAX];
		int64_t value;
	} gauges[GAUGES_MAX];
	size_t n_gauges;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));

	pthread_mutex_init(&m->mu, NULL);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* Label values: identifier characters only (Prometheus escaping is then unnecessary). */
static void label(char *dst, size_t cap, const char *src)
{
	size_t i;

	if (src == NULL)
		src = "-";
	for (i = 0; src[i] && i + 1 < cap; i++) {
		char c = src[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '-' || c == '_' || c == '.';
		dst[i] = ok ? c : '_';
	}
	dst[i] = '\0';
}

void metrics_count(struct metrics *m, const char *kind, const char *name, const char *decision, int status)
{
	char k[12], n[LABEL_MAX], d[LABEL_MAX];
	size_t i;

	label(k, sizeof(k), kind);
	label(n, sizeof(n), name);
	label(d, sizeof(d), decision);
	pthread_mutex_lock(&m->mu);
	for (i = 0; i < m->n_series; i++) {
		struct series *s = &m->series[i];

		if (s->status == status && strcmp(s->kind, k) == 0 && strcmp(s->name, n) == 0 && strcmp(s->decision, d) == 0)
			break;
	}
	if (i == m->n_series) {
		if (m->n_series == METRICS_MAX_SERIES) {
			i = METRICS_MAX_SERIES - 1; /* overflow bucket */
			snprintf(m->series[i].name, LABEL_MAX, "other");
		} else {
			struct series *s = &m->series[m->n_series++];

			memcpy(s->kind, k, sizeof(k));
			memcpy(s->name, n, sizeof(n));
			memcpy(s->decision, d, sizeof(d));
			s->status = status;
		}
	}
	m->series[i].count++;
	pthread_mutex_unlock(&m->mu);
}

void metrics_observe(struct metrics *m, enum metrics_stage stage, int64_t us)
{
	double s = (double)us / 1e6;
	struct hist *h;

	if ((unsigned)stage >= METRICS_STAGE_COUNT)
		return;
	pthread_mutex_lock(&m->mu);
	h = &m->hist[stage];
	for (size_t i = 0; i < NBUCKETS; i++)
		if (s <= bucket_le[i])
			h->buckets[i]++;
	h->count++;
	h->sum += s;
	pthread_mutex_unlock(&m->mu);
}

void metrics_set_gauge(struct metrics *m, const char *name, int64_t value)
{
	char n[LABEL_MAX];
	size_t i;

	label(n, sizeof(n), name);
	pthread_mutex_lock(&m->mu);
	for (i = 0; i < m->n_gauges && strcmp(m->gauges[i].name, n) != 0; i++)
		;
	if (i == m->n_gauges && m->n_gauges < GAUGES_MAX)
		memcpy(m->gauges[m->n_gauges++].name, n, sizeof(n));
	if (i < GAUGES_MAX)
		m->gauges[i].value = value;
	pthread_mutex_unlock(&m->mu);
}

int metrics_render(struct metrics *m, struct buf *out)
{
	int rc = 0;

	pthread_mutex_lock(&m->mu);
	rc |= buf_append_str(out, "# HELP ehrgate_requests_total Requests by kind, service or route, decision and status.\n"
				  "# TYPE ehrgate_requests_total counter\n");
	for (size_t i = 0; i < m->n_series && rc == 0; i++) {
		struct series *s = &m->series[i];

		rc = buf_printf(out, "ehrgate_requests_total{kind=\"%s\",name=\"%s\",decision=\"%s\",status=\"%d\"} %llu\n",
				s->kind, s->name, s->decision, s->status, (unsigned long long)s->count);
	}
	if (rc == 0)
		rc = buf_append_str(out, "# HELP ehrgate_stage_seconds Time spent per request stage.\n"
					 "# TYPE ehrgate_stage_seconds histogram\n");
	for (int st = 0; st < METRICS_STAGE_COUNT && rc == 0; st++) {
		struct hist *h = &m->hist[st];

		for (size_t b = 0; b < NBUCKETS && rc == 0; b++)
			rc = buf_printf(out, "ehrgate_stage_seconds_bucket{stage=\"%s\",le=\"%g\"} %llu\n", stage_names[st],
					bucket_le[b], (unsigned long long)h->buckets[b]);
		if (rc == 0)
			rc = buf_printf(out,
					"ehrgate_stage_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %llu\n"
					"ehrgate_stage_seconds_sum{stage=\"%s\"} %.6f\n"
					"ehrgate_stage_seconds_count{stage=\"%s\"} %llu\n",
					stage_names[st], (unsigned long long)h->count, stage_names[st], h->sum,
					stage_names[st], (unsigned long long)h->count);
	}
	for (size_t i = 0; i < m->n_gauges && rc == 0; i++)
		rc = buf_printf(out, "# TYPE ehrgate_%s gauge\nehrgate_%s %lld\n", m->gauges[i].name, m->gauges[i].name,
				(long long)m->gauges[i].value);
	pthread_mutex_unlock(&m->mu);
	return rc;
}
