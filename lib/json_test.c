#include "lib/json.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static cJSON *parse(const char *s, struct err *e)
{
	struct json_limits lim = {.max_bytes = 256, .max_depth = 4};

	return json_parse(s, strlen(s), &lim, e);
}

static void test_valid_and_accessors(void **state)
{
	struct err e;
	cJSON *j = parse("{\"a\":\"x\",\"n\":42,\"o\":{},\"l\":[1], \"f\":1.5}  \n", &e);
	int64_t v;

	(void)state;
	assert_non_null(j);
	assert_string_equal(json_str(j, "a"), "x");
	assert_null(json_str(j, "n"));
	assert_int_equal(json_i64(j, "n", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(json_i64(j, "f", &v), -EINVAL);
	assert_int_equal(json_i64(j, "zz", &v), -ENOENT);
	assert_non_null(json_obj(j, "o"));
	assert_non_null(json_arr(j, "l"));
	assert_null(json_arr(j, "o"));
	cJSON_Delete(j);
}

static void test_hostile_inputs(void **state)
{
	struct err e;
	char big[300];

	(void)state;
	assert_null(parse("[[[[[1]]]]]", &e));          /* depth 5 > 4 */
	assert_int_equal(e.code, -ELOOP);
	{
		cJSON *ok = parse("[[[[1]]]]", &e);     /* depth 4 == max */
		assert_non_null(ok);
		cJSON_Delete(ok);
	}
	assert_null(parse("{\"a\":1,\"a\":2}", &e));    /* duplicate key */
	assert_int_equal(e.code, -EEXIST);
	assert_null(parse("{\"x\":{\"b\":1,\"c\":2,\"b\":3}}", &e));
	assert_int_equal(e.code, -EEXIST);
	assert_null(parse("{\"a\":1} x", &e));          /* trailing garbage */
	assert_int_equal(e.code, -EINVAL);
	assert_null(parse("{\"a\":\"\xc0\xaf\"}", &e));  /* overlong UTF-8 */
	assert_int_equal(e.code, -EILSEQ);
	assert_null(parse("{\"a\":\"\xed\xa0\x80\"}", &e)); /* surrogate */
	assert_int_equal(e.code, -EILSEQ);
	assert_null(parse("{\"a\":\"\xe2\x82\"}", &e));  /* truncated sequence */
	assert_null(parse("{\"a\":", &e));
	assert_int_equal(e.code, -EINVAL);
	/* brackets inside strings do not count towards depth */
	{
		cJSON *ok = parse("{\"a\":\"[[[[[[\\\"[[[[\"}", &e);
		assert_non_null(ok);
		cJSON_Delete(ok);
	}
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	big[0] = '1';
	assert_null(parse(big, &e));
	assert_int_equal(e.code, -E2BIG);
	{
		struct json_limits lim = {.max_bytes = 256, .max_depth = 4};
		assert_null(json_parse("{\"a\":\"b\0c\"}", 11, &lim, &e)); /* embedded NUL */
	}
}

static void test_utf8_codepoints(void **state)
{
	(void)state;
	assert_int_equal(json_utf8_codepoints("abc", 3), 3);
	assert_int_equal(json_utf8_codepoints("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9), 3);
	assert_true(json_utf8_valid("\xf4\x8f\xbf\xbf", 4));
	assert_false(json_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(json_utf8_valid("\xff", 1));
}

static void test_pointer_escaping(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(json_pointer_append(&b, "cards"), 0);
	assert_int_equal(json_pointer_append(&b, "a/b~c"), 0);
	assert_string_equal(b.p, "/cards/a~1b~0c");
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_and_accessors),
		cmocka_unit_test(test_hostile_inputs),
		cmocka_unit_test(test_utf8_codepoints),
		cmocka_unit_test(test_pointer_escaping),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
