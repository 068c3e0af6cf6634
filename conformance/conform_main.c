/* ehrgate-conform — simulated EHR and conformance harness. Arrives with the conformance
 * issue; until then it prints usage and exits 2 rather than pretending to work. */
#include <stdio.h>

#include "lib/usage.h"

static const char usage[] =
	"usage: ehrgate-conform run --site POLICY --target URL [--ehr epic|oracle-health|generic] [--out DIR]\n"
	"The harness is not built yet: every command exits 2.\n";

int main(int argc, char **argv)
{
	usage_common(argc, argv, "ehrgate-conform", usage);
	usage_fail("ehrgate-conform", "not available yet: the conformance harness has not been built");
}
