#!/usr/bin/env node
// What each stage of the full route costs per call, on its own, in process:
// the rebac, policy and budget stages' evaluate() and the parts inside them,
// next to the opa-wasm module's own evaluation of the same input — so that
// "policy ≤ 15 µs above the module's own evaluation" can be stated honestly.
//
//   node bench/stage-costs.js [--n 20000] [--rounds 9] [--vary 1] [--dist DIR] [--remote]
//
// --vary N: N distinct allowed requests (bench/lib/varied-requests.js, as
//   decide-ladder --vary), each stage called with them in turn: what a stage
//   costs when the call before was another principal's, tenant's and object's.
// --dist: another build's dist/ (a copy of the build before a change) to compare.
// --remote: also the rebac stage in remote mode answering from its decision
//   cache (`fga serve` started for it; the first decision fills the cache).
//
// How: the compiled sidecar (dist/) starts without listening on the full
// route minus audit (bench/config/full.yaml, rung `budget`); one real
// decision of the bench's CheckRequest records the (request, context) each
// stage receives; then each stage (and each part) is called N times in a
// tight loop per round. Figures are CPU µs per call (the process's CPU time),
// min and median over rounds (min: least disturbed by other processes on a
// shared machine, whose cache and core contention CPU time still counts).
// A tight loop runs hotter than the decision path (caches warm, one request
// shape), so these are lower bounds of the ladder's marginal costs
// (bench/decide-ladder.js), which they explain rather than replace. The
// garbage a call leaves is collected inside the loop and counted.
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mintBenchCredentials } from './lib/credentials.js';
import { loadDecisionPath } from './lib/dist-decision-path.js';
import { startFgaServe } from './lib/fga-process.js';
import { acquireRunLock } from './lib/run-lock.js';
import { materializeConfig } from './lib/scenarios-full.js';
import { buildStandinBundle, STANDIN_ENTRYPOINT } from './lib/scenarios-policy.js';
import { variedCheckMessages } from './lib/varied-requests.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH_DIR, '..');
const OUT_DIR = path.join(BENCH_DIR, 'out');
const READ_PROJECT = { method: 'GET', path: '/api/v1/tenants/acme/projects/p-42', host: 'api.bench.local' };
const log = (line) => process.stderr.write(`${line}\n`);

/**
 * CPU µs per call of fn: { min, median } over rounds of n calls, after a
 * warm-up. The process's CPU time (getrusage), not the wall clock: time the
 * loop spends preempted by other processes is not counted; nothing else of
 * this process runs meanwhile.
 */
function time(fn, n, rounds) {
  for (let i = 0; i < Math.min(n, 5000); i++) fn();
  const per = [];
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const c = process.cpuUsage(c0);
    per.push((c.user + c.system) / n);
  }
  per.sort((a, b) => a - b);
  return { min: per[0], median: per[Math.floor(per.length / 2)] };
}

/**
 * Starts the sidecar of `config` from `distDir`; returns it, its route's stages and what each stage received
 * for each of `messages` (seen: stage name → [{ req, ctx }, ...], in the messages' order).
 */
async function startAndCapture(distDir, config, messages, env) {
  const { dist, decodeCheckRequest, authzRequestFromCheck, startOffline } = await loadDecisionPath(distDir);
  const { createDecisionContext } = await dist('decision/context.js');
  const sidecar = await startOffline(config, env);
  const first = authzRequestFromCheck(decodeCheckRequest(messages[0]));
  // Internals, read for the bench only: the runtime's route table gives the route's Stage objects.
  const match = sidecar.runtime.authorizer.opts.routes.match(first);
  const stages = match.route.stages;
  const seen = new Map();
  for (const s of stages) {
    const own = Object.hasOwn(s, 'evaluate');
    const orig = s.evaluate;
    seen.set(s.name, []);
    s.evaluate = function capture(r, ctx) {
      // A context of its own per stage, as the stage saw it, with no deadline (a loop outlives 50 ms).
      const copy = createDecisionContext({ ...ctx, deadline: Number.POSITIVE_INFINITY });
      Object.assign(copy.annotations, ctx.annotations);
      seen.get(s.name).push({ req: r, ctx: copy });
      return orig.call(this, r, ctx);
    };
    s.restore = () => (own ? (s.evaluate = orig) : delete s.evaluate);
  }
  for (const message of messages) {
    let d = sidecar.decide(authzRequestFromCheck(decodeCheckRequest(message)));
    if (d instanceof Promise) d = await d;
    if (!d.allowed) throw new Error(`a bench request was denied: ${d.reason} by ${d.stage}`);
  }
  for (const s of stages) {
    s.restore();
    delete s.restore;
  }
  return { sidecar, stages, seen };
}

/** A function that calls `f` with the items of `list` in turn, one per call. */
function cycling(list, f) {
  let i = 0;
  return () => {
    const x = list[i];
    i = i + 1 === list.length ? 0 : i + 1;
    return f(x);
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '20000' },
      rounds: { type: 'string', default: '9' },
      dist: { type: 'string', default: path.join(REPO, 'dist') },
      remote: { type: 'boolean', default: false },
      vary: { type: 'string', default: '1' },
    },
  });
  const n = Number(values.n);
  const rounds = Number(values.rounds);
  const distDir = path.resolve(values.dist);
  const dist = (p) => import(path.join(distDir, p));
  mkdirSync(OUT_DIR, { recursive: true });
  acquireRunLock(OUT_DIR);
  const credentials = await mintBenchCredentials(OUT_DIR);
  // --vary 1 is the one request earlier figures were measured with (alice, acme, p-42).
  const { vary, varied, messages } = await variedCheckMessages(values.vary, credentials, READ_PROJECT);
  const bundle = buildStandinBundle(OUT_DIR, log);
  const config = materializeConfig(OUT_DIR, 'budget', { bundle, entrypoint: STANDIN_ENTRYPOINT, standin: true, varied });
  log(`stage-costs: ${os.availableParallelism()} cores, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${rounds} rounds × ${n} calls; ${vary} distinct request${vary === 1 ? '' : 's'}; ${distDir}`);

  const lines = [];
  const report = (what, fn, note) => {
    const t = time(fn, n, rounds);
    const line = { what, min_us: Number(t.min.toFixed(3)), median_us: Number(t.median.toFixed(3)), ...(note ? { note } : {}) };
    lines.push(line);
    process.stdout.write(`${JSON.stringify(line)}\n`);
    return t;
  };

  const { sidecar, stages, seen } = await startAndCapture(distDir, config, messages, process.env);
  try {
    const stage = (name) => stages.find((s) => s.name === name);
    const at = (name) => seen.get(name);

    // rebac, embedded
    const rebac = stage('rebac');
    report('rebac stage (embedded)', cycling(at('rebac'), (x) => rebac.evaluate(x.req, x.ctx)));
    const r = at('rebac')[0];
    const store = rebac.checker.source.store;
    const user = rebac.subjects.userFor(r.ctx.principal);
    const checkReq = { tuple_key: { user, relation: 'can_read', object: `${r.ctx.resource.type}:${r.ctx.resource.id}` },
      context: { tenant: r.ctx.resource.tenant, principal_tenant: r.ctx.principal.tenant, action: r.ctx.action } };
    report('  embedded store.check', () => store.check(checkReq));

    // policy
    const policy = stage('policy');
    report('policy stage', cycling(at('policy'), (x) => policy.evaluate(x.req, x.ctx)));
    const p = at('policy')[0];
    const { policyInputJson } = await dist('policy/input-json.js');
    const shape = policy.inputShape;
    const utf8 = (text) => {
      const buf = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
      buf.write(text);
      return buf.buffer;
    };
    report('  input text (policyInputJson)', cycling(at('policy'), (x) => policyInputJson(x.req, x.ctx, shape)));
    report('  input text as a UTF-8 ArrayBuffer (opa-wasm\'s ready input)', cycling(at('policy'), (x) => utf8(policyInputJson(x.req, x.ctx, shape))));
    const active = policy.deps.slot.current;
    const evaluator = active.evaluator;
    const id = evaluator.entrypointId(STANDIN_ENTRYPOINT);
    const text = policyInputJson(p.req, p.ctx, shape);
    const bytes = utf8(text);
    if (typeof evaluator.evaluateJson === 'function') {
      report('  evaluator.evaluateJson(ready text)', () => evaluator.evaluateJson(id, text), 'encoded into the module\'s memory, opa_eval, result parsed');
    }
    report('  evaluator.evaluate(ready bytes)', () => evaluator.evaluate(id, bytes));
    const loaded = evaluator.instance;
    report('  opa-wasm evaluate(ready bytes) = the module\'s own evaluation', () => loaded.evaluate(bytes, id),
      'copy in, opa_eval, result JSON read back and parsed');
    // The module alone: opa_eval on input already in its memory (no copy, no result parse).
    const exports = loaded.wasmInstance.exports;
    new Uint8Array(loaded.mem.buffer).set(new Uint8Array(bytes), loaded.dataHeapPtr);
    const inputAddr = loaded.dataHeapPtr;
    const heapPtr = inputAddr + bytes.byteLength;
    report('    opa_eval alone', () => exports.opa_eval(0, id, loaded.dataAddr, inputAddr, bytes.byteLength, heapPtr, 0));
    log(`stage-costs: policy input ${bytes.byteLength} bytes`);

    // budget, memory backend
    const budget = stage('budget');
    report('budget stage (memory)', cycling(at('budget'), (x) => budget.evaluate(x.req, x.ctx)));

    // The whole decision, for scale (identity with its token cache, routing, all five stages).
    const { decodeCheckRequest } = await dist('transport/grpc/check-request-reader.js');
    const { authzRequestFromCheck } = await dist('request/from-check-request.js');
    const { encodeCheckResponseFrame } = await dist('transport/grpc/check-response-writer.js');
    report('whole decision (decode, decide, encode)', cycling(messages, (m) =>
      encodeCheckResponseFrame(sidecar.decide(authzRequestFromCheck(decodeCheckRequest(m))))));
    // What the budget's headers cost after the stage, in the gRPC response writer: the same decision with and without them.
    const decided = sidecar.decide(authzRequestFromCheck(decodeCheckRequest(messages[0])));
    const budgetNames = (h) => Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith('x-budget-')));
    const bare = { ...decided, upstreamHeaders: budgetNames(decided.upstreamHeaders), responseHeaders: budgetNames(decided.responseHeaders) };
    const count = (h) => Object.keys(h).filter((k) => k.startsWith('x-budget-')).length;
    report(`encode CheckResponse (${count(decided.upstreamHeaders)} + ${count(decided.responseHeaders)} budget headers)`, () => encodeCheckResponseFrame(decided));
    report('encode CheckResponse, the same without the budget headers', () => encodeCheckResponseFrame(bare));
  } finally {
    await sidecar.close();
  }

  if (values.remote) {
    const fga = await startFgaServe({ model: path.join(REPO, 'config/fga/model.fga'), tuples: varied === undefined ? path.join(BENCH_DIR, 'config/rebac-tuples.yaml') : path.join(OUT_DIR, 'rebac-tuples-vary.yaml') });
    try {
      // The capabilities read process.env themselves (as the CLI's environment).
      Object.assign(process.env, { AUTHZ__REBAC__MODE: 'remote', FGA_API_URL: fga.apiUrl, FGA_STORE_ID: fga.storeId });
      const remote = await startAndCapture(distDir, config, messages, process.env);
      try {
        const rebac = remote.stages.find((s) => s.name === 'rebac');
        report('rebac stage (remote, cached hit)', cycling(remote.seen.get('rebac'), (r) => {
          const a = rebac.evaluate(r.req, r.ctx);
          if (a instanceof Promise) throw new Error('a cache miss in the remote rebac loop');
          return a;
        }));
      } finally {
        await remote.sidecar.close();
      }
    } finally {
      await fga.stop();
    }
  }

  log(`\n${'what'.padEnd(66)} min µs   median µs   (load ${os.loadavg()[0].toFixed(2)})`);
  for (const l of lines) log(`${l.what.padEnd(66)} ${String(l.min_us).padEnd(8)} ${l.median_us}`);
}

main().catch((err) => {
  log(`stage-costs: FAILED: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
