// One JSON line per event on a stream (process.stdout by default), honouring
// backpressure so a slow reader slows the flusher, not the decision path.
import { once } from 'node:events';

export class StdoutSink {
  readonly name = 'stdout';

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  async write(jsons: readonly string[]): Promise<void> {
    if (!this.out.write(jsons.join('\n') + '\n')) await once(this.out, 'drain');
  }

  async close(): Promise<void> {}
}
