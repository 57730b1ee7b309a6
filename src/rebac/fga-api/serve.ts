// What `authz-sidecar fga serve --port N [--host H] [--model M --tuples T]
// [--latency-ms N]` does: load the model and tuples (if given) into a store,
// follow the files for changes (keeping the last good state), and serve the
// OpenFGA-compatible API. The CLI room parses argv with parseFgaServeArgs and
// calls serveFga; nothing here touches process state.
import type { Logger } from 'pino';
import { EmbeddedFileSource } from '../embedded/file-source.js';
import { StoreRegistry } from '../embedded/registry.js';
import { startFgaApiServer } from './server.js';

export interface FgaServeOptions {
  host: string;
  port: number;
  modelPath?: string;
  tuplesPath?: string;
  latencyMs?: number;
  apiToken?: string;
  /** File poll interval for reloads; 0 disables watching. */
  watchIntervalMs?: number;
  log: Logger;
}

export interface RunningFgaServe {
  port: number;
  /** Id of the store loaded from the files, when files were given. */
  storeId: string | undefined;
  close(): Promise<void>;
}

export class FgaServeArgsError extends Error {
  override readonly name = 'FgaServeArgsError';
}

export function parseFgaServeArgs(args: readonly string[]): Omit<FgaServeOptions, 'log'> {
  const out: Omit<FgaServeOptions, 'log'> = { host: '127.0.0.1', port: 8080 };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = args[i + 1];
    const need = (): string => {
      if (value === undefined || value.startsWith('--')) throw new FgaServeArgsError(`${flag} needs a value`);
      i++;
      return value;
    };
    const int = (name: string, v: string, min: number, max: number): number => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) throw new FgaServeArgsError(`${name} must be an integer from ${min} to ${max}, got '${v}'`);
      return n;
    };
    switch (flag) {
      case '--port':
        out.port = int('--port', need(), 0, 65535);
        break;
      case '--host':
        out.host = need();
        break;
      case '--model':
        out.modelPath = need();
        break;
      case '--tuples':
        out.tuplesPath = need();
        break;
      case '--latency-ms':
        out.latencyMs = int('--latency-ms', need(), 0, 60_000);
        break;
      case '--watch-ms':
        out.watchIntervalMs = int('--watch-ms', need(), 0, 3_600_000);
        break;
      default:
        throw new FgaServeArgsError(`unknown option '${flag}'`);
    }
  }
  if (out.tuplesPath && !out.modelPath) throw new FgaServeArgsError('--tuples needs --model');
  return out;
}

/** Starts the server; throws FgaCheckError when the initial files are bad. */
export async function serveFga(opts: FgaServeOptions): Promise<RunningFgaServe> {
  const registry = new StoreRegistry();
  let source: EmbeddedFileSource | undefined;
  if (opts.modelPath) {
    source = new EmbeddedFileSource({ modelPath: opts.modelPath, tuplesPath: opts.tuplesPath, storeName: 'embedded', log: opts.log });
    const first = source.reload();
    if (!first.ok) throw first.error;
    registry.add(source.store);
    const interval = opts.watchIntervalMs ?? 1000;
    if (interval > 0) source.watch(interval);
    opts.log.info({ storeId: source.store.id, modelId: first.modelId, tuples: first.tuples }, 'fga serve: store loaded from files');
  }
  const server = await startFgaApiServer({
    host: opts.host,
    port: opts.port,
    store: registry,
    log: opts.log,
    ...(opts.latencyMs !== undefined ? { latencyMs: opts.latencyMs } : {}),
    ...(opts.apiToken !== undefined ? { apiToken: opts.apiToken } : {}),
  });
  return {
    port: server.port,
    storeId: source?.store.id,
    close: async () => {
      source?.close();
      await server.close();
    },
  };
}
