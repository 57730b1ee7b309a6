export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** Bad usage or bad input: exit code 2 with a one-line message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(message: string, readonly showUsage = false) {
    super(message);
  }
}

export function usageError(message: string): UsageError {
  return new UsageError(message, true);
}
