/* itest — support code for the integration tests (see itest.h). */
#include "tests/itest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "lib/clock.h"
#include "lib/mem.h"

const char *itest_src(const char *rel)
{
	static __thread char path[4][PATH_MAX];
	static __thread int slot;
	const char *top = getenv("EHRGATE_TOP");
	char *p = path[slot++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", top ? top : ".", rel);
	return p;
}

const char *itest_bin(const char *name)
{
	static __thread char path[4][PATH_MAX];
	static __thread int slot;
	const char *bin = getenv("EHRGATE_BIN");
	char *p = path[slot++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", bin ? bin : "bin", name);
	return p;
}

char *itest_tmpdir(const char *tag)
{
	char tmpl[128];

	snprintf(tmpl, sizeof(tmpl), "/tmp/ehrgate-%s-XXXXXX", tag);
	if (mkdtemp(tmpl) == NULL)
		abort();
	return xstrdup(tmpl);
}

void itest_rmtree(const char *dir)
{
	char *argv[] = {"rm", "-rf", (char *)dir, NULL};

	if (dir && strncmp(dir, "/tmp/ehrgate-", 13) == 0)
		itest_run(argv, NULL);
}

uint16_t itest_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

int itest_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -EIO;
}

char *itest_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b, 64u << 20);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, n) < 0)
			break;
	fclose(f);
	return buf_detach(&b, len);
}

static pid_t spawned[64];
static size_t n_spawned;

void itest_kill_all(void)
{
	for (size_t i = 0; i < n_spawned; i++) {
		if (spawned[i] > 0 && kill(spawned[i], 0) == 0) {
			kill(spawned[i], SIGKILL);
			waitpid(spawned[i], NULL, 0);
		}
	}
	n_spawned = 0;
}

pid_t itest_spawn(char *const argv[], const char *log_path, long fsize_limit)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (fsize_limit > 0) {
			struct rlimit rl = {(rlim_t)fsize_limit, (rlim_t)fsize_limit};

			setrlimit(RLIMIT_FSIZE, &rl);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid > 0 && n_spawned < sizeof(spawned) / sizeof(spawned[0]))
		spawned[n_spawned++] = pid;
	return pid;
}

bool itest_wait_file(const char *path, pid_t pid, int ms)
{
	int64_t end = clock_mono_ms() + ms;
	int st;

	while (clock_mono_ms() < end) {
		if (access(path, R_OK) == 0)
			return true;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return false;
		usleep(10000);
	}
	return false;
}

int itest_stop(pid_t pid, int sig, int ms)
{
	int64_t end = clock_mono_ms() + ms;
	int st;

	if (pid <= 0)
		return -1;
	kill(pid, sig);
	while (clock_mono_ms() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

int itest_run(char *const argv[], struct buf *out)
{
	int fds[2], st;
	pid_t pid;
	char chunk[4096];
	ssize_t n;

	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], chunk, sizeof(chunk))) > 0)
		if (out && buf_append(out, chunk, (size_t)n) < 0)
			break;
	close(fds[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct itest_resp *r = arg;
	size_t len = size * n;

	if (len > 18 && strncasecmp(p, "WWW-Authenticate:", 17) == 0)
		snprintf(r->www_authenticate, sizeof(r->www_authenticate), "%.*s", (int)(len - 18), p + 18);
	return len;
}

const char *itest_ca_file;

int itest_http(const char *method, const char *url, const char *const *headers, const char *body,
	       struct itest_resp *r)
{
	return itest_http_n(method, url, headers, body, body ? strlen(body) : 0, r);
}

int itest_http_n(const char *method, const char *url, const char *const *headers, const char *body, size_t body_len,
		 struct itest_resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 16u << 20);
	for (size_t i = 0; headers && headers[i]; i++)
		h = curl_slist_append(h, headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	/* send the path as written: tests of dot segments must reach the server unresolved */
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	if (itest_ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, itest_ca_file);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->seconds);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (r->body.p == NULL && buf_append(&r->body, "", 0) < 0)
		return -1;
	return rc == CURLE_OK ? 0 : -1;
}

void itest_resp_fini(struct itest_resp *r)
{
	buf_fini(&r->body);
}

char *itest_bearer(enum jose_alg alg, EVP_PKEY *key, const char *kid, const cJSON *claims)
{
	struct buf b;
	struct err e;

	buf_init(&b, JOSE_MAX_TOKEN + 16);
	if (buf_append_str(&b, "Authorization: Bearer ") < 0 || jose_sign(alg, key, kid, NULL, claims, &b, &e) < 0)
		abort();
	return buf_detach(&b, NULL);
}

cJSON *itest_claims(const char *iss, const char *aud)
{
	cJSON *c = cJSON_CreateObject();
	unsigned char rnd[16];
	char jti[33];
	int64_t now = clock_wall_s();

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(jti, sizeof(jti), rnd, sizeof(rnd));
	cJSON_AddStringToObject(c, "iss", iss);
	cJSON_AddStringToObject(c, "aud", aud);
	cJSON_AddNumberToObject(c, "iat", (double)now);
	cJSON_AddNumberToObject(c, "exp", (double)(now + 300));
	cJSON_AddStringToObject(c, "jti", jti);
	return c;
}

bool itest_file_contains(const char *path, const char *needle)
{
	size_t len = 0;
	char *s = itest_read_file(path, &len);
	bool found = s && memmem(s, len, needle, strlen(needle)) != NULL;

	free(s);
	return found;
}

static const char *const canaries[] = {
	"Zqorvath", "Zqellington", "Zqarnaud", "Zqolokov", "Zqpark", "Zqbrien", "Zqvanderhoek",
	"Zqmaldonado", "Zqraghunathan", "Zqwisniewska", "Zqmensah",
};

bool itest_has_canary(const char *s)
{
	for (size_t i = 0; s && i < sizeof(canaries) / sizeof(canaries[0]); i++)
		if (strstr(s, canaries[i]))
			return true;
	return false;
}

bool itest_file_has_canary(const char *path)
{
	for (size_t i = 0; i < sizeof(canaries) / sizeof(canaries[0]); i++)
		if (itest_file_contains(path, canaries[i]))
			return true;
	return false;
}

int itest_audit_verify_show(const char *audit_dir, const char *keys_dir, struct buf *out)
{
	char reviewer[600];
	char *verify[] = {(char *)itest_bin("ehrgate-audit"), "verify", (char *)audit_dir, NULL};
	char *show[] = {(char *)itest_bin("ehrgate-audit"), "show", (char *)audit_dir, "--key", reviewer, NULL};

	snprintf(reviewer, sizeof(reviewer), "%s/reviewer.key", keys_dir);
	if (itest_run(verify, out) != 0)
		return -1;
	buf_reset(out);
	return itest_run(show, out) == 0 ? 0 : -2;
}
