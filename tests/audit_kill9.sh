#!/usr/bin/env bash
# Crash consistency (DESIGN.md §3.2: "a record acknowledged is durable"): `ehrgate-audit append
# --fsync always` is fed records without end and killed with SIGKILL at random moments, KILLS
# times. Each run records the seqs it acknowledged. Each restart must recover (RECOVERY record),
# and at the end: blind and full verification pass, every crash is reported as a recovery, and
# every acknowledged seq is present, decryptable and holds the record that was sent for it.
set -u
B="${EHRGATE_BIN:?}/ehrgate-audit"
KILLS=${KILLS:-30}
T=$(mktemp -d /tmp/ehrgate-audit-kill9-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
"$B" keygen --out "$T/k" >/dev/null || { echo "FAIL: keygen"; exit 1; }
L="$T/log"
RANDOM=4242

for run in $(seq 1 "$KILLS"); do
  fifo="$T/fifo.$run"
  mkfifo "$fifo"
  "$B" append "$L" --signer "$T/k/signer.key" --recipient "$T/k/reviewer.pub" --index-key "$T/k/index.key" \
    --fsync always <"$fifo" >"$T/acks.$run" 2>"$T/err.$run" &
  apid=$!; pids+=("$apid")
  # record n of run r is {"run":r,"n":n,...}; the k-th acknowledged seq belongs to n = k-1
  awk -v r="$run" 'BEGIN { for (n = 0; n < 2000000; n++) printf "{\"event\":\"fhir-read\",\"decision\":\"allow\",\"run\":%d,\"n\":%d,\"patient\":\"Patient/%d\"}\n", r, n, n % 97 }' >"$fifo" 2>/dev/null &
  gpid=$!; pids+=("$gpid")
  # a random moment between 20 and 300 ms
  sleep "0.$(printf '%03d' $((20 + RANDOM % 280)))"
  kill -9 "$apid" 2>/dev/null
  wait "$apid" 2>/dev/null
  st=$?
  kill "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null
  rm -f "$fifo"
  if [ "$st" != 137 ]; then echo "FAIL: run $run ended with $st before the kill: $(cat "$T/err.$run")"; exit 1; fi
done

acked=$(cat "$T"/acks.* | wc -l)
echo "kills: $KILLS, acknowledged records: $acked"
[ "$acked" -gt 0 ] || { echo "FAIL: nothing was acknowledged"; exit 1; }

# The next writer recovers the last crash too; then the log must be complete and closed.
"$B" append "$L" --signer "$T/k/signer.key" --recipient "$T/k/reviewer.pub" --index-key "$T/k/index.key" </dev/null >/dev/null \
  || { echo "FAIL: writer did not reopen after the last crash"; exit 1; }
"$B" verify "$L" >"$T/verify.out"; rc=$?
tail -n +1 "$T/verify.out" | grep -v '^RECOVERY' | head -20
[ $rc = 0 ] || { echo "FAIL: blind verify exit $rc"; grep INVALID "$T/verify.out" | head; exit 1; }
# Every segment after the first was opened after a crash, so each must carry a RECOVERY; a
# kill that landed before a run created its segment is covered by the next run's RECOVERY.
nrec=$(grep -c '^RECOVERY: ' "$T/verify.out")
nseg=$(sed -n 's|^\([0-9]*\)/\([0-9]*\) segments valid$|\2|p' "$T/verify.out")
runs_acked=$(for f in "$T"/acks.*; do [ -s "$f" ] && echo; done | wc -l)
echo "segments: $nseg, recoveries reported: $nrec, runs that acknowledged records: $runs_acked"
# (segment 1 itself carries one when the very first run died before its segment was complete)
[ "$nrec" -ge $((nseg - 1)) ] && [ "$nrec" -le "$nseg" ] || { echo "FAIL: $nseg segments but $nrec recoveries"; exit 1; }
[ "$nrec" -ge "$runs_acked" ] || { echo "FAIL: $runs_acked crashed runs wrote records but only $nrec recoveries"; exit 1; }
"$B" verify "$L" --full --key "$T/k/reviewer.key" >"$T/full.out" || { echo "FAIL: full verify"; grep INVALID "$T/full.out" | head; exit 1; }

# The independent verifier written from docs/audit-format.md must agree (recoveries included).
if python3 -c 'import cryptography' 2>/dev/null; then
  python3 "${EHRGATE_TOP:-$(cd "$(dirname "$0")/.." && pwd)}/fixtures/audit/refverify.py" "$L" || { echo "FAIL: reference verifier"; exit 1; }
fi
"$B" show "$L" --key "$T/k/reviewer.key" >"$T/all.jsonl" || { echo "FAIL: show"; exit 1; }
python3 - "$T" "$KILLS" <<'EOF' || exit 1
import json, sys
t, kills = sys.argv[1], int(sys.argv[2])
rows = {}
for line in open(t + "/all.jsonl"):
    r = json.loads(line)
    rows[r["seq"]] = r
missing = 0
checked = 0
for run in range(1, kills + 1):
    # An acknowledgement is a complete line: the writer prints a batch's seqs after its
    # fdatasync, and a kill while stdio flushes them can cut the last line short ("3" of
    # "312345"); such a torn line acknowledges nothing.
    text = open("%s/acks.%d" % (t, run)).read()
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]
    acks = [int(x) for x in lines if x]
    for k, seq in enumerate(acks):
        r = rows.get(seq)
        checked += 1
        if r is None or r.get("run") != run or r.get("n") != k:
            missing += 1
            if missing < 5:
                print("FAIL: acknowledged seq %d (run %d, n %d) is %s" % (seq, run, k, "missing" if r is None else "another record"))
print("acknowledged records checked: %d, missing or wrong: %d, records in log: %d" % (checked, missing, len(rows)))
sys.exit(1 if missing else 0)
EOF
echo "audit_kill9: ok"
