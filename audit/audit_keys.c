/* audit_keys — key generation and key files for the audit log (docs/audit-format.md §2).
 *
 * Owns the five files `ehrgate-audit keygen` writes: reviewer.pub/.key (X25519, libsodium
 * crypto_box), signer.pub/.key (Ed25519), index.key (32 random bytes for the keyed BLAKE2b blind
 * index). Each file is one text line "ehrgate-audit KIND 1 BASE64\n" so that a key of the wrong
 * kind is refused with a message naming both kinds. Secret files are created 0600 with O_EXCL and
 * are read straight into sodium_malloc memory (no stdio buffer keeps a copy).
 */
#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit/audit_fmt.h"

enum kkind { K_REVIEWER_PUB, K_REVIEWER_KEY, K_SIGNER_PUB, K_SIGNER_KEY, K_INDEX_KEY };
static const char *const kind_name[] = {"reviewer-pub", "reviewer-key", "signer-pub", "signer-key", "index-key"};
static const char *const file_name[] = {"reviewer.pub", "reviewer.key", "signer.pub", "signer.key", "index.key"};
#define KEYLINE_MAX 256

/* Read a small key file into (sodium-allocated) line; returns the decoded kind and 32 bytes. */
static int key_read(const char *path, enum kkind want, uint8_t out[32], struct err *e)
{
	char *line = sodium_malloc(KEYLINE_MAX + 1);
	int fd = -1, rc = 0;
	size_t got = 0, bin_len = 0;
	char *sp1, *sp2, *b64;
	int kind = -1;

	if (!line)
		return err_set(e, -ENOMEM, "out of secure memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = err_set(e, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, line + got, KEYLINE_MAX - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_set(e, -errno, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got == KEYLINE_MAX) {
			rc = err_set(e, -EINVAL, "%s: not an ehrgate-audit key file (too long)", path);
			goto out;
		}
	}
	line[got] = 0;
	if (got && line[got - 1] == '\n')
		line[--got] = 0;
	if (strncmp(line, "ehrgate-audit ", 14) != 0 || !(sp1 = strchr(line + 14, ' ')) || !(sp2 = strchr(sp1 + 1, ' '))) {
		rc = err_set(e, -EINVAL, "%s: not an ehrgate-audit key file", path);
		goto out;
	}
	for (int k = 0; k < 5; k++)
		if ((size_t)(sp1 - (line + 14)) == strlen(kind_name[k]) && memcmp(line + 14, kind_name[k], strlen(kind_name[k])) == 0)
			kind = k;
	if (kind < 0) {
		rc = err_set(e, -EINVAL, "%s: unknown key kind", path);
		goto out;
	}
	if (kind != (int)want) {
		rc = err_set(e, -EINVAL, "%s: wrong key: this is a %s, a %s is needed", path, kind_name[kind], kind_name[want]);
		goto out;
	}
	if (sp2 - sp1 != 2 || sp1[1] != '1') {
		rc = err_set(e, -EINVAL, "%s: unsupported key file version", path);
		goto out;
	}
	b64 = sp2 + 1;
	if (sodium_base642bin(out, 32, b64, strlen(b64), NULL, &bin_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin_len != 32) {
		rc = err_set(e, -EINVAL, "%s: key is not 32 bytes of base64", path);
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	sodium_memzero(line, KEYLINE_MAX + 1);
	sodium_free(line);
	return rc;
}

int audit_load_reviewer_pub(const char *path, uint8_t pk[AUDIT_KEY_BYTES], struct err *e)
{
	uint8_t probe[crypto_box_SEALBYTES + 1];
	int rc;

	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium failed to initialise");
	rc = key_read(path, K_REVIEWER_PUB, pk, e);
	if (rc)
		return rc;
	/* A small-order point would make crypto_box_seal fail later; refuse it now. */
	if (crypto_box_seal(probe, (const uint8_t *)"x", 1, pk) != 0)
		return err_set(e, -EINVAL, "%s: not a usable X25519 public key", path);
	return 0;
}

int audit_load_signer_pub(const char *path, uint8_t pk[AUDIT_KEY_BYTES], struct err *e)
{
	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium failed to initialise");
	return key_read(path, K_SIGNER_PUB, pk, e);
}

static int load_secret(const char *path, enum kkind kind, struct audit_secret **out, struct err *e)
{
	struct audit_secret *s;
	uint8_t *raw;
	int rc;

	*out = NULL;
	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium failed to initialise");
	s = sodium_malloc(sizeof *s);
	raw = sodium_malloc(32);
	if (!s || !raw) {
		sodium_free(s);
		sodium_free(raw);
		return err_set(e, -ENOMEM, "out of secure memory");
	}
	memset(s, 0, sizeof *s);
	rc = key_read(path, kind, raw, e);
	if (rc)
		goto out;
	switch (kind) {
	case K_REVIEWER_KEY:
		s->kind = 1;
		memcpy(s->sk, raw, 32);
		crypto_scalarmult_base(s->pk, s->sk);
		break;
	case K_SIGNER_KEY:
		s->kind = 2;
		crypto_sign_seed_keypair(s->pk, s->sk, raw);
		break;
	default:
		s->kind = 3;
		memcpy(s->sk, raw, 32);
		break;
	}
out:
	sodium_memzero(raw, 32);
	sodium_free(raw);
	if (rc) {
		audit_secret_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int audit_load_reviewer_key(const char *path, struct audit_secret **out, struct err *e)
{
	return load_secret(path, K_REVIEWER_KEY, out, e);
}

int audit_load_signer_key(const char *path, struct audit_secret **out, struct err *e)
{
	return load_secret(path, K_SIGNER_KEY, out, e);
}

int audit_load_index_key(const char *path, struct audit_secret **out, struct err *e)
{
	return load_secret(path, K_INDEX_KEY, out, e);
}

void audit_secret_free(struct audit_secret *s)
{
	if (!s)
		return;
	sodium_memzero(s, sizeof *s);
	sodium_free(s);
}

/* Write one key line. Secrets: O_EXCL 0600 (or via a 0600 temp + rename with force). */
static int key_write(const char *dir, enum kkind kind, const uint8_t key[32], bool force, struct err *e)
{
	char path[4096];
	char *line = sodium_malloc(KEYLINE_MAX);
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	bool secret = kind == K_REVIEWER_KEY || kind == K_SIGNER_KEY || kind == K_INDEX_KEY;
	unsigned mode = secret ? 0600 : 0644;
	int rc = 0, n;

	if (!line)
		return err_set(e, -ENOMEM, "out of secure memory");
	if (snprintf(path, sizeof path, "%s/%s", dir, file_name[kind]) >= (int)sizeof path) {
		rc = err_set(e, -ENAMETOOLONG, "%s: path too long", dir);
		goto out;
	}
	sodium_bin2base64(b64, sizeof b64, key, 32, sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(line, KEYLINE_MAX, "ehrgate-audit %s 1 %s\n", kind_name[kind], b64);
	sodium_memzero(b64, sizeof b64);
	if (force) {
		rc = af_write_file_atomic(dir, path, (const uint8_t *)line, (size_t)n, mode, true, e);
	} else {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd < 0) {
			rc = err_set(e, -errno, "%s: %s", path, errno == EEXIST ? "exists (use --force to replace)" : strerror(errno));
			goto out;
		}
		if (write(fd, line, (size_t)n) != n || fsync(fd) != 0)
			rc = err_set(e, -EIO, "%s: write failed", path);
		close(fd);
	}
	if (rc == 0 && chmod(path, mode) != 0)   /* umask must not widen or narrow what we chose */
		rc = err_set(e, -errno, "%s: chmod: %s", path, strerror(errno));
out:
	sodium_memzero(line, KEYLINE_MAX);
	sodium_free(line);
	return rc;
}

int audit_keygen(const char *out_dir, bool force, struct err *e)
{
	struct {
		uint8_t rpk[32], rsk[32], spk[32], ssk[64], seed[32], idx[32];
	} *k;
	struct stat st;
	int rc = 0;

	if (sodium_init() < 0)
		return err_set(e, -EIO, "libsodium failed to initialise");
	if (mkdir(out_dir, 0700) != 0 && errno != EEXIST)
		return err_set(e, -errno, "%s: %s", out_dir, strerror(errno));
	if (stat(out_dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return err_set(e, -ENOTDIR, "%s: not a directory", out_dir);
	if (!force) {
		/* Refuse before writing anything, so a half-replaced key set cannot happen. */
		for (int i = 0; i < 5; i++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", out_dir, file_name[i]);
			if (access(path, F_OK) == 0)
				return err_set(e, -EEXIST, "%s: exists (use --force to replace)", path);
		}
	}
	k = sodium_malloc(sizeof *k);
	if (!k)
		return err_set(e, -ENOMEM, "out of secure memory");
	crypto_box_keypair(k->rpk, k->rsk);
	randombytes_buf(k->seed, 32);
	crypto_sign_seed_keypair(k->spk, k->ssk, k->seed);
	randombytes_buf(k->idx, 32);
	if ((rc = key_write(out_dir, K_REVIEWER_KEY, k->rsk, force, e)) || (rc = key_write(out_dir, K_SIGNER_KEY, k->seed, force, e)) ||
	    (rc = key_write(out_dir, K_INDEX_KEY, k->idx, force, e)) || (rc = key_write(out_dir, K_REVIEWER_PUB, k->rpk, force, e)) ||
	    (rc = key_write(out_dir, K_SIGNER_PUB, k->spk, force, e)))
		goto out;
out:
	sodium_memzero(k, sizeof *k);
	sodium_free(k);
	return rc;
}
