// The running sidecar: capabilities, the current decision runtime, the
// servers, hot reload and shutdown. Transports read `sidecar.decide`, which
// always goes through the runtime current at the time of the call.
import { resolve, sep } from 'node:path';
import type { LoadedConfig } from './config/load.js';
import { loadConfigFile } from './config/load.js';
import { watchFile, type FileWatch } from './config/watch.js';
import type { Capability, PartStatus, PreparedChange } from './decision/capability.js';
import type { StageFactory } from './decision/stage-registry.js';
import type { AuthzRequest, Decision } from './decision/types.js';
import type { AuditCapability } from './audit/index.js';
import { CAPABILITY_SECTIONS, createCapabilities } from './capabilities.js';
import { createLogger, type Logger } from './observability/logger.js';
import { SidecarMetrics } from './observability/metrics.js';
import { foldStatus, identityStatus, type SidecarStatus } from './sidecar-status.js';
import { buildRuntime, type DecisionRuntime } from './runtime.js';
import { startAdminServer } from './transport/admin/server.js';
import { DynamicMetadataPlan } from './transport/grpc/check-response-writer.js';
import { startGrpcServer } from './transport/grpc/server.js';
import { startHttpAuthzServer } from './transport/http/server.js';
import { startProxyServer } from './transport/proxy/server.js';
import { applyHeapGrowth } from './util/heap-growth.js';
import { timeLimit } from './util/time-limit.js';

export interface SidecarOptions {
  readonly loaded: LoadedConfig;
  readonly log?: Logger;
  /** Watch the config file and apply changes (default: true when loaded from a file). */
  readonly watch?: boolean;
  /** Resolve only once keys, models and bundles have loaded (default: true). Servers listen either way. */
  readonly waitReady?: boolean;
  /** Start the configured servers (default: true; `check` decides offline). */
  readonly listen?: boolean;
  /** With waitReady: give up (and fail the start) after this long. Default: wait as long as it takes. */
  readonly readyTimeoutMs?: number;
}

/** A reload waits this long for the new config's keys (a remote JWKS retries for ever in the background). */
const RELOAD_KEYS_TIMEOUT_MS = 10_000;

interface Listening {
  port: number;
  close(): Promise<void>;
}

export class Sidecar {
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  readonly ports: { grpc?: number; http?: number; admin?: number; proxy?: number } = {};
  private runtime: DecisionRuntime;
  /** The access-log fields in force (decision_metadata.fields), for both Envoy transports. */
  private metadata: DynamicMetadataPlan;
  private readonly capabilities: Capability[];
  private readonly servers: Listening[] = [];
  private watcher: FileWatch | undefined;
  private identityReady = false;
  private identityError: string | undefined;
  /** Reloads run one at a time: two file events must not prepare against the same "current" config. */
  private reloading: Promise<unknown> = Promise.resolve();
  private closed = false;
  private startup: Promise<void> | undefined;

  private readonly audit: AuditCapability | undefined;

  private constructor(private loaded: LoadedConfig, log: Logger, metrics: SidecarMetrics, capabilities: Capability[]) {
    this.log = log;
    this.metrics = metrics;
    this.capabilities = capabilities;
    this.audit = this.capabilities.find((c): c is AuditCapability => c.name === 'audit');
    this.runtime = this.build(loaded);
    this.metadata = new DynamicMetadataPlan(loaded.config.decision_metadata.fields);
  }

  static async start(opts: SidecarOptions): Promise<Sidecar> {
    const log = opts.log ?? createLogger(opts.loaded.config.log.level);
    // Before the capabilities allocate: the process's heap policy is in force from the start.
    if (opts.listen !== false) {
      const growth = applyHeapGrowth(opts.loaded.config.runtime.heap_growing_percent);
      if (growth !== null) log.info({ heap_growing_percent: growth }, 'runtime: V8 heap growing factor set');
    }
    // The capabilities register their metrics on the sidecar's registry as they are created.
    const metrics = new SidecarMetrics();
    const capabilities = await createCapabilities(opts.loaded, { log, metrics, baseDir: opts.loaded.baseDir });
    const sidecar = new Sidecar(opts.loaded, log, metrics, capabilities);
    warnOnDevelopmentKeys(opts.loaded, log);
    try {
      // Listen first: while keys, models and bundles load, /readyz answers 503
      // and gRPC health NOT_SERVING, and any request is denied (fail closed).
      const ready = sidecar.waitReady();
      sidecar.startup = ready;
      ready.catch(() => undefined); // handled below; must not surface as unhandled if listen() throws first
      if (opts.listen ?? true) await sidecar.listen();
      if (opts.waitReady ?? true) {
        const ms = opts.readyTimeoutMs;
        await (ms === undefined ? ready : timeLimit(ready, ms, () => new Error(`not ready within ${ms} ms (${notReadyParts(sidecar)})`)));
      }
      else ready.catch((err: unknown) => log.error({ error: (err as Error).message }, 'not ready'));
      if ((opts.watch ?? true) && opts.loaded.file) sidecar.watchConfig(opts.loaded.file);
    } catch (err) {
      await sidecar.close();
      throw err;
    }
    return sidecar;
  }

  /**
   * Settles when keys, models and bundles have first loaded (rejects when one
   * of them cannot, e.g. a broken local file). A remote JWKS that is down
   * keeps this pending while the sidecar serves, not ready.
   */
  ready(): Promise<void> {
    return this.startup ?? Promise.resolve();
  }

  /** The one entry point every transport calls. */
  readonly decide = (req: AuthzRequest, deadlineMs?: number): Decision | Promise<Decision> =>
    this.runtime.authorizer.decide(req, deadlineMs);

  get config(): LoadedConfig['config'] {
    return this.loaded.config;
  }

  /** Ready once keys and every capability a route needs have loaded. */
  isReady(): boolean {
    return !this.closed && this.identityReady && this.capabilities.every((c) => c.isReady());
  }

  readinessReport(): Record<string, boolean> {
    const report: Record<string, boolean> = { identity: this.identityReady };
    for (const c of this.capabilities) {
      report[c.name] = c.isReady();
      if (c.readinessChecks) Object.assign(report, c.readinessChecks());
    }
    return report;
  }

  /** A state and a message per part, for /readyz and /status. A part whose status() throws reports error. */
  status(): SidecarStatus {
    const parts: Record<string, PartStatus> = { identity: identityStatus(this.identityReady, this.identityError) };
    for (const c of this.capabilities) {
      try {
        parts[c.name] = c.status();
      } catch (err) {
        parts[c.name] = { state: 'error', message: `status unavailable: ${(err as Error).message}` };
      }
    }
    return foldStatus(parts, this.isReady());
  }

  /**
   * Re-read the config file and apply it all or nothing: every changed
   * capability section is prepared (validated, loaded, connected) and the new
   * runtime is built and its keys loaded; only when every step succeeded is
   * everything committed and the runtime swapped. On any failure every
   * prepared change is aborted and the last good config keeps serving, every
   * capability exactly as it was.
   */
  reload(): Promise<boolean> {
    const run = this.reloading.then(() => this.reloadNow());
    this.reloading = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(): Promise<boolean> {
    const file = this.loaded.file;
    if (file === undefined || this.closed) return false;
    let next: LoadedConfig;
    let runtime: DecisionRuntime | undefined;
    const prepared: Array<readonly [Capability, PreparedChange]> = [];
    try {
      next = loadConfigFile(file);
      // The process's own settings (runtime.*) were applied once, at start.
      if (JSON.stringify(this.loaded.config.runtime) !== JSON.stringify(next.config.runtime)) {
        throw new Error('the runtime section changed; it applies on restart only');
      }
      await this.prepareCapabilities(next, prepared);
      const stageFactories = new Map(prepared.flatMap(([c, p]) => (p.stageFactory ? [[c.name, p.stageFactory] as const] : [])));
      const candidate = this.build(next, stageFactories);
      runtime = candidate;
      // A key server that does not answer must not hold the reload (and the next ones queued behind it) forever.
      await timeLimit(candidate.identity.ready(), RELOAD_KEYS_TIMEOUT_MS,
        () => new Error(`identity keys did not load within ${RELOAD_KEYS_TIMEOUT_MS} ms`));
      if (this.closed) throw new Error('the sidecar is shutting down');
    } catch (err) {
      for (const [, change] of prepared) change.abort();
      runtime?.close();
      this.metrics.configReloads.inc({ outcome: 'failure' });
      this.log.error({ file, error: (err as Error).message }, 'config reload refused; last good config keeps serving');
      return false;
    }
    // Nothing below may fail: commits are synchronous and infallible by contract
    // (a commit that throws anyway is a bug; it is logged, the others still apply).
    for (const [c, change] of prepared) {
      try {
        change.commit();
      } catch (err) {
        this.log.error({ capability: c.name, error: (err as Error).message }, 'config reload: a prepared change failed to commit');
      }
    }
    const previous = this.runtime;
    this.runtime = runtime;
    this.loaded = next;
    this.metadata = new DynamicMetadataPlan(next.config.decision_metadata.fields);
    previous.close();
    this.metrics.configReloads.inc({ outcome: 'success' });
    this.log.info({ file, routes: next.config.routes.length, changed: prepared.map(([c]) => c.name) }, 'config reloaded');
    return true;
  }

  /**
   * Stops in the order that loses nothing: the servers stop taking requests
   * and drain those in flight; the runtime (identity) closes; the deciding
   * capabilities close; audit closes last, so it records every decision
   * answered during the drain.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.close();
    await Promise.allSettled(this.servers.map((s) => s.close()));
    this.runtime.close();
    const deciding = this.capabilities.filter((c) => c !== this.audit);
    await Promise.allSettled(deciding.map((c) => c.close()));
    await this.audit?.close().catch((err: unknown) => this.log.error({ error: (err as Error).message }, 'audit close failed'));
  }

  private build(loaded: LoadedConfig, stageFactories?: ReadonlyMap<string, StageFactory>): DecisionRuntime {
    return buildRuntime(loaded, {
      log: this.log,
      metrics: this.metrics,
      capabilities: this.capabilities,
      stageFactories,
      onDecision: (decision, req) => {
        let recorded = true;
        for (const c of this.capabilities) if (c.onDecision?.(decision, req) === false) recorded = false;
        return recorded;
      },
      canRecord: this.audit ? () => this.audit!.canAccept() : undefined,
    });
  }

  private async waitReady(): Promise<void> {
    await this.runtime.identity.ready().catch((err: unknown) => {
      this.identityError = err instanceof Error ? err.message : String(err);
      throw err;
    });
    this.identityReady = true;
    await Promise.all(this.capabilities.map((c) => c.ready()));
  }

  /** Prepares every capability whose section changed, into `prepared` (so a failure can abort those already done). */
  private async prepareCapabilities(next: LoadedConfig, prepared: Array<readonly [Capability, PreparedChange]>): Promise<void> {
    const known = new Set(this.capabilities.map((c) => c.name));
    for (const name of CAPABILITY_SECTIONS) {
      if (!known.has(name) && next.raw[name] !== undefined) {
        throw new Error(`the ${name} section was added; it applies on restart only`);
      }
    }
    for (const c of this.capabilities) {
      const before = JSON.stringify(this.loaded.raw[c.name] ?? null);
      const after = JSON.stringify(next.raw[c.name] ?? null);
      if (before === after) continue;
      if (next.raw[c.name] === undefined) throw new Error(`the ${c.name} section was removed; it applies on restart only`);
      if (!c.prepare) throw new Error(`the ${c.name} section changed; it applies on restart only`);
      prepared.push([c, await c.prepare(next.raw[c.name])]);
    }
  }

  private async listen(): Promise<void> {
    const { server } = this.loaded.config;
    const log = this.log;
    if (server.grpc.enabled) {
      const grpc = server.grpc;
      const baseDir = this.loaded.baseDir;
      const s = await startGrpcServer({
        host: grpc.host, port: grpc.port, decide: this.decide, log: log.child({ room: 'grpc' }),
        metrics: this.metrics, isServing: () => this.isReady(),
        // The transport's own backstop for a decision that never settles: well
        // beyond any configured deadline, so it only fires on a bug.
        maxDecisionMs: Math.max(1000, 2 * maxDeadlineMs(this.loaded)),
        dynamicMetadata: () => this.metadata,
        maxConcurrentStreams: grpc.max_concurrent_streams,
        maxMessageBytes: grpc.max_message_bytes,
        messageTimeoutMs: grpc.message_timeout_ms,
        maxBufferedBytes: grpc.max_buffered_bytes,
        maxConnections: grpc.max_connections,
        tls: grpc.tls === undefined ? undefined : {
          certFile: resolve(baseDir, grpc.tls.cert_file),
          keyFile: resolve(baseDir, grpc.tls.key_file),
          clientCaFile: resolve(baseDir, grpc.tls.client_ca_file),
        },
      });
      this.servers.push(s);
      this.ports.grpc = s.port;
    }
    if (server.http.enabled) {
      const s = await startHttpAuthzServer({
        host: server.http.host, port: server.http.port, decide: this.decide, log: log.child({ room: 'http' }),
        pathPrefix: server.http.path_prefix, metrics: this.metrics, metadataFields: () => this.metadata.fields,
      });
      this.servers.push(s);
      this.ports.http = s.port;
    }
    if (server.proxy.enabled) {
      if (server.proxy.upstream === undefined) throw new Error('server.proxy.enabled needs server.proxy.upstream');
      const s = await startProxyServer({
        config: { ...server.proxy, upstream: server.proxy.upstream }, decide: this.decide,
        log: log.child({ room: 'proxy' }), metrics: this.metrics,
      });
      this.servers.push(s);
      this.ports.proxy = s.port;
    }
    if (server.admin.enabled) {
      const s = await startAdminServer({
        host: server.admin.host, port: server.admin.port, metrics: this.metrics, log: log.child({ room: 'admin' }),
        isReady: () => this.isReady(), readiness: () => this.readinessReport(), status: () => this.status(),
        handlers: this.capabilities.flatMap((c) => (c.adminHandler ? [c.adminHandler] : [])),
      });
      this.servers.push(s);
      this.ports.admin = s.port;
    }
    log.info({ ports: this.ports, routes: this.loaded.config.routes.length }, 'authz-sidecar listening');
  }

  private watchConfig(file: string): void {
    this.watcher = watchFile(file, () => {
      void this.reload();
    });
  }
}

function notReadyParts(sidecar: Sidecar): string {
  const waiting = Object.entries(sidecar.readinessReport()).filter(([, ok]) => !ok).map(([part]) => part);
  return `waiting for ${waiting.join(', ') || 'nothing'}`;
}

/** The committed development key set must never guard production traffic unnoticed. */
function warnOnDevelopmentKeys(loaded: LoadedConfig, log: Logger): void {
  const file = loaded.config.identity.jwt?.jwks_file;
  if (file === undefined) return;
  if (resolve(loaded.baseDir, file).endsWith(`${sep}config${sep}dev${sep}jwks.json`)) {
    log.warn({ jwks_file: file }, 'identity trusts the DEVELOPMENT key set in config/dev: anyone can mint tokens for it');
  }
}

function maxDeadlineMs(loaded: LoadedConfig): number {
  return loaded.config.routes.reduce((max, r) => Math.max(max, r.deadline_ms ?? 0), loaded.config.deadline_ms);
}
