#!/usr/bin/env python3
"""Build the CDS Hooks patient-view requests ci/bench-sidecar sends (docs/PERFORMANCE.md).

From every synthetic patient in fixtures/patients/ (FHIR R4 collection Bundles) this writes
four request bodies of different sizes, all with the prefetch a sepsis service asks for:
  large  as full, plus the separate "vitals" query a sepsis template also makes
         (category=vital-signs&_count=30: overlapping Observations, as real prefetch does)
  full   patient, every Observation (searchset Bundle), Conditions, MedicationRequests
  half   patient, the newest half of the Observations, Conditions, MedicationRequests
  small  patient, the newest 5 Observations, Conditions
The MedicationRequest key is not approved for the benchmark service, so the sidecar's prefetch
minimisation removes it (real work on every request). Patients without Observations give
bodies under the 5 KB the issue asks for and are skipped. Every body is the same for all four
measured configurations. Usage: make_requests.py FIXTURES_DIR OUT_DIR  -> OUT_DIR/list.txt
"""
import json
import os
import sys
import uuid


def searchset(resources):
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": "https://fhir.demo.example/r4/%s/%s" % (r["resourceType"], r["id"]),
                       "resource": r, "search": {"mode": "match"}} for r in resources]}


def category(r):
    return [c["code"] for cat in r.get("category", []) for c in cat.get("coding", [])]


def request(pid, tag, patient, obs, conds, meds, enc, split=False):
    pre = {"patient": patient, "observations": searchset(obs), "conditions": searchset(conds)}
    if split:
        pre["vitals"] = searchset([r for r in obs if "vital-signs" in category(r)][:30])  # &_count=30
    if meds is not None:
        pre["medications"] = searchset(meds)
    ctx = {"userId": "Practitioner/bench-user", "patientId": pid}
    if enc:
        ctx["encounterId"] = enc
    # hookInstance: a fixed-seed UUID per body (CDS Hooks 2.0: a UUID for this hook call)
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, pid + tag)),
            "fhirServer": "https://fhir.demo.example/r4", "context": ctx, "prefetch": pre}


def main():
    fixtures, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    paths, sizes = [], []
    for name in sorted(os.listdir(fixtures)):
        if not (name.startswith("pat-") and name.endswith(".json")):
            continue
        bundle = json.load(open(os.path.join(fixtures, name)))
        by = {}
        for e in bundle["entry"]:
            by.setdefault(e["resource"]["resourceType"], []).append(e["resource"])
        patient = by["Patient"][0]
        pid = patient["id"]
        obs = sorted(by.get("Observation", []), key=lambda r: r.get("effectiveDateTime", ""), reverse=True)
        conds, meds = by.get("Condition", []), by.get("MedicationRequest", [])
        enc = by["Encounter"][0]["id"] if by.get("Encounter") else None
        if not obs:
            continue
        variants = [("large", obs, meds, True), ("full", obs, meds, False),
                    ("half", obs[: (len(obs) + 1) // 2], meds, False), ("small", obs[:5], None, False)]
        for tag, o, m, split in variants:
            body = json.dumps(request(pid, tag, patient, o, conds, m, enc, split), separators=(",", ":"))
            p = os.path.join(out, "%s-%s.json" % (pid, tag))
            with open(p, "w") as f:
                f.write(body)
            paths.append(p)
            sizes.append(len(body))
    with open(os.path.join(out, "list.txt"), "w") as f:
        f.write("\n".join(paths) + "\n")
    print("bodies=%d min_kb=%.1f mean_kb=%.1f max_kb=%.1f" % (len(sizes), min(sizes) / 1024,
          sum(sizes) / len(sizes) / 1024, max(sizes) / 1024))


if __name__ == "__main__":
    main()
