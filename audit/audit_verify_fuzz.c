/* audit_verify_fuzz — libFuzzer target: arbitrary bytes as a segment's .log, verified blind.
 * The verifier must never crash, hang or read out of bounds on hostile files; input that starts
 * like a segment gets past the framing checks, so the corpus (fixtures/fuzz/audit_verify/) holds
 * real segments to mutate. Splitting the input at a marker lets the fuzzer reach the .keys and
 * .idx checks too: LOG [ "\nEGK1SPLIT\n" KEYS [ "\nEGX1SPLIT\n" IDX ] ]. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *split(const uint8_t *p, size_t n, const char *mark, size_t *first, size_t *rest_len)
{
	size_t ml = strlen(mark);
	for (size_t i = 0; i + ml <= n; i++)
		if (memcmp(p + i, mark, ml) == 0) {
			*first = i;
			*rest_len = n - i - ml;
			return p + i + ml;
		}
	*first = n;
	*rest_len = 0;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct audit_verify_report r;
	size_t log_len, rest_len, keys_len = 0, idx_len = 0;
	const uint8_t *keys = split(data, size, "\nEGK1SPLIT\n", &log_len, &rest_len), *idx = NULL;
	struct err e;

	if (keys) {
		idx = split(keys, rest_len, "\nEGX1SPLIT\n", &keys_len, &idx_len);
		if (!idx)
			keys_len = rest_len;
	}
	audit_verify_segment_mem(data, log_len, keys, keys_len, idx, idx_len, &r, &e);
	return 0;
}
