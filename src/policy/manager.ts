// Keeps a policy bundle current: reads it from its source (file, directory or
// HTTP bundle server), verifies, activates and smoke-tests each new version,
// and hands only good ones on. A bundle that fails any step is counted
// (authz_policy_bundle_loads_total{outcome="failure"}) and logged, and the
// last good policy stays in place.
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { activateBundle, type ActivePolicy } from './activation.js';
import { fingerprintOf, walkBundleDir, type DirWalk } from './bundle/dir-walk.js';
import { DirChangeWatch } from './bundle/dir-watch.js';
import type { BundleFiles } from './bundle/files.js';
import { BundleLimitError } from './bundle/data-limits.js';
import { prepareOffThread } from './bundle/parse-off-thread.js';
import type { BundleContentLimits } from './bundle/parse.js';
import type { ParseJob, PreparedBundle } from './bundle/prepare.js';
import { loadBundleVerifier, type BundleVerifier } from './bundle/signature.js';
import type { PolicyConfig } from './config.js';
import type { PolicyMetrics } from './metrics.js';
import { HttpBundlePoller, type PollOutcome } from './sources/http-poller.js';

export interface BundleManagerDeps {
  readonly log: Logger;
  readonly metrics: PolicyMetrics;
  readonly baseDir: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly random?: () => number;
  readonly onPollAttempt?: (outcome: PollOutcome, nextDelayMs: number, error?: Error) => void;
}

export class BundleManager {
  private verifier: BundleVerifier | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private poller: HttpBundlePoller | undefined;
  private closed = false;
  private loading = false;
  private fingerprint: string | undefined;
  private readonly dirWatch = new DirChangeWatch();
  private firstSettled = false;
  private resolveFirst!: (p: ActivePolicy) => void;
  private rejectFirst!: (e: Error) => void;
  private readonly first: Promise<ActivePolicy>;
  /** The last load that failed since the last one that succeeded (for status). */
  private failure: { readonly message: string; readonly at: number } | undefined;

  constructor(
    private readonly config: PolicyConfig,
    private readonly deps: BundleManagerDeps,
    /** Every successful load after the first (the first is what start() resolves with). */
    private readonly onUpdate: (policy: ActivePolicy) => void,
  ) {
    this.first = new Promise<ActivePolicy>((res, rej) => {
      this.resolveFirst = res;
      this.rejectFirst = rej;
    });
    this.first.catch(() => undefined);
  }

  /** Why the latest load failed, when it did (the last good bundle keeps serving). */
  get lastFailure(): { readonly message: string; readonly at: number } | undefined {
    return this.failure;
  }

  /** Where bundles come from, for logs and readiness reports. */
  get origin(): string {
    const b = this.config.bundle;
    return b.url ?? this.path(b.file ?? b.dir!);
  }

  /**
   * Starts the source and resolves with the first good policy. A file or
   * directory rejects when its first load fails (a broken deployment should
   * not look healthy) and keeps watching; a URL keeps polling and rejects
   * after ready_timeout_ms.
   */
  async start(): Promise<ActivePolicy> {
    // A key file that cannot be read fails the start here; each parse worker loads its own copy.
    if (this.config.signing !== undefined) {
      this.verifier = await loadBundleVerifier(this.config.signing, (p) => this.path(p));
    }
    const b = this.config.bundle;
    if (b.url !== undefined) this.startPoller(b.url);
    else {
      await this.reloadLocal();
      if (!this.firstSettled) this.settleFirst(new Error('policy bundle did not load'));
      if (b.watch_interval_ms > 0) {
        this.watchTimer = setInterval(() => void this.checkLocal(), b.watch_interval_ms);
        this.watchTimer.unref();
      }
    }
    return this.first;
  }

  close(): void {
    this.closed = true;
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.dirWatch.close();
    this.poller?.close();
    this.settleFirst(new Error('policy bundle manager closed before the first bundle loaded'));
  }

  private path(p: string): string {
    return isAbsolute(p) ? p : resolve(this.deps.baseDir, p);
  }

  private settleFirst(result: ActivePolicy | Error): void {
    if (this.firstSettled) return;
    this.firstSettled = true;
    if (result instanceof Error) this.rejectFirst(result);
    else this.resolveFirst(result);
  }

  private startPoller(url: string): void {
    const b = this.config.bundle;
    const headers: Record<string, string> = { ...b.headers };
    if (b.bearer_token_env !== undefined) {
      const token = (this.deps.env ?? process.env)[b.bearer_token_env];
      if (token === undefined || token === '') throw new Error(`policy.bundle.bearer_token_env: ${b.bearer_token_env} is not set`);
      headers.authorization = `Bearer ${token}`;
    }
    let lastError: Error | undefined;
    this.poller = new HttpBundlePoller({
      url,
      headers,
      crossOriginRedirects: b.cross_origin_redirects,
      timeoutMs: b.timeout_ms,
      maxBytes: b.max_bytes,
      minDelayMs: b.polling.min_delay_s * 1000,
      maxDelayMs: b.polling.max_delay_s * 1000,
      log: this.deps.log,
      random: this.deps.random,
      onBundle: async (bytes) => {
        await this.activate(() => this.prepare({ bytes }));
      },
      onAttempt: (outcome, delay, err) => {
        if (outcome === 'error') {
          lastError = err;
          this.failure = { message: err?.message ?? 'poll failed', at: Date.now() };
        } else if (outcome === 'not_modified') {
          this.failure = undefined; // the server answers again, and the bundle in use is its current one
        }
        this.deps.onPollAttempt?.(outcome, delay, err);
      },
    });
    const giveUp = setTimeout(() => {
      this.settleFirst(new Error(`no policy bundle from ${url} within ${this.config.ready_timeout_ms} ms${lastError ? `: ${lastError.message}` : ''}`));
    }, this.config.ready_timeout_ms);
    giveUp.unref();
    void this.first.finally(() => clearTimeout(giveUp)).catch(() => undefined);
    this.poller.start();
  }

  private async checkLocal(): Promise<void> {
    if (this.loading || this.closed) return;
    // A directory is walked again only when its watch saw a change (or now and then, see dir-watch.ts).
    if (this.config.bundle.dir !== undefined && !this.dirWatch.shouldWalk()) return;
    let current: string;
    try {
      current = (await this.localFingerprint()).fingerprint;
    } catch {
      current = 'missing';
    }
    if (current !== this.fingerprint) await this.reloadLocal();
  }

  /** A file's stamp, or a directory's walk (which also re-arms the directory watch). */
  private async localFingerprint(): Promise<{ fingerprint: string; walk?: DirWalk }> {
    const b = this.config.bundle;
    if (b.dir !== undefined) {
      this.deps.metrics.dirWalks.inc();
      const walk = await walkBundleDir(this.path(b.dir), { maxBytes: b.max_bytes, maxEntries: b.max_files });
      this.dirWatch.watch(walk.dirs);
      return { fingerprint: fingerprintOf(walk), walk };
    }
    const st = await stat(this.path(b.file!));
    return { fingerprint: `${st.size}:${st.mtimeMs}:${st.ino}` };
  }

  private async reloadLocal(): Promise<void> {
    if (this.loading) return;
    this.loading = true;
    try {
      // Taken before reading, so a change during the read triggers another load.
      const seen = await this.localFingerprint().catch((err: unknown) => ({ fingerprint: 'missing', error: err as Error, walk: undefined }));
      this.fingerprint = seen.fingerprint;
      const b = this.config.bundle;
      await this.activate(async () => {
        if (b.dir !== undefined) {
          if ('error' in seen) throw seen.error;
          return this.prepare({ files: await this.readWalked(seen.walk!) });
        }
        const file = this.path(b.file!);
        const st = await stat(file);
        if (st.size > b.max_bytes) throw new BundleLimitError('bytes', `${file} is larger than max_bytes (${b.max_bytes})`);
        return this.prepare({ bytes: await readFile(file) });
      }).catch(() => undefined);
    } finally {
      this.loading = false;
    }
  }

  private async readWalked(walk: DirWalk): Promise<BundleFiles> {
    if (walk.skippedLinks.length > 0) {
      this.deps.log.warn({ origin: this.origin, links: walk.skippedLinks.slice(0, 10), count: walk.skippedLinks.length },
        'policy bundle directory: links to directories (or dangling links) are not followed');
    }
    const files: BundleFiles = new Map();
    for (const f of walk.files) files.set(f.rel, await readFile(f.abs));
    return files;
  }

  /** Unpacks, checks, verifies and parses on a worker thread (bundle/parse-off-thread.ts). */
  private prepare(source: ParseJob['source']): Promise<PreparedBundle> {
    const b = this.config.bundle;
    const limits: BundleContentLimits = { maxFiles: b.max_files, data: { maxEntries: b.max_data_entries, maxDepth: b.max_data_depth } };
    const signing = this.config.signing;
    return prepareOffThread({
      source, maxBytes: b.max_bytes, limits, configData: this.config.data,
      signing: signing === undefined ? undefined : { config: signing, keyPath: this.path(signing.public_key_file) },
    }, { memoryMb: b.parse_memory_mb, timeoutMs: b.parse_timeout_ms });
  }

  /** One attempt: parse, verify, activate, smoke-test; publish on success, count either way. Rethrows failures. */
  private async activate(parse: () => Promise<PreparedBundle>): Promise<void> {
    const origin = this.origin;
    let policy: ActivePolicy;
    try {
      const parsed = await parse();
      policy = await activateBundle(parsed, { config: this.config, origin });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.failure = { message: error.message, at: Date.now() };
      this.deps.metrics.bundleLoads.labels('failure').inc();
      const limit = error instanceof BundleLimitError ? error.limit : undefined;
      if (limit !== undefined) this.deps.metrics.limitRefusals.labels(limit).inc();
      this.deps.log.error({ origin, err: error.message, ...(limit === undefined ? {} : { limit }) }, 'policy bundle refused; keeping the last good one');
      if (!this.firstSettled && this.config.bundle.url === undefined) this.settleFirst(new Error(`policy bundle ${origin}: ${error.message}`));
      throw error;
    }
    if (this.closed) return;
    this.failure = undefined;
    this.deps.metrics.bundleLoads.labels('success').inc();
    this.deps.metrics.lastSuccess.set(Date.now() / 1000);
    this.deps.log.info(
      { origin, revision: policy.revision, entrypoint: policy.defaultEntrypoint.name, signed_by: policy.signedBy },
      'policy bundle activated',
    );
    if (!this.firstSettled) this.settleFirst(policy);
    else this.onUpdate(policy);
  }
}
