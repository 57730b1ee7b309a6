// Bundle signature verification as OPA defines it: `.signatures.json` holds
// `{"signatures": ["<compact JWS>"]}` — exactly one — whose payload is
// `{"files": [{"name", "hash", "algorithm"}], "keyid"?, "scope"?, "iat"?, "iss"?}`.
// The JWS must verify against the configured key, and then every file of the
// bundle except .signatures.json must be listed with a matching digest, and
// every listed file must be present. Anything less refuses the bundle.
import { readFile } from 'node:fs/promises';
import { compactVerify, decodeProtectedHeader, importJWK, importSPKI, importX509, type JWK } from 'jose';
import type { SigningConfig } from '../config.js';
import { digestFile } from './canonical-hash.js';
import type { BundleFiles } from './files.js';

export const SIGNATURES_FILE = '.signatures.json';

type VerifyKey = Awaited<ReturnType<typeof importSPKI>> | Uint8Array;

export interface BundleVerifier {
  readonly keyId: string | undefined;
  readonly algorithm: string;
  readonly scope: string;
  readonly exclude: ReadonlySet<string>;
  readonly key: VerifyKey;
}

/** Reads the configured public key (PEM: SPKI or certificate; or a JWK JSON file). */
export async function loadBundleVerifier(cfg: SigningConfig, resolvePath: (p: string) => string): Promise<BundleVerifier> {
  const file = resolvePath(cfg.public_key_file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`policy.signing.public_key_file: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let key: VerifyKey;
  try {
    const trimmed = text.trim();
    if (trimmed.startsWith('{')) {
      key = await importJWK(JSON.parse(trimmed) as JWK, cfg.algorithm);
    } else if (trimmed.includes('BEGIN CERTIFICATE')) {
      key = await importX509(trimmed, cfg.algorithm);
    } else {
      key = await importSPKI(trimmed, cfg.algorithm);
    }
  } catch (err) {
    throw new Error(`policy.signing.public_key_file: ${file} is not a ${cfg.algorithm} public key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { keyId: cfg.key_id, algorithm: cfg.algorithm, scope: cfg.scope ?? '', exclude: new Set(cfg.exclude_files), key };
}

interface FileEntry {
  readonly name: string;
  readonly hash: string;
  readonly algorithm: string;
}

/** Throws an Error saying why the bundle is refused; returns the verified key id on success. */
export async function verifyBundleSignature(files: BundleFiles, verifier: BundleVerifier | undefined): Promise<string | undefined> {
  const sigFile = files.get(SIGNATURES_FILE);
  if (verifier === undefined) {
    // OPA refuses a signed bundle it has no key for rather than ignoring the signature.
    if (sigFile !== undefined) throw new Error('bundle is signed but no verification key is configured (policy.signing)');
    return undefined;
  }
  if (sigFile === undefined) throw new Error('bundle is not signed (no .signatures.json) and policy.signing requires it');
  const token = signatureToken(sigFile);

  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new Error('.signatures.json: the signature is not a compact JWS');
  }
  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(token, verifier.key, { algorithms: [verifier.algorithm] }));
  } catch (err) {
    throw new Error(`.signatures.json: signature does not verify: ${(err as Error).message}`, { cause: err });
  }
  const payload = parsePayload(payloadBytes);
  // OPA picks the key by configured id, else the JWS kid, else the payload's
  // (deprecated) keyid. With one configured key, a different id is refused.
  const kid = typeof header.kid === 'string' && header.kid !== '' ? header.kid : payload.keyid;
  if (verifier.keyId !== undefined && kid !== undefined && kid !== verifier.keyId) {
    throw new Error(`.signatures.json: signed with key "${kid}", expected "${verifier.keyId}"`);
  }
  if ((payload.scope ?? '') !== verifier.scope) throw new Error('.signatures.json: scope mismatch');

  const listed = new Map<string, FileEntry>();
  for (const f of payload.files) listed.set(f.name.replace(/^\/+/, ''), f);
  for (const [path, bytes] of files) {
    if (path === SIGNATURES_FILE || verifier.exclude.has(path)) {
      listed.delete(path);
      continue;
    }
    const entry = listed.get(path);
    if (entry === undefined) throw new Error(`${path}: not included in the bundle signature`);
    if (entry.algorithm === '') throw new Error(`${path}: no hashing algorithm in the bundle signature`);
    const digest = digestFile(path, bytes, entry.algorithm);
    if (digest !== entry.hash.toLowerCase()) throw new Error(`${path}: digest mismatch (the file was changed after signing)`);
    listed.delete(path);
  }
  if (listed.size > 0) {
    throw new Error(`file(s) ${[...listed.keys()].join(', ')} listed in the bundle signature but not in the bundle`);
  }
  return kid;
}

function signatureToken(bytes: Uint8Array): string {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new Error('.signatures.json: not valid JSON');
  }
  const sigs = (doc as { signatures?: unknown } | null)?.signatures;
  if (!Array.isArray(sigs) || sigs.length === 0) throw new Error('.signatures.json: missing JWT (expected exactly one)');
  if (sigs.length > 1) throw new Error('.signatures.json: multiple JWTs not supported (expected exactly one)');
  if (typeof sigs[0] !== 'string') throw new Error('.signatures.json: the signature is not a string');
  if ((doc as { plugin?: unknown }).plugin) throw new Error('.signatures.json: signing plugins are not supported');
  return sigs[0];
}

function parsePayload(bytes: Uint8Array): { files: FileEntry[]; keyid?: string; scope?: string } {
  let p: unknown;
  try {
    p = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new Error('.signatures.json: the signed payload is not JSON');
  }
  const o = p as { files?: unknown; keyid?: unknown; scope?: unknown } | null;
  if (o === null || typeof o !== 'object' || !Array.isArray(o.files)) {
    throw new Error('.signatures.json: the signed payload has no files list');
  }
  const files: FileEntry[] = [];
  for (const f of o.files as unknown[]) {
    const e = f as { name?: unknown; hash?: unknown; algorithm?: unknown } | null;
    if (e === null || typeof e !== 'object' || typeof e.name !== 'string' || typeof e.hash !== 'string') {
      throw new Error('.signatures.json: a files entry lacks name or hash');
    }
    files.push({ name: e.name, hash: e.hash, algorithm: typeof e.algorithm === 'string' ? e.algorithm : '' });
  }
  return {
    files,
    ...(typeof o.keyid === 'string' && o.keyid !== '' ? { keyid: o.keyid } : {}),
    ...(typeof o.scope === 'string' ? { scope: o.scope } : {}),
  };
}
