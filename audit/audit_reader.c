/* audit_reader — the reviewer's side: decrypt and select records, statistics, key re-wrapping
 * (docs/audit-format.md §5–§7).
 *
 * Owns nothing persistent. Per segment it unseals K_0 with the reviewer key, checks it against
 * the OPEN record's commitment, and ratchets forward batch by batch (records are visited in seq
 * order, so each batch key is derived once). Selection by patient/user/decision uses the keyed
 * blind-index tags when an index key is at hand (given, or sealed in the segment envelope); the
 * index is advisory, so every record it points at is re-checked (offset bounds, header seq,
 * AEAD) before it is shown. Plaintext lives in sodium_malloc memory and is wiped after the
 * callback returns.
 */
#include "audit/audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_fmt.h"
#include "lib/buf.h"
#include "lib/mem.h"

struct rsec {
	uint8_t key[32];      /* batch key */
	uint8_t idx[32];      /* index key in effect */
	uint8_t env[AF_ENV_PLAIN];
	char tagv[3][AUDIT_TAG_VALUE_MAX + 1];
};

struct rseg {
	uint64_t seg;
	uint8_t *log, *keys, *idx;
	size_t log_len, keys_len, idx_len;
	bool log_mapped, idx_mapped;
	struct af_open op;
	uint32_t batch;
	bool has_index;
};

static void rseg_free(struct rseg *s)
{
	af_unmap_file(s->log, s->log_len, s->log_mapped);
	free(s->keys);
	af_unmap_file(s->idx, s->idx_len, s->idx_mapped);
	memset(s, 0, sizeof *s);
}

static bool peek_open(const uint8_t *log, size_t len, struct af_open *op)
{
	struct af_hdr h;
	const char *why;
	if (len < AF_HDR + AF_OPEN_LEN || af_hdr_decode(log, &h, &why) != 0 || h.type != AF_OPEN)
		return false;
	return af_open_decode(log + AF_HDR, h.len, op) == 0;
}

/* Load a segment's files and (with rk) its keys into sec. want_idx loads the .idx too. */
static int rseg_load(const char *dir, uint64_t seg, const struct audit_secret *rk, const struct audit_secret *ik,
		     bool want_idx, struct rseg *s, struct rsec *sec, struct err *e)
{
	char path[4096];
	struct err ie;
	uint8_t commit[32];
	int rc;

	memset(s, 0, sizeof *s);
	s->seg = seg;
	af_seg_path(path, sizeof path, dir, seg, "log");
	if ((rc = af_map_file(path, AF_SEGMENT_FILE_MAX, &s->log, &s->log_len, &s->log_mapped, e)) != 0)
		return rc;
	if (!peek_open(s->log, s->log_len, &s->op) || s->op.segment != seg)
		return err_set(e, -EBADMSG, "%s: corrupt (no valid OPEN record)", path);
	if (want_idx) {
		af_seg_path(path, sizeof path, dir, seg, "idx");
		err_clear(&ie);
		if (af_map_file(path, AF_SEGMENT_FILE_MAX, &s->idx, &s->idx_len, &s->idx_mapped, &ie) != 0) {
			s->idx = NULL;   /* advisory: fall back to scanning */
			s->idx_len = 0;
		}
	}
	if (!rk && !ik)
		return 0;
	if (rk) {
		af_seg_path(path, sizeof path, dir, seg, "keys");
		if ((rc = af_read_file(path, AF_KEYS_HDR + AUDIT_MAX_RECIPIENTS * AF_KEYS_ENTRY + AF_KEYS_SUM, &s->keys,
				       &s->keys_len, e)) != 0)
			return rc;
		if (af_keys_open(s->keys, s->keys_len, rk, s->op.log_id, seg, sec->env, e) != 0)
			return err_prefix(e, "%s", path);
		af_key_commit(sec->env + 32, commit);
		if (sodium_memcmp(commit, s->op.key_commit, 32) != 0) {
			sodium_memzero(sec->env, sizeof sec->env);
			return err_set(e, -EBADMSG, "%s: segment key does not match its commitment (corrupt)", path);
		}
		memcpy(sec->key, sec->env + 32, 32);
		s->batch = 0;
	}
	s->has_index = false;
	if (ik) {
		memcpy(sec->idx, ik->sk, 32);
		s->has_index = true;
	} else if (rk && (sec->env[1] & 1)) {
		memcpy(sec->idx, sec->env + 64, 32);
		s->has_index = true;
	}
	sodium_memzero(sec->env, sizeof sec->env);
	if (s->has_index) {
		af_index_commit(sec->idx, commit);
		if (sodium_memcmp(commit, s->op.index_commit, 32) != 0)
			s->has_index = false;   /* another index key: tags unusable for this segment */
	}
	return 0;
}

struct rfilter {
	const struct audit_filter *f;
	bool want_tag[3];
	const char *want_val[3];
	uint8_t tag[3][AF_TAG_BYTES];
};

/* Decrypt one DATA frame at fr (bounds already checked) and hand it to cb if it matches. */
static int deliver(struct rseg *s, struct rsec *sec, uint8_t *plain, const struct af_hdr *h, const uint8_t *fr,
		   const struct rfilter *rf, int (*cb)(const struct audit_record *, void *), void *arg, struct err *e)
{
	uint8_t nonce[24];
	unsigned long long plen = 0;
	struct af_inner in;
	struct audit_record rec;
	int rc = 0;

	if (h->batch < s->batch)
		return err_set(e, -EBADMSG, "segment %llu: records out of batch order at seq %llu (corrupt index or log)",
			       (unsigned long long)s->seg, (unsigned long long)h->seq);
	while (s->batch < h->batch) {
		af_ratchet(sec->key);
		s->batch++;
	}
	af_nonce(nonce, s->seg, h->seq);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL, fr + AF_HDR + AF_TAGS, h->len - AF_TAGS, fr,
						       AF_HDR + AF_TAGS, nonce, sec->key) != 0)
		return err_set(e, -EBADMSG, "segment %llu: record seq %llu failed authentication (corrupt or tampered)",
			       (unsigned long long)s->seg, (unsigned long long)h->seq);
	if (af_inner_decode(plain, plen, &in) != 0) {
		rc = err_set(e, -EBADMSG, "segment %llu: record seq %llu has a malformed payload", (unsigned long long)s->seg,
			     (unsigned long long)h->seq);
		goto out;
	}
	memset(&rec, 0, sizeof rec);
	for (int i = 0; i < 3; i++) {
		if (rf->want_tag[i] && (!in.tag[i] || strlen(rf->want_val[i]) != in.tag_len[i] ||
					memcmp(rf->want_val[i], in.tag[i], in.tag_len[i]) != 0))
			goto out;   /* no match (the index may be absent, or have matched a collision) */
		if (in.tag[i]) {
			memcpy(sec->tagv[i], in.tag[i], in.tag_len[i]);
			sec->tagv[i][in.tag_len[i]] = 0;
		}
	}
	rec.seq = h->seq;
	rec.segment = s->seg;
	rec.time_ns = h->time_ns;
	rec.json = in.json;
	rec.json_len = in.json_len;
	rec.patient = in.tag[0] ? sec->tagv[0] : NULL;
	rec.user = in.tag[1] ? sec->tagv[1] : NULL;
	rec.decision = in.tag[2] ? sec->tagv[2] : NULL;
	rc = cb(&rec, arg);
out:
	sodium_memzero(plain, plen);
	sodium_memzero(sec->tagv, sizeof sec->tagv);
	return rc;
}

static bool in_time(const struct audit_filter *f, int64_t t)
{
	return (!f->since_ns || t >= f->since_ns) && (!f->until_ns || t <= f->until_ns);
}

/* Read the frame header at off and check it lies within the file. */
static int frame_at(const struct rseg *s, uint64_t off, struct af_hdr *h, struct err *e)
{
	const char *why = "";

	memset(h, 0, sizeof *h);   /* safe value first */
	if (off > s->log_len || s->log_len - off < AF_HDR)
		return err_set(e, -EBADMSG, "segment %llu: truncated frame at offset %llu", (unsigned long long)s->seg,
			       (unsigned long long)off);
	if (af_hdr_decode(s->log + off, h, &why) != 0)
		return err_set(e, -EBADMSG, "segment %llu: corrupt frame at offset %llu (%s)", (unsigned long long)s->seg,
			       (unsigned long long)off, why);
	if (s->log_len - off - AF_HDR < h->len)
		return err_set(e, -EBADMSG, "segment %llu: truncated frame at offset %llu", (unsigned long long)s->seg,
			       (unsigned long long)off);
	return 0;
}

static bool idx_usable(const struct rseg *s)
{
	return s->idx && s->idx_len >= AF_IDX_HDR && memcmp(s->idx, AF_IDX_MAGIC, 4) == 0 && s->idx[4] == 1 &&
	       memcmp(s->idx + 8, s->op.log_id, 16) == 0 && af_get64(s->idx + 24) == s->seg &&
	       (s->idx_len - AF_IDX_HDR) % AF_IDX_ENTRY == 0;
}

int audit_read(const char *dir, const struct audit_secret *rk, const struct audit_secret *ik, const struct audit_filter *f,
	       int (*cb)(const struct audit_record *rec, void *arg), void *arg, struct err *e)
{
	static const struct audit_filter none;
	uint64_t *segs = NULL;
	size_t nseg = 0;
	struct rsec *sec = NULL;
	uint8_t *plain = NULL;
	struct rfilter rf;
	int rc;

	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium failed to initialise");
	if (!rk || rk->kind != 1)
		return err_set(e, -EINVAL, "a reviewer key is needed to read records");
	if (!f)
		f = &none;
	memset(&rf, 0, sizeof rf);
	rf.f = f;
	rf.want_val[0] = f->patient;
	rf.want_val[1] = f->user;
	rf.want_val[2] = f->decision;
	for (int i = 0; i < 3; i++)
		rf.want_tag[i] = rf.want_val[i] != NULL;
	if ((rc = af_list_segments(dir, &segs, &nseg, e)) != 0)
		return rc;
	if (nseg == 0) {
		rc = err_set(e, -ENOENT, "%s: no audit segments (*.log) found", dir);
		goto out;
	}
	sec = sodium_malloc(sizeof *sec);
	plain = sodium_malloc(AF_PLAIN_MAX);
	if (!sec || !plain) {
		rc = err_set(e, -ENOMEM, "out of secure memory");
		goto out;
	}
	for (size_t i = 0; i < nseg && rc == 0; i++) {
		struct rseg s;
		bool any_filter = rf.want_tag[0] || rf.want_tag[1] || rf.want_tag[2] || f->since_ns || f->until_ns;

		rc = rseg_load(dir, segs[i], rk, ik, any_filter && !f->scan, &s, sec, e);
		if (rc) {
			rseg_free(&s);
			break;
		}
		for (int t = 0; t < 3; t++)
			if (rf.want_tag[t] && s.has_index)
				af_tag(sec->idx, af_tag_field[t], rf.want_val[t], strlen(rf.want_val[t]), rf.tag[t]);
		if (any_filter && !f->scan && idx_usable(&s) &&
		    (s.has_index || !(rf.want_tag[0] || rf.want_tag[1] || rf.want_tag[2]))) {
			/* Index path: select by time and tags, then check and decrypt only those. */
			for (size_t off = AF_IDX_HDR; off < s.idx_len && rc == 0; off += AF_IDX_ENTRY) {
				const uint8_t *ent = s.idx + off;
				struct af_hdr h;
				bool match = in_time(f, (int64_t)af_get64(ent + 8));
				for (int t = 0; t < 3 && match; t++)
					if (rf.want_tag[t] && sodium_memcmp(ent + 32 + t * AF_TAG_BYTES, rf.tag[t], AF_TAG_BYTES) != 0)
						match = false;
				if (!match)
					continue;
				if ((rc = frame_at(&s, af_get64(ent + 16), &h, e)) != 0)
					break;
				if (h.type != AF_DATA || h.seq != af_get64(ent)) {
					rc = err_set(e, -EBADMSG, "segment %llu: index entry for seq %llu points at another record",
						     (unsigned long long)s.seg, (unsigned long long)af_get64(ent));
					break;
				}
				rc = deliver(&s, sec, plain, &h, s.log + af_get64(ent + 16), &rf, cb, arg, e);
			}
		} else {
			/* Scan path: every record in the segment. */
			for (uint64_t off = 0; off < s.log_len && rc == 0;) {
				struct af_hdr h;
				if ((rc = frame_at(&s, off, &h, e)) != 0)
					break;
				if (h.type == AF_DATA && in_time(f, h.time_ns))
					rc = deliver(&s, sec, plain, &h, s.log + off, &rf, cb, arg, e);
				off += AF_HDR + (uint64_t)h.len;
			}
		}
		rseg_free(&s);
	}
out:
	if (sec) {
		sodium_memzero(sec, sizeof *sec);
		sodium_free(sec);
	}
	if (plain)
		sodium_free(plain);
	free(segs);
	return rc;
}

int audit_rewrap(const char *dir, const struct audit_secret *rk, const uint8_t (*rcpt)[AUDIT_KEY_BYTES], size_t n,
		 struct err *e)
{
	uint64_t *segs = NULL;
	size_t nseg = 0;
	struct rsec *sec = NULL;
	int rc;

	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium failed to initialise");
	if (!rk || rk->kind != 1 || n == 0 || n > AUDIT_MAX_RECIPIENTS)
		return err_set(e, -EINVAL, "rewrap needs the current reviewer key and 1..%d new recipients", AUDIT_MAX_RECIPIENTS);
	if ((rc = af_list_segments(dir, &segs, &nseg, e)) != 0)
		return rc;
	if (nseg == 0) {
		free(segs);
		return err_set(e, -ENOENT, "%s: no audit segments (*.log) found", dir);
	}
	sec = sodium_malloc(sizeof *sec);
	if (!sec) {
		free(segs);
		return err_set(e, -ENOMEM, "out of secure memory");
	}
	/* First pass opens every envelope, so a wrong key changes nothing. */
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		for (size_t i = 0; i < nseg && rc == 0; i++) {
			struct rseg s;
			char path[4096];
			uint8_t commit[32];
			rc = rseg_load(dir, segs[i], NULL, NULL, false, &s, sec, e);
			if (rc == 0) {
				af_seg_path(path, sizeof path, dir, segs[i], "keys");
				rc = af_read_file(path, 1 << 16, &s.keys, &s.keys_len, e);
			}
			if (rc == 0 && (rc = af_keys_open(s.keys, s.keys_len, rk, s.op.log_id, segs[i], sec->env, e)) != 0)
				err_prefix(e, "%s", path);
			if (rc == 0) {
				af_key_commit(sec->env + 32, commit);
				if (sodium_memcmp(commit, s.op.key_commit, 32) != 0)
					rc = err_set(e, -EBADMSG, "%s: envelope does not match the segment's key commitment", path);
			}
			if (rc == 0 && pass == 1) {
				size_t len;
				uint8_t *img = af_keys_build(s.op.log_id, segs[i], sec->env, rcpt, n, &len);
				rc = af_write_file_atomic(dir, path, img, len, 0600, true, e);
				free(img);
			}
			sodium_memzero(sec->env, sizeof sec->env);
			rseg_free(&s);
		}
	}
	sodium_memzero(sec, sizeof *sec);
	sodium_free(sec);
	free(segs);
	return rc;
}

/* ------------------------------------------------------------------ stats */
/* docs/sidecar.md: allow, deny, strip, deadline, upstream_error, error, redact, block */
static const char *const decision_vocab[] = {"allow", "deny", "redact", "strip", "deadline", "upstream_error", "error", "block", "report"};
#define NVOCAB (sizeof decision_vocab / sizeof decision_vocab[0])

static void count_decision(struct audit_stats *st, const char *name)
{
	for (size_t i = 0; i < st->n_decisions; i++)
		if (strcmp(st->decisions[i].name, name) == 0) {
			st->decisions[i].count++;
			return;
		}
	if (st->n_decisions < 15) {
		snprintf(st->decisions[st->n_decisions].name, sizeof st->decisions[0].name, "%s", name);
		st->decisions[st->n_decisions++].count = 1;
		return;
	}
	if (st->n_decisions == 15) {   /* the last slot collects every further value */
		snprintf(st->decisions[15].name, sizeof st->decisions[0].name, "other");
		st->decisions[15].count = 0;
		st->n_decisions = 16;
	}
	st->decisions[15].count++;
}

struct stats_cb {
	struct audit_stats *st;
};

static int stats_record(const struct audit_record *rec, void *arg)
{
	struct stats_cb *sc = arg;
	char name[32];
	if (!rec->decision) {
		count_decision(sc->st, "(none)");
	} else {
		snprintf(name, sizeof name, "%s", rec->decision);
		count_decision(sc->st, name);
	}
	return 0;
}

int audit_stats(const char *dir, const struct audit_secret *rk, const struct audit_secret *ik, struct audit_stats *st,
		struct err *e)
{
	uint64_t *segs = NULL;
	size_t nseg = 0;
	struct rsec *sec = NULL;
	bool by_index = true, need_decrypt = false;
	int rc;

	memset(st, 0, sizeof *st);
	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium failed to initialise");
	if ((rc = af_list_segments(dir, &segs, &nseg, e)) != 0)
		return rc;
	if (nseg == 0) {
		free(segs);
		return err_set(e, -ENOENT, "%s: no audit segments (*.log) found", dir);
	}
	sec = sodium_malloc(sizeof *sec);
	if (!sec) {
		free(segs);
		return err_set(e, -ENOMEM, "out of secure memory");
	}
	for (size_t i = 0; i < nseg && rc == 0; i++) {
		struct rseg s;
		uint8_t vt[NVOCAB][AF_TAG_BYTES];
		rc = rseg_load(dir, segs[i], rk, ik, false, &s, sec, e);
		if (rc) {
			rseg_free(&s);
			break;
		}
		st->segments++;
		st->bytes += s.log_len;
		if (!s.has_index)
			by_index = false;
		else
			for (size_t v = 0; v < NVOCAB; v++)
				af_tag(sec->idx, "decision", decision_vocab[v], strlen(decision_vocab[v]), vt[v]);
		for (uint64_t off = 0; off < s.log_len;) {
			struct af_hdr h;
			if ((rc = frame_at(&s, off, &h, e)) != 0)
				break;
			if (!st->first_time_ns)
				st->first_time_ns = h.time_ns;
			st->last_time_ns = h.time_ns;
			switch (h.type) {
			case AF_DATA:
				st->data_records++;
				if (s.has_index) {
					const uint8_t *tag = s.log + off + AF_HDR + 2 * AF_TAG_BYTES;
					static const uint8_t zero[AF_TAG_BYTES];
					size_t v;
					for (v = 0; v < NVOCAB; v++)
						if (sodium_memcmp(tag, vt[v], AF_TAG_BYTES) == 0)
							break;
					count_decision(st, v < NVOCAB ? decision_vocab[v]
								      : sodium_memcmp(tag, zero, AF_TAG_BYTES) == 0 ? "(none)" : "other");
				} else {
					need_decrypt = true;
				}
				break;
			case AF_CHECKPOINT:
				st->checkpoints++;
				if (s.log[off + AF_HDR + 1] == AF_CP_HEARTBEAT)
					st->heartbeats++;
				break;
			case AF_RECOVERY: st->recoveries++; break;
			case AF_CLOSE: st->closes++; break;
			default: break;
			}
			off += AF_HDR + (uint64_t)h.len;
		}
		rseg_free(&s);
	}
	sodium_memzero(sec, sizeof *sec);
	sodium_free(sec);
	free(segs);
	if (rc)
		return rc;
	if (by_index && st->data_records) {
		st->decisions_known = true;
	} else if (need_decrypt && rk) {
		/* No usable index key: count from the decrypted records instead. */
		struct stats_cb sc = {st};
		st->n_decisions = 0;
		memset(st->decisions, 0, sizeof st->decisions);
		rc = audit_read(dir, rk, NULL, NULL, stats_record, &sc, e);
		if (rc)
			return rc;
		st->decisions_known = true;
	} else if (!st->data_records) {
		st->decisions_known = true;
	} else {
		st->n_decisions = 0;
	}
	return 0;
}

int audit_log_id_hex(const char *dir, char out[33], struct err *e)
{
	uint64_t *segs = NULL;
	size_t nseg = 0;
	struct rseg s;
	int rc;

	out[0] = 0;
	if ((rc = af_list_segments(dir, &segs, &nseg, e)) != 0)
		return rc;
	if (nseg == 0) {
		free(segs);
		return err_set(e, -ENOENT, "%s: no audit segments (*.log) found", dir);
	}
	rc = rseg_load(dir, segs[0], NULL, NULL, false, &s, NULL, e);
	if (rc == 0)
		af_hex(s.op.log_id, 16, out);
	rseg_free(&s);
	free(segs);
	return rc;
}
