/* Fuzz target: a CDS Hooks response from an (untrusted) AI service through json_parse,
 * cds_validate_response and cds_enforce in both modes. */
#include <stdint.h>
#include <stdlib.h>

#include "lib/cds_card.h"
#include "lib/json.h"
#include "lib/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = {"ServiceRequest"};
	static const char *const links[] = {"https://apps.example/launch"};
	struct cds_approvals ap = {.create = types, .n_create = 1, .smart_links = links, .n_smart_links = 1};
	struct cds_findings *f = xcalloc(1, sizeof(*f));
	struct cds_strips *s = xcalloc(1, sizeof(*s));
	struct err e;
	cJSON *j = json_parse((const char *)data, size, NULL, &e);

	if (j) {
		cds_validate_response(j, f);
		cds_enforce(j, f, &ap, false, s);
		cds_enforce(j, f, &ap, true, s);
		cds_validate_response(j, f);
		cJSON_Delete(j);
	}
	free(f);
	free(s);
	return 0;
}
