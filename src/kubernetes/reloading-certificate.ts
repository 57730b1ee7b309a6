// The webhook's serving certificate, read from files and swapped into the
// running TLS server when they change (cert-manager rewrites the mounted
// Secret: the kubelet swaps a symlink, so the files are polled by stat, which
// follows it). A pair that does not load (caught between the two writes, or
// broken) keeps the previous one serving and is tried again on the next poll.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Server } from 'node:https';

export interface CertificateFiles {
  readonly certPath: string;
  readonly keyPath: string;
}

export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface CertificateEvents {
  onReload?(): void;
  onError?(err: Error): void;
}

/** Reads the pair and checks that the key matches the certificate; throws with the file named. */
export function readKeyPair(files: CertificateFiles): KeyPair {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(files.certPath);
    key = readFileSync(files.keyPath);
  } catch (err) {
    throw new Error(`cannot read the webhook certificate: ${(err as Error).message}`, { cause: err });
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`${files.certPath} / ${files.keyPath} do not make a usable certificate and key: ${(err as Error).message}`, { cause: err });
  }
  return { cert, key };
}

export class ReloadingCertificate {
  private current: KeyPair;
  private listener: (() => void) | undefined;

  constructor(
    private readonly files: CertificateFiles,
    private readonly intervalMs = 2000,
    private readonly events: CertificateEvents = {},
  ) {
    this.current = readKeyPair(files);
  }

  get pair(): KeyPair {
    return this.current;
  }

  /** Follow the files and hand every new pair to `server`. */
  follow(server: Server): void {
    if (this.listener !== undefined) return;
    const check = (): void => this.reload(server);
    this.listener = check;
    watchFile(this.files.certPath, { interval: this.intervalMs, persistent: false }, check);
    watchFile(this.files.keyPath, { interval: this.intervalMs, persistent: false }, check);
  }

  stop(): void {
    const listener = this.listener;
    if (listener === undefined) return;
    this.listener = undefined;
    unwatchFile(this.files.certPath, listener);
    unwatchFile(this.files.keyPath, listener);
  }

  private reload(server: Server): void {
    let next: KeyPair;
    try {
      next = readKeyPair(this.files);
    } catch (err) {
      this.events.onError?.(err as Error);
      return;
    }
    if (next.cert.equals(this.current.cert) && next.key.equals(this.current.key)) return;
    server.setSecureContext({ cert: next.cert, key: next.key });
    this.current = next;
    this.events.onReload?.();
  }
}
