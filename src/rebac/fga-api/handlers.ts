// The OpenFGA HTTP API over a StoreRegistry: request bodies in, response
// bodies out, errors as FgaCheckError. Paths and JSON shapes follow
// openfga/v1/openfga_service.proto's HTTP bindings.
import { FgaCheckError, validationError } from '../model/errors.js';
import type { AuthorizationModel, TupleKey } from '../model/types.js';
import type { EmbeddedStore } from '../embedded/store.js';
import type { StoreRegistry } from '../embedded/registry.js';
import type { EmbeddedCheckRequest } from '../embedded/check-request.js';

export interface ApiResult {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

type Json = Record<string, unknown>;

export const MAX_TUPLES_PER_WRITE = 100;
export const MAX_CHECKS_PER_BATCH = 50;

function obj(body: unknown): Json {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw validationError('request body must be a JSON object');
  return body as Json;
}

function pageSize(raw: unknown, dflt: number): number {
  if (raw === undefined || raw === null || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new FgaCheckError('page_size_invalid', 'page_size must be between 1 and 100');
  return n;
}

function offsetPage<T>(items: T[], size: number, token: unknown): { page: T[]; next: string } {
  let offset = 0;
  if (typeof token === 'string' && token !== '') {
    try {
      offset = Number((JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Json).o);
    } catch {
      offset = NaN;
    }
    if (!Number.isInteger(offset) || offset < 0) throw new FgaCheckError('invalid_continuation_token', 'invalid continuation token');
  }
  const page = items.slice(offset, offset + size);
  const more = offset + size < items.length;
  return { page, next: more ? Buffer.from(JSON.stringify({ o: offset + size })).toString('base64url') : '' };
}

function storeJson(s: EmbeddedStore): Json {
  return { id: s.id, name: s.name, created_at: s.createdAt, updated_at: s.updatedAt };
}

function tupleKeys(v: unknown, field: string): TupleKey[] {
  if (v === undefined || v === null) return [];
  const keys = (v as Json).tuple_keys;
  if (!Array.isArray(keys)) throw validationError(`${field}.tuple_keys must be a list`);
  return keys as TupleKey[];
}

function contextual(v: unknown): TupleKey[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v as TupleKey[];
  return tupleKeys(v, 'contextual_tuples');
}

function checkRequest(b: Json, modelId: unknown): EmbeddedCheckRequest {
  return {
    tuple_key: b.tuple_key as EmbeddedCheckRequest['tuple_key'],
    contextual_tuples: contextual(b.contextual_tuples),
    context: (b.context ?? undefined) as Record<string, unknown> | undefined,
    authorization_model_id: typeof modelId === 'string' && modelId !== '' ? modelId : undefined,
  };
}

export class FgaApi {
  constructor(private readonly registry: StoreRegistry) {}

  createStore(body: unknown): ApiResult {
    const b = obj(body);
    if (typeof b.name !== 'string' || b.name.length < 3 || b.name.length > 64) throw validationError("'name' must be a string of 3 to 64 characters");
    return { status: 201, body: storeJson(this.registry.create({ name: b.name })) };
  }

  listStores(q: URLSearchParams): ApiResult {
    const { page, next } = offsetPage(this.registry.list(), pageSize(q.get('page_size'), 50), q.get('continuation_token'));
    return { status: 200, body: { stores: page.map(storeJson), continuation_token: next } };
  }

  getStore(id: string): ApiResult {
    return { status: 200, body: storeJson(this.registry.get(id)) };
  }

  deleteStore(id: string): ApiResult {
    this.registry.delete(id);
    return { status: 204, body: {} };
  }

  writeModel(id: string, body: unknown): ApiResult {
    const store = this.registry.get(id);
    const b = obj(body);
    const size = Buffer.byteLength(JSON.stringify(b));
    if (size > 256 * 1024) throw new FgaCheckError('invalid_authorization_model', `model is ${size} bytes, more than the limit of ${256 * 1024} bytes`);
    const model: AuthorizationModel = {
      schema_version: b.schema_version as string,
      type_definitions: b.type_definitions as AuthorizationModel['type_definitions'],
      ...(b.conditions ? { conditions: b.conditions as AuthorizationModel['conditions'] } : {}),
    };
    return { status: 201, body: { authorization_model_id: store.writeAuthorizationModel(model) } };
  }

  listModels(id: string, q: URLSearchParams): ApiResult {
    const store = this.registry.get(id);
    const { page, next } = offsetPage(store.listModels(), pageSize(q.get('page_size'), 50), q.get('continuation_token'));
    return { status: 200, body: { authorization_models: page.map((m) => m.model), continuation_token: next } };
  }

  getModel(id: string, modelId: string): ApiResult {
    return { status: 200, body: { authorization_model: this.registry.get(id).getModel(modelId).model } };
  }

  write(id: string, body: unknown): ApiResult {
    const store = this.registry.get(id);
    const b = obj(body);
    const writes = tupleKeys(b.writes, 'writes');
    const deletes = tupleKeys(b.deletes, 'deletes');
    if (writes.length + deletes.length > MAX_TUPLES_PER_WRITE) {
      throw new FgaCheckError('exceeded_entity_limit', `a write may carry at most ${MAX_TUPLES_PER_WRITE} tuples, got ${writes.length + deletes.length}`);
    }
    const onDuplicate = (b.writes as Json | undefined)?.on_duplicate;
    const onMissing = (b.deletes as Json | undefined)?.on_missing;
    store.write(writes, deletes, {
      authorizationModelId: typeof b.authorization_model_id === 'string' && b.authorization_model_id !== '' ? b.authorization_model_id : undefined,
      onDuplicate: onDuplicate === 'ignore' ? 'ignore' : 'error',
      onMissing: onMissing === 'ignore' ? 'ignore' : 'error',
    });
    return { status: 200, body: {} };
  }

  read(id: string, body: unknown): ApiResult {
    const store = this.registry.get(id);
    const b = obj(body);
    const tk = (b.tuple_key ?? undefined) as Json | undefined;
    const filter = tk
      ? {
          ...(typeof tk.object === 'string' && tk.object ? { object: tk.object } : {}),
          ...(typeof tk.relation === 'string' && tk.relation ? { relation: tk.relation } : {}),
          ...(typeof tk.user === 'string' && tk.user ? { user: tk.user } : {}),
        }
      : undefined;
    const token = typeof b.continuation_token === 'string' && b.continuation_token !== '' ? b.continuation_token : undefined;
    return { status: 200, body: store.read(filter, pageSize(b.page_size, 50), token) };
  }

  check(id: string, body: unknown): ApiResult {
    const store = this.registry.get(id);
    const b = obj(body);
    const model = store.getModel(typeof b.authorization_model_id === 'string' && b.authorization_model_id !== '' ? b.authorization_model_id : undefined);
    const { allowed } = store.check(checkRequest(b, model.id));
    return { status: 200, body: { allowed, resolution: '' }, headers: { 'openfga-authorization-model-id': model.id } };
  }

  batchCheck(id: string, body: unknown): ApiResult {
    const store = this.registry.get(id);
    const b = obj(body);
    const checks = b.checks;
    if (!Array.isArray(checks) || checks.length === 0) throw validationError("'checks' must be a non-empty list");
    if (checks.length > MAX_CHECKS_PER_BATCH) throw validationError(`at most ${MAX_CHECKS_PER_BATCH} checks per batch, got ${checks.length}`);
    const model = store.getModel(typeof b.authorization_model_id === 'string' && b.authorization_model_id !== '' ? b.authorization_model_id : undefined);
    const seen = new Set<string>();
    for (const c of checks) {
      const cid = (c as Json | null)?.correlation_id;
      if (typeof cid !== 'string' || cid === '' || cid.length > 36) throw validationError('every check needs a correlation_id of 1 to 36 characters');
      if (seen.has(cid)) throw validationError(`duplicate correlation_id '${cid}'`);
      seen.add(cid);
    }
    const result: Record<string, unknown> = {};
    for (const c of checks as Json[]) {
      try {
        result[c.correlation_id as string] = { allowed: store.check(checkRequest(c, model.id)).allowed };
      } catch (err) {
        const e = err instanceof FgaCheckError ? err : new FgaCheckError('internal_error', 'internal error');
        const field = e.httpStatus >= 500 ? 'internal_error' : 'input_error';
        result[c.correlation_id as string] = { error: { [field]: e.code, message: e.message } };
      }
    }
    return { status: 200, body: { result }, headers: { 'openfga-authorization-model-id': model.id } };
  }

  readChanges(id: string, q: URLSearchParams): ApiResult {
    const store = this.registry.get(id);
    const type = q.get('type') ?? undefined;
    const token = q.get('continuation_token') ?? undefined;
    const startTime = q.get('start_time') ?? undefined;
    const body = store.readChanges({
      ...(type ? { type } : {}),
      pageSize: pageSize(q.get('page_size'), 50),
      ...(token ? { continuationToken: token } : {}),
      ...(startTime ? { startTime } : {}),
    });
    return { status: 200, body };
  }
}
