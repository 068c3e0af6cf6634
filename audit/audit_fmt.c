/* audit_fmt — encoders/decoders and primitives for the audit log format (docs/audit-format.md).
 *
 * Owns: the frame header layout (§3), the RFC 9162 hashing (§2.1.1 leaf/node prefixes, Merkle
 * Tree Hash), the key schedule (§5: batch-key ratchet, commitments, blind-index tags, nonces),
 * the .keys and .idx file layouts (§6, §7), file helpers and a non-allocating JSON validator.
 * Nothing here trusts its input: every decoder checks lengths before it reads.
 */
#include "audit/audit_fmt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "lib/mem.h"

const char *const af_tag_field[3] = {"patient", "user", "decision"};

void af_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = 0;
}

/* ------------------------------------------------------------------ §3 frame header */
void af_hdr_encode(uint8_t out[AF_HDR], const struct af_hdr *h)
{
	memcpy(out, AF_MAGIC, 4);
	out[4] = AF_VERSION;
	out[5] = h->type;
	af_put16(out + 6, h->flags);
	af_put32(out + 8, h->len);
	af_put32(out + 12, h->batch);
	af_put64(out + 16, h->seq);
	af_put64(out + 24, (uint64_t)h->time_ns);
	memcpy(out + 32, h->prev, 32);
}

int af_hdr_decode(const uint8_t in[AF_HDR], struct af_hdr *h, const char **why)
{
	memset(h, 0, sizeof *h);
	if (memcmp(in, AF_MAGIC, 4) != 0) {
		*why = "bad magic";
		return -EBADMSG;
	}
	if (in[4] != AF_VERSION) {
		*why = "unknown version";
		return -EBADMSG;
	}
	h->type = in[5];
	h->flags = af_get16(in + 6);
	h->len = af_get32(in + 8);
	h->batch = af_get32(in + 12);
	h->seq = af_get64(in + 16);
	h->time_ns = (int64_t)af_get64(in + 24);
	memcpy(h->prev, in + 32, 32);
	if (h->type < AF_OPEN || h->type > AF_RECOVERY) {
		*why = "unknown record type";
		return -EBADMSG;
	}
	if (h->flags != 0) {
		*why = "reserved flags set";
		return -EBADMSG;
	}
	/* Exact sizes for control records, bounded size for data (§3: every length bounded). */
	switch (h->type) {
	case AF_OPEN: if (h->len != AF_OPEN_LEN) goto badlen; break;
	case AF_CHECKPOINT: if (h->len != AF_CP_LEN) goto badlen; break;
	case AF_CLOSE: if (h->len != AF_CLOSE_LEN) goto badlen; break;
	case AF_RECOVERY: if (h->len != AF_RECOVERY_LEN) goto badlen; break;
	case AF_DATA: if (h->len < AF_DATA_MIN || h->len > AF_PAYLOAD_MAX) goto badlen; break;
	}
	if (h->seq == 0) {
		*why = "seq 0";
		return -EBADMSG;
	}
	return 0;
badlen:
	*why = "payload length out of bounds for type";
	return -EBADMSG;
}

/* ------------------------------------------------------------------ SHA-256 / RFC 9162 */
struct af_sha {
	EVP_MD_CTX *ctx;
	EVP_MD *md;
};

struct af_sha *af_sha_new(void)
{
	struct af_sha *s = xcalloc(1, sizeof *s);
	s->ctx = EVP_MD_CTX_new();
	s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!s->ctx || !s->md)
		abort();   /* OpenSSL without SHA-256 cannot happen on a supported system */
	return s;
}

void af_sha_free(struct af_sha *s)
{
	if (!s)
		return;
	EVP_MD_CTX_free(s->ctx);
	EVP_MD_free(s->md);
	free(s);
}

static void sha3part(struct af_sha *s, uint8_t pre, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		     uint8_t out[32])
{
	unsigned int olen = 32;
	if (EVP_DigestInit_ex2(s->ctx, s->md, NULL) != 1 || EVP_DigestUpdate(s->ctx, &pre, 1) != 1 ||
	    (alen && EVP_DigestUpdate(s->ctx, a, alen) != 1) || (blen && EVP_DigestUpdate(s->ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(s->ctx, out, &olen) != 1)
		abort();
}

void af_leaf_hash(struct af_sha *s, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[32])
{
	sha3part(s, 0x00, a, alen, b, blen, out);   /* RFC 9162 §2.1.1: leaf prefix 0x00 */
}

void af_node_hash(struct af_sha *s, const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
	sha3part(s, 0x01, l, 32, r, 32, out);      /* RFC 9162 §2.1.1: node prefix 0x01 */
}

void af_sha256(struct af_sha *s, const uint8_t *p, size_t n, uint8_t out[32])
{
	unsigned int olen = 32;
	if (EVP_DigestInit_ex2(s->ctx, s->md, NULL) != 1 || (n && EVP_DigestUpdate(s->ctx, p, n) != 1) ||
	    EVP_DigestFinal_ex(s->ctx, out, &olen) != 1)
		abort();
}

void af_merkle_init(struct af_merkle *m)
{
	m->size = 0;
	m->depth = 0;
}

/* The compact range of a tree of size n holds one perfect subtree root per set bit of n,
 * largest (leftmost) first. Appending a leaf merges equal-sized subtrees like a binary counter. */
void af_merkle_push(struct af_merkle *m, struct af_sha *s, const uint8_t leaf[32])
{
	uint64_t n = m->size;
	memcpy(m->stack[m->depth++], leaf, 32);
	while (n & 1) {
		af_node_hash(s, m->stack[m->depth - 2], m->stack[m->depth - 1], m->stack[m->depth - 2]);
		m->depth--;
		n >>= 1;
	}
	m->size++;
}

/* RFC 9162 §2.1.1 MTH: for n not a power of two, the right part is the smaller subtree, so the
 * root folds the compact range from the right. MTH({}) = SHA-256(""). */
void af_merkle_root(const struct af_merkle *m, struct af_sha *s, uint8_t out[32])
{
	uint8_t acc[32];

	if (m->depth == 0) {
		af_sha256(s, NULL, 0, out);
		return;
	}
	memcpy(acc, m->stack[m->depth - 1], 32);
	for (unsigned i = m->depth - 1; i-- > 0;)
		af_node_hash(s, m->stack[i], acc, acc);
	memcpy(out, acc, 32);
}

/* ------------------------------------------------------------------ §5 key schedule */
static const char ratchet_label[] = "ehrgate-audit ratchet v1";

/* libsodium's BLAKE2b leaves its output block and message words in its stack frames; after
 * hashing key material we overwrite the stack below us (the forward-secrecy test scans the
 * whole process memory for old batch keys and found them there before this). */
static void __attribute__((noinline)) scrub_stack(void)
{
	uint8_t area[16384];
	sodium_memzero(area, sizeof area);
	__asm__ __volatile__("" : : "r"(area) : "memory");
}

/* K_{b+1} = BLAKE2b-256("ehrgate-audit ratchet v1" || K_b). One-way: the holder of K_{b+1}
 * learns nothing about K_b (research/audit-proxy.md §2.4). The hash state is wiped here because
 * a keyed BLAKE2b would leave the key block in its buffer. */
void af_ratchet(uint8_t key[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)ratchet_label, sizeof ratchet_label - 1);
	crypto_generichash_update(&st, key, 32);
	crypto_generichash_final(&st, key, 32);
	sodium_memzero(&st, sizeof st);
	scrub_stack();
}

static void commit(const uint8_t key[32], const char *label, uint8_t out[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(&st, key, 32);
	crypto_generichash_final(&st, out, 32);
	sodium_memzero(&st, sizeof st);
	scrub_stack();
}

void af_key_commit(const uint8_t key[32], uint8_t out[32])
{
	commit(key, "ehrgate-audit key commit v1", out);
}

void af_index_commit(const uint8_t key[32], uint8_t out[32])
{
	commit(key, "ehrgate-audit index commit v1", out);
}

/* Tag = BLAKE2b-128 keyed with the index key over field || 0x00 || value (§5.4). */
void af_tag(const uint8_t index_key[32], const char *field, const char *value, size_t vlen, uint8_t out[AF_TAG_BYTES])
{
	crypto_generichash_state st;
	const uint8_t zero = 0;

	crypto_generichash_init(&st, index_key, 32, AF_TAG_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)field, strlen(field));
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, (const uint8_t *)value, vlen);
	crypto_generichash_final(&st, out, AF_TAG_BYTES);
	sodium_memzero(&st, sizeof st);
}

/* Nonce = segment (u64 LE) || seq (u64 LE) || 8 zero bytes: unique per (batch key, record). */
void af_nonce(uint8_t nonce[24], uint64_t segment, uint64_t seq)
{
	memset(nonce, 0, 24);
	af_put64(nonce, segment);
	af_put64(nonce + 8, seq);
}

void af_checkpoint_sigmsg(const uint8_t hdr[AF_HDR], const uint8_t *payload, uint8_t out[AF_SIGMSG_LEN])
{
	static const uint8_t dom[16] = "EGA1-checkpoint";   /* 15 chars + NUL */
	memcpy(out, dom, 16);
	memcpy(out + 16, hdr, AF_HDR);
	memcpy(out + 16 + AF_HDR, payload, AF_CP_SIGNED);
}

void af_keys_sum(const uint8_t *p, size_t n, uint8_t out[32])
{
	crypto_generichash(out, 32, p, n, NULL, 0);
}

/* ------------------------------------------------------------------ files */
int af_seg_path(char *out, size_t cap, const char *dir, uint64_t seg, const char *ext)
{
	int n = snprintf(out, cap, "%s/%08llu.%s", dir, (unsigned long long)seg, ext);
	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int af_list_segments(const char *dir, uint64_t **out, size_t *n, struct err *e)
{
	DIR *d;
	struct dirent *de;
	size_t cap = 16, cnt = 0;
	uint64_t *v;

	*out = NULL;
	*n = 0;
	d = opendir(dir);
	if (!d)
		return err_set(e, -errno, "%s: %s", dir, strerror(errno));
	v = xmalloc(cap * sizeof *v);
	while ((de = readdir(d)) != NULL) {
		const char *s = de->d_name;
		uint64_t num = 0;
		int i;
		for (i = 0; i < 8; i++) {
			if (s[i] < '0' || s[i] > '9')
				break;
			num = num * 10 + (uint64_t)(s[i] - '0');
		}
		if (i != 8 || strcmp(s + 8, ".log") != 0 || num == 0)
			continue;
		if (cnt == cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[cnt++] = num;
	}
	closedir(d);
	qsort(v, cnt, sizeof *v, cmp_u64);
	*out = v;
	*n = cnt;
	return 0;
}

int af_read_file(const char *path, uint64_t max, uint8_t **out, size_t *len, struct err *e)
{
	int fd, rc = 0;
	struct stat st;
	uint8_t *p = NULL;
	size_t got = 0;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = err_set(e, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(e, -EINVAL, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = err_set(e, -EFBIG, "%s: %lld bytes exceeds the %llu-byte limit", path, (long long)st.st_size,
			     (unsigned long long)max);
		goto out;
	}
	p = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_set(e, -errno, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;   /* shrank while reading: use what is there */
		got += (size_t)r;
	}
	*out = p;
	*len = got;
	p = NULL;
out:
	free(p);
	close(fd);
	return rc;
}

int af_map_file(const char *path, uint64_t max, uint8_t **out, size_t *len, bool *mapped, struct err *e)
{
	struct stat st;
	int fd;
	void *p;

	*out = NULL;
	*len = 0;
	*mapped = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0 || (uint64_t)st.st_size > max) {
		close(fd);
		return af_read_file(path, max, out, len, e);   /* reports the precise error */
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return af_read_file(path, max, out, len, e);
	*out = p;
	*len = (size_t)st.st_size;
	*mapped = true;
	return 0;
}

void af_unmap_file(uint8_t *p, size_t len, bool mapped)
{
	if (mapped)
		munmap(p, len);
	else
		free(p);
}

int af_write_file_atomic(const char *dir, const char *path, const uint8_t *p, size_t n, unsigned mode, bool sync,
			 struct err *e)
{
	char tmp[4096];
	int fd = -1, rc = 0, dfd;
	size_t off = 0;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return err_set(e, -ENAMETOOLONG, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return err_set(e, -errno, "%s: %s", tmp, strerror(errno));
	while (off < n) {
		ssize_t w = write(fd, p + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = err_set(e, -errno, "%s: write: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (sync && fsync(fd) != 0) {
		rc = err_set(e, -errno, "%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) != 0) {
		rc = err_set(e, -errno, "%s: rename: %s", path, strerror(errno));
		goto out;
	}
	dfd = sync ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dfd >= 0) {
		if (fsync(dfd) != 0)
			rc = err_set(e, -errno, "%s: fsync: %s", dir, strerror(errno));
		close(dfd);
	}
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* ------------------------------------------------------------------ §6 keys file */
uint8_t *af_keys_build(const uint8_t log_id[16], uint64_t segment, const uint8_t *plain, const uint8_t (*rcpt)[32],
		       size_t n, size_t *len_out)
{
	size_t len = AF_KEYS_HDR + n * AF_KEYS_ENTRY + AF_KEYS_SUM;
	uint8_t *p = xcalloc(1, len);

	memcpy(p, AF_KEYS_MAGIC, 4);
	p[4] = 1;
	memcpy(p + 8, log_id, 16);
	af_put64(p + 24, segment);
	af_put32(p + 32, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *ent = p + AF_KEYS_HDR + i * AF_KEYS_ENTRY;
		memcpy(ent, rcpt[i], 32);
		if (crypto_box_seal(ent + 32, plain, AF_ENV_PLAIN, rcpt[i]) != 0)
			abort();   /* only fails on an invalid (small-order) public key, checked at load */
	}
	af_keys_sum(p, len - AF_KEYS_SUM, p + len - AF_KEYS_SUM);
	*len_out = len;
	return p;
}

int af_keys_open(const uint8_t *keys, size_t len, const struct audit_secret *rk, const uint8_t log_id[16],
		 uint64_t segment, uint8_t *plain, struct err *e)
{
	uint8_t sum[32];
	uint32_t n;

	if (len < AF_KEYS_HDR + AF_KEYS_SUM || memcmp(keys, AF_KEYS_MAGIC, 4) != 0 || keys[4] != 1)
		return err_set(e, -EBADMSG, "keys file malformed");
	n = af_get32(keys + 32);
	if (n == 0 || n > AUDIT_MAX_RECIPIENTS || len != AF_KEYS_HDR + (size_t)n * AF_KEYS_ENTRY + AF_KEYS_SUM)
		return err_set(e, -EBADMSG, "keys file length does not match its recipient count");
	af_keys_sum(keys, len - AF_KEYS_SUM, sum);
	if (sodium_memcmp(sum, keys + len - AF_KEYS_SUM, 32) != 0)
		return err_set(e, -EBADMSG, "keys file checksum mismatch");
	if (memcmp(keys + 8, log_id, 16) != 0 || af_get64(keys + 24) != segment)
		return err_set(e, -EBADMSG, "keys file belongs to another log or segment");
	if (!rk)
		return 0;   /* structure checked; nothing to open */
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *ent = keys + AF_KEYS_HDR + (size_t)i * AF_KEYS_ENTRY;
			if (pass == 0 && memcmp(ent, rk->pk, 32) != 0)
				continue;
			if (crypto_box_seal_open(plain, ent + 32, AF_ENV_SEALED, rk->pk, rk->sk) != 0)
				continue;
			if (plain[0] != 1 || memcmp(plain + 8, log_id, 16) != 0 || af_get64(plain + 24) != segment) {
				sodium_memzero(plain, AF_ENV_PLAIN);
				return err_set(e, -EBADMSG, "envelope does not belong to this log/segment");
			}
			return 0;
		}
	}
	return err_set(e, -EACCES, "wrong key: no envelope in segment %llu opens with this reviewer key",
		       (unsigned long long)segment);
}

/* ------------------------------------------------------------------ §4 control payloads */
void af_open_encode(uint8_t out[AF_OPEN_LEN], const struct af_open *o)
{
	memset(out, 0, AF_OPEN_LEN);
	out[0] = 1;
	out[1] = o->fsync_mode;
	af_put32(out + 4, o->batch_max_delay_ms);
	af_put32(out + 8, o->heartbeat_s);
	af_put32(out + 12, o->n_recipients);
	memcpy(out + 16, o->log_id, 16);
	af_put64(out + 32, o->segment);
	af_put64(out + 40, o->prev_last_seq);
	memcpy(out + 48, o->key_commit, 32);
	memcpy(out + 80, o->index_commit, 32);
	memcpy(out + 112, o->signer_pk, 32);
}

int af_open_decode(const uint8_t *p, size_t n, struct af_open *o)
{
	memset(o, 0, sizeof *o);
	if (n != AF_OPEN_LEN || p[0] != 1 || p[1] > 2 || p[2] || p[3])
		return -EBADMSG;
	o->fsync_mode = p[1];
	o->batch_max_delay_ms = af_get32(p + 4);
	o->heartbeat_s = af_get32(p + 8);
	o->n_recipients = af_get32(p + 12);
	memcpy(o->log_id, p + 16, 16);
	o->segment = af_get64(p + 32);
	o->prev_last_seq = af_get64(p + 40);
	memcpy(o->key_commit, p + 48, 32);
	memcpy(o->index_commit, p + 80, 32);
	memcpy(o->signer_pk, p + 112, 32);
	return 0;
}

void af_recovery_encode(uint8_t out[AF_RECOVERY_LEN], const struct af_recovery *r)
{
	memset(out, 0, AF_RECOVERY_LEN);
	out[0] = 1;
	out[1] = r->reason;
	af_put32(out + 4, r->frames_discarded);
	af_put64(out + 8, r->bytes_discarded);
	af_put64(out + 16, r->prev_segment);
	af_put64(out + 24, r->last_good_seq);
	memcpy(out + 32, r->discarded_sha256, 32);
	af_put64(out + 64, r->removed_segment);
	af_put64(out + 72, r->removed_bytes);
	memcpy(out + 80, r->log_id, 16);
}

int af_recovery_decode(const uint8_t *p, size_t n, struct af_recovery *r)
{
	memset(r, 0, sizeof *r);
	if (n != AF_RECOVERY_LEN || p[0] != 1 || p[1] < 1 || p[1] > 5 || p[2] || p[3])
		return -EBADMSG;
	r->reason = p[1];
	r->frames_discarded = af_get32(p + 4);
	r->bytes_discarded = af_get64(p + 8);
	r->prev_segment = af_get64(p + 16);
	r->last_good_seq = af_get64(p + 24);
	memcpy(r->discarded_sha256, p + 32, 32);
	r->removed_segment = af_get64(p + 64);
	r->removed_bytes = af_get64(p + 72);
	memcpy(r->log_id, p + 80, 16);
	return 0;
}

/* Inner plaintext: u8 version=1 | u8 present-bits | u16 len patient | u16 len user |
 * u16 len decision | values | JSON object. */
int af_inner_decode(const uint8_t *p, size_t n, struct af_inner *in)
{
	size_t off = AF_INNER_HDR;

	memset(in, 0, sizeof *in);
	if (n < AF_INNER_HDR || p[0] != 1 || (p[1] & ~7u))
		return -EBADMSG;
	for (int i = 0; i < 3; i++) {
		size_t l = af_get16(p + 2 + 2 * i);
		bool present = (p[1] >> i) & 1;
		if ((!present && l) || l > AUDIT_TAG_VALUE_MAX || l > n - off)
			return -EBADMSG;
		if (present) {
			in->tag[i] = (const char *)p + off;
			in->tag_len[i] = l;
			if (memchr(p + off, 0, l))
				return -EBADMSG;
		}
		off += l;
	}
	in->json = (const char *)p + off;
	in->json_len = n - off;
	if (in->json_len > AUDIT_RECORD_MAX)
		return -EBADMSG;
	return 0;
}

/* ------------------------------------------------------------------ JSON validator */
/* RFC 8259 grammar check without building a tree: one object at top level, strings with valid
 * escapes and UTF-8 (RFC 8259 §8.1, RFC 3629 §4: no overlongs, no surrogates, ≤ U+10FFFF),
 * numbers per §6, nesting bounded by max_depth (≤ 256). */
struct jv {
	const unsigned char *p, *end;
};

static void jv_ws(struct jv *v)
{
	while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
		v->p++;
}

static bool jv_utf8(struct jv *v)
{
	unsigned c = *v->p;
	size_t need;
	unsigned cp;

	if (c < 0xC2 || c > 0xF4)
		return false;
	need = c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
	if ((size_t)(v->end - v->p) <= need)
		return false;
	cp = c & (need == 1 ? 0x1F : need == 2 ? 0x0F : 0x07);
	for (size_t i = 1; i <= need; i++) {
		if ((v->p[i] & 0xC0) != 0x80)
			return false;
		cp = (cp << 6) | (v->p[i] & 0x3F);
	}
	if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
		return false;
	v->p += need + 1;
	return true;
}

static bool jv_string(struct jv *v)
{
	v->p++;   /* opening quote */
	while (v->p < v->end) {
		unsigned c;
		/* fast path: plain printable ASCII, 8 bytes at a time when none is special */
		while (v->end - v->p >= 8) {
			uint64_t x;
			memcpy(&x, v->p, 8);
			/* any byte < 0x20, >= 0x80, '"' (0x22) or '\\' (0x5c)? (classic SWAR tests) */
			uint64_t lo = (x - 0x2020202020202020ull) & ~x;
			uint64_t q = x ^ 0x2222222222222222ull, bs = x ^ 0x5c5c5c5c5c5c5c5cull;
			uint64_t hit = lo | ((q - 0x0101010101010101ull) & ~q) | ((bs - 0x0101010101010101ull) & ~bs) | x;
			if (hit & 0x8080808080808080ull)
				break;
			v->p += 8;
		}
		if (v->p >= v->end)
			break;
		c = *v->p;
		if (c == '"') {
			v->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (++v->p >= v->end)
				return false;
			c = *v->p;
			if (c == 'u') {
				if (v->end - v->p < 5)
					return false;
				for (int i = 1; i <= 4; i++)
					if (!((v->p[i] >= '0' && v->p[i] <= '9') || ((v->p[i] | 0x20) >= 'a' && (v->p[i] | 0x20) <= 'f')))
						return false;
				v->p += 5;
			} else if (strchr("\"\\/bfnrt", (int)c) && c) {
				v->p++;
			} else {
				return false;
			}
		} else if (c < 0x80) {
			v->p++;
		} else if (!jv_utf8(v)) {
			return false;
		}
	}
	return false;
}

static bool jv_digits(struct jv *v)
{
	const unsigned char *s = v->p;
	while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
		v->p++;
	return v->p > s;
}

static bool jv_number(struct jv *v)
{
	if (*v->p == '-')
		v->p++;
	if (v->p >= v->end)
		return false;
	if (*v->p == '0')
		v->p++;
	else if (!jv_digits(v))
		return false;
	if (v->p < v->end && *v->p == '.') {
		v->p++;
		if (!jv_digits(v))
			return false;
	}
	if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
		v->p++;
		if (v->p < v->end && (*v->p == '+' || *v->p == '-'))
			v->p++;
		if (!jv_digits(v))
			return false;
	}
	return true;
}

static bool jv_lit(struct jv *v, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(v->end - v->p) < n || memcmp(v->p, lit, n) != 0)
		return false;
	v->p += n;
	return true;
}

bool audit_json_object_valid(const char *s, size_t len, unsigned max_depth)
{
	struct jv v = {(const unsigned char *)s, (const unsigned char *)s + len};
	uint8_t stack[256];   /* '{' or '[' per open container */
	unsigned depth = 0;

	if (max_depth > sizeof stack)
		max_depth = sizeof stack;
	jv_ws(&v);
	if (v.p >= v.end || *v.p != '{')
		return false;
	/* value loop: at each step we expect a value (or a key in an object) */
	for (;;) {
		jv_ws(&v);
		if (v.p >= v.end)
			return false;
		/* parse one value */
		switch (*v.p) {
		case '{':
		case '[':
			if (depth >= max_depth)
				return false;
			stack[depth++] = *v.p;
			v.p++;
			jv_ws(&v);
			if (v.p < v.end && (*v.p == (stack[depth - 1] == '{' ? '}' : ']'))) {
				v.p++;
				depth--;
				goto after_value;
			}
			if (stack[depth - 1] == '{')
				goto key;
			continue;   /* first array element */
		case '"':
			if (!jv_string(&v))
				return false;
			break;
		case 't': if (!jv_lit(&v, "true")) return false; break;
		case 'f': if (!jv_lit(&v, "false")) return false; break;
		case 'n': if (!jv_lit(&v, "null")) return false; break;
		default:
			if (*v.p != '-' && (*v.p < '0' || *v.p > '9'))
				return false;
			if (!jv_number(&v))
				return false;
		}
after_value:
		for (;;) {
			jv_ws(&v);
			if (depth == 0) {
				return v.p == v.end;
			}
			if (v.p >= v.end)
				return false;
			if (*v.p == ',') {
				v.p++;
				if (stack[depth - 1] == '{')
					goto key;
				break;   /* next array element */
			}
			if (*v.p == (stack[depth - 1] == '{' ? '}' : ']')) {
				v.p++;
				depth--;
				continue;
			}
			return false;
		}
		continue;
key:
		jv_ws(&v);
		if (v.p >= v.end || *v.p != '"' || !jv_string(&v))
			return false;
		jv_ws(&v);
		if (v.p >= v.end || *v.p != ':')
			return false;
		v.p++;
	}
}
