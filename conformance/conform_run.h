/* conform_run — one run of ehrgate-conform against a target: its configuration, the exchanges
 * it made, the FHIR calls the service made back, latency series and the check results. The
 * runner (conform_runner.c) fills it; the report writers (conform_report.c) only read it.
 */
#ifndef EHRGATE_CONFORM_RUN_H
#define EHRGATE_CONFORM_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conformance/conform_check.h"
#include "conformance/conform_profile.h"
#include "conformance/conform_site.h"
#include "conformance/conform_stats.h"

#define CONFORM_GROUPS_ALL ((1u << CONFORM_G_COUNT) - 1)

/* What the user asked for (command line). Strings are borrowed from argv. */
struct conform_options {
	const char *site_path;
	const char *target;          /* CDS base URL, no trailing slash */
	const char *ehr;             /* profile name; NULL = the site's ehr */
	const char *out_dir;
	unsigned iterations;         /* latency calls per hook */
	unsigned concurrency;
	unsigned groups;             /* bitmask of 1u << CONFORM_G_* */
	const char *fixtures_dir;    /* NULL = found by conform_fixtures_dir() */
	const char *const *ehr_keys; /* PEM files */
	size_t n_ehr_keys;
	const char *iss;             /* NULL = site client / profile / harness URL */
	const char *jku;             /* "auto", "none" or a URL */
	const char *aud;             /* configured aud (epic), NULL = URL called */
	const char *listen;          /* host:port of the simulated EHR (JWKS + FHIR); NULL = 127.0.0.1:0 */
	const char *client_id;       /* the service's OAuth client id (fhirAuthorization.subject) */
	unsigned timeout_ms;         /* per request; 0 = max(2 x deadline, 5000) */
	bool quiet;
};

/* One HTTP exchange with the target (bodies are not kept). */
struct conform_exchange {
	char rid[16];
	char method[8];
	char *path;       /* path part of the URL called */
	char *service, *hook, *variant;
	int status;       /* -1: no answer */
	double ms;
	char *error;      /* transport error text, or NULL */
};

/* One call the service made to the simulated EHR's FHIR API. */
struct conform_fhir_call {
	char rid[16];     /* the hook call whose token was used, "" when the token was unknown */
	char *path;       /* path and query */
	int status;
	bool token_ok;    /* Authorization carried a token issued for a call */
	bool in_scope;    /* only the context patient's data was asked for */
};

struct conform_lat_series {
	char *service, *hook;
	struct conform_samples samples;
	struct conform_latency sum;
	double wall_ms;
};

struct conform_run {
	struct conform_options opt;
	struct conform_site site;
	const struct conform_profile *profile;
	char fixtures[4096];
	char ehr_base[256];       /* the simulated EHR (loopback), e.g. http://127.0.0.1:41234 */
	char iss[512];
	int64_t started_ms, finished_ms;
	unsigned deadline_ms;
	bool reachable;
	struct conform_results *results;
	struct conform_exchange *ex;
	size_t n_ex;
	struct conform_fhir_call *calls;
	size_t n_calls;
	struct conform_lat_series *lat;
	size_t n_lat;
	char **notes;             /* configuration notes shown in the report */
	size_t n_notes;
	int exit_code;            /* 0 pass, 1 fail, 3 unreachable */
};

void conform_run_note(struct conform_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free everything the run owns (not opt strings). */
void conform_run_fini(struct conform_run *r);

#endif
