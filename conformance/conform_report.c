/* conform_report — report.json, junit.xml and report.html of a run. Reads the run; owns
 * nothing beyond the buffers it fills. */
#include "conformance/conform_report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conformance/conform_util.h"
#include "lib/clock.h"
#include "lib/json.h"
#include "lib/mem.h"

#define REPORT_MAX (64u << 20)

/* A writer with a sticky error, so long report code is not a forest of ifs. */
struct w {
	struct buf *b;
	int rc;
};

static void wf(struct w *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void wf(struct w *w, const char *fmt, ...)
{
	va_list ap;
	char small[1024], *big = NULL;
	int n;

	if (w->rc < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		w->rc = -EINVAL;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		w->rc = buf_append(w->b, small, (size_t)n);
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&big, fmt, ap) < 0)
		abort();
	va_end(ap);
	w->rc = buf_append(w->b, big, strlen(big));
	free(big);
}

int conform_xml_escape(struct buf *out, const char *s)
{
	int rc = 0;

	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && rc == 0; p++) {
		switch (*p) {
		case '&':
			rc = buf_append_str(out, "&amp;");
			break;
		case '<':
			rc = buf_append_str(out, "&lt;");
			break;
		case '>':
			rc = buf_append_str(out, "&gt;");
			break;
		case '"':
			rc = buf_append_str(out, "&quot;");
			break;
		case '\'':
			rc = buf_append_str(out, "&#39;");
			break;
		default:
			/* XML 1.0 §2.2: only TAB, LF, CR below 0x20 */
			if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
				rc = buf_append_str(out, "?");
			else
				rc = buf_append(out, p, 1);
		}
	}
	return rc;
}

static void we(struct w *w, const char *s)
{
	if (w->rc == 0)
		w->rc = conform_xml_escape(w->b, s);
}

const char *conform_verdict(const struct conform_run *r)
{
	struct conform_summary s;

	if (!r->reachable)
		return "unreachable";
	conform_results_summary(r->results, &s);
	return s.must_failed ? "fail" : "pass";
}

static void fmt_time(char out[25], int64_t ms)
{
	clock_fmt_rfc3339(out, ms);
}

static const char *level_name(enum cds_level l)
{
	return cds_level_name(l);
}

/* --- report.json ------------------------------------------------------------------------ */

static cJSON *finding_json(const struct conform_finding *f)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "level", level_name(f->level));
	cJSON_AddStringToObject(j, "message", f->msg);
	if (f->service)
		cJSON_AddStringToObject(j, "service", f->service);
	if (f->hook)
		cJSON_AddStringToObject(j, "hook", f->hook);
	if (f->variant)
		cJSON_AddStringToObject(j, "variant", f->variant);
	if (f->rid)
		cJSON_AddStringToObject(j, "request", f->rid);
	if (f->pointer)
		cJSON_AddStringToObject(j, "pointer", f->pointer);
	if (f->value)
		cJSON_AddStringToObject(j, "value", f->value);
	if (f->http_status)
		cJSON_AddNumberToObject(j, "http_status", f->http_status);
	if (f->elapsed_ms >= 0)
		cJSON_AddNumberToObject(j, "elapsed_ms", round(f->elapsed_ms * 100) / 100);
	if (f->count > 1)
		cJSON_AddNumberToObject(j, "occurrences", f->count);
	return j;
}

static const char *pathway_verdict(const struct conform_run *r)
{
	return conform_verdict(r);
}

int conform_report_json(const struct conform_run *r, struct buf *out)
{
	cJSON *root = cJSON_CreateObject(), *o, *a;
	struct conform_summary s;
	char t1[25], t2[25];
	char *text;
	int rc;

	conform_results_summary(r->results, &s);
	fmt_time(t1, r->started_ms);
	fmt_time(t2, r->finished_ms);
	cJSON_AddStringToObject(root, "report", "ehrgate-conform");
	cJSON_AddNumberToObject(root, "format", 1);
	o = cJSON_AddObjectToObject(root, "tool");
	cJSON_AddStringToObject(o, "name", "ehrgate-conform");
	cJSON_AddStringToObject(o, "version", EHRGATE_VERSION);
	cJSON_AddStringToObject(root, "started", t1);
	cJSON_AddStringToObject(root, "finished", t2);
	cJSON_AddNumberToObject(root, "duration_ms", (double)(r->finished_ms - r->started_ms));
	o = cJSON_AddObjectToObject(root, "site");
	cJSON_AddStringToObject(o, "id", r->site.id ? r->site.id : "");
	cJSON_AddStringToObject(o, "name", r->site.name ? r->site.name : "");
	cJSON_AddStringToObject(o, "environment", r->site.environment ? r->site.environment : "");
	cJSON_AddStringToObject(o, "ehr", r->site.ehr ? r->site.ehr : "");
	cJSON_AddStringToObject(o, "policy", r->site.policy_path ? r->site.policy_path : "");
	cJSON_AddBoolToObject(o, "production", r->site.production);
	cJSON_AddNumberToObject(o, "deadline_ms", r->deadline_ms);
	o = cJSON_AddObjectToObject(root, "profile");
	cJSON_AddStringToObject(o, "name", r->profile->name);
	cJSON_AddStringToObject(o, "label", r->profile->label);
	cJSON_AddStringToObject(o, "spec", r->profile->spec);
	cJSON_AddStringToObject(o, "jwt_alg", jose_alg_name(r->profile->alg));
	cJSON_AddNumberToObject(o, "jwt_lifetime_s", r->profile->lifetime_s);
	a = cJSON_AddArrayToObject(o, "evidence");
	for (size_t i = 0; i < r->profile->n_evidence; i++) {
		const struct conform_evidence_note *n = &r->profile->evidence[i];
		cJSON *x = cJSON_CreateObject();

		cJSON_AddStringToObject(x, "behaviour", n->behaviour);
		cJSON_AddStringToObject(x, "confidence", n->confidence);
		cJSON_AddBoolToObject(x, "weak", strcmp(n->confidence, "C") != 0);
		cJSON_AddStringToObject(x, "source", n->source);
		if (n->checks)
			cJSON_AddStringToObject(x, "checks", n->checks);
		cJSON_AddItemToArray(a, x);
	}
	cJSON_AddStringToObject(root, "target", r->opt.target ? r->opt.target : "");
	cJSON_AddStringToObject(root, "simulated_ehr", r->ehr_base);
	cJSON_AddStringToObject(root, "jwt_iss", r->iss);
	o = cJSON_AddObjectToObject(root, "options");
	cJSON_AddNumberToObject(o, "iterations", r->opt.iterations);
	cJSON_AddNumberToObject(o, "concurrency", r->opt.concurrency);
	a = cJSON_AddArrayToObject(o, "groups");
	for (int g = 0; g < CONFORM_G_COUNT; g++)
		if (r->opt.groups & (1u << g))
			cJSON_AddItemToArray(a, cJSON_CreateString(conform_group_name((enum conform_group)g)));
	cJSON_AddStringToObject(root, "verdict", conform_verdict(r));
	cJSON_AddNumberToObject(root, "exit_code", r->exit_code);
	o = cJSON_AddObjectToObject(root, "summary");
	cJSON_AddNumberToObject(o, "pass", (double)s.pass);
	cJSON_AddNumberToObject(o, "warn", (double)s.warn);
	cJSON_AddNumberToObject(o, "fail", (double)s.fail);
	cJSON_AddNumberToObject(o, "skip", (double)s.skip);
	cJSON_AddNumberToObject(o, "must_failed", (double)s.must_failed);
	a = cJSON_AddArrayToObject(root, "pathways");
	{
		static const char *const others[] = {"SMART App Launch", "Backend Services + Bulk Data", "Note write-back"};
		cJSON *x = cJSON_CreateObject();

		cJSON_AddStringToObject(x, "name", "CDS Hooks");
		cJSON_AddStringToObject(x, "verdict", pathway_verdict(r));
		cJSON_AddItemToArray(a, x);
		for (size_t i = 0; i < 3; i++) {
			x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "name", others[i]);
			cJSON_AddStringToObject(x, "verdict", "not-tested");
			cJSON_AddStringToObject(x, "note", "not exercised by this version of the harness");
			cJSON_AddItemToArray(a, x);
		}
	}
	a = cJSON_AddArrayToObject(root, "groups");
	for (int g = 0; g < CONFORM_G_COUNT; g++) {
		cJSON *x = cJSON_CreateObject();

		cJSON_AddStringToObject(x, "id", conform_group_name((enum conform_group)g));
		cJSON_AddStringToObject(x, "title", conform_group_title((enum conform_group)g));
		cJSON_AddStringToObject(x, "verdict",
					!(r->opt.groups & (1u << g)) ? "not-run"
					: s.group_fail[g]          ? "fail"
					: s.group_run[g] == 0      ? "skip"
					: s.group_warn[g]          ? "warn"
								   : "pass");
		cJSON_AddNumberToObject(x, "failed", (double)s.group_fail[g]);
		cJSON_AddNumberToObject(x, "warnings", (double)s.group_warn[g]);
		cJSON_AddItemToArray(a, x);
	}
	a = cJSON_AddArrayToObject(root, "checks");
	for (size_t i = 0; i < conform_results_count(r->results); i++) {
		const struct conform_result *x = conform_results_at(r->results, i);
		cJSON *c = cJSON_CreateObject(), *fa;

		cJSON_AddStringToObject(c, "id", x->def->id);
		cJSON_AddStringToObject(c, "group", conform_group_name(x->def->group));
		cJSON_AddStringToObject(c, "level", level_name(x->level));
		if (x->level != x->def->level)
			cJSON_AddStringToObject(c, "level_in_source", level_name(x->def->level));
		cJSON_AddStringToObject(c, "status", conform_status_name(x->status));
		cJSON_AddStringToObject(c, "rule", x->def->title);
		cJSON_AddStringToObject(c, "reference", x->def->ref);
		cJSON_AddStringToObject(c, "fix", x->def->fix);
		cJSON_AddNumberToObject(c, "evaluations", (double)x->checked);
		if (x->note)
			cJSON_AddStringToObject(c, "note", x->note);
		if (x->status == CONFORM_SKIP)
			cJSON_AddStringToObject(c, "skip_reason", x->skip_reason ? x->skip_reason : "not evaluated");
		cJSON_AddBoolToObject(c, "weak_evidence", x->weak != NULL);
		if (x->weak)
			cJSON_AddStringToObject(c, "evidence_note", x->weak);
		fa = cJSON_AddArrayToObject(c, "findings");
		for (size_t k = 0; k < x->n_findings; k++)
			cJSON_AddItemToArray(fa, finding_json(&x->findings[k]));
		if (x->dropped)
			cJSON_AddNumberToObject(c, "findings_not_listed", (double)x->dropped);
		cJSON_AddItemToArray(a, c);
	}
	a = cJSON_AddArrayToObject(root, "latency");
	for (size_t i = 0; i < r->n_lat; i++) {
		const struct conform_lat_series *l = &r->lat[i];
		cJSON *x = cJSON_CreateObject(), *h;

		cJSON_AddStringToObject(x, "service", l->service);
		cJSON_AddStringToObject(x, "hook", l->hook);
		cJSON_AddNumberToObject(x, "calls", (double)(l->sum.n + l->sum.errors));
		cJSON_AddNumberToObject(x, "errors", (double)l->sum.errors);
		cJSON_AddNumberToObject(x, "concurrency", r->opt.concurrency);
		cJSON_AddNumberToObject(x, "min_ms", round(l->sum.min * 100) / 100);
		cJSON_AddNumberToObject(x, "p50_ms", round(l->sum.p50 * 100) / 100);
		cJSON_AddNumberToObject(x, "p95_ms", round(l->sum.p95 * 100) / 100);
		cJSON_AddNumberToObject(x, "p99_ms", round(l->sum.p99 * 100) / 100);
		cJSON_AddNumberToObject(x, "max_ms", round(l->sum.max * 100) / 100);
		cJSON_AddNumberToObject(x, "mean_ms", round(l->sum.mean * 100) / 100);
		cJSON_AddNumberToObject(x, "throughput_per_s",
					l->wall_ms > 0 ? round((double)l->sum.n * 1000.0 / l->wall_ms * 10) / 10 : 0);
		cJSON_AddNumberToObject(x, "deadline_ms", r->deadline_ms);
		cJSON_AddNumberToObject(x, "guideline_ms", 500);
		h = cJSON_AddObjectToObject(x, "histogram");
		cJSON_AddNumberToObject(h, "bin_ms", l->sum.bin_ms);
		{
			cJSON *counts = cJSON_AddArrayToObject(h, "counts");

			for (size_t b = 0; b < l->sum.bins; b++)
				cJSON_AddItemToArray(counts, cJSON_CreateNumber((double)l->sum.hist[b]));
		}
		{
			cJSON *sm = cJSON_AddArrayToObject(x, "samples_ms");

			for (size_t k = 0; k < l->samples.n; k++)
				cJSON_AddItemToArray(sm, cJSON_CreateNumber(round(l->samples.v[k] * 100) / 100));
		}
		cJSON_AddItemToArray(a, x);
	}
	a = cJSON_AddArrayToObject(root, "exchanges");
	for (size_t i = 0; i < r->n_ex; i++) {
		const struct conform_exchange *x = &r->ex[i];
		cJSON *e = cJSON_CreateObject();

		cJSON_AddStringToObject(e, "request", x->rid);
		cJSON_AddStringToObject(e, "method", x->method);
		cJSON_AddStringToObject(e, "path", x->path ? x->path : "");
		if (x->service)
			cJSON_AddStringToObject(e, "service", x->service);
		if (x->hook)
			cJSON_AddStringToObject(e, "hook", x->hook);
		if (x->variant)
			cJSON_AddStringToObject(e, "variant", x->variant);
		cJSON_AddNumberToObject(e, "status", x->status);
		cJSON_AddNumberToObject(e, "elapsed_ms", round(x->ms * 100) / 100);
		if (x->error)
			cJSON_AddStringToObject(e, "error", x->error);
		cJSON_AddItemToArray(a, e);
	}
	a = cJSON_AddArrayToObject(root, "fhir_calls");
	for (size_t i = 0; i < r->n_calls; i++) {
		const struct conform_fhir_call *x = &r->calls[i];
		cJSON *e = cJSON_CreateObject();

		cJSON_AddStringToObject(e, "request", x->rid);
		cJSON_AddStringToObject(e, "path", x->path);
		cJSON_AddNumberToObject(e, "status", x->status);
		cJSON_AddBoolToObject(e, "token_ok", x->token_ok);
		cJSON_AddBoolToObject(e, "in_scope", x->in_scope);
		cJSON_AddItemToArray(a, e);
	}
	a = cJSON_AddArrayToObject(root, "notes");
	for (size_t i = 0; i < r->n_notes; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(r->notes[i]));
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (text == NULL)
		return -ENOMEM;
	rc = buf_append_str(out, text);
	if (rc == 0)
		rc = buf_append(out, "\n", 1);
	cJSON_free(text);
	return rc;
}

/* --- junit.xml ------------------------------------------------------------------------ */

static void finding_text(struct w *w, const struct conform_finding *f)
{
	we(w, level_name(f->level));
	wf(w, ": ");
	we(w, f->msg);
	if (f->service || f->hook) {
		wf(w, " [");
		we(w, f->service ? f->service : "");
		wf(w, "%s", f->service && f->hook ? " " : "");
		we(w, f->hook ? f->hook : "");
		wf(w, "]");
	}
	if (f->variant) {
		wf(w, " variant=");
		we(w, f->variant);
	}
	if (f->rid) {
		wf(w, " request=");
		we(w, f->rid);
	}
	if (f->http_status)
		wf(w, " status=%d", f->http_status);
	if (f->pointer) {
		wf(w, " at ");
		we(w, f->pointer);
	}
	if (f->value) {
		wf(w, " value=");
		we(w, f->value);
	}
	if (f->count > 1)
		wf(w, " (x%u)", f->count);
	wf(w, "\n");
}

int conform_report_junit(const struct conform_run *r, struct buf *out)
{
	struct w w = {out, 0};
	struct conform_summary s;
	double secs = (double)(r->finished_ms - r->started_ms) / 1000.0;
	size_t n = conform_results_count(r->results);
	char t1[25];

	conform_results_summary(r->results, &s);
	fmt_time(t1, r->started_ms);
	t1[19] = '\0'; /* JUnit timestamps have no zone/fraction */
	wf(&w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	wf(&w, "<testsuites name=\"ehrgate-conform\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" time=\"%.3f\">\n",
	   n, s.fail, s.skip, secs);
	for (int g = 0; g < CONFORM_G_COUNT; g++) {
		size_t tests = 0, fails = 0, skips = 0;

		for (size_t i = 0; i < n; i++) {
			const struct conform_result *x = conform_results_at(r->results, i);

			if ((int)x->def->group != g)
				continue;
			tests++;
			fails += x->status == CONFORM_FAIL;
			skips += x->status == CONFORM_SKIP;
		}
		wf(&w, "  <testsuite name=\"ehrgate-conform.%s\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" time=\"0\" timestamp=\"%s\" hostname=\"localhost\">\n",
		   conform_group_name((enum conform_group)g), tests, fails, skips, t1);
		wf(&w, "    <properties>\n      <property name=\"site\" value=\"");
		we(&w, r->site.id);
		wf(&w, "\"/>\n      <property name=\"ehr_profile\" value=\"");
		we(&w, r->profile->name);
		wf(&w, "\"/>\n      <property name=\"target\" value=\"");
		we(&w, r->opt.target);
		wf(&w, "\"/>\n      <property name=\"tool_version\" value=\"%s\"/>\n    </properties>\n", EHRGATE_VERSION);
		for (size_t i = 0; i < n; i++) {
			const struct conform_result *x = conform_results_at(r->results, i);

			if ((int)x->def->group != g)
				continue;
			wf(&w, "    <testcase classname=\"ehrgate-conform.%s\" name=\"", conform_group_name(x->def->group));
			we(&w, x->def->id);
			wf(&w, " ");
			we(&w, x->def->title);
			wf(&w, "\" time=\"0\">\n");
			if (x->status == CONFORM_FAIL) {
				const struct conform_finding *first = NULL;

				for (size_t k = 0; k < x->n_findings && !first; k++)
					if (x->findings[k].level == CDS_MUST)
						first = &x->findings[k];
				wf(&w, "      <failure type=\"%s\" message=\"", level_name(x->level));
				we(&w, x->def->id);
				wf(&w, ": ");
				we(&w, first ? first->msg : "failed");
				wf(&w, "\">");
				for (size_t k = 0; k < x->n_findings; k++)
					finding_text(&w, &x->findings[k]);
				if (x->dropped)
					wf(&w, "... and %zu more findings (see report.json)\n", x->dropped);
				wf(&w, "Rule: ");
				we(&w, x->def->title);
				wf(&w, "\nReference: ");
				we(&w, x->def->ref);
				wf(&w, "\nFix: ");
				we(&w, x->def->fix);
				wf(&w, "</failure>\n");
			} else if (x->status == CONFORM_SKIP) {
				wf(&w, "      <skipped message=\"");
				we(&w, x->skip_reason ? x->skip_reason : "not evaluated");
				wf(&w, "\"/>\n");
			} else if (x->status == CONFORM_WARN) {
				wf(&w, "      <system-out>WARNING (%s level, does not fail the gate)\n", level_name(x->level));
				for (size_t k = 0; k < x->n_findings; k++)
					finding_text(&w, &x->findings[k]);
				wf(&w, "</system-out>\n");
			}
			wf(&w, "    </testcase>\n");
		}
		wf(&w, "  </testsuite>\n");
	}
	wf(&w, "</testsuites>\n");
	return w.rc;
}

/* --- report.html ----------------------------------------------------------------------- */

static const char css[] =
	"body{font:15px/1.5 -apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;color:#1d2939;"
	"margin:0;background:#f9fafb}"
	"main{max-width:1040px;margin:0 auto;padding:24px}"
	"h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #d0d5dd;padding-bottom:4px}"
	"h3{font-size:16px;margin:0 0 6px}"
	".meta{color:#475467;font-size:13px}.meta td{padding:1px 12px 1px 0;vertical-align:top}"
	".verdict{border-radius:10px;padding:18px 22px;margin:18px 0;color:#fff}"
	".verdict b{font-size:28px;display:block}"
	".v-pass{background:#067647}.v-fail{background:#b42318}.v-unreachable{background:#475467}"
	"table.t{border-collapse:collapse;width:100%;background:#fff;font-size:14px}"
	"table.t th,table.t td{border:1px solid #eaecf0;padding:6px 8px;text-align:left;vertical-align:top}"
	"table.t th{background:#f2f4f7}"
	".s{font-weight:600;border-radius:4px;padding:1px 7px;font-size:12px;white-space:nowrap}"
	".s-pass{background:#dcfae6;color:#067647}.s-fail{background:#fee4e2;color:#b42318}"
	".s-warn{background:#fef0c7;color:#93370d}.s-skip,.s-not-run,.s-not-tested{background:#eaecf0;color:#475467}"
	".check{background:#fff;border:1px solid #eaecf0;border-left:6px solid #b42318;border-radius:6px;padding:12px 16px;margin:12px 0}"
	".check.warn{border-left-color:#dc6803}"
	".check .fix{background:#f0f9ff;border-radius:4px;padding:6px 10px;margin-top:8px}"
	".ev{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;margin:6px 0 0;padding-left:18px}"
	".ev li{margin:2px 0;word-break:break-word}"
	".weak{background:#fef0c7;color:#93370d;border-radius:4px;padding:1px 6px;font-size:12px}"
	".lat{background:#fff;border:1px solid #eaecf0;border-radius:6px;padding:12px 16px;margin:12px 0}"
	"svg text{font:11px sans-serif;fill:#475467}"
	"footer{color:#667085;font-size:12px;margin-top:40px}";

static void status_badge(struct w *w, const char *status)
{
	const char *label = status;

	if (!strcmp(status, "pass"))
		label = "PASS";
	else if (!strcmp(status, "fail"))
		label = "FAIL";
	else if (!strcmp(status, "warn"))
		label = "WARNING";
	else if (!strcmp(status, "skip"))
		label = "SKIPPED";
	else if (!strcmp(status, "not-tested"))
		label = "NOT TESTED";
	else if (!strcmp(status, "not-run"))
		label = "NOT RUN";
	wf(w, "<span class=\"s s-%s\">%s</span>", status, label);
}

static void html_finding(struct w *w, const struct conform_finding *f)
{
	wf(w, "<li>");
	if (f->service || f->hook) {
		wf(w, "[");
		we(w, f->service ? f->service : "");
		wf(w, "%s", f->service && f->hook ? " / " : "");
		we(w, f->hook ? f->hook : "");
		wf(w, "] ");
	}
	we(w, f->msg);
	if (f->variant) {
		wf(w, " &middot; variant ");
		we(w, f->variant);
	}
	if (f->rid) {
		wf(w, " &middot; request ");
		we(w, f->rid);
	}
	if (f->http_status > 0)
		wf(w, " &middot; HTTP %d", f->http_status);
	else if (f->http_status < 0)
		wf(w, " &middot; no answer");
	if (f->elapsed_ms >= 0)
		wf(w, " &middot; %.1f ms", f->elapsed_ms);
	if (f->pointer) {
		wf(w, " &middot; at <code>");
		we(w, f->pointer);
		wf(w, "</code>");
	}
	if (f->value) {
		wf(w, " = <code>");
		we(w, f->value);
		wf(w, "</code>");
	}
	if (f->count > 1)
		wf(w, " &middot; seen %u times", f->count);
	wf(w, "</li>\n");
}

/* Findings that say the same thing at the same place, grouped for a human reader. */
static bool same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void html_grouped(struct w *w, const struct conform_result *x)
{
	bool *done = xcalloc(x->n_findings ? x->n_findings : 1, sizeof(*done));

	for (size_t k = 0; k < x->n_findings; k++) {
		const struct conform_finding *f = &x->findings[k];
		unsigned total = 0;
		size_t where = 0;

		if (done[k])
			continue;
		wf(w, "<li>");
		we(w, f->msg);
		if (f->pointer) {
			wf(w, " &middot; at <code>");
			we(w, f->pointer);
			wf(w, "</code>");
		}
		if (f->value) {
			wf(w, " = <code>");
			we(w, f->value);
			wf(w, "</code>");
		}
		wf(w, "<br><span class=\"meta\">");
		for (size_t j = k; j < x->n_findings; j++) {
			const struct conform_finding *g = &x->findings[j];

			if (done[j] || strcmp(g->msg, f->msg) != 0 || !same_text(g->pointer, f->pointer) || !same_text(g->value, f->value))
				continue;
			done[j] = true;
			total += g->count;
			if (where++ < 6) {
				wf(w, "%s", where > 1 ? "; " : "");
				if (g->service || g->hook) {
					we(w, g->service ? g->service : "");
					wf(w, "%s", g->service && g->hook ? "/" : "");
					we(w, g->hook ? g->hook : "");
				}
				if (g->variant) {
					wf(w, " ");
					we(w, g->variant);
				}
				if (g->rid) {
					wf(w, " (request ");
					we(w, g->rid);
					if (g->http_status > 0)
						wf(w, ", HTTP %d", g->http_status);
					else if (g->http_status < 0)
						wf(w, ", no answer");
					if (g->elapsed_ms >= 0)
						wf(w, ", %.1f ms", g->elapsed_ms);
					wf(w, ")");
				} else if (g->elapsed_ms >= 0) {
					wf(w, " (%.1f ms)", g->elapsed_ms);
				}
			}
		}
		if (where > 6)
			wf(w, "; and %zu more", where - 6);
		wf(w, " &middot; seen %u time%s</span></li>\n", total, total == 1 ? "" : "s");
	}
	free(done);
}

static void html_check(struct w *w, const struct conform_result *x)
{
	wf(w, "<div class=\"check%s\" id=\"%s\">\n<h3>", x->status == CONFORM_WARN ? " warn" : "", x->def->id);
	status_badge(w, conform_status_name(x->status));
	wf(w, " %s &middot; %s level &middot; ", x->def->id, level_name(x->level));
	we(w, conform_group_title(x->def->group));
	if (x->weak)
		wf(w, " <span class=\"weak\" title=\"the expectation rests on weak evidence\">weak evidence</span>");
	wf(w, "</h3>\n<div><b>Rule:</b> ");
	we(w, x->def->title);
	wf(w, "</div>\n<div class=\"meta\">Source: ");
	we(w, x->def->ref);
	wf(w, "</div>\n");
	if (x->weak) {
		wf(w, "<div class=\"meta\">Evidence note: ");
		we(w, x->weak);
		wf(w, "</div>\n");
	}
	wf(w, "<div><b>What we saw:</b></div>\n<ul class=\"ev\">\n");
	html_grouped(w, x);
	if (x->dropped)
		wf(w, "<li>&hellip; and %zu more (see report.json)</li>\n", x->dropped);
	wf(w, "</ul>\n<details><summary class=\"meta\">Every occurrence (%zu)</summary><ul class=\"ev\">\n", x->n_findings);
	for (size_t k = 0; k < x->n_findings; k++)
		html_finding(w, &x->findings[k]);
	wf(w, "</ul></details>\n<div class=\"fix\"><b>How to fix:</b> ");
	we(w, x->def->fix);
	wf(w, "</div>\n</div>\n");
}

static double scale_x(double ms, double top, double width)
{
	return top > 0 ? ms / top * width : 0;
}

/* A histogram plus a budget bar (percentiles against the 500 ms guideline and the deadline). */
static void html_latency_svg(struct w *w, const struct conform_lat_series *l, unsigned deadline)
{
	const double W = 640, H = 150, L = 44, B = 24;
	const struct conform_latency *s = &l->sum;
	size_t bins = s->bins ? s->bins : 1;
	double top = s->bin_ms * (double)bins, maxc = 1, budget_top, last_label = -100;
	const struct {
		const char *n;
		double v;
	} mk[] = {{"p50", s->p50}, {"p95", s->p95}, {"p99", s->p99}, {"max", s->max}};

	for (size_t b = 0; b < bins; b++)
		if ((double)s->hist[b] > maxc)
			maxc = (double)s->hist[b];
	wf(w, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"latency histogram\">\n",
	   W + L + 10, H + B + 10);
	wf(w, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#98a2b3\"/>\n", L, H, L + W, H);
	wf(w, "<line x1=\"%.0f\" y1=\"0\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#98a2b3\"/>\n", L, L, H);
	for (size_t b = 0; b < bins; b++) {
		double bw = W / (double)bins, h = (double)s->hist[b] / maxc * (H - 10);

		if (s->hist[b] == 0)
			continue;
		wf(w, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#2e90fa\"><title>%.4g-%.4g ms: %zu calls</title></rect>\n",
		   L + (double)b * bw + 1, H - h, bw - 2, h, (double)b * s->bin_ms, (double)(b + 1) * s->bin_ms, s->hist[b]);
	}
	for (int t = 0; t <= 4; t++) {
		double ms = top * t / 4;

		wf(w, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"%s\">%.4g ms</text>\n", L + scale_x(ms, top, W), H + 16,
		   t == 0 ? "start" : t == 4 ? "end" : "middle", ms);
	}
	wf(w, "<text x=\"%.0f\" y=\"10\" text-anchor=\"end\">%.0f</text><text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">0</text>\n",
	   L - 4, maxc, L - 4, H);
	if (500 <= top)
		wf(w, "<line x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#dc6803\" stroke-dasharray=\"4 3\"/>"
		      "<text x=\"%.1f\" y=\"10\">500 ms guideline</text>\n",
		   L + scale_x(500, top, W), L + scale_x(500, top, W), H, L + scale_x(500, top, W) + 3);
	if (deadline <= top)
		wf(w, "<line x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#b42318\" stroke-width=\"2\"/>"
		      "<text x=\"%.1f\" y=\"24\">deadline %u ms</text>\n",
		   L + scale_x(deadline, top, W), L + scale_x(deadline, top, W), H, L + scale_x(deadline, top, W) + 3, deadline);
	wf(w, "</svg>\n");
	if (500 > top || deadline > top)
		wf(w, "<div class=\"meta\">Calls per %.3g ms bin. The %s%s far to the right of this chart.</div>\n", s->bin_ms,
		   500 > top ? "500 ms guideline" : "", deadline > top ? (500 > top ? " and the deadline are" : "deadline is") : " is");
	/* budget bar: 0 .. max(deadline, max) with the guideline and deadline zones */
	budget_top = ((double)deadline > s->max ? (double)deadline : s->max) * 1.05;
	wf(w, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"50\" role=\"img\" aria-label=\"latency against the deadline\">\n",
	   W + L + 10);
	wf(w, "<rect x=\"%.0f\" y=\"8\" width=\"%.1f\" height=\"14\" fill=\"#abefc6\"/>\n", L, scale_x(fmin(500, budget_top), budget_top, W));
	if (deadline > 500)
		wf(w, "<rect x=\"%.1f\" y=\"8\" width=\"%.1f\" height=\"14\" fill=\"#fedf89\"/>\n", L + scale_x(500, budget_top, W),
		   scale_x(deadline - 500.0, budget_top, W));
	wf(w, "<rect x=\"%.1f\" y=\"8\" width=\"%.1f\" height=\"14\" fill=\"#fda29b\"/>\n", L + scale_x(deadline, budget_top, W),
	   W - scale_x(deadline, budget_top, W));
	for (size_t i = 0; i < 4; i++) {
		double x = L + scale_x(mk[i].v, budget_top, W);

		wf(w, "<line x1=\"%.1f\" y1=\"4\" x2=\"%.1f\" y2=\"26\" stroke=\"#101828\" stroke-width=\"1.5\"/>\n", x, x);
		if (x - last_label >= 30) {
			wf(w, "<text x=\"%.1f\" y=\"38\" text-anchor=\"middle\">%s</text>\n", x, mk[i].n);
			last_label = x;
		}
	}
	wf(w, "<text x=\"%.1f\" y=\"19\" text-anchor=\"end\">deadline</text>\n", L + scale_x(deadline, budget_top, W) - 3);
	wf(w, "</svg>\n<div class=\"meta\">p50 %.1f ms &middot; p95 %.1f ms &middot; p99 %.1f ms &middot; max %.1f ms; "
	      "green: within 500 ms, amber: within the deadline, red: the EHR has stopped waiting.</div>\n",
	   s->p50, s->p95, s->p99, s->max);
}

int conform_report_html(const struct conform_run *r, struct buf *out)
{
	struct w w = {out, 0};
	struct conform_summary s;
	const char *verdict = conform_verdict(r);
	size_t n = conform_results_count(r->results);
	char t1[25], t2[25];

	conform_results_summary(r->results, &s);
	fmt_time(t1, r->started_ms);
	fmt_time(t2, r->finished_ms);
	wf(&w, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
	wf(&w, "ehrgate conformance: ");
	we(&w, r->site.name ? r->site.name : r->site.id);
	wf(&w, " &mdash; %s</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n", !strcmp(verdict, "pass") ? "PASS" : "FAIL", css);
	wf(&w, "<h1>AI service conformance report</h1>\n<table class=\"meta\">\n<tr><td>Site</td><td>");
	we(&w, r->site.name);
	wf(&w, " (");
	we(&w, r->site.id);
	wf(&w, "), %s environment</td></tr>\n<tr><td>EHR profile</td><td>", r->site.production ? "<b>production</b>" : "staging");
	we(&w, r->profile->label);
	wf(&w, "</td></tr>\n<tr><td>Target</td><td><code>");
	we(&w, r->opt.target);
	wf(&w, "</code></td></tr>\n<tr><td>Site policy</td><td><code>");
	we(&w, r->site.policy_path);
	wf(&w, "</code></td></tr>\n<tr><td>Run</td><td>%s &ndash; %s (%.1f s), %u latency calls per hook at concurrency %u</td></tr>\n",
	   t1, t2, (double)(r->finished_ms - r->started_ms) / 1000.0, r->opt.iterations, r->opt.concurrency);
	wf(&w, "<tr><td>Tool</td><td>ehrgate-conform %s</td></tr>\n</table>\n", EHRGATE_VERSION);
	/* the verdict */
	wf(&w, "<div class=\"verdict v-%s\" id=\"verdict\"><b>Verdict: %s</b>\n", verdict,
	   !strcmp(verdict, "pass") ? "PASS" : !strcmp(verdict, "fail") ? "FAIL" : "TARGET UNREACHABLE");
	if (!strcmp(verdict, "unreachable"))
		wf(&w, "The AI service could not be reached at the target URL; nothing was tested.");
	else if (s.must_failed)
		wf(&w, "%zu required check%s failed. The service should not go live at this site until they pass.",
		   s.must_failed, s.must_failed == 1 ? "" : "s");
	else
		wf(&w, "Every required (MUST) check passed.");
	wf(&w, " %zu passed, %zu warning%s, %zu skipped.</div>\n", s.pass, s.warn, s.warn == 1 ? "" : "s", s.skip);
	for (size_t i = 0; i < r->n_notes; i++) {
		wf(&w, "<p class=\"meta\">Note: ");
		we(&w, r->notes[i]);
		wf(&w, "</p>\n");
	}
	/* pathways and groups */
	wf(&w, "<h2>Verdict per pathway</h2>\n<table class=\"t\"><tr><th>Pathway</th><th>Verdict</th><th>What was tested</th></tr>\n");
	wf(&w, "<tr><td>CDS Hooks (advice in the chart)</td><td>");
	status_badge(&w, verdict);
	wf(&w, "</td><td>Discovery, request handling, JWT authentication, HTTP, card rules, feedback, latency</td></tr>\n");
	wf(&w, "<tr><td>SMART App Launch</td><td>");
	status_badge(&w, "not-tested");
	wf(&w, "</td><td>Not exercised by this version of the harness</td></tr>\n<tr><td>Backend Services + Bulk Data</td><td>");
	status_badge(&w, "not-tested");
	wf(&w, "</td><td>Not exercised by this version of the harness</td></tr>\n<tr><td>Note write-back</td><td>");
	status_badge(&w, "not-tested");
	wf(&w, "</td><td>Not exercised by this version of the harness</td></tr>\n</table>\n");
	wf(&w, "<h2>CDS Hooks checks by area</h2>\n<table class=\"t\"><tr><th>Area</th><th>Result</th><th>Failed</th><th>Warnings</th></tr>\n");
	for (int g = 0; g < CONFORM_G_COUNT; g++) {
		const char *v = !(r->opt.groups & (1u << g)) ? "not-run"
				: s.group_fail[g]          ? "fail"
				: s.group_run[g] == 0      ? "skip"
				: s.group_warn[g]          ? "warn"
							   : "pass";

		wf(&w, "<tr><td>%s</td><td>", conform_group_title((enum conform_group)g));
		status_badge(&w, v);
		wf(&w, "</td><td>%zu</td><td>%zu</td></tr>\n", s.group_fail[g], s.group_warn[g]);
	}
	wf(&w, "</table>\n");
	/* failed checks first */
	wf(&w, "<h2 id=\"failed\">Failed checks (%zu)</h2>\n", s.fail);
	if (s.fail == 0)
		wf(&w, "<p>None.</p>\n");
	for (size_t i = 0; i < n; i++) {
		const struct conform_result *x = conform_results_at(r->results, i);

		if (x->status == CONFORM_FAIL)
			html_check(&w, x);
	}
	wf(&w, "<h2 id=\"warnings\">Warnings (%zu)</h2>\n<p class=\"meta\">Recommendations and site-policy advice; they do not fail the gate.</p>\n", s.warn);
	for (size_t i = 0; i < n; i++) {
		const struct conform_result *x = conform_results_at(r->results, i);

		if (x->status == CONFORM_WARN)
			html_check(&w, x);
	}
	/* latency */
	wf(&w, "<h2 id=\"latency\">Response time per hook</h2>\n");
	wf(&w, "<p class=\"meta\">The EHR stops waiting after the site deadline (%u ms); CDS Hooks asks for answers in about 500 ms.</p>\n",
	   r->deadline_ms);
	if (r->n_lat == 0)
		wf(&w, "<p>No latency measurements in this run.</p>\n");
	for (size_t i = 0; i < r->n_lat; i++) {
		const struct conform_lat_series *l = &r->lat[i];

		wf(&w, "<div class=\"lat\"><h3>");
		we(&w, l->service);
		wf(&w, " &middot; ");
		we(&w, l->hook);
		wf(&w, "</h3>\n<table class=\"t\"><tr><th>calls</th><th>errors</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>mean</th></tr>\n");
		wf(&w, "<tr><td>%zu</td><td>%zu</td><td>%.1f ms</td><td>%.1f ms</td><td>%.1f ms</td><td>%.1f ms</td><td>%.1f ms</td></tr></table>\n",
		   l->sum.n + l->sum.errors, l->sum.errors, l->sum.p50, l->sum.p95, l->sum.p99, l->sum.max, l->sum.mean);
		html_latency_svg(&w, l, r->deadline_ms);
		wf(&w, "</div>\n");
	}
	/* passed and skipped */
	wf(&w, "<h2 id=\"all\">All checks</h2>\n<table class=\"t\"><tr><th>Check</th><th>Level</th><th>Result</th><th>Rule</th><th>Detail</th></tr>\n");
	for (size_t i = 0; i < n; i++) {
		const struct conform_result *x = conform_results_at(r->results, i);

		wf(&w, "<tr><td><a href=\"#%s\">%s</a></td><td>%s</td><td>", x->def->id, x->def->id, level_name(x->level));
		status_badge(&w, conform_status_name(x->status));
		if (x->weak)
			wf(&w, " <span class=\"weak\">weak evidence</span>");
		wf(&w, "</td><td>");
		we(&w, x->def->title);
		wf(&w, "</td><td>");
		if (x->status == CONFORM_SKIP)
			we(&w, x->skip_reason ? x->skip_reason : "not evaluated");
		else if (x->note)
			we(&w, x->note);
		else
			wf(&w, "%zu evaluation%s", x->checked, x->checked == 1 ? "" : "s");
		wf(&w, "</td></tr>\n");
	}
	wf(&w, "</table>\n");
	/* the EHR profile and its evidence */
	wf(&w, "<h2 id=\"profile\">How the simulated EHR behaved, and how sure we are</h2>\n<p>Profile <b>");
	we(&w, r->profile->name);
	wf(&w, "</b>: ");
	we(&w, r->profile->label);
	wf(&w, ". Tokens: %s, lifetime %u s. Confidence: C confirmed in a primary source, C-stale an old or unmerged vendor page, M third-party mirror only, U unconfirmed.</p>\n",
	   jose_alg_name(r->profile->alg), r->profile->lifetime_s);
	wf(&w, "<table class=\"t\"><tr><th>Behaviour</th><th>Confidence</th><th>Source</th><th>Checks affected</th></tr>\n");
	for (size_t i = 0; i < r->profile->n_evidence; i++) {
		const struct conform_evidence_note *e = &r->profile->evidence[i];

		wf(&w, "<tr><td>");
		we(&w, e->behaviour);
		wf(&w, "</td><td>%s%s%s</td><td>", strcmp(e->confidence, "C") ? "<span class=\"weak\">" : "", e->confidence,
		   strcmp(e->confidence, "C") ? "</span>" : "");
		we(&w, e->source);
		wf(&w, "</td><td>");
		we(&w, e->checks ? e->checks : "");
		wf(&w, "</td></tr>\n");
	}
	wf(&w, "</table>\n<footer>Generated by ehrgate-conform %s. Machine-readable detail: report.json; CI results: junit.xml. "
	       "All patients in this run are synthetic.</footer>\n</main>\n</body>\n</html>\n",
	   EHRGATE_VERSION);
	return w.rc;
}

static int mkdir_p(const char *dir, struct err *e)
{
	char tmp[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(tmp))
		return err_set(e, -EINVAL, "bad output directory");
	memcpy(tmp, dir, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return err_set(e, -errno, "%s: %s", tmp, strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return err_set(e, -errno, "%s: %s", tmp, strerror(errno));
	return 0;
}

int conform_report_write(const struct conform_run *r, const char *dir, struct err *e)
{
	static const struct {
		const char *name;
		int (*fn)(const struct conform_run *, struct buf *);
	} files[] = {
		{"report.json", conform_report_json},
		{"junit.xml", conform_report_junit},
		{"report.html", conform_report_html},
	};
	char path[PATH_MAX];
	int rc = mkdir_p(dir, e);

	for (size_t i = 0; rc == 0 && i < sizeof(files) / sizeof(files[0]); i++) {
		struct buf b;

		buf_init(&b, REPORT_MAX);
		rc = files[i].fn(r, &b);
		if (rc < 0)
			err_set(e, rc, "%s: report too large", files[i].name);
		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		if (rc == 0)
			rc = conform_write_file(path, b.p, b.len, e);
		buf_fini(&b);
	}
	return rc;
}
