#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/yamlx.h"

/* Every problem as "L:C path: msg\n", concatenated. */
struct probs {
	char text[8192];
	size_t len;
	int n;
};

static void collect(void *ctx, int line, int col, const char *path, const char *msg)
{
	struct probs *p = ctx;
	int n = snprintf(p->text + p->len, sizeof(p->text) - p->len, "%d:%d %s: %s\n", line, col, path, msg);

	if (n > 0 && (size_t)n < sizeof(p->text) - p->len)
		p->len += (size_t)n;
	p->n++;
}

static int parse(const char *s, const struct yamlx_limits *lim, struct yamlx_doc *doc, struct probs *p)
{
	memset(p, 0, sizeof(*p));
	return yamlx_parse(s, strlen(s), lim, collect, p, doc);
}

static void test_positions_and_structure(void **state)
{
	struct yamlx_doc doc;
	struct probs p;
	const struct yamlx_node *b, *c;

	(void)state;
	assert_int_equal(parse("# comment\na: 1\nb:\n  - x\n  - 'y'\nc: {d: e}\n", NULL, &doc, &p), 0);
	assert_int_equal(p.n, 0);
	assert_non_null(doc.root);
	assert_int_equal(doc.root->kind, YAMLX_MAP);
	assert_int_equal(doc.root->line, 2);
	assert_int_equal(doc.root->col, 1);
	assert_int_equal(doc.root->n, 3);
	b = yamlx_map_get(doc.root, "b");
	assert_non_null(b);
	assert_int_equal(b->kind, YAMLX_SEQ);
	assert_int_equal(b->line, 4);
	assert_int_equal(b->col, 3);
	assert_int_equal(b->n, 2);
	assert_string_equal(b->items[1]->str, "y");
	assert_false(b->items[1]->plain);
	assert_true(b->items[0]->plain);
	assert_int_equal(b->items[1]->line, 5);
	assert_int_equal(b->items[1]->col, 5);
	c = yamlx_map_get(doc.root, "c");
	assert_int_equal(c->kind, YAMLX_MAP);
	assert_int_equal(c->col, 4);
	assert_string_equal(yamlx_map_get(c, "d")->str, "e");
	assert_null(yamlx_map_get(doc.root, "zz"));
	assert_null(yamlx_map_get(b, "x")); /* not a mapping */
	yamlx_doc_fini(&doc);
}

static void test_scalar_types(void **state)
{
	struct yamlx_doc doc;
	struct probs p;
	const struct yamlx_node *r;
	int64_t i;
	bool bo;

	(void)state;
	assert_int_equal(parse("n1: \nn2: ~\nn3: null\nq: 'null'\nt: true\nqt: \"true\"\nyes: yes\n"
			       "i: -42\nbig: 9223372036854775808\nmin: -9223372036854775808\nf: 1.5\n",
			       NULL, &doc, &p), 0);
	r = doc.root;
	assert_true(yamlx_is_null(yamlx_map_get(r, "n1")));
	assert_true(yamlx_is_null(yamlx_map_get(r, "n2")));
	assert_true(yamlx_is_null(yamlx_map_get(r, "n3")));
	assert_false(yamlx_is_null(yamlx_map_get(r, "q")));
	assert_string_equal(yamlx_kind_name(yamlx_map_get(r, "q")), "a string");
	assert_int_equal(yamlx_as_bool(yamlx_map_get(r, "t"), &bo), 0);
	assert_true(bo);
	assert_int_equal(yamlx_as_bool(yamlx_map_get(r, "qt"), &bo), -EINVAL);
	/* YAML 1.2 core schema: "yes" is a string, not a boolean (the Norway problem). */
	assert_int_equal(yamlx_as_bool(yamlx_map_get(r, "yes"), &bo), -EINVAL);
	assert_string_equal(yamlx_kind_name(yamlx_map_get(r, "yes")), "a string");
	assert_int_equal(yamlx_as_i64(yamlx_map_get(r, "i"), &i), 0);
	assert_int_equal(i, -42);
	assert_int_equal(yamlx_as_i64(yamlx_map_get(r, "big"), &i), -ERANGE);
	assert_int_equal(yamlx_as_i64(yamlx_map_get(r, "min"), &i), 0);
	assert_true(i == INT64_MIN);
	assert_int_equal(yamlx_as_i64(yamlx_map_get(r, "f"), &i), -EINVAL);
	assert_string_equal(yamlx_kind_name(yamlx_map_get(r, "i")), "an integer");
	assert_string_equal(yamlx_kind_name(yamlx_map_get(r, "t")), "a boolean");
	assert_string_equal(yamlx_kind_name(yamlx_map_get(r, "n1")), "null");
	yamlx_doc_fini(&doc);
}

static void test_anchor_alias_refused(void **state)
{
	struct yamlx_doc doc;
	struct probs p;
	const struct yamlx_node *b;

	(void)state;
	assert_int_equal(parse("a: &x [1, 2]\nb: *x\nc: &s plain\n", NULL, &doc, &p), -EINVAL);
	assert_string_equal(p.text, "1:4 a: YAML anchors are not allowed (&x)\n"
				    "2:4 b: YAML aliases are not allowed (*x)\n"
				    "3:4 c: YAML anchors are not allowed (&s)\n");
	assert_non_null(doc.root);
	assert_int_equal(yamlx_map_get(doc.root, "a")->kind, YAMLX_BAD);
	b = yamlx_map_get(doc.root, "b");
	assert_int_equal(b->kind, YAMLX_BAD);
	assert_int_equal(yamlx_map_get(doc.root, "c")->kind, YAMLX_BAD);
	yamlx_doc_fini(&doc);
}

static void test_billion_laughs_is_cheap(void **state)
{
	struct yamlx_doc doc;
	struct probs p;
	char buf[4096];
	size_t o = 0;

	(void)state;
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "a: &a [x, x, x, x, x, x, x, x, x, x]\n");
	for (char c = 'b'; c <= 'j'; c++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n",
				      c, c, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
	assert_int_equal(parse(buf, NULL, &doc, &p), -EINVAL);
	/* 10 anchors + 90 aliases reported, nothing expanded. */
	assert_int_equal(p.n, 100);
	yamlx_doc_fini(&doc);
}

static void test_tags_and_keys(void **state)
{
	struct yamlx_doc doc;
	struct probs p;

	(void)state;
	assert_int_equal(parse("a: !!str 5\nb: !!map {c: d}\n? [x]\n: y\n", NULL, &doc, &p), -EINVAL);
	assert_string_equal(p.text, "1:4 a: YAML tags are not allowed (tag:yaml.org,2002:str)\n"
				    "2:4 b: YAML tags are not allowed (tag:yaml.org,2002:map)\n"
				    "3:3 : mapping keys must be plain strings\n");
	yamlx_doc_fini(&doc);
}

static void test_duplicate_keys(void **state)
{
	struct yamlx_doc doc;
	struct probs p;

	(void)state;
	assert_int_equal(parse("s:\n  id: a\n  name: n\n  'id': b\n", NULL, &doc, &p), -EINVAL);
	assert_string_equal(p.text, "4:3 s.id: duplicate key (first at 2:3)\n");
	/* The first value wins for lookups. */
	assert_string_equal(yamlx_map_get(yamlx_map_get(doc.root, "s"), "id")->str, "a");
	yamlx_doc_fini(&doc);
}

static void test_limits(void **state)
{
	struct yamlx_limits lim = {.max_depth = 3, .max_scalar_bytes = 8, .max_items = 4, .max_nodes = 40};
	struct yamlx_doc doc;
	struct probs p;

	(void)state;
	/* depth: root map (1), a list (2), inner list (3), innermost (4) refused */
	assert_int_equal(parse("a: [[1, [2]]]\n", &lim, &doc, &p), -EINVAL);
	assert_string_equal(p.text, "1:9 a[0][1]: nesting deeper than 3 levels\n");
	assert_null(doc.root);
	yamlx_doc_fini(&doc);
	/* depth max is allowed */
	assert_int_equal(parse("a: [[1, 2]]\n", &lim, &doc, &p), 0);
	yamlx_doc_fini(&doc);

	/* items: 4 fine, 5 refused */
	assert_int_equal(parse("a: [1, 2, 3, 4]\n", &lim, &doc, &p), 0);
	yamlx_doc_fini(&doc);
	assert_int_equal(parse("a: [1, 2, 3, 4, 5]\n", &lim, &doc, &p), -EINVAL);
	assert_string_equal(p.text, "1:4 a: list has more than 4 entries\n");
	yamlx_doc_fini(&doc);
	assert_int_equal(parse("a: 1\nb: 2\nc: 3\nd: 4\ne: 5\n", &lim, &doc, &p), -EINVAL);
	assert_string_equal(p.text, "1:1 : mapping has more than 4 entries\n");
	yamlx_doc_fini(&doc);

	/* scalars: 8 bytes fine, 9 refused (and parsing goes on) */
	assert_int_equal(parse("a: 12345678\nb: 123456789\nc: [x, 123456789]\n", &lim, &doc, &p), -EINVAL);
	assert_string_equal(p.text, "2:4 b: string is 9 bytes, longer than the 8-byte limit\n"
				    "3:8 c[1]: string is 9 bytes, longer than the 8-byte limit\n");
	assert_non_null(doc.root);
	assert_int_equal(yamlx_map_get(doc.root, "b")->kind, YAMLX_BAD);
	yamlx_doc_fini(&doc);

	/* nodes */
	lim.max_nodes = 5;
	assert_int_equal(parse("a: [1, 2]\nb: 3\n", &lim, &doc, &p), -EINVAL);
	assert_string_equal(p.text, "2:1 : document has more than 5 nodes\n");
	yamlx_doc_fini(&doc);
}

static void test_documents_and_syntax(void **state)
{
	struct yamlx_doc doc;
	struct probs p;

	(void)state;
	assert_int_equal(parse("", NULL, &doc, &p), 0);
	assert_null(doc.root);
	yamlx_doc_fini(&doc);
	assert_int_equal(parse("# only a comment\n", NULL, &doc, &p), 0);
	assert_null(doc.root);
	yamlx_doc_fini(&doc);

	assert_int_equal(parse("a: 1\n---\nb: 2\n", NULL, &doc, &p), -EINVAL);
	assert_string_equal(p.text, "2:1 : multiple YAML documents are not allowed (one policy per file)\n");
	assert_non_null(doc.root); /* the first document is kept for further checks */
	yamlx_doc_fini(&doc);

	assert_int_equal(parse("a: [1, 2\nb: 3\n", NULL, &doc, &p), -EINVAL);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.text, "2:2 : YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence started at 1:4)\n");
	assert_null(doc.root);
	yamlx_doc_fini(&doc);

	/* invalid UTF-8: a reader error, positioned by byte offset */
	assert_int_equal(parse("a: ok\nb: \xff\n", NULL, &doc, &p), -EINVAL);
	assert_string_equal(p.text, "2:4 : YAML syntax error: invalid leading UTF-8 octet (byte 0xFF)\n");
	yamlx_doc_fini(&doc);

	/* a NUL written as an escape never reaches callers as a C string */
	assert_int_equal(parse("a: \"x\\0y\"\n", NULL, &doc, &p), -EINVAL);
	assert_string_equal(p.text, "1:4 a: string contains a NUL character\n");
	yamlx_doc_fini(&doc);
}

/* Whole input vs every split point must be irrelevant here (one buffer), but every prefix of a
 * valid document must parse or fail cleanly: no crash, no leak (run under ASan). */
static void test_every_prefix(void **state)
{
	static const char doc_text[] = "version: 1\nsite: {id: x, name: 'y z'}\nlist:\n  - [a, b]\n  - {k: v}\n";
	struct yamlx_doc doc;
	struct probs p;

	(void)state;
	for (size_t n = 0; n <= sizeof(doc_text) - 1; n++) {
		memset(&p, 0, sizeof(p));
		yamlx_parse(doc_text, n, NULL, collect, &p, &doc);
		if (p.n == 0 && n == sizeof(doc_text) - 1)
			assert_non_null(doc.root);
		yamlx_doc_fini(&doc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positions_and_structure),
		cmocka_unit_test(test_scalar_types),
		cmocka_unit_test(test_anchor_alias_refused),
		cmocka_unit_test(test_billion_laughs_is_cheap),
		cmocka_unit_test(test_tags_and_keys),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_documents_and_syntax),
		cmocka_unit_test(test_every_prefix),
	};

	return cmocka_run_group_tests_name("yamlx", tests, NULL, NULL);
}
