// SIGTERM with Kafka stalled: the child ships what it can within
// drain_timeout_ms and leaves the rest in the trail; the next start ships it
// from the checkpoint. Every decision the child made ends up in Kafka.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { createAuditCapability, queryAuditDir } from '../../src/audit/index.js';
import { TestKafkaBroker } from '../support/kafka-broker/index.js';
import { deps, deliveredIds, until } from './fixtures/helpers.js';

const FIXTURE = new URL('./fixtures/emit-until-sigterm.ts', import.meta.url).pathname;

t.test('SIGTERM loses nothing: shipped to Kafka or left in the trail, then shipped on restart', async (t) => {
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

  const inTrail = new Set<string>();
  for await (const m of queryAuditDir(join(dir, 'audit'), {})) inTrail.add(m.event.decision_id as string);
  const missing = [...Array(emitted).keys()].filter((i) => !inTrail.has(`t-${i}`));
  t.same(missing, [], 'every decision is in the trail');
  const shipped = deliveredIds(broker, 'authz-audit');
  t.ok(shipped.size < emitted, `the stalled broker has ${shipped.size} of ${emitted}: the rest waits in the trail`);

  broker.stall = false;
  const restarted = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }, { kafka: { brokers: [broker.address] } }] }, deps(dir));
  await restarted.ready();
  await until(() => [...Array(emitted).keys()].every((i) => deliveredIds(broker, 'authz-audit').has(`t-${i}`)),
    'the restart ships the rest of the trail to Kafka');
  await restarted.close();
});
