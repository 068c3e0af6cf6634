/* conform_stats — latency samples and their summary (percentiles by the nearest-rank method,
 * mean, min, max) plus a fixed-bin histogram for the report charts. */
#ifndef EHRGATE_CONFORM_STATS_H
#define EHRGATE_CONFORM_STATS_H

#include <stddef.h>

#define CONFORM_HIST_BINS 24

struct conform_samples {
	double *v;      /* milliseconds, in arrival order */
	size_t n, cap;
	size_t errors;  /* calls that got no 200/412 answer (not in v) */
};

struct conform_latency {
	size_t n, errors;
	double min, p50, p95, p99, max, mean;
	double bin_ms;                  /* width of one histogram bin */
	size_t bins;                    /* bins covering the range (<= CONFORM_HIST_BINS) */
	size_t hist[CONFORM_HIST_BINS]; /* the last bin also holds everything beyond */
};

void conform_samples_init(struct conform_samples *s);
void conform_samples_fini(struct conform_samples *s);
void conform_samples_add(struct conform_samples *s, double ms);
/* Nearest-rank percentile q in [0,100] of the samples; 0 when empty. */
double conform_percentile(const struct conform_samples *s, double q);
/* Summary with a histogram whose range covers max(max sample, scale_hint_ms). */
void conform_latency_summarise(const struct conform_samples *s, double scale_hint_ms, struct conform_latency *out);

#endif
