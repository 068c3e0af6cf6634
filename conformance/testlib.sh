# Shell helpers for tests/conform_*.sh (sourced, never run on its own).
# Every server is started on 127.0.0.1 with port 0 and a ready file, in the test's own temp
# directory, and stopped by PID on exit.
set -u
TOP=${EHRGATE_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${EHRGATE_BIN:-$TOP/bin}
CONFORM=$BIN/ehrgate-conform
REFSVC=$BIN/ehrgate-refsvc
SITES=$TOP/fixtures/conformance/sites
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ehrgate-conform-test.XXXXXX")
PIDS=()
FAILS=0

cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  if [ "$FAILS" -eq 0 ]; then rm -rf "$TMP"; else echo "test files kept in $TMP"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

# start_refsvc NAME [refsvc args...]: sets $NAME_ADDR (host:port) and remembers the PID
start_refsvc() {
  local name=$1; shift
  local ready=$TMP/$name.ready
  "$REFSVC" --listen 127.0.0.1:0 --ready-file "$ready" "$@" 2>>"$TMP/$name.log" &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do [ -s "$ready" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if [ ! -s "$ready" ]; then fail "refsvc $name did not start"; cat "$TMP/$name.log"; exit 1; fi
  printf -v "${name}_ADDR" '%s' "$(tr -d '\n' < "$ready")"
  printf -v "${name}_PID" '%s' "$pid"
}

# stop_refsvc NAME: stop one service by its PID
stop_refsvc() {
  local v="${1}_PID" p
  p=${!v}
  kill "$p" 2>/dev/null; wait "$p" 2>/dev/null
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# run_conform NAME [ehrgate-conform run args...]: report in $TMP/NAME; sets RC
run_conform() {
  local name=$1; shift
  "$CONFORM" run --out "$TMP/$name" "$@" >"$TMP/$name.stdout" 2>"$TMP/$name.stderr"
  RC=$?
}

expect_rc() { # NAME WANT
  if [ "$RC" -eq "$2" ]; then ok "$1: exit $RC"; else fail "$1: exit $RC, expected $2"; cat "$TMP/$1.stdout" "$TMP/$1.stderr"; fi
}

# check_report NAME PYTHON-EXPRESSIONS...: each expression is evaluated with r = report.json
check_report() {
  local name=$1; shift
  python3 - "$TMP/$name/report.json" "$@" <<'PY' || fail "$name: report assertions"
import json, sys
r = json.load(open(sys.argv[1]))
checks = {c["id"]: c for c in r["checks"]}
def status(i): return checks[i]["status"]
def failing(): return sorted(i for i, c in checks.items() if c["status"] == "fail")
bad = 0
for expr in sys.argv[2:]:
    try:
        okv = eval(expr)
    except Exception as e:
        okv = False; print("  error in", expr, e)
    if not okv:
        bad += 1
        print("  assertion failed:", expr)
        print("  failing checks:", failing())
sys.exit(1 if bad else 0)
PY
}

# no_canary FILE...: the synthetic patients' family names carry "Zq"; logs must never show them
no_canary() {
  local f
  for f in "$@"; do
    if grep -qE "Zq(orvath|ellington|arnaud|olokov|park|brien|vanderhoek|maldonado|raghunathan|wisniewska|mensah)" "$f" 2>/dev/null; then fail "PHI canary found in $f"; grep -nE "Zq(orvath|ellington|arnaud|olokov|park|brien|vanderhoek|maldonado|raghunathan|wisniewska|mensah)" "$f" | head -3; fi
  done
}

finish() {
  local p f
  # stop every server first, so sanitizer builds print their leak reports, then read the logs
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  PIDS=()
  for f in "$TMP"/*.log "$TMP"/*.stderr; do
    [ -e "$f" ] || continue
    if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$f"; then
      fail "sanitizer report in $f"; grep -m3 -E "ERROR|runtime error" "$f"
    fi
  done
  if [ "$FAILS" -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
  echo "all passed"
  exit 0
}
