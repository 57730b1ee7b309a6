// The injector as the API server meets it: AdmissionReviews over real HTTPS,
// the returned JSONPatch applied with an RFC 6902 library, and every patched
// Pod validated against Kubernetes' own schemas.
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/observability/logger.js';
import { parseInjectorSettings, type InjectorSettings } from '../../src/kubernetes/settings.js';
import { startWebhook, type RunningWebhook } from '../../src/kubernetes/webhook-server.js';
import { WebhookMetrics } from '../../src/kubernetes/webhook-metrics.js';
import {
  appPod, applyReviewPatch, copyPair, httpsCall, makeCertificate, podReview, review, validPod,
  type KeyPairFiles, type ReviewResponse,
} from './fixtures.js';

interface Container {
  name: string;
  image?: string;
  restartPolicy?: string;
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
}
interface Volume { name: string; configMap?: { name: string }; emptyDir?: { sizeLimit?: string }; persistentVolumeClaim?: { claimName: string } }
interface PatchedPod {
  metadata: { annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: { containers: Container[]; initContainers?: Container[]; volumes?: Volume[]; terminationGracePeriodSeconds?: number };
}

async function startInjector(t: Test, settings: Partial<Record<keyof InjectorSettings, unknown>> = {}) {
  const dir = t.testdir({});
  const pair = makeCertificate(dir, 'serving');
  const metrics = new WebhookMetrics(false);
  const hook: RunningWebhook = await startWebhook({
    host: '127.0.0.1', port: 0, certificate: pair, settings: parseInjectorSettings(settings, 'test'),
    log: createLogger('silent'), certPollMs: 50, metrics,
  });
  t.teardown(() => hook.close());
  const call = (path: string, doc: Record<string, unknown>): Promise<ReviewResponse> => review(hook.port, path, pair.certPem, doc);
  return { hook, pair, dir, metrics, call };
}

const NS = '/inject/namespace';
const POD = '/inject/pod';

function sidecarOf(pod: PatchedPod): Container | undefined {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === 'authz-sidecar');
}

t.test('a Pod in a labelled namespace gets a native sidecar that passes the Pod schema', async (t) => {
  const { call } = await startInjector(t);
  const pod = appPod();
  const res = await call(NS, podReview(pod));
  t.equal(res.allowed, true);
  t.equal(res.patchType, 'JSONPatch');
  const patched = validPod(applyReviewPatch(pod, res)) as unknown as PatchedPod;
  t.equal(patched.spec.containers.length, 1, 'the app container list is untouched');
  t.equal(patched.spec.initContainers?.length, 1);
  const sidecar = patched.spec.initContainers![0]!;
  t.equal(sidecar.name, 'authz-sidecar');
  t.equal(sidecar.restartPolicy, 'Always', 'native sidecar: an init container that keeps running');
  t.same(sidecar.ports?.map((p) => [p.name, p.containerPort]), [['authz-grpc', 9191], ['authz-http', 9192], ['authz-admin', 9090]]);
  t.equal(sidecar.startupProbe?.httpGet?.path, '/healthz');
  t.equal(sidecar.readinessProbe?.httpGet?.path, '/readyz');
  t.equal(sidecar.livenessProbe?.httpGet?.path, '/healthz');
  t.same(sidecar.env?.find((e) => e.name === 'AUTHZ__SERVER__ADMIN__HOST')?.value, '0.0.0.0',
    'the admin port listens on the Pod IP so the kubelet can probe it');
  t.match(sidecar.securityContext, {
    runAsNonRoot: true, runAsUser: 1000, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
  });
  t.same(sidecar.resources, { requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '256Mi' } });
  t.same(patched.spec.volumes, [
    { name: 'authz-sidecar-config', configMap: { name: 'authz-sidecar' } },
    { name: 'authz-sidecar-audit', emptyDir: {} },
  ], 'volumes created although the Pod had none');
  t.same(sidecar.volumeMounts?.map((m) => [m.name, m.mountPath]), [['authz-sidecar-config', '/etc/authz-sidecar'], ['authz-sidecar-audit', '/var/lib/authz-sidecar']]);
  t.equal(patched.spec.terminationGracePeriodSeconds, 40, 'default 30 s for the app plus 10 s for the audit drain');
  t.match(JSON.parse(patched.metadata.annotations?.['authz-sidecar.io/status'] ?? '{}'), { container: 'authz-sidecar', mode: 'native' });
  t.same(patched.metadata.labels, { app: 'web', 'pod-template-hash': '5d9c7b8f4', 'authz-sidecar.io/injected': 'true' },
    'labelled for the PodMonitor, its own labels kept');
  t.equal(res.warnings, undefined, 'nothing to warn about');
});

t.test('opt-in by annotation, opt-out by annotation, and no opt-in at all', async (t) => {
  const { call } = await startInjector(t);
  const annotated = appPod({ annotations: { 'authz-sidecar.io/inject': 'true' } });
  const inAnyNamespace = await call(POD, podReview(annotated));
  t.ok(sidecarOf(validPod(applyReviewPatch(annotated, inAnyNamespace)) as unknown as PatchedPod), 'annotated Pod injected in an unlabelled namespace');

  const plain = appPod();
  const notAsked = await call(POD, podReview(plain));
  t.same([notAsked.allowed, notAsked.patch], [true, undefined], 'no label, no annotation: allowed untouched');

  const optedOut = appPod({ annotations: { 'authz-sidecar.io/inject': 'false' } });
  const out = await call(NS, podReview(optedOut));
  t.same([out.allowed, out.patch], [true, undefined], '"false" opts out even in a labelled namespace');
});

t.test('reinvocation is idempotent, and a hand-added sidecar is left alone', async (t) => {
  const { call } = await startInjector(t);
  const pod = appPod();
  const once = applyReviewPatch(pod, await call(NS, podReview(pod)));
  const again = await call(NS, podReview(once));
  t.same([again.allowed, again.patch], [true, undefined], 'a Pod that already has the sidecar gets no patch');

  const pasted = appPod({ spec: { containers: [{ name: 'web', image: 'nginx' }, { name: 'authz-sidecar', image: 'authz-sidecar:0.0.9' }] } });
  const res = await call(NS, podReview(pasted));
  t.equal(res.patch, undefined, 'a container named authz-sidecar means the Pod has one: no second one to fight over the ports');
});

t.test('existing arrays are appended to, and colliding volume names are avoided', async (t) => {
  const { call } = await startInjector(t);
  const pod = appPod({
    spec: {
      terminationGracePeriodSeconds: 60,
      initContainers: [{ name: 'migrate', image: 'busybox' }],
      volumes: [{ name: 'authz-sidecar-config', emptyDir: {} }, { name: 'authz-sidecar-audit', secret: { secretName: 'mine' } }, { name: 'data', emptyDir: {} }],
    },
  });
  const patched = validPod(applyReviewPatch(pod, await call(NS, podReview(pod)))) as unknown as PatchedPod;
  t.same(patched.spec.initContainers?.map((c) => c.name), ['migrate', 'authz-sidecar'], 'ours last: earlier init containers and sidecars start first');
  t.same(patched.spec.volumes?.map((v) => v.name), ['authz-sidecar-config', 'authz-sidecar-audit', 'data', 'authz-sidecar-config-2', 'authz-sidecar-audit-2']);
  t.same(patched.spec.volumes?.[0], { name: 'authz-sidecar-config', emptyDir: {} }, "the Pod's own volume is untouched");
  t.same(sidecarOf(patched)?.volumeMounts?.map((m) => m.name), ['authz-sidecar-config-2', 'authz-sidecar-audit-2']);
  t.equal(patched.spec.terminationGracePeriodSeconds, 70, "the Pod's own grace period plus the drain");
});

t.test('non-Pod objects, other operations, subresources and excluded namespaces pass untouched', async (t) => {
  const { call } = await startInjector(t, { excluded_namespaces: ['kube-system', 'authz-system'] });
  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' }, spec: {} };
  const cases: [string, Record<string, unknown>][] = [
    ['a Deployment', podReview(deployment, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } })],
    ['a Pod UPDATE', podReview(appPod(), { operation: 'UPDATE' })],
    ['pods/binding', podReview({ apiVersion: 'v1', kind: 'Binding', target: { kind: 'Node', name: 'n1' } }, { subResource: 'binding', kind: { group: '', version: 'v1', kind: 'Binding' } })],
    ['a Pod in kube-system', podReview(appPod(), { namespace: 'kube-system' })],
    ["a Pod in the injector's namespace", podReview(appPod({ annotations: { 'authz-sidecar.io/inject': 'true' } }), { namespace: 'authz-system' })],
  ];
  for (const [what, doc] of cases) {
    const res = await call(NS, doc);
    t.same([res.allowed, res.patch, res.uid], [true, undefined, (doc.request as { uid: string }).uid], `${what}: allowed with no patch`);
  }
});

t.test('a dry run gets the same answer as the real request', async (t) => {
  const { call } = await startInjector(t);
  const pod = appPod();
  const real = await call(NS, podReview(pod));
  const dry = await call(NS, podReview(pod, { dryRun: true }));
  t.ok(real.patch);
  t.equal(dry.patch, real.patch);
});

t.test('plain container mode for older clusters', async (t) => {
  const { call } = await startInjector(t, { mode: 'container' });
  const pod = appPod();
  const patched = validPod(applyReviewPatch(pod, await call(NS, podReview(pod)))) as unknown as PatchedPod;
  t.same(patched.spec.containers.map((c) => c.name), ['web', 'authz-sidecar']);
  t.equal(patched.spec.initContainers, undefined);
  t.equal(patched.spec.containers[1]!.restartPolicy, undefined, 'a plain container has no restartPolicy of its own');
  t.equal(patched.spec.terminationGracePeriodSeconds, 30, 'all containers stop together: the 30 s default already covers a 10 s drain');

  const job = appPod({ spec: { restartPolicy: 'Never' } });
  const res = await call(NS, podReview(job));
  t.match(res.warnings, [/keeps this run-to-completion Pod running/]);
});

t.test('annotations override image, resources, config map and audit volume; unknown ones warn; bad values refuse', async (t) => {
  const { call } = await startInjector(t);
  const pod = appPod({
    annotations: {
      'authz-sidecar.io/image': 'registry.example/authz-sidecar:0.2.0',
      'authz-sidecar.io/config': 'orders-authz',
      'authz-sidecar.io/cpu-request': '50m',
      'authz-sidecar.io/memory-limit': '512Mi',
      'authz-sidecar.io/audit-size': '2Gi',
      'authz-sidecar.io/colour': 'blue',
    },
  });
  const res = await call(NS, podReview(pod));
  const patched = validPod(applyReviewPatch(pod, res)) as unknown as PatchedPod;
  const sidecar = sidecarOf(patched)!;
  t.equal(sidecar.image, 'registry.example/authz-sidecar:0.2.0');
  t.same(sidecar.resources, { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } });
  t.same(patched.spec.volumes, [
    { name: 'authz-sidecar-config', configMap: { name: 'orders-authz' } },
    { name: 'authz-sidecar-audit', emptyDir: { sizeLimit: '2Gi' } },
  ]);
  t.same(res.warnings, ['authz-sidecar.io/colour: unknown authz-sidecar annotation, ignored'], 'a Kubernetes warning for the unknown annotation');

  const claimed = appPod({ annotations: { 'authz-sidecar.io/audit-claim': 'audit-web' } });
  const withClaim = validPod(applyReviewPatch(claimed, await call(NS, podReview(claimed)))) as unknown as PatchedPod;
  t.same(withClaim.spec.volumes?.[1], { name: 'authz-sidecar-audit', persistentVolumeClaim: { claimName: 'audit-web' } });

  // A StatefulSet Pod as its controller creates it: the claim template's volume is already in the spec.
  const stateful = appPod({
    annotations: { 'authz-sidecar.io/audit-volume': 'audit' },
    spec: { volumes: [{ name: 'audit', persistentVolumeClaim: { claimName: 'audit-ledger-0' } }] },
  });
  const onOwn = validPod(applyReviewPatch(stateful, await call(NS, podReview(stateful)))) as unknown as PatchedPod;
  t.same(onOwn.spec.volumes?.map((v) => v.name), ['audit', 'authz-sidecar-config'], "the Pod's own volume, no second audit volume");
  t.same(sidecarOf(onOwn)?.volumeMounts?.map((m) => [m.name, m.mountPath]), [['authz-sidecar-config', '/etc/authz-sidecar'], ['audit', '/var/lib/authz-sidecar']]);
  const noSuchVolume = await call(NS, podReview(appPod({ annotations: { 'authz-sidecar.io/audit-volume': 'audit' } })));
  t.match([noSuchVolume.allowed, noSuchVolume.status?.message], [false, /audit-volume: the Pod has no volume named audit/]);
  const both = await call(NS, podReview(appPod({ annotations: { 'authz-sidecar.io/audit-volume': 'audit', 'authz-sidecar.io/audit-claim': 'c' } })));
  t.match([both.allowed, both.status?.message], [false, /both name the audit volume/]);

  const bad = appPod({ annotations: { 'authz-sidecar.io/memory-limit': 'lots', 'authz-sidecar.io/config': 'Not_A_Name' } });
  const refused = await call(NS, podReview(bad));
  t.equal(refused.allowed, false);
  t.equal(refused.patch, undefined);
  t.match(refused.status, { code: 400, message: /authz-sidecar\.io\/config: "Not_A_Name" is not valid.*authz-sidecar\.io\/memory-limit: "lots" is not valid/ });
});

t.test('a malformed AdmissionReview gets HTTP 400 with a clear message, and the webhook keeps serving', async (t) => {
  const { hook, pair, call, metrics } = await startInjector(t);
  const post = (body: string) => httpsCall(hook.port, NS, pair.certPem, body);
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"apiVersion": ', /not JSON/],
    ['an array', '[]', /not an admission\.k8s\.io\/v1 AdmissionReview request/],
    ['v1beta1', JSON.stringify({ ...podReview(appPod()), apiVersion: 'admission.k8s.io/v1beta1' }), /apiVersion/],
    ['no uid', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { group: '', version: 'v1', kind: 'Pod' } } }), /request\.uid/],
    ['a Pod without spec', JSON.stringify(podReview({ metadata: {} })), /request\.object is not a Pod: it has no spec/],
    ['containers not a list', JSON.stringify(podReview({ metadata: {}, spec: { containers: 'web' } })), /spec\.containers is not a list/],
    ['a null container', JSON.stringify(podReview({ metadata: {}, spec: { containers: [null] } })), /spec\.containers has an entry that is not an object/],
  ];
  for (const [what, body, message] of cases) {
    const res = await post(body);
    t.equal(res.status, 400, `${what}: HTTP 400`);
    t.match(res.body, message, `${what}: says what is wrong`);
  }
  const big = await post(JSON.stringify({ padding: 'x'.repeat(5 * 1024 * 1024) }));
  t.same([big.status, /over \d+ bytes/.test(big.body)], [400, true], 'an oversized body is refused, not buffered');
  const get = await httpsCall(hook.port, NS, pair.certPem);
  t.equal(get.status, 405);
  t.equal((await httpsCall(hook.port, '/nope', pair.certPem, '{}')).status, 404);

  const pod = appPod();
  t.ok((await call(NS, podReview(pod))).patch, 'still answers a good review after the bad ones');
  const text = await metrics.registry.metrics();
  t.match(text, /authz_injector_reviews_total\{outcome="bad_request"\} 8/);
  t.match(text, /authz_injector_reviews_total\{outcome="injected"\} 1/);
  const health = await httpsCall(hook.port, '/healthz', pair.certPem);
  t.equal(health.status, 200);
});

t.test('the serving certificate is reloaded when its files change', async (t) => {
  const { hook, pair, dir, metrics } = await startInjector(t);
  const next: KeyPairFiles = makeCertificate(dir, 'rotated');
  const first = await httpsCall(hook.port, '/healthz', pair.certPem);
  t.equal(first.fingerprint, pair.fingerprint);

  // cert-manager rotates: both files get the new pair.
  copyPair(next, pair);
  const rotated = await poll(async () => (await httpsCall(hook.port, '/healthz', next.certPem).catch(() => undefined))?.fingerprint === next.fingerprint);
  t.ok(rotated, 'new connections see the new certificate, trusted by its own CA');

  // Half a rotation (new cert, old key) does not load: the last good pair keeps serving.
  const third = makeCertificate(dir, 'third');
  copyPair({ ...third, keyPath: next.keyPath }, pair);
  const failed = await poll(async () => /authz_injector_certificate_reloads_total\{outcome="failure"\} [1-9]/.test(await metrics.registry.metrics()));
  t.ok(failed, 'the mismatched pair is counted as a failed reload');
  const still = await httpsCall(hook.port, '/healthz', next.certPem);
  t.same([still.status, still.fingerprint], [200, next.fingerprint], 'still serving with the last good certificate');
});

async function poll(cond: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await cond()) return true;
    await sleep(50);
  }
  return false;
}

t.test('`authz-sidecar inject serve` as a process: settings file, a review over HTTPS, SIGTERM stops it', async (t) => {
  const dir = t.testdir({ 'settings.yaml': 'mode: container\nimage: registry.example/authz-sidecar:9.9.9\n' });
  const pair = makeCertificate(dir, 'serving');
  const proc = spawn(process.execPath, ['bin/authz-sidecar.js', 'inject', 'serve', '--tls-cert', pair.certPath, '--tls-key', pair.keyPath,
    '--port', '0', '--host', '127.0.0.1', '--settings', `${dir}/settings.yaml`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  const [line] = (await once(createInterface({ input: proc.stdout }), 'line')) as [string];
  const port = Number(new URL((JSON.parse(line) as { injector: string }).injector).port);
  const pod = appPod();
  const patched = validPod(applyReviewPatch(pod, await review(port, NS, pair.certPem, podReview(pod)))) as unknown as PatchedPod;
  t.same(patched.spec.containers.map((c) => [c.name, c.image ?? '']), [['web', 'nginx:1.27'], ['authz-sidecar', 'registry.example/authz-sidecar:9.9.9']],
    'the settings file chose a plain container and the image');
  proc.kill('SIGTERM');
  t.equal(await exited, 0, 'exits 0 on SIGTERM');

  const bad = spawnSync(process.execPath, ['bin/authz-sidecar.js', 'inject', 'serve', '--tls-cert', pair.certPath], { encoding: 'utf8' });
  t.equal(bad.status, 2);
  t.match(bad.stderr, /--tls-cert and --tls-key are required/);
  const wrongKey = spawnSync(process.execPath, ['bin/authz-sidecar.js', 'inject', 'serve', '--tls-cert', pair.certPath, '--tls-key', pair.certPath, '--port', '0'], { encoding: 'utf8' });
  t.match([wrongKey.status, wrongKey.stderr], [2, /do not make a usable certificate and key/]);
});
