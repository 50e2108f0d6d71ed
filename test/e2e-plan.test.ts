/**
 * The plan page in a real browser (Debian's Chromium through playwright-core): the drawn bars are exactly
 * the commands `smmuv3-tlbi plan --json` prints for the same request, and their spans cover the range
 * contiguously — checked here from the bars' own data attributes against the request, not against the page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { chromiumAvailable, runCli, screenshot, startHarness, type PageHarness } from './e2e-harness.js';

interface Target {
  smmu: number;
  type: 'S1_ASID' | 'S2_VMID' | 'S2_VMID_S1_CLEAR' | 'ATS' | 'ATS_FULL';
  id: number;
  extra?: number;
}

interface Case {
  name: string;
  iova: number;
  size: number;
  pgsize: 4096 | 16384 | 65536;
  granule: number;
  leaf: boolean;
  ril: boolean;
  e2h?: boolean;
  forceSync?: boolean;
  /** IDR5.DS: 6-bit SCALE. */
  ds?: boolean;
  invs: Target[];
}

const S1: Target[] = [{ smmu: 0, type: 'S1_ASID', id: 5, extra: 0 }];
const S1_ATS: Target[] = [...S1, { smmu: 0, type: 'ATS', id: 0x10, extra: 0 }];
const NESTED: Target[] = [
  { smmu: 0, type: 'S2_VMID', id: 3 },
  { smmu: 0, type: 'S2_VMID_S1_CLEAR', id: 3 },
  { smmu: 0, type: 'ATS_FULL', id: 0x10 },
  { smmu: 1, type: 'S2_VMID', id: 3 },
  { smmu: 1, type: 'S2_VMID_S1_CLEAR', id: 4 },
  { smmu: 1, type: 'ATS', id: 0x20, extra: 1 },
];

const K = 1024;
const M = 1024 * K;
const CASES: Case[] = [
  {
    name: '33 pages leaf',
    iova: 0x1000_0000,
    size: 33 * 4 * K,
    pgsize: 4096,
    granule: 4096,
    leaf: true,
    ril: true,
    invs: S1_ATS,
  },
  {
    name: 'non-leaf single page',
    iova: 0x1000,
    size: 4 * K,
    pgsize: 4096,
    granule: 4096,
    leaf: false,
    ril: true,
    invs: S1,
  },
  {
    name: '4097 pages non-leaf',
    iova: 0x4000_0000,
    size: 4097 * 4 * K,
    pgsize: 4096,
    granule: 4096,
    leaf: false,
    ril: true,
    invs: S1,
  },
  {
    name: '100 pages',
    iova: 0x20_0000,
    size: 100 * 4 * K,
    pgsize: 4096,
    granule: 4096,
    leaf: true,
    ril: true,
    invs: S1_ATS,
  },
  {
    name: '2 MiB block leaf',
    iova: 0x4000_0000,
    size: 2 * M,
    pgsize: 4096,
    granule: 2 * M,
    leaf: true,
    ril: true,
    invs: S1,
  },
  {
    name: 'no RIL, 2 MiB: whole ASID',
    iova: 0x1000_0000,
    size: 2 * M,
    pgsize: 4096,
    granule: 4096,
    leaf: true,
    ril: false,
    invs: S1_ATS,
  },
  {
    name: 'no RIL, 7 pages',
    iova: 0x1000_0000,
    size: 7 * 4 * K,
    pgsize: 4096,
    granule: 4096,
    leaf: true,
    ril: false,
    invs: S1,
  },
  {
    name: '64K pgsize, 3 pages',
    iova: 0x2000_0000,
    size: 3 * 64 * K,
    pgsize: 65536,
    granule: 65536,
    leaf: true,
    ril: true,
    invs: S1,
  },
  {
    name: 'nested parent with ATS on two SMMUs',
    iova: 0x8000_0000,
    size: 100 * 4 * K,
    pgsize: 4096,
    granule: 4096,
    leaf: true,
    ril: true,
    invs: NESTED,
  },
  {
    name: 'E2H',
    iova: 0x1000_0000,
    size: 5 * 4 * K,
    pgsize: 4096,
    granule: 4096,
    leaf: true,
    ril: true,
    e2h: true,
    invs: S1,
  },
  {
    name: 'force-sync, no RIL, 130 pages',
    iova: 0x1000_0000,
    size: 130 * 4 * K,
    pgsize: 4096,
    granule: 4096,
    leaf: true,
    ril: false,
    forceSync: true,
    invs: S1,
  },
  {
    // With IDR5.DS one command (NUM 0, SCALE 33) covers 2^33 pages; without DS it takes SCALE 31, NUM 3.
    name: 'DS: 32 TiB in one SCALE-33 command',
    iova: 0,
    size: 2 ** 45,
    pgsize: 4096,
    granule: 4096,
    leaf: true,
    ril: true,
    ds: true,
    invs: S1,
  },
];

const hex = (x: number): string => '0x' + x.toString(16);

/** The page's URL state for a case (the documented query keys). */
function query(c: Case): string {
  const q = new URLSearchParams({
    start: hex(c.iova),
    size: hex(c.size),
    pgsize: String(c.pgsize),
    granule: String(c.granule),
    desc: 'linux',
    leaf: c.leaf ? '1' : '0',
    ril: c.ril ? '1' : '0',
    e2h: c.e2h ? '1' : '0',
    fs: c.forceSync ? '1' : '0',
    ...(c.ds ? { ds: '1' } : {}),
    invs: c.invs.map((t) => [t.smmu, t.type, t.id, t.extra ?? 0].join(':')).join(','),
  });
  return q.toString();
}

/** The level holding `granule`-byte entries in a table of `pgsize` pages. */
function levelOf(pgsize: number, granule: number): number {
  const g = Math.log2(pgsize);
  return 3 - (Math.log2(granule) - g) / (g - 3);
}

/** The JSON request `smmuv3-tlbi plan` reads for a case, for one policy. */
function request(c: Case, policy: 'linux' | 'tlbi'): Record<string, unknown> {
  const smmus = [...new Set(c.invs.map((t) => t.smmu))].map((id) => ({
    id,
    ril: c.ril,
    e2h: !!c.e2h,
    forceSync: !!c.forceSync,
    ...(c.ds ? { ds: true } : {}),
  }));
  const invs = c.invs.map((t) => ({
    smmu: t.smmu,
    type: t.type,
    id: t.id,
    ...(t.type === 'S1_ASID' ? { vmid: t.extra ?? 0 } : {}),
    ...(t.type === 'ATS' ? { ssid: t.extra ?? 0 } : {}),
    ...(t.type === 'S1_ASID' || t.type === 'S2_VMID' ? { pgsize: c.pgsize } : {}),
  }));
  if (policy === 'linux')
    return { smmus, invs, policy, iova: hex(c.iova), size: hex(c.size), granule: c.granule, leaf: c.leaf };
  const l = levelOf(c.pgsize, c.granule);
  return {
    smmus,
    invs,
    policy,
    tlbi: {
      start: hex(c.iova),
      last: hex(c.iova + c.size - 1),
      leafLevels: [l],
      tableLevels: c.leaf ? [] : [l - 1],
      granule: c.pgsize,
    },
  };
}

interface CliCommand {
  smmu: number;
  name: string;
  words: [string, string];
}

async function cliPlan(doc: Record<string, unknown>): Promise<CliCommand[]> {
  const r = await runCli(['plan', '--json'], doc);
  expect(r.code, r.stderr).toBe(0);
  const parsed = JSON.parse(r.stdout) as { schemaVersion: number; commands: CliCommand[] };
  expect(parsed.schemaVersion).toBe(1);
  return parsed.commands;
}

interface Bar {
  cmd: string;
  kind: string;
  index: number;
  smmu: number;
  tag: string;
  start: number | null;
  end: number | null;
  whole: boolean;
  leaf: number | null;
  ttl: number | null;
}

async function bars(page: Page, policy: string): Promise<Bar[]> {
  return page.$$eval(`svg.plan[data-policy="${policy}"] rect[data-cmd]`, (els) =>
    els.map((el) => {
      const a = (n: string): string | null => el.getAttribute(n);
      const num = (n: string): number | null => (a(n) === null ? null : Number(a(n)));
      return {
        cmd: a('data-cmd')!,
        kind: a('data-kind')!,
        index: Number(a('data-index')),
        smmu: Number(a('data-smmu')),
        tag: a('data-tag') ?? '',
        start: num('data-start'),
        end: num('data-end'),
        whole: a('data-whole') === '1',
        leaf: num('data-leaf'),
        ttl: num('data-ttl'),
      };
    }),
  );
}

/**
 * The TLBI bars of each (SMMU, tag) cover [iova, iova + size) contiguously, one page more where a range
 * command would otherwise have SCALE = NUM = TTL = 0 (non-leaf, TTL 0, page count ≡ 1 mod 32); a whole-tag
 * command stands alone and covers everything.
 */
function checkCoverage(c: Case, list: Bar[]): void {
  const groups = new Map<string, Bar[]>();
  for (const b of list.filter((x) => x.cmd.startsWith('TLBI_') && x.cmd !== 'TLBI_NH_ALL')) {
    const k = `${b.smmu}|${b.tag}`;
    groups.set(k, [...(groups.get(k) ?? []), b]);
  }
  const tlbTargets = c.invs.filter((t) => t.type === 'S1_ASID' || t.type === 'S2_VMID').length;
  expect(groups.size, 'one group of bars per TLB target').toBe(tlbTargets);
  for (const [k, g] of groups) {
    if (g.some((b) => b.whole)) {
      expect(g, `${k}: a whole-tag command replaces the loop`).toHaveLength(1);
      continue;
    }
    const sorted = [...g].sort((a, b) => a.start! - b.start!);
    const pages = c.size / c.pgsize;
    const plusOne = c.ril && sorted[0]!.leaf === 0 && sorted[0]!.ttl === 0 && pages % 32 === 1;
    expect(sorted[0]!.start, `${k}: starts at iova`).toBe(c.iova);
    for (let i = 1; i < sorted.length; i++)
      expect(sorted[i]!.start, `${k}: bar ${i} follows bar ${i - 1}`).toBe(sorted[i - 1]!.end);
    expect(sorted[sorted.length - 1]!.end, `${k}: ends at iova + size${plusOne ? ' + one page' : ''}`).toBe(
      c.iova + c.size + (plusOne ? c.pgsize : 0),
    );
  }
  // ATC_INV: a naturally aligned power-of-two block holding the range, or everything.
  for (const b of list.filter((x) => x.cmd === 'ATC_INV')) {
    if (b.whole) continue;
    const len = b.end! - b.start!;
    expect(Number.isInteger(Math.log2(len)) && b.start! % len === 0, 'ATC span is an aligned power of two').toBe(true);
    expect(b.start! <= c.iova && b.end! >= c.iova + c.size, 'ATC span holds the range').toBe(true);
  }
}

const enabled = chromiumAvailable();

describe.skipIf(!enabled)('plan page in Chromium', () => {
  let hn: PageHarness;
  beforeAll(async () => {
    hn = await startHarness();
  });
  afterAll(async () => {
    await hn?.close();
  });

  it('serves the built page from 127.0.0.1 and fetches nothing from elsewhere', async () => {
    expect(hn.server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await hn.open();
    expect(await page.title()).toContain('smmuv3-tlbi');
    expect(await page.locator('svg.plan').count()).toBe(2);
    await screenshot(page, 'e2e-default');
    expect(hn.external).toEqual([]);
    await page.close();
  });

  for (const c of CASES) {
    it(`${c.name}: one bar per command of plan --json, covering the range`, async () => {
      const page = await hn.open(query(c));
      for (const policy of ['linux', 'tlbi'] as const) {
        const cli = await cliPlan(request(c, policy));
        const drawn = await bars(page, policy);
        const cliTlbis = cli.filter((x) => x.name.startsWith('TLBI_'));
        const drawnTlbis = drawn.filter((b) => b.cmd.startsWith('TLBI_'));
        expect(drawnTlbis.length, `${policy}: TLBI bars`).toBe(cliTlbis.length);
        // Every non-SYNC command is drawn once, in issue order, on its SMMU; every CMD_SYNC is a batch line.
        const nonSync = cli.map((x, i) => ({ ...x, i })).filter((x) => x.name !== 'CMD_SYNC');
        expect(drawn.map((b) => [b.index, b.cmd, b.smmu])).toEqual(nonSync.map((x) => [x.i, x.name, x.smmu]));
        const syncs = await page.locator(`svg.plan[data-policy="${policy}"] [data-cmd="CMD_SYNC"]`).count();
        expect(syncs).toBe(cli.filter((x) => x.name === 'CMD_SYNC').length);
        checkCoverage(c, drawn);
        // Selecting a bar shows its two words, the same the CLI prints.
        const pick = nonSync[Math.floor(nonSync.length / 2)]!;
        await page.locator(`svg.plan[data-policy="${policy}"] g.bar[data-id="${policy}.${pick.i}"]`).click();
        const shown = await page.locator('#details .word').allTextContents();
        expect(shown).toEqual(pick.words);
        expect(await page.locator('#details .det-name').textContent()).toBe(pick.name);
      }
      await screenshot(page, `e2e-plan-${c.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`);
      await page.close();
    });
  }

  it('the DS box follows the link and goes into the URL only when ticked', async () => {
    const ds = CASES.find((c) => c.ds === true)!;
    const page = await hn.open(query(ds));
    expect(await page.isChecked('#f-ds')).toBe(true);
    await page.uncheck('#f-ds');
    await page.waitForFunction(() => !location.search.includes('ds=1'));
    // Without DS the same 32 TiB take SCALE 31 with NUM 3: still one command, still the whole range.
    const drawn = await bars(page, 'linux');
    checkCoverage({ ...ds, ds: false }, drawn);
    const cli = await cliPlan(request({ ...ds, ds: false }, 'linux'));
    expect(drawn.length).toBe(cli.filter((x) => x.name !== 'CMD_SYNC').length);
    await page.close();
  });

  it('typing a range into the form redraws the plan and records it in the URL', async () => {
    const page = await hn.open();
    await page.fill('#f-start', '0x1000_0000');
    await page.fill('#f-size', '0x21000');
    await page.check('#f-leaf');
    await page.check('#f-ril');
    const c: Case = {
      name: 'typed',
      iova: 0x1000_0000,
      size: 0x21000,
      pgsize: 4096,
      granule: 4096,
      leaf: true,
      ril: true,
      invs: S1_ATS,
    };
    const cli = await cliPlan(request(c, 'linux'));
    const drawn = await bars(page, 'linux');
    expect(drawn.filter((b) => b.cmd.startsWith('TLBI_')).length).toBe(
      cli.filter((x) => x.name.startsWith('TLBI_')).length,
    );
    checkCoverage(c, drawn);
    // 33 pages = 1 + 32: the first bar is one page, the second 32.
    const spans = drawn.filter((b) => b.cmd === 'TLBI_NH_VA').map((b) => (b.end! - b.start!) / 4096);
    expect(spans).toEqual([1, 32]);
    const url = new URL(page.url());
    expect(url.searchParams.get('start')).toBe('0x1000_0000');
    expect(url.searchParams.get('size')).toBe('0x21000');
    // The link reproduces the case.
    const again = await hn.open(url.search.slice(1));
    expect(await bars(again, 'linux')).toEqual(drawn);
    expect(await again.inputValue('#f-start')).toBe('0x1000_0000');
    await again.close();
    await page.close();
  });

  it('a range given by its last byte, and the tlbi description, plan like the CLI', async () => {
    const q = new URLSearchParams({
      start: '0x200000',
      last: '0x3fffff',
      desc: 'tlbi',
      ll: '3',
      tl: '2',
      ril: '1',
      invs: '0:S1_ASID:5:0',
    });
    const page = await hn.open(q.toString());
    const doc = {
      smmus: [{ id: 0, ril: true, e2h: false, forceSync: false }],
      invs: [{ smmu: 0, type: 'S1_ASID', id: 5, vmid: 0, pgsize: 4096 }],
      policy: 'tlbi',
      tlbi: { start: '0x200000', last: '0x3fffff', leafLevels: [3], tableLevels: [2], granule: 4096 },
    };
    const cli = await cliPlan(doc);
    const drawn = await bars(page, 'tlbi');
    expect(drawn.map((b) => b.cmd)).toEqual(cli.filter((x) => x.name !== 'CMD_SYNC').map((x) => x.name));
    checkCoverage(
      { name: '', iova: 0x200000, size: 0x200000, pgsize: 4096, granule: 4096, leaf: false, ril: true, invs: S1 },
      drawn,
    );
    await page.close();
  });

  it('size 0 (everything) draws whole-tag commands and no tlbi plan', async () => {
    const page = await hn.open('start=0&size=0&invs=0:S1_ASID:5:0,0:ATS:16:0');
    const drawn = await bars(page, 'linux');
    expect(drawn.map((b) => [b.cmd, b.whole])).toEqual([
      ['TLBI_NH_ASID', true],
      ['ATC_INV', true],
    ]);
    expect(await page.locator('svg.plan[data-policy="tlbi"]').count()).toBe(0);
    await page.close();
  });
});
