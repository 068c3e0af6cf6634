/* yamlx — builds a bounded YAML tree from libyaml parse events (never yaml_parser_load, which
 * resolves aliases and would share or expand nodes). Owns the tree through one arena per
 * document; the construction stack is malloc'd and freed before yamlx_parse returns.
 */
#include "lib/yamlx.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "lib/arena.h"
#include "lib/mem.h"

#define YAMLX_PATH_MAX 512
#define YAMLX_KEY_SHOW 64
/* The arena budget bounds what a document may cost: max_nodes nodes, their pointer arrays and
 * the scalar bytes (each at most max_scalar_bytes; together at most the input length plus
 * escapes). 64 MiB is far above what the default limits can use; exceeding it is a clean
 * "too large" problem, never a larger allocation. */
#define YAMLX_ARENA_MAX (64u << 20)

struct frame {
	struct yamlx_node *node;  /* SEQ or MAP being built */
	struct yamlx_node **items, **keys;
	size_t n, cap;
	bool want_value;          /* MAP: a key was read; the next node is its value */
	bool refused;             /* anchored or tagged: becomes YAMLX_BAD when finished */
	char path[YAMLX_PATH_MAX];
};

struct builder {
	const struct yamlx_limits *lim;
	yamlx_report_fn report;
	void *ctx;
	struct yamlx_doc *doc;
	struct frame *st;
	size_t depth;
	size_t nodes;
	bool fatal;
	struct yamlx_node *root;
};

static void problem(struct builder *b, int line, int col, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void problem(struct builder *b, int line, int col, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->doc->n_problems++;
	if (b->report)
		b->report(b->ctx, line, col, path ? path : "", msg);
}

/* Copy s for display in a message: printable ASCII kept, anything else '?', cut at n bytes. */
static void show(char *out, size_t cap, const char *s, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 4 < cap && i < YAMLX_KEY_SHOW; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (i < len && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Path of the node that is about to be attached to the top frame. */
static void child_path(const struct builder *b, char out[YAMLX_PATH_MAX])
{
	const struct frame *f;
	const struct yamlx_node *k;
	char key[YAMLX_KEY_SHOW + 8];

	if (b->depth == 0) {
		out[0] = '\0';
		return;
	}
	f = &b->st[b->depth - 1];
	if (f->node->kind == YAMLX_SEQ) {
		snprintf(out, YAMLX_PATH_MAX, "%s[%zu]", f->path, f->n);
		return;
	}
	if (!f->want_value) {
		snprintf(out, YAMLX_PATH_MAX, "%s", f->path);
		return;
	}
	k = f->keys[f->n];
	if (k->kind == YAMLX_SCALAR)
		show(key, sizeof(key), k->str, k->len);
	else
		snprintf(key, sizeof(key), "?");
	snprintf(out, YAMLX_PATH_MAX, "%s%s%s", f->path, f->path[0] ? "." : "", key);
}

static struct yamlx_node *node_new(struct builder *b, enum yamlx_kind kind, const yaml_mark_t *m)
{
	struct yamlx_node *n;

	if (++b->nodes > b->lim->max_nodes) {
		char path[YAMLX_PATH_MAX];

		child_path(b, path);
		problem(b, (int)m->line + 1, (int)m->column + 1, path, "document has more than %zu nodes",
			b->lim->max_nodes);
		b->fatal = true;
		return NULL;
	}
	n = arena_alloc(b->doc->arena, sizeof(*n));
	if (n == NULL) {
		problem(b, (int)m->line + 1, (int)m->column + 1, "", "document is too large");
		b->fatal = true;
		return NULL;
	}
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

static void vec_push(struct builder *b, struct frame *f, struct yamlx_node *key, struct yamlx_node *val)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		if (f->cap > b->lim->max_items)
			f->cap = b->lim->max_items;
		f->items = xrealloc(f->items, f->cap * sizeof(*f->items));
		if (f->node->kind == YAMLX_MAP)
			f->keys = xrealloc(f->keys, f->cap * sizeof(*f->keys));
	}
	if (f->node->kind == YAMLX_MAP)
		f->keys[f->n] = key;
	f->items[f->n++] = val;
}

/* Attach a finished node to its parent (or make it the root). */
static void attach(struct builder *b, struct yamlx_node *n)
{
	struct frame *f;
	char path[YAMLX_PATH_MAX];
	size_t i;

	if (b->depth == 0) {
		b->root = n;
		return;
	}
	f = &b->st[b->depth - 1];
	if (f->node->kind == YAMLX_SEQ || f->want_value) {
		if (f->n >= b->lim->max_items) {
			problem(b, f->node->line, f->node->col, f->path,
				"%s has more than %zu entries", f->node->kind == YAMLX_SEQ ? "list" : "mapping",
				b->lim->max_items);
			b->fatal = true;
			return;
		}
		if (f->node->kind == YAMLX_SEQ) {
			vec_push(b, f, NULL, n);
		} else {
			struct yamlx_node *k = f->keys[f->n];

			f->want_value = false;
			vec_push(b, f, k, n);
		}
		return;
	}
	/* A mapping key. Keys are compared by their text: 'a' and "a" are the same key. */
	if (n->kind != YAMLX_SCALAR) {
		if (n->kind != YAMLX_BAD)
			problem(b, n->line, n->col, f->path, "mapping keys must be plain strings");
		n->kind = YAMLX_BAD;
	} else {
		for (i = 0; i < f->n; i++) {
			const struct yamlx_node *k = f->keys[i];

			if (k->kind == YAMLX_SCALAR && k->len == n->len && memcmp(k->str, n->str, n->len) == 0) {
				char key[YAMLX_KEY_SHOW + 8];

				show(key, sizeof(key), n->str, n->len);
				snprintf(path, sizeof(path), "%s%s%s", f->path, f->path[0] ? "." : "", key);
				problem(b, n->line, n->col, path, "duplicate key (first at %d:%d)", k->line, k->col);
				n->kind = YAMLX_BAD;
				break;
			}
		}
	}
	/* Park the key in keys[n]; the pair is completed by the value. */
	if (f->n == f->cap) {
		if (f->n >= b->lim->max_items) {
			problem(b, f->node->line, f->node->col, f->path, "mapping has more than %zu entries",
				b->lim->max_items);
			b->fatal = true;
			return;
		}
		f->cap = f->cap ? f->cap * 2 : 8;
		if (f->cap > b->lim->max_items)
			f->cap = b->lim->max_items;
		f->items = xrealloc(f->items, f->cap * sizeof(*f->items));
		f->keys = xrealloc(f->keys, f->cap * sizeof(*f->keys));
	}
	f->keys[f->n] = n;
	f->want_value = true;
}

static void refuse_anchor_tag(struct builder *b, const yaml_mark_t *m, const yaml_char_t *anchor,
			      const yaml_char_t *tag, const char *path, struct yamlx_node *n)
{
	char s[YAMLX_KEY_SHOW + 8];

	/* Anchors and aliases are refused outright: aliases are how "billion laughs" documents
	 * multiply a few bytes into gigabytes, and a policy has no use for shared nodes. */
	if (anchor) {
		show(s, sizeof(s), (const char *)anchor, strlen((const char *)anchor));
		problem(b, (int)m->line + 1, (int)m->column + 1, path, "YAML anchors are not allowed (&%s)", s);
		if (n)
			n->kind = YAMLX_BAD;
	}
	if (tag) {
		show(s, sizeof(s), (const char *)tag, strlen((const char *)tag));
		problem(b, (int)m->line + 1, (int)m->column + 1, path, "YAML tags are not allowed (%s)", s);
		if (n)
			n->kind = YAMLX_BAD;
	}
}

static void on_scalar(struct builder *b, const yaml_event_t *ev)
{
	char path[YAMLX_PATH_MAX];
	struct yamlx_node *n = node_new(b, YAMLX_SCALAR, &ev->start_mark);
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	char *s;

	if (n == NULL)
		return;
	child_path(b, path);
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (len > b->lim->max_scalar_bytes) {
		problem(b, n->line, n->col, path, "string is %zu bytes, longer than the %zu-byte limit", len,
			b->lim->max_scalar_bytes);
		n->kind = YAMLX_BAD;
	} else if (memchr(v, '\0', len) != NULL) {
		problem(b, n->line, n->col, path, "string contains a NUL character");
		n->kind = YAMLX_BAD;
	} else {
		s = arena_strndup(b->doc->arena, v, len);
		if (s == NULL) {
			problem(b, n->line, n->col, path, "document is too large");
			b->fatal = true;
			return;
		}
		n->str = s;
		n->len = len;
	}
	/* libyaml leaves tag NULL unless the author wrote one (!!str, !foo, !). */
	refuse_anchor_tag(b, &ev->start_mark, ev->data.scalar.anchor, ev->data.scalar.tag, path, n);
	attach(b, n);
}

static void on_start(struct builder *b, const yaml_event_t *ev, enum yamlx_kind kind)
{
	struct yamlx_node *n;
	struct frame *f;
	const yaml_char_t *anchor, *tag;

	if (b->depth >= b->lim->max_depth) {
		char path[YAMLX_PATH_MAX];

		child_path(b, path);
		problem(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, path,
			"nesting deeper than %u levels", b->lim->max_depth);
		b->fatal = true;
		return;
	}
	n = node_new(b, kind, &ev->start_mark);
	if (n == NULL)
		return;
	f = &b->st[b->depth];
	memset(f, 0, sizeof(*f));
	f->node = n;
	child_path(b, f->path);
	if (kind == YAMLX_MAP) {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	} else {
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	}
	b->depth++;
	/* Report now with the container's own path, keep building so that problems inside are
	 * reported too, and mark the container BAD when it is finished (on_end). */
	refuse_anchor_tag(b, &ev->start_mark, anchor, tag, f->path, NULL);
	f->refused = anchor != NULL || tag != NULL;
}

static void on_end(struct builder *b)
{
	struct frame *f = &b->st[b->depth - 1];
	struct yamlx_node *n = f->node;
	bool refused = f->refused;

	n->n = f->n;
	if (f->node->kind == YAMLX_MAP && f->want_value) {
		/* Cannot happen with a well-formed event stream; be safe. */
		f->want_value = false;
	}
	if (f->n) {
		n->items = arena_alloc(b->doc->arena, f->n * sizeof(*n->items));
		if (n->kind == YAMLX_MAP)
			n->keys = arena_alloc(b->doc->arena, f->n * sizeof(*n->keys));
		if (n->items == NULL || (n->kind == YAMLX_MAP && n->keys == NULL)) {
			problem(b, n->line, n->col, f->path, "document is too large");
			b->fatal = true;
			n->n = 0;
		} else {
			memcpy(n->items, f->items, f->n * sizeof(*n->items));
			if (n->kind == YAMLX_MAP)
				memcpy(n->keys, f->keys, f->n * sizeof(*n->keys));
		}
	}
	free(f->items);
	free(f->keys);
	f->items = f->keys = NULL;
	b->depth--;
	if (refused)
		n->kind = YAMLX_BAD;
	if (!b->fatal)
		attach(b, n);
}

static void offset_to_pos(const char *data, size_t len, size_t off, int *line, int *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && i < len; i++) {
		if (data[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)data[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static void syntax_problem(struct builder *b, const yaml_parser_t *p, const char *data, size_t len)
{
	int line, col;

	if (p->error == YAML_READER_ERROR) {
		offset_to_pos(data, len, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			problem(b, line, col, "", "YAML syntax error: %s (byte 0x%02X)", p->problem ? p->problem : "unreadable input",
				(unsigned)p->problem_value & 0xffu);
		else
			problem(b, line, col, "", "YAML syntax error: %s", p->problem ? p->problem : "unreadable input");
		return;
	}
	if (p->error == YAML_MEMORY_ERROR) {
		problem(b, 0, 0, "", "YAML parser out of memory");
		return;
	}
	line = (int)p->problem_mark.line + 1;
	col = (int)p->problem_mark.column + 1;
	if (p->context)
		problem(b, line, col, "", "YAML syntax error: %s (%s started at %d:%d)", p->problem ? p->problem : "invalid YAML",
			p->context, (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
	else
		problem(b, line, col, "", "YAML syntax error: %s", p->problem ? p->problem : "invalid YAML");
}

int yamlx_parse(const char *data, size_t len, const struct yamlx_limits *lim, yamlx_report_fn report,
		void *ctx, struct yamlx_doc *doc)
{
	struct yamlx_limits dflt = YAMLX_LIMITS_DEFAULT;
	struct builder b;
	yaml_parser_t parser;
	yaml_event_t ev;
	int docs = 0;
	bool done = false;
	size_t i;

	memset(doc, 0, sizeof(*doc));
	doc->arena = arena_new(YAMLX_ARENA_MAX);
	memset(&b, 0, sizeof(b));
	b.lim = lim ? lim : &dflt;
	b.report = report;
	b.ctx = ctx;
	b.doc = doc;
	b.st = xcalloc(b.lim->max_depth + 1, sizeof(*b.st));

	if (!yaml_parser_initialize(&parser)) {
		problem(&b, 0, 0, "", "YAML parser out of memory");
		free(b.st);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (!done && !b.fatal) {
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_problem(&b, &parser, data, len);
			b.fatal = true;
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				problem(&b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1, "",
					"multiple YAML documents are not allowed (one policy per file)");
				done = true;
			}
			break;
		case YAML_SCALAR_EVENT:
			on_scalar(&b, &ev);
			break;
		case YAML_ALIAS_EVENT: {
			char path[YAMLX_PATH_MAX], s[YAMLX_KEY_SHOW + 8];
			struct yamlx_node *n = node_new(&b, YAMLX_BAD, &ev.start_mark);

			if (n == NULL)
				break;
			child_path(&b, path);
			show(s, sizeof(s), (const char *)ev.data.alias.anchor, strlen((const char *)ev.data.alias.anchor));
			problem(&b, n->line, n->col, path, "YAML aliases are not allowed (*%s)", s);
			attach(&b, n);
			break;
		}
		case YAML_SEQUENCE_START_EVENT:
			on_start(&b, &ev, YAMLX_SEQ);
			break;
		case YAML_MAPPING_START_EVENT:
			on_start(&b, &ev, YAMLX_MAP);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (b.depth > 0)
				on_end(&b);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	for (i = 0; i < b.depth; i++) {
		free(b.st[i].items);
		free(b.st[i].keys);
	}
	free(b.st);
	doc->root = (b.fatal && !(docs > 1)) ? NULL : b.root;
	return doc->n_problems ? -EINVAL : 0;
}

void yamlx_doc_fini(struct yamlx_doc *doc)
{
	if (doc == NULL)
		return;
	arena_free(doc->arena);
	memset(doc, 0, sizeof(*doc));
}

const struct yamlx_node *yamlx_map_get(const struct yamlx_node *map, const char *key)
{
	size_t i, klen;

	if (map == NULL || map->kind != YAMLX_MAP)
		return NULL;
	klen = strlen(key);
	for (i = 0; i < map->n; i++) {
		const struct yamlx_node *k = map->keys[i];

		if (k->kind == YAMLX_SCALAR && k->len == klen && memcmp(k->str, key, klen) == 0)
			return map->items[i];
	}
	return NULL;
}

bool yamlx_is_null(const struct yamlx_node *n)
{
	if (n == NULL || n->kind != YAMLX_SCALAR || !n->plain)
		return false;
	return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
	       strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

int yamlx_as_bool(const struct yamlx_node *n, bool *out)
{
	*out = false;
	if (n == NULL || n->kind != YAMLX_SCALAR || !n->plain)
		return -EINVAL;
	if (strcmp(n->str, "true") == 0 || strcmp(n->str, "True") == 0 || strcmp(n->str, "TRUE") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(n->str, "false") == 0 || strcmp(n->str, "False") == 0 || strcmp(n->str, "FALSE") == 0)
		return 0;
	return -EINVAL;
}

int yamlx_as_i64(const struct yamlx_node *n, int64_t *out)
{
	const char *s;
	size_t i = 0;
	bool neg = false;
	uint64_t v = 0;

	*out = 0;
	if (n == NULL || n->kind != YAMLX_SCALAR || !n->plain || n->len == 0)
		return -EINVAL;
	s = n->str;
	if (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == n->len)
		return -EINVAL;
	for (; i < n->len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if ((!neg && v > INT64_MAX) || (neg && v > (uint64_t)INT64_MAX + 1))
		return -ERANGE;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

const char *yamlx_kind_name(const struct yamlx_node *n)
{
	bool b;
	int64_t i;

	if (n == NULL)
		return "nothing";
	switch (n->kind) {
	case YAMLX_MAP:
		return "a mapping";
	case YAMLX_SEQ:
		return "a list";
	case YAMLX_BAD:
		return "an invalid value";
	case YAMLX_SCALAR:
		if (yamlx_is_null(n))
			return "null";
		if (yamlx_as_bool(n, &b) == 0)
			return "a boolean";
		if (yamlx_as_i64(n, &i) != -EINVAL)
			return "an integer";
		return "a string";
	}
	return "an invalid value";
}
