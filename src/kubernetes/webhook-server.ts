// The mutating admission webhook over HTTPS. Two paths, because an
// AdmissionReview does not carry the namespace's labels: the chart registers
// one webhook for labelled namespaces (POST /inject/namespace: inject unless
// the Pod opts out) and one for the others (POST /inject/pod: only a Pod
// annotated "true"). A body that is not an AdmissionReview gets HTTP 400 and
// the server keeps serving; GET /healthz and /metrics are for the kubelet and
// Prometheus.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { MalformedReviewError, answerReview } from './admission-review.js';
import { ReloadingCertificate, type CertificateFiles } from './reloading-certificate.js';
import type { InjectorSettings } from './settings.js';
import { WebhookMetrics } from './webhook-metrics.js';

/** The API server's Pod objects are bounded by etcd (~1.5 MiB); a review holds one or two. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

const ROUTES: Readonly<Record<string, boolean>> = {
  '/inject/namespace': true,
  '/inject/pod': false,
};

export interface WebhookOptions {
  readonly host: string;
  readonly port: number;
  readonly certificate: CertificateFiles;
  readonly settings: InjectorSettings;
  readonly log: Logger;
  /** How often the certificate files are checked for a new pair. */
  readonly certPollMs?: number;
  readonly metrics?: WebhookMetrics;
}

export interface RunningWebhook {
  readonly port: number;
  readonly metrics: WebhookMetrics;
  close(): Promise<void>;
}

export async function startWebhook(opts: WebhookOptions): Promise<RunningWebhook> {
  const metrics = opts.metrics ?? new WebhookMetrics();
  const { log } = opts;
  const certificate = new ReloadingCertificate(opts.certificate, opts.certPollMs ?? 2000, {
    onReload: () => {
      metrics.certificateReloads.inc({ outcome: 'success' });
      log.info({ cert: opts.certificate.certPath }, 'webhook certificate reloaded');
    },
    onError: (err) => {
      metrics.certificateReloads.inc({ outcome: 'failure' });
      log.warn({ err: err.message }, 'webhook certificate not reloaded; the previous one keeps serving');
    },
  });
  const server: Server = createServer({ ...certificate.pair, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res, opts.settings, metrics, log).catch((err: unknown) => {
      log.error({ err: (err as Error).message }, 'webhook request failed');
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  certificate.follow(server);
  return {
    port: (server.address() as AddressInfo).port,
    metrics,
    close: () =>
      new Promise<void>((resolve) => {
        certificate.stop();
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, settings: InjectorSettings, metrics: WebhookMetrics, log: Logger): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  if (req.method === 'GET' && path === '/healthz') return send(res, 200, 'text/plain', 'ok\n');
  if (req.method === 'GET' && path === '/metrics') {
    return send(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
  }
  const namespaceOptedIn = ROUTES[path];
  if (namespaceOptedIn === undefined) return send(res, 404, 'text/plain', `no such path: ${path.slice(0, 100)}\n`);
  if (req.method !== 'POST') return send(res, 405, 'text/plain', 'AdmissionReviews are POSTed\n');

  const body = await readBody(req);
  const bad = (message: string): void => {
    metrics.count('bad_request');
    log.warn({ reason: message }, 'malformed AdmissionReview');
    send(res, 400, 'text/plain', `${message}\n`);
  };
  if (body === undefined) return bad(`request body over ${MAX_BODY_BYTES} bytes`);
  let review: unknown;
  try {
    review = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return bad(`request body is not JSON: ${(err as Error).message}`);
  }
  let answer;
  try {
    answer = answerReview(review, settings, namespaceOptedIn);
  } catch (err) {
    if (err instanceof MalformedReviewError) return bad(err.message);
    throw err;
  }
  metrics.count(answer.outcome);
  log.info({ uid: answer.review.response.uid, outcome: answer.outcome, detail: answer.detail }, 'admission review');
  send(res, 200, 'application/json', JSON.stringify(answer.review));
}

/**
 * The body, or undefined when it is larger than MAX_BODY_BYTES. An oversized
 * body is still read to its end (and dropped) so the answer reaches the client.
 */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
