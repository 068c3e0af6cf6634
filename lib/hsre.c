/* hsre — facts about a Vectorscan expression read from its text (lib/hsre.h).
 *
 * Used for the site identifier formats of a policy (phi.mrn_patterns / member_id_patterns):
 * the policy loader refuses anchors, and the PHI scanner (sidecar/phi.c site_scan) scans a
 * pattern only around long digit runs when hsre_digit_run proves every match holds one.
 *
 * The analysis is deliberately conservative. It reads the top level of the expression as a
 * sequence of atoms with quantifiers; any top-level alternation, or anything it does not
 * recognise, gives 0. An atom that can only match an ASCII digit (`\d`, `[0-9]`, `[1-9]`, `7`)
 * with minimum repeat m adds m to the current run; every other atom ends the run (even one
 * that may match the empty string: a smaller bound is still a true bound). The result is the
 * longest such run: every match of the expression contains that many consecutive digits.
 */
#include "lib/hsre.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* End of the bracket expression starting at re[i] == '[' (index after ']'), or 0 if it does
 * not end. *digits is set when every member is an ASCII digit or a range of digits. */
static size_t class_end(const char *re, size_t i, bool *digits)
{
	size_t j = i + 1;
	bool only = true, any = false, single = false; /* single: the last member was one byte */

	if (re[j] == '^') {
		only = false;
		j++;
	}
	if (re[j] == ']') { /* a leading ']' is a member */
		only = false;
		single = true;
		j++;
	}
	while (re[j] && re[j] != ']') {
		char c = re[j];
		if (c == '\\') {
			if (!re[j + 1])
				return 0;
			if (re[j + 1] != 'd')
				only = false;
			any = true;
			single = false; /* "[\\d-9]": the '-' after an escape is a member */
			j += 2;
			continue;
		}
		if (c == '[' && re[j + 1] == ':') { /* [:digit:] and friends */
			const char *e = strstr(re + j + 2, ":]");
			if (!e)
				return 0;
			if (strncmp(re + j, "[:digit:]", 9) != 0)
				only = false;
			any = true;
			single = false;
			j = (size_t)(e - re) + 2;
			continue;
		}
		if (c == '-' && single && re[j + 1] && re[j + 1] != ']') {
			/* a range: both ends must be digits (the low end was checked as a member) */
			if (!(re[j + 1] >= '0' && re[j + 1] <= '9'))
				only = false;
			single = false; /* "[0-7-9]": a '-' after a range is a member */
			j += 2;
			continue;
		}
		if (!(c >= '0' && c <= '9'))
			only = false;
		any = true;
		single = true;
		j++;
	}
	if (re[j] != ']')
		return 0;
	*digits = only && any;
	return j + 1;
}

/* End of the group starting at re[i] == '(' (index after its ')'), or 0. */
static size_t group_end(const char *re, size_t i)
{
	size_t j = i + 1;
	int depth = 1;

	while (re[j]) {
		char c = re[j];
		if (c == '\\') {
			if (!re[j + 1])
				return 0;
			j += 2;
		} else if (c == '[') {
			bool d;
			j = class_end(re, j, &d);
			if (!j)
				return 0;
		} else {
			j++;
			if (c == '(')
				depth++;
			else if (c == ')' && --depth == 0)
				return j;
		}
	}
	return 0;
}

/* Quantifier at re[*i]: sets *min (1 when there is none) and advances past it (and a lazy or
 * possessive suffix). false on a malformed brace. */
static bool quantifier(const char *re, size_t *i, unsigned long *min)
{
	size_t j = *i;

	*min = 1;
	if (re[j] == '?' || re[j] == '*') {
		*min = 0;
		j++;
	} else if (re[j] == '+') {
		j++;
	} else if (re[j] == '{' && re[j + 1] >= '0' && re[j + 1] <= '9') {
		unsigned long m = 0;
		j++;
		while (re[j] >= '0' && re[j] <= '9') {
			m = m * 10 + (unsigned long)(re[j] - '0');
			if (m > 100000)
				return false;
			j++;
		}
		if (re[j] == ',') {
			j++;
			while (re[j] >= '0' && re[j] <= '9')
				j++;
		}
		if (re[j] != '}')
			return false;
		j++;
		*min = m;
	} else {
		return true;
	}
	if (re[j] == '?' || re[j] == '+')
		j++;
	*i = j;
	return true;
}

bool hsre_has_anchor(const char *re)
{
	for (size_t i = 0; re[i];) {
		if (re[i] == '\\') {
			if (!re[i + 1] || strchr("AzZG", re[i + 1]))
				return true;
			i += 2;
		} else if (re[i] == '[') {
			bool d;
			i = class_end(re, i, &d);
			if (!i)
				return true;
		} else if (re[i] == '^' || re[i] == '$') {
			return true;
		} else {
			i++;
		}
	}
	return false;
}

unsigned hsre_digit_run(const char *re)
{
	unsigned long run = 0, best = 0, min;
	size_t i = 0;

	if (!re || hsre_has_anchor(re))
		return 0;
	while (re[i]) {
		char c = re[i];
		bool digit = false;
		size_t j;

		switch (c) {
		case '|':
			return 0; /* top-level alternation: a branch may hold no digit */
		case ')':
		case '{':
		case '}':
		case '?':
		case '*':
		case '+':
			return 0; /* unbalanced or a quantifier without an atom */
		case '\\':
			if (!re[i + 1])
				return 0;
			/* \d only; \Q..\E, \x.., \p{..}, back-references: not understood */
			if (strchr("QExpPkg0123456789cNoRX", re[i + 1]))
				return 0;
			digit = re[i + 1] == 'd';
			j = i + 2;
			break;
		case '[':
			j = class_end(re, i, &digit);
			if (!j)
				return 0;
			break;
		case '(':
			j = group_end(re, i);
			if (!j)
				return 0;
			break;
		default:
			digit = c >= '0' && c <= '9';
			j = i + 1;
			break;
		}
		if (!quantifier(re, &j, &min))
			return 0;
		if (digit) {
			run += min;
			if (run > best)
				best = run;
		} else {
			run = 0;
		}
		i = j;
	}
	return best > 255 ? 255 : (unsigned)best;
}
