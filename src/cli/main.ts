// The `authz-sidecar` command. Each subcommand is a function returning an exit
// code, so tests call them directly and the bin only maps codes to the process.
import { serveCommand } from './serve.js';
import { checkCommand } from './check.js';
import { devTokenCommand } from './dev-token.js';
import { usageError, type CliIo, UsageError } from './io.js';

const USAGE = `usage: authz-sidecar <command> [options]

commands:
  serve  --config F                         run the sidecar (gRPC :9191, HTTP :9192, admin :9090)
  check  --config F --request R.json        decide one CheckRequest (proto3 JSON) offline;
                                            exit 0 allowed, 3 denied, 2 bad usage or input
  fga serve --port N [--model M --tuples T] OpenFGA-compatible HTTP API on the embedded engine
  policy eval --bundle B [--data D] --input I [--entrypoint E]
  audit verify DIR                          check the audit hash chain; exit 1 on tampering
  audit query DIR [--tenant --action --result --since --limit]
  dev token --key K [--sub --tenant --roles --ttl]   sign a development JWT
  inject serve --tls-cert C --tls-key K [--port 8443] [--settings F]
                                            Kubernetes mutating admission webhook (sidecar injection)
  inject --file F|- [--config-map NAME] [--mode native|container] [--settings F]
                                            print manifests with the sidecar added (GitOps)
`;

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serveCommand(rest, io);
      case 'check':
        return await checkCommand(rest, io);
      case 'dev':
        if (rest[0] === 'token') return await devTokenCommand(rest.slice(1), io);
        throw usageError('unknown dev command');
      case 'help':
      case '--help':
      case '-h':
      case undefined:
        io.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default: {
        const extra = await import('./extensions.js');
        const code = await extra.runExtension(command, rest, io);
        if (code !== undefined) return code;
        throw usageError(`unknown command "${command}"`);
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`authz-sidecar: ${err.message}\n`);
      if (err.showUsage) io.stderr.write(USAGE);
      return 2;
    }
    throw err;
  }
}

function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr };
}
