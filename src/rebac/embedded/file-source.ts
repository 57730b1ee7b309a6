// Feeds an EmbeddedStore from a model file (DSL or JSON) and a tuples file
// (YAML or JSON), reloading on change. A reload is all or nothing: a model
// that does not parse, or one bad tuple, leaves the last good state serving.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from 'pino';
import { FgaCheckError } from '../model/errors.js';
import { parseModelText } from '../model/load.js';
import { DEFAULT_MAX_FILE_TUPLES, parseTuplesText, validateTupleForModel } from '../model/tuples.js';
import { MAX_MODEL_BYTES, TypeSystem } from '../model/typesystem.js';
import { EmbeddedStore } from './store.js';

export interface FileSourceOptions {
  modelPath: string;
  tuplesPath?: string;
  store?: EmbeddedStore;
  storeName?: string;
  maxModelBytes?: number;
  maxTuples?: number;
  log?: Logger;
}

export type ReloadResult =
  | { ok: true; changed: boolean; modelId: string; tuples: number }
  | { ok: false; error: FgaCheckError };

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new FgaCheckError('validation_error', `cannot read ${what} file ${path}: ${(err as Error).message}`);
  }
}

export class EmbeddedFileSource {
  readonly store: EmbeddedStore;
  private readonly opts: FileSourceOptions;
  private lastModelText: string | undefined;
  private lastTuplesText: string | undefined;
  private listener: (() => void) | undefined;

  constructor(opts: FileSourceOptions) {
    this.opts = opts;
    this.store = opts.store ?? new EmbeddedStore({ name: opts.storeName ?? 'embedded' });
  }

  /** Re-reads both files; applies them only if everything validates. Never throws. */
  reload(): ReloadResult {
    try {
      const modelText = readText(this.opts.modelPath, 'model');
      const tuplesText = this.opts.tuplesPath ? readText(this.opts.tuplesPath, 'tuples') : '[]';
      if (modelText === this.lastModelText && tuplesText === this.lastTuplesText) {
        return { ok: true, changed: false, modelId: this.store.getModel().id, tuples: this.store.tupleCount };
      }
      const fmt = this.opts.modelPath.endsWith('.json') ? 'json' : undefined;
      const model = parseModelText(modelText, fmt, this.opts.maxModelBytes ?? MAX_MODEL_BYTES);
      const candidate = new TypeSystem(model, 'candidate');
      const source = this.opts.tuplesPath ?? 'tuples';
      const tuples = parseTuplesText(tuplesText, source, this.opts.maxTuples ?? DEFAULT_MAX_FILE_TUPLES);
      tuples.forEach((t, i) => validateTupleForModel(candidate, t, 'validation_error', `${source}: tuple #${i + 1}`));
      const modelChanged = modelText !== this.lastModelText;
      const modelId = modelChanged ? this.store.writeAuthorizationModel(model) : this.store.getModel().id;
      this.store.replaceTuples(tuples);
      this.lastModelText = modelText;
      this.lastTuplesText = tuplesText;
      this.opts.log?.info({ modelId, tuples: tuples.length }, 'fga: model and tuples loaded');
      return { ok: true, changed: true, modelId, tuples: tuples.length };
    } catch (err) {
      const error = err instanceof FgaCheckError ? err : new FgaCheckError('validation_error', (err as Error).message);
      this.opts.log?.error({ err: error.message, code: error.code }, 'fga: reload rejected, keeping the last good model and tuples');
      return { ok: false, error };
    }
  }

  /** Polls both files (robust on bind mounts and ConfigMaps) and reloads on change. */
  watch(intervalMs = 1000, onReload?: (r: ReloadResult) => void): void {
    if (this.listener) return;
    const listener = (): void => {
      const r = this.reload();
      onReload?.(r);
    };
    this.listener = listener;
    watchFile(this.opts.modelPath, { interval: intervalMs, persistent: false }, listener);
    if (this.opts.tuplesPath) watchFile(this.opts.tuplesPath, { interval: intervalMs, persistent: false }, listener);
    // watchFile takes its baseline stat asynchronously: an edit made between
    // the initial load and that baseline would never fire. One reload once the
    // watchers are armed catches it (reload compares contents, so it is a
    // no-op when nothing changed).
    const settle = setTimeout(() => {
      if (this.listener === listener) listener();
    }, intervalMs);
    settle.unref();
  }

  close(): void {
    const listener = this.listener;
    if (!listener) return;
    this.listener = undefined;
    unwatchFile(this.opts.modelPath, listener);
    if (this.opts.tuplesPath) unwatchFile(this.opts.tuplesPath, listener);
  }
}

/** Loads once and throws a clear FgaCheckError when the files are bad (startup path). */
export function loadEmbeddedStore(opts: FileSourceOptions): EmbeddedFileSource {
  const src = new EmbeddedFileSource(opts);
  const r = src.reload();
  if (!r.ok) throw r.error;
  return src;
}
