#!/usr/bin/env bash
# Integration test of the independent PHI corpus (fixtures/phi_indep/gen.py, README there).
# Checks the corpus, never the scanner: recall is reported by ci/phi-eval, not gated here.
#  1. gen.py is deterministic for a seed (byte-identical output, also under another
#     PYTHONHASHSEED) and different seeds give different corpora; --count is honoured.
#  2. Every record is well formed; kind=json bodies parse as JSON, kind=form bodies as
#     application/x-www-form-urlencoded; PHI records carry a FHIR R4 Patient context.
#  3. Every label lies inside the body on UTF-8 character boundaries, labels do not overlap,
#     types/categories are the documented ones, variant names fit ehrgate-phi-eval (<= 23 chars,
#     < 256 type/variant pairs at the default size).
#  4. Re-derivation: the labelled bytes, decoded through the encodings the generator applied
#     (JSON string escaping, form percent-encoding, base64; manifest.jsonl), equal the surface
#     text the generator meant to write.
#  5. Every "known" label is a value of the context patient (name parts, phone digits, MRN,
#     birth date, city, ZIP, ...); pattern identifiers have valid shapes (VIN check digit, MBI
#     layout, SSN ranges, ages over 89).
#  6. Benign records have no labels, no calendar dates, and none of the context patient's values.
#  7. ehrgate-phi-eval reads the corpus: request counts match and it counts every label.
#  8. The validator itself fails on a corpus with one label shifted by one byte and on one with a
#     benign record carrying a date (so the checks above can fail).
set -u
top=${EHRGATE_TOP:?EHRGATE_TOP not set}
bin=${EHRGATE_BIN:?EHRGATE_BIN not set}
cd "$top"
gen=fixtures/phi_indep/gen.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
say() { echo "$*"; }
bad() { echo "FAIL: $*"; fail=1; }

command -v python3 >/dev/null || { echo "FAIL: python3 not found"; exit 1; }

# --- 1. determinism and --count ---------------------------------------------------------------
python3 "$gen" --out "$tmp/a" --seed 11 --count 200 --manifest || bad "gen.py seed 11 failed"
PYTHONHASHSEED=123 python3 "$gen" --out "$tmp/b" --seed 11 --count 200 --manifest || bad "gen.py rerun failed"
python3 "$gen" --out "$tmp/c" --seed 12 --count 200 || bad "gen.py seed 12 failed"
for f in phi.jsonl benign.jsonl manifest.jsonl; do
  cmp -s "$tmp/a/$f" "$tmp/b/$f" || bad "$f differs between two runs with seed 11"
done
cmp -s "$tmp/a/phi.jsonl" "$tmp/c/phi.jsonl" && bad "seeds 11 and 12 gave the same phi.jsonl"
for f in phi.jsonl benign.jsonl; do
  n=$(wc -l <"$tmp/a/$f")
  [ "$n" = 200 ] || bad "$f has $n lines, expected 200"
done
python3 "$gen" --out "$tmp/full" --seed 11 >/dev/null || bad "gen.py default size failed"
[ "$(wc -l <"$tmp/full/phi.jsonl")" = 3000 ] || bad "default --count is not 3000"

# --- 2-6. the validator -----------------------------------------------------------------------
cat >"$tmp/validate.py" <<'PY'
import base64, json, re, sys, unicodedata, urllib.parse
TYPES = set("NAME ADDRESS CITY ZIP DATE AGE PHONE FAX EMAIL SSN MRN MEMBER_ID MBI IDENTIFIER VIN URL IP".split())
CATS = {"known", "pattern", "unlisted", "stress"}
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
errs = []
def err(rid, msg):
    if len(errs) < 40:
        errs.append("%s: %s" % (rid, msg))
    else:
        errs.append(None)

FOLD = {"ø": "o", "ł": "l", "æ": "ae", "ß": "ss", "\u2019": "'"}
def norm(s):
    s = "".join(FOLD.get(c, c) for c in s.lower())
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
def toks(s):
    return re.findall(r"[a-z]+", norm(s))
def digits(s):
    return "".join(c for c in s if c.isdigit())

def decode(raw, enc):
    for e in reversed(enc):
        if e == "json":
            raw = json.loads('"' + raw + '"')
        elif e == "form":
            raw = urllib.parse.unquote_plus(raw)
        elif e == "b64":
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        else:
            raise ValueError(e)
    return raw

VINV = dict(zip("ABCDEFGH", range(1, 9))); VINV.update(dict(zip("JKLMN", range(1, 6)))); VINV.update({"P": 7, "R": 9})
VINV.update(dict(zip("STUVWXYZ", range(2, 10))))
VINW = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
def vin_ok(v):
    if not re.fullmatch(r"[A-HJ-NPR-Z0-9]{17}", v):
        return False
    t = sum((int(c) if c.isdigit() else VINV[c]) * w for c, w in zip(v, VINW)) % 11
    return v[8] == ("X" if t == 10 else str(t))
MBI_RE = re.compile(r"[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y]{2}[0-9]{2}")

class Ctx:
    def __init__(self, p):
        self.p = p
        self.names, self.initials = set(), set()
        parts = []
        for n in p.get("name", []):
            parts += [n.get("family", "")] + n.get("given", [])
        for c in p.get("contact", []):
            parts += [c["name"].get("family", "")] + c["name"].get("given", [])
        for x in parts:
            t = toks(x)
            self.names.update(t)
            self.names.add("".join(t))
        self.initials = {t[0] for t in self.names if t}
        self.phones = set()
        self.fax = set()
        self.email = set()
        self.urls = set()
        for t in p.get("telecom", []) + [t for c in p.get("contact", []) for t in c.get("telecom", [])]:
            if t["system"] == "phone":
                self.phones.add(digits(t["value"])[-10:])
            elif t["system"] == "fax":
                self.fax.add(digits(t["value"])[-10:])
            elif t["system"] == "email":
                self.email.add(t["value"].lower())
            elif t["system"] == "url":
                self.urls.add(t["value"])
        self.ids = {p["id"]}
        self.mrn = None
        self.ssn = set()
        for i in p.get("identifier", []):
            code = i.get("type", {}).get("coding", [{}])[0].get("code")
            self.ids.add(i["value"])
            if code == "MR":
                self.mrn = i["value"]
            if code == "SS":
                self.ssn.add(i["value"])
        a = p["address"][0]
        self.city, self.zip, self.lines = a["city"], a["postalCode"][:5], a["line"]
        self.y, self.m, self.d = (int(x) for x in p["birthDate"].split("-"))

def check_known(rid, t, v, x, c):
    if t == "NAME":
        for k in toks(x):
            if k not in c.names and not (len(k) == 1 and k in c.initials):
                return "name token %r not a context name part" % k
    elif t in ("PHONE", "FAX"):
        dg = digits(x)[-10:]
        if dg not in (c.phones | c.fax):
            return "phone %r not in context telecom" % x
    elif t == "MRN":
        if digits(x).lstrip("0") != c.mrn.lstrip("0"):
            return "MRN %r != context %r" % (x, c.mrn)
    elif t == "SSN":
        if digits(x) not in c.ssn:
            return "SSN not in context"
    elif t in ("MEMBER_ID", "MBI", "IDENTIFIER"):
        if re.sub(r"[^A-Za-z0-9]", "", x) not in {re.sub(r"[^A-Za-z0-9]", "", i) for i in c.ids}:
            return "identifier %r not in context" % x
    elif t == "EMAIL":
        if x.lower() not in c.email:
            return "email not in context"
    elif t == "URL":
        if x not in c.urls:
            return "url not in context"
    elif t == "CITY":
        if toks(x) != toks(c.city):
            return "city %r != %r" % (x, c.city)
    elif t == "ZIP":
        if x[:5] != c.zip:
            return "zip %r != %r" % (x, c.zip)
    elif t == "ADDRESS":
        if toks(x) and not any(digits(x.split()[0]) == digits(l.split()[0]) for l in c.lines if l.split()):
            return "street %r does not share the house number of %r" % (x, c.lines)
    elif t == "DATE":
        low = norm(x)
        if re.fullmatch(r"\d{8}", x):
            ymd = (int(x[:4]), int(x[4:6]), int(x[6:]))
            if ymd != (c.y, c.m, c.d):
                return "compact date %r != birthDate" % x
            return None
        nums = [int(n) for n in re.findall(r"\d+", x)]
        mon = [i + 1 for i, mn in enumerate(MONTHS) if re.search(r"(?<![a-z])" + mn, low)]
        if c.d not in nums:
            return "date %r lacks the birth day" % x
        if c.m not in nums and c.m not in mon:
            return "date %r lacks the birth month" % x
        if c.y not in nums and c.y % 100 not in nums:
            return "date %r lacks the birth year" % x
    return None

def check_pattern(t, v, x):
    if t == "VIN" and not vin_ok(x):
        return "VIN check digit wrong: %r" % x
    if t == "MBI" and not MBI_RE.fullmatch(x.replace("-", "")):
        return "MBI layout wrong: %r" % x
    if t == "MEMBER_ID" and v == "member-id-site-format" and not re.fullmatch(r"[A-Z]{3}[0-9]{9}", x):
        return "member id not in site format: %r" % x
    if t == "MRN" and v == "mrn-site-format" and not re.fullmatch(r"[0-9]{8}", x):
        return "site MRN not 8 digits: %r" % x
    if t == "SSN":
        d = digits(x)
        if len(d) != 9 or d[:3] in ("000", "666") or d[0] == "9" or d[3:5] == "00" or d[5:] == "0000":
            return "SSN out of range: %r" % x
    if t == "ZIP" and not re.fullmatch(r"\d{5}(-\d{4})?", x):
        return "ZIP shape: %r" % x
    return None

DATE_RES = [re.compile(r"(?<![\w.-])(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?![\d])"),
            re.compile(r"(?<![\w./])(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})(?![\d/])"),
            re.compile(r"\b(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sept?(ember)?|oct(ober)?|nov(ember)?|dec(ember)?)\.? \d{1,2}(st|nd|rd|th)?\b", re.I)]

def benign_date(body):
    for i, rx in enumerate(DATE_RES):
        for mt in rx.finditer(body):
            if i == 1:
                a, b = int(mt.group(1)), int(mt.group(2))
                if not ((1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31)):
                    continue
            return mt.group(0)
    return None

def main(phi_path, ben_path, man_path, expect):
    man = {}
    if man_path:
        for line in open(man_path, encoding="utf-8"):
            m = json.loads(line)
            man[m["id"]] = m["labels"]
    ids = set()
    variants = set()
    nlab = 0
    for path, setname in ((phi_path, "phi"), (ben_path, "benign")):
        n = 0
        for line in open(path, encoding="utf-8"):
            n += 1
            r = json.loads(line)
            rid = r.get("id", "?")
            for k in ("id", "set", "kind", "shape", "context", "body", "labels"):
                if k not in r:
                    err(rid, "missing key " + k)
            if rid in ids:
                err(rid, "duplicate id")
            ids.add(rid)
            if r["set"] != setname or r["kind"] not in ("json", "text", "form"):
                err(rid, "bad set/kind")
            body = r["body"]
            b = body.encode("utf-8")
            if r["kind"] == "json":
                try:
                    json.loads(body)
                except ValueError as e:
                    err(rid, "json body does not parse: %s" % e)
            if r["kind"] == "form":
                try:
                    urllib.parse.parse_qsl(body, strict_parsing=True, keep_blank_values=True)
                except ValueError as e:
                    err(rid, "form body does not parse: %s" % e)
            ctx = None
            if r["context"]:
                p = json.loads(r["context"])
                if p.get("resourceType") != "Patient" or "birthDate" not in p or "name" not in p:
                    err(rid, "context is not a FHIR Patient")
                ctx = Ctx(p)
            elif setname == "phi":
                err(rid, "PHI record without context")
            if setname == "benign":
                if r["labels"]:
                    err(rid, "benign record has labels")
                d = benign_date(body)
                if d:
                    err(rid, "benign body contains a calendar date %r" % d)
                if ctx:
                    nm = ctx.p["name"][0]
                    full = "%s %s" % (nm["given"][0], nm["family"])
                    if full.lower() in body.lower():
                        err(rid, "benign body contains the context name")
                    if ctx.mrn in body or ctx.p["birthDate"] in body:
                        err(rid, "benign body contains the context MRN or birth date")
                    if any(ph in digits(body) for ph in ctx.phones):
                        err(rid, "benign body contains a context phone number")
                continue
            labs = r["labels"]
            ml = man.get(rid)
            if man_path and (ml is None or len(ml) != len(labs)):
                err(rid, "manifest does not match labels")
                ml = None
            if not labs:
                err(rid, "PHI record without labels")
            prev_e = 0
            for i, l in enumerate(labs):
                nlab += 1
                s, e, t, c, v = l["s"], l["e"], l["t"], l["c"], l["v"]
                variants.add((t, v))
                if not (isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= len(b)):
                    err(rid, "label %d [%r,%r) outside body of %d bytes" % (i, s, e, len(b)))
                    continue
                if s < prev_e:
                    err(rid, "label %d overlaps or is out of order" % i)
                prev_e = e
                if (s < len(b) and (b[s] & 0xC0) == 0x80) or (e < len(b) and (b[e] & 0xC0) == 0x80):
                    err(rid, "label %d not on a UTF-8 character boundary" % i)
                    continue
                if t not in TYPES or c not in CATS or not v or len(v) > 23:
                    err(rid, "label %d bad t/c/v %r %r %r" % (i, t, c, v))
                raw = b[s:e].decode("utf-8")
                if ml is None:
                    continue
                x, enc = ml[i]["x"], ml[i]["enc"]
                try:
                    dec = decode(raw, enc)
                except Exception as ex:
                    err(rid, "label %d: cannot decode %r through %s: %s" % (i, raw, enc, ex))
                    continue
                if dec != x:
                    err(rid, "label %d: bytes %r decode to %r, generator meant %r" % (i, raw, dec, x))
                    continue
                if c == "known" and ctx:
                    why = check_known(rid, t, v, x, ctx)
                    if why:
                        err(rid, "known label %d (%s/%s): %s" % (i, t, v, why))
                if c in ("known", "pattern"):
                    why = check_pattern(t, v, x)
                    if why:
                        err(rid, "label %d (%s/%s): %s" % (i, t, v, why))
                if t == "AGE" and c == "pattern" and not (x.isdigit() and int(x) > 89):
                    err(rid, "AGE label %r is not an age over 89" % x)
        if expect and n != expect:
            err(path, "%d records, expected %d" % (n, expect))
    if len(variants) >= 256:
        err("corpus", "%d type/variant pairs; ehrgate-phi-eval keeps 256" % len(variants))
    if errs:
        for e in errs:
            if e:
                print("  " + e)
        print("  (%d problems)" % len(errs))
        return 1
    print("  ok: %d records, %d labels, %d type/variant pairs" % (len(ids), nlab, len(variants)))
    return 0

sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None,
              int(sys.argv[4]) if len(sys.argv) > 4 else 0))
PY

say "validate seed 11 (200+200, with manifest)"
python3 "$tmp/validate.py" "$tmp/a/phi.jsonl" "$tmp/a/benign.jsonl" "$tmp/a/manifest.jsonl" 200 || bad "seed 11 corpus invalid"
say "validate seed 12 (200+200, no manifest)"
python3 "$tmp/validate.py" "$tmp/c/phi.jsonl" "$tmp/c/benign.jsonl" - 200 || bad "seed 12 corpus invalid"
say "validate default size (3000+3000): variant count"
python3 "$tmp/validate.py" "$tmp/full/phi.jsonl" "$tmp/full/benign.jsonl" - 3000 || bad "default-size corpus invalid"

# --- 8. the validator can fail ----------------------------------------------------------------
mkdir -p "$tmp/m1" "$tmp/m2"
python3 - "$tmp/a" "$tmp/m1" "$tmp/m2" <<'PY'
import json, sys
src, m1, m2 = sys.argv[1:4]
phi = open(src + "/phi.jsonl", encoding="utf-8").read().splitlines()
ben = open(src + "/benign.jsonl", encoding="utf-8").read().splitlines()
r = json.loads(phi[7]); r["labels"][0]["s"] += 1; r["labels"][0]["e"] += 1; phi[7] = json.dumps(r, ensure_ascii=False)
open(m1 + "/phi.jsonl", "w", encoding="utf-8").write("\n".join(phi) + "\n")
open(m1 + "/benign.jsonl", "w", encoding="utf-8").write("\n".join(ben) + "\n")
phi = open(src + "/phi.jsonl", encoding="utf-8").read().splitlines()
b = json.loads(ben[3]); b["body"] = b["body"].replace("Pt ", "Seen 03/14/2024. Pt ", 1) if "Pt " in b["body"] else b["body"] + " Seen 03/14/2024."
ben[3] = json.dumps(b, ensure_ascii=False)
open(m2 + "/phi.jsonl", "w", encoding="utf-8").write("\n".join(phi) + "\n")
open(m2 + "/benign.jsonl", "w", encoding="utf-8").write("\n".join(ben) + "\n")
PY
if python3 "$tmp/validate.py" "$tmp/m1/phi.jsonl" "$tmp/m1/benign.jsonl" "$tmp/a/manifest.jsonl" 200 >/dev/null; then
  bad "validator accepted a label shifted by one byte"
fi
if python3 "$tmp/validate.py" "$tmp/m2/phi.jsonl" "$tmp/m2/benign.jsonl" "$tmp/a/manifest.jsonl" 200 >/dev/null; then
  bad "validator accepted a benign record with a calendar date"
fi

# --- 7. ehrgate-phi-eval reads every record and every label -----------------------------------
out=$("$bin/ehrgate-phi-eval" --misses 0 --mrn-pattern 'MRN[: ]{0,2}[0-9]{8}' --member-id-pattern '[A-Z]{3}[0-9]{9}' \
      --url-allow cds.demo.example "$tmp/a/phi.jsonl" "$tmp/a/benign.jsonl" 2>&1)
rc=$?
[ $rc = 0 ] || bad "ehrgate-phi-eval exited $rc"
echo "$out" | grep -q ": 200 PHI requests" || bad "ehrgate-phi-eval did not read 200 PHI requests"
echo "$out" | grep -q ": 200 benign requests" || bad "ehrgate-phi-eval did not read 200 benign requests"
echo "$out" | grep -q "did not parse" && bad "ehrgate-phi-eval fell back to text for some JSON bodies"
want=$(python3 -c 'import json,sys; print(sum(len(json.loads(l)["labels"]) for l in open(sys.argv[1])))' "$tmp/a/phi.jsonl")
got=$(echo "$out" | awk '/^  ALL (known|pattern|unlisted|stress)/ {n += $(NF-2)} END {print n+0}')
[ "$want" = "$got" ] || bad "ehrgate-phi-eval counted $got labels, the corpus has $want"

if [ $fail = 0 ]; then echo "PASS phi_indep_corpus"; else echo "FAIL phi_indep_corpus"; fi
exit $fail
