/* conform_util — file, randomness and path helpers. Owns nothing beyond each call. */
#include "conformance/conform_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "lib/file.h"
#include "lib/json.h"

cJSON *conform_read_json(const char *path, size_t max, struct err *e)
{
	struct json_limits lim = {.max_bytes = max, .max_depth = 64};
	struct buf b;
	cJSON *j = NULL;

	buf_init(&b, max);
	if (file_read_all(path, max, &b, e) == 0) {
		j = json_parse(b.p ? b.p : "", b.len, &lim, e);
		if (j == NULL)
			err_prefix(e, "%s", path);
	}
	buf_fini(&b);
	return j;
}

int conform_write_file(const char *path, const void *data, size_t len, struct err *e)
{
	char tmp[PATH_MAX];
	const char *p = data;
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return err_set(e, -ENAMETOOLONG, "path too long");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_set(e, -errno, "%s: %s", tmp, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_set(e, -errno, "%s: %s", tmp, strerror(errno));
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0 && rc == 0)
		rc = err_set(e, -errno, "%s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) < 0)
		rc = err_set(e, -errno, "%s: %s", path, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	return rc;
}

void conform_random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[64];

	if (nbytes > sizeof(r))
		nbytes = sizeof(r);
	if (RAND_bytes(r, (int)nbytes) != 1)
		abort(); /* no randomness: refuse to mint guessable ids */
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

void conform_uuid4(char out[37])
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1)
		abort();
	r[6] = (unsigned char)((r[6] & 0x0F) | 0x40); /* RFC 4122 §4.4: version 4 */
	r[8] = (unsigned char)((r[8] & 0x3F) | 0x80); /* variant 10 */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
		 r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

static int has_index(const char *dir)
{
	char p[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(p, sizeof(p), "%s/patients/index.json", dir) >= sizeof(p))
		return 0;
	return stat(p, &st) == 0;
}

int conform_fixtures_dir(char *out, size_t cap)
{
	static const char *const rel[] = {"/../fixtures", "/../../../fixtures", "/../share/ehrgate/fixtures"};
	const char *env = getenv("EHRGATE_FIXTURES");
	char exe[PATH_MAX], cand[PATH_MAX], real[PATH_MAX];
	ssize_t n;

	if (env && *env && has_index(env)) {
		snprintf(out, cap, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			if ((size_t)snprintf(cand, sizeof(cand), "%s%s", exe, rel[i]) >= sizeof(cand))
				continue;
			if (has_index(cand) && realpath(cand, real)) {
				snprintf(out, cap, "%s", real);
				return 0;
			}
		}
	}
	if (has_index("fixtures") && realpath("fixtures", real)) {
		snprintf(out, cap, "%s", real);
		return 0;
	}
	return -ENOENT;
}
