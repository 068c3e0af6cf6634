// ci/redact-pii-bench.js — times the npm package redact-pii (SyncRedactor, built-in regex
// redactors, no cloud calls) on the same JSONL corpus as ehrgate-phi-eval --bench, for
// comparison. Usage: node ci/redact-pii-bench.js NODE_MODULES_DIR FILE.jsonl [MAX_SECONDS]
// Prints throughput and latency, and an approximate leak figure on labelled corpora: the share
// of labelled identifier strings still present verbatim in the redacted output.
'use strict';
const fs = require('fs');
const path = require('path');
const [, , modArg, file, maxSecArg] = process.argv;
const modDir = path.resolve(modArg);
const { SyncRedactor } = require(path.join(modDir, 'redact-pii'));
const maxNs = BigInt(Math.round(parseFloat(maxSecArg || '60') * 1e9));
const redactor = new SyncRedactor();
const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
let bytes = 0, n = 0, labels = 0, leaked = 0;
const lat = [];
const cpu0 = process.cpuUsage();
const wall0 = process.hrtime.bigint();
for (const line of lines) {
  const r = JSON.parse(line);
  const body = Buffer.from(r.body, 'utf8');
  const t0 = process.hrtime.bigint();
  const out = redactor.redact(r.body);
  const dt = Number(process.hrtime.bigint() - t0);
  if (body.length <= 65536) lat.push(dt);
  bytes += body.length;
  n++;
  for (const l of r.labels || []) {
    if (l.c === 'unlisted' || l.c === 'stress') continue;
    labels++;
    const s = body.subarray(l.s, l.e).toString('utf8');
    if (s.length >= 2 && out.includes(s)) leaked++;
  }
  if (process.hrtime.bigint() - wall0 > maxNs) break;
}
const cpu = process.cpuUsage(cpu0);
const cpuSec = (cpu.user + cpu.system) / 1e6;
lat.sort((a, b) => a - b);
const pct = p => lat.length ? lat[Math.min(lat.length - 1, Math.round(p * (lat.length - 1)))] / 1e3 : 0;
console.log(`redact-pii ${require(path.join(modDir, 'redact-pii', 'package.json')).version} (node ${process.version}): ` +
  `${n}/${lines.length} bodies, ${(bytes / 1e6).toFixed(2)} MB in ${cpuSec.toFixed(1)} s CPU`);
console.log(`  throughput: ${(bytes / 1e6 / cpuSec).toFixed(2)} MB/s per core (process CPU time)`);
console.log(`  latency, bodies <= 64 KB (n=${lat.length}): p50 ${pct(0.5).toFixed(1)} us, p99 ${pct(0.99).toFixed(1)} us`);
if (labels)
  console.log(`  approx. leak: ${leaked}/${labels} labelled identifier strings (known+pattern) still present ` +
    `verbatim after redaction (${(100 * leaked / labels).toFixed(1)}%)`);
