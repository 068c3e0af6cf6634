/* conform_report — the three reports of a run, written into --out DIR:
 *   report.json  every check, finding, exchange, FHIR call-back and latency series (machines)
 *   junit.xml    one testcase per check, failures with their message (CI systems)
 *   report.html  one self-contained page for the governance committee: verdict, verdict per
 *                pathway, failed checks first with rule, evidence and fix, latency charts as
 *                inline SVG, site / EHR profile / target / tool version / time.
 * Reports contain synthetic fixture data and request ids only; no tokens.
 */
#ifndef EHRGATE_CONFORM_REPORT_H
#define EHRGATE_CONFORM_REPORT_H

#include "conformance/conform_run.h"
#include "lib/buf.h"
#include "lib/err.h"

/* "pass", "fail" or "unreachable" (results must be finished). */
const char *conform_verdict(const struct conform_run *r);

int conform_report_json(const struct conform_run *r, struct buf *out) __attribute__((warn_unused_result));
int conform_report_junit(const struct conform_run *r, struct buf *out) __attribute__((warn_unused_result));
int conform_report_html(const struct conform_run *r, struct buf *out) __attribute__((warn_unused_result));
/* Create dir (and parents) and write the three files. */
int conform_report_write(const struct conform_run *r, const char *dir, struct err *e) __attribute__((warn_unused_result));

/* Escape text for XML/HTML element content and attribute values (also drops the control
 * characters XML 1.0 forbids). */
int conform_xml_escape(struct buf *out, const char *s) __attribute__((warn_unused_result));

#endif
