/**
 * Rewrites the SUMMARIES list in src/cli/summaries.ts from what the subcommand modules register
 * (npm run gen:summaries), so that the fast top-level help matches the full program's.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Help } from 'commander';
import { buildProgram } from '../src/cli/main.js';

async function main(): Promise<void> {
  const full = await buildProgram();
  const help = new Help();
  const entries = full.commands.map(
    (c) =>
      `  {\n    name: ${JSON.stringify(c.name())},\n    term: ${JSON.stringify(help.subcommandTerm(c))},\n` +
      `    description: ${JSON.stringify(c.description())},\n  },`,
  );
  const file = new URL('../src/cli/summaries.ts', import.meta.url);
  const text = readFileSync(file, 'utf8');
  const head = 'export const SUMMARIES: readonly CommandSummary[] = [';
  const at = text.indexOf(head);
  const end = text.indexOf('\n];', at);
  if (at < 0 || end < 0) throw new Error('summaries.ts: SUMMARIES list not found');
  writeFileSync(file, `${text.slice(0, at)}${head}\n${entries.join('\n')}${text.slice(end)}`);
}

void main();
