#!/usr/bin/env bash
# ehrgate-conform against the reference service: every MUST check passes with each EHR profile
# (generic staging and production, epic, oracle-health, harness-served JWKS via jku); the JUnit
# file parses as XML with one testcase per check; logs carry no PHI canary.
. "$(dirname "$0")/../conformance/testlib.sh"

start_refsvc svc
ncheck=$("$CONFORM" checks --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')

# 1. generic profile, staging
run_conform staging --site "$SITES/staging.yaml" --target "http://$svc_ADDR" --iterations 20 --concurrency 4
expect_rc staging 0
grep -q "^verdict: PASS" "$TMP/staging.stdout" || fail "staging: no PASS verdict line"
grep -q "^report: .*/staging/report.html" "$TMP/staging.stdout" || fail "staging: no report path line"
check_report staging \
  'r["verdict"] == "pass" and r["exit_code"] == 0' \
  'failing() == []' \
  'status("CDS-AUTH-031") == "pass" and status("CDS-AUTH-029") in ("pass",) and status("CDS-AUTH-036") == "pass"' \
  'status("CDS-REQ-022") == "pass" and status("CDS-REQ-122") == "pass" and status("CDS-REQ-023") == "pass"' \
  '"followed" in checks["CDS-REQ-025"].get("note", "")' \
  'status("CDS-HTTP-041") == "pass" and status("CDS-FB-060") == "pass" and status("CDS-HTTP-043") == "pass"' \
  'status("CDS-CARD-044") == "pass" and checks["CDS-CARD-044"]["evaluations"] >= 60' \
  'status("CDS-HTTP-001") == "warn"' \
  'len(r["fhir_calls"]) > 0 and all(c["token_ok"] and c["in_scope"] for c in r["fhir_calls"])' \
  'sorted((l["service"], l["hook"]) for l in r["latency"]) == [("note-drafter","encounter-discharge"),("sepsis-risk","order-select"),("sepsis-risk","patient-view")]' \
  'all(l["calls"] == 20 and l["errors"] == 0 and l["p50_ms"] <= l["p95_ms"] <= l["p99_ms"] <= l["max_ms"] and len(l["samples_ms"]) == 20 for l in r["latency"])' \
  'any(e["variant"] == "no-data-no-fhir-access" and e["status"] == 412 for e in r["exchanges"])' \
  'any(e["variant"] == "alg-none" and e["status"] == 401 for e in r["exchanges"])'
python3 - "$TMP/staging/junit.xml" "$ncheck" <<'PY' || fail "staging: junit.xml"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.findall(".//testcase")
assert root.tag == "testsuites", root.tag
assert len(cases) == int(sys.argv[2]), (len(cases), sys.argv[2])
assert int(root.get("failures")) == 0
assert not root.findall(".//failure")
assert len(root.findall("testsuite")) == 8
PY
grep -q 'id="verdict"><b>Verdict: PASS</b>' "$TMP/staging/report.html" || fail "staging: report.html verdict"

# 2. production-facing site: the JWT checks are MUST and pass
run_conform production --site "$SITES/production.yaml" --target "http://$svc_ADDR" --iterations 5
expect_rc production 0
check_report production 'checks["CDS-AUTH-029"]["level"] == "MUST" and status("CDS-AUTH-029") == "pass"' \
  'r["site"]["production"] is True'

# 3. epic profile: RS384 tokens with sub/nbf and a 900 s lifetime are accepted
run_conform epic --site "$SITES/epic.yaml" --target "http://$svc_ADDR" --iterations 5
expect_rc epic 0
check_report epic 'r["profile"]["name"] == "epic" and r["profile"]["jwt_alg"] == "RS384"' \
  'status("CDS-AUTH-135") == "pass"' \
  'checks["CDS-AUTH-031"]["weak_evidence"] is True' \
  'any(e["confidence"] == "M" and e["weak"] for e in r["profile"]["evidence"])'

# 4. oracle-health: patient-view only, fixed iss; the service must trust that iss
start_refsvc ora --iss https://cds-hooks.cerner.com --no-app-context
run_conform oracle --site "$SITES/oracle.yaml" --target "http://$ora_ADDR" --iterations 5
expect_rc oracle 0
check_report oracle 'r["jwt_iss"] == "https://cds-hooks.cerner.com"' \
  '[l["hook"] for l in r["latency"]] == ["patient-view"]' \
  'status("CDS-DISC-102") == "warn"' \
  'status("POLICY-LINK-APPCONTEXT") == "pass"'

# 5. the harness publishes the EHR's JWK Set on loopback; the service trusts that URL (jku)
port=$(free_port)
sed -e "s/@PORT@/$port/g" -e "s#@TOP@#$TOP#g" "$SITES/jku.yaml.in" > "$TMP/jku.yaml"
start_refsvc jku --jwks "http://127.0.0.1:$port/.well-known/jwks.json" --iss https://ehr.jku.example
run_conform jku --site "$TMP/jku.yaml" --target "http://$jku_ADDR" --iterations 5
expect_rc jku 0
check_report jku "r['simulated_ehr'] == 'http://127.0.0.1:$port'" 'status("CDS-AUTH-037") == "pass"' \
  'checks["CDS-AUTH-037"]["level"] == "MUST"'

# 6. --only: other groups are skipped with the reason
run_conform only --site "$SITES/staging.yaml" --target "http://$svc_ADDR" --only auth,cards --iterations 5
expect_rc only 0
check_report only 'status("CDS-LAT-142") == "skip" and "not selected" in checks["CDS-LAT-142"]["skip_reason"]' \
  'status("CDS-AUTH-029") == "pass" and status("CDS-CARD-044") == "pass" and status("CDS-REQ-023") == "skip"'

no_canary "$TMP"/*.log "$TMP"/*.stdout "$TMP"/*.stderr
finish
