/**
 * Writes reprovm.conf.example from the configuration schema. Run after changing
 * src/config/schema.ts: `node --import tsx scripts/gen-conf-example.ts` (a test fails while
 * the file is out of date).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfExample } from '../src/config/example.js';

const target = fileURLToPath(new URL('../reprovm.conf.example', import.meta.url));
writeFileSync(target, renderConfExample());
process.stdout.write(`wrote ${target}\n`);
