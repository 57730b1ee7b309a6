// The postgres audit sink with the database stopped for 10 s under load:
// decisions are neither slowed nor denied (the trail holds them), and once
// the database is back every answered decision is in the table. Runs `serve`
// as a real process (needs `npm run build`).
import t from 'tap';
import { Load as DecisionLoad } from '../support/serve-crash-harness.js';
import { notInTable, postgresSkip, serveSetup, startWall, until } from '../support/postgres-wall.js';

const skip = postgresSkip(t);

t.test('the database stopped 10 s under load: decisions go on, nothing is lost once it is back', { skip }, async (t) => {
  const server = await startWall(t);
  const { token, start } = await serveSetup(t, server);
  const load = new DecisionLoad(token, 8, 10);
  load.start();
  const s = await start(load);
  await until(() => load.received.size > 200, 'load before the outage');
  await server.stop();
  const during = load.received.size;
  await new Promise((r) => setTimeout(r, 10_000));
  t.ok(load.received.size > during + 500, `decisions kept being answered with the database down (${load.received.size - during} in 10 s)`);
  t.equal(load.refusedUnaudited, 0, 'none refused: the trail has room (on_full is about the trail, not the database)');
  await server.start();
  const atRecovery = load.received.size;
  await until(() => load.received.size > atRecovery + 300, 'answers after the database is back');
  await load.stop();
  await until(async () => (await notInTable(server, load)).length === 0, 'every answered decision in the table', 60_000).catch(() => undefined);
  t.same(await notInTable(server, load), [], `all ${load.received.size} answered decisions are in the table`);
  t.equal(await s.kill('SIGTERM'), 0);
});

