#!/usr/bin/env node
// What the write-ahead trail costs the decision thread, per decision, two ways
// (issue 11 chose the first; see docs/audit.md):
//
//   sync   — serialize, chain and write(2) each event before the answer
//            (TrailWriter.append, the code the sidecar runs);
//   group  — serialize and chain each event, hold its answer on a promise,
//            write the events of one event-loop turn with one write(2) and
//            release the answers after it (a group commit), K decisions a turn.
//
//   npm run build && node bench/audit-append.js [--events N]
//
// Prints µs of CPU (user+sys of this process) and of wall time per decision.
// Runs from dist/, into a scratch directory under bench/out/.
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { eventJson } from '../dist/audit/event.js';
import { chainLine, GENESIS_HASH, hashLine } from '../dist/audit/hash-chain.js';
import { TrailWriter } from '../dist/audit/trail/trail-writer.js';
import { createLogger } from '../dist/observability/logger.js';

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'out', 'audit-append');
const { values } = parseArgs({ options: { events: { type: 'string', default: '100000' } } });
const N = Number(values.events);

const decision = {
  decisionId: '3f1c2a9e-4b1d-4c7e-9a51-0b8e6f3d2c11', allowed: true, status: 200, reason: 'allowed', stage: 'engine', mode: 'deny',
  wouldDeny: undefined, upstreamHeaders: {}, responseHeaders: {},
  principal: { id: 'alice', kind: 'user', tenant: 'acme', roles: ['viewer'], claims: {}, source: 'jwt' },
  action: 'read', resource: { type: 'project', id: 'p-42', tenant: 'acme' }, route: 'read-project', annotations: {}, durationSeconds: 0.000123,
};
const request = {
  requestId: 'b7d0c1e2-0000-4000-8000-000000000001', method: 'GET', path: '/api/v1/tenants/acme/projects/p-42',
  headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, source: { address: '10.1.2.3' }, transport: 'grpc',
};

function measure(name, run) {
  return async () => {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await run();
    const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    console.log(JSON.stringify({ variant: name, events: N, cpu_us_per_decision: +((cpu.user + cpu.system) / N).toFixed(2),
      wall_us_per_decision: +(wallUs / N).toFixed(2) }));
  };
}

async function sync() {
  const dir = path.join(OUT, 'sync');
  rmSync(dir, { recursive: true, force: true });
  const w = await TrailWriter.open({ dir, fsync: 'interval', fsyncIntervalMs: 100, segmentBytes: 2 ** 30, maxBytes: 2 ** 40, log: createLogger('silent') });
  await measure('sync', async () => {
    for (let i = 0; i < N; i++) {
      if (!w.append(eventJson(decision, request))) throw new Error('append failed');
      if (i % 64 === 63) await new Promise((r) => setImmediate(r)); // let the interval sync run, as the sidecar would
    }
  })();
  await w.close();
}

async function group(perTurn) {
  const dir = path.join(OUT, `group-${perTurn}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const fd = openSync(path.join(dir, 'trail.jsonl'), 'a');
  let seq = 0;
  let prev = GENESIS_HASH;
  let pending = [];
  let lines = '';
  const flush = () => {
    writeSync(fd, lines);
    lines = '';
    const release = pending;
    pending = [];
    for (const r of release) r();
  };
  await measure(`group_${perTurn}_per_turn`, async () => {
    for (let i = 0; i < N; i += perTurn) {
      const answers = [];
      for (let k = 0; k < perTurn; k++) {
        const line = chainLine(eventJson(decision, request), ++seq, prev);
        prev = hashLine(line);
        lines += line + '\n';
        answers.push(new Promise((r) => pending.push(r)));
      }
      setImmediate(flush);
      await Promise.all(answers);
    }
  })();
  closeSync(fd);
}

await sync();
for (const k of [1, 4, 16]) await group(k);
rmSync(OUT, { recursive: true, force: true });
