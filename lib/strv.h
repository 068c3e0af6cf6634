/* strv — a growable list of borrowed C strings (the strings are not copied or freed), for
 * collecting repeatable command-line options. NULL-terminated after every push, so v can be
 * handed to APIs that take "const char *const *" lists. */
#ifndef EHRGATE_STRV_H
#define EHRGATE_STRV_H

#include <stddef.h>

struct strv {
	const char **v;
	size_t n;
};

void strv_push(struct strv *s, const char *x);
void strv_fini(struct strv *s); /* frees the array, not the strings */

#endif
