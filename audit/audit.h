/* audit — the encrypted, tamper-evident audit log (DESIGN.md §3.2; format in docs/audit-format.md).
 *
 * Three roles share one on-disk format:
 *   writer   (the sidecar)  appends records; it can encrypt but never decrypt what it wrote before
 *                            (per-segment key sealed to reviewers, per-batch hash ratchet, old keys
 *                            wiped: research/audit-proxy.md §2.4);
 *   verifier (anyone)       checks framing, hash chain, RFC 9162 Merkle roots and Ed25519
 *                            checkpoint signatures without any decryption key ("blind"), or with
 *                            a reviewer key also decrypts everything ("full");
 *   reader   (a reviewer)   decrypts and selects records, using the keyed blind index.
 *
 * Every function returns 0 or a negative errno value and puts one line of detail in the
 * caller's `struct err`. Messages name files, segments and sequence numbers, never record
 * contents.
 */
#ifndef EHRGATE_AUDIT_H
#define EHRGATE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define AUDIT_KEY_BYTES 32
#define AUDIT_RECORD_MAX (1u << 20)   /* largest JSON payload one record may carry */
#define AUDIT_TAG_VALUE_MAX 512        /* largest patient/user/decision string */
#define AUDIT_MAX_RECIPIENTS 16

/* ---------------------------------------------------------------------------------------
 * Keys (files made by `ehrgate-audit keygen`; the file names are an interface).
 * ------------------------------------------------------------------------------------- */

/* Write reviewer.pub/.key (X25519), signer.pub/.key (Ed25519) and index.key into out_dir
 * (created 0700 if missing). Secret files are 0600. Existing files are never replaced unless
 * force is set (then each is replaced atomically). -EEXIST names the first file in the way. */
int audit_keygen(const char *out_dir, bool force, struct err *e) __attribute__((warn_unused_result));

/* Public halves, loaded from their files. A secret file given where a public one is expected
 * (or the other way round, or a key of the wrong kind) is -EINVAL with a message saying so. */
int audit_load_reviewer_pub(const char *path, uint8_t pk[AUDIT_KEY_BYTES], struct err *e)
	__attribute__((warn_unused_result));
int audit_load_signer_pub(const char *path, uint8_t pk[AUDIT_KEY_BYTES], struct err *e)
	__attribute__((warn_unused_result));

/* Secret keys live in sodium_malloc memory; free with audit_secret_free (wipes). */
struct audit_secret;
int audit_load_reviewer_key(const char *path, struct audit_secret **out, struct err *e)
	__attribute__((warn_unused_result));
int audit_load_signer_key(const char *path, struct audit_secret **out, struct err *e)
	__attribute__((warn_unused_result));
int audit_load_index_key(const char *path, struct audit_secret **out, struct err *e)
	__attribute__((warn_unused_result));
void audit_secret_free(struct audit_secret *s);

/* ---------------------------------------------------------------------------------------
 * Writer (the sidecar's side).
 * ------------------------------------------------------------------------------------- */
struct audit_writer;

/* Zero is the safe default: a zero-initialised options struct gets per-batch fdatasync. */
enum audit_fsync {
	AUDIT_FSYNC_ALWAYS = 0, /* append returns after fdatasync of its batch (group commit) */
	AUDIT_FSYNC_BATCH = 1,  /* append returns at once; durable within batch_max_delay_ms */
	AUDIT_FSYNC_NONE = 2,   /* never fdatasync (tests, benchmarks); recorded as "none" */
};

struct audit_writer_opts {
	const char *dir;                  /* created if missing (0700) */
	const char *reviewer_pub_path;    /* reviewer.pub from keygen */
	const char *const *reviewer_pub_paths; /* or several recipients (n_reviewer_pub of them) */
	size_t n_reviewer_pub;
	const char *signer_key_path;      /* signer.key */
	const char *index_key_path;       /* index.key; may be NULL (no blind index tags) */
	enum audit_fsync fsync;
	unsigned batch_max_delay_ms;      /* batch mode bound (default 5 when 0) */
	unsigned heartbeat_s;             /* idle checkpoint interval (default 10 when 0) */
	uint64_t segment_max_bytes;       /* rotate after this many bytes (default 256 MiB) */
	unsigned segment_max_age_s;       /* rotate after this age (default 3600) */
	/* Test hooks, NULL/false in production. synchronous: no writer thread, every batch is
	 * sealed by audit_writer_flush / close (or by append in ALWAYS mode); deterministic_seed:
	 * segment keys and the log id derive from these 32 bytes instead of randombytes (known-
	 * answer tests only); clock_ns: wall clock in ns. */
	bool synchronous;
	const uint8_t *deterministic_seed;
	int64_t (*clock_ns)(void *arg);
	void *clock_arg;
};

/* Open (or create) the log in o->dir and take its lock (a second writer gets -EBUSY). A torn
 * or unsigned tail left by a crash is truncated at the last valid checkpoint and described by
 * a RECOVERY record at the start of a new segment. The caller owns *out. */
int audit_writer_open(const struct audit_writer_opts *o, struct audit_writer **out, struct err *e)
	__attribute__((warn_unused_result));

/* Thread-safe. Appends one record whose plaintext payload is a JSON object (checked, then
 * encrypted). tags: optional strings blind-indexed (patient reference, user, decision); NULL or
 * NULL members = absent. Returns 0 once durable per fsync mode (seq_out set), negative on any
 * write failure (and on every append after one: the writer fails closed). */
struct audit_tags {
	const char *patient;
	const char *user;
	const char *decision;
};
int audit_writer_append(struct audit_writer *w, const char *json, size_t len, const struct audit_tags *tags,
			uint64_t *seq_out, struct err *e) __attribute__((warn_unused_result));

/* The two halves of append, for callers that pipeline: submit sequences and encrypts the record
 * and returns its seq without waiting; sync waits until every record up to seq is durable (in
 * ALWAYS mode; in BATCH/NONE mode until it has been written). */
int audit_writer_submit(struct audit_writer *w, const char *json, size_t len, const struct audit_tags *tags,
			uint64_t *seq_out, struct err *e) __attribute__((warn_unused_result));
int audit_writer_sync(struct audit_writer *w, uint64_t seq, struct err *e) __attribute__((warn_unused_result));

/* Seal the open batch now (checkpoint + write + fdatasync per mode) and wait for it. */
int audit_writer_flush(struct audit_writer *w, struct err *e) __attribute__((warn_unused_result));

/* Writes the close record and final checkpoint, syncs, releases the lock and frees w (also on
 * error). NULL is a no-op. */
int audit_writer_close(struct audit_writer *w, struct err *e);

/* Test hook for the forward-secrecy test: copies the writer's current batch key and batch
 * number (everything a compromised sidecar process holds for decryption). */
void audit_writer_debug_state(struct audit_writer *w, uint8_t key[AUDIT_KEY_BYTES], uint64_t *segment,
			      uint32_t *batch);

/* ---------------------------------------------------------------------------------------
 * Verifier.
 * ------------------------------------------------------------------------------------- */

/* Stable problem codes (docs/audit-format.md §8). */
#define AUDIT_CODE_MAX 24
struct audit_problem {
	char code[AUDIT_CODE_MAX];
	uint64_t segment;
	uint64_t seq;       /* first bad seq (0 when the problem is not tied to a record) */
	char detail[160];
};

struct audit_recovery_note {
	uint64_t segment;        /* segment holding the RECOVERY record */
	uint64_t prev_segment;   /* the segment that was truncated */
	uint64_t last_good_seq;
	uint64_t bytes_discarded;
	uint32_t frames_discarded;
	unsigned reason;
	uint64_t removed_segment, removed_bytes;
};

#define AUDIT_MAX_PROBLEMS 256
#define AUDIT_MAX_RECOVERIES 64
struct audit_verify_report {
	uint64_t segments, segments_valid;
	uint64_t checkpoints, checkpoints_valid;
	uint64_t records, records_valid;     /* data records */
	uint64_t frames;                     /* all frames */
	int64_t first_time_ns, last_time_ns;
	size_t n_problems;
	bool problems_truncated;
	struct audit_problem problems[AUDIT_MAX_PROBLEMS];
	size_t n_recoveries;
	struct audit_recovery_note recoveries[AUDIT_MAX_RECOVERIES];
	bool signer_pinned;
	uint8_t signer_pk[AUDIT_KEY_BYTES];  /* the key the checkpoints were checked against */
};

struct audit_verify_opts {
	const char *dir;
	const uint8_t *signer_pk;                  /* pin; NULL = key of segment 1 (reported) */
	const struct audit_secret *reviewer_key;   /* non-NULL = full verification */
	const struct audit_secret *index_key;      /* optional; else the one sealed in the segment */
	bool live;                                 /* the last segment may still be being written */
};

/* Returns 0 when verification ran (the report says whether the log is valid: n_problems == 0),
 * negative when it could not (missing directory, no segments, unreadable file). The report is
 * large; callers allocate it (calloc). */
int audit_verify(const struct audit_verify_opts *o, struct audit_verify_report *r, struct err *e)
	__attribute__((warn_unused_result));

/* Verify one segment given as bytes (fuzzing and tests): the segment must be self-consistent
 * (OPEN first, chain, checkpoints); keys/idx may be NULL. Same report semantics. */
int audit_verify_segment_mem(const uint8_t *log, size_t log_len, const uint8_t *keys, size_t keys_len,
			     const uint8_t *idx, size_t idx_len, struct audit_verify_report *r, struct err *e);

/* ---------------------------------------------------------------------------------------
 * Reader (reviewer's side): decrypt and select.
 * ------------------------------------------------------------------------------------- */
struct audit_record {
	uint64_t seq;
	uint64_t segment;
	int64_t time_ns;
	const char *json;        /* the payload as appended (not NUL-terminated) */
	size_t json_len;
	const char *patient, *user, *decision;  /* NUL-terminated tag values or NULL */
};

struct audit_filter {
	int64_t since_ns, until_ns;   /* inclusive bounds; 0 = open */
	const char *patient, *user, *decision;
	bool scan;                    /* ignore the index: decrypt every record and filter */
};

/* Calls cb for every matching data record in seq order; cb returns 0 to go on, non-zero to stop
 * (that value is returned). The record and its strings are valid during the call only (they sit
 * in wiped memory). Errors: -ENOENT missing dir, -EACCES wrong key (no envelope opens),
 * -EBADMSG corrupt file or a record failing authentication. */
int audit_read(const char *dir, const struct audit_secret *reviewer_key, const struct audit_secret *index_key,
	       const struct audit_filter *f, int (*cb)(const struct audit_record *rec, void *arg), void *arg,
	       struct err *e) __attribute__((warn_unused_result));

/* Re-wrap every segment's key for new recipients (reviewer key rotation): opens each .keys file
 * with reviewer_key and replaces it atomically with envelopes for the given public keys. The
 * .log files are not touched. */
int audit_rewrap(const char *dir, const struct audit_secret *reviewer_key, const uint8_t (*recipients)[AUDIT_KEY_BYTES],
		 size_t n_recipients, struct err *e) __attribute__((warn_unused_result));

/* Blind statistics (no key): per-segment counts and time span; with an index key (given or
 * unsealed with reviewer_key) also decisions by value from the index. */
struct audit_stats {
	uint64_t segments, data_records, checkpoints, heartbeats, recoveries, closes;
	int64_t first_time_ns, last_time_ns;
	bool decisions_known;
	size_t n_decisions;
	struct { char name[32]; uint64_t count; } decisions[16];  /* last one may be "other" */
	uint64_t bytes;
};
int audit_stats(const char *dir, const struct audit_secret *reviewer_key, const struct audit_secret *index_key,
		struct audit_stats *st, struct err *e) __attribute__((warn_unused_result));

/* FHIR R4 AuditEvent (IHE BALP) for one decrypted record, appended to out as one JSON line.
 * log_id_hex identifies the log (resource ids are LOGID-SEQ). */
struct buf;
int audit_export_auditevent(const struct audit_record *rec, const char *log_id_hex, struct buf *out, struct err *e)
	__attribute__((warn_unused_result));

/* Check that p[0..len) is one JSON object (RFC 8259) with valid UTF-8 and at most max_depth
 * nesting, without allocating. Used on append and by full verification. */
bool audit_json_object_valid(const char *p, size_t len, unsigned max_depth);

/* Hex of the log id of dir (from segment 1), for export ids. out must hold 33 bytes. */
int audit_log_id_hex(const char *dir, char out[33], struct err *e);

#endif
