// Everything between a bundle's bytes and what the evaluator loads: unpack,
// check its limits, verify its signature, parse its data, merge the
// sidecar's config data and serialize the result as JSON. It runs in the
// parse worker (parse-off-thread.ts), so a large or hostile bundle costs the
// decision thread nothing but the copy of the result; the CLI runs it inline.
import type { SigningConfig } from '../config.js';
import { withConfigData } from './data-tree.js';
import type { BundleFiles } from './files.js';
import { parseBundleBytes, parseBundleFiles, type BundleContentLimits, type BundleManifest } from './parse.js';
import { loadBundleVerifier } from './signature.js';

export interface ParseJob {
  /** A downloaded or read bundle file, or the files of a bundle directory. */
  readonly source: { readonly bytes: Uint8Array } | { readonly files: BundleFiles };
  readonly maxBytes: number;
  readonly limits: BundleContentLimits;
  /** The signing section with its key file's resolved path. */
  readonly signing?: { readonly config: SigningConfig; readonly keyPath: string };
  /** policy.data, merged over the bundle's data. */
  readonly configData: Readonly<Record<string, unknown>>;
}

/** A parsed bundle whose data is already merged and serialized: what the evaluator loads. */
export interface PreparedBundle {
  readonly wasm: Uint8Array;
  readonly dataJson: ArrayBuffer;
  readonly manifest: BundleManifest | undefined;
  readonly revision: string;
  readonly signedBy: string | undefined;
}

export async function prepareBundle(job: ParseJob): Promise<PreparedBundle> {
  const verifier = job.signing === undefined ? undefined : await loadBundleVerifier(job.signing.config, () => job.signing!.keyPath);
  const parsed = 'bytes' in job.source
    ? await parseBundleBytes(job.source.bytes, verifier, job.maxBytes, job.limits)
    : await parseBundleFiles(job.source.files, verifier, job.limits);
  const json = Buffer.from(JSON.stringify(withConfigData(parsed.data, job.configData)));
  const dataJson = json.buffer.slice(json.byteOffset, json.byteOffset + json.byteLength) as ArrayBuffer;
  return { wasm: parsed.wasm, dataJson, manifest: parsed.manifest, revision: parsed.revision, signedBy: parsed.signedBy };
}
