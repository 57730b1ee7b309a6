// The embedded OpenFGA-compatible engine: synchronous Check over in-memory
// stores, models and tuples. No I/O on the check path.
export { FgaCheckError, numericErrorCode } from '../model/errors.js';
export type { TupleKey, AuthorizationModel } from '../model/types.js';
export type { CheckRequestTuple, EmbeddedCheckRequest } from './check-request.js';
export { EmbeddedStore } from './store.js';
export type { ReadFilter, StoreOptions, TupleChange, TupleOperation, WriteOptions } from './store.js';
export { StoreRegistry } from './registry.js';
export { DEFAULT_MAX_DEPTH } from './check.js';
export { loadEmbeddedStore, EmbeddedFileSource } from './file-source.js';
export type { FileSourceOptions, ReloadResult } from './file-source.js';
