/* Fuzz target: JWS parsing and verification against a fixed JWK Set, plus base64url decode.
 * Security-critical: tokens come straight from the network (Authorization header). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct jose_jwks *keys;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char jwks[] =
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"k\","
		"\"x\":\"iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7\","
		"\"y\":\"iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7\"}]}";
	struct jose_token t;
	struct buf b;
	struct err e;

	if (keys == NULL && jose_jwks_parse(jwks, sizeof(jwks) - 1, &keys, &e) != 0)
		keys = NULL; /* an invalid point: still exercise the no-key path */
	jose_verify((const char *)data, size, keys, 6u, &t);
	jose_token_fini(&t);
	buf_init(&b, 1 << 16);
	(void)jose_b64url_decode((const char *)data, size, &b);
	buf_fini(&b);
	return 0;
}
