#!/usr/bin/env bash
# ehrgate-conform against ehrgate-refsvc with each fault switch: the specific checks fail (and
# for a single fault, only those), the exit code is 1; an unreachable target gives 3; usage and
# configuration errors give 2. The harness's and the service's output never carry the PHI canary.
. "$(dirname "$0")/../conformance/testlib.sh"

# run_fault NAME SITE "refsvc args" "conform args" EXPECTED-EXACT-FAILING-IDS
run_fault() {
  local name=$1 site=$2 rargs=$3 cargs=$4 want=$5
  # shellcheck disable=SC2086
  start_refsvc "$name" $rargs
  local addr_var="${name}_ADDR"
  # shellcheck disable=SC2086
  run_conform "$name" --site "$SITES/$site" --target "http://${!addr_var}" $cargs
  expect_rc "$name" 1
  check_report "$name" "failing() == sorted('$want'.split())" "r['verdict'] == 'fail' and r['exit_code'] == 1"
  grep -q "^verdict: FAIL" "$TMP/$name.stdout" || fail "$name: no FAIL verdict line"
  stop_refsvc "$name"
}

# slow answers: beyond the site deadline (1000 ms) at p99; the 500 ms guideline warns too.
# (--only latency keeps the test short: every call takes 1.3 s)
run_fault slow staging.yaml "--fault slow=1300" "--only latency --iterations 4 --concurrency 4" "CDS-LAT-142"
check_report slow 'status("CDS-LAT-042") == "warn"' 'all(l["min_ms"] >= 1250 for l in r["latency"])'

# malformed cards: each card rule that the broken card breaks, nothing else
run_fault bad staging.yaml "--fault bad-cards" "--iterations 4" \
  "CDS-CARD-044 CDS-CARD-045 CDS-CARD-046 CDS-CARD-049 CDS-CARD-055 CDS-JSON-003"
check_report bad 'any(f.get("pointer") == "/cards/0/indicator" and f.get("value") == "\"hard-stop\"" for f in checks["CDS-CARD-045"]["findings"])' \
  'any("150 characters" in f["message"] for f in checks["CDS-CARD-044"]["findings"])'

# guidance without data instead of 412
run_fault no412 staging.yaml "--fault no-412" "--iterations 4" "CDS-HTTP-041"
check_report no412 'any(f.get("variant") == "no-data-no-fhir-access" and f.get("http_status") == 200 for f in checks["CDS-HTTP-041"]["findings"])'

# a suggestion the site never approved (MedicationRequest create)
run_fault unapproved staging.yaml "--fault unapproved-action" "--iterations 4" "POLICY-ACTION-CREATE"
check_report unapproved "checks['POLICY-ACTION-CREATE']['findings'][0]['message'].startswith('create MedicationRequest')"

# no JWT validation, production-facing site: every forgery is accepted
run_fault nojwt production.yaml "--fault ignore-jwt" "--iterations 4" \
  "CDS-AUTH-027 CDS-AUTH-028 CDS-AUTH-029 CDS-AUTH-030 CDS-AUTH-032 CDS-AUTH-033 CDS-AUTH-034 CDS-AUTH-036 CDS-AUTH-037"
# the same service on a staging site: service-side JWT checks are SHOULD there (warnings, exit 0)
start_refsvc nojwt2 --fault ignore-jwt
run_conform nojwt_staging --site "$SITES/staging.yaml" --target "http://$nojwt2_ADDR" --iterations 4
expect_rc nojwt_staging 0
check_report nojwt_staging 'status("CDS-AUTH-029") == "warn" and checks["CDS-AUTH-029"]["level"] == "SHOULD"' 'failing() == []'
stop_refsvc nojwt2

# a crash on a null prefetch value: the null variant fails, and the report says the target went
# silent (the other failures follow from the crash)
start_refsvc crash --fault crash-on-null-prefetch
run_conform crash --site "$SITES/staging.yaml" --target "http://$crash_ADDR" --iterations 4
expect_rc crash 1
check_report crash 'status("CDS-REQ-023") == "fail"' \
  'any(f.get("variant") == "prefetch-null" and f.get("http_status") == -1 for f in checks["CDS-REQ-023"]["findings"])' \
  'any("stopped answering" in n and "prefetch-null" in n for n in r["notes"])'
if kill -0 "$crash_PID" 2>/dev/null; then fail "crash: the service should have died"; fi

# a site whose approved services the target does not offer: nothing can be called, so the gate
# fails (CDS-DISC-100) instead of passing with everything skipped — also with --only
sed -e 's/id: sepsis-risk/id: other-model/; s/id: note-drafter/id: other-note/' \
    -e "s#\.\./\.\./\.\./policies#$TOP/policies#g; s#dir: \.\./\.\./\.\./var/audit/conform-staging#dir: $TMP/audit#" \
    "$SITES/staging.yaml" > "$TMP/other.yaml"
start_refsvc other
run_conform nothing --site "$TMP/other.yaml" --target "http://$other_ADDR" --iterations 2
expect_rc nothing 1
check_report nothing 'failing() == ["CDS-DISC-100"]' 'status("CDS-DISC-102") == "warn"'
run_conform nothing_only --site "$TMP/other.yaml" --target "http://$other_ADDR" --only auth
expect_rc nothing_only 1
check_report nothing_only 'failing() == ["CDS-DISC-100"]'
stop_refsvc other

# unreachable target: exit 3, reports still written
port=$(free_port)
run_conform unreachable --site "$SITES/staging.yaml" --target "http://127.0.0.1:$port"
expect_rc unreachable 3
check_report unreachable 'r["verdict"] == "unreachable" and r["exit_code"] == 3'
grep -q "^verdict: UNREACHABLE" "$TMP/unreachable.stdout" || fail "unreachable: verdict line"

# usage and configuration errors: exit 2, one line on stderr
"$CONFORM" run --target http://127.0.0.1:1 >/dev/null 2>"$TMP/u1.err"; [ $? -eq 2 ] || fail "missing --site: exit 2"
"$CONFORM" run --site "$SITES/staging.yaml" --target ftp://x >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad target: exit 2"
"$CONFORM" run --site "$SITES/staging.yaml" --target http://127.0.0.1:1 --ehr cerner >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --ehr: exit 2"
"$CONFORM" run --site "$SITES/staging.yaml" --target http://127.0.0.1:1 --only nothing >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --only: exit 2"
"$CONFORM" run --site "$SITES/staging.yaml" --target http://127.0.0.1:1 --iterations 0 >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --iterations: exit 2"
printf 'version: 1\nsite: {id: Bad Id}\n' > "$TMP/bad.yaml"
"$CONFORM" run --site "$TMP/bad.yaml" --target http://127.0.0.1:1 >/dev/null 2>"$TMP/bad.err"; rc=$?
[ $rc -eq 2 ] || fail "bad policy: exit $rc, expected 2"
grep -q "bad.yaml:" "$TMP/bad.err" || fail "bad policy: the error names the file"
[ "$(wc -l < "$TMP/u1.err")" -eq 1 ] || fail "usage error is one line"
"$CONFORM" --version | grep -q "^ehrgate-conform " || fail "--version"
"$REFSVC" --listen 127.0.0.1:0 --fault explode >/dev/null 2>&1; [ $? -eq 2 ] || fail "refsvc: unknown fault exits 2"
ok "usage errors"

no_canary "$TMP"/*.log "$TMP"/*.stdout "$TMP"/*.stderr
finish
