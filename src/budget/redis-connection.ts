// The budget backend's connection to Redis: one server, a Redis Cluster, or
// a master found through Sentinel, each through ioredis' own support (which
// follows MOVED redirects, re-reads the slot map and re-asks the sentinels
// after a failover). Every connection it opens reads replies through a
// RespReplyGuard, and any connection whose replies are in doubt can be
// dropped: ioredis then connects again.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { keySlot } from './key-slot.js';
import { RespReplyGuard, type GuardRefusal } from './resp-reply-guard.js';

export type RedisTarget =
  | { readonly kind: 'single'; readonly url: string }
  | { readonly kind: 'cluster'; readonly nodes: readonly string[] }
  | {
      readonly kind: 'sentinel';
      readonly masterName: string;
      readonly sentinels: readonly string[];
      readonly username?: string | undefined;
      readonly password?: string | undefined;
      readonly tls: boolean;
    };

export interface RedisConnectionOptions {
  readonly target: RedisTarget;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxReplyBytes: number;
  /** A connection's stream was refused by its guard (it is being destroyed). */
  readonly onRefusedReply: (kind: GuardRefusal, why: string) => void;
}

export class RedisConnection {
  readonly client: Redis | Cluster;
  readonly isCluster: boolean;
  /** Where it connects, without credentials, for logs. */
  readonly description: string;
  /**
   * Bumped each time a guard refuses a stream: a reply that arrives after a
   * bump, for a command sent before it, may have been decoded from the
   * refused bytes and is discarded.
   */
  doubtEpoch = 0;

  constructor(private readonly opts: RedisConnectionOptions) {
    const common: RedisOptions = {
      // RESP2, so that a RESP3-only type in a reply is a protocol violation
      // (the guard drops it) rather than a shape to guess at.
      protocol: 2,
      maxRetriesPerRequest: 0,
      // A command that got no answer before its connection dropped is never
      // sent again: its first copy may have run.
      autoResendUnfulfilledCommands: false,
      commandTimeout: opts.timeoutMs,
      connectTimeout: opts.connectTimeoutMs,
      disableClientInfo: true,
    };
    const t = opts.target;
    if (t.kind === 'cluster') {
      const first = new URL(t.nodes[0]!);
      const clusterOptions: ClusterOptions = {
        // Fail fast instead of queueing while the cluster is not ready: the
        // decision path must never wait for a reconnect or a slot refresh.
        enableOfflineQueue: false,
        clusterRetryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
        // Reconnect to a node that restarts in place; a failed-over master is
        // left for the slot map refresh (MOVED) to replace.
        clusterNodeRetryStrategy: (attempt: number) => (attempt > 3 ? null : attempt * 100),
        slotsRefreshTimeout: Math.max(opts.connectTimeoutMs, 500),
        redisOptions: { ...common, ...credentials(first), ...(first.protocol === 'rediss:' ? { tls: {} } : {}) },
      };
      const cluster = new Cluster(t.nodes.map(hostPort), clusterOptions);
      cluster.on('+node', (node: Redis) => this.guard(node));
      this.client = cluster;
      this.isCluster = true;
      this.description = `cluster ${t.nodes.map((n) => new URL(n).host).join(',')}`;
    } else if (t.kind === 'sentinel') {
      const firstSentinel = new URL(t.sentinels[0]!);
      const sentinelAuth = credentials(firstSentinel);
      const client = new Redis({
        ...common,
        enableOfflineQueue: false,
        retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
        name: t.masterName,
        sentinels: t.sentinels.map(hostPort),
        ...(sentinelAuth.username !== undefined ? { sentinelUsername: sentinelAuth.username } : {}),
        ...(sentinelAuth.password !== undefined ? { sentinelPassword: sentinelAuth.password } : {}),
        ...(firstSentinel.protocol === 'rediss:' ? { sentinelTLS: {} } : {}),
        ...(t.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
        ...(t.username !== undefined ? { username: t.username } : {}),
        ...(t.password !== undefined ? { password: t.password } : {}),
        sentinelCommandTimeout: Math.max(opts.timeoutMs * 20, 500),
        // A master demoted without dying answers writes with READONLY: ask the
        // sentinels again (a dead one drops the connection, which does the same).
        // ioredis' failoverDetector is not used: its sentinel subscriptions
        // outlive disconnect() when it races a reconnect.
        reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 1 : false),
      });
      this.guard(client);
      this.client = client;
      this.isCluster = false;
      this.description = `sentinel master ${t.masterName} via ${t.sentinels.map((s) => new URL(s).host).join(',')}`;
    } else {
      const client = new Redis(t.url, {
        ...common,
        // Fail fast instead of queueing while disconnected: the decision path
        // must never wait for a reconnect.
        enableOfflineQueue: false,
        retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
      });
      this.guard(client);
      this.client = client;
      this.isCluster = false;
      this.description = redactUrl(t.url);
    }
  }

  /** Each new socket of `redis` is read through a fresh guard, ahead of ioredis' decoder. */
  private guard(redis: Redis): void {
    redis.on('connect', () => {
      const stream = redis.stream;
      const guard = new RespReplyGuard(this.opts.maxReplyBytes, (kind, why) => {
        this.doubtEpoch++;
        this.opts.onRefusedReply(kind, why);
        stream.destroy(new Error(`budget: redis reply refused: ${why}`));
      });
      stream.prependListener('data', (chunk: Buffer) => guard.feed(chunk));
    });
  }

  /**
   * Drops the connection that serves `key` because its replies are in doubt
   * (a command timed out: its reply may still come and be taken for the next
   * one's). ioredis connects again; commands pending on it fail.
   */
  dropConnectionOf(key: string): void {
    const node = this.nodeOf(key);
    node?.stream?.destroy();
  }

  private nodeOf(key: string): Redis | undefined {
    if (!(this.client instanceof Cluster)) return this.client;
    const master = this.client.slots[keySlot(key)]?.[0];
    if (master === undefined) return undefined;
    return this.client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === master);
  }

  /** The servers that hold keys: the one Redis, or every cluster master (SCAN walks each). */
  masters(): Redis[] {
    return this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
  }
}

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: u.port === '' ? 6379 : Number(u.port) };
}

function credentials(u: URL): { username?: string; password?: string } {
  const out: { username?: string; password?: string } = {};
  if (u.username !== '') out.username = decodeURIComponent(u.username);
  if (u.password !== '') out.password = decodeURIComponent(u.password);
  return out;
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
