// A real Prometheus (Debian's binary) for a test: a temp config that scrapes
// the given targets every second, a temp data dir, a free loopback port.
// Stopped with SIGTERM at teardown.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import { request } from 'undici';

export interface PrometheusServer {
  readonly url: string;
  /** An instant query; the `result` array of the API's answer. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export async function startPrometheus(t: Test, binary: string, targets: { job: string; address: string; labels?: Record<string, string> }[]): Promise<PrometheusServer> {
  // Not t.testdir: the sidecar harness owns that one, and a second call would empty it.
  const dir = mkdtempSync(join(tmpdir(), 'authz-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, JSON.stringify({
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: targets.map((tg) => ({ job_name: tg.job, static_configs: [{ targets: [tg.address], labels: tg.labels ?? {} }] })),
  }));
  const port = await freePort();
  const proc = spawn(binary, [
    `--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  t.teardown(async () => {
    proc.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
    const ready = await request(`${url}/-/ready`).then(async (r) => { await r.body.dump(); return r.statusCode === 200; }, () => false);
    if (ready) break;
    if (Date.now() > until) throw new Error(`prometheus not ready after 30 s: ${stderr}`);
    await sleep(100);
  }
  return {
    url,
    async query(expr) {
      const res = await request(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      const body = (await res.body.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
      if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error}`);
      const result = body.data!.result;
      if (body.data!.resultType === 'scalar') return [{ metric: {}, value: result as [number, string] }];
      return result as { metric: Record<string, string>; value: [number, string] }[];
    },
  };
}
