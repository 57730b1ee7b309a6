// SIGTERM with Kafka stalled: the child drains what it can within
// drain_timeout_ms and spools the rest; the next start replays the spool.
// Every decision the child made ends up in Kafka.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createAuditCapability } from '../../src/audit/index.js';
import { TestKafkaBroker } from '../support/kafka-broker/index.js';
import { deps, deliveredIds, until } from './fixtures/helpers.js';

const FIXTURE = new URL('./fixtures/emit-until-sigterm.ts', import.meta.url).pathname;

t.test('SIGTERM loses nothing: drained to Kafka or spooled, then replayed on restart', async (t) => {
  const broker = await new TestKafkaBroker().start();
  t.teardown(() => broker.stop());
  const dir = t.testdir({});
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, broker.address, dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  await until(() => out.includes('ready'), 'child ready', 30_000);
  await until(() => deliveredIds(broker, 'authz-audit').size > 100, 'events flowing to Kafka');
  broker.stall = true; // Kafka stops answering: in-flight and later sends cannot complete
  const stalledAt = broker.records.length;
  await until(() => broker.records.length > stalledAt || out.includes('emitted'), 'a batch in flight to the stalled broker');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'clean exit after SIGTERM');
  const emitted = Number(/emitted (\d+)/.exec(out)?.[1]);
  t.ok(emitted > 100, `child emitted ${emitted}`);

  const spoolDir = join(dir, 'spool');
  const spooled = readdirSync(spoolDir).filter((f) => f.startsWith('segment-'))
    .flatMap((f) => readFileSync(join(spoolDir, f), 'utf8').trim().split('\n'))
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { decision_id: string }).decision_id);
  t.ok(spooled.length > 0, 'the undrained rest was spooled');
  const onDisk = new Set([...deliveredIds(broker, 'authz-audit'), ...spooled]);
  const missing = [...Array(emitted).keys()].filter((i) => !onDisk.has(`t-${i}`));
  t.same(missing, [], 'every decision is in Kafka or in the spool');

  broker.stall = false;
  const restarted = createAuditCapability({ sinks: [{ kafka: { brokers: [broker.address] } }], spool: { dir: 'spool' } }, deps(dir));
  await restarted.ready();
  await until(() => [...Array(emitted).keys()].every((i) => deliveredIds(broker, 'authz-audit').has(`t-${i}`)),
    'the restart replays the spool into Kafka');
  await restarted.close();
  t.same(readdirSync(spoolDir).filter((f) => f.startsWith('segment-')), [], 'spool empty after replay');
});
