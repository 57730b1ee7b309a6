#!/usr/bin/env node
// node bench/profile-summary.js FILE.cpuprofile [--top N] — top functions by self time.
import { parseArgs } from 'node:util';
import { topSelfTime } from './lib/cpuprofile.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '10' } } });
if (positionals.length === 0) {
  console.error('usage: node bench/profile-summary.js FILE.cpuprofile [--top N]');
  process.exit(2);
}
for (const file of positionals) {
  const { busy_samples, total_samples, top } = topSelfTime(file, Number(values.top));
  console.log(`${file}: ${busy_samples} busy of ${total_samples} samples (self time, % of busy)`);
  for (const t of top) console.log(`${t.self_pct.toFixed(1).padStart(5)}%  ${t.fn}  ${t.where}`);
}
