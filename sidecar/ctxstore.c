/* ctxstore — a bounded, TTL'd, reference-counted table of patient contexts. Owns every entry
 * and, through it, each phi_context (wiped on free). */
#include "sidecar/ctxstore.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/clock.h"
#include "lib/mem.h"

struct ctxstore {
	pthread_mutex_t mu;
	struct ctxentry **v;       /* v[0] oldest ... v[n-1] newest */
	size_t n, max;
	unsigned ttl_s;
};

struct ctxstore *ctxstore_new(size_t max_entries, unsigned ttl_s)
{
	struct ctxstore *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->mu, NULL);
	s->max = max_entries ? max_entries : 1;
	s->v = xcalloc(s->max, sizeof(*s->v));
	s->ttl_s = ttl_s;
	return s;
}

static void entry_destroy(struct ctxentry *e)
{
	phi_context_free(e->phi); /* wipes the identifiers */
	sodium_memzero(e, sizeof(*e));
	free(e);
}

/* Caller holds the mutex. Drops the store's reference; destroys when unused. New references
 * are only handed out under the mutex while the entry is a member, so the count cannot rise
 * from zero. */
static void drop_locked(struct ctxentry *e)
{
	if (atomic_fetch_sub(&e->refs, 1) == 1)
		entry_destroy(e);
}

static void remove_at_locked(struct ctxstore *s, size_t i)
{
	drop_locked(s->v[i]);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
}

static void expire_locked(struct ctxstore *s, int64_t now)
{
	while (s->n > 0 && s->v[0]->expires_ms <= now)
		remove_at_locked(s, 0);
}

void ctxstore_free(struct ctxstore *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	while (s->n)
		remove_at_locked(s, s->n - 1);
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_destroy(&s->mu);
	free(s->v);
	free(s);
}

void ctxstore_put(struct ctxstore *s, const char *token, const char *patient_id, const char *encounter_id,
		  struct phi_context *phi)
{
	struct ctxentry *e = xcalloc(1, sizeof(*e));
	int64_t now = clock_mono_ms();

	snprintf(e->token, sizeof(e->token), "%s", token);
	snprintf(e->patient_id, sizeof(e->patient_id), "%s", patient_id ? patient_id : "");
	snprintf(e->encounter_id, sizeof(e->encounter_id), "%s", encounter_id ? encounter_id : "");
	e->phi = phi;
	e->expires_ms = now + (int64_t)s->ttl_s * 1000;
	atomic_init(&e->refs, 1);
	pthread_mutex_lock(&s->mu);
	expire_locked(s, now);
	if (s->n == s->max)
		remove_at_locked(s, 0);
	s->v[s->n++] = e;
	pthread_mutex_unlock(&s->mu);
}

struct ctxentry *ctxstore_get(struct ctxstore *s, const char *token)
{
	struct ctxentry *found = NULL;

	if (token == NULL || strlen(token) != CTXSTORE_TOKEN_LEN)
		return NULL;
	pthread_mutex_lock(&s->mu);
	expire_locked(s, clock_mono_ms());
	for (size_t i = 0; i < s->n; i++) {
		/* constant-time compare: the token is a bearer capability */
		if (sodium_memcmp(s->v[i]->token, token, CTXSTORE_TOKEN_LEN) == 0) {
			found = s->v[i];
			atomic_fetch_add(&found->refs, 1);
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return found;
}

size_t ctxstore_recent(struct ctxstore *s, struct ctxentry **out, size_t max)
{
	size_t k = 0;

	pthread_mutex_lock(&s->mu);
	expire_locked(s, clock_mono_ms());
	for (size_t i = s->n; i > 0 && k < max; i--) {
		out[k] = s->v[i - 1];
		atomic_fetch_add(&out[k]->refs, 1);
		k++;
	}
	pthread_mutex_unlock(&s->mu);
	return k;
}

void ctxentry_release(struct ctxentry *e)
{
	if (e && atomic_fetch_sub(&e->refs, 1) == 1)
		entry_destroy(e);
}

size_t ctxstore_count(struct ctxstore *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}
