/**
 * CLI start-up: `main` loads only the module of the subcommand the command line names, and draws the
 * top-level help from src/cli/summaries.ts. Both must show exactly what the fully registered program shows:
 * the summaries are checked against the modules here (when this fails, run npm run gen:summaries or paste the printed entries into
 * summaries.ts), and every help text of the lazily built program against the full one.
 */
import { Help, type Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMAND_NAMES, buildProgram, subcommandOf, summaryProgram } from '../src/cli/main.js';
import { SUMMARIES } from '../src/cli/summaries.js';

/** Every help text of a program: its own and each subcommand's. */
function helps(p: Command): Record<string, string> {
  const out: Record<string, string> = { '': p.helpInformation() };
  for (const c of p.commands) out[c.name()] = c.helpInformation();
  return out;
}

describe('CLI start-up', () => {
  it('summaries.ts lists every subcommand with the term and description its module registers', async () => {
    const full = await buildProgram();
    const h = new Help();
    const actual = full.commands.map((c) => ({
      name: c.name(),
      term: h.subcommandTerm(c),
      description: c.description(),
    }));
    expect(SUMMARIES, `summaries.ts is stale; its entries should be:\n${JSON.stringify(actual, null, 2)}`).toEqual(
      actual,
    );
    expect(full.commands.map((c) => c.name())).toEqual(COMMAND_NAMES);
  });

  it('the top-level help without the modules is the full program’s, byte for byte', async () => {
    const full = await buildProgram();
    expect(summaryProgram().helpInformation()).toBe(full.helpInformation());
  });

  it('each subcommand registered alone has the same help as in the full program', async () => {
    const full = helps(await buildProgram());
    for (const name of COMMAND_NAMES) {
      const alone = await buildProgram(name);
      expect(alone.commands.map((c) => c.name())).toEqual([name]);
      expect(alone.commands[0]!.helpInformation(), name).toBe(full[name]);
    }
  });

  it('finds the subcommand the command line names', () => {
    const at = (...a: string[]): string | undefined => subcommandOf(['node', 'smmuv3-tlbi', ...a]);
    expect(at('decode', '0x46', '0x0')).toBe('decode');
    expect(at('plan', '--help')).toBe('plan');
    expect(at('help', 'simulate')).toBe('simulate');
    expect(at('--help')).toBeUndefined();
    expect(at()).toBeUndefined();
    expect(at('help')).toBeUndefined();
    expect(at('-V')).toBeUndefined();
    expect(at('-h', 'decode')).toBeUndefined(); // the top level's flag: its help
    expect(at('frobnicate')).toBeUndefined(); // unknown: the full list answers
  });
});
