/* ehrgate-bench-tokens — pre-sign CDS Hooks JWTs for the sidecar benchmark (ci/bench-sidecar).
 *
 * The sidecar refuses a replayed `jti` (research/cds-hooks.md check 36) and requires `aud` to be
 * exactly the URL called (check 33), so a load generator needs one fresh, correctly addressed
 * token per request. Signing costs ~0.3 ms (RS384) to ~0.8 ms (ES384) on this class of CPU,
 * which would otherwise be measured as part of the load, so this tool signs them all ahead of
 * time (on several threads) and writes one compact JWS per line. Owns nothing after exit.
 *
 * Benchmark support only: the keys it takes are the demo EHR's fixture keys.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/jose.h"
#include "lib/mem.h"
#include "lib/usage.h"

static const char prog[] = "ehrgate-bench-tokens";

static const char usage[] =
    "usage: ehrgate-bench-tokens --alg ES384|RS384 --key PEM --kid KID --iss URL --aud URL\n"
    "                            --count N --out FILE [--lifetime S] [--threads N]\n"
    "  Sign N CDS Hooks JWTs (fresh jti each, iat=now, exp=now+S, default 600) and write one\n"
    "  compact JWS per line to FILE. Prints the signing rate to stdout.\n";

struct job {
	EVP_PKEY *key;
	const char *kid, *iss, *aud;
	long lifetime_s;
	size_t first, n; /* this thread's slice of the output */
	char **out;	 /* shared array, one slot per token */
	enum jose_alg alg;
	int rc;
};

static void *sign_slice(void *arg)
{
	struct job *j = arg;
	int64_t now = clock_wall_s();

	for (size_t i = 0; i < j->n; i++) {
		cJSON *c = cJSON_CreateObject();
		unsigned char rnd[16];
		char jti[33];
		struct buf b;
		struct err e;

		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(jti, sizeof(jti), rnd, sizeof(rnd));
		cJSON_AddStringToObject(c, "iss", j->iss);
		cJSON_AddStringToObject(c, "aud", j->aud);
		cJSON_AddNumberToObject(c, "iat", (double)now);
		cJSON_AddNumberToObject(c, "exp", (double)(now + j->lifetime_s));
		cJSON_AddStringToObject(c, "jti", jti);
		buf_init(&b, JOSE_MAX_TOKEN);
		if (jose_sign(j->alg, j->key, j->kid, NULL, c, &b, &e) < 0) {
			fprintf(stderr, "%s: sign: %s\n", prog, e.msg);
			buf_fini(&b);
			cJSON_Delete(c);
			j->rc = -1;
			return NULL;
		}
		j->out[j->first + i] = buf_detach(&b, NULL);
		cJSON_Delete(c);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *alg_s = NULL, *key_path = NULL, *kid = NULL, *iss = NULL, *aud = NULL, *out_path = NULL;
	long count = 0, lifetime = 600, threads = 2;
	struct job jobs[64];
	pthread_t th[64];
	enum jose_alg alg;
	EVP_PKEY *key = NULL;
	struct err e;
	char **toks = NULL;
	FILE *f = NULL;
	int64_t t0;
	double secs;
	int rc = 1;

	usage_common(argc, argv, prog, usage);
	for (int i = 1; i < argc; i++) {
		const char **s = NULL;
		long *n = NULL;

		if (strcmp(argv[i], "--alg") == 0)
			s = &alg_s;
		else if (strcmp(argv[i], "--key") == 0)
			s = &key_path;
		else if (strcmp(argv[i], "--kid") == 0)
			s = &kid;
		else if (strcmp(argv[i], "--iss") == 0)
			s = &iss;
		else if (strcmp(argv[i], "--aud") == 0)
			s = &aud;
		else if (strcmp(argv[i], "--out") == 0)
			s = &out_path;
		else if (strcmp(argv[i], "--count") == 0)
			n = &count;
		else if (strcmp(argv[i], "--lifetime") == 0)
			n = &lifetime;
		else if (strcmp(argv[i], "--threads") == 0)
			n = &threads;
		else
			usage_fail(prog, "unknown argument '%s'", argv[i]);
		if (i + 1 >= argc)
			usage_fail(prog, "%s needs a value", argv[i]);
		if (s)
			*s = argv[++i];
		else {
			char *end;

			*n = strtol(argv[++i], &end, 10);
			if (*end || *n < 1)
				usage_fail(prog, "%s: expected a positive number", argv[i - 1]);
		}
	}
	if (!alg_s || !key_path || !kid || !iss || !aud || !out_path || count < 1)
		usage_fail(prog, "--alg, --key, --kid, --iss, --aud, --count and --out are required");
	if (threads > 64)
		threads = 64;
	alg = jose_alg_parse(alg_s);
	if (alg == JOSE_ALG_NONE)
		usage_fail(prog, "--alg: ES384 or RS384");
	if (sodium_init() < 0)
		goto out;
	key = jose_load_private_pem(key_path, &e);
	if (key == NULL) {
		fprintf(stderr, "%s: %s\n", prog, e.msg);
		goto out;
	}
	toks = xcalloc((size_t)count, sizeof(*toks));
	t0 = clock_mono_ns();
	for (long t = 0; t < threads; t++) {
		size_t per = (size_t)count / (size_t)threads, first = per * (size_t)t;

		jobs[t] = (struct job){.key = key,
				       .kid = kid,
				       .iss = iss,
				       .aud = aud,
				       .lifetime_s = lifetime,
				       .first = first,
				       .n = t == threads - 1 ? (size_t)count - first : per,
				       .out = toks,
				       .alg = alg};
		if (pthread_create(&th[t], NULL, sign_slice, &jobs[t]) != 0) {
			fprintf(stderr, "%s: pthread_create failed\n", prog);
			exit(1); /* the threads already started hold pointers into this frame */
		}
	}
	for (long t = 0; t < threads; t++) {
		pthread_join(th[t], NULL);
		if (jobs[t].rc)
			goto out;
	}
	secs = (double)(clock_mono_ns() - t0) / 1e9;
	f = fopen(out_path, "w");
	if (f == NULL) {
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, out_path, strerror(errno));
		goto out;
	}
	for (long i = 0; i < count; i++)
		fprintf(f, "%s\n", toks[i]);
	if (fclose(f) != 0) {
		f = NULL;
		fprintf(stderr, "%s: write %s failed\n", prog, out_path);
		goto out;
	}
	f = NULL;
	printf("%ld %s tokens in %.2f s on %ld threads (%.0f signatures/s)\n", count, jose_alg_name(alg),
	       secs, threads, (double)count / secs);
	rc = 0;
out:
	if (f)
		fclose(f);
	for (long i = 0; toks && i < count; i++)
		free(toks[i]);
	free(toks);
	EVP_PKEY_free(key);
	return rc;
}
