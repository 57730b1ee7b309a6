// Small node:http helpers for the OpenFGA-compatible API: bounded JSON bodies
// and OpenFGA-shaped error responses ({code, message}).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FgaCheckError } from '../model/errors.js';

export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new FgaCheckError('validation_error', `request body exceeds ${limit} bytes`, 413));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new FgaCheckError('validation_error', `request body is not valid JSON: ${(err as Error).message}`));
      }
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
      failed = true;
    });
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = status === 204 ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): FgaCheckError {
  const e = err instanceof FgaCheckError ? err : new FgaCheckError('internal_error', 'internal error');
  sendJson(res, e.httpStatus, { code: e.code, message: e.message });
  return e;
}
