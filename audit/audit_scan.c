/* audit_scan — the blind scan of one segment (docs/audit-format.md §8), shared by the verifier
 * and by the writer's crash recovery.
 *
 * It trusts nothing in the file: every length is checked against the bytes present and the
 * per-type bound before a payload is looked at, and nothing a frame says is acted on until its
 * header fields and chain link are checked. The scan stops at the first problem and reports it
 * with a stable code and the first bad seq, plus the state at the last checkpoint that verified
 * (everything up to there is signed: the chain makes each checkpoint's signature cover every
 * byte before it).
 */
#include "audit/audit_fmt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void problem(struct af_scan_out *o, const char *code, uint64_t seq, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void problem(struct af_scan_out *o, const char *code, uint64_t seq, size_t off, const char *fmt, ...)
{
	va_list ap;
	snprintf(o->code, sizeof o->code, "%s", code);
	o->bad_seq = seq;
	o->bad_off = off;
	va_start(ap, fmt);
	vsnprintf(o->detail, sizeof o->detail, fmt, ap);
	va_end(ap);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

void af_scan(const struct af_scan_in *in, struct af_scan_out *o)
{
	struct af_merkle m;
	uint8_t last_leaf[32], last_cp[32], leaf[32], root[32];
	uint8_t sigmsg[AF_SIGMSG_LEN];
	const uint8_t *signer = in->signer_pin;
	bool cp_known = in->have_prev, close_seen = false, ended = false;
	uint64_t seq = in->expect_seq;
	int64_t last_time = INT64_MIN;
	uint32_t batch = 0;
	size_t off = 0;

	memset(o, 0, sizeof *o);
	af_merkle_init(&m);
	memcpy(last_leaf, in->prev_leaf, 32);
	memcpy(last_cp, in->prev_cp, 32);

	while (off < in->len) {
		struct af_hdr h;
		const char *why = "";
		const uint8_t *fr = in->log + off, *pl;
		size_t flen;

		if (ended) {
			problem(o, "TRAILING_DATA", seq, off, "%zu bytes after the closing checkpoint", in->len - off);
			break;
		}
		if (in->len - off < AF_HDR) {
			o->torn = true;
			problem(o, "TRUNCATED", seq, off, "incomplete frame header (%zu bytes) at offset %zu", in->len - off, off);
			break;
		}
		if (af_hdr_decode(fr, &h, &why) != 0) {
			o->torn = true;
			problem(o, "FRAME_INVALID", seq, off, "%s at offset %zu", why, off);
			break;
		}
		if (in->len - off - AF_HDR < h.len) {
			o->torn = true;
			problem(o, "TRUNCATED", h.seq, off, "frame at offset %zu needs %u payload bytes, %zu present", off, h.len,
				in->len - off - AF_HDR);
			break;
		}
		pl = fr + AF_HDR;
		flen = AF_HDR + (size_t)h.len;

		if (o->frames == 0) {
			if (h.type != AF_OPEN || af_open_decode(pl, h.len, &o->open) != 0) {
				problem(o, "OPEN_INVALID", h.seq, off, "segment does not start with a valid OPEN record");
				break;
			}
			o->have_open = true;
			if (o->open.prev_last_seq != h.seq - 1) {
				problem(o, "OPEN_INVALID", h.seq, off, "OPEN does not name the preceding seq");
				break;
			}
			if (o->open.segment != in->segment) {
				problem(o, "SEGMENT_NUMBER", h.seq, off, "OPEN names segment %llu, file is segment %llu",
					(unsigned long long)o->open.segment, (unsigned long long)in->segment);
				break;
			}
			if (in->log_id && memcmp(in->log_id, o->open.log_id, 16) != 0) {
				problem(o, "SEGMENT_FOREIGN", h.seq, off, "segment belongs to another log (log id differs)");
				break;
			}
			if (signer && memcmp(signer, o->open.signer_pk, 32) != 0) {
				problem(o, "SIGNER_MISMATCH", h.seq, off, "segment is signed by a key other than the pinned signer");
				break;
			}
			signer = o->open.signer_pk;
			if (!in->have_prev) {
				seq = h.seq;
				memcpy(last_leaf, h.prev, 32);
			}
			o->first_time = h.time_ns;
		} else if (h.type == AF_OPEN) {
			problem(o, "FRAME_INVALID", h.seq, off, "OPEN record inside a segment");
			break;
		}
		if (h.seq != seq) {
			problem(o, "SEQ_MISMATCH", seq, off, "expected seq %llu, found %llu", (unsigned long long)seq,
				(unsigned long long)h.seq);
			break;
		}
		if (memcmp(h.prev, last_leaf, 32) != 0) {   /* public values: no need for constant time */
			problem(o, "CHAIN_BREAK", seq, off, "previous-hash does not match the preceding record");
			break;
		}
		if (h.time_ns < last_time) {
			problem(o, "TIME_REGRESSION", seq, off, "time goes backwards");
			break;
		}
		if (h.batch != batch) {
			problem(o, "BATCH_MISMATCH", seq, off, "batch %u where %u was expected", h.batch, batch);
			break;
		}
		switch (h.type) {
		case AF_OPEN:
			break;   /* checked above */
		case AF_RECOVERY:
			if (o->frames != 1 || af_recovery_decode(pl, h.len, &o->rec) != 0 ||
			    memcmp(o->rec.log_id, o->open.log_id, 16) != 0) {
				problem(o, "RECOVERY_INVALID", seq, off, "malformed or misplaced RECOVERY record");
				goto stop;
			}
			o->have_recovery = true;
			break;
		case AF_DATA:
			if (o->cps == 0 || close_seen) {
				problem(o, "FRAME_INVALID", seq, off, "data record outside the segment body");
				goto stop;
			}
			o->data++;
			if (in->on_data && in->on_data(in->arg, off, &h, fr) != 0) {
				if (!o->code[0])
					problem(o, "ABORTED", seq, off, "scan stopped");
				goto stop;
			}
			break;
		case AF_CLOSE:
			if (o->cps == 0 || close_seen || pl[0] != 1 || (pl[1] != AF_CLOSE_SHUTDOWN && pl[1] != AF_CLOSE_ROTATE) ||
			    !all_zero(pl + 2, 6) || af_get64(pl + 8) != o->data || memcmp(pl + 16, o->open.log_id, 16) != 0 ||
			    af_get64(pl + 32) != o->open.segment) {
				problem(o, "CLOSE_INVALID", seq, off, "malformed CLOSE record");
				goto stop;
			}
			close_seen = true;
			o->close_reason = pl[1];
			break;
		case AF_CHECKPOINT: {
			unsigned kind = pl[1];
			o->cps++;
			if (pl[0] != 1 || kind < AF_CP_BATCH || kind > AF_CP_CLOSE || pl[2] != o->open.fsync_mode || pl[3] ||
			    af_get32(pl + 4) != o->open.batch_max_delay_ms || af_get32(pl + 8) != o->open.heartbeat_s ||
			    af_get32(pl + 12) || memcmp(pl + 16, o->open.log_id, 16) != 0 || af_get64(pl + 32) != o->open.segment) {
				problem(o, "CHECKPOINT_INVALID", seq, off, "checkpoint fields do not match the segment");
				goto stop;
			}
			if ((o->cps == 1) != (kind == AF_CP_OPEN) || (kind == AF_CP_CLOSE) != close_seen) {
				problem(o, "CHECKPOINT_INVALID", seq, off, "checkpoint kind %u out of place", kind);
				goto stop;
			}
			if (memcmp(pl + 112, signer, 32) != 0) {
				problem(o, "SIGNER_CHANGED", seq, off, "checkpoint names a signer other than the segment's");
				goto stop;
			}
			af_merkle_root(&m, in->sha, root);
			if (af_get64(pl + 40) != m.size || memcmp(pl + 48, root, 32) != 0) {
				problem(o, "CHECKPOINT_ROOT", seq, off, "Merkle root/size differs from the records (tree size %llu)",
					(unsigned long long)m.size);
				goto stop;
			}
			if (cp_known && memcmp(pl + 80, last_cp, 32) != 0) {
				problem(o, "CHECKPOINT_CHAIN", seq, off, "checkpoint does not name the previous checkpoint");
				goto stop;
			}
			af_checkpoint_sigmsg(fr, pl, sigmsg);
			if (crypto_sign_verify_detached(pl + AF_CP_SIGNED, sigmsg, sizeof sigmsg, signer) != 0) {
				problem(o, "CHECKPOINT_SIG", seq, off, "signature verification failed");
				goto stop;
			}
			if (in->on_checkpoint)
				in->on_checkpoint(in->arg, &h, kind);
			if (kind == AF_CP_CLOSE)
				ended = true;
			break;
		}
		default:
			problem(o, "FRAME_INVALID", seq, off, "unexpected record type");
			goto stop;
		}

		af_leaf_hash(in->sha, fr, AF_HDR, pl, h.len, leaf);   /* RFC 9162 leaf over the ciphertext */
		af_merkle_push(&m, in->sha, leaf);
		memcpy(last_leaf, leaf, 32);
		last_time = h.time_ns;
		o->last_time = h.time_ns;
		o->frames++;
		seq++;
		off += flen;
		if (h.type == AF_CHECKPOINT) {
			memcpy(last_cp, leaf, 32);
			cp_known = true;
			batch++;
			o->have_good = true;
			o->good_end = off;
			o->good_last_seq = h.seq;
			memcpy(o->good_leaf, leaf, 32);
			memcpy(o->good_cp, leaf, 32);
			o->good_time = h.time_ns;
			o->good_data = o->data;
			o->good_frames = o->frames;
			o->good_cps = o->cps;
			o->closed = ended;
		}
	}
stop:
	o->frames_after_good = (uint32_t)(o->frames - o->good_frames);
	if (o->frames == 0 && !o->code[0])
		problem(o, "OPEN_INVALID", seq, 0, "empty segment");
}
