/* replay — a bounded, thread-safe set of seen JWT ids (CDS Hooks best practice step 6;
 * research/cds-hooks.md check 36: a jti already seen within its lifetime is refused).
 *
 * Entries expire at the token's exp (+ skew). When the set is full of unexpired entries an
 * insert fails and the caller refuses the request (fail closed): only tokens that already
 * passed signature verification are ever inserted, so only a trusted client can fill it.
 */
#ifndef EHRGATE_REPLAY_H
#define EHRGATE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

struct replay_cache;

struct replay_cache *replay_cache_new(size_t max_entries);
void replay_cache_free(struct replay_cache *c);
/* 0 = first sighting (now remembered until expires_s), -EEXIST = replay, -ENOSPC = full. */
int replay_cache_check_and_add(struct replay_cache *c, const char *iss, const char *jti,
			       int64_t expires_s, int64_t now_s);
size_t replay_cache_size(struct replay_cache *c);

#endif
