// Builders for policy tests: bundle directories and tarballs around the
// stand-in policy module, signatures made with jose, and a capability wired
// to a silent logger and its own metrics registry.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { CompactSign, exportSPKI, generateKeyPair } from 'jose';
import type { Registry } from 'prom-client';
import { create as createTar } from 'tar';
import { createDecisionContext } from '../../src/decision/context.js';
import type { AuthzRequest, DecisionContext, Stage } from '../../src/decision/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { SidecarMetrics } from '../../src/observability/metrics.js';
import { createPolicyCapability, type PolicyCapability, type PolicyDeps } from '../../src/policy/index.js';
import { principal, resource } from '../support/principals.js';

export { standinWasm, STANDIN_ENTRYPOINTS } from '../support/opa-standin/assemble.js';

export function tempDir(t: { teardown(fn: () => void): void }, prefix = 'policy-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface BundleSpec {
  readonly wasm: Uint8Array;
  /** Bundle-relative path → content (objects are written as JSON). */
  readonly files?: Record<string, unknown>;
  readonly manifest?: Record<string, unknown>;
}

/** Writes an unpacked bundle into `dir` and returns it. */
export function writeBundleDir(dir: string, spec: BundleSpec): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'policy.wasm'), spec.wasm);
  if (spec.manifest) writeFileSync(join(dir, '.manifest'), JSON.stringify(spec.manifest));
  for (const [path, content] of Object.entries(spec.files ?? {})) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), typeof content === 'string' || content instanceof Uint8Array ? content : JSON.stringify(content));
  }
  return dir;
}

/** Packs a bundle directory as OPA's .tar.gz format. */
export async function tarGz(dir: string, out: string): Promise<string> {
  const names = readdirSync(dir);
  await createTar({ gzip: true, file: out, cwd: dir, portable: true }, names);
  return out;
}

/** Builds a bundle (dir + tarball) in a fresh temp dir; returns the tarball path. */
export async function bundleTarball(root: string, name: string, spec: BundleSpec): Promise<string> {
  const dir = writeBundleDir(join(root, `${name}.d`), spec);
  return tarGz(dir, join(root, `${name}.tar.gz`));
}

export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p).split('\\').join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

// The test's own canonical form (independent of src/policy/bundle/canonical-hash.ts):
// sorted keys, no whitespace; enough for test data without non-integer numbers.
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export interface TestSigner {
  readonly publicPem: string;
  sign(dir: string, opts?: { kid?: string; scope?: string; skip?: string[]; extra?: Record<string, string> }): Promise<void>;
}

/** An RS256 key pair; `sign` writes the directory's .signatures.json the way `opa sign` does. */
export async function testSigner(): Promise<TestSigner> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicPem = await exportSPKI(publicKey);
  return {
    publicPem,
    async sign(dir, opts = {}) {
      const files = listFiles(dir)
        .filter((f) => f !== '.signatures.json' && !(opts.skip ?? []).includes(f))
        .map((name) => {
          const bytes = readFileSync(join(dir, name));
          const structured = name === '.manifest' || name.endsWith('data.json');
          const hashed = structured ? canonical(JSON.parse(Buffer.from(bytes).toString('utf8'))) : bytes;
          return { name, hash: createHash('sha256').update(hashed).digest('hex'), algorithm: 'SHA-256' };
        });
      for (const [name, hash] of Object.entries(opts.extra ?? {})) files.push({ name, hash, algorithm: 'SHA-256' });
      const payload = { files, ...(opts.scope === undefined ? {} : { scope: opts.scope }) };
      const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader({ alg: 'RS256', ...(opts.kid === undefined ? {} : { kid: opts.kid }) })
        .sign(privateKey);
      writeFileSync(join(dir, '.signatures.json'), JSON.stringify({ signatures: [jws] }));
    },
  };
}

export function silentLog() {
  return createLogger('silent');
}

export function newCapability(section: unknown, extra: Partial<PolicyDeps> = {}): PolicyCapability {
  return createPolicyCapability(section, {
    log: silentLog(),
    metrics: new SidecarMetrics({ defaultMetrics: false }),
    baseDir: process.cwd(),
    ...extra,
  });
}

/** A capability with its metrics at hand, closed when the test ends. */
export function capabilityUnderTest(
  t: { teardown(fn: () => unknown): void },
  section: unknown,
  extra: Partial<PolicyDeps> = {},
): { cap: PolicyCapability; registry: Registry } {
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const cap = newCapability(section, { metrics, ...extra });
  t.teardown(() => cap.close());
  return { cap, registry: metrics.registry };
}

export function policyStage(cap: PolicyCapability, options?: unknown): Stage {
  return cap.stageFactory.create(options, { route: 'test-route', resourceType: 'project', action: 'read' });
}

export function decisionContext(action = 'read', deadlineMs = 1000): DecisionContext {
  return createDecisionContext({
    decisionId: 'd-1',
    principal: principal(),
    action,
    resource: resource(),
    route: 'test-route',
    routeParams: { project: 'p1' },
    deadline: performance.now() + deadlineMs,
  });
}

export type { AuthzRequest };

/** Waits until `check` is true, polling every 10 ms; fails after `ms` (a bound, not a timing assertion). */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}
