// Listening and graceful closing for the node:http servers (HTTP ext_authz,
// proxy, admin). Envoy keeps connections alive, so a plain server.close()
// would wait for its keep-alive timeout: in-flight requests get `graceMs` to
// finish, then every remaining connection is closed.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  readonly port: number;
  close(): Promise<void>;
}

export async function listen(server: Server, host: string, port: number, graceMs = 2000): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
