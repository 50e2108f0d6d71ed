/**
 * Red-team F53 (and its --regs twin): inputs read whole — an encode --input file, plan/pgtable JSON on stdin,
 * a --regs file — are bounded. `/dev/zero` or a huge file is exit 2 with one line naming the limit, never a
 * run that grows without bound (F53: 23 GB after 16 min; `--regs /dev/zero` ended in std::bad_alloc at
 * 16 GB). Each refusal has a clean twin of the same command that reads.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli, ensureBuilt, tempDir } from './cli-codec-helpers.js';

const BIN = join(ROOT, 'bin', 'smmuv3-tlbi.js');

beforeAll(() => ensureBuilt());

const S = 'samples/linux-6.1-qemu-7.2-strict/';
const oneLine = (stderr: string): string[] => stderr.split('\n').filter((l) => l !== '');

/** The CLI with stdin read from a file (spawnSync's `input` cannot be an endless device). */
function cliStdinFrom(path: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const fd = openSync(path, 'r');
  try {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      stdio: [fd, 'pipe', 'pipe'],
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', SMMUV3_TLBI_DEBUG: '' },
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    closeSync(fd);
  }
}

describe('the whole-input limit', () => {
  it('F53: encode --input /dev/zero is refused at the whole-input limit; a real file encodes', () => {
    const r = cli(['encode', '--input', '/dev/zero']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(oneLine(r.stderr)).toEqual(['error: /dev/zero: more than 134217728 bytes (the whole-input limit)']);
    const f = join(tempDir(), 'cmds.json');
    writeFileSync(f, '{"name":"CMD_SYNC","fields":{"cs":0}}\n');
    const twin = cli(['encode', '--input', f]);
    expect(twin.code, twin.stderr).toBe(0);
    expect(twin.stdout).toMatch(/0x0000000000000046/);
  });

  it('a regular file over the limit is refused by its size, before it is read (sparse 200 MiB file)', () => {
    const f = join(tempDir(), 'big.json');
    writeFileSync(f, '');
    truncateSync(f, 200 * 2 ** 20);
    const r = cli(['encode', '--input', f]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toEqual([`error: ${f}: 209715200 bytes is more than 134217728 (the whole-input limit)`]);
  });

  it('plan and pgtable with /dev/zero on stdin are refused; their JSON on stdin reads', () => {
    for (const cmd of ['plan', 'pgtable']) {
      const r = cliStdinFrom('/dev/zero', [cmd, '--json']);
      expect(r.code, cmd).toBe(2);
      expect(oneLine(r.stderr), cmd).toEqual(['error: stdin: more than 134217728 bytes (the whole-input limit)']);
    }
    const plan = cli(
      ['plan', '--json'],
      '{"smmus":[{"id":0,"ril":true}],"invs":[{"smmu":0,"type":"S1_ASID","id":5}],"iova":"0x10000000","size":"0x2000","granule":4096,"leaf":true}',
    );
    expect(plan.code, plan.stderr).toBe(0);
  });
});

describe('--regs is a small file', () => {
  it('--regs /dev/zero or a file over 1 MiB: exit 2, one line naming --regs; the real cmdq.json reads', () => {
    const big = join(tempDir(), 'regs.json');
    writeFileSync(big, '');
    truncateSync(big, 2 ** 20 + 1);
    for (const f of ['/dev/zero', big]) {
      const r = cli(['audit', '--file', `${S}cmdq.bin.gz`, '--regs', f]);
      expect(r.code, f).toBe(2);
      expect(r.stdout).toBe('');
      expect(oneLine(r.stderr)).toEqual([
        `error: --regs: ${f}: more than 1048576 bytes (a registers file is a small JSON document)`,
      ]);
    }
    const twin = cli(['audit', '--file', `${S}cmdq.bin.gz`, '--regs', `${S}cmdq.json`]);
    expect(twin.code, twin.stderr).toBe(0);
  });
});
