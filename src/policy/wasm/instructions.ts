// Walks the instructions of one function body (core spec 2.0 plus the
// sign-extension, saturating-conversion, bulk-memory, reference-types,
// multi-value and tail-call extensions — what `opa build -t wasm` and LLVM
// emit) and reports where each `loop` body starts and how many instructions
// it holds. An opcode outside that set (SIMD, threads, exceptions, GC) is
// refused rather than guessed at: a module we cannot walk is a module we
// cannot bound.
import { Reader, WasmFormatError } from './binary.js';

export interface LoopSite {
  /** Byte offset, in the module, just after the loop's block type: where its body begins. */
  readonly bodyStart: number;
  /** Instructions between the loop and its `end`, nested ones included. */
  readonly weight: number;
}

export interface FunctionShape {
  /** Byte offset where the instructions begin (after the local declarations). */
  readonly codeStart: number;
  /** Every instruction of the body. */
  readonly weight: number;
  readonly loops: readonly LoopSite[];
}

const BLOCK = 0x02;
const LOOP = 0x03;
const IF = 0x04;
const END = 0x0b;
const VALUE_TYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f]);

/** `body` spans one code-section entry, without its size prefix. */
export function walkFunction(bytes: Uint8Array, bodyStart: number, bodyEnd: number): FunctionShape {
  const r = new Reader(bytes, bodyStart, bodyEnd);
  const localGroups = r.u32();
  for (let i = 0; i < localGroups; i++) {
    r.u32();
    r.byte();
  }
  const codeStart = r.pos;
  const loops: LoopSite[] = [];
  // Open blocks; for a loop, the instruction index it starts at and where its body begins.
  const open: Array<{ loopAt: number; bodyStart: number } | undefined> = [undefined]; // the function's own block
  let count = 0;
  while (!r.done) {
    const op = r.byte();
    count++;
    if (op === BLOCK || op === LOOP || op === IF || op === 0x06 /* try: refused below */) {
      if (op === 0x06) throw unsupported(op, r.pos - 1);
      skipBlockType(r);
      open.push(op === LOOP ? { loopAt: count, bodyStart: r.pos } : undefined);
      continue;
    }
    if (op === END) {
      const block = open.pop();
      if (block !== undefined) loops.push({ bodyStart: block.bodyStart, weight: count - block.loopAt });
      if (open.length === 0) {
        if (!r.done) throw new WasmFormatError(`function body continues after its final end at byte ${r.pos}`);
        return { codeStart, weight: count, loops };
      }
      continue;
    }
    skipImmediates(op, r);
  }
  throw new WasmFormatError('function body ends without its final end');
}

function skipBlockType(r: Reader): void {
  const b = r.peek();
  if (b === 0x40 || VALUE_TYPES.has(b)) r.byte();
  else r.skipSigned(5); // a type index (multi-value), as s33
}

function skipMemArg(r: Reader): void {
  const align = r.u32();
  if ((align & 0x40) !== 0) r.u32(); // multi-memory: a memory index follows
  r.u32();
}

function skipImmediates(op: number, r: Reader): void {
  if (op === 0x00 || op === 0x01 || op === 0x05 || op === 0x0f || op === 0x1a || op === 0x1b || op === 0xd1) return;
  if (op >= 0x45 && op <= 0xc4) return; // numeric operators carry no immediates
  if (op >= 0x28 && op <= 0x3e) return skipMemArg(r);
  switch (op) {
    case 0x0c: // br
    case 0x0d: // br_if
    case 0x10: // call
    case 0x12: // return_call
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: // local/global get/set/tee
    case 0x25: case 0x26: // table.get/set
    case 0xd2: // ref.func
    case 0x3f: case 0x40: // memory.size/grow
      r.u32();
      return;
    case 0x0e: { // br_table
      const n = r.u32();
      for (let i = 0; i <= n; i++) r.u32();
      return;
    }
    case 0x11: // call_indirect
    case 0x13: // return_call_indirect
      r.u32();
      r.u32();
      return;
    case 0x1c: { // select with types
      const n = r.u32();
      r.skip(n);
      return;
    }
    case 0x41: r.skipSigned(5); return;
    case 0x42: r.skipSigned(10); return;
    case 0x43: r.skip(4); return;
    case 0x44: r.skip(8); return;
    case 0xd0: r.byte(); return; // ref.null
    case 0xfc: return skipPrefixed(r);
    default:
      throw unsupported(op, r.pos - 1);
  }
}

function skipPrefixed(r: Reader): void {
  const sub = r.u32();
  if (sub <= 7) return; // saturating truncations
  switch (sub) {
    case 8: r.u32(); r.u32(); return; // memory.init data, memory
    case 9: r.u32(); return; // data.drop
    case 10: r.u32(); r.u32(); return; // memory.copy
    case 11: r.u32(); return; // memory.fill
    case 12: r.u32(); r.u32(); return; // table.init
    case 13: r.u32(); return; // elem.drop
    case 14: r.u32(); r.u32(); return; // table.copy
    case 15: case 16: case 17: r.u32(); return; // table.grow/size/fill
    default:
      throw new WasmFormatError(`instruction 0xfc ${sub} is not supported`);
  }
}

function unsupported(op: number, at: number): WasmFormatError {
  return new WasmFormatError(`instruction 0x${op.toString(16)} at byte ${at} is not supported (SIMD, threads, exceptions and GC are refused)`);
}
