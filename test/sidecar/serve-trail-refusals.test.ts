// `serve` refuses to start rather than interleave or lose audit (issue 11):
// a second sidecar on the same trail directory, and one that cannot write
// its trail, both exit 1 with the reason. Needs `npm run build`.
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { exitOf, setup, writeConfig } from '../support/serve-crash-harness.js';
import { startServe, untilReady } from '../support/serve-process.js';

t.test('a second sidecar on the same trail refuses to start; so does one that cannot write its trail', async (t) => {
  const { dir, config } = await setup(t);
  const first = await startServe(config);
  t.teardown(() => first.kill('SIGKILL'));
  await untilReady(first.ports.admin);
  const second = await exitOf(config);
  t.equal(second.code, 1, 'exit 1');
  t.match(second.stderr, /cannot start: audit trail .*: in use by pid \d+/);
  t.equal(await first.kill('SIGKILL'), null);

  // A directory it cannot write (root writes anywhere, so the sidecar runs as nobody then).
  const ro = join(dir, 'ro');
  mkdirSync(join(ro, 'audit'), { recursive: true, mode: 0o555 });
  const roConfig = writeConfig(ro, '127.0.0.1:1');
  copyFileSync(join(dir, 'jwks.json'), join(ro, 'jwks.json'));
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const blocked = asNobody.uid === undefined ? undefined : dirNotTraversableByOthers(process.cwd());
  if (blocked !== undefined) {
    t.comment(`skipping the unwritable-trail case: it runs serve as nobody, who cannot reach ${blocked} (mode without o+x)`);
    return;
  }
  const refused = await exitOf(roConfig, asNobody);
  t.equal(refused.code, 1, 'exit 1 instead of serving unaudited');
  t.match(refused.stderr, /cannot start: audit trail .*(EACCES|EROFS|permission denied)/i);
});

/** The first directory from `dir` up to / that other users cannot traverse, or undefined. */
function dirNotTraversableByOthers(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return d;
    if (dirname(d) === d) return undefined;
  }
}
