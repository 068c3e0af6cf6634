/* b64 — base64 encode/decode on libsodium (sodium_bin2base64 / sodium_base642bin), replacing
 * two hand-written decoders (JOSE base64url and FHIR attachment base64). See lib/b64.h. */
#include "lib/b64.h"

#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/mem.h"

static int sodium_variant(enum b64_variant v)
{
	return v == B64_URL_NOPAD ? sodium_base64_VARIANT_URLSAFE_NO_PADDING : sodium_base64_VARIANT_ORIGINAL;
}

int b64_encode(const void *in, size_t len, enum b64_variant v, struct buf *out)
{
	int sv = sodium_variant(v);
	size_t cap = sodium_base64_ENCODED_LEN(len, sv); /* includes the NUL */
	char *tmp;
	int rc;

	if (len > (SIZE_MAX / 4) * 3 - 3)
		return -E2BIG;
	tmp = xmalloc(cap);
	sodium_bin2base64(tmp, cap, in, len, sv);
	rc = buf_append(out, tmp, cap - 1);
	free(tmp);
	return rc;
}

int b64_decode(const char *in, size_t len, enum b64_variant v, struct buf *out)
{
	size_t cap = len / 4 * 3 + 3, n = 0;
	const char *end = NULL;
	unsigned char *tmp;
	int rc;

	if (len == 0)
		return 0;
	tmp = xmalloc(cap);
	/* with b64_end given, libsodium stops at the first byte it does not accept: the whole
	 * input must have been consumed */
	if (sodium_base642bin(tmp, cap, in, len, v == B64_STD ? " \t\r\n" : NULL, &n, &end, sodium_variant(v)) != 0 ||
	    end != in + len)
		rc = -EINVAL;
	else
		rc = buf_append(out, tmp, n);
	sodium_memzero(tmp, cap); /* may be key material or a clinical note */
	free(tmp);
	return rc;
}
