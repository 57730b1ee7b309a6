// Subcommands contributed by capability rooms (fga, policy, audit).
import type { CliIo } from './io.js';

export async function runExtension(_command: string, _args: string[], _io: CliIo): Promise<number | undefined> {
  return undefined;
}
