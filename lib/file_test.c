#include "lib/file.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static void test_read_bounds_and_errors(void **state)
{
	char path[] = "/tmp/ehrgate-file-test-XXXXXX";
	int fd = mkstemp(path);
	struct buf b;
	struct err e;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	close(fd);
	buf_init(&b, 100);
	assert_int_equal(file_read_all(path, 10, &b, &e), 0);   /* exactly max */
	assert_int_equal(b.len, 10);
	assert_string_equal(b.p, "0123456789");
	buf_reset(&b);
	assert_int_equal(file_read_all(path, 9, &b, &e), -E2BIG); /* max + 1 */
	assert_non_null(strstr(e.msg, "larger than 9 bytes"));
	buf_fini(&b);
	buf_init(&b, 5);                                          /* the buffer's own maximum */
	assert_int_equal(file_read_all(path, 100, &b, &e), -E2BIG);
	buf_fini(&b);
	unlink(path);
	buf_init(&b, 100);
	assert_int_equal(file_read_all(path, 100, &b, &e), -ENOENT);
	assert_non_null(strstr(e.msg, path));
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_bounds_and_errors),
	};
	return cmocka_run_group_tests_name("file", tests, NULL, NULL);
}
