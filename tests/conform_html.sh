#!/usr/bin/env bash
# report.html renders in headless Chromium and shows the verdict: PASS for the reference service,
# FAIL (with the failed checks listed first) when it sends malformed cards. The page is
# self-contained: it is opened from disk with networking disabled.
. "$(dirname "$0")/../conformance/testlib.sh"

if ! command -v chromium >/dev/null 2>&1; then
  "$TOP/ci/install-deps" browser >/dev/null 2>&1 || true
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "SKIP: chromium is not installed and 'ci/install-deps browser' could not install it; report.html not rendered"
  exit 0
fi

render() { # FILE -> DOM on stdout
  local profile
  profile=$(mktemp -d "$TMP/chromium.XXXXXX")
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --dump-dom "file://$1" 2>/dev/null
}

start_refsvc good
run_conform good --site "$SITES/staging.yaml" --target "http://$good_ADDR" --iterations 10
expect_rc good 0
render "$TMP/good/report.html" > "$TMP/good.dom"
grep -q 'Verdict: PASS' "$TMP/good.dom" || fail "good: rendered page does not show 'Verdict: PASS'"
grep -q '<svg' "$TMP/good.dom" || fail "good: no latency chart in the rendered page"
grep -q 'Conformance Test Hospital (staging)' "$TMP/good.dom" || fail "good: site name missing"

start_refsvc bad --fault bad-cards
run_conform bad --site "$SITES/staging.yaml" --target "http://$bad_ADDR" --iterations 10
expect_rc bad 1
render "$TMP/bad/report.html" > "$TMP/bad.dom"
grep -q 'Verdict: FAIL' "$TMP/bad.dom" || fail "bad: rendered page does not show 'Verdict: FAIL'"
python3 - "$TMP/bad.dom" <<'PY' || fail "bad: failed checks are not listed first with rule and fix"
import sys
d = open(sys.argv[1]).read()
v, f, w = d.index("Verdict: FAIL"), d.index('id="failed"'), d.index('id="warnings"')
assert v < f < w
sect = d[f:w]
for cid in ("CDS-CARD-044", "CDS-CARD-045", "CDS-CARD-046"):
    assert cid in sect, cid
assert "How to fix:" in sect and "Rule:" in sect
PY
[ -s "$TMP/bad.dom" ] && ok "rendered with $(chromium --version 2>/dev/null | head -1)"
finish
