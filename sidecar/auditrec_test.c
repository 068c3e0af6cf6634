#include "sidecar/auditrec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/json.h"
#include "lib/mem.h"

static void test_record_is_valid_json_with_fields(void **state)
{
	struct auditrec r;
	struct cds_strips *s = xcalloc(1, sizeof(*s));
	struct buf b;
	struct err e;
	cJSON *j;

	(void)state;
	auditrec_init(&r, "cds.call", "abc123", "demo-general");
	auditrec_set(r.service, sizeof(r.service), "sepsis-risk");
	auditrec_set(r.patient, sizeof(r.patient), "Patient/pat-\"001");
	r.decision = "strip";
	r.status = 200;
	auditrec_add_rule(&r, "POLICY-ACTION-CREATE");
	auditrec_add_rule(&r, "POLICY-ACTION-CREATE");
	r.prefetch_removed[r.n_removed++] = xstrdup("meds");
	s->n = 1;
	s->v[0].rule = "POLICY-LINK-SMART";
	s->v[0].card = 0;
	strcpy(s->v[0].pointer, "/cards/0/links/1"); /* lint: allow */
	r.strips = s;
	r.timings_us[METRICS_STAGE_AUTH] = 120;
	r.timings_us[METRICS_STAGE_TOTAL] = 900;
	buf_init(&b, 1 << 16);
	assert_int_equal(auditrec_json(&r, &b), 0);
	j = json_parse(b.p, b.len, NULL, &e);
	assert_non_null(j);
	assert_string_equal(json_str(j, "decision"), "strip");
	assert_string_equal(json_str(j, "patient"), "Patient/pat-\"001");
	assert_int_equal(cJSON_GetArraySize(json_arr(j, "rules")), 1);
	assert_string_equal(cJSON_GetArrayItem(json_arr(j, "prefetch_removed"), 0)->valuestring, "meds");
	assert_string_equal(json_str(cJSON_GetArrayItem(json_arr(j, "stripped"), 0), "pointer"), "/cards/0/links/1");
	assert_non_null(cJSON_GetObjectItem(json_obj(j, "timings_us"), "auth"));
	assert_null(cJSON_GetObjectItem(json_obj(j, "timings_us"), "upstream"));
	assert_null(cJSON_GetObjectItem(j, "hook")); /* empty fields are omitted */
	cJSON_Delete(j);
	buf_fini(&b);
	auditrec_fini(&r);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_is_valid_json_with_fields),
	};
	return cmocka_run_group_tests_name("auditrec", tests, NULL, NULL);
}
