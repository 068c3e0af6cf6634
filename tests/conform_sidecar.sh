#!/usr/bin/env bash
# ehrgate-conform through ehrgate-sidecar (the demo site policy, on free ports): the sidecar in
# front of the reference service passes every MUST check, and it turns a service fault into a
# pass — an unapproved suggestion is stripped, forged tokens are refused by the sidecar even when
# the service ignores JWTs. Logs carry no PHI canary.
. "$(dirname "$0")/../conformance/testlib.sh"

SIDECAR=$BIN/ehrgate-sidecar
ports=()
for _ in 1 2 3; do ports+=("$(free_port)"); done

# run_behind NAME [refsvc args...]: refsvc behind a sidecar configured by the demo policy
run_behind() {
  local name=$1; shift
  start_refsvc "$name" --jwks none "$@"
  local addr_var="${name}_ADDR"
  sed -e "s#127.0.0.1:8710#127.0.0.1:${ports[0]}#g; s#127.0.0.1:8711#127.0.0.1:${ports[1]}#g" \
      -e "s#127.0.0.1:8712#127.0.0.1:${ports[2]}#g; s#http://127.0.0.1:8720#http://${!addr_var}#g" \
      -e "s#\.\./keys/#$TOP/policies/keys/#g; s#dir: \.\./\.\./var/audit/demo-general#dir: $TMP/audit-$name#" \
      "$TOP/policies/sites/demo.yaml" > "$TMP/$name.yaml"
  "$SIDECAR" --site "$TMP/$name.yaml" 2>>"$TMP/$name-sidecar.log" &
  local sc=$!
  PIDS+=("$sc")
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:${ports[2]}/readyz" >/dev/null 2>&1 && break
    kill -0 "$sc" 2>/dev/null || break
    sleep 0.1
  done
  run_conform "$name" --site "$TMP/$name.yaml" --target "http://127.0.0.1:${ports[0]}" --iterations 10
  kill "$sc" 2>/dev/null; wait "$sc" 2>/dev/null
  stop_refsvc "$name"
}

run_behind plain
expect_rc plain 0
check_report plain 'failing() == []' 'status("CDS-AUTH-029") == "pass" and status("CDS-LAT-142") == "pass"' \
  'len(r["latency"]) == 3 and all(l["errors"] == 0 for l in r["latency"])'

# the service suggests a MedicationRequest the site never approved: the sidecar strips it
run_behind strip --fault unapproved-action
expect_rc strip 0
check_report strip 'status("POLICY-ACTION-CREATE") == "pass"'

# the service ignores JWTs: the sidecar still refuses every forgery
run_behind forge --fault ignore-jwt
expect_rc forge 0
check_report forge 'all(status(i) == "pass" for i in ("CDS-AUTH-027","CDS-AUTH-029","CDS-AUTH-030","CDS-AUTH-033","CDS-AUTH-036","CDS-AUTH-037"))'

no_canary "$TMP"/*.log "$TMP"/*.stdout "$TMP"/*.stderr
finish
