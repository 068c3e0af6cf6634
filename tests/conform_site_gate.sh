#!/usr/bin/env bash
# ci/site-gate: passes (0) and keeps the three reports as artifacts for a conforming service,
# fails (1) for a misbehaving one, 3 for an unreachable target, 2 for bad usage.
. "$(dirname "$0")/../conformance/testlib.sh"

export EHRGATE_CONFORM=$CONFORM ARTIFACTS_DIR=$TMP/artifacts CONFORM_ITERATIONS=5
start_refsvc good
"$TOP/ci/site-gate" "$SITES/staging.yaml" "http://$good_ADDR" >"$TMP/good.stdout" 2>"$TMP/good.stderr"; rc=$?
[ $rc -eq 0 ] || { fail "good: exit $rc"; cat "$TMP/good.stdout" "$TMP/good.stderr"; }
for f in report.json junit.xml report.html harness.log; do
  [ -s "$ARTIFACTS_DIR/staging/$f" ] || [ "$f" = harness.log ] || fail "good: artifact $f missing"
done
grep -q "site-gate: staging PASSED" "$TMP/good.stdout" || fail "good: PASSED line"

start_refsvc bad --fault unapproved-action
GITHUB_ACTIONS=true "$TOP/ci/site-gate" "$SITES/staging.yaml" "http://$bad_ADDR" -- --only cards >"$TMP/bad.stdout" 2>"$TMP/bad.stderr"; rc=$?
[ $rc -eq 1 ] || fail "bad: exit $rc, expected 1"
grep -q "^::error title=POLICY-ACTION-CREATE::" "$TMP/bad.stdout" || fail "bad: no GitHub annotation for POLICY-ACTION-CREATE"
[ -s "$ARTIFACTS_DIR/staging/junit.xml" ] || fail "bad: junit.xml kept"

port=$(free_port)
"$TOP/ci/site-gate" "$SITES/staging.yaml" "http://127.0.0.1:$port" >"$TMP/down.stdout" 2>&1; rc=$?
[ $rc -eq 3 ] || fail "unreachable: exit $rc, expected 3"
"$TOP/ci/site-gate" "$SITES/staging.yaml" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "usage: exit $rc, expected 2"
"$TOP/ci/site-gate" "$TMP/nope.yaml" "http://127.0.0.1:1" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "missing policy: exit $rc, expected 2"
[ $FAILS -eq 0 ] && ok "site-gate exit codes and artifacts"
no_canary "$TMP"/*.log "$TMP"/*.stdout "$TMP"/*.stderr
finish
