/* audit_test — library-level tests of the audit log (STYLE.md: known-answer and tamper tests).
 *
 * Known answers: RFC 9162 Merkle vectors, key-schedule values computed independently (Python
 * hashlib), and a whole deterministic log compared byte for byte with fixtures/audit/kat/.
 * Tamper: every bit of every file flipped, truncation at every offset of the final batch,
 * reordered records, deleted/spliced segments, replaced signer, heartbeat gap, wrong key.
 * Forward secrecy: a child process's whole writable memory after batch N is searched for every
 * earlier batch key, earlier plaintext, and tried window by window as a key on an earlier record.
 * Tests run from the repository top (ci/run-tests cds there).
 */
#include "audit/audit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "audit/audit_fmt.h"
#include "lib/buf.h"
#include "lib/mem.h"

#define KAT "fixtures/audit/kat"

/* ------------------------------------------------------------------ helpers */
static void rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[4096];
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			rm_rf(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void tmpdir(char out[256])
{
	snprintf(out, 256, "/tmp/ehrgate-audit-test-XXXXXX");
	assert_non_null(mkdtemp(out));
}

static int64_t fake_clock(void *arg)
{
	int64_t *t = arg;
	*t += 1000000;   /* 1 ms per reading */
	return *t;
}

static const uint8_t seed[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

struct wcfg {
	enum audit_fsync mode;
	bool threaded;
	bool det;
	int64_t *clk;
	uint64_t seg_max;
	unsigned hb;
	const char *keys;     /* key dir (default KAT) */
	const char *signer;   /* override signer key path */
};

static struct audit_writer *wopen(const char *dir, const struct wcfg *c)
{
	struct audit_writer_opts o;
	struct audit_writer *w = NULL;
	struct err e;
	char rp[512], sp[512], ip[512];
	const char *kd = c->keys ? c->keys : KAT;

	snprintf(rp, sizeof rp, "%s/reviewer.pub", kd);
	snprintf(sp, sizeof sp, "%s/signer.key", kd);
	snprintf(ip, sizeof ip, "%s/index.key", kd);
	memset(&o, 0, sizeof o);
	o.dir = dir;
	o.reviewer_pub_path = rp;
	o.signer_key_path = c->signer ? c->signer : sp;
	o.index_key_path = ip;
	o.fsync = c->mode;
	o.synchronous = !c->threaded;
	o.deterministic_seed = c->det ? seed : NULL;
	o.clock_ns = c->clk ? fake_clock : NULL;
	o.clock_arg = c->clk;
	o.segment_max_bytes = c->seg_max;
	o.heartbeat_s = c->hb;
	err_clear(&e);
	if (audit_writer_open(&o, &w, &e) != 0)
		fail_msg("audit_writer_open(%s): %s", dir, e.msg);
	return w;
}

static uint64_t put(struct audit_writer *w, int n, const char *decision)
{
	char json[256], pat[32];
	struct audit_tags t;
	uint64_t seq = 0;
	struct err e;
	snprintf(pat, sizeof pat, "Patient/%d", n % 7);
	snprintf(json, sizeof json, "{\"event\":\"fhir-read\",\"rid\":\"r%d\",\"decision\":\"%s\",\"patient\":\"%s\",\"n\":%d}", n,
		 decision, pat, n);
	t.patient = pat;
	t.user = n % 2 ? "dr.one" : NULL;
	t.decision = decision;
	err_clear(&e);
	if (audit_writer_append(w, json, strlen(json), &t, &seq, &e) != 0)
		fail_msg("append: %s", e.msg);
	return seq;
}

static void wflush(struct audit_writer *w)
{
	struct err e;
	err_clear(&e);
	if (audit_writer_flush(w, &e) != 0)
		fail_msg("flush: %s", e.msg);
}

static void wclose(struct audit_writer *w)
{
	struct err e;
	err_clear(&e);
	if (audit_writer_close(w, &e) != 0)
		fail_msg("close: %s", e.msg);
}

static struct audit_secret *rkey(const char *kd)
{
	struct audit_secret *s = NULL;
	char p[512];
	struct err e;
	snprintf(p, sizeof p, "%s/reviewer.key", kd ? kd : KAT);
	assert_int_equal(audit_load_reviewer_key(p, &s, &e), 0);
	return s;
}

static struct audit_verify_report *verify(const char *dir, bool full, const uint8_t *pin)
{
	struct audit_verify_opts o;
	struct audit_verify_report *r = xcalloc(1, sizeof *r);
	struct audit_secret *rk = full ? rkey(NULL) : NULL;
	struct err e;
	memset(&o, 0, sizeof o);
	o.dir = dir;
	o.reviewer_key = rk;
	o.signer_pk = pin;
	err_clear(&e);
	if (audit_verify(&o, r, &e) != 0)
		fail_msg("verify(%s): %s", dir, e.msg);
	audit_secret_free(rk);
	return r;
}

static const struct audit_problem *problem(const struct audit_verify_report *r, const char *code)
{
	for (size_t i = 0; i < r->n_problems; i++)
		if (!strcmp(r->problems[i].code, code))
			return &r->problems[i];
	return NULL;
}

static void dump_problems(const struct audit_verify_report *r)
{
	for (size_t i = 0; i < r->n_problems; i++)
		print_message("  problem %s seg %llu seq %llu: %s\n", r->problems[i].code,
			      (unsigned long long)r->problems[i].segment, (unsigned long long)r->problems[i].seq,
			      r->problems[i].detail);
}

static void assert_valid(const char *dir, bool full)
{
	struct audit_verify_report *r = verify(dir, full, NULL);
	if (r->n_problems)
		dump_problems(r);
	assert_int_equal(r->n_problems, 0);
	free(r);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	uint8_t *p;
	struct err e;
	if (af_read_file(path, 1u << 30, &p, len, &e) != 0)
		fail_msg("%s", e.msg);
	return p;
}

static void spit(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void seg_file(char *out, const char *dir, uint64_t seg, const char *ext)
{
	af_seg_path(out, 4096, dir, seg, ext);
}

struct collect {
	size_t n;
	uint64_t seq[4096];
	char decision[4096][16];
};

static int collect_cb(const struct audit_record *rec, void *arg)
{
	struct collect *c = arg;
	if (c->n < 4096) {
		c->seq[c->n] = rec->seq;
		snprintf(c->decision[c->n], 16, "%s", rec->decision ? rec->decision : "");
	}
	c->n++;
	return 0;
}

static size_t read_all(const char *dir, const struct audit_filter *f, struct collect *c)
{
	struct audit_secret *rk = rkey(NULL);
	struct err e;
	memset(c, 0, sizeof *c);
	err_clear(&e);
	if (audit_read(dir, rk, NULL, f, collect_cb, c, &e) != 0)
		fail_msg("read: %s", e.msg);
	audit_secret_free(rk);
	return c->n;
}

/* Build the small deterministic log used by the KAT and tamper tests:
 * batch 0 [OPEN CP] | batch 1 [d d CP] | batch 2 [d d CLOSE CP]. */
static void small_log(const char *dir)
{
	int64_t clk = 1800000000000000000LL;
	struct wcfg c = {.mode = AUDIT_FSYNC_NONE, .det = true, .clk = &clk};
	struct audit_writer *w = wopen(dir, &c);
	put(w, 1, "allow");
	put(w, 2, "deny");
	wflush(w);
	put(w, 3, "redact");
	put(w, 4, "allow");
	wclose(w);
}

/* ------------------------------------------------------------------ known answers */

static void hexdec(const char *h, uint8_t *out, size_t n)
{
	size_t bl;
	assert_int_equal(sodium_hex2bin(out, n, h, strlen(h), NULL, &bl, NULL), 0);
	assert_int_equal(bl, n);
}

/* RFC 9162 §2.1.1 / RFC 6962 reference tree heads (transparency-dev/merkle testonly vectors). */
static void test_merkle_rfc9162_vectors(void **state)
{
	static const char *leaves[] = {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
				       "606162636465666768696a6b6c6d6e6f"};
	static const char *roots[] = {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
				      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
				      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
				      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
				      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
				      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
				      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
				      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
				      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
	struct af_sha *s = af_sha_new();
	struct af_merkle m;
	uint8_t want[32], got[32], leaf[32], in[16];
	(void)state;
	af_merkle_init(&m);
	for (int n = 0; n <= 8; n++) {
		af_merkle_root(&m, s, got);
		hexdec(roots[n], want, 32);
		assert_memory_equal(got, want, 32);
		if (n == 8)
			break;
		hexdec(leaves[n], in, strlen(leaves[n]) / 2);
		af_leaf_hash(s, in, strlen(leaves[n]) / 2, NULL, 0, leaf);
		af_merkle_push(&m, s, leaf);
	}
	af_sha_free(s);
}

/* Key schedule values computed independently with Python's hashlib.blake2b. */
static void test_key_schedule_known_answers(void **state)
{
	uint8_t k[32], want[32], tag[16], wtag[16];
	(void)state;
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)i;
	af_key_commit(k, want);
	hexdec("dabf6d15cb9dc177c180dd0e97dbe9ef52d32955d99f805a3471ad21952527a0", k, 32);
	assert_memory_equal(want, k, 32);
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)i;
	af_index_commit(k, want);
	{
		uint8_t w2[32];
		hexdec("608ba87fcccab12c88c0cb892a621b5eaab6dd2a5d60758b67ed6255a43abf5d", w2, 32);
		assert_memory_equal(want, w2, 32);
	}
	af_tag(k, "patient", "Patient/123", 11, tag);
	hexdec("12c27737d82644d9c5f2e47a30fd29e1", wtag, 16);
	assert_memory_equal(tag, wtag, 16);
	af_ratchet(k);
	hexdec("282a4307a06a3046e075c77f168b1442ad345b18957021ce8da7536fbf5dca2d", want, 32);
	assert_memory_equal(k, want, 32);
}

/* A whole log written with fixed keys, seed (segment key, log id) and clock must equal the
 * checked-in bytes (Ed25519 and the AEAD are deterministic; only the sealed envelopes in .keys
 * are randomised by crypto_box_seal, so .keys is checked by opening it instead).
 * EHRGATE_AUDIT_KAT_WRITE=1 rewrites the expected files (after a deliberate format change). */
static void test_kat_whole_log(void **state)
{
	char dir[256], p[4096], hp[512];
	const char *exts[] = {"log", "idx"};
	(void)state;
	tmpdir(dir);
	small_log(dir);
	for (int i = 0; i < 2; i++) {
		size_t n, hn;
		uint8_t *b, *hb;
		char *hex;
		seg_file(p, dir, 1, exts[i]);
		b = slurp(p, &n);
		hex = xmalloc(2 * n + 2);
		sodium_bin2hex(hex, 2 * n + 1, b, n);
		hex[2 * n] = '\n';
		hex[2 * n + 1] = 0;
		snprintf(hp, sizeof hp, KAT "/expected-00000001.%s.hex", exts[i]);
		if (getenv("EHRGATE_AUDIT_KAT_WRITE")) {
			spit(hp, (const uint8_t *)hex, strlen(hex));
		} else {
			hb = slurp(hp, &hn);
			assert_int_equal(hn, strlen(hex));
			assert_memory_equal(hb, hex, hn);
			free(hb);
		}
		free(hex);
		free(b);
	}
	/* .keys opens with the KAT reviewer key to the seed-derived segment key. */
	{
		size_t n;
		uint8_t *keys, plain[AF_ENV_PLAIN], k0[32];
		struct audit_secret *rk = rkey(NULL);
		struct err e;
		crypto_generichash_state st;
		uint8_t nb[8] = {1, 0, 0, 0, 0, 0, 0, 0}, log_id[16];
		seg_file(p, dir, 1, "keys");
		keys = slurp(p, &n);
		memcpy(log_id, keys + 8, 16);
		assert_int_equal(af_keys_open(keys, n, rk, log_id, 1, plain, &e), 0);
		crypto_generichash_init(&st, seed, 32, 32);
		crypto_generichash_update(&st, (const uint8_t *)"ehrgate-audit test segment key", 30);
		crypto_generichash_update(&st, nb, 8);
		crypto_generichash_final(&st, k0, 32);
		assert_memory_equal(plain + 32, k0, 32);
		audit_secret_free(rk);
		free(keys);
	}
	assert_valid(dir, true);
	rm_rf(dir);
}

static void test_json_validator(void **state)
{
	static const char *good[] = {"{}", " {\"a\":1} ", "{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\\n\",\"d\":-0.5e+3}",
				     "{\"x\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", "{\"a\":true,\"b\":false}"};
	static const char *bad[] = {"", "[]", "1", "\"s\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":01}",
				    "{\"a\":1}x", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\xc0\xaf\"}",
				    "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":tru}", "{\"a\":[1 2]}", "{\"a\":1}{}", "{a:1}"};
	char deep[300];
	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		assert_true(audit_json_object_valid(good[i], strlen(good[i]), 64));
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (audit_json_object_valid(bad[i], strlen(bad[i]), 64))
			fail_msg("accepted invalid JSON #%zu", i);
	/* every special byte at every position of a long string (the 8-byte fast path and the
	 * byte-at-a-time path must agree) */
	for (int pos = 0; pos < 20; pos++) {
		static const struct {
			const char *ins;
			bool ok;
		} cases[] = {{"\x01", false}, {"\\n", true}, {"\xc3\xa9", true}, {"\x80", false}, {"\x1f", false},
			     {"\\\"", true}, {"\"", false}, {"\x7f", true}, {"\xf4\x90\x80\x80", false}};
		for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
			char js[64];
			int n = snprintf(js, sizeof js, "{\"k\":\"%.*s%s%.*s\"}", pos, "abcdefghijklmnopqrstuvwxyz", cases[k].ins,
					 20 - pos, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
			if (audit_json_object_valid(js, (size_t)n, 64) != cases[k].ok)
				fail_msg("case %zu at position %d misjudged", k, pos);
		}
	}
	/* depth bound: 64 accepted, 65 refused */
	for (int d = 64; d <= 65; d++) {
		size_t n = 0;
		deep[n++] = '{';
		deep[n++] = '"';
		deep[n++] = 'a';
		deep[n++] = '"';
		deep[n++] = ':';
		for (int i = 1; i < d; i++)
			deep[n++] = '[';
		for (int i = 1; i < d; i++)
			deep[n++] = ']';
		deep[n++] = '}';
		assert_int_equal(audit_json_object_valid(deep, n, 64), d == 64);
	}
}

/* ------------------------------------------------------------------ tamper tests */

/* Flip every bit of every file of a small log: blind verification must report each flip (the
 * chain covers every frame, the last checkpoint's signature covers the chain, the .keys
 * checksum and the rebuilt index cover the side files); full verification each flip in the
 * index and key files. */
static void test_bitflip_every_bit(void **state)
{
	char dir[256], p[4096];
	const char *exts[] = {"log", "keys", "idx"};
	size_t missed = 0, total = 0;
	(void)state;
	tmpdir(dir);
	small_log(dir);
	assert_valid(dir, false);
	assert_valid(dir, true);
	for (int f = 0; f < 3; f++) {
		size_t n;
		uint8_t *orig;
		int fd;
		seg_file(p, dir, 1, exts[f]);
		orig = slurp(p, &n);
		fd = open(p, O_WRONLY);
		assert_true(fd >= 0);
		for (size_t i = 0; i < n; i++) {
			for (int b = 0; b < 8; b++) {
				uint8_t v = orig[i] ^ (uint8_t)(1u << b);
				struct audit_verify_report *r;
				assert_int_equal(pwrite(fd, &v, 1, (off_t)i), 1);
				total++;
				r = verify(dir, false, NULL);
				if (r->n_problems == 0 && missed++ < 5)
					print_message("blind verify missed flip %s byte %zu bit %d\n", exts[f], i, b);
				free(r);
				if (f > 0) {
					r = verify(dir, true, NULL);
					if (r->n_problems == 0 && missed++ < 5)
						print_message("full verify missed flip %s byte %zu bit %d\n", exts[f], i, b);
					free(r);
				}
			}
			assert_int_equal(pwrite(fd, &orig[i], 1, (off_t)i), 1);
		}
		close(fd);
		free(orig);
	}
	print_message("bit flips tried: %zu, undetected: %zu\n", total, missed);
	assert_int_equal(missed, 0);
	assert_valid(dir, true);
	rm_rf(dir);
}

/* Offsets at which each checkpoint frame ends. */
static size_t cp_ends(const uint8_t *log, size_t n, size_t *ends, size_t max)
{
	size_t off = 0, k = 0;
	while (off + AF_HDR <= n && k < max) {
		uint32_t len = af_get32(log + off + 8);
		if (log[off + 5] == AF_CHECKPOINT)
			ends[k++] = off + AF_HDR + len;
		off += AF_HDR + len;
	}
	return k;
}

/* Truncate the last segment at every byte offset of its final batch; reopening the writer must
 * recover, say exactly what it discarded in RECOVERY, and leave a log that verifies. */
static void test_truncate_every_offset_of_final_batch(void **state)
{
	char src[256], dir[256], p[4096], q[4096];
	size_t n, kn, in, ends[16], ne, start;
	uint8_t *log, *keys, *idx;
	(void)state;
	tmpdir(src);
	small_log(src);
	seg_file(p, src, 1, "log");
	log = slurp(p, &n);
	seg_file(p, src, 1, "keys");
	keys = slurp(p, &kn);
	seg_file(p, src, 1, "idx");
	idx = slurp(p, &in);
	ne = cp_ends(log, n, ends, 16);
	assert_int_equal(ne, 3);
	assert_int_equal(ends[2], n);
	start = ends[1];   /* the final batch is [d d CLOSE CP] */
	tmpdir(dir);
	for (size_t off = start; off < n; off++) {
		struct audit_writer *w;
		struct audit_verify_report *r;
		struct collect *c = xcalloc(1, sizeof *c);
		struct wcfg cfg = {.mode = AUDIT_FSYNC_NONE};
		rm_rf(dir);
		assert_int_equal(mkdir(dir, 0700), 0);
		seg_file(q, dir, 1, "log");
		spit(q, log, off);
		seg_file(q, dir, 1, "keys");
		spit(q, keys, kn);
		seg_file(q, dir, 1, "idx");
		spit(q, idx, in);
		w = wopen(dir, &cfg);
		wclose(w);
		r = verify(dir, true, NULL);
		if (r->n_problems) {
			print_message("truncated at %zu of %zu:\n", off, n);
			dump_problems(r);
		}
		assert_int_equal(r->n_problems, 0);
		assert_int_equal(r->n_recoveries, 1);
		assert_int_equal(r->recoveries[0].segment, 2);
		assert_int_equal(r->recoveries[0].prev_segment, 1);
		assert_int_equal(r->recoveries[0].last_good_seq, 5);   /* OPEN CP d d CP */
		assert_int_equal(r->recoveries[0].bytes_discarded, off - start);
		free(r);
		assert_int_equal(read_all(dir, NULL, c), 2);   /* the two records of the kept batches */
		free(c);
	}
	rm_rf(dir);
	rm_rf(src);
	free(log);
	free(keys);
	free(idx);
}

static void two_segment_log(const char *dir, const struct wcfg *c2)
{
	int64_t clk = 1800000000000000000LL;
	struct wcfg c = {.mode = AUDIT_FSYNC_NONE, .clk = &clk};
	struct audit_writer *w = wopen(dir, &c);
	for (int i = 0; i < 4; i++)
		put(w, i, "allow");
	wclose(w);
	w = wopen(dir, c2 ? c2 : &c);
	for (int i = 4; i < 8; i++)
		put(w, i, "deny");
	wclose(w);
	w = wopen(dir, &c);
	put(w, 9, "allow");
	wclose(w);
}

static void test_reorder_two_records(void **state)
{
	char dir[256], p[4096];
	size_t n, off = 0, a = 0, b = 0, al = 0;
	uint8_t *log, *tmp;
	struct audit_verify_report *r;
	const struct audit_problem *pr;
	struct wcfg c = {.mode = AUDIT_FSYNC_NONE};
	struct audit_writer *w;
	(void)state;
	tmpdir(dir);
	w = wopen(dir, &c);
	put(w, 2, "allow");   /* same length, same batch */
	put(w, 4, "allow");
	put(w, 6, "allow");
	wclose(w);
	seg_file(p, dir, 1, "log");
	log = slurp(p, &n);
	/* the first two data frames have equal length: swap them */
	while (off < n) {
		uint32_t len = af_get32(log + off + 8);
		if (log[off + 5] == AF_DATA) {
			if (!a) {
				a = off;
				al = AF_HDR + len;
			} else if (!b) {
				b = off;
			}
		}
		off += AF_HDR + len;
	}
	assert_int_equal(af_get32(log + b + 8) + AF_HDR, al);
	tmp = xmalloc(al);
	memcpy(tmp, log + a, al);
	memmove(log + a, log + b, al);
	memcpy(log + b, tmp, al);
	spit(p, log, n);
	r = verify(dir, false, NULL);
	pr = problem(r, "SEQ_MISMATCH");
	assert_non_null(pr);
	assert_int_equal(pr->seq, 3);   /* the first displaced position */
	free(r);
	free(tmp);
	free(log);
	rm_rf(dir);
}

static void test_delete_middle_segment(void **state)
{
	char dir[256], p[4096];
	struct audit_verify_report *r;
	const struct audit_problem *pr;
	(void)state;
	tmpdir(dir);
	two_segment_log(dir, NULL);
	assert_valid(dir, true);
	seg_file(p, dir, 2, "log");
	unlink(p);
	seg_file(p, dir, 2, "keys");
	unlink(p);
	seg_file(p, dir, 2, "idx");
	unlink(p);
	r = verify(dir, false, NULL);
	pr = problem(r, "SEGMENT_MISSING");
	assert_non_null(pr);
	assert_int_equal(pr->segment, 2);
	free(r);
	rm_rf(dir);
}

static void test_splice_foreign_segment(void **state)
{
	char a[256], b[256], p[4096], q[4096];
	const char *exts[] = {"log", "keys", "idx"};
	struct audit_verify_report *r;
	(void)state;
	tmpdir(a);
	tmpdir(b);
	two_segment_log(a, NULL);
	two_segment_log(b, NULL);   /* same keys, different (random) log id */
	for (int i = 0; i < 3; i++) {
		size_t n;
		uint8_t *x;
		seg_file(p, b, 2, exts[i]);
		x = slurp(p, &n);
		seg_file(q, a, 2, exts[i]);
		spit(q, x, n);
		free(x);
	}
	r = verify(a, false, NULL);
	assert_non_null(problem(r, "SEGMENT_FOREIGN"));
	free(r);
	rm_rf(a);
	rm_rf(b);
}

static void test_replaced_signer_key(void **state)
{
	char dir[256], kd[256], sp[512];
	uint8_t pin[32], other[32];
	struct audit_verify_report *r;
	struct err e;
	int64_t clk = 1800000000000000000LL;
	struct wcfg c2 = {.mode = AUDIT_FSYNC_NONE, .clk = &clk};
	(void)state;
	tmpdir(dir);
	tmpdir(kd);
	assert_int_equal(audit_keygen(kd, true, &e), 0);
	snprintf(sp, sizeof sp, "%s/signer.key", kd);
	c2.signer = sp;
	two_segment_log(dir, &c2);   /* segment 2 signed with another key */
	assert_int_equal(audit_load_signer_pub(KAT "/signer.pub", pin, &e), 0);
	/* not pinned: the change of key inside the log is reported */
	r = verify(dir, false, NULL);
	assert_non_null(problem(r, "SIGNER_CHANGED"));
	assert_int_equal(problem(r, "SIGNER_CHANGED")->segment, 2);
	free(r);
	/* pinned to the real key: segment 2 fails */
	r = verify(dir, false, pin);
	assert_non_null(problem(r, "SIGNER_MISMATCH"));
	free(r);
	/* pinned to the other key: segment 1 already fails */
	snprintf(sp, sizeof sp, "%s/signer.pub", kd);
	assert_int_equal(audit_load_signer_pub(sp, other, &e), 0);
	r = verify(dir, false, other);
	assert_non_null(problem(r, "SIGNER_MISMATCH"));
	assert_int_equal(problem(r, "SIGNER_MISMATCH")->segment, 1);
	free(r);
	rm_rf(dir);
	rm_rf(kd);
}

static void test_heartbeat_gap_detected(void **state)
{
	char dir[256];
	int64_t clk = 1800000000000000000LL;
	struct wcfg c = {.mode = AUDIT_FSYNC_NONE, .clk = &clk, .hb = 1};
	struct audit_writer *w;
	struct audit_verify_report *r;
	(void)state;
	tmpdir(dir);
	w = wopen(dir, &c);
	put(w, 1, "allow");
	wflush(w);
	clk += 5000000000LL;   /* 5 s pass without any checkpoint (heartbeat is 1 s) */
	put(w, 2, "allow");
	wclose(w);
	r = verify(dir, false, NULL);
	assert_non_null(problem(r, "HEARTBEAT_GAP"));
	free(r);
	rm_rf(dir);
}

static void test_wrong_key_and_missing_dir(void **state)
{
	char dir[256], kd[256], p[512];
	struct audit_secret *other;
	struct audit_verify_opts o;
	struct audit_verify_report *r = xcalloc(1, sizeof *r);
	struct collect *c = xcalloc(1, sizeof *c);
	struct err e;
	(void)state;
	tmpdir(dir);
	tmpdir(kd);
	small_log(dir);
	assert_int_equal(audit_keygen(kd, true, &e), 0);
	other = rkey(kd);
	err_clear(&e);
	assert_int_equal(audit_read(dir, other, NULL, NULL, collect_cb, c, &e), -EACCES);
	assert_non_null(strstr(e.msg, "wrong key"));
	memset(&o, 0, sizeof o);
	o.dir = dir;
	o.reviewer_key = other;
	assert_int_equal(audit_verify(&o, r, &e), 0);
	assert_non_null(problem(r, "KEY_UNSEAL_FAILED"));
	/* a signer key where a reviewer key belongs: one clear error */
	snprintf(p, sizeof p, "%s/signer.key", kd);
	err_clear(&e);
	assert_int_equal(audit_load_reviewer_key(p, &other, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "wrong key"));
	o.dir = "/nonexistent/ehrgate-audit";
	o.reviewer_key = NULL;
	assert_int_equal(audit_verify(&o, r, &e), -ENOENT);
	free(r);
	free(c);
	audit_secret_free(rkey(NULL));
	rm_rf(dir);
	rm_rf(kd);
}

/* ------------------------------------------------------------------ writer behaviour */

struct thr_arg {
	struct audit_writer *w;
	int id;
	uint64_t seqs[200];
};

static void *thr_append(void *p)
{
	struct thr_arg *a = p;
	for (int i = 0; i < 200; i++)
		a->seqs[i] = put(a->w, a->id * 1000 + i, i % 3 ? "allow" : "deny");
	return NULL;
}

/* Eight threads append with fsync=always: every seq is distinct, everything verifies, and
 * appends share fdatasyncs (fewer checkpoints than records: group commit). */
static void test_concurrent_group_commit(void **state)
{
	char dir[256];
	struct wcfg c = {.mode = AUDIT_FSYNC_ALWAYS, .threaded = true};
	struct audit_writer *w;
	pthread_t t[8];
	struct thr_arg *a = xcalloc(8, sizeof *a);
	struct audit_verify_report *r;
	struct collect *col = xcalloc(1, sizeof *col);
	uint8_t *seen = xcalloc(4000, 1);
	(void)state;
	tmpdir(dir);
	w = wopen(dir, &c);
	for (int i = 0; i < 8; i++) {
		a[i].w = w;
		a[i].id = i;
		pthread_create(&t[i], NULL, thr_append, &a[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	wclose(w);
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 200; j++) {
			assert_true(a[i].seqs[j] < 4000);
			assert_int_equal(seen[a[i].seqs[j]], 0);
			seen[a[i].seqs[j]] = 1;
		}
	r = verify(dir, true, NULL);
	assert_int_equal(r->n_problems, 0);
	assert_int_equal(r->records, 1600);
	print_message("1600 records, %llu checkpoints\n", (unsigned long long)r->checkpoints);
	assert_true(r->checkpoints * 2 < r->records);
	free(r);
	assert_int_equal(read_all(dir, NULL, col), 1600);
	free(col);
	free(seen);
	free(a);
	rm_rf(dir);
}

/* A write failure reaches the caller, and every later append fails too (fail closed). The
 * failure is made real with RLIMIT_FSIZE in a child process. */
static void test_write_failure_is_reported(void **state)
{
	char dir[256];
	pid_t pid;
	int status;
	(void)state;
	tmpdir(dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {.rlim_cur = 16384, .rlim_max = 16384};
		struct wcfg c = {.mode = AUDIT_FSYNC_ALWAYS, .threaded = true};
		struct audit_writer *w;
		struct err e;
		uint64_t seq;
		int first_fail = -1;
		const char *j = "{\"event\":\"fhir-read\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}";
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		w = wopen(dir, &c);
		for (int i = 0; i < 1000; i++) {
			err_clear(&e);
			if (audit_writer_append(w, j, strlen(j), NULL, &seq, &e) != 0) {
				first_fail = i;
				break;
			}
		}
		if (first_fail < 0)
			_exit(10);   /* the limit was never hit */
		err_clear(&e);
		if (audit_writer_append(w, j, strlen(j), NULL, &seq, &e) == 0)
			_exit(11);   /* an append after a failure succeeded */
		audit_writer_close(w, NULL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	rm_rf(dir);
}

static void test_second_writer_refused(void **state)
{
	char dir[256], rp[512];
	struct wcfg c = {.mode = AUDIT_FSYNC_NONE};
	struct audit_writer *w, *w2 = NULL;
	struct audit_writer_opts o;
	struct err e;
	(void)state;
	tmpdir(dir);
	w = wopen(dir, &c);
	memset(&o, 0, sizeof o);
	snprintf(rp, sizeof rp, KAT "/reviewer.pub");
	o.dir = dir;
	o.reviewer_pub_path = rp;
	o.signer_key_path = KAT "/signer.key";
	o.fsync = AUDIT_FSYNC_NONE;
	assert_int_equal(audit_writer_open(&o, &w2, &e), -EBUSY);
	assert_null(w2);
	wclose(w);
	rm_rf(dir);
}

/* A segment whose creation never completed (garbage, no checkpoint) is set aside, the chain
 * continues from the previous segment and RECOVERY names what was removed. */
static void test_incomplete_segment_set_aside(void **state)
{
	char dir[256], p[4096];
	struct wcfg c = {.mode = AUDIT_FSYNC_NONE};
	struct audit_writer *w;
	struct audit_verify_report *r;
	struct collect *col = xcalloc(1, sizeof *col);
	(void)state;
	tmpdir(dir);
	w = wopen(dir, &c);
	put(w, 1, "allow");
	wclose(w);
	seg_file(p, dir, 2, "log");
	spit(p, (const uint8_t *)"EGA1\x01garbage", 12);
	w = wopen(dir, &c);
	put(w, 2, "allow");
	wclose(w);
	r = verify(dir, true, NULL);
	if (r->n_problems)
		dump_problems(r);
	assert_int_equal(r->n_problems, 0);
	assert_int_equal(r->n_recoveries, 1);
	assert_int_equal(r->recoveries[0].removed_segment, 2);
	assert_int_equal(r->recoveries[0].removed_bytes, 12);
	free(r);
	assert_int_equal(read_all(dir, NULL, col), 2);
	free(col);
	rm_rf(dir);
}

static void test_rotation_and_filters(void **state)
{
	char dir[256];
	int64_t clk = 1800000000000000000LL;
	struct wcfg c = {.mode = AUDIT_FSYNC_NONE, .clk = &clk, .seg_max = 2048};
	struct audit_writer *w;
	struct audit_verify_report *r;
	struct collect *a = xcalloc(1, sizeof *a), *b = xcalloc(1, sizeof *b);
	struct audit_filter f;
	(void)state;
	tmpdir(dir);
	w = wopen(dir, &c);
	for (int i = 0; i < 60; i++) {
		put(w, i, i % 4 ? "allow" : "deny");
		if (i % 5 == 4)
			wflush(w);
	}
	wclose(w);
	r = verify(dir, true, NULL);
	assert_int_equal(r->n_problems, 0);
	assert_true(r->segments >= 4);
	assert_int_equal(r->records, 60);
	free(r);
	/* index path and scan path agree */
	memset(&f, 0, sizeof f);
	f.decision = "deny";
	assert_int_equal(read_all(dir, &f, a), 15);
	f.scan = true;
	assert_int_equal(read_all(dir, &f, b), 15);
	assert_memory_equal(a->seq, b->seq, 15 * sizeof a->seq[0]);
	memset(&f, 0, sizeof f);
	f.patient = "Patient/3";
	assert_int_equal(read_all(dir, &f, a), 9);   /* n % 7 == 3 for n < 60 */
	/* time filter through the index */
	memset(&f, 0, sizeof f);
	f.since_ns = 1800000000000000000LL;
	f.until_ns = 1800000000000000000LL + 20 * 1000000LL;   /* the first 20 clock readings */
	assert_true(read_all(dir, &f, a) > 0);
	assert_true(a->n < 20);
	free(a);
	free(b);
	rm_rf(dir);
}

/* Two recipients can each read; rewrap to a third removes the first two without touching the
 * records (the .log bytes are identical afterwards) and verification still passes. */
static void test_multiple_recipients_and_rewrap(void **state)
{
	char dir[256], k2[256], k3[256], rp[3][512], p[4096];
	struct audit_writer_opts o;
	struct audit_writer *w = NULL;
	const char *paths[2];
	struct err e;
	struct audit_secret *r1, *r2, *r3;
	uint8_t pk3[1][32];
	struct collect *c = xcalloc(1, sizeof *c);
	size_t n1, n2;
	uint8_t *before, *after;
	(void)state;
	tmpdir(dir);
	tmpdir(k2);
	tmpdir(k3);
	assert_int_equal(audit_keygen(k2, true, &e), 0);
	assert_int_equal(audit_keygen(k3, true, &e), 0);
	snprintf(rp[0], sizeof rp[0], KAT "/reviewer.pub");
	snprintf(rp[1], sizeof rp[1], "%s/reviewer.pub", k2);
	snprintf(rp[2], sizeof rp[2], "%s/reviewer.pub", k3);
	paths[0] = rp[0];
	paths[1] = rp[1];
	memset(&o, 0, sizeof o);
	o.dir = dir;
	o.reviewer_pub_paths = paths;
	o.n_reviewer_pub = 2;
	o.signer_key_path = KAT "/signer.key";
	o.fsync = AUDIT_FSYNC_NONE;
	o.synchronous = true;
	assert_int_equal(audit_writer_open(&o, &w, &e), 0);
	put(w, 1, "allow");
	put(w, 2, "deny");
	assert_int_equal(audit_writer_close(w, &e), 0);
	r1 = rkey(NULL);
	r2 = rkey(k2);
	r3 = rkey(k3);
	assert_int_equal(audit_read(dir, r1, NULL, NULL, collect_cb, c, &e), 0);
	assert_int_equal(c->n, 2);
	c->n = 0;
	assert_int_equal(audit_read(dir, r2, NULL, NULL, collect_cb, c, &e), 0);
	assert_int_equal(c->n, 2);
	c->n = 0;
	assert_int_equal(audit_read(dir, r3, NULL, NULL, collect_cb, c, &e), -EACCES);
	seg_file(p, dir, 1, "log");
	before = slurp(p, &n1);
	assert_int_equal(audit_load_reviewer_pub(rp[2], pk3[0], &e), 0);
	/* a wrong key changes nothing */
	assert_int_equal(audit_rewrap(dir, r3, (const uint8_t(*)[32])pk3, 1, &e), -EACCES);
	assert_int_equal(audit_rewrap(dir, r2, (const uint8_t(*)[32])pk3, 1, &e), 0);
	after = slurp(p, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(before, after, n1);
	c->n = 0;
	assert_int_equal(audit_read(dir, r3, NULL, NULL, collect_cb, c, &e), 0);
	assert_int_equal(c->n, 2);
	assert_int_equal(audit_read(dir, r1, NULL, NULL, collect_cb, c, &e), -EACCES);
	assert_valid(dir, false);
	audit_secret_free(r1);
	audit_secret_free(r2);
	audit_secret_free(r3);
	free(before);
	free(after);
	free(c);
	rm_rf(dir);
	rm_rf(k2);
	rm_rf(k3);
}


/* Boundaries (STYLE.md: max-1, max, max+1) of every bound a writer or reader enforces. */
static void test_boundaries(void **state)
{
	char dir[256];
	struct wcfg c = {.mode = AUDIT_FSYNC_NONE};
	struct audit_writer *w;
	char *big = xmalloc(AUDIT_RECORD_MAX + 2), tagv[AUDIT_TAG_VALUE_MAX + 2];
	struct audit_tags t = {0};
	struct err e;
	uint64_t seq;
	struct collect *col = xcalloc(1, sizeof *col);
	uint8_t hdr[AF_HDR];
	struct af_hdr h;
	const char *why;
	(void)state;
	tmpdir(dir);
	w = wopen(dir, &c);
	/* record size: {"p":"xxx..."} of exactly max, max-1, max+1 bytes */
	for (size_t n = AUDIT_RECORD_MAX - 1; n <= AUDIT_RECORD_MAX + 1; n++) {
		memcpy(big, "{\"p\":\"", 6);
		memset(big + 6, 'x', n - 8);
		memcpy(big + n - 2, "\"}", 2);
		err_clear(&e);
		assert_int_equal(audit_writer_append(w, big, n, NULL, &seq, &e), n <= AUDIT_RECORD_MAX ? 0 : -E2BIG);
	}
	/* tag value length */
	memset(tagv, 'p', sizeof tagv);
	for (size_t n = AUDIT_TAG_VALUE_MAX - 1; n <= AUDIT_TAG_VALUE_MAX + 1; n++) {
		tagv[n] = 0;
		t.patient = tagv;
		assert_int_equal(audit_writer_append(w, "{}", 2, &t, &seq, &e), n <= AUDIT_TAG_VALUE_MAX ? 0 : -E2BIG);
		tagv[n] = 'p';
	}
	/* not an object */
	assert_int_equal(audit_writer_append(w, "[1]", 3, NULL, &seq, &e), -EINVAL);
	wclose(w);
	assert_valid(dir, true);
	assert_int_equal(read_all(dir, NULL, col), 4);   /* two big records, two tagged "{}" */
	/* frame header length bounds for DATA */
	memset(&h, 0, sizeof h);
	h.type = AF_DATA;
	h.seq = 1;
	for (uint32_t len = AF_DATA_MIN - 1; len <= AF_DATA_MIN + 1; len++) {
		h.len = len;
		af_hdr_encode(hdr, &h);
		assert_int_equal(af_hdr_decode(hdr, &h, &why), len >= AF_DATA_MIN ? 0 : -EBADMSG);
	}
	for (uint32_t len = AF_PAYLOAD_MAX - 1; len <= AF_PAYLOAD_MAX + 1; len++) {
		h.len = len;
		h.type = AF_DATA;
		af_hdr_encode(hdr, &h);
		assert_int_equal(af_hdr_decode(hdr, &h, &why), len <= AF_PAYLOAD_MAX ? 0 : -EBADMSG);
	}
	h.type = AF_CHECKPOINT;
	h.len = AF_CP_LEN + 1;
	af_hdr_encode(hdr, &h);
	assert_int_equal(af_hdr_decode(hdr, &h, &why), -EBADMSG);
	free(big);
	free(col);
	rm_rf(dir);
}

/* ------------------------------------------------------------------ forward secrecy */

/* Copy every readable, writable mapping of this process (heap, stacks, .data/.bss, sodium
 * secure memory) into a file: everything a compromised sidecar could read about itself. */
static int dump_own_memory(const char *path)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	int mem = open("/proc/self/mem", O_RDONLY), out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char line[512];
	static uint8_t chunk[1 << 16];
	if (!maps || mem < 0 || out < 0)
		return -1;
	while (fgets(line, sizeof line, maps)) {
		unsigned long lo, hi;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' || perms[1] != 'w')
			continue;
		if (strstr(line, "[vvar]") || strstr(line, "[vsyscall]"))
			continue;
		if (hi - lo > (256ul << 20))
			return -1;   /* not a plain process (sanitizer shadow?): refuse rather than dump GBs */
		for (unsigned long a = lo; a < hi; a += sizeof chunk) {
			size_t n = hi - a < sizeof chunk ? hi - a : sizeof chunk;
			ssize_t r = pread(mem, chunk, n, (off_t)a);
			if (r > 0 && write(out, chunk, (size_t)r) != r)
				return -1;
		}
	}
	fclose(maps);
	close(mem);
	close(out);
	return 0;
}

/* Decrypt-attempt of one data frame with a candidate 32-byte value used either as the batch
 * key (XChaCha20-Poly1305) or as the derived per-nonce subkey (ChaCha20-Poly1305-IETF after
 * HChaCha20), so a leftover subkey is caught as well as a leftover batch key. */
static bool try_key(const uint8_t *fr, uint64_t segment, const uint8_t *cand, uint8_t *plain)
{
	uint32_t len = af_get32(fr + 8);
	uint64_t seq = af_get64(fr + 16);
	uint8_t nonce[24], n12[12] = {0};
	unsigned long long pl;
	af_nonce(nonce, segment, seq);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &pl, NULL, fr + AF_HDR + AF_TAGS, len - AF_TAGS, fr,
						       AF_HDR + AF_TAGS, nonce, cand) == 0)
		return true;
	memcpy(n12 + 4, nonce + 16, 8);
	return crypto_aead_chacha20poly1305_ietf_decrypt(plain, &pl, NULL, fr + AF_HDR + AF_TAGS, len - AF_TAGS, fr,
							 AF_HDR + AF_TAGS, n12, cand) == 0;
}

static void test_forward_secrecy_memory_after_batch(void **state)
{
	char dir[256], dump[300], stf[300], p[4096];
	pid_t pid;
	int status;
	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	/* ASan reserves terabytes of shadow memory and keeps freed blocks in quarantine, so a
	 * whole-memory scan is neither feasible nor meaningful there; the release build runs it. */
	skip();
#endif
	tmpdir(dir);
	snprintf(dump, sizeof dump, "%s.mem", dir);
	snprintf(stf, sizeof stf, "%s.state", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The "sidecar": three sealed batches of canary records, then one record in the open
		 * batch; then it dumps its own memory and the key it reports holding. */
		struct wcfg c = {.mode = AUDIT_FSYNC_NONE};
		struct audit_writer *w = wopen(dir, &c);
		char *json = sodium_malloc(256);
		uint8_t key[32];
		uint64_t segno;
		uint32_t batch;
		struct err e;
		int fd;
		for (int b = 0; b < 3; b++) {
			for (int i = 0; i < 2; i++) {
				uint64_t seq;
				int n = snprintf(json, 256, "{\"canary\":\"EARLY-SECRET-%d-%d-qZx\"}", b, i);
				if (audit_writer_append(w, json, (size_t)n, NULL, &seq, &e) != 0)
					_exit(20);
				sodium_memzero(json, 256);
			}
			if (audit_writer_flush(w, &e) != 0)
				_exit(21);
		}
		{
			uint64_t seq;
			int n = snprintf(json, 256, "{\"canary\":\"CURRENT-%d\"}", 9);
			if (audit_writer_append(w, json, (size_t)n, NULL, &seq, &e) != 0)
				_exit(22);
			sodium_memzero(json, 256);
		}
		audit_writer_debug_state(w, key, &segno, &batch);
		fd = open(stf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || write(fd, key, 32) != 32 || write(fd, &batch, 4) != 4)
			_exit(23);
		close(fd);
		sodium_memzero(key, 32);
		if (dump_own_memory(dump) != 0)
			_exit(24);
		/* The dump is the state "after batch 3, batch 4 open". Closing now writes the open
		 * batch, so the parent has a record the live key must open (positive control). */
		if (audit_writer_close(w, &e) != 0)
			_exit(25);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	{
		/* The reviewer's view: unseal K_0 and derive every batch key. */
		size_t ln, kn, mn, sn, off = 0;
		uint8_t *log, *keys, *mem, *st, env[AF_ENV_PLAIN], k[8][32], plain[512];
		struct audit_secret *rk = rkey(NULL);
		struct err e;
		uint32_t cur_batch;
		const uint8_t *early = NULL, *current = NULL;
		size_t windows = 0;
		seg_file(p, dir, 1, "log");
		log = slurp(p, &ln);
		seg_file(p, dir, 1, "keys");
		keys = slurp(p, &kn);
		mem = slurp(dump, &mn);
		st = slurp(stf, &sn);
		assert_int_equal(sn, 36);
		memcpy(&cur_batch, st + 32, 4);
		assert_int_equal(cur_batch, 4);   /* batch 0 = OPEN, 1..3 sealed, 4 open */
		assert_int_equal(af_keys_open(keys, kn, rk, keys + 8, 1, env, &e), 0);
		memcpy(k[0], env + 32, 32);
		for (int b = 1; b <= 4; b++) {
			memcpy(k[b], k[b - 1], 32);
			af_ratchet(k[b]);
		}
		/* positive control: what the writer says it holds is K_4 and is in its memory */
		assert_memory_equal(st, k[4], 32);
		assert_non_null(memmem(mem, mn, k[4], 32));
		/* no earlier batch key anywhere in the process */
		for (int b = 0; b < 4; b++)
			if (memmem(mem, mn, k[b], 32))
				fail_msg("batch key K_%d found in the writer's memory", b);
		/* no earlier plaintext either; the current batch's plaintext was wiped too */
		assert_null(memmem(mem, mn, "EARLY-SECRET", 12));
		/* every 8-aligned 32-byte window of memory, tried as a key on the first record */
		while (off < ln) {
			uint32_t len = af_get32(log + off + 8);
			if (log[off + 5] == AF_DATA) {
				if (!early)
					early = log + off;
				current = log + off;   /* the last data frame is in the open batch */
			}
			off += AF_HDR + len;
		}
		assert_non_null(early);
		assert_true(af_get32(early + 12) == 1);
		assert_true(af_get32(current + 12) == 4);
		/* the current key cannot open the earlier record, but opens the current one */
		assert_false(try_key(early, 1, st, plain));
		assert_true(try_key(current, 1, st, plain));
		/* ratcheting the current key forward never reaches back */
		{
			uint8_t kk[32];
			memcpy(kk, st, 32);
			for (int i = 0; i < 1000; i++) {
				af_ratchet(kk);
				assert_false(try_key(early, 1, kk, plain));
			}
		}
		{
			bool found_current = false;
			for (size_t i = 0; i + 32 <= mn; i += 8) {
				static const uint8_t zero[32];
				if (memcmp(mem + i, zero, 32) == 0)
					continue;
				windows++;
				if (try_key(early, 1, mem + i, plain))
					fail_msg("an earlier record decrypts with bytes at offset %zu of the writer's memory", i);
				if (!found_current && try_key(current, 1, mem + i, plain))
					found_current = true;
			}
			print_message("forward secrecy: %zu non-zero windows of %zu bytes tried\n", windows, mn);
			assert_true(found_current);   /* the scan can find a live key */
		}
		audit_secret_free(rk);
		free(log);
		free(keys);
		free(mem);
		free(st);
	}
	unlink(dump);
	unlink(stf);
	rm_rf(dir);
}

/* ------------------------------------------------------------------ export */
static int export_cb(const struct audit_record *rec, void *arg)
{
	struct buf *b = arg;
	struct err e;
	if (audit_export_auditevent(rec, "00112233445566778899aabbccddeeff", b, &e) != 0)
		fail_msg("%s", e.msg);
	return 0;
}

static void test_export_balp(void **state)
{
	static const char *recs[] = {
		"{\"event\":\"hook-call\",\"decision\":\"allow\",\"rid\":\"r1\",\"patient\":\"Patient/1\",\"user\":\"dr.a\",\"service\":\"sepsis\",\"status\":200}",
		"{\"event\":\"fhir-write\",\"interaction\":\"create\",\"decision\":\"allow\",\"rid\":\"r2\",\"patient\":\"Patient/1\",\"resource\":\"DocumentReference/9\"}",
		"{\"event\":\"fhir-search\",\"decision\":\"allow\",\"rid\":\"r3\",\"patient\":\"Patient/1\",\"query\":\"Observation?patient=1\"}",
		"{\"event\":\"fhir-read\",\"decision\":\"deny\",\"rid\":\"r4\",\"patient\":\"Patient/2\",\"rules\":[\"fhir.read\"],\"status\":403}",
		"{\"event\":\"hook-call\",\"decision\":\"deadline\",\"rid\":\"r5\",\"patient\":\"Patient/2\"}",
		/* the sidecar's own schema (docs/sidecar.md) */
		"{\"v\":1,\"event\":\"cds.call\",\"phase\":\"decision\",\"rid\":\"r6\",\"service\":\"sepsis-risk\",\"hook\":\"patient-view\",\"decision\":\"allow\",\"patient\":\"Patient/3\",\"user\":\"Practitioner/9\",\"status\":200,\"rules\":[]}",
		"{\"v\":1,\"event\":\"egress\",\"route\":\"fhir\",\"method\":\"POST\",\"rid\":\"r7\",\"decision\":\"allow\",\"patient\":\"Patient/3\",\"status\":201}",
		"{\"v\":1,\"event\":\"egress\",\"route\":\"fhir\",\"method\":\"GET\",\"rid\":\"r8\",\"decision\":\"upstream_error\",\"patient\":\"Patient/3\",\"status\":502}",
	};
	static const struct {
		const char *subtype, *action, *outcome, *profile;
	} want[] = {
		{"read", "R", "0", "IHE.BasicAudit.PatientRead"},
		{"create", "C", "0", "IHE.BasicAudit.PatientCreate"},
		{"search", "E", "0", "IHE.BasicAudit.PatientQuery"},
		{"read", "R", "4", NULL},
		{"read", "R", "8", NULL},
		{"read", "R", "0", "IHE.BasicAudit.PatientRead"},
		{"create", "C", "0", "IHE.BasicAudit.PatientCreate"},
		{"read", "R", "8", NULL},
	};
	char dir[256];
	struct wcfg c = {.mode = AUDIT_FSYNC_NONE};
	struct audit_writer *w;
	struct audit_secret *rk;
	struct buf out;
	struct err e;
	char *line, *save = NULL;
	int i = 0;
	(void)state;
	tmpdir(dir);
	w = wopen(dir, &c);
	for (size_t k = 0; k < sizeof recs / sizeof *recs; k++) {
		uint64_t seq;
		assert_int_equal(audit_writer_append(w, recs[k], strlen(recs[k]), NULL, &seq, &e), 0);
	}
	wclose(w);
	rk = rkey(NULL);
	buf_init(&out, 1 << 20);
	assert_int_equal(audit_read(dir, rk, NULL, NULL, export_cb, &out, &e), 0);
	for (line = strtok_r(out.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		cJSON *ev = cJSON_Parse(line), *x, *agents, *a;
		bool requestor = false, patient_entity = false;
		assert_non_null(ev);
		assert_string_equal(cJSON_GetObjectItem(ev, "resourceType")->valuestring, "AuditEvent");
		/* R4 required: type, recorded, agent[].requestor, source.observer */
		x = cJSON_GetObjectItem(ev, "type");
		assert_string_equal(cJSON_GetObjectItem(x, "system")->valuestring, "http://terminology.hl7.org/CodeSystem/audit-event-type");
		assert_string_equal(cJSON_GetObjectItem(x, "code")->valuestring, "rest");
		assert_non_null(cJSON_GetObjectItem(ev, "recorded"));
		assert_int_equal(strlen(cJSON_GetObjectItem(ev, "recorded")->valuestring), 24);
		agents = cJSON_GetObjectItem(ev, "agent");
		assert_true(cJSON_GetArraySize(agents) >= 2);
		cJSON_ArrayForEach(a, agents) {
			assert_true(cJSON_IsBool(cJSON_GetObjectItem(a, "requestor")));
			if (cJSON_IsTrue(cJSON_GetObjectItem(a, "requestor")))
				requestor = true;
		}
		assert_true(requestor);
		assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "source"), "observer"));
		/* BALP codes for the event kind */
		x = cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "subtype"), 0);
		assert_string_equal(cJSON_GetObjectItem(x, "system")->valuestring, "http://hl7.org/fhir/restful-interaction");
		assert_string_equal(cJSON_GetObjectItem(x, "code")->valuestring, want[i].subtype);
		assert_string_equal(cJSON_GetObjectItem(ev, "action")->valuestring, want[i].action);
		assert_string_equal(cJSON_GetObjectItem(ev, "outcome")->valuestring, want[i].outcome);
		x = cJSON_GetObjectItem(ev, "meta");
		if (want[i].profile) {
			assert_non_null(strstr(cJSON_GetArrayItem(cJSON_GetObjectItem(x, "profile"), 0)->valuestring, want[i].profile));
		} else {
			assert_null(x);   /* BALP profiles fix outcome 0: failures claim none */
			assert_non_null(cJSON_GetObjectItem(ev, "outcomeDesc"));
		}
		cJSON_ArrayForEach(a, cJSON_GetObjectItem(ev, "entity")) {
			cJSON *role = cJSON_GetObjectItem(a, "role");
			if (role && !strcmp(cJSON_GetObjectItem(role, "code")->valuestring, "1")) {
				patient_entity = true;
				assert_non_null(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "what"), "reference")->valuestring, "Patient/"));
			}
		}
		assert_true(patient_entity);
		/* read: client is 110152 Destination; create: client is 110153 Source */
		a = cJSON_GetArrayItem(agents, 0);
		x = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "type"), "coding"), 0);
		assert_string_equal(cJSON_GetObjectItem(x, "code")->valuestring, i == 1 || i == 6 ? "110153" : "110152");
		cJSON_Delete(ev);
	}
	assert_int_equal(i, 8);
	/* an egress call to a non-FHIR route (an LLM) is a disclosure: DICOM Export, no BALP claim */
	{
		struct audit_record rec = {.seq = 1, .time_ns = 1800000000000000000LL};
		const char *j = "{\"v\":1,\"event\":\"egress\",\"route\":\"llm\",\"method\":\"POST\",\"decision\":\"redact\",\"patient\":\"Patient/3\"}";
		cJSON *ev;
		rec.json = j;
		rec.json_len = strlen(j);
		buf_reset(&out);
		assert_int_equal(audit_export_auditevent(&rec, "00", &out, &e), 0);
		ev = cJSON_Parse(out.p);
		assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "type"), "code")->valuestring, "110106");
		assert_null(cJSON_GetObjectItem(ev, "meta"));
		assert_string_equal(cJSON_GetObjectItem(ev, "outcome")->valuestring, "0");
		cJSON_Delete(ev);
	}
	buf_fini(&out);
	audit_secret_free(rk);
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merkle_rfc9162_vectors),
		cmocka_unit_test(test_key_schedule_known_answers),
		cmocka_unit_test(test_json_validator),
		cmocka_unit_test(test_kat_whole_log),
		cmocka_unit_test(test_bitflip_every_bit),
		cmocka_unit_test(test_truncate_every_offset_of_final_batch),
		cmocka_unit_test(test_reorder_two_records),
		cmocka_unit_test(test_delete_middle_segment),
		cmocka_unit_test(test_splice_foreign_segment),
		cmocka_unit_test(test_replaced_signer_key),
		cmocka_unit_test(test_heartbeat_gap_detected),
		cmocka_unit_test(test_wrong_key_and_missing_dir),
		cmocka_unit_test(test_concurrent_group_commit),
		cmocka_unit_test(test_write_failure_is_reported),
		cmocka_unit_test(test_second_writer_refused),
		cmocka_unit_test(test_incomplete_segment_set_aside),
		cmocka_unit_test(test_rotation_and_filters),
		cmocka_unit_test(test_multiple_recipients_and_rewrap),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_forward_secrecy_memory_after_batch),
		cmocka_unit_test(test_export_balp),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
