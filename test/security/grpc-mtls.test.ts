// Issue 9, finding 4 (option): mTLS on the gRPC port, so only a caller with a
// client certificate from the configured CA — Envoy — can reach it and its
// jwt_authn metadata can be trusted. Real TLS: openssl-made CA and
// certificates, a real sidecar, real node:http2 TLS clients with and without
// a client certificate.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http2 from 'node:http2';
import { join } from 'node:path';
import { CheckRequestType, CheckResponseType, envoyCheckRequest, type CheckResponseObject } from '../support/grpc-client.js';
import { frame, unframe } from '../support/grpc-raw.js';
import { startTestSidecar } from '../support/sidecar.js';
import { CHECK_PATH } from '../../src/transport/grpc/server.js';

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA; plus a stranger's CA and client. */
function makePki(dir: string): void {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  for (const ca of ['ca', 'other-ca']) {
    run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', `/CN=${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.pem`);
  }
  const leaf = (name: string, ca: string, ext: string) => {
    run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
      '-keyout', `${name}.key`, '-out', `${name}.csr`);
    execFileSync('sh', ['-c', `printf '%s\\n' "${ext}" > ${name}.ext`], { cwd: dir });
    run('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
      '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
  };
  leaf('server', 'ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth');
  leaf('envoy', 'ca', 'subjectAltName=URI:spiffe://cluster.local/ns/mesh/sa/envoy\nextendedKeyUsage=clientAuth');
  leaf('stranger', 'other-ca', 'extendedKeyUsage=clientAuth');
}

/** One Check over TLS; resolves with the decoded response or the connection's error. */
function tlsCheck(port: number, dir: string, client: 'envoy' | 'stranger' | 'none'): Promise<CheckResponseObject | Error> {
  return new Promise((resolve) => {
    const file = (name: string) => readFileSync(join(dir, name));
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      ca: file('ca.pem'),
      ...(client === 'none' ? {} : { cert: file(`${client}.pem`), key: file(`${client}.key`) }),
    });
    const done = (v: CheckResponseObject | Error) => {
      session.destroy();
      resolve(v);
    };
    session.on('error', (err) => done(err));
    const req = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (err) => done(err));
    req.on('close', () => {
      if (chunks.length === 0) return done(new Error(`no response (rst ${req.rstCode})`));
      done(CheckResponseType.toObject(CheckResponseType.decode(unframe(Buffer.concat(chunks))), { enums: Number }) as CheckResponseObject);
    });
    req.end(frame(Buffer.from(CheckRequestType.encode(CheckRequestType.fromObject(envoyCheckRequest({ path: '/healthz' }))).finish())));
  });
}

t.test('gRPC mTLS: a client certificate from the configured CA is required', { skip: haveOpenssl() ? false : 'openssl is not installed' }, async (t) => {
  // Not t.testdir(): startTestSidecar takes this test's fixture dir for its config.
  const dir = mkdtempSync(join(tmpdir(), 'authz-mtls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  makePki(dir);
  const s = await startTestSidecar(t, {
    server: {
      grpc: { host: '127.0.0.1', port: 0,
        tls: { cert_file: join(dir, 'server.pem'), key_file: join(dir, 'server.key'), client_ca_file: join(dir, 'ca.pem') } },
      http: { enabled: false }, admin: { host: '127.0.0.1', port: 0 },
    },
  });
  const port = s.sidecar.ports.grpc!;

  const envoy = await tlsCheck(port, dir, 'envoy');
  t.notOk(envoy instanceof Error, `the CA's client is answered (${envoy instanceof Error ? envoy.message : 'ok'})`);
  if (!(envoy instanceof Error)) t.equal(envoy.status?.code ?? 0, 0, 'and allowed on the anonymous route');

  const none = await tlsCheck(port, dir, 'none');
  t.ok(none instanceof Error, 'a client without a certificate never gets an answer');
  const stranger = await tlsCheck(port, dir, 'stranger');
  t.ok(stranger instanceof Error, 'a certificate from another CA never gets an answer');

  const plain = await new Promise<Error | 'answered'>((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', (err) => resolve(err));
    session.on('close', () => resolve(new Error('connection closed without an answer')));
    const req = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc' });
    req.on('error', (err) => resolve(err));
    req.on('response', () => resolve('answered'));
    req.on('close', () => resolve(new Error('stream closed without an answer')));
    req.end();
  });
  t.ok(plain instanceof Error, 'plaintext HTTP/2 is not served on a TLS port');

  const again = await tlsCheck(port, dir, 'envoy');
  t.notOk(again instanceof Error, 'refused handshakes do not hurt the server');
});
