/* conform_util — small helpers shared by the harness and the reference service: reading a
 * bounded file, random UUIDs, locating the fixtures directory. */
#ifndef EHRGATE_CONFORM_UTIL_H
#define EHRGATE_CONFORM_UTIL_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "lib/buf.h"
#include "lib/err.h"


/* Parse a JSON file with json_parse limits (max bytes). Caller frees. */
cJSON *conform_read_json(const char *path, size_t max, struct err *e);
/* Write a whole file atomically (path.tmp + rename). */
int conform_write_file(const char *path, const void *data, size_t len, struct err *e) __attribute__((warn_unused_result));
/* A random (version 4) UUID, lower case: out holds 37 bytes. */
void conform_uuid4(char out[37]);
/* Random lower-case hex string of 2*nbytes characters (out holds 2*nbytes+1). */
void conform_random_hex(char *out, size_t nbytes);
/* The fixtures directory: $EHRGATE_FIXTURES, else <exe>/../fixtures, <exe>/../../../fixtures,
 * ./fixtures — the first that holds patients/index.json. Writes into out; -ENOENT if none. */
int conform_fixtures_dir(char *out, size_t cap);

#endif
