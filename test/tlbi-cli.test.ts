/**
 * `smmuv3-tlbi plan` end to end (in process): JSON and flag requests, the --json document, and exit 2 with
 * a message naming the field for every class of invalid request. The example request is kept as a
 * golden document (test/golden/tlbi-plan-issue-example.json, hand-checked: the two NH_VA words are worked
 * example 1 of the reference notes, the ATC_INV covers pages 0x10000-0x10020 with Size 6); UPDATE_GOLDEN=1
 * rewrites it.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../src/cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'tlbi-cli-'));
const GOLDEN = new URL('./golden/tlbi-plan-issue-example.json', import.meta.url);

async function run(args: string[], request?: unknown): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    stdout += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  });
  const extra: string[] = [];
  if (request !== undefined) {
    const f = join(dir, `req-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(f, typeof request === 'string' ? request : JSON.stringify(request));
    extra.push('--input', f);
  }
  process.exitCode = 0;
  let code: number;
  try {
    const program = await buildProgram();
    program.configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
    for (const c of program.commands)
      c.configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
    await program.parseAsync(['node', 'smmuv3-tlbi', 'plan', ...args, ...extra]);
    code = Number(process.exitCode ?? 0);
  } catch (err) {
    code = (err as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.exitCode = 0;
  }
  return { code, stdout, stderr };
}

afterEach(() => vi.restoreAllMocks());

const EXAMPLE = {
  smmus: [{ id: 0, ril: true, e2h: false, forceSync: false }],
  invs: [
    { smmu: 0, type: 'S1_ASID', id: 5, vmid: 0, pgsize: 4096 },
    { smmu: 0, type: 'ATS', id: 16, ssid: 0 },
  ],
  iova: '0x10000000',
  size: '0x21000',
  granule: 4096,
  leaf: true,
  policy: 'linux',
};

describe('plan: requests', () => {
  it('the issue example as JSON → one --json document matching the golden file', async () => {
    const r = await run(['--json'], EXAMPLE);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN, JSON.stringify(doc, null, 2) + '\n');
    expect(doc).toEqual(JSON.parse(readFileSync(GOLDEN, 'utf8')));
    expect(doc.schemaVersion).toBe(1);
    const cmds = doc.commands as { name: string; words: string[] }[];
    expect(cmds.map((c) => c.name)).toEqual(['TLBI_NH_VA', 'TLBI_NH_VA', 'CMD_SYNC', 'ATC_INV', 'CMD_SYNC']);
    expect(cmds[0]!.words).toEqual(['0x0005000000000012', '0x0000000010000701']);
    expect(cmds[1]!.words).toEqual(['0x0005000000500012', '0x0000000010001701']);
  });

  it('flags for the one-target case give the same commands; human output groups by SMMU and batch', async () => {
    const flags = await run(['--iova', '0x1000_0000', '--size', '0x21000', '--id', '5', '--ats', '16', '--json']);
    const json = await run(['--json'], EXAMPLE);
    expect((JSON.parse(flags.stdout) as { commands: unknown }).commands).toEqual(
      (JSON.parse(json.stdout) as { commands: unknown }).commands,
    );
    const human = await run(['--iova', '0x10000000', '--size', '0x21000', '--id', '5', '--ats', '16']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/SMMU 0 \(ril\)\n {2}batch 0\n.*TLBI_NH_VA/);
    expect(human.stdout).toMatch(/ {2}batch 1\n.*ATC_INV .*size=6 addr=0x10000000/);
  });

  it('policy tlbi from JSON: a freed level-3 table → one Leaf=0 TTL=3 command', async () => {
    const r = await run(['--json'], {
      smmus: [{ id: 0, ril: true }],
      invs: [{ smmu: 0, type: 'S1_ASID', id: 1 }],
      policy: 'tlbi',
      tlbi: { start: '0x200000', last: '0x3fffff', leafLevels: [3], tableLevels: [2], granule: 4096 },
    });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      commands: { name: string; fields: Record<string, unknown> }[];
      stats: { commands: number };
    };
    expect(doc.commands[0]!.fields).toEqual({
      num: 0,
      scale: 9,
      vmid: 0,
      asid: 1,
      leaf: 0,
      ttl: 3,
      tg: 1,
      addr: '0x200000',
    });
    expect(doc.stats.commands).toBe(1);
  });

  it('S1_ASID_NESTED from JSON, and --vmid V on a stage-1 target from flags: NH_VA carries the VMID', async () => {
    const req = {
      smmus: [{ id: 0, ril: true, e2h: true }],
      invs: [{ smmu: 0, type: 'S1_ASID_NESTED', id: 5, vmid: 3, pgsize: 4096 }],
      iova: '0x10000000',
      size: '0x1000',
      granule: 4096,
      leaf: true,
    };
    const r = await run(['--json'], req);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { commands: { name: string; fields: Record<string, unknown> }[] };
    expect(doc.commands.map((c) => [c.name, c.fields.asid, c.fields.vmid])).toEqual([
      ['TLBI_NH_VA', 5, 3],
      ['CMD_SYNC', undefined, undefined],
    ]);
    const flags = await run(['--iova', '0x10000000', '--size', '4K', '--id', '5', '--vmid', '3', '--e2h', '--json']);
    expect(flags.code).toBe(0);
    expect((JSON.parse(flags.stdout) as { commands: unknown }).commands).toEqual(doc.commands);
    const human = await run(['--iova', '0x10000000', '--size', '4K', '--id', '5', '--vmid', '3']);
    expect(human.stdout).toMatch(/target smmu 0 S1_ASID_NESTED id 5 vmid 3 pgsize 4096/);
  });

  it('--ds and "ds" in smmus[]: a 2^48-byte range at 4K in one SCALE-36 command (two SCALE-31 ones without)', async () => {
    const flags = ['--iova', '0', '--size', String(2 ** 48), '--id', '1', '--json'];
    const cmds = (r: { stdout: string }): [number, number][] =>
      (JSON.parse(r.stdout) as { commands: { name: string; fields: { num: number; scale: number } }[] }).commands
        .filter((c) => c.name === 'TLBI_NH_VA')
        .map((c) => [c.fields.num, c.fields.scale]);
    const ds = await run([...flags, '--ds']);
    expect(ds.code).toBe(0);
    expect(cmds(ds)).toEqual([[0, 36]]);
    expect((JSON.parse(ds.stdout) as { request: { smmus: unknown } }).request.smmus).toEqual([
      { id: 0, ril: true, e2h: false, forceSync: false, ds: true },
    ]);
    expect(cmds(await run(flags))).toEqual([
      [30, 31],
      [0, 31],
    ]);
    const json = await run(['--json'], {
      smmus: [{ id: 0, ds: true }],
      invs: [{ smmu: 0, type: 'S1_ASID', id: 1 }],
      iova: 0,
      size: String(2 ** 48),
    });
    expect(cmds(json)).toEqual([[0, 36]]);
    const human = await run(['--iova', '0', '--size', String(2 ** 48), '--ds']);
    expect(human.stdout).toMatch(/SMMU 0 \(ril, ds\)/);
    const bad = await run(['--json'], {
      smmus: [{ id: 0, ds: 'maybe' }],
      invs: [{ smmu: 0, type: 'S1_ASID', id: 1 }],
      iova: 0,
      size: 4096,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: smmus\[0\]\.ds: /);
  });

  it('--help shows an example', async () => {
    const r = await run(['--help']);
    expect(r.stdout).toMatch(/Examples:\n {2}\$ smmuv3-tlbi plan/);
  });
});

describe('plan: invalid requests exit 2 naming the field', () => {
  const bad = (over: Record<string, unknown>): Record<string, unknown> => ({ ...EXAMPLE, ...over });
  const inv0 = (over: Record<string, unknown>): Record<string, unknown> =>
    bad({ invs: [{ smmu: 0, type: 'S1_ASID', id: 5, pgsize: 4096, ...over }] });
  const tlbiReq = (t: Record<string, unknown>): Record<string, unknown> => ({
    smmus: [{ id: 0 }],
    invs: [{ smmu: 0, type: 'S1_ASID', id: 1 }],
    policy: 'tlbi',
    tlbi: { start: '0x200000', last: '0x3fffff', leafLevels: [3], tableLevels: [], granule: 4096, ...t },
  });
  const cases: [string, unknown, RegExp][] = [
    ['last < start', tlbiReq({ last: '0x1fffff' }), /^error: tlbi\.last: .*below start/],
    ['iova not aligned to the granule', bad({ iova: '0x10000800' }), /^error: iova: .*not aligned/],
    [
      'iova not aligned to a 2M granule',
      bad({ iova: '0x10001000', size: '2M', granule: '2M' }),
      /^error: iova: .*granule/,
    ],
    [
      'size not a multiple of pgsize',
      bad({ granule: '64K', invs: [{ smmu: 0, type: 'S1_ASID', id: 5, pgsize: '64K' }] }),
      /^error: size: .*pgsize 65536/,
    ],
    ['unknown type', inv0({ type: 'S3_MAGIC' }), /^error: invs\[0\]\.type: unknown type/],
    ['granule not a page/block size', bad({ granule: 8192 }), /^error: granule: /],
    [
      'granule not a block size of 64K',
      bad({ granule: '2M', size: '2M', invs: [{ smmu: 0, type: 'S1_ASID', id: 5, pgsize: '64K' }] }),
      /^error: granule: .*65536-byte/,
    ],
    ['bad pgsize', inv0({ pgsize: 8192 }), /^error: invs\[0\]\.pgsize: /],
    ['beyond 52 bits', bad({ iova: '0x10000000000000', size: '4K' }), /^error: iova: beyond 2\^52/],
    ['range ends beyond 52 bits', bad({ iova: '0xffffffffff000', size: '8K' }), /^error: size: .*beyond 2\^52/],
    ['tlbi last beyond 52 bits', tlbiReq({ last: '0x1fffffffffffff' }), /^error: tlbi\.last: beyond 2\^52/],
    ['unknown SMMU', inv0({ smmu: 3 }), /^error: invs\[0\]\.smmu: SMMU 3 is not listed/],
    ['ASID beyond 16 bits', inv0({ id: 0x10000 }), /^error: invs\[0\]\.id: ASID/],
    ['VMID beyond 16 bits', inv0({ vmid: 0x10000 }), /^error: invs\[0\]\.vmid: .*VMID.*65535/],
    ['a VMID on a plain S1_ASID target', inv0({ vmid: 3 }), /^error: invs\[0\]\.vmid: .*use type S1_ASID_NESTED/],
    [
      'a VMID on an S2_VMID target',
      bad({ invs: [{ smmu: 0, type: 'S2_VMID', id: 3, vmid: 3 }] }),
      /^error: invs\[0\]\.vmid: only S1_ASID_NESTED/,
    ],
    [
      'StreamID beyond 32 bits',
      bad({ invs: [{ smmu: 0, type: 'ATS', id: 2 ** 32 }] }),
      /^error: invs\[0\]\.id: .*StreamID/,
    ],
    [
      'SSID beyond 20 bits',
      bad({ invs: [{ smmu: 0, type: 'ATS', id: 1, ssid: 2 ** 20 }] }),
      /^error: invs\[0\]\.ssid: .*SubstreamID/,
    ],
    [
      'tlbi leaf level impossible at 64K',
      tlbiReq({ granule: 65536, leafLevels: [1], start: 0, last: '0x3ffffffffff' }),
      /^error: tlbi\.leafLevels\[0\]/,
    ],
    ['tlbi granule differs from pgsize', tlbiReq({ granule: 16384 }), /^error: tlbi\.granule: /],
    ['unknown policy', bad({ policy: 'fast' }), /^error: policy: /],
    ['invalid JSON', '{"smmus": [', /invalid JSON/],
  ];
  for (const [what, req, msg] of cases) {
    it(what, async () => {
      const r = await run(['--json'], req);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(msg);
    });
  }

  it('a bad flag value exits 2 naming it', async () => {
    const r = await run(['--iova', '0xzz', '--size', '4K']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/iova/);
  });
});

describe('plan: the target in the words kernel developers use (issue 13)', () => {
  const range = ['--iova', '0x10000000', '--size', '0x21000', '--json'];
  const doc = (r: { code: number; stdout: string; stderr: string }): unknown => {
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };
  const fromJson = async (inv: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<unknown> =>
    doc(
      await run(['--json'], {
        smmus: [{ id: 0, ril: true }],
        invs: [{ smmu: 0, pgsize: 4096, ...inv }],
        iova: '0x10000000',
        size: '0x21000',
        granule: 4096,
        leaf: true,
        ...extra,
      }),
    );

  it('--asid N is --type S1_ASID --id N (the same document as the JSON request)', async () => {
    const asid = doc(await run(['--asid', '5', ...range]));
    expect(asid).toEqual(doc(await run(['--type', 'S1_ASID', '--id', '5', ...range])));
    expect(asid).toEqual(await fromJson({ type: 'S1_ASID', id: 5 }));
  });

  it('--vmid N alone is --type S2_VMID --id N: stage-2 commands for VMID N', async () => {
    const vmid = doc(await run(['--vmid', '3', ...range])) as {
      commands: { name: string; fields: { vmid: number } }[];
    };
    expect(vmid).toEqual(doc(await run(['--type', 'S2_VMID', '--id', '3', ...range])));
    expect(vmid).toEqual(await fromJson({ type: 'S2_VMID', id: 3 }));
    expect(vmid.commands.filter((c) => c.name !== 'CMD_SYNC').every((c) => c.fields.vmid === 3)).toBe(true);
  });

  it('--asid A --vmid V is a stage 1 under the nesting parent V (S1_ASID_NESTED): its commands carry V', async () => {
    const nested = doc(await run(['--asid', '5', '--vmid', '3', ...range])) as {
      commands: { name: string; fields: { asid: number; vmid: number } }[];
    };
    expect(nested).toEqual(await fromJson({ type: 'S1_ASID_NESTED', id: 5, vmid: 3 }));
    const tlbis = nested.commands.filter((c) => c.name === 'TLBI_NH_VA');
    expect(tlbis.length).toBeGreaterThan(0);
    expect(tlbis.every((c) => c.fields.asid === 5 && c.fields.vmid === 3)).toBe(true);
    // The older form (--id with --vmid) keeps its meaning.
    expect(nested).toEqual(doc(await run(['--id', '5', '--vmid', '3', ...range])));
  });

  it('--sid N[:SSID] is --ats N[:SSID]', async () => {
    const sid = doc(await run(['--asid', '5', '--sid', '16:2', '--sid', '17', ...range]));
    expect(sid).toEqual(doc(await run(['--asid', '5', '--ats', '16:2', '--ats', '17', ...range])));
    const json = await run(['--json'], {
      smmus: [{ id: 0, ril: true }],
      invs: [
        { smmu: 0, type: 'S1_ASID', id: 5, pgsize: 4096 },
        { smmu: 0, type: 'ATS', id: 16, ssid: 2 },
        { smmu: 0, type: 'ATS', id: 17, ssid: 0 },
      ],
      iova: '0x10000000',
      size: '0x21000',
      granule: 4096,
      leaf: true,
    });
    expect(sid).toEqual(doc(json));
    const bad = await run(['--asid', '5', '--sid', '16:', ...range]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--sid/);
  });

  it('--asid/--vmid with --type or --id is a usage error naming the option; each alone is fine', async () => {
    for (const [extra, name] of [
      [['--asid', '5', '--type', 'S2_VMID'], '--type'],
      [['--asid', '5', '--id', '5'], '--id'],
    ] as const) {
      const r = await run([...extra, ...range]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`drop ${name}`);
    }
    expect((await run(['--type', 'S2_VMID', ...range])).code).toBe(0);
  });

  it('--leaf-size is the leaf size (Linux granule); --granule stays as its old spelling, noted in --help', async () => {
    const args = ['--iova', '0x40000000', '--size', '2M', '--asid', '1', '--json'];
    const leaf = doc(await run([...args, '--leaf-size', '2M'])) as { request: { granule: number } };
    expect(leaf.request.granule).toBe(2 * 1024 * 1024); // the JSON field keeps its name
    expect(leaf).toEqual(doc(await run([...args, '--granule', '2M'])));
    const both = await run([...args, '--granule', '4K', '--leaf-size', '2M']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--granule is the old spelling of --leaf-size/);
    const help = await run(['--help']);
    expect(help.stdout).toMatch(/--leaf-size <bytes>/);
    expect(help.stdout).toMatch(/--granule <bytes> +old spelling of --leaf-size/);
    expect(help.stdout).toMatch(/--vmid <n>[\s\S]*older form/);
  });
});
