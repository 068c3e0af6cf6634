/* yamlx — a bounded, position-keeping YAML tree built from libyaml's event parser.
 *
 * Configuration files are written by people and read by a security component, so this layer
 * takes only the plain part of YAML: one document of mappings, sequences and scalars. It
 * refuses anchors and aliases (no billion-laughs expansion, no shared nodes), explicit tags,
 * duplicate mapping keys, non-scalar keys and multiple documents, and it bounds nesting depth,
 * scalar length, items per collection and total nodes. Every node keeps the 1-based line and
 * column of its first character so callers can report `file:line:col: key.path: message`.
 *
 * Scalars stay text; the caller decides their type (yamlx_is_null / yamlx_as_bool /
 * yamlx_as_i64 implement the YAML 1.2 core schema for *plain* scalars only — a quoted "true" is
 * a string). Problems are reported through a callback with a key path such as
 * `services[0].hooks[1]`; parsing continues after a non-fatal problem (the offending node
 * becomes YAMLX_BAD so a validator can skip it quietly) so that all problems are reported.
 */
#ifndef EHRGATE_YAMLX_H
#define EHRGATE_YAMLX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

enum yamlx_kind {
	YAMLX_SCALAR = 1,
	YAMLX_SEQ,
	YAMLX_MAP,
	YAMLX_BAD, /* a problem was already reported for this node (alias, over-long scalar...) */
};

struct yamlx_node {
	enum yamlx_kind kind;
	int line, col;            /* 1-based position of the node's first character */
	bool plain;               /* scalar written without quotes or block style */
	const char *str;          /* scalar text, NUL-terminated (never contains NUL) */
	size_t len;               /* scalar length in bytes */
	size_t n;                 /* SEQ: items; MAP: pairs */
	struct yamlx_node **items; /* SEQ: the items; MAP: the values */
	struct yamlx_node **keys;  /* MAP: the keys (scalars, or YAMLX_BAD) */
};

struct yamlx_limits {
	unsigned max_depth;       /* nested collections, root = 1 */
	size_t max_scalar_bytes;  /* per scalar */
	size_t max_items;         /* per sequence or mapping */
	size_t max_nodes;         /* per document */
};

#define YAMLX_LIMITS_DEFAULT \
	((struct yamlx_limits){.max_depth = 16, .max_scalar_bytes = 4096, .max_items = 1024, .max_nodes = 50000})

/* Called once per problem. line/col are 1-based (0 when no position is known); path is the
 * key path of the node ("" for the root or when unknown); msg has no trailing newline. The
 * strings are valid only during the call. */
typedef void (*yamlx_report_fn)(void *ctx, int line, int col, const char *path, const char *msg);

struct yamlx_doc {
	struct arena *arena;      /* owns every node and string */
	struct yamlx_node *root;  /* NULL for an empty stream or after a fatal problem */
	size_t n_problems;
};

/* Parse data[0..len) (UTF-8). Fills *doc (caller calls yamlx_doc_fini even on failure).
 * Returns 0 when nothing was reported, -EINVAL when any problem was reported. A syntax error,
 * a limit overrun or a second document stops the parse (root is kept when it is complete). */
int yamlx_parse(const char *data, size_t len, const struct yamlx_limits *lim, yamlx_report_fn report,
		void *ctx, struct yamlx_doc *doc);
void yamlx_doc_fini(struct yamlx_doc *doc);

/* Value of key in a mapping, or NULL when absent or when map is not a mapping. */
const struct yamlx_node *yamlx_map_get(const struct yamlx_node *map, const char *key);
/* Plain scalar "", "~", "null", "Null" or "NULL" (YAML 1.2 core schema). */
bool yamlx_is_null(const struct yamlx_node *n);
/* Plain true/True/TRUE/false/False/FALSE; -EINVAL otherwise ("yes"/"on" are strings). */
int yamlx_as_bool(const struct yamlx_node *n, bool *out);
/* Plain decimal integer [-+]?[0-9]+ within int64; -EINVAL otherwise, -ERANGE on overflow. */
int yamlx_as_i64(const struct yamlx_node *n, int64_t *out);
/* "a mapping", "a list", "a string", "an integer", "a boolean", "null", "an invalid value". */
const char *yamlx_kind_name(const struct yamlx_node *n);

#endif
