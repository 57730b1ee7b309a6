// Issue 4's bench scenarios: the policy stage (Rego compiled to WebAssembly,
// evaluated in-process by @open-policy-agent/opa-wasm) on the benchmarked
// route, against the same sidecar path without it.
//
//   policy_1    bench/config/policy.yaml: [tenant, rbac, { policy: standin/allow }],
//               gRPC, 1 connection, 1 stream; compared with grpc_check_1
//   policy_16   the same, 1 connection, 16 streams; compared with grpc_check_16
//
// The default bundle is the TEST STAND-IN module (test/support/opa-standin/:
// hand-written WebAssembly implementing OPA's policy ABI, not compiled Rego;
// no `opa` binary can be installed here), built at target start into
// bench/out/policy/bundle.tar.gz by bench/lib/policy-bundle.ts. The figure is
// therefore that of the opa-wasm evaluation path — input serialization, the
// ABI calls, result parsing — with a trivial policy body: a real compiled
// Rego policy does more work per evaluation. `--policy-bundle PATH` (and
// `--policy-entrypoint NAME`, default authz/allow) runs a real bundle instead.
//
// The run fails if any request is denied or any evaluation fails
// (authz_policy_evaluation_failures_total), if the bundle did not load, and —
// with the stand-in — unless a request the stand-in refuses (action
// `inspect`, same stages) IS denied policy_denied: proof the policy is evaluated.
import { setTimeout } from 'node:timers';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { withCounterCheck } from './capability-checks.js';
import { probeGrpc } from './drivers.js';
import { readCounters } from './metrics-text.js';
import { writeCheckRequestBody } from './requests.js';
import { startSidecar } from './sidecar-process.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG_DIR = fileURLToPath(new URL('../config/', import.meta.url));
const TEMPLATE = path.join(CONFIG_DIR, 'policy.yaml');
const BUNDLE_BUILDER = fileURLToPath(new URL('./policy-bundle.ts', import.meta.url));
export const STANDIN_ENTRYPOINT = 'standin/allow';
const PROBE_ROUTE = 'inspect-project';

const COUNTERS = {
  eval_failures: ['authz_policy_evaluation_failures_total'],
  bundle_loads: ['authz_policy_bundle_loads_total', { outcome: 'success' }],
  bundle_failures: ['authz_policy_bundle_loads_total', { outcome: 'failure' }],
};

const built = new Map();

/**
 * Assembles the stand-in module and packs it as an OPA bundle under outDir
 * (tsx: it imports TypeScript); once per run, as several targets load it.
 */
export function buildStandinBundle(outDir, log) {
  const file = path.join(outDir, 'policy', 'bundle.tar.gz');
  if (built.has(file)) return file;
  mkdirSync(path.dirname(file), { recursive: true });
  const r = spawnSync(process.execPath, ['--import', 'tsx', BUNDLE_BUILDER, file], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`building the stand-in policy bundle failed (${r.status ?? r.signal}): ${r.stderr || r.error?.message}`);
  log?.(`bench: policy bundle: TEST STAND-IN module (not compiled Rego) → ${path.relative(process.cwd(), file)}`);
  built.set(file, true);
  return file;
}

/**
 * Writes the config the sidecar runs, to `<outDir>/policy.yaml`: the template
 * with its relative paths made absolute, the bundle and the route's
 * entrypoint. With a real bundle the stand-in's probe route is dropped.
 */
function materializeConfig(outDir, { bundle, entrypoint, standin }) {
  const doc = parse(readFileSync(TEMPLATE, 'utf8'));
  doc.identity.jwt.jwks_file = path.resolve(CONFIG_DIR, doc.identity.jwt.jwks_file);
  doc.policy.bundle.file = bundle;
  doc.policy.entrypoint = entrypoint;
  if (!standin) doc.routes = doc.routes.filter((r) => r.name !== PROBE_ROUTE);
  for (const route of doc.routes) {
    for (const stage of route.stages) if (stage.policy) stage.policy.entrypoint = entrypoint;
  }
  const file = path.join(outDir, 'policy.yaml');
  writeFileSync(file, `# Written by bench/lib/scenarios-policy.js from bench/config/policy.yaml.\n${stringify(doc)}`);
  return file;
}

/**
 * The bench's probe only shows that its request is allowed; this shows the
 * policy decides: the stand-in allows only action "read", so the probe
 * route's `inspect` must be denied policy_denied (after tenant and RBAC
 * pass). A fresh process may miss its deadline once; that is retried.
 */
async function assertPolicyDecides(sidecar, outDir) {
  const token = readFileSync(path.join(outDir, 'token.jwt'), 'utf8').trim();
  const body = writeCheckRequestBody(path.join(outDir, 'policy', 'check-inspect.bin'), {
    method: 'POST', path: '/api/v1/tenants/acme/projects/p-42/inspect', host: 'api.bench.local', token,
  });
  let probe;
  for (let attempt = 1; attempt <= 5; attempt++) {
    probe = await probeGrpc(sidecar.ports.grpc, body);
    if (probe.allowed || !probe.detail.includes('deadline_exceeded')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (probe.allowed || !probe.detail.includes('policy_denied')) {
    throw new Error(`policy bench sidecar: a request with action inspect should be denied policy_denied by ${STANDIN_ENTRYPOINT}, got ` +
      `${probe.allowed ? 'allowed' : 'denied'} (${probe.detail}); is the policy stage on the route?`);
  }
}

/** Throws if an evaluation failed or the bundle was reloaded during the scenario; returns the line's policy fields. */
function judgePolicy(bundleInfo) {
  return (d, result, extra, scenario) => {
    const problems = [];
    if (d.eval_failures > 0) problems.push(`${d.eval_failures} policy evaluations failed (authz_policy_evaluation_failures_total)`);
    if (d.bundle_loads + d.bundle_failures > 0) problems.push('the policy bundle was (re)loaded during the scenario');
    if (problems.length > 0) throw new Error(`${scenario.name}: ${problems.join('; ')}`);
    return { policy_module: bundleInfo.module, policy_entrypoint: bundleInfo.entrypoint };
  };
}

async function policySidecar(ctx) {
  const standin = !ctx.policyBundle;
  const bundle = standin ? buildStandinBundle(ctx.outDir, ctx.log) : ctx.policyBundle;
  const entrypoint = standin ? STANDIN_ENTRYPOINT : (ctx.policyEntrypoint ?? 'authz/allow');
  const config = materializeConfig(ctx.outDir, { bundle, entrypoint, standin });
  const sidecar = await startSidecar({ config, cpuProfDir: ctx.cpuProfDir, bin: ctx.sidecarBin });
  try {
    const c = await readCounters(sidecar.ports.admin, COUNTERS);
    if (c.bundle_loads < 1) throw new Error(`policy bench sidecar is ready but reports no bundle loaded (failures: ${c.bundle_failures})`);
    if (standin) await assertPolicyDecides(sidecar, ctx.outDir);
  } catch (err) {
    await sidecar.stop();
    throw err;
  }
  const module = standin ? 'test stand-in (not compiled Rego)' : path.basename(bundle);
  return withCounterCheck(sidecar, COUNTERS, judgePolicy({ module, entrypoint }));
}

export const POLICY_TARGETS = {
  policy: { start: policySidecar },
};

/** Each goes right after its baseline in bench/run.js, so both see the same background load. */
export const POLICY_1 = { name: 'policy_1', target: 'policy', driver: 'grpc', concurrency: 1, baseline: 'grpc_check_1' };
export const POLICY_16 = { name: 'policy_16', target: 'policy', driver: 'grpc', concurrency: 16, baseline: 'grpc_check_16' };
