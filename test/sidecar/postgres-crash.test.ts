// SIGKILL of `serve` while it ships to PostgreSQL, then a restart: every
// answered decision ends up in the table, none twice. Needs `npm run build`.
import t from 'tap';
import { killRounds, Load as DecisionLoad } from '../support/serve-crash-harness.js';
import { notInTable, postgresSkip, rows, serveSetup, startWall, until } from '../support/postgres-wall.js';

const skip = postgresSkip(t);

t.test('SIGKILL mid-shipping, restart: every answered decision ends up in the table', { skip }, async (t) => {
  const server = await startWall(t);
  const { token, start } = await serveSetup(t, server);
  const load = new DecisionLoad(token, 16, 0);
  load.start();
  const last = await killRounds(t, load, start, 2, 300);
  await load.stop();
  await until(async () => (await notInTable(server, load)).length === 0, 'every answered decision in the table', 60_000).catch(() => undefined);
  t.same(await notInTable(server, load), [], `all ${load.received.size} answered decisions are in the table`);
  const dupes = await rows(server, 'SELECT count(*)::int AS n, count(DISTINCT decision_id)::int AS d FROM authz_audit.decisions');
  t.equal(dupes[0]?.n, dupes[0]?.d, 'no decision twice');
  t.equal(await last.kill('SIGTERM'), 0);
});
