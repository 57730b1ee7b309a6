// `authz-sidecar inject serve --tls-cert C --tls-key K [--port 8443] [--host H] [--settings F]`
// `authz-sidecar inject --file F|- [--config-map NAME] [--mode native|container] [--settings F]`
// Argument parsing and wiring only; the work is in the webhook and manifest modules.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { ManifestError, injectManifests } from './manifest-injection.js';
import { InjectorSettingsError, loadInjectorSettings, type InjectorSettings } from './settings.js';
import { startWebhook, type RunningWebhook } from './webhook-server.js';

export const INJECT_USAGE =
  'usage: authz-sidecar inject serve --tls-cert C --tls-key K [--port 8443] [--host 0.0.0.0] [--settings F]\n' +
  '       authz-sidecar inject --file F|- [--config-map NAME] [--mode native|container] [--settings F]';

export class InjectArgsError extends Error {
  override readonly name = 'InjectArgsError';
}

interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin?: NodeJS.ReadableStream;
}

type Flags = Map<string, string>;

function parseFlags(args: readonly string[], allowed: readonly string[]): Flags {
  const flags: Flags = new Map();
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    if (!allowed.includes(flag)) throw new InjectArgsError(`unknown option ${flag}\n${INJECT_USAGE}`);
    const value = args[++i];
    if (value === undefined || (value.startsWith('--') && value !== '-')) throw new InjectArgsError(`${flag} needs a value`);
    flags.set(flag, value);
  }
  return flags;
}

async function settingsFrom(flags: Flags): Promise<InjectorSettings> {
  try {
    return await loadInjectorSettings(flags.get('--settings'));
  } catch (err) {
    if (err instanceof InjectorSettingsError) throw new InjectArgsError(err.message);
    throw err;
  }
}

/** `inject --file`: prints the injected manifests; exit 0, or 2 with a message naming the document. */
export async function injectFileCommand(args: readonly string[], io: Io): Promise<number> {
  const flags = parseFlags(args, ['--file', '--config-map', '--mode', '--settings']);
  const file = flags.get('--file');
  if (file === undefined) throw new InjectArgsError(`--file is required\n${INJECT_USAGE}`);
  const base = await settingsFrom(flags);
  const mode = flags.get('--mode');
  if (mode !== undefined && mode !== 'native' && mode !== 'container') throw new InjectArgsError('--mode is native or container');
  const settings: InjectorSettings = {
    ...base,
    ...(flags.has('--config-map') ? { config_map: flags.get('--config-map')! } : {}),
    ...(mode !== undefined ? { mode } : {}),
  };
  let text: string;
  try {
    text = file === '-' ? await readStream(io.stdin ?? process.stdin) : await readFile(file, 'utf8');
  } catch (err) {
    throw new InjectArgsError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const out = injectManifests(text, settings);
    for (const w of out.warnings) io.stderr.write(`warning: ${w}\n`);
    for (const line of out.report) io.stderr.write(`${line}\n`);
    io.stdout.write(out.yaml);
    return 0;
  } catch (err) {
    if (err instanceof ManifestError) {
      io.stderr.write(`authz-sidecar inject: ${file}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

export interface InjectServeOptions {
  readonly host: string;
  readonly port: number;
  readonly certPath: string;
  readonly keyPath: string;
  readonly settings: InjectorSettings;
}

export async function parseInjectServeArgs(args: readonly string[]): Promise<InjectServeOptions> {
  const flags = parseFlags(args, ['--tls-cert', '--tls-key', '--port', '--host', '--settings']);
  const certPath = flags.get('--tls-cert');
  const keyPath = flags.get('--tls-key');
  if (certPath === undefined || keyPath === undefined) throw new InjectArgsError(`--tls-cert and --tls-key are required\n${INJECT_USAGE}`);
  const port = Number(flags.get('--port') ?? '8443');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InjectArgsError('--port is a port number');
  return { host: flags.get('--host') ?? '0.0.0.0', port, certPath, keyPath, settings: await settingsFrom(flags) };
}

/** `inject serve`: runs until SIGTERM/SIGINT. */
export async function injectServeCommand(args: readonly string[], io: Io, log: Logger): Promise<number> {
  const opts = await parseInjectServeArgs(args);
  let running: RunningWebhook;
  try {
    running = await startWebhook({
      host: opts.host,
      port: opts.port,
      certificate: { certPath: opts.certPath, keyPath: opts.keyPath },
      settings: opts.settings,
      log,
    });
  } catch (err) {
    io.stderr.write(`authz-sidecar inject serve: ${(err as Error).message}\n`);
    return 2;
  }
  io.stdout.write(`${JSON.stringify({ injector: `https://${opts.host}:${running.port}` })}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await running.close();
  return 0;
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}
