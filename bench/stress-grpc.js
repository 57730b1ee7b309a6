#!/usr/bin/env node
// Bounded stress of the gRPC port under the floods of issue 9, measuring the
// sidecar's RSS (VmRSS from /proc, sampled every 100 ms) and whether a normal
// Check keeps being answered meanwhile (one probe every 200 ms on its own
// connection; its latency is reported, never asserted — tests assert
// behaviour, this measures).
//
//   npm run build && node bench/stress-grpc.js [--seconds 5] [--only idle,prefix,entries]
//
// Floods, each for --seconds, reconnecting whenever the server closes a connection:
//   idle     20 connections, each opening streams as fast as it can (HEADERS
//            only, no body), ignoring SETTINGS_MAX_CONCURRENT_STREAMS
//   prefix   20 connections × 100 streams, each a 16 MiB length prefix plus
//            64 KiB of body, then stalling
//   entries  CheckRequests of 2,000,000 empty header_map entries (4 MB) and of
//            100,000 (200 KB), back to back on 4 connections
// Linux only (reads /proc/<pid>/status).
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};
const SECONDS = Number(arg('seconds', '5'));
const ONLY = arg('only', 'idle,prefix,entries').split(',').filter(Boolean);
const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

const freePort = () => new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

const rssMiB = (pid) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

// --- protobuf by hand (the shapes are tiny) ---
const varint = (n) => { const out = []; while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7; } out.push(n); return Buffer.from(out); };
const field = (tag, inner) => Buffer.concat([Buffer.from([tag]), varint(inner.length), inner]);
const str = (tag, s) => field(tag, Buffer.from(s));
const grpcFrame = (msg) => { const h = Buffer.alloc(5); h.writeUInt32BE(msg.length, 1); return Buffer.concat([h, msg]); };
/** CheckRequest { attributes { request { http { method, path, host, header_map } } } } */
const checkRequest = (http) => grpcFrame(field(0x0a, field(0x22, field(0x12, http))));
const normalCheck = checkRequest(Buffer.concat([str(0x12, 'GET'), str(0x22, '/healthz'), str(0x2a, 'api.example')]));
const emptyEntries = (n) => {
  const entries = Buffer.alloc(2 * n);
  for (let i = 0; i < n; i++) entries[2 * i] = 0x0a;
  return checkRequest(Buffer.concat([str(0x12, 'GET'), str(0x22, '/healthz'), field(0x6a, entries)]));
};

// --- a raw HTTP/2 client that ignores the server's stream limit ---
const h2frame = (type, flags, id, payload) => {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3); h[3] = type; h[4] = flags; h.writeUInt32BE(id, 5);
  return Buffer.concat([h, payload]);
};
const lit = (idx, value) => Buffer.concat([Buffer.from(idx < 15 ? [idx] : [15, idx - 15]), Buffer.from([value.length]), Buffer.from(value)]);
const headerBlock = (port) => Buffer.concat([Buffer.from([0x83, 0x86]), lit(4, CHECK_PATH), lit(1, `127.0.0.1:${port}`), lit(31, 'application/grpc')]);

/** Keeps one hostile connection busy until `until`, reconnecting when the server closes it. */
async function hostileConnection(port, until, onReady) {
  while (Date.now() < until) {
    await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let acked = false;
      let buf = Buffer.alloc(0);
      socket.on('error', () => undefined);
      socket.on('close', resolve);
      const stop = setTimeout(() => socket.destroy(), Math.max(0, until - Date.now()));
      socket.on('close', () => clearTimeout(stop));
      socket.on('data', (c) => {
        buf = Buffer.concat([buf, c]);
        while (buf.length >= 9) {
          const len = buf.readUIntBE(0, 3);
          if (buf.length < 9 + len) break;
          const type = buf[3]; const flags = buf[4];
          buf = buf.subarray(9 + len);
          if (type === 4 && (flags & 1) === 0) {
            socket.write(h2frame(4, 1, 0, Buffer.alloc(0)));
            if (!acked) { acked = true; onReady(socket); }
          }
        }
      });
      socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2frame(4, 0, 0, Buffer.alloc(0))]));
    });
  }
}

async function probeLoop(port, until, probes) {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  while (Date.now() < until) {
    const started = process.hrtime.bigint();
    const ok = await new Promise((resolve) => {
      const req = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' }, );
      const timer = setTimeout(() => { req.close(); resolve(false); }, 2000);
      let status;
      req.on('trailers', (t) => (status = t['grpc-status']));
      req.on('data', () => undefined);
      req.on('error', () => undefined);
      req.on('close', () => { clearTimeout(timer); resolve(status === '0'); });
      req.end(normalCheck);
    });
    probes.push({ ok, ms: Number(process.hrtime.bigint() - started) / 1e6 });
    await new Promise((r) => setTimeout(r, 200));
  }
  session.close();
}

const floods = {
  none: () => [],
  idle: (port, until) => Array.from({ length: 20 }, () => hostileConnection(port, until, (socket) => {
    const block = headerBlock(port);
    let id = 1;
    const burst = () => {
      if (socket.destroyed || Date.now() >= until) return;
      const frames = [];
      for (let i = 0; i < 1000 && id < 2 ** 31 - 1; i++, id += 2) frames.push(h2frame(1, 4, id, block));
      socket.write(Buffer.concat(frames), () => setImmediate(burst));
    };
    burst();
  })),
  prefix: (port, until) => Array.from({ length: 20 }, () => hostileConnection(port, until, (socket) => {
    const block = headerBlock(port);
    const body = Buffer.concat([Buffer.from([0, 1, 0, 0, 0]), Buffer.alloc(16 * 1024 - 5, 0x41)]);
    const frames = [];
    for (let i = 0, id = 1; i < 100; i++, id += 2) {
      frames.push(h2frame(1, 4, id, block));
      for (let k = 0; k < 4; k++) frames.push(h2frame(0, 0, id, k === 0 ? body : Buffer.alloc(16 * 1024, 0x41)));
    }
    socket.write(Buffer.concat(frames)); // then stall
  })),
  entries: (port, until) => {
    const big = emptyEntries(2_000_000);
    const medium = emptyEntries(100_000);
    return Array.from({ length: 4 }, async (_, i) => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on('error', () => undefined);
      while (Date.now() < until) {
        await new Promise((resolve) => {
          const req = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc' });
          req.on('data', () => undefined);
          req.on('error', resolve);
          req.on('close', resolve);
          req.end(i % 2 === 0 ? big : medium);
        });
      }
      session.destroy();
    });
  },
};

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'authz-stress-'));
  const port = await freePort();
  const config = join(dir, 'sidecar.yaml');
  writeFileSync(config, [
    'server:',
    `  grpc: { host: 127.0.0.1, port: ${port} }`,
    '  http: { enabled: false }',
    '  admin: { enabled: false }',
    'log: { level: silent }',
    'routes:',
    '  - { name: health, match: { method: GET, path: /healthz }, action: read, resource: { type: health, id: h, tenant: public }, anonymous: true, stages: [] }',
    '',
  ].join('\n'));
  const child = spawn(process.execPath, [join(root, 'bin/authz-sidecar.js'), 'serve', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    for (let i = 0; i < 100; i++) {
      const up = await new Promise((r) => { const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); }); s.on('error', () => r(false)); });
      if (up) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const baseline = rssMiB(child.pid);
    process.stdout.write(`${JSON.stringify({ scenario: 'baseline', rss_mib: round(baseline), load: loadavg().map(round) })}\n`);
    for (const name of ONLY) {
      const until = Date.now() + SECONDS * 1000;
      let peak = 0;
      const sampler = setInterval(() => { peak = Math.max(peak, rssMiB(child.pid)); }, 100);
      // The probe runs on its own thread: the flood generator must not starve it.
      const probes = [];
      const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { port, until } });
      worker.on('message', (p) => probes.push(p));
      const probed = new Promise((r) => worker.once('exit', r));
      await Promise.all([...floods[name](port, until), probed]);
      clearInterval(sampler);
      const answered = probes.filter((p) => p.ok);
      const ms = answered.map((p) => p.ms).sort((a, b) => a - b);
      process.stdout.write(`${JSON.stringify({
        scenario: name, seconds: SECONDS, peak_rss_mib: round(peak), rss_after_mib: round(rssMiB(child.pid)),
        probes: probes.length, probes_answered: answered.length,
        probe_p50_ms: round(ms[Math.floor(ms.length / 2)] ?? NaN), probe_max_ms: round(ms.at(-1) ?? NaN),
        alive: child.exitCode === null, load: loadavg().map(round),
      })}\n`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

const round = (n) => Math.round(n * 10) / 10;
if (isMainThread) {
  await main();
} else {
  const probes = { push: (p) => parentPort.postMessage(p) };
  await probeLoop(workerData.port, workerData.until, probes);
}
