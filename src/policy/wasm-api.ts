// The few WebAssembly JS API members this room uses. The project compiles
// against lib ES2023 + @types/node, neither of which declares the
// `WebAssembly` global, so it is typed here, narrowly, instead of pulling in
// the DOM lib for the whole project.
/** A compiled module; opaque to us, handed back to opa-wasm to instantiate. */
export type WasmModule = object;

export interface WasmInstance {
  readonly exports: object;
}

interface WebAssemblyApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  validate(bytes: Uint8Array): boolean;
  readonly Module: new (bytes: Uint8Array) => WasmModule;
  readonly Instance: new (module: WasmModule, imports: object) => WasmInstance;
  readonly RuntimeError: new (...args: unknown[]) => Error;
}

export const Wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
