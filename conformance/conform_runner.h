/* conform_runner — runs every selected check group against the target, acting as the EHR
 * described by the site policy and the EHR profile, and fills a struct conform_run.
 */
#ifndef EHRGATE_CONFORM_RUNNER_H
#define EHRGATE_CONFORM_RUNNER_H

#include "conformance/conform_run.h"
#include "lib/err.h"

/* r->opt must be set. Loads the site policy, the profile, fixtures and keys, starts the
 * simulated EHR on loopback, runs the checks and finishes the results. Returns the exit code
 * (0 every MUST check passed, 1 some failed, 3 target unreachable), or a negative errno for a
 * configuration error (the caller exits 2) with e filled. */
int conform_run_execute(struct conform_run *r, struct err *e);

#endif
