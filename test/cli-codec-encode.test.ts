/**
 * `smmuv3-tlbi encode`: JSON commands (one object, an array, or one per line) to hex word pairs or a binary
 * dump, the encode | decode round trip over the golden vectors, and the exit codes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, ensureBuilt, tempDir } from './cli-codec-helpers.js';

beforeAll(() => ensureBuilt(), 180_000);

interface Vector {
  words: [string, string];
  options?: unknown;
  expect: { name?: string; fields?: Record<string, number | string>; warnings?: unknown[] };
}
const golden = (
  JSON.parse(readFileSync(new URL('./golden/cmdq-vectors.json', import.meta.url), 'utf8')) as { vectors: Vector[] }
).vectors;
/** The golden vectors that are legal on the default SMMU, without warnings. */
const legalByDefault = golden.filter(
  (v) => v.options === undefined && v.expect.name !== undefined && !v.expect.warnings,
);

const NH_VA = { name: 'TLBI_NH_VA', fields: { asid: 1, tg: 1, ttl: 3, leaf: 1, addr: '0xffff6000' } };
const NH_VA_WORDS = '0x0001000000000012 0x00000000ffff6701';

describe('encode: inputs', () => {
  it('one object → one "0x<w0> 0x<w1>" line (the example of --help)', () => {
    const r = cli(['encode'], JSON.stringify(NH_VA));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${NH_VA_WORDS}\n`);
  });

  it('an array, and one object per line, give one line per entry in order', () => {
    const sync = { name: 'CMD_SYNC', fields: { cs: 2, msh: 3, msiattr: 15 } };
    const want = `${NH_VA_WORDS}\n0x000000000fc02046 0x0000000000000000\n`;
    expect(cli(['encode'], JSON.stringify([NH_VA, sync])).stdout).toBe(want);
    const perLine = cli(['encode'], `${JSON.stringify(NH_VA)}\n\n${JSON.stringify(sync)}\n`);
    expect(perLine.code).toBe(0);
    expect(perLine.stdout).toBe(want);
  });

  it('--input reads a file; values accept hex strings, decimal and size suffixes', () => {
    const dir = tempDir();
    const f = join(dir, 'cmds.json');
    writeFileSync(
      f,
      JSON.stringify([
        { name: 'ATC_INV', fields: { sid: '0x8', size: 52 } },
        { name: 'TLBI_NH_VAA', fields: { addr: '1M', tg: 1, num: 1, scale: 2 } },
      ]),
    );
    const r = cli(['encode', '--input', f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('0x0000000800000040 0x0000000000000034\n0x0000000000201013 0x0000000000100400\n');
  });

  it('omitted fields are 0; the opcode of a decoded entry may be passed back', () => {
    const r = cli(['encode'], JSON.stringify({ name: 'CFGI_STE', opcode: 3, fields: { sid: 8 } }));
    expect(r.stdout).toBe('0x0000000800000003 0x0000000000000000\n');
  });
});

describe('encode | decode round trip', () => {
  it(`all ${legalByDefault.length} default-legal golden vectors: encode gives their words, decode gives their fields`, () => {
    const input = legalByDefault.map((v) => ({ name: v.expect.name, fields: v.expect.fields }));
    const enc = cli(['encode'], JSON.stringify(input));
    expect(enc.code).toBe(0);
    const lines = enc.stdout.trimEnd().split('\n');
    expect(lines).toEqual(legalByDefault.map((v) => v.words.join(' ')));
    const dec = cli(['decode', '--json'], enc.stdout);
    expect(dec.code).toBe(0);
    const doc = JSON.parse(dec.stdout) as { entries: { name: string; fields: unknown }[] };
    expect(doc.entries.map((e) => ({ name: e.name, fields: e.fields }))).toEqual(
      legalByDefault.map((v) => ({ name: v.expect.name, fields: v.expect.fields })),
    );
    // decode --json's entries are valid encode input, so the words come back once more.
    const again = cli(['encode'], JSON.stringify(doc.entries));
    expect(again.stdout).toBe(enc.stdout);
  });

  it('--out writes the raw little-endian dump, which decode --file reads back', () => {
    const dir = tempDir();
    const out = join(dir, 'q.bin');
    const input = legalByDefault.slice(0, 20).map((v) => ({ name: v.expect.name, fields: v.expect.fields }));
    const r = cli(['encode', '--out', out], JSON.stringify(input));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`20 entries written to ${out}`);
    const bytes = readFileSync(out);
    expect(bytes.length).toBe(20 * 16);
    legalByDefault.slice(0, 20).forEach((v, k) => {
      expect(
        '0x' +
          bytes
            .readBigUInt64LE(k * 16)
            .toString(16)
            .padStart(16, '0'),
      ).toBe(v.words[0]);
      expect(
        '0x' +
          bytes
            .readBigUInt64LE(k * 16 + 8)
            .toString(16)
            .padStart(16, '0'),
      ).toBe(v.words[1]);
    });
    const d = cli(['decode', '--json', '--file', out]);
    expect(d.code).toBe(0);
    expect((JSON.parse(d.stdout) as { entries: { name: string }[] }).entries.map((e) => e.name)).toEqual(
      input.map((c) => c.name),
    );
  });
});

describe('encode: refusals and errors', () => {
  it('a command the decoder would call illegal: exit 1, the field named on stderr, nothing on stdout', () => {
    const r = cli(['encode'], JSON.stringify([NH_VA, { name: 'CMD_SYNC', fields: { cs: 3 } }]));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/stdin\[1\]: CMD_SYNC: cs: CS=0b11 is reserved/);
  });

  it('SMMU options apply as for decode: EL3 needs --queue secure, CFGI_VMS_PIDM needs --features mpam', () => {
    expect(cli(['encode'], '{"name":"TLBI_EL3_ALL"}').code).toBe(1);
    expect(cli(['encode', '--queue', 'secure'], '{"name":"TLBI_EL3_ALL"}').stdout).toBe(
      '0x0000000000000018 0x0000000000000000\n',
    );
    expect(cli(['encode'], '{"name":"CFGI_VMS_PIDM","fields":{"vmid":1}}').code).toBe(1);
    expect(cli(['encode', '--features', 'mpam'], '{"name":"CFGI_VMS_PIDM","fields":{"vmid":1}}').code).toBe(0);
  });

  it.each([
    ['invalid JSON', '{"name": ', /invalid JSON/],
    ['an unknown command name', '{"name":"TLBI_EVERYTHING"}', /unknown command name "TLBI_EVERYTHING"/],
    ['an unknown field', '{"name":"CMD_SYNC","fields":{"cx":1}}', /CMD_SYNC has no field cx/],
    ['a value that does not parse', '{"name":"CMD_SYNC","fields":{"cs":"two"}}', /fields\.cs: cannot parse "two"/],
    ['no input', '', /no commands/],
  ])('%s: exit 2 with one line', (_what, input, message) => {
    const r = cli(['encode'], input);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it('a value too wide for its field is refused naming the field (exit 1)', () => {
    const r = cli(['encode'], '{"name":"TLBI_NH_ASID","fields":{"asid":65536}}');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/asid must be an integer in \[0, 65535\]/);
  });

  it('encode --help has an example; an unknown flag is a usage error', () => {
    const h = cli(['encode', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/Examples:\n\s+\$ .*smmuv3-tlbi encode/);
    const u = cli(['encode', '--bogus'], JSON.stringify(NH_VA));
    expect(u.code).toBe(2);
    expect(u.stderr.split('\n')[0]).toMatch(/unknown option '--bogus'/);
  });
});
