/**
 * Issue 18 item 3 for `encode`'s input: a `words` key that contradicts the fields is a usage error naming
 * the word and showing both values (red-team M12), while the words `decode --json` printed are accepted, so
 * decode --json | encode gives back every sample's words; each bad entry has a clean twin.
 */
import { readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, ensureBuilt, ROOT, tempDir } from './cli-codec-helpers.js';

beforeAll(() => ensureBuilt(), 180_000);

/** Exit 2, nothing on stdout, one stderr line matching `message`. */
function usage(stdin: string, message: RegExp): void {
  const r = cli(['encode'], stdin);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
}

const SYNC = { name: 'CMD_SYNC', fields: { cs: 0 } };
const SYNC_WORDS = '0x0000000000000046 0x0000000000000000';

describe('encode: words beside the fields (M12)', () => {
  it('a word that contradicts the fields: exit 2 naming it, with the given and the encoded value', () => {
    usage(
      JSON.stringify({ ...SYNC, words: ['0x0000000000000046', '0xdeadbeef'] }),
      /^error: stdin\[0\]\.words\[1\]: "0xdeadbeef" does not match the fields, which encode it as 0x0000000000000000$/,
    );
    usage(
      JSON.stringify([SYNC, { ...SYNC, words: ['0x0000000000000047', '0x0'] }]),
      /^error: stdin\[1\]\.words\[0\]: "0x0000000000000047" does not match .* 0x0000000000000046$/,
    );
  });

  it('clean twins: words that match (in any spelling of the same value) are accepted', () => {
    for (const words of [
      ['0x0000000000000046', '0x0000000000000000'],
      ['0x46', '0x0'],
    ]) {
      const r = cli(['encode'], JSON.stringify({ ...SYNC, words }));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${SYNC_WORDS}\n`);
    }
  });

  it('words that are not two hex words: exit 2 naming words; without words the entry encodes', () => {
    usage(JSON.stringify({ ...SYNC, words: ['0x46'] }), /^error: stdin\[0\]\.words: /);
    usage(JSON.stringify({ ...SYNC, words: ['0x46', 'zz'] }), /^error: stdin\[0\]\.words\[1\]: /);
    expect(cli(['encode'], JSON.stringify(SYNC)).stdout).toBe(`${SYNC_WORDS}\n`);
  });

  const samples = readdirSync(join(ROOT, 'samples')).filter((d) => existsSync(join(ROOT, 'samples', d, 'cmdq.json')));
  it(`decode --json | encode gives back the words of every decoded entry of the ${samples.length} samples`, () => {
    expect(samples.length).toBeGreaterThanOrEqual(4);
    const dir = tempDir();
    for (const d of samples) {
      const s = join('samples', d);
      const dec = cli(['decode', '--file', join(s, 'cmdq.bin.gz'), '--regs', join(s, 'cmdq.json'), '--json']);
      expect(dec.code, d).not.toBe(2);
      const entries = (JSON.parse(dec.stdout) as { entries: { name?: string; words: string[] }[] }).entries.filter(
        (e) => e.name !== undefined,
      );
      expect(entries.length, d).toBeGreaterThan(0);
      const f = join(dir, `${d}.json`);
      writeFileSync(f, JSON.stringify(entries));
      const enc = cli(['encode', '--input', f]);
      expect(enc.code, `${d}: ${enc.stderr}`).toBe(0);
      expect(enc.stdout).toBe(entries.map((e) => `${e.words.join(' ')}\n`).join(''));
    }
  }, 120_000);
});
