/* auditrec — what the sidecar knows about one request, and the audit record built from it.
 *
 * The record is the plaintext the audit library encrypts (audit/audit.h). It carries ids,
 * decisions, rule ids, counts and timings; the patient and user references go into the
 * encrypted payload and the blind index; bodies, tokens and header values never appear.
 * Schema (docs/audit-format.md §Sidecar records):
 *   {"v":1,"event":"cds.call|cds.discovery|cds.feedback|egress","phase":"decision|completion",
 *    "rid":..,"site":..,"service":..,"hook":..,"hookInstance":..,"route":..,"method":..,
 *    "decision":"allow|deny|strip|deadline|upstream_error|error|redact|block",
 *    "rules":[..],"status":N,"patient":"Patient/x","user":"Practitioner/y",
 *    "client":{"iss":..,"jti":..},"prefetch_removed":[..],"stripped":[{"rule":..,"card":N,"pointer":..}],
 *    "phi":{"TYPE":count},"bytes_in":N,"bytes_out":N,"timings_us":{"auth":..,...}}
 */
#ifndef EHRGATE_AUDITREC_H
#define EHRGATE_AUDITREC_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/cds_card.h"
#include "sidecar/metrics.h"

#define AUDITREC_MAX_RULES 16
#define AUDITREC_MAX_REMOVED 32
#define AUDITREC_ID_MAX 96
#define AUDITREC_PHI_TYPES 24

struct auditrec {
	const char *event;                  /* static */
	const char *phase;                  /* static */
	char rid[24];
	char site[64];
	char service[AUDITREC_ID_MAX], hook[AUDITREC_ID_MAX], hook_instance[40];
	char route[AUDITREC_ID_MAX], method[12];
	const char *decision;               /* static */
	const char *rules[AUDITREC_MAX_RULES];
	size_t n_rules;
	int status;
	char patient[AUDITREC_ID_MAX], user[AUDITREC_ID_MAX];
	char iss[256], jti[80];
	char *prefetch_removed[AUDITREC_MAX_REMOVED]; /* owned (free on fini) */
	size_t n_removed;
	const struct cds_strips *strips;    /* borrowed, may be NULL */
	struct { const char *type; unsigned count; } phi[AUDITREC_PHI_TYPES];
	size_t n_phi;
	size_t bytes_in, bytes_out;
	int64_t timings_us[METRICS_STAGE_COUNT]; /* -1 = stage not reached */
};

void auditrec_init(struct auditrec *r, const char *event, const char *rid, const char *site);
void auditrec_fini(struct auditrec *r);
void auditrec_add_rule(struct auditrec *r, const char *rule); /* static strings only */
/* Copy an identifier-like value (truncated to the field; never a body). */
void auditrec_set(char *field, size_t cap, const char *value);
/* Serialise as one JSON object. */
int auditrec_json(const struct auditrec *r, struct buf *out) __attribute__((warn_unused_result));

#endif
