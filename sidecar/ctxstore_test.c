#include "sidecar/ctxstore.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define TOK(c) (memset(tok, c, 32), tok[32] = 0, tok)

static void test_put_get_evict_expire(void **state)
{
	struct ctxstore *s = ctxstore_new(2, 1);
	struct ctxentry *e, *r[4];
	char tok[33];

	(void)state;
	ctxstore_put(s, TOK('a'), "pat-001", "enc-1", NULL);
	ctxstore_put(s, TOK('b'), "pat-002", NULL, NULL);
	e = ctxstore_get(s, TOK('a'));
	assert_non_null(e);
	assert_string_equal(e->patient_id, "pat-001");
	assert_string_equal(e->encounter_id, "enc-1");
	assert_null(ctxstore_get(s, "short"));
	assert_null(ctxstore_get(s, TOK('z')));
	/* full: 'a' is evicted but stays valid for its holder */
	ctxstore_put(s, TOK('c'), "pat-003", NULL, NULL);
	assert_null(ctxstore_get(s, TOK('a')));
	assert_string_equal(e->patient_id, "pat-001");
	ctxentry_release(e);
	assert_int_equal(ctxstore_recent(s, r, 4), 2);
	assert_string_equal(r[0]->patient_id, "pat-003"); /* newest first */
	assert_string_equal(r[1]->patient_id, "pat-002");
	ctxentry_release(r[0]);
	ctxentry_release(r[1]);
	/* TTL 1 s */
	usleep(1100000);
	assert_null(ctxstore_get(s, TOK('c')));
	assert_int_equal(ctxstore_recent(s, r, 4), 0);
	assert_int_equal(ctxstore_count(s), 0);
	ctxstore_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_evict_expire),
	};
	return cmocka_run_group_tests_name("ctxstore", tests, NULL, NULL);
}
