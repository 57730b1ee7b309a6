import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile, type LoadedConfig } from '../config/load.js';
import { decisionToJson } from '../decision/decision-json.js';
import { createLogger } from '../observability/logger.js';
import { checkRequestFromJson } from '../request/from-check-request.js';
import { Sidecar } from '../sidecar.js';
import { UsageError, usageError, type CliIo } from './io.js';

/** One decision offline, by the same engine as `serve`. Exit 0 allowed, 3 denied, 2 bad usage/input. */
export async function checkCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', default: 'config/sidecar.yaml' }, request: { type: 'string' } },
  });
  if (values.request === undefined) throw usageError('check needs --request R.json (a CheckRequest in proto3 JSON)');
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(values.request, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read request ${values.request}: ${(err as Error).message}`);
  }
  let req;
  try {
    req = checkRequestFromJson(json);
  } catch (err) {
    throw new UsageError(`bad CheckRequest in ${values.request}: ${(err as Error).message}`);
  }
  let loaded;
  try {
    loaded = loadConfigFile(values.config);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const log = createLogger('warn', io.stderr);
  // A remote key server that is down would otherwise keep the start waiting for ever.
  const sidecar = await Sidecar.start({
    loaded: withoutAudit(withColdStartDeadline(loaded)), log, listen: false, watch: false, readyTimeoutMs: 10_000,
  });
  try {
    const decision = await sidecar.decide({ ...req, transport: 'cli' });
    io.stdout.write(`${JSON.stringify(decisionToJson(decision), null, 2)}\n`);
    return decision.allowed ? 0 : 3;
  } finally {
    await sidecar.close();
  }
}

/**
 * An offline decision answers no one, so it is not audited: the trail belongs
 * to the sidecar serving this config, whose lock would (rightly) refuse a
 * second writer.
 */
function withoutAudit(loaded: LoadedConfig): LoadedConfig {
  const { audit: _audit, ...raw } = loaded.raw;
  return { ...loaded, raw };
}

/**
 * `check` makes one decision in a fresh process: module loading and JIT
 * warm-up land on it, which a serving sidecar pays once at start. So the
 * offline decision gets at least one second, never less than the config says;
 * everything else about it is the serving engine's.
 */
const COLD_START_DEADLINE_MS = 1000;

function withColdStartDeadline(loaded: LoadedConfig): LoadedConfig {
  const lift = (ms: number) => Math.max(ms, COLD_START_DEADLINE_MS);
  return {
    ...loaded,
    config: {
      ...loaded.config,
      deadline_ms: lift(loaded.config.deadline_ms),
      routes: loaded.config.routes.map((r) => (r.deadline_ms === undefined ? r : { ...r, deadline_ms: lift(r.deadline_ms) })),
    },
  };
}
