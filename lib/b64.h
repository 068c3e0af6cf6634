/* b64 — base64 (RFC 4648) through libsodium's constant-time codec: the URL-safe alphabet
 * without padding for JOSE (RFC 7515 §2), and the standard alphabet with padding for FHIR
 * base64Binary (whitespace between characters tolerated, as xs:base64Binary allows).
 * Decoding is strict: any other byte, a wrong length, wrong padding or non-zero leftover bits
 * (a non-canonical encoding) is -EINVAL. Output goes to a bounded struct buf (-E2BIG). */
#ifndef EHRGATE_B64_H
#define EHRGATE_B64_H

#include <stddef.h>

#include "lib/buf.h"

enum b64_variant {
	B64_URL_NOPAD, /* RFC 4648 §5, no '=' (JWS, JWK members) */
	B64_STD        /* RFC 4648 §4 with '=' padding; ASCII whitespace ignored */
};

int b64_encode(const void *in, size_t len, enum b64_variant v, struct buf *out) __attribute__((warn_unused_result));
int b64_decode(const char *in, size_t len, enum b64_variant v, struct buf *out) __attribute__((warn_unused_result));

#endif
