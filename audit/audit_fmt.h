/* audit_fmt — the byte layout shared by writer, verifier and reader (docs/audit-format.md).
 * Internal to audit/: nothing outside the module includes this. */
#ifndef EHRGATE_AUDIT_FMT_H
#define EHRGATE_AUDIT_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "audit/audit.h"

/* §3 frame header */
#define AF_MAGIC "EGA1"
#define AF_VERSION 1
#define AF_HDR 64
enum af_type { AF_OPEN = 1, AF_DATA = 2, AF_CHECKPOINT = 3, AF_CLOSE = 4, AF_RECOVERY = 5 };

#define AF_TAG_BYTES 16
#define AF_TAGS (3 * AF_TAG_BYTES)
#define AF_INNER_HDR 8
#define AF_AEAD_ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define AF_PLAIN_MAX (AF_INNER_HDR + 3 * AUDIT_TAG_VALUE_MAX + AUDIT_RECORD_MAX)
#define AF_PAYLOAD_MAX (AF_TAGS + AF_PLAIN_MAX + AF_AEAD_ABYTES)
#define AF_DATA_MIN (AF_TAGS + AF_INNER_HDR + 2 + AF_AEAD_ABYTES)   /* "{}" is the smallest JSON */

/* §4 control payload sizes */
#define AF_OPEN_LEN 144
#define AF_CP_LEN 208
#define AF_CP_SIGNED 144   /* payload bytes covered by the signature (before sig) */
#define AF_CLOSE_LEN 40
#define AF_RECOVERY_LEN 96

enum af_cp_kind { AF_CP_BATCH = 1, AF_CP_HEARTBEAT = 2, AF_CP_OPEN = 3, AF_CP_CLOSE = 4 };
enum af_close_reason { AF_CLOSE_SHUTDOWN = 1, AF_CLOSE_ROTATE = 2 };
enum af_recovery_reason {
	AF_REC_TORN = 1,        /* an incomplete or malformed frame at the tail */
	AF_REC_UNSIGNED = 2,    /* complete frames after the last valid checkpoint */
	AF_REC_NOT_CLOSED = 3,  /* clean end at a checkpoint, no close record */
	AF_REC_BAD_CHAIN = 4,   /* a frame after the last checkpoint broke the chain/seq */
	AF_REC_SEG_INCOMPLETE = 5, /* only: a segment whose creation never completed was set aside */
};

/* §6 keys file */
#define AF_KEYS_MAGIC "EGK1"
#define AF_KEYS_HDR 40
#define AF_ENV_PLAIN 96
#define AF_ENV_SEALED (crypto_box_SEALBYTES + AF_ENV_PLAIN)
#define AF_KEYS_ENTRY (32 + AF_ENV_SEALED)
#define AF_KEYS_SUM 32

/* §7 index file */
#define AF_IDX_MAGIC "EGX1"
#define AF_IDX_HDR 32
#define AF_IDX_ENTRY 80

#define AF_SEGMENT_FILE_MAX ((uint64_t)1 << 30)   /* verifier refuses bigger files */
#define AF_SEGMENT_NO_MAX 99999999ull

struct af_hdr {
	uint8_t type;
	uint16_t flags;
	uint32_t len;
	uint32_t batch;
	uint64_t seq;
	int64_t time_ns;
	uint8_t prev[32];
};

static inline void af_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void af_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void af_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t af_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t af_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t af_get64(const uint8_t *p)
{
	return (uint64_t)af_get32(p) | ((uint64_t)af_get32(p + 4) << 32);
}

void af_hdr_encode(uint8_t out[AF_HDR], const struct af_hdr *h);
/* Decode and check the fixed fields (magic, version, flags, type, len bound). -EBADMSG on any
 * violation; msg gets a short reason. */
int af_hdr_decode(const uint8_t in[AF_HDR], struct af_hdr *h, const char **why);

/* SHA-256 (RFC 9162 §2.1 uses SHA-256). OpenSSL's implementation is used for speed (SHA-NI);
 * see docs/audit-format.md §9 for why this is the one primitive not taken from libsodium. */
struct af_sha;
struct af_sha *af_sha_new(void);
void af_sha_free(struct af_sha *s);
/* RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 || a || b). */
void af_leaf_hash(struct af_sha *s, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[32]);
/* RFC 9162 §2.1.1 interior node: SHA-256(0x01 || l || r). */
void af_node_hash(struct af_sha *s, const uint8_t l[32], const uint8_t r[32], uint8_t out[32]);
void af_sha256(struct af_sha *s, const uint8_t *p, size_t n, uint8_t out[32]);

/* Incremental RFC 9162 Merkle Tree Hash: a compact range of perfect-subtree roots. */
struct af_merkle {
	uint64_t size;
	uint8_t stack[64][32];
	unsigned depth;
};
void af_merkle_init(struct af_merkle *m);
void af_merkle_push(struct af_merkle *m, struct af_sha *s, const uint8_t leaf[32]);
void af_merkle_root(const struct af_merkle *m, struct af_sha *s, uint8_t out[32]);

/* §5 keys */
void af_ratchet(uint8_t key[32]);                     /* K_{b+1} = H(label || K_b), in place, wipes */
void af_key_commit(const uint8_t key[32], uint8_t out[32]);
void af_index_commit(const uint8_t key[32], uint8_t out[32]);
void af_tag(const uint8_t index_key[32], const char *field, const char *value, size_t vlen, uint8_t out[AF_TAG_BYTES]);
void af_nonce(uint8_t nonce[24], uint64_t segment, uint64_t seq);
void af_checkpoint_sigmsg(const uint8_t hdr[AF_HDR], const uint8_t *payload, uint8_t out[16 + AF_HDR + AF_CP_SIGNED]);
#define AF_SIGMSG_LEN (16 + AF_HDR + AF_CP_SIGNED)

/* Keys-file checksum: BLAKE2b-256 over the bytes before it (accident detection; anyone who may
 * re-wrap can recompute it, so it is not authentication: the OPEN record's key commitment is). */
void af_keys_sum(const uint8_t *p, size_t n, uint8_t out[32]);

/* Segment file names: DIR/NNNNNNNN.{log,keys,idx}. */
int af_seg_path(char *out, size_t cap, const char *dir, uint64_t seg, const char *ext);
/* Sorted list of segment numbers that have a .log file; caller frees *out. -ENOENT no dir. */
int af_list_segments(const char *dir, uint64_t **out, size_t *n, struct err *e);
/* Read a whole file (at most max bytes) into a malloc'd buffer. -ENOENT, -EFBIG, -EIO. */
int af_read_file(const char *path, uint64_t max, uint8_t **out, size_t *len, struct err *e);

/* Secret holder (opaque to users; defined here for the module). */
struct audit_secret {
	unsigned kind;           /* 1 reviewer, 2 signer, 3 index */
	uint8_t pk[32];          /* public half (reviewer/signer) */
	uint8_t sk[64];          /* reviewer: 32 bytes; signer: 64 (seed || pk); index: 32 */
};

/* Open an envelope from a .keys file image for the holder of reviewer key rk: checks the file
 * checksum and header, finds the entry for rk's public key (falls back to trying all), unseals.
 * plain (AF_ENV_PLAIN bytes, caller's secret memory) receives the envelope.
 * -EBADMSG corrupt file, -EACCES no envelope for this key. */
int af_keys_open(const uint8_t *keys, size_t len, const struct audit_secret *rk, const uint8_t log_id[16],
		 uint64_t segment, uint8_t *plain, struct err *e);
/* Build a .keys image sealing plain to each recipient (malloc'd). */
uint8_t *af_keys_build(const uint8_t log_id[16], uint64_t segment, const uint8_t *plain,
		       const uint8_t (*rcpt)[32], size_t n, size_t *len_out);

/* Map a whole file read-only (at most max bytes); falls back to reading it. Release with
 * af_unmap_file(p, len, mapped). A file truncated while mapped raises SIGBUS: the CLI turns that
 * into "could not verify" (exit 2); copy logs that are still being written before verifying. */
int af_map_file(const char *path, uint64_t max, uint8_t **out, size_t *len, bool *mapped, struct err *e);
void af_unmap_file(uint8_t *p, size_t len, bool mapped);

/* Write bytes to path atomically (tmp + rename; with sync also fsync of file and dir), mode. */
int af_write_file_atomic(const char *dir, const char *path, const uint8_t *p, size_t n, unsigned mode, bool sync,
			 struct err *e);

/* §4 decode of control payloads used by several modules. */
struct af_open {
	uint8_t fsync_mode;
	uint32_t batch_max_delay_ms, heartbeat_s, n_recipients;
	uint8_t log_id[16];
	uint64_t segment, prev_last_seq;
	uint8_t key_commit[32], index_commit[32], signer_pk[32];
};
int af_open_decode(const uint8_t *p, size_t n, struct af_open *o);
void af_open_encode(uint8_t out[AF_OPEN_LEN], const struct af_open *o);

struct af_recovery {
	uint8_t reason;
	uint32_t frames_discarded;
	uint64_t bytes_discarded, prev_segment, last_good_seq, removed_segment, removed_bytes;
	uint8_t discarded_sha256[32];
	uint8_t log_id[16];
};
int af_recovery_decode(const uint8_t *p, size_t n, struct af_recovery *r);
void af_recovery_encode(uint8_t out[AF_RECOVERY_LEN], const struct af_recovery *r);

/* §3.2 inner plaintext of a data record. */
struct af_inner {
	const char *tag[3];
	size_t tag_len[3];
	const char *json;
	size_t json_len;
};
int af_inner_decode(const uint8_t *p, size_t n, struct af_inner *in);

extern const char *const af_tag_field[3];   /* "patient", "user", "decision" */

/* §8 blind scan of one segment: framing, seq, chain, Merkle roots, checkpoint signatures.
 * Stops at the first problem; reports the state at the last valid checkpoint (what recovery
 * keeps and what verification counts as valid). */
struct af_scan_in {
	const uint8_t *log;
	size_t len;
	uint64_t segment;             /* expected segment number (from the file name) */
	bool have_prev;               /* continuity expectations below are set */
	uint64_t expect_seq;          /* seq of the OPEN frame */
	uint8_t prev_leaf[32];        /* leaf hash of the previous segment's last frame */
	uint8_t prev_cp[32];          /* leaf hash of the previous segment's last checkpoint */
	const uint8_t *log_id;        /* NULL = take from OPEN */
	const uint8_t *signer_pin;    /* NULL = signer named in OPEN */
	struct af_sha *sha;
	/* Called for each DATA frame as it is scanned (off = frame offset). Non-zero stops. */
	int (*on_data)(void *arg, size_t off, const struct af_hdr *h, const uint8_t *frame);
	/* Called for each valid checkpoint. */
	void (*on_checkpoint)(void *arg, const struct af_hdr *h, unsigned kind);
	void *arg;
};

struct af_scan_out {
	char code[AUDIT_CODE_MAX];    /* "" = no problem */
	char detail[160];
	uint64_t bad_seq;
	size_t bad_off;
	bool have_open;
	struct af_open open;
	bool have_recovery;
	struct af_recovery rec;
	/* state at the last valid checkpoint */
	bool have_good;
	size_t good_end;
	uint64_t good_last_seq;
	uint8_t good_leaf[32], good_cp[32];
	int64_t good_time;
	uint64_t good_data, good_frames, good_cps;
	/* whole scan */
	uint64_t frames, data, cps;
	int64_t first_time, last_time;
	bool closed;                  /* CLOSE + closing checkpoint end the file */
	uint8_t close_reason;
	uint32_t frames_after_good;   /* complete frames past good_end (unsigned tail) */
	bool torn;                    /* an incomplete/malformed frame stopped the scan */
};
void af_scan(const struct af_scan_in *in, struct af_scan_out *out);

void af_hex(const uint8_t *p, size_t n, char *out);  /* out holds 2n+1 */

#endif
