// Turns a parsed bundle into the policy the stage evaluates: merge the
// sidecar's data, compile and instantiate under the memory cap, pick the
// default entrypoint, and smoke-evaluate before anyone may swap it in.
import type { AuthzRequest, DecisionContext } from '../decision/types.js';
import type { ParsedBundle } from './bundle/parse.js';
import type { PreparedBundle } from './bundle/prepare.js';
import { withConfigData } from './bundle/data-tree.js';
import { normalizeEntrypoint, type PolicyConfig } from './config.js';
import { PolicyEvaluator } from './evaluator.js';
import { buildPolicyInput } from './input.js';
import { interpretResultSet } from './result.js';

/** A loaded, smoke-tested policy. Immutable: a new bundle is a new ActivePolicy. */
export interface ActivePolicy {
  readonly evaluator: PolicyEvaluator;
  readonly revision: string;
  /** Used by routes whose policy stage names no entrypoint. */
  readonly defaultEntrypoint: { readonly name: string; readonly id: number };
  /** Where it came from (file path, directory, URL), for logs. */
  readonly origin: string;
  /** The key id the signature named ('' when none), or undefined for an unsigned bundle. */
  readonly signedBy: string | undefined;
}

export interface ActivationOptions {
  readonly config: PolicyConfig;
  readonly origin: string;
  /** Skip the smoke evaluation (the `policy eval` command shows any result as it is). */
  readonly smoke?: boolean;
}

/** `parsed` from the parse worker already carries its data merged and serialized; a ParsedBundle is merged here. */
export async function activateBundle(parsed: ParsedBundle | PreparedBundle, opts: ActivationOptions): Promise<ActivePolicy> {
  const { config } = opts;
  const data = 'dataJson' in parsed ? parsed.dataJson : withConfigData(parsed.data, config.data);
  const evaluator = await PolicyEvaluator.create(parsed.wasm, data, {
    initialPages: config.memory.initial_pages,
    maxPages: config.memory.max_pages,
    loadTimeoutMs: config.load_timeout_ms,
  });
  const defaultEntrypoint = chooseDefaultEntrypoint(evaluator, config.entrypoint, parsed.manifest?.wasmEntrypoints ?? []);
  const policy: ActivePolicy = { evaluator, revision: parsed.revision, defaultEntrypoint, origin: opts.origin, signedBy: parsed.signedBy };
  if (opts.smoke ?? true) smokeTest(policy, config);
  return policy;
}

function chooseDefaultEntrypoint(
  evaluator: PolicyEvaluator,
  configured: string | undefined,
  fromManifest: readonly string[],
): { name: string; id: number } {
  if (evaluator.entrypoints.size === 0) throw new Error('policy.wasm exports no entrypoints');
  if (configured !== undefined) {
    const name = normalizeEntrypoint(configured);
    const id = evaluator.entrypointId(name);
    if (id === undefined) throw missingEntrypoint(name, evaluator);
    return { name, id };
  }
  for (const ep of fromManifest) {
    const name = normalizeEntrypoint(ep);
    const id = evaluator.entrypointId(name);
    if (id !== undefined) return { name, id };
  }
  let best: { name: string; id: number } | undefined;
  for (const [name, id] of evaluator.entrypoints) if (best === undefined || id < best.id) best = { name, id };
  return best!;
}

export function missingEntrypoint(name: string, evaluator: PolicyEvaluator): Error {
  return new Error(`entrypoint "${name}" is not in the bundle (it has: ${[...evaluator.entrypoints.keys()].join(', ')})`);
}

/** Every smoke entrypoint must answer a decision (boolean or decision object) for the smoke input. */
function smokeTest(policy: ActivePolicy, config: PolicyConfig): void {
  const input = config.smoke.input ?? syntheticInput();
  const names = config.smoke.entrypoints?.map(normalizeEntrypoint) ?? [policy.defaultEntrypoint.name];
  for (const name of names) {
    const id = policy.evaluator.entrypointId(name);
    if (id === undefined) throw missingEntrypoint(name, policy.evaluator);
    let resultSet: unknown;
    try {
      const ms = config.smoke.timeout_ms;
      resultSet = policy.evaluator.evaluate(id, input, performance.now() + ms, `smoke.timeout_ms (${ms} ms)`);
    } catch (err) {
      throw new Error(`smoke evaluation of ${name} failed (${(err as Error).message})`, { cause: err });
    }
    try {
      interpretResultSet(resultSet);
    } catch (err) {
      throw new Error(`smoke evaluation of ${name} gave no decision: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** A plain anonymous GET, shaped exactly like a real input, for bundles smoke-tested without a configured input. */
export function syntheticInput(): unknown {
  const peer = { address: '127.0.0.1', port: 0, principal: undefined, labels: {} };
  const req: AuthzRequest = {
    requestId: 'smoke', method: 'GET', path: '/', rawPath: '/', query: {}, host: 'localhost', scheme: 'http',
    protocol: 'HTTP/1.1', headers: {}, headerList: [], source: peer, destination: peer, contextExtensions: {},
    filterMetadata: {}, transport: 'cli',
  };
  const ctx: DecisionContext = {
    decisionId: 'smoke',
    principal: { id: 'anonymous', kind: 'anonymous', tenant: undefined, roles: [], claims: {}, source: 'anonymous' },
    action: 'read',
    resource: { type: 'smoke', id: 'smoke', tenant: undefined },
    route: 'smoke',
    routeParams: {},
    deadline: Number.POSITIVE_INFINITY,
    signal: new AbortController().signal,
    annotations: {},
  };
  return buildPolicyInput(req, ctx);
}
