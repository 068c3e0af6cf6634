/* serve — run ehrgate-sidecar for one site: worker threads, admin listener, signals. */
#ifndef EHRGATE_SERVE_H
#define EHRGATE_SERVE_H

#include "lib/policy.h"

struct serve_opts {
	const char *policy_path;
	const char *ready_file;   /* written with the bound ports once listening; may be NULL */
	unsigned workers;         /* 0 = policy's ingress.workers, else the number of cores */
};

/* Takes over the policy reference. Returns the process exit code (0 after a clean SIGTERM,
 * 1 when something fails at startup, with one line on stderr). */
int serve_run(struct policy *p, const struct serve_opts *o);

#endif
