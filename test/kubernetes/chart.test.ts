// The Helm chart, without Helm (not installable here): values.yaml against
// values.schema.json with a JSON-schema validator, wrong values refused, every
// `.Values.` path a template reads present in values.yaml, and each example
// of rendered output valid against Kubernetes' schemas and consistent with
// what the injector and the rule/dashboard files really are.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { parseAuditConfig } from '../../src/audit/config.js';
import { parseConfig } from '../../src/config/load.js';
import { parseInjectServeArgs } from '../../src/kubernetes/cli.js';
import { sidecarContainer } from '../../src/kubernetes/sidecar-container.js';
import { parseInjectorSettings } from '../../src/kubernetes/settings.js';
import { validateManifest } from './k8s-schemas.js';

const CHART = 'charts/authz-sidecar';
type Obj = Record<string, unknown>;
const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Obj;
const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Obj;
const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
const examples = (name: string): Obj[] =>
  parseAllDocuments(readFileSync(join(CHART, 'examples', name), 'utf8')).map((d) => d.toJS() as Obj).filter((d) => d !== null);
const find = (docs: Obj[], kind: string, name?: string): Obj =>
  docs.find((d) => d.kind === kind && (name === undefined || (d.metadata as Obj).name === name)) ?? t.fail(`no ${kind} ${name ?? ''}`) as never;

function withValue(path: string, value: unknown): Obj {
  const copy = structuredClone(values);
  const keys = path.split('.');
  let node = copy;
  for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Obj;
  node[keys[keys.length - 1]!] = value;
  return copy;
}

t.test('values.yaml passes values.schema.json', async (t) => {
  t.ok(validate(values), JSON.stringify(validate.errors));
});

t.test('wrong values fail at install', async (t) => {
  const wrong: [string, unknown][] = [
    ['injector.mode', 'sidecar'],
    ['injector.replicas', '2'],
    ['webhook.failurePolicy', 'Sometimes'],
    ['webhook.timeoutSeconds', 60],
    ['resources.requests.memory', '1 GB'],
    ['certManager.issuerRef', { kind: 'ClusterIssuer' }],
    ['defaultConfig.name', 'Not_A_Name'],
    ['injecter', { enabled: true }],
    ['config.server', 'everywhere'],
  ];
  for (const [path, value] of wrong) t.notOk(validate(withValue(path, value)), `${path}: ${JSON.stringify(value)} is refused`);
  t.ok(validate(withValue('certManager.issuerRef', { name: 'letsencrypt', kind: 'ClusterIssuer' })), 'a named issuer is fine');
});

t.test('every .Values path a template reads exists in values.yaml', async (t) => {
  const dir = join(CHART, 'templates');
  for (const file of readdirSync(dir)) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const [, path] of text.matchAll(/\.Values\.([A-Za-z0-9_.]+)/g)) {
      const found = path!.split('.').reduce<unknown>((n, k) => (n !== null && typeof n === 'object' ? (n as Obj)[k] : undefined), values);
      t.not(found, undefined, `${file}: .Values.${path}`);
    }
  }
});

t.test('every example object passes its Kubernetes schema', async (t) => {
  const files = readdirSync(join(CHART, 'examples')).filter((f) => f.endsWith('.yaml'));
  t.ok(files.length >= 6);
  for (const file of files) {
    const kinds = examples(file).map((d) => validateManifest(d));
    t.ok(kinds.length > 0, `${file}: ${kinds.join(', ')}`);
  }
});

t.test('the default install: two injector replicas, a webhook that fails closed, settings the injector accepts', async (t) => {
  const docs = examples('default-install.yaml');
  const hook = find(docs, 'MutatingWebhookConfiguration') as { webhooks: Obj[] };
  for (const w of hook.webhooks) {
    t.match(w, { failurePolicy: 'Fail', reinvocationPolicy: 'IfNeeded', sideEffects: 'None', admissionReviewVersions: ['v1'] });
    const selector = (w.namespaceSelector as { matchExpressions: { key: string; operator: string; values: string[] }[] }).matchExpressions;
    t.ok(selector.some((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn' && e.values.includes('authz-system')),
      `${String(w.name)}: the injector's own namespace is excluded`);
    t.equal(typeof (w.clientConfig as Obj).caBundle, 'string', 'caBundle filled in');
  }
  t.same(hook.webhooks.map((w) => ((w.clientConfig as Obj).service as Obj).path), ['/inject/namespace', '/inject/pod'],
    'the paths the webhook server answers');
  const secret = find(docs, 'Secret') as { data: Obj };
  t.equal((hook.webhooks[0]!.clientConfig as Obj).caBundle, secret.data['ca.crt'], 'caBundle is the CA in the serving Secret');

  const deployment = find(docs, 'Deployment', 'authz-authz-injector') as { spec: { replicas: number; template: { spec: { containers: { args: string[] }[] } } } };
  t.equal(deployment.spec.replicas, 2);
  const args = deployment.spec.template.spec.containers[0]!.args;
  t.equal(args.slice(0, 2).join(' '), 'inject serve');
  const serve = await parseInjectServeArgs(args.slice(2).map((a) => (a === '/etc/authz-injector/settings.yaml' ? join(t.testdirName, 'settings.yaml') : a)))
    .catch((err: Error) => err);
  t.match(serve, /cannot read injector settings/, 'the injector parses its args (and looks for the mounted settings file)');
  t.equal(find(docs, 'PodDisruptionBudget').kind, 'PodDisruptionBudget');

  const settingsMap = find(docs, 'ConfigMap', 'authz-authz-injector') as { data: { 'settings.yaml': string } };
  const settings = parseInjectorSettings(parse(settingsMap.data['settings.yaml']), 'example settings');
  t.match(settings, { mode: 'native', config_map: 'authz-sidecar', excluded_namespaces: ['kube-system', 'kube-public', 'kube-node-lease', 'authz-system'] });
});

t.test('the standalone Deployment listens on 0.0.0.0 explicitly', async (t) => {
  const deployment = find(examples('standalone.yaml'), 'Deployment') as { spec: { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } } };
  const env = Object.fromEntries(deployment.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]));
  t.same(env, { AUTHZ__SERVER__GRPC__HOST: '0.0.0.0', AUTHZ__SERVER__HTTP__HOST: '0.0.0.0', AUTHZ__SERVER__ADMIN__HOST: '0.0.0.0' });
});

t.test('the PrometheusRule and dashboard ConfigMap carry the shipped files', async (t) => {
  const docs = examples('monitoring.yaml');
  const rule = find(docs, 'PrometheusRule') as { spec: Obj };
  t.same(rule.spec, parse(readFileSync('config/prometheus/authz-sidecar.rules.yaml', 'utf8')));
  const dashboard = find(docs, 'ConfigMap') as { data: Record<string, string> };
  t.same(JSON.parse(dashboard.data['authz-sidecar.json']!), JSON.parse(readFileSync('config/grafana/authz-sidecar.dashboard.json', 'utf8')));
  t.equal(readFileSync(join(CHART, 'files/authz-sidecar.dashboard.json'), 'utf8'), readFileSync('config/grafana/authz-sidecar.dashboard.json', 'utf8'));
});

t.test("the chart's default config is one the sidecar accepts, and the injected env puts admin on the Pod IP", async (t) => {
  const docs = examples('default-install.yaml');
  const configMap = find(docs, 'ConfigMap', 'authz-sidecar') as { data: { 'sidecar.yaml': string } };
  const doc = parse(configMap.data['sidecar.yaml']) as Obj;
  t.same(doc, values.config, 'the example ConfigMap holds values.config');
  const settings = parseInjectorSettings(parse((find(docs, 'ConfigMap', 'authz-authz-injector') as { data: { 'settings.yaml': string } }).data['settings.yaml']), 'example');
  const container = sidecarContainer(settings, { image: 'x', configMap: 'authz-sidecar', resources: { requests: {}, limits: {} }, audit: { kind: 'emptyDir' } },
    { config: 'c', audit: 'a' }) as { env: { name: string; value: string }[] };
  const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
  const { config } = parseConfig(doc, { env });
  t.match(config.server, { admin: { host: '0.0.0.0', port: 9090 }, grpc: { port: 9191 }, http: { port: 9192 } });
  const audit = parseAuditConfig(doc.audit);
  t.ok(audit.sinks.length > 0, 'the audit section passes the audit room');
  t.match(JSON.stringify(audit), /\/var\/lib\/authz-sidecar\//, 'its directories are on the audit volume');
});
