/* policy_fuzz — libFuzzer target for the policy loader (yamlx + every validator).
 *
 * The input is a policy file's bytes. File checks are skipped (the fuzzer must not depend on
 * or probe the file system) and "today" is fixed so runs are reproducible. Any crash, leak,
 * sanitizer report or a success that leaves errors in the diagnostics is a bug.
 * Seed corpus: fixtures/fuzz/policy/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_load_opts opts = {.today_set = true, .today_days = 20780 /* 2026-11-23 */, .skip_file_checks = true};
	struct policy_diag diag;
	struct policy *p = NULL;
	char summary[512];
	int rc;

	policy_diag_init(&diag);
	rc = policy_load_buffer("fuzz/policy.yaml", (const char *)data, size, &opts, &p, &diag);
	if (rc == 0) {
		if (p == NULL || diag.n_errors != 0)
			abort();
		/* Exercise the read side on whatever was accepted. */
		policy_summary(p, opts.today_days, summary, sizeof(summary));
		for (size_t i = 0; i < p->n_services; i++)
			(void)policy_service_allows_hook(&p->services[i], "patient-view");
		(void)policy_find_route(p, "fhir");
		/* every route's path prefixes admit themselves; and a request path made of the
		 * input's bytes (hostile: dot segments, %2e) is judged without a crash */
		for (size_t i = 0; i < p->egress.n_routes; i++) {
			const struct policy_route *r = &p->egress.routes[i];
			char path[257];
			size_t n = size < sizeof(path) - 1 ? size : sizeof(path) - 1;
			for (size_t k = 0; k < r->paths.n; k++)
				if (!policy_route_path_ok(r, r->paths.v[k]))
					abort();
			memcpy(path, data, n);
			path[n] = '\0';
			(void)policy_route_path_ok(r, path);
		}
		policy_unref(p);
	} else if (p != NULL || diag.n_errors == 0) {
		abort();
	}
	policy_diag_fini(&diag);
	return 0;
}
