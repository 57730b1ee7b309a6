// `authz-sidecar policy eval --bundle B [--data D] --input I [--entrypoint E]`:
// evaluates a compiled bundle once, like `opa eval` does for Rego, and prints
// the result in opa eval's JSON shape. With --decision it prints what the
// policy stage would decide instead. Exit 0 evaluated, 1 the evaluation
// failed (trap, memory cap), 2 bad usage or input (including a bad bundle).
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { activateBundle, missingEntrypoint } from './activation.js';
import { readBundleDir } from './bundle/files.js';
import { parseBundleBytes, parseBundleFiles } from './bundle/parse.js';
import { loadBundleVerifier } from './bundle/signature.js';
import { normalizeEntrypoint, parsePolicyConfig } from './config.js';
import { PolicyEvalError } from './evaluator.js';
import { BadPolicyResult, interpretResultSet } from './result.js';

const USAGE = `usage: authz-sidecar policy eval --bundle B [--data D] --input I [--entrypoint E] [--decision]
                                [--verification-key K [--verification-key-id ID] [--signing-alg ALG] [--scope S]]
                                [--max-pages N]
  B: an OPA bundle (.tar.gz), a plain policy.wasm, or an unpacked bundle directory
  D: JSON merged over the bundle's data; I: the input document as JSON ('-' reads stdin)
`;

export interface PolicyEvalIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin?: NodeJS.ReadableStream;
}

class Usage extends Error {}

export async function policyEvalCommand(args: string[], io: PolicyEvalIo): Promise<number> {
  // Accept both `policy eval ...` and the arguments after it.
  const argv = args[0] === 'eval' ? args.slice(1) : args;
  try {
    return await run(argv, io);
  } catch (err) {
    if (err instanceof Usage) {
      io.stderr.write(`authz-sidecar policy eval: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

async function run(argv: string[], io: PolicyEvalIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        bundle: { type: 'string' },
        data: { type: 'string' },
        input: { type: 'string' },
        entrypoint: { type: 'string' },
        decision: { type: 'boolean', default: false },
        'verification-key': { type: 'string' },
        'verification-key-id': { type: 'string' },
        'signing-alg': { type: 'string' },
        scope: { type: 'string' },
        'max-pages': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new Usage((err as Error).message);
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (values.bundle === undefined) throw new Usage('--bundle is required');
  if (values.input === undefined) throw new Usage('--input is required');

  const input = await readJson(values.input, 'input', io);
  const data = values.data === undefined ? {} : await readJson(values.data, 'data', io);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Usage('--data must hold a JSON object');

  let config;
  try {
    config = parsePolicyConfig({
      bundle: { file: values.bundle },
      data,
      ...(values['verification-key'] === undefined
        ? {}
        : {
            signing: {
              public_key_file: values['verification-key'],
              ...(values['verification-key-id'] === undefined ? {} : { key_id: values['verification-key-id'] }),
              ...(values['signing-alg'] === undefined ? {} : { algorithm: values['signing-alg'] }),
              ...(values.scope === undefined ? {} : { scope: values.scope }),
            },
          }),
      ...(values['max-pages'] === undefined ? {} : { memory: { max_pages: Number(values['max-pages']) } }),
      ...(values.entrypoint === undefined ? {} : { entrypoint: values.entrypoint }),
    });
  } catch (err) {
    throw new Usage((err as Error).message);
  }

  let policy;
  try {
    const verifier = config.signing ? await loadBundleVerifier(config.signing, (p) => resolve(p)) : undefined;
    const path = resolve(values.bundle);
    const st = await stat(path);
    const b = config.bundle;
    const limits = { maxFiles: b.max_files, data: { maxEntries: b.max_data_entries, maxDepth: b.max_data_depth } };
    const parsed = st.isDirectory()
      ? await parseBundleFiles(await readBundleDir(path, b.max_bytes, b.max_files), verifier, limits)
      : await parseBundleBytes(await readFile(path), verifier, b.max_bytes, limits);
    policy = await activateBundle(parsed, { config, origin: path, smoke: false });
  } catch (err) {
    throw new Usage(`cannot load bundle ${values.bundle}: ${(err as Error).message}`);
  }

  const name = values.entrypoint === undefined ? policy.defaultEntrypoint.name : normalizeEntrypoint(values.entrypoint);
  const id = policy.evaluator.entrypointId(name);
  if (id === undefined) throw new Usage(missingEntrypoint(name, policy.evaluator).message);

  let resultSet: unknown;
  try {
    // A one-off evaluation is bounded like a smoke evaluation.
    const ms = config.smoke.timeout_ms;
    resultSet = policy.evaluator.evaluate(id, input, performance.now() + ms, `smoke.timeout_ms (${ms} ms)`);
  } catch (err) {
    const kind = err instanceof PolicyEvalError ? err.kind : 'error';
    io.stderr.write(`authz-sidecar policy eval: evaluation failed (${kind}): ${(err as Error).message}\n`);
    return 1;
  }

  if (values.decision) {
    let out: unknown;
    try {
      const verdict = interpretResultSet(resultSet);
      const r = verdict.result;
      out = r.kind === 'deny'
        ? { allowed: false, status: r.status, reason: r.reason, headers: r.headers ?? {}, ...(r.body === undefined ? {} : { body: r.body }) }
        : { allowed: true, status: 200, reason: 'allowed', headers: r.kind === 'allow' ? (r.headers ?? {}) : {},
            response_headers: verdict.responseHeaders ?? {} };
    } catch (err) {
      if (!(err instanceof BadPolicyResult)) throw err;
      out = { allowed: false, status: 503, reason: 'policy_error', error: err.message };
    }
    io.stdout.write(`${JSON.stringify({ revision: policy.revision, entrypoint: name, decision: out }, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(`${JSON.stringify(asOpaEvalOutput(resultSet, name), null, 2)}\n`);
  return 0;
}

/** `opa eval --format json` prints `{}` for an undefined result, else one expression per result. */
function asOpaEvalOutput(resultSet: unknown, entrypoint: string): unknown {
  if (!Array.isArray(resultSet) || resultSet.length === 0) return {};
  const text = `data.${entrypoint.replaceAll('/', '.')}`;
  return {
    result: resultSet.map((r: unknown) => ({
      expressions: [{ value: (r as { result?: unknown } | null)?.result, text, location: { row: 1, col: 1 } }],
    })),
  };
}

async function readJson(path: string, what: string, io: PolicyEvalIo): Promise<unknown> {
  let text: string;
  try {
    text = path === '-' ? await readStream(io.stdin ?? process.stdin) : await readFile(path, 'utf8');
  } catch (err) {
    throw new Usage(`cannot read --${what} ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Usage(`--${what} ${path} is not JSON: ${(err as Error).message}`);
  }
}

async function readStream(s: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}
