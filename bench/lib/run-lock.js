// One bench at a time per checkout: every run writes a fresh key set and token
// into bench/out/, so a second concurrent run makes the first one's sidecar
// refuse its token (token_unknown_key). The lock names the holder's pid; a
// lock left by a dead process is taken over.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function acquireRunLock(outDir) {
  const file = path.join(outDir, '.run.lock');
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch {
    const holder = Number(readFileSync(file, 'utf8'));
    if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
      throw new Error(`another bench run (pid ${holder}) is using ${outDir}; wait for it to finish`);
    }
    writeFileSync(file, String(process.pid));
  }
  const release = () => rmSync(file, { force: true });
  process.once('exit', release);
  return release;
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}
