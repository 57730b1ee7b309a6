import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load.js';

t.test('defaults fill a minimal config', async (t) => {
  const { config } = parseConfig({});
  t.equal(config.server.grpc.port, 9191);
  t.equal(config.server.http.port, 9192);
  t.equal(config.server.admin.port, 9090);
  t.equal(config.server.proxy.port, 8080);
  t.equal(config.enforcement, 'deny');
  t.equal(config.identity.trusted_headers, false, 'trusted headers are off unless asked for');
});

t.test('every bad path is named in one error', async (t) => {
  let err: unknown;
  try {
    parseConfig({ deadline_ms: 0, enforcement: 'maybe', routes: [{ match: { path: 'x' } }] });
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ConfigError);
  const message = (err as Error).message;
  t.match(message, /deadline_ms/);
  t.match(message, /enforcement/);
  t.match(message, /routes\.0\.match\.path/);
  t.throws(() => parseConfig({ unknown_key: 1 }), /unknown_key|Unrecognized/);
  t.throws(() => parseConfig([1, 2]), /mapping/);
});

t.test('environment overrides with types', async (t) => {
  const { config } = parseConfig({ deadline_ms: 50 }, { env: { AUTHZ__DEADLINE_MS: '20', AUTHZ__SERVER__GRPC__PORT: '19191', AUTHZ__IDENTITY__TRUSTED_HEADERS: 'true', OTHER: 'x' } });
  t.equal(config.deadline_ms, 20);
  t.equal(config.server.grpc.port, 19191);
  t.equal(config.identity.trusted_headers, true);
});

t.test('file loading: YAML errors and missing files are ConfigErrors', async (t) => {
  const dir = t.testdir({ 'good.yaml': 'deadline_ms: 25\n', 'bad.yaml': 'routes: [\n' });
  t.equal(loadConfigFile(join(dir, 'good.yaml'), {}).config.deadline_ms, 25);
  t.equal(loadConfigFile(join(dir, 'good.yaml'), {}).baseDir, dir);
  t.throws(() => loadConfigFile(join(dir, 'bad.yaml'), {}), /invalid YAML/);
  t.throws(() => loadConfigFile(join(dir, 'missing.yaml'), {}), /cannot read/);
  writeFileSync(join(dir, 'empty.yaml'), '');
  t.equal(loadConfigFile(join(dir, 'empty.yaml'), {}).config.deadline_ms, 50, 'an empty file is the defaults');
});

t.test('the shipped default config is valid', async (t) => {
  const { config } = loadConfigFile('config/sidecar.yaml', {});
  t.ok(config.routes.length > 0);
  t.ok(config.identity.jwt);
});
