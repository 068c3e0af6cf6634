/* ehrgate-audit — reviewer CLI for the audit log. Subcommands arrive with the audit issue;
 * until then every subcommand is refused with exit 2 rather than pretending to work. */
#include <stdio.h>

#include "lib/usage.h"

static const char usage[] =
	"usage: ehrgate-audit keygen|append|verify|show|export|stats ...\n"
	"The audit log is not built yet: every subcommand exits 2.\n";

int main(int argc, char **argv)
{
	usage_common(argc, argv, "ehrgate-audit", usage);
	usage_fail("ehrgate-audit", "not available yet: the audit log has not been built");
}
