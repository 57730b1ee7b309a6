import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile } from '../config/load.js';
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
  const sidecar = await Sidecar.start({ loaded, log, listen: false, watch: false });
  try {
    const decision = await sidecar.decide({ ...req, transport: 'cli' });
    io.stdout.write(`${JSON.stringify(decisionToJson(decision), null, 2)}\n`);
    return decision.allowed ? 0 : 3;
  } finally {
    await sidecar.close();
  }
}
