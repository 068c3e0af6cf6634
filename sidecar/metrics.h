/* metrics — Prometheus counters and latency histograms for the sidecar's /metrics.
 *
 * Thread-safe: worker threads record, the admin thread renders. Labels are identifiers only
 * (service id, decision, route, status): never request data. The label space is bounded
 * (METRICS_MAX_SERIES); past it, samples go to a series labelled "other".
 */
#ifndef EHRGATE_METRICS_H
#define EHRGATE_METRICS_H

#include <stdint.h>

#include "lib/buf.h"

enum metrics_stage {
	METRICS_STAGE_AUTH = 0,
	METRICS_STAGE_POLICY,
	METRICS_STAGE_UPSTREAM,
	METRICS_STAGE_CARDS,
	METRICS_STAGE_AUDIT,
	METRICS_STAGE_PHI,
	METRICS_STAGE_TOTAL,
	METRICS_STAGE_COUNT
};

#define METRICS_MAX_SERIES 256

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* One request finished: kind is "ingress" or "egress"; name the service or route id. */
void metrics_count(struct metrics *m, const char *kind, const char *name, const char *decision, int status);
void metrics_observe(struct metrics *m, enum metrics_stage stage, int64_t duration_us);
void metrics_set_gauge(struct metrics *m, const char *name, int64_t value);
/* Render the Prometheus text exposition format (version 0.0.4). */
int metrics_render(struct metrics *m, struct buf *out) __attribute__((warn_unused_result));

#endif
