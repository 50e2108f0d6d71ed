/**
 * Red-team rows S15/S16: `simulate --e2h on` is stage 1 only (CR2.E2H selects the EL2-E2H stage-1 address
 * spaces). With --stage 2 or nested it changed nothing and was dropped without a word; now it is a usage
 * error (exit 2, one line naming --e2h). Clean twins: the same runs without --e2h, and --e2h on at stage 1.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, ensureBuilt } from './cli-codec-helpers.js';

beforeAll(() => ensureBuilt());

const RUN = ['simulate', '--no-progress', '--ops', '100', '--seed', '1'];

describe('simulate --e2h on outside stage 1', () => {
  for (const [row, stage] of [
    ['S15', '2'],
    ['S16', 'nested'],
  ] as const) {
    it(`${row}: --e2h on --stage ${stage} is exit 2 naming --e2h; without --e2h the run is clean`, () => {
      const bad = cli([...RUN, '--e2h', 'on', '--stage', stage]);
      expect(bad.code).toBe(2);
      expect(bad.stdout).toBe('');
      expect(bad.stderr.split('\n').filter((l) => l !== '')).toEqual([
        `error: --e2h on: stage 1 only (EL2-E2H stage-1 address spaces); it does nothing with --stage ${stage}`,
      ]);
      const twin = cli([...RUN, '--stage', stage]);
      expect(twin.code, twin.stderr).toBe(0);
      expect(twin.stdout).toMatch(new RegExp(`stage ${stage}, `));
      // --e2h off (nothing to ignore) is accepted at every stage.
      const off = cli([...RUN, '--e2h', 'off', '--stage', stage]);
      expect(off.code, off.stderr).toBe(0);
    });
  }

  it('the clean twin at stage 1: --e2h on runs with E2H (EL2 opcodes in the stream)', () => {
    const r = cli([...RUN, '--e2h', 'on', '--stage', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/e2h on/);
    expect(r.stdout).toMatch(/TLBI_EL2_/);
  });
});
