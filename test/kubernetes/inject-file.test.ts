// `authz-sidecar inject --file`, run as the real command: multi-document YAML
// in, the same documents out with the sidecar in every workload's Pod
// template, each document valid against Kubernetes' schemas.
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { InjectArgsError, injectFileCommand } from '../../src/kubernetes/cli.js';
import { validateManifest } from './k8s-schemas.js';
import { distChildEnv } from '../support/dist-child-env.js';

const run = promisify(execFile);
const EXAMPLES = 'charts/authz-sidecar/examples';
const INPUT = join(EXAMPLES, 'workloads.yaml');

interface Result { code: number; stdout: string; stderr: string }

/** The real command, as a user runs it (bin/authz-sidecar.js, built to dist/). */
async function injectProcess(...args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/authz-sidecar.js', 'inject', ...args], { env: distChildEnv() });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The same command's function in this process (no Node start-up per case); bad usage is exit 2, as the CLI maps it. */
async function inject(...args: string[]): Promise<Result> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (to: string[]) => new Writable({ write(chunk: Buffer, _enc, done) { to.push(chunk.toString('utf8')); done(); } });
  try {
    const code = await injectFileCommand(args, { stdout: sink(out), stderr: sink(err) });
    return { code, stdout: out.join(''), stderr: err.join('') };
  } catch (e) {
    if (e instanceof InjectArgsError) return { code: 2, stdout: out.join(''), stderr: `${err.join('')}${e.message}\n` };
    throw e;
  }
}

/** The example input injected once, shared by the tests that only read it. */
let injectedExample: Promise<Result> | undefined;
const injectExample = (): Promise<Result> => (injectedExample ??= injectProcess('--file', INPUT));

type Obj = Record<string, unknown>;
const docs = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJS() as Obj);

function podSpecOf(doc: Obj): Obj {
  const at = (o: unknown, ...keys: string[]): Obj => keys.reduce((n, k) => (n as Obj)[k], o) as Obj;
  switch (doc.kind) {
    case 'Pod': return at(doc, 'spec');
    case 'CronJob': return at(doc, 'spec', 'jobTemplate', 'spec', 'template', 'spec');
    default: return at(doc, 'spec', 'template', 'spec');
  }
}
const sidecarIn = (spec: Obj) => [...((spec.initContainers ?? []) as Obj[]), ...(spec.containers as Obj[])].find((c) => c.name === 'authz-sidecar');

t.test('every workload kind gets the sidecar, every document stays valid, the rest is untouched', async (t) => {
  const res = await injectExample();
  t.equal(res.code, 0, res.stderr);
  const before = docs(readFileSync(INPUT, 'utf8'));
  const after = docs(res.stdout);
  t.equal(after.length, before.length, 'one document out for each in');
  t.same(after.map((d) => validateManifest(d)), before.map((d) => `${String(d.apiVersion)}/${String(d.kind)}`),
    'each output document passes its Kubernetes schema');
  const injected = after.filter((d) => d.kind !== 'Service' && sidecarIn(podSpecOf(d)) !== undefined).map((d) => d.kind);
  t.same(injected, ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'], 'Deployments, StatefulSets, DaemonSets, Jobs and CronJobs');
  t.same(after[1], before[1], 'the Service is passed through');
  t.same(after[6], before[6], 'the opted-out Pod is unchanged');
  t.match(res.stdout, /# The audit trail on each replica's own claim \(from volumeClaimTemplates\), kept across restarts\./, 'comments survive');
  t.match(res.stderr, /Pod\/debug-shell: unchanged \(opted out/);

  const native = sidecarIn(podSpecOf(after[0]!))!;
  t.equal(native.restartPolicy, 'Always');
  const ledger = podSpecOf(after[2]!);
  t.same((ledger.volumes as Obj[]).map((v) => v.name), ['authz-sidecar-config'], 'no audit volume added: the claim template is the volume');
  t.match(sidecarIn(ledger)!.volumeMounts, [{ name: 'authz-sidecar-config' }, { name: 'audit', mountPath: '/var/lib/authz-sidecar' }]);
  t.same(sidecarIn(podSpecOf(after[3]!))!.resources, { requests: { cpu: '20m', memory: '96Mi' }, limits: { memory: '128Mi' } });
  t.equal(podSpecOf(after[3]!).terminationGracePeriodSeconds, 15, "the DaemonSet's 5 s plus the 10 s drain");
  t.same((podSpecOf(after[5]!).volumes as Obj[])[0], { name: 'authz-sidecar-config', configMap: { name: 'exports-authz' } });

  t.equal(res.stdout, readFileSync(join(EXAMPLES, 'workloads.injected.yaml'), 'utf8'),
    'examples/workloads.injected.yaml is what the command prints today');
});

t.test('injecting the output again changes nothing (GitOps output can be re-run, and the webhook skips it)', async (t) => {
  const dir = t.testdir({});
  const once = await injectExample();
  const file = join(dir, 'once.yaml');
  writeFileSync(file, once.stdout);
  const twice = await inject('--file', file);
  t.equal(twice.code, 0);
  t.equal(twice.stdout, once.stdout);
  t.match(twice.stderr, /Deployment\/orders: unchanged \(the Pod already has a container named authz-sidecar\)/);
});

t.test('--config-map and --mode container', async (t) => {
  const res = await inject('--file', INPUT, '--config-map', 'shop-authz', '--mode', 'container');
  t.equal(res.code, 0, res.stderr);
  const deployment = docs(res.stdout)[0]!;
  validateManifest(deployment);
  const spec = podSpecOf(deployment);
  t.same((spec.containers as Obj[]).map((c) => c.name), ['orders', 'authz-sidecar'], 'a plain container');
  t.same((spec.volumes as Obj[])[0], { name: 'authz-sidecar-config', configMap: { name: 'shop-authz' } });
  t.match(res.stderr, /Job\/reindex: a plain sidecar container keeps this run-to-completion Pod running/, 'the Job is warned about');
});

t.test('empty (null) maps and lists in a Pod template are filled in, not tripped over', async (t) => {
  const dir = t.testdir({
    'nulls.yaml': [
      'apiVersion: batch/v1', 'kind: Job', 'metadata: { name: nulls }', 'spec:', '  template:', '    metadata:', '      annotations:',
      '    spec:', '      initContainers:', '      volumes:', '      restartPolicy: Never', '      containers: [{ name: a, image: b }]', '',
    ].join('\n'),
  });
  const res = await inject('--file', join(dir, 'nulls.yaml'));
  t.equal(res.code, 0, res.stderr);
  const job = docs(res.stdout)[0]!;
  validateManifest(job);
  const spec = podSpecOf(job);
  t.same((spec.initContainers as Obj[]).map((c) => c.name), ['authz-sidecar']);
  t.same((spec.volumes as Obj[]).map((v) => v.name), ['authz-sidecar-config', 'authz-sidecar-audit']);
});

t.test('bad input: a clear message naming the document, exit 2', async (t) => {
  const dir = t.testdir({
    'bad-annotation.yaml': 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: { authz-sidecar.io/cpu-limit: "a lot" }\nspec:\n  containers: [{ name: a, image: b }]\n',
    'no-template.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\nspec: { replicas: 1 }\n',
    'not-yaml.yaml': 'a: [1, 2\n',
  });
  const bad = await inject('--file', join(dir, 'bad-annotation.yaml'));
  t.equal(bad.code, 2);
  t.match(bad.stderr, /Pod\/p: authz-sidecar injection refused: authz-sidecar\.io\/cpu-limit: "a lot" is not valid/);
  t.equal(bad.stdout, '', 'nothing half-injected on stdout');
  const noTemplate = await inject('--file', join(dir, 'no-template.yaml'));
  t.match([noTemplate.code, noTemplate.stderr], [2, /Deployment\/d: its Pod template is not an object/]);
  const notYaml = await inject('--file', join(dir, 'not-yaml.yaml'));
  t.match([notYaml.code, notYaml.stderr], [2, /document 1:/]);
  const missing = await inject('--file', join(dir, 'nope.yaml'));
  t.match([missing.code, missing.stderr], [2, /cannot read/]);
  const usage = await injectProcess('--config-map', 'x');
  t.match([usage.code, usage.stderr], [2, /--file is required/], 'the real command exits 2 with the message');
});
