/* conform_run — ownership helpers for a run (notes, teardown). */
#include "conformance/conform_run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/mem.h"

void conform_run_note(struct conform_run *r, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	r->notes = xrealloc(r->notes, (r->n_notes + 1) * sizeof(*r->notes));
	r->notes[r->n_notes++] = s;
}

void conform_run_fini(struct conform_run *r)
{
	for (size_t i = 0; i < r->n_ex; i++) {
		free(r->ex[i].path);
		free(r->ex[i].service);
		free(r->ex[i].hook);
		free(r->ex[i].variant);
		free(r->ex[i].error);
	}
	for (size_t i = 0; i < r->n_calls; i++)
		free(r->calls[i].path);
	for (size_t i = 0; i < r->n_lat; i++) {
		free(r->lat[i].service);
		free(r->lat[i].hook);
		conform_samples_fini(&r->lat[i].samples);
	}
	for (size_t i = 0; i < r->n_notes; i++)
		free(r->notes[i]);
	free(r->ex);
	free(r->calls);
	free(r->lat);
	free(r->notes);
	conform_results_free(r->results);
	conform_site_fini(&r->site);
	r->ex = NULL;
	r->calls = NULL;
	r->lat = NULL;
	r->notes = NULL;
	r->results = NULL;
	r->n_ex = r->n_calls = r->n_lat = r->n_notes = 0;
}
