/* hsre_test — digit-run bounds and anchors read from Vectorscan expressions, including
 * malformed and hostile ones (they must give the safe answer, never crash). */
#include "lib/hsre.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_digit_run(void **state)
{
	static const struct {
		const char *re;
		unsigned k;
	} cases[] = {
		{"MRN[0-9]{8}", 8},
		{"MRN[: ]{0,2}[0-9]{8}", 8},
		{"[A-Z]{3}[0-9]{9}", 9},
		{"\\d{3}-\\d{2}-\\d{4}", 4},
		{"[1-9][0-9]{7}", 8},      /* adjacent digit atoms add up */
		{"7\\d{5}", 6},            /* a literal digit is a digit atom */
		{"[0-9]{4,}X", 4},         /* the minimum of an open range */
		{"[0-9]{2,6}", 2},
		{"[0-9]+[A-Z]", 1},
		{"[[:digit:]]{5}", 5},
		{"[\\d]{5}", 5},
		{"(?:MRN|ID)[0-9]{8}", 8}, /* alternation inside a group is fine */
		{"(?i)mrn[0-9]{6}", 6},
		{"[0-9]{4}(-)?[0-9]{4}", 4}, /* a group ends the run: a smaller bound is still one */
		{"[0-9]?[0-9]{3}", 3},
		{"[0-9]*", 0},
		{"[A-Z]{3}", 0},
		{"MRN[0-9]{8}|[A-Z]{10}", 0}, /* top-level alternation */
		{"[^0-9]{8}", 0},
		{"[0-9a-f]{8}", 0},        /* a class with letters */
		{"[0-]{8}", 0},
		{"[+-9]{8}", 0},           /* a range from a non-digit */
		{"[0-7-9]{8}", 0},         /* a '-' after a range is a member (found by lib/hsre_fuzz.c) */
		{"[\\d-9]{8}", 0},         /* ... and after an escape */
		{"[0-79]{8}", 8},
		{"\\w{8}", 0},
		{"\\x30{8}", 0},           /* escapes the analysis does not read */
		{"\\Q123\\E", 0},
		{"(\\d)\\1{7}", 0},
		{"^[0-9]{8}", 0},          /* anchored */
		{"[0-9]{8}$", 0},
		{"\\A[0-9]{8}", 0},
		{"[0-9]{300}", 255},       /* capped */
		{"", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned k = hsre_digit_run(cases[i].re);
		if (k != cases[i].k)
			fail_msg("hsre_digit_run(\"%s\") = %u, expected %u", cases[i].re, k, cases[i].k);
	}
	assert_int_equal(hsre_digit_run(NULL), 0);
}

static void test_anchor(void **state)
{
	static const char *const yes[] = {"^MRN", "MRN$", "a|^b", "(^x)", "\\AMRN", "MRN\\z", "MRN\\Z",
					  "\\GX", "abc\\", "[0-9"};
	static const char *const no[] = {"MRN[0-9]{8}", "[\\^$]{2}", "[^0-9]", "\\^\\$", "a\\$b", "[$]"};

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!hsre_has_anchor(yes[i]))
			fail_msg("hsre_has_anchor(\"%s\") should be true", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (hsre_has_anchor(no[i]))
			fail_msg("hsre_has_anchor(\"%s\") should be false", no[i]);
}

/* Malformed expressions: unterminated classes and groups, stray quantifiers, a lone
 * backslash, huge repeat counts. Each is unprovable (0) and must not read past its end. */
static void test_hostile(void **state)
{
	static const char *const bad[] = {
		"[0-9",        "[",          "[]",           "[]0-9]{8}", "(",          "(((",
		"(?:[0-9]{8}", ")[0-9]{8}",  "{8}[0-9]",     "+[0-9]{8}", "[0-9]{8",    "[0-9]{99999999999}",
		"[0-9]{8,",    "\\",         "[0-9]{8}\\",   "[[:digit:", "[[:alpha:]]{8}", "((?#c)[0-9]{8}",
		"[0-9]{8}(",   "[0-9]{8}[",  "*",            "?",         "[0-9]{8}{2}", "[\\",
	};
	char big[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned k = hsre_digit_run(bad[i]);
		/* "[]0-9]{8}" has ']' as a member, "[0-9]{8}{2}" a quantifier without atom */
		if (k != 0)
			fail_msg("hsre_digit_run(\"%s\") = %u, expected 0", bad[i], k);
		(void)hsre_has_anchor(bad[i]);
	}
	/* a long run of nested groups and classes */
	for (size_t i = 0; i + 1 < sizeof(big); i++)
		big[i] = "([0-9]\\"[i % 8];
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(hsre_digit_run(big), 0);
	memset(big, '9', sizeof(big) - 1);
	assert_int_equal(hsre_digit_run(big), 255);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digit_run),
		cmocka_unit_test(test_anchor),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
