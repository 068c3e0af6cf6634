#include "lib/arena.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static void test_alloc_aligned_and_distinct(void **state)
{
	struct arena *a = arena_new(1 << 20);
	char *p, *q;

	(void)state;
	p = arena_alloc(a, 3);
	q = arena_alloc(a, 5);
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal((uintptr_t)p % 16, 0);
	assert_int_equal((uintptr_t)q % 16, 0);
	assert_true(q >= p + 3 || p >= q + 5);
	memset(p, 1, 3);
	memset(q, 2, 5);
	assert_int_equal(p[2], 1);
	arena_free(a);
}

static void test_budget_enforced(void **state)
{
	struct arena *a = arena_new(64);

	(void)state;
	assert_non_null(arena_alloc(a, 32));
	assert_non_null(arena_alloc(a, 32));       /* exactly the budget */
	assert_null(arena_alloc(a, 1));            /* over */
	assert_int_equal(arena_used(a), 64);
	arena_free(a);
	a = arena_new(100);
	assert_null(arena_alloc(a, (size_t)-1));   /* overflow in rounding */
	assert_null(arena_alloc(a, 200));
	arena_free(a);
}

static void test_big_allocation_and_strdup(void **state)
{
	struct arena *a = arena_new(1 << 20);
	char *big, *s;

	(void)state;
	big = arena_alloc(a, 100000);               /* larger than a block */
	assert_non_null(big);
	memset(big, 'z', 100000);
	s = arena_strdup(a, "hello");
	assert_string_equal(s, "hello");
	s = arena_strndup(a, "hello", 2);
	assert_string_equal(s, "he");
	arena_free(a);
	arena_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_aligned_and_distinct),
		cmocka_unit_test(test_budget_enforced),
		cmocka_unit_test(test_big_allocation_and_strdup),
	};
	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
