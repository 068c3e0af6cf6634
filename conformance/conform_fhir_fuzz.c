/* libFuzzer target: the simulated EHR's FHIR request parser and the prefetch template lint and
 * resolution — both read text chosen by the service under test (its FHIR call-backs and its
 * discovery document). Built by `make fuzz` (ci/fuzz), which links lib/, audit/ and sidecar/
 * only, so the conformance sources this target needs are compiled in here.
 * Seed corpus: fixtures/fuzz/conform_fhir/. */
#include "conformance/conform_fhir.c"
#include "conformance/conform_prefetch.c"
#include "conformance/conform_util.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conform_fhir *store;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conform_prefetch_ctx ctx = {"pat-001", "pat-001-enc-1", "Practitioner/dr-1", true};
	struct conform_lint lint[CONFORM_LINT_MAX];
	struct conform_fhir_answer a;
	char out[4096], *s;

	if (store == NULL) {
		const char *dir = getenv("EHRGATE_FIXTURES");
		char path[1024];
		struct err e = {0};

		snprintf(path, sizeof(path), "%s/patients", dir ? dir : "fixtures");
		if (conform_fhir_load(path, &store, &e) < 0)
			abort(); /* run from the top of the repository or set EHRGATE_FIXTURES */
	}
	if (size > 8192)
		return 0;
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	conform_fhir_get(store, s, "http://127.0.0.1:1/fhir/r4", &a);
	if (a.status != 200 && a.status != 400 && a.status != 404)
		abort();
	if (a.body)
		(void)conform_fhir_in_scope(a.body, "pat-001");
	cJSON_Delete(a.body);
	(void)conform_prefetch_lint("patient-view", s, lint, CONFORM_LINT_MAX);
	(void)conform_prefetch_resolve(s, &ctx, out, sizeof(out));
	free(s);
	return 0;
}
