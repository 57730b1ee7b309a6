// Real Redis topologies for failover tests, made of redis-server processes on
// free loopback ports and stopped at teardown: a Redis Cluster created with
// `redis-cli --cluster create` (masters with one replica each, a short
// cluster-node-timeout so a failover takes seconds), and a Sentinel set (a
// master, a replica, three sentinels with a short down-after).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { skipReasonOutsideCi } from './missing-dependency.js';
import { accepts } from './redis-server.js';
import { Redis } from 'ioredis';

/** Why these tests cannot run here, or undefined; under CI=true a missing binary throws. */
export function topologyUnavailableReason(): string | undefined {
  for (const bin of ['redis-server', 'redis-cli']) {
    const probe = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) return skipReasonOutsideCi(`${bin} is not on PATH (run scripts/ensure-test-deps.sh)`);
  }
  return undefined;
}

export interface Node {
  readonly port: number;
  readonly url: string;
  kill(): Promise<void>;
}

class Processes {
  private readonly children = new Map<number, ChildProcess>();
  readonly dir = mkdtempSync(path.join(tmpdir(), 'authz-redis-'));

  async start(port: number, args: string[]): Promise<Node> {
    const child = spawn('redis-server', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    this.children.set(port, child);
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited (${child.exitCode}): ${stderr}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}: ${stderr}`);
      await sleep(20);
    }
    return { port, url: `redis://127.0.0.1:${port}`, kill: () => this.kill(port) };
  }

  async kill(port: number): Promise<void> {
    const c = this.children.get(port);
    this.children.delete(port);
    if (c === undefined || c.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGKILL');
    await exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children.keys()].map((p) => this.kill(p)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const NO_PERSISTENCE = ['--save', '', '--appendonly', 'no', '--loglevel', 'warning', '--bind', '127.0.0.1'];

export interface TestCluster {
  readonly masters: readonly Node[];
  readonly nodes: readonly Node[];
  /** The master that serves `key`'s slot now. */
  masterOf(key: string): Promise<Node>;
  /** Until every live node reports cluster_state:ok and the slot's master is a live node. */
  untilHealthy(key?: string): Promise<void>;
}

/** 3 masters + 3 replicas, cluster-node-timeout 1000 ms. */
export async function startRedisCluster(t: Test): Promise<TestCluster> {
  const procs = new Processes();
  t.teardown(() => procs.stopAll());
  // The cluster bus listens on port + 10000: both must be free.
  const ports = await freePortPairs(6);
  const nodes = await Promise.all(ports.map((port) => procs.start(port, [
    '--port', String(port), ...NO_PERSISTENCE,
    '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '1000',
  ])));
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`),
    '--cluster-replicas', '1', '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 });
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
  const live = new Set(nodes);
  const byPort = new Map(nodes.map((n) => [n.port, n]));
  const tracked = nodes.map((n) => ({ ...n, kill: async () => { live.delete(n); await n.kill(); } }));
  const masters: Node[] = [];
  const cluster: TestCluster = {
    nodes: tracked,
    masters,
    async masterOf(key: string) {
      for (const n of live) {
        const c = new Redis(n.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, protocol: 2 });
        try {
          await c.connect();
          const slot = (await c.call('cluster', 'keyslot', key)) as number;
          const shards = (await c.call('cluster', 'slots')) as Array<[number, number, [string, number]]>;
          const owner = shards.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
          const node = owner === undefined ? undefined : byPort.get(owner);
          if (node !== undefined) return tracked[nodes.indexOf(node)]!;
        } catch {
          // try the next node
        } finally {
          c.disconnect();
        }
      }
      throw new Error(`no live node knows the master of ${key}`);
    },
    async untilHealthy(key?: string) {
      const until = Date.now() + 30_000;
      for (;;) {
        if (await healthy(live, key === undefined ? undefined : async () => {
          const m = await cluster.masterOf(key);
          return [...live].some((n) => n.port === m.port);
        })) return;
        if (Date.now() > until) throw new Error('the test cluster did not become healthy in 30 s');
        await sleep(100);
      }
    },
  };
  await cluster.untilHealthy();
  const masterPorts = new Set<number>();
  for (const n of nodes) {
    const c = new Redis(n.port, '127.0.0.1', { maxRetriesPerRequest: 0, protocol: 2 });
    const role = (await c.call('role')) as [string];
    if (role[0] === 'master') masterPorts.add(n.port);
    c.disconnect();
  }
  masters.push(...tracked.filter((n) => masterPorts.has(n.port)));
  return cluster;
}

async function healthy(live: Set<Node>, extra?: () => Promise<boolean>): Promise<boolean> {
  for (const n of live) {
    const c = new Redis(n.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, protocol: 2 });
    try {
      await c.connect();
      const info = (await c.call('cluster', 'info')) as string;
      if (!info.includes('cluster_state:ok')) return false;
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  }
  return extra === undefined ? true : extra();
}

export interface TestSentinels {
  readonly masterName: string;
  readonly sentinels: readonly Node[];
  master: Node;
  readonly replica: Node;
  /** Until the sentinels name `port` as the master and it answers as one. */
  untilMasterIs(port: number): Promise<void>;
}

/** A master, one replica and three sentinels (quorum 2, down-after 500 ms). */
export async function startSentinels(t: Test): Promise<TestSentinels> {
  const procs = new Processes();
  t.teardown(() => procs.stopAll());
  const [masterPort, replicaPort, ...sentinelPorts] = await freePortPairs(5);
  const masterName = 'budgets';
  const master = await procs.start(masterPort!, ['--port', String(masterPort), ...NO_PERSISTENCE]);
  const replica = await procs.start(replicaPort!, ['--port', String(replicaPort), ...NO_PERSISTENCE,
    '--replicaof', '127.0.0.1', String(masterPort)]);
  const sentinels: Node[] = [];
  for (const port of sentinelPorts) {
    const conf = path.join(procs.dir, `sentinel-${port}.conf`);
    writeFileSync(conf, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${procs.dir}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${masterName} 500`,
      `sentinel failover-timeout ${masterName} 3000`,
      `sentinel parallel-syncs ${masterName} 1`, '',
    ].join('\n'));
    sentinels.push(await procs.start(port, [conf, '--sentinel']));
  }
  const set: TestSentinels = {
    masterName,
    sentinels,
    master,
    replica,
    async untilMasterIs(port: number) {
      const until = Date.now() + 30_000;
      for (;;) {
        if (await sentinelsAgree(sentinels, masterName, port) && await isMaster(port)) return;
        if (Date.now() > until) throw new Error(`the sentinels did not settle on ${port} in 30 s`);
        await sleep(100);
      }
    },
  };
  // The replica has synced and every sentinel has found it (failover needs a known replica).
  const until = Date.now() + 30_000;
  while (!(await linkUp(replicaPort!)) || !(await replicaKnown(sentinels, masterName, replicaPort!))) {
    if (Date.now() > until) throw new Error('the sentinels did not find the replica in 30 s');
    await sleep(100);
  }
  await set.untilMasterIs(masterPort!);
  return set;
}

async function sentinelsAgree(sentinels: readonly Node[], name: string, port: number): Promise<boolean> {
  for (const s of sentinels) {
    const c = new Redis(s.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, protocol: 2 });
    try {
      await c.connect();
      const addr = (await c.call('sentinel', 'get-master-addr-by-name', name)) as [string, string] | null;
      if (addr === null || Number(addr[1]) !== port) return false;
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  }
  return true;
}

async function replicaKnown(sentinels: readonly Node[], name: string, port: number): Promise<boolean> {
  for (const s of sentinels) {
    const c = new Redis(s.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, protocol: 2 });
    try {
      await c.connect();
      const replicas = (await c.call('sentinel', 'replicas', name)) as string[][];
      const found = replicas.some((r) => {
        const i = r.indexOf('port');
        const f = r.indexOf('flags');
        return i >= 0 && Number(r[i + 1]) === port && f >= 0 && !r[f + 1]!.includes('down');
      });
      if (!found) return false;
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  }
  return true;
}

/** The replica's link to its master is up (it has the data set and follows the stream). */
async function linkUp(port: number): Promise<boolean> {
  const c = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, protocol: 2 });
  try {
    await c.connect();
    return (await c.info('replication')).includes('master_link_status:up');
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

async function isMaster(port: number): Promise<boolean> {
  const c = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, protocol: 2 });
  try {
    await c.connect();
    const role = (await c.call('role')) as [string];
    return role[0] === 'master';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Distinct ports p in [20000, 30000) with p and p + 10000 both free (cluster bus ports). */
async function freePortPairs(count: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < count) {
    const p = 20000 + Math.floor(Math.random() * 10000);
    if (out.includes(p) || out.includes(p + 10000) || out.includes(p - 10000)) continue;
    if ((await canListen(p)) && (await canListen(p + 10000))) out.push(p);
  }
  return out;
}
