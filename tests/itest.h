/* itest — helpers for integration tests that run the real binaries on loopback: temporary
 * directories, free ports, child processes stopped by PID, a ready file, HTTP over libcurl,
 * signed CDS Hooks JWTs, and grepping logs for PHI canaries. */
#ifndef EHRGATE_ITEST_H
#define EHRGATE_ITEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "lib/buf.h"
#include "lib/jose.h"

/* Absolute path of a file under the source tree ($EHRGATE_TOP, else the cwd). */
const char *itest_src(const char *rel);
/* Absolute path of a program ($EHRGATE_BIN/name, else bin/name). */
const char *itest_bin(const char *name);
/* A new empty directory under /tmp; removed by itest_rmtree. */
char *itest_tmpdir(const char *tag);
void itest_rmtree(const char *dir);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
uint16_t itest_free_port(void);
int itest_write_file(const char *path, const char *text);
char *itest_read_file(const char *path, size_t *len);

/* Start argv[0] with stdout+stderr appended to log_path; extra_fsize_limit > 0 sets
 * RLIMIT_FSIZE for the child (disk-full simulation). Returns the pid. */
pid_t itest_spawn(char *const argv[], const char *log_path, long fsize_limit);
/* Wait up to ms for path to exist; false on timeout or if the child died. */
bool itest_wait_file(const char *path, pid_t pid, int ms);
/* SIGKILL every child itest_spawn started that is still running (for teardown: a failed
 * assertion returns from a test before it stops its processes). */
void itest_kill_all(void);
/* Send sig and wait up to ms for exit; returns the exit status (or -1, after SIGKILL). */
int itest_stop(pid_t pid, int sig, int ms);
/* Run a command to completion; output into out (may be NULL). Returns the exit code. */
int itest_run(char *const argv[], struct buf *out);
/* `ehrgate-audit verify DIR` (blind, no key), then `ehrgate-audit show DIR --key
 * KEYS/reviewer.key` with its output into out. 0, or -1 when verify failed, -2 when show did. */
int itest_audit_verify_show(const char *audit_dir, const char *keys_dir, struct buf *out);

struct itest_resp {
	long status;
	struct buf body;
	double seconds;
	char www_authenticate[256];
};
/* PEM bundle curl trusts for https:// URLs in itest_http (NULL = system store). */
extern const char *itest_ca_file;
/* HTTP request; body may be NULL. headers: NULL-terminated "Name: value" list. */
int itest_http(const char *method, const char *url, const char *const *headers, const char *body,
	       struct itest_resp *r);
/* The same with a body of body_len bytes (may hold NUL bytes). */
int itest_http_n(const char *method, const char *url, const char *const *headers, const char *body, size_t body_len,
		 struct itest_resp *r);
void itest_resp_fini(struct itest_resp *r);

/* "Bearer <JWT>" for claims (caller owns claims; not freed). */
char *itest_bearer(enum jose_alg alg, EVP_PKEY *key, const char *kid, const cJSON *claims);
/* Standard CDS Hooks claims: iss, aud, iat=now, exp=now+300, a fresh jti. Caller owns. */
cJSON *itest_claims(const char *iss, const char *aud);

/* true when any synthetic patient's family name (fixtures/patients: the "Zq..." canaries)
 * occurs in the file. Full names, not the bare "Zq" prefix: random temp-dir names could hold that. */
bool itest_file_has_canary(const char *path);
/* the same for a string */
bool itest_has_canary(const char *s);
/* true when needle occurs in the file */
bool itest_file_contains(const char *path, const char *needle);

#endif
