// Loading an authorization model from OpenFGA's DSL or from its JSON form,
// validated into a TypeSystem. Errors name what is wrong and where.
import { readFileSync } from 'node:fs';
import { transformer, validator } from '@openfga/syntax-transformer';
import { FgaCheckError } from './errors.js';
import { MAX_MODEL_BYTES, TypeSystem } from './typesystem.js';
import type { AuthorizationModel } from './types.js';

export type ModelFormat = 'dsl' | 'json';

function guessFormat(text: string): ModelFormat {
  return text.trimStart().startsWith('{') ? 'json' : 'dsl';
}

function dslError(err: unknown): FgaCheckError {
  const msg = (err as Error)?.message ?? String(err);
  return new FgaCheckError('invalid_authorization_model', `model does not parse: ${msg.replace(/\s+/g, ' ').trim()}`);
}

/** Parses DSL or JSON text into the API's AuthorizationModel shape (not yet validated). */
export function parseModelText(text: string, format: ModelFormat = guessFormat(text), maxBytes = MAX_MODEL_BYTES): AuthorizationModel {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > maxBytes) {
    throw new FgaCheckError('invalid_authorization_model', `model is ${size} bytes, more than the limit of ${maxBytes} bytes`);
  }
  if (format === 'json') {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new FgaCheckError('invalid_authorization_model', `model JSON does not parse: ${(err as Error).message}`);
    }
    const m = (doc as Record<string, unknown>)?.authorization_model ?? doc;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new FgaCheckError('invalid_authorization_model', 'model JSON must be an object');
    return m as AuthorizationModel;
  }
  try {
    validator.validateDSL(text);
    return transformer.transformDSLToJSONObject(text) as unknown as AuthorizationModel;
  } catch (err) {
    throw dslError(err);
  }
}

/** Parses and validates; `id` becomes the model id. */
export function compileModelText(text: string, id: string, format?: ModelFormat, maxBytes?: number): TypeSystem {
  return new TypeSystem(parseModelText(text, format, maxBytes), id);
}

export function readModelFile(path: string, maxBytes = MAX_MODEL_BYTES): AuthorizationModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FgaCheckError('invalid_authorization_model', `cannot read model file ${path}: ${(err as Error).message}`);
  }
  const format: ModelFormat = path.endsWith('.json') ? 'json' : guessFormat(text);
  return parseModelText(text, format, maxBytes);
}
