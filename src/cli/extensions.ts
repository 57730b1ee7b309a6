// Subcommands contributed by capability rooms (fga, policy, audit). Loaded
// lazily so `serve` and `check` do not pay for modules they never use.
import { createLogger } from '../observability/logger.js';
import { UsageError, usageError, type CliIo } from './io.js';

export async function runExtension(command: string, args: string[], io: CliIo): Promise<number | undefined> {
  if (command === 'fga') return fgaCommand(args, io);
  if (command === 'policy') {
    const { policyEvalCommand } = await import('../policy/index.js');
    return policyEvalCommand(args, { ...io, stdin: process.stdin });
  }
  if (command === 'audit') {
    const [sub, ...rest] = args;
    const audit = await import('../audit/index.js');
    if (sub === 'verify') return audit.auditVerifyCommand(rest, io);
    if (sub === 'query') return audit.auditQueryCommand(rest, io);
    throw usageError('usage: authz-sidecar audit verify DIR | audit query DIR [--tenant --action --result --since --limit]');
  }
  if (command === 'inject') return injectCommand(args, io);
  return undefined;
}

async function injectCommand(args: string[], io: CliIo): Promise<number> {
  const k8s = await import('../kubernetes/cli.js');
  try {
    if (args[0] === 'serve') return await k8s.injectServeCommand(args.slice(1), io, createLogger('info'));
    return await k8s.injectFileCommand(args, { ...io, stdin: process.stdin });
  } catch (err) {
    if (err instanceof k8s.InjectArgsError) throw new UsageError(err.message);
    throw err;
  }
}

async function fgaCommand(args: string[], io: CliIo): Promise<number> {
  if (args[0] !== 'serve') throw usageError('usage: authz-sidecar fga serve --port N [--host H] [--model M --tuples T] [--latency-ms N]');
  const { FgaServeArgsError, parseFgaServeArgs, serveFga } = await import('../rebac/fga-api/serve.js');
  let opts;
  try {
    opts = parseFgaServeArgs(args.slice(1));
  } catch (err) {
    if (err instanceof FgaServeArgsError) throw new UsageError(err.message);
    throw err;
  }
  const log = createLogger('info');
  let running;
  try {
    running = await serveFga({ ...opts, log });
  } catch (err) {
    io.stderr.write(`authz-sidecar fga serve: ${(err as Error).message}\n`);
    return 2;
  }
  io.stdout.write(`${JSON.stringify({ fga_api: `http://${opts.host}:${running.port}`, store_id: running.storeId })}\n`);
  await waitForSignal();
  await running.close();
  return 0;
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
}
