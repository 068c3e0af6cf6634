/* hsre — facts about a Vectorscan (PCRE-subset) expression, read from its text without
 * compiling it. Conservative: when in doubt the answer is the safe one (an anchor is
 * assumed; no digit run is proved). */
#ifndef EHRGATE_HSRE_H
#define EHRGATE_HSRE_H

#include <stdbool.h>

/* Does re use an anchor (^, $, \A, \z, \Z, \G) outside a bracket expression, or end in a lone
 * backslash? */
bool hsre_has_anchor(const char *re);

/* A lower bound on the run of consecutive ASCII digits in every match of re; 0 when nothing is
 * proved (including any anchored expression). Capped at 255. */
unsigned hsre_digit_run(const char *re);

#endif
