// One evaluation of a JSON input text, written straight into the module's
// memory: OPA's Wasm ABI 1.2 entry point `opa_eval(reserved, entrypoint,
// data, input, input_len, heap_ptr, format) → address of the result's JSON`.
//
// Why not opa-wasm's evaluate(): with an ArrayBuffer input it copies the
// buffer into memory, so the input's text must first be encoded into a
// buffer of exactly its length (a fresh ArrayBuffer per request); and the
// result is read back through a new TextDecoder after a byte-by-byte search
// for its end. Measured with the stand-in module and the bench's 1.9 KB input
// (bench/stage-costs.js): encoding into a fresh buffer ~2.7 µs of the input's
// ~5.9 µs, result read-back ~0.5 µs. Here the text is encoded once, into the
// memory the module reads it from, and the result is found with memchr.
//
// It relies on LoadedPolicy's instance fields (opa-wasm 1.10, pinned in
// package.json); JsonEvaluation.of() answers undefined when they are not
// what it expects, or the module's ABI is older than 1.2, and the caller
// then goes through opa-wasm's evaluate() as before.
import type { WasmInstance } from '../wasm-api.js';

const PAGE_BYTES = 64 * 1024;
/** opa_eval's output format: JSON text. */
const FORMAT_JSON = 0;

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

type OpaEval = (reserved: number, entrypoint: number, data: number, input: number, inputLen: number, heapPtr: number, format: number) => number;

/** The LoadedPolicy fields this reads, as opa-wasm 1.10 sets them. */
interface LoadedPolicyFields {
  readonly minorVersion?: unknown;
  readonly mem?: unknown;
  readonly wasmInstance?: WasmInstance;
  readonly dataAddr?: unknown;
  readonly dataHeapPtr?: unknown;
}

export class JsonEvaluation {
  /** A Buffer over the memory's current ArrayBuffer; replaced when the memory grows (the old one is detached). */
  private bytes: Buffer;

  private constructor(
    private readonly policy: { readonly dataAddr: number; readonly dataHeapPtr: number },
    private readonly mem: WasmMemory,
    private readonly opaEval: OpaEval,
  ) {
    this.bytes = Buffer.from(mem.buffer);
  }

  /** For an instance opa-wasm loaded (after its data was set); undefined when this path does not apply to it. */
  static of(loaded: object): JsonEvaluation | undefined {
    const p = loaded as LoadedPolicyFields;
    const mem = p.mem as Partial<WasmMemory> | undefined;
    const opaEval = (p.wasmInstance?.exports as { opa_eval?: unknown } | undefined)?.opa_eval;
    if (typeof p.minorVersion !== 'number' || p.minorVersion < 2) return undefined;
    if (typeof p.dataAddr !== 'number' || typeof p.dataHeapPtr !== 'number') return undefined;
    if (mem === undefined || !(mem.buffer instanceof ArrayBuffer) || typeof mem.grow !== 'function') return undefined;
    if (typeof opaEval !== 'function') return undefined;
    return new JsonEvaluation(p as { dataAddr: number; dataHeapPtr: number }, mem as WasmMemory, opaEval as OpaEval);
  }

  /**
   * opa-wasm's result set for `json` (JSON text of the input document) at
   * `entrypoint`. Throws what the module or the memory throws (a RangeError
   * when the input does not fit under the memory's maximum).
   */
  evaluate(entrypoint: number, json: string): unknown {
    // Read per call: setData (a reload of data on this instance) moves them.
    const inputAddr = this.policy.dataHeapPtr;
    let bytes = this.view();
    // A UTF-16 unit is at most 3 UTF-8 bytes: only when that bound does not fit is the exact length worth computing.
    if (inputAddr + json.length * 3 > bytes.length) {
      const need = inputAddr + Buffer.byteLength(json) - bytes.length;
      if (need > 0) this.mem.grow(Math.ceil(need / PAGE_BYTES));
      bytes = this.view();
    }
    const inputLen = bytes.write(json, inputAddr);
    const at = this.opaEval(0, entrypoint, this.policy.dataAddr, inputAddr, inputLen, inputAddr + inputLen, FORMAT_JSON);
    // The module may have grown its memory while evaluating.
    bytes = this.view();
    const end = bytes.indexOf(0, at);
    return JSON.parse(bytes.toString('utf8', at, end < 0 ? bytes.length : end)) as unknown;
  }

  private view(): Buffer {
    const buffer = this.mem.buffer;
    if (this.bytes.buffer !== buffer) this.bytes = Buffer.from(buffer);
    return this.bytes;
  }
}
