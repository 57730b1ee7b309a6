// The client's request body on its way to the upstream, streamed (never
// buffered), with two limits: a maximum size, and a maximum pause between
// chunks (a slow or stalled upload must not hold an upstream connection).
import { Transform, type TransformCallback } from 'node:stream';

export class RequestBodyLimit extends Error {
  constructor(readonly kind: 'body_too_large' | 'upload_timeout', message: string) {
    super(message);
  }
}

export class RequestBodyGuard extends Transform {
  private seen = 0;
  private timer: NodeJS.Timeout;

  constructor(private readonly maxBytes: number, private readonly idleMs: number) {
    super();
    this.timer = setTimeout(this.stalled, idleMs);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.maxBytes) {
      done(new RequestBodyLimit('body_too_large', `request body over ${this.maxBytes} bytes`));
      return;
    }
    this.timer.refresh();
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    clearTimeout(this.timer);
    done();
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    done(err);
  }

  private readonly stalled = (): void => {
    // Bytes still waiting downstream: the pause is the upstream's backpressure, not the client's.
    if (this.readableLength > 0 || this.writableLength > 0) {
      this.timer.refresh();
      return;
    }
    this.destroy(new RequestBodyLimit('upload_timeout', `no request body bytes for ${this.idleMs} ms`));
  };
}
