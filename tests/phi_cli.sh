#!/usr/bin/env bash
# ehrgate-phi CLI: exit codes, JSON-lines output with exact raw byte offsets, redaction that
# keeps JSON valid, known-patient matching from --context, and no PHI on stderr.
set -u
BIN=${EHRGATE_BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin}
PHI="$BIN/ehrgate-phi"
TOP=${EHRGATE_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok()   { echo "ok   $1"; }
bad()  { echo "FAIL $1"; fails=$((fails + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# --- conventions ---------------------------------------------------------------------------
"$PHI" --help >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--help exits 0 and prints usage" '[ $rc = 0 ] && grep -q "^usage: ehrgate-phi scan|redact" "$tmp/out"'
"$PHI" --version >"$tmp/out"; rc=$?
check "--version" '[ $rc = 0 ] && grep -Eq "^ehrgate-phi [0-9]+\.[0-9]+\.[0-9]+$" "$tmp/out"'
"$PHI" </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
check "no command: exit 2, one stderr line" '[ $rc = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ]'
"$PHI" frobnicate </dev/null 2>"$tmp/err"; rc=$?
check "unknown command: exit 2" '[ $rc = 2 ]'
"$PHI" scan --type xml </dev/null 2>"$tmp/err"; rc=$?
check "bad --type: exit 2" '[ $rc = 2 ]'
"$PHI" scan --bogus </dev/null 2>"$tmp/err"; rc=$?
check "unknown option: exit 2" '[ $rc = 2 ]'
"$PHI" scan --policy "$tmp/nonexistent.yaml" </dev/null 2>"$tmp/err"; rc=$?
check "--policy unreadable: exit 2" '[ $rc = 2 ] && [ -s "$tmp/err" ]'
printf 'id MRN12345678 x' | "$PHI" scan --type text --policy "$TOP/policies/sites/demo.yaml" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--policy: the site's MRN format (demo: MRN[0-9]{8})" \
	'[ $rc = 1 ] && [ "$(cat "$tmp/out")" = "{\"start\":3,\"end\":14,\"type\":\"MRN\",\"source\":\"pattern\"}" ]'
# --route: scan as the sidecar does for one egress route (demo: quality allows pattern DATEs)
obs='{"resourceType":"Observation","effectiveDateTime":"2026-11-20T08:30:00Z","meta":{"lastUpdated":"2026-11-21T10:00:00Z"}}'
printf '%s' "$obs" | "$PHI" scan --policy "$TOP/policies/sites/demo.yaml" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--policy: a timestamp is a DATE; date_exempt_keys exempts lastUpdated" \
	'[ $rc = 1 ] && [ "$(wc -l <"$tmp/out")" = 1 ] && grep -q "\"start\":51,.*\"DATE\"" "$tmp/out"'
printf '%s' "$obs" | "$PHI" scan --policy "$TOP/policies/sites/demo.yaml" --route quality >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--route quality: phi_allow_types [DATE] passes it" '[ $rc = 0 ] && [ ! -s "$tmp/out" ]'
printf '%s' "$obs" | "$PHI" scan --policy "$TOP/policies/sites/demo.yaml" --route analytics >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--route analytics: still a DATE" '[ $rc = 1 ]'
"$PHI" scan --policy "$TOP/policies/sites/demo.yaml" --route nowhere </dev/null 2>"$tmp/err"; rc=$?
check "--route unknown: exit 2 naming it" '[ $rc = 2 ] && grep -q "nowhere" "$tmp/err"'
"$PHI" scan --route quality </dev/null 2>"$tmp/err"; rc=$?
check "--route without --policy: exit 2" '[ $rc = 2 ]'
"$PHI" scan --mrn-pattern 'MRN[0-9' </dev/null 2>"$tmp/err"; rc=$?
check "bad site pattern: exit 2 naming mrn_patterns[0]" '[ $rc = 2 ] && grep -q "mrn_patterns\[0\]" "$tmp/err"'

# --- scan: offsets into the raw bytes ----------------------------------------------------------
printf '{"note":"SSN 123-45-6789, mail jane\\u0040example.com, MRN12345678, born 03/03/1941","phone":6175550123}' >"$tmp/in.json"
"$PHI" scan --mrn-pattern 'MRN[0-9]{8}' <"$tmp/in.json" >"$tmp/scan" 2>"$tmp/err"; rc=$?
check "scan with findings exits 1" '[ $rc = 1 ]'
check "scan prints one JSON object per finding" '[ "$(wc -l <"$tmp/scan")" = 5 ]'
python3 - "$tmp/in.json" "$tmp/scan" >"$tmp/spans" 2>&1 <<'PY'
import json, sys
raw = open(sys.argv[1], 'rb').read()
for line in open(sys.argv[2]):
    f = json.loads(line)
    assert set(f) == {"start", "end", "type", "source"}, f
    print(f["type"], f["source"], raw[f["start"]:f["end"]].decode())
PY
check "offsets select the raw (escaped) bytes" 'grep -qx "SSN pattern 123-45-6789" "$tmp/spans" &&
	grep -qx "EMAIL pattern jane\\\\u0040example.com" "$tmp/spans" && grep -qx "MRN pattern MRN12345678" "$tmp/spans" &&
	grep -qx "DATE pattern 03/03/1941" "$tmp/spans" && grep -qx "PHONE pattern 6175550123" "$tmp/spans"'
printf 'HbA1c 7.2%% (LOINC 4548-4), ICD-10 E11.9, metformin 500 mg BID, NDC 0002-3227-30, OID 2.16.840.1.113883.6.1\n' |
	"$PHI" scan --type text >"$tmp/scan"; rc=$?
check "benign clinical text: exit 0, no output" '[ $rc = 0 ] && [ ! -s "$tmp/scan" ]'
"$PHI" scan --type text --mrn-pattern "MRN[0-9]{8}" "$tmp/in.json" >"$tmp/scan2"; rc=$?
check "input from a FILE argument" '[ $rc = 1 ] && [ "$(wc -l <"$tmp/scan2")" -ge 4 ]'
"$PHI" scan --allow-type DATE --allow-type PHONE <"$tmp/in.json" >"$tmp/scan3"; rc=$?
check "--allow-type drops those pattern findings" '! grep -q "\"DATE\"\|\"PHONE\"" "$tmp/scan3" && grep -q SSN "$tmp/scan3"'

# --- redact ------------------------------------------------------------------------------------
"$PHI" redact --mrn-pattern 'MRN[0-9]{8}' <"$tmp/in.json" >"$tmp/red.json"; rc=$?
check "redact exits 0" '[ $rc = 0 ]'
check "redacted JSON parses, numbers became strings" \
	'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"phone\"]==\"[REDACTED:PHONE]\"" "$tmp/red.json"'
check "no identifier survives redaction" '! grep -q "6789\|example\|12345678\|1941\|6175550123" "$tmp/red.json"'
printf 'a=1&ssn=123-45-6789' | "$PHI" redact --type form >"$tmp/red.form"
check "form redaction is percent-encoded" '[ "$(cat "$tmp/red.form")" = "a=1&ssn=%5BREDACTED%3ASSN%5D" ]'

# --- known patient (context) ------------------------------------------------------------------
cat >"$tmp/ctx.json" <<'J'
{"resourceType":"Patient","name":[{"family":"Zqxbrandt","given":["Ilsabet"]}],"birthDate":"1938-11-07",
 "identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"00770011"}],"telecom":[{"system":"phone","value":"(413) 555-0188"}]}
J
printf 'Pt ZQXBRANDT, ILSABET (mrn 770011) born 7 Nov 1938, call 413.555.0188.' >"$tmp/note.txt"
"$PHI" scan --type text --context "$tmp/ctx.json" <"$tmp/note.txt" >"$tmp/scan"; rc=$?
check "context: name, MRN, birth date and phone found as known" '[ $rc = 1 ] &&
	[ "$(grep -c "\"source\":\"known\"" "$tmp/scan")" = 4 ] && grep -q "\"NAME\"" "$tmp/scan" &&
	grep -q "\"MRN\"" "$tmp/scan" && grep -q "\"DATE\"" "$tmp/scan" && grep -q "\"PHONE\"" "$tmp/scan"'
"$PHI" redact --type text --context "$tmp/ctx.json" <"$tmp/note.txt" >"$tmp/red.txt"
check "context: redacted note keeps no known identifier" '! grep -qi "zqxbrandt\|ilsabet\|770011\|1938\|0188" "$tmp/red.txt"'

# --- errors never carry PHI -------------------------------------------------------------------
printf '{"resourceType":"Patient","name":[{"family":"Canarysurname"' >"$tmp/badctx.json"
"$PHI" scan --context "$tmp/badctx.json" <"$tmp/in.json" >/dev/null 2>"$tmp/err"; rc=$?
check "bad context: exit 2, no PHI on stderr" '[ $rc = 2 ] && ! grep -q "Canary" "$tmp/err"'
"$PHI" scan --max-body 10 <"$tmp/in.json" >/dev/null 2>"$tmp/err"; rc=$?
check "input over --max-body: exit 3, no PHI on stderr" '[ $rc = 3 ] && ! grep -q "6789\|jane\|1941" "$tmp/err"'
"$PHI" scan --context "$tmp/nonexistent.json" </dev/null 2>"$tmp/err"; rc=$?
check "missing context file: exit 2" '[ $rc = 2 ]'

echo "phi_cli: $fails failure(s)"
[ $fails = 0 ]
