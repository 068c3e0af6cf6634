#!/usr/bin/env bash
# Integration test of `ehrgate-sidecar --check` (foundation items 6-7): the demo policy passes
# with its one-line summary; every fixtures/policies/bad/*.yaml exits 2 and prints exactly its
# .expect text on stderr; every good fixture exits 0 with its .summary / .expect; a policy over
# the 256 KiB limit is refused; --site refuses a bad policy with the same errors (running a good
# one is covered by tests/sidecar_ingress_test.c).
set -u
top=${EHRGATE_TOP:?EHRGATE_TOP not set}
bin=${EHRGATE_BIN:?EHRGATE_BIN not set}/ehrgate-sidecar
cd "$top"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
today=2026-11-23
n_bad=0

check() { # name expected-rc expected-stdout-file expected-stderr-file args...
  local name=$1 want_rc=$2 want_out=$3 want_err=$4 rc
  shift 4
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" != "$want_rc" ]; then
    echo "FAIL $name: exit $rc, expected $want_rc"; cat "$tmp/err"; fail=1; return
  fi
  if [ -n "$want_out" ] && ! diff -u "$want_out" "$tmp/out"; then
    echo "FAIL $name: stdout differs"; fail=1; return
  fi
  if [ -n "$want_err" ] && ! diff -u "$want_err" "$tmp/err"; then
    echo "FAIL $name: stderr differs"; fail=1; return
  fi
  echo "ok   $name"
}

# The demo policy: exit 0, the summary line, one note for the approval expiring in 17 days.
printf 'policy OK: demo-general, 2 services, 5 egress routes, 1 approval expiring within 30 days\n' >"$tmp/demo.out"
printf 'note: policies/sites/demo.yaml:37:15: services[1].approval: expires 2026-12-10, in 17 days (CIC-2026-042)\n' >"$tmp/demo.err"
check demo 0 "$tmp/demo.out" "$tmp/demo.err" --check policies/sites/demo.yaml --today $today
# Run from another directory: relative paths in the policy are relative to the policy file.
( cd "$tmp" && "$bin" --check "$top/policies/sites/demo.yaml" --today $today >/dev/null 2>&1 ) \
  && echo "ok   demo-from-elsewhere" || { echo "FAIL demo-from-elsewhere"; fail=1; }

: >"$tmp/empty"
for f in fixtures/policies/bad/*.yaml; do
  check "$f" 2 "$tmp/empty" "${f%.yaml}.expect" --check "$f" --today $today
  n_bad=$((n_bad + 1))
done
if [ $n_bad -lt 30 ]; then echo "FAIL only $n_bad bad fixtures"; fail=1; fi

for f in fixtures/policies/good/*.yaml; do
  check "$f" 0 "${f%.yaml}.summary" "${f%.yaml}.expect" --check "$f" --today $today
done

# Over the size limit: the demo padded past 256 KiB (generated, not committed).
big="$tmp/big.yaml"
cp policies/sites/demo.yaml "$big"
head -c 300000 /dev/zero | tr '\0' 'x' | sed 's/^/# /' >>"$big"
echo >>"$big"
size=$(stat -c %s "$big")
printf '%s: policy file is %s bytes; the limit is 262144 bytes (256 KiB)\n' "$big" "$size" >"$tmp/big.err"
check over-size 2 "$tmp/empty" "$tmp/big.err" --check "$big"

check site-bad-policy 2 "$tmp/empty" fixtures/policies/bad/05-bad-ehr.expect --site fixtures/policies/bad/05-bad-ehr.yaml

# Usage errors exit 2 with one line.
for args in "" "--check" "--bogus x" "--check a --site b" "--site policies/sites/demo.yaml --today 2026-11-23" "--check x --today 2026-02-30"; do
  # shellcheck disable=SC2086
  "$bin" $args >/dev/null 2>"$tmp/err"; rc=$?
  if [ $rc = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ]; then echo "ok   usage: '$args'"; else echo "FAIL usage '$args' rc=$rc"; cat "$tmp/err"; fail=1; fi
done
"$bin" --help | grep -q -- '--check POLICY' && echo "ok   --help" || { echo "FAIL --help"; fail=1; }

# Unreadable policy.
printf 'fixtures/policies/nope.yaml: cannot read: No such file or directory\n' >"$tmp/nope.err"
check missing-file 2 "$tmp/empty" "$tmp/nope.err" --check fixtures/policies/nope.yaml

echo "bad fixtures: $n_bad"
exit $fail
