/* audit_writer — the sidecar's side of the audit log: sequence, encrypt, chain, checkpoint,
 * group-commit, rotate and recover (docs/audit-format.md; research/audit-proxy.md §2.4–2.5).
 *
 * Owns: the log directory lock, the open segment's files, the pending batch, and the only
 * secrets the sidecar holds: the current batch key K_b (ratcheted and wiped at every
 * checkpoint, so earlier batches cannot be decrypted with anything this process keeps), the
 * Ed25519 signing key and the index key. Segment keys are random, sealed to the reviewers with
 * crypto_box_seal and never kept.
 *
 * Concurrency: appenders sequence and encrypt under one mutex (the hash chain is sequential by
 * nature) into the pending batch; one writer thread seals the batch with a signed checkpoint,
 * writes it with one pwrite and one fdatasync, and wakes every appender whose record it made
 * durable (group commit). Any I/O failure is sticky: every later append fails (fail closed).
 */
#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit/audit_fmt.h"
#include "lib/mem.h"

#define PEND_MAX (64u << 20)        /* appenders wait when this much is pending */
#define BATCH_BYTES (1u << 20)      /* batch mode: seal early past this size */

struct vec {
	uint8_t *p;
	size_t len, cap;
};

static uint8_t *vec_grow(struct vec *v, size_t n)
{
	if (v->cap - v->len < n) {
		size_t nc = v->cap ? v->cap : 65536;
		while (nc - v->len < n)
			nc *= 2;
		v->p = xrealloc(v->p, nc);
		v->cap = nc;
	}
	v->len += n;
	return v->p + v->len - n;
}

struct wsecret {
	uint8_t key[32];        /* K_b: the current batch key */
	uint8_t sk[64];         /* Ed25519 signing key */
	uint8_t idx[32];        /* index key */
	uint8_t plain[AF_ENV_PLAIN];
	uint8_t seed[32];       /* test-only deterministic seed */
};

struct audit_writer {
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done, cv_space;
	pthread_t thr;
	bool threaded, stop, flush_req, io_busy;

	char *dir;
	int lockfd, logfd, idxfd;
	enum audit_fsync mode;
	unsigned delay_ms, heartbeat_s, seg_age_s;
	uint64_t seg_max;
	uint8_t rcpt[AUDIT_MAX_RECIPIENTS][32];
	size_t nrcpt;
	uint8_t signer_pk[32];
	bool has_index, det;
	struct wsecret *sec;
	uint8_t *scratch;       /* plaintext assembly, sodium_malloc, wiped after each record */
	int64_t (*clock)(void *);
	void *clock_arg;
	struct af_sha *sha;

	uint8_t log_id[16];
	uint64_t segment;
	uint64_t seg_len;       /* logical length of the segment incl. pending bytes */
	uint64_t file_off, idx_off;   /* bytes written to the files (I/O side) */
	int64_t seg_born;
	uint32_t batch;
	struct af_merkle m;
	uint64_t seg_data;
	uint64_t next_seq;
	uint8_t last_leaf[32], last_cp[32];
	int64_t last_time;

	struct vec pend, pend_idx, spare, spare_idx;
	uint32_t unsealed;      /* frames in pend after the last checkpoint */
	int64_t pend_since;
	uint8_t *newkeys;       /* keys image of a segment begun in memory, not yet on disk */
	size_t newkeys_len;
	uint64_t newseg;        /* its number */
	uint64_t written_seq, durable_seq;
	int64_t last_cp_mono;

	int fail;
	char fail_msg[256];
};

/* On-disk fsync code (docs §3.1): 0 none, 1 always, 2 batch. */
static uint8_t disk_mode(enum audit_fsync m)
{
	return m == AUDIT_FSYNC_ALWAYS ? 1 : m == AUDIT_FSYNC_BATCH ? 2 : 0;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ns(struct audit_writer *w)
{
	struct timespec ts;
	int64_t t;
	if (w->clock) {
		t = w->clock(w->clock_arg);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
	/* Record times never go backwards (verifiers check it), even if the wall clock steps. */
	if (t < w->last_time)
		t = w->last_time;
	w->last_time = t;
	return t;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t r = pwrite(fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* ------------------------------------------------------------------ frame emitters (locked) */

/* Reserve a frame in pend and fill its header; the caller fills the payload then calls
 * frame_end. Returns the frame start (valid until the next reservation). */
static uint8_t *frame_begin(struct audit_writer *w, uint8_t type, uint32_t len, struct af_hdr *h)
{
	uint8_t *fr = vec_grow(&w->pend, AF_HDR + (size_t)len);
	memset(h, 0, sizeof *h);
	h->type = type;
	h->len = len;
	h->batch = w->batch;
	h->seq = w->next_seq;
	h->time_ns = wall_ns(w);
	memcpy(h->prev, w->last_leaf, 32);
	af_hdr_encode(fr, h);
	return fr;
}

static void frame_end(struct audit_writer *w, const uint8_t *fr, const struct af_hdr *h)
{
	uint8_t leaf[32];
	af_leaf_hash(w->sha, fr, AF_HDR, fr + AF_HDR, h->len, leaf);
	af_merkle_push(&w->m, w->sha, leaf);
	memcpy(w->last_leaf, leaf, 32);
	w->next_seq++;
	w->seg_len += AF_HDR + (uint64_t)h->len;
	w->unsealed++;
	if (h->type == AF_CHECKPOINT)
		memcpy(w->last_cp, leaf, 32);
}

/* Seal the batch: signed checkpoint over the segment's tree so far, then ratchet the batch key
 * forward and wipe the old one (research §2.4: K_{b+1} = H(K_b)). */
static void emit_checkpoint(struct audit_writer *w, unsigned kind)
{
	struct af_hdr h;
	uint8_t *fr = frame_begin(w, AF_CHECKPOINT, AF_CP_LEN, &h), *pl = fr + AF_HDR;
	uint8_t sigmsg[AF_SIGMSG_LEN];

	memset(pl, 0, AF_CP_LEN);
	pl[0] = 1;
	pl[1] = (uint8_t)kind;
	pl[2] = disk_mode(w->mode);
	af_put32(pl + 4, w->delay_ms);
	af_put32(pl + 8, w->heartbeat_s);
	memcpy(pl + 16, w->log_id, 16);
	af_put64(pl + 32, w->segment);
	af_put64(pl + 40, w->m.size);
	af_merkle_root(&w->m, w->sha, pl + 48);
	memcpy(pl + 80, w->last_cp, 32);
	memcpy(pl + 112, w->signer_pk, 32);
	af_checkpoint_sigmsg(fr, pl, sigmsg);
	crypto_sign_detached(pl + AF_CP_SIGNED, NULL, sigmsg, sizeof sigmsg, w->sec->sk);
	frame_end(w, fr, &h);
	w->unsealed = 0;
	w->batch++;
	af_ratchet(w->sec->key);
	w->last_cp_mono = mono_ns();
}

static void emit_close(struct audit_writer *w, uint8_t reason)
{
	struct af_hdr h;
	uint8_t *fr = frame_begin(w, AF_CLOSE, AF_CLOSE_LEN, &h), *pl = fr + AF_HDR;
	memset(pl, 0, AF_CLOSE_LEN);
	pl[0] = 1;
	pl[1] = reason;
	af_put64(pl + 8, w->seg_data);
	memcpy(pl + 16, w->log_id, 16);
	af_put64(pl + 32, w->segment);
	frame_end(w, fr, &h);
	emit_checkpoint(w, AF_CP_CLOSE);
}

static void derive_det(const uint8_t seed[32], const char *label, uint64_t n, uint8_t *out, size_t outlen)
{
	crypto_generichash_state st;
	uint8_t nb[8];
	af_put64(nb, n);
	crypto_generichash_init(&st, seed, 32, outlen);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(&st, nb, 8);
	crypto_generichash_final(&st, out, outlen);
	sodium_memzero(&st, sizeof st);
}

/* Begin segment n in memory: fresh K_0 sealed to every recipient (the keys image is written by
 * the I/O side before the segment's first bytes), OPEN [+ RECOVERY] and the opening checkpoint,
 * after which K_0 itself is already ratcheted away. */
static void segment_begin(struct audit_writer *w, uint64_t n, const struct af_recovery *rec)
{
	struct af_open op;
	struct af_hdr h;
	uint8_t *fr, *plain = w->sec->plain;

	w->segment = n;
	w->batch = 0;
	af_merkle_init(&w->m);
	w->seg_len = 0;
	w->seg_data = 0;
	w->seg_born = mono_ns();
	if (w->det)
		derive_det(w->sec->seed, "ehrgate-audit test segment key", n, w->sec->key, 32);
	else
		randombytes_buf(w->sec->key, 32);

	memset(plain, 0, AF_ENV_PLAIN);
	plain[0] = 1;
	plain[1] = w->has_index ? 1 : 0;
	memcpy(plain + 8, w->log_id, 16);
	af_put64(plain + 24, n);
	memcpy(plain + 32, w->sec->key, 32);
	if (w->has_index)
		memcpy(plain + 64, w->sec->idx, 32);
	free(w->newkeys);
	w->newkeys = af_keys_build(w->log_id, n, plain, (const uint8_t(*)[32])w->rcpt, w->nrcpt, &w->newkeys_len);
	w->newseg = n;
	sodium_memzero(plain, AF_ENV_PLAIN);

	memset(&op, 0, sizeof op);
	op.fsync_mode = disk_mode(w->mode);
	op.batch_max_delay_ms = w->delay_ms;
	op.heartbeat_s = w->heartbeat_s;
	op.n_recipients = (uint32_t)w->nrcpt;
	memcpy(op.log_id, w->log_id, 16);
	op.segment = n;
	op.prev_last_seq = w->next_seq - 1;
	af_key_commit(w->sec->key, op.key_commit);
	if (w->has_index)
		af_index_commit(w->sec->idx, op.index_commit);
	memcpy(op.signer_pk, w->signer_pk, 32);
	fr = frame_begin(w, AF_OPEN, AF_OPEN_LEN, &h);
	af_open_encode(fr + AF_HDR, &op);
	frame_end(w, fr, &h);
	if (rec) {
		fr = frame_begin(w, AF_RECOVERY, AF_RECOVERY_LEN, &h);
		af_recovery_encode(fr + AF_HDR, rec);
		frame_end(w, fr, &h);
	}
	emit_checkpoint(w, AF_CP_OPEN);
}

/* ------------------------------------------------------------------ I/O side */

static int segment_files_create(struct audit_writer *w, uint64_t n, const uint8_t *keys, size_t keys_len,
				int *logfd, int *idxfd, struct err *e)
{
	char path[4096];
	uint8_t hdr[AF_IDX_HDR];
	int rc, dfd;

	*logfd = *idxfd = -1;
	if ((rc = af_seg_path(path, sizeof path, w->dir, n, "keys")) != 0)
		return err_set(e, rc, "%s: path too long", w->dir);
	if ((rc = af_write_file_atomic(w->dir, path, keys, keys_len, 0600, w->mode != AUDIT_FSYNC_NONE, e)) != 0)
		return rc;
	af_seg_path(path, sizeof path, w->dir, n, "log");
	*logfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (*logfd < 0)
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	af_seg_path(path, sizeof path, w->dir, n, "idx");
	*idxfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (*idxfd < 0) {
		rc = err_set(e, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	memset(hdr, 0, sizeof hdr);
	memcpy(hdr, AF_IDX_MAGIC, 4);
	hdr[4] = 1;
	memcpy(hdr + 8, w->log_id, 16);
	af_put64(hdr + 24, n);
	if ((rc = pwrite_all(*idxfd, hdr, sizeof hdr, 0)) != 0) {
		err_set(e, rc, "%s: write: %s", path, strerror(-rc));
		goto fail;
	}
	/* The new names must be durable before anything in them is acknowledged. */
	if (w->mode == AUDIT_FSYNC_NONE)
		return 0;   /* "none" promises no durability (tests, benchmarks) */
	dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		rc = err_set(e, -errno, "%s: fsync: %s", w->dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		goto fail;
	}
	close(dfd);
	return 0;
fail:
	if (*logfd >= 0)
		close(*logfd);
	if (*idxfd >= 0)
		close(*idxfd);
	*logfd = *idxfd = -1;
	return rc;
}

static void set_fail(struct audit_writer *w, int rc, const char *msg)
{
	if (!w->fail) {
		w->fail = rc ? rc : -EIO;
		snprintf(w->fail_msg, sizeof w->fail_msg, "%s", msg);
	}
	pthread_cond_broadcast(&w->cv_done);
	pthread_cond_broadcast(&w->cv_space);
}

enum seal { SEAL_BATCH, SEAL_HEARTBEAT, SEAL_CLOSE };

/* Seal what is pending and write it. Called with the lock held; drops it during I/O. Only one
 * flush runs at a time (io_busy), so file offsets and descriptors belong to the flusher. */
static int flush_locked(struct audit_writer *w, enum seal kind)
{
	struct vec job, jidx;
	bool rotate = false, fresh = false;
	uint64_t last_seq, rotate_to = 0;
	int logfd, idxfd, rc = 0;
	struct err e;
	uint8_t *keys = NULL;
	size_t keys_len = 0;

	while (w->io_busy)
		pthread_cond_wait(&w->cv_done, &w->mu);
	if (w->fail)
		return w->fail;
	if (kind == SEAL_CLOSE) {
		emit_close(w, AF_CLOSE_SHUTDOWN);
	} else if (w->unsealed || kind == SEAL_HEARTBEAT) {
		rotate = w->seg_len >= w->seg_max ||
			 (w->seg_age_s && mono_ns() - w->seg_born >= (int64_t)w->seg_age_s * 1000000000);
		if (rotate)
			emit_close(w, AF_CLOSE_ROTATE);
		else
			emit_checkpoint(w, kind == SEAL_HEARTBEAT && !w->unsealed ? AF_CP_HEARTBEAT : AF_CP_BATCH);
	}
	if (w->pend.len == 0)
		return 0;
	/* Hand the batch to the I/O side; appenders continue into the spare buffers. */
	job = w->pend;
	jidx = w->pend_idx;
	w->pend = w->spare;
	w->pend_idx = w->spare_idx;
	w->pend.len = w->pend_idx.len = 0;
	memset(&w->spare, 0, sizeof w->spare);
	memset(&w->spare_idx, 0, sizeof w->spare_idx);
	last_seq = w->next_seq - 1;
	logfd = w->logfd;
	idxfd = w->idxfd;
	if (w->newkeys) {   /* this batch starts a segment whose files do not exist yet */
		fresh = true;
		keys = w->newkeys;
		keys_len = w->newkeys_len;
		rotate_to = w->newseg;
		w->newkeys = NULL;
	}
	if (rotate)
		segment_begin(w, w->segment + 1, NULL);   /* next segment's OPEN goes first in pend */
	w->io_busy = true;
	pthread_mutex_unlock(&w->mu);

	err_clear(&e);
	if (fresh) {
		rc = segment_files_create(w, rotate_to, keys, keys_len, &logfd, &idxfd, &e);
		if (rc == 0) {
			w->logfd = logfd;
			w->idxfd = idxfd;
			w->file_off = 0;
			w->idx_off = AF_IDX_HDR;
		}
	}
	if (rc == 0 && (rc = pwrite_all(logfd, job.p, job.len, w->file_off)) != 0)
		err_set(&e, rc, "segment %llu: write: %s", (unsigned long long)rotate_to, strerror(-rc));
	if (rc == 0 && w->mode != AUDIT_FSYNC_NONE && fdatasync(logfd) != 0)
		rc = err_set(&e, -errno, "fdatasync: %s", strerror(errno));
	if (rc == 0) {
		w->file_off += job.len;
		/* The index is advisory and rebuilt from the log on recovery: no fdatasync here. */
		if (jidx.len && (rc = pwrite_all(idxfd, jidx.p, jidx.len, w->idx_off)) != 0)
			err_set(&e, rc, "index write: %s", strerror(-rc));
		w->idx_off += jidx.len;
	}
	if (rc == 0 && (rotate || kind == SEAL_CLOSE)) {
		if (w->mode != AUDIT_FSYNC_NONE && fdatasync(idxfd) != 0)
			rc = err_set(&e, -errno, "index fdatasync: %s", strerror(errno));
		close(logfd);
		close(idxfd);
		w->logfd = w->idxfd = -1;
	}
	free(keys);

	pthread_mutex_lock(&w->mu);
	w->io_busy = false;
	/* the written buffers become the spares for the next swap */
	job.len = jidx.len = 0;
	w->spare = job;
	w->spare_idx = jidx;
	if (rc) {
		set_fail(w, rc, e.msg);
		return rc;
	}
	w->written_seq = w->durable_seq = last_seq;
	pthread_cond_broadcast(&w->cv_done);
	pthread_cond_broadcast(&w->cv_space);
	if (rotate)
		w->flush_req = true;   /* write the new segment's OPEN now, not at the next record */
	return 0;
}

static void *writer_thread(void *arg)
{
	struct audit_writer *w = arg;
	int64_t hb_ns = (int64_t)w->heartbeat_s * 1000000000, delay_ns = (int64_t)w->delay_ms * 1000000;

	pthread_mutex_lock(&w->mu);
	while (!w->stop && !w->fail) {
		int64_t now = mono_ns(), deadline = INT64_MAX;
		bool hb = hb_ns && now - w->last_cp_mono >= hb_ns;
		bool pend = w->pend.len > 0;
		bool go = w->flush_req || hb ||
			  (pend && (w->mode == AUDIT_FSYNC_ALWAYS || !w->unsealed || now - w->pend_since >= delay_ns ||
				    w->pend.len >= BATCH_BYTES));
		if (go) {
			w->flush_req = false;
			flush_locked(w, hb && !w->unsealed ? SEAL_HEARTBEAT : SEAL_BATCH);
			continue;
		}
		if (hb_ns)
			deadline = w->last_cp_mono + hb_ns;
		if (pend && w->pend_since + delay_ns < deadline)
			deadline = w->pend_since + delay_ns;
		if (deadline == INT64_MAX) {
			pthread_cond_wait(&w->cv_work, &w->mu);
		} else {
			struct timespec ts = {.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000};
			pthread_cond_timedwait(&w->cv_work, &w->mu, &ts);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* ------------------------------------------------------------------ recovery */

struct rebuild {
	struct vec idx;
	uint64_t upto;
};

static int rebuild_on_data(void *arg, size_t off, const struct af_hdr *h, const uint8_t *fr)
{
	struct rebuild *rb = arg;
	uint8_t *ent;
	if (h->seq > rb->upto)
		return 0;
	ent = vec_grow(&rb->idx, AF_IDX_ENTRY);
	af_put64(ent, h->seq);
	af_put64(ent + 8, (uint64_t)h->time_ns);
	af_put64(ent + 16, off);
	af_put32(ent + 24, h->batch);
	af_put32(ent + 28, AF_HDR + h->len);
	memcpy(ent + 32, fr + AF_HDR, AF_TAGS);
	return 0;
}

static int scan_file(struct audit_writer *w, uint64_t seg, uint8_t **buf, size_t *len, struct af_scan_out *so,
		     struct rebuild *rb, struct err *e)
{
	char path[4096];
	struct af_scan_in in;
	int rc;

	af_seg_path(path, sizeof path, w->dir, seg, "log");
	rc = af_read_file(path, AF_SEGMENT_FILE_MAX, buf, len, e);
	if (rc)
		return rc;
	memset(&in, 0, sizeof in);
	in.log = *buf;
	in.len = *len;
	in.segment = seg;
	in.sha = w->sha;
	if (rb) {
		in.on_data = rebuild_on_data;
		in.arg = rb;
	}
	af_scan(&in, so);
	return 0;
}

/* Move a file aside for reviewers (never delete evidence): NAME -> NAME.discarded */
static void set_aside(const char *dir, uint64_t seg, const char *ext)
{
	char a[4096], b[4200];
	af_seg_path(a, sizeof a, dir, seg, ext);
	snprintf(b, sizeof b, "%s.discarded", a);
	rename(a, b);
}

/* Decide where the chain continues and describe what is discarded. Sets the chain state and
 * the segment number to begin; *need_rec says whether a RECOVERY record is due. */
static int recover(struct audit_writer *w, const uint64_t *segs, size_t nseg, uint64_t *next_segment,
		   struct af_recovery *rec, bool *need_rec, struct err *e)
{
	struct af_scan_out *so = xcalloc(1, sizeof *so);
	struct rebuild rb;
	uint8_t *buf = NULL;
	size_t len = 0, ri = nseg - 1;
	int rc;

	memset(rec, 0, sizeof *rec);
	memset(&rb, 0, sizeof rb);
	*need_rec = false;
	rb.upto = UINT64_MAX;
	rc = scan_file(w, segs[ri], &buf, &len, so, &rb, e);
	if (rc)
		goto out;
	if (!so->have_good) {
		/* Segment creation never completed (or its opening is damaged): set it aside. */
		rec->removed_segment = segs[ri];
		rec->removed_bytes = len;
		rec->reason = AF_REC_SEG_INCOMPLETE;
		set_aside(w->dir, segs[ri], "log");
		set_aside(w->dir, segs[ri], "keys");
		set_aside(w->dir, segs[ri], "idx");
		*need_rec = true;
		free(buf);
		buf = NULL;
		free(rb.idx.p);
		memset(&rb, 0, sizeof rb);
		rb.upto = UINT64_MAX;
		if (ri == 0) {   /* nothing usable at all: a new log begins */
			rec->prev_segment = 0;
			*next_segment = segs[ri];
			rc = 0;
			goto out;
		}
		ri--;
		rc = scan_file(w, segs[ri], &buf, &len, so, &rb, e);
		if (rc)
			goto out;
		if (!so->have_good) {
			rc = err_set(e, -EBADMSG, "segment %llu has no valid checkpoint; refusing to guess (run verify)",
				     (unsigned long long)segs[ri]);
			goto out;
		}
	}
	memcpy(w->log_id, so->open.log_id, 16);
	w->next_seq = so->good_last_seq + 1;
	memcpy(w->last_leaf, so->good_leaf, 32);
	memcpy(w->last_cp, so->good_cp, 32);
	w->last_time = so->good_time;
	*next_segment = segs[ri] + 1;
	rec->prev_segment = segs[ri];
	rec->last_good_seq = so->good_last_seq;
	memcpy(rec->log_id, w->log_id, 16);
	if (so->closed)
		goto out;   /* clean: nothing to truncate */
	*need_rec = true;
	rec->bytes_discarded = len - so->good_end;
	rec->frames_discarded = so->frames_after_good;
	rec->reason = so->torn ? AF_REC_TORN : so->code[0] ? AF_REC_BAD_CHAIN : so->frames_after_good ? AF_REC_UNSIGNED
													: AF_REC_NOT_CLOSED;
	af_sha256(w->sha, buf + so->good_end, rec->bytes_discarded, rec->discarded_sha256);
	{
		char path[4096], dpath[4200];
		int fd;
		af_seg_path(path, sizeof path, w->dir, segs[ri], "log");
		if (rec->bytes_discarded) {
			/* Keep the discarded bytes beside the log for reviewers (their hash is in RECOVERY). */
			snprintf(dpath, sizeof dpath, "%s.discarded", path);
			rc = af_write_file_atomic(w->dir, dpath, buf + so->good_end, rec->bytes_discarded, 0600, w->mode != AUDIT_FSYNC_NONE, e);
			if (rc)
				goto out;
		}
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)so->good_end) != 0 || (w->mode != AUDIT_FSYNC_NONE && fsync(fd) != 0)) {
			rc = err_set(e, -errno, "%s: truncate: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
		/* Rebuild the index of the kept records. */
		{
			uint8_t *img;
			size_t n;
			rb.upto = so->good_last_seq;
			n = AF_IDX_HDR;
			for (size_t i = 0; i + AF_IDX_ENTRY <= rb.idx.len; i += AF_IDX_ENTRY)
				if (af_get64(rb.idx.p + i) <= rb.upto)
					n += AF_IDX_ENTRY;
			img = xcalloc(1, n);
			memcpy(img, AF_IDX_MAGIC, 4);
			img[4] = 1;
			memcpy(img + 8, w->log_id, 16);
			af_put64(img + 24, segs[ri]);
			if (n > AF_IDX_HDR)   /* kept entries are a prefix: seqs only grow */
				memcpy(img + AF_IDX_HDR, rb.idx.p, n - AF_IDX_HDR);
			af_seg_path(path, sizeof path, w->dir, segs[ri], "idx");
			rc = af_write_file_atomic(w->dir, path, img, n, 0600, w->mode != AUDIT_FSYNC_NONE, e);
			free(img);
			if (rc)
				goto out;
		}
	}
out:
	free(buf);
	free(rb.idx.p);
	free(so);
	return rc;
}

/* ------------------------------------------------------------------ public API */

int audit_writer_open(const struct audit_writer_opts *o, struct audit_writer **out, struct err *e)
{
	struct audit_writer *w;
	struct audit_secret *sk = NULL, *ik = NULL;
	uint64_t *segs = NULL, first_seg = 1;
	size_t nseg = 0;
	struct af_recovery rec;
	bool need_rec = false;
	char path[4096];
	int rc = 0;
	pthread_condattr_t ca;

	*out = NULL;
	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium failed to initialise");
	if (!o || !o->dir || !o->signer_key_path || (!o->reviewer_pub_path && !o->n_reviewer_pub))
		return err_set(e, -EINVAL, "audit writer: dir, signer key and at least one reviewer key are required");
	if (o->fsync != AUDIT_FSYNC_ALWAYS && o->fsync != AUDIT_FSYNC_BATCH && o->fsync != AUDIT_FSYNC_NONE)
		return err_set(e, -EINVAL, "audit writer: unknown fsync mode");

	w = xcalloc(1, sizeof *w);
	w->lockfd = w->logfd = w->idxfd = -1;
	w->dir = xstrdup(o->dir);
	w->mode = o->fsync;
	w->delay_ms = o->batch_max_delay_ms ? o->batch_max_delay_ms : 5;
	w->heartbeat_s = o->heartbeat_s ? o->heartbeat_s : 10;
	w->seg_max = o->segment_max_bytes ? o->segment_max_bytes : (256ull << 20);
	w->seg_age_s = o->segment_max_age_s ? o->segment_max_age_s : 3600;
	w->clock = o->clock_ns;
	w->clock_arg = o->clock_arg;
	w->threaded = !o->synchronous;
	w->last_time = INT64_MIN;
	w->sha = af_sha_new();
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv_work, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&w->cv_done, NULL);
	pthread_cond_init(&w->cv_space, NULL);
	w->sec = sodium_malloc(sizeof *w->sec);
	w->scratch = sodium_malloc(AF_PLAIN_MAX);
	if (!w->sec || !w->scratch) {
		rc = err_set(e, -ENOMEM, "out of secure memory");
		goto fail;
	}
	memset(w->sec, 0, sizeof *w->sec);

	/* keys */
	if (o->reviewer_pub_path) {
		if ((rc = audit_load_reviewer_pub(o->reviewer_pub_path, w->rcpt[w->nrcpt], e)) != 0)
			goto fail;
		w->nrcpt++;
	}
	for (size_t i = 0; i < o->n_reviewer_pub; i++) {
		if (w->nrcpt == AUDIT_MAX_RECIPIENTS) {
			rc = err_set(e, -E2BIG, "at most %d reviewer keys", AUDIT_MAX_RECIPIENTS);
			goto fail;
		}
		if ((rc = audit_load_reviewer_pub(o->reviewer_pub_paths[i], w->rcpt[w->nrcpt], e)) != 0)
			goto fail;
		w->nrcpt++;
	}
	if ((rc = audit_load_signer_key(o->signer_key_path, &sk, e)) != 0)
		goto fail;
	memcpy(w->sec->sk, sk->sk, 64);
	memcpy(w->signer_pk, sk->pk, 32);
	audit_secret_free(sk);
	sk = NULL;
	if (o->index_key_path) {
		if ((rc = audit_load_index_key(o->index_key_path, &ik, e)) != 0)
			goto fail;
		memcpy(w->sec->idx, ik->sk, 32);
		w->has_index = true;
		audit_secret_free(ik);
		ik = NULL;
	}
	if (o->deterministic_seed) {
		w->det = true;
		memcpy(w->sec->seed, o->deterministic_seed, 32);
	}

	/* directory + lock */
	if (mkdir(w->dir, 0700) != 0 && errno != EEXIST) {
		rc = err_set(e, -errno, "%s: %s", w->dir, strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof path, "%s/LOCK", w->dir);
	w->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (w->lockfd < 0) {
		rc = err_set(e, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (flock(w->lockfd, LOCK_EX | LOCK_NB) != 0) {
		rc = err_set(e, -EBUSY, "%s: the log is open in another writer", w->dir);
		goto fail;
	}

	if ((rc = af_list_segments(w->dir, &segs, &nseg, e)) != 0)
		goto fail;
	if (nseg == 0) {
		if (w->det)
			derive_det(w->sec->seed, "ehrgate-audit test log id", 0, w->log_id, 16);
		else
			randombytes_buf(w->log_id, 16);
		w->next_seq = 1;
	} else {
		if ((rc = recover(w, segs, nseg, &first_seg, &rec, &need_rec, e)) != 0)
			goto fail;
		if (rec.prev_segment == 0 && need_rec) {   /* whole log unusable: new identity */
			if (w->det)
				derive_det(w->sec->seed, "ehrgate-audit test log id", 0, w->log_id, 16);
			else
				randombytes_buf(w->log_id, 16);
			memcpy(rec.log_id, w->log_id, 16);
			w->next_seq = 1;
		}
	}
	free(segs);
	segs = NULL;
	if (first_seg > AF_SEGMENT_NO_MAX) {
		rc = err_set(e, -ENOSPC, "%s: segment numbers exhausted", w->dir);
		goto fail;
	}

	pthread_mutex_lock(&w->mu);
	segment_begin(w, first_seg, need_rec ? &rec : NULL);
	rc = flush_locked(w, SEAL_BATCH);
	pthread_mutex_unlock(&w->mu);
	if (rc) {
		err_set(e, rc, "%s: %s", w->dir, w->fail_msg);
		goto fail;
	}
	w->last_cp_mono = mono_ns();
	if (w->threaded && pthread_create(&w->thr, NULL, writer_thread, w) != 0) {
		rc = err_set(e, -EAGAIN, "cannot start the audit writer thread");
		w->threaded = false;
		goto fail;
	}
	*out = w;
	return 0;
fail:
	free(segs);
	audit_secret_free(sk);
	audit_secret_free(ik);
	w->threaded = false;
	w->fail = rc;
	audit_writer_close(w, NULL);
	return rc;
}

static size_t tag_len(const char *s, bool *ok)
{
	size_t n;
	if (!s)
		return 0;
	n = strnlen(s, AUDIT_TAG_VALUE_MAX + 1);
	if (n > AUDIT_TAG_VALUE_MAX)
		*ok = false;
	return n;
}

int audit_writer_submit(struct audit_writer *w, const char *json, size_t len, const struct audit_tags *tags,
			uint64_t *seq_out, struct err *e)
{
	const char *tv[3] = {tags ? tags->patient : NULL, tags ? tags->user : NULL, tags ? tags->decision : NULL};
	size_t tl[3], plain_len;
	bool ok = true;
	struct af_hdr h;
	uint8_t *fr, *pl, *p, *ent, nonce[24], tags_bin[AF_TAGS];
	unsigned long long clen;

	if (seq_out)
		*seq_out = 0;
	if (!w)
		return err_set(e, -EINVAL, "audit writer is not open");
	for (int i = 0; i < 3; i++)
		tl[i] = tag_len(tv[i], &ok);
	if (!ok)
		return err_set(e, -E2BIG, "tag value longer than %d bytes", AUDIT_TAG_VALUE_MAX);
	if (!json || len > AUDIT_RECORD_MAX)
		return err_set(e, -E2BIG, "record larger than %u bytes", AUDIT_RECORD_MAX);
	if (!audit_json_object_valid(json, len, 64))
		return err_set(e, -EINVAL, "record is not a JSON object");
	plain_len = AF_INNER_HDR + tl[0] + tl[1] + tl[2] + len;
	/* Blind-index tags do not depend on the sequence: compute them before taking the lock so
	 * concurrent appenders hash in parallel (the index key is read-only after open). */
	memset(tags_bin, 0, sizeof tags_bin);
	if (w->has_index)
		for (int i = 0; i < 3; i++)
			if (tv[i])
				af_tag(w->sec->idx, af_tag_field[i], tv[i], tl[i], tags_bin + i * AF_TAG_BYTES);

	pthread_mutex_lock(&w->mu);
	while (w->threaded && !w->fail && w->pend.len > PEND_MAX)
		pthread_cond_wait(&w->cv_space, &w->mu);
	if (w->fail) {
		int rc = err_set(e, w->fail, "audit log failed: %s", w->fail_msg);
		pthread_mutex_unlock(&w->mu);
		return rc;
	}
	/* inner plaintext (docs §3.2) in wiped memory */
	p = w->scratch;
	p[0] = 1;
	p[1] = (uint8_t)((tv[0] ? 1 : 0) | (tv[1] ? 2 : 0) | (tv[2] ? 4 : 0));
	for (int i = 0; i < 3; i++)
		af_put16(p + 2 + 2 * i, (uint16_t)tl[i]);
	p += AF_INNER_HDR;
	for (int i = 0; i < 3; i++) {
		if (tl[i])
			memcpy(p, tv[i], tl[i]);
		p += tl[i];
	}
	memcpy(p, json, len);

	fr = frame_begin(w, AF_DATA, (uint32_t)(AF_TAGS + plain_len + AF_AEAD_ABYTES), &h);
	pl = fr + AF_HDR;
	memcpy(pl, tags_bin, AF_TAGS);
	af_nonce(nonce, w->segment, h.seq);
	/* AD = header || tags: nothing in the clear can be edited without failing decryption. */
	crypto_aead_xchacha20poly1305_ietf_encrypt(pl + AF_TAGS, &clen, w->scratch, plain_len, fr, AF_HDR + AF_TAGS, NULL,
						   nonce, w->sec->key);
	sodium_memzero(w->scratch, plain_len);

	ent = vec_grow(&w->pend_idx, AF_IDX_ENTRY);
	af_put64(ent, h.seq);
	af_put64(ent + 8, (uint64_t)h.time_ns);
	af_put64(ent + 16, w->seg_len);
	af_put32(ent + 24, h.batch);
	af_put32(ent + 28, AF_HDR + h.len);
	memcpy(ent + 32, pl, AF_TAGS);

	if (w->unsealed == 0)
		w->pend_since = mono_ns();
	frame_end(w, fr, &h);
	w->seg_data++;
	if (seq_out)
		*seq_out = h.seq;
	if (w->threaded) {
		if (w->mode == AUDIT_FSYNC_ALWAYS || w->unsealed == 1 || w->pend.len >= BATCH_BYTES)
			pthread_cond_signal(&w->cv_work);
	} else if (w->pend.len >= PEND_MAX) {
		flush_locked(w, SEAL_BATCH);
	}
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int audit_writer_sync(struct audit_writer *w, uint64_t seq, struct err *e)
{
	int rc = 0;

	pthread_mutex_lock(&w->mu);
	if (!w->threaded && w->durable_seq < seq && !w->fail)
		flush_locked(w, SEAL_BATCH);
	if (w->threaded && w->durable_seq < seq && !w->fail) {
		/* someone is waiting: seal now rather than at the batch deadline */
		w->flush_req = true;
		pthread_cond_signal(&w->cv_work);
	}
	while (w->durable_seq < seq && !w->fail)
		pthread_cond_wait(&w->cv_done, &w->mu);
	if (w->durable_seq < seq)
		rc = err_set(e, w->fail, "audit log failed: %s", w->fail_msg);
	pthread_mutex_unlock(&w->mu);
	return rc;
}

int audit_writer_append(struct audit_writer *w, const char *json, size_t len, const struct audit_tags *tags,
			uint64_t *seq_out, struct err *e)
{
	uint64_t seq;
	int rc = audit_writer_submit(w, json, len, tags, &seq, e);
	if (rc)
		return rc;
	if (w->mode == AUDIT_FSYNC_ALWAYS && (rc = audit_writer_sync(w, seq, e)) != 0)
		return rc;
	if (seq_out)
		*seq_out = seq;
	return 0;
}

int audit_writer_flush(struct audit_writer *w, struct err *e)
{
	uint64_t target;

	pthread_mutex_lock(&w->mu);
	target = w->next_seq - 1;
	if (!w->threaded) {
		flush_locked(w, SEAL_BATCH);
	} else {
		w->flush_req = true;
		pthread_cond_signal(&w->cv_work);
		/* A checkpoint is appended after the last record, so wait for the seq after it. */
		while (w->durable_seq < target && !w->fail)
			pthread_cond_wait(&w->cv_done, &w->mu);
	}
	if (w->fail) {
		int rc = err_set(e, w->fail, "audit log failed: %s", w->fail_msg);
		pthread_mutex_unlock(&w->mu);
		return rc;
	}
	pthread_mutex_unlock(&w->mu);
	return 0;
}

void audit_writer_debug_state(struct audit_writer *w, uint8_t key[AUDIT_KEY_BYTES], uint64_t *segment, uint32_t *batch)
{
	pthread_mutex_lock(&w->mu);
	memcpy(key, w->sec->key, 32);
	*segment = w->segment;
	*batch = w->batch;
	pthread_mutex_unlock(&w->mu);
}

int audit_writer_close(struct audit_writer *w, struct err *e)
{
	int rc = 0;

	if (!w)
		return 0;
	if (w->threaded) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_signal(&w->cv_work);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thr, NULL);
	}
	pthread_mutex_lock(&w->mu);
	if (!w->fail && w->sec && w->segment) {
		rc = flush_locked(w, SEAL_CLOSE);
		if (rc)
			err_set(e, rc, "audit close: %s", w->fail_msg);
	} else if (w->fail) {
		rc = w->fail;
		if (e && !e->code)
			err_set(e, rc, "audit log failed: %s", w->fail_msg);
	}
	pthread_mutex_unlock(&w->mu);
	if (w->logfd >= 0)
		close(w->logfd);
	if (w->idxfd >= 0)
		close(w->idxfd);
	if (w->lockfd >= 0)
		close(w->lockfd);   /* releases the flock */
	if (w->sec) {
		sodium_memzero(w->sec, sizeof *w->sec);
		sodium_free(w->sec);
	}
	if (w->scratch) {
		sodium_memzero(w->scratch, AF_PLAIN_MAX);
		sodium_free(w->scratch);
	}
	free(w->pend.p);
	free(w->pend_idx.p);
	free(w->spare.p);
	free(w->spare_idx.p);
	free(w->newkeys);
	af_sha_free(w->sha);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv_work);
	pthread_cond_destroy(&w->cv_done);
	pthread_cond_destroy(&w->cv_space);
	free(w->dir);
	free(w);
	return rc;
}
