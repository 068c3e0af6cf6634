/* json — bounded parsing and small accessors over cJSON. Owns nothing it returns. */
#include "lib/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool json_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		uint32_t cp;
		size_t n, k;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1; cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2; cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3; cp = c & 0x07;
		} else {
			return false;
		}
		if (n >= len - i)
			return false; /* truncated sequence */
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

size_t json_utf8_codepoints(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* Depth scan outside strings; cheap and runs before cJSON allocates anything. */
static int scan_depth(const char *p, size_t len, unsigned max_depth, size_t *bad_off)
{
	unsigned depth = 0;
	bool in_str = false;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max_depth) {
				*bad_off = i;
				return -ELOOP;
			}
		} else if (c == '}' || c == ']') {
			if (depth > 0)
				depth--;
		}
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;

	return strcmp(x->string, y->string);
}

static int check_dups(const cJSON *node)
{
	const cJSON *c;
	size_t n = 0, i;
	const cJSON **v;
	int rc = 0;

	if (cJSON_IsObject(node)) {
		for (c = node->child; c; c = c->next)
			n++;
		if (n > 1) {
			v = malloc(n * sizeof(*v));
			if (v == NULL)
				abort();
			i = 0;
			for (c = node->child; c; c = c->next)
				v[i++] = c;
			qsort(v, n, sizeof(*v), cmp_names);
			for (i = 1; i < n; i++)
				if (strcmp(v[i - 1]->string, v[i]->string) == 0)
					rc = -EEXIST;
			free(v);
			if (rc)
				return rc;
		}
	}
	for (c = node->child; c; c = c->next) {
		rc = check_dups(c);
		if (rc)
			return rc;
	}
	return 0;
}

cJSON *json_parse(const char *p, size_t len, const struct json_limits *lim, struct err *e)
{
	struct json_limits def = JSON_LIMITS_DEFAULT;
	const char *end = NULL;
	cJSON *root = NULL;
	size_t off = 0;
	int rc;

	if (lim == NULL)
		lim = &def;
	if (len > lim->max_bytes) {
		err_set(e, -E2BIG, "JSON document of %zu bytes exceeds the limit of %zu", len, lim->max_bytes);
		return NULL;
	}
	if (!json_utf8_valid(p, len)) {
		err_set(e, -EILSEQ, "JSON is not valid UTF-8");
		return NULL;
	}
	if (memchr(p, '\0', len) != NULL) {
		err_set(e, -EINVAL, "JSON contains a NUL byte");
		return NULL;
	}
	rc = scan_depth(p, len, lim->max_depth, &off);
	if (rc < 0) {
		err_set(e, rc, "JSON nesting deeper than %u at byte %zu", lim->max_depth, off);
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(p, len, &end, 0);
	if (root == NULL) {
		const char *ep = cJSON_GetErrorPtr();
		size_t at = (ep && ep >= p && ep <= p + len) ? (size_t)(ep - p) : 0;

		err_set(e, -EINVAL, "JSON syntax error at byte %zu", at);
		return NULL;
	}
	while (end && end < p + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != p + len) {
		err_set(e, -EINVAL, "trailing data after JSON value at byte %zu", (size_t)(end - p));
		cJSON_Delete(root);
		return NULL;
	}
	if (check_dups(root) < 0) {
		err_set(e, -EEXIST, "JSON object has a duplicate member name");
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

cJSON *json_obj(const cJSON *obj, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsObject(v) ? v : NULL;
}

cJSON *json_arr(const cJSON *obj, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsArray(v) ? v : NULL;
}

int json_i64(const cJSON *obj, const char *key, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	double d;

	*out = 0;
	if (v == NULL)
		return -ENOENT;
	if (!cJSON_IsNumber(v))
		return -EINVAL;
	d = v->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < -9.2e18 || d > 9.2e18)
		return -EINVAL;
	*out = (int64_t)d;
	return 0;
}

int json_print(const cJSON *item, struct buf *out)
{
	char *s = cJSON_PrintUnformatted(item);
	int rc;

	if (s == NULL)
		abort(); /* cJSON only fails here on allocation */
	rc = buf_append_str(out, s);
	cJSON_free(s);
	return rc;
}

int json_pointer_append(struct buf *ptr, const char *seg)
{
	int rc = buf_append(ptr, "/", 1);

	for (; rc == 0 && *seg; seg++) {
		if (*seg == '~')
			rc = buf_append(ptr, "~0", 2);
		else if (*seg == '/')
			rc = buf_append(ptr, "~1", 2);
		else
			rc = buf_append(ptr, seg, 1);
	}
	return rc;
}
