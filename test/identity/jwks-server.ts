// A real HTTP JWKS endpoint on loopback that counts its fetches and can be
// told to change keys, fail, or hang.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import type { JSONWebKeySet } from 'jose';

export interface JwksServer {
  readonly url: string;
  /** GETs served so far. */
  fetches: number;
  jwks: JSONWebKeySet;
  mode: 'ok' | 'error500' | 'garbage' | 'hang';
}

export async function startJwksServer(t: Test, jwks: JSONWebKeySet): Promise<JwksServer> {
  const state: Omit<JwksServer, 'url'> & { url?: string } = { fetches: 0, jwks, mode: 'ok' };
  const server: Server = createServer((req, res) => {
    state.fetches++;
    if (state.mode === 'hang') return; // never answers; the client's timeout must end it
    if (state.mode === 'error500') {
      res.writeHead(500).end('boom');
      return;
    }
    const body = state.mode === 'garbage' ? '{"keys": [' : JSON.stringify(state.jwks);
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}/.well-known/jwks.json`;
  return state as JwksServer;
}

/** A loopback URL nothing listens on. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/jwks.json`;
}
