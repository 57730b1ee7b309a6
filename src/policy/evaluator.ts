// One compiled policy module, instantiated in process with
// @open-policy-agent/opa-wasm, its data loaded, evaluated synchronously.
//
// Bounds, and what they can and cannot do:
// - Memory: the instance's WebAssembly.Memory has a maximum (memory.max_pages).
//   Growth past it fails inside the module (OPA's allocator aborts) or in
//   opa-wasm when it writes a large input; either throws and is reported as
//   `memory`. The stage denies `policy_error`.
// - Traps (`unreachable`, out-of-bounds access, stack overflow) throw a
//   WebAssembly.RuntimeError / RangeError, reported as `trap`.
// - Time: evaluation runs on the event loop thread, where nothing can
//   pre-empt it, so the module is instrumented before it is compiled
//   (wasm/instrument.ts): it counts the instructions it runs and every
//   CHECK_INTERVAL of them asks the clock whether its deadline has passed; if
//   so the evaluation is stopped (`timeout`). The deadline is the decision's
//   for a request, `load_timeout_ms` while loading and setting data, and
//   `smoke.timeout_ms` for a smoke evaluation. docs/policy.md has the
//   measurements behind this choice (against a worker pool and node:vm).
// After any throw the instance is discarded and a fresh one is made from the
// same compiled module, so a trap mid-evaluation cannot leave corrupt heap
// state behind for the next request.
import { createRequire } from 'node:module';
import type * as OpaWasmModule from '@open-policy-agent/opa-wasm';
import { Wasm, type WasmInstance, type WasmModule } from './wasm-api.js';
import { instrumentForInterrupts } from './wasm/instrument.js';
import { InterruptGuard, PolicyInterrupted } from './wasm/interrupt.js';
import { JsonEvaluation } from './wasm/json-eval.js';

type OpaWasm = typeof OpaWasmModule;
type LoadedPolicy = ReturnType<OpaWasm['loadPolicySync']>;

// The package's ESM entry re-exports only loadPolicy (async); its CommonJS
// entry has the synchronous loader we need to re-instantiate in place.
const opa = createRequire(import.meta.url)('@open-policy-agent/opa-wasm') as OpaWasm;

export type EvalFailureKind = 'trap' | 'memory' | 'abort' | 'timeout' | 'error';

export class PolicyEvalError extends Error {
  override readonly name = 'PolicyEvalError';
  constructor(
    readonly kind: EvalFailureKind,
    message: string,
  ) {
    super(message);
  }
}

export interface MemoryLimits {
  readonly initialPages: number;
  readonly maxPages: number;
}

export interface EvaluatorLimits extends MemoryLimits {
  /** Instantiating the module and loading its data (also when a fresh instance replaces a failed one); default 5000. */
  readonly loadTimeoutMs?: number;
}

/** Bundle data as a document, or already serialized as JSON bytes (what the parse worker hands over). */
export type PolicyData = unknown;

export class PolicyEvaluator {
  /** Entrypoint name → id, as the module reports them. */
  readonly entrypoints: ReadonlyMap<string, number>;
  private instance: LoadedPolicy | undefined;
  /** The instance's direct path for JSON text (ABI ≥ 1.2); undefined: through opa-wasm's evaluate(). */
  private json: JsonEvaluation | undefined;
  private readonly guard = new InterruptGuard();

  private constructor(
    private readonly module: WasmModule,
    private readonly dataJson: ArrayBuffer,
    private readonly memory: EvaluatorLimits,
  ) {
    this.instance = this.instantiate();
    const eps = this.instance.entrypoints as unknown;
    const map = new Map<string, number>();
    if (eps !== null && typeof eps === 'object') {
      for (const [name, id] of Object.entries(eps as Record<string, unknown>)) {
        if (typeof id === 'number') map.set(name, id);
      }
    }
    this.entrypoints = map;
  }

  /**
   * Instruments, compiles (off the event loop where the runtime can),
   * instantiates and loads data; throws a clear Error. `data` may be a
   * document or its JSON bytes (an ArrayBuffer).
   */
  static async create(wasm: Uint8Array, data: PolicyData, memory: EvaluatorLimits): Promise<PolicyEvaluator> {
    let module: WasmModule;
    try {
      module = await Wasm.compile(instrumentForInterrupts(wasm, (b) => Wasm.validate(b)));
    } catch (err) {
      throw new Error(`policy.wasm does not compile: ${describe(err)}`, { cause: err });
    }
    let dataJson: ArrayBuffer;
    if (data instanceof ArrayBuffer) dataJson = data;
    else {
      const json = new TextEncoder().encode(JSON.stringify(data ?? {}));
      dataJson = json.buffer.slice(json.byteOffset, json.byteOffset + json.byteLength) as ArrayBuffer;
    }
    try {
      return new PolicyEvaluator(module, dataJson, memory);
    } catch (err) {
      const e = classify(err);
      throw new Error(
        e.kind === 'memory'
          ? `policy and data do not fit in memory.max_pages (${memory.maxPages} pages): ${e.message}`
          : e.kind === 'trap' && /null function/i.test(e.message)
            ? `policy.wasm does not load: it ran past its load-time instruction budget (${e.message})`
            : `policy.wasm does not load: ${e.message}`,
        { cause: err },
      );
    }
  }

  /** The id of an entrypoint by name ("authz/allow"), or undefined. */
  entrypointId(name: string): number | undefined {
    return this.entrypoints.get(name);
  }

  /**
   * Evaluates one entrypoint; returns opa-wasm's result set or throws
   * PolicyEvalError (kind `timeout` when it was stopped at `deadline`, a
   * performance.now() value).
   */
  evaluate(entrypoint: number, input: unknown, deadline = Number.POSITIVE_INFINITY, what = 'decision deadline'): unknown {
    const instance = this.instance ?? this.recover();
    const guard = this.guard;
    guard.deadline = deadline;
    guard.what = what;
    try {
      return instance.evaluate(input, entrypoint) as unknown;
    } catch (err) {
      this.instance = undefined;
      throw classify(err);
    }
  }

  /**
   * The same for an input given as its JSON text (the policy stage's): the
   * text is written straight into the module's memory where the ABI allows
   * it (wasm/json-eval.ts), else handed to opa-wasm as UTF-8 bytes.
   */
  evaluateJson(entrypoint: number, json: string, deadline = Number.POSITIVE_INFINITY, what = 'decision deadline'): unknown {
    const instance = this.instance ?? this.recover();
    const guard = this.guard;
    guard.deadline = deadline;
    guard.what = what;
    try {
      const direct = this.json;
      return direct !== undefined ? direct.evaluate(entrypoint, json) : (instance.evaluate(utf8Buffer(json), entrypoint) as unknown);
    } catch (err) {
      this.instance = undefined;
      throw classify(err);
    }
  }

  private recover(): LoadedPolicy {
    try {
      this.instance = this.instantiate();
      return this.instance;
    } catch (err) {
      throw classify(err);
    }
  }

  private instantiate(): LoadedPolicy {
    this.json = undefined;
    const p = opa.loadPolicySync(this.module, { initial: this.memory.initialPages, maximum: this.memory.maxPages });
    this.guard.attach((p as unknown as { wasmInstance: WasmInstance }).wasmInstance);
    const ms = this.memory.loadTimeoutMs ?? 5000;
    this.guard.deadline = performance.now() + ms;
    this.guard.what = `load_timeout_ms (${ms} ms) while loading data`;
    p.setData(this.dataJson);
    this.json = JsonEvaluation.of(p);
    return p;
  }
}

/** UTF-8 bytes of `text` in an ArrayBuffer of exactly their length: what opa-wasm takes as ready JSON. */
export function utf8Buffer(text: string): ArrayBuffer {
  const buf = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  buf.write(text);
  return buf.buffer as ArrayBuffer;
}

/** Sorts what opa-wasm or the module threw into a failure kind. */
export function classify(err: unknown): PolicyEvalError {
  if (err instanceof PolicyEvalError) return err;
  const message = describe(err);
  if (err instanceof PolicyInterrupted) return new PolicyEvalError('timeout', message);
  if (err instanceof Wasm.RuntimeError || (err instanceof RangeError && /call stack/i.test(message))) {
    return new PolicyEvalError('trap', message);
  }
  // The memory maximum refused to grow: in opa-wasm (RangeError) or in the module's allocator (opa_abort).
  if (/memory|malloc/i.test(message)) return new PolicyEvalError('memory', message);
  // opa_abort and opa-wasm's own checks throw plain strings.
  if (typeof err === 'string') return new PolicyEvalError('abort', message);
  return new PolicyEvalError('error', message);
}

function describe(err: unknown): string {
  if (typeof err === 'string') return err;
  if (err instanceof Error) return err.message;
  if (err !== null && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') {
    return (err as { message: string }).message;
  }
  return String(err);
}
