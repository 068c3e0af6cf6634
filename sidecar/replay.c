/* replay — open-addressing hash set of BLAKE2b(iss || 0 || jti) with expiry. Owns its table;
 * guarded by one mutex (the check-and-add must be atomic across worker threads). */
#include "sidecar/replay.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/mem.h"

struct slot {
	unsigned char key[32];
	int64_t expires;   /* 0 = empty */
};

struct replay_cache {
	pthread_mutex_t mu;
	struct slot *slots;
	size_t cap, max, used;
};

struct replay_cache *replay_cache_new(size_t max_entries)
{
	struct replay_cache *c = xcalloc(1, sizeof(*c));

	c->max = max_entries ? max_entries : 1;
	c->cap = 16;
	while (c->cap < c->max * 2)
		c->cap *= 2;
	c->slots = xcalloc(c->cap, sizeof(*c->slots));
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void replay_cache_free(struct replay_cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->mu);
	free(c->slots);
	free(c);
}

/* BLAKE2b-256 of iss || NUL || jti: no allocation per call (the EVP SHA-256 context this
 * replaced was 4.6 % of the sidecar's CPU, docs/PERFORMANCE.md §1.5). */
static void hash_key(const char *iss, const char *jti, unsigned char out[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const unsigned char *)iss, strlen(iss) + 1); /* NUL separates */
	crypto_generichash_update(&st, (const unsigned char *)jti, strlen(jti));
	crypto_generichash_final(&st, out, 32);
}

/* Rebuild the table without expired entries (also clears tombstone-free clusters). */
static void sweep(struct replay_cache *c, int64_t now)
{
	struct slot *old = c->slots;
	size_t i;

	c->slots = xcalloc(c->cap, sizeof(*c->slots));
	c->used = 0;
	for (i = 0; i < c->cap; i++) {
		if (old[i].expires > now) {
			size_t h;

			memcpy(&h, old[i].key, sizeof(h));
			for (h &= c->cap - 1; c->slots[h].expires; h = (h + 1) & (c->cap - 1))
				;
			c->slots[h] = old[i];
			c->used++;
		}
	}
	free(old);
}

int replay_cache_check_and_add(struct replay_cache *c, const char *iss, const char *jti,
			       int64_t expires_s, int64_t now_s)
{
	unsigned char key[32];
	size_t h;
	int rc = 0;

	hash_key(iss, jti, key);
	pthread_mutex_lock(&c->mu);
	if (c->used >= c->max)
		sweep(c, now_s);
	memcpy(&h, key, sizeof(h));
	for (h &= c->cap - 1; c->slots[h].expires; h = (h + 1) & (c->cap - 1)) {
		if (memcmp(c->slots[h].key, key, 32) == 0) {
			if (c->slots[h].expires > now_s) {
				rc = -EEXIST;
				goto out;
			}
			c->slots[h].expires = expires_s; /* expired sighting: reuse the slot */
			goto out;
		}
	}
	if (c->used >= c->max) {
		rc = -ENOSPC;
		goto out;
	}
	memcpy(c->slots[h].key, key, 32);
	c->slots[h].expires = expires_s > now_s ? expires_s : now_s + 1;
	c->used++;
out:
	pthread_mutex_unlock(&c->mu);
	return rc;
}

size_t replay_cache_size(struct replay_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->mu);
	n = c->used;
	pthread_mutex_unlock(&c->mu);
	return n;
}
