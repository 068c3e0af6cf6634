/* strv — see lib/strv.h. */
#include "lib/strv.h"

#include <stdlib.h>

#include "lib/mem.h"

void strv_push(struct strv *s, const char *x)
{
	s->v = xrealloc(s->v, (s->n + 2) * sizeof(*s->v));
	s->v[s->n++] = x;
	s->v[s->n] = NULL;
}

void strv_fini(struct strv *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}
