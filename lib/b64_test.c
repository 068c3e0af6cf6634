/* b64_test — RFC 4648 §10 vectors in both variants, and the inputs a strict decoder must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/b64.h"

static void roundtrip(const char *plain, const char *url, const char *std)
{
	struct buf b;

	buf_init(&b, 1024);
	assert_int_equal(b64_encode(plain, strlen(plain), B64_URL_NOPAD, &b), 0);
	assert_int_equal(b.len, strlen(url));
	assert_memory_equal(b.p, url, b.len);
	buf_reset(&b);
	assert_int_equal(b64_encode(plain, strlen(plain), B64_STD, &b), 0);
	assert_int_equal(b.len, strlen(std));
	assert_memory_equal(b.p, std, b.len);
	buf_reset(&b);
	assert_int_equal(b64_decode(url, strlen(url), B64_URL_NOPAD, &b), 0);
	assert_int_equal(b.len, strlen(plain));
	if (b.len)
		assert_memory_equal(b.p, plain, b.len);
	buf_reset(&b);
	assert_int_equal(b64_decode(std, strlen(std), B64_STD, &b), 0);
	assert_int_equal(b.len, strlen(plain));
	if (b.len)
		assert_memory_equal(b.p, plain, b.len);
	buf_fini(&b);
}

static void test_rfc4648_vectors(void **state)
{
	(void)state;
	roundtrip("", "", "");
	roundtrip("f", "Zg", "Zg==");
	roundtrip("fo", "Zm8", "Zm8=");
	roundtrip("foo", "Zm9v", "Zm9v");
	roundtrip("foob", "Zm9vYg", "Zm9vYg==");
	roundtrip("fooba", "Zm9vYmE", "Zm9vYmE=");
	roundtrip("foobar", "Zm9vYmFy", "Zm9vYmFy");
	roundtrip("\xfb\xff", "-_8", "+/8=");
}

static int dec(const char *s, enum b64_variant v)
{
	struct buf b;
	int rc;

	buf_init(&b, 64);
	rc = b64_decode(s, strlen(s), v, &b);
	buf_fini(&b);
	return rc;
}

static void test_hostile(void **state)
{
	(void)state;
	/* base64url (JOSE): no padding, no whitespace, no standard alphabet, canonical bits */
	assert_int_equal(dec("Zg==", B64_URL_NOPAD), -EINVAL);
	assert_int_equal(dec("Zm 9v", B64_URL_NOPAD), -EINVAL);
	assert_int_equal(dec("+/8", B64_URL_NOPAD), -EINVAL);
	assert_int_equal(dec("Z", B64_URL_NOPAD), -EINVAL);      /* impossible length */
	assert_int_equal(dec("Zh", B64_URL_NOPAD), -EINVAL);     /* leftover bits set: malleable */
	assert_int_equal(dec("Zm9v\n", B64_URL_NOPAD), -EINVAL);
	assert_int_equal(dec("Zm9v\x80", B64_URL_NOPAD), -EINVAL);
	/* standard (FHIR base64Binary): padding required and last, whitespace allowed */
	assert_int_equal(dec("Zg", B64_STD), -EINVAL);
	assert_int_equal(dec("Zg=", B64_STD), -EINVAL);
	assert_int_equal(dec("Zg===", B64_STD), -EINVAL);
	assert_int_equal(dec("Zg==Zg==", B64_STD), -EINVAL);    /* data after padding */
	assert_int_equal(dec("Zh==", B64_STD), -EINVAL);
	assert_int_equal(dec("-_8=", B64_STD), -EINVAL);
	assert_int_equal(dec("Zm9v YmFy\r\n", B64_STD), 0);
	assert_int_equal(dec("Zm9v\tYg==", B64_STD), 0);
	assert_int_equal(dec("Zm9v\x00Yg==", B64_STD), 0);      /* strlen stops at NUL: "Zm9v" */
}

static void test_bounded_output(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 2);
	assert_int_equal(b64_decode("Zm9v", 4, B64_URL_NOPAD, &b), -E2BIG);
	buf_fini(&b);
	buf_init(&b, 3);
	assert_int_equal(b64_encode("foo", 3, B64_STD, &b), -E2BIG);
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_bounded_output),
	};
	return cmocka_run_group_tests_name("b64", tests, NULL, NULL);
}
