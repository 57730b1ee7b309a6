// The host side of the interrupt instrumentation (instrument.ts): a deadline
// per policy instance, and the clock check the instrumented module calls
// every CHECK_INTERVAL instructions. The check throws PolicyInterrupted,
// which unwinds the WebAssembly stack; the evaluator then discards the
// instance, as after any trap.
import { Wasm, type WasmInstance } from '../wasm-api.js';
import { CHECK_INTERVAL, COUNTER_EXPORT, INTERRUPT_TABLE_EXPORT } from './instrument.js';

export class PolicyInterrupted extends Error {
  override readonly name = 'PolicyInterrupted';
}

interface TableLike {
  set(index: number, value: unknown): void;
}

// A table slot takes only WebAssembly functions. A tiny module that imports a
// JavaScript function and exports it again turns one into such a function:
// (module (type (func)) (import "h" "f" (func (type 0))) (export "f" (func 0)))
const REEXPORT = Uint8Array.of(
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
  0x02, 0x07, 0x01, 0x01, 0x68, 0x01, 0x66, 0x00, 0x00,
  0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00,
);
let reexportModule: object | undefined;

/** The deadline an instance runs under; set before each call into it. */
export class InterruptGuard {
  /** performance.now() value after which the module is stopped. */
  deadline = Number.POSITIVE_INFINITY;
  /** What the thrown error says ran out (evaluation deadline, load timeout, smoke timeout). */
  what = 'deadline';
  private readonly check: unknown;

  constructor() {
    reexportModule ??= new Wasm.Module(REEXPORT);
    const check = (): void => {
      if (performance.now() > this.deadline) throw new PolicyInterrupted(`policy stopped: it ran past its ${this.what}`);
    };
    this.check = (new Wasm.Instance(reexportModule, { h: { f: check } }).exports as { f: unknown }).f;
  }

  /** Fills the instrumented instance's table slot and starts its counter at the normal interval. */
  attach(instance: WasmInstance): void {
    const exports = instance.exports as Record<string, unknown>;
    const table = exports[INTERRUPT_TABLE_EXPORT] as TableLike | undefined;
    const counter = exports[COUNTER_EXPORT] as { value: number } | undefined;
    if (table === undefined || counter === undefined) throw new Error('policy module is not instrumented for interrupts');
    table.set(0, this.check);
    counter.value = CHECK_INTERVAL;
  }
}
