/* ehrgate-audit — the reviewer CLI for the audit log (DESIGN.md §3.2, §4; docs/audit-format.md).
 *
 * keygen | append | verify | show | export | stats | rewrap. Exit codes: 0 success (verify:
 * valid), 1 verify found the log invalid, 2 usage error or could not do the job (missing
 * directory, wrong key, corrupt file) with one line on stderr. Record contents go to stdout
 * only (show/export); stderr never carries record data.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "audit/audit.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/json.h"
#include "lib/mem.h"
#include "lib/usage.h"

static const char prog[] = "ehrgate-audit";

static const char usage[] =
	"usage: ehrgate-audit COMMAND ...\n"
	"  keygen --out DIR [--force]\n"
	"      write reviewer.pub/.key (X25519), signer.pub/.key (Ed25519), index.key; secrets 0600\n"
	"  append DIR --signer KEY --recipient PUB [--recipient PUB ...] [--index-key K]\n"
	"         [--fsync always|batch|none] [--batch-delay-ms N] [--heartbeat S] [--segment-max-bytes N]\n"
	"      append JSON objects read from stdin (one per line); print each seq once durable\n"
	"      (one line per seq: a line cut short by a crash acknowledges nothing)\n"
	"  verify DIR [--signer-pub PUB] [--full --key REVIEWER_KEY [--index-key K]] [--live]\n"
	"      blind verification (no key): framing, chain, Merkle roots, signatures, continuity,\n"
	"      heartbeats, close/recovery, key and index files; --full also decrypts everything.\n"
	"      exit 0 valid, 1 invalid, 2 could not verify\n"
	"  show DIR --key REVIEWER_KEY [--index-key K] [--since T] [--until T] [--patient REF]\n"
	"       [--user U] [--decision D] [--scan]\n"
	"      decrypted records as JSON lines (T: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.fff]Z);\n"
	"      filters use the blind index when an index key is at hand; `query` is the same command\n"
	"  export DIR --key REVIEWER_KEY --format auditevent [filters as for show]\n"
	"      FHIR R4 AuditEvent NDJSON (IHE BALP)\n"
	"  stats DIR [--key REVIEWER_KEY | --index-key K]\n"
	"  rewrap DIR --key REVIEWER_KEY --recipient PUB [--recipient PUB ...]\n"
	"      re-seal every segment key to new reviewers (records are not rewritten)\n";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ------------------------------------------------------------------ option parsing */
struct opts {
	const char *dir, *out, *signer, *index_key, *key, *signer_pub, *fsync, *format;
	const char *since, *until, *patient, *user, *decision;
	const char *recipients[AUDIT_MAX_RECIPIENTS];
	size_t nrecip;
	bool force, full, live, scan;
	unsigned long delay_ms, heartbeat_s;
	unsigned long long seg_max;
};

static unsigned long long num_arg(const char *opt, const char *v)
{
	char *end;
	unsigned long long n;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || !*v || v[0] == '-')
		usage_fail(prog, "%s needs a non-negative integer", opt);
	return n;
}

static void parse(int argc, char **argv, int first, struct opts *o, bool want_dir)
{
	memset(o, 0, sizeof *o);
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VAL(field)                                                          \
	do {                                                                \
		if (!v)                                                     \
			usage_fail(prog, "%s needs a value", a);            \
		o->field = v;                                               \
		i++;                                                        \
	} while (0)
		if (!strcmp(a, "--out")) VAL(out);
		else if (!strcmp(a, "--signer")) VAL(signer);
		else if (!strcmp(a, "--index-key")) VAL(index_key);
		else if (!strcmp(a, "--key")) VAL(key);
		else if (!strcmp(a, "--signer-pub")) VAL(signer_pub);
		else if (!strcmp(a, "--fsync")) VAL(fsync);
		else if (!strcmp(a, "--format")) VAL(format);
		else if (!strcmp(a, "--since")) VAL(since);
		else if (!strcmp(a, "--until")) VAL(until);
		else if (!strcmp(a, "--patient")) VAL(patient);
		else if (!strcmp(a, "--user")) VAL(user);
		else if (!strcmp(a, "--decision")) VAL(decision);
		else if (!strcmp(a, "--recipient")) {
			if (!v)
				usage_fail(prog, "--recipient needs a value");
			if (o->nrecip == AUDIT_MAX_RECIPIENTS)
				usage_fail(prog, "at most %d recipients", AUDIT_MAX_RECIPIENTS);
			o->recipients[o->nrecip++] = v;
			i++;
		} else if (!strcmp(a, "--batch-delay-ms")) {
			if (!v)
				usage_fail(prog, "%s needs a value", a);
			o->delay_ms = (unsigned long)num_arg(a, v);
			i++;
		} else if (!strcmp(a, "--heartbeat")) {
			if (!v)
				usage_fail(prog, "%s needs a value", a);
			o->heartbeat_s = (unsigned long)num_arg(a, v);
			i++;
		} else if (!strcmp(a, "--segment-max-bytes")) {
			if (!v)
				usage_fail(prog, "%s needs a value", a);
			o->seg_max = num_arg(a, v);
			i++;
		} else if (!strcmp(a, "--force")) o->force = true;
		else if (!strcmp(a, "--full")) o->full = true;
		else if (!strcmp(a, "--live")) o->live = true;
		else if (!strcmp(a, "--scan")) o->scan = true;
		else if (a[0] == '-' && a[1]) usage_fail(prog, "unknown option %s", a);
		else if (want_dir && !o->dir) o->dir = a;
		else usage_fail(prog, "unexpected argument %s", a);
#undef VAL
	}
	if (want_dir && !o->dir)
		usage_fail(prog, "%s needs a log directory", argv[first - 1]);
}

/* YYYY-MM-DD[THH:MM:SS[.fraction]Z] -> ns since the epoch. end_of_day: a bare date means its last ns. */
static int64_t parse_time(const char *opt, const char *s, bool end_of_day)
{
	int64_t days, ns;
	char date[11];
	int hh = 0, mm = 0, ss = 0, n = 0;
	const char *p;

	if (strlen(s) < 10)
		usage_fail(prog, "%s: expected YYYY-MM-DD or an RFC 3339 UTC time", opt);
	memcpy(date, s, 10);
	date[10] = 0;
	if (clock_parse_date(date, &days) != 0)
		usage_fail(prog, "%s: invalid date", opt);
	ns = days * 86400 * 1000000000LL;
	if (s[10] == 0)
		return end_of_day ? ns + 86400LL * 1000000000LL - 1 : ns;
	if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || sscanf(s + 11, "%2d:%2d:%2d%n", &hh, &mm, &ss, &n) != 3 ||
	    hh > 23 || mm > 59 || ss > 60)
		usage_fail(prog, "%s: expected YYYY-MM-DDTHH:MM:SS[.fff]Z", opt);
	ns += ((int64_t)hh * 3600 + mm * 60 + ss) * 1000000000LL;
	p = s + 11 + n;
	if (*p == '.') {
		int64_t scale = 100000000;
		p++;
		while (*p >= '0' && *p <= '9') {
			ns += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "z") != 0)
		usage_fail(prog, "%s: only UTC times (ending in Z) are accepted", opt);
	return ns;
}

static void fmt_time(char out[40], int64_t ns)
{
	char ts[25];
	clock_fmt_rfc3339(ts, ns / 1000000);
	snprintf(out, 40, "%s", ts);
}

/* ------------------------------------------------------------------ keygen */
static int cmd_keygen(int argc, char **argv)
{
	struct opts o;
	struct err e;
	parse(argc, argv, 2, &o, false);
	if (!o.out)
		usage_fail(prog, "keygen needs --out DIR");
	err_clear(&e);
	if (audit_keygen(o.out, o.force, &e) != 0)
		die("%s", e.msg);
	printf("wrote %s/{reviewer.pub,reviewer.key,signer.pub,signer.key,index.key}\n", o.out);
	return 0;
}

/* ------------------------------------------------------------------ append */
static int append_line(struct audit_writer *w, const char *line, size_t len, unsigned long lineno, uint64_t *seq,
		       struct err *e)
{
	struct json_limits lim = {.max_bytes = AUDIT_RECORD_MAX, .max_depth = 64};
	struct audit_tags tags;
	cJSON *j = json_parse(line, len, &lim, e);
	int rc;

	if (!j)
		return err_prefix(e, "stdin line %lu", lineno);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return err_set(e, -EINVAL, "stdin line %lu: not a JSON object", lineno);
	}
	tags.patient = json_str(j, "patient");
	tags.user = json_str(j, "user");
	tags.decision = json_str(j, "decision");
	rc = audit_writer_submit(w, line, len, &tags, seq, e);
	cJSON_Delete(j);
	if (rc)
		err_prefix(e, "stdin line %lu", lineno);
	return rc;
}

static int cmd_append(int argc, char **argv)
{
	struct opts o;
	struct audit_writer_opts wo;
	struct audit_writer *w = NULL;
	struct err e;
	struct buf in;
	uint64_t *pending = NULL;
	size_t npend = 0, cap = 0;
	unsigned long lineno = 0;
	int rc = 0;
	bool eof = false;

	parse(argc, argv, 2, &o, true);
	if (!o.signer || o.nrecip == 0)
		usage_fail(prog, "append needs --signer KEY and --recipient PUB");
	memset(&wo, 0, sizeof wo);
	wo.dir = o.dir;
	wo.reviewer_pub_paths = o.recipients;
	wo.n_reviewer_pub = o.nrecip;
	wo.signer_key_path = o.signer;
	wo.index_key_path = o.index_key;
	wo.fsync = AUDIT_FSYNC_ALWAYS;
	if (o.fsync) {
		if (!strcmp(o.fsync, "always")) wo.fsync = AUDIT_FSYNC_ALWAYS;
		else if (!strcmp(o.fsync, "batch")) wo.fsync = AUDIT_FSYNC_BATCH;
		else if (!strcmp(o.fsync, "none")) wo.fsync = AUDIT_FSYNC_NONE;
		else usage_fail(prog, "--fsync must be always, batch or none");
	}
	wo.batch_max_delay_ms = (unsigned)o.delay_ms;
	wo.heartbeat_s = (unsigned)o.heartbeat_s;
	wo.segment_max_bytes = o.seg_max;
	err_clear(&e);
	if (audit_writer_open(&wo, &w, &e) != 0)
		die("%s", e.msg);

	buf_init(&in, (size_t)AUDIT_RECORD_MAX + 65536);
	while (!eof && rc == 0) {
		char chunk[65536];
		ssize_t r = read(0, chunk, sizeof chunk);
		size_t start = 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_set(&e, -errno, "stdin: %s", strerror(errno));
			break;
		}
		if (r == 0) {
			eof = true;
			if (in.len && buf_append(&in, "\n", 1) != 0) {
				rc = err_set(&e, -E2BIG, "stdin line %lu: longer than %u bytes", lineno + 1, AUDIT_RECORD_MAX);
				break;
			}
		} else if (buf_append(&in, chunk, (size_t)r) != 0) {
			rc = err_set(&e, -E2BIG, "stdin line %lu: longer than %u bytes", lineno + 1, AUDIT_RECORD_MAX);
			break;
		}
		/* Every complete line available now is submitted; then one sync covers them all. */
		while (in.len > start) {
			char *nl = memchr(in.p + start, '\n', in.len - start);
			size_t len;
			uint64_t seq = 0;
			if (!nl)
				break;
			len = (size_t)(nl - (in.p + start));
			lineno++;
			if (len && in.p[start + len - 1] == '\r')
				len--;
			if (len) {
				if ((rc = append_line(w, in.p + start, len, lineno, &seq, &e)) != 0)
					break;
				if (npend == cap) {
					cap = cap ? cap * 2 : 256;
					pending = xrealloc(pending, cap * sizeof *pending);
				}
				pending[npend++] = seq;
			}
			start = (size_t)(nl - in.p) + 1;
		}
		if (start) {
			memmove(in.p, in.p + start, in.len - start);
			in.len -= start;
		}
		if (npend) {
			int src = audit_writer_sync(w, pending[npend - 1], &e);
			if (src) {
				rc = src;
				break;
			}
			for (size_t i = 0; i < npend; i++)
				printf("%llu\n", (unsigned long long)pending[i]);
			fflush(stdout);
			npend = 0;
		}
	}
	buf_fini(&in);
	free(pending);
	{
		struct err ce;
		err_clear(&ce);
		if (audit_writer_close(w, &ce) != 0 && rc == 0) {
			rc = ce.code;
			e = ce;
		}
	}
	if (rc)
		die("%s", e.msg);
	return 0;
}

/* ------------------------------------------------------------------ verify */
static const char *recovery_reason(unsigned r)
{
	switch (r) {
	case 1: return "torn frame";
	case 2: return "unsigned records after the last checkpoint";
	case 3: return "not closed";
	case 4: return "broken chain after the last checkpoint";
	case 5: return "segment creation incomplete";
	default: return "unknown";
	}
}

static struct audit_secret *load_rk(const char *path)
{
	struct audit_secret *s = NULL;
	struct err e;
	err_clear(&e);
	if (audit_load_reviewer_key(path, &s, &e) != 0)
		die("%s", e.msg);
	return s;
}

static struct audit_secret *load_ik(const char *path)
{
	struct audit_secret *s = NULL;
	struct err e;
	if (!path)
		return NULL;
	err_clear(&e);
	if (audit_load_index_key(path, &s, &e) != 0)
		die("%s", e.msg);
	return s;
}

static int cmd_verify(int argc, char **argv)
{
	struct opts o;
	struct audit_verify_opts vo;
	struct audit_verify_report *r;
	struct err e;
	uint8_t pin[32];
	struct audit_secret *rk = NULL, *ik = NULL;
	char t1[40], t2[40], b64[64];
	int rc;

	parse(argc, argv, 2, &o, true);
	if (o.full && !o.key)
		usage_fail(prog, "verify --full needs --key REVIEWER_KEY");
	if (o.key && !o.full)
		usage_fail(prog, "--key is only used with --full");
	memset(&vo, 0, sizeof vo);
	vo.dir = o.dir;
	vo.live = o.live;
	err_clear(&e);
	if (o.signer_pub) {
		if (audit_load_signer_pub(o.signer_pub, pin, &e) != 0)
			die("%s", e.msg);
		vo.signer_pk = pin;
	}
	if (o.full)
		rk = load_rk(o.key);
	ik = load_ik(o.index_key);
	vo.reviewer_key = rk;
	vo.index_key = ik;
	r = xcalloc(1, sizeof *r);
	rc = audit_verify(&vo, r, &e);
	audit_secret_free(rk);
	audit_secret_free(ik);
	if (rc) {
		free(r);
		die("could not verify: %s", e.msg);
	}
	printf("Results requested for %s (%s verification)\n", o.dir, o.full ? "full" : "blind");
	fmt_time(t1, r->first_time_ns);
	fmt_time(t2, r->last_time_ns);
	printf("Results found for %s to %s:\n\n", t1, t2);
	printf("%llu/%llu segments valid\n", (unsigned long long)r->segments_valid, (unsigned long long)r->segments);
	printf("%llu/%llu checkpoints valid\n", (unsigned long long)r->checkpoints_valid, (unsigned long long)r->checkpoints);
	printf("%llu/%llu records valid\n", (unsigned long long)r->records_valid, (unsigned long long)r->records);
	sodium_bin2base64(b64, sizeof b64, r->signer_pk, 32, sodium_base64_VARIANT_ORIGINAL);
	printf("signer %s (%s)\n", b64, r->signer_pinned ? "pinned with --signer-pub" : "taken from segment 1; pin it with --signer-pub");
	for (size_t i = 0; i < r->n_recoveries; i++) {
		const struct audit_recovery_note *n = &r->recoveries[i];
		printf("RECOVERY: segment %llu records a crash recovery: segment %llu kept through seq %llu; %u frames, "
		       "%llu bytes discarded (%s)",
		       (unsigned long long)n->segment, (unsigned long long)n->prev_segment, (unsigned long long)n->last_good_seq,
		       n->frames_discarded, (unsigned long long)n->bytes_discarded, recovery_reason(n->reason));
		if (n->removed_segment)
			printf("; incomplete segment %llu (%llu bytes) set aside", (unsigned long long)n->removed_segment,
			       (unsigned long long)n->removed_bytes);
		printf("\n");
	}
	for (size_t i = 0; i < r->n_problems; i++) {
		const struct audit_problem *p = &r->problems[i];
		printf("INVALID: %s segment %llu seq %llu: %s\n", p->code, (unsigned long long)p->segment,
		       (unsigned long long)p->seq, p->detail);
	}
	if (r->problems_truncated)
		printf("INVALID: TOO_MANY_PROBLEMS more problems were found than are listed\n");
	rc = r->n_problems ? 1 : 0;
	free(r);
	return rc;
}

/* ------------------------------------------------------------------ show / export */
struct show_ctx {
	bool export;
	char log_hex[33];
	struct buf out;
	int err;
	struct err e;
};

static int show_record(const struct audit_record *rec, void *arg)
{
	struct show_ctx *c = arg;
	struct json_limits lim = {.max_bytes = AUDIT_RECORD_MAX, .max_depth = 64};
	cJSON *in, *o, *it;
	char ts[40];
	int rc;

	buf_reset(&c->out);
	if (c->export) {
		rc = audit_export_auditevent(rec, c->log_hex, &c->out, &c->e);
		if (rc)
			return rc;
		fwrite(c->out.p, 1, c->out.len, stdout);
		return 0;
	}
	in = json_parse(rec->json, rec->json_len, &lim, &c->e);
	if (!in)
		return err_prefix(&c->e, "record seq %llu", (unsigned long long)rec->seq);
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "seq", (double)rec->seq);
	fmt_time(ts, rec->time_ns);
	cJSON_AddStringToObject(o, "time", ts);
	while ((it = in->child) != NULL) {
		cJSON_DetachItemViaPointer(in, it);
		if (it->string && (!strcmp(it->string, "seq") || !strcmp(it->string, "time"))) {
			cJSON_Delete(it);
			continue;
		}
		cJSON_AddItemToObject(o, it->string, it);   /* takes the name: cJSON copies it */
	}
	if (rec->patient && !cJSON_GetObjectItemCaseSensitive(o, "patient"))
		cJSON_AddStringToObject(o, "patient", rec->patient);
	if (rec->user && !cJSON_GetObjectItemCaseSensitive(o, "user"))
		cJSON_AddStringToObject(o, "user", rec->user);
	if (rec->decision && !cJSON_GetObjectItemCaseSensitive(o, "decision"))
		cJSON_AddStringToObject(o, "decision", rec->decision);
	rc = json_print(o, &c->out);
	cJSON_Delete(o);
	cJSON_Delete(in);
	if (rc)
		return err_set(&c->e, rc, "record seq %llu: too large to print", (unsigned long long)rec->seq);
	fwrite(c->out.p, 1, c->out.len, stdout);
	fputc('\n', stdout);
	return 0;
}

static int cmd_show(int argc, char **argv, bool export)
{
	struct opts o;
	struct audit_filter f;
	struct audit_secret *rk, *ik;
	struct show_ctx *c = xcalloc(1, sizeof *c);
	struct err e;
	int rc;

	parse(argc, argv, 2, &o, true);
	if (!o.key)
		usage_fail(prog, "%s needs --key REVIEWER_KEY", export ? "export" : "show");
	if (export && (!o.format || strcmp(o.format, "auditevent") != 0))
		usage_fail(prog, "export needs --format auditevent");
	memset(&f, 0, sizeof f);
	if (o.since)
		f.since_ns = parse_time("--since", o.since, false);
	if (o.until)
		f.until_ns = parse_time("--until", o.until, true);
	f.patient = o.patient;
	f.user = o.user;
	f.decision = o.decision;
	f.scan = o.scan;
	rk = load_rk(o.key);
	ik = load_ik(o.index_key);
	c->export = export;
	buf_init(&c->out, 8u << 20);
	err_clear(&e);
	err_clear(&c->e);
	if (export && audit_log_id_hex(o.dir, c->log_hex, &e) != 0) {
		audit_secret_free(rk);
		audit_secret_free(ik);
		die("%s", e.msg);
	}
	rc = audit_read(o.dir, rk, ik, &f, show_record, c, &e);
	audit_secret_free(rk);
	audit_secret_free(ik);
	fflush(stdout);
	buf_fini(&c->out);
	if (rc) {
		const char *msg = c->e.code ? c->e.msg : e.msg;
		die("%s", msg);
	}
	free(c);
	return 0;
}

/* ------------------------------------------------------------------ stats / rewrap */
static int cmd_stats(int argc, char **argv)
{
	struct opts o;
	struct audit_stats st;
	struct audit_secret *rk = NULL, *ik;
	struct err e;
	char t1[40], t2[40];

	parse(argc, argv, 2, &o, true);
	if (o.key)
		rk = load_rk(o.key);
	ik = load_ik(o.index_key);
	err_clear(&e);
	if (audit_stats(o.dir, rk, ik, &st, &e) != 0) {
		audit_secret_free(rk);
		audit_secret_free(ik);
		die("%s", e.msg);
	}
	audit_secret_free(rk);
	audit_secret_free(ik);
	fmt_time(t1, st.first_time_ns);
	fmt_time(t2, st.last_time_ns);
	printf("segments: %llu (%llu bytes)\n", (unsigned long long)st.segments, (unsigned long long)st.bytes);
	printf("records: %llu\n", (unsigned long long)st.data_records);
	printf("checkpoints: %llu (%llu heartbeats)\n", (unsigned long long)st.checkpoints, (unsigned long long)st.heartbeats);
	printf("closes: %llu, recoveries: %llu\n", (unsigned long long)st.closes, (unsigned long long)st.recoveries);
	printf("time span: %s to %s\n", t1, t2);
	if (st.decisions_known) {
		printf("decisions:");
		for (size_t i = 0; i < st.n_decisions; i++)
			printf(" %s=%llu", st.decisions[i].name, (unsigned long long)st.decisions[i].count);
		printf("\n");
	} else {
		printf("decisions: unknown (give --index-key or --key)\n");
	}
	return 0;
}

static int cmd_rewrap(int argc, char **argv)
{
	struct opts o;
	struct audit_secret *rk;
	uint8_t (*pk)[AUDIT_KEY_BYTES];
	struct err e;
	int rc;

	parse(argc, argv, 2, &o, true);
	if (!o.key || o.nrecip == 0)
		usage_fail(prog, "rewrap needs --key REVIEWER_KEY and --recipient PUB");
	pk = xcalloc(o.nrecip, sizeof *pk);
	err_clear(&e);
	for (size_t i = 0; i < o.nrecip; i++)
		if (audit_load_reviewer_pub(o.recipients[i], pk[i], &e) != 0)
			die("%s", e.msg);
	rk = load_rk(o.key);
	rc = audit_rewrap(o.dir, rk, (const uint8_t(*)[AUDIT_KEY_BYTES])pk, o.nrecip, &e);
	audit_secret_free(rk);
	free(pk);
	if (rc)
		die("%s", e.msg);
	printf("re-wrapped segment keys in %s for %zu recipient(s)\n", o.dir, o.nrecip);
	return 0;
}

/* A segment file truncated while mapped (af_map_file) raises SIGBUS: report, don't crash. */
static void on_sigbus(int sig)
{
	static const char msg[] = "ehrgate-audit: could not verify: a segment file changed while it was being read\n";
	(void)sig;
	(void)!write(2, msg, sizeof msg - 1);
	_exit(2);
}

int main(int argc, char **argv)
{
	const char *cmd;

	usage_common(argc, argv, prog, usage);
	if (argc < 2)
		usage_fail(prog, "missing command");
	if (sodium_init() < 0)
		die("libsodium failed to initialise");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGBUS, on_sigbus);
	cmd = argv[1];
	if (!strcmp(cmd, "keygen"))
		return cmd_keygen(argc, argv);
	if (!strcmp(cmd, "append"))
		return cmd_append(argc, argv);
	if (!strcmp(cmd, "verify"))
		return cmd_verify(argc, argv);
	if (!strcmp(cmd, "show") || !strcmp(cmd, "query"))   /* DESIGN.md §3.2 names it "query" */
		return cmd_show(argc, argv, false);
	if (!strcmp(cmd, "export"))
		return cmd_show(argc, argv, true);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc, argv);
	if (!strcmp(cmd, "rewrap"))
		return cmd_rewrap(argc, argv);
	usage_fail(prog, "unknown command %s", cmd);
}
