/* ehrgate-sidecar — command line. `--check POLICY` lints a site policy (DESIGN.md §4: exit 0
 * OK, 2 errors); `--site POLICY` loads the policy and runs the ingress, egress and admin
 * listeners (sidecar/serve.c) until SIGTERM.
 *
 * Output of --check: every diagnostic on stderr, one per line, in file order (errors as
 * `file:line:col: key.path: message`, then `warning: ...` for expired or not-yet-active
 * approvals and `note: ...` for approvals expiring within 30 days); on success one summary
 * line on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/policy.h"
#include "lib/usage.h"
#include "sidecar/serve.h"

static const char usage[] =
	"usage: ehrgate-sidecar --site POLICY [--ready-file PATH] [--workers N]\n"
	"       ehrgate-sidecar --check POLICY [--today YYYY-MM-DD]\n"
	"\n"
	"  --site POLICY        run the sidecar for the site policy (YAML, docs/policy.md);\n"
	"                       SIGHUP reloads the policy, SIGTERM drains and exits\n"
	"  --ready-file PATH    with --site: write {\"pid\",\"ingress\",\"admin\"} ports here once listening\n"
	"  --workers N          with --site: worker threads (default: ingress.workers, else cores)\n"
	"  --check POLICY       validate the policy and every file it references; print each\n"
	"                       problem as file:line:col: key.path: message; exit 0 when valid,\n"
	"                       2 when not\n"
	"  --today YYYY-MM-DD   with --check: judge approval expiry as of this date (CI can ask\n"
	"                       \"will this policy still be approved on release day?\")\n"
	"  --help, --version\n";

#define PROG "ehrgate-sidecar"

int main(int argc, char **argv)
{
	const char *check = NULL, *site = NULL, *today_s = NULL, *ready = NULL, *workers_s = NULL;
	struct serve_opts so = {0};
	struct policy_load_opts opts = {0};
	struct policy_diag diag;
	struct policy *p = NULL;
	char summary[512];
	int i, rc;

	usage_common(argc, argv, PROG, usage);
	for (i = 1; i < argc; i++) {
		const char **slot = NULL;

		if (strcmp(argv[i], "--check") == 0)
			slot = &check;
		else if (strcmp(argv[i], "--site") == 0)
			slot = &site;
		else if (strcmp(argv[i], "--today") == 0)
			slot = &today_s;
		else if (strcmp(argv[i], "--ready-file") == 0)
			slot = &ready;
		else if (strcmp(argv[i], "--workers") == 0)
			slot = &workers_s;
		else
			usage_fail(PROG, "unknown argument '%s'", argv[i]);
		if (i + 1 >= argc)
			usage_fail(PROG, "%s needs a value", argv[i]);
		if (*slot)
			usage_fail(PROG, "%s given twice", argv[i]);
		*slot = argv[++i];
	}
	if ((check == NULL) == (site == NULL))
		usage_fail(PROG, "give exactly one of --check POLICY or --site POLICY");
	if ((ready || workers_s) && site == NULL)
		usage_fail(PROG, "--ready-file and --workers only apply to --site");
	if (workers_s) {
		char *end;
		unsigned long n = strtoul(workers_s, &end, 10);

		if (*end || n < 1 || n > 256)
			usage_fail(PROG, "--workers: expected a number from 1 to 256");
		so.workers = (unsigned)n;
	}
	if (today_s) {
		if (check == NULL)
			usage_fail(PROG, "--today only applies to --check");
		if (clock_parse_date(today_s, &opts.today_days) != 0)
			usage_fail(PROG, "--today: malformed date (expected YYYY-MM-DD)");
		opts.today_set = true;
	}

	policy_diag_init(&diag);
	rc = policy_load(check ? check : site, &opts, &p, &diag);
	fflush(stdout);
	policy_diag_print(&diag, stderr);
	policy_diag_fini(&diag);
	if (rc != 0)
		return EXIT_USAGE;
	if (check) {
		policy_summary(p, opts.today_set ? opts.today_days : policy_today_days(), summary, sizeof(summary));
		printf("%s\n", summary);
		policy_unref(p);
		return 0;
	}
	so.policy_path = site;
	so.ready_file = ready;
	return serve_run(p, &so);
}
