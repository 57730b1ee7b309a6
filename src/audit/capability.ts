// The audit capability: the write-ahead trail on the decision thread, the
// shipper thread that replicates it to the remote sinks, their metrics.
//
// onDecision appends the decision's event to the trail (one write into the
// page cache) and returns before the transport answers, so an answer never
// leaves without its event on disk. When the append fails it returns false
// and, with on_full=deny, the authorizer turns the answer into a deny
// `audit_unavailable` (no unaudited access); with drop it is counted.
import { closeSync, openSync, readSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Capability, CapabilityDeps, PartStatus, PreparedChange } from '../decision/capability.js';
import type { AuthzRequest, Decision } from '../decision/types.js';
import { parseAuditConfig, remoteSinksOf, trailConfigOf, type AuditConfig, type KafkaSinkConfig } from './config.js';
import { eventJson } from './event.js';
import { BREAKS_FILE } from './hash-chain.js';
import { AuditMetrics } from './metrics.js';
import { remoteSinkNames } from './shipping/remote-sinks.js';
import type { ShipperProgress } from './shipping/shipper.js';
import { ShipperSupervisor } from './shipping/supervisor.js';
import { auditStatus } from './status.js';
import { TrailWriter } from './trail/trail-writer.js';

export interface AuditCapability extends Capability {
  /** False when audit cannot record and on_full=deny: deny with 'audit_unavailable' without deciding. */
  canAccept(): boolean;
  /** The shipper thread's supervisor (undefined without remote sinks). */
  readonly shipper: ShipperSupervisor | undefined;
}

export interface AuditCapabilityOptions {
  /** Where the stdout sink writes (default process.stdout). */
  readonly stdout?: NodeJS.WritableStream;
}

interface SinkState {
  progress: ShipperProgress | undefined;
}

const TIMESTAMP_RE = /"timestamp":"([^"]{1,40})"/;

export function createAuditCapability(section: unknown, deps: CapabilityDeps, options: AuditCapabilityOptions = {}): AuditCapability {
  const config = parseAuditConfig(section);
  const log = deps.log.child({ room: 'audit' });
  const trailConfig = trailConfigOf(config);
  const trailDir = trailConfig ? resolve(deps.baseDir, trailConfig.dir) : undefined;
  const remote = remoteSinksOf(config);
  const remoteNames = remoteSinkNames(remote);
  const stdout = config.sinks.some((s) => 'stdout' in s) ? (options.stdout ?? process.stdout) : undefined;
  const deny = config.on_full === 'deny';
  const sinks = new Map<string, SinkState>(remoteNames.map((n) => [n, { progress: undefined }]));
  let trail: TrailWriter | undefined;
  let shipper: ShipperSupervisor | undefined;
  let recordedBreaks = 0;
  let opened = trailDir === undefined;
  let closed = false;
  let startError: string | undefined;

  const metrics: AuditMetrics = new AuditMetrics(deps.metrics.registry, remoteNames, {
    trailBytes: () => trail?.bytes ?? 0,
    backlogBytes: (sink) => backlog(trail, sinks.get(sink)?.progress).bytes,
    oldestUnshippedAgeSeconds: (sink) => oldestUnshippedAge(trail, trailDir, sinks.get(sink)?.progress),
    sinkUp: (sink) => sinks.get(sink)?.progress?.connected ?? false,
    chainBreaks: () => recordedBreaks,
    trailErrors: () => ({ write: trail?.writeErrors ?? 0, fsync: trail?.fsyncErrors ?? 0, head: trail?.headErrors ?? 0 }),
  });

  const opening = (async () => {
    if (trailDir === undefined || trailConfig === undefined) return;
    trail = await TrailWriter.open({
      dir: trailDir, fsync: trailConfig.fsync, fsyncIntervalMs: trailConfig.fsync_interval_ms,
      segmentBytes: trailConfig.segment_bytes, maxBytes: trailConfig.max_bytes, log,
    }).catch((err: unknown) => {
      throw new Error(`audit trail ${trailDir}: ${err instanceof Error ? err.message : String(err)}`);
    });
    if (trail.torn) metrics.tornTails.inc();
    recordedBreaks = countLines(join(trailDir, BREAKS_FILE));
    if (remoteNames.length > 0) {
      trail.setShippedSeq(0); // nothing is known shipped until the shipper reports
      shipper = new ShipperSupervisor({
        sinks: remote,
        options: shipperOptions(config, trailDir),
        logLevel: (log as unknown as { level?: string }).level ?? 'info',
        nice: config.shipper_nice,
      }, {
        onProgress: (reports) => {
          let shipped = Infinity;
          for (const p of reports) {
            const state = sinks.get(p.sink);
            if (state === undefined) continue;
            state.progress = p;
            metrics.delivered.inc({ sink: p.sink }, p.delivered);
            metrics.sinkErrors.inc({ sink: p.sink }, p.errors);
            metrics.quarantined.inc({ sink: p.sink }, p.quarantined);
            metrics.checkpointResets.inc({ sink: p.sink }, p.checkpointResets);
            for (const s of p.batchSeconds) metrics.sinkLatency.observe({ sink: p.sink }, s);
          }
          for (const state of sinks.values()) shipped = Math.min(shipped, state.progress?.position.seq ?? 0);
          trail?.setShippedSeq(shipped);
        },
        onRestart: () => metrics.shipperRestarts.inc(),
      }, log);
      shipper.start();
    }
    opened = true;
    log.info({ trail: trailDir, fsync: trailConfig.fsync, sinks: config.sinks.map((s) => Object.keys(s)[0]), on_full: config.on_full },
      'audit trail open');
  })();
  opening.catch((err: unknown) => {
    startError = err instanceof Error ? err.message : String(err);
  });
  opening.catch((err: unknown) => log.error({ err: String(err) }, 'audit could not start; decisions are denied (on_full=deny) or unaudited (drop)'));

  const record = (decision: Decision, req: AuthzRequest): boolean => {
    metrics.emitted++;
    let json: string;
    try {
      json = eventJson(decision, req);
    } catch (err) {
      // Cannot happen with well-formed decisions; the answer path must not throw either way.
      log.error({ err: String(err) }, 'audit: could not serialize an event');
      metrics.droppedTrailError++;
      return !deny;
    }
    if (stdout !== undefined) {
      stdout.write(json + '\n');
      metrics.stdoutWritten++;
    }
    if (trailDir === undefined) return true;
    if (trail === undefined || closed) {
      metrics.droppedTrailError++;
      return !deny;
    }
    if (trail.append(json)) {
      metrics.written++;
      return true;
    }
    if (trail.full) metrics.droppedTrailFull++;
    else metrics.droppedTrailError++;
    return !deny;
  };

  return {
    name: 'audit',
    onDecision: record,
    canAccept: () => !deny || (opened && !closed && !(trail?.full ?? false)),
    get shipper() {
      return shipper;
    },
    // Not ready while the trail cannot be written: no traffic should be sent to a sidecar that cannot audit it.
    isReady: () => opened && !(trail?.failing ?? false),
    readinessChecks: () => ({
      audit_trail_writable: opened && !(trail?.failing ?? false),
      audit_chain_intact: recordedBreaks === 0,
    }),
    ready: () => opening,
    status: (): PartStatus => {
      let backlogBytes = 0;
      let oldest = 0;
      const down: string[] = [];
      for (const name of remoteNames) {
        const progress = sinks.get(name)?.progress;
        backlogBytes = Math.max(backlogBytes, backlog(trail, progress).bytes);
        oldest = Math.max(oldest, oldestUnshippedAge(trail, trailDir, progress));
        if (progress !== undefined && !progress.connected) down.push(name);
      }
      return auditStatus({
        started: opened,
        startError,
        failing: trail?.failing ?? false,
        accepting: !deny || (opened && !closed && !(trail?.full ?? false)),
        trailBytes: trail?.bytes ?? 0,
        trailMaxBytes: trailConfig?.max_bytes,
        backlogBytes,
        oldestUnshippedAgeS: backlogBytes === 0 ? null : Math.round(oldest),
        sinksDown: down,
        chainBreaks: recordedBreaks,
      });
    },
    // The trail, its lock and the shipper are opened once per process: a
    // changed section is validated here (so a bad one refuses the whole reload
    // with its error) and otherwise applies on restart only.
    prepare: (next: unknown): Promise<PreparedChange> => {
      const parsed = parseAuditConfig(next);
      const changed = Object.keys({ ...config, ...parsed }).filter(
        (k) => JSON.stringify(config[k as keyof AuditConfig]) !== JSON.stringify(parsed[k as keyof AuditConfig]),
      );
      return Promise.reject(new Error(`audit.${changed[0] ?? 'section'} changed; it applies on restart only`));
    },
    close: async () => {
      await opening.catch(() => undefined);
      closed = true;
      const deadline = Date.now() + config.drain_timeout_ms;
      // The lock is held until shipping stopped: a successor must not ship the same trail alongside.
      await trail?.close({ keepLock: true });
      await shipper?.drain(deadline);
      trail?.unlock();
    },
  };
}

function shipperOptions(config: AuditConfig, dir: string) {
  const remotes = remoteSinksOf(config);
  const backoff = (remotes.kafka as KafkaSinkConfig | undefined)?.retry_backoff_ms ?? remotes.postgres?.retry_backoff_ms;
  return {
    dir,
    batchMax: config.batch.max_events,
    pollMs: Math.max(1, config.batch.max_wait_ms),
    backoffMinMs: backoff?.min ?? 200,
    backoffMaxMs: backoff?.max ?? 5000,
  };
}

/** Trail bytes past a sink's position. */
function backlog(trail: TrailWriter | undefined, p: ShipperProgress | undefined): { bytes: number } {
  if (trail === undefined) return { bytes: 0 };
  const segs = trail.segments;
  const i = p === undefined ? -1 : segs.findIndex((s) => s.name === p.position.file);
  if (i < 0 || p === undefined) return { bytes: trail.bytes };
  let bytes = Math.max(0, (segs[i]?.size ?? 0) - p.position.offset);
  for (let k = i + 1; k < segs.length; k++) bytes += segs[k]?.size ?? 0;
  return { bytes };
}

/** Age of the first event past the sink's position, read from the trail at scrape time (so a dead shipper still shows). */
function oldestUnshippedAge(trail: TrailWriter | undefined, dir: string | undefined, p: ShipperProgress | undefined): number {
  if (trail === undefined || dir === undefined || backlog(trail, p).bytes === 0) return 0;
  const segs = trail.segments;
  let file = p?.position.file;
  let offset = p?.position.offset ?? 0;
  const i = segs.findIndex((s) => s.name === file);
  if (i < 0) {
    file = segs[0]?.name;
    offset = 0;
  } else if (offset >= (segs[i]?.size ?? 0) && segs[i + 1] !== undefined) {
    file = segs[i + 1]?.name;
    offset = 0;
  }
  if (file === undefined) return 0;
  try {
    const fd = openSync(join(dir, file), 'r');
    const buf = Buffer.alloc(4096);
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, offset);
    } finally {
      closeSync(fd);
    }
    const m = TIMESTAMP_RE.exec(buf.toString('utf8', 0, n));
    const at = m ? Date.parse(m[1] as string) : NaN;
    return Number.isNaN(at) ? 0 : Math.max(0, (Date.now() - at) / 1000);
  } catch {
    return 0;
  }
}

function countLines(path: string): number {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0).length;
  } catch {
    return 0;
  }
}
