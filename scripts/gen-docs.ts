// Writes the generated docs (`npm run docs`): docs/reason-codes.md from the catalogue.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderReasonCodesMarkdown } from '../src/decision/reason-codes.js';

const target = fileURLToPath(new URL('../docs/reason-codes.md', import.meta.url));
writeFileSync(target, renderReasonCodesMarkdown());
process.stdout.write(`wrote ${target}\n`);
