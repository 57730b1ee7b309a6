// No answered decision is ever missing (issue 11): `serve` as a real process
// under load over HTTP ext_authz, SIGKILLed at random points for several
// rounds and restarted. Every decision id a client received must be in the
// trail and in what the test broker (real kafkajs over the Kafka wire
// protocol) holds. Needs `npm run build` (it runs dist/).
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { verifyAuditDir } from '../../src/audit/index.js';
import { killRounds, Load, missingEverywhere, setup, trailIds } from '../support/serve-crash-harness.js';

t.test('SIGKILL under load at random points, several rounds: no answered decision missing from the trail or Kafka', async (t) => {
  const { dir, token, broker, start } = await setup(t);
  const load = new Load(token, 16, 0);
  load.start();
  const last = await killRounds(t, load, start, 3, 150);
  await load.stop();
  t.comment(`${load.received.size} decisions answered over 4 lifetimes`);
  await missingEverywhere(t, dir, broker, load);
  const ready = await request(`http://127.0.0.1:${last.ports.admin}/readyz`);
  t.match(await ready.body.json(), { status: 'ready', checks: { audit: true, audit_trail_writable: true, audit_chain_intact: true } },
    'SIGKILLs are not chain breaks');
  t.equal(await last.kill('SIGTERM'), 0, 'the last run stops cleanly');
  const verified = await verifyAuditDir(join(dir, 'audit'));
  t.equal(verified.problem, undefined, 'audit verify: the chain holds across every kill');
  t.equal(verified.events, (await trailIds(join(dir, 'audit'))).size, 'one line per decision, none twice');
});

