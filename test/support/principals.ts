// Builders for the contract types, so tests read as the situation they set up.
import type { AuthzRequest, Principal, ResourceRef } from '../../src/decision/types.js';

export function principal(p: Partial<Principal> = {}): Principal {
  return { id: 'alice', kind: 'user', tenant: 'acme', roles: ['viewer'], claims: {}, source: 'jwt', ...p };
}

export function resource(r: Partial<ResourceRef> = {}): ResourceRef {
  return { type: 'project', id: 'p1', tenant: 'acme', ...r };
}

export function authzRequest(r: Partial<AuthzRequest> = {}): AuthzRequest {
  const noPeer = { address: undefined, port: undefined, principal: undefined, labels: {} };
  return {
    requestId: 'req-1', method: 'GET', path: '/', rawPath: '/', query: {}, host: 'api.example', scheme: 'https',
    protocol: 'HTTP/1.1', headers: {}, headerList: [], source: noPeer, destination: noPeer,
    contextExtensions: {}, filterMetadata: {}, transport: 'cli', ...r,
  };
}
