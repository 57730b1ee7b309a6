// AdmissionReviews shaped as the API server sends them (admission.k8s.io/v1,
// with requestKind, userInfo, options and oldObject), certificates made with
// openssl, an HTTPS client that opens a fresh connection per request (so a
// reloaded certificate is seen), and validation against Kubernetes' schemas.
import { execFileSync } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import fastJsonPatch from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1';
import type { IPod } from 'kubernetes-models/v1';

export interface ReviewOptions {
  namespace?: string;
  operation?: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  dryRun?: boolean;
  kind?: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
}

export function podReview(object: unknown, opts: ReviewOptions = {}): Record<string, unknown> {
  const kind = opts.kind ?? { group: '', version: 'v1', kind: 'Pod' };
  const resource = opts.resource ?? { group: '', version: 'v1', resource: 'pods' };
  const operation = opts.operation ?? 'CREATE';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind,
      resource,
      ...(opts.subResource !== undefined ? { subResource: opts.subResource } : {}),
      requestKind: kind,
      requestResource: resource,
      // A Pod created by a ReplicaSet has generateName and no name yet.
      name: '',
      namespace: opts.namespace ?? 'shop',
      operation,
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: randomUUID(), groups: ['system:serviceaccounts', 'system:authenticated'] },
      object,
      oldObject: operation === 'UPDATE' ? object : null,
      dryRun: opts.dryRun ?? false,
      options: { kind: operation === 'UPDATE' ? 'UpdateOptions' : 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

/** A Pod as a ReplicaSet controller creates it (defaults filled in by the API server before mutation). */
export function appPod(extra: { annotations?: Record<string, string>; spec?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'web-5d9c7b8f4-',
      namespace: 'shop',
      labels: { app: 'web', 'pod-template-hash': '5d9c7b8f4' },
      ...(extra.annotations !== undefined ? { annotations: extra.annotations } : {}),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9c7b8f4', uid: randomUUID(), controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      containers: [{
        name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 8080, protocol: 'TCP' }],
        resources: {}, terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent',
      }],
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      securityContext: {},
      schedulerName: 'default-scheduler',
      ...extra.spec,
    },
  };
}

export interface ReviewResponse {
  uid: string;
  allowed: boolean;
  patchType?: string;
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string };
}

export interface HttpsAnswer {
  status: number;
  body: string;
  fingerprint: string;
}

/** POST (or GET) over a new TLS connection, trusting only `ca`. */
export function httpsCall(port: number, path: string, ca: string | Buffer, body?: string | Buffer): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', servername: 'localhost', port, path, method: body === undefined ? 'GET' : 'POST', ca, agent: false,
        headers: body === undefined ? {} : { 'content-type': 'application/json' } },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), fingerprint }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function review(port: number, path: string, ca: string | Buffer, doc: Record<string, unknown>): Promise<ReviewResponse> {
  const answer = await httpsCall(port, path, ca, JSON.stringify(doc));
  if (answer.status !== 200) throw new Error(`webhook answered ${answer.status}: ${answer.body}`);
  const parsed = JSON.parse(answer.body) as { apiVersion: string; kind: string; response: ReviewResponse };
  if (parsed.apiVersion !== 'admission.k8s.io/v1' || parsed.kind !== 'AdmissionReview') throw new Error(`not an AdmissionReview: ${answer.body}`);
  return parsed.response;
}

/** The object the API server would store: the JSONPatch applied by an RFC 6902 library. */
export function applyReviewPatch<T>(object: T, response: ReviewResponse): T {
  if (response.patch === undefined) return object;
  if (response.patchType !== 'JSONPatch') throw new Error(`patchType ${response.patchType}`);
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as fastJsonPatch.Operation[];
  const error = fastJsonPatch.validate(ops, object);
  if (error !== undefined) throw error;
  return fastJsonPatch.applyPatch(object, ops, true, false).newDocument;
}

/** Validates with Kubernetes' OpenAPI schemas (kubernetes-models); throws naming the field. */
export function validPod(object: unknown): IPod {
  const pod = new Pod(object as IPod);
  pod.validate();
  return pod;
}

export interface KeyPairFiles {
  certPath: string;
  keyPath: string;
  certPem: string;
  fingerprint: string;
}

/** A self-signed serving certificate for localhost / 127.0.0.1. */
export function makeCertificate(dir: string, name: string): KeyPairFiles {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyPath, '-out', certPath], { stdio: 'pipe' });
  const certPem = readFileSync(certPath, 'utf8');
  return { certPath, keyPath, certPem, fingerprint: new X509Certificate(certPem).fingerprint256 };
}

export function copyPair(from: KeyPairFiles, to: { certPath: string; keyPath: string }): void {
  writeFileSync(to.keyPath, readFileSync(from.keyPath));
  writeFileSync(to.certPath, from.certPem);
}
