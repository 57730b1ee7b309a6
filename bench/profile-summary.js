#!/usr/bin/env node
// node bench/profile-summary.js FILE.cpuprofile [--top N] — where a profiled
// process spent its busy time: by self time, then by total (inclusive) time.
import { parseArgs } from 'node:util';
import { summarizeProfile } from './lib/cpuprofile.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '10' } } });
if (positionals.length === 0) {
  console.error('usage: node bench/profile-summary.js FILE.cpuprofile [--top N]');
  process.exit(2);
}
const pct = (x) => `${x.toFixed(1).padStart(5)}%`;
for (const file of positionals) {
  const { busy_samples, total_samples, top, topTotal } = summarizeProfile(file, Number(values.top));
  console.log(`${file}: ${busy_samples} busy of ${total_samples} samples (% of busy)`);
  console.log('\n   self   total  function');
  for (const t of top) console.log(`${pct(t.self_pct)}  ${pct(t.total_pct)}  ${t.fn}  ${t.where}`);
  console.log('\n  total    self  function');
  for (const t of topTotal) console.log(`${pct(t.total_pct)}  ${pct(t.self_pct)}  ${t.fn}  ${t.where}`);
}
