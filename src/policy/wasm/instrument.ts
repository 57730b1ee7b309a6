// Makes a policy module interruptible before it is loaded. WebAssembly runs
// on the event loop thread and nothing in Node can pre-empt it there, so the
// module is rewritten to pay, from a counter, for the instructions it runs:
// at every function entry the function's instruction count, at every loop
// iteration the loop body's. Those are the only two ways code can run again
// (branches only go forward or back to a loop), so no execution escapes the
// counter. When the counter drops below zero it is refilled with
// CHECK_INTERVAL and the module calls, through a one-slot table the sidecar
// fills, a host function that compares the clock with the evaluation's
// deadline and throws when it has passed (see interrupt.ts).
//
// The rewrite only appends: one function type, one table, one global and two
// exports; no existing index moves, so calls, element segments and names stay
// valid. The original module is validated first, so it cannot name the
// appended table or global itself.
import {
  appendToVector, encodeI32, encodeU32, readSections, Reader, vectorOf, WasmFormatError, writeModule, type Section,
} from './binary.js';
import { walkFunction } from './instructions.js';

/** Instructions between two clock checks (roughly 50–200 µs of policy code). */
export const CHECK_INTERVAL = 100_000;
/**
 * The counter's value until the sidecar has filled the table: instantiation
 * and opa-wasm's first calls run before it can, and a module that loops there
 * traps (calls an empty slot) once this many instructions are spent.
 */
export const LOAD_BUDGET = 200_000_000;
export const INTERRUPT_TABLE_EXPORT = '__authz_sidecar_interrupt';
export const COUNTER_EXPORT = '__authz_sidecar_budget';

const SECTION = { custom: 0, type: 1, import: 2, function: 3, table: 4, memory: 5, global: 6, export: 7, code: 10, tag: 13 } as const;
// The spec's section order (custom sections may sit anywhere).
const ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];
const MAX_WEIGHT = 1 << 24;

interface Counts {
  types: number;
  importedTables: number;
  importedGlobals: number;
  tables: number;
  globals: number;
}

export function instrumentForInterrupts(wasm: Uint8Array, validate: (bytes: Uint8Array) => boolean): Uint8Array {
  if (!validate(wasm)) throw new WasmFormatError('policy.wasm is not a valid WebAssembly module');
  const sections = readSections(wasm);
  const counts = countIndices(sections);
  const typeIdx = counts.types;
  const tableIdx = counts.importedTables + counts.tables;
  const globalIdx = counts.importedGlobals + counts.globals;

  const byId = (id: number): Section | undefined => sections.find((s) => s.id === id);
  const replaced = new Map<number, Uint8Array>();
  replaced.set(SECTION.type, appendToVector(byId(SECTION.type)?.body, [[0x60, 0x00, 0x00]]));
  replaced.set(SECTION.table, appendToVector(byId(SECTION.table)?.body, [[0x70, 0x01, 0x01, 0x01]]));
  replaced.set(SECTION.global, appendToVector(byId(SECTION.global)?.body, [[0x7f, 0x01, 0x41, ...encodeI32(LOAD_BUDGET), 0x0b]]));
  const exportBody = byId(SECTION.export)?.body;
  for (const name of [INTERRUPT_TABLE_EXPORT, COUNTER_EXPORT]) {
    if (exportBody !== undefined && exportNames(exportBody).has(name)) throw new WasmFormatError(`policy.wasm already exports ${name}`);
  }
  replaced.set(SECTION.export, appendToVector(exportBody, [
    [...nameBytes(INTERRUPT_TABLE_EXPORT), 0x01, ...encodeU32(tableIdx)],
    [...nameBytes(COUNTER_EXPORT), 0x03, ...encodeU32(globalIdx)],
  ]));
  const code = byId(SECTION.code);
  if (code !== undefined) replaced.set(SECTION.code, instrumentCode(wasm, code, { typeIdx, tableIdx, globalIdx }));

  const out: Section[] = [];
  const pending = new Set(replaced.keys());
  for (const s of sections) {
    if (s.id !== SECTION.custom) {
      // Sections the module lacked go before the first one that follows them in the spec's order.
      for (const id of [...pending]) {
        if (byId(id) === undefined && ORDER.indexOf(id) < ORDER.indexOf(s.id)) {
          out.push({ id, body: replaced.get(id)! });
          pending.delete(id);
        }
      }
    }
    const body = replaced.get(s.id);
    if (body !== undefined && s.id !== SECTION.custom) pending.delete(s.id);
    out.push(body === undefined ? s : { id: s.id, body });
  }
  for (const id of ORDER) if (pending.has(id)) out.push({ id, body: replaced.get(id)! });
  return writeModule(out);
}

function countIndices(sections: readonly Section[]): Counts {
  const counts: Counts = { types: 0, importedTables: 0, importedGlobals: 0, tables: 0, globals: 0 };
  for (const s of sections) {
    if (s.id === SECTION.type) counts.types = vectorOf(s.body).count;
    else if (s.id === SECTION.table) counts.tables = vectorOf(s.body).count;
    else if (s.id === SECTION.global) counts.globals = vectorOf(s.body).count;
    else if (s.id === SECTION.import) countImports(s.body, counts);
  }
  return counts;
}

function countImports(body: Uint8Array, counts: Counts): void {
  const r = new Reader(body);
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    r.skip(r.u32());
    r.skip(r.u32());
    const kind = r.byte();
    if (kind === 0x00) r.u32();
    else if (kind === 0x01) {
      counts.importedTables++;
      r.byte();
      skipLimits(r);
    } else if (kind === 0x02) skipLimits(r);
    else if (kind === 0x03) {
      counts.importedGlobals++;
      r.byte();
      r.byte();
    } else throw new WasmFormatError(`import kind ${kind} is not supported`);
  }
}

function skipLimits(r: Reader): void {
  const flags = r.byte();
  r.u32();
  if ((flags & 0x01) !== 0) r.u32();
}

function exportNames(body: Uint8Array): Set<string> {
  const r = new Reader(body);
  const names = new Set<string>();
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const len = r.u32();
    names.add(Buffer.from(body.subarray(r.pos, r.pos + len)).toString('utf8'));
    r.skip(len);
    r.byte();
    r.u32();
  }
  return names;
}

function nameBytes(name: string): number[] {
  const b = Buffer.from(name, 'utf8');
  return [...encodeU32(b.length), ...b];
}

interface Indices {
  readonly typeIdx: number;
  readonly tableIdx: number;
  readonly globalIdx: number;
}

/** The counter update, and the call to the host's clock check when it runs out. */
function chargeSequence(weight: number, ix: Indices): number[] {
  const g = encodeU32(ix.globalIdx);
  const w = Math.max(1, Math.min(MAX_WEIGHT, weight));
  return [
    0x23, ...g, 0x41, ...encodeI32(w), 0x6b, 0x24, ...g, // budget -= weight
    0x23, ...g, 0x41, 0x00, 0x48, 0x04, 0x40, //            if budget < 0
    0x41, ...encodeI32(CHECK_INTERVAL), 0x24, ...g, //        budget = CHECK_INTERVAL
    0x41, 0x00, 0x11, ...encodeU32(ix.typeIdx), ...encodeU32(ix.tableIdx), // call the host check
    0x0b, //                                                 end
  ];
}

function instrumentCode(wasm: Uint8Array, code: Section, ix: Indices): Uint8Array {
  const base = code.body.byteOffset - wasm.byteOffset;
  const r = new Reader(wasm, base, base + code.body.length);
  const n = r.u32();
  const out: Uint8Array[] = [Uint8Array.from(encodeU32(n))];
  for (let i = 0; i < n; i++) {
    const size = r.u32();
    const start = r.pos;
    const end = start + size;
    r.skip(size);
    const shape = walkFunction(wasm, start, end);
    const parts: Uint8Array[] = [wasm.subarray(start, shape.codeStart), Uint8Array.from(chargeSequence(shape.weight, ix))];
    let at = shape.codeStart;
    for (const loop of [...shape.loops].sort((a, b) => a.bodyStart - b.bodyStart)) {
      parts.push(wasm.subarray(at, loop.bodyStart), Uint8Array.from(chargeSequence(loop.weight, ix)));
      at = loop.bodyStart;
    }
    parts.push(wasm.subarray(at, end));
    const body = Buffer.concat(parts);
    out.push(Uint8Array.from(encodeU32(body.length)), body);
  }
  return Buffer.concat(out);
}
