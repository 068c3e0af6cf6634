#include "lib/buf.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_append_within_max(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "abcd", 4), 0);
	assert_int_equal(buf_append(&b, "efg", 3), 0);   /* max-1 */
	assert_int_equal(buf_append(&b, "h", 1), 0);     /* exactly max */
	assert_int_equal(b.len, 8);
	assert_string_equal(b.p, "abcdefgh");
	assert_int_equal(buf_append(&b, "i", 1), -E2BIG); /* max+1 */
	assert_int_equal(b.len, 8);                       /* unchanged */
	assert_string_equal(b.p, "abcdefgh");
	buf_fini(&b);
}

static void test_printf_bounded(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "xy"), 0);
	assert_string_equal(b.p, "42-xy");
	assert_int_equal(buf_printf(&b, "%s", "123456"), -E2BIG);
	assert_string_equal(b.p, "42-xy");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.p, "");
	buf_fini(&b);
}

static void test_json_escape(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append_json_escaped(&b, "a\"b\\c\n\x01", 7), 0);
	assert_string_equal(b.p, "a\\\"b\\\\c\\n\\u0001");
	buf_fini(&b);
}

static void test_detach_empty(void **state)
{
	struct buf b;
	size_t n = 99;
	char *p;

	(void)state;
	buf_init(&b, 4);
	p = buf_detach(&b, &n);
	assert_non_null(p);
	assert_int_equal(n, 0);
	assert_string_equal(p, "");
	free(p);
}

static void test_large_growth(void **state)
{
	struct buf b;
	char chunk[1000];

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	buf_init(&b, 100000);
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 100000);
	assert_int_equal(buf_append(&b, "y", 1), -E2BIG);
	assert_true(b.cap <= b.max);
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_within_max),
		cmocka_unit_test(test_printf_bounded),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_detach_empty),
		cmocka_unit_test(test_large_growth),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
