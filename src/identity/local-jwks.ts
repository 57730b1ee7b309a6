// Keys from a local JWKS file. The file is watched (directory watch plus a slow
// poll, see config/watch.ts, because editors and ConfigMaps swap files rather
// than write them) and reloaded on change; a file that cannot be read or
// parsed is refused and the last good key set keeps verifying.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { watchFile, type FileWatch } from '../config/watch.js';
import type { Logger } from '../observability/logger.js';
import { DEFAULT_JWKS_LIMITS, parseJwksDocument, type JwksLimits } from './jwks-document.js';
import { JwksUnavailableError, type KeySource } from './key-source.js';
import { warmUpKeys } from './key-warmup.js';
import type { IdentityMetrics } from './metrics.js';

type KeySet = ReturnType<typeof createLocalJWKSet>;

export function createLocalKeySource(
  file: string,
  deps: { log: Logger; metrics: IdentityMetrics },
  limits: JwksLimits = DEFAULT_JWKS_LIMITS,
): KeySource {
  const { log, metrics } = deps;
  const listeners: Array<() => void> = [];
  let keys: KeySet | undefined;
  let loadedText: string | undefined;
  // Loads run one after another so a slow parse of an old version can never
  // overwrite a newer one.
  let queue: Promise<void> = Promise.resolve();

  const load = async (): Promise<void> => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new Error(`cannot read JWKS file ${file}: ${why}`, { cause: err });
    }
    if (text === loadedText) return;
    let next: KeySet;
    try {
      const { jwks: doc, ignored } = await parseJwksDocument(text, limits);
      for (const why of ignored) {
        metrics.jwksKeyIgnored();
        log.warn({ jwks_file: file }, `JWKS key ${why}`);
      }
      next = createLocalJWKSet(doc);
      await warmUpKeys(next, doc);
    } catch (err) {
      throw new Error(`JWKS file ${file} refused: ${(err as Error).message}`, { cause: err });
    }
    const replaced = loadedText !== undefined;
    keys = next;
    loadedText = text;
    if (replaced) {
      log.info({ jwks_file: file, kids: kidsOf(next) }, 'JWKS file reloaded');
      for (const listener of listeners) listener();
    }
  };
  const enqueue = (): Promise<void> => {
    const run = queue.then(load).then(
      () => metrics.jwksFetch('success'),
      (err: unknown) => {
        metrics.jwksFetch('error');
        throw err;
      },
    );
    queue = run.catch(() => {});
    return run;
  };

  // Watch before the first read: a change in between is then seen, not lost.
  const watch: FileWatch = watchFile(file, () => {
    enqueue().catch((err: unknown) => {
      log.warn({ jwks_file: file, error: (err as Error).message }, 'JWKS file refused; the last good key set stays in use');
    });
  });
  const first = enqueue();
  first.catch(() => {}); // reported through ready()

  const getKey: JWTVerifyGetKey = (header, token) => {
    if (keys === undefined) throw new JwksUnavailableError(`no key set loaded from ${file}`);
    return keys(header, token);
  };
  return {
    getKey,
    ready: () => first,
    onChange: (listener) => void listeners.push(listener),
    close: () => watch.close(),
  };
}

function kidsOf(keys: KeySet): string[] {
  return keys.jwks().keys.map((k) => k.kid ?? '(no kid)');
}
