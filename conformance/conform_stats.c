/* conform_stats — latency statistics. Owns the sample array of a conform_samples. */
#include "conformance/conform_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"

void conform_samples_init(struct conform_samples *s)
{
	memset(s, 0, sizeof(*s));
}

void conform_samples_fini(struct conform_samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

void conform_samples_add(struct conform_samples *s, double ms)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double *sorted_copy(const struct conform_samples *s)
{
	double *c = xmalloc((s->n ? s->n : 1) * sizeof(*c));

	if (s->n)
		memcpy(c, s->v, s->n * sizeof(*c));
	qsort(c, s->n, sizeof(*c), cmp_double);
	return c;
}

/* Nearest rank: the smallest value with at least q% of the samples at or below it. */
static double rank(const double *sorted, size_t n, double q)
{
	size_t r;

	if (n == 0)
		return 0;
	r = (size_t)ceil(q / 100.0 * (double)n);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return sorted[r - 1];
}

double conform_percentile(const struct conform_samples *s, double q)
{
	double *c = sorted_copy(s), v = rank(c, s->n, q);

	free(c);
	return v;
}

/* A "nice" bin width (1, 2, 5 x 10^k ms) so the chart axis reads well. */
static double nice_width(double range)
{
	double raw = range / CONFORM_HIST_BINS, p = pow(10, floor(log10(raw > 0 ? raw : 1)));

	if (raw <= p)
		return p;
	if (raw <= 2 * p)
		return 2 * p;
	if (raw <= 5 * p)
		return 5 * p;
	return 10 * p;
}

void conform_latency_summarise(const struct conform_samples *s, double scale_hint_ms, struct conform_latency *o)
{
	double *c = sorted_copy(s), sum = 0, top;

	memset(o, 0, sizeof(*o));
	o->n = s->n;
	o->errors = s->errors;
	for (size_t i = 0; i < s->n; i++)
		sum += c[i];
	if (s->n) {
		o->min = c[0];
		o->max = c[s->n - 1];
		o->mean = sum / (double)s->n;
		o->p50 = rank(c, s->n, 50);
		o->p95 = rank(c, s->n, 95);
		o->p99 = rank(c, s->n, 99);
	}
	top = o->max > scale_hint_ms ? o->max : scale_hint_ms;
	o->bin_ms = nice_width(top * 1.05);
	o->bins = (size_t)ceil(top * 1.05 / o->bin_ms);
	if (o->bins < 1)
		o->bins = 1;
	if (o->bins > CONFORM_HIST_BINS)
		o->bins = CONFORM_HIST_BINS;
	for (size_t i = 0; i < s->n; i++) {
		size_t b = (size_t)(c[i] / o->bin_ms);

		o->hist[b < o->bins ? b : o->bins - 1]++;
	}
	free(c);
}
