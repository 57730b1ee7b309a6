import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile } from '../config/load.js';
import { Sidecar } from '../sidecar.js';
import { UsageError, type CliIo } from './io.js';

/** Runs until SIGTERM/SIGINT, then drains and exits 0. */
export async function serveCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', default: 'config/sidecar.yaml' } } });
  let sidecar: Sidecar;
  try {
    sidecar = await Sidecar.start({ loaded: loadConfigFile(values.config) });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    io.stderr.write(`authz-sidecar: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      sidecar.log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await sidecar.close();
  return 0;
}
