#include "lib/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static size_t fmt(char *out, size_t cap, const char *rid, const char *event, const char *f, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, f);
	n = log_format(out, cap, LOGL_INFO, rid, event, f, ap);
	va_end(ap);
	return n;
}

static void test_fields_and_ids(void **state)
{
	char line[LOG_LINE_MAX];

	(void)state;
	log_init(2, LOGL_INFO, "ehrgate-test");
	fmt(line, sizeof(line), "r-1", "request", "route=%s status=%d bytes=%zu ms=%lld",
	    "llm", 200, (size_t)1234, 17LL);
	assert_non_null(strstr(line, " level=info prog=ehrgate-test rid=r-1 event=request "));
	assert_non_null(strstr(line, "route=llm status=200 bytes=1234 ms=17\n"));
}

/* A patient name, an email and a body passed by mistake must be defaced. */
static void test_phi_canaries_defaced(void **state)
{
	char line[LOG_LINE_MAX];

	(void)state;
	fmt(line, sizeof(line), NULL, "oops", "value=%s", "Zyxwv Canary-Patient, DOB 01/02/1933");
	assert_null(strstr(line, "Zyxwv Canary-Patient, DOB"));
	assert_null(strstr(line, "01/02/1933"));
	assert_null(strstr(line, " DOB"));
	fmt(line, sizeof(line), NULL, "oops", "value=%s", "canary@example.org");
	assert_null(strstr(line, "canary@example.org"));
	fmt(line, sizeof(line), NULL, "oops", "value=%s", "{\"name\":\"x\"}");
	assert_null(strchr(line, '{'));
	assert_null(strchr(line, '"'));
}

static void test_newline_injection_and_truncation(void **state)
{
	char line[LOG_LINE_MAX], longid[200];

	(void)state;
	fmt(line, sizeof(line), "a\nb", "ev\r\nfake=1", "k=%s", "x\ny");
	assert_int_equal(strchr(line, '\n'), line + strlen(line) - 1); /* one line only */
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0;
	fmt(line, sizeof(line), NULL, "e", "k=%s", longid);
	assert_non_null(strstr(line, "~"));
	assert_true(strlen(line) < 200);
	/* an empty identifier is shown as "-" and nothing past its terminator is read */
	fmt(line, sizeof(line), "", "e", "k=%s", "");
	assert_non_null(strstr(line, " rid=- event=e k=-\n"));
	/* tiny buffer: still terminated, still ends with a newline */
	fmt(line, 20, "rid", "event", "k=%d", 5);
	assert_int_equal(strlen(line), 19);
	assert_int_equal(line[18], '\n');
}

static void test_level_filter(void **state)
{
	int fds[2];
	char got[256];
	ssize_t n;
	enum log_level lv;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	log_init(fds[1], LOGL_WARN, "t");
	log_event(LOGL_INFO, NULL, "hidden", "a=%d", 1);
	log_event(LOGL_ERROR, NULL, "shown", "a=%d", 2);
	close(fds[1]);
	n = read(fds[0], got, sizeof(got) - 1);
	assert_true(n > 0);
	got[n] = 0;
	assert_null(strstr(got, "hidden"));
	assert_non_null(strstr(got, "event=shown a=2"));
	close(fds[0]);
	log_init(2, LOGL_INFO, "t");
	assert_int_equal(log_level_parse("warn", &lv), 0);
	assert_int_equal(lv, LOGL_WARN);
	assert_true(log_level_parse("loud", &lv) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_and_ids),
		cmocka_unit_test(test_phi_canaries_defaced),
		cmocka_unit_test(test_newline_injection_and_truncation),
		cmocka_unit_test(test_level_filter),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
