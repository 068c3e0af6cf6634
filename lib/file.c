/* file — whole-file reads into caller-owned bounded buffers. Owns nothing. */
#include "lib/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int file_read_all(const char *path, size_t max, struct buf *out, struct err *e)
{
	const char *name = (path && strcmp(path, "-") != 0) ? path : "(stdin)";
	int fd = name == path ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	size_t start = out->len;
	char chunk[65536];
	ssize_t n;
	int rc = 0;

	if (fd < 0)
		return err_set(e, -errno, "%s: %s", name, strerror(errno));
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out->len - start + (size_t)n > max || buf_append(out, chunk, (size_t)n) < 0) {
			rc = err_set(e, -E2BIG, "%s: larger than %zu bytes", name, max < out->max ? max : out->max);
			break;
		}
	}
	if (n < 0 && rc == 0)
		rc = err_set(e, -errno, "%s: %s", name, strerror(errno));
	if (fd > 0)
		close(fd);
	return rc;
}
