/* usage — shared --help/--version/usage-error handling for the ehrgate programs. */
#include "lib/usage.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage_prog = "ehrgate";

void usage_common(int argc, char **argv, const char *prog, const char *usage_text)
{
	usage_prog = prog;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", prog, EHRGATE_VERSION);
			exit(0);
		}
	}
}

void usage_fail(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog ? prog : usage_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try --help)\n");
	exit(EXIT_USAGE);
}
