/* json — cJSON with limits, for JSON that arrives from the network or from files.
 *
 * json_parse() checks, before and after cJSON sees the bytes: total size, nesting depth,
 * valid UTF-8 (RFC 8259 §8.1), no trailing garbage, and no duplicate member names in any
 * object (ambiguous objects are a classic JWT/confusion attack; RFC 8259 §4 "SHOULD be
 * unique" — we require it). The caller owns the returned tree (cJSON_Delete).
 */
#ifndef EHRGATE_JSON_H
#define EHRGATE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "lib/buf.h"
#include "lib/err.h"

struct json_limits {
	size_t max_bytes;   /* whole document */
	unsigned max_depth; /* nesting of arrays/objects */
};

#define JSON_LIMITS_DEFAULT ((struct json_limits){.max_bytes = 4u << 20, .max_depth = 64})

/* Returns a tree or NULL with e set (-E2BIG size, -ELOOP depth, -EILSEQ UTF-8, -EINVAL syntax,
 * -EEXIST duplicate key). The message names the byte offset, never the content. */
cJSON *json_parse(const char *p, size_t len, const struct json_limits *lim, struct err *e);

/* Validate UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF). Returns true when valid. */
bool json_utf8_valid(const char *p, size_t len);
/* Number of Unicode code points in valid UTF-8. */
size_t json_utf8_codepoints(const char *p, size_t len);

/* Typed member access; NULL / false when missing or of the wrong type. */
const char *json_str(const cJSON *obj, const char *key);
cJSON *json_obj(const cJSON *obj, const char *key);
cJSON *json_arr(const cJSON *obj, const char *key);
/* Integer member (must be integral and within int64); -ENOENT missing, -EINVAL wrong type. */
int json_i64(const cJSON *obj, const char *key, int64_t *out);
/* Serialise compactly into a bounded buffer. */
int json_print(const cJSON *item, struct buf *out) __attribute__((warn_unused_result));
/* Append a JSON pointer segment (RFC 6901 escaping of ~ and /). */
int json_pointer_append(struct buf *ptr, const char *segment) __attribute__((warn_unused_result));

#endif
