/**
 * Colour and --quiet (issue 13): on a terminal (a pseudo-terminal made by util-linux `script`) ILLEGAL entries,
 * stale translations and a scenario's verdict are coloured; with NO_COLOR set, or stdout a pipe, not one escape
 * code. `--quiet` anywhere leaves stderr to errors only; stdout and the exit status stay as they are.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCliFromSource } from './cli-source-run.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const ESC = '\u001b[';

const bin = mkdtempSync(join(tmpdir(), 'smmuv3-colour-'));
const CLI = join(bin, 'smmuv3-tlbi');
writeFileSync(
  CLI,
  `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --import tsx --input-type=module -e ` +
    `'import { main } from ${JSON.stringify(MAIN)}; await main(["node", "smmuv3-tlbi", ...process.argv.slice(1)]);' -- "$@"\n`,
);
chmodSync(CLI, 0o755);
afterAll(() => rmSync(bin, { recursive: true, force: true }));

/** Run the CLI with stdout (and stderr) on a pseudo-terminal; returns what the terminal showed and the status. */
function onTerminal(args: string, env: Record<string, string> = {}): { code: number | null; text: string } {
  const base: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm', SMMUV3_TLBI_DEBUG: '', ...env };
  if (!('NO_COLOR' in env)) delete base.NO_COLOR;
  const r = spawnSync('script', ['-qec', `${CLI} ${args}`, '/dev/null'], {
    cwd: ROOT,
    env: base,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  return { code: r.status, text: r.stdout };
}

const ILLEGAL = '0x0001000000000012 0x00000000ffff6401'; // a range TLBI with TG=0 (reserved)
const LEGAL = '0x0001000000000012 0x00000000ffff6701';

describe('colour on a terminal', () => {
  it('an ILLEGAL entry is red on a terminal; a legal one has no colour; NO_COLOR and a pipe turn it off', () => {
    const bad = onTerminal(`decode ${ILLEGAL}`);
    expect(bad.code).toBe(1);
    expect(bad.text).toContain(`${ESC}1;31mILLEGAL${ESC}0m`);
    const good = onTerminal(`decode ${LEGAL}`);
    expect(good.code).toBe(0);
    expect(good.text).toContain('TLBI_NH_VA');
    expect(good.text).not.toContain(ESC);
    const plain = onTerminal(`decode ${ILLEGAL}`, { NO_COLOR: '1' });
    expect(plain.code).toBe(1);
    expect(plain.text).toContain('ILLEGAL');
    expect(plain.text).not.toContain(ESC);
    const piped = runCliFromSource(['decode', ...ILLEGAL.split(' ')]);
    expect(piped.stdout).toContain('ILLEGAL');
    expect(piped.stdout).not.toContain(ESC);
  });

  it('stale translations are red; a clean scenario verdict is green; --json stays plain on a terminal', () => {
    const stale = onTerminal('simulate --ops 200 --seed 4 --fault no-atc --reports 1');
    expect(stale.code).toBe(1);
    expect(stale.text).toMatch(new RegExp(`\\u001b\\[31mstale ATC entry\\u001b\\[0m on SMMU`));
    const ok = onTerminal('simulate --scenario driver --ops 30 --seed 1');
    expect(ok.code).toBe(0);
    expect(ok.text).toMatch(new RegExp(`\\u001b\\[32mresult\\s+ok`));
    expect(ok.text).not.toContain(`${ESC}31m`);
    const json = onTerminal('simulate --scenario driver --ops 30 --seed 1 --json');
    expect(json.code).toBe(0);
    expect(json.text).not.toContain(ESC);
  });
});

describe('--quiet', () => {
  it('leaves stderr to errors; stdout and the exit status are those of the run without it', () => {
    for (const args of [
      ['decode', ...ILLEGAL.split(' ')],
      ['decode', '--sample'],
      ['simulate', '--ops', '100', '--seed', '4', '--fault', 'no-atc', '--reports', '1'],
    ]) {
      const loud = runCliFromSource(args);
      expect(loud.stderr, args.join(' ')).not.toBe('');
      for (const at of [1, args.length]) {
        const q = [...args.slice(0, at), '--quiet', ...args.slice(at)];
        const quiet = runCliFromSource(q);
        expect(quiet.code, q.join(' ')).toBe(loud.code);
        expect(quiet.stdout.replace(/ in [\d.]+ s, \d+ ops\/s/, ''), q.join(' ')).toBe(
          loud.stdout.replace(/ in [\d.]+ s, \d+ ops\/s/, ''),
        );
        expect(quiet.stderr, q.join(' ')).toBe('');
      }
    }
  });

  it('an error still reaches stderr under -q (exit 2, the same line)', () => {
    const loud = runCliFromSource(['decode', '0xzz', '0x0']);
    const quiet = runCliFromSource(['-q', 'decode', '0xzz', '0x0']);
    expect(quiet.code).toBe(2);
    expect(loud.code).toBe(2);
    expect(quiet.stderr.split('\n')[0]).toBe(loud.stderr.split('\n')[0]);
    expect(quiet.stderr).toMatch(/^error: /);
  });
});
