#!/usr/bin/env bash
# ehrgate-audit end to end: keygen, append, verify (blind/full/pinned), show with filters, export,
# stats, rewrap, heartbeats (and a heartbeat gap made real with SIGSTOP), error exits, and no
# record data on stderr. Uses $EHRGATE_BIN/ehrgate-audit; everything in its own temp dir.
set -u
B="${EHRGATE_BIN:?}/ehrgate-audit"
T=$(mktemp -d /tmp/ehrgate-audit-cli-XXXXXX)
ERR="$T/stderr.all"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
# run CMD...: stdout to $T/out, stderr appended to $ERR (and $T/err), exit code in $rc
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; cat "$T/err" >>"$ERR"; }
expect_rc() { [ "$rc" = "$1" ] && ok "$2 (exit $rc)" || { fail "$2: exit $rc, wanted $1"; cat "$T/out" "$T/err" | head -20; }; }
one_line_err() { [ "$(wc -l <"$T/err")" = 1 ] && ok "$1: one line on stderr" || { fail "$1: stderr not one line"; cat "$T/err"; }; }

K="$T/keys"; L="$T/log"
# --- keygen -----------------------------------------------------------------------------------
run "$B" keygen --out "$K"; expect_rc 0 "keygen"
for f in reviewer.key signer.key index.key; do
  [ "$(stat -c %a "$K/$f")" = 600 ] && ok "$f is 0600" || fail "$f mode $(stat -c %a "$K/$f")"
done
for f in reviewer.pub signer.pub; do [ -s "$K/$f" ] && ok "$f written" || fail "$f missing"; done
before=$(cat "$K"/* | sha256sum)
run "$B" keygen --out "$K"; expect_rc 2 "keygen refuses to overwrite"; one_line_err "keygen overwrite"
[ "$(cat "$K"/* | sha256sum)" = "$before" ] && ok "keys unchanged" || fail "keys changed without --force"
run "$B" keygen --out "$T/k2"; expect_rc 0 "second key set"
run "$B" keygen --out "$T/k3"; expect_rc 0 "third key set"
run "$B" keygen --out "$T/k3" --force; expect_rc 0 "keygen --force"

# --- append ---------------------------------------------------------------------------------------
cat >"$T/in.jsonl" <<'EOF'
{"event":"hook-call","hook":"patient-view","service":"sepsis-risk","decision":"allow","rid":"r1","patient":"Patient/123","user":"Practitioner/dr-a","status":200}
{"event":"fhir-read","interaction":"read","resource":"Observation/9","decision":"allow","rid":"r2","patient":"Patient/123","status":200}
{"event":"fhir-read","interaction":"read","resource":"Condition/4","decision":"deny","rules":["fhir.read.Condition"],"rid":"r3","patient":"Patient/456","status":403}
{"event":"fhir-write","interaction":"create","resource":"DocumentReference/7","decision":"allow","rid":"r4","patient":"Patient/456","user":"Practitioner/dr-b","status":201}
{"event":"egress","decision":"redact","rid":"r5","patient":"Patient/123","status":200}
EOF
run "$B" append "$L" --signer "$K/signer.key" --recipient "$K/reviewer.pub" --index-key "$K/index.key" --fsync always <"$T/in.jsonl"
expect_rc 0 "append 5 records"
# Five seqs, strictly increasing, starting after the segment-open frames. Group commit decides
# where batches end and each batch's checkpoint also takes a seq, so gaps depend on timing.
python3 -c '
import sys
s=[int(x) for x in open(sys.argv[1]).read().split()]
assert len(s)==5 and s[0]==3 and all(b>a for a,b in zip(s,s[1:])), s
' "$T/out" && ok "seqs printed once durable" || fail "seqs: $(cat "$T/out")"
run "$B" append "$L" --signer "$K/signer.key" --recipient "$K/reviewer.pub" --index-key "$K/index.key" <<<'not json'
expect_rc 2 "append refuses a non-JSON line"; one_line_err "append bad line"

# stdin split anywhere: the same records written one byte per write(2) give the same result
python3 -c '
import os, sys, time
data = b"".join(open(sys.argv[1], "rb").readlines()[:3])
for i in range(len(data)):
    os.write(1, data[i:i + 1])
    if i % 97 == 0: time.sleep(0.002)
' "$T/in.jsonl" | "$B" append "$T/bytewise" --signer "$K/signer.key" --recipient "$K/reviewer.pub" >"$T/out" 2>>"$ERR"
# (each record may get its own batch, whose checkpoint also takes a seq: check order, not values)
python3 -c 'import sys; v=[int(x) for x in open(sys.argv[1]).read().split()]; sys.exit(0 if len(v)==3 and v==sorted(set(v)) and v[0]==3 else 1)' "$T/out" \
  && ok "byte-at-a-time stdin" || fail "byte-at-a-time stdin: $(cat "$T/out")"
run "$B" show "$T/bytewise" --key "$K/reviewer.key"
python3 -c '
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
want = [json.loads(l) for l in open(sys.argv[2]).readlines()[:3]]
for g in got: g.pop("seq"); g.pop("time")
sys.exit(0 if got == want else 1)' "$T/out" "$T/in.jsonl" && ok "byte-at-a-time records intact" \
  || { fail "byte-at-a-time records differ"; cat "$T/out"; }

# --- verify ---------------------------------------------------------------------------------------
run "$B" verify "$L"; expect_rc 0 "blind verify"
grep -q '^5/5 records valid$' "$T/out" && ok "5/5 records valid" || { fail "record count"; cat "$T/out"; }
grep -q 'segments valid$' "$T/out" && grep -q 'checkpoints valid$' "$T/out" && ok "validate-logs style counts" || fail "counts missing"
run "$B" verify "$L" --full --key "$K/reviewer.key"; expect_rc 0 "full verify"
run "$B" verify "$L" --signer-pub "$K/signer.pub"; expect_rc 0 "verify with the pinned signer"
run "$B" verify "$L" --signer-pub "$T/k2/signer.pub"; expect_rc 1 "verify against another signer"
grep -q '^INVALID: SIGNER_MISMATCH segment 1 ' "$T/out" && ok "SIGNER_MISMATCH reported" || { fail "no SIGNER_MISMATCH"; cat "$T/out"; }
run "$B" verify "$L" --full --key "$T/k2/reviewer.key"; expect_rc 1 "full verify with a wrong key"
grep -q 'KEY_UNSEAL_FAILED' "$T/out" && ok "wrong key named" || fail "wrong key not named"
run "$B" verify "$T/nope"; expect_rc 2 "verify missing dir"; one_line_err "verify missing dir"

# --- show -----------------------------------------------------------------------------------------
run "$B" show "$L" --key "$K/reviewer.key"; expect_rc 0 "show"
[ "$(wc -l <"$T/out")" = 5 ] && ok "show prints 5 records" || fail "show count $(wc -l <"$T/out")"
python3 -c '
import json,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
seqs=[r["seq"] for r in rows]
assert len(seqs)==5 and seqs[0]==3 and all(b>a for a,b in zip(seqs,seqs[1:])), rows
assert all(r["time"].endswith("Z") and len(r["time"])==24 for r in rows)
assert rows[2]["decision"]=="deny" and rows[2]["rules"]==["fhir.read.Condition"]
' "$T/out" && ok "show JSON carries seq, time and the payload" || fail "show JSON"
run "$B" show "$L" --key "$K/reviewer.key" --patient Patient/456; expect_rc 0 "show --patient"
[ "$(grep -c '"patient":"Patient/456"' "$T/out")" = 2 ] && [ "$(wc -l <"$T/out")" = 2 ] && ok "patient filter (index)" || fail "patient filter: $(cat "$T/out")"
run "$B" show "$L" --key "$K/reviewer.key" --decision deny --scan; expect_rc 0 "show --decision --scan"
[ "$(wc -l <"$T/out")" = 1 ] && grep -q '"rid":"r3"' "$T/out" && ok "decision filter (scan)" || fail "decision filter"
run "$B" show "$L" --key "$K/reviewer.key" --since 2000-01-01 --until 2000-12-31; expect_rc 0 "show time range"
[ ! -s "$T/out" ] && ok "time filter excludes everything in 2000" || fail "time filter"
run "$B" show "$L" --key "$T/k2/reviewer.key"; expect_rc 2 "show with a wrong key"; one_line_err "show wrong key"
grep -q 'wrong key' "$T/err" && ok "says wrong key" || fail "wrong key message: $(cat "$T/err")"
run "$B" show "$L" --key "$K/signer.key"; expect_rc 2 "show with a signer key"; one_line_err "show signer key"
run "$B" show "$T/nope" --key "$K/reviewer.key"; expect_rc 2 "show missing dir"; one_line_err "show missing dir"

# --- export -----------------------------------------------------------------------------------------
run "$B" export "$L" --key "$K/reviewer.key" --format auditevent; expect_rc 0 "export auditevent"
python3 -c '
import json,sys
evs=[json.loads(l) for l in open(sys.argv[1])]
assert len(evs)==5
for e in evs:
    assert e["resourceType"]=="AuditEvent" and e["recorded"] and e["type"]["code"]
    assert any(a["requestor"] for a in e["agent"]) and all(isinstance(a["requestor"],bool) for a in e["agent"])
    assert "observer" in e["source"]
p=[(e.get("meta",{}).get("profile",[None])[0] or "").rsplit(".",1)[-1] for e in evs]
assert p[:2]==["PatientRead","PatientRead"], p
assert evs[2]["outcome"]=="4" and "meta" not in evs[2], evs[2]
assert p[3]=="PatientCreate" and evs[3]["action"]=="C"
' "$T/out" && ok "AuditEvent fields and BALP profiles" || fail "export content"

# --- stats ----------------------------------------------------------------------------------------
run "$B" stats "$L" --index-key "$K/index.key"; expect_rc 0 "stats with index key"
grep -q '^records: 5$' "$T/out" && grep -q 'allow=3' "$T/out" && grep -q 'deny=1' "$T/out" && grep -q 'redact=1' "$T/out" \
  && ok "stats decisions from the blind index" || { fail "stats"; cat "$T/out"; }
run "$B" stats "$L"; expect_rc 0 "stats without keys"
grep -q 'decisions: unknown' "$T/out" && ok "no key, no decisions" || fail "stats leaked decisions without a key"

# --- corrupt file ---------------------------------------------------------------------------------
cp -r "$L" "$T/bad"
# flip one bit in the middle of segment 1 (its length depends on how group commit batched)
python3 -c '
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x01; open(p, "wb").write(b)
' "$T/bad/00000001.log"
run "$B" verify "$T/bad"; expect_rc 1 "verify a corrupted log"
grep -q '^INVALID: ' "$T/out" && ok "problem line printed" || fail "no INVALID line"
run "$B" show "$T/bad" --key "$K/reviewer.key"; expect_rc 2 "show a corrupted log"; one_line_err "show corrupt"

# --- rewrap -------------------------------------------------------------------------------------------
sum=$(sha256sum "$L/00000001.log" | cut -d' ' -f1)
run "$B" rewrap "$L" --key "$K/reviewer.key" --recipient "$T/k3/reviewer.pub"; expect_rc 0 "rewrap"
[ "$(sha256sum "$L/00000001.log" | cut -d' ' -f1)" = "$sum" ] && ok "records untouched by rewrap" || fail "rewrap changed the log"
run "$B" show "$L" --key "$T/k3/reviewer.key"; expect_rc 0 "new reviewer reads"
run "$B" show "$L" --key "$K/reviewer.key"; expect_rc 2 "old reviewer no longer reads"
run "$B" verify "$L"; expect_rc 0 "verify after rewrap"

# --- heartbeats -----------------------------------------------------------------------------------
hb_run() {  # hb_run DIR STOP_SECONDS
  local d=$1 stop=$2 fifo="$T/fifo.$RANDOM"
  mkfifo "$fifo"
  "$B" append "$d" --signer "$K/signer.key" --recipient "$K/reviewer.pub" --heartbeat 1 --fsync batch <"$fifo" >/dev/null 2>>"$ERR" &
  local apid=$!; pids+=("$apid")
  exec 7>"$fifo"
  echo '{"event":"hook-call","decision":"allow"}' >&7
  sleep 0.3
  if [ "$stop" != 0 ]; then kill -STOP "$apid"; sleep "$stop"; kill -CONT "$apid"; else sleep 3.5; fi
  sleep 0.3
  echo '{"event":"hook-call","decision":"allow"}' >&7
  exec 7>&-
  wait "$apid"
}
hb_run "$T/hb-ok" 0
run "$B" verify "$T/hb-ok"; expect_rc 0 "idle writer keeps heartbeats"
run "$B" stats "$T/hb-ok"; grep -Eq 'checkpoints: [0-9]+ \(([2-9]|[1-9][0-9]+) heartbeats\)' "$T/out" && ok "heartbeat checkpoints written" || { fail "heartbeats"; cat "$T/out"; }
hb_run "$T/hb-gap" 3.5
run "$B" verify "$T/hb-gap"; expect_rc 1 "a stopped writer leaves a heartbeat gap"
grep -q '^INVALID: HEARTBEAT_GAP ' "$T/out" && ok "HEARTBEAT_GAP reported" || { fail "no HEARTBEAT_GAP"; cat "$T/out"; }

# --- an independent verifier written from docs/audit-format.md agrees ------------------------------
if python3 -c 'import cryptography' 2>/dev/null; then
  REF="${EHRGATE_TOP:-$(cd "$(dirname "$0")/.." && pwd)}/fixtures/audit/refverify.py"
  run python3 "$REF" --selftest; expect_rc 0 "reference verifier RFC 9162 self-test"
  run python3 "$REF" "$L"; expect_rc 0 "reference verifier accepts the log"
  run python3 "$REF" "$T/hb-ok"; expect_rc 0 "reference verifier accepts the heartbeat log"
  run python3 "$REF" "$T/bad"; expect_rc 1 "reference verifier rejects the corrupted log"
  cp -r "$L" "$T/spliced"; cp "$T/hb-ok/00000001.log" "$T/spliced/00000002.log"
  cp "$T/hb-ok/00000001.keys" "$T/spliced/00000002.keys"; cp "$T/hb-ok/00000001.idx" "$T/spliced/00000002.idx"
  run python3 "$REF" "$T/spliced"; expect_rc 1 "reference verifier rejects a spliced segment"
  run "$B" verify "$T/spliced"; expect_rc 1 "ehrgate-audit rejects the spliced segment"
  grep -q 'SEGMENT_NUMBER\|SEGMENT_FOREIGN' "$T/out" && ok "splice named" || { fail "splice code"; cat "$T/out"; }
else
  echo "skip: python3-cryptography missing, reference verifier not run"
fi

# --- no record data on stderr -------------------------------------------------------------------
if grep -q 'Patient/' "$ERR"; then fail "record data on stderr"; grep 'Patient/' "$ERR" | head -3; else ok "no patient reference on stderr"; fi

echo "audit_cli: $fails failure(s)"
[ "$fails" = 0 ]
