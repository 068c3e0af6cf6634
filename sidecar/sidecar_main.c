/* ehrgate-sidecar — placeholder main until the policy loader lands. */
#include <stdio.h>

#include "lib/usage.h"

static const char usage[] =
	"usage: ehrgate-sidecar --site POLICY | --check POLICY\n";

int main(int argc, char **argv)
{
	usage_common(argc, argv, "ehrgate-sidecar", usage);
	usage_fail("ehrgate-sidecar", "not available yet");
}
