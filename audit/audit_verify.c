/* audit_verify — verification of a whole log directory (docs/audit-format.md §8).
 *
 * Blind mode needs no key: per segment the shared scan (audit_scan.c) checks framing, seq,
 * chain, RFC 9162 roots and Ed25519 checkpoint signatures; here we add what spans segments
 * (numbering, log identity, chain and checkpoint continuity, close-or-recovery, signer key,
 * heartbeat gaps) and the files beside each log (.keys checksum and binding, .idx equal to the
 * index rebuilt from the log). Full mode also unseals each segment key, checks its commitment,
 * decrypts every record, validates the payload and recomputes every blind-index tag.
 * Hostile input: files are size-bounded before they are read, and nothing decrypted or parsed is
 * trusted before the AEAD tag over header+tags verifies.
 */
#include "audit/audit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_fmt.h"
#include "lib/mem.h"

static void add_problem(struct audit_verify_report *r, const char *code, uint64_t seg, uint64_t seq, const char *fmt,
			...) __attribute__((format(printf, 5, 6)));
static void add_problem(struct audit_verify_report *r, const char *code, uint64_t seg, uint64_t seq, const char *fmt,
			...)
{
	struct audit_problem *p;
	va_list ap;

	if (r->n_problems == AUDIT_MAX_PROBLEMS) {
		r->problems_truncated = true;
		return;
	}
	p = &r->problems[r->n_problems++];
	snprintf(p->code, sizeof p->code, "%s", code);
	p->segment = seg;
	p->seq = seq;
	va_start(ap, fmt);
	vsnprintf(p->detail, sizeof p->detail, fmt, ap);
	va_end(ap);
}

/* Per-segment callback state. */
struct vctx {
	struct audit_verify_report *r;
	uint64_t segment;
	/* index rebuilt from the log */
	uint8_t *idx;
	size_t idx_len, idx_cap;
	/* full mode */
	bool full;
	uint8_t *key;        /* sodium_malloc: [0..32) batch key, [32..64) index key */
	bool has_index;
	uint32_t key_batch;
	uint8_t *plain;      /* sodium_malloc AF_PLAIN_MAX */
	char code[AUDIT_CODE_MAX];
	char detail[160];
	uint64_t bad_seq;
	uint64_t data_ok;
	/* heartbeat */
	int64_t last_cp_time;
	bool have_cp_time;
	uint32_t heartbeat_s;
	uint64_t gap_seq;
	int64_t gap_ns;
};

static int on_data(void *arg, size_t off, const struct af_hdr *h, const uint8_t *fr)
{
	struct vctx *c = arg;
	uint8_t *ent;

	if (c->idx_cap - c->idx_len < AF_IDX_ENTRY) {
		c->idx_cap = c->idx_cap ? c->idx_cap * 2 : 4096;
		c->idx = xrealloc(c->idx, c->idx_cap);
	}
	ent = c->idx + c->idx_len;
	c->idx_len += AF_IDX_ENTRY;
	af_put64(ent, h->seq);
	af_put64(ent + 8, (uint64_t)h->time_ns);
	af_put64(ent + 16, off);
	af_put32(ent + 24, h->batch);
	af_put32(ent + 28, AF_HDR + h->len);
	memcpy(ent + 32, fr + AF_HDR, AF_TAGS);

	if (c->full && !c->code[0]) {
		uint8_t nonce[24], tag[AF_TAG_BYTES];
		unsigned long long plen;
		struct af_inner in;
		const uint8_t *tags = fr + AF_HDR;

		while (c->key_batch < h->batch) {   /* forward only: batches increase within a segment */
			af_ratchet(c->key);
			c->key_batch++;
		}
		af_nonce(nonce, c->segment, h->seq);
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(c->plain, &plen, NULL, fr + AF_HDR + AF_TAGS,
							       h->len - AF_TAGS, fr, AF_HDR + AF_TAGS, nonce, c->key) != 0) {
			snprintf(c->code, sizeof c->code, "DECRYPT_FAILED");
			snprintf(c->detail, sizeof c->detail, "record does not decrypt (tampered, or wrong segment key)");
			c->bad_seq = h->seq;
			return 0;
		}
		if (af_inner_decode(c->plain, plen, &in) != 0 || !audit_json_object_valid(in.json, in.json_len, 64)) {
			snprintf(c->code, sizeof c->code, "PAYLOAD_INVALID");
			snprintf(c->detail, sizeof c->detail, "decrypted payload is not a tagged JSON object");
			c->bad_seq = h->seq;
			goto wipe;
		}
		for (int i = 0; i < 3; i++) {
			memset(tag, 0, sizeof tag);
			if (c->has_index && in.tag[i])
				af_tag(c->key + 32, af_tag_field[i], in.tag[i], in.tag_len[i], tag);
			if (sodium_memcmp(tag, tags + i * AF_TAG_BYTES, AF_TAG_BYTES) != 0) {
				snprintf(c->code, sizeof c->code, "TAG_MISMATCH");
				snprintf(c->detail, sizeof c->detail, "blind-index %s tag does not match the record", af_tag_field[i]);
				c->bad_seq = h->seq;
				goto wipe;
			}
		}
		c->data_ok++;
wipe:
		sodium_memzero(c->plain, plen);
	}
	return 0;
}

static void on_checkpoint(void *arg, const struct af_hdr *h, unsigned kind)
{
	struct vctx *c = arg;
	(void)kind;
	/* Heartbeats bound silent gaps (research §2.5): a gap over twice the interval while the
	 * writer was running means checkpoints (and possibly records) are missing. */
	if (c->have_cp_time && c->heartbeat_s && !c->gap_seq &&
	    h->time_ns - c->last_cp_time > (int64_t)c->heartbeat_s * 2 * 1000000000) {
		c->gap_seq = h->seq;
		c->gap_ns = h->time_ns - c->last_cp_time;
	}
	c->last_cp_time = h->time_ns;
	c->have_cp_time = true;
}

/* Compare the .idx file with the index rebuilt from the log; returns first bad seq or 0. */
static bool idx_check(const uint8_t *f, size_t flen, const struct vctx *c, const uint8_t log_id[16], bool live,
		      uint64_t *bad_seq, const char **why)
{
	size_t n;
	*bad_seq = 0;
	if (flen < AF_IDX_HDR || memcmp(f, AF_IDX_MAGIC, 4) != 0 || f[4] != 1 || f[5] || f[6] || f[7] ||
	    memcmp(f + 8, log_id, 16) != 0 || af_get64(f + 24) != c->segment) {
		*why = "index header does not match the segment";
		return false;
	}
	if ((flen - AF_IDX_HDR) % AF_IDX_ENTRY) {
		*why = "index length is not a whole number of entries";
		return false;
	}
	n = flen - AF_IDX_HDR;
	if (!live && n != c->idx_len) {
		*why = n < c->idx_len ? "index is missing entries" : "index has entries for no record";
		if (n < c->idx_len)
			*bad_seq = af_get64(c->idx + n);
	}
	for (size_t i = 0; i < n && i < c->idx_len; i += AF_IDX_ENTRY) {
		if (memcmp(f + AF_IDX_HDR + i, c->idx + i, AF_IDX_ENTRY) != 0) {
			*bad_seq = af_get64(c->idx + i);
			*why = "index entry differs from the log";
			return false;
		}
	}
	if (!live && n != c->idx_len)
		return false;
	if (live && n > c->idx_len) {
		*why = "index has entries for no record";
		return false;
	}
	return true;
}

/* Peek at the OPEN of a segment image (for full mode, before the scan). */
static bool peek_open(const uint8_t *log, size_t len, struct af_open *op)
{
	struct af_hdr h;
	const char *why;
	if (len < AF_HDR + AF_OPEN_LEN || af_hdr_decode(log, &h, &why) != 0 || h.type != AF_OPEN)
		return false;
	return af_open_decode(log + AF_HDR, h.len, op) == 0;
}

/* Unseal K_0 (and the index key) for full verification; checks the OPEN's commitments. */
static int full_keys(struct vctx *c, const uint8_t *keys, size_t klen, const struct af_open *op,
		     const struct audit_secret *rk, const struct audit_secret *ik, struct err *e)
{
	uint8_t *plain = sodium_malloc(AF_ENV_PLAIN), commit[32];
	int rc;

	if (!plain)
		return err_set(e, -ENOMEM, "out of secure memory");
	rc = af_keys_open(keys, klen, rk, op->log_id, op->segment, plain, e);
	if (rc)
		goto out;
	af_key_commit(plain + 32, commit);
	if (sodium_memcmp(commit, op->key_commit, 32) != 0) {
		rc = err_set(e, -EBADMSG, "segment key does not match the commitment in OPEN");
		goto out;
	}
	memcpy(c->key, plain + 32, 32);
	c->key_batch = 0;
	c->has_index = false;
	if (ik) {
		memcpy(c->key + 32, ik->sk, 32);
		c->has_index = true;
	} else if (plain[1] & 1) {
		memcpy(c->key + 32, plain + 64, 32);
		c->has_index = true;
	}
	if (c->has_index) {
		af_index_commit(c->key + 32, commit);
		if (sodium_memcmp(commit, op->index_commit, 32) != 0) {
			rc = err_set(e, -EBADMSG, "index key does not match the commitment in OPEN");
			goto out;
		}
	} else {
		uint8_t z = 0;
		for (int i = 0; i < 32; i++)
			z |= op->index_commit[i];
		if (z) {
			rc = err_set(e, -EBADMSG, "segment was indexed but no index key is available");
			goto out;
		}
	}
out:
	sodium_memzero(plain, AF_ENV_PLAIN);
	sodium_free(plain);
	return rc;
}

struct seg_files {
	uint8_t *log, *keys, *idx;
	size_t log_len, keys_len, idx_len;
	int log_rc, keys_rc, idx_rc;
	bool log_mapped, idx_mapped;
};

/* Verify one segment image; fills continuity state for the next. */
struct chain_state {
	bool have_prev;
	uint64_t expect_seq;
	uint8_t prev_leaf[32], prev_cp[32];
	uint64_t prev_segment;
	uint64_t prev_good_last_seq;
	bool prev_closed;
	uint8_t prev_close_reason;
	bool prev_valid_end;           /* previous segment scanned to a clean end */
	bool have_log_id;
	uint8_t log_id[16];
	bool have_signer;
	uint8_t signer[32];
	bool signer_user_pinned;
	int64_t last_cp_time;          /* for heartbeat gaps across rotations */
	bool hb_continues;
};

static void verify_one(const struct audit_verify_opts *o, struct audit_verify_report *r, struct af_sha *sha,
		       uint64_t seg, struct seg_files *f, bool is_last, struct chain_state *cs)
{
	struct af_scan_in in;
	struct af_scan_out *so = xcalloc(1, sizeof *so);
	struct vctx c;
	struct af_open op;
	size_t before = r->n_problems;
	bool full_ready = false;
	struct err e;

	memset(&c, 0, sizeof c);
	c.r = r;
	c.segment = seg;
	memset(&in, 0, sizeof in);
	in.log = f->log;
	in.len = f->log_len;
	in.segment = seg;
	in.sha = sha;
	in.on_data = on_data;
	in.on_checkpoint = on_checkpoint;
	in.arg = &c;
	if (cs->have_prev) {
		in.have_prev = true;
		in.expect_seq = cs->expect_seq;
		memcpy(in.prev_leaf, cs->prev_leaf, 32);
		memcpy(in.prev_cp, cs->prev_cp, 32);
	}
	if (cs->have_log_id)
		in.log_id = cs->log_id;
	if (cs->have_signer)
		in.signer_pin = cs->signer;

	if (peek_open(f->log, f->log_len, &op)) {
		c.heartbeat_s = op.heartbeat_s;
		if (cs->hb_continues) {
			c.last_cp_time = cs->last_cp_time;
			c.have_cp_time = true;
		}
	}
	if (o->reviewer_key && f->keys && peek_open(f->log, f->log_len, &op)) {
		c.key = sodium_malloc(64);
		c.plain = sodium_malloc(AF_PLAIN_MAX);
		if (!c.key || !c.plain) {
			add_problem(r, "NO_MEMORY", seg, 0, "out of secure memory");
		} else {
			err_clear(&e);
			if (full_keys(&c, f->keys, f->keys_len, &op, o->reviewer_key, o->index_key, &e) == 0) {
				c.full = true;
				full_ready = true;
			} else {
				add_problem(r, e.code == -EACCES ? "KEY_UNSEAL_FAILED" : "KEY_COMMIT_MISMATCH", seg, 0, "%s", e.msg);
			}
		}
	}

	af_scan(&in, so);
	r->frames += so->frames;
	r->records += so->data;
	r->checkpoints += so->cps;
	r->checkpoints_valid += so->good_cps;
	if (so->frames && (r->first_time_ns == 0 || so->first_time < r->first_time_ns))
		r->first_time_ns = so->first_time;
	if (so->last_time > r->last_time_ns)
		r->last_time_ns = so->last_time;

	if (so->code[0]) {
		const char *code = so->code;
		if (!strcmp(code, "SIGNER_MISMATCH") && !cs->signer_user_pinned)
			code = "SIGNER_CHANGED";
		if (!strcmp(code, "TRUNCATED") || !strcmp(code, "FRAME_INVALID") || !strcmp(code, "SEQ_MISMATCH") ||
		    !strcmp(code, "CHAIN_BREAK")) {
			/* A live writer's tail past the last checkpoint is not yet signed: not a problem. */
			if (!(o->live && is_last && !so->closed && so->have_good && so->bad_off >= so->good_end))
				add_problem(r, code, seg, so->bad_seq, "%s", so->detail);
		} else {
			add_problem(r, code, seg, so->bad_seq, "%s", so->detail);
		}
	}
	if (so->have_open && !cs->have_log_id) {
		memcpy(cs->log_id, so->open.log_id, 16);
		cs->have_log_id = true;
	}
	if (so->have_open && !cs->have_signer && !so->code[0]) {
		memcpy(cs->signer, so->open.signer_pk, 32);
		cs->have_signer = true;
		memcpy(r->signer_pk, so->open.signer_pk, 32);
	}
	if (c.gap_seq)
		add_problem(r, "HEARTBEAT_GAP", seg, c.gap_seq, "%.1f s without a checkpoint (heartbeat every %u s)",
			    (double)c.gap_ns / 1e9, c.heartbeat_s);

	/* Full mode: first record that failed decryption/validation. */
	if (c.full && c.code[0] && c.bad_seq <= so->good_last_seq)
		add_problem(r, c.code, seg, c.bad_seq, "%s", c.detail);

	/* Recovery record: must describe the previous segment exactly. */
	if (so->have_recovery) {
		const struct af_recovery *rc = &so->rec;
		if (r->n_recoveries < AUDIT_MAX_RECOVERIES) {
			struct audit_recovery_note *n = &r->recoveries[r->n_recoveries++];
			n->segment = seg;
			n->prev_segment = rc->prev_segment;
			n->last_good_seq = rc->last_good_seq;
			n->bytes_discarded = rc->bytes_discarded;
			n->frames_discarded = rc->frames_discarded;
			n->reason = rc->reason;
			n->removed_segment = rc->removed_segment;
			n->removed_bytes = rc->removed_bytes;
		}
		if (cs->prev_segment && (rc->prev_segment != cs->prev_segment || rc->last_good_seq != cs->prev_good_last_seq))
			add_problem(r, "RECOVERY_INVALID", seg, so->open.prev_last_seq + 2,
				    "RECOVERY names segment %llu seq %llu; the log has segment %llu ending at seq %llu",
				    (unsigned long long)rc->prev_segment, (unsigned long long)rc->last_good_seq,
				    (unsigned long long)cs->prev_segment, (unsigned long long)cs->prev_good_last_seq);
		if (!cs->prev_segment && rc->prev_segment != 0)
			add_problem(r, "RECOVERY_INVALID", seg, 0, "RECOVERY names a segment that is not in the log");
	}
	/* The previous segment ended without CLOSE: only a RECOVERY here makes that acceptable. */
	if (cs->prev_segment && cs->prev_valid_end && !cs->prev_closed && !so->have_recovery && so->have_open)
		add_problem(r, "SEGMENT_NOT_CLOSED", cs->prev_segment, cs->prev_good_last_seq + 1,
			    "segment ends without a close record and the next segment records no recovery");

	/* Last segment: must be closed unless live. */
	if (is_last && so->have_good && !so->code[0]) {
		if (!so->closed && !o->live)
			add_problem(r, "SEGMENT_NOT_CLOSED", seg, so->good_last_seq + 1,
				    so->frames_after_good ? "unsigned records after the last checkpoint and no close record"
							  : "last segment has no close record (writer running or crashed)");
		if (so->closed && so->close_reason == AF_CLOSE_ROTATE)
			add_problem(r, "SEGMENT_MISSING", seg + 1, so->good_last_seq + 1,
				    "segment was closed for rotation but the next segment is absent");
	}

	/* .keys: present, well-formed, bound to this log and segment (blind). */
	if (f->keys_rc) {
		add_problem(r, "KEYS_MISSING", seg, 0, "key envelope file missing or unreadable");
	} else if (so->have_open) {
		err_clear(&e);
		if (af_keys_open(f->keys, f->keys_len, NULL, so->open.log_id, seg, NULL, &e) != 0)
			add_problem(r, "KEYS_CORRUPT", seg, 0, "%s", e.msg);
	}
	/* .idx: equal to the index rebuilt from the log, up to the last valid checkpoint. */
	if (f->idx_rc) {
		add_problem(r, "INDEX_MISSING", seg, 0, "index file missing or unreadable");
	} else if (so->have_open && !so->code[0]) {
		uint64_t bad;
		const char *why = "";
		size_t keep = 0;
		while (keep < c.idx_len && af_get64(c.idx + keep) <= so->good_last_seq)
			keep += AF_IDX_ENTRY;
		c.idx_len = keep;
		if (!idx_check(f->idx, f->idx_len, &c, so->open.log_id, o->live && is_last, &bad, &why))
			add_problem(r, "INDEX_MISMATCH", seg, bad, "%s", why);
	}

	r->segments++;
	if (r->n_problems == before)
		r->segments_valid++;
	if (!so->code[0] && (!c.full || !c.code[0]))
		r->records_valid += so->good_data;
	else if (c.full && c.code[0])
		r->records_valid += c.data_ok;
	else
		r->records_valid += so->good_data;
	if (o->reviewer_key && !full_ready && so->good_data)
		r->records_valid -= so->good_data;   /* full mode could not check them */

	/* continuity for the next segment */
	cs->prev_segment = seg;
	cs->prev_good_last_seq = so->good_last_seq;
	cs->prev_closed = so->closed;
	cs->prev_close_reason = so->close_reason;
	cs->prev_valid_end = so->have_good && !so->code[0];
	if (so->have_good && (!so->code[0] || so->bad_off >= so->good_end)) {
		cs->have_prev = true;
		cs->expect_seq = so->good_last_seq + 1;
		memcpy(cs->prev_leaf, so->good_leaf, 32);
		memcpy(cs->prev_cp, so->good_cp, 32);
	} else {
		cs->have_prev = false;
	}
	cs->hb_continues = so->closed && so->close_reason == AF_CLOSE_ROTATE;
	cs->last_cp_time = so->good_time;

	free(c.idx);
	if (c.key) {
		sodium_memzero(c.key, 64);
		sodium_free(c.key);
	}
	if (c.plain)
		sodium_free(c.plain);
	free(so);
}

static void files_free(struct seg_files *f)
{
	af_unmap_file(f->log, f->log_len, f->log_mapped);
	free(f->keys);
	af_unmap_file(f->idx, f->idx_len, f->idx_mapped);
	memset(f, 0, sizeof *f);
}

int audit_verify(const struct audit_verify_opts *o, struct audit_verify_report *r, struct err *e)
{
	uint64_t *segs = NULL;
	size_t nseg = 0;
	struct af_sha *sha;
	struct chain_state cs;
	uint64_t expect = 1;
	int rc;

	memset(r, 0, sizeof *r);
	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium failed to initialise");
	rc = af_list_segments(o->dir, &segs, &nseg, e);
	if (rc)
		return rc;
	if (nseg == 0) {
		free(segs);
		return err_set(e, -ENOENT, "%s: no audit segments (*.log) found", o->dir);
	}
	sha = af_sha_new();
	memset(&cs, 0, sizeof cs);
	cs.have_prev = true;   /* the log starts at seq 1 with a zero previous hash */
	cs.expect_seq = 1;
	if (o->signer_pk) {
		memcpy(cs.signer, o->signer_pk, 32);
		cs.have_signer = true;
		cs.signer_user_pinned = true;
		r->signer_pinned = true;
		memcpy(r->signer_pk, o->signer_pk, 32);
	}
	for (size_t i = 0; i < nseg; i++) {
		struct seg_files f;
		char path[4096];
		struct err fe;

		memset(&f, 0, sizeof f);
		if (segs[i] != expect) {
			add_problem(r, "SEGMENT_MISSING", expect, cs.have_prev ? cs.expect_seq : 0,
				    "segment %llu to %llu absent", (unsigned long long)expect, (unsigned long long)(segs[i] - 1));
			cs.have_prev = false;
			cs.prev_segment = 0;
			cs.hb_continues = false;
		}
		expect = segs[i] + 1;
		af_seg_path(path, sizeof path, o->dir, segs[i], "log");
		err_clear(&fe);
		f.log_rc = af_map_file(path, AF_SEGMENT_FILE_MAX, &f.log, &f.log_len, &f.log_mapped, &fe);
		if (f.log_rc) {
			/* Could not read a segment at all: that is "could not verify", not "invalid". */
			rc = err_set(e, f.log_rc, "%s", fe.msg);
			files_free(&f);
			goto out;
		}
		af_seg_path(path, sizeof path, o->dir, segs[i], "keys");
		f.keys_rc = af_read_file(path, AF_KEYS_HDR + AUDIT_MAX_RECIPIENTS * AF_KEYS_ENTRY + AF_KEYS_SUM, &f.keys,
					 &f.keys_len, &fe);
		af_seg_path(path, sizeof path, o->dir, segs[i], "idx");
		f.idx_rc = af_map_file(path, AF_SEGMENT_FILE_MAX, &f.idx, &f.idx_len, &f.idx_mapped, &fe);
		verify_one(o, r, sha, segs[i], &f, i == nseg - 1, &cs);
		files_free(&f);
	}
	rc = 0;
out:
	af_sha_free(sha);
	free(segs);
	return rc;
}

int audit_verify_segment_mem(const uint8_t *log, size_t log_len, const uint8_t *keys, size_t keys_len,
			     const uint8_t *idx, size_t idx_len, struct audit_verify_report *r, struct err *e)
{
	struct audit_verify_opts o;
	struct chain_state cs;
	struct seg_files f;
	struct af_sha *sha;
	struct af_open op;
	uint64_t seg = 1;

	(void)e;
	memset(r, 0, sizeof *r);
	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium failed to initialise");
	memset(&o, 0, sizeof o);
	memset(&cs, 0, sizeof cs);
	memset(&f, 0, sizeof f);
	if (peek_open(log, log_len, &op))
		seg = op.segment;
	f.log = (uint8_t *)log;
	f.log_len = log_len;
	f.keys = (uint8_t *)keys;
	f.keys_len = keys_len;
	f.keys_rc = keys ? 0 : -ENOENT;
	f.idx = (uint8_t *)idx;
	f.idx_len = idx_len;
	f.idx_rc = idx ? 0 : -ENOENT;
	sha = af_sha_new();
	verify_one(&o, r, sha, seg, &f, true, &cs);
	af_sha_free(sha);
	return 0;
}
