import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile } from '../config/load.js';
import { Sidecar } from '../sidecar.js';
import { UsageError, type CliIo } from './io.js';

/**
 * Runs until SIGTERM/SIGINT, then drains and exits 0. The servers listen
 * before keys, models and bundles have loaded (not ready meanwhile); a part
 * that fails for good at start (a broken local file) exits 1, a remote key
 * server that is down does not: the sidecar keeps retrying, not ready, and a
 * signal still ends it cleanly.
 */
export async function serveCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', default: 'config/sidecar.yaml' } } });
  let signalled: (signal: string) => void;
  const stopped = new Promise<string>((resolve) => (signalled = resolve));
  const onSignal = (signal: string) => signalled(signal);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let sidecar: Sidecar;
  try {
    sidecar = await Sidecar.start({ loaded: loadConfigFile(values.config), waitReady: false });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    io.stderr.write(`authz-sidecar: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  const outcome = await Promise.race([
    stopped.then((signal) => ({ signal })),
    sidecar.ready().then(() => stopped.then((signal) => ({ signal })), (err: unknown) => ({ error: err as Error })),
  ]);
  if ('error' in outcome) {
    io.stderr.write(`authz-sidecar: cannot start: ${outcome.error.message}\n`);
    await sidecar.close();
    return 1;
  }
  sidecar.log.info({ signal: outcome.signal }, 'shutting down');
  await sidecar.close();
  return 0;
}
