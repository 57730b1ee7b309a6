#!/usr/bin/env node
// Where a sidecar's decision thread spends its time, per decision: a main-thread .cpuprofile
// (bench/run.js --cpu-prof: the …0.001.cpuprofile; decide-ladder.js --cpu-prof likewise) folded
// into buckets of the gRPC path (decode, each stage, audit's onDecision, encode, respond, node:http2,
// GC, …) by the first rule in RULES that any frame of a sample's stack matches; startup
// (module loading, Sidecar.start) and idle are left out.
//
//   node bench/scripts/profile-buckets.js FILE.cpuprofile DECISIONS [BUCKET]
//
// DECISIONS: the decisions the process made (the line's `decisions` plus a few probes); BUCKET: also
// list the functions with most self time inside that bucket. µs per decision are in profile time:
// the profiler adds its own cost (~30 % here), so compare shares, or scale them by
// main_thread_cpu_us_per_decision / the busy µs per decision printed first.
import { readFileSync } from 'node:fs';
const [file, decisionsArg] = process.argv.slice(2);
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const dt = new Map();
for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i + 1] ?? p.timeDeltas[i]));
const stackOf = (id) => { const s = []; for (let x = id; x !== undefined; x = parent.get(x)) s.push(byId.get(x).callFrame); return s.reverse(); };
const RULES = [
  ['startup', (f) => /loader|module_job|translators|serveCommand|^main$|Sidecar.start|^start$/.test(f.functionName + ' ' + f.url) && !/decideAndAnswer/.test(f.functionName)],
  ['encode', (f) => f.functionName === 'encodeCheckResponseFrame'],
  ['respondMessage', (f) => f.functionName === 'respondMessage'],
  ['decode', (f) => f.functionName === 'decodeCheckRequest' || f.functionName === 'authzRequestFromCheck'],
  ['decide.audit(onDecision)', (f) => f.functionName === 'onDecision' && /sidecar/.test(f.url)],
  ['decide.policy', (f) => f.functionName === 'evaluate' && /policy\/stage/.test(f.url)],
  ['decide.rebac', (f) => f.functionName === 'evaluate' && /rebac-stage/.test(f.url)],
  ['decide.budget', (f) => f.functionName === 'evaluate' && /budget\/stage/.test(f.url)],
  ['decide.other', (f) => f.functionName === 'decide' && /authorizer/.test(f.url)],
  ['answer.other', (f) => f.functionName === 'answerDecision'],
  ['onEnd.other', (f) => f.functionName === 'onEnd'],
  ['onStream', (f) => f.functionName === 'onStream' && /grpc/.test(f.url)],
  ['sendOkTrailers', (f) => f.functionName === 'sendOkTrailers'],
  ['onData', (f) => f.functionName === 'onData' && /grpc/.test(f.url)],
  ['timers', (f) => f.functionName === 'listOnTimeout' || f.functionName === 'processTimers'],
  ['immediates', (f) => f.functionName === 'processImmediate'],
  ['messageport', (f) => /MessagePort|onmessage|messaging/.test(f.functionName + f.url)],
  ['http2 session (onread/headers)', (f) => /http2\/core/.test(f.url)],
];
const buckets = new Map();
const selfIn = new Map();
let total = 0, idle = 0;
for (const [id, us] of dt) {
  const stack = stackOf(id);
  const top = stack[stack.length - 1];
  total += us;
  if (top.functionName === '(idle)') { idle += us; continue; }
  let name;
  for (const [b, m] of RULES) if (stack.some(m)) { name = b; break; }
  if (!name) name = top.functionName.startsWith('(') ? top.functionName : 'other:' + (stack[1]?.functionName || top.functionName);
  buckets.set(name, (buckets.get(name) ?? 0) + us);
  if (name === process.argv[4]) { const k = top.functionName + ' ' + top.url.replace(/.*\/dist\//, '') + ':' + top.lineNumber; selfIn.set(k, (selfIn.get(k) ?? 0) + us); }
}
const startup = buckets.get('startup') ?? 0;
const busy = total - idle - startup;
const dec = Number(decisionsArg);
console.log(`busy (no startup) ${(busy / 1e6).toFixed(2)} s = ${(busy / Number(decisionsArg)).toFixed(1)} µs per decision, startup ${(startup / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s; decisions ${dec}`);
const rows = [...buckets].filter(([b]) => b !== 'startup').sort((a, b) => b[1] - a[1]);
let other = 0;
for (const [b, us] of rows) { if (us / busy < 0.005) { other += us; continue; } console.log(`${(100 * us / busy).toFixed(1).padStart(5)}%  ${(us / dec).toFixed(1).padStart(6)} µs/dec  ${b}`); }
console.log(`${(100 * other / busy).toFixed(1).padStart(5)}%  ${(other / dec).toFixed(1).padStart(6)} µs/dec  (small rest)`);

if (process.argv[4]) { console.log('\nself time inside ' + process.argv[4]); for (const [k, us] of [...selfIn].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(us / dec).toFixed(2).padStart(6)} µs/dec  ${k}`); }
