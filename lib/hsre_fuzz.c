/* Fuzz target: lib/hsre on hostile expression text, and the soundness of its digit-run bound.
 * The input (at most 256 bytes, NUL-terminated) is read by hsre_has_anchor and hsre_digit_run;
 * when a bound k > 0 is claimed and Vectorscan compiles the expression, every match on a set
 * of texts must hold k consecutive digits, or the PHI scanner's site windows would miss it. */
#include <hs/hs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hsre.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const texts[] = {
	"MRN12345678 MRN: 87654321 ABC123456789 ID-1234567 x9y88z777 12-34-5678 (617) 555-0199",
	"1234567890123456789012345678901234567890 a1b22c333d4444e55555f666666g7777777h88888888",
	"A 1 B 12 C 123 D 1234 E 12345 F 123456 G 1234567 H 12345678 I 123456789 J 1234567890",
	"2026-11-24T03:18:33Z 1.2.840.114350 192.168.0.1 +1 701 949 7516 00555248 94314-9723",
};

struct ctx {
	const char *t;
	unsigned k;
};

static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *arg)
{
	const struct ctx *c = arg;
	unsigned run = 0, best = 0;

	(void)id;
	(void)flags;
	for (unsigned long long i = from; i < to; i++) {
		run = c->t[i] >= '0' && c->t[i] <= '9' ? run + 1 : 0;
		best = run > best ? run : best;
	}
	if (best < c->k)
		abort(); /* the claimed bound is false */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char re[257];
	hs_database_t *db = NULL;
	hs_scratch_t *scr = NULL;
	hs_compile_error_t *ce = NULL;
	unsigned k;

	if (size > 256)
		size = 256;
	memcpy(re, data, size);
	re[size] = '\0';
	(void)hsre_has_anchor(re);
	k = hsre_digit_run(re);
	if (k == 0 || strlen(re) != size)
		return 0;
	if (hs_compile(re, HS_FLAG_SOM_LEFTMOST, HS_MODE_BLOCK, NULL, &db, &ce) != HS_SUCCESS) {
		hs_free_compile_error(ce);
		return 0;
	}
	if (hs_alloc_scratch(db, &scr) == HS_SUCCESS) {
		for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
			struct ctx c = {texts[i], k};
			hs_scan(db, texts[i], (unsigned)strlen(texts[i]), 0, scr, on_match, &c);
		}
	}
	hs_free_scratch(scr);
	hs_free_database(db);
	return 0;
}
